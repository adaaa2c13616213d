"""How a target's error text is shown: printable, and a few hundred bytes at most."""

from __future__ import annotations

from openagent.scrape.errors import ERROR_TEXT_LIMIT, shown


def test_a_short_printable_error_is_shown_as_it_is() -> None:
    text = "parse error: line 3: invalid value 'x'"
    assert shown(text) is text


def test_a_long_error_is_cut_with_an_ellipsis_and_its_whole_length() -> None:
    text = "parse error: " + "ab" * 50_000
    out = shown(text)
    assert len(out.encode()) <= ERROR_TEXT_LIMIT
    assert out.startswith("parse error: abab")
    assert out.endswith(f"… [{len(text)} characters]")


def test_control_characters_are_escaped_and_the_escapes_count_towards_the_cut() -> None:
    out = shown("bad \x00\x07\n" * 1000)
    assert out.isprintable() and "\\x00\\x07\\n" in out
    assert len(out.encode()) <= ERROR_TEXT_LIMIT


def test_multibyte_text_is_cut_in_bytes_without_splitting_a_character() -> None:
    out = shown("é" * ERROR_TEXT_LIMIT)
    assert len(out.encode()) <= ERROR_TEXT_LIMIT
    assert out.startswith("éé") and out.endswith(f"… [{ERROR_TEXT_LIMIT} characters]")


def test_an_error_just_within_the_cut_is_not_marked_as_cut() -> None:
    text = "x" * ERROR_TEXT_LIMIT
    assert shown(text) == text
