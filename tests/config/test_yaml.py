"""YAML reading: syntax errors with positions, duplicate keys, anchors, encodings."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from openagent.config import ConfigError, load_config, parse_config, yamlsrc

from .conftest import SOURCE

VALID = """\
features:
  openAgent:
    enabled: true
    targets:
    - targetName: demo
      type: StaticEndpoints
      endpoints:
      - address: 127.0.0.1:19400
"""


def _problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, SOURCE)
    return [str(p) for p in info.value.problems]


def test_uses_the_c_loader_when_available() -> None:
    if hasattr(yaml, "CSafeLoader"):
        assert yamlsrc._Loader is yaml.CSafeLoader
    assert parse_config(VALID).config.targets[0].target_name == "demo"


def test_syntax_error_names_line_and_column() -> None:
    text = VALID.replace("      type: StaticEndpoints", "      type: Static: Endpoints")
    assert _problems(text) == [
        "scrape_config.yaml: invalid YAML: line 6, column 19: "
        "mapping values are not allowed in this context"
    ]


def test_unclosed_flow_sequence() -> None:
    text = "features:\n  openAgent:\n    targets: [\n"
    assert _problems(text) == [
        "scrape_config.yaml: invalid YAML: line 4, column 1: did not find expected node "
        "content (while parsing a flow node at line 4, column 1)"
    ]


def test_bad_indentation() -> None:
    text = "features:\n  openAgent:\n    enabled: true\n   targets: []\n"
    problems = _problems(text)
    assert len(problems) == 1
    assert problems[0].startswith("scrape_config.yaml: invalid YAML: line 4, column 4: ")


def test_tab_indentation() -> None:
    text = "features:\n\topenAgent: {}\n"
    problems = _problems(text)
    assert problems[0].startswith("scrape_config.yaml: invalid YAML: line 2, column 1: ")
    assert "tab" in problems[0]


def test_control_character() -> None:
    assert _problems("features:\n  openAgent: \x07\n") == [
        "scrape_config.yaml: invalid YAML: line 2, column 14: character #x0007 is not allowed "
        "(control characters are not allowed)"
    ]


def test_two_documents_are_an_error() -> None:
    problems = _problems(VALID + "---\nfeatures: {}\n")
    assert problems[0].startswith("scrape_config.yaml: invalid YAML: line 9, column 1: ")
    assert "single document" in problems[0]


def test_unknown_tag_is_an_error() -> None:
    assert _problems("features: !include other.yaml\n") == [
        "scrape_config.yaml: invalid YAML: line 1, column 11: "
        "could not determine a constructor for the tag '!include'"
    ]


def test_recursive_alias_is_an_error() -> None:
    text = "features:\n  openAgent:\n    targets: &t [*t]\n"
    assert _problems(text) == [
        "scrape_config.yaml: targets[0]: line 3: a YAML alias refers to itself"
    ]


def test_complex_key_is_an_error() -> None:
    assert _problems("features:\n  ? [a, b]\n  : 1\n") == [
        "scrape_config.yaml: features: line 2, column 5: "
        "a mapping key must be a plain value, not a list or mapping"
    ]


def test_duplicate_keys_warn_with_path_and_last_wins() -> None:
    text = VALID.replace(
        "      - address: 127.0.0.1:19400\n",
        "      - address: 127.0.0.1:19400\n        interval: 15s\n        interval: 30s\n",
    )
    loaded = parse_config(text, SOURCE)
    assert [str(w) for w in loaded.warnings] == [
        "scrape_config.yaml: targets[0].endpoints[0].interval: duplicate key 'interval' "
        "on lines 9 and 10; the last one wins"
    ]
    assert loaded.config.targets[0].endpoints[0].interval == 30.0


def test_duplicate_root_key_uses_full_path() -> None:
    loaded = parse_config("features: {}\n" + VALID, SOURCE)
    assert [str(w) for w in loaded.warnings] == [
        "scrape_config.yaml: features: duplicate key 'features' on lines 1 and 2; the last one wins"
    ]


def test_anchors_and_merge_keys() -> None:
    text = """\
features:
  openAgent:
    enabled: true
    targets:
    - targetName: a
      type: StaticEndpoints
      endpoints:
      - &ep {address: 127.0.0.1:19400, interval: 15s}
      - {<<: *ep, address: 127.0.0.1:19401}
"""
    loaded = parse_config(text, SOURCE)
    eps = loaded.config.targets[0].endpoints
    assert [(e.address, e.interval) for e in eps] == [
        ("127.0.0.1:19400", 15.0),
        ("127.0.0.1:19401", 15.0),
    ]
    assert loaded.warnings == []


def test_empty_file() -> None:
    assert _problems("") == ["scrape_config.yaml: the file is empty; expected features.openAgent"]
    assert _problems("# only a comment\n") == [
        "scrape_config.yaml: the file is empty; expected features.openAgent"
    ]


def test_load_config_reads_utf8_with_bom_and_digests_bytes(tmp_path: Path) -> None:
    import hashlib

    data = "\ufeff".encode() + VALID.replace("demo", "démo").encode()
    path = tmp_path / "scrape_config.yaml"
    path.write_bytes(data)
    loaded = load_config(path)
    assert loaded.config.targets[0].target_name == "démo"
    assert loaded.digest == hashlib.sha256(data).hexdigest()


def test_load_config_rejects_bad_utf8(tmp_path: Path) -> None:
    path = tmp_path / "scrape_config.yaml"
    path.write_bytes(b"features:\n  openAgent: \xff\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert [str(p) for p in info.value.problems] == [
        f"{path}: is not valid UTF-8 (byte 23 is 0xff)"
    ]


def test_load_config_missing_file_and_directory(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as info:
        load_config(missing)
    assert [str(p) for p in info.value.problems] == [f"{missing}: file not found"]
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert [str(p) for p in info.value.problems] == [f"{tmp_path}: is a directory, not a YAML file"]


def test_parse_config_digest_is_sha256_of_text() -> None:
    import hashlib

    assert parse_config(VALID).digest == hashlib.sha256(VALID.encode()).hexdigest()
