"""Writing a batch that the database refuses part of: halve it until the bad rows stand alone.

A batch is written in one transaction. When the database refuses it for one
of its rows (text it cannot store, a value out of range), the batch is split in
two and each half written on its own, and so on, until every refused chunk is a
single item: those are set aside, everything else is written. When the
database is away instead, nothing is dropped: what is not written yet is handed
back to be tried in a later round.

Pure: the caller's ``write`` does the I/O (and its own commit or rollback).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Generic, Optional, Sequence, TypeVar

T = TypeVar("T")


@dataclass
class Written(Generic[T]):
    """What became of one batch."""

    written: int = 0
    #: items the database refused on their own, each with the reason (an exception's name).
    refused: list[tuple[T, str]] = field(default_factory=list)
    #: items not written because the database went away: try them again later.
    kept: list[T] = field(default_factory=list)
    #: the error that made the database count as away.
    away: Optional[BaseException] = None


def write_splitting(items: Sequence[T], write: Callable[[list[T]], None],
                    is_away: Callable[[BaseException], bool]) -> Written[T]:
    """Write ``items`` whole if the database takes them, else in halves, in their order.

    :param write: writes and commits a chunk, or raises (having rolled it back).
    :param is_away: whether an error means the database is away (keep everything
        left) rather than that a row of the chunk cannot be written.

    A loop over a stack of chunks, not recursion: one bad row among n costs about
    2 log2(n) writes, and no batch can exhaust the stack.
    """
    out: Written[T] = Written()
    chunks: list[list[T]] = [list(items)] if items else []
    while chunks:
        chunk = chunks.pop()
        try:
            write(chunk)
        except Exception as exc:  # noqa: BLE001 - every failure is sorted below
            if is_away(exc):
                out.away = exc
                out.kept = chunk + [item for rest in reversed(chunks) for item in rest]
                return out
            if len(chunk) == 1:
                out.refused.append((chunk[0], type(exc).__name__))
                continue
            half = len(chunk) // 2
            chunks += [chunk[half:], chunk[:half]]  # the first half is written first
            continue
        out.written += len(chunk)
    return out
