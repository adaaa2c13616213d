"""The parser's series table: what each exposed series text of one target stands for.

A series text is ``name{label block}`` exactly as exposed. The table splits it
at the first ``{`` and keeps two small levels instead of one entry per text:

* ``groups`` maps a label block's text (what follows the ``{``) to the
  entries of that block, by name text. dcgm-exporter repeats one block per
  GPU in every family, so a target has a handful of blocks, each text held
  once, and one short shared name string per family;
* ``bare`` holds the series without a label block, by their whole text.

Texts of the same label set in another order (or with other spacing) share
one group, so they reach the same entry. An entry is the builder's `Series`,
or `DROPPED` / `SKIPPED`.

Why not one dict keyed by the whole text, as before: the key string was the
largest part of a series' memory (about 270 bytes of 1,280 in a walk of 64k
dcgm series). Keyed by a hash of the text instead, a collision check against
the text costs about 190 ns per line (30 ns without the check), and it would
still hold an int per series. Here a series costs one entry in its block's
dict (about 30 bytes). The hot loop splits a line with ``str.partition``
(about 100 ns per line more than one lookup of the whole text, measured:
``benchmarks/parser_bench.py`` went from 1.72 M to 1.34-1.47 M samples/s on a
warm table), and every lookup touches only the block and name strings that
all series of the target share, so it stays in the CPU cache at 1,000
targets, where the whole agent got cheaper per sample.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Final

from openagent.model import Labels

#: Entries of one label block's group, by the name text in front of the block.
Names = dict[str, object]

_NO_GROUP: Final[Names] = {}


class SeriesTable:
    """Entries by series text, as two levels: label block text, then name text."""

    __slots__ = ("_canon", "bare", "groups", "size")

    def __init__(self) -> None:
        self.groups: dict[str, Names] = {}
        self.bare: Names = {}
        # the group of each label set, so reordered texts of one set share it
        self._canon: dict[Labels, Names] = {(): self.bare}
        #: Series texts stored since the last `clear` (or left by the last `prune`).
        self.size = 0

    def get(self, text: str) -> object | None:
        """The entry of series text ``text``, or None."""
        name, brace, block = text.partition("{")
        if brace:
            return self.groups.get(block, _NO_GROUP).get(name)
        return self.bare.get(text)

    def __contains__(self, text: str) -> bool:
        return self.get(text) is not None

    def group_of(self, text: str, labels: Labels) -> tuple[Names, str]:
        """The group that series text ``text`` (with label set ``labels``) belongs to, made
        if new, and the text's key in it. The group also holds the series under its plain
        name, so another text of the same series (other spacing, other label order) finds
        it there rather than making a second series."""
        text_name, brace, block = text.partition("{")
        if brace:
            return self._group(block, labels), text_name
        return self.bare, text

    def store(self, names: Names, text_name: str, name: str, entry: object) -> None:
        """Keep ``entry`` in group ``names`` under ``text_name`` and the plain ``name``."""
        names[sys.intern(text_name)] = entry
        names.setdefault(name, entry)
        self.size += 1

    def _group(self, block: str, labels: Labels) -> Names:
        names = self.groups.get(block)
        if names is None:
            canonical = tuple(sorted(labels))
            names = self._canon.get(canonical)
            if names is None:
                names = self._canon[canonical] = {}
            self.groups[block] = names
        return names

    def discard(self, text: str, name: str, labels: Labels) -> None:
        """Forget series text ``text`` of series ``name{labels}``, and the series' plain entry."""
        text_name, brace, block = text.partition("{")
        if brace:
            self.groups.get(block, _NO_GROUP).pop(text_name, None)
        else:
            self.bare.pop(text, None)
        self._canon.get(tuple(sorted(labels)), _NO_GROUP).pop(name, None)

    def clear(self) -> None:
        """Forget everything; in place, since a running parse holds bound methods."""
        self.groups.clear()
        self.bare.clear()
        self._canon.clear()
        self._canon[()] = self.bare
        self.size = 0

    def prune(self, keep: Callable[[object], bool]) -> int:
        """Forget the entries for which ``keep`` is false, and the groups left empty;
        return how many entries are left."""
        left = 0
        for canonical, names in list(self._canon.items()):
            gone = [text for text, entry in names.items() if not keep(entry)]
            for text in gone:
                del names[text]
            if not names and canonical:
                del self._canon[canonical]
            left += len(names)
        self.groups = {block: names for block, names in self.groups.items() if names}
        self.size = left
        return left
