"""The log of series a receiver refused: one ERROR line per target and minute.

A refused series is named by the target it came from (its ``job`` and
``instance`` labels), the metric, and the receiver's own words, since the
receiver's answer names neither (Prometheus 2.42 answers only
``out of bounds``). One bad exporter refuses the same way at every scrape,
so each target is told at most once per ``period``; the line carries how
many reports were held back since the last one, and how many runs of series
were dropped whole, without finding the bad ones (splitting reached its cap).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from openagent.sinks.remote_write.splitting import Split
from openagent.telemetry import Throttle, get_logger

log = get_logger("remote_write")

#: Targets remembered for rate limiting before the memory starts over.
TARGETS_REMEMBERED: Final = 10_000


@dataclass
class TargetRefusal:
    """What one batch lost of one target."""

    metric: str
    status: int
    message: str
    series: int = 0
    samples: int = 0
    #: Runs of more than one series dropped whole (see `Refused.whole`).
    whole_runs: int = 0


class RefusalLog:
    """Tells which targets' series a receiver refused, rate-limited per target."""

    def __init__(self, where: str, period: float = 60.0) -> None:
        self.where = where
        self._throttle = Throttle(period, max_keys=TARGETS_REMEMBERED)

    def report(self, split: Split) -> None:
        """Log what ``split`` refused, one line per target (a run dropped whole is told under
        the target of its first series)."""
        targets: dict[tuple[str, str], TargetRefusal] = {}
        parts = split.parts
        for refused in split.refused:
            labels = parts.labels(refused.first)
            answer = refused.answer
            found = targets.setdefault(
                (labels.get("job", ""), labels.get("instance", "")),
                TargetRefusal(labels.get("__name__", ""), answer.status, answer.message),
            )
            found.series += refused.end - refused.first
            found.samples += parts.samples(refused.first, refused.end)
            found.whole_runs += refused.whole
        for (job, instance), refusal in targets.items():
            target = f"{job}\x00{instance}"
            if self._throttle.allow(target):
                log.error(
                    "receiver refused a target's samples, dropped",
                    receiver=self.where,
                    job=job,
                    instance=instance,
                    metric=refusal.metric,
                    series=refusal.series,
                    samples=refusal.samples,
                    whole_runs=refusal.whole_runs,
                    requests=split.requests + 1,
                    status=refusal.status,
                    error=refusal.message,
                    suppressed=self._throttle.take_suppressed(target),
                )
