"""``python -m benchmarks [--quick] [NAME ...]``: run the benchmarks in turn; exit non-zero if one
crashed."""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import traceback
from collections.abc import Sequence

# In this order; each is ``benchmarks.<name>`` with ``main(argv) -> int`` taking ``--quick``.
# Imported only when its turn comes: one that cannot be imported does not stop the others.
BENCHMARKS: tuple[str, ...] = (
    "roundtrip", "coldstart", "scale", "startup", "console_flood", "consoles", "farlink",
    "keeper", "files", "plots", "envs", "slurm", "jupyter",
)


def run_one(name: str, quick: bool) -> int:
    module_name = f"benchmarks.{name}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        print(f"skipped: {module_name} is not there (not written yet)", flush=True)
        return 0
    argv = ["--quick"] if quick else []
    if quick and name in ("consoles", "farlink", "plots"):
        # The smoke run checks rtui's own console; the peers come from PyPI and a crash or
        # an unreachable index there must not fail rtui's test suite.
        argv += ["--only", "rtui"]
    code: int = module.main(argv)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run)")
    parser.add_argument("only", nargs="*", metavar="NAME",
                        help=f"run only these ({', '.join(BENCHMARKS)})")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.only) - set(BENCHMARKS))
    if unknown:
        parser.error(f"no benchmark named {', '.join(unknown)} (known: {', '.join(BENCHMARKS)})")
    status = 0
    overall = time.perf_counter()
    for name in BENCHMARKS:
        if args.only and name not in args.only:
            continue
        print(f"## {name}\n", flush=True)
        started = time.perf_counter()
        try:
            code = run_one(name, args.quick)
        except Exception:  # one benchmark crashing must not hide the others
            traceback.print_exc()
            sys.stderr.flush()
            code = 1
        print(f"\n({name}: {time.perf_counter() - started:.1f} s, exit {code})\n", flush=True)
        status = status or code
    print(f"(all: {time.perf_counter() - overall:.1f} s, exit {status})", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
