"""The knobs of the delivery layer, as one value."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from openagent.delivery.fsync import FSYNC_POLICIES, FsyncPolicy

MiB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class DeliveryOptions:
    """How each sink's queue, spool and retries behave.

    ``memory_queue_bytes`` bounds each sink's memory: with a spool, a read
    cache of the newest batches (every batch is written to the spool first,
    so a killed process loses nothing queued); without one, the queue
    itself. ``spool_dir`` holds one subdirectory per sink; None means no
    spool, and a full memory queue then drops its oldest batch.
    ``retry_after_max`` caps how long a ``Retry-After`` is honoured (30 s:
    a larger one stalled a sink for minutes after its receiver was back);
    a batch is re-sent at least every ``backoff_max`` regardless.
    ``spool_segment_bytes`` None picks ``min(16 MiB, spool_max_bytes / 8)``.
    """

    memory_queue_bytes: int = 64 * MiB
    spool_dir: Path | None = None
    spool_max_bytes: int = 1024 * MiB
    spool_fsync: FsyncPolicy = "interval"
    spool_fsync_interval: float = 1.0
    spool_segment_bytes: int | None = None
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    retry_after_max: float = 30.0
    log_interval: float = 60.0

    def __post_init__(self) -> None:
        if self.memory_queue_bytes < 0:
            raise ValueError(f"memory_queue_bytes must be >= 0, got {self.memory_queue_bytes}")
        if self.spool_max_bytes <= 0:
            raise ValueError(f"spool_max_bytes must be > 0, got {self.spool_max_bytes}")
        if self.spool_fsync not in FSYNC_POLICIES:
            raise ValueError(
                f"spool_fsync must be one of {', '.join(FSYNC_POLICIES)}, got {self.spool_fsync!r}"
            )
        if self.spool_fsync_interval <= 0:
            raise ValueError(f"spool_fsync_interval must be > 0, got {self.spool_fsync_interval}")
        if self.retry_after_max <= 0:
            raise ValueError(f"retry_after_max must be > 0, got {self.retry_after_max}")
        if not 0 < self.backoff_initial <= self.backoff_max:
            raise ValueError(
                f"need 0 < backoff_initial ({self.backoff_initial}) <= "
                f"backoff_max ({self.backoff_max})"
            )
