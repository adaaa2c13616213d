"""Every kind of problem: exact message and YAML path, all collected at once."""

from __future__ import annotations

import pytest

from openagent.config import ConfigError, Problem, parse_config

from .conftest import SOURCE, Errors, Parse

F = SOURCE + ": "

POD = """
targets:
- targetName: t
  type: PodMonitor
  namespaceSelector: {{matchNames: [a]}}
  selector: {{matchLabels: {{app: x}}}}
  endpoints:
  - {endpoint}
"""

STATIC = """
targets:
- targetName: t
  type: StaticEndpoints
  endpoints:
  - {endpoint}
"""


def pod(endpoint: str) -> str:
    return POD.format(endpoint=endpoint)


def static(endpoint: str) -> str:
    return STATIC.format(endpoint=endpoint)


def test_problem_str_and_error_summary() -> None:
    p = Problem(
        "scrape_config.yaml", "targets[2].endpoints[0].interval", "'15x' is not a duration", "error"
    )
    assert str(p) == "scrape_config.yaml: targets[2].endpoints[0].interval: '15x' is not a duration"
    assert str(Problem("f.yaml", "", "file not found")) == "f.yaml: file not found"
    err = ConfigError([p, Problem("f.yaml", "", "x")])
    assert str(err) == (
        "2 errors in the configuration:\n"
        "  scrape_config.yaml: targets[2].endpoints[0].interval: '15x' is not a duration\n"
        "  f.yaml: x"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- a\n", "expected a mapping with features.openAgent, got a list"),
        ("global: {scrape_interval: 15s}\n", "features: is required"),
        ("features: [openAgent]\n", "features: expected a mapping, got a list"),
        ("features: {}\n", "features.openAgent: is required"),
        ("features: {openAgent: [1]}\n", "features.openAgent: expected a mapping, got a list"),
        (
            "features: {openAgent: {enabled: true}}\nglobal: {scrape_interval: nope}\n",
            "global.scrape_interval: 'nope' is not a duration",
        ),
    ],
)
def test_document_shape(text: str, expected: str, errors: Errors) -> None:
    assert errors("# whole document\n" + text) == [F + expected]


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        ("enabled: yes please", "enabled: expected true or false, got 'yes please'"),
        ("minimumInterval: 15x", "minimumInterval: '15x' is not a duration"),
        ("globalInterval: 0s", "globalInterval: must be longer than 0s"),
        ("globalInterval: [15s]", "globalInterval: expected a duration such as '15s', got list"),
        ("globalPath: metrics", "globalPath: expected a path starting with '/', got 'metrics'"),
        ("maxConcurrency: -1", "maxConcurrency: must be at least 0, got -1"),
        ("scrapingInterval: soon", "scrapingInterval: 'soon' is not a duration"),
        ("targets: {}", "targets: expected a list of targets, got a mapping"),
        ("targets: [1]", "targets[0]: expected a mapping, got 1"),
    ],
)
def test_section_errors(snippet: str, expected: str, errors: Errors) -> None:
    text = snippet if snippet.startswith("enabled") else "enabled: true\n" + snippet
    body = "features:\n  openAgent:\n" + "".join("    " + line + "\n" for line in text.splitlines())
    assert errors(body) == [F + expected]


