"""The spool across restarts: replay, damaged records, the size cap, the checkpoint."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from openagent.delivery import Delivery, DeliveryOptions
from openagent.delivery.record import HEADER_SIZE
from openagent.delivery.recovery import segment_name
from tests.delivery.support import (
    HttpSink,
    Receiver,
    dropped,
    metric,
    result,
    total_samples,
    unique_name,
)
from tests.support import eventually

PAYLOAD = 100
RECORD = HEADER_SIZE + PAYLOAD


def options(tmp_path: Path, **kw: Any) -> DeliveryOptions:
    """Write-through spool, ten records per segment, short retry waits."""
    base: dict[str, Any] = {
        "memory_queue_bytes": 0,
        "spool_dir": tmp_path,
        "spool_segment_bytes": 10 * RECORD,
        "backoff_initial": 0.02,
        "backoff_max": 0.1,
    }
    return DeliveryOptions(**(base | kw))


async def spool_while_down(
    name: str, receiver: Receiver, opts: DeliveryOptions, seqs: range
) -> None:
    """Submit ``seqs`` while the receiver is down, then shut down (all of it lands in the spool)."""
    await receiver.stop()
    d = Delivery([HttpSink(name, receiver.url)], opts)
    await d.start()
    for i in seqs:
        d.submit(result(i))
    await d.close(0.05)
    await receiver.start()


async def replay(name: str, receiver: Receiver, opts: DeliveryOptions) -> None:
    """Start again with the receiver up and wait until the spool is empty."""
    d = Delivery([HttpSink(name, receiver.url)], opts)
    await d.start()
    assert await d.lane(name).drain(10)
    await d.close(1.0)


async def test_restart_replays_the_spool_first_and_in_order(
    receiver: Receiver, tmp_path: Path
) -> None:
    name = unique_name()
    opts = options(tmp_path)
    await spool_while_down(name, receiver, opts, range(25))
    assert len(list((tmp_path / name).glob("*.seg"))) == 3
    d = Delivery([HttpSink(name, receiver.url)], opts)
    await d.start()
    for i in range(25, 30):  # new data queues behind the spooled data
        d.submit(result(i))
    await eventually(lambda: len(receiver.accepted) >= 30)
    await d.close(1.0)
    assert receiver.accepted == list(range(30))
    assert metric("openagent_delivery_replayed_samples_total", sink=name) == 0  # clean stop
    # a clean stop after everything was sent leaves nothing to resend
    await replay(name, receiver, opts)
    assert receiver.accepted == list(range(30))


@pytest.mark.parametrize("damage", ["bit_flip", "truncated", "bad_header"])
async def test_damaged_records_are_skipped_and_the_rest_replays(
    receiver: Receiver, tmp_path: Path, damage: str
) -> None:
    name = unique_name()
    opts = options(tmp_path)
    await spool_while_down(name, receiver, opts, range(30))
    seg2 = tmp_path / name / segment_name(2)
    seg3 = tmp_path / name / segment_name(3)
    if damage == "bit_flip":  # one byte in the middle of the payload of record 15
        path, offset, lost = seg2, 5 * RECORD, [15]
        with path.open("r+b") as f:
            f.seek(offset + HEADER_SIZE + PAYLOAD // 2)
            byte = f.read(1)
            f.seek(-1, os.SEEK_CUR)
            f.write(bytes([byte[0] ^ 0x10]))
    elif damage == "truncated":  # cut inside the payload of the last record, 29
        path, offset, lost = seg3, 9 * RECORD, [29]
        os.truncate(path, offset + HEADER_SIZE + 30)
    else:  # one byte of record 15's header (its sample count)
        path, offset, lost = seg2, 5 * RECORD, [15]
        with path.open("r+b") as f:
            f.seek(offset + 9)
            byte = f.read(1)
            f.seek(-1, os.SEEK_CUR)
            f.write(bytes([byte[0] ^ 0x01]))
    with capture_logs() as logs:
        await replay(name, receiver, opts)
    assert receiver.accepted == [i for i in range(30) if i not in lost]
    errors = [e for e in logs if e["event"] == "damaged spool record skipped"]
    assert len(errors) == 1
    assert errors[0]["log_level"] == "error"
    assert (errors[0]["file"], errors[0]["offset"]) == (str(path), offset)
    corrupt_bytes = metric("openagent_delivery_spool_corrupt_bytes_total", sink=name)
    if damage == "bad_header":  # samples unknown: counted in bytes, up to the next good header
        assert dropped(name, "spool_corrupt") == 0
        assert corrupt_bytes == RECORD
    else:
        assert dropped(name, "spool_corrupt") == total_samples(lost)
        assert corrupt_bytes == 0


async def test_cap_drops_the_oldest_segments_and_counts_them_exactly(
    receiver: Receiver, tmp_path: Path
) -> None:
    """Two runs of outage through a 4-segment spool; whatever did not arrive is counted."""
    name = unique_name()
    cap = 4 * 10 * RECORD
    opts = options(tmp_path, spool_max_bytes=cap)
    await spool_while_down(name, receiver, opts, range(35))  # fits: kept whole
    await receiver.stop()
    d = Delivery([HttpSink(name, receiver.url)], opts)
    await d.start()
    lane = d.lane(name)
    assert lane.fifo.spool is not None
    for i in range(35, 200):
        d.submit(result(i))
        assert lane.fifo.spool.bytes <= cap
        if i % 20 == 0:
            await asyncio.sleep(0.01)
    await receiver.start()
    assert await lane.drain(10)
    await d.close(1.0)
    arrived = receiver.accepted
    assert arrived == sorted(set(arrived))  # in order, no duplicates
    lost = set(range(200)) - set(arrived)
    assert lost and 199 in arrived
    assert max(lost) < max(arrived)  # the oldest went first
    assert dropped(name, "spool_full") == total_samples(lost)
    sent = metric("openagent_delivery_samples_sent_total", sink=name)
    assert sent == total_samples(arrived)


async def test_unreadable_checkpoint_falls_back_to_the_position_mark(
    receiver: Receiver, tmp_path: Path
) -> None:
    name = unique_name()
    opts = options(tmp_path)
    await spool_while_down(name, receiver, opts, range(12))
    d = Delivery([HttpSink(name, receiver.url)], opts)  # deliver 0..11, stop cleanly
    await d.start()
    assert await d.lane(name).drain(10)
    await d.close(1.0)
    await spool_while_down(name, receiver, opts, range(12, 20))
    (tmp_path / name / "checkpoint.json").write_text("{not json")
    with capture_logs() as logs:
        await replay(name, receiver, opts)
    assert receiver.accepted == list(range(20))  # nothing sent twice
    assert any(e["event"] == "spool checkpoint unusable" for e in logs)


async def test_without_any_position_everything_replays_and_counts_as_possible_duplicates(
    receiver: Receiver, tmp_path: Path
) -> None:
    name = unique_name()
    opts = options(tmp_path)
    await spool_while_down(name, receiver, opts, range(12))
    (tmp_path / name / "checkpoint.json").write_text("{not json")
    (tmp_path / name / "position").write_bytes(b"\x00" * 20)  # checksum does not match
    with capture_logs() as logs:
        await replay(name, receiver, opts)
    assert receiver.accepted == list(range(12))
    assert any(e["event"] == "no usable spool position, replaying all" for e in logs)
    replayed = metric("openagent_delivery_replayed_samples_total", sink=name)
    assert replayed == total_samples(range(12))


async def test_unusable_spool_directory_falls_back_to_memory(
    receiver: Receiver, tmp_path: Path
) -> None:
    name = unique_name()
    blocker = tmp_path / "file"
    blocker.write_text("a file where the spool directory should be")
    with capture_logs() as logs:
        d = Delivery([HttpSink(name, receiver.url)], options(blocker, memory_queue_bytes=1 << 20))
        await d.start()
    assert d.lane(name).fifo.spool is None
    assert any("cannot open the spool" in e["event"] for e in logs)
    d.submit(result(1))
    await eventually(lambda: receiver.accepted == [1])
    await d.close(1.0)
