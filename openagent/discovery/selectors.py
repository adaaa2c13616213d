"""Label and namespace selectors of PodMonitor and ServiceMonitor targets.

Label selectors have Kubernetes semantics: every ``matchLabels`` pair and
every ``matchExpressions`` requirement must hold. ``In`` needs the key with
one of the values; ``NotIn`` holds when the key is absent or its value is
not listed; ``Exists`` and ``DoesNotExist`` look at the key only. An empty
selector selects everything. Each selector is also rendered as a label
selector string for the API server (``app=dcgm,tier in (a,b),!canary``);
a requirement that the API server's grammar cannot carry (a key or value
that is not a valid label key or value) stays out of that string and is
checked here only, so the pushed-down string never selects less than the
selector does.

Namespaces (``namespaceSelector``):

- absent or empty (no ``any``, ``matchNames``, ``matchLabels`` or
  ``matchExpressions``): only the namespace ``default``, as the Go agent
  does (the config loader warns about an absent one);
- ``matchNames``: those namespaces;
- ``any: true``: every namespace (``matchNames`` is then ignored, and the
  loader warns);
- ``matchLabels``/``matchExpressions``: namespaces whose labels match (this
  needs the namespaces informer); together with ``matchNames``, a namespace
  must be named *and* match.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from openagent.config import LabelSelector, LabelSelectorRequirement, NamespaceSelector

DEFAULT_NAMESPACE = "default"

_NAME = re.compile(r"(?:[A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_PREFIX = re.compile(r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*")


def valid_label_key(key: str) -> bool:
    """True for a label key the API server accepts (``[prefix/]name``)."""
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or len(prefix) > 253 or not _PREFIX.fullmatch(prefix)):
        return False
    return 0 < len(name) <= 63 and bool(_NAME.fullmatch(name))


def valid_label_value(value: str) -> bool:
    """True for a non-empty label value the API server accepts."""
    return 0 < len(value) <= 63 and bool(_NAME.fullmatch(value))


@dataclass(frozen=True, slots=True)
class Requirement:
    """One condition on a label set: ``key`` with ``op`` In, NotIn, Exists or DoesNotExist."""

    key: str
    op: str
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """True when ``labels`` satisfy the condition."""
        value = labels.get(self.key)
        if self.op == "In":
            return value is not None and value in self.values
        if self.op == "NotIn":
            return value is None or value not in self.values
        if self.op == "Exists":
            return value is not None
        return value is None

    def render(self) -> str | None:
        """The requirement in label selector syntax, or None when the grammar cannot carry it."""
        if not valid_label_key(self.key):
            return None
        if self.op in ("In", "NotIn"):
            if not self.values or not all(valid_label_value(v) for v in self.values):
                return None
            values = sorted(self.values)
            if len(values) == 1:
                return f"{self.key}{'=' if self.op == 'In' else '!='}{values[0]}"
            return f"{self.key} {self.op.lower()} ({','.join(values)})"
        return self.key if self.op == "Exists" else f"!{self.key}"


def _requirements(
    match_labels: Mapping[str, str], expressions: Iterable[LabelSelectorRequirement]
) -> tuple[Requirement, ...]:
    reqs = [Requirement(k, "In", frozenset((v,))) for k, v in sorted(match_labels.items())]
    reqs += [Requirement(e.key, e.operator, frozenset(e.values)) for e in expressions]
    return tuple(reqs)


@dataclass(frozen=True, slots=True)
class Selector:
    """A compiled label selector (see the module docs); hashable, so usable as a key."""

    requirements: tuple[Requirement, ...] = ()

    @classmethod
    def of(cls, selector: LabelSelector | None) -> Selector:
        """Compile a config selector; None selects everything."""
        if selector is None:
            return cls()
        return cls(_requirements(selector.match_labels, selector.match_expressions))

    @property
    def empty(self) -> bool:
        """True when the selector selects everything."""
        return not self.requirements

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        """True when every requirement holds for ``labels``."""
        got = labels or {}
        return all(r.matches(got) for r in self.requirements)

    @property
    def pushdown(self) -> str | None:
        """The label selector string for the API server (None: nothing to push)."""
        parts = [text for r in self.requirements if (text := r.render()) is not None]
        return ",".join(sorted(set(parts))) or None

    @property
    def exact(self) -> bool:
        """True when the pushed-down string says everything (no client-side check needed)."""
        return all(r.render() is not None for r in self.requirements)


@dataclass(frozen=True, slots=True)
class NamespaceScope:
    """Which namespaces a target searches.

    ``names`` None means every namespace; ``labels`` None means no condition
    on namespace labels (otherwise the namespaces informer is needed).
    """

    names: frozenset[str] | None
    labels: Selector | None = None

    @classmethod
    def of(cls, selector: NamespaceSelector | None) -> NamespaceScope:
        """The scope of a config ``namespaceSelector`` (rules in the module docs)."""
        if selector is None:
            return cls(frozenset((DEFAULT_NAMESPACE,)))
        reqs = _requirements(selector.match_labels, selector.match_expressions)
        labels = Selector(reqs) if reqs else None
        if selector.any:
            return cls(None, labels)
        if selector.match_names:
            return cls(frozenset(selector.match_names), labels)
        if labels is not None:
            return cls(None, labels)
        return cls(frozenset((DEFAULT_NAMESPACE,)))

    @property
    def needs_namespace_labels(self) -> bool:
        """True when namespace labels decide (the namespaces informer is needed)."""
        return self.labels is not None

    def selects(self, namespace: str, labels: Mapping[str, str] | None) -> bool:
        """True when ``namespace`` (with ``labels``, None if unknown) is searched.

        A namespace whose labels are unknown is not selected when labels decide.
        """
        if self.names is not None and namespace not in self.names:
            return False
        if self.labels is None:
            return True
        return labels is not None and self.labels.matches(labels)

    def describe(self) -> str:
        """A short description for messages (``namespaces a, b``, ``every namespace``)."""
        where = (
            "every namespace"
            if self.names is None
            else "namespace"
            + ("s " if len(self.names) > 1 else " ")
            + ", ".join(sorted(self.names))
        )
        if self.labels is not None:
            where += f" labelled {self.labels.pushdown or '(client-side selector)'}"
        return where
