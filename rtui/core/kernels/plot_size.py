"""matplotlib's inline figures sized to the console: the figure size and dpi that make a
plot as wide as the console in pixels, and the silent code that sets them in the kernel.

A plot made at the console's own pixel width is shown 1:1 (no scaling blur, text the size
of the terminal's), and its height is kept within the console so the whole plot is seen at
once. The code is sent when a console gets its kernel (start, attach, restart) and again
before the next cell once the console's size changed; it never imports matplotlib (a user
who never plots pays nothing), and it fails silently where matplotlib is missing.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ASPECT",
    "HALF_BLOCK_CELL",
    "INLINE_BACKEND",
    "NOMINAL_CELL",
    "PlotSize",
    "fit_code",
    "layout_cell",
    "plot_size",
]

NOMINAL_CELL = (10, 20)
"""Pixels of a terminal cell (width, height) when the terminal does not say: the console's
ImageGeometry assumes the same, so the plot is drawn at its natural size, as wide as the
console. Its shape still fits the console's cells; only its sharpness is a guess."""

HALF_BLOCK_CELL = (8, 16)
"""The cell plots are sized and images laid out with where they are drawn in half-blocks
(``blocks``, and ``off``): whatever the terminal's own cell (tmux says 16x32), each cell
shows two pixels, so a figure made at the real cell size is 8-16x the pixels it shows (a
1888x832 PNG for 118x52: ~60 ms more in the kernel and ~40 ms more decoding it, per plot).
matplotlib scales text and lines with the dpi, which follows the cell's height, so what
the half-blocks show is the same at any cell size (compared at 16x32, 8x16, 6x12, 4x8:
alike); 8x16 gives ~92 dpi, near matplotlib's own 100, where its lines stay a pixel or more
wide (at 4x8, 46 dpi, they thin out)."""

_PIXEL_MODES = frozenset({"kitty", "sixel", "iterm"})  # images drawn at the terminal's pixels

ASPECT = 0.6
"""Height over width of a plot: wide, as a console is (matplotlib's own 4:3 is taller than
most consoles once it is as wide as they are)."""

INLINE_BACKEND = "module://matplotlib_inline.backend_inline"

_MIN_WIDTH_PX, _MAX_WIDTH_PX = 160, 4096  # a tiny pane still gets a legible plot; a huge
_MIN_HEIGHT_PX = 96                       # one no 30 MB PNG
_ROWS_KEPT = 2  # console rows left free under a plot (its Out line, the next prompt)

# Backends that show nothing in a console: one set on the host (MPLBACKEND=Agg in a
# cluster's profile is common) would make plt.show() silent; the inline one replaces it.
_SILENT_BACKENDS = ("", "agg", "pdf", "ps", "svg", "cairo", "template")
# Window backends, which a kernel on a host without a display cannot open (matplotlib
# raises on the first plot): the inline one replaces them there too.
_WINDOW_BACKENDS = ("tk", "qt", "gtk", "wx", "macosx")


@dataclass(frozen=True, slots=True)
class PlotSize:
    """A figure of ``width_px`` x ``height_px`` pixels at ``dpi``."""

    width_px: int
    height_px: int
    dpi: int

    @property
    def figsize(self) -> tuple[float, float]:
        """matplotlib's figure.figsize, in inches."""
        return self.width_px / self.dpi, self.height_px / self.dpi


def plot_size(cols: int, rows: int, cell_px: tuple[int, int] | None = None) -> PlotSize:
    """The plot for a console of ``cols`` x ``rows`` cells of ``cell_px`` (width, height)
    pixels (None: the terminal did not say; NOMINAL_CELL is assumed).

    As wide as the console, ``ASPECT`` times that high but no higher than the console less
    two rows; the dpi makes matplotlib's 10 pt text about the terminal's own (10 pt at dpi
    d is 10 * d / 72 px; a glyph is ~0.8 of a cell's height)."""
    cell_w, cell_h = cell_px if cell_px and min(cell_px) > 0 else NOMINAL_CELL
    width = min(max(cols * cell_w, _MIN_WIDTH_PX), _MAX_WIDTH_PX)
    room = max(rows - _ROWS_KEPT, 1) * cell_h
    height = max(min(round(width * ASPECT), room), _MIN_HEIGHT_PX)
    dpi = min(max(round(cell_h * 0.8 * 72 / 10), 40), 400)
    return PlotSize(width, height, dpi)


