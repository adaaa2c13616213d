"""The ``whatap`` sink: scrape results as OpenMx packs over the collector session.

``encode`` turns a result into packs (one `Batch` per pack) with the
`OpenMxEncoder`: OpenMx records, then native histograms (one histogram
counts as one sample). ``send`` writes one pack as a frame. On every fresh
connection the HELP metadata of all known families goes first, since the
collector keeps nothing across sessions that the agent could rely on; the
help packs encoded before that and still queued then carry nothing new and
are not sent, so a family's help goes once per connection, not twice. A batch
that could not be written raises a retryable `SinkError` and is not counted
as sent; the delivery layer retries it. ``send_confirmed`` writes a group of
packs and a TIME_SYNC barrier after them and returns only once the collector
answered it (`barrier`, `Session.confirm`): the protocol has no acknowledgement,
and without one everything written to a collector that froze and then died
counted as sent and was lost. Measured through the agent (10 dcgm nodes, about
575 samples/s, default timeouts, a collector frozen 30 s then killed while a
second one is up): 20,700 of 24,150 handed samples lost with ``send``, none
with ``send_confirmed`` (69 counted as possible duplicates, none arrived twice).

Identity: PCODE and the security key come from the license (a malformed one
is refused at construction with a message that never quotes it). ONAME is
``WHATAP_ONAME`` if set, else `identity.stable_default_oname` (the workload
name, stable across pod restarts), else the Go agent's pattern
``{type}-{ip2}-{ip3}-{process}`` over the local address that reaches the
first collector host. It is decided once and then kept for the life of the
process, so pack headers and frames always agree. OKIND and ONODE follow the
Go agent (``WHATAP_OKIND`` / ``POD_NAME``; ``WHATAP_ONODE`` / ``NODE_NAME`` /
``NODE_IP``).

The encoder cuts packs to the session's send limit, so nothing is lost for
size but a record that alone is above it (``oversize``, from ``encode``). A
pack above the limit that reaches ``send`` anyway (from the spool of a run
with a bigger limit) never reaches the collector (a NEW_OVERFLOW event goes
instead): ``send`` reports its samples lost with reason ``oversize``. The
encoder's losses (``non_finite``, ``too_many_labels``, ``unencodable``,
``oversize``) come back from ``encode``.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from openagent.model import ScrapeResult
from openagent.sinks.base import DELIVERED, Batch, Encoded, Loss, Sent, SinkError
from openagent.sinks.whatap.codec import I16
from openagent.sinks.whatap.control import CommandHandler
from openagent.sinks.whatap.encoder import LOSS_REASONS, OpenMxEncoder, PackIdentity
from openagent.sinks.whatap.header import OPEN_MX_HELP_PACK
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
from openagent.telemetry import Throttle, get_logger

log = get_logger("whatap")

_HELP_TYPE = I16.pack(OPEN_MX_HELP_PACK)


#: Default wait for a barrier's answer, seconds (`WhatapSink.send_confirmed`). The answer
#: comes once the collector has read the group: measured on loopback with the emulator
#: (`benchmarks.whatap_barrier_bench`, a loaded 2-core machine), 20 ms for one 12 KiB pack
#: and 0.43 s for a full group (16 packs, 186 KiB); a WAN adds a round trip. 10 s leaves a
#: margin of 20 over that and is half the Go agent's 20 s write deadline, past which it
#: already deems a collector that takes no data broken. A frozen collector thus costs at
#: most 10 s before the group goes to the next connection.
CONFIRM_TIMEOUT = 10.0
#: Most packs in one confirmed group. Measured (`benchmarks.whatap_barrier_bench`, packs of
#: a 3,200-series dcgm node, 11.6 KiB and 800 samples each; encoding costs 1.0 CPU
#: us/sample): the barrier adds 0.41 CPU us/sample with groups of 1 pack, 0.15 with 4,
#: 0.04 with 16, 0.01 with 64, and throughput stays the collector's (the emulator decodes
#: 30-45k samples/s whatever the group). 16 packs keep the barrier's cost under 5 % of
#: encoding while bounding what a failed group resends (and may duplicate).
CONFIRM_BATCHES = 16
#: Most bytes in one confirmed group: the data at risk while its answer is awaited, sent
#: again (and possibly duplicated) when the answer does not come. 256 KiB is about 17,000
#: dcgm samples at 15 B/sample; over a 100 ms round trip it still lets 2.5 MiB/s through
#: (about 170,000 samples/s).
CONFIRM_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class WhatapOptions:
    """What the Whatap sink is configured with (the process settings' ``WHATAP_*``).

    ``identity_env`` holds the identity inputs under the names
    `openagent.sinks.whatap.identity` reads (``WHATAP_ONAME``, ``POD_NAME``...);
    ``shard`` is this agent's shard when targets are split over several, and
    ``per_pod`` says each pod is a shard member under its own name (both only
    shape the default ONAME, `stable_default_oname`);
    ``settings_view`` gives the effective settings for CONFIGURE_GET. The
    license never shows in ``repr``.
    """

    license: str = field(repr=False)
    hosts: tuple[str, ...] = ()
    port: int = 6600
    identity_env: Mapping[str, str] = field(default_factory=dict)
    cypher_level: int = 128
    connect_timeout: float = 5.0
    timeout: float = 120.0
    shard: int | None = None
    per_pod: bool = False
    settings_view: Callable[[], Mapping[str, str]] | None = None
    confirm_timeout: float = CONFIRM_TIMEOUT


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


def build_whatap_sink(options: WhatapOptions) -> WhatapSink:
    """The sink ``options`` describe; ValueError names what is missing or malformed."""
    if not options.license:
        raise ValueError("the whatap sink needs WHATAP_LICENSE")
    if not options.hosts:
        raise ValueError("the whatap sink needs WHATAP_HOST (the collector's address)")
    secret = options.license
    try:
        keys = parse_license(secret)
    except LicenseError as exc:
        raise ValueError(f"WHATAP_LICENSE is malformed: {exc}") from None
    config = SessionConfig(
        hosts=options.hosts,
        port=options.port,
        pcode=keys.pcode,
        license_key=keys.security_key,
        identity_env=dict(options.identity_env),
        cypher_level=options.cypher_level,
        connect_timeout=options.connect_timeout,
        handshake_timeout=options.timeout,
        read_timeout=options.timeout,
    )
    commands = CommandHandler(
        environ=lambda: os.environ,
        settings_view=options.settings_view,
        secrets=lambda: (secret,),
    )
    return WhatapSink(
        Session(config, commands=commands),
        shard=options.shard,
        per_pod=options.per_pod,
        connect_wait=options.connect_timeout,
        confirm_timeout=options.confirm_timeout,
    )


#: Help packs remembered as queued before the memory starts over (a help pack then
#: forgotten is sent even if a connection's first help carried it: harmless).
HELP_QUEUED_LIMIT = 100_000


def _is_help(batch: Batch) -> bool:
    return batch.samples == 0 and batch.payload[:2] == _HELP_TYPE


class WhatapSink:
    """Sends OpenMx packs to the Whatap collector."""

    max_batch_delay = 0.0
    stale_markers = False
    loss_reasons: tuple[str, ...] = LOSS_REASONS
    #: Native histograms are handed to this sink (and counted one sample each).
    native_histograms = True
    #: Bounds of one confirmed group (`send_confirmed`): see CONFIRM_BATCHES, CONFIRM_BYTES.
    confirm_batches = CONFIRM_BATCHES
    confirm_bytes = CONFIRM_BYTES

    def __init__(
        self,
        session: Session,
        *,
        shard: int | None = None,
        per_pod: bool = False,
        connect_wait: float = 5.0,
        confirm_timeout: float = CONFIRM_TIMEOUT,
    ) -> None:
        self.name = "whatap"
        self.session = session
        self.connect_wait = connect_wait
        self.confirm_timeout = confirm_timeout
        self._env = dict(session.config.identity_env)
        self._encoder: OpenMxEncoder | None = None
        self._slot: str | None = None
        self._help_generation = 0
        # hashes of help packs encoded since the last connection's help went, and of those
        # that help already carried (not sent again)
        self._help_queued: set[int] = set()
        self._help_covered: set[int] = set()
        self._throttle = Throttle(60.0)
        oname = self._env.get("WHATAP_ONAME") or stable_default_oname(
            self._env, shard=shard, per_pod=per_pod
        )
        if oname:
            self._decide(oname)

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
        self._encoder = OpenMxEncoder(identity, max_pack_bytes=self.session.config.max_pack_bytes)
        self._encoder.use_series_slot(self._slot)
        return self._encoder

    def _pattern_oname(self, local_ip: str) -> str:
        """The Go agent's name, said once: outside a pod it is the only default there is,
        it changes with this host's address, and it is what the Whatap console shows."""
        oname = make_oname(DEFAULT_ONAME_PATTERN, oname_params(ip=local_ip))
        log.info(
            "no WHATAP_ONAME and no POD_NAME: the Whatap object name follows the Go agent's "
            f"pattern {DEFAULT_ONAME_PATTERN} over this host's address {local_ip}; "
            "set WHATAP_ONAME to choose the name",
            oname=oname,
        )
        return oname

    def encoder(self) -> OpenMxEncoder:
        """The encoder (deciding the Go-pattern ONAME now if it was not decided yet)."""
        if self._encoder is not None:
            return self._encoder
        cfg = self.session.config
        return self._decide(self._pattern_oname(probe_local_ip(cfg.hosts[0], cfg.port)))

    # -- Sink protocol ---------------------------------------------------------

    def use_series_slot(self, slot: str | None) -> None:
        """Cache each series' encoded record head in ``slot``."""
        self._slot = slot
        if self._encoder is not None:
            self._encoder.use_series_slot(slot)

    def encode(self, result: ScrapeResult) -> Encoded:
        """Help packs when due, then the OpenMx and histogram packs of ``result``; one batch
        per pack."""
        encoded = self.encoder().encode(result, wall_ms())
        for batch in encoded.batches:
            if _is_help(batch):
                if len(self._help_queued) >= HELP_QUEUED_LIMIT:
                    self._help_queued.clear()
                self._help_queued.add(hash(batch.payload))
        return encoded

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

    async def send(self, batch: Batch) -> Sent:
        """Write one pack; on a fresh connection the help packs go first.

        A pack above the send limit is not sent: its samples are lost (``oversize``).
        """
        try:
            generation = await self._connection()
            return await self._write(batch, generation)
        except SessionError as exc:
            raise SinkError(str(exc), retryable=True) from None

    async def send_confirmed(self, batches: Sequence[Batch]) -> list[Sent]:
        """Write ``batches`` on one connection (its help first when it is fresh), then a
        TIME_SYNC barrier, and return once the collector answered it.

        Raises a retryable SinkError when the connection breaks, a write fails or
        no answer comes within ``confirm_timeout`` (the connection is then reset);
        ``written`` counts the batches handed to the socket before that. On a
        connection whose collector answers no TIME_SYNC the group counts as
        delivered once written (`Session.confirm`).
        """
        written = 0
        try:
            generation = await self._connection()
            sent: list[Sent] = []
            for batch in batches:
                try:
                    sent.append(await self._write(batch, generation))
                except SessionError as exc:
                    written += exc.written
                    raise
                written += 1
            await self.session.confirm(generation, self.confirm_timeout)
        except SessionError as exc:
            raise SinkError(str(exc), retryable=True, written=written) from None
        return sent

    async def _connection(self) -> int:
        """The generation of a live connection, its help sent."""
        generation = await self.session.wait_connected(self.connect_wait)
        if generation != self._help_generation:
            await self._send_all_help(generation)
        return generation

    async def _write(self, batch: Batch, generation: int) -> Sent:
        """Write one pack on connection ``generation`` (a help pack its help carried: not)."""
        if _is_help(batch) and self._help_went(batch):
            return DELIVERED
        sent = await self.session.send_pack(batch.payload, generation=generation)
        if sent:
            return DELIVERED
        if self._throttle.allow("oversize"):
            log.error(
                "samples dropped: their pack was above the send limit",
                samples=batch.samples,
                suppressed=self._throttle.take_suppressed("oversize"),
            )
        return Sent(Loss("oversize", batch.samples))

    async def _send_all_help(self, generation: int) -> None:
        """Every known family's help, first on a fresh connection: it covers every help pack
        encoded so far."""
        packs = self.encoder().help_packs(wall_ms())
        queued, self._help_queued = self._help_queued, set()
        try:
            for pack in packs:
                await self.session.send_pack(pack, generation=generation)
        except SessionError:
            self._help_queued |= queued
            raise
        self._help_generation = generation
        if len(self._help_covered) >= HELP_QUEUED_LIMIT:
            self._help_covered.clear()
        self._help_covered |= queued

    def _help_went(self, batch: Batch) -> bool:
        """True if this connection's first help already carried ``batch``'s records."""
        key = hash(batch.payload)
        self._help_queued.discard(key)
        if key in self._help_covered:
            self._help_covered.discard(key)
            return True
        return False

    async def close(self) -> None:
        """Half-close the session, let the collector read everything, close it."""
        await self.session.close()
