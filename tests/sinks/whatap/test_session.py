"""The collector session over real loopback TCP, against the collector emulator."""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

import pytest

from benchmarks.whatap_collector import FAKE_LICENSE, Collector
from openagent.backoff import Backoff
from openagent.sinks.whatap import frames as fr
from openagent.sinks.whatap.control import CommandHandler
from openagent.sinks.whatap.crypto import Cypher
from openagent.sinks.whatap.hashing import hash_str, ip_to_int32
from openagent.sinks.whatap.header import PackHeader
from openagent.sinks.whatap.license import parse_license
from openagent.sinks.whatap.openmx import OpenMx, OpenMxPack
from openagent.sinks.whatap.packs import CONFIGURE_GET, GET_ENV, SET_CONFIG
from openagent.sinks.whatap.session import Session, SessionConfig, SessionError
from openagent.sinks.whatap.values import TextValue
from openagent.telemetry import REGISTRY
from tests.sinks.whatap.golden import by_name
from tests.support import eventually

KEYS = parse_license(FAKE_LICENSE)
ONAME = "dcgm-openagent-node1"
OID = hash_str(ONAME)


def config(port: int, **kw: Any) -> SessionConfig:
    base = SessionConfig(
        hosts=("127.0.0.1",),
        port=port,
        pcode=KEYS.pcode,
        license_key=KEYS.security_key,
        identity_env={"WHATAP_ONAME": ONAME},
        connect_timeout=2.0,
        handshake_timeout=2.0,
        backoff_initial=0.02,
        backoff_max=0.1,
    )
    return replace(base, **kw)


def pack(seq: int, n: int = 1) -> bytes:
    """An OpenMxPack whose records carry ``seq`` as their value."""
    recs = [OpenMx("seq", (("i", str(i)),), 1_700_000_000_000 + seq, float(seq)) for i in range(n)]
    return OpenMxPack(PackHeader(KEYS.pcode, OID, 1_700_000_000_000), recs).to_bytes()


def oversize_packs() -> float:
    return REGISTRY.get_sample_value("openagent_whatap_oversize_packs_total") or 0.0


@pytest.fixture
async def open_session() -> AsyncIterator[Callable[..., Session]]:
    sessions: list[Session] = []

    def make(cfg: SessionConfig, **kw: Any) -> Session:
        s = Session(cfg, **kw)
        sessions.append(s)
        return s

    yield make
    for s in sessions:
        await s.close()


async def test_hello_is_the_vector_frame_from_this_socket(
    collector: Collector, open_session: Callable[..., Session]
) -> None:
    vec = by_name("keyReset_hello_cypher128")
    assert vec is not None
    inputs = vec["inputs"]
    lic = parse_license(inputs["license"])
    cfg = config(collector.port, identity_env={"WHATAP_ONAME": inputs["oname"]})
    assert (cfg.pcode, cfg.license_key) == (int(inputs["pcode"]), lic.security_key)
    session = open_session(cfg)
    await session.wait_connected(5)
    hello = collector.sessions[0].hello
    assert hello is not None
    raw = hello.to_bytes()
    want = bytes.fromhex(vec["hex"])
    # Same header (src, code, pcode, oid, trkey, length) as Whatap's own agent produced.
    assert raw[: fr.HEADER_SIZE] == want[: fr.HEADER_SIZE]
    # The message differs only in the IP, which is the socket's own (127.0.0.1 here).
    plain = Cypher(lic.security_key).decrypt(hello.payload)
    vector_plain = bytes.fromhex(vec["msg_decrypted_hex"])
    assert plain[:-5] == vector_plain[:-5]
    assert plain[-5:-1] == ip_to_int32("127.0.0.1").to_bytes(4, "big")
    assert collector.sessions[0].oname == inputs["oname"]
    assert session.identity is not None and session.identity.oid == int(inputs["oid"])


