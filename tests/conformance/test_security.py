"""Security: who gets in, what cannot be injected, what is never logged, TLS defaults.

Each protection that docs/howto/security.md states has a test here, and the
page's table of defaults is checked against the code at the end.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import http
import inspect
import logging
import re
import ssl
import warnings
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import trustme
from hypothesis import given, settings
from hypothesis import strategies as st
from raw_peer import handshake_request, raw_stream

from websockets_typed import (
    AbortHandshake,
    InvalidHeader,
    InvalidHost,
    InvalidStatus,
    InvalidURI,
    Request,
    Response,
    ServerConnection,
    basic_auth,
    connect,
    parse_uri,
    serve,
)
from websockets_typed.asyncio.client import _CREDENTIAL_HEADERS, MAX_REDIRECTS
from websockets_typed.asyncio.server import Server, TCPServeOptions
from websockets_typed.client import ClientProtocol
from websockets_typed.datastructures import Headers
from websockets_typed.frames import Close, Opcode, parse_frame
from websockets_typed.headers import build_www_authenticate_basic
from websockets_typed.http11 import _SECRET_HEADERS, RequestParser, ResponseParser
from websockets_typed.protocol import State
from websockets_typed.server import ServerProtocol

ROOT = Path(__file__).resolve().parent.parent.parent

# Helpers.


def port_of(server: Server) -> int:
    """The port the server listens on."""
    port: int = server.sockets[0].getsockname()[1]
    return port


async def greet(websocket: ServerConnection) -> None:
    """Say who the server thinks is on the other side."""
    await websocket.send(f"hello {websocket.username}")


def key_request(*headers: tuple[str, str], path: str = "/") -> bytes:
    """A handshake request as bytes, with ``headers`` after the required ones."""
    return handshake_request(path=path, headers=headers, host=False)


async def raw_exchange(port: int, request: bytes) -> Response:
    """Send raw bytes to the server and parse its response, as a browser would see it.

    The package's parser reads it, so that tests compare it with what
    :func:`rejection` returns.
    """
    async with asyncio.timeout(10), raw_stream(port) as (reader, writer):
        writer.write(request)
        parser = ResponseParser()
        buffer = bytearray()
        while True:
            data = await reader.read(65536)
            if not data:
                return parser.parse_eof(buffer)
            buffer += data
            response = parser.parse(buffer)
            if response is not None:
                return response


async def rejection(uri: str) -> Response:
    """Connect, expecting an HTTP rejection; return the response."""
    with pytest.raises(InvalidStatus) as raised:
        async with asyncio.timeout(10):
            await connect(uri)
    return raised.value.response


# Cross-Site WebSocket Hijacking: the Origin check (RFC 6455, 10.2).


BROWSER_HEADERS = [
    ("Host", "app.example"),
    ("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0 Safari/537.36"),
    ("Cookie", "session=alice-session-cookie"),
    ("Sec-Fetch-Site", "cross-site"),
    ("Sec-Fetch-Mode", "websocket"),
]


async def test_cross_site_request_from_a_browser_is_refused_with_403() -> None:
    # A page on evil.example opens a WebSocket to app.example: the browser
    # attaches the user's cookies, and its Origin says where the page is.
    handled: list[ServerConnection] = []

    async def handler(websocket: ServerConnection) -> None:
        handled.append(websocket)

    async with serve(handler, "127.0.0.1", 0, origins=["https://app.example"]) as server:
        evil = key_request(*BROWSER_HEADERS, ("Origin", "https://evil.example"))
        response = await raw_exchange(port_of(server), evil)
        assert response.status_code == http.HTTPStatus.FORBIDDEN
        assert response.body is not None
        assert b"invalid Origin header: https://evil.example" in response.body
        # An origin that merely starts like an allowed one fails too.
        tricky = key_request(*BROWSER_HEADERS, ("Origin", "https://app.example.evil.example"))
        assert (await raw_exchange(port_of(server), tricky)).status_code == 403
        # A page of the application itself gets in.
        good = key_request(*BROWSER_HEADERS, ("Origin", "https://app.example"))
        assert (await raw_exchange(port_of(server), good)).status_code == 101
    assert len(handled) == 1
    assert handled[0].request is not None
    assert handled[0].request.headers["Origin"] == "https://app.example"


async def test_origins_default_accepts_any_origin() -> None:
    # Without origins, no check: the documented default.
    async with serve(greet, "127.0.0.1", 0) as server:
        evil = key_request(*BROWSER_HEADERS, ("Origin", "https://evil.example"))
        assert (await raw_exchange(port_of(server), evil)).status_code == 101


# The Host check (RFC 7230, 5.4): against DNS rebinding.


@pytest.mark.parametrize(
    ("hosts", "host"),
    [
        (["example.com"], "example.com"),
        (["example.com"], "example.com:8443"),
        (["example.com"], "EXAMPLE.com"),
        (["Example.COM"], "example.com"),
        (["example.com:8443"], "example.com:8443"),
        (["other.test", "example.com:80"], "example.com:80"),
        (["[::1]"], "[::1]:8765"),
        (["[::1]:8765"], "[::1]:8765"),
        (["127.0.0.1"], "127.0.0.1:8765"),
    ],
)
def test_host_allowed(hosts: list[str], host: str) -> None:
    server = ServerProtocol(hosts=hosts)
    response = server.accept(_request(("Host", host)))
    assert response.status_code == 101
    assert server.handshake_exc is None


@pytest.mark.parametrize(
    ("hosts", "host"),
    [
        (["example.com"], "evil.example"),
        (["example.com"], "example.com.evil.example"),
        (["example.com"], "sub.example.com"),
        (["example.com:8443"], "example.com"),
        (["example.com:8443"], "example.com:443"),
        (["[::1]:8765"], "[::1]:80"),
        ([], "example.com"),
    ],
)
def test_host_not_allowed_is_421(hosts: list[str], host: str) -> None:
    server = ServerProtocol(hosts=hosts)
    response = server.accept(_request(("Host", host)))
    assert response.status_code == http.HTTPStatus.MISDIRECTED_REQUEST
    assert isinstance(server.handshake_exc, InvalidHost)
    assert server.handshake_exc.host == host
    assert (
        response.body
        == f"Failed to open a WebSocket connection: invalid Host header: {host}.\n".encode()
    )


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ([], "missing Host header"),
        (
            [("Host", "example.com"), ("Host", "example.com")],
            "invalid Host header: multiple values",
        ),
        ([("Host", "example.com:port")], "invalid Host header: example.com:port"),
        ([("Host", "user@example.com")], "invalid Host header: user@example.com"),
        ([("Host", "")], "empty Host header"),
    ],
)
def test_host_missing_or_invalid_is_400(headers: list[tuple[str, str]], message: str) -> None:
    server = ServerProtocol(hosts=["example.com"])
    response = server.accept(_request(*headers))
    assert response.status_code == http.HTTPStatus.BAD_REQUEST
    assert type(server.handshake_exc) is InvalidHeader
    assert str(server.handshake_exc) == message


def test_hosts_default_skips_the_check() -> None:
    for headers in ([], [("Host", "anything.test")]):
        server = ServerProtocol()
        assert server.accept(_request(*headers)).status_code == 101


def test_hosts_argument_is_validated() -> None:
    with pytest.raises(TypeError, match="list of str"):
        ServerProtocol(hosts="example.com")
    with pytest.raises(ValueError, match="invalid host"):
        ServerProtocol(hosts=["example.com/path"])


async def test_serve_hosts_option() -> None:
    async with serve(greet, "127.0.0.1", 0, hosts=["localhost"]) as server:
        port = port_of(server)
        async with asyncio.timeout(10), connect(f"ws://localhost:{port}/") as websocket:
            assert await websocket.recv() == "hello None"
        # The same server reached by its IP address, as after DNS rebinding.
        response = await rejection(f"ws://127.0.0.1:{port}/")
        assert response.status_code == 421
    with pytest.raises(ValueError, match="invalid host"):
        await serve(greet, "127.0.0.1", 0, hosts=["local host"])


def _request(*headers: tuple[str, str]) -> Request:
    parsed = RequestParser().parse(bytearray(key_request(*headers)))
    assert parsed is not None
    return parsed


# HTTP Basic authentication (RFC 7617).


def _basic(username: str, password: str) -> tuple[str, str]:
    credentials = base64.b64encode(f"{username}:{password}".encode()).decode()
    return ("Authorization", f"Basic {credentials}")


async def test_basic_auth_with_credentials() -> None:
    process_request = basic_auth(realm="chat", credentials=[("alice", "s3cret"), ("bob", "pw")])
    async with serve(greet, "127.0.0.1", 0, process_request=process_request) as server:
        port = port_of(server)
        async with asyncio.timeout(10), connect(f"ws://alice:s3cret@127.0.0.1:{port}/") as ws:
            assert await ws.recv() == "hello alice"
        async with asyncio.timeout(10), connect(f"ws://bob:pw@127.0.0.1:{port}/") as ws:
            assert await ws.recv() == "hello bob"
        for uri, text in [
            (f"ws://127.0.0.1:{port}/", b"Missing credentials\n"),
            (f"ws://alice:wrong@127.0.0.1:{port}/", b"Invalid credentials\n"),
            (f"ws://alice:s3cret2@127.0.0.1:{port}/", b"Invalid credentials\n"),
            (f"ws://mallory:s3cret@127.0.0.1:{port}/", b"Invalid credentials\n"),
            (f"ws://alice:@127.0.0.1:{port}/", b"Invalid credentials\n"),
        ]:
            response = await rejection(uri)
            assert response.status_code == 401
            assert response.headers["WWW-Authenticate"] == 'Basic realm="chat", charset="UTF-8"'
            assert response.body == text
        for headers in (
            [("Authorization", "Bearer s3cret")],
            [("Authorization", "Basic not base64!")],
            [_basic("alice", "s3cret"), _basic("alice", "s3cret")],
        ):
            response = await raw_exchange(port, key_request(("Host", "x"), *headers))
            assert response.status_code == 401
            assert response.body == b"Unsupported credentials\n"


async def test_basic_auth_with_a_single_pair_and_empty_realm() -> None:
    process_request = basic_auth(credentials=("alice", "s3cret"))
    async with serve(greet, "127.0.0.1", 0, process_request=process_request) as server:
        port = port_of(server)
        async with asyncio.timeout(10), connect(f"ws://alice:s3cret@127.0.0.1:{port}/") as ws:
            assert await ws.recv() == "hello alice"
        response = await rejection(f"ws://127.0.0.1:{port}/")
        assert response.headers["WWW-Authenticate"] == 'Basic realm="", charset="UTF-8"'


@pytest.mark.parametrize("asynchronous", [False, True])
async def test_basic_auth_with_check_credentials(asynchronous: bool) -> None:
    seen: list[tuple[str, str]] = []

    def check(username: str, password: str) -> bool:
        seen.append((username, password))
        return hmac.compare_digest(password.encode(), b"open sesame")

    async def check_async(username: str, password: str) -> bool:
        await asyncio.sleep(0)
        return check(username, password)

    process_request = basic_auth(check_credentials=check_async if asynchronous else check)
    async with serve(greet, "127.0.0.1", 0, process_request=process_request) as server:
        port = port_of(server)
        async with (
            asyncio.timeout(10),
            connect(f"ws://carol:open%20sesame@127.0.0.1:{port}/") as ws,
        ):
            assert await ws.recv() == "hello carol"
        assert (await rejection(f"ws://carol:closed@127.0.0.1:{port}/")).status_code == 401
    # Percent-encoded user information arrives decoded.
    assert seen == [("carol", "open sesame"), ("carol", "closed")]


async def test_basic_auth_compares_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    # The comparison goes through hmac.compare_digest on fixed-length
    # digests, for known and unknown users alike.
    calls: list[tuple[int, int]] = []
    compare_digest = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((len(a), len(b)))
        return compare_digest(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    process_request = basic_auth(credentials=("alice", "s3cret"))
    async with serve(greet, "127.0.0.1", 0, process_request=process_request) as server:
        port = port_of(server)
        for uri in (
            f"ws://alice:s3cret@127.0.0.1:{port}/",
            f"ws://alice:a-much-longer-wrong-password@127.0.0.1:{port}/",
            f"ws://nobody:s3cret@127.0.0.1:{port}/",
        ):
            try:
                async with asyncio.timeout(10), connect(uri):
                    pass
            except InvalidStatus:
                pass
    assert calls == [(32, 32)] * 3


def test_basic_auth_arguments() -> None:
    with pytest.raises(ValueError, match="either credentials or check_credentials"):
        basic_auth()
    with pytest.raises(ValueError, match="either credentials or check_credentials"):
        basic_auth(credentials=("a", "b"), check_credentials=lambda u, p: True)
    with pytest.raises(TypeError, match="invalid credentials"):
        basic_auth(credentials=42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="invalid credentials"):
        basic_auth(credentials=[("a", "b", "c")])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="invalid realm"):
        basic_auth(realm='x"\r\nSet-Cookie: a=b', credentials=("a", "b"))


# No CR/LF injection through anything we serialize.


# Strings that try to end a header line and start another one.
def _join(before: str, separator: str, after: str) -> str:
    return before + separator + after


injections = st.builds(
    _join,
    st.text(alphabet=st.characters(codec="ascii", exclude_categories=["Cc"]), max_size=8),
    st.sampled_from(["\r\n", "\n", "\r", "\r\n\r\n", "\x00", "\x0b", "\x7f"]),
    st.sampled_from(["X-Injected: 1", "Set-Cookie: session=evil", "", "HTTP/1.1 200 OK"]),
)


@given(value=injections)
def test_no_injection_through_request_headers(value: str) -> None:
    request = Request("/", Headers({"Host": "example.com"}))
    request.headers["X-Value"] = value
    with pytest.raises(ValueError, match="invalid value for header X-Value"):
        request.serialize()
    named = Request("/", Headers([(value, "1")]))
    with pytest.raises(ValueError, match="invalid header name"):
        named.serialize()
    with pytest.raises(ValueError, match="invalid request path"):
        Request(f"/{value}", Headers()).serialize()


@given(value=injections)
def test_no_injection_through_responses(value: str) -> None:
    with pytest.raises(ValueError, match="invalid reason phrase"):
        Response(101, value, Headers()).serialize()
    with pytest.raises(ValueError, match="invalid value for header X-Value"):
        Response(101, "OK", Headers([("X-Value", value)])).serialize()
    # reject() puts text in the body, framed by Content-Length: it can hold
    # line breaks without starting a header.
    server = ServerProtocol()
    response = server.reject(403, value)
    parsed = ResponseParser().parse(bytearray(response.serialize()))
    assert parsed is not None
    assert "X-Injected" not in parsed.headers
    assert parsed.headers.get_all("Set-Cookie") == []
    assert parsed.body == value.encode()


@given(value=injections)
def test_no_injection_through_the_sans_io_client(value: str) -> None:
    client = ClientProtocol(parse_uri("ws://example.com/"), origin=value)
    with pytest.raises(ValueError, match="invalid value for header Origin"):
        client.send_request(client.connect())
    # Nothing was sent, and the connection can still send a valid request.
    assert client.data_to_send() == []
    client.origin = None
    client.send_request(client.connect())
    assert client.data_to_send() != []
    with pytest.raises(ValueError, match="invalid subprotocol"):
        ClientProtocol(parse_uri("ws://example.com/"), subprotocols=[value])


@given(value=injections)
def test_no_injection_through_the_sans_io_server(value: str) -> None:
    server = ServerProtocol()
    request = _request(("Host", "example.com"))
    response = server.accept(request)
    response.headers["X-Value"] = value
    with pytest.raises(ValueError, match="invalid value for header X-Value"):
        server.send_response(response)
    # Nothing was sent, and the connection is still CONNECTING.
    assert server.data_to_send() == []
    assert server.state is State.CONNECTING
    with pytest.raises(ValueError, match="invalid realm"):
        build_www_authenticate_basic(value)
    with pytest.raises(ValueError, match="invalid subprotocol"):
        ServerProtocol(subprotocols=["chat", value])


@given(value=injections)
def test_close_reason_is_framed_not_injected(value: str) -> None:
    # A close reason travels inside a length-prefixed frame: whatever it
    # holds, the peer parses exactly one frame with the same reason.
    server = ServerProtocol(state=State.OPEN)
    server.send_close(1000, value)
    buffer = bytearray(b"".join(server.data_to_send()))
    frame = parse_frame(buffer, mask=False)
    assert frame is not None
    assert not buffer
    assert frame.opcode is Opcode.CLOSE
    assert Close.parse(frame.data) == Close(1000, value)


@settings(max_examples=25, deadline=None)
@given(value=injections)
def test_no_injection_through_connect_and_serve_options(value: str) -> None:
    # Checked when the options are given, before any connection exists.
    with pytest.raises(ValueError, match="invalid value for header User-Agent"):
        connect("ws://example.com/", user_agent_header=value)
    with pytest.raises(ValueError, match="invalid value for header Origin"):
        connect("ws://example.com/", origin=value)
    with pytest.raises(ValueError, match="invalid value for header X-Value"):
        connect("ws://example.com/", additional_headers={"X-Value": value})
    with pytest.raises(ValueError, match="invalid value for header X-Value"):
        connect("ws://example.com/", extra_headers=[("X-Value", value)])
    with pytest.raises(ValueError, match="invalid header name"):
        connect("ws://example.com/", additional_headers={value: "1"})

    async def start(options: TCPServeOptions) -> None:
        await serve(greet, "127.0.0.1", 0, **options)

    with pytest.raises(ValueError, match="invalid value for header Server"):
        asyncio.run(start({"server_header": value}))
    with pytest.raises(ValueError, match="invalid value for header X-Value"):
        asyncio.run(start({"extra_headers": {"X-Value": value}}))


EVIL = "ok\r\nSet-Cookie: session=evil"


def _evil_response(connection: ServerConnection, request: Request) -> Response:
    response = connection.respond(200, "fine\n")
    response.headers["X-Value"] = EVIL
    return response


def _evil_reason(connection: ServerConnection, request: Request) -> Response:
    return Response(200, EVIL, Headers({"Content-Length": "0"}), b"")


def _evil_abort(connection: ServerConnection, request: Request) -> Response:
    raise AbortHandshake(403, Headers({"X-Value": EVIL}), b"no")


def _evil_process_response(
    connection: ServerConnection, request: Request, response: Response
) -> None:
    response.headers["X-Value"] = EVIL


def _evil_extra_headers(path: str, headers: Headers) -> dict[str, str]:
    return {"X-Value": EVIL}


@pytest.mark.parametrize(
    "options",
    [
        {"process_request": _evil_response},
        {"process_request": _evil_reason},
        {"process_request": _evil_abort},
        {"process_response": _evil_process_response},
        {"extra_headers": _evil_extra_headers},
    ],
    ids=["process_request", "reason_phrase", "AbortHandshake", "process_response", "extra_headers"],
)
async def test_no_injection_through_hooks(
    options: TCPServeOptions, caplog: pytest.LogCaptureFixture
) -> None:
    # A hook that builds a response with CR LF in it: the client gets a 500
    # and the server logs the error; the injected header is never sent.
    caplog.set_level(logging.ERROR, logger="websockets_typed.server")
    async with serve(greet, "127.0.0.1", 0, **options) as server:
        response = await raw_exchange(port_of(server), key_request(("Host", "x")))
        assert response.status_code == 500
        assert "Set-Cookie" not in response.headers
        assert "X-Value" not in response.headers
        # The server keeps serving.
        response = await raw_exchange(port_of(server), key_request(("Host", "x")))
        assert response.status_code == 500
    messages = [record.getMessage() for record in caplog.records]
    assert messages.count("invalid handshake response") == 2


# Credentials from the URI: sent as Basic auth, never logged.


PASSWORD = "pa55-w0rd-n0t-in-logs"


def _secrets() -> list[str]:
    token = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    return [PASSWORD, token, token[4:-4]]


def _logged_text(caplog: pytest.LogCaptureFixture) -> str:
    formatter = logging.Formatter("%(message)s %(args)s")
    parts: list[str] = []
    for record in caplog.records:
        parts.append(formatter.format(record))
        parts.append(repr(record.args))
        parts.append(repr(record.__dict__))
    return "\n".join(parts)


async def test_uri_credentials_are_sent_but_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    process_request = basic_auth(credentials=("alice", PASSWORD))
    async with serve(greet, "127.0.0.1", 0, process_request=process_request) as server:
        port = port_of(server)
        uri = f"ws://alice:{PASSWORD}@127.0.0.1:{port}/"
        async with asyncio.timeout(10), connect(uri) as websocket:
            # Sent and accepted: the test isn't vacuous.
            assert await websocket.recv() == "hello alice"
            assert websocket.request is not None
            assert websocket.request.headers["Authorization"] == "Basic " + _secrets()[1]
        # A rejected attempt logs at INFO and DEBUG on both sides.
        response = await rejection(f"ws://alice:{PASSWORD}x@127.0.0.1:{port}/")
        assert response.status_code == 401
    text = _logged_text(caplog)
    assert "Authorization" in text  # the header's name is logged...
    assert "[redacted]" in text  # ...without its value
    for secret in _secrets():
        assert secret not in text


async def test_cookies_are_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    def set_cookie(connection: ServerConnection, request: Request, response: Response) -> None:
        response.headers["Set-Cookie"] = "session=server-secret"

    async with serve(greet, "127.0.0.1", 0, process_response=set_cookie) as server:
        uri = f"ws://127.0.0.1:{port_of(server)}/"
        async with (
            asyncio.timeout(10),
            connect(uri, additional_headers={"Cookie": "session=client-secret"}) as websocket,
        ):
            await websocket.recv()
            assert websocket.response is not None
            assert websocket.response.headers["Set-Cookie"] == "session=server-secret"
    text = _logged_text(caplog)
    assert "client-secret" not in text
    assert "server-secret" not in text
    assert sorted(_SECRET_HEADERS) == [
        "authorization",
        "cookie",
        "proxy-authorization",
        "set-cookie",
    ]


def test_uri_password_hidden_in_repr_and_errors() -> None:
    wsuri = parse_uri(f"ws://alice:{PASSWORD}@example.com/")
    assert wsuri.password == PASSWORD
    assert PASSWORD not in repr(wsuri)
    assert "password='***'" in repr(wsuri)
    with pytest.raises(InvalidURI) as raised:
        parse_uri(f"ws://alice:{PASSWORD}@example.com:99999/")
    assert raised.value.uri.endswith(":99999/")
    assert PASSWORD not in str(raised.value)
    assert (
        str(raised.value)
        == "ws://alice:***@example.com:99999/ isn't a valid URI: port is out of range"
    )


# TLS: the platform's secure defaults.


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    """A certificate authority, made once: making keys takes time."""
    return trustme.CA()


def _server_context(
    ca: trustme.CA, *, legacy: bool = False, self_signed: bool = False
) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    if self_signed:
        # The CA's own certificate is self-signed: serve it as the leaf.
        with ca.cert_pem.tempfile() as cert, ca.private_key_pem.tempfile() as key:
            context.load_cert_chain(cert, key)
    else:
        ca.issue_cert("localhost").configure_cert(context)  # pyright: ignore[reportUnknownMemberType]
    if legacy:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = ssl.TLSVersion.TLSv1
            context.maximum_version = ssl.TLSVersion.TLSv1_1
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    return context


@pytest.fixture
def trusted(ca: trustme.CA, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Make the CA trusted by the platform's default context (OpenSSL reads SSL_CERT_FILE)."""
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    monkeypatch.setenv("SSL_CERT_FILE", str(path))


