"""The command line: check, scrape, targets, version."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from openagent import __version__
from openagent.cli import main
from openagent.commands import scrape
from tests.support import Exporter

REPO = Path(__file__).resolve().parents[1]
BODY = b"""# HELP DCGM_FI_DEV_GPU_UTIL GPU utilization (in %).
# TYPE DCGM_FI_DEV_GPU_UTIL gauge
DCGM_FI_DEV_GPU_UTIL{gpu="0",job="exporter-side"} 87
go_goroutines 12
"""


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["version"]) == 0
    assert capsys.readouterr().out.strip() == f"openagent {__version__}"


@pytest.mark.parametrize("name", sorted(p.name for p in (REPO / "config").glob("*.yaml")))
def test_check_accepts_every_shipped_config(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--config", str(REPO / "config" / name)]) == 0
    assert "OK" in capsys.readouterr().out


def test_check_prints_every_error_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        """features:
  openAgent:
    enabled: true
    targets:
    - targetName: a
      type: StaticEndpoints
      endpoints:
      - {address: '127.0.0.1:1', interval: 15x}
    - targetName: b
      type: Podmonitor
      endpoints: [{port: '9400'}]
"""
    )
    assert main(["check", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "targets[0].endpoints[0].interval: '15x' is not a duration" in err
    assert "targets[1].type" in err
    assert "invalid (2 error(s))" in err


async def test_scrape_prints_what_would_be_sent(
    exporter: Exporter, capsys: pytest.CaptureFixture[str]
) -> None:
    exporter.body = BODY
    url = f"http://127.0.0.1:{exporter.port}/metrics"
    assert await scrape(url, "jsonl", None, None) == 0
    lines = [orjson.loads(x) for x in capsys.readouterr().out.splitlines()]
    util = next(x for x in lines if x["name"] == "DCGM_FI_DEV_GPU_UTIL")
    assert util["value"] == 87
    assert util["labels"]["exported_job"] == "exporter-side"
    assert util["labels"]["instance"] == f"127.0.0.1:{exporter.port}"
    assert next(x for x in lines if x["name"] == "up")["value"] == 1


async def test_scrape_with_a_config_target_applies_its_rules(
    exporter: Exporter, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exporter.body = BODY
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        f"""features:
  openAgent:
    enabled: true
    targets:
    - targetName: gpus
      type: StaticEndpoints
      endpoints:
      - address: 127.0.0.1:{exporter.port}
        honorLabels: true
        metricRelabelConfigs:
        - {{sourceLabels: [__name__], regex: 'DCGM.*', action: keep}}
        - {{targetLabel: wtp_src, replacement: 'true'}}
