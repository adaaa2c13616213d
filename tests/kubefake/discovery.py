"""Version and legacy (unaggregated) discovery documents.

kubectl asks for aggregated discovery (``apidiscovery.k8s.io/v2``) first and
falls back to these plain documents when the response is plain
``application/json``, so the legacy set is enough for it; kubernetes_asyncio
only calls ``/version/``, ``/api/`` and ``/apis/`` when asked to.
"""

from __future__ import annotations

from typing import Any

from tests.kubefake.kinds import KINDS, Kind

JSON = dict[str, Any]
VERBS = ["get", "list", "watch"]


def version_info(git_version: str = "v1.32.4") -> JSON:
    """``/version``: all nine VersionInfo fields (the client requires each)."""
    major, minor = git_version.lstrip("v").split(".")[:2]
    return {
        "major": major,
        "minor": minor,
        "gitVersion": git_version,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-04-22T16:02:27Z",
        "goVersion": "go1.23.6",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def api_versions(server_address: str) -> JSON:
    """``/api``: the core group's versions."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def _groups() -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for k in KINDS:
        if k.group and k.version not in groups.setdefault(k.group, []):
            groups[k.group].append(k.version)
    return groups


def _group(name: str, versions: list[str]) -> JSON:
    gvs = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": gvs, "preferredVersion": gvs[0]}


def api_group_list() -> JSON:
    """``/apis``: every named group the fake serves."""
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [_group(name, versions) for name, versions in _groups().items()],
    }


def api_group(name: str) -> JSON | None:
    """``/apis/<group>``, or None for a group the fake does not serve."""
    versions = _groups().get(name)
    if versions is None:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(name, versions)}


def _resource(k: Kind) -> JSON:
    res: JSON = {
        "name": k.plural,
        "singularName": k.singular,
        "namespaced": k.namespaced,
        "kind": k.kind,
        "verbs": VERBS,
    }
    if k.short_names:
        res["shortNames"] = list(k.short_names)
    if k.kind in ("Pod", "Service"):
        res["categories"] = ["all"]
    return res


def api_resource_list(group: str, version: str) -> JSON | None:
    """``/api/v1`` or ``/apis/<group>/<version>``, or None if not served."""
    kinds = [k for k in KINDS if k.group == group and k.version == version]
    if not kinds:
        return None
    group_version = f"{group}/{version}" if group else version
    body: JSON = {"kind": "APIResourceList", "groupVersion": group_version}
    if group:
        body["apiVersion"] = "v1"
    body["resources"] = [_resource(k) for k in kinds]
    return body
