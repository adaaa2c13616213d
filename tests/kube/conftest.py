"""The fake Kubernetes API server, a client for it and informers (see `tests.kube.support`)."""

from tests.kube.support import client, kube, start_informer

__all__ = ["client", "kube", "start_informer"]
