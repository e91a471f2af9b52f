"""Scale, the light version: hundreds of idle connections, thousands of cycles.

``tests/scale.py`` runs the heavy version on demand (10,000 connections,
100,000 cycles); these run the same code with small numbers, in seconds.
"""

from __future__ import annotations

import resource

from scale import raise_fd_limit, run_cycles, run_idle


async def test_idle_connections_in_this_process() -> None:
    result = await run_idle(500, "deflate", processes=0)
    assert result.fd_limit >= 2 * 500 + 1024
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= result.fd_limit
    # One socket per connection on each side, all in this process.
    assert result.fds_idle - result.fds_before == 2 * 500
    # Everything is released once the connections close.
    assert result.fds_after_close == result.fds_before
    # No assertion on RSS here: after the rest of the suite, this process's
    # allocator reuses freed memory, so RSS may not move. The heavy run
    # (scripts/scale) measures memory in a fresh process.


async def test_idle_connections_from_another_process() -> None:
    result = await run_idle(200, None, processes=1)
    # One socket per connection, plus the pipes to the client process.
    assert result.fds_idle - result.fds_before == 200 + 2
    assert result.fds_after_close == result.fds_before
    (client_bytes,) = result.client_bytes_per_connection
    assert client_bytes > 0
    assert "server memory per idle connection" in result.report()


async def test_connect_close_cycles_leak_nothing() -> None:
    result = await run_cycles(2000, concurrency=8, samples=10)
    assert result.cycles == 2000
    # Sampled with no cycle in flight: the count of open file descriptors
    # never moves.
    fds = {fds for _, fds, _ in result.samples}
    assert len(fds) == 1, result.samples
    assert result.fd_slope == 0
    # Memory stops growing once warm: a leak of 2.5 KiB per cycle would
    # add 2.5 MiB over the second half.
    half = result.second_half()
    assert half[-1][2] - half[0][2] < 2.5 * 1024**2, result.report()
    assert "per 1000 cycles" in result.report()


def test_raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
        assert raise_fd_limit(4096) == 4096
        assert resource.getrlimit(resource.RLIMIT_NOFILE) == (4096, hard)
        # Already enough: unchanged.
        assert raise_fd_limit(1000) == 4096
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
