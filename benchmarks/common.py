"""What the micro-benchmarks share: the payload shapes they report on, and core pinning."""

from __future__ import annotations

import os

from benchmarks.dcgm_payload import NodeShape

#: The two dcgm-exporter shapes every per-sample benchmark reports.
STANDARD_SHAPES: tuple[tuple[str, NodeShape], ...] = (
    ("8 GPUs x 40 families (320)", NodeShape(gpus=8, families=40)),
    ("8 GPUs x 10 pods x 40 families (3,200)", NodeShape(gpus=8, families=40, pods_per_gpu=10)),
)


def pin_one_core() -> str:
    """Pin this process to one CPU where the OS allows it; say what happened."""
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned"
    cpu = max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return f"pinned to CPU {cpu}"
