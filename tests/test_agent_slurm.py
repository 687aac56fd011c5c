"""The agent's SLURM ops against the real one-node cluster, the agent run over the real sshd
(the login node, ``slurm_sshd``), the kernels real ipykernels in real jobs.

Costs (one xdist worker, with every SLURM test; calm machine): the flow ~8 s, refusals,
cancels and the controller not answering ~6 s, the time limit 5-35 s (slurmctld checks limits
every 30 s).
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rtui.agent import keepers
from rtui.core.remote.bundle import agent_bundle
from tests.harness.slurm import SlurmCluster
from tests.harness.sshd import SSHD, kill_leftovers
from tests.test_agent import Agent, AgentError, agent_env, client, run_code, wait_for


class SshAgent(Agent):
    """The agent as rtui runs it: ``python -u BUNDLE`` in an SSH session on the login node."""

    def __init__(self, server: SSHD, bundle: Path) -> None:
        options = ["-F", "/dev/null", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
                   "-o", f"UserKnownHostsFile={server.known_hosts}",
                   "-i", str(server.client_key), "-p", str(server.port)]
        self.proc = subprocess.Popen(
            ["ssh", *options, f"{server.user}@{server.host}",
             f"{sys.executable} -u {bundle}"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env={"PATH": os.environ["PATH"]})
        self.ready = None
        self.replies = {}
        self.events = defaultdict(list)
        self.cond = threading.Condition()
        self.next_id = 0
        threading.Thread(target=self._read, daemon=True).start()


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    built = agent_bundle()
    path = tmp_path_factory.mktemp("slurm_bundle") / built.name
    path.write_bytes(built.data)
    return path


@pytest.fixture
def agent(slurm: SlurmCluster, slurm_sshd: SSHD, bundle: Path) -> Iterator[SshAgent]:
    agent = SshAgent(slurm_sshd, bundle)
    agent._wait(lambda: agent.ready is not None, 60)
    started: list[str] = []
    agent.started = started  # type: ignore[attr-defined]
    yield agent
    agent.close()
    slurm.cancel_all()
    for kid in started:  # keepers of ended jobs linger on the login node: not ours to keep
        kill_leftovers(kid)


def submit(agent: SshAgent, **slurm: Any) -> dict[str, Any]:
    out: dict[str, Any] = agent.request("slurm_submit", python=sys.executable, slurm=slurm)
    agent.started.append(out["id"])  # type: ignore[attr-defined]
    return out


def send(agent: Agent, op: str, **args: Any) -> int:
    """Send a request without waiting (its id): its args may say ``timeout``."""
    with agent.cond:
        agent.next_id += 1
        rid = agent.next_id
    agent.send_raw(json.dumps({"id": rid, "op": op, "args": args}).encode())
    return rid


def argv_with(text: str) -> list[str]:
    """The processes whose command line holds ``text``."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if text.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
        except OSError:
            pass
    return found


