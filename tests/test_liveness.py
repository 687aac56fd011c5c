"""How a kernel that is gone is told (the agent's answer in, one message out): unit tests."""

from __future__ import annotations

from rtui.core.errors import KernelDiedError
from rtui.core.kernels.liveness import describe_exit, gone_error, known_dead


def test_known_dead_only_when_the_agent_is_sure() -> None:
    assert known_dead({"alive": False})
    assert known_dead({"exit": {"code": 1, "signal": None}})
    assert known_dead({"alive": None, "exit": {"code": 1}})
    assert not known_dead({"alive": True, "exit": {"code": 1}})  # running again
    assert not known_dead({"alive": None})  # cannot be told: try, never refuse
    assert not known_dead({})


def test_describe_exit() -> None:
    assert describe_exit({"code": None, "signal": 9}) == "killed by SIGKILL"
    assert describe_exit({"code": 1, "signal": None}) == "exit code 1"
    assert describe_exit({"code": None, "signal": 200}) == "killed by signal 200"
    assert describe_exit({"signal": "SIGTERM"}) == "killed by SIGTERM"
    assert describe_exit(None) == describe_exit({}) == ""


def test_gone_error_names_the_exit_the_log_tail_and_what_to_do() -> None:
    error = gone_error("lab", "k1", {"pid": 42, "exit": {
        "code": None, "signal": 9, "log_tail": "a\nb\nc\nd\ne\nf\nKilled\n"}})
    assert isinstance(error, KernelDiedError) and error.title == "Kernel not running"
    assert str(error) == (
        "kernel k1 on lab is not running (its process 42 has exited, killed by SIGKILL); "
        "the end of its log:\n  c\n  d\n  e\n  f\n  Killed\n"
        "`rtui kernel restart lab k1` starts it again, `rtui kernel stop lab k1` removes it")
    assert str(gone_error("lab", "k2", {})) == (
        "kernel k2 on lab is not running (nothing answers on its ports); "
        "`rtui kernel restart lab k2` starts it again, `rtui kernel stop lab k2` removes it")
