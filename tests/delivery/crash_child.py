"""A process that uses the delivery layer with a spool, for the crash test.

``python -m tests.delivery.crash_child fill URL SPOOL COUNT`` submits batches
0..COUNT-1 (straight to the spool: no memory queue), prints ``ready`` and
waits to be killed. ``... replay URL SPOOL 0`` delivers what the spool holds,
shuts down cleanly and prints its delivery counters as one JSON line. With a
fifth argument ``group``, the sink is a confirming one that takes groups of
5 batches and, in ``fill`` mode, writes them but never confirms.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import orjson

from openagent.delivery import Delivery, DeliveryOptions
from openagent.delivery.metrics import DROP_REASONS
from openagent.sinks.base import Sink
from openagent.telemetry import setup_logging
from tests.delivery.confirming import ConfirmingHttpSink
from tests.delivery.support import HttpSink, metric, result

NAME = "crash"


async def main(mode: str, url: str, spool: Path, count: int, kind: str) -> None:
    options = DeliveryOptions(
        memory_queue_bytes=0, spool_dir=spool, backoff_initial=0.05, backoff_max=0.2
    )
    sink: Sink = HttpSink(NAME, url, timeout=60.0)
    if kind == "group":
        sink = ConfirmingHttpSink(NAME, url, confirm_batches=5, hang=mode == "fill")
    d = Delivery([sink], options)
    await d.start()
    if mode == "fill":
        for i in range(count):
            d.submit(result(i))
        print("ready", flush=True)
        await asyncio.Event().wait()
    assert await d.lane(NAME).drain(30), "spool not drained"
    await d.close(5.0)
    counters = {
        "sent": metric("openagent_delivery_samples_sent_total", sink=NAME),
        "replayed": metric("openagent_delivery_replayed_samples_total", sink=NAME),
        "dropped": {
            r: metric("openagent_delivery_samples_dropped_total", sink=NAME, reason=r)
            for r in DROP_REASONS
        },
    }
    print(orjson.dumps(counters).decode(), flush=True)


if __name__ == "__main__":
    setup_logging("info", "json")
    kind = sys.argv[5] if len(sys.argv) > 5 else "single"
    asyncio.run(main(sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4]), kind))
