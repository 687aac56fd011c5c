"""How the host list shows a Jupyter server or hub: its kind and server version where an SSH
host shows its Python and OS, and what its check found (reachable, token accepted, kernels)."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from textual.app import App

from rtui.core.config.model import Host
from rtui.core.ssh.check import HostStatus

__all__ = ["KIND_NAMES", "jupyter_lines", "not_available", "said_unavailable",
           "server_label", "token_source"]

KIND_NAMES = {"ssh": "SSH host", "jupyter": "Jupyter server", "jupyterhub": "JupyterHub"}


def server_label(host: Host, status: HostStatus | None) -> str:
    """The table's cell: "jupyter 2.21.1" / "hub 5.3.0" once checked, else the kind."""
    word = "hub" if host.kind == "jupyterhub" else "jupyter"
    version = _version(status)
    return f"{word} {version}" if version else word


def _version(status: HostStatus | None) -> str | None:
    """The server's version its check found."""
    return status.server_version if status is not None else None


def token_source(host: Host) -> str:
    """Where the host's token comes from, as the details say it."""
    settings = host.jupyter
    if settings is None:
        return ""
    if settings.token_env:
        return f"${settings.token_env}"
    if settings.token_command:
        return f"the command '{settings.token_command}'"
    if settings.token_keyring:
        return "the OS keyring (asked once if it has none)"
    return "asked when needed, kept for the run"


def jupyter_lines(host: Host, status: HostStatus | None) -> list[str]:
    """The details of a Jupyter host (Rich markup), under its name and URL."""
    settings = host.jupyter
    assert settings is not None
    lines = [KIND_NAMES[host.kind] + (f", server '{escape(settings.server)}'"
                                      if settings.hub and settings.server else "")]
    lines.append(f"token: {escape(token_source(host))}")
    if settings.ca_file:
        lines.append(f"trusts {escape(settings.ca_file)}")
    lines.append("no files or environments tabs: kernels only")
    if status is None:
        return lines
    lines.append("")
    if status.ok:
        timings = [f"tcp {status.tcp_ms:.0f} ms"] if status.tcp_ms is not None else []
        if status.rtt_ms is not None:
            timings.append(f"http {status.rtt_ms:.0f} ms")
        if timings:
            lines.append(" · ".join(timings))
        version = _version(status)
        if version:
            lines.append(f"{'jupyterhub' if settings.hub else 'jupyter_server'} "
                         f"{escape(version)}")
        lines.append("token accepted")
        lines.append(f"kernels running: {status.kernels}")
    if status.error:
        lines.append(f"[red]{escape(status.error)}[/]")
    return lines


def not_available(host: Host | None, what: str) -> str | None:
    """Why ``what`` (files, environments, a SLURM job) is not offered on ``host``: a Jupyter
    server gives kernels only. None: it is (or the host is unknown: the use case says so)."""
    if host is None or host.jupyter is None:
        return None
    return (f"{what} not available for a {KIND_NAMES[host.kind]} ({host.name}): "
            "rtui reaches its kernels only")


def said_unavailable(app: App[Any], host: Host | None, what: str) -> bool:
    """True when ``what`` is not offered on ``host``, said in a notification (not an error)."""
    reason = not_available(host, what)
    if reason is not None:
        app.notify(reason, timeout=6)
    return reason is not None
