"""The agent's HTML pages: the targets page (shaped like Prometheus's) and a small index.

Both are rendered here on the server, with no script and no external asset:
the agent may run air-gapped, where no CDN answers, and a page without script
gives what a target exposes nothing to run. Every value that comes from a
target, a label or the config (job, URL, label names and values, error text,
shard) passes through `html.escape` before it reaches the page; only the
fixed markup below is written unescaped.

The targets page groups targets by job (the target's ``targetName``, unless
the operator's ``jobLabel`` rule took it from the pod or service), each group
headed by its up/total count, and gives per target the endpoint, health,
labels, last scrape (relative, the absolute UTC time in the title), duration,
samples, last error and owner (the worker process and the shard).

Rendering 5,000 targets with 8 labels each took 40 ms and made 3.8 MB of
HTML (``python -m benchmarks.status_page_bench``; ``?health=down`` with 300 of
them down: 4 ms; the JSON answer: 19 ms). The server renders in a thread so
that the event loop keeps scraping meanwhile.
"""

from __future__ import annotations

import html
import time
from collections.abc import Iterable, Sequence

from openagent.model import Labels, Target, TargetState

#: A target, its state, and the worker process that scrapes it (None: the agent's own).
PageRow = tuple[Target, TargetState, int | None]

#: The health values a target can have, in the order the page lists them.
HEALTHS = ("up", "down", "unknown")

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1em 1.2em;color:#1f2328;background:#fff}
h1{font-size:1.5em;margin:.2em 0}h2{display:inline;font-size:1.15em;margin:0}
nav a,nav span{margin-right:.6em}
nav a[aria-current]{font-weight:700;text-decoration:none;color:#1f2328}
.summary{color:#59636e;margin:.4em 0 1em}
details{margin:0 0 1.2em}summary{cursor:pointer;padding:.3em 0}
.count{margin-left:.6em;padding:.1em .5em;border-radius:1em;font-size:.9em}
.count.all-up{background:#dafbe1;color:#116329}.count.not-all-up{background:#ffebe9;color:#a40e26}
table{border-collapse:collapse;width:100%;table-layout:fixed}
th:nth-child(1){width:17%}th:nth-child(2){width:4.5em}th:nth-child(3){width:26%}
th:nth-child(4){width:6.5em}th:nth-child(5){width:5.5em}th:nth-child(6){width:4.5em}
th:nth-child(8){width:8%}
th,td{padding:.35em .6em;text-align:left;vertical-align:top;border-bottom:1px solid #d1d9e0}
th{background:#f6f8fa;font-weight:600;white-space:nowrap}
tbody tr:nth-child(even){background:#fafbfc}
.endpoint{font-family:ui-monospace,monospace;font-size:.9em;overflow-wrap:anywhere}
.health{display:inline-block;padding:.1em .5em;border-radius:.3em;font-weight:600;font-size:.85em}
.health.up{background:#1a7f37;color:#fff}.health.down{background:#cf222e;color:#fff}
.health.unknown{background:#818b98;color:#fff}
.label{display:inline-block;margin:0 .3em .3em 0;padding:0 .4em;border-radius:.3em;
background:#eef1f4;font-family:ui-monospace,monospace;font-size:.85em;overflow-wrap:anywhere}
.error{color:#a40e26;font-family:ui-monospace,monospace;font-size:.9em;overflow-wrap:anywhere}
.num{text-align:right;white-space:nowrap}.when{white-space:nowrap}
"""


def _head(title: str) -> str:
    """The document up to ``<body>``: the fixed title and the page's own style sheet."""
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width,initial-scale=1'>"
        f"<title>{title}</title><style>{_STYLE}</style></head><body>"
    )


_COLUMNS = "Endpoint", "State", "Labels", "Last scrape", "Duration", "Samples", "Error", "Owner"
_TABLE_HEAD = (
    "<table><thead><tr>" + "".join(f"<th>{c}</th>" for c in _COLUMNS) + "</tr></thead><tbody>"
)


def utc_iso(ts: float) -> str | None:
    """``ts`` (Unix seconds) as ISO 8601 UTC with milliseconds; None for 0 (never)."""
    if not ts:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts * 1000) % 1000:03d}Z"


def ago(seconds: float) -> str:
    """A short relative age: "3.2 s ago", "4.5 min ago", "2.1 h ago", "3.0 d ago"."""
    seconds = max(seconds, 0.0)
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit} ago"
    return f"{seconds:.1f} s ago"


def duration(seconds: float) -> str:
    """A scrape duration: milliseconds below one second, seconds above."""
    if seconds < 1.0:
        return f"{seconds * 1000:.1f} ms"
    return f"{seconds:.3f} s"


def owner(worker: int | None, shard: str | None) -> str:
    """Who scrapes the target, as escaped HTML: the worker process, then the shard if any."""
    who = "agent" if worker is None else f"worker {worker}"
    if shard is None:
        return who
    return f"{who} · shard {html.escape(shard)}"


class _Cells:
    """The cells that repeat across a page's rows, each escaped once per page.

    A fleet repeats the same label pairs (namespace, job, container, node)
    across thousands of targets, and every target of a worker has the same
    owner. Remembering a pair's badge took the 5,000-target page from 54 ms
    to 45 ms (most pairs left are the unique ``instance`` and ``pod``).
    """

    def __init__(self, shard: str | None, now: float) -> None:
        self.shard = shard
        self.now = now
        self._badges: dict[tuple[str, str], str] = {}
        self._owners: dict[int | None, str] = {}

    def labels(self, labels: Labels) -> str:
        """The labels as badges ``name="value"``, in the target's label order."""
        out = []
        for pair in labels:
            badge = self._badges.get(pair)
            if badge is None:
                name, value = pair
                badge = f'<span class=label>{html.escape(name)}="{html.escape(value)}"</span>'
                self._badges[pair] = badge
            out.append(badge)
        return "".join(out)

    def owner(self, worker: int | None) -> str:
        """The owner cell's HTML for targets of ``worker``."""
        cell = self._owners.get(worker)
        if cell is None:
            cell = self._owners[worker] = owner(worker, self.shard)
        return cell


def _endpoint(url: str) -> str:
    """The target's URL, a link only for http(s) so that no other scheme becomes clickable."""
    text = html.escape(url)
    if url.startswith(("http://", "https://")):
        return f'<a href="{text}">{text}</a>'
    return text


def _last_scrape(state: TargetState, now: float) -> str:
    if not state.last_scrape_ms:
        return "never"
    when = state.last_scrape_ms / 1000
    return f'<span title="{utc_iso(when)}">{ago(now - when)}</span>'


def _row(row: PageRow, cells: _Cells) -> str:
    target, state, worker = row
    health = state.health if state.health in HEALTHS else "unknown"
    error = html.escape(state.last_error) if state.last_error else ""
    return (
        f"<tr class={health}><td class=endpoint>{_endpoint(target.url)}</td>"
        f"<td><span class='health {health}'>{health.upper()}</span></td>"
        f"<td class=labels>{cells.labels(target.labels)}</td>"
        f"<td class=when>{_last_scrape(state, cells.now)}</td>"
        f"<td class=num>{duration(state.last_duration)}</td>"
        f"<td class=num>{state.samples}</td>"
        f"<td class=error>{error}</td>"
        f"<td class=owner>{cells.owner(worker)}</td></tr>"
    )


def group_by_job(rows: Iterable[PageRow]) -> dict[str, list[PageRow]]:
    """Rows grouped by job, jobs in name order, each group in URL order."""
    groups: dict[str, list[PageRow]] = {}
    for row in rows:
        groups.setdefault(row[0].job, []).append(row)
    for group in groups.values():
        group.sort(key=lambda r: (r[0].url, r[0].id))
    return dict(sorted(groups.items()))


def count_up(rows: Iterable[PageRow]) -> int:
    """How many of ``rows`` are up."""
    return sum(1 for _, state, _ in rows if state.health == "up")


def _group(job: str, rows: list[PageRow], shown: list[PageRow], cells: _Cells) -> str:
    up = count_up(rows)
    tone = "all-up" if up == len(rows) else "not-all-up"
    body = "".join(_row(r, cells) for r in shown)
    return (
        f"<details open><summary><h2>{html.escape(job) or '(no job)'}</h2>"
        f"<span class='count {tone}'>{up}/{len(rows)} up</span></summary>"
        f"{_TABLE_HEAD}{body}</tbody></table></details>"
    )


def _nav(health: str | None) -> str:
    out = []
    for shown in (None, *HEALTHS):
        query = "" if shown is None else f"?health={shown}"
        current = " aria-current=page" if shown == health else ""
        out.append(f"<a href='/targets{query}'{current}>{shown or 'all'}</a>")
    return "<nav><a href='/'>index</a> <span>targets:</span> " + "".join(out) + "</nav>"


def _summary(rows: Sequence[PageRow], shard: str | None, now: float) -> str:
    counts = dict.fromkeys(HEALTHS, 0)
    for _, state, _ in rows:
        counts[state.health if state.health in HEALTHS else "unknown"] += 1
    parts = [f"{len(rows)} targets"] + [f"{n} {h}" for h, n in counts.items()]
    where = "" if shard is None else f" · shard {html.escape(shard)}"
    return f"<p class=summary>{' · '.join(parts)}{where} · as of {utc_iso(now)}</p>"


def targets_page(
    rows: Sequence[PageRow], *, shard: str | None, now: float, health: str | None = None
) -> str:
    """The targets page; with ``health`` only targets in that health are listed.

    A group's count is over all of its targets even when ``health`` hides
    some, and a group the filter empties is left out. ``now`` (Unix seconds)
    is the instant the relative ages count from.
    """
    cells = _Cells(shard, now)
    groups = []
    for job, group in group_by_job(rows).items():
        shown = group if health is None else [r for r in group if r[1].health == health]
        if shown:
            groups.append(_group(job, group, shown, cells))
    empty = "" if groups else "<p>No targets.</p>"
    return (
        _head("openagent · targets")
        + "<h1>Targets</h1>"
        + _nav(health)
        + _summary(rows, shard, now)
        + "".join(groups)
        + empty
        + "</body></html>"
    )


#: The index page's links: path and what it serves.
ENDPOINTS = (
    ("/targets", "targets: health, labels, last scrape and error of each target"),
    ("/targets?health=down", "the targets that are down"),
    ("/targets?format=json", "targets as JSON"),
    ("/discovery", "discovery: informers and dropped candidates (JSON)"),
    ("/config", "the loaded configuration (JSON)"),
    ("/metrics", "the agent's own metrics (Prometheus text format)"),
    ("/healthz", "liveness"),
    ("/readyz", "readiness, with the reason when not ready"),
)


def index_page(version: str) -> str:
    """The index at ``/``: a link to each of the agent's endpoints."""
    items = "".join(
        f"<li><a href='{path}'>{html.escape(path)}</a> — {html.escape(what)}</li>"
        for path, what in ENDPOINTS
    )
    return (
        _head("openagent")
        + f"<h1>openagent {html.escape(version)}</h1><ul>{items}</ul></body></html>"
    )
