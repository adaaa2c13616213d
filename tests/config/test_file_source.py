"""The watcher: changes, ConfigMap symlink swaps, invalid versions, missing files."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

import pytest

from openagent.config import ConfigError, FileSource, LoadedConfig

WAIT = 5.0  # hang protection only


def config_text(interval: str, address: str = "127.0.0.1:19400") -> str:
    return (
        "features:\n  openAgent:\n    enabled: true\n    targets:\n"
        "    - targetName: demo\n      type: StaticEndpoints\n"
        f"      endpoints:\n      - address: {address}\n        interval: {interval}\n"
    )


class Recorder:
    """Collects callback calls in order."""

    def __init__(self) -> None:
        self.events: asyncio.Queue[LoadedConfig | ConfigError] = asyncio.Queue()

    async def on_change(self, loaded: LoadedConfig) -> None:
        await self.events.put(loaded)

    async def on_error(self, error: ConfigError) -> None:
        await self.events.put(error)

    async def next(self) -> LoadedConfig | ConfigError:
        return await asyncio.wait_for(self.events.get(), WAIT)

    def assert_quiet(self) -> None:
        assert self.events.empty(), f"unexpected callback: {self.events.get_nowait()!r}"


def interval_of(event: LoadedConfig | ConfigError) -> float:
    assert isinstance(event, LoadedConfig), event
    return event.config.targets[0].endpoints[0].interval


def watcher(path: Path, rec: Recorder, **kwargs: object) -> FileSource:
    return FileSource(path, rec.on_change, rec.on_error, interval=0.01, **kwargs)  # type: ignore[arg-type]


class ConfigMapDir:
    """A directory laid out as the kubelet lays out a ConfigMap volume."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.generation = 0

    def publish(self, text: str) -> None:
        """Write a new timestamped directory and swap ``..data`` to it atomically."""
        self.generation += 1
        stamp = f"..2026_11_28_10_00_00.{self.generation}"
        (self.root / stamp).mkdir()
        (self.root / stamp / "scrape_config.yaml").write_text(text)
        tmp = self.root / "..data_tmp"
        os.symlink(stamp, tmp)
        os.replace(tmp, self.root / "..data")
        link = self.root / "scrape_config.yaml"
        if not link.is_symlink():
            os.symlink("..data/scrape_config.yaml", link)

    @property
    def file(self) -> Path:
        return self.root / "scrape_config.yaml"


async def test_first_poll_reports_and_changes_are_seen(tmp_path: Path) -> None:
    path = tmp_path / "scrape_config.yaml"
    path.write_text(config_text("15s"))
    rec = Recorder()
    task = asyncio.create_task(watcher(path, rec).run())
    try:
        assert interval_of(await rec.next()) == 15.0
        path.write_text(config_text("30s"))
        event = await rec.next()
        assert interval_of(event) == 30.0
        assert isinstance(event, LoadedConfig)
        assert event.digest == hashlib.sha256(path.read_bytes()).hexdigest()
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_known_digest_suppresses_first_report(tmp_path: Path) -> None:
    path = tmp_path / "scrape_config.yaml"
    path.write_text(config_text("15s"))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    rec = Recorder()
    w = watcher(path, rec, known_digest=digest)
    await w.poll()
    await w.poll()
    rec.assert_quiet()


async def test_unchanged_content_calls_nothing(tmp_path: Path) -> None:
    path = tmp_path / "scrape_config.yaml"
    text = config_text("15s")
    path.write_text(text)
    rec = Recorder()
    w = watcher(path, rec)
    await w.poll()
    assert interval_of(await rec.next()) == 15.0
    # rewrite the same bytes, bump the mtime, replace the file (new inode)
    path.write_text(text)
    await w.poll()
    os.utime(path, ns=(1, 1))
    await w.poll()
    replacement = tmp_path / "new.yaml"
    replacement.write_text(text)
    os.replace(replacement, path)
    await w.poll()
    rec.assert_quiet()


