"""What attaching to a kernel needs, remembered from its launch or last attach (per host).

With it, ``rtui run HOST -k ID`` opens the kernel's channels, follows its keeper and sends
kernel_info right after the login, while the agent starts and resolves the id: on a far
link that is the agent's round trips saved (see HostKernels.attach, which trusts nothing
here before the agent has vouched for it). Likewise the host's routes (which kinds of
channel its server forwards), so those channels need not wait for the routes' probe.

Per host, one small file ``<state dir>/kernels/<host>.json``: 0600 in a 0700 directory,
since it holds each kernel's key. Only what attaching needs is kept: the transport, the
address and ports, the key and its scheme, the remote connection file and the keeper's
socket. Losing it costs only the round trips.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rtui.core import locations
from rtui.core.errors import RtuiError
from rtui.core.kernels.connection_info import ConnectionFileError, check_connection_info
from rtui.core.private import make_private_dir, write_private
from rtui.core.safe_read import read_regular_file

__all__ = ["KEPT_FIELDS", "RememberedKernel", "RememberedKernels", "RouteKinds"]

log = logging.getLogger(__name__)

KEPT_FIELDS = ("transport", "ip", "shell_port", "iopub_port", "stdin_port", "control_port",
               "hb_port", "key", "signature_scheme")
"""The connection info's fields kept: what reaching the kernel and signing for it need."""

_MAX_KERNELS = 50  # per host; the least recently saved are forgotten first
MAX_FILE_BYTES = 4 << 20  # a host's file (50 kernels take ~50 KB); a bigger one is not ours


@dataclass(frozen=True)
class RouteKinds:
    """Which direct channels the host's server opened at the last connection."""

    unix: bool
    tcp: bool


@dataclass(frozen=True)
class RememberedKernel:
    """A kernel as its launch or last attach found it."""

    info: dict[str, Any]  # the checked connection info, KEPT_FIELDS only
    connection_file: str | None  # its path on the host
    keeper: str | None  # its keeper's socket on the host

    def same(self, info: dict[str, Any], connection_file: str | None,
             keeper: str | None) -> bool:
        """Whether the host's answer is what is remembered (a kernel restarted with a new
        key, on other ports or with another keeper is not)."""
        return (self.info == kept(info) and self.connection_file == connection_file
                and self.keeper == keeper)


def kept(info: dict[str, Any]) -> dict[str, Any]:
    """The fields of ``info`` that are remembered."""
    return {name: info[name] for name in KEPT_FIELDS if name in info}


class RememberedKernels:
    """The per-host files; reads and writes are whole (they are tiny) and never raise."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or locations.state_dir() / "kernels"

    def get(self, host: str, kernel_id: str) -> RememberedKernel | None:
        """What is remembered of this kernel, None when nothing (or nothing usable) is."""
        entry = self._load(host).get("kernels", {}).get(kernel_id)
        if not isinstance(entry, dict):
            return None
        try:
            info = kept(check_connection_info(entry.get("info"), f"{self._path(host)}"))
        except ConnectionFileError as exc:
            log.warning("ignoring what is remembered of kernel %s: %s", kernel_id, exc)
            return None
        connection_file, keeper = entry.get("connection_file"), entry.get("keeper")
        return RememberedKernel(
            info, connection_file if isinstance(connection_file, str) else None,
            keeper if isinstance(keeper, str) else None)

    def put(self, host: str, kernel_id: str, kernel: RememberedKernel) -> None:
        """Remember ``kernel`` (the file is written only when this changes it)."""
        data = self._load(host)
        kernels = data.setdefault("kernels", {})
        entry = {"info": kept(kernel.info), "connection_file": kernel.connection_file,
                 "keeper": kernel.keeper}
        if kernels.get(kernel_id) == entry:
            return
        kernels.pop(kernel_id, None)
        kernels[kernel_id] = entry  # last saved last: trimming drops the oldest
        while len(kernels) > _MAX_KERNELS:
            del kernels[next(iter(kernels))]
        self._save(host, data)

    def forget(self, host: str, kernel_id: str) -> None:
        """Forget a kernel that is gone (stopped, or the host does not know it)."""
        data = self._load(host)
        if data.get("kernels", {}).pop(kernel_id, None) is not None:
            self._save(host, data)

    def routes(self, host: str) -> RouteKinds | None:
        """The direct channels the host's server opened at the last connection."""
        routes = self._load(host).get("routes")
        if not isinstance(routes, dict):
            return None
        unix, tcp = routes.get("unix"), routes.get("tcp")
        if not isinstance(unix, bool) or not isinstance(tcp, bool):
            return None
        return RouteKinds(unix, tcp)

    def put_routes(self, host: str, kinds: RouteKinds) -> None:
        data = self._load(host)
        entry = {"unix": kinds.unix, "tcp": kinds.tcp}
        if data.get("routes") != entry:
            data["routes"] = entry
            self._save(host, data)

    # -- the file ----------------------------------------------------------------------------

    def _path(self, host: str) -> Path:
        """``<dir>/<host>.json``; a name that is not a plain file name gets a hash."""
        if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,80}", host):
            return self.directory / f"{host}.json"
        digest = hashlib.sha256(host.encode()).hexdigest()[:16]
        return self.directory / f"{re.sub(r'[^A-Za-z0-9._-]', '_', host)[:40]}-{digest}.json"

    def _load(self, host: str) -> dict[str, Any]:
        path = self._path(host)
        try:
            data = json.loads(read_regular_file(path, MAX_FILE_BYTES))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("ignoring %s: %s", path, exc)
            return {}
        if not isinstance(data, dict):
            return {}
        if not isinstance(data.get("kernels"), dict):
            data["kernels"] = {}
        return data

    def _save(self, host: str, data: dict[str, Any]) -> None:
        path = self._path(host)
        try:
            make_private_dir(self.directory.parent)
            locations.private_dir(self.directory)  # it holds keys: 0700, ours, no symlink
            write_private(path, json.dumps(data, indent=1).encode())
        except (OSError, RtuiError) as exc:
            log.warning("cannot save %s: %s", path, exc)
