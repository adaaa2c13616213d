"""Prometheus text format 0.0.4 and OpenMetrics 1.0 parsing with a per-target series cache."""

from openagent.exposition.body import decode_body, is_openmetrics
from openagent.exposition.errors import LimitExceeded, ParseError
from openagent.exposition.parser import Parser
from openagent.exposition.result import DROPPED, Builder, Limits, Parsed

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
