"""The editor's highlighting in the terminal's 16 colours, for ``rtui --ansi``.

TextArea's own "css" theme takes its ground from the stylesheet but highlights code in
truecolour; this one picks the colours Rich's ``ansi_dark`` gives the same tokens, so the
editor and the Files preview (which uses ``ansi_dark``) colour code alike.
"""

from __future__ import annotations

from rich.style import Style
from textual.widgets.text_area import TextAreaTheme

__all__ = ["ANSI_CODE_THEME"]

_KEYWORD = Style(color="bright_blue")
_NAME = Style(color="bright_green")
_TYPE = Style(color="bright_cyan")
_STRING = Style(color="yellow")
_MUTED = Style(color="bright_black")

ANSI_CODE_THEME = TextAreaTheme(
    name="rtui-ansi",
    syntax_styles={
        "string": _STRING,
        "string.documentation": _STRING,
        "inline_code": _STRING,
        "info_string": Style(color="yellow", bold=True, italic=True),
        "comment": Style(dim=True),
        "heading.marker": _MUTED,
        "list.marker": _MUTED,
        "keyword": _KEYWORD,
        "conditional": _KEYWORD,
        "keyword.function": _KEYWORD,
        "keyword.return": _KEYWORD,
        "keyword.operator": Style(color="bright_magenta"),
        "repeat": _KEYWORD,
        "exception": _KEYWORD,
        "include": _KEYWORD,
        "number": _KEYWORD,
        "float": _KEYWORD,
        "boolean": _KEYWORD,
        "constant.builtin": _KEYWORD,
        "json.null": _KEYWORD,
        "tag": _KEYWORD,
        "class": _NAME,
        "type.class": _NAME,
        "constructor": _NAME,
        "function": _NAME,
        "function.call": _NAME,
        "method": _NAME,
        "method.call": _NAME,
        "type": _TYPE,
        "type.builtin": _TYPE,
        "yaml.field": Style(color="bright_blue", bold=True),
        "json.label": Style(color="bright_blue", bold=True),
        "toml.type": _KEYWORD,
        "toml.datetime": Style(color="bright_magenta", italic=True),
        "css.property": _KEYWORD,
        "heading": Style(color="bright_blue", bold=True),
        "bold": Style(bold=True),
        "italic": Style(italic=True),
        "strikethrough": Style(strike=True),
        "link.uri": Style(color="bright_blue", underline=True),
        "link.label": _KEYWORD,
    },
)