SELECTOR_MSG = (
    "a PodMonitor target needs a selector with matchLabels or matchExpressions; without one "
    "the Go agent finds nothing, and an empty one would select every pod"
)


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (
            "{type: StaticEndpoints, endpoints: [{address: 'h:1'}]}",
            ["targets[0].targetName: is required"],
        ),
        (
            "{targetName: '', type: StaticEndpoints, endpoints: [{address: 'h:1'}]}",
            ["targets[0].targetName: must not be empty"],
        ),
        (
            "{targetName: on, type: StaticEndpoints, endpoints: [{address: 'h:1'}]}",
            ["targets[0].targetName: expected a string, got true (put it in quotes)"],
        ),
        ("{targetName: t, endpoints: [{address: 'h:1'}]}", ["targets[0].type: is required"]),
        (
            "{targetName: t, type: podmonitor, endpoints: [{port: '1'}]}",
            [
                "targets[0].type: expected 'PodMonitor', 'ServiceMonitor' or 'StaticEndpoints', "
                "got 'podmonitor'; did you mean 'PodMonitor'?"
            ],
        ),
        (
            "{targetName: t, type: Pods, endpoints: [{port: '1'}]}",
            [
                "targets[0].type: expected 'PodMonitor', 'ServiceMonitor' or 'StaticEndpoints', "
                "got 'Pods'"
            ],
        ),
        (
            "{targetName: t, type: StaticEndpoints, enabled: yes please, endpoints: [{address: "
            "'h:1'}]}",
            ["targets[0].enabled: expected true or false, got 'yes please'"],
        ),
        (
            "{targetName: t, type: StaticEndpoints, endpoints: {}}",
            ["targets[0].endpoints: expected a list of endpoints, got a mapping"],
        ),
        (
            "{targetName: t, type: StaticEndpoints, endpoints: [x]}",
            ["targets[0].endpoints[0]: expected a mapping, got 'x'"],
        ),
        (
            "{targetName: t, type: PodMonitor, namespaceSelector: {matchNames: [a]}, endpoints: "
            "[{port: '1'}]}",
            [f"targets[0].selector: {SELECTOR_MSG}"],
        ),
        (
            "{targetName: t, type: PodMonitor, namespaceSelector: {matchNames: [a]}, selector: {}, "
            "endpoints: [{port: '1'}]}",
            [f"targets[0].selector: {SELECTOR_MSG}"],
        ),
        (
            "{targetName: t, type: ServiceMonitor, namespaceSelector: {matchNames: [a]}, "
            "selector: {matchLabels: {}}, endpoints: [{port: '1'}]}",
            [
                "targets[0].selector: a ServiceMonitor target needs a selector with matchLabels or "
                "matchExpressions; without one the Go agent finds nothing, and an empty one would "
                "select every service"
            ],
        ),
        (
            "{targetName: t, type: PodMonitor, namespaceSelector: {matchNames: gpu}, "
            "selector: {matchLabels: {version: 1}}, endpoints: [{port: '1'}]}",
            [
                "targets[0].namespaceSelector.matchNames: expected a list, got 'gpu'",
                "targets[0].selector.matchLabels.version: expected a string, got 1 (put it in "
                "quotes)",
            ],
        ),
        (
            "{targetName: t, type: PodMonitor, namespaceSelector: {matchNames: [a]}, selector: "
            "{matchLabels: {app.kubernetes.io/name: 2}}, endpoints: [{port: '1'}]}",
            [
                'targets[0].selector.matchLabels["app.kubernetes.io/name"]: expected a string, '
                "got 2 (put it in quotes)"
            ],
        ),
    ],
)
def test_target_errors(target: str, expected: list[str], errors: Errors) -> None:
    assert errors(f"targets:\n- {target}\n") == [F + e for e in expected]


@pytest.mark.parametrize(
    ("expressions", "expected"),
    [
        (
            "[{key: a, operator: in, values: [x]}]",
            "matchExpressions[0].operator: expected 'In', 'NotIn', 'Exists' or 'DoesNotExist', "
            "got 'in'; did you mean 'In'?",
        ),
        (
            "[{key: a, operator: In}]",
            "matchExpressions[0].values: operator In needs at least one value",
        ),
        (
            "[{key: a, operator: NotIn, values: []}]",
            "matchExpressions[0].values: operator NotIn needs at least one value",
        ),
        (
            "[{key: a, operator: Exists, values: [x]}]",
            "matchExpressions[0].values: operator Exists takes no values",
        ),
        ("[{operator: Exists}]", "matchExpressions[0].key: is required"),
        ("{key: a}", "matchExpressions: expected a list, got a mapping"),
    ],
)
def test_selector_expression_errors(expressions: str, expected: str, errors: Errors) -> None:
    text = (
        "targets:\n- targetName: t\n  type: PodMonitor\n  namespaceSelector: {matchNames: [a]}\n"
        f"  selector: {{matchExpressions: {expressions}}}\n  endpoints: [{{port: '1'}}]\n"
    )
    assert errors(text) == [F + "targets[0].selector." + expected]


