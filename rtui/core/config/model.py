"""The typed host and settings model, and the validation that turns TOML data into it."""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from rtui.core.errors import ConfigError, describe_value
from rtui.core.jupyter.settings import JupyterSettings, jupyter_problems
from rtui.core.slurm.settings import SlurmSettings, slurm_problems

__all__ = [
    "AUTH_METHODS",
    "AUTORELOAD_MODES",
    "HOST_KEY_POLICIES",
    "IMAGE_MODES",
    "Config",
    "Host",
    "HostKind",
    "JumpHop",
    "Problem",
    "Settings",
    "check_config",
    "config_from_data",
    "config_to_data",
    "host_from_data",
    "host_to_data",
    "parse_jump",
]

AUTH_METHODS = ("publickey", "keyboard-interactive", "password")
HOST_KEY_POLICIES = ("ask", "accept-new", "strict")
# How the console draws images (``--images``): "auto" asks the terminal before the app starts.
IMAGE_MODES = ("auto", "kitty", "sixel", "iterm", "blocks", "off")
# Module reloading in the kernels rtui starts on a host: IPython's ``%autoreload`` mode
# (2: every changed module before each cell; 3: also adds new names), or off.
AUTORELOAD_MODES = ("2", "3", "off")
# Hosts one connection may pass through; a longer chain is a mistake (and ssh's own limit
# on ProxyJump recursion is far lower in practice).
MAX_JUMP_HOPS = 32
_MODULE_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_SECRET_KEYS = {"password", "passphrase", "secret", "token", "otp"}
# What a Jupyter host (one with a ``jupyter`` table) may hold beside it: the rest is SSH's.
_JUPYTER_HOST_KEYS = ("name", "tags", "note", "jupyter")

HostKind = Literal["ssh", "jupyter", "jupyterhub"]


@dataclass(frozen=True)
class Host:
    """One SSH host rtui manages.

    ``None`` means "not set here": at connect time the value comes from ``~/.ssh/config``
    for an alias of the same name, else the SSH default (hostname = name, port 22).
    """

    name: str
    hostname: str | None = None
    port: int | None = None
    user: str | None = None
    identity_files: tuple[str, ...] = ()
    auth_methods: tuple[str, ...] = ()
    jump: tuple[str, ...] = ()
    python: str = "auto"
    tags: tuple[str, ...] = ()
    note: str = ""
    host_key_policy: str | None = None
    # Module reloading in the kernels rtui starts here (see AUTORELOAD_MODES), and the
    # modules it leaves alone: those with a listed name anywhere in their dotted name
    # ("torch" leaves torch.nn alone), the rule of Spyder's User Module Reloader.
    autoreload: str = "2"
    autoreload_exclude: tuple[str, ...] = ()
    # The job settings of a SLURM login node (its ``slurm`` table): kernels started "as a
    # job" go to the cluster's compute nodes with them. None: not a SLURM login node.
    slurm: SlurmSettings | None = None
    # A Jupyter Server or JupyterHub (its ``jupyter`` table): kernels are reached over HTTP
    # and the kernel websocket, not SSH. None: an SSH host.
    jupyter: JupyterSettings | None = None

    @property
    def kind(self) -> HostKind:
        """"ssh", or "jupyter" / "jupyterhub" for a host with a ``jupyter`` table."""
        if self.jupyter is None:
            return "ssh"
        return "jupyterhub" if self.jupyter.hub else "jupyter"

    @property
    def address(self) -> str:
        """``user@hostname:port`` as far as this record knows it (a Jupyter host's URL)."""
        if self.jupyter is not None:
            return self.jupyter.describe()
        user = f"{self.user}@" if self.user else ""
        host = self.hostname or self.name
        if ":" in host:
            host = f"[{host}]"
        return f"{user}{host}:{self.port or 22}"

    @property
    def configured_python(self) -> str | None:
        """The interpreter set for this host, or None when it is left to discovery ("auto")."""
        return None if self.python in ("", "auto") else self.python


