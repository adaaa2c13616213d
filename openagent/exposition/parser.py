"""Per-target parser with a series table: an unchanged series line costs two lookups and a float.

The table (:mod:`.table`) maps the *series text* of a line (``name{...}``
exactly as exposed) to the output :class:`~openagent.model.Series` that the
builder made for it, split into label block and name. dcgm-exporter reorders
families between scrapes, so the key is the text, never the position. The
hot loop per line is ``rpartition(" ")``, a ``find("{")``, two small dict
lookups and one ``float()`` plus cheap checks that keep Prometheus's value
rules; everything else (new series, comments, timestamps, odd spacing,
suspicious values) goes to the slow path in :mod:`.lexer`.

Why a line with a timestamp or an exemplar never hits the cache by its
``rpartition`` head: the head then starts with the line's own series text
and continues past it, and a series text is found by a deterministic left to
right scan, so no valid series text can be a strict extension of another.
Aliases (heads of lines with odd spacing) have the form blanks, series text,
blanks, and are only stored for lines that end in their value.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Generator
from typing import Final

from openagent.exposition.errors import LimitExceeded, LineError, ParseError
from openagent.exposition.lexer import (
    IGNORED,
    TYPE,
    is_blank,
    quick_value,
    scan_openmetrics,
    scan_text,
)
from openagent.exposition.limits import Limits
from openagent.exposition.metadata import MetaCache, Names
from openagent.exposition.parsed import DROPPED, SKIPPED, Builder, Parsed
from openagent.exposition.table import SeriesTable
from openagent.model import Labels, Series

_CREATED_TYPES = frozenset(("counter", "histogram", "summary", "gaugehistogram"))
#: Spellings of NaN and infinity that Prometheus accepts and exporters actually write.
_HOT_SPECIALS = frozenset(("NaN", "nan", "+Inf", "-Inf", "Inf", "+inf", "-inf", "inf"))
_SYNC_CHUNK = 50_000
_NO_LIMITS: Final = Limits()


class _Scrape:
    """Mutable state of one parse."""

    __slots__ = (
        "comments",
        "dirty",
        "dropped",
        "om",
        "redo",
        "series",
        "stamps",
        "types",
        "types_seen",
        "values",
    )

    def __init__(self, om: bool, dirty: bool) -> None:
        self.om = om
        self.dirty = dirty
        self.series: list[Series] = []
        self.values: list[float] = []
        self.comments: list[str] = []
        self.stamps: list[tuple[int, int]] = []
        self.dropped = 0
        self.types: dict[str, str] = {}
        self.types_seen = 0
        self.redo = False


def _index_of(lines: list[str], line: str) -> int:
    """Position of ``line`` in ``lines``, by identity.

    ``str.split`` makes a new object per piece except for empty and
    one-character pieces, which are shared singletons; such a line is either
    always an error or never, so its first occurrence is the failing one.
    """
    for i, candidate in enumerate(lines):
        if candidate is line:
            return i
    return lines.index(line)


class Parser:
    """Parses the bodies of one target; keeps its series cache and metadata cache.

    Not safe for concurrent parses of the same instance (one scrape at a time).
    """

    def __init__(
        self, build: Builder, limits: Limits = _NO_LIMITS, max_cache_entries: int = 500_000
    ) -> None:
        if max_cache_entries < 1:
            raise ValueError("max_cache_entries must be at least 1")
        self._build = build
        self._limits = limits
        self._check_labels = limits.on_labels
        self._max = max_cache_entries
        self._table = SeriesTable()
        # OpenMetrics: family -> (its TYPE when its _created series were decided, their keys)
        self._created: dict[str, tuple[str | None, list[tuple[str, str, Labels]]]] = {}
        self._blocks: dict[str, Labels] = {}
        self._names = Names()
        self._meta = MetaCache()
        self._om: bool | None = None
        #: How often the series cache hit ``max_cache_entries`` and was cleared.
        self.cache_resets = 0

    @property
    def cache_size(self) -> int:
        """Entries stored in the series table (kept, dropped and skipped series, and aliases)."""
        return self._table.size

    def reset(self) -> None:
        """Forget cached series (target labels or relabel rules changed)."""
        self._table.clear()
        self._created.clear()

    def prune(self, keep: Callable[[object], bool]) -> None:
        """Forget the cached series for which ``keep`` is false, and every dropped or
        skipped mark (they are cheap to decide again)."""
        self._table.prune(lambda e: e is not DROPPED and e is not SKIPPED and keep(e))
        self._created.clear()
        self._blocks.clear()

    def parse(self, text: str, *, openmetrics: bool, default_ts_ms: int) -> Parsed:
        """Parse a whole body synchronously."""
        steps = self._steps(text, openmetrics, default_ts_ms, _SYNC_CHUNK)
        while True:
            try:
                next(steps)
            except StopIteration as done:
                result: Parsed = done.value
                return result

    async def parse_async(
        self, text: str, *, openmetrics: bool, default_ts_ms: int, chunk_lines: int = 20_000
    ) -> Parsed:
        """Parse like :meth:`parse`, yielding to the event loop every ``chunk_lines`` lines."""
        if chunk_lines < 1:
            raise ValueError("chunk_lines must be at least 1")
        steps = self._steps(text, openmetrics, default_ts_ms, chunk_lines)
        while True:
            try:
                next(steps)
            except StopIteration as done:
                result: Parsed = done.value
                return result
            await asyncio.sleep(0)

    # -- driver ---------------------------------------------------------------

    def _steps(
        self, text: str, om: bool, default_ts_ms: int, chunk: int
    ) -> Generator[None, None, Parsed]:
        if om is not self._om:
            if self._om is not None:  # the target switched format: rules and meanings differ
                self.reset()
                self._blocks.clear()
                self._meta.clear()
            self._om = om
        if "\r" in text:
            text = text.replace("\r\n", "\n")
        dirty = not text.isascii() or "\r" in text or "\x0b" in text or "\x0c" in text
        lines = text.split("\n")
        if lines[-1] == "":
            lines.pop()
        if om:
            if not lines or lines[-1] != "# EOF":
                if "# EOF" in lines:
                    raise ParseError(lines.index("# EOF") + 2, "unexpected content after # EOF")
                raise ParseError(max(len(lines), 1), "missing # EOF at the end of the body")
            lines.pop()
        limit = self._limits.sample_limit
        n = len(lines)
        retried = False
        while True:
            st = _Scrape(om, dirty)
            for lo in range(0, n, chunk):
                hi = min(n, lo + chunk)
                self._run(st, lines, lo, hi)
                if limit and len(st.values) > limit:
                    raise LimitExceeded(
                        "sample_limit", f"{len(st.values)} samples in {hi} lines, limit {limit}"
                    )
                if hi < n:
                    yield
            if om and not retried and self._created_went_stale(st):
                retried = True  # a family changed TYPE since its _created series were decided
                continue
            return self._finish(st, default_ts_ms)

    def _run(self, st: _Scrape, lines: list[str], lo: int, hi: int) -> None:
        """The hot loop over ``lines[lo:hi]``."""
        chunk = lines if lo == 0 and hi == len(lines) else lines[lo:hi]
        groups_get = self._table.groups.get
        bare_get = self._table.bare.get
        no_group: dict[str, object] = {}
        meta_get = self._meta.lines.get
        add_series = st.series.append
        add_value = st.values.append
        add_comment = st.comments.append
        slow = self._slow
        comment = self._comment
        dirty = st.dirty
        specials = _HOT_SPECIALS
        line = ""
        try:
            for line in chunk:
                name, brace, block = line.partition("{")
                if brace:
                    block, _, val = block.rpartition(" ")
                    s = groups_get(block, no_group).get(name)
                else:
                    name, _, val = line.rpartition(" ")
                    s = bare_get(name)
                if s is not None:
                    try:
                        v = float(val)
                    except ValueError:
                        slow(st, line, name, brace, block, val)
                        continue
                    if (
                        "_" in val
                        or (v - v and val not in specials)
                        or (dirty and not (val.isascii() and val.isprintable()))
                    ):
                        slow(st, line, name, brace, block, val)
                    elif s is DROPPED:
                        st.dropped += 1
                    elif s is not SKIPPED:
                        add_series(s)  # type: ignore[arg-type]
                        add_value(v)
                    continue
                if line[:1] == "#":
                    meta = meta_get(line)
                    if meta is None:
                        comment(st, line)
                    elif meta is not IGNORED:
                        add_comment(line)
                    continue
                slow(st, line, name, brace, block, val)
        except LineError as e:
            raise ParseError(lo + _index_of(chunk, line) + 1, e.reason) from None
        except LimitExceeded as e:
            where = lo + _index_of(chunk, line) + 1
            raise LimitExceeded(e.reason, e.detail, where) from None

    # -- slow path ------------------------------------------------------------

    def _slow(self, st: _Scrape, line: str, name: str, brace: str, block: str, val: str) -> None:
        """Everything the hot loop could not settle with its lookups. The line is split as
        the hot loop split it: ``name``, then when ``brace`` the label ``block`` up to the
        last blank, then ``val``."""
        first = line[:1]
        if first == "#":
            self._comment(st, line)
            return
        if first == " " or first == "\t" or not first:
            if is_blank(line):
                if st.om:
                    raise LineError("blank line (not allowed in OpenMetrics)")
                return
            if not st.om and line.lstrip(" \t")[:1] == "#":
                self._comment(st, line)
                return
        elif brace and block[-1:] == "}":
            # name{labels} value with a label block seen before: a new series (the hot
            # loop missed it), settled without tokenizing
            labels = self._blocks.get("{" + block) if name else None
            names = self._table.groups.get(block)
            if labels is not None and names is not None:
                v = quick_value(val)
                if (
                    v is not None
                    and self._names.valid(name)
                    and not (st.om and name.endswith("_created"))
                    and self._table.size < self._max
                ):
                    name = sys.intern(name)
                    entry = names.get(name)  # the same series under another text
                    if entry is None:
                        entry = self._made(name, labels)
                    self._table.store(names, name, name, entry)
                    self._append(st, entry, v, None)
                    return
        elif not brace and name and self._fast_other(st, name, val):
            return
        sample = scan_openmetrics(line, self._blocks) if st.om else scan_text(line, self._blocks)
        if len(self._blocks) > self._max:
            self._blocks.clear()
        entry = self._entry(st, sample.name, sample.labels, sample.key)
        if sample.alias is not None:
            names, text_name = self._table.group_of(sample.alias, sample.labels)
            self._table.store(names, text_name, sys.intern(sample.name), entry)
        self._append(st, entry, sample.value, sample.timestamp_ms)

    def _fast_other(self, st: _Scrape, head: str, val: str) -> bool:
        """``name value``, or ``series value timestamp`` of a known series, without tokenizing."""
        v = quick_value(val)
        if v is not None and self._names.valid(head):
            self._append(st, self._entry(st, head, (), head), v, None)
            return True
        key, sep, vtext = head.rpartition(" ")
        if sep and key in self._table:
            ts = self._quick_timestamp(val, st.om)
            v = quick_value(vtext)
            if ts is not None and v is not None:
                self._append(st, self._entry(st, "", (), key), v, ts)
                return True
        return False

    @staticmethod
    def _quick_timestamp(text: str, om: bool) -> int | None:
        if om:
            seconds = quick_value(text)
            if seconds is None or not -9e15 < seconds < 9e15:
                return None
            return int(seconds * 1000.0)
        if text.isdigit() and text.isascii() and len(text) < 19:
            return int(text)
        return None

    @staticmethod
    def _append(st: _Scrape, entry: object, value: float, ts: int | None) -> None:
        if entry is DROPPED:
            st.dropped += 1
        elif entry is not SKIPPED:
            if ts is not None:
                st.stamps.append((len(st.values), ts))
            st.series.append(entry)  # type: ignore[arg-type]
            st.values.append(value)

    def _entry(self, st: _Scrape, name: str, labels: Labels, key: str) -> object:
        """The cached entry for series text ``key``; made (built, checked, stored) if new."""
        entry = self._table.get(key)
        return self._new_entry(st, name, labels, key) if entry is None else entry

    def _new_entry(self, st: _Scrape, name: str, labels: Labels, key: str) -> object:
        """Make, store and return the entry of series text ``key``, which has none yet."""
        if self._table.size >= self._max:
            self.reset()
            self.cache_resets += 1
        names, text_name = self._table.group_of(key, labels)
        name = sys.intern(name)
        family_type = self._decide_created(st, name, labels, key) if st.om else None
        if family_type in _CREATED_TYPES:
            entry: object | None = SKIPPED
        else:
            entry = names.get(name)  # the same series under another text
            if entry is None or entry is SKIPPED:
                entry = self._made(name, labels)
        self._table.store(names, text_name, name, entry)
        return entry

    def _made(self, name: str, labels: Labels) -> object:
        """The builder's series for ``name{labels}`` (its labels checked), or `DROPPED`."""
        entry = self._build(name, labels)
        if entry is None:
            return DROPPED
        if self._check_labels:
            self._limits.check(entry)
        return entry

    # -- metadata -------------------------------------------------------------

    def _comment(self, st: _Scrape, line: str) -> None:
        if self._meta.parse(line, st.om, self._names) is not IGNORED:
            st.comments.append(line)

    def _decide_created(self, st: _Scrape, name: str, labels: Labels, key: str) -> str | None:
        """The TYPE of the family that series ``name`` is the ``_created`` series of."""
        if not name.endswith("_created"):
            return None
        family = name[:-8]
        family_type = self._family_type(st, family)
        record = self._created.get(family)
        if record is None or record[0] != family_type:
            if record is not None and record[1]:
                self._forget_created(family)
                st.redo = True  # earlier lines of this scrape may have used the old decision
            record = self._created[family] = (family_type, [])
        record[1].append((key, name, labels))
        return family_type

    def _forget_created(self, family: str) -> None:
        for key, name, labels in self._created.pop(family)[1]:
            self._table.discard(key, name, labels)

    def _created_went_stale(self, st: _Scrape) -> bool:
        """Forget _created decisions whose family changed TYPE; True if there were any."""
        if not self._created or (not st.redo and self._meta.unchanged(st.comments)):
            return st.redo
        self._family_type(st, "")  # bring st.types up to date with every comment line
        stale = [f for f, (t, _) in self._created.items() if st.types.get(f) != t]
        for family in stale:
            self._forget_created(family)
        return st.redo or bool(stale)

    def _family_type(self, st: _Scrape, family: str) -> str | None:
        comments = st.comments
        for line in comments[st.types_seen :]:
            entry = self._meta.entry(line, st.om)
            if entry[0] == TYPE:
                st.types[entry[1]] = entry[2]
        st.types_seen = len(comments)
        return st.types.get(family)

    def _finish(self, st: _Scrape, default_ts_ms: int) -> Parsed:
        metadata, changed = self._meta.resolve(st.comments, st.om)
        timestamps: list[int] | None = None
        if st.stamps:
            timestamps = [default_ts_ms] * len(st.values)
            for i, ts in st.stamps:
                timestamps[i] = ts
        return Parsed(
            st.series, st.values, timestamps, len(st.values) + st.dropped, metadata, changed
        )
