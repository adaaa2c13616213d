"""Kubernetes Secret references: how credentials and TLS material are read from Secrets.

The room only defines the seam: a `SecretResolver` reads one key of one
Secret. The shell wires the resolver over the Kubernetes client
(`openagent.kube.secrets`) when a cluster is configured, `NoSecrets` otherwise.
"""

from __future__ import annotations

from typing import Protocol


class SecretRefLike(Protocol):
    """A reference to one key of a Kubernetes Secret (namespace None: the agent's own)."""

    @property
    def name(self) -> str: ...
    @property
    def key(self) -> str: ...
    @property
    def namespace(self) -> str | None: ...


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
