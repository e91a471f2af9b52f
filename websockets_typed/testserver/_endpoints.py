"""The test server's endpoints: a table of what each path does, and a dispatcher.

Each endpoint has a ``prepare`` function, called with the handshake request
before the upgrade. It reads the query string (a :class:`~._query.Query`)
and returns either a plain HTTP response (a refusal, a redirect, a 400 for
a bad parameter, JSON for ``/stats``) or the coroutine function that runs
the connection once it is open (a :data:`Run`). So every bad parameter is
answered before the upgrade, with a sentence saying what is wrong.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import itertools
import json
import string
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Final, Literal, TypeAlias

import attrs

from ..asyncio.connection import broadcast
from ..asyncio.server import ServerConnection, basic_auth
from ..exceptions import ConnectionClosed, NegotiationError, ProtocolError
from ..frames import Close, CloseCode
from ..http11 import Request, Response
from ..typing import Data, Subprotocol
from ._query import BadRequest, Query

if TYPE_CHECKING:
    from ..asyncio.bus import RedisBroadcast

__all__ = [
    "ENDPOINTS",
    "Endpoint",
    "EndpointConnection",
    "Settings",
    "SharedState",
    "handler",
    "process_request",
    "select_subprotocol",
]

# Limits that aren't options of the command line.
MAX_COUNT: Final = 10_000
"""Most messages ``/send`` pushes in one connection."""
MAX_FRAMES: Final = 1_000
"""Most frames ``/fragment`` splits a message into."""
MAX_DELAY_MS: Final = 60_000
"""Longest delay or interval, in milliseconds."""
MAX_SLOW_MS: Final = 30_000
"""Longest pause of ``/slow``: shorter than a keepalive ping and its timeout
(20 s each by default), so that the server's own pings don't time out."""
MAX_URL_BYTES: Final = 2_000


@attrs.frozen
class Settings:
    """What the command line configures, as the endpoints need it."""

    max_size: int = 2**20
    subprotocols: tuple[str, ...] = ()
    credentials: tuple[str, str] | None = None


@attrs.define
class EndpointStats:
    """Counters of one endpoint, as ``/stats`` reports them."""

    requests: int = 0
    rejected: int = 0
    connections: int = 0
    open: int = 0
    messages_in: int = 0
    messages_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0

    def received(self, message: Data) -> None:
        """Count a message received from the client."""
        self.messages_in += 1
        self.bytes_in += _size_of(message)

    def sent(self, *fragments: Data) -> None:
        """Count a message sent to the client, in one or several frames."""
        self.messages_out += 1
        self.bytes_out += sum(map(_size_of, fragments))


def _size_of(data: Data) -> int:
    """Size in bytes of a message's payload."""
    return len(data.encode()) if isinstance(data, str) else len(data)


class SharedState:
    """What the endpoints share: settings, chat rooms, counters, the Redis bus if any."""

    def __init__(self, settings: Settings, bus: RedisBroadcast | None = None) -> None:
        self.settings = settings
        self.bus = bus
        self.rooms: dict[str, set[Session]] = {}
        self.stats: dict[str, EndpointStats] = {}
        self.started = time.monotonic()
        self.check_credentials = (
            None
            if settings.credentials is None
            else basic_auth(realm="websockets_typed test server", credentials=settings.credentials)
        )

    def stats_of(self, endpoint: str) -> EndpointStats:
        """Return the counters of ``endpoint``, created at its first request."""
        return self.stats.setdefault(endpoint, EndpointStats())

    def snapshot(self) -> str:
        """The counters as JSON: totals, then by endpoint."""
        fields = attrs.fields_dict(EndpointStats)
        total = {name: sum(getattr(s, name) for s in self.stats.values()) for name in fields}
        by_endpoint = {name: attrs.asdict(s) for name, s in sorted(self.stats.items())}
        uptime = round(time.monotonic() - self.started, 3)
        return json.dumps({"uptime": uptime, "total": total, "by_endpoint": by_endpoint})


