"""Process settings from the environment and flag overrides."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from openagent.settings import Settings, SettingsError, load_settings, parse_listen

LICENSE = "x4t2l0-sekrit-license-value"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start every test without any variable the settings read."""
    for name in list(os.environ):
        if name.startswith(("OPENAGENT_", "WHATAP_")) or name in (
            "KUBECONFIG",
            "POD_NAME",
            "NODE_NAME",
            "NODE_IP",
            "POD_NAMESPACE",
        ):
            monkeypatch.delenv(name)


def test_defaults() -> None:
    s = load_settings()
    assert s.license is None and s.host is None and s.port == 6600
    assert s.config == Path("scrape_config.yaml")
    assert s.listen == ":9401" and s.listen_host is None and s.listen_port == 9401
    assert s.sinks == ["jsonl"]
    assert s.jsonl_path == "-"
    assert (s.log_level, s.log_format) == ("info", "auto")
    assert s.sample_limit == 200_000
    assert s.body_size_limit == 64 * 1024 * 1024
    assert (s.label_limit, s.label_name_length_limit, s.label_value_length_limit) == (0, 0, 0)
    assert s.reload_interval == 1.0
    assert s.spool_dir is None and s.spool_max_bytes == 1024**3
    assert s.kubeconfig is None
    assert (s.shard_index, s.shard_count, s.shard_selector) == (None, 1, None)
    assert s.workers == 1
    assert (s.pod_name, s.node_name, s.node_ip, s.pod_namespace) == (None, None, None, None)
    assert s.whatap_hosts == ()


def test_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "WHATAP_LICENSE": LICENSE,
        "WHATAP_HOST": "10.0.0.1/10.0.0.2,10.0.0.3",
        "WHATAP_PORT": "6700",
        "OPENAGENT_CONFIG": "/app/scrape_config.yaml",
        "OPENAGENT_LISTEN": "[::]:9090",
        "OPENAGENT_SINKS": "whatap, JSONL,whatap",
        "OPENAGENT_JSONL_PATH": "/tmp/out.jsonl",
        "OPENAGENT_LOG_LEVEL": "WARN",
        "OPENAGENT_LOG_FORMAT": "json",
        "OPENAGENT_SAMPLE_LIMIT": "5000",
        "OPENAGENT_BODY_SIZE_LIMIT": "16MiB",
        "OPENAGENT_LABEL_LIMIT": "64",
        "OPENAGENT_LABEL_NAME_LENGTH_LIMIT": "128",
        "OPENAGENT_LABEL_VALUE_LENGTH_LIMIT": "1024",
        "OPENAGENT_RELOAD_INTERVAL": "500ms",
        "OPENAGENT_SPOOL_DIR": "/var/spool/openagent",
        "OPENAGENT_SPOOL_MAX_BYTES": "2GiB",
        "KUBECONFIG": "/home/u/.kube/config",
        "OPENAGENT_SHARD_INDEX": "1",
        "OPENAGENT_SHARD_COUNT": "3",
        "OPENAGENT_WORKERS": "4",
        "POD_NAME": "openagent-1",
        "NODE_NAME": "gpu-node-7",
        "NODE_IP": "10.1.2.3",
        "POD_NAMESPACE": "whatap-monitoring",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    s = load_settings()
    assert s.license is not None and s.license.get_secret_value() == LICENSE
    assert s.whatap_hosts == ("10.0.0.1", "10.0.0.2", "10.0.0.3")
    assert s.port == 6700
    assert s.config == Path("/app/scrape_config.yaml")
    assert (s.listen_host, s.listen_port) == ("::", 9090)
    assert s.sinks == ["whatap", "jsonl"]
    assert s.jsonl_path == "/tmp/out.jsonl"
    assert (s.log_level, s.log_format) == ("warning", "json")
    assert (s.sample_limit, s.body_size_limit) == (5000, 16 * 1024**2)
    assert (s.label_limit, s.label_name_length_limit, s.label_value_length_limit) == (64, 128, 1024)
    assert s.reload_interval == 0.5
    assert s.spool_dir == Path("/var/spool/openagent") and s.spool_max_bytes == 2 * 1024**3
    assert s.kubeconfig == Path("/home/u/.kube/config")
    assert (s.shard_index, s.shard_count) == (1, 3)
    assert s.workers == 4
    assert (s.pod_name, s.node_name, s.node_ip, s.pod_namespace) == (
        "openagent-1",
        "gpu-node-7",
        "10.1.2.3",
        "whatap-monitoring",
    )


def test_prefixed_kubeconfig_wins_and_lists_take_the_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", f"/a/config{os.pathsep}/b/config")
    assert load_settings().kubeconfig == Path("/a/config")
    monkeypatch.setenv("OPENAGENT_KUBECONFIG", "/c/config")
    assert load_settings().kubeconfig == Path("/c/config")


def test_unprefixed_names_are_not_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LICENSE", "nope")
    monkeypatch.setenv("LISTEN", "1.2.3.4:1")
    monkeypatch.setenv("OPENAGENT_LICENSE", "nope")
    s = load_settings()
    assert s.license is None and s.listen == ":9401"


def test_empty_variables_count_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WHATAP_PORT", "")
    monkeypatch.setenv("WHATAP_HOST", "")
    monkeypatch.setenv("OPENAGENT_LISTEN", "")
    s = load_settings()
    assert (s.port, s.host, s.listen) == (6600, None, ":9401")


