"""Shared fixtures: every test runs with its own HOME, XDG dirs and no ssh-agent."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from rtui.core.kernels.service import HostKernels
from tests import benchmark_runs, reliability  # noqa: F401 (hypothesis profiles)
from tests.harness import jupyter, run_wide
from tests.harness.alone import held
from tests.harness.fixtures import (  # noqa: F401 (fixtures)
    fresh_sshd,
    jump_sshd,
    jupyter_server,
    jupyter_tls_server,
    jupyterhub,
    kbdint_server,
    password_account,
    password_sshd,
    slurm,
    slurm_cluster,
    slurm_sshd,
    ssh_agent,
    sshd,
    sshd_factory,
)
from tests.harness.sshd import SSHD
from tests.ssh_helpers import connection, host_for, remote_kernel_env, trust


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A throwaway HOME so no test reads or writes the developer's ~/.ssh or ~/.config, and
    a throwaway XDG_RUNTIME_DIR: rtui's private sockets (the local ends of forwards, and the
    host side's of agents run here) never meet those of other runs in /tmp/rtui-<uid>. It is
    short, under /tmp: a Unix socket's path must stay under 108 bytes."""
    runtime = tempfile.mkdtemp(prefix="rt-", dir="/tmp")
    monkeypatch.setenv("XDG_RUNTIME_DIR", runtime)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var, sub in (
        ("XDG_CONFIG_HOME", ".config"),
        ("XDG_DATA_HOME", ".local/share"),
        ("XDG_STATE_HOME", ".local/state"),
        ("XDG_CACHE_HOME", ".cache"),
    ):
        monkeypatch.setenv(var, str(home / sub))
    for var in ("SSH_AUTH_SOCK", "SSH_AGENT_PID", "RTUI_CONFIG", "NO_COLOR"):
        monkeypatch.delenv(var, raising=False)
    yield home
    shutil.rmtree(runtime, ignore_errors=True)


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory every xdist worker of this run shares (the controller's), else this
    session's own: for what the run makes once, whichever worker asks for it first."""
    return _shared if _shared is not None else tmp_path_factory.getbasetemp()


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A directory of the test's own with a short path (/tmp/rtp-XXXXXXXX), for paths a test
    reads back whole on an 80-column screen: tmp_path is longer under xdist (popen-gwN/) and
    as pytest's run number grows. Removed after the test."""
    made = Path(tempfile.mkdtemp(prefix="rtp-", dir="/tmp"))
    yield made
    shutil.rmtree(made, ignore_errors=True)


@pytest_asyncio.fixture
async def kernels(sshd: SSHD, isolated_home: Path) -> AsyncIterator[HostKernels]:  # noqa: F811
    """The kernels service of a host on the session's sshd (its key trusted), whose Python is
    this machine's (it has ipykernel)."""
    trust(sshd, isolated_home)
    conn, _ = connection(host_for(sshd, python=sys.executable))
    service = HostKernels(conn, python=sys.executable)
    try:
        yield service
    finally:
        await service.close()
        await conn.close()


@pytest.fixture
def config_file(isolated_home: Path) -> Path:
    """Where rtui's hosts file lands by default under the isolated HOME."""
    return isolated_home / ".config" / "rtui" / "hosts.toml"


@pytest.fixture
def lab_env(sshd: SSHD) -> Iterator[Path]:  # noqa: F811 (the sshd fixture)
    """``~/envs/lab`` on the shared sshd's host: an environment that can run kernels (what
    people configure as ``python = "~/envs/lab"``), gone after the test; its interpreter."""
    with remote_kernel_env(sshd, "envs", "lab") as python:
        yield python


def run_rtui(*args: str, env: dict[str, str] | None = None, timeout: float = 60,
             input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real ``rtui`` entry point in a subprocess, as a user's shell would."""
    return subprocess.run(
        [sys.executable, "-m", "rtui", *args],
        capture_output=True, text=True, timeout=timeout, input=input,
        env={**os.environ, **(env or {})},
    )


# With `-n auto --dist loadgroup` the whole suite (no paths named) runs in two pytest-xdist
# workers: most tests wait on sshd, kernels and tmux rather than on the CPU; named files run in
# this process. Under xdist the controller keeps a directory that its workers share: the lock
# of tests marked `alone` (tests/harness/alone.py) and the ends of the background runs
# (tests/benchmark_runs.py).
WORKERS = 2
SHARED_KEY = "rtui_shared"
# Tests that bound a time tightly (a few seconds, or a window) run alone under xdist, as if
# marked `@pytest.mark.alone` (new tests: use the mark). By file, then test name (all its
# parameters); a name that is no longer there fails the collection, so none goes stale.
ALONE = {
    "test_agent.py": ("test_list_resolve_and_hand_started_kernels", "test_signal_interrupts"),
    "test_agent_files.py": ("test_agent_client_cancels_and_bounds_silence",),
    "test_attach_errors.py": (
        "test_a_wrong_key_is_named_once_within_two_seconds_while_another_client_works",
        "test_a_gone_kernel_nobody_lists_is_named_within_two_seconds",
        "test_a_wrong_key_in_a_copy_of_a_listed_kernel_is_named_within_two_seconds",
        "test_cli_run_reports_a_kernel_that_dies_mid_cell"),
    "test_cli_gives_up.py": ("test_run_gives_up_on_a_host_gone_for_good",),
    "test_code_input.py": ("test_slow_completion_does_not_freeze_typing",),
    "test_connection_info.py": ("test_a_malformed_file_is_named",),
    "test_console_model.py": ("test_perf_200k_lines",),
    "test_graphics_detect.py": ("test_a_silent_terminal_costs_at_most_the_bound",),
    "test_harness_extras.py": (
        # counts the relay's connections: once 2, not 1, beside another worker's test
        "test_relay_forwards_freezes_and_cuts",
        "test_relay_freeze_lets_client_keepalive_notice",
        "test_relay_delay_is_pipelined_and_ordered", "test_black_hole_times_out_ssh_login"),
    "test_keeper_feed.py": ("test_a_flood_is_parsed_in_batches_without_starving_the_loop",
                            "test_attaching_to_a_dead_kernel_says_so_at_once",
                            # lost a cell's first lines twice in CI beside another test
                            # (issue 21's note: the cause is not found yet)
                            "test_session_reads_iopub_from_the_keeper_across_drops"),
    "test_keeper_lifecycle.py": ("test_a_keeper_lingers_after_its_kernel_died_then_leaves",),
    "test_kernel_session.py": ("test_attach_to_a_busy_kernel", "test_interrupt"),
    "test_kernels_remote.py": ("test_interrupt_sleep_within_two_seconds",
                               "test_reattach_after_the_connection_drops"),
    "test_output_kept.py": ("test_a_kernel_dying_mid_cell_is_said_within_5_s",),
    "test_render_band_scroll.py": ("test_rtui_console_follows_the_band_scroll_setting",),
    "test_routes.py": ("test_the_relay_carries_a_flood_whole_beside_a_quiet_stream",),
    "test_ssh_faults.py": ("test_keepalive_notices_a_dead_link_then_reconnects",
                           "test_ssh_configs_server_alive_options_set_the_keepalive",
                           "test_ssh_configs_connect_timeout_wins_over_the_apps",
                           "test_rtui_check_cli_three_hosts_one_down",
                           "test_checks_run_concurrently_and_down_hosts_do_not_hold_up_the_others"),
    "test_tui_console.py": ("test_console_flow",),
    "test_tui_files.py": ("test_list_streams_100k_entries_first_rows_at_once",),
    "test_tui_kept.py": ("test_k_shows_what_was_printed_meanwhile_and_a_death",),
    "test_tui_reconnect.py": ("test_console_keeps_retrying_a_lost_host_and_says_so",),
}
_shared: Path | None = None  # the controller's, or a worker's (from its workerinput)
ALONE_GROUP = "alone"  # the xdist group of the tests marked `alone` (:func:`_in_turn`)
_alone_lock: contextlib.ExitStack | None = None  # held from one `alone` test to the next


def pytest_configure(config: pytest.Config) -> None:
    global _shared
    config.addinivalue_line(
        "markers", "alone: no other test runs beside it under xdist (it bounds a time, and "
        "those bounds need the CPU a second test would take)")
    # xdist hands out work in the order of the collection as tests/conftest.py leaves it
    # (pytest_collection_modifyitems), not its own order of the largest group first.
    config.option.loadscopereorder = False
    workerinput: dict[str, Any] | None = getattr(config, "workerinput", None)
    if workerinput is not None and SHARED_KEY in workerinput:
        _shared = Path(workerinput[SHARED_KEY])
        benchmark_runs.follow(_shared)
        run_wide.configure(_shared)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """`-n auto` (addopts): two workers for the whole suite on two cores or more, none (this
    process) when tests are named or the machine has one core;
    PYTEST_XDIST_AUTO_NUM_WORKERS says otherwise (xdist's own rule)."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None
    if config.args_source != pytest.Config.ArgsSource.TESTPATHS:
        return 0
    return WORKERS if (os.cpu_count() or 1) >= WORKERS else 0


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    global _shared
    if _shared is None:
        _shared = Path(tempfile.mkdtemp(prefix="rtx-", dir="/tmp"))
        run_wide.configure(_shared)
    node.workerinput[SHARED_KEY] = str(_shared)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node: Any, ids: list[str]) -> None:
    """The controller starts the background runs once, when a worker's collection (the
    same in each) holds their checks beside other tests. It also starts the servers one
    per run that a worker noted it needs (tests/harness/run_wide.py)."""
    run_wide.start_wanted()
    if _shared is None or (_shared / benchmark_runs.STARTED).exists():
        return
    files = (benchmark_runs.SMOKE_FILE, benchmark_runs.SCREENSHOTS_FILE)
    smoke = [nodeid for nodeid in ids if nodeid.startswith(files)]
    if smoke and len(smoke) < len(ids):
        benchmark_runs.start(publish=_shared)


@pytest.hookimpl(tryfirst=True)  # before xdist's own, which names each test by its group
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With other tests beside them, the benchmark smoke and screenshot checks go last and
    their runs start now, in the background (tests/benchmark_runs.py says why); under xdist
    the controller starts them. Tests that use the one password account (its home is shared)
    run in one xdist worker, as do those of the one SLURM cluster, of the one JupyterHub and of
    the one TLS jupyter_server; those of ALONE are marked `alone`. The order is the one xdist
    hands the work out in (:func:`_in_turn`)."""
    modules: dict[str, object] = {}
    for item in items:
        if "password_account" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("password_account"))
        elif "slurm_cluster" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("slurm"))
        elif "jupyterhub" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("hub"))
        elif "jupyter_tls_server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("tls"))
        if name := getattr(item, "originalname", ""):
            modules[item.path.name] = getattr(item, "module", None)
            if name in ALONE.get(item.path.name, ()):
                item.add_marker(pytest.mark.alone)
        if item.get_closest_marker("alone") and not item.get_closest_marker("xdist_group"):
            item.add_marker(pytest.mark.xdist_group(ALONE_GROUP))
    gone = [f"{file}::{name}" for file, module in modules.items()
            for name in ALONE.get(file, ()) if not hasattr(module, name)]
    if gone:
        raise pytest.UsageError(f"tests/conftest.py's ALONE names tests that are gone: {gone}")
    files = (benchmark_runs.SMOKE_FILE, benchmark_runs.SCREENSHOTS_FILE)
    smoke = [item for item in items if item.nodeid.startswith(files)]
    if hasattr(config, "workerinput"):
        items[:] = _in_turn([item for item in items if item not in smoke]) + smoke
    else:
        items[:] = [item for item in items if item not in smoke] + smoke
    if not smoke or len(smoke) == len(items) or config.option.collectonly:
        return
    if not hasattr(config, "workerinput"):
        benchmark_runs.start()


