"""The notes this machine keeps per kernel (KernelNotes) as ServerMemory uses them: which
kernels of a Jupyter server rtui started, and the stable session id `rtui log` reads with."""

from __future__ import annotations

from pathlib import Path

from rtui.core.jupyter.memory import ServerMemory


def test_server_memory_marks_keeps_one_log_session_and_forgets(tmp_path: Path) -> None:
    memory = ServerMemory(tmp_path / "state" / "jupyter.json")
    assert not memory.started("nb", "k1")
    memory.mark_started("nb", "k1")
    session, new = memory.log_session("nb", "k1")
    assert new and session.startswith("rtui-log-")
    again = ServerMemory(memory.path)  # another run reads the same file
    assert again.started("nb", "k1") and again.log_session("nb", "k1") == (session, False)
    assert not again.started("other", "k1")
    assert (memory.path.stat().st_mode & 0o777) == 0o600
    assert (memory.path.parent.stat().st_mode & 0o777) == 0o700
    again.forget("nb", "k1")
    assert not memory.started("nb", "k1") and memory.log_session("nb", "k1")[1]
    memory.path.write_text('{"nb/k2": 3, "nb/k3": {"rtui": true}}')  # a damaged entry is skipped
    assert memory.started("nb", "k3") and not memory.started("nb", "k2")
