"""The typed, immutable model of ``scrape_config.yaml``.

YAML keys are camelCase as the Whatap Operator renders them (``targetName``,
``tlsConfig``); attributes are snake_case. Relabel rules accept both
``source_labels`` and ``sourceLabels`` (and ``target_label``/``targetLabel``).
Models can also be built in code with snake_case keyword arguments.

Values come out resolved when the file is loaded through
``openagent.config.parse_config``: an endpoint's ``path``, ``scheme``,
``interval`` and ``timeout`` are never left unset (see ``EndpointConfig``).
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from openagent.config.fields import (
    Address,
    Count,
    Duration,
    Name,
    Port,
    PositiveDuration,
    Size,
    UrlPath,
    empty_is_none,
    lower,
    one_or_many,
)

TargetType = Literal["PodMonitor", "ServiceMonitor", "StaticEndpoints"]
OptionalName = Annotated[Name | None, BeforeValidator(empty_is_none)]


def _freeze(value: object) -> object:
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value


class ConfigModel(BaseModel):
    """Base of every configuration model: frozen, camelCase YAML keys, hashable."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
    )

    #: YAML keys whose value is a Secret reference when it is a mapping:
    #: ``{"username": "usernameSecret"}`` reads ``username: {name, key}`` as
    #: ``usernameSecret``.
    secret_forms: ClassVar[dict[str, str]] = {}

    def __hash__(self) -> int:
        return hash((type(self), _freeze(dict(self))))


class SecretRef(ConfigModel):
    """A key of a Kubernetes Secret. ``namespace`` None means the agent's own namespace."""

    name: Name
    key: Name
    namespace: OptionalName = None


class TLSConfig(ConfigModel):
    """TLS settings for scraping over https.

    The operator turns ``*Secret`` references into ``*File`` paths before
    rendering; both forms are accepted. Checked here as the Go agent checks
    at request time: at most one of file and secret for each of CA, cert and
    key; a client certificate needs a key and the other way round.
    """

    ca_file: OptionalName = None
    cert_file: OptionalName = None
    key_file: OptionalName = None
    ca_secret: SecretRef | None = None
    cert_secret: SecretRef | None = None
    key_secret: SecretRef | None = None
    insecure_skip_verify: StrictBool = False
    server_name: OptionalName = None

    @model_validator(mode="after")
    def _consistent(self) -> TLSConfig:
        for what in ("ca", "cert", "key"):
            if getattr(self, f"{what}_file") and getattr(self, f"{what}_secret"):
                raise ValueError(f"give {what}File or {what}Secret, not both")
        has_cert = bool(self.cert_file or self.cert_secret)
        has_key = bool(self.key_file or self.key_secret)
        if has_cert != has_key:
            raise ValueError("a client certificate needs both a certificate and a key")
        return self


class BasicAuth(ConfigModel):
    """HTTP basic authentication.

    In YAML, ``username`` and ``password`` are each either a plain string or a
    Secret reference ``{name, key, namespace}`` (the operator renders the
    latter); a reference lands in ``username_secret``/``password_secret``.
    """

    secret_forms: ClassVar[dict[str, str]] = {
        "username": "usernameSecret",
        "password": "passwordSecret",
    }

    username: StrictStr | None = None
    username_secret: SecretRef | None = None
    password: SecretStr | None = None
    password_secret: SecretRef | None = None
    password_file: OptionalName = None

    @model_validator(mode="after")
    def _one_source_each(self) -> BasicAuth:
        if self.username is not None and self.username_secret is not None:
            raise ValueError("give username as a string or as a Secret reference, not both")
        given = [
            k
            for k, v in (
                ("password", self.password),
                ("passwordSecret", self.password_secret),
                ("passwordFile", self.password_file),
            )
            if v is not None
        ]
        if len(given) > 1:
            raise ValueError(f"give only one of {', '.join(given)}")
        return self


