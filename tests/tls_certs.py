"""Certificates made in-process for TLS tests (cryptography, already asyncssh's dependency):
a self-signed one, an expired one, one for another name, and a leaf signed by a CA."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

__all__ = ["CertFiles", "make_cert"]


@dataclass(frozen=True)
class CertFiles:
    cert: Path  # the certificate (with the chain when one was asked for)
    key: Path
    ca: Path | None = None  # the CA's certificate, when signed by one


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _build(subject: str, key: ec.EllipticCurvePrivateKey, issuer: str,
           issuer_key: ec.EllipticCurvePrivateKey, *, names: tuple[str, ...], ca: bool,
           expired: bool) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    start, end = ((now - datetime.timedelta(days=10), now - datetime.timedelta(days=1))
                  if expired else (now - datetime.timedelta(hours=1),
                                   now + datetime.timedelta(days=2)))
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(start).not_valid_after(end)
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                              critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                   issuer_key.public_key()), critical=False))
    if names:
        alt: list[x509.GeneralName] = []
        for name in names:
            try:
                alt.append(x509.IPAddress(ipaddress.ip_address(name)))
            except ValueError:
                alt.append(x509.DNSName(name))
        builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def make_cert(directory: Path, label: str, *, names: tuple[str, ...] = ("127.0.0.1",),
              expired: bool = False, signed_by_ca: bool = False,
              send_chain: bool = False) -> CertFiles:
    """Write ``label``.pem / ``label``.key (and ``label``-ca.pem) under ``directory``."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem = serialization.Encoding.PEM
    ca_path = None
    if signed_by_ca:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_cert = _build("rtui test CA", ca_key, "rtui test CA", ca_key, names=(), ca=True,
                         expired=False)
        cert = _build(names[0], key, "rtui test CA", ca_key, names=names, ca=False,
                      expired=expired)
        ca_path = directory / f"{label}-ca.pem"
        ca_path.write_bytes(ca_cert.public_bytes(pem))
        chain = cert.public_bytes(pem) + (ca_cert.public_bytes(pem) if send_chain else b"")
    else:
        cert = _build(names[0], key, names[0], key, names=names, ca=False, expired=expired)
        chain = cert.public_bytes(pem)
    cert_path, key_path = directory / f"{label}.pem", directory / f"{label}.key"
    cert_path.write_bytes(chain)
    key_path.write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return CertFiles(cert_path, key_path, ca_path)
