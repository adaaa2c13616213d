"""The object store: current state, one global resourceVersion, bounded history.

It plays etcd plus the apiserver's watch cache. Every mutation bumps one
global integer resourceVersion and is appended to the kind's history. The
history is bounded per kind (like the watch cache's per-resource ring
buffer); a watch or a paginated list that needs an event that is no longer
retained is answered with 410 Expired, with the watch cache's rule: a
resourceVersion ``N`` is too old when ``N < oldest - 1``, where ``oldest`` is
the first retained event, or the compaction point + 1 if nothing was evicted
since. `Store.compact` drops all history at once.

All methods are synchronous and must run on the event loop's thread; the
server's watch streams pick events up from per-watch queues.
"""

from __future__ import annotations

import asyncio
import builtins
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import orjson

from tests.kubefake.kinds import JSON, Kind, kind_of


class StoreError(Exception):
    """Base for the store's refusals; the message reads like the apiserver's."""


class NotFoundError(StoreError, KeyError):
    """The object does not exist."""

    def __str__(self) -> str:
        return str(self.args[0])


class AlreadyExistsError(StoreError):
    """An object with that name already exists."""


class ConflictError(StoreError):
    """The caller's resourceVersion or uid is not the stored one."""


def now_rfc3339() -> str:
    """The current time as Kubernetes writes timestamps (seconds, ``Z``)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Stored:
    """A stored object plus cached encodings and selectable fields."""

    __slots__ = ("_fields", "_full", "_item", "key", "kind", "obj", "rv")

    def __init__(self, kind: Kind, key: str, obj: JSON, rv: int) -> None:
        self.kind = kind
        self.key = key
        self.obj = obj
        self.rv = rv
        self._fields: dict[str, str] | None = None
        self._full: bytes | None = None
        self._item: bytes | None = None

    @property
    def namespace(self) -> str:
        """The namespace ("" for cluster-scoped kinds)."""
        return str(self.obj["metadata"].get("namespace", ""))

    @property
    def labels(self) -> Mapping[str, str]:
        """``metadata.labels`` (empty when absent)."""
        labels: Mapping[str, str] = self.obj["metadata"].get("labels") or {}
        return labels

    @property
    def fields(self) -> dict[str, str]:
        """The selectable fields (computed once)."""
        if self._fields is None:
            self._fields = self.kind.field_func(self.obj)
        return self._fields

    def full_json(self) -> bytes:
        """The object with kind and apiVersion, as a watch event or a get returns it."""
        if self._full is None:
            self._full = orjson.dumps(self.obj)
        return self._full

    def item_json(self) -> bytes:
        """The object without kind and apiVersion, as list items are served."""
        if self._item is None:
            item = {k: v for k, v in self.obj.items() if k not in ("kind", "apiVersion")}
            self._item = orjson.dumps(item)
        return self._item

    def with_rv(self, rv: int) -> Stored:
        """A copy whose metadata.resourceVersion is ``rv``."""
        obj = dict(self.obj)
        obj["metadata"] = {**self.obj["metadata"], "resourceVersion": str(rv)}
        return Stored(self.kind, self.key, obj, rv)


@dataclass(frozen=True, slots=True)
class Event:
    """One change: ``obj`` is the new state (for DELETED: last state, new RV)."""

    type: str
    rv: int
    obj: Stored
    prev: Stored | None


class Sink(Protocol):
    """Anything that receives a kind's events as they happen (a watch stream)."""

    def push(self, event: Event) -> None:
        """Take one event; must not block."""


@dataclass(slots=True)
class KindState:
    """Objects, history and subscribers of one kind."""

    objects: dict[str, Stored] = field(default_factory=dict)
    history: deque[Event] = field(default_factory=deque)
    base_rv: int = 0
    evicted: bool = False
    sinks: set[Sink] = field(default_factory=set)
    _sorted: list[str] | None = None

    def sorted_keys(self) -> list[str]:
        """Keys in storage order (byte order of ``ns/name``), cached until a key changes."""
        if self._sorted is None:
            self._sorted = sorted(self.objects)
        return self._sorted

    def oldest_watchable(self) -> int:
        """The lowest resourceVersion a watch or a list snapshot can start from."""
        if self.evicted and self.history:
            return self.history[0].rv - 1
        return self.base_rv


def _copy(obj: JSON) -> JSON:
    copied: JSON = orjson.loads(orjson.dumps(obj))
    return copied


