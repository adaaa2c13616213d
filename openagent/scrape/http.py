"""The HTTP client that fetches one target's body.

One pooled `aiohttp.ClientSession` serves every target, so keep-alive
connections are reused from scrape to scrape; different TLS settings get
different `ssl.SSLContext` objects and therefore separate pools.

Choices worth knowing:

* ``trust_env=False``: proxy variables and ``~/.netrc`` are ignored. Targets
  are pod and node addresses inside the cluster; proxy settings meant for the
  agent's outbound traffic must not reroute scrapes, and netrc must not add
  credentials to targets that did not configure them.
* Cookies are never stored, so nothing set by one target reaches another.
* Redirects are followed (at most 10, as Prometheus does). aiohttp drops the
  Authorization header when a redirect leaves the original origin (scheme,
  host and port), so credentials only ever reach the configured target.
* Responses are not decompressed by aiohttp: `read_body` does it under the
  body limit. Only gzip is requested.
* The whole fetch (credentials, connect, headers, body, redirects) runs under
  one deadline.
* A URL is sent as given (already percent-encoded); the caller builds it.
* The delimited protobuf exposition is asked for only with
  ``enable_protobuf`` (off by default, as the Go agent's
  ``openagent_enable_protobuf``): `PROTOBUF_ACCEPT` lists it first, then
  what `ACCEPT` lists, in the Go agent's order. Whatever the header, the
  scrape loop parses the body as its Content-Type says.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from typing import Final, Protocol

import aiohttp
from yarl import URL

from openagent.httpauth import ClientAuthLike, CredentialError, HTTPAuth
from openagent.scrape.classify import classify
from openagent.scrape.errors import REASONS, ScrapeFailure
from openagent.scrape.response_body import read_body

__all__ = [
    "ACCEPT",
    "PROTOBUF_ACCEPT",
    "REASONS",
    "EndpointLike",
    "FetchResult",
    "ScrapeClient",
    "ScrapeFailure",
]

#: OpenMetrics first, then the Prometheus text format 0.0.4, then anything.
ACCEPT: Final = (
    "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4,*/*;q=0.1"
)
#: Delimited protobuf first, then OpenMetrics 1.0.0, text 0.0.4 and anything, as the Go agent
#: asks with ``openagent_enable_protobuf`` (q values strictly falling, so every server that
#: honours them picks the same one).
PROTOBUF_ACCEPT: Final = (
    "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;"
    "q=0.6,"
    "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4,*/*;q=0.1"
)
MAX_REDIRECTS: Final = 10
#: How much of an error response's body is quoted in the failure.
_SNIPPET_CHARS: Final = 200


class EndpointLike(ClientAuthLike, Protocol):
    """The per-endpoint settings the scrape client needs, besides auth and TLS.

    ``scheme`` is informational: the URL passed to the client is authoritative.
    ``body_size_limit`` of 0 means the client's default.
    """

    @property
    def scheme(self) -> str: ...
    @property
    def timeout(self) -> float: ...
    @property
    def body_size_limit(self) -> int: ...


@dataclass(slots=True)
class FetchResult:
    """A fetched body. ``body_bytes`` counts bytes received, ``uncompressed_bytes`` the body."""

    body: bytes
    content_type: str | None
    status: int
    body_bytes: int
    uncompressed_bytes: int


class ScrapeClient:
    """Fetches target bodies over one shared connection pool.

    ``connector_limit`` bounds connections in use at once (idle keep-alive
    connections do not count); ``limit_per_host`` bounds them per target
    address and TLS settings. Idle connections are kept ``keepalive_timeout``
    seconds, longer than common scrape intervals so that they are reused. A
    client belongs to the event loop it is first used in. ``enable_protobuf``
    sends `PROTOBUF_ACCEPT` instead of `ACCEPT`.
    """

    def __init__(
        self,
        *,
        default_body_limit: int,
        user_agent: str,
        auth: HTTPAuth | None = None,
        connector_limit: int = 256,
        limit_per_host: int = 4,
        keepalive_timeout: float = 300.0,
        enable_protobuf: bool = False,
    ) -> None:
        if default_body_limit <= 0:
            raise ValueError(f"default_body_limit must be positive, got {default_body_limit}")
        self._default_limit = default_body_limit
        self._user_agent = user_agent
        self.accept = PROTOBUF_ACCEPT if enable_protobuf else ACCEPT
        self._connector_limit = connector_limit
        self._limit_per_host = limit_per_host
        self._keepalive = keepalive_timeout
        self._auth = auth if auth is not None else HTTPAuth()
        self._session: aiohttp.ClientSession | None = None
        # parsed target URLs: parsing one cost about 4 % of the CPU of a 300-target agent
        self._urls: dict[str, URL] = {}

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._connector_limit,
                limit_per_host=self._limit_per_host,
                keepalive_timeout=self._keepalive,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=False,
                trust_env=False,
                cookie_jar=aiohttp.DummyCookieJar(),
                timeout=aiohttp.ClientTimeout(total=None),
                raise_for_status=False,
                read_bufsize=1 << 18,
            )
        return self._session

    async def fetch(
        self,
        url: str,
        endpoint: EndpointLike,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 (per-scrape adaptive timeout)
    ) -> FetchResult:
        """GET ``url`` with the endpoint's TLS and auth settings and return the body.

        ``timeout`` (seconds) overrides ``endpoint.timeout`` and bounds the whole
        fetch. Raises `ScrapeFailure` for every failure of the scrape itself;
        its text never contains a credential.
        """
        seconds = endpoint.timeout if timeout is None else timeout
        if not seconds > 0:
            raise ValueError(f"scrape timeout must be positive, got {seconds!r}")
        target = self._urls.get(url)
        if target is None:
            if len(self._urls) >= _URL_CACHE_LIMIT:
                self._urls.clear()
            target = self._urls[url] = _parse_url(url)
        limit = endpoint.body_size_limit if endpoint.body_size_limit > 0 else self._default_limit
        secrets: tuple[str, ...] = ()
        phase = "resolving credentials"
        try:
            async with asyncio.timeout(seconds):
                credentials = await self._auth.credentials(endpoint)
                headers = {
                    "Accept": self.accept,
                    "Accept-Encoding": "gzip",
                    "User-Agent": self._user_agent,
                    "X-Prometheus-Scrape-Timeout-Seconds": _format_seconds(seconds),
                }
                if credentials is not None:
                    headers["Authorization"] = credentials.header
                    secrets = credentials.secrets
                sslctx: ssl.SSLContext | bool = True
                server_hostname = None
                if target.scheme == "https":
                    phase = "loading TLS settings"
                    sslctx, server_hostname = await self._auth.tls(endpoint)
                phase = "connecting or waiting for the response headers"
                async with self._get_session().get(
                    target,
                    headers=headers,
                    ssl=sslctx,
                    server_hostname=server_hostname,
                    max_redirects=MAX_REDIRECTS + 1,
                ) as resp:
                    try:
                        if not 200 <= resp.status < 300:
                            raise await _status_failure(resp)
                        phase = "reading the body"
                        body, received = await read_body(resp, limit)
                    except BaseException:
                        resp.close()
                        raise
                    return FetchResult(
                        body=body,
                        content_type=resp.headers.get("Content-Type"),
                        status=resp.status,
                        body_bytes=received,
                        uncompressed_bytes=len(body),
                    )
        except ScrapeFailure as exc:
            raise exc.scrubbed(secrets) from None
        except CredentialError as exc:
            raise ScrapeFailure(exc.kind, exc.detail) from None
        except TimeoutError:
            raise ScrapeFailure(
                "timeout", f"no complete response within {_format_seconds(seconds)}s ({phase})"
            ) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise classify(exc, target, max_redirects=MAX_REDIRECTS).scrubbed(secrets) from None

    async def close(self) -> None:
        """Close the pooled connections; a later fetch opens a new pool."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> ScrapeClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


