"""Loading ``scrape_config.yaml``: the document root, then the targets.

Every entry point takes `ConfigLimits`: bytes beyond ``max_bytes`` are
neither read nor parsed, more than ``max_endpoints`` endpoints are refused
before any target is checked, and ``minimumInterval`` is raised to the
interval floor, with a warning (`openagent.config.limits`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from openagent.config.limits import (
    DEFAULT_LIMITS,
    ConfigLimits,
    TooBig,
    count_endpoints,
    endpoints_problem,
    minimum_interval_warning,
    read_limited,
    size_problem,
)
from openagent.config.models import InertGlobal, InertKeys, ScrapeConfig, model_keys
from openagent.config.problems import SECTION, Collector, ConfigError, Problem, describe
from openagent.config.schema import Renames, normalize, unknown_key, validate
from openagent.config.target_checks import Defaults, check_targets
from openagent.config.units import format_duration
from openagent.config.yamlsrc import load_yaml

_INERT_HINTS = {
    "scrapingInterval": "set globalInterval, or interval per endpoint",
    "maxConcurrency": "scrapes are spread over time instead",
}


@dataclass(frozen=True, slots=True)
class LoadedConfig:
    """A valid configuration, the warnings found on the way, and the sha256 of its bytes."""

    config: ScrapeConfig
    warnings: list[Problem]
    digest: str


def _section(data: object, sink: Collector) -> dict[object, object] | None:
    """Find ``features.openAgent``; warn about the keys around it."""
    if data is None:
        sink.error("", "the file is empty; expected features.openAgent")
        return None
    if not isinstance(data, dict):
        sink.error("", f"expected a mapping with features.openAgent, got {describe(data)}")
        return None
    for key in data:
        if key not in ("features", "global"):
            unknown_key(sink, (), key, ["features", "global"])
    if data.get("global") is not None:
        renames: Renames = {}
        block = normalize(data["global"], InertGlobal, ("global",), sink, renames)
        checked = validate(InertGlobal, block, ("global",), sink, renames)
        if checked is not None and checked.scrape_interval is not None:
            sink.warn(
                ("global", "scrape_interval"),
                "has no effect (the Go agent ignores it too); set features.openAgent."
                "globalInterval, or interval per endpoint",
            )
    features = data.get("features")
    if not isinstance(features, dict):
        got = "is required" if features is None else f"expected a mapping, got {describe(features)}"
        sink.error(("features",), got)
        return None
    for key in features:
        if key != "openAgent":
            unknown_key(sink, ("features",), key, ["openAgent"])
    section = features.get("openAgent")
    if not isinstance(section, dict):
        got = "is required" if section is None else f"expected a mapping, got {describe(section)}"
        sink.error(SECTION, got)
        return None
    return section


def _inert(section: dict[object, object], sink: Collector, renames: Renames) -> None:
    """Check and warn about the keys that do nothing."""
    keys = model_keys(InertKeys)
    block = {k: v for k, v in section.items() if k in keys}
    checked = validate(
        InertKeys, normalize(block, InertKeys, SECTION, sink, renames), SECTION, sink, renames
    )
    if checked is None:
        return
    for key in sorted(block):
        if block[key] is not None:
            sink.warn(
                (*SECTION, key), f"has no effect (the Go agent ignores it too); {_INERT_HINTS[key]}"
            )


def _document(data: object, sink: Collector, limits: ConfigLimits) -> ScrapeConfig:
    section = _section(data, sink)
    if section is None:
        return ScrapeConfig()
    too_many = endpoints_problem(count_endpoints(section.get("targets")), limits)
    if too_many is not None:
        sink.error((*SECTION, "targets"), too_many)
        return ScrapeConfig()
    renames: Renames = {}
    inert = frozenset(model_keys(InertKeys))
    own = {k: v for k, v in section.items() if k != "targets"}
    root = validate(
        ScrapeConfig,
        normalize(own, ScrapeConfig, SECTION, sink, renames, inert),
        SECTION,
        sink,
        renames,
    )
    _inert(section, sink, renames)
    if section.get("enabled") is not True:
        state = "not set" if section.get("enabled") is None else "not true"
        sink.warn(
            (*SECTION, "enabled"), f"features.openAgent.enabled is {state}: nothing will be scraped"
        )
        return root.model_copy(update={"targets": ()}) if root else ScrapeConfig()
    defaults = Defaults()
    if root is not None:
        root, defaults = _intervals(root, sink, limits)
    targets = check_targets(section.get("targets"), defaults, sink, renames)
    return (root or ScrapeConfig()).model_copy(update={"targets": targets})


def _intervals(
    root: ScrapeConfig, sink: Collector, limits: ConfigLimits
) -> tuple[ScrapeConfig, Defaults]:
    """``minimumInterval`` raised to the floor, and ``globalInterval`` to that."""
    minimum_interval = root.minimum_interval
    low = minimum_interval_warning(minimum_interval, limits)
    if low is not None:
        sink.warn((*SECTION, "minimumInterval"), low)
        minimum_interval = limits.interval_floor
    global_interval = root.global_interval
    if global_interval is not None and global_interval < minimum_interval:
        minimum = format_duration(minimum_interval)
        sink.warn(
            (*SECTION, "globalInterval"),
            f"{format_duration(global_interval)} is below minimumInterval {minimum}; "
            f"using {minimum}",
        )
        global_interval = minimum_interval
    defaults = Defaults(minimum_interval, global_interval, root.global_path)
    update = {"global_interval": global_interval, "minimum_interval": minimum_interval}
    return root.model_copy(update=update), defaults


def _parse(text: str, source: str, digest: str, limits: ConfigLimits) -> LoadedConfig:
    sink = Collector(source)
    try:
        data = load_yaml(text, sink)
    except ConfigError as exc:
        raise ConfigError(exc.problems, sink.warnings) from None
    config = _document(data, sink, limits)
    if sink.errors:
        raise ConfigError(sink.errors, sink.warnings)
    return LoadedConfig(config, sink.warnings, digest)


def parse_config(
    text: str, source: str = "<string>", limits: ConfigLimits = DEFAULT_LIMITS
) -> LoadedConfig:
    """Parse and check YAML text; ``source`` names it in problems.

    Raises ConfigError with every error found. The digest is the sha256 of
    the text encoded as UTF-8.
    """
    encoded = text.encode("utf-8")
    _check_size(len(encoded), source, limits)
    return _parse(text, source, hashlib.sha256(encoded).hexdigest(), limits)


def _check_size(size: int, source: str, limits: ConfigLimits) -> None:
    problem = size_problem(size, limits)
    if problem is not None:
        raise ConfigError([Problem(source, "", problem)])


def parse_config_bytes(
    data: bytes, source: str, limits: ConfigLimits = DEFAULT_LIMITS
) -> LoadedConfig:
    """Parse and check the bytes of a configuration file (UTF-8, BOM allowed)."""
    _check_size(len(data), source, limits)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            [
                Problem(
                    source, "", f"is not valid UTF-8 (byte {exc.start} is {data[exc.start]:#04x})"
                )
            ]
        ) from None
    return _parse(text, source, hashlib.sha256(data).hexdigest(), limits)


def read_config_bytes(path: Path, limits: ConfigLimits = DEFAULT_LIMITS) -> bytes:
    """Read a configuration file; raises ConfigError naming the file when it cannot,
    or when it is bigger than ``limits.max_bytes`` (never read beyond that)."""
    try:
        return read_limited(path, limits)
    except TooBig as exc:
        message = str(exc)
    except FileNotFoundError:
        message = "file not found"
    except IsADirectoryError:
        message = "is a directory, not a YAML file"
    except OSError as exc:
        message = f"cannot be read: {exc.strerror or exc}"
    raise ConfigError([Problem(str(path), "", message)])


def load_config(path: str | Path, limits: ConfigLimits = DEFAULT_LIMITS) -> LoadedConfig:
    """Read and check a configuration file; raises ConfigError (a missing file too)."""
    p = Path(path)
    return parse_config_bytes(read_config_bytes(p, limits), str(p), limits)
