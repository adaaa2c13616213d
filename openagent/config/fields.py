"""Field types shared by the configuration models: durations, sizes, ports, paths.

Each type accepts what the YAML file may hold and raises ``ValueError`` with
a message that says what was expected; the loader turns that message into a
problem at the field's YAML path.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field, StrictInt, StrictStr

from openagent.config.problems import describe
from openagent.config.units import parse_duration, parse_size

_PORT_NAME = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?")
_HOST = re.compile(r"[A-Za-z0-9._%-]+")


def _positive(seconds: float) -> float:
    if seconds <= 0:
        raise ValueError("must be longer than 0s")
    return seconds


def check_port(value: object) -> str:
    """A port number (1-65535) or a Kubernetes port name; YAML integers become strings.

    The Go agent silently drops integer ports (``port: 9400`` unquoted); they
    are accepted here.
    """
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"expected a port number or a port name, got {describe(value)}")
    text = str(value)
    if text.isdigit():
        if not 1 <= int(text) <= 65535:
            raise ValueError(f"port {text} is out of range (1-65535)")
        return str(int(text))
    if (
        len(text) > 15
        or not _PORT_NAME.fullmatch(text)
        or "--" in text
        or not any(c.isalpha() for c in text)
    ):
        raise ValueError(
            f"expected a port number (1-65535) or a port name such as 'metrics' "
            f"(lower-case letters, digits and '-', at most 15 characters), got {describe(value)}"
        )
    return text


def check_address(value: str) -> str:
    """A ``host:port`` address; IPv6 hosts in brackets (``[::1]:9400``)."""
    expected = "expected host:port such as '10.0.0.5:9400'"
    if "://" in value or "/" in value:
        raise ValueError(f"{expected} without a scheme or path, got {value!r}")
    if value.startswith("["):
        host, sep, port = value[1:].partition("]:")
        if not sep or not host or ":" not in host:
            raise ValueError(f"{expected}, got {value!r}")
    else:
        host, sep, port = value.rpartition(":")
        if ":" in host:
            raise ValueError(f"an IPv6 address needs brackets, such as '[::1]:9400', got {value!r}")
        if not sep or not host or not _HOST.fullmatch(host):
            raise ValueError(f"{expected}, got {value!r}")
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"{expected}, got {value!r} (the port must be 1-65535)")
    return value


def check_path(value: str) -> str:
    """An HTTP path starting with ``/`` and without a query or fragment."""
    if not value.startswith("/"):
        raise ValueError(f"expected a path starting with '/', got {value!r}")
    if "?" in value or "#" in value:
        raise ValueError(
            f"expected a path without '?' or '#' (use params for the query), got {value!r}"
        )
    if any(c.isspace() for c in value):
        raise ValueError(f"expected a path without spaces, got {value!r}")
    return value


def one_or_many(value: object) -> object:
    """A single string stands for a list of one."""
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list | tuple):
        hint = " (put it in quotes)" if isinstance(value, int | float) else ""
        raise ValueError(f"expected a string or a list of strings, got {describe(value)}{hint}")
    return value


def empty_is_none(value: object) -> object:
    """The operator renders unset strings as ``""``: treat them as absent."""
    return None if value == "" else value


def lower(value: object) -> object:
    """Lower-case strings; leave other values for the type check to reject."""
    return value.lower() if isinstance(value, str) else value


#: Seconds; ``15s``, ``1m30s``, ``500ms``, a bare number of seconds.
Duration = Annotated[float, BeforeValidator(parse_duration)]
#: A duration that must be longer than zero.
PositiveDuration = Annotated[float, BeforeValidator(parse_duration), AfterValidator(_positive)]
#: Bytes; an integer or ``"16MiB"``-style text.
Size = Annotated[int, BeforeValidator(parse_size)]
#: An integer that is zero or more.
Count = Annotated[StrictInt, Field(ge=0)]
#: A string that is not empty.
Name = Annotated[StrictStr, Field(min_length=1)]
Port = Annotated[str, BeforeValidator(check_port)]
Address = Annotated[StrictStr, AfterValidator(check_address)]
UrlPath = Annotated[StrictStr, AfterValidator(check_path)]
