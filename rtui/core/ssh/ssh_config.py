"""Resolve names through the OpenSSH client config with asyncssh's ``SSHClientConfig``.

asyncssh evaluates Host and Match blocks (host, originalhost, user, localuser, exec, all,
final...), its option table and %-tokens. rtui feeds it the files, read and split once for
many names (asyncssh alone rereads and re-splits every file per name: ~25 ms a name for a
500-line config), and fixes where asyncssh 2.24 and OpenSSH disagree (tests compare with
``ssh -G``): Host patterns split at spaces only (not at commas), lines split as OpenSSH
splits them (a trailing ``# comment`` is allowed), Include matches in sorted order and at
most 16 deep, %-tokens expanded once after every file is read (not per included file) and
in ``Match exec`` commands and ``UserKnownHostsFile`` too, times such as ``1m30s``, values
checked as ssh checks them (Port, ProxyJump hops, counts), in blocks that do not apply too,
the tokens ``%j`` and ``%k``, ``User none`` as a name, and ``StrictHostKeyChecking``, which
asyncssh does not read.
"""

from __future__ import annotations

import getpass
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncssh.config
from asyncssh.config import ConfigParseError, SSHClientConfig, SSHConfig

from rtui.core.config.importer import ImportedAlias
from rtui.core.config.ssh_aliases import (
    MAX_INCLUDE_DEPTH,
    MAX_INCLUDED_FILES,
    ConfigLine,
    display_path,
    host_matches,
    include_error,
    include_targets,
    list_aliases,
    read_config_lines,
    read_error,
)
from rtui.core.errors import ConfigError
from rtui.core.safe_read import refuse_special

__all__ = ["SSHConfigFiles", "SSHOptions", "load_ssh_config", "resolved_aliases"]

#: How long a ``Match exec`` command may run (ssh waits for ever; rtui resolves routes while
#: a person waits, so each wait has a bound and a message).
EXEC_TIMEOUT = 5.0


class _ExecTimeout(Exception):
    pass


def _bounded_exec(cmd: str) -> bool:
    """asyncssh's ``Match exec`` (the command's exit status is the match), with a bound."""
    try:
        return subprocess.run(cmd, shell=True, check=False, stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              timeout=EXEC_TIMEOUT).returncode == 0
    except subprocess.TimeoutExpired:
        raise _ExecTimeout(f"Match exec command did not finish within {EXEC_TIMEOUT:g} s: "
                           f"{cmd}") from None


asyncssh.config._exec = _bounded_exec  # asyncssh runs it without a timeout

_TIME_RE = re.compile(r"(?:[0-9]+[smhdw])*[0-9]+[smhdw]?", re.IGNORECASE)
_TIME_PART_RE = re.compile(r"([0-9]+)([smhdw]?)", re.IGNORECASE)
_TIME_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_TOKEN_RE = re.compile(r"%(.)")
#: ssh keeps times and counts in a C int.
_INT_MAX = 2**31 - 1
_STRICT_VALUES = {"yes": "yes", "true": "yes", "no": "no", "false": "no", "off": "no",
                  "ask": "ask", "accept-new": "accept-new"}


@dataclass(frozen=True)
class SSHOptions:
    """What the ssh config says for one name; None (or empty) where it says nothing.

    ``known_hosts_files`` is None when unset (ssh's default files), ``()`` for ``none``;
    ``identity_agent`` is ``"none"`` when the agent is turned off. Paths keep ``~``.
    """

    hostname: str | None = None
    port: int | None = None
    user: str | None = None
    identity_files: tuple[str, ...] = ()
    proxy_jump: tuple[str, ...] = ()
    known_hosts_files: tuple[str, ...] | None = None
    identity_agent: str | None = None
    identities_only: bool = False
    connect_timeout: int | None = None
    server_alive_interval: int | None = None
    server_alive_count_max: int | None = None
    strict_host_key_checking: str | None = None  # yes, no, ask or accept-new


