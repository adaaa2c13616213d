"""The overlays of deploy/overlays, as the real ``kubectl kustomize`` renders them."""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
OVERLAYS_DIR = ROOT / "deploy" / "overlays"
OVERLAYS = ("single", "sharded", "node-local", "remote-write")
NAMESPACE = "whatap-monitoring"
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet")
CONFIG_PATH = "/etc/openagent/scrape_config.yaml"
SPOOL_PATH = "/var/lib/openagent/spool"

Obj = dict[str, Any]


@functools.cache
def render(overlay: str) -> tuple[Obj, ...]:
    """Every object ``kubectl kustomize deploy/overlays/<overlay>`` prints."""
    kubectl = shutil.which("kubectl")
    assert kubectl is not None, "kubectl is not installed (scripts/dev.sh installs it)"
    out = subprocess.run(
        [kubectl, "kustomize", str(OVERLAYS_DIR / overlay)],
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout
    return tuple(d for d in yaml.safe_load_all(out) if d)


def of_kind(overlay: str, kind: str) -> list[Obj]:
    """The rendered objects of ``kind``."""
    return [o for o in render(overlay) if o["kind"] == kind]


def one(overlay: str, kind: str) -> Obj:
    """The single rendered object of ``kind``."""
    found = of_kind(overlay, kind)
    assert len(found) == 1, f"{overlay}: expected one {kind}, found {len(found)}"
    return found[0]


def workload(overlay: str) -> Obj:
    """The overlay's one Deployment, StatefulSet or DaemonSet."""
    found = [o for o in render(overlay) if o["kind"] in WORKLOAD_KINDS]
    assert len(found) == 1, f"{overlay}: expected one workload, found {len(found)}"
    return found[0]


def pod_spec(overlay: str) -> Obj:
    spec: Obj = workload(overlay)["spec"]["template"]["spec"]
    return spec


def container(overlay: str) -> Obj:
    """The agent's container: the pod's only one."""
    (agent,) = pod_spec(overlay)["containers"]
    assert agent["name"] == "openagent"
    c: Obj = agent
    return c


def env(overlay: str) -> dict[str, Obj]:
    """The agent container's env entries by name."""
    return {e["name"]: e for e in container(overlay).get("env", [])}
