"""The non-metric packs (TextPack, ParamPack, TagCountPack, EventPack) and `decode_pack`.

Every pack class has ``TYPE``, ``header``, ``to_bytes()`` (the full
``i16 type ‖ header ‖ body``) and ``read_body``. `decode_pack` dispatches on
the type code. Bytes after a pack's last field are ignored (CYPHER frames pad
packs with zeros), except inside an OpenMx records blob.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import ClassVar

from openagent.sinks.whatap.codec import I16, DecodeError, EncodeError, Reader, Writer
from openagent.sinks.whatap.hashing import hash64
from openagent.sinks.whatap.header import (
    EVENT_PACK,
    PARAM_PACK,
    TAG_COUNT_PACK,
    TEXT_PACK,
    PackHeader,
    read_header,
)
from openagent.sinks.whatap.openmx import (
    DEFAULT_MAX_INFLATED,
    OpenMxEndpointPack,
    OpenMxHelpPack,
    OpenMxHistogramPack,
    OpenMxPack,
)
from openagent.sinks.whatap.values import (
    MapValue,
    Value,
    read_map_body,
    read_value,
    write_map_body,
    write_value,
)

# TextPack divisions used by the agent.
DIV_ONAME = 13
DIV_OKIND = 57
DIV_ONODE_NAME = 63

# ParamPack ids.
AGENT_BOOT_ENV = 2
CONFIGURE_GET = 4
GET_ENV = 12
SET_CONFIG = 14
AGENT_LOG_LIST = 22
AGENT_LOG_READ = 23

# EventPack levels.
EVENT_NONE = 0
EVENT_INFO = 10
EVENT_WARNING = 20
EVENT_FATAL = 30


@dataclass(frozen=True, slots=True)
class TextRecord:
    """A name registration: division, hash of the text, the text."""

    div: int
    hash: int
    text: str


@dataclass(frozen=True, slots=True)
class TextPack:
    """Name registrations (type 0x0700): header ‖ Decimal n ‖ n × (byte div ‖ i32 hash ‖ Text)."""

    header: PackHeader
    records: Sequence[TextRecord]
    TYPE: ClassVar[int] = TEXT_PACK

    def to_bytes(self) -> bytes:
        """The full pack."""
        w = Writer().short(self.TYPE).raw(self.header.to_bytes()).decimal(len(self.records))
        for rec in self.records:
            w.byte(rec.div).int32(rec.hash).text(rec.text)
        return w.getvalue()

    @classmethod
    def read_body(cls, r: Reader, header: PackHeader, max_inflated: int) -> TextPack:
        """Body after the header."""
        n = r.check_count(r.decimal("text record count"), "text record", 6)
        recs = [TextRecord(r.byte("div"), r.int32("hash"), r.text()) for _ in range(n)]
        return cls(header, recs)


@dataclass(frozen=True, slots=True)
class ParamPack:
    """Parameters / server commands (type 0x0100): id, request, response and a Map body."""

    header: PackHeader
    id: int
    request: int = 0
    response: int = 0
    entries: Mapping[str, Value] = field(default_factory=dict)
    TYPE: ClassVar[int] = PARAM_PACK

    def to_bytes(self) -> bytes:
        """The full pack."""
        w = Writer().short(self.TYPE).raw(self.header.to_bytes())
        w.int32(self.id).decimal(self.request).decimal(self.response)
        write_map_body(w, self.entries)
        return w.getvalue()

    def to_response(self, entries: Mapping[str, Value] | None = None) -> ParamPack:
        """The reply to a request: entries added, ``response := request``, ``request := 0``."""
        merged = {**self.entries, **(entries or {})}
        if self.request == 0:
            return replace(self, entries=merged)
        return replace(self, request=0, response=self.request, entries=merged)

    @classmethod
    def read_body(cls, r: Reader, header: PackHeader, max_inflated: int) -> ParamPack:
        """Body after the header."""
        pid = r.int32("param id")
        request = r.decimal("request")
        response = r.decimal("response")
        return cls(header, pid, request, response, read_map_body(r))


@dataclass(frozen=True, slots=True)
class TagCountPack:
    """Tagged counters (type 0x1601). The tag hash is Hash64 of the encoded tags Map."""

    header: PackHeader
    category: str
    tags: Mapping[str, Value] = field(default_factory=dict)
    data: Mapping[str, Value] = field(default_factory=dict)
    TYPE: ClassVar[int] = TAG_COUNT_PACK

    def tag_bytes(self) -> bytes:
        """The tagged Map of the tags."""
        w = Writer()
        write_value(w, MapValue(self.tags))
        return w.getvalue()

    @property
    def tag_hash(self) -> int:
        """Hash64 of `tag_bytes`, or 0 without tags."""
        return hash64(self.tag_bytes()) if self.tags else 0

    def to_bytes(self) -> bytes:
        """header ‖ 00 ‖ Text category ‖ Decimal tagHash ‖ tags Map ‖ data Map."""
        tags = self.tag_bytes()
        w = Writer().short(self.TYPE).raw(self.header.to_bytes()).byte(0).text(self.category)
        w.decimal(hash64(tags) if self.tags else 0).raw(tags)
        write_value(w, MapValue(self.data))
        return w.getvalue()

    @classmethod
    def read_body(cls, r: Reader, header: PackHeader, max_inflated: int) -> TagCountPack:
        """Body after the header; the tag hash is checked against the tags."""
        r.byte("tag count version")
        category = r.text("category")
        tag_hash = r.decimal("tag hash")
        start = r.pos
        tags = _read_map(r, "tags")
        tag_end = r.pos
        data = _read_map(r, "data")
        pack = cls(header, category, tags, data)
        if tag_hash != pack.tag_hash:
            raise DecodeError(
                f"tag count pack {category!r}: tag hash {tag_hash} does not match the tags "
                f"at offsets {start}..{tag_end} ({pack.tag_hash})"
            )
        return pack


def _read_map(r: Reader, what: str) -> Mapping[str, Value]:
    pos = r.pos
    v = read_value(r)
    if not isinstance(v, MapValue):
        raise DecodeError(f"{what} at offset {pos} is not a Map (type {v.TYPE})")
    return v.entries


def event_attributes(
    *,
    uuid: str = "",
    escalation: bool = False,
    status: int = 0,
    otype: int = 0,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Attributes as golib's EventPack writes them: ``extra``, then ``_uuid_`` (if set),
    ``_esca_``, ``_status_``, ``_otype_``."""
    attrs = dict(extra or {})
    if uuid:
        attrs["_uuid_"] = uuid
    attrs["_esca_"] = "true" if escalation else "false"
    attrs["_status_"] = str(status)
    attrs["_otype_"] = str(otype)
    return attrs


