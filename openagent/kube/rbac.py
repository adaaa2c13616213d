"""The RBAC that lets the agent read exactly the Secrets its configuration references.

One Role per namespace that holds referenced Secrets, granting ``list`` and
``watch`` on ``secrets`` restricted by ``resourceNames`` to those Secrets (the
resolver lists and watches each one with ``fieldSelector=metadata.name=...``,
which the API server authorizes as a request for that name), and one
RoleBinding per Role for the agent's service account. Nothing at the cluster
scope, no ``get`` on other Secrets, and nothing at all for a configuration
without references.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

ROLE_NAME = "openagent-secrets"
VERBS = ("list", "watch")


def secret_reader_rbac(
    secrets: Iterable[tuple[str, str]], service_account: str, service_account_namespace: str
) -> list[dict[str, Any]]:
    """Role and RoleBinding manifests (as dicts) for reading the ``(namespace, name)`` Secrets."""
    by_namespace: dict[str, set[str]] = {}
    for namespace, name in secrets:
        by_namespace.setdefault(namespace, set()).add(name)
    manifests: list[dict[str, Any]] = []
    for namespace, names in sorted(by_namespace.items()):
        metadata = {
            "name": ROLE_NAME,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/name": "openagent"},
        }
        manifests.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": metadata,
                "rules": [
                    {
                        "apiGroups": [""],
                        "resources": ["secrets"],
                        "resourceNames": sorted(names),
                        "verbs": list(VERBS),
                    }
                ],
            }
        )
        manifests.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": dict(metadata),
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "Role",
                    "name": ROLE_NAME,
                },
                "subjects": [
                    {
                        "kind": "ServiceAccount",
                        "name": service_account,
                        "namespace": service_account_namespace,
                    }
                ],
            }
        )
    return manifests
