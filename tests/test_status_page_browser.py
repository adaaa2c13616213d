"""The targets page as headless Chromium renders it, served by the agent's own app on loopback.

Chromium loads ``/targets`` as a browser does (its navigation asks for
``text/html``, so the page needs no path of its own) and dumps the DOM after
the page has loaded, scripts included. Host resolution is mapped away for
every name but 127.0.0.1, so the browser reaches nothing beyond loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from openagent.config.models import EndpointConfig
from openagent.model import Target, TargetState
from openagent.server import ServerView, TargetRow, build_app
from tests.html_dom import Element, parse

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.timeout(120),
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (scripts/dev.sh)"),
]

#: Script in a label value: it would retitle the page if it ever ran.
SCRIPT = "<script>document.title='pwned'</script>"
#: An error text carrying markup, as a misbehaving target's error page might.
ERROR_HTML = "500: <b>boom</b><img src=x onerror=\"document.title='pwned'\">"

#: Seconds Chromium gets to load and dump the page.
BROWSER_SECONDS = 60


def fleet() -> list[TargetRow]:
    endpoint = EndpointConfig()
    up = TargetState(health="up", last_scrape_ms=1_800_000_000_000, samples=320)
    down = TargetState(health="down", last_scrape_ms=1_800_000_000_000, last_error=ERROR_HTML)

    def target(job: str, port: int, *labels: tuple[str, str]) -> Target:
        return Target(job, f"http://127.0.0.1:{port}/metrics", (("job", job), *labels), endpoint)

    return [
        (target("dcgm", 9400), up, 0),
        (target("dcgm", 9401), down, 1),
        (target("hostile", 9402, ("gpu", SCRIPT)), TargetState(), None),
    ]


@pytest.fixture
async def base_url() -> AsyncIterator[str]:
    """The app on 127.0.0.1, any free port, with the fleet above and shard ``shard-a``."""

    async def targets() -> list[TargetRow]:
        return fleet()

    view = ServerView(
        ready=lambda: (True, "ok"), targets=targets, config=dict, shard=lambda: "shard-a"
    )
    runner = web.AppRunner(build_app(view))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


async def chromium(profile: Path, *args: str) -> str:
    """Run headless Chromium with ``args``; its stdout. Killed, children too, when done or late."""
    assert CHROMIUM is not None
    proc = await asyncio.create_subprocess_exec(
        *(CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}"),
        *("--no-first-run", "--disable-background-networking", "--disable-component-update"),
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,  # its own process group, so its helpers die with it
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), BROWSER_SECONDS)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
    assert proc.returncode == 0, err.decode(errors="replace")[-2000:]
    return out.decode()


@pytest.fixture
async def dom(base_url: str, tmp_path: Path) -> tuple[str, Element]:
    """The DOM Chromium built from /targets: as it serialised it, and parsed."""
    dumped = await chromium(tmp_path / "profile", "--dump-dom", f"{base_url}/targets")
    return dumped, parse(dumped)


def test_each_target_renders_a_row_in_its_jobs_group(dom: tuple[str, Element]) -> None:
    _, doc = dom
    rows = {
        d.find("h2").text(): [
            tr.find("td", "endpoint").text() for tr in d.find("tbody").find_all("tr")
        ]
        for d in doc.find_all("details")
    }
    assert rows == {
        "dcgm": ["http://127.0.0.1:9400/metrics", "http://127.0.0.1:9401/metrics"],
        "hostile": ["http://127.0.0.1:9402/metrics"],
    }


def test_group_headers_show_up_over_total(dom: tuple[str, Element]) -> None:
    _, doc = dom
    counts = [d.find("span", "count").text() for d in doc.find_all("details")]
    assert counts == ["1/2 up", "0/1 up"]


def test_health_error_and_owner_render_as_text(dom: tuple[str, Element]) -> None:
    _, doc = dom
    health = [s.text() for s in doc.find_all("span", "health")]
    assert health == ["UP", "DOWN", "UNKNOWN"]
    assert [td.text() for td in doc.find_all("td", "error")] == ["", ERROR_HTML, ""]
    owners = [td.text() for td in doc.find_all("td", "owner")]
    assert owners == [f"{who} · shard shard-a" for who in ("worker 0", "worker 1", "agent")]


def test_markup_from_targets_stays_text_and_never_runs(dom: tuple[str, Element]) -> None:
    """Escaping is the guard; the page's Content-Security-Policy is the second one.

    Without escaping, the label's script becomes an element (the second
    assertion fails) but the policy keeps it from running; without both,
    the title reads "pwned" (the first fails).
    """
    dumped, doc = dom
    assert doc.find("title").text() == "openagent · targets"
    assert doc.find_all("script") == [] and doc.find_all("img") == [] and doc.find_all("b") == []
    assert f'gpu="{SCRIPT}"' in [s.text() for s in doc.find_all("span", "label")]
    assert "&lt;script&gt;document.title='pwned'&lt;/script&gt;" in dumped
