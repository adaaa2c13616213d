"""The delivery layer's own metrics, per sink (``openagent_delivery_*``).

Every sample handed to a sink ends in exactly one of two counters:
``openagent_delivery_samples_sent_total`` or
``openagent_delivery_samples_dropped_total{reason}``, with these reasons:

``queue_full``    no spool, and the memory queue overflowed (oldest dropped)
``spool_full``    the spool reached ``--spool-max-bytes`` (oldest segments dropped)
``spool_corrupt`` a spooled record failed its checksum or was cut short
``spool_error``   the spool could not be written (disk full, I/O error)
``rejected``      the sink refused the batch for good (e.g. HTTP 400)
``sink_error``    the sink failed in an unexpected way (a bug; logged with a traceback)
``encode_error``  the sink could not encode the scrape result
``shutdown``      still queued when the process stopped, and no spool to keep it

With a spool, every queued batch is on disk (write-through), so a process
killed without warning (SIGKILL, OOM) loses nothing queued; without one it
loses what was in the memory queue, uncounted. Samples that may have been
delivered twice (sent again after an unclean stop) are counted in
``openagent_delivery_replayed_samples_total``.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from openagent.telemetry import REGISTRY

DROP_REASONS = (
    "queue_full",
    "spool_full",
    "spool_corrupt",
    "spool_error",
    "rejected",
    "sink_error",
    "encode_error",
    "shutdown",
)

QUEUE_BATCHES = Gauge(
    "openagent_delivery_queue_batches",
    "Batches waiting in a sink's memory queue.",
    ["sink"],
    registry=REGISTRY,
)
QUEUE_BYTES = Gauge(
    "openagent_delivery_queue_bytes",
    "Bytes held by a sink's memory queue (payloads plus a fixed overhead per batch).",
    ["sink"],
    registry=REGISTRY,
)
SPOOL_BYTES = Gauge(
    "openagent_delivery_spool_bytes",
    "Bytes of a sink's spool segment files on disk.",
    ["sink"],
    registry=REGISTRY,
)
SPOOL_SEGMENTS = Gauge(
    "openagent_delivery_spool_segments",
    "Segment files in a sink's spool.",
    ["sink"],
    registry=REGISTRY,
)
SPOOL_SAMPLES = Gauge(
    "openagent_delivery_spool_samples",
    "Samples in a sink's spool not yet handed to the sink.",
    ["sink"],
    registry=REGISTRY,
)
HANDED_SAMPLES = Counter(
    "openagent_delivery_samples_handed",
    "Samples handed to a sink by the scrape loops (stale markers included where the sink "
    "carries them); each ends up sent, dropped with a reason, or still queued.",
    ["sink"],
    registry=REGISTRY,
)
RECOVERED_SAMPLES = Counter(
    "openagent_delivery_samples_recovered",
    "Samples found in a sink's spool when the process started, left by an earlier run.",
    ["sink"],
    registry=REGISTRY,
)
SENT_SAMPLES = Counter(
    "openagent_delivery_samples_sent",
    "Samples the sink accepted.",
    ["sink"],
    registry=REGISTRY,
)
SENT_BATCHES = Counter(
    "openagent_delivery_batches_sent",
    "Batches the sink accepted.",
    ["sink"],
    registry=REGISTRY,
)
RETRIED_BATCHES = Counter(
    "openagent_delivery_batches_retried",
    "Send attempts that failed with a retryable error and will be retried.",
    ["sink"],
    registry=REGISTRY,
)
DROPPED_SAMPLES = Counter(
    "openagent_delivery_samples_dropped",
    "Samples that will never reach the sink, by reason.",
    ["sink", "reason"],
    registry=REGISTRY,
)
CORRUPT_BYTES = Counter(
    "openagent_delivery_spool_corrupt_bytes",
    "Spool bytes skipped because no readable record header covered them (samples unknown).",
    ["sink"],
    registry=REGISTRY,
)
SPOOL_RECOVERY_ERRORS = Counter(
    "openagent_delivery_spool_recovery_errors",
    "Damage found in a sink's spool when the process started, by problem: "
    "checkpoint_unusable, position_mark_damaged, position_beyond_end, "
    "segment_missing (one per missing segment file: what it held cannot be known), "
    "segment_unreadable, segment_not_a_file.",
    ["sink", "problem"],
    registry=REGISTRY,
)
REPLAYED_SAMPLES = Counter(
    "openagent_delivery_replayed_samples",
    "Samples sent again after an unclean stop that may already have been delivered.",
    ["sink"],
    registry=REGISTRY,
)
SEND_SECONDS = Histogram(
    "openagent_delivery_send_duration_seconds",
    "Duration of one send attempt to a sink (successful or not).",
    ["sink"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
OLDEST_AGE = Gauge(
    "openagent_delivery_oldest_unsent_age_seconds",
    "Age of the oldest sample not yet delivered (head of the queue), 0 when nothing waits.",
    ["sink"],
    registry=REGISTRY,
)