class SSHConfigFiles:
    """One ssh config and its Includes, each file read and split once, resolved per name."""

    def __init__(self, path: Path, home: Path | None = None) -> None:
        self.path = path
        self.home = Path.home() if home is None else home
        self._lines: dict[Path, list[ConfigLine]] = {}
        self._globs: dict[str, list[Path]] = {}
        self._resolved: dict[tuple[str, str | None, int | None, str | None], SSHOptions] = {}
        self.checked: set[tuple[Path, int]] = set()  # lines of blocks that did not apply
        self._local_user = _local_user()

    def resolve(self, name: str, *, user: str | None = None, port: int | None = None,
                hostname: str | None = None) -> SSHOptions:
        """The options ``ssh [-l user] [-p port] [-o HostName=hostname] name`` would use.

        The given values win over the config's and are what Match sees, as on ssh's command
        line. ConfigError names the file and line of a malformed option. A jump host shared
        by many routes is resolved once (a Match exec command runs once, as in one ssh run).
        """
        key = (name, user, port, hostname)
        if key not in self._resolved:
            config = self._parse(name, user, port, hostname, final=False)
            if config.has_match_final():
                config = self._parse(name, user, port, hostname, final=True)
            self._resolved[key] = _options(config)
        return self._resolved[key]

    def lines(self, path: Path) -> list[ConfigLine]:
        if path not in self._lines:
            self._lines[path] = read_config_lines(path, self.home)
        return self._lines[path]

    def include_targets(self, pattern: str) -> list[Path]:
        if pattern not in self._globs:
            self._globs[pattern] = include_targets(pattern, self.home)
        return self._globs[pattern]

    def _parse(self, name: str, user: str | None, port: int | None, hostname: str | None,
               *, final: bool) -> _ClientConfig:
        config = _ClientConfig(self, name, user, port, hostname, final=final)
        try:
            config.parse(self.path)
        except ConfigParseError as exc:
            raise ConfigError(str(exc)) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise read_error(self.path, self.home, exc) from exc
        return config


def load_ssh_config(path: Path, *, home: Path | None = None) -> SSHConfigFiles | None:
    """The config at ``path``, or None when there is none (having no ssh config is normal).

    Something else in its place (a FIFO, a device, a symlink loop) is a
    ConfigError, as ssh refuses to go on without the config it cannot read: connecting as if
    there were none could pick another user, port or key than the person set there."""
    try:
        refuse_special(path.stat().st_mode)
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None  # no such file ('a-file/config' too), or a directory: ssh skips both
    except OSError as exc:
        raise read_error(path, home or Path.home(), exc) from exc
    return SSHConfigFiles(path, home)


def resolved_aliases(path: Path, *, home: Path | None = None) -> list[ImportedAlias]:
    """Every concrete alias of the config, resolved as ``ssh ALIAS`` would; for import.

    Raises ConfigError when the file is missing, unreadable or malformed.
    """
    files = SSHConfigFiles(path, home)
    entries: list[ImportedAlias] = []
    aliases = list_aliases(path, home=files.home)
    for alias in aliases:
        ssh = files.resolve(alias.alias)
        if not entries:  # the first pass read every file: how long will the rest take?
            _check_import_work(files, len(aliases))
        entries.append(ImportedAlias(
            alias.alias, ssh.hostname, ssh.port, ssh.user, ssh.identity_files, ssh.proxy_jump,
            alias.source, alias.line))
    return entries


#: Lines one import may read in all: each alias is resolved by a pass over every line (as
#: ``ssh -G`` does), so the work grows with hosts x lines; ~20 s on one slow core.
MAX_IMPORT_LINES = 10_000_000


def _check_import_work(files: SSHConfigFiles, aliases: int) -> None:
    lines = sum(len(read) for read in files._lines.values())
    if aliases * lines > MAX_IMPORT_LINES:
        raise ConfigError(
            f"{display_path(files.path, files.home)}: too big to import at once ({aliases} "
            f"hosts in {lines} lines: more than {MAX_IMPORT_LINES:,} lines to read, one pass "
            "per host); import a smaller file with `rtui hosts import --ssh-config FILE`")