@pytest.fixture
async def tls_server(ca: trustme.CA) -> AsyncIterator[int]:
    """A wss server for localhost; yields its port."""
    async with serve(greet, "127.0.0.1", 0, ssl=_server_context(ca)) as server:
        yield port_of(server)


@pytest.mark.usefixtures("trusted")
@pytest.mark.parametrize("ssl_option", ["omitted", None, True])
async def test_wss_uses_the_default_context(tls_server: int, ssl_option: object) -> None:
    kwargs = {} if ssl_option == "omitted" else {"ssl": ssl_option}
    async with asyncio.timeout(10), connect(f"wss://localhost:{tls_server}/", **kwargs) as ws:  # type: ignore[arg-type]
        ssl_object = ws.transport.get_extra_info("ssl_object")
        assert isinstance(ssl_object, ssl.SSLObject)
        context = ssl_object.context
        assert context.verify_mode is ssl.CERT_REQUIRED
        assert context.check_hostname
        assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
        assert ssl_object.version() in ("TLSv1.2", "TLSv1.3")
        assert await ws.recv() == "hello None"


@pytest.mark.parametrize("ssl_option", ["omitted", None, True])
async def test_wss_rejects_an_untrusted_certificate(tls_server: int, ssl_option: object) -> None:
    # Without the CA in the platform's trust store, verification fails.
    kwargs = {} if ssl_option == "omitted" else {"ssl": ssl_option}
    with pytest.raises(ssl.SSLCertVerificationError, match="unable to get local issuer"):
        async with asyncio.timeout(10):
            await connect(f"wss://localhost:{tls_server}/", **kwargs)  # type: ignore[arg-type]


