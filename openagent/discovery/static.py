"""StaticEndpoints targets: addresses straight from the config."""

from __future__ import annotations

from typing import TYPE_CHECKING

from openagent.discovery.candidates import Dropped, make_target, meta_labels
from openagent.model import Target

if TYPE_CHECKING:
    from openagent.config import ScrapeConfig


def static_targets(config: ScrapeConfig) -> tuple[list[Target], list[Dropped]]:
    """Targets of every enabled StaticEndpoints entry, and the candidates dropped.

    Unlike the Go agent, target-level ``relabelConfigs`` apply here too.
    """
    targets: list[Target] = []
    dropped: list[Dropped] = []
    if not config.enabled:
        return targets, dropped
    for ti, tc in enumerate(config.targets):
        if not tc.enabled or tc.type != "StaticEndpoints":
            continue
        for ei, ep in enumerate(tc.endpoints):
            source = f"targets[{ti}].endpoints[{ei}] ({tc.target_name})"
            if not ep.address:
                dropped.append(Dropped(source, "no address"))
                continue
            built = make_target(
                meta_labels(tc.target_name, ep.address, ep),
                ep,
                relabel=(*tc.relabel_configs, *ep.relabel_configs),
                metric_relabel=(*tc.metric_relabel_configs, *ep.metric_relabel_configs),
                source=source,
            )
            if isinstance(built, Target):
                targets.append(built)
            else:
                dropped.append(built)
    return targets, dropped
