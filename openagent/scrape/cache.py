"""Everything one target keeps between scrapes, in one object (Prometheus's ``scrapeCache``).

A `TargetCache` owns the parsers (text, and protobuf once a target answers
with it, each with its series table and metadata cache),
the series builder, the report series, the series of the last scrape (for
staleness), the metadata of the families still exposed, and the rule that
prunes all of them. It outlives its scrape loop: when a target's settings
change, the manager hands the cache to the new loop, which calls `retarget`.
Settings that do not change what a series becomes (interval, timeout, auth)
keep everything, parser table included; settings that do (honor_labels,
metric relabelling, label limits) start a new table and builder, which reuse
the series objects of the last scrape where the output is the same, so no
stale marker is sent for a series that goes on.

Duplicates and staleness are found with a stamp per scrape on each series
(`Series.seen`) rather than with sets: the two sets of the last and the
current scrape cost about 100 bytes per series at 1,000 targets; the stamp
costs nothing beyond the slot, and the list of the last scrape's series,
which the result needed anyway, is kept instead. Native histograms get the
same treatment with their own list (`settle_histograms`), so a histogram that
vanishes goes stale as a flat series does.

With an `Attributor`, the workload and node labels are part of the built
series (see `openagent.scrape.attribution`); when the attribution of a pod
changes, the entries of the series naming it leave the parser tables and the
builder, so the next parse builds just those again, and the series with the
old labels go stale.
"""

from __future__ import annotations

from dataclasses import dataclass

from openagent.exposition import Limits, Parsed, Parser, ProtobufParser
from openagent.model import Labels, Metadata, Series, SeriesKey, Target, TargetState, series_key
from openagent.relabel import Relabeler
from openagent.scrape.attribution import EVERY, Attributor, TargetAttribution
from openagent.scrape.series import REPORT_NAMES, SeriesBuilder

FAMILY_SUFFIXES = (
    "",
    "_total",
    "_bucket",
    "_count",
    "_sum",
    "_created",
    "_info",
    "_gcount",
    "_gsum",
)
#: Entries the parser's tables may hold beyond twice the last good scrape's samples before
#: the entries not seen in the last two scrapes are evicted (Prometheus allows 1,000 too).
PRUNE_SLACK = 1000


@dataclass(slots=True)
class Settled:
    """One scrape's samples without duplicates, and what went stale since the last one."""

    series: list[Series]
    values: list[float]
    timestamps: list[int] | None
    stale: list[Series]
    duplicates: int
    added: int
    #: Whether the set of series differs from the last scrape's.
    changed: bool


