"""The agent as one file for the host: a zipapp of ``rtui/agent`` named by its content; and
the part of it the host check runs (``probe_script``), and the shell that finds a Python.

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
import shlex
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

from rtui.agent.protocol import VERSION

__all__ = [
    "PACKAGE",
    "STATUS_LOADER",
    "AgentBundle",
    "agent_bundle",
    "agent_sources",
    "build_bundle",
    "find_python_sh",
    "shell_word",
    "status_sources",
]

PACKAGE = "rtui_agent"  # the package's name inside the zipapp
_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can carry
_MAIN = f"from {PACKAGE}.__main__ import main\nmain()\n"
# The modules the host check runs, in import order: the agent's discovery of Pythons and its
# report, not the rest of it.
PROBE_MODULES = ("protocol", "paths", "probe", "envs", "status")
_MODULE_MARK = "# rtui_agent module: "  # heads each module's source on the loader's stdin
# Run as ``python -S -c STATUS_LOADER ARGS`` with PROBE_MODULES' sources on stdin: defines
# them as the package (no zipapp on the host needed; each source parsed once) and prints
# the report. Parses on any Python; one older than 3.8 says what it is and exits 3, so the
# shell tries the next candidate.
STATUS_LOADER = """import sys
if sys.version_info < (3, 8):
    sys.stdout.write("old %s %d.%d.%d\\n" % ((sys.executable,) + tuple(sys.version_info[:3])))
    sys.exit(3)
import types
package = types.ModuleType("PACKAGE")
package.__path__ = []
sys.modules["PACKAGE"] = package
for chunk in ("\\n" + sys.stdin.buffer.read().decode("utf-8")).split("\\nMARK")[1:]:
    name, _, source = chunk.partition("\\n")
    module = types.ModuleType("PACKAGE." + name)
    module.__package__ = "PACKAGE"
    sys.modules[module.__name__] = module
    setattr(package, name, module)
    exec(compile(source, "PACKAGE/%s.py" % name, "exec"), module.__dict__)
package.status.main(sys.argv[1:])
""".replace("PACKAGE", PACKAGE).replace("MARK", _MODULE_MARK)


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


@functools.cache
def status_sources() -> str:
    """The sources STATUS_LOADER reads on stdin: the agent's report of a host (``status``:
    its Pythons as ``envs`` finds them) in the modules' own words, which the host check sends
    in its one exec. Ends with a newline; no line of it is ``PROBE`` (a here-document's end)."""
    sources = agent_sources()
    text = "".join(f"\n{_MODULE_MARK}{name}\n{sources[name + '.py'].decode()}"
                   for name in PROBE_MODULES)
    assert "\nPROBE\n" not in text and text.count(_MODULE_MARK) == len(PROBE_MODULES)
    return text


def shell_word(path: str) -> str:
    """``path`` as one word for the remote ``sh``, a leading ``~`` being that host's home
    (a configured ``python = "~/envs/ml/bin/python"``; quoted, the shell would not expand it).
    """
    if path == "~":
        return '"$HOME"'
    if path.startswith("~/"):
        return '"$HOME"/' + shlex.quote(path[2:])
    return shlex.quote(path)


def find_python_sh(candidates: Sequence[str], then: str) -> str:
    """``sh`` that runs ``then`` with ``$p`` set to each of ``candidates`` that exists (a
    path, ``~/...``, an environment's directory, a name on PATH), in order, until ``then``
    leaves the loop."""
    return (
        "for p in " + " ".join(shell_word(c) for c in candidates) + "; do\n"
        # An environment named by its directory: its interpreter (as the agent does).
        'if [ -d "$p" ]; then if [ -x "$p/bin/python" ]; then p="$p/bin/python"; '
        'else p="$p/bin/python3"; fi; fi\n'
        'command -v "$p" >/dev/null 2>&1 || continue\n'
        f"{then}\ndone\n"
    )
