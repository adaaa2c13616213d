"""Differential test: the real Prometheus scrapes the same bodies that we parse.

One Prometheus (``/usr/bin/prometheus``) per module scrapes every dcgm
fixture and every edge case from a loopback aiohttp server, one job each,
``honor_labels: true``, every second. Its verdict (``up``) and the samples it
stored must match what our parser makes of the same bytes.
"""

from __future__ import annotations

import math
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from openagent.exposition import ParseError, Parser, decode_body
from tests.exposition.conftest import (
    DCGM_FIXTURES,
    OPENMETRICS_CONTENT_TYPE,
    TEXT_CONTENT_TYPE,
    BodyServer,
    CountingBuilder,
)
from tests.exposition.edge_cases import CASES, CREATED_SKIPPED, DEVIATIONS
from tests.peers import PeerError, PrometheusServer

pytestmark = pytest.mark.peer

Key = tuple[str, frozenset[tuple[str, str]]]
WINDOW_S = 600


@dataclass
class Run:
    """What the module's Prometheus scraped."""

    prom: PrometheusServer
    bodies: dict[str, tuple[str, bool]]  # job -> (text, openmetrics?)
    up: dict[str, float]
    errors: dict[str, str]
    now_ms: int
    address: str


@pytest.fixture(scope="module")
def run() -> Iterator[Run]:
    ts_s = int(time.time()) - 60
    bodies: dict[str, tuple[str, bool]] = {}
    for path in DCGM_FIXTURES:
        bodies[f"dcgm-{path.stem}"] = (decode_body(path.read_bytes()), False)
    for case_id, om, body in CASES:
        body = body.replace("@TS_MS@", str(ts_s * 1000)).replace("@TS_S@", str(ts_s))
        bodies[f"edge-{case_id}"] = (body, om)
    served = {
        f"/{job}": (text.encode(), OPENMETRICS_CONTENT_TYPE if om else TEXT_CONTENT_TYPE)
        for job, (text, om) in bodies.items()
    }
    jobs = [
        {
            "job_name": job,
            "honor_labels": True,
            "metrics_path": f"/{job}",
            "scrape_interval": "1s",
            "scrape_timeout": "1s",
        }
        for job in bodies
    ]
    with BodyServer(served) as server:
        for job in jobs:
            job["static_configs"] = [{"targets": [server.address]}]
        with PrometheusServer(jobs) as prom:
            prom.wait_for("count(up)", lambda r: bool(r) and r[0][1] == len(jobs), timeout=30)
            up = {labels["job"]: value for labels, value in prom.query("up")}
            errors = {t["labels"]["job"]: t.get("lastError", "") for t in prom.targets()}
            yield Run(prom, bodies, up, errors, int(time.time() * 1000), server.address)


def prometheus_samples(run: Run, job: str) -> dict[Key, tuple[float, int]]:
    """Last stored (value, timestamp) per series of ``job``, without the synthetic series."""
    out: dict[Key, tuple[float, int]] = {}
    for labels, samples in run.prom.samples(f'{{job="{job}"}}', f"{WINDOW_S}s"):
        name = labels.pop("__name__")
        if name == "up" or name.startswith("scrape_"):
            continue
        assert labels.pop("instance").startswith("127.0.0.1:")
        assert labels.pop("job") == job
        out[(name, frozenset(labels.items()))] = samples[-1][::-1]
    return out


def our_samples(run: Run, job: str) -> dict[Key, tuple[float, int | None]]:
    """The same from our parser; explicit timestamps kept, others None."""
    text, om = run.bodies[job]
    parsed = Parser(CountingBuilder()).parse(text, openmetrics=om, default_ts_ms=-1)
    stamps = parsed.timestamps or [-1] * len(parsed.values)
    out: dict[Key, tuple[float, int | None]] = {}
    for series, value, ts in zip(parsed.series, parsed.values, stamps, strict=True):
        if ts != -1 and not run.now_ms - WINDOW_S * 1000 < ts <= run.now_ms:
            continue  # stored by Prometheus, but outside what the query window shows
        # Prometheus treats an empty label value as an absent label
        labels = frozenset((k, v) for k, v in series.labels if v)
        out[(series.name, labels)] = (value, None if ts == -1 else ts)
    return out


