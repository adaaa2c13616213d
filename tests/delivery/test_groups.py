"""Confirming sinks get groups: what is queued now, bounded, booked only once confirmed."""

from __future__ import annotations

from pathlib import Path

import pytest

from openagent.delivery import Delivery, DeliveryOptions
from openagent.delivery.checkpoint import PositionMark
from openagent.delivery.ledger import Ledger
from tests.delivery.confirming import LOSSY, NEVER, ConfirmingFake, Fail
from tests.delivery.support import dropped, metric, result, total_samples, unique_name
from tests.support import eventually

pytestmark = pytest.mark.timeout(60)


def options(spool: Path | None) -> DeliveryOptions:
    return DeliveryOptions(spool_dir=spool, backoff_initial=0.01, backoff_max=0.05)


@pytest.fixture(params=["memory", "spool"])
def spool_dir(request: pytest.FixtureRequest, tmp_path: Path) -> Path | None:
    return tmp_path if request.param == "spool" else None


def replayed(name: str) -> float:
    return metric("openagent_delivery_replayed_samples_total", sink=name)


def balanced(ledger: Ledger) -> bool:
    return ledger.handed_samples + ledger.recovered_samples == ledger.settled


async def run(sink: ConfirmingFake, spool: Path | None, count: int) -> Delivery:
    """Start delivery, submit batches 0..count-1 at once, wait until all are settled."""
    d = Delivery([sink], options(spool))
    await d.start()
    for i in range(count):
        d.submit(result(i))
    ledger = d.lane(sink.name).ledger
    await eventually(lambda: balanced(ledger))
    return d


async def test_a_group_is_what_is_queued_up_to_the_batch_bound(spool_dir: Path | None) -> None:
    sink = ConfirmingFake(unique_name(), confirm_batches=8)
    d = await run(sink, spool_dir, 20)
    await d.close(1.0)
    assert sink.groups == [list(range(8)), list(range(8, 16)), list(range(16, 20))]
    assert sink.written == list(range(20))
    ledger = d.lane(sink.name).ledger
    assert ledger.sent_samples == total_samples(range(20)) and balanced(ledger)
    assert replayed(sink.name) == 0


async def test_a_group_is_bounded_by_bytes_but_holds_at_least_one_batch(
    spool_dir: Path | None,
) -> None:
    sink = ConfirmingFake(unique_name(), confirm_batches=100, confirm_bytes=350)  # 3 of 100 B
    d = await run(sink, spool_dir, 7)
    await d.close(1.0)
    assert sink.groups == [[0, 1, 2], [3, 4, 5], [6]]
    tiny = ConfirmingFake(unique_name(), confirm_batches=100, confirm_bytes=10)
    d = await run(tiny, spool_dir, 3)
    await d.close(1.0)
    assert tiny.groups == [[0], [1], [2]]


async def test_a_slow_destination_gets_bigger_groups_without_waiting_to_fill_one(
    spool_dir: Path | None,
) -> None:
    sink = ConfirmingFake(unique_name(), confirm_batches=8)
    sink.open.clear()
    d = Delivery([sink], options(spool_dir))
    await d.start()
    d.submit(result(0))
    await sink.called.wait()  # sent alone: nothing else was queued
    for i in range(1, 6):
        d.submit(result(i))
    sink.open.set()
    ledger = d.lane(sink.name).ledger
    await eventually(lambda: ledger.sent_samples == total_samples(range(6)))
    await d.close(1.0)
    assert sink.groups == [[0], [1, 2, 3, 4, 5]]


async def test_a_group_written_in_part_is_sent_again_whole_and_the_written_part_counted(
    spool_dir: Path | None,
) -> None:
    sink = ConfirmingFake(unique_name(), confirm_batches=5)
    sink.script = [Fail(written=2)]
    d = await run(sink, spool_dir, 5)
    await d.close(1.0)
    assert sink.groups == [[0, 1, 2, 3, 4]] * 2
    assert sink.written == [0, 1, 0, 1, 2, 3, 4]
    ledger = d.lane(sink.name).ledger
    assert ledger.sent_samples == total_samples(range(5)) and balanced(ledger)
    assert replayed(sink.name) == total_samples([0, 1])  # once, though both were written


async def test_a_group_never_confirmed_is_retried_and_all_of_it_counted_replayed(
    spool_dir: Path | None,
) -> None:
    sink = ConfirmingFake(unique_name(), confirm_batches=4)
    sink.script = [NEVER, NEVER]
    d = await run(sink, spool_dir, 4)
    await d.close(1.0)
    assert sink.groups == [[0, 1, 2, 3]] * 3
    ledger = d.lane(sink.name).ledger
    assert ledger.sent_samples == total_samples(range(4)) and balanced(ledger)
    assert replayed(sink.name) == total_samples(range(4))


async def test_a_refused_group_is_dropped_whole_and_the_next_one_goes_on(
    spool_dir: Path | None,
) -> None:
    sink = ConfirmingFake(unique_name(), confirm_batches=3)
    sink.script = [Fail(written=1, retryable=False)]
    d = await run(sink, spool_dir, 5)
    await d.close(1.0)
    assert sink.groups == [[0, 1, 2], [3, 4]]
    ledger = d.lane(sink.name).ledger
    assert dropped(sink.name, "rejected") == total_samples(range(3))
    assert ledger.sent_samples == total_samples([3, 4]) and balanced(ledger)
    assert replayed(sink.name) == 0


async def test_a_loss_the_destination_reports_is_booked_per_batch(spool_dir: Path | None) -> None:
    sink = ConfirmingFake(unique_name(), confirm_batches=3)
    sink.script = [LOSSY]
    d = await run(sink, spool_dir, 3)
    await d.close(1.0)
    ledger = d.lane(sink.name).ledger
    assert dropped(sink.name, "too_old") == total_samples([2])
    assert ledger.sent_samples == total_samples([0, 1]) and balanced(ledger)


async def test_the_spool_position_waits_for_the_confirmation_and_a_stop_replays_the_group(
    tmp_path: Path,
) -> None:
    name = unique_name()
    sink = ConfirmingFake(name, confirm_batches=3)
    sink.script = [NEVER] * 1000  # written, never confirmed
    d = Delivery([sink], options(tmp_path))
    await d.start()
    for i in range(5):
        d.submit(result(i))
    await eventually(lambda: len(sink.groups) >= 2)
    mark = PositionMark(tmp_path / name)
    try:
        assert mark.read() == (1, 0)  # the start of the group: nothing confirmed
        handed = mark.read_handed()
        assert handed is not None and handed[0] == 1 and handed[1] > 0
    finally:
        mark.close()
    assert d.lane(name).ledger.sent_samples == 0
    await d.close(0.1)  # the group is cut short while being sent

    again = ConfirmingFake(name, confirm_batches=8)
    d = Delivery([again], options(tmp_path))
    await d.start()
    ledger = d.lane(name).ledger
    await eventually(lambda: ledger.sent_samples == total_samples(range(5)))
    await d.close(1.0)
    assert again.groups == [[0, 1, 2, 3, 4]]
    assert ledger.recovered_samples == total_samples(range(5)) and balanced(ledger)
    assert replayed(name) == total_samples(range(3))  # the group that was out
