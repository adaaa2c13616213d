"""Replacement templates (Go ``Regexp.Expand``), Go case mapping and hashmod."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from openagent.relabel.regex import AnchoredRegex

Expander = Callable[[tuple[str, ...]], str]


def _ref_end(template: str, i: int) -> int:
    """End of the name run (letters, digits, "_") starting at ``template[i]``."""
    while i < len(template) and (
        template[i].isalpha() or template[i].isdecimal() or template[i] == "_"
    ):
        i += 1
    return i


def _compile_template(template: str, regex: AnchoredRegex) -> Expander | str:
    """Compile a Go ``Regexp.Expand`` template: a constant string or an expander."""
    if "$" not in template:
        return template
    parts: list[str | int] = []
    literal: list[str] = []
    i = 0
    while i < len(template):
        c = template[i]
        i += 1
        if c != "$":
            literal.append(c)
            continue
        if template.startswith("$", i):
            literal.append("$")
            i += 1
            continue
        brace = template.startswith("{", i)
        start = i + brace
        end = _ref_end(template, start)
        if end == start or (brace and not template.startswith("}", end)):
            literal.append("$")  # malformed: "$" stays literal text
            continue
        name = template[start:end]
        i = end + brace
        num = -1
        if name.isascii() and name.isdigit() and not (name[0] == "0" and len(name) > 1):
            num = int(name) if len(name) <= 9 else -1
        index = num if num >= 0 else regex.groupindex.get(name, -1)
        if 0 <= index <= regex.groups:
            if literal:
                parts.append("".join(literal))
                literal = []
            parts.append(index)
    if literal:
        parts.append("".join(literal))
    if not parts:
        return ""
    if len(parts) == 1:
        only = parts[0]
        if isinstance(only, str):
            return only
        return lambda groups: groups[only]
    frozen = tuple(parts)
    return lambda groups: "".join(p if isinstance(p, str) else groups[p] for p in frozen)


# --------------------------------------------------------------------------- case mapping

_LOWER_SPECIAL = {"\u0130": "i"}  # the only code point whose full lower case is two characters


def _simple_lower(c: str) -> str:
    low = c.lower()
    return low if len(low) == 1 else _LOWER_SPECIAL.get(c, c)


def _simple_upper(c: str) -> str:
    up = c.upper()
    if len(up) == 1:
        return up
    title = c.title()  # where a simple upper case exists, it is the one-character title case
    return title if len(title) == 1 else c


def go_lower(value: str) -> str:
    """Go's ``strings.ToLower``: per-character simple case mapping, no special casing.

    Checked against Prometheus 2.42 for every cased character; the 80 whose mappings
    Unicode 14 added follow Python's tables (as Go 1.21 and later do).
    """
    if value.isascii():
        return value.lower()
    return "".join([_simple_lower(c) for c in value])


def go_upper(value: str) -> str:
    """Go's ``strings.ToUpper``: per-character simple case mapping (``ß`` stays ``ß``)."""
    if value.isascii():
        return value.upper()
    return "".join([_simple_upper(c) for c in value])


def hashmod(value: str, modulus: int) -> int:
    """Prometheus's hashmod: the last 8 bytes of MD5(value), big-endian, modulo ``modulus``."""
    digest = hashlib.md5(value.encode("utf-8", "surrogateescape"), usedforsecurity=False).digest()
    return int.from_bytes(digest[8:], "big") % modulus
