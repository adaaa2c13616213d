"""Relabelling semantics, case by case, from Prometheus's documentation and its relabel tests."""

from __future__ import annotations

from typing import Any

import pytest

from openagent.relabel import Relabeler, relabel

from .rules import Rule

R = Rule
ABC = {"a": "foo", "b": "bar", "c": "baz"}

# (id, input labels, rules, expected labels or None when dropped)
CASES: list[tuple[str, dict[str, str], list[Rule], dict[str, str] | None]] = [
    # --- replace
    (
        "replace-brace-group",
        ABC,
        [R(("a",), target_label="d", regex="f(.*)", replacement="ch${1}-ch${1}")],
        {**ABC, "d": "choo-choo"},
    ),
    (
        "replace-two-sources-then-chained",
        ABC,
        [
            R(("a", "b"), target_label="a", regex="f(.*);(.*)r", replacement="b${1}${2}m"),
            R(("c", "a"), target_label="d", regex="(b).*b(.*)ba(.*)", replacement="$1$2$2$3"),
        ],
        {"a": "boobam", "b": "bar", "c": "baz", "d": "boooom"},
    ),
    (
        "replace-inner-group",
        {"a": "abc"},
        [R(("a",), target_label="d", regex=".*(b).*")],
        {"a": "abc", "d": "b"},
    ),
    (
        "replace-no-match-no-change",
        {"a": "boo"},
        [R(("a",), target_label="b", regex="f", replacement="bar")],
        {"a": "boo"},
    ),
    ("replace-defaults-copy", {"a": "x"}, [R(("a",), target_label="b")], {"a": "x", "b": "x"}),
    (
        "replace-overwrites",
        {"a": "x", "b": "old"},
        [R(("a",), target_label="b")],
        {"a": "x", "b": "x"},
    ),
    (
        "replace-anchored-start",
        {"a": "ba"},
        [R(("a",), target_label="t", regex="a", replacement="hit")],
        {"a": "ba"},
    ),
    (
        "replace-anchored-end",
        {"a": "ab"},
        [R(("a",), target_label="t", regex="a", replacement="hit")],
        {"a": "ab"},
    ),
    (
        "replace-anchored-alternation",
        {"a": "foo"},
        [R(("a",), target_label="t", regex="f|o", replacement="hit")],
        {"a": "foo"},
    ),
    ("replace-dot-stops-at-newline", {"a": "x\ny"}, [R(("a",), target_label="b")], {"a": "x\ny"}),
    (
        "replace-constant-no-sources",
        {"a": "x"},
        [R(target_label="env", replacement="prod")],
        {"a": "x", "env": "prod"},
    ),
    (
        "replace-dollar-1x-is-group-1x",
        {"a": "foo", "d": "old"},
        [R(("a",), target_label="d", regex="(f)(o+)", replacement="$1x")],
        {"a": "foo"},
    ),
    (
        "replace-brace-1-then-x",
        {"a": "foo"},
        [R(("a",), target_label="d", regex="(f)(o+)", replacement="${1}x")],
        {"a": "foo", "d": "fx"},
    ),
    (
        "replace-dollar-dollar",
        {"a": "5"},
        [R(("a",), target_label="d", replacement="$$$1")],
        {"a": "5", "d": "$5"},
    ),
    (
        "replace-malformed-dollars-literal",
        {"a": "5"},
        [R(("a",), target_label="d", replacement="a$-b${c$")],
        {"a": "5", "d": "a$-b${c$"},
    ),
    (
        "replace-unclosed-brace-literal",
        {"a": "5"},
        [R(("a",), target_label="d", replacement="${1")],
        {"a": "5", "d": "${1"},
    ),
    (
        "replace-group-10-missing",
        {"a": "ab"},
        [R(("a",), target_label="d", regex="(a)(b)", replacement="<$10>")],
        {"a": "ab", "d": "<>"},
    ),
    (
        "replace-brace-1-then-0",
        {"a": "ab"},
        [R(("a",), target_label="d", regex="(a)(b)", replacement="${1}0")],
        {"a": "ab", "d": "a0"},
    ),
    (
        "replace-leading-zero-is-a-name",
        {"a": "ab"},
        [R(("a",), target_label="d", regex="(a)(b)", replacement="<$01>")],
        {"a": "ab", "d": "<>"},
    ),
    (
        "replace-unicode-letters-extend-name",
        {"a": "ab"},
        [R(("a",), target_label="d", regex="(a)(b)", replacement="<$1é>")],
        {"a": "ab", "d": "<>"},
    ),
    (
        "replace-group-0",
        {"a": "ab"},
        [R(("a",), target_label="d", regex="a(b)", replacement="${0}-$1")],
        {"a": "ab", "d": "ab-b"},
    ),
    (
        "replace-named-groups",
        {"a": "gpu-3"},
        [
            R(
                ("a",),
                target_label="d",
                regex="(?P<kind>[a-z]+)-(?P<num>\\d+)",
                replacement="$kind/${num}/$2/$nope",
            )
        ],
        {"a": "gpu-3", "d": "gpu/3/3/"},
    ),
    (
        "replace-unset-group-empty",
        {"a": "b"},
        [R(("a",), target_label="d", regex="(a)?(b)", replacement="[$1]$2")],
        {"a": "b", "d": "[]b"},
    ),
    (
        "replace-empty-deletes",
        {"a": "foo", "d": "old"},
        [R(("a",), target_label="d", regex="foo", replacement="")],
        {"a": "foo"},
    ),
    (
        "replace-empty-group-deletes",
        {"a": "x", "d": "old"},
        [R(("a",), target_label="d", regex="x(.*)")],
        {"a": "x"},
    ),
    (
        "replace-empty-never-creates",
        {"a": "x"},
        [R(("a",), target_label="d", regex="x(.*)")],
        {"a": "x"},
    ),
    (
        "replace-missing-source-reads-empty",
        {"a": "x"},
        [R(("nope",), target_label="d", regex="", replacement="empty")],
        {"a": "x", "d": "empty"},
    ),
    (
        "replace-missing-sources-joined",
        {"a": "x"},
        [R(("nope", "a", "nope"), target_label="d", regex="(.*)", replacement="[$1]")],
        {"a": "x", "d": "[;x;]"},
    ),
    (
        "replace-separator",
        ABC,
        [R(("a", "zz", "b"), separator="/", target_label="d")],
        {**ABC, "d": "foo//bar"},
    ),
    (
        "replace-empty-separator",
        ABC,
        [R(("a", "b"), separator="", target_label="d")],
        {**ABC, "d": "foobar"},
    ),
    (
        "replace-multichar-separator",
        ABC,
        [R(("a", "b"), separator="::", target_label="d")],
        {**ABC, "d": "foo::bar"},
    ),
    (
        "replace-target-template",
        {"a": "some-name-value"},
        [R(("a",), target_label="${1}", regex="some-([^-]+)-([^,]+)", replacement="${2}")],
        {"a": "some-name-value", "name": "value"},
    ),
    (
        "replace-target-template-empty-value",
        {"a": "some-name-value"},
        [R(("a",), target_label="${1}", regex="some-([^-]+)-([^,]+)", replacement="${3}")],
        {"a": "some-name-value"},
    ),
    (
        "replace-target-template-invalid-name",
        {"a": "k-0x"},
        [R(("a",), target_label="$1", regex="k-(.*)", replacement="v")],
        {"a": "k-0x"},
    ),
    (
        "replace-target-template-empty-name",
        {"a": "k-"},
        [R(("a",), target_label="${1}", regex="k-(.*)", replacement="v")],
        {"a": "k-"},
    ),
    (
        "replace-target-template-empty-deletes-expanded",
        {"a": "k-b", "b": "old"},
        [R(("a",), target_label="$1", regex="k-(.)(.*)", replacement="$2")],
        {"a": "k-b"},
    ),
    (
        "replace-target-prefix-template",
        {"a": "x"},
        [R(("a",), target_label="l_${1}", replacement="y")],
        {"a": "x", "l_x": "y"},
    ),
    (
        "replace-sd-tags",
        {"__meta_sd_tags": "path:/secret,job:some-job,label:foo=bar"},
        [
            R(
                ("__meta_sd_tags",),
                target_label="__metrics_path__",
                regex="(?:.+,|^)path:(/[^,]+).*",
            ),
            R(("__meta_sd_tags",), target_label="job", regex="(?:.+,|^)job:([^,]+).*"),
            R(
                ("__meta_sd_tags",),
                target_label="${1}",
                regex="(?:.+,|^)label:([^=]+)=([^,]+).*",
                replacement="${2}",
            ),
        ],
        {
            "__meta_sd_tags": "path:/secret,job:some-job,label:foo=bar",
            "__metrics_path__": "/secret",
            "job": "some-job",
            "foo": "bar",
        },
    ),
    (
        "replace-address-port",
        {"__address__": "10.0.0.1:8080", "__meta_port": "9400"},
        [
            R(
                ("__address__", "__meta_port"),
                target_label="__address__",
                regex="(.+?)(\\:\\d+)?;(\\d+)",
                replacement="$1:$3",
            )
        ],
        {"__address__": "10.0.0.1:9400", "__meta_port": "9400"},
    ),
    (
        "replace-name-rename",
        {"__name__": "gpu_temp", "gpu": "0"},
        [R(("__name__",), target_label="__name__", regex="gpu_(.*)", replacement="dcgm_$1")],
        {"__name__": "dcgm_temp", "gpu": "0"},
    ),
    (
        "replace-name-delete",
        {"__name__": "gpu_temp", "gpu": "0"},
        [R(target_label="__name__", replacement="")],
        {"gpu": "0"},
    ),
    # --- keep / drop
    ("drop-match", {"a": "foo", "b": "bar"}, [R(("a",), regex=".*o.*", action="drop")], None),
    (
        "drop-stops-later-rules",
        {"a": "foo"},
        [R(("a",), regex=".*o.*", action="drop"), R(("a",), target_label="d")],
        None,
    ),
    ("drop-no-match", {"a": "foo"}, [R(("a",), regex="no-match", action="drop")], {"a": "foo"}),
    ("drop-anchored", {"a": "foo"}, [R(("a",), regex="f|o", action="drop")], {"a": "foo"}),
    ("keep-no-match", {"a": "foo"}, [R(("a",), regex="no-match", action="keep")], None),
    ("keep-match", {"a": "foo"}, [R(("a",), regex="f.*", action="keep")], {"a": "foo"}),
    ("keep-anchored", {"a": "ba"}, [R(("a",), regex="a", action="keep")], None),
    ("keep-missing-empty-regex", {"a": "x"}, [R(("nope",), regex="", action="keep")], {"a": "x"}),
    ("keep-default-regex-no-sources", {"a": "x"}, [R(action="keep")], {"a": "x"}),
    ("drop-joined", {"a": "1", "b": "2"}, [R(("a", "b"), regex="1;2", action="drop")], None),
    (
        "drop-after-delete-sees-missing",
        {"a": "x", "t": "v"},
        [R(target_label="t", replacement=""), R(("t",), regex="", action="drop")],
        None,
    ),
    ("keep-action-any-case", {"a": "x"}, [R(("a",), regex="y", action="KeEp")], None),
    # --- keepequal / dropequal
    (
        "keepequal-equal",
        {"__tmp_port": "1234", "__port1": "1234", "__port2": "5678"},
        [R(("__tmp_port",), target_label="__port1", action="keepequal")],
        {"__tmp_port": "1234", "__port1": "1234", "__port2": "5678"},
    ),
    (
        "keepequal-unequal",
        {"__tmp_port": "1234", "__port1": "1234", "__port2": "5678"},
        [R(("__tmp_port",), target_label="__port2", action="keepequal")],
        None,
    ),
    (
        "dropequal-equal",
        {"__tmp_port": "1234", "__port1": "1234", "__port2": "5678"},
        [R(("__tmp_port",), target_label="__port1", action="dropequal")],
        None,
    ),
    (
        "dropequal-unequal",
        {"__tmp_port": "1234", "__port1": "1234", "__port2": "5678"},
        [R(("__tmp_port",), target_label="__port2", action="dropequal")],
        {"__tmp_port": "1234", "__port1": "1234", "__port2": "5678"},
    ),
    (
        "keepequal-missing-both",
        {"a": "x"},
        [R(("nope",), target_label="nada", action="keepequal")],
        {"a": "x"},
    ),
    (
        "keepequal-joined",
        {"a": "1", "b": "2", "c": "1;2"},
        [R(("a", "b"), target_label="c", action="keepequal")],
        {"a": "1", "b": "2", "c": "1;2"},
    ),
    # --- hashmod (values from Prometheus's relabel tests)
    (
        "hashmod-baz",
        ABC,
        [R(("c",), target_label="d", modulus=1000, action="hashmod")],
        {**ABC, "d": "976"},
    ),
    (
        "hashmod-newline",
        {"a": "foo\nbar"},
        [R(("a",), target_label="b", modulus=1000, action="hashmod")],
        {"a": "foo\nbar", "b": "734"},
    ),
    (
        "hashmod-modulus-1",
        {"a": "x"},
        [R(("a",), target_label="b", modulus=1, action="hashmod")],
        {"a": "x", "b": "0"},
    ),
    # --- labelmap
    (
        "labelmap-meta",
        {"a": "foo", "__meta_my_bar": "aaa", "__meta_my_baz": "bbb", "__meta_other": "ccc"},
        [R(regex="__meta_(my.*)", replacement="${1}", action="labelmap")],
        {
            "a": "foo",
            "__meta_my_bar": "aaa",
            "__meta_my_baz": "bbb",
            "__meta_other": "ccc",
            "my_bar": "aaa",
            "my_baz": "bbb",
        },
    ),
    (
        "labelmap-prefix",
        {"a": "foo", "b1": "bar", "b2": "baz"},
        [R(regex="(b.*)", replacement="bar_${1}", action="labelmap")],
        {"a": "foo", "b1": "bar", "b2": "baz", "bar_b1": "bar", "bar_b2": "baz"},
    ),
    (
        "labelmap-collision-sorted-last-wins",
        {"b_x": "from-b", "a_x": "from-a"},
        [R(regex="[ab]_(x)", action="labelmap")],
        {"b_x": "from-b", "a_x": "from-a", "x": "from-b"},
    ),
    (
        "labelmap-overwrites-existing",
        {"x": "old", "l_x": "new"},
        [R(regex="l_(.*)", action="labelmap")],
        {"x": "new", "l_x": "new"},
    ),
    (
        "labelmap-invalid-names-skipped",
        {"a1": "v", "a": "w", "ab": "u"},
        [R(regex="a(.*)", action="labelmap")],
        {"a1": "v", "a": "w", "ab": "u", "b": "u"},
    ),
    ("labelmap-anchored", {"xab": "v"}, [R(regex="a(.*)", action="labelmap")], {"xab": "v"}),
    (
        "labelmap-reads-snapshot",
        {"a": "1", "b": "2"},
        [R(regex="([ab])", replacement="z", action="labelmap")],
        {"a": "1", "b": "2", "z": "2"},
    ),
    # --- labeldrop / labelkeep
    (
        "labelkeep",
        {"a": "foo", "b1": "bar", "b2": "baz"},
        [R(regex="(b.*)", action="labelkeep")],
        {"b1": "bar", "b2": "baz"},
    ),
    (
        "labeldrop",
        {"a": "foo", "b1": "bar", "b2": "baz"},
        [R(regex="(b.*)", action="labeldrop")],
        {"a": "foo"},
    ),
    ("labeldrop-anchored", {"ab": "1", "b": "2"}, [R(regex="b", action="labeldrop")], {"ab": "1"}),
    (
        "labeldrop-name",
        {"__name__": "m", "a": "1"},
        [R(regex="__name__", action="labeldrop")],
        {"a": "1"},
    ),
    ("labelkeep-everything-gone", {"a": "1"}, [R(regex="z", action="labelkeep")], {}),
    # --- lowercase / uppercase
    (
        "lower-upper",
        {"foo": "bAr123Foo"},
        [
            R(("foo",), target_label="foo_uppercase", action="uppercase"),
            R(("foo",), target_label="foo_lowercase", action="lowercase"),
        ],
        {"foo": "bAr123Foo", "foo_uppercase": "BAR123FOO", "foo_lowercase": "bar123foo"},
    ),
    (
        "upper-joined",
        {"a": "x", "b": "y"},
        [R(("a", "b"), separator="-", target_label="a", action="uppercase")],
        {"a": "X-Y", "b": "y"},
    ),
    ("lower-empty-deletes", {"a": "X"}, [R(("nope",), target_label="a", action="lowercase")], {}),
    (
        "upper-go-simple-mapping",
        {"a": "straße ﬁ ᾳ ǆ ΐ"},
        [R(("a",), target_label="b", action="uppercase")],
        {"a": "straße ﬁ ᾳ ǆ ΐ", "b": "STRAßE ﬁ ᾼ Ǆ ΐ"},
    ),
    (
        "lower-go-simple-mapping",
        {"a": "İSTANBUL ΟΔΟΣ ǅ"},
        [R(("a",), target_label="b", action="lowercase")],
        {"a": "İSTANBUL ΟΔΟΣ ǅ", "b": "istanbul οδοσ ǆ"},
    ),
]


