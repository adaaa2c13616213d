"""The bytes on the wire, read with a plain aiohttp client."""

from __future__ import annotations

import gzip
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.kubefake import FakeKubeServer
from tests.kubefake import objects as o
from tests.kubefake.conftest import TOKEN

pytestmark = pytest.mark.timeout(20)


@pytest.fixture
async def http(kube: FakeKubeServer) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(
        base_url=kube.url, headers={"Authorization": f"Bearer {TOKEN}"}, auto_decompress=False
    ) as session:
        yield session


async def get_json(http: aiohttp.ClientSession, path: str, status: int = 200) -> Any:
    async with http.get(path) as resp:
        body = await resp.read()
        assert resp.status == status, body
        assert resp.headers["Content-Type"] == "application/json"
        assert b"\n" not in body  # single-line JSON, like the apiserver
        return json.loads(body)


async def test_watch_stream_format(kube: FakeKubeServer, http: aiohttp.ClientSession) -> None:
    kube.store.create(o.pod("a", "gpu", {"app": "dcgm"}))
    kube.store.create(o.pod("b", "gpu"))
    params = {
        "watch": "1",
        "labelSelector": "app=dcgm",
        "timeoutSeconds": "1",
        "allowWatchBookmarks": "true",
    }
    async with http.get("/api/v1/namespaces/gpu/pods", params=params) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "application/json"
        assert resp.headers["Transfer-Encoding"] == "chunked"
        assert "Content-Length" not in resp.headers
        kube.store.create(o.pod("c", "gpu", {"app": "dcgm"}))
        body = await resp.read()  # the server ends the stream cleanly at the timeout
    lines = body.split(b"\n")
    assert lines[-1] == b""  # every event ends with a newline
    events = [json.loads(line) for line in lines[:-1]]
    assert all(line and set(json.loads(line)) == {"type", "object"} for line in lines[:-1])
    kinds = [(e["type"], e["object"]["metadata"].get("name")) for e in events]
    assert kinds[:3] == [("ADDED", "a"), ("BOOKMARK", None), ("ADDED", "c")]
    assert {t for t, _ in kinds[3:]} <= {"BOOKMARK"}
    added = events[0]["object"]
    assert (added["kind"], added["apiVersion"]) == ("Pod", "v1")
    bookmark = events[1]["object"]
    assert bookmark == {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {
            "resourceVersion": "3",
            "creationTimestamp": None,
            "annotations": {"k8s.io/initial-events-end": "true"},
        },
    }


async def test_too_old_watch_is_an_error_event(
    kube: FakeKubeServer, http: aiohttp.ClientSession
) -> None:
    kube.store.create(o.pod("a", "gpu"))
    now = kube.store.compact()
    async with http.get("/api/v1/pods", params={"watch": "true", "resourceVersion": "1"}) as resp:
        assert resp.status == 200
        body = await resp.read()
    assert json.loads(body) == {
        "type": "ERROR",
        "object": {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": f"too old resource version: 1 ({now})",
            "reason": "Expired",
            "code": 410,
        },
    }


async def test_list_format(kube: FakeKubeServer, http: aiohttp.ClientSession) -> None:
    kube.store.create(o.pod("a", "gpu"))
    kube.store.create(o.endpoint_slice("svc", "gpu"))
    pods = await get_json(http, "/api/v1/pods")
    assert list(pods) == ["kind", "apiVersion", "metadata", "items"]
    assert (pods["kind"], pods["apiVersion"], pods["metadata"]) == (
        "PodList",
        "v1",
        {"resourceVersion": "3"},
    )
    assert "kind" not in pods["items"][0] and "apiVersion" not in pods["items"][0]
    slices = await get_json(http, "/apis/discovery.k8s.io/v1/namespaces/gpu/endpointslices")
    assert (slices["kind"], slices["apiVersion"]) == ("EndpointSliceList", "discovery.k8s.io/v1")
    empty = await get_json(http, "/api/v1/namespaces/none/configmaps")
    assert empty["items"] == []
    one = await get_json(http, "/api/v1/namespaces/gpu/pods/a")
    assert (one["kind"], one["metadata"]["name"]) == ("Pod", "a")


