"""The harness itself: every group and form of PROTOCOL §9 is handled, an unknown one
fails loudly, the hand-written forms file covers every form, and the tables of
deliberate differences name real vectors of the public file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.sinks.whatap.golden import FORMS_PATH, Vector, by_name, is_public_file, load_file
from tests.sinks.whatap.golden import vectors_path as in_use
from tests.sinks.whatap.vectors import (
    test_convert,
    test_cypher,
    test_dataoutputx,
    test_hashing,
    test_identity,
    test_license,
    test_net,
    test_pack,
    test_record,
    test_value,
)
from tests.sinks.whatap.vectors.builders import ENCODER_FIXES
from tests.sinks.whatap.vectors.convert_fixes import (
    HELP_FIXED,
    TEXT_FIXED,
    TEXT_REJECTED,
    TOKEN_FIXES,
)
from tests.sinks.whatap.vectors.harness import UnknownForm, all_vectors, dispatch

pytestmark = pytest.mark.vectors

Forms = dict[str, Callable[[Vector], None]]

#: group -> (its forms, how a vector's form is told)
GROUPS: dict[str, tuple[Forms, Callable[[Vector], str | None]]] = {
    "dataoutputx": (test_dataoutputx.FORMS, test_dataoutputx.form_of),
    "value": (test_value.FORMS, test_value.form_of),
    "hash": (test_hashing.HASH_FORMS, test_hashing.hash_form_of),
    "hexa32": (test_hashing.HEXA32_FORMS, test_hashing.hexa32_form_of),
    "license": (test_license.FORMS, test_license.form_of),
    "cypher": (test_cypher.FORMS, test_cypher.form_of),
    "identity": (test_identity.FORMS, test_identity.form_of),
    "record": (test_record.FORMS, test_record.form_of),
    "pack": (test_pack.FORMS, test_pack.form_of),
    "net": (test_net.FORMS, test_net.form_of),
    "convert": (test_convert.FORMS, test_convert.form_of),
}
#: Forms the hand-written file cannot hold: expected results need Whatap's own code.
NOT_HAND_WRITTEN = {
    ("net", "capture"): "a capture of the real Go sender goroutine",
    ("convert", "text"): "the Go text converter's output",
    ("convert", "line_template"): "the Go ParseFloat verdicts",
    ("convert", "target_labels"): "the Go processor's output",
    ("convert", "payload_hex"): "the Go protobuf converter's output",
    ("convert", "pack"): "the Go converter's output pack",
    ("convert", "pack_bytes"): "the Go converter's output pack",
}


@pytest.mark.parametrize(
    ("path", "vector"),
    [pytest.param(p, v, id=f"{p.stem}:{v['name']}") for p, v in all_vectors()],
)
def test_every_vector_has_a_known_group_and_form(path: Path, vector: Vector) -> None:
    group = vector["group"]
    if group not in GROUPS:
        pytest.fail(f"no handler for group {group!r} (vector {vector['name']!r} of {path})")
    forms, form_of = GROUPS[group]
    form = form_of(vector)
    assert form in forms, f"no handler for form {form!r} (group {group!r}, {vector['name']!r})"


@pytest.mark.parametrize(("group", "form"), [(g, f) for g, (fs, _) in GROUPS.items() for f in fs])
def test_forms_file_covers_every_form(group: str, form: str) -> None:
    if (group, form) in NOT_HAND_WRITTEN:
        pytest.skip(f"left out of the hand-written file: needs {NOT_HAND_WRITTEN[group, form]}")
    _, form_of = GROUPS[group]
    found = [v["name"] for v in load_file(FORMS_PATH) if v["group"] == group and form_of(v) == form]
    assert found, f"{FORMS_PATH.name} has no {group} vector of form {form!r}"


def test_an_unknown_form_fails_naming_group_vector_and_form() -> None:
    vector = {"group": "dataoutputx", "name": "WriteQuad_1", "inputs": {"quad": "1"}}
    forms, form_of = GROUPS["dataoutputx"]
    with pytest.raises(UnknownForm) as err:
        dispatch(vector, forms, form_of(vector))
    assert str(err.value) == (
        "no handler for form with input keys ['quad'] (group 'dataoutputx', vector 'WriteQuad_1')"
    )


def test_an_unknown_method_fails_naming_it() -> None:
    vector = {"group": "dataoutputx", "name": "WriteQuad_1", "inputs": {"method": "WriteQuad"}}
    forms, form_of = GROUPS["dataoutputx"]
    with pytest.raises(UnknownForm, match="no handler for form WriteQuad without value"):
        dispatch(vector, forms, form_of(vector))


def test_encoder_fixes_name_vectors_of_the_public_file() -> None:
    if not is_public_file(in_use()):
        pytest.skip("the fix tables name vectors of the public file; another file is in use")
    for name, (reason, _) in ENCODER_FIXES.items():
        assert by_name(name) is not None, f"{name} ({reason}) is not in the vectors file"


def test_conversion_fixes_name_inputs_of_the_public_file() -> None:
    if not is_public_file(in_use()):
        pytest.skip("the fix tables name vectors of the public file; another file is in use")
    text = by_name("ConvertWithTimestamp_text_edge_cases")
    tokens = by_name("TextParser_value_tokens")
    assert text is not None and tokens is not None
    lines = set(text["inputs"]["text"].split("\n"))
    assert set(TEXT_REJECTED) | set(TEXT_FIXED) <= lines
    assert set(TOKEN_FIXES) <= {r["token"] for r in tokens["results"]}
    families = {h["metric"] for h in text["help_sorted_by_metric"]}
    assert not set(HELP_FIXED) & families, "a fixed help family is one Go does send"
