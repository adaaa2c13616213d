"""Configuration validation: what Prometheus rejects, with errors that name the field."""

from __future__ import annotations

from typing import Any

import pytest

from openagent.relabel import Relabeler, RelabelError, validate_rule

from .rules import Rule

# (id, rule fields, field named by the error, fragment of the message)
INVALID: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "unknown-action",
        {"action": "rename", "target_label": "x"},
        "action",
        "unknown relabel action 'rename'",
    ),
    ("empty-action", {"action": "", "target_label": "x"}, "action", "cannot be empty"),
    ("action-not-string", {"action": 3}, "action", "must be a string"),
    ("regex-syntax", {"regex": "a(", "action": "keep"}, "regex", "missing )"),
    (
        "regex-backreference",
        {"regex": "(a)\\1", "action": "keep"},
        "regex",
        "invalid escape sequence",
    ),
    ("regex-lookahead", {"regex": "a(?=b)", "action": "keep"}, "regex", "(?="),
    ("regex-lookbehind", {"regex": "(?<=a)b", "action": "keep"}, "regex", "(?<"),
    ("regex-atomic", {"regex": "(?>a)", "action": "keep"}, "regex", "(?>"),
    ("regex-possessive", {"regex": "a*+", "action": "keep"}, "regex", "*+"),
    ("regex-python-Z", {"regex": "a\\Z", "action": "keep"}, "regex", "\\Z"),
    ("regex-comment", {"regex": "(?#x)a", "action": "keep"}, "regex", "(?#"),
    ("regex-conditional", {"regex": "(a)?(?(1)b|c)", "action": "keep"}, "regex", "invalid regex"),
    ("regex-repeat-too-large", {"regex": "a{1001}", "action": "keep"}, "regex", "{1001}"),
    ("regex-go-rejects-C", {"regex": "\\C", "action": "keep"}, "regex", "\\C"),
    (
        "regex-go-rejects-unicode-group-name",
        {"regex": "(?P<é>a)", "action": "keep"},
        "regex",
        "named capture",
    ),
    ("regex-unbalanced-wrap", {"regex": "a)|(b", "action": "keep"}, "regex", "wrapping"),
    ("regex-not-string", {"regex": None, "action": "keep"}, "regex", "must be a string"),
    (
        "source-label-invalid",
        {"source_labels": ["a-b"], "target_label": "x"},
        "source_labels",
        "'a-b'",
    ),
    (
        "source-labels-a-string",
        {"source_labels": "abc", "target_label": "x"},
        "source_labels",
        "not a string",
    ),
    ("replace-needs-target", {"source_labels": ["a"]}, "target_label", "requires a target_label"),
    (
        "replace-target-bad-template",
        {"target_label": "-foo${1}bar-"},
        "target_label",
        "-foo${1}bar-",
    ),
    ("replace-target-bad-name", {"target_label": "a.b"}, "target_label", "'a.b'"),
    ("replace-target-lone-dollar", {"target_label": "$"}, "target_label", "'$'"),
    ("replace-target-empty-braces", {"target_label": "${}"}, "target_label", "'${}'"),
    ("replace-target-open-brace", {"target_label": "foo${"}, "target_label", "'foo${'"),
    (
        "hashmod-needs-modulus",
        {"action": "hashmod", "target_label": "h"},
        "modulus",
        "non-zero modulus",
    ),
    (
        "hashmod-zero-modulus",
        {"action": "hashmod", "target_label": "h", "modulus": 0},
        "modulus",
        "non-zero",
    ),
    (
        "hashmod-negative-modulus",
        {"action": "hashmod", "target_label": "h", "modulus": -1},
        "modulus",
        "outside",
    ),
    (
        "hashmod-huge-modulus",
        {"action": "hashmod", "target_label": "h", "modulus": 2**64},
        "modulus",
        "outside",
    ),
    (
        "hashmod-bool-modulus",
        {"action": "hashmod", "target_label": "h", "modulus": True},
        "modulus",
        "integer",
    ),
    (
        "hashmod-needs-target",
        {"action": "hashmod", "modulus": 3},
        "target_label",
        "requires a target_label",
    ),
    (
        "hashmod-target-template",
        {"action": "hashmod", "modulus": 3, "target_label": "$1"},
        "target_label",
        "'$1'",
    ),
    ("lowercase-needs-target", {"action": "lowercase"}, "target_label", "requires a target_label"),
    ("uppercase-needs-target", {"action": "uppercase"}, "target_label", "requires a target_label"),
    ("keepequal-needs-target", {"action": "keepequal"}, "target_label", "requires a target_label"),
    ("dropequal-needs-target", {"action": "dropequal"}, "target_label", "requires a target_label"),
    (
        "lowercase-target-template",
        {"action": "lowercase", "target_label": "${1}"},
        "target_label",
        "'${1}'",
    ),
    (
        "uppercase-replacement",
        {"action": "uppercase", "target_label": "u", "replacement": "x"},
        "replacement",
        "uppercase",
    ),
    (
        "lowercase-replacement",
        {"action": "lowercase", "target_label": "u", "replacement": ""},
        "replacement",
        "lowercase",
    ),
    (
        "keepequal-regex",
        {"action": "keepequal", "target_label": "t", "regex": "a"},
        "regex",
        "keepequal",
    ),
    (
        "keepequal-separator",
        {"action": "keepequal", "target_label": "t", "separator": ","},
        "separator",
        "keepequal",
    ),
    (
        "dropequal-modulus",
        {"action": "dropequal", "target_label": "t", "modulus": 2},
        "modulus",
        "dropequal",
    ),
    (
        "dropequal-replacement",
        {"action": "dropequal", "target_label": "t", "replacement": "x"},
        "replacement",
        "dropequal",
    ),
    (
        "labeldrop-source-labels",
        {"action": "labeldrop", "regex": "a", "source_labels": ["a"]},
        "source_labels",
        "labeldrop",
    ),
    (
        "labeldrop-target-label",
        {"action": "labeldrop", "regex": "a", "target_label": "a"},
        "target_label",
        "labeldrop",
    ),
    (
        "labelkeep-modulus",
        {"action": "labelkeep", "regex": "a", "modulus": 5},
        "modulus",
        "labelkeep",
    ),
    (
        "labelkeep-separator",
        {"action": "labelkeep", "regex": "a", "separator": ","},
        "separator",
        "labelkeep",
    ),
    (
        "labelkeep-replacement",
        {"action": "labelkeep", "regex": "a", "replacement": "x"},
        "replacement",
        "labelkeep",
    ),
    (
        "labelmap-bad-replacement",
        {"action": "labelmap", "regex": "a(.*)", "replacement": "-$1"},
        "replacement",
        "'-$1'",
    ),
    (
        "labelmap-replacement-dollar",
        {"action": "labelmap", "replacement": "$"},
        "replacement",
        "'$'",
    ),
    (
        "separator-not-string",
        {"source_labels": ["a"], "target_label": "x", "separator": None},
        "separator",
        "must be a string",
    ),
]

