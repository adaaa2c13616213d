"""The same rules through a real Prometheus 2.42 (metric relabelling) and through ours.

One Prometheus scrapes one loopback page per case, each with its own
``metric_relabel_configs``. Every sample has a distinct value, so each stored series
can be traced back to its case and input series, whatever the rules did to its labels.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from openagent.relabel import Relabeler
from tests.peers import PrometheusServer

from .rules import Rule
from .test_validation import INVALID, VALID

pytestmark = pytest.mark.peer

Series = tuple[str, dict[str, str]]

# Characters with case mappings that Unicode 14 added. Python 3.11 has Unicode 14 tables,
# the Go that built Prometheus 2.42 had Unicode 13, so only these map differently.
UNICODE_14_CASED = {0x2C2F, 0x2C5F, 0xA7C0, 0xA7C1, 0xA7D0, 0xA7D1, *range(0xA7D6, 0xA7DA)}
UNICODE_14_CASED |= set(range(0x10570, 0x105BD))
# Every other non-ASCII character that has an upper or lower case mapping (2795 of them).
CASED = "".join(
    chr(c)
    for c in range(0x80, 0x110000)
    if not 0xD800 <= c < 0xE000
    and c not in UNICODE_14_CASED
    and (chr(c).lower() != chr(c) or chr(c).upper() != chr(c))
)

STANDARD: list[Series] = [
    (
        "DCGM_FI_DEV_GPU_TEMP",
        {"gpu": "0", "UUID": "GPU-5d3a", "modelName": "NVIDIA L4", "Hostname": "node-1",
         "pci_bus_id": "00000000:00:03.0"},
    ),
    (
        "DCGM_FI_DEV_GPU_TEMP",
        {"gpu": "1", "UUID": "GPU-77ef", "modelName": "Tesla T4", "Hostname": "node-2",
         "minor": "1"},
    ),
    (
        "DCGM_FI_DEV_POWER_USAGE",
        {"gpu": "0", "UUID": "GPU-5d3a", "pod": "trainer-7f9c", "namespace": "ml",
         "container": "main"},
    ),
    ("DCGM_FI_DEV_FB_USED", {"gpu": "1", "minor": "1", "note": "l1\nl2", "device": "nvidia1"}),
    (
        "gpu_info",
        {"gpu": "2", "label": "straße ﬁ ᾳ ǆ ΐ İSTANBUL ΟΔΟΣ ǅ ǈ", "modelName": "Ελληνικά 9",
         "price": "$5"},
    ),
    ("gpu_long", {"gpu": "3", "long": "x" * 1500 + "_tail", "path": "a_b_c"}),
    ("gpu_cased", {"gpu": "4", "cased": CASED}),
]  # fmt: skip

# Rules per case, exactly as they would appear in a Prometheus configuration.
PEER_YAML = r"""
replace-default:
- {source_labels: [Hostname], target_label: 'node'}
replace-anchored:
- {source_labels: [modelName], regex: 'L4', target_label: 'x', replacement: 'y'}
- {source_labels: [modelName], regex: 'NVIDIA (.*)', target_label: 'short'}
replace-expand:
- source_labels: [UUID]
  regex: 'GPU-(?P<id>.)(.*)'
  target_label: 'a'
  replacement: '${1}x-$1x-$$-$id-${id}_-$-${-$2-${2}${0}-$9'
replace-empty-deletes:
- {source_labels: [pod], regex: '.*', target_label: 'container', replacement: ""}
replace-separator:
- {source_labels: [gpu, pod, namespace], separator: /, target_label: 'where'}
replace-empty-separator:
- {source_labels: [gpu, minor], separator: "", target_label: 'gm'}
rename-name:
- {source_labels: [__name__], regex: 'DCGM_FI_DEV_(.*)', target_label: '__name__',
   replacement: 'dcgm_${1}'}
