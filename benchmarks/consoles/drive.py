"""Driving one console in its terminal as a person would: launch, `N+1` runs, the flood with
keys typed into it, a second flood; the figures go into its ``Figures``."""

from __future__ import annotations

import contextlib
import re
import time
from pathlib import Path

from benchmarks.common import describe
from benchmarks.consoles.contender import IN_PROMPT, Figures, Probe, Spec
from benchmarks.consoles.processes import RssSampler, descendants, is_kernel, proc_table
from benchmarks.consoles.rtui_console import EDITOR_SIDE
from benchmarks.consoles.stream import StreamWatch, settled_size
from benchmarks.consoles.terminal import (
    LAUNCH_TIMEOUT,
    POLL,
    STEP_TIMEOUT,
    Terminal,
    pane_env,
    screen_tail,
)

__all__ = ["FLOOD_TIMEOUT", "KEY_EVERY", "KEY_START", "QUICK_FLOOD_TIMEOUT", "drive", "launch",
           "results"]

KEY_START = 0.1  # seconds after the flood's Enter before the first typed key
KEY_EVERY = 0.1  # seconds between typed keys
AFTER_FLOOD = 3.0  # seconds to keep watching for typed keys once the flood is over
TYPE_TIMEOUT, TYPE_ATTEMPTS = 5.0, 3  # typed text showing in the input
FLOOD_TIMEOUT, QUICK_FLOOD_TIMEOUT = 100.0, 30.0  # seconds for a flood (a second: the long one)
SECOND_FLOOD_AFTER = 15.0  # seconds: a flood slower than this is not run a second time


def drive(fig: Figures, spec: Spec, home: Path, *, lines: int, runs: int, keys: str,
          flood_timeout: float) -> None:
    """Launch, `N+1` runs, the flood; every process stopped afterwards whatever happened."""
    stage = "starting tmux"
    term = Terminal(spec.name.split()[0], pane_env(home), home)
    try:
        term.start()
        stage = "shell prompt"
        term.wait_shell()
        stage = "launch"
        (spec.launch or launch)(term, spec, fig)
        term.track()
        stage = "`N+1` runs"
        results(term, spec, fig, runs)
        stage = "flood"
        _flood(term, spec, fig, home, lines=lines, keys=keys, timeout=flood_timeout)
        stage = "second flood"
        _second_flood(term, spec, fig, lines=lines)
    except Exception as exc:
        fig.error = f"{stage}: {describe(exc)}"
    finally:
        term.close()


def launch(term: Terminal, spec: Spec, fig: Figures) -> None:
    """Enter the command; the time until its input prompt shows (and until it is ready, if
    the prompt came first)."""
    started = term.enter_command(spec.argv)
    shown, rows = term.wait(spec.prompt, LAUNCH_TIMEOUT, "input prompt")
    fig.launch = shown - started
    if not spec.ready(rows):
        ready, _ = term.wait(spec.ready, LAUNCH_TIMEOUT, "kernel idle")
        fig.kernel_ready = ready - started


def results(term: Terminal, spec: Spec, fig: Figures, runs: int) -> None:
    term.watch_output(True)
    try:
        _timed_results(term, spec, fig, runs)
    finally:
        term.watch_output(False)


def _timed_results(term: Terminal, spec: Spec, fig: Figures, runs: int) -> None:
    for run in range(runs + 1):  # the first is a warm-up
        n = 1000 + run
        text, expected = f"{n}+1", re.compile(rf"Out\[\d+\]:\s*{n + 1}$")
        term.wait(spec.ready, STEP_TIMEOUT, "prompt back")
        _type_input(term, spec, fig, text)
        started = time.perf_counter()
        term.key("Enter")
        def result_shown(rows: list[str], e: re.Pattern[str] = expected) -> bool:
            return any(e.search(r.strip()) for r in rows)

        shown, _ = term.wait(result_shown, STEP_TIMEOUT, f"Out[…]: {n + 1}")
        if run:
            fig.results.append(shown - started)
    term.wait(spec.ready, STEP_TIMEOUT, "prompt back")


def _type_input(term: Terminal, spec: Spec, fig: Figures, text: str) -> None:
    """Type ``text`` and wait until the input line shows it. Keys a console drops (euporie
    right after start-up, on a loaded machine) are noted, the input erased, and typed again."""
    def typed(rows: list[str]) -> bool:
        if text in (spec.input_text(rows) or ""):
            return True
        # euporie, after the terminal's answers to its start-up queries were echoed onto
        # the screen, may draw its input away from its prompt until the first repaint.
        return spec.input_anywhere and any(text in row for row in rows)

    for attempt in range(TYPE_ATTEMPTS):
        term.type(text)
        try:
            _, rows = term.wait(typed, TYPE_TIMEOUT, f"`{text}` in the input")
            if text not in (spec.input_text(rows) or ""):
                fig.notes.append(f"`{text}` was drawn away from the prompt: "
                                 f"`{next(r for r in rows if text in r)[:70]}`")
            return
        except TimeoutError:
            held = spec.input_text(term.screen()) or ""
            if attempt == TYPE_ATTEMPTS - 1:
                raise
            fig.notes.append(f"`{text}` typed at the prompt did not all reach the input "
                             f"(it held `{held[:40]}`); erased and typed again")
            term.erase(len(held) + len(text))


