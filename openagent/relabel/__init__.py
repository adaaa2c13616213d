r"""Prometheus relabelling (``relabel_configs`` / ``metric_relabel_configs``), exact semantics.

Rules behave as in Prometheus 2.x ``model/relabel``: the value a rule reads is its
source labels' values joined by the separator (a missing label reads as ""), regexes
are anchored on both ends, replacements expand like Go's ``Regexp.Expand``, and a
label set to "" is removed at once. Validation rejects what Prometheus rejects when it
loads a configuration (plus the few deviations listed in the tests' known differences).

The regex engine choice is described in `openagent.relabel.regex`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from openagent.relabel.regex import AnchoredRegex, compile_regex
from openagent.relabel.rule import (
    _LABEL_NAME,
    _MAX_MODULUS,
    _NAMED_TARGET,
    _NEEDS_TARGET,
    _TEMPLATE_SHAPE,
    ACTIONS,
    DEFAULT_ACTION,
    DEFAULT_REGEX,
    DEFAULT_REPLACEMENT,
    DEFAULT_SEPARATOR,
    RelabelError,
    RuleLike,
    is_label_name,
)
from openagent.relabel.text import Expander, _compile_template, go_lower, go_upper, hashmod

__all__ = [
    "ACTIONS",
    "DEFAULT_ACTION",
    "DEFAULT_REGEX",
    "DEFAULT_REPLACEMENT",
    "DEFAULT_SEPARATOR",
    "AnchoredRegex",
    "RelabelError",
    "Relabeler",
    "RuleLike",
    "compile_regex",
    "go_lower",
    "go_upper",
    "hashmod",
    "relabel",
    "validate_rule",
]


class _Spec:
    """A validated rule with normalised fields."""

    __slots__ = ("action", "modulus", "regex", "replacement", "separator", "sources", "target")

    def __init__(self, rule: RuleLike) -> None:
        action = _string(rule.action, "action")
        self.action = action.lower()
        if not self.action:
            raise RelabelError("relabel action cannot be empty", field="action")
        if self.action not in ACTIONS:
            expected = ", ".join(sorted(ACTIONS))
            raise RelabelError(
                f"unknown relabel action {action!r} (expected one of {expected})", field="action"
            )
        self.regex = compile_regex(_string(rule.regex, "regex"))
        sources = rule.source_labels or ()
        if isinstance(sources, str):
            raise RelabelError("must be a list of label names, not a string", field="source_labels")
        self.sources = tuple(_string(name, "source_labels") for name in sources)
        for name in self.sources:
            if not is_label_name(name):
                raise RelabelError(f"{name!r} is not a valid label name", field="source_labels")
        self.separator = _string(rule.separator, "separator")
        self.target = _string(rule.target_label or "", "target_label")
        self.replacement = _string(rule.replacement, "replacement")
        modulus = rule.modulus or 0
        if not isinstance(modulus, int) or isinstance(modulus, bool):
            raise RelabelError(f"must be an integer, got {modulus!r}", field="modulus")
        if not 0 <= modulus <= _MAX_MODULUS:
            raise RelabelError(f"{modulus} is outside 0..2**64-1", field="modulus")
        self.modulus = modulus
        self._check_fields()

    def _check_fields(self) -> None:
        action, target = self.action, self.target
        if action == "hashmod" and self.modulus == 0:
            raise RelabelError("the hashmod action requires a non-zero modulus", field="modulus")
        if action in _NEEDS_TARGET and not target:
            raise RelabelError(f"the {action} action requires a target_label", field="target_label")
        if action == "replace" and _TEMPLATE_SHAPE.fullmatch(target) is None:
            raise RelabelError(
                f"{target!r} is neither a label name nor a $-template of one", field="target_label"
            )
        if action in _NAMED_TARGET and not is_label_name(target):
            raise RelabelError(
                f"{target!r} is not a valid label name for the {action} action",
                field="target_label",
            )
        if action == "labelmap" and _TEMPLATE_SHAPE.fullmatch(self.replacement) is None:
            raise RelabelError(
                f"{self.replacement!r} is neither a label name nor a $-template of one",
                field="replacement",
            )
        if action in ("lowercase", "uppercase", "keepequal", "dropequal"):
            self._only(action, "replacement", self.replacement != DEFAULT_REPLACEMENT)
        if action in ("keepequal", "dropequal"):
            allowed = "only source_labels and target_label"
            self._only(action, "regex", self.regex.source != DEFAULT_REGEX, allowed)
            self._only(action, "modulus", self.modulus != 0, allowed)
            self._only(action, "separator", self.separator != DEFAULT_SEPARATOR, allowed)
        if action in ("labeldrop", "labelkeep"):
            self._only(action, "source_labels", bool(self.sources), "only regex")
            self._only(action, "target_label", bool(target), "only regex")
            self._only(action, "modulus", self.modulus != 0, "only regex")
            self._only(action, "separator", self.separator != DEFAULT_SEPARATOR, "only regex")
            self._only(action, "replacement", self.replacement != DEFAULT_REPLACEMENT, "only regex")

    @staticmethod
    def _only(action: str, field: str, is_set: bool, allowed: str = "") -> None:
        if is_set:
            hint = f"; it takes {allowed}" if allowed else ""
            raise RelabelError(f"cannot be set for the {action} action{hint}", field=field)


def _string(value: object, field: str) -> str:
    if not isinstance(value, str):
        raise RelabelError(f"must be a string, got {type(value).__name__}", field=field)
    return value


def validate_rule(rule: RuleLike) -> None:
    """Raise RelabelError if Prometheus's configuration loading would reject ``rule``."""
    _Spec(rule)


