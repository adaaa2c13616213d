"""The collector emulator, driven by a hand-written client built from the frame codec."""

from __future__ import annotations

import asyncio
import json
import math
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from benchmarks.whatap_collector import FAKE_LICENSE, Collector, main
from benchmarks.whatap_received import buckets
from openagent.sinks.whatap import frames as fr
from openagent.sinks.whatap.hashing import hash_str, ip_to_int32
from openagent.sinks.whatap.header import PackHeader
from openagent.sinks.whatap.license import parse_license
from openagent.sinks.whatap.openmx import (
    BucketSpan,
    OpenMx,
    OpenMxHelp,
    OpenMxHelpPack,
    OpenMxHistogram,
    OpenMxHistogramPack,
    OpenMxPack,
)
from openagent.sinks.whatap.packs import GET_ENV, ParamPack, decode_pack
from openagent.sinks.whatap.session import Session, SessionConfig
from openagent.sinks.whatap.values import TextValue
from tests.support import eventually

REPO = Path(__file__).resolve().parents[3]
KEYS = parse_license(FAKE_LICENSE)
ONAME = "emulator-test"
OID = hash_str(ONAME)


class Client:
    """A bare agent: the handshake and frames written by hand."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.keys: fr.SessionKeys | None = None

    @classmethod
    async def connect(cls, port: int) -> Client:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def hello(
        self, *, pcode: int = KEYS.pcode, oid: int = OID, key: bytes = KEYS.security_key
    ) -> fr.Frame:
        self.writer.write(
            fr.encode_hello(
                pcode=pcode, oid=oid, oname=ONAME, ip=ip_to_int32("127.0.0.1"), license_key=key
            )
        )
        return await fr.read_frame(self.reader)

    async def handshake(self) -> fr.SessionKeys:
        reply = await self.hello()
        self.keys = fr.parse_key_reset_reply(
            reply, pcode=KEYS.pcode, oid=OID, license_key=KEYS.security_key
        )
        return self.keys

    def send_pack(self, pack: bytes, *, transfer_key: int | None = None) -> None:
        assert self.keys is not None
        self.writer.write(
            fr.encode_data_frame(
                pack,
                pcode=KEYS.pcode,
                oid=OID,
                transfer_key=self.keys.transfer_key if transfer_key is None else transfer_key,
                cypher=self.keys.cypher(),
            )
        )

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


def metric_pack(*records: OpenMx) -> bytes:
    return OpenMxPack(PackHeader(KEYS.pcode, OID, 1), list(records)).to_bytes()


@pytest.fixture
async def collector() -> AsyncIterator[Collector]:
    async with Collector(drain_timeout=3.0, clock_offset_ms=-2500) as c:
        yield c


async def test_handshake_reply_and_time_sync(collector: Collector) -> None:
    client = await Client.connect(collector.port)
    reply = await client.hello()
    assert (reply.src, reply.code, reply.pcode, reply.oid, reply.key) == (
        3,
        0xFF,
        KEYS.pcode,
        OID,
        0,
    )
    keys = fr.parse_key_reset_reply(reply, pcode=KEYS.pcode, oid=OID, license_key=KEYS.security_key)
    assert len(keys.secure_key) == 16 and keys.public_ip == ip_to_int32("127.0.0.1")
    now = time.time_ns() // 1_000_000
    client.writer.write(
        fr.encode_time_sync(pcode=KEYS.pcode, oid=OID, transfer_key=keys.transfer_key, now_ms=now)
    )
    answer = await fr.read_frame(client.reader)
    assert answer.code == fr.NET_TIME_SYNC and (answer.pcode, answer.oid) == (KEYS.pcode, OID)
    echoed, server = fr.decode_time_sync_reply(answer)
    assert echoed == now and abs(server - now + 2500) < 1000
    info = collector.sessions[0]
    assert (info.oname, info.accepted, info.time_syncs) == (ONAME, True, 1)
    await client.close()


@pytest.mark.parametrize(
    ("pcode", "oid", "key", "reason"),
    [
        (KEYS.pcode + 1, OID, KEYS.security_key, f"unknown pcode {KEYS.pcode + 1}"),
        (KEYS.pcode, OID + 1, KEYS.security_key, "oid is not the hash of the oname"),
        (KEYS.pcode, OID, b"another key here", "wrong license?"),
    ],
)
async def test_bad_hellos_get_the_empty_reply(
    collector: Collector, pcode: int, oid: int, key: bytes, reason: str
) -> None:
    client = await Client.connect(collector.port)
    reply = await client.hello(pcode=pcode, oid=oid, key=key)
    assert (reply.pcode, reply.oid, reply.payload) == (0, 0, b"")
    with pytest.raises(fr.HandshakeError, match="rejected the license"):
        fr.parse_key_reset_reply(reply, pcode=pcode, oid=oid, license_key=key)
    await client.close()
    await collector.wait_for(lambda: collector.sessions[0].closed_ms is not None)
    assert not collector.sessions[0].accepted
    assert reason in collector.sessions[0].rejected


async def test_records_help_and_jsonl(tmp_path: Path) -> None:
    out = tmp_path / "received.jsonl"
    async with Collector(jsonl=out) as collector:
        client = await Client.connect(collector.port)
        await client.handshake()
        help_pack = OpenMxHelpPack(
            PackHeader(KEYS.pcode, OID, 1),
            [OpenMxHelp("gpu_temp", {"help": "Temperature.", "type": "gauge"})],
        ).to_bytes()
        client.send_pack(help_pack)
        client.send_pack(
            metric_pack(
                OpenMx("gpu_temp", (("gpu", "0"), ("UUID", "GPU-1"), ("gpu", "dup")), 1000, 41.5),
                OpenMx("gpu_temp", (), 2000, math.nan),
                OpenMx("gpu_temp", (("z", "한글"),), 3000, -math.inf),
            )
        )
        records = await collector.wait_for_records(3)
        await client.close()
    assert [r.labels for r in records] == [
        (("gpu", "0"), ("UUID", "GPU-1"), ("gpu", "dup")),
        (),
        (("z", "한글"),),
    ]
    assert collector.help == {"gpu_temp": {"help": "Temperature.", "type": "gauge"}}
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    kinds = [x["kind"] for x in lines]
    assert kinds == ["session", "help", "record", "record", "record", "session"]
    assert lines[0]["event"] == "connected" and lines[0]["oname"] == ONAME
    assert lines[1] == {
        "kind": "help",
        "name": "gpu_temp",
        "properties": {"help": "Temperature.", "type": "gauge"},
        "session": 1,
    }
    assert lines[2] == {
        "kind": "record",
        "name": "gpu_temp",
        "labels": [["gpu", "0"], ["UUID", "GPU-1"], ["gpu", "dup"]],
        "value": 41.5,
        "timestamp_ms": 1000,
        "session": 1,
    }
    assert (lines[3]["value"], lines[4]["value"], lines[4]["labels"]) == (
        "NaN",
        "-Inf",
        [["z", "한글"]],
    )
    assert lines[5]["event"] == "closed" and lines[5]["records"] == 3
    assert collector.errors == []


HIST = OpenMxHistogram(
    "latency_seconds", (("model", "a"), ("job", "triton"), ("pcode", "33789")), 4000,
    schema=1, zero_threshold=0.001, zero_count=2, count=12, sum=30.5,
    positive_spans=(BucketSpan(-1, 2), BucketSpan(2, 1)), positive_buckets=(3, 1, -2),
    negative_spans=(BucketSpan(0, 1),), negative_buckets=(3,),
)  # fmt: skip


async def test_histogram_packs_in_memory_summary_and_jsonl(tmp_path: Path) -> None:
    out = tmp_path / "received.jsonl"
    async with Collector(jsonl=out) as collector:
        client = await Client.connect(collector.port)
        await client.handshake()
        header = PackHeader(KEYS.pcode, OID, 1)
        client.send_pack(OpenMxHistogramPack(header, [HIST, HIST]).to_bytes())
        [got, _] = await collector.wait_for_histograms(2)
        await client.close()
    assert got.record == HIST and got.header == header and got.session == 1
    assert (got.positive, got.negative) == ([(-1, 3), (0, 4), (3, 2)], [(0, 3)])
    assert collector.sessions[0].histograms == 2
    assert collector.sessions[0].frames[-1] == (fr.NET_SECURE_HIDE, "OpenMxHistogramPack")
    assert "histograms 2" in collector.received.summary(0, 0.0)
    assert collector.received.record_count == 0  # histograms are not flat records
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["kind"] for x in lines] == ["session", "histogram", "histogram", "session"]
    assert lines[1] == {
        "kind": "histogram",
        "name": "latency_seconds",
        "labels": [["model", "a"], ["job", "triton"], ["pcode", "33789"]],
        "timestamp_ms": 4000,
        "schema": 1,
        "zero_threshold": 0.001,
        "zero_count": 2,
        "count": 12,
        "sum": 30.5,
        "buckets": {"positive": [[-1, 3], [0, 4], [3, 2]], "negative": [[0, 3]]},
        "session": 1,
    }


def test_bucket_counts_undo_the_spans_and_deltas() -> None:
    spans = (BucketSpan(2, 1), BucketSpan(0, 2), BucketSpan(3, 1))
    assert buckets(spans, (5, -2, 1, 0)) == [(2, 5), (3, 3), (4, 4), (8, 4)]
    assert buckets((), ()) == []


async def test_graceful_stop_reads_what_the_agent_writes_after_the_fin(
    collector: Collector,
) -> None:
    client = await Client.connect(collector.port)
    await client.handshake()
    client.send_pack(metric_pack(OpenMx("before", (), 1, 1.0)))
    await collector.wait_for_records(1)
    stopping = asyncio.create_task(collector.stop())
    assert await client.reader.read(100) == b""  # the collector's FIN
    client.send_pack(metric_pack(OpenMx("after_fin", (), 2, 2.0)))
    await client.writer.drain()
    await asyncio.sleep(0.1)
    assert not stopping.done()  # still reading until the agent closes
    await client.close()
    await stopping
    assert [r.name for r in collector.records] == ["before", "after_fin"]
    with pytest.raises(OSError):
        await Client.connect(collector.port)  # not listening any more
    await collector.start()  # same port again
    again = await Client.connect(collector.port)
    await again.handshake()
    await again.close()


async def test_foreign_frames_are_reported(collector: Collector) -> None:
    client = await Client.connect(collector.port)
    keys = await client.handshake()
    client.send_pack(metric_pack(OpenMx("x", (), 1, 1.0)), transfer_key=keys.transfer_key + 1)
    client.send_pack(b"\x16\x03\x09")  # a truncated OpenMxPack
    await collector.wait_for(lambda: len(collector.errors) == 2)
    assert "ignored a frame" in collector.errors[0]
    assert "undecodable pack" in collector.errors[1]
    await client.close()


async def test_commands_reach_the_agent_and_replies_come_back(collector: Collector) -> None:
    with pytest.raises(RuntimeError, match="no agent session"):
        await collector.command(GET_ENV)
    client = await Client.connect(collector.port)
    keys = await client.handshake()

    async def answer() -> None:
        frame = await fr.read_frame(client.reader)
        data = fr.open_data_frame(
            frame, pcode=KEYS.pcode, oid=OID, transfer_key=keys.transfer_key, cypher=keys.cypher()
        )
        assert data is not None
        request = decode_pack(data)
        assert isinstance(request, ParamPack) and request.id == GET_ENV
        client.send_pack(request.to_response({"HOME": TextValue("/root")}).to_bytes())

    responder = asyncio.create_task(answer())
    reply = await collector.command(GET_ENV)
    await responder
    assert reply.entries == {"HOME": TextValue("/root")} and reply.request == 0
    await client.close()


async def test_command_line(tmp_path: Path) -> None:
    ready, out = tmp_path / "ready.json", tmp_path / "out.jsonl"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "benchmarks.whatap_collector", "--port", "0",
        "--ready-file", str(ready), "--summary", "--summary-interval", "0.2", "--jsonl", str(out),
        cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    try:
        await eventually(ready.exists, within=20)
        port = json.loads(ready.read_text())["port"]
        cfg = SessionConfig(
            hosts=("127.0.0.1",), port=port, pcode=KEYS.pcode, license_key=KEYS.security_key,
            identity_env={"WHATAP_ONAME": ONAME},
        )  # fmt: skip
        session = Session(cfg)
        await session.wait_connected(5)
        await session.send_pack(metric_pack(OpenMx("m", (("a", "b"),), 5, 1.0)))
        assert proc.stdout is not None
        lines: list[str] = []
        async with asyncio.timeout(10):
            while "records 1 " not in (lines[-1] if lines else ""):
                lines.append((await proc.stdout.readline()).decode())
        assert any(f"session 1 connected: oname={ONAME}" in x for x in lines)
        assert "series 1 |" in lines[-1] and f"last oname {ONAME}" in lines[-1]
        await session.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        rest, err = await asyncio.wait_for(proc.communicate(), 10)
    assert proc.returncode == 0, err
    assert b"stopped | connections 0 live / 1 total | packs 1 | records 1" in rest
    kinds = [json.loads(x)["kind"] for x in out.read_text().splitlines()]
    assert kinds == ["session", "record", "session"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--host", "10.1.2.3"], "not a loopback address"),
        (["--license", "not-a-license"], "not a hexa32 number"),
        (["--summary-interval", "0"], "must be positive"),
    ],
)
def test_command_line_refuses_bad_flags(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
