"""Sending a batch the receiver refused with 400 in halves, down to the series it refuses.

Measured before: one target exposing a sample 2 h old made Prometheus 2.42
answer 400 to every whole batch (its write handler rolls the whole request
back on one out-of-bounds sample), so two healthy targets beside it lost all
their data. Now the batch is cut in two at a series boundary and each half
sent on its own; a half refused again is cut again, until the refused series
stand alone. Those are dropped; everything else is delivered.

Only 400 is split. It is what a receiver answers when *the content* is bad
(measured: Prometheus 2.42 for a sample out of bounds or out of order, both
Prometheus and VictoriaMetrics for a body that is not snappy or not a
``WriteRequest``), so a part without the bad series can succeed; a payload
this sink cannot cut either stays refused whole. The other 4xx say
something about the endpoint or the configuration, which no part of the
batch changes: 401/403 (credentials), 404/405 (wrong URL), 413
(``max_bytes`` above the receiver's limit: splitting would double every
batch's requests for good, so it stays an error to fix).
A redirect during splitting is refused like them.

Where to cut: at the boundary between two targets (``job`` and
``instance``) nearest the middle of the run, when the run spans more than
one target, else at its middle. A bad exporter (a clock far off) spoils all
of its series, and they sit together in the batch, so cutting at targets
first sets the bad target apart from the healthy ones in a few requests,
before the cap below can make the sink drop a run that mixes them. Finding
the targets searches each series for its ``job`` and ``instance`` labels,
only for a refused batch (2.8 ms for 2,000 series).

Cost: the halves of a refused run are sent depth first, the first half
first (so parts reach the receiver in the batch's order, and two samples of
one series stay in time order), so a batch of N series with k refused ones
costs about 2·k·⌈log2 N⌉ requests beyond the first (measured: 24 for one
bad series among 2,000 of 20 targets, the cuts at targets being a little
off the middle). A run where everything is refused (a whole bad target)
would cost two requests per series, so splitting stops after ``cap``
requests: each run still waiting is sent once more, whole (at most about
⌈log2 N⌉ of them), and a refused one is dropped whole.

A retryable answer (429, 5xx) or no answer during splitting fails the whole
`send` as retryable, and the `Split` keeps its place: the delivery layer
retries the same batch, and the sink resumes with the run that failed, so
the halves already taken are not sent twice. (Sent twice they would be
harmless at Prometheus, which ignores a sample identical to one it holds,
but VictoriaMetrics stores identical duplicates unless deduplication is on:
measured, a batch sent twice exported two samples per series.) Only a
restart between the failure and the retry sends them again, or more
refused batches failing at once than the sink keeps (`RESUMABLE`).
"""

from __future__ import annotations

import bisect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Final

from openagent.sinks.base import SinkError
from openagent.sinks.remote_write.answers import Answer
from openagent.sinks.remote_write.metrics import SPLIT_BATCHES, SPLIT_REQUESTS_SENT
from openagent.sinks.remote_write.request_parts import RequestParts, cut_payload

#: The only status that makes the sink send a batch in parts (see the module docs).
CONTENT_REFUSED: Final = 400
#: Requests spent on splitting one batch before runs are dropped whole (see the module docs):
#: room for two bad series among 10,000 (2·2·14 = 56).
SPLIT_REQUESTS: Final = 64

Post = Callable[[bytes], Awaitable[Answer]]


@dataclass(frozen=True, slots=True)
class Refused:
    """Series ``first`` to ``end - 1`` were refused with ``answer``."""

    first: int
    end: int
    answer: Answer

    @property
    def whole(self) -> bool:
        """More than one series was dropped as a run: splitting had reached its cap, or the
        answer was one that splitting cannot help."""
        return self.end - self.first > 1


@dataclass
class Split:
    """Progress through one refused batch: runs still to send (the next last), runs refused."""

    payload: bytes
    parts: RequestParts
    cap: int
    #: Indices of the series whose target differs from the one before (see `target_starts`).
    targets: list[int] = field(default_factory=list)
    pending: list[tuple[int, int]] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)
    requests: int = 0
    delivered: int = 0

    @classmethod
    def start(cls, payload: bytes, answer: Answer, cap: int = SPLIT_REQUESTS) -> Split:
        """The split of a batch refused whole with ``answer``; ValueError when ``payload`` is
        not a ``WriteRequest`` with series."""
        parts = cut_payload(payload)
        if not parts.spans:
            raise ValueError("the request holds no series")
        split = cls(payload, parts, cap, target_starts(parts))
        SPLIT_BATCHES.inc()
        split.settle(0, len(parts), answer)
        return split

    def settle(self, first: int, end: int, answer: Answer) -> None:
        """Book the answer to run ``first:end``: delivered, split in two, or refused."""
        if answer.ok:
            self.delivered += end - first
        elif answer.status == CONTENT_REFUSED and end - first > 1 and self.requests < self.cap:
            middle = self.middle(first, end)
            self.pending += [(middle, end), (first, middle)]
        else:
            self.refused.append(Refused(first, end, answer))

    def middle(self, first: int, end: int) -> int:
        """Where to cut run ``first:end``: at the target boundary nearest its middle, if it
        holds one, else at its middle."""
        middle = (first + end) // 2
        targets = self.targets
        i = bisect.bisect_left(targets, middle)
        near = [b for b in targets[max(0, i - 1) : i + 1] if first < b < end]
        return min(near, key=lambda b: abs(b - middle)) if near else middle

    async def run(self, post: Post, where: str) -> None:
        """Send every pending run; raise a retryable `SinkError` (keeping the place) when one
        got no answer or a retryable one."""
        while self.pending:
            first, end = self.pending[-1]
            answer = await post(self.parts.payload(first, end))
            self.requests += 1
            SPLIT_REQUESTS_SENT.inc()
            if not answer.ok:
                error = answer.error(where)
                if error.retryable:
                    raise SinkError(
                        f"{error} (sending a refused batch in parts: {self.delivered} of "
                        f"{len(self.parts)} series delivered so far; the rest follows on retry)",
                        retryable=True,
                        retry_after=error.retry_after,
                    )
            self.pending.pop()
            self.settle(first, end, answer)

    def refused_samples(self) -> int:
        """Samples of every refused series (a native histogram counts as one)."""
        return sum(self.parts.samples(r.first, r.end) for r in self.refused)


def target_starts(parts: RequestParts) -> list[int]:
    """Indices of the series whose target (``job`` and ``instance`` labels) differs from the
    series before (the sink writes a scrape's series together, so a target is a run)."""
    out = []
    last = parts.target_key(0)
    for k in range(1, len(parts)):
        key = parts.target_key(k)
        if key != last:
            out.append(k)
        last = key
    return out
