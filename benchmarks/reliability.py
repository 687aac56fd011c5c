"""``python -m benchmarks.reliability [--long] [--readme] [--from FILE]``: run the suite's
reliability and security tests (``-m reliability``) and print their figures as tables: bad
input tried (no traceback, no hang, no file changed), faults (what the person sees, lines
lost, time to recover), security checks (nothing leaked). ``--readme`` also writes the tables
into README.md between its ``reliability`` markers; ``--from`` renders a file of figures an
earlier run left instead of running the tests; ``--long`` runs the property tests with
hypothesis' ``long`` profile (tests/reliability.py) instead of CI's, and the fault suite's
print flood with 10 million lines instead of CI's 300,000.

The rows come from tests/reliability.py's ``record`` calls, made by each test after its
asserts passed (a test that fails records nothing); the line above the tables says whether
pytest's whole run passed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.common import machine_line

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
START, END = "<!-- reliability:start -->", "<!-- reliability:end -->"
LONG_FLOOD_LINES = 10_000_000  # the flood --long runs (about 3 min here)
_RUN = "_run"  # the figures file's line about the run itself (exit code, seconds, profile)
RUN_TIMEOUT = 1800  # seconds for the whole selection (the fault cases' freezes add up)

_TITLES = {
    "bad input": ("Bad input", ("Input", "Cases tried", "Tracebacks", "Hangs",
                                "Files changed", "What the person is told")),
    "faults": ("Faults", ("Fault", "Tried", "What the person sees", "Lines lost",
                          "Recovered in")),
    "security": ("Security", ("Check", "Items checked", "Leaked", "What is checked")),
}


def run_tests(out: Path, long: bool) -> tuple[int, float]:
    """Run the marked tests with their figures going to ``out``; (pytest's exit code, s)."""
    env = {**os.environ, "RTUI_RELIABILITY_OUT": str(out),
           "HYPOTHESIS_PROFILE": "long" if long else "ci",
           # the print flood of tests/test_fault_suite.py: 300,000 lines unless --long
           **({"RTUI_FLOOD_LINES": str(LONG_FLOOD_LINES)} if long else {})}
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m",
            "reliability", "--durations=0", "-o", "addopts=-n auto --dist loadgroup"]
    started = time.monotonic()
    done = subprocess.run(argv, cwd=ROOT, env=env, timeout=RUN_TIMEOUT, check=False)
    return done.returncode, time.monotonic() - started


def load(path: Path) -> list[dict[str, object]]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            rows.append(json.loads(line))
    return rows


def _num(value: object) -> str:
    return "" if value is None else str(value)


_CELL_MOST = 240  # characters of a cell: a generated input's messages can run long


def _cell(text: object) -> str:
    shown = str(text).replace("\n", " ")
    if len(shown) > _CELL_MOST:
        shown = shown[:_CELL_MOST - 1].rstrip() + "…"
    return shown.replace("|", "\\|")


def render(rows: list[dict[str, object]], *, note: str) -> str:
    """The tables, section by section, rows sorted by case."""
    parts = [note, ""]
    for section, (title, heads) in _TITLES.items():
        mine = sorted((r for r in rows if r["section"] == section), key=lambda r: str(r["case"]))
        if not mine:
            continue
        parts += [f"**{title}**", "", "| " + " | ".join(heads) + " |",
                  "|" + "|".join("---" for _ in heads) + "|"]
        for r in mine:
            if section == "bad input":
                cells = [r["case"], _num(r["tried"]), _num(r.get("tracebacks", 0)),
                         _num(r.get("hangs", 0)), _num(r.get("files_changed", 0)), r["seen"]]
            elif section == "faults":
                rec = r["recover_s"]
                cells = [r["case"], _num(r["tried"]), r["seen"], _num(r["lost"]),
                         "" if rec is None else f"{rec:.1f} s"]
            else:
                cells = [r["case"], _num(r["tried"]), _num(r["leaked"]), r["seen"]]
            parts.append("| " + " | ".join(_cell(c) for c in cells) + " |")
        parts.append("")
    return "\n".join(parts).rstrip() + "\n"


def write_readme(table: str) -> None:
    text = README.read_text(encoding="utf-8")
    if START not in text or END not in text:
        raise SystemExit(f"README.md has no {START} ... {END} markers")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    new = f"{head}{START}\n{table}{END}{tail}"
    tmp = README.with_suffix(".md.tmp")
    tmp.write_text(new, encoding="utf-8")
    os.replace(tmp, README)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.reliability",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--long", action="store_true", help="hypothesis' long profile")
    parser.add_argument("--readme", action="store_true", help="write the tables into README.md")
    parser.add_argument("--from", dest="source", type=Path, help="figures of an earlier run")
    parser.add_argument("--keep", type=Path, help="also keep the figures in this file")
    parser.add_argument("--quick", action="store_true", help="accepted for `python -m benchmarks`")
    args = parser.parse_args(argv)
    if args.source is not None:
        rows = load(args.source)
        meta = next((r for r in rows if r["section"] == _RUN), {})
        code, took = int(str(meta.get("code", 0))), meta.get("took")
        long = bool(meta.get("long", args.long))
    else:
        long = args.long
        with tempfile.TemporaryDirectory(prefix="rtui-rel-") as tmp:
            out = Path(tmp) / "figures.jsonl"
            out.touch(mode=0o600)
            code, took = run_tests(out, long)
            with out.open("a", encoding="utf-8") as figures:  # the run itself, for --from
                figures.write(json.dumps({"section": _RUN, "code": code, "took": took,
                                          "long": long}) + "\n")
            rows = load(out)
            if args.keep is not None:
                args.keep.write_text(out.read_text(encoding="utf-8"), encoding="utf-8")
    profile = "long" if long else "ci"
    run = ("" if took is None else
           f" in {float(str(took)) / 60:.1f} min, pytest {'passed' if code == 0 else f'exit {code}'}")
    note = (f"From `python -m benchmarks.reliability{' --long' if long else ''}` "
            f"(hypothesis profile `{profile}`{run}); {machine_line()}.")
    table = render(rows, note=note)
    print(table)
    if args.readme:
        write_readme(table)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
