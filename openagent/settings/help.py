"""How ``--help`` shows a setting's default: in the units a user writes (``30s``, ``64MiB``)."""

from __future__ import annotations

from pydantic_core import PydanticUndefined

from openagent.config.units import format_duration, format_size
from openagent.settings.model import Settings
from openagent.settings.values import Unit

#: Defaults that a rule decides rather than a value.
_RULES = {
    "sinks": "whatap when WHATAP_LICENSE is set, else jsonl",
    "config": "$WHATAP_OPEN_HOME/scrape_config.yaml, else ./scrape_config.yaml",
}


def default_text(name: str) -> str:
    """The default of setting ``name`` as ``--help`` shows it (``unset`` when there is none)."""
    if name in _RULES:
        return _RULES[name]
    field = Settings.model_fields[name]
    value = field.default
    if value is PydanticUndefined or value is None:
        return "unset"
    unit = next((m for m in field.metadata if isinstance(m, Unit)), None)
    if unit is not None and unit.kind == "duration":
        return format_duration(float(value))
    if unit is not None and unit.kind == "size":
        return format_size(int(value))
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def help_text(name: str) -> str:
    """The help line of setting ``name``: its description and its default (left out when
    the description already says what leaving it unset does)."""
    description = Settings.model_fields[name].description or ""
    default = default_text(name)
    if default == "unset" and "unset" in description:
        return description
    return f"{description} (default: {default})"
