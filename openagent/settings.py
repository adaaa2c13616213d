"""Process settings: environment variables and command-line flags (never YAML).

Whatap's own variables keep their names (``WHATAP_LICENSE``, ``WHATAP_HOST``,
``WHATAP_PORT``, ``WHATAP_ONAME``, ``WHATAP_OKIND``, ``WHATAP_ONODE``), as do
the Kubernetes downward-API ones (``POD_NAME``, ``NODE_NAME``, ``NODE_IP``,
``POD_NAMESPACE``) and ``KUBECONFIG``. Everything
else is ``OPENAGENT_<NAME>`` (``OPENAGENT_LISTEN``, ``OPENAGENT_SINKS`` ...).
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

import ipaddress
import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from openagent.config.problems import describe
from openagent.config.units import parse_duration, parse_size

KNOWN_SINKS = ("whatap", "remote_write", "jsonl")
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
MiB = 1024**2
GiB = 1024**3
#: The ConfigMap the Whatap Operator renders, and the key that holds the config.
DEFAULT_CONFIG_MAP = "whatap-open-agent-config"
DEFAULT_CONFIG_MAP_KEY = "scrape_config.yaml"
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_CONFIG_MAP_KEY = re.compile(r"[-._a-zA-Z0-9]+")


class SettingsError(ValueError):
    """Settings that cannot be used; ``problems`` has one line per bad setting."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid settings:\n  " + "\n  ".join(problems))


def parse_listen(value: str) -> tuple[str | None, int]:
    """Split a listen address into host and port.

    ``:9401``, ``*:9401`` and a bare ``9401`` mean all interfaces (host None);
    ``0.0.0.0:9401`` all IPv4 ones; ``[::]:9401``, ``[::1]:9401``,
    ``127.0.0.1:9401`` and ``localhost:9401`` what they say. Port 0 asks the
    system for a free port.
    """
    expected = "expected host:port such as ':9401', '127.0.0.1:9401' or '[::1]:9401'"
    text = value.strip()
    if text.isdigit():
        host, port = "", text
    elif text.startswith("["):
        host, sep, port = text[1:].partition("]:")
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{expected}, got {value!r}") from None
        if not sep:
            raise ValueError(f"{expected}, got {value!r}")
    else:
        host, sep, port = text.rpartition(":")
        if not sep:
            raise ValueError(f"{expected}, got {value!r}")
        if ":" in host:
            raise ValueError(f"an IPv6 host needs brackets, such as '[::1]:9401', got {value!r}")
    if not port.isdigit() or int(port) > 65535:
        raise ValueError(f"{expected} (port 0-65535), got {value!r}")
    return (None if host in ("", "*") else host), int(port)


def _default_config() -> Path:
    """``$WHATAP_OPEN_HOME/scrape_config.yaml`` (as the Go agent), else ``./scrape_config.yaml``."""
    home = os.environ.get("WHATAP_OPEN_HOME", "").strip()
    return Path(home) / "scrape_config.yaml" if home else Path("scrape_config.yaml")


def _sinks(value: object) -> object:
    if isinstance(value, str):
        text = value.strip()
        value = json.loads(text) if text.startswith("[") else text.split(",")
    if isinstance(value, list | tuple):
        out: list[object] = []
        for item in value:
            name = item.strip().lower() if isinstance(item, str) else item
            if isinstance(name, str) and name.replace("-", "_") in KNOWN_SINKS:
                name = name.replace("-", "_")  # remote-write is remote_write
            if name and name not in out:
                out.append(name)
        return out
    return value


def _first_path(value: object) -> object:
    """KUBECONFIG may list several files; the first one is used."""
    if isinstance(value, str) and os.pathsep in value:
        return next((p for p in value.split(os.pathsep) if p), None)
    return value


def _size(value: object) -> object:
    return parse_size(value) if isinstance(value, str | int) else value


def _duration(value: object) -> object:
    return parse_duration(value) if isinstance(value, str) else value


Size = Annotated[int, BeforeValidator(_size), Field(ge=0)]
Limit = Annotated[int, Field(ge=0)]


