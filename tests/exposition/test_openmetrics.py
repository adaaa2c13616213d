"""OpenMetrics 1.0: # EOF, _created, exemplars, UNIT, float timestamps, strict spacing."""

from __future__ import annotations

import math

import pytest

from openagent.exposition import ParseError, Parser
from openagent.model import Metadata
from tests.exposition.conftest import CountingBuilder, parse_text, rows

COUNTER = (
    "# TYPE c counter\n"
    '# HELP c Counts \\"things\\" \\\\ \\n.\n'
    'c_total{a="1"} 3\n'
    'c_created{a="1"} 1700000000.5\n'
    "# TYPE h_seconds histogram\n"
    "# UNIT h_seconds seconds\n"
    'h_seconds_bucket{le="1"} 1 1700000000.123 # {trace_id="abc"} 0.5 1700000000\n'
    'h_seconds_bucket{le="+Inf"} 2 # {} 0.7\n'
    "h_seconds_count 2\n"
    "h_seconds_sum 1.2\n"
    "h_seconds_created 1700000000\n"
    "# TYPE g gauge\n"
    "g_created 5\n"
    "# EOF\n"
)


def om(text: str, ts: int = 7) -> list[tuple[str, dict[str, str], float]]:
    return rows(parse_text(text, openmetrics=True, ts=ts))


def test_openmetrics_body() -> None:
    parsed = parse_text(COUNTER, openmetrics=True, ts=7)
    assert rows(parsed) == [
        ("c_total", {"a": "1"}, 3.0),
        ("h_seconds_bucket", {"le": "1"}, 1.0),
        ("h_seconds_bucket", {"le": "+Inf"}, 2.0),
        ("h_seconds_count", {}, 2.0),
        ("h_seconds_sum", {}, 1.2),
        ("g_created", {}, 5.0),  # a gauge's _created is an ordinary series
    ]
    assert parsed.timestamps == [7, 1700000000123, 7, 7, 7, 7]
    assert parsed.samples == 6  # _created of counters and histograms are not samples
    assert parsed.metadata == {
        "c": Metadata("counter", 'Counts "things" \\ \n.', ""),
        "h_seconds": Metadata("histogram", "", "seconds"),
        "g": Metadata("gauge", "", ""),
    }


def test_created_skipped_on_the_cached_path_too() -> None:
    parser = Parser(CountingBuilder())
    first = parser.parse(COUNTER, openmetrics=True, default_ts_ms=1)
    second = parser.parse(
        COUNTER.replace('c_total{a="1"} 3', 'c_total{a="1"} 4'), openmetrics=True, default_ts_ms=1
    )
    assert second.samples == first.samples == 6
    assert second.values[0] == 4.0
    assert [s.name for s in second.series] == [s.name for s in first.series]


def test_created_follows_a_type_change() -> None:
    parser = Parser(CountingBuilder())
    as_counter = "# TYPE x counter\nx_total 1\nx_created 5\n# EOF\n"
    as_gauge = "# TYPE x gauge\nx_total 1\nx_created 5\n# EOF\n"
    assert parser.parse(as_counter, openmetrics=True, default_ts_ms=0).samples == 1
    parsed = parser.parse(as_gauge, openmetrics=True, default_ts_ms=0)
    assert [s.name for s in parsed.series] == ["x_total", "x_created"]
    assert parser.parse(as_counter, openmetrics=True, default_ts_ms=0).samples == 1


def test_eof_forms() -> None:
    assert om("g 1\n# EOF") == [("g", {}, 1.0)]
    assert om("# EOF\n") == []
    with pytest.raises(ParseError) as e:
        om("g 1\n")
    assert (e.value.line, e.value.reason) == (1, "missing # EOF at the end of the body")
    with pytest.raises(ParseError, match="missing # EOF"):
        om("")
    with pytest.raises(ParseError) as e:
        om("g 1\n# EOF\ng 2\n")
    assert (e.value.line, e.value.reason) == (3, "unexpected content after # EOF")
    with pytest.raises(ParseError) as e:
        om("g 1\n# EOF\n\n")
    assert e.value.line == 3


def test_text_mode_ignores_eof_and_openmetrics_needs_it() -> None:
    assert rows(parse_text("g 1\n# EOF\ng 2\n")) == [("g", {}, 1.0), ("g", {}, 2.0)]