async def test_packs_arrive_hidden_and_decode(
    collector: Collector, open_session: Callable[..., Session]
) -> None:
    session = open_session(config(collector.port))
    gen = await session.wait_connected(5)
    assert await session.send_pack(pack(1), generation=gen)
    assert await session.send_pack(pack(2, n=20), generation=gen)  # > 100 bytes: gzipped
    assert await session.send_pack(pack(3), flag=fr.NET_SECURE_CYPHER)
    records = await collector.wait_for_records(22)
    assert sorted({r.value for r in records}) == [1.0, 2.0, 3.0]
    assert [r.labels for r in records if r.value == 2.0] == [(("i", str(i)),) for i in range(20)]
    info = collector.sessions[0]
    assert [code for code, kind in info.frames if kind != "time_sync"] == [1, 1, 2]
    assert all(r.header.oid == OID and r.header.pcode == KEYS.pcode for r in records)
    assert collector.errors == []


async def test_cypher_level_zero_sends_plain_frames(open_session: Callable[..., Session]) -> None:
    async with Collector(cypher_level=0) as collector:
        session = open_session(config(collector.port, cypher_level=0))
        await session.wait_connected(5)
        await session.send_pack(pack(7))
        records = await collector.wait_for_records(1)
        assert records[0].value == 7.0
        assert collector.sessions[0].hello is not None
        assert collector.sessions[0].hello.code == fr.NET_KEY_EXTENSION
        assert collector.errors == []


async def test_time_sync_precedes_a_pack_when_due(
    open_session: Callable[..., Session],
) -> None:
    async with Collector(clock_offset_ms=7000) as collector:
        session = open_session(config(collector.port, time_sync_interval=0.3))
        await session.wait_connected(5)
        for seq in range(3):
            await session.send_pack(pack(seq))
        await asyncio.sleep(0.35)
        await session.send_pack(pack(3))
        await collector.wait_for_records(4)
        kinds = [kind for _, kind in collector.sessions[0].frames]
        assert kinds == ["time_sync", *["OpenMxPack"] * 3, "time_sync", "OpenMxPack"]
        # The collector answers every TIME_SYNC; the session takes its clock offset.
        await eventually(lambda: abs(session.clock_offset_ms - 7000) < 200, within=5)


async def test_hosts_rotate_on_reconnect(open_session: Callable[..., Session]) -> None:
    async with (
        Collector(host="127.0.0.1", drain_timeout=2) as first,
        Collector(host="127.0.0.2", port=first.port, drain_timeout=2) as second,
    ):
        session = open_session(config(first.port, hosts=("127.0.0.1", "127.0.0.2")))
        await session.wait_connected(5)
        assert session.host == "127.0.0.1"
        await first.stop()
        await eventually(lambda: session.host == "127.0.0.2", within=5)
        await session.send_pack(pack(1))
        await second.wait_for_records(1)
        await first.start()
        await second.stop()
        await eventually(lambda: session.host == "127.0.0.1", within=5)
        hosts = [why for what, why in session.history if what == "connected"]
        assert hosts == ["127.0.0.1", "127.0.0.2", "127.0.0.1"]


def test_backoff_doubles_to_the_cap_with_jitter() -> None:
    b = Backoff(0.5, 30.0, jitter=0.2, rng=random.Random(1))
    delays = [b.next() for _ in range(10)]
    bases = [min(30.0, 0.5 * 2**i) for i in range(10)]
    assert all(0.8 * base <= d <= base for d, base in zip(delays, bases, strict=True))
    assert len({round(d / base, 6) for d, base in zip(delays, bases, strict=True)}) > 1
    assert max(delays) <= 30.0
    b.reset()
    assert 0.4 <= b.next() <= 0.5


async def test_unreachable_collector_backs_off(open_session: Callable[..., Session]) -> None:
    async with Collector() as probe:
        port = probe.port
    cfg = config(port, backoff_initial=0.01, backoff_max=0.08, backoff_jitter=0.2)
    session = open_session(cfg, rng=random.Random(5))
    with pytest.raises(SessionError, match="not connected"):
        await session.wait_connected(0.5)
    await eventually(lambda: len(session.retry_delays) >= 7, within=5)
    delays = list(session.retry_delays)[:7]
    expected = Backoff(0.01, 0.08, jitter=0.2, rng=random.Random(5))
    assert delays == [expected.next() for _ in range(7)]
    assert all(
        0.8 * b <= d <= b
        for d, b in zip(delays, [0.01, 0.02, 0.04, 0.08, 0.08, 0.08, 0.08], strict=True)
    )
    assert session.last_error is not None and "127.0.0.1" in session.last_error
    with pytest.raises(SessionError, match="not connected"):
        await session.send_pack(pack(1))


