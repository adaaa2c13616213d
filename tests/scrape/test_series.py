"""Target labels, honor_labels, exported_ renaming and metric relabelling per series."""

from __future__ import annotations

from dataclasses import dataclass

from openagent.relabel import Relabeler
from openagent.scrape.series import SeriesBuilder

TARGET = (("job", "dcgm"), ("instance", "10.0.0.1:9400"))


@dataclass
class Rule:
    source_labels: tuple[str, ...] = ()
    separator: str = ";"
    target_label: str | None = None
    regex: str = "(.*)"
    modulus: int | None = None
    replacement: str = "$1"
    action: str = "replace"


def test_target_labels_follow_exposed_labels() -> None:
    s = SeriesBuilder(TARGET)("m", (("gpu", "0"),))
    assert s is not None
    assert s.name == "m"
    assert s.labels == (("gpu", "0"), ("job", "dcgm"), ("instance", "10.0.0.1:9400"))


def test_collision_renames_exposed_label() -> None:
    s = SeriesBuilder(TARGET)("m", (("job", "exporter"), ("instance", "x")))
    assert s is not None
    assert dict(s.labels) == {
        "job": "dcgm",
        "instance": "10.0.0.1:9400",
        "exported_job": "exporter",
        "exported_instance": "x",
    }


def test_collision_with_existing_exported_label_goes_one_level_deeper() -> None:
    s = SeriesBuilder(TARGET)("m", (("job", "a"), ("exported_job", "b")))
    assert s is not None
    assert dict(s.labels)["exported_exported_job"] == "a"
    assert dict(s.labels)["exported_job"] == "b"


def test_honor_labels_keeps_exposed_values() -> None:
    s = SeriesBuilder(TARGET, honor_labels=True)("m", (("job", "exporter"),))
    assert s is not None
    assert dict(s.labels) == {"job": "exporter", "instance": "10.0.0.1:9400"}


def test_empty_exposed_label_is_overwritten_without_export() -> None:
    s = SeriesBuilder(TARGET)("m", (("job", ""),))
    assert s is not None
    assert dict(s.labels) == {"job": "dcgm", "instance": "10.0.0.1:9400"}


def test_metric_relabel_sees_target_labels_and_can_drop_and_rename() -> None:
    rules = [
        Rule(source_labels=("__name__",), regex="DCGM.*", action="keep"),
        Rule(source_labels=("instance",), target_label="node_ip", regex="(.*):.*"),
        Rule(
            source_labels=("__name__",),
            target_label="__name__",
            regex="DCGM_FI_(.*)",
            replacement="gpu_$1",
        ),
    ]
    b = SeriesBuilder(TARGET, relabeler=Relabeler(rules))
    assert b("go_goroutines", ()) is None
    assert b.dropped == 1
    s = b("DCGM_FI_DEV_GPU_UTIL", (("gpu", "0"),))
    assert s is not None
    assert s.name == "gpu_DEV_GPU_UTIL"
    assert dict(s.labels)["node_ip"] == "10.0.0.1"


def test_same_label_set_yields_same_object() -> None:
    b = SeriesBuilder(TARGET)
    a = b("m", (("a", "1"), ("b", "2")))
    c = b("m", (("b", "2"), ("a", "1")))
    assert a is c
    assert b.created == 1
