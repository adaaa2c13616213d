"""Prometheus text format 0.0.4, OpenMetrics 1.0 and delimited protobuf parsing, each with a
per-target series cache."""

from openagent.exposition.decode import decode_body, is_openmetrics
from openagent.exposition.errors import LimitExceeded, ParseError
from openagent.exposition.limits import Limits
from openagent.exposition.parsed import DROPPED, Builder, Parsed
from openagent.exposition.parser import Parser
from openagent.exposition.protobuf import CONTENT_TYPE as PROTOBUF_CONTENT_TYPE
from openagent.exposition.protobuf import is_protobuf
from openagent.exposition.protoparse import ProtobufParser

__all__ = [
    "DROPPED",
    "PROTOBUF_CONTENT_TYPE",
    "Builder",
    "LimitExceeded",
    "Limits",
    "ParseError",
    "Parsed",
    "Parser",
    "ProtobufParser",
    "decode_body",
    "is_openmetrics",
    "is_protobuf",
]
