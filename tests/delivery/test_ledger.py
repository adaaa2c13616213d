"""The loss ledger: for each real sink and each way to lose samples, sent + dropped = handed.

Every scenario hands a real sink (jsonl, remote write, Whatap) results with a
known number of samples, provokes one drop reason against its real
destination, lets delivery finish, and checks the books exactly:

* handed (+ what an earlier run left in the spool) = sent + dropped, to the sample;
* the reason provoked is among the drops, and nothing is dropped for a reason
  the scenario did not provoke;
* the destination took exactly the samples booked as sent;
* the registry's counters moved exactly as the ledger's totals.

When a scenario leaves batches in the spool, a second run with the
destination up replays them, and the two runs' books are added up.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from openagent.delivery import Delivery, DeliveryOptions
from openagent.delivery.ledger import Ledger
from openagent.delivery.record import HEADER_SIZE
from openagent.model import HistogramSample, NativeHistogram, ScrapeResult, Series
from openagent.sinks.base import Batch, Encoded, Sent, Sink
from openagent.telemetry import REGISTRY
from tests.delivery.sink_rigs import SINKS, Rig, results, rig
from tests.support import eventually

pytestmark = pytest.mark.timeout(60)

MEMORY_ONLY = DeliveryOptions(backoff_initial=0.05, backoff_max=0.2)


def counters(sink: str) -> dict[str, float]:
    """The registry's sample counters of ``sink``, by name (dropped ones by reason)."""
    out: dict[str, float] = {}
    for family in REGISTRY.collect():
        if not family.name.startswith("openagent_delivery_samples"):
            continue
        for s in family.samples:
            if s.name.endswith("_total") and s.labels.get("sink") == sink:
                key = s.name + (f"/{s.labels['reason']}" if "reason" in s.labels else "")
                out[key] = s.value
    return out


def moved(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: v - before.get(k, 0.0) for k, v in after.items() if v != before.get(k, 0.0)}


def books(ledger: Ledger) -> dict[str, float]:
    """The ledger's totals under the registry's names."""
    out = {
        "openagent_delivery_samples_handed_total": ledger.handed_samples,
        "openagent_delivery_samples_recovered_total": ledger.recovered_samples,
        "openagent_delivery_samples_sent_total": ledger.sent_samples,
    }
    for reason, n in ledger.dropped_samples.items():
        out[f"openagent_delivery_samples_dropped_total/{reason}"] = n
    return {k: float(v) for k, v in out.items() if v}


async def run(
    kind: str,
    r: Rig,
    options: DeliveryOptions,
    submitted: list[ScrapeResult],
    *,
    grace: float = 5.0,
    during: Callable[[], Any] | None = None,
) -> Ledger:
    """One agent run: deliver ``submitted`` through ``r.sink``, close; return the ledger."""
    before = counters(kind)
    d = Delivery([r.sink], options)
    await d.start()
    with FaultWindow(during):
        for result in submitted:
            d.submit(result)
        if grace:
            await eventually(lambda: d.lane(kind).fifo.idle.is_set(), within=grace + 5)
    await d.close(grace)
    ledger = d.lane(kind).ledger
    assert moved(before, counters(kind)) == books(ledger), "the registry and the ledger agree"
    return ledger


class FaultWindow:
    """Switches a fault on (``during`` returns how to undo it) and off again on exit."""

    def __init__(self, during: Callable[[], Any] | None) -> None:
        self.during = during
        self.undo: Callable[[], None] | None = None

    def __enter__(self) -> None:
        if self.during is not None:
            self.undo = self.during()

    def __exit__(self, *exc: object) -> None:
        if self.undo is not None:
            self.undo()


def handed_of(kind: str, submitted: list[ScrapeResult]) -> int:
    stale = kind != "whatap"  # OpenMx has no staleness: stale markers are not handed to it
    return sum(len(r.series) + (len(r.stale) if stale else 0) for r in submitted)


def assert_balanced(
    kind: str, submitted: list[ScrapeResult], *ledgers: Ledger, reason: str | None
) -> dict[str, int]:
    """The books of consecutive runs add up; returns the drops by reason."""
    handed = sum(lg.handed_samples for lg in ledgers)
    recovered_later = sum(lg.recovered_samples for lg in ledgers[1:])
    assert ledgers[0].recovered_samples == 0
    assert handed == handed_of(kind, submitted)
    sent = sum(lg.sent_samples for lg in ledgers)
    dropped: dict[str, int] = {}
    for lg in ledgers:
        for why, n in lg.dropped_samples.items():
            dropped[why] = dropped.get(why, 0) + n
    # each run: handed + recovered = sent + dropped + left in the spool for the next one
    for i, lg in enumerate(ledgers):
        left = ledgers[i + 1].recovered_samples if i + 1 < len(ledgers) else 0
        assert lg.handed_samples + lg.recovered_samples == (
            lg.sent_samples + sum(lg.dropped_samples.values()) + left
        ), f"run {i + 1} of {kind}"
    assert handed == sent + sum(dropped.values()), (kind, dropped)
    assert recovered_later == sum(lg.recovered_samples for lg in ledgers)
    if reason is None:
        assert dropped == {}
    else:
        assert dropped.get(reason, 0) > 0, (reason, dropped)
    return dropped


