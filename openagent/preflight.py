"""What ``openagent run`` checks before it starts, so that a mistake ends the start with one line.

A running agent that cannot do its job (no config, nowhere to write) looks
healthy from outside for a long time; a mistake made at the command line is
best reported at once, as Prometheus and vmagent do. Each check raises a
`StartError` whose text names the setting's value and the reason in one line,
and whose ``code`` is the exit code: 2 for a config the agent cannot run
with (like bad settings), 1 for the machine refusing something (a path that
cannot be written, an address in use).

What is *not* checked here, on purpose: a config that is only named by the
environment or by default, or that comes from a ConfigMap, may appear later
(the Whatap Operator creates it after the agent, a volume is mounted late),
so the agent waits for it (see `openagent.agent`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path

from openagent.config import ConfigError, ConfigLimits, load_config
from openagent.settings import Settings


class StartError(Exception):
    """The agent cannot start: one line for the user and the process exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def os_reason(exc: OSError) -> str:
    """The system's short text for an OS error, lower-case (``address already in use``).

    uvloop and aiohttp put a whole sentence in ``strerror``; the errno's own
    text is what a user searches for.
    """
    if exc.errno and exc.errno > 0 and exc.errno in errno.errorcode:
        text = os.strerror(exc.errno)
    else:
        text = exc.strerror or str(exc) or type(exc).__name__
    if text[1:2].islower():  # "Address already in use", but not "OSError"
        text = text[:1].lower() + text[1:]
    return text


def check_config_file(path: Path, limits: ConfigLimits) -> None:
    """A config named on the command line must load now, within ``limits``: StartError
    (code 2) otherwise."""
    try:
        load_config(path, limits)
    except ConfigError as exc:
        first = exc.problems[0] if exc.problems else None
        where = f"{first.path}: " if first is not None and first.path else ""
        what = first.message if first is not None else str(exc)
        more = len(exc.problems) - 1
        tail = f" (and {more} more; openagent check --config {path} lists them)" if more else ""
        raise StartError(f"cannot load --config {path}: {where}{what}{tail}", 2) from None


def check_jsonl_path(path: str) -> None:
    """The jsonl sink's file can be opened for appending (``-`` is stdout)."""
    if path == "-":
        return
    try:
        with open(path, "ab"):
            pass
    except OSError as exc:
        raise StartError(f"cannot write --jsonl-path {path}: {os_reason(exc)}", 1) from None


def check_spool_dir(directory: Path) -> None:
    """The spool directory exists or can be made, and a file can be written in it."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".openagent-write-test-", dir=directory)
    except OSError as exc:
        raise StartError(f"cannot write --spool-dir {directory}: {os_reason(exc)}", 1) from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)


def check_outputs(settings: Settings) -> None:
    """Every place the agent writes to is writable."""
    if "jsonl" in settings.sinks:
        check_jsonl_path(settings.jsonl_path)
    if settings.spool_dir is not None:
        check_spool_dir(settings.spool_dir)


def listen_error(listen: str, host: str | None, port: int, exc: OSError) -> StartError:
    """The server could not bind ``listen``: exit 1 naming the address and why."""
    shown = listen.strip()
    if host is None:
        shown = f"*:{port}"  # ':9401' and '9401' mean every interface
    return StartError(f"cannot listen on {shown}: {os_reason(exc)}", 1)
