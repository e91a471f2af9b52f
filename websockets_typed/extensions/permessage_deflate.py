"""The permessage-deflate extension (RFC 7692): negotiation and per-message compression.

Negotiation follows RFC 7692, section 7.1: a client offers parameters with
:class:`ClientPerMessageDeflateFactory`, a server answers with
:class:`ServerPerMessageDeflateFactory`, and both end up with a
:class:`PerMessageDeflate` that compresses outgoing data messages and
decompresses incoming ones (section 7.2).

Names follow the RFC: "server" and "client" name the side that *compresses*
with the parameter. On a negotiated :class:`PerMessageDeflate`, "local" is the
side holding the object and "remote" its peer.

About 8-bit windows. RFC 7692 allows window bits from 8 to 15, but zlib
refuses to compress raw deflate with 8 (``zlib.compressobj(wbits=-8)``
raises ``ValueError`` since zlib 1.2.9). zlib limits the distance of every
match to the window size minus ``MIN_LOOKAHEAD``, 262 bytes (``MAX_DIST`` in
its ``deflate.c``): with 9 bits, no match reaches further than 250 bytes
back, which fits in a 256-byte window. So an 8-bit window is negotiated like
any other and compressed with zlib's 9-bit deflate; the test suite checks
that property on the zlib in use by inflating with exactly 8 bits.
Decompression uses at least 9 bits too: a window larger than the peer's is
always safe, and it also accepts peers whose zlib (before 1.2.9) silently
compressed with 9 when asked for 8. zlib-ng behaves the same way.

The zlib implementation is zlib-ng when the ``zlib-ng`` extra is installed,
the standard library's :mod:`zlib` otherwise (see :data:`ZLIB_NG`).
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING, Final, Literal, NamedTuple, TypedDict, TypeVar

from ..exceptions import (
    DuplicateParameter,
    InvalidParameterName,
    InvalidParameterValue,
    NegotiationError,
    PayloadTooBig,
    ProtocolError,
)
from ..frames import Frame, Opcode, new_frame
from ..typing import ExtensionName, ExtensionParameter
from . import _zlib
from .base import ClientExtensionFactory, Extension, ServerExtensionFactory

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from ._zlib import Compressor, Decompressor, ZlibBackend

__all__ = [
    "ZLIB_NG",
    "ClientPerMessageDeflateFactory",
    "CompressSettings",
    "PerMessageDeflate",
    "ServerPerMessageDeflateFactory",
    "enable_client_permessage_deflate",
    "enable_server_permessage_deflate",
]

ZLIB_NG: Final[bool] = _zlib.ZLIB_NG
"""Whether permessage-deflate compresses with zlib-ng rather than :mod:`zlib`.