# -- delivered, and the delivery layer's own reasons, for every sink ----------------------


@pytest.mark.parametrize("kind", SINKS)
async def test_everything_handed_is_sent_when_nothing_goes_wrong(kind: str, tmp_path: Path) -> None:
    submitted = results(6, 20)
    async with rig(kind, tmp_path) as r:
        ledger = await run(kind, r, MEMORY_ONLY, submitted)
        assert_balanced(kind, submitted, ledger, reason=None)
        await eventually(lambda: r.received() == ledger.sent_samples)


@pytest.mark.parametrize("kind", SINKS)
async def test_queue_full(kind: str, tmp_path: Path) -> None:
    """No spool, the destination down, and a memory queue too small for any batch."""
    submitted = results(6, 20)
    options = DeliveryOptions(memory_queue_bytes=1, backoff_initial=0.05)
    async with rig(kind, tmp_path, up=False) as r:
        ledger = await run(kind, r, options, submitted, grace=0.0)
        dropped = assert_balanced(kind, submitted, ledger, reason="queue_full")
        assert set(dropped) <= {"queue_full", "shutdown"} and r.received() == 0


@pytest.mark.parametrize("kind", SINKS)
async def test_shutdown(kind: str, tmp_path: Path) -> None:
    """No spool, the destination down: what is queued at the end is dropped, counted."""
    submitted = results(6, 20)
    async with rig(kind, tmp_path, up=False) as r:
        ledger = await run(kind, r, MEMORY_ONLY, submitted, grace=0.0)
        assert assert_balanced(kind, submitted, ledger, reason="shutdown") == {
            "shutdown": ledger.handed_samples
        }
        assert r.received() == 0


def spooled(tmp_path: Path, **kw: Any) -> DeliveryOptions:
    base: dict[str, Any] = {
        "spool_dir": tmp_path / "spool",
        "memory_queue_bytes": 0,
        "spool_fsync": "never",
        "backoff_initial": 0.05,
        "backoff_max": 0.2,
    }
    return DeliveryOptions(**(base | kw))


async def outage_then_replay(
    kind: str,
    tmp_path: Path,
    options: DeliveryOptions,
    submitted: list[ScrapeResult],
    *,
    between: Callable[[Path], None] | None = None,
    during: Callable[[], Any] | None = None,
) -> tuple[Ledger, Ledger, int]:
    """A run with the destination down (batches go to the spool), then one with it up."""
    async with rig(kind, tmp_path / "down", up=False) as r:
        first = await run(kind, r, options, submitted, grace=0.0, during=during)
    if between is not None:
        between(options.spool_dir / kind)  # type: ignore[operator]
    async with rig(kind, tmp_path / "up") as r:
        second = await run(kind, r, options, [])
        await eventually(lambda: r.received() == second.sent_samples)
        return first, second, r.received()


@pytest.mark.parametrize("kind", SINKS)
async def test_spool_full(kind: str, tmp_path: Path) -> None:
    """The spool reaches its size cap during the outage: its oldest segments go, counted."""
    submitted = results(40, 60)
    options = spooled(tmp_path, spool_max_bytes=8 * 1024, spool_segment_bytes=2 * 1024)
    first, second, _ = await outage_then_replay(kind, tmp_path, options, submitted)
    assert second.recovered_samples > 0
    assert_balanced(kind, submitted, first, second, reason="spool_full")


def flip_a_payload_byte(directory: Path) -> None:
    segment = sorted(directory.glob("*.seg"))[0]
    data = bytearray(segment.read_bytes())
    data[HEADER_SIZE + 3] ^= 0xFF  # inside the first record's payload: its checksum fails
    segment.write_bytes(bytes(data))


@pytest.mark.parametrize("kind", SINKS)
async def test_spool_corrupt(kind: str, tmp_path: Path) -> None:
    """A spooled record damaged on disk is skipped on replay, its samples counted."""
    submitted = results(8, 20)
    options = spooled(tmp_path)
    first, second, _ = await outage_then_replay(
        kind, tmp_path, options, submitted, between=flip_a_payload_byte
    )
    dropped = assert_balanced(kind, submitted, first, second, reason="spool_corrupt")
    assert set(dropped) == {"spool_corrupt"}


def disk_full() -> Callable[[], None]:
    """Every write to a spool segment fails with ENOSPC until undone."""
    real = os.writev

    def full(fd: int, buffers: Any) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    os.writev = full  # the spool's one way to write a record
    return lambda: setattr(os, "writev", real)


@pytest.mark.parametrize("kind", SINKS)
async def test_spool_error(kind: str, tmp_path: Path) -> None:
    """The disk is full during the outage: the batches the spool cannot keep are counted."""
    submitted = results(8, 20)
    first, second, _ = await outage_then_replay(
        kind, tmp_path, spooled(tmp_path), submitted, during=disk_full
    )
    assert_balanced(kind, submitted, first, second, reason="spool_error")