def assert_same_samples(run: Run, job: str) -> None:
    theirs = prometheus_samples(run, job)
    ours = our_samples(run, job)
    if job.removeprefix("edge-") in CREATED_SKIPPED:
        skipped = {k for k in theirs if k[0].endswith("_created")}
        assert skipped, "Prometheus 2.42 stores OpenMetrics _created series"
        theirs = {k: v for k, v in theirs.items() if k not in skipped}
    assert set(ours) == set(theirs)
    for key, (value, ts) in ours.items():
        their_value, their_ts = theirs[key]
        assert value == their_value or (math.isnan(value) and math.isnan(their_value)), key
        if ts is not None:
            assert ts == their_ts, key


@pytest.mark.parametrize("path", DCGM_FIXTURES, ids=lambda p: p.stem)
def test_dcgm_fixture_matches_prometheus(run: Run, path: Path) -> None:
    job = f"dcgm-{path.stem}"
    assert run.up[job] == 1, run.errors[job]
    assert_same_samples(run, job)
    samples_scraped = run.prom.query(f'scrape_samples_scraped{{job="{job}"}}')
    parsed = Parser(CountingBuilder()).parse(run.bodies[job][0], openmetrics=False, default_ts_ms=0)
    assert samples_scraped[0][1] == parsed.samples


def test_dcgm_metadata_matches_prometheus(run: Run) -> None:
    stored = run.prom.metadata()
    checked = 0
    for path in DCGM_FIXTURES:
        text, _ = run.bodies[f"dcgm-{path.stem}"]
        meta = Parser(CountingBuilder()).parse(text, openmetrics=False, default_ts_ms=0).metadata
        for family, m in meta.items():
            assert {"type": m.type, "help": m.help, "unit": m.unit} in stored[family]
            checked += 1
    assert checked > 50


@pytest.mark.parametrize(("case_id", "om", "body"), CASES, ids=[c[0] for c in CASES])
def test_edge_case_matches_prometheus(run: Run, case_id: str, om: bool, body: str) -> None:
    job = f"edge-{case_id}"
    try:
        Parser(CountingBuilder()).parse(run.bodies[job][0], openmetrics=om, default_ts_ms=0)
        we_accept = True
    except ParseError:
        we_accept = False
    prometheus_accepts = run.up[job] == 1
    if case_id in DEVIATIONS:
        expected, why = DEVIATIONS[case_id]
        assert we_accept is expected, why
        assert prometheus_accepts is not expected, why
        return
    assert we_accept is prometheus_accepts, run.errors[job]
    if we_accept:
        assert_same_samples(run, job)


def test_help_texts_match_prometheus(run: Run) -> None:
    for job, family in (("edge-help-escapes", "hm"), ("edge-om-counter", "omc")):
        text, om = run.bodies[job]
        meta = Parser(CountingBuilder()).parse(text, openmetrics=om, default_ts_ms=0).metadata
        stored = run.prom.metadata(family)[family]
        assert stored == [{"type": meta[family].type, "help": meta[family].help, "unit": ""}]


@pytest.mark.parametrize("path", DCGM_FIXTURES, ids=lambda p: p.stem)
def test_openagent_scrape_command_matches_prometheus(run: Run, path: Path) -> None:
    """The real ``openagent scrape`` command prints what Prometheus stored for the same body.

    The command attaches its own ``job``/``instance`` and the synthetic series; both
    sides are compared without them. Empty label values count as absent, as in
    Prometheus.
    """
    job = f"dcgm-{path.stem}"
    proc = subprocess.run(
        [sys.executable, "-m", "openagent", "scrape", f"http://{run.address}/{job}"],
        capture_output=True,
        check=True,
        timeout=60,
    )
    ours: dict[Key, float] = {}
    for line in proc.stdout.splitlines():
        sample = orjson.loads(line)
        name, labels = sample["name"], sample["labels"]
        if name == "up" or name.startswith("scrape_"):
            continue
        assert labels.pop("job") == "scrape"
        assert labels.pop("instance") == run.address
        value = sample["value"]
        value = float(value) if isinstance(value, str) else value
        ours[(name, frozenset((k, v) for k, v in labels.items() if v))] = value
    theirs = prometheus_samples(run, job)
    assert set(ours) == set(theirs)
    for key, value in ours.items():
        their_value = theirs[key][0]
        assert value == their_value or (math.isnan(value) and math.isnan(their_value)), key


def test_missing_binary_is_a_clear_error() -> None:
    with pytest.raises(PeerError, match="binary not found at /nonexistent/prometheus"):
        PrometheusServer(binary="/nonexistent/prometheus").start()
