"""A SLURM job's settings: the ``slurm`` table of a host in hosts.toml (a host with one is a
SLURM login node), overridden per console (the TUI's form) or per command (the CLI's flags).

Each value is checked here, before sbatch sees it, so a typo is named with its key and what is
allowed; what only the cluster can judge (a partition that does not exist) is sbatch's to say.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rtui.core.errors import ConfigError, describe_value

__all__ = ["SLURM_KEYS", "SlurmSettings", "slurm_problems", "time_seconds"]

# Names sbatch takes (partition, account, qos, reservation: lists of them with commas).
_NAME_RE = re.compile(r"^[A-Za-z0-9._,-]+$")
_MEM_RE = re.compile(r"^\d+[KMGTkmgt]?$", re.ASCII)
_GPUS_RE = re.compile(r"^(?:[A-Za-z0-9._-]+:)?\d+$", re.ASCII)
_GRES_RE = re.compile(r"^[A-Za-z0-9._:,=-]+$")
# sbatch's --time formats: MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS.
_TIME_RE = re.compile(r"^(?:(\d+)-(\d+)(?::(\d+)(?::(\d+))?)?|(\d+)(?::(\d+)(?::(\d+))?)?)$",
                      re.ASCII)
_TIME_HELP = "sbatch's formats: MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS"
_MAX_CPUS = 100_000
_MAX_TIME_TEXT = 32  # characters: past this no time is meant (and int() of 5,000 digits raises)
_TEXT_KEYS = ("partition", "account", "qos", "time", "mem", "gpus", "gres", "reservation")
_LIST_KEYS = ("extra", "setup")
SLURM_KEYS = (*_TEXT_KEYS[:4], "cpus", *_TEXT_KEYS[4:], *_LIST_KEYS)
"""Every key of the table, in the order hosts.toml and the forms show them."""


@dataclass(frozen=True)
class SlurmSettings:
    """What a job asks the scheduler for; None (or empty) leaves it to the cluster's default.

    ``extra``: more sbatch options, one per line (``--exclusive``); ``setup``: shell lines
    run in the job before the kernel starts (``module load python/3.11``)."""

    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    time: str | None = None
    cpus: int | None = None
    mem: str | None = None
    gpus: str | None = None
    gres: str | None = None
    reservation: str | None = None
    extra: tuple[str, ...] = ()
    setup: tuple[str, ...] = ()

    @classmethod
    def from_toml(cls, data: Mapping[str, Any]) -> SlurmSettings:
        """The settings of a ``slurm`` table; ConfigError naming every bad key and what it
        allows."""
        if not isinstance(data, Mapping):
            raise _error([("", f"must be a table of job settings, got {describe_value(data)}")])
        problems = slurm_problems(data)
        if problems:
            raise _error(problems)
        return cls(**{key: _decode(key, value) for key, value in data.items()})

    def to_toml(self) -> dict[str, Any]:
        """The table for hosts.toml: only the keys that are set."""
        data: dict[str, Any] = {}
        for key in SLURM_KEYS:
            value = getattr(self, key)
            if value is None or value == ():
                continue
            data[key] = list(value) if isinstance(value, tuple) else value
        return data

    def to_agent(self) -> dict[str, Any]:
        """The ``slurm`` argument of the agent's slurm_submit (the set keys, lists as lists)."""
        return self.to_toml()

    def merged(
        self, *, partition: str | None = None, account: str | None = None,
        qos: str | None = None, time: str | None = None, cpus: int | str | None = None,
        mem: str | None = None, gpus: str | None = None, gres: str | None = None,
        reservation: str | None = None, extra: list[str] | tuple[str, ...] | None = None,
        setup: list[str] | tuple[str, ...] | None = None,
    ) -> SlurmSettings:
        """These settings with the given ones instead (a flag, a form's field): None keeps
        this value, an empty text or list clears it (the cluster's default then). Checked as
        the table is: ConfigError naming each bad key."""
        given = {"partition": partition, "account": account, "qos": qos, "time": time,
                 "cpus": cpus, "mem": mem, "gpus": gpus, "gres": gres,
                 "reservation": reservation, "extra": extra, "setup": setup}
        data = self.to_toml()
        for key, value in given.items():
            if value is None:
                continue
            if value == "" or (isinstance(value, (list, tuple)) and not value):
                data.pop(key, None)
            else:
                data[key] = list(value) if isinstance(value, tuple) else value
        return SlurmSettings.from_toml(data)

    @property
    def time_seconds(self) -> int | None:
        """The time limit in seconds (None: the partition's)."""
        return None if self.time is None else time_seconds(self.time)

    def summary(self) -> str:
        """One line for a form's heading or a CLI's progress: "partition gpu, 2:00:00, 4 CPUs"
        ("the cluster's defaults" when nothing is set)."""
        parts = [f"partition {self.partition}" if self.partition else "",
                 f"account {self.account}" if self.account else "",
                 f"qos {self.qos}" if self.qos else "",
                 f"time {self.time}" if self.time else "",
                 f"{self.cpus} CPU{'s' if self.cpus != 1 else ''}" if self.cpus else "",
                 f"mem {self.mem}" if self.mem else "",
                 f"gpus {self.gpus}" if self.gpus else "",
                 f"gres {self.gres}" if self.gres else "",
                 f"reservation {self.reservation}" if self.reservation else ""]
        text = ", ".join(p for p in parts if p)
        return text or "the cluster's defaults"


