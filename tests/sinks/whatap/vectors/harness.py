"""The vector harness: which files run, one test case per vector, and loud failure.

Every test module of this package checks one group of PROTOCOL §9. It runs the
vectors of the file in use (``WHATAP_VECTORS``, else the public Go-made file) and
of the hand-written forms file, so a form the public file never uses is still
exercised. A vector whose inputs match none of a group's §9 forms fails with
"no handler for form ..." naming group, vector and form: guessing would let a new
Go-made file pass without checking anything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from tests.sinks.whatap.golden import FORMS_PATH, Vector, load_file, vectors_path

# Fixed session identities of the vector generator (PROTOCOL §9).
SESSION_SECURE_KEY = b"SessionKey-16by!"
SESSION_HIDE_KEY = 0x5A17C3E1
TRANSFER_KEY = 123456789

#: byte[i] = i % 251, the only generator of blob and byte-array inputs (§9).
VALUE_GEN = "byte[i] = i % 251"


def files_in_use() -> list[Path]:
    """The file in use and the hand-written forms file (once if they are the same)."""
    files = [vectors_path().resolve()]
    if FORMS_PATH.resolve() not in files:
        files.append(FORMS_PATH.resolve())
    return files


def group_cases(group: str) -> list[Any]:
    """One pytest param per vector of ``group`` in every file in use."""
    return [
        pytest.param(v, id=f"{path.stem}:{v['name']}")
        for path in files_in_use()
        for v in load_file(path)
        if v["group"] == group
    ]


def all_vectors() -> Iterable[tuple[Path, Vector]]:
    """Every vector of every file in use, with its file."""
    for path in files_in_use():
        for v in load_file(path):
            yield path, v


class UnknownForm(AssertionError):
    """A vector uses a form this harness does not know: the case fails, naming it."""

    def __init__(self, v: Vector, form: str) -> None:
        super().__init__(f"no handler for form {form} (group {v['group']!r}, vector {v['name']!r})")


def dispatch(v: Vector, forms: dict[str, Callable[[Vector], None]], form: str | None) -> None:
    """Run the handler of ``form``; an unknown or undetected form fails loudly."""
    if form is None:
        raise UnknownForm(v, f"with input keys {sorted(v['inputs'])}")
    handler = forms.get(form)
    if handler is None:
        raise UnknownForm(v, repr(form))
    handler(v)


def expected_bytes(v: Vector) -> bytes:
    """The exact bytes of a vector that lists them in full."""
    if v.get("hex") is None:
        raise UnknownForm(v, "without full hex")
    return bytes.fromhex(v["hex"])


def generated_bytes(v: Vector, n: int) -> bytes | None:
    """The ``value_len`` bytes of a blob input, by its generator (``nil``: a nil slice)."""
    gen = v["inputs"].get("value_gen", VALUE_GEN)
    if gen in ("nil", None):
        return None
    if gen != VALUE_GEN:
        raise UnknownForm(v, f"value_gen {gen!r}")
    return bytes(i % 251 for i in range(n))


def int64(raw: Any) -> int:
    """A 64-bit integer given as a JSON number or decimal string (§9)."""
    return int(str(raw))


def first_field(v: Vector, where: dict[str, Any], *names: str) -> Any:
    """The first of ``names`` present in ``where``; none of them is an unknown form."""
    for name in names:
        if name in where:
            return where[name]
    raise UnknownForm(v, f"missing all of {names} (has {sorted(where)})")
