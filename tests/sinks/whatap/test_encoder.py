"""OpenMxEncoder: scrape results to OpenMx packs (records, drops, help, packing, gzip)."""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping

import pytest

from benchmarks.dcgm_payload import NodeShape, Payload
from openagent.exposition import Parser
from openagent.model import Labels, Metadata, ScrapeResult, Series
from openagent.scrape.series import SeriesBuilder
from openagent.sinks.base import Encoded
from openagent.sinks.whatap.compress import GO_GZIP_HEADER, available_backends, make_gzip
from openagent.sinks.whatap.encoder import OpenMxEncoder, PackIdentity
from openagent.sinks.whatap.header import PackHeader
from openagent.sinks.whatap.helpmeta import HelpTracker
from openagent.sinks.whatap.openmx import (
    OpenMx,
    OpenMxEndpointPack,
    OpenMxHelp,
    OpenMxHelpPack,
    OpenMxPack,
    build_openmx_pack,
    gunzip,
)
from openagent.sinks.whatap.packs import decode_pack
from openagent.telemetry import REGISTRY

PCODE = 33789
OID = 1617387566
IDENTITY = PackIdentity(PCODE, OID)
TS = 1756912212000
NOW = TS + 500
TARGET: Labels = (("job", "dcgm-exporter"), ("instance", "10.0.3.17:9400"), ("node", "gpu-1"))
GPU: Labels = (("gpu", "0"), ("UUID", "GPU-9bd3b585"), ("modelName", "NVIDIA A100"))
META = {
    "DCGM_FI_DEV_GPU_UTIL": Metadata("gauge", "GPU utilization (in %)."),
    "DCGM_FI_DEV_XID_ERRORS": Metadata("gauge", ""),
}


def result(
    series: list[Series],
    values: list[float],
    *,
    timestamps: list[int] | None = None,
    metadata: Mapping[str, Metadata] | None = None,
    target_id: str = "t1",
    stale: list[Series] | None = None,
    final: bool = False,
) -> ScrapeResult:
    return ScrapeResult(
        target_id=target_id,
        job="dcgm-exporter",
        instance="10.0.3.17:9400",
        url=f"http://10.0.3.17:9400/metrics?{target_id}",
        timestamp_ms=TS,
        series=series,
        values=values,
        timestamps=timestamps,
        metadata=metadata if metadata is not None else {},
        stale=stale or [],
        final=final,
    )


def gpu_series(n: int, name: str = "DCGM_FI_DEV_GPU_UTIL") -> list[Series]:
    return [Series(name, (("gpu", str(i)), *GPU[1:], *TARGET)) for i in range(n)]


def records_of(payloads: list[bytes]) -> list[OpenMx]:
    out: list[OpenMx] = []
    for p in payloads:
        pack = decode_pack(p)
        assert isinstance(pack, OpenMxPack)
        out += pack.records
    return out


def helps_of(payloads: list[bytes]) -> list[OpenMxHelp]:
    out: list[OpenMxHelp] = []
    for p in payloads:
        pack = decode_pack(p)
        assert isinstance(pack, OpenMxHelpPack)
        out += pack.records
    return out


def losses(encoded: Encoded) -> dict[str, int]:
    return {loss.reason: loss.samples for loss in encoded.losses}


# --- records -------------------------------------------------------------------------------


def test_record_is_series_labels_then_pcode() -> None:
    series = gpu_series(3)
    batches = OpenMxEncoder(IDENTITY).encode(result(series, [87.0, 0.0, -1.5]), NOW).batches
    assert len(batches) == 1
    assert (batches[0].samples, batches[0].oldest_ms) == (3, TS)
    pack = decode_pack(batches[0].payload)
    assert isinstance(pack, OpenMxPack)
    assert pack.header == PackHeader(PCODE, OID, NOW)
    assert pack.endpoint == ""
    assert pack.records == [
        OpenMx(s.name, (*s.labels, ("pcode", str(PCODE))), TS, v)
        for s, v in zip(series, [87.0, 0.0, -1.5], strict=True)
    ]


