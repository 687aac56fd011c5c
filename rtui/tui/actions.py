"""Every host action in one table: the host list's keys, the command palette and the dispatch
are made from it, so an action is spelled once (its id, keys, title and what it does).

The handlers drive the app through :class:`ActionTarget`, the few entry points they need, so
this module imports nothing above it in ``rtui.tui`` (no import loop with the app).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from textual.binding import Binding
from textual.screen import Screen
from textual.worker import Worker

from rtui.core.config.model import Config, Host
from rtui.core.workspace import Workspace
from rtui.tui.screens.host_form import HostFormScreen

__all__ = [
    "ACTIONS",
    "HOST_ACTIONS",
    "LIST_ACTIONS",
    "PRIMARY",
    "ActionTarget",
    "HostAction",
    "ListAction",
    "action_by_id",
]


class ActionTarget(Protocol):
    """What the handlers call: the app's use cases, by name."""

    @property
    def config(self) -> Config: ...
    @property
    def workspace(self) -> Workspace: ...

    async def save_host(self, old_name: str | None, host: Host) -> None: ...
    def check_hosts(self, names: list[str], *, interactive: bool) -> Worker[None]: ...
    def open_console(self, name: str, *, pick: bool = False) -> Worker[None]: ...
    def attach_kernel(self, name: str) -> Worker[None]: ...
    def open_job_console(self, name: str) -> Worker[None]: ...
    def open_files(self, name: str, path: str | None = None) -> Worker[None]: ...
    def open_envs(self, name: str) -> Worker[None]: ...
    def delete_host(self, name: str) -> Worker[None]: ...
    def import_ssh_config(self) -> Worker[None]: ...
    def push_screen(self, screen: Screen[Any]) -> object: ...
    def notify(self, message: str) -> None: ...


@dataclass(frozen=True, kw_only=True)
class _Action:
    """One row of the table: ``keys`` are Textual key names (comma-separated), ``title`` is
    what the footer, the help screen and the README show, ``palette`` what the command palette
    lists, ``footer`` whether the host list's footer shows it (every key is in help)."""

    id: str
    keys: str
    title: str
    palette: str
    footer: bool = True

    @property
    def binding_id(self) -> str:
        return f"hosts.{self.id}"

    def binding(self) -> Binding:
        """The key binding; its action is the host list's ``host_action`` with this id."""
        return Binding(self.keys, f"host_action({self.id!r})", self.title, id=self.binding_id,
                       show=self.footer)

    def run(self, app: ActionTarget, host: Host | None) -> None:
        raise NotImplementedError


@dataclass(frozen=True, kw_only=True)
class HostAction(_Action):
    """An action on one host (the selected one, or the one named in the palette)."""

    handler: Callable[[ActionTarget, Host], object]

    def run(self, app: ActionTarget, host: Host | None) -> None:
        if host is None:
            app.notify("No host selected")
            return
        self.handler(app, host)


@dataclass(frozen=True, kw_only=True)
class ListAction(_Action):
    """An action on the host list as a whole (add, check all, import)."""

    handler: Callable[[ActionTarget], object]

    def run(self, app: ActionTarget, host: Host | None) -> None:
        self.handler(app)


def _form(app: ActionTarget, host: Host | None = None) -> HostFormScreen:
    """The host form; a Jupyter server may be reached through any SSH host of the list."""
    ssh_hosts = [h.name for h in app.config.hosts if h.kind == "ssh"]
    return HostFormScreen(app.save_host, host, via_hosts=ssh_hosts)


def _edit(app: ActionTarget, host: Host) -> None:
    if app.workspace.is_injected(host.name):
        app.notify(f"{host.name} exists for this run only and cannot be edited")
    else:
        app.push_screen(_form(app, host))


# In the order the footer, the help screen and the README show them: the primary one first.
ACTIONS: tuple[HostAction | ListAction, ...] = (
    HostAction(id="console", keys="enter", title="Console", palette="Open a console on",
               handler=lambda app, host: app.open_console(host.name)),
    HostAction(id="console_pick", keys="p", title="Console in env…",
               palette="Open a console in a chosen Python environment on",
               handler=lambda app, host: app.open_console(host.name, pick=True)),
    HostAction(id="job", keys="j", title="Job console…",
               palette="Open a console in a SLURM job (the host is a login node) on",
               footer=False,  # the footer is full at 80 columns; the host's details say j
               handler=lambda app, host: app.open_job_console(host.name)),
    HostAction(id="kernels", keys="k", title="Kernels", palette="Attach to a running kernel on",
               handler=lambda app, host: app.attach_kernel(host.name)),
    HostAction(id="files", keys="f", title="Files", palette="Browse files on", footer=False,
               handler=lambda app, host: app.open_files(host.name)),
    HostAction(id="envs", keys="v", title="Envs", palette="Environments on", footer=False,
               handler=lambda app, host: app.open_envs(host.name)),
    HostAction(id="check", keys="c", title="Check", palette="Check", footer=False,
               handler=lambda app, host: app.check_hosts([host.name], interactive=True)),
    ListAction(id="check_all", keys="r", title="Check all", palette="Check all hosts", footer=False,
               handler=lambda app: app.check_hosts([h.name for h in app.config.hosts],
                                                   interactive=True)),
    ListAction(id="add", keys="a", title="Add", palette="Add a host",
               handler=lambda app: app.push_screen(_form(app))),
    HostAction(id="edit", keys="e", title="Edit", palette="Edit", footer=False, handler=_edit),
    HostAction(id="delete", keys="d", title="Delete", palette="Delete", footer=False,
               handler=lambda app, host: app.delete_host(host.name)),
    ListAction(id="import", keys="i", title="Import", palette="Import hosts from ~/.ssh/config",
               footer=False,
               handler=lambda app: app.import_ssh_config()),
)
PRIMARY = ACTIONS[0]  # Enter on the host table, and first in the footer
HOST_ACTIONS = tuple(a for a in ACTIONS if isinstance(a, HostAction))
LIST_ACTIONS = tuple(a for a in ACTIONS if isinstance(a, ListAction))
_BY_ID = {action.id: action for action in ACTIONS}


def action_by_id(action_id: str) -> HostAction | ListAction:
    """The table's row for a binding's ``host_action(id)``."""
    return _BY_ID[action_id]
