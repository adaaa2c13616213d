"""Which HELP/TYPE records to send, per target, and when (PROTOCOL §3.2, §7.5).

The Go agent re-sends every help record with every scrape. Here a family's
record goes out when the family first appears for a target, when its help or
type text changes, and again for all of a target's families every
``interval_ms``. A scrape loop hands over the same metadata mapping object as
long as nothing changed, so the common case is one identity check and one
subtraction.

A record is ``{help, type}`` as a standard Map (``help`` only when the family
has HELP text; ``type`` always, which also fixes the Go text path dropping a
TYPE that has no HELP).
"""

from __future__ import annotations

from collections.abc import Mapping

from openagent.model import Metadata
from openagent.sinks.whatap.openmx import encode_help_record


def help_record(family: str, meta: Metadata) -> bytes:
    """The OpenMxHelp record of one family."""
    props = {"help": meta.help, "type": meta.type} if meta.help else {"type": meta.type}
    return encode_help_record(family, props)


class _TargetHelp:
    """Help state of one target: the last metadata mapping seen and its encoded records."""

    __slots__ = ("records", "sent_ms", "source")

    def __init__(self, now_ms: int) -> None:
        self.source: Mapping[str, Metadata] | None = None
        self.records: dict[str, tuple[Metadata, bytes]] = {}
        self.sent_ms = now_ms


class HelpTracker:
    """Decides which help records are due, per target."""

    def __init__(self, interval_ms: int) -> None:
        if interval_ms <= 0:
            raise ValueError(f"help interval must be positive, got {interval_ms} ms")
        self.interval_ms = interval_ms
        self._targets: dict[str, _TargetHelp] = {}

    def __len__(self) -> int:
        return len(self._targets)

    def due(self, target_id: str, metadata: Mapping[str, Metadata], now_ms: int) -> list[bytes]:
        """Records to send now for this target's ``metadata``; remembers them as sent."""
        st = self._targets.get(target_id)
        if st is None:
            st = self._targets[target_id] = _TargetHelp(now_ms)
        elif metadata is st.source:
            if 0 <= now_ms - st.sent_ms < self.interval_ms:
                return []
            st.sent_ms = now_ms
            return [rec for _, rec in st.records.values()]
        changed = self._update(st, metadata)
        if not 0 <= now_ms - st.sent_ms < self.interval_ms:
            st.sent_ms = now_ms
            return [rec for _, rec in st.records.values()]
        return changed

    @staticmethod
    def _update(st: _TargetHelp, metadata: Mapping[str, Metadata]) -> list[bytes]:
        old = st.records
        records: dict[str, tuple[Metadata, bytes]] = {}
        changed: list[bytes] = []
        for family, meta in metadata.items():
            known = old.get(family)
            if known is not None and (known[0] is meta or known[0] == meta):
                records[family] = known
            else:
                rec = help_record(family, meta)
                records[family] = (meta, rec)
                changed.append(rec)
        st.records = records
        st.source = metadata
        return changed

    def forget(self, target_id: str) -> None:
        """Drop a target's state (it went away)."""
        self._targets.pop(target_id, None)

    def all_records(self) -> list[bytes]:
        """Every known family's record, each distinct record once (targets share families)."""
        seen: dict[bytes, None] = {}
        for st in self._targets.values():
            for _, rec in st.records.values():
                seen[rec] = None
        return list(seen)
