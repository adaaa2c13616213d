"""The value types of the process settings: listen addresses, sink lists, durations, sizes."""

from __future__ import annotations

import ipaddress
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field

from openagent.config.units import parse_duration, parse_size

KNOWN_SINKS = ("whatap", "remote_write", "jsonl")
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
MiB = 1024**2
GiB = 1024**3


@dataclass(frozen=True, slots=True)
class Unit:
    """Marks a setting's type with the unit its default is shown in by ``--help``."""

    kind: Literal["duration", "size"]


def _size(value: object) -> object:
    return parse_size(value) if isinstance(value, str | int) else value


def _duration(value: object) -> object:
    return parse_duration(value) if isinstance(value, str) else value


#: Seconds, written as ``30s``, ``500ms``, ``1m`` or a number of seconds.
Seconds = Annotated[float, BeforeValidator(_duration), Unit("duration")]
PositiveSeconds = Annotated[Seconds, Field(gt=0)]
#: Bytes, written as ``64MiB``, ``1GiB``, ``4096`` ...
Bytes = Annotated[int, BeforeValidator(_size), Unit("size"), Field(ge=0)]
PositiveBytes = Annotated[int, BeforeValidator(_size), Unit("size"), Field(gt=0)]
Limit = Annotated[int, Field(ge=0)]


def parse_listen(value: str) -> tuple[str | None, int]:
    """Split a listen address into host and port.

    ``:9401``, ``*:9401`` and a bare ``9401`` mean all interfaces (host None);
    ``0.0.0.0:9401`` all IPv4 ones; ``[::]:9401``, ``[::1]:9401``,
    ``127.0.0.1:9401`` and ``localhost:9401`` what they say. Port 0 asks the
    system for a free port.
    """
    expected = "expected host:port such as ':9401', '127.0.0.1:9401' or '[::1]:9401'"
    text = value.strip()
    if text.isdigit():
        host, port = "", text
    elif text.startswith("["):
        host, sep, port = text[1:].partition("]:")
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{expected}, got {value!r}") from None
        if not sep:
            raise ValueError(f"{expected}, got {value!r}")
    else:
        host, sep, port = text.rpartition(":")
        if not sep:
            raise ValueError(f"{expected}, got {value!r}")
        if ":" in host:
            raise ValueError(f"an IPv6 host needs brackets, such as '[::1]:9401', got {value!r}")
    if not port.isdigit() or int(port) > 65535:
        raise ValueError(f"{expected} (port 0-65535), got {value!r}")
    return (None if host in ("", "*") else host), int(port)


def default_config() -> Path:
    """``$WHATAP_OPEN_HOME/scrape_config.yaml`` (as the Go agent), else ``./scrape_config.yaml``."""
    home = os.environ.get("WHATAP_OPEN_HOME", "").strip()
    return Path(home) / "scrape_config.yaml" if home else Path("scrape_config.yaml")


def sink_list(value: object) -> object:
    """A comma-separated or JSON list of sink names, normalised, each once."""
    if isinstance(value, str):
        text = value.strip()
        value = json.loads(text) if text.startswith("[") else text.split(",")
    if isinstance(value, list | tuple):
        out: list[object] = []
        for item in value:
            name = item.strip().lower() if isinstance(item, str) else item
            if isinstance(name, str) and name.replace("-", "_") in KNOWN_SINKS:
                name = name.replace("-", "_")  # remote-write is remote_write
            if name and name not in out:
                out.append(name)
        return out
    return value


def name_list(value: object) -> object:
    """A comma-separated or JSON list of label names, stripped, each once, in order."""
    if isinstance(value, str):
        text = value.strip()
        value = json.loads(text) if text.startswith("[") else text.split(",")
    if isinstance(value, list | tuple):
        out: list[object] = []
        for item in value:
            name = item.strip() if isinstance(item, str) else item
            if name and name not in out:
                out.append(name)
        return out
    return value


def first_path(value: object) -> object:
    """KUBECONFIG may list several files; the first one is used."""
    if isinstance(value, str) and os.pathsep in value:
        return next((p for p in value.split(os.pathsep) if p), None)
    return value
