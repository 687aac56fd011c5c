"""List the Host aliases of an OpenSSH client config (with its Includes), by file and line.

asyncssh resolves what an alias means (``rtui.core.ssh.ssh_config``); it cannot say which
aliases a config defines, which ``hosts import`` needs. The line splitting and Include
expansion here are OpenSSH's, and the resolver reads files through the same functions.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from rtui.core.config.text_limits import not_utf8
from rtui.core.errors import ConfigError
from rtui.core.safe_read import read_regular_file

__all__ = [
    "MAX_FILE_BYTES", "MAX_INCLUDED_FILES", "MAX_INCLUDE_DEPTH", "ConfigLine", "SSHAlias",
    "display_path", "host_matches", "include_error", "include_targets", "list_aliases",
    "read_config_lines", "read_error", "too_many_includes",
]

#: OpenSSH's READCONF_MAX_DEPTH: deeper nesting is almost certainly an include loop.
MAX_INCLUDE_DEPTH = 16
#: Files one pass over a config may read through Includes: a file that includes itself
#: twice per level would otherwise be read 2**16 times before the depth limit stops it.
MAX_INCLUDED_FILES = 1024
#: An ssh config of a thousand hosts is ~100 KiB; a bigger file is refused unread.
MAX_FILE_BYTES = 4 << 20

#: ``Keyword value`` or ``Keyword=value``; ssh allows whitespace around the one ``=``.
_KEYWORD_RE = re.compile(r"([^\s=]+)[ \t]*(?:=[ \t]*)?(.*)", re.DOTALL)


@dataclass(frozen=True)
class SSHAlias:
    """A concrete name on a Host line, where it first appears."""

    alias: str
    source: Path
    line: int


@dataclass(frozen=True)
class ConfigLine:
    """One keyword line: ``rest`` is the value as written, ``args`` split as ssh splits it."""

    number: int
    keyword: str  # lower-case
    args: tuple[str, ...]
    rest: str


def list_aliases(path: Path, *, home: Path | None = None) -> list[SSHAlias]:
    """Every concrete alias in file order (first appearance), Includes expanded in place.

    A Host line inside a file included from a Host block applies only to names both match,
    so its aliases that the outer block cannot match are left out. Raises ConfigError when
    the file is missing, unreadable or malformed.
    """
    home = _home(path) if home is None else home
    aliases: dict[str, SSHAlias] = {}
    _collect(path, home, (), 0, aliases, [0])
    return list(aliases.values())


def read_config_lines(path: Path, home: Path) -> list[ConfigLine]:
    """The keyword lines of one file; ConfigError names the file and line of a bad one.

    OSError and UnicodeDecodeError pass through: the caller knows who included the file.
    """
    data = read_regular_file(path, MAX_FILE_BYTES)  # never a FIFO, a device, gigabytes
    text = data.decode("utf-8-sig")  # editors add a BOM
    lines: list[ConfigLine] = []
    for number, raw in enumerate(text.split("\n"), start=1):
        stripped = raw.rstrip(" \t\r\n\f").lstrip(" \t")
        if not stripped or stripped.startswith("#"):
            continue
        match = _KEYWORD_RE.fullmatch(stripped)
        if match is None:
            raise ConfigError(f"{display_path(path, home)} line {number}: "
                              f"expected 'Keyword value', got {stripped!r}")
        try:
            args = _split_args(match.group(2))
        except ValueError as exc:
            raise ConfigError(f"{display_path(path, home)} line {number}: {exc}") from None
        lines.append(ConfigLine(number, match.group(1).lower(), tuple(args), match.group(2)))
    return lines


def include_targets(pattern: str, home: Path) -> list[Path]:
    """Expand one Include argument as ssh does: ``~`` is home, relative is under ``~/.ssh``,
    matches sorted, a pattern matching nothing skipped."""
    if pattern == "~" or pattern.startswith("~/"):
        full = glob.escape(str(home)) + pattern[1:]
    elif pattern.startswith("~"):
        full = os.path.expanduser(pattern)  # ~otheruser/...
    elif os.path.isabs(pattern):
        full = pattern
    else:
        full = os.path.join(glob.escape(str(home / ".ssh")), pattern)
    return [Path(p) for p in sorted(glob.glob(full))]


def read_error(path: Path, home: Path, exc: OSError | UnicodeDecodeError) -> ConfigError:
    """The top-level config could not be read."""
    if isinstance(exc, UnicodeDecodeError):
        return ConfigError(f"{display_path(path, home)}: {not_utf8(exc)}")
    return ConfigError(f"{display_path(path, home)}: cannot read ssh config: {_reason(exc)}")


def include_error(source: Path, line: int, target: Path, home: Path,
                  exc: OSError | UnicodeDecodeError) -> ConfigError:
    """A file named by an Include could not be read: said at the Include line."""
    where = f"{display_path(source, home)} line {line}"
    included = display_path(target, home)
    if isinstance(exc, UnicodeDecodeError):
        return ConfigError(f"{where}: included {included}: {not_utf8(exc)}")
    return ConfigError(f"{where}: cannot read included {included}: {_reason(exc)}")


def too_many_includes(path: Path, line: int, home: Path) -> ConfigError:
    """Includes read more than MAX_INCLUDED_FILES files in one pass (a file that includes
    itself more than once per level grows without end below the depth limit)."""
    return ConfigError(f"{display_path(path, home)} line {line}: Include reads more than "
                       f"{MAX_INCLUDED_FILES} files (does a file include itself?)")


def _reason(exc: OSError) -> str:
    text = exc.strerror or str(exc)
    return text[:1].lower() + text[1:]


def display_path(path: Path, home: Path) -> str:
    """Paths under home as ``~/...``, so messages match what the user typed."""
    try:
        rel = path.relative_to(home)
    except ValueError:
        return str(path)
    return "~" if rel == Path() else f"~/{rel.as_posix()}"


def host_matches(patterns: Iterable[str], *names: str) -> bool:
    """Some pattern matches one of ``names`` and no negated (``!``) pattern matches any.

    Case-sensitive, as ssh's Host lines are; only ``*`` and ``?`` are special.
    """
    positive = False
    for pattern in patterns:
        if pattern.startswith("!"):
            regex = _pattern_regex(pattern[1:])
            if any(regex.fullmatch(name) for name in names):
                return False
        elif any(_pattern_regex(pattern).fullmatch(name) for name in names):
            positive = True
    return positive


# One level of a block condition: the patterns of a Host line, or None for a Match block
# (which may apply to any name). A Host line in an included file applies under all levels.
_Guard = tuple[tuple[str, ...] | None, ...]


def _collect(path: Path, home: Path, outer: _Guard, depth: int,
             aliases: dict[str, SSHAlias], included: list[int]) -> None:
    """Add the aliases of ``path`` (and its Includes); ``included`` counts the files read
    through Includes so far, in a list so every level adds to the one count."""
    try:
        lines = read_config_lines(path, home)
    except (OSError, UnicodeDecodeError) as exc:
        if depth:
            raise
        raise read_error(path, home, exc) from exc
    guard = outer
    for line in lines:
        if line.keyword == "host":
            if not line.args or any(a in ("", "!") for a in line.args):
                raise ConfigError(f"{display_path(path, home)} line {line.number}: "
                                  "Host needs non-empty patterns")
            guard = (*outer, line.args)
            for alias in line.args:
                if (_is_concrete(alias) and alias not in aliases
                        and all(level is None or host_matches(level, alias) for level in guard)):
                    aliases[alias] = SSHAlias(alias, path, line.number)
        elif line.keyword == "match":
            guard = (*outer, None)
        elif line.keyword == "include":
            if depth >= MAX_INCLUDE_DEPTH:
                raise ConfigError(f"{display_path(path, home)} line {line.number}: Include "
                                  f"nested more than {MAX_INCLUDE_DEPTH} deep "
                                  "(does a file include itself?)")
            for pattern in line.args:
                for target in include_targets(pattern, home):
                    included[0] += 1
                    if included[0] > MAX_INCLUDED_FILES:
                        raise too_many_includes(path, line.number, home)
                    try:
                        _collect(target, home, guard, depth + 1, aliases, included)
                    except (FileNotFoundError, IsADirectoryError):
                        continue  # gone since the glob, or a directory: ssh skips both
                    except (OSError, UnicodeDecodeError) as exc:
                        raise include_error(path, line.number, target, home, exc) from exc


def _home(path: Path) -> Path:
    try:
        return Path.home()
    except (RuntimeError, KeyError) as exc:
        raise ConfigError(f"cannot find the home directory to read {path}: {exc}") from exc


def _split_args(text: str) -> list[str]:
    """Split a value like OpenSSH's argv_split: quotes group, ``\\`` escapes, ``#`` comments."""
    args: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if text[i] in " \t":
            i += 1
            continue
        if text[i] == "#":
            break
        buf: list[str] = []
        quote = ""
        while i < n:
            char = text[i]
            if (
                char == "\\"
                and i + 1 < n
                and (text[i + 1] in "'\"\\" or (not quote and text[i + 1] == " "))
            ):
                buf.append(text[i + 1])
                i += 2
                continue
            if not quote and char in " \t":
                break
            if not quote and char in "'\"":
                quote = char
            elif quote and char == quote:
                quote = ""
            else:
                buf.append(char)
            i += 1
        if quote:
            raise ValueError(f"unterminated {quote} quote")
        args.append("".join(buf))
    return args


def _is_concrete(pattern: str) -> bool:
    """A pattern naming exactly one host: what a user would type after ``ssh``."""
    return not pattern.startswith("!") and "*" not in pattern and "?" not in pattern


@lru_cache(maxsize=1024)
def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """ssh patterns know only ``*`` and ``?`` (no ``[...]``), and are case-sensitive."""
    parts = [".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern]
    return re.compile("".join(parts), re.DOTALL)
