"""The per-target caches: series reuse, dropped series, reset, metadata identity, bounds."""

from __future__ import annotations

import asyncio

import pytest

from benchmarks.dcgm_payload import NodeShape, Payload
from openagent.exposition import LimitExceeded, Limits, Parser
from openagent.model import Series
from tests.exposition.conftest import CountingBuilder, rows

BODY = (
    "# HELP a The a.\n# TYPE a gauge\n"
    'a{gpu="0",UUID="GPU-0"} 1\na{gpu="1",UUID="GPU-1"} 2\n'
    "# HELP b The b.\n# TYPE b counter\n"
    'b{gpu="0",UUID="GPU-0"} 10\nb{gpu="1",UUID="GPU-1"} 20\n'
)


def parse(parser: Parser, text: str, ts: int = 0) -> tuple[list[Series], list[float]]:
    parsed = parser.parse(text, openmetrics=False, default_ts_ms=ts)
    return parsed.series, parsed.values


def test_second_parse_reuses_series_without_building(builder: CountingBuilder) -> None:
    parser = Parser(builder)
    first, _ = parse(parser, BODY)
    assert builder.calls == 4
    second, values = parse(parser, BODY.replace("} 1\n", "} 1.5\n").replace("} 20", "} 21"))
    assert builder.calls == 4
    assert all(a is b for a, b in zip(first, second, strict=True))
    assert values == [1.5, 2.0, 10.0, 21.0]


def test_reordered_families_still_hit(builder: CountingBuilder) -> None:
    payload = Payload(NodeShape(gpus=4, families=12))
    parser = Parser(builder)
    first = parser.parse(payload.render(0).decode(), openmetrics=False, default_ts_ms=0)
    by_key = {(s.name, s.labels): s for s in first.series}
    calls = builder.calls
    for scrape in range(1, 4):
        body = payload.render(scrape).decode()
        parsed = parser.parse(body, openmetrics=False, default_ts_ms=0)
        assert builder.calls == calls
        assert [s.name for s in parsed.series] != [s.name for s in first.series]
        assert all(by_key[s.name, s.labels] is s for s in parsed.series)
        assert rows(parsed) == rows(
            Parser(CountingBuilder()).parse(body, openmetrics=False, default_ts_ms=0)
        )


def test_dropped_series_are_counted_not_returned() -> None:
    builder = CountingBuilder(drop=frozenset({"b"}))
    parser = Parser(builder)
    for _ in range(2):
        parsed = parser.parse(BODY, openmetrics=False, default_ts_ms=0)
        assert [s.name for s in parsed.series] == ["a", "a"]
        assert parsed.samples == 4
    assert builder.calls == 4


def test_dropped_series_still_need_valid_values() -> None:
    parser = Parser(CountingBuilder(drop=frozenset({"b"})))
    parser.parse(BODY, openmetrics=False, default_ts_ms=0)
    with pytest.raises(Exception, match="line 7: invalid value '1_0'"):
        parser.parse(BODY.replace("} 10", "} 1_0"), openmetrics=False, default_ts_ms=0)


def test_reordered_labels_are_one_series(builder: CountingBuilder) -> None:
    parser = Parser(builder)
    text = 'm{a="1",b="2"} 1\nm{b="2",a="1"} 2\nk{b="2",a="1"} 3\nk{a="1",b="2"} 4\n'
    for _ in range(2):
        parsed = parser.parse(text, openmetrics=False, default_ts_ms=0)
        m1, m2, k1, k2 = parsed.series
        assert m1 is m2 and k1 is k2 and m1 is not k1
        assert parsed.values == [1.0, 2.0, 3.0, 4.0]
    assert builder.calls == 2


def test_pruning_forgets_only_what_is_not_kept(builder: CountingBuilder) -> None:
    parser = Parser(builder)
    first, _ = parse(parser, BODY)
    keep = {id(s) for s in first if s.name == "a"}
    parser.prune(lambda entry: id(entry) in keep)
    assert parser.cache_size == 2
    second, _ = parse(parser, BODY)
    assert builder.calls == 6  # the two b series were built again
    assert second[:2] == first[:2] and second[2] is not first[2]


