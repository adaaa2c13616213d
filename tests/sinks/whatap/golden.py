"""Loading the golden vectors that Whatap's own Go code produced (tests/data/whatap/vectors.json).

The file defaults to the repo's copy, ``tests/data/whatap/vectors.json`` (see
``tests/data/README.md`` for its source); the environment variable
``WHATAP_VECTORS`` names another file of the same format.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import struct
from pathlib import Path
from typing import Any

from openagent.sinks.whatap.header import PackHeader
from openagent.sinks.whatap.openmx import OpenMx
from tests.support import DATA

DEFAULT_PATH = DATA / "whatap" / "vectors.json"
#: The public file's digest: the deliberate-difference tables name vectors of that file.
PUBLIC_SHA256 = "a723157cf99af5cefabf7531ae7cc841612238955779cd0e1930675c007b2f45"
#: Vectors written by hand from PROTOCOL §9's input forms (see tests/data/README.md).
FORMS_PATH = DATA / "whatap" / "vectors_forms.json"

Vector = dict[str, Any]


def vectors_path() -> Path:
    """The vectors file in use."""
    env = os.environ.get("WHATAP_VECTORS")
    return Path(env) if env else DEFAULT_PATH


def load_vectors() -> tuple[Vector, ...]:
    """Every vector of the file in use, in file order."""
    return load_file(vectors_path())


@functools.cache
def load_file(path: Path) -> tuple[Vector, ...]:
    """Every vector of a vectors file, in file order."""
    if not path.is_file():
        raise FileNotFoundError(f"golden vectors not found at {path} (set WHATAP_VECTORS)")
    with path.open(encoding="utf-8") as f:
        return tuple(json.load(f)["vectors"])


def is_public_file(path: Path) -> bool:
    """Whether ``path`` is the public vectors file, byte for byte."""
    return hashlib.sha256(path.read_bytes()).hexdigest() == PUBLIC_SHA256


def by_name(name: str) -> Vector | None:
    """The vector called ``name``, if the file has it."""
    return next((v for v in load_vectors() if v["name"] == name), None)


def f64(bits: str) -> float:
    """The double with the given hex bit pattern."""
    return float(struct.unpack(">d", bytes.fromhex(bits))[0])


def f32(bits: str) -> float:
    """The binary32 with the given hex bit pattern, as a Python float."""
    return float(struct.unpack(">f", bytes.fromhex(bits))[0])


def bits64(x: float) -> str:
    """Hex bit pattern of a double."""
    return struct.pack(">d", x).hex()


def header_of(inputs: Vector) -> PackHeader:
    """The pack header described by a vector's inputs."""
    return PackHeader(
        pcode=int(inputs.get("pcode", 0)),
        oid=int(inputs.get("oid", 0)),
        time=int(inputs.get("time", 0)),
        okind=int(inputs.get("okind", 0)),
        onode=int(inputs.get("onode", 0)),
    )


def record_of(rec: Vector) -> OpenMx:
    """An OpenMx record from a vector's record description (value from its bits)."""
    return OpenMx(
        rec["metric"],
        tuple((k, v) for k, v in rec["labels"] or ()),
        int(rec["timestamp"]),
        f64(rec["value_bits"]),
    )


def records_of(recs: list[Vector] | None) -> list[OpenMx]:
    """OpenMx records (``null`` -> none)."""
    return [record_of(r) for r in recs or ()]


def properties_of(prop: list[list[str]] | dict[str, str]) -> dict[str, str]:
    """Help properties given as pairs or as an object, in the given order."""
    return dict(prop) if isinstance(prop, dict) else {pair[0]: pair[1] for pair in prop}