def _flood(term: Terminal, spec: Spec, fig: Figures, home: Path, *, lines: int, keys: str,
           timeout: float) -> None:
    code = f"for i in range({lines}): print('line', i)"
    last = re.compile(rf"line {lines - 1}(?!\d)")
    _type_input(term, spec, fig, code)
    stream_path = home / "flood.bytes"
    stream_path.write_bytes(b"")
    term.pipe_start(stream_path)
    stream = StreamWatch(stream_path)
    pane = term.pane_pid()

    def client_pids() -> list[int]:
        if spec.root_only:
            return [pane]
        return descendants(pane, proc_table(), skip=is_kernel)

    sampler = RssSampler(client_pids)
    probes = [Probe(char) for char in keys]
    unkey = str.maketrans("", "", keys)
    fig.probes = probes
    rows = term.screen()
    sampler.start()
    cpu = time.process_time()
    try:
        started = time.perf_counter()
        term.key("Enter")
        next_key, sent, done = started + KEY_START, 0, None
        while True:
            now = time.perf_counter()
            if sent < len(probes) and now >= next_key:
                probe = probes[sent]
                probe.baseline = sum(row.count(probe.char) for row in rows)
                probe.offset = stream.size() if done is None else -1
                probe.during = done is None
                probe.sent = time.perf_counter()
                term.key(probe.char)
                sent += 1
                next_key += KEY_EVERY
            rows = term.screen()
            now = time.perf_counter()
            if done is None:
                stream.scan([p for p in probes[:sent] if p.offset >= 0], now)
            for probe in probes[:sent]:
                if probe.shown is None and sum(r.count(probe.char) for r in rows) > probe.baseline:
                    probe.shown = now
            # A key echoed into the last line (jupyter console) must not hide it.
            if done is None and spec.ready(rows) and any(
                    last.search(r.translate(unkey)) for r in rows):
                done = now
                fig.floods.append(done - started)
                fig.notes.append(f"the benchmark's own CPU during the flood: "
                                 f"{time.process_time() - cpu:.2f} s")
                term.pipe_stop()
                sampler.stop()
            if done is not None and sent == len(probes) and (
                all(p.shown is not None for p in probes) or now - done > AFTER_FLOOD
            ):
                break
            if done is None and now - started > timeout:
                fig.flood_timeout = timeout
                fig.notes.append(f"the flood had not ended after {timeout:g} s; stopped there; "
                                 f"screen: {screen_tail(rows)}")
                break
            term.check_alive()
            time.sleep(POLL)
    finally:
        sampler.stop()
        fig.peak_rss = sampler.peak or None
        with contextlib.suppress(Exception):
            term.pipe_stop()
        stream.close()
    fig.written = settled_size(stream_path)
    if fig.flood_timeout is not None:
        return
    final = term.screen()
    fig.kept = sum(1 for char in keys if char in (spec.input_text(final) or ""))
    fig.corrupt = _corrupt_rows(term.history(), code, keys)


def _second_flood(term: Terminal, spec: Spec, fig: Figures, *, lines: int) -> None:
    """The flood once more, timed only (no keys, no sampling): the figure is the better of
    the two, as the drain-only reference's is the best of two runs. One run's figure moved by
    more than the goal's margin from run to run. One line more than the first (200,001), so
    its last line is not already on the screen; a flood past SECOND_FLOOD_AFTER is not run
    twice."""
    if fig.flood is None or fig.flood > SECOND_FLOOD_AFTER:
        return
    term.wait(spec.ready, STEP_TIMEOUT, "prompt back")
    held = spec.input_text(term.screen()) or ""  # the keys typed during the first flood
    if held:
        term.erase(len(held))
        term.wait(lambda rows: not (spec.input_text(rows) or ""), STEP_TIMEOUT, "input empty")
    code = f"for i in range({lines + 1}): print('line', i)"
    last = re.compile(rf"line {lines}(?!\d)")
    _type_input(term, spec, fig, code)
    started = time.perf_counter()
    term.key("Enter")
    done, _ = term.wait(lambda rows: spec.ready(rows) and any(last.search(r) for r in rows),
                        FLOOD_TIMEOUT, "the second flood's last line")
    fig.floods.append(done - started)


def _corrupt_rows(rows: list[str], code: str, keys: str) -> list[str]:
    """Rows after the flood's code (or all rows) that are no input line and hold a typed key."""
    start = max((i for i, row in enumerate(rows) if code in row), default=-1) + 1
    found = []
    for row in rows[start:]:
        if IN_PROMPT.search(row) or row.startswith(EDITOR_SIDE):
            continue  # an input line (jupyter console, euporie; rtui's editor box)
        if any(char in row for char in keys):
            found.append(row.strip())
    return found
