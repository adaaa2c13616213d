r"""Prometheus relabelling (``relabel_configs`` / ``metric_relabel_configs``), exact semantics.

Rules behave as in Prometheus 2.x ``model/relabel``: the value a rule reads is its
source labels' values joined by the separator (a missing label reads as ""), regexes
are anchored on both ends, replacements expand like Go's ``Regexp.Expand``, and a
label set to "" is removed at once. Validation rejects what Prometheus rejects when it
loads a configuration (plus the few deviations listed in the tests' known differences).

Regex engines. Every pattern is compiled with RE2 (``re2``), which decides what is
valid, as Go's RE2-syntax engine does in Prometheus; ``\C`` and non-ASCII group names,
which RE2 accepts and Go does not, are rejected too. Matching uses Python's ``re``
(about 0.3 µs a call, against 3.5 µs through the ``re2`` binding on UTF-8 bytes and
7 µs on ``str``, measured on ``(.*)``) when a conservative scan shows that the pattern
means the same in both engines, and RE2 otherwise. The scan sends a pattern to RE2
when it uses Unicode or POSIX classes (``\pL``, ``[[:alpha:]]``), ``\Q..\E``, ``\z``,
``\s``, ``\B``, octal escapes, ``\x{..}``, any ``(?flags)`` or ``(?<name>`` group,
``{,n}``, a ``[`` or a set operator inside a class, or anything ``re`` cannot compile
without a warning. ``$`` becomes ``\Z`` (RE2's ``$`` never matches before a final
newline); ``\d``, ``\w`` and ``\b`` are ASCII in RE2, so ``re.ASCII`` is set.

Backtracking. ``re`` backtracks; RE2 runs in linear time. A quantifier applied to a
group that itself contains a quantifier or an alternation (``(a+)+``, ``(a|b)*``)
always matches through RE2. With *k* variable-length quantifiers, values longer than
``10**6 ** (1/k)`` characters (1000 for k=2, 100 for k=3) also go to RE2, which bounds
the work of one ``re`` call.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any, Protocol

import re2

__all__ = [
    "AnchoredRegex",
    "RelabelError",
    "Relabeler",
    "RuleLike",
    "compile_regex",
    "relabel",
    "validate_rule",
]

DEFAULT_SEPARATOR = ";"
DEFAULT_REGEX = "(.*)"
DEFAULT_REPLACEMENT = "$1"
DEFAULT_ACTION = "replace"

_NAMED_TARGET = frozenset({"hashmod", "lowercase", "uppercase", "keepequal", "dropequal"})
_NEEDS_TARGET = _NAMED_TARGET | {"replace"}
ACTIONS = _NEEDS_TARGET | {"keep", "drop", "labelmap", "labeldrop", "labelkeep"}
_MAX_MODULUS = 2**64 - 1

_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
# Prometheus's check of a target_label / labelmap replacement template (RE2 has no backtracking).
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False
_TEMPLATE_SHAPE = re2.compile(r"(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+", _RE2_OPTIONS)


class RuleLike(Protocol):
    """One relabel rule as configured; config models satisfy this structurally."""

    @property
    def source_labels(self) -> Sequence[str]: ...
    @property
    def separator(self) -> str: ...
    @property
    def target_label(self) -> str | None: ...
    @property
    def regex(self) -> str: ...
    @property
    def modulus(self) -> int | None: ...
    @property
    def replacement(self) -> str: ...
    @property
    def action(self) -> str: ...


class RelabelError(ValueError):
    """A relabel rule Prometheus would reject; names the rule ``index`` and the ``field``."""

    def __init__(self, message: str, *, field: str | None = None, index: int | None = None):
        self.message = message
        self.field = field
        self.index = index
        super().__init__(str(self))

    def __str__(self) -> str:
        where = "relabel rule" if self.index is None else f"relabel rule {self.index}"
        if self.field is not None:
            where += f", field {self.field!r}"
        return f"{where}: {self.message}"

    def at(self, index: int) -> RelabelError:
        """The same error, attributed to rule number ``index``."""
        return RelabelError(self.message, field=self.field, index=index)


def is_label_name(name: str) -> bool:
    """Whether ``name`` is a valid (legacy charset) Prometheus label name."""
    return _LABEL_NAME.fullmatch(name) is not None


# --------------------------------------------------------------------------- regexes

_ESCAPES = frozenset("dDwWbAtnrfva")  # same meaning in RE2 and in ``re`` with re.ASCII
_CLASS_ESCAPES = frozenset("dDwWtnrfva")
_HEX2 = re.compile(r"\\x[0-9A-Fa-f]{2}")
_REPEAT = re.compile(r"\{(\d+)(?:(,)(\d*))?\}")
_NAMED_GROUP = re.compile(r"\(\?P<[A-Za-z_][A-Za-z0-9_]*>")
_SET_OPERATORS = ("&&", "--", "~~", "||")


def _escape_len(src: str, i: int, allowed: frozenset[str]) -> int:
    """Length of the escape at ``src[i]`` if it means the same in both engines, else 0."""
    if _HEX2.match(src, i):
        return 4
    e = src[i + 1 : i + 2]
    if e and (e in allowed or (e.isascii() and not e.isalnum())):
        return 2
    return 0


def _class_end(src: str, i: int) -> int:
    """Index just past the character class opening at ``src[i]``; -1 if not portable."""
    j = i + 1
    if src.startswith("^", j):
        j += 1
    if src.startswith("]", j):
        j += 1
    while j < len(src):
        c = src[j]
        if c == "]":
            return j + 1
        if c == "[" or src.startswith(_SET_OPERATORS, j):
            return -1
        if c == "\\":
            step = _escape_len(src, j, _CLASS_ESCAPES)
            if not step:
                return -1
            j += step
        else:
            j += 1
    return -1


def _go_rejects(src: str) -> str | None:
    """What Go's regexp (Prometheus) rejects although RE2 accepts it: ``\\C``, non-ASCII names."""
    i, n, in_class = 0, len(src), False
    while i < n:
        c = src[i]
        if c == "\\":
            if src.startswith("Q", i + 1) and not in_class:
                end = src.find("\\E", i + 2)
                i = n if end < 0 else end + 2
                continue
            if src.startswith("C", i + 1):
                return "invalid escape sequence: \\C"
            i += 2
            continue
        if in_class:
            if src.startswith("[:", i):
                end = src.find(":]", i + 2)
                i = n if end < 0 else end + 2
                continue
            in_class = c != "]"
        elif c == "[":
            in_class = True
            i += 1 + src.startswith("^", i + 1)
            i += src.startswith("]", i)
            continue
        elif src.startswith(("(?P<", "(?<"), i):
            start = src.index("<", i) + 1
            name = src[start : src.find(">", start)]
            if not (name.isascii() and all(ch.isalnum() or ch == "_" for ch in name)):
                return f"invalid named capture: {name!r}"
        i += 1
    return None


