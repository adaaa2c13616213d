"""What the CLI commands do: each reads its input, calls one room's entry point, prints.

``check`` validates a config; ``targets`` lists what discovery finds
(`openagent.discovery.snapshot`); ``scrape`` scrapes one URL as the agent
would (`openagent.scrape.scrape_once`); ``rbac`` prints the Role that lets the
agent read the Secrets a config references. ``run`` is `openagent.agent`'s.
The coroutines run on the CLI's one runner.
"""

from __future__ import annotations

import contextlib
import math
import sys
from collections.abc import Iterator
from pathlib import Path

import yaml

from openagent import wiring
from openagent.config import (
    ConfigError,
    ConfigLimits,
    LoadedConfig,
    Problem,
    load_config,
    secret_references,
)
from openagent.config.limits import DEFAULT_LIMITS
from openagent.discovery import snapshot, target_for_url
from openagent.kube import Cluster, KubeOptions
from openagent.kube.cluster import cluster_problem
from openagent.kube.rbac import secret_reader_rbac
from openagent.model import NativeHistogram, ScrapeResult, Target
from openagent.scrape import scrape_once
from openagent.settings import SettingsError, load_settings


def _print_problems(error: ConfigError) -> None:
    for p in error.problems:
        print(str(p), file=sys.stderr)


def _secret_warnings(loaded: LoadedConfig, path: str, kubeconfig: str | None) -> list[Problem]:
    """A warning per Secret reference when no cluster is there to resolve it."""
    uses = secret_references(loaded.config)
    why = cluster_problem(Path(kubeconfig) if kubeconfig else None) if uses else None
    if why is None:
        return []
    return [
        Problem(
            path,
            use.path,
            f"references {use.describe('<agent namespace>')}, which cannot be resolved "
            f"without a Kubernetes cluster ({why}); this endpoint's scrapes will fail",
            "warning",
        )
        for use in uses
    ]


def check(
    path: str,
    kubeconfig: str | None = None,
    *,
    strict: bool = False,
    limits: ConfigLimits = DEFAULT_LIMITS,
) -> int:
    """Validate ``path`` within ``limits`` (the run's): print every problem; 0 if valid, 2 if
    not.

    A warning (an unknown key, with the known key it is probably a typo of; a
    ``minimumInterval`` below the interval floor) does not stop the agent, so it passes
    the check too, unless ``strict``: then it exits 1, for CI pipelines that want a
    config without surprises.
    """
    try:
        loaded = load_config(path, limits)
    except ConfigError as exc:
        _print_problems(exc)
        errors = sum(1 for p in exc.problems if p.severity == "error")
        print(f"{path}: invalid ({errors} error(s))", file=sys.stderr)
        return 2
    warnings = [*loaded.warnings, *_secret_warnings(loaded, path, kubeconfig)]
    for w in warnings:
        print(str(w), file=sys.stderr)
    if strict and warnings:
        print(f"{path}: {len(warnings)} warning(s), which --strict makes fail", file=sys.stderr)
        return 1
    cfg = loaded.config
    enabled = sum(1 for t in cfg.targets if t.enabled)
    print(f"{path}: OK, {enabled} enabled target(s), {len(warnings)} warning(s)")
    return 0


def rbac(path: str, namespace: str, service_account: str) -> int:
    """Print the Roles and RoleBindings the agent needs for the config's Secret references."""
    try:
        loaded = load_config(path)
    except ConfigError as exc:
        _print_problems(exc)
        return 2
    secrets = [(u.ref.namespace or namespace, u.ref.name) for u in secret_references(loaded.config)]
    if not secrets:
        print(f"# {path} references no Secrets: the agent needs no access to Secrets.")
        return 0
    manifests = secret_reader_rbac(secrets, service_account, namespace)
    sys.stdout.write(yaml.safe_dump_all(manifests, sort_keys=False))
    return 0


def _print_target(t: Target) -> None:
    labels = ",".join(f'{k}="{v}"' for k, v in t.labels)
    print(f"{t.url}\t{{{labels}}}\t{t.source}")


async def targets(path: str, kubeconfig: str | None = None, wait: float = 10.0) -> int:
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
    return await list_targets(loaded, kubeconfig, wait)


async def list_targets(loaded: LoadedConfig, kubeconfig: str | None, wait: float) -> int:
    """`targets` once the config is loaded: discovery's snapshot, printed."""
    cluster = Cluster.of(KubeOptions(kubeconfig=Path(kubeconfig) if kubeconfig else None))
    try:
        with _warnings_to_stderr():  # stdout is the listing
            found = await snapshot(loaded.config, cluster, wait=wait)
    finally:
        await cluster.close()
    for t in found.targets:
        _print_target(t)
    for d in found.dropped:
        print(f"dropped\t{d.source}: {d.reason}")
    for line in found.skipped:
        print(f"skipped\t{line}")
    if found.no_cluster is not None:
        return 2 if kubeconfig else 0
    for line in found.empty:
        print(f"empty\t{line}")
    for line in found.failed:
        print(f"failed\t{line}")
    for key in found.unanswered:
        print(f"timeout: no answer for {key} within {wait:g} s", file=sys.stderr)
    return 1 if found.failed else 0


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


def _format_table(result: ScrapeResult) -> str:
    """One row per sample, ``name{labels}<TAB>value<TAB>timestamp``; a native histogram's
    value is ``histogram count=.. sum=.. schema=.. zero=.. buckets=+[..] -[..]``, with
    each side's (index, count) pairs, counts made absolute from the deltas."""
    rows = []
    for i, (s, v) in enumerate(zip(result.series, result.values, strict=True)):
        labels = ",".join(f'{k}="{val}"' for k, val in s.labels)
        value = repr(v) if math.isfinite(v) else str(v)
        rows.append(f"{s.name}{{{labels}}}\t{value}\t{result.timestamp_of(i)}")
    for sample in result.histograms:
        labels = ",".join(f'{k}="{val}"' for k, val in sample.labels)
        rows.append(
            f"{sample.name}{{{labels}}}\t{_histogram_cell(sample.histogram)}\t{sample.timestamp_ms}"
        )
    return "\n".join(rows) + ("\n" if rows else "")


def _histogram_cell(h: NativeHistogram) -> str:
    def side(spans: tuple[tuple[int, int], ...], deltas: tuple[int, ...]) -> str:
        pairs, index, count, step = [], 0, 0, iter(deltas)
        for offset, length in spans:
            index += offset
            for _ in range(length):
                count += next(step)
                pairs.append(f"{index}:{count}")
                index += 1
        return "[" + " ".join(pairs) + "]"

    return (
        f"histogram count={h.count} sum={h.sum!r} schema={h.schema} zero={h.zero_count}"
        f" buckets=+{side(h.positive_spans, h.positive_deltas)}"
        f" -{side(h.negative_spans, h.negative_deltas)}"
    )


async def scrape(url: str, fmt: str, config_path: str | None, target_name: str | None) -> int:
    """``openagent scrape``: print what the agent would send; 1 if the scrape failed."""
    from openagent.sinks.jsonl import encode_result

    try:
        loaded = load_config(config_path) if config_path else None
        target = target_for_url(url, loaded, target_name)
        options = wiring.scrape_options(load_settings())
    except ConfigError as exc:
        _print_problems(exc)
        return 2
    except (ValueError, SettingsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    result = await scrape_once(target, options)
    if fmt == "table":
        sys.stdout.write(_format_table(result))
    else:
        sys.stdout.buffer.write(encode_result(result))
    sys.stdout.flush()
    if result.error:
        print(f"scrape failed: {result.error}", file=sys.stderr)
        return 1
    return 0
