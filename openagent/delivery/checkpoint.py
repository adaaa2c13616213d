"""The spool's consumer position, kept in a small file replaced atomically.

``checkpoint.json`` holds ``{"segment": N, "offset": B, "maybe_sent": bool}``:
everything before byte B of segment N was delivered (or counted as dropped).
It is written to a temporary name and renamed over the old one, so a reader
sees either the old position or the new one, never half of either.
``maybe_sent`` says the record at that position may already have reached the
sink (the process stopped while sending it): it is sent again, and counted as
a possible duplicate.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import orjson

NAME = "checkpoint.json"


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read; the message names the file and the problem."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Where the consumer of a spool stands."""

    segment: int
    offset: int
    maybe_sent: bool = False


def load_checkpoint(directory: Path) -> Checkpoint | None:
    """The checkpoint in ``directory``; None if there is none.

    Raises CheckpointError if the file exists but is not a valid checkpoint.
    """
    path = directory / NAME
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise CheckpointError(f"{path}: not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise CheckpointError(f"{path}: expected a JSON object, got {type(doc).__name__}")
    segment, offset, maybe = doc.get("segment"), doc.get("offset"), doc.get("maybe_sent", False)
    for key, value in (("segment", segment), ("offset", offset)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise CheckpointError(f"{path}: {key!r} must be a non-negative integer, got {value!r}")
    if not isinstance(maybe, bool):
        raise CheckpointError(f"{path}: 'maybe_sent' must be true or false, got {maybe!r}")
    assert isinstance(segment, int) and isinstance(offset, int)
    return Checkpoint(segment, offset, maybe)


def store_checkpoint(directory: Path, cp: Checkpoint, *, fsync: bool = False) -> None:
    """Replace the checkpoint in ``directory`` with ``cp`` (write, then rename).

    With ``fsync`` the new file and the directory are flushed to disk before
    returning; without it the rename is atomic for other processes but a power
    loss may bring back an older position (which only means more resending).
    """
    tmp = directory / (NAME + ".tmp")
    data = orjson.dumps({"segment": cp.segment, "offset": cp.offset, "maybe_sent": cp.maybe_sent})
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, data)
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, directory / NAME)
    if fsync:
        sync_directory(directory)


def sync_directory(directory: Path) -> None:
    """fsync a directory, so that file creations, renames and deletions in it are durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
