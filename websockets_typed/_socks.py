"""SOCKS proxies through python-socks, shared by the asyncio and threading clients.

python-socks is an optional dependency (the ``socks`` extra): it's imported
when a SOCKS proxy is used, and its absence is reported with the command
that installs it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Generator
from typing import TYPE_CHECKING, TypedDict

from .exceptions import ProxyError
from .proxy import Proxy

if TYPE_CHECKING:
    from python_socks import ProxyType

__all__ = ["SocksArguments", "socks_arguments", "socks_errors"]


class SocksArguments(TypedDict):
    """Arguments of python-socks' ``Proxy`` classes, sync and asyncio alike."""

    proxy_type: ProxyType
    host: str
    port: int
    username: str | None
    password: str | None
    rdns: bool


def socks_arguments(proxy: Proxy) -> SocksArguments:
    """Describe ``proxy`` for python-socks.

    Raises:
        ImportError: If python-socks isn't installed, naming the extra.
    """
    try:
        from python_socks import ProxyType  # noqa: PLC0415
    except ImportError as exc:
        raise ImportError(
            f"connecting through a {proxy.scheme}:// proxy needs python-socks: "
            "pip install 'websockets_typed[socks]'"
        ) from exc
    return SocksArguments(
        proxy_type=ProxyType.SOCKS5 if proxy.scheme.startswith("socks5") else ProxyType.SOCKS4,
        host=proxy.host,
        port=proxy.port,
        username=proxy.username,
        password=proxy.password,
        # socks5h and socks4a let the proxy resolve the host name.
        rdns=proxy.scheme in ("socks5h", "socks4a"),
    )


@contextlib.contextmanager
def socks_errors(proxy: Proxy) -> Generator[None]:
    """Turn python-socks' refusals into :exc:`~websockets_typed.exceptions.ProxyError`.

    A refusal, a bad reply or a closed connection become a ``ProxyError``
    naming the proxy without its password; ``OSError`` (the proxy can't be
    reached) and ``TimeoutError`` propagate as they are.
    """
    from python_socks import ProxyError as SocksProxyError  # noqa: PLC0415

    try:
        yield
    except SocksProxyError as exc:
        raise ProxyError(f"SOCKS proxy {proxy} failed: {exc}") from exc
