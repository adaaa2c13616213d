"""What the remote-write sink is configured with: the receiver, its auth and TLS, batching."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from yarl import URL

from openagent.httpauth import AuthorizationLike, SecretRefLike

MiB: Final = 1024 * 1024


@dataclass(frozen=True, slots=True)
class RemoteWriteTLS:
    """TLS settings of the receiver connection (an `openagent.httpauth.TLSLike`)."""

    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    insecure_skip_verify: bool = False
    server_name: str | None = None
    ca_secret: SecretRefLike | None = None
    cert_secret: SecretRefLike | None = None
    key_secret: SecretRefLike | None = None


@dataclass(frozen=True, slots=True)
class ReceiverBasicAuth:
    """Basic auth towards the receiver: a user name and a password file."""

    username: str | None
    password_file: str | None
    username_secret: SecretRefLike | None = None
    password: None = None
    password_secret: SecretRefLike | None = None


@dataclass(frozen=True, slots=True)
class RemoteWriteOptions:
    """The remote-write sink's options; construction checks them (ValueError says what is wrong).

    A request closes at ``max_samples`` samples or ``max_bytes`` uncompressed
    bytes, or once it has been open ``max_batch_delay`` seconds (0: never
    held). Set basic auth (``username``, ``password_file``) or a bearer token
    file, not both; ``tls`` needs an https URL.
    """

    url: str
    timeout: float = 30.0
    max_samples: int = 10_000
    max_bytes: int = 4 * MiB
    max_batch_delay: float = 1.0
    username: str | None = None
    password_file: str | None = None
    bearer_token_file: str | None = None
    tls: RemoteWriteTLS | None = None

    def __post_init__(self) -> None:
        url = parse_receiver_url(self.url)
        if not self.timeout > 0:
            raise ValueError(f"remote write timeout must be positive, got {self.timeout!r}")
        if self.max_samples < 1 or self.max_bytes < 1:
            raise ValueError("remote write max_samples and max_bytes must be at least 1")
        if not self.max_batch_delay >= 0:
            raise ValueError(f"remote write batch delay must be >= 0, got {self.max_batch_delay!r}")
        if (self.username or self.password_file) and self.bearer_token_file:
            raise ValueError("remote write: set basic auth or a bearer token file, not both")
        tls = self.tls
        if tls is not None:
            if bool(tls.cert_file) != bool(tls.key_file):
                raise ValueError("remote write TLS: a client certificate needs both cert and key")
            if url.scheme != "https":
                raise ValueError(
                    f"remote write TLS settings need an https:// URL, got {self.url!r}"
                )

    @property
    def receiver(self) -> Receiver:
        """The receiver as the HTTP-auth room sees a peer."""
        basic = None
        if self.username or self.password_file:
            basic = ReceiverBasicAuth(self.username, self.password_file)
        return Receiver(self.tls, basic, self.bearer_token_file)


@dataclass(frozen=True, slots=True)
class Receiver:
    """The auth and TLS settings of the receiver (an `openagent.httpauth.ClientAuthLike`)."""

    tls_config: RemoteWriteTLS | None
    basic_auth: ReceiverBasicAuth | None
    bearer_token_file: str | None
    authorization: AuthorizationLike | None = None


def parse_receiver_url(url: str) -> URL:
    """``url`` parsed; ValueError unless it is http(s) with a host and no credentials."""
    try:
        parsed = URL(url)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"remote write URL {url!r} cannot be parsed: {exc}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(f"remote write URL must be http:// or https:// with a host, got {url!r}")
    if parsed.user is not None:
        raise ValueError("remote write URL must not carry credentials; use the username setting")
    return parsed
