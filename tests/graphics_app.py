"""One picture in a Textual app, drawn with a given graphics mode: the graphics tests' app,
and ``python -m tests.graphics_app [MODE]`` for a real terminal (tmux) with detection."""

from __future__ import annotations

import sys

from PIL import Image
from textual.app import ComposeResult

from rtui.tui.graphics import GraphicsSupport, detect
from rtui.tui.graphics.painters import make_painter
from rtui.tui.graphics.widget import PictureView
from rtui.tui.render import ScrollingApp

RED, BLUE = (255, 0, 0), (0, 0, 255)


def two_colours() -> Image.Image:
    """40x20 pixels, the left half red and the right half blue."""
    image = Image.new("RGB", (40, 20), RED)
    image.paste(BLUE, (20, 0, 40, 20))
    return image


class PictureApp(ScrollingApp):
    """A picture of 8x2 cells at the top left (cells of 10x20 pixels, or half-blocks); a
    ScrollingApp as rtui's is (it writes the pictures' sequences in the frames)."""

    CSS = "PictureView { width: 8; height: 2; }"

    def __init__(self, support: GraphicsSupport, image: Image.Image | None = None) -> None:
        super().__init__()
        self.support = support
        self.image = image or two_colours()

    def compose(self) -> ComposeResult:
        yield PictureView(make_painter(self.support, self), self.support.cell_px)

    def on_mount(self) -> None:
        self.query_one(PictureView).show("picture", self.image)


if __name__ == "__main__":  # python -m tests.graphics_app MODE REPORT_FILE
    found = detect(sys.argv[1])
    with open(sys.argv[2], "w", encoding="utf-8") as report:
        report.write(f"{found.mode} ({found.reason})")
    PictureApp(GraphicsSupport(found.mode, (10, 20), found.tmux, found.reason)).run()