@dataclass(frozen=True, slots=True)
class EventPack:
    """An alert event (type 0x1400). ``attributes`` is the map exactly as on the wire."""

    header: PackHeader
    level: int
    title: str
    message: str
    attributes: Mapping[str, str] = field(default_factory=dict)
    TYPE: ClassVar[int] = EVENT_PACK

    def to_bytes(self) -> bytes:
        """header ‖ byte level ‖ Text title ‖ Text message ‖ byte n ‖ n × (Text ‖ Text)."""
        n = len(self.attributes)
        if n > 255:
            raise EncodeError(f"event {self.title!r} has {n} attributes; at most 255 fit")
        w = Writer().short(self.TYPE).raw(self.header.to_bytes())
        w.byte(self.level).text(self.title).text(self.message).byte(n)
        for key, value in self.attributes.items():
            w.text(key).text(value)
        return w.getvalue()

    @classmethod
    def read_body(cls, r: Reader, header: PackHeader, max_inflated: int) -> EventPack:
        """Body after the header."""
        level = r.byte("event level")
        title = r.text("event title")
        message = r.text("event message")
        n = r.check_count(r.byte("attribute count"), "attribute", 2)
        attrs: dict[str, str] = {}
        for _ in range(n):
            key = r.text("attribute key")
            attrs[key] = r.text("attribute value")
        return cls(header, level, title, message, attrs)


def overflow_event(header: PackHeader, pack_name: str, size: int) -> EventPack:
    """The NEW_OVERFLOW event for a pack that exceeded the send limit.

    The Go agent always names "EventPack" and leaves the header zero; this
    names the pack that overflowed and takes the real header.
    """
    return EventPack(
        header,
        EVENT_FATAL,
        "NEW_OVERFLOW",
        f"Too big data: {pack_name} ({size} bytes)",
        event_attributes(),
    )


Pack = (
    OpenMxPack
    | OpenMxHelpPack
    | OpenMxHistogramPack
    | OpenMxEndpointPack
    | TextPack
    | ParamPack
    | TagCountPack
    | EventPack
)

_PACK_CLASSES: dict[
    int,
    type[OpenMxPack]
    | type[OpenMxHelpPack]
    | type[OpenMxHistogramPack]
    | type[OpenMxEndpointPack]
    | type[TextPack]
    | type[ParamPack]
    | type[TagCountPack]
    | type[EventPack],
] = {
    cls.TYPE: cls
    for cls in (
        OpenMxPack,
        OpenMxHelpPack,
        OpenMxHistogramPack,
        OpenMxEndpointPack,
        TextPack,
        ParamPack,
        TagCountPack,
        EventPack,
    )
}


def pack_type(data: bytes) -> int:
    """The type code of serialized pack bytes."""
    if len(data) < 2:
        raise DecodeError(f"pack of {len(data)} bytes has no type code")
    return int(I16.unpack_from(data)[0])


def decode_pack(data: bytes, *, max_inflated: int = DEFAULT_MAX_INFLATED) -> Pack:
    """Decode ``i16 type ‖ header ‖ body``; unknown types are a `DecodeError`."""
    r = Reader(data)
    code = r.short("pack type")
    cls = _PACK_CLASSES.get(code)
    if cls is None:
        raise DecodeError(f"unknown pack type 0x{code & 0xFFFF:04x}")
    header = read_header(r)
    return cls.read_body(r, header, max_inflated)


def encode_pack(pack: Pack) -> bytes:
    """The bytes of any pack (same as ``pack.to_bytes()``)."""
    return pack.to_bytes()
