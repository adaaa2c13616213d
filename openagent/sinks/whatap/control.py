"""Answers to the collector's commands (ParamPacks on the session, PROTOCOL §3.6, §6.5).

The Go agent answers GET_ENV with every environment variable, the license
included, and lets SET_CONFIG rewrite its configuration. A denylist of
secret-looking names is not enough: measured on a pod environment, it let
``DB_PASS``, ``MYSQL_PWD``, ``HTTPS_PROXY=http://user:password@proxy`` and a
Sentry DSN through, since nothing in those names says "secret". Here:

* GET_ENV (12): only the variables of `ALLOWED_ENV` (what the Go agent's
  boot info and identity use: host, Kubernetes identity, ``WHATAP_ONAME`` /
  ``OKIND`` / ``ONODE``, collector address, proxies) and the ``OPENAGENT_*``
  settings, minus any name with a secret marker (`SECRET_MARKERS`) and any
  value holding a known secret (the license); a URL's userinfo is masked
  (`mask_credentials`). Plus ``whatap.agent_version``, ``os.name``,
  ``os.arch`` and ``python.version``;
* CONFIGURE_GET (4): the agent's effective settings, filtered and masked the same way;
* SET_CONFIG (14): refused with an ``error`` entry (the agent is configured by
  its environment and its ConfigMap), and logged;
* any other id: ignored, no reply (as the Go agent does for unknown ids).
"""

from __future__ import annotations

import platform
import re
from collections.abc import Callable, Iterable, Mapping

from openagent import __version__
from openagent.sinks.whatap.packs import CONFIGURE_GET, GET_ENV, SET_CONFIG, ParamPack
from openagent.sinks.whatap.values import TextValue, Value

#: Environment variables GET_ENV may show (besides ``OPENAGENT_*``): safe and useful to
#: the Whatap console (who and where this agent is, which collector, which proxy).
ALLOWED_ENV = frozenset(
    {
        "HOSTNAME",
        "POD_NAME",
        "PODNAME",
        "POD_NAMESPACE",
        "POD_IP",
        "POD_UID",
        "NODE_NAME",
        "NODE_IP",
        "HOST_IP",
        "WHATAP_ONAME",
        "WHATAP_OKIND",
        "WHATAP_ONODE",
        "WHATAP_NAME",
        "OKIND",
        "WHATAP_HOST",
        "WHATAP_PORT",
        "WHATAP_SERVER_HOST",
        "WHATAP_SERVER_PORT",
        "WHATAP_VERSION",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "TZ",
        "LANG",
    }
)
#: Prefixes of allowed variables (each still filtered by `SECRET_MARKERS`).
ALLOWED_ENV_PREFIXES = ("OPENAGENT_",)

#: Parts of a variable or setting name that mark it as secret (compared upper-case).
SECRET_MARKERS = (
    "LICENSE",
    "SECRET",
    "TOKEN",
    "PASSWORD",
    "PASSWD",
    "PASS",
    "PWD",
    "PASSPHRASE",
    "CREDENTIAL",
    "PRIVATE",
    "KEY",
    "AUTH",
    "COOKIE",
    "SIGNATURE",
    "DSN",
)

#: ``scheme://userinfo@``: the userinfo of a URL anywhere in a value.
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/?#@\s]+@")
MASK = "***"

SET_CONFIG_REFUSAL = (
    "openagent does not change its configuration remotely: set it through the "
    "environment (WHATAP_*, OPENAGENT_*) and scrape_config.yaml (its ConfigMap)"
)

COMMAND_NAMES = {CONFIGURE_GET: "CONFIGURE_GET", GET_ENV: "GET_ENV", SET_CONFIG: "SET_CONFIG"}


def is_secret_name(name: str) -> bool:
    """True when ``name`` looks like it holds a secret."""
    upper = name.upper()
    return any(marker in upper for marker in SECRET_MARKERS)


def is_allowed_env(name: str) -> bool:
    """True when GET_ENV may show the variable ``name``."""
    upper = name.upper()
    allowed = upper in ALLOWED_ENV or upper.startswith(ALLOWED_ENV_PREFIXES)
    return allowed and not is_secret_name(name)


def mask_credentials(value: str) -> str:
    """``value`` with the userinfo of every URL in it replaced by ``***``."""
    return _USERINFO.sub(lambda m: f"{m['scheme']}{MASK}@", value)


def without_secrets(entries: Mapping[str, str], secrets: Iterable[str] = ()) -> dict[str, str]:
    """``entries`` minus secret-looking names and values that contain a known secret, URL
    userinfo masked."""
    known = [s for s in secrets if s]
    return {
        k: mask_credentials(v)
        for k, v in entries.items()
        if not is_secret_name(k) and not any(s in v for s in known)
    }


def runtime_entries() -> dict[str, str]:
    """What GET_ENV adds about the agent itself (as the Go agent's boot info does)."""
    return {
        "whatap.agent_version": __version__,
        "os.name": platform.system().lower(),
        "os.arch": platform.machine(),
        "python.version": platform.python_version(),
    }


class CommandHandler:
    """Turns a server command into the reply ParamPack (or None: no reply).

    ``environ`` is read at every GET_ENV; ``settings_view`` gives the effective
    settings as text for CONFIGURE_GET; ``secrets`` are values that must never
    leave the process (the license), whatever variable holds them.
    """

    def __init__(
        self,
        *,
        environ: Callable[[], Mapping[str, str]],
        settings_view: Callable[[], Mapping[str, str]] | None = None,
        secrets: Callable[[], Iterable[str]] = tuple,
    ) -> None:
        self.environ = environ
        self.settings_view = settings_view
        self.secrets = secrets

    def handle(self, pack: ParamPack) -> ParamPack | None:
        """The reply to ``pack``, or None for commands that get no reply."""
        entries: dict[str, str]
        if pack.id == GET_ENV:
            env = {k: v for k, v in self.environ().items() if is_allowed_env(k)}
            entries = without_secrets(env, self.secrets()) | runtime_entries()
        elif pack.id == CONFIGURE_GET:
            view = self.settings_view() if self.settings_view is not None else {}
            entries = without_secrets(view, self.secrets())
        elif pack.id == SET_CONFIG:
            entries = {"error": SET_CONFIG_REFUSAL}
        else:
            return None
        values: dict[str, Value] = {k: TextValue(v) for k, v in entries.items()}
        return pack.to_response(values)
