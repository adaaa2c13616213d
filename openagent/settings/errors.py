"""Reading the settings: `load_settings`, and errors that name the variable and the flag."""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, ValidationError

from openagent.config.problems import describe
from openagent.settings.model import Settings


class SettingsError(ValueError):
    """Settings that cannot be used; ``problems`` has one line per bad setting."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid settings:\n  " + "\n  ".join(problems))


def env_names(field: str) -> list[str]:
    """The variables a field is read from, in order of precedence."""
    alias: Any = Settings.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices):
        return [str(c) for c in alias.choices]
    if isinstance(alias, str):
        return [alias]
    return [f"OPENAGENT_{field.upper()}"]


_BOUNDS = {
    "greater_than_equal": ("ge", "must be at least {}"),
    "greater_than": ("gt", "must be greater than {}"),
    "less_than_equal": ("le", "must be at most {}"),
}


def _describe_error(err: Any) -> str:
    loc = [str(p) for p in err["loc"]]
    if err["type"] == "extra_forbidden":
        return f"unknown setting {loc[0]!r}"
    field = next((f for f in Settings.model_fields if loc and loc[0] in (f, *env_names(f))), None)
    ctx = err.get("ctx") or {}
    kind = err["type"]
    if kind == "value_error" and "error" in ctx:
        message = str(ctx["error"])
    elif kind in _BOUNDS:
        key, text = _BOUNDS[kind]
        message = text.format(ctx.get(key))
    elif kind in ("int_parsing", "int_type", "int_from_float"):
        message = "expected an integer"
    elif kind in ("float_parsing", "float_type"):
        message = "expected a number"
    else:
        message = str(err["msg"])
    if field != "license" and kind != "value_error":
        message += f", got {describe(err.get('input'))}"
    if field is None:
        return message
    flag = "--" + field.replace("_", "-")
    return f"{field} ({' or '.join(env_names(field))}, {flag}): {message}"


def _init_key(name: str) -> str:
    """Keyword for a field: its own variable name if it has one (license → WHATAP_LICENSE)."""
    info = Settings.model_fields.get(name)
    if info is None or info.validation_alias is None:
        return name
    return env_names(name)[0]


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the environment; non-None ``overrides`` (flag values) win.

    Raises SettingsError naming every bad setting, its variable and its flag.
    """
    given = {_init_key(k): v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        raise SettingsError([_describe_error(e) for e in exc.errors(include_url=False)]) from None
