"""The key footer: on the first frame, and rebuilt only when the keys it shows change."""

from __future__ import annotations

from pathlib import Path

from textual.widgets._footer import FooterKey

from rtui.core.config.model import Host
from rtui.tui.app import RtuiApp
from rtui.tui.widgets.footer import KeyFooter
from tests.tui_helpers import store_with, until


async def test_footer_keys_follow_focus_and_are_not_rebuilt_for_nothing(
    tmp_path: Path,
) -> None:
    store = store_with(tmp_path, Host("lab", hostname="lab.example.org"))
    app = RtuiApp(store, check_on_start=False)
    async with app.run_test(size=(80, 24)) as pilot:
        footer = app.query_one(KeyFooter)
        await until(lambda: "Add" in {key.description for key in footer.query(FooterKey)})
        await pilot.pause()  # focus has settled on the host table
        rebuilds = 0
        original = footer.recompose

        async def counted() -> None:
            nonlocal rebuilds
            rebuilds += 1
            await original()

        footer.recompose = counted  # type: ignore[method-assign]
        for _ in range(5):  # what focus moves do at start-up: the same keys, asked again
            app.screen.refresh_bindings()
        await pilot.pause()
        await pilot.pause()
        assert rebuilds == 0
        await pilot.press("slash")  # the filter has focus: other keys, one rebuild
        await until(lambda: rebuilds == 1)
        await pilot.pause()
        assert rebuilds == 1
        descriptions = {key.description for key in footer.query(FooterKey)}
        assert "Quit" in descriptions and "Add" not in descriptions
        await pilot.press("enter")  # back to the table, its keys again
        await until(lambda: "Add" in {key.description for key in footer.query(FooterKey)})