class Session:
    """One open connection to an endpoint, counting what goes through it."""

    def __init__(self, connection: EndpointConnection, stats: EndpointStats) -> None:
        self.connection = connection
        self.stats = stats

    async def send(self, message: Data) -> None:
        """Send a message and count it."""
        await self.connection.send(message)
        self.stats.sent(message)

    async def send_fragments(self, fragments: Sequence[str] | Sequence[bytes]) -> None:
        """Send one message in several frames and count it once."""
        await self.connection.send(fragments)
        self.stats.sent(*fragments)

    async def messages(self) -> AsyncIterator[Data]:
        """Yield the client's messages, counted, until it closes."""
        with contextlib.suppress(ConnectionClosed):
            async for message in self.connection:
                self.stats.received(message)
                yield message

    async def echo(self) -> None:
        """Send every message back until the client closes."""
        async for message in self.messages():
            await self.send(message)


Run: TypeAlias = Callable[[Session], Awaitable[None]]
"""Runs an open connection to an endpoint."""


class EndpointConnection(ServerConnection):
    """A connection to the test server: it knows its endpoint from the request."""

    endpoint: str = ""
    """Key of the endpoint in :data:`ENDPOINTS`, once the request is routed."""
    run: Run | None = None
    """What the handler runs, chosen before the upgrade."""
    offered: Sequence[Subprotocol] = ()
    """The subprotocols the client offered."""


@attrs.frozen
class Context:
    """What an endpoint's ``prepare`` receives besides the query."""

    connection: EndpointConnection
    request: Request
    state: SharedState
    argument: str
    """The part of the path after the endpoint's name, e.g. the room of ``/chat/{room}``."""
    upgrade: bool
    """Whether the request asks for a WebSocket upgrade."""


Prepare: TypeAlias = Callable[[Context, Query], Awaitable[Run | Response]]


@attrs.frozen
class Endpoint:
    """One endpoint: its documentation and what it does."""

    path: str
    """The path, with the query parameters it accepts, as the docs show it."""
    summary: str
    """What it does, in a sentence or two."""
    prepare: Prepare
    websocket: bool = True
    """Whether it upgrades to WebSocket (otherwise it answers plain HTTP)."""


# Payloads of /send and /fragment: recognizable and cheap to check.
_TEXT: Final = string.ascii_letters + string.digits
_BYTES: Final = bytes(range(256))