@pytest.mark.parametrize(
    ("labels", "rules", "expected"), [pytest.param(*c[1:], id=c[0]) for c in CASES]
)
def test_relabel_case(
    labels: dict[str, str], rules: list[Rule], expected: dict[str, str] | None
) -> None:
    given = dict(labels)
    result = Relabeler(rules).process(given)
    assert result == expected
    if expected is not None:
        assert result is given  # mutated in place


def test_replaced_label_keeps_position_new_label_goes_last() -> None:
    labels = {"__name__": "gpu_temp", "gpu": "0", "UUID": "GPU-1"}
    rules = [
        R(("__name__",), target_label="__name__", regex="gpu_(.*)", replacement="dcgm_$1"),
        R(("gpu",), target_label="device", replacement="nvidia$1"),
        R(("UUID",), target_label="gpu", regex="GPU-(.*)"),
    ]
    result = relabel(labels, rules)
    assert result is not None
    assert list(result.items()) == [
        ("__name__", "dcgm_temp"),
        ("gpu", "1"),
        ("UUID", "GPU-1"),
        ("device", "nvidia0"),
    ]


def test_deleted_then_recreated_label_goes_last() -> None:
    labels = {"a": "1", "b": "2"}
    result = relabel(labels, [R(target_label="a", replacement=""), R(("b",), target_label="a")])
    assert result is not None
    assert list(result) == ["b", "a"]


