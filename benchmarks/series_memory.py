"""Memory per series and CPU per sample of the per-target path, without the network.

Run: ``python -m benchmarks.series_memory [--targets N] [--scrapes K] [--sink rw|whatap|both]``,
or ``python -m benchmarks.series_memory --churn 5000 --scrapes 200 [--failing]``.

Builds ``--targets`` real `ScrapeLoop` objects (the scrape loop's own parser,
series cache, staleness tracking and report series), each fed synthetic
dcgm-exporter bodies by an in-memory client, and hands every result to the
real sink encoders, as the running agent does. After ``--scrapes`` rounds it
reports:

* bytes per series: the growth of the Python heap (``tracemalloc``) from
  before the first scrape to after the last, divided by the series held; the
  bodies of the last round are released first, so this is what a target keeps
  between scrapes;
* CPU per sample of a warm round (parse, dedupe, staleness, encoding), on one
  core, with tracing off.

With ``--churn N``, one target exposes N series with fresh label values on
every scrape (``--failing``: and a malformed last line, so every scrape fails
after the parser met all N), and the run reports the process's resident memory
(RSS, from ``/proc``) grown over the scrapes and at its peak, and the entries
its parser table held after the last scrape and at most after any scrape:
what one churning target costs, which the per-target cache bound is for.

The fetch, the event loop and the HTTP parsing are left out on purpose: they
are measured end to end by ``benchmarks.vmagent_compare``. This one isolates
what the per-target cache costs, so that a change to it shows up clearly on a
noisy machine.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
import tracemalloc
from dataclasses import dataclass
from typing import Any

from benchmarks.common import pin_one_core
from benchmarks.dcgm_payload import NodeShape, Payload
from openagent.config.models import EndpointConfig
from openagent.exposition import Limits
from openagent.model import ScrapeResult, Target
from openagent.scrape.http import FetchResult
from openagent.scrape.loop import ScrapeLoop
from openagent.sinks.remote_write.encodings import SeriesEncodings
from openagent.sinks.remote_write.prompb import WriteRequestBuilder
from openagent.sinks.whatap.encoder import OpenMxEncoder, PackIdentity

PCODE = 123


class _Bodies:
    """A scrape client that answers from prepared bodies, one list per URL."""

    def __init__(self, bodies: dict[str, list[bytes]]) -> None:
        self.bodies = bodies
        self.round = 0

    async def fetch(self, url: str, ep: Any, **_: Any) -> FetchResult:
        body = self.bodies[url][self.round % len(self.bodies[url])]
        return FetchResult(body, "text/plain; version=0.0.4", 200, len(body), len(body))


@dataclass
class _Sinks:
    rw: WriteRequestBuilder | None
    whatap: OpenMxEncoder | None

    def __call__(self, result: ScrapeResult) -> None:
        if self.rw is not None:
            self.rw.add_samples(result.series, result.values, result.timestamp_ms)
            self.rw.add_stale(result.stale, result.timestamp_ms)
            self.rw.buf.clear()
        if self.whatap is not None:
            self.whatap.encode(result, result.timestamp_ms)


def _sinks(which: str) -> _Sinks:
    rw = WriteRequestBuilder(SeriesEncodings("enc0")) if which in ("rw", "both") else None
    whatap = None
    if which in ("whatap", "both"):
        whatap = OpenMxEncoder(PackIdentity(PCODE, 1617387566))
        whatap.use_series_slot("enc1")
    return _Sinks(rw, whatap)


def _targets(n: int, shape: NodeShape, renders: int) -> tuple[list[Target], _Bodies]:
    bodies: dict[str, list[bytes]] = {}
    targets = []
    ep = EndpointConfig.model_validate({"address": "127.0.0.1:9400"})
    for i in range(n):
        payload = Payload(NodeShape(**{**shape.__dict__, "hostname": f"gpu-node-{i}"}))
        url = f"http://127.0.{i // 250}.{i % 250 + 1}:9400/metrics"
        labels = (("instance", url.split("/")[2]), ("job", "dcgm"))
        targets.append(Target("dcgm", url, labels, ep))
        bodies[url] = [payload.render(k) for k in range(renders)]
    return targets, _Bodies(bodies)


async def _round(loops: list[ScrapeLoop]) -> None:
    for loop in loops:
        loop.emit(await loop.scrape_once())


async def measure(n: int, scrapes: int, shape: NodeShape, sink: str) -> dict[str, float]:
    """Build ``n`` targets, scrape them ``scrapes`` times; return bytes/series and µs/sample."""
    targets, client = _targets(n, shape, renders=3)
    sinks = _sinks(sink)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    loops = [ScrapeLoop(t, client, sinks, limits=Limits()) for t in targets]  # type: ignore[arg-type]
    for k in range(scrapes):
        client.round = k
        await _round(loops)
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    series = sum(loop.state.series for loop in loops)
    client.round = scrapes
    t0 = time.process_time()
    await _round(loops)
    cpu = time.process_time() - t0
    samples = sum(loop.state.samples for loop in loops)
    return {
        "series": series,
        "bytes_per_series": held / series,
        "us_per_sample": cpu * 1e6 / samples,
    }


class _Churning:
    """A scrape client whose one target answers ``series`` new series every scrape."""

    def __init__(self, series: int, failing: bool) -> None:
        self.series = series
        self.failing = failing
        self.round = 0

    async def fetch(self, url: str, ep: Any, **_: Any) -> FetchResult:
        k, n = self.round, self.series
        lines = [f'churn_metric{{id="{k}-{i}",gpu="{i % 8}"}} {i}\n' for i in range(n)]
        if self.failing:
            lines.append("churn_metric{} not-a-number\n")
        body = "".join(lines).encode()
        return FetchResult(body, "text/plain; version=0.0.4", 200, len(body), len(body))


def _rss_mib(field: str = "VmRSS") -> float:
    """The process's resident memory (``VmRSS``) or its peak (``VmHWM``), in MiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


