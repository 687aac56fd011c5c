"""Job consoles in the TUI, driven with the pilot as a person would, against the real
one-node SLURM cluster (tests/harness/slurm.py) whose login node is the loopback sshd, at
80x24: ``j`` opens the job form filled from the host's slurm table; sbatch's refusal of a
bad partition stays in the form; a job behind one that holds the only node shows the pending
panel (its state and the scheduler's reason); escape cancels it; ``k`` lists a pending job;
once the holder goes the console runs ``1+1``, its status line shows the node and the time
left (the warning too: 5 minutes is all the job has); closing asks, and "cancel" leaves
nothing in the queue; a job whose set-up fails says so with the end of its output. The
host form's SLURM section is saved as the host's slurm table.

Cost: ~15-27 s of the SLURM group's worker for the flow (load-dependent; the cluster and the
login node's sshd are the session's), ~5-9 s for the form (no server).
"""

from __future__ import annotations

import sys
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Collapsible, DataTable, Input, Label, OptionList, Static, TextArea

from rtui.core.config.model import Host
from rtui.core.slurm.settings import SlurmSettings
from rtui.tui.app import RtuiApp
from rtui.tui.screens.host_form import HostFormScreen
from rtui.tui.screens.prompts import ChoiceScreen, ConfirmScreen
from rtui.tui.screens.slurm_form import SlurmFormScreen
from rtui.tui.widgets.code_input import CodeInput
from rtui.tui.widgets.console import ConsolePane
from tests.harness.slurm import SlurmCluster
from tests.harness.sshd import SSHD
from tests.ssh_helpers import host_for, trust
from tests.tui_helpers import output, screen_lines, store_with, until

PY = sys.executable
SIZE = (80, 24)
START = 60.0  # s a job's kernel may take to come up on a loaded machine


def _choice_shown(app: RtuiApp) -> bool:
    return isinstance(app.screen, ChoiceScreen) and bool(app.screen.query(OptionList))


def _options(app: RtuiApp) -> list[str]:
    """The labels of the choice dialog in view."""
    return [str(option.prompt) for option in app.screen.query_one(OptionList).options]


def _queued(slurm: SlurmCluster) -> set[str]:
    """The cluster's jobs (ids), whatever their state."""
    out = slurm.run("squeue", "-h", "-o", "%i")
    return set(out.stdout.split())


def _screen(app: RtuiApp) -> str:
    return "\n".join(screen_lines(app))


async def _submit(app: RtuiApp, pilot: Pilot[None], *,
                  partition: str | None = None) -> None:
    """``j`` on the selected host, the form as the host's table fills it, ctrl+o."""
    await pilot.press("j")
    await until(lambda: isinstance(app.screen, SlurmFormScreen)
                and bool(app.screen.query("#job-partition"))
                and app.focused is app.screen.query_one("#job-partition"))
    if partition is not None:
        field = app.screen.query_one("#job-partition", Input)
        field.value = ""
        await pilot.press(*partition)
    await pilot.press("ctrl+o")