@pytest.mark.parametrize(
    ("value", "is_watch"),
    [
        ("true", True),
        ("True", True),
        ("1", True),
        ("yes", True),
        ("", True),
        ("false", False),
        ("FALSE", False),
        ("0", False),
    ],
)
async def test_watch_parameter_truthiness(
    kube: FakeKubeServer, http: aiohttp.ClientSession, value: str, is_watch: bool
) -> None:
    async with http.get("/api/v1/nodes", params={"watch": value}) as resp:
        assert resp.status == 200
        if not is_watch:
            assert (await resp.json())["kind"] == "NodeList"
    assert kube.requests[-1].verb == ("watch" if is_watch else "list")


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/version", "gitVersion"),
        ("/version/", "gitVersion"),
        ("/api", "APIVersions"),
        ("/api/", "APIVersions"),
        ("/apis/", "APIGroupList"),
        ("/apis/discovery.k8s.io", "APIGroup"),
        ("/api/v1", "APIResourceList"),
        ("/apis/discovery.k8s.io/v1/", "APIResourceList"),
    ],
)
async def test_discovery_documents(http: aiohttp.ClientSession, path: str, expected: str) -> None:
    doc = await get_json(http, path)
    assert doc.get("kind", "gitVersion" if "gitVersion" in doc else None) == expected
    if path.startswith("/version"):
        assert set(doc) == {
            "major",
            "minor",
            "gitVersion",
            "gitCommit",
            "gitTreeState",
            "buildDate",
            "goVersion",
            "compiler",
            "platform",
        }


async def test_resource_lists_for_kubectl(http: aiohttp.ClientSession) -> None:
    core = await get_json(http, "/api/v1")
    by_name = {r["name"]: r for r in core["resources"]}
    assert set(by_name) == {"pods", "services", "namespaces", "nodes", "secrets", "configmaps"}
    assert by_name["pods"]["namespaced"] and not by_name["nodes"]["namespaced"]
    assert by_name["pods"]["verbs"] == ["get", "list", "watch"]
    groups = await get_json(http, "/apis")
    assert groups["groups"][0]["preferredVersion"] == {
        "groupVersion": "discovery.k8s.io/v1",
        "version": "v1",
    }


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/livez"])
async def test_health(http: aiohttp.ClientSession, path: str) -> None:
    async with http.get(path) as resp:
        assert (resp.status, await resp.text()) == (200, "ok")


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/api/v1/widgets", 404, "the server could not find the requested resource"),
        ("/api/v1/pods/a", 404, "the server could not find the requested resource"),
        ("/api/v1/namespaces/gpu/nodes", 404, "the server could not find the requested resource"),
        ("/api/v1/namespaces/gpu/pods/missing", 404, 'pods "missing" not found'),
        (
            "/apis/discovery.k8s.io/v1/namespaces/gpu/endpointslices/x",
            404,
            'endpointslices.discovery.k8s.io "x" not found',
        ),
        (
            "/api/v1/pods?timeoutSeconds=soon&watch=1",
            400,
            'strconv.ParseInt: parsing "soon": invalid syntax',
        ),
        (
            "/api/v1/pods?resourceVersion=abc",
            400,
            'invalid resource version "abc": must be a non-negative integer',
        ),
    ],
)
async def test_error_statuses(
    http: aiohttp.ClientSession, path: str, status: int, message: str
) -> None:
    body = await get_json(http, path, status)
    assert (body["kind"], body["status"], body["code"], body["message"]) == (
        "Status",
        "Failure",
        status,
        message,
    )


async def test_non_api_paths_and_methods(http: aiohttp.ClientSession) -> None:
    async with http.get("/metrics-nope") as resp:
        assert (resp.status, await resp.text()) == (404, "404 page not found\n")
    async with http.post("/api/v1/namespaces/gpu/pods", json={}) as resp:
        assert resp.status == 405
        assert (await resp.json())["reason"] == "MethodNotAllowed"


async def test_large_lists_are_gzipped_when_accepted(
    kube: FakeKubeServer, http: aiohttp.ClientSession
) -> None:
    kube.store.create_many(o.pod(f"p{i}", "gpu") for i in range(100))
    async with http.get("/api/v1/pods", headers={"Accept-Encoding": "gzip"}) as resp:
        assert resp.headers["Content-Encoding"] == "gzip"
        assert len(json.loads(gzip.decompress(await resp.read()))["items"]) == 100
    async with http.get("/api/v1/pods", headers={"Accept-Encoding": "identity"}) as resp:
        assert "Content-Encoding" not in resp.headers
        assert len(json.loads(await resp.read())["items"]) == 100
    async with http.get("/api/v1/namespaces", headers={"Accept-Encoding": "gzip"}) as resp:
        assert "Content-Encoding" not in resp.headers  # small bodies are sent as they are
