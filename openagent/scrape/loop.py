"""The per-target scrape loop: offset, fetch, parse, relabel, report, staleness.

One task per target. Scrapes of one target never overlap: the loop is
sequential, and a scrape that runs past the next tick skips that tick (counted).
Every scrape yields one `ScrapeResult` with the synthetic series ``up``,
``scrape_duration_seconds``, ``scrape_samples_scraped``,
``scrape_samples_post_metric_relabeling`` and ``scrape_series_added``, and the
series that vanished since the previous scrape (for stale markers).

The body is parsed as the response's Content-Type says: the delimited
protobuf exposition (when the client asked for it, or the target sends it
anyway), OpenMetrics, else the text format. A native histogram counts as
one sample, as in Prometheus: in ``scrape_samples_scraped``, in
``scrape_samples_post_metric_relabeling`` when relabelling kept it, in the
sample limit, and in the target's sample and series counts.

Three things keep one bad target cheap: samples whose own timestamp is out of
bounds are dropped before anything is sent (`openagent.scrape.bounds`), the
target's cache is cut back after every scrape (`TargetCache.evict`), and its
error text is cut to a few hundred printable bytes and logged again only when
it changes or a period passed (`openagent.scrape.errors.shown`, `RepeatGate`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from prometheus_client import Counter

from openagent.exposition import (
    LimitExceeded,
    Limits,
    Parsed,
    ParseError,
    decode_body,
    is_openmetrics,
    is_protobuf,
)
from openagent.model import HistogramSample, ScrapeResult, Target
from openagent.scrape.attribution import Attributor
from openagent.scrape.bounds import TimestampBounds, TimestampGuard
from openagent.scrape.cache import TargetCache
from openagent.scrape.errors import shown
from openagent.scrape.http import ScrapeClient, ScrapeFailure
from openagent.scrape.metrics import CACHE_SERIES
from openagent.scrape.repeats import RepeatGate
from openagent.scrape.schedule import (
    AdaptiveTimeout,
    grid_step,
    next_time,
    offset_for,
    wake_time,
)
from openagent.scrape.series import REPORT_NAMES
from openagent.telemetry import (
    PARSE_ERRORS,
    SAMPLES,
    SCRAPE_DURATION,
    SCRAPES,
    SKIPPED_SCRAPES,
    get_logger,
)

log = get_logger("scrape")

#: Shortest time before an unchanged error of a target is logged again (with the count of
#: repeats held back); a target with a longer interval logs it at most once per interval.
ERROR_REPEAT_PERIOD = 60.0

Emit = Callable[[ScrapeResult], None]


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
        cache: TargetCache | None = None,
        quantum: float = 0.0,
        attributor: Attributor | None = None,
        bounds: TimestampBounds | None = None,
    ) -> None:
        self.target = target
        self.client = client
        self.emit = emit
        ep = target.endpoint
        own_limits = _limits(ep, limits)
        self.cache = (
            cache.retarget(target, own_limits)
            if cache
            else TargetCache(target, own_limits, attributor)
        )
        self.state = self.cache.state
        self.timeout = AdaptiveTimeout(
            ep.timeout,
            ep.interval,
            enabled=ep.adaptive_timeout.enabled,
            failure_threshold=ep.adaptive_timeout.failure_threshold,
            multiplier=ep.adaptive_timeout.multiplier,
        )
        self.offset = offset_for(target.id, ep.interval, seed)
        self.quantum = grid_step(quantum, ep.interval)
        self._task: asyncio.Task[None] | None = None
        self._children: dict[tuple[Counter, str], Counter] = {}
        self._job = target.job
        self._instance = target.instance
        self._cache_series = CACHE_SERIES.labels(self._job, self._instance)
        #: Lets an error that repeats the target's last one into the log once per period.
        self.error_log = RepeatGate(max(ep.interval, ERROR_REPEAT_PERIOD))
        where = {"job": self._job, "instance": self._instance, "url": target.url}
        self.bounds = TimestampGuard(bounds or TimestampBounds(), ep.interval, where)

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
            delay = wake_time(due, self.quantum) - time.time()
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
        target, ep, cache = self.target, self.target.endpoint, self.cache
        ts_ms = int(time.time() * 1000)
        started = time.perf_counter()
        error: str | None = None
        reason = "success"
        parsed: Parsed | None = None
        created_before = cache.builder.created
        try:
            fetched = await self.client.fetch(target.url, ep, timeout=self.timeout.current)
            if is_protobuf(fetched.content_type):
                parsed = await cache.parse_protobuf(fetched.body, default_ts_ms=ts_ms)
            else:
                parsed = await cache.parse(
                    decode_body(fetched.body),
                    openmetrics=is_openmetrics(fetched.content_type),
                    default_ts_ms=ts_ms,
                )
        except ScrapeFailure as exc:
            reason, error = exc.reason, str(exc)
        except ParseError as exc:
            reason, error = "parse_error", f"parse error: {exc}"
            PARSE_ERRORS.labels(self._job).inc()
        except LimitExceeded as exc:
            reason, error = exc.reason, str(exc)
        duration = time.perf_counter() - started
        if error is not None:
            error = shown(error)  # it may quote the target: printable, a few hundred bytes

        if error is None:
            self.timeout.on_success()
        elif reason == "timeout":
            self.timeout.on_timeout()

        histograms: list[HistogramSample] = []
        if parsed is None:
            settled = cache.settle([], [], None, created_before)
            _, stale_histograms, _ = cache.settle_histograms([])
            cache.after_failure()
            scraped = 0
        else:
            series, values, timestamps = parsed.series, parsed.values, None
            if ep.honor_timestamps and parsed.timestamps is not None:
                series, values, timestamps = self.bounds.samples(
                    series, values, parsed.timestamps, ts_ms
                )
            settled = cache.settle(series, values, timestamps, created_before)
            keep, stale_histograms, changed = cache.settle_histograms(parsed.histograms)
            stamps = parsed.histogram_timestamps
            if ep.honor_timestamps and stamps is not None:
                keep = self.bounds.histograms(parsed.histograms, keep, stamps, ts_ms)
            histograms = _histogram_samples(parsed, keep, ts_ms, ep.honor_timestamps)
            cache.after_success(parsed, settled.changed or changed)
            scraped = parsed.samples
        cache.evict()
        self._cache_series.set(cache.size)
        out_of_bounds = self.bounds.done(ts_ms)
        kept = len(settled.series) + len(histograms)
        # as in Prometheus, scrape_samples_post_metric_relabeling counts out-of-bounds samples
        relabelled = kept + out_of_bounds
        up = 1.0 if error is None else 0.0
        report_values = [up, duration, scraped, relabelled, settled.added]
        ts = settled.timestamps
        result = ScrapeResult(
            target_id=target.id,
            job=target.job,
            instance=target.instance,
            url=target.url,
            timestamp_ms=ts_ms,
            series=settled.series + cache.report,
            values=settled.values + report_values,
            timestamps=None if ts is None else ts + [ts_ms] * len(REPORT_NAMES),
            metadata=cache.metadata,
            stale=settled.stale,
            error=error,
            histograms=histograms,
            stale_histograms=stale_histograms,
        )
        self._account(reason, error, duration, ts_ms)
        self._count_samples(scraped, kept, settled.duplicates, out_of_bounds)
        return result

    def _emit_final(self) -> None:
        target = self.target
        stale, stale_histograms = self.cache.forget_series()
        self.emit(
            ScrapeResult(
                target_id=target.id,
                job=target.job,
                instance=target.instance,
                url=target.url,
                timestamp_ms=int(time.time() * 1000),
                stale=stale,
                final=True,
                stale_histograms=stale_histograms,
            )
        )

    # -- bookkeeping -------------------------------------------------------

    def _account(
        self,
        reason: str,
        error: str | None,
        duration: float,
        ts_ms: int,
    ) -> None:
        """Count the scrape and record it in the target's state; log a change of health."""
        self._count(SCRAPES, reason, 1)
        SCRAPE_DURATION.labels(self._job).observe(duration)
        state = self.state
        previous_health = state.health
        state.health = "up" if error is None else "down"
        state.last_scrape_ms = ts_ms
        state.last_duration = duration
        state.last_error = error
        state.timeout = self.timeout.current
        self._log_health(error, previous_health)

    def _count_samples(self, scraped: int, kept: int, duplicates: int, out_of_bounds: int) -> None:
        """Count a scrape's samples: scraped, kept (sent on), and dropped by reason."""
        self.state.samples = self.state.series = kept
        if scraped:
            self._count(SAMPLES, "scraped", scraped)
            self._count(SAMPLES, "kept", kept)
            relabel = scraped - kept - duplicates - out_of_bounds
            if relabel > 0:
                self._count(SAMPLES, "dropped_relabel", relabel)
        if duplicates:
            self._count(SAMPLES, "dropped_duplicate", duplicates)
        if out_of_bounds:
            self._count(SAMPLES, "dropped_timestamp_out_of_bounds", out_of_bounds)

    def _log_health(self, error: str | None, previous_health: str) -> None:
        """Log a failure unless it repeats the last one logged within its period, and a
        recovery; each line says how many identical failures were not logged before it."""
        where = {"job": self._job, "instance": self._instance, "url": self.target.url}
        if error is not None:
            held = self.error_log.admit(error)
            if held is not None:
                log.warning("scrape failed", **where, error=error, **_repeats(held))
        elif previous_health == "down":
            log.info("scrape recovered", **where, **_repeats(self.error_log.reset()))

    def _count(self, metric: Counter, result: str, amount: int) -> None:
        """Add ``amount`` to this target's ``result`` child of ``metric``; the children are
        kept, since ``labels()`` costs more than the increment."""
        child = self._children.get((metric, result))
        if child is None:
            child = self._children[metric, result] = metric.labels(
                self._job, self._instance, result
            )
        child.inc(amount)

    def _forget_metrics(self) -> None:
        try:
            CACHE_SERIES.remove(self._job, self._instance)
        except KeyError:
            pass
        for metric, result in self._children:
            try:
                metric.remove(self._job, self._instance, result)
            except KeyError:
                pass
        self._children.clear()


def _repeats(held: int) -> dict[str, int]:
    """The log field that counts identical failures not logged, when there were any."""
    return {"repeats_not_logged": held} if held else {}


def _histogram_samples(
    parsed: Parsed, keep: list[int], ts_ms: int, honor_timestamps: bool
) -> list[HistogramSample]:
    """The kept native histograms of ``parsed``, at their own time when it is honoured."""
    series, values = parsed.histograms, parsed.histogram_values
    stamps = parsed.histogram_timestamps if honor_timestamps else None
    return [
        HistogramSample(
            series[i].name, series[i].labels, ts_ms if stamps is None else stamps[i], values[i]
        )
        for i in keep
    ]


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
