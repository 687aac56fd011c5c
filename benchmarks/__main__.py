"""``python -m benchmarks [--quick]``: run every benchmark in turn, exit non-zero if one crashed."""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Callable, Sequence

from benchmarks import roundtrip

BENCHMARKS: tuple[tuple[str, Callable[[Sequence[str] | None], int]], ...] = (
    ("roundtrip", roundtrip.main),
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer samples (a smoke run)")
    args = parser.parse_args(argv)
    status = 0
    for name, run in BENCHMARKS:
        print(f"## {name}\n", flush=True)
        started = time.perf_counter()
        try:
            code = run(["--quick"] if args.quick else [])
        except Exception:  # one benchmark crashing must not hide the others
            traceback.print_exc()
            code = 1
        print(f"\n({name}: {time.perf_counter() - started:.1f} s, exit {code})\n", flush=True)
        status = status or code
    return status


if __name__ == "__main__":
    sys.exit(main())
