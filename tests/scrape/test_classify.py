"""Every kind of client or socket error becomes a failure with a reason and a text, never a crash.

The exceptions are built the way aiohttp builds them, and also the odd ways a
caller or another aiohttp version may build them (no connection key, no
``reason``, an empty certificate error): the classifier must answer for each.
"""

from __future__ import annotations

import ssl

import aiohttp
import pytest
from aiohttp.client_reqrep import ConnectionKey, RequestInfo
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from openagent.scrape.classify import classify, host_port
from openagent.scrape.errors import REASONS, ScrapeFailure

HTTPS = URL("https://127.0.0.1:9400/metrics")
HTTP = URL("http://127.0.0.1:9400/metrics")


def key(host: str = "127.0.0.2", port: int = 9500) -> ConnectionKey:
    return ConnectionKey(host, port, True, True, None, None, None)


def request_info(url: URL = HTTP) -> RequestInfo:
    return RequestInfo(url, "GET", CIMultiDictProxy(CIMultiDict()))


def openssl_error(reason: str) -> ssl.SSLError:
    """An SSLError as OpenSSL raises it, with its ``reason`` (a Python-built one has none)."""
    error = ssl.SSLError(1, f"[SSL: {reason}] {reason.lower().replace('_', ' ')}")
    error.reason = reason  # type: ignore[misc]
    return error


def failure(exc: aiohttp.ClientError | OSError, url: URL = HTTPS) -> ScrapeFailure:
    result = classify(exc, url, max_redirects=10)
    assert result.reason in REASONS and result.detail
    return result


def said(f: ScrapeFailure) -> tuple[str, str]:
    return f.reason, f.detail


def test_plain_http_answer_to_tls_is_a_tls_failure_with_a_hint() -> None:
    exc = aiohttp.ClientConnectorSSLError(key(), openssl_error("WRONG_VERSION_NUMBER"))
    f = failure(exc)
    assert f.reason == "tls"
    assert "TLS with 127.0.0.2:9500 failed: WRONG_VERSION_NUMBER" in f.detail
    assert "scheme: http" in f.detail


@pytest.mark.parametrize(
    "inner",
    [ssl.SSLError("no reason given"), ssl.SSLError(), OSError(), OSError(5, "io failed")],
    ids=["ssl-without-reason", "bare-ssl", "bare-oserror", "oserror"],
)
def test_ssl_connector_error_without_reason_is_still_tls(inner: OSError) -> None:
    f = failure(aiohttp.ClientConnectorSSLError(key(), inner))
    assert f.reason == "tls"
    assert f.detail.startswith("TLS with 127.0.0.2:9500 failed: ")


def test_ssl_connector_error_without_connection_key_names_the_url() -> None:
    exc = aiohttp.ClientConnectorSSLError(None, ssl.SSLError())  # type: ignore[arg-type]
    f = failure(exc)
    assert f.reason == "tls"
    assert "127.0.0.1:9400" in f.detail


def test_a_bare_ssl_error_is_tls() -> None:
    assert failure(openssl_error("SSLV3_ALERT_HANDSHAKE_FAILURE")).reason == "tls"
    assert failure(ssl.SSLError()).reason == "tls"


def test_an_ssl_error_in_the_cause_chain_is_tls() -> None:
    try:
        try:
            raise openssl_error("TLSV1_ALERT_UNKNOWN_CA")
        except ssl.SSLError as inner:
            raise aiohttp.ClientOSError(0, "wrapped") from inner
    except aiohttp.ClientOSError as exc:
        f = failure(exc)
    assert f.reason == "tls" and "TLSV1_ALERT_UNKNOWN_CA" in f.detail


def test_certificate_error_quotes_the_verify_message() -> None:
    cert = ssl.SSLCertVerificationError(1, "certificate verify failed")
    cert.verify_message = "self-signed certificate"  # type: ignore[attr-defined]
    f = failure(aiohttp.ClientConnectorCertificateError(key(), cert))
    assert f.reason == "tls"
    assert f.detail == "certificate of 127.0.0.2:9500 not accepted: self-signed certificate"


@pytest.mark.parametrize(
    "cert", [ssl.SSLCertVerificationError(), ValueError("hostname mismatch"), Exception()]
)
def test_certificate_error_with_odd_contents_is_still_tls(cert: Exception) -> None:
    f = failure(aiohttp.ClientConnectorCertificateError(key(), cert))
    assert f.reason == "tls"
    assert f.detail.startswith("certificate of 127.0.0.2:9500 not accepted: ")