zlib-ng is used when the ``zlib-ng`` extra (``pip install
websockets_typed[zlib-ng]``) is installed, unless the environment has
``WEBSOCKETS_TYPED_ZLIB_NG=0``. It produces the same deflate format, faster.
"""

# The module that compresses and decompresses: zlib_ng.zlib_ng or zlib.
_backend: ZlibBackend = _zlib.backend

_NAME: Final = ExtensionName("permessage-deflate")

_SERVER_NO_CONTEXT_TAKEOVER: Final = "server_no_context_takeover"
_CLIENT_NO_CONTEXT_TAKEOVER: Final = "client_no_context_takeover"
_SERVER_MAX_WINDOW_BITS: Final = "server_max_window_bits"
_CLIENT_MAX_WINDOW_BITS: Final = "client_max_window_bits"

# RFC 7692, 7.1.2.1 and 7.1.2.2: window bits are "a decimal integer value
# without leading zeroes between 8 to 15, inclusive". Looking the string up
# rejects "08", "+9", " 9" and "9.0" without any parsing.
_WINDOW_BITS_VALUES: Final[dict[str, int]] = {str(bits): bits for bits in range(8, 16)}

_MAX_WINDOW_BITS: Final = 15
# The smallest window zlib compresses raw deflate with: see the module docstring.
# The smallest window zlib works with; see the module docstring about 8.
_ZLIB_MIN_WINDOW_BITS: Final = 9

# RFC 7692, 7.2.1 and 7.2.2: a sync flush ends with an empty stored block
# whose LEN and NLEN fields are these four bytes. The sender removes them from
# the end of each message; the receiver appends them back.
_EMPTY_STORED_BLOCK_TAIL: Final = b"\x00\x00\xff\xff"

# RFC 7692, 7.2.3.6: the final fragment of a message whose earlier fragments
# already flushed everything carries a single 0x00 byte, the header of an
# empty stored block; the receiver supplies its LEN and NLEN.
_EMPTY_FINAL_FRAGMENT: Final = b"\x00"

# What may follow a deflate stream ended by a BFINAL block (RFC 7692,
# 7.2.3.4): the sender's 0x00 byte of an empty stored block header, and the
# tail we append at the end of a message. Anything else is garbage.
_AFTER_FINAL_BLOCK: Final = frozenset(
    {b"", b"\x00", _EMPTY_STORED_BLOCK_TAIL, b"\x00" + _EMPTY_STORED_BLOCK_TAIL}
)

# Below this size, appending the tail to the payload (a copy) is cheaper than
# a second decompress() call; above it, the copy costs memory and time.
_APPEND_TAIL_LIMIT: Final = 4096

_SYNC_FLUSH: Final = zlib.Z_SYNC_FLUSH

_CONT: Final = Opcode.CONT
_TEXT: Final = Opcode.TEXT
_BINARY: Final = Opcode.BINARY

_COMPRESS_SETTINGS_RANGES: Final[dict[str, range]] = {
    "level": range(-1, 10),
    "memLevel": range(1, 10),
    "strategy": range(zlib.Z_DEFAULT_STRATEGY, zlib.Z_FIXED + 1),
}


class CompressSettings(TypedDict, total=False):
    """Settings forwarded to :func:`zlib.compressobj`.

    The window size is not among them: it is negotiated (``wbits`` is
    rejected). ``zdict`` and ``method`` are not either: the peer could not
    decompress the result.
    """

    level: int
    """Compression level, 0 (none) to 9 (best), or -1 for zlib's default (6)."""
    memLevel: int
    """Memory for the compressor's internal state, 1 (least) to 9 (most); zlib's default is 8."""
    strategy: int
    """One of zlib's ``Z_*`` strategies, e.g. :data:`zlib.Z_DEFAULT_STRATEGY`."""


def _check_compress_settings(compress_settings: CompressSettings | None) -> tuple[int, int, int]:
    """Validate settings for :func:`zlib.compressobj`; return level, memLevel and strategy.

    Raises:
        ValueError: If a setting is unknown, is ``wbits``, or is out of range.
    """
    if compress_settings is None:
        return zlib.Z_DEFAULT_COMPRESSION, zlib.DEF_MEM_LEVEL, zlib.Z_DEFAULT_STRATEGY
    for key, value in compress_settings.items():
        if key == "wbits":
            raise ValueError(
                "compress_settings must not include wbits: "
                "set server_max_window_bits or client_max_window_bits instead"
            )
        allowed = _COMPRESS_SETTINGS_RANGES.get(key)
        if allowed is None:
            raise ValueError(f"unsupported compress setting: {key}")
        if isinstance(value, bool) or not isinstance(value, int) or value not in allowed:  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ValueError(f"invalid compress setting: {key}={value!r}")
    return (
        compress_settings.get("level", zlib.Z_DEFAULT_COMPRESSION),
        compress_settings.get("memLevel", zlib.DEF_MEM_LEVEL),
        compress_settings.get("strategy", zlib.Z_DEFAULT_STRATEGY),
    )


def _check_window_bits(name: str, value: int, minimum: int = 8) -> None:
    """Raise :exc:`ValueError` unless ``value`` is an integer from ``minimum`` to 15."""
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= 15:  # pyright: ignore[reportUnnecessaryIsInstance]
        raise ValueError(f"{name} must be an integer between {minimum} and 15, got {value!r}")


