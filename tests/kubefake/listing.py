"""LIST semantics: resourceVersion rules, pagination and continue tokens.

Which path serves a list follows the 1.32 cacher (``shouldDelegateList``)
and the etcd3 store (``GetList``):

* ``resourceVersion="0"`` (any, NotOlderThan): from the watch cache, the
  **limit is ignored** and the whole list comes back with no continue token.
* ``resourceVersionMatch=Exact``, or a ``limit`` with ``resourceVersion=N``
  and no match: the state exactly at ``N`` (410 once history is gone).
* ``resourceVersion=N`` otherwise: the latest state, once the store has
  reached ``N`` (504 "Too large resource version" after 3 s otherwise).
* ``resourceVersion=""``: the latest state.

Pages hold up to ``limit`` *matching* items in key order (``ns/name``); a
continue token is returned while keys remain after the last returned one,
so a selective list may end with an empty last page, as with etcd. All pages
of one list are consistent at the first page's resourceVersion. Tokens are
upstream's format: base64url(JSON ``{"v","rv","start"}``). A token whose
resourceVersion is no longer retained gets 410 with an inconsistent-continue
token (``rv: -1``) in ``metadata.continue``, as etcd compaction does.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import json
import posixpath
from dataclasses import dataclass

import orjson

from tests.kubefake.kinds import Kind
from tests.kubefake.options import EXACT, ListOptions, parse_resource_version
from tests.kubefake.status import (
    StatusError,
    bad_request,
    expired,
    too_large_resource_version,
)
from tests.kubefake.store import Store, Stored

_TOO_OLD_LIST = "The resourceVersion for the provided list is too old."
_INCONSISTENT_CONTINUE = (
    "The provided continue parameter is too old to display a consistent list result. "
    "You can start a new list without the continue parameter, or use the continue token "
    "in this response to retrieve the remainder of the results. Continuing with the "
    "provided token results in an inconsistent list - objects that were created, "
    "modified, or deleted between the time the first chunk was returned and now may "
    "show up in the list."
)


def encode_continue(start: str, rv: int) -> str:
    """Upstream `EncodeContinue`: base64url (unpadded) of ``{"v","rv","start"}``."""
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": start}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).rstrip(b"=").decode()


def decode_continue(token: str) -> tuple[str, int]:
    """Upstream `DecodeContinue`; raises 400 ``invalid continue token: ...``."""

    def invalid(detail: str) -> StatusError:
        return bad_request(f"invalid continue token: continue key is not valid{detail}")

    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
    except (binascii.Error, ValueError) as err:
        raise invalid(f": {err}") from None
    if not isinstance(data, dict) or data.get("v") != "meta.k8s.io/v1":
        version = data.get("v") if isinstance(data, dict) else None
        raise invalid(f": server does not recognize this encoded version {version}")
    rv, start = data.get("rv"), data.get("start")
    if not isinstance(rv, int) or rv == 0:
        raise invalid(": incorrect encoded start resourceVersion (version meta.k8s.io/v1)")
    if not isinstance(start, str) or not start:
        raise invalid(": encoded start key empty (version meta.k8s.io/v1)")
    key = start if start.startswith("/") else "/" + start
    if posixpath.normpath(key) != key:
        raise invalid(f": {start}")
    return key[1:], rv


@dataclass(frozen=True, slots=True)
class Page:
    """One list response: items, its resourceVersion and pagination metadata."""

    items: list[Stored]
    rv: int
    continue_token: str = ""
    remaining: int | None = None

    def body(self, kind: Kind) -> bytes:
        """The single-line JSON list (items without kind/apiVersion, as served)."""
        meta: dict[str, object] = {"resourceVersion": str(self.rv)}
        if self.continue_token:
            meta["continue"] = self.continue_token
        if self.remaining is not None:
            meta["remainingItemCount"] = self.remaining
        head = orjson.dumps(
            {"kind": kind.list_kind, "apiVersion": kind.api_version, "metadata": meta}
        )
        items = b",".join(item.item_json() for item in self.items)
        return head[:-1] + b',"items":[' + items + b"]}"


async def _wait_fresh(store: Store, rv: int, wait: float) -> None:
    if not await store.wait_for_rv(rv, wait):
        raise too_large_resource_version(rv, store.resource_version)


async def list_objects(
    store: Store, kind: Kind, namespace: str | None, opts: ListOptions, wait: float = 3.0
) -> Page:
    """Serve one LIST request (one page of it)."""
    prefix = f"{namespace}/" if namespace and kind.namespaced else ""
    if opts.continue_token:
        if opts.resource_version not in ("", "0"):
            raise bad_request("specifying resource version is not allowed when using continue")
        start, token_rv = decode_continue(opts.continue_token)
        if token_rv < 0:
            return _paginate(
                store, kind, None, prefix, prefix + start, opts, store.resource_version
            )
        snap = store.snapshot(kind, token_rv)
        if snap is None:
            raise expired(_INCONSISTENT_CONTINUE, list_continue=encode_continue(start, -1))
        return _paginate(store, kind, snap, prefix, prefix + start, opts, token_rv)
    rv = parse_resource_version(opts.resource_version)
    match = opts.resource_version_match
    if opts.resource_version == "0" and match != EXACT:
        return _paginate(store, kind, None, prefix, prefix, opts, store.resource_version, False)
    if match == EXACT or (opts.limit > 0 and rv > 0 and not match):
        await _wait_fresh(store, rv, wait)
        snap = store.snapshot(kind, rv)
        if snap is None:
            raise expired(_TOO_OLD_LIST)
        return _paginate(store, kind, snap, prefix, prefix, opts, rv)
    if rv > 0:
        await _wait_fresh(store, rv, wait)
    return _paginate(store, kind, None, prefix, prefix, opts, store.resource_version)


def _paginate(
    store: Store,
    kind: Kind,
    snap: dict[str, Stored] | None,
    prefix: str,
    start: str,
    opts: ListOptions,
    rv: int,
    paged: bool = True,
) -> Page:
    st = store.state(kind)
    if snap is None or snap is st.objects:
        objects, keys = st.objects, st.sorted_keys()
    else:
        objects, keys = snap, sorted(snap)
    lo = bisect.bisect_left(keys, start)
    hi = bisect.bisect_left(keys, prefix[:-1] + "0") if prefix else len(keys)
    limit = opts.limit if paged and opts.limit > 0 else 0
    labels, fields = opts.label_selector, opts.field_selector
    check_labels, check_fields = not labels.empty, not fields.empty
    items: list[Stored] = []
    last = hi
    for i in range(lo, hi):
        obj = objects[keys[i]]
        if check_labels and not labels.matches(obj.labels):
            continue
        if check_fields and not fields.matches(obj.fields):
            continue
        items.append(obj)
        if limit and len(items) == limit:
            last = i
            break
    if last >= hi - 1:
        return Page(items, rv)
    token = encode_continue(keys[last][len(prefix) :] + "\x00", rv)
    remaining = None if opts.has_selectors else hi - last - 1
    return Page(items, rv, token, remaining)
