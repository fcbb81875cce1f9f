"""Where rows come from: an iterable of parsed objects, or a JSON-lines file streamed a line
at a time (plain, gzip, or a zip of such files as Amplitude exports them).

A row's ``source`` is its 0-based position for iterables and its 1-based line number for
files (``"member:line"`` inside a zip), so a rejection points at the row in the user's input.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack
from typing import IO, Any, Final, cast

import numpy as np
import numpy.typing as npt

from pqlkit.errors import PqlkitTypeError, ValidationError

__all__ = ["CORRUPT", "BadLine", "Rows", "corrupt", "is_path", "open_binary", "rows_of"]

#: What a damaged compressed file raises while it is read.
CORRUPT: Final = (EOFError, gzip.BadGzipFile, zlib.error, zipfile.BadZipFile)


def corrupt(path: object, after: int | str, exc: BaseException) -> ValidationError:
    """The error for a file whose compression is damaged: the rows after the damage cannot
    be counted, so the load stops rather than report a partial file as complete."""
    return ValidationError(
        f"{os.fspath(path) if isinstance(path, (str, os.PathLike)) else path}: the file is "
        f"truncated or corrupt after line {after} ({exc}); nothing after that point can be "
        "read, so the load stops"
    )

_GZIP: Final = b"\x1f\x8b"
_ZIP: Final = b"PK\x03\x04"
# Zip members share one int source: member index in the high bits, line in the low ones.
_LINE_BITS: Final = 40


class BadLine:
    """A line that could not be parsed as JSON."""

    __slots__ = ("message", "text")

    def __init__(self, message: str, text: bytes | str) -> None:
        self.message = message
        self.text = text

    def __repr__(self) -> str:
        return repr(self.text)


Rows = Iterator[tuple[int, Any]]


def is_path(source: object) -> bool:
    return isinstance(source, (str, os.PathLike))


def _lines(stream: IO[Any]) -> Rows:
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue  # a blank line holds no row
        try:
            yield number, json.loads(line)
        except (ValueError, RecursionError) as exc:
            yield number, BadLine(f"line is not valid JSON: {exc}", line.rstrip(b"\r\n")
                                  if isinstance(line, bytes) else line.rstrip("\r\n"))


def _open(path: str | os.PathLike[str]) -> io.BufferedReader:
    """The file, opened for reading bytes; a missing one (or a directory) is an error
    saying so with the path."""
    try:
        return open(path, "rb")  # (the caller closes it)
    except (FileNotFoundError, IsADirectoryError) as exc:
        from pqlkit.errors import MissingFileError

        what = ("is a directory, not a file" if isinstance(exc, IsADirectoryError)
                else "does not exist")
        raise MissingFileError(f"{os.fspath(path)!r} {what}; check the path") from None


def open_binary(path: str | os.PathLike[str], stack: ExitStack) -> IO[bytes]:
    """Open a file for reading, transparently decompressing gzip (by its magic bytes)."""
    raw = stack.enter_context(_open(path))
    head = raw.peek(4)[:4] if isinstance(raw, io.BufferedReader) else b""
    if head[:2] == _GZIP:
        return cast(IO[bytes], stack.enter_context(gzip.GzipFile(fileobj=raw)))
    return raw


class _FileRows:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = path
        self.members: list[str] = []

    def __call__(self, source: int) -> int | str:
        """How a source shows in the report: its line, ``"<member>:<line>"`` in an archive."""
        return self.label(source)

    def label(self, source: int) -> int | str:
        if not self.members:
            return source
        member, line = divmod(source, 1 << _LINE_BITS)
        return f"{self.members[member]}:{line}"

    def split(self, sources: npt.NDArray[np.int64]
              ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int32] | None, list[str]]:
        """:meth:`label` of many sources at once: their lines, and (in an archive) the index
        of each one's member among the ``"<member>:"`` prefixes, else None."""
        if not self.members:
            return sources, None, []
        return (sources & ((1 << _LINE_BITS) - 1),
                (sources >> _LINE_BITS).astype(np.int32), [f"{m}:" for m in self.members])

    def __iter__(self) -> Rows:
        last: int | str = 0
        try:
            for source, row in self._rows():
                last = self.label(source)
                yield source, row
        except CORRUPT as exc:
            raise corrupt(self.path, last, exc) from exc

    def _rows(self) -> Rows:
        with ExitStack() as stack:
            raw = stack.enter_context(_open(self.path))
            head = raw.peek(4)[:4]
            if head == _ZIP:
                archive = stack.enter_context(zipfile.ZipFile(raw))
                self.members = sorted(n for n in archive.namelist() if not n.endswith("/"))
                for index, name in enumerate(self.members):
                    with archive.open(name) as member:
                        stream: IO[bytes] = member
                        if member.peek(2)[:2] == _GZIP:  # type: ignore[attr-defined]
                            stream = cast(IO[bytes], gzip.GzipFile(fileobj=member))
                        base = index << _LINE_BITS
                        for number, row in _lines(stream):
                            yield base + number, row
                return
            stream = cast(IO[bytes], stack.enter_context(gzip.GzipFile(fileobj=raw))) \
                if head[:2] == _GZIP else raw
            yield from _lines(stream)


def rows_of(source: Any, *, what: str) -> tuple[Iterable[tuple[int, Any]],
                                                 Callable[[int], int | str]]:
    """The (source, row) pairs of ``source`` and how to show a source in the report."""
    if is_path(source):
        rows = _FileRows(source)
        return rows, rows  # (a callable label that can also split many sources at once)
    from pqlkit._columns import not_rows

    not_rows(source, what)
    if hasattr(source, "read"):
        return _lines(source), lambda s: s
    if isinstance(source, (bytes, bytearray, Mapping)) or not isinstance(source, Iterable):
        raise PqlkitTypeError(
            f"{what} takes an iterable of parsed JSON objects (dicts) or the path of a JSON-lines "
            f"file, got {type(source).__name__}"
        )
    return enumerate(source), lambda s: s
