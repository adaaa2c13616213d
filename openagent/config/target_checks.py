"""Checking ``targets``: per-type rules, endpoint defaults, relabel rules, unique names.

Each target is checked on its own so that one broken target does not hide
the problems of the others. Problems of a disabled target (``enabled:
false``) are reported as warnings and the target is dropped; a disabled
target without problems is kept with ``enabled=False``.
"""

from __future__ import annotations

from dataclasses import dataclass

from openagent.config.models import EndpointConfig, RelabelConfig, TargetConfig
from openagent.config.problems import SECTION, Collector, Problem, YamlPath, describe, format_path
from openagent.config.schema import Renames, normalize, validate
from openagent.config.units import format_duration
from openagent.relabel import validate_rule

KUBE_TYPES = ("PodMonitor", "ServiceMonitor")
TARGET_TYPES = (*KUBE_TYPES, "StaticEndpoints")
DEFAULT_INTERVAL = 60.0
DEFAULT_TIMEOUT = 10.0
DEFAULT_PATH = "/metrics"


@dataclass(frozen=True, slots=True)
class Defaults:
    """Section-wide values that endpoints inherit."""

    minimum_interval: float = 1.0
    global_interval: float | None = None
    global_path: str | None = None


def _check_rules(
    rules: tuple[RelabelConfig, ...], raw: object, path: YamlPath, sink: Collector
) -> None:
    """Check each rule with ``openagent.relabel``; report at the offending key.

    The check raises ``RelabelError`` (a ValueError whose ``field`` names the
    rule's attribute, such as ``regex``); any ValueError is reported the same way.
    """
    for i, rule in enumerate(rules):
        try:
            validate_rule(rule)
        except ValueError as exc:
            field = getattr(exc, "field", None)
            where: YamlPath = (*path, i)
            if isinstance(field, str) and field:
                written = raw[i] if isinstance(raw, list) and i < len(raw) else {}
                camel = "".join(w.capitalize() if n else w for n, w in enumerate(field.split("_")))
                key = camel if isinstance(written, dict) and camel in written else field
                where = (*where, key)
            sink.error(where, str(exc))


def _rule_lists(
    model: TargetConfig | EndpointConfig, data: dict[str, object], path: YamlPath, sink: Collector
) -> None:
    """Check the relabel lists of a target or an endpoint, under the key as written."""
    for spellings, rules in (
        (("relabelConfigs", "relabelings"), model.relabel_configs),
        (("metricRelabelConfigs", "metricRelabelings"), model.metric_relabel_configs),
    ):
        key = next((k for k in spellings if k in data), spellings[0])
        _check_rules(rules, data.get(key), (*path, key), sink)


def _require_port(kind: str, data: dict[str, object], path: YamlPath, sink: Collector) -> None:
    if "address" in data:
        sink.warn((*path, "address"), f"is ignored for a {kind} target; use port")
    if kind == "PodMonitor":
        if "targetPort" in data:
            sink.warn((*path, "targetPort"), "only applies to ServiceMonitor targets (ignored)")
        if "port" not in data:
            sink.error(
                (*path, "port"), "is required for a PodMonitor target (a port number or name)"
            )
        return
    if "port" in data and "targetPort" in data:
        sink.error((*path, "targetPort"), "give port or targetPort, not both")
    elif "port" not in data and "targetPort" not in data:
        sink.error(
            (*path, "port"),
            "is required for a ServiceMonitor target (a service port name or number, "
            "or targetPort)",
        )


def _presence(kind: str | None, data: dict[str, object], path: YamlPath, sink: Collector) -> None:
    """Which of address, port and targetPort each target type needs."""
    if kind in KUBE_TYPES:
        _require_port(kind, data, path, sink)
    elif kind == "StaticEndpoints":
        if "address" not in data:
            sink.error((*path, "address"), "is required for a StaticEndpoints target (host:port)")
        for key in ("port", "targetPort"):
            if key in data:
                sink.warn((*path, key), "is ignored for a StaticEndpoints target; use address")


def _resolve(
    ep: EndpointConfig, kind: str | None, defaults: Defaults, path: YamlPath, sink: Collector
) -> EndpointConfig:
    """Fill in path, scheme, interval and timeout (see EndpointConfig)."""
    given = ep.model_fields_set
    update: dict[str, object] = {}
    if "path" not in given:
        update["path"] = defaults.global_path or DEFAULT_PATH
    if "scheme" not in given:
        port_https = kind in KUBE_TYPES and (ep.port or "").lower() == "https"
        tls_set = ep.tls_config is not None and bool(ep.tls_config.model_fields_set)
        update["scheme"] = "https" if port_https or tls_set else "http"
    if "interval" in given:
        interval, origin = ep.interval, ""
    elif defaults.global_interval is not None:
        interval, origin = defaults.global_interval, " (from globalInterval)"
    else:
        interval, origin = DEFAULT_INTERVAL, " (the default)"
    if interval < defaults.minimum_interval:
        minimum = format_duration(defaults.minimum_interval)
        sink.warn(
            (*path, "interval"),
            f"{format_duration(interval)}{origin} is below minimumInterval {minimum}; "
            f"using {minimum}",
        )
        interval = defaults.minimum_interval
    update["interval"] = interval
    if "timeout" in given:
        if ep.timeout > interval:
            sink.error(
                (*path, "timeout"),
                f"timeout {format_duration(ep.timeout)} is longer than interval "
                f"{format_duration(interval)}{origin}",
            )
    else:
        update["timeout"] = min(DEFAULT_TIMEOUT, interval)
    return ep.model_copy(update=update)


