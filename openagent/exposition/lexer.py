"""Tokenizer for one exposition line: the parser's slow path.

The grammar follows Prometheus's own lexers (text format 0.0.4 as in
Prometheus 2.x ``promlex.l``, OpenMetrics 1.0 as in ``openmetricslex.l``):

* text format: spaces and tabs may appear around every token (before the
  name, between name and ``{``, around ``=`` and ``,``, before the value and
  the timestamp); commas between label pairs are optional and a trailing
  one is allowed; the timestamp is an integer in milliseconds.
* OpenMetrics: single spaces only, ``,`` between pairs (trailing one
  allowed), float timestamps in seconds, an optional exemplar
  `` # {labels} value [timestamp]`` after the sample.

Values follow Prometheus's ``parseFloat``: Go's ``strconv.ParseFloat`` minus
hex floats and underscores, so ``1_000``, ``0x1p-2``, ``+nan``, ``1e400`` and
non-ASCII digits are rejected although Python's ``float()`` takes them.
Every failure raises :class:`LineError` with a precise reason.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from openagent.exposition.errors import LineError
from openagent.model import Labels

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LNAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_QUOTED = r'"([^"\\]*(?:\\.[^"\\]*)*)"'
_TEXT_PAIR = re.compile(r"[ \t]*([a-zA-Z_][a-zA-Z0-9_]*)[ \t]*=[ \t]*" + _QUOTED + r"[ \t]*,?")
_TEXT_CLOSE = re.compile(r"[ \t]*\}")
_OM_PAIR = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)=" + _QUOTED + r"(,?)")
_TEXT_VALUE = re.compile(r"[^ \t{]+")
_TOKEN_END = re.compile(r"[ \t]")
_DIGITS = re.compile(r"[0-9]+")
_GO_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_ESCAPE = re.compile(r"\\(.)")
_SPECIALS = frozenset(("inf", "+inf", "-inf", "infinity", "+infinity", "-infinity", "nan"))
_INT64_MAX = 2**63 - 1

TEXT_TYPES = frozenset(("counter", "gauge", "histogram", "summary", "untyped"))
OM_TYPES = frozenset(
    ("counter", "gauge", "histogram", "gaugehistogram", "summary", "info", "stateset", "unknown")
)


class Sample(NamedTuple):
    """One tokenized sample line."""

    name: str
    labels: Labels
    key: str  # the series text: from the name to the closing brace
    value: float
    timestamp_ms: int | None
    alias: str | None  # another text that names this series on the fast path


#: A parsed comment line: (field, family, text), where field is the position of the text
#: in Metadata (TYPE, HELP, UNIT), or a marker below. A plain tuple: one per distinct line.
MetaLine = tuple[int, str, str]
TYPE, HELP, UNIT = 0, 1, 2

IGNORED: MetaLine = (-1, "", "")
EOF: MetaLine = (-2, "", "")
_FIELDS = {"HELP": HELP, "TYPE": TYPE, "UNIT": UNIT}


def _skip_ws(line: str, i: int) -> int:
    n = len(line)
    while i < n and line[i] in " \t":
        i += 1
    return i


def _clip(s: str, n: int = 40) -> str:
    return repr(s if len(s) <= n else s[:n] + "…")


def strict_float(text: str, what: str) -> float:
    """Parse ``text`` as Prometheus does; raise LineError naming ``what`` if it cannot."""
    if _GO_DECIMAL.fullmatch(text):
        v = float(text)
        if v - v:  # only an overflow turns a decimal literal into infinity
            raise LineError(f"{what} out of range {_clip(text)}")
        return v
    if text.lower() in _SPECIALS:
        return float(text)
    raise LineError(f"invalid {what} {_clip(text)}" if text else f"missing {what}")


def quick_value(text: str) -> float | None:
    """The value of a lone value token, or None when it needs the careful path."""
    try:
        v = float(text)
    except ValueError:
        return None
    if v - v or "_" in text or not text.isascii() or not text.isprintable():
        return None
    return v


def _unescape_label_pair(m: re.Match[str]) -> str:
    c = m.group(1)
    if c == "n":
        return "\n"
    if c == "\\" or c == '"':
        return c
    return m.group(0)  # unknown escapes stay verbatim, as in Prometheus


def _unescape_text_help_pair(m: re.Match[str]) -> str:
    c = m.group(1)
    if c == "n":
        return "\n"
    if c == "\\":
        return c
    return m.group(0)


def unescape_label(s: str) -> str:
    """Undo ``\\\\``, ``\\"`` and ``\\n`` in a label value."""
    return _ESCAPE.sub(_unescape_label_pair, s) if "\\" in s else s


