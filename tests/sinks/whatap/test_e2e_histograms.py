"""A native histogram from a protobuf exporter reaches the collector emulator as a 0x1607 pack.

The whole path runs for real, in-process over loopback: the agent with
``enable_protobuf`` negotiates the protobuf exposition with an exporter that
serves a native histogram, the scrape builds it with the target's labels,
delivery books it, the Whatap sink packs it as an OpenMxHistogram record in an
OpenMxHistogramPack, and the emulator decodes that pack. The expected bucket
counts are worked out here from the spans and deltas the exporter serves.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.whatap_collector import Collector
from tests.protobuf_exporter import NegotiatingExporter, serving
from tests.sinks.test_remote_write_histograms_peer import (
    COUNT,
    DELTAS,
    LABELS,
    SCHEMA,
    SPANS,
    SUM,
    ZERO_COUNT,
    body,
)
from tests.sinks.whatap.test_e2e import PCODE_LABEL, Running, agent_settings


def bucket_counts() -> list[tuple[int, int]]:
    """(bucket index, absolute count) of every bucket the spans describe."""
    out, index, count = [], 0, 0
    deltas = iter(DELTAS)
    for offset, length in SPANS:
        index += offset
        for _ in range(length):
            count += next(deltas)
            out.append((index, count))
            index += 1
    return out


def write_config(path: Path, port: int) -> Path:
    path.write_text(
        "features:\n  openAgent:\n    enabled: true\n    targets:\n"
        "    - targetName: native\n      type: StaticEndpoints\n      endpoints:\n"
        f"      - address: 127.0.0.1:{port}\n        interval: 1s\n"
    )
    return path


async def test_a_scraped_native_histogram_arrives_as_a_histogram_pack(tmp_path: Path) -> None:
    exporter = NegotiatingExporter(text=b"dcgm_temp 40\n", protobuf=body())
    async with serving(exporter), Collector(drain_timeout=5) as collector:
        cfg = write_config(tmp_path / "scrape_config.yaml", exporter.port)
        running = Running(agent_settings(cfg, collector.port, enable_protobuf=True))
        try:
            [first, *_] = await collector.wait_for_histograms(1, within=30)
        finally:
            await running.stop()
    record = first.record
    assert record.metric == "dcgm_latency_seconds"
    instance = f"127.0.0.1:{exporter.port}"
    assert dict(record.labels) == dict(
        (*LABELS, ("job", "native"), ("instance", instance), PCODE_LABEL)
    )
    assert record.labels[-1] == PCODE_LABEL
    assert (record.schema, record.zero_count, record.count, record.sum) == (
        SCHEMA,
        ZERO_COUNT,
        COUNT,
        SUM,
    )
    assert first.positive == bucket_counts() and first.negative == []
    assert exporter.accepts[0].startswith("application/vnd.google.protobuf")
    sent = {r.name for r in collector.records if r.name == "dcgm_temp"}
    assert sent == {"dcgm_temp"}  # the flat gauge of the same body came along
