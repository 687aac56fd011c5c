"""A host's ``jupyter`` table: checked key by key (each bad value named with its key and, in the
file, its line), round-tripped through hosts.toml, the host's kind, the cross-host rules of
``via``, and the token that is never a key."""

from __future__ import annotations

from pathlib import Path

import pytest

from rtui.core.config.model import Host, config_from_data, config_to_data
from rtui.core.config.store import HostStore
from rtui.core.errors import ConfigError
from rtui.core.jupyter.settings import JUPYTER_KEYS, JupyterSettings

FULL = {
    "url": "https://lab.example.org/base/",
    "hub": True,
    "server": "rtui",
    "via": "login1",
    "token_env": "LAB_TOKEN",
    "token_keyring": True,
    "ca_file": "~/.config/rtui/lab-ca.pem",
    "start_timeout": 60,
    "connect_timeout": 5.5,
}


def test_every_field_is_a_key_of_the_table() -> None:
    assert set(JUPYTER_KEYS) == set(JupyterSettings.__dataclass_fields__)


def test_full_table_round_trips_through_hosts_toml(tmp_path: Path) -> None:
    store = HostStore(tmp_path / "hosts.toml")
    settings = JupyterSettings.from_toml(FULL)
    assert settings.start_timeout == 60.0 and settings.hub and settings.server == "rtui"
    store.update(lambda c: c.add_host(Host(name="login1", hostname="10.0.0.1")))
    store.update(lambda c: c.add_host(Host(name="lab", jupyter=settings, tags=("gpu",))))
    path = tmp_path / "hosts.toml"
    text = path.read_text()
    assert "[hosts.jupyter]" in text and 'url = "https://lab.example.org/base/"' in text
    assert "start_timeout = 60\n" in text and "token_command" not in text
    assert path.stat().st_mode & 0o777 == 0o600  # written as every change is: atomic, 0600
    loaded = store.load()
    lab = loaded.require("lab")
    assert lab.jupyter == settings and lab.kind == "jupyterhub" and lab.tags == ("gpu",)
    assert loaded.require("login1").jupyter is None and loaded.require("login1").kind == "ssh"
    assert config_to_data(loaded)["hosts"][1]["jupyter"] == FULL


def test_a_plain_server_keeps_only_its_url_and_the_url_ends_in_a_slash() -> None:
    settings = JupyterSettings.from_toml({"url": " http://127.0.0.1:8888 "})
    assert settings.url == "http://127.0.0.1:8888/"
    assert settings.to_toml() == {"url": "http://127.0.0.1:8888/"}
    host = Host(name="lab", jupyter=settings)
    assert host.kind == "jupyter" and host.address == "http://127.0.0.1:8888/"
    assert Host(name="x", jupyter=JupyterSettings(url="http://h/", via="gw")).address == (
        "http://h/ via gw")


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("url", "ftp://lab/", "jupyter.url: 'ftp://lab/' is not an http:// or https:// URL"),
        ("url", "lab.org", "jupyter.url: 'lab.org' is not an http:// or https:// URL"),
        ("url", "https://a:pw@lab/", "jupyter.url: 'https://a:pw@lab/' holds a user or "
                                     "password: secrets are never stored"),
        ("url", "https://lab/?token=abc", "jupyter.url: 'https://lab/?token=abc' has a query "
                                          "or fragment (a ?token=... never belongs"),
        ("url", "http://lab:99999/", "jupyter.url: 'http://lab:99999/' has a bad port"),
        ("url", 8888, "jupyter.url: must be text, got int 8888"),
        ("hub", "yes", "jupyter.hub: must be true or false, got text 'yes'"),
        ("via", "", "jupyter.via: must not be empty"),
        ("token_env", "LAB-TOKEN", "jupyter.token_env: 'LAB-TOKEN' is not an environment"),
        ("token_command", "pass 'open", "jupyter.token_command: 'pass 'open' cannot be split"),
        ("token_keyring", 1, "jupyter.token_keyring: must be true or false, got int 1"),
        ("start_timeout", 0, "jupyter.start_timeout: must be greater than 0"),
        ("connect_timeout", "5", "jupyter.connect_timeout: must be a number of seconds"),
        ("token", "abc", "jupyter.token: secrets are never stored in hosts.toml"),
        ("password", "abc", "jupyter.password: secrets are never stored in hosts.toml"),
        ("kernel", "python3", "jupyter.kernel: unknown key (known: url, hub, server, via"),
    ],
)
def test_each_bad_value_is_named_with_its_key(key: str, value: object, expected: str) -> None:
    table = {"url": "http://lab/", key: value}
    with pytest.raises(ConfigError) as info:
        JupyterSettings.from_toml(table)
    assert expected in str(info.value)
    assert [p.field for p in info.value.problems] == [f"jupyter.{key}"]
    with pytest.raises(ConfigError) as in_host:
        config_from_data({"hosts": [{"name": "lab", "jupyter": table}]})
    assert f"host 'lab': {expected}" in str(in_host.value)


