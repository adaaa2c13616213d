"""Authorization: what each configured target receives, and what the others never do."""

from __future__ import annotations

import asyncio
import base64
import os
import traceback
from pathlib import Path

import pytest
from aiohttp import web
from pydantic import SecretStr

from openagent.httpauth import HTTPAuth, SecretRefLike
from openagent.scrape.http import ScrapeClient, ScrapeFailure
from tests.loopback_http import (
    DEFAULT_LIMIT,
    USER_AGENT,
    Authz,
    Basic,
    DictSecrets,
    Endpoint,
    Ref,
    Server,
    ServerFactory,
    ok_metrics,
)

pytestmark = pytest.mark.timeout(30)

TOKEN = "tok-3f9a1c7e5b2d4860"
PASSWORD = "pa55-w0rd-ü-7d2c"


def authorization_seen(server: Server, index: int = -1) -> str | None:
    return server.requests[index].headers.get("Authorization")


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def failure_of(client: ScrapeClient, url: str, endpoint: Endpoint) -> ScrapeFailure:
    with pytest.raises(ScrapeFailure) as info:
        await client.fetch(url, endpoint)
    return info.value


def assert_no_secret(failure: ScrapeFailure, *secrets: str) -> None:
    texts = [
        str(failure),
        repr(failure),
        "".join(traceback.format_exception(failure)),
    ]
    for secret in secrets:
        for text in texts:
            assert secret not in text


# --- each kind of credential reaches its target -------------------------------------------------


async def test_basic_auth_with_literal_password(
    client: ScrapeClient, http_server: ServerFactory
) -> None:
    server = await http_server(ok_metrics)
    endpoint = Endpoint(basic_auth=Basic(username="scraper", password=SecretStr(PASSWORD)))
    await client.fetch(server.url + "/metrics", endpoint)
    assert authorization_seen(server) == basic("scraper", PASSWORD)


async def test_basic_auth_with_password_file(
    client: ScrapeClient, http_server: ServerFactory, tmp_path: Path
) -> None:
    server = await http_server(ok_metrics)
    password_file = tmp_path / "password"
    password_file.write_text(PASSWORD + "\n")
    endpoint = Endpoint(basic_auth=Basic(username="scraper", password_file=str(password_file)))
    await client.fetch(server.url + "/metrics", endpoint)
    assert authorization_seen(server) == basic("scraper", PASSWORD)


async def test_basic_auth_from_secrets(http_server: ServerFactory) -> None:
    server = await http_server(ok_metrics)
    secrets = DictSecrets(
        {
            ("monitoring", "dcgm-auth", "user"): b"scraper\n",
            ("monitoring", "dcgm-auth", "pass"): PASSWORD.encode() + b"\n",
        }
    )
    endpoint = Endpoint(
        basic_auth=Basic(
            username_secret=Ref("dcgm-auth", "user", "monitoring"),
            password_secret=Ref("dcgm-auth", "pass", "monitoring"),
        )
    )
    async with ScrapeClient(
        default_body_limit=DEFAULT_LIMIT, user_agent=USER_AGENT, auth=HTTPAuth(secrets)
    ) as client:
        await client.fetch(server.url + "/metrics", endpoint)
    assert authorization_seen(server) == basic("scraper", PASSWORD)


async def test_bearer_token_file_is_reread_when_it_changes(
    client: ScrapeClient, http_server: ServerFactory, tmp_path: Path
) -> None:
    server = await http_server(ok_metrics)
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    endpoint = Endpoint(bearer_token_file=str(token_file))
    await client.fetch(server.url + "/metrics", endpoint)
    assert authorization_seen(server) == f"Bearer {TOKEN}"

    # In place, as an editor would.
    token_file.write_text("second-token-longer\n")
    await client.fetch(server.url + "/metrics", endpoint)
    assert authorization_seen(server) == "Bearer second-token-longer"

    # Swapped in, as kubelet does for projected tokens.
    (tmp_path / "token.new").write_text("third-token\n")
    os.replace(tmp_path / "token.new", token_file)
    await client.fetch(server.url + "/metrics", endpoint)
    assert authorization_seen(server) == "Bearer third-token"