def slurm_problems(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every problem of a ``slurm`` table as (key, message); empty when it is usable."""
    problems: list[tuple[str, str]] = []
    for key, value in data.items():
        if key not in SLURM_KEYS:
            problems.append((key, f"unknown key (known: {', '.join(SLURM_KEYS)})"))
            continue
        try:
            _decode(key, value)
        except ValueError as exc:
            problems.append((key, str(exc)))
    return problems


def time_seconds(text: str) -> int:
    """Seconds of a time in one of sbatch's formats; ValueError says which formats."""
    match = _TIME_RE.match(text.strip()) if len(text) <= _MAX_TIME_TEXT else None
    if match is None:
        shown = text if len(text) <= _MAX_TIME_TEXT else text[:_MAX_TIME_TEXT] + "…"
        raise ValueError(f"'{shown}' is not a time ({_TIME_HELP})")
    days, d_hours, d_minutes, d_seconds, first, second, third = match.groups()
    if days is not None:
        parts = [int(d_hours), int(d_minutes or 0), int(d_seconds or 0)]
        if parts[0] > 23:
            raise ValueError(f"'{text}' has {parts[0]} hours after the days (0-23)")
        hours, minutes, seconds = parts
        total_days = int(days)
    elif third is not None:  # HH:MM:SS
        hours, minutes, seconds, total_days = int(first), int(second), int(third), 0
    elif second is not None:  # MM:SS
        hours, minutes, seconds, total_days = 0, int(first), int(second), 0
    else:  # MM
        return int(first) * 60
    if minutes > 59 or seconds > 59:
        raise ValueError(f"'{text}' has minutes or seconds over 59 ({_TIME_HELP})")
    return ((total_days * 24 + hours) * 60 + minutes) * 60 + seconds


def _decode(key: str, value: Any) -> Any:
    """One key's value in model form; ValueError says what is allowed."""
    if key == "cpus":
        return _decode_cpus(value)
    if key in _LIST_KEYS:
        return _decode_lines(key, value)
    if not isinstance(value, str):
        raise ValueError(f"must be text, got {describe_value(value)}")
    text = value.strip()
    if not text:
        raise ValueError("must not be empty (leave the key out for the cluster's default)")
    if key == "time":
        time_seconds(text)
    elif key == "mem" and not _MEM_RE.match(text):
        raise ValueError(f"'{text}' is not an amount of memory (a number with K, M, G or T: "
                         "16G; megabytes without one)")
    elif key == "gpus" and not _GPUS_RE.match(text):
        raise ValueError(f"'{text}' is not a GPU count (a number, or TYPE:NUMBER as a100:2)")
    elif key == "gres" and not _GRES_RE.match(text):
        raise ValueError(f"'{text}' is not a generic resource list (NAME[:TYPE]:COUNT, as "
                         "gpu:1; several with commas)")
    elif key in ("partition", "account", "qos", "reservation") and not _NAME_RE.match(text):
        raise ValueError(f"'{text}' is not a usable {key} name (letters, digits, '.', '_', '-'; "
                         "several with commas)")
    return text


def _decode_cpus(value: Any) -> int:
    number = value
    text = value.strip() if isinstance(value, str) else ""
    if text.isascii() and text.isdigit():  # a form's or a flag's text
        if len(text) > len(str(_MAX_CPUS)):  # and never int() of 5,000 digits: it raises
            raise ValueError(f"must be 1-{_MAX_CPUS}, got a {len(text)}-digit number")
        number = int(text)
    if isinstance(number, bool) or not isinstance(number, int):
        raise ValueError(f"must be a whole number 1-{_MAX_CPUS}, got {describe_value(value)}")
    if not 1 <= number <= _MAX_CPUS:
        raise ValueError(f"must be 1-{_MAX_CPUS}, got {number}")
    return number


def _decode_lines(key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"must be a list of text lines, got {describe_value(value)}")
    lines = tuple(v.strip() for v in value)
    for line in lines:
        if not line or "\n" in line or "\r" in line:
            raise ValueError(f"every item must be one non-empty line, got {line!r}")
        if key == "extra" and not line.startswith("-"):
            raise ValueError(
                f"'{line}' is not an sbatch option (one per item, as --exclusive or "
                "--constraint=avx2)")
    return lines


def _error(problems: list[tuple[str, str]]) -> ConfigError:
    from rtui.core.config.model import Problem  # the model imports this module

    items = [Problem(message, field=f"slurm.{key}" if key else "slurm")
             for key, message in problems]
    return ConfigError("\n".join(str(p) for p in items), problems=items)

