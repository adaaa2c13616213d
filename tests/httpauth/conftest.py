"""Loopback HTTP servers, a client and a test CA (see `tests.loopback_http`)."""

from tests.loopback_http import ca, client, http_server, loopback_cert, raw_server

__all__ = ["ca", "client", "http_server", "loopback_cert", "raw_server"]