class PerMessageDeflate(Extension):
    """permessage-deflate as negotiated for one connection (RFC 7692, section 7.2).

    It compresses every outgoing data message and decompresses incoming
    messages whose first frame has RSV1 set. Control frames are never
    compressed (RFC 7692, section 6.1).

    Args:
        remote_no_context_takeover: Whether the peer starts each message with
            an empty window, so that we can drop our decompressor between
            messages.
        local_no_context_takeover: Whether we must start each message with an
            empty window.
        remote_max_window_bits: The peer's window size, 8 to 15.
        local_max_window_bits: Our window size, 8 to 15.
        compress_settings: Extra settings for :func:`zlib.compressobj`.

    Raises:
        ValueError: If an argument is out of range.
    """

    name: ExtensionName = _NAME

    def __init__(
        self,
        remote_no_context_takeover: bool,
        local_no_context_takeover: bool,
        remote_max_window_bits: int,
        local_max_window_bits: int,
        compress_settings: CompressSettings | None = None,
    ) -> None:
        _check_window_bits("remote_max_window_bits", remote_max_window_bits)
        _check_window_bits("local_max_window_bits", local_max_window_bits)
        self._level, self._mem_level, self._strategy = _check_compress_settings(compress_settings)

        self.remote_no_context_takeover: Final[bool] = remote_no_context_takeover
        """Whether the peer compresses each message with an empty window."""
        self.local_no_context_takeover: Final[bool] = local_no_context_takeover
        """Whether we compress each message with an empty window."""
        self.remote_max_window_bits: Final[int] = remote_max_window_bits
        """The peer's window size, in bits."""
        self.local_max_window_bits: Final[int] = local_max_window_bits
        """Our window size, in bits."""
        self.compress_settings: Final[CompressSettings] = (
            CompressSettings()
            if compress_settings is None
            else CompressSettings(**compress_settings)
        )
        """Extra settings for :func:`zlib.compressobj`."""

        # zlib works with 9 bits at least. Decompressing with a window larger
        # than the peer's is always safe; compressing an 8-bit window with 9
        # is safe too (see the module docstring).
        self._decompress_wbits = -max(remote_max_window_bits, _ZLIB_MIN_WINDOW_BITS)
        self._compress_wbits = -max(local_max_window_bits, _ZLIB_MIN_WINDOW_BITS)

        # zlib objects are created when a message needs them, and dropped at
        # the end of each message when there is no context to take over: an
        # idle connection then holds no compression state (up to ~300 KiB).
        self._decoder: Decompressor | None = None
        self._encoder: Compressor | None = None
        # Whether the message being received is compressed: RFC 7692, 6.1,
        # RSV1 on its first frame says so, and its continuation frames follow.
        self._decoding = False

    def __repr__(self) -> str:
        return (
            f"PerMessageDeflate("
            f"remote_no_context_takeover={self.remote_no_context_takeover}, "
            f"local_no_context_takeover={self.local_no_context_takeover}, "
            f"remote_max_window_bits={self.remote_max_window_bits}, "
            f"local_max_window_bits={self.local_max_window_bits})"
        )

    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        """Decompress a frame of a compressed message (RFC 7692, 7.2.2).

        Control frames, frames of uncompressed messages and continuation
        frames with RSV1 set are returned unchanged, so that the caller's
        check of reserved bits rejects the latter (RFC 7692, 6.1: RSV1 is
        only valid on the first frame of a message).

        Args:
            frame: A frame as received.
            max_size: How many more bytes the message may hold once
                decompressed, or ``None`` for no limit.

        Returns:
            The frame with its payload decompressed and RSV1 cleared.

        Raises:
            PayloadTooBig: As soon as the decompressed payload would exceed
                ``max_size``; inflating stops there, so a small frame that
                would inflate to gigabytes costs no more than ``max_size``.
            ProtocolError: If the payload is not valid deflate data.
        """
        opcode = frame.opcode
        if opcode is _CONT:
            if not self._decoding or frame.rsv1:
                return frame
            decoder = self._decoder
            assert decoder is not None  # set when the message started
        elif frame.rsv1 and (opcode is _TEXT or opcode is _BINARY):
            decoder = self._decoder
            if decoder is None:
                decoder = self._decoder = _backend.decompressobj(self._decompress_wbits)
            self._decoding = True
        else:
            return frame

        # zlib reads max_length=0 as "no limit": ask for one byte more than
        # allowed, so that reaching it proves the limit is exceeded.
        if max_size is None:
            limit = 0
        elif max_size >= 0:
            limit = max_size + 1
        else:
            raise PayloadTooBig(max_size)

        data = frame.data
        fin = frame.fin
        try:
            if not fin:
                output = decoder.decompress(data, limit)
            elif len(data) < _APPEND_TAIL_LIMIT:
                # RFC 7692, 7.2.2: append 0x00 0x00 0xff 0xff, then inflate.
                output = decoder.decompress(data + _EMPTY_STORED_BLOCK_TAIL, limit)
            else:
                output = decoder.decompress(data, limit)
                if limit == 0:
                    output += decoder.decompress(_EMPTY_STORED_BLOCK_TAIL)
                elif len(output) < limit:
                    output += decoder.decompress(_EMPTY_STORED_BLOCK_TAIL, limit - len(output))
        except _backend.error as exc:
            raise ProtocolError(f"invalid compressed data: {exc}") from exc

        if max_size is not None and len(output) > max_size:
            raise PayloadTooBig(max_size)

        if decoder.eof:
            # The peer ended the deflate stream with a BFINAL block (RFC 7692,
            # 7.2.3.4). zlib keeps whatever follows in unused_data, where no
            # size limit would catch it piling up: allow only what the RFC
            # puts there.
            if decoder.unused_data not in _AFTER_FINAL_BLOCK:
                raise ProtocolError("data after the end of the compressed stream")
            if fin:
                # A finished stream cannot continue into the next message.
                self._decoder = None
        if fin:
            self._decoding = False
            # RFC 7692, 7.2.2: without context takeover each message starts
            # with an empty window.
            if self.remote_no_context_takeover:
                self._decoder = None

        # zlib returns bytes and the other fields come from a valid frame:
        # no need for the checks of Frame().
        return new_frame(opcode, output, fin, False, frame.rsv2, frame.rsv3)

    def encode(self, frame: Frame) -> Frame:
        """Compress a data frame (RFC 7692, 7.2.1); return control frames unchanged.

        The first frame of a message gets RSV1 (RFC 7692, 6.1); continuation
        frames are compressed with RSV1 clear.

        Args:
            frame: A frame about to be sent.

        Returns:
            The frame with its payload compressed.
        """
        opcode = frame.opcode
        if opcode is _CONT:
            encoder = self._encoder
            assert encoder is not None, "continuation frame outside of a message"
            rsv1 = False
        elif opcode is _TEXT or opcode is _BINARY:
            encoder = self._encoder
            if encoder is None:
                encoder = self._encoder = _backend.compressobj(
                    self._level,
                    zlib.DEFLATED,
                    self._compress_wbits,
                    self._mem_level,
                    self._strategy,
                )
            rsv1 = True
        else:
            # RFC 7692, 6.1: control frames are not compressed.
            return frame

        # Each frame ends with a sync flush so that the peer can inflate it
        # on arrival. zlib usually keeps small inputs buffered until then, so
        # compress() returns nothing and flush() returns everything.
        data = frame.data
        compressed = encoder.compress(data) if data else b""
        flushed = encoder.flush(_SYNC_FLUSH)
        fin = frame.fin
        if fin:
            if flushed:
                # RFC 7692, 7.2.1: remove the 0x00 0x00 0xff 0xff ending the
                # empty stored block of the sync flush. One copy either way.
                data = (
                    b"".join((compressed, memoryview(flushed)[:-4])) if compressed else flushed[:-4]
                )
            else:
                # An empty fragment after a flush: zlib has nothing to add.
                data = _EMPTY_FINAL_FRAGMENT
            # RFC 7692, 7.2.1: without context takeover, each message starts
            # with an empty window.
            if self.local_no_context_takeover:
                self._encoder = None
        else:
            data = compressed + flushed if compressed else flushed

        return new_frame(opcode, data, fin, rsv1, frame.rsv2, frame.rsv3)


