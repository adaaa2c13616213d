"""Properties of relabelling that hold for any label set."""

from __future__ import annotations

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from openagent.relabel import Relabeler, relabel

from .rules import Rule

NAMES = st.sampled_from(["__name__", "a", "b", "gpu", "UUID", "__meta_x", "__tmp_y", "job"])
VALUES = st.text(alphabet="ab01-_.;é\n", max_size=6)
LABELS = st.dictionaries(NAMES, VALUES.filter(bool), max_size=6)
REGEXES = st.sampled_from(
    ["(.*)", "", "a.*", ".*b", "a|b", "[ab]+", "\\d*", "__.*", "(?i)A.*", "\\pL+", "[^;]*;.*"]
)
SOURCES = st.lists(NAMES, max_size=3).map(tuple)


@settings(max_examples=100, deadline=None)
@given(labels=LABELS, sources=SOURCES, regex=REGEXES, separator=st.sampled_from([";", "", "/"]))
def test_keep_and_drop_partition(
    labels: dict[str, str], sources: tuple[str, ...], regex: str, separator: str
) -> None:
    kept = relabel(dict(labels), [Rule(sources, separator, regex=regex, action="keep")])
    dropped = relabel(dict(labels), [Rule(sources, separator, regex=regex, action="drop")])
    assert (kept is None) != (dropped is None)
    assert (kept if kept is not None else dropped) == labels


@settings(max_examples=100, deadline=None)
@given(labels=LABELS, sources=SOURCES, target=NAMES)
def test_keepequal_and_dropequal_partition(
    labels: dict[str, str], sources: tuple[str, ...], target: str
) -> None:
    kept = relabel(dict(labels), [Rule(sources, target_label=target, action="keepequal")])
    dropped = relabel(dict(labels), [Rule(sources, target_label=target, action="dropequal")])
    assert (kept is None) != (dropped is None)


@settings(max_examples=100, deadline=None)
@given(labels=LABELS, regex=REGEXES)
def test_labeldrop_then_labelkeep_leaves_nothing(labels: dict[str, str], regex: str) -> None:
    drop, keep = Rule(regex=regex, action="labeldrop"), Rule(regex=regex, action="labelkeep")
    assert relabel(dict(labels), [drop, keep]) == {}
    assert relabel(dict(labels), [keep, drop]) == {}


@settings(max_examples=100, deadline=None)
@given(labels=LABELS, regex=REGEXES)
def test_labeldrop_and_labelkeep_split_the_names(labels: dict[str, str], regex: str) -> None:
    dropped = relabel(dict(labels), [Rule(regex=regex, action="labeldrop")])
    kept = relabel(dict(labels), [Rule(regex=regex, action="labelkeep")])
    assert dropped is not None and kept is not None
    assert dropped.keys().isdisjoint(kept.keys())
    assert {**dropped, **kept} == labels
    assert list(dropped) == [name for name in labels if name in dropped]  # order kept


@settings(max_examples=100, deadline=None)
@given(labels=LABELS, sources=SOURCES, modulus=st.integers(1, 2**64 - 1))
def test_hashmod_is_md5_low_64_bits(
    labels: dict[str, str], sources: tuple[str, ...], modulus: int
) -> None:
    rule = Rule(sources, target_label="__tmp_hash", modulus=modulus, action="hashmod")
    result = relabel(dict(labels), [rule])
    assert result is not None
    joined = ";".join(labels.get(name, "") for name in sources)
    digest = hashlib.md5(joined.encode()).digest()
    assert int(result["__tmp_hash"]) == int.from_bytes(digest[8:], "big") % modulus
    assert 0 <= int(result["__tmp_hash"]) < modulus


@settings(max_examples=100, deadline=None)
@given(labels=LABELS, source=NAMES, target=NAMES)
def test_default_replace_copies_single_line_values(
    labels: dict[str, str], source: str, target: str
) -> None:
    result = relabel(dict(labels), [Rule((source,), target_label=target)])
    value = labels.get(source, "")
    if "\n" in value:
        assert result == labels  # "." does not match a newline: no change
    else:
        assert result is not None
        assert result.get(target, "") == value
        assert {k: v for k, v in result.items() if k != target} == {
            k: v for k, v in labels.items() if k != target
        }


@settings(max_examples=100, deadline=None)
@given(labels=LABELS, regex=REGEXES)
def test_labelmap_identity_changes_nothing(labels: dict[str, str], regex: str) -> None:
    rule = Rule(regex=f"({regex})", replacement="$1", action="labelmap")
    assert relabel(dict(labels), [rule]) == labels


@settings(max_examples=100, deadline=None)
@given(batch=st.lists(LABELS, max_size=10))
def test_relabeler_gives_same_result_as_fresh_compile(batch: list[dict[str, str]]) -> None:
    rules = [
        Rule(("a", "b"), target_label="ab", regex="(.*);(.*)", replacement="${2}_$1"),
        Rule(("gpu",), regex="1.*", action="drop"),
        Rule(regex="__meta_(.*)", replacement="meta_$1", action="labelmap"),
        Rule(("UUID",), target_label="UUID", action="uppercase"),
    ]
    relabeler = Relabeler(rules)
    for labels in batch:
        assert relabeler.process(dict(labels)) == relabel(dict(labels), rules)
