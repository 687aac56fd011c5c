"""A host's ``slurm`` table: checked key by key (every bad value named with its key and what
it allows), round-tripped through hosts.toml, overridden per console or command, and handed
to the agent as slurm_submit's argument."""

from __future__ import annotations

from pathlib import Path

import pytest

from rtui.core.config.model import Config, Host, config_from_data, config_to_data
from rtui.core.config.store import HostStore
from rtui.core.errors import ConfigError
from rtui.core.slurm.settings import SLURM_KEYS, SlurmSettings, time_seconds

FULL = {
    "partition": "gpu",
    "account": "proj42",
    "qos": "normal",
    "time": "02:00:00",
    "cpus": 4,
    "mem": "16G",
    "gpus": "a100:2",
    "gres": "gpu:1",
    "reservation": "lab",
    "extra": ["--exclusive", "--constraint=avx2"],
    "setup": ["module load python/3.11", "export OMP_NUM_THREADS=4"],
}


def test_every_field_is_a_key_of_the_table() -> None:
    assert set(SLURM_KEYS) == set(SlurmSettings.__dataclass_fields__)
    assert set(FULL) == set(SLURM_KEYS)


def test_full_table_round_trips_through_hosts_toml(tmp_path: Path) -> None:
    store = HostStore(tmp_path / "hosts.toml")
    settings = SlurmSettings.from_toml(FULL)
    assert settings.extra == ("--exclusive", "--constraint=avx2") and settings.cpus == 4
    store.update(lambda c: c.add_host(Host(name="cluster", slurm=settings)))
    store.update(lambda c: c.add_host(Host(name="plain")))
    text = (tmp_path / "hosts.toml").read_text()
    assert "[hosts.slurm]" in text and 'partition = "gpu"' in text and "cpus = 4" in text
    loaded = store.load()
    assert loaded.require("cluster").slurm == settings
    assert loaded.require("plain").slurm is None  # no table: not a SLURM login node
    assert config_to_data(loaded)["hosts"][0]["slurm"] == FULL


def test_an_empty_table_still_makes_a_login_node(tmp_path: Path) -> None:
    store = HostStore(tmp_path / "hosts.toml")
    store.update(lambda c: c.add_host(Host(name="cluster", slurm=SlurmSettings())))
    assert store.load().require("cluster").slurm == SlurmSettings()
    data = config_to_data(config_from_data({"hosts": [{"name": "c", "slurm": {}}]}))
    assert data == {"hosts": [{"name": "c", "slurm": {}}]}


