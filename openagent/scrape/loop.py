"""The per-target scrape loop: offset, fetch, parse, relabel, report, staleness.

One task per target. Scrapes of one target never overlap: the loop is
sequential, and a scrape that runs past the next tick skips that tick (counted).
Every scrape yields one `ScrapeResult` with the synthetic series ``up``,
``scrape_duration_seconds``, ``scrape_samples_scraped``,
``scrape_samples_post_metric_relabeling`` and ``scrape_series_added``, and the
series that vanished since the previous scrape (for stale markers).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from openagent.exposition import (
    LimitExceeded,
    Limits,
    ParseError,
    Parser,
    decode_body,
    is_openmetrics,
)
from openagent.model import Metadata, ScrapeResult, Series, SeriesKey, Target, TargetState
from openagent.relabel import Relabeler
from openagent.scrape.http import ScrapeClient, ScrapeFailure
from openagent.scrape.schedule import AdaptiveTimeout, next_time, offset_for
from openagent.scrape.series import SeriesBuilder
from openagent.telemetry import (
    PARSE_ERRORS,
    SAMPLES,
    SCRAPE_DURATION,
    SCRAPES,
    SKIPPED_SCRAPES,
    get_logger,
)

log = get_logger("scrape")

REPORT_NAMES = (
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
)
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

Emit = Callable[[ScrapeResult], None]


@dataclass(slots=True)
class TargetMemory:
    """What a target's loop hands to its replacement when the target's settings change:
    the series registry, the last scrape's series (so no stale markers are sent in
    between) and the state `/targets` shows."""

    registry: dict[SeriesKey, Series] = field(default_factory=dict)
    previous: set[Series] = field(default_factory=set)
    state: TargetState = field(default_factory=TargetState)


class ScrapeLoop:
    """Scrapes one `Target` on its interval and hands each result to ``emit``."""

    def __init__(
        self,
        target: Target,
        client: ScrapeClient,
        emit: Emit,
        *,
        limits: Limits,
        seed: str = "",
        memory: TargetMemory | None = None,
    ) -> None:
        self.target = target
        self.client = client
        self.emit = emit
        ep = target.endpoint
        memory = memory or TargetMemory()
        self.memory = memory
        self.state = memory.state
        self.builder = SeriesBuilder(
            target.labels,
            honor_labels=ep.honor_labels,
            relabeler=Relabeler(target.metric_relabel),
            registry=memory.registry,
        )
        self.parser = Parser(self.builder, _limits(ep, limits))
        self.report_series = [self.builder.intern(n, target.labels) for n in REPORT_NAMES]
        self.timeout = AdaptiveTimeout(
            ep.timeout,
            ep.interval,
            enabled=ep.adaptive_timeout.enabled,
            failure_threshold=ep.adaptive_timeout.failure_threshold,
            multiplier=ep.adaptive_timeout.multiplier,
        )
        self.offset = offset_for(target.id, ep.interval, seed)
        self._metadata: dict[str, Metadata] = {}
        self._source_metadata: dict[str, Metadata] = {}
        self._parsed_metadata: dict[str, Metadata] | None = None
        self._task: asyncio.Task[None] | None = None
        self._results_seen: set[str] = set()
        self._job = target.job
        self._instance = target.instance

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> None:
        """Start the loop as a task."""
        self._task = asyncio.create_task(self._run(), name=f"scrape {self.target.url}")

    async def stop(self, *, stale_markers: bool) -> None:
        """Stop the loop; with ``stale_markers`` emit a final result marking every series stale."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        if stale_markers:
            self._emit_final()
        self._forget_metrics()

    async def _run(self) -> None:
        interval = self.target.endpoint.interval
        due = next_time(time.time(), interval, self.offset)
        while True:
            self.state.next_scrape = due
            delay = due - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                result = await self.scrape_once()
                self.emit(result)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug must not kill the loop of one target silently
                log.exception("scrape loop error", job=self._job, instance=self._instance)
            now = time.time()
            following = next_time(now, interval, self.offset)
            missed = int((following - due) / interval + 1e-9) - 1
            if missed > 0:
                SKIPPED_SCRAPES.labels(self._job).inc(missed)
            due = following if following > due else due + interval

    # -- one scrape --------------------------------------------------------

    async def scrape_once(self) -> ScrapeResult:
        """Scrape the target once and return the result (also used by ``openagent scrape``)."""
        target, ep = self.target, self.target.endpoint
        ts_ms = int(time.time() * 1000)
        started = time.perf_counter()
        error: str | None = None
        reason = "success"
        series: list[Series] = []
        values: list[float] = []
        timestamps: list[int] | None = None
        scraped = 0
        created_before = self.builder.created
        try:
            fetched = await self.client.fetch(target.url, ep, timeout=self.timeout.current)
            text = decode_body(fetched.body)
            parsed = await self.parser.parse_async(
                text, openmetrics=is_openmetrics(fetched.content_type), default_ts_ms=ts_ms
            )
            series, values, scraped = parsed.series, parsed.values, parsed.samples
            timestamps = parsed.timestamps if ep.honor_timestamps else None
            self._parsed_metadata = parsed.metadata if parsed.metadata_changed else None
        except ScrapeFailure as exc:
            reason, error = exc.reason, str(exc)
        except ParseError as exc:
            reason, error = "parse_error", f"parse error: {exc}"
            PARSE_ERRORS.labels(self._job).inc()
        except LimitExceeded as exc:
            reason, error = exc.reason, str(exc)
        duration = time.perf_counter() - started

        if error is None:
            self.timeout.on_success()
        elif reason == "timeout":
            self.timeout.on_timeout()

        series, values, timestamps, current, duplicates = _dedupe(series, values, timestamps)
        stale, changed = self._track(current)
        added = self.builder.created - created_before
        if changed or self._parsed_metadata is not None:
            self._refresh_metadata(current)

        report_values = [1.0 if error is None else 0.0, duration, scraped, len(series), added]
        result = ScrapeResult(
            target_id=target.id,
            job=target.job,
            instance=target.instance,
            url=target.url,
            timestamp_ms=ts_ms,
            series=series + self.report_series,
            values=values + report_values,
            timestamps=None if timestamps is None else timestamps + [ts_ms] * len(REPORT_NAMES),
            metadata=self._metadata,
            stale=stale,
            error=error,
        )
        self._account(reason, error, duration, ts_ms, scraped, len(series), duplicates)
        return result

    def _track(self, current: set[Series]) -> tuple[list[Series], bool]:
        """Swap in this scrape's series set; return (vanished series, whether the set changed)."""
        previous = self.memory.previous
        stale = [s for s in previous if s not in current] if previous else []
        changed = bool(stale) or len(current) != len(previous)
        self.memory.previous = current
        if len(self.builder.registry) > 2 * len(current) + len(self.report_series) + 1000:
            self.builder.prune([*current, *self.report_series])
            self.memory.registry = self.builder.registry
        return stale, changed

    def _refresh_metadata(self, current: set[Series]) -> None:
        """Keep the metadata of families that still have at least one series."""
        if self._parsed_metadata is not None:
            self._source_metadata = self._parsed_metadata
            self._parsed_metadata = None
        names = {s.name for s in current}
        self._metadata = {
            family: meta
            for family, meta in self._source_metadata.items()
            if any(family + suffix in names for suffix in FAMILY_SUFFIXES)
        }

    def _emit_final(self) -> None:
        stale = list(self.memory.previous) + self.report_series
        self.memory.previous = set()
        target = self.target
        self.emit(
            ScrapeResult(
                target_id=target.id,
                job=target.job,
                instance=target.instance,
                url=target.url,
                timestamp_ms=int(time.time() * 1000),
                stale=stale,
                final=True,
            )
        )

    # -- bookkeeping -------------------------------------------------------

    def _account(
        self,
        reason: str,
        error: str | None,
        duration: float,
        ts_ms: int,
        scraped: int,
        kept: int,
        duplicates: int,
    ) -> None:
        job, instance = self._job, self._instance
        SCRAPES.labels(job, instance, reason).inc()
        SCRAPE_DURATION.labels(job).observe(duration)
        self._results_seen.add(reason)
        if scraped:
            SAMPLES.labels(job, instance, "scraped").inc(scraped)
            SAMPLES.labels(job, instance, "kept").inc(kept)
            self._results_seen.update(("scraped", "kept"))
            if scraped - kept - duplicates > 0:
                SAMPLES.labels(job, instance, "dropped_relabel").inc(scraped - kept - duplicates)
                self._results_seen.add("dropped_relabel")
        if duplicates:
            SAMPLES.labels(job, instance, "dropped_duplicate").inc(duplicates)
            self._results_seen.add("dropped_duplicate")
        state = self.state
        previous_error, previous_health = state.last_error, state.health
        state.health = "up" if error is None else "down"
        state.last_scrape_ms = ts_ms
        state.last_duration = duration
        state.last_error = error
        state.samples = kept
        state.series = kept
        state.timeout = self.timeout.current
        if error is not None and error != previous_error:
            log.warning(
                "scrape failed", job=job, instance=instance, url=self.target.url, error=error
            )
        elif error is None and previous_health == "down":
            log.info("scrape recovered", job=job, instance=instance, url=self.target.url)

    def _forget_metrics(self) -> None:
        for result in self._results_seen:
            for metric in (SCRAPES, SAMPLES):
                try:
                    metric.remove(self._job, self._instance, result)
                except KeyError:
                    pass
        self._results_seen.clear()


def _limits(ep: object, defaults: Limits) -> Limits:
    def pick(name: str) -> int:
        value = getattr(ep, name, 0) or 0
        return int(value) if value else int(getattr(defaults, name))

    return Limits(
        sample_limit=pick("sample_limit"),
        label_limit=pick("label_limit"),
        label_name_length_limit=pick("label_name_length_limit"),
        label_value_length_limit=pick("label_value_length_limit"),
    )


def _dedupe(
    series: list[Series], values: list[float], timestamps: list[int] | None
) -> tuple[list[Series], list[float], list[int] | None, set[Series], int]:
    """Drop repeated series within one scrape, keeping the first (as Prometheus does).

    Also returns the set of series, which the caller needs for staleness.
    """
    current = set(series)
    if len(current) == len(series):
        return series, values, timestamps, current, 0
    seen: set[Series] = set()
    keep = []
    for i, s in enumerate(series):
        if s not in seen:
            seen.add(s)
            keep.append(i)
    out_ts = None if timestamps is None else [timestamps[i] for i in keep]
    dropped = len(series) - len(keep)
    return [series[i] for i in keep], [values[i] for i in keep], out_ts, current, dropped
