"""What a parse returns, and the builder type it calls for each new series."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from openagent.model import Labels, Metadata, NativeHistogram, Series

#: (metric name, exposed labels in exposition order) -> output series, or None to drop it.
Builder = Callable[[str, Labels], Series | None]


class _Marker:
    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


#: Stored in the cache for series that the builder dropped.
DROPPED: Final[object] = _Marker("DROPPED")
#: Stored for OpenMetrics ``_created`` series, which are neither samples nor errors.
SKIPPED: Final[object] = _Marker("SKIPPED")


class Parsed:
    """The outcome of one parse.

    ``series[i]`` has value ``values[i]``; ``timestamps`` is None unless some
    sample carried one. ``samples`` counts sample lines before dropping.
    ``metadata`` is shared with the parser: do not mutate it. Native histograms
    (protobuf only) come apart the same way: ``histograms[i]`` is the series of
    ``histogram_values[i]``, at ``histogram_timestamps[i]`` when that is not None;
    ``samples`` counts each histogram as one sample, as Prometheus does.
    """

    __slots__ = (
        "histogram_timestamps",
        "histogram_values",
        "histograms",
        "metadata",
        "metadata_changed",
        "samples",
        "series",
        "timestamps",
        "values",
    )

    def __init__(
        self,
        series: list[Series],
        values: list[float],
        timestamps: list[int] | None,
        samples: int,
        metadata: dict[str, Metadata],
        metadata_changed: bool,
        *,
        histograms: list[Series] | None = None,
        histogram_values: list[NativeHistogram] | None = None,
        histogram_timestamps: list[int] | None = None,
    ) -> None:
        self.series = series
        self.values = values
        self.timestamps = timestamps
        self.samples = samples
        self.metadata = metadata
        self.metadata_changed = metadata_changed
        self.histograms: list[Series] = histograms if histograms is not None else []
        self.histogram_values: list[NativeHistogram] = histogram_values or []
        self.histogram_timestamps = histogram_timestamps

    def __repr__(self) -> str:
        return f"Parsed(samples={self.samples}, kept={len(self.values)})"
