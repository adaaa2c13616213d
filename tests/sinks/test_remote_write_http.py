"""The remote-write sink's HTTP side against real loopback servers: headers, pooling,
classification of every kind of answer, auth and TLS."""

from __future__ import annotations

import base64
import ssl
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
import trustme

from openagent.sinks.base import Batch, SinkError
from openagent.sinks.remote_write import (
    MESSAGE_CHARS,
    RemoteWriteOptions,
    RemoteWriteSink,
    RemoteWriteTLS,
)
from tests.peers import free_port
from tests.sinks.remote_write_support import Receiver, decode_payload, make_result

pytestmark = pytest.mark.timeout(30)


def batch_of(sink: RemoteWriteSink, n: int = 5) -> Batch:
    sink.encode(make_result(n))
    (batch,) = sink.flush()
    return batch


async def send_error(sink: RemoteWriteSink, batch: Batch | None = None) -> SinkError:
    with pytest.raises(SinkError) as info:
        await sink.send(batch or batch_of(sink))
    return info.value


async def test_post_carries_the_protocol_headers_and_the_payload() -> None:
    async with Receiver() as rx:
        sink = RemoteWriteSink(RemoteWriteOptions(rx.url))
        await sink.start()
        batch = batch_of(sink, 7)
        await sink.send(batch)
        await sink.close()
    (req,) = rx.requests
    assert req.headers["Content-Encoding"] == "snappy"
    assert req.headers["Content-Type"] == "application/x-protobuf"
    assert req.headers["X-Prometheus-Remote-Write-Version"] == "0.1.0"
    assert req.headers["User-Agent"].startswith("openagent/")
    assert "Authorization" not in req.headers
    assert req.body == batch.payload
    assert [d.values[0] for d in decode_payload(req.body)] == [float(i) for i in range(7)]


async def test_one_pooled_connection_serves_every_send() -> None:
    async with Receiver() as rx:
        sink = RemoteWriteSink(RemoteWriteOptions(rx.url))
        await sink.start()
        for _ in range(4):
            await sink.send(batch_of(sink))
        await sink.close()
    assert len(rx.requests) == 4
    assert len({r.peer for r in rx.requests}) == 1


@pytest.mark.parametrize("status", [200, 202, 204])
async def test_2xx_means_delivered(status: int) -> None:
    async with Receiver(status=status, answer=b"fine") as rx:
        sink = RemoteWriteSink(RemoteWriteOptions(rx.url))
        await sink.send(batch_of(sink))
        await sink.close()
    assert len(rx.requests) == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_5xx_is_retryable(status: int) -> None:
    async with Receiver(status=status, answer=b"storage busy") as rx:
        sink = RemoteWriteSink(RemoteWriteOptions(rx.url))
        err = await send_error(sink)
        await sink.close()
    assert err.retryable and err.retry_after is None
    assert f"answered {status}: storage busy" in str(err)


async def test_5xx_with_retry_after_passes_the_hint_on() -> None:
    async with Receiver(status=503, headers={"Retry-After": "2"}) as rx:
        sink = RemoteWriteSink(RemoteWriteOptions(rx.url))
        err = await send_error(sink)
        await sink.close()
    assert err.retryable and err.retry_after == 2.0


async def test_429_is_retryable_after_the_servers_delay() -> None:
    async with Receiver(status=429, headers={"Retry-After": "7"}) as rx:
        sink = RemoteWriteSink(RemoteWriteOptions(rx.url))
        err = await send_error(sink)
        rx.headers = {
            "Retry-After": format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
        }
        dated = await send_error(sink)
        rx.headers = {}
        bare = await send_error(sink)
        await sink.close()
    assert err.retryable and err.retry_after == 7.0
    assert dated.retryable and dated.retry_after is not None and 25 < dated.retry_after <= 30
    assert bare.retryable and bare.retry_after is None


@pytest.mark.parametrize("status", [401, 403, 404, 409, 413, 422])
async def test_other_4xx_is_permanent_and_quotes_the_receiver(status: int) -> None:
    answer = b"out of bounds\n"
    async with Receiver(status=status, answer=answer) as rx:
        sink = RemoteWriteSink(RemoteWriteOptions(rx.url))
        err = await send_error(sink)
        await sink.close()
    assert not err.retryable
    assert f"answered {status}: out of bounds" in str(err)
    assert f"127.0.0.1:{rx.port}" in str(err)


async def test_long_error_answers_are_cut() -> None:
    async with Receiver(status=422, answer=b"e" * 5000) as rx:
        sink = RemoteWriteSink(RemoteWriteOptions(rx.url))
        err = await send_error(sink)
        await sink.close()
    assert "e" * MESSAGE_CHARS + "…" in str(err)
    assert "e" * (MESSAGE_CHARS + 1) not in str(err)


async def test_connection_refused_is_retryable() -> None:
    sink = RemoteWriteSink(RemoteWriteOptions(f"http://127.0.0.1:{free_port()}/api/v1/write"))
    err = await send_error(sink)
    await sink.close()
    assert err.retryable
    assert "remote write to 127.0.0.1" in str(err)