def test_real_dcgm_scrape_round_trips() -> None:
    shape = NodeShape(gpus=8, families=40, pods_per_gpu=2)
    parsed = Parser(SeriesBuilder(TARGET)).parse(
        Payload(shape).render(3).decode(), openmetrics=False, default_ts_ms=TS
    )
    res = result(parsed.series, parsed.values, metadata=parsed.metadata)
    batches = OpenMxEncoder(IDENTITY, records_per_pack=250).encode(res, NOW).batches
    help_batches = [b for b in batches if b.samples == 0]
    data_batches = [b for b in batches if b.samples]
    assert batches[: len(help_batches)] == help_batches, "help packs come first"
    assert [b.samples for b in data_batches] == [250] * 2 + [140]
    got = records_of([b.payload for b in data_batches])
    assert [(r.metric, r.labels, r.value, r.timestamp) for r in got] == [
        (s.name, (*s.labels, ("pcode", str(PCODE))), v, TS)
        for s, v in zip(parsed.series, parsed.values, strict=True)
    ]
    helps = helps_of([b.payload for b in help_batches])
    assert {h.metric: dict(h.properties) for h in helps} == {
        family: {"help": m.help, "type": m.type} for family, m in parsed.metadata.items()
    }


def test_label_part_is_shared_through_the_given_series_slot_and_reused() -> None:
    (s,) = gpu_series(1)
    twin = Series("DCGM_FI_DEV_FB_USED", s.labels)
    enc = OpenMxEncoder(IDENTITY)
    enc.use_series_slot("enc1")
    enc.encode(result([s, twin], [1.0, 2.0]), NOW)
    block = s.enc1
    assert isinstance(block, bytes) and block[0] == len(s.labels) + 1  # the pcode label counts
    assert twin.enc1 is block  # one label tuple, one encoding
    assert s.enc0 is None and s.enc2 is None  # the other sinks' slots are left alone
    # a planted cache entry is what the next encode sends: the labels are not re-encoded
    other = Series("other_metric", (("a", "b"),))
    enc.encode(result([other], [1.0]), NOW)
    s.enc1 = other.enc1
    (rec,) = records_of([b.payload for b in enc.encode(result([s], [2.0]), NOW).batches])
    assert (rec.metric, rec.labels, rec.value) == (
        "DCGM_FI_DEV_GPU_UTIL",
        (("a", "b"), ("pcode", "33789")),
        2.0,
    )


def test_per_sample_timestamps_and_oldest_per_pack() -> None:
    series = gpu_series(5)
    stamps = [TS - 10, TS + 5, TS - 30, TS, TS + 1]
    enc = OpenMxEncoder(IDENTITY, records_per_pack=2)
    batches = enc.encode(result(series, [1.0, 2.0, 3.0, 4.0, 5.0], timestamps=stamps), NOW).batches
    assert [(b.samples, b.oldest_ms) for b in batches] == [(2, TS - 10), (2, TS - 30), (1, TS + 1)]
    assert [r.timestamp for r in records_of([b.payload for b in batches])] == stamps


def test_non_finite_samples_are_dropped_and_counted() -> None:
    series = gpu_series(5)
    values = [1.0, math.nan, math.inf, -math.inf, 5.0]
    stamps = [TS + i for i in range(5)]
    enc = OpenMxEncoder(IDENTITY)
    encoded = enc.encode(result(series, values, timestamps=stamps), NOW)
    batches = encoded.batches
    assert [(r.value, r.timestamp) for r in records_of([b.payload for b in batches])] == [
        (1.0, TS),
        (5.0, TS + 4),
    ]
    assert batches[0].samples == 2
    assert losses(encoded) == {"non_finite": 3}
    again = enc.encode(result(series[1:4], values[1:4]), NOW)
    assert again.batches == [] and losses(again) == {"non_finite": 3}


def test_stale_markers_are_not_sent_but_counted_apart() -> None:
    series = gpu_series(3)
    enc = OpenMxEncoder(IDENTITY)
    before = REGISTRY.get_sample_value("openagent_whatap_stale_markers_skipped_total") or 0.0
    batches = enc.encode(result(series[:1], [1.0], stale=series[1:]), NOW).batches
    assert [r.labels[0] for r in records_of([b.payload for b in batches])] == [("gpu", "0")]
    assert enc.stale_skipped == 2
    after = REGISTRY.get_sample_value("openagent_whatap_stale_markers_skipped_total")
    assert after == before + 2


def test_exposed_pcode_label_is_kept_as_exported_pcode() -> None:
    s1 = Series("m", (("pcode", "1"), ("gpu", "0")))
    s2 = Series("m", (("pcode", "1"), ("exported_pcode", "2")))
    recs = records_of(
        [b.payload for b in OpenMxEncoder(IDENTITY).encode(result([s1, s2], [1, 2]), NOW).batches]
    )
    assert recs[0].labels == (("exported_pcode", "1"), ("gpu", "0"), ("pcode", "33789"))
    assert recs[1].labels == (
        ("exported_exported_pcode", "1"),
        ("exported_pcode", "2"),
        ("pcode", "33789"),
    )


