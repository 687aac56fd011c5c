"""The host model: validation messages name the host and the field."""

from __future__ import annotations

import dataclasses

import pytest

from rtui.core.config.model import (
    Config,
    Host,
    Settings,
    config_from_data,
    config_to_data,
    host_from_data,
    parse_jump,
)
from rtui.core.errors import ConfigError


def test_minimal_host_has_ssh_defaults() -> None:
    host = host_from_data({"name": "lab"})
    assert host == Host(name="lab")
    assert host.address == "lab:22"


def test_full_host_round_trips_through_toml_data() -> None:
    data = {
        "name": "gpu1",
        "hostname": "gpu1.example.org",
        "port": 2222,
        "user": "alice",
        "identity_files": ["~/.ssh/id_ed25519"],
        "auth_methods": ["publickey", "keyboard-interactive"],
        "jump": ["bastion", "bob@gw.example.org:2200"],
        "python": "/opt/conda/bin/python",
        "tags": ["gpu", "lab"],
        "note": "A100s",
        "host_key_policy": "accept-new",
    }
    config = config_from_data({"hosts": [data]})
    assert config.hosts[0].address == "alice@gpu1.example.org:2222"
    assert config_to_data(config) == {"hosts": [data]}


@pytest.mark.parametrize("hostname", ["::1", "fe80::1%eth0", "10.0.0.7", "gpu-1.lab"])
def test_ipv6_and_plain_hostnames_are_taken(hostname: str) -> None:
    assert config_from_data({"hosts": [{"name": "a", "hostname": hostname}]}).hosts[0]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"name": "a", "port": 70000}, "host 'a': port: must be 1-65535, got 70000"),
        ({"name": "a", "port": "22"}, "host 'a': port: must be a whole number 1-65535"),
        ({"name": "a", "port": True}, "host 'a': port: must be a whole number"),
        ({"name": "a", "colour": "red"}, "host 'a': colour: unknown key"),
        ({"name": "a", "tags": [1]}, "host 'a': tags: must be a list of strings"),
        ({"name": "a", "auth_methods": ["magic"]}, "auth_methods: unknown method 'magic'"),
        ({"name": "a", "jump": ["u@:22"]}, "jump: 'u@:22' has an empty host"),
        ({"name": "a", "jump": ["h:99999"]}, "has a bad port '99999'"),
        ({"name": "a", "user": "x y"}, "user: must be non-empty without spaces"),
        ({"name": "a", "hostname": "h:22"},
         "hostname: 'h:22' holds a port: give hostname = 'h' and port = 22 (--port 22)"),
        ({"name": "a", "hostname": "-oProxyCommand=x"}, "hostname: must not start with '-'"),
        ({"name": "a", "hostname": "h\x1b[2J"}, "must not contain control characters, "
                                                "got 'h\\x1b[2J'"),
        ({"name": "a", "hostname": "u@h"}, "(the login name goes in user)"),
        ({"name": "a", "hostname": "a:b:c"}, "'a:b:c' is neither a host name nor an IP"),
        ({"name": "a b"}, "name: 'a b' is not a usable name"),
        ({"name": "a", "password": "hunter2"}, "secrets are never stored in hosts.toml"),
        ({"hostname": "x"}, "host #1: name: every host needs a name"),
        ({"name": "a", "host_key_policy": "yolo"}, "must be one of ask, accept-new, strict"),
        ({"name": "a", "autoreload": 1}, 'autoreload: must be 2 (reload changed modules before '
                                         'each cell), 3 (also add their new names) or "off", '
                                         "got int 1"),
        ({"name": "a", "autoreload": True}, 'or "off", got true/false (true)'),
        ({"name": "a", "autoreload": "on"}, "got text 'on'"),
        ({"name": "a", "autoreload_exclude": ["torch", "my-pkg"]},
         "autoreload_exclude: 'my-pkg' is not a module name without dots"),
        ({"name": "a", "autoreload_exclude": ["pkg.data"]}, "'pkg.data' is not a module name"),
    ],
)
def test_bad_host_fields_are_named(data: dict[str, object], expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        config_from_data({"hosts": [data]})
    assert expected in str(info.value)


def test_module_reloading_is_mode_2_by_default_and_written_as_one_writes_it() -> None:
    assert Host(name="a").autoreload == "2"
    assert host_from_data({"name": "a", "autoreload": 3}).autoreload == "3"
    assert host_from_data({"name": "a", "autoreload": "3"}).autoreload == "3"
    assert host_from_data({"name": "a", "autoreload": "Off"}).autoreload == "off"
    for value, written in ((3, 3), ("off", "off")):
        data = {"name": "a", "autoreload": value, "autoreload_exclude": ["torch", "pkg_data"]}
        config = config_from_data({"hosts": [data]})
        assert config.hosts[0].autoreload_exclude == ("torch", "pkg_data")
        assert config_to_data(config) == {"hosts": [{**data, "autoreload": written}]}
    # The default is not written: a hosts file stays as short as it was.
    assert config_to_data(config_from_data({"hosts": [{"name": "a", "autoreload": 2}]})) == {
        "hosts": [{"name": "a"}]}


def test_every_problem_is_reported_not_just_the_first() -> None:
    with pytest.raises(ConfigError) as info:
        config_from_data({"hosts": [{"name": "a", "port": 0, "tags": 3}, {"name": "b", "x": 1}]})
    message = str(info.value)
    assert "host 'a': port" in message
    assert "host 'a': tags" in message
    assert "host 'b': x: unknown key" in message


def test_duplicate_names_are_refused() -> None:
    with pytest.raises(ConfigError, match="host 'lab': name: the name is used by more than one"):
        config_from_data({"hosts": [{"name": "lab"}, {"name": "lab", "port": 2}]})


def test_jump_loops_are_refused_and_the_loop_is_shown() -> None:
    hosts = [
        {"name": "a", "jump": ["b"]},
        {"name": "b", "jump": ["c"]},
        {"name": "c", "jump": ["a"]},
        {"name": "d", "jump": ["a"]},  # leads into the loop but is not on it
    ]
    with pytest.raises(ConfigError) as info:
        config_from_data({"hosts": hosts})
    message = str(info.value)
    assert "host 'a': jump: jump chain loops: a -> b -> c -> a" in message
    assert "host 'd'" not in message


def test_self_jump_is_a_loop() -> None:
    with pytest.raises(ConfigError, match="jump chain loops: a -> a"):
        config_from_data({"hosts": [{"name": "a", "jump": ["a"]}]})


def test_jump_to_an_inline_address_is_not_a_loop() -> None:
    config = config_from_data({"hosts": [{"name": "a", "jump": ["a.example.org", "u@b:2"]}]})
    assert config.hosts[0].jump == ("a.example.org", "u@b:2")


def test_settings_are_typed_and_checked() -> None:
    config = config_from_data({"settings": {"check_timeout": 2, "check_concurrency": 4}})
    assert config.settings.check_timeout == 2.0
    assert config.settings.check_concurrency == 4
    with pytest.raises(ConfigError) as info:
        config_from_data({"settings": {"check_concurrency": 1.5, "nope": 1, "check_timeout": -1}})
    message = str(info.value)
    assert "settings.check_concurrency: must be a whole number" in message
    assert "settings.nope: unknown setting" in message
    assert "settings.check_timeout: must be greater than 0" in message


def test_band_scroll_is_a_checked_switch() -> None:
    assert Settings().band_scroll is True
    config = config_from_data({"settings": {"band_scroll": False}})
    assert config.settings.band_scroll is False
    assert config_to_data(config)["settings"] == {"band_scroll": False}
    assert "settings" not in config_to_data(config_from_data({"settings": {"band_scroll": True}}))
    with pytest.raises(ConfigError) as info:
        config_from_data({"settings": {"band_scroll": "no"}})
    assert "settings.band_scroll: must be true or false, got text 'no'" in str(info.value)
    with pytest.raises(ConfigError) as info:
        config_from_data({"settings": {"band_scroll": 0}})
    assert "settings.band_scroll: must be true or false, got int 0" in str(info.value)


def test_unknown_top_level_key() -> None:
    with pytest.raises(ConfigError, match="unknown top-level key 'host'"):
        config_from_data({"host": []})


@pytest.mark.parametrize(
    ("spec", "user", "host", "port"),
    [
        ("bastion", None, "bastion", None),
        ("bob@gw", "bob", "gw", None),
        ("bob@gw:2200", "bob", "gw", 2200),
        ("ssh://bob@gw:2200", "bob", "gw", 2200),
        ("[::1]:2222", None, "::1", 2222),
        ("a@b@c", "a@b", "c", None),
    ],
)
def test_parse_jump(spec: str, user: str | None, host: str, port: int | None) -> None:
    hop = parse_jump(spec)
    assert (hop.user, hop.host, hop.port) == (user, host, port)


def test_config_with_and_without_host() -> None:
    config = Config().with_host(Host("a")).with_host(Host("b"))
    config = config.with_host(Host("a", port=2))
    assert [h.name for h in config.hosts] == ["a", "b"]
    assert config.require("a").port == 2
    assert config.without_host("a").get("a") is None
    with pytest.raises(ConfigError, match="no host named 'zz' \\(known: a, b\\)"):
        config.require("zz")


def test_reconnect_give_up_is_finite_and_in_range() -> None:
    assert Settings().reconnect_give_up == 60.0
    config = config_from_data({"settings": {"reconnect_give_up": 5}})
    assert config.settings.reconnect_give_up == 5.0
    assert config_to_data(config)["settings"] == {"reconnect_give_up": 5.0}
    in_range = "must be greater than 0 and at most 86400 s"
    for value, said in ((float("inf"), f"{in_range}, got inf"),
                        (float("nan"), f"{in_range}, got nan"),
                        (0, f"{in_range}, got 0"),
                        (-3.5, f"{in_range}, got -3.5"),
                        (86_401, f"{in_range}, got 86401"),
                        ("60", "must be a number, got text '60'")):
        with pytest.raises(ConfigError) as info:
            config_from_data({"settings": {"reconnect_give_up": value}})
        assert f"settings.reconnect_give_up: {said}" in str(info.value), str(info.value)
    with pytest.raises(ConfigError) as info:  # every number setting is finite
        config_from_data({"settings": {"connect_timeout": float("inf")}})
    assert ("settings.connect_timeout: must be greater than 0 and at most 3600 s, got inf"
            in str(info.value))


_NUMBER_SETTINGS = {  # each number setting: (a good value, the range its message names)
    "connect_timeout": (0.5, "greater than 0 and at most 3600 s"),
    "check_timeout": (30, "greater than 0 and at most 3600 s"),
    "check_concurrency": (8, "a whole number 1-1024"),
    "keepalive_interval": (15, "greater than 0 and at most 3600 s"),
    "keepalive_count_max": (5, "a whole number 1-1000"),
    "reconnect_max_delay": (120, "greater than 0 and at most 3600 s"),
    "reconnect_give_up": (600, "greater than 0 and at most 86400 s"),
    "console_max_lines": (1_000_000, "a whole number 1-10000000 lines"),
    "output_buffer_mb": (256, "greater than 0 and at most 16384 MB"),
}


def test_every_number_setting_has_a_stated_range() -> None:
    numbers = {f.name for f in dataclasses.fields(Settings)
               if isinstance(f.default, (int, float)) and not isinstance(f.default, bool)}
    assert numbers == set(_NUMBER_SETTINGS)


@pytest.mark.parametrize("key", list(_NUMBER_SETTINGS))
def test_number_settings_are_finite_and_in_range(key: str) -> None:
    good, in_range = _NUMBER_SETTINGS[key]
    assert getattr(config_from_data({"settings": {key: good}}).settings, key) == good
    for bad in (float("nan"), float("inf"), float("-inf"), 0, -1, 10**30, 1e300):
        with pytest.raises(ConfigError) as info:
            config_from_data({"settings": {key: bad}})
        assert str(info.value) == f"settings.{key}: must be {in_range}, got {bad!r}"


def test_keepalive_nan_never_reaches_the_connection() -> None:
    """``keepalive_interval = nan`` made ``rtui run`` die in asyncssh; it is refused here."""
    with pytest.raises(ConfigError, match="keepalive_interval: must be greater than 0"):
        config_from_data({"settings": {"keepalive_interval": float("nan")}})


@pytest.mark.parametrize("key", ["start_timeout", "connect_timeout"])
def test_jupyter_timeouts_take_no_huge_integer(key: str) -> None:
    for bad in (10**400, float("nan"), 0):
        with pytest.raises(ConfigError, match=f"jupyter.{key}: must be greater than 0 and at "
                                              "most 86400 s"):
            config_from_data({"hosts": [{"name": "j", "jupyter": {
                "url": "http://127.0.0.1:8888/", key: bad}}]})