"""
    )
    url = f"http://127.0.0.1:{exporter.port}/metrics"
    assert await scrape(url, "table", str(cfg), "gpus") == 0
    out = capsys.readouterr().out
    assert "go_goroutines" not in out
    assert 'DCGM_FI_DEV_GPU_UTIL{gpu="0",job="exporter-side",instance=' in out
    assert 'wtp_src="true"}\t87.0\t' in out


async def test_scrape_failure_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert await scrape("http://127.0.0.1:9/metrics", "jsonl", None, None) == 1
    assert "scrape failed: connect" in capsys.readouterr().err


def test_targets_lists_static_and_names_what_needs_kubernetes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["targets", "--config", str(REPO / "config" / "hybrid.yaml")]) == 0
    out = capsys.readouterr().out
    assert "needs Kubernetes discovery" in out


def test_every_setting_has_a_flag_with_help_and_flags_reach_settings() -> None:
    from openagent.cli import _parser
    from openagent.settings import Settings, load_settings

    undocumented = [n for n, f in Settings.model_fields.items() if not f.description]
    assert undocumented == [], "give every setting a Field(description=...)"
    args = vars(
        _parser().parse_args(
            ["run", "--sample-limit", "5", "--sink", "jsonl", "--listen", "127.0.0.1:0"]
        )
    )
    args.pop("command")
    settings = load_settings(**args)
    assert settings.sample_limit == 5
    assert settings.sinks == ["jsonl"]
    assert settings.listen == "127.0.0.1:0"


@pytest.fixture
def handed_down(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[dict[str, object]]:
    """What the CLI hands `openagent.agent.run`, outside a cluster, in an empty directory."""
    import openagent.agent

    for variable in ("KUBERNETES_SERVICE_HOST", "WHATAP_OPEN_HOME", "OPENAGENT_CONFIG"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.delenv("OPENAGENT_CONFIG_MAP", raising=False)
    monkeypatch.chdir(tmp_path)
    seen: list[dict[str, object]] = []

    async def run(**kw: object) -> int:
        seen.append(kw)
        return 0

    monkeypatch.setattr(openagent.agent, "run", run)
    return seen


@pytest.mark.parametrize(
    "argv", [["foreground"], ["foreground", "standalone"], ["standalone"], ["-d"], ["run"]]
)
def test_go_agent_invocations_run_the_agent_waiting_for_a_config(
    argv: list[str], handed_down: list[dict[str, object]]
) -> None:
    """The operator starts the Go agent's image with these arguments; each means run, and
    none names a config, so the agent waits for one instead of exiting."""
    assert main(argv) == 0
    (kw,) = handed_down
    assert kw.pop("config_named") is False
    assert all(v is None for v in kw.values())


@pytest.mark.parametrize("word", [["foreground"], ["foreground", "standalone"], ["-d"]])
def test_go_agent_words_keep_the_flags_that_follow_them(
    word: list[str], handed_down: list[dict[str, object]]
) -> None:
    assert main([*word, "--listen", "127.0.0.1:9500", "--config", "c.yaml"]) == 0
    (kw,) = handed_down
    assert kw["listen"] == "127.0.0.1:9500" and kw["config"] == "c.yaml"
    assert kw["config_named"] is True


def test_run_with_config_names_it_explicitly(handed_down: list[dict[str, object]]) -> None:
    assert main(["run", "--config", "c.yaml"]) == 0
    assert handed_down[0]["config_named"] is True


def test_in_a_cluster_go_agent_words_read_the_configmap_unless_a_config_is_named(
    handed_down: list[dict[str, object]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.delenv("OPENAGENT_CONFIG_MAP", raising=False)
    assert main([]) == 0
    assert main(["-d"]) == 0
    assert main(["foreground", "--config", "c.yaml"]) == 0
    assert main(["standalone"]) == 0
    maps = [kw["config_map"] for kw in handed_down]
    assert maps == ["whatap-open-agent-config", "whatap-open-agent-config", None, None]


def test_bare_openagent_runs_next_to_a_config_file(
    handed_down: list[dict[str, object]], tmp_path: Path
) -> None:
    (tmp_path / "scrape_config.yaml").write_text("features: {}\n")
    assert main([]) == 0
    assert handed_down[0]["config_named"] is False


@pytest.mark.parametrize("variable", ["OPENAGENT_CONFIG", "openagent_config_map"])
def test_bare_openagent_runs_when_the_environment_names_the_config(
    variable: str, handed_down: list[dict[str, object]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, "elsewhere")
    assert main([]) == 0
    assert handed_down[0]["config_named"] is False  # named by the environment: it waits


def test_bare_openagent_elsewhere_prints_usage_and_exits_2(
    handed_down: list[dict[str, object]], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main([])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: openagent")
    assert "name a command" in err
    assert handed_down == []


def test_dash_dash_version_prints_the_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["version"]) == 0
    expected = capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out == expected


def test_go_agent_defaults_config_home_and_whatap_sink(monkeypatch: pytest.MonkeyPatch) -> None:
    from openagent.settings import load_settings

    monkeypatch.setenv("WHATAP_OPEN_HOME", "/app")
    monkeypatch.setenv("WHATAP_LICENSE", "x6043vk85eq31-x58obg8pgmmpab-x6au9160ojvokf")
    settings = load_settings()
    assert str(settings.config) == "/app/scrape_config.yaml"
    assert settings.sinks == ["whatap"]
    monkeypatch.delenv("WHATAP_LICENSE")
    assert load_settings().sinks == ["jsonl"]


def test_run_help_shows_each_default_in_the_units_a_user_writes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["run", "--help"])
    assert exc.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert "PydanticUndefined" not in text
    assert "timeout of one remote-write request (default: 30s)" in text
    assert "without one the queue itself (oldest dropped when full) (default: 64MiB)" in text
    assert "(default: whatap when WHATAP_LICENSE is set, else jsonl)" in text
    assert "(default: $WHATAP_OPEN_HOME/scrape_config.yaml, else ./scrape_config.yaml)" in text
    assert "largest size of the spool per sink; oldest data goes first (default: 1GiB)" in text
    assert (
        "how often the config file is checked for changes (SIGHUP: at once) (default: 1s)" in text
    )
    assert "a bigger one is refused unread (default: 4MiB)" in text
    # a description that says what unset means needs no "(default: unset)" after it
    assert "directory of the on-disk spool; unset, batches wait in memory only" in text
    assert "wait in memory only (default" not in text


async def test_scrape_table_shows_a_native_histogram_with_absolute_bucket_counts(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.protobuf_exporter import NegotiatingExporter, serving
    from tests.sinks.test_remote_write_histograms_peer import COUNT, SUM, body

    monkeypatch.setenv("OPENAGENT_ENABLE_PROTOBUF", "true")
    exporter = NegotiatingExporter(text=b"dcgm_temp 40\n", protobuf=body())
    async with serving(exporter):
        url = f"http://127.0.0.1:{exporter.port}/metrics"
        assert await scrape(url, "table", None, None) == 0
    [row] = [r for r in capsys.readouterr().out.splitlines() if "dcgm_latency" in r]
    name, cell, _ts = row.split("\t")
    assert name.startswith('dcgm_latency_seconds{gpu="0",')
    # spans (0,2),(3,1) with deltas 4,-1,5: buckets 0, 1 and 5 hold 4, 3 and 8
    assert cell == f"histogram count={COUNT} sum={SUM!r} schema=0 zero=1 buckets=+[0:4 1:3 5:8] -[]"
