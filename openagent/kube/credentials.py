"""Where the cluster is and how to authenticate: in-cluster service account or kubeconfig.

kubernetes_asyncio's loaders do the parsing (host, CA, client certificates,
exec plugins, IPv6 hosts). Two things are done here instead:

* The service-account token is read by `ServiceAccountToken`, which strips
  surrounding whitespace (the library puts a trailing newline into the
  ``Authorization`` header, which aiohttp refuses) and re-reads the file
  whenever it changes (kubelet rotates projected tokens by swapping a
  symlink) and at least once a minute, as client-go does.
* A 401 makes the client call `Credentials.refresh`, which re-reads the
  token file or reloads the kubeconfig (an exec plugin runs again), so an
  expired credential heals without a restart.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from kubernetes_asyncio import client as k8s
from kubernetes_asyncio.config import incluster_config, kube_config
from kubernetes_asyncio.config.config_exception import ConfigException

from openagent.httpauth.files import WatchedFiles
from openagent.kube.cluster import SERVICE_ACCOUNT_DIR, kubeconfig_spec
from openagent.kube.errors import KubeConfigError
from openagent.telemetry import get_logger

TOKEN_MAX_AGE = 60.0

log = get_logger("kube")


class ServiceAccountToken:
    """A bearer token file, re-read when it changes; whitespace around it is stripped."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._files = WatchedFiles(max_age=TOKEN_MAX_AGE, max_entries=1)
        self.token = ""
        self.refresh(force=True)

    def refresh(self, force: bool = False) -> bool:
        """Re-read the file if it changed, aged or ``force``; True if the token changed."""
        try:
            token = self._files.read(str(self.path), force=force).decode().strip()
        except (OSError, ValueError) as err:  # ValueError: too large, or not UTF-8
            if not self.token:
                raise KubeConfigError(f"service-account token {self.path}: {err}") from err
            return False  # mid-rotation; keep the current token
        if not token:
            if not self.token:
                raise KubeConfigError(f"service-account token {self.path} is empty")
            return False
        changed = token != self.token
        if changed and self.token:
            log.info("service-account token changed; using the new one", path=str(self.path))
        self.token = token
        return changed


@dataclass
class Credentials:
    """A filled-in kubernetes_asyncio Configuration and how to refresh its credentials."""

    configuration: k8s.Configuration
    source: str
    token_file: ServiceAccountToken | None = None
    kubeconfig: str | None = None

    async def refresh(self) -> bool:
        """Reload the credentials after a 401; True if they changed (worth a retry)."""
        if self.token_file is not None:
            changed = self.token_file.refresh(force=True)
            self.configuration.api_key["BearerToken"] = self.token_file.token
            return changed
        if self.kubeconfig is None:
            return False
        fresh = k8s.Configuration()
        try:
            await kube_config.load_kube_config(
                config_file=self.kubeconfig, client_configuration=fresh, persist_config=False
            )
        except (ConfigException, OSError, ValueError, KeyError, yaml.YAMLError) as err:
            log.warning("kubeconfig reload failed", path=self.kubeconfig, error=str(err))
            return False
        old = dict(self.configuration.api_key)
        self.configuration.api_key.clear()
        self.configuration.api_key.update(fresh.api_key)
        return old != fresh.api_key


def load_incluster(
    token_path: Path | None = None,
    ca_path: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Credentials:
    """The pod's service account: ``KUBERNETES_SERVICE_HOST/PORT``, token and CA files."""
    token_path = token_path or SERVICE_ACCOUNT_DIR / "token"
    ca_path = ca_path or SERVICE_ACCOUNT_DIR / "ca.crt"
    env = dict(os.environ if environ is None else environ)
    cfg = k8s.Configuration()
    loader = incluster_config.InClusterConfigLoader(
        token_filename=str(token_path),
        cert_filename=str(ca_path),
        try_refresh_token=False,
        environ=env,
    )
    try:
        loader.load_and_set(cfg)
    except (ConfigException, OSError) as err:
        raise KubeConfigError(
            f"in-cluster config (token {token_path}, CA {ca_path}, "
            f"KUBERNETES_SERVICE_HOST/PORT): {err}"
        ) from err
    token = ServiceAccountToken(token_path)
    cfg.api_key = {"BearerToken": token.token}
    cfg.api_key_prefix = {"BearerToken": "Bearer"}

    def refresh_hook(configuration: Any) -> None:
        token.refresh()
        configuration.api_key["BearerToken"] = token.token

    cfg.refresh_api_key_hook = refresh_hook
    return Credentials(cfg, f"in-cluster service account ({cfg.host})", token_file=token)


async def load_kubeconfig(path: Path | None) -> Credentials:
    """A kubeconfig: ``path``, else ``$KUBECONFIG`` (a ``:`` list), else ``~/.kube/config``."""
    spec, origin = kubeconfig_spec(path)
    cfg = k8s.Configuration()
    try:
        await kube_config.load_kube_config(
            config_file=spec, client_configuration=cfg, persist_config=False
        )
    except (ConfigException, OSError, ValueError, KeyError, TypeError, yaml.YAMLError) as err:
        raise KubeConfigError(f"kubeconfig {spec} (from {origin}): {err}") from err
    return Credentials(cfg, f"kubeconfig {spec} ({cfg.host})", kubeconfig=spec)
