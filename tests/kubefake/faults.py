"""Fault switches a test flips at runtime: errors, RBAC denials, stalls.

Stopping and restarting the listener (refused connections), dropping or
ending open watches and compacting history live on the server and the store;
this module holds the per-request rules the server consults.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from tests.kubefake.kinds import kind_of


@dataclass(slots=True)
class FailRule:
    """Answer matching requests with ``code`` (``times`` left, None = forever)."""

    code: int
    message: str
    verbs: frozenset[str] | None
    times: int | None


@dataclass(frozen=True, slots=True)
class ForbidRule:
    """Deny matching requests with the authorizer's 403."""

    verbs: frozenset[str] | None
    namespace: str | None


def _verbs(verbs: Iterable[str] | str | None) -> frozenset[str] | None:
    if verbs is None:
        return None
    return frozenset([verbs] if isinstance(verbs, str) else verbs)


class Faults:
    """The server's switchboard of injected failures."""

    def __init__(self, on_stall_change: Callable[[], None]) -> None:
        self._on_stall_change = on_stall_change
        self._fail: dict[str, FailRule] = {}
        self._forbid: dict[str, list[ForbidRule]] = {}
        self._stall_watches = False
        self._requests_flowing = asyncio.Event()
        self._requests_flowing.set()

    @property
    def stall_watches(self) -> bool:
        """While True, watch streams send nothing (no events, no bookmarks, no close)."""
        return self._stall_watches

    @stall_watches.setter
    def stall_watches(self, value: bool) -> None:
        self._stall_watches = value
        self._on_stall_change()

    @property
    def stall_requests(self) -> bool:
        """While True, list and get requests hang before answering."""
        return not self._requests_flowing.is_set()

    @stall_requests.setter
    def stall_requests(self, value: bool) -> None:
        if value:
            self._requests_flowing.clear()
        else:
            self._requests_flowing.set()

    async def wait_requests_flowing(self) -> None:
        """Return once `stall_requests` is off."""
        await self._requests_flowing.wait()

    def fail(
        self,
        resource: str,
        code: int = 500,
        message: str = "injected failure",
        verbs: Iterable[str] | str | None = None,
        times: int | None = None,
    ) -> None:
        """Answer get/list/watch of ``resource`` with ``code`` (e.g. 500, 503, 429)."""
        if not 400 <= code <= 599:
            raise ValueError(f"fail() needs an HTTP error code (400-599), got {code}")
        self._fail[kind_of(resource).plural] = FailRule(code, message, _verbs(verbs), times)

    def forbid(
        self,
        resource: str,
        verbs: Iterable[str] | str | None = None,
        namespace: str | None = None,
    ) -> None:
        """Deny ``resource`` (all verbs or some; everywhere or in one namespace) with 403."""
        rule = ForbidRule(_verbs(verbs), namespace)
        self._forbid.setdefault(kind_of(resource).plural, []).append(rule)

    def clear(self, resource: str | None = None) -> None:
        """Remove fail and forbid rules (of one resource or all); stalls are left alone."""
        if resource is None:
            self._fail.clear()
            self._forbid.clear()
            return
        plural = kind_of(resource).plural
        self._fail.pop(plural, None)
        self._forbid.pop(plural, None)

    def forbidden(self, plural: str, verb: str, namespace: str | None) -> bool:
        """True when a forbid rule covers this request."""
        for rule in self._forbid.get(plural, ()):
            if rule.verbs is not None and verb not in rule.verbs:
                continue
            if rule.namespace is not None and rule.namespace != namespace:
                continue
            return True
        return False

    def failure(self, plural: str, verb: str) -> FailRule | None:
        """The fail rule for this request, consuming one of its ``times``."""
        rule = self._fail.get(plural)
        if rule is None or (rule.verbs is not None and verb not in rule.verbs):
            return None
        if rule.times is not None:
            rule.times -= 1
            if rule.times <= 0:
                del self._fail[plural]
        return rule