@dataclass(frozen=True)
class Settings:
    """App-wide options, the ``[settings]`` table."""

    connect_timeout: float = 10.0
    check_timeout: float = 5.0
    check_concurrency: int = 32
    keepalive_interval: float = 5.0
    keepalive_count_max: int = 3
    reconnect_max_delay: float = 60.0
    # Seconds the CLI retries a lost host before it gives up with a message (the TUI
    # retries for ever, and says so).
    reconnect_give_up: float = 60.0
    console_max_lines: int = 100_000
    # Megabytes of a kernel's output its keeper on the host holds for clients that come
    # back (the oldest messages are dropped first, and counted).
    output_buffer_mb: float = 64.0
    host_key_policy: str = "ask"
    # Rows that only scrolled are moved by the terminal (a scrolling region); off for a
    # terminal that mishandles scrolling regions: the console is then painted whole.
    band_scroll: bool = True
    # Terminal graphics for images: auto (detected), kitty, sixel, iterm, blocks (half-block
    # cells, every colour terminal) or off (one line naming the image); --images overrides it.
    images: str = "auto"


@dataclass(frozen=True)
class Config:
    """Everything in ``hosts.toml``: immutable, so a change is a new value."""

    settings: Settings = field(default_factory=Settings)
    hosts: tuple[Host, ...] = ()

    def get(self, name: str) -> Host | None:
        return next((h for h in self.hosts if h.name == name), None)

    def require(self, name: str) -> Host:
        host = self.get(name)
        if host is None:
            known = ", ".join(h.name for h in self.hosts) or "none"
            raise ConfigError(f"no host named '{name}' (known: {known})")
        return host

    def with_host(self, host: Host) -> Config:
        """Add ``host``, or replace the host of the same name."""
        if self.get(host.name) is None:
            return dataclasses.replace(self, hosts=(*self.hosts, host))
        hosts = tuple(host if h.name == host.name else h for h in self.hosts)
        return dataclasses.replace(self, hosts=hosts)

    def without_host(self, name: str) -> Config:
        return dataclasses.replace(self, hosts=tuple(h for h in self.hosts if h.name != name))

    def remove_host(self, name: str) -> Config:
        """Remove ``name``; refused while another host jumps through it."""
        self.require(name)
        users = [h.name for h in self.hosts if name in h.jump]
        if users:
            raise ConfigError(
                f"'{name}' is the jump host of {', '.join(users)}; change their jump first")
        return self.without_host(name)

    def replace_host(self, old_name: str, edited: Host) -> Config:
        """Put ``edited`` where ``old_name`` was; a rename carries jump references along."""
        self.require(old_name)
        if edited.name != old_name and self.get(edited.name) is not None:
            raise ConfigError(f"a host named '{edited.name}' exists already")

        def follow(h: Host) -> Host:
            if old_name == edited.name or old_name not in h.jump:
                return h
            jump = tuple(edited.name if j == old_name else j for j in h.jump)
            return dataclasses.replace(h, jump=jump)

        hosts = tuple(follow(edited) if h.name == old_name else follow(h) for h in self.hosts)
        return dataclasses.replace(self, hosts=hosts)

    def add_host(self, host: Host) -> Config:
        """Add a new host; refused when the name is taken."""
        if self.get(host.name) is not None:
            raise ConfigError(
                f"a host named '{host.name}' exists already; change it with `rtui hosts edit`")
        return self.with_host(host)


@dataclass(frozen=True)
class JumpHop:
    """One ProxyJump hop: either the name of another host, or an inline ``user@host:port``."""

    host: str
    user: str | None = None
    port: int | None = None


def parse_jump(spec: str) -> JumpHop:
    """Parse ``[ssh://][user@]host[:port]`` (IPv6 as ``[addr]:port``), as OpenSSH's -J does."""
    text = spec.strip()
    if text.startswith("ssh://"):
        text = text[len("ssh://") :].rstrip("/")
    if not text or any(c.isspace() for c in text):
        raise ValueError(f"'{spec}' is not a jump host (expected [user@]host[:port])")
    user: str | None = None
    if "@" in text:
        user, _, text = text.rpartition("@")
        if not user:
            raise ValueError(f"'{spec}' has an empty user name")
    port: int | None = None
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError(f"'{spec}' has an unclosed '['")
        host, rest = text[1:end], text[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"'{spec}' is not a jump host (expected [user@]host[:port])")
            port = _parse_port_text(rest[1:], spec)
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
        port = _parse_port_text(port_text, spec)
    else:
        host = text
    if not host:
        raise ValueError(f"'{spec}' has an empty host")
    return JumpHop(host=host, user=user, port=port)


