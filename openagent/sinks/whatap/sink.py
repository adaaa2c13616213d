"""The ``whatap`` sink: scrape results as OpenMx packs over the collector session.

``encode`` turns a result into packs (one `Batch` per pack) with the
`OpenMxEncoder`; ``send`` writes one pack as a frame. On every fresh
connection the HELP metadata of all known families goes first, since the
collector keeps nothing across sessions that the agent could rely on. A batch
that could not be written raises a retryable `SinkError` and is not counted
as sent; the delivery layer retries it.

Identity: PCODE and the security key come from the license (a malformed one
is refused at construction with a message that never quotes it). ONAME is
``WHATAP_ONAME`` if set, else `identity.stable_default_oname` (the workload
name, stable across pod restarts), else the Go agent's pattern
``{type}-{ip2}-{ip3}-{process}`` over the local address that reaches the
first collector host. It is decided once and then kept for the life of the
process, so pack headers and frames always agree. OKIND and ONODE follow the
Go agent (``WHATAP_OKIND`` / ``POD_NAME``; ``WHATAP_ONODE`` / ``NODE_NAME`` /
``NODE_IP``).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket

from openagent.model import ScrapeResult
from openagent.settings import Settings
from openagent.sinks.base import Batch, SinkError
from openagent.sinks.whatap.control import CommandHandler
from openagent.sinks.whatap.encoder import OpenMxEncoder, PackIdentity
from openagent.sinks.whatap.identity import (
    DEFAULT_ONAME_PATTERN,
    make_oname,
    name_hash,
    okind_name,
    oname_params,
    onode_name,
    stable_default_oname,
)
from openagent.sinks.whatap.license import LicenseError, parse_license
from openagent.sinks.whatap.session import Session, SessionConfig, SessionError, wall_ms
from openagent.sinks.whatap.session_metrics import OVERSIZE_SAMPLES
from openagent.telemetry import Throttle, get_logger

log = get_logger("whatap")


def identity_env(settings: Settings) -> dict[str, str]:
    """The identity inputs of the settings, under the names `identity` reads."""
    pairs = {
        "WHATAP_ONAME": settings.oname,
        "WHATAP_OKIND": settings.okind,
        "WHATAP_ONODE": settings.onode,
        "POD_NAME": settings.pod_name,
        "NODE_NAME": settings.node_name,
        "NODE_IP": settings.node_ip,
    }
    return {k: v.strip() for k, v in pairs.items() if v and v.strip()}


def probe_local_ip(host: str, port: int) -> str:
    """The local IPv4 address the system would use towards ``host`` ("" if unknown).

    Connecting a UDP socket only picks a route; no packet is sent.
    """
    try:
        infos = socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_DGRAM)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(infos[0][4])
            return str(s.getsockname()[0])
    except (OSError, IndexError):
        return ""


def settings_view(settings: Settings) -> dict[str, str]:
    """The effective settings as text, for CONFIGURE_GET (the license left out)."""
    dumped = settings.model_dump(mode="json", exclude={"license"})
    return {
        k: v if isinstance(v, str) else json.dumps(v) for k, v in dumped.items() if v is not None
    }


class WhatapSink:
    """Sends OpenMx packs to the Whatap collector."""

    max_batch_delay = 0.0

    def __init__(
        self, session: Session, *, shard: int | None = None, connect_wait: float = 5.0
    ) -> None:
        self.name = "whatap"
        self.session = session
        self.connect_wait = connect_wait
        self._env = dict(session.config.identity_env)
        self._encoder: OpenMxEncoder | None = None
        self._help_generation = 0
        self._throttle = Throttle(60.0)
        oname = self._env.get("WHATAP_ONAME") or stable_default_oname(self._env, shard=shard)
        if oname:
            self._decide(oname)

    @classmethod
    def from_settings(cls, settings: Settings) -> WhatapSink:
        """The sink the settings describe; ValueError names what is missing or malformed."""
        if settings.license is None:
            raise ValueError("the whatap sink needs WHATAP_LICENSE")
        if not settings.whatap_hosts:
            raise ValueError("the whatap sink needs WHATAP_HOST (the collector's address)")
        secret = settings.license.get_secret_value()
        try:
            keys = parse_license(secret)
        except LicenseError as exc:
            raise ValueError(f"WHATAP_LICENSE is malformed: {exc}") from None
        config = SessionConfig(
            hosts=settings.whatap_hosts,
            port=settings.port,
            pcode=keys.pcode,
            license_key=keys.security_key,
            identity_env=identity_env(settings),
            cypher_level=settings.cypher_level,
            connect_timeout=settings.whatap_connect_timeout,
            handshake_timeout=settings.whatap_timeout,
            read_timeout=settings.whatap_timeout,
        )
        commands = CommandHandler(
            environ=lambda: os.environ,
            settings_view=lambda: settings_view(settings),
            secrets=lambda: (secret,),
        )
        return cls(
            Session(config, commands=commands),
            shard=settings.shard_index if settings.shard_count > 1 else None,
            connect_wait=settings.whatap_connect_timeout,
        )

    # -- identity --------------------------------------------------------------

    @property
    def oname(self) -> str | None:
        """The ONAME, once decided."""
        return self._env.get("WHATAP_ONAME") if self._encoder is not None else None

    def _decide(self, oname: str) -> OpenMxEncoder:
        # The session then uses this name on every connect, so frames match the packs.
        self._env["WHATAP_ONAME"] = oname
        self.session.set_oname(oname)
        identity = PackIdentity(
            pcode=self.session.config.pcode,
            oid=name_hash(oname),
            okind=name_hash(okind_name(self._env)),
            onode=name_hash(onode_name(self._env)),
        )
        self._encoder = OpenMxEncoder(identity)
        return self._encoder

    def _pattern_oname(self, local_ip: str) -> str:
        return make_oname(DEFAULT_ONAME_PATTERN, oname_params(ip=local_ip))

    def encoder(self) -> OpenMxEncoder:
        """The encoder (deciding the Go-pattern ONAME now if it was not decided yet)."""
        if self._encoder is not None:
            return self._encoder
        cfg = self.session.config
        return self._decide(self._pattern_oname(probe_local_ip(cfg.hosts[0], cfg.port)))

    # -- Sink protocol ---------------------------------------------------------

    def encode(self, result: ScrapeResult) -> list[Batch]:
        """Help packs when due, then the OpenMx packs of ``result``; one batch per pack."""
        return self.encoder().encode(result, wall_ms())

    def flush(self) -> list[Batch]:
        """Nothing is held back."""
        return []

    async def start(self) -> None:
        """Decide the identity (off the loop if it needs a route lookup); start connecting."""
        if self._encoder is None:
            cfg = self.session.config
            loop = asyncio.get_running_loop()
            ip = await loop.run_in_executor(None, probe_local_ip, cfg.hosts[0], cfg.port)
            if self._encoder is None:
                self._decide(self._pattern_oname(ip))
        await self.session.start()

    async def send(self, batch: Batch) -> None:
        """Write one pack; on a fresh connection the help packs go first."""
        encoder = self.encoder()
        try:
            generation = await self.session.wait_connected(self.connect_wait)
            if generation != self._help_generation:
                for pack in encoder.help_packs(wall_ms()):
                    await self.session.send_pack(pack, generation=generation)
                self._help_generation = generation
            sent = await self.session.send_pack(batch.payload, generation=generation)
        except SessionError as exc:
            raise SinkError(str(exc), retryable=True) from None
        if not sent:
            OVERSIZE_SAMPLES.inc(batch.samples)
            if self._throttle.allow("oversize"):
                log.error(
                    "samples dropped: their pack was above the send limit",
                    samples=batch.samples,
                    suppressed=self._throttle.take_suppressed("oversize"),
                )

    async def close(self) -> None:
        """Half-close the session, let the collector read everything, close it."""
        await self.session.close()
