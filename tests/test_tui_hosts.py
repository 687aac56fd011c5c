"""The host-list screen, driven with Textual's pilot as a user would."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import DataTable, Static

from rtui.core.config.model import Host
from rtui.core.config.store import HostStore
from rtui.tui.app import RtuiApp


async def test_host_list_shows_hosts_and_reloads(tmp_path: Path) -> None:
    store = HostStore(tmp_path / "hosts.toml")
    store.update(lambda c: c.with_host(Host("lab", hostname="lab.example.org", user="alice")))
    app = RtuiApp(store)
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one("#hosts", DataTable)
        assert table.row_count == 1
        assert table.get_row_at(0)[:2] == ["lab", "alice@lab.example.org:22"]
        store.update(lambda c: c.with_host(Host("gpu", tags=("gpu",))))
        await pilot.press("r")
        assert table.row_count == 2
        await pilot.press("q")
    assert app.return_code == 0


async def test_broken_config_is_a_message_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "hosts.toml"
    path.write_text("[[hosts]]\nname = \n")
    app = RtuiApp(HostStore(path))
    async with app.run_test(size=(80, 24)) as pilot:
        problem = app.query_one("#problem", Static)
        assert "line 2" in str(problem.render())
        assert problem.display
        await pilot.press("q")
    assert path.read_text() == "[[hosts]]\nname = \n"
