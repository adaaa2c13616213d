"""The Prometheus remote-write 1.0 sink.

``encode`` appends a result's samples, then a staleness marker for each of
its stale series, to the open ``WriteRequest`` (see `openagent.sinks.prompb`).
A request closes when it holds ``max_samples`` samples or ``max_bytes``
uncompressed bytes (a soft limit: it may pass it by one chunk of at most
`CHUNK` samples), or when it has been open ``max_batch_delay`` seconds; the
delivery layer calls ``flush`` on that schedule. With ``max_batch_delay`` 0
nothing is held back: each ``encode`` returns all it appended. A closed
request is compressed with the snappy *block* format (receivers reject the
framed one) and becomes a `Batch` whose payload is the HTTP body, ready to
spool.

``send`` POSTs one batch and classifies the outcome for the delivery layer,
which owns retries and the spool: 2xx is done; a connection error, a timeout
or a 5xx is retryable; 429 is retryable after the receiver's ``Retry-After``;
any other 4xx is permanent and carries the start of the receiver's answer.
Basic auth, bearer token files and TLS reuse the scrape client's resolvers,
so credential files and certificates are re-read when they change.
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import ssl
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import aiohttp
import cramjam
from yarl import URL

from openagent import __version__
from openagent.httpauth.authorization import AuthResolver
from openagent.httpauth.shapes import AuthorizationLike, NoSecrets, SecretRefLike
from openagent.httpauth.tls import TLSContexts
from openagent.model import ScrapeResult
from openagent.scrape.errors import ScrapeFailure
from openagent.sinks.base import Batch, SinkError
from openagent.sinks.prompb import WriteRequestBuilder

if TYPE_CHECKING:
    from openagent.settings import Settings

#: Samples appended between two checks of the byte limit.
CHUNK: Final = 1000
#: How much of a receiver's error answer is quoted.
MESSAGE_CHARS: Final = 200
MiB: Final = 1024 * 1024

HEADERS: Final = {
    "Content-Encoding": "snappy",
    "Content-Type": "application/x-protobuf",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
    "User-Agent": f"openagent/{__version__}",
}


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delay seconds or an HTTP date).

    A date in the past gives 0; a missing or unreadable value gives None.
    """
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def classify(
    status: int, message: str, retry_after: str | None = None, *, where: str = "receiver"
) -> SinkError | None:
    """The `SinkError` for a receiver's answer, None when it took the batch.

    ``message`` is the start of the answer's body, ``retry_after`` its
    ``Retry-After`` header, ``where`` names the receiver in the error text.
    """
    if 200 <= status < 300:
        return None
    text = f"{where} answered {status}" + (f": {message}" if message else "")
    if status == 429 or status >= 500:
        return SinkError(text, retryable=True, retry_after=parse_retry_after(retry_after))
    return SinkError(text, retryable=False)


@dataclass(frozen=True, slots=True)
class RemoteWriteTLS:
    """TLS settings of the receiver connection (the scrape client's `TLSLike`)."""

    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    insecure_skip_verify: bool = False
    server_name: str | None = None
    ca_secret: SecretRefLike | None = None
    cert_secret: SecretRefLike | None = None
    key_secret: SecretRefLike | None = None


@dataclass(frozen=True, slots=True)
class _BasicAuth:
    username: str | None
    password_file: str | None
    username_secret: SecretRefLike | None = None
    password: None = None
    password_secret: SecretRefLike | None = None


@dataclass(frozen=True, slots=True)
class _Receiver:
    """The receiver as the scrape client's auth and TLS resolvers see an endpoint."""

    scheme: str
    timeout: float
    tls_config: RemoteWriteTLS | None
    basic_auth: _BasicAuth | None
    bearer_token_file: str | None
    authorization: AuthorizationLike | None = None
    body_size_limit: int = 0


