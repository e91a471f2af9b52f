"""Routing: one server, several endpoints, with :func:`route` and :func:`unix_route`.

::

    async def chat(connection: ServerConnection, room: str) -> None: ...
    async def user(connection: ServerConnection, id: int) -> None: ...

    async with route({"/chat/{room}": chat, "/user/{id:int}": user}, "localhost", 8765):
        ...

Each handler receives the connection, then the pattern's parameters as
keyword arguments, converted to their types (see
:mod:`websockets_typed.routing` for the pattern syntax). Requests that no
route matches get 404 before the WebSocket upgrade.

Routes are checked when they are built: a handler that can't receive the
parameters of its pattern, or whose annotations disagree with their
converters, raises :exc:`TypeError` at start-up, not at the first request.
"""

from __future__ import annotations

import http
import inspect
import typing
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Concatenate, TypeAlias, Unpack, cast, overload

from ..datastructures import MultipleValuesError
from ..http11 import Request, Response
from ..routing import Converter, Pattern
from .server import (
    ProcessRequest,
    ServerConnection,
    TCPServeOptions,
    UnixServeOptions,
    serve,
    unix_serve,
)

__all__ = ["Route", "RouteHandler", "Router", "URLMap", "route", "unix_route"]

RouteHandler: TypeAlias = Callable[Concatenate[ServerConnection, ...], Awaitable[object]]
"""A route's handler: ``async def handler(connection, **parameters)``."""

URLMap: TypeAlias = Mapping[str, RouteHandler] | Iterable["Route"]
"""Routes, in order of precedence: :class:`Route` objects, or a mapping of
path patterns to handlers when no route needs a host.

Functions taking one have an overload per form: mypy infers the type of a
``dict`` display of handlers with different parameters only from a
``Mapping`` alone, not from this union."""


class Route:
    """A path pattern, optionally a host pattern, and the handler they lead to.

    Args:
        path: Path pattern, e.g. ``"/user/{id:int}"``.
        handler: ``async def handler(connection, **parameters)``.
        host: Host pattern, e.g. ``"{tenant}.example.com"``; ``None``
            matches any host. Compared with the ``Host`` header without its
            port, case-insensitively.

    Raises:
        ValueError: If a pattern is invalid, or host and path share a
            parameter name.
        TypeError: If ``handler`` can't be called with the connection and
            the parameters, or annotates a parameter with a type that its
            converter doesn't produce.
    """

    __slots__ = ("handler", "host", "path")

    def __init__(self, path: str, handler: RouteHandler, *, host: str | None = None) -> None:
        if not path.startswith("/"):
            raise ValueError(f"{path!r}: a path pattern starts with /")
        self.path: Pattern = Pattern(path)
        self.host: Pattern | None = None if host is None else Pattern(host.lower(), separator=".")
        self.handler: RouteHandler = handler
        parameters = dict(self.path.parameters)
        if self.host is not None:
            for name in self.host.parameters:
                if name in parameters:
                    raise ValueError(f"{host!r} and {path!r} both have a parameter {name!r}")
            parameters.update(self.host.parameters)
        _check_handler(self, parameters)

    def match(self, host: str | None, path: str) -> dict[str, object] | None:
        """Return the parameters if the route matches ``host`` and ``path``, else ``None``."""
        parameters: dict[str, object] = {}
        if self.host is not None:
            host_parameters = None if host is None else self.host.match(host)
            if host_parameters is None:
                return None
            parameters.update(host_parameters)
        path_parameters = self.path.match(path)
        if path_parameters is None:
            return None
        parameters.update(path_parameters)
        return parameters

    def __repr__(self) -> str:
        host = "" if self.host is None else f", host={self.host.pattern!r}"
        return f"Route({self.path.pattern!r}, {_name(self.handler)}{host})"


def _name(handler: RouteHandler) -> str:
    return getattr(handler, "__qualname__", repr(handler))


def _check_handler(route: Route, parameters: Mapping[str, Converter]) -> None:
    """Fail at once if the handler can't take the route's parameters."""
    handler = route.handler
    try:
        signature = inspect.signature(handler)
    except (TypeError, ValueError):  # pragma: no cover - builtins have no signature
        return
    try:
        signature.bind(None, **dict.fromkeys(parameters))
    except TypeError as exc:
        raise TypeError(
            f"{route!r}: the handler can't receive the connection and "
            f"{', '.join(parameters) or 'no parameters'}: {exc}"
        ) from None
    try:
        hints = typing.get_type_hints(handler)
    except Exception:  # names that don't resolve: the signature was checked
        hints = {}
    for name, converter in parameters.items():
        hint = hints.get(name)
        if isinstance(hint, type) and not issubclass(converter.type, hint):
            raise TypeError(
                f"{route!r}: parameter {name!r} is annotated {hint.__name__}, "
                f"but its converter {converter.name!r} gives {converter.type.__name__}"
            )