@pytest.hookimpl(tryfirst=True)  # a worker's collection goes to the controller after it
def pytest_collection_finish(session: pytest.Session) -> None:
    if not session.config.option.collectonly:
        _start_servers_early(session.items)


def _start_servers_early(items: list[pytest.Item]) -> None:
    """Start the Jupyter servers the collected tests use now, without waiting: their ~4 s
    of start-up overlaps the tests that run first (the fixtures wait at first use). A
    jupyter_server is one per worker; the hub and the TLS server one per run
    (tests/harness/run_wide.py: under xdist the controller starts them)."""
    used = {name for item in items for name in getattr(item, "fixturenames", ())}
    if "jupyter_server" in used:
        jupyter.start_early("server")
    run_wide.want(run_wide.fixtures_used(used))


def _in_turn(items: list[pytest.Item]) -> list[pytest.Item]:
    """The tests in the order xdist hands them out (it keeps the collection's, each group
    where its first test is): the groups that tie a worker longest first (the most tests
    first, as xdist's own order did), the rest as collected, and the tests marked `alone` at
    the end, in one group. In one worker, one after another, they hold the lock once
    (:func:`pytest_runtest_protocol`): spread through the run, each waited for the test the
    other worker was in (up to a minute: a flood's), ~200 s of a worker's time in all; at
    the end they also miss the background runs of tests/benchmark_runs.py."""
    groups: dict[str | None, list[pytest.Item]] = {}
    for item in items:
        mark = item.get_closest_marker("xdist_group")
        groups.setdefault(str(mark.args[0]) if mark and mark.args else None, []).append(item)
    rest, alone = groups.pop(None, []), groups.pop(ALONE_GROUP, [])
    grouped = sorted(groups.values(), key=len, reverse=True)
    return [item for group in grouped for item in group] + rest + alone


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[
        None, object, object]:
    """Under xdist, a test marked ``alone`` runs with no other beside it; tests marked
    ``alone`` one after another in this worker hold the lock from the first to the last (the
    other worker waits for none of its tests in between)."""
    global _alone_lock
    if _shared is None or not hasattr(item.config, "workerinput"):
        return (yield)
    if item.get_closest_marker("alone") is None:
        with held(_shared, exclusive=False):
            return (yield)
    if _alone_lock is None:
        _alone_lock = contextlib.ExitStack()
        _alone_lock.enter_context(held(_shared, exclusive=True))
    kept = False
    try:
        result = yield
        kept = nextitem is not None and nextitem.get_closest_marker("alone") is not None
        return result
    finally:
        if not kept:
            _alone_lock.close()
            _alone_lock = None


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    benchmark_runs.stop()
    jupyter.stop_all()
    run_wide.stop_all()
    if _shared is not None and not hasattr(session.config, "workerinput"):
        shutil.rmtree(_shared, ignore_errors=True)
