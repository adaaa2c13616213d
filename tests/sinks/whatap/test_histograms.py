"""Native histograms as OpenMxHistogram records: labels, pcode, layout, and what is lost."""

from __future__ import annotations

from openagent.model import HistogramSample, NativeHistogram
from openagent.sinks.whatap.codec import Reader
from openagent.sinks.whatap.histograms import histogram_record, histogram_records
from openagent.sinks.whatap.openmx import BucketSpan, OpenMxHistogram, read_histogram

PCODE = 33789
TARGET = (("job", "triton"), ("instance", "10.0.3.17:8002"))
H = NativeHistogram(
    schema=3, zero_threshold=1e-128, zero_count=2, count=11, sum=42.5,
    positive_spans=((-2, 2), (3, 1)), positive_deltas=(3, -1, 2),
    negative_spans=((0, 1),), negative_deltas=(4,),
)  # fmt: skip


def sample(labels: tuple[tuple[str, str], ...] = (("model", "resnet"), *TARGET)) -> HistogramSample:
    return HistogramSample("request_duration_seconds", labels, 1756912212000, H)


def test_the_record_is_the_histogram_with_labels_then_pcode() -> None:
    record = histogram_record(sample(), PCODE)
    assert read_histogram(Reader(record)) == OpenMxHistogram(
        "request_duration_seconds",
        (("model", "resnet"), *TARGET, ("pcode", "33789")),
        1756912212000, 3, 1e-128, 2, 11, 42.5,
        (BucketSpan(-2, 2), BucketSpan(3, 1)), (3, -1, 2), (BucketSpan(0, 1),), (4,),
    )  # fmt: skip


def test_an_exposed_pcode_label_is_kept_as_exported_pcode() -> None:
    record = read_histogram(Reader(histogram_record(sample((("pcode", "7"), *TARGET)), PCODE)))
    assert record.labels == (("exported_pcode", "7"), *TARGET, ("pcode", "33789"))


def test_no_pcode_label_without_a_pcode() -> None:
    assert read_histogram(Reader(histogram_record(sample(), 0))).labels[-1] == TARGET[-1]


def test_histograms_that_cannot_be_written_are_lost_by_reason_and_named() -> None:
    wide = sample(tuple((f"l{i}", "v") for i in range(255)))  # 256 with pcode
    bad_text = sample((("model", "\ud800"),))
    negative = HistogramSample("neg", (), 1, NativeHistogram(0, 0.0, 0, -1, 0.0))
    lost: dict[str, int] = {}
    warned: list[tuple[str, str]] = []
    records, stamps = histogram_records(
        [sample(), wide, bad_text, negative, sample()], PCODE, lost,
        lambda reason, name, _: warned.append((reason, name)),
    )  # fmt: skip
    assert len(records) == 2 and stamps == [1756912212000] * 2
    assert lost == {"too_many_labels": 1, "unencodable": 2}
    assert warned == [
        ("too_many_labels", "request_duration_seconds"),
        ("unencodable", "request_duration_seconds"),
        ("unencodable", "neg"),
    ]
