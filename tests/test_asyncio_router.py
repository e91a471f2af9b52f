"""Tests of websockets_typed.asyncio.router: route(), unix_route(), Route and Router.

A real server on loopback (or a Unix socket), real clients.
"""

from __future__ import annotations

import http
import json
import logging
import uuid
from collections.abc import Mapping
from pathlib import Path

import pytest

from websockets_typed import (
    InvalidStatus,
    Request,
    Response,
    Route,
    Router,
    Server,
    ServerConnection,
    basic_auth,
    connect,
    route,
    serve,
    unix_connect,
    unix_route,
)
from websockets_typed.asyncio.router import RouteHandler
from websockets_typed.datastructures import Headers


def port_of(server: Server) -> int:
    port: int = server.sockets[0].getsockname()[1]
    return port


async def chat(connection: ServerConnection, room: str) -> None:
    await connection.send(json.dumps({"handler": "chat", "room": room}))


async def user(connection: ServerConnection, id: int) -> None:
    assert isinstance(id, int)
    await connection.send(json.dumps({"handler": "user", "id": id, "next": id + 1}))


async def document(connection: ServerConnection, key: uuid.UUID) -> None:
    assert isinstance(key, uuid.UUID)
    await connection.send(json.dumps({"handler": "document", "key": str(key)}))


async def files(connection: ServerConnection, name: str) -> None:
    await connection.send(json.dumps({"handler": "files", "name": name}))


async def home(connection: ServerConnection) -> None:
    await connection.send(json.dumps({"handler": "home"}))


async def me(connection: ServerConnection) -> None:
    await connection.send(json.dumps({"handler": "me"}))


# Annotated: mypy would infer dict[str, function] for handlers of different types.
URL_MAP: Mapping[str, RouteHandler] = {
    "/": home,
    "/chat/{room}": chat,
    "/user/me": me,
    "/user/{id:int}": user,
    "/doc/{key:uuid}": document,
    "/files/{name:path}": files,
}


async def first_message(uri: str, **host: str) -> object:
    async with connect(uri, host=host.get("host")) as websocket:
        return json.loads(await websocket.recv())


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/", {"handler": "home"}),
        ("/chat/lobby", {"handler": "chat", "room": "lobby"}),
        ("/chat/caf%C3%A9?x=1", {"handler": "chat", "room": "café"}),
        ("/user/me", {"handler": "me"}),  # first match wins
        ("/user/41", {"handler": "user", "id": 41, "next": 42}),
        (
            "/doc/12345678-1234-5678-1234-567812345678",
            {"handler": "document", "key": "12345678-1234-5678-1234-567812345678"},
        ),
        ("/files/a/b.txt", {"handler": "files", "name": "a/b.txt"}),
    ],
)
async def test_route_by_path(path: str, expected: object) -> None:
    async with route(URL_MAP, "127.0.0.1", 0) as server:
        assert await first_message(f"ws://127.0.0.1:{port_of(server)}{path}") == expected


@pytest.mark.parametrize("path", ["/nowhere", "/chat", "/chat/", "/user/x", "/doc/1", "/files/"])
async def test_unknown_path_gets_404(path: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "websockets_typed.server")
    async with route(URL_MAP, "127.0.0.1", 0) as server:
        with pytest.raises(InvalidStatus) as raised:
            await first_message(f"ws://127.0.0.1:{port_of(server)}{path}")
    response = raised.value.response
    assert (response.status_code, response.body) == (404, b"Not Found\n")
    assert f"no route for {path}" in caplog.messages


async def test_route_by_host() -> None:
    async def tenant_home(connection: ServerConnection, tenant: str) -> None:
        await connection.send(json.dumps({"handler": "tenant", "tenant": tenant}))

    async def tenant_room(connection: ServerConnection, tenant: str, room: str) -> None:
        await connection.send(json.dumps({"handler": "room", "tenant": tenant, "room": room}))

    url_map = [
        Route("/", home, host="example.test"),
        Route("/", tenant_home, host="{tenant}.example.test"),
        Route("/chat/{room}", tenant_room, host="{tenant}.example.test"),
    ]
    async with route(url_map, "127.0.0.1", 0) as server:
        port = port_of(server)
        assert await first_message(f"ws://example.test:{port}/", host="127.0.0.1") == {
            "handler": "home"
        }
        assert await first_message(f"ws://ACME.example.test:{port}/", host="127.0.0.1") == {
            "handler": "tenant",
            "tenant": "acme",
        }
        assert await first_message(f"ws://acme.example.test:{port}/chat/x", host="127.0.0.1") == {
            "handler": "room",
            "tenant": "acme",
            "room": "x",
        }
        for uri in (
            f"ws://127.0.0.1:{port}/",
            f"ws://[::1]:{port}/",
            f"ws://a.b.example.test:{port}/",
        ):
            with pytest.raises(InvalidStatus, match="HTTP 404"):
                await first_message(uri, host="127.0.0.1")


def test_routing_without_host_header() -> None:
    router = Router([Route("/", home, host="example.test"), Route("/", me)])
    headers = [("Host", "a"), ("Host", "b")]
    assert router.match(Request("/", Headers())) == (router.routes[1], {})
    assert router.match(Request("/", Headers(headers))) == (router.routes[1], {})
    assert router.match(Request("/", Headers([("Host", "Example.Test.:80")]))) == (
        router.routes[0],
        {},
    )


