"""The Prometheus remote-write 1.0 sink: `RemoteWriteSink`, configured by `RemoteWriteOptions`."""

from openagent.sinks.remote_write.answers import MESSAGE_CHARS, classify, parse_retry_after
from openagent.sinks.remote_write.options import RemoteWriteOptions, RemoteWriteTLS
from openagent.sinks.remote_write.poster import HEADERS
from openagent.sinks.remote_write.sink import CHUNK, RemoteWriteSink

__all__ = [
    "CHUNK",
    "HEADERS",
    "MESSAGE_CHARS",
    "RemoteWriteOptions",
    "RemoteWriteSink",
    "RemoteWriteTLS",
    "classify",
    "parse_retry_after",
]
