"""TLS for Jupyter hosts: the context a ``ca_file`` makes, and failed handshakes as sentences.

rtui never turns certificate verification off: a self-signed server is trusted by naming its
certificate (or its CA) in ``ca_file``, and every message says so.
"""

from __future__ import annotations

import errno
import ssl
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp

from rtui.core.jupyter.errors import ServerError, TLSProblem

__all__ = ["VERIFY_HINT", "ssl_context", "tls_problem"]

VERIFY_HINT = "rtui never turns verification off"

# OpenSSL's X509_V_ERR_* codes a person meets, and what to do about each.
_SELF_SIGNED = 18
_SELF_SIGNED_IN_CHAIN = 19
_UNKNOWN_ISSUER = (2, 20, 21)  # unable to get (local) issuer / verify the first certificate
_EXPIRED = 10
_NAME_MISMATCH = (62, 64)  # a host name, an IP address the certificate does not hold
# What an OpenSSL client says when the other side answered in plain HTTP.
_PLAIN_ANSWER = ("WRONG_VERSION_NUMBER", "record layer failure", "http request",
                 "packet length too long")


def ssl_context(ca_file: str | None) -> ssl.SSLContext | None:
    """The context that trusts ``ca_file`` (a PEM of the server's certificate or its CA);
    ``None`` without one, which means the system's CAs. TLSProblem when the file cannot be
    read or holds no certificate."""
    if not ca_file:
        return None
    path = Path(ca_file).expanduser()
    try:
        return ssl.create_default_context(cafile=str(path))
    except FileNotFoundError:
        raise TLSProblem(f"ca_file {path}: no such file") from None
    except ssl.SSLError as exc:  # an OSError too: first
        raise TLSProblem(f"ca_file {path} holds no PEM certificate rtui can read "
                         f"({exc.reason or exc})") from None
    except OSError as exc:
        raise TLSProblem(f"ca_file {path}: cannot read it ({exc.strerror or exc})") from None


def tls_problem(name: str, url: str, exc: BaseException) -> ServerError | None:
    """The sentence for a failed TLS handshake, or http spoken to https (and the reverse),
    from aiohttp's exception; ``None`` when ``exc`` is no TLS matter."""
    parts = urlsplit(url)
    where = f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return TLSProblem(_certificate_sentence(name, parts.hostname or where,
                                                exc.certificate_error))
    if isinstance(exc, ssl.SSLCertVerificationError):
        return TLSProblem(_certificate_sentence(name, parts.hostname or where, exc))
    if isinstance(exc, (aiohttp.ClientSSLError, ssl.SSLError)):
        text = str(exc)
        if any(marker.lower() in text.lower() for marker in _PLAIN_ANSWER):
            return TLSProblem(f"{name}: {where} answers without TLS: if it serves plain "
                              f"http, the url must start with http://")
        reason = getattr(getattr(exc, "os_error", exc), "reason", None) or text
        return TLSProblem(f"{name}: the TLS handshake with {where} failed ({reason})")
    if parts.scheme == "http" and _reset(exc):
        guess = TLSProblem(f"{name}: {where} closed the connection without an HTTP answer: "
                           f"if it serves https, the url must start with https://")
        guess.certain = False
        return guess
    return None


def _certificate_sentence(name: str, host: str, error: BaseException) -> str:
    code = getattr(error, "verify_code", None)
    what = getattr(error, "verify_message", None) or str(error)
    if code == _SELF_SIGNED:
        return (f"{name}'s certificate is self-signed: set ca_file to a file that holds it "
                f"({VERIFY_HINT})")
    if code == _SELF_SIGNED_IN_CHAIN:
        return (f"{name}'s certificate chain ends in a self-signed CA rtui does not trust: set "
                f"ca_file to that CA's certificate ({VERIFY_HINT})")
    if code in _UNKNOWN_ISSUER:
        return (f"{name}'s certificate was issued by a CA rtui does not know: set ca_file to "
                f"that CA's certificate, PEM ({VERIFY_HINT})")
    if code == _EXPIRED:
        return (f"{name}'s certificate has expired: its administrator must renew it "
                f"({VERIFY_HINT})")
    if code in _NAME_MISMATCH:
        return (f"{name}'s certificate is not for '{host}': put a name the certificate "
                f"holds in the url ({VERIFY_HINT})")
    return f"{name}'s certificate is not trusted: {what} ({VERIFY_HINT})"


def _reset(exc: BaseException) -> bool:
    """A connection the far side dropped before any HTTP answer (a TLS port spoken to in
    plain HTTP resets it)."""
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return True
    return isinstance(exc, OSError) and exc.errno in (errno.ECONNRESET, errno.EPIPE)
