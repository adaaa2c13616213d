"""StaticEndpoints targets: addresses straight from the config; and the target of one URL."""

from __future__ import annotations

import dataclasses
from urllib.parse import urlsplit

import yaml

from openagent.config import LoadedConfig, ScrapeConfig, parse_config
from openagent.discovery.candidates import Dropped, make_target, meta_labels
from openagent.model import Target


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


def target_for_url(url: str, loaded: LoadedConfig | None, target_name: str | None) -> Target:
    """The target ``openagent scrape URL`` scrapes: the URL, with the settings and rules of
    target ``target_name`` of ``loaded`` (its only target when there is one), or of a plain
    StaticEndpoints target when no config is given.

    Raises ValueError naming the problem (which target, or why the URL yields none).
    """
    if loaded is None:
        loaded = _ad_hoc_config(url)
        target_name = None
    tcs = loaded.config.targets
    if target_name is None and len(tcs) != 1:
        names = ", ".join(t.target_name for t in tcs) or "none"
        raise ValueError(f"name the target to use with --target; the config has: {names}")
    matches = [t for t in tcs if target_name in (None, t.target_name)]
    if not matches:
        raise ValueError(f"no target named {target_name!r} in the config")
    tc = matches[0]
    if not tc.endpoints:
        raise ValueError(f"target {tc.target_name!r} has no endpoints")
    address = urlsplit(url).netloc
    endpoint = next((ep for ep in tc.endpoints if ep.address == address), tc.endpoints[0])
    built = make_target(
        meta_labels(tc.target_name, address, endpoint),
        endpoint,
        relabel=(*tc.relabel_configs, *endpoint.relabel_configs),
        metric_relabel=(*tc.metric_relabel_configs, *endpoint.metric_relabel_configs),
        source="command line",
    )
    if isinstance(built, Dropped):
        raise ValueError(f"{url}: {built.reason}")
    return dataclasses.replace(built, url=url)


def _ad_hoc_config(url: str) -> LoadedConfig:
    parts = urlsplit(url)
    endpoint = {
        "address": parts.netloc,
        "scheme": parts.scheme or "http",
        "path": parts.path or "/metrics",
    }
    target = {"targetName": "scrape", "type": "StaticEndpoints", "endpoints": [endpoint]}
    doc = {"features": {"openAgent": {"enabled": True, "targets": [target]}}}
    return parse_config(yaml.safe_dump(doc), source="<command line>")
