"""Relabel rules are checked by openagent.relabel at load time, at the rule's path."""

from __future__ import annotations

import pytest

from openagent.config import ConfigError, parse_config

from .conftest import SOURCE

relabel = pytest.importorskip("openagent.relabel")

TEMPLATE = """\
features:
  openAgent:
    enabled: true
    targets:
    - targetName: t
      type: PodMonitor
      namespaceSelector: {{matchNames: [a]}}
      selector: {{matchLabels: {{app: x}}}}
      relabelConfigs:
      - {target}
      metricRelabelConfigs:
      - {target_metric}
      endpoints:
      - port: "9400"
        metricRelabelConfigs:
        - {{source_labels: [__name__], regex: DCGM.*, action: keep}}
        - {endpoint}
"""

GOOD = "{target_label: team, replacement: ml}"


def _problems(target: str = GOOD, target_metric: str = GOOD, endpoint: str = GOOD) -> list[str]:
    text = TEMPLATE.format(target=target, target_metric=target_metric, endpoint=endpoint)
    with pytest.raises(ConfigError) as info:
        parse_config(text, SOURCE)
    return [p.path for p in info.value.problems]


def test_valid_rules_load() -> None:
    text = TEMPLATE.format(target=GOOD, target_metric=GOOD, endpoint=GOOD)
    assert parse_config(text, SOURCE).warnings == []


def test_bad_regex_is_reported_at_the_rule() -> None:
    paths = _problems(endpoint="{source_labels: [gpu], regex: '(', target_label: x}")
    assert len(paths) == 1
    assert paths[0].startswith("targets[0].endpoints[0].metricRelabelConfigs[1]")


def test_unknown_action_is_reported_at_the_rule() -> None:
    paths = _problems(target="{action: explode}")
    assert len(paths) == 1
    assert paths[0].startswith("targets[0].relabelConfigs[0]")


def test_target_level_metric_rules_are_checked() -> None:
    paths = _problems(target_metric="{sourceLabels: [a], regex: '[', targetLabel: b}")
    assert len(paths) == 1
    assert paths[0].startswith("targets[0].metricRelabelConfigs[0]")


def test_every_bad_rule_is_reported() -> None:
    paths = _problems(target="{action: explode}", endpoint="{action: hashmod}")
    assert len(paths) == 2
