"""``rtui hosts ...`` as a user runs it: exit codes, messages, JSON, concurrent writers."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from rtui.cli.main import main
from tests.conftest import run_rtui


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse usage errors and --help/--version
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_version_and_help() -> None:
    result = run_rtui("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("rtui ")
    result = run_rtui("--help")
    assert result.returncode == 0
    assert "hosts" in result.stdout


def test_add_list_show_edit_remove(capsys: pytest.CaptureFixture[str], config_file: Path) -> None:
    code, out, _ = cli(capsys, "hosts", "add", "lab", "--hostname", "lab.example.org",
                       "--user", "alice", "--port", "2222", "--tag", "gpu", "--tag", "a100",
                       "--identity", "~/.ssh/id_lab")
    assert code == 0, out
    assert "added lab (alice@lab.example.org:2222)" in out
    assert stat.S_IMODE(config_file.stat().st_mode) == 0o600

    code, out, _ = cli(capsys, "hosts", "add", "bastion", "--hostname", "gw.example.org")
    code, out, _ = cli(capsys, "hosts", "edit", "lab", "--jump", "bastion", "--note", "A100s")
    assert code == 0

    code, out, _ = cli(capsys, "hosts", "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "ADDRESS", "JUMP", "TAGS"]
    assert lines[1].split() == ["lab", "alice@lab.example.org:2222", "bastion", "gpu,a100"]

    code, out, _ = cli(capsys, "hosts", "show", "lab", "--json")
    assert code == 0
    shown = json.loads(out)
    assert shown["jump"] == ["bastion"]
    assert shown["identity_files"] == ["~/.ssh/id_lab"]
    assert shown["note"] == "A100s"
    assert shown["python"] == "auto"

    code, out, _ = cli(capsys, "hosts", "list", "--json")
    assert [h["name"] for h in json.loads(out)] == ["lab", "bastion"]

    code, out, _ = cli(capsys, "hosts", "edit", "lab", "--clear", "tags", "--clear", "note")
    assert code == 0
    _, out, _ = cli(capsys, "hosts", "show", "lab", "--json")
    assert json.loads(out)["tags"] == []

    code, out, _ = cli(capsys, "hosts", "remove", "lab")
    assert (code, out.strip()) == (0, "removed lab")
    _, out, _ = cli(capsys, "hosts", "list", "--json")
    assert [h["name"] for h in json.loads(out)] == ["bastion"]


def test_module_reloading_is_set_shown_and_cleared(
    capsys: pytest.CaptureFixture[str], config_file: Path
) -> None:
    cli(capsys, "hosts", "add", "lab", "--hostname", "lab.example.org")
    _, out, _ = cli(capsys, "hosts", "show", "lab", "--json")
    assert (json.loads(out)["autoreload"], json.loads(out)["autoreload_exclude"]) == ("2", [])
    code, _, err = cli(capsys, "hosts", "edit", "lab", "--autoreload", "off",
                       "--autoreload-exclude", "torch", "--autoreload-exclude", "big")
    assert code == 0, err
    assert 'autoreload = "off"' in config_file.read_text()
    _, out, _ = cli(capsys, "hosts", "show", "lab")
    assert "autoreload:       off" in out and "autoreload_exclude: torch, big" in out
    code, _, err = cli(capsys, "hosts", "edit", "lab", "--autoreload", "3")
    assert code == 0, err
    assert "autoreload = 3\n" in config_file.read_text()
    cli(capsys, "hosts", "edit", "lab", "--clear", "autoreload", "--clear", "autoreload-exclude")
    assert "autoreload" not in config_file.read_text()
    code, _, err = cli(capsys, "hosts", "edit", "lab", "--autoreload", "on")
    assert code == 2 and "invalid choice: 'on'" in err
    code, _, err = cli(capsys, "hosts", "edit", "lab", "--autoreload-exclude", "a b")
    assert code == 1 and "autoreload_exclude: 'a b' is not a module name" in err


def test_rename_follows_jump_references(capsys: pytest.CaptureFixture[str]) -> None:
    cli(capsys, "hosts", "add", "gw", "--hostname", "gw.example.org")
    cli(capsys, "hosts", "add", "lab", "--hostname", "lab", "--jump", "gw")
    code, _, err = cli(capsys, "hosts", "edit", "gw", "--rename", "bastion")
    assert code == 0, err
    _, out, _ = cli(capsys, "hosts", "show", "lab", "--json")
    assert json.loads(out)["jump"] == ["bastion"]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("hosts", "show", "nope"), 1, "rtui: no host named 'nope'"),
        (("hosts", "remove", "nope"), 1, "rtui: no host named 'nope'"),
        (("hosts", "add", "x"), 2, "the following arguments are required: --hostname"),
        (("hosts", "add", "x", "--hostname", "h", "--port", "0"), 2, "must be 1-65535"),
        (("hosts", "add", "bad/name", "--hostname", "h"), 1, "is not a usable name"),
        (("hosts", "add", "x", "--hostname", "h", "--jump", "x"), 1, "jump chain loops: x -> x"),
        (("hosts", "edit", "x", "--port", "3"), 1, "no host named 'x'"),
        (("hosts", "edit", "x"), 1, "nothing to change"),
        (("hosts", "frob"), 2, "invalid choice: 'frob'"),
        (("hosts",), 2, "usage:"),
        (("--nope",), 2, "unrecognized arguments"),
    ],
)
def test_errors_have_exit_codes_and_one_line_messages(
    capsys: pytest.CaptureFixture[str], args: tuple[str, ...], code: int, message: str
) -> None:
    got, out, err = cli(capsys, *args)
    assert got == code
    assert message in err
    assert "Traceback" not in err + out


def test_add_twice_and_remove_a_jump_host_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(capsys, "hosts", "add", "gw", "--hostname", "g")[0] == 0
    code, _, err = cli(capsys, "hosts", "add", "gw", "--hostname", "g2")
    assert code == 1 and "a host named 'gw' exists already" in err
    cli(capsys, "hosts", "add", "lab", "--hostname", "l", "--jump", "gw")
    code, _, err = cli(capsys, "hosts", "remove", "gw")
    assert code == 1 and "'gw' is the jump host of lab" in err


def test_broken_config_gives_line_and_no_traceback(config_file: Path) -> None:
    config_file.parent.mkdir(parents=True)
    config_file.write_text('[[hosts]]\nname = "a"\nport = [\n')
    before = config_file.read_bytes()
    for args in (("hosts", "list"), ("hosts", "add", "b", "--hostname", "b")):
        result = run_rtui(*args)
        assert result.returncode == 1
        assert "line 3" in result.stderr and str(config_file) in result.stderr
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert config_file.read_bytes() == before


def test_config_flag_and_env_var_point_elsewhere(tmp_path: Path, config_file: Path) -> None:
    elsewhere = tmp_path / "elsewhere.toml"
    result = run_rtui("--config", str(elsewhere), "hosts", "add", "a", "--hostname", "h")
    assert result.returncode == 0
    assert "name = \"a\"" in elsewhere.read_text()
    other = tmp_path / "other.toml"
    result = run_rtui("hosts", "add", "b", "--hostname", "h", env={"RTUI_CONFIG": str(other)})
    assert result.returncode == 0
    assert "name = \"b\"" in other.read_text()
    assert not config_file.exists()


def test_concurrent_processes_adding_hosts_all_land(config_file: Path) -> None:
    """Eight rtui processes add a host each at the same moment: all eight are in the file."""
    n = 8
    # Each child waits on a shared start signal (a file) so their writes really overlap.
    go = config_file.parent.parent / "go"
    script = (
        "import os, sys, time\n"
        f"while not os.path.exists({str(go)!r}): time.sleep(0.001)\n"
        "from rtui.cli.main import main\n"
        "sys.exit(main(['hosts', 'add', sys.argv[1], '--hostname', 'h.example.org']))\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, f"h{i}"], env=os.environ.copy(),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(n)
    ]
    go.parent.mkdir(parents=True, exist_ok=True)
    go.touch()
    for proc in procs:
        _out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    result = run_rtui("hosts", "list", "--json")
    assert sorted(h["name"] for h in json.loads(result.stdout)) == [f"h{i}" for i in range(n)]
