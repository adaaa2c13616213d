"""Positions in a spool, and the records handed out and not yet acknowledged.

`Position` says where a record lies: its segment and byte range.

Several records may be handed out at once (a confirming sink's group);
`HandedOut` keeps them in order until they are acknowledged, and the spool
never moves its position past one that is still out. Delivery is at least
once: what was handed out when the process died (or whose send the shutdown
cut short) is sent again after the restart and counted in
``openagent_delivery_replayed_samples_total`` (the position mark says how far
it went). A process crash resends at most that one record or group; a power
loss may resend up to about one fsync interval of records, uncounted, and
under ``interval`` or ``never`` lose spooled data that was not yet on disk.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Container
from dataclasses import dataclass

from openagent.delivery.metrics import REPLAYED_SAMPLES


@dataclass(frozen=True, slots=True)
class Position:
    """Where a record lies: its segment and byte range."""

    segment: int
    start: int
    end: int


class HandedOut:
    """Records handed out and not yet acknowledged, oldest first, with their samples.

    It also knows which of them the last run may already have delivered, so
    that delivering them again is counted as replayed.
    """

    def __init__(self, sink: str) -> None:
        self._sink = sink
        self._out: deque[tuple[Position, int]] = deque()
        self._dup_at: tuple[int, int] | None = None
        self._dup_until: tuple[int, int] | None = None
        self._dup_below = 0

    def __len__(self) -> int:
        return len(self._out)

    # -- what the last run may have delivered ------------------------------------

    @property
    def suspects_first(self) -> bool:
        """True while the first record to deliver may have been delivered before."""
        return self._dup_at is not None

    def suspect(self, at: tuple[int, int]) -> None:
        """The record at ``at`` (the first to deliver) may have been delivered before."""
        self._dup_at = at

    def suspect_through(self, handed: tuple[int, int] | None) -> None:
        """So may every record before ``handed`` (a group was out)."""
        if self._dup_at is not None and handed is not None and handed > self._dup_at:
            self._dup_until = handed

    def suspect_below(self, segment_id: int) -> None:
        """So may every record in the segments before ``segment_id`` (the position is lost)."""
        self._dup_below = segment_id

    # -- handing out and acknowledging -------------------------------------------

    def add(self, pos: Position, samples: int) -> None:
        """The record at ``pos``, of ``samples`` samples, was handed out."""
        self._out.append((pos, samples))

    def first_held(self, segments: Container[int]) -> tuple[int, int] | None:
        """Start of the oldest record out whose segment is still on disk."""
        for h, _ in self._out:
            if h.segment in segments:
                return h.segment, h.start
        return None

    def end(self) -> tuple[int, int] | None:
        """End of the last record handed out; None when none is out."""
        if self._out:
            last = self._out[-1][0]
            return last.segment, last.end
        return None

    def ack(self, pos: Position, *, maybe_sent: bool) -> bool:
        """Take the oldest record out, if it is the one at ``pos``; True if it was.

        Its samples count as replayed when ``maybe_sent`` or the last run may
        have delivered it.
        """
        if not self._out or self._out[0][0] != pos:
            return False
        _, samples = self._out.popleft()
        at = (pos.segment, pos.start)
        if (
            maybe_sent
            or at == self._dup_at
            or (self._dup_until is not None and at < self._dup_until)
            or pos.segment < self._dup_below
        ):
            REPLAYED_SAMPLES.labels(self._sink).inc(samples)
        self._dup_at = None
        if self._dup_until is not None and at >= self._dup_until:
            self._dup_until = None
        return True