class Store:
    """In-memory objects of every served kind with watch-cache semantics."""

    def __init__(self, history_size: int = 10_000) -> None:
        if history_size < 1:
            raise ValueError(f"history_size must be at least 1, got {history_size}")
        self.history_size = history_size
        self._rv = 1
        self._compacted_rv = 1
        self._kinds: dict[str, KindState] = {}
        self._rv_waiters: builtins.list[tuple[int, asyncio.Future[None]]] = []

    # -- reading ---------------------------------------------------------

    @property
    def resource_version(self) -> int:
        """The current global resourceVersion."""
        return self._rv

    def state(self, kind: Kind) -> KindState:
        """The mutable state of one kind (created on first use)."""
        st = self._kinds.get(kind.kind)
        if st is None:
            st = self._kinds[kind.kind] = KindState(base_rv=self._compacted_rv)
        return st

    def get(self, kind: str, namespace: str | None, name: str) -> JSON | None:
        """A copy of the object, or None."""
        k = kind_of(kind)
        stored = self.state(k).objects.get(k.key(namespace, name))
        return _copy(stored.obj) if stored else None

    def list(self, kind: str, namespace: str | None = None) -> list[JSON]:
        """Copies of all objects of a kind (optionally one namespace), in key order."""
        k = kind_of(kind)
        st = self.state(k)
        return [
            _copy(st.objects[key].obj)
            for key in st.sorted_keys()
            if namespace is None or st.objects[key].namespace == namespace
        ]

    def count(self, kind: str) -> int:
        """How many objects of a kind exist."""
        return len(self.state(kind_of(kind)).objects)

    # -- writing ---------------------------------------------------------

    def create(self, obj: JSON) -> JSON:
        """Store a new object (fills uid, creationTimestamp, resourceVersion); returns a copy."""
        return _copy(self._create(_copy(obj)).obj)

    def create_many(self, objs: Iterable[JSON]) -> int:
        """Create many objects, each its own write and event; returns the count."""
        n = 0
        for obj in objs:
            self._create(_copy(obj))
            n += 1
        return n

    def update(self, obj: JSON) -> JSON:
        """Replace an existing object; a no-op update writes nothing (as upstream)."""
        new = _copy(obj)
        k, namespace, name = self._identify(new)
        old = self._existing(k, namespace, name)
        meta = new["metadata"]
        old_meta = old.obj["metadata"]
        if meta.get("resourceVersion") not in (None, "", old_meta["resourceVersion"]):
            raise ConflictError(
                f'Operation cannot be fulfilled on {k.group_resource} "{name}": the object '
                "has been modified; please apply your changes to the latest version and try again"
            )
        if meta.get("uid") not in (None, "", old_meta["uid"]):
            raise ConflictError(
                f"Precondition failed: UID in precondition: {meta['uid']}, UID in object meta: "
                f"{old_meta['uid']}"
            )
        meta["uid"] = old_meta["uid"]
        meta["creationTimestamp"] = old_meta["creationTimestamp"]
        meta["resourceVersion"] = old_meta["resourceVersion"]
        if new == old.obj:
            return _copy(old.obj)
        rv = self._bump()
        meta["resourceVersion"] = str(rv)
        stored = Stored(k, old.key, new, rv)
        self.state(k).objects[old.key] = stored
        self._record(k, Event("MODIFIED", rv, stored, old))
        return _copy(new)

    def modify(
        self, kind: str, namespace: str | None, name: str, change: Callable[[JSON], None]
    ) -> JSON:
        """Apply ``change`` to a copy of the object and store it as an update."""
        k = kind_of(kind)
        obj = _copy(self._existing(k, namespace, name).obj)
        change(obj)
        return self.update(obj)

    def patch_labels(
        self, kind: str, namespace: str | None, name: str, labels: Mapping[str, str | None]
    ) -> JSON:
        """Merge ``labels`` into metadata.labels; a None value removes the label."""

        def change(obj: JSON) -> None:
            current = obj["metadata"].setdefault("labels", {})
            for key, value in labels.items():
                if value is None:
                    current.pop(key, None)
                else:
                    current[key] = value

        return self.modify(kind, namespace, name, change)

    def mark_deleting(
        self, kind: str, namespace: str | None, name: str, grace_seconds: int = 30
    ) -> JSON:
        """Set deletionTimestamp, as a graceful DELETE does before the object goes."""

        def change(obj: JSON) -> None:
            obj["metadata"]["deletionTimestamp"] = now_rfc3339()
            obj["metadata"]["deletionGracePeriodSeconds"] = grace_seconds

        return self.modify(kind, namespace, name, change)

    def delete(self, kind: str, namespace: str | None, name: str) -> JSON:
        """Remove an object; watchers get its last state with a new resourceVersion."""
        k = kind_of(kind)
        old = self._existing(k, namespace, name)
        st = self.state(k)
        del st.objects[old.key]
        st._sorted = None
        rv = self._bump()
        gone = old.with_rv(rv)
        self._record(k, Event("DELETED", rv, gone, old))
        return _copy(gone.obj)

    def compact(self) -> int:
        """Drop all retained history: older resourceVersions now get 410. Returns the RV."""
        self._compacted_rv = self._rv
        for st in self._kinds.values():
            st.history.clear()
            st.base_rv = self._rv
            st.evicted = False
        return self._rv

    # -- watch support ---------------------------------------------------

    def subscribe(self, kind: Kind, sink: Sink) -> None:
        """Deliver every future event of ``kind`` to ``sink``."""
        self.state(kind).sinks.add(sink)

    def unsubscribe(self, kind: Kind, sink: Sink) -> None:
        """Stop delivering to ``sink``."""
        self.state(kind).sinks.discard(sink)

    def events_after(self, kind: Kind, rv: int) -> builtins.list[Event] | None:
        """Retained events with resourceVersion > ``rv``; None if some were dropped."""
        st = self.state(kind)
        if rv < st.oldest_watchable():
            return None
        return [ev for ev in st.history if ev.rv > rv]

    def snapshot(self, kind: Kind, rv: int) -> dict[str, Stored] | None:
        """The objects as they were at ``rv``; None when history no longer reaches it."""
        st = self.state(kind)
        if rv >= self._rv:
            return st.objects
        events = self.events_after(kind, rv)
        if events is None:
            return None
        if not events:
            return st.objects
        snap = dict(st.objects)
        for ev in reversed(events):
            if ev.type == "ADDED":
                snap.pop(ev.obj.key, None)
            elif ev.prev is not None:
                snap[ev.obj.key] = ev.prev
        return snap

    async def wait_for_rv(self, rv: int, within: float) -> bool:
        """Wait until the store reaches ``rv``; False if it has not within ``within`` seconds."""
        if self._rv >= rv:
            return True
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._rv_waiters.append((rv, fut))
        try:
            await asyncio.wait_for(fut, within)
        except TimeoutError:
            return False
        finally:
            self._rv_waiters = [(r, f) for r, f in self._rv_waiters if f is not fut]
        return True

    # -- internals -------------------------------------------------------

    def _bump(self) -> int:
        self._rv += 1
        if self._rv_waiters:
            for rv, fut in self._rv_waiters:
                if rv <= self._rv and not fut.done():
                    fut.set_result(None)
        return self._rv

    def _identify(self, obj: JSON) -> tuple[Kind, str | None, str]:
        if not isinstance(obj, dict):
            raise TypeError(f"a Kubernetes object must be a dict, got {type(obj).__name__}")
        if "kind" not in obj:
            raise ValueError(f"object has no 'kind': {str(obj)[:120]}")
        k = kind_of(str(obj["kind"]))
        api_version = obj.setdefault("apiVersion", k.api_version)
        if api_version != k.api_version:
            raise ValueError(
                f"{k.kind} must have apiVersion {k.api_version!r}, got {api_version!r}"
            )
        meta = obj.get("metadata")
        if not isinstance(meta, dict) or not meta.get("name"):
            raise ValueError(f"{k.kind} has no metadata.name: {str(obj)[:120]}")
        name = str(meta["name"])
        namespace = meta.get("namespace")
        if k.namespaced and not namespace:
            raise ValueError(f"{k.kind} {name!r} needs metadata.namespace")
        if not k.namespaced and namespace:
            raise ValueError(f"{k.kind} {name!r} is cluster-scoped but has namespace {namespace!r}")
        if k.kind == "Pod":
            containers = (obj.get("spec") or {}).get("containers")
            if not containers or not all(isinstance(c, dict) and c.get("name") for c in containers):
                raise ValueError(
                    f"Pod {namespace}/{name}: spec.containers must be a non-empty list of "
                    "containers with a name (clients reject pods without them)"
                )
        return k, namespace, name

    def _existing(self, k: Kind, namespace: str | None, name: str) -> Stored:
        stored = self.state(k).objects.get(k.key(namespace, name))
        if stored is None:
            raise NotFoundError(f'{k.group_resource} "{name}" not found')
        return stored

    def _create(self, obj: JSON) -> Stored:
        k, namespace, name = self._identify(obj)
        st = self.state(k)
        key = k.key(namespace, name)
        if key in st.objects:
            raise AlreadyExistsError(f'{k.group_resource} "{name}" already exists')
        meta = obj["metadata"]
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", now_rfc3339())
        rv = self._bump()
        meta["resourceVersion"] = str(rv)
        stored = Stored(k, key, obj, rv)
        st.objects[key] = stored
        st._sorted = None
        self._record(k, Event("ADDED", rv, stored, None))
        return stored

    def _record(self, k: Kind, event: Event) -> None:
        st = self.state(k)
        st.history.append(event)
        if len(st.history) > self.history_size:
            st.history.popleft()
            st.evicted = True
        for sink in tuple(st.sinks):
            sink.push(event)
