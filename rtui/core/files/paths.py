"""Where a file is: here or on a host, and how ``HOST:PATH`` is read (scp's rule).

Remote paths are POSIX strings; bytes that are not UTF-8 are kept as lone surrogates
(``surrogateescape``), so every name a host has can be named, listed and given back.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Container
from dataclasses import dataclass

__all__ = ["Local", "Location", "Remote", "parse_location", "printable", "remote_join",
           "remote_parent", "shown", "tilde"]


@dataclass(frozen=True, slots=True)
class Local:
    """A path on this machine."""

    path: str

    def __str__(self) -> str:
        return self.path


@dataclass(frozen=True, slots=True)
class Remote:
    """A path on host ``host`` (relative paths are relative to the login's home)."""

    host: str
    path: str

    def __str__(self) -> str:
        return f"{self.host}:{self.path}"


Location = Local | Remote


def parse_location(text: str, hosts: Container[str] | None = None) -> Location:
    """``HOST:PATH`` is remote when the colon comes before any slash (scp's rule), so
    ``./a:b`` and ``/x/a:b`` stay local; with ``hosts`` given, a ``HOST`` that is not one of
    them is local too (``notes:1.txt``). ``HOST:`` alone is the host's home."""
    colon = text.find(":")
    slash = text.find("/")
    if colon <= 0 or (0 <= slash < colon):
        return Local(text)
    host, path = text[:colon], text[colon + 1:]
    if hosts is not None and host not in hosts:
        return Local(text)
    return Remote(host, path or ".")


def remote_join(directory: str, *names: str) -> str:
    """``directory``/``name``… as a POSIX path."""
    return posixpath.join(directory, *names)


def remote_parent(path: str) -> str:
    """The directory holding ``path`` (``/`` for ``/``)."""
    trimmed = path.rstrip("/") or "/"
    return posixpath.dirname(trimmed) or "."


_CONTROL = {i: f"\\x{i:02x}" for i in range(32)} | {10: "\\n", 9: "\\t", 13: "\\r", 127: "\\x7f"}


def printable(name: str) -> str:
    """``name`` safe to print on one terminal line: control characters as escapes, bytes
    that were not UTF-8 (lone surrogates) as ``\\xNN``."""
    out = name.translate(_CONTROL)
    if any(0xDC80 <= ord(c) <= 0xDCFF for c in out):
        out = "".join(f"\\x{ord(c) - 0xDC00:02x}" if 0xDC80 <= ord(c) <= 0xDCFF else c
                      for c in out)
    return out


def tilde(path: str, home: str | None) -> str:
    """``path`` with ``home`` written ``~``, as shells show it (the path itself otherwise)."""
    if not home or home == "/":
        return path
    home = home.rstrip("/")
    if path == home:
        return "~"
    if path.startswith(home + "/"):
        return "~" + path[len(home):]
    return path


def shown(location: Location, remote_home: str | None = None) -> str:
    """A location as a person reads it: homes as ``~`` (this machine's, and the host's when
    ``remote_home`` is known), names printable."""
    if isinstance(location, Remote):
        return f"{location.host}:{printable(tilde(location.path, remote_home))}"
    return printable(tilde(location.path, os.path.expanduser("~")))
