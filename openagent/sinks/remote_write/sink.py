"""The Prometheus remote-write 1.0 sink.

``encode`` appends a result's samples, then a staleness marker for each of
its stale series, then its native histograms and a stale histogram for each
that vanished, to the open ``WriteRequest`` (see
`openagent.sinks.remote_write.prompb`). A request closes when it holds
``max_samples`` samples or ``max_bytes`` uncompressed bytes (a soft limit: it
may pass it by one chunk of at most `CHUNK` samples), or when it has been
open ``max_batch_delay`` seconds; the delivery layer calls ``flush`` on that
schedule. With ``max_batch_delay`` 0 nothing is held back: each ``encode``
returns all it appended. A closed request is compressed with the snappy
*block* format (receivers reject the framed one) and becomes a `Batch` whose
payload is the HTTP body, ready to spool. Every sample can be encoded, so
``encode`` reports no loss.

``send`` POSTs one batch (`openagent.sinks.remote_write.poster`) and
classifies the outcome for the delivery layer, which owns retries and the
spool: 2xx is done; a connection error, a timeout or a 5xx is retryable; 429
is retryable after the receiver's ``Retry-After``; a redirect is permanent
unless it is a 307/308 to the same origin (`redirects`); a 400 sends the
batch again in parts down to the series the receiver refuses, which alone
are lost (`splitting`, logged per target by `rejections`); any other 4xx is
permanent and carries the start of the receiver's answer. Basic auth, bearer
token files and TLS come from `openagent.httpauth`, as for scrapes, so
credential files and certificates are re-read when they change.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final

import cramjam

from openagent.httpauth import HTTPAuth
from openagent.model import ScrapeResult
from openagent.sinks.base import DELIVERED, Batch, Encoded, Loss, Sent
from openagent.sinks.remote_write.encodings import SeriesEncodings
from openagent.sinks.remote_write.options import RemoteWriteOptions, parse_receiver_url
from openagent.sinks.remote_write.poster import Poster
from openagent.sinks.remote_write.prompb import WriteRequestBuilder
from openagent.sinks.remote_write.rejections import RefusalLog
from openagent.sinks.remote_write.splitting import CONTENT_REFUSED, Split

#: Refused batches whose progress is kept for a retry (more than one if sends overlap).
RESUMABLE: Final = 4
#: Samples appended between two checks of the byte limit.
CHUNK: Final = 1000
#: Appends items ``i`` to ``j`` of a result's list to a request.
Append = Callable[[WriteRequestBuilder, int, int], None]


class RemoteWriteSink:
    """Sends samples to a Prometheus remote-write 1.0 receiver."""

    stale_markers = True
    native_histograms = True
    loss_reasons: tuple[str, ...] = ()

    def __init__(self, options: RemoteWriteOptions, *, auth: HTTPAuth | None = None) -> None:
        self.name = "remote_write"
        self.options = options
        self.url = parse_receiver_url(options.url)
        self.timeout = options.timeout
        self.max_samples = options.max_samples
        self.max_bytes = options.max_bytes
        self.max_batch_delay = options.max_batch_delay
        auth = auth if auth is not None else HTTPAuth()
        self._poster = Poster(self.url, options.timeout, auth, options.receiver)
        self._refusals = RefusalLog(self._poster.where)
        #: Refused batches being sent in parts, kept across a retryable failure.
        self._splits: list[Split] = []
        self._encodings = SeriesEncodings()
        self._builder = WriteRequestBuilder(self._encodings)
        self._opened = 0.0

    def use_series_slot(self, slot: str | None) -> None:
        """Keep a reference to each series' shared label encoding in ``slot``."""
        self._encodings.slot = slot

    # -- encoding --------------------------------------------------------------

    def encode(self, result: ScrapeResult) -> Encoded:
        """Append the result's samples, stale markers, native histograms and their stale
        markers; return the requests that filled up."""
        out: list[Batch] = []
        b = self._builder
        if b.samples and time.monotonic() - self._opened >= self.max_batch_delay:
            out.append(self._close())
        series, values, stamps = result.series, result.values, result.timestamps
        stale, ts_ms = result.stale, result.timestamp_ms

        def add_samples(b: WriteRequestBuilder, i: int, j: int) -> None:
            whole = i == 0 and j == len(series)
            part = series if whole else series[i:j]
            vals = values if whole else values[i:j]
            if stamps is None:
                b.add_samples(part, vals, ts_ms)
            else:
                b.add_timestamped(part, vals, stamps if whole else stamps[i:j])

        def add_stale(b: WriteRequestBuilder, i: int, j: int) -> None:
            b.add_stale(stale if i == 0 and j == len(stale) else stale[i:j], ts_ms)

        self._append(len(series), add_samples, out)
        self._append(len(stale), add_stale, out)
        hists, gone = result.histograms, result.stale_histograms
        self._append(len(hists), lambda b, i, j: b.add_histograms(hists[i:j]), out)
        self._append(len(gone), lambda b, i, j: b.add_stale_histograms(gone[i:j], ts_ms), out)
        if self.max_batch_delay == 0 and self._builder.samples:
            out.append(self._close())  # nothing is held back
        return Encoded(out)

    def _append(self, n: int, add: Append, out: list[Batch]) -> None:
        """Call ``add(builder, i, j)`` over ``range(n)`` in chunks, closing full requests."""
        i = 0
        while i < n:
            b = self._open()
            j = min(n, i + min(CHUNK, self.max_samples - b.samples))
            add(b, i, j)
            i = j
            if b.samples >= self.max_samples or len(b) >= self.max_bytes:
                out.append(self._close())

    def flush(self) -> list[Batch]:
        """Close the open request, if it holds anything."""
        return [self._close()] if self._builder.samples else []

    def _open(self) -> WriteRequestBuilder:
        if not self._builder.samples:
            self._opened = time.monotonic()
        return self._builder

    def _close(self) -> Batch:
        b, self._builder = self._builder, WriteRequestBuilder(self._encodings)
        payload = bytes(cramjam.snappy.compress_raw(b.buf))
        assert b.oldest_ms is not None
        return Batch(payload, b.samples, b.oldest_ms)

    # -- delivery --------------------------------------------------------------

    async def start(self) -> None:
        """Open the connection pool."""
        self._poster.session()

    async def send(self, batch: Batch) -> Sent:
        """POST one batch; a batch refused with 400 goes again in parts (`Split`), and only
        the series refused alone are lost. Raise `SinkError` (retryable or not) otherwise."""
        where = self._poster.where
        split = next((s for s in self._splits if s.payload == batch.payload), None)
        if split is None:
            answer = await self._poster.post(batch.payload)
            if answer.ok:
                return DELIVERED
            if answer.status != CONTENT_REFUSED:
                raise answer.error(where)
            try:
                split = Split.start(batch.payload, answer)
            except ValueError:
                raise answer.error(where) from None
            self._splits = [*self._splits, split][-RESUMABLE:]
        await split.run(self._poster.post, where)  # keeps its place when it raises
        self._splits = [s for s in self._splits if s is not split]
        self._refusals.report(split)
        lost = split.refused_samples()
        return Sent(Loss("rejected", lost)) if lost else DELIVERED

    async def close(self) -> None:
        """Close the connection pool (``flush`` first: nothing is sent from here)."""
        self._splits.clear()
        await self._poster.close()
