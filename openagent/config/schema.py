"""Checking raw YAML values against the models, with every problem at its YAML path.

Two steps per mapping. ``normalize`` walks the raw value along the model
tree: it drops null values (a null key counts as absent, as in the Go
agent), warns about unknown keys (suggesting the closest known one), rejects
a field given under two spellings, and reads Secret-reference mappings into
their own fields. ``validate`` then lets pydantic check types and values and
turns each of its errors into a problem with a plain message.
"""

from __future__ import annotations

import difflib
import functools
import re
import types
import typing
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from openagent.config.models import model_keys
from openagent.config.problems import Collector, YamlPath, describe

M = TypeVar("M", bound=BaseModel)

#: YAML path of a renamed key → the key as written (``username`` read as ``usernameSecret``).
Renames = dict[YamlPath, str]

_SECRET_KEYS = frozenset({"password", "passwordSecret", "credentials", "credentialsSecret"})


@functools.cache
def _keys(model: type[BaseModel]) -> dict[str, str]:
    return model_keys(model)


@functools.cache
def _nested(model: type[BaseModel], field: str) -> tuple[type[BaseModel] | None, bool]:
    """The model a field holds (if any) and whether it holds a list of them."""
    annotation: Any = model.model_fields[field].annotation
    sequence = False
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return None, False
            annotation = args[0]
        elif origin is tuple and not sequence:
            sequence = True
            annotation = typing.get_args(annotation)[0]
        else:
            break
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, sequence
    return None, False


def _squash(key: str) -> str:
    return re.sub(r"[_\-\s]", "", key).lower()


#: Keys of Prometheus and the Prometheus Operator, and what this schema calls them.
_FOREIGN = {
    "scrapetimeout": "timeout",
    "scrapeinterval": "interval",
    "metricspath": "path",
    "jobname": "targetName",
    "staticconfigs": "endpoints",
    "bearertokensecret": "authorization",
}


def suggest(key: str, known: list[str]) -> str | None:
    """The known key closest to ``key``, if one is close enough."""
    squashed = _squash(key)
    if _FOREIGN.get(squashed) in known:
        return _FOREIGN[squashed]
    for candidate in known:
        if _squash(candidate) == squashed:
            return candidate
    lowered = {k.lower(): k for k in known}
    close = difflib.get_close_matches(key.lower(), list(lowered), n=1, cutoff=0.7)
    return lowered[close[0]] if close else None


def unknown_key(sink: Collector, path: YamlPath, key: object, known: list[str]) -> None:
    """Warn about a key the schema does not know."""
    hint = suggest(key, known) if isinstance(key, str) else None
    message = f"unknown key {describe(key)} (ignored)"
    if hint is not None:
        message += f"; did you mean {hint!r}?"
    sink.warn((*path, str(key)), message)


def normalize(
    data: object,
    model: type[BaseModel],
    path: YamlPath,
    sink: Collector,
    renames: Renames,
    also_known: frozenset[str] = frozenset(),
) -> object:
    """Clean a raw mapping for ``model`` (see the module docstring).

    Keys in ``also_known`` are left out silently: the caller handles them.
    A value that is not a mapping is returned as it is, for pydantic to reject.
    """
    if not isinstance(data, dict):
        return data
    keys = _keys(model)
    secret_forms: dict[str, str] = getattr(model, "secret_forms", {})
    out: dict[str, object] = {}
    spelled: dict[str, str] = {}
    for key, value in data.items():
        if not isinstance(key, str) or (key not in keys and key not in secret_forms):
            if key not in also_known:
                unknown_key(sink, path, key, sorted(set(keys) - set(secret_forms.values())))
            continue
        if value is None:
            continue
        name = key
        if key in secret_forms and isinstance(value, dict):
            name = secret_forms[key]
            renames[(*path, name)] = key
        field = keys[name]
        if field in spelled:
            sink.error((*path, key), f"{spelled[field]!r} is given too; keep only one of them")
            continue
        spelled[field] = key
        inner, sequence = _nested(model, field)
        here = (*path, key)
        if inner is not None and sequence and isinstance(value, list):
            value = [normalize(v, inner, (*here, i), sink, renames) for i, v in enumerate(value)]
        elif inner is not None and not sequence:
            value = normalize(value, inner, here, sink, renames)
        out[name] = value
    return out


def _message(err: Any, secret: bool) -> str:
    kind: str = err["type"]
    ctx: dict[str, Any] = err.get("ctx") or {}
    value = err.get("input")
    got = "" if secret else f", got {describe(value)}"
    if kind == "missing":
        return "is required"
    if kind in ("value_error", "assertion_error"):
        return str(ctx.get("error", err["msg"]))
    if kind in ("bool_type", "bool_parsing"):
        return f"expected true or false{got}"
    if kind == "string_type":
        quote = " (put it in quotes)" if isinstance(value, int | float) and not secret else ""
        return f"expected a string{got}{quote}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"expected an integer{got}"
    if kind in ("float_type", "float_parsing"):
        return f"expected a number{got}"
    if kind in ("tuple_type", "list_type"):
        return f"expected a list{got}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"expected a mapping{got}"
    if kind == "literal_error":
        message = f"expected {ctx.get('expected', '')}{got}"
        choices = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        hint = suggest(value, choices) if isinstance(value, str) else None
        return message + (f"; did you mean {hint!r}?" if hint and hint != value else "")
    if kind == "greater_than_equal":
        return f"must be at least {ctx.get('ge')}{got}"
    if kind == "greater_than":
        return f"must be greater than {ctx.get('gt')}{got}"
    if kind == "string_too_short":
        return "must not be empty"
    return f"{err['msg']}{got}"


def _display_path(base: YamlPath, loc: tuple[Any, ...], renames: Renames) -> YamlPath:
    parts: list[str | int] = list(base)
    for part in loc:
        parts.append(part if isinstance(part, int) else str(part))
        key = tuple(parts)
        if key in renames:
            parts[-1] = renames[key]
    return tuple(parts)


def validate(
    model: type[M],
    data: object,
    path: YamlPath,
    sink: Collector,
    renames: Renames,
) -> M | None:
    """Validate normalized data; on failure record every error and return None."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            loc = tuple(err["loc"])
            prefix = ""
            if loc and loc[-1] == "[key]":
                loc, prefix = loc[:-1], "the key: "
            secret = any(isinstance(p, str) and p in _SECRET_KEYS for p in loc)
            where = _display_path(path, loc, renames)
            sink.error(where, prefix + _message(err, secret))
        return None
