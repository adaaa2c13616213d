"""The report: ``results.md``, ``results.json`` and the PNG plots, from the measured results.

The plots are drawn from ``results.json`` alone, so they can be redrawn
(``python -m benchmarks.compare --plot-only``) without measuring again.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from benchmarks.compare_run import Result
from benchmarks.compare_stats import ratio

REFERENCE = "vmagent"
RATIO_HEADER = "×vm"
PLOTS = ("cpu_per_sample.png", "rss.png")

#: What each column means; printed under the report's header.
COLUMN_NOTES = (
    "**µs/sample**: CPU time (user + system) of the tool's process tree over the window, "
    "divided by the samples of the scrapes the fleet served it in that window.",
    "**RSS avg / peak MB**: resident memory of the tool's process tree, sampled every 0.5 s.",
    "**B/series**: (RSS avg − the same tool's RSS avg at the baseline size) ÷ (series − "
    "series at the baseline size): what each series beyond the baseline costs in memory. "
    "Series = nodes × samples per scrape.",
    "**scrape p50/p99 ms**: nearest-rank percentiles of the `scrape_duration_seconds` "
    "samples the tool remote-wrote during the window; marked (h) when read instead from "
    "openagent's own `openagent_scrape_duration_seconds` histogram (bucket deltas over the "
    "window, interpolated inside a bucket; its buckets are coarse).",
    "**delay p50/p99 s**: arrival time at the receiver minus the sample's timestamp, over "
    "every sample in the decoded bodies that arrived during the window (includes each "
    "tool's batching; Whatap rows have none, as nothing is remote-written).",
    "**loop lag p99 ms**: from openagent's `openagent_event_loop_lag_distribution_seconds` "
    "histogram, bucket deltas between the window's start and end; n/a for the Go tools.",
    "**decoded**: remote-write bodies decoded / received in the window. Up to a fixed "
    "number per window are kept (a uniform random sample when more arrive) and decoded "
    "after the window, in the harness, never in the tool's process tree.",
    f"**{RATIO_HEADER}**: the column before it divided by vmagent's at the same size.",
)


@dataclass(frozen=True)
class Column:
    """One measured column: header, how to read the value, its format, whether it has a ratio."""

    header: str
    value: Callable[[Result], float | None]
    fmt: str
    with_ratio: bool = True


def _finite(value: float) -> float | None:
    return None if math.isnan(value) else value


COLUMNS = (
    Column("µs/sample", lambda r: _finite(r.us_per_sample), ".2f"),
    Column("RSS avg MB", lambda r: r.rss_avg_mb, ".1f"),
    Column("RSS peak MB", lambda r: r.rss_peak_mb, ".1f"),
    Column("B/series", lambda r: r.bytes_per_series, ",.0f"),
    Column("scrape p50 ms", lambda r: r.scrape_p50_ms, ".2f"),
    Column("scrape p99 ms", lambda r: r.scrape_p99_ms, ".2f"),
    Column("delay p50 s", lambda r: r.delay_p50_s, ".3f"),
    Column("delay p99 s", lambda r: r.delay_p99_s, ".3f"),
    Column("loop lag p99 ms", lambda r: r.loop_lag_p99_ms, ".2f", with_ratio=False),
)


def _cell(value: float | None, fmt: str) -> str:
    return "n/a" if value is None else format(value, fmt)


def _ratio_cell(value: float | None, reference: float | None) -> str:
    r = ratio(value, reference)
    return "n/a" if r is None else f"{r:.2f}×"


def _decoded(r: Result) -> str:
    if r.bodies_seen == 0:
        return "n/a"
    bad = f" ({r.decode_errors} undecodable)" if r.decode_errors else ""
    return f"{r.bodies_decoded} / {r.bodies_seen}{bad}"


def _row(r: Result, reference: Result | None) -> list[str]:
    if r.error:
        first = r.error.strip().splitlines()[0] if r.error.strip() else "failed"
        return [r.tool, f"FAILED: {first}"]
    cells = [r.tool, f"{r.scrapes:,}"]
    for col in COLUMNS:
        value = col.value(r)
        text = _cell(value, col.fmt)
        if col.header.startswith("scrape") and r.scrape_source.startswith("own"):
            text += " (h)"
        cells.append(text)
        if col.with_ratio:
            ref = None if reference is None else col.value(reference)
            cells.append(_ratio_cell(value, ref))
    cells.append(_decoded(r))
    return cells


def headers() -> list[str]:
    """The table's column headers, each measured column followed by its ratio column."""
    out = ["tool", "scrapes"]
    for col in COLUMNS:
        out.append(col.header)
        if col.with_ratio:
            out.append(RATIO_HEADER)
    return [*out, "decoded"]


