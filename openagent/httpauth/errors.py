"""The one exception of the HTTP-auth room: credentials or TLS material that cannot be used."""

from __future__ import annotations

from typing import Literal

#: What failed: the Authorization header (``auth``) or the TLS context (``tls``).
CredentialKind = Literal["auth", "tls"]


class CredentialError(Exception):
    """A request cannot be made with the configured credentials or TLS settings.

    ``kind`` says which part failed; ``detail`` is text for an operator that
    names the setting, file or Secret at fault and never the credential.
    The scrape client turns it into a failed scrape, remote write into a
    retryable send error.
    """

    def __init__(self, kind: CredentialKind, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind: CredentialKind = kind
        self.detail = detail
