"""HTTP status codes under the legacy API's names.

Seed 001 points to ``SWITCHING_PROTOCOLS`` in ``websockets.compatibility`` as
an example of a status that a legacy ``process_request`` hook may return.
Each name here is the :class:`http.HTTPStatus` member of the same name:
``process_request`` hooks, :exc:`~websockets_typed.exceptions.AbortHandshake`
and ``ServerConnection.respond`` all accept them.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Final

__all__ = [
    "BAD_REQUEST",
    "FORBIDDEN",
    "INTERNAL_SERVER_ERROR",
    "OK",
    "SERVICE_UNAVAILABLE",
    "SWITCHING_PROTOCOLS",
    "UNAUTHORIZED",
    "UPGRADE_REQUIRED",
]

SWITCHING_PROTOCOLS: Final = HTTPStatus.SWITCHING_PROTOCOLS
"""101: the answer to a successful WebSocket handshake."""
OK: Final = HTTPStatus.OK
"""200: e.g. a health check answered by ``process_request``."""
BAD_REQUEST: Final = HTTPStatus.BAD_REQUEST
"""400: a malformed handshake request."""
UNAUTHORIZED: Final = HTTPStatus.UNAUTHORIZED
"""401: the request needs credentials."""
FORBIDDEN: Final = HTTPStatus.FORBIDDEN
"""403: the credentials or the origin are refused."""
UPGRADE_REQUIRED: Final = HTTPStatus.UPGRADE_REQUIRED
"""426: the request is not a WebSocket handshake, or not of version 13."""
INTERNAL_SERVER_ERROR: Final = HTTPStatus.INTERNAL_SERVER_ERROR
"""500: the server failed while handling the handshake."""
SERVICE_UNAVAILABLE: Final = HTTPStatus.SERVICE_UNAVAILABLE
"""503: the server is shutting down or overloaded."""
