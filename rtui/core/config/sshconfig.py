"""Read OpenSSH client config files (``~/.ssh/config``) and resolve each alias as ssh would."""

from __future__ import annotations

import getpass
import glob
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from rtui.core.errors import ConfigError

__all__ = [
    "SSHConfig", "SSHConfigHost", "host_matches", "load_ssh_config", "read_ssh_config",
    "resolve_ssh_alias",
]

#: OpenSSH's READCONF_MAX_DEPTH: deeper nesting is almost certainly an include loop.
_MAX_INCLUDE_DEPTH = 16
_DEFAULT_PORT = 22
#: ssh keeps times and counts in a C int.
_INT_MAX = 2**31 - 1

#: The options we resolve, by lower-case keyword, with the spelling used in messages.
_OPTION_NAMES = {
    "hostname": "HostName",
    "port": "Port",
    "user": "User",
    "proxyjump": "ProxyJump",
    "identityfile": "IdentityFile",
    "userknownhostsfile": "UserKnownHostsFile",
    "identityagent": "IdentityAgent",
    "identitiesonly": "IdentitiesOnly",
    "connecttimeout": "ConnectTimeout",
    "serveraliveinterval": "ServerAliveInterval",
    "serveralivecountmax": "ServerAliveCountMax",
    "stricthostkeychecking": "StrictHostKeyChecking",
}

#: Options taking several values on one line; every other one takes exactly one.
_MULTI_VALUE = frozenset({"userknownhostsfile"})
#: Times ssh reads with convtime(3): seconds, or units like ``1m30s``.
_TIME_OPTIONS = frozenset({"connecttimeout", "serveraliveinterval"})
#: Every part but the last needs its unit, so the pattern cannot backtrack exponentially.
_TIME_RE = re.compile(r"(?:[0-9]+[smhdw])*[0-9]+[smhdw]?", re.IGNORECASE)
_TIME_PART_RE = re.compile(r"([0-9]+)([smhdw]?)", re.IGNORECASE)
_TIME_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
#: ssh's yes/no flags also take true/false (case-insensitive).
_FLAG_VALUES = {"yes": "yes", "true": "yes", "no": "no", "false": "no"}
_STRICT_VALUES = frozenset({"yes", "no", "ask", "accept-new", "off", "true", "false"})

#: ``Keyword value`` or ``Keyword=value``; ssh allows whitespace around the one ``=``.
_KEYWORD_RE = re.compile(r"([^\s=]+)[ \t]*(?:=[ \t]*)?(.*)", re.DOTALL)


@dataclass(frozen=True)
class SSHConfigHost:
    """One host name with the options ssh would use to connect to it.

    ``alias`` is what was resolved: a concrete ``Host`` alias for :func:`read_ssh_config`, or
    any name for :func:`resolve_ssh_alias`. ``source``/``line`` is the first Host line naming
    it (else the first Host line whose patterns match it; line 0 of the file when none does).
    Unset options are None (or empty); paths keep ``~`` unexpanded, %-tokens are expanded.
    ``known_hosts_disabled`` is ``UserKnownHostsFile none`` (then ``known_hosts_files`` is
    empty), unlike an unset option, where ssh uses its default files.
    """

    alias: str
    hostname: str | None
    port: int | None
    user: str | None
    identity_files: tuple[str, ...]
    proxy_jump: tuple[str, ...]
    source: Path
    line: int
    known_hosts_files: tuple[str, ...] = ()
    known_hosts_disabled: bool = False
    identity_agent: str | None = None
    identities_only: bool | None = None
    connect_timeout: int | None = None
    server_alive_interval: int | None = None
    server_alive_count_max: int | None = None
    strict_host_key_checking: str | None = None


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
    values: tuple[str, ...]  # already validated and normalised; one unless _MULTI_VALUE
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
    """Every concrete alias in file order (first appearance), options resolved as ssh would.

    Raises ConfigError when the file is missing, unreadable or malformed.
    """
    reader = _load(path, home, missing_ok=False)
    assert reader is not None
    return reader.resolve_all()


