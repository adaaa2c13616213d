"""Parser throughput on synthetic dcgm-exporter bodies, beside prometheus_client's parser.

Run: ``python -m benchmarks.parser_bench [--runs N] [--min-time S]``.

* cold: a new Parser per body (empty cache: every series is tokenized and built);
* warm: one Parser over successive bodies (values change, families reorder);
* prometheus_client: ``text_string_to_metric_families`` with every sample consumed;
* floor: the least any line-keyed cache can do in pure Python (split, rpartition, one
  dict lookup, float(), two appends), on a prefilled dict; shows what the warm parser's
  checks, comment handling and bookkeeping cost on top.

The builder is the scrape loop's own (`SeriesBuilder`: attaches ``job`` and
``instance``, interns one Series per label set), fresh for every cold parse.
Bodies are already decoded ``str``. Figures are medians of ``--runs`` runs,
each repeating the parse for at least ``--min-time`` seconds, pinned to one
core when the OS allows it.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from prometheus_client.parser import text_string_to_metric_families

from benchmarks.common import STANDARD_SHAPES, pin_one_core
from benchmarks.dcgm_payload import NodeShape, Payload
from openagent.exposition import Parser
from openagent.model import Labels, Series
from openagent.scrape.series import SeriesBuilder

TARGET: Labels = (("job", "dcgm-exporter"), ("instance", "10.0.3.17:9400"))


def _time_per_call(
    fn: Callable[[int], None], bodies: int, runs: int, min_time: float
) -> tuple[float, float]:
    """Median and best over runs of the seconds one call takes."""
    results = []
    for _ in range(runs):
        calls = 0
        t0 = time.perf_counter()
        while True:
            fn(calls % bodies)
            calls += 1
            elapsed = time.perf_counter() - t0
            if elapsed >= min_time:
                break
        results.append(elapsed / calls)
    return statistics.median(results), min(results)


def bench_shape(label: str, shape: NodeShape, runs: int, min_time: float) -> list[str]:
    """Rows of the result table for one payload shape."""
    payload = Payload(shape)
    bodies = [payload.render(i).decode() for i in range(16)]
    samples = payload.samples

    def cold(i: int) -> None:
        Parser(SeriesBuilder(TARGET)).parse(bodies[i], openmetrics=False, default_ts_ms=0)

    warm_parser = Parser(SeriesBuilder(TARGET))
    for body in bodies:
        warm_parser.parse(body, openmetrics=False, default_ts_ms=0)

    def warm(i: int) -> None:
        warm_parser.parse(bodies[i], openmetrics=False, default_ts_ms=0)

    def client(i: int) -> None:
        for family in text_string_to_metric_families(bodies[i]):
            for _ in family.samples:
                pass

    heads = {}
    for body in bodies[:2]:  # the parsers must agree on the sample count
        parsed = warm_parser.parse(body, openmetrics=False, default_ts_ms=0)
        ref = sum(len(f.samples) for f in text_string_to_metric_families(body))
        assert parsed.samples == ref == samples, (parsed.samples, ref, samples)
        sample_lines = [line for line in body.split("\n") if line and line[0] != "#"]
        for line, series in zip(sample_lines, parsed.series, strict=True):
            heads[line.rpartition(" ")[0]] = series

    def floor(i: int) -> None:
        out_series: list[Series] = []
        out_values: list[float] = []
        add_series = out_series.append
        add_value = out_values.append
        get = heads.get
        for line in bodies[i].split("\n"):
            head, _, val = line.rpartition(" ")
            s = get(head)
            if s is not None:
                add_series(s)
                add_value(float(val))

    t_client = _time_per_call(client, len(bodies), max(3, runs // 2), min_time)
    rows = []
    for name, fn in (("openagent warm", warm), ("openagent cold", cold), ("floor", floor)):
        t = _time_per_call(fn, len(bodies), runs, min_time)
        rows.append(_row(label, name, samples, t, t_client[0]))
    rows.append(_row(label, "prometheus_client", samples, t_client, t_client[0]))
    return rows


def _row(payload: str, parser: str, samples: int, t: tuple[float, float], t_ref: float) -> str:
    median, best = t
    return (
        f"| {payload} | {parser} | {median * 1e3:.3f} | {median / samples * 1e6:.3f} "
        f"| {samples / median:,.0f} | {samples / best:,.0f} | {t_ref / median:.1f}x |"
    )


def main() -> None:
    """Print the benchmark table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=9, help="timed runs per figure (median)")
    ap.add_argument("--min-time", type=float, default=0.3, help="seconds per run")
    args = ap.parse_args()
    print(f"# parser benchmark ({pin_one_core()}, median of {args.runs} runs)")
    print()
    print(
        "| payload | parser | ms/parse | µs/sample | samples/s | best run samples/s "
        "| vs prometheus_client |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    for label, shape in STANDARD_SHAPES:
        for row in bench_shape(label, shape, args.runs, args.min_time):
            print(row, flush=True)


if __name__ == "__main__":
    main()