async def test_wss_rejects_a_self_signed_certificate(ca: trustme.CA) -> None:
    context = _server_context(ca, self_signed=True)
    async with serve(greet, "127.0.0.1", 0, ssl=context) as server:
        with pytest.raises(ssl.SSLCertVerificationError, match=r"self.signed certificate"):
            async with asyncio.timeout(10):
                await connect(f"wss://localhost:{port_of(server)}/")


@pytest.mark.usefixtures("trusted")
async def test_wss_checks_the_host_name(tls_server: int) -> None:
    # The certificate is for localhost, not for 127.0.0.1.
    with pytest.raises(ssl.SSLCertVerificationError, match="IP address mismatch"):
        async with asyncio.timeout(10):
            await connect(f"wss://127.0.0.1:{tls_server}/")


@pytest.mark.usefixtures("trusted")
async def test_wss_refuses_tls_below_1_2(ca: trustme.CA) -> None:
    async with serve(greet, "127.0.0.1", 0, ssl=_server_context(ca, legacy=True)) as server:
        uri = f"wss://localhost:{port_of(server)}/"
        with pytest.raises((ssl.SSLError, ConnectionResetError)):
            async with asyncio.timeout(10):
                await connect(uri)
        # The server does speak TLS 1.1: a client that allows it gets in.
        lax = ssl.create_default_context()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            lax.minimum_version = ssl.TLSVersion.TLSv1
        lax.set_ciphers("DEFAULT:@SECLEVEL=0")
        async with asyncio.timeout(10), connect(uri, ssl=lax) as websocket:
            ssl_object = websocket.transport.get_extra_info("ssl_object")
            assert isinstance(ssl_object, ssl.SSLObject)
            assert ssl_object.version() == "TLSv1.1"