def _python_form(src: str) -> tuple[str, int] | None:
    """Translate an RE2 pattern for ``re``: (pattern, variable quantifiers), or None.

    None means the pattern may mean something else in ``re`` or may backtrack badly.
    """
    out: list[str] = []
    frames: list[list[bool]] = [[False]]  # per open group: contains a quantifier or "|"
    closed: list[bool] | None = None  # the group a following quantifier would apply to
    variable = 0
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        token = c
        after_group: list[bool] | None = None
        if c == "\\":
            step = _escape_len(src, i, _ESCAPES)
            if not step:
                return None
            token = src[i : i + step]
        elif c == "[":
            end = _class_end(src, i)
            if end < 0:
                return None
            token = src[i:end]
        elif c == "(":
            m = _NAMED_GROUP.match(src, i)
            if m is not None:
                token = m.group()
            elif src.startswith("(?:", i):
                token = "(?:"
            elif src.startswith("(?", i):
                return None
            frames.append([False])
        elif c == ")":
            if len(frames) == 1:
                return None
            after_group = frames.pop()
        elif c == "|":
            for frame in frames:
                frame[0] = True
        elif c in "*+?{":
            if c == "{":
                m = _REPEAT.match(src, i)
                if m is None:
                    return None
                token = m.group()
                low, comma, high = m.groups()
                varies = comma is not None and (not high or int(high) > int(low))
            else:
                varies = c != "?"
            if closed is not None and closed[0]:
                return None  # nested quantifier: exponential backtracking in re
            if src.startswith("?", i + len(token)):
                token += "?"
            if src[i + len(token) : i + len(token) + 1] in ("*", "+", "?", "{"):
                return None
            variable += varies
            for frame in frames:
                frame[0] = True
        elif c == "$":
            out.append(r"\Z")
            i += 1
            closed = None
            continue
        out.append(token)
        i += len(token)
        closed = after_group
    if len(frames) != 1:
        return None
    return "".join(out), variable