def _parse_port_text(text: str, spec: str) -> int:
    # isascii: int() takes any script's digits ('٢٢' is 22); a port is written in 0-9
    if not (text.isascii() and text.isdigit()) or len(text) > 5 or not 1 <= int(text) <= 65535:
        raise ValueError(f"'{spec}' has a bad port '{text}' (expected 1-65535)")
    return int(text)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the config: where (host, field) and what."""

    message: str
    host: str | None = None
    field: str | None = None
    index: int | None = None

    def __str__(self) -> str:
        where = f"host '{self.host}'" if self.host else (
            f"host #{self.index + 1}" if self.index is not None else ""
        )
        parts = [p for p in (where, self.field) if p]
        return _one_line(": ".join([*parts, self.message]))


_LINE_MAX = 300  # characters of one problem's line; a huge value's middle is left out


def _one_line(text: str) -> str:
    """``text`` as one printable line: a value's newlines and terminal escapes shown as
    ``\\n``, ``\\x1b``; past _LINE_MAX characters the middle left out (the start says
    where, the end what to do)."""
    if not text.isprintable():
        text = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
                       for c in text)
    if len(text) > _LINE_MAX:
        text = f"{text[:180]} ... {text[-(_LINE_MAX - 185):]}"
    return text


# --- decoding -------------------------------------------------------------------------------

_HOST_FIELDS = {f.name: f for f in dataclasses.fields(Host)}
_SETTINGS_FIELDS = {f.name: f for f in dataclasses.fields(Settings)}
# Each number setting's range: (lowest, highest, unit). A float's lowest is excluded (a
# timeout of 0 is none), an integer's included. reconnect_give_up: a day, longer is "never"
# (the TUI's way); the rest: past these a value is a typo, never a wish.
_SETTINGS_RANGES: dict[str, tuple[float, float, str]] = {
    "connect_timeout": (0.0, 3600.0, "s"),
    "check_timeout": (0.0, 3600.0, "s"),
    "check_concurrency": (1, 1024, ""),
    "keepalive_interval": (0.0, 3600.0, "s"),
    "keepalive_count_max": (1, 1000, ""),
    "reconnect_max_delay": (0.0, 3600.0, "s"),
    "reconnect_give_up": (0.0, 86_400.0, "s"),
    "console_max_lines": (1, 10_000_000, "lines"),
    "output_buffer_mb": (0.0, 16_384.0, "MB"),
}
_SETTINGS_CHOICES = {"host_key_policy": HOST_KEY_POLICIES, "images": IMAGE_MODES}


def _check_str(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be a string, got {describe_value(value)}")
    return value


def _check_str_list(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"must be a list of strings, got {describe_value(value)}")
    return tuple(value)


def _check_port(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"must be a whole number 1-65535, got {describe_value(value)}")
    if not 1 <= value <= 65535:
        raise ValueError(f"must be 1-65535, got {value}")
    return value


def _check_hostname(text: str) -> None:
    """A DNS name or an address: no control characters, no leading '-' (an option to any
    ``ssh`` it reaches), no port or user in it (said where each goes instead)."""
    if not text.isprintable():
        raise ValueError("must not contain control characters, got "
                         f"'{text.encode('unicode_escape').decode()}'")
    if text.startswith("-"):
        raise ValueError(f"must not start with '-', got '{text}'")
    if "@" in text:
        raise ValueError(f"must not contain '@' (the login name goes in user), got '{text}'")
    if ":" in text:
        with contextlib.suppress(ValueError):
            ipaddress.ip_address(text.split("%", 1)[0])  # an IPv6 address, maybe scoped
            return
        port = re.fullmatch(r"([^:\[\]]+):([0-9]{1,5})", text)
        if port:
            raise ValueError(f"'{text}' holds a port: give hostname = '{port.group(1)}' and "
                             f"port = {port.group(2)} (--port {port.group(2)})")
        raise ValueError(f"'{text}' is neither a host name nor an IP address")


def _decode_host_field(name: str, value: Any) -> Any:
    """Check one host field's TOML value and return it in model form; ValueError says why."""
    if name in ("name", "hostname", "user", "python", "note", "host_key_policy"):
        text = _check_str(value)
        if name == "name" and not _NAME_RE.match(text):
            raise ValueError(
                f"'{text}' is not a usable name (letters, digits, '.', '_', '-'; "
                "starting with a letter or digit)"
            )
        if name in ("hostname", "user") and (not text or any(c.isspace() for c in text)):
            raise ValueError(f"must be non-empty without spaces, got '{text}'")
        if name == "hostname":
            _check_hostname(text)
        if name == "user" and "@" in text:
            raise ValueError(f"must not contain '@', got '{text}'")
        if name == "host_key_policy" and text not in HOST_KEY_POLICIES:
            raise ValueError(f"must be one of {', '.join(HOST_KEY_POLICIES)}, got '{text}'")
        return text
    if name == "port":
        return _check_port(value)
    if name == "autoreload":
        return _check_autoreload(value)
    items = _check_str_list(value)
    if name == "auth_methods":
        for item in items:
            if item not in AUTH_METHODS:
                raise ValueError(f"unknown method '{item}' (known: {', '.join(AUTH_METHODS)})")
    if name == "jump":
        for item in items:
            parse_jump(item)
    if name == "autoreload_exclude":
        for item in items:
            if not _MODULE_NAME_RE.match(item):
                raise ValueError(
                    f"'{item}' is not a module name without dots (e.g. torch: it leaves "
                    "every module with that name in its dotted name alone)")
    return items