# The Security page states these defaults; they must match the code.


def _documented_defaults() -> dict[str, str]:
    """The table of docs/howto/security.md, as {setting: default}."""
    page = (ROOT / "docs" / "howto" / "security.md").read_text()
    table = page.split("<!-- defaults -->")[1]
    rows = re.findall(r"^\| `([^`]+)` \| ([^|]+?) \|", table, re.MULTILINE)
    return dict(rows)


def _default(function: Callable[..., object], name: str) -> object:
    return inspect.signature(function).parameters[name].default


def test_security_page_matches_the_code() -> None:
    context = ssl.create_default_context()
    actual = {
        "origins": f"`{_default(ServerProtocol, 'origins')}`",
        "hosts": f"`{_default(ServerProtocol, 'hosts')}`",
        "origin rejected": f"{http.HTTPStatus.FORBIDDEN.value}",
        "host rejected": f"{http.HTTPStatus.MISDIRECTED_REQUEST.value}",
        "host missing or repeated": f"{http.HTTPStatus.BAD_REQUEST.value}",
        "credentials rejected": f"{http.HTTPStatus.UNAUTHORIZED.value}",
        "verify_mode": f"`{context.verify_mode.name}`",
        "check_hostname": f"`{context.check_hostname}`",
        "minimum_version": f"`{context.minimum_version.name}`",
        "max redirects": f"{MAX_REDIRECTS}",
        "dropped on cross-origin redirect": ", ".join(
            f"`{name.title()}`" for name in sorted(_CREDENTIAL_HEADERS)
        ),
        "redacted in logs": ", ".join(f"`{name.title()}`" for name in sorted(_SECRET_HEADERS)),
    }
    assert _documented_defaults() == actual


def test_security_page_is_in_the_nav() -> None:
    assert "howto/security.md" in (ROOT / "mkdocs.yml").read_text()
