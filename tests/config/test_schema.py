"""The schema: every key, spellings, defaults and how endpoint values are resolved."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from openagent.config import (
    AdaptiveTimeout,
    Authorization,
    BasicAuth,
    EndpointConfig,
    LabelSelectorRequirement,
    RelabelConfig,
    ScrapeConfig,
    SecretRef,
    TargetConfig,
    TLSConfig,
)

from .conftest import Parse

EVERY_KEY = """
minimumInterval: 2s
globalInterval: 20s
globalPath: /federate
targets:
- targetName: everything
  type: PodMonitor
  enabled: true
  namespaceSelector:
    any: false
    matchNames: [gpu-a, gpu-b]
    matchLabels: {team: ml}
    matchExpressions:
    - {key: env, operator: NotIn, values: [dev]}
  selector:
    matchLabels: {app: dcgm-exporter}
    matchExpressions:
    - {key: tier, operator: In, values: [gpu, gpu2]}
    - {key: canary, operator: DoesNotExist}
  relabelConfigs:
  - {source_labels: [__meta_kubernetes_pod_node_name], target_label: node}
  metricRelabelConfigs:
  - {sourceLabels: [__name__], regex: DCGM_.*, action: keep}
  endpoints:
  - port: metrics
    path: /m
    scheme: HTTPS
    interval: 1m30s
    timeout: 45s
    params:
      module: gpu
      collect[]: [a, b]
    tlsConfig:
      caFile: /ca.pem
      certFile: /cert.pem
      keyFile: /key.pem
      insecureSkipVerify: true
      serverName: dcgm.local
    authorization:
      type: Token
      credentialsFile: /token
    adaptiveTimeout:
      enabled: false
      failureThreshold: 4
      multiplier: 3
    addNodeLabel: true
    honorLabels: true
    honorTimestamps: false
    sampleLimit: 1000
    bodySizeLimit: 16MiB
    labelLimit: 30
    labelNameLengthLimit: 100
    labelValueLengthLimit: 200
    metricRelabelConfigs:
    - source_labels: [gpu, UUID]
      separator: "/"
      target_label: gpu_id
      regex: (.+)
      replacement: gpu-$1
      action: Replace
    - {source_labels: [gpu], modulus: 4, target_label: shard, action: hashmod}
    relabelConfigs:
    - {targetLabel: endpoint, replacement: main}
- targetName: svc
  type: ServiceMonitor
  selector: {matchLabels: {app: x}}
  namespaceSelector: {any: true}
  endpoints:
  - targetPort: 9400
    bearerTokenFile: /var/run/token
    basicAuth: null
- targetName: static
  type: StaticEndpoints
  endpoints:
  - address: "[::1]:19400"
    basicAuth:
      username: admin
      passwordFile: /pw
