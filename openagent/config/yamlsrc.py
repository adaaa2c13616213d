"""Reading YAML text into plain Python values, with exact error positions.

The document is composed into nodes by PyYAML's C parser when it is
available (``yaml.CSafeLoader``) and then built into dicts, lists and
scalars here, so that every mapping is seen together with its YAML path: a
key given twice in one mapping is reported as a warning at that path (the
last value wins, as in every YAML library). Only the safe YAML tags are
understood.
"""

from __future__ import annotations

from typing import Any

import yaml

from openagent.config.problems import Collector, ConfigError, Problem, YamlPath, format_path

_Loader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MERGE_TAG = "tag:yaml.org,2002:merge"


def _syntax_problem(file: str, exc: yaml.YAMLError, text: str) -> Problem:
    """Turn a PyYAML exception into a problem naming the line and column."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        what = exc.problem or "invalid YAML"
        msg = f"line {mark.line + 1}, column {mark.column + 1}: {what}"
        lines = text.splitlines()
        if mark.line < len(lines) and lines[mark.line][mark.column : mark.column + 1] == "\t":
            msg += " (a tab; YAML is indented with spaces)"
        if exc.context and exc.context_mark is not None:
            ctx = exc.context_mark
            msg += f" ({exc.context} at line {ctx.line + 1}, column {ctx.column + 1})"
        return Problem(file, "", f"invalid YAML: {msg}")
    if isinstance(exc, yaml.reader.ReaderError):
        before = text[: exc.position]
        line = before.count("\n") + 1
        column = exc.position - (before.rfind("\n") + 1) + 1
        char = exc.character if isinstance(exc.character, int) else ord(exc.character)
        return Problem(
            file,
            "",
            f"invalid YAML: line {line}, column {column}: character #x{char:04x} "
            f"is not allowed ({exc.reason})",
        )
    return Problem(file, "", f"invalid YAML: {exc}")


class _Builder:
    """Builds Python values from composed YAML nodes, tracking the YAML path."""

    def __init__(self, loader: Any, sink: Collector) -> None:
        self.loader = loader
        self.sink = sink
        self.memo: dict[int, object] = {}
        self.active: set[int] = set()

    def build(self, node: yaml.Node, path: YamlPath) -> object:
        key = id(node)
        if key in self.memo:
            return self.memo[key]
        if key in self.active:
            mark = node.start_mark
            raise ConfigError(
                [
                    Problem(
                        self.sink.file,
                        format_path(path),
                        f"line {mark.line + 1}: a YAML alias refers to itself",
                    )
                ]
            )
        self.active.add(key)
        try:
            value = self._build(node, path)
        finally:
            self.active.discard(key)
        self.memo[key] = value
        return value

    def _build(self, node: yaml.Node, path: YamlPath) -> object:
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        return self.loader.construct_object(node, deep=True)

    def _mapping(self, node: yaml.MappingNode, path: YamlPath) -> dict[object, object]:
        seen: dict[object, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            key = self._key(key_node, path)
            line = key_node.start_mark.line + 1
            if key in seen:
                self.sink.warn(
                    (*path, str(key)),
                    f"duplicate key {key!r} on lines {seen[key]} and {line}; the last one wins",
                )
            seen[key] = line
        self.loader.flatten_mapping(node)
        out: dict[object, object] = {}
        for key_node, value_node in node.value:
            key = self._key(key_node, path)
            part = key if isinstance(key, str) else str(key)
            out[key] = self.build(value_node, (*path, part))
        return out

    def _key(self, node: yaml.Node, path: YamlPath) -> object:
        if not isinstance(node, yaml.ScalarNode):
            mark = node.start_mark
            raise ConfigError(
                [
                    Problem(
                        self.sink.file,
                        format_path(path),
                        f"line {mark.line + 1}, column {mark.column + 1}: "
                        "a mapping key must be a plain value, not a list or mapping",
                    )
                ]
            )
        key: object = self.loader.construct_object(node, deep=True)
        return key


def load_yaml(text: str, sink: Collector) -> object:
    """Parse one YAML document; duplicate keys become warnings in ``sink``.

    Raises ConfigError for a syntax error (naming line and column), for more
    than one document, and for unsupported tags. An empty document is ``None``.
    """
    loader = _Loader(text)
    try:
        try:
            node = loader.get_single_node()
        except yaml.YAMLError as exc:
            raise ConfigError([_syntax_problem(sink.file, exc, text)]) from None
        if node is None:
            return None
        try:
            return _Builder(loader, sink).build(node, ())
        except yaml.YAMLError as exc:
            raise ConfigError([_syntax_problem(sink.file, exc, text)]) from None
    finally:
        loader.dispose()
