"""The Authorization header of one HTTP peer: basic auth, a bearer token or a typed credential.

Only what the peer configures is sent; an endpoint without auth settings
gets no Authorization header at all (the agent's own ServiceAccount token is
never sent anywhere). Credential files are re-read when they change, and
surrounding whitespace (a trailing newline) is stripped from file, environment
and Secret values, as Prometheus does. Errors name the setting and the file,
variable or Secret, never the credential. Files are read on the event loop:
one stat per scrape, and a read of a few bytes only when the stat changed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import aiohttp
from pydantic import SecretStr

from openagent.httpauth.errors import CredentialError
from openagent.httpauth.files import WatchedFiles, describe_os_error
from openagent.httpauth.secrets import SecretError, SecretRefLike, SecretResolver, describe_ref
from openagent.httpauth.shapes import AuthorizationLike, BasicAuthLike, ClientAuthLike

#: One credential source: (setting name, "literal" | "file" | "env" | "secret", value or None).
_Source = tuple[str, str, str | SecretRefLike | None]


@dataclass(frozen=True, slots=True)
class Credentials:
    """The header value to send, and every secret string it was built from."""

    header: str
    secrets: tuple[str, ...]

    def __repr__(self) -> str:
        return "Credentials(<redacted>)"


def _fail(detail: str) -> CredentialError:
    return CredentialError("auth", detail)


def _check_header_safe(value: str, setting: str) -> None:
    if any((ord(c) < 0x20 and c != "\t") or ord(c) == 0x7F for c in value):
        raise _fail(f"{setting} contains a control character (a line break?)")


class AuthResolver:
    """Builds the Authorization header for an endpoint, reading files and Secrets."""

    def __init__(self, secrets: SecretResolver, files: WatchedFiles | None = None) -> None:
        self._secrets = secrets
        self._files = files if files is not None else WatchedFiles()

    async def resolve(self, endpoint: ClientAuthLike) -> Credentials | None:
        """Return the credentials to send, None when none are configured.

        Raises `CredentialError` (``auth``) for conflicting settings or
        an unreadable credential source.
        """
        basic = endpoint.basic_auth
        bearer_file = endpoint.bearer_token_file
        authorization = endpoint.authorization
        configured = [
            name
            for name, present in (
                ("basic_auth", basic is not None),
                ("bearer_token_file", bool(bearer_file)),
                ("authorization", authorization is not None),
            )
            if present
        ]
        if len(configured) > 1:
            raise _fail(
                "at most one of basic_auth, bearer_token_file and authorization may be set, "
                f"but {' and '.join(configured)} are"
            )
        if basic is not None:
            return await self._basic(basic)
        if bearer_file:
            token = self._read_file(bearer_file, "bearer_token_file")
            return self._typed("Bearer", token, "bearer_token_file")
        if authorization is not None:
            return await self._authorization(authorization)
        return None

    async def _basic(self, basic: BasicAuthLike) -> Credentials:
        username = await self._pick(
            "basic_auth username",
            ("username", "literal", basic.username),
            ("username_secret", "secret", basic.username_secret),
        )
        password = await self._pick(
            "basic_auth password",
            ("password", "literal", _reveal(basic.password)),
            ("password_file", "file", basic.password_file),
            ("password_secret", "secret", basic.password_secret),
        )
        if not username and not password:
            raise _fail("basic_auth sets neither a username nor a password")
        try:
            header = aiohttp.encode_basic_auth(username or "", password or "", encoding="utf-8")
        except ValueError:
            raise _fail("basic_auth username must not contain ':'") from None
        secrets = tuple(s for s in (password, header, header.split(" ", 1)[1]) if s)
        return Credentials(header, secrets)

    async def _authorization(self, auth: AuthorizationLike) -> Credentials:
        kind = (auth.type or "").strip() or "Bearer"
        if kind.lower() == "basic":
            raise _fail("authorization type 'Basic' is not allowed; use basic_auth instead")
        if any(c.isspace() for c in kind) or not kind.isprintable():
            raise _fail(f"authorization type {kind!r} must be a single word")
        value = await self._pick(
            "authorization credentials",
            ("credentials", "literal", _reveal(auth.credentials)),
            ("credentials_file", "file", auth.credentials_file),
            ("credentials_env", "env", auth.credentials_env),
            ("credentials_secret", "secret", auth.credentials_secret),
        )
        if value is None:
            raise _fail(
                "authorization sets no credentials "
                "(one of credentials, credentials_file, credentials_env, credentials_secret)"
            )
        return self._typed(kind, value, "authorization credentials")

    @staticmethod
    def _typed(kind: str, value: str, setting: str) -> Credentials:
        _check_header_safe(value, setting)
        header = f"{kind} {value}"
        return Credentials(header, (value, header))

    async def _pick(self, what: str, *sources: _Source) -> str | None:
        """Return the value of the one configured source, None when none is.

        An empty string counts as unset (pydantic models may default to it).
        """
        present = [s for s in sources if s[2] is not None and s[2] != ""]
        if len(present) > 1:
            names = " and ".join(s[0] for s in present)
            raise _fail(f"{what}: at most one source may be set, but {names} are")
        if not present:
            return None
        setting, kind, value = present[0]
        if kind == "secret":
            assert not isinstance(value, str) and value is not None
            return await self._read_secret(value, setting)
        assert isinstance(value, str)
        if kind == "file":
            return self._read_file(value, setting)
        if kind == "env":
            return _read_env(value, setting)
        return value

    def _read_file(self, path: str, setting: str) -> str:
        try:
            data = self._files.read(path)
        except OSError as exc:
            raise _fail(f"cannot read {setting} {path!r}: {describe_os_error(exc)}") from None
        except ValueError as exc:
            raise _fail(f"cannot read {setting} {path!r}: {exc}") from None
        return _decode(data, f"{setting} {path!r}")

    async def _read_secret(self, ref: SecretRefLike, setting: str) -> str:
        try:
            data = await self._secrets.get(ref)
        except SecretError as exc:
            raise _fail(f"{setting}: {exc}") from None
        return _decode(data, f"{setting} ({describe_ref(ref)})")


def _read_env(name: str, setting: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise _fail(f"{setting}: environment variable {name} is not set or empty")
    return value


def _reveal(value: SecretStr | None) -> str | None:
    return None if value is None else value.get_secret_value()


def _decode(data: bytes, where: str) -> str:
    try:
        text = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise _fail(f"{where} is not valid UTF-8") from None
    if not text:
        raise _fail(f"{where} is empty")
    return text
