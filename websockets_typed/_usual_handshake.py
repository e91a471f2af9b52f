"""The usual opening handshake, server side, in two calls (RFC 6455, 4.2).

Most handshake requests are alike: a ``GET`` whose headers are given once
each, in printable ASCII, with the ``Connection``, ``Upgrade``, key and
version that browsers and libraries send. :func:`usual_request` parses and
checks such a request and computes its ``Sec-WebSocket-Accept`` in one
call; :func:`usual_response` builds the 101 that answers it. With the C
accelerator, each is one C call, where the Python steps cost half of S4's
sans-I/O handshake (bench/micro.py --callgrind). The server still decides,
in Python, on what it was configured to check: hosts, origins, extensions,
subprotocols.

Anything else returns ``None``: :class:`~websockets_typed.server.ServerProtocol`
then parses and checks the request as always, with the same errors, status
codes and messages. The pure-Python versions here are the specification of
the C ones (tests/sansio/test_usual_request.py holds them to identical
results) and serve when the C accelerator is missing or disabled.

Internal API.
"""

from __future__ import annotations

from typing import Final, Protocol

from .datastructures import (
    _COMMON_NAMES,  # pyright: ignore[reportPrivateUsage]
    _COMMON_VALUES,  # pyright: ignore[reportPrivateUsage]
    Headers,
    headers_from_parts,
    py_usual_fields,
    usual_headers,
)
from .frames import SPEEDUPS
from .handshake import _usual_key, accept_key  # pyright: ignore[reportPrivateUsage]
from .http11 import (
    _REQUEST_SLOTS,  # pyright: ignore[reportPrivateUsage]
    _RESPONSE_SLOTS,  # pyright: ignore[reportPrivateUsage]
    Request,
    Response,
    checked_response,
    new_instance,
    split_whole_head,
)
from .typing import Origin

__all__ = [
    "UsualRequest",
    "py_usual_request",
    "py_usual_response",
    "usual_request",
    "usual_response",
]

UsualRequest = tuple[Request, str, Origin | None, list[str], int]
"""What :func:`usual_request` returns: the request, its ``Sec-WebSocket-Accept``,
its ``Origin`` if any, and the list of names and values of its headers with
its length then, to tell whether they changed since."""

# The headers that need decisions in Python: a body (RFC 7230, 3.3.3; see
# http11._check_no_body).
_UNUSUAL_NAMES: Final = frozenset({"content-length", "transfer-encoding"})


def py_usual_request(
    buffer: bytearray, max_line_length: int, max_num_headers: int, /
) -> UsualRequest | None:
    """Parse and check the usual handshake request at the start of ``buffer``.

    This is :func:`usual_request` without the C accelerator. The request is
    usual when :func:`~websockets_typed.http11.parse_whole_request` reads
    it with only usual fields (see
    :func:`~websockets_typed.datastructures.py_usual_fields`), as a ``GET``
    without a body, whose ``Connection``, ``Upgrade``, ``Sec-WebSocket-Key``
    and ``Sec-WebSocket-Version`` pass the checks as usual (see
    ``handshake._usual_key``).

    Returns:
        See :data:`UsualRequest`; the request is removed from ``buffer``.
        ``None`` unless the request is usual, leaving ``buffer`` alone.

    Raises:
        ValueError: If a limit is negative.
    """
    if max_line_length < 0 or max_num_headers < 0:
        raise ValueError("limits must not be negative")
    whole = split_whole_head(buffer, max_line_length, max_num_headers)
    if whole is None:
        return None
    end, head, match, start = whole
    if match[1] != "GET":
        return None
    headers = usual_headers(head, start, max_line_length, max_num_headers, py_usual_fields)
    if headers is None:
        return None
    fields = headers._dict  # pyright: ignore[reportPrivateUsage]
    if not _UNUSUAL_NAMES.isdisjoint(fields):
        return None
    key = _usual_key(headers)
    if key is None:
        return None
    del buffer[: end + 4]
    request = new_instance(Request, _REQUEST_SLOTS, match[2], headers, "GET")
    # Each name once: a value is a str.
    origin = fields.get("origin")
    assert not isinstance(origin, list)
    origin = None if origin is None else Origin(origin)
    items = headers._list  # pyright: ignore[reportPrivateUsage]
    return request, accept_key(key), origin, items, len(items)


def py_usual_response(accept: str, date: str, lines: bytes, /) -> Response:
    """Build the 101 response of the usual handshake.

    This is :func:`usual_response` without the C accelerator. Its headers
    are ``Date``, ``Upgrade``, ``Connection`` and ``Sec-WebSocket-Accept``,
    as :func:`~websockets_typed.handshake.build_response` adds them after
    ``Date``, built at once with their serialization: ``lines``, the lines
    up to ``Sec-WebSocket-Accept:`` (see ``server._dated``), then ``accept``.
    """
    headers = headers_from_parts(
        {
            "date": date,
            "upgrade": "websocket",
            "connection": "Upgrade",
            "sec-websocket-accept": accept,
        },
        [
            "Date",
            date,
            "Upgrade",
            "websocket",
            "Connection",
            "Upgrade",
            "Sec-WebSocket-Accept",
            accept,
        ],
        lines + accept.encode() + b"\r\n",
    )
    return checked_response(101, "Switching Protocols", headers)


class _UsualRequest(Protocol):
    def __call__(
        self, buffer: bytearray, max_line_length: int, max_num_headers: int, /
    ) -> UsualRequest | None: ...


class _UsualResponse(Protocol):
    def __call__(self, accept: str, date: str, lines: bytes, /) -> Response: ...


def _select() -> tuple[_UsualRequest, _UsualResponse]:
    """Use the C accelerator if :func:`~websockets_typed.frames.apply_mask` does."""
    if SPEEDUPS:
        from . import _speedups  # noqa: PLC0415

        _speedups.handshake_types(
            Request,
            _REQUEST_SLOTS,
            Headers,
            _HEADERS_SLOTS,
            Response,
            _RESPONSE_SLOTS,
            _COMMON_NAMES,
            _COMMON_VALUES,
        )
        return _speedups.usual_request, _speedups.usual_response
    return py_usual_request, py_usual_response


# The slots of Headers, in the order of headers_from_parts()'s arguments.
_HEADERS_SLOTS: Final = tuple(Headers.__dict__[name] for name in ("_dict", "_list", "_serialized"))

usual_request, usual_response = _select()
"""See :func:`py_usual_request` and :func:`py_usual_response`; the C
accelerator's versions when available."""