class _ClientConfig(SSHClientConfig):
    """asyncssh's client config, fed from :class:`SSHConfigFiles`."""

    # asyncssh's class tables, extended (ClassVar would clash with its undeclared ones).
    _percent_expand = {*SSHClientConfig._percent_expand, "UserKnownHostsFile"}  # noqa: RUF012

    def __init__(self, files: SSHConfigFiles, name: str, user: str | None, port: int | None,
                 hostname: str | None, *, final: bool) -> None:
        super().__init__(None, False, False, final, files._local_user,  # type: ignore[arg-type]
                         user if user else (), name, port if port else ())  # type: ignore[arg-type]
        self._files = files
        self._depth = 0
        self._included = 0  # files read through Includes in this pass
        if hostname:
            self._options["Hostname"] = hostname

    def _error(self, reason: str) -> Any:
        raise ConfigParseError(
            f"{display_path(self._path, self._files.home)} line {self._line_no}: {reason}")

    def parse(self, path: Path) -> None:
        """asyncssh's parse loop over lines split once; tokens expanded after the last file."""
        self._path = path
        self._line_no = 0
        self._matching = True
        self._tokens = {"%": "%"}
        for line in self._files.lines(path):
            self._line_no = line.number
            try:
                option, handler = self._handlers[line.keyword]
            except KeyError:
                continue  # an option asyncssh does not know: ssh's to judge, not ours
            args = [line.rest.strip()] if line.keyword in self._no_split else list(line.args)
            if not self._matching and line.keyword not in self._conditionals:
                self._check_unused(line, option, handler, args)
                continue
            if line.keyword == "match":
                self._expand_exec(args)
            if not args:
                self._error(f"Missing {option} value")
            try:
                handler(self, option, args)
            except _ExecTimeout as exc:
                self._error(str(exc))
            if args:
                self._error(f"Extra data at end: {' '.join(args)}")
        if self._depth == 0:
            self._expand_tokens()

    def _check_unused(self, line: ConfigLine, option: str, handler: Callable[..., None],
                      args: list[str]) -> None:
        """Check a line of a block that does not apply, as ssh rejects a bad value anywhere
        (asyncssh skips such lines unread); once per file line, on a scratch config."""
        seen = (self._path, line.number)
        if line.keyword == "include" or seen in self._files.checked:
            return
        scratch = _ClientConfig(self._files, self._orig_host, None, None, None, final=False)
        scratch._path, scratch._line_no, scratch._tokens = self._path, line.number, {"%": "%"}
        if not args:
            scratch._error(f"Missing {option} value")
        handler(scratch, option, args)
        if args:
            scratch._error(f"Extra data at end: {' '.join(args)}")
        self._files.checked.add(seen)

    def _expand_exec(self, args: list[str]) -> None:
        """Expand %-tokens in ``Match exec`` commands as ssh does (asyncssh runs them as is)."""
        for i, arg in enumerate(args[:-1]):
            if arg.lower().lstrip("!") == "exec":
                self._set_all_tokens()
                args[i + 1] = _TOKEN_RE.sub(self._expand_token, args[i + 1])

    def _set_all_tokens(self) -> None:
        """asyncssh's tokens, with ``%d`` the home given, plus ssh's ``%j`` (the ProxyJump)
        and ``%k`` (the HostKeyAlias, else the host name), which asyncssh lacks."""
        self._set_tokens()
        self._tokens["d"] = str(self._files.home)
        self._tokens["j"] = str(self._options.get("ProxyJump") or "")
        self._tokens["k"] = str(self._options.get("HostKeyAlias") or self._tokens["h"])

    def _set_user(self, option: str, args: list[str]) -> None:
        """``User none`` is a user named none to ssh, not "unset" as asyncssh reads it."""
        self._options.setdefault(option, args.pop(0))

    def _expand_tokens(self) -> None:
        """Expand after the last file, with the host name lower-cased as ssh connects to it
        (Host and Match patterns saw it as given)."""
        if "Hostname" in self._options:
            self._options["Hostname"] = str(self._options["Hostname"]).lower()
        self._set_all_tokens()
        self._tokens["h"] = self._tokens["h"].lower()
        self._tokens["k"] = str(self._options.get("HostKeyAlias") or self._tokens["h"])
        for option in self._percent_expand:
            value = self._options.get(option)
            if isinstance(value, list):
                self._options[option] = [self._expand_val(item) for item in value]
            elif isinstance(value, str):
                self._options[option] = self._expand_val(value)

    def _include(self, option: str, args: list[str]) -> None:
        """Include in sorted order (as ssh), each file at most ``MAX_INCLUDE_DEPTH`` deep."""
        if self._depth >= MAX_INCLUDE_DEPTH:
            self._error(f"Include nested more than {MAX_INCLUDE_DEPTH} deep "
                        "(does a file include itself?)")
        old_path, old_line_no = self._path, self._line_no
        self._depth += 1
        try:
            for pattern in args:
                for target in self._files.include_targets(pattern):
                    self._included += 1
                    if self._included > MAX_INCLUDED_FILES:
                        self._path, self._line_no = old_path, old_line_no
                        self._error(f"Include reads more than {MAX_INCLUDED_FILES} files "
                                    "(does a file include itself?)")
                    self._include_file(target, old_path, old_line_no)
        finally:
            self._depth -= 1
        self._path, self._line_no = old_path, old_line_no
        self._matching = True
        args.clear()

    def _include_file(self, target: Path, source: Path, line_no: int) -> None:
        try:
            self.parse(target)
        except (FileNotFoundError, IsADirectoryError):
            return  # gone since the glob, or a directory the glob caught: ssh skips both
        except (OSError, UnicodeDecodeError) as exc:
            raise include_error(source, line_no, target, self._files.home, exc) from exc

    def _match_host(self, option: str, args: list[str]) -> None:
        """A Host line as ssh reads it: each word one pattern (asyncssh also splits at
        commas, so ``Host a,b`` matched ``a``; ssh takes ``a,b`` as one name)."""
        self._matching = host_matches(args, self._orig_host)
        args.clear()

    def _set_time(self, option: str, args: list[str]) -> None:
        """ssh's times: seconds, or with units such as ``1m30s``."""
        value = args.pop(0)
        if not _TIME_RE.fullmatch(value):
            self._error(f"Invalid {option} time value: {value}")
        seconds = sum(int(count) * _TIME_UNITS[unit.lower()]
                      for count, unit in _TIME_PART_RE.findall(value))
        if seconds > _INT_MAX:
            self._error(f"{option} must be 0..{_INT_MAX}, got {value}")
        self._options.setdefault(option, seconds)

    def _set_count(self, option: str, args: list[str]) -> None:
        """A count ssh keeps in a C int."""
        value = args.pop(0)
        if not (value.isascii() and value.isdigit()):
            self._error(f"Invalid {option} integer value: {value}")
        if len(value) > 10 or int(value) > _INT_MAX:  # int() of 5,000 digits raises
            self._error(f"{option} must be 0..{_INT_MAX}, got {value}")
        self._options.setdefault(option, int(value))

    def _set_port(self, option: str, args: list[str]) -> None:
        value = args.pop(0)
        if not (value.isascii() and value.isdigit()):
            self._error(f"Invalid {option} integer value: {value}")
        if len(value) > 5 or not 1 <= int(value) <= 65535:
            self._error(f"{option} must be 1..65535, got {value}")
        self._options.setdefault(option, int(value))

    def _set_proxy_jump(self, option: str, args: list[str]) -> None:
        value = args[0]
        hops = value.split(",")
        if len(args) == 1 and value.lower() != "none" and not all(h.strip() for h in hops):
            self._error(f"{option} has an empty hop in {value!r}")
        SSHConfig._set_string(self, option, args)

    def _set_known_hosts(self, option: str, args: list[str]) -> None:
        if "" in args:
            self._error(f"{option} has an empty value")
        if len(args) > 1 and any(a.lower() == "none" for a in args):
            self._error(f"{option} 'none' must appear alone")
        SSHConfig._set_string_list(self, option, args)

    def _set_strict(self, option: str, args: list[str]) -> None:
        value = args.pop(0)
        if value.lower() not in _STRICT_VALUES:
            self._error(f"Invalid {option} value: {value}")
        self._options.setdefault(option, _STRICT_VALUES[value.lower()])

    _handlers = {  # noqa: RUF012
        **SSHClientConfig._handlers,
        "connecttimeout": ("ConnectTimeout", _set_time),
        "host": ("Host", _match_host),
        "include": ("Include", _include),
        "port": ("Port", _set_port),
        "proxyjump": ("ProxyJump", _set_proxy_jump),
        "serveraliveinterval": ("ServerAliveInterval", _set_time),
        "serveralivecountmax": ("ServerAliveCountMax", _set_count),
        "user": ("User", _set_user),
        "userknownhostsfile": ("UserKnownHostsFile", _set_known_hosts),
        "stricthostkeychecking": ("StrictHostKeyChecking", _set_strict),
    }


_UNSET = object()


def _options(config: SSHConfig) -> SSHOptions:
    def get(option: str) -> Any:
        return config.get(option)

    port = get("Port")
    jump = get("ProxyJump")
    known = config.get("UserKnownHostsFile", _UNSET)
    agent = config.get("IdentityAgent", _UNSET)
    return SSHOptions(
        hostname=get("Hostname"),
        port=None if port is None else int(port),
        user=get("User"),
        identity_files=tuple(dict.fromkeys(get("IdentityFile") or ())),
        proxy_jump=tuple(h.strip() for h in jump.split(",")) if jump else (),
        known_hosts_files=None if known is _UNSET else tuple(known),  # type: ignore[arg-type]
        identity_agent=None if agent is _UNSET else agent or "none",  # type: ignore[arg-type]
        identities_only=bool(get("IdentitiesOnly")),
        connect_timeout=get("ConnectTimeout"),
        server_alive_interval=get("ServerAliveInterval"),
        server_alive_count_max=get("ServerAliveCountMax"),
        strict_host_key_checking=get("StrictHostKeyChecking"),
    )


def _local_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "root"
