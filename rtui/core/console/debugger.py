"""The kernel's debugger as the console answers it: which prompts are pdb's, pdb's commands
completed and explained here (the kernel's shell is busy while pdb waits for a line, so it
cannot be asked), and the line that makes ``breakpoint()`` stop in pdb on an ipykernel.

UI-free: the console pane (rtui.tui.widgets.console_questions) uses it.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Iterable

__all__ = [
    "COMMANDS",
    "DEBUGGER_SETUP_CODE",
    "command_help",
    "complete_command",
    "is_debugger_prompt",
    "names_in",
    "strip_ansi",
]

# ipdb's "ipdb> ", pdb's "(Pdb) " ("((Pdb)) " in its "debug" command), pdb++'s "(Pdb++) ",
# with colours stripped.
_PROMPT = re.compile(r"^\s*(?:ipdb>|\(+(?:ipdb>?|pdb(?:\+\+)?)\)+)\s*$", re.IGNORECASE)
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x01|\x02")

# pdb's commands and aliases (Python 3.11-3.13's ``Pdb.do_*``) and the ones IPython's ipdb
# adds. A fixed list, not ``dir(pdb.Pdb)``: importing pdb costs ~25 ms, and the remote
# Python's version is not ours anyway.
COMMANDS: tuple[str, ...] = (
    "a", "alias", "args", "b", "break", "bt", "c", "cl", "clear", "commands", "condition",
    "cont", "continue", "d", "debug", "disable", "display", "down", "enable", "exceptions",
    "exit", "h", "help", "ignore", "interact", "j", "jump", "l", "list", "ll", "longlist",
    "n", "next", "p", "pp", "q", "quit", "r", "restart", "return", "retval", "run", "rv",
    "s", "source", "step", "tbreak", "u", "unalias", "undisplay", "unt", "until", "up", "w",
    "whatis", "where",
    # IPython's debugger (ipdb> ), as in IPython 8-9.
    "context", "pdef", "pdoc", "pfile", "pinfo", "pinfo2", "psource", "skip_hidden",
    "skip_predicates",
)

# Commands whose argument is a Python expression (or a name): names complete there.
_EXPRESSION_COMMANDS = frozenset({
    "p", "pp", "display", "whatis", "undisplay", "pdef", "pdoc", "pfile", "pinfo", "pinfo2",
    "psource", "interact", "source",
})

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_WORD_TAIL = re.compile(r"[A-Za-z0-9_]*$")

# Sent once per console, silent (no execution count, no history, no output), so that the
# debugger asks on stdin, where the console answers it:
# - ``breakpoint()`` on an ipykernel that has debugpy calls debugpy's hook, which does nothing
#   unless a DAP client (JupyterLab's visual debugger) is attached: breakpoint() never
#   stopped. Python's own hook (PYTHONBREAKPOINT, else pdb.set_trace, which IPython makes
#   ipdb's) is put back, only in place of debugpy's and only while no DAP client is attached.
# - spyder-kernels' debugger asks Spyder's comm instead of stdin once a client opened it
#   (the variables pane does): the cell then waits for an answer nobody is asked for. Its
#   ``cmd_input`` asks with input() again, as it does when no Spyder is attached.
DEBUGGER_SETUP_CODE = """\
import sys as _rtui_sys
if (getattr(_rtui_sys.breakpointhook, '__module__', '') or '').startswith('debugpy') and not (
        'debugpy' in _rtui_sys.modules and _rtui_sys.modules['debugpy'].is_client_connected()):
    _rtui_sys.breakpointhook = _rtui_sys.__breakpointhook__
if 'spyder_kernels.customize.spyderpdb' in _rtui_sys.modules:
    def _rtui_cmd_input(self, prompt=''):
        return input(prompt)
    _rtui_sys.modules['spyder_kernels.customize.spyderpdb'].SpyderPdb.cmd_input = _rtui_cmd_input
    del _rtui_cmd_input
del _rtui_sys
"""


def is_debugger_prompt(prompt: str) -> bool:
    """True for pdb's and ipdb's prompts (an ``input()`` asks anything else)."""
    return bool(_PROMPT.match(strip_ansi(prompt)))


def strip_ansi(text: str) -> str:
    """``text`` without colours (and readline's ``\\x01``/``\\x02`` markers)."""
    return _ANSI.sub("", text)


def names_in(lines: Iterable[str]) -> set[str]:
    """The identifiers in what the debugger printed (its listings, ``a``, ``p``): what a
    ``p``/``pp`` argument may name, found without asking the busy kernel."""
    found: set[str] = set()
    for line in lines:
        found.update(_IDENTIFIER.findall(line))
    return {name for name in found if not keyword.iskeyword(name)}


def complete_command(line: str, cursor: int,
                     names: Iterable[str] = ()) -> tuple[list[str], int, int]:
    """``(matches, start, end)`` for the pdb line ``line`` at ``cursor``: a command in the
    first word, a name (from ``names``) in an expression command's argument or a ``!``
    statement. Offsets into ``line``, as a kernel's complete_reply gives them."""
    before = line[:cursor]
    word = _WORD_TAIL.search(before)
    start = word.start() if word is not None else cursor
    typed = before[start:]
    end = cursor + len(_WORD_TAIL.match(line[cursor:]).group())  # type: ignore[union-attr]
    head = before[:start]
    if not head.strip():  # the command itself
        return [c for c in COMMANDS if c.startswith(typed)], start, end
    command = head.split()[0] if head.split() else ""
    if command.startswith("!") or command in _EXPRESSION_COMMANDS or command not in COMMANDS:
        # A command's expression, a "!" statement, or a line pdb runs as Python.
        if not typed:
            return [], start, end
        return sorted(n for n in set(names) if n.startswith(typed) and n != typed), start, end
    return [], start, end


def command_help(line: str, cursor: int) -> str | None:
    """pdb's own help for the command of ``line`` (``h cmd`` without asking the kernel)."""
    words = line.split()
    if not words:
        return None
    command = words[0]
    if command in ("h", "help") and len(words) > 1:
        command = words[1]
    if command not in COMMANDS:
        return None
    import pdb  # only when help is asked for (~25 ms)

    method = getattr(pdb.Pdb, f"do_{command}", None)
    doc = getattr(method, "__doc__", None)
    if not doc:
        return f"{command}: a command of IPython's debugger (type 'h {command}' for its help)"
    return "\n".join(line.strip() for line in doc.strip().splitlines())
