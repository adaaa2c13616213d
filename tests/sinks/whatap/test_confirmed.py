"""`WhatapSink.send_confirmed` against the collector emulator: a group counts as sent only
once the collector answered the TIME_SYNC written after it."""

from __future__ import annotations

import asyncio

import pytest
from structlog.testing import capture_logs

from benchmarks.whatap_collector import Collector
from openagent.sinks.base import DELIVERED, Batch, ConfirmingSink, Sent, SinkError
from openagent.sinks.whatap.sink import WhatapSink, build_whatap_sink
from openagent.telemetry import REGISTRY
from openagent.wiring import whatap_options
from tests.sinks.whatap.test_sink import make, result, settings
from tests.support import eventually


def group(sink: WhatapSink, first_ts: int, targets: int = 4) -> list[Batch]:
    """The batches of ``targets`` results (3 samples each; help packs where due)."""
    return [
        b for i in range(targets) for b in sink.encode(result(first_ts, target=f"t{i}")).batches
    ]


def samples(batches: list[Batch]) -> int:
    return sum(b.samples for b in batches)


def barriers(result: str) -> float:
    return REGISTRY.get_sample_value("openagent_whatap_barriers_total", {"result": result}) or 0.0


def time_syncs_written() -> float:
    value = REGISTRY.get_sample_value("openagent_whatap_frames_sent_total", {"kind": "time_sync"})
    return value or 0.0


def test_the_whatap_sink_is_a_confirming_sink() -> None:
    sink = build_whatap_sink(whatap_options(settings(1)))
    assert isinstance(sink, ConfirmingSink)
    assert sink.confirm_batches > 0 and sink.confirm_bytes > 0


async def test_a_confirmed_group_has_arrived_when_send_confirmed_returns(
    collector: Collector, sinks: list[WhatapSink]
) -> None:
    sink = await make(sinks, collector.port)
    total = 0
    for cycle in range(5):
        batches = group(sink, 1000 + cycle)
        assert await sink.send_confirmed(batches) == [DELIVERED] * len(batches)
        total += samples(batches)
        # No waiting: the answer to the barrier came after the collector decoded them all.
        assert collector.received.record_count == total
    assert collector.errors == []


async def test_a_frozen_collector_fails_the_group_and_resets_the_connection(
    collector: Collector, sinks: list[WhatapSink]
) -> None:
    sink = await make(sinks, collector.port, whatap_confirm_timeout="60s")
    await sink.send_confirmed(group(sink, 1000))  # answered, however loaded the machine
    sink.confirm_timeout = 0.5
    before = collector.received.record_count
    generation = sink.session.generation
    collector.freeze()
    batches = group(sink, 2000)
    with pytest.raises(SinkError, match="no answer to a delivery barrier") as exc:
        await sink.send_confirmed(batches)
    assert exc.value.retryable and exc.value.written == len(batches)
    # Dropped at once: no late answer of it can be taken for a later barrier's.
    assert not sink.session.connected or sink.session.generation != generation
    # The frozen collector then dies: the group never arrived, and it was not counted as sent.
    await collector.die()
    assert collector.received.record_count == before


async def group_out_while_frozen(
    collector: Collector, sinks: list[WhatapSink]
) -> tuple[list[Batch], asyncio.Task[list[Sent]]]:
    """A sink that delivered one group; the collector frozen; a second group sent, its
    barrier written and unanswered: that group, and the task sending it."""
    sink = await make(sinks, collector.port, whatap_confirm_timeout="60s")
    await sink.send_confirmed(group(sink, 1000))
    collector.freeze()
    batches = group(sink, 2000)
    written = time_syncs_written()
    sending = asyncio.create_task(sink.send_confirmed(batches))
    await eventually(lambda: time_syncs_written() > written)  # the barrier is out
    return batches, sending


async def test_a_frozen_then_resumed_collector_confirms_the_group(
    collector: Collector, sinks: list[WhatapSink]
) -> None:
    batches, sending = await group_out_while_frozen(collector, sinks)
    assert not sending.done()
    collector.resume()
    assert await asyncio.wait_for(sending, 30) == [DELIVERED] * len(batches)
    assert collector.received.record_count == 2 * samples(batches)


async def test_a_connection_lost_mid_group_says_how_many_batches_went(
    collector: Collector, sinks: list[WhatapSink]
) -> None:
    batches, sending = await group_out_while_frozen(collector, sinks)
    await collector.die()
    with pytest.raises(SinkError) as exc:
        await asyncio.wait_for(sending, 30)
    assert exc.value.retryable and exc.value.written == len(batches)


async def test_a_collector_that_never_answers_falls_back_with_one_warning(
    collector: Collector, sinks: list[WhatapSink]
) -> None:
    collector.faults.mute = True
    unconfirmed = barriers("unconfirmed")
    with capture_logs() as logs:
        sink = await make(sinks, collector.port, whatap_confirm_timeout="0.3s")
        sent = 0
        for cycle in range(3):
            batches = group(sink, 1000 + cycle)
            assert await sink.send_confirmed(batches) == [DELIVERED] * len(batches)
            sent += samples(batches)
        await collector.wait_for(lambda: collector.received.record_count == sent)
    warnings = [x for x in logs if x["log_level"] == "warning"]
    assert len(warnings) == 1 and "does not answer delivery barriers" in warnings[0]["event"]
    assert barriers("unconfirmed") == unconfirmed + 1  # once for the connection, not per group
    assert REGISTRY.get_sample_value("openagent_whatap_delivery_unconfirmed") == 1.0


async def test_a_connection_unconfirmed_for_a_slow_first_answer_is_confirmed_again(
    collector: Collector, sinks: list[WhatapSink]
) -> None:
    sink = await make(sinks, collector.port, whatap_confirm_timeout="0.3s")
    await sink.session.wait_connected(5)
    collector.freeze()  # before any TIME_SYNC was answered: indistinguishable from silence
    first = group(sink, 1000)
    assert await sink.send_confirmed(first) == [DELIVERED] * len(first)
    assert REGISTRY.get_sample_value("openagent_whatap_delivery_unconfirmed") == 1.0
    collector.resume()
    await collector.wait_for(lambda: collector.received.record_count == samples(first))
    await eventually(lambda: sink.session.time_sync_answers > 0)
    confirmed = barriers("confirmed")
    later = group(sink, 2000)
    assert await sink.send_confirmed(later) == [DELIVERED] * len(later)
    assert barriers("confirmed") == confirmed + 1
    assert collector.received.record_count == samples(first) + samples(later)
    assert REGISTRY.get_sample_value("openagent_whatap_delivery_unconfirmed") == 0.0


async def test_send_of_one_batch_still_works(collector: Collector, sinks: list[WhatapSink]) -> None:
    sink = await make(sinks, collector.port)
    for batch in sink.encode(result(1000)).batches:
        assert await sink.send(batch) == DELIVERED
    await collector.wait_for_records(3)
