"""Attribution labels in the series of one target: the seam to the resolver, and the
bookkeeping that lets an attribution change rebuild just the series it touches.

A DCGM series whose exposed labels name a pod (``namespace`` + ``pod``, as
dcgm-exporter writes them, or ``exported_namespace`` + ``exported_pod``)
gets the labels the `Attributor` holds for that pod, and every series of a
target whose exporter runs on a known node gets that node's labels. They are
added when the series is built, like the target labels, so a warm scrape pays
nothing for them but one integer comparison (`TargetAttribution.stale`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final, Protocol

from openagent.model import Labels, Series

PodKey = tuple[str, str]
#: Only dcgm-exporter's series name the pod on a GPU: other exporters' pod labels (say
#: kube-state-metrics', naming every pod of the cluster) are not looked up.
GPU_PREFIX: Final = "DCGM_"
#: `TargetAttribution.stale` when every series of the target changed (its node's labels).
EVERY: Final[frozenset[PodKey]] = frozenset({("", "")})


class Attributor(Protocol):
    """What the scrape room needs of an attribution cache (the shell wires one)."""

    @property
    def generation(self) -> int:
        """Moves on whenever an answer changed."""
        ...

    def pod(self, namespace: str, name: str) -> Labels:
        """Labels for samples naming this pod, at once (empty while unknown)."""
        ...

    def node(self, name: str) -> Labels:
        """Labels for every sample of an exporter on this node (empty while unknown)."""
        ...

    def touch(self, pods: Iterable[PodKey], node: str) -> None:
        """These pods and this node are still named."""
        ...


def pod_named(labels: Labels, names: tuple[str, str, str, str]) -> PodKey | None:
    """The pod that ``labels`` name: ``names`` are the preferred namespace and pod label
    names, then the fallback pair."""
    found = {k: v for k, v in labels if k in names}
    for ns_name, pod_name in ((names[0], names[1]), (names[2], names[3])):
        ns, pod = found.get(ns_name), found.get(pod_name)
        if ns and pod:
            return ns, pod
    return None


EXPOSED: Final = ("exported_namespace", "exported_pod", "namespace", "pod")


class TargetAttribution:
    """The attribution labels of one target's series, and which pods they came from."""

    __slots__ = ("_built", "_generation", "_named", "_node_labels", "node", "source")

    def __init__(
        self, source: Attributor, node: str, target_labels: Labels, *, honor_labels: bool
    ) -> None:
        self.source = source
        self.node = node
        self._node_labels = source.node(node) if node else ()
        self._generation = source.generation
        #: The pod each built series names, read back from its labels (see `pods_of`).
        clash = not honor_labels and {"namespace", "pod"} <= {k for k, _ in target_labels}
        self._named = (
            ("exported_namespace", "exported_pod", "exported_namespace", "exported_pod")
            if clash
            else EXPOSED
        )
        #: The labels each named pod's series were built with.
        self._built: dict[PodKey, Labels] = {}

    def extra(self, exposed: Labels, *, gpu: bool) -> Labels:
        """The labels to add to a new series with these exposed labels; the pod's only for a
        ``gpu`` (DCGM) series."""
        key = pod_named(exposed, EXPOSED) if gpu else None
        if key is None:
            return self._node_labels
        labels = self.source.pod(*key)
        self._built[key] = labels
        return labels + self._node_labels

    def stale(self) -> frozenset[PodKey] | None:
        """The pods whose series must be built again (`EVERY` for all), or None; once per
        scrape, before parsing. Also tells the source which pods are still named."""
        source = self.source
        source.touch(self._built, self.node)
        if source.generation == self._generation:
            return None
        self._generation = source.generation
        node_labels = source.node(self.node) if self.node else ()
        if node_labels != self._node_labels:
            self._node_labels = node_labels
            self._built.clear()
            return EVERY
        changed = frozenset(k for k, v in self._built.items() if source.pod(*k) != v)
        for key in changed:
            del self._built[key]
        return changed or None

    def names(self, series: Series) -> PodKey | None:
        """The pod a built series names."""
        return pod_named(series.labels, self._named)

    def keep_only(self, series: Iterable[Series]) -> None:
        """Forget the pods none of ``series`` name (the exporter stopped naming them)."""
        named = {self.names(s) for s in series}
        self._built = {k: v for k, v in self._built.items() if k in named}
