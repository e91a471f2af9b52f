"""The real proxy servers of tests/proxy_helpers.py, as module-scoped pytest fixtures.

A test module loads them with ``pytest_plugins = ["proxy_fixtures"]`` (a
plugin module of its own, never imported directly, so that pytest rewrites
its asserts): tests/aio/test_asyncio_proxy.py, tests/sync/test_sync_proxy.py and
tests/sync/test_sync_tls_in_tls.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from proxy_helpers import PASSWORD, TLS, USERNAME, ProxyProcess, start_pproxy, start_tinyproxy


@pytest.fixture(scope="module")
def proxy_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("proxies")


@pytest.fixture(scope="module")
def tls(proxy_tmp: Path) -> TLS:
    return TLS(proxy_tmp)


@pytest.fixture(scope="module")
def open_proxy(proxy_tmp: Path) -> Iterator[ProxyProcess]:
    """pproxy: HTTP, SOCKS4 and SOCKS5 on one port, without authentication."""
    proxy = start_pproxy(proxy_tmp)
    yield proxy
    proxy.stop()


@pytest.fixture(scope="module")
def auth_proxy(proxy_tmp: Path) -> Iterator[ProxyProcess]:
    """pproxy: HTTP and SOCKS5 with a user name and password."""
    proxy = start_pproxy(proxy_tmp, auth=f"{USERNAME}:{PASSWORD}", protocols="http+socks5")
    yield proxy
    proxy.stop()


@pytest.fixture(scope="module")
def tls_proxy(proxy_tmp: Path, tls: TLS) -> Iterator[ProxyProcess]:
    """pproxy: HTTP over TLS (an https:// proxy)."""
    proxy = start_pproxy(proxy_tmp, protocols="http+ssl", cert=tls.pem)
    yield proxy
    proxy.stop()


@pytest.fixture(scope="module")
def tls_auth_proxy(proxy_tmp: Path, tls: TLS) -> Iterator[ProxyProcess]:
    """pproxy: HTTP over TLS with a user name and password."""
    proxy = start_pproxy(
        proxy_tmp, auth=f"{USERNAME}:{PASSWORD}", protocols="http+ssl", cert=tls.pem
    )
    yield proxy
    proxy.stop()


@pytest.fixture(scope="module")
def tinyproxy(proxy_tmp: Path) -> Iterator[ProxyProcess]:
    proxy = start_tinyproxy(proxy_tmp, auth=False)
    yield proxy
    proxy.stop()


@pytest.fixture(scope="module")
def tinyproxy_auth(proxy_tmp: Path) -> Iterator[ProxyProcess]:
    proxy = start_tinyproxy(proxy_tmp, auth=True)
    yield proxy
    proxy.stop()