def test_no_pcode_label_without_a_pcode() -> None:
    (s,) = gpu_series(1)
    enc = OpenMxEncoder(PackIdentity(0, OID))
    (rec,) = records_of([b.payload for b in enc.encode(result([s], [1.0]), NOW).batches])
    assert rec.labels == s.labels


def test_255_labels_fit_and_more_are_dropped_with_a_reason() -> None:
    fits = Series("fits", tuple((f"l{i}", "v") for i in range(254)))  # + pcode = 255
    too_many = Series("too_many", tuple((f"l{i}", "v") for i in range(255)))
    ok = Series("ok", ())
    enc = OpenMxEncoder(IDENTITY)
    enc.use_series_slot("enc0")
    for _ in range(2):  # the second time from the cached verdict
        encoded = enc.encode(result([fits, too_many, ok], [1.0, 2.0, 3.0]), NOW)
        recs = records_of([b.payload for b in encoded.batches])
        assert [(r.metric, len(r.labels)) for r in recs] == [("fits", 255), ("ok", 1)]
        assert losses(encoded) == {"too_many_labels": 1}


def test_unencodable_label_is_dropped_with_a_reason() -> None:
    bad = Series("bad", (("a", "\ud800"),))
    enc = OpenMxEncoder(IDENTITY)
    encoded = enc.encode(result([bad, Series("ok", ())], [1.0, 2.0]), NOW)
    assert [r.metric for r in records_of([b.payload for b in encoded.batches])] == ["ok"]
    assert losses(encoded) == {"unencodable": 1}


def test_unencodable_metric_name_is_dropped_with_a_reason() -> None:
    enc = OpenMxEncoder(IDENTITY)
    encoded = enc.encode(result([Series("m\udfff\ud800", ())], [1.0]), NOW)
    assert encoded.batches == [] and losses(encoded) == {"unencodable": 1}


def test_long_and_non_ascii_texts_round_trip() -> None:
    values = ["", "x" * 253, "y" * 254, "한글 🎉" * 100, "z" * 70_000]
    series = [Series("m", (("v", v), ("i", str(i)))) for i, v in enumerate(values)]
    recs = records_of(
        [b.payload for b in OpenMxEncoder(IDENTITY).encode(result(series, [1.0] * 5), NOW).batches]
    )
    assert [r.labels[0][1] for r in recs] == values


def test_encoding_caches_are_bounded_and_stay_correct(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("openagent.sinks.whatap.encoder.TEXT_CACHE_LIMIT", 10)
    enc = OpenMxEncoder(IDENTITY)
    series = [Series(f"m{i % 7}", (("a", str(i)), ("b", str(i % 3)))) for i in range(200)]
    recs = records_of(
        [b.payload for b in enc.encode(result(series, [float(i) for i in range(200)]), NOW).batches]
    )
    assert [(r.metric, r.labels, r.value) for r in recs] == [
        (s.name, (*s.labels, ("pcode", "33789")), float(i)) for i, s in enumerate(series)
    ]
    assert sum(map(len, enc._caches)) <= 10 + 4


def test_mismatched_result_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="2 series but 1 values"):
        OpenMxEncoder(IDENTITY).encode(result(gpu_series(2), [1.0]), NOW)


# --- packs ---------------------------------------------------------------------------------


def test_header_forms_follow_the_identity() -> None:
    (s,) = gpu_series(1)
    for identity in (
        PackIdentity(PCODE, OID, okind=-1108554816),
        PackIdentity(PCODE, OID, onode=9),
    ):
        (b,) = OpenMxEncoder(identity).encode(result([s], [1.0]), NOW).batches
        assert b.payload[2] == 9  # the extended header
        assert decode_pack(b.payload).header == identity.header(NOW)
    (b,) = OpenMxEncoder(IDENTITY).encode(result([s], [1.0]), NOW).batches
    assert b.payload[:6] == bytes.fromhex("1603030083fd")


def test_small_blob_raw_and_large_blob_gzipped_with_gos_header() -> None:
    small = Series("m", ())
    (b,) = OpenMxEncoder(IDENTITY).encode(result([small], [1.0]), NOW).batches
    back = decode_pack(b.payload)
    assert isinstance(back, OpenMxPack) and back.zipped is False
    (b,) = OpenMxEncoder(IDENTITY).encode(result(gpu_series(4), [1.0] * 4), NOW).batches
    back = decode_pack(b.payload)
    assert isinstance(back, OpenMxPack) and back.zipped is True
    assert GO_GZIP_HEADER in b.payload


