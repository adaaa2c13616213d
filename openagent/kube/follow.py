"""Follow one shared informer: look at what it holds now, and again after every change.

The ConfigMap config source and shard membership each watch one key and, on
any event or failure of its informer, look at the whole cache again (a
coalescing "dirty" flag, so a burst of events costs one look). This is that
loop, once: it acquires the informer from the pool, runs until cancelled,
never lets a failed look end it, and releases the informer when it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from openagent.kube.informer import Informer, InformerKey
from openagent.kube.pool import InformerPool
from openagent.telemetry import get_logger

log = get_logger("kube")


async def follow(
    pool: InformerPool,
    key: InformerKey,
    look: Callable[[Informer], Awaitable[None]],
    failed: str,
    **context: Any,
) -> None:
    """Call ``look(informer)`` now and after each event or failure, until cancelled.

    An exception from ``look`` is logged with ``failed`` and ``context`` and the
    loop goes on: a bug in one look must not end the watch.
    """
    informer = pool.acquire(key)
    dirty = asyncio.Event()
    unsubscribe = informer.subscribe(lambda _type, _old, _new: dirty.set())
    unsubscribe_failures = informer.subscribe_failures(lambda _error: dirty.set())
    dirty.set()
    try:
        while True:
            await dirty.wait()
            dirty.clear()
            try:
                await look(informer)
            except Exception:
                log.exception(failed, **context)
    finally:
        unsubscribe()
        unsubscribe_failures()
        with contextlib.suppress(KeyError):  # the cluster was closed first
            pool.release(key)
