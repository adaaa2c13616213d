"""TLS: verification, server_name, mTLS from files and Secrets, rotation, pooling per settings."""

from __future__ import annotations

import asyncio
import os
import ssl
import tempfile
from pathlib import Path

import pytest
import trustme

from openagent.httpauth import HTTPAuth, NoSecrets
from openagent.httpauth.tls import TLSContexts
from openagent.scrape.http import ScrapeClient, ScrapeFailure
from tests.loopback_http import (
    DEFAULT_LIMIT,
    TLS,
    USER_AGENT,
    DictSecrets,
    Endpoint,
    Ref,
    ServerFactory,
    ok_metrics,
    server_context,
)

pytestmark = pytest.mark.timeout(30)


def https(tls: TLS | None) -> Endpoint:
    return Endpoint(scheme="https", tls_config=tls)


def write(path: Path, blob: trustme.Blob | bytes) -> str:
    path.write_bytes(blob if isinstance(blob, bytes) else blob.bytes())
    return str(path)


async def failure_of(client: ScrapeClient, url: str, endpoint: Endpoint) -> ScrapeFailure:
    with pytest.raises(ScrapeFailure) as info:
        await client.fetch(url, endpoint)
    return info.value


# --- server verification -----------------------------------------------------------------------


async def test_ca_file_verifies_the_server(
    client: ScrapeClient,
    http_server: ServerFactory,
    ca: trustme.CA,
    loopback_cert: trustme.LeafCert,
    tmp_path: Path,
) -> None:
    server = await http_server(ok_metrics, server_context(loopback_cert))
    ca_file = write(tmp_path / "ca.pem", ca.cert_pem)
    result = await client.fetch(server.url + "/metrics", https(TLS(ca_file=ca_file)))
    assert result.body == b"up 1\n"


async def test_unknown_ca_fails_with_tls(
    client: ScrapeClient, http_server: ServerFactory, loopback_cert: trustme.LeafCert
) -> None:
    server = await http_server(ok_metrics, server_context(loopback_cert))
    for endpoint in (https(None), https(TLS())):
        failure = await failure_of(client, server.url + "/metrics", endpoint)
        assert failure.reason == "tls"
        assert "certificate" in failure.detail
    assert server.requests == []


async def test_insecure_skip_verify_accepts_any_certificate(
    client: ScrapeClient, http_server: ServerFactory
) -> None:
    stranger = trustme.CA().issue_cert("somewhere.else")
    server = await http_server(ok_metrics, server_context(stranger))
    tls = TLS(insecure_skip_verify=True)
    assert (await client.fetch(server.url + "/metrics", https(tls))).body == b"up 1\n"


async def test_server_name_sets_sni_and_the_verified_name(
    client: ScrapeClient, http_server: ServerFactory, ca: trustme.CA, tmp_path: Path
) -> None:
    server = await http_server(ok_metrics, server_context(ca.issue_cert("metrics.example")))
    ca_file = write(tmp_path / "ca.pem", ca.cert_pem)
    url = server.url + "/metrics"

    failure = await failure_of(client, url, https(TLS(ca_file=ca_file)))
    assert failure.reason == "tls"
    assert "127.0.0.1" in failure.detail

    failure = await failure_of(
        client, url, https(TLS(ca_file=ca_file, server_name="other.example"))
    )
    assert failure.reason == "tls"

    result = await client.fetch(url, https(TLS(ca_file=ca_file, server_name="metrics.example")))
    assert result.body == b"up 1\n"
    assert server.sni[-1] == "metrics.example"


async def test_https_redirect_keeps_verification(
    client: ScrapeClient, http_server: ServerFactory, loopback_cert: trustme.LeafCert
) -> None:
    """A plain-http target redirecting to https is verified against the system roots."""
    from aiohttp import web

    tls_server = await http_server(ok_metrics, server_context(loopback_cert))

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound(tls_server.url + "/metrics")

    plain = await http_server(redirect)
    failure = await failure_of(client, plain.url + "/metrics", Endpoint())
    assert failure.reason == "tls"


# --- client certificates ----------------------------------------------------------------------


def mtls_context(ca: trustme.CA, cert: trustme.LeafCert) -> ssl.SSLContext:
    ctx = server_context(cert)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ca.configure_trust(ctx)
    return ctx


