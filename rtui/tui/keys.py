"""Every key binding, gathered from the widgets themselves: the help screen and the README's
key table are both made from this, so they cannot drift from what the keys do.

``python -m rtui.tui.keys`` prints the README table.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass

from textual.binding import Binding, BindingType

__all__ = ["SECTIONS", "KeyRow", "key_rows", "keys_hint", "markdown_table"]

# (section title, "module:Class") in the order a person meets them.
SECTIONS: list[tuple[str, str]] = [
    ("Everywhere", "rtui.tui.app:RtuiApp"),
    ("Hosts", "rtui.tui.widgets.hosts:HostTable"),
    ("Hosts", "rtui.tui.widgets.hosts:HostsPane"),
    ("Host filter", "rtui.tui.widgets.hosts:FilterInput"),
    ("Console", "rtui.tui.widgets.console:ConsolePane"),
    ("Console input", "rtui.tui.widgets.code_input:CodeInput"),
    ("Console output", "rtui.tui.widgets.console_view:ConsoleView"),
    ("Plots", "rtui.tui.widgets.plots:PlotsPane"),
    ("Variables", "rtui.tui.widgets.variables:VariablesTable"),
    ("Variables filter", "rtui.tui.widgets.variables:VariablesFilter"),
    ("Value view", "rtui.tui.screens.value_view:ValueScreen"),
    ("Files", "rtui.tui.widgets.files:FilesPane"),
    ("Files", "rtui.tui.widgets.file_list:FileList"),
    ("Files filter", "rtui.tui.widgets.files:FilesFilter"),
    ("File preview", "rtui.tui.widgets.file_preview:PreviewLines"),
    ("Transfers", "rtui.tui.widgets.transfers:TransfersPanel"),
    ("Environments", "rtui.tui.widgets.environments:EnvTable"),
    ("Environments", "rtui.tui.widgets.environments:EnvironmentsPane"),
    ("Environment form", "rtui.tui.screens.env_form:EnvFormScreen"),
    ("Host form", "rtui.tui.screens.host_form:HostFormScreen"),
    ("Job form", "rtui.tui.screens.slurm_form:SlurmFormScreen"),
    ("Host key prompt", "rtui.tui.screens.prompts:HostKeyScreen"),
    ("Choice dialog", "rtui.tui.screens.prompts:ChoiceScreen"),
]


@dataclass(frozen=True)
class KeyRow:
    section: str
    keys: str
    description: str
    id: str


def _display(keys: str) -> str:
    names = []
    for key in keys.split(","):
        key = key.strip().replace("slash", "/").replace("question_mark", "?")
        key = {"full_stop": ".", "colon": ":"}.get(key, key)
        names.append(key)
    return " / ".join(names)


def key_rows() -> list[KeyRow]:
    rows: list[KeyRow] = []
    for section, target in SECTIONS:
        module_name, _, class_name = target.partition(":")
        try:
            cls = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError):
            continue
        for binding in getattr(cls, "BINDINGS", []):
            if not isinstance(binding, Binding) or not binding.id or not binding.description:
                continue
            rows.append(KeyRow(section, _display(binding.key), binding.description, binding.id))
    return rows


def keys_hint(bindings: Iterable[BindingType], *more: str) -> str:
    """A dialog's keys as one line, from its bindings ("ctrl+o save · escape cancel"), then
    ``more`` (keys that are not the dialog's own, such as Enter in a list)."""
    parts = [f"{_display(b.key)} {b.description[:1].lower()}{b.description[1:]}"
             for b in bindings if isinstance(b, Binding) and b.description and b.show]
    return " · ".join([*more, *parts])


def markdown_table() -> str:
    lines = ["| where | key | action |", "| --- | --- | --- |"]
    for row in key_rows():
        keys = " / ".join(f"`{k.strip()}`" for k in row.keys.split(" / "))
        lines.append(f"| {row.section} | {keys} | {row.description} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())