def test_stdlib_level_6_matches_the_codec_byte_for_byte() -> None:
    series = gpu_series(20)
    values = [float(i) for i in range(20)]
    enc = OpenMxEncoder(IDENTITY, gzip_level=6, gzip_backend="zlib", endpoint_metering=True)
    (b,) = enc.encode(result(series, values), NOW).batches
    recs = [
        OpenMx(s.name, (*s.labels, ("pcode", "33789")), TS, v)
        for s, v in zip(series, values, strict=True)
    ]
    url = "http://10.0.3.17:9400/metrics?t1"
    assert b.payload == build_openmx_pack(IDENTITY.header(NOW), [r.to_bytes() for r in recs], url)


@pytest.mark.parametrize("backend", available_backends())
@pytest.mark.parametrize("level", [0, 1, 6, 9])
def test_every_backend_and_level_gives_valid_packs(backend: str, level: int) -> None:
    series = gpu_series(300)
    values = [i / 7 for i in range(300)]
    enc = OpenMxEncoder(IDENTITY, gzip_level=level, gzip_backend=backend)
    assert enc.gzip_backend == backend
    (b,) = enc.encode(result(series, values), NOW).batches
    assert [r.value for r in records_of([b.payload])] == values


def test_make_gzip_output_is_a_gzip_member_with_gos_header() -> None:
    assert available_backends()[-1] == "zlib"
    assert OpenMxEncoder(IDENTITY).gzip_backend == available_backends()[0]
    data = bytes(range(256)) * 50
    for backend in available_backends():
        _, compress = make_gzip(1, backend)
        out = compress(data)
        assert out[:10] == GO_GZIP_HEADER
        assert zlib.decompress(out, 31) == data == gunzip(out)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"records_per_pack": 0}, "records_per_pack"),
        ({"records_per_pack": 40000}, "records_per_pack"),
        ({"help_interval": 0}, "help_interval"),
        ({"gzip_level": 10}, "gzip level"),
        ({"gzip_backend": "brotli"}, "unknown gzip backend"),
    ],
)
def test_bad_settings_are_rejected(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        OpenMxEncoder(IDENTITY, **kwargs)  # type: ignore[arg-type]


def test_endpoint_metering_adds_the_trailer_and_endpoint_pack() -> None:
    enc = OpenMxEncoder(IDENTITY, endpoint_metering=True)
    assert enc.endpoint_pack(NOW) is None
    (b,) = enc.encode(result(gpu_series(1), [1.0]), NOW).batches
    pack = decode_pack(b.payload)
    assert isinstance(pack, OpenMxPack) and pack.endpoint == "http://10.0.3.17:9400/metrics?t1"
    enc.encode(result(gpu_series(1), [1.0], target_id="t2"), NOW)
    ep = enc.endpoint_pack(NOW)
    assert ep is not None
    assert decode_pack(ep) == OpenMxEndpointPack(
        IDENTITY.header(NOW),
        ["http://10.0.3.17:9400/metrics?t1", "http://10.0.3.17:9400/metrics?t2"],
    )
    enc.forget_target("t1")
    ep = enc.endpoint_pack(NOW)
    assert ep is not None and decode_pack(ep).endpoints == ["http://10.0.3.17:9400/metrics?t2"]  # type: ignore[union-attr]


# --- help ----------------------------------------------------------------------------------


def help_batches(enc: OpenMxEncoder, res: ScrapeResult, now: int) -> list[OpenMxHelp]:
    batches = enc.encode(res, now).batches
    helps = [b for b in batches if b.samples == 0]
    assert all(b.oldest_ms == now for b in helps)
    for b in helps:
        assert decode_pack(b.payload).header.time == now
    return helps_of([b.payload for b in helps])


def test_help_sent_on_first_sight_change_and_interval_only() -> None:
    enc = OpenMxEncoder(IDENTITY, help_interval=600)
    series = gpu_series(1)
    meta = dict(META)
    first = help_batches(enc, result(series, [1.0], metadata=meta), NOW)
    assert first == [
        OpenMxHelp("DCGM_FI_DEV_GPU_UTIL", {"help": "GPU utilization (in %).", "type": "gauge"}),
        OpenMxHelp("DCGM_FI_DEV_XID_ERRORS", {"type": "gauge"}),
    ]
    assert help_batches(enc, result(series, [1.0], metadata=meta), NOW + 30_000) == []
    equal_copy = dict(META)  # a new mapping with the same content: still nothing to send
    assert help_batches(enc, result(series, [1.0], metadata=equal_copy), NOW + 60_000) == []
    changed = {**META, "DCGM_FI_DEV_XID_ERRORS": Metadata("counter", "XID.")}
    changed["new_family"] = Metadata("untyped", "")
    assert help_batches(enc, result(series, [1.0], metadata=changed), NOW + 90_000) == [
        OpenMxHelp("DCGM_FI_DEV_XID_ERRORS", {"help": "XID.", "type": "counter"}),
        OpenMxHelp("new_family", {"type": "untyped"}),
    ]
    assert help_batches(enc, result(series, [1.0], metadata=changed), NOW + 599_999) == []
    again = help_batches(enc, result(series, [1.0], metadata=changed), NOW + 600_000)
    assert [h.metric for h in again] == [
        "DCGM_FI_DEV_GPU_UTIL",
        "DCGM_FI_DEV_XID_ERRORS",
        "new_family",
    ]


def test_help_tracked_per_target_and_all_known_after_reconnect() -> None:
    enc = OpenMxEncoder(IDENTITY)
    assert enc.help_packs(NOW) == []
    a = help_batches(enc, result(gpu_series(1), [1.0], metadata=META, target_id="a"), NOW)
    b = help_batches(enc, result(gpu_series(1), [1.0], metadata=META, target_id="b"), NOW)
    assert a == b and len(a) == 2  # a new target gets its own help
    other = {"only_c": Metadata("counter", "C.")}
    help_batches(enc, result([], [], metadata=other, target_id="c"), NOW)
    packs = enc.help_packs(NOW + 1)
    assert [decode_pack(p).header.time for p in packs] == [NOW + 1]
    assert [h.metric for h in helps_of(packs)] == [
        "DCGM_FI_DEV_GPU_UTIL",
        "DCGM_FI_DEV_XID_ERRORS",
        "only_c",
    ]
    enc.forget_target("c")
    assert [h.metric for h in helps_of(enc.help_packs(NOW))] == [
        "DCGM_FI_DEV_GPU_UTIL",
        "DCGM_FI_DEV_XID_ERRORS",
    ]


def test_final_result_forgets_the_target_and_sends_nothing() -> None:
    enc = OpenMxEncoder(IDENTITY, endpoint_metering=True)
    series = gpu_series(2)
    enc.encode(result(series, [1.0, 2.0], metadata=META), NOW)
    assert enc.encode(result([], [], stale=series, final=True), NOW).batches == []
    assert enc.help_packs(NOW) == [] and enc.endpoint_pack(NOW) is None
    assert enc.stale_skipped == 2
    # it comes back: its help is new again
    assert len(help_batches(enc, result(series, [1.0, 2.0], metadata=META), NOW)) == 2


def test_help_records_split_into_packs() -> None:
    meta = {f"family_{i:03d}": Metadata("gauge", f"help {i}") for i in range(25)}
    enc = OpenMxEncoder(IDENTITY, records_per_pack=10)
    batches = [b for b in enc.encode(result([], [], metadata=meta), NOW).batches if b.samples == 0]
    assert [len(decode_pack(b.payload).records) for b in batches] == [10, 10, 5]  # type: ignore[union-attr]
    assert [len(decode_pack(p).records) for p in enc.help_packs(NOW)] == [10, 10, 5]  # type: ignore[union-attr]


def test_help_resent_when_the_clock_steps_back() -> None:
    tracker = HelpTracker(600_000)
    assert len(tracker.due("t", META, NOW)) == 2
    assert tracker.due("t", META, NOW + 1000) == []
    assert len(tracker.due("t", META, NOW - 3_600_000)) == 2, "a clock step back does not mute help"
    with pytest.raises(ValueError, match="positive"):
        HelpTracker(0)


def test_help_record_bytes_are_a_standard_map() -> None:
    enc = OpenMxEncoder(IDENTITY)
    (b,) = enc.encode(result([], [], metadata={"m": Metadata("gauge", "nil")}), NOW).batches
    record = "00016d5001020468656c7032036e696c047479706532056761756765"
    assert b.payload.endswith(bytes.fromhex("000001" + record)), "no Go 'nil' quirk"
