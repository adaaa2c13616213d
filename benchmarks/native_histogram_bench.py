"""What a native histogram costs on the protobuf path, beside a flat sample.

Run: ``python -m benchmarks.native_histogram_bench [--runs N] [--min-time S]``.

Bodies are delimited protobuf expositions (written with the tests' protobuf
writer): ``--gauges`` gauges with dcgm-exporter's label block, and as many
native histograms with ``--buckets`` populated buckets in two spans, on a
fresh `ProtobufParser` warmed by one parse (as the scrape loop's table is
after the first scrape). Timed, medians of ``--runs`` runs pinned to one core:

* parse per flat sample: a gauges-only body;
* parse per histogram: (a body with the histograms too - the gauges-only one)
  divided by the histograms;
* remote-write encode per histogram: `RemoteWriteSink.encode` of the
  histograms alone (compression not included);
* the text parser per sample on the same gauges written as text, for scale.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from benchmarks.common import pin_one_core
from openagent.exposition import Parser, ProtobufParser
from openagent.model import HistogramSample, ScrapeResult
from openagent.scrape.series import SeriesBuilder
from openagent.sinks.remote_write import RemoteWriteOptions, RemoteWriteSink
from tests.exposition.protobuf_writer import GAUGE, HISTOGRAM, delimited, family, gauge, metric
from tests.exposition.protobuf_writer import native as native_histogram

TARGET = (("job", "dcgm-exporter"), ("instance", "10.0.3.17:9400"))
TS = 1_764_300_000_000


def labels(i: int) -> tuple[tuple[str, str], ...]:
    return (
        ("gpu", str(i % 8)),
        ("UUID", f"GPU-{i:08d}-5b44-820f-5244-1b9e7486100f"),
        ("device", f"nvidia{i % 8}"),
        ("modelName", "NVIDIA H100 80GB HBM3"),
        ("Hostname", "gpu-node-17"),
    )


def bodies(n: int, buckets: int) -> tuple[bytes, bytes, bytes]:
    """(gauges only, gauges and histograms, the gauges as text)."""
    gauges = family(
        "DCGM_FI_DEV_GPU_TEMP", GAUGE, *(metric(gauge(40 + i), labels=labels(i)) for i in range(n))
    )
    half = buckets // 2
    h = native_histogram(
        positive=(((-3, half), (2, buckets - half)), tuple([3, -1] * (buckets // 2))),
        zero_count=1,
        count=buckets + 1,
        total=12.5,
    )
    hists = family("latency_seconds", HISTOGRAM, *(metric(h, labels=labels(i)) for i in range(n)))
    text = "".join(
        "DCGM_FI_DEV_GPU_TEMP{" + ",".join(f'{k}="{v}"' for k, v in labels(i)) + f"}} {40 + i}\n"
        for i in range(n)
    )
    return delimited(gauges), delimited(gauges, hists), text.encode()


def per_call(fn: Callable[[], object], runs: int, min_time: float) -> float:
    """Median seconds of one call."""
    out = []
    for _ in range(runs):
        calls, start = 0, time.perf_counter()
        while True:
            fn()
            calls += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_time:
                break
        out.append(elapsed / calls)
    return statistics.median(out)


def main(argv: list[str] | None = None) -> int:
    """Print one table."""
    ap = argparse.ArgumentParser(prog="python -m benchmarks.native_histogram_bench")
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--min-time", type=float, default=0.3)
    ap.add_argument("--gauges", type=int, default=1000)
    ap.add_argument("--buckets", type=int, default=20)
    args = ap.parse_args(argv)
    n = args.gauges
    flat_body, both_body, text_body = bodies(n, args.buckets)
    pinned = pin_one_core()

    flat = ProtobufParser(SeriesBuilder(TARGET))
    flat.parse(flat_body, default_ts_ms=TS)
    both = ProtobufParser(SeriesBuilder(TARGET))
    parsed = both.parse(both_body, default_ts_ms=TS)
    text = Parser(SeriesBuilder(TARGET))
    decoded_text = text_body.decode()
    text.parse(decoded_text, openmetrics=False, default_ts_ms=TS)
    t_flat = per_call(lambda: flat.parse(flat_body, default_ts_ms=TS), args.runs, args.min_time)
    t_both = per_call(lambda: both.parse(both_body, default_ts_ms=TS), args.runs, args.min_time)
    t_text = per_call(
        lambda: text.parse(decoded_text, openmetrics=False, default_ts_ms=TS),
        args.runs,
        args.min_time,
    )

    sink = RemoteWriteSink(RemoteWriteOptions("http://127.0.0.1:9/api/v1/write", max_samples=10**9))
    samples = [
        HistogramSample(s.name, s.labels, TS, h)
        for s, h in zip(parsed.histograms, parsed.histogram_values, strict=True)
    ]
    result = ScrapeResult("t", "j", "i", "u", TS, histograms=samples)

    def encode() -> None:
        sink.encode(result)
        sink._builder = type(sink._builder)(sink._encodings)  # drop it, uncompressed

    t_rw = per_call(encode, args.runs, args.min_time)
    print(f"# native histograms, {n} gauges + {n} histograms of {args.buckets} buckets ({pinned})")
    print()
    print("| figure | µs |")
    print("|---|---:|")
    print(f"| text parse, per sample (warm) | {t_text / n * 1e6:.2f} |")
    print(f"| protobuf parse, per flat sample (warm) | {t_flat / n * 1e6:.2f} |")
    print(f"| protobuf parse, per native histogram (warm) | {(t_both - t_flat) / n * 1e6:.2f} |")
    print(f"| remote-write encode, per native histogram | {t_rw / n * 1e6:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
