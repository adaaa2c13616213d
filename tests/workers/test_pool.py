"""The agent's side of its workers without processes: shares, rows, metrics and Secrets."""

from __future__ import annotations

import asyncio
import pickle
import socket
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge

import openagent.agent  # the metrics of every room register on import
import openagent.sinks.whatap.sink  # noqa: F401
from openagent.config.models import SecretRef
from openagent.httpauth import NoSecrets, SecretError
from openagent.model import Target
from openagent.telemetry import REGISTRY
from openagent.workers import AgentSecrets, WorkerOptions, WorkerPool
from openagent.workers.metrics import agent_families, exposition, merge
from openagent.workers.process import difference
from openagent.workers.wire import Link
from tests.scrape.test_loop import make_target

TARGETS = [make_target(port) for port in range(20000, 20040)]


def test_an_update_carries_only_what_changed() -> None:
    sent = {t.id: t for t in TARGETS[:3]}
    moved = make_target(20001, timeout="500ms")
    assert moved.id == TARGETS[1].id and moved != TARGETS[1]
    share = {TARGETS[0].id: TARGETS[0], moved.id: moved, TARGETS[3].id: TARGETS[3]}
    changed, removed = difference(sent, share)
    assert changed == [moved, TARGETS[3]]
    assert removed == [TARGETS[2].id]
    assert difference(share, dict(share)) == ([], [])


async def test_every_target_is_listed_once_with_its_worker_while_workers_are_down() -> None:
    pool = WorkerPool(WorkerOptions(3, ("false",)), NoSecrets())
    await pool.apply(TARGETS)
    rows = await pool.rows()
    assert sorted(t.id for t, _, _ in rows) == sorted(t.id for t in TARGETS)
    assert {w for _, _, w in rows} == {0, 1, 2}
    assert all(s.health == "unknown" and s.last_error for _, s, _ in rows)
    assert pool.ready() == (False, "not ready: worker 0, 1, 2 not running")
    again = WorkerPool(WorkerOptions(3, ("false",)), NoSecrets())
    await again.apply(list(reversed(TARGETS)))
    assert {t.id: w for t, _, w in await again.rows()} == {t.id: w for t, _, w in rows}


def test_metrics_hold_each_family_once_with_the_worker_label() -> None:
    def registry(value: float) -> CollectorRegistry:
        r = CollectorRegistry()
        Counter("scrapes", "Scrapes.", ["job"], registry=r).labels("a").inc(value)
        Gauge("lag", "Lag.", registry=r).set(value)
        return r

    own = [m for m in registry(1).collect() if m.name == "lag"]
    workers = [(0, list(registry(2).collect())), (1, list(registry(3).collect()))]
    text = exposition(merge(own, workers)).decode()
    assert text.count("# TYPE scrapes_total counter") == 1
    assert text.count("# TYPE lag gauge") == 1
    assert 'scrapes_total{job="a",worker="0"} 2.0' in text
    assert 'scrapes_total{job="a",worker="1"} 3.0' in text
    assert "\nlag 1.0" in text and 'lag{worker="1"} 3.0' in text


async def test_a_worker_reads_secrets_through_the_agent() -> None:
    values = {"good": b"s3cret"}

    async def agent(what: str, arg: Any) -> object:
        assert what == "secret"
        if arg.name not in values:
            raise SecretError(f"Secret {arg.name} key {arg.key!r}: the Secret does not exist")
        return values[arg.name]

    async def unused(what: str, arg: Any) -> object:
        raise AssertionError(what)

    a, b = socket.socketpair()
    agent_end = Link(*await asyncio.open_unix_connection(sock=a), agent)
    worker_end = Link(*await asyncio.open_unix_connection(sock=b), unused)
    tasks = [asyncio.create_task(agent_end.run()), asyncio.create_task(worker_end.run())]
    secrets = AgentSecrets(worker_end)
    assert await secrets.get(SecretRef(name="good", key="password")) == b"s3cret"
    with pytest.raises(SecretError, match="Secret missing key 'password': the Secret does not"):
        await secrets.get(SecretRef(name="missing", key="password"))
    await agent_end.aclose()
    with pytest.raises(SecretError, match="the agent process did not answer"):
        await secrets.get(SecretRef(name="good", key="password"))
    await worker_end.aclose()
    await asyncio.gather(*tasks)


def test_targets_are_values_that_travel() -> None:
    t = TARGETS[0]
    back: Target = pickle.loads(pickle.dumps(t))
    assert back == t and back.id == t.id and back.endpoint == t.endpoint


def test_the_agent_reports_only_what_it_fills_itself() -> None:
    names = {m.name for m in agent_families(REGISTRY)}
    assert names == {
        "openagent_build",
        "openagent_config_last_reload_successful",
        "openagent_config_last_reload_success_timestamp_seconds",
        "openagent_config_reloads",
        "openagent_discovery_informer_events",
        "openagent_discovery_informer_relists",
        "openagent_discovery_informer_errors",
        "openagent_discovery_informer_watch_restarts",
        "openagent_discovery_informer_up",
        "openagent_discovery_informer_objects",
        "openagent_discovery_informers",
        "openagent_event_loop_lag_seconds",
        "openagent_event_loop_lag_distribution_seconds",
        "openagent_shard_members",
        "openagent_shard_targets",
        "openagent_shard_handovers",
        "openagent_worker_restarts",
        "openagent_worker_up",
    }
