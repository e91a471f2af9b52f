"""permessage-deflate: RFC 7692, sections 5 and 6 (framing), 7.1 (negotiation), 7.2 (data)."""

from __future__ import annotations

import gc
import itertools
import os
import tracemalloc
import zlib
from typing import TYPE_CHECKING

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory as TheirClientFactory,
)
from websockets.extensions.permessage_deflate import PerMessageDeflate as TheirPerMessageDeflate
from websockets.extensions.permessage_deflate import (
    ServerPerMessageDeflateFactory as TheirServerFactory,
)
from websockets.frames import Frame as TheirFrame
from websockets.frames import Opcode as TheirOpcode

from websockets_typed.exceptions import (
    DuplicateParameter,
    InvalidParameterName,
    InvalidParameterValue,
    NegotiationError,
    PayloadTooBig,
    ProtocolError,
)
from websockets_typed.extensions import (
    ClientExtensionFactory,
    ClientPerMessageDeflateFactory,
    CompressSettings,
    Extension,
    PerMessageDeflate,
    ServerExtensionFactory,
    ServerPerMessageDeflateFactory,
    enable_client_permessage_deflate,
    enable_server_permessage_deflate,
)
from websockets_typed.frames import CTRL_OPCODES, Frame, Opcode
from websockets_typed.typing import ExtensionName, ExtensionParameter

if TYPE_CHECKING:
    from collections.abc import Sequence

# Every test runs with zlib and with zlib-ng: the peer's side, when a test
# builds it by hand, always uses zlib.
pytest_plugins = ["zlib_backends"]
pytestmark = pytest.mark.usefixtures("zlib_backend")

TEXT = Opcode.TEXT
BINARY = Opcode.BINARY
CONT = Opcode.CONT

# Settings: (remote_no_context_takeover, local_no_context_takeover,
# remote_max_window_bits, local_max_window_bits) of the sender; the receiver
# mirrors them.
Settings = tuple[bool, bool, int, int]


def pair(
    no_context_takeover: bool = False, bits: int = 15
) -> tuple[PerMessageDeflate, PerMessageDeflate]:
    """A sender and a receiver that agree on parameters for the sender's messages."""
    sender = PerMessageDeflate(False, no_context_takeover, 15, bits)
    receiver = PerMessageDeflate(no_context_takeover, False, bits, 15)
    return sender, receiver


def fragments(opcode: Opcode, *chunks: bytes) -> list[Frame]:
    """The frames of one message made of ``chunks``."""
    last = len(chunks) - 1
    return [
        Frame(opcode if index == 0 else CONT, chunk, fin=index == last)
        for index, chunk in enumerate(chunks)
    ]


def transfer(
    sender: PerMessageDeflate, receiver: PerMessageDeflate, frames: Sequence[Frame]
) -> list[Frame]:
    """Encode ``frames`` with ``sender``, decode them with ``receiver``."""
    return [receiver.decode(sender.encode(frame)) for frame in frames]


def compressed(
    *chunks: bytes, bits: int = 15, takeover: zlib._Compress | None = None
) -> list[Frame]:
    """A compressed message built with zlib directly, as a peer would send it."""
    encoder = takeover or zlib.compressobj(wbits=-bits)
    frames: list[Frame] = []
    last = len(chunks) - 1
    for index, chunk in enumerate(chunks):
        data = encoder.compress(chunk) + encoder.flush(zlib.Z_SYNC_FLUSH)
        if index == last:
            assert data.endswith(b"\x00\x00\xff\xff")
            data = data[:-4]
        frames.append(Frame(TEXT if index == 0 else CONT, data, index == last, index == 0))
    return frames


