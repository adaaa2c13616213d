"""Exposition bodies at the edges of the grammar, for the differential test against Prometheus.

Each case is served to the real Prometheus (as its own job) and parsed by
ours; both must accept or both reject, and accepted samples must agree.
``@TS_MS@`` and ``@TS_S@`` stand for a recent timestamp (ms, seconds) so
that explicitly timestamped samples can be read back. ``DEVIATIONS`` lists
where we differ from Prometheus 2.42 on purpose.
"""

from __future__ import annotations

#: (case id, openmetrics?, body)
CASES: list[tuple[str, bool, str]] = [
    # -- text format, accepted: quirks of Prometheus's lexer -----------------------------
    ("no-comma-between-labels", False, 'm{a="b"c="d"} 1\n'),
    ("space-between-labels", False, 'm{a="b" c="d"} 2\n'),
    ("blank-before-brace", False, 'm {a="b"} 4\n'),
    ("blanks-everywhere", False, 'm{ a = "b" , c\t=\t"d" , } 5\n'),
    ("trailing-comma", False, 'm{a="b",} 6\n'),
    ("empty-braces", False, "m{} 7\n"),
    ("value-glued-to-name", False, "m-8\n"),
    ("value-glued-to-brace", False, 'm{a="b"}9\n'),
    ("tab-separators", False, 'm\t10\nn{a="b"}\t11\t@TS_MS@\n'),
    ("trailing-blanks", False, "m 12 \nn 13\t\n"),
    ("unknown-escape", False, 'm{path="C:\\data\\dcgm"} 14\n'),
    ("known-escapes", False, 'm{a="x\\\\y",b="q\\"r",c="l1\\nl2"} 15\n'),
    ("escaped-backslash-then-n", False, 'm{a="\\\\n"} 16\n'),
    ("specials-in-values", False, 'm{a="{},=# x",b="}"} 17\n'),
    ("utf8-values", False, 'm{a="한국어 🎉",b="ü"} 18\n'),
    ("raw-tab-and-nul-in-values", False, 'm{a="x\ty",b="p\x00q"} 19\n'),
    ("empty-label-value", False, 'm{a="",b="x"} 20\n'),
    ("nan-inf-spellings", False, "a NaN\nb +Inf\nc -Inf\nd Inf\ne nan\nf infinity\ng -INF\n"),
    ("number-spellings", False, "a 1e3\nb .5\nc 5.\nd +5\ne -0\nf 1E-3\ng 007\n"),
    ("int64-sentinel", False, "m 9223372036854775794\n"),
    ("timestamps", False, "m 1 @TS_MS@\nn 2 0@TS_MS@\n"),
    ("largest-timestamp", False, "m 1 9223372036854775807\n"),
    ("help-escapes", False, '# HELP hm a \\\\ b \\n c \\d \\"\n# TYPE hm gauge\nhm 21\n'),
    ("all-text-types", False, "# TYPE a counter\n# TYPE b untyped\n# TYPE c summary\na 1\nb 2\n"),
    ("repeated-type", False, "# TYPE m counter\n# TYPE m gauge\nm 22\n"),
    ("help-after-samples", False, "m 23\n# HELP m late\n"),
    ("comments-and-blanks", False, "#x\n# random\n\n   \nm 24\n#\n"),
    ("indented-comments", False, "  # HELP im x\n\t# TYPE im gauge\nim 25\n"),
    ("eof-is-a-comment", False, "m 26\n# EOF\nn 27\n"),
    ("help-without-text", False, "# HELP m\n# HELP n \nm 28\n"),
    ("created-is-a-sample", False, "# TYPE m counter\nm_total 1\nm_created 1700000000\n"),
    ("colon-in-name", False, "job:rate:sum 29\n"),
    ("no-final-newline", False, "m 30"),
    # -- text format, rejected ------------------------------------------------------------
    ("leading-blanks", False, "  \tm 3\n"),
    ("underscore-in-value", False, "m 1_000\n"),
    ("hex-float", False, "m 0x1p-2\n"),
    ("word-value", False, "m abc\n"),
    ("arabic-digit", False, "m \u0661\n"),
    ("overflow", False, "m 1e400\n"),
    ("signed-nan", False, "m +nan\n"),
    ("negative-timestamp", False, "m 1 -5\n"),
    ("float-timestamp", False, "m 1 1.5\n"),
    ("timestamp-overflow", False, "m 1 9223372036854775808\n"),
    ("garbage-after-timestamp", False, "m 1 2 3\n"),
    ("unterminated-value", False, 'm{a="1} 1\n'),
    ("missing-value", False, "m\n"),
    ("missing-value-after-labels", False, 'm{a="b"}\n'),
    ("bad-label-name", False, 'm{1a="b"} 1\n'),
    ("colon-in-label-name", False, 'm{a:b="c"} 1\n'),
    ("no-metric-name", False, '{a="b"} 1\n'),
    ("unquoted-label-value", False, "m{a=b} 1\n"),
    ("duplicate-label", False, 'm{a="1",a="2"} 1\n'),
    ("name-label", False, 'm{__name__="x"} 1\n'),
    ("unknown-type", False, "# TYPE m foo\nm 1\n"),
    ("type-with-trailing-blank", False, "# TYPE m gauge \nm 1\n"),
    ("exemplar-in-text", False, 'm 1 # {x="y"} 1\n'),
    ("double-comma", False, 'm{a="b",,c="d"} 1\n'),
    ("leading-comma", False, 'm{,a="b"} 1\n'),
    ("brace-after-value", False, "m 1{\n"),
    ("vertical-tab-value", False, "m \x0b1\n"),
    ("bad-help-name", False, "# HELP 1m text\nm 1\n"),
    # -- OpenMetrics, accepted -------------------------------------------------------------
    (
        "om-counter",
        True,
        '# TYPE omc counter\n# HELP omc Counts \\"things\\" \\\\ \\n.\n'
        'omc_total{a="1"} 3\nomc_created{a="1"} 1700000000.5\n# EOF\n',
    ),
    (
        "om-exemplars-and-timestamps",
        True,
        '# TYPE h histogram\nh_bucket{le="1"} 1 @TS_S@.123 # {trace_id="abc"} 0.5 1700000000\n'
        'h_bucket{le="+Inf"} 2 # {} 0.7\nh_count 2\nh_sum 1.2\n'
        'x_total 1 # {a="b"} 1\ny_bucket 2 # {a="' + "x" * 130 + '"} 1\n# EOF\n',
    ),
    (
        "om-unit",
        True,
        "# TYPE s_seconds gauge\n# UNIT s_seconds seconds\n# UNIT d \ns_seconds 4\n# EOF",
    ),
    ("om-nan-inf", True, "# TYPE g gauge\ng NaN\ng2 +Inf\n# EOF\n"),
    ("om-empty-braces", True, "g{} 1\n# EOF\n"),
    ("om-timestamps", True, "g 1 @TS_S@\nh 2 @TS_S@.5\n# EOF\n"),
    ("om-created-of-gauge", True, "# TYPE g gauge\ng_created 5\n# EOF\n"),
    ("om-eof-without-newline", True, "g 1\n# EOF"),
    # -- OpenMetrics, rejected -------------------------------------------------------------
    ("om-missing-eof", True, "# TYPE g gauge\ng 1\n"),
    ("om-content-after-eof", True, "g 1\n# EOF\ng 2\n"),
    ("om-blank-after-eof", True, "g 1\n# EOF\n\n"),
    ("om-blank-line", True, "g 1\n\nh 2\n# EOF\n"),
    ("om-plain-comment", True, "# hello\ng 1\n# EOF\n"),
    ("om-space-in-labels", True, 'g{a="b", c="d"} 1\n# EOF\n'),
    ("om-double-space", True, "g  1\n# EOF\n"),
    ("om-trailing-space", True, "g 1 \n# EOF\n"),
    ("om-leading-space", True, " g 1\n# EOF\n"),
    ("om-tab", True, "g\t1\n# EOF\n"),
    ("om-underscore-value", True, "g 1_0\n# EOF\n"),
    ("om-missing-comma", True, 'g{a="b"c="d"} 1\n# EOF\n'),
    ("om-nan-timestamp", True, "g 1 NaN\n# EOF\n"),
    ("om-untyped-type", True, "# TYPE v untyped\nv 1\n# EOF\n"),
    ("om-help-without-text", True, "# HELP c\nc 1\n# EOF\n"),
    ("om-unit-without-text", True, "# UNIT c\nc 1\n# EOF\n"),
    ("om-unit-not-suffix", True, "# UNIT s seconds\ns 1\n# EOF\n"),
    ("om-exemplar-on-gauge", True, '# TYPE g gauge\ng 1 # {a="b"} 1\n# EOF\n'),
    ("om-exemplar-on-count", True, '# TYPE h histogram\nh_count 1 # {a="b"} 1\n# EOF\n'),
    ("om-exemplar-without-value", True, 'g_total 1 # {a="b"}\n# EOF\n'),
    # -- where we differ on purpose ---------------------------------------------------------
    ("crlf", False, "m 1\r\nn 2\r\n"),
    ("nul-line", False, "m 1\n\x00\nn 2\n"),
]

#: Cases where we knowingly differ from Prometheus 2.42: case -> (we accept?, why).
DEVIATIONS: dict[str, tuple[bool, str]] = {
    "crlf": (True, "Prometheus reads '1\\r' as the value and fails; CRLF bodies parse here"),
    "nul-line": (
        False,
        "Prometheus stops reading at a NUL that starts a line and silently drops the rest; "
        "here it is an error naming the line",
    ),
}

#: OpenMetrics cases whose counter/histogram ``_created`` series Prometheus 2.42 ingests
#: as series, while we skip them (they are creation times, not samples).
CREATED_SKIPPED = {"om-counter"}
