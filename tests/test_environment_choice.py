"""The one rule for which Python a kernel starts in, as a pure function."""

from __future__ import annotations

from rtui.core.config.model import Host
from rtui.core.kernels.choice import (
    Ask,
    ListEnvironments,
    Run,
    SetUp,
    choose_environment,
    ready_python,
)
from rtui.core.kernels.service import Environment
from rtui.core.ssh.check import HostStatus, PythonInfo

LAB = Host("lab", hostname="lab.example.org")
CONFIGURED = Host("lab", hostname="lab.example.org", python="~/envs/ml")


def env(python: str, *, kind: str = "path", ipykernel: str | None = "6.29",
        spyder: str | None = None, error: str | None = None) -> Environment:
    return Environment(python=python, kind=kind, name=python, version="3.11",
                       ipykernel=ipykernel, spyder_kernels=spyder, error=error)


def checked(*pythons: PythonInfo) -> HostStatus:
    return HostStatus("lab", ok=True, pythons=list(pythons))


ML = PythonInfo("/home/ada/envs/ml/bin/python", "3.11.4", True, given=("~/envs/ml",))


def test_the_session_choice_wins_unless_asked_to_pick() -> None:
    assert choose_environment(CONFIGURED, checked(ML), None, "/opt/py/bin/python",
                              pick=False) == Run("/opt/py/bin/python")
    assert choose_environment(CONFIGURED, checked(ML), None, "/opt/py/bin/python",
                              pick=True) == ListEnvironments(refresh=True)


def test_the_configured_python_runs_once_the_check_found_ipykernel_in_it() -> None:
    assert choose_environment(CONFIGURED, checked(ML), None, None, pick=False) == Run(ML.path)
    assert ready_python(CONFIGURED, checked(ML)) == ML.path
    # Not checked yet, no ipykernel there, or no python configured: the envs are needed.
    without = PythonInfo(ML.path, "3.11.4", False, given=("~/envs/ml",))
    for host, status in ((CONFIGURED, None), (CONFIGURED, checked(without)),
                         (LAB, checked(ML)), (None, checked(ML))):
        assert choose_environment(host, status, None, None, pick=False) == ListEnvironments(
            refresh=False)
    # The path itself, as configured, matches too.
    by_path = Host("lab", hostname="lab.example.org", python=ML.path)
    assert ready_python(by_path, checked(ML)) == ML.path


def test_several_usable_envs_ask_one_runs_none_sets_up() -> None:
    a, b = env("/usr/bin/python3"), env("/opt/conda/bin/python")
    broken = env("/bad/python", error="cannot run")
    bare = env("/usr/bin/python2", ipykernel=None)
    assert choose_environment(LAB, None, [a, bare, b, broken], None, pick=False) == Ask(
        (a, b), can_remember=True)
    assert choose_environment(LAB, None, [bare, b], None, pick=False) == Run(b.python)
    assert choose_environment(LAB, None, [bare, broken], None, pick=False) == SetUp()
    assert choose_environment(LAB, None, [], None, pick=False) == SetUp()


def test_pick_always_asks_even_for_one_env() -> None:
    a = env("/usr/bin/python3")
    assert choose_environment(LAB, None, [a], None, pick=True) == Ask((a,), can_remember=True)
    assert choose_environment(LAB, None, [], None, pick=True) == SetUp()


def test_a_host_of_this_run_only_cannot_remember() -> None:
    a, b = env("/usr/bin/python3"), env("/opt/conda/bin/python")
    decision = choose_environment(LAB, None, [a, b], None, pick=False, can_remember=False)
    assert decision == Ask((a, b), can_remember=False)


def test_the_configured_env_is_offered_first() -> None:
    other, mine = env("/usr/bin/python3"), env(ML.path, kind="configured")
    decision = choose_environment(CONFIGURED, None, [other, mine], None, pick=False)
    assert isinstance(decision, Ask) and decision.options == (mine, other)
    # Without a configured python, the agent's order stands.
    decision = choose_environment(LAB, None, [other, mine], None, pick=False)
    assert isinstance(decision, Ask) and decision.options == (other, mine)


def test_spyder_needs_spyder_kernels() -> None:
    plain, spyder = env("/usr/bin/python3"), env("/opt/sp/bin/python", spyder="2.5")
    assert choose_environment(LAB, None, [plain, spyder], None, pick=False,
                              spyder=True) == Run(spyder.python)
    assert choose_environment(LAB, None, [plain], None, pick=False, spyder=True) == SetUp()
