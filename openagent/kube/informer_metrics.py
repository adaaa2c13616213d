"""Informer metrics: counters bumped as things happen, gauges read from live informers."""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from typing import Protocol

from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from openagent.telemetry import REGISTRY

EVENTS = Counter(
    "openagent_discovery_informer_events",
    "Watch events received, by resource and type (ADDED, MODIFIED, DELETED, BOOKMARK).",
    ["resource", "type"],
    registry=REGISTRY,
)
RELISTS = Counter(
    "openagent_discovery_informer_relists",
    "Complete lists by resource and reason (initial, expired, error).",
    ["resource", "reason"],
    registry=REGISTRY,
)
ERRORS = Counter(
    "openagent_discovery_informer_errors",
    "Failed list or watch requests by resource and reason (Forbidden, ConnectionError...).",
    ["resource", "reason"],
    registry=REGISTRY,
)
WATCH_RESTARTS = Counter(
    "openagent_discovery_informer_watch_restarts",
    "Watches started again, by resource and why the previous one ended "
    "(timeout, stalled, dropped, expired, error).",
    ["resource", "reason"],
    registry=REGISTRY,
)


class Observed(Protocol):
    """What the gauges read from an informer."""

    @property
    def resource(self) -> str:
        """The resource watched."""

    @property
    def up(self) -> bool:
        """Synced and without error."""

    @property
    def object_count(self) -> int:
        """Objects held."""


class InformerGauges(Collector):
    """Per resource: ``up`` (1 only if every informer of it is synced and healthy),
    objects held and informer count, computed at scrape time."""

    def __init__(self) -> None:
        self.informers: weakref.WeakSet[Observed] = weakref.WeakSet()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """Yield the three gauge families."""
        up = GaugeMetricFamily(
            "openagent_discovery_informer_up",
            "1 if every informer of the resource has synced and its last request succeeded.",
            labels=["resource"],
        )
        held = GaugeMetricFamily(
            "openagent_discovery_informer_objects",
            "Objects held by the informers of a resource.",
            labels=["resource"],
        )
        count = GaugeMetricFamily(
            "openagent_discovery_informers",
            "Running informers (distinct resource, namespace and selectors) per resource.",
            labels=["resource"],
        )
        per: dict[str, tuple[bool, int, int]] = {}
        for inf in list(self.informers):
            ok, n, k = per.get(inf.resource, (True, 0, 0))
            per[inf.resource] = (ok and inf.up, n + inf.object_count, k + 1)
        for resource, (ok, n, k) in sorted(per.items()):
            up.add_metric([resource], 1.0 if ok else 0.0)
            held.add_metric([resource], float(n))
            count.add_metric([resource], float(k))
        yield up
        yield held
        yield count


GAUGES = InformerGauges()
REGISTRY.register(GAUGES)