class Router:
    """Dispatches connections to the routes of a URL map.

    :func:`route` builds one; use it directly to combine routing with your
    own server set-up: pass :meth:`handler` as the connection handler and
    :meth:`process_request` as (or from) the ``process_request`` hook.

    Args:
        url_map: The routes, in order of precedence: the first match wins.

    Raises:
        ValueError, TypeError: As :class:`Route`, for routes given as a mapping.
    """

    @overload
    def __init__(self, url_map: Mapping[str, RouteHandler]) -> None: ...

    @overload
    def __init__(self, url_map: Iterable[Route]) -> None: ...

    def __init__(self, url_map: URLMap) -> None:
        # A mapping is also an iterable (of its keys): test it first.
        if isinstance(url_map, Mapping):
            mapping = cast("Mapping[str, RouteHandler]", url_map)
            routes = [Route(path, handler) for path, handler in mapping.items()]
        else:
            routes = list(url_map)
        self.routes: tuple[Route, ...] = tuple(routes)

    def match(self, request: Request) -> tuple[Route, dict[str, object]] | None:
        """Return the first route matching the request and its parameters, or ``None``."""
        path = request.path.partition("?")[0]
        host = _host_name(request)
        for candidate in self.routes:
            parameters = candidate.match(host, path)
            if parameters is not None:
                return candidate, parameters
        return None

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """Answer 404 to requests that no route matches; let the others through."""
        if self.match(request) is None:
            # Without the query, which may hold a token.
            connection.logger.info("no route for %s", request.path.partition("?")[0])
            return connection.respond(http.HTTPStatus.NOT_FOUND, "Not Found\n")
        return None

    async def handler(self, connection: ServerConnection) -> None:
        """Run the handler of the route that matches the connection's request."""
        assert connection.request is not None
        found = self.match(connection.request)
        # process_request refused requests without a route.
        assert found is not None, "Router.handler without Router.process_request"
        matched, parameters = found
        await matched.handler(connection, **parameters)

    def hook(self, process_request: ProcessRequest | None) -> ProcessRequest:
        """Return a ``process_request`` hook running ``process_request``, then routing.

        The given hook answers first (e.g. :func:`basic_auth`'s 401, or a
        health check); requests it lets through are routed.
        """
        if process_request is None:
            return self.process_request
        user_hook = process_request

        async def route_request(connection: ServerConnection, request: Request) -> Response | None:
            response = await _maybe_await(user_hook(connection, request))
            if response is not None:
                return response
            return self.process_request(connection, request)

        return route_request


async def _maybe_await(value: Response | Awaitable[Response | None] | None) -> Response | None:
    if inspect.isawaitable(value):
        return await value
    return value


def _host_name(request: Request) -> str | None:
    """The ``Host`` header without its port, lower case, without a final dot."""
    try:
        host = request.headers.get("Host")
    except MultipleValuesError:
        return None
    if host is None:
        return None
    host = host[: host.find("]") + 1] if host.startswith("[") else host.partition(":")[0]
    return host.lower().removesuffix(".")


@overload
def route(
    url_map: Mapping[str, RouteHandler],
    host: str | None = None,
    port: int | None = None,
    **kwargs: Unpack[TCPServeOptions],
) -> serve: ...


@overload
def route(
    url_map: Iterable[Route],
    host: str | None = None,
    port: int | None = None,
    **kwargs: Unpack[TCPServeOptions],
) -> serve: ...


def route(
    url_map: URLMap,
    host: str | None = None,
    port: int | None = None,
    **kwargs: Unpack[TCPServeOptions],
) -> serve:
    """Start a server that dispatches connections by path (and host) to handlers.

    Like :func:`~websockets_typed.asyncio.server.serve`, whose options it
    takes; a ``process_request`` hook runs before routing::

        async with route({"/chat/{room}": chat}, "localhost", 8765) as server:
            await server.serve_forever()

    Args:
        url_map: Routes, in order of precedence: :class:`Route` objects, or
            a mapping of path patterns to handlers.
        host: Interface(s) to listen on; ``None`` for all.
        port: TCP port.
        **kwargs: The options of
            :class:`~websockets_typed.asyncio.server.TCPServeOptions`.

    Raises:
        ValueError: If a pattern is invalid.
        TypeError: If a handler doesn't fit its pattern.
    """
    # Either form: the cast only picks one of Router's overloads.
    router = Router(cast("Mapping[str, RouteHandler]", url_map))
    kwargs["process_request"] = router.hook(kwargs.get("process_request"))
    return serve(router.handler, host, port, **kwargs)


@overload
def unix_route(
    url_map: Mapping[str, RouteHandler],
    path: str | None = None,
    **kwargs: Unpack[UnixServeOptions],
) -> serve: ...


@overload
def unix_route(
    url_map: Iterable[Route],
    path: str | None = None,
    **kwargs: Unpack[UnixServeOptions],
) -> serve: ...


def unix_route(
    url_map: URLMap,
    path: str | None = None,
    **kwargs: Unpack[UnixServeOptions],
) -> serve:
    """Like :func:`route`, listening on a Unix socket at ``path``.

    Args:
        url_map: Routes, as for :func:`route`.
        path: Path of the Unix socket; ``None`` with ``sock``.
        **kwargs: The options of
            :class:`~websockets_typed.asyncio.server.UnixServeOptions`.
    """
    # Either form: the cast only picks one of Router's overloads.
    router = Router(cast("Mapping[str, RouteHandler]", url_map))
    kwargs["process_request"] = router.hook(kwargs.get("process_request"))
    return unix_serve(router.handler, path, **kwargs)
