"""WebSocket extensions: the base interfaces and permessage-deflate (RFC 7692)."""

from .base import ClientExtensionFactory, Extension, ServerExtensionFactory
from .permessage_deflate import (
    ClientPerMessageDeflateFactory,
    CompressSettings,
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
    enable_client_permessage_deflate,
    enable_server_permessage_deflate,
)

__all__ = [
    "ClientExtensionFactory",
    "ClientPerMessageDeflateFactory",
    "CompressSettings",
    "Extension",
    "PerMessageDeflate",
    "ServerExtensionFactory",
    "ServerPerMessageDeflateFactory",
    "enable_client_permessage_deflate",
    "enable_server_permessage_deflate",
]