def test_duplicate_target_names(errors: Errors) -> None:
    text = """
    targets:
    - {targetName: a, type: StaticEndpoints, endpoints: [{address: 'h:1'}]}
    - {targetName: b, type: StaticEndpoints, endpoints: [{address: 'h:1'}]}
    - {targetName: a, type: StaticEndpoints, endpoints: [{address: 'h:2'}]}
    - {targetName: b, type: StaticEndpoints, enabled: false, endpoints: [{address: 'h:2'}]}
    """
    assert errors(text) == [
        F + "targets[2].targetName: 'a' is already the name of targets[0]; target names must be "
        "unique"
    ]


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        ("{port: '1', interval: 15x}", "interval: '15x' is not a duration"),
        ("{port: '1', interval: 0}", "interval: must be longer than 0s"),
        ("{port: '1', interval: true}", "interval: true is not a duration"),
        (
            "{port: '1', interval: 15s, timeout: 30s}",
            "timeout: timeout 30s is longer than interval 15s",
        ),
        (
            "{port: '1', timeout: 90s}",
            "timeout: timeout 1m30s is longer than interval 1m (the default)",
        ),
        (
            "{port: '1', timeout: 1h}",
            "timeout: timeout 1h is longer than interval 1m (the default)",
        ),
        ("{port: 99999}", "port: port 99999 is out of range (1-65535)"),
        ("{port: '0'}", "port: port 0 is out of range (1-65535)"),
        (
            "{port: Metrics_Port}",
            "port: expected a port number (1-65535) or a port name such as 'metrics' (lower-case "
            "letters, digits and '-', at most 15 characters), got 'Metrics_Port'",
        ),
        ("{port: 9400.5}", "port: expected a port number or a port name, got 9400.5"),
        ("{port: [9400]}", "port: expected a port number or a port name, got a list"),
        ("{interval: 5s}", "port: is required for a PodMonitor target (a port number or name)"),
        ("{port: '1', path: metrics}", "path: expected a path starting with '/', got 'metrics'"),
        (
            "{port: '1', path: '/m?format=text'}",
            "path: expected a path without '?' or '#' (use params for the query), got "
            "'/m?format=text'",
        ),
        ("{port: '1', scheme: ftp}", "scheme: expected 'http' or 'https', got 'ftp'"),
        (
            "{port: '1', params: {a: 1}}",
            "params.a: expected a string or a list of strings, got 1 (put it in quotes)",
        ),
        (
            "{port: '1', params: {a: [x, 2]}}",
            "params.a[1]: expected a string, got 2 (put it in quotes)",
        ),
        ("{port: '1', params: [a]}", "params: expected a mapping, got a list"),
        (
            "{port: '1', tlsConfig: {caFile: /a, caSecret: {name: s, key: k}}}",
            "tlsConfig: give caFile or caSecret, not both",
        ),
        (
            "{port: '1', tlsConfig: {certFile: /c}}",
            "tlsConfig: a client certificate needs both a certificate and a key",
        ),
        (
            "{port: '1', tlsConfig: {insecureSkipVerify: 'no'}}",
            "tlsConfig.insecureSkipVerify: expected true or false, got 'no'",
        ),
        ("{port: '1', basicAuth: {username: {name: s}}}", "basicAuth.username.key: is required"),
        (
            "{port: '1', basicAuth: {password: {name: s, key: ''}}}",
            "basicAuth.password.key: must not be empty",
        ),
        (
            "{port: '1', basicAuth: {username: u, usernameSecret: {name: s, key: k}}}",
            "basicAuth: give username as a string or as a Secret reference, not both",
        ),
        (
            "{port: '1', authorization: {type: Bearer}}",
            "authorization: needs one of credentials, credentialsFile, credentialsEnv or "
            "credentialsSecret",
        ),
        (
            "{port: '1', authorization: {credentials: x, credentialsFile: /f}}",
            "authorization: give only one of credentials, credentialsFile",
        ),
        (
            "{port: '1', basicAuth: {username: u}, authorization: {credentials: x}}",
            "authorization: give only one of basicAuth, authorization",
        ),
        (
            "{port: '1', authorization: {credentials: x}, bearerTokenFile: /t}",
            "bearerTokenFile: give only one of authorization, bearerTokenFile",
        ),
        (
            "{port: '1', adaptiveTimeout: {multiplier: '3'}}",
            "adaptiveTimeout.multiplier: expected a number, got '3'",
        ),
        (
            "{port: '1', adaptiveTimeout: {multiplier: 0.5}}",
            "adaptiveTimeout.multiplier: must be at least 1.0, got 0.5",
        ),
        (
            "{port: '1', adaptiveTimeout: {failureThreshold: 0}}",
            "adaptiveTimeout.failureThreshold: must be at least 1, got 0",
        ),
        ("{port: '1', adaptiveTimeout: true}", "adaptiveTimeout: expected a mapping, got true"),
        ("{port: '1', sampleLimit: -1}", "sampleLimit: must be at least 0, got -1"),
        ("{port: '1', labelLimit: '5'}", "labelLimit: expected an integer, got '5'"),
        (
            "{port: '1', bodySizeLimit: 16M}",
            "bodySizeLimit: '16M' is not a size: use bytes or a number with B, KiB, MiB, GiB, "
            "TiB, kB, MB, GB or TB",
        ),
        ("{port: '1', addNodeLabel: 'true'}", "addNodeLabel: expected true or false, got 'true'"),
        (
            "{port: '1', metricRelabelConfigs: {}}",
            "metricRelabelConfigs: expected a list, got a mapping",
        ),
        (
            "{port: '1', metricRelabelConfigs: [keep]}",
            "metricRelabelConfigs[0]: expected a mapping, got 'keep'",
        ),
        (
            "{port: '1', metricRelabelConfigs: "
            "[{source_labels: [a], sourceLabels: [b], target_label: x}]}",
            "metricRelabelConfigs[0].sourceLabels: 'source_labels' is given too; keep only one "
            "of them",
        ),
        (
            "{port: '1', metricRelabelConfigs: [], metricRelabelings: []}",
            "metricRelabelings: 'metricRelabelConfigs' is given too; keep only one of them",
        ),
        (
            "{port: '1', metricRelabelConfigs: [{modulus: '4'}]}",
            "metricRelabelConfigs[0].modulus: expected an integer, got '4'",
        ),
        (
            "{port: '1', metricRelabelConfigs: [{source_labels: a}]}",
            "metricRelabelConfigs[0].source_labels: expected a list, got 'a'",
        ),
        (
            "{port: '1', relabelings: [{regex: 5}]}",
            "relabelings[0].regex: expected a string, got 5 (put it in quotes)",
        ),
    ],
)
def test_pod_endpoint_errors(endpoint: str, expected: str, errors: Errors) -> None:
    assert errors(pod(endpoint)) == [F + "targets[0].endpoints[0]." + expected]


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        ("{interval: 15s}", "address: is required for a StaticEndpoints target (host:port)"),
        (
            "{address: nowhere}",
            "address: expected host:port such as '10.0.0.5:9400', got 'nowhere'",
        ),
        (
            "{address: 'http://h:1'}",
            "address: expected host:port such as '10.0.0.5:9400' without a scheme or path, got "
            "'http://h:1'",
        ),
        (
            "{address: '::1:9400'}",
            "address: an IPv6 address needs brackets, such as '[::1]:9400', got '::1:9400'",
        ),
        (
            "{address: 'h:0'}",
            "address: expected host:port such as '10.0.0.5:9400', got 'h:0' (the port must be "
            "1-65535)",
        ),
        ("{address: '[h]:1'}", "address: expected host:port such as '10.0.0.5:9400', got '[h]:1'"),
        ("{address: 9400}", "address: expected a string, got 9400 (put it in quotes)"),
    ],
)
def test_static_endpoint_errors(endpoint: str, expected: str, errors: Errors) -> None:
    assert errors(static(endpoint)) == [F + "targets[0].endpoints[0]." + expected]


