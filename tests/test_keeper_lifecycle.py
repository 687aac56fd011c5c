"""The output keeper's kernel lifecycle: exits told at once with their code or signal and
the log's tail, restarts (of a dead kernel too), kernels rtui did not start (keep), SIGTERM,
lingering, and the agent's ops through the real sshd.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from rtui.core.kernels import events as ev
from rtui.core.kernels.service import HostKernels
from rtui.core.ssh.check import check_host
from tests.harness.sshd import SSHD
from tests.keeper_helpers import (
    DELIM,
    Agent,
    Follow,
    agent,
    ask,
    backlog,
    bundle,
    collect,
    events,
    host,
    kernel_client,
    launch,
    texts,
    wait_event,
)
from tests.ssh_helpers import connection, host_for, trust
from tests.test_agent import (
    alive,
    port_open,
    wait_for,
    write_connection_file,
)

__all__ = ["agent", "bundle", "host"]  # fixtures


def stdout(events: list[object]) -> str:
    return "".join(e.text for e in events if isinstance(e, ev.Stream) and e.name == "stdout")


def test_exits_are_told_with_code_signal_and_log_and_restart_revives(agent: Agent) -> None:
    k = launch(agent)
    path, cf = k["keeper"], k["connection_file"]
    follow = Follow(path, since=0)
    backlog(follow)
    mark = ask(path, {"op": "status"})["next"] - 1
    kc = kernel_client(cf)
    kc.execute("import sys; print('bye', flush=True); "
               "sys.stderr.write('last words\\n'); sys.stderr.flush(); "
               "sys.__stderr__.write('to the log\\n'); sys.__stderr__.flush(); "
               "import os, time; time.sleep(0.2); os._exit(1)")
    t0 = time.monotonic()
    exited, at = wait_event(follow, "exited", 5)
    kc.stop_channels()
    assert at - t0 < 1.5  # 0.2 s of sleep, then within a second
    assert exited["code"] == 1 and exited["signal"] is None and exited["at"] > 0
    assert "to the log" in exited["log_tail"]
    assert not alive(k["pid"])
    status = ask(path, {"op": "status"})
    assert status["state"] == "exited" and status["exit"] == {
        key: exited[key] for key in ("code", "signal", "at", "log_tail")}
    listed = {x["id"]: x for x in agent.request("list")["kernels"]}[k["id"]]
    assert listed["exit"]["code"] == 1 and not listed["alive"] and listed["keeper"] == path
    kept_record = json.loads((Path(k["log_file"]).parent / f"{k['id']}.json").read_text())
    assert kept_record["exit"] == status["exit"] and kept_record["keeper"] == path
    record = json.loads(Path(listed["connection_file"]).read_text())
    assert record == k["connection"]

    # Restart a dead kernel: same id, same connection info, told to followers.
    new = agent.request("restart", kernel_id=k["id"])
    assert new["id"] == k["id"] and new["connection"] == k["connection"]
    assert new["pid"] != k["pid"] and alive(new["pid"]) and new["keeper"] == path
    restarted, _ = wait_event(follow, "restarted", 5)
    assert restarted["at"] > exited["at"]
    kc = kernel_client(cf)
    try:
        reply = kc.execute_interactive("40 + 2", timeout=30)
        assert reply["content"]["status"] == "ok"
    finally:
        kc.stop_channels()
    assert ask(path, {"op": "status"})["state"] == "running"
    assert agent.request("resolve", id=k["id"])["exit"] is None

    # SIGKILL (what the OOM killer does): the signal, within a second.
    t0 = time.monotonic()
    os.kill(new["pid"], signal.SIGKILL)
    exited, at = wait_event(follow, "exited", 5)
    assert at - t0 < 1.0 and exited["signal"] == signal.SIGKILL and exited["code"] is None
    assert agent.request("resolve", id=k["id"])["exit"]["signal"] == signal.SIGKILL

    # A client that last saw a message from before all this catches up on the output; the
    # lifecycle events are not replayed (an old exit would read as a death): its header
    # says where the kernel is now.
    late = Follow(path, since=mark)
    records = collect(late, stop=lambda r: r[-1][0] == "event"
                      and r[-1][1]["event"] == "replayed")
    late.close()
    assert [e["event"] for e in events(records)] == ["replayed"]
    assert texts(records)[:1] == ["bye"]
    assert late.header["state"] == "exited" and late.header["exit"]["signal"] == 9

    # Restart of a live kernel, through the keeper: a new process, same everything else.
    third = agent.request("restart", kernel_id=k["id"])
    assert third["pid"] != new["pid"] and alive(third["pid"])
    wait_event(follow, "restarted", 5)
    agent.request("shutdown", kernel_id=k["id"])
    assert follow.closed(5)
    assert not alive(third["pid"]) and not os.path.exists(os.path.dirname(path))


def test_keep_watches_a_kernel_rtui_did_not_start(agent: Agent, host: dict[str, str]) -> None:
    runtime = Path(host["JUPYTER_RUNTIME_DIR"])
    runtime.mkdir(parents=True, exist_ok=True)
    cf = runtime / "kernel-hand.json"
    info = write_connection_file(cf)
    hand = subprocess.Popen([sys.executable, "-m", "ipykernel_launcher", "-f", str(cf)],
                            start_new_session=True, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: port_open(info["shell_port"]) and port_open(info["hb_port"]), 30,
                 "the hand-started kernel")
        kc = kernel_client(str(cf))
        kept = agent.request("keep", kernel_id="hand")
        assert kept["started"] is True and kept["state"] == "running"
        path = kept["keeper"]
        assert agent.request("keep", connection_file=str(cf)) == {
            "keeper": path, "state": "running", "started": False}  # idempotent
        status = ask(path, {"op": "status"})
        assert status["mode"] == "watch" and status["pid"] == hand.pid
        follow = Follow(path, since=None)
        backlog(follow)
        msg_id = kc.execute("print('watched')")
        assert texts(collect(follow, msg_id)) == ["watched"]
        kc.stop_channels()
        assert agent.request("resolve", id="hand")["keeper"] == path
        t0 = time.monotonic()
        hand.kill()
        hand.wait(5)
        exited, at = wait_event(follow, "exited", 5)
        assert at - t0 < 1.0 and exited["code"] is None and exited["signal"] is None
        assert ask(path, {"op": "restart"})["ok"] is False  # not its child: the agent's job
        assert agent.request("list")["kernels"][0]["exit"] == exited | {"event": "exited"} or \
            agent.request("list")["kernels"][0]["exit"]["at"] == exited["at"]
        info_now = json.loads(cf.read_text())
        assert info_now == info
        done = agent.request("shutdown", kernel_id="hand")
        assert done["killed"] is False and not cf.exists()
        assert follow.closed(5) and not os.path.exists(path)
    finally:
        if hand.poll() is None:
            hand.kill()


def test_sigterm_leaves_the_kernel_running_and_keep_adopts_it(agent: Agent) -> None:
    k = launch(agent)
    path = k["keeper"]
    keeper_pid = ask(path, {"op": "status"})["keeper_pid"]
    follow = Follow(path, since=0)
    backlog(follow)
    os.kill(keeper_pid, signal.SIGTERM)
    assert follow.closed(5)
    wait_for(lambda: not alive(keeper_pid), 5, "the keeper to leave")
    assert not os.path.exists(path) and alive(k["pid"])
    listed = agent.request("list")["kernels"][0]
    assert listed["keeper"] is None and listed["alive"] and listed["exit"] is None
    kept = agent.request("keep", kernel_id=k["id"])
    assert kept["keeper"] == path and kept["state"] == "running"
    status = ask(path, {"op": "status"})
    assert status["mode"] == "watch" and status["pid"] == k["pid"]
    # restart of an rtui kernel whose keeper only watches: a launching keeper again
    new = agent.request("restart", kernel_id=k["id"])
    assert new["pid"] != k["pid"] and alive(new["pid"]) and not alive(k["pid"])
    assert ask(path, {"op": "status"})["mode"] == "launch"
    done = agent.request("shutdown", kernel_id=k["id"])
    assert done["killed"] is True and not alive(new["pid"])


def test_a_keeper_lingers_after_its_kernel_died_then_leaves(
    host: dict[str, str], bundle: Path, tmp_path: Path
) -> None:
    """Run as the agent runs it (``<python> <agent.pyz> keeper ...``), here watching a
    hand-started kernel with a linger of 1 s instead of an hour."""
    cf = tmp_path / "kernel-lingers.json"
    info = write_connection_file(cf)
    kernel = subprocess.Popen([sys.executable, "-m", "ipykernel_launcher", "-f", str(cf)],
                              start_new_session=True, stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    keeper = None
    try:
        wait_for(lambda: port_open(info["shell_port"]), 30, "the kernel")
        keeper = subprocess.Popen(
            [sys.executable, str(bundle), "keeper", "--kernel-id", "lingers",
             "--connection-file", str(cf), "--pid", str(kernel.pid), "--linger", "1"],
            env=host, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, start_new_session=True)
        path = os.path.join(host["XDG_RUNTIME_DIR"], "rtui", "k", "lingers", "keeper")
        wait_for(lambda: os.path.exists(path)
                 and ask(path, {"op": "status"})["state"] == "running", 30, "the keeper")
        kernel.kill()
        kernel.wait(5)
        wait_for(lambda: ask(path, {"op": "status"})["state"] == "exited", 2, "the exit")
        t0 = time.monotonic()
        assert keeper.wait(5) == 0  # lingered about a second, then left on its own
        assert 0.5 < time.monotonic() - t0 < 3.5
        assert not os.path.exists(os.path.dirname(path))
        assert keeper.stderr is not None and keeper.stderr.read() == b""
    finally:
        for proc in (kernel, keeper):
            if proc is not None and proc.poll() is None:
                proc.kill()
def signed_with(key: str, frames: list[bytes]) -> bool:
    """Whether a kept iopub message carries the HMAC of ``key`` (as a client checks it)."""
    at = frames.index(DELIM)
    mac = hmac.new(key.encode(), digestmod="sha256")
    for part in frames[at + 2:at + 6]:
        mac.update(part)
    return hmac.compare_digest(mac.hexdigest().encode(), frames[at + 1])


# A kernel whose command line does not name its connection file: the agent cannot find its
# process, so a keeper given to it watches its file, not a pid.
HIDDEN_FILE = ("import os; from ipykernel.kernelapp import launch_new_instance; "
               "launch_new_instance(argv=['-f', os.environ['RTUI_TEST_CF']])")


def test_keep_replaces_an_earlier_kernels_keeper_under_the_same_file_name(
    agent: Agent, host: dict[str, str]
) -> None:
    """A kernel whose process the agent could not see gets a keeper; it dies without
    removing its file; one started by hand rewrites the file, same name and ports, another
    key. That first keeper lingers, watching the file it thinks is still its kernel's: the
    new kernel's resolve does not name it, keep retires it and starts one for the new key
    (following the old one replayed output signed with the old key: a false signature
    mismatch in the client)."""
    runtime = Path(host["JUPYTER_RUNTIME_DIR"])
    runtime.mkdir(parents=True, exist_ok=True)
    cf = runtime / "kernel-reused.json"
    first_info = write_connection_file(cf)
    env = {**host, "RTUI_TEST_CF": str(cf)}
    first = subprocess.Popen([sys.executable, "-c", HIDDEN_FILE], env=env,
                             start_new_session=True, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    second = None
    try:
        wait_for(lambda: port_open(first_info["shell_port"]), 30, "the first kernel")
        old = agent.request("keep", kernel_id="reused")
        old_status = ask(old["keeper"], {"op": "status"})
        assert old_status["pid"] is None and old_status["state"] == "running"
        kc = kernel_client(str(cf))
        follow = Follow(old["keeper"], since=0)
        backlog(follow)
        msg_id = kc.execute("print('from the first')")
        assert texts(collect(follow, msg_id)) == ["from the first"]
        kc.stop_channels()
        follow.close()
        first.kill()
        first.wait(5)
        info = {**first_info, "key": os.urandom(16).hex()}
        cf.write_text(json.dumps(info))
        second = subprocess.Popen([sys.executable, "-m", "ipykernel_launcher", "-f", str(cf)],
                                  env=host, start_new_session=True, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: port_open(info["shell_port"]), 30, "the second kernel")
        assert ask(old["keeper"], {"op": "status"})["state"] == "running"  # still lingers
        resolved = agent.request("resolve", id="reused")
        assert resolved["alive"] is True and resolved["pid"] == second.pid
        assert resolved["keeper"] is None and resolved["exit"] is None
        kept = agent.request("keep", kernel_id="reused")
        assert kept["started"] is True and kept["state"] == "running"
        assert not alive(old_status["keeper_pid"])  # retired
        status = ask(kept["keeper"], {"op": "status"})
        assert status["pid"] == second.pid and status["keeper_pid"] != old_status["keeper_pid"]
        assert agent.request("resolve", id="reused")["keeper"] == kept["keeper"]
        assert agent.request("keep", kernel_id="reused")["started"] is False  # idempotent
        kc = kernel_client(str(cf))
        follow = Follow(kept["keeper"], since=0)
        msg_id = kc.execute("print('from the second')")
        records = collect(follow, msg_id)
        kc.stop_channels()
        assert texts(records) == ["from the second"]
        kept_frames = [v[2] for kind, v in records if kind == "message"]
        assert kept_frames and all(signed_with(info["key"], f) for f in kept_frames)
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()


def test_launch_under_the_id_of_a_dead_kernel_whose_keeper_lingers(agent: Agent) -> None:
    """An rtui kernel killed (its keeper lingers to say how), its connection file removed by
    hand, then a launch under the same id: the new kernel runs under a new keeper (the
    lingering one answered the launch's wait with the old exit: "kernel died")."""
    first = launch(agent, kernel_id="again")
    old_keeper = ask(first["keeper"], {"op": "status"})["keeper_pid"]
    os.kill(first["pid"], signal.SIGKILL)
    wait_for(lambda: ask(first["keeper"], {"op": "status"})["state"] == "exited", 5,
             "the keeper to see the exit")
    os.unlink(first["connection_file"])
    second = launch(agent, kernel_id="again")
    assert second["keeper"] == first["keeper"] and second["pid"] != first["pid"]
    status = ask(second["keeper"], {"op": "status"})
    assert status["state"] == "running" and status["pid"] == second["pid"]
    assert status["keeper_pid"] != old_keeper and not alive(old_keeper)
    kc = kernel_client(second["connection_file"])
    try:
        assert kc.execute_interactive("print('again')", timeout=30)["content"]["status"] == "ok"
    finally:
        kc.stop_channels()
    agent.request("shutdown", kernel_id="again")


# ---------------------------------------------------------------- through the real sshd

async def test_through_the_agent_over_ssh_launch_gives_a_keeper_and_list_an_exit(
    sshd: SSHD, isolated_home: Path
) -> None:
    trust(sshd, isolated_home)
    conn, _ = connection(host_for(sshd, python=sys.executable))
    service = HostKernels(conn, python=sys.executable)
    try:
        before = (await check_host(conn, timeout=20)).kernels
        k = await service.agent.request("launch", {"python": sys.executable,
                                                   "transport": "ipc"}, timeout=60)
        path = k["keeper"]
        assert k["connection"]["transport"] == "ipc" and os.path.exists(path)
        status = await asyncio.to_thread(ask, path, {"op": "status"})
        assert status["state"] == "running" and status["pid"] == k["pid"]
        assert 0 <= k["seq"] < status["next"]  # where its output after the boot starts
        checked = await check_host(conn, timeout=20)
        assert checked.ok and checked.kernels == before + 1  # its ipc shell socket answers
        os.kill(k["pid"], signal.SIGKILL)
        deadline = time.monotonic() + 5
        while True:
            listed = {r["id"]: r for r in (await service.agent.request("list"))["kernels"]}
            mine = listed[k["id"]]
            if mine["exit"] or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        assert mine["exit"]["signal"] == signal.SIGKILL and not mine["alive"]
        assert mine["keeper"] == path and "log_tail" in mine["exit"]
        await service.agent.request("shutdown", {"kernel_id": k["id"]}, timeout=30)
        assert not os.path.exists(os.path.dirname(path))
    finally:
        await service.close()
        await conn.close()




async def test_attach_by_id_follows_a_new_kernel_under_a_reused_file_name(
    sshd: SSHD, isolated_home: Path
) -> None:
    """A kernel started by hand gets a keeper on attach, then dies (its keeper lingers an
    hour to say how); another one started by hand writes the same file name with a new key.
    Attaching by id (as ``rtui run -k`` does) reaches the new kernel: its output, nothing
    of the old one's, no signature mismatch from the old keeper's replay."""
    runtime = sshd.remote_home / ".local/share/jupyter/runtime"
    runtime.mkdir(parents=True, exist_ok=True, mode=0o700)
    cf = runtime / "kernel-reused.json"
    env = {**os.environ, "HOME": str(sshd.remote_home)}

    def hand_start() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen([sys.executable, "-m", "ipykernel_launcher", "-f", str(cf)],
                                env=env, start_new_session=True, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: cf.exists() and port_open(json.loads(cf.read_text())["shell_port"]),
                 30, "the hand-started kernel")
        return proc

    trust(sshd, isolated_home)
    conn, _ = connection(host_for(sshd, python=sys.executable))
    service = HostKernels(conn, python=sys.executable)
    first, second = hand_start(), None
    try:
        kernel = await service.attach("reused", code="print('from the first')")
        assert kernel.first is not None and kernel.keeper is not None
        assert stdout([event async for event in kernel.first]) == "from the first\n"
        old_path = kernel.keeper
        old = await asyncio.to_thread(ask, old_path, {"op": "status"})
        await service.detach(kernel)
        first.kill()
        first.wait(5)
        await asyncio.to_thread(wait_for, lambda: ask(
            old_path, {"op": "status"})["state"] == "exited", 5, "the keeper to see the exit")
        cf.unlink()
        second = hand_start()
        kernel = await service.attach("reused", code="import os; print(os.getpid())")
        replayed: list[object] = []
        kernel.session.subscribe(replayed.append)  # the backlog a console shows first
        assert kernel.first is not None
        assert stdout([event async for event in kernel.first]) == f"{second.pid}\n"
        assert "from the first" not in stdout(replayed)
        assert not alive(old["keeper_pid"])  # retired, a keeper of the new kernel instead
        status = await asyncio.to_thread(ask, kernel.keeper or "", {"op": "status"})
        assert status["pid"] == second.pid and status["state"] == "running"
        await service.detach(kernel)
        await service.agent.request("shutdown", {"kernel_id": "reused"}, timeout=30)
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
        cf.unlink(missing_ok=True)
        await service.close()
        await conn.close()
