"""A self-signed certificate made at start-up, for ``serve --tls``.

It needs the ``cryptography`` package, from the ``testserver`` extra
(``pip install 'websockets_typed[testserver]'``). The key never touches the
disk for longer than :meth:`ssl.SSLContext.load_cert_chain` needs to read
it: that method reads files only.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
import tempfile
from pathlib import Path

__all__ = ["MissingCryptography", "self_signed_context"]


class MissingCryptography(Exception):
    """``--tls`` without the ``cryptography`` package."""

    def __str__(self) -> str:
        return "--tls needs the cryptography package: pip install 'websockets_typed[testserver]'"


def _names(host: str) -> list[str]:
    """Names and addresses the certificate is valid for."""
    names = ["localhost", "127.0.0.1", "::1"]
    if host not in ("", "0.0.0.0", "::") and host not in names:
        names.append(host)
    return names


def self_signed_context(host: str) -> tuple[ssl.SSLContext, str]:
    """Make a key and a self-signed certificate for ``host`` and localhost.

    Returns:
        A server TLS context using them, and the certificate's SHA-256
        fingerprint, as browsers show it (``AB:CD:...``).

    Raises:
        MissingCryptography: If ``cryptography`` isn't installed.
    """
    try:
        from cryptography import x509  # noqa: PLC0415 - an optional dependency
        from cryptography.hazmat.primitives import hashes, serialization  # noqa: PLC0415
        from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # noqa: PLC0415
    except ImportError:
        raise MissingCryptography from None

    alternative_names: list[x509.GeneralName] = []
    for name in _names(host):
        try:
            alternative_names.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alternative_names.append(x509.DNSName(name))
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "websockets_typed test server")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)  # self-signed
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=7))
        # Clients check the host against this extension (RFC 6125, 6.4).
        .add_extension(x509.SubjectAlternativeName(alternative_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ) + certificate.public_bytes(serialization.Encoding.PEM)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "server.pem"
        # Readable by its owner only, from its creation: it holds the key.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(pem)
        context.load_cert_chain(path)
    digest = certificate.fingerprint(hashes.SHA256())
    return context, ":".join(f"{byte:02X}" for byte in digest)
