"""Native histograms as OpenMxHistogram records (PROTOCOL §3.3, pack type 0x1607).

The Go agent converts integer native histograms from protobuf expositions
into these records and never sends them (§7.5); here they are sent. A record
carries the sample's name and labels as the scrape layer built them (the
exposition's, then the target labels, then what metric relabelling added),
then ``pcode`` as every OpenMx record does (`openagent.sinks.whatap.pcode`),
and the histogram as Prometheus lays it out: schema, zero bucket, count,
sum, spans and delta-encoded bucket counts, copied as they are.

One histogram is one sample in the loss ledger: it is one series' value at
one time, sent or lost whole, whatever its number of buckets. A histogram
that cannot be written is lost with the OpenMx records' reasons:
``too_many_labels`` (the label count is one byte) or ``unencodable`` (text
that is not UTF-8, a count or span outside its wire type).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from openagent.model import HistogramSample
from openagent.sinks.whatap.codec import EncodeError
from openagent.sinks.whatap.openmx import MAX_LABELS, BucketSpan, OpenMxHistogram
from openagent.sinks.whatap.pcode import with_pcode

#: Told why a histogram cannot be sent: reason, metric name, detail.
Warn = Callable[[str, str, str], None]


class UnsendableHistogram(Exception):
    """A histogram the record cannot carry; ``reason`` is its loss reason."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def _spans(pairs: Sequence[tuple[int, int]]) -> tuple[BucketSpan, ...]:
    return tuple(BucketSpan(offset, length) for offset, length in pairs)


def histogram_record(sample: HistogramSample, pcode: int) -> bytes:
    """The OpenMxHistogram record of ``sample`` with the pcode label; raises
    `UnsendableHistogram`."""
    labels = with_pcode(sample.labels, pcode)
    if len(labels) > MAX_LABELS:
        raise UnsendableHistogram("too_many_labels", f"{len(labels)} labels, at most {MAX_LABELS}")
    h = sample.histogram
    record = OpenMxHistogram(
        sample.name, labels, sample.timestamp_ms, h.schema, h.zero_threshold, h.zero_count,
        h.count, h.sum, _spans(h.positive_spans), h.positive_deltas, _spans(h.negative_spans),
        h.negative_deltas,
    )  # fmt: skip
    try:
        return record.to_bytes()
    except EncodeError as exc:
        raise UnsendableHistogram("unencodable", str(exc)) from None


def histogram_records(
    samples: Sequence[HistogramSample], pcode: int, lost: dict[str, int], warn: Warn
) -> tuple[list[bytes], list[int]]:
    """The records of the histograms that can be sent and their timestamps; the others are
    added to ``lost`` by reason and named to ``warn``."""
    records: list[bytes] = []
    stamps: list[int] = []
    for sample in samples:
        try:
            records.append(histogram_record(sample, pcode))
        except UnsendableHistogram as exc:
            lost[exc.reason] = lost.get(exc.reason, 0) + 1
            warn(exc.reason, sample.name, str(exc))
            continue
        stamps.append(sample.timestamp_ms)
    return records, stamps
