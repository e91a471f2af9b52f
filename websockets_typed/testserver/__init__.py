"""The test server of ``python -m websockets_typed serve``: a tool for testing WebSocket clients.

Its endpoints behave in specific ways on request, as ``httpbin`` does for
HTTP clients: echo, chat rooms, closing with a given code, refusing the
handshake with a given status, redirecting, pushing large or fragmented
messages, pinging, negotiating a subprotocol, requiring credentials,
echoing the request's headers, stopping to read. Parameters go in the query
string; a bad one, or one above the server's limits, gets 400 before the
upgrade. ``http://host:port/`` is a page to try each endpoint from a
browser; the "Test server" page of the docs lists them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import html
import http
import importlib.resources
import importlib.util
import logging
import os
import signal
import socket
import ssl as ssl_module
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final, NoReturn

from ..asyncio.server import ServerConnection, serve
from ..headers import validate_subprotocols
from ..http11 import Request, Response
from ..typing import Subprotocol
from . import _endpoints
from ._endpoints import ENDPOINTS, EndpointConnection, Settings, SharedState
from ._tls import MissingCryptography, self_signed_context

if TYPE_CHECKING:
    from ..asyncio.bus import RedisBroadcast

__all__ = ["create_test_server", "main", "run_test_server"]

DEFAULT_PORT: Final = 8765


def _page_file(name: str) -> str:
    return importlib.resources.files(__name__).joinpath("page", name).read_text("utf-8")


@functools.cache
def _index_html() -> str:
    """The page, with the table of endpoints."""
    rows: list[str] = []
    for endpoint in ENDPOINTS.values():
        path = html.escape(endpoint.path)
        if endpoint.path == "/healthz":
            action = f'<a href="{path}">Open</a>'
        else:
            action = f'<button type="button" data-path="{path}">Try</button>'
        rows.append(
            f"<tr><td><code>{path}</code></td>"
            f'<td class="summary">{html.escape(endpoint.summary)}</td><td>{action}</td></tr>'
        )
    return _page_file("index.html").replace("{{endpoints}}", "\n".join(rows))


def _static(connection: ServerConnection, text: str, content_type: str) -> Response:
    response = connection.respond(http.HTTPStatus.OK, text)
    del response.headers["Content-Type"]
    response.headers["Content-Type"] = content_type
    return response


def create_test_server(
    host: str | None = "127.0.0.1",
    port: int = DEFAULT_PORT,
    *,
    max_size: int = 2**20,
    compression: bool = True,
    subprotocols: Sequence[str] = (),
    credentials: tuple[str, str] | None = None,
    ssl: ssl_module.SSLContext | None = None,
    reuse_port: bool = False,
    bus: RedisBroadcast | None = None,
) -> serve:
    """Build the test server; await it or use it with ``async with``.

    Args:
        host: Interface to listen on; ``None`` for all.
        port: TCP port; 0 picks a free one.
        max_size: Largest message the server receives, and largest ``size``
            that ``/send`` and ``/fragment`` accept.
        compression: Whether to negotiate permessage-deflate.
        subprotocols: Subprotocols the server accepts, in order of preference;
            ``/subprotocol`` requires one of them.
        credentials: User name and password that ``/auth`` requires; without
            them, ``/auth`` answers 404.
        ssl: TLS context: serve ``https://`` and ``wss://``.
        reuse_port: Share the port with other processes (worker processes).
        bus: Relay ``/chat/{room}`` through this bus: each room spans every
            process that uses the same Redis.

    Raises:
        ValueError: If ``max_size`` isn't positive or a subprotocol isn't a
            valid token.
    """
    if max_size <= 0:
        raise ValueError(f"max_size must be positive, not {max_size}")
    validate_subprotocols(subprotocols)
    state = SharedState(Settings(max_size, tuple(subprotocols), credentials), bus)

    async def process_request(connection: ServerConnection, request: Request) -> Response | None:
        assert isinstance(connection, EndpointConnection)
        if "websocket" not in request.headers.get("Upgrade", "").lower():
            path = request.path.partition("?")[0]
            if path == "/":
                return _static(connection, _index_html(), "text/html; charset=utf-8")
            if path == "/app.js":
                return _static(connection, _page_file("app.js"), "text/javascript; charset=utf-8")
        return await _endpoints.process_request(state, connection, request)

    def select_subprotocol(
        connection: ServerConnection, offered: Sequence[Subprotocol]
    ) -> Subprotocol | None:
        assert isinstance(connection, EndpointConnection)
        return _endpoints.select_subprotocol(state, connection, offered)

    async def handler(connection: ServerConnection) -> None:
        assert isinstance(connection, EndpointConnection)
        await _endpoints.handler(state, connection)

    return serve(
        handler,
        host,
        port,
        process_request=process_request,
        select_subprotocol=select_subprotocol,
        create_connection=EndpointConnection,
        compression="deflate" if compression else None,
        max_size=max_size,
        ssl=ssl,
        reuse_port=reuse_port,
    )


def _url_host(address: str) -> str:
    """Write the address a server listens on as the host part of a URL to open."""
    if address in ("0.0.0.0", "::"):
        # Listening on every interface: this machine is reachable as localhost.
        return "localhost"
    # RFC 3986, 3.2.2: an IPv6 address is written between brackets.
    return f"[{address}]" if ":" in address else address


async def run_test_server(
    host: str | None = "127.0.0.1",
    port: int = DEFAULT_PORT,
    *,
    tls: bool = False,
    max_size: int = 2**20,
    compression: bool = True,
    subprotocols: Sequence[str] = (),
    credentials: tuple[str, str] | None = None,
    reuse_port: bool = False,
    redis_url: str | None = None,
    certificate: tuple[ssl_module.SSLContext, str] | None = None,
) -> None:
    """Run the test server until SIGINT or SIGTERM, then close it cleanly.

    It prints the URL of its page and, with ``tls``, the SHA-256
    fingerprint of the self-signed certificate it makes at start-up.
    Clients get a Close frame with 1001 (going away) on shutdown. With
    ``redis_url``, each ``/chat/{room}`` is one room across every test
    server using that Redis (it needs the ``redis`` extra). With ``tls``,
    ``certificate`` (a server TLS context and its certificate's SHA-256
    fingerprint) replaces the new one: worker processes share one. The
    other arguments are those of :func:`create_test_server`.

    Raises:
        OSError: If the server can't listen on ``host`` and ``port``.
        redis.exceptions.RedisError: If it can't connect to ``redis_url``.
    """
    context, fingerprint = (certificate or self_signed_context(host or "")) if tls else (None, "")
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with contextlib.AsyncExitStack() as stack:
        bus = None
        if redis_url is not None:
            from ..asyncio.bus import RedisBroadcast  # noqa: PLC0415 - the optional extra

            bus = await stack.enter_async_context(RedisBroadcast(redis_url))
        server = create_test_server(
            host,
            port,
            max_size=max_size,
            compression=compression,
            subprotocols=subprotocols,
            credentials=credentials,
            ssl=context,
            reuse_port=reuse_port,
            bus=bus,
        )
        running = await stack.enter_async_context(server)
        bound_host, bound_port = running.sockets[0].getsockname()[:2]
        base = f"{_url_host(bound_host)}:{bound_port}"
        http_scheme, ws_scheme = ("https", "wss") if tls else ("http", "ws")
        paths = " ".join(
            endpoint.path.partition("?")[0] for endpoint in ENDPOINTS.values() if endpoint.websocket
        )
        print(f"Test server running: open {http_scheme}://{base}/ in a browser", flush=True)
        print(f"WebSocket endpoints at {ws_scheme}://{base}: {paths}", flush=True)
        if tls:
            print(f"Self-signed certificate, SHA-256 fingerprint: {fingerprint}", flush=True)
        await stop.wait()
        print("Shutting down...", flush=True)
    print("Server stopped.", flush=True)


# The command line.

_PROG: Final = "python -m websockets_typed serve"

_LOG_LEVELS: Final = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}


class _Parser(argparse.ArgumentParser):
    """Reports usage errors on one line: the error and where to find help."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see --help).\n")