class _Parameters(NamedTuple):
    """permessage-deflate parameters as they appear in an offer or a response."""

    server_no_context_takeover: bool
    client_no_context_takeover: bool
    server_max_window_bits: int | None
    client_max_window_bits: int | Literal[True] | None
    """``True`` when offered without a value (only valid in an offer)."""


def _parse_parameters(
    params: Sequence[ExtensionParameter],
    *,
    is_offer: bool,
    client_max_window_bits_offered: bool = True,
) -> _Parameters:
    """Read and validate parameters of an offer or of a response (RFC 7692, 7).

    Raises:
        DuplicateParameter: If a parameter appears twice.
        InvalidParameterName: If a parameter is not defined by RFC 7692.
        InvalidParameterValue: If a value is missing, unexpected or invalid,
            or if a response has client_max_window_bits although the offer
            did not (RFC 7692, 7.1.2.2).
    """
    server_no_context_takeover = False
    client_no_context_takeover = False
    server_max_window_bits: int | None = None
    client_max_window_bits: int | Literal[True] | None = None
    seen: set[str] = set()

    for name, value in params:
        if name in seen:
            raise DuplicateParameter(name)
        seen.add(name)

        if name in (_SERVER_NO_CONTEXT_TAKEOVER, _CLIENT_NO_CONTEXT_TAKEOVER):
            # RFC 7692, 7.1.1.1 and 7.1.1.2: these parameters have no value.
            if value is not None:
                raise InvalidParameterValue(name, value)
            if name == _SERVER_NO_CONTEXT_TAKEOVER:
                server_no_context_takeover = True
            else:
                client_no_context_takeover = True

        elif name == _SERVER_MAX_WINDOW_BITS:
            # RFC 7692, 7.1.2.1: a value is required in offers and responses.
            bits = None if value is None else _WINDOW_BITS_VALUES.get(value)
            if bits is None:
                raise InvalidParameterValue(name, value)
            server_max_window_bits = bits

        elif name == _CLIENT_MAX_WINDOW_BITS:
            # RFC 7692, 7.1.2.2: "If a received extension negotiation offer
            # doesn't have the client_max_window_bits extension parameter, the
            # corresponding extension negotiation response to the offer MUST
            # NOT include the client_max_window_bits extension parameter."
            if not client_max_window_bits_offered:
                raise InvalidParameterValue(name, value)
            # The value is optional in an offer, required in a response.
            if value is None and is_offer:
                client_max_window_bits = True
            else:
                bits = None if value is None else _WINDOW_BITS_VALUES.get(value)
                if bits is None:
                    raise InvalidParameterValue(name, value)
                client_max_window_bits = bits

        else:
            # RFC 7692, 7: an offer or a response with "an extension parameter
            # not defined for use" is declined or fails the connection.
            raise InvalidParameterName(name)

    return _Parameters(
        server_no_context_takeover,
        client_no_context_takeover,
        server_max_window_bits,
        client_max_window_bits,
    )


