"""Images in the terminal: which graphics this run uses (``detect``, before the app starts)
and painters that turn an image into rows of cells (``painters.make_painter``).

Modes: ``kitty`` (Unicode placeholders, tmux too with ``allow-passthrough``), ``sixel``,
``iterm`` (iTerm2 and WezTerm), ``blocks`` (coloured half-block cells, every colour terminal)
and ``off``. This package's ``__init__`` and ``detect`` are stdlib only: the CLI imports them
before Textual; the painters load Textual, Pillow and textual-image.
"""

from __future__ import annotations

from rtui.tui.graphics.detect import DEFAULT_CELL_PX, MODES, GraphicsSupport, detect

__all__ = ["DEFAULT_CELL_PX", "MODES", "GraphicsSupport", "detect"]
