"""The Kubernetes manifests in deploy/ and the Dockerfile: least privilege, probes, mounts."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from openagent.config import parse_config, secret_references

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
NAMESPACE = "whatap-monitoring"
CONFIG_PATH = "/etc/openagent/scrape_config.yaml"

Obj = dict[str, Any]


def load_all() -> list[Obj]:
    """Every object of every manifest listed in the kustomization."""
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    objs: list[Obj] = []
    for name in kustomization["resources"]:
        objs.extend(d for d in yaml.safe_load_all((DEPLOY / name).read_text()) if d)
    return objs


def one(kind: str, name: str | None = None) -> Obj:
    """The single object of ``kind`` (and ``name``)."""
    found = [o for o in load_all() if o["kind"] == kind and name in (None, o["metadata"]["name"])]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def container() -> Obj:
    containers = one("Deployment")["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    c: Obj = containers[0]
    return c


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    assert kustomization["namespace"] == NAMESPACE
    files = {p.name for p in DEPLOY.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files


def test_cluster_role_is_read_only_and_has_no_secrets() -> None:
    role = one("ClusterRole")
    granted: set[tuple[str, str]] = set()
    for rule in role["rules"]:
        assert "nonResourceURLs" not in rule
        assert "resourceNames" not in rule
        for field in ("apiGroups", "resources", "verbs"):
            assert "*" not in rule[field], f"wildcard in {field}: {rule}"
        assert set(rule["verbs"]) <= {"get", "list", "watch"}, rule
        assert "secrets" not in rule["resources"]
        assert "configmaps" not in rule["resources"]
        granted |= {(g, r) for g in rule["apiGroups"] for r in rule["resources"]}
    assert granted == {
        ("", "pods"),
        ("", "services"),
        ("", "namespaces"),
        ("", "nodes"),
        ("discovery.k8s.io", "endpointslices"),
    }


def test_nothing_reads_secrets_since_the_shipped_config_references_none() -> None:
    assert not [o for o in load_all() if o["kind"] in ("Role", "RoleBinding")]
    (config_map,) = [o for o in load_all() if o["kind"] == "ConfigMap"]
    loaded = parse_config(config_map["data"]["scrape_config.yaml"], "deploy/configmap.yaml")
    assert secret_references(loaded.config) == []


def test_bindings_point_at_the_service_account() -> None:
    sa = one("ServiceAccount")["metadata"]["name"]
    pairs = (("ClusterRoleBinding", "ClusterRole"),)
    for binding_kind, role_kind in pairs:
        binding = one(binding_kind)
        assert binding["roleRef"]["kind"] == role_kind
        assert binding["roleRef"]["name"] == one(role_kind)["metadata"]["name"]
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": sa, "namespace": NAMESPACE}
        ]
    pod = one("Deployment")["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == sa


def test_deployment_identity() -> None:
    dep = one("Deployment", "whatap-open-agent")
    labels = {"app": "whatap-open-agent"}
    assert dep["spec"]["selector"]["matchLabels"] == labels
    assert dep["spec"]["template"]["metadata"]["labels"].items() >= labels.items()
    assert dep["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= 45


def test_pod_runs_hardened_and_non_root() -> None:
    pod = one("Deployment")["spec"]["template"]["spec"]
    psc = pod["securityContext"]
    assert psc["runAsNonRoot"] is True
    assert psc["runAsUser"] == 1001
    assert psc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert not pod.get("hostNetwork") and not pod.get("hostPID")
    csc = container()["securityContext"]
    assert csc["readOnlyRootFilesystem"] is True
    assert csc["allowPrivilegeEscalation"] is False
    assert csc["capabilities"] == {"drop": ["ALL"]}
    assert "privileged" not in csc


def test_resources_and_probes() -> None:
    c = container()
    for part in ("requests", "limits"):
        assert {"cpu", "memory"} <= c["resources"][part].keys()
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    for probe, path in (
        ("livenessProbe", "/healthz"),
        ("readinessProbe", "/readyz"),
        ("startupProbe", "/healthz"),
    ):
        get = c[probe]["httpGet"]
        assert get["path"] == path
        assert get["port"] in ports
    listen = c["args"][c["args"].index("--listen") + 1]
    assert listen.endswith(f":{ports['http']}")


def test_env_from_secret_and_downward_api() -> None:
    env = {e["name"]: e for e in container()["env"]}
    for key in ("WHATAP_LICENSE", "WHATAP_HOST", "WHATAP_PORT"):
        ref = env[key]["valueFrom"]["secretKeyRef"]
        assert (ref["name"], ref["key"]) == ("whatap-credentials", key)
    fields = {
        "POD_NAME": "metadata.name",
        "POD_NAMESPACE": "metadata.namespace",
        "NODE_NAME": "spec.nodeName",
        "NODE_IP": "status.hostIP",
    }
    for name, path in fields.items():
        assert env[name]["valueFrom"]["fieldRef"]["fieldPath"] == path
    assert all("value" not in e or "LICENSE" not in e["name"] for e in env.values())


def test_config_is_mounted_as_a_directory_and_spool_is_writable() -> None:
    c = container()
    pod = one("Deployment")["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    for m in c["volumeMounts"]:
        assert "subPath" not in m and "subPathExpr" not in m, m
    config = mounts[str(Path(CONFIG_PATH).parent)]
    assert config["readOnly"] is True
    cm = volumes[config["name"]]["configMap"]
    assert cm["name"] == "whatap-open-agent-config"
    assert c["args"][c["args"].index("--config") + 1] == CONFIG_PATH
    assert c["args"][c["args"].index("--sink") + 1] == "whatap"
    spool = mounts["/var/lib/openagent/spool"]
    assert "emptyDir" in volumes[spool["name"]]
    assert not spool.get("readOnly")


def test_configmap_holds_the_operator_gpu_target() -> None:
    cm = one("ConfigMap", "whatap-open-agent-config")
    doc = yaml.safe_load(cm["data"][Path(CONFIG_PATH).name])
    agent = doc["features"]["openAgent"]
    assert agent["enabled"] is True
    (target,) = agent["targets"]
    assert target["targetName"] == "dcgm-exporter-auto"
    assert target["type"] == "PodMonitor"
    assert target["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    assert target["selector"] == {"matchLabels": {"name": "whatap-node-agent"}}
    (ep,) = target["endpoints"]
    assert ep["port"] == "9400"  # a string: the Go agent drops a YAML integer port
    assert (ep["path"], ep["interval"], ep["scheme"]) == ("/metrics", "30s", "http")
    assert ep["addNodeLabel"] is True
    assert ep["metricRelabelConfigs"] == [
        {"target_label": "wtp_src", "replacement": "true", "action": "replace"},
        {"source_labels": ["__name__"], "regex": "DCGM.*", "action": "keep"},
    ]


def test_kubectl_kustomize_renders_into_the_namespace() -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed (scripts/dev.sh installs it)")
    out = subprocess.run(
        [kubectl, "kustomize", str(DEPLOY)], capture_output=True, check=True, timeout=60
    ).stdout
    objs = [d for d in yaml.safe_load_all(out) if d]
    assert len(objs) == len(load_all())
    cluster_scoped = {"Namespace", "ClusterRole", "ClusterRoleBinding"}
    for o in objs:
        if o["kind"] not in cluster_scoped:
            assert o["metadata"]["namespace"] == NAMESPACE, o["metadata"]
    dep = next(o for o in objs if o["kind"] == "Deployment")
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "openagent:0.1.0"


def test_dockerfile_runs_openagent_as_uid_1001() -> None:
    text = (ROOT / "Dockerfile").read_text()
    lines = [line.strip() for line in text.splitlines()]
    assert lines.count("FROM python:3.11-slim") == 1
    assert "FROM python:3.11-slim AS build" in lines
    users = [line for line in lines if line.startswith("USER ")]
    assert users == ["USER 1001:1001"]
    assert "777" not in text
    assert 'ENTRYPOINT ["openagent"]' in lines
    # The operator's Deployment starts the image with no args or "-d" and mounts the
    # config in /app, as for the Go agent: both must reach `run` with ./scrape_config.yaml.
    assert 'CMD ["run"]' in lines
    assert "WORKDIR /app" in lines
    assert "HEALTHCHECK" not in text
    ignored = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert {".git", ".venv", "tests"} <= set(ignored)
    assert not {"openagent", "pyproject.toml", "README.md"} & set(ignored)