def _check_autoreload(value: Any) -> str:
    """2 or 3 (a number or its text) or "off": the model keeps the text."""
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or text.strip().lower() not in AUTORELOAD_MODES:
        raise ValueError(
            f"must be 2 (reload changed modules before each cell), 3 (also add their new "
            f"names) or \"off\", got {describe_value(value)}")
    return text.strip().lower()


def host_from_data(data: Mapping[str, Any], *, index: int | None = None) -> Host:
    """Build a :class:`Host` from a TOML table; raise ConfigError listing every problem."""
    problems = _host_problems(data, index)
    if problems:
        raise _config_error(problems)
    return _build_host(data)


def _host_problems(data: Mapping[str, Any], index: int | None) -> list[Problem]:
    name = data.get("name") if isinstance(data.get("name"), str) else None
    problems: list[Problem] = []
    if "name" not in data:
        problems.append(Problem("every host needs a name", index=index, field="name"))
    for key, value in data.items():
        if key.lower() in _SECRET_KEYS:
            problems.append(Problem(
                "secrets are never stored in hosts.toml; remove this key, rtui asks when "
                "connecting", host=name, field=key, index=index))
        elif key in _SUB_TABLES:
            problems.extend(_table_problems(key, value, name, index))
        elif key not in _HOST_FIELDS:
            problems.append(Problem(
                f"unknown key (known: {', '.join(_HOST_FIELDS)})", host=name, field=key,
                index=index))
        else:
            try:
                _decode_host_field(key, value)
            except ValueError as exc:
                problems.append(Problem(str(exc), host=name, field=key, index=index))
    if "jupyter" in data:
        problems.extend(
            Problem(f"an SSH setting, not used by a Jupyter host (a host with a jupyter "
                    f"table); remove it (a Jupyter host keeps only "
                    f"{', '.join(_JUPYTER_HOST_KEYS)})", host=name, field=key, index=index)
            for key in data if key in _HOST_FIELDS and key not in _JUPYTER_HOST_KEYS)
    return problems


# A host's nested tables: what each holds (for the message when it is no table) and the
# checker of its keys, which returns (key, message) pairs.
_SUB_TABLES: dict[str, tuple[str, Callable[[Mapping[str, Any]], list[tuple[str, str]]]]] = {
    "slurm": ("a table of job settings ([hosts.slurm])", slurm_problems),
    "jupyter": ("a table with a url ([hosts.jupyter])", jupyter_problems),
}


