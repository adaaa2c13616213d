"""What the overlays let the agent do through the API: read discovery objects, nothing else."""

from __future__ import annotations

import pytest
import yaml

from openagent.cli import main
from tests.deploy.rendered import NAMESPACE, OVERLAYS, ROOT, one, pod_spec, render

#: What the Whatap Operator creates for the Go agent (openagent-go.md §6.3): all
#: its names start with this, and none of ours may, or each would overwrite the other's.
OPERATOR_PREFIX = "whatap-open-agent"
OPERATOR_NAMES = {
    ("Deployment", "whatap-open-agent"),
    ("ConfigMap", "whatap-open-agent-config"),
    ("ServiceAccount", "whatap-open-agent-sa"),
    ("ClusterRole", "whatap-open-agent-role"),
    ("ClusterRoleBinding", "whatap-open-agent-role-binding"),
}
ROLE_KINDS = ("ClusterRole", "Role")
READ_VERBS = {"get", "list", "watch"}
DISCOVERY_READS = {
    ("", "pods"),
    ("", "services"),
    ("", "namespaces"),
    ("", "nodes"),
    ("discovery.k8s.io", "endpointslices"),
}
#: The owners of a pod that GPU workload attribution reads, one by name.
ATTRIBUTION_GETS = {("apps", "replicasets"), ("batch", "jobs")}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_roles_only_get_list_watch_and_never_name_secrets(overlay: str) -> None:
    roles = [o for o in render(overlay) if o["kind"] in ROLE_KINDS]
    assert roles
    for role in roles:
        for rule in role["rules"]:
            assert "nonResourceURLs" not in rule, rule
            for field in ("apiGroups", "resources", "verbs"):
                assert "*" not in rule[field], f"wildcard in {field}: {rule}"
            assert set(rule["verbs"]) <= READ_VERBS, rule
            assert "secrets" not in rule["resources"], rule
            assert "configmaps" not in rule["resources"], rule


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_cluster_role_grants_exactly_the_discovery_reads_and_owner_gets(
    overlay: str,
) -> None:
    """Sharding's membership (agent pods in its namespace) is among them: pods, cluster-wide."""
    role = one(overlay, "ClusterRole")
    granted = {
        (group, resource)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        if set(rule["verbs"]) == READ_VERBS
    }
    assert granted == DISCOVERY_READS
    gets = {
        (group, resource)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        if rule["verbs"] == ["get"]
    }
    assert gets == ATTRIBUTION_GETS
    assert not [o for o in render(overlay) if o["kind"] in ("Role", "RoleBinding")]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_binding_gives_the_role_to_the_pods_service_account(overlay: str) -> None:
    account = one(overlay, "ServiceAccount")["metadata"]["name"]
    binding = one(overlay, "ClusterRoleBinding")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": one(overlay, "ClusterRole")["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account, "namespace": NAMESPACE}
    ]
    assert pod_spec(overlay)["serviceAccountName"] == account


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_name_clashes_with_what_the_operator_owns(overlay: str) -> None:
    for o in render(overlay):
        name = o["metadata"]["name"]
        assert (o["kind"], name) not in OPERATOR_NAMES
        assert not name.startswith(OPERATOR_PREFIX), (o["kind"], name)
    volumes = pod_spec(overlay)["volumes"]
    config_maps = {v["configMap"]["name"] for v in volumes if "configMap" in v}
    assert config_maps == {one(overlay, "ConfigMap")["metadata"]["name"]}


def test_openagent_rbac_binds_the_secret_role_to_the_overlays_service_account(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The documented ``openagent rbac --config ... | kubectl apply -f -`` needs no flags."""
    config = ROOT / "config" / "operator-rendered.yaml"
    assert main(["rbac", "--config", str(config)]) == 0
    printed = list(yaml.safe_load_all(capsys.readouterr().out))
    bindings = [o for o in printed if o["kind"] == "RoleBinding"]
    assert bindings
    for overlay in OVERLAYS:
        account = one(overlay, "ServiceAccount")["metadata"]["name"]
        for binding in bindings:
            assert binding["subjects"] == [
                {"kind": "ServiceAccount", "name": account, "namespace": NAMESPACE}
            ]
