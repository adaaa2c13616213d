"""Warnings: unknown keys with suggestions, keys without effect, ignored settings."""

from __future__ import annotations

import pytest

from .conftest import SOURCE, Errors

F = SOURCE + ": "

ENDPOINT = """
targets:
- targetName: t
  type: PodMonitor
  namespaceSelector: {{matchNames: [a]}}
  selector: {{matchLabels: {{app: x}}}}
  endpoints:
  - {{port: '9400', {extra}}}
"""


def test_unknown_root_and_features_keys(warnings: Errors) -> None:
    text = """
    features:
      k8sAgent: {gpuMonitoring: {enabled: true}}
      openAgent:
        enabled: true
    featurse: {}
    """
    assert warnings(text) == [
        F + "featurse: unknown key 'featurse' (ignored); did you mean 'features'?",
        F + "features.k8sAgent: unknown key 'k8sAgent' (ignored)",
    ]


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        (
            "globalInteval: 15s",
            "globalInteval: unknown key 'globalInteval' (ignored); did you mean 'globalInterval'?",
        ),
        (
            "global_path: /m",
            "global_path: unknown key 'global_path' (ignored); did you mean 'globalPath'?",
        ),
        ("imageName: x", "imageName: unknown key 'imageName' (ignored)"),
    ],
)
def test_unknown_section_keys(snippet: str, expected: str, warnings: Errors) -> None:
    assert warnings(snippet) == [F + expected]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("intreval: 5s", "intreval: unknown key 'intreval' (ignored); did you mean 'interval'?"),
        (
            "add_node_label: true",
            "add_node_label: unknown key 'add_node_label' (ignored); did you mean 'addNodeLabel'?",
        ),
        (
            "scrapeTimeout: 5s",
            "scrapeTimeout: unknown key 'scrapeTimeout' (ignored); did you mean 'timeout'?",
        ),
        ("Path: /x", "Path: unknown key 'Path' (ignored); did you mean 'path'?"),
        ("proxyUrl: http://p", "proxyUrl: unknown key 'proxyUrl' (ignored)"),
        (
            "tlsConfig: {insecure_skip_verify: true}",
            "tlsConfig.insecure_skip_verify: unknown key 'insecure_skip_verify' (ignored); "
            "did you mean 'insecureSkipVerify'?",
        ),
        (
            "metricRelabelConfigs: [{source_label: [a], target_label: x}]",
            "metricRelabelConfigs[0].source_label: unknown key 'source_label' (ignored); "
            "did you mean 'source_labels'?",
        ),
        (
            "basicAuth: {username: u, pasword: p}",
            "basicAuth.pasword: unknown key 'pasword' (ignored); did you mean 'password'?",
        ),
        ("1: x", '["1"]: unknown key 1 (ignored)'),
    ],
)
def test_unknown_endpoint_keys(extra: str, expected: str, warnings: Errors) -> None:
    assert warnings(ENDPOINT.format(extra=extra)) == [
        F + "targets[0].endpoints[0]" + ("" if expected.startswith("[") else ".") + expected
    ]


def test_unknown_target_key(warnings: Errors) -> None:
    text = """
    targets:
    - targetName: t
      type: PodMonitor
      jobLabel: app
      namespaceSelector: {matchNames: [a], matchname: [b]}
      selector: {matchLabels: {app: x}}
      endpoints: [{port: '9400'}]
    """
    assert warnings(text) == [
        F + "targets[0].jobLabel: unknown key 'jobLabel' (ignored)",
        F + "targets[0].namespaceSelector.matchname: unknown key 'matchname' (ignored); "
        "did you mean 'matchNames'?",
    ]


def test_keys_without_effect(warnings: Errors) -> None:
    text = """
    features:
      openAgent:
        enabled: true
        scrapingInterval: 30s
        maxConcurrency: 10
    global:
      scrape_interval: 15s
    """
    assert warnings(text) == [
        F + "global.scrape_interval: has no effect (the Go agent ignores it too); set "
        "features.openAgent.globalInterval, or interval per endpoint",
        F + "maxConcurrency: has no effect (the Go agent ignores it too); scrapes are spread "
        "over time instead",
        F + "scrapingInterval: has no effect (the Go agent ignores it too); set globalInterval, "
        "or interval per endpoint",
    ]


def test_ignored_settings_per_target_type(warnings: Errors) -> None:
    text = """
    targets:
    - targetName: s
      type: StaticEndpoints
      selector: {matchLabels: {app: x}}
      namespaceSelector: {matchNames: [a]}
      endpoints: [{address: 'h:1', port: '9400', targetPort: '1'}]
    - targetName: p
      type: PodMonitor
      selector: {matchLabels: {app: x}}
      endpoints: [{port: '9400', targetPort: '1', address: 'h:1'}]
    - targetName: n
      type: ServiceMonitor
      selector: {matchLabels: {app: x}}
      namespaceSelector: {any: true, matchNames: [a]}
    """
    assert warnings(text) == [
        F + "targets[0].selector: is ignored for a StaticEndpoints target",
        F + "targets[0].namespaceSelector: is ignored for a StaticEndpoints target",
        F + "targets[0].endpoints[0].port: is ignored for a StaticEndpoints target; use address",
        F + "targets[0].endpoints[0].targetPort: is ignored for a StaticEndpoints target; use "
        "address",
        F + "targets[1]: no namespaceSelector: only the namespace 'default' is searched",
        F + "targets[1].endpoints[0].address: is ignored for a PodMonitor target; use port",
        F + "targets[1].endpoints[0].targetPort: only applies to ServiceMonitor targets (ignored)",
        F + "targets[2].namespaceSelector.matchNames: is ignored when any is true",
        F + "targets[2].endpoints: no endpoints: this target scrapes nothing",
    ]