async def test_job_console_pending_cancelled_then_running_and_closed(
    slurm: SlurmCluster, slurm_sshd: SSHD, tmp_path: Path, isolated_home: Path
) -> None:
    trust(slurm_sshd, isolated_home)
    host = host_for(slurm_sshd, "cluster", python=PY,
                    slurm=SlurmSettings(partition="short", time="5"))
    app = RtuiApp(store_with(tmp_path, host), check_on_start=False)
    holder = slurm.hold_node()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        # A partition the cluster does not have: sbatch's words, in the form, nothing queued.
        await _submit(app, pilot, partition="nosuch")
        form = app.screen
        error = form.query_one("#slurm-error", Label)
        await until(lambda: "partition" in str(error.render()).lower(), 30)
        assert isinstance(app.screen, SlurmFormScreen)
        assert _queued(slurm) == {holder}
        assert form.query_one("#job-time", Input).value == "5"  # the host's table
        await pilot.press("escape")
        await until(lambda: not isinstance(app.screen, SlurmFormScreen))

        # Behind the holder: the pending panel with the state and the reason; escape cancels.
        await _submit(app, pilot)
        await until(lambda: len(app.query(ConsolePane)) == 1, 30)
        pane = app.query_one(ConsolePane)
        await until(lambda: pane.job.info is not None and pane.job.info.pending
                    and pane.job.info.reason in ("Resources", "Priority"), 30)
        job = pane.job.info
        assert job is not None
        shown = _screen(app)
        assert f"SLURM job {job.job_id}" in shown and "PENDING" in shown, shown
        assert job.reason is not None and job.reason in shown, shown
        assert "expected" in shown and "escape cancels the job" in shown, shown
        assert f"job {job.job_id} pending" in str(pane.query_one("#status", Static).render())
        assert _queued(slurm) == {holder, job.job_id}
        await until(lambda: isinstance(app.focused, CodeInput))
        await pilot.press("escape")
        await until(lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(lambda: not app.query(ConsolePane), 30)
        assert _queued(slurm) == {holder}

        # Again; k lists it (pending) while it waits; then it runs once the node is free.
        await _submit(app, pilot)
        await until(lambda: len(app.query(ConsolePane)) == 1, 30)
        pane = app.query_one(ConsolePane)
        await until(lambda: pane.job.info is not None and pane.job.info.pending, 30)
        job = pane.job.info
        assert job is not None
        await pilot.press("f3")
        await until(lambda: isinstance(app.focused, DataTable))  # the host list's
        await pilot.press("k")
        await until(lambda: _choice_shown(app), 30)
        listed = " | ".join(_options(app))
        assert f"job {job.job_id:<6}  pending" in listed, listed
        await pilot.press("escape")
        await until(lambda: not isinstance(app.screen, ChoiceScreen))
        await pilot.press("f6")  # back to the job's console
        await until(lambda: isinstance(app.focused, CodeInput))

        slurm.run("scancel", holder)
        await until(lambda: pane.kernel is not None, START)
        await pilot.press(*"1+1", "enter")
        await until(lambda: "Out[1]: 2" in output(pane), 30)
        status = str(pane.query_one("#status", Static).render())
        assert f"node {slurm.node}" in status and " left" in status, status
        assert " left!" in status, status  # the warning: 5 minutes is all it has
        assert "cluster network" in output(pane)  # the exposure note
        await until(lambda: "SLURM time limit" in _screen(app))  # the warning's toast

        # Closing asks; "cancel" cancels the job: nothing left in the queue.
        await pilot.press("f4")
        await until(lambda: _choice_shown(app))
        labels = _options(app)
        assert labels[0].startswith(f"Cancel job {job.job_id}"), labels
        assert any("running" in label for label in labels) and "Back" in labels[2], labels
        await pilot.press("enter")
        await until(lambda: not app.query(ConsolePane), 30)
        await until(lambda: not _queued(slurm), 30)

        # A job that fails at start (a set-up line that fails): the panel says so, with the
        # end of its output; closing asks nothing (nothing is queued).
        await pilot.press("j")
        await until(lambda: isinstance(app.screen, SlurmFormScreen)
                    and bool(app.screen.query("#job-setup")))
        app.screen.query_one("#job-setup", TextArea).focus()
        await pilot.press(*"echo no module; exit 3", "ctrl+o")
        await until(lambda: len(app.query(ConsolePane)) == 1, 30)
        pane = app.query_one(ConsolePane)
        await until(lambda: pane.job.failed, START)
        shown = _screen(app)
        assert "no module" in shown and "FAILED" in shown.upper(), shown
        await pilot.press("f4")
        await until(lambda: not app.query(ConsolePane), 30)
        assert not _queued(slurm)


async def test_host_form_saves_the_slurm_table(tmp_path: Path, isolated_home: Path) -> None:
    """The SLURM section, unfolded and filled by keyboard: a bad value named where it is and
    not saved; then saved as the host's table (the job form shows it: the test above)."""
    store = store_with(tmp_path, Host("cluster", hostname="login.example.org"))
    app = RtuiApp(store, check_on_start=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("e")
        await until(lambda: isinstance(app.screen, HostFormScreen)
                    and bool(app.screen.query("#slurm-time")))
        form = app.screen
        # From Name back past the kind, the form, Note and Tags to the section.
        await pilot.press(*["shift+tab"] * 5, "enter")
        await until(lambda: not form.query_one("#slurm", Collapsible).collapsed)
        await pilot.press("tab")
        assert app.focused is form.query_one("#slurm-partition", Input)
        await pilot.press(*"gpu", "tab")
        assert app.focused is form.query_one("#slurm-time", Input)
        await pilot.press(*"2h")
        error = form.query_one("#e-slurm", Label)
        await until(lambda: "time" in str(error.render()))
        await pilot.press("ctrl+o")
        assert isinstance(app.screen, HostFormScreen)  # not saved with a bad time
        await pilot.press("backspace", "backspace", *"90")
        await until(lambda: not str(error.render()))
        form.query_one("#slurm-setup", TextArea).focus()
        await pilot.press(*"ml a", "enter", *"ml b")
        await pilot.press("ctrl+o")
        await until(lambda: not isinstance(app.screen, HostFormScreen))
        saved = store.load().require("cluster").slurm
        assert saved == SlurmSettings(partition="gpu", time="90", setup=("ml a", "ml b"))
