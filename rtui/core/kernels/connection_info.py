"""Kernel connection files checked before use: one message per problem, never a traceback.

A connection file comes from a person (``rtui run -k FILE``), from a host's runtime dir or
from the agent's answer; any of them can be wrong, truncated, binary or hostile. jupyter_client
takes whatever it is given and fails late (a TraitError, a zmq error, a 30 s silence), so
everything it would choke on is refused here first, with every problem named at once.

The rules are jupyter_client's: ``transport`` tcp or ipc (default tcp), ``ip`` an address
(tcp) or the path the ipc sockets are named after (``{ip}-{port}``), five ports, ``key`` a
string (empty: messages are not signed), ``signature_scheme`` ``hmac-<a hashlib hash>``
(default hmac-sha256). ``kernel_name`` is kept when it is a string; other keys are ignored.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import os
import re
import stat
from pathlib import Path
from typing import Any

from rtui.core.errors import KernelError
from rtui.core.safe_read import file_kind

__all__ = [
    "MAX_FILE_BYTES",
    "PORT_NAMES",
    "ConnectionFileError",
    "check_connection_info",
    "parse_connection_text",
    "read_connection_file",
]

PORT_NAMES = ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")

MAX_FILE_BYTES = 1 << 20
"""A connection file is a few hundred bytes; anything over 1 MiB is not one (and is not read)."""

_SUN_PATH_MAX = 107  # Linux's sun_path holds 108 bytes, the last a NUL
_HOSTNAME = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_.-]{0,252}[A-Za-z0-9_.])?")
_SHOWN = 40  # characters of a bad value quoted in a message


class ConnectionFileError(KernelError):
    """A connection file that cannot be used; ``problems`` are the single things wrong."""

    default_title = "Connection file"

    def __init__(self, where: str, problems: list[str]) -> None:
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"{where} is not a usable kernel connection file:\n{lines}")
        self.where = where
        self.problems = tuple(problems)


def read_connection_file(path: str | Path, where: str | None = None) -> dict[str, Any]:
    """Read, parse and check a local connection file without ever blocking on it.

    Only a regular file is opened (a FIFO would block the open, a device would never end),
    non-blocking, and at most :data:`MAX_FILE_BYTES` + 1 bytes are read.
    """
    shown = where or str(path)
    try:  # looked at before opening: opening a device can have effects of its own
        mode = os.stat(path).st_mode
        if not stat.S_ISREG(mode):
            raise ConnectionFileError(shown, [f"it is {file_kind(mode)}, not a file"])
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise ConnectionFileError(shown, ["the file does not exist"]) from None
    except OSError as exc:
        raise ConnectionFileError(shown, [f"cannot open it: {exc.strerror or exc}"]) from None
    try:
        mode = os.fstat(fd).st_mode  # again: it may have been replaced in between
        if not stat.S_ISREG(mode):
            raise ConnectionFileError(shown, [f"it is {file_kind(mode)}, not a file"])
        data = b""
        while len(data) <= MAX_FILE_BYTES:
            chunk = os.read(fd, MAX_FILE_BYTES + 1 - len(data))
            if not chunk:
                break
            data += chunk
    except OSError as exc:
        raise ConnectionFileError(shown, [f"cannot read it: {exc.strerror or exc}"]) from None
    finally:
        os.close(fd)
    return parse_connection_text(data, shown)


def parse_connection_text(data: bytes | str, where: str) -> dict[str, Any]:
    """Parse a connection file's bytes (UTF-8 JSON, bounded) and check what they hold."""
    if len(data) > MAX_FILE_BYTES:
        raise ConnectionFileError(
            where, [f"it is over {MAX_FILE_BYTES // 1024} KiB (a connection file is a few "
                    "hundred bytes)"])
    if isinstance(data, bytes):
        if b"\0" in data:
            raise ConnectionFileError(where, ["it is binary (holds NUL bytes), not JSON"])
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ConnectionFileError(
                where, [f"it is not UTF-8 text (byte {exc.start}: {exc.reason})"]) from None
    else:
        text = data
    if not text.strip():
        raise ConnectionFileError(where, ["it is empty"])
    try:
        info = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConnectionFileError(
            where, [f"it is not valid JSON ({exc.msg}, line {exc.lineno} column {exc.colno})"]
        ) from None
    except RecursionError:
        raise ConnectionFileError(where, ["its JSON is nested too deeply"]) from None
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        raise ConnectionFileError(where, [f"it is not usable JSON ({exc})"]) from None
    return check_connection_info(info, where)