def test_combinations_that_cannot_be_meant_are_named() -> None:
    with pytest.raises(ConfigError) as info:
        JupyterSettings.from_toml({"hub": True})
    assert "jupyter.url: missing" in str(info.value)
    with pytest.raises(ConfigError, match=r"jupyter.token_command: set token_env or "
                                          r"token_command, not both"):
        JupyterSettings.from_toml({"url": "http://lab/", "token_env": "T",
                                   "token_command": "pass show lab"})
    with pytest.raises(ConfigError, match=r"jupyter.server: a named server is a JupyterHub's"):
        JupyterSettings.from_toml({"url": "http://lab/", "server": "rtui"})
    with pytest.raises(ConfigError, match=r"host 'lab': jupyter: must be a table with a url"):
        config_from_data({"hosts": [{"name": "lab", "jupyter": "http://lab/"}]})


def test_token_stays_a_rejected_secret_while_its_sources_are_keys() -> None:
    with pytest.raises(ConfigError, match=r"host 'lab': token: secrets are never stored"):
        config_from_data({"hosts": [{"name": "lab", "token": "abc",
                                     "jupyter": {"url": "http://lab/"}}]})
    config = config_from_data({"hosts": [
        {"name": "a", "jupyter": {"url": "http://a/", "token_env": "A_TOKEN"}},
        {"name": "b", "jupyter": {"url": "http://b/", "token_command": "pass show b"}}]})
    assert config.require("a").jupyter == JupyterSettings(url="http://a/", token_env="A_TOKEN")
    assert config.require("b").jupyter.token_command == "pass show b"  # type: ignore[union-attr]


def test_ssh_settings_on_a_jupyter_host_are_named() -> None:
    with pytest.raises(ConfigError) as info:
        config_from_data({"hosts": [{"name": "lab", "hostname": "lab.org", "port": 22,
                                     "slurm": {}, "python": "python3", "note": "ok",
                                     "jupyter": {"url": "http://lab/"}}]})
    assert sorted(p.field or "" for p in info.value.problems) == [
        "hostname", "port", "python", "slurm"]
    assert "host 'lab': hostname: an SSH setting, not used by a Jupyter host" in str(info.value)


def test_via_names_an_ssh_host_of_the_file() -> None:
    jupyter = {"url": "http://127.0.0.1:8888/", "via": "gw"}
    ok = config_from_data({"hosts": [{"name": "gw"}, {"name": "lab", "jupyter": jupyter}]})
    assert ok.require("lab").jupyter.via == "gw"  # type: ignore[union-attr]
    with pytest.raises(ConfigError, match=r"host 'lab': jupyter.via: no SSH host named 'gw' "
                                          r"in this file \(SSH hosts: other\)"):
        config_from_data({"hosts": [{"name": "other"}, {"name": "lab", "jupyter": jupyter}]})
    with pytest.raises(ConfigError, match=r"host 'lab': jupyter.via: 'gw' is a jupyter host; "
                                          r"via names an SSH host"):
        config_from_data({"hosts": [{"name": "gw", "jupyter": {"url": "http://gw/"}},
                                    {"name": "lab", "jupyter": jupyter}]})
    with pytest.raises(ConfigError, match=r"'lab' is a jupyter host"):
        config_from_data({"hosts": [
            {"name": "lab", "jupyter": {**jupyter, "via": "lab"}}]})


def test_a_bad_key_in_the_file_points_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "hosts.toml"
    path.write_text('[[hosts]]\nname = "gw"\n\n[[hosts]]\nname = "lab"\nhostname = "x"\n\n'
                    '[hosts.jupyter]\nurl = "http://lab/"\nvia = "nowhere"\nhub = "no"\n')
    with pytest.raises(ConfigError) as info:
        HostStore(path).load()
    text = str(info.value)
    assert f"{path} line 11: host 'lab': jupyter.hub: must be true or false" in text
    assert f"{path} line 6: host 'lab': hostname: an SSH setting" in text
    # The cross-host rule, once the host itself is well formed, points at via's line.
    path.write_text('[[hosts]]\nname = "lab"\n\n[hosts.jupyter]\nurl = "http://lab/"\n'
                    'via = "nowhere"\n')
    with pytest.raises(ConfigError, match=rf"{path} line 6: host 'lab': jupyter.via: no SSH "):
        HostStore(path).load()
