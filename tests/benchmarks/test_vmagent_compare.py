"""``python -m benchmarks.vmagent_compare``: the old flags, run by `benchmarks.compare`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from benchmarks import compare, vmagent_compare


def test_old_flags_translate_to_one_size_without_a_baseline(tmp_path: Path) -> None:
    argv = ["--tools", "vmagent,agent", "--nodes", "7", "--agent-cmd", "my-agent {config}"]
    argv += ["--window", "30", "--workdir", str(tmp_path), "--json", str(tmp_path / "r.json")]
    args = compare._parser().parse_args(vmagent_compare.translate(argv))
    assert compare.parse_sizes(args.nodes) == [7]
    assert args.baseline_nodes == 0
    assert [t.name for t in compare.select_tools(args)] == ["vmagent", "agent"]
    assert compare.select_tools(args)[1].template == "my-agent {config}"
    assert (args.window, args.interval) == (30.0, "15s")
    assert args.out == tmp_path / "report"
    assert args.json == tmp_path / "r.json"


def test_missing_agent_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--tools", "agent", "--nodes", "1", "--warmup", "0", "--window", "1"]
    argv += ["--agent-cmd", "no-such-agent-binary {config}", "--workdir", str(tmp_path)]
    argv += ["--json", str(tmp_path.parent / "r.json")]
    assert vmagent_compare.main(argv) == 1
    assert "| agent | FAILED: cannot start no-such-agent-binary" in capsys.readouterr().out
    (row,) = json.loads((tmp_path.parent / "r.json").read_text())["results"]
    assert row["tool"] == "agent"


@pytest.mark.peer
@pytest.mark.timeout(120)
def test_short_vmagent_run_scrapes_and_remote_writes(tmp_path: Path) -> None:
    if shutil.which("vmagent") is None:
        pytest.skip("vmagent is not installed (scripts/dev.sh installs it)")
    argv = ["--tools", "vmagent", "--nodes", "2", "--families", "2", "--interval", "1s"]
    argv += ["--warmup", "2", "--window", "3", "--workdir", str(tmp_path / "w")]
    assert vmagent_compare.main(argv) == 0
    doc = json.loads((tmp_path / "w" / "report" / "results.json").read_text())
    (result,) = doc["results"]
    assert result["error"] == ""
    assert result["scrapes"] >= 2
    assert result["samples"] == result["scrapes"] * 16
    assert result["rw_requests"] >= 1
    assert result["rss_peak_mb"] >= result["rss_avg_mb"] > 0
    assert result["scrape_source"] == "remote write"
    assert result["delay_p50_s"] is not None
    assert result["loop_lag_p99_ms"] is None
