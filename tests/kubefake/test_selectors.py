"""Label and field selector grammar and matching, case by case against upstream rules."""

from __future__ import annotations

import pytest

from tests.kubefake.kinds import NODE, POD
from tests.kubefake.selectors import FieldSelector, LabelSelector, SelectorError

GPU = {"app": "dcgm", "tier": "gpu", "zone": "a"}
BARE: dict[str, str] = {}
NUM = {"gpus": "8"}


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ("", GPU, True),
        ("app=dcgm", GPU, True),
        ("app==dcgm", GPU, True),
        ("app=other", GPU, False),
        ("app!=other", GPU, True),
        ("app!=dcgm", GPU, False),
        ("app!=dcgm", BARE, True),  # != also matches objects without the key
        ("app in (dcgm,x)", GPU, True),
        ("app in (x, y)", GPU, False),
        ("app in (dcgm)", BARE, False),
        ("app notin (x,y)", GPU, True),
        ("app notin (dcgm)", GPU, False),
        ("app notin (dcgm)", BARE, True),
        ("app", GPU, True),
        ("app", BARE, False),
        ("!app", BARE, True),
        ("!app", GPU, False),
        ("app=dcgm,tier=gpu", GPU, True),
        ("app=dcgm,tier=cpu", GPU, False),
        ("app in (dcgm,x),zone notin (b,c),tier", GPU, True),  # commas inside () are values
        ("  app = dcgm ,  tier in ( gpu ) ", GPU, True),
        ("app=", {"app": ""}, True),
        ("app in ()", {"app": ""}, True),
        ("app in (,x)", {"app": ""}, True),
        ("in=notin", {"in": "notin"}, True),  # keywords are identifiers outside operator position
        ("app in (in)", {"app": "in"}, True),
        ("gpus>4", NUM, True),
        ("gpus<4", NUM, False),
        ("gpus>4", BARE, False),
        ("gpus>4", {"gpus": "many"}, False),
        ("example.com/role=gpu", {"example.com/role": "gpu"}, True),
    ],
)
def test_label_selector_matches(selector: str, labels: dict[str, str], expected: bool) -> None:
    assert LabelSelector.parse(selector).matches(labels) is expected


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("app in", "unable to parse requirement: found '' expected: '('"),
        ("app in (a", "found '', expected: ',' or ')'"),
        ("app in a", "found 'a' expected: '('"),
        ("app=dcgm,", "found '', expected: identifier after ','"),
        (",app", "found ',', expected: !, identifier, or 'end of string'"),
        ("app=a=b", "found '=', expected: ',' or 'end of string'"),
        ("!app=x", "found '=', expected: ',' or 'end of string'"),
        ("app dcgm", "found 'dcgm', expected: in, notin, =, ==, !=, gt, lt"),
        ("-bad=x", "name part must consist of alphanumeric characters"),
        ("a/b/c=x", "a qualified name"),
        ("app=has space", "found 'space', expected: ',' or 'end of string'"),
        ("app=-x", "a valid label must consist of"),
        ("gpus>many", "the value must be an integer"),
        ("x=" + "v" * 64, "must be no more than 63 characters"),
    ],
)
def test_label_selector_errors(selector: str, message: str) -> None:
    with pytest.raises(SelectorError) as err:
        LabelSelector.parse(selector)
    assert message in str(err.value)


def test_label_selector_value_sets_are_deduplicated_and_sorted() -> None:
    (req,) = LabelSelector.parse("app in (b,a,b,,)").requirements
    assert req.values == ("", "a", "b")


POD_FIELDS = {
    "metadata.name": "dcgm-a",
    "metadata.namespace": "gpu-operator",
    "spec.nodeName": "node-1",
    "status.phase": "Running",
}


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("", True),
        ("spec.nodeName=node-1", True),
        ("spec.nodeName==node-1", True),
        ("spec.nodeName!=node-1", False),
        ("spec.nodeName=node-2", False),
        ("status.phase=Running,metadata.namespace=gpu-operator", True),
        ("status.phase=Running,metadata.namespace=other", False),
        ("status.podIP=", True),  # an absent field compares as ""
        ("status.podIP!=", False),
        ("metadata.name=dcgm-a,,", True),  # empty terms are skipped
    ],
)
def test_field_selector_matches(selector: str, expected: bool) -> None:
    assert FieldSelector.parse(selector).matches(POD_FIELDS) is expected


def test_field_selector_escapes() -> None:
    sel = FieldSelector.parse(r"metadata.name=a\,b\=c\\d")
    assert sel.matches({"metadata.name": "a,b=c\\d"})
    assert sel.exact("metadata.name") == "a,b=c\\d"


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("spec.nodeName", "invalid selector: 'spec.nodeName'; can't understand 'spec.nodeName'"),
        ("a=b=c", "unescaped character in value: ="),
        (r"a=b\x", r"invalid escape sequence: \x"),
        ("a=b\\", "invalid escape sequence"),
    ],
)
def test_field_selector_errors(selector: str, message: str) -> None:
    with pytest.raises(SelectorError) as err:
        FieldSelector.parse(selector)
    assert message in str(err.value)


def test_field_labels_are_converted_per_kind() -> None:
    sel = FieldSelector.parse("spec.host=node-1").transform(POD.convert_field_label)
    assert sel.exact("spec.nodeName") == "node-1"
    with pytest.raises(ValueError, match=r"field label not supported: spec\.bogus"):
        FieldSelector.parse("spec.bogus=x").transform(POD.convert_field_label)
    # Nodes are cluster-scoped: no metadata.namespace, but spec.unschedulable.
    with pytest.raises(ValueError, match=r"field label not supported: metadata\.namespace"):
        FieldSelector.parse("metadata.namespace=x").transform(NODE.convert_field_label)
    assert FieldSelector.parse("spec.unschedulable=true").transform(NODE.convert_field_label)
