"""What the CLI commands do (the CLI itself only parses arguments)."""

from __future__ import annotations

import asyncio
import dataclasses
import math
import sys
from collections.abc import Coroutine
from typing import Any
from urllib.parse import urlsplit

import yaml

from openagent.config import ConfigError, EndpointConfig, LoadedConfig, load_config, parse_config
from openagent.discovery.build import Dropped, make_target, meta_labels
from openagent.discovery.static import static_targets
from openagent.discovery.target import Target
from openagent.exposition import Limits
from openagent.model import ScrapeResult
from openagent.settings import Settings, SettingsError, load_settings


def _print_problems(error: ConfigError) -> None:
    for p in error.problems:
        print(str(p), file=sys.stderr)


def check(path: str) -> int:
    """Validate ``path``: print every problem; 0 if valid, 2 if not."""
    try:
        loaded = load_config(path)
    except ConfigError as exc:
        _print_problems(exc)
        errors = sum(1 for p in exc.problems if p.severity == "error")
        print(f"{path}: invalid ({errors} error(s))", file=sys.stderr)
        return 2
    for w in loaded.warnings:
        print(str(w), file=sys.stderr)
    cfg = loaded.config
    enabled = sum(1 for t in cfg.targets if t.enabled)
    print(f"{path}: OK, {enabled} enabled target(s), {len(loaded.warnings)} warning(s)")
    return 0


def targets(path: str) -> int:
    """Print the targets a config yields (static targets; others need Kubernetes)."""
    try:
        loaded = load_config(path)
    except ConfigError as exc:
        _print_problems(exc)
        return 2
    found, dropped = static_targets(loaded.config)
    for t in found:
        labels = ",".join(f'{k}="{v}"' for k, v in t.labels)
        print(f"{t.url}\t{{{labels}}}\t{t.source}")
    for d in dropped:
        print(f"dropped\t{d.source}: {d.reason}")
    for i, tc in enumerate(loaded.config.targets):
        if tc.enabled and tc.type != "StaticEndpoints":
            print(f"skipped\ttargets[{i}] ({tc.target_name}): {tc.type} needs Kubernetes discovery")
    return 0


def _ad_hoc_config(url: str) -> LoadedConfig:
    parts = urlsplit(url)
    doc = {
        "features": {
            "openAgent": {
                "enabled": True,
                "targets": [
                    {
                        "targetName": "scrape",
                        "type": "StaticEndpoints",
                        "endpoints": [
                            {
                                "address": parts.netloc,
                                "scheme": parts.scheme or "http",
                                "path": parts.path or "/metrics",
                            }
                        ],
                    }
                ],
            }
        }
    }
    return parse_config(yaml.safe_dump(doc), source="<command line>")


def one_shot_target(url: str, config_path: str | None, target_name: str | None) -> Target:
    """The target ``openagent scrape`` uses: the URL, with a config target's settings and rules."""
    loaded = load_config(config_path) if config_path else _ad_hoc_config(url)
    tcs = loaded.config.targets
    if config_path:
        if target_name is None:
            if len(tcs) != 1:
                names = ", ".join(t.target_name for t in tcs)
                raise SystemExit(f"--target is needed: {config_path} has targets {names}")
            target_name = tcs[0].target_name
        matches = [t for t in tcs if t.target_name == target_name]
        if not matches:
            raise SystemExit(f"no target named {target_name!r} in {config_path}")
        tcs = tuple(matches)
    tc = tcs[0]
    address = urlsplit(url).netloc
    endpoint: EndpointConfig = next(
        (ep for ep in tc.endpoints if ep.address == address), tc.endpoints[0]
    )
    built = make_target(
        meta_labels(tc.target_name, address, endpoint),
        endpoint,
        relabel=(*tc.relabel_configs, *endpoint.relabel_configs),
        metric_relabel=(*tc.metric_relabel_configs, *endpoint.metric_relabel_configs),
        source="command line",
    )
    if isinstance(built, Dropped):
        raise SystemExit(f"{url}: {built.reason}")
    return dataclasses.replace(built, url=url)


def default_limits(settings: Settings) -> Limits:
    """Process-wide scrape limits from the settings."""
    return Limits(
        sample_limit=settings.sample_limit,
        label_limit=settings.label_limit,
        label_name_length_limit=settings.label_name_length_limit,
        label_value_length_limit=settings.label_value_length_limit,
    )


async def scrape_once(target: Target, settings: Settings) -> ScrapeResult:
    """Scrape ``target`` once exactly as the running agent would."""
    from openagent import __version__
    from openagent.scrape.http import ScrapeClient
    from openagent.scrape.loop import ScrapeLoop

    client = ScrapeClient(
        default_body_limit=settings.body_size_limit, user_agent=f"openagent/{__version__}"
    )
    try:
        loop = ScrapeLoop(target, client, lambda _: None, default_limits=default_limits(settings))
        return await loop.scrape_once()
    finally:
        await client.close()


def _format_table(result: ScrapeResult) -> str:
    rows = []
    for i, (s, v) in enumerate(zip(result.series, result.values, strict=True)):
        labels = ",".join(f'{k}="{val}"' for k, val in s.labels)
        value = repr(v) if math.isfinite(v) else str(v)
        rows.append(f"{s.name}{{{labels}}}\t{value}\t{result.timestamp_of(i)}")
    return "\n".join(rows) + ("\n" if rows else "")


async def scrape(url: str, fmt: str, config_path: str | None, target_name: str | None) -> int:
    """``openagent scrape``: print what the agent would send; 1 if the scrape failed."""
    from openagent.sinks.jsonl import encode_result

    try:
        target = one_shot_target(url, config_path, target_name)
    except ConfigError as exc:
        _print_problems(exc)
        return 2
    result = await scrape_once(target, load_settings())
    if fmt == "table":
        sys.stdout.write(_format_table(result))
    else:
        sys.stdout.buffer.write(encode_result(result))
    sys.stdout.flush()
    if result.error:
        print(f"scrape failed: {result.error}", file=sys.stderr)
        return 1
    return 0


def run_coroutine(coro: Coroutine[Any, Any, int]) -> int:
    """Run ``coro`` on uvloop when it is installed, else on the default loop."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


def run(**overrides: Any) -> int:
    """``openagent run``."""
    from openagent.agent import Agent
    from openagent.telemetry import setup_logging

    try:
        settings = load_settings(**overrides)
    except SettingsError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    setup_logging(settings.log_level, settings.log_format)
    try:
        agent = Agent(settings)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return run_coroutine(agent.run())
