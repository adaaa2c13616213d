"""What the agent makes of an overlay's container: its args through the real CLI
parser and its env through the real settings loader."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from openagent.cli import _parser
from openagent.settings import Settings, env_names, load_settings
from tests.deploy.rendered import NAMESPACE, Obj, container

#: What the kubelet would put in the variables the manifests fill from elsewhere.
FIELD_VALUES = {
    "metadata.name": "openagent-0",
    "metadata.namespace": NAMESPACE,
    "spec.nodeName": "gpu-node-1",
    "status.hostIP": "127.0.0.1",
}
SECRET_VALUES = {"WHATAP_LICENSE": "x-license", "WHATAP_HOST": "127.0.0.1", "WHATAP_PORT": "6600"}


def known_env_names() -> frozenset[str]:
    """Every variable the agent's settings are read from."""
    return frozenset(n for field in Settings.model_fields for n in env_names(field))


def unknown_env_names(names: Iterable[str]) -> list[str]:
    """The names among ``names`` that the agent would silently ignore."""
    known = known_env_names()
    return [n for n in names if n not in known]


def unknown_args(args: list[str]) -> list[str]:
    """The arguments the real ``openagent`` parser does not take (a bad value exits 2)."""
    _, unknown = _parser().parse_known_args(args)
    return list(unknown)


def env_value(entry: Obj) -> str:
    """The value a container's env entry would have in a pod."""
    if "value" in entry:
        return str(entry["value"])
    source = entry["valueFrom"]
    if "fieldRef" in source:
        return FIELD_VALUES[source["fieldRef"]["fieldPath"]]
    return SECRET_VALUES[source["secretKeyRef"]["key"]]


def agent_settings(overlay: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The settings the agent in ``overlay``'s pod would run with."""
    agent = container(overlay)
    for name in known_env_names() | {"WHATAP_OPEN_HOME"}:
        monkeypatch.delenv(name, raising=False)
    for entry in agent.get("env", []):
        monkeypatch.setenv(entry["name"], env_value(entry))
    args = _parser().parse_args(agent["args"])
    assert args.command == "run"
    return load_settings(**{k: v for k, v in vars(args).items() if k != "command"})