def resolve_ssh_alias(path: Path, name: str, *, home: Path | None = None) -> SSHConfigHost | None:
    """The options ssh would use for ``ssh name``: any name, not only a concrete alias.

    A name no block matches still resolves (to the top-level options, if any). Returns None
    when ``path`` does not exist, since having no ssh config is normal; raises ConfigError
    when it is unreadable or malformed.
    """
    config = load_ssh_config(path, home=home)
    return None if config is None else config.resolve(name)


class SSHConfig:
    """A config file parsed once (with its Includes): resolve many names without rereading."""

    def __init__(self, reader: _Reader, path: Path) -> None:
        self._reader = reader
        self._path = path

    def resolve(self, name: str) -> SSHConfigHost:
        """What :func:`resolve_ssh_alias` returns for ``name``."""
        return self._reader.resolve_name(name, self._path)


def load_ssh_config(path: Path, *, home: Path | None = None) -> SSHConfig | None:
    """Parse ``path`` and its Includes once; None when it does not exist, as resolve_ssh_alias."""
    reader = _load(path, home, missing_ok=True)
    return None if reader is None else SSHConfig(reader, path)


def _load(path: Path, home: Path | None, *, missing_ok: bool) -> _Reader | None:
    """Read and parse ``path`` and its Includes; None when missing and ``missing_ok``."""
    reader = _Reader(_home_for(path, home))
    try:
        text = _read_text(path)
    except (FileNotFoundError, NotADirectoryError) as exc:
        if missing_ok:
            return None
        raise reader.read_error(path, exc) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise reader.read_error(path, exc) from exc
    reader.parse(text, path, (), 0)
    return reader