class Settings(BaseSettings):
    """Everything the process needs besides ``scrape_config.yaml``.

    ``config`` is the file the scrape configuration comes from unless
    ``config_map`` is set (see the module docs for when that is the default).
    """

    model_config = SettingsConfigDict(
        env_prefix="OPENAGENT_",
        frozen=True,
        extra="forbid",
        case_sensitive=False,
        env_ignore_empty=True,
    )

    license: SecretStr | None = Field(default=None, validation_alias="WHATAP_LICENSE")
    host: str | None = Field(default=None, validation_alias="WHATAP_HOST")
    port: Annotated[int, Field(ge=1, le=65535)] = Field(
        default=6600, validation_alias="WHATAP_PORT"
    )
    oname: str | None = Field(default=None, validation_alias="WHATAP_ONAME")
    okind: str | None = Field(default=None, validation_alias="WHATAP_OKIND")
    onode: str | None = Field(default=None, validation_alias="WHATAP_ONODE")
    cypher_level: int = 128
    whatap_connect_timeout: Annotated[float, BeforeValidator(_duration), Field(gt=0)] = 5.0
    whatap_timeout: Annotated[float, BeforeValidator(_duration), Field(gt=0)] = 120.0

    config: Path = Field(default_factory=_default_config)
    config_map: str | None = None
    config_map_key: str = DEFAULT_CONFIG_MAP_KEY
    listen: str = ":9401"
    sinks: Annotated[list[str], NoDecode, BeforeValidator(_sinks)] = ["jsonl"]
    jsonl_path: str = "-"
    remote_write_url: str | None = None
    remote_write_timeout: Annotated[float, BeforeValidator(_duration), Field(gt=0)] = 30.0
    remote_write_max_samples: Annotated[int, Field(ge=1)] = 10_000
    remote_write_max_bytes: Annotated[int, BeforeValidator(_size), Field(ge=1)] = 4 * MiB
    remote_write_batch_delay: Annotated[float, BeforeValidator(_duration), Field(ge=0)] = 1.0
    remote_write_username: str | None = None
    remote_write_password_file: str | None = None
    remote_write_bearer_token_file: str | None = None
    remote_write_ca_file: str | None = None
    remote_write_cert_file: str | None = None
    remote_write_key_file: str | None = None
    remote_write_insecure_skip_verify: bool = False
    remote_write_server_name: str | None = None
    log_level: str = "info"
    log_format: Literal["auto", "json", "console"] = "auto"

    sample_limit: Limit = 200_000
    body_size_limit: Size = 64 * MiB
    label_limit: Limit = 0
    label_name_length_limit: Limit = 0
    label_value_length_limit: Limit = 0
    reload_interval: Annotated[float, BeforeValidator(_duration), Field(gt=0)] = 1.0
    drain_grace: Annotated[float, BeforeValidator(_duration), Field(ge=0)] = 10.0

    spool_dir: Path | None = None
    spool_max_bytes: Annotated[int, BeforeValidator(_size), Field(gt=0)] = GiB
    spool_fsync: Literal["always", "interval", "never"] = "interval"
    spool_fsync_interval: Annotated[float, BeforeValidator(_duration), Field(gt=0)] = 1.0
    memory_queue_bytes: Size = 64 * MiB
    retry_max_backoff: Annotated[float, BeforeValidator(_duration), Field(gt=0)] = 30.0

    kubeconfig: Annotated[Path | None, BeforeValidator(_first_path)] = Field(
        default=None, validation_alias=AliasChoices("OPENAGENT_KUBECONFIG", "KUBECONFIG")
    )
    shard_index: Limit = 0
    shard_count: Annotated[int, Field(ge=1)] = 1
    pod_name: str | None = Field(default=None, validation_alias="POD_NAME")
    node_name: str | None = Field(default=None, validation_alias="NODE_NAME")
    node_ip: str | None = Field(default=None, validation_alias="NODE_IP")
    pod_namespace: str | None = Field(default=None, validation_alias="POD_NAMESPACE")
    #: Discover only the pods and endpoints on this node (NODE_NAME): DaemonSet mode.
    node_local: bool = False

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


def _env_names(field: str) -> list[str]:
    """The variables a field is read from, in order of precedence."""
    alias: Any = Settings.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices):
        return [str(c) for c in alias.choices]
    if isinstance(alias, str):
        return [alias]
    return [f"OPENAGENT_{field.upper()}"]


_BOUNDS = {
    "greater_than_equal": ("ge", "must be at least {}"),
    "greater_than": ("gt", "must be greater than {}"),
    "less_than_equal": ("le", "must be at most {}"),
}


def _describe_error(err: Any) -> str:
    loc = [str(p) for p in err["loc"]]
    if err["type"] == "extra_forbidden":
        return f"unknown setting {loc[0]!r}"
    field = next((f for f in Settings.model_fields if loc and loc[0] in (f, *_env_names(f))), None)
    ctx = err.get("ctx") or {}
    kind = err["type"]
    if kind == "value_error" and "error" in ctx:
        message = str(ctx["error"])
    elif kind in _BOUNDS:
        key, text = _BOUNDS[kind]
        message = text.format(ctx.get(key))
    elif kind in ("int_parsing", "int_type", "int_from_float"):
        message = "expected an integer"
    elif kind in ("float_parsing", "float_type"):
        message = "expected a number"
    else:
        message = str(err["msg"])
    if field != "license" and kind != "value_error":
        message += f", got {describe(err.get('input'))}"
    if field is None:
        return message
    flag = "--" + field.replace("_", "-")
    return f"{field} ({' or '.join(_env_names(field))}, {flag}): {message}"


def _init_key(name: str) -> str:
    """Keyword for a field: its own variable name if it has one (license → WHATAP_LICENSE)."""
    info = Settings.model_fields.get(name)
    if info is None or info.validation_alias is None:
        return name
    return _env_names(name)[0]


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the environment; non-None ``overrides`` (flag values) win.

    Raises SettingsError naming every bad setting, its variable and its flag.
    """
    given = {_init_key(k): v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        raise SettingsError([_describe_error(e) for e in exc.errors(include_url=False)]) from None