# Constructors.


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((False, False, 7, 15), "remote_max_window_bits"),
        ((False, False, 16, 15), "remote_max_window_bits"),
        ((False, False, True, 15), "remote_max_window_bits"),
        ((False, False, 15, 16), "local_max_window_bits"),
        ((False, False, 15, 7), "local_max_window_bits"),
    ],
)
def test_extension_rejects_window_bits(args: tuple[bool, bool, int, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PerMessageDeflate(*args)


@pytest.mark.parametrize(
    ("compress_settings", "message"),
    [
        ({"wbits": 15}, "wbits"),
        ({"zdict": b"x"}, "unsupported"),
        ({"method": zlib.DEFLATED}, "unsupported"),
        ({"level": 10}, "invalid"),
        ({"level": -2}, "invalid"),
        ({"level": True}, "invalid"),
        ({"level": "6"}, "invalid"),
        ({"memLevel": 0}, "invalid"),
        ({"memLevel": 10}, "invalid"),
        ({"strategy": zlib.Z_FIXED + 1}, "invalid"),
    ],
)
def test_compress_settings_are_validated(
    compress_settings: dict[str, object], message: str
) -> None:
    settings: CompressSettings = compress_settings  # type: ignore[assignment]
    with pytest.raises(ValueError, match=message):
        PerMessageDeflate(False, False, 15, 15, settings)
    with pytest.raises(ValueError, match=message):
        ClientPerMessageDeflateFactory(compress_settings=settings)
    with pytest.raises(ValueError, match=message):
        ServerPerMessageDeflateFactory(compress_settings=settings)


def test_compress_settings_are_applied() -> None:
    data = os.urandom(64) * 64
    stored = PerMessageDeflate(False, False, 15, 15, {"level": 0}).encode(Frame(BINARY, data))
    best = PerMessageDeflate(False, False, 15, 15, {"level": 9, "memLevel": 9}).encode(
        Frame(BINARY, data)
    )
    huffman = PerMessageDeflate(False, False, 15, 15, {"strategy": zlib.Z_HUFFMAN_ONLY}).encode(
        Frame(BINARY, data)
    )
    assert len(best.data) < len(huffman.data) < len(stored.data)
    assert len(stored.data) > len(data)


def test_compress_settings_are_copied() -> None:
    settings = CompressSettings(level=1)
    extension = PerMessageDeflate(False, False, 15, 15, settings)
    client = ClientPerMessageDeflateFactory(compress_settings=settings)
    settings["level"] = 9
    assert extension.compress_settings == {"level": 1}
    assert client.compress_settings == {"level": 1}


def test_extension_attributes_and_repr() -> None:
    extension = PerMessageDeflate(True, False, 10, 12)
    assert extension.name == "permessage-deflate"
    assert extension.remote_no_context_takeover
    assert not extension.local_no_context_takeover
    assert extension.remote_max_window_bits == 10
    assert extension.local_max_window_bits == 12
    assert extension.compress_settings == {}
    assert repr(extension) == (
        "PerMessageDeflate(remote_no_context_takeover=True, local_no_context_takeover=False, "
        "remote_max_window_bits=10, local_max_window_bits=12)"
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"server_max_window_bits": 7}, "server_max_window_bits"),
        ({"server_max_window_bits": 16}, "server_max_window_bits"),
        ({"client_max_window_bits": 16}, "client_max_window_bits"),
        ({"client_max_window_bits": 7}, "client_max_window_bits"),
    ],
)
def test_client_factory_rejects_window_bits(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ClientPerMessageDeflateFactory(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"server_max_window_bits": 7}, "server_max_window_bits"),
        ({"server_max_window_bits": 16}, "server_max_window_bits"),
        ({"client_max_window_bits": 7}, "client_max_window_bits"),
        ({"client_max_window_bits": 16}, "client_max_window_bits"),
        ({"require_client_max_window_bits": True}, "require_client_max_window_bits"),
    ],
)
def test_server_factory_rejects_arguments(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ServerPerMessageDeflateFactory(**kwargs)  # type: ignore[arg-type]


def test_factories_accept_8_bits() -> None:
    client = ClientPerMessageDeflateFactory(server_max_window_bits=8, client_max_window_bits=8)
    assert client.server_max_window_bits == 8
    assert client.client_max_window_bits == 8
    server = ServerPerMessageDeflateFactory(server_max_window_bits=8, client_max_window_bits=8)
    assert server.server_max_window_bits == 8
    assert server.client_max_window_bits == 8


def _inflate_with_window(data: bytes, window_bits: int) -> bytes:
    """Inflate a few bytes at a time: zlib resolves distances from the output
    of the current call too, so only small steps confine them to the window."""
    decompressor = zlib.decompressobj(-window_bits)
    output: list[bytes] = []
    while data:
        output.append(decompressor.decompress(data, 64))
        data = decompressor.unconsumed_tail
    return b"".join(output)


@pytest.mark.parametrize("distance", [200, 250, 251, 256, 300, 511])
def test_8_bit_window_fits_in_256_bytes(distance: int) -> None:
    # zlib compresses an 8-bit window with 9 bits; its matches must reach no
    # further than 256 bytes back (RFC 7692, 7.1.2), over several messages
    # (context takeover) as within one.
    extension = PerMessageDeflate(False, False, 15, 8)
    block = os.urandom(distance)
    stream = b""
    for data in (block * 3, block, b"abc" * 100 + block):
        frame = extension.encode(Frame(Opcode.BINARY, data))
        stream += frame.data + b"\x00\x00\xff\xff"
    assert _inflate_with_window(stream, 8) == block * 4 + b"abc" * 100 + block


def test_window_check_detects_a_larger_window() -> None:
    # The check above fails when the compressor's window is larger.
    compressor = zlib.compressobj(wbits=-10)
    data = os.urandom(600) * 2
    stream = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
    with pytest.raises(zlib.error, match="too far back"):
        _inflate_with_window(stream, 9)


def test_factory_reprs() -> None:
    assert repr(ClientPerMessageDeflateFactory()) == (
        "ClientPerMessageDeflateFactory(server_no_context_takeover=False, "
        "client_no_context_takeover=False, server_max_window_bits=None, "
        "client_max_window_bits=True)"
    )
    assert repr(ServerPerMessageDeflateFactory(client_max_window_bits=10)) == (
        "ServerPerMessageDeflateFactory(server_no_context_takeover=False, "
        "client_no_context_takeover=False, server_max_window_bits=None, "
        "client_max_window_bits=10, require_client_max_window_bits=False)"
    )


# RFC 7692, 7: parameter validation, in offers and in responses.

BAD_WINDOW_BITS = [None, "", "7", "16", "08", "015", "+9", "-9", " 9", "9 ", "9.0", "0x9", "nine"]


@pytest.mark.parametrize(
    "params",
    [
        [("server_no_context_takeover", None), ("server_no_context_takeover", None)],
        [("client_no_context_takeover", None), ("client_no_context_takeover", None)],
        [("server_max_window_bits", "10"), ("server_max_window_bits", "10")],
        [("client_max_window_bits", "10"), ("client_max_window_bits", "11")],
    ],
)
def test_duplicate_parameter(params: list[ExtensionParameter]) -> None:
    with pytest.raises(DuplicateParameter) as server_exc:
        ServerPerMessageDeflateFactory().process_request_params(params, [])
    assert server_exc.value.name == params[0][0]
    with pytest.raises(DuplicateParameter):
        ClientPerMessageDeflateFactory().process_response_params(params, [])


@pytest.mark.parametrize(
    "name", ["foo", "Server_No_Context_Takeover", "server_max_window_bit", "permessage-deflate"]
)
def test_unknown_parameter_name(name: str) -> None:
    with pytest.raises(InvalidParameterName) as server_exc:
        ServerPerMessageDeflateFactory().process_request_params([(name, None)], [])
    assert server_exc.value.name == name
    with pytest.raises(InvalidParameterName):
        ClientPerMessageDeflateFactory().process_response_params([(name, None)], [])


@pytest.mark.parametrize("name", ["server_no_context_takeover", "client_no_context_takeover"])
@pytest.mark.parametrize("value", ["", "1", "true"])
def test_no_context_takeover_has_no_value(name: str, value: str) -> None:
    # RFC 7692, 7.1.1.1 and 7.1.1.2: "This extension parameter has no value."
    with pytest.raises(InvalidParameterValue) as server_exc:
        ServerPerMessageDeflateFactory().process_request_params([(name, value)], [])
    assert (server_exc.value.name, server_exc.value.value) == (name, value)
    with pytest.raises(InvalidParameterValue):
        ClientPerMessageDeflateFactory().process_response_params([(name, value)], [])


@pytest.mark.parametrize("value", BAD_WINDOW_BITS)
def test_server_max_window_bits_value(value: str | None) -> None:
    # RFC 7692, 7.1.2.1: a decimal value without leading zeroes, 8 to 15, in
    # offers and responses alike.
    params = [("server_max_window_bits", value)]
    with pytest.raises(InvalidParameterValue) as server_exc:
        ServerPerMessageDeflateFactory().process_request_params(params, [])
    assert server_exc.value.value == value
    with pytest.raises(InvalidParameterValue):
        ClientPerMessageDeflateFactory().process_response_params(params, [])


@pytest.mark.parametrize("value", BAD_WINDOW_BITS[1:])
def test_client_max_window_bits_value_in_offer(value: str) -> None:
    # RFC 7692, 7.1.2.2: no value, or a decimal value 8 to 15.
    params = [("client_max_window_bits", value)]
    with pytest.raises(InvalidParameterValue):
        ServerPerMessageDeflateFactory().process_request_params(params, [])


@pytest.mark.parametrize("value", BAD_WINDOW_BITS)
def test_client_max_window_bits_value_in_response(value: str | None) -> None:
    # RFC 7692, 7.1.2.2: a response must give a value.
    params = [("client_max_window_bits", value)]
    with pytest.raises(InvalidParameterValue) as exc:
        ClientPerMessageDeflateFactory().process_response_params(params, [])
    assert exc.value.value == value


@pytest.mark.parametrize("value", [None, "10", "15"])
def test_client_max_window_bits_in_response_without_offer(value: str | None) -> None:
    # RFC 7692, 7.1.2.2: "If a received extension negotiation offer doesn't
    # have the client_max_window_bits extension parameter, the corresponding
    # extension negotiation response to the offer MUST NOT include" it.
    client = ClientPerMessageDeflateFactory(client_max_window_bits=None)
    with pytest.raises(InvalidParameterValue) as exc:
        client.process_response_params([("client_max_window_bits", value)], [])
    assert exc.value.name == "client_max_window_bits"


def test_duplicate_extension() -> None:
    # RFC 7692, 5: two permessage-deflate would both use RSV1.
    accepted = [PerMessageDeflate(False, False, 15, 15)]
    with pytest.raises(NegotiationError, match="already negotiated"):
        ServerPerMessageDeflateFactory().process_request_params([], accepted)
    with pytest.raises(NegotiationError, match="already negotiated"):
        ClientPerMessageDeflateFactory().process_response_params([], accepted)


class OtherExtension(Extension):
    name = ExtensionName("x-other")

    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        return frame

    def encode(self, frame: Frame) -> Frame:
        return frame


def test_other_extension_does_not_prevent_negotiation() -> None:
    accepted = [OtherExtension()]
    ServerPerMessageDeflateFactory().process_request_params([], accepted)
    ClientPerMessageDeflateFactory().process_response_params([], accepted)


# RFC 7692, 7.1: what a client offers.


@pytest.mark.parametrize(
    ("kwargs", "params"),
    [
        ({}, [("client_max_window_bits", None)]),
        ({"client_max_window_bits": None}, []),
        ({"client_max_window_bits": False}, []),
        ({"client_max_window_bits": 12}, [("client_max_window_bits", "12")]),
        (
            {"server_max_window_bits": 8},
            [("server_max_window_bits", "8"), ("client_max_window_bits", None)],
        ),
        (
            {
                "server_no_context_takeover": True,
                "client_no_context_takeover": True,
                "server_max_window_bits": 10,
                "client_max_window_bits": 9,
            },
            [
                ("server_no_context_takeover", None),
                ("client_no_context_takeover", None),
                ("server_max_window_bits", "10"),
                ("client_max_window_bits", "9"),
            ],
        ),
    ],
)
def test_client_offer(
    kwargs: dict[str, int | bool | None], params: list[ExtensionParameter]
) -> None:
    factory = ClientPerMessageDeflateFactory(**kwargs)  # type: ignore[arg-type]
    assert factory.get_request_params() == params


# RFC 7692, 7.1: how a server answers. Each case: server configuration, offer,
# response, and the server's extension as (remote_no_context_takeover,
# local_no_context_takeover, remote_max_window_bits, local_max_window_bits).

SNCT = ("server_no_context_takeover", None)
CNCT = ("client_no_context_takeover", None)


def smwb(bits: int) -> ExtensionParameter:
    return ("server_max_window_bits", str(bits))


def cmwb(bits: int | None = None) -> ExtensionParameter:
    return ("client_max_window_bits", None if bits is None else str(bits))


SERVER_CASES: list[
    tuple[dict[str, int | bool], list[ExtensionParameter], list[ExtensionParameter], Settings]
] = [
    # Nothing asked, nothing configured: full windows, context takeover.
    ({}, [], [], (False, False, 15, 15)),
    # 7.1.1.1: the server accepts server_no_context_takeover by echoing it...
    ({}, [SNCT], [SNCT], (False, True, 15, 15)),
    # ... and may include it unasked.
    ({"server_no_context_takeover": True}, [], [SNCT], (False, True, 15, 15)),
    ({"server_no_context_takeover": True}, [SNCT], [SNCT], (False, True, 15, 15)),
    # 7.1.1.2: client_no_context_takeover offered is echoed, so that we can
    # drop the decompressor between messages; configured, it is imposed.
    ({}, [CNCT], [CNCT], (True, False, 15, 15)),
    ({"client_no_context_takeover": True}, [], [CNCT], (True, False, 15, 15)),
    ({"client_no_context_takeover": True}, [CNCT], [CNCT], (True, False, 15, 15)),
    # 7.1.2.1: server_max_window_bits offered must be answered with the same
    # or a smaller value...
    ({}, [smwb(10)], [smwb(10)], (False, False, 15, 10)),
    ({"server_max_window_bits": 12}, [smwb(10)], [smwb(10)], (False, False, 15, 10)),
    ({"server_max_window_bits": 10}, [smwb(12)], [smwb(10)], (False, False, 15, 10)),
    ({"server_max_window_bits": 9}, [smwb(9)], [smwb(9)], (False, False, 15, 9)),
    # ... and may be included unasked.
    ({"server_max_window_bits": 12}, [], [smwb(12)], (False, False, 15, 12)),
    # 8 bits, offered or configured, like any other value.
    ({}, [smwb(8)], [smwb(8)], (False, False, 15, 8)),
    ({"server_max_window_bits": 8}, [], [smwb(8)], (False, False, 15, 8)),
    ({"server_max_window_bits": 8}, [smwb(12)], [smwb(8)], (False, False, 15, 8)),
    ({"server_max_window_bits": 12}, [smwb(8)], [smwb(8)], (False, False, 15, 8)),
    # 7.1.2.2: client_max_window_bits without a value lets the server set one.
    ({}, [cmwb()], [], (False, False, 15, 15)),
    ({"client_max_window_bits": 10}, [cmwb()], [cmwb(10)], (False, False, 10, 15)),
    ({"client_max_window_bits": 8}, [cmwb()], [cmwb(8)], (False, False, 8, 15)),
    # With a value, the server may answer the same value or a smaller one.
    ({}, [cmwb(12)], [cmwb(12)], (False, False, 12, 15)),
    ({}, [cmwb(8)], [cmwb(8)], (False, False, 8, 15)),
    ({"client_max_window_bits": 10}, [cmwb(12)], [cmwb(10)], (False, False, 10, 15)),
    ({"client_max_window_bits": 12}, [cmwb(10)], [cmwb(10)], (False, False, 10, 15)),
    # Not offered: the response must not include it; proceed with a full window.
    ({"client_max_window_bits": 10}, [], [], (False, False, 15, 15)),
    (
        {"client_max_window_bits": 10, "require_client_max_window_bits": True},
        [cmwb()],
        [cmwb(10)],
        (False, False, 10, 15),
    ),
    # Everything at once.
    (
        {"server_max_window_bits": 11, "client_max_window_bits": 13},
        [SNCT, CNCT, smwb(12), cmwb(14)],
        [SNCT, CNCT, smwb(11), cmwb(13)],
        (True, True, 13, 11),
    ),
]


@pytest.mark.parametrize(("config", "offer", "response", "expected"), SERVER_CASES)
def test_server_negotiation(
    config: dict[str, int | bool],
    offer: list[ExtensionParameter],
    response: list[ExtensionParameter],
    expected: Settings,
) -> None:
    factory = ServerPerMessageDeflateFactory(**config)  # type: ignore[arg-type]
    params, extension = factory.process_request_params(offer, [])
    assert params == response
    assert (
        extension.remote_no_context_takeover,
        extension.local_no_context_takeover,
        extension.remote_max_window_bits,
        extension.local_max_window_bits,
    ) == expected


@pytest.mark.parametrize(
    ("config", "offer", "message"),
    [
        # Configured to require a limit on the client's window.
        (
            {"client_max_window_bits": 10, "require_client_max_window_bits": True},
            [],
            "client_max_window_bits",
        ),
    ],
)
def test_server_declines(
    config: dict[str, int | bool], offer: list[ExtensionParameter], message: str
) -> None:
    factory = ServerPerMessageDeflateFactory(**config)  # type: ignore[arg-type]
    with pytest.raises(NegotiationError, match=message):
        factory.process_request_params(offer, [])


def test_server_declines_an_offer_and_accepts_the_next() -> None:
    # RFC 7692, 5: a client may offer several configurations, in order of
    # preference; a server that cannot accept one tries the next.
    offers = [[smwb(9)], [smwb(9), cmwb()]]
    factory = ServerPerMessageDeflateFactory(
        client_max_window_bits=10, require_client_max_window_bits=True
    )
    accepted: list[tuple[int, list[ExtensionParameter]]] = []
    for index, offer in enumerate(offers):
        try:
            response, _ = factory.process_request_params(offer, [])
        except NegotiationError:
            continue
        accepted.append((index, response))
        break
    assert accepted == [(1, [smwb(9), cmwb(10)])]


# RFC 7692, 7.1: what a client accepts. Each case: client configuration,
# response, and the client's extension.

CLIENT_CASES: list[tuple[dict[str, int | bool | None], list[ExtensionParameter], Settings]] = [
    ({}, [], (False, False, 15, 15)),
    # 7.1.1.1: the server may include server_no_context_takeover unasked.
    ({}, [SNCT], (True, False, 15, 15)),
    ({"server_no_context_takeover": True}, [SNCT], (True, False, 15, 15)),
    # 7.1.1.2: "A client MUST support" client_no_context_takeover in a response.
    ({}, [CNCT], (False, True, 15, 15)),
    # Offered, it holds even if the server does not echo it.
    ({"client_no_context_takeover": True}, [], (False, True, 15, 15)),
    ({"client_no_context_takeover": True}, [CNCT], (False, True, 15, 15)),
    # 7.1.2.1: the server may include server_max_window_bits unasked, 8 too:
    # we decompress with any window.
    ({}, [smwb(10)], (False, False, 10, 15)),
    ({}, [smwb(8)], (False, False, 8, 15)),
    # Asked, the answer must be the same or smaller.
    ({"server_max_window_bits": 10}, [smwb(10)], (False, False, 10, 15)),
    ({"server_max_window_bits": 10}, [smwb(8)], (False, False, 8, 15)),
    # 7.1.2.2: offered without a value, the server may set our window.
    ({}, [cmwb(10)], (False, False, 15, 10)),
    ({}, [cmwb(9)], (False, False, 15, 9)),
    ({}, [cmwb(8)], (False, False, 15, 8)),
    # Offered with a value, it is our promise whatever the answer: a smaller
    # answer wins, a larger one or none leaves our value.
    ({"client_max_window_bits": 12}, [], (False, False, 15, 12)),
    ({"client_max_window_bits": 12}, [cmwb(10)], (False, False, 15, 10)),
    ({"client_max_window_bits": 12}, [cmwb(14)], (False, False, 15, 12)),
    ({"client_max_window_bits": 12}, [cmwb(8)], (False, False, 15, 8)),
    ({"client_max_window_bits": 8}, [], (False, False, 15, 8)),
    # Not offered, not answered.
    ({"client_max_window_bits": None}, [], (False, False, 15, 15)),
    # Everything at once.
    (
        {
            "server_no_context_takeover": True,
            "client_no_context_takeover": True,
            "server_max_window_bits": 12,
            "client_max_window_bits": 13,
        },
        [SNCT, CNCT, smwb(11), cmwb(10)],
        (True, True, 11, 10),
    ),
]


@pytest.mark.parametrize(("config", "response", "expected"), CLIENT_CASES)
def test_client_negotiation(
    config: dict[str, int | bool | None], response: list[ExtensionParameter], expected: Settings
) -> None:
    factory = ClientPerMessageDeflateFactory(**config)  # type: ignore[arg-type]
    extension = factory.process_response_params(response, [])
    assert (
        extension.remote_no_context_takeover,
        extension.local_no_context_takeover,
        extension.remote_max_window_bits,
        extension.local_max_window_bits,
    ) == expected


@pytest.mark.parametrize(
    ("config", "response", "message"),
    [
        # 7.1.1.1: the server accepts server_no_context_takeover by echoing it.
        ({"server_no_context_takeover": True}, [], "server_no_context_takeover"),
        # 7.1.2.1: ... and server_max_window_bits with the same or a smaller value.
        ({"server_max_window_bits": 10}, [], "server_max_window_bits"),
        ({"server_max_window_bits": 10}, [smwb(11)], "server_max_window_bits"),
        ({"server_max_window_bits": 8}, [smwb(15)], "server_max_window_bits"),
    ],
)
def test_client_rejects_response(
    config: dict[str, int | bool | None], response: list[ExtensionParameter], message: str
) -> None:
    factory = ClientPerMessageDeflateFactory(**config)  # type: ignore[arg-type]
    with pytest.raises(NegotiationError, match=message):
        factory.process_response_params(response, [])


CONFIGS: list[tuple[dict[str, int | bool | None], dict[str, int | bool]]] = [
    ({}, {}),
    ({"server_no_context_takeover": True, "client_no_context_takeover": True}, {}),
    ({}, {"server_no_context_takeover": True, "client_no_context_takeover": True}),
    ({"server_max_window_bits": 10, "client_max_window_bits": 11}, {}),
    ({}, {"server_max_window_bits": 9, "client_max_window_bits": 9}),
    ({"server_max_window_bits": 12}, {"server_max_window_bits": 8, "client_max_window_bits": 12}),
    ({"client_max_window_bits": None}, {"client_max_window_bits": 10}),
]


def negotiate(
    client_config: dict[str, int | bool | None], server_config: dict[str, int | bool]
) -> tuple[PerMessageDeflate, PerMessageDeflate]:
    client_factory = ClientPerMessageDeflateFactory(**client_config)  # type: ignore[arg-type]
    server_factory = ServerPerMessageDeflateFactory(**server_config)  # type: ignore[arg-type]
    response, server = server_factory.process_request_params(
        client_factory.get_request_params(), []
    )
    client = client_factory.process_response_params(response, [])
    return client, server


@pytest.mark.parametrize(("client_config", "server_config"), CONFIGS)
def test_negotiation_between_our_factories(
    client_config: dict[str, int | bool | None], server_config: dict[str, int | bool]
) -> None:
    client, server = negotiate(client_config, server_config)
    # Both sides agree on every parameter.
    assert client.local_no_context_takeover == server.remote_no_context_takeover
    assert client.remote_no_context_takeover == server.local_no_context_takeover
    assert client.local_max_window_bits <= server.remote_max_window_bits
    assert server.local_max_window_bits <= client.remote_max_window_bits
    for sender, receiver in [(client, server), (server, client)]:
        for message in [b"", b"hello", os.urandom(100) * 50]:
            frames = transfer(sender, receiver, fragments(BINARY, message[:10], message[10:]))
            assert b"".join(frame.data for frame in frames) == message


# RFC 7692, 6.1 and 7.2: frames.


@pytest.mark.parametrize("opcode", sorted(CTRL_OPCODES))
def test_control_frames_pass_unchanged(opcode: Opcode) -> None:
    extension = PerMessageDeflate(False, False, 15, 15)
    frame = Frame(opcode, b"ping")
    assert extension.encode(frame) is frame
    assert extension.decode(frame) is frame
    # RSV1 on a control frame is left for the caller to reject (1002).
    flagged = Frame(opcode, b"ping", rsv1=True)
    assert extension.decode(flagged) is flagged


def test_control_frames_inside_a_fragmented_message() -> None:
    sender, receiver = pair()
    first, last = fragments(TEXT, b"caf", "é".encode())
    ping = Frame(Opcode.PING, b"")
    assert receiver.decode(sender.encode(first)).data == b"caf"
    assert receiver.decode(sender.encode(ping)) == ping
    assert receiver.decode(sender.encode(last)).data == "é".encode()


@pytest.mark.parametrize("opcode", [TEXT, BINARY])
def test_round_trip(opcode: Opcode) -> None:
    sender, receiver = pair()
    frame = Frame(opcode, b"Hello, world! " * 20)
    encoded = sender.encode(frame)
    assert encoded.opcode is opcode
    assert encoded.rsv1
    assert encoded.fin
    assert len(encoded.data) < len(frame.data)
    assert receiver.decode(encoded) == frame


def test_rsv2_and_rsv3_are_preserved() -> None:
    sender, receiver = pair()
    frame = Frame(BINARY, b"data", rsv2=True, rsv3=True)
    encoded = sender.encode(frame)
    assert (encoded.rsv1, encoded.rsv2, encoded.rsv3) == (True, True, True)
    assert receiver.decode(encoded) == frame


def test_fragmented_message() -> None:
    # RFC 7692, 6.1: RSV1 on the first frame only.
    sender, receiver = pair()
    frames = fragments(TEXT, b"Hello, ", b"", b"world", b"!")
    encoded = [sender.encode(frame) for frame in frames]
    assert [frame.rsv1 for frame in encoded] == [True, False, False, False]
    assert [frame.opcode for frame in encoded] == [TEXT, CONT, CONT, CONT]
    assert [frame.fin for frame in encoded] == [False, False, False, True]
    assert [receiver.decode(frame) for frame in encoded] == frames


def test_empty_messages() -> None:
    sender, receiver = pair()
    for _ in range(3):
        encoded = sender.encode(Frame(BINARY, b""))
        # The header of an empty stored block: RFC 7692, 7.2.3.6.
        assert encoded.data == b"\x00"
        assert receiver.decode(encoded) == Frame(BINARY, b"")


def test_empty_final_fragment() -> None:
    # RFC 7692, 7.2.3.6: after a flush, an empty final fragment carries 0x00.
    sender, receiver = pair()
    frames = fragments(TEXT, b"Hello", b"")
    encoded = [sender.encode(frame) for frame in frames]
    assert encoded[0].data.endswith(b"\x00\x00\xff\xff")
    assert encoded[1].data == b"\x00"
    assert [receiver.decode(frame) for frame in encoded] == frames
    # The stream is intact for the next message.
    assert transfer(sender, receiver, [Frame(TEXT, b"Hello")]) == [Frame(TEXT, b"Hello")]


def test_encoded_payload_strips_the_sync_flush_tail() -> None:
    # RFC 7692, 7.2.1 and 7.2.3.1: "Hello" is 0xf2 0x48 0xcd 0xc9 0xc9 0x07 0x00.
    extension = PerMessageDeflate(False, False, 15, 15)
    assert extension.encode(Frame(TEXT, b"Hello")).data == bytes.fromhex("f248cdc9c90700")


def test_large_message_round_trip() -> None:
    # Large enough that zlib emits output from compress(), not only flush().
    sender, receiver = pair()
    data = os.urandom(200_000)
    frames = fragments(BINARY, data[:150_000], data[150_000:])
    encoded = [sender.encode(frame) for frame in frames]
    assert [receiver.decode(frame) for frame in encoded] == frames


@pytest.mark.parametrize(
    ("payloads", "message"),
    [
        # RFC 7692, 7.2.3.1: an unfragmented and a fragmented message.
        (["f248cdc9c90700"], b"Hello"),
        (["f248cd", "c9c90700"], b"Hello"),
        # 7.2.3.3: a DEFLATE block with no compression.
        (["000500faff48656c6c6f00"], b"Hello"),
        # 7.2.3.4: a block with BFINAL set, followed by 0x00.
        (["f348cdc9c9070000"], b"Hello"),
        (["f348cdc9c90700", "00"], b"Hello"),
        # Without the 0x00, as zlib's Z_FINISH makes it.
        (["f348cdc9c90700"], b"Hello"),
        # 7.2.3.5: two DEFLATE blocks in one message.
        (["f248050000" + "00ffffcac9c90700"], b"Hello"),
    ],
)
def test_rfc_examples(payloads: list[str], message: bytes) -> None:
    extension = PerMessageDeflate(False, False, 15, 15)
    chunks = [bytes.fromhex(payload) for payload in payloads]
    frames = [
        Frame(TEXT if index == 0 else CONT, chunk, fin=index == len(chunks) - 1, rsv1=index == 0)
        for index, chunk in enumerate(chunks)
    ]
    assert b"".join(extension.decode(frame).data for frame in frames) == message


def test_rfc_example_sharing_the_window() -> None:
    # RFC 7692, 7.2.3.2: the second "Hello" refers to the first.
    extension = PerMessageDeflate(False, False, 15, 15)
    first = Frame(TEXT, bytes.fromhex("f248cdc9c90700"), rsv1=True)
    second = Frame(TEXT, bytes.fromhex("f200110000"), rsv1=True)
    assert extension.decode(first).data == b"Hello"
    assert extension.decode(second).data == b"Hello"
    # We produce the same bytes.
    sender = PerMessageDeflate(False, False, 15, 15)
    assert sender.encode(Frame(TEXT, b"Hello")).data == first.data
    assert sender.encode(Frame(TEXT, b"Hello")).data == second.data


def test_final_block_then_next_message() -> None:
    # After a BFINAL block the peer starts a new stream: we must, too.
    extension = PerMessageDeflate(False, False, 15, 15)
    assert extension.decode(Frame(TEXT, bytes.fromhex("f348cdc9c9070000"), rsv1=True)).data == (
        b"Hello"
    )
    assert extension.decode(Frame(TEXT, bytes.fromhex("f248cdc9c90700"), rsv1=True)).data == (
        b"Hello"
    )


@pytest.mark.parametrize(
    "payloads",
    [
        ["f348cdc9c90700" + "01"],
        ["f348cdc9c90700" + "0000"],
        ["f348cdc9c90700", "ff"],
        ["f348cdc9c90700", "00", "00"],
    ],
)
def test_data_after_final_block(payloads: list[str]) -> None:
    extension = PerMessageDeflate(False, False, 15, 15)
    chunks = [bytes.fromhex(payload) for payload in payloads]
    frames = [
        Frame(TEXT if index == 0 else CONT, chunk, fin=index == len(chunks) - 1, rsv1=index == 0)
        for index, chunk in enumerate(chunks)
    ]
    for frame in frames[:-1]:
        extension.decode(frame)
    with pytest.raises(ProtocolError, match="after the end"):
        extension.decode(frames[-1])


def test_uncompressed_message_passes_unchanged() -> None:
    # RFC 7692, 6: a message whose first frame lacks RSV1 is not compressed.
    extension = PerMessageDeflate(False, False, 15, 15)
    for frame in fragments(TEXT, b"not", b" compressed"):
        assert extension.decode(frame) is frame
    # RSV1 on its continuation frame is left for the caller to reject.
    first, last = fragments(BINARY, b"a", b"b")
    flagged = Frame(CONT, last.data, last.fin, rsv1=True)
    assert extension.decode(first) is first
    assert extension.decode(flagged) is flagged


def test_rsv1_on_continuation_frame_of_compressed_message() -> None:
    # RFC 7692, 6.1: RSV1 only on the first frame; the caller fails with 1002.
    first, last = compressed(b"Hello, ", b"world")
    extension = PerMessageDeflate(False, False, 15, 15)
    assert extension.decode(first).data == b"Hello, "
    flagged = Frame(CONT, last.data, last.fin, rsv1=True)
    assert extension.decode(flagged) is flagged


@pytest.mark.parametrize("data", [b"\xff\xff\xff\xff", b"\x07" * 10])
def test_invalid_compressed_data(data: bytes) -> None:
    extension = PerMessageDeflate(False, False, 15, 15)
    with pytest.raises(ProtocolError, match="invalid compressed data"):
        extension.decode(Frame(BINARY, data, rsv1=True))


def test_invalid_large_compressed_data() -> None:
    extension = PerMessageDeflate(False, False, 15, 15)
    with pytest.raises(ProtocolError, match="invalid compressed data"):
        extension.decode(Frame(BINARY, b"\x07" * 10_000, rsv1=True))


# RFC 7692, 7.2.1 and 7.2.2: context takeover.


def test_context_takeover() -> None:
    sender, receiver = pair()
    message = Frame(TEXT, b"The same message, again and again. " * 4)
    first, second, third = (sender.encode(message) for _ in range(3))
    # The second message refers to the first: it differs, and is shorter.
    assert first.data != second.data
    assert len(second.data) < len(first.data)
    assert [receiver.decode(frame) for frame in (first, second, third)] == [message] * 3


def test_no_context_takeover() -> None:
    sender, receiver = pair(no_context_takeover=True)
    message = Frame(TEXT, b"The same message, again and again. " * 4)
    encoded = [sender.encode(message) for _ in range(3)]
    # Each message starts with an empty window: identical output.
    assert encoded[0].data == encoded[1].data == encoded[2].data
    assert [receiver.decode(frame) for frame in encoded] == [message] * 3


def test_no_context_takeover_fragmented() -> None:
    sender, receiver = pair(no_context_takeover=True)
    message = fragments(TEXT, b"one two ", b"three four")
    first = [sender.encode(frame) for frame in message]
    second = [sender.encode(frame) for frame in message]
    assert first == second
    assert [receiver.decode(frame) for frame in first + second] == message + message


def test_decoder_resets_without_context_takeover() -> None:
    # A peer that takes over context sends a second message that refers to
    # the first; a decoder told the peer does not take over context resets
    # its window and cannot resolve the reference.
    encoder = zlib.compressobj(wbits=-15)
    first = compressed(b"Hello", takeover=encoder)
    second = compressed(b"Hello", takeover=encoder)
    extension = PerMessageDeflate(True, False, 15, 15)
    assert extension.decode(first[0]).data == b"Hello"
    with pytest.raises(ProtocolError):
        extension.decode(second[0])


def zlib_state(sender: PerMessageDeflate, receiver: PerMessageDeflate) -> tuple[bool, bool]:
    """Whether the sender holds a compressor and the receiver a decompressor."""
    return sender._encoder is not None, receiver._decoder is not None


def test_compression_state_is_dropped_between_messages() -> None:
    # Without context takeover, an idle connection holds no zlib state.
    sender, receiver = pair(no_context_takeover=True)
    assert zlib_state(sender, receiver) == (False, False)
    first, last = fragments(BINARY, b"abc", b"def")
    receiver.decode(sender.encode(first))
    assert zlib_state(sender, receiver) == (True, True)
    receiver.decode(sender.encode(last))
    assert zlib_state(sender, receiver) == (False, False)
    # With context takeover, it is kept.
    sender, receiver = pair()
    receiver.decode(sender.encode(Frame(BINARY, b"abc")))
    assert zlib_state(sender, receiver) == (True, True)


# RFC 7692, 7.1.2: window sizes.


def far_repeats(distance: int) -> bytes:
    """Random blocks repeated ``distance`` bytes apart: only a large window finds them."""
    block = os.urandom(distance)
    return block * 4


@pytest.mark.parametrize("bits", range(9, 16))
def test_window_bits_round_trip(bits: int) -> None:
    sender, receiver = pair(bits=bits)
    for distance in [100, 2**bits - 300, 2**bits + 100]:
        data = far_repeats(distance)
        frames = fragments(BINARY, data[:1000], data[1000:])
        assert transfer(sender, receiver, frames) == frames


@pytest.mark.parametrize("bits", range(9, 16))
def test_window_bits_limit_compression(bits: int) -> None:
    # Repeats within the window compress; farther ones can't be found.
    # (zlib-ng's level 6 finds fewer of the near ones than zlib's: 54% of
    # the size with 9 bits, where zlib reaches 28%.)
    near = far_repeats(2**bits - 300)
    far = far_repeats(2**bits + 300)
    sender = PerMessageDeflate(False, True, 15, bits)
    assert len(sender.encode(Frame(BINARY, near)).data) < len(near) * 3 // 5
    assert len(sender.encode(Frame(BINARY, far)).data) > len(far) * 9 // 10
    # The output inflates with exactly that window.
    decoder = zlib.decompressobj(wbits=-bits)
    frame = PerMessageDeflate(False, True, 15, bits).encode(Frame(BINARY, near))
    assert decoder.decompress(frame.data + b"\x00\x00\xff\xff") == near


def test_decoder_uses_the_negotiated_window() -> None:
    # A peer that promised 10 bits but used 15 is caught when a message
    # refers to the previous one, beyond the window.
    block = os.urandom(5000)
    encoder = zlib.compressobj(wbits=-15)
    first = compressed(block, takeover=encoder)[0]
    second = compressed(block, takeover=encoder)[0]
    assert len(second.data) < 100
    narrow = PerMessageDeflate(False, False, 10, 15)
    assert narrow.decode(first).data == block
    with pytest.raises(ProtocolError, match="too far back"):
        narrow.decode(second)
    wide = PerMessageDeflate(False, False, 15, 15)
    assert wide.decode(first).data == wide.decode(second).data == block


def test_8_bit_window_decoding() -> None:
    # With a peer that uses 8 bits, we decompress with 9: a stream that refers
    # 300 bytes back, beyond 8 bits, still inflates.
    block = os.urandom(300)
    encoder = zlib.compressobj(wbits=-10)
    first = compressed(block, takeover=encoder)[0]
    second = compressed(block, takeover=encoder)[0]
    assert len(second.data) < 50
    extension = PerMessageDeflate(False, False, 8, 15)
    assert extension.remote_max_window_bits == 8
    assert extension.decode(first).data == extension.decode(second).data == block
    # A decoder with a 256-byte window would fail.
    decoder = zlib.decompressobj(wbits=-8)
    decoder.decompress(first.data + b"\x00\x00\xff\xff")
    with pytest.raises(zlib.error, match="too far back"):
        decoder.decompress(second.data + b"\x00\x00\xff\xff")


def test_zlib_cannot_compress_with_8_bits() -> None:
    # The experiment behind the 8-bit rules: if zlib learns to do it, revisit them.
    with pytest.raises(ValueError, match="Invalid initialization option"):
        zlib.compressobj(wbits=-8)
    zlib.decompressobj(wbits=-8)


# Limits: RFC 6455 lets the receiver cap message sizes; here the cap applies
# to decompressed data, while inflating.


def test_max_size_single_frame() -> None:
    sender, receiver = pair(no_context_takeover=True)
    frame = sender.encode(Frame(BINARY, b"x" * 1000))
    assert receiver.decode(frame, max_size=1000).data == b"x" * 1000
    assert receiver.decode(frame, max_size=None).data == b"x" * 1000
    with pytest.raises(PayloadTooBig) as exc:
        receiver.decode(frame, max_size=999)
    assert exc.value.max_size == 999
    assert exc.value.size is None


def test_max_size_zero() -> None:
    # zlib reads max_length=0 as "no limit": 0 must still mean nothing.
    sender, receiver = pair(no_context_takeover=True)
    assert receiver.decode(sender.encode(Frame(BINARY, b"")), max_size=0).data == b""
    with pytest.raises(PayloadTooBig):
        receiver.decode(sender.encode(Frame(BINARY, b"x")), max_size=0)


def test_max_size_negative() -> None:
    sender, receiver = pair()
    with pytest.raises(PayloadTooBig):
        receiver.decode(sender.encode(Frame(BINARY, b"")), max_size=-1)


def test_max_size_across_fragments() -> None:
    # The caller passes what remains of the message's budget.
    sender, receiver = pair()
    frames = [
        sender.encode(frame) for frame in fragments(BINARY, b"a" * 100, b"b" * 100, b"c" * 100)
    ]
    budget = 250
    for frame in frames[:2]:
        budget -= len(receiver.decode(frame, max_size=budget).data)
    assert budget == 50
    with pytest.raises(PayloadTooBig) as exc:
        receiver.decode(frames[2], max_size=budget)
    assert exc.value.max_size == 50


@pytest.mark.parametrize("fin", [True, False])
def test_max_size_large_frames(fin: bool) -> None:
    # Large final frames take another path: the tail is fed separately.
    data = os.urandom(10_000)
    frame = compressed(data)[0]
    frame = Frame(BINARY, frame.data + (b"" if fin else b"\x00\x00\xff\xff"), fin, rsv1=True)
    assert len(frame.data) > 4096
    for max_size in [None, 10_000, 20_000]:
        assert PerMessageDeflate(False, False, 15, 15).decode(frame, max_size=max_size).data == data
    with pytest.raises(PayloadTooBig):
        PerMessageDeflate(False, False, 15, 15).decode(frame, max_size=9_999)


def test_decompression_bomb() -> None:
    # About 1 MiB of compressed data that inflates to 1 GiB of zeros.
    chunk = bytes(2**20)
    encoder = zlib.compressobj(9, zlib.DEFLATED, -15, 8, zlib.Z_RLE)
    parts = [encoder.compress(chunk) for _ in range(2**10)]
    parts.append(encoder.flush(zlib.Z_SYNC_FLUSH)[:-4])
    bomb = Frame(BINARY, b"".join(parts), rsv1=True)
    del chunk, parts, encoder
    assert 2**19 < len(bomb.data) < 2**21
    extension = PerMessageDeflate(False, False, 15, 15)

    gc.collect()
    tracemalloc.start()
    try:
        with pytest.raises(PayloadTooBig):
            extension.decode(bomb, max_size=2**20)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20


def test_decompression_bomb_in_continuation_frame() -> None:
    # A small first frame, then the bomb: the budget applies to each frame.
    encoder = zlib.compressobj(9, zlib.DEFLATED, -15, 8, zlib.Z_RLE)
    first = encoder.compress(b"x") + encoder.flush(zlib.Z_SYNC_FLUSH)
    chunk = bytes(2**20)
    bomb = b"".join([encoder.compress(chunk) for _ in range(64)])
    bomb += encoder.flush(zlib.Z_SYNC_FLUSH)
    extension = PerMessageDeflate(False, False, 15, 15)
    assert extension.decode(Frame(BINARY, first, fin=False, rsv1=True), max_size=2**20).data == b"x"
    with pytest.raises(PayloadTooBig):
        extension.decode(Frame(CONT, bomb, fin=False), max_size=2**20 - 1)


# Properties.

settings_strategy = st.tuples(st.booleans(), st.integers(min_value=9, max_value=15))
payloads = st.one_of(
    st.binary(max_size=3000),
    st.text(max_size=500).map(str.encode),
    st.binary(min_size=1, max_size=50).map(lambda block: block * 40),
)


@settings(max_examples=150, deadline=None)
@given(
    options=settings_strategy,
    messages=st.lists(
        st.tuples(
            st.sampled_from([TEXT, BINARY]),
            payloads,
            st.lists(st.integers(min_value=0, max_value=3000), max_size=4),
        ),
        min_size=1,
        max_size=4,
    ),
)
def test_round_trip_property(
    options: tuple[bool, int], messages: list[tuple[Opcode, bytes, list[int]]]
) -> None:
    no_context_takeover, bits = options
    sender, receiver = pair(no_context_takeover=no_context_takeover, bits=bits)
    for opcode, payload, cuts in messages:
        points = sorted({min(cut, len(payload)) for cut in cuts})
        bounds = [0, *points, len(payload)]
        chunks = [payload[start:end] for start, end in itertools.pairwise(bounds)]
        frames = fragments(opcode, *chunks)
        encoded = [sender.encode(frame) for frame in frames]
        assert [frame.rsv1 for frame in encoded] == [True] + [False] * (len(frames) - 1)
        assert [receiver.decode(frame, max_size=len(payload)) for frame in encoded] == frames


# Enabling the extension with defaults.


def test_enable_client_permessage_deflate() -> None:
    extensions = enable_client_permessage_deflate(None)
    assert len(extensions) == 1
    factory = extensions[0]
    assert isinstance(factory, ClientPerMessageDeflateFactory)
    assert factory.compress_settings == {"memLevel": 5}
    assert factory.get_request_params() == [("client_max_window_bits", None)]


def test_enable_server_permessage_deflate() -> None:
    extensions = enable_server_permessage_deflate(None)
    assert len(extensions) == 1
    factory = extensions[0]
    assert isinstance(factory, ServerPerMessageDeflateFactory)
    assert factory.server_max_window_bits == 12
    assert factory.compress_settings == {"memLevel": 5}


class OtherClientFactory(ClientExtensionFactory):
    name = ExtensionName("x-other")

    def get_request_params(self) -> list[ExtensionParameter]:
        return []

    def process_response_params(
        self, params: Sequence[ExtensionParameter], accepted_extensions: Sequence[Extension]
    ) -> Extension:
        return OtherExtension()


class OtherServerFactory(ServerExtensionFactory):
    name = ExtensionName("x-other")

    def process_request_params(
        self, params: Sequence[ExtensionParameter], accepted_extensions: Sequence[Extension]
    ) -> tuple[list[ExtensionParameter], Extension]:
        return [], OtherExtension()


def test_enable_appends_to_a_new_list() -> None:
    client_extensions: list[ClientExtensionFactory] = [OtherClientFactory()]
    result = enable_client_permessage_deflate(client_extensions)
    assert result is not client_extensions
    assert client_extensions == [client_extensions[0]]
    assert result[0] is client_extensions[0]
    assert isinstance(result[1], ClientPerMessageDeflateFactory)

    server_extensions: tuple[ServerExtensionFactory, ...] = (OtherServerFactory(),)
    server_result = enable_server_permessage_deflate(server_extensions)
    assert server_result[0] is server_extensions[0]
    assert isinstance(server_result[1], ServerPerMessageDeflateFactory)


def test_enable_keeps_an_existing_factory() -> None:
    client_factory = ClientPerMessageDeflateFactory(client_max_window_bits=10)
    client_extensions: list[ClientExtensionFactory] = [client_factory]
    result = enable_client_permessage_deflate(client_extensions)
    assert result == [client_factory]
    assert result is not client_extensions

    server_factory = ServerPerMessageDeflateFactory(server_no_context_takeover=True)
    assert enable_server_permessage_deflate([server_factory]) == [server_factory]


# Interoperability with the websockets library.

INTEROP_SETTINGS: list[tuple[bool, int]] = [(False, 15), (True, 15), (False, 9), (True, 12)]


def to_theirs(frame: Frame) -> TheirFrame:
    return TheirFrame(
        TheirOpcode(frame.opcode.value), frame.data, frame.fin, frame.rsv1, frame.rsv2, frame.rsv3
    )


def from_theirs(frame: TheirFrame) -> Frame:
    return Frame(
        Opcode(frame.opcode.value), bytes(frame.data), frame.fin, frame.rsv1, frame.rsv2, frame.rsv3
    )


def interop_messages() -> list[list[Frame]]:
    big = os.urandom(3000) * 3
    return [
        [Frame(TEXT, b"Hello")],
        [Frame(TEXT, b"Hello")],
        [Frame(BINARY, b"")],
        fragments(TEXT, b'{"key": ', b'"value"', b"}"),
        [Frame(BINARY, big)],
        fragments(BINARY, big[:5000], big[5000:]),
    ]


@pytest.mark.parametrize(("no_context_takeover", "bits"), INTEROP_SETTINGS)
def test_interop_ours_to_theirs(no_context_takeover: bool, bits: int) -> None:
    ours = PerMessageDeflate(False, no_context_takeover, 15, bits)
    theirs = TheirPerMessageDeflate(no_context_takeover, False, bits, 15)
    for message in interop_messages():
        for frame in message:
            decoded = from_theirs(theirs.decode(to_theirs(ours.encode(frame)), max_size=None))
            assert decoded == frame


@pytest.mark.parametrize(("no_context_takeover", "bits"), INTEROP_SETTINGS)
def test_interop_theirs_to_ours(no_context_takeover: bool, bits: int) -> None:
    theirs = TheirPerMessageDeflate(False, no_context_takeover, 15, bits)
    ours = PerMessageDeflate(no_context_takeover, False, bits, 15)
    for message in interop_messages():
        for frame in message:
            assert (
                ours.decode(from_theirs(theirs.encode(to_theirs(frame))), max_size=2**20) == frame
            )


def exchange(ours: PerMessageDeflate, theirs: TheirPerMessageDeflate) -> None:
    """Send every interop message both ways between two negotiated extensions."""
    for message in interop_messages():
        for frame in message:
            assert from_theirs(theirs.decode(to_theirs(ours.encode(frame)))) == frame
            assert ours.decode(from_theirs(theirs.encode(to_theirs(frame)))) == frame


@pytest.mark.parametrize(("client_config", "server_config"), CONFIGS[:5])
def test_interop_our_client_their_server(
    client_config: dict[str, int | bool | None], server_config: dict[str, int | bool]
) -> None:
    ours = ClientPerMessageDeflateFactory(**client_config)  # type: ignore[arg-type]
    theirs = TheirServerFactory(**server_config)  # type: ignore[arg-type]
    response, their_extension = theirs.process_request_params(ours.get_request_params(), [])
    our_extension = ours.process_response_params(list(response), [])
    assert our_extension.local_max_window_bits == their_extension.remote_max_window_bits
    assert our_extension.remote_max_window_bits == their_extension.local_max_window_bits
    exchange(our_extension, their_extension)


@pytest.mark.parametrize(("client_config", "server_config"), CONFIGS[:5])
def test_interop_their_client_our_server(
    client_config: dict[str, int | bool | None], server_config: dict[str, int | bool]
) -> None:
    theirs = TheirClientFactory(**client_config)  # type: ignore[arg-type]
    ours = ServerPerMessageDeflateFactory(**server_config)  # type: ignore[arg-type]
    response, our_extension = ours.process_request_params(list(theirs.get_request_params()), [])
    their_extension = theirs.process_response_params(response, [])
    assert our_extension.local_max_window_bits == their_extension.remote_max_window_bits
    assert our_extension.remote_max_window_bits == their_extension.local_max_window_bits
    exchange(our_extension, their_extension)
