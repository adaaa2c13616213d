"""Secret references resolved through the fake API server: read, rotated, missing, forbidden.

Each test scrapes a loopback target with the real scrape client, whose
credentials come from `KubeSecrets` over a `Cluster` on the fake API server.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from openagent.httpauth import HTTPAuth
from openagent.kube import Cluster, KubeOptions
from openagent.kube.client import KubeClient, connect
from openagent.kube.prune import prune
from openagent.kube.secrets import KubeSecrets
from openagent.scrape.http import ScrapeClient, ScrapeFailure
from tests.kube.support import FAST, TIMEOUTS
from tests.kubefake import FakeKubeServer, objects
from tests.loopback_http import (
    TLS,
    Authz,
    Basic,
    Endpoint,
    Ref,
    Server,
    ServerFactory,
    ok_metrics,
    server_context,
)
from tests.support import eventually

pytestmark = pytest.mark.timeout(60)

AGENT_NS = "whatap-monitoring"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def creds(name: str = "scrape-creds", ns: str = "gpu", **data: str) -> dict[str, Any]:
    return objects.secret(name, ns, data or {"username": "scraper", "password": "s3cret"})


BASIC = Basic(
    username_secret=Ref("scrape-creds", "username", "gpu"),
    password_secret=Ref("scrape-creds", "password", "gpu"),
)

Resolver = tuple[KubeSecrets, ScrapeClient]


@pytest.fixture
async def resolver(kube: FakeKubeServer, tmp_path: Path) -> AsyncIterator[Resolver]:
    """A scrape client whose Secret references are read from ``kube``."""
    kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig")

    async def make_client() -> KubeClient:
        return await connect(kubeconfig, timeouts=TIMEOUTS)

    cluster = Cluster(make_client, FAST)
    secrets = KubeSecrets(cluster, AGENT_NS, sync_timeout=5.0)
    client = ScrapeClient(default_body_limit=1 << 20, user_agent="t", auth=HTTPAuth(secrets))
    yield secrets, client
    await client.close()
    secrets.close()
    await cluster.close()


async def failure_of(client: ScrapeClient, url: str, endpoint: Endpoint) -> ScrapeFailure:
    with pytest.raises(ScrapeFailure) as info:
        await client.fetch(url, endpoint)
    return info.value


def seen_auth(server: Server) -> str | None:
    return server.requests[-1].headers.get("Authorization")


async def test_basic_auth_from_a_secret_watches_that_secret_only(
    kube: FakeKubeServer, resolver: Resolver, http_server: ServerFactory
) -> None:
    kube.store.create_many([creds(), creds("other-secret")])
    _, client = resolver
    server = await http_server(ok_metrics)
    await client.fetch(server.url + "/metrics", Endpoint(basic_auth=BASIC))
    assert seen_auth(server) == basic("scraper", "s3cret")
    requests = kube.requests_for("secrets")
    assert {r.verb for r in requests} <= {"list", "watch"} and requests
    assert {(r.namespace, r.query.get("fieldSelector")) for r in requests} == {
        ("gpu", "metadata.name=scrape-creds")
    }
    await client.fetch(server.url + "/metrics", Endpoint(basic_auth=BASIC))
    assert len(kube.requests_for("secrets", "list")) == 1  # later scrapes read the cache


async def test_bearer_token_from_a_secret_in_the_agents_namespace(
    kube: FakeKubeServer, resolver: Resolver, http_server: ServerFactory
) -> None:
    kube.store.create(objects.secret("dcgm-token", AGENT_NS, {"token": "tok-123\n"}))
    _, client = resolver
    server = await http_server(ok_metrics)
    endpoint = Endpoint(authorization=Authz(credentials_secret=Ref("dcgm-token", "token")))
    await client.fetch(server.url + "/metrics", endpoint)
    assert seen_auth(server) == "Bearer tok-123"


async def test_a_rotated_secret_is_used_from_its_watch_event_on(
    kube: FakeKubeServer, resolver: Resolver, http_server: ServerFactory
) -> None:
    kube.store.create(creds())
    _, client = resolver
    server = await http_server(ok_metrics)
    url = server.url + "/metrics"
    await client.fetch(url, Endpoint(basic_auth=BASIC))
    assert seen_auth(server) == basic("scraper", "s3cret")
    lists = len(kube.requests_for("secrets", "list"))

    def rotate(obj: dict[str, Any]) -> None:
        obj["data"]["password"] = base64.b64encode(b"rotated").decode()

    kube.store.modify("secrets", "gpu", "scrape-creds", rotate)

    async def rotated() -> bool:
        await client.fetch(url, Endpoint(basic_auth=BASIC))
        return seen_auth(server) == basic("scraper", "rotated")

    await eventually(rotated, within=5)
    assert len(kube.requests_for("secrets", "list")) == lists  # the watch brought it, no re-read


async def test_a_missing_secret_or_key_fails_only_its_own_target(
    kube: FakeKubeServer, resolver: Resolver, http_server: ServerFactory
) -> None:
    kube.store.create(creds())
    _, client = resolver
    server = await http_server(ok_metrics)
    url = server.url + "/metrics"
    missing = Basic(username="u", password_secret=Ref("nope", "password", "gpu"))
    failure = await failure_of(client, url, Endpoint(basic_auth=missing))
    assert failure.reason == "auth"
    assert "Secret gpu/nope key 'password': the Secret does not exist" in failure.detail
    no_key = Basic(username="u", password_secret=Ref("scrape-creds", "pasword", "gpu"))
    failure = await failure_of(client, url, Endpoint(basic_auth=no_key))
    assert failure.detail.endswith(
        "Secret gpu/scrape-creds key 'pasword': the Secret has no such key "
        "(its keys: password, username)"
    )
    await client.fetch(url, Endpoint(basic_auth=BASIC))  # the other target is not affected
    assert seen_auth(server) == basic("scraper", "s3cret")
    kube.store.create(objects.secret("nope", "gpu", {"password": "late"}))
    await eventually(lambda: fetched(client, url, Endpoint(basic_auth=missing)))
    assert seen_auth(server) == basic("u", "late")


async def fetched(client: ScrapeClient, url: str, endpoint: Endpoint) -> bool:
    try:
        await client.fetch(url, endpoint)
    except ScrapeFailure:
        return False
    return True


async def test_forbidden_names_the_namespace_the_secret_and_the_permission(
    kube: FakeKubeServer, resolver: Resolver, http_server: ServerFactory
) -> None:
    kube.store.create(creds())
    kube.faults.forbid("secrets", namespace="gpu")
    _, client = resolver
    server = await http_server(ok_metrics)
    failure = await failure_of(client, server.url + "/metrics", Endpoint(basic_auth=BASIC))
    assert failure.reason == "auth"
    assert failure.detail.startswith("username_secret: Secret gpu/scrape-creds key 'username': ")
    assert "cannot list secrets in namespace gpu: grant list/watch on secrets (RBAC)" in (
        failure.detail
    )
    kube.faults.clear()
    await eventually(lambda: fetched(client, server.url + "/metrics", Endpoint(basic_auth=BASIC)))


async def test_a_ca_from_a_secret_verifies_the_target(
    kube: FakeKubeServer,
    resolver: Resolver,
    http_server: ServerFactory,
    ca: trustme.CA,
    loopback_cert: trustme.LeafCert,
) -> None:
    pem = ca.cert_pem.bytes().decode()
    kube.store.create(objects.secret("target-ca", AGENT_NS, {"ca.crt": pem}))
    _, client = resolver
    server = await http_server(ok_metrics, ssl_context=server_context(loopback_cert))
    endpoint = Endpoint(scheme="https", tls_config=TLS(ca_secret=Ref("target-ca", "ca.crt")))
    await client.fetch(server.url + "/metrics", endpoint)
    assert server.requests


async def test_without_a_cluster_the_error_says_so(
    tmp_path: Path, http_server: ServerFactory
) -> None:
    cluster = Cluster.of(KubeOptions(kubeconfig=tmp_path / "missing-kubeconfig"))
    client = ScrapeClient(
        default_body_limit=1 << 20, user_agent="t", auth=HTTPAuth(KubeSecrets(cluster, AGENT_NS))
    )
    server = await http_server(ok_metrics)
    try:
        failure = await failure_of(client, server.url + "/metrics", Endpoint(basic_auth=BASIC))
    finally:
        await client.close()
    assert "Secret gpu/scrape-creds key 'username': no Kubernetes connection" in failure.detail
    assert "missing-kubeconfig" in failure.detail


async def test_secrets_no_longer_referenced_stop_being_watched(
    kube: FakeKubeServer, resolver: Resolver, http_server: ServerFactory
) -> None:
    kube.store.create_many([creds(), objects.secret("dcgm-token", AGENT_NS, {"token": "t"})])
    secrets, client = resolver
    server = await http_server(ok_metrics)
    token = Ref("dcgm-token", "token")
    await client.fetch(server.url + "/metrics", Endpoint(basic_auth=BASIC))
    await client.fetch(
        server.url + "/metrics", Endpoint(authorization=Authz(credentials_secret=token))
    )
    await kube.wait_for_watches(2, "secrets")
    secrets.keep_only([token])
    await kube.wait_for_watches(1, "secrets")


def test_pruned_secrets_keep_data_and_drop_annotations() -> None:
    secret = objects.secret("s", "gpu", {"k": "v"})
    secret["metadata"]["annotations"] = {"kubectl.kubernetes.io/last-applied-configuration": "{}"}
    secret["metadata"]["managedFields"] = [{"manager": "kubectl"}]
    pruned = prune("secrets", secret)
    assert set(pruned) == {"metadata", "type", "data"}
    assert "annotations" not in pruned["metadata"] and "managedFields" not in pruned["metadata"]
    assert pruned["data"] == secret["data"]