def _auth_conflicts(ep: EndpointConfig, path: YamlPath, sink: Collector) -> None:
    schemes = [
        key
        for key, value in (
            ("basicAuth", ep.basic_auth),
            ("authorization", ep.authorization),
            ("bearerTokenFile", ep.bearer_token_file),
        )
        if value is not None
    ]
    if len(schemes) > 1:
        sink.error((*path, schemes[1]), f"give only one of {', '.join(schemes)}")


def _endpoints(
    raw: object,
    kind: str | None,
    defaults: Defaults,
    path: YamlPath,
    sink: Collector,
    renames: Renames,
) -> tuple[EndpointConfig, ...]:
    if raw is None or raw == []:
        sink.warn(path, "no endpoints: this target scrapes nothing")
        return ()
    if not isinstance(raw, list):
        sink.error(path, f"expected a list of endpoints, got {describe(raw)}")
        return ()
    out: list[EndpointConfig] = []
    for j, item in enumerate(raw):
        here = (*path, j)
        if not isinstance(item, dict):
            sink.error(here, f"expected a mapping, got {describe(item)}")
            continue
        data = normalize(item, EndpointConfig, here, sink, renames)
        assert isinstance(data, dict)
        _presence(kind, data, here, sink)
        ep = validate(EndpointConfig, data, here, sink, renames)
        if ep is None:
            continue
        _auth_conflicts(ep, here, sink)
        _rule_lists(ep, data, here, sink)
        out.append(_resolve(ep, kind, defaults, here, sink))
    return tuple(out)


def _target_rules(
    target: TargetConfig | None, kind: str | None, path: YamlPath, sink: Collector
) -> None:
    """Selector rules per target type."""
    if target is None or kind is None:
        return
    if kind in KUBE_TYPES:
        if target.selector is None or target.selector.empty:
            what = "pod" if kind == "PodMonitor" else "service"
            sink.error(
                (*path, "selector"),
                f"a {kind} target needs a selector with matchLabels or matchExpressions; "
                f"without one the Go agent finds nothing, and an empty one would select "
                f"every {what}",
            )
        if target.namespace_selector is None:
            sink.warn(path, "no namespaceSelector: only the namespace 'default' is searched")
        elif target.namespace_selector.any and target.namespace_selector.match_names:
            sink.warn((*path, "namespaceSelector", "matchNames"), "is ignored when any is true")
    else:
        for key, value in (
            ("selector", target.selector),
            ("namespaceSelector", target.namespace_selector),
        ):
            if value is not None:
                sink.warn((*path, key), "is ignored for a StaticEndpoints target")


def _one_target(
    raw: dict[object, object], defaults: Defaults, path: YamlPath, sink: Collector, renames: Renames
) -> TargetConfig | None:
    own = {k: v for k, v in raw.items() if k != "endpoints"}
    data = normalize(own, TargetConfig, path, sink, renames)
    assert isinstance(data, dict)
    target = validate(TargetConfig, data, path, sink, renames)
    kind = raw.get("type")
    kind = kind if isinstance(kind, str) and kind in TARGET_TYPES else None
    _target_rules(target, kind, path, sink)
    if target is not None:
        _rule_lists(target, data, path, sink)
    endpoints = _endpoints(
        raw.get("endpoints"), kind, defaults, (*path, "endpoints"), sink, renames
    )
    if target is None:
        return None
    return target.model_copy(update={"endpoints": endpoints})


def _demote(problems: list[Problem]) -> list[Problem]:
    return [
        Problem(p.file, p.path, f"{p.message} [target disabled, so not an error]", "warning")
        for p in problems
    ]


def check_targets(
    raw: object, defaults: Defaults, sink: Collector, renames: Renames
) -> tuple[TargetConfig, ...]:
    """Check the ``targets`` list and return the usable targets."""
    path = (*SECTION, "targets")
    if raw is None:
        return ()
    if not isinstance(raw, list):
        sink.error(path, f"expected a list of targets, got {describe(raw)}")
        return ()
    out: list[TargetConfig] = []
    names: dict[str, int] = {}
    for i, item in enumerate(raw):
        here = (*path, i)
        if not isinstance(item, dict):
            sink.error(here, f"expected a mapping, got {describe(item)}")
            continue
        local = Collector(sink.file)
        target = _one_target(item, defaults, here, local, renames)
        disabled = item.get("enabled") is False
        sink.warnings.extend(local.warnings)
        if disabled:
            sink.warnings.extend(_demote(local.errors))
        else:
            sink.errors.extend(local.errors)
            name = item.get("targetName")
            if isinstance(name, str) and name:
                if name in names:
                    sink.error(
                        (*here, "targetName"),
                        f"{name!r} is already the name of {format_path((*path, names[name]))}; "
                        "target names must be unique",
                    )
                else:
                    names[name] = i
        if target is not None and not local.errors:
            out.append(target)
    return tuple(out)
