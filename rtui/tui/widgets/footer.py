"""The key footer, rebuilt only when the keys it shows change."""

from __future__ import annotations

from typing import Any

from textual.screen import Screen
from textual.widgets import Footer

from rtui.tui.render import mark_bindings_ready


class KeyFooter(Footer):
    """Textual's ``Footer``, recomposed at most once per refresh and only when its keys changed.

    Textual's footer rebuilds all its key widgets on every bindings change (~40 ms with the
    hosts pane's keys). Focus moves five times while the app starts, and those rebuilds ran
    back to back: the footer reached the screen ~0.3 s after the rest of the first frame.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._queued = False
        self._shown: tuple[object, ...] | None = None

    def bindings_changed(self, screen: Screen[Any]) -> None:
        mark_bindings_ready(self)
        if not screen.app.app_focus or not self.is_attached or screen is not self.screen:
            return
        if not self._queued:
            self._queued = True
            self.call_after_refresh(self._update_keys)

    async def _update_keys(self) -> None:
        self._queued = False
        if not self.is_attached:
            return
        shown = self._keys_shown()
        if shown != self._shown:
            self._shown = shown
            await self.recompose()

    def _keys_shown(self) -> tuple[object, ...]:
        """What ``compose`` draws from: every active binding (a frozen dataclass: its key,
        key display, description, group...) with its state, and the palette's key."""
        return (self.show_command_palette, self.app.ENABLE_COMMAND_PALETTE, *(
            (binding, enabled, tooltip)
            for _node, binding, enabled, tooltip in self.screen.active_bindings.values()
        ))
