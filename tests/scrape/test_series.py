"""Target labels, honor_labels, exported_ renaming and metric relabelling per series."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from openagent.model import series_key
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


def test_series_of_one_exposed_block_share_one_label_tuple() -> None:
    b = SeriesBuilder(TARGET)
    block = (("gpu", "0"), ("UUID", "GPU-0"))
    a, c = b("m", block), b("n", block)
    assert a is not None and c is not None
    assert a.labels is c.labels
    assert b.created == 2


def test_relabelled_series_with_one_output_are_one_object() -> None:
    rules = [Rule(action="labeldrop", regex="pod")]
    b = SeriesBuilder(TARGET, relabeler=Relabeler(rules))
    a = b("m", (("gpu", "0"), ("pod", "x")))
    c = b("m", (("pod", "y"), ("gpu", "0")))
    d = b("n", (("gpu", "0"), ("pod", "z")))
    assert a is c and a is not None and d is not None
    assert d.labels is a.labels  # equal label tuples are shared
    assert b.created == 2


@pytest.mark.parametrize("name", ["up", "scrape_duration_seconds", "scrape_series_added"])
def test_an_exposed_report_name_without_labels_is_exported(name: str) -> None:
    s = SeriesBuilder(TARGET)(name, ())
    assert s is not None and s.name == "exported_" + name
    assert s.labels == TARGET


def test_an_exposed_report_name_with_labels_keeps_its_name() -> None:
    s = SeriesBuilder(TARGET)("up", (("service", "db"),))
    assert s is not None and s.name == "up"


def test_with_honor_labels_an_exposed_report_name_is_the_report_series() -> None:
    b = SeriesBuilder(TARGET, honor_labels=True)
    report = b.intern("up", TARGET)
    assert b("up", ()) is report


def test_carry_hands_back_the_earlier_series_of_the_same_output() -> None:
    first = SeriesBuilder(TARGET)
    old = first("m", (("gpu", "0"),))
    assert old is not None
    second = SeriesBuilder(TARGET, carry={series_key(old.name, old.labels): old})
    assert second("m", (("gpu", "0"),)) is old
    assert second("m", (("gpu", "1"),)) is not old
    assert second.created == 1
