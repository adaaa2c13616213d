"""Turns an exposed series into the series the agent sends.

Runs once per new series of a target (the parser's table keeps the result),
so it may allocate freely: attach target labels (Prometheus ``honor_labels``
semantics, ``exported_`` renaming on collision), protect the report series,
apply metric relabelling, and return the `Series` for that label set.

Two kinds of series, two costs:

* plain (no relabelling, no exposed label named like a target label): the
  labels are the exposed block followed by the target labels, one tuple per
  exposed block, shared by every family of that block. No registry: the
  parser's table already knows a series by its block and name, so the series
  costs its own object and nothing here;
* relabelled or clashing: two exposed series may end as one output series,
  so these are kept in ``registry`` by `series_key`, and label tuples that
  come out equal are shared.
"""

from __future__ import annotations

from collections.abc import Callable

from openagent.model import Labels, Series, SeriesKey, series_key
from openagent.relabel import Relabeler
from openagent.scrape.attribution import GPU_PREFIX, TargetAttribution

EXPORTED_PREFIX = "exported_"

#: The series every scrape reports about itself, in the order they are sent.
REPORT_NAMES = (
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
)
_REPORT_NAME_SET = frozenset(REPORT_NAMES)
#: Bound of the label-tuple sharing maps before they start over (series keep their tuples).
_SHARING_LIMIT = 100_000


class SeriesBuilder:
    """Builds the output series of one target.

    ``created`` counts new series (Prometheus's ``scrape_series_added`` is its
    increase during one scrape); ``dropped`` counts series that relabelling
    dropped. An exposed series named like a report series (``up``,
    ``scrape_*``) without labels is renamed ``exported_<name>``, as vmagent
    does, unless ``honor_labels`` is set: then it would be the report series
    itself, and `registry` hands back the report series, so the scrape keeps
    one sample of it (the report's) and counts the other as a duplicate.
    ``carry`` maps series keys to the series of an earlier builder of this
    target, which are reused instead of made again. ``attribution``, when given,
    adds the workload and node labels of each new series after the target labels.
    """

    __slots__ = (
        "_labelsets",
        "_out",
        "_target_names",
        "attribution",
        "carry",
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
        carry: dict[SeriesKey, Series] | None = None,
        attribution: TargetAttribution | None = None,
    ) -> None:
        self.target_labels = target_labels
        self.attribution = attribution
        self._target_names = frozenset(k for k, _ in target_labels)
        self._out: dict[int, tuple[Labels, Labels]] = {}
        self._labelsets: dict[Labels, Labels] = {}
        self.honor_labels = honor_labels
        self.relabeler = relabeler if relabeler else None
        self.registry: dict[SeriesKey, Series] = {}
        self.carry = carry
        self.dropped = 0
        self.created = 0

    def __call__(self, name: str, exposed: Labels) -> Series | None:
        """Return the output series for ``name{exposed}``, or None when relabelling drops it."""
        if not exposed and name in _REPORT_NAME_SET:
            if not self.honor_labels:
                name = EXPORTED_PREFIX + name
            elif self.relabeler is None:
                return self.intern(name, self.target_labels)
        if self.relabeler is None:
            names = self._target_names
            for k, _ in exposed:
                if k in names:
                    break
            else:  # no clash, no rules: exposed labels then target labels, shared per block
                return self._plain(name, exposed)
        labels = self._labels(name, exposed)
        if labels is None:
            self.dropped += 1
            return None
        return self.intern(*labels)

    @property
    def shared_blocks(self) -> int:
        """Exposed label blocks whose output labels are held for sharing."""
        return len(self._out)

    def _plain(self, name: str, exposed: Labels) -> Series:
        # by identity: the parser hands one tuple per label block, and hashing a tuple of
        # pairs costs more than the rest of this call; the tuple is kept, so its id is not
        # reused while the entry lives
        attribution = self.attribution
        # with attribution, a block's DCGM and other series differ: the latter under ~id
        gpu = attribution is None or name.startswith(GPU_PREFIX)
        slot = id(exposed) if gpu else ~id(exposed)
        known = self._out.get(slot)
        if known is not None and known[0] is exposed:
            out = known[1]
        else:
            if len(self._out) >= _SHARING_LIMIT:
                self._out.clear()
            out = exposed + self.target_labels
            if attribution is not None:
                out += _without(attribution.extra(exposed, gpu=gpu), exposed)
            self._out[slot] = (exposed, out)
        if self.carry is not None:
            earlier = self.carry.get(series_key(name, out))
            if earlier is not None:
                return earlier
        self.created += 1
        return Series(name, out)

    def _labels(self, name: str, exposed: Labels) -> tuple[str, Labels] | None:
        """Name and labels after target labels and relabelling; None when dropped."""
        targets = self.target_labels
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
                return None
            lb = result
        out_name = lb.pop("__name__", "")
        if not out_name:
            return None
        pairs = _pairs(lb, exposed, targets)
        if self.attribution is not None:
            gpu = out_name.startswith(GPU_PREFIX)
            pairs += _without(self.attribution.extra(exposed, gpu=gpu), pairs)
        return out_name, pairs

    def intern(self, name: str, labels: Labels) -> Series:
        """Return the registered series for ``name{labels}``, creating it once."""
        key = series_key(name, labels)
        series = self.registry.get(key)
        if series is None:
            series = self.carry.get(key) if self.carry is not None else None
            if series is None:
                shared = self._labelsets.get(labels)
                if shared is None:
                    if len(self._labelsets) >= _SHARING_LIMIT:
                        self._labelsets.clear()
                    shared = self._labelsets[labels] = labels
                series = Series(name, shared)
                self.created += 1
            self.registry[key] = series
        return series

    def prune(self, keep: Callable[[Series], bool]) -> None:
        """Forget every registered series for which ``keep`` is false, and the label tuples
        shared per block: they hold the exposed blocks of the series forgotten too (a
        target whose label values changed every scrape kept 100,000 of them, 70 MiB)."""
        self.registry = {k: s for k, s in self.registry.items() if keep(s)}
        self._labelsets.clear()
        self._out.clear()

    def forget(self, keep: Callable[[Series], bool]) -> None:
        """`prune` when the attribution of some series changed: the label tuples shared per
        block are built again with the new attribution."""
        self.prune(keep)


def _without(extra: Labels, present: Labels) -> Labels:
    """``extra`` less the names ``present`` has already (an exposed label wins)."""
    if not extra:
        return extra
    names = {k for k, _ in present}
    return tuple(p for p in extra if p[0] not in names)


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