def layout_cell(mode: str, cell_px: tuple[int, int]) -> tuple[int, int]:
    """The cell (width, height in pixels) plots are sized and images laid out with when
    images are drawn in ``mode`` (rtui.tui.graphics' modes): the terminal's ``cell_px``
    where pixels reach the screen (kitty, sixel, iTerm2), else ``HALF_BLOCK_CELL``."""
    return cell_px if mode in _PIXEL_MODES else HALF_BLOCK_CELL


def fit_code(size: PlotSize) -> str:
    """Silent code that gives the kernel's matplotlib ``size`` (figure.figsize, figure.dpi)
    and the inline backend no tight bounding box (it would crop the plot to another size).

    Where matplotlib is imported already its rcParams are set now; else when it is imported
    (a finder on sys.meta_path, used once, wraps its loading), so ``plt.rcParams`` says the
    console's size from the start without this code importing matplotlib (~0.6 s and 30 MB
    of numpy and matplotlib for a user who may never plot). A value the user chose is kept:
    one that is neither matplotlib's default nor what rtui set last in this kernel (kept in
    the kernel, so another console attached later knows it too): a matplotlibrc's, or one
    set in a cell. MPLBACKEND becomes the inline backend where it is unset, a backend that
    shows nothing, or a window one on a host without a display. The names it makes are
    deleted again, and any failure (no matplotlib, no IPython) is swallowed: the console
    shows nothing of it.
    """
    # Full precision: figsize x dpi must give the pixels back (Agg truncates: 1061.9999
    # would be 1061); compared rounded, as rcParams keep a list of floats.
    return f'''def _rtui_fit_plots():
    import importlib.util, os, sys, types
    want = {{"figure.figsize": {size.figsize!r}, "figure.dpi": {size.dpi!r}}}
    backend = os.environ.get("MPLBACKEND", "").lower()
    headless = not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    if backend in {_SILENT_BACKENDS!r} or (
            headless and backend.startswith({_WINDOW_BACKENDS!r})):
        os.environ["MPLBACKEND"] = {INLINE_BACKEND!r}
    untight = {{"bbox_inches": None}}
    shell = None
    try:  # the shell's config: read when the inline backend is set up (first plot)
        from IPython import get_ipython
        shell = get_ipython()
        section = shell.config.InlineBackend
        section.print_figure_kwargs = {{**(section.get("print_figure_kwargs") or {{}}), **untight}}
    except Exception:
        pass
    inline = sys.modules.get("matplotlib_inline.config")
    if inline is not None and inline.InlineBackend.initialized():  # set up already
        config = inline.InlineBackend.instance()
        if config.print_figure_kwargs.get("bbox_inches") is not None:
            config.print_figure_kwargs = {{**config.print_figure_kwargs, **untight}}
    last = dict(getattr(shell, "_rtui_plot_size", None) or {{}})  # what rtui set before

    def same(a, b):
        if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
            return [round(x, 6) for x in a] == [round(x, 6) for x in b]
        return a == b

    def fit(module):  # the values nobody else chose
        for key, value in want.items():
            now = module.rcParams[key]
            if same(now, module.rcParamsDefault[key]) or (key in last and same(now, last[key])):
                module.rcParams[key] = value
                last[key] = value
        if shell is not None:
            shell._rtui_plot_size = last

    sys.meta_path[:] = [f for f in sys.meta_path if not hasattr(f, "rtui_plot_size")]
    mpl = sys.modules.get("matplotlib")
    if mpl is not None:
        fit(mpl)
        return

    def find_spec(name, path=None, target=None):
        if name != "matplotlib":
            return None
        sys.meta_path[:] = [f for f in sys.meta_path if not hasattr(f, "rtui_plot_size")]
        spec = importlib.util.find_spec(name)
        loader = getattr(spec, "loader", None)
        run = getattr(loader, "exec_module", None)
        if run is None:
            return spec

        def exec_module(module):
            run(module)
            try:
                fit(module)
            except Exception:
                pass

        loader.exec_module = exec_module
        return spec

    sys.meta_path.insert(0, types.SimpleNamespace(find_spec=find_spec, rtui_plot_size=want))
try:
    _rtui_fit_plots()
except Exception:
    pass
finally:
    del _rtui_fit_plots
'''
