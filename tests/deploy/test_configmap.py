"""The scrape config every overlay ships: the operator's default GPU target, no Secrets."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from openagent.config import parse_config, secret_references
from tests.deploy.rendered import CONFIG_PATH, NAMESPACE, OVERLAYS, one

KEY = Path(CONFIG_PATH).name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_config_parses_and_references_no_secret(overlay: str) -> None:
    text = one(overlay, "ConfigMap")["data"][KEY]
    loaded = parse_config(text, f"deploy/overlays/{overlay}")
    assert len(loaded.config.targets) == 1
    assert secret_references(loaded.config) == []


def test_the_config_is_the_operators_gpu_target() -> None:
    doc = yaml.safe_load(one("single", "ConfigMap")["data"][KEY])
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


def test_every_overlay_ships_the_same_config() -> None:
    configs = {one(overlay, "ConfigMap")["data"][KEY] for overlay in OVERLAYS}
    assert len(configs) == 1
