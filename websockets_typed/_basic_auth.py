"""HTTP Basic authentication for servers, shared by the asyncio and threading layers.

Internal API: :func:`websockets_typed.asyncio.server.basic_auth` and
:func:`websockets_typed.sync.server.basic_auth` build their
``process_request`` hooks from these pieces, so that credentials are parsed
and compared in one place.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable
from typing import TypeAlias, cast

from .datastructures import MultipleValuesError
from .exceptions import InvalidHeader
from .headers import parse_authorization_basic
from .http11 import Request

__all__ = ["password_checker", "read_credentials"]

# A user name and its password.
_Credentials: TypeAlias = tuple[str, str]


def password_checker(
    credentials: _Credentials | Iterable[_Credentials],
) -> Callable[[str, str], bool]:
    """Return ``check(username, password)`` for a table of credentials.

    Passwords are compared in constant time (:func:`hmac.compare_digest` on
    their SHA-256 digests, so that the time tells nothing about their content
    or length), and unknown user names take as long as known ones.

    Raises:
        TypeError: If ``credentials`` is not a pair or pairs of strings.
    """
    digests = _password_digests(credentials)
    # Unknown user names are compared with this, to take the same time.
    missing = hashlib.sha256(b"no such user").digest()

    def check(username: str, password: str) -> bool:
        expected = digests.get(username)
        actual = hashlib.sha256(password.encode()).digest()
        valid = hmac.compare_digest(actual, missing if expected is None else expected)
        return valid and expected is not None

    return check


def read_credentials(request: Request) -> _Credentials | str:
    """Return the user name and password of a request, or why there are none.

    Returns:
        ``(username, password)`` from the ``Authorization`` header, or the
        text of the 401 response to send: missing or unsupported credentials.
    """
    try:
        authorization = request.headers.get("Authorization")
    except MultipleValuesError:
        authorization = ""
    if authorization is None:
        return "Missing credentials\n"
    try:
        return parse_authorization_basic(authorization)
    except InvalidHeader:
        return "Unsupported credentials\n"


def _password_digests(credentials: _Credentials | Iterable[_Credentials]) -> dict[str, bytes]:
    """Map user names to the SHA-256 digests of their passwords."""
    pairs: list[object]
    value = cast("object", credentials)
    if (
        isinstance(value, tuple)
        and len(cast("tuple[object, ...]", value)) == 2
        and all(isinstance(item, str) for item in cast("tuple[object, ...]", value))
    ):
        pairs = [value]
    elif isinstance(value, Iterable):
        pairs = list(cast("Iterable[object]", value))
    else:
        raise TypeError(f"invalid credentials argument: {credentials!r}")
    digests: dict[str, bytes] = {}
    for pair in pairs:
        if not (
            isinstance(pair, tuple)
            and len(cast("tuple[object, ...]", pair)) == 2
            and all(isinstance(item, str) for item in cast("tuple[object, ...]", pair))
        ):
            raise TypeError(f"invalid credentials argument: {pair!r}")
        username, password = cast("tuple[str, str]", pair)
        digests[username] = hashlib.sha256(password.encode()).digest()
    return digests