def _table_problems(table: str, value: Any, host: str | None,
                    index: int | None) -> list[Problem]:
    """The problems of a host's nested ``table``, each naming its key (``slurm.time``)."""
    what, check = _SUB_TABLES[table]
    if not isinstance(value, dict):
        return [Problem(f"must be {what}, got {describe_value(value)}", host=host,
                        field=table, index=index)]
    return [Problem(message, host=host, field=f"{table}.{key}", index=index)
            for key, message in check(value)]


def _build_host(data: Mapping[str, Any]) -> Host:
    def decode(key: str, value: Any) -> Any:
        if key == "slurm":
            return SlurmSettings.from_toml(value)
        if key == "jupyter":
            return JupyterSettings.from_toml(value)
        return _decode_host_field(key, value)

    return Host(**{k: decode(k, v) for k, v in data.items()})


def config_from_data(data: Mapping[str, Any]) -> Config:
    """Build a :class:`Config` from parsed TOML; raise ConfigError listing every problem."""
    problems: list[Problem] = []
    for key in data:
        if key not in ("settings", "hosts"):
            problems.append(Problem(f"unknown top-level key '{key}' (known: settings, hosts)"))
    settings = _settings_from_data(data.get("settings", {}), problems)
    raw_hosts = data.get("hosts", [])
    hosts: list[Host] = []
    if not isinstance(raw_hosts, list):
        problems.append(Problem("'hosts' must be an array of tables ([[hosts]])"))
        raw_hosts = []
    for i, raw in enumerate(raw_hosts):
        if not isinstance(raw, dict):
            problems.append(Problem("must be a table", index=i))
            continue
        host_problems = _host_problems(raw, i)
        problems.extend(host_problems)
        if not host_problems:
            hosts.append(_build_host(raw))
    config = Config(settings=settings, hosts=tuple(hosts))
    problems.extend(check_config(config))
    if problems:
        raise _config_error(problems)
    return config


def _settings_from_data(raw: Any, problems: list[Problem]) -> Settings:
    if not isinstance(raw, dict):
        problems.append(Problem("'settings' must be a table", field="settings"))
        return Settings()
    values: dict[str, Any] = {}
    for key, value in raw.items():
        spec = _SETTINGS_FIELDS.get(key)
        where = f"settings.{key}"
        if spec is None:
            problems.append(Problem(
                f"unknown setting (known: {', '.join(_SETTINGS_FIELDS)})", field=where))
            continue
        default = spec.default
        if isinstance(default, bool):
            if not isinstance(value, bool):
                problems.append(Problem(f"must be true or false, got {describe_value(value)}",
                                        field=where))
                continue
        elif isinstance(default, str):
            choices = _SETTINGS_CHOICES[key]
            if not isinstance(value, str) or value not in choices:
                problems.append(Problem(
                    f"must be one of {', '.join(choices)}, got {describe_value(value)}",
                    field=where))
                continue
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            problems.append(Problem(f"must be a number, got {describe_value(value)}", field=where))
            continue
        elif isinstance(default, int) and not isinstance(value, int):
            problems.append(Problem(f"must be {_range_text(key)}, got {value!r}",
                                    field=where))
            continue
        elif not _in_range(key, value):
            problems.append(Problem(f"must be {_range_text(key)}, got {value!r}", field=where))
            continue
        values[key] = float(value) if isinstance(default, float) else value
    return Settings(**values)


def _in_range(key: str, value: float) -> bool:
    """``value`` is finite and in the setting's range (nan and inf never are)."""
    low, high, _ = _SETTINGS_RANGES[key]
    if isinstance(value, float) and not math.isfinite(value):
        return False  # (a huge TOML integer is compared exactly: never made a float)
    return low <= value <= high if isinstance(low, int) else low < value <= high


def _range_text(key: str) -> str:
    """"a whole number 1-1024", "greater than 0 and at most 3600 s": a setting's range as
    its messages say it."""
    low, high, unit = _SETTINGS_RANGES[key]
    unit = f" {unit}" if unit else ""
    if isinstance(low, int):
        return f"a whole number {low}-{high}{unit}"
    return f"greater than {low:g} and at most {high:g}{unit}"


