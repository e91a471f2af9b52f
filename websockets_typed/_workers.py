"""Run a server in several worker processes that share one port.

The test server's ``--workers N`` uses it: each worker listens on the same
port with ``reuse_port=True`` and the kernel spreads the connections over
them. SIGINT or SIGTERM stops every worker (each closes its connections
cleanly); a worker that fails stops the others too.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.connection
import signal
import socket
import sys
from collections.abc import Callable, Generator
from types import FrameType

__all__ = ["reserve_port", "run_workers"]


@contextlib.contextmanager
def reserve_port(host: str | None, port: int) -> Generator[int]:
    """Yield ``port``, or a free port if it is 0, kept free for the workers meanwhile.

    A socket bound with ``SO_REUSEPORT``, never listening, holds the port:
    the kernel gives connections only to listening sockets.
    """
    if port != 0:
        yield port
        return
    family, kind, _, _, address = socket.getaddrinfo(host, 0, type=socket.SOCK_STREAM)[0]
    with socket.socket(family, kind) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
        chosen: int = sock.getsockname()[1]
        yield chosen


_STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})


# A worker ended by a stop signal's default action, before it installed
# handlers of its own, stopped as cleanly as one that handled it.
_CLEAN_EXITS = frozenset({0, *(-signum for signum in _STOP_SIGNALS)})


def _work(target: Callable[[int], object], index: int) -> None:  # pragma: no cover
    """Run ``target(index)`` in a worker; until it handles stop signals, they end it at once.

    Until the worker installs handlers of its own (an event loop's,
    usually), SIGINT and SIGTERM take their default action: the kernel ends
    the process there and then. A Python handler would run only between two
    bytecodes, so a signal that came just before a blocking call, or during
    a long one in C (a DNS lookup, making a TLS context), would wait for it
    to return. The worker has served nothing yet: there is nothing to close.

    It runs in a forked worker, which exits without saving coverage data;
    tests/tools/test_testserver_workers.py runs it.
    """
    for signum in _STOP_SIGNALS:
        signal.signal(signum, signal.SIG_DFL)
    # The parent blocked both signals while forking: one that came
    # meanwhile is pending, and ends the worker as they are unblocked.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
    target(index)


def run_workers(count: int, target: Callable[[int], object]) -> int:
    """Run ``target(index)`` in ``count`` processes until they exit; return the exit status.

    The processes are forked, so ``target`` needn't be importable; this
    process must not run an event loop or threads. On SIGINT or SIGTERM,
    each worker gets SIGTERM. The status is 0 if every worker exited with
    0 or was ended by SIGINT or SIGTERM, else 1.
    """
    context = multiprocessing.get_context("fork")
    workers = [
        context.Process(target=_work, args=(target, index), name=f"worker {index}")
        for index in range(count)
    ]
    stopping = False

    def stop(signum: int | None = None, frame: FrameType | None = None) -> None:
        nonlocal stopping
        stopping = True
        for worker in workers:
            if worker.exitcode is None:
                worker.terminate()

    # A signal while forking waits until every worker is started (and in
    # the workers, until they replace the parent's handlers). Blocked before
    # stop() is installed: stop() before the workers start would find
    # processes to terminate that don't exist yet.
    signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    previous = {signum: signal.signal(signum, stop) for signum in _STOP_SIGNALS}
    try:
        try:
            for worker in workers:
                worker.start()
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
        running = list(workers)
        while running:
            multiprocessing.connection.wait([worker.sentinel for worker in running])
            for worker in [worker for worker in running if not worker.is_alive()]:
                running.remove(worker)
                if worker.exitcode not in _CLEAN_EXITS:
                    # A negative exit code is the number of the signal that killed it.
                    status = f"status {worker.exitcode}"
                    if worker.exitcode is not None and worker.exitcode < 0:
                        status = f"signal {signal.Signals(-worker.exitcode).name}"
                    action = "" if stopping else ": stopping the others"
                    print(f"Worker {worker.pid} exited with {status}{action}.", file=sys.stderr)
                    stop()
        for worker in workers:
            worker.join()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0 if all(worker.exitcode in _CLEAN_EXITS for worker in workers) else 1
