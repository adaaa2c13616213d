"""The one-shot commands: check's Secret warnings, rbac's output, targets' duplicates."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from openagent.cli import main

REPO = Path(__file__).resolve().parents[1]
OPERATOR = REPO / "config" / "operator-rendered.yaml"


@pytest.fixture
def no_cluster(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No service account, no $KUBECONFIG, and a home without ~/.kube/config."""
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def test_check_warns_that_secret_references_cannot_be_resolved_without_a_cluster(
    no_cluster: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "--config", str(OPERATOR)]) == 0
    out, err = capsys.readouterr()
    warnings = [line for line in err.splitlines() if "cannot be resolved" in line]
    assert [w.split(": references ")[0] for w in warnings] == [
        f"{OPERATOR}: targets[0].endpoints[0].basicAuth.username",
        f"{OPERATOR}: targets[0].endpoints[0].basicAuth.password",
        f"{OPERATOR}: targets[2].endpoints[0].authorization.credentials",
    ]
    assert "Secret whatap-monitoring/exporter-auth key 'password'" in warnings[1]
    assert "no kubeconfig" in warnings[0] and "this endpoint's scrapes will fail" in warnings[0]
    assert out.endswith("3 warning(s)\n")


def test_check_is_quiet_about_secret_references_when_a_cluster_is_configured(
    no_cluster: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kubeconfig = no_cluster / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
    assert main(["check", "--config", str(OPERATOR), "--kubeconfig", str(kubeconfig)]) == 0
    out, err = capsys.readouterr()
    assert "cannot be resolved" not in err and out.endswith("0 warning(s)\n")


def test_rbac_prints_a_role_for_exactly_the_referenced_secrets(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["rbac", "--config", str(OPERATOR), "--namespace", "whatap-monitoring"]) == 0
    role, binding = yaml.safe_load_all(capsys.readouterr().out)
    assert role["kind"] == "Role" and role["metadata"]["namespace"] == "whatap-monitoring"
    assert role["rules"] == [
        {
            "apiGroups": [""],
            "resources": ["secrets"],
            "resourceNames": ["dcgm-token", "exporter-auth"],
            "verbs": ["list", "watch"],
        }
    ]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "openagent", "namespace": "whatap-monitoring"}
    ]


def test_rbac_for_a_config_without_secret_references_grants_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = REPO / "config" / "static-demo.yaml"
    assert main(["rbac", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert out == f"# {path} references no Secrets: the agent needs no access to Secrets.\n"
    assert list(yaml.safe_load_all(out)) == []  # kubectl apply -f - applies nothing


def test_targets_drops_a_duplicate_target_once_with_its_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "dup.yaml"
    cfg.write_text(
        "features:\n  openAgent:\n    enabled: true\n    targets:\n"
        "    - targetName: dcgm\n      type: StaticEndpoints\n"
        "      endpoints: [{address: '127.0.0.1:9400'}, {address: '127.0.0.1:9400'}]\n"
    )
    assert main(["targets", "--config", str(cfg)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in lines] == ["http://127.0.0.1:9400/metrics", "dropped"]
    assert lines[1] == (
        "dropped\ttargets[0].endpoints[1] (dcgm) (same target as targets[0].endpoints[0] (dcgm)):"
        " duplicate"
    )


TYPOS = """features:
  openAgent:
    enabled: true
    tagets: []
    targets:
    - targetName: a
      type: StaticEndpoints
      endpoints:
      - address: 127.0.0.1:9400
        intreval: 15s
"""


def test_check_names_unknown_keys_with_the_key_meant_and_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(TYPOS)
    assert main(["check", "--config", str(cfg)]) == 0
    out, err = capsys.readouterr()
    assert err.splitlines() == [
        f"{cfg}: tagets: unknown key 'tagets' (ignored); did you mean 'targets'?",
        f"{cfg}: targets[0].endpoints[0].intreval: unknown key 'intreval' (ignored); "
        "did you mean 'interval'?",
    ]
    assert out == f"{cfg}: OK, 1 enabled target(s), 2 warning(s)\n"


def test_check_strict_fails_on_warnings_and_passes_without(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(TYPOS)
    assert main(["check", "--strict", "--config", str(cfg)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines()[-1] == f"{cfg}: 2 warning(s), which --strict makes fail"
    cfg.write_text(TYPOS.replace("    tagets: []\n", "").replace("intreval", "interval"))
    assert main(["check", "--strict", "--config", str(cfg)]) == 0
    assert capsys.readouterr().out == f"{cfg}: OK, 1 enabled target(s), 0 warning(s)\n"


def test_check_warns_of_a_minimum_interval_below_one_second_and_strict_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Measured before: ``minimumInterval: 0s`` with ``interval: 1ms`` passed the check, and
    the agent then scraped 565 times a second."""
    path = tmp_path / "c.yaml"
    path.write_text(
        "features:\n  openAgent:\n    enabled: true\n    minimumInterval: 0s\n    targets:\n"
        "    - targetName: a\n      type: StaticEndpoints\n      endpoints:\n"
        "      - {address: '127.0.0.1:1', interval: 1ms}\n"
    )
    assert main(["check", "--config", str(path)]) == 0
    out, err = capsys.readouterr()
    assert f"{path}: minimumInterval: 0s is below 1s: " in err
    assert f"{path}: targets[0].endpoints[0].interval: 1ms is below minimumInterval 1s" in err
    assert out.endswith("OK, 1 enabled target(s), 2 warning(s)\n")
    assert main(["check", "--config", str(path), "--strict"]) == 1
    capsys.readouterr()
    assert main(["check", "--config", str(path), "--strict", "--min-scrape-interval", "0"]) == 0
    assert capsys.readouterr().out.endswith("OK, 1 enabled target(s), 0 warning(s)\n")


def test_check_judges_size_and_endpoints_with_the_run_s_limits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "features:\n  openAgent:\n    enabled: true\n    targets:\n"
        "    - targetName: a\n      type: StaticEndpoints\n      endpoints:\n"
        "      - {address: '127.0.0.1:1'}\n      - {address: '127.0.0.1:2'}\n"
    )
    size = path.stat().st_size
    assert main(["check", "--config", str(path), "--config-max-bytes", str(size)]) == 0
    assert main(["check", "--config", str(path), "--config-max-bytes", str(size - 1)]) == 2
    assert main(["check", "--config", str(path), "--config-max-endpoints", "1"]) == 2
    err = capsys.readouterr().err
    assert f"{path}: is {size:,} bytes, more than the limit of {size - 1}B" in err
    assert f"{path}: targets: 2 endpoints, more than the limit of 1" in err
