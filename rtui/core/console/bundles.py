"""A Jupyter mimebundle (a result, a display) as console lines: its text form, else a placeholder.

Its own module because choosing a representation (which mime types are text, how big a picture
is) is a rule about Jupyter's outputs, not about how lines are stored or streamed.
"""

from __future__ import annotations

import json
from typing import Any, Final

from rtui.core.console.ansi import text_lines
from rtui.core.console.lines import Line, StyleType

__all__ = ["bundle_lines"]

_TEXT_MIMES: Final = ("text/plain", "text/markdown", "text/latex")


def _payload_size(mime: str, value: Any) -> int:
    if isinstance(value, str):
        if mime.startswith("image/") and not mime.endswith("+xml"):
            return (len(value) - value.count("\n")) * 3 // 4  # base64
        return len(value.encode())
    return len(json.dumps(value, default=str))


def _human_size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{round(size / 1024)} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def bundle_lines(data: dict[str, Any], placeholder: StyleType) -> list[Line]:
    """Its text form as lines, else one ``placeholder``-styled line naming its type and size."""
    for mime in _TEXT_MIMES:
        value = data.get(mime)
        if isinstance(value, list):  # nbformat's multi-line strings
            value = "".join(str(part) for part in value)
        if isinstance(value, str):
            return text_lines(value)
    if not data:
        return [("<empty output>", placeholder)]
    mime = next((m for m in data if m.startswith("image/")), next(iter(data)))
    size = _human_size(_payload_size(mime, data[mime]))
    return [(f"<{mime} {size}>", placeholder)]
