"""Self-metrics of the Whatap sink and its collector session."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from openagent.telemetry import REGISTRY

CONNECTED = Gauge(
    "openagent_whatap_connected",
    "1 while a handshaken session with the Whatap collector is up, else 0.",
    registry=REGISTRY,
)
CONNECTS = Counter(
    "openagent_whatap_connect_attempts",
    "Connection attempts to the Whatap collector by result (ok, refused, timeout, "
    "rejected, handshake, error).",
    ["result"],
    registry=REGISTRY,
)
DISCONNECTS = Counter(
    "openagent_whatap_disconnects",
    "Established collector sessions that ended, by cause (closed, timeout, invalid, error).",
    ["cause"],
    registry=REGISTRY,
)
FRAMES_SENT = Counter(
    "openagent_whatap_frames_sent",
    "Frames written to the collector by kind (pack, time_sync).",
    ["kind"],
    registry=REGISTRY,
)
BYTES_SENT = Counter(
    "openagent_whatap_sent_bytes",
    "Bytes written to the collector (frame headers included).",
    registry=REGISTRY,
)
OVERSIZE = Counter(
    "openagent_whatap_oversize_packs",
    "Packs above the send limit, replaced by a NEW_OVERFLOW event pack.",
    registry=REGISTRY,
)
COMMANDS = Counter(
    "openagent_whatap_server_commands",
    "Commands (ParamPacks) received from the collector, by command.",
    ["command"],
    registry=REGISTRY,
)
BARRIERS = Counter(
    "openagent_whatap_barriers",
    "Delivery barriers (TIME_SYNC written after a group of packs) by outcome: confirmed, "
    "timeout (no answer in time: connection reset), lost (connection broke meanwhile), "
    "unconfirmed (the connection turned to unconfirmed delivery).",
    ["result"],
    registry=REGISTRY,
)
UNCONFIRMED = Gauge(
    "openagent_whatap_delivery_unconfirmed",
    "1 while the current collector connection delivers without confirmation (its collector "
    "answers no TIME_SYNC: packs count as delivered once written), else 0.",
    registry=REGISTRY,
)
