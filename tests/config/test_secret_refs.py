"""Which Secrets a configuration references, and where."""

from __future__ import annotations

from pathlib import Path

from openagent.config import load_config, parse_config, secret_references

EXAMPLES = Path(__file__).resolve().parents[2] / "config"


def test_the_operator_rendering_references_basic_auth_and_bearer_secrets() -> None:
    uses = secret_references(load_config(EXAMPLES / "operator-rendered.yaml").config)
    assert [(u.path, u.ref.name, u.ref.key) for u in uses] == [
        ("targets[0].endpoints[0].basicAuth.username", "exporter-auth", "username"),
        ("targets[0].endpoints[0].basicAuth.password", "exporter-auth", "password"),
        ("targets[2].endpoints[0].authorization.credentials", "dcgm-token", "token"),
    ]
    assert uses[2].describe("agent-ns") == "Secret agent-ns/dcgm-token key 'token'"
    assert uses[0].describe("agent-ns") == "Secret whatap-monitoring/exporter-auth key 'username'"


def test_tls_secrets_count_and_disabled_targets_do_not() -> None:
    text = """features:
  openAgent:
    enabled: true
    targets:
    - targetName: secure
      type: StaticEndpoints
      endpoints:
      - address: 127.0.0.1:9443
        tlsConfig:
          caSecret: {name: tls, key: ca.crt}
          certSecret: {name: tls, key: tls.crt}
          keySecret: {name: tls, key: tls.key}
    - targetName: off
      type: StaticEndpoints
      enabled: false
      endpoints:
      - address: 127.0.0.1:9400
        basicAuth: {username: u, password: {name: unused, key: p}}
"""
    uses = secret_references(parse_config(text).config)
    assert [u.path.rsplit(".", 1)[1] for u in uses] == ["caSecret", "certSecret", "keySecret"]
    assert {u.ref.name for u in uses} == {"tls"}


def test_a_config_without_references_has_none() -> None:
    assert secret_references(load_config(EXAMPLES / "static-demo.yaml").config) == []