class Authorization(ConfigModel):
    """The ``Authorization`` header: ``<type> <credentials>``.

    Exactly one source of credentials: inline, a file, an environment
    variable or a Secret reference (``credentials`` given as a mapping is
    read as ``credentialsSecret``).
    """

    secret_forms: ClassVar[dict[str, str]] = {"credentials": "credentialsSecret"}

    type: Name = "Bearer"
    credentials: SecretStr | None = None
    credentials_file: OptionalName = None
    credentials_env: OptionalName = None
    credentials_secret: SecretRef | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Authorization:
        given = [
            k
            for k, v in (
                ("credentials", self.credentials),
                ("credentialsFile", self.credentials_file),
                ("credentialsEnv", self.credentials_env),
                ("credentialsSecret", self.credentials_secret),
            )
            if v is not None
        ]
        if not given:
            raise ValueError(
                "needs one of credentials, credentialsFile, credentialsEnv or credentialsSecret"
            )
        if len(given) > 1:
            raise ValueError(f"give only one of {', '.join(given)}")
        return self


class AdaptiveTimeout(ConfigModel):
    """Grow the timeout after repeated timeouts (``multiplier`` may be an integer)."""

    enabled: StrictBool = True
    failure_threshold: Annotated[StrictInt, Field(ge=1)] = 2
    multiplier: Annotated[StrictFloat, Field(ge=1.0)] = 2.0


class RelabelConfig(ConfigModel):
    """One relabel rule, Prometheus semantics.

    The default regex is Prometheus's ``(.*)``, not the Go agent's ``(.+)``.
    ``action`` is stored lower-case. Semantic checks (known action, valid
    regex, required fields per action) belong to ``openagent.relabel``.
    """

    source_labels: tuple[StrictStr, ...] = Field(
        default=(), validation_alias=AliasChoices("source_labels", "sourceLabels")
    )
    separator: StrictStr = ";"
    target_label: StrictStr | None = Field(
        default=None, validation_alias=AliasChoices("target_label", "targetLabel")
    )
    regex: StrictStr = "(.*)"
    modulus: StrictInt | None = None
    replacement: StrictStr = "$1"
    action: Annotated[StrictStr, BeforeValidator(lower)] = "replace"