async def measure_churn(series: int, scrapes: int, failing: bool) -> dict[str, float]:
    """Scrape one churning target ``scrapes`` times; return RSS growth and table sizes."""
    ep = EndpointConfig.model_validate({"address": "127.0.0.1:9400"})
    labels = (("instance", "127.0.0.1:9400"), ("job", "churn"))
    target = Target("churn", "http://127.0.0.1:9400/metrics", labels, ep)
    client = _Churning(series, failing)
    loop = ScrapeLoop(target, client, lambda _: None, limits=Limits())  # type: ignore[arg-type]
    gc.collect()
    before = _rss_mib()
    most = 0
    for k in range(scrapes):
        client.round = k
        await loop.scrape_once()
        most = max(most, loop.cache.size)
    gc.collect()
    return {
        "rss_growth": _rss_mib() - before,
        "rss_peak_growth": _rss_mib("VmHWM") - before,
        "entries_end": loop.cache.size,
        "entries_max": most,
    }


def _churn_main(args: argparse.Namespace) -> None:
    out = asyncio.run(measure_churn(args.churn, args.scrapes, args.failing))
    print(
        "| series per scrape | scrapes | scrapes fail | RSS grown, MiB | RSS peak grown, MiB "
        "| table entries at end | most after a scrape |\n|---:|---:|---|---:|---:|---:|---:|"
    )
    print(
        f"| {args.churn} | {args.scrapes} | {'yes' if args.failing else 'no'} | "
        f"{out['rss_growth']:.0f} | {out['rss_peak_growth']:.0f} | "
        f"{out['entries_end']:.0f} | {out['entries_max']:.0f} |"
    )


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.series_memory", description=__doc__)
    p.add_argument("--targets", type=int, default=200)
    p.add_argument("--scrapes", type=int, default=3)
    p.add_argument("--gpus", type=int, default=8)
    p.add_argument("--families", type=int, default=41)
    p.add_argument("--sink", choices=("rw", "whatap", "both", "none"), default="rw")
    p.add_argument("--churn", type=int, default=0, help="one target, this many new series a scrape")
    p.add_argument("--failing", action="store_true", help="with --churn: every scrape fails")
    args = p.parse_args()
    print(pin_one_core())
    if args.churn:
        _churn_main(args)
        return
    shape = NodeShape(gpus=args.gpus, families=args.families)
    out = asyncio.run(measure(args.targets, args.scrapes, shape, args.sink))
    print("| targets | series | sink | B/series held | µs/sample warm |\n|---:|---:|---|---:|---:|")
    print(
        f"| {args.targets} | {out['series']:.0f} | {args.sink} | "
        f"{out['bytes_per_series']:.0f} | {out['us_per_sample']:.2f} |"
    )


if __name__ == "__main__":
    main()
