"""A ``WriteRequest`` cut at its top-level fields, so that runs of its series can be sent alone.

Only the payload is needed (a batch may come from the spool of an earlier
run): it is snappy-decoded and walked at the top level only, which finds
where each ``timeseries`` field (number 1) starts and ends without decoding
it. Any other top-level field (``metadata``, number 3, when a writer adds
it) is kept aside and travels with the run that starts at the first series.
A run of series is re-encoded by concatenating their field bytes, so the
series come out exactly as they went in.

Inside a series, only what a log line or the books need is read: the labels
(to name the target and the metric of a rejected series) and how many
samples and native histograms it carries (one sample each, as the sink
counts them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import cramjam

from openagent.exposition import protowire

#: ``WriteRequest.timeseries`` as a field key: number 1, length-delimited.
SERIES_KEY: Final = 0x0A
#: ``TimeSeries`` fields that hold one sample each: ``samples`` (2) and ``histograms`` (4).
SAMPLE_KEYS: Final = frozenset((0x12, 0x22))
#: The encoded start of a ``job`` and an ``instance`` label, up to the value's length.
TARGET_MARKS: Final = (b"\x0a\x03job\x12", b"\x0a\x08instance\x12")
#: ``TimeSeries.labels`` (1) and, inside a ``Label``, ``name`` (1) and ``value`` (2).
LABEL_KEY: Final = 0x0A
NAME_KEY: Final = 0x0A
VALUE_KEY: Final = 0x12


def fields(buf: bytes) -> list[tuple[int, int, int, int]]:
    """(field key, start of the field, start and end of its value) for each top-level field
    of ``buf``; the value bounds are those of a length-delimited field (every field of
    ``WriteRequest``, ``TimeSeries`` and ``Label`` that is read here is one)."""
    out = []
    for number, wire, a, b, at in protowire.fields(buf, 0, len(buf), "write request"):
        out.append(((number << 3) | wire, at, a, b))
    return out


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    """The varint at ``i`` and the index after it; ValueError when malformed."""
    return protowire.varint(buf, i, len(buf), "write request")


@dataclass(frozen=True, slots=True)
class RequestParts:
    """An uncompressed ``WriteRequest`` and where its series are.

    ``spans`` holds (start, end) of each ``timeseries`` field, in order;
    ``rest`` is every other top-level field, in order; ``interleaved`` says
    whether one of those lies between two series (else a run of series is
    one slice of ``body``).
    """

    body: bytes
    spans: list[tuple[int, int]]
    rest: bytes
    interleaved: bool

    def __len__(self) -> int:
        return len(self.spans)

    def request(self, first: int, end: int) -> bytes:
        """The uncompressed ``WriteRequest`` of series ``first`` to ``end - 1`` (with ``rest``
        when it starts at the first series)."""
        body, spans = self.body, self.spans
        tail = self.rest if first == 0 else b""
        if not self.interleaved:
            return body[spans[first][0] : spans[end - 1][1]] + tail
        return b"".join(body[s:e] for s, e in spans[first:end]) + tail

    def payload(self, first: int, end: int) -> bytes:
        """`request` compressed as a batch payload is (snappy block format)."""
        return bytes(cramjam.snappy.compress_raw(self.request(first, end)))

    def samples(self, first: int, end: int) -> int:
        """How many samples (a native histogram counts as one) series ``first`` to
        ``end - 1`` carry."""
        total = 0
        for k in range(first, end):
            inner = self._series(k)
            total += sum(1 for key, *_ in fields(inner) if key in SAMPLE_KEYS)
        return total

    def _series(self, k: int) -> bytes:
        """The encoded ``TimeSeries`` of series ``k`` (its field's value)."""
        start, end = self.spans[k]
        _, i = _varint(self.body, start)  # the field key
        _, i = _varint(self.body, i)  # the length: the value runs to the field's end
        return self.body[i:end]

    def target_key(self, k: int) -> bytes:
        """Bytes that are equal for two series of one target: their ``job`` and ``instance``
        values, found by searching for the labels' encoded start (measured over 2,000
        series: 1.6 µs a series, against 13 µs for decoding all labels with `labels`). A label
        value that happened to hold such bytes could mislead it; that would only move a cut,
        never change what is sent."""
        body = self.body
        start, end = self.spans[k]
        out = b""
        for mark in TARGET_MARKS:
            i = body.find(mark, start, end)
            if i >= 0:
                size, i = _varint(body, i + len(mark))
                out += body[i : min(i + size, end)]
            out += b"\x00"
        return out

    def labels(self, k: int) -> dict[str, str]:
        """The labels of series ``k`` (``__name__`` included), by name."""
        inner = self._series(k)
        out = {}
        for key, _, a, b in fields(inner):
            if key != LABEL_KEY:
                continue
            label = inner[a:b]
            name = value = ""
            for lkey, _, x, y in fields(label):
                if lkey in (NAME_KEY, VALUE_KEY):
                    text = label[x:y].decode("utf-8", "replace")
                    name, value = (text, value) if lkey == NAME_KEY else (name, text)
            out[name] = value
        return out


def cut_request(body: bytes) -> RequestParts:
    """``body`` (an uncompressed ``WriteRequest``) cut at its fields; ValueError if malformed."""
    spans: list[tuple[int, int]] = []
    rest = bytearray()
    interleaved = False
    found = fields(body)
    ends = [at for _, at, _, _ in found[1:]] + [len(body)]  # a field ends where the next starts
    for (key, start, _, _), end in zip(found, ends, strict=True):
        if key == SERIES_KEY:
            interleaved = interleaved or bool(spans and spans[-1][1] != start)
            spans.append((start, end))
        else:
            rest += body[start:end]
    return RequestParts(body, spans, bytes(rest), interleaved)


def cut_payload(payload: bytes) -> RequestParts:
    """A batch payload decompressed and cut; ValueError when it is not a snappy ``WriteRequest``."""
    try:
        body = bytes(cramjam.snappy.decompress_raw(payload))
    except cramjam.DecompressionError as exc:
        raise ValueError(f"payload is not snappy block data: {exc}") from None
    return cut_request(body)
