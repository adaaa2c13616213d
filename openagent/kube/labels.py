"""Label selectors as text, checked before they reach the API server.

The agent pushes label selectors it is given as text (``OPENAGENT_SHARD_SELECTOR``)
to the API server, which answers a malformed one with 400 on every list; the
informer would retry it forever. `check_label_selector` accepts what
apimachinery's ``labels.Parse`` accepts (``key``, ``!key``, ``key=value``,
``key==value``, ``key!=value``, ``key in (a,b)``, ``key notin (a,b)``,
``key>1``, ``key<1``, joined by commas) so a typo is reported at start.
"""

from __future__ import annotations

import re

_NAME = r"[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?"
_PREFIX = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*"
_KEY = rf"(?:{_PREFIX}/)?{_NAME}"
_VALUE = rf"(?:{_NAME})?"
_REQUIREMENT = re.compile(
    rf"!\s*(?P<absent>{_KEY})"
    rf"|(?P<key>{_KEY})\s*(?:"
    rf"(?:==|=|!=)\s*(?P<value>{_VALUE})"
    rf"|\s(?:in|notin)\s*\((?P<values>[^()]*)\)"
    r"|[<>]\s*-?[0-9]+"
    r")?"
)


def _parts(text: str) -> list[str]:
    """``text`` split at the commas outside parentheses."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts]


def _too_long(match: re.Match[str]) -> str | None:
    key = match.group("key") or match.group("absent") or ""
    if len(key.rpartition("/")[2]) > 63 or len(key) > 253 + 1 + 63:
        return f"the key {key!r} is too long (a name part of at most 63 characters)"
    values = [match.group("value") or ""]
    values += [v.strip() for v in (match.group("values") or "").split(",")]
    long = next((v for v in values if len(v) > 63), None)
    return f"the value {long!r} is longer than 63 characters" if long else None


def check_label_selector(text: str) -> str:
    """``text`` stripped when it is a valid label selector; ValueError saying what is wrong."""
    selector = text.strip()
    if not selector:
        raise ValueError("the label selector is empty")
    for part in _parts(selector):
        match = _REQUIREMENT.fullmatch(part)
        if match is None:
            raise ValueError(
                f"{part!r} in the label selector {selector!r} is not a requirement "
                "(key, !key, key=value, key!=value, key in (a,b), key notin (a,b))"
            )
        values = match.group("values")
        if values is not None:
            bad = [v.strip() for v in values.split(",") if not re.fullmatch(_VALUE, v.strip())]
            if bad or not values.strip():
                raise ValueError(f"{part!r} in the label selector {selector!r}: bad value list")
        problem = _too_long(match)
        if problem:
            raise ValueError(f"{problem}, in the label selector {selector!r}")
    return selector
