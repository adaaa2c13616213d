"""Pack type codes and the common pack header (golib ``AbstractPack``, PROTOCOL §3.0)."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from openagent.sinks.whatap.codec import (
    I32,
    I64,
    DecodeError,
    EncodeError,
    Reader,
    Writer,
    decimal_bytes,
)

PARAM_PACK = 0x0100
TEXT_PACK = 0x0700
EVENT_PACK = 0x1400
TAG_COUNT_PACK = 0x1601
OPEN_MX_PACK = 0x1603
OPEN_MX_HELP_PACK = 0x1604
OPEN_MX_ENDPOINT_PACK = 0x1606
OPEN_MX_HISTOGRAM_PACK = 0x1607

#: First header byte of the extended (okind/onode) form; a Decimal length is never above 8.
EXTENDED_HEADER = 9


@dataclass(frozen=True, slots=True)
class PackHeader:
    """pcode, oid, okind, onode and time (ms) of a pack."""

    pcode: int
    oid: int
    time: int
    okind: int = 0
    onode: int = 0

    def to_bytes(self) -> bytes:
        """Legacy form when okind and onode are both 0, else the extended ``09`` form."""
        try:
            if self.okind == 0 and self.onode == 0:
                return decimal_bytes(self.pcode) + I32.pack(self.oid) + I64.pack(self.time)
            return (
                b"\x09"
                + decimal_bytes(self.pcode)
                + I32.pack(self.oid)
                + I32.pack(self.okind)
                + I32.pack(self.onode)
                + I64.pack(self.time)
            )
        except struct.error as exc:
            raise EncodeError(f"pack header field out of range: {self!r}") from exc


def write_header(w: Writer, h: PackHeader) -> None:
    """Append the header."""
    w.raw(h.to_bytes())


def read_header(r: Reader) -> PackHeader:
    """Read either header form."""
    first = r.byte("pack header")
    if first <= 8:
        pcode = r.decimal_len(first, "pcode")
        oid = r.int32("oid")
        return PackHeader(pcode=pcode, oid=oid, time=r.long("pack time"))
    if first != EXTENDED_HEADER:
        # golib reads any byte above 8 as the extended form; only 9 is ever written.
        raise DecodeError(f"unknown pack header version {first} at offset {r.pos - 1}")
    pcode = r.decimal("pcode")
    oid = r.int32("oid")
    okind = r.int32("okind")
    onode = r.int32("onode")
    return PackHeader(pcode=pcode, oid=oid, okind=okind, onode=onode, time=r.long("pack time"))
