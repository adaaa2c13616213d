"""The tools the comparison runs: what each is, the command line and config it gets, its version.

``vmagent`` and ``prometheus`` (agent mode) read a Prometheus scrape config;
an openagent variant is a command template (``--agent NAME=TEMPLATE``) given
a Whatap-operator style ``StaticEndpoints`` config for the same targets. A
template may use ``{config}``, ``{listen}`` (a free ``127.0.0.1:PORT``),
``{port}`` (that port), ``{rw}`` (the harness' remote-write URL) and
``{python}`` (the harness' interpreter).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from benchmarks.fleet import Fleet

#: The checkout the harness runs from; put first on a variant's PYTHONPATH, so that
#: ``{python} -m openagent`` runs this checkout's code whatever is installed.
REPO = Path(__file__).resolve().parents[1]
PLACEHOLDERS = ("config", "listen", "port", "rw", "python")
GO_TOOLS = ("vmagent", "prometheus")
_OPENAGENT_RUN = "{python} -m openagent run --config {config} --listen {listen} --log-level warning"
DEFAULT_AGENT = _OPENAGENT_RUN + " --sink remote_write --remote-write-url {rw}"
DEFAULT_WHATAP_AGENT = _OPENAGENT_RUN + " --sink whatap"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class Tool:
    """One tool to measure: ``kind`` is ``vmagent``, ``prometheus`` or ``openagent``;
    ``sink`` is where an openagent variant delivers (``remote_write`` or ``whatap``)."""

    name: str
    kind: str
    template: str = ""
    sink: str = "remote_write"

    @property
    def is_openagent(self) -> bool:
        """True for an openagent variant (it has its own /metrics to read)."""
        return self.kind == "openagent"


@dataclass
class Launch:
    """How to start a tool: its argv, extra environment, and the address its HTTP server
    listens on (where openagent serves ``/metrics``)."""

    argv: list[str]
    listen: str
    env: dict[str, str] = field(default_factory=dict)


def parse_agent(text: str, sink: str = "remote_write") -> Tool:
    """A variant from ``NAME=TEMPLATE``; ValueError saying what is wrong otherwise."""
    name, sep, template = text.partition("=")
    name, template = name.strip(), template.strip()
    if not sep or not name or not template:
        raise ValueError(f"expected NAME=COMMAND_TEMPLATE, got {text!r}")
    if not _NAME.match(name):
        raise ValueError(f"bad variant name {name!r}: use letters, digits, '.', '_' and '-'")
    if name in GO_TOOLS:
        raise ValueError(f"variant name {name!r} is taken by the tool of that name")
    dummy = dict.fromkeys(PLACEHOLDERS, "x")
    try:
        argv = shlex.split(template.format(**dummy))
    except KeyError as exc:
        known = " ".join("{" + p + "}" for p in PLACEHOLDERS)
        bad = "{" + str(exc.args[0]) + "}"
        raise ValueError(f"{name}: unknown placeholder {bad} (known: {known})") from None
    except (ValueError, IndexError) as exc:
        raise ValueError(f"{name}: bad command template: {exc}") from None
    if not argv:
        raise ValueError(f"{name}: empty command")
    return Tool(name, "openagent", template, sink)


def targets(fleet: Fleet) -> list[str]:
    """host:port of every node."""
    return [f"{n.host}:{n.port}" for n in fleet.nodes]


def prometheus_config(fleet: Fleet, interval: str, rw_url: str | None) -> dict[str, Any]:
    """A Prometheus-style scrape config (vmagent and Prometheus read it)."""
    cfg: dict[str, Any] = {
        "global": {"scrape_interval": interval, "scrape_timeout": interval},
        "scrape_configs": [{"job_name": "dcgm", "static_configs": [{"targets": targets(fleet)}]}],
    }
    if rw_url:
        cfg["remote_write"] = [{"url": rw_url}]
    return cfg


def openagent_config(fleet: Fleet, interval: str) -> dict[str, Any]:
    """The same targets as a Whatap-operator style StaticEndpoints config."""
    endpoints = [{"address": t, "path": "/metrics", "interval": interval} for t in targets(fleet)]
    target = {"targetName": "dcgm", "type": "StaticEndpoints", "enabled": True}
    return {
        "features": {"openAgent": {"enabled": True, "targets": [target | {"endpoints": endpoints}]}}
    }


def _python_path() -> str:
    return os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)


def launch(
    tool: Tool, *, fleet: Fleet, interval: str, rw_url: str, work: Path, listen: str, bins: Any
) -> Launch:
    """The command line of ``tool``, with its config written into ``work``.

    Config and data paths carry the fleet size, so no run reads what an earlier
    one left (a Prometheus WAL or a vmagent queue would be replayed otherwise).
    ``bins`` has the ``vmagent`` and ``prometheus`` binaries as attributes.
    """
    tag = f"{tool.name}-{len(fleet.nodes)}"
    if tool.kind == "vmagent":
        cfg = work / f"{tag}.yml"
        cfg.write_text(yaml.safe_dump(prometheus_config(fleet, interval, None)))
        argv = [bins.vmagent, f"-promscrape.config={cfg}", f"-remoteWrite.url={rw_url}"]
        argv += [f"-remoteWrite.tmpDataPath={work / tag}-data"]
        return Launch([*argv, f"-httpListenAddr={listen}", "-loggerLevel=WARN"], listen)
    if tool.kind == "prometheus":
        cfg = work / f"{tag}.yml"
        cfg.write_text(yaml.safe_dump(prometheus_config(fleet, interval, rw_url)))
        argv = [bins.prometheus, "--enable-feature=agent", f"--config.file={cfg}"]
        argv += [f"--storage.agent.path={work / tag}-data"]
        return Launch([*argv, f"--web.listen-address={listen}", "--log.level=warn"], listen)
    cfg = work / f"{tag}.yaml"
    cfg.write_text(yaml.safe_dump(openagent_config(fleet, interval), sort_keys=False))
    port = listen.rsplit(":", 1)[1]
    text = tool.template.format(
        config=cfg, listen=listen, port=port, rw=rw_url, python=sys.executable
    )
    return Launch(shlex.split(text), listen, {"PYTHONPATH": _python_path()})


def _first_line(argv: list[str], env: dict[str, str] | None = None) -> str:
    try:
        proc = subprocess.run(
            argv, capture_output=True, text=True, timeout=30, env=env, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    return lines[0].strip() if lines and proc.returncode == 0 else ""


def _debian_version(binary: str) -> str:
    """``package version`` of the Debian package that owns ``binary`` (Debian's vmagent
    prints nothing for ``--version``)."""
    path = shutil.which(binary)
    if path is None or shutil.which("dpkg-query") is None:
        return ""
    owner = _first_line(["dpkg", "-S", os.path.realpath(path)]).split(":", 1)[0]
    if not owner:
        return ""
    version = _first_line(["dpkg-query", "-W", "-f", "${Version}", owner])
    return f"{owner} {version} (Debian package)" if version else ""


def version_argv(tool: Tool) -> list[str] | None:
    """The variant's command with ``run ...`` replaced by ``version``, or None without ``run``."""
    values = dict.fromkeys(PLACEHOLDERS, "-") | {"python": sys.executable}
    argv = shlex.split(tool.template.format(**values))
    if "run" not in argv:
        return None
    return [*argv[: argv.index("run")], "version"]


def tool_version(tool: Tool, bins: Any) -> str:
    """A one-line version of ``tool``, or ``unknown`` when it is not cheap to learn."""
    if tool.kind in GO_TOOLS:
        binary = getattr(bins, tool.kind)
        return _first_line([binary, "--version"]) or _debian_version(binary) or "unknown"
    argv = version_argv(tool)
    if argv is None:
        return "unknown"
    env = os.environ | {"PYTHONPATH": _python_path()}
    return _first_line(argv, env) or "unknown"
