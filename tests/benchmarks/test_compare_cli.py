"""``python -m benchmarks.compare``: its arguments, and short real runs on loopback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from benchmarks import compare
from benchmarks.compare_tools import REPO
from benchmarks.whatap_collector import FAKE_LICENSE

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SHORT = ["--warmup", "3", "--window", "5", "--interval", "1s", "--update-interval", "1"]


def _names(*argv: str) -> list[str]:
    args = compare._parser().parse_args(list(argv))
    return [t.name for t in compare.select_tools(args)]


def test_sizes_are_a_sorted_comma_list_of_positive_counts() -> None:
    assert compare.parse_sizes("2000, 100,300,100") == [100, 300, 2000]
    for bad in ("100,x", "0", ""):
        with pytest.raises(ValueError, match="--nodes"):
            compare.parse_sizes(bad)


def test_tools_default_to_both_go_tools_then_every_variant() -> None:
    assert _names() == ["vmagent", "prometheus", "openagent"]
    assert _names("--whatap") == ["vmagent", "prometheus", "openagent", "openagent-whatap"]
    assert _names("--agent", "old=a run {config}", "--agent", "new=b run {config}") == [
        "vmagent",
        "prometheus",
        "old",
        "new",
    ]
    assert _names("--tools", "openagent,vmagent") == ["openagent", "vmagent"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--agent", "no template here"], "expected NAME=COMMAND_TEMPLATE, got 'no template here'"),
        (["--agent", "x=cmd {nope}"], "x: unknown placeholder {nope}"),
        (["--agent", "a=x", "--agent", "a=y"], "variant name 'a' is given twice"),
        (["--tools", "vmagent,agent"], "--tools: unknown ['agent'] (known: vmagent, prometheus"),
        (["--nodes", "10,ten"], "--nodes: expected a comma list"),
        (["--window", "0"], "need --window > 0"),
        (["--plot-only", "--out", "/nonexistent/report"], "there is no /nonexistent/report/"),
    ],
)
def test_bad_arguments_exit_2_with_the_reason(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        compare.main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def _run(tmp_path: Path, *argv: str) -> tuple[int, Path, dict[str, Any]]:
    out = tmp_path / "out"
    code = compare.main([*argv, *SHORT, "--out", str(out), "--workdir", str(tmp_path / "w")])
    doc = json.loads((out / "results.json").read_text()) if out.exists() else {}
    return code, out, doc


@pytest.mark.timeout(120)
def test_short_run_writes_the_whole_report(tmp_path: Path) -> None:
    code, out, doc = _run(tmp_path, "--nodes", "2", "--tools", "openagent")
    assert code == 0, doc
    assert {p.name for p in out.iterdir()} >= {"results.md", "results.json", "rss.png"}
    for png in ("cpu_per_sample.png", "rss.png"):
        assert (out / png).read_bytes()[:8] == PNG_MAGIC
    base, two = doc["results"]
    assert (base["tool"], base["nodes"], two["tool"], two["nodes"]) == (
        "openagent",
        1,
        "openagent",
        2,
    )
    assert two["error"] == ""
    assert two["series"] == 640 and two["scrapes"] > 0 and two["samples"] == 320 * two["scrapes"]
    assert two["cpu_s"] > 0 and two["rss_peak_mb"] >= two["rss_avg_mb"] > 0
    assert two["bodies_decoded"] == two["bodies_seen"] > 0
    assert two["scrape_source"] == "remote write"
    assert two["scrape_p99_ms"] >= two["scrape_p50_ms"] > 0
    assert two["delay_p99_s"] >= two["delay_p50_s"] >= 0
    assert two["loop_lag_p99_ms"] is not None
    assert two["bytes_per_series"] is not None and base["bytes_per_series"] is None
    assert doc["meta"]["tools"]["openagent"]["version"].startswith("openagent ")
    assert doc["meta"]["checkout"].endswith(f" in {REPO}")
    text = (out / "results.md").read_text()
    assert "## 2 nodes, 640 series" in text and "| openagent | " in text and "×vm" in text
    (out / "rss.png").unlink()
    assert compare.main(["--plot-only", "--out", str(out)]) == 0
    assert (out / "rss.png").read_bytes()[:8] == PNG_MAGIC


@pytest.mark.timeout(120)
def test_whatap_variant_is_measured_against_the_collector_emulator(tmp_path: Path) -> None:
    argv = ["--nodes", "1", "--baseline-nodes", "0", "--whatap", "--tools", "openagent-whatap"]
    code, _, doc = _run(tmp_path, *argv)
    assert code == 0, doc
    (row,) = doc["results"]
    assert (row["tool"], row["error"]) == ("openagent-whatap", "")
    assert row["scrapes"] > 0 and row["cpu_s"] > 0
    assert row["rw_requests"] == 0 and row["delay_p50_s"] is None
    assert row["scrape_source"] == "own /metrics histogram" and row["scrape_p50_ms"] > 0
    assert row["loop_lag_p99_ms"] is not None
    assert doc["meta"]["tools"]["openagent-whatap"]["sink"] == "whatap"
    assert FAKE_LICENSE not in json.dumps(doc)


def test_a_variant_that_cannot_start_fails_the_run(tmp_path: Path) -> None:
    argv = ["--nodes", "1", "--baseline-nodes", "0", "--agent", "gone=no-such-agent {config}"]
    code, out, doc = _run(tmp_path, *argv, "--tools", "gone")
    assert code == 1
    assert "cannot start no-such-agent" in doc["results"][0]["error"]
    assert "| gone | FAILED: cannot start no-such-agent" in (out / "results.md").read_text()
