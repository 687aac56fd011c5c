"""Figures the reliability and security tests leave for the README's table (issue 21).

A test that tries bad input, a fault or a leak calls :func:`record` once it has asserted what
it checks: what was tried, what the person saw, what was lost or leaked (0) and how long
recovery took. The figures are appended, one JSON line per call, to the file named by
``RTUI_RELIABILITY_OUT`` (set by ``benchmarks/reliability.py``, which runs these tests and
writes the table); without it :func:`record` does nothing, so the suite itself runs as ever.
Each line is one ``write`` on an ``O_APPEND`` descriptor: xdist workers never interleave.

Hypothesis profiles (registered here, picked by ``HYPOTHESIS_PROFILE``): ``ci`` (the default,
few examples, kept fast for ``.ci/run``) and ``long`` (many examples, for benchmarks/).
"""

from __future__ import annotations

import json
import os
from typing import Any

from hypothesis import HealthCheck, settings

__all__ = ["SECTIONS", "examples", "record"]

SECTIONS = ("bad input", "faults", "security")

settings.register_profile(
    "ci", max_examples=60, deadline=None, derandomize=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.register_profile(
    "long", max_examples=2000, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def examples() -> int:
    """How many examples a property test tries under the profile in force."""
    return int(settings().max_examples)


def record(section: str, case: str, *, tried: int | None = None, seen: str = "",
           lost: int | None = None, leaked: int | None = None,
           recover_s: float | None = None, **more: Any) -> None:
    """One row of the README's "Reliability and security" table.

    ``section`` is one of SECTIONS; ``case`` says what was tried ("hosts.toml: random
    bytes", "sshd killed and restarted"); ``tried`` how many inputs or runs; ``seen`` what
    the person was told; ``lost`` lines or bytes lost; ``leaked`` secrets found where they
    must not be; ``recover_s`` seconds from the fault's end to working again.
    """
    if section not in SECTIONS:
        raise ValueError(f"section {section!r} is not one of {SECTIONS}")
    out = os.environ.get("RTUI_RELIABILITY_OUT")
    if not out:
        return
    row = {"section": section, "case": case, "tried": tried, "seen": seen, "lost": lost,
           "leaked": leaked, "recover_s": None if recover_s is None else round(recover_s, 2),
           **more}
    line = (json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8")
    fd = os.open(out, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)