@pytest.mark.parametrize(
    ("token", "ms"),
    [
        ("1700000000", 1700000000000),
        ("1700000000.123", 1700000000123),
        ("1.5e9", 1500000000000),
        ("-1.0009", -1000),
        ("0", 0),
    ],
)
def test_float_timestamps(token: str, ms: int) -> None:
    parsed = parse_text(f"g 1 {token}\n# EOF\n", openmetrics=True)
    assert parsed.timestamps == [ms]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ('g{a="b", c="d"} 1\n', "invalid label name"),
        ('g{a="b"c="d"} 1\n', "expected ',' or '}'"),
        ("g  1\n", "missing value"),
        ("g 1 \n", "missing timestamp"),
        ("g\t1\n", "expected ' ' after series"),
        (" g 1\n", "invalid metric name"),
        ("g 1 NaN\n", "invalid timestamp"),
        ("g 1 1e400\n", "timestamp out of range"),
        ("g 1_0\n", "invalid value"),
        ('g 1 # {a="b"} 1\n', "cannot have exemplars"),
        ('g_total 1 # {a="b"}\n', "value after exemplar labels"),
        ('g_total 1 # {a="b"} x\n', "invalid exemplar value"),
        ('g_total 1 # {a="b"} 1 2 3\n', "unexpected text after exemplar"),
        ('g_total 1 2 # {a="b"} 1 NaN\n', "invalid exemplar timestamp"),
        ("g 1\n\nh 2\n", "blank line"),
        ("# hello\ng 1\n", "only HELP, TYPE, UNIT and EOF"),
        ("# HELP c\n", "expected ' ' and text after the metric name"),
        ("# UNIT c_seconds\n", "expected ' ' and text"),
        ("# UNIT s seconds\n", "not a suffix"),
        ("# TYPE v untyped\n", "invalid metric type"),
    ],
)
def test_openmetrics_rejects(body: str, reason: str) -> None:
    with pytest.raises(ParseError) as e:
        om(body + "# EOF\n")
    assert reason in e.value.reason
    first_bad = 2 if body.startswith("g 1\n\n") else 1
    assert e.value.line == first_bad


def test_openmetrics_accepts() -> None:
    body = (
        "# TYPE u unknown\n# TYPE s stateset\n# TYPE i info\n# TYPE gh gaugehistogram\n"
        "# UNIT c_seconds seconds\n# UNIT d \n# HELP e \n"
        'u 1\ni_info{v="1"} 1\ng{} 2\nc_total 3 # {' + 'a="' + "x" * 130 + '"} 1\n'
        'gh_bucket{le="+Inf"} 1 # {} 1 1700000000.5\n'
        "n NaN\n"
    )
    parsed = parse_text(body + "# EOF\n", openmetrics=True)
    assert [r[0] for r in rows(parsed)] == ["u", "i_info", "g", "c_total", "gh_bucket", "n"]
    assert math.isnan(parsed.values[-1])
    assert parsed.metadata["u"].type == "unknown"
    assert parsed.metadata["c_seconds"].unit == "seconds"
    assert parsed.metadata["d"].unit == ""
    assert parsed.metadata["gh"].type == "gaugehistogram"


def test_family_without_type_is_unknown() -> None:
    assert parse_text("# HELP q Q.\nq 1\n# EOF\n", openmetrics=True).metadata["q"].type == (
        "unknown"
    )
    assert parse_text("# HELP q Q.\nq 1\n").metadata["q"].type == "untyped"


def test_switching_format_resets_what_the_parser_learned() -> None:
    builder = CountingBuilder()
    parser = Parser(builder)
    text_body = "# TYPE x counter\nx_total 1\nx_created 5\n"
    assert parser.parse(text_body, openmetrics=False, default_ts_ms=0).samples == 2
    parsed = parser.parse(text_body + "# EOF\n", openmetrics=True, default_ts_ms=0)
    assert parsed.samples == 1
    assert parsed.metadata_changed
    assert parser.parse(text_body, openmetrics=False, default_ts_ms=0).samples == 2


def test_created_decided_again_when_type_changes_mid_body() -> None:
    parser = Parser(CountingBuilder())
    first = '# TYPE x counter\nx_created{a="1"} 5\n# EOF\n'
    assert parser.parse(first, openmetrics=True, default_ts_ms=0).samples == 0
    # the old decision is used for a="1" before a new series of the family meets the new TYPE
    second = '# TYPE x gauge\nx_created{a="1"} 5\nx_created{a="2"} 6\n# EOF\n'
    parsed = parser.parse(second, openmetrics=True, default_ts_ms=0)
    assert [dict(s.labels) for s in parsed.series] == [{"a": "1"}, {"a": "2"}]