def payload(kind: Literal["text", "binary"], size: int) -> Data:
    """Return ``size`` bytes of text or binary data."""
    if kind == "text":
        return (_TEXT * (size // len(_TEXT) + 1))[:size]
    return (_BYTES * (size // len(_BYTES) + 1))[:size]


def _json_response(connection: ServerConnection, text: str) -> Response:
    response = connection.respond(http.HTTPStatus.OK, text + "\n")
    del response.headers["Content-Type"]
    response.headers["Content-Type"] = "application/json"
    return response


def _size(query: Query, state: SharedState, default: int) -> int:
    return query.integer("size", default, 0, state.settings.max_size, "--max-size")


def _kind(query: Query) -> Literal["text", "binary"]:
    kind: Literal["text", "binary"] = query.choice("type", "text", ("text", "binary"))
    return kind


def _milliseconds(query: Query, name: str, default: int, minimum: int = 0) -> float:
    return query.integer(name, default, minimum, MAX_DELAY_MS) / 1000


# The endpoints, in the order of the docs.


async def _echo(context: Context, query: Query) -> Run:
    query.done()
    return Session.echo


_ROOM_CHARACTERS: Final = frozenset(string.ascii_letters + string.digits + "-_.")


async def _chat(context: Context, query: Query) -> Run:
    query.done()
    room_name = context.argument or "lobby"
    if len(room_name) > 64 or not set(room_name) <= _ROOM_CHARACTERS:
        raise BadRequest("a room name has 1 to 64 letters, digits, '-', '_' or '.'")
    rooms = context.state.rooms
    bus = context.state.bus
    if bus is not None:
        return _bus_room(bus, f"websockets_typed:testserver:chat:{room_name}")

    def announce(members: set[Session]) -> None:
        notice = f"* {len(members)} connected"
        broadcast([member.connection for member in members], notice)
        for member in members:
            member.stats.sent(notice)

    async def join(session: Session) -> None:
        members = rooms.setdefault(room_name, set())
        members.add(session)
        announce(members)
        try:
            async for message in session.messages():
                broadcast([member.connection for member in members], message)
                for member in members:
                    member.stats.sent(message)
        finally:
            members.discard(session)
            announce(members)
            if not members:
                del rooms[room_name]

    return join


def _bus_room(bus: RedisBroadcast, channel: str) -> Run:
    """A chat room that spans every test server using the same Redis (``--redis``).

    Members are spread over processes: the notices say who comes and goes,
    not how many are there. Deliveries through Redis aren't counted in
    ``/stats``: they happen in the bus, like ``broadcast()``'s.
    """

    async def join(session: Session) -> None:
        async with bus.subscription(channel, session.connection):
            bus.publish(channel, "* someone joined")
            try:
                async for message in session.messages():
                    bus.publish(channel, message)
            finally:
                bus.publish(channel, "* someone left")

    return join


async def _close(context: Context, query: Query) -> Run:
    code = query.integer("code", CloseCode.NORMAL_CLOSURE, 0, 4999)
    reason = query.text("reason", "", 123)  # RFC 6455, 5.5: 125 bytes with the code
    query.done()
    try:
        Close(code, reason).check()
    except ProtocolError:
        raise BadRequest(f"code={code} may not be sent in a Close frame (RFC 6455, 7.4)") from None

    async def close(session: Session) -> None:
        await session.connection.close(code, reason)

    return close


# Statuses a handshake can't be refused with: 1xx are interim answers, and
# 204 and 304 never have a body, which a refusal carries.
_NOT_REFUSALS: Final = frozenset({204, 304})


async def _status(context: Context, query: Query) -> Response:
    query.done()
    text = context.argument
    if not (text.isascii() and text.isdigit() and 200 <= int(text) <= 599):
        raise BadRequest(f"/status/{{code}} takes an HTTP status from 200 to 599, not {text!r}")
    if int(text) in _NOT_REFUSALS:
        raise BadRequest(f"status {text} has no body: choose another")
    return context.connection.respond(int(text), f"Refused with {text}, as requested.\n")


_REDIRECT_SCHEMES: Final = ("ws://", "wss://", "http://", "https://")


async def _redirect(context: Context, query: Query) -> Response:
    location = query.text("to", "/echo", MAX_URL_BYTES)
    status = query.integer("status", 302, 301, 308)
    query.done()
    if status not in (301, 302, 303, 307, 308):
        raise BadRequest(f"status must be 301, 302, 303, 307 or 308, not {status}")
    local = location.startswith("/") and not location.startswith("//")
    if not (local or location.lower().startswith(_REDIRECT_SCHEMES)):
        raise BadRequest("to must be a path starting with / or a ws, wss, http or https URL")
    if any(ord(char) <= 0x20 or ord(char) == 0x7F for char in location):
        raise BadRequest("to must not contain spaces or control characters")
    response = context.connection.respond(status, f"Redirected to {location}\n")
    response.headers["Location"] = location
    return response


async def _send(context: Context, query: Query) -> Run:
    count = query.integer("count", 1, 0, MAX_COUNT)
    size = _size(query, context.state, 16)
    kind = _kind(query)
    interval = _milliseconds(query, "interval", 0)
    query.done()
    message = payload(kind, size)

    async def push(session: Session) -> None:
        for index in range(count):
            if index and interval:
                await asyncio.sleep(interval)
            await session.send(message)
        await session.connection.close(CloseCode.NORMAL_CLOSURE, f"sent {count} messages")

    return push


async def _fragment(context: Context, query: Query) -> Run:
    size = _size(query, context.state, 1024)
    frames = query.integer("frames", 4, 1, MAX_FRAMES)
    kind = _kind(query)
    query.done()
    message = payload(kind, size)
    # send() ends a fragmented message with an empty frame (FIN set): the
    # data goes in the frames before it, of nearly equal sizes (some empty
    # if there are more frames than bytes). One frame isn't fragmented.
    parts = max(frames - 1, 1)
    bounds = [size * index // parts for index in range(parts + 1)]
    fragments: list[str] | list[bytes]
    if isinstance(message, str):
        fragments = [message[start:end] for start, end in itertools.pairwise(bounds)]
    else:
        fragments = [message[start:end] for start, end in itertools.pairwise(bounds)]

    async def push(session: Session) -> None:
        if frames == 1:
            await session.send(message)
        else:
            await session.send_fragments(fragments)
        await session.connection.close(CloseCode.NORMAL_CLOSURE, f"sent {frames} frames")

    return push


async def _delay(context: Context, query: Query) -> Run:
    delay = _milliseconds(query, "ms", 1000)
    query.done()

    async def echo_later(session: Session) -> None:
        async for message in session.messages():
            await asyncio.sleep(delay)
            await session.send(message)

    return echo_later


async def _ping(context: Context, query: Query) -> Run:
    interval = _milliseconds(query, "interval", 1000, minimum=10)
    query.done()

    async def ping_and_echo(session: Session) -> None:
        async def ping() -> None:
            number = 0
            while True:  # until cancelled when the connection closes
                number += 1
                pong = await session.connection.ping()
                latency = await pong
                report = {"ping": number, "latency_ms": round(latency * 1000, 3)}
                await session.send(json.dumps(report))
                await asyncio.sleep(interval)

        pinging = asyncio.create_task(ping())
        try:
            await session.echo()
        finally:
            pinging.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await pinging

    return ping_and_echo


async def _subprotocol(context: Context, query: Query) -> Run:
    query.done()
    supported = list(context.state.settings.subprotocols)

    async def report(session: Session) -> None:
        connection = session.connection
        chosen = {
            "subprotocol": connection.subprotocol,
            "offered": list(connection.offered),
            "supported": supported,
        }
        await session.send(json.dumps(chosen))
        await session.echo()

    return report


async def _headers(context: Context, query: Query) -> Run:
    parameters = query.rest()  # any: they are part of what it reports
    headers: dict[str, str] = {}
    for name, value in context.request.headers.raw_items():
        # RFC 9110, 5.3: repeated fields combine into one, separated by commas.
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    text = json.dumps({"path": context.request.path, "query": parameters, "headers": headers})

    async def report(session: Session) -> None:
        await session.send(text)
        await session.echo()

    return report


async def _auth(context: Context, query: Query) -> Run | Response:
    query.done()
    check = context.state.check_credentials
    if check is None:
        return context.connection.respond(
            http.HTTPStatus.NOT_FOUND,
            "/auth is off: start the server with --auth USER:PASSWORD\n",
        )
    refusal = await check(context.connection, context.request)
    if refusal is not None:
        return refusal

    async def report(session: Session) -> None:
        await session.send(json.dumps({"user": session.connection.username}))
        await session.echo()

    return report


async def _slow(context: Context, query: Query) -> Run:
    pause = query.integer("ms", 10_000, 0, MAX_SLOW_MS) / 1000
    query.done()

    async def stop_reading(session: Session) -> None:
        transport = session.connection.transport
        # Nothing is read from the socket: the client's writes pile up in
        # its buffers, then its send() waits (TCP flow control).
        transport.pause_reading()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(session.connection.wait_closed(), pause)
        if not transport.is_closing():
            transport.resume_reading()
        await session.echo()

    return stop_reading


async def _stats(context: Context, query: Query) -> Run | Response:
    query.done()
    state = context.state
    if not context.upgrade:
        return _json_response(context.connection, state.snapshot())

    async def report(session: Session) -> None:
        await session.send(state.snapshot())
        async for _ in session.messages():
            await session.send(state.snapshot())

    return report


async def _healthz(context: Context, query: Query) -> Response:
    query.done()
    return context.connection.respond(http.HTTPStatus.OK, "OK\n")


ENDPOINTS: Final[dict[str, Endpoint]] = {
    endpoint.path.partition("?")[0].split("/")[1]: endpoint
    for endpoint in [
        Endpoint("/echo", "Sends every message back, unchanged. Also at /.", _echo),
        Endpoint(
            "/chat/{room}",
            "A chat room: every message goes to everyone in the room, with a notice "
            "when someone joins or leaves. /chat is the room lobby.",
            _chat,
        ),
        Endpoint(
            "/close?code=1000&reason=",
            "Closes the connection at once with this code and reason.",
            _close,
        ),
        Endpoint(
            "/status/{code}",
            "Refuses the handshake with this HTTP status (200 to 599).",
            _status,
            websocket=False,
        ),
        Endpoint(
            "/redirect?to=/echo&status=302",
            "Redirects before the upgrade, to a path or a URL.",
            _redirect,
            websocket=False,
        ),
        Endpoint(
            "/send?count=1&size=16&type=text&interval=0",
            "Pushes count messages of size bytes (text or binary), interval milliseconds "
            "apart, then closes with 1000.",
            _send,
        ),
        Endpoint(
            "/fragment?size=1024&frames=4&type=text",
            "Pushes one message of size bytes in that many frames (the last one is empty "
            "and ends the message), then closes with 1000.",
            _fragment,
        ),
        Endpoint("/delay?ms=1000", "Echoes each message after a delay.", _delay),
        Endpoint(
            "/ping?interval=1000",
            "Pings every interval milliseconds and reports each latency it measures, as "
            '{"ping": 1, "latency_ms": 0.2}; echoes messages too.',
            _ping,
        ),
        Endpoint(
            "/subprotocol",
            "Accepts the subprotocols of --subprotocols (400 if the client offers none "
            'of them) and reports the choice, as {"subprotocol": ...}; then echoes.',
            _subprotocol,
        ),
        Endpoint(
            "/headers",
            "Sends the handshake request's path, query parameters (any) and headers "
            "back as JSON; then echoes.",
            _headers,
        ),
        Endpoint(
            "/auth",
            "Requires HTTP Basic credentials (those of --auth), reports the user as "
            '{"user": ...}; then echoes.',
            _auth,
        ),
        Endpoint(
            "/slow?ms=10000",
            "Stops reading for ms milliseconds (30000 at most), so that the client's "
            "backpressure shows; then echoes.",
            _slow,
        ),
        Endpoint(
            "/stats",
            "Counters as JSON: requests, connections, messages and bytes, in total and "
            "by endpoint. Plain HTTP, or a WebSocket that answers each message with them.",
            _stats,
        ),
        Endpoint("/healthz", "Plain HTTP 200 OK, for health checks.", _healthz, websocket=False),
    ]
}
"""The endpoints, by the first segment of their path."""


def route(path: str) -> tuple[str, str] | None:
    """Return the endpoint's key and the rest of the path, or ``None`` if unknown."""
    name, _, argument = path[1:].partition("/")
    if name not in ENDPOINTS:
        return None
    # Only /chat/{room} and /status/{code} take a path argument.
    if argument and name not in ("chat", "status"):
        return None
    return name, argument


async def process_request(
    state: SharedState, connection: EndpointConnection, request: Request
) -> Response | None:
    """Route a request: answer it with plain HTTP, or choose what runs after the upgrade."""
    path, _, query_string = request.path.partition("?")
    upgrade = "websocket" in request.headers.get("Upgrade", "").lower()
    if path == "/" and upgrade:
        path = "/echo"
    routed = route(path)
    if routed is None:
        return connection.respond(http.HTTPStatus.NOT_FOUND, f"No such endpoint: {path}\n")
    name, argument = routed
    endpoint = ENDPOINTS[name]
    stats = state.stats_of(name)
    stats.requests += 1
    try:
        query = Query(query_string)
        prepared = await endpoint.prepare(
            Context(connection, request, state, argument, upgrade), query
        )
    except BadRequest as exc:
        stats.rejected += 1
        connection.logger.info("bad request %s: %s", request.path, exc)
        return connection.respond(http.HTTPStatus.BAD_REQUEST, f"{exc}\n")
    if isinstance(prepared, Response):
        return prepared
    connection.endpoint = name
    connection.run = prepared
    return None


def select_subprotocol(
    state: SharedState, connection: EndpointConnection, offered: Sequence[Subprotocol]
) -> Subprotocol | None:
    """Choose the first of ``--subprotocols`` that the client offers.

    Only ``/subprotocol`` requires one (when there are any); other endpoints
    go on without a subprotocol if the client offers none of them.
    """
    connection.offered = offered
    for subprotocol in state.settings.subprotocols:
        if subprotocol in offered:
            return Subprotocol(subprotocol)
    if connection.endpoint == "subprotocol" and state.settings.subprotocols:
        supported = ", ".join(state.settings.subprotocols)
        raise NegotiationError(f"offer one of these subprotocols: {supported}")
    return None


async def handler(state: SharedState, connection: EndpointConnection) -> None:
    """Run the connection as its endpoint says, counting it."""
    assert connection.run is not None  # process_request chose it
    assert connection.request is not None
    connection.logger.info("endpoint %s", connection.request.path)
    stats = state.stats_of(connection.endpoint)
    stats.connections += 1
    stats.open += 1
    try:
        await connection.run(Session(connection, stats))
    finally:
        stats.open -= 1