#: Parsed URLs kept before the cache starts over.
_URL_CACHE_LIMIT = 100_000


def _format_seconds(seconds: float) -> str:
    return f"{seconds:.3f}".rstrip("0").rstrip(".")


def _parse_url(url: str) -> URL:
    if not url.isascii() or not url.isprintable() or any(c.isspace() for c in url):
        raise ScrapeFailure(
            "invalid_url", "URL must be percent-encoded ASCII without spaces or control characters"
        )
    try:
        parsed = URL(url, encoded=True)
    except (ValueError, TypeError) as exc:
        raise ScrapeFailure("invalid_url", f"cannot parse URL: {exc}") from None
    if parsed.user is not None or parsed.password is not None:
        raise ScrapeFailure(
            "invalid_url", "credentials in the URL are not supported; configure basic_auth"
        )
    if parsed.scheme not in ("http", "https"):
        raise ScrapeFailure(
            "invalid_url", f"URL scheme must be http or https, not {parsed.scheme!r}: {url}"
        )
    if not parsed.host:
        raise ScrapeFailure("invalid_url", f"URL has no host: {url}")
    return parsed


async def _status_failure(resp: aiohttp.ClientResponse) -> ScrapeFailure:
    """An ``http_status`` failure quoting the status line and the start of the body."""
    line = f"HTTP {resp.status} {resp.reason or ''}".rstrip()
    snippet = ""
    if resp.headers.get("Content-Encoding", "identity").lower() == "identity":
        try:
            async with asyncio.timeout(1.0):
                data = await resp.content.read(_SNIPPET_CHARS * 4)
        except (TimeoutError, aiohttp.ClientError, OSError):
            data = b""
        text = " ".join(data.decode("utf-8", "replace").split())
        text = "".join(c if c.isprintable() else "?" for c in text)
        snippet = text[:_SNIPPET_CHARS] + ("…" if len(text) > _SNIPPET_CHARS else "")
    return ScrapeFailure("http_status", f"{line}: {snippet}" if snippet else line)