def unescape_help(s: str, openmetrics: bool) -> str:
    """Undo the HELP escapes (``\\"`` only counts in OpenMetrics)."""
    if "\\" not in s:
        return s
    return _ESCAPE.sub(_unescape_label_pair if openmetrics else _unescape_text_help_pair, s)


def _label_error(line: str, pos: int, om: bool) -> LineError:
    """Explain why the label pair starting at ``pos`` did not match."""
    n = len(line)
    if not om:
        pos = _skip_ws(line, pos)
    if pos >= n:
        return LineError("unexpected end of line in label set (missing '}')")
    m = _LNAME.match(line, pos)
    if m is None:
        return LineError(f"invalid label name at {_clip(line[pos:], 20)}")
    name = m.group()
    pos = m.end() if om else _skip_ws(line, m.end())
    if line[pos : pos + 1] != "=":
        return LineError(f"expected '=' after label name {_clip(name)}")
    pos = pos + 1 if om else _skip_ws(line, pos + 1)
    if line[pos : pos + 1] != '"':
        return LineError(f"expected quoted value for label {_clip(name)}")
    if re.compile(_QUOTED).match(line, pos) is None:
        return LineError(f"unterminated label value of {_clip(name)}")
    return LineError(f"expected ',' or '}}' after value of label {_clip(name)}")


def _check_names(pairs: list[tuple[str, str]]) -> None:
    seen: set[str] = set()
    for name, _ in pairs:
        if name in seen:
            raise LineError(f"duplicate label name {_clip(name)}")
        seen.add(name)
    if "__name__" in seen:
        raise LineError("label name '__name__' is reserved for the metric name")


def scan_block(line: str, pos: int, om: bool, blocks: dict[str, Labels]) -> tuple[Labels, int]:
    """Parse the label set whose ``{`` is at ``pos``; return labels and the end index.

    Valid label sets are remembered in ``blocks`` by their text.
    """
    pairs: list[tuple[str, str]] = []
    i = pos + 1
    if om:
        while True:
            if line[i : i + 1] == "}":
                end = i + 1
                break
            m = _OM_PAIR.match(line, i)
            if m is None:
                raise _label_error(line, i, True)
            v = m.group(2)
            pairs.append((m.group(1), unescape_label(v)))
            i = m.end()
            if not m.group(3) and line[i : i + 1] != "}":
                raise LineError(f"expected ',' or '}}' after value of label '{m.group(1)}'")
    else:
        while True:
            c = _TEXT_CLOSE.match(line, i)
            if c is not None:
                end = c.end()
                break
            m = _TEXT_PAIR.match(line, i)
            if m is None:
                raise _label_error(line, i, False)
            pairs.append((m.group(1), unescape_label(m.group(2))))
            i = m.end()
    text = line[pos:end]
    labels = blocks.get(text)
    if labels is None:
        _check_names(pairs)
        labels = tuple(pairs)
        blocks[text] = labels
    return labels, end


def _text_timestamp(token: str) -> int:
    if _DIGITS.fullmatch(token) is None:
        raise LineError(f"invalid timestamp {_clip(token)}")
    digits = token.lstrip("0")
    if len(digits) > 19 or (digits and int(digits) > _INT64_MAX):
        raise LineError(f"timestamp out of range {_clip(token)}")
    return int(digits or "0")


def _om_timestamp(token: str, what: str = "timestamp") -> int:
    seconds = strict_float(token, what)
    if seconds - seconds:
        raise LineError(f"invalid {what} {_clip(token)}")
    ms = seconds * 1000.0
    if not -(2.0**63) <= ms < 2.0**63:
        raise LineError(f"{what} out of range {_clip(token)}")
    return int(ms)  # truncates toward zero, as Go's int64() conversion does


def _bad_start(line: str, pos: int) -> LineError:
    if line[pos : pos + 1] == "{":
        return LineError("missing metric name before '{'")
    return LineError(f"invalid metric name at {_clip(line[pos:], 20)}")