class LabelSelectorRequirement(ConfigModel):
    """``{key, operator, values}``: In/NotIn need values, Exists/DoesNotExist take none."""

    key: Name
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: tuple[StrictStr, ...] = Field(default=(), validate_default=True)

    @field_validator("values")
    @classmethod
    def _values_fit_operator(cls, values: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        op = info.data.get("operator")
        if op in ("In", "NotIn") and not values:
            raise ValueError(f"operator {op} needs at least one value")
        if op in ("Exists", "DoesNotExist") and values:
            raise ValueError(f"operator {op} takes no values")
        return values


class LabelSelector(ConfigModel):
    """Kubernetes label selector: all of ``match_labels`` and all expressions."""

    match_labels: dict[StrictStr, StrictStr] = Field(default_factory=dict)
    match_expressions: tuple[LabelSelectorRequirement, ...] = ()

    @property
    def empty(self) -> bool:
        """True when the selector has no condition (it would match everything)."""
        return not self.match_labels and not self.match_expressions


class NamespaceSelector(ConfigModel):
    """Which namespaces to search: all (``any``), by name, or by namespace labels.

    A target without one searches the namespace ``default``, as the Go agent does.
    """

    any: StrictBool = False
    match_names: tuple[Name, ...] = ()
    match_labels: dict[StrictStr, StrictStr] = Field(default_factory=dict)
    match_expressions: tuple[LabelSelectorRequirement, ...] = ()


Params = dict[StrictStr, Annotated[tuple[StrictStr, ...], BeforeValidator(one_or_many)]]


class EndpointConfig(ConfigModel):
    """One endpoint of a target: where and how to scrape.

    Resolved on load (see ``openagent.config.parse_config``):

    - ``path``: explicit, else ``globalPath``, else ``/metrics`` for every target
      type (the Go agent scrapes ``/`` for Pod/Service endpoints without a path;
      that is not copied).
    - ``scheme``: explicit; else ``https`` when ``port`` is literally ``https``
      (Pod/Service only); else ``https`` when ``tlsConfig`` sets any key; else ``http``.
    - ``interval``: explicit, else ``globalInterval``, else 60 s; raised to
      ``minimumInterval``.
    - ``timeout``: explicit (at most the interval), else min(10 s, interval).

    Limits of 0 mean the process-wide default from the settings.
    ``relabel_configs`` here run at discovery after the target's own.
    """

    address: Address | None = None
    port: Port | None = None
    target_port: Port | None = None
    path: UrlPath = "/metrics"
    scheme: Annotated[Literal["http", "https"], BeforeValidator(lower)] = "http"
    interval: PositiveDuration = 60.0
    timeout: PositiveDuration = 10.0
    params: Params = Field(default_factory=dict)
    tls_config: TLSConfig | None = None
    basic_auth: BasicAuth | None = None
    authorization: Authorization | None = None
    bearer_token_file: OptionalName = None
    adaptive_timeout: AdaptiveTimeout = Field(default_factory=AdaptiveTimeout)
    add_node_label: StrictBool = False
    honor_labels: StrictBool = False
    honor_timestamps: StrictBool = True
    sample_limit: Count = 0
    body_size_limit: Size = 0
    label_limit: Count = 0
    label_name_length_limit: Count = 0
    label_value_length_limit: Count = 0
    metric_relabel_configs: tuple[RelabelConfig, ...] = Field(
        default=(),
        validation_alias=AliasChoices("metricRelabelConfigs", "metricRelabelings"),
    )
    relabel_configs: tuple[RelabelConfig, ...] = Field(
        default=(), validation_alias=AliasChoices("relabelConfigs", "relabelings")
    )


class TargetConfig(ConfigModel):
    """One entry of ``targets``: a PodMonitor, ServiceMonitor or StaticEndpoints.

    ``relabel_configs`` relabel target labels at discovery (for every type,
    StaticEndpoints included). ``metric_relabel_configs`` at target level
    apply to every endpoint's samples before the endpoint's own rules (the
    Go agent ignores them).
    """

    target_name: Name
    type: TargetType
    enabled: StrictBool = True
    namespace_selector: NamespaceSelector | None = None
    selector: LabelSelector | None = None
    relabel_configs: tuple[RelabelConfig, ...] = ()
    metric_relabel_configs: tuple[RelabelConfig, ...] = ()
    endpoints: tuple[EndpointConfig, ...] = ()


class ScrapeConfig(ConfigModel):
    """``features.openAgent``: the whole scrape configuration.

    ``globalInterval`` and ``globalPath`` are the defaults of every endpoint's
    ``interval`` and ``path`` (the Go agent reads neither). ``scrapingInterval``,
    ``maxConcurrency`` and the root ``global.scrape_interval`` are accepted
    and checked, but they have no effect, here as in the Go agent; loading
    warns about them.
    """

    enabled: StrictBool = False
    minimum_interval: Duration = 1.0
    global_interval: PositiveDuration | None = None
    global_path: UrlPath | None = None
    targets: tuple[TargetConfig, ...] = ()

    def enabled_targets(self) -> tuple[TargetConfig, ...]:
        """The targets to discover and scrape."""
        return tuple(t for t in self.targets if t.enabled)


class InertKeys(ConfigModel):
    """Keys under ``features.openAgent`` that are checked but do nothing."""

    scraping_interval: PositiveDuration | None = None
    max_concurrency: Count | None = None


class InertGlobal(ConfigModel):
    """The root ``global`` block; checked but without effect."""

    scrape_interval: PositiveDuration | None = Field(default=None, alias="scrape_interval")


def model_keys(model: type[BaseModel]) -> dict[str, str]:
    """YAML key → field name for a model (every accepted spelling)."""
    keys: dict[str, str] = {}
    for name, info in model.model_fields.items():
        alias: Any = info.validation_alias
        if isinstance(alias, AliasChoices):
            for choice in alias.choices:
                if isinstance(choice, str):
                    keys[choice] = name
        elif isinstance(alias, str):
            keys[alias] = name
        else:
            keys[info.alias or name] = name
    return keys