def _port(text: str) -> int:
    if not (text.isascii() and text.isdigit() and int(text) <= 65535):
        raise argparse.ArgumentTypeError(f"invalid port {text!r}: use 0 to 65535")
    return int(text)


def _size(text: str) -> int:
    if not (text.isascii() and text.isdigit() and int(text) > 0):
        raise argparse.ArgumentTypeError(f"invalid size {text!r}: use a positive number of bytes")
    return int(text)


def _subprotocols(text: str) -> list[str]:
    subprotocols = [item.strip() for item in text.split(",") if item.strip()]
    try:
        validate_subprotocols(subprotocols)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return subprotocols


def _workers(text: str) -> int:
    if not (text.isascii() and text.isdigit() and int(text) >= 1):
        raise argparse.ArgumentTypeError(f"invalid number of workers {text!r}: use 1 or more")
    return int(text)


def _credentials(text: str) -> tuple[str, str]:
    username, colon, password = text.partition(":")
    # RFC 7617, 2: the user name can't contain a colon.
    if not (colon and username):
        raise argparse.ArgumentTypeError("use USER:PASSWORD")
    return username, password


def _parser() -> argparse.ArgumentParser:
    endpoints = "\n".join(
        f"  {endpoint.path}\n      {endpoint.summary}" for endpoint in ENDPOINTS.values()
    )
    parser = _Parser(
        prog=_PROG,
        description=(
            "Run the test server, a tool for testing WebSocket clients. "
            "http://HOST:PORT/ is a page to try each endpoint from a browser. "
            "Ctrl-C or SIGTERM stops it, closing connections with 1001 (going away)."
        ),
        epilog=f"endpoints (parameters in the query string; bad ones get 400):\n{endpoints}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (127.0.0.1)")
    parser.add_argument(
        "--port", type=_port, default=DEFAULT_PORT, help=f"TCP port ({DEFAULT_PORT})"
    )
    parser.add_argument(
        "--tls",
        action="store_true",
        help="serve https:// and wss:// with a self-signed certificate made at start-up, "
        "and print its fingerprint (needs websockets_typed[testserver])",
    )
    parser.add_argument(
        "--max-size",
        type=_size,
        default=2**20,
        metavar="BYTES",
        help="largest message received, and largest size /send and /fragment accept (1048576)",
    )
    parser.add_argument(
        "--compression",
        choices=["deflate", "none"],
        default="deflate",
        help="negotiate permessage-deflate, or not (deflate)",
    )
    parser.add_argument(
        "--subprotocols",
        type=_subprotocols,
        default=[],
        metavar="LIST",
        help="subprotocols accepted, comma-separated, in order of preference",
    )
    parser.add_argument(
        "--auth",
        type=_credentials,
        metavar="USER:PASSWORD",
        help="credentials that /auth requires (HTTP Basic)",
    )
    parser.add_argument(
        "--workers",
        type=_workers,
        default=1,
        metavar="N",
        help="processes sharing the port; SIGINT or SIGTERM stops them all (1)",
    )
    parser.add_argument(
        "--redis",
        metavar="URL",
        help="make each /chat room one room across workers and machines, through the "
        "Redis at URL (needs websockets_typed[redis])",
    )
    parser.add_argument(
        "--log-level",
        choices=list(_LOG_LEVELS),
        default="warning",
        help="print logs at this level and above, on standard error (warning)",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="log more: -v for info, -vv for debug",
    )
    return parser


