"""Label and field selectors with the apiserver's grammar and semantics.

Label selectors follow ``k8s.io/apimachinery/pkg/labels`` (``Parse``):
``k=v``, ``k==v``, ``k!=v`` (also true when ``k`` is absent), ``k in (a,b)``,
``k notin (a,b)`` (also true when absent), ``k``, ``!k``, ``k>1``, ``k<1``;
commas join requirements (AND) except inside parentheses; ``in``/``notin``
are keywords only in operator position; ``k=`` and ``k in ()`` select the
empty value; keys and values are validated like label keys and values.

Field selectors follow ``k8s.io/apimachinery/pkg/fields`` (``ParseSelector``):
comma-separated ``f=v``, ``f==v``, ``f!=v`` with ``\\``, ``\\,``, ``\\=``
escapes; an absent field compares as the empty string.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

_NAME_RE = re.compile(r"(?:[A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_DNS1123_SUBDOMAIN_RE = re.compile(
    r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*"
)
_NAME_HINT = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
    "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex "
    "used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)


class SelectorError(ValueError):
    """A selector that does not parse; the message is the apiserver's wording."""


def _check_key(key: str) -> None:
    parts = key.split("/")
    if len(parts) > 2:
        raise SelectorError(
            f'key: Invalid value: "{key}": a qualified name {_NAME_HINT} with an optional '
            "DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        )
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            raise SelectorError(f'key: Invalid value: "{key}": prefix part must be non-empty')
        if len(prefix) > 253 or not _DNS1123_SUBDOMAIN_RE.fullmatch(prefix):
            raise SelectorError(
                f'key: Invalid value: "{key}": prefix part a lowercase RFC 1123 subdomain '
                "must consist of lower case alphanumeric characters, '-' or '.', and must "
                "start and end with an alphanumeric character"
            )
    if not name:
        raise SelectorError(f'key: Invalid value: "{key}": name part must be non-empty')
    if len(name) > 63:
        raise SelectorError(
            f'key: Invalid value: "{key}": name part must be no more than 63 characters'
        )
    if not _NAME_RE.fullmatch(name):
        raise SelectorError(f'key: Invalid value: "{key}": name part {_NAME_HINT}')


def _check_value(key: str, value: str) -> None:
    if len(value) > 63:
        raise SelectorError(
            f'values[0][{key}]: Invalid value: "{value}": must be no more than 63 characters'
        )
    if value and not _NAME_RE.fullmatch(value):
        raise SelectorError(
            f'values[0][{key}]: Invalid value: "{value}": a valid label {_NAME_HINT}'
        )


@dataclass(frozen=True, slots=True)
class Requirement:
    """One label requirement: key, operator and (sorted, unique) values."""

    key: str
    op: str  # "=", "==", "!=", "in", "notin", "exists", "!", ">", "<"
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Upstream `Requirement.Matches`."""
        op = self.op
        if op == "exists":
            return self.key in labels
        if op == "!":
            return self.key not in labels
        value = labels.get(self.key)
        if op in ("=", "==", "in"):
            return value is not None and value in self.values
        if op in ("!=", "notin"):
            return value is None or value not in self.values
        if value is None:
            return False
        try:
            have = int(value)
        except ValueError:
            return False
        want = int(self.values[0])
        return have > want if op == ">" else have < want


_SPECIAL = "=!(),<>"
_SYMBOLS = ("!=", "==", "=", "!", "(", ")", ",", ">", "<")
_WHITESPACE = " \t\r\n"


def _lex(text: str) -> list[tuple[str, str]]:
    """Tokens as (kind, literal); kind is a symbol, "in", "notin", "id" or "end"."""
    tokens: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i] in _WHITESPACE:
            i += 1
        if i >= n:
            tokens.append(("end", ""))
            return tokens
        if text[i] in _SPECIAL:
            two = text[i : i + 2]
            sym = two if two in _SYMBOLS else text[i]
            tokens.append((sym, sym))
            i += len(sym)
            continue
        j = i
        while j < n and text[j] not in _SPECIAL and text[j] not in _WHITESPACE:
            j += 1
        word = text[i:j]
        tokens.append((word if word in ("in", "notin") else "id", word))
        i = j


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _lex(text)
        self.pos = 0

    def peek(self, values: bool = True) -> tuple[str, str]:
        kind, lit = self.tokens[self.pos]
        return ("id", lit) if values and kind in ("in", "notin") else (kind, lit)

    def take(self, values: bool = True) -> tuple[str, str]:
        tok = self.peek(values)
        self.pos += 1
        return tok

    def parse(self) -> list[Requirement]:
        reqs: list[Requirement] = []
        while True:
            kind, lit = self.peek()
            if kind == "end":
                return reqs
            if kind not in ("id", "!"):
                raise SelectorError(f"found '{lit}', expected: !, identifier, or 'end of string'")
            try:
                reqs.append(self.requirement())
            except SelectorError as err:
                raise SelectorError(f"unable to parse requirement: {err}") from None
            kind, lit = self.take()
            if kind == "end":
                return reqs
            if kind != ",":
                raise SelectorError(f"found '{lit}', expected: ',' or 'end of string'")
            kind, lit = self.peek()
            if kind not in ("id", "!"):
                raise SelectorError(f"found '{lit}', expected: identifier after ','")

    def requirement(self) -> Requirement:
        kind, key = self.take()
        negated = kind == "!"
        if negated:
            kind, key = self.take()
        if kind != "id":
            raise SelectorError(f"found '{key}', expected: identifier")
        _check_key(key)
        if negated:
            # Upstream returns here and lets the caller trip over any operator.
            return Requirement(key, "!")
        if self.peek()[0] in ("end", ","):
            return Requirement(key, "exists")
        kind, lit = self.take(values=False)
        if kind not in ("in", "notin", "=", "==", "!=", ">", "<"):
            raise SelectorError(f"found '{lit}', expected: in, notin, =, ==, !=, gt, lt")
        values = self.set_values() if kind in ("in", "notin") else self.exact_value()
        for value in values:
            _check_value(key, value)
        if kind in (">", "<"):
            try:
                int(values[0])
            except ValueError:
                raise SelectorError(
                    f"values[0]: Invalid value: \"{values[0]}\": for 'Gt', 'Lt' operators, "
                    "the value must be an integer"
                ) from None
        return Requirement(key, kind, values)

    def exact_value(self) -> tuple[str, ...]:
        if self.peek()[0] in ("end", ","):
            return ("",)
        kind, lit = self.take()
        if kind != "id":
            raise SelectorError(f"found '{lit}', expected: identifier")
        return (lit,)

    def set_values(self) -> tuple[str, ...]:
        kind, lit = self.take()
        if kind != "(":
            raise SelectorError(f"found '{lit}' expected: '('")
        kind, lit = self.peek()
        if kind == ")":
            self.take()
            return ("",)
        if kind not in ("id", ","):
            raise SelectorError(f"found '{lit}', expected: ',', ')' or identifier")
        values: set[str] = set()
        previous = "("
        while True:
            kind, lit = self.take()
            if kind == "id":
                values.add(lit)
            elif kind == ",":
                if previous in ("(", ","):
                    values.add("")
            elif kind == ")":
                if previous == ",":
                    values.add("")
                return tuple(sorted(values))
            else:
                raise SelectorError(f"found '{lit}', expected: ',', or identifier")
            nxt = self.peek()[0]
            if kind == "id" and nxt not in (",", ")"):
                raise SelectorError(f"found '{self.peek()[1]}', expected: ',' or ')'")
            previous = kind


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """A parsed label selector (AND of requirements); empty matches everything."""

    requirements: tuple[Requirement, ...] = ()

    @classmethod
    def parse(cls, text: str) -> LabelSelector:
        """Parse a ``labelSelector`` query value; `SelectorError` on bad syntax."""
        reqs = _Parser(text).parse()
        return cls(tuple(sorted(reqs, key=lambda r: r.key)))

    @property
    def empty(self) -> bool:
        """True when the selector restricts nothing."""
        return not self.requirements

    def matches(self, labels: Mapping[str, str]) -> bool:
        """True when every requirement holds for ``labels``."""
        return all(req.matches(labels) for req in self.requirements)


@dataclass(frozen=True, slots=True)
class FieldTerm:
    """``field = value`` or ``field != value``."""

    field: str
    value: str
    negated: bool

    def matches(self, fields: Mapping[str, str]) -> bool:
        """Compare the field (absent = empty string) with the value."""
        return (fields.get(self.field, "") == self.value) != self.negated


def _split_terms(text: str) -> list[str]:
    terms, current, escaped = [], [], False
    for ch in text:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\":
            current.append(ch)
            escaped = True
        elif ch == ",":
            terms.append("".join(current))
            current = []
        else:
            current.append(ch)
    terms.append("".join(current))
    return terms


def _unescape(value: str) -> str:
    out, escaped = [], False
    for ch in value:
        if escaped:
            if ch not in "\\,=":
                raise SelectorError(f"invalid field selector: invalid escape sequence: \\{ch}")
            out.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch in ",=":
            raise SelectorError(f"invalid field selector: unescaped character in value: {ch}")
        else:
            out.append(ch)
    if escaped:
        raise SelectorError("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


@dataclass(frozen=True, slots=True)
class FieldSelector:
    """A parsed field selector (AND of terms); empty matches everything."""

    terms: tuple[FieldTerm, ...] = ()

    @classmethod
    def parse(cls, text: str) -> FieldSelector:
        """Parse a ``fieldSelector`` query value; `SelectorError` on bad syntax."""
        terms = []
        for part in sorted(_split_terms(text)):
            if not part:
                continue
            for i in range(len(part)):
                op = next((o for o in ("!=", "==", "=") if part.startswith(o, i)), None)
                if op:
                    value = _unescape(part[i + len(op) :])
                    terms.append(FieldTerm(part[:i], value, op == "!="))
                    break
            else:
                raise SelectorError(f"invalid selector: '{text}'; can't understand '{part}'")
        return cls(tuple(terms))

    def transform(self, convert: Callable[[str], str]) -> FieldSelector:
        """Map every field label through ``convert`` (which may raise `ValueError`)."""
        return FieldSelector(
            tuple(FieldTerm(convert(t.field), t.value, t.negated) for t in self.terms)
        )

    @property
    def empty(self) -> bool:
        """True when the selector restricts nothing."""
        return not self.terms

    def matches(self, fields: Mapping[str, str]) -> bool:
        """True when every term holds for ``fields``."""
        return all(term.matches(fields) for term in self.terms)

    def exact(self, field: str) -> str | None:
        """The value ``field`` must equal, if the selector pins it."""
        for term in self.terms:
            if term.field == field and not term.negated:
                return term.value
        return None
