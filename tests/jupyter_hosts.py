"""hosts.toml entries for the Jupyter fixtures' servers, for CLI and workspace tests.

The token is never written: the host names ``RTUI_TEST_TOKEN`` as its ``token_env`` and
:func:`jupyter_hosts` hands back the environment a test sets (``monkeypatch.setenv`` or a
subprocess's ``env=``), as a person would keep it in their shell.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from rtui.core.config.model import Config, Host
from rtui.core.config.store import HostStore
from rtui.core.jupyter.settings import JupyterSettings
from tests.harness.jupyter import JupyterServerInfo
from tests.harness.jupyterhub import HubInfo
from tests.harness.sshd import SSHD
from tests.ssh_helpers import host_for, trust

__all__ = ["TOKEN_ENV", "jupyter_hosts"]

TOKEN_ENV = "RTUI_TEST_TOKEN"


def jupyter_hosts(home: Path, server: JupyterServerInfo | HubInfo, *, name: str = "lab",
                  hub_server: str = "", via: SSHD | None = None, via_name: str = "gate",
                  start_timeout: float | None = None) -> dict[str, str]:
    """Add host ``name`` for ``server`` to the hosts file under ``home`` (the isolated HOME:
    ``~/.config/rtui/hosts.toml``), kind "jupyterhub" for a :class:`HubInfo`, with the TLS
    server's ``ca_file``; with ``via``, also the SSH host ``via_name`` on that sshd (its key
    trusted) and the server reached over it. Returns ``{"RTUI_TEST_TOKEN": token}``."""
    hub = isinstance(server, HubInfo)
    ca_file = server.ca_file if isinstance(server, JupyterServerInfo) else None
    settings = JupyterSettings(
        url=server.url, hub=hub, server=hub_server, via=via_name if via else None,
        token_env=TOKEN_ENV, ca_file=str(ca_file) if ca_file else None,
        start_timeout=JupyterSettings.start_timeout if start_timeout is None else start_timeout)
    store = HostStore(home / ".config" / "rtui" / "hosts.toml")
    if via is not None:
        trust(via, home)
        store.update(partial(Config.with_host, host=host_for(via, via_name)))
    store.update(partial(Config.with_host, host=Host(name, jupyter=settings)))
    return {TOKEN_ENV: server.token}
