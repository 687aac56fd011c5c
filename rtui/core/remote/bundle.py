"""The agent as one file for the host: a zipapp of ``rtui/agent`` named by its content.

Built in memory with ``zipfile``, deterministically (sorted entries, fixed timestamps and
modes), so the same sources always give the same bytes and the same name; any change to them
gives a new name, and an outdated copy cached on a host is never run. Inside the zip the
package is ``rtui_agent`` (its modules import each other relatively), beside a ``__main__``
that serves it: ``python agent-....pyz`` runs the agent.
"""

from __future__ import annotations

import functools
import hashlib
import io
import zipfile
from dataclasses import dataclass
from importlib import resources

from rtui.agent.protocol import VERSION

__all__ = ["PACKAGE", "AgentBundle", "agent_bundle", "agent_sources", "build_bundle"]

PACKAGE = "rtui_agent"  # the package's name inside the zipapp
_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can carry
_MAIN = f"from {PACKAGE}.__main__ import main\nmain()\n"


@dataclass(frozen=True)
class AgentBundle:
    """The zipapp's bytes and the name it is cached under on a host."""

    data: bytes
    name: str


def agent_sources() -> dict[str, bytes]:
    """The agent package's modules, by file name (``protocol.py``, ...)."""
    root = resources.files("rtui.agent")
    return {entry.name: entry.read_bytes() for entry in root.iterdir()
            if entry.name.endswith(".py") and entry.is_file()}


@functools.cache
def agent_bundle() -> AgentBundle:
    """The zipapp of this rtui's agent, built once per process."""
    return build_bundle(agent_sources())


def build_bundle(sources: dict[str, bytes]) -> AgentBundle:
    """The zipapp of the package whose modules are ``sources`` (by file name)."""
    entries = {f"{PACKAGE}/{name}": data for name, data in sources.items()}
    entries["__main__.py"] = _MAIN.encode()
    buffer = io.BytesIO()
    digest = hashlib.sha256()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(entries):
            info = zipfile.ZipInfo(path, date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.create_system = 3  # unix, whatever the building machine
            archive.writestr(info, entries[path], compresslevel=9)
            # The name hashes what the host runs, not the compressed bytes (which a
            # different zlib may produce differently).
            digest.update(f"{path}\0{len(entries[path])}\0".encode() + entries[path])
    return AgentBundle(buffer.getvalue(), f"agent-{VERSION}-{digest.hexdigest()[:12]}.pyz")
