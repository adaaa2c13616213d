"""The targets page and the index, rendered and read back as a browser's element tree."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from openagent.config.models import EndpointConfig
from openagent.model import Labels, Target, TargetState
from openagent.status_page import (
    ENDPOINTS,
    PageRow,
    ago,
    duration,
    index_page,
    owner,
    targets_page,
)
from tests.html_dom import Element, parse

NOW = 1_800_000_000.0

#: Markup that would run, load or style something if it reached the page unescaped.
HOSTILE = "<script>document.title='pwned'</script><img src=x onerror=alert(1)>\"'&amp;<b>"

#: The elements the page is built from; anything else came from a value.
PAGE_TAGS = {
    "#document", "html", "head", "meta", "title", "style", "body", "h1", "nav", "a", "p",
    "details", "summary", "h2", "span", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip


def row(
    job: str = "dcgm",
    url: str = "http://127.0.3.1:9400/metrics",
    labels: Labels = (),
    state: TargetState | None = None,
    worker: int | None = None,
) -> PageRow:
    target = Target(job, url, (("job", job), *labels), EndpointConfig())
    return target, state or TargetState(), worker


def up(samples: int = 10) -> TargetState:
    return TargetState(health="up", last_scrape_ms=int((NOW - 3.2) * 1000), samples=samples)


def down(error: str = "connection refused") -> TargetState:
    return TargetState(health="down", last_scrape_ms=int((NOW - 1) * 1000), last_error=error)


def page(rows: list[PageRow], shard: str | None = None, health: str | None = None) -> Element:
    return parse(targets_page(rows, shard=shard, now=NOW, health=health))


def groups(doc: Element) -> dict[str, tuple[str, list[Element]]]:
    """Job → (its count badge's text, its target rows)."""
    out = {}
    for details in doc.find_all("details"):
        job = details.find("h2").text()
        count = details.find("span", "count").text()
        out[job] = (count, details.find("tbody").find_all("tr"))
    return out


def cells(tr: Element) -> list[str]:
    return [td.text() for td in tr.find_all("td")]


def test_targets_are_grouped_by_job_in_name_order_each_headed_by_up_over_total() -> None:
    doc = page(
        [
            row("zeta", "http://127.0.3.9:9400/metrics", state=up()),
            row("alpha", "http://127.0.3.2:9400/metrics", state=up()),
            row("alpha", "http://127.0.3.1:9400/metrics", state=down()),
            row("alpha", "http://127.0.3.3:9400/metrics"),
        ]
    )
    found = groups(doc)
    assert list(found) == ["alpha", "zeta"]
    assert found["alpha"][0] == "1/3 up" and found["zeta"][0] == "1/1 up"
    endpoints = [cells(tr)[0] for tr in found["alpha"][1]]
    assert endpoints == [f"http://127.0.3.{i}:9400/metrics" for i in (1, 2, 3)]
    assert doc.find("p", "summary").text().startswith("4 targets · 2 up · 1 down · 1 unknown")


def test_a_group_with_a_target_down_is_marked_apart_from_an_all_up_group() -> None:
    found = page([row("a", state=up()), row("b", state=up()), row("b", state=down())])
    counts = {d.find("h2").text(): d.find("span", "count").classes() for d in found.iter("details")}
    assert "all-up" in counts["a"] and "not-all-up" in counts["b"]


def test_a_row_shows_every_column_of_its_target() -> None:
    labels = (("instance", "127.0.3.1:9400"), ("node", "gpu-1"))
    doc = page([row(labels=labels, state=down("dial tcp: refused"), worker=2)], shard="s-1")
    (tr,) = doc.find("tbody").find_all("tr")
    endpoint, state, _labels, when, took, samples, error, who = cells(tr)
    assert endpoint == "http://127.0.3.1:9400/metrics"
    assert state == "DOWN" and "down" in tr.find("span", "health").classes()
    labels_shown = [s.text() for s in tr.find_all("span", "label")]
    assert labels_shown == ['job="dcgm"', 'instance="127.0.3.1:9400"', 'node="gpu-1"']
    assert when == "1.0 s ago"
    assert (took, samples, error) == ("0.0 ms", "0", "dial tcp: refused")
    assert who == "worker 2 · shard s-1"


def test_last_scrape_is_relative_with_the_absolute_utc_time_in_the_title() -> None:
    doc = page([row(state=up()), row(url="http://127.0.3.2:9400/metrics")])
    first, never = doc.find("tbody").find_all("tr")
    scraped = first.find("td", "when").find("span")
    assert scraped.text() == "3.2 s ago"
    assert scraped.attrs["title"] == "2027-01-15T07:59:56.800Z"  # NOW is 08:00:00 UTC
    assert cells(never)[3] == "never"


def label_texts(doc: Element) -> list[str]:
    return [span.text() for span in doc.find_all("span", "label")]


@pytest.mark.parametrize(
    ("make", "shown", "expected"),
    [
        (lambda: row(job=HOSTILE), lambda d: d.find("h2").text(), HOSTILE),
        (
            lambda: row(url="http://h/" + HOSTILE),
            lambda d: d.find("td", "endpoint").text(),
            "http://h/" + HOSTILE,
        ),
        (lambda: row(labels=((HOSTILE, "v"),)), lambda d: label_texts(d)[1], f'{HOSTILE}="v"'),
        (lambda: row(labels=(("gpu", HOSTILE),)), lambda d: label_texts(d)[1], f'gpu="{HOSTILE}"'),
        (lambda: row(state=down(HOSTILE)), lambda d: d.find("td", "error").text(), HOSTILE),
    ],
    ids=["job", "url", "label name", "label value", "error"],
)
def test_every_value_from_a_target_reaches_the_page_as_text(
    make: Callable[[], PageRow], shown: Callable[[Element], str], expected: str
) -> None:
    doc = page([make()])
    assert {e.tag for e in doc.iter()} <= PAGE_TAGS
    assert not [name for e in doc.iter() for name in e.attrs if name.startswith("on")]
    assert shown(doc) == expected
    assert doc.find("title").text() == "openagent · targets"


def test_the_shard_reaches_the_page_as_text() -> None:
    doc = page([row()], shard=HOSTILE)
    assert {e.tag for e in doc.iter()} <= PAGE_TAGS
    assert doc.find("td", "owner").text() == f"agent · shard {HOSTILE}"
    assert HOSTILE in doc.find("p", "summary").text()


def test_a_url_with_a_quote_stays_inside_its_href() -> None:
    url = 'http://h/" onmouseover="alert(1)'
    link = page([row(url=url)]).find("td", "endpoint").find("a")
    assert link.attrs == {"href": url} and link.text() == url


def test_only_http_and_https_endpoints_are_links() -> None:
    doc = page([row(url="javascript:alert(1)"), row(url="https://127.0.3.1/m")])
    links = {td.text(): td.find_all("a") for td in doc.find_all("td", "endpoint")}
    assert links["javascript:alert(1)"] == []
    assert [a.attrs["href"] for a in links["https://127.0.3.1/m"]] == ["https://127.0.3.1/m"]


def test_the_health_filter_lists_that_health_only_but_counts_every_target() -> None:
    rows = [
        row("a", "http://127.0.3.1/m", state=up()),
        row("a", "http://127.0.3.2/m", state=down()),
        row("b", "http://127.0.3.3/m", state=up()),
    ]
    found = groups(page(rows, health="down"))
    assert list(found) == ["a"]
    count, trs = found["a"]
    assert count == "1/2 up" and [cells(tr)[0] for tr in trs] == ["http://127.0.3.2/m"]


def test_the_nav_marks_the_current_filter() -> None:
    nav = page([row()], health="down").find("nav")
    current = [a.text() for a in nav.find_all("a") if "aria-current" in a.attrs]
    assert current == ["down"]
    assert page([row()]).find("nav").find_all("a")[1].attrs.get("aria-current") == "page"


def test_no_targets_says_so() -> None:
    doc = page([])
    assert doc.find_all("details") == [] and "No targets." in doc.text()


def test_the_page_loads_nothing_and_runs_nothing() -> None:
    doc = page([row(state=up()), row("b", state=down())], shard="s")
    assert doc.find_all("script") == [] and doc.find_all("link") == []
    assert [e for e in doc.iter() if "src" in e.attrs or "style" in e.attrs] == []


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-2.0, "0.0 s ago"),
        (3.24, "3.2 s ago"),
        (59.9, "59.9 s ago"),
        (90.0, "1.5 min ago"),
        (7200.0, "2.0 h ago"),
        (3 * 86400.0, "3.0 d ago"),
    ],
)
def test_ages_read_in_the_largest_unit_that_fits(seconds: float, text: str) -> None:
    assert ago(seconds) == text


@pytest.mark.parametrize(("seconds", "text"), [(0.01234, "12.3 ms"), (2.5, "2.500 s")])
def test_durations_read_in_ms_below_a_second(seconds: float, text: str) -> None:
    assert duration(seconds) == text


@pytest.mark.parametrize(
    ("worker", "shard", "text"),
    [(None, None, "agent"), (0, None, "worker 0"), (3, "b", "worker 3 · shard b")],
)
def test_the_owner_names_the_worker_then_the_shard(
    worker: int | None, shard: str | None, text: str
) -> None:
    assert owner(worker, shard) == text


def test_the_index_links_every_endpoint_and_escapes_the_version() -> None:
    doc = parse(index_page("1.0<script>"))
    assert [a.attrs["href"] for a in doc.find_all("a")] == [path for path, _ in ENDPOINTS]
    assert doc.find("h1").text() == "openagent 1.0<script>" and doc.find_all("script") == []
