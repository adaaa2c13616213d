"""Label selectors, their pushed-down strings, and namespace scopes."""

from __future__ import annotations

import pytest

from openagent.config import LabelSelector, NamespaceSelector
from openagent.discovery.selectors import (
    NamespaceScope,
    Requirement,
    Selector,
    valid_label_key,
    valid_label_value,
)
from tests.kubefake.selectors import LabelSelector as ApiServerSelector


def sel(match_labels: dict[str, str] | None = None, *exprs: dict[str, object]) -> Selector:
    return Selector.of(
        LabelSelector.model_validate(
            {"matchLabels": match_labels or {}, "matchExpressions": list(exprs)}
        )
    )


def ns(**kw: object) -> NamespaceScope:
    return NamespaceScope.of(NamespaceSelector.model_validate(kw))


@pytest.mark.parametrize(
    ("op", "values", "labels", "expected"),
    [
        ("In", ["a", "b"], {"k": "a"}, True),
        ("In", ["a", "b"], {"k": "c"}, False),
        ("In", ["a"], {}, False),
        ("NotIn", ["a"], {"k": "b"}, True),
        ("NotIn", ["a"], {"k": "a"}, False),
        ("NotIn", ["a"], {}, True),  # an absent key is "not in"
        ("Exists", [], {"k": ""}, True),
        ("Exists", [], {"j": "x"}, False),
        ("DoesNotExist", [], {"j": "x"}, True),
        ("DoesNotExist", [], {"k": ""}, False),
    ],
)
def test_match_expressions_semantics(
    op: str, values: list[str], labels: dict[str, str], expected: bool
) -> None:
    s = sel(None, {"key": "k", "operator": op, "values": values})
    assert s.matches(labels) is expected
    # the API server means the same thing by the pushed-down string
    assert ApiServerSelector.parse(s.pushdown or "").matches(labels) is expected


def test_match_labels_and_expressions_all_hold() -> None:
    s = sel(
        {"app": "custom-dcgm"},
        {"key": "app.kubernetes.io/component", "operator": "In", "values": ["gpu-metrics", "dcgm"]},
        {"key": "canary", "operator": "DoesNotExist"},
    )
    good = {"app": "custom-dcgm", "app.kubernetes.io/component": "dcgm"}
    assert s.matches(good)
    assert not s.matches({**good, "canary": "1"})
    assert not s.matches({**good, "app": "other"})
    assert not s.matches({"app": "custom-dcgm"})
    assert s.pushdown == "!canary,app.kubernetes.io/component in (dcgm,gpu-metrics),app=custom-dcgm"
    assert s.exact


def test_pushdown_is_canonical_so_equal_selectors_share_an_informer() -> None:
    a = sel({"b": "2", "a": "1"}, {"key": "x", "operator": "In", "values": ["q", "p"]})
    b = sel({"a": "1", "b": "2"}, {"key": "x", "operator": "In", "values": ["p", "q"]})
    assert a.pushdown == b.pushdown == "a=1,b=2,x in (p,q)"
    assert a == b and hash(a) == hash(b)
    assert sel(None, {"key": "x", "operator": "NotIn", "values": ["v"]}).pushdown == "x!=v"


def test_values_the_grammar_cannot_carry_are_checked_client_side() -> None:
    s = sel({"app": "dcgm", "team": "gpu infra"})
    assert s.pushdown == "app=dcgm"
    assert not s.exact
    assert s.matches({"app": "dcgm", "team": "gpu infra"})
    assert not s.matches({"app": "dcgm", "team": "gpu"})
    # the pushed-down part selects a superset, never less
    assert ApiServerSelector.parse(s.pushdown or "").matches({"app": "dcgm", "team": "gpu"})


def test_empty_selector_selects_everything() -> None:
    s = Selector.of(None)
    assert s.empty and s.matches({}) and s.matches({"a": "b"}) and s.pushdown is None


def test_label_key_and_value_validity() -> None:
    assert valid_label_key("app.kubernetes.io/name")
    assert valid_label_key("name")
    assert not valid_label_key("Bad.Prefix/name")
    assert not valid_label_key("/name")
    assert not valid_label_key("a" * 64)
    assert valid_label_value("whatap-node-agent")
    assert not valid_label_value("")
    assert not valid_label_value("-x")
    assert Requirement("k", "In", frozenset({""})).render() is None


def test_namespace_scope_default_is_only_default() -> None:
    assert NamespaceScope.of(None) == NamespaceScope(frozenset({"default"}))
    assert ns() == NamespaceScope(frozenset({"default"}))
    scope = NamespaceScope.of(None)
    assert scope.selects("default", None)
    assert not scope.selects("whatap-monitoring", None)


def test_namespace_scope_match_names_and_any() -> None:
    scope = ns(matchNames=["a", "b"])
    assert scope.names == {"a", "b"} and not scope.needs_namespace_labels
    assert scope.selects("a", None) and not scope.selects("c", None)
    every = ns(any=True, matchNames=["a"])
    assert every.names is None and every.selects("zzz", None)
    assert every.describe() == "every namespace"


def test_namespace_scope_by_labels() -> None:
    scope = ns(
        matchLabels={"gpu": "true"},
        matchExpressions=[{"key": "env", "operator": "NotIn", "values": ["dev"]}],
    )
    assert scope.names is None and scope.needs_namespace_labels
    assert scope.selects("ml", {"gpu": "true"})
    assert scope.selects("ml", {"gpu": "true", "env": "prod"})
    assert not scope.selects("ml", {"gpu": "true", "env": "dev"})
    assert not scope.selects("ml", {})
    assert not scope.selects("ml", None)  # labels not known yet
    assert scope.describe() == "every namespace labelled env!=dev,gpu=true"


def test_namespace_scope_names_and_labels_both_hold() -> None:
    scope = ns(matchNames=["a", "b"], matchLabels={"gpu": "true"})
    assert scope.selects("a", {"gpu": "true"})
    assert not scope.selects("a", {"gpu": "false"})
    assert not scope.selects("c", {"gpu": "true"})
