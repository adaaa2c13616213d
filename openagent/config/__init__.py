"""The scrape configuration: schema of ``scrape_config.yaml``, checking, loading, watching.

The file is the one the Whatap Operator renders for the Go Open Agent
(``features.openAgent``), read with the same keys and checked strictly:

- every problem names the file, the YAML path and what was expected; paths
  under ``features.openAgent`` are relative to it (``targets[2].endpoints[0].interval``),
  others are written in full (``global.scrape_interval``);
- all errors are collected, not just the first; a wrong type is an error
  (the Go agent silently falls back to defaults);
- unknown keys and keys given twice are warnings; keys that are accepted but
  have no effect (``scrapingInterval``, ``maxConcurrency``,
  ``global.scrape_interval``) are warnings too;
- ``features.openAgent.enabled`` not true gives a valid configuration with no
  targets (they are not checked), and a warning;
- problems of a disabled target are warnings and drop that target; a
  disabled target without problems is kept with ``enabled=False``;
- a config over its `ConfigLimits` (bytes, endpoints) is an error, found
  before it is read or checked whole; ``minimumInterval`` below the interval
  floor is a warning, and the floor holds (`openagent.config.limits`).

Deliberate differences from the Go agent: integer ports and multipliers are
accepted; ``globalInterval``/``globalPath`` work; ``/metrics`` is the default
path for every target type; the default relabel regex is ``(.*)``;
target-level ``metricRelabelConfigs`` work; timeouts default to
min(10 s, interval) and may not exceed the interval.

The configuration comes from a `ConfigSource`: the file (`FileSource`) or a
ConfigMap read through the Kubernetes API
(`openagent.config.configmap_source.ConfigMapSource`); the shell picks one.
"""

from openagent.config.file_source import FileSource
from openagent.config.limits import ConfigLimits
from openagent.config.loader import LoadedConfig, load_config, parse_config, parse_config_bytes
from openagent.config.models import (
    AdaptiveTimeout,
    Authorization,
    BasicAuth,
    EndpointConfig,
    LabelSelector,
    LabelSelectorRequirement,
    NamespaceSelector,
    RelabelConfig,
    ScrapeConfig,
    SecretRef,
    TargetConfig,
    TargetType,
    TLSConfig,
)
from openagent.config.problems import ConfigError, Problem
from openagent.config.secret_refs import SecretUse, secret_references
from openagent.config.source import ConfigSource, ContentReporter
from openagent.config.units import format_duration, format_size, parse_duration, parse_size

__all__ = [
    "AdaptiveTimeout",
    "Authorization",
    "BasicAuth",
    "ConfigError",
    "ConfigLimits",
    "ConfigSource",
    "ContentReporter",
    "EndpointConfig",
    "FileSource",
    "LabelSelector",
    "LabelSelectorRequirement",
    "LoadedConfig",
    "NamespaceSelector",
    "Problem",
    "RelabelConfig",
    "ScrapeConfig",
    "SecretRef",
    "SecretUse",
    "TLSConfig",
    "TargetConfig",
    "TargetType",
    "format_duration",
    "format_size",
    "load_config",
    "parse_config",
    "parse_config_bytes",
    "parse_duration",
    "parse_size",
    "secret_references",
]