@pytest.mark.parametrize("kind", ["literal", "file", "env", "secret"])
async def test_authorization_credentials_sources(
    http_server: ServerFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
) -> None:
    server = await http_server(ok_metrics)
    secrets = DictSecrets({(None, "api", "token"): TOKEN.encode()})
    if kind == "literal":
        authz = Authz(credentials=SecretStr(TOKEN))
    elif kind == "file":
        (tmp_path / "cred").write_text(TOKEN + "\n")
        authz = Authz(credentials_file=str(tmp_path / "cred"))
    elif kind == "env":
        monkeypatch.setenv("OPENAGENT_TEST_TOKEN", TOKEN)
        authz = Authz(credentials_env="OPENAGENT_TEST_TOKEN")
    else:
        authz = Authz(credentials_secret=Ref("api", "token"))
    async with ScrapeClient(
        default_body_limit=DEFAULT_LIMIT, user_agent=USER_AGENT, auth=HTTPAuth(secrets)
    ) as client:
        await client.fetch(server.url + "/metrics", Endpoint(authorization=authz))
    assert authorization_seen(server) == f"Bearer {TOKEN}"


async def test_authorization_type(client: ScrapeClient, http_server: ServerFactory) -> None:
    server = await http_server(ok_metrics)
    custom = Endpoint(authorization=Authz(type="Token", credentials=SecretStr(TOKEN)))
    await client.fetch(server.url + "/metrics", custom)
    assert authorization_seen(server) == f"Token {TOKEN}"
    empty = Endpoint(authorization=Authz(type="", credentials=SecretStr(TOKEN)))
    await client.fetch(server.url + "/metrics", empty)
    assert authorization_seen(server) == f"Bearer {TOKEN}"


# --- nothing is sent where nothing is configured -----------------------------------------------


