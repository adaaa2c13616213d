"""Anchored RE2 regexes: engine choice, RE2-only syntax, and equivalence of the two engines."""

from __future__ import annotations

from typing import Any

import pytest
import re2
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from openagent.relabel import RelabelError, compile_regex, relabel

from .rules import Rule

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False


def reference(pattern: str, value: str) -> tuple[str, ...] | None:
    """What Prometheus computes: RE2 searching ``^(?:pattern)$``."""
    m = re2.compile(f"^(?:{pattern})$", _OPTIONS).search(value)
    if m is None:
        return None
    return tuple("" if g is None else g for g in (m.group(), *m.groups()))


PYTHON_ENGINE = [
    "(.*)",
    "foo_(.+)",
    "(?:.+,|^)path:(/[^,]+).*",
    "[a-z]+\\d{2,3}",
    "a$",
    "(?P<x>a)|b",
    "\\.\\-\\ ",
    "[]a]",
    "[^]a]",
    "\\x41",
    "é\\b",
    "(ab)*c",
]

RE2_ENGINE = [
    "\\pL",
    "\\p{Greek}",
    "\\PL",
    "[[:alpha:]]",
    "\\Qa.b\\E",
    "a\\z",
    "(?U)a+",
    "(?i)abc",
    "(?i:abc)",
    "(?s).",
    "\\s",
    "\\B",
    "\\12",
    "\\x{41}",
    "a{,3}",
    "(a+)+",
    "(a|b)*",
    "(a*){2}",
    "[a[]",
    "[a&&b]",
    "(?<n>a)",
    "(?P<a>x)(?P<a>y)",
]


@pytest.mark.parametrize("pattern", PYTHON_ENGINE)
def test_python_engine_for_portable_patterns(pattern: str) -> None:
    assert compile_regex(pattern).engine == "re"


@pytest.mark.parametrize("pattern", RE2_ENGINE)
def test_re2_engine_for_re2_only_syntax(pattern: str) -> None:
    assert compile_regex(pattern).engine == "re2"


# (pattern, value, expected groups or None); each is also checked against RE2 itself.
SEMANTICS: list[tuple[str, str, tuple[str, ...] | None]] = [
    ("a", "ba", None),
    ("a", "ab", None),
    ("f|o", "foo", None),
    ("(.*)", "x\ny", None),
    ("a$", "a\n", None),
    ("a$", "a", ("a",)),
    ("\\pL+", "héllo", ("héllo",)),
    ("\\pL+", "h1", None),
    ("\\p{Greek}+", "αβ", ("αβ",)),
    ("\\p{Greek}+", "ab", None),
    ("\\PL+", "123", ("123",)),
    ("[[:alpha:]]+", "abc", ("abc",)),
    ("[[:alpha:]]+", "a1", None),
    ("[[:^digit:]]", "1", None),
    ("\\Qa.b\\E", "a.b", ("a.b",)),
    ("\\Qa.b\\E", "axb", None),
    ("a\\z", "a\n", None),
    ("(?U)(a+)(a*)", "aaa", ("aaa", "a", "aa")),
    ("(?i)nvidia.*", "NVIDIA L4", ("NVIDIA L4",)),
    ("(?s)a.b", "a\nb", ("a\nb",)),
    ("a.b", "a\nb", None),
    ("\\s+", " \t\n\f\r", (" \t\n\f\r",)),
    ("\\s", "\v", None),
    ("\\d+", "٣", None),
    ("\\w+", "é", None),
    ("é\\b", "é", None),
    ("\\bab\\b", "ab", ("ab",)),
    ("\\12", "\n", ("\n",)),
    ("\\x{41}", "A", ("A",)),
    ("a{,3}", "a{,3}", ("a{,3}",)),
    ("a{,3}", "aa", None),
    ("[a[]+", "a[", ("a[",)),
    ("(a|ab)(c|bcd)(d*)", "abcd", ("abcd", "a", "bcd", "")),
    ("(a+?)(a*)", "aaa", ("aaa", "a", "aa")),
    ("(a)*", "", ("", "")),
    ("(?P<a>x)(?P<a>y)", "xy", ("xy", "x", "y")),
]


