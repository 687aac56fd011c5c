"""Every piece of textual-image rtui uses, in one place, each with a check of its shape.

textual-image (pyproject: ``>=0.8,<0.13``) has the sixel encoder and the kitty placeholder
tables; its renderables are not used as they are, for measured reasons:

- ``import textual_image.renderable`` asks the terminal (DA1, then a kitty query) when stdout
  is a terminal: with Textual running that races Textual's input thread for the answer, and
  where nobody answers it waits 100 ms twice. So its ``renderable/tgp.py`` is loaded here by
  its file, without the package's ``__init__`` (no query, no numpy), and ``_sixel`` directly.
- its kitty renderable writes to ``sys.__stdout__`` (Textual writes frames to stderr through a
  writer thread, so uploads and frames would interleave) and picks random 32-bit image ids in
  24-bit colour, which a 256-colour terminal (tmux, often) turns into another id. rtui's kitty
  painter writes through Textual's driver and picks ids that survive the colour system.

Pieces are private to textual-image, so ``RELIED_ON`` names each with a check; the test of
this module runs them against the installed version.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL.Image import Image

__all__ = ["RELIED_ON", "Piece", "png_base64", "problems", "sixel", "tgp"]

_lock = threading.Lock()
_tgp: ModuleType | None = None


def tgp() -> ModuleType:
    """textual-image's ``renderable/tgp.py`` (kitty's Terminal Graphics Protocol), loaded by
    its file so that ``textual_image.renderable``'s terminal query never runs."""
    global _tgp
    with _lock:
        if _tgp is None:
            package = importlib.util.find_spec("textual_image")
            if package is None or package.origin is None:
                raise ImportError("textual-image is not installed")
            path = Path(package.origin).parent / "renderable" / "tgp.py"
            spec = importlib.util.spec_from_file_location("rtui._textual_image_tgp", path)
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot load {path}")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            _tgp = module
        return _tgp


def sixel(image: Image) -> str:
    """``image`` (RGB: composited on its background already) as one sixel sequence
    (DCS ... ST). One argument: 0.8-0.10 take no options or background."""
    from textual_image._sixel import image_to_sixels

    result: str = image_to_sixels(image)
    return result


def png_base64(image: Image) -> str:
    """``image`` as base64 PNG, as textual-image sends it to kitty (fast compression)."""
    from textual_image._pixeldata import PixelData

    data: str = PixelData(image).to_base64()
    return data


@dataclass(frozen=True)
class Piece:
    """One private piece of textual-image and how to check it is there, as expected."""

    name: str
    used_for: str
    check: Callable[[], str | None]  # None: as expected; else what is wrong


def problems() -> list[str]:
    """Every piece missing or changed in the installed textual-image, described."""
    from importlib.metadata import version

    found = []
    for piece in RELIED_ON:
        try:
            wrong = piece.check()
        except Exception as exc:  # an import that failed: that is the finding
            wrong = f"could not be checked: {type(exc).__name__}: {exc}"
        if wrong is not None:
            found.append(f"textual-image {version('textual-image')}: {piece.name} {wrong} "
                         f"(rtui.tui.graphics uses it: {piece.used_for})")
    return found


def _diacritics() -> str | None:
    table: Any = getattr(tgp(), "_NUMBER_TO_DIACRITIC", None)
    if not isinstance(table, list) or len(table) < 256 or table[:2] != [0x305, 0x30D]:
        return "is missing or not kitty's table of row/column diacritics"
    return None


def _placeholder() -> str | None:
    return None if getattr(tgp(), "_PLACEHOLDER", None) == 0x10EEEE else "is not U+10EEEE"


def _framing() -> str | None:
    module = tgp()
    if (getattr(module, "_TGP_MESSAGE_START", None), getattr(module, "_TGP_MESSAGE_END", None)
            ) != ("\x1b_G", "\x1b\\"):
        return "is not APC G ... ST"
    return None


def _encoder() -> str | None:
    from PIL import Image as PILImage

    data = sixel(PILImage.new("RGB", (2, 6), (255, 0, 0)))
    if not (data.startswith("\x1bP") and "q" in data[:12] and data.endswith("\x1b\\")):
        return f"no longer returns a DCS sixel string (got {data[:20]!r})"
    return None


def _png() -> str | None:
    import base64

    from PIL import Image as PILImage

    if not base64.b64decode(png_base64(PILImage.new("RGB", (1, 1)))).startswith(b"\x89PNG"):
        return "no longer returns base64 PNG"
    return None


RELIED_ON: tuple[Piece, ...] = (
    Piece("renderable/tgp.py _NUMBER_TO_DIACRITIC", "kitty placeholders' row, column and "
          "id-byte diacritics", _diacritics),
    Piece("renderable/tgp.py _PLACEHOLDER", "kitty placeholder character", _placeholder),
    Piece("renderable/tgp.py _TGP_MESSAGE_START/_END", "framing kitty commands",
          _framing),
    Piece("_sixel.image_to_sixels(image)", "sixel encoding", _encoder),
    Piece("_pixeldata.PixelData.to_base64()", "PNG for kitty uploads", _png),
)