async def test_unconfigured_target_gets_no_authorization(
    client: ScrapeClient, http_server: ServerFactory, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    server = await http_server(ok_metrics)
    url = server.url + "/metrics"
    await client.fetch(url, Endpoint(bearer_token_file=str(token_file)))
    await client.fetch(url, Endpoint())  # same pooled connection, different endpoint
    assert len(server.peers()) == 1
    assert authorization_seen(server, 0) == f"Bearer {TOKEN}"
    assert "Authorization" not in server.requests[1].headers


async def test_cross_origin_redirect_drops_credentials(
    client: ScrapeClient, http_server: ServerFactory
) -> None:
    elsewhere = await http_server(ok_metrics)

    async def redirect(request: web.Request) -> web.Response:
        if request.path == "/metrics":
            raise web.HTTPFound("/moved")
        raise web.HTTPFound(elsewhere.url + "/metrics")

    origin = await http_server(redirect)
    endpoint = Endpoint(authorization=Authz(credentials=SecretStr(TOKEN)))
    result = await client.fetch(origin.url + "/metrics", endpoint)
    assert result.body == b"up 1\n"
    # Same origin: kept. Another port is another origin: dropped.
    assert [r.headers.get("Authorization") for r in origin.requests] == [f"Bearer {TOKEN}"] * 2
    assert "Authorization" not in elsewhere.requests[0].headers


# --- errors are clear and never leak -----------------------------------------------------------


async def test_credentials_never_appear_in_failures(
    client: ScrapeClient, http_server: ServerFactory, tmp_path: Path
) -> None:
    async def echo(request: web.Request) -> web.Response:
        return web.Response(status=401, text=f"denied: {request.headers.get('Authorization')}")

    server = await http_server(echo)
    url = server.url + "/metrics"
    bearer = Endpoint(authorization=Authz(credentials=SecretStr(TOKEN)))
    failure = await failure_of(client, url, bearer)
    assert failure.reason == "http_status"
    assert failure.detail.startswith("HTTP 401 Unauthorized: denied: Bearer ")
    assert_no_secret(failure, TOKEN)

    basic_ep = Endpoint(basic_auth=Basic(username="scraper", password=SecretStr(PASSWORD)))
    failure = await failure_of(client, url, basic_ep)
    encoded = basic("scraper", PASSWORD).split()[1]
    assert_no_secret(failure, PASSWORD, encoded)


async def test_line_break_in_a_token_file_is_refused(
    client: ScrapeClient, http_server: ServerFactory, tmp_path: Path
) -> None:
    server = await http_server(ok_metrics)
    token_file = tmp_path / "token"
    token_file.write_text(f"{TOKEN}\r\nX-Injected: 1\n")
    failure = await failure_of(
        client, server.url + "/metrics", Endpoint(bearer_token_file=str(token_file))
    )
    assert failure.reason == "auth"
    assert "control character" in failure.detail
    assert_no_secret(failure, TOKEN)
    assert server.requests == []


@pytest.mark.parametrize(
    ("endpoint", "needle"),
    [
        (
            Endpoint(basic_auth=Basic(username="u"), bearer_token_file="/run/token"),
            "basic_auth and bearer_token_file are",
        ),
        (
            Endpoint(
                bearer_token_file="/run/token",
                authorization=Authz(credentials=SecretStr(TOKEN)),
            ),
            "bearer_token_file and authorization are",
        ),
        (
            Endpoint(
                authorization=Authz(credentials=SecretStr(TOKEN), credentials_env="HOME"),
            ),
            "credentials and credentials_env are",
        ),
        (
            Endpoint(basic_auth=Basic(password=SecretStr(TOKEN), password_file="/run/p")),
            "password and password_file are",
        ),
        (Endpoint(authorization=Authz()), "authorization sets no credentials"),
        (Endpoint(basic_auth=Basic()), "neither a username nor a password"),
        (
            Endpoint(authorization=Authz(type="Basic", credentials=SecretStr(TOKEN))),
            "use basic_auth",
        ),
        (
            Endpoint(basic_auth=Basic(username="a:b", password=SecretStr(TOKEN))),
            "must not contain ':'",
        ),
        (Endpoint(bearer_token_file="/nonexistent/token"), "'/nonexistent/token': No such file"),
        (
            Endpoint(authorization=Authz(credentials_env="OPENAGENT_TEST_UNSET_VARIABLE")),
            "environment variable OPENAGENT_TEST_UNSET_VARIABLE is not set",
        ),
        (
            Endpoint(basic_auth=Basic(username="u", password_secret=Ref("db", "pw", "prod"))),
            "Secret prod/db key 'pw', but no Kubernetes connection is configured",
        ),
    ],
)
async def test_bad_auth_settings_are_named(
    client: ScrapeClient, http_server: ServerFactory, endpoint: Endpoint, needle: str
) -> None:
    server = await http_server(ok_metrics)
    failure = await failure_of(client, server.url + "/metrics", endpoint)
    assert failure.reason == "auth"
    assert needle in failure.detail
    assert_no_secret(failure, TOKEN)
    assert server.requests == []


async def test_empty_token_file_is_refused(
    client: ScrapeClient, http_server: ServerFactory, tmp_path: Path
) -> None:
    server = await http_server(ok_metrics)
    (tmp_path / "token").write_text("\n")
    failure = await failure_of(
        client, server.url + "/metrics", Endpoint(bearer_token_file=str(tmp_path / "token"))
    )
    assert failure.reason == "auth"
    assert failure.detail == f"bearer_token_file {str(tmp_path / 'token')!r} is empty"


async def test_secret_lookups_count_against_the_deadline(http_server: ServerFactory) -> None:
    class SlowSecrets:
        async def get(self, ref: SecretRefLike) -> bytes:
            await asyncio.sleep(30)
            return b"never"

    server = await http_server(ok_metrics)
    endpoint = Endpoint(timeout=0.2, authorization=Authz(credentials_secret=Ref("api", "token")))
    async with ScrapeClient(
        default_body_limit=DEFAULT_LIMIT, user_agent=USER_AGENT, auth=HTTPAuth(SlowSecrets())
    ) as client:
        failure = await failure_of(client, server.url + "/metrics", endpoint)
    assert failure.reason == "timeout"
    assert "resolving credentials" in failure.detail
    assert server.requests == []
