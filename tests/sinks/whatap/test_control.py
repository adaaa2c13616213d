"""GET_ENV and CONFIGURE_GET show what is safe and useful, never a secret."""

from __future__ import annotations

import pytest

from benchmarks.whatap_collector import FAKE_LICENSE
from openagent.sinks.whatap.control import CommandHandler, mask_credentials
from openagent.sinks.whatap.header import PackHeader
from openagent.sinks.whatap.packs import CONFIGURE_GET, GET_ENV, ParamPack
from openagent.sinks.whatap.values import TextValue

#: Variables a pod really had, which a name denylist let through.
LEAKED = {
    "DB_PASS": "hunter2-db",
    "MYSQL_PWD": "hunter2-mysql",
    "SENTRY_DSN": "https://0123456789abcdef@o1.ingest.sentry.io/42",
    "AWS_SESSION_TOKEN": "FwoGZXIvYXdzEJr",
}
SAFE = {
    "HOSTNAME": "openagent-7c9d-x2",
    "POD_NAME": "openagent-7c9d-x2",
    "POD_NAMESPACE": "whatap-monitoring",
    "NODE_NAME": "gpu-node-3",
    "NODE_IP": "10.0.3.7",
    "WHATAP_ONAME": "gpu-agent",
    "WHATAP_OKIND": "openagent",
    "WHATAP_ONODE": "gpu-node-3",
    "WHATAP_HOST": "10.1.1.1/10.1.1.2",
    "OPENAGENT_SINKS": "whatap",
    "OPENAGENT_LOG_LEVEL": "info",
}


def ask(handler: CommandHandler, command: int) -> dict[str, str]:
    request = ParamPack(PackHeader(33789, 1, 0), command, 77, 0, {})
    reply = handler.handle(request)
    assert reply is not None and reply.response == 77
    return {k: v.value for k, v in reply.entries.items() if isinstance(v, TextValue)}


@pytest.fixture
def environ() -> dict[str, str]:
    return (
        LEAKED
        | SAFE
        | {
            "HTTPS_PROXY": "http://proxyuser:proxy-pass-9@proxy.corp:3128",
            "OPENAGENT_REMOTE_WRITE_URL": "https://vmuser:vm-pass-7@vm.corp/api/v1/write",
            "OPENAGENT_REMOTE_WRITE_PASSWORD_FILE": "/secrets/pw",
            "WHATAP_LICENSE": FAKE_LICENSE,
            "OPENAGENT_NOTE": f"copy {FAKE_LICENSE}",
            "KUBERNETES_SERVICE_HOST": "10.96.0.1",
            "PATH": "/usr/bin",
        }
    )


def test_get_env_answers_only_allowed_variables(environ: dict[str, str]) -> None:
    handler = CommandHandler(environ=lambda: environ, secrets=lambda: (FAKE_LICENSE,))
    env = ask(handler, GET_ENV)
    for name, value in SAFE.items():
        assert env[name] == value
    assert not set(LEAKED) & set(env)
    assert not {"WHATAP_LICENSE", "OPENAGENT_NOTE", "OPENAGENT_REMOTE_WRITE_PASSWORD_FILE"} & set(
        env
    )
    assert not {"KUBERNETES_SERVICE_HOST", "PATH"} & set(env)  # not on the list
    assert env["HTTPS_PROXY"] == "http://***@proxy.corp:3128"
    assert env["OPENAGENT_REMOTE_WRITE_URL"] == "https://***@vm.corp/api/v1/write"
    assert {"whatap.agent_version", "os.name", "os.arch", "python.version"} <= set(env)
    text = repr(env)
    for secret in [*LEAKED.values(), "proxy-pass-9", "vm-pass-7", FAKE_LICENSE]:
        assert secret not in text


def test_configure_get_shows_settings_without_secrets() -> None:
    view = {
        "port": "6600",
        "remote_write_url": "https://vmuser:vm-pass-7@vm.corp/api/v1/write",
        "remote_write_password_file": "/secrets/pw",
        "remote_write_bearer_token_file": "/secrets/token",
        "note": FAKE_LICENSE,
    }
    handler = CommandHandler(
        environ=dict, settings_view=lambda: view, secrets=lambda: (FAKE_LICENSE,)
    )
    conf = ask(handler, CONFIGURE_GET)
    assert conf == {"port": "6600", "remote_write_url": "https://***@vm.corp/api/v1/write"}


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("http://u:p@proxy:3128", "http://***@proxy:3128"),
        ("socks5://token@h", "socks5://***@h"),
        ("https://host/path?x=a@b", "https://host/path?x=a@b"),
        ("a.corp,b.corp", "a.corp,b.corp"),
    ],
)
def test_only_url_userinfo_is_masked(value: str, masked: str) -> None:
    assert mask_credentials(value) == masked
