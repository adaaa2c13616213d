"""The delivery layer's front: sinks and options checked; the process spools and exits cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from openagent.delivery import Delivery, DeliveryOptions
from openagent.sinks.jsonl import JsonlSink
from tests.delivery.support import result
from tests.support import Exporter, eventually

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("OPENAGENT_"):
            monkeypatch.delenv(name)


async def test_agent_process_with_spool_flags_exits_zero_and_keeps_a_checkpoint(
    tmp_path: Path, exporter: Exporter
) -> None:
    exporter.body = b'# TYPE dcgm_test gauge\ndcgm_test{gpu="0"} 1\n'
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "features:\n  openAgent:\n    enabled: true\n    targets:\n"
        "    - targetName: t\n      type: StaticEndpoints\n      endpoints:\n"
        f"      - address: 127.0.0.1:{exporter.port}\n        interval: 1s\n"
    )
    out, spool = tmp_path / "o.jsonl", tmp_path / "spool"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "openagent", "run", "--config", str(cfg),
        "--listen", "127.0.0.1:0", "--jsonl-path", str(out), "--log-format", "json",
        "--spool-dir", str(spool), "--spool-fsync", "always", "--memory-queue-bytes", "1MiB",
        "--spool-max-bytes", "64MiB", "--drain-grace", "2s", "--retry-max-backoff", "1s",
        cwd=REPO, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        await eventually(lambda: out.exists() and b"dcgm_test" in out.read_bytes(), 20)
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 15)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()
    assert (spool / "jsonl" / "checkpoint.json").exists()
    assert b"agent stopped" in err


def test_sink_names_must_be_unique_and_usable_as_directories() -> None:
    with pytest.raises(ValueError, match="two sinks are named 'jsonl'"):
        Delivery([JsonlSink(), JsonlSink()], DeliveryOptions())
    bad = JsonlSink()
    bad.name = "../etc"
    with pytest.raises(ValueError, match="cannot name a spool directory"):
        Delivery([bad], DeliveryOptions())


def test_bad_options_are_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="spool_fsync must be one of always, interval, never"):
        DeliveryOptions(spool_fsync="sometimes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="memory_queue_bytes must be >= 0"):
        DeliveryOptions(memory_queue_bytes=-1)


async def test_submitting_before_start_is_a_clear_error() -> None:
    d = Delivery([JsonlSink()], DeliveryOptions())
    with pytest.raises(RuntimeError, match="delivery for sink 'jsonl' is not started"):
        d.submit(result(1))