def test_only_set_keys_are_written_and_sent() -> None:
    settings = SlurmSettings(partition="debug", time="10", setup=("module load x",))
    expected = {"partition": "debug", "time": "10", "setup": ["module load x"]}
    assert settings.to_toml() == expected
    assert settings.to_agent() == expected
    assert SlurmSettings().to_agent() == {}


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("partition", "gpu a100", "slurm.partition: 'gpu a100' is not a usable partition name"),
        ("partition", 3, "slurm.partition: must be text, got int 3"),
        ("partition", "", "slurm.partition: must not be empty"),
        ("account", "proj;rm", "slurm.account: 'proj;rm' is not a usable account name"),
        ("qos", "high prio", "slurm.qos: 'high prio' is not a usable qos name"),
        ("reservation", "lab$", "slurm.reservation: 'lab$' is not a usable reservation name"),
        ("time", "2h", "slurm.time: '2h' is not a time (sbatch's formats: MM, MM:SS"),
        ("time", "1:99", "slurm.time: '1:99' has minutes or seconds over 59"),
        ("time", "1-30", "slurm.time: '1-30' has 30 hours after the days (0-23)"),
        ("time", 60, "slurm.time: must be text, got int 60"),
        ("cpus", 0, "slurm.cpus: must be 1-100000, got 0"),
        ("cpus", "four", "slurm.cpus: must be a whole number 1-100000, got text 'four'"),
        ("cpus", True, "slurm.cpus: must be a whole number 1-100000, got true/false"),
        ("cpus", 2.5, "slurm.cpus: must be a whole number 1-100000, got float 2.5"),
        ("mem", "16GB", "slurm.mem: '16GB' is not an amount of memory"),
        ("gpus", "two", "slurm.gpus: 'two' is not a GPU count"),
        ("gres", "gpu 1", "slurm.gres: 'gpu 1' is not a generic resource list"),
        ("extra", ["exclusive"], "slurm.extra: 'exclusive' is not an sbatch option"),
        ("extra", [1], "slurm.extra: must be a list of text lines, got a list"),
        ("setup", ["a\nb"], "slurm.setup: every item must be one non-empty line"),
        ("setup", [""], "slurm.setup: every item must be one non-empty line"),
        ("nodes", 2, "slurm.nodes: unknown key (known: partition, account, qos, time, cpus"),
    ],
)
def test_each_bad_value_is_named_with_its_key(key: str, value: object, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        SlurmSettings.from_toml({key: value})
    assert expected in str(info.value)
    assert [p.field for p in info.value.problems] == [f"slurm.{key}"]
    # The same table in hosts.toml: the host is named too.
    with pytest.raises(ConfigError) as in_host:
        config_from_data({"hosts": [{"name": "cluster", "slurm": {key: value}}]})
    assert f"host 'cluster': {expected}" in str(in_host.value)


def test_every_problem_of_a_table_is_told_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        config_from_data({"hosts": [{"name": "c", "slurm": {"cpus": -1, "mem": "x"}}]})
    assert [p.field for p in info.value.problems] == ["slurm.cpus", "slurm.mem"]


def test_a_slurm_value_that_is_no_table_is_named() -> None:
    with pytest.raises(ConfigError, match=r"host 'c': slurm: must be a table of job settings"):
        config_from_data({"hosts": [{"name": "c", "slurm": "gpu"}]})
    with pytest.raises(ConfigError, match=r"slurm: must be a table"):
        SlurmSettings.from_toml("gpu")  # type: ignore[arg-type]


def test_a_bad_key_in_the_file_points_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "hosts.toml"
    path.write_text('[[hosts]]\nname = "a"\n\n[[hosts]]\nname = "cluster"\n\n'
                    '[hosts.slurm]\npartition = "gpu"\ntime = "2 hours"\n')
    with pytest.raises(ConfigError) as info:
        HostStore(path).load()
    assert f"{path} line 9: host 'cluster': slurm.time: '2 hours' is not a time" in str(
        info.value)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30", 30 * 60),
        ("0", 0),
        ("90", 90 * 60),
        ("5:30", 5 * 60 + 30),
        ("02:00:00", 7200),
        ("100:00:00", 360_000),
        ("1-0", 86_400),
        ("2-12", 2 * 86_400 + 12 * 3600),
        ("1-02:30", 86_400 + 2 * 3600 + 30 * 60),
        ("1-02:30:15", 86_400 + 2 * 3600 + 30 * 60 + 15),
    ],
)
def test_sbatch_time_formats(text: str, seconds: int) -> None:
    assert time_seconds(text) == seconds
    assert SlurmSettings.from_toml({"time": text}).time_seconds == seconds


@pytest.mark.parametrize("text", ["", "1:2:3:4", "-5", "1-", "1-2-3", "01:60", "1:00:60",
                                  "a", "1.5"])
def test_times_sbatch_would_refuse_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"sbatch's formats|over 59"):
        time_seconds(text)


def test_overrides_merge_over_the_hosts_table() -> None:
    host = SlurmSettings.from_toml(FULL)
    merged = host.merged(partition="debug", time="10", cpus="8", extra=None, qos=None)
    assert merged.partition == "debug" and merged.time == "10" and merged.cpus == 8
    assert merged.account == "proj42" and merged.qos == "normal"  # None keeps the host's
    assert merged.extra == ("--exclusive", "--constraint=avx2")
    cleared = host.merged(account="", extra=[], gpus="")
    assert cleared.account is None and cleared.extra == () and cleared.gpus is None
    assert host.merged() == host
    assert SlurmSettings().merged(mem="2G").to_agent() == {"mem": "2G"}


def test_a_bad_override_is_named_with_its_key() -> None:
    with pytest.raises(ConfigError, match=r"slurm.time: '2h' is not a time"):
        SlurmSettings().merged(time="2h")
    with pytest.raises(ConfigError, match=r"slurm.cpus: must be 1-100000, got 0"):
        SlurmSettings(cpus=2).merged(cpus=0)


def test_summary_says_what_is_asked_for() -> None:
    assert SlurmSettings().summary() == "the cluster's defaults"
    assert SlurmSettings(partition="gpu", time="2:00:00", cpus=4).summary() == (
        "partition gpu, time 2:00:00, 4 CPUs")


def test_config_keeps_hosts_without_a_table_unchanged() -> None:
    config = config_from_data({"hosts": [{"name": "a"}]})
    assert config == Config(hosts=(Host(name="a"),))
    assert config_to_data(config) == {"hosts": [{"name": "a"}]}
