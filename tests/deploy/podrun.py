"""An overlay's pod as a local process: its volumes as directories, its args and env
with the mount paths moved there, the listener on loopback, and the cluster reached
through a kubeconfig instead of the service-account files (which need root to mount).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.deploy.agent_settings import FIELD_VALUES
from tests.deploy.rendered import Obj, container, one, pod_spec

#: Where the process's own environment could leak settings into the agent.
_SETTINGS_PREFIXES = ("OPENAGENT_", "WHATAP_", "KUBERNETES_", "POD_", "NODE_")


@dataclass(frozen=True)
class Peers:
    """What the pod's environment points at, on loopback."""

    kubeconfig: Path
    whatap_port: int
    whatap_license: str
    remote_write_url: str


def mount_volumes(overlay: str, root: Path) -> dict[str, Path]:
    """A directory per mount path; the ConfigMap's keys written as files in its own."""
    volumes = {v["name"]: v for v in pod_spec(overlay).get("volumes", [])}
    config_map = one(overlay, "ConfigMap")
    mounts: dict[str, Path] = {}
    for mount in container(overlay)["volumeMounts"]:
        directory = root / mount["name"]
        directory.mkdir(parents=True)
        source = volumes.get(mount["name"], {})
        if source.get("configMap", {}).get("name") == config_map["metadata"]["name"]:
            for key, text in config_map["data"].items():
                (directory / key).write_text(text)
        mounts[mount["mountPath"]] = directory
    return mounts


def _moved(value: str, mounts: dict[str, Path]) -> str:
    for path, directory in mounts.items():
        if value == path or value.startswith(path + "/"):
            return str(directory) + value[len(path) :]
    return value


def _env_value(entry: Obj, peers: Peers) -> str:
    if entry["name"] == "OPENAGENT_REMOTE_WRITE_URL":
        return peers.remote_write_url
    if "value" in entry:
        return str(entry["value"])
    source = entry["valueFrom"]
    if "fieldRef" in source:
        return FIELD_VALUES[source["fieldRef"]["fieldPath"]]
    secrets = {
        "WHATAP_LICENSE": peers.whatap_license,
        "WHATAP_HOST": "127.0.0.1",
        "WHATAP_PORT": str(peers.whatap_port),
    }
    return secrets[source["secretKeyRef"]["key"]]


def command(
    overlay: str, mounts: dict[str, Path], listen: int, peers: Peers
) -> tuple[list[str], dict[str, str]]:
    """The agent's argv and environment, as the pod would start it."""
    args = [_moved(a, mounts) for a in container(overlay)["args"]]
    args[args.index("--listen") + 1] = f"127.0.0.1:{listen}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SETTINGS_PREFIXES)}
    env.pop("KUBECONFIG", None)
    for entry in container(overlay).get("env", []):
        env[entry["name"]] = _moved(_env_value(entry, peers), mounts)
    env["OPENAGENT_KUBECONFIG"] = str(peers.kubeconfig)
    return [sys.executable, "-m", "openagent", *args], env
