"""Reconciling targets: start, keep undisturbed, restart with carried state, stop with staleness."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from openagent.exposition import Limits
from openagent.model import ScrapeResult
from openagent.scrape import ScrapeManager, ScrapeOptions
from openagent.scrape.loop import ScrapeLoop
from tests.scrape.test_loop import BODY, make_target
from tests.support import Exporter, eventually

LIMITS = Limits(sample_limit=1000)


@pytest.fixture
async def manager() -> AsyncIterator[tuple[ScrapeManager, list[ScrapeResult]]]:
    emitted: list[ScrapeResult] = []
    options = ScrapeOptions(limits=LIMITS, body_size_limit=1 << 20, user_agent="openagent-test")
    m = ScrapeManager(emitted.append, options)
    yield m, emitted
    await m.stop()


async def test_unchanged_target_keeps_running(
    exporter: Exporter, manager: tuple[ScrapeManager, list[ScrapeResult]]
) -> None:
    m, emitted = manager
    exporter.body = BODY
    t = make_target(exporter.port)
    await m.apply([t])
    loop = m.loops[t.id]
    await eventually(lambda: len(emitted) >= 1)
    await m.apply([make_target(exporter.port)])  # an equal target found again
    assert m.loops[t.id] is loop


async def test_removed_target_gets_stale_markers(
    exporter: Exporter, manager: tuple[ScrapeManager, list[ScrapeResult]]
) -> None:
    m, emitted = manager
    exporter.body = BODY
    t = make_target(exporter.port)
    await m.apply([t])
    await eventually(lambda: len(emitted) >= 1)
    await m.apply([])
    assert not m.loops
    final = emitted[-1]
    assert final.final and final.target_id == t.id
    assert {s.name for s in final.stale} >= {"a_metric", "b_metric", "up"}


async def test_changed_settings_restart_without_stale_markers(
    exporter: Exporter, manager: tuple[ScrapeManager, list[ScrapeResult]]
) -> None:
    m, emitted = manager
    exporter.body = BODY
    t = make_target(exporter.port)
    await m.apply([t])
    await eventually(lambda: len(emitted) >= 1)
    first = emitted[0]
    changed = make_target(exporter.port, timeout="500ms")
    assert changed.id == t.id and changed != t
    before = len(emitted)
    await m.apply([changed])
    assert m.loops[t.id].target == changed
    assert not any(r.final for r in emitted[before:])
    await eventually(lambda: len(emitted) > before)
    later = emitted[-1]
    assert later.series[0] is first.series[0]  # the series registry was carried over
    assert later.stale == []


async def test_a_handed_over_target_stops_without_stale_markers_and_a_removed_one_with(
    exporter: Exporter, manager: tuple[ScrapeManager, list[ScrapeResult]]
) -> None:
    m, emitted = manager
    exporter.body = BODY
    moving = make_target(exporter.port)
    going = make_target(exporter.port, "      relabelConfigs: [{targetLabel: pod, replacement: b}]")
    await m.apply([moving, going])
    await eventually(lambda: {r.target_id for r in emitted} == {moving.id, going.id})
    before = len(emitted)
    await m.apply([], handed_over={moving.id})
    assert not m.loops
    finals = [r for r in emitted[before:] if r.final]
    assert [r.target_id for r in finals] == [going.id]
    assert {s.name for s in finals[0].stale} >= {"a_metric", "up"}


async def test_a_replaced_target_is_stopped_before_its_replacement_starts(
    exporter: Exporter,
    manager: tuple[ScrapeManager, list[ScrapeResult]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    m, emitted = manager
    exporter.body = BODY
    events: list[tuple[str, str]] = []
    real_start, real_stop = ScrapeLoop.start, ScrapeLoop.stop

    def start(loop: ScrapeLoop) -> None:
        events.append(("start", loop.target.id))
        real_start(loop)

    async def stop(loop: ScrapeLoop, *, stale_markers: bool) -> None:
        await real_stop(loop, stale_markers=stale_markers)
        events.append(("stopped", loop.target.id))

    monkeypatch.setattr(ScrapeLoop, "start", start)
    monkeypatch.setattr(ScrapeLoop, "stop", stop)
    old = make_target(exporter.port)
    await m.apply([old])
    await eventually(lambda: len(emitted) >= 1)
    # The same exporter found with other labels (a new pod name, say) is a new target.
    new = make_target(exporter.port, "      relabelConfigs: [{targetLabel: pod, replacement: b}]")
    assert new.id != old.id and new.url == old.url
    await m.apply([new])
    assert events == [("start", old.id), ("stopped", old.id), ("start", new.id)]
    assert emitted[-1].final and emitted[-1].target_id == old.id
