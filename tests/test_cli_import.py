"""``rtui hosts import``: every concrete alias once, idempotent, --update, ssh config untouched."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rtui.cli.main import main

SSH_CONFIG = """\
Include config.d/*

Host lab
    HostName lab.example.org
    User alice
    Port 2222
    IdentityFile ~/.ssh/id_lab

Host gpu1 gpu2
    ProxyJump bastion
    User bob

Host bastion
    HostName gw.example.org

Host *.internal !skip.internal
    User internal

Host *
    IdentityFile ~/.ssh/id_default
    ServerAliveInterval 10
"""


@pytest.fixture
def ssh_config(isolated_home: Path) -> Path:
    ssh = isolated_home / ".ssh"
    (ssh / "config.d").mkdir(parents=True)
    (ssh / "config.d" / "work").write_text("Host work\n    HostName work.example.org\n")
    path = ssh / "config"
    path.write_text(SSH_CONFIG)
    return path


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def hosts(capsys: pytest.CaptureFixture[str]) -> dict[str, dict[str, object]]:
    _, out, _ = cli(capsys, "hosts", "list", "--json")
    return {h["name"]: h for h in json.loads(out)}


def test_import_adds_every_concrete_alias(
    capsys: pytest.CaptureFixture[str], ssh_config: Path
) -> None:
    before = ssh_config.read_bytes()
    code, out, err = cli(capsys, "hosts", "import")
    assert code == 0, err
    assert "added 5" in out
    got = hosts(capsys)
    assert list(got) == ["work", "lab", "gpu1", "gpu2", "bastion"]
    assert got["lab"]["hostname"] == "lab.example.org"
    assert got["lab"]["port"] == 2222
    assert got["lab"]["user"] == "alice"
    assert got["lab"]["identity_files"] == ["~/.ssh/id_lab", "~/.ssh/id_default"]
    assert got["gpu1"]["jump"] == ["bastion"]
    assert got["gpu2"]["user"] == "bob"
    assert got["work"]["hostname"] == "work.example.org"
    assert ssh_config.read_bytes() == before  # never written


def test_import_twice_adds_nothing_twice(
    capsys: pytest.CaptureFixture[str], ssh_config: Path, config_file: Path
) -> None:
    cli(capsys, "hosts", "import")
    first = config_file.read_bytes()
    code, out, _ = cli(capsys, "hosts", "import")
    assert code == 0
    assert "added 0, updated 0, unchanged 5" in out
    assert config_file.read_bytes() == first
    assert len(hosts(capsys)) == 5


def test_existing_hosts_change_only_with_update(
    capsys: pytest.CaptureFixture[str], ssh_config: Path
) -> None:
    cli(capsys, "hosts", "add", "lab", "--hostname", "old.example.org", "--tag", "mine")
    code, out, _ = cli(capsys, "hosts", "import")
    assert code == 0
    assert "added 4" in out and "1 differ and were kept (lab;" in out
    assert hosts(capsys)["lab"]["hostname"] == "old.example.org"

    code, out, _ = cli(capsys, "hosts", "import", "--update")
    assert "updated 1" in out
    lab = hosts(capsys)["lab"]
    assert lab["hostname"] == "lab.example.org"
    assert lab["tags"] == ["mine"]  # rtui's own fields are kept


def test_import_from_explicit_path(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "other_config"
    path.write_text("Host solo\n  HostName 10.0.0.5\n  Port 2200\n")
    code, out, _ = cli(capsys, "hosts", "import", "--ssh-config", str(path))
    assert code == 0, out
    assert hosts(capsys)["solo"]["port"] == 2200


def test_import_errors_are_messages(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = cli(capsys, "hosts", "import", "--ssh-config", str(tmp_path / "none"))
    assert code == 1 and str(tmp_path / "none") in err
    bad = tmp_path / "bad"
    bad.write_text("Host x\n  Port abc\n")
    code, _, err = cli(capsys, "hosts", "import", "--ssh-config", str(bad))
    assert code == 1 and "line 2" in err


def test_aliases_rtui_cannot_name_are_skipped_with_a_reason(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "cfg"
    path.write_text("Host ok\n  HostName a\n\nHost weird/alias\n  HostName b\n")
    code, out, _ = cli(capsys, "hosts", "import", "--ssh-config", str(path))
    assert code == 0
    assert "skipped weird/alias:" in out and "line 4" in out
    assert list(hosts(capsys)) == ["ok"]


def test_import_resolves_match_blocks(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Each alias's fields come from asyncssh's resolution, Match blocks included."""
    path = tmp_path / "cfg"
    path.write_text("Host lab\n  HostName lab.example.org\n"
                    "Match host lab.example.org\n  User matched\n  Port 2022\n"
                    "Match originalhost lab\n  ProxyJump gw\n")
    code, out, _ = cli(capsys, "hosts", "import", "--ssh-config", str(path))
    assert code == 0, out
    lab = hosts(capsys)["lab"]
    assert (lab["hostname"], lab["user"], lab["port"], lab["jump"]) == (
        "lab.example.org", "matched", 2022, ["gw"])
