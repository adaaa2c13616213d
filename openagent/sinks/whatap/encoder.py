"""Scrape results -> OpenMx packs: the Whatap sink's encoder (PROTOCOL §3.1-3.3, §7).

A record is the series name, its labels in wire order (the exposition's labels
after metric relabelling, then the target labels, as `Series.labels` already
holds them) followed by ``pcode=<decimal pcode>``, the timestamp in ms and the
value as f64. Unlike the Go agent, no key is ever written twice: ``instance``
and ``node`` are target labels already, and an exposed ``pcode`` label is kept
as ``exported_pcode``.

Hot path: the series part of a record is ``00 ‖ Text name`` followed by
``byte n ‖ labels`` (``n`` counting the pcode label). The label part is
encoded once per label tuple and shared: the scrape layer gives every series
of an exposed label block one tuple, and the series slot the delivery layer
gave the sink holds a reference to it (b"" when the series cannot be sent).
The name part is kept once per name. The pcode label (the same for every
record), timestamp and value are one precompiled ``struct`` call. A sample
then costs a slot read, a dict lookup, that call and three list appends;
each pack is joined once. Sharing the label part instead of caching the
whole series part per series saves about 300 bytes per dcgm series for one
more append and lookup (about 50 ns; ``benchmarks/series_memory.py``). The
cached bytes do not depend on the pcode's value. NaN and ±Inf samples are reported lost with reason
``non_finite`` (OpenMx carries no such values, and the Go agent drops them
too); stale markers are not sent (OpenMx has no staleness) and are counted
apart. A series with more labels than the one-byte count can hold is lost
with reason ``too_many_labels``, one whose text is not UTF-8 with
``unencodable``. The delivery layer books every loss in its ledger.

Native histograms go in OpenMxHistogramPacks (0x1607) after the OpenMxPacks
(`openagent.sinks.whatap.histograms`). Every kind of pack is cut to the
record count and to the collector's pack size limit (`packing`); a record
that alone is above the limit is lost with reason ``oversize``, its metric
named in the log.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from prometheus_client import Counter

from openagent.model import Labels, ScrapeResult, Series
from openagent.sinks.base import Batch, Encoded, Loss
from openagent.sinks.whatap.codec import I16, blob_bytes, text_bytes
from openagent.sinks.whatap.compress import make_gzip
from openagent.sinks.whatap.header import (
    OPEN_MX_HELP_PACK,
    OPEN_MX_HISTOGRAM_PACK,
    OPEN_MX_PACK,
    PackHeader,
)
from openagent.sinks.whatap.helpmeta import HelpTracker
from openagent.sinks.whatap.histograms import histogram_records
from openagent.sinks.whatap.openmx import MAX_LABELS, MAX_RECORDS, OpenMxEndpointPack
from openagent.sinks.whatap.packing import PackFitter
from openagent.sinks.whatap.pcode import rename_pcode
from openagent.telemetry import REGISTRY, Throttle, get_logger

log = get_logger("whatap")

STALE_SKIPPED = Counter(
    "openagent_whatap_stale_markers_skipped",
    "Staleness markers not sent to Whatap: OpenMx has no staleness.",
    registry=REGISTRY,
)
#: Why the encoder may lose samples: NaN or ±Inf values, over 255 labels (the count is
#: one byte), text that is not UTF-8, a record that alone is above the pack size limit.
LOSS_REASONS = ("non_finite", "too_many_labels", "unencodable", "oversize")
#: The collector's pack size limit: the Go agent's ``net_send_max_bytes`` (PROTOCOL §6.4).
MAX_PACK_BYTES = 5 * 1024 * 1024

#: Unsendable series remembered with their reason before the memory starts over.
UNSENDABLE_LIMIT = 10_000
#: Entries of the label-set, label-pair and name encoding caches before they start over.
TEXT_CACHE_LIMIT = 200_000
#: Measured on DCGM records (benchmarks/whatap_encode_bench.py): stdlib zlib at level 1
#: costs 0.6-1.4 µs per record against 1.8-2.8 µs at Go's level 6, for 10-20 % more bytes;
#: zlib-ng at level 1 about 0.2 µs (see `openagent.sinks.whatap.compress`).
DEFAULT_GZIP_LEVEL = 1

_PACK_TYPE = I16.pack(OPEN_MX_PACK)
#: List items per record in `OpenMxEncoder._records`: name part, label part, sample part.
_PARTS = 3
_HELP_PACK_TYPE = I16.pack(OPEN_MX_HELP_PACK)
_HISTOGRAM_PACK_TYPE = I16.pack(OPEN_MX_HISTOGRAM_PACK)


@dataclass(frozen=True, slots=True)
class PackIdentity:
    """Header fields of every pack: pcode, oid, okind and onode (v9 header when either of
    the last two is non-zero)."""

    pcode: int
    oid: int
    okind: int = 0
    onode: int = 0

    def header(self, time_ms: int) -> PackHeader:
        """The pack header at ``time_ms``."""
        return PackHeader(self.pcode, self.oid, time_ms, self.okind, self.onode)


class OpenMxEncoder:
    """Turns `ScrapeResult` objects into serialized OpenMxHelpPacks and OpenMxPacks.

    ``help_interval`` (seconds) is how often a target's help records are re-sent
    when nothing changed. ``gzip_backend`` is ``auto`` (fastest installed, see
    `openagent.sinks.whatap.compress`) or a backend name. ``max_pack_bytes`` is the
    largest pack the collector takes.
    """

    def __init__(
        self,
        identity: PackIdentity,
        *,
        help_interval: float = 600.0,
        records_per_pack: int = 1000,
        gzip_level: int = DEFAULT_GZIP_LEVEL,
        endpoint_metering: bool = False,
        gzip_backend: str = "auto",
        max_pack_bytes: int = MAX_PACK_BYTES,
    ) -> None:
        if not 1 <= records_per_pack <= MAX_RECORDS:
            raise ValueError(f"records_per_pack must be 1..{MAX_RECORDS}, got {records_per_pack}")
        if help_interval <= 0:
            raise ValueError(f"help_interval must be positive, got {help_interval}")
        self.identity = identity
        self.records_per_pack = records_per_pack
        self.endpoint_metering = endpoint_metering
        self.gzip_backend, self._gzip = make_gzip(gzip_level, gzip_backend)
        self.gzip_level = gzip_level
        self._fitter = PackFitter(
            self._gzip, max_bytes=max_pack_bytes, records_per_pack=records_per_pack
        )
        self._help = HelpTracker(int(help_interval * 1000))
        self._endpoints: dict[str, str] = {}
        self._pcode_label = identity.pcode > 0
        # Only an encoder that writes the pcode label (every real one: a license with
        # pcode 0 is refused) caches on the series; the slot holds one variant.
        self._slot: str | None = None
        self._cache_on_series = False
        self._unsendable_reason: dict[Series, str] = {}
        tail = text_bytes("pcode") + text_bytes(str(identity.pcode)) if self._pcode_label else b""
        # pcode label ‖ i64 timestamp ‖ f64 value, in one call
        self._tail = tail
        self._pack = struct.Struct(f">{len(tail)}sqd").pack
        self._throttle = Throttle(60.0)
        # encoded label blocks (or why they cannot be sent), by label set; Text encodings
        # of label pairs; ``00 ‖ Text name`` by metric name (b"" when it cannot be sent)
        self._caches: tuple[
            dict[Labels, bytes | tuple[str, str]], dict[tuple[str, str], bytes], dict[str, bytes]
        ] = ({}, {}, {})
        self._cache_limit = TEXT_CACHE_LIMIT
        #: Stale markers not sent (OpenMx has no staleness); not a loss.
        self.stale_skipped = 0

    # -- public ---------------------------------------------------------------

    def use_series_slot(self, slot: str | None) -> None:
        """Cache the series part of records in this `Series` attribute (None: no cache)."""
        self._slot = slot
        self._cache_on_series = self._pcode_label and slot is not None

    def encode(self, result: ScrapeResult, now_ms: int) -> Encoded:
        """Help packs that are due, then OpenMxPacks, then OpenMxHistogramPacks, each of at
        most ``records_per_pack`` records and ``max_pack_bytes`` bytes, and the samples (one
        per histogram) that cannot be sent.

        A ``final`` result (the target went away) sends nothing and forgets the target.
        """
        if result.stale:
            self.stale_skipped += len(result.stale)
            STALE_SKIPPED.inc(len(result.stale))
        if result.final:
            self.forget_target(result.target_id)
            return Encoded([])
        if self.endpoint_metering:
            self._endpoints[result.target_id] = result.url
        help_records = self._help.due(result.target_id, result.metadata, now_ms)
        batches = [Batch(p, 0, now_ms) for p in self._help_packs(help_records, now_ms)]
        lost: dict[str, int] = {}
        parts, stamps = self._records(result, lost)
        header = self.identity.header(now_ms).to_bytes()
        if parts:
            endpoint = text_bytes(result.url) if self.endpoint_metering and result.url else b""
            head = _PACK_TYPE + header
            batches += self._fitter.batches(
                "metric", head, parts, per=_PARTS, tail=endpoint, stamps=stamps,
                default_ms=result.timestamp_ms, lost=lost,
            )  # fmt: skip
        if result.histograms:
            warn = self._warn
            records, times = histogram_records(result.histograms, self.identity.pcode, lost, warn)
            if records:
                head = _HISTOGRAM_PACK_TYPE + header
                batches += self._fitter.batches(
                    "histogram", head, records, stamps=times, default_ms=now_ms, lost=lost
                )
        return Encoded(batches, tuple(Loss(reason, n) for reason, n in lost.items()))

    def help_packs(self, now_ms: int) -> list[bytes]:
        """Help packs for every family currently known (sent after every (re)connect)."""
        return self._help_packs(self._help.all_records(), now_ms)

    def forget_target(self, target_id: str) -> None:
        """A target went away: drop its help state and endpoint."""
        self._help.forget(target_id)
        self._endpoints.pop(target_id, None)

    def endpoint_pack(self, now_ms: int) -> bytes | None:
        """An OpenMxEndpointPack of the URLs of current targets (endpoint metering), if any."""
        if not self._endpoints:
            return None
        urls = sorted(set(self._endpoints.values()))
        return OpenMxEndpointPack(self.identity.header(now_ms), urls).to_bytes()

    # -- records --------------------------------------------------------------

    def _records(
        self, result: ScrapeResult, lost: dict[str, int]
    ) -> tuple[list[bytes], list[int] | None]:
        """Encoded records of a result as three parts each (name, labels, sample),
        and the records' timestamps when they are not all the same; samples that cannot
        be sent are added to ``lost`` by reason.

        List appends and one join per pack are cheaper than one concatenation per record.
        """
        cached = self._cache_on_series
        slot = self._slot or ""
        get = getattr
        pack = self._pack
        tail = self._tail
        parts: list[bytes] = []
        add = parts.append
        non_finite = 0
        stamps_in = result.timestamps
        stamps: list[int] | None = None
        n = len(result.series)
        if len(result.values) != n or (stamps_in is not None and len(stamps_in) != n):
            raise ValueError(
                f"scrape result of {result.url} has {n} series but {len(result.values)} values"
                f" and {'no' if stamps_in is None else len(stamps_in)} timestamps"
            )
        names_get = self._caches[2].get
        block: bytes | None
        if stamps_in is None:
            ts = result.timestamp_ms
            for s, v in zip(result.series, result.values, strict=False):
                if v - v:  # NaN or ±Inf
                    non_finite += 1
                    continue
                block = get(s, slot) if cached else None
                if not block and not (block := self._slow_block(s, block, lost)):
                    continue
                name = names_get(s.name)
                if not name and not (name := self._slow_name(s, lost)):
                    continue
                add(name)
                add(block)
                add(pack(tail, ts, v))
        else:
            stamps = []
            keep = stamps.append
            for s, v, ts in zip(result.series, result.values, stamps_in, strict=False):
                if v - v:
                    non_finite += 1
                    continue
                block = get(s, slot) if cached else None
                if not block and not (block := self._slow_block(s, block, lost)):
                    continue
                name = names_get(s.name)
                if not name and not (name := self._slow_name(s, lost)):
                    continue
                add(name)
                add(block)
                add(pack(tail, ts, v))
                keep(ts)
        if non_finite:
            lost["non_finite"] = non_finite
        return parts, stamps

    def _slow_block(self, s: Series, cached: bytes | None, lost: dict[str, int]) -> bytes:
        """The label part of ``s``'s records when its slot does not hold it yet (encoded or
        shared now), or b"" for a series that cannot be sent (its sample is added to
        ``lost``)."""
        block = self._labels_of(s) if cached is None else cached
        if not block:
            reason = self._unsendable_reason.get(s, "too_many_labels")
            lost[reason] = lost.get(reason, 0) + 1
        return block

    def _labels_of(self, s: Series) -> bytes:
        """Encode or share the label part of ``s``'s records and keep it in the series slot
        (b"" when it cannot be sent).

        Label sets and label pairs repeat across series (dcgm-exporter repeats one
        label block per GPU in every family), so their encodings are cached, each
        cache bounded.
        """
        caches = self._caches
        if sum(len(c) for c in caches) > self._cache_limit:
            for c in caches:
                c.clear()
        blocks = caches[0]
        block = blocks.get(s.labels)
        if block is None:
            block = blocks[s.labels] = self._block(s.labels)
        if isinstance(block, tuple):
            return self._unsendable(s, *block)
        if self._cache_on_series:
            setattr(s, self._slot or "", block)
        return block

    def _slow_name(self, s: Series, lost: dict[str, int]) -> bytes:
        """``00 ‖ Text name`` of ``s`` (kept per name), or b"" when the name cannot be
        encoded (the sample is added to ``lost``)."""
        names = self._caches[2]
        name = names.get(s.name)
        if name is None:
            try:
                name = b"\x00" + _text(s.name)
            except UnicodeEncodeError as exc:
                self._unsendable(s, "unencodable", f"metric name: {exc}")
                name = b""
            names[s.name] = name
        if not name:
            lost["unencodable"] = lost.get("unencodable", 0) + 1
        return name

    def _block(self, labels: Labels) -> bytes | tuple[str, str]:
        """``byte n ‖ (Text key ‖ Text value)*`` with the pcode label counted (it is
        written with the sample), or (reason, detail) when the labels cannot be sent."""
        n = len(labels) + self._pcode_label
        if n > MAX_LABELS:
            return ("too_many_labels", f"{n} labels, at most {MAX_LABELS}")
        pairs: Sequence[tuple[str, str]] = labels
        if self._pcode_label:
            for k, _ in labels:
                if k == "pcode":
                    pairs = rename_pcode(labels)
                    break
        texts = self._caches[1]
        parts = [bytes((n,))]
        try:
            for pair in pairs:
                encoded = texts.get(pair)
                if encoded is None:
                    encoded = texts[pair] = _text(pair[0]) + _text(pair[1])
                parts.append(encoded)
        except UnicodeEncodeError as exc:
            return ("unencodable", f"label: {exc}")
        return b"".join(parts)

    def _unsendable(self, s: Series, reason: str, detail: str) -> bytes:
        """Mark ``s`` as never sendable (cached) and log it, at most once a minute per reason."""
        if self._cache_on_series:
            setattr(s, self._slot or "", b"")
        if len(self._unsendable_reason) >= UNSENDABLE_LIMIT:
            self._unsendable_reason.clear()
        self._unsendable_reason[s] = reason
        self._warn(reason, s.name, detail)
        return b""

    def _warn(self, reason: str, name: str, detail: str) -> None:
        """Log why a series cannot be sent, at most once a minute per reason."""
        if self._throttle.allow(reason):
            log.warning(
                "series not sent to Whatap",
                series=name,
                reason=reason,
                detail=detail,
                suppressed=self._throttle.take_suppressed(reason),
            )

    # -- packs ----------------------------------------------------------------

    def _help_packs(self, records: list[bytes], now_ms: int) -> list[bytes]:
        """Help packs of ``records``; a help record that alone is above the size limit is
        not sent (it is metadata, not a sample: only the log says so)."""
        if not records:
            return []
        head = _HELP_PACK_TYPE + self.identity.header(now_ms).to_bytes()
        return [b.payload for b in self._fitter.batches("help", head, records, default_ms=now_ms)]


def _text(s: str) -> bytes:
    """Text (§1.3) of ``s``: the common short case inline, the rest via the codec."""
    data = s.encode("utf-8", "surrogateescape")
    n = len(data)
    if 0 < n < 254:
        return bytes((n,)) + data
    return blob_bytes(data)
