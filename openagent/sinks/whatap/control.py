"""Answers to the collector's commands (ParamPacks on the session, PROTOCOL §3.6, §6.5).

The Go agent answers GET_ENV with every environment variable, the license
included, and lets SET_CONFIG rewrite its configuration. Here:

* GET_ENV (12): the environment without anything that looks like a secret
  (names containing LICENSE, SECRET, TOKEN, PASSWORD, KEY, CREDENTIAL, ...,
  and any variable whose value contains a known secret), plus
  ``whatap.agent_version``;
* CONFIGURE_GET (4): the agent's effective settings, filtered the same way;
* SET_CONFIG (14): refused with an ``error`` entry (the agent is configured by
  its environment and its ConfigMap), and logged;
* any other id: ignored, no reply (as the Go agent does for unknown ids).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from openagent import __version__
from openagent.sinks.whatap.packs import CONFIGURE_GET, GET_ENV, SET_CONFIG, ParamPack
from openagent.sinks.whatap.values import TextValue, Value

#: Parts of a variable or setting name that mark it as secret (compared upper-case).
SECRET_MARKERS = (
    "LICENSE",
    "SECRET",
    "TOKEN",
    "PASSWORD",
    "PASSWD",
    "PASSPHRASE",
    "CREDENTIAL",
    "PRIVATE",
    "KEY",
    "AUTH",
    "COOKIE",
    "SIGNATURE",
)

SET_CONFIG_REFUSAL = (
    "openagent does not change its configuration remotely: set it through the "
    "environment (WHATAP_*, OPENAGENT_*) and scrape_config.yaml (its ConfigMap)"
)

COMMAND_NAMES = {CONFIGURE_GET: "CONFIGURE_GET", GET_ENV: "GET_ENV", SET_CONFIG: "SET_CONFIG"}


def is_secret_name(name: str) -> bool:
    """True when ``name`` looks like it holds a secret."""
    upper = name.upper()
    return any(marker in upper for marker in SECRET_MARKERS)


def without_secrets(entries: Mapping[str, str], secrets: Iterable[str] = ()) -> dict[str, str]:
    """``entries`` minus secret-looking names and minus values that contain a known secret."""
    known = [s for s in secrets if s]
    return {
        k: v for k, v in entries.items() if not is_secret_name(k) and not any(s in v for s in known)
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
            entries = without_secrets(self.environ(), self.secrets())
            entries["whatap.agent_version"] = __version__
        elif pack.id == CONFIGURE_GET:
            view = self.settings_view() if self.settings_view is not None else {}
            entries = without_secrets(view, self.secrets())
        elif pack.id == SET_CONFIG:
            entries = {"error": SET_CONFIG_REFUSAL}
        else:
            return None
        values: dict[str, Value] = {k: TextValue(v) for k, v in entries.items()}
        return pack.to_response(values)