class Faulty:
    """Wraps a real sink: ``encode`` of the second result raises, or ``send`` (for a
    confirming sink ``send_confirmed``) of the first batch or group with samples raises
    (a bug in the sink, as far as delivery can tell)."""

    def __init__(self, sink: Sink, *, encode: bool = False, send: bool = False) -> None:
        self.inner, self.fail_encode, self.fail_send = sink, encode, send
        self.encodes = 0

    def __getattr__(self, name: str) -> Any:
        if name == "send_confirmed" and hasattr(self.inner, name):  # a confirming sink fails here
            return self._send_confirmed
        return getattr(self.inner, name)

    async def _send_confirmed(self, batches: Sequence[Batch]) -> list[Sent]:
        if self.fail_send and any(b.samples for b in batches):
            self.fail_send = False
            raise KeyError("a bug in the sink")
        result: list[Sent] = await self.inner.send_confirmed(batches)
        return result

    def encode(self, result: ScrapeResult) -> Encoded:
        self.encodes += 1
        if self.fail_encode and self.encodes == 2:
            raise UnicodeError("cannot encode this result")
        return self.inner.encode(result)

    async def send(self, batch: Batch) -> Sent:
        if self.fail_send and batch.samples:
            self.fail_send = False
            raise KeyError("a bug in the sink")
        return await self.inner.send(batch)


@pytest.mark.parametrize("kind", SINKS)
@pytest.mark.parametrize("reason", ["sink_error", "encode_error"])
async def test_sink_and_encode_errors(kind: str, reason: str, tmp_path: Path) -> None:
    submitted = results(5, 20)
    async with rig(kind, tmp_path) as r:
        faulty = Faulty(r.sink, encode=reason == "encode_error", send=reason == "sink_error")
        ledger = await run(kind, Rig(faulty, r.received), MEMORY_ONLY, submitted)  # type: ignore[arg-type]
        assert set(assert_balanced(kind, submitted, ledger, reason=reason)) == {reason}
        await eventually(lambda: r.received() == ledger.sent_samples)


async def test_rejected_by_the_remote_write_receiver(tmp_path: Path) -> None:
    submitted = results(4, 20)
    async with rig("remote_write", tmp_path, status=400) as r:
        ledger = await run("remote_write", r, MEMORY_ONLY, submitted)
        assert assert_balanced("remote_write", submitted, ledger, reason="rejected") == {
            "rejected": ledger.handed_samples
        }
        assert r.received() == 0


# -- the Whatap sink's own reasons ---------------------------------------------------------


def with_bad_samples(reason: str) -> list[ScrapeResult]:
    """Results where some samples cannot go to Whatap for ``reason``."""
    submitted = results(3, 10)
    for r in submitted:
        if reason == "non_finite":
            r.values[1:4] = [float("nan"), float("inf"), float("-inf")]
        elif reason == "too_many_labels":
            r.series[2] = Series("wide", tuple((f"l{i}", "v") for i in range(300)))
        else:  # unencodable
            r.series[2] = Series("bad", (("a", "\ud800"),))
    return submitted


@pytest.mark.parametrize("reason", ["non_finite", "too_many_labels", "unencodable"])
async def test_whatap_encoder_losses(reason: str, tmp_path: Path) -> None:
    submitted = with_bad_samples(reason)
    async with rig("whatap", tmp_path) as r:
        ledger = await run("whatap", r, MEMORY_ONLY, submitted)
        assert set(assert_balanced("whatap", submitted, ledger, reason=reason)) == {reason}
        await eventually(lambda: r.received() == ledger.sent_samples)


async def test_whatap_packs_are_cut_to_the_limit_and_only_a_record_alone_above_it_is_lost(
    tmp_path: Path,
) -> None:
    submitted = results(3, 40)
    for r in submitted:  # one record per result that no pack of 300 bytes can hold
        r.series[5] = Series("wide", (("blob", os.urandom(400).hex()),))
    async with rig("whatap", tmp_path, max_pack=300) as r:
        ledger = await run("whatap", r, MEMORY_ONLY, submitted)
        assert assert_balanced("whatap", submitted, ledger, reason="oversize") == {"oversize": 3}
        await eventually(lambda: r.received() == ledger.sent_samples == 3 * 39)


@pytest.mark.parametrize("kind", SINKS)
async def test_native_histograms_are_booked_one_sample_each(kind: str, tmp_path: Path) -> None:
    h = NativeHistogram(schema=0, zero_threshold=0.0, zero_count=1, count=3, sum=1.5)
    submitted = results(3, 5)
    for r in submitted:
        labels = (("target", r.target_id),)
        r.histograms = [HistogramSample("ledger_h", labels, r.timestamp_ms, h)] * 2
        r.stale_histograms = [Series("ledger_h_gone", labels)]
    async with rig(kind, tmp_path) as r:
        ledger = await run(kind, r, MEMORY_ONLY, submitted)
    flat = handed_of(kind, submitted)
    per_result = 2 + (kind != "whatap")  # OpenMx has no staleness, for histograms neither
    assert ledger.handed_samples == flat + 3 * per_result, "one sample per histogram"
    assert ledger.sent_samples == ledger.handed_samples and ledger.dropped_samples == {}
