"""Target relabelling and URL building for static targets."""

from __future__ import annotations

from openagent.config import parse_config
from openagent.discovery.candidates import Dropped
from openagent.discovery.static import static_targets
from openagent.model import Target


def targets_of(endpoint: str, target_extra: str = "") -> tuple[list[Target], list[Dropped]]:
    text = f"""
features:
  openAgent:
    enabled: true
    targets:
    - targetName: web
      type: StaticEndpoints
{target_extra}
      endpoints:
      - {endpoint}
"""
    return static_targets(parse_config(text).config)


def test_url_job_and_instance() -> None:
    (t,), dropped = targets_of("{address: '127.0.0.5:9400', path: /m}")
    assert not dropped
    assert t.url == "http://127.0.0.5:9400/m"
    assert dict(t.labels) == {"job": "web", "instance": "127.0.0.5:9400"}
    assert t.instance == "127.0.0.5:9400"


def test_params_are_added_once() -> None:
    (t,), _ = targets_of("{address: '127.0.0.1:1', params: {module: [http_2xx], m: [a, b]}}")
    assert t.url == "http://127.0.0.1:1/metrics?module=http_2xx&m=a&m=b"


def test_relabelling_rewrites_address_scheme_path_and_params() -> None:
    extra = """      relabelConfigs:
      - {targetLabel: __address__, replacement: '127.0.0.9:8443'}
      - {targetLabel: __scheme__, replacement: https}
      - {targetLabel: __metrics_path__, replacement: /federate}
      - {targetLabel: __param_module, replacement: icmp}
      - {targetLabel: team, replacement: gpu}"""
    (t,), _ = targets_of("{address: '127.0.0.1:9400', params: {module: [http]}}", extra)
    assert t.url == "https://127.0.0.9:8443/federate?module=icmp"
    assert dict(t.labels) == {"job": "web", "instance": "127.0.0.9:8443", "team": "gpu"}


def test_relabelling_can_drop_a_target_and_says_why() -> None:
    extra = """      relabelConfigs:
      - {sourceLabels: [__address__], regex: '127\\.0\\.0\\.1:.*', action: drop}"""
    found, dropped = targets_of("{address: '127.0.0.1:9400'}", extra)
    assert found == []
    assert [d.reason for d in dropped] == ["dropped by relabelConfigs"]


def test_identity_ignores_settings_but_not_address() -> None:
    (a,), _ = targets_of("{address: '127.0.0.1:9400', interval: 30s}")
    (b,), _ = targets_of("{address: '127.0.0.1:9400', interval: 60s}")
    (c,), _ = targets_of("{address: '127.0.0.2:9400', interval: 30s}")
    assert a.id == b.id and a != b
    assert a.id != c.id


def test_metric_relabel_rules_from_target_and_endpoint_level_in_order() -> None:
    extra = """      metricRelabelConfigs:
      - {targetLabel: first, replacement: t}"""
    (t,), _ = targets_of(
        "{address: '127.0.0.1:1', metricRelabelConfigs: [{targetLabel: second, replacement: e}]}",
        extra,
    )
    assert [r.target_label for r in t.metric_relabel] == ["first", "second"]
