"""Shared helpers for the fleet tests: a strict reader of dcgm-exporter bodies."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest

DCGM_LABELS = (
    "gpu",
    "UUID",
    "pci_bus_id",
    "device",
    "modelName",
    "Hostname",
    "DCGM_FI_DRIVER_VERSION",
)
POD_LABELS = ("container", "namespace", "pod")

_SAMPLE = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*)\{(.*)\} (\S+)$")
_LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="([^"\\]*)",?')


@dataclass
class Family:
    """One family of a parsed body."""

    name: str
    type: str
    help: str
    samples: list[tuple[tuple[tuple[str, str], ...], float]] = field(default_factory=list)


def parse_body(body: bytes) -> list[Family]:
    """Parse a body strictly: HELP, then TYPE, then that family's samples; fail otherwise."""
    text = body.decode()
    assert text.endswith("\n"), "body must end with a newline"
    families: list[Family] = []
    lines = text.split("\n")[:-1]
    i = 0
    while i < len(lines):
        help_line, type_line = lines[i], lines[i + 1]
        assert help_line.startswith("# HELP "), f"line {i + 1}: expected HELP: {help_line!r}"
        _, _, name, help_text = help_line.split(" ", 3)
        assert type_line.startswith(f"# TYPE {name} "), f"line {i + 2}: TYPE for {name}"
        fam = Family(name, type_line.rsplit(" ", 1)[1], help_text)
        i += 2
        while i < len(lines) and not lines[i].startswith("#"):
            m = _SAMPLE.match(lines[i])
            assert m, f"line {i + 1}: not a sample line: {lines[i]!r}"
            assert m.group(1) == name, f"line {i + 1}: sample of {m.group(1)} inside {name}"
            pairs = tuple(_LABEL.findall(m.group(2)))
            assert ",".join(f'{k}="{v}"' for k, v in pairs) == m.group(2)
            fam.samples.append((pairs, float(m.group(3))))
            i += 1
        families.append(fam)
    return families


async def fetch(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """GET ``url``; return status, headers and the raw body."""
    async with session.get(url, headers=headers) as resp:
        return resp.status, dict(resp.headers), await resp.read()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """A client session that does not decompress, so the raw body is what was sent."""
    async with aiohttp.ClientSession(auto_decompress=False) as s:
        yield s
