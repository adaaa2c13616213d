"""The `Target` model: what to scrape, which labels to attach, and how."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from openagent.model import Labels

if TYPE_CHECKING:
    from openagent.config import EndpointConfig, RelabelConfig


@dataclass(frozen=True, slots=True)
class Target:
    """One scrape target, immutable.

    ``labels`` are the target labels after target relabelling (``job``,
    ``instance`` and whatever discovery and relabelling added); they never
    contain ``__``-prefixed names. ``id`` is a stable hash of job, URL and
    labels: the same target found again has the same id, and scrape settings
    (interval, timeout, limits) can change without changing it.
    """

    job: str
    url: str
    labels: Labels
    endpoint: EndpointConfig
    metric_relabel: tuple[RelabelConfig, ...] = ()
    source: str = ""
    id: str = field(init=False, default="")

    def __post_init__(self) -> None:
        h = hashlib.blake2b(digest_size=8)
        h.update(self.job.encode())
        h.update(b"\x00")
        h.update(self.url.encode())
        for k, v in sorted(self.labels):
            h.update(b"\x00" + k.encode() + b"\x01" + v.encode())
        object.__setattr__(self, "id", h.hexdigest())

    @property
    def instance(self) -> str:
        """The ``instance`` label (host:port by default)."""
        for k, v in self.labels:
            if k == "instance":
                return v
        return ""
