"""What the collector emulator received: sessions, records, help, events, replies.

`Received` keeps everything in memory (unless ``keep_records`` is off, for
long benchmark runs: then only counts and the distinct series) and can write
it as JSON lines, one object per line with a ``kind``:

* ``record``: ``name``, ``labels`` (list of ``[key, value]`` pairs in wire
  order), ``value`` (non-finite values as ``"NaN"``, ``"+Inf"``, ``"-Inf"``),
  ``timestamp_ms``, ``session``;
* ``histogram``: one native histogram record (pack 0x1607): ``name``,
  ``labels``, ``timestamp_ms``, ``schema``, ``zero_threshold``, ``zero_count``,
  ``count``, ``sum``, ``buckets`` (``positive`` and ``negative``: lists of
  ``[index, count]`` with absolute counts, the delta encoding undone; bucket
  ``index`` of schema ``s`` holds values up to ``2**(index * 2**-s)``, its
  negative twin down to minus that), ``session``;
* ``help``: ``name``, ``properties`` (``help``, ``type``), ``session``;
* ``event``: ``title``, ``message``, ``session`` (e.g. NEW_OVERFLOW);
* ``session``: ``event`` (``connected``, ``rejected``, ``closed``), ``session``
  and details (``oname``, ``pcode``, ``oid``, ``peer``, ``reason``, ...).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from openagent.sinks.whatap import frames as fr
from openagent.sinks.whatap.header import PackHeader
from openagent.sinks.whatap.openmx import (
    BucketSpan,
    OpenMxHelpPack,
    OpenMxHistogram,
    OpenMxHistogramPack,
    OpenMxPack,
)
from openagent.sinks.whatap.packs import EventPack, Pack, ParamPack

Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Record:
    """One sample as it arrived, with its session and pack header."""

    name: str
    labels: Labels
    value: float
    timestamp_ms: int
    session: int
    header: PackHeader


@dataclass(frozen=True, slots=True)
class Histogram:
    """One native histogram as it arrived, with its session and pack header."""

    record: OpenMxHistogram
    session: int
    header: PackHeader

    @property
    def positive(self) -> list[tuple[int, int]]:
        """``(bucket index, count)`` of the positive buckets."""
        return buckets(self.record.positive_spans, self.record.positive_buckets)

    @property
    def negative(self) -> list[tuple[int, int]]:
        """``(bucket index, count)`` of the negative buckets."""
        return buckets(self.record.negative_spans, self.record.negative_buckets)


def buckets(spans: tuple[BucketSpan, ...], deltas: tuple[int, ...]) -> list[tuple[int, int]]:
    """Absolute ``(index, count)`` per bucket from spans and delta-encoded counts (the first
    span's offset is the first index, later offsets the gap after the previous span)."""
    out: list[tuple[int, int]] = []
    index, count, i = 0, 0, 0
    for n, span in enumerate(spans):
        index += span.offset if n == 0 else span.offset + 1
        for k in range(span.length):
            count += deltas[i] if i < len(deltas) else 0
            out.append((index + k, count))
            i += 1
        index += span.length - 1
    return out


@dataclass
class SessionInfo:
    """One agent connection: who it was and what it sent."""

    id: int
    peer: str
    opened_ms: int
    hello: fr.Frame | None = None
    oname: str = ""
    oid: int = 0
    pcode: int = 0
    ip: int = 0
    accepted: bool = False
    rejected: str = ""
    closed_ms: int | None = None
    close_reason: str = ""
    packs: int = 0
    records: int = 0
    histograms: int = 0
    help_records: int = 0
    time_syncs: int = 0
    #: (frame code, kind) in arrival order; kind is "time_sync" or the pack class name.
    frames: list[tuple[int, str]] = field(default_factory=list)


def json_value(v: float) -> float | str:
    """A JSON-safe sample value (non-finite values as Prometheus-style strings)."""
    if math.isfinite(v):
        return v
    return "NaN" if math.isnan(v) else ("+Inf" if v > 0 else "-Inf")


class Received:
    """The emulator's memory of everything that arrived."""

    def __init__(
        self,
        *,
        keep_records: bool = True,
        jsonl: Path | None = None,
        on_event: Callable[[str], None] | None = None,
    ) -> None:
        self.keep_records = keep_records
        self.on_event = on_event
        self.records: list[Record] = []
        self.histograms: list[Histogram] = []
        self.histogram_count = 0
        self.help: dict[str, dict[str, str]] = {}
        self.help_log: list[tuple[int, str, dict[str, str]]] = []
        self.events: list[EventPack] = []
        self.responses: list[ParamPack] = []
        self.sessions: list[SessionInfo] = []
        self.errors: list[str] = []
        self.pack_counts: Counter[str] = Counter()
        self.record_count = 0
        self.series: set[int] = set()
        self._jsonl_path = jsonl
        self._jsonl: IO[bytes] | None = None

    def open(self) -> None:
        """Open the JSON lines file (append)."""
        if self._jsonl_path is not None and self._jsonl is None:
            self._jsonl = self._jsonl_path.open("ab")

    def close(self) -> None:
        """Close the JSON lines file."""
        if self._jsonl is not None:
            self._jsonl.close()
            self._jsonl = None

    def _emit(self, obj: dict[str, Any]) -> None:
        if self._jsonl is not None:
            self._jsonl.write(json.dumps(obj, ensure_ascii=False).encode() + b"\n")

    def _flush(self) -> None:
        if self._jsonl is not None:
            self._jsonl.flush()

    def new_session(self, peer: str, now_ms: int) -> SessionInfo:
        """Register a connection."""
        info = SessionInfo(len(self.sessions) + 1, peer, now_ms)
        self.sessions.append(info)
        return info

    def session_event(self, info: SessionInfo, event: str, **extra: Any) -> None:
        """Log a session state change (JSON lines and ``on_event``)."""
        self._emit({"kind": "session", "event": event, "session": info.id, **extra})
        self._flush()
        if self.on_event is not None:
            detail = " ".join(f"{k}={v}" for k, v in extra.items())
            self.on_event(f"session {info.id} {event}" + (f": {detail}" if detail else ""))

    def time_sync(self, info: SessionInfo) -> None:
        """Count a TIME_SYNC frame."""
        info.time_syncs += 1
        if self.keep_records:
            info.frames.append((fr.NET_TIME_SYNC, "time_sync"))

    def error(self, info: SessionInfo, message: str) -> None:
        """Note something the agent should never send."""
        self.errors.append(f"session {info.id}: {message}")

    def pack(self, info: SessionInfo, code: int, pack: Pack) -> None:
        """Take one decoded pack."""
        name = type(pack).__name__
        info.packs += 1
        self.pack_counts[name] += 1
        if self.keep_records:
            info.frames.append((code, name))
        if isinstance(pack, OpenMxPack):
            self._records(info, pack)
        elif isinstance(pack, OpenMxHistogramPack):
            self._histograms(info, pack)
        elif isinstance(pack, OpenMxHelpPack):
            for h in pack.records:
                props = dict(h.properties)
                self.help[h.metric] = props
                info.help_records += 1
                if self.keep_records:
                    self.help_log.append((info.id, h.metric, props))
                self._emit(
                    {"kind": "help", "name": h.metric, "properties": props, "session": info.id}
                )
        elif isinstance(pack, EventPack):
            self.events.append(pack)
            self._emit(
                {"kind": "event", "title": pack.title, "message": pack.message, "session": info.id}
            )
        elif isinstance(pack, ParamPack):
            self.responses.append(pack)
        self._flush()

    def _records(self, info: SessionInfo, pack: OpenMxPack) -> None:
        n = len(pack.records)
        info.records += n
        self.record_count += n
        for rec in pack.records:
            self.series.add(hash((rec.metric, rec.labels)))
            if self.keep_records:
                self.records.append(
                    Record(rec.metric, rec.labels, rec.value, rec.timestamp, info.id, pack.header)
                )
            if self._jsonl is not None:
                self._emit(
                    {
                        "kind": "record",
                        "name": rec.metric,
                        "labels": [list(p) for p in rec.labels],
                        "value": json_value(rec.value),
                        "timestamp_ms": rec.timestamp,
                        "session": info.id,
                    }
                )

    def _histograms(self, info: SessionInfo, pack: OpenMxHistogramPack) -> None:
        info.histograms += len(pack.records)
        self.histogram_count += len(pack.records)
        for rec in pack.records:
            got = Histogram(rec, info.id, pack.header)
            if self.keep_records:
                self.histograms.append(got)
            if self._jsonl is not None:
                self._emit(histogram_json(got))

    def summary(self, live: int, rate: float) -> str:
        """One line: connections, packs, records, records/s, distinct series, last oname."""
        last = next((s.oname for s in reversed(self.sessions) if s.accepted), "-")
        packs = sum(self.pack_counts.values())
        return (
            f"connections {live} live / {len(self.sessions)} total | packs {packs} | "
            f"records {self.record_count} ({rate:.0f}/s) | series {len(self.series)} | "
            f"histograms {self.histogram_count} | "
            f"help {len(self.help)} | last oname {last}"
        )


def histogram_json(h: Histogram) -> dict[str, Any]:
    """The ``histogram`` JSON line of one received histogram."""
    r = h.record
    return {
        "kind": "histogram",
        "name": r.metric,
        "labels": [list(p) for p in r.labels],
        "timestamp_ms": r.timestamp,
        "schema": r.schema,
        "zero_threshold": json_value(r.zero_threshold),
        "zero_count": r.zero_count,
        "count": r.count,
        "sum": json_value(r.sum),
        "buckets": {
            "positive": [list(b) for b in h.positive],
            "negative": [list(b) for b in h.negative],
        },
        "session": h.session,
    }
