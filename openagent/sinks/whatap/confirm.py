"""Waiting for a delivery barrier's answer, and the rule for a collector that gives none.

`Session.confirm` writes a TIME_SYNC barrier (see `barrier`) and hands the
wait to `Confirmer.confirm`, which also decides when a connection delivers
*unconfirmed* (PROTOCOL §10 Q1: it is unverified that the real collector
answers every TIME_SYNC; one that never does must not stall delivery).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from openagent.sinks.whatap.barrier import BarrierBroken
from openagent.sinks.whatap.connection import Connection, SessionError
from openagent.sinks.whatap.session_metrics import BARRIERS, UNCONFIRMED
from openagent.telemetry import get_logger

log = get_logger("whatap")


class Confirmer:
    """Waits for barriers' answers on the connections of one session."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._warned = False

    async def confirm(
        self, conn: Connection, within: float, *, current: Callable[[], bool]
    ) -> bool:
        """Write a barrier on ``conn`` and wait for its answer: True once it came (the
        collector read everything written before it).

        The rule for a collector that does not answer: a connection on which
        no TIME_SYNC at all was answered when a wait ends, while it still took
        every byte written, or whose answers cannot be matched, turns
        unconfirmed: False, one WARNING per session (later ones at INFO), and
        False at once for the next groups, until an answer does arrive on it
        (a slow first answer, a frozen collector that resumed): then barriers
        are waited for again. Otherwise, when no answer comes within
        ``within`` s the connection is reset and SessionError raised; so it is
        when the connection breaks meanwhile. ``current`` says whether ``conn``
        is the session's connection (the gauge follows only that one).
        """
        if conn.unconfirmed:
            if conn.barriers.broken or conn.barriers.answered == 0:
                return False
            self._confirmed_again(conn, current())
        ordinal = await conn.write_barrier()
        try:
            async with asyncio.timeout(within):
                await conn.barriers.wait(ordinal)
        except BarrierBroken as exc:
            return self._unconfirmed(conn, str(exc), current())
        except TimeoutError:
            if conn.alive and conn.barriers.answered == 0:
                return self._unconfirmed(conn, f"no TIME_SYNC answered in {within:g} s", current())
            BARRIERS.labels("timeout").inc()
            reason = f"no answer to a delivery barrier within {within:g} s"
            conn.drop(reason, "timeout")
            raise SessionError(reason) from None
        except SessionError:
            BARRIERS.labels("lost").inc()
            raise
        BARRIERS.labels("confirmed").inc()
        return True

    def _confirmed_again(self, conn: Connection, current: bool) -> None:
        conn.unconfirmed = False
        if current:
            UNCONFIRMED.set(0)
        log.info(
            "the collector answers TIME_SYNC: delivery is confirmed again",
            host=f"{conn.host}:{self.port}",
        )

    def _unconfirmed(self, conn: Connection, why: str, current: bool) -> bool:
        conn.unconfirmed = True
        BARRIERS.labels("unconfirmed").inc()
        if current:
            UNCONFIRMED.set(1)
        fields = {"host": f"{conn.host}:{self.port}", "why": why}
        if self._warned:
            log.info("delivery to the collector is unconfirmed on this connection", **fields)
        else:
            self._warned = True
            log.warning(
                "the collector does not answer delivery barriers: packs written to it now "
                "count as delivered, and are lost if it fails before reading them",
                **fields,
            )
        return False
