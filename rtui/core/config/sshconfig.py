"""Read OpenSSH client config files (``~/.ssh/config``) and resolve each alias as ssh would."""

from __future__ import annotations

import getpass
import glob
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from rtui.core.errors import ConfigError

__all__ = ["SSHConfigHost", "read_ssh_config"]

#: OpenSSH's READCONF_MAX_DEPTH: deeper nesting is almost certainly an include loop.
_MAX_INCLUDE_DEPTH = 16
_DEFAULT_PORT = 22

#: The options we resolve, by lower-case keyword, with the spelling used in messages.
_OPTION_NAMES = {
    "hostname": "HostName",
    "port": "Port",
    "user": "User",
    "proxyjump": "ProxyJump",
    "identityfile": "IdentityFile",
}

#: ``Keyword value`` or ``Keyword=value``; ssh allows whitespace around the one ``=``.
_KEYWORD_RE = re.compile(r"([^\s=]+)[ \t]*(?:=[ \t]*)?(.*)", re.DOTALL)


@dataclass(frozen=True)
class SSHConfigHost:
    """One concrete ``Host`` alias with the options ssh would use to connect to it."""

    alias: str
    hostname: str | None
    port: int | None
    user: str | None
    identity_files: tuple[str, ...]
    proxy_jump: tuple[str, ...]
    source: Path
    line: int


# One level of a block condition: the patterns of a Host line, or None for a Match block
# (which we never evaluate, so it never applies). A guard is the conjunction of its levels,
# outermost first, so a Host inside a conditionally included file needs both to match.
_Level = tuple[str, ...] | None
_Guard = tuple[_Level, ...]


@dataclass(frozen=True)
class _Option:
    """One option line we care about, with the condition it stands under."""

    guard: _Guard
    keyword: str  # lower-case
    value: str  # already validated
    source: Path
    line: int


@dataclass(frozen=True)
class _HostLine:
    """One Host line: where the concrete aliases it names come from."""

    guard: _Guard  # includes this line's own patterns
    aliases: tuple[str, ...]
    source: Path
    line: int


def read_ssh_config(path: Path, *, home: Path | None = None) -> list[SSHConfigHost]:
    """Every concrete alias in file order (first appearance), options resolved as ssh would."""
    if home is None:
        try:
            home = Path.home()
        except (RuntimeError, KeyError) as exc:
            raise ConfigError(f"cannot find the home directory to read {path}: {exc}") from exc
    reader = _Reader(home)
    try:
        text = _read_text(path)
    except OSError as exc:
        raise ConfigError(
            f"{reader.display(path)}: cannot read ssh config ({exc.strerror or exc})"
        ) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{reader.display(path)}: ssh config is not valid UTF-8") from exc
    reader.parse(text, path, (), 0)
    return reader.resolve_all()


def _read_text(path: Path) -> str:
    """Decode a config file; a UTF-8 BOM is tolerated because editors add one."""
    return path.read_bytes().decode("utf-8-sig")


