"""Each target once: duplicates are dropped with reason ``duplicate``, recorded once."""

from __future__ import annotations

from openagent.discovery import Discovery, unique_targets
from openagent.discovery.static import static_targets
from openagent.model import Target

from .targets_support import config_of


def test_later_copies_are_dropped_naming_the_first() -> None:
    cfg = config_of(
        "- targetName: dcgm\n  type: StaticEndpoints\n"
        "  endpoints: [{address: '127.0.0.1:9400'}, {address: '127.0.0.1:9400'}]\n"
    )
    (first, second), _ = static_targets(cfg)
    assert first.id == second.id and first.source != second.source
    kept, dropped = unique_targets([[first], [second]])
    assert kept == [first]
    assert [(d.source, d.reason) for d in dropped] == [
        (f"{second.source} (same target as {first.source})", "duplicate")
    ]


async def test_discovery_reports_a_duplicate_once_however_often_it_publishes() -> None:
    published: list[list[Target]] = []

    async def record(targets: list[Target]) -> None:
        published.append(targets)

    cfg = config_of(
        "- targetName: dcgm\n  type: StaticEndpoints\n"
        "  endpoints: [{address: '127.0.0.1:9400'}, {address: '127.0.0.1:9400'}]\n"
    )
    discovery = Discovery(record)
    await discovery.apply_config(cfg)
    await discovery.publish()
    discovery.targets()
    assert [len(p) for p in published] == [1, 1]
    duplicates = [d for d in discovery.status()["dropped"] if d["reason"] == "duplicate"]
    assert duplicates == [
        {
            "source": "targets[0].endpoints[1] (dcgm) "
            "(same target as targets[0].endpoints[0] (dcgm))",
            "reason": "duplicate",
        }
    ]
    await discovery.close()
