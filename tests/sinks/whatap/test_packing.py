"""PackFitter: records cut into packs within the record count and the byte size limit."""

from __future__ import annotations

import random

import pytest
from structlog.testing import capture_logs

from openagent.sinks.whatap.compress import make_gzip
from openagent.sinks.whatap.header import PackHeader
from openagent.sinks.whatap.openmx import OpenMx, OpenMxPack
from openagent.sinks.whatap.packing import OversizeLog, PackFitter, record_name
from openagent.sinks.whatap.packs import decode_pack

HEAD = b"\x16\x03" + PackHeader(33789, 1617387566, 1756912212000).to_bytes()
_, GZIP = make_gzip(1, "zlib")


def noise(rng: random.Random, n: int) -> str:
    """``n`` characters that gzip cannot shrink much (hex of random bytes: about half)."""
    return rng.randbytes(n // 2).hex()


def records(n: int, label_chars: int, seed: int = 1) -> list[OpenMx]:
    rng = random.Random(seed)
    return [
        OpenMx(f"m{i % 7}", (("i", str(i)), ("blob", noise(rng, label_chars))), 1000 + i, i / 2)
        for i in range(n)
    ]


def unpacked(payloads: list[bytes]) -> list[OpenMx]:
    out: list[OpenMx] = []
    for p in payloads:
        pack = decode_pack(p)
        assert isinstance(pack, OpenMxPack)
        out += pack.records
    return out


def test_small_records_are_cut_by_count_only() -> None:
    recs = records(25, 10)
    fitted = PackFitter(GZIP, max_bytes=1 << 20, records_per_pack=10).fit(
        HEAD, [r.to_bytes() for r in recs], 1
    )
    assert [(lo, hi) for _, lo, hi in fitted.packs] == [(0, 10), (10, 20), (20, 25)]
    assert fitted.oversize == []
    assert unpacked([p for p, _, _ in fitted.packs]) == recs


def test_a_pack_above_the_size_limit_is_cut_into_packs_that_fit_in_order() -> None:
    recs = records(100, 2000)  # about 1 KB each once gzipped
    whole = PackFitter(GZIP, max_bytes=1 << 30, records_per_pack=1000).fit(
        HEAD, [r.to_bytes() for r in recs], 1
    )
    (one, _, _) = whole.packs[0]
    limit = len(one) // 5
    fitted = PackFitter(GZIP, max_bytes=limit, records_per_pack=1000).fit(
        HEAD, [r.to_bytes() for r in recs], 1
    )
    payloads = [p for p, _, _ in fitted.packs]
    assert len(payloads) >= 5
    assert all(len(p) <= limit for p in payloads)
    assert fitted.oversize == []
    assert unpacked(payloads) == recs  # nothing lost, nothing twice, order kept
    spans = [(lo, hi) for _, lo, hi in fitted.packs]
    assert [lo for lo, _ in spans] == [0, *(hi for _, hi in spans[:-1])]


def test_records_in_several_parts_each_are_cut_between_records() -> None:
    recs = records(40, 400)
    parts: list[bytes] = []
    for r in recs:
        b = r.to_bytes()
        parts += [b[:5], b[5:-16], b[-16:]]
    fitted = PackFitter(GZIP, max_bytes=2000, records_per_pack=1000).fit(HEAD, parts, 3)
    assert len(fitted.packs) > 1
    assert unpacked([p for p, _, _ in fitted.packs]) == recs


def test_only_a_record_that_alone_is_above_the_limit_is_left_out() -> None:
    recs = records(30, 60)
    rng = random.Random(7)
    recs[12] = OpenMx("huge_metric", (("blob", noise(rng, 20_000)),), 5, 1.0)
    fitted = PackFitter(GZIP, max_bytes=3000, records_per_pack=1000).fit(
        HEAD, [r.to_bytes() for r in recs], 1
    )
    assert [i for i, _ in fitted.oversize] == [12]
    assert fitted.oversize[0][1] > 3000
    assert unpacked([p for p, _, _ in fitted.packs]) == recs[:12] + recs[13:]


def test_batches_count_oversize_samples_and_name_the_metric() -> None:
    recs = records(5, 20)
    recs[3] = OpenMx("huge_metric", (("blob", noise(random.Random(2), 20_000)),), 5, 1.0)
    fitter = PackFitter(GZIP, max_bytes=3000, records_per_pack=2)
    lost: dict[str, int] = {}
    with capture_logs() as logs:
        batches = fitter.batches(
            "metric", HEAD, [r.to_bytes() for r in recs], stamps=[9, 8, 7, 6, 5],
            default_ms=0, lost=lost,
        )  # fmt: skip
    assert lost == {"oversize": 1}
    assert [(b.samples, b.oldest_ms) for b in batches] == [(2, 8), (1, 7), (1, 5)]
    [said] = [x for x in logs if x["log_level"] == "error"]
    assert (said["metric"], said["limit"]) == ("huge_metric", 3000)
    assert said["size"] > 3000


def test_oversize_help_records_are_named_but_not_counted_as_samples() -> None:
    fitter = PackFitter(GZIP, max_bytes=100, records_per_pack=10)
    record = b"\x00" + bytes((9,)) + b"long_help" + random.Random(3).randbytes(300)
    with capture_logs() as logs:
        assert fitter.batches("help", HEAD, [record], default_ms=0) == []
    assert [x["metric"] for x in logs] == ["long_help"]


def test_the_oversize_log_names_each_metric_once_per_period() -> None:
    said = OversizeLog(period=3600)
    with capture_logs() as logs:
        for _ in range(3):
            said.report("metric", "a", 10, 5)
            said.report("histogram", "b", 10, 5)
    assert [(x["metric"], x["suppressed"]) for x in logs] == [("a", 0), ("b", 0)]
    again = OversizeLog(period=0)
    with capture_logs() as logs:
        again.report("metric", "a", 10, 5)
        again.report("metric", "a", 10, 5)
    assert len(logs) == 2


def test_record_name_reads_the_name_or_says_it_cannot() -> None:
    assert record_name(OpenMx("DCGM_FI_DEV_GPU_UTIL", (), 0, 0.0).to_bytes()) == (
        "DCGM_FI_DEV_GPU_UTIL"
    )
    assert record_name(b"\x00\x09abc") == "?"


def test_the_size_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="pack size limit"):
        PackFitter(GZIP, max_bytes=0, records_per_pack=10)
