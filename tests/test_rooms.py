"""The rooms' import rules, read from the package's own source (imports anywhere in a module).

The shell (`cli`, `commands`, `agent`, `preflight`, `wiring`, `inprocess`, `worker`,
`__main__`) is the only place that reads the process settings; rooms receive
their own options. The rules below are the ones a change most easily breaks
without noticing.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "openagent"
SHELL = {
    "openagent.cli",
    "openagent.commands",
    "openagent.agent",
    "openagent.preflight",
    "openagent.wiring",
    "openagent.inprocess",
    "openagent.worker",
}


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    tree: ast.Module

    @property
    def in_shell(self) -> bool:
        return self.name in SHELL or self.name.startswith(("openagent.settings", "openagent.__"))


def modules() -> list[Module]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out.append(Module(name, path, ast.parse(path.read_text(), str(path))))
    return out


MODULES = modules()


def imports(module: Module) -> Iterator[tuple[int, str]]:
    """(line, imported module) for every import statement, however deep in the module."""
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
            for alias in node.names:  # `from openagent import agent` imports a module
                yield node.lineno, f"{node.module}.{alias.name}"


def offenders(where: Callable[[Module], bool], imported: tuple[str, ...]) -> list[str]:
    """Every import of one of ``imported`` (or a module inside one) in the modules ``where``
    selects."""
    found = []
    inside = tuple(f"{i}." for i in imported)
    for m in MODULES:
        if where(m):
            for line, name in imports(m):
                if name in imported or name.startswith(inside):
                    found.append(f"{m.path.relative_to(PACKAGE.parent)}:{line} imports {name}")
    return found


def test_the_walk_sees_every_module_and_every_kind_of_import() -> None:
    names = {m.name for m in MODULES}
    assert {"openagent.agent", "openagent.scrape.loop", "openagent.sinks.whatap.sink"} <= names
    late = [n for m in MODULES if m.name == "openagent.cli" for _, n in imports(m)]
    assert "openagent.commands" in late  # an import inside a function is seen too


def test_nothing_below_the_shell_imports_the_settings() -> None:
    assert offenders(lambda m: not m.in_shell, ("openagent.settings",)) == []


def test_no_sink_imports_the_scrape_room() -> None:
    assert offenders(lambda m: m.name.startswith("openagent.sinks"), ("openagent.scrape",)) == []


def test_the_workers_room_knows_targets_and_processes_not_scraping_or_delivery() -> None:
    rooms = ("openagent.scrape", "openagent.delivery", "openagent.sinks", "openagent.discovery")
    assert offenders(lambda m: m.name.startswith("openagent.workers"), rooms) == []


def test_the_shard_room_reads_the_cluster_and_knows_targets_by_id_only() -> None:
    rooms = (
        "openagent.scrape",
        "openagent.delivery",
        "openagent.sinks",
        "openagent.discovery",
        "openagent.workers",
        "openagent.server",
        "openagent.config",
    )
    assert offenders(lambda m: m.name.startswith("openagent.shard"), rooms) == []


def test_commands_do_not_import_the_agent() -> None:
    assert offenders(lambda m: m.name == "openagent.commands", ("openagent.agent",)) == []


@pytest.mark.parametrize("room", ["httpauth", "model", "exposition", "relabel", "rendezvous"])
def test_rooms_beside_the_data_flow_import_no_room_above_them(room: str) -> None:
    above = tuple(
        f"openagent.{r}"
        for r in ("config", "discovery", "scrape", "delivery", "sinks", "kube", "server")
    )
    where = f"openagent.{room}"
    found = offenders(lambda m: m.name.startswith(where), above)
    if room == "model":  # a Target names its endpoint's type, for type checkers only
        found = [f for f in found if "openagent.config" not in f]
    assert found == []


def test_no_dynamic_imports() -> None:
    found = []
    for m in MODULES:
        for node in ast.walk(m.tree):
            if isinstance(node, ast.Call):
                f = node.func
                called = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
                if called in ("import_module", "__import__"):
                    found.append(f"{m.path.relative_to(PACKAGE.parent)}:{node.lineno}")
    assert found == []


def test_no_private_server_attribute_is_read() -> None:
    found = [
        f"{m.path.relative_to(PACKAGE.parent)}:{node.lineno}"
        for m in MODULES
        for node in ast.walk(m.tree)
        if isinstance(node, ast.Attribute) and node.attr == "_server"
    ]
    found += [
        f"{m.path.relative_to(PACKAGE.parent)}:{node.lineno} getattr"
        for m in MODULES
        for node in ast.walk(m.tree)
        if isinstance(node, ast.Constant) and node.value == "_server"
    ]
    assert found == []
