"""HELP / TYPE / UNIT lines: a per-target line cache and the family metadata they describe.

A repeated comment line costs one dict lookup in the parser's hot loop. The
metadata dict of a scrape is the *same object* as the previous scrape's
when the set of comment lines did not change (dcgm-exporter reorders
families, which changes nothing here), and a new dict when it did.
"""

from __future__ import annotations

from openagent.exposition.errors import LineError
from openagent.exposition.lexer import (
    EOF,
    HELP,
    IGNORED,
    NAME,
    OM_TYPES,
    TEXT_TYPES,
    TYPE,
    MetaLine,
    scan_comment,
    unescape_help,
)
from openagent.model import Metadata

_MAX_LINES = 100_000
_MAX_SHARED = 10_000
_MAX_NAMES = 100_000

_SHARED: dict[tuple[str, str, str], Metadata] = {}


def _shared(type_: str, help_: str = "", unit: str = "") -> Metadata:
    """One Metadata object per distinct value: a fleet of exporters repeats the same few."""
    key = (type_, help_, unit)
    m = _SHARED.get(key)
    if m is None:
        if len(_SHARED) >= _MAX_SHARED:
            _SHARED.clear()
        m = _SHARED[key] = Metadata(type_, help_, unit)
    return m


class Names:
    """Metric names already known to be valid (a bounded set)."""

    __slots__ = ("known",)

    def __init__(self) -> None:
        self.known: set[str] = set()

    def valid(self, name: str) -> bool:
        """True if ``name`` is a valid metric name; remembers it."""
        if name in self.known:
            return True
        if NAME.fullmatch(name) is None:
            return False
        if len(self.known) >= _MAX_NAMES:
            self.known.clear()
        self.known.add(name)
        return True


class MetaCache:
    """Parsed comment lines by text, and the metadata of the last scrape."""

    def __init__(self) -> None:
        #: comment line -> parsed entry (plain comments map to IGNORED)
        self.lines: dict[str, MetaLine] = {}
        self._key: frozenset[str] | None = None
        self._metadata: dict[str, Metadata] = {}

    def clear(self) -> None:
        """Forget everything (the target switched format)."""
        self.lines.clear()
        self._key = None

    def parse(self, line: str, om: bool, names: Names) -> MetaLine:
        """Parse a comment line that missed the cache, and cache it."""
        entry: MetaLine | None = None
        word = line[:7]
        if word == "# HELP " or word == "# TYPE ":  # the usual spelling, in both formats
            family, sep, text = line[7:].partition(" ")
            if sep and names.valid(family):
                if word == "# HELP ":
                    entry = (HELP, family, unescape_help(text, om))
                elif text in (OM_TYPES if om else TEXT_TYPES):
                    entry = (TYPE, family, text)
        if entry is None:
            entry = scan_comment(line, om)
        if entry is EOF:
            raise LineError("'# EOF' before the end of the body")
        if len(self.lines) >= _MAX_LINES:
            self.lines.clear()
        self.lines[line] = entry
        return entry

    def entry(self, line: str, om: bool) -> MetaLine:
        """The parsed form of a comment line seen in this scrape."""
        entry = self.lines.get(line)
        return entry if entry is not None else scan_comment(line, om)

    def unchanged(self, comments: list[str]) -> bool:
        """True when this scrape's HELP/TYPE/UNIT lines are the last scrape's."""
        return frozenset(comments) == self._key

    def resolve(self, comments: list[str], om: bool) -> tuple[dict[str, Metadata], bool]:
        """Metadata by family for this scrape's comment lines, and whether it changed."""
        key = frozenset(comments)
        if key == self._key:
            return self._metadata, False
        default_type = "unknown" if om else "untyped"
        fields: dict[str, list[str]] = {}
        for line in comments:
            field, family, text = self.entry(line, om)
            f = fields.get(family)
            if f is None:
                f = fields[family] = [default_type, "", ""]
            f[field] = text
        self._metadata = {family: _shared(*f) for family, f in fields.items()}
        self._key = key
        return self._metadata, True


__all__ = ["IGNORED", "MetaCache", "Names"]