async def test_mtls_with_cert_and_key_files(
    client: ScrapeClient,
    http_server: ServerFactory,
    ca: trustme.CA,
    loopback_cert: trustme.LeafCert,
    tmp_path: Path,
) -> None:
    server = await http_server(ok_metrics, mtls_context(ca, loopback_cert))
    ca_file = write(tmp_path / "ca.pem", ca.cert_pem)
    url = server.url + "/metrics"

    # With TLS 1.3 the server rejects a missing client certificate after the client
    # considers the handshake done; an asyncio server then just closes the connection
    # (or resets it when the request was already in flight).
    failure = await failure_of(client, url, https(TLS(ca_file=ca_file)))
    assert failure.reason in ("protocol", "connect")
    assert "client certificate" in failure.detail
    assert server.requests == []

    agent = ca.issue_cert("openagent.example")
    tls = TLS(
        ca_file=ca_file,
        cert_file=write(tmp_path / "client.pem", agent.cert_chain_pems[0]),
        key_file=write(tmp_path / "client.key", agent.private_key_pem),
    )
    assert (await client.fetch(url, https(tls))).body == b"up 1\n"
    peer_cert = server.requests[0].client_cert
    assert peer_cert is not None
    assert ("DNS", "openagent.example") in peer_cert["subjectAltName"]


async def test_missing_client_certificate_in_a_tls12_handshake_is_a_tls_failure(
    client: ScrapeClient,
    http_server: ServerFactory,
    ca: trustme.CA,
    loopback_cert: trustme.LeafCert,
    tmp_path: Path,
) -> None:
    server_ctx = mtls_context(ca, loopback_cert)
    server_ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    server = await http_server(ok_metrics, server_ctx)
    ca_file = write(tmp_path / "ca.pem", ca.cert_pem)
    failure = await failure_of(client, server.url + "/metrics", https(TLS(ca_file=ca_file)))
    assert failure.reason == "tls"
    assert "client certificate" in failure.detail


