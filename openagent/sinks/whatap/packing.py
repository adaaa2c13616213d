"""Encoded records into packs the collector takes: a record count and a byte size limit.

The records of one kind (OpenMx, help, histogram) are cut into packs of at
most ``records_per_pack`` records (the Go agent's 1000) whose serialized
pack, after the records blob is gzipped, is at most ``max_bytes`` long (the
Go agent's ``net_send_max_bytes``, 5 MiB, PROTOCOL §6.4; the session
replaces a bigger pack by a NEW_OVERFLOW event, so it would be lost). A pack
above the limit is cut into as many even pieces as it is times too big (at
least two) and each piece is checked again, so nothing is dropped for size
but a record that does not fit in a pack on its own.

A pack's size is only known once its blob is compressed, and the common
case is a pack far below the limit, so fitting costs one length comparison
per pack; a pack that is too big is compressed again per piece. Splitting
into as many pieces as the size asks for, rather than halving, keeps that to
about one extra compression of the data for evenly sized records (halving a
pack 8 times too big would compress its data three more times).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from openagent.sinks.base import Batch
from openagent.sinks.whatap.codec import I16, DecodeError, Reader, blob_bytes
from openagent.sinks.whatap.openmx import ZIP_THRESHOLD
from openagent.telemetry import get_logger

log = get_logger("whatap")

#: How often the same metric's oversize record is logged (seconds): once per scrape would
#: repeat the same line every interval for as long as the exporter exposes it.
OVERSIZE_LOG_PERIOD = 600.0
#: Metric names remembered for that before the memory starts over.
OVERSIZE_LOG_NAMES = 10_000


@dataclass(frozen=True, slots=True)
class Fitted:
    """Packs of records ``[first, end)`` each, and the records that alone exceed the limit
    (index, size of a pack holding only that record)."""

    packs: list[tuple[bytes, int, int]]
    oversize: list[tuple[int, int]]


class PackFitter:
    """Builds packs of encoded records within the record count and byte size limits."""

    def __init__(
        self, gzip: Callable[[bytes], bytes], *, max_bytes: int, records_per_pack: int
    ) -> None:
        if max_bytes <= 0:
            raise ValueError(f"the pack size limit must be positive, got {max_bytes}")
        self.gzip = gzip
        self.max_bytes = max_bytes
        self.records_per_pack = records_per_pack
        self.oversize_log = OversizeLog()

    def records_field(self, count: int, parts: Sequence[bytes]) -> bytes:
        """``byte zip ‖ Blob records-blob`` of ``count`` records given as byte ``parts``,
        gzipped above 100 bytes (§3.1)."""
        blob = b"".join([b"\x00", I16.pack(count), *parts])
        if len(blob) > ZIP_THRESHOLD:
            return b"\x01" + blob_bytes(self.gzip(blob))
        return b"\x00" + blob_bytes(blob)

    def batches(
        self,
        kind: str,
        head: bytes,
        parts: list[bytes],
        *,
        per: int = 1,
        tail: bytes = b"",
        stamps: list[int] | None = None,
        default_ms: int,
        lost: dict[str, int] | None = None,
    ) -> list[Batch]:
        """`fit`'s packs as batches (samples: their records; oldest: the least of
        ``stamps``, else ``default_ms``). Records that alone are above the limit are named in
        the log and, when ``lost`` is given (samples, not metadata), added to it."""
        fitted = self.fit(head, parts, per, tail)
        out = [
            Batch(payload, hi - lo, default_ms if stamps is None else min(stamps[lo:hi]))
            for payload, lo, hi in fitted.packs
        ]
        if fitted.oversize and lost is not None:
            lost["oversize"] = lost.get("oversize", 0) + len(fitted.oversize)
        for i, size in fitted.oversize:
            self.oversize_log.report(kind, record_name(parts[per * i]), size, self.max_bytes)
        return out

    def fit(self, head: bytes, parts: Sequence[bytes], per: int, tail: bytes = b"") -> Fitted:
        """``head ‖ records field ‖ tail`` packs of the records in ``parts`` (``per`` parts
        each), in order."""
        n = len(parts) // per
        out = Fitted([], [])
        for lo in range(0, n, self.records_per_pack):
            self._fit(head, parts, per, tail, (lo, min(lo + self.records_per_pack, n)), out)
        return out

    def _fit(
        self,
        head: bytes,
        parts: Sequence[bytes],
        per: int,
        tail: bytes,
        span: tuple[int, int],
        out: Fitted,
    ) -> None:
        todo = [span]
        limit = self.max_bytes
        while todo:
            lo, hi = todo.pop()
            payload = head + self.records_field(hi - lo, parts[per * lo : per * hi]) + tail
            size = len(payload)
            if size <= limit:
                out.packs.append((payload, lo, hi))
            elif hi - lo == 1:
                out.oversize.append((lo, size))
            else:
                pieces = min(hi - lo, max(2, -(-size // limit)))
                cuts = [lo + (hi - lo) * i // pieces for i in range(pieces + 1)]
                todo.extend(reversed(list(itertools.pairwise(cuts))))


def record_name(first_part: bytes) -> str:
    """The metric name of an encoded record from its first part (``00 ‖ Text name ...``)."""
    try:
        return Reader(first_part, 1).text("metric name")
    except DecodeError:
        return "?"


class OversizeLog:
    """Says which metric lost a record for size, once per metric per `OVERSIZE_LOG_PERIOD`."""

    def __init__(self, period: float = OVERSIZE_LOG_PERIOD) -> None:
        self.period = period
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def report(self, kind: str, metric: str, size: int, limit: int) -> None:
        """A ``kind`` record of ``metric`` (``size`` bytes as a pack) was dropped."""
        now = time.monotonic()
        last = self._last.get(metric)
        if last is not None and now - last < self.period:
            self._suppressed[metric] = self._suppressed.get(metric, 0) + 1
            return
        if len(self._last) >= OVERSIZE_LOG_NAMES:
            self._last.clear()
            self._suppressed.clear()
        self._last[metric] = now
        log.error(
            f"{kind} record dropped: alone it is above the collector's pack size limit",
            metric=metric,
            size=size,
            limit=limit,
            suppressed=self._suppressed.pop(metric, 0),
        )