def _check_url(url: str) -> URL:
    try:
        parsed = URL(url)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"remote write URL {url!r} cannot be parsed: {exc}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(f"remote write URL must be http:// or https:// with a host, got {url!r}")
    if parsed.user is not None:
        raise ValueError("remote write URL must not carry credentials; use the username setting")
    return parsed


class RemoteWriteSink:
    """Sends samples to a Prometheus remote-write 1.0 receiver."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 30.0,
        max_samples: int = 10_000,
        max_bytes: int = 4 * MiB,
        max_batch_delay: float = 1.0,
        username: str | None = None,
        password_file: str | None = None,
        bearer_token_file: str | None = None,
        tls: RemoteWriteTLS | None = None,
    ) -> None:
        self.name = "remote_write"
        self.url = _check_url(url)
        if not timeout > 0:
            raise ValueError(f"remote write timeout must be positive, got {timeout!r}")
        if max_samples < 1 or max_bytes < 1:
            raise ValueError("remote write max_samples and max_bytes must be at least 1")
        if not max_batch_delay >= 0:
            raise ValueError(f"remote write batch delay must be >= 0, got {max_batch_delay!r}")
        basic = _BasicAuth(username, password_file) if username or password_file else None
        if basic is not None and bearer_token_file:
            raise ValueError("remote write: set basic auth or a bearer token file, not both")
        if tls is not None:
            if bool(tls.cert_file) != bool(tls.key_file):
                raise ValueError("remote write TLS: a client certificate needs both cert and key")
            if self.url.scheme != "https":
                raise ValueError(f"remote write TLS settings need an https:// URL, got {url!r}")
        self.timeout = timeout
        self.max_samples = max_samples
        self.max_bytes = max_bytes
        self.max_batch_delay = max_batch_delay
        self._receiver = _Receiver(self.url.scheme, timeout, tls, basic, bearer_token_file)
        self._auth = AuthResolver(NoSecrets())
        self._tls = TLSContexts(NoSecrets())
        self._session: aiohttp.ClientSession | None = None
        self._builder = WriteRequestBuilder()
        self._opened = 0.0

    @classmethod
    def from_settings(cls, settings: Settings) -> RemoteWriteSink:
        """Build the sink from the ``remote_write_*`` settings; ValueError names what is wrong."""
        s = settings
        if not s.remote_write_url:
            raise ValueError(
                "the remote_write sink needs a receiver URL: set OPENAGENT_REMOTE_WRITE_URL "
                "or --remote-write-url"
            )
        tls = None
        if any((s.remote_write_ca_file, s.remote_write_cert_file, s.remote_write_key_file)) or (
            s.remote_write_insecure_skip_verify or s.remote_write_server_name
        ):
            tls = RemoteWriteTLS(
                ca_file=s.remote_write_ca_file,
                cert_file=s.remote_write_cert_file,
                key_file=s.remote_write_key_file,
                insecure_skip_verify=s.remote_write_insecure_skip_verify,
                server_name=s.remote_write_server_name,
            )
        return cls(
            s.remote_write_url,
            timeout=s.remote_write_timeout,
            max_samples=s.remote_write_max_samples,
            max_bytes=s.remote_write_max_bytes,
            max_batch_delay=s.remote_write_batch_delay,
            username=s.remote_write_username,
            password_file=s.remote_write_password_file,
            bearer_token_file=s.remote_write_bearer_token_file,
            tls=tls,
        )

    # -- encoding --------------------------------------------------------------

    def encode(self, result: ScrapeResult) -> list[Batch]:
        """Append the result's samples and stale markers; return the requests that filled up."""
        out: list[Batch] = []
        b = self._builder
        if b.samples and time.monotonic() - self._opened >= self.max_batch_delay:
            out.append(self._close())
        series, values, stamps = result.series, result.values, result.timestamps
        n, i = len(series), 0
        while i < n:
            b = self._open()
            j = min(n, i + min(CHUNK, self.max_samples - b.samples))
            whole = i == 0 and j == n
            part = series if whole else series[i:j]
            vals = values if whole else values[i:j]
            if stamps is None:
                b.add_samples(part, vals, result.timestamp_ms)
            else:
                b.add_timestamped(part, vals, stamps if whole else stamps[i:j])
            i = j
            if b.samples >= self.max_samples or len(b) >= self.max_bytes:
                out.append(self._close())
        stale, n, i = result.stale, len(result.stale), 0
        while i < n:
            b = self._open()
            j = min(n, i + min(CHUNK, self.max_samples - b.samples))
            b.add_stale(stale if i == 0 and j == n else stale[i:j], result.timestamp_ms)
            i = j
            if b.samples >= self.max_samples or len(b) >= self.max_bytes:
                out.append(self._close())
        if self.max_batch_delay == 0 and self._builder.samples:
            out.append(self._close())  # nothing is held back
        return out

    def flush(self) -> list[Batch]:
        """Close the open request, if it holds anything."""
        return [self._close()] if self._builder.samples else []

    def _open(self) -> WriteRequestBuilder:
        if not self._builder.samples:
            self._opened = time.monotonic()
        return self._builder

    def _close(self) -> Batch:
        b, self._builder = self._builder, WriteRequestBuilder()
        payload = bytes(cramjam.snappy.compress_raw(b.buf))
        assert b.oldest_ms is not None
        return Batch(payload, b.samples, b.oldest_ms)

    # -- delivery --------------------------------------------------------------

    async def start(self) -> None:
        """Open the connection pool."""
        self._get_session()

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=4, keepalive_timeout=60.0),
                trust_env=False,
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=True,
                raise_for_status=False,
            )
        return self._session

    async def send(self, batch: Batch) -> None:
        """POST one batch; raise `SinkError` (retryable or not) unless the receiver took it."""
        secrets: tuple[str, ...] = ()
        where = f"remote write to {self.url.host}:{self.url.port}"
        try:
            async with asyncio.timeout(self.timeout):
                headers = dict(HEADERS)
                credentials = await self._auth.resolve(self._receiver)
                if credentials is not None:
                    headers["Authorization"] = credentials.header
                    secrets = credentials.secrets
                sslctx: ssl.SSLContext | bool = True
                server_name = None
                if self.url.scheme == "https":
                    tls = self._receiver.tls_config
                    sslctx = await self._tls.context(tls)
                    server_name = tls.server_name if tls is not None else None
                async with self._get_session().post(
                    self.url,
                    data=batch.payload,
                    headers=headers,
                    ssl=sslctx,
                    server_hostname=server_name or None,
                ) as resp:
                    if 200 <= resp.status < 300:
                        await resp.read()
                        return
                    message = await _message(resp)
                    retry_after = resp.headers.get("Retry-After")
        except ScrapeFailure as exc:
            raise SinkError(f"{where}: {_scrub(exc.detail, secrets)}", retryable=True) from None
        except TimeoutError:
            text = f"{where}: no answer within {self.timeout:g}s"
            raise SinkError(text, retryable=True) from None
        except (aiohttp.ClientError, OSError) as exc:
            detail = _scrub(str(exc) or type(exc).__name__, secrets)
            raise SinkError(f"{where}: {detail}", retryable=True) from None
        error = classify(resp.status, _scrub(message, secrets), retry_after, where=where)
        assert error is not None
        raise error

    async def close(self) -> None:
        """Close the connection pool (``flush`` first: nothing is sent from here)."""
        if self._session is not None:
            await self._session.close()
            self._session = None


async def _message(resp: aiohttp.ClientResponse) -> str:
    """The start of an error answer, on one line, printable."""
    try:
        data = await resp.content.read(MESSAGE_CHARS * 4)
    except (aiohttp.ClientError, OSError):
        return ""
    text = " ".join(data.decode("utf-8", "replace").split())
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text[:MESSAGE_CHARS] + ("…" if len(text) > MESSAGE_CHARS else "")


def _scrub(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<redacted>")
    return text
