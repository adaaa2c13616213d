"""How big a configuration the agent takes, and how often it lets an endpoint be scraped.

Measured before these limits: a 50 MB config, hot-reloaded, was accepted,
took 3.1 GB of RSS, and kept the event loop too busy to answer ``/healthz``
or SIGTERM for over a minute. The defaults leave room for every legitimate
config:

* ``max_bytes`` (4 MiB): the Whatap Operator renders a few KB per target
  set, and its ConfigMap cannot exceed 1 MiB (the API server's limit), so
  4 MiB is four times the largest config the operator can deliver. A file
  is measured before it is read (its size, then at most ``max_bytes + 1``
  bytes), a ConfigMap value before it is encoded or decoded, so an oversized
  config is never held whole.
* ``max_endpoints`` (10,000): endpoints summed over every target, counted
  as soon as the YAML is read, before the (costlier) checking of each. A
  static fleet of a few thousand GPU nodes, one endpoint each, fits; 10,000
  plain endpoints are about 0.6 MB of YAML.
* ``interval_floor`` (1 s): ``minimumInterval`` below it is a warning, and
  no endpoint is scraped more often than it. With ``minimumInterval: 0s``
  and ``interval: 1ms`` (a typo for ``1m``) the agent did 565 scrapes a
  second of one exporter; dcgm-exporter itself collects every 30 s by
  default, so a faster scrape reads the same values again. 0 turns the
  floor off (the warning too).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from openagent.config.units import format_duration, format_size

#: What the agent takes by default (see the module docs).
DEFAULT_MAX_BYTES = 4 * 1024 * 1024
DEFAULT_MAX_ENDPOINTS = 10_000
DEFAULT_INTERVAL_FLOOR = 1.0


@dataclass(frozen=True, slots=True)
class ConfigLimits:
    """The largest config (bytes, endpoints) the agent takes, and its scrape interval floor."""

    max_bytes: int = DEFAULT_MAX_BYTES
    max_endpoints: int = DEFAULT_MAX_ENDPOINTS
    interval_floor: float = DEFAULT_INTERVAL_FLOOR


#: The limits of a config loaded without any given (``openagent check``).
DEFAULT_LIMITS = ConfigLimits()


class TooBig(Exception):
    """A config over ``max_bytes``; the message says by how much, in one line."""


def size_problem(size: int, limits: ConfigLimits) -> str | None:
    """The problem of a config of ``size`` bytes, or None when it is within the limit."""
    if size <= limits.max_bytes:
        return None
    return (
        f"is {size:,} bytes, more than the limit of {format_size(limits.max_bytes)} "
        "(--config-max-bytes); not loaded"
    )


def read_limited(path: Path, limits: ConfigLimits) -> bytes:
    """The file's bytes; `TooBig` when it has more than ``max_bytes`` (never read beyond)."""
    with path.open("rb") as f:
        problem = size_problem(os.fstat(f.fileno()).st_size, limits)
        if problem is not None:
            raise TooBig(problem)
        data = f.read(limits.max_bytes + 1)  # it may have grown since the stat
    if len(data) > limits.max_bytes:
        raise TooBig(
            f"grew while read, to more than the limit of {format_size(limits.max_bytes)} "
            "(--config-max-bytes); not loaded"
        )
    return data


def count_endpoints(targets: object) -> int:
    """The endpoints of a ``targets`` list as written (a target without a list counts one)."""
    if not isinstance(targets, list):
        return 0
    total = 0
    for target in targets:
        endpoints = target.get("endpoints") if isinstance(target, dict) else None
        total += len(endpoints) if isinstance(endpoints, list) and endpoints else 1
    return total


def endpoints_problem(count: int, limits: ConfigLimits) -> str | None:
    """The problem of a config with ``count`` endpoints, or None within the limit."""
    if count <= limits.max_endpoints:
        return None
    return (
        f"{count:,} endpoints, more than the limit of {limits.max_endpoints:,} "
        "(--config-max-endpoints); not loaded"
    )


def minimum_interval_warning(minimum: float, limits: ConfigLimits) -> str | None:
    """The warning for a ``minimumInterval`` below the floor, or None."""
    if minimum >= limits.interval_floor:
        return None
    floor = format_duration(limits.interval_floor)
    return (
        f"{format_duration(minimum)} is below {floor}: an interval as short as that "
        f"(1ms written for 1m) would scrape an exporter hundreds of times a second; "
        f"the agent scrapes no endpoint more often than every {floor} (--min-scrape-interval)"
    )