def _configure_logging(level_name: str, verbose: int) -> None:
    level = max(logging.DEBUG, _LOG_LEVELS[level_name] - 10 * verbose)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("websockets_typed")
    root.addHandler(handler)
    root.setLevel(level)


def main(argv: Sequence[str]) -> int:
    """Run ``python -m websockets_typed serve`` with ``argv``; return the exit status.

    Errors are reported on one line of standard error: 2 for a usage error
    (a bad port, for instance), 1 when the server can't start (a port in
    use, an unknown host, ``--tls`` without ``cryptography``, ``--redis``
    without ``redis`` or with a Redis that doesn't answer). With
    ``--workers N``, N processes share the port; the status is 1 if one of
    them failed.
    """
    options = _parser().parse_args(argv)
    _configure_logging(options.log_level, options.verbose)
    if options.redis is not None and importlib.util.find_spec("redis") is None:
        print("--redis needs redis-py: pip install 'websockets_typed[redis]'.", file=sys.stderr)
        return 1
    if options.workers == 1:
        return _serve(options, options.port)
    from .._workers import reserve_port, run_workers  # noqa: PLC0415

    certificate = None
    if options.tls:
        try:
            # Made before forking: every worker serves the same certificate.
            certificate = self_signed_context(options.host or "")
        except MissingCryptography as exc:
            print(f"Cannot start the test server: {exc}.", file=sys.stderr)
            return 1
    with reserve_port(options.host, options.port) as port:
        # Runs in forked workers, which exit without saving coverage data;
        # tests/tools/test_testserver_workers.py runs it.
        def worker(index: int) -> None:  # pragma: no cover
            if index:  # one banner is enough
                sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - until the process exits
            sys.exit(_serve(options, port, reuse_port=True, certificate=certificate))

        return run_workers(options.workers, worker)


def _serve(
    options: argparse.Namespace,
    port: int,
    reuse_port: bool = False,
    certificate: tuple[ssl_module.SSLContext, str] | None = None,
) -> int:
    """Run the test server as ``options`` say until SIGINT or SIGTERM; return the exit status."""
    where = f"{options.host}:{options.port}"
    redis_errors: tuple[type[Exception], ...] = ()
    if options.redis is not None:
        from redis.exceptions import RedisError  # noqa: PLC0415 - the optional extra

        redis_errors = (RedisError,)
    try:
        asyncio.run(
            run_test_server(
                options.host,
                port,
                tls=options.tls,
                max_size=options.max_size,
                compression=options.compression == "deflate",
                subprotocols=options.subprotocols,
                credentials=options.auth,
                reuse_port=reuse_port,
                redis_url=options.redis,
                certificate=certificate,
            )
        )
    except MissingCryptography as exc:
        print(f"Cannot start the test server: {exc}.", file=sys.stderr)
        return 1
    except redis_errors as exc:
        print(f"Cannot connect to Redis at {options.redis}: {exc}", file=sys.stderr)
        return 1
    except socket.gaierror as exc:
        print(
            f"Cannot start the test server on {where}: cannot resolve host: {exc.strerror}.",
            file=sys.stderr,
        )
        return 1
    except OSError as exc:  # e.g. the port is in use
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        print(f"Cannot start the test server on {where}: {reason}.", file=sys.stderr)
        return 1
    return 0
