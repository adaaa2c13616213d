"""Every benchmark still runs: a tiny workload each, checking the report, never the speed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

CASES = [
    ("parser_bench", ["--runs", "1", "--min-time", "0.01"], "openagent cold"),
    ("whatap_encode_bench", ["--runs", "1", "--min-time", "0.01"], "records only"),
    ("whatap_barrier_bench", ["--samples", "3200", "--runs", "1"], "group 16 |"),
    ("spool_bench", ["--total-mib", "1", "--policies", "never"], "never"),
    ("lane_bench", ["--batches", "200", "--runs", "1"], "spool vs memory"),
    (
        "discovery_bench",
        ["--pods", "40", "--namespaces", "2", "--burst", "5", "--repeat", "1"],
        "40",
    ),
    ("remote_write_bench", ["--encode-only", "--runs", "1", "--min-time", "0.01"], "sample"),
    ("reload_bench", ["--endpoints", "50", "--reloads", "1"], "| 1 (move) |"),
    ("status_page_bench", ["--targets", "50", "--runs", "1"], "page ?health=down"),
    ("series_memory", ["--targets", "3", "--scrapes", "2", "--sink", "both"], "B/series held"),
    ("series_memory", ["--churn", "50", "--scrapes", "3", "--failing"], "table entries at end"),
    ("attribution_bench", ["--nodes", "2", "--gpus", "4", "--rounds", "1"], "pods attributed | 8"),
    ("fetch_floor", ["--nodes", "2", "--fetches", "5", "--rounds", "1"], "x the floor"),
    (
        "workers_bench",
        [
            *("--nodes", "3", "--gpus", "1", "--families", "3", "--pods-per-gpu", "0"),
            *("--warmup", "0.5", "--window", "1", "--workers", "1,2"),
        ],
        "2 vs 1 workers",
    ),
]


@pytest.mark.timeout(180)
@pytest.mark.parametrize(("module", "args", "expect"), CASES, ids=[c[0] for c in CASES])
def test_benchmark_runs_and_reports(module: str, args: list[str], expect: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{module}", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=170,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "|" in proc.stdout and expect in proc.stdout, proc.stdout[-2000:]