def test_reset_forgets(builder: CountingBuilder) -> None:
    parser = Parser(builder)
    first, _ = parse(parser, BODY)
    parser.reset()
    second, _ = parse(parser, BODY)
    assert builder.calls == 8
    assert not any(a is b for a, b in zip(first, second, strict=True))


def test_odd_spacing_and_timestamps_keep_series_identity(builder: CountingBuilder) -> None:
    parser = Parser(builder)
    text = 'm {a="1"}  1\nm{ a="1" } 2\nn 3 1700000000000\nn  4\n'
    first = parser.parse(text, openmetrics=False, default_ts_ms=5)
    second = parser.parse(text.replace(" 3 ", " 33 "), openmetrics=False, default_ts_ms=6)
    assert builder.calls == 2  # 'm {a="1"}' and 'm{ a="1" }' are two texts of one series
    assert first.series[0] is first.series[1] and first.series[2] is first.series[3]
    assert second.series == first.series
    assert second.values == [1.0, 2.0, 33.0, 4.0]
    assert second.timestamps == [6, 6, 1700000000000, 6]


def test_value_checks_apply_to_cached_series(builder: CountingBuilder) -> None:
    parser = Parser(builder)
    parse(parser, 'm{a="1"} 1\nn 2\n')
    for bad in ("1_0", "0x1p1", "+nan", "1e400", "\u0661", "\u00a01", "\x0b1", "1\x0c", "\r1"):
        with pytest.raises(Exception, match="line 2: "):
            parse(parser, f'm{{a="1"}} 1\nn {bad}\n')
    _, values = parse(parser, 'm{a="1"} NaN\nn -Inf\n')
    assert values[1] == float("-inf") and values[0] != values[0]


def test_metadata_identity() -> None:
    parser = Parser(CountingBuilder())
    first = parser.parse(BODY, openmetrics=False, default_ts_ms=0)
    assert first.metadata_changed
    again = parser.parse(BODY.replace("} 1\n", "} 7\n"), openmetrics=False, default_ts_ms=0)
    assert again.metadata is first.metadata and not again.metadata_changed
    a_lines, b_lines = BODY.split("# HELP b")
    reordered = parser.parse("# HELP b" + b_lines + a_lines, openmetrics=False, default_ts_ms=0)
    assert reordered.metadata is first.metadata and not reordered.metadata_changed
    changed = parser.parse(BODY.replace("The a.", "The A."), openmetrics=False, default_ts_ms=0)
    assert changed.metadata_changed and changed.metadata is not first.metadata
    assert changed.metadata["a"].help == "The A."
    vanished = parser.parse(a_lines, openmetrics=False, default_ts_ms=0)
    assert vanished.metadata_changed and set(vanished.metadata) == {"a"}
    back = parser.parse(a_lines, openmetrics=False, default_ts_ms=0)
    assert back.metadata is vanished.metadata and not back.metadata_changed


def test_metadata_notices_a_vanished_duplicate_line() -> None:
    parser = Parser(CountingBuilder())
    parser.parse("# HELP a x\n# HELP b y\n", openmetrics=False, default_ts_ms=0)
    parsed = parser.parse("# HELP a x\n# HELP a x\n", openmetrics=False, default_ts_ms=0)
    assert parsed.metadata_changed and set(parsed.metadata) == {"a"}


def test_cache_is_bounded(builder: CountingBuilder) -> None:
    parser = Parser(builder, max_cache_entries=3)
    text = "".join(f'm{{i="{i}"}} {i}\n' for i in range(10))
    for _ in range(2):
        parsed = parser.parse(text, openmetrics=False, default_ts_ms=0)
        assert parsed.values == [float(i) for i in range(10)]
        assert parser.cache_size <= 3
    assert parser.cache_resets >= 6
    with pytest.raises(ValueError):
        Parser(builder, max_cache_entries=0)


def test_builder_output_is_what_is_returned() -> None:
    builder = CountingBuilder(extra=(("job", "dcgm"), ("instance", "10.0.0.1:9400")))
    parsed = Parser(builder).parse('m{gpu="0"} 1\n', openmetrics=False, default_ts_ms=0)
    assert parsed.series[0].labels == (("gpu", "0"), ("job", "dcgm"), ("instance", "10.0.0.1:9400"))