- {source_labels: [__name__], target_label: '__name__', action: lowercase}
keep:
- {source_labels: [__name__], regex: 'DCGM_FI_DEV_GPU_.*', action: keep}
drop:
- {source_labels: [modelName], regex: 'Tesla.*|', action: drop}
keepequal:
- {source_labels: [gpu], target_label: 'minor', action: keepequal}
dropequal:
- {source_labels: [gpu], target_label: 'minor', action: dropequal}
hashmod:
- {source_labels: [UUID], target_label: 'shard', modulus: 7, action: hashmod}
- {source_labels: [__name__, gpu], target_label: 'shard2', modulus: 1000003, action: hashmod}
- {source_labels: [label], target_label: 'shard3', modulus: 18446744073709551557, action: hashmod}
labelmap:
- {regex: '(model|Host)(.*)', replacement: 'x_${2}', action: labelmap}
labelmap-collision:
- {regex: '(UUID|gpu|minor)', replacement: 'id', action: labelmap}
labelmap-overwrite:
- {regex: '(pod|device)', replacement: 'gpu', action: labelmap}
labeldrop:
- {regex: 'UUID|model.*|pci_.*', action: labeldrop}
labelkeep:
- {regex: '__name__|gpu|job|instance', action: labelkeep}
case-mapping:
- {source_labels: [label], target_label: 'up_label', action: uppercase}
- {source_labels: [label], target_label: 'low_label', action: lowercase}
- {source_labels: [modelName, pod], target_label: 'm', action: uppercase}
- {source_labels: [nothing], target_label: 'gpu', action: lowercase}
re2-only-syntax:
- {source_labels: [modelName], regex: '(\pL+) (\p{Lu}?\d)', target_label: 'vendor',
   replacement: '$1-$2'}
- {source_labels: [Hostname], regex: '[[:alpha:]]+-([[:digit:]])', target_label: 'hn'}
- {source_labels: [UUID], regex: '\QGPU-\E(.*)\z', target_label: 'uid'}
- {source_labels: [modelName], regex: '(?i)nvidia.*', target_label: 'nv', replacement: "yes"}
- {source_labels: [UUID], regex: '(?U)(.+)(.*)', target_label: 'lazy', replacement: '$1|$2'}
- {source_labels: [modelName], regex: '\PL*(\p{Greek}+)\s\d', target_label: 'greek'}
- {source_labels: [price], regex: '\x{24}(\d)', target_label: 'dollars'}
newlines:
- {source_labels: [note], target_label: 'note_copy'}
- {source_labels: [note], regex: '(?s)(.*)\n(.*)', target_label: 'note2', replacement: '$2'}
- {source_labels: [note], regex: 'l1$', target_label: 'note3', replacement: 'dollar'}
nested-quantifier:
- {source_labels: [pci_bus_id, gpu], regex: '(.+?)(\:\d+)?;(\d+)', target_label: 'addr',
   replacement: '$1@$3'}