def test_certificate_error_without_connection_key() -> None:
    exc = aiohttp.ClientConnectorCertificateError(None, Exception("x"))  # type: ignore[arg-type]
    assert failure(exc).detail == "certificate of 127.0.0.1:9400 not accepted: x"


def test_dns_failure_names_the_host() -> None:
    exc = aiohttp.ClientConnectorDNSError(key(), OSError(-2, "Name or service not known"))
    assert said(failure(exc, HTTP)) == ("connect", "cannot resolve host 127.0.0.1")


def test_refused_connection() -> None:
    exc = aiohttp.ClientConnectorError(key(), ConnectionRefusedError(111, "refused"))
    assert failure(exc, HTTP).detail == "connection refused to 127.0.0.2:9500"


@pytest.mark.parametrize("reset", [ConnectionResetError(104, "x"), ConnectionAbortedError()])
def test_reset_during_https_connect_is_a_tls_handshake_failure(reset: OSError) -> None:
    f = failure(aiohttp.ClientConnectorError(key(), reset), HTTPS)
    assert f.reason == "tls" and "client certificate" in f.detail


def test_reset_during_http_connect_is_a_connect_failure() -> None:
    exc = aiohttp.ClientConnectorError(key(), ConnectionResetError(104, "reset by peer"))
    f = failure(exc, HTTP)
    assert said(f) == ("connect", "cannot connect to 127.0.0.2:9500: reset by peer")


def test_other_connector_error_quotes_the_os_error() -> None:
    exc = aiohttp.ClientConnectorError(key(), OSError(113, "No route to host"))
    assert failure(exc, HTTP).detail == "cannot connect to 127.0.0.2:9500: No route to host"


def test_connector_error_without_os_error_text() -> None:
    f = failure(aiohttp.ClientConnectorError(key(), OSError()), HTTP)
    assert f.reason == "connect" and f.detail.startswith("cannot connect to 127.0.0.2:9500: ")


def test_too_many_redirects() -> None:
    exc = aiohttp.TooManyRedirects(request_info(), ())
    assert said(failure(exc)) == ("http_status", "stopped after 10 redirects")


def test_redirect_to_an_invalid_url() -> None:
    f = failure(aiohttp.InvalidUrlRedirectClientError("http://[bad"))
    assert said(f) == ("invalid_url", "redirect to an invalid URL: http://[bad")


def test_redirect_to_a_non_http_url() -> None:
    f = failure(aiohttp.NonHttpUrlRedirectClientError("ftp://x/"))
    assert said(f) == ("invalid_url", "redirect to a non-HTTP URL: ftp://x/")


def test_server_disconnect_over_https_mentions_client_certificates() -> None:
    f = failure(aiohttp.ServerDisconnectedError(), HTTPS)
    assert f.reason == "protocol" and "client certificate" in f.detail
    plain = failure(aiohttp.ServerDisconnectedError(), HTTP)
    assert plain.detail == "127.0.0.1:9400 closed the connection before a full response"


def test_payload_error() -> None:
    f = failure(aiohttp.ClientPayloadError("truncated chunk"), HTTP)
    assert said(f) == (
        "protocol",
        "malformed or incomplete body from 127.0.0.1:9400: truncated chunk",
    )


def test_malformed_response() -> None:
    exc = aiohttp.ClientResponseError(request_info(), (), status=400, message="bad header")
    f = failure(exc, HTTP)
    assert said(f) == ("protocol", "malformed HTTP response from 127.0.0.1:9400: bad header")


@pytest.mark.parametrize("exc", [OSError(32, "Broken pipe"), ConnectionResetError(104, "reset")])
def test_a_bare_os_error_is_a_connect_failure(exc: OSError) -> None:
    f = failure(exc, HTTP)
    assert f.reason == "connect"
    assert f.detail == f"connection to 127.0.0.1:9400 failed: {exc.strerror}"


def test_an_os_error_without_text_names_its_type() -> None:
    assert failure(OSError(), HTTP).detail == "connection to 127.0.0.1:9400 failed: OSError"


def test_any_other_client_error_is_a_protocol_failure() -> None:
    f = failure(aiohttp.ClientError("odd"), HTTP)
    assert said(f) == ("protocol", "ClientError from 127.0.0.1:9400: odd")


def test_ipv6_addresses_are_bracketed() -> None:
    assert host_port("::1", 9400) == "[::1]:9400"
    assert host_port("127.0.0.1", 9400) == "127.0.0.1:9400"
    f = failure(aiohttp.ServerDisconnectedError(), URL("http://[::1]:9400/metrics"))
    assert f.detail.startswith("[::1]:9400 closed")
