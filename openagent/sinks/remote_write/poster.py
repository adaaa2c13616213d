"""One remote-write POST: credentials, TLS, a timeout, redirects by `redirects`' rule.

`Poster.post` returns the receiver's `Answer`, whatever its status; it
raises a retryable `SinkError` only when there was no answer (connection
error, timeout, credentials that cannot be read). aiohttp never follows a
redirect on its own (``allow_redirects=False``): a 307 or 308 to the same
origin is sent again here, with the body and the same credentials; any
other redirect is returned, with its target in ``Answer.location``.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Final

import aiohttp
from yarl import URL

from openagent import __version__
from openagent.httpauth import ClientAuthLike, CredentialError, HTTPAuth, scrub
from openagent.sinks.base import SinkError
from openagent.sinks.remote_write.answers import Answer, read_message
from openagent.sinks.remote_write.redirects import next_hop, shown

HEADERS: Final = {
    "Content-Encoding": "snappy",
    "Content-Type": "application/x-protobuf",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
    "User-Agent": f"openagent/{__version__}",
}


class Poster:
    """POSTs payloads to one receiver over a pooled connection."""

    def __init__(self, url: URL, timeout: float, auth: HTTPAuth, receiver: ClientAuthLike) -> None:
        self.url = url
        self.timeout = timeout
        self.where = f"remote write to {url.host}:{url.port}"
        self._auth = auth
        self._receiver = receiver
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        """The connection pool, opened on first use."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=4, keepalive_timeout=60.0),
                trust_env=False,
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=True,
                raise_for_status=False,
            )
        return self._session

    async def post(self, payload: bytes) -> Answer:
        """POST ``payload``; the answer, or a retryable `SinkError` when none came."""
        secrets: tuple[str, ...] = ()
        try:
            async with asyncio.timeout(self.timeout):
                headers = dict(HEADERS)
                credentials = await self._auth.credentials(self._receiver)
                if credentials is not None:
                    headers["Authorization"] = credentials.header
                    secrets = credentials.secrets
                answer = await self._post(payload, headers)
        except CredentialError as exc:
            raise SinkError(f"{self.where}: {exc.detail}", retryable=True) from None
        except TimeoutError:
            text = f"{self.where}: no answer within {self.timeout:g}s"
            raise SinkError(text, retryable=True) from None
        except (aiohttp.ClientError, OSError) as exc:
            detail = scrub(str(exc) or type(exc).__name__, secrets)
            raise SinkError(f"{self.where}: {detail}", retryable=True) from None
        if secrets and (answer.message or answer.location):
            location = answer.location and scrub(answer.location, secrets)
            message = scrub(answer.message, secrets)
            answer = Answer(answer.status, message, answer.retry_after, location)
        return answer

    async def _post(self, payload: bytes, headers: dict[str, str]) -> Answer:
        """POST to the receiver, following same-origin 307/308 redirects (bounded)."""
        sslctx: ssl.SSLContext | bool = True
        server_name = None
        if self.url.scheme == "https":
            sslctx, server_name = await self._auth.tls(self._receiver)
        url, hops = self.url, 0
        while True:
            async with self.session().post(
                url,
                data=payload,
                headers=headers,
                ssl=sslctx,
                server_hostname=server_name,
                allow_redirects=False,
            ) as resp:
                if 200 <= resp.status < 300:
                    await resp.read()
                    return Answer(resp.status)
                location = resp.headers.get("Location")
                if 300 <= resp.status < 400:
                    target = next_hop(url, resp.status, location, hops)
                    if target is not None:
                        url, hops = target, hops + 1
                        continue
                message = await read_message(resp)
                return Answer(
                    resp.status,
                    message,
                    resp.headers.get("Retry-After"),
                    shown(url, location) if 300 <= resp.status < 400 else None,
                )

    async def close(self) -> None:
        """Close the connection pool."""
        if self._session is not None:
            await self._session.close()
            self._session = None
