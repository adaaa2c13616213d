"""Process settings: environment variables and command-line flags (never YAML).

Whatap's own variables keep their names (``WHATAP_LICENSE``, ``WHATAP_HOST``,
``WHATAP_PORT``, ``WHATAP_ONAME``, ``WHATAP_OKIND``, ``WHATAP_ONODE``), as do
the Kubernetes downward-API ones (``POD_NAME``, ``NODE_NAME``, ``NODE_IP``,
``POD_NAMESPACE``) and ``KUBECONFIG``. Everything
else is ``OPENAGENT_<NAME>`` (``OPENAGENT_LISTEN``, ``OPENAGENT_SINKS`` ...).
Names are read regardless of case, so the Go agent's
``openagent_enable_protobuf`` (true, yes or 1) is ``OPENAGENT_ENABLE_PROTOBUF``.
Flags win over the environment, the environment over defaults. Empty
variables count as unset. The license is a ``SecretStr``: it never shows in
``repr``, ``str``, logs or error messages.

The scrape configuration comes from the file ``config``, watched for
changes, unless ``config_map`` names a ConfigMap: then the key
``config_map_key`` of that ConfigMap is read and watched through the
Kubernetes API (in ``POD_NAMESPACE``, else the service account's namespace,
else ``whatap-monitoring``), and the file is not read at all. That is what
the Go agent does in Kubernetes mode, and what the Whatap Operator's
Deployment needs: it mounts the ConfigMap with ``subPath``, so the file
never changes. Hence the default (`go_agent_config_map`): started the Go
agent's way (no arguments, ``-d`` or ``foreground``) inside a cluster
(``KUBERNETES_SERVICE_HOST`` set) with no ``OPENAGENT_CONFIG_MAP`` given, the
agent reads the operator's ConfigMap ``whatap-open-agent-config``;
``standalone`` (the Go agent's file mode) keeps the file.

The HTTP server listens on all interfaces by default (``:9401``): the kubelet
probes the pod IP, so a loopback default would fail every probe. Port 9401
sits next to dcgm-exporter's 9400 and is free on GPU nodes, where the agent
may run with the host network.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from openagent.settings.errors import SettingsError, env_names, load_settings
from openagent.settings.help import default_text, help_text
from openagent.settings.model import DEFAULT_CONFIG_MAP, DEFAULT_CONFIG_MAP_KEY, Settings
from openagent.settings.values import KNOWN_SINKS, LOG_LEVELS, parse_listen

__all__ = [
    "DEFAULT_CONFIG_MAP",
    "DEFAULT_CONFIG_MAP_KEY",
    "KNOWN_SINKS",
    "LOG_LEVELS",
    "Settings",
    "SettingsError",
    "default_text",
    "env_names",
    "go_agent_config_map",
    "help_text",
    "load_settings",
    "parse_listen",
]


def go_agent_config_map(
    argv: Sequence[str], environ: Mapping[str, str] | None = None
) -> str | None:
    """The ConfigMap to read when started the Go agent's way (``argv`` as given), else None.

    As the Go agent in Kubernetes mode: inside a cluster (``KUBERNETES_SERVICE_HOST``
    set) and with no ``OPENAGENT_CONFIG_MAP`` given, `DEFAULT_CONFIG_MAP`.
    ``standalone`` as the first or second argument is the Go agent's file mode: None.
    """
    env = os.environ if environ is None else environ
    if "standalone" in argv[:2] or not env.get("KUBERNETES_SERVICE_HOST", "").strip():
        return None
    if any(k.upper() == "OPENAGENT_CONFIG_MAP" and v.strip() for k, v in env.items()):
        return None  # given explicitly; the settings read it
    return DEFAULT_CONFIG_MAP