async def test_configmap_symlink_swap(tmp_path: Path) -> None:
    cm = ConfigMapDir(tmp_path)
    cm.publish(config_text("15s"))
    rec = Recorder()
    w = watcher(cm.file, rec, verify_every=10**6)
    task = asyncio.create_task(w.run())
    try:
        assert interval_of(await rec.next()) == 15.0
        cm.publish(config_text("45s"))
        assert interval_of(await rec.next()) == 45.0
        # the same content published again (a new directory) is not a change
        cm.publish(config_text("45s"))
        await asyncio.sleep(0.1)
        rec.assert_quiet()
        cm.publish(config_text("1m"))
        assert interval_of(await rec.next()) == 60.0
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_invalid_swap_calls_on_error_then_recovers(tmp_path: Path) -> None:
    cm = ConfigMapDir(tmp_path)
    cm.publish(config_text("15s"))
    rec = Recorder()
    w = watcher(cm.file, rec)
    await w.poll()
    assert interval_of(await rec.next()) == 15.0
    cm.publish(config_text("15x"))
    await w.poll()
    error = await rec.next()
    assert isinstance(error, ConfigError)
    assert [str(p) for p in error.problems] == [
        f"{cm.file}: targets[0].endpoints[0].interval: '15x' is not a duration"
    ]
    await w.poll()  # the same bad content is reported once
    rec.assert_quiet()
    cm.publish(config_text("15s"))  # back to the last good content: reported again
    await w.poll()
    assert interval_of(await rec.next()) == 15.0


async def test_missing_file_is_retried_then_reported(tmp_path: Path) -> None:
    path = tmp_path / "scrape_config.yaml"
    text = config_text("15s")
    path.write_text(text)
    rec = Recorder()
    w = watcher(path, rec, missing_polls=3)
    await w.poll()
    assert interval_of(await rec.next()) == 15.0
    path.unlink()
    await w.poll()
    await w.poll()
    rec.assert_quiet()
    path.write_text(text)  # back within the grace period, same content
    await w.poll()
    rec.assert_quiet()
    path.unlink()
    for _ in range(3):
        await w.poll()
    error = await rec.next()
    assert isinstance(error, ConfigError)
    assert [str(p) for p in error.problems] == [
        f"{path}: file not found (missing for 3 checks in a row)"
    ]
    for _ in range(5):
        await w.poll()
    rec.assert_quiet()
    path.write_text(text)
    await w.poll()
    assert interval_of(await rec.next()) == 15.0


async def test_dangling_configmap_link_counts_as_missing(tmp_path: Path) -> None:
    cm = ConfigMapDir(tmp_path)
    cm.publish(config_text("15s"))
    rec = Recorder()
    w = watcher(cm.file, rec, missing_polls=2)
    await w.poll()
    await rec.next()
    (tmp_path / "..data").unlink()
    await w.poll()
    rec.assert_quiet()
    await w.poll()
    assert isinstance(await rec.next(), ConfigError)


async def test_unreadable_file_is_reported_once(tmp_path: Path) -> None:
    path = tmp_path / "scrape_config.yaml"
    path.mkdir()
    rec = Recorder()
    w = watcher(path, rec)
    await w.poll()
    error = await rec.next()
    assert isinstance(error, ConfigError)
    assert str(error.problems[0]).startswith(f"{path}: cannot be read: ")
    await w.poll()
    rec.assert_quiet()


async def test_failing_callback_does_not_stop_the_watcher(tmp_path: Path) -> None:
    path = tmp_path / "scrape_config.yaml"
    path.write_text(config_text("15s"))
    seen: list[float] = []

    async def on_change(loaded: LoadedConfig) -> None:
        seen.append(loaded.config.targets[0].endpoints[0].interval)
        raise RuntimeError("handler bug")

    async def on_error(error: ConfigError) -> None:
        raise RuntimeError("handler bug")

    w = FileSource(path, on_change, on_error, interval=0.01)
    await w.poll()
    path.write_text(config_text("15x"))
    await w.poll()
    path.write_text(config_text("20s"))
    await w.poll()
    assert seen == [15.0, 20.0]


def test_interval_must_be_positive(tmp_path: Path) -> None:
    rec = Recorder()
    with pytest.raises(ValueError, match="interval must be positive"):
        FileSource(tmp_path / "x", rec.on_change, rec.on_error, interval=0)


async def test_reload_reads_the_file_at_once_and_reports_only_what_is_new(tmp_path: Path) -> None:
    """What SIGHUP calls: no poll ran (it would wait an hour), yet the edit is reported."""
    path = tmp_path / "c.yaml"
    path.write_text(config_text("15s"))
    rec = Recorder()
    source = FileSource(path, rec.on_change, rec.on_error, interval=3600)
    assert await source.reload() is True
    assert interval_of(await rec.next()) == 15.0
    path.write_text(config_text("30s"))
    assert await source.reload() is True
    assert interval_of(await rec.next()) == 30.0
    assert await source.reload() is False
    rec.assert_quiet()
    path.unlink()
    assert await source.reload() is True  # missing on a reload: said at once, not after polls
    error = await rec.next()
    assert isinstance(error, ConfigError)
    assert [p.message for p in error.problems] == ["file not found"]
