"""Fleet -> agent (whatap sink) -> collector emulator, all in-process over loopback."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks.fleet import Fleet
from benchmarks.whatap_collector import FAKE_LICENSE, Collector, Record
from openagent import wiring
from openagent.agent import Agent
from openagent.config import load_config
from openagent.discovery import target_for_url
from openagent.scrape import scrape_once
from openagent.settings import Settings, load_settings
from openagent.sinks.whatap.license import parse_license
from openagent.sinks.whatap.sink import WhatapSink
from tests.support import eventually

KEYS = parse_license(FAKE_LICENSE)
PCODE_LABEL = ("pcode", str(KEYS.pcode))
INTERVAL = 1  # the smallest interval the config accepts

Key = tuple[str, tuple[tuple[str, str], ...]]


@pytest.fixture
async def fleet() -> AsyncIterator[Fleet]:
    # Values frozen for the test's lifetime: every scrape of a node serves the same body.
    async with Fleet(3, gpus=2, families=8, update_interval=3600) as f:
        yield f


def write_config(path: Path, fleet: Fleet) -> Path:
    endpoints = "".join(
        f"      - address: {n.host}:{n.port}\n        interval: {INTERVAL}s\n" for n in fleet.nodes
    )
    path.write_text(
        "features:\n  openAgent:\n    enabled: true\n    targets:\n"
        "    - targetName: fleet\n      type: StaticEndpoints\n      endpoints:\n" + endpoints
    )
    return path


def agent_settings(cfg: Path, port: int, **kw: Any) -> Settings:
    base: dict[str, Any] = {
        "config": str(cfg),
        "listen": "127.0.0.1:0",
        "sinks": ["whatap"],
        "license": FAKE_LICENSE,
        "host": "127.0.0.1",
        "port": port,
        "oname": "e2e-agent",
        "reload_interval": 0.2,
        "whatap_connect_timeout": "1s",
        "whatap_timeout": "10s",
    }
    return load_settings(**(base | kw))


class Running:
    def __init__(self, settings: Settings) -> None:
        self.agent = Agent(settings)
        self.task = asyncio.create_task(self.agent.run())

    @property
    def sink(self) -> WhatapSink:
        sink = self.agent.delivery.lanes[0].sink
        assert isinstance(sink, WhatapSink)
        return sink

    async def stop(self) -> None:
        self.agent.request_stop()
        assert await asyncio.wait_for(self.task, 20) == 0


Expected = dict[str, Counter[Key]]


async def expected_scrapes(
    fleet: Fleet, cfg: Path, settings: Settings
) -> tuple[Expected, dict[Key, float]]:
    """Per instance, the series ``openagent scrape`` reports for it as records carry them
    (plus the pcode label), and the values of all but the scrape_* report series."""
    series: Expected = {}
    values: dict[Key, float] = {}
    for node in fleet.nodes:
        target = target_for_url(node.url, load_config(cfg), "fleet")
        result = await scrape_once(target, wiring.scrape_options(settings))
        assert result.ok, result.error
        keys = [(s.name, (*s.labels, PCODE_LABEL)) for s in result.series]
        series[f"{node.host}:{node.port}"] = Counter(keys)
        for key, value in zip(keys, result.values, strict=True):
            if not key[0].startswith("scrape_"):
                values[key] = value
    return series, values


def by_scrape(records: list[Record]) -> dict[tuple[str, int], list[Record]]:
    groups: dict[tuple[str, int], list[Record]] = defaultdict(list)
    for r in records:
        groups[(dict(r.labels)["instance"], r.timestamp_ms)].append(r)
    return groups


def complete_scrapes(records: list[Record], expected: Expected) -> dict[str, int]:
    counts = dict.fromkeys(expected, 0)
    for (instance, _), group in by_scrape(records).items():
        if len(group) == sum(expected[instance].values()):
            counts[instance] += 1
    return counts


async def scraped_completely(
    records: list[Record],
    expected: Expected,
    *,
    times: int = 2,
    since: int = 0,
    within: float = 20.0,
) -> None:
    """Wait until every target's scrape arrived whole ``times`` times in ``records[since:]``
    (a collector's list, which grows as records arrive)."""
    await eventually(
        lambda: min(complete_scrapes(records[since:], expected).values()) >= times,
        within=within,
    )


def check_every_scrape(records: list[Record], expected: Expected) -> int:
    """Each scrape arrived whole, once; none is missing between the first and the last."""
    groups = by_scrape(records)
    for (instance, ts), group in groups.items():
        got = Counter((r.name, r.labels) for r in group)
        want = expected[instance]
        assert got == want, f"{instance} at {ts}: extra {got - want}, missing {want - got}"
    for instance in expected:
        stamps = sorted(ts for inst, ts in groups if inst == instance)
        assert len(stamps) >= 2
        gaps = [b - a for a, b in itertools.pairwise(stamps)]
        assert max(gaps) < INTERVAL * 1000 * 1.5, f"{instance}: a scrape is missing ({gaps})"
    return len(groups)


async def test_records_are_what_openagent_scrape_reports(tmp_path: Path, fleet: Fleet) -> None:
    cfg = write_config(tmp_path / "scrape_config.yaml", fleet)
    async with Collector(drain_timeout=5) as collector:
        settings = agent_settings(cfg, collector.port)
        expected, values = await expected_scrapes(fleet, cfg, settings)
        running = Running(settings)
        try:
            await scraped_completely(collector.records, expected)
        finally:
            await running.stop()
    assert check_every_scrape(collector.records, expected) >= 6
    for r in collector.records:
        if not r.name.startswith("scrape_"):
            assert r.value == values[(r.name, r.labels)], (r.name, r.labels)
    assert {r.value for r in collector.records if r.name == "up"} == {1.0}
    families = {name for c in expected.values() for name, _ in c if name.startswith("DCGM_")}
    assert families <= set(collector.help)  # HELP/TYPE of every family arrived
    assert all(r.header.oid == collector.sessions[0].oid for r in collector.records)
    assert collector.sessions[0].oname == "e2e-agent"
    assert collector.errors == []


async def test_collector_restart_mid_stream_loses_nothing(tmp_path: Path, fleet: Fleet) -> None:
    cfg = write_config(tmp_path / "scrape_config.yaml", fleet)
    async with Collector(drain_timeout=5) as collector:
        settings = agent_settings(cfg, collector.port)
        expected, _ = await expected_scrapes(fleet, cfg, settings)
        running = Running(settings)
        try:
            await scraped_completely(collector.records, expected)
            await collector.restart()
            after = len(collector.records)
            await scraped_completely(collector.records, expected, since=after)
        finally:
            await running.stop()
    scrapes = check_every_scrape(collector.records, expected)
    assert len(collector.records) == scrapes * sum(expected[next(iter(expected))].values())
    assert [s.accepted for s in collector.sessions] == [True, True]
    assert collector.errors == []


async def test_wrong_license_is_reported_while_scraping_goes_on(
    tmp_path: Path, fleet: Fleet
) -> None:
    cfg = write_config(tmp_path / "scrape_config.yaml", fleet)
    async with Collector(licenses=(), projects={KEYS.pcode + 1: b"someone else"}) as collector:
        running = Running(agent_settings(cfg, collector.port))
        try:
            await eventually(lambda: len(collector.sessions) >= 2, within=10)
            scraped = fleet.total_scrapes()
            await eventually(lambda: fleet.total_scrapes() >= scraped + 2 * len(fleet.nodes))
            session = running.sink.session
            assert not session.connected
            assert session.last_error is not None and "rejected the license" in session.last_error
            assert all(s.rejected == f"unknown pcode {KEYS.pcode}" for s in collector.sessions)
            assert collector.received.record_count == 0
            collector.projects[KEYS.pcode] = KEYS.security_key  # now the collector knows it
            await collector.wait_for_records(1, within=40)
        finally:
            await running.stop()
    assert any(s.accepted for s in collector.sessions)


async def test_a_fresh_start_sends_each_familys_help_once(tmp_path: Path) -> None:
    async with Fleet(1, gpus=2, families=8, update_interval=3600) as one:
        cfg = write_config(tmp_path / "scrape_config.yaml", one)
        async with Collector(drain_timeout=5) as collector:
            settings = agent_settings(cfg, collector.port)
            expected, _ = await expected_scrapes(one, cfg, settings)
            running = Running(settings)
            try:
                await scraped_completely(collector.records, expected, times=3)
            finally:
                await running.stop()
    [session] = collector.sessions
    kinds = [kind for _, kind in session.frames if kind != "time_sync"]
    assert kinds.count("OpenMxHelpPack") == 1 and kinds[0] == "OpenMxHelpPack"
    sent = Counter(name for _, name, _ in collector.received.help_log)
    families = {name for c in expected.values() for name, _ in c if name.startswith("DCGM_")}
    assert families <= set(sent)
    assert set(sent.values()) == {1}, sent  # not once more for the new target's own help
