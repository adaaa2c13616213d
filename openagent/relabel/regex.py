r"""Regex engines. Every pattern is compiled with RE2 (``re2``), which decides what is
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

import re
import warnings
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import re2

from openagent.relabel.rule import RelabelError

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False


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