def _build_parameters(parameters: _Parameters) -> list[ExtensionParameter]:
    """Serialize parameters for an offer or a response, in the RFC's order."""
    params: list[ExtensionParameter] = []
    if parameters.server_no_context_takeover:
        params.append((_SERVER_NO_CONTEXT_TAKEOVER, None))
    if parameters.client_no_context_takeover:
        params.append((_CLIENT_NO_CONTEXT_TAKEOVER, None))
    if parameters.server_max_window_bits is not None:
        params.append((_SERVER_MAX_WINDOW_BITS, str(parameters.server_max_window_bits)))
    if parameters.client_max_window_bits is True:
        params.append((_CLIENT_MAX_WINDOW_BITS, None))
    elif parameters.client_max_window_bits is not None:
        params.append((_CLIENT_MAX_WINDOW_BITS, str(parameters.client_max_window_bits)))
    return params


def _check_not_accepted(accepted_extensions: Sequence[Extension]) -> None:
    """Refuse a second permessage-deflate: both would use RSV1 (RFC 7692, 5)."""
    if any(extension.name == _NAME for extension in accepted_extensions):
        raise NegotiationError(f"{_NAME} was already negotiated")


class ClientPerMessageDeflateFactory(ClientExtensionFactory):
    """Offer permessage-deflate from a client and check the server's answer (RFC 7692, 7.1).

    Args:
        server_no_context_takeover: Ask the server to compress each message
            with an empty window (RFC 7692, 7.1.1.1); the server must agree.
        client_no_context_takeover: Tell the server that we compress each
            message with an empty window (RFC 7692, 7.1.1.2).
        server_max_window_bits: Limit the server's window, 8 to 15
            (RFC 7692, 7.1.2.1); ``None`` leaves it to the server.
        client_max_window_bits: ``True`` tells the server it may limit our
            window (RFC 7692, 7.1.2.2); an integer, 8 to 15, also promises
            that we won't use more; ``None`` or ``False`` omits the
            parameter, so the server cannot limit our window.
        compress_settings: Extra settings for :func:`zlib.compressobj`.

    Raises:
        ValueError: If an argument is out of range.
    """

    name: ExtensionName = _NAME

    def __init__(
        self,
        server_no_context_takeover: bool = False,
        client_no_context_takeover: bool = False,
        server_max_window_bits: int | None = None,
        client_max_window_bits: int | bool | None = True,
        compress_settings: CompressSettings | None = None,
    ) -> None:
        if server_max_window_bits is not None:
            _check_window_bits("server_max_window_bits", server_max_window_bits)
        offered_client_bits: int | Literal[True] | None
        if client_max_window_bits is True:
            offered_client_bits = True
        elif client_max_window_bits is None or client_max_window_bits is False:
            offered_client_bits = None
        else:
            _check_window_bits("client_max_window_bits", client_max_window_bits)
            offered_client_bits = client_max_window_bits
        _check_compress_settings(compress_settings)

        self.server_no_context_takeover: Final[bool] = server_no_context_takeover
        """Whether the offer asks the server not to take over context."""
        self.client_no_context_takeover: Final[bool] = client_no_context_takeover
        """Whether the offer announces that we won't take over context."""
        self.server_max_window_bits: Final[int | None] = server_max_window_bits
        """The limit offered for the server's window, if any."""
        self.client_max_window_bits: Final[int | Literal[True] | None] = offered_client_bits
        """``True``, a limit for our window, or ``None`` when not offered."""
        self.compress_settings: Final[CompressSettings | None] = (
            None if compress_settings is None else CompressSettings(**compress_settings)
        )
        """Extra settings for :func:`zlib.compressobj`."""

    def __repr__(self) -> str:
        return (
            f"ClientPerMessageDeflateFactory("
            f"server_no_context_takeover={self.server_no_context_takeover}, "
            f"client_no_context_takeover={self.client_no_context_takeover}, "
            f"server_max_window_bits={self.server_max_window_bits}, "
            f"client_max_window_bits={self.client_max_window_bits})"
        )

    def get_request_params(self) -> list[ExtensionParameter]:
        """Return the parameters of the offer."""
        return _build_parameters(
            _Parameters(
                self.server_no_context_takeover,
                self.client_no_context_takeover,
                self.server_max_window_bits,
                self.client_max_window_bits,
            )
        )

    def process_response_params(
        self,
        params: Sequence[ExtensionParameter],
        accepted_extensions: Sequence[Extension],
    ) -> PerMessageDeflate:
        """Check the server's response against the offer and build the extension.

        Args:
            params: The parameters in the server's response.
            accepted_extensions: Extensions accepted before this one.

        Returns:
            The negotiated extension.

        Raises:
            NegotiationError: If the response is invalid or does not accept
                the offer; RFC 7692, 7 then requires failing the connection.
        """
        _check_not_accepted(accepted_extensions)
        response = _parse_parameters(
            params,
            is_offer=False,
            client_max_window_bits_offered=self.client_max_window_bits is not None,
        )

        # RFC 7692, 7.1.1.1: the server accepts server_no_context_takeover by
        # including it; it may also include it unasked.
        if self.server_no_context_takeover and not response.server_no_context_takeover:
            raise NegotiationError("the server did not accept server_no_context_takeover")
        remote_no_context_takeover = response.server_no_context_takeover

        # RFC 7692, 7.1.1.2: "A client MUST support the client_no_context_
        # takeover extension parameter in an extension negotiation response."
        # When we offered it, we announced not taking over context anyway.
        local_no_context_takeover = (
            self.client_no_context_takeover or response.client_no_context_takeover
        )

        # RFC 7692, 7.1.2.1: the server accepts server_max_window_bits by
        # including it "with the same or smaller value as the offer"; it may
        # include it unasked, with any value.
        remote_max_window_bits = response.server_max_window_bits
        if self.server_max_window_bits is not None:
            if remote_max_window_bits is None:
                raise NegotiationError("the server did not accept server_max_window_bits")
            if remote_max_window_bits > self.server_max_window_bits:
                raise NegotiationError(
                    f"the server answered server_max_window_bits={remote_max_window_bits}, "
                    f"more than the {self.server_max_window_bits} offered"
                )

        # RFC 7692, 7.1.2.2: the server may limit our window when we offered
        # the parameter (a response without an offer was rejected while
        # parsing). A value in our offer is a promise that holds "even if the
        # server doesn't include the client_max_window_bits extension
        # parameter in the corresponding extension negotiation response with
        # a value greater than the one in the extension negotiation offer or
        # if the server doesn't include the extension parameter at all": a
        # larger answer is valid, and our own value still applies.
        offered = self.client_max_window_bits
        local_max_window_bits = _MAX_WINDOW_BITS if offered is None or offered is True else offered
        answered = response.client_max_window_bits
        if answered is not None:
            assert answered is not True  # parsing requires a value in a response
            local_max_window_bits = min(local_max_window_bits, answered)

        return PerMessageDeflate(
            remote_no_context_takeover,
            local_no_context_takeover,
            _MAX_WINDOW_BITS if remote_max_window_bits is None else remote_max_window_bits,
            local_max_window_bits,
            self.compress_settings,
        )