def test_overrides_win_over_environment_and_none_is_ignored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAGENT_LISTEN", "127.0.0.1:1000")
    monkeypatch.setenv("OPENAGENT_LOG_LEVEL", "debug")
    monkeypatch.setenv("WHATAP_LICENSE", "from-env")
    s = load_settings(
        listen="127.0.0.1:2000", log_level=None, license=LICENSE, config=Path("/x.yaml")
    )
    assert s.listen_port == 2000
    assert s.log_level == "debug"
    assert s.license is not None and s.license.get_secret_value() == LICENSE
    assert s.config == Path("/x.yaml")


def test_json_list_for_sinks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAGENT_SINKS", '["remote_write", "jsonl"]')
    assert load_settings().sinks == ["remote_write", "jsonl"]
    assert load_settings(sinks=["whatap"]).sinks == ["whatap"]


def test_license_never_shows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WHATAP_LICENSE", LICENSE)
    s = load_settings()
    for text in (repr(s), str(s), s.model_dump_json(), str(s.model_dump())):
        assert LICENSE not in text
    assert "**********" in repr(s)
    with pytest.raises(SettingsError) as info:
        load_settings(sample_limit=-1)
    assert LICENSE not in str(info.value)


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [
        (":9401", None, 9401),
        ("*:9401", None, 9401),
        ("9401", None, 9401),
        ("0.0.0.0:80", "0.0.0.0", 80),
        ("127.0.0.1:0", "127.0.0.1", 0),
        ("localhost:8080", "localhost", 8080),
        ("[::]:9090", "::", 9090),
        ("[::1]:9090", "::1", 9090),
    ],
)
def test_parse_listen(text: str, host: str | None, port: int) -> None:
    assert parse_listen(text) == (host, port)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("abc", "expected host:port such as ':9401', '127.0.0.1:9401' or '[::1]:9401', got 'abc'"),
        ("::1:80", "an IPv6 host needs brackets, such as '[::1]:9401', got '::1:80'"),
        (
            "[::1]",
            "expected host:port such as ':9401', '127.0.0.1:9401' or '[::1]:9401', got '[::1]'",
        ),
        (
            "[nope]:80",
            "expected host:port such as ':9401', '127.0.0.1:9401' or '[::1]:9401', got '[nope]:80'",
        ),
        (
            "host:70000",
            "expected host:port such as ':9401', '127.0.0.1:9401' or '[::1]:9401' (port 0-65535), "
            "got 'host:70000'",
        ),
    ],
)
def test_bad_listen(text: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_listen(text)
    assert str(info.value) == message


def test_errors_name_variable_and_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAGENT_SAMPLE_LIMIT", "lots")
    monkeypatch.setenv("WHATAP_PORT", "0")
    monkeypatch.setenv("OPENAGENT_SHARD_INDEX", "2")
    with pytest.raises(SettingsError) as info:
        load_settings(
            listen="nowhere",
            sinks="jsonl,carrier-pigeon",
            log_level="loud",
            body_size_limit="3 parsecs",
            reload_interval="0s",
            spool_max_bytes=0,
            label_limit=-5,
            remote_write_url="localhost:8428/api/v1/write",
        )
    assert info.value.problems == [  # in the order the settings are declared
        "port (WHATAP_PORT, --port): must be at least 1, got '0'",
        "reload_interval (OPENAGENT_RELOAD_INTERVAL, --reload-interval): must be greater than 0, "
        "got '0s'",
        "listen (OPENAGENT_LISTEN, --listen): expected host:port such as ':9401', "
        "'127.0.0.1:9401' or '[::1]:9401', got 'nowhere'",
        "log_level (OPENAGENT_LOG_LEVEL, --log-level): expected one of debug, info, warning, "
        "error, critical, got 'loud'",
        "sinks (OPENAGENT_SINKS, --sinks): unknown sink 'carrier-pigeon'; known: whatap, "
        "remote_write, jsonl",
        "remote_write_url (OPENAGENT_REMOTE_WRITE_URL, --remote-write-url): expected an "
        "http:// or https:// URL, got 'localhost:8428/api/v1/write'",
        "sample_limit (OPENAGENT_SAMPLE_LIMIT, --sample-limit): expected an integer, got 'lots'",
        "body_size_limit (OPENAGENT_BODY_SIZE_LIMIT, --body-size-limit): '3 parsecs' is not a "
        "size: use bytes or a number with B, KiB, MiB, GiB, TiB, kB, MB, GB or TB",
        "label_limit (OPENAGENT_LABEL_LIMIT, --label-limit): must be at least 0, got -5",
        "spool_max_bytes (OPENAGENT_SPOOL_MAX_BYTES, --spool-max-bytes): must be greater than 0, "
        "got 0",
        "shard_count (OPENAGENT_SHARD_COUNT, --shard-count): shard_index 2 must be below "
        "shard_count 1",
    ]
    assert str(info.value).startswith("invalid settings:\n  port (WHATAP_PORT, --port)")


def test_unknown_override_is_an_error() -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(listne=":1")
    assert info.value.problems == ["unknown setting 'listne'"]


def test_settings_are_frozen() -> None:
    s = load_settings()
    with pytest.raises(ValueError):
        s.port = 1
    assert isinstance(s, Settings)


def test_the_shard_selector_comes_from_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAGENT_SHARD_SELECTOR", "app.kubernetes.io/name=openagent")
    assert load_settings().shard_selector == "app.kubernetes.io/name=openagent"
    assert load_settings(shard_selector="app=x").shard_selector == "app=x"  # the flag wins