def mode(path: str | Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def queued(slurm: SlurmCluster, job_id: str) -> str:
    return slurm.run("squeue", "-h", "-j", job_id, "-o", "%T").stdout.strip()


def test_pending_running_execute_interrupt_restart_cancel(
        slurm: SlurmCluster, slurm_sshd: SSHD, agent: SshAgent) -> None:
    hold = slurm.hold_node()
    sub = submit(agent, partition="debug", time="10")
    kid, job_id, job_dir = sub["id"], sub["job_id"], sub["dir"]
    assert sub["state"] == "PENDING"
    assert sub["connection_file"].startswith(str(slurm_sshd.remote_home))
    # The job's files: private; the key only in the 0600 template.
    assert mode(job_dir) == 0o700 and mode(Path(job_dir) / "job.sh") == 0o700
    assert mode(Path(job_dir) / "template.json") == 0o600
    key = json.loads((Path(job_dir) / "template.json").read_text())["key"]
    script = (Path(job_dir) / "job.sh").read_text()
    assert key not in script and "#SBATCH --partition=debug" in script
    assert "#SBATCH --time=10" in script and script.rstrip().splitlines()[-1].startswith("exec ")

    waited: list[dict[str, Any]] = []
    waiter = threading.Thread(target=lambda: waited.append(
        agent.call("slurm_wait", 120, kernel_id=kid)))
    waiter.start()

    def reasons() -> list[str | None]:
        with agent.cond:
            return [e["data"]["job"]["reason"] for events in agent.events.values()
                    for e in events if "job" in e["data"]]

    wait_for(lambda: any(r in ("Resources", "Priority") for r in reasons()), 30,
             "the pending reason in slurm_wait's progress")
    pending = agent.request("resolve", id=kid)
    assert pending["alive"] is None and pending["connection"] is None
    assert pending["slurm"]["state"] == "PENDING"
    listed = {k["id"]: k for k in agent.request("list")["kernels"]}
    assert listed[kid]["slurm"]["state"] == "PENDING" and listed[kid]["exists"] is False
    jobs = {j["job_id"]: j for j in agent.request("slurm_jobs")["jobs"]}
    assert jobs[job_id]["kernel_id"] == kid and jobs[job_id]["rtui"] is True
    assert jobs[hold]["rtui"] is False and jobs[hold]["state"] == "RUNNING"

    slurm.run("scancel", hold)
    waiter.join(90)
    assert waited and waited[0]["ok"], waited
    ready = waited[0]["result"]
    states = [e["data"]["job"]["state"] for e in waited[0]["events"] if "job" in e["data"]]
    assert states[0] == "PENDING"
    assert ready["slurm"]["state"] == "RUNNING" and ready["slurm"]["node"] == slurm.node
    assert ready["slurm"]["address"] == "127.0.0.1" and ready["transport"] == "tcp"
    assert ready["connection"]["key"] == key and mode(ready["connection_file"]) == 0o600
    cf = ready["connection_file"]

    # The kernel answers; its keeper on the login node hears its output.
    assert run_code(cf, "x = 21\nx * 2")[1] == "42"
    wait_for(lambda: keepers.ask(ready["keeper"], {"op": "status"})["next"] > ready["seq"] + 1,
             10, "the keeper to hear the kernel's output")
    log = Path(ready["log_file"]).read_text()
    assert f"rtui: kernel on {slurm.node} (127.0.0.1)" in log and key not in log
    assert "To connect another client" not in log  # no ipykernel banner before a job's end
    assert not argv_with(key)

    # Interrupt: scancel -b -s INT reaches the runner, which passes it to the kernel.
    kc = client(cf)
    try:
        msg_id = kc.execute("import time; time.sleep(60)")
        wait_for(lambda: kc.get_iopub_msg(timeout=20)["msg_type"] == "execute_input", 20,
                 "the cell to start")
        assert agent.request("signal", kernel_id=kid, signal="SIGINT")["signal"] == "SIGINT"
        reply = kc.get_shell_msg(timeout=30)
        assert reply["parent_header"]["msg_id"] == msg_id
        assert reply["content"]["status"] == "error"
        assert reply["content"]["ename"] == "KeyboardInterrupt"
    finally:
        kc.stop_channels()

    # Restart (SIGUSR1 to the runner): same ports and key, a fresh namespace.
    again = agent.request("restart", 60, kernel_id=kid)
    assert again["connection"] == ready["connection"] and again["slurm"]["job_id"] == job_id
    state = json.loads((Path(job_dir) / "state.json").read_text())
    assert state["restarts"] == 1 and state["kernel"] == "running"
    content, _ = run_code(cf, "x")
    assert content["status"] == "error" and content["ename"] == "NameError"
    assert queued(slurm, job_id) == "RUNNING"

    # Stop: the job is cancelled, nothing is left.
    stopped = agent.request("shutdown", kernel_id=kid)
    assert stopped["job_id"] == job_id and stopped["state"] == "CANCELLED"
    assert queued(slurm, job_id) in ("", "CANCELLED")
    assert not os.path.exists(job_dir) and not os.path.exists(cf)
    assert kid not in {k["id"] for k in agent.request("list")["kernels"]}


def test_refused_cancelled_pending_and_controller_unreachable(
        slurm: SlurmCluster, slurm_sshd: SSHD, agent: SshAgent, bundle: Path,
        tmp_path: Path) -> None:
    jobs_dir = slurm_sshd.remote_home / ".local" / "share" / "rtui" / "jobs"
    before = set(os.listdir(jobs_dir)) if jobs_dir.exists() else set()
    bad = agent.error("slurm_submit", python=sys.executable, slurm={"partition": "nope"})
    assert bad.type == "slurm_refused"
    assert "sbatch refused the job" in bad.message
    assert "invalid partition specified: nope" in bad.message
    assert set(os.listdir(jobs_dir)) == before  # no files left after a refusal
    assert agent.error("slurm_submit", python=sys.executable,
                       slurm={"partition": "a\n#SBATCH --x"}).type == "bad_args"

    # A waiter that goes away leaves the job queued.
    hold = slurm.hold_node()
    sub = submit(agent)
    rid = send(agent, "slurm_wait", kernel_id=sub["id"])
    agent.request("cancel", target=rid)
    agent._wait(lambda: rid in agent.replies, 30)
    assert agent.replies.pop(rid)["error"]["type"] == "cancelled"
    assert queued(slurm, sub["job_id"]) == "PENDING"

    # The controller does not answer: said so (a wait keeps trying), nothing left behind.
    lines = [ln for ln in slurm.conf.read_text().splitlines()
             if not ln.startswith("SlurmctldPort=")]
    dead = tmp_path / "dead.conf"
    dead.write_text("\n".join([*lines, "SlurmctldPort=9", "MessageTimeout=1", ""]))
    local = Agent(agent_env(slurm_sshd.remote_home, SLURM_CONF=str(dead)), bundle)
    bare = Agent(agent_env(slurm_sshd.remote_home, PATH="/nonexistent"), bundle)
    try:
        local._wait(lambda: local.ready is not None, 30)
        bare._wait(lambda: bare.ready is not None, 30)
        gone = local.error("slurm_submit", python=sys.executable, slurm={})
        assert gone.type == "slurm_unreachable"
        assert "Unable to contact slurm controller" in gone.message
        assert set(os.listdir(jobs_dir)) == before | {sub["id"]}
        assert local.error("slurm_jobs").type == "slurm_unreachable"
        rid = send(local, "slurm_wait", kernel_id=sub["id"], timeout=2.5)
        local._wait(lambda: rid in local.replies, 30)
        assert local.replies[rid]["error"]["type"] == "timeout"
        said = [e["data"]["line"] for e in local.events[rid]]
        assert said and all("the SLURM controller does not answer" in line for line in said)
        assert bare.error("slurm_info").type == "no_slurm"
    finally:
        local.close()
        bare.close()
    info = agent.request("slurm_info")
    assert info["version"] == "22.05.8" and info["user"] == slurm_sshd.user
    parts = {p["name"]: p for p in info["partitions"]}
    assert parts["debug"]["default"] and parts["short"]["time_limit"] == 300
    assert parts["debug"]["nodes"] == 1

    # A cancel while pending leaves nothing.
    done = agent.request("slurm_cancel", kernel_id=sub["id"])
    assert done == {"job_id": sub["job_id"], "state": "CANCELLED"}
    assert queued(slurm, sub["job_id"]) in ("", "CANCELLED")
    assert not os.path.exists(sub["dir"]) and not os.path.exists(sub["connection_file"])
    assert sub["id"] not in {k["id"] for k in agent.request("list")["kernels"]}

    # A job that fails at start: how it ended and the end of its output.
    slurm.run("scancel", hold)
    failing = submit(agent, setup=["echo 'module: python/9.9 not found' >&2", "exit 3"])
    ended = agent.error("slurm_wait", kernel_id=failing["id"])
    assert ended.type == "job_ended"
    assert f"job {failing['job_id']} ended (FAILED" in ended.message
    assert "module: python/9.9 not found" in ended.message
    gone = agent.request("resolve", id=failing["id"])
    assert gone["alive"] is False and gone["exit"]["slurm_state"] == "FAILED"
    agent.request("shutdown", kernel_id=failing["id"])
    assert not os.path.exists(failing["dir"])


def test_a_job_killed_at_its_time_limit(slurm: SlurmCluster, slurm_sshd: SSHD,
                                        agent: SshAgent) -> None:
    """A job with a 1-minute limit killed by the scheduler for it (TIMEOUT, SIGTERM then
    KILL). Not to wait the minute, its end time is moved to now (``scontrol update
    EndTime``: what slurmctld's limit check compares, every 30 s, as for the minute's end)."""
    sub = submit(agent, partition="short", time="1")
    ready = agent.request("slurm_wait", 60, kernel_id=sub["id"])
    assert ready["slurm"]["time_limit"] == 60 and 0 < ready["slurm"]["time_left"] <= 60
    assert run_code(ready["connection_file"], "print('before the limit')")[0]["status"] == "ok"
    moved = slurm.run("scontrol", "update", f"JobId={sub['job_id']}", "EndTime=now")
    assert moved.returncode == 0, moved.stderr
    deadline = time.monotonic() + 150
    while (got := agent.request("resolve", id=sub["id"]))["alive"] is not False:
        assert time.monotonic() < deadline, got
        time.sleep(0.5)
    assert got["slurm"]["state"] == "TIMEOUT"
    assert got["exit"]["slurm_state"] == "TIMEOUT" and got["exit"]["reason"]
    assert "rtui: the job was ended by SIGTERM" in got["exit"]["log_tail"]
    jobs = {j["job_id"]: j for j in agent.request("slurm_jobs")["jobs"]}
    assert jobs[sub["job_id"]]["state"] == "TIMEOUT" and jobs[sub["job_id"]]["rtui"]
    # The kept output outlives the job (rtui log reads it from the login node's keeper).
    wait_for(lambda: keepers.ask(ready["keeper"], {"op": "status"})["state"] == "exited", 30,
             "the keeper to see the job's end")
    status = keepers.ask(ready["keeper"], {"op": "status"})
    assert status["next"] > ready["seq"] + 1
    assert "SIGTERM" in (status["exit"]["log_tail"] or "")
    # Once the controller forgot the job (MinJobAge), how it ended is still told: as the
    # agent saw it (ended.json), else from slurmstepd's line in job.out.
    record_file = slurm_sshd.remote_home / ".local/share/rtui/kernels" / f"{sub['id']}.json"
    record = json.loads(record_file.read_text())
    record["slurm"]["job_id"] = "999999"  # a job the controller does not know
    record_file.write_text(json.dumps(record))
    forgot = agent.request("resolve", id=sub["id"])
    assert forgot["alive"] is False and forgot["slurm"]["state"] == "TIMEOUT"
    os.unlink(Path(sub["dir"]) / "ended.json")
    forgot = agent.request("resolve", id=sub["id"])
    assert forgot["slurm"]["state"] == "TIMEOUT" and forgot["slurm"]["reason"] == "TimeLimit"
    assert forgot["exit"]["slurm_state"] == "TIMEOUT"
    with pytest.raises(AgentError) as ended:
        agent.request("restart", kernel_id=sub["id"])
    assert ended.value.type in ("restart_failed", "not_ready")
    agent.request("shutdown", kernel_id=sub["id"])
    assert not os.path.exists(sub["dir"])
