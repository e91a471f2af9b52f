"""Glue written once: defaults, headers serialization, handshake helpers, compression option."""

from __future__ import annotations

import inspect

import pytest

from websockets_typed import _defaults
from websockets_typed.asyncio import client as asyncio_client
from websockets_typed.asyncio import server as asyncio_server
from websockets_typed.asyncio.client import ClientConnection
from websockets_typed.asyncio.connection import Connection
from websockets_typed.asyncio.server import ServerConnection
from websockets_typed.client import ClientProtocol
from websockets_typed.datastructures import Headers
from websockets_typed.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    enable_client_permessage_deflate,
    with_compression,
)
from websockets_typed.handshake import build_request, check_request
from websockets_typed.protocol import Protocol
from websockets_typed.server import ServerProtocol


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("X-Injected", "a\r\nSet-Cookie: b"),
        ("X-Injected", "a\nb"),
        ("X-Null", "a\x00b"),
        ("Bad Name", "value"),
        ("Bad:Name", "value"),
    ],
)
def test_headers_serialize_refuses_what_could_break_the_message(name: str, value: str) -> None:
    headers = Headers([(name, value)])
    with pytest.raises(ValueError, match="invalid"):
        headers.serialize()


def test_headers_serialize_keeps_tabs_and_restores_surrogate_escaped_bytes() -> None:
    headers = Headers(
        [("X-Tab", "a\tb"), ("X-Latin", b"caf\xe9".decode("utf-8", "surrogateescape"))]
    )
    assert headers.serialize() == b"X-Tab: a\tb\r\nX-Latin: caf\xe9\r\n\r\n"


def test_build_request_with_a_given_key() -> None:
    headers = Headers()
    key = build_request(headers, key="dGhlIHNhbXBsZSBub25jZQ==")
    assert key == "dGhlIHNhbXBsZSBub25jZQ=="
    assert check_request(headers) == key


def test_with_compression() -> None:
    assert with_compression(None, None, enable_client_permessage_deflate) is None
    extensions = with_compression("deflate", None, enable_client_permessage_deflate)
    assert extensions is not None
    assert [type(extension) for extension in extensions] == [ClientPerMessageDeflateFactory]
    with pytest.raises(ValueError, match="unsupported compression: gzip"):
        with_compression("gzip", None, enable_client_permessage_deflate)


def test_one_user_agent() -> None:
    assert asyncio_client.USER_AGENT is _defaults.USER_AGENT
    assert asyncio_server.USER_AGENT is _defaults.USER_AGENT


@pytest.mark.parametrize(
    "function", [Protocol.__init__, ServerProtocol.__init__, ClientProtocol.__init__]
)
def test_protocols_take_their_defaults_from_the_defaults_module(function: object) -> None:
    parameters = inspect.signature(function).parameters  # type: ignore[arg-type]
    assert parameters["max_size"].default is _defaults.MAX_SIZE
    assert parameters["max_fragments"].default is _defaults.MAX_FRAGMENTS


def test_fragment_limit() -> None:
    scaled = _defaults.MAX_FRAGMENTS
    assert _defaults.fragment_limit(scaled, 2**20) == 2**16
    assert _defaults.fragment_limit(scaled, 2**23) == 2**19
    assert _defaults.fragment_limit(scaled, None) == 2**16
    assert _defaults.fragment_limit(2**16, 2**23) == 2**16
    assert _defaults.fragment_limit(None, 2**23) is None


def test_legacy_header_properties_are_written_once() -> None:
    for name in ("request_headers", "response_headers"):
        assert name in vars(Connection)
        assert name not in vars(ClientConnection)
        assert name not in vars(ServerConnection)