async def test_mtls_with_secrets_leaves_no_key_file_behind(
    http_server: ServerFactory,
    ca: trustme.CA,
    loopback_cert: trustme.LeafCert,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = await http_server(ok_metrics, mtls_context(ca, loopback_cert))
    agent = ca.issue_cert("openagent.example")
    secrets = DictSecrets(
        {
            ("monitoring", "scrape-tls", "ca.crt"): ca.cert_pem.bytes(),
            ("monitoring", "scrape-tls", "tls.crt"): agent.cert_chain_pems[0].bytes(),
            ("monitoring", "scrape-tls", "tls.key"): agent.private_key_pem.bytes(),
        }
    )
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    tls = TLS(
        ca_secret=Ref("scrape-tls", "ca.crt", "monitoring"),
        cert_secret=Ref("scrape-tls", "tls.crt", "monitoring"),
        key_secret=Ref("scrape-tls", "tls.key", "monitoring"),
    )
    async with ScrapeClient(
        default_body_limit=DEFAULT_LIMIT, user_agent=USER_AGENT, auth=HTTPAuth(secrets)
    ) as client:
        assert (await client.fetch(server.url + "/metrics", https(tls))).body == b"up 1\n"
    assert list(scratch.iterdir()) == []
    assert server.requests[0].client_cert is not None


async def test_secret_without_kubernetes_is_a_clear_tls_failure(
    client: ScrapeClient, http_server: ServerFactory, loopback_cert: trustme.LeafCert
) -> None:
    server = await http_server(ok_metrics, server_context(loopback_cert))
    tls = TLS(ca_secret=Ref("scrape-tls", "ca.crt", "monitoring"))
    failure = await failure_of(client, server.url + "/metrics", https(tls))
    assert failure.reason == "tls"
    assert "Secret monitoring/scrape-tls key 'ca.crt'" in failure.detail
    assert "no Kubernetes connection" in failure.detail


@pytest.mark.parametrize(
    ("tls", "needle"),
    [
        (TLS(cert_file="/nonexistent/c.pem"), "no key"),
        (TLS(key_file="/nonexistent/k.pem"), "no cert"),
        (TLS(ca_file="/nonexistent/ca.pem"), "'/nonexistent/ca.pem': No such file"),
        (TLS(ca_file="/etc/hostname", ca_secret=Ref("s", "k")), "at most one of ca_file"),
    ],
)
async def test_inconsistent_tls_settings(
    client: ScrapeClient,
    http_server: ServerFactory,
    loopback_cert: trustme.LeafCert,
    tls: TLS,
    needle: str,
) -> None:
    server = await http_server(ok_metrics, server_context(loopback_cert))
    failure = await failure_of(client, server.url + "/metrics", https(tls))
    assert failure.reason == "tls"
    assert needle in failure.detail
    assert server.requests == []


async def test_unusable_pem_files_are_named(
    client: ScrapeClient,
    http_server: ServerFactory,
    ca: trustme.CA,
    loopback_cert: trustme.LeafCert,
    tmp_path: Path,
) -> None:
    server = await http_server(ok_metrics, server_context(loopback_cert))
    url = server.url + "/metrics"
    garbage = write(tmp_path / "garbage.pem", b"not a certificate\n")
    failure = await failure_of(client, url, https(TLS(ca_file=garbage)))
    assert failure.reason == "tls"
    assert f"ca_file {garbage!r} holds no valid PEM certificate" in failure.detail

    agent, other = ca.issue_cert("a.example"), ca.issue_cert("b.example")
    mismatched = TLS(
        insecure_skip_verify=True,
        cert_file=write(tmp_path / "a.pem", agent.cert_chain_pems[0]),
        key_file=write(tmp_path / "b.key", other.private_key_pem),
    )
    failure = await failure_of(client, url, https(mismatched))
    assert failure.reason == "tls"
    assert "cannot load client certificate" in failure.detail
    assert "b.key" in failure.detail


# --- rotation and pooling ---------------------------------------------------------------------


async def test_rotated_ca_file_is_picked_up(
    client: ScrapeClient, http_server: ServerFactory, tmp_path: Path
) -> None:
    old_ca, new_ca = trustme.CA(), trustme.CA()
    server = await http_server(ok_metrics, server_context(new_ca.issue_cert("127.0.0.1")))
    ca_file = write(tmp_path / "ca.pem", old_ca.cert_pem)
    endpoint = https(TLS(ca_file=ca_file))
    url = server.url + "/metrics"

    assert (await failure_of(client, url, endpoint)).reason == "tls"
    # Rotate the way kubelet does: write a new file, then swap it in.
    write(tmp_path / "ca.pem.new", new_ca.cert_pem)
    os.replace(tmp_path / "ca.pem.new", ca_file)
    assert (await client.fetch(url, endpoint)).body == b"up 1\n"


async def test_connections_are_reused_per_tls_settings(
    client: ScrapeClient,
    http_server: ServerFactory,
    ca: trustme.CA,
    loopback_cert: trustme.LeafCert,
    tmp_path: Path,
) -> None:
    server = await http_server(ok_metrics, server_context(loopback_cert))
    verified = https(TLS(ca_file=write(tmp_path / "ca.pem", ca.cert_pem)))
    insecure = https(TLS(insecure_skip_verify=True))
    url = server.url + "/metrics"
    for _ in range(3):
        await client.fetch(url, verified)
    assert len(server.peers()) == 1
    for _ in range(3):
        await client.fetch(url, insecure)
    assert len(server.requests) == 6
    assert len(server.peers()) == 2


async def test_contexts_are_built_once_per_settings(ca: trustme.CA, tmp_path: Path) -> None:
    contexts = TLSContexts(NoSecrets())
    ca_file = write(tmp_path / "ca.pem", ca.cert_pem)
    same = await asyncio.gather(*(contexts.context(TLS(ca_file=ca_file)) for _ in range(5)))
    assert all(ctx is same[0] for ctx in same)
    assert same[0].verify_mode == ssl.CERT_REQUIRED and same[0].check_hostname
    named = await contexts.context(TLS(ca_file=ca_file, server_name="metrics.example"))
    insecure = await contexts.context(TLS(insecure_skip_verify=True))
    assert len({id(same[0]), id(named), id(insecure)}) == 3
    assert insecure.verify_mode == ssl.CERT_NONE and not insecure.check_hostname
    assert await contexts.context(None) is await contexts.context(None)
