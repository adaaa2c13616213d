"""The Kubernetes Secrets a configuration references, and where.

The Whatap Operator renders ``basicAuth.username``/``password``,
``authorization.credentials`` and TLS ``ca``/``cert``/``keySecret`` as Secret
key references. `secret_references` lists them with their YAML path, for
``openagent check`` (which warns when no cluster is there to resolve them),
for ``openagent rbac`` (which prints the Role that lets the agent read
exactly those Secrets) and for the agent (which stops watching Secrets a new
configuration no longer references).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from openagent.config.models import EndpointConfig, ScrapeConfig, SecretRef


@dataclass(frozen=True, slots=True)
class SecretUse:
    """One Secret key reference: where it is written and what it names."""

    path: str
    ref: SecretRef

    def describe(self, default_namespace: str) -> str:
        """``Secret ns/name key 'k'``, the namespace defaulted as the agent does."""
        namespace = self.ref.namespace or default_namespace
        return f"Secret {namespace}/{self.ref.name} key {self.ref.key!r}"


def _endpoint_refs(endpoint: EndpointConfig) -> Iterator[tuple[str, SecretRef]]:
    basic, auth, tls = endpoint.basic_auth, endpoint.authorization, endpoint.tls_config
    if basic is not None:
        if basic.username_secret is not None:
            yield "basicAuth.username", basic.username_secret
        if basic.password_secret is not None:
            yield "basicAuth.password", basic.password_secret
    if auth is not None and auth.credentials_secret is not None:
        yield "authorization.credentials", auth.credentials_secret
    if tls is not None:
        for key, ref in (
            ("caSecret", tls.ca_secret),
            ("certSecret", tls.cert_secret),
            ("keySecret", tls.key_secret),
        ):
            if ref is not None:
                yield f"tlsConfig.{key}", ref


def secret_references(config: ScrapeConfig) -> list[SecretUse]:
    """Every Secret key the enabled targets reference, in file order."""
    if not config.enabled:
        return []
    uses: list[SecretUse] = []
    for ti, target in enumerate(config.targets):
        if not target.enabled:
            continue
        for ei, endpoint in enumerate(target.endpoints):
            for where, ref in _endpoint_refs(endpoint):
                uses.append(SecretUse(f"targets[{ti}].endpoints[{ei}].{where}", ref))
    return uses
