"""The composition root's recipes: from the process `Settings` to each room's own options.

Every room below the shell receives a small frozen options value it owns
(`ScrapeOptions`, `DiscoveryOptions`, `DeliveryOptions`, `KubeOptions`,
`WhatapOptions`, `RemoteWriteOptions`, `ServerOptions`, `WorkerOptions`) and
never sees the settings. This module is the one place that maps settings to those values,
picks the sinks and the config source; `openagent.agent` and
`openagent.commands` call it. A ValueError here names the setting at fault.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import openagent
from openagent.config import ConfigLimits, ConfigSource, FileSource
from openagent.config.configmap_source import ConfigMapSource
from openagent.config.source import OnChange, OnError
from openagent.delivery import DeliveryOptions
from openagent.discovery import DiscoveryOptions
from openagent.exposition import Limits
from openagent.httpauth import HTTPAuth
from openagent.kube import Cluster, KubeOptions, own_namespace
from openagent.kube.attribution import AttributionOptions, WorkloadResolver
from openagent.kube.labels import check_label_selector
from openagent.scrape import ScrapeOptions, TimestampBounds
from openagent.server import ServerOptions
from openagent.settings import Settings
from openagent.shard import (
    MembershipOptions,
    Ownership,
    PodMembership,
    Shard,
    StaticShard,
    static_index,
)
from openagent.sinks import Sink
from openagent.workers import WorkerOptions

if TYPE_CHECKING:  # the client module is loaded only when a cluster is asked for
    from openagent.kube.client import KubeClient

if TYPE_CHECKING:
    from openagent.sinks.remote_write import RemoteWriteOptions
    from openagent.sinks.whatap.sink import WhatapOptions


def scrape_options(settings: Settings) -> ScrapeOptions:
    """Process-wide scrape limits (an endpoint's own limits win), offsets and formats."""
    return ScrapeOptions(
        limits=Limits(
            sample_limit=settings.sample_limit,
            label_limit=settings.label_limit,
            label_name_length_limit=settings.label_name_length_limit,
            label_value_length_limit=settings.label_value_length_limit,
        ),
        body_size_limit=settings.body_size_limit,
        seed=settings.pod_name or socket.gethostname(),
        wakeup_quantum=settings.scrape_grid,
        enable_protobuf=settings.enable_protobuf,
        timestamp_bounds=TimestampBounds(
            max_age=settings.timestamp_max_age, max_ahead=settings.timestamp_max_ahead
        ),
    )


def attribution_options(settings: Settings) -> AttributionOptions | None:
    """The labels GPU workload attribution copies; None when it is off."""
    if not settings.gpu_attribution:
        return None
    return AttributionOptions(
        pod_labels=tuple(settings.attribution_pod_labels),
        node_labels=tuple(settings.attribution_node_labels),
    )


def attribution(settings: Settings, cluster: Cluster) -> WorkloadResolver | None:
    """The workload resolver GPU attribution reads the cluster through; None when off."""
    options = attribution_options(settings)
    if options is None:
        return None

    async def client() -> KubeClient:
        return (await cluster.pool()).client

    return WorkloadResolver(client, options)


def discovery_options(settings: Settings) -> DiscoveryOptions:
    """Node-local mode from ``node_local`` and ``NODE_NAME``."""
    if not settings.node_local:
        return DiscoveryOptions()
    if not settings.node_name:
        raise ValueError(
            "node-local discovery (OPENAGENT_NODE_LOCAL) needs the node name in NODE_NAME"
        )
    return DiscoveryOptions(node=settings.node_name)


def delivery_options(settings: Settings, worker: int | None = None) -> DeliveryOptions:
    """The delivery layer's queues, spool and retries; worker ``i`` spools in ``worker-<i>``."""
    spool_dir = settings.spool_dir
    if spool_dir is not None and worker is not None:
        spool_dir = spool_dir / f"worker-{worker}"
    return DeliveryOptions(
        memory_queue_bytes=settings.memory_queue_bytes,
        spool_dir=spool_dir,
        spool_max_bytes=settings.spool_max_bytes,
        spool_fsync=settings.spool_fsync,
        spool_fsync_interval=settings.spool_fsync_interval,
        backoff_max=settings.retry_max_backoff,
        backoff_initial=min(0.5, settings.retry_max_backoff),
        retry_after_max=settings.retry_after_max,
    )


#: How the agent starts a worker process (the number of its socket is appended).
WORKER_COMMAND = (sys.executable, "-m", "openagent.worker")


def worker_env() -> dict[str, str]:
    """The agent's environment, with this ``openagent`` package first on the import path,
    so that a worker runs the same code as the agent whatever its working directory."""
    root = str(Path(openagent.__file__).resolve().parents[1])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


def worker_options(settings: Settings) -> WorkerOptions:
    """``workers`` processes, each booted with these settings."""
    return WorkerOptions(
        count=settings.workers, command=WORKER_COMMAND, boot=settings, env=worker_env()
    )


def kube_options(settings: Settings) -> KubeOptions:
    """How to reach the cluster."""
    return KubeOptions(kubeconfig=settings.kubeconfig)


def cluster(settings: Settings) -> Cluster:
    """The shared Kubernetes connection (made when a room first needs it)."""
    return Cluster.of(kube_options(settings))


def agent_namespace(settings: Settings) -> str:
    """The agent's own namespace: its ConfigMap's, and that of Secret references without one."""
    return own_namespace(settings.pod_namespace)


def shard(settings: Settings, kube: Cluster) -> Shard:
    """How this agent's share of the targets is decided: live membership from its pods
    (``shard_selector``), a static index of ``shard_count``, or no sharding.

    ValueError, naming the settings, for a combination the agent cannot run with.
    """
    if settings.shard_selector is None:
        index = static_index(settings.shard_index, settings.shard_count, settings.pod_name)
        return StaticShard(Ownership.static(index, settings.shard_count))
    if settings.shard_count > 1 or settings.shard_index is not None:
        raise ValueError(
            "OPENAGENT_SHARD_SELECTOR (live membership) and OPENAGENT_SHARD_COUNT/"
            "OPENAGENT_SHARD_INDEX (a fixed split) are two ways to share the targets; set one"
        )
    me, namespace = (settings.pod_name or "").strip(), (settings.pod_namespace or "").strip()
    given = (("POD_NAME", me), ("POD_NAMESPACE", namespace))
    missing = [name for name, value in given if not value]
    if missing:
        raise ValueError(
            f"OPENAGENT_SHARD_SELECTOR needs {' and '.join(missing)} (from the downward API: "
            "fieldRef metadata.name and metadata.namespace): the agent finds itself among "
            "its pods by them"
        )
    try:
        selector = check_label_selector(settings.shard_selector)
    except ValueError as exc:
        raise ValueError(f"OPENAGENT_SHARD_SELECTOR: {exc}") from None
    return PodMembership(kube, MembershipOptions(namespace, selector, me))


def server_options(settings: Settings) -> ServerOptions:
    """Where the agent's HTTP server listens."""
    return ServerOptions(settings.listen_host, settings.listen_port)


def identity_env(settings: Settings) -> dict[str, str]:
    """The Whatap identity inputs of the settings, under the names the sink reads."""
    pairs = {
        "WHATAP_ONAME": settings.oname,
        "WHATAP_OKIND": settings.okind,
        "WHATAP_ONODE": settings.onode,
        "POD_NAME": settings.pod_name,
        "NODE_NAME": settings.node_name,
        "NODE_IP": settings.node_ip,
    }
    return {k: v.strip() for k, v in pairs.items() if v and v.strip()}


def settings_view(settings: Settings) -> dict[str, str]:
    """The effective settings as text, for the collector's CONFIGURE_GET (no license)."""
    dumped = settings.model_dump(mode="json", exclude={"license"})
    return {
        k: v if isinstance(v, str) else json.dumps(v) for k, v in dumped.items() if v is not None
    }


def static_shard(settings: Settings) -> int | None:
    """This agent's index of a static split (None when there is none)."""
    if settings.shard_count <= 1:
        return None
    return static_index(settings.shard_index, settings.shard_count, settings.pod_name)


def whatap_options(settings: Settings) -> WhatapOptions:
    """The Whatap sink's collector, license, identity and timeouts."""
    from openagent.sinks.whatap.sink import WhatapOptions

    return WhatapOptions(
        license=settings.license.get_secret_value() if settings.license else "",
        hosts=settings.whatap_hosts,
        port=settings.port,
        identity_env=identity_env(settings),
        cypher_level=settings.cypher_level,
        connect_timeout=settings.whatap_connect_timeout,
        timeout=settings.whatap_timeout,
        confirm_timeout=settings.whatap_confirm_timeout,
        shard=static_shard(settings),
        per_pod=settings.shard_selector is not None,
        settings_view=lambda: settings_view(settings),
    )


def remote_write_options(settings: Settings) -> RemoteWriteOptions:
    """The remote-write sink's receiver, auth, TLS and batching."""
    from openagent.sinks.remote_write import RemoteWriteOptions, RemoteWriteTLS

    s = settings
    if not s.remote_write_url:
        raise ValueError(
            "the remote_write sink needs a receiver URL: set OPENAGENT_REMOTE_WRITE_URL "
            "or --remote-write-url"
        )
    tls = None
    if any((s.remote_write_ca_file, s.remote_write_cert_file, s.remote_write_key_file)) or (
        s.remote_write_insecure_skip_verify or s.remote_write_server_name
    ):
        tls = RemoteWriteTLS(
            ca_file=s.remote_write_ca_file,
            cert_file=s.remote_write_cert_file,
            key_file=s.remote_write_key_file,
            insecure_skip_verify=s.remote_write_insecure_skip_verify,
            server_name=s.remote_write_server_name,
        )
    return RemoteWriteOptions(
        s.remote_write_url,
        timeout=s.remote_write_timeout,
        max_samples=s.remote_write_max_samples,
        max_bytes=s.remote_write_max_bytes,
        max_batch_delay=s.remote_write_batch_delay,
        username=s.remote_write_username,
        password_file=s.remote_write_password_file,
        bearer_token_file=s.remote_write_bearer_token_file,
        tls=tls,
    )


def build_sinks(settings: Settings, auth: HTTPAuth | None = None) -> list[Sink]:
    """The sinks named in the settings, in order; ``auth`` serves remote write.

    Each sink's module is imported only when it is named: the Whatap sink
    brings cryptography and zlib-ng, remote write cramjam.
    """
    sinks: list[Sink] = []
    for name in settings.sinks:
        if name == "jsonl":
            from openagent.sinks.jsonl import JsonlSink

            sinks.append(JsonlSink(settings.jsonl_path))
        elif name == "remote_write":
            from openagent.sinks.remote_write import RemoteWriteSink

            sinks.append(RemoteWriteSink(remote_write_options(settings), auth=auth))
        elif name == "whatap":
            from openagent.sinks.whatap.sink import build_whatap_sink

            sinks.append(build_whatap_sink(whatap_options(settings)))
        else:
            raise ValueError(f"sink {name!r} is not available in this build")
    return sinks


def config_limits(settings: Settings) -> ConfigLimits:
    """The largest config the agent takes, and the floor of its scrape intervals."""
    return ConfigLimits(
        max_bytes=settings.config_max_bytes,
        max_endpoints=settings.config_max_endpoints,
        interval_floor=settings.min_scrape_interval,
    )


def config_source(
    settings: Settings, kube: Cluster, on_change: OnChange, on_error: OnError
) -> ConfigSource:
    """The ConfigMap when ``config_map`` is set, else the file."""
    limits = config_limits(settings)
    if settings.config_map:
        return ConfigMapSource(
            kube,
            agent_namespace(settings),
            settings.config_map,
            settings.config_map_key,
            on_change,
            on_error,
            limits=limits,
        )
    return FileSource(
        settings.config, on_change, on_error, interval=settings.reload_interval, limits=limits
    )
