"""The `Settings` model: every process setting, its type, default and help, in one place."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    BeforeValidator,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from openagent.settings.values import (
    KNOWN_SINKS,
    LOG_LEVELS,
    Bytes,
    GiB,
    Limit,
    MiB,
    PositiveBytes,
    PositiveSeconds,
    Seconds,
    default_config,
    first_path,
    name_list,
    parse_listen,
    sink_list,
)

#: The ConfigMap the Whatap Operator renders, and the key that holds the config.
DEFAULT_CONFIG_MAP = "whatap-open-agent-config"
DEFAULT_CONFIG_MAP_KEY = "scrape_config.yaml"
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_CONFIG_MAP_KEY = re.compile(r"[-._a-zA-Z0-9]+")


def _env(name: str, description: str, default: Any = None) -> Any:
    """A setting read from its own variable (``WHATAP_*``, downward API), never prefixed."""
    return Field(default=default, validation_alias=name, description=description)


class Settings(BaseSettings):
    """Everything the process needs besides ``scrape_config.yaml`` (see `openagent.settings`)."""

    model_config = SettingsConfigDict(
        env_prefix="OPENAGENT_",
        frozen=True,
        extra="forbid",
        case_sensitive=False,
        env_ignore_empty=True,
    )

    # -- the Whatap collector, named as for the Go agent -----------------------------
    license: SecretStr | None = _env("WHATAP_LICENSE", "Whatap license (never logged)")
    host: str | None = _env("WHATAP_HOST", "Whatap collector host(s); several separated by / or ,")
    port: Annotated[int, Field(ge=1, le=65535)] = _env("WHATAP_PORT", "Whatap collector port", 6600)
    oname: str | None = _env(
        "WHATAP_ONAME", "Whatap agent name, ONAME (unset: the workload name from POD_NAME)"
    )
    okind: str | None = _env(
        "WHATAP_OKIND", "Whatap agent kind, OKIND (unset: POD_NAME without its last -part)"
    )
    onode: str | None = _env(
        "WHATAP_ONODE", "Whatap node name, ONODE (unset: NODE_NAME, else NODE_IP)"
    )
    cypher_level: int = Field(
        128, description="Whatap data frames: 128 (AES session keys, XOR-hidden packs) or 0 (plain)"
    )
    whatap_connect_timeout: PositiveSeconds = Field(
        5.0, description="how long a TCP connect to the Whatap collector may take"
    )
    whatap_timeout: PositiveSeconds = Field(
        120.0, description="Whatap handshake deadline, and silence after which the link is dropped"
    )
    whatap_confirm_timeout: PositiveSeconds = Field(
        10.0,
        description="how long the Whatap collector may take to answer the TIME_SYNC that "
        "confirms a group of packs before the connection is reset and the group resent",
    )

    # -- where the scrape config comes from, and the agent's own server -------------
    config: Path = Field(
        default_factory=default_config,
        description="scrape_config.yaml to load and watch (not read when config_map is set)",
    )
    config_map: str | None = Field(
        None,
        description="read the config from this ConfigMap through the Kubernetes API and watch "
        f"it (default when started like the Go agent in a cluster: {DEFAULT_CONFIG_MAP})",
    )
    config_map_key: str = Field(
        DEFAULT_CONFIG_MAP_KEY, description="key of that ConfigMap holding the config"
    )
    reload_interval: PositiveSeconds = Field(
        1.0, description="how often the config file is checked for changes (SIGHUP: at once)"
    )
    config_max_bytes: PositiveBytes = Field(
        4 * MiB,
        description="largest config accepted, at start and on reload (the operator's "
        "ConfigMap cannot exceed 1MiB); a bigger one is refused unread",
    )
    config_max_endpoints: Annotated[int, Field(ge=1)] = Field(
        10_000,
        description="most endpoints, summed over the config's targets, accepted at start "
        "and on reload",
    )
    min_scrape_interval: Annotated[Seconds, Field(ge=0)] = Field(
        1.0,
        description="no endpoint is scraped more often, whatever minimumInterval says "
        "(which warns below it; 0: no floor)",
    )
    listen: str = Field(
        ":9401",
        description="address of the agent's HTTP server (/metrics, /healthz, /readyz, /targets)",
    )
    log_level: str = Field("info", description="debug, info, warning or error")
    log_format: Literal["auto", "json", "console"] = Field(
        "auto", description="auto (console on a terminal, else JSON), json or console"
    )

    # -- sinks ---------------------------------------------------------------------
    sinks: Annotated[list[str], NoDecode, BeforeValidator(sink_list)] = Field(
        ["jsonl"],
        description=f"where samples go, one or more of {', '.join(KNOWN_SINKS)}",
    )
    jsonl_path: str = Field("-", description="file the jsonl sink appends to; - for stdout")
    remote_write_url: str | None = Field(
        None, description="Prometheus remote-write endpoint for the remote_write sink"
    )
    remote_write_timeout: PositiveSeconds = Field(
        30.0, description="timeout of one remote-write request"
    )
    remote_write_max_samples: Annotated[int, Field(ge=1)] = Field(
        10_000, description="samples per remote-write request"
    )
    remote_write_max_bytes: PositiveBytes = Field(
        4 * MiB, description="uncompressed bytes per remote-write request"
    )
    remote_write_batch_delay: Annotated[Seconds, Field(ge=0)] = Field(
        1.0, description="longest time a partial remote-write request waits (0: none)"
    )
    remote_write_username: str | None = Field(
        None, description="basic auth user name for the remote-write receiver"
    )
    remote_write_password_file: str | None = Field(
        None, description="file with the basic auth password (re-read on change)"
    )
    remote_write_bearer_token_file: str | None = Field(
        None, description="file with a bearer token for the receiver (re-read on change)"
    )
    remote_write_ca_file: str | None = Field(
        None, description="CA certificates (PEM) that verify the receiver"
    )
    remote_write_cert_file: str | None = Field(
        None, description="client certificate (PEM) presented to the receiver"
    )
    remote_write_key_file: str | None = Field(
        None, description="client key (PEM) of that certificate"
    )
    remote_write_insecure_skip_verify: bool = Field(
        False, description="do not verify the receiver's certificate"
    )
    remote_write_server_name: str | None = Field(
        None, description="name to verify in the receiver's certificate"
    )

    # -- scrape limits -------------------------------------------------------------
    sample_limit: Limit = Field(
        200_000, description="samples per scrape above which the scrape fails (0: no limit)"
    )
    body_size_limit: Bytes = Field(
        64 * MiB, description="largest scrape body; larger bodies fail the scrape"
    )
    label_limit: Limit = Field(
        0, description="labels per series above which the scrape fails (0: no limit)"
    )
    label_name_length_limit: Limit = Field(
        0, description="longest label name in bytes (0: no limit)"
    )
    label_value_length_limit: Limit = Field(
        0, description="longest label value in bytes (0: no limit)"
    )

    timestamp_max_age: Annotated[Seconds, Field(ge=0)] = Field(
        50 * 60.0,
        description="drop a scraped sample whose own timestamp is older than this: Prometheus "
        "takes none older than 1h behind its newest, and a batch holding one is refused whole "
        "(0: no bound)",
    )
    timestamp_max_ahead: Annotated[Seconds, Field(ge=0)] = Field(
        10 * 60.0,
        description="drop a scraped sample whose own timestamp is further ahead of the agent's "
        "clock than this (0: no bound)",
    )
    enable_protobuf: bool = Field(
        False,
        description="ask targets for the protobuf exposition first, which alone carries native "
        "histograms (the Go agent's openagent_enable_protobuf)",
    )
    scrape_grid: Annotated[Seconds, Field(ge=0)] = Field(
        0.25,
        description="scrapes due within one tick of this grid start together, in one wake-up "
        "(0: each when due)",
    )

    # -- GPU workload attribution ------------------------------------------------------
    gpu_attribution: bool = Field(
        False,
        description="add workload_kind, workload and the allowlisted pod and node labels to "
        "samples naming a pod (namespace + pod), read from the Kubernetes API",
    )
    attribution_pod_labels: Annotated[list[str], NoDecode, BeforeValidator(name_list)] = Field(
        default_factory=list,
        description="pod labels copied as label_<name> with gpu_attribution (comma list)",
    )
    attribution_node_labels: Annotated[list[str], NoDecode, BeforeValidator(name_list)] = Field(
        default_factory=list,
        description="labels of the exporter's node copied as node_label_<name> with "
        "gpu_attribution (comma list)",
    )

    # -- delivery ------------------------------------------------------------------
    drain_grace: Annotated[Seconds, Field(ge=0)] = Field(
        10.0, description="on SIGTERM, how long to keep delivering queued data before exiting"
    )
    spool_dir: Path | None = Field(
        None, description="directory of the on-disk spool; unset, batches wait in memory only"
    )
    spool_max_bytes: PositiveBytes = Field(
        GiB, description="largest size of the spool per sink; oldest data goes first"
    )
    spool_fsync: Literal["always", "interval", "never"] = Field(
        "interval", description="when spooled data reaches the disk: always, interval or never"
    )
    spool_fsync_interval: PositiveSeconds = Field(
        1.0, description="with spool_fsync=interval, how often to fsync"
    )
    memory_queue_bytes: Bytes = Field(
        64 * MiB,
        description="memory per sink for queued batches: with spool_dir a cache of the newest "
        "(every batch is on disk too), without one the queue itself (oldest dropped when full)",
    )
    retry_max_backoff: PositiveSeconds = Field(
        30.0, description="longest wait between retries of a batch"
    )
    retry_after_max: PositiveSeconds = Field(
        30.0,
        description="longest Retry-After a receiver's answer (429, 503) is honoured for; "
        "the batch is still re-sent as a probe every retry_max_backoff",
    )

    # -- Kubernetes and sharding ---------------------------------------------------
    kubeconfig: Annotated[Path | None, BeforeValidator(first_path)] = Field(
        default=None,
        validation_alias=AliasChoices("OPENAGENT_KUBECONFIG", "KUBECONFIG"),
        description="kubeconfig for Kubernetes discovery outside a cluster "
        "(unset: the service account in a pod, else $KUBECONFIG or ~/.kube/config)",
    )
    node_local: bool = Field(
        False, description="discover only pods and endpoints on this node (NODE_NAME), per node"
    )
    workers: Annotated[int, Field(ge=1, le=64)] = Field(
        1,
        description="processes that scrape and deliver, each a hash share of the targets "
        "(1: this process alone; more use more cores)",
    )
    shard_index: Limit | None = Field(
        None,
        description="this agent's shard, 0-based (targets split by hash; unset with "
        "shard_count > 1: the StatefulSet ordinal at the end of POD_NAME)",
    )
    shard_count: Annotated[int, Field(ge=1)] = Field(
        1, description="number of shards the targets are split into"
    )
    shard_selector: str | None = Field(
        None,
        description="label selector of this agent's own pods: the Ready ones in POD_NAMESPACE "
        "share the targets, and take over those of a replica that goes away",
    )
    pod_name: str | None = _env("POD_NAME", "this pod's name (downward API)")
    node_name: str | None = _env("NODE_NAME", "this pod's node (downward API)")
    node_ip: str | None = _env("NODE_IP", "this pod's node address (downward API)")
    pod_namespace: str | None = _env("POD_NAMESPACE", "this pod's namespace (downward API)")

    @model_validator(mode="before")
    @classmethod
    def _default_sinks(cls, data: Any) -> Any:
        """No sink named: ``whatap`` when a license is given (as the Go agent), else ``jsonl``."""
        if isinstance(data, dict) and not any(data.get(k) for k in ("sinks", "SINKS")):
            license_given = any(data.get(k) for k in ("WHATAP_LICENSE", "license"))
            data = {**data, "sinks": ["whatap"] if license_given else ["jsonl"]}
        return data

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        parse_listen(value)
        return value.strip()

    @field_validator("config_map")
    @classmethod
    def _config_map(cls, value: str | None) -> str | None:
        if value is None:
            return None
        name = value.strip()
        if len(name) > 253 or not _DNS_SUBDOMAIN.fullmatch(name):
            raise ValueError(
                "expected a ConfigMap name (lowercase letters, digits, '-' and '.', "
                f"at most 253 characters), got {value!r}"
            )
        return name

    @field_validator("config_map_key")
    @classmethod
    def _config_map_key(cls, value: str) -> str:
        key = value.strip()
        if len(key) > 253 or not _CONFIG_MAP_KEY.fullmatch(key) or key in (".", ".."):
            raise ValueError(
                f"expected a ConfigMap key (letters, digits, '-', '_' and '.'), got {value!r}"
            )
        return key

    @field_validator("cypher_level")
    @classmethod
    def _cypher_level(cls, value: int) -> int:
        if value not in (0, 128):
            raise ValueError(f"expected 128 (AES, the default) or 0 (no encryption), got {value}")
        return value

    @field_validator("remote_write_url")
    @classmethod
    def _remote_write_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
        return value

    @field_validator("sinks")
    @classmethod
    def _known_sinks(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError(f"name at least one sink ({', '.join(KNOWN_SINKS)})")
        unknown = [s for s in value if s not in KNOWN_SINKS]
        if unknown:
            raise ValueError(
                f"unknown sink {', '.join(map(repr, unknown))}; known: {', '.join(KNOWN_SINKS)}"
            )
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _log_level(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        level = value.strip().lower()
        level = "warning" if level == "warn" else level
        if level not in LOG_LEVELS:
            raise ValueError(f"expected one of {', '.join(LOG_LEVELS)}, got {value!r}")
        return level

    @field_validator("shard_count")
    @classmethod
    def _shard(cls, count: int, info: ValidationInfo) -> int:
        index = info.data.get("shard_index")
        if isinstance(index, int) and index >= count:
            raise ValueError(f"shard_index {index} must be below shard_count {count}")
        return count

    @property
    def listen_host(self) -> str | None:
        """Host to bind; None means all interfaces."""
        return parse_listen(self.listen)[0]

    @property
    def listen_port(self) -> int:
        """Port to bind (0: any free port)."""
        return parse_listen(self.listen)[1]

    @property
    def whatap_hosts(self) -> tuple[str, ...]:
        """Collector hosts; ``WHATAP_HOST`` may list several, separated by ``/`` or ``,``."""
        if not self.host:
            return ()
        parts = self.host.replace(",", "/").split("/")
        return tuple(p.strip() for p in parts if p.strip())
