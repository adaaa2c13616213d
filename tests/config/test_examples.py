"""The example configurations in config/ load without errors or warnings."""

from __future__ import annotations

from pathlib import Path

import pytest

from openagent.config import RelabelConfig, SecretRef, load_config

from .conftest import EXAMPLES

NAMES = [
    "static-demo.yaml",
    "dcgm-exporter-auto.yaml",
    "builtin-node-agent.yaml",
    "customer-dcgm.yaml",
    "hybrid.yaml",
    "operator-rendered.yaml",
]


def test_every_example_is_listed() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("*.yaml")) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_example_is_valid_and_clean(name: str) -> None:
    path = EXAMPLES / name
    assert path.read_text().startswith("# "), "each example starts with a comment saying what it is"
    loaded = load_config(path)
    assert loaded.warnings == []
    assert loaded.config.enabled is True
    assert loaded.config.targets


def test_static_demo() -> None:
    (target,) = load_config(EXAMPLES / "static-demo.yaml").config.targets
    assert target.type == "StaticEndpoints"
    assert [e.address for e in target.endpoints] == [f"127.0.0.1:{p}" for p in range(19400, 19404)]
    assert {(e.interval, e.path, e.scheme) for e in target.endpoints} == {
        (15.0, "/metrics", "http")
    }


def test_dcgm_exporter_auto_is_the_operator_target() -> None:
    path = EXAMPLES / "dcgm-exporter-auto.yaml"
    body = [line for line in path.read_text().splitlines() if not line.startswith("#")]
    # keys sorted as yaml.v2 renders them, the port quoted
    assert body[4:7] == ["    - enabled: true", "      endpoints:", "      - addNodeLabel: true"]
    assert '        port: "9400"' in body
    (target,) = load_config(path).config.targets
    assert (target.target_name, target.type) == ("dcgm-exporter-auto", "PodMonitor")
    assert target.namespace_selector is not None
    assert target.namespace_selector.match_names == ("whatap-monitoring",)
    assert target.selector is not None
    assert target.selector.match_labels == {"name": "whatap-node-agent"}
    (ep,) = target.endpoints
    assert (ep.port, ep.path, ep.interval, ep.scheme, ep.add_node_label) == (
        "9400",
        "/metrics",
        30.0,
        "http",
        True,
    )
    assert ep.timeout == 10.0
    assert ep.metric_relabel_configs == (
        RelabelConfig(target_label="wtp_src", replacement="true", action="replace"),
        RelabelConfig(source_labels=("__name__",), regex="DCGM.*", action="keep"),
    )


def test_builtin_node_agent_uses_global_defaults() -> None:
    cfg = load_config(EXAMPLES / "builtin-node-agent.yaml").config
    (target,) = cfg.targets
    assert target.selector is not None and target.selector.match_labels == {
        "name": "whatap-node-agent"
    }
    (ep,) = target.endpoints
    assert (ep.port, ep.interval, ep.path) == ("9400", 15.0, "/metrics")


def test_customer_dcgm_named_port_and_expressions() -> None:
    (target,) = load_config(EXAMPLES / "customer-dcgm.yaml").config.targets
    assert target.selector is not None
    assert target.selector.match_labels == {"app": "custom-dcgm"}
    assert [e.operator for e in target.selector.match_expressions] == ["In", "DoesNotExist"]
    assert target.endpoints[0].port == "metrics"
    assert target.endpoints[0].metric_relabel_configs[0].source_labels == ("__name__",)


def test_hybrid_has_every_type() -> None:
    cfg = load_config(EXAMPLES / "hybrid.yaml").config
    assert [t.type for t in cfg.targets] == [
        "PodMonitor",
        "PodMonitor",
        "ServiceMonitor",
        "StaticEndpoints",
    ]
    intervals = [t.endpoints[0].interval for t in cfg.targets]
    assert intervals == [30.0, 15.0, 60.0, 15.0]


def test_operator_rendered() -> None:
    cfg = load_config(EXAMPLES / "operator-rendered.yaml").config
    by_name = {t.target_name: t for t in cfg.targets}
    inline = by_name["gpu-workloads"].endpoints[0]
    assert inline.basic_auth is not None
    assert inline.basic_auth.username_secret == SecretRef(
        name="exporter-auth", key="username", namespace="whatap-monitoring"
    )
    assert inline.params == {"collect[]": ("gpu", "nvlink"), "format": ("prometheus",)}
    assert inline.path == "/probe"
    secure = by_name["gpu-system/dcgm-secure"].endpoints[0]
    assert secure.authorization is not None
    assert secure.authorization.credentials_secret == SecretRef(name="dcgm-token", key="token")
    assert (
        secure.tls_config is not None
        and secure.tls_config.key_file == "/etc/ssl/certs/dcgm-tls/tls.key"
    )
    assert secure.scheme == "https"
    job_rule = by_name["ml-team/dcgm"].relabel_configs[-1]
    assert (job_rule.source_labels, job_rule.target_label, job_rule.action) == (
        ("app",),
        "job",
        "replace",
    )
    assert (
        by_name["dcgm-exporter-auto"].endpoints[0].metric_relabel_configs[-1].replacement
        == "prod-seoul"
    )


def test_examples_dir_is_found_relative_to_repo() -> None:
    assert Path(__file__).resolve().parents[2] / "config" == EXAMPLES
