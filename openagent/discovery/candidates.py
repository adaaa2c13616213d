"""From discovered labels to a `Target`: target relabelling, then the URL.

Discovery (static or Kubernetes) supplies the meta labels of a candidate:
``job``, ``__address__``, ``__scheme__``, ``__metrics_path__``, ``__param_<name>``
and any ``__meta_*`` labels. Target relabelling runs on them with Prometheus
semantics; then the URL is built from what the rules left, so rewriting
``__address__``, ``__scheme__`` or ``__metrics_path__`` works (it does not in
the Go agent). ``instance`` defaults to the final address; labels starting
with ``__`` are removed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from openagent.model import Target
from openagent.relabel import Relabeler

if TYPE_CHECKING:
    from openagent.config import EndpointConfig, RelabelConfig

PARAM_PREFIX = "__param_"


@dataclass(frozen=True, slots=True)
class Dropped:
    """A candidate that did not become a target, and why."""

    source: str
    reason: str


def meta_labels(
    job: str, address: str, endpoint: EndpointConfig, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The labels target relabelling starts from."""
    labels = {
        "job": job,
        "__address__": address,
        "__scheme__": endpoint.scheme,
        "__metrics_path__": endpoint.path,
        "__scrape_interval__": _duration(endpoint.interval),
        "__scrape_timeout__": _duration(endpoint.timeout),
    }
    for name, values in endpoint.params.items():
        if values:
            labels[PARAM_PREFIX + name] = values[0]
    if extra:
        labels.update(extra)
    return labels


#: The meta label of the node a pod runs on (the target's node, for attribution).
NODE_NAME = "__meta_kubernetes_pod_node_name"


def make_target(
    labels: dict[str, str],
    endpoint: EndpointConfig,
    *,
    relabel: Sequence[RelabelConfig] = (),
    metric_relabel: Sequence[RelabelConfig] = (),
    source: str = "",
    relabeler: Relabeler | None = None,
) -> Target | Dropped:
    """Relabel ``labels`` and build the target, or say why there is none."""
    rules = relabeler if relabeler is not None else Relabeler(relabel)
    result = rules.process(labels) if rules else labels
    if result is None:
        return Dropped(source, "dropped by relabelConfigs")
    address = result.get("__address__", "")
    if not address:
        return Dropped(source, "no __address__ after relabelling")
    scheme = result.get("__scheme__", endpoint.scheme) or "http"
    path = result.get("__metrics_path__", endpoint.path) or "/"
    url = f"{scheme}://{address}{path if path.startswith('/') else '/' + path}"
    query = _query(endpoint.params, result)
    if query:
        url += ("&" if "?" in url else "?") + query
    result.setdefault("instance", address)
    final = tuple((k, v) for k, v in result.items() if not k.startswith("__") and v != "")
    job = result.get("job", "")
    return Target(
        job=job,
        url=url,
        labels=final,
        endpoint=endpoint,
        metric_relabel=tuple(metric_relabel),
        source=source,
        node=labels.get(NODE_NAME, ""),
    )


def _query(params: Mapping[str, Sequence[str]], labels: Mapping[str, str]) -> str:
    """Every configured parameter once, with relabelled ``__param_*`` overriding the first value."""
    pairs: list[tuple[str, str]] = []
    seen: set[str] = set()
    for name, values in params.items():
        seen.add(name)
        override = labels.get(PARAM_PREFIX + name)
        for i, value in enumerate(values):
            pairs.append((name, override if i == 0 and override is not None else value))
    for key, value in labels.items():
        if key.startswith(PARAM_PREFIX) and key[len(PARAM_PREFIX) :] not in seen:
            pairs.append((key[len(PARAM_PREFIX) :], value))
    return urlencode(pairs)


def _duration(seconds: float) -> str:
    if seconds == int(seconds):
        whole = int(seconds)
        if whole and whole % 60 == 0:
            return f"{whole // 60}m"
        return f"{whole}s"
    return f"{round(seconds * 1000)}ms"