def test_service_endpoint_port_rules(errors: Errors) -> None:
    text = """
    targets:
    - targetName: t
      type: ServiceMonitor
      namespaceSelector: {matchNames: [a]}
      selector: {matchLabels: {app: x}}
      endpoints:
      - {interval: 5s}
      - {port: web, targetPort: 8080}
    """
    assert errors(text) == [
        F + "targets[0].endpoints[0].port: is required for a ServiceMonitor target "
        "(a service port name or number, or targetPort)",
        F + "targets[0].endpoints[1].targetPort: give port or targetPort, not both",
    ]


def test_timeout_longer_than_global_interval(errors: Errors) -> None:
    text = "globalInterval: 15s\n" + static("{address: 'h:1', timeout: 20s}")
    assert errors(text) == [
        F + "targets[0].endpoints[0].timeout: timeout 20s is longer than interval 15s "
        "(from globalInterval)"
    ]


def test_timeout_checked_after_minimum_interval_raise(parse: Parse) -> None:
    loaded = parse(
        "minimumInterval: 30s\n" + static("{address: 'h:1', interval: 10s, timeout: 20s}")
    )
    ep = loaded.config.targets[0].endpoints[0]
    assert (ep.interval, ep.timeout) == (30.0, 20.0)


def test_secrets_are_not_echoed(errors: Errors) -> None:
    problems = errors(pod("{port: '1', basicAuth: {username: u, password: 123456}}"))
    assert problems == [F + "targets[0].endpoints[0].basicAuth.password: expected a string"]
    problems = errors(pod("{port: '1', authorization: {credentials: 987654}}"))
    assert problems == [F + "targets[0].endpoints[0].authorization.credentials: expected a string"]


