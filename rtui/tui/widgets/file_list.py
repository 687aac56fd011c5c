"""A directory's entries as a virtual list: only the rows in view are painted, whatever the
listing's size, and rows are added batch by batch while the listing streams in.

A ``DataTable`` with 100,000 rows takes seconds to fill and to sort. Here each batch is
ranked alone as it comes (its sort keys made once), and the ranked batches are merged into
the ranking each time the listing doubled, then once at its end: merging sorted runs is
close to linear, where sorting 100,000 names afresh held the screen for ~0.2 s. Reversing
the order only reads the ranking backwards. The view is the ranking filtered (a filter keeps
the order), so typing in the filter never sorts again.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding, BindingType
from textual.events import Click, Resize
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from rtui.core.files.model import Entry, SortKey, filter_entries
from rtui.core.files.paths import printable

__all__ = ["FileList", "human_size", "short_time"]

_HALF_YEAR = 182 * 24 * 3600
# Styles by the 16 ANSI colour names, so --ansi and tmux look right.
_KIND_STYLES = {"dir": Style(color="blue", bold=True), "link": Style(color="cyan"),
                "other": Style(color="yellow")}
_EXEC_STYLE = Style(color="green")
_MARK_STYLE = Style(color="yellow", bold=True)
_DIM = Style(dim=True)


Ranked = tuple[tuple[Any, ...], int]  # (sort key, index in the listing)
_FILES = ((1,),)  # ranks below this are folders'


def rank_key(key: SortKey) -> Callable[[Entry], tuple[Any, ...]]:
    """The sort key of ``model.sort_entries``'s order: folders (and links to them) first,
    then by name (case-insensitive), size (largest first) or time (newest first)."""
    if key is SortKey.NAME:
        return lambda e: (0 if e.is_dir else 1, e.name.casefold(), e.name)
    if key is SortKey.SIZE:
        return lambda e: (0 if e.is_dir else 1, -e.size, e.name.casefold())
    return lambda e: (0 if e.is_dir else 1, -e.mtime, e.name.casefold())


def human_size(size: int) -> str:
    """``ls -h``'s habit in at most 5 cells: ``512``, ``4.0K``, ``12M``, ``1.5G``."""
    value = float(size)
    for unit in ("", "K", "M", "G", "T", "P"):
        if value < 1024 or unit == "P":
            if not unit:
                return str(int(value))
            return f"{value:.1f}{unit}" if value < 10 else f"{value:.0f}{unit}"
        value /= 1024
    return str(size)  # not reached


def short_time(mtime: float, now: float | None = None) -> str:
    """``ls -l``'s 12 cells: ``Dec 07 08:14`` within half a year, else ``Dec 07  2024``."""
    now = time.time() if now is None else now
    local = time.localtime(mtime)
    if abs(now - mtime) < _HALF_YEAR:
        return time.strftime("%b %d %H:%M", local)
    return time.strftime("%b %d  %Y", local)


