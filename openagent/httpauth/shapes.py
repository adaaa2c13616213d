"""What the HTTP client reads from an endpoint's configuration, and how it reads Secrets.

The members are read-only properties, so frozen pydantic models, plain
dataclasses and anything else with these attributes satisfy the protocols.
"""

from __future__ import annotations

from typing import Protocol

from pydantic import SecretStr


class SecretRefLike(Protocol):
    """A reference to one key of a Kubernetes Secret."""

    @property
    def name(self) -> str: ...
    @property
    def key(self) -> str: ...
    @property
    def namespace(self) -> str | None: ...


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


class EndpointLike(Protocol):
    """The per-endpoint settings the HTTP client needs.

    ``scheme`` is informational: the URL passed to the client is authoritative.
    ``body_size_limit`` of 0 means the client's default.
    """

    @property
    def scheme(self) -> str: ...
    @property
    def timeout(self) -> float: ...
    @property
    def tls_config(self) -> TLSLike | None: ...
    @property
    def basic_auth(self) -> BasicAuthLike | None: ...
    @property
    def authorization(self) -> AuthorizationLike | None: ...
    @property
    def bearer_token_file(self) -> str | None: ...
    @property
    def body_size_limit(self) -> int: ...


class SecretError(Exception):
    """A referenced Secret or key could not be read; the message says which one."""


def describe_ref(ref: SecretRefLike) -> str:
    """Name a Secret key for an error message: ``Secret ns/name key 'k'``."""
    where = f"{ref.namespace}/{ref.name}" if ref.namespace else ref.name
    return f"Secret {where} key {ref.key!r}"


class SecretResolver(Protocol):
    """Reads one key of a Kubernetes Secret."""

    async def get(self, ref: SecretRefLike) -> bytes:
        """Return the decoded value, or raise `SecretError` naming the Secret."""
        ...


class NoSecrets:
    """The resolver used without a Kubernetes connection: every lookup fails clearly."""

    async def get(self, ref: SecretRefLike) -> bytes:
        """Always raise `SecretError`."""
        raise SecretError(
            f"the configuration references {describe_ref(ref)}, "
            "but no Kubernetes connection is configured"
        )