def test_labelmap_adds_in_sorted_source_order() -> None:
    labels = {"__meta_z": "1", "__meta_a": "2", "__meta_m": "3"}
    result = relabel(labels, [R(regex="__meta_(.*)", action="labelmap")])
    assert result is not None
    assert list(result)[3:] == ["a", "m", "z"]


def test_empty_relabeler_is_falsy_and_identity() -> None:
    relabeler = Relabeler([])
    labels = {"a": "1"}
    assert not relabeler
    assert len(relabeler) == 0
    assert relabeler.process(labels) is labels
    assert Relabeler([R(target_label="x")])


def test_relabeler_is_reusable_across_label_sets() -> None:
    relabeler = Relabeler(
        [
            R(("gpu",), regex="[01]", action="keep"),
            R(("gpu",), target_label="dev", replacement="nvidia$1"),
        ]
    )
    outputs: list[Any] = [relabeler.process({"gpu": g}) for g in ("0", "1", "2", "0")]
    assert outputs == [
        {"gpu": "0", "dev": "nvidia0"},
        {"gpu": "1", "dev": "nvidia1"},
        None,
        {"gpu": "0", "dev": "nvidia0"},
    ]


def test_target_relabelling_label_set() -> None:
    labels = {
        "__address__": "10.1.2.3:9400",
        "__scheme__": "http",
        "__metrics_path__": "/metrics",
        "__param_format": "text",
        "__meta_kubernetes_namespace": "gpu-operator",
        "__meta_kubernetes_pod_name": "dcgm-exporter-x7k2p",
        "__meta_kubernetes_pod_label_app": "nvidia-dcgm-exporter",
        "__meta_kubernetes_pod_container_port_name": "metrics",
        "__meta_kubernetes_pod_node_name": "gpu-node-1",
    }
    rules = [
        R(("__meta_kubernetes_pod_label_app",), regex="nvidia-dcgm-exporter", action="keep"),
        R(("__meta_kubernetes_pod_container_port_name",), regex=".*metrics", action="keep"),
        R(regex="__meta_kubernetes_pod_label_(.+)", action="labelmap"),
        R(("__meta_kubernetes_namespace",), target_label="namespace"),
        R(("__meta_kubernetes_pod_name",), target_label="pod"),
        R(("__meta_kubernetes_pod_node_name",), target_label="node"),
        R(("__address__",), target_label="__param_target"),
        R(target_label="__scheme__", replacement="https"),
        R(("__address__",), target_label="__tmp_shard", modulus=4, action="hashmod"),
        R(regex="__tmp_.*", action="labeldrop"),
    ]
    result = relabel(labels, rules)
    assert result is not None
    assert result["__scheme__"] == "https"
    assert result["__param_target"] == "10.1.2.3:9400"
    assert (result["app"], result["namespace"], result["pod"], result["node"]) == (
        "nvidia-dcgm-exporter",
        "gpu-operator",
        "dcgm-exporter-x7k2p",
        "gpu-node-1",
    )
    assert not any(name.startswith("__tmp") for name in result)
    assert relabel(dict(labels, __meta_kubernetes_pod_container_port_name="http"), rules) is None


def test_value_with_lone_surrogate_does_not_crash_on_re2_path() -> None:
    # \pL forces RE2; a surrogate-escaped byte is not valid UTF-8 and so cannot match.
    rules = [R(("a",), target_label="b", regex="(\\pL*).*")]
    assert relabel({"a": "ab\udcff"}, rules) == {"a": "ab\udcff"}
    assert relabel({"a": "ab"}, rules) == {"a": "ab", "b": "ab"}