def check_config(config: Config) -> list[Problem]:
    """Cross-host rules: unique names, jump chains that end, and a Jupyter host's ``via``
    naming an SSH host of the file."""
    problems: list[Problem] = []
    seen: set[str] = set()
    for host in config.hosts:
        if host.name in seen:
            problems.append(Problem("the name is used by more than one host", host.name, "name"))
        seen.add(host.name)
    by_name = {h.name: h for h in config.hosts}
    clean: set[str] = set()
    for host in config.hosts:
        found = _jump_loop(host, by_name, clean)
        if found and found[0] == "loop":
            problems.append(Problem(f"jump chain loops: {' -> '.join(found[1])}", host.name,
                                    "jump"))
        elif found:
            chain = found[1]
            problems.append(Problem(
                f"jump chain of more than {MAX_JUMP_HOPS} hosts: {' -> '.join(chain[:3])} -> "
                f"... -> {chain[-1]}", host.name, "jump"))
        via = host.jupyter.via if host.jupyter is not None else None
        if via is None:
            continue
        target = by_name.get(via)
        if target is None:
            known = ", ".join(h.name for h in config.hosts if h.kind == "ssh") or "none"
            problems.append(Problem(f"no SSH host named '{via}' in this file (SSH hosts: "
                                    f"{known})", host.name, "jupyter.via"))
        elif target.kind != "ssh":
            problems.append(Problem(f"'{via}' is a {target.kind} host; via names an SSH host "
                                    "the URL is opened over", host.name, "jupyter.via"))
    return problems


def _jump_loop(start: Host, by_name: Mapping[str, Host],
               clean: set[str]) -> tuple[str, list[str]] | None:
    """("loop", the path) for the first cycle reachable from ``start`` through jump names,
    ("long", the path) for a chain of more than MAX_JUMP_HOPS jump hosts, or None.

    Depth first without recursion; ``clean`` holds the hosts already known to reach neither,
    shared by the calls for one file, so each chain is walked once rather than once per host.
    """
    path: list[str] = [start.name]
    on_path = {start.name}
    pending = [iter(start.jump)]
    while pending:
        spec = next(pending[-1], None)
        if spec is None:  # every hop of path[-1] explored: nothing loops from it
            pending.pop()
            clean.add(_pop_path(path, on_path))
            continue
        name = spec.strip()
        if name not in by_name or name in clean:
            continue  # an inline user@host:port hop ends there; a clean host loops nowhere
        if name in on_path:
            loop = [*path[path.index(name):], name]
            # Reported only at a host on the loop, so each loop is named once per member.
            return ("loop", loop) if loop[0] == start.name else None
        path.append(name)
        on_path.add(name)
        if len(path) - 1 > MAX_JUMP_HOPS:  # the jump hosts, not the host itself
            return "long", path
        pending.append(iter(by_name[name].jump))
    return None


def _pop_path(path: list[str], on_path: set[str]) -> str:
    """The last host of a jump path, taken off it."""
    name = path.pop()
    on_path.discard(name)
    return name


def _config_error(problems: Iterable[Problem]) -> ConfigError:
    items = list(problems)
    return ConfigError("\n".join(str(p) for p in items), problems=items)


# --- encoding -------------------------------------------------------------------------------


def host_to_data(host: Host) -> dict[str, Any]:
    """The TOML table for ``host``: fields left at their default are omitted."""
    data: dict[str, Any] = {}
    for name, spec in _HOST_FIELDS.items():
        value = getattr(host, name)
        if name != "name" and value == spec.default:
            continue
        if isinstance(value, (SlurmSettings, JupyterSettings)):
            value = value.to_toml()  # an empty slurm table still makes a SLURM login node
        if name == "autoreload" and value.isdigit():
            value = int(value)  # autoreload = 3, as one writes it
        data[name] = list(value) if isinstance(value, tuple) else value
    return data


def config_to_data(config: Config) -> dict[str, Any]:
    data: dict[str, Any] = {}
    settings = {
        name: getattr(config.settings, name)
        for name, spec in _SETTINGS_FIELDS.items()
        if getattr(config.settings, name) != spec.default
    }
    if settings:
        data["settings"] = settings
    data["hosts"] = [host_to_data(h) for h in config.hosts]
    return data
