"""Where our conversion (exposition -> records) deliberately differs from the Go agent's.

Each table names the Go vectors' inputs (lines, tokens, families) it concerns
and gives the reason: a Go agent bug, or Prometheus's stricter grammar, which
the parser follows. There our own output is asserted instead of Go's.
"""

from __future__ import annotations

from openagent.model import Labels
from openagent.sinks.whatap.encoder import PackIdentity

IDENTITY = PackIdentity(pcode=33789, oid=1617387566)
NOW_MS = 1756912213000
NAN_NOTE = (
    "Go's NaN has the bits 7ff8000000000001, Python's 7ff8000000000000; NaN samples never "
    "reach the wire (both drop them), so NaNs compare as NaN"
)

#: Lines of ConvertWithTimestamp_text_edge_cases that we reject: line -> (why, our error).
#: Like Prometheus we fail the whole scrape on such a line (the Go agent skips the line);
#: the rest of the body is checked without them.
TEXT_REJECTED: dict[str, tuple[str, str]] = {
    '   spaced_metric{ a = "b" }   2': (
        "the Go agent trims every line; Prometheus rejects blanks before a metric name",
        "whitespace before the metric name",
    ),
    'bad_value{x="y"} abc': ("not a number: the Go agent skips the line", "invalid value"),
    "too_big 1e400": ("overflows a double: the Go agent skips the line", "out of range"),
    "underscore 1_000": (
        "Go's ParseFloat takes digit separators; Prometheus refuses '_' in values",
        "invalid value",
    ),
    "hex_float 0x1p-2": (
        "Go's ParseFloat takes hex floats; Prometheus refuses them",
        "invalid value",
    ),
    'dup_ts_bad{a="1"} 8 notatime': (
        "the Go agent ignores a bad timestamp and keeps the sample; Prometheus rejects the line",
        "invalid timestamp",
    ),
}
#: Lines the Go agent misreads: line -> (its bug, our samples).
TEXT_FIXED: dict[str, tuple[str, list[tuple[str, Labels, float]]]] = {
    'comma_in_value{path="a,b",k="v"} 3': (
        "the Go agent splits label text on every comma: path='\"a' and the rest is lost",
        [("comma_in_value", (("path", "a,b"), ("k", "v")), 3.0)],
    ),
    'escaped{msg="say \\"hi\\""} 4': (
        "the Go agent does not unescape label values",
        [("escaped", (("msg", 'say "hi"'),), 4.0)],
    ),
    "# 5": ("the Go agent reads this comment as a sample named '#'", []),
    'brace_in_value{a="x}y",b="2"} 7': (
        "the Go agent ends the label block at the first '}' and loses the line",
        [("brace_in_value", (("a", "x}y"), ("b", "2")), 7.0)],
    ),
}
#: Families whose help record differs: family -> (the Go bug, our properties).
HELP_FIXED: dict[str, tuple[str, dict[str, str]]] = {
    "no_help_metric": ("the Go agent drops a TYPE that has no HELP", {"type": "counter"}),
}
#: Value tokens of TextParser_value_tokens that Go accepts and Prometheus (and we) reject.
TOKEN_FIXES: dict[str, str] = {
    "0x1p-2": "hex float (Go ParseFloat syntax; Prometheus refuses 'p')",
    "0X1P+2": "hex float (Go ParseFloat syntax; Prometheus refuses 'P')",
    "0x1.8p1": "hex float (Go ParseFloat syntax; Prometheus refuses 'p')",
    "1_000": "digit separator (Go ParseFloat syntax; Prometheus refuses '_')",
    "1_000.5_5": "digit separator (Go ParseFloat syntax; Prometheus refuses '_')",
}
#: Processor_enrichment: where our labels differ from the Go agent's.
PROCESSOR_FIXES = (
    "instance and node are target labels here, so pcode comes after them (the Go agent "
    "appends pcode, then a fallback instance, then node again, which duplicates node when "
    "the target labels have it; its target-label order is random anyway, PROTOCOL Q5)"
)
#: Processor_enrichment: the exposition has a bare ``up``.
REPORT_NAME_FIX = (
    "an exposed series named like a report series (up, scrape_*) without labels is sent as "
    "exported_<name>, as vmagent does: the agent sends its own report series, which the Go "
    "agent does not, and neither may overwrite the other"
)
#: ConvertProtobuf_delimited_all_types: native histograms.
PROTOBUF_FIXES = (
    "native-only histograms have no flat series; integer ones become native histograms, as "
    "the Go agent's OpenMxHistogram records (which it never sends, PROTOCOL §7.5), and float "
    "ones are skipped and counted, as the Go agent skips them"
)
