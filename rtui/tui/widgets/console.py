"""One live console: kernel output above, the editor below, a status line, a help panel.

Kernel events are applied to the UI-free ConsoleModel as they arrive (cheap) and the view
repaints at most once per frame, so a flood never blocks typing.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.reactive import reactive
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Input, Static
from textual.worker import Worker, WorkerState

from rtui.core.console.debugger import DEBUGGER_SETUP_CODE
from rtui.core.console.history import History
from rtui.core.console.model import ConsoleModel
from rtui.core.errors import HostKeyChangedError, KernelError, RtuiError
from rtui.core.kernels import events as ev
from rtui.core.kernels.ask_exit import AskExit, asked_exit, honour_exit
from rtui.core.kernels.host_api import ssh_kernels
from rtui.core.kernels.plot_size import PlotSize, fit_code, layout_cell, plot_size
from rtui.core.ssh.state import ConnState, StateChange
from rtui.tui.prompter import ask
from rtui.tui.render import paint_now
from rtui.tui.screens.prompts import ConfirmScreen, MessageScreen
from rtui.tui.widgets.code_input import CodeInput
from rtui.tui.widgets.console_job import ConsoleJob
from rtui.tui.widgets.console_questions import KernelQuestions
from rtui.tui.widgets.console_view import ConsoleView
from rtui.tui.widgets.variables import VariablesPane

if TYPE_CHECKING:
    from rtui.core.kernels.execution import Execution
    from rtui.core.kernels.host_api import KernelHost
    from rtui.core.kernels.service import HostKernels, RemoteKernel
    from rtui.core.kernels.session import KernelSession

__all__ = ["ConsolePane", "SessionAssist"]


# How long the echo of a cell may wait for its output, so a quick result (`1+1`) shows in
# the same frame (see ConsoleView.hold); short enough not to be seen on its own.
_ECHO_HOLD = 0.020
# A cell that changes the kernel's packages (%pip, !pip, %uv, pip install): when it ends, the
# host's Environments tab lists again (PackagesChanged).
_CHANGES_PACKAGES = re.compile(
    r"^\s*(?:[%!]\s*(?:pip3?|uv)\b|!?\s*(?:python3?\s+-m\s+)?pip3?\s+(?:install|uninstall)\b)",
    re.MULTILINE)


class SessionAssist:
    """The editor's completion/inspection/is_complete questions, asked of the pane's kernel
    (an RtuiError while it is still starting)."""

    def __init__(self, pane: ConsolePane) -> None:
        self.pane = pane

    @property
    def session(self) -> KernelSession:
        if self.pane.kernel is None:
            raise RtuiError("the kernel is still starting")
        return self.pane.kernel.session

    async def is_complete(self, code: str) -> tuple[str, str]:
        if self.pane.kernel is None:  # typed ahead: the cell waits for the kernel anyway
            return "complete", ""
        result = await self.session.is_complete(code)
        return result.status, result.indent

    async def complete(self, code: str, cursor_pos: int) -> tuple[list[str], int, int]:
        result = await self.session.complete(code, cursor_pos)
        return list(result.matches), result.cursor_start, result.cursor_end

    async def inspect(self, code: str, cursor_pos: int) -> str | None:
        result = await self.session.inspect(code, cursor_pos)
        if not result.found:
            return None
        return str(result.data.get("text/plain", ""))


class ConsolePane(Widget):
    """A console on one kernel of one host.

    It can open before its kernel is there (``kernel=None``, then ``connect``): the editor
    takes keys at once, and a cell run meanwhile waits for the kernel.
    """

    DEFAULT_CSS = """
    ConsolePane { layout: vertical; height: 1fr; }
    ConsolePane ConsoleView { height: 1fr; }
    ConsolePane #inspect { height: auto; max-height: 12; border-top: solid $accent;
                           padding: 0 1; overflow-y: auto; }
    ConsolePane #inspect.-hidden { display: none; }
    ConsolePane #status { height: 1; background: $panel; color: $text-muted; padding: 0 1; }
    ConsolePane #status.-busy { color: $warning; }
    ConsolePane #status.-dead { color: $error; text-style: bold; }
    ConsolePane CodeInput.-answering, ConsolePane #secret { border: tall $warning;
                                border-title-color: $warning; border-title-style: bold; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+c", "interrupt", "Interrupt", id="console.interrupt", priority=True),
        Binding("f9", "restart", "Restart", id="console.restart"),
        Binding("f4", "close_console", "Close", id="console.close"),
        Binding("ctrl+l", "clear", "Clear", id="console.clear"),
        # Priority: the editor would take f7 for "select all".
        Binding("f7", "files", "Files", id="console.files", priority=True),
        Binding("f8", "plots", "Plots", id="console.plots", priority=True),
        # The output pane takes keys of its own (scroll, r raw, s save): f5 goes there and back.
        Binding("f5", "toggle_focus", "Output / input", id="console.focus", priority=True),
        Binding("f12,ctrl+t", "variables", "Variables", id="console.variables"),
        # While a SLURM job waits for its node (see ConsoleJob); else escape hides the help.
        Binding("escape", "cancel_job", "Cancel job", id="console.cancel_job"),
        Binding("escape", "hide_help", "Hide help", id="console.hide_help", show=False),
    ]

    # repaint=False: the status line shows them; repainting the pane would redraw every child.
    state: reactive[str] = reactive("idle", repaint=False)
    """Kernel state for the status line: queued (a SLURM job waiting), starting, idle, busy,
    not answering (its heartbeat), dead, disconnected, reconnecting, restarting, exiting or
    detaching (exit() ran)."""
    execution_count: reactive[int] = reactive(0, repaint=False)

    @dataclass
    class CloseRequested(Message):
        pane: ConsolePane

    @dataclass
    class ExitAsked(Message):
        """exit() or quit() ran here: the app ends the console as ``pane.exit_asked`` says."""

        pane: ConsolePane

    @dataclass
    class JobCancelRequested(Message):
        """Escape while the console's SLURM job waits: the app cancels the job."""

        pane: ConsolePane

    @dataclass
    class JobStarted(Message):
        """The console's SLURM job runs and its kernel is connected."""

        pane: ConsolePane

    @dataclass
    class FilesRequested(Message):
        """f7: the host's Files tab, in this kernel's working directory."""

        pane: ConsolePane

    @dataclass
    class PlotsRequested(Message):
        """f8: this console's Plots tab (every image its kernel showed)."""

        pane: ConsolePane

    @dataclass
    class PackagesChanged(Message):
        """A cell that ran ``%pip``, ``!pip``, ``%uv`` or ``pip install`` ended: the
        host's Environments tab lists again (``python``: the kernel's interpreter)."""

        host: str
        python: str | None

    def __init__(self, kernels: KernelHost, kernel: RemoteKernel | None = None, *,
                 max_lines: int, history: Path) -> None:
        super().__init__()
        self.kernels = kernels
        self.history_path = history  # the input history's file (Workspace.history_path)
        self.kernel: RemoteKernel | None = None
        self.model = ConsoleModel(max_lines=max_lines)
        self._unsubscribe: list[Any] = []
        self._retry: tuple[int, float] | None = None  # reconnecting: attempt, when
        self._retry_timer: Timer | None = None
        self._ready = asyncio.Event()  # clear while there is no kernel or no connection
        self._pending = kernel
        self._hold_timer: Timer | None = None  # set while a cell's output is held (_hold)
        self._batch: contextlib.AbstractContextManager[None] | None = None  # the app's paint
        self._plot_size: PlotSize | None = None  # what fit_plots last gave the kernel
        self.exit_asked: AskExit | None = None
        """Set when a cell's reply asked the client to end (exit(), quit()): see ExitAsked."""
        self._ending: asyncio.Future[None] | None = None  # end_as_asked, once
        # input() and the debugger, answered in the editor; pdb's lines have their own history.
        self.questions = KernelQuestions(
            self, History(history.parent / "debugger" / history.name))
        self.job = ConsoleJob(self)  # a SLURM kernel's job (its info None: not one)
        if kernel is None:
            self.set_reactive(ConsolePane.state, "starting")

    @property
    def slurm_kernels(self) -> HostKernels:
        """The kernels service of this console's SLURM job (SSH hosts only run jobs)."""
        kernels = ssh_kernels(self.kernels)
        if kernels is None:
            raise RtuiError(f"{self.kernels.name} runs no SLURM jobs")
        return kernels

    def compose(self) -> ComposeResult:
        graphics = getattr(self.app, "graphics", None)  # how this run draws images (RtuiApp)
        if graphics is not None:
            self.model.geometry.cell_px = layout_cell(graphics.mode, graphics.cell_px)
            self.model.geometry.draw = graphics.mode != "off"
        self._view = ConsoleView(self.model, id="output")
        yield self.job.panel  # hidden unless a SLURM job waits for its node
        yield self._view
        yield Static("", id="inspect", classes="-hidden")
        yield CodeInput(history=History(self.history_path), assist=SessionAssist(self), id="code")
        self._variables = VariablesPane()
        yield self._variables
        yield Static("", id="status")

    def on_mount(self) -> None:
        ssh = ssh_kernels(self.kernels)  # a server kernel's websocket says its own seams
        if ssh is not None:
            self._unsubscribe.append(ssh.connection.subscribe(self._on_connection))
        if self._pending is not None:
            self.connect(self._pending)
        else:
            self._info(f"Starting a kernel on {self.kernels.name}…", "dim")
        self.call_after_refresh(self._update_status)  # not "mounted" until this returns
        self.query_one(CodeInput).focus()

    def connect(self, kernel: RemoteKernel) -> None:
        """The kernel is there: show it, follow its events, run what was typed meanwhile."""
        self.kernel, self._pending = kernel, None
        self.job.connected(kernel)
        if kernel.tunnel is not None:  # a server kernel's websocket reconnects by itself
            kernel.tunnel.on_restored(self._on_restored)
        self._info(
            f"Connected to kernel {kernel.id} on {kernel.host}"
            f"{' (' + kernel.python + ')' if kernel.python else ''}."
            " Enter runs, ctrl+j forces a run, tab completes, shift+tab shows help.",
            "dim",
        )
        if kernel.exposure_note:
            self._info(kernel.exposure_note[0].upper() + kernel.exposure_note[1:] + ".",
                       "yellow")
        self.state = "idle"
        # Last: the output kept since this console last saw the kernel follows the line
        # above (and a cell still running then shows busy).
        self._unsubscribe.append(kernel.session.subscribe(self._on_kernel_event))
        self._plot_size = None
        self.call_after_refresh(self.fit_plots)  # the view has its size then
        self._ready.set()
        # The debugger asks on stdin, here (see DEBUGGER_SETUP_CODE); its events dropped.
        with contextlib.suppress(KernelError):  # a closed session: the next cell says so
            kernel.session.execute(DEBUGGER_SETUP_CODE, silent=True, store_history=False,
                                   allow_stdin=False, on_event=lambda _event: None)

    def on_unmount(self) -> None:
        self._release()
        for unsubscribe in self._unsubscribe:
            with contextlib.suppress(Exception):
                unsubscribe()

    # -- kernel and connection events (called on the app's loop by the core) ---------------
    # Each kernel event arrives once: a cell's own through its execution (_on_cell_event),
    # what no cell of this pane claims (other clients, heartbeat) through the subscription.

    def _on_kernel_event(self, event: ev.KernelEvent) -> None:
        if self.exit_asked is not None:
            return  # it ends as asked: its silent heartbeat and its exit are no news
        if isinstance(event, ev.KernelAlive):
            self._on_heartbeat(event.alive)
            return
        if isinstance(event, ev.InputRequest):
            # Not a cell of this pane's: one that asked while nobody was attached (its
            # kernel's keeper asks whoever attaches), or ours whose execution failed.
            self.questions.asked(event)
            return
        if isinstance(event, ev.KernelExited):
            self.state = "dead"
            self._release()
            self.questions.ended()
            self.job.kernel_ended()
        self._show(event)  # a seam first, then what the link says of itself
        if isinstance(event, ev.LinkLost | ev.OutputReplayed):
            self._on_link(event)
        if isinstance(event, ev.Status) and event.state == "idle":
            self._release()
            self.questions.ended(event.parent_id)  # if it is the cell that asked

    def _on_link(self, event: ev.LinkLost | ev.OutputReplayed) -> None:
        """A Jupyter server's websocket dropped, or is back (after the seam the model drew):
        said as an SSH console says its connection's states."""
        if isinstance(event, ev.LinkLost):
            self._ready.clear()
            if self.state != "reconnecting":
                self._info(f"Connection lost ({event.reason}); reconnecting…", "yellow",
                           link=True)
            self.state = "reconnecting"
        elif event.reconnected and self.state == "reconnecting":
            self.state = "idle"
            self._ready.set()
            self._info("Reconnected: the kernel and its variables are still there.", "green",
                       link=True)

    def _on_heartbeat(self, alive: bool) -> None:
        """A silent heartbeat is not a death: a kernel busy in native code, a loaded host or
        a slow link silence it too (it was shown as dead, for live kernels, under load).
        The kernel's end comes from its keeper (KernelExited, with its exit status) or from
        the agent, asked here; until then the kernel is "not answering"."""
        if self.state in ("reconnecting", "dead", "disconnected", "restarting"):
            return  # the link is down (its silence says nothing), or the end was told
        if alive:
            if self.state == "not answering":
                self.state = "idle"
                self._info("The kernel answers its heartbeat again.", "green", link=True)
            return
        self.state = "not answering"
        self._info("The kernel has not answered its heartbeat for a few seconds (busy in "
                   "native code, or a slow host or link); asking the host whether it runs.",
                   "yellow", link=True)
        self.ask_host_if_gone()

    @work(group="gone", exclusive=True, exit_on_error=False)
    async def ask_host_if_gone(self) -> None:
        """The agent's answer: the kernel's process has ended (dead, with how), or it runs."""
        if self.kernel is None:
            return
        error = await self.kernels.gone(self.kernel)
        if error is not None and self.state == "not answering":
            self.state = "dead"
            self._info(str(error), "bold red")

    def _on_cell_event(self, event: ev.KernelEvent) -> None:
        if isinstance(event, ev.InputRequest):
            self.questions.asked(event)
            return
        self._show(event)
        if isinstance(event, ev.ExecuteReply):
            self._release()  # the cell's last event: its idle status came just before
            asked = asked_exit(event)
            if asked is not None and self.exit_asked is None:
                self.exit_asked = asked
                self.state = "detaching" if asked.keep_kernel else "exiting"
                self.post_message(self.ExitAsked(self))
            self.questions.ended(event.parent_id)
            self._variables.cell_ended(event)

    def _show(self, event: ev.KernelEvent) -> None:
        if isinstance(event, ev.Status):
            if event.state in ("busy", "idle"):
                self.state = event.state
        elif isinstance(event, ev.ExecuteReply):
            if event.execution_count is not None:
                self.execution_count = event.execution_count
        version = self.model.version
        self.model.apply(event)
        if self.model.version != version:  # status, replies...: nothing to paint
            self._view.notify_changed()

    def _on_connection(self, change: StateChange) -> None:
        if change.state in (ConnState.LOST, ConnState.RECONNECTING):
            self._ready.clear()
            if self.state != "reconnecting":
                self._info(f"Connection lost ({change.reason}); reconnecting…", "yellow",
                           link=True)
            self._retry = None
            if change.state is ConnState.RECONNECTING and change.retry_in is not None:
                self._retry = (change.attempt, time.monotonic() + change.retry_in)
                if self._retry_timer is None:  # counts down to the next attempt
                    self._retry_timer = self.set_interval(1.0, self._update_status)
            self.state = "reconnecting"
            self._update_status()  # the attempt changed, maybe not the state
        elif change.state is ConnState.FAILED:
            self.state = "disconnected"
            self._info(f"Disconnected: {change.reason}", "bold red")
            ssh = ssh_kernels(self.kernels)
            failure = ssh.connection.failure if ssh is not None else None
            if isinstance(failure, HostKeyChangedError) and not any(  # once per host
                    isinstance(screen, MessageScreen) and screen.message == str(failure)
                    for screen in self.app.screen_stack):
                self.app.push_screen(MessageScreen(failure.title, str(failure)))

    def _on_restored(self) -> None:
        self.await_ready()

    @work(group="restore", exclusive=True, exit_on_error=False)
    async def await_ready(self) -> None:
        """Forwards are back: wait until the kernel answers on shell AND iopub is live again,
        or code sent now would lose its output."""
        if self.kernel is None:
            return  # no kernel yet: its start waits for the connection itself
        await self.kernel.session.wait_ready(30)
        self.state = "idle"
        self._ready.set()
        self._info("Reconnected: the kernel and its variables are still there.", "green",
                   link=True)

    def note(self, text: str, style: str | None = None) -> None:
        """A line of the console's own in the output (ConsoleJob: how its job ended)."""
        self._info(text, style)

    def _info(self, text: str, style: str | None = None, *, link: bool = False) -> None:
        """A local note in the output (not kernel output), painted within a frame. ``link``:
        about the link or the heartbeat, said while the kernel's output may flow on (it goes
        above a half-printed line instead of cutting it in two)."""
        self.model.add_info(text, style, between_lines=link)
        self._view.notify_changed()

    # -- status line -------------------------------------------------------------------------

    def watch_state(self) -> None:
        if self._hold_timer is None:
            self._update_status()

    watch_execution_count = watch_state

    def _hold(self) -> None:
        """A cell was sent: paint nothing until it ends (idle, then its reply) or ``_ECHO_HOLD``
        is over, so a quick cell shows in one frame (editor cleared, echo, result, status).

        A frame painted meanwhile (~4 ms at 120x36) would hold up this process's event
        loop while the request is on its way through it (the SSH forward is served here)
        and make the result wait behind it. Held: the output (the view holds its repaint),
        the status line, and the whole screen's paint (an app batch: the editor's cleared
        text, typed keys), all for ``_ECHO_HOLD`` at most."""
        if self._hold_timer is not None:
            self._hold_timer.stop()
        self._view.hold()
        if self._batch is None:
            self._batch = self.app.batch_update()
            self._batch.__enter__()
        self._hold_timer = self.set_timer(_ECHO_HOLD, self._release)

    def _release(self) -> None:
        if self._hold_timer is not None:
            self._hold_timer.stop()
            self._hold_timer = None
            self._view.release()
            self._update_status()
        batch, self._batch = self._batch, None
        if batch is not None:
            batch.__exit__(None, None, None)
            paint_now(self.screen)  # the cell's result, now rather than at the next tick

    def _reconnect_text(self) -> str:
        """'reconnecting to HOST (attempt N, next in Xs)', counting down."""
        text = f"reconnecting to {self.kernels.name}"
        if self._retry is not None:
            attempt, at = self._retry
            left = at - time.monotonic()
            when = f"next in {math.ceil(left)}s" if left > 0 else "trying now"
            text += f" (attempt {attempt}, {when})"
        return text

    def _update_status(self) -> None:
        if not self.is_mounted:
            return
        status = self.query_one("#status", Static)
        # layout=False: the line is one row whatever it says, and a layout pass repaints the
        # whole screen (~8 ms at 120x36) on every busy/idle change.
        state = self._reconnect_text() if self.state == "reconnecting" else self.state
        if self.state != "reconnecting" and self._retry_timer is not None:
            self._retry_timer.stop()
            self._retry_timer = None
        job = self.job.status_note()  # a SLURM kernel's node and time left
        if self.kernel is None:
            text = f"{self.kernels.name} · {state}{job}"
        else:
            kind = "spyder" if self.kernel.kind == "spyder" else "python"
            # How its sockets are reached (streamlocal, tcp or relay; "…" while re-made).
            route = self.kernel.route or "…"
            prompt = f"In [{self.execution_count + 1}]"
            text = (f"{self.kernel.host} · {state} · {prompt}{job} · {kind} "
                    f"{self.kernel.id[:8]} · {route}" if job else  # the job's part in view
                    f"{self.kernel.host} · {kind} {self.kernel.id[:8]} · {state}"
                    f" · {route} · {prompt}")
        text += self.questions.status_note()
        status.update(text, layout=False)
        status.set_class(self.state in ("busy", "not answering") or self.job.near_end, "-busy")
        status.set_class(self.state in ("dead", "disconnected"), "-dead")

    # -- running code ------------------------------------------------------------------------

    def fit_plots(self) -> None:
        """Size the kernel's inline matplotlib figures to this console (one silent execute;
        see rtui.core.kernels.plot_size). Sent when the kernel comes (start, attach, restart)
        and again just before a cell once the console's size changed (between cells, never
        during one; a figure size or dpi the user set meanwhile is kept)."""
        # The output's rows with a one-line editor and no help panel: the plot's room, the
        # same however many lines the editor holds when the cell is sent.
        editor, status = self.query_one(CodeInput), self.query_one("#status")
        cols = self._view.scrollable_content_region.width
        rows = (self.size.height - status.outer_size.height
                - (editor.outer_size.height - editor.size.height + 1))
        kernel = self.kernel
        if kernel is None or cols <= 0 or rows <= 0:
            return
        size = plot_size(cols, rows, self.model.geometry.cell_px)  # as images are drawn
        if size == self._plot_size:
            return
        with contextlib.suppress(KernelError):  # a closed session: the cell itself says so
            kernel.session.execute(fit_code(size), silent=True,
                                   store_history=False, allow_stdin=False,
                                   on_event=lambda _event: None)
            self._plot_size = size
    def refresh_status(self) -> None:
        if self._hold_timer is None:
            self._update_status()

    @on(CodeInput.Submitted)
    def _submitted(self, message: CodeInput.Submitted) -> None:
        message.stop()
        if self.questions.active:
            self.questions.answer(message.code)
            return
        if not message.code.strip():
            return
        sent = None
        if self._ready.is_set() and self.kernel is not None:
            # Sent here, not in the worker: a worker starts a loop turn or a frame later.
            self._hold()
            self.fit_plots()
            sent = self.kernel.session.execute(message.code, on_event=self._on_cell_event,
                                               user_expressions=self._variables.cell_expressions())
        self.run_code(message.code, sent)

    @work(group="execute", exit_on_error=False)
    async def run_code(self, code: str, sent: Execution | None = None) -> None:
        """Run one cell (``sent``: already sent) until it ends; its events go to
        ``_on_cell_event`` as they arrive, a failure (a lost reply) to the app."""
        if sent is None:
            await self._ready.wait()  # typed ahead or while reconnecting: run once it is there
            self._hold()
            kernel = self.kernel
            assert kernel is not None
            self.fit_plots()
            sent = kernel.session.execute(code, on_event=self._on_cell_event,
                                          user_expressions=self._variables.cell_expressions())
        await sent.reply()
        if _CHANGES_PACKAGES.search(code):
            kernel = self.kernel
            self.post_message(self.PackagesChanged(
                self.kernels.name, kernel.python if kernel is not None else None))

    @on(Input.Submitted, "#secret")
    def _secret_submitted(self, message: Input.Submitted) -> None:
        message.stop()
        self.questions.answer(message.value)

    def echo(self, text: str) -> None:
        """A question and its answer, in the output as a terminal shows them."""
        self._info(text, "bold")

    @work(group="input", exit_on_error=False)
    async def send_input_reply(self, reply: str) -> None:
        """The answer to the kernel's input() or debugger prompt (it waits for it)."""
        kernel = self.kernel
        assert kernel is not None
        await kernel.session.input_reply(reply)

    @on(CodeInput.InspectRequested)
    def _inspect(self, message: CodeInput.InspectRequested) -> None:
        message.stop()
        panel = self.query_one("#inspect", Static)
        if message.error:
            panel.update(Text(f"No help: {message.error}", style="dim"))
        elif message.text:
            panel.update(Text.from_ansi(message.text))
        else:
            panel.update(Text("Nothing found for the name under the cursor.", style="dim"))
        panel.remove_class("-hidden")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Escape cancels a waiting SLURM job, and only then (else it hides the help); f7
        (Files) is not offered on a Jupyter server's kernel, which has no Files tab."""
        if action == "files":
            return self.kernels.supports_files
        return self.job.waiting if action == "cancel_job" else True

    def action_cancel_job(self) -> None:
        self.post_message(self.JobCancelRequested(self))

    def action_hide_help(self) -> None:
        self.query_one("#inspect", Static).add_class("-hidden")

    # -- lifecycle ---------------------------------------------------------------------------

    @work(group="control", exit_on_error=False)
    async def action_interrupt(self) -> None:
        if self.kernel is None:
            self.notify("The kernel is still starting", severity="warning")
            return
        await self.kernels.interrupt(self.kernel)

    @work(group="control", exit_on_error=False)
    async def action_restart(self) -> None:
        if self.kernel is None:
            self.notify("The kernel is still starting", severity="warning")
            return
        question = "Restart the kernel? Every variable is lost."
        if not await ask(self.app, ConfirmScreen("Restart kernel", question)):
            return
        self.state = "restarting"
        try:
            await self.kernels.restart(self.kernel)
        except RtuiError:
            self.state = "dead"
            raise
        self.execution_count = 0
        self.state = "idle"
        self._plot_size = None  # a new process: its matplotlib is sized again
        self.fit_plots()
        self.questions.ended()  # a debugger or input() of the old kernel asks no more
        self._variables.restarted()
        self._info("Kernel restarted: the namespace is empty.", "yellow")
        self.query_one(CodeInput).focus()

    # -- failures ----------------------------------------------------------------------------

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A failed worker of this console (a cell whose kernel died, interrupt, restart, an
        input reply...) is told where the app tells every failure: Textual delivers this
        message to the worker's node only, so the app's handler never saw it."""
        if event.state is not WorkerState.ERROR:
            return
        if self.exit_asked is not None and isinstance(event.worker.error, RtuiError):
            return  # a request that waited on a kernel ending as asked: no news
        self.app.post_message(Worker.StateChanged(event.worker, event.state))

    def action_clear(self) -> None:
        self.model.clear()
        self._view.notify_changed()

    def action_close_console(self) -> None:
        self.post_message(self.CloseRequested(self))

    def action_files(self) -> None:
        self.post_message(self.FilesRequested(self))

    def action_toggle_focus(self) -> None:
        if self._view.has_focus:
            self.query_one(CodeInput).focus()
        else:
            self._view.focus()

    def action_plots(self) -> None:
        self.post_message(self.PlotsRequested(self))

    @on(ConsoleView.SaveRequested)
    @work(group="save", exit_on_error=False)
    async def _save_output(self, message: ConsoleView.SaveRequested) -> None:
        """``s`` / ``S`` on an output: its bytes saved here or on the host."""
        from rtui.core.console.saving import default_name
        from rtui.tui.save_output import save_output

        name = default_name(self.kernels.name, message.number, message.suffix)
        await save_output(self.app, message.data, name, host=self.kernels.name,
                          on_host=message.on_host)

    def action_variables(self) -> None:
        """f12: the variables pane shown (it takes the tab when narrow), gone to, hidden."""
        self._variables.toggle(self.kernel)
        if not self._variables.shown:
            self.query_one(CodeInput).focus()

    @on(VariablesPane.Left)
    def _variables_left(self, message: VariablesPane.Left) -> None:
        message.stop()
        if self.has_class("-variables-full"):
            self._variables.toggle(self.kernel)
        self.query_one(CodeInput).focus()

    def on_resize(self) -> None:
        self._variables.fit(self.size.width)

    async def shutdown_kernel(self) -> None:
        if self.kernel is not None:
            await self.kernels.shutdown(self.kernel)

    async def detach(self) -> None:
        if self.kernel is not None:
            await self.kernels.detach(self.kernel)

    async def end_as_asked(self) -> None:
        """Shut the kernel down or detach, as exit()/quit() asked (``exit_asked``); done
        once, whoever asks first: the app's worker, or its quit while that runs."""
        asked, kernel = self.exit_asked, self.kernel
        if asked is None or kernel is None:
            return
        if self._ending is None:
            self._ending = asyncio.ensure_future(honour_exit(self.kernels, kernel, asked))
            self._ending.add_done_callback(lambda f: f.cancelled() or f.exception())
        await asyncio.shield(self._ending)
