"""SLURM in the TUI, driven with the pilot as a person would, at 80x24: the host form's SLURM
section is saved as the host's slurm table."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Collapsible, Input, Label, TextArea

from rtui.core.config.model import Host
from rtui.core.slurm.settings import SlurmSettings
from rtui.tui.app import RtuiApp
from rtui.tui.screens.host_form import HostFormScreen
from tests.tui_helpers import store_with, until

SIZE = (80, 24)


async def test_host_form_saves_the_slurm_table(tmp_path: Path, isolated_home: Path) -> None:
    """The SLURM section: typed values (a bad one named where it is), saved as the host's
    table, shown again when the host is edited."""
    store = store_with(tmp_path, Host("cluster", hostname="login.example.org"))
    app = RtuiApp(store, check_on_start=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("e")
        await until(lambda: isinstance(app.screen, HostFormScreen)
                    and bool(app.screen.query("#slurm-time")))
        form = app.screen
        await pilot.press(*["tab"] * 12, "enter")  # past the 12 fields: the folded section
        await until(lambda: not form.query_one("#slurm", Collapsible).collapsed)
        await pilot.press("tab")
        assert app.focused is form.query_one("#slurm-partition", Input)
        await pilot.press(*"gpu")
        form.query_one("#slurm-time", Input).focus()
        await pilot.press(*"2 hours")
        error = form.query_one("#e-slurm", Label)
        await until(lambda: "time" in str(error.render()))
        await pilot.press("ctrl+o")
        assert isinstance(app.screen, HostFormScreen)  # not saved with a bad time
        form.query_one("#slurm-time", Input).value = ""
        await pilot.press(*"02:00:00")
        form.query_one("#slurm-setup", TextArea).focus()
        await pilot.press(*"module load python", "enter", *"echo ready")
        await pilot.press("ctrl+o")
        await until(lambda: not isinstance(app.screen, HostFormScreen))
        saved = store.load().require("cluster").slurm
        assert saved == SlurmSettings(partition="gpu", time="02:00:00",
                                      setup=("module load python", "echo ready"))
        await pilot.press("e")
        await until(lambda: isinstance(app.screen, HostFormScreen)
                    and bool(app.screen.query("#slurm-time")))
        assert app.screen.query_one("#slurm-partition", Input).value == "gpu"
        assert app.screen.query_one("#slurm-setup", TextArea).text == (
            "module load python\necho ready")
