"""Turning what aiohttp or the socket raised into a `ScrapeFailure`: a reason and a short text.

The exceptions are read defensively: aiohttp builds its TLS errors from
others (``ClientConnectorSSLError`` is an ``ssl.SSLError`` by inheritance
only, so it has no ``reason``; a ``ClientConnectorCertificateError`` may hold
any exception), and a classifier that raised would turn one target's failed
scrape into a crash of its scrape loop. Every attribute is therefore looked
up with a fallback, and the innermost ``ssl.SSLError`` that OpenSSL itself
raised is preferred to its wrappers.
"""

from __future__ import annotations

import ssl

import aiohttp
from yarl import URL

from openagent.scrape.errors import ScrapeFailure

#: OpenSSL's reasons when the other side answered the TLS hello with something that is not
#: TLS, which is what a plain-HTTP endpoint does.
_NOT_TLS = frozenset({"WRONG_VERSION_NUMBER", "PACKET_LENGTH_TOO_LONG", "HTTP_REQUEST"})


def host_port(host: str | None, port: int | None) -> str:
    """``host:port``, with brackets around an IPv6 host."""
    host = host or ""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _ssl_error_in(exc: BaseException) -> ssl.SSLError | None:
    """The SSLError behind ``exc``: a connector's own OS error first, then the cause chain."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, aiohttp.ClientConnectorError) and isinstance(
            current.os_error, ssl.SSLError
        ):
            return current.os_error
        if isinstance(current, ssl.SSLError):
            return current
        current = current.__cause__ or current.__context__
    return None


def _str(error: BaseException) -> str:
    """``str(error)``, or its type's name when that is empty or fails (aiohttp's ``__str__``
    reads the connection key, which an exception built by hand may lack)."""
    try:
        return str(error) or type(error).__name__
    except Exception:
        return type(error).__name__


def _text(error: BaseException) -> str:
    """What went wrong, in OpenSSL's words when it has them, never empty."""
    for attribute in ("reason", "verify_message", "strerror"):
        value = getattr(error, attribute, None)
        if isinstance(value, str) and value:
            return value
    return _str(error)


def _tls_failure(error: ssl.SSLError, where: str) -> ScrapeFailure:
    reason = _text(error)
    hint = ""
    if getattr(error, "reason", None) in _NOT_TLS:
        hint = " (the endpoint does not speak TLS; if it serves plain HTTP, set scheme: http)"
    return ScrapeFailure("tls", f"TLS with {where} failed: {reason}{hint}")


def _where(exc: BaseException, url: URL) -> str:
    # Connector errors name the address actually dialled, which differs after a redirect.
    if isinstance(exc, aiohttp.ClientConnectorError):
        try:
            return host_port(exc.host, exc.port)
        except (AttributeError, IndexError, TypeError):  # built without a connection key
            pass
    return host_port(url.host, url.port)


def classify(exc: aiohttp.ClientError | OSError, url: URL, *, max_redirects: int) -> ScrapeFailure:
    """Map a client or socket error to a failure reason and a short explanation."""
    where = _where(exc, url)
    # A TLS server that rejects the client certificate (or its absence) may just close or
    # reset the connection; with TLS 1.3 it does so after the client's handshake is done.
    hint = (
        " (a TLS server also does this when it rejects the client certificate or its absence)"
        if url.scheme == "https"
        else ""
    )
    if isinstance(exc, aiohttp.TooManyRedirects):
        return ScrapeFailure("http_status", f"stopped after {max_redirects} redirects")
    if isinstance(exc, aiohttp.InvalidURL):
        return ScrapeFailure("invalid_url", f"redirect to an invalid URL: {exc.url}")
    if isinstance(exc, aiohttp.NonHttpUrlRedirectClientError):
        return ScrapeFailure("invalid_url", f"redirect to a non-HTTP URL: {_str(exc)}")
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        message = _text(getattr(exc, "certificate_error", None) or exc)
        return ScrapeFailure("tls", f"certificate of {where} not accepted: {message}")
    ssl_error = _ssl_error_in(exc)
    if ssl_error is not None:
        return _tls_failure(ssl_error, where)
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return ScrapeFailure("connect", f"cannot resolve host {url.host}")
    if isinstance(exc, aiohttp.ClientConnectorError):
        os_error = getattr(exc, "os_error", None)
        if url.scheme == "https" and isinstance(
            os_error, ConnectionResetError | ConnectionAbortedError
        ):
            # A refused TCP connect is ECONNREFUSED; a reset comes after it, in the handshake.
            return ScrapeFailure(
                "tls", f"TLS handshake with {where} failed: connection closed by the server{hint}"
            )
        if isinstance(os_error, ConnectionRefusedError):
            return ScrapeFailure("connect", f"connection refused to {where}")
        return ScrapeFailure("connect", f"cannot connect to {where}: {_text(exc)}")
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return ScrapeFailure(
            "protocol", f"{where} closed the connection before a full response{hint}"
        )
    if isinstance(exc, aiohttp.ClientPayloadError):
        return ScrapeFailure("protocol", f"malformed or incomplete body from {where}: {_str(exc)}")
    if isinstance(exc, aiohttp.ClientResponseError):
        return ScrapeFailure("protocol", f"malformed HTTP response from {where}: {exc.message}")
    if isinstance(exc, OSError):
        return ScrapeFailure("connect", f"connection to {where} failed: {_text(exc)}{hint}")
    return ScrapeFailure("protocol", f"{type(exc).__name__} from {where}: {_str(exc)}")
