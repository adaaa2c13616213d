"""The Kubernetes client room: the API connection and shared list+watch informers.

Discovery, the ConfigMap config source and the Secret resolver all read the
cluster through this room; it knows resources, not targets.

* `Cluster` holds the one connection (`openagent.kube.client.KubeClient`,
  in-cluster service account or kubeconfig, raw JSON lists and watch
  streams) and the `InformerPool`, made when a room first needs them;
* an `Informer` keeps the current objects of one `InformerKey` (resource,
  namespace, label and field selectors, all pushed to the API server);
* the `InformerPool` shares one informer among every user of the same key, and
  `follow` looks at one informer's cache again after each of its changes;
* `KubeSecrets` (`openagent.kube.secrets`) reads the Secrets a
  configuration references.

Failures never block start-up: an informer that cannot list (RBAC, API
server down) reports ``error``, keeps ``synced`` unset and retries with
backoff while the others work. Importing this package does not import
kubernetes_asyncio; only connecting through a kubeconfig does (see
`openagent.kube.client.connect`).
"""

from openagent.kube.cluster import (
    DEFAULT_NAMESPACE,
    Cluster,
    KubeOptions,
    Timeouts,
    own_namespace,
)
from openagent.kube.errors import KubeConfigError, KubeError, Resource
from openagent.kube.follow import follow
from openagent.kube.informer import Informer, InformerKey, InformerOptions
from openagent.kube.pool import InformerPool

__all__ = [
    "DEFAULT_NAMESPACE",
    "Cluster",
    "Informer",
    "InformerKey",
    "InformerOptions",
    "InformerPool",
    "follow",
    "KubeConfigError",
    "KubeError",
    "KubeOptions",
    "Resource",
    "Timeouts",
    "own_namespace",
]
