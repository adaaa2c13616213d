"""Whatap OpenMx encoding cost per sample, by gzip library and level.

Run: ``python -m benchmarks.whatap_encode_bench [--runs N] [--min-time S]``.

Scrape results come from synthetic dcgm-exporter bodies parsed by the real
parser and series builder (pod-style target labels ``job``, ``instance``,
``node``), so the `Series` objects, label order and metadata mapping are the
ones the sink sees. Figures per sample:

* records: the record bytes only (cached series part + pcode, timestamp, value);
* encode: `OpenMxEncoder.encode` whole: records, packs of 1000, gzip;
* warm: the series cache is filled and help is not due (every scrape after the first);
* cold: empty series caches and a new encoder (first scrape of a target: every
  series part and help record is encoded, help packs are built);
* bytes/sample: wire bytes of the OpenMxPacks per sample, and the ratio raw/zipped.

``isal`` and ``zlib-ng`` rows appear when those packages are importable. Each
figure is CPU time (not wall time), the best of ``--runs`` rounds (the least
disturbed by other load on a shared machine); a round times every figure in
turn for at least ``--min-time`` seconds each, pinned to one core when the OS
allows it.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from benchmarks.common import STANDARD_SHAPES, pin_one_core
from benchmarks.dcgm_payload import NodeShape, Payload
from openagent.exposition import Parser
from openagent.model import SERIES_SLOTS, Labels, ScrapeResult
from openagent.scrape.series import SeriesBuilder
from openagent.sinks.whatap.compress import available_backends
from openagent.sinks.whatap.encoder import OpenMxEncoder, PackIdentity

#: The series slot the encoder caches in, as the delivery layer would hand it out.
SLOT = SERIES_SLOTS[0]

TARGET: Labels = (
    ("job", "dcgm-exporter"),
    ("instance", "10.0.3.17:9400"),
    ("node", "ip-10-0-3-17.ec2.internal"),
)
IDENTITY = PackIdentity(pcode=33789, oid=1617387566, okind=-1108554816, onode=967915637)
TS = 1756912212000
CHOICES: tuple[tuple[str, int], ...] = (
    ("zlib", 6),
    ("zlib", 1),
    ("zlib-ng", 6),
    ("zlib-ng", 2),
    ("zlib-ng", 1),
    ("isal", 2),
    ("isal", 1),
)


def scrape_results(shape: NodeShape, scrapes: int) -> list[ScrapeResult]:
    """Successive scrapes of one target, through the parser and series builder."""
    payload = Payload(shape)
    parser = Parser(SeriesBuilder(TARGET))
    out = []
    for i in range(scrapes):
        ts = TS + i * 30_000
        parsed = parser.parse(payload.render(i).decode(), openmetrics=False, default_ts_ms=ts)
        out.append(
            ScrapeResult(
                target_id="node-0",
                job="dcgm-exporter",
                instance="10.0.3.17:9400",
                url="http://10.0.3.17:9400/metrics",
                timestamp_ms=ts,
                series=parsed.series,
                values=parsed.values,
                timestamps=parsed.timestamps,
                metadata=parsed.metadata,
            )
        )
    return out


@dataclass
class Job:
    """One figure of the table: a call to time and what to do, untimed, before each call."""

    what: str
    cache: str
    fn: Callable[[int], None]
    reset: Callable[[], None]
    wire: str = "| | |"
    best: float = math.inf


def _per_call(job: Job, calls: int, min_time: float) -> float:
    """CPU seconds one call of ``job`` takes, averaged over at least ``min_time`` seconds.

    CPU time of this process, not wall time: on a shared machine the time spent
    waiting for a core is not the encoder's cost.
    """
    spent, n, started = 0.0, 0, time.perf_counter()
    while time.perf_counter() - started < min_time:
        job.reset()
        t0 = time.process_time()
        job.fn(n % calls)
        spent += time.process_time() - t0
        n += 1
    return spent / n


def _no_reset() -> None:
    pass


def records_jobs(results: list[ScrapeResult], clear: Callable[[], None]) -> list[Job]:
    """Record bytes only (no packs, no gzip), warm and cold."""
    enc = OpenMxEncoder(IDENTITY, gzip_backend="zlib")
    enc.use_series_slot(SLOT)
    enc.encode(results[0], TS)

    def records(i: int) -> None:
        enc._records(results[i], {})

    return [
        Job("records only", "warm", records, _no_reset),
        Job("records only", "cold", records, clear),
    ]


def encode_jobs(
    backend: str, level: int, results: list[ScrapeResult], clear: Callable[[], None], raw: int
) -> list[Job]:
    """Whole `OpenMxEncoder.encode` with one gzip choice, warm and cold."""
    enc = OpenMxEncoder(IDENTITY, gzip_backend=backend, gzip_level=level)
    enc.use_series_slot(SLOT)
    enc.encode(results[0], TS)
    samples = len(results[0].series)
    wire = sum(len(b.payload) for b in enc.encode(results[1], TS).batches if b.samples)
    fresh = [enc]

    def warm(i: int) -> None:
        enc.encode(results[i], TS + 1000)

    def new_encoder() -> None:
        clear()
        fresh[0] = OpenMxEncoder(IDENTITY, gzip_backend=backend, gzip_level=level)
        fresh[0].use_series_slot(SLOT)

    def cold(i: int) -> None:
        fresh[0].encode(results[i], TS)

    what = f"{backend} {level}"
    wire_cols = f"| {wire / samples:.1f} | {raw / wire:.1f}x |"
    return [Job(what, "warm", warm, _no_reset, wire_cols), Job(what, "cold", cold, new_encoder)]


def bench_shape(label: str, shape: NodeShape, runs: int, min_time: float) -> list[str]:
    """Result rows for one payload shape; rounds go over every figure in turn, so that
    load from elsewhere hits all of them alike."""
    results = scrape_results(shape, 8)
    samples = len(results[0].series)
    all_series = results[0].series

    def clear() -> None:
        for s in all_series:
            setattr(s, SLOT, None)

    raw_parts, _ = OpenMxEncoder(IDENTITY, gzip_backend="zlib")._records(results[0], {})
    raw = len(b"".join(raw_parts))
    jobs = records_jobs(results, clear)
    missing = []
    for backend, level in CHOICES:
        if backend in available_backends():
            jobs += encode_jobs(backend, level, results, clear, raw)
        else:
            missing.append(f"| {label} | {backend} {level} | | not installed | | |")
    for _ in range(runs):
        for job in jobs:
            job.best = min(job.best, _per_call(job, len(results), min_time))
    rows = [
        f"| {label} | {job.what} | {job.cache} | {job.best / samples * 1e6:.3f} {job.wire}"
        for job in jobs
    ]
    return rows + missing


def main() -> None:
    """Print the benchmark table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5, help="timed runs per figure (best)")
    ap.add_argument("--min-time", type=float, default=0.2, help="seconds per figure and run")
    args = ap.parse_args()
    print(f"# Whatap encode benchmark ({pin_one_core()}, best of {args.runs} runs)")
    print(f"# gzip backends importable here: {', '.join(available_backends())}")
    print()
    print("| payload | gzip | cache | µs/sample | wire bytes/sample | raw/zipped |")
    print("|---|---|---|---:|---:|---:|")
    for label, shape in STANDARD_SHAPES:
        for row in bench_shape(label, shape, args.runs, args.min_time):
            print(row, flush=True)


if __name__ == "__main__":
    main()
