"""Fixtures for Kubernetes target discovery: configs from YAML snippets, endpoint plans."""

from __future__ import annotations

import textwrap
from collections.abc import Callable

import pytest

from openagent.config import ScrapeConfig, TargetConfig, parse_config
from openagent.discovery.kube.meta import EndpointPlan

Config = Callable[[str], ScrapeConfig]
Plan = Callable[..., EndpointPlan]


def config_of(targets: str) -> ScrapeConfig:
    """A config whose ``targets`` list is the YAML snippet ``targets``."""
    body = textwrap.indent(textwrap.dedent(targets).strip("\n"), "      ")
    text = f"features:\n  openAgent:\n    enabled: true\n    targets:\n{body}\n"
    return parse_config(text, "test.yaml").config


@pytest.fixture
def config() -> Config:
    """Parse a ``targets`` list snippet into a checked config."""
    return config_of


def _target(kind: str, endpoint: str, extra: str, name: str) -> TargetConfig:
    selector = "app: dcgm" if kind == "PodMonitor" else "app: dcgm-svc"
    snippet = f"""\
    - targetName: {name}
      type: {kind}
      namespaceSelector: {{matchNames: [gpu]}}
      selector: {{matchLabels: {{{selector}}}}}
      endpoints:
      - {endpoint}
    """
    snippet = snippet.rstrip() + "\n"
    if extra:
        snippet += textwrap.indent(textwrap.dedent(extra).strip("\n"), "      ") + "\n"
    (tc,) = config_of(snippet).targets
    return tc


@pytest.fixture
def pod_plan() -> Plan:
    """An `EndpointPlan` for a PodMonitor endpoint given as a YAML flow mapping."""

    def make(
        endpoint: str = "{port: metrics}", extra: str = "", name: str = "dcgm"
    ) -> EndpointPlan:
        return EndpointPlan.of(0, _target("PodMonitor", endpoint, extra, name), 0, "pod")

    return make


@pytest.fixture
def service_plan() -> Plan:
    """An `EndpointPlan` for a ServiceMonitor endpoint given as a YAML flow mapping."""

    def make(endpoint: str = "{port: metrics}", extra: str = "", name: str = "svc") -> EndpointPlan:
        return EndpointPlan.of(0, _target("ServiceMonitor", endpoint, extra, name), 0, "service")

    return make
