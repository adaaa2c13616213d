"""Fleet -> agent -> collector emulators that freeze, die or never answer: nothing handed to
the whatap sink is lost, and what arrives twice is counted."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from benchmarks.fleet import Fleet
from benchmarks.whatap_collector import Collector, Record
from openagent.telemetry import REGISTRY
from tests.sinks.whatap.test_e2e import (
    Expected,
    Running,
    agent_settings,
    check_every_scrape,
    expected_scrapes,
    scraped_completely,
    write_config,
)
from tests.support import eventually


@pytest.fixture
async def fleet() -> AsyncIterator[Fleet]:
    async with Fleet(3, gpus=2, families=8, update_interval=3600) as f:
        yield f


def _value(name: str) -> float:
    return REGISTRY.get_sample_value(name, {"sink": "whatap"}) or 0.0


def ledger() -> dict[str, float]:
    """The whatap lane's delivery counters (process-wide: compare before and after)."""
    out = {
        "handed": _value("openagent_delivery_samples_handed_total"),
        "sent": _value("openagent_delivery_samples_sent_total"),
        "replayed": _value("openagent_delivery_replayed_samples_total"),
    }
    out["dropped"] = sum(
        s.value
        for m in REGISTRY.collect()
        if m.name == "openagent_delivery_samples_dropped"
        for s in m.samples
        if s.name.endswith("_total") and s.labels.get("sink") == "whatap"
    )
    return out


def key(r: Record) -> tuple[str, tuple[tuple[str, str], ...], int]:
    return (r.name, r.labels, r.timestamp_ms)


def check_delivery(records: Iterable[Record], before: dict[str, float], expected: Expected) -> None:
    """Every sample handed arrived; every scrape whole; duplicates at most those counted."""
    after = ledger()
    handed = after["handed"] - before["handed"]
    arrived = Counter(key(r) for r in records)
    once = {key(r): r for r in records}
    assert after["dropped"] == before["dropped"]
    assert after["sent"] - before["sent"] == handed
    assert len(arrived) == handed  # every handed sample reached a collector
    check_every_scrape(list(once.values()), expected)  # no scrape missing, none partial
    twice = sum(n - 1 for n in arrived.values())
    assert twice <= after["replayed"] - before["replayed"]


async def scrapes(fleet: Fleet, cycles: int) -> None:
    """Wait until every node was scraped ``cycles`` more times (the test's clock)."""
    target = fleet.total_scrapes() + cycles * len(fleet.nodes)
    await eventually(lambda: fleet.total_scrapes() >= target, within=30)


async def test_a_frozen_then_dead_collector_loses_nothing(tmp_path: Path, fleet: Fleet) -> None:
    cfg = write_config(tmp_path / "scrape_config.yaml", fleet)
    async with (
        Collector(drain_timeout=5) as a,
        Collector(host="127.0.0.2", port=a.port, drain_timeout=5) as b,
    ):
        settings = agent_settings(
            cfg, a.port, host="127.0.0.1/127.0.0.2", whatap_confirm_timeout="1s"
        )
        expected, _ = await expected_scrapes(fleet, cfg, settings)
        before = ledger()
        running = Running(settings)
        try:
            await scraped_completely(a.records, expected)
            a.freeze()
            await scrapes(fleet, 4)
            await a.die()
            seen = len(b.records)
            await scraped_completely(b.records, expected, since=seen, within=30)
        finally:
            await running.stop()
        check_delivery([*a.records, *b.records], before, expected)
        assert b.records  # B took over
        assert a.errors == b.errors == []


async def test_a_frozen_then_resumed_collector_loses_nothing(tmp_path: Path, fleet: Fleet) -> None:
    cfg = write_config(tmp_path / "scrape_config.yaml", fleet)
    async with Collector(drain_timeout=5) as a:
        settings = agent_settings(cfg, a.port, whatap_confirm_timeout="1s")
        expected, _ = await expected_scrapes(fleet, cfg, settings)
        before = ledger()
        running = Running(settings)
        try:
            await scraped_completely(a.records, expected)
            a.freeze()
            await scrapes(fleet, 4)
            a.resume()
            seen = len(a.records)
            await scraped_completely(a.records, expected, since=seen, within=40)
        finally:
            await running.stop()
        check_delivery(a.records, before, expected)
        assert a.errors == []


async def test_a_collector_that_never_answers_still_gets_everything(
    tmp_path: Path, fleet: Fleet
) -> None:
    cfg = write_config(tmp_path / "scrape_config.yaml", fleet)
    async with Collector(drain_timeout=5) as a:
        a.faults.mute = True
        settings = agent_settings(cfg, a.port, whatap_confirm_timeout="0.5s")
        expected, _ = await expected_scrapes(fleet, cfg, settings)
        before = ledger()
        with capture_logs() as logs:
            running = Running(settings)
            try:
                await scraped_completely(a.records, expected, times=3, within=30)
            finally:
                await running.stop()
        check_delivery(a.records, before, expected)
    said = [x for x in logs if "does not answer delivery barriers" in x["event"]]
    assert len(said) == 1 and said[0]["log_level"] == "warning"