async def test_a_receiver_slower_than_the_timeout_is_retryable() -> None:
    async with Receiver(delay=1.0) as rx:
        sink = RemoteWriteSink(RemoteWriteOptions(rx.url, timeout=0.2))
        err = await send_error(sink)
        await sink.close()
    assert err.retryable and "no answer within 0.2s" in str(err)


# -- auth -----------------------------------------------------------------------


async def test_basic_auth_reads_the_password_file_and_follows_rotation(tmp_path: Path) -> None:
    password = tmp_path / "password"
    password.write_text("s3cret\n")
    async with Receiver() as rx:
        sink = RemoteWriteSink(
            RemoteWriteOptions(rx.url, username="agent", password_file=str(password))
        )
        await sink.send(batch_of(sink))
        password.write_text("rotated-longer\n")
        await sink.send(batch_of(sink))
        await sink.close()
    sent = [r.headers["Authorization"] for r in rx.requests]
    assert sent == [
        "Basic " + base64.b64encode(b"agent:s3cret").decode(),
        "Basic " + base64.b64encode(b"agent:rotated-longer").decode(),
    ]


async def test_bearer_token_file(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("tok-123")
    async with Receiver() as rx:
        sink = RemoteWriteSink(RemoteWriteOptions(rx.url, bearer_token_file=str(token)))
        await sink.send(batch_of(sink))
        await sink.close()
    assert rx.requests[0].headers["Authorization"] == "Bearer tok-123"


async def test_an_unreadable_credential_file_is_retryable_and_named(tmp_path: Path) -> None:
    async with Receiver() as rx:
        sink = RemoteWriteSink(
            RemoteWriteOptions(rx.url, bearer_token_file=str(tmp_path / "missing"))
        )
        err = await send_error(sink)
        await sink.close()
    assert err.retryable
    assert "bearer_token_file" in str(err) and "missing" in str(err)
    assert rx.requests == []


async def test_credentials_echoed_by_the_receiver_are_redacted(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("tok-echo-999")
    async with Receiver(status=401, answer=b"bad token tok-echo-999") as rx:
        sink = RemoteWriteSink(RemoteWriteOptions(rx.url, bearer_token_file=str(token)))
        err = await send_error(sink)
        await sink.close()
    assert not err.retryable
    assert "tok-echo-999" not in str(err) and "<redacted>" in str(err)


# -- TLS ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def server_ctx(cert: trustme.LeafCert, client_ca: trustme.CA | None = None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert.configure_cert(ctx)
    if client_ca is not None:
        client_ca.configure_trust(ctx)
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def pem(path: Path, blob: trustme.Blob) -> str:
    blob.write_to_path(str(path))
    return str(path)


async def test_tls_verifies_the_receiver_with_the_ca_file(ca: trustme.CA, tmp_path: Path) -> None:
    cert = ca.issue_cert("127.0.0.1")
    async with Receiver(ssl_context=server_ctx(cert)) as rx:
        good = RemoteWriteSink(
            RemoteWriteOptions(
                rx.url, tls=RemoteWriteTLS(ca_file=pem(tmp_path / "ca", ca.cert_pem))
            )
        )
        await good.send(batch_of(good))
        await good.close()
        other = trustme.CA()
        bad = RemoteWriteSink(
            RemoteWriteOptions(
                rx.url, tls=RemoteWriteTLS(ca_file=pem(tmp_path / "other", other.cert_pem))
            )
        )
        err = await send_error(bad)
        await bad.close()
        skip = RemoteWriteSink(
            RemoteWriteOptions(rx.url, tls=RemoteWriteTLS(insecure_skip_verify=True))
        )
        await skip.send(batch_of(skip))
        await skip.close()
    assert len(rx.requests) == 2
    assert err.retryable and "certificate" in str(err).lower()


async def test_tls_server_name_and_client_certificate(ca: trustme.CA, tmp_path: Path) -> None:
    server_cert = ca.issue_cert("prometheus.example")
    client_ca = trustme.CA()
    client = client_ca.issue_cert("agent.example")
    client.cert_chain_pems[0].write_to_path(str(tmp_path / "client.crt"))
    client.private_key_pem.write_to_path(str(tmp_path / "client.key"))
    tls = RemoteWriteTLS(
        ca_file=pem(tmp_path / "ca", ca.cert_pem),
        cert_file=str(tmp_path / "client.crt"),
        key_file=str(tmp_path / "client.key"),
        server_name="prometheus.example",
    )
    async with Receiver(ssl_context=server_ctx(server_cert, client_ca)) as rx:
        sink = RemoteWriteSink(RemoteWriteOptions(rx.url, tls=tls))
        await sink.send(batch_of(sink))
        await sink.close()
        wrong_name = RemoteWriteSink(
            RemoteWriteOptions(
                rx.url,
                tls=RemoteWriteTLS(
                    ca_file=tls.ca_file, cert_file=tls.cert_file, key_file=tls.key_file
                ),
            )
        )
        err = await send_error(wrong_name)
        await wrong_name.close()
    (req,) = rx.requests
    assert req.client_cert is not None
    assert ("DNS", "agent.example") in req.client_cert["subjectAltName"]
    assert err.retryable
