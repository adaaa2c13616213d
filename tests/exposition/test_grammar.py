"""The text format 0.0.4 grammar as Prometheus reads it: labels, escapes, values, timestamps."""

from __future__ import annotations

import math

import pytest

from openagent.exposition import ParseError
from tests.exposition.conftest import parse_text, rows


def one(text: str) -> tuple[str, dict[str, str], float]:
    """The single sample of ``text``."""
    (row,) = rows(parse_text(text))
    return row


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (r"x\\y", "x\\y"),
        (r"q\"r", 'q"r'),
        (r"l1\nl2", "l1\nl2"),
        (r"\\n", "\\n"),  # an escaped backslash followed by a plain n
        (r"C:\data\dcgm", r"C:\data\dcgm"),  # unknown escapes stay verbatim (Windows paths)
        (r"\d\\", "\\d\\"),
        (r"\t", r"\t"),
        ("", ""),
        ("a,b}c{d=e#f g", "a,b}c{d=e#f g"),
        ("한국어 노드 🎉", "한국어 노드 🎉"),
        ("tab\there", "tab\there"),
    ],
)
def test_label_values(raw: str, value: str) -> None:
    assert one(f'm{{a="{raw}",b="z"}} 1\n') == ("m", {"a": value, "b": "z"}, 1.0)


def test_labels_keep_exposition_order() -> None:
    parsed = parse_text('m{z="1",a="2",m="3"} 1\n')
    assert parsed.series[0].labels == (("z", "1"), ("a", "2"), ("m", "3"))


@pytest.mark.parametrize(
    "line",
    [
        'm{a="1",b="2"} 5',
        'm{a="1",b="2",} 5',  # trailing comma
        'm{a="1"b="2"} 5',  # Prometheus's lexer does not require the comma
        'm{a="1" b="2"} 5',
        'm{ a = "1" , b\t=\t"2" } 5',  # blanks around every token
        'm {a="1",b="2"} 5',  # blank between name and brace
        'm{a="1",b="2"}\t5',
        'm{a="1",b="2"}5',  # value glued to the brace
        'm{a="1",b="2"} 5 ',
        'm{a="1",b="2"}  5\t',
    ],
)
def test_spacing_variants(line: str) -> None:
    assert one(line + "\n") == ("m", {"a": "1", "b": "2"}, 5.0)


@pytest.mark.parametrize(
    ("text", "name", "labels"),
    [
        ("up 1\n", "up", {}),
        ("up{} 1\n", "up", {}),
        ("job:rate5m:sum 1\n", "job:rate5m:sum", {}),
        ("_x 1\n", "_x", {}),
        ('m{_a="1",A9="2"} 1\n', "m", {"_a": "1", "A9": "2"}),
    ],
)
def test_names(text: str, name: str, labels: dict[str, str]) -> None:
    assert one(text) == (name, labels, 1.0)


@pytest.mark.parametrize(
    ("token", "value"),
    [
        ("1410", 1410.0),
        ("16.365000", 16.365),
        ("-0", -0.0),
        ("+5", 5.0),
        (".5", 0.5),
        ("5.", 5.0),
        ("1e3", 1000.0),
        ("1E-3", 0.001),
        ("007", 7.0),
        ("9223372036854775794", 9223372036854775794.0),
        ("+Inf", math.inf),
        ("-Inf", -math.inf),
        ("Inf", math.inf),
        ("inf", math.inf),
        ("infinity", math.inf),
        ("-INFINITY", -math.inf),
        ("1e-400", 0.0),  # underflow rounds to zero, as in Go
    ],
)
def test_values(token: str, value: float) -> None:
    assert one(f"m {token}\n")[2] == value
    assert one(f'm{{a="b"}} {token}\n')[2] == value


@pytest.mark.parametrize("token", ["NaN", "nan", "NAN", "nAn"])
def test_nan(token: str) -> None:
    assert math.isnan(one(f"m {token}\n")[2])