def size_table(results: Sequence[Result]) -> list[str]:
    """The markdown table of one fleet size."""
    reference = next((r for r in results if r.tool == REFERENCE and not r.error), None)
    head = headers()
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        cells = _row(r, reference)
        cells += [""] * (len(head) - len(cells))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _header_lines(meta: dict[str, Any]) -> list[str]:
    w = meta["workload"]
    baseline = meta.get("baseline_nodes") or 0
    lines = [
        "# openagent performance report",
        "",
        f"- date: {meta['date']}",
        f"- machine: {meta['machine']}",
        f"- harness checkout (what `{{python}} -m openagent` runs): {meta.get('checkout', '?')}",
        f"- workload: synthetic dcgm-exporter fleet; {w['per_scrape']} samples per scrape "
        f"({w['shape']}); scrape every {w['interval']}, values refreshed every "
        f"{w['update_interval']:g} s; {w['warmup']:g} s warm-up then a {w['window']:g} s "
        "window per run; one tool at a time on the same fleet, all on 127.0.0.1",
        f"- baseline for B/series: each tool's own run against a {baseline}-node fleet "
        "(its row is shown)"
        if baseline
        else "- baseline for B/series: none (run without one)",
        f"- remote-write bodies decoded per window: at most {meta['decode_max']}",
        "",
        "| tool | version | command |",
        "|---|---|---|",
    ]
    for name, info in meta["tools"].items():
        lines.append(f"| {name} | {info['version']} | `{info['command']}` |")
    return [*lines, "", "Columns:", "", *(f"- {note}" for note in COLUMN_NOTES)]


def render_markdown(meta: dict[str, Any], results: Sequence[Result]) -> str:
    """The whole ``results.md``: header, column notes, one table per fleet size."""
    lines = _header_lines(meta)
    per_scrape = meta["workload"]["per_scrape"]
    for nodes in sorted({r.nodes for r in results}):
        label = " (baseline)" if nodes == meta.get("baseline_nodes") else ""
        lines += ["", f"## {nodes:,} nodes, {nodes * per_scrape:,} series{label}", ""]
        lines += size_table([r for r in results if r.nodes == nodes])
    return "\n".join(lines) + "\n"


def result_dict(r: Result) -> dict[str, Any]:
    """A result as JSON: its fields plus the derived CPU per sample (null when unknown)."""
    return asdict(r) | {"us_per_sample": _finite(r.us_per_sample)}


def result_from_dict(doc: dict[str, Any]) -> Result:
    """The inverse of `result_dict` (derived and unknown keys are ignored)."""
    names = {f.name for f in fields(Result)}
    return Result(**{k: v for k, v in doc.items() if k in names})


def write_report(out: Path, meta: dict[str, Any], results: Sequence[Result]) -> list[Path]:
    """Write ``results.md``, ``results.json`` and the plots into ``out``; return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    doc = {"meta": meta, "results": [result_dict(r) for r in results]}
    (out / "results.json").write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    (out / "results.md").write_text(render_markdown(meta, results), encoding="utf-8")
    written = [out / "results.md", out / "results.json"]
    try:
        return written + plot(out)
    except ImportError as exc:  # the measurements are written; plots can be drawn later
        print(f"no plots ({exc}): pip install -e '.[bench]', then --plot-only", file=sys.stderr)
        return written


def _series_by_tool(results: Sequence[Result], value: Callable[[Result], float | None]) -> Any:
    lines: dict[str, list[tuple[int, float]]] = {}
    for r in sorted(results, key=lambda r: r.series):
        v = None if r.error else value(r)
        if v is not None:
            lines.setdefault(r.tool, []).append((r.series, v))
    return lines


def _draw(path: Path, title: str, ylabel: str, lines: dict[str, list[Any]], style: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5), dpi=100)
    for tool, points in lines.items():
        xs, ys = zip(*points, strict=True)
        ax.plot(xs, ys, style, label=tool)
    ax.set_xscale("log")
    ax.set_xlabel("series (nodes × samples per scrape)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    if lines:
        ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot(out: Path) -> list[Path]:
    """Draw ``cpu_per_sample.png`` and ``rss.png`` from ``out/results.json``.

    matplotlib is imported here, not at the top, so measuring needs only the
    project's own dependencies; the ``bench`` extra brings it.
    """
    doc = json.loads((out / "results.json").read_text())
    results = [result_from_dict(d) for d in doc["results"]]
    shape = doc["meta"]["workload"]["shape"]
    cpu, rss = (out / name for name in PLOTS)
    cpu_lines = _series_by_tool(results, lambda r: _finite(r.us_per_sample))
    _draw(cpu, f"CPU per scraped sample ({shape})", "CPU µs per sample", cpu_lines, "o-")
    rss_lines = _series_by_tool(results, lambda r: r.rss_avg_mb)
    _draw(rss, f"Resident memory, window average ({shape})", "RSS MB", rss_lines, "o-")
    return [cpu, rss]
