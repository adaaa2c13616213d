"""The worker processes' own metrics, and ``/metrics`` as one text of the agent and its workers.

On each request for ``/metrics`` the agent asks every running worker for its
registry's families (a call over its link, answered with prometheus-client
`Metric` values) and writes one exposition: each family once, the agent's
own samples as they are, each worker's with a ``worker`` label added. So
``sum by (job) (rate(openagent_target_scrapes_total[5m]))`` counts every
worker, and a restarted worker shows as a counter reset of its own series.

Why not prometheus-client's multiprocess mode: it needs a directory named in
the environment before the first import, keeps one mmap file per process and
metric that outlives the process, does not carry `Info` metrics or the
gauge of a process that died, and would read the files of workers that no
longer run. Asking costs a round trip per worker and a merge: with 200
targets, ``/metrics`` took 28-30 ms with two workers of 100 targets each,
against 13-19 ms in one process (``/targets``: 5-7 ms against 2-4 ms).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from openagent.telemetry import REGISTRY

WORKER_RESTARTS = Counter(
    "openagent_worker_restarts",
    "Worker processes started again after theirs exited, by worker.",
    ["worker"],
    registry=REGISTRY,
)
WORKER_UP = Gauge(
    "openagent_worker_up",
    "1 while the worker process runs and has reported ready, else 0.",
    ["worker"],
    registry=REGISTRY,
)

#: The label that names the worker process a sample came from.
WORKER_LABEL = "worker"

#: Families only the agent process fills: the config, discovery, sharding, the workers, the build.
AGENT_ONLY = (
    "openagent_build",
    "openagent_config_",
    "openagent_discovery_",
    "openagent_shard_",
    "openagent_worker_",
)
#: Families each process fills for itself.
EVERY_PROCESS = ("openagent_event_loop_",)


def agent_families(registry: CollectorRegistry) -> Iterator[Metric]:
    """The agent's part of ``registry`` when workers scrape: what only it, or every process,
    fills. The rest is the workers'; the agent's copies hold zeros (its sinks, say, are
    built once to check the settings, which registers their metrics)."""
    for family in registry.collect():
        if family.name.startswith((*AGENT_ONLY, *EVERY_PROCESS)):
            yield family


def worker_families(registry: CollectorRegistry) -> Iterator[Metric]:
    """A worker's part of ``registry``: families with samples, less the agent's alone."""
    for family in registry.collect():
        if family.samples and not family.name.startswith(AGENT_ONLY):
            yield family


class _Families(Collector):
    """Collects a fixed list of families (what one request merged)."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterable[Metric]:
        return self.families


def merge(own: Iterable[Metric], workers: Sequence[tuple[int, Sequence[Metric]]]) -> list[Metric]:
    """Every family once: ``own`` samples unchanged, each worker's with its ``worker`` label."""
    families: dict[str, Metric] = {}

    def family(m: Metric) -> Metric:
        found = families.get(m.name)
        if found is None:
            found = families[m.name] = Metric(m.name, m.documentation, m.type, m.unit)
        return found

    for m in own:
        family(m).samples.extend(m.samples)
    for index, metrics in workers:
        label = str(index)
        for m in metrics:
            family(m).samples.extend(
                s._replace(labels={**s.labels, WORKER_LABEL: label}) for s in m.samples
            )
    return list(families.values())


def exposition(families: list[Metric]) -> bytes:
    """``families`` in the text exposition format."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(families))
    return generate_latest(registry)
