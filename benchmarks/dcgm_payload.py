"""Synthetic dcgm-exporter payloads, rendered the way dcgm-exporter 4.x renders them.

Per family a ``# HELP`` and a ``# TYPE`` line, then one line per GPU (or per GPU
and pod when pods share GPUs), labels in the exporter's order ``gpu, UUID,
pci_bus_id, device, modelName, Hostname, DCGM_FI_DRIVER_VERSION`` and then
``container, namespace, pod``. Integers are printed plainly, doubles with six
decimals, counters have no ``_total`` suffix, and family order changes from
scrape to scrape as Go map iteration does. The field names, types and help
texts come from dcgm-exporter's shipped counter CSVs.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

# (field, type, help, kind): kind says how values look: "int", "float", "ratio", "counter".
FAMILIES: tuple[tuple[str, str, str, str], ...] = (
    ("DCGM_FI_DEV_SM_CLOCK", "gauge", "SM clock frequency (in MHz).", "int"),
    ("DCGM_FI_DEV_MEM_CLOCK", "gauge", "Memory clock frequency (in MHz).", "int"),
    ("DCGM_FI_DEV_MEMORY_TEMP", "gauge", "Memory temperature (in C).", "int"),
    ("DCGM_FI_DEV_GPU_TEMP", "gauge", "GPU temperature (in C).", "int"),
    ("DCGM_FI_DEV_POWER_USAGE", "gauge", "Power draw (in W).", "float"),
    (
        "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION",
        "counter",
        "Total energy consumption since boot (in mJ).",
        "counter",
    ),
    ("DCGM_FI_DEV_PCIE_REPLAY_COUNTER", "counter", "Total number of PCIe retries.", "counter"),
    ("DCGM_FI_DEV_GPU_UTIL", "gauge", "GPU utilization (in %).", "int"),
    ("DCGM_FI_DEV_MEM_COPY_UTIL", "gauge", "Memory utilization (in %).", "int"),
    ("DCGM_FI_DEV_ENC_UTIL", "gauge", "Encoder utilization (in %).", "int"),
    ("DCGM_FI_DEV_DEC_UTIL", "gauge", "Decoder utilization (in %).", "int"),
    ("DCGM_FI_DEV_XID_ERRORS", "gauge", "Value of the last XID error encountered.", "int"),
    ("DCGM_FI_DEV_FB_FREE", "gauge", "Framebuffer memory free (in MiB).", "int"),
    ("DCGM_FI_DEV_FB_USED", "gauge", "Framebuffer memory used (in MiB).", "int"),
    ("DCGM_FI_DEV_FB_RESERVED", "gauge", "Framebuffer memory reserved (in MiB).", "int"),
    (
        "DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL",
        "counter",
        "Total number of NVLink bandwidth counters for all lanes.",
        "counter",
    ),
    ("DCGM_FI_DEV_VGPU_LICENSE_STATUS", "gauge", "vGPU License status", "int"),
    (
        "DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS",
        "counter",
        "Number of remapped rows for uncorrectable errors",
        "counter",
    ),
    (
        "DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS",
        "counter",
        "Number of remapped rows for correctable errors",
        "counter",
    ),
    ("DCGM_FI_DEV_ROW_REMAP_FAILURE", "gauge", "Whether remapping of rows has failed", "int"),
    (
        "DCGM_FI_PROF_GR_ENGINE_ACTIVE",
        "gauge",
        "Ratio of time the graphics engine is active.",
        "ratio",
    ),
    (
        "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE",
        "gauge",
        "Ratio of cycles the tensor (HMMA) pipe is active.",
        "ratio",
    ),
    (
        "DCGM_FI_PROF_DRAM_ACTIVE",
        "gauge",
        "Ratio of cycles the device memory interface is active sending or receiving data.",
        "ratio",
    ),
    (
        "DCGM_FI_PROF_PCIE_TX_BYTES",
        "counter",
        "Total number of bytes transmitted through PCIe TX via NVML.",
        "counter",
    ),
    (
        "DCGM_FI_PROF_PCIE_RX_BYTES",
        "counter",
        "Total number of bytes received through PCIe RX via NVML.",
        "counter",
    ),
    (
        "DCGM_FI_PROF_SM_ACTIVE",
        "gauge",
        "The ratio of cycles an SM has at least 1 warp assigned.",
        "ratio",
    ),
    (
        "DCGM_FI_PROF_SM_OCCUPANCY",
        "gauge",
        "The ratio of number of warps resident on an SM.",
        "ratio",
    ),
    (
        "DCGM_FI_DEV_ECC_SBE_VOL_TOTAL",
        "counter",
        "Total number of single-bit volatile ECC errors.",
        "counter",
    ),
    (
        "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL",
        "counter",
        "Total number of double-bit volatile ECC errors.",
        "counter",
    ),
    (
        "DCGM_FI_DEV_ECC_SBE_AGG_TOTAL",
        "counter",
        "Total number of single-bit persistent ECC errors.",
        "counter",
    ),
    (
        "DCGM_FI_DEV_ECC_DBE_AGG_TOTAL",
        "counter",
        "Total number of double-bit persistent ECC errors.",
        "counter",
    ),
    (
        "DCGM_FI_DEV_POWER_VIOLATION",
        "counter",
        "Throttling duration due to power constraints (in ns).",
        "counter",
    ),
    (
        "DCGM_FI_DEV_THERMAL_VIOLATION",
        "counter",
        "Throttling duration due to thermal constraints (in ns).",
        "counter",
    ),
    (
        "DCGM_FI_DEV_SYNC_BOOST_VIOLATION",
        "counter",
        "Throttling duration due to sync-boost constraints (in ns).",
        "counter",
    ),
    (
        "DCGM_FI_DEV_BOARD_LIMIT_VIOLATION",
        "counter",
        "Throttling duration due to board limit constraints (in ns).",
        "counter",
    ),
    (
        "DCGM_FI_DEV_NVLINK_CRC_FLIT_ERROR_COUNT_TOTAL",
        "counter",
        "Total number of NVLink flow-control CRC errors.",
        "counter",
    ),
    (
        "DCGM_FI_DEV_NVLINK_CRC_DATA_ERROR_COUNT_TOTAL",
        "counter",
        "Total number of NVLink data CRC errors.",
        "counter",
    ),
    (
        "DCGM_FI_DEV_NVLINK_REPLAY_ERROR_COUNT_TOTAL",
        "counter",
        "Total number of NVLink retries.",
        "counter",
    ),
    (
        "DCGM_FI_DEV_NVLINK_RECOVERY_ERROR_COUNT_TOTAL",
        "counter",
        "Total number of NVLink recovery errors.",
        "counter",
    ),
    (
        "DCGM_FI_PROF_PIPE_FP16_ACTIVE",
        "gauge",
        "Ratio of cycles the fp16 pipes are active.",
        "ratio",
    ),
)

#: The 25 families of dcgm-exporter's default-counters.csv that exist on DCP-capable GPUs.
DEFAULT_FAMILY_COUNT = 25


@dataclass(frozen=True)
class NodeShape:
    """What one synthetic GPU node exposes."""

    hostname: str = "gpu-node-0"
    gpus: int = 8
    families: int = 40
    pods_per_gpu: int = 0
    model: str = "NVIDIA H100 80GB HBM3"
    driver: str = "550.54.15"
    seed: int = 0


def _label_blocks(shape: NodeShape) -> list[str]:
    rng = random.Random(f"{shape.hostname}/{shape.seed}")
    blocks = []
    for gpu in range(shape.gpus):
        parts = (rng.getrandbits(32), rng.getrandbits(16), rng.getrandbits(16))
        tail = (rng.getrandbits(16), rng.getrandbits(48))
        uuid = "GPU-{:08x}-{:04x}-{:04x}-{:04x}-{:012x}".format(*parts, *tail)
        base = (
            f'gpu="{gpu}",UUID="{uuid}",pci_bus_id="00000000:{0x18 + gpu * 0x10:02X}:00.0",'
            f'device="nvidia{gpu}",modelName="{shape.model}",Hostname="{shape.hostname}",'
            f'DCGM_FI_DRIVER_VERSION="{shape.driver}"'
        )
        if shape.pods_per_gpu == 0:
            blocks.append(base)
            continue
        for pod in range(shape.pods_per_gpu):
            blocks.append(
                f'{base},container="trainer",namespace="team-{gpu % 4}",'
                f'pod="train-{gpu}-{pod}-{rng.getrandbits(20):05x}"'
            )
    return blocks


class Payload:
    """Renders successive scrapes of one synthetic node."""

    def __init__(self, shape: NodeShape) -> None:
        self.shape = shape
        self.families = FAMILIES[: shape.families]
        self.blocks = _label_blocks(shape)
        self._counters = [[0] * len(self.blocks) for _ in self.families]

    @property
    def samples(self) -> int:
        """Sample lines per scrape."""
        return len(self.families) * len(self.blocks)

    def render(self, scrape: int, *, shuffle: bool = True) -> bytes:
        """Return the body of scrape number ``scrape`` (values change with it)."""
        rng = random.Random(f"{self.shape.hostname}/{self.shape.seed}/{scrape}")
        order = list(range(len(self.families)))
        if shuffle:
            rng.shuffle(order)
        out: list[str] = []
        for fi in order:
            name, typ, help_text, kind = self.families[fi]
            out.append(f"# HELP {name} {help_text}")
            out.append(f"# TYPE {name} {typ}")
            counters = self._counters[fi]
            for bi, block in enumerate(self.blocks):
                if kind == "int":
                    value = str(rng.randrange(0, 2000))
                elif kind == "float":
                    value = f"{rng.uniform(60, 700):f}"
                elif kind == "ratio":
                    value = f"{rng.random():f}"
                else:
                    counters[bi] += rng.randrange(0, 1000)
                    value = str(counters[bi])
                out.append(f"{name}{{{block}}} {value}")
        out.append("")
        return "\n".join(out).encode()


def render(shape: NodeShape | None = None, scrape: int = 0) -> bytes:
    """One body for ``shape`` (default: 8 GPUs, 40 families, no pods)."""
    return Payload(shape or NodeShape()).render(scrape)
