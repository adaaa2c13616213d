"""The report's rendering: tables with ratio columns, JSON that round-trips, PNGs."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks import compare_report as rep
from benchmarks.compare_run import Result

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _meta() -> dict[str, Any]:
    return {
        "date": "2025-01-01 00:00 UTC",
        "machine": "2 cores",
        "sizes": [10],
        "baseline_nodes": 1,
        "decode_max": 1000,
        "workload": {
            "per_scrape": 320,
            "shape": "8 GPUs × 40 families",
            "interval": "15s",
            "update_interval": 15.0,
            "warmup": 20.0,
            "window": 60.0,
        },
        "tools": {"vmagent": {"version": "v1", "command": "vmagent", "sink": "remote_write"}},
    }


def _results() -> list[Result]:
    vm = Result("vmagent", 10, 3200, scrapes=40, samples=12800, cpu_s=0.128, window_s=60)
    vm.rss_avg_mb, vm.rss_peak_mb, vm.bytes_per_series = 20.0, 22.0, 1000.0
    vm.scrape_p50_ms, vm.scrape_p99_ms, vm.scrape_source = 2.0, 4.0, "remote write"
    vm.delay_p50_s, vm.delay_p99_s, vm.bodies_seen, vm.bodies_decoded = 0.5, 1.0, 60, 60
    oa = Result("openagent", 10, 3200, scrapes=40, samples=12800, cpu_s=0.256, window_s=60)
    oa.rss_avg_mb, oa.rss_peak_mb, oa.bytes_per_series = 60.0, 66.0, 3000.0
    oa.scrape_p50_ms, oa.scrape_p99_ms, oa.scrape_source = 3.0, 5.0, "own /metrics histogram"
    oa.loop_lag_p99_ms = 4.5
    base = Result("vmagent", 1, 320, scrapes=4, samples=1280, cpu_s=0.02, rss_avg_mb=15.0)
    oa.bodies_seen, oa.bodies_decoded, oa.decode_errors = 9, 7, 2
    broken = Result("old", 10, 3200, error="exited with 1 during warm-up\ntraceback")
    return [base, vm, oa, broken]


def _row(table: list[str], tool: str) -> dict[str, str]:
    head = [c.strip() for c in table[0].strip("|").split("|")]
    for line in table[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[0] == tool:
            # Ratio columns share a header: key them by the column they follow.
            keyed, last = {}, ""
            for name, cell in zip(head, cells, strict=True):
                keyed[f"{last} {name}" if name == rep.RATIO_HEADER else name] = cell
                last = name if name != rep.RATIO_HEADER else last
            return keyed
    raise AssertionError(f"no row for {tool}")


def test_every_measured_column_but_loop_lag_has_a_ratio_column() -> None:
    head = rep.headers()
    for col in rep.COLUMNS:
        after = head[head.index(col.header) + 1]
        assert (after == rep.RATIO_HEADER) == col.with_ratio, col.header
    assert head.count(rep.RATIO_HEADER) == 8


def test_size_table_gives_values_and_ratios_to_vmagent() -> None:
    table = rep.size_table([r for r in _results() if r.nodes == 10])
    vm, oa = _row(table, "vmagent"), _row(table, "openagent")
    assert vm["µs/sample"] == "10.00" and vm["µs/sample ×vm"] == "1.00×"
    assert oa["µs/sample"] == "20.00" and oa["µs/sample ×vm"] == "2.00×"
    assert oa["RSS avg MB"] == "60.0" and oa["RSS avg MB ×vm"] == "3.00×"
    assert oa["B/series"] == "3,000" and oa["B/series ×vm"] == "3.00×"
    assert oa["scrape p50 ms"] == "3.00 (h)" and oa["scrape p50 ms ×vm"] == "1.50×"
    assert oa["delay p50 s"] == "n/a" and oa["delay p50 s ×vm"] == "n/a"
    assert oa["loop lag p99 ms"] == "4.50" and vm["loop lag p99 ms"] == "n/a"
    assert vm["decoded"] == "60 / 60" and oa["decoded"] == "7 / 9 (2 undecodable)"
    assert "FAILED: exited with 1 during warm-up" in table[-1]
    assert "traceback" not in table[-1]


def test_without_vmagent_the_ratios_are_na() -> None:
    table = rep.size_table([r for r in _results() if r.tool == "openagent"])
    assert _row(table, "openagent")["µs/sample ×vm"] == "n/a"


def test_markdown_has_the_header_notes_and_one_table_per_size() -> None:
    text = rep.render_markdown(_meta(), _results())
    assert "## 1 nodes, 320 series (baseline)" in text
    assert "## 10 nodes, 3,200 series\n" in text
    assert "| vmagent | v1 | `vmagent` |" in text
    assert "each tool's own run against a 1-node fleet" in text
    assert text.count("| tool | scrapes |") == 2


def test_write_report_round_trips_json_and_draws_both_plots(tmp_path: Path) -> None:
    paths = rep.write_report(tmp_path, _meta(), _results())
    assert sorted(p.name for p in paths) == sorted(["results.md", "results.json", *rep.PLOTS])
    doc = json.loads((tmp_path / "results.json").read_text())
    back = [rep.result_from_dict(d) for d in doc["results"]]
    assert back == _results()
    assert doc["results"][1]["us_per_sample"] == 10.0
    assert doc["results"][3]["us_per_sample"] is None
    for name in rep.PLOTS:
        (tmp_path / name).unlink()
    assert rep.plot(tmp_path) == [tmp_path / name for name in rep.PLOTS]
    for name in rep.PLOTS:
        assert (tmp_path / name).read_bytes()[:8] == PNG_MAGIC


def test_without_matplotlib_the_numbers_are_still_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    paths = rep.write_report(tmp_path, _meta(), _results())
    assert [p.name for p in paths] == ["results.md", "results.json"]
    assert not any((tmp_path / name).exists() for name in rep.PLOTS)
    assert "then --plot-only" in capsys.readouterr().err
