"""Each target once: the later copies of a target are dropped with reason ``duplicate``."""

from __future__ import annotations

from collections.abc import Iterable

from openagent.discovery.candidates import Dropped
from openagent.model import Target


def unique_targets(groups: Iterable[Iterable[Target]]) -> tuple[list[Target], list[Dropped]]:
    """Each target id once, in order; the later copies dropped with reason ``duplicate``.

    Two candidates are the same target when they have the same job, URL and
    labels (the target id); scraping both would send every sample twice.
    """
    first: dict[str, Target] = {}
    duplicates: list[Dropped] = []
    for group in groups:
        for target in group:
            kept = first.setdefault(target.id, target)
            if kept is not target:
                where = f"{target.source} (same target as {kept.source})"
                duplicates.append(Dropped(where, "duplicate"))
    return list(first.values()), duplicates