@pytest.mark.parametrize(("pattern", "value", "expected"), SEMANTICS)
def test_match_semantics(pattern: str, value: str, expected: tuple[str, ...] | None) -> None:
    assert reference(pattern, value) == expected
    assert compile_regex(pattern).match(value) == expected
    assert compile_regex(pattern).test(value) is (expected is not None)


def test_duplicate_group_name_expands_to_first() -> None:
    rules = [Rule(("a",), target_label="b", regex="(?P<g>x)(?P<g>y)", replacement="$g")]
    assert relabel({"a": "xy"}, rules) == {"a": "xy", "b": "x"}


def test_angle_bracket_named_group() -> None:
    rules = [Rule(("a",), target_label="b", regex="(?<n>[a-z]+)-\\d", replacement="${n}!")]
    assert relabel({"a": "gpu-1"}, rules) == {"a": "gpu-1", "b": "gpu!"}


def test_invalid_regex_message_names_pattern() -> None:
    with pytest.raises(RelabelError) as caught:
        compile_regex("x(?=y)")
    assert caught.value.field == "regex"
    assert "'x(?=y)'" in str(caught.value)


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    ("pattern", "value"),
    [
        ("(a+)+b", "a" * 64 + "c"),
        ("(a|aa)*b", "a" * 64 + "c"),
        ("(.*)(.*)(.*)(.*)(.*)x", "a" * 20000),
        ("(.*);(.*);(.*)x", ";" * 20000),
    ],
)
def test_catastrophic_patterns_run_in_linear_time(pattern: str, value: str) -> None:
    # Python's backtracking would not finish these; the RE2 path does at once.
    assert compile_regex(pattern).match(value) is None


@pytest.mark.parametrize("length", [10, 999, 1000, 1001, 5000])
def test_long_values_give_the_same_result(length: int) -> None:
    value = "x" * (length - 4) + "_y_z"
    pattern = "(.*)_(.*)"
    assert compile_regex(pattern).engine == "re"
    assert compile_regex(pattern).match(value) == reference(pattern, value)


_ATOMS = st.sampled_from(
    ["a", "b", ".", "[ab]", "[^a]", "[a-]", "[]a]", "\\d", "\\w", "\\W", "\\b", "-", "\\.",
     "^", "$", "\\A", "()", "\\x61", "é", "\n", "\\pL", "\\s", "[[:alpha:]]"]
)  # fmt: skip
_QUANTIFIERS = st.sampled_from(
    ["", "", "", "*", "+", "?", "*?", "+?", "??", "{2}", "{1,2}", "{0,}", "{1,3}?"]
)


def _patterns() -> st.SearchStrategy[str]:
    piece = st.builds(lambda a, q: a + q, _ATOMS, _QUANTIFIERS)

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        group = st.builds(
            lambda kind, body, q: kind.format(body) + q,
            st.sampled_from(["({})", "(?:{})", "(?P<g>{})"]),
            inner,
            _QUANTIFIERS,
        )
        seq = st.lists(st.one_of(piece, group), min_size=1, max_size=4).map("".join)
        return st.one_of(seq, st.builds(lambda x, y: f"{x}|{y}", seq, seq))

    return st.recursive(piece, extend, max_leaves=8)


@settings(max_examples=250, deadline=None)
@given(
    pattern=_patterns(),
    values=st.lists(st.text(alphabet="ab-é\n1_ .", max_size=8), min_size=1, max_size=8),
)
def test_both_engines_agree_with_re2(pattern: str, values: list[str]) -> None:
    try:
        regex = compile_regex(pattern)
    except RelabelError:
        assume(False)
        raise
    for value in values:
        expected: Any = reference(pattern, value)
        assert regex.match(value) == expected, (pattern, value)