def scan_text(line: str, blocks: dict[str, Labels]) -> Sample:
    """Tokenize a text-format (0.0.4) sample line."""
    n = len(line)
    m = NAME.match(line)
    if m is None:
        if line[:1] in (" ", "\t"):
            raise LineError("whitespace before the metric name")
        raise _bad_start(line, 0)
    name = m.group()
    key_end = m.end()
    i = _skip_ws(line, key_end)
    labels: Labels = ()
    if line[i : i + 1] == "{":
        labels, key_end = scan_block(line, i, False, blocks)
        i = _skip_ws(line, key_end)
    vm = _TEXT_VALUE.match(line, i)
    if vm is None:
        if i < n:  # only a '{' stops a value token here
            raise LineError("unexpected '{' where the value should be")
        raise LineError("expected value after series")
    value = strict_float(vm.group(), "value")
    v_start, v_end = vm.span()
    i = _skip_ws(line, v_end)
    ts: int | None = None
    if i < n:
        if i == v_end:
            raise LineError("unexpected '{' after the value")
        t_end = _TOKEN_END.search(line, i)
        t_stop = n if t_end is None else t_end.start()
        ts = _text_timestamp(line[i:t_stop])
        j = _skip_ws(line, t_stop)
        if j < n:
            raise LineError(f"unexpected text after timestamp: {_clip(line[j:])}")
    key = line[:key_end]
    alias = None
    if ts is None and v_end == n and line[v_start - 1] == " " and v_start - 1 > key_end:
        alias = line[: v_start - 1]
    return Sample(name, labels, key, value, ts, alias)


def _om_exemplar(line: str, i: int) -> None:
    """Validate the exemplar that starts at ``line[i] == '{'`` (its content is not kept)."""
    _, end = scan_block(line, i, True, {})
    rest = line[end:]
    if rest[:1] != " ":
        raise LineError("expected ' ' and a value after exemplar labels")
    parts = rest[1:].split(" ")
    if len(parts) > 2:
        raise LineError(f"unexpected text after exemplar: {_clip(' '.join(parts[2:]))}")
    strict_float(parts[0], "exemplar value")
    if len(parts) == 2:
        _om_timestamp(parts[1], "exemplar timestamp")


def scan_openmetrics(line: str, blocks: dict[str, Labels]) -> Sample:
    """Tokenize an OpenMetrics 1.0 sample line."""
    m = NAME.match(line)
    if m is None:
        raise _bad_start(line, 0)
    name = m.group()
    key_end = m.end()
    labels: Labels = ()
    if line[key_end : key_end + 1] == "{":
        labels, key_end = scan_block(line, key_end, True, blocks)
    if line[key_end : key_end + 1] != " ":
        if key_end == len(line):
            raise LineError("expected value after series")
        raise LineError(f"expected ' ' after series, got {_clip(line[key_end:], 20)}")
    v_start = key_end + 1
    v_end = line.find(" ", v_start)
    if v_end < 0:
        v_end = len(line)
    value = strict_float(line[v_start:v_end], "value")
    ts: int | None = None
    i = v_end
    if i < len(line) and not line.startswith(" # {", i):
        t_end = line.find(" ", i + 1)
        if t_end < 0:
            t_end = len(line)
        ts = _om_timestamp(line[i + 1 : t_end])
        i = t_end
    if i < len(line):
        if not line.startswith(" # {", i):
            raise LineError(f"unexpected text after timestamp: {_clip(line[i:])}")
        if not name.endswith(("_total", "_bucket")):
            raise LineError(f"metric '{name}' cannot have exemplars (only _total and _bucket)")
        _om_exemplar(line, i + 3)
    return Sample(name, labels, line[:key_end], value, ts, None)


def scan_comment(line: str, om: bool) -> MetaLine:
    """Parse a line that starts with ``#`` (after leading blanks in text format)."""
    if om:
        if line == "# EOF":
            return EOF
        word, body = line[2:7], line[7:]
        if line[:2] != "# " or word not in ("HELP ", "TYPE ", "UNIT "):
            raise LineError("only HELP, TYPE, UNIT and EOF comments are allowed in OpenMetrics")
    else:
        body = line.lstrip(" \t")[1:]
        if body[:1] not in (" ", "\t"):
            return IGNORED
        body = body.lstrip(" \t")
        word = body[:4]
        if word not in ("HELP", "TYPE") or body[4:5] not in (" ", "\t"):
            return IGNORED
        body = body[4:].lstrip(" \t")
    field = _FIELDS[word[:4]]
    m = NAME.match(body)
    if m is None:
        raise LineError(f"expected metric name after {word[:4]}")
    family = m.group()
    if om and body[m.end() : m.end() + 1] != " ":
        raise LineError(f"expected ' ' and text after the metric name in {word[:4]}")
    text = body[m.end() + 1 :]  # everything after the separator that follows the name
    if field == HELP:
        return (HELP, family, unescape_help(text, om))
    if field == TYPE and text not in (OM_TYPES if om else TEXT_TYPES):
        raise LineError(f"invalid metric type {_clip(text)}")
    if field == UNIT and text and not family.endswith("_" + text):
        raise LineError(f"unit {_clip(text)} is not a suffix of metric family {_clip(family)}")
    return (field, family, text)


def is_blank(line: str) -> bool:
    """True for an empty line or one of spaces and tabs only."""
    return not line.strip(" \t")
