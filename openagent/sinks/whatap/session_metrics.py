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