# -- limits ---------------------------------------------------------------------------


def test_sample_limit_counts_kept_samples() -> None:
    builder = CountingBuilder(drop=frozenset({"b"}))
    assert (
        Parser(builder, Limits(sample_limit=2))
        .parse(BODY, openmetrics=False, default_ts_ms=0)
        .samples
        == 4
    )
    with pytest.raises(LimitExceeded) as e:
        Parser(CountingBuilder(), Limits(sample_limit=3)).parse(
            BODY, openmetrics=False, default_ts_ms=0
        )
    assert e.value.reason == "sample_limit"
    assert "limit 3" in str(e.value)


@pytest.mark.parametrize(
    ("limits", "reason", "ok"),
    [
        (Limits(label_limit=4), "label_limit", Limits(label_limit=5)),
        (
            Limits(label_name_length_limit=7),
            "label_name_length_limit",
            Limits(label_name_length_limit=8),
        ),
        (
            Limits(label_value_length_limit=9),
            "label_value_length_limit",
            Limits(label_value_length_limit=10),
        ),
    ],
)
def test_label_limits(limits: Limits, reason: str, ok: Limits) -> None:
    # __name__ + 2 exposed labels + job and instance from the builder = 5 labels;
    # "__name__" is 8 bytes long; "한국" is 6 bytes, "instance" value 10 bytes
    text = '# HELP m x\nm{gpu="0",node="한국"} 1\n'
    builder = CountingBuilder(extra=(("job", "j"), ("instance", "10.0.0.1:9")))
    Parser(builder, ok).parse(text, openmetrics=False, default_ts_ms=0)
    with pytest.raises(LimitExceeded) as e:
        Parser(builder, limits).parse(text, openmetrics=False, default_ts_ms=0)
    assert e.value.reason == reason
    assert e.value.line == 2
    assert str(e.value).startswith(f"{reason} exceeded at line 2: ")


def test_label_limits_skip_dropped_series() -> None:
    parser = Parser(CountingBuilder(drop=frozenset({"m"})), Limits(label_limit=1))
    assert parser.parse('m{a="1",b="2"} 1\n', openmetrics=False, default_ts_ms=0).samples == 1


# -- async ----------------------------------------------------------------------------


async def test_parse_async_matches_parse_and_yields() -> None:
    payload = Payload(NodeShape(gpus=8, families=20))
    body = payload.render(0).decode()
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    before = ticks
    got = await Parser(CountingBuilder()).parse_async(
        body, openmetrics=False, default_ts_ms=3, chunk_lines=10
    )
    task.cancel()
    want = Parser(CountingBuilder()).parse(body, openmetrics=False, default_ts_ms=3)
    assert rows(got) == rows(want)
    assert (got.samples, got.metadata) == (want.samples, want.metadata)
    assert ticks - before >= len(body.splitlines()) // 10 - 1
    with pytest.raises(ValueError):
        await Parser(CountingBuilder()).parse_async(
            body, openmetrics=False, default_ts_ms=3, chunk_lines=0
        )


async def test_parse_async_error_line_numbers_span_chunks() -> None:
    body = "".join(f"m{i} {i}\n" for i in range(25)) + "bad line\n"
    with pytest.raises(Exception, match="line 26: invalid value 'line'"):
        await Parser(CountingBuilder()).parse_async(
            body, openmetrics=False, default_ts_ms=0, chunk_lines=7
        )


async def test_sample_limit_stops_early() -> None:
    # the limit is checked per chunk, so a malformed line further on is never reached
    body = "".join(f"m{i} {i}\n" for i in range(50)) + "broken\n"
    parser = Parser(CountingBuilder(), Limits(sample_limit=5))
    with pytest.raises(LimitExceeded, match="sample_limit"):
        await parser.parse_async(body, openmetrics=False, default_ts_ms=0, chunk_lines=4)
    with pytest.raises(Exception, match="line 51"):
        await Parser(CountingBuilder()).parse_async(
            body, openmetrics=False, default_ts_ms=0, chunk_lines=4
        )
