"""The few types that cross rooms: targets, label pairs, series, metadata, scrape results.

These types carry data only. Discovery builds `Target` values; the scrape
loop builds the rest and keeps a `TargetState` per target, which the server
shows; delivery and the sinks read the results. A `Series` is created once
per distinct series of a target and reused across scrapes, so that sinks can
cache their own encoding of it on the series (``enc_*`` slots) and a sample
then costs a timestamp and a float.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from openagent.config import EndpointConfig, RelabelConfig

#: Ordered (name, value) label pairs. Never contains ``__name__``.
Labels = tuple[tuple[str, str], ...]

#: The value Prometheus uses as a staleness marker (a NaN with a set payload).
STALE_NAN_BITS = 0x7FF0000000000002


#: Identity of a series within its target: equal keys mean the same name and label set.
SeriesKey = tuple[object, ...]


def series_key(name: str, labels: Labels) -> SeriesKey:
    """Return the canonical identity of a series: name plus labels sorted by name.

    Two series with the same key are the same series, whatever their label order.
    The key shares the label pair objects, so it costs one small tuple. Only the
    series that metric relabelling or a label clash produced need one (see
    `openagent.scrape.series`); the rest are identified by where they were exposed.
    """
    return (name, *sorted(labels))


#: Per-series encoding caches, one per sink; the delivery layer hands them out in order
#: (a sink beyond the third gets none and encodes without caching).
SERIES_SLOTS: tuple[str, ...] = ("enc0", "enc1", "enc2")


class Series:
    """One output series: metric name and final labels, in wire order.

    The label order is the exposition's order, then target labels, then labels
    that metric relabelling added. Each of the `SERIES_SLOTS` belongs to one
    sink, which caches its encoding of the series there (None until it does):
    the model names no sink. They are slots rather than a dict because a
    target fleet holds millions of series; reading one through ``getattr``
    with the slot's name costs about 17 ns more than a fixed attribute.

    ``name`` and ``labels`` are shared wherever they can be: the scrape layer
    interns names and gives every series of one exposed label block the same
    label tuple, so a series costs this object (80 bytes) and little more.
    ``seen`` is the scrape layer's stamp of the last scrape that had the
    series (duplicates and staleness are found by comparing it).
    """

    __slots__ = ("enc0", "enc1", "enc2", "labels", "name", "seen")

    def __init__(self, name: str, labels: Labels) -> None:
        self.name = name
        self.labels = labels
        self.enc0: object = None
        self.enc1: object = None
        self.enc2: object = None
        self.seen: object = None

    def labels_dict(self) -> dict[str, str]:
        """The labels as a dict (last one wins, which cannot happen for valid series)."""
        return dict(self.labels)

    def __repr__(self) -> str:
        inner = ",".join(f'{k}="{v}"' for k, v in self.labels)
        return f"Series({self.name}{{{inner}}})"


@dataclass(frozen=True, slots=True)
class Metadata:
    """HELP, TYPE and UNIT of one metric family, as exposed."""

    type: str = "untyped"
    help: str = ""
    unit: str = ""


@dataclass(frozen=True, slots=True)
class NativeHistogram:
    """One native histogram sample, in Prometheus's sparse layout.

    Buckets come as spans, ``(offset, length)`` pairs, and one count per bucket
    in ``positive_deltas``/``negative_deltas``, each the difference from the
    previous bucket's count (the first one absolute), exactly as the protobuf
    exposition, remote write 1.0 and Whatap's OpenMxHistogram record (0x1607)
    all carry them, so no layer converts. Counts are integers: float
    histograms (``count_float``) are not carried.
    """

    schema: int
    zero_threshold: float
    zero_count: int
    count: int
    sum: float
    positive_spans: tuple[tuple[int, int], ...] = ()
    positive_deltas: tuple[int, ...] = ()
    negative_spans: tuple[tuple[int, int], ...] = ()
    negative_deltas: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class HistogramSample:
    """A native histogram of one series at one time: final name and labels, in wire order.

    ``labels`` are built as a `Series`'s are (exposition labels, then target
    labels, then what metric relabelling added), ``timestamp_ms`` is the
    exposition's or the scrape's.
    """

    name: str
    labels: Labels
    timestamp_ms: int
    histogram: NativeHistogram


@dataclass(slots=True)
class ScrapeResult:
    """Everything one scrape of one target produced.

    ``series[i]`` has value ``values[i]``; its timestamp is ``timestamps[i]`` when
    the exposition carried explicit timestamps (and they are honoured), else
    ``timestamp_ms``. The synthetic series (``up``, ``scrape_duration_seconds``,
    ...) are part of ``series``. ``stale`` lists the series that the previous
    scrape had and this one has not; when ``final`` is true the target went
    away and ``stale`` lists all of its series. ``metadata`` is keyed by family
    name and only holds families that kept at least one series.
    """

    target_id: str
    job: str
    instance: str
    url: str
    timestamp_ms: int
    series: list[Series] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    timestamps: list[int] | None = None
    metadata: Mapping[str, Metadata] = field(default_factory=dict)
    stale: list[Series] = field(default_factory=list)
    error: str | None = None
    final: bool = False
    #: Native histograms (protobuf expositions only); their classic buckets, when the
    #: exposition also has them, are flat `series` as well.
    histograms: list[HistogramSample] = field(default_factory=list)
    #: The native histograms that the previous scrape had and this one has not (all of
    #: the target's when ``final``): a sink marks them stale as it marks ``stale``.
    stale_histograms: list[Series] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the scrape succeeded."""
        return self.error is None

    def timestamp_of(self, i: int) -> int:
        """Timestamp in ms of sample ``i``."""
        ts = self.timestamps
        return self.timestamp_ms if ts is None else ts[i]


@dataclass(frozen=True, slots=True)
class Target:
    """One scrape target, immutable.

    ``labels`` are the target labels after target relabelling (``job``,
    ``instance`` and whatever discovery and relabelling added); they never
    contain ``__``-prefixed names. ``id`` is a stable hash of job, URL and
    labels: the same target found again has the same id, and scrape settings
    (interval, timeout, limits) can change without changing it.
    """

    job: str
    url: str
    labels: Labels
    endpoint: EndpointConfig
    metric_relabel: tuple[RelabelConfig, ...] = ()
    source: str = ""
    #: The node the exporter runs on, when discovery knows it (PodMonitor and
    #: ServiceMonitor targets backed by a pod); empty for static targets.
    node: str = ""
    id: str = field(init=False, default="")

    def __post_init__(self) -> None:
        h = hashlib.blake2b(digest_size=8)
        h.update(self.job.encode())
        h.update(b"\x00")
        h.update(self.url.encode())
        for k, v in sorted(self.labels):
            h.update(b"\x00" + k.encode() + b"\x01" + v.encode())
        object.__setattr__(self, "id", h.hexdigest())

    @property
    def instance(self) -> str:
        """The ``instance`` label (host:port by default)."""
        for k, v in self.labels:
            if k == "instance":
                return v
        return ""


@dataclass(slots=True)
class TargetState:
    """What is known about one target's scrapes: the scrape loop writes it, `/targets` shows it."""

    health: str = "unknown"
    last_scrape_ms: int = 0
    last_duration: float = 0.0
    last_error: str | None = None
    samples: int = 0
    series: int = 0
    next_scrape: float = 0.0
    timeout: float = 0.0
