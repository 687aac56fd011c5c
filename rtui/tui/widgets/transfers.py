"""The transfers panel: every job of the workspace's transfer queue with its progress bar,
bytes, rate, ETA, state and error; ``x`` cancels the selected job, ``enter`` retries it
(a retry resumes from what the failed run left).

The queue belongs to the workspace (jobs outlive the Files tab); the panel only shows it.
The queue's events are coalesced to ten a second per job, and each one only marks the
panel for a repaint (Textual paints at most once a frame).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widget import Widget

from rtui.core.units import byte_size, clock

if TYPE_CHECKING:  # the engine loads asyncssh: the panel needs only the shapes
    from rtui.core.files.queue import Job, TransferQueue

__all__ = ["TransfersPanel", "format_eta", "job_lines", "toggle_transfers"]


def format_eta(seconds: float | None) -> str:
    """``0:07``, ``1:02:03``; ``-:--`` when unknown."""
    return "-:--" if seconds is None or seconds < 0 else clock(seconds)


_STATE_STYLE = {"queued": "dim", "running": "bold", "done": "green", "failed": "bold red",
                "cancelled": "yellow"}


def _bar(fraction: float, width: int) -> str:
    filled = max(0, min(width, round(fraction * width)))
    return "█" * filled + "░" * (width - filled)


def _middle_cut(text: str, width: int) -> str:
    """``text`` in ``width`` cells, cut in the middle: a job's title keeps its source's start
    and its destination's end."""
    if len(text) <= width:
        return text
    keep = max(0, width - 1)
    return text[:keep // 3] + "…" + text[len(text) - (keep - keep // 3):]


def job_lines(job: Job, width: int) -> tuple[Text, Text]:
    """The job's two rows: its state and title; its bar, bytes, rate and ETA (or error)."""
    state = job.state
    head = Text.assemble((f"{state:<9} ", _STATE_STYLE.get(state, "")),
                         _middle_cut(job.title, width - 10))
    head.truncate(width, overflow="ellipsis")  # wide characters take two cells
    progress = job.progress
    if state == "failed":
        detail = Text(f"  {job.error or 'failed'} (enter retries)", style="red")
    elif job.note:
        detail = Text(f"  {job.note}", style="yellow")
    elif progress is None:
        detail = Text("  waiting" if state == "queued" else "", style="dim")
    else:
        fraction = progress.done / progress.total if progress.total else (
            1.0 if state == "done" else 0.0)
        numbers = f" {fraction:4.0%}  {byte_size(progress.done)}/{byte_size(progress.total)}"
        if state == "running":
            numbers += f"  {byte_size(progress.rate)}/s  ETA {format_eta(progress.eta)}"
        bar_width = max(5, min(30, width - len(numbers) - 2))
        detail = Text.assemble("  ", (_bar(fraction, bar_width), _STATE_STYLE.get(state, "")),
                               numbers)
    detail.truncate(width, overflow="ellipsis")
    return head, detail


class TransfersPanel(Widget, can_focus=True):
    """The queue's jobs, newest last; the selected one is highlighted."""

    DEFAULT_CSS = """
    TransfersPanel { dock: bottom; height: 9; border-top: solid $accent;
                     background: $surface; padding: 0 1; }
    TransfersPanel:focus { border-top: thick $accent; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("x", "cancel_job", "Cancel", id="transfers.cancel"),
        Binding("enter", "retry_job", "Retry", id="transfers.retry"),
        Binding("up", "move(-1)", "Previous job", id="transfers.up", show=False),
        Binding("down", "move(1)", "Next job", id="transfers.down", show=False),
        Binding("escape,t", "close_panel", "Close", id="transfers.close"),
    ]

    def __init__(self, queue: TransferQueue, *, id: str | None = "transfers") -> None:
        super().__init__(id=id)
        self.queue = queue
        self.selected = 0
        self._follow_last = True  # the newest job selected until the person moves
        self._unsubscribe: Callable[[], None] | None = None
        self._return_focus: Widget | None = None

    def on_mount(self) -> None:
        self._unsubscribe = self.queue.subscribe(self._changed)
        self._return_focus = self.app.focused
        self._changed()
        self.focus()

    def on_unmount(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def _changed(self, _job: Job | None = None) -> None:
        jobs = self.queue.jobs
        if self._follow_last or self.selected >= len(jobs):
            self.selected = max(0, len(jobs) - 1)
        self.refresh()

    @property
    def selected_job(self) -> Job | None:
        jobs = self.queue.jobs
        return jobs[self.selected] if 0 <= self.selected < len(jobs) else None

    def render(self) -> Text:
        jobs = list(self.queue.jobs)
        width = max(10, self.content_size.width)
        if not jobs:
            return Text("No transfers yet: u uploads, g downloads.", style="dim")
        per_screen = max(1, self.content_size.height // 2)
        first = min(max(0, self.selected - per_screen + 1), max(0, len(jobs) - per_screen))
        out = Text()
        for index in range(first, min(len(jobs), first + per_screen)):
            head, detail = job_lines(jobs[index], width)
            if index == self.selected:
                head.stylize("reverse")
            out.append_text(head)
            out.append("\n")
            out.append_text(detail)
            out.append("\n")
        out.rstrip()
        return out

    def action_move(self, step: int) -> None:
        count = len(self.queue.jobs)
        if count:
            self.selected = max(0, min(count - 1, self.selected + step))
            self._follow_last = self.selected == count - 1
            self.refresh()

    def action_cancel_job(self) -> None:
        job = self.selected_job
        if job is None:
            return
        if job.state in ("queued", "running"):
            self.queue.cancel(job.id)
        else:
            self.notify(f"{job.title} is {job.state}: nothing to cancel")

    def action_retry_job(self) -> None:
        job = self.selected_job
        if job is None:
            return
        if job.state in ("failed", "cancelled"):
            self.queue.retry(job.id)
            self._follow_last = True
        else:
            self.notify(f"{job.title} is {job.state}: nothing to retry")

    def action_close_panel(self) -> None:
        back = self._return_focus
        self.remove()
        if back is not None and back.is_attached:
            back.focus()


def toggle_transfers(container: Widget, queue: TransferQueue) -> TransfersPanel | None:
    """Show the transfers panel at the bottom of ``container`` (focused), or close it when
    it is there; the panel shown, or None."""
    panels = container.query(TransfersPanel)
    if panels:
        panels.first().action_close_panel()
        return None
    panel = TransfersPanel(queue)
    container.mount(panel)
    return panel
