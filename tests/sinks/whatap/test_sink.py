"""The whatap sink: settings, identity, help on every connection, failures, commands."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from structlog.testing import capture_logs

from benchmarks.whatap_collector import FAKE_LICENSE, Collector
from openagent.model import Metadata, ScrapeResult, Series
from openagent.settings import load_settings
from openagent.sinks.base import Loss, Sent, SinkError
from openagent.sinks.whatap.hashing import hash_str
from openagent.sinks.whatap.packs import CONFIGURE_GET, GET_ENV
from openagent.sinks.whatap.session import Session
from openagent.sinks.whatap.sink import WhatapSink, build_whatap_sink
from openagent.sinks.whatap.values import TextValue
from openagent.wiring import build_sinks, whatap_options
from tests.support import eventually

PCODE = 33789


def settings(port: int, **kw: Any) -> Any:
    base: dict[str, Any] = {
        "sinks": ["whatap"],
        "license": FAKE_LICENSE,
        "host": "127.0.0.1",
        "port": port,
        "oname": "sink-test",
        "whatap_connect_timeout": "1s",
        "whatap_timeout": "5s",
    }
    return load_settings(**(base | kw))


def result(ts: int, value: float = 1.0, target: str = "t1") -> ScrapeResult:
    series = [
        Series("DCGM_FI_DEV_GPU_TEMP", (("gpu", "0"), ("job", "j"), ("instance", "i:1"))),
        Series("DCGM_FI_DEV_GPU_TEMP", (("gpu", "1"), ("job", "j"), ("instance", "i:1"))),
        Series("up", (("job", "j"), ("instance", "i:1"))),
    ]
    return ScrapeResult(
        target_id=target,
        job="j",
        instance="i:1",
        url="http://i:1/metrics",
        timestamp_ms=ts,
        series=series,
        values=[value, value + 1, 1.0],
        metadata={"DCGM_FI_DEV_GPU_TEMP": Metadata("gauge", "GPU temperature (in C).")},
    )


async def make(made: list[WhatapSink], port: int, **kw: Any) -> WhatapSink:
    sink = build_whatap_sink(whatap_options(settings(port, **kw)))
    made.append(sink)
    await sink.start()
    return sink


def test_build_sinks_wires_the_whatap_sink() -> None:
    [sink] = build_sinks(settings(1))
    assert isinstance(sink, WhatapSink) and sink.name == "whatap"
    assert sink.session.config.hosts == ("127.0.0.1",)
    assert sink.session.config.pcode == PCODE


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"license": None}, "needs WHATAP_LICENSE"),
        ({"host": None}, "needs WHATAP_HOST"),
        ({"license": "x6043vk85eq31-x58obg8pgmmpab-q6au9160ojvokf"}, "WHATAP_LICENSE is malformed"),
        ({"license": "x1-x2"}, "WHATAP_LICENSE is malformed"),
    ],
)
def test_bad_settings_are_refused_without_quoting_the_license(
    kw: dict[str, Any], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WHATAP_LICENSE", raising=False)
    monkeypatch.delenv("WHATAP_HOST", raising=False)
    with pytest.raises(ValueError, match=message) as exc:
        build_whatap_sink(whatap_options(settings(1, **kw)))
    assert "6au9160" not in str(exc.value) and "x1-x2" not in str(exc.value)


async def test_identity_from_settings_reaches_headers_and_handshake(
    collector: Collector, sinks: list[WhatapSink]
) -> None:
    with capture_logs() as logs:
        sink = await make(
            sinks,
            collector.port,
            oname=None,
            pod_name="whatap-open-agent-5d8f7c9b6-x7k2p",
            node_name="ip-10-21-150-16.ec2.internal",
            shard_index=1,
            shard_count=2,
        )
    assert sink.oname == "whatap-open-agent-1"  # workload name (stable), plus the shard
    assert not [x for x in logs if "WHATAP_ONAME" in x["event"]]  # a pod's name is stable
    for batch in sink.encode(result(1000)).batches:
        await sink.send(batch)
    records = await collector.wait_for_records(3)
    header = records[0].header
    assert header.oid == hash_str("whatap-open-agent-1")
    assert header.okind == hash_str("whatap-open-agent-5d8f7c9b6")  # the Go agent's rule
    assert header.onode == 967915637  # vector value for this node name
    assert collector.sessions[0].oname == "whatap-open-agent-1"


async def test_without_pod_name_the_go_pattern_uses_the_local_address(
    collector: Collector, sinks: list[WhatapSink]
) -> None:
    with capture_logs() as logs:
        sink = await make(sinks, collector.port, oname=None)
    said = [x for x in logs if "WHATAP_ONAME" in x["event"]]
    assert len(said) == 1  # once, at start, with the name and how to choose another
    assert said[0]["oname"] == "{type}-0-1-{process}"
    assert "set WHATAP_ONAME to choose the name" in said[0]["event"]
    assert FAKE_LICENSE not in str(logs)
    assert sink.oname == "{type}-0-1-{process}"  # 127.0.0.1, as the Go agent names it
    await sink.send(sink.encode(result(1000)).batches[-1])
    await collector.wait_for_records(3)
    assert collector.sessions[0].oname == "{type}-0-1-{process}"
    assert collector.records[0].header.oid == hash_str("{type}-0-1-{process}")


async def test_help_goes_first_on_every_connection(
    collector: Collector, sinks: list[WhatapSink]
) -> None:
    sink = await make(sinks, collector.port)
    first = sink.encode(result(1000)).batches
    assert len(first) == 2  # help is due for a new target, then the samples
    for batch in first:
        await sink.send(batch)
    records = await collector.wait_for_records(3)
    assert {(r.name, r.labels[-1], r.value) for r in records} == {
        ("DCGM_FI_DEV_GPU_TEMP", ("pcode", str(PCODE)), 1.0),
        ("DCGM_FI_DEV_GPU_TEMP", ("pcode", str(PCODE)), 2.0),
        ("up", ("pcode", str(PCODE)), 1.0),
    }
    assert collector.help["DCGM_FI_DEV_GPU_TEMP"]["help"] == "GPU temperature (in C)."
    await collector.restart()
    later = sink.encode(result(2000, 5.0)).batches
    assert len(later) == 1  # help is not due again for a while
    await eventually(lambda: sink.session.generation == 2, within=5)
    await sink.send(later[0])
    await collector.wait_for_records(6)
    kinds = [kind for _, kind in collector.sessions[1].frames if kind != "time_sync"]
    assert kinds == ["OpenMxHelpPack", "OpenMxPack"]  # the new session got help first
    # Each session got the family's help once: the first one's help covered the queued pack.
    assert [s.help_records for s in collector.sessions] == [1, 1]


async def test_not_connected_is_a_retryable_error(sinks: list[WhatapSink]) -> None:
    async with Collector() as probe:
        port = probe.port  # nothing listens there any more
    sink = await make(sinks, port)
    batch = sink.encode(result(1000)).batches[-1]
    with pytest.raises(SinkError, match="not connected to the Whatap collector") as exc:
        await sink.send(batch)
    assert exc.value.retryable
    async with Collector(port=port) as collector:
        await eventually(lambda: sink.session.connected, within=10)
        await sink.send(batch)  # the same batch, delivered once the collector is there
        await collector.wait_for_records(3)
        assert collector.received.record_count == 3


async def test_a_spooled_pack_above_a_smaller_limit_is_reported_lost_not_sent(
    collector: Collector,
) -> None:
    # Encoded under the default limit (as by an earlier run whose batch waited in the spool),
    # sent by a sink whose session takes at most 100 bytes.
    earlier = build_whatap_sink(whatap_options(settings(collector.port)))
    batches = earlier.encode(result(1000)).batches
    assert len(batches[-1].payload) > 100
    small = Session(replace(earlier.session.config, max_pack_bytes=100))
    sink = WhatapSink(small)
    try:
        await sink.start()
        outcomes = [await sink.send(batch) for batch in batches]
        await collector.wait_for(lambda: len(collector.received.events) == 1)
        assert collector.received.events[0].message.startswith("Too big data: OpenMxPack")
        assert collector.received.record_count == 0
        assert outcomes[-1] == Sent(Loss("oversize", 3))
        assert batches[-1].samples == 3
    finally:
        await sink.close()


async def test_commands_through_the_wired_sink_keep_secrets(
    collector: Collector, sinks: list[WhatapSink], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WHATAP_LICENSE", FAKE_LICENSE)
    monkeypatch.setenv("OPENAGENT_SINKS", "whatap")
    sink = await make(sinks, collector.port, license=None)  # the license from the environment
    await sink.session.wait_connected(5)
    env = (await collector.command(GET_ENV)).entries
    assert env["OPENAGENT_SINKS"] == TextValue("whatap")
    assert "WHATAP_LICENSE" not in env
    conf = (await collector.command(CONFIGURE_GET)).entries
    assert conf["oname"] == TextValue("sink-test")
    assert conf["port"] == TextValue(str(collector.port))
    assert conf["sinks"] == TextValue('["whatap"]')
    assert "license" not in conf
    for entries in (env, conf):
        assert not any(
            isinstance(v, TextValue) and FAKE_LICENSE in v.value for v in entries.values()
        )


async def test_close_delivers_what_was_written(collector: Collector) -> None:
    sink = build_whatap_sink(whatap_options(settings(collector.port)))
    await sink.start()
    for i in range(20):
        for batch in sink.encode(result(1000 + i, float(i), target=f"t{i % 3}")).batches:
            await sink.send(batch)
    await sink.close()
    await collector.wait_for(lambda: collector.sessions[0].closed_ms is not None)
    assert collector.received.record_count == 60
    assert collector.sessions[0].close_reason == "agent closed the connection"


async def test_the_license_never_reaches_the_logs(
    sinks: list[WhatapSink], capsys: pytest.CaptureFixture[str]
) -> None:
    async with Collector(licenses=(), projects={PCODE + 1: b"x"}) as collector:
        sink = await make(sinks, collector.port, log_level="debug")
        await eventually(lambda: len(collector.sessions) >= 2, within=5)  # rejected, retried
        collector.projects[PCODE] = b"WhaTapFakeKey!01"
        await sink.session.wait_connected(5)
        await sink.send(sink.encode(result(1000)).batches[-1])
        await collector.wait_for_records(3)
        assert "rejected the license" in repr(list(sink.session.history))
        assert "WhaTapFakeKey" not in repr(sink.session.config)
    out = capsys.readouterr()
    logged = out.out + out.err
    assert "rejected the license" in logged and "connected to the collector" in logged
    assert FAKE_LICENSE not in logged and "WhaTapFakeKey" not in logged


@pytest.mark.parametrize(
    ("pod", "expected"),
    [("openagent-2", "openagent-2"), ("openagent-5d8f7c9b6-x7k2p", "openagent-5d8f7c9b6-x7k2p")],
)
def test_live_shard_members_get_their_pod_name_as_oname(pod: str, expected: str) -> None:
    options = whatap_options(
        settings(1, oname=None, pod_name=pod, pod_namespace="ns", shard_selector="app=openagent")
    )
    assert options.per_pod and options.shard is None
    assert build_whatap_sink(options).oname == expected


def test_a_static_shard_from_the_ordinal_names_the_oname() -> None:
    options = whatap_options(settings(1, oname=None, pod_name="openagent-2", shard_count=3))
    assert options.shard == 2 and not options.per_pod
    assert build_whatap_sink(options).oname == "openagent-2-2"