Step = Callable[[dict[str, str]], bool]  # mutates the labels; False drops the set


def _assign(labels: dict[str, str], name: str, value: str) -> None:
    if value:
        labels[name] = value
    else:
        labels.pop(name, None)


def _reader(spec: _Spec) -> Callable[[dict[str, str]], str]:
    sources, separator = spec.sources, spec.separator
    if not sources:
        return lambda labels: ""
    if len(sources) == 1:
        only = sources[0]
        return lambda labels: labels.get(only, "")
    return lambda labels: separator.join([labels.get(name, "") for name in sources])


def _replace_step(spec: _Spec) -> Step:
    read, test, match = _reader(spec), spec.regex.test, spec.regex.match
    target = _compile_template(spec.target, spec.regex)
    value = _compile_template(spec.replacement, spec.regex)
    if isinstance(target, str) and isinstance(value, str):
        name, constant = target, value

        def replace_constant(labels: dict[str, str]) -> bool:
            if test(read(labels)):
                _assign(labels, name, constant)
            return True

        return replace_constant
    expand_value = _as_expander(value)
    if isinstance(target, str):
        fixed = target

        def replace(labels: dict[str, str]) -> bool:
            groups = match(read(labels))
            if groups is not None:
                _assign(labels, fixed, expand_value(groups))
            return True

        return replace
    expand_target = target

    def replace_templated(labels: dict[str, str]) -> bool:
        groups = match(read(labels))
        if groups is not None:
            name = expand_target(groups)
            if _LABEL_NAME.fullmatch(name) is not None:
                _assign(labels, name, expand_value(groups))
        return True

    return replace_templated


def _as_expander(template: Expander | str) -> Expander:
    return (lambda groups: template) if isinstance(template, str) else template


class _NameMemo(dict[str, Any]):
    """Per-rule results keyed by label name; names repeat across series, values do not."""

    __slots__ = ("compute",)
    LIMIT = 4096

    def __init__(self, compute: Callable[[str], Any]) -> None:
        super().__init__()
        self.compute = compute

    def __missing__(self, name: str) -> Any:
        result = self.compute(name)
        if len(self) < self.LIMIT:
            self[name] = result
        return result


def _labelmap_step(spec: _Spec) -> Step:
    match, template = (
        spec.regex.match,
        _as_expander(_compile_template(spec.replacement, spec.regex)),
    )

    def new_name(name: str) -> str | None:
        groups = match(name)
        if groups is None:
            return None
        mapped = template(groups)
        return mapped if _LABEL_NAME.fullmatch(mapped) is not None else None

    mapped = _NameMemo(new_name)

    def labelmap(labels: dict[str, str]) -> bool:
        updates = [(mapped[name], labels[name]) for name in sorted(labels)]
        for name, value in updates:
            if name is not None:
                _assign(labels, name, value)
        return True

    return labelmap


def _label_filter_step(spec: _Spec) -> Step:
    test, keep_matching = spec.regex.test, spec.action == "labelkeep"
    doomed = _NameMemo(lambda name: test(name) is not keep_matching)

    def label_filter(labels: dict[str, str]) -> bool:
        for name in [n for n in labels if doomed[n]]:
            del labels[name]
        return True

    return label_filter


def _compile_step(spec: _Spec) -> Step:
    action, test, target, read = spec.action, spec.regex.test, spec.target, _reader(spec)
    if action == "replace":
        return _replace_step(spec)
    if action == "labelmap":
        return _labelmap_step(spec)
    if action in ("labeldrop", "labelkeep"):
        return _label_filter_step(spec)
    if action == "keep":
        return lambda labels: test(read(labels))
    if action == "drop":
        return lambda labels: not test(read(labels))
    if action == "keepequal":
        return lambda labels: labels.get(target, "") == read(labels)
    if action == "dropequal":
        return lambda labels: labels.get(target, "") != read(labels)
    if action == "hashmod":
        modulus = spec.modulus

        def hash_mod(labels: dict[str, str]) -> bool:
            labels[target] = str(hashmod(read(labels), modulus))
            return True

        return hash_mod
    convert = go_lower if action == "lowercase" else go_upper

    def change_case(labels: dict[str, str]) -> bool:
        _assign(labels, target, convert(read(labels)))
        return True

    return change_case


class Relabeler:
    """A compiled, ordered list of relabel rules."""

    __slots__ = ("_steps",)

    def __init__(self, rules: Sequence[RuleLike]) -> None:
        steps: list[Step] = []
        for index, rule in enumerate(rules):
            try:
                steps.append(_compile_step(_Spec(rule)))
            except RelabelError as exc:
                raise exc.at(index) from None
        self._steps = tuple(steps)

    def __bool__(self) -> bool:
        return bool(self._steps)

    def __len__(self) -> int:
        return len(self._steps)

    def process(self, labels: dict[str, str]) -> dict[str, str] | None:
        """Apply the rules in order to ``labels`` in place; None when a rule drops the set.

        A replaced label keeps its position in the dict; a new label goes last.
        """
        for step in self._steps:
            if not step(labels):
                return None
        return labels


def relabel(labels: dict[str, str], rules: Sequence[RuleLike]) -> dict[str, str] | None:
    """Compile ``rules`` and apply them to ``labels`` (for one-off use; keep a Relabeler)."""
    return Relabeler(rules).process(labels)
