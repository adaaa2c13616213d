"""What the HTTP-auth room reads from a peer's configuration: TLS, basic auth, authorization.

The members are read-only properties, so frozen pydantic models, plain
dataclasses and anything else with these attributes satisfy the protocols.
"""

from __future__ import annotations

from typing import Protocol

from pydantic import SecretStr

from openagent.httpauth.secrets import SecretRefLike


class TLSLike(Protocol):
    """TLS settings of one endpoint (Prometheus ``tls_config``)."""

    @property
    def ca_file(self) -> str | None: ...
    @property
    def cert_file(self) -> str | None: ...
    @property
    def key_file(self) -> str | None: ...
    @property
    def ca_secret(self) -> SecretRefLike | None: ...
    @property
    def cert_secret(self) -> SecretRefLike | None: ...
    @property
    def key_secret(self) -> SecretRefLike | None: ...
    @property
    def insecure_skip_verify(self) -> bool: ...
    @property
    def server_name(self) -> str | None: ...


class BasicAuthLike(Protocol):
    """HTTP basic authentication of one endpoint."""

    @property
    def username(self) -> str | None: ...
    @property
    def username_secret(self) -> SecretRefLike | None: ...
    @property
    def password(self) -> SecretStr | None: ...
    @property
    def password_secret(self) -> SecretRefLike | None: ...
    @property
    def password_file(self) -> str | None: ...


class AuthorizationLike(Protocol):
    """An ``Authorization: <type> <credentials>`` header of one endpoint."""

    @property
    def type(self) -> str: ...
    @property
    def credentials(self) -> SecretStr | None: ...
    @property
    def credentials_file(self) -> str | None: ...
    @property
    def credentials_env(self) -> str | None: ...
    @property
    def credentials_secret(self) -> SecretRefLike | None: ...


class ClientAuthLike(Protocol):
    """The auth and TLS settings of one HTTP peer: a scrape endpoint or a remote-write receiver.

    At most one of ``basic_auth``, ``authorization`` and ``bearer_token_file``
    may be set; ``tls_config`` applies to https URLs only.
    """

    @property
    def tls_config(self) -> TLSLike | None: ...
    @property
    def basic_auth(self) -> BasicAuthLike | None: ...
    @property
    def authorization(self) -> AuthorizationLike | None: ...
    @property
    def bearer_token_file(self) -> str | None: ...