def _home_for(path: Path, home: Path | None) -> Path:
    if home is not None:
        return home
    try:
        return Path.home()
    except (RuntimeError, KeyError) as exc:
        raise ConfigError(f"cannot find the home directory to read {path}: {exc}") from exc


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

    def read_error(self, path: Path, exc: OSError | UnicodeDecodeError) -> ConfigError:
        """The top-level config could not be read."""
        if isinstance(exc, UnicodeDecodeError):
            return ConfigError(f"{self.display(path)}: ssh config is not valid UTF-8")
        return ConfigError(f"{self.display(path)}: cannot read ssh config ({exc.strerror or exc})")

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
                values = self._option_values(keyword, args, source, lineno)
                self.options.append(_Option(guard, keyword, values, source, lineno))
            # Anything else is one of ssh's many other keywords: not ours to judge.

    def _host_patterns(self, args: list[str], source: Path, lineno: int) -> tuple[str, ...]:
        if not args:
            raise self.error(source, lineno, "Host needs at least one pattern")
        if any(a in ("", "!") for a in args):
            raise self.error(source, lineno, "Host has an empty pattern")
        return tuple(args)

    def _option_values(
        self, keyword: str, args: list[str], source: Path, lineno: int
    ) -> tuple[str, ...]:
        """Validate an option's values, as ssh does even in inactive blocks."""
        name = _OPTION_NAMES[keyword]
        if not args or args[0] == "":
            raise self.error(source, lineno, f"{name} needs a value")
        if keyword in _MULTI_VALUE:
            if "" in args:
                raise self.error(source, lineno, f"{name} has an empty value")
            if len(args) > 1 and any(a.lower() == "none" for a in args):
                raise self.error(source, lineno, f"{name} 'none' must appear alone")
            return tuple(args)
        if len(args) > 1:
            raise self.error(
                source, lineno, f"{name} takes one value, got {len(args)}: {' '.join(args)!r}"
            )
        return (self._single_value(keyword, name, args[0], source, lineno),)

    def _single_value(self, keyword: str, name: str, value: str, source: Path, lineno: int) -> str:
        """Check one value; numbers and keywords come back normalised."""
        if keyword == "port":
            if not re.fullmatch(r"[0-9]+", value):
                raise self.error(source, lineno, f"Port must be a number, got {value!r}")
            if not 1 <= int(value) <= 65535:
                raise self.error(source, lineno, f"Port must be 1..65535, got {value}")
        elif keyword == "proxyjump" and value.lower() != "none":
            if any(not hop.strip() for hop in value.split(",")):
                raise self.error(source, lineno, f"ProxyJump has an empty hop in {value!r}")
        elif keyword in _TIME_OPTIONS:
            if not _TIME_RE.fullmatch(value):
                raise self.error(
                    source, lineno, f"{name} must be a number of seconds, got {value!r}"
                )
            seconds = sum(
                int(count) * _TIME_UNITS[unit.lower()]
                for count, unit in _TIME_PART_RE.findall(value)
            )
            if seconds > _INT_MAX:
                raise self.error(source, lineno, f"{name} must be 0..{_INT_MAX}, got {value}")
            return str(seconds)
        elif keyword == "serveralivecountmax":
            if not re.fullmatch(r"[0-9]+", value):
                raise self.error(source, lineno, f"{name} must be a number, got {value!r}")
            if int(value) > _INT_MAX:
                raise self.error(source, lineno, f"{name} must be 0..{_INT_MAX}, got {value}")
            return str(int(value))
        elif keyword == "identitiesonly":
            if value.lower() not in _FLAG_VALUES:
                raise self.error(source, lineno, f"{name} must be yes or no, got {value!r}")
            return _FLAG_VALUES[value.lower()]
        elif keyword == "stricthostkeychecking":
            if value.lower() not in _STRICT_VALUES:
                raise self.error(
                    source,
                    lineno,
                    f"{name} must be yes, no, ask, accept-new or off, got {value!r}",
                )
            return value.lower()
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
                result.append(self._resolve(alias, host_line.source, host_line.line, local_user))
        return result

    def resolve_name(self, name: str, path: Path) -> SSHConfigHost:
        """Any name, reported at the Host line resolve_all would use, else the first matching."""
        applicable = [h for h in self.hosts if _applies(h.guard, name)]
        naming = [h for h in applicable if name in h.aliases]
        candidates = naming or applicable
        origin = candidates[0] if candidates else None
        source, line = (path, 0) if origin is None else (origin.source, origin.line)
        return self._resolve(name, source, line, _local_user())

    def _resolve(
        self, alias: str, source: Path, line: int, local_user: str | None
    ) -> SSHConfigHost:
        first: dict[str, tuple[str, ...]] = {}
        identities: list[str] = []
        for option in self.options:
            if not _applies(option.guard, alias):
                continue
            if option.keyword == "identityfile":
                identities.extend(option.values)
            else:
                first.setdefault(option.keyword, option.values)

        def single(keyword: str) -> str | None:
            values = first.get(keyword)
            return None if values is None else values[0]

        def number(keyword: str) -> int | None:
            value = single(keyword)
            return None if value is None else int(value)

        raw_hostname = single("hostname")
        # ssh's HostName accepts only %% and %h.
        hostname = None if raw_hostname is None else _expand(raw_hostname, {"h": alias})
        port = number("port")
        user = single("user")
        jump = single("proxyjump")
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

        known_hosts = first.get("userknownhostsfile", ())
        known_hosts_disabled = len(known_hosts) == 1 and known_hosts[0].lower() == "none"
        known_hosts_files = (
            () if known_hosts_disabled else tuple(_expand(f, tokens) for f in known_hosts)
        )
        agent = single("identityagent")
        identities_only = single("identitiesonly")

        return SSHConfigHost(
            alias=alias,
            hostname=hostname,
            port=port,
            user=user,
            identity_files=identity_files,
            proxy_jump=proxy_jump,
            source=source,
            line=line,
            known_hosts_files=known_hosts_files,
            known_hosts_disabled=known_hosts_disabled,
            identity_agent=None if agent is None else _expand(agent, tokens),
            identities_only=None if identities_only is None else identities_only == "yes",
            connect_timeout=number("connecttimeout"),
            server_alive_interval=number("serveraliveinterval"),
            server_alive_count_max=number("serveralivecountmax"),
            strict_host_key_checking=single("stricthostkeychecking"),
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


def host_matches(patterns: Iterable[str], *names: str) -> bool:
    """Some pattern matches one of ``names`` and no negated (``!``) pattern matches any.

    Case-sensitive, as ssh's Host lines are; a Host line passes one name.
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


def _applies(guard: _Guard, alias: str) -> bool:
    return all(level is not None and host_matches(level, alias) for level in guard)


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
