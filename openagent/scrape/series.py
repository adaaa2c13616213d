"""Turns an exposed series into the series the agent sends.

Runs once per new series of a target (the parser caches the result), so it
may allocate freely: attach target labels (Prometheus ``honor_labels``
semantics, ``exported_`` renaming on collision), apply metric relabelling,
and return the shared `Series` object for that label set.
"""

from __future__ import annotations

from collections.abc import Iterable

from openagent.model import Labels, Series, SeriesKey, series_key
from openagent.relabel import Relabeler

EXPORTED_PREFIX = "exported_"


class SeriesBuilder:
    """Builds output series for one target; reuses one `Series` per label set.

    ``registry`` maps a series key to its `Series`. Reusing the object keeps
    per-sink encodings and lets staleness tracking compare series by identity,
    even when two different exposed lines (or a cache reset) lead to the same
    output series. ``created`` counts new series (Prometheus's
    ``scrape_series_added`` is its increase during one scrape); ``dropped``
    counts series that relabelling dropped.
    """

    __slots__ = (
        "_sorted_blocks",
        "_target_names",
        "created",
        "dropped",
        "honor_labels",
        "registry",
        "relabeler",
        "target_labels",
    )

    def __init__(
        self,
        target_labels: Labels,
        *,
        honor_labels: bool = False,
        relabeler: Relabeler | None = None,
        registry: dict[SeriesKey, Series] | None = None,
    ) -> None:
        self.target_labels = target_labels
        self._target_names = frozenset(k for k, _ in target_labels)
        self._sorted_blocks: dict[Labels, Labels] = {}
        self.honor_labels = honor_labels
        self.relabeler = relabeler if relabeler else None
        self.registry: dict[SeriesKey, Series] = registry if registry is not None else {}
        self.dropped = 0
        self.created = 0

    def __call__(self, name: str, exposed: Labels) -> Series | None:
        """Return the output series for ``name{exposed}``, or None when relabelling drops it."""
        targets = self.target_labels
        if self.relabeler is None:
            names = self._target_names
            for k, _ in exposed:
                if k in names:
                    break
            else:  # no clash, no rules: share the exposed pair objects as they are
                return self._intern_plain(name, exposed)
        lb: dict[str, str] = {"__name__": name}
        lb.update(exposed)
        if self.honor_labels:
            for k, v in targets:
                if not lb.get(k):
                    lb[k] = v
        else:
            for k, v in targets:
                existing = lb.get(k)
                if existing:
                    exported = EXPORTED_PREFIX + k
                    while lb.get(exported):
                        exported = EXPORTED_PREFIX + exported
                    lb[exported] = existing
                lb[k] = v
        if self.relabeler is not None:
            result = self.relabeler.process(lb)
            if result is None:
                self.dropped += 1
                return None
            lb = result
        out_name = lb.pop("__name__", "")
        if not out_name:
            self.dropped += 1
            return None
        return self.intern(out_name, _pairs(lb, exposed, targets))

    def _intern_plain(self, name: str, exposed: Labels) -> Series:
        """`intern` for ``exposed + target labels`` when they share no name.

        The key is then (name, exposed pairs sorted, target labels): canonical
        among such series, and cheaper than sorting every label set, because
        the sorted form is cached per exposed label block (dcgm-exporter repeats
        one block per GPU in every family, and the parser shares those tuples).
        """
        blocks = self._sorted_blocks
        ordered = blocks.get(exposed)
        if ordered is None:
            if len(blocks) > 100_000:
                blocks.clear()
            ordered = blocks[exposed] = tuple(sorted(exposed))
        key = (name, ordered, self.target_labels)
        series = self.registry.get(key)
        if series is None:
            series = Series(name, exposed + self.target_labels, key)
            self.registry[key] = series
            self.created += 1
        return series

    def intern(self, name: str, labels: Labels) -> Series:
        """Return the registered series for ``name{labels}``, creating it once."""
        key = series_key(name, labels)
        series = self.registry.get(key)
        if series is None:
            series = Series(name, labels, key)
            self.registry[key] = series
            self.created += 1
        return series

    def prune(self, keep: Iterable[Series]) -> None:
        """Forget every registered series not in ``keep``."""
        self.registry = {s.key: s for s in keep}


def _pairs(labels: dict[str, str], *sources: Labels) -> Labels:
    """``labels`` as pairs, reusing the pair objects of ``sources`` where they are unchanged.

    Label pairs are shared between the series of a target (dcgm-exporter repeats
    one label block per GPU in every family), which saves memory per series.
    """
    known: dict[str, tuple[str, str]] = {}
    for source in sources:
        for pair in source:
            known.setdefault(pair[0], pair)
    out = []
    for k, v in labels.items():
        same = known.get(k)
        out.append(same if same is not None and same[1] == v else (k, v))
    return tuple(out)
