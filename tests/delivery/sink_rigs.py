"""The three real sinks, each with a real destination it can reach or not, and what it took.

* ``jsonl``: a file; unreachable is a directory that does not exist;
* ``remote_write``: a loopback remote-write receiver that accepts (204) or
  rejects (400); unreachable is a closed port;
* ``whatap``: the Whatap collector emulator; unreachable is a closed port.

`Rig.received` counts the samples the destination took, by its own
reading: JSON lines, decoded remote-write samples, OpenMx records.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from pathlib import Path

from benchmarks.whatap_collector import FAKE_LICENSE, Collector
from openagent.model import ScrapeResult, Series
from openagent.sinks.base import Sink
from openagent.sinks.jsonl import JsonlSink
from openagent.sinks.remote_write import RemoteWriteOptions, RemoteWriteSink
from openagent.sinks.whatap.session import Session
from openagent.sinks.whatap.sink import WhatapOptions, WhatapSink, build_whatap_sink
from tests.sinks.remote_write_support import Receiver, decode_payload

SINKS = ("jsonl", "remote_write", "whatap")


@dataclass
class Rig:
    """A sink and how many samples its destination took so far."""

    sink: Sink
    received: Callable[[], int]


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def rig(
    kind: str, tmp_path: Path, *, up: bool = True, status: int = 204, max_pack: int = 0
) -> AsyncIterator[Rig]:
    """The sink ``kind`` towards a destination that is ``up`` or not.

    ``status`` is the remote-write receiver's answer; ``max_pack`` the Whatap
    session's send limit (0: the default).
    """
    if kind == "jsonl":
        os.makedirs(tmp_path, exist_ok=True)
        path = (tmp_path if up else tmp_path / "missing-dir") / "out.jsonl"

        def lines() -> int:
            return len(path.read_bytes().splitlines()) if path.exists() else 0

        yield Rig(JsonlSink(str(path)), lines)
    elif kind == "remote_write":
        async with Receiver(status=status) as rx:
            url = rx.url if up else f"http://127.0.0.1:{closed_port()}/api/v1/write"
            sink = RemoteWriteSink(RemoteWriteOptions(url, timeout=1.0, max_batch_delay=0))

            def samples() -> int:
                taken = [r for r in rx.requests if status < 300]
                return sum(len(s.samples) for r in taken for s in decode_payload(r.body))

            yield Rig(sink, samples)
    else:
        async with Collector(drain_timeout=3.0) as collector:
            options = WhatapOptions(
                license=FAKE_LICENSE,
                hosts=("127.0.0.1",),
                port=collector.port if up else closed_port(),
                identity_env={"WHATAP_ONAME": "ledger-test"},
                connect_timeout=0.3,
                timeout=5.0,
            )
            sink = build_whatap_sink(options)
            if max_pack:
                config = replace(sink.session.config, max_pack_bytes=max_pack)
                sink = WhatapSink(Session(config, commands=None), connect_wait=0.3)
            yield Rig(sink, lambda: collector.received.record_count)


def results(count: int, series: int, *, stale: int = 2, first: int = 0) -> list[ScrapeResult]:
    """``count`` results of ``series`` distinct series each (values count up), every one
    with ``stale`` stale markers."""
    out = []
    for r in range(first, first + count):
        made = [Series("ledger_metric", (("r", str(r)), ("i", str(i)))) for i in range(series)]
        gone = [Series("ledger_gone", (("r", str(r)), ("i", str(i)))) for i in range(stale)]
        out.append(
            ScrapeResult(
                target_id=f"t{r % 3}",
                job="ledger",
                instance="127.0.0.1:1",
                url="http://127.0.0.1:1/metrics",
                timestamp_ms=1_764_300_000_000 + r * 1000,
                series=made,
                values=[float(r * 1000 + i) for i in range(series)],
                stale=gone,
            )
        )
    return out