class AnchoredRegex:
    """An anchored relabel regex: RE2-validated, matched by ``re`` when equivalent."""

    __slots__ = ("engine", "groupindex", "groups", "match", "source", "test")

    def __init__(self, source: str) -> None:
        self.source = source
        wrapped = _re2_compile(f"^(?:{source})$")  # exactly what Prometheus compiles
        bare = _re2_compile(source)
        error = bare if isinstance(bare, str) else wrapped
        if isinstance(error, str):
            if not isinstance(wrapped, str):
                # e.g. "a)|(b": Prometheus accepts it, but the wrapping no longer anchors it.
                error += " (valid only inside Prometheus's ^(?:...)$ wrapping, unanchored there)"
            raise RelabelError(f"invalid regex {source!r}: {error}", field="regex")
        go_error = _go_rejects(source)
        if go_error is not None:
            raise RelabelError(f"invalid regex {source!r}: {go_error}", field="regex")
        self.groups: int = bare.groups
        self.groupindex: dict[str, int] = dict(bare.groupindex)
        py, max_len = self._python_equivalent(source)
        #: "re" when (short enough) values are matched by Python's ``re``, else "re2".
        self.engine = "re2" if py is None else "re"
        #: Whether the whole of a value matches.
        self.test: Callable[[str], bool]
        #: Group 0 and every capture group ("" when unset) if a value matches, else None.
        self.match: Callable[[str], tuple[str, ...] | None]
        self.test, self.match = _matchers(bare, py, max_len)

    def _python_equivalent(self, source: str) -> tuple[re.Pattern[str] | None, int]:
        form = _python_form(source)
        if form is None:
            return None, -1
        pattern, variable = form
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                compiled = re.compile(pattern, re.ASCII)
        except (re.error, Warning, RecursionError, OverflowError):
            return None, -1
        if compiled.groups != self.groups:
            return None, -1
        return compiled, -1 if variable <= 1 else int(1e6 ** (1 / variable))


def _matchers(
    bare: Any, py: re.Pattern[str] | None, max_len: int
) -> tuple[Callable[[str], bool], Callable[[str], tuple[str, ...] | None]]:
    """Specialised test and match functions (``max_len`` -1: ``re`` for any length)."""
    re2_full = bare.fullmatch

    def re2_test(value: str) -> bool:
        return re2_full(value.encode("utf-8", "surrogateescape")) is not None

    def re2_match(value: str) -> tuple[str, ...] | None:
        m = re2_full(value.encode("utf-8", "surrogateescape"))
        if m is None:
            return None
        groups = (m.group(), *m.groups())
        return tuple("" if g is None else g.decode("utf-8", "surrogateescape") for g in groups)

    if py is None:
        return re2_test, re2_match
    py_full = py.fullmatch

    def py_match(value: str) -> tuple[str, ...] | None:
        m = py_full(value)
        return None if m is None else (m.group(), *m.groups(""))

    if max_len < 0:
        return (lambda value: py_full(value) is not None), py_match

    def test(value: str) -> bool:
        if len(value) <= max_len:
            return py_full(value) is not None
        return re2_test(value)

    def match(value: str) -> tuple[str, ...] | None:
        return py_match(value) if len(value) <= max_len else re2_match(value)

    return test, match


