"""Which redirects a remote-write POST may follow: a 307 or 308 to the same origin, twice at most.

Measured before this rule: aiohttp followed a receiver's 302 to a page that
answered 200 as a body-less GET, so the batch counted as sent while nothing
was stored and nothing was logged (7,150 samples in 12 s). So the sink never
lets aiohttp follow anything. 301, 302 and 303 turn a POST into a GET (by
the HTTP specification, or in practice), which cannot carry the batch, so
they are permanent errors. 307 and 308 keep the method and body; the sink
sends the batch again to the new place only when it is the same origin
(scheme, host and port), because the request carries the receiver's
credentials, which must never reach another server. Two hops bound a chain
(a receiver moving its write path once, behind a proxy that also redirects);
a loop fails after them instead of spinning.
"""

from __future__ import annotations

from typing import Final

from yarl import URL

from openagent.sinks.remote_write.answers import MESSAGE_CHARS

#: Redirects that keep the method and body, the only ones followed.
BODY_KEEPING: Final = frozenset((307, 308))
#: Redirects followed for one POST, at most.
MAX_HOPS: Final = 2


def same_origin(a: URL, b: URL) -> bool:
    """Whether ``a`` and ``b`` have the same scheme, host and (effective) port."""
    return (a.scheme, a.host, a.port) == (b.scheme, b.host, b.port)


def resolve(current: URL, location: str | None) -> URL | None:
    """``location`` resolved against ``current``; None when missing or unreadable."""
    if not location:
        return None
    try:
        return current.join(URL(location.strip()))
    except (TypeError, ValueError):
        return None


def next_hop(current: URL, status: int, location: str | None, hops: int) -> URL | None:
    """Where to POST again after answer ``status``, or None when it must not be followed."""
    if status not in BODY_KEEPING or hops >= MAX_HOPS:
        return None
    target = resolve(current, location)
    if target is None or not same_origin(current, target):
        return None
    return target


def shown(current: URL, location: str | None) -> str:
    """The redirect's target as a log may show it: resolved, without credentials or query,
    shortened."""
    target = resolve(current, location)
    if target is None:
        return "(no usable Location)"
    text = str(target.with_user(None).with_query(None).with_fragment(None))
    return text[:MESSAGE_CHARS] + ("…" if len(text) > MESSAGE_CHARS else "")
