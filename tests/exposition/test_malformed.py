"""Malformed input: every error is a ParseError naming the right line, nothing else escapes."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openagent.exposition import LimitExceeded, Limits, Parsed, ParseError, Parser, decode_body
from tests.exposition.conftest import DCGM_FIXTURES, CountingBuilder, parse_text, rows

L4 = (DCGM_FIXTURES[0].parent / "l4-1gpu.txt").read_bytes()
A100 = (DCGM_FIXTURES[0].parent / "a100-vgpu-1gpu.txt").read_bytes()
DCGM_LINE = next(
    line for line in L4.decode().splitlines() if line.startswith("DCGM_FI_DEV_POWER_USAGE{")
)


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ('m 1\nm{a="1} 1\n', 2, "unterminated label value of 'a'"),
        ('m{a="1\\"} 1\n', 1, "unterminated label value of 'a'"),
        ('m{a="1",a="2"} 1\n', 1, "duplicate label name 'a'"),
        ('m{gpu="0",UUID="x",gpu="1"} 1\n', 1, "duplicate label name 'gpu'"),
        ('m{__name__="x"} 1\n', 1, "label name '__name__' is reserved for the metric name"),
        ("m\n", 1, "expected value after series"),
        ('m{a="b"}\n', 1, "expected value after series"),
        ('m{a="b"} \n', 1, "expected value after series"),
        ("m 1_000\n", 1, "invalid value '1_000'"),
        ("m 0x1p-2\n", 1, "invalid value '0x1p-2'"),
        ("m abc\n", 1, "invalid value 'abc'"),
        ("m \u0661\n", 1, "invalid value '\u0661'"),
        ("m 1e400\n", 1, "value out of range '1e400'"),
        ("x 1\n\n\n7m 1\n", 4, "invalid metric name at '7m 1'"),
        ('{a="b"} 1\n', 1, "missing metric name before '{'"),
        ("  m 1\n", 1, "whitespace before the metric name"),
        ('m{1a="b"} 1\n', 1, "invalid label name at '1a=\"b\"} 1'"),
        ('m{a:b="c"} 1\n', 1, "expected '=' after label name 'a'"),
        ("m{a=b} 1\n", 1, "expected quoted value for label 'a'"),
        ('m{a="b"\n', 1, "unexpected end of line in label set (missing '}')"),
        ('m{a="b",,c="d"} 1\n', 1, "invalid label name at ',c=\"d\"} 1'"),
        ("m 1 -5\n", 1, "invalid timestamp '-5'"),
        ("m 1 1.5\n", 1, "invalid timestamp '1.5'"),
        ("m 1 2 3\n", 1, "unexpected text after timestamp: '3'"),
        ("m 1 2 #x\n", 1, "unexpected text after timestamp: '#x'"),
        ('m 1 # {a="b"} 1\n', 1, "invalid timestamp '#'"),
        ("m 1{\n", 1, "unexpected '{' after the value"),
        ("m {\n", 1, "unexpected end of line in label set (missing '}')"),
        ("# TYPE m gaug\n", 1, "invalid metric type 'gaug'"),
        ("# TYPE m gauge \n", 1, "invalid metric type 'gauge '"),
        ("# HELP 1m text\n", 1, "expected metric name after HELP"),
        ("# TYPE \n", 1, "expected metric name after TYPE"),
        ("m 1\n\x00\n", 2, "invalid metric name at '\\x00'"),
    ],
)
def test_errors_name_line_and_reason(text: str, line: int, reason: str) -> None:
    with pytest.raises(ParseError) as e:
        parse_text(text)
    assert (e.value.line, e.value.reason) == (line, reason)
    assert str(e.value) == f"line {line}: {reason}"


def test_errors_on_cached_lines_name_the_right_line() -> None:
    parser = Parser(CountingBuilder())
    good = 'm{a="1"} 1\nn 2\nm{a="1"} 3\n'
    parser.parse(good, openmetrics=False, default_ts_ms=0)
    with pytest.raises(ParseError) as e:
        parser.parse(good + "n 1_0\n", openmetrics=False, default_ts_ms=0)
    assert e.value.line == 4
    with pytest.raises(ParseError) as e:  # the same text twice: the first one fails
        parser.parse("n 1\nx\nm 2\nx\n", openmetrics=False, default_ts_ms=0)
    assert e.value.line == 2


@pytest.mark.parametrize("openmetrics", [False, True])
def test_every_truncation_of_a_real_line(openmetrics: bool) -> None:
    head = "# HELP DCGM_FI_DEV_POWER_USAGE Power draw (in W).\n"
    tail = "next_metric 1\n" + ("# EOF\n" if openmetrics else "")
    for cut in range(len(DCGM_LINE) + 1):
        body = head + DCGM_LINE[:cut] + "\n" + tail
        try:
            parsed = parse_text(body, openmetrics=openmetrics)
        except ParseError as e:
            assert e.line == 2, (cut, e)
        else:
            names = [r[0] for r in rows(parsed)]
            assert names[-1] == "next_metric"
            assert len(names) == (2 if cut else 1), cut


def test_every_truncation_of_a_fixture_body() -> None:
    for cut in range(len(A100) + 1):
        data = A100[:cut]
        text = decode_body(data)
        try:
            parse_text(text)
        except ParseError as e:
            assert e.line == data.count(b"\n") + 1, (cut, e)


@pytest.mark.parametrize(
    ("data", "line"),
    [
        (b'm 1\nm{a="\xff"} 2\n', 2),
        (b"\xc3\x28 1\n", 1),
        (b"m 1\n\nn 2\n# HELP n \xe2\x82", 4),
        (b"m 1\n\xed\xa0\x80 1\n", 2),  # a surrogate is not UTF-8
    ],
)
def test_invalid_utf8(data: bytes, line: int) -> None:
    with pytest.raises(ParseError) as e:
        decode_body(data)
    assert e.value.line == line
    assert e.value.reason.startswith("invalid UTF-8")


def test_decode_valid_utf8() -> None:
    assert decode_body('m{a="한국어 🎉"} 1\n'.encode()) == 'm{a="한국어 🎉"} 1\n'


# -- fuzzing --------------------------------------------------------------------------

TOKENS = [
    "m",
    "n_total",
    "x_created",
    "{",
    "}",
    "=",
    '"',
    ",",
    " ",
    "  ",
    "\t",
    "\\",
    "\\n",
    '\\"',
    "a",
    "le",
    "1",
    "-2",
    ".5",
    "e3",
    "NaN",
    "+Inf",
    "_",
    "#",
    "# HELP ",
    "# TYPE ",
    "# UNIT ",
    "# EOF",
    "gauge",
    "counter",
    "\n",
    "\r\n",
    "1700000000000",
    "1.5",
    "한",
    "\x00",
    "\x0b",
]
lines_strategy = st.lists(st.sampled_from(TOKENS), max_size=40).map("".join)
limits_strategy = st.builds(
    Limits,
    sample_limit=st.integers(0, 5),
    label_limit=st.integers(0, 4),
    label_name_length_limit=st.integers(0, 6),
    label_value_length_limit=st.integers(0, 6),
)
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def outcome(parser: Parser, text: str, openmetrics: bool) -> object:
    """What a parse gives, in a comparable form; only our two errors may escape."""
    try:
        parsed: Parsed = parser.parse(text, openmetrics=openmetrics, default_ts_ms=1)
    except (ParseError, LimitExceeded) as e:
        return (type(e).__name__, str(e))
    return (repr(rows(parsed)), parsed.timestamps, parsed.samples, parsed.metadata)


@FUZZ
@given(text=st.text(), openmetrics=st.booleans())
def test_fuzz_arbitrary_text(text: str, openmetrics: bool) -> None:
    outcome(Parser(CountingBuilder()), text, openmetrics)


@FUZZ
@given(text=lines_strategy, openmetrics=st.booleans(), limits=limits_strategy)
def test_fuzz_grammar_tokens(text: str, openmetrics: bool, limits: Limits) -> None:
    outcome(Parser(CountingBuilder(extra=(("job", "j"),)), limits), text, openmetrics)


@FUZZ
@given(
    edits=st.lists(
        st.tuples(st.integers(0, len(L4)), st.integers(0, 3), st.sampled_from(TOKENS)),
        min_size=1,
        max_size=4,
    ),
    openmetrics=st.booleans(),
)
def test_fuzz_mutated_fixture(edits: list[tuple[int, int, str]], openmetrics: bool) -> None:
    text = L4.decode()
    for pos, delete, insert in edits:
        text = text[:pos] + insert + text[pos + delete :]
    if openmetrics:
        text += "# EOF\n"
    outcome(Parser(CountingBuilder()), text, openmetrics)


@FUZZ
@given(first=lines_strategy, second=lines_strategy, openmetrics=st.booleans())
def test_fuzz_cache_does_not_change_results(first: str, second: str, openmetrics: bool) -> None:
    warm = Parser(CountingBuilder())
    outcome(warm, first, openmetrics)
    outcome(warm, second, openmetrics)
    assert outcome(warm, second, openmetrics) == outcome(
        Parser(CountingBuilder()), second, openmetrics
    )


@FUZZ
@given(text=lines_strategy, openmetrics=st.booleans(), chunk=st.integers(1, 4))
def test_fuzz_async_equals_sync(text: str, openmetrics: bool, chunk: int) -> None:
    async def run() -> object:
        try:
            parsed = await Parser(CountingBuilder()).parse_async(
                text, openmetrics=openmetrics, default_ts_ms=1, chunk_lines=chunk
            )
        except (ParseError, LimitExceeded) as e:
            return (type(e).__name__, str(e))
        return (repr(rows(parsed)), parsed.timestamps, parsed.samples, parsed.metadata)

    assert asyncio.run(run()) == outcome(Parser(CountingBuilder()), text, openmetrics)


@FUZZ
@given(data=st.binary())
def test_fuzz_decode_body(data: bytes) -> None:
    try:
        text = decode_body(data)
    except ParseError as e:
        lines = data.split(b"\n")
        for good in lines[: e.line - 1]:
            good.decode()
        with pytest.raises(UnicodeDecodeError):
            lines[e.line - 1].decode()
    else:
        assert text.encode() == data
