"""Running our parser, series builder and encoder the way the scrape loop does, for
the ``convert`` vectors, and flattening both sides to comparable samples."""

from __future__ import annotations

import math
from collections.abc import Mapping

from openagent.exposition import Parser
from openagent.model import Labels, Metadata, ScrapeResult, Series
from openagent.scrape.series import SeriesBuilder
from openagent.sinks.whatap.encoder import OpenMxEncoder, PackIdentity
from openagent.sinks.whatap.openmx import OpenMxHelpPack, OpenMxPack
from openagent.sinks.whatap.packs import decode_pack
from tests.sinks.whatap.golden import Vector, bits64, f64
from tests.sinks.whatap.vectors.convert_fixes import IDENTITY, NOW_MS

Flat = tuple[str, Labels, str, int]


def value_key(x: float) -> str:
    """A double's bit pattern, or "nan" for any NaN (see `NAN_NOTE`)."""
    return "nan" if math.isnan(x) else bits64(x)


def go_flat(v: Vector) -> list[Flat]:
    """A convert vector's records as (metric, labels, value, timestamp)."""
    return [
        (
            r["metric"],
            tuple((k, x) for k, x in r["labels"] or ()),
            value_key(f64(r["value_bits"])),
            int(r["timestamp"]),
        )
        for r in v["openmx"]
    ]


def scrape_result(
    series: list[Series], values: list[float], ts: int, timestamps: list[int] | None = None,
    metadata: Mapping[str, Metadata] | None = None,
) -> ScrapeResult:  # fmt: skip
    return ScrapeResult(
        target_id="t",
        job="dcgm-exporter",
        instance="10.21.150.225:9400",
        url="http://10.21.150.225:9400/metrics",
        timestamp_ms=ts,
        series=series,
        values=values,
        timestamps=timestamps,
        metadata=metadata or {},
    )


def parse_text(text: str, ts: int, target: Labels = ()) -> ScrapeResult:
    """A body through our parser and series builder, as the scrape loop runs them."""
    parsed = Parser(SeriesBuilder(target)).parse(text, openmetrics=False, default_ts_ms=ts)
    return scrape_result(parsed.series, parsed.values, ts, parsed.timestamps, parsed.metadata)


def flat(result: ScrapeResult) -> list[Flat]:
    return [
        (s.name, s.labels, value_key(x), result.timestamp_of(i))
        for i, (s, x) in enumerate(zip(result.series, result.values, strict=True))
    ]


def encode_all(
    result: ScrapeResult, identity: PackIdentity = IDENTITY
) -> tuple[list[Flat], dict[str, dict[str, str]], dict[str, int]]:
    """What our encoder sends for ``result``: records, help properties by family, and the
    samples it reports lost, by reason."""
    encoded = OpenMxEncoder(identity).encode(result, NOW_MS)
    records: list[Flat] = []
    helps: dict[str, dict[str, str]] = {}
    for batch in encoded.batches:
        pack = decode_pack(batch.payload)
        assert pack.header == identity.header(NOW_MS)
        if isinstance(pack, OpenMxHelpPack):
            assert batch.samples == 0
            helps.update({h.metric: dict(h.properties) for h in pack.records})
        else:
            assert isinstance(pack, OpenMxPack)
            assert batch.samples == len(pack.records)
            records += [(r.metric, r.labels, bits64(r.value), r.timestamp) for r in pack.records]
    return records, helps, {loss.reason: loss.samples for loss in encoded.losses}


def on_wire(samples: list[Flat], pcode: int = IDENTITY.pcode) -> list[Flat]:
    """Samples as sent: finite ones only, with the pcode label."""
    return [
        (m, (*labels, ("pcode", str(pcode))), x, ts)
        for m, labels, x, ts in samples
        if math.isfinite(f64(x) if x != "nan" else math.nan)
    ]


def starts_line(line: str, metric: str) -> bool:
    """Whether a Go record named ``metric`` came from ``line``."""
    return line.startswith(metric) and line[len(metric) : len(metric) + 1] in ("{", " ")