def test_all_errors_are_collected(errors: Errors) -> None:
    text = """
    minimumInterval: 1x
    targets:
    - targetName: first
      type: PodMonitor
      namespaceSelector: {matchNames: [a]}
      endpoints:
      - {port: '9400', interval: 15x}
      - {port: '9400', interval: 15s, timeout: 30s}
    - targetName: second
      type: StaticEndpoints
      enabled: maybe
      endpoints:
      - {address: 'h'}
      - {address: 'h:1', scheme: gopher}
    - targetName: first
      type: ServiceMonitor
      selector: {matchLabels: {app: x}}
      namespaceSelector: {matchNames: [a]}
      endpoints: [{path: x}]
    """
    assert errors(text) == [
        F + "minimumInterval: '1x' is not a duration",
        F + "targets[0].selector: " + SELECTOR_MSG,
        F + "targets[0].endpoints[0].interval: '15x' is not a duration",
        F + "targets[0].endpoints[1].timeout: timeout 30s is longer than interval 15s",
        F + "targets[1].enabled: expected true or false, got 'maybe'",
        F + "targets[1].endpoints[0].address: expected host:port such as '10.0.0.5:9400', got 'h'",
        F + "targets[1].endpoints[1].scheme: expected 'http' or 'https', got 'gopher'",
        F + "targets[2].endpoints[0].port: is required for a ServiceMonitor target "
        "(a service port name or number, or targetPort)",
        F + "targets[2].endpoints[0].path: expected a path starting with '/', got 'x'",
        F + "targets[2].targetName: 'first' is already the name of targets[0]; target names must "
        "be unique",
    ]


def test_errors_carry_the_warnings_too() -> None:
    text = "features:\n  openAgent:\n    enabled: true\n    bogus: 1\n    targets: 5\n"
    with pytest.raises(ConfigError) as info:
        parse_config(text, SOURCE)
    assert [str(p) for p in info.value.problems] == [
        F + "targets: expected a list of targets, got 5"
    ]
    assert [str(p) for p in info.value.warnings] == [F + "bogus: unknown key 'bogus' (ignored)"]
