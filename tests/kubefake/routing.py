"""Mapping request paths to discovery documents and resource collections."""

from __future__ import annotations

import gzip
import uuid
from dataclasses import dataclass

from aiohttp import web

from tests.kubefake import discovery
from tests.kubefake.kinds import JSON, Kind, by_resource

#: Paths anonymous users may read (``system:public-info-viewer``).
PUBLIC_PATHS = frozenset({"/healthz", "/livez", "/readyz", "/version"})
HEALTH_PATHS = frozenset({"/healthz", "/livez", "/readyz"})
#: The apiserver gzips responses above this size when the client accepts gzip.
GZIP_THRESHOLD = 128 * 1024


@dataclass(frozen=True, slots=True)
class Document:
    """A static discovery document."""

    body: JSON


@dataclass(frozen=True, slots=True)
class ResourcePath:
    """A collection (``name`` None) or one object of a served kind."""

    kind: Kind
    namespace: str | None
    name: str | None


def resolve(path: str, server_address: str, git_version: str) -> Document | ResourcePath | None:
    """What ``path`` (trailing slash ignored) names; None when nothing is served there."""
    clean = path.rstrip("/") or "/"
    if clean == "/version":
        return Document(discovery.version_info(git_version))
    if clean == "/api":
        return Document(discovery.api_versions(server_address))
    if clean == "/apis":
        return Document(discovery.api_group_list())
    parts = clean.strip("/").split("/")
    if parts[0] == "api" and len(parts) >= 2 and parts[1] == "v1":
        group, version, rest = "", "v1", parts[2:]
    elif parts[0] == "apis" and len(parts) >= 3:
        group, version, rest = parts[1], parts[2], parts[3:]
    elif parts[0] == "apis" and len(parts) == 2:
        doc = discovery.api_group(parts[1])
        return Document(doc) if doc else None
    else:
        return None
    if not rest:
        doc = discovery.api_resource_list(group, version)
        return Document(doc) if doc else None
    return _resource(group, version, rest)


def _resource(group: str, version: str, rest: list[str]) -> ResourcePath | None:
    if len(rest) in (3, 4) and rest[0] == "namespaces":
        kind = by_resource(group, version, rest[2])
        if kind is None or not kind.namespaced or not rest[1]:
            return None
        return ResourcePath(kind, rest[1], rest[3] if len(rest) == 4 else None)
    kind = by_resource(group, version, rest[0])
    if kind is None or len(rest) > 2:
        return None
    if len(rest) == 2:
        return None if kind.namespaced else ResourcePath(kind, None, rest[1])
    return ResourcePath(kind, None, None)


def json_response(
    request: web.Request, body: bytes, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """A JSON response with the apiserver's headers, gzipped above 128 KiB if accepted."""
    hdrs = {
        "Content-Type": "application/json",
        "Cache-Control": "no-cache, private",
        "Audit-Id": str(uuid.uuid4()),
        **(headers or {}),
    }
    if len(body) > GZIP_THRESHOLD and "gzip" in request.headers.get("Accept-Encoding", ""):
        body = gzip.compress(body, compresslevel=1)
        hdrs["Content-Encoding"] = "gzip"
    return web.Response(body=body, status=status, headers=hdrs)
