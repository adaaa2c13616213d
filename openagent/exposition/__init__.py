"""Prometheus text format 0.0.4 and OpenMetrics 1.0 parsing with a per-target series cache."""

from openagent.exposition.decode import decode_body, is_openmetrics
from openagent.exposition.errors import LimitExceeded, ParseError
from openagent.exposition.limits import Limits
from openagent.exposition.parsed import DROPPED, Builder, Parsed
from openagent.exposition.parser import Parser

__all__ = [
    "DROPPED",
    "Builder",
    "LimitExceeded",
    "Limits",
    "ParseError",
    "Parsed",
    "Parser",
    "decode_body",
    "is_openmetrics",
]