class ServerPerMessageDeflateFactory(ServerExtensionFactory):
    """Answer a client's permessage-deflate offer (RFC 7692, 7.1).

    Args:
        server_no_context_takeover: Compress each message with an empty
            window, and say so in every response (RFC 7692, 7.1.1.1).
        client_no_context_takeover: Require the client to compress each
            message with an empty window (RFC 7692, 7.1.1.2).
        server_max_window_bits: Limit our window, 8 to 15 (RFC 7692,
            7.1.2.1).
        client_max_window_bits: Limit the client's window, 8 to 15 (RFC 7692,
            7.1.2.2), when the client's offer allows it. Some zlib-based
            clients cannot compress with 8 and fail the handshake.
        compress_settings: Extra settings for :func:`zlib.compressobj`.
        require_client_max_window_bits: Decline offers that don't let us
            limit the client's window, rather than accepting them with a full
            window.

    Raises:
        ValueError: If an argument is out of range, or if
            ``require_client_max_window_bits`` is set without
            ``client_max_window_bits``.
    """

    name: ExtensionName = _NAME

    def __init__(  # noqa: PLR0917 (positional order matches the websockets API)
        self,
        server_no_context_takeover: bool = False,
        client_no_context_takeover: bool = False,
        server_max_window_bits: int | None = None,
        client_max_window_bits: int | None = None,
        compress_settings: CompressSettings | None = None,
        require_client_max_window_bits: bool = False,
    ) -> None:
        if server_max_window_bits is not None:
            _check_window_bits("server_max_window_bits", server_max_window_bits)
        if client_max_window_bits is not None:
            _check_window_bits("client_max_window_bits", client_max_window_bits)
        _check_compress_settings(compress_settings)
        if require_client_max_window_bits and client_max_window_bits is None:
            raise ValueError("require_client_max_window_bits needs client_max_window_bits")

        self.server_no_context_takeover: Final[bool] = server_no_context_takeover
        """Whether we never take over context."""
        self.client_no_context_takeover: Final[bool] = client_no_context_takeover
        """Whether the client must not take over context."""
        self.server_max_window_bits: Final[int | None] = server_max_window_bits
        """The limit for our window, if any."""
        self.client_max_window_bits: Final[int | None] = client_max_window_bits
        """The limit for the client's window, if any."""
        self.compress_settings: Final[CompressSettings | None] = (
            None if compress_settings is None else CompressSettings(**compress_settings)
        )
        """Extra settings for :func:`zlib.compressobj`."""
        self.require_client_max_window_bits: Final[bool] = require_client_max_window_bits
        """Whether offers without client_max_window_bits are declined."""

    def __repr__(self) -> str:
        return (
            f"ServerPerMessageDeflateFactory("
            f"server_no_context_takeover={self.server_no_context_takeover}, "
            f"client_no_context_takeover={self.client_no_context_takeover}, "
            f"server_max_window_bits={self.server_max_window_bits}, "
            f"client_max_window_bits={self.client_max_window_bits}, "
            f"require_client_max_window_bits={self.require_client_max_window_bits})"
        )

    def process_request_params(
        self,
        params: Sequence[ExtensionParameter],
        accepted_extensions: Sequence[Extension],
    ) -> tuple[list[ExtensionParameter], PerMessageDeflate]:
        """Answer one offer: return the response parameters and the extension.

        Args:
            params: The parameters of the offer.
            accepted_extensions: Extensions accepted before this one.

        Returns:
            The parameters of the response and the negotiated extension.

        Raises:
            NegotiationError: If the offer is invalid or cannot be accepted
                with this configuration; RFC 7692, 7 then requires declining
                it, and the server tries the next offer.
        """
        _check_not_accepted(accepted_extensions)
        offer = _parse_parameters(params, is_offer=True)

        # RFC 7692, 7.1.1.1: accept server_no_context_takeover by echoing it;
        # we may also include it unasked.
        server_no_context_takeover = (
            offer.server_no_context_takeover or self.server_no_context_takeover
        )

        # RFC 7692, 7.1.1.2: we may include client_no_context_takeover in any
        # response. When the client offered it, it won't take over context
        # anyway: saying so lets us drop our decompressor between messages.
        client_no_context_takeover = (
            offer.client_no_context_takeover or self.client_no_context_takeover
        )

        # RFC 7692, 7.1.2.1: when offered, server_max_window_bits must be in
        # the response, with the same or a smaller value; when not offered,
        # we may include it with any value.
        server_max_window_bits = offer.server_max_window_bits
        if self.server_max_window_bits is not None and (
            server_max_window_bits is None or self.server_max_window_bits < server_max_window_bits
        ):
            server_max_window_bits = self.server_max_window_bits

        # RFC 7692, 7.1.2.2: we may include client_max_window_bits only if
        # the client offered it, with at most the offered value, if any; a
        # value in the offer is a promise we can rely on in any case.
        client_max_window_bits: int | None
        if offer.client_max_window_bits is None:
            if self.require_client_max_window_bits:
                raise NegotiationError("the client did not offer client_max_window_bits")
            client_max_window_bits = None
        elif offer.client_max_window_bits is True:
            client_max_window_bits = self.client_max_window_bits
        elif self.client_max_window_bits is None:
            client_max_window_bits = offer.client_max_window_bits
        else:
            client_max_window_bits = min(offer.client_max_window_bits, self.client_max_window_bits)

        response = _Parameters(
            server_no_context_takeover,
            client_no_context_takeover,
            server_max_window_bits,
            client_max_window_bits,
        )
        extension = PerMessageDeflate(
            client_no_context_takeover,
            server_no_context_takeover,
            _MAX_WINDOW_BITS if client_max_window_bits is None else client_max_window_bits,
            _MAX_WINDOW_BITS if server_max_window_bits is None else server_max_window_bits,
            self.compress_settings,
        )
        return _build_parameters(response), extension