async def test_route_with_basic_auth() -> None:
    process_request = basic_auth(realm="test", credentials=("alice", "s3cr3t"))
    async with route(URL_MAP, "127.0.0.1", 0, process_request=process_request) as server:
        port = port_of(server)
        # Authentication comes first: no credentials, 401 even for unknown paths.
        for path in ("/chat/lobby", "/nowhere"):
            with pytest.raises(InvalidStatus, match="HTTP 401"):
                await first_message(f"ws://127.0.0.1:{port}{path}")
        assert await first_message(f"ws://alice:s3cr3t@127.0.0.1:{port}/chat/lobby") == {
            "handler": "chat",
            "room": "lobby",
        }
        with pytest.raises(InvalidStatus, match="HTTP 404"):
            await first_message(f"ws://alice:s3cr3t@127.0.0.1:{port}/nowhere")


async def test_route_with_process_request() -> None:
    def health_check(connection: ServerConnection, request: Request) -> Response | None:
        if request.path == "/healthz":
            return connection.respond(http.HTTPStatus.OK, "OK\n")
        return None

    async with route(URL_MAP, "127.0.0.1", 0, process_request=health_check) as server:
        port = port_of(server)
        with pytest.raises(InvalidStatus) as raised:
            await first_message(f"ws://127.0.0.1:{port}/healthz")
        assert raised.value.response.status_code == 200
        assert await first_message(f"ws://127.0.0.1:{port}/") == {"handler": "home"}


async def test_router_with_serve() -> None:
    router = Router(URL_MAP)
    async with serve(router.handler, "127.0.0.1", 0, process_request=router.hook(None)) as server:
        assert await first_message(f"ws://127.0.0.1:{port_of(server)}/user/1") == {
            "handler": "user",
            "id": 1,
            "next": 2,
        }


async def test_unix_route(tmp_path: Path) -> None:
    path = str(tmp_path / "ws.sock")
    async with unix_route([Route("/chat/{room}", chat)], path):
        async with unix_connect(path, "ws://localhost/chat/kitchen") as websocket:
            assert json.loads(await websocket.recv()) == {"handler": "chat", "room": "kitchen"}
        with pytest.raises(InvalidStatus, match="HTTP 404"):
            await unix_connect(path, "ws://localhost/")


# Routes are checked when they are built.


async def two_parameters(connection: ServerConnection, a: str, b: str) -> None: ...


async def keyword_parameters(connection: ServerConnection, **parameters: object) -> None: ...


async def unannotated(connection, id):  # type: ignore[no-untyped-def]
    ...


async def wrongly_annotated(connection: ServerConnection, id: str) -> None: ...


async def broadly_annotated(connection: ServerConnection, id: object) -> None: ...


async def union_annotated(connection: ServerConnection, id: int | str) -> None: ...


def test_route_checks_handler_parameters() -> None:
    Route("/{a}/{b}", two_parameters)
    Route("/{a}/{b}/{c}", keyword_parameters)
    Route("/{id:int}", unannotated)  # pyright: ignore[reportUnknownArgumentType]
    Route("/{id:int}", broadly_annotated)
    Route("/{id:int}", union_annotated)  # not a class: not checked
    with pytest.raises(
        TypeError, match=r"Route\('/\{a\}', two_parameters\): .* missing a required"
    ):
        Route("/{a}", two_parameters)
    with pytest.raises(TypeError, match="unexpected keyword argument 'c'"):
        Route("/{a}/{b}/{c}", two_parameters)
    with pytest.raises(TypeError, match="receive the connection and no parameters"):
        Route("/", two_parameters)
    with pytest.raises(
        TypeError, match="parameter 'id' is annotated str, but its converter 'int' gives int"
    ):
        Route("/user/{id:int}", wrongly_annotated)


def test_route_with_unresolvable_annotations() -> None:
    # Names that don't resolve at run time: the signature is still checked.
    namespace: dict[str, object] = {}
    exec(
        "async def handler(connection: Missing, room: Missing) -> None: ...",
        namespace,
    )
    handler = namespace["handler"]
    Route("/{room}", handler)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    with pytest.raises(TypeError, match="unexpected keyword argument 'other'"):
        Route("/{room}/{other}", handler)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]


def test_invalid_routes() -> None:
    with pytest.raises(ValueError, match="'chat': a path pattern starts with /"):
        Route("chat", home)
    with pytest.raises(ValueError, match="both have a parameter 'room'"):
        Route("/{room}", chat, host="{room}.example.test")
    with pytest.raises(ValueError, match="unknown converter"):
        route({"/{id:float}": user}, "127.0.0.1", 0)
    with pytest.raises(ValueError, match="unknown converter"):
        unix_route({"/{id:float}": user}, "/nonexistent")


def test_route_repr() -> None:
    assert repr(Route("/chat/{room}", chat)) == "Route('/chat/{room}', chat)"
    assert repr(Route("/", home, host="Example.test")) == "Route('/', home, host='example.test')"
