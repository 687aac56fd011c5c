"""What the Environments tab does to a host's environments: create one (the form), install,
uninstall and upgrade packages, export to a local file, remove (confirmed), set one as the
host's Python. A part of :class:`EnvironmentsPane` (its keys are the pane's): each key's
worker asks in a dialog, then starts the one long action the pane runs at a time (its
progress and end are posted; Escape cancels the worker, which cancels the core's call).
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from textual import work
from textual.message import Message
from textual.widget import Widget
from textual.widgets import DataTable
from textual.worker import Worker, WorkerState

from rtui.core.envs import EnvSpec, NeedsUv, Package
from rtui.core.errors import RtuiError
from rtui.core.kernels.records import Environment
from rtui.core.remote.client import Progress
from rtui.tui.prompter import ask
from rtui.tui.screens.env_form import EnvFormScreen
from rtui.tui.screens.prompts import ChoiceScreen, ConfirmScreen, TextPromptScreen

if TYPE_CHECKING:
    from rtui.core.envs import HostEnvironments
    from rtui.core.workspace import Workspace

__all__ = ["EnvironmentActions", "write_new_file"]


def write_new_file(path: Path, text: str, *, overwrite: bool) -> None:
    """``text`` in ``path`` whole or not at all (a temporary file renamed over it); an
    existing file is kept unless ``overwrite`` (FileExistsError)."""
    if path.exists() and not overwrite:
        raise FileExistsError(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _local_target(text: str) -> tuple[Path, bool]:
    """The local file a path typed names (``~`` expanded, from the working directory), and
    whether it exists."""
    path = Path(text).expanduser().absolute()
    return path, path.exists()


def _split_packages(text: str) -> list[str]:
    return [word for word in re.split(r"[\s,]+", text) if word]


class EnvironmentActions(Widget):
    """The operations of :class:`EnvironmentsPane` on the environment under its cursor."""

    envs: HostEnvironments
    workspace: Workspace
    host: str
    listed: list[Environment]
    action_title = ""  # the running (or last) action, for the progress panel
    _action: Worker[None] | None = None

    @dataclass
    class Started(Message):
        """A long action began (``title``): the progress panel shows it."""

        title: str

    @dataclass
    class Progressed(Message):
        line: str
        fraction: float | None

    @dataclass
    class Ended(Message):
        """The running action ended: ``note`` says how; the list is read again."""

        note: str
        error: bool = False

    @dataclass
    class Changed(Message):
        """Packages were installed, removed or upgraded in ``env``: what it has now."""

        env: Environment
        packages: list[Package]

    @property
    def current(self) -> Environment | None:
        """The environment under the table's cursor."""
        row = self.query_one("#envs-table", DataTable).cursor_row
        return self.listed[row] if 0 <= row < len(self.listed) else None

    @property
    def busy(self) -> bool:
        """An action runs (one at a time: a second key says so)."""
        return self._action is not None and self._action.state in (
            WorkerState.PENDING, WorkerState.RUNNING)

    def _ref(self, env: Environment) -> str:
        """How the core is told which environment: its prefix, else its interpreter."""
        return env.prefix or env.python

    def _chosen(self, verb: str) -> Environment | None:
        env = self.current
        if env is None:
            self.notify(f"No environment to {verb}", severity="warning")
        return env

    def _highlighted_package(self) -> str:
        """The package under the packages panel's cursor, when that panel has the keys."""
        table = self.query_one("#packages-table", DataTable)
        if self.screen.focused is not table or table.row_count == 0:
            return ""
        return str(table.get_row_at(table.cursor_row)[0])

    def _start(self, title: str, action: Callable[[], Awaitable[str]]) -> None:
        """Run one long action, its progress posted; Escape cancels it (``cancel``)."""
        if self.busy:
            self.notify(f"{self.action_title} is running: escape cancels it", severity="warning")
            return
        self.action_title = title
        self._action = self._run(action)
        self.post_message(self.Started(title))

    def cancel(self) -> bool:
        """Cancel the running action (the worker, so the core's call and the agent's
        request); False when none runs."""
        if not self.busy or self._action is None:
            return False
        self._action.cancel()
        return True

    @work(group="envs-action", exit_on_error=False)
    async def _run(self, action: Callable[[], Awaitable[str]]) -> None:
        try:
            note = await action()
        except asyncio.CancelledError:
            self.post_message(self.Ended("cancelled"))
            raise
        except RtuiError as failure:
            self.post_message(self.Ended(str(failure), error=True))
            raise
        self.post_message(self.Ended(note))

    def _progress(self, progress: Progress) -> None:
        self.post_message(self.Progressed(progress.line, progress.fraction))

    def action_create(self) -> None:
        self._ask_create()

    @work(group="envs-ask", exclusive=True, exit_on_error=False)
    async def _ask_create(self) -> None:
        uv = (await self.envs.tools()).get("uv")  # asked now: the form offers what is there
        spec = await ask(self.app, EnvFormScreen(self.host, self.listed, uv,
                                                 taken={e.name for e in self.listed}))
        if not isinstance(spec, EnvSpec):
            return

        async def create() -> str:
            try:
                env = await self.envs.create(spec, on_progress=self._progress)
            except NeedsUv:  # the host lost its uv since the form asked: it asks again
                if not await ask(self.app, ConfirmScreen(
                        "uv", f"{self.host} has no uv: upload it there and go on?")):
                    return "not created"
                env = await self.envs.create(replace(spec, upload_uv=True),
                                             on_progress=self._progress)
            return f"created {env.name}"

        self._start(f"Creating {spec.name}", create)

    def action_change(self, verb: str) -> None:
        self._ask_change(verb)

    @work(group="envs-ask", exclusive=True, exit_on_error=False)
    async def _ask_change(self, verb: str) -> None:
        env = self._chosen(verb)
        if env is None:
            return
        answer = await ask(self.app, TextPromptScreen(
            f"{verb.capitalize()} in {env.name} on {self.host}",
            "Packages (spaces between; a version as name==1.2):", password=False,
            value="" if verb == "install" else self._highlighted_package()))
        names = _split_packages(answer) if isinstance(answer, str) else []
        if not names:
            return

        async def change() -> str:
            packages = await self.envs.change(self._ref(env), verb, names,
                                              on_progress=self._progress)
            self.post_message(self.Changed(env, packages))
            return f"{verb} done: {', '.join(names)}"

        self._start(f"{verb.capitalize()} {' '.join(names)} in {env.name}", change)

    @work(group="envs-ask", exclusive=True, exit_on_error=False)
    async def action_export(self) -> None:
        """The environment's packages in a local file (a lock file too where uv made it)."""
        env = self._chosen("export")
        if env is None:
            return
        fmt = "requirements"
        if env.tool == "uv":
            choice = await ask(self.app, ChoiceScreen(f"Export {env.name}", [
                ("requirements", "requirements.txt (name==version lines)"),
                ("pylock", "pylock.toml (uv's lock, with hashes)")]))
            if choice is None:
                return
            fmt = str(choice)
        default = f"{env.name}-requirements.txt" if fmt == "requirements" else \
            f"pylock.{env.name}.toml"
        answer = await ask(self.app, TextPromptScreen(
            f"Export {env.name} from {self.host}", "Local file:", password=False,
            value=default))
        if not isinstance(answer, str) or not answer.strip():
            return
        path, overwrite = await asyncio.to_thread(_local_target, answer.strip())
        if overwrite:
            overwrite = bool(await ask(self.app, ConfirmScreen(
                "Export", f"{path} exists: replace it?")))
            if not overwrite:
                return
        text = await self.envs.export(self._ref(env), fmt)
        await asyncio.to_thread(write_new_file, path, text, overwrite=overwrite)
        count = sum(1 for line in text.splitlines() if line and not line.startswith("#"))
        self.notify(f"Exported {env.name} to {path} ({count} lines)", timeout=6)

    @work(group="envs-ask", exclusive=True, exit_on_error=False)
    async def action_remove(self) -> None:
        """Remove the environment, confirmed; one rtui did not make needs a second, explicit
        yes (force)."""
        env = self._chosen("remove")
        if env is None:
            return
        where = env.prefix or env.python
        if not await ask(self.app, ConfirmScreen(
                "Remove environment", f"Remove {env.name} ({where}) from {self.host}? "
                "Its files are deleted.")):
            return
        force = False
        if not env.managed:
            force = bool(await ask(self.app, ConfirmScreen(
                "Not made by rtui", f"rtui did not make {env.name}: remove it anyway "
                "(force)? Kernels and programs that use it stop working.")))
            if not force:
                return

        async def remove() -> str:
            return f"removed {await self.envs.remove(self._ref(env), force=force)}"

        self._start(f"Removing {env.name}", remove)

    @work(group="envs-ask", exclusive=True, exit_on_error=False)
    async def action_default(self) -> None:
        """The environment's Python becomes the host's (hosts.toml): Enter uses it."""
        env = self._chosen("use")
        if env is None:
            return
        await self.workspace.remember_python(self.host, env.python)
        self.notify(f"{self.host}: python = {env.python} (saved in hosts.toml)", timeout=6)
