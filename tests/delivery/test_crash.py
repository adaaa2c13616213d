"""A process killed with SIGKILL mid-outage loses nothing it spooled; the next one replays it."""

from __future__ import annotations

import asyncio
import collections
import sys
from pathlib import Path

import orjson

from tests.delivery.crash_child import NAME
from tests.delivery.support import Receiver, total_samples
from tests.support import eventually

REPO = Path(__file__).resolve().parents[2]


async def child(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.delivery.crash_child",
        *args,
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_sigkill_while_the_sink_hangs_then_replay(receiver: Receiver, tmp_path: Path) -> None:
    count = 60
    # The receiver answers 10 batches, then stores the 11th and never answers:
    # the backend has it, the agent does not know.
    receiver.hang_after = 10
    proc = await child("fill", receiver.url, str(tmp_path), str(count))
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 20)
        assert line.strip() == b"ready"
        await eventually(lambda: len(receiver.accepted) == 11, 20)
    finally:
        proc.kill()  # SIGKILL: no shutdown code runs
        await proc.wait()
    assert proc.returncode == -9
    assert receiver.accepted == list(range(11))

    receiver.hang_after = None
    proc = await child("replay", receiver.url, str(tmp_path), "0")
    out, err = await asyncio.wait_for(proc.communicate(), 40)
    assert proc.returncode == 0, err.decode()
    counters = orjson.loads(out.splitlines()[-1])

    assert set(receiver.accepted) == set(range(count))  # nothing lost
    first_seen = list(dict.fromkeys(receiver.accepted))
    assert first_seen == list(range(count))  # in order
    dups = [s for s, n in collections.Counter(receiver.accepted).items() if n > 1]
    assert dups == [10]  # the one the backend took but never acknowledged
    assert counters["replayed"] == total_samples(dups)  # and it was counted as possible duplicate
    assert counters["sent"] == total_samples(range(10, count))
    assert not any(counters["dropped"].values())
    assert b"spool found, replaying it first" in err
    assert NAME in err.decode()


async def test_sigkill_while_a_group_awaits_confirmation_replays_and_counts_it_whole(
    receiver: Receiver, tmp_path: Path
) -> None:
    count = 20
    proc = await child("fill", receiver.url, str(tmp_path), str(count), "group")
    try:
        assert proc.stdout is not None
        assert (await asyncio.wait_for(proc.stdout.readline(), 20)).strip() == b"ready"
        # batches 0..4 written, the confirmation never comes
        assert (await asyncio.wait_for(proc.stdout.readline(), 20)).strip() == b"group out 5"
    finally:
        proc.kill()
        await proc.wait()
    assert receiver.accepted == list(range(5))

    proc = await child("replay", receiver.url, str(tmp_path), "0", "group")
    out, err = await asyncio.wait_for(proc.communicate(), 40)
    assert proc.returncode == 0, err.decode()
    counters = orjson.loads(out.splitlines()[-1])
    assert list(dict.fromkeys(receiver.accepted)) == list(range(count))  # all, in order
    dups = sorted(s for s, n in collections.Counter(receiver.accepted).items() if n > 1)
    assert dups == list(range(5))  # the whole unconfirmed group came again
    assert counters["replayed"] == total_samples(dups)  # and all of it was counted
    assert counters["sent"] == total_samples(range(count))
    assert not any(counters["dropped"].values())
