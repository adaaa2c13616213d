"""Group ``record`` (PROTOCOL §3.1-3.3): single OpenMx, OpenMxHelp and OpenMxHistogram records.

Forms (§9): ``record`` (an OpenMx record; one with ``schema`` is an
OpenMxHistogram record), ``histogram`` (an OpenMxHistogram record), ``metric`` +
``property`` (an OpenMxHelp record); histogram fields given directly in the
inputs are an OpenMxHistogram record too. Each is encoded and compared with the Go
bytes, and the Go bytes are read back.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from openagent.sinks.whatap.codec import Reader
from openagent.sinks.whatap.openmx import (
    OpenMxHelp,
    OpenMxHistogram,
    encode_help_record,
    read_help,
    read_histogram,
    read_openmx,
)
from tests.sinks.whatap.golden import Vector, bits64, record_of
from tests.sinks.whatap.vectors.builders import ENCODER_FIXES, help_of, histogram_of
from tests.sinks.whatap.vectors.harness import dispatch, expected_bytes, group_cases

pytestmark = pytest.mark.vectors


def check_openmx(v: Vector) -> None:
    rec = record_of(v["inputs"]["record"])
    assert rec.to_bytes().hex() == v["hex"]
    r = Reader(expected_bytes(v))
    back = read_openmx(r)
    assert r.at_end()
    assert (back.metric, back.labels, back.timestamp) == (rec.metric, rec.labels, rec.timestamp)
    assert bits64(back.value) == bits64(rec.value)


def same_histogram(a: OpenMxHistogram, b: OpenMxHistogram) -> bool:
    """Equal, doubles compared by bit pattern."""
    doubles = [bits64(h.zero_threshold) + bits64(h.sum) for h in (a, b)]
    rest = [replace(h, zero_threshold=0.0, sum=0.0) for h in (a, b)]
    return doubles[0] == doubles[1] and rest[0] == rest[1]


def check_histogram(v: Vector, rec: Vector) -> None:
    hist = histogram_of(v, rec)
    assert hist.to_bytes().hex() == v["hex"]
    r = Reader(expected_bytes(v))
    back = read_histogram(r)
    assert r.at_end()
    assert same_histogram(back, hist)


def check_help(v: Vector) -> None:
    help_rec: OpenMxHelp = help_of(v["inputs"])
    ours = encode_help_record(help_rec.metric, help_rec.properties)
    go = expected_bytes(v)
    if v["name"] in ENCODER_FIXES:
        assert ours.hex() == ENCODER_FIXES[v["name"]][1]
        assert ours != go
    else:
        assert ours == go
    for data in (go, ours):
        r = Reader(data)
        back = read_help(r)
        assert r.at_end()
        assert back == help_rec
        assert list(back.properties) == list(help_rec.properties)


def check_histogram_form(v: Vector) -> None:
    inputs = v["inputs"]
    check_histogram(v, inputs.get("histogram") or inputs.get("record") or inputs)


FORMS = {"record": check_openmx, "histogram": check_histogram_form, "property": check_help}


def form_of(v: Vector) -> str | None:
    inputs = v["inputs"]
    if "record" in inputs:
        return "histogram" if "schema" in inputs["record"] else "record"
    if "schema" in inputs:
        return "histogram"
    return next((f for f in FORMS if f in inputs), None)


@pytest.mark.parametrize("vector", group_cases("record"))
def test_record_matches_go_and_reads_back(vector: Vector) -> None:
    dispatch(vector, FORMS, form_of(vector))
