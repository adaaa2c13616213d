"""The fake Kubernetes API server, a client for it and informers (see `tests.kube.support`),
and the loopback HTTP servers the Secret tests scrape (see `tests.loopback_http`)."""

from tests.kube.support import client, kube, start_informer
from tests.loopback_http import ca, http_server, loopback_cert

__all__ = ["ca", "client", "http_server", "kube", "loopback_cert", "start_informer"]
