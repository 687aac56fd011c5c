"""``rtui hosts add --jupyter-url / --jupyterhub-url`` and what the CLI says of such hosts
without a server: the table written, list and show (kind and URL, never a token), the flags
of the other kind refused as usage errors, SSH-only commands refused on them (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rtui.cli.main import main
from rtui.core.config.store import HostStore
from rtui.core.jupyter.settings import JupyterSettings
from tests.cli_helpers import rtui_only


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse usage errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_add_both_kinds_list_and_show(capsys: pytest.CaptureFixture[str],
                                      config_file: Path) -> None:
    assert cli(capsys, "hosts", "add", "gw", "--hostname", "gw.example.org")[0] == 0
    code, out, err = cli(capsys, "hosts", "add", "lab", "--jupyter-url", "http://127.0.0.1:8888",
                         "--via", "gw", "--token-env", "LAB_TOKEN", "--ca-file", "/etc/ca.pem",
                         "--tag", "gpu")
    assert (code, err) == (0, ""), err
    assert out == "added lab (jupyter http://127.0.0.1:8888/ via gw)\n"
    code, out, err = cli(capsys, "hosts", "add", "hub", "--jupyterhub-url",
                         "https://hub.example.org/", "--server", "rtui", "--token-command",
                         "pass show hub/token", "--start-timeout", "60")
    assert (code, err) == (0, ""), err
    assert out == "added hub (jupyterhub https://hub.example.org/ (server rtui))\n"

    config = HostStore(config_file).load()
    assert config.require("lab").jupyter == JupyterSettings(
        url="http://127.0.0.1:8888/", via="gw", token_env="LAB_TOKEN", ca_file="/etc/ca.pem")
    assert config.require("hub").jupyter == JupyterSettings(
        url="https://hub.example.org/", hub=True, server="rtui",
        token_command="pass show hub/token", start_timeout=60.0)
    assert config.require("lab").tags == ("gpu",)
    text = config_file.read_text()
    assert "[hosts.jupyter]" in text and "token =" not in text

    code, out, _ = cli(capsys, "hosts", "list")
    rows = [line.split() for line in out.splitlines()]
    assert rows[0] == ["NAME", "ADDRESS", "JUMP", "TAGS"]
    assert rows[2] == ["lab", "jupyter", "http://127.0.0.1:8888/", "via", "gw", "gpu"]
    assert rows[3][:3] == ["hub", "jupyterhub", "https://hub.example.org/"]

    code, out, _ = cli(capsys, "hosts", "show", "hub")
    assert code == 0
    assert "kind:             jupyterhub" in out
    assert "jupyter.url:      https://hub.example.org/" in out
    assert "jupyter.token_command: pass show hub/token" in out
    assert "hostname" not in out and "python" not in out  # SSH's fields are not shown
    code, out, _ = cli(capsys, "hosts", "show", "lab", "--json")
    shown = json.loads(out)
    assert shown["kind"] == "jupyter" and shown["jupyter"]["url"] == "http://127.0.0.1:8888/"
    assert shown["jupyter"]["token_env"] == "LAB_TOKEN" and "token" not in shown["jupyter"]
    listed = json.loads(cli(capsys, "hosts", "list", "--json")[1])
    assert [h["kind"] for h in listed] == ["ssh", "jupyter", "jupyterhub"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--jupyter-url", "http://h/", "--port", "22"], "--port: an SSH host's option"),
        (["--jupyter-url", "http://h/", "--identity", "k"], "--identity: an SSH host's option"),
        (["--jupyter-url", "http://h/", "--server", "x"], "--server: only for a JupyterHub"),
        (["--hostname", "h", "--token-env", "T"], "--token-env: only for a Jupyter server"),
        (["--hostname", "h", "--jupyter-url", "http://h/"], "not allowed with argument"),
        (["--jupyter-url", "http://h/", "--token-env", "T", "--token-command", "c"],
         "not allowed with argument"),
        (["--jupyterhub-url", "http://h/", "--start-timeout", "0"], "must be a number of "),
        (["--port", "22"], "required: --hostname (an SSH host), or --jupyter-url or "
                           "--jupyterhub-url"),
    ],
)
def test_flags_of_the_other_kind_are_usage_errors(
        capsys: pytest.CaptureFixture[str], config_file: Path, args: list[str],
        expected: str) -> None:
    code, out, err = cli(capsys, "hosts", "add", "lab", *args)
    assert code == 2 and out == ""
    assert expected in err
    assert not config_file.exists()


def test_a_bad_url_or_variable_is_named_and_nothing_written(
        capsys: pytest.CaptureFixture[str], config_file: Path) -> None:
    code, _, err = cli(capsys, "hosts", "add", "lab", "--jupyter-url", "lab.example.org")
    assert code == 1
    assert "rtui: host 'lab': jupyter.url: 'lab.example.org' is not an http:// or https://" in err
    code, _, err = cli(capsys, "hosts", "add", "lab", "--jupyter-url", "http://h/",
                       "--via", "nowhere")
    assert code == 1 and "jupyter.via: no SSH host named 'nowhere'" in err
    code, _, err = cli(capsys, "hosts", "add", "lab", "--jupyter-url", "https://h/?token=s3cr3t")
    assert code == 1 and "a ?token=... never belongs in hosts.toml" in err
    assert not config_file.exists()


def test_ssh_only_commands_are_refused_on_a_jupyter_host(
        capsys: pytest.CaptureFixture[str], config_file: Path) -> None:
    cli(capsys, "hosts", "add", "lab", "--jupyter-url", "http://127.0.0.1:9/")
    for command in (["envs", "lab"], ["kernel", "setup", "lab"], ["jobs", "lab"],
                    ["files", "lab", "ls"]):
        code, out, err = cli(capsys, *command)
        assert code == 2 and out == "", (command, err)
        rtui_only(err)
        assert "only on SSH hosts; lab is a jupyter host (http://127.0.0.1:9/)" in err, err


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (["kernel", "start", "lab", "--slurm"], "--slurm: only on SSH hosts; lab is a jupyter"),
        (["kernel", "start", "lab", "--env", "py311"], "--env: only on SSH hosts"),
        (["run", "lab", "--spyder", "-c", "1"], "--spyder: only on SSH hosts"),
        (["run", "lab", "--connection-file", "k.json", "-c", "1"],
         "--connection-file: only on SSH hosts"),
        (["kernel", "start", "gw", "--kernelspec", "python3"],
         "--kernelspec: only on a Jupyter server or JupyterHub host; gw is an SSH host"),
    ],
)
def test_options_of_the_other_kind_are_refused_before_connecting(
        capsys: pytest.CaptureFixture[str], config_file: Path, command: list[str],
        expected: str) -> None:
    cli(capsys, "hosts", "add", "gw", "--hostname", "127.0.0.1", "--port", "9")
    cli(capsys, "hosts", "add", "lab", "--jupyter-url", "http://127.0.0.1:9/")
    code, out, err = cli(capsys, *command)
    assert (code, out) == (2, ""), err
    assert expected in rtui_only(err)


def test_edit_a_jupyter_host(capsys: pytest.CaptureFixture[str], config_file: Path) -> None:
    cli(capsys, "hosts", "add", "gw", "--hostname", "gw.example.org")
    cli(capsys, "hosts", "add", "lab", "--jupyterhub-url", "http://127.0.0.1:8000/",
        "--token-env", "LAB_TOKEN", "--server", "rtui")
    code, out, err = cli(capsys, "hosts", "edit", "lab", "--url", "https://hub.example.org",
                         "--via", "gw", "--token-command", "pass show hub", "--clear", "server",
                         "--note", "the lab's hub")
    assert code == 0, err
    assert out == "updated lab (https://hub.example.org/ via gw)\n"
    host = HostStore(config_file).load().require("lab")
    assert host.jupyter == JupyterSettings(url="https://hub.example.org/", hub=True, via="gw",
                                           token_command="pass show hub")  # env replaced
    assert host.note == "the lab's hub"
    code, _, err = cli(capsys, "hosts", "edit", "gw", "--token-env", "X")
    assert code == 1 and "--token-env: only for a Jupyter server or JupyterHub host; gw is" in err
    code, _, err = cli(capsys, "hosts", "edit", "lab", "--port", "22")
    assert code == 1 and "host 'lab': port: an SSH setting, not used by a Jupyter host" in err


def test_token_keyring_asks_once_and_keeps_it_there(
        capsys: pytest.CaptureFixture[str], config_file: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import getpass
    import sys

    import keyring

    from tests import memory_keyring

    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "tests.memory_keyring.MemoryKeyring")
    monkeypatch.setattr(keyring.core, "_keyring_backend", None)  # reloaded from the variable
    memory_keyring.clear()
    prompts: list[str] = []
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr(getpass, "getpass", lambda prompt: prompts.append(prompt) or "s3cr3t")
    try:
        code, out, err = cli(capsys, "hosts", "add", "lab", "--jupyter-url", "http://h:8888/",
                             "--token-keyring")
        assert code == 0, err
        assert out.splitlines()[-1] == "the token of lab is in the keyring"
        assert prompts == ["Token for http://h:8888/ (kept in the keyring): "]
        assert keyring.get_password("rtui", "lab") == "s3cr3t"
        assert "s3cr3t" not in config_file.read_text()
        assert HostStore(config_file).load().require("lab").jupyter.token_keyring  # type: ignore[union-attr]
        # No keyring: refused before anything is written.
        monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
        monkeypatch.setattr(keyring.core, "_keyring_backend", None)
        code, _, err = cli(capsys, "hosts", "add", "lab2", "--jupyter-url", "http://h/",
                           "--token-keyring")
        assert code == 1 and "--token-keyring: no OS keyring on this machine" in err
        assert HostStore(config_file).load().get("lab2") is None
    finally:
        memory_keyring.clear()
        keyring.core._keyring_backend = None  # type: ignore[attr-defined]