target-templates:
- {source_labels: [device], regex: 'nvidia(\d)', target_label: 'dev_${1}', replacement: "yes"}
- {source_labels: [pod], regex: '([a-z]+)-(.*)', target_label: '$1', replacement: '$2'}
- {source_labels: [UUID], regex: 'GPU-(\d)(.*)', target_label: '$1', replacement: '$2'}
delete-then-read-missing:
- {source_labels: [minor], regex: "1", target_label: 'gpu', replacement: ""}
- {source_labels: [gpu], regex: "", target_label: 'gpu_missing', replacement: "true"}
long-values:
- {source_labels: [long, path], regex: '(.*)_(.*)', target_label: 'tail', replacement: '$2'}
case-mapping-every-cased-character:
- {source_labels: [cased], target_label: 'up', action: uppercase}
- {source_labels: [cased], target_label: 'lo', action: lowercase}
chain-keep-after-labelmap:
- {regex: '(gpu|minor)', replacement: '__tmp_${1}', action: labelmap}
- {source_labels: [__tmp_gpu], target_label: '__tmp_minor', action: keepequal}
- {regex: '__tmp_.*', action: labeldrop}
"""
PEER_CASES: list[tuple[str, list[dict[str, Any]]]] = list(yaml.safe_load(PEER_YAML).items())

BASE = 1_000_000


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _page(case: int) -> str:
    lines = []
    for j, (name, labels) in enumerate(STANDARD):
        inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
        lines.append(f"{name}{{{inner}}} {BASE + case * 1000 + j}")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def prometheus_results(
    exposition_server: tuple[int, dict[str, str]],
) -> Iterator[dict[int, dict[int, dict[str, str]]]]:
    """case -> input series index -> labels as Prometheus stored them."""
    port, pages = exposition_server
    jobs = []
    for i, (_, rules) in enumerate(PEER_CASES):
        pages[f"/case/{i}"] = _page(i)
        jobs.append(
            {
                "job_name": f"case{i}",
                "metrics_path": f"/case/{i}",
                "scrape_timeout": "1s",
                "static_configs": [{"targets": [f"127.0.0.1:{port}"]}],
                "metric_relabel_configs": rules,
            }
        )
    with PrometheusServer(jobs, scrape_interval="1s") as prometheus:
        prometheus.wait_for(
            "count(scrape_samples_scraped)",
            lambda rows: bool(rows) and rows[0][1] == len(jobs),
            timeout=40,
        )
        stored: dict[int, dict[int, dict[str, str]]] = {}
        for labels, value in prometheus.query('{__name__=~".+"}'):
            if value >= BASE:
                case, j = divmod(int(value) - BASE, 1000)
                stored.setdefault(case, {})[j] = labels
        yield stored


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("case", "rules"), [pytest.param(i, c[1], id=c[0]) for i, c in enumerate(PEER_CASES)]
)
def test_metric_relabelling_matches_prometheus(
    case: int,
    rules: list[dict[str, Any]],
    prometheus_results: dict[int, dict[int, dict[str, str]]],
    exposition_server: tuple[int, dict[str, str]],
) -> None:
    port = exposition_server[0]
    relabeler = Relabeler([Rule.of(rule) for rule in rules])
    ours: dict[int, dict[str, str]] = {}
    for j, (name, labels) in enumerate(STANDARD):
        given = {"__name__": name, **labels, "job": f"case{case}", "instance": f"127.0.0.1:{port}"}
        result = relabeler.process(given)
        if result is not None:
            ours[j] = result
    assert ours == prometheus_results.get(case, {})


# Where this implementation knowingly differs from Prometheus 2.42 (see openagent/relabel.py).
KNOWN_DIFFERENCES = {
    "regex-unbalanced-wrap": "2.42 accepts a)|(b; we reject it because the wrapping unanchors it",
    "lowercase-target-template": "2.42 accepts ${1} and writes a label literally named ${1}",
    "go-named-group": "Go < 1.22 (Prometheus 2.42) lacks (?<name>...); RE2 and later Go have it",
    "hashmod-huge-modulus": "2.42 silently accepts a modulus beyond 2**64-1",
}
NOT_YAML = {  # Python-level type checks that YAML cannot express the same way
    "action-not-string", "regex-not-string", "source-labels-a-string", "hashmod-bool-modulus",
    "separator-not-string", "source-labels-none",
}  # fmt: skip


@pytest.mark.parametrize(
    ("name", "fields", "we_accept"),
    [pytest.param(c[0], c[1], False, id=c[0]) for c in INVALID if c[0] not in NOT_YAML]
    + [pytest.param(c[0], c[1], True, id=c[0]) for c in VALID if c[0] not in NOT_YAML],
)
def test_validation_matches_promtool(
    name: str,
    fields: dict[str, Any],
    we_accept: bool,
    promtool_check: Callable[[dict[str, Any], Path], tuple[bool, str]],
    tmp_path: Path,
) -> None:
    job = {
        "job_name": "x",
        "static_configs": [{"targets": ["127.0.0.1:9"]}],
        "metric_relabel_configs": [Rule.of(fields).as_yaml()],
    }
    accepted, output = promtool_check({"scrape_configs": [job]}, tmp_path)
    if name in KNOWN_DIFFERENCES:
        assert accepted is not we_accept, KNOWN_DIFFERENCES[name]
    else:
        assert accepted is we_accept, output
