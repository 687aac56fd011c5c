"""The alternatives' venv: jupyter-console, euporie and ipykernel, installed once with
``python -m venv`` + pip under the cache dir (never into the project's environment), and the
consoles found in it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from benchmarks.common import describe
from benchmarks.consoles.contender import Spec
from benchmarks.consoles.euporie_console import EUPORIE, euporie_spec
from benchmarks.consoles.jupyter_console import JUPYTER, jupyter_spec

__all__ = ["default_peers_venv", "ensure_peers_venv", "peer_specs"]

INSTALL_TIMEOUT = 600.0
PEER_PACKAGES = ("jupyter-console", "euporie", "ipykernel")


def default_peers_venv() -> Path:
    """$RTUI_BENCH_PEERS_VENV, else $XDG_CACHE_HOME/rtui-bench/peers-venv."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return Path(os.environ.get("RTUI_BENCH_PEERS_VENV") or cache / "rtui-bench" / "peers-venv")


def peer_specs(python: Path | None, versions: dict[str, str]) -> dict[str, Spec]:
    """The consoles the venv of ``python`` holds, with its python3 kernel (ipykernel)."""
    specs: dict[str, Spec] = {}
    if python is None or not versions.get("ipykernel"):
        return specs
    bin_dir = python.parent
    if (bin_dir / "jupyter-console").exists() and versions.get("jupyter-console"):
        specs[JUPYTER] = jupyter_spec(python, versions["jupyter-console"])
    if (bin_dir / "euporie-console").exists() and versions.get("euporie"):
        specs[EUPORIE] = euporie_spec(python, versions["euporie"])
    return specs


def ensure_peers_venv(venv: Path) -> tuple[Path | None, str | None, dict[str, str]]:
    """The venv's python (created and filled once), an error, the peers' versions."""
    python = venv / "bin" / "python"
    versions = _peer_versions(python)
    missing = [p for p in PEER_PACKAGES if not versions.get(p)]
    if not missing:
        return python, None, versions
    log = venv.parent / "peers-install.log"
    try:
        venv.parent.mkdir(parents=True, exist_ok=True)
        with log.open("w") as out:
            if not python.exists():
                print(f"creating {venv} (once) ...", flush=True)
                subprocess.run([sys.executable, "-m", "venv", str(venv)], stdout=out,
                               stderr=subprocess.STDOUT, timeout=INSTALL_TIMEOUT, check=True)
            print(f"installing {', '.join(missing)} into {venv} (pip output: {log}) ...",
                  flush=True)
            pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check"]
            done = subprocess.run([*pip, *missing], stdout=out, stderr=subprocess.STDOUT,
                                  timeout=INSTALL_TIMEOUT, check=False)
            if done.returncode != 0:  # one at a time: one failing must not stop the others
                for package in missing:
                    subprocess.run([*pip, package], stdout=out, stderr=subprocess.STDOUT,
                                   timeout=INSTALL_TIMEOUT, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        return (python if python.exists() else None), f"install failed: {describe(exc)}", {}
    versions = _peer_versions(python)
    missing = [p for p in PEER_PACKAGES if not versions.get(p)]
    if missing:
        reason = _last_error_line(log)
        error = f"pip could not install {', '.join(missing)}: {reason} (see {log})"
        return (python if python.exists() else None), error, versions
    return python, None, versions


def _peer_versions(python: Path) -> dict[str, str]:
    if not python.exists():
        return {}
    script = (
        "import json, importlib.metadata as m\n"
        "out = {}\n"
        f"for name in {list(PEER_PACKAGES)!r}:\n"
        "    try: out[name] = m.version(name)\n"
        "    except m.PackageNotFoundError: pass\n"
        "print(json.dumps(out))\n"
    )
    try:
        done = subprocess.run([str(python), "-c", script], capture_output=True, text=True,
                              timeout=60, check=True)
        result: dict[str, str] = json.loads(done.stdout)
    except (OSError, subprocess.SubprocessError, ValueError):
        return {}
    return result


def _last_error_line(log: Path) -> str:
    try:
        text = log.read_text(errors="replace").splitlines()
    except OSError:
        return "no pip output"
    useful = [line.strip() for line in text if line.strip() and "WARNING" not in line]
    errors = [line for line in useful if line.startswith("ERROR")]
    return (errors or useful or ["no pip output"])[-1][:200]
