"""`InformerPool`: one shared informer per distinct key, reference counted."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from openagent.kube.informer import Informer, InformerKey, InformerOptions
from openagent.telemetry import get_logger

if TYPE_CHECKING:
    from openagent.kube.client import KubeClient

log = get_logger("kube")


@dataclass(slots=True)
class _Entry:
    informer: Informer
    task: asyncio.Task[None]
    refs: int = 0


class InformerPool:
    """Hands out informers; targets that need the same key share one list+watch.

    `acquire` starts an informer for a new key (it runs in the background and
    never blocks the caller; wait on ``informer.synced`` if needed), and
    `release` stops it when its last user lets go.
    """

    def __init__(self, client: KubeClient, options: InformerOptions | None = None) -> None:
        self.client = client
        self.options = options
        self._entries: dict[InformerKey, _Entry] = {}
        self._stopping: set[asyncio.Task[None]] = set()

    def acquire(self, key: InformerKey) -> Informer:
        """The informer for ``key``, started if new; each call needs one `release`."""
        entry = self._entries.get(key)
        if entry is None:
            informer = Informer(self.client, key, self.options)
            task = asyncio.get_running_loop().create_task(informer.run(), name=f"informer {key}")
            entry = self._entries[key] = _Entry(informer, task)
            log.info("informer started", informer=str(key))
        entry.refs += 1
        return entry.informer

    def release(self, key: InformerKey) -> None:
        """Drop one reference; the last one stops the informer (KeyError if none is held)."""
        entry = self._entries.get(key)
        if entry is None:
            raise KeyError(f"no informer for {key} is held; release without acquire")
        entry.refs -= 1
        if entry.refs > 0:
            return
        del self._entries[key]
        entry.task.cancel()
        self._stopping.add(entry.task)
        entry.task.add_done_callback(self._stopping.discard)
        log.info("informer stopped", informer=str(key))

    def get(self, key: InformerKey) -> Informer | None:
        """The running informer for ``key``, without taking a reference."""
        entry = self._entries.get(key)
        return entry.informer if entry else None

    def __len__(self) -> int:
        return len(self._entries)

    async def close(self) -> None:
        """Stop every informer and wait until they have ended."""
        tasks = [e.task for e in self._entries.values()] + list(self._stopping)
        self._entries.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def status(self) -> list[dict[str, Any]]:
        """Per informer: key, users, synced, objects, error, last event, resourceVersion."""
        rows = []
        for key, entry in self._entries.items():
            inf = entry.informer
            rows.append(
                {
                    "key": str(key),
                    "resource": key.resource,
                    "namespace": key.namespace,
                    "label_selector": key.label_selector,
                    "field_selector": key.field_selector,
                    "users": entry.refs,
                    "synced": inf.synced.is_set(),
                    "objects": len(inf.objects),
                    "error": inf.error,
                    "last_event": inf.last_event,
                    "resource_version": inf.resource_version,
                }
            )
        return rows
