"""The report-once state machine both config sources share."""

from __future__ import annotations

import hashlib

from openagent.config import ConfigError, ContentReporter, LoadedConfig

GOOD = b"features:\n  openAgent:\n    enabled: true\n"
BAD = b"features:\n  openAgent:\n    enabled: maybe\n"


class Recorder:
    def __init__(self) -> None:
        self.seen: list[str] = []

    async def on_change(self, loaded: LoadedConfig) -> None:
        self.seen.append(f"change {loaded.digest[:6]}")

    async def on_error(self, error: ConfigError) -> None:
        self.seen.append("error " + "; ".join(str(p) for p in error.problems))


async def test_content_and_problems_are_each_reported_once_until_the_state_changes() -> None:
    rec = Recorder()
    reporter = ContentReporter("src", rec.on_change, rec.on_error)
    await reporter.content(GOOD)
    await reporter.content(GOOD)  # the same content: nothing
    await reporter.content(BAD)
    await reporter.content(BAD)  # the same bad content: reported once
    await reporter.problem("gone")
    await reporter.problem("gone")  # the same problem: once
    await reporter.content(GOOD)  # after a problem, even the last good content is news
    assert [s.split(" ")[0] for s in rec.seen] == ["change", "error", "error", "change"]
    assert "enabled" in rec.seen[1] and rec.seen[2] == "error src: gone"


async def test_known_content_is_not_reported_and_a_failing_handler_is_survived() -> None:
    calls: list[str] = []

    async def broken(_: object) -> None:
        calls.append("called")
        raise RuntimeError("handler bug")

    reporter = ContentReporter("src", broken, broken, hashlib.sha256(GOOD).hexdigest())
    await reporter.content(GOOD)
    assert calls == []
    await reporter.content(BAD)
    await reporter.problem("gone")
    assert calls == ["called", "called"]
