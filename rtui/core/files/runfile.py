"""The code a console runs for a remote ``.py`` file, and how a console's kernel is asked
where it is (its working directory).

Spyder kernels get ``runfile(path, wdir=folder)``, as Spyder itself sends (their ``wdir``
moves the working directory there); other IPython kernels ``%run path``. IPython expands
``$name`` and ``{expr}`` in a magic's line, so those are doubled, and the path is quoted
as the magics' POSIX argument splitting reads it. A name a magic line cannot carry (control
characters, a newline, bytes that are not UTF-8, a backslash) goes through the same call
written as Python (``get_ipython().run_line_magic``), with the path as a string literal.
"""

from __future__ import annotations

import ast
import asyncio
import posixpath
import shlex
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rtui.core.kernels.session import KernelSession

__all__ = ["CWD_EXPRESSION", "cwd_from_reply", "kernel_cwd", "run_code"]

CWD_EXPRESSION = "__import__('os').getcwd()"
"""What a silent execute asks the kernel for (its ``user_expressions``): its cwd."""


def _fits_a_magic_line(path: str) -> bool:
    return path.isprintable() and "\\" not in path


def _magic_argument(path: str) -> str:
    """``path`` as one argument of a line magic: quoted, IPython's expansion escaped."""
    return (shlex.quote(path)
            .replace("$", "$$").replace("{", "{{").replace("}", "}}"))


def _magic(name: str, path: str) -> str:
    argument = _magic_argument(path)
    if _fits_a_magic_line(path):
        return f"%{name} {argument}"
    return f"get_ipython().run_line_magic({name!r}, {argument!r})"


def run_code(path: str, *, kind: str, cd: bool = False) -> str:
    """The cell that runs the remote file ``path`` (absolute) in a console whose kernel is
    of ``kind`` ("spyder" or another); ``cd``: the kernel's working directory moves to the
    file's folder first (a Spyder kernel's ``wdir`` does that anyway)."""
    folder = posixpath.dirname(path) or "/"
    if kind == "spyder":
        return f"runfile({path!r}, wdir={folder!r})"
    lines = []
    if cd:
        # %cd turns backslashes into slashes: a folder with one is changed into by os.chdir.
        lines.append(_magic("cd", folder) if _fits_a_magic_line(folder)
                     else f"__import__('os').chdir({folder!r})")
    lines.append(_magic("run", path))
    return "\n".join(lines)


def cwd_from_reply(user_expressions: dict[str, Any]) -> str | None:
    """The cwd in an execute_reply's ``user_expressions`` (key ``cwd``), None when the
    kernel could not evaluate it or answered something else than a string."""
    answer = user_expressions.get("cwd")
    if not isinstance(answer, dict) or answer.get("status") != "ok":
        return None
    text = (answer.get("data") or {}).get("text/plain")
    if not isinstance(text, str):
        return None
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return None
    return value if isinstance(value, str) and value.startswith("/") else None


async def kernel_cwd(session: KernelSession, *, timeout: float = 3.0) -> str | None:
    """The kernel's working directory, asked with a silent execute (nothing shown in any
    console, no history); None when it does not answer that way within ``timeout`` (a
    running cell holds it back: the caller falls back to what the host knows)."""
    execution = session.execute("", silent=True, store_history=False, allow_stdin=False,
                                user_expressions={"cwd": CWD_EXPRESSION})
    try:
        reply = await asyncio.wait_for(execution.reply(), timeout)
    except TimeoutError:
        return None
    return cwd_from_reply(reply.user_expressions)
