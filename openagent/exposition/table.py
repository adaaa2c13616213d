"""The parser's series table: what each exposed series text of one target stands for.

A series text is ``name{label block}`` exactly as exposed. The table splits it
at the first ``{`` and keeps two small levels instead of one entry per text:

* ``groups`` maps a label block's text to the entries of that block, by name
  text. dcgm-exporter repeats one block per GPU in every family, so a target
  has a handful of blocks, each text held once, and one short shared name
  string per family;
* ``bare`` holds the series without a label block, by their whole text.

Texts of the same label set in another order (or with other spacing) share
one group, so they reach the same entry. An entry is the builder's `Series`,
or `DROPPED` / `SKIPPED`.

Why not one dict keyed by the whole text, as before: the key string was the
largest part of a series' memory (about 270 bytes of 1,280 in a walk of 64k
dcgm series). Keyed by a hash of the text instead, a collision check against
the text costs as much as this split (measured: about 190 ns per line either
way, 30 ns without the check), and it would still hold an int per series.
Here a series costs one entry in its block's dict (about 30 bytes), and every
lookup touches only the block and name strings that all series of the target
share, so it stays in the CPU cache at 1,000 targets.
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
        j = text.find("{")
        if j > 0:
            return self.groups.get(text[j:], _NO_GROUP).get(text[:j])
        return self.bare.get(text)

    def __contains__(self, text: str) -> bool:
        return self.get(text) is not None

    def find(self, name: str, labels: Labels) -> object | None:
        """The entry of series ``name{labels}`` under any text already stored, or None."""
        names = self._canon.get(tuple(sorted(labels)))
        return None if names is None else names.get(name)

    def store(self, text: str, name: str, labels: Labels, entry: object) -> None:
        """Remember ``entry`` for series text ``text`` (series ``name{labels}``).

        The entry is also kept under the plain ``name`` in the group of the label
        set, so that another text of the same series (other spacing, other label
        order) finds it with `find` rather than making a second series.
        """
        j = text.find("{")
        names = self._group(text[j:] if j > 0 else "", labels)
        names[sys.intern(text[:j] if j > 0 else text)] = entry
        names.setdefault(name, entry)
        self.size += 1

    def _group(self, block: str, labels: Labels) -> Names:
        if not block:
            return self.bare
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
        j = text.find("{")
        if j > 0:
            self.groups.get(text[j:], _NO_GROUP).pop(text[:j], None)
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