VALID: list[tuple[str, dict[str, Any]]] = [
    ("replace-plain", {"source_labels": ["a"], "target_label": "b"}),
    ("replace-template", {"target_label": "${1}"}),
    ("replace-templates", {"target_label": "asd$2asd"}),
    ("replace-underscores", {"target_label": "_${1}_"}),
    ("replace-named-template", {"target_label": "foo${bar}foo"}),
    ("replace-template-prefix", {"target_label": "${1}label"}),
    ("replace-upper-case-action", {"target_label": "x", "action": "REPLACE"}),
    ("keep-ignores-target", {"action": "keep", "target_label": "-not-checked-"}),
    ("keep-empty-regex", {"action": "keep", "regex": ""}),
    ("drop-with-modulus", {"action": "drop", "modulus": 7}),
    ("hashmod", {"action": "hashmod", "target_label": "h", "modulus": 2**64 - 1}),
    ("labelmap-default", {"action": "labelmap", "regex": "__meta_(.+)"}),
    ("labelmap-source-labels-ignored", {"action": "labelmap", "source_labels": ["x"]}),
    ("labeldrop", {"action": "LabelDrop", "regex": "tmp_.*"}),
    ("keepequal", {"action": "keepequal", "source_labels": ["a"], "target_label": "b"}),
    ("lowercase", {"action": "lowercase", "source_labels": ["a"], "target_label": "b"}),
    ("re2-only-syntax", {"action": "keep", "regex": "\\pL[[:digit:]]\\Q.\\E(?i:x)\\z"}),
    ("go-named-group", {"action": "keep", "regex": "(?P<n_1>a)(?<m>b)"}),
    ("source-labels-none", {"source_labels": None, "target_label": "x"}),
]


@pytest.mark.parametrize(
    ("fields", "field", "fragment"), [pytest.param(*c[1:], id=c[0]) for c in INVALID]
)
def test_invalid_rule(fields: dict[str, Any], field: str, fragment: str) -> None:
    rule = Rule.of(fields)
    with pytest.raises(RelabelError) as caught:
        validate_rule(rule)
    error = caught.value
    assert error.field == field
    assert error.index is None
    assert fragment in str(error)
    assert f"field {field!r}" in str(error)


@pytest.mark.parametrize("fields", [pytest.param(c[1], id=c[0]) for c in VALID])
def test_valid_rule(fields: dict[str, Any]) -> None:
    rule = Rule.of(fields)
    validate_rule(rule)
    assert Relabeler([rule])


def test_relabeler_error_names_rule_index_and_field() -> None:
    rules = [Rule(target_label="a"), Rule(action="keep"), Rule(action="hashmod", target_label="h")]
    with pytest.raises(RelabelError) as caught:
        Relabeler(rules)
    error = caught.value
    assert (error.index, error.field) == (2, "modulus")
    assert str(error).startswith("relabel rule 2, field 'modulus': ")
    assert isinstance(error, ValueError)


def test_first_bad_rule_is_reported() -> None:
    with pytest.raises(RelabelError) as caught:
        Relabeler([Rule(target_label="ok"), Rule(regex="(", action="keep"), Rule(action="nope")])
    assert caught.value.index == 1
    assert caught.value.field == "regex"
