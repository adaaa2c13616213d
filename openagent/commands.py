"""What the CLI commands do (the CLI itself only parses arguments)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
import sys
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from openagent.config import (
    ConfigError,
    EndpointConfig,
    LoadedConfig,
    ScrapeConfig,
    load_config,
    parse_config,
)
from openagent.discovery import needs_kubernetes
from openagent.discovery.candidates import Dropped, make_target, meta_labels
from openagent.discovery.static import static_targets
from openagent.model import ScrapeResult, Target
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


def _print_target(t: Target) -> None:
    labels = ",".join(f'{k}="{v}"' for k, v in t.labels)
    print(f"{t.url}\t{{{labels}}}\t{t.source}")


def targets(path: str, kubeconfig: str | None = None, timeout: float = 10.0) -> int:
    """Print the targets a config yields, and why each dropped candidate was dropped.

    PodMonitor and ServiceMonitor targets are listed from the cluster (through
    ``kubeconfig``, else in-cluster, ``$KUBECONFIG`` or ``~/.kube/config``).
    Exit 0 when everything was listed (or no cluster is configured at all and
    ``kubeconfig`` was not given), 1 when the cluster could not be read, 2
    for a bad config or kubeconfig.
    """
    try:
        loaded = load_config(path)
    except ConfigError as exc:
        _print_problems(exc)
        return 2
    found, dropped = static_targets(loaded.config)
    for t in found:
        _print_target(t)
    for d in dropped:
        print(f"dropped\t{d.source}: {d.reason}")
    if not needs_kubernetes(loaded.config):
        return 0
    with _warnings_to_stderr():  # stdout is the listing
        return run_coroutine(_kube_targets(loaded.config, kubeconfig, timeout))


@contextlib.contextmanager
def _warnings_to_stderr() -> Iterator[None]:
    """Send log warnings (informer retries) to stderr for a while, then restore logging."""
    import logging

    import structlog

    saved = structlog.get_config()
    structlog.configure(
        processors=[structlog.processors.add_log_level, structlog.dev.ConsoleRenderer()],
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    try:
        yield
    finally:
        structlog.configure(**saved)


async def _kube_targets(config: ScrapeConfig, kubeconfig: str | None, wait: float) -> int:
    """List the Kubernetes targets once: start informers, wait for them, print, stop."""
    from openagent.discovery.monitors import KubeTargets
    from openagent.kube import InformerPool, KubeConfigError, connect

    kube = KubeTargets(config)
    try:
        client = await connect(Path(kubeconfig) if kubeconfig else None)
    except KubeConfigError as exc:
        for plan in kube.plans:
            print(f"skipped\t{plan.where}: {plan.target.type} needs Kubernetes discovery: {exc}")
        return 2 if kubeconfig else 0
    pool = InformerPool(client)
    try:
        informers = {key: pool.acquire(key) for key in kube.keys}
        for _ in range(max(1, math.ceil(wait / 0.05))):
            if all(i.synced.is_set() or i.error for i in informers.values()):
                break
            await asyncio.sleep(0.05)
        outcome = kube.build(informers)
    finally:
        await pool.close()
        await client.close()
    for targets_found in outcome.by_target.values():
        for t in targets_found or ():
            _print_target(t)
    for d in outcome.dropped:
        print(f"dropped\t{d.source}: {d.reason}")
    for plan in kube.plans:
        prefixes = (f"targets[{plan.index}].", f"targets[{plan.index}] ")
        if outcome.by_target.get(plan.index) == [] and not any(
            d.source.startswith(prefixes) for d in outcome.dropped
        ):
            print(f"empty\t{plan.where}: {plan.describe()}")
    for line in outcome.waiting:
        print(f"failed\t{line}")
    unsynced = [k for k, i in informers.items() if not i.synced.is_set() and not i.error]
    for key in unsynced:
        print(f"timeout: no answer for {key} within {wait:g} s", file=sys.stderr)
    return 1 if outcome.waiting else 0


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


async def scrape_once(target: Target, settings: Settings) -> ScrapeResult:
    """Scrape ``target`` once exactly as the running agent would."""
    from openagent import __version__
    from openagent.agent import scrape_limits
    from openagent.scrape.http import ScrapeClient
    from openagent.scrape.loop import ScrapeLoop

    client = ScrapeClient(
        default_body_limit=settings.body_size_limit, user_agent=f"openagent/{__version__}"
    )
    try:
        loop = ScrapeLoop(target, client, lambda _: None, default_limits=scrape_limits(settings))
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