@pytest.mark.parametrize(
    "token", ["1_000", "0x1p-2", "0x10", "abc", "\u0661", "1\u00a0", "+nan", "-NaN", "1e400", "--1"]
)
def test_values_prometheus_rejects(token: str) -> None:
    with pytest.raises(ParseError) as e:
        parse_text(f"m {token}\n")
    assert e.value.line == 1
    assert "value" in e.value.reason


def test_value_glued_to_name_is_a_value() -> None:
    # Prometheus's lexer ends the name at the first character that cannot be in one
    assert one("m-8\n") == ("m", {}, -8.0)


def test_timestamps() -> None:
    parsed = parse_text("a 1 1700000000000\nb 2\nc 3 01700000000001\t\n", ts=42)
    assert parsed.timestamps == [1700000000000, 42, 1700000000001]
    assert parse_text("a 1\nb 2\n").timestamps is None


def test_timestamp_bounds() -> None:
    assert parse_text("m 1 9223372036854775807\n").timestamps == [2**63 - 1]
    with pytest.raises(ParseError, match="timestamp out of range"):
        parse_text("m 1 9223372036854775808\n")
    with pytest.raises(ParseError, match="timestamp out of range"):
        parse_text("m 1 " + "9" * 5000 + "\n")


def test_comments_and_blank_lines() -> None:
    text = "#x\n# random text\n\n   \n\t\nm 1\n#\n# EOF\nn 2\n  # HELP n indented\n"
    parsed = parse_text(text)
    assert rows(parsed) == [("m", {}, 1.0), ("n", {}, 2.0)]
    assert parsed.metadata["n"].help == "indented"


def test_crlf_body() -> None:
    text = '# HELP m The m.\r\n# TYPE m gauge\r\nm{a="b"} 1\r\n\r\nn 2 1700000000000\r\n'
    parsed = parse_text(text)
    assert rows(parsed) == [("m", {"a": "b"}, 1.0), ("n", {}, 2.0)]
    assert parsed.metadata["m"].help == "The m."
    assert parsed.timestamps == [1000, 1700000000000]


def test_no_final_newline() -> None:
    assert rows(parse_text("m 1\nn 2")) == [("m", {}, 1.0), ("n", {}, 2.0)]


def test_empty_body() -> None:
    parsed = parse_text("")
    assert (parsed.series, parsed.values, parsed.samples, parsed.metadata) == ([], [], 0, {})


def test_help_type_metadata() -> None:
    text = (
        '# HELP a Text with \\\\ and \\n and \\d and \\"q\\".\n'
        "# TYPE a counter\n"
        "#\tHELP\tb\tTabs.\n"
        "# TYPE b untyped\n"
        "# HELP c\n"
        "# HELP d \n"
        "# TYPE e summary\n"
        "a 1\n"
    )
    meta = parse_text(text).metadata
    assert meta["a"].help == 'Text with \\ and \n and \\d and \\"q\\".'
    assert meta["a"].type == "counter"
    assert (meta["b"].help, meta["b"].type) == ("Tabs.", "untyped")
    assert (meta["c"].help, meta["c"].type) == ("", "untyped")
    assert meta["d"].help == ""
    assert meta["e"].type == "summary"
    assert meta["a"].unit == ""


def test_later_help_wins() -> None:
    meta = parse_text("# HELP a first\n# HELP a second\n# TYPE a gauge\n").metadata
    assert (meta["a"].help, meta["a"].type) == ("second", "gauge")


def test_created_is_a_normal_series_in_text_format() -> None:
    text = "# TYPE m counter\nm_total 1\nm_created 1700000000\n"
    assert [r[0] for r in rows(parse_text(text))] == ["m_total", "m_created"]


def test_duplicate_series_are_returned_in_order() -> None:
    parsed = parse_text('m{a="1"} 1\nm{a="1"} 2\n')
    assert parsed.values == [1.0, 2.0]
    assert parsed.series[0] is parsed.series[1]
