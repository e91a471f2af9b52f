"""Seed 001's low-level names and legacy constructors type-check, with precise types."""

from __future__ import annotations

import asyncio
from typing import assert_type

from websockets_typed import ConnectionClosed, PayloadTooBig, broadcast, build_request
from websockets_typed.asyncio.connection import Connection
from websockets_typed.exceptions import InvalidURI
from websockets_typed.framing import OP_TEXT, Frame, parse_close
from websockets_typed.http import Headers, read_request, read_response
from websockets_typed.uri import WebSocketURI


async def low_level(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    assert_type(await read_request(reader), tuple[str, Headers])
    assert_type(await read_response(reader), tuple[int, Headers])
    frame = await Frame.read(reader.readexactly, mask=True, max_size=2**20)
    assert_type(frame, Frame)
    Frame(OP_TEXT, b"hello").write(writer.write, mask=False)
    assert_type(parse_close(frame.data), tuple[int, str])
    assert_type(build_request({}), str)


def exceptions() -> None:
    # The legacy forms and today's.
    assert_type(ConnectionClosed(1000, "bye").code, int)
    assert_type(ConnectionClosed(None, None).reason, str)
    assert_type(PayloadTooBig("too big").max_size, int | None)
    assert_type(PayloadTooBig(2**20, 2**21).size, int | None)
    assert_type(InvalidURI("bad").msg, str)
    assert_type(InvalidURI("ws://", "no host").uri, str)


def send(websockets: list[Connection]) -> None:
    broadcast(websockets=websockets, message="news", raise_exceptions=True)


def uri_fields(uri: WebSocketURI) -> None:
    # Seed 001's named tuple: each index has its field's type.
    assert_type(uri[0], bool)
    assert_type(uri[1], str)
    assert_type(uri[2], int)
    assert_type(uri[3], str)
    assert_type(uri[4], tuple[str, str] | None)
