"""The pcode label: appended to every record, an exposed one renamed."""

from __future__ import annotations

from openagent.sinks.whatap.pcode import rename_pcode, with_pcode


def test_pcode_comes_last_and_an_exposed_one_is_renamed_without_collision() -> None:
    labels = (("pcode", "1"), ("exported_pcode", "2"), ("job", "j"))
    assert with_pcode(labels, 33789) == (
        ("exported_exported_pcode", "1"),
        ("exported_pcode", "2"),
        ("job", "j"),
        ("pcode", "33789"),
    )
    assert with_pcode((("job", "j"),), 0) == (("job", "j"),)
    assert rename_pcode([("job", "j")]) == [("job", "j")]