class FileList(ScrollView, can_focus=True):
    """The entries of one directory; the owner feeds them with :meth:`start`, :meth:`add`
    and :meth:`finish`, and hears about the cursor and the counts through messages."""

    DEFAULT_CSS = """
    FileList { background: $surface; color: $foreground; overflow-x: hidden;
               overflow-y: auto; }
    FileList > .file-list--cursor { background: $block-cursor-background;
                                    color: $block-cursor-foreground; text-style: bold; }
    FileList > .file-list--cursor-blurred { background: $block-cursor-blurred-background; }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {"file-list--cursor", "file-list--cursor-blurred"}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "move(-1)", "Up", id="files.up", show=False),
        Binding("down", "move(1)", "Down", id="files.down", show=False),
        Binding("pageup", "page(-1)", "Page up", id="files.page_up", show=False),
        Binding("pagedown", "page(1)", "Page down", id="files.page_down", show=False),
        Binding("home", "edge(-1)", "First entry", id="files.first", show=False),
        Binding("end", "edge(1)", "Last entry", id="files.last", show=False),
        Binding("enter", "select", "Open", id="files.open"),
    ]

    @dataclass
    class Highlighted(Message):
        """The cursor is on ``entry`` (None: the list is empty)."""

        file_list: FileList
        entry: Entry | None

    @dataclass
    class Selected(Message):
        """Enter on ``entry``."""

        file_list: FileList
        entry: Entry

    @dataclass
    class Changed(Message):
        """The counts (entries, shown, marked) changed: the owner's status line."""

        file_list: FileList

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._all: list[Entry] = []
        self._ranked: list[Ranked] = []  # the ranking of _all[:_sorted_count]
        self._runs: list[Ranked] = []  # later batches, each ranked alone (sorted runs)
        self._sorted: list[Entry] = []  # _all in order, as of the last merge
        self._sorted_count = 0  # how many of _all the ranking holds
        self._hidden = 0  # hidden entries in _all
        self.view: list[Entry] = []  # _sorted filtered: the rows
        self.cursor = 0
        self.marked: set[str] = set()
        self.sort_key = SortKey.NAME
        self.reverse = False
        self.show_hidden = False
        self.filter_text = ""
        self.complete = False  # True once a listing came whole (not before the first)
        self._want: str | None = None  # the name to put the cursor on when it comes
        self._steered = False  # the person moved the cursor in this listing (else: the top)

    # -- the owner's side ---------------------------------------------------------------------

    def start(self, select: str | None = None) -> None:
        """A new listing begins: empty, the cursor goes to ``select`` when it comes."""
        self._all, self._sorted, self.view = [], [], []
        self._ranked, self._runs = [], []
        self._sorted_count = self._hidden = 0
        self.marked.clear()
        self.cursor = 0
        self.complete = False
        self._want = select
        self._steered = False
        self._refilter(keep=None)

    def add(self, entries: Sequence[Entry]) -> None:
        """A batch of the listing, ranked; merged in at once while the listing is short,
        then each time it doubled."""
        start = len(self._all)
        self._all.extend(entries)
        self._hidden += sum(1 for e in entries if e.hidden)
        key = rank_key(self.sort_key)
        self._runs.extend(sorted((key(e), start + n) for n, e in enumerate(entries)))
        if len(self._all) >= 2 * self._sorted_count or len(self._all) <= 2000:
            self._merge()
        else:
            self.post_message(self.Changed(self))

    def finish(self) -> None:
        """The listing is complete: everything merged in."""
        self.complete = True
        if self._runs:
            self._merge()
        else:
            self.post_message(self.Changed(self))

    @property
    def total(self) -> int:
        """Entries listed so far (shown or not)."""
        return len(self._all)

    @property
    def hidden_count(self) -> int:
        """Hidden entries listed (all hidden from view while hidden files are off)."""
        return self._hidden

    @property
    def current(self) -> Entry | None:
        return self.view[self.cursor] if 0 <= self.cursor < len(self.view) else None

    def chosen(self) -> list[Entry]:
        """What an operation acts on: the marked entries, else the one under the cursor."""
        if self.marked:
            return [e for e in self._sorted if e.name in self.marked]
        current = self.current
        return [current] if current is not None else []

    def set_sort(self, key: SortKey, reverse: bool) -> None:
        """Another order: a new key ranks everything again; ``reverse`` alone only reads the
        ranking the other way."""
        keep = self._current_name()
        if key is not self.sort_key:
            self.sort_key = key
            rank = rank_key(key)
            self._ranked = sorted((rank(e), n) for n, e in enumerate(self._all))
            self._runs, self._sorted_count = [], len(self._all)
        self.reverse = reverse
        self._order(keep)

    def set_filter(self, text: str) -> None:
        self.filter_text = text
        self._refilter(keep=self._current_name())

    def set_hidden(self, show: bool) -> None:
        self.show_hidden = show
        if not show:  # a mark on what can no longer be seen would be acted on unseen
            self.marked.difference_update(e.name for e in self._sorted if e.hidden)
        self._refilter(keep=self._current_name())

    def toggle_mark(self) -> None:
        """Mark or unmark the entry under the cursor, then go to the next one."""
        entry = self.current
        if entry is None:
            return
        self.marked.symmetric_difference_update({entry.name})
        self._steered = True
        self._move_to(self.cursor + 1)
        self.refresh()
        self.post_message(self.Changed(self))

    def mark_all(self) -> None:
        """Mark every entry in view (all of them marked already: unmark them)."""
        names = {e.name for e in self.view}
        if names <= self.marked:
            self.marked -= names
        else:
            self.marked |= names
        self.refresh()
        self.post_message(self.Changed(self))

    def clear_marks(self) -> bool:
        """Unmark everything; False when nothing was marked."""
        if not self.marked:
            return False
        self.marked.clear()
        self.refresh()
        self.post_message(self.Changed(self))
        return True

    def select_name(self, name: str) -> None:
        """Put the cursor on ``name`` (now, or when a streaming listing brings it)."""
        index = self._index_of(name)
        if index is not None:
            self._want = None
            self._steered = True
            self._move_to(index)
        else:
            self._want = name if not self.complete else None

    # -- sorting and filtering ----------------------------------------------------------------

    def _current_name(self) -> str | None:
        entry = self.current
        return entry.name if entry is not None else None

    def _merge(self) -> None:
        """The ranked batches into the ranking: Timsort merges sorted runs in about one pass.
        The cursor stays on its entry once the person moved it; until then, at the top (the
        entry first listed would otherwise drift to the middle as the rest sorts in)."""
        self._ranked.extend(self._runs)
        self._ranked.sort()
        self._runs, self._sorted_count = [], len(self._all)
        if not self._steered:
            self.cursor = 0
        self._order(self._current_name() if self._steered else None)

    def _order(self, keep: str | None) -> None:
        """The entries in the ranking's order (backwards within folders and files when
        reversed), then the view of them."""
        ranked, entries = self._ranked, self._all
        split = bisect_left(ranked, _FILES)
        folders, files = ranked[:split], ranked[split:]
        if self.reverse:
            folders.reverse()
            files.reverse()
        self._sorted = [entries[n] for _, n in folders] + [entries[n] for _, n in files]
        self._refilter(keep=keep)

    def _refilter(self, keep: str | None) -> None:
        self.view = filter_entries(self._sorted, self.filter_text, self.show_hidden)
        self.virtual_size = Size(self.scrollable_content_region.width, len(self.view))
        index = None
        for want in (self._want, keep):
            index = self._index_of(want) if want is not None else None
            if index is not None:
                if want == self._want:
                    self._want = None
                    self._steered = True  # asked for: kept as the rest comes
                break
        self._move_to(min(self.cursor, len(self.view) - 1) if index is None else index,
                      force=True)
        self.refresh()
        self.post_message(self.Changed(self))

    def _index_of(self, name: str) -> int | None:
        return next((i for i, e in enumerate(self.view) if e.name == name), None)

    # -- the cursor ---------------------------------------------------------------------------

    def _move_to(self, index: int, *, force: bool = False) -> None:
        index = max(0, min(index, len(self.view) - 1)) if self.view else 0
        if index == self.cursor and not force:
            return
        self.cursor = index
        height = self.scrollable_content_region.height
        top = round(self.scroll_y)
        if index < top:
            self.scroll_to(y=index, animate=False, force=True)
        elif height > 0 and index >= top + height:
            self.scroll_to(y=index - height + 1, animate=False, force=True)
        self.refresh()
        self.post_message(self.Highlighted(self, self.current))

    def action_move(self, step: int) -> None:
        self._steered = True
        self._move_to(self.cursor + step)

    def action_page(self, step: int) -> None:
        self._steered = True
        self._move_to(self.cursor + step * max(self.scrollable_content_region.height - 1, 1))

    def action_edge(self, step: int) -> None:
        self._steered = True
        self._move_to(0 if step < 0 else len(self.view) - 1)

    def action_select(self) -> None:
        entry = self.current
        if entry is not None:
            self.post_message(self.Selected(self, entry))

    def on_click(self, event: Click) -> None:
        """A click puts the cursor on the row; a second click on it opens it."""
        index = round(self.scroll_y) + event.y
        if 0 <= index < len(self.view):
            if index == self.cursor and event.chain > 1:
                self.action_select()
            self._steered = True
            self._move_to(index)

    def on_resize(self, event: Resize) -> None:
        self.virtual_size = Size(self.scrollable_content_region.width, len(self.view))
        self._move_to(self.cursor, force=True)

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    # -- painting -----------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        """One row: mark, name (``/`` after a folder, ``-> target`` after a link), size, time."""
        width = self.scrollable_content_region.width
        index = round(self.scroll_y) + y
        base = self.rich_style
        if not 0 <= index < len(self.view):
            if index == 0 and self.complete and not self.view:
                note = " (nothing matches the filter)" if self.filter_text else (
                    " (only hidden entries: . shows them)" if self._all else " (empty)")
                return Strip([Segment(note, base + _DIM)]).adjust_cell_length(width, base)
            return Strip.blank(width, base)
        entry = self.view[index]
        segments = list(self._row(entry, width, base))
        if index == self.cursor:
            cursor = self.get_component_rich_style(
                "file-list--cursor" if self.has_focus else "file-list--cursor-blurred")
            segments = [Segment(text, (style or base) + cursor) for text, style, _ in segments]
        return Strip(segments).adjust_cell_length(width, base)

    def _row(self, entry: Entry, width: int, base: Style) -> Iterable[Segment]:
        marked = entry.name in self.marked
        show_time = width >= 48
        show_size = width >= 24
        tail = (7 if show_size else 0) + (14 if show_time else 0)
        name_width = max(width - 2 - tail, 1)
        name = printable(entry.name)
        style = _KIND_STYLES.get(entry.kind, Style())
        if entry.kind == "file" and entry.mode & 0o111:
            style = _EXEC_STYLE
        suffix = "/" if entry.is_dir else ""
        target = f" -> {printable(entry.target)}" if entry.target is not None else ""
        label = name + suffix
        cells = cell_len(label)
        if cells > name_width:
            label, cells, target = set_cell_size(label, name_width - 1) + "…", name_width, ""
        elif cells + cell_len(target) > name_width:
            room = name_width - cells - 1
            target = set_cell_size(target, room) + "…" if room > 0 else ""
        yield Segment("*" if marked else " ", base + _MARK_STYLE)
        yield Segment(" ", base)
        yield Segment(label, base + (style + _MARK_STYLE if marked else style))
        yield Segment(target, base + _DIM)
        yield Segment(" " * max(name_width - cells - cell_len(target), 0), base)
        if show_size:
            size = "" if entry.kind == "dir" else human_size(entry.size)
            yield Segment(f" {size:>6}", base)
        if show_time:
            yield Segment(f"  {short_time(entry.mtime)}", base + _DIM)