"""


def test_every_key(parse: Parse) -> None:
    loaded = parse(EVERY_KEY)
    assert loaded.warnings == []
    cfg = loaded.config
    assert cfg.enabled is True
    assert cfg.minimum_interval == 2.0
    assert cfg.global_interval == 20.0
    assert cfg.global_path == "/federate"
    pod, svc, static = cfg.targets
    assert pod.target_name == "everything"
    assert pod.type == "PodMonitor"
    assert pod.enabled is True
    ns = pod.namespace_selector
    assert ns is not None
    assert ns.any is False
    assert ns.match_names == ("gpu-a", "gpu-b")
    assert ns.match_labels == {"team": "ml"}
    assert ns.match_expressions == (
        LabelSelectorRequirement(key="env", operator="NotIn", values=("dev",)),
    )
    assert pod.selector is not None
    assert pod.selector.match_labels == {"app": "dcgm-exporter"}
    assert [e.operator for e in pod.selector.match_expressions] == ["In", "DoesNotExist"]
    assert pod.selector.match_expressions[0].values == ("gpu", "gpu2")
    assert pod.relabel_configs == (
        RelabelConfig(source_labels=("__meta_kubernetes_pod_node_name",), target_label="node"),
    )
    assert pod.metric_relabel_configs == (
        RelabelConfig(source_labels=("__name__",), regex="DCGM_.*", action="keep"),
    )

    (ep,) = pod.endpoints
    assert ep.port == "metrics"
    assert ep.address is None
    assert ep.target_port is None
    assert ep.path == "/m"
    assert ep.scheme == "https"
    assert ep.interval == 90.0
    assert ep.timeout == 45.0
    assert ep.params == {"module": ("gpu",), "collect[]": ("a", "b")}
    assert ep.tls_config == TLSConfig(
        ca_file="/ca.pem",
        cert_file="/cert.pem",
        key_file="/key.pem",
        insecure_skip_verify=True,
        server_name="dcgm.local",
    )
    assert ep.authorization is not None
    assert ep.authorization.type == "Token"
    assert ep.authorization.credentials_file == "/token"
    assert ep.adaptive_timeout == AdaptiveTimeout(
        enabled=False, failure_threshold=4, multiplier=3.0
    )
    assert isinstance(ep.adaptive_timeout.multiplier, float)
    assert ep.add_node_label is True
    assert ep.honor_labels is True
    assert ep.honor_timestamps is False
    assert ep.sample_limit == 1000
    assert ep.body_size_limit == 16 * 1024 * 1024
    assert ep.label_limit == 30
    assert ep.label_name_length_limit == 100
    assert ep.label_value_length_limit == 200
    first, second = ep.metric_relabel_configs
    assert first == RelabelConfig(
        source_labels=("gpu", "UUID"),
        separator="/",
        target_label="gpu_id",
        regex="(.+)",
        replacement="gpu-$1",
        action="replace",
    )
    assert second.modulus == 4
    assert second.action == "hashmod"
    assert ep.relabel_configs == (RelabelConfig(target_label="endpoint", replacement="main"),)

    (sep,) = svc.endpoints
    assert svc.namespace_selector is not None and svc.namespace_selector.any is True
    assert sep.target_port == "9400"
    assert sep.port is None
    assert sep.bearer_token_file == "/var/run/token"
    assert sep.basic_auth is None
    assert sep.path == "/federate"
    assert sep.interval == 20.0

    (st,) = static.endpoints
    assert st.address == "[::1]:19400"
    assert st.basic_auth == BasicAuth(username="admin", password_file="/pw")


def test_defaults(parse: Parse) -> None:
    cfg = parse(
        """
        targets:
        - targetName: s
          type: StaticEndpoints
          endpoints: [{address: "127.0.0.1:19400"}]
        """
    ).config
    assert cfg.minimum_interval == 1.0
    assert cfg.global_interval is None
    assert cfg.global_path is None
    (target,) = cfg.targets
    assert target.enabled is True
    assert target.relabel_configs == () and target.metric_relabel_configs == ()
    (ep,) = target.endpoints
    assert ep.path == "/metrics"
    assert ep.scheme == "http"
    assert ep.interval == 60.0
    assert ep.timeout == 10.0
    assert ep.params == {}
    assert ep.tls_config is None and ep.basic_auth is None and ep.authorization is None
    assert ep.adaptive_timeout == AdaptiveTimeout(enabled=True, failure_threshold=2, multiplier=2.0)
    assert (ep.add_node_label, ep.honor_labels, ep.honor_timestamps) == (False, False, True)
    assert (ep.sample_limit, ep.body_size_limit, ep.label_limit) == (0, 0, 0)
    assert (ep.label_name_length_limit, ep.label_value_length_limit) == (0, 0)
    rule = RelabelConfig()
    assert (rule.source_labels, rule.separator, rule.target_label) == ((), ";", None)
    assert (rule.regex, rule.modulus, rule.replacement, rule.action) == (
        "(.*)",
        None,
        "$1",
        "replace",
    )


def test_both_relabel_key_styles(parse: Parse) -> None:
    cfg = parse(
        """
        targets:
        - targetName: s
          type: StaticEndpoints
          endpoints:
          - address: "127.0.0.1:19400"
            metricRelabelConfigs:
            - {source_labels: [a], target_label: b}
            - {sourceLabels: [a], targetLabel: b}
            metricRelabelings: null
        """
    ).config
    snake, camel = cfg.targets[0].endpoints[0].metric_relabel_configs
    assert snake == camel == RelabelConfig(source_labels=("a",), target_label="b")


def test_prometheus_operator_relabelings_spelling(parse: Parse) -> None:
    ep = (
        parse(
            """
        targets:
        - targetName: s
          type: StaticEndpoints
          endpoints:
          - address: "127.0.0.1:19400"
            relabelings: [{targetLabel: x, replacement: y}]
            metricRelabelings: [{sourceLabels: [__name__], regex: up, action: drop}]
        """
        )
        .config.targets[0]
        .endpoints[0]
    )
    assert ep.relabel_configs == (RelabelConfig(target_label="x", replacement="y"),)
    assert ep.metric_relabel_configs[0].action == "drop"


def _one_endpoint(
    parse: Parse, endpoint: str, kind: str = "StaticEndpoints", head: str = ""
) -> EndpointConfig:
    selector = (
        ""
        if kind == "StaticEndpoints"
        else "\n  selector: {matchLabels: {app: x}}\n  namespaceSelector: {matchNames: [a]}"
    )
    item = f"- targetName: t\n  type: {kind}{selector}\n  endpoints:\n  - {endpoint}\n"
    text = f"{head}\ntargets:\n{item}"
    (target,) = parse(text).config.targets
    return target.endpoints[0]


def test_global_interval_and_path_are_endpoint_defaults(parse: Parse) -> None:
    head = "globalInterval: 15s\nglobalPath: /gpu/metrics"
    ep = _one_endpoint(parse, "{address: '127.0.0.1:1'}", head=head)
    assert (ep.interval, ep.path, ep.timeout) == (15.0, "/gpu/metrics", 10.0)
    ep = _one_endpoint(parse, "{address: '127.0.0.1:1', interval: 5s, path: /x}", head=head)
    assert (ep.interval, ep.path, ep.timeout) == (5.0, "/x", 5.0)
    ep = _one_endpoint(parse, "{port: '9400'}", kind="PodMonitor", head=head)
    assert (ep.interval, ep.path) == (15.0, "/gpu/metrics")


def test_pod_endpoints_default_to_metrics_path(parse: Parse) -> None:
    assert _one_endpoint(parse, "{port: '9400'}", kind="PodMonitor").path == "/metrics"
    assert _one_endpoint(parse, "{port: '9400'}", kind="ServiceMonitor").path == "/metrics"


def test_minimum_interval_raises_endpoint_interval(parse: Parse) -> None:
    loaded = parse(
        """
        minimumInterval: 10s
        targets:
        - targetName: t
          type: StaticEndpoints
          endpoints:
          - {address: "127.0.0.1:1", interval: 500ms}
          - {address: "127.0.0.1:2", interval: 10s}
        """
    )
    fast, exact = loaded.config.targets[0].endpoints
    assert (fast.interval, fast.timeout) == (10.0, 10.0)
    assert exact.interval == 10.0
    assert [str(w) for w in loaded.warnings] == [
        "scrape_config.yaml: targets[0].endpoints[0].interval: 500ms is below "
        "minimumInterval 10s; using 10s"
    ]


def test_minimum_interval_raises_global_and_default_intervals(parse: Parse) -> None:
    loaded = parse(
        """
        minimumInterval: 2m
        globalInterval: 30s
        targets:
        - targetName: t
          type: StaticEndpoints
          endpoints: [{address: "127.0.0.1:1"}]
        """
    )
    assert loaded.config.global_interval == 120.0
    assert loaded.config.targets[0].endpoints[0].interval == 120.0
    assert [str(w) for w in loaded.warnings] == [
        "scrape_config.yaml: globalInterval: 30s is below minimumInterval 2m; using 2m"
    ]
    loaded = parse(
        """
        minimumInterval: 2m
        targets:
        - targetName: t
          type: StaticEndpoints
          endpoints: [{address: "127.0.0.1:1"}]
        """
    )
    assert loaded.config.targets[0].endpoints[0].interval == 120.0
    assert [str(w) for w in loaded.warnings] == [
        "scrape_config.yaml: targets[0].endpoints[0].interval: 1m (the default) is below "
        "minimumInterval 2m; using 2m"
    ]


@pytest.mark.parametrize(
    ("endpoint", "interval", "timeout"),
    [
        ("{address: '127.0.0.1:1'}", 60.0, 10.0),
        ("{address: '127.0.0.1:1', interval: 5s}", 5.0, 5.0),
        ("{address: '127.0.0.1:1', interval: 5s, timeout: 5s}", 5.0, 5.0),
        ("{address: '127.0.0.1:1', interval: 30s, timeout: 25s}", 30.0, 25.0),
        ("{address: '127.0.0.1:1', timeout: 1500ms}", 60.0, 1.5),
    ],
)
def test_timeout_defaults(parse: Parse, endpoint: str, interval: float, timeout: float) -> None:
    ep = _one_endpoint(parse, endpoint)
    assert (ep.interval, ep.timeout) == (interval, timeout)


@pytest.mark.parametrize(
    ("kind", "endpoint", "scheme"),
    [
        ("PodMonitor", "{port: https}", "https"),
        ("ServiceMonitor", "{port: https}", "https"),
        ("PodMonitor", "{port: https, scheme: http}", "http"),
        ("PodMonitor", "{port: https-metrics}", "http"),
        ("PodMonitor", "{port: '9400', tlsConfig: {insecureSkipVerify: false}}", "https"),
        ("PodMonitor", "{port: '9400', tlsConfig: {}}", "http"),
        ("PodMonitor", "{port: '9400', tlsConfig: {caFile: /ca}, scheme: http}", "http"),
        ("StaticEndpoints", "{address: '127.0.0.1:1', tlsConfig: {serverName: x}}", "https"),
        ("StaticEndpoints", "{address: '127.0.0.1:443'}", "http"),
        ("StaticEndpoints", "{address: '127.0.0.1:1', scheme: HTTPS}", "https"),
    ],
)
def test_scheme_rules(parse: Parse, kind: str, endpoint: str, scheme: str) -> None:
    assert _one_endpoint(parse, endpoint, kind=kind).scheme == scheme


@pytest.mark.parametrize(
    ("written", "port"),
    [("9400", "9400"), ("'9400'", "9400"), ("metrics", "metrics"), ("'09400'", "9400")],
)
def test_ports_int_or_string(parse: Parse, written: str, port: str) -> None:
    assert _one_endpoint(parse, f"{{port: {written}}}", kind="PodMonitor").port == port


def test_service_target_port(parse: Parse) -> None:
    ep = _one_endpoint(parse, "{targetPort: 8080}", kind="ServiceMonitor")
    assert (ep.port, ep.target_port) == (None, "8080")
    ep = _one_endpoint(parse, "{targetPort: web}", kind="ServiceMonitor")
    assert ep.target_port == "web"


def test_basic_auth_secret_references(parse: Parse) -> None:
    ep = _one_endpoint(
        parse,
        "{port: '9400', basicAuth: {username: {name: auth, key: user, namespace: ''}, "
        "password: {name: auth, key: pass, namespace: gpu}}}",
        kind="PodMonitor",
    )
    assert ep.basic_auth == BasicAuth(
        username_secret=SecretRef(name="auth", key="user"),
        password_secret=SecretRef(name="auth", key="pass", namespace="gpu"),
    )


def test_basic_auth_plain_strings_are_secret(parse: Parse) -> None:
    ep = _one_endpoint(
        parse, "{port: '9400', basicAuth: {username: u, password: hunter2}}", kind="PodMonitor"
    )
    assert ep.basic_auth is not None
    assert ep.basic_auth.username == "u"
    assert isinstance(ep.basic_auth.password, SecretStr)
    assert ep.basic_auth.password.get_secret_value() == "hunter2"
    assert "hunter2" not in repr(ep) and "hunter2" not in str(ep.model_dump())


@pytest.mark.parametrize(
    ("authorization", "expected"),
    [
        ("{credentials: tok}", Authorization(credentials=SecretStr("tok"))),
        (
            "{type: Basic, credentialsEnv: TOKEN}",
            Authorization(type="Basic", credentials_env="TOKEN"),
        ),
        (
            "{credentialsSecret: {name: s, key: k}}",
            Authorization(credentials_secret=SecretRef(name="s", key="k")),
        ),
        (
            "{credentials: {name: s, key: k, namespace: ns}}",
            Authorization(credentials_secret=SecretRef(name="s", key="k", namespace="ns")),
        ),
    ],
)
def test_authorization_forms(parse: Parse, authorization: str, expected: Authorization) -> None:
    ep = _one_endpoint(
        parse, f"{{port: '9400', authorization: {authorization}}}", kind="PodMonitor"
    )
    assert ep.authorization == expected
    assert ep.authorization is not None and ep.authorization.type == expected.type


def test_tls_secret_references(parse: Parse) -> None:
    ep = _one_endpoint(
        parse,
        "{port: '9400', tlsConfig: {caSecret: {name: tls, key: ca.crt}, "
        "certSecret: {name: tls, key: tls.crt}, keySecret: {name: tls, key: tls.key}}}",
        kind="PodMonitor",
    )
    assert ep.tls_config is not None
    assert ep.tls_config.ca_secret == SecretRef(name="tls", key="ca.crt")
    assert ep.tls_config.key_secret == SecretRef(name="tls", key="tls.key")
    assert ep.scheme == "https"


def test_enabled_false_gives_no_targets_and_a_warning(parse: Parse) -> None:
    text = """
    features:
      openAgent:
        enabled: false
        targets:
        - targetName: t
          type: StaticEndpoints
          endpoints: [{address: "127.0.0.1:1"}]
    """
    loaded = parse(text)
    assert loaded.config.enabled is False
    assert loaded.config.targets == ()
    assert [str(w) for w in loaded.warnings] == [
        "scrape_config.yaml: enabled: features.openAgent.enabled is not true: nothing will be "
        "scraped"
    ]
    loaded = parse("features:\n  openAgent: {targets: []}\n")
    assert loaded.config.targets == ()
    assert [str(w) for w in loaded.warnings] == [
        "scrape_config.yaml: enabled: features.openAgent.enabled is not set: nothing will be "
        "scraped"
    ]


def test_no_targets_key(parse: Parse) -> None:
    loaded = parse("features:\n  openAgent:\n    enabled: true\n")
    assert loaded.config.enabled is True
    assert loaded.config.targets == ()
    assert loaded.warnings == []


def test_disabled_target_is_kept_disabled(parse: Parse) -> None:
    cfg = parse(
        """
        targets:
        - targetName: idle
          type: StaticEndpoints
          enabled: false
          endpoints: [{address: "127.0.0.1:1"}]
        - targetName: busy
          type: StaticEndpoints
          endpoints: [{address: "127.0.0.1:2"}]
        """
    ).config
    assert [(t.target_name, t.enabled) for t in cfg.targets] == [("idle", False), ("busy", True)]
    assert [t.target_name for t in cfg.enabled_targets()] == ["busy"]


def test_disabled_target_with_errors_is_dropped_with_warnings(parse: Parse) -> None:
    loaded = parse(
        """
        targets:
        - targetName: broken
          type: StaticEndpoints
          enabled: false
          endpoints: [{address: nowhere}]
        - targetName: broken
          type: StaticEndpoints
          endpoints: [{address: "127.0.0.1:2"}]
        """
    )
    assert [t.target_name for t in loaded.config.targets] == ["broken"]
    assert loaded.config.targets[0].enabled is True
    assert [str(w) for w in loaded.warnings] == [
        "scrape_config.yaml: targets[0].endpoints[0].address: expected host:port such as "
        "'10.0.0.5:9400', got 'nowhere' [target disabled, so not an error]"
    ]


def test_null_values_count_as_absent(parse: Parse) -> None:
    ep = _one_endpoint(parse, "{address: '127.0.0.1:1', path: null, interval: ~, tlsConfig: null}")
    assert (ep.path, ep.interval, ep.tls_config) == ("/metrics", 60.0, None)


def test_models_are_frozen_and_hashable() -> None:
    ep = EndpointConfig(address="127.0.0.1:1", params={"a": ("b",)})
    with pytest.raises(ValidationError):
        ep.interval = 5
    same = EndpointConfig(address="127.0.0.1:1", params={"a": ("b",)})
    other = EndpointConfig(address="127.0.0.1:1", params={"a": ("c",)})
    assert ep == same and hash(ep) == hash(same)
    assert ep != other
    assert len({ep, same, other}) == 2
    target = TargetConfig(target_name="t", type="StaticEndpoints", endpoints=(ep,))
    assert hash(target) == hash(
        TargetConfig(target_name="t", type="StaticEndpoints", endpoints=(same,))
    )


def test_models_build_from_snake_case_in_code() -> None:
    cfg = ScrapeConfig(
        enabled=True,
        global_interval=15,
        targets=(
            TargetConfig(
                target_name="t",
                type="PodMonitor",
                endpoints=(EndpointConfig(port=9400, target_port="web"),),  # type: ignore[arg-type]
            ),
        ),
    )
    assert cfg.targets[0].endpoints[0].port == "9400"
    assert cfg.global_interval == 15.0
    with pytest.raises(ValidationError):
        EndpointConfig(prot="9400")  # type: ignore[call-arg]


def test_relabel_action_stored_lower_case() -> None:
    assert RelabelConfig(action="LabelMap").action == "labelmap"


def test_tls_and_auth_checks_in_code() -> None:
    with pytest.raises(ValidationError, match="a client certificate needs both"):
        TLSConfig(cert_file="/c")
    with pytest.raises(ValidationError, match="give only one of password, passwordFile"):
        BasicAuth(username="u", password=SecretStr("p"), password_file="/f")
    with pytest.raises(ValidationError, match="needs one of credentials"):
        Authorization()
