"""Plot shown: Enter on ``plt.plot(...); plt.show()`` -> the image on screen, rtui beside
euporie-console, each driven in tmux as a person would.

``python -m benchmarks.plots [--quick] [--runs N] [--only rtui|euporie ...]``

Both run in a tmux 120x36 pane (``benchmarks.consoles.terminal``: own ``-L`` server, a
control-mode client reading the screen every 5 ms and as soon as tmux reports output), with a
throwaway HOME, on a kernel of this very Python and ipykernel (matplotlib is there):

- **rtui**: a host on a loopback OpenSSH sshd (the test harness's), its ``python`` this
  Python; the kernel is started through rtui's normal SSH path (agent, keeper, streamlocal
  forwards), as on a remote host. rtui sizes the plot to its console (rtui.core.kernels.
  plot_size; in tmux without graphics passthrough it paints it in coloured half-block cells,
  so the plot is sized at a nominal 8x16 px cell, not the 16x32 tmux reports).
- **euporie-console** ``--kernel-name python3`` from this Python's environment (euporie 2.10;
  not the consoles benchmark's peers venv, whose kernel has no matplotlib): a local kernel
  on loopback TCP, no SSH; matplotlib's default 6.4x4.8 in figure, cropped tight by the
  inline backend; euporie paints it in half-block cells too in tmux.

Measured, per console: ``import matplotlib.pyplot as plt`` is run first (not timed); then the
first plot (the inline backend is set up then) and ``--runs`` more (median and p95), each a
new line ``plt.plot([0, k]); plt.show()``: from Enter until at least IMAGE_ROWS rows of
half-block cells are on screen (``▀``/``▄``, at least IMAGE_CELLS of them in a row), i.e.
the console painted the image. Before each run, 60 lines of output push the last image off
the screen and the screen is seen free of image rows. Beside each, the kernel alone: a
jupyter_client on a fresh local kernel of the same build running the same code with the
same figure size, dpi and cropping, from execute to the display_data's arrival (what any
console waits for; the rest is the console's: for rtui the SSH hop, decoding the PNG,
scaling it to cells and painting). The figure's pixel size and the image's rows on screen
are printed with it. The consoles show different figures by default (rtui's is as wide as
the console, euporie's matplotlib's 6.4x4.8 in cropped tight), so rtui then draws euporie's
figure too (its rcParams and cropping set so, the same PNG): that column is like with like.
Figures only: exit 0 whatever they are, non-zero only if a
console crashed.
"""

from __future__ import annotations

from benchmarks.plots.run import main

__all__ = ["main"]
