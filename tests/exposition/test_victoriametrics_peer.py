"""Second opinion: VictoriaMetrics's own text parser on the same bodies.

Bodies are pushed to ``/api/v1/import/prometheus`` of a real
``/usr/bin/victoria-metrics`` and read back through ``/api/v1/export``.
VictoriaMetrics 1.79 is more lenient than Prometheus in some places and
stricter in others (it drops ``.5``, ``5.``, ``+5``, missing commas and
``m-8``), so only bodies in the common ground are compared here; Prometheus
is the oracle for the rest.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest

from openagent.exposition import Parser, decode_body
from tests.exposition.conftest import DCGM_FIXTURES, CountingBuilder
from tests.exposition.edge_cases import CASES
from tests.peers import VictoriaMetricsServer, peer_fixture

pytestmark = pytest.mark.peer

COMMON_GROUND = {
    "blank-before-brace", "blanks-everywhere", "trailing-comma", "empty-braces",
    "value-glued-to-brace", "trailing-blanks", "unknown-escape", "known-escapes",
    "escaped-backslash-then-n", "specials-in-values", "utf8-values",
    "raw-tab-and-nul-in-values", "empty-label-value", "nan-inf-spellings", "int64-sentinel",
    "help-escapes", "comments-and-blanks", "indented-comments", "eof-is-a-comment",
    "created-is-a-sample", "colon-in-name", "no-final-newline", "crlf",
}  # fmt: skip

BODIES: dict[str, str] = {f"dcgm-{p.stem}": decode_body(p.read_bytes()) for p in DCGM_FIXTURES}
BODIES.update({f"edge-{c}": body for c, om, body in CASES if c in COMMON_GROUND})


@pytest.fixture(scope="module")
def vm() -> Iterator[VictoriaMetricsServer]:
    with VictoriaMetricsServer() as server:
        for job, text in BODIES.items():
            server.import_prometheus(text.encode(), {"job": job})
        yield server


def test_common_ground_cases_exist() -> None:
    assert {c for c, _, _ in CASES} >= COMMON_GROUND


@pytest.mark.parametrize("job", sorted(BODIES))
def test_victoriametrics_reads_what_we_read(vm: VictoriaMetricsServer, job: str) -> None:
    parsed = Parser(CountingBuilder()).parse(BODIES[job], openmetrics=False, default_ts_ms=0)
    ours = {
        (s.name, frozenset((k, v) for k, v in s.labels if v)): v  # empty value = no label
        for s, v in zip(parsed.series, parsed.values, strict=True)
        if not math.isnan(v)  # VictoriaMetrics does not store NaN
    }
    exported = vm.wait_export(f'{{job="{job}"}}', count=len(ours))
    theirs = {}
    for labels, values, _ in exported:
        name = labels.pop("__name__")
        assert labels.pop("job") == job
        theirs[(name, frozenset(labels.items()))] = values[-1]
    assert theirs == ours


bare_vm = peer_fixture(VictoriaMetricsServer, scope="function")


def test_peer_fixture_serves_a_running_server(bare_vm: VictoriaMetricsServer) -> None:
    bare_vm.import_prometheus(b'probe{k="v"} 42\n', {"job": "probe"})
    ((labels, values, _),) = bare_vm.wait_export('{job="probe"}')
    assert (labels, values) == ({"__name__": "probe", "job": "probe", "k": "v"}, [42.0])
