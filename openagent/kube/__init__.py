"""The Kubernetes client room: the API connection and shared list+watch informers.

Discovery, the ConfigMap config source and the Secret resolver all read the
cluster through this room; it knows resources, not targets.

* `connect` builds a `KubeClient` (in-cluster service account or kubeconfig)
  that reads lists and watch streams as raw JSON;
* an `Informer` keeps the current objects of one `InformerKey` (resource,
  namespace, label and field selectors, all pushed to the API server);
* the `InformerPool` shares one informer among every target that needs the
  same key.

Failures never block start-up: an informer that cannot list (RBAC, API
server down) reports ``error``, keeps ``synced`` unset and retries with
backoff while the others work.
"""

from openagent.kube.client import (
    KubeClient,
    KubeConfigError,
    KubeError,
    Resource,
    Timeouts,
    connect,
)
from openagent.kube.informer import Informer, InformerKey, InformerOptions
from openagent.kube.pool import InformerPool

__all__ = [
    "Informer",
    "InformerKey",
    "InformerOptions",
    "InformerPool",
    "KubeClient",
    "KubeConfigError",
    "KubeError",
    "Resource",
    "Timeouts",
    "connect",
]
