"""The agent's pod in every overlay: what it runs, how it is hardened, probed, mounted and sized."""

from __future__ import annotations

from pathlib import Path

import pytest

from openagent.config.units import parse_size
from tests.deploy.agent_settings import agent_settings, unknown_args, unknown_env_names
from tests.deploy.quantity import quantity
from tests.deploy.rendered import (
    CONFIG_PATH,
    OVERLAYS,
    SPOOL_PATH,
    container,
    env,
    one,
    pod_spec,
    render,
    workload,
)

SINKS = {
    "single": ["whatap"],
    "sharded": ["whatap"],
    "node-local": ["whatap"],
    "remote-write": ["remote_write"],
}
DOWNWARD_API = {
    "POD_NAME": "metadata.name",
    "POD_NAMESPACE": "metadata.namespace",
    "NODE_NAME": "spec.nodeName",
    "NODE_IP": "status.hostIP",
}
CREDENTIALS = ("WHATAP_LICENSE", "WHATAP_HOST", "WHATAP_PORT")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_arg_and_env_name_is_one_the_agent_knows(overlay: str) -> None:
    assert unknown_args(container(overlay)["args"]) == []
    assert unknown_env_names(env(overlay)) == []


def test_a_misspelt_flag_or_variable_would_be_caught() -> None:
    assert unknown_args(["run", "--spool-dri", "/x"]) == ["--spool-dri", "/x"]
    assert unknown_env_names(["OPENAGENT_SPOOL_DIR", "OPENAGENT_SPOOL_DRI"]) == [
        "OPENAGENT_SPOOL_DRI"
    ]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_agent_loads_its_settings_from_the_pod(
    overlay: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = agent_settings(overlay, monkeypatch)
    assert settings.sinks == SINKS[overlay]
    assert settings.config == Path(CONFIG_PATH)
    assert settings.config_map is None
    assert settings.spool_dir == Path(SPOOL_PATH)
    assert settings.listen_host is None  # all interfaces: the kubelet probes the pod IP
    assert settings.listen_port == 9401


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_pod_runs_hardened_and_non_root(overlay: str) -> None:
    pod = pod_spec(overlay)
    psc = pod["securityContext"]
    assert psc["runAsNonRoot"] is True
    assert (psc["runAsUser"], psc["runAsGroup"], psc["fsGroup"]) == (1001, 1001, 1001)
    assert psc["seccompProfile"] == {"type": "RuntimeDefault"}
    for host in ("hostNetwork", "hostPID", "hostIPC"):
        assert not pod.get(host), host
    assert pod["enableServiceLinks"] is False  # no OPENAGENT_* variables from the Service
    csc = container(overlay)["securityContext"]
    assert csc["runAsNonRoot"] is True
    assert csc["readOnlyRootFilesystem"] is True
    assert csc["allowPrivilegeEscalation"] is False
    assert csc["capabilities"] == {"drop": ["ALL"]}
    assert "privileged" not in csc and "add" not in csc["capabilities"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_probes_reach_the_agent_http_port(overlay: str) -> None:
    agent = container(overlay)
    ports = {p["name"]: p["containerPort"] for p in agent["ports"]}
    assert ports == {"http": 9401}
    for probe, path in (
        ("startupProbe", "/healthz"),
        ("livenessProbe", "/healthz"),
        ("readinessProbe", "/readyz"),
    ):
        assert agent[probe]["httpGet"] == {"path": path, "port": "http"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_service_selects_the_pods_on_port_9401(overlay: str) -> None:
    service = one(overlay, "Service")
    pod_labels = workload(overlay)["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 9401, "targetPort": "http", "protocol": "TCP"}
    ]


def volumes_by_name(overlay: str) -> dict[str, dict[str, object]]:
    """The pod's volumes, and the StatefulSet's claim templates as volumes of that name."""
    volumes = {v["name"]: v for v in pod_spec(overlay).get("volumes", [])}
    for claim in workload(overlay)["spec"].get("volumeClaimTemplates", []):
        assert claim["metadata"]["name"] not in volumes
        volumes[claim["metadata"]["name"]] = {"claim": claim}
    return volumes


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_config_is_a_directory_mount_and_spool_and_tmp_are_writable(overlay: str) -> None:
    mounts = {m["mountPath"]: m for m in container(overlay)["volumeMounts"]}
    volumes = volumes_by_name(overlay)
    assert not [m for m in mounts.values() if "subPath" in m or "subPathExpr" in m]
    config = mounts[str(Path(CONFIG_PATH).parent)]
    assert config["readOnly"] is True
    config_map = volumes[config["name"]]["configMap"]
    assert isinstance(config_map, dict)
    data = one(overlay, "ConfigMap")
    assert config_map["name"] == data["metadata"]["name"]
    assert Path(CONFIG_PATH).name in data["data"]
    for path in (SPOOL_PATH, "/tmp"):
        assert not mounts[path].get("readOnly")
        volume = volumes[mounts[path]["name"]]
        assert "emptyDir" in volume or "claim" in volume
    assert set(volumes) == {m["name"] for m in mounts.values()}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_a_full_spool_fits_its_volume(overlay: str) -> None:
    """Past the volume's size the kubelet evicts the pod; at spool_max_bytes the agent
    drops its oldest data instead."""
    spool_max = parse_size(env(overlay)["OPENAGENT_SPOOL_MAX_BYTES"]["value"])
    mount = next(m for m in container(overlay)["volumeMounts"] if m["mountPath"] == SPOOL_PATH)
    volume = volumes_by_name(overlay)[mount["name"]]
    if "claim" in volume:
        claim = volume["claim"]
        assert isinstance(claim, dict)
        size = claim["spec"]["resources"]["requests"]["storage"]
    else:
        empty_dir = volume["emptyDir"]
        assert isinstance(empty_dir, dict)
        size = empty_dir["sizeLimit"]
    assert spool_max < quantity(size)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_resources_are_requested_and_capped(overlay: str) -> None:
    resources = container(overlay)["resources"]
    for kind in ("cpu", "memory"):
        request = quantity(resources["requests"][kind])
        limit = quantity(resources["limits"][kind])
        assert 0 < request <= limit, (kind, resources)


def test_node_local_pods_are_smaller_than_the_one_that_scrapes_everything() -> None:
    per_node = container("node-local")["resources"]
    single = container("single")["resources"]
    for part in ("requests", "limits"):
        for kind in ("cpu", "memory"):
            assert quantity(per_node[part][kind]) < quantity(single[part][kind]), (part, kind)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_downward_api_gives_the_pod_and_node(overlay: str) -> None:
    entries = env(overlay)
    for name, path in DOWNWARD_API.items():
        assert entries[name]["valueFrom"] == {"fieldRef": {"fieldPath": path}}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_whatap_credentials_come_from_the_secret_exactly_when_sending_to_whatap(
    overlay: str,
) -> None:
    entries = env(overlay)
    sends_to_whatap = "whatap" in SINKS[overlay]
    for key in CREDENTIALS:
        assert (key in entries) is sends_to_whatap
        if sends_to_whatap:
            ref = entries[key]["valueFrom"]["secretKeyRef"]
            assert (ref["name"], ref["key"]) == ("whatap-credentials", key)
    assert not [o for o in render(overlay) if o["kind"] == "Secret"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_termination_grace_outlasts_the_drain(
    overlay: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = agent_settings(overlay, monkeypatch)
    assert pod_spec(overlay)["terminationGracePeriodSeconds"] > settings.drain_grace