class TargetCache:
    """The per-target state that makes an unchanged series cost a lookup and a float."""

    __slots__ = (
        "_attributor",
        "_limits",
        "_metadata_source",
        "_proto",
        "_shape",
        "_stamp",
        "_stamp_before",
        "_successful",
        "builder",
        "metadata",
        "parser",
        "previous",
        "previous_histograms",
        "report",
        "state",
    )

    def __init__(
        self, target: Target, limits: Limits, attributor: Attributor | None = None
    ) -> None:
        self._attributor = attributor
        self.state = TargetState()
        self.previous: list[Series] = []
        self.previous_histograms: list[Series] = []
        self.metadata: dict[str, Metadata] = {}
        self._metadata_source: dict[str, Metadata] = {}
        # never None, the stamp of a series no scrape saw yet
        self._stamp: object = object()
        self._stamp_before: object = object()
        self._successful = 0
        self.report = [Series(name, target.labels) for name in REPORT_NAMES]
        self._shape = _shape(target, limits)
        self.builder = self._builder(target, carry=None)
        self.parser = Parser(self.builder, limits)
        self._limits = limits
        self._proto: ProtobufParser | None = None

    def _builder(self, target: Target, carry: dict[SeriesKey, Series] | None) -> SeriesBuilder:
        honor = target.endpoint.honor_labels
        source = self._attributor
        builder = SeriesBuilder(
            target.labels,
            honor_labels=honor,
            relabeler=Relabeler(target.metric_relabel),
            carry=carry,
            attribution=(
                None
                if source is None
                else TargetAttribution(source, target.node, target.labels, honor_labels=honor)
            ),
        )
        for s in self.report:
            builder.registry[series_key(s.name, s.labels)] = s
        return builder

    def retarget(self, target: Target, limits: Limits) -> TargetCache:
        """Take the settings of ``target``; keep what they leave valid. Returns self."""
        if target.labels != self.labels:
            self.report = [Series(name, target.labels) for name in REPORT_NAMES]
        if _shape(target, limits) != self._shape:
            self._shape = _shape(target, limits)
            last = self.previous + self.previous_histograms
            carry = {series_key(s.name, s.labels): s for s in last}
            self.builder = self._builder(target, carry)
            self.parser = Parser(self.builder, limits)
            self._limits = limits
            self._proto = None
        return self

    @property
    def labels(self) -> Labels:
        """The target labels the series are built with."""
        return self.builder.target_labels

    @property
    def size(self) -> int:
        """Entries of the parser tables (text, and protobuf once used): what the bound counts."""
        proto = self._proto
        return self.parser.cache_size + (proto.cache_size if proto is not None else 0)

    async def parse(self, text: str, *, openmetrics: bool, default_ts_ms: int) -> Parsed:
        """Parse one body with this target's table."""
        self._attribute()
        return await self.parser.parse_async(
            text, openmetrics=openmetrics, default_ts_ms=default_ts_ms
        )

    async def parse_protobuf(self, body: bytes, *, default_ts_ms: int) -> Parsed:
        """Parse one protobuf body with this target's protobuf table (made on first use)."""
        self._attribute()
        if self._proto is None:
            self._proto = ProtobufParser(self.builder, self._limits)
        return await self._proto.parse_async(body, default_ts_ms=default_ts_ms)

    def _attribute(self) -> None:
        """Forget the series whose pod's attribution changed since the last scrape."""
        attribution = self.builder.attribution
        if attribution is None:
            return
        stale = attribution.stale()
        if stale is None:
            return
        if stale is EVERY:

            def keep(entry: object) -> bool:
                return False
        else:

            def keep(entry: object) -> bool:
                return not isinstance(entry, Series) or attribution.names(entry) not in stale

        self.parser.prune(keep)
        if self._proto is not None:
            self._proto.prune(keep)
        self.builder.forget(keep)
        for s in self.report:  # the report series stay the registry's (see `_builder`)
            self.builder.registry[series_key(s.name, s.labels)] = s

    def settle(
        self,
        series: list[Series],
        values: list[float],
        timestamps: list[int] | None,
        created_before: int,
    ) -> Settled:
        """Drop repeated series (the first is kept, as Prometheus does), find the series
        that went stale, and make these the last scrape's series."""
        self._stamp_before = self._stamp
        stamp = self._stamp = object()
        for s in self.report:
            s.seen = stamp
        duplicates = 0
        for s in series:
            if s.seen is stamp:
                duplicates += 1
            s.seen = stamp
        if duplicates:
            series, values, timestamps = self._first_of_each(series, values, timestamps)
        stale = [s for s in self.previous if s.seen is not stamp]
        changed = bool(stale) or len(series) != len(self.previous)
        self.previous = series
        added = self.builder.created - created_before
        return Settled(series, values, timestamps, stale, duplicates, added, changed)

    def settle_histograms(self, series: list[Series]) -> tuple[list[int], list[Series], bool]:
        """After `settle`, the same for this scrape's native histograms: the positions of
        the ones to keep (first of each series), the histograms that went stale, and
        whether the set changed."""
        stamp = self._stamp
        keep = []
        for i, s in enumerate(series):
            if s.seen is not stamp:
                s.seen = stamp
                keep.append(i)
        previous = self.previous_histograms
        stale = [s for s in previous if s.seen is not stamp]
        self.previous_histograms = [series[i] for i in keep] if len(keep) < len(series) else series
        return keep, stale, bool(stale) or len(keep) != len(previous)

    def _first_of_each(
        self, series: list[Series], values: list[float], timestamps: list[int] | None
    ) -> tuple[list[Series], list[float], list[int] | None]:
        stamp = self._stamp = object()
        for s in self.report:
            s.seen = stamp
        keep = []
        for i, s in enumerate(series):
            if s.seen is not stamp:
                s.seen = stamp
                keep.append(i)
        out_ts = None if timestamps is None else [timestamps[i] for i in keep]
        return [series[i] for i in keep], [values[i] for i in keep], out_ts

    def after_success(self, parsed: Parsed, changed: bool) -> None:
        """Bookkeeping after a successful scrape: metadata, the builder's carry, pruning."""
        if parsed.metadata_changed:
            self._metadata_source = parsed.metadata
        if changed or parsed.metadata_changed:
            self._refresh_metadata()
        if changed and self.builder.attribution is not None:
            self.builder.attribution.keep_only(self.previous)
        self.builder.carry = None
        self._successful = parsed.samples

    def after_failure(self) -> None:
        """Bookkeeping after a failed scrape (every series went stale)."""
        self._refresh_metadata()

    def evict(self) -> int:
        """At the end of every scrape, good or failed: when the tables hold more than twice
        the last good scrape's samples plus `PRUNE_SLACK`, forget the entries not seen in
        the last two scrapes; return how many went.

        This is the bound of Prometheus's ``scrapeCache.iterDone``, checked after failed
        scrapes too: a target whose series got new label values every scrape and whose
        scrapes failed after parsing them (a bad last line, the sample limit) grew its
        table to the parser's last-resort reset at 500,000 entries, 543 MiB of RSS for
        5,000 series a scrape (``benchmarks.series_memory --churn 5000 --failing``). When
        nothing churns the check is one comparison; a walk only follows churn."""
        size = self.size
        if size <= 2 * self._successful + PRUNE_SLACK:
            return 0
        stamp, before = self._stamp, self._stamp_before

        def recent(entry: object) -> bool:
            seen = getattr(entry, "seen", None)
            return seen is stamp or seen is before

        self.parser.prune(recent)
        if self._proto is not None:
            self._proto.prune(recent)
        self.builder.prune(recent)
        return size - self.size

    def _refresh_metadata(self) -> None:
        """Keep the metadata of families that still have at least one series."""
        names = {s.name for s in self.previous}
        names.update(s.name for s in self.previous_histograms)
        self.metadata = {
            family: meta
            for family, meta in self._metadata_source.items()
            if any(family + suffix in names for suffix in FAMILY_SUFFIXES)
        }

    def forget_series(self) -> tuple[list[Series], list[Series]]:
        """Every series of the last scrape and the report series, and the native histograms
        of the last scrape, now gone (target removed)."""
        gone, histograms = self.previous + self.report, self.previous_histograms
        self.previous, self.previous_histograms = [], []
        return gone, histograms


def _shape(target: Target, limits: Limits) -> tuple[object, ...]:
    """What decides the series a target's exposed series become."""
    return (
        target.labels,
        target.endpoint.honor_labels,
        target.metric_relabel,
        limits,
        target.node,
    )
