"""The agent's delivery barriers against a strict, independently written collector."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator

import pytest

from openagent.settings import load_settings
from openagent.sinks.base import DELIVERED, Batch
from openagent.sinks.whatap.sink import WhatapSink, build_whatap_sink
from openagent.wiring import whatap_options
from tests.sinks.whatap import strict_collector as sc
from tests.sinks.whatap.golden import by_name
from tests.sinks.whatap.test_sink import result

OPEN_MX_PACK = 0x1603


def vector(name: str) -> dict[str, object]:
    found = by_name(name)
    assert found is not None
    return found


def test_the_strict_collector_matches_the_golden_vectors() -> None:
    reply = vector("server_frame_TIME_SYNC_reply")
    inputs = reply["inputs"]
    assert isinstance(inputs, dict)
    made = sc.time_sync_reply(int(inputs["prev_agent_time"]), int(inputs["server_time"]))
    assert made.hex() == reply["hex"]
    hidden = vector("frame_HIDE_OpenMxPack_small")
    plain = bytes.fromhex(str(hidden["pack_plain_hex"]))
    assert sc.xor(sc.StrictCollector().hide_key, plain).hex() == hidden["payload_hidden_hex"]
    hello = vector("keyReset_hello_cypher128")
    message = sc.aes(sc.LICENSE_KEY, bytes.fromhex(str(hello["msg_encrypted_hex"])), decrypt=True)
    assert message.hex() == hello["msg_decrypted_hex"]
    head = bytes.fromhex(str(vector("frame_TIME_SYNC")["hex"]))[: sc.HEADER.size]
    assert sc.HEADER.unpack(head) == (1, 0xFE, sc.PCODE, sc.OID, 123456789, 8)


@pytest.fixture
async def strict() -> AsyncIterator[sc.StrictCollector]:
    async with sc.StrictCollector() as collector:
        yield collector


@pytest.fixture
async def sink(strict: sc.StrictCollector) -> AsyncIterator[WhatapSink]:
    settings = load_settings(
        sinks=["whatap"], license=sc.LICENSE, host="127.0.0.1", port=strict.port,
        oname=sc.ONAME, whatap_connect_timeout="2s", whatap_confirm_timeout="5s",
    )  # fmt: skip
    made = build_whatap_sink(whatap_options(settings))
    await made.start()
    yield made
    await made.close()


def data_packs(batches: list[Batch]) -> int:
    return sum(1 for b in batches if struct.unpack_from(">H", b.payload)[0] == OPEN_MX_PACK)


async def test_each_confirmed_group_has_reached_the_strict_collector(
    strict: sc.StrictCollector, sink: WhatapSink
) -> None:
    expected = 0
    for cycle in range(6):
        batches = [
            b for t in range(3) for b in sink.encode(result(1000 + cycle, target=f"t{t}")).batches
        ]
        assert await sink.send_confirmed(batches) == [DELIVERED] * len(batches)
        expected += data_packs(batches)
        # Checked at once: the barrier's answer came after every pack before it was read.
        assert strict.packs.get(OPEN_MX_PACK, 0) == expected
    assert strict.errors == []
    assert strict.time_syncs >= 6


async def test_the_strict_collector_refuses_a_data_frame_before_the_hello(
    strict: sc.StrictCollector,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", strict.port)
    writer.write(sc.HEADER.pack(1, 0x01, sc.PCODE, sc.OID, 0, 4) + b"\0\0\0\0")
    try:
        assert await reader.read() == b""
    except ConnectionResetError:
        pass  # reset, as it should be
    writer.close()
    assert strict.errors == ["first frame has code 0x01 key 0: not a hello"]