class _Reader:
    """Flattens a config and its Includes into guarded options, then resolves aliases."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.options: list[_Option] = []
        self.hosts: list[_HostLine] = []

    # -- messages -------------------------------------------------------------------------

    def display(self, path: Path) -> str:
        """Show paths under home as ``~/...`` so messages match what the user typed."""
        try:
            rel = path.relative_to(self.home)
        except ValueError:
            return str(path)
        return "~" if rel == Path() else f"~/{rel.as_posix()}"

    def error(self, source: Path, line: int, message: str) -> ConfigError:
        return ConfigError(f"{self.display(source)} line {line}: {message}")

    # -- parsing --------------------------------------------------------------------------

    def parse(self, text: str, source: Path, outer: _Guard, depth: int) -> None:
        """Record the options and Host lines of one file, expanding Includes in place."""
        guard = outer
        for lineno, raw in enumerate(text.split("\n"), start=1):
            stripped = raw.rstrip(" \t\r\n\f").lstrip(" \t")
            if not stripped or stripped.startswith("#"):
                continue
            match = _KEYWORD_RE.fullmatch(stripped)
            if match is None:
                raise self.error(source, lineno, f"expected 'Keyword value', got {stripped!r}")
            keyword = match.group(1).lower()
            try:
                args = _split_args(match.group(2))
            except ValueError as exc:
                raise self.error(source, lineno, str(exc)) from None
            if keyword == "host":
                guard = (*outer, self._host_patterns(args, source, lineno))
                concrete = tuple(a for a in args if _is_concrete(a))
                self.hosts.append(_HostLine(guard, concrete, source, lineno))
            elif keyword == "match":
                if not args:
                    raise self.error(source, lineno, "Match needs at least one criterion")
                guard = (*outer, None)
            elif keyword == "include":
                if not args:
                    raise self.error(source, lineno, "Include needs at least one path")
                for pattern in args:
                    for included in self._include_targets(pattern):
                        self._include(included, guard, depth + 1, source, lineno)
            elif keyword in _OPTION_NAMES:
                value = self._option_value(keyword, args, source, lineno)
                self.options.append(_Option(guard, keyword, value, source, lineno))
            # Anything else is one of ssh's many other keywords: not ours to judge.

    def _host_patterns(self, args: list[str], source: Path, lineno: int) -> tuple[str, ...]:
        if not args:
            raise self.error(source, lineno, "Host needs at least one pattern")
        if any(a in ("", "!") for a in args):
            raise self.error(source, lineno, "Host has an empty pattern")
        return tuple(args)

    def _option_value(self, keyword: str, args: list[str], source: Path, lineno: int) -> str:
        """Validate the one value an option takes, as ssh does even in inactive blocks."""
        name = _OPTION_NAMES[keyword]
        if not args or args[0] == "":
            raise self.error(source, lineno, f"{name} needs a value")
        if len(args) > 1:
            raise self.error(
                source, lineno, f"{name} takes one value, got {len(args)}: {' '.join(args)!r}"
            )
        value = args[0]
        if keyword == "port":
            if not re.fullmatch(r"[0-9]+", value):
                raise self.error(source, lineno, f"Port must be a number, got {value!r}")
            if not 1 <= int(value) <= 65535:
                raise self.error(source, lineno, f"Port must be 1..65535, got {value}")
        elif keyword == "proxyjump" and value.lower() != "none":
            if any(not hop.strip() for hop in value.split(",")):
                raise self.error(source, lineno, f"ProxyJump has an empty hop in {value!r}")
        return value

    def _include_targets(self, pattern: str) -> list[str]:
        """Expand one Include argument: ``~`` is home, relative means under ``~/.ssh``."""
        if pattern == "~" or pattern.startswith("~/"):
            full = glob.escape(str(self.home)) + pattern[1:]
        elif pattern.startswith("~"):
            full = os.path.expanduser(pattern)  # ~otheruser/...
        elif os.path.isabs(pattern):
            full = pattern
        else:
            full = os.path.join(glob.escape(str(self.home / ".ssh")), pattern)
        # Like ssh's glob(3): sorted, and a pattern matching nothing is silently skipped.
        return sorted(glob.glob(full))

    def _include(self, target: str, guard: _Guard, depth: int, source: Path, lineno: int) -> None:
        if depth > _MAX_INCLUDE_DEPTH:
            raise self.error(
                source,
                lineno,
                f"Include nested more than {_MAX_INCLUDE_DEPTH} deep (does a file include itself?)",
            )
        path = Path(target)
        try:
            text = _read_text(path)
        except (FileNotFoundError, IsADirectoryError):
            return  # vanished since the glob, or a directory the glob caught: ssh skips both
        except OSError as exc:
            raise self.error(
                source, lineno, f"cannot read included {self.display(path)} ({exc.strerror})"
            ) from exc
        except UnicodeDecodeError as exc:
            raise self.error(
                source, lineno, f"included {self.display(path)} is not valid UTF-8"
            ) from exc
        self.parse(text, path, guard, depth)

    # -- resolution -----------------------------------------------------------------------

    def resolve_all(self) -> list[SSHConfigHost]:
        """One entry per alias, from the first Host line naming it whose block applies to it."""
        local_user = _local_user()
        seen: set[str] = set()
        result: list[SSHConfigHost] = []
        for host_line in self.hosts:
            for alias in host_line.aliases:
                # A Host line under a Match, or inside an Include whose outer block cannot
                # match this alias, never applies to it: ssh would not use it, so neither do we.
                if alias in seen or not _applies(host_line.guard, alias):
                    continue
                seen.add(alias)
                result.append(self._resolve(alias, host_line, local_user))
        return result

    def _resolve(self, alias: str, host_line: _HostLine, local_user: str | None) -> SSHConfigHost:
        first: dict[str, str] = {}
        identities: list[str] = []
        for option in self.options:
            if not _applies(option.guard, alias):
                continue
            if option.keyword == "identityfile":
                identities.append(option.value)
            else:
                first.setdefault(option.keyword, option.value)

        raw_hostname = first.get("hostname")
        # ssh's HostName accepts only %% and %h.
        hostname = None if raw_hostname is None else _expand(raw_hostname, {"h": alias})
        port = int(first["port"]) if "port" in first else None
        user = first.get("user")
        jump = first.get("proxyjump")
        proxy_jump: tuple[str, ...] = ()
        if jump is not None and jump.lower() != "none":
            proxy_jump = tuple(hop.strip() for hop in jump.split(","))

        tokens = {
            "h": hostname or alias,
            "n": alias,
            "d": str(self.home),
            "p": str(port or _DEFAULT_PORT),
        }
        if local_user is not None:
            tokens["u"] = local_user
        remote_user = user or local_user
        if remote_user is not None:
            tokens["r"] = remote_user
        identity_files = tuple(dict.fromkeys(_expand(f, tokens) for f in identities))

        return SSHConfigHost(
            alias=alias,
            hostname=hostname,
            port=port,
            user=user,
            identity_files=identity_files,
            proxy_jump=proxy_jump,
            source=host_line.source,
            line=host_line.line,
        )


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


def _host_matches(patterns: tuple[str, ...], alias: str) -> bool:
    """A Host line matches if some pattern does and no negated pattern does."""
    positive = False
    for pattern in patterns:
        if pattern.startswith("!"):
            if _pattern_regex(pattern[1:]).fullmatch(alias):
                return False
        elif _pattern_regex(pattern).fullmatch(alias):
            positive = True
    return positive


def _applies(guard: _Guard, alias: str) -> bool:
    return all(level is not None and _host_matches(level, alias) for level in guard)


def _expand(value: str, tokens: Mapping[str, str]) -> str:
    """Replace ssh %-tokens; ``%%`` is a literal ``%`` and unknown tokens stay as written."""
    out: list[str] = []
    i, n = 0, len(value)
    while i < n:
        char = value[i]
        if char == "%" and i + 1 < n:
            token = value[i + 1]
            if token == "%":
                out.append("%")
            elif token in tokens:
                out.append(tokens[token])
            else:
                out.append(value[i : i + 2])
            i += 2
            continue
        out.append(char)
        i += 1
    return "".join(out)


def _local_user() -> str | None:
    """The local login name for %u/%r; None when the system cannot tell (tokens stay as-is)."""
    try:
        return getpass.getuser()
    except (OSError, KeyError, ImportError):
        return None