async def test_get_env_never_returns_the_license(
    collector: Collector, open_session: Callable[..., Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WHATAP_LICENSE", FAKE_LICENSE)
    monkeypatch.setenv("COPY_OF_IT", f"prefix {FAKE_LICENSE}")
    monkeypatch.setenv("API_TOKEN", "t0ken")
    monkeypatch.setenv("OPENAGENT_TEST_PLAIN", "plain value")
    handler = CommandHandler(environ=lambda: os.environ, secrets=lambda: (FAKE_LICENSE,))
    session = open_session(config(collector.port), commands=handler)
    await session.wait_connected(5)
    reply = await collector.command(GET_ENV)
    assert reply.id == GET_ENV and reply.request == 0 and reply.response != 0
    env = {k: v.value for k, v in reply.entries.items() if isinstance(v, TextValue)}
    assert env["OPENAGENT_TEST_PLAIN"] == "plain value"
    assert "whatap.agent_version" in env
    assert not {"WHATAP_LICENSE", "COPY_OF_IT", "API_TOKEN"} & set(env)
    assert not any(FAKE_LICENSE in k or FAKE_LICENSE in v for k, v in env.items())


async def test_configure_get_set_config_and_unknown_commands(
    collector: Collector, open_session: Callable[..., Session]
) -> None:
    view = {"port": "6600", "license_copy": "secret", "oname": ONAME}
    handler = CommandHandler(environ=dict, settings_view=lambda: view)
    session = open_session(config(collector.port), commands=handler)
    await session.wait_connected(5)
    reply = await collector.command(CONFIGURE_GET)
    assert dict(reply.entries) == {
        "port": TextValue("6600"),
        "oname": TextValue(ONAME),
    }
    reply = await collector.command(SET_CONFIG, {"config": {"cypher_level": "0"}})
    error = reply.entries["error"]
    assert isinstance(error, TextValue) and "does not change its configuration" in error.value
    with pytest.raises(TimeoutError):
        await collector.command(22, within=0.5)  # AGENT_LOG_LIST: no log files, no reply
    assert session.connected and session.generation == 1


async def test_oversize_pack_becomes_an_overflow_event(
    collector: Collector, open_session: Callable[..., Session]
) -> None:
    session = open_session(config(collector.port, max_pack_bytes=2000))
    await session.wait_connected(5)
    before = oversize_packs()
    fits = pack(0, n=5)
    huge = pack(1) + bytes(3000)  # readers ignore trailing bytes; the size is what counts
    assert len(fits) < 2000 < len(huge)
    assert await session.send_pack(fits)
    assert not await session.send_pack(huge)
    await collector.wait_for(lambda: len(collector.received.events) == 1)
    event = collector.received.events[0]
    assert event.title == "NEW_OVERFLOW" and event.level == 30
    assert event.message == f"Too big data: OpenMxPack ({len(huge)} bytes)"
    assert event.header.pcode == KEYS.pcode and event.header.oid == OID
    assert collector.sessions[0].frames[-1] == (fr.NET_SECURE_CYPHER, "EventPack")
    assert oversize_packs() == before + 1
    assert collector.received.record_count == 5


async def test_restart_mid_stream_loses_no_pack(
    collector: Collector, open_session: Callable[..., Session]
) -> None:
    session = open_session(config(collector.port))
    total = 300
    sent: list[int] = []
    retries = 0

    async def produce() -> None:
        nonlocal retries
        for seq in range(total):
            while True:
                try:
                    gen = await session.wait_connected(5)
                    await session.send_pack(pack(seq), generation=gen)
                    break
                except SessionError:
                    retries += 1  # not written: the caller sends it again
            sent.append(seq)
            if seq % 10 == 0:
                await asyncio.sleep(0.005)

    producer = asyncio.create_task(produce())
    await collector.wait_for_records(50)
    await collector.restart()
    await collector.wait_for_records(150)
    await collector.restart()
    await producer
    records = await collector.wait_for_records(total)
    assert sorted(int(r.value) for r in records) == list(range(total))  # none lost, none twice
    assert sent == list(range(total))
    assert len([s for s in collector.sessions if s.accepted]) == 3
    assert collector.errors == []


async def test_close_half_closes_and_everything_is_read(
    collector: Collector, open_session: Callable[..., Session]
) -> None:
    session = open_session(config(collector.port))
    await session.wait_connected(5)
    for seq in range(50):
        await session.send_pack(pack(seq, n=10))
    await session.close()
    await collector.wait_for(lambda: collector.sessions[0].closed_ms is not None)
    assert collector.received.record_count == 500
    assert collector.sessions[0].close_reason == "agent closed the connection"
    assert not session.connected


class TestFaults:
    async def test_wrong_license_is_rejected_and_retried(
        self, open_session: Callable[..., Session]
    ) -> None:
        async with Collector(licenses=(), projects={KEYS.pcode + 1: b"other key"}) as collector:
            session = open_session(config(collector.port))
            with pytest.raises(SessionError, match="rejected the license"):
                await session.wait_connected(0.5)
            await eventually(lambda: len(collector.sessions) >= 3, within=5)
            assert not any(s.accepted for s in collector.sessions)
            collector.projects[KEYS.pcode] = KEYS.security_key  # the project appears
            await session.wait_connected(5)

    async def test_key_mismatch_is_rejected(self, open_session: Callable[..., Session]) -> None:
        async with Collector(licenses=(), projects={KEYS.pcode: b"not the fake key"}) as collector:
            session = open_session(config(collector.port))
            with pytest.raises(SessionError, match="rejected the license"):
                await session.wait_connected(0.5)

    async def test_silent_handshake_times_out_then_retries(
        self, collector: Collector, open_session: Callable[..., Session]
    ) -> None:
        collector.faults.silent_handshake = True
        session = open_session(config(collector.port, handshake_timeout=0.2))
        await session.start()
        await eventually(lambda: len(collector.sessions) >= 2, within=5)
        assert session.last_error is not None and "no answer" in session.last_error
        collector.faults.silent_handshake = False
        await session.wait_connected(5)

    async def test_garbage_handshake_reply(
        self, collector: Collector, open_session: Callable[..., Session]
    ) -> None:
        collector.faults.garbage_handshake = True
        session = open_session(config(collector.port))
        await session.start()
        await eventually(lambda: len(collector.sessions) >= 2, within=5)
        assert session.last_error is not None and "negative payload length" in session.last_error
        collector.faults.garbage_handshake = False
        await session.wait_connected(5)

    async def test_garbage_mid_stream_resets_the_session(
        self, collector: Collector, open_session: Callable[..., Session]
    ) -> None:
        session = open_session(config(collector.port))
        await session.wait_connected(5)
        assert collector.send_garbage() == 1
        await eventually(lambda: session.generation == 2 and session.connected, within=5)
        assert [what for what, _ in session.history] == ["connected", "lost", "connected"]
        assert session.history[1][1] == (
            "the collector sent an invalid frame: frame (code 0xff) has negative payload length -1"
        )
        await session.send_pack(pack(1))
        await collector.wait_for_records(1)

    async def test_aborted_connections_reconnect(
        self, collector: Collector, open_session: Callable[..., Session]
    ) -> None:
        session = open_session(config(collector.port))
        await session.wait_connected(5)
        assert collector.close_connections() == 1
        await eventually(lambda: session.generation == 2 and session.connected, within=5)

    async def test_silent_collector_is_dropped_after_the_read_timeout(
        self, collector: Collector, open_session: Callable[..., Session]
    ) -> None:
        session = open_session(config(collector.port, read_timeout=0.3))
        await session.wait_connected(5)
        await asyncio.sleep(0.7)  # idle: TIME_SYNC keep-alives are answered
        assert session.generation == 1 and session.connected
        assert collector.sessions[0].time_syncs >= 2
        collector.faults.mute = True
        await eventually(lambda: session.generation >= 2, within=5)
        assert ("lost", "nothing received from the collector for 0.3 s") in session.history
