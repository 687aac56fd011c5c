"""The benchmark's tables: seconds, rates and ratios against the references, goals met."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from benchmarks.common import markdown_table
from benchmarks.files.bench import (
    BANDWIDTH,
    DELAY,
    ENGINE,
    GOAL_BIG,
    GOAL_FIRST,
    GOAL_FOLDER,
    GOAL_LINK,
    GOAL_LIST,
    MISSING,
    SCP,
    SCP_R,
    SERVICE,
    SFTP,
    SFTP_R,
    TAB,
    MiB,
    Row,
    Rss,
    Sizes,
)


def rate(size: int, seconds: float | None) -> float | None:
    return None if not seconds or seconds <= 0 else size / seconds


def seconds_cell(row: Row, key: str) -> str:
    values = row.times.get(key)
    if not values:
        return "—"
    p50 = statistics.median(values)
    return f"{p50:.2f}" if len(values) == 1 else \
        f"{p50:.2f} ({min(values):.2f}-{max(values):.2f})"


def problem(row: Row) -> str | None:
    if row.missing:
        return MISSING
    if row.error is not None:
        return f"error: {row.error}"
    return None


def met(ratios: Sequence[float | None], goal: float) -> str:
    if any(r is None for r in ratios):
        return "?"
    return "yes" if all(r is not None and r >= goal for r in ratios) else "no"


def transfer_table(rows: list[Row], size: int, unit: str, references: Sequence[str],
                   goal: float, goal_text: str) -> str:
    """Seconds (median, range), rate, and the rate against the best of ``references``."""
    best = {d: max((r for r in (rate(size, row.p50(d)) for row in rows
                                if row.label in references) if r), default=None)
            for d in ("up", "down")}
    table: list[list[object]] = []
    for row in rows:
        said = problem(row)
        if said is not None:
            table.append([row.label, said, "—", "—", "—", "—", "—", "—", "—"])
            continue
        cells: list[object] = [row.label]
        ratios = []
        for direction in ("up", "down"):
            speed = rate(size, row.p50(direction))
            reference = best[direction]
            ratio = speed / reference if speed and reference else None
            ratios.append(ratio)
            per = "—" if speed is None else (f"{speed / MiB:.1f}" if unit == "MiB/s"
                                             else f"{speed:.0f}")
            cells += [seconds_cell(row, direction), per,
                      "—" if ratio is None else f"{ratio:.2f}x"]
        mine = row.label not in references
        cells += [goal_text if mine else "—", met(ratios, goal) if mine else "—"]
        table.append(cells)
    header = ["path", "up s (min-max)", f"up {unit}", "up x best", "down s (min-max)",
              f"down {unit}", "down x best", "goal", "met"]
    return markdown_table(header, table, "lrrrrrrll")


def render(sizes: Sizes, big: list[Row], rss: list[Rss], small: list[Row], far: Row,
           lists: list[Row], logins: dict[str, float]) -> str:
    cli = ("" if "rtui" not in logins else
           f" and rtui cp's start and login ({logins['rtui']:.2f} s)")
    out = [f"\n### One {sizes.mib} MiB file, up and down ({sizes.runs} round(s), interleaved; "
           f"OpenSSH's login ({logins.get('sftp', 0):.2f} s){cli} taken off; best = the faster "
           "of sftp and scp)\n",
           transfer_table(big, sizes.mib * MiB, "MiB/s", (SFTP, SCP), GOAL_BIG,
                          f"≥ {GOAL_BIG:g}x OpenSSH")]
    if rss:
        out += ["\nThe engine's RSS during the transfers (this process, every 50 ms):\n",
                markdown_table(
                    ["transfer", "RSS at start MiB", "peak MiB", "slope MiB per GiB sent",
                     "goal"],
                    [[r.direction, f"{r.start_mib:.0f}", f"{r.peak_mib:.0f}",
                      "—" if r.slope is None else f"{r.slope:.1f}", "≈ 0"] for r in rss],
                    "lrrrl")]
    out += [f"\n### A folder of {sizes.files:,} files of 4 KiB, up and down "
            f"(best = the faster of scp -r and sftp -r)\n",
            transfer_table(small, sizes.files, "files/s", (SCP_R, SFTP_R), GOAL_FOLDER,
                           f"≥ {GOAL_FOLDER:g}x scp -r")]
    link = BANDWIDTH
    cells: list[list[object]] = []
    for direction in ("up", "down"):
        said = problem(far)
        speed = rate(sizes.relay_mib * MiB, far.p50(direction))
        ratio = speed / link if speed else None
        cells.append([f"{ENGINE}, {direction}", said or seconds_cell(far, direction),
                      "—" if speed is None else f"{speed / 1e6:.2f}",
                      "—" if ratio is None else f"{ratio:.2f}x",
                      f"≥ {GOAL_LINK:g}x the link", met([ratio], GOAL_LINK)])
    out += [f"\n### {sizes.relay_mib} MiB through a far link ({DELAY * 1000:.0f} ms each way, "
            f"{BANDWIDTH / 1e6:g} MB/s)\n",
            markdown_table(["path", "s (min-max)", "MB/s", "x the link", "goal", "met"],
                           cells, "lrrrll")]
    ls_all = lists[0].p50("all")
    table: list[list[object]] = []
    for row in lists:
        said = problem(row)
        if said is not None:
            table.append([row.label, said, "—", "—", "—", "—"])
            continue
        first, whole = row.p50("first"), row.p50("all")
        ratio = whole / ls_all if whole is not None and ls_all else None
        goal, ok = "—", "—"
        if row.label == TAB:  # the "first rows on screen"
            goal = f"first ≤ {GOAL_FIRST:g} s"
            ok = "?" if first is None else ("yes" if first <= GOAL_FIRST else "no")
        elif row.label == SERVICE:  # the whole listing, as the tab and the CLI get it
            goal = f"all ≤ {GOAL_LIST:g}x ls"
            ok = "?" if ratio is None else ("yes" if ratio <= GOAL_LIST else "no")
        table.append([row.label, "—" if first is None else f"{first:.3f}",
                      seconds_cell(row, "all"), "—" if ratio is None else f"{ratio:.2f}x",
                      goal, ok])
    out += [f"\n### A directory of {sizes.entries:,} entries (`ssh host ls -la` without its "
            f"login, {logins.get('ssh', 0):.2f} s)\n",
            markdown_table(["listing", "first rows s", "all s (min-max)", "x `ls -la`",
                            "goal", "met"], table, "lrrrll")]
    return "\n".join(out)
