"""From the process settings to each room's own options, in the one place that does it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from openagent import wiring
from openagent.config import FileSource
from openagent.config.configmap_source import ConfigMapSource
from openagent.kube import Cluster, KubeOptions
from openagent.scrape import TimestampBounds
from openagent.settings import SettingsError, load_settings
from openagent.shard import MembershipOptions, Ownership, PodMembership, StaticShard

LICENSE = "x6043vk85eq31-x58obg8pgmmpab-x6au9160ojvokf"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("OPENAGENT_", "WHATAP_")) or name in ("POD_NAME", "NODE_NAME"):
            monkeypatch.delenv(name)


async def ignore(_: Any) -> None:
    return None


def test_settings_become_delivery_options(tmp_path: Path) -> None:
    s = load_settings(
        spool_dir=str(tmp_path),
        spool_max_bytes="2GiB",
        spool_fsync="always",
        memory_queue_bytes="16MiB",
        retry_max_backoff="5s",
        retry_after_max="2m",
    )
    o = wiring.delivery_options(s)
    assert o.spool_dir == tmp_path and o.spool_max_bytes == 2 * 1024**3
    assert (o.spool_fsync, o.spool_fsync_interval) == ("always", 1.0)
    assert o.memory_queue_bytes == 16 * 1024**2
    assert o.backoff_max == 5.0 and o.retry_after_max == 120.0
    d = wiring.delivery_options(load_settings())
    assert d.retry_after_max == 30.0
    assert (d.spool_dir, d.spool_fsync, d.memory_queue_bytes) == (None, "interval", 64 * 1024**2)


def test_each_worker_spools_in_its_own_directory(tmp_path: Path) -> None:
    s = load_settings(spool_dir=str(tmp_path), workers="2")
    assert wiring.delivery_options(s, worker=1).spool_dir == tmp_path / "worker-1"
    assert wiring.delivery_options(s).spool_dir == tmp_path
    assert wiring.delivery_options(load_settings(workers="2"), worker=0).spool_dir is None


def test_workers_are_this_package_started_with_the_settings() -> None:
    s = load_settings(workers="3")
    o = wiring.worker_options(s)
    assert o.count == 3 and o.boot is s
    assert o.command[1:] == ("-m", "openagent.worker")
    assert o.env is not None
    root = str(Path(wiring.__file__).resolve().parents[1])
    assert o.env["PYTHONPATH"].split(os.pathsep)[0] == root


def test_workers_are_at_least_one() -> None:
    with pytest.raises(SettingsError, match="OPENAGENT_WORKERS, --workers"):
        load_settings(workers="0")


def test_bad_fsync_policy_names_the_setting_and_flag() -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(spool_fsync="sometimes")
    assert "spool_fsync (OPENAGENT_SPOOL_FSYNC, --spool-fsync)" in str(info.value)


def test_scrape_options_carry_limits_and_seed() -> None:
    s = load_settings(
        sample_limit="500", label_limit="30", body_size_limit="8MiB", POD_NAME="agent-7"
    )
    o = wiring.scrape_options(s)
    assert (o.limits.sample_limit, o.limits.label_limit) == (500, 30)
    assert o.body_size_limit == 8 * 1024**2 and o.seed == "agent-7"


def test_timestamp_bounds_are_settings_handed_to_the_scrape_room(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert wiring.scrape_options(load_settings()).timestamp_bounds == TimestampBounds(3000, 600)
    monkeypatch.setenv("OPENAGENT_TIMESTAMP_MAX_AHEAD", "0")
    s = load_settings(timestamp_max_age="30m")
    assert wiring.scrape_options(s).timestamp_bounds == TimestampBounds(1800, 0)
    with pytest.raises(SettingsError) as info:
        load_settings(timestamp_max_age="-1s")
    assert "--timestamp-max-age" in str(info.value)


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        (None, None, False),
        ("openagent_enable_protobuf", "yes", True),  # the Go agent's name and truth
        ("OPENAGENT_ENABLE_PROTOBUF", "1", True),
        ("OPENAGENT_ENABLE_PROTOBUF", "false", False),
    ],
)
def test_protobuf_negotiation_is_a_setting_off_by_default(
    monkeypatch: pytest.MonkeyPatch, variable: str | None, value: str | None, expected: bool
) -> None:
    if variable is not None and value is not None:
        monkeypatch.setenv(variable, value)
    options = wiring.scrape_options(load_settings())
    assert options.enable_protobuf is expected
    assert options.client().accept.startswith("application/vnd.google.protobuf") is expected
    assert wiring.scrape_options(load_settings(enable_protobuf=True)).enable_protobuf


def test_node_local_discovery_needs_the_node_name() -> None:
    assert wiring.discovery_options(load_settings()).node is None
    assert wiring.discovery_options(load_settings(node_local=True, NODE_NAME="n2")).node == "n2"
    with pytest.raises(ValueError, match="NODE_NAME"):
        wiring.discovery_options(load_settings(node_local=True))


def test_the_config_source_is_the_file_unless_a_configmap_is_named(tmp_path: Path) -> None:
    cluster = Cluster.of(KubeOptions())
    file_source = wiring.config_source(
        load_settings(config=str(tmp_path / "c.yaml")), cluster, ignore, ignore
    )
    assert isinstance(file_source, FileSource) and file_source.name == str(tmp_path / "c.yaml")
    settings = load_settings(
        config_map="agent-config", config_map_key="c.yaml", pod_namespace="team-a"
    )
    source = wiring.config_source(settings, cluster, ignore, ignore)
    assert isinstance(source, ConfigMapSource)
    assert source.name == "configmap team-a/agent-config:c.yaml"
    assert source.informer_key.field_selector == "metadata.name=agent-config"


def test_whatap_options_keep_the_license_out_of_repr_and_the_settings_view() -> None:
    s = load_settings(license=LICENSE, host="10.0.0.1/10.0.0.2", oname="gpu-agent")
    o = wiring.whatap_options(s)
    assert o.license == LICENSE and LICENSE not in repr(o)
    assert o.hosts == ("10.0.0.1", "10.0.0.2") and o.identity_env == {"WHATAP_ONAME": "gpu-agent"}
    assert o.settings_view is not None
    view = o.settings_view()
    assert "license" not in view and not any(LICENSE in v for v in view.values())
    assert view["oname"] == "gpu-agent"


def test_remote_write_options_need_a_url_and_gather_tls() -> None:
    with pytest.raises(ValueError, match="OPENAGENT_REMOTE_WRITE_URL or --remote-write-url"):
        wiring.remote_write_options(load_settings())
    s = load_settings(
        remote_write_url="https://127.0.0.1:9090/api/v1/write",
        remote_write_ca_file="/ca.pem",
        remote_write_server_name="prom",
    )
    o = wiring.remote_write_options(s)
    assert o.tls is not None and (o.tls.ca_file, o.tls.server_name) == ("/ca.pem", "prom")


def test_the_shard_is_live_membership_a_static_index_or_none() -> None:
    cluster = Cluster.of(KubeOptions())
    live = wiring.shard(
        load_settings(
            shard_selector=" app=openagent ", POD_NAME="openagent-1", POD_NAMESPACE="monitoring"
        ),
        cluster,
    )
    assert isinstance(live, PodMembership) and live.current is None
    assert live.options == MembershipOptions("monitoring", "app=openagent", "openagent-1")
    assert str(live.key) == "pods in namespace monitoring (labels app=openagent)"
    ordinal = wiring.shard(load_settings(shard_count="3", POD_NAME="openagent-2"), cluster)
    assert isinstance(ordinal, StaticShard) and ordinal.me == "2"
    given = wiring.shard(load_settings(shard_count="3", shard_index="0", POD_NAME="x-2"), cluster)
    assert given.me == "0"
    alone = wiring.shard(load_settings(POD_NAME="openagent-2"), cluster)
    assert alone.current == Ownership.alone() and alone.me is None


def test_gpu_attribution_is_off_by_default_and_takes_its_allowlists_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cluster = Cluster.of(KubeOptions())
    assert wiring.attribution_options(load_settings()) is None
    assert wiring.attribution(load_settings(), cluster) is None
    monkeypatch.setenv("OPENAGENT_GPU_ATTRIBUTION", "true")
    monkeypatch.setenv("OPENAGENT_ATTRIBUTION_POD_LABELS", "team, app.kubernetes.io/name,team")
    monkeypatch.setenv("OPENAGENT_ATTRIBUTION_NODE_LABELS", '["nvidia.com/gpu.product"]')
    options = wiring.attribution_options(load_settings())
    assert options is not None
    assert options.pod_labels == ("team", "app.kubernetes.io/name")
    assert options.node_labels == ("nvidia.com/gpu.product",)
    assert wiring.attribution(load_settings(), cluster) is not None
    assert wiring.attribution_options(load_settings(gpu_attribution=False)) is None