def check_connection_info(info: Any, where: str) -> dict[str, Any]:
    """The connection info in ``info`` with defaults filled in and unknown keys dropped;
    ConnectionFileError listing every problem when it is not usable."""
    if not isinstance(info, dict):
        raise ConnectionFileError(
            where, [f"it holds {_json_kind(info)}, not a JSON object of connection fields"])
    problems: list[str] = []
    clean: dict[str, Any] = {}

    transport = info.get("transport", "tcp")
    if transport not in ("tcp", "ipc"):
        problems.append(f"transport: must be \"tcp\" or \"ipc\", got {_show(transport)}")
        transport = None
    clean["transport"] = transport

    for name in PORT_NAMES:
        problem = _port_problem(info, name)
        if problem:
            problems.append(f"{name}: {problem}")
        else:
            clean[name] = info[name]
    ports = [n for n in PORT_NAMES if n in clean]
    for i, name in enumerate(ports):
        same = [other for other in ports[i + 1:] if clean[other] == clean[name]]
        if same and not any(clean[p] == clean[name] for p in ports[:i]):
            problems.append(f"{name} and {' and '.join(same)}: the same port ({clean[name]}); "
                            "each channel needs its own")

    ip_problem = _ip_problem(info, transport, clean)
    if ip_problem:
        problems.append(f"ip: {ip_problem}")

    key = info.get("key")
    if "key" not in info:
        problems.append("key: missing (the key the kernel signs its messages with)")
    elif not isinstance(key, str):  # its value is never quoted: whatever its type, a secret
        problems.append(f"key: must be a string, got {_json_kind(key, quoted=False)}")
    else:
        clean["key"] = key

    scheme = info.get("signature_scheme", "hmac-sha256")
    scheme_problem = _scheme_problem(scheme)
    if scheme_problem:
        problems.append(f"signature_scheme: {scheme_problem}")
    else:
        clean["signature_scheme"] = scheme

    kernel_name = info.get("kernel_name")
    if isinstance(kernel_name, str):  # a label only: a wrong type is not worth refusing
        clean["kernel_name"] = kernel_name

    if problems:
        raise ConnectionFileError(where, problems)
    return clean


def _port_problem(info: dict[str, Any], name: str) -> str | None:
    if name not in info:
        return "missing"
    value = info[name]
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return f"must be a port number, got {_json_kind(value)}"
    if isinstance(value, str):
        return f"must be a number, got the string {_show(value)}"
    if isinstance(value, float):
        return f"must be a whole number, got {_show(value)}"
    if not 1 <= value <= 65535:
        return f"must be between 1 and 65535, got {_show(value)}"
    return None


def _ip_problem(info: dict[str, Any], transport: str | None, clean: dict[str, Any]) -> str | None:
    ip = info.get("ip", "127.0.0.1" if transport != "ipc" else None)
    if ip is None:
        return "missing (for ipc, the path the kernel's sockets are named after)"
    if not isinstance(ip, str):
        return f"must be a string, got {_json_kind(ip)}"
    if not ip:
        return "must not be empty"
    if any(ord(c) < 32 or c == "\x7f" for c in ip):
        return f"holds control characters: {_show(ip)}"
    if transport == "ipc":
        if not ip.startswith("/"):
            return (f"an ipc path must be absolute (the kernel's working directory is not "
                    f"known here), got {_show(ip)}")
        longest = max([len(str(clean.get(n, 65535))) for n in PORT_NAMES])
        if len(ip.encode("utf-8", "surrogatepass")) + 1 + longest > _SUN_PATH_MAX:
            return (f"the ipc path is too long for a Unix socket (at most {_SUN_PATH_MAX} "
                    f"bytes with its -port suffix): {_show(ip)}")
    elif transport == "tcp" and ip != "*" and not _is_address(ip):
        return f"not an IP address or host name: {_show(ip)}"
    clean["ip"] = ip
    return None


def _is_address(ip: str) -> bool:
    try:
        ipaddress.ip_address(ip)
    except ValueError:
        return bool(_HOSTNAME.fullmatch(ip))
    return True


def _scheme_problem(scheme: Any) -> str | None:
    if not isinstance(scheme, str):
        return f"must be a string like \"hmac-sha256\", got {_json_kind(scheme)}"
    if not scheme.startswith("hmac-"):
        return f"must be \"hmac-<hash>\" (e.g. hmac-sha256), got {_show(scheme)}"
    name = scheme[len("hmac-"):]
    # jupyter_client takes getattr(hashlib, name): only hashlib's own hash constructors.
    if name not in hashlib.algorithms_available or not hasattr(hashlib, name):
        return f"unknown hash {_show(name)} (known: sha256, sha512, sha1, md5, ...)"
    try:
        hmac.new(b"k", b"", getattr(hashlib, name))
    except (TypeError, ValueError):
        return f"{name} cannot be used for an HMAC"
    return None


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "..."


def _json_kind(value: Any, quoted: bool = True) -> str:
    """What a JSON value is, in JSON's words (the file's author wrote JSON); a number or a
    string with its value unless not ``quoted``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return f"the number {_show(value)}" if quoted else "a number"
    if isinstance(value, str):
        return f"the string {_show(value)}" if quoted else "a string"
    if isinstance(value, list):
        return f"a list of {len(value)} item{'s' if len(value) != 1 else ''}"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
