"""Shared test configuration: asyncio debug mode, and no silent asyncio errors."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest

# Every event loop created by the tests runs in debug mode: it reports
# coroutines never awaited, slow callbacks and non-threadsafe calls.
os.environ.setdefault("PYTHONASYNCIODEBUG", "1")


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
