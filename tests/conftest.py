"""Shared test configuration: asyncio debug mode, and no silent asyncio errors."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncGenerator, Callable, Iterator, Mapping
from pathlib import Path

import pytest
import uvloop
from services import RedisServer, require_program

# Every event loop created by the tests runs in debug mode: it reports
# coroutines never awaited, slow callbacks and non-threadsafe calls.
os.environ.setdefault("PYTHONASYNCIODEBUG", "1")

# connect() takes its proxy from the environment: the tests talk to loopback
# directly unless they set a proxy themselves (tests/aio/test_asyncio_proxy.py).
for _name in ("http", "https", "all", "ws", "wss", "no"):
    os.environ.pop(f"{_name}_proxy", None)
    os.environ.pop(f"{_name.upper()}_PROXY", None)


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(autouse=True)
def no_asyncio_errors() -> Iterator[None]:
    """Fail a test when asyncio logs an error, e.g. "Task was destroyed but it is pending!"."""
    collector = _Collector()
    logger = logging.getLogger("asyncio")
    logger.addHandler(collector)
    try:
        yield
    finally:
        logger.removeHandler(collector)
    messages = [record.getMessage() for record in collector.records]
    assert not messages, f"asyncio logged errors: {messages}"


# The modules whose tests also run on uvloop: everything that exercises the
# asyncio layer against real transports (see also tests/aio/test_uvloop.py).
UVLOOP_MODULES = frozenset(
    {
        "test_asyncio_connection.py",
        "test_asyncio_server.py",
        "test_asyncio_client.py",
        "test_asyncio_interop.py",
        "test_asyncio_large.py",
        "test_asyncio_sliced.py",
        "test_asyncio_proxy.py",
        "test_asyncio_router.py",
        "test_broadcast_limit.py",
        "test_uvloop.py",
        "test_latency.py",
        "test_lost_waiters.py",
        "test_connection_end.py",
        "test_timers.py",
        "test_rcvlowat.py",
        "test_bytes_reads.py",
        "test_lazy_connection_values.py",
    }
)


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    """Run the asyncio layer's tests on asyncio's event loop and on uvloop's.

    Other tests run on asyncio's only; with one factory, their ids don't change.
    """
    if item.path.name in UVLOOP_MODULES:
        return {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}
    return {"asyncio": asyncio.new_event_loop}


@pytest.fixture
async def redis_server(tmp_path: Path) -> AsyncGenerator[RedisServer]:
    """A redis-server of its own for the test, on a free port (see tests/services.py)."""
    server = RedisServer(require_program("redis-server"), tmp_path)
    await server.start()
    try:
        yield server
    finally:
        if server.process is not None:
            server.resume()  # in case the test paused it
        await server.stop()
