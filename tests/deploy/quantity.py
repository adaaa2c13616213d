"""Kubernetes resource quantities (``100m``, ``1``, ``512Mi``, ``1Gi``) as numbers."""

from __future__ import annotations

_SUFFIXES = {
    "m": 1e-3,
    "": 1.0,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "Ki": 2.0**10,
    "Mi": 2.0**20,
    "Gi": 2.0**30,
}


def quantity(value: str | int | float) -> float:
    """``value`` in base units: cores for CPU, bytes for memory and storage."""
    text = str(value)
    for suffix in sorted(_SUFFIXES, key=len, reverse=True):
        number = text.removesuffix(suffix) if suffix else text
        if suffix and number == text:
            continue
        try:
            return float(number) * _SUFFIXES[suffix]
        except ValueError:
            continue
    raise ValueError(f"not a Kubernetes quantity: {value!r}")