def enable_client_permessage_deflate(
    extensions: Sequence[ClientExtensionFactory] | None,
) -> list[ClientExtensionFactory]:
    """Return ``extensions`` plus a default permessage-deflate factory, unless one is there.

    The default uses ``memLevel=5``, which takes about half the memory of
    zlib's default for nearly the same compression on typical messages.

    Args:
        extensions: Client extension factories, or ``None``.

    Returns:
        A new list; ``extensions`` is not modified.
    """
    result = list(extensions or ())
    if not any(factory.name == _NAME for factory in result):
        result.append(ClientPerMessageDeflateFactory(compress_settings={"memLevel": 5}))
    return result


def enable_server_permessage_deflate(
    extensions: Sequence[ServerExtensionFactory] | None,
) -> list[ServerExtensionFactory]:
    """Return ``extensions`` plus a default permessage-deflate factory, unless one is there.

    The default limits the server's window to 12 bits and uses
    ``memLevel=5``: a server holds one compressor per connection, and these
    settings make it several times smaller for a small loss of compression.

    Args:
        extensions: Server extension factories, or ``None``.

    Returns:
        A new list; ``extensions`` is not modified.
    """
    result = list(extensions or ())
    if not any(factory.name == _NAME for factory in result):
        result.append(
            ServerPerMessageDeflateFactory(
                server_max_window_bits=12, compress_settings={"memLevel": 5}
            )
        )
    return result


_Factory = TypeVar("_Factory", ClientExtensionFactory, ServerExtensionFactory)


def with_compression(
    compression: str | None,
    extensions: Sequence[_Factory] | None,
    enable: Callable[[Sequence[_Factory] | None], list[_Factory]],
) -> Sequence[_Factory] | None:
    """Apply the ``compression`` option of ``serve()`` and ``connect()`` to ``extensions``.

    Internal API, shared by the I/O layers: ``"deflate"`` adds the default
    permessage-deflate factory with ``enable``
    (:func:`enable_client_permessage_deflate` or
    :func:`enable_server_permessage_deflate`); ``None`` leaves ``extensions``
    as they are.

    Raises:
        ValueError: If ``compression`` is neither ``"deflate"`` nor ``None``.
    """
    if compression == "deflate":
        return enable(extensions)
    if compression is not None:
        raise ValueError(f"unsupported compression: {compression}")
    return extensions
