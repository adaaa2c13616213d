"""HTTP client configuration shared by scraping and remote write: authorization and TLS.

`HTTPAuth` is what the scrape client and the remote-write sink hold: for a
peer's settings (`ClientAuthLike`) it gives the ``Authorization`` header to
send (basic auth, a bearer token file, or a typed credential from a literal,
a file, a variable or a Kubernetes Secret) and the `ssl.SSLContext` to
connect with. Files and Secrets are re-read when they change, so rotated
credentials and certificates take effect on the next request. Failures raise
`CredentialError`, whose text names the setting and never the credential;
`scrub` removes the credentials sent from texts that came back from a peer.

The room imports no other room: Secrets are read through the `SecretResolver`
that the shell wires (`NoSecrets` when no cluster is configured).
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable

from openagent.httpauth.authorization import AuthResolver, Credentials
from openagent.httpauth.errors import CredentialError, CredentialKind
from openagent.httpauth.files import WatchedFiles
from openagent.httpauth.secrets import (
    NoSecrets,
    SecretError,
    SecretRefLike,
    SecretResolver,
    describe_ref,
)
from openagent.httpauth.shapes import AuthorizationLike, BasicAuthLike, ClientAuthLike, TLSLike
from openagent.httpauth.tls import TLSContexts

__all__ = [
    "AuthorizationLike",
    "BasicAuthLike",
    "ClientAuthLike",
    "CredentialError",
    "CredentialKind",
    "Credentials",
    "HTTPAuth",
    "NoSecrets",
    "SecretError",
    "SecretRefLike",
    "SecretResolver",
    "TLSLike",
    "describe_ref",
    "scrub",
]

REDACTED = "<redacted>"


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of the given secrets replaced by ``<redacted>``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text


class HTTPAuth:
    """Authorization headers and TLS contexts for HTTP peers, with their files and Secrets."""

    def __init__(self, secrets: SecretResolver | None = None) -> None:
        resolver = secrets if secrets is not None else NoSecrets()
        self._auth = AuthResolver(resolver, WatchedFiles())
        self._tls = TLSContexts(resolver)

    async def credentials(self, peer: ClientAuthLike) -> Credentials | None:
        """The ``Authorization`` header for ``peer``, None when it configures none.

        Raises `CredentialError` (``auth``).
        """
        return await self._auth.resolve(peer)

    async def tls(self, peer: ClientAuthLike) -> tuple[ssl.SSLContext, str | None]:
        """The TLS context for an https connection to ``peer``, and the name to verify.

        The name is ``tls_config.server_name`` when set, else None (the URL's
        host). Raises `CredentialError` (``tls``).
        """
        config = peer.tls_config
        context = await self._tls.context(config)
        return context, (config.server_name or None) if config is not None else None
