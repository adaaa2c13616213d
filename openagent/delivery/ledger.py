"""The loss ledger: every sample handed to a sink booked once, as sent or as dropped.

One `Ledger` per sink books into four counters labelled by sink:

* ``openagent_delivery_samples_handed_total``: what the scrape loops gave the
  sink (every series of a result, and its stale markers when the sink carries
  them);
* ``openagent_delivery_samples_recovered_total``: what an earlier run left in
  the spool;
* ``openagent_delivery_samples_sent_total``: what the destination took;
* ``openagent_delivery_samples_dropped_total{reason}``: what never will reach
  it, by reason; the delivery layer's reasons and the sink's own, and nothing
  is counted as dropped anywhere else.

So, per sink and per process: handed + recovered = sent + dropped + what is
still queued (in the sink's open batch, in memory, in the spool, in flight).
At rest, once delivery drained, the queued part is zero and the books balance
exactly. The ledger also keeps the same numbers as plain integers, for the
tests and for anything that wants them without going through the registry.
"""

from __future__ import annotations

from collections.abc import Iterable

from openagent.delivery.metrics import (
    DROP_REASONS,
    DROPPED_SAMPLES,
    HANDED_SAMPLES,
    RECOVERED_SAMPLES,
    SENT_BATCHES,
    SENT_SAMPLES,
)


class Ledger:
    """The books of one sink (see the module docs)."""

    def __init__(self, sink: str, sink_reasons: Iterable[str] = ()) -> None:
        self.sink = sink
        self.reasons = frozenset((*DROP_REASONS, *sink_reasons))
        self._handed = HANDED_SAMPLES.labels(sink)
        self._recovered = RECOVERED_SAMPLES.labels(sink)
        self._sent = SENT_SAMPLES.labels(sink)
        self._sent_batches = SENT_BATCHES.labels(sink)
        #: Totals booked through this ledger.
        self.handed_samples = 0
        self.recovered_samples = 0
        self.sent_samples = 0
        self.dropped_samples: dict[str, int] = {}

    def handed(self, samples: int) -> None:
        """The scrape loops gave the sink ``samples``."""
        if samples:
            self.handed_samples += samples
            self._handed.inc(samples)

    def recovered(self, samples: int) -> None:
        """The spool held ``samples`` from an earlier run."""
        if samples:
            self.recovered_samples += samples
            self._recovered.inc(samples)

    def sent(self, samples: int) -> None:
        """The destination took one batch of ``samples``."""
        self._sent_batches.inc()
        if samples:
            self.sent_samples += samples
            self._sent.inc(samples)

    def dropped(self, reason: str, samples: int) -> None:
        """``samples`` will never reach the destination, for ``reason``.

        Raises ValueError for a reason neither the delivery layer nor the sink declares.
        """
        if reason not in self.reasons:
            raise ValueError(f"sink {self.sink!r} has no drop reason {reason!r}")
        if samples:
            self.dropped_samples[reason] = self.dropped_samples.get(reason, 0) + samples
            DROPPED_SAMPLES.labels(self.sink, reason).inc(samples)

    @property
    def settled(self) -> int:
        """Samples booked as sent or dropped."""
        return self.sent_samples + sum(self.dropped_samples.values())