def _re2_compile(pattern: str) -> Any:
    """The compiled RE2 object, or RE2's error message."""
    try:
        return re2.compile(pattern, _RE2_OPTIONS)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        return reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)


@lru_cache(maxsize=1024)
def compile_regex(source: str) -> AnchoredRegex:
    """The anchored regex for ``source``, cached; raises RelabelError when RE2 rejects it."""
    return AnchoredRegex(source)


# --------------------------------------------------------------------------- templates

Expander = Callable[[tuple[str, ...]], str]


def _ref_end(template: str, i: int) -> int:
    """End of the name run (letters, digits, "_") starting at ``template[i]``."""
    while i < len(template) and (
        template[i].isalpha() or template[i].isdecimal() or template[i] == "_"
    ):
        i += 1
    return i


def _compile_template(template: str, regex: AnchoredRegex) -> Expander | str:
    """Compile a Go ``Regexp.Expand`` template: a constant string or an expander."""
    if "$" not in template:
        return template
    parts: list[str | int] = []
    literal: list[str] = []
    i = 0
    while i < len(template):
        c = template[i]
        i += 1
        if c != "$":
            literal.append(c)
            continue
        if template.startswith("$", i):
            literal.append("$")
            i += 1
            continue
        brace = template.startswith("{", i)
        start = i + brace
        end = _ref_end(template, start)
        if end == start or (brace and not template.startswith("}", end)):
            literal.append("$")  # malformed: "$" stays literal text
            continue
        name = template[start:end]
        i = end + brace
        num = -1
        if name.isascii() and name.isdigit() and not (name[0] == "0" and len(name) > 1):
            num = int(name) if len(name) <= 9 else -1
        index = num if num >= 0 else regex.groupindex.get(name, -1)
        if 0 <= index <= regex.groups:
            if literal:
                parts.append("".join(literal))
                literal = []
            parts.append(index)
    if literal:
        parts.append("".join(literal))
    if not parts:
        return ""
    if len(parts) == 1:
        only = parts[0]
        if isinstance(only, str):
            return only
        return lambda groups: groups[only]
    frozen = tuple(parts)
    return lambda groups: "".join(p if isinstance(p, str) else groups[p] for p in frozen)


# --------------------------------------------------------------------------- case mapping

_LOWER_SPECIAL = {"\u0130": "i"}  # the only code point whose full lower case is two characters


def _simple_lower(c: str) -> str:
    low = c.lower()
    return low if len(low) == 1 else _LOWER_SPECIAL.get(c, c)


def _simple_upper(c: str) -> str:
    up = c.upper()
    if len(up) == 1:
        return up
    title = c.title()  # where a simple upper case exists, it is the one-character title case
    return title if len(title) == 1 else c


def go_lower(value: str) -> str:
    """Go's ``strings.ToLower``: per-character simple case mapping, no special casing.

    Checked against Prometheus 2.42 for every cased character; the 80 whose mappings
    Unicode 14 added follow Python's tables (as Go 1.21 and later do).
    """
    if value.isascii():
        return value.lower()
    return "".join([_simple_lower(c) for c in value])


def go_upper(value: str) -> str:
    """Go's ``strings.ToUpper``: per-character simple case mapping (``ß`` stays ``ß``)."""
    if value.isascii():
        return value.upper()
    return "".join([_simple_upper(c) for c in value])


def hashmod(value: str, modulus: int) -> int:
    """Prometheus's hashmod: the last 8 bytes of MD5(value), big-endian, modulo ``modulus``."""
    digest = hashlib.md5(value.encode("utf-8", "surrogateescape"), usedforsecurity=False).digest()
    return int.from_bytes(digest[8:], "big") % modulus


# --------------------------------------------------------------------------- rules


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
