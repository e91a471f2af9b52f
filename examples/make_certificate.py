"""Write a self-signed certificate and its key for localhost to ``localhost.pem``.

The secure examples, ``secure_server.py`` and ``secure_client.py``, read
that file, beside this one. Make it once::

    python examples/make_certificate.py

It needs the ``cryptography`` package (``pip install cryptography``). Such
a certificate is for trying TLS on your machine only: browsers and other
clients don't trust it unless told to, as ``secure_client.py`` does.
"""

import datetime
import ipaddress
import pathlib

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

LOCALHOST_PEM = pathlib.Path(__file__).with_name("localhost.pem")


def make_certificate(path: pathlib.Path) -> None:
    """Write a key and a certificate valid for localhost, 127.0.0.1 and ::1."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        # Self-signed: the subject is its own issuer.
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        # Clients check the host name against this extension, not the common name.
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.IPAddress(ipaddress.ip_address("::1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # The file holds a private key: readable by its owner only.
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_bytes(key_pem + certificate.public_bytes(serialization.Encoding.PEM))


if __name__ == "__main__":
    make_certificate(LOCALHOST_PEM)
    print(f"Wrote {LOCALHOST_PEM}")
