"""Discovery once: the targets a config yields now, and why each other candidate was not one.

`snapshot` is discovery's one-shot entry point (``openagent targets``). It
builds the static targets, and the Kubernetes ones from informers it starts
on the given cluster, waits up to ``wait`` seconds for them to sync, builds
once, and stops them. The result says what the running agent would scrape
and what it would show on ``/discovery``.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field

from openagent.config import ScrapeConfig
from openagent.discovery.candidates import Dropped
from openagent.discovery.monitors import KubeTargets, needs_kubernetes
from openagent.discovery.static import static_targets
from openagent.discovery.unique import unique_targets
from openagent.kube import Cluster
from openagent.model import Target


@dataclass
class Snapshot:
    """What one look at a config found.

    ``no_cluster`` is why Kubernetes targets could not be looked for at all
    (then ``skipped`` names each of them); ``empty`` names the Kubernetes
    targets that matched nothing, ``failed`` what the informers reported
    instead of syncing, ``unanswered`` the informers silent past ``wait``.
    """

    targets: list[Target] = field(default_factory=list)
    dropped: list[Dropped] = field(default_factory=list)
    no_cluster: str | None = None
    skipped: list[str] = field(default_factory=list)
    empty: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    unanswered: list[str] = field(default_factory=list)


async def snapshot(
    config: ScrapeConfig,
    cluster: Cluster | None,
    *,
    node: str | None = None,
    wait: float = 10.0,
) -> Snapshot:
    """Look at ``config`` once (see the module docs); ``node``: node-local mode."""
    static, dropped = static_targets(config)
    out = Snapshot(dropped=dropped)
    kube_found: list[Target] = []
    if needs_kubernetes(config):
        await _kubernetes(KubeTargets(config, node), cluster, wait, out, kube_found)
    out.targets, duplicates = unique_targets([static, kube_found])
    out.dropped.extend(duplicates)
    return out


async def _kubernetes(
    kube: KubeTargets, cluster: Cluster | None, wait: float, out: Snapshot, found: list[Target]
) -> None:
    try:
        if cluster is None:
            raise RuntimeError("no Kubernetes cluster is configured")
        pool = await cluster.pool()
    except Exception as exc:
        out.no_cluster = str(exc)
        out.skipped = [
            f"{p.where}: {p.target.type} needs Kubernetes discovery: {exc}" for p in kube.plans
        ]
        return
    informers = {key: pool.acquire(key) for key in kube.keys}
    try:
        for _ in range(max(1, math.ceil(wait / 0.05))):
            if all(i.synced.is_set() or i.error for i in informers.values()):
                break
            await asyncio.sleep(0.05)
        outcome = kube.build(informers)
    finally:
        for key in informers:
            pool.release(key)
    for targets in outcome.by_target.values():
        found.extend(targets or ())
    out.dropped.extend(outcome.dropped)
    for plan in kube.plans:
        prefixes = (f"targets[{plan.index}].", f"targets[{plan.index}] ")
        if outcome.by_target.get(plan.index) == [] and not any(
            d.source.startswith(prefixes) for d in outcome.dropped
        ):
            out.empty.append(f"{plan.where}: {plan.describe()}")
    out.failed = outcome.waiting
    out.unanswered = [str(k) for k, i in informers.items() if not i.synced.is_set() and not i.error]
