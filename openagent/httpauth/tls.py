"""One `ssl.SSLContext` per distinct TLS settings, rebuilt when the material changes.

The cache key holds the stat stamp of every file (and a digest of every Secret
value), so a rotated CA or client certificate yields a new context on the next
scrape while unchanged settings keep theirs. aiohttp pools connections by
context, so keeping the context stable keeps connections alive, and different
settings never share a connection.

Semantics follow Prometheus: verification is on by default; a configured CA
replaces the system roots rather than adding to them; ``insecure_skip_verify``
turns off both chain and hostname checks, but a client certificate is still
presented. A client certificate and key that come from Secrets are written to
a private temporary file (mode 0600, from `tempfile.mkstemp`) because
OpenSSL loads them only from files; the file is removed as soon as the
context has read it.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import ssl
import tempfile
from collections import OrderedDict
from dataclasses import dataclass

from openagent.httpauth.errors import CredentialError
from openagent.httpauth.files import FileStamp, describe_os_error, file_stamp
from openagent.httpauth.secrets import SecretError, SecretRefLike, SecretResolver, describe_ref
from openagent.httpauth.shapes import TLSLike


@dataclass(frozen=True, slots=True)
class _Material:
    """A PEM source: a file (``path`` and its stamp) or Secret bytes (``data``)."""

    setting: str
    path: str | None = None
    stamp: FileStamp | None = None
    data: bytes | None = None

    def key(self) -> tuple[object, ...]:
        if self.path is not None:
            return ("file", self.path, self.stamp)
        assert self.data is not None
        return ("secret", hashlib.sha256(self.data).digest())

    def describe(self) -> str:
        return f"{self.setting} {self.path!r}" if self.path is not None else self.setting

    def read(self) -> bytes:
        if self.data is not None:
            return self.data
        assert self.path is not None
        with open(self.path, "rb") as f:
            return f.read()


_Key = tuple[object, ...]


def _fail(detail: str) -> CredentialError:
    return CredentialError("tls", detail)


def _no_password() -> bytes:
    """Refuse encrypted keys instead of letting OpenSSL prompt on a terminal."""
    raise ValueError("encrypted private keys are not supported")


class TLSContexts:
    """Builds and caches client `ssl.SSLContext` objects for endpoint TLS settings."""

    def __init__(self, secrets: SecretResolver, *, max_entries: int = 256) -> None:
        self._secrets = secrets
        self._max_entries = max_entries
        self._cache: OrderedDict[_Key, ssl.SSLContext] = OrderedDict()
        self._building: dict[_Key, asyncio.Task[ssl.SSLContext]] = {}

    async def context(self, tls: TLSLike | None) -> ssl.SSLContext:
        """Return the context for these settings; raises `CredentialError` (``tls``)."""
        if tls is None:
            ca = cert = key = None
            insecure, server_name = False, None
        else:
            _validate(tls)
            ca = await self._material(tls.ca_file, tls.ca_secret, "ca")
            cert = await self._material(tls.cert_file, tls.cert_secret, "cert")
            key = await self._material(tls.key_file, tls.key_secret, "key")
            insecure, server_name = bool(tls.insecure_skip_verify), tls.server_name or None
        cache_key: _Key = (
            ca.key() if ca else None,
            cert.key() if cert else None,
            key.key() if key else None,
            insecure,
            server_name,
        )
        ctx = self._cache.get(cache_key)
        if ctx is not None:
            self._cache.move_to_end(cache_key)
            return ctx
        task = self._building.get(cache_key)
        if task is None:
            task = asyncio.get_running_loop().create_task(
                asyncio.to_thread(_build, ca, cert, key, insecure)
            )
            self._building[cache_key] = task
            task.add_done_callback(lambda t: self._built(cache_key, t))
        return await asyncio.shield(task)

    def _built(self, cache_key: _Key, task: asyncio.Task[ssl.SSLContext]) -> None:
        self._building.pop(cache_key, None)
        if task.cancelled() or task.exception() is not None:
            return
        self._cache[cache_key] = task.result()
        while len(self._cache) > self._max_entries:
            self._cache.popitem(last=False)

    async def _material(
        self, path: str | None, ref: SecretRefLike | None, what: str
    ) -> _Material | None:
        if path:
            setting = f"tls_config {what}_file"
            try:
                return _Material(setting, path=path, stamp=file_stamp(path))
            except OSError as exc:
                raise _fail(f"cannot read {setting} {path!r}: {describe_os_error(exc)}") from None
        if ref is not None:
            setting = f"tls_config {what}_secret ({describe_ref(ref)})"
            try:
                data = await self._secrets.get(ref)
            except SecretError as exc:
                raise _fail(f"tls_config {what}_secret: {exc}") from None
            if not data.strip():
                raise _fail(f"{setting} is empty")
            return _Material(setting, data=data)
        return None


def _validate(tls: TLSLike) -> None:
    """Reject contradictory settings before touching any file or Secret."""
    for what, path, ref in (
        ("ca", tls.ca_file, tls.ca_secret),
        ("cert", tls.cert_file, tls.cert_secret),
        ("key", tls.key_file, tls.key_secret),
    ):
        if path and ref is not None:
            raise _fail(f"tls_config: at most one of {what}_file and {what}_secret may be set")
    has_cert = bool(tls.cert_file) or tls.cert_secret is not None
    has_key = bool(tls.key_file) or tls.key_secret is not None
    if has_cert != has_key:
        have, missing = ("cert", "key") if has_cert else ("key", "cert")
        raise _fail(
            f"tls_config sets a client {have} but no {missing} "
            f"({missing}_file or {missing}_secret); both are needed for mTLS"
        )


def _build(
    ca: _Material | None,
    cert: _Material | None,
    key: _Material | None,
    insecure: bool,
) -> ssl.SSLContext:
    """Create a client context (blocking: runs in a worker thread)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif ca is None:
        ctx.load_default_certs(ssl.Purpose.SERVER_AUTH)
    else:
        _load_ca(ctx, ca)
    if cert is not None and key is not None:
        _load_client_cert(ctx, cert, key)
    return ctx


def _load_ca(ctx: ssl.SSLContext, ca: _Material) -> None:
    try:
        if ca.path is not None:
            ctx.load_verify_locations(cafile=ca.path)
        else:
            assert ca.data is not None
            ctx.load_verify_locations(cadata=ca.data.decode("ascii"))
    except (ssl.SSLError, ValueError):
        raise _fail(f"{ca.describe()} holds no valid PEM certificate") from None
    except OSError as exc:
        raise _fail(f"cannot read {ca.describe()}: {describe_os_error(exc)}") from None


def _load_client_cert(ctx: ssl.SSLContext, cert: _Material, key: _Material) -> None:
    what = f"client certificate ({cert.describe()}, {key.describe()})"
    try:
        if cert.path is not None and key.path is not None:
            ctx.load_cert_chain(cert.path, key.path, password=_no_password)
            return
        fd, path = tempfile.mkstemp(prefix="openagent-tls-", suffix=".pem")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(key.read().rstrip(b"\n") + b"\n" + cert.read())
            ctx.load_cert_chain(path, password=_no_password)
        finally:
            os.unlink(path)
    except ssl.SSLError as exc:
        raise _fail(f"cannot load {what}: {exc.reason or exc}") from None
    except OSError as exc:
        raise _fail(f"cannot read {what}: {describe_os_error(exc)}") from None
    except ValueError as exc:
        raise _fail(f"cannot load {what}: {exc}") from None
