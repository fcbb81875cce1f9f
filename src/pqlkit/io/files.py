"""JSON-lines, CSV and Parquet files onto an EventLog, streamed in bounded memory.

JSONL and CSV are read a line at a time (gzip transparently); each row is validated as it
arrives and only its kept values are stored, in compact columns, so loading never holds
the file's text. Field names are mapped with keywords (``user_id="uid"``, ``name="event"``),
and a rejection's ``source`` is the 1-based line number in the file.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from datetime import datetime, timedelta, tzinfo
from typing import Any, Final, Literal

from pqlkit._time import EPOCH_UNITS
from pqlkit.errors import PqlkitTypeError, ValidationError
from pqlkit.eventlog import EventLog
from pqlkit.io._convert import (
    Getter,
    check_timestamp_format,
    id_value,
    mapping_value,
    name_value,
    number,
    timestamp_us,
)
from pqlkit.io._sink import Sink, check_choice
from pqlkit.io._source import CORRUPT, corrupt, is_path, open_binary, rows_of
from pqlkit.io.frames import _ACCOUNT, _EVENT_ID
from pqlkit.records import FieldError

__all__ = ["read_csv", "read_jsonl", "read_parquet"]

Extra = Literal["properties", "ignore", "reject"]
_EXTRA: Final = ("properties", "ignore", "reject")
_TYPES: Final = ("str", "int", "float", "bool", "json")
_TRUE: Final = frozenset({"true", "t", "yes", "y", "1"})
_FALSE: Final = frozenset({"false", "f", "no", "n", "0"})


class _Fields:
    """The configured field of each event attribute, and what to do with the others."""

    def __init__(self, *, name: str, timestamp: str, user_id: str, account_id: str | None,
                 event_id: str | None, properties: str | None, extra: Extra) -> None:
        for what, value in (("name", name), ("timestamp", timestamp), ("user_id", user_id)):
            if not isinstance(value, str) or not value:
                raise PqlkitTypeError(f"{what}= must be the name of a field, got {value!r}")
        for what, opt in (("account_id", account_id), ("event_id", event_id),
                          ("properties", properties)):
            if opt is not None and (not isinstance(opt, str) or not opt):
                raise PqlkitTypeError(
                    f"{what}= must be the name of a field or None, got {opt!r}")
        self.name = Getter(name)
        self.timestamp = Getter(timestamp)
        self.user_id = Getter(user_id)
        self.account_id = Getter(account_id) if account_id else None
        self.event_id = Getter(event_id) if event_id else None
        self.properties = properties
        self.extra = check_choice(extra, _EXTRA, "extra")
        self.used = {g.top() for g in (self.name, self.timestamp, self.user_id,
                                       self.account_id, self.event_id) if g is not None}
        if properties:
            self.used.add(properties)


def _event(sink: Sink, source: int, row: Any, fields: _Fields, *, tz: str | tzinfo | None,
           epoch_unit: str | None, fmt: str | None) -> None:
    if sink.unreadable(source, row, "a JSON object"):
        return
    sink.count("events")
    try:
        name = name_value(fields.name(row), fields.name.key)
        raw_ts = fields.timestamp(row)
        if raw_ts is None:
            raise FieldError(f"{fields.timestamp.key} is missing", reason="missing_timestamp",
                             field=fields.timestamp.key)
        ts = timestamp_us(raw_ts, fields.timestamp.key, tz=tz, epoch_unit=epoch_unit, fmt=fmt)
        user = id_value(fields.user_id(row), fields.user_id.key)
        account = id_value(fields.account_id(row), fields.account_id.key) \
            if fields.account_id else None
        event_id = id_value(fields.event_id(row), fields.event_id.key) \
            if fields.event_id else None
        props = _props(row, fields)
    except FieldError as exc:
        sink.reject("events", source, exc.reason, str(exc), row)
        return
    if user is None and account is None:
        sink.reject("events", source, "missing_identity",
                    f"the row names no {fields.user_id.key}"
                    + (f" and no {fields.account_id.key}" if fields.account_id else ""), row)
        return
    sink.event(source, ts, name, user=user, account=account, event_id=event_id,
               properties=props, row=row)


def _props(row: Mapping[str, Any], fields: _Fields) -> Mapping[str, Any]:
    nested: Any = None
    if fields.properties is not None:
        nested = row.get(fields.properties)
    extras = {k: v for k, v in row.items() if k not in fields.used}
    if extras and fields.extra == "reject":
        raise FieldError(
            f"unknown field(s) {', '.join(map(repr, sorted(map(str, extras))))}; map them "
            "with the field keywords, or pass extra='properties' (keep them as properties) "
            "or extra='ignore'", reason="unknown_field", field=str(next(iter(extras))))
    if fields.extra == "ignore" or not extras:
        return mapping_value(nested, fields.properties or "properties")
    if nested is None:
        return mapping_value(extras, "properties")
    checked = mapping_value(nested, fields.properties or "properties")
    clash = sorted(set(extras) & set(checked))
    if clash:
        raise FieldError(
            f"field(s) {', '.join(map(repr, clash))} appear both at the top level and in "
            f"{fields.properties!r}; rename one, or pass extra='ignore'",
            reason="invalid_properties", field=clash[0])
    return {**mapping_value(extras, "properties"), **checked}


def _reader_sink(strict: bool, future_tolerance: Any, now: Any,
                 label: Callable[[int], int | str]) -> Sink:
    # Readers have no anonymous ids: every row names its user or account itself.
    return Sink(strict=strict, future_tolerance=future_tolerance, now=now, anonymous="keep",
                label=label, derive_entities=False)


def read_jsonl(
    path: str | os.PathLike[str] | Iterable[Mapping[str, Any]],
    *,
    name: str = "name",
    timestamp: str = "timestamp",
    user_id: str = "user_id",
    account_id: str | None = "account_id",
    event_id: str | None = "event_id",
    properties: str | None = "properties",
    extra: Extra = "properties",
    timestamp_format: str | None = None,
    epoch_unit: str | None = None,
    tz: str | tzinfo | None = None,
    users: Iterable[Any] | None = None,
    accounts: Iterable[Any] | None = None,
    strict: bool = False,
    future_tolerance: str | timedelta | None = None,
    now: datetime | str | None = None,
) -> EventLog:
    """Load events from a JSON-lines file (gzip too), one object per line.

    Args:
        path: the file (``.gz`` or not: compression is detected from the content), or an
            iterable of parsed objects.
        name, timestamp, user_id, account_id, event_id: the field holding each event
            attribute; a dotted name (``"context.groupId"``) reaches into nested objects.
            ``account_id``/``event_id`` may be None when the file has none.
        properties: the field holding a JSON object of event properties (or None).
        extra: what to do with top-level fields mapped to nothing: ``"properties"``
            (default; they become properties, beside the ``properties`` object),
            ``"ignore"``, or ``"reject"`` (the row is rejected as ``unknown_field``).
        timestamp_format: a :func:`~datetime.datetime.strptime` format for string
            timestamps that are not ISO 8601 (e.g. ``"%d/%m/%Y %H:%M"``).
        epoch_unit: read numbers (and numeric strings) in the timestamp field as epoch
            values in this unit: ``"s"``, ``"ms"``, ``"us"`` or ``"ns"`` (and so the
            ``created_at`` of ``users``/``accounts``).
        tz: the zone of timestamps written without one (``"UTC"``, ``"Europe/Paris"``);
            without it such rows are rejected as ``naive_timestamp``.
        users, accounts: user and account tables (records or dicts), as for
            :meth:`~pqlkit.EventLog.from_records`.
        strict: raise :class:`~pqlkit.errors.RejectedRowError` at the first rejected row.
        future_tolerance: reject events later than ``now`` plus this (e.g. ``"1d"``).
        now: what ``future_tolerance`` counts from (default: the wall clock at load).

    Returns:
        An EventLog; ``log.report`` names rejected rows by their 1-based line number.
        Blank lines hold no row and are skipped.

    Example:
        >>> import pathlib, tempfile
        >>> import pqlkit.io
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "events.jsonl"
        >>> _ = path.write_text(
        ...     '{"event": "signup", "ts": 1777626000, "uid": "u1", "plan": "trial"}\\n'
        ...     '{"event": "signup", "ts": "yesterday", "uid": "u2"}\\n')
        >>> log = pqlkit.io.read_jsonl(path, name="event", timestamp="ts", user_id="uid",
        ...                            epoch_unit="s")
        >>> [(e.name, e.user_id, dict(e.properties)) for e in log.events()]
        [('signup', 'u1', {'plan': 'trial'})]
        >>> [(r.source, r.reason) for r in log.report.rejections]
        [(2, 'invalid_timestamp')]
    """
    if epoch_unit is not None:
        check_choice(epoch_unit, EPOCH_UNITS, "epoch_unit")
    check_timestamp_format(timestamp_format, "read_jsonl")
    fields = _Fields(name=name, timestamp=timestamp, user_id=user_id, account_id=account_id,
                     event_id=event_id, properties=properties, extra=extra)
    rows, label = rows_of(path, what="read_jsonl")
    sink = _reader_sink(strict, future_tolerance, now, label)
    sink.table("events")
    for source, row in rows:
        _event(sink, source, row, fields, tz=tz, epoch_unit=epoch_unit, fmt=timestamp_format)
    return sink.finish(users=users, accounts=accounts, tz=tz, epoch_unit=epoch_unit)


def _check_header(header: list[str], fields: _Fields, path: Any,
                  types: Mapping[str, Any] | None = None) -> None:
    """A CSV header that cannot give the fields asked for is an error at once, before its
    rows are read (each would otherwise be rejected, or lose a column, silently)."""
    where = f"read_csv({os.fspath(path)!r})" if is_path(path) else "read_csv"
    seen: dict[str, int] = {}
    for k, column in enumerate(header, 1):
        if column in seen and column:  # (unnamed columns, a trailing delimiter, hold none)
            raise ValidationError(
                f"{where}: the header names {column!r} twice (columns {seen[column]} and {k}); "
                "rename one, so that no cell is dropped")
        seen[column] = k
    have = ", ".join(map(repr, header))
    # (The default account_id and event_id columns may be absent: none of the events names
    # one. A column named otherwise must be there: a misspelt one lost every account, or
    # kept every duplicate, without a word.)
    for what, getter, default in (("name", fields.name, None),
                                  ("timestamp", fields.timestamp, None),
                                  ("user_id", fields.user_id, "user_id"),
                                  ("account_id", fields.account_id, "account_id"),
                                  ("event_id", fields.event_id, "event_id")):
        if getter is None:
            continue
        # (A dotted field reads into a column of JSON objects: "ctx.ts" needs "ctx".)
        if getter.key not in seen and getter.top() not in seen and getter.key != default:
            raise ValidationError(
                f"{where}: no column {getter.key!r} for {what}=; the header is {have}")
    def has(getter: Any) -> bool:
        return getter is not None and (getter.key in seen or getter.top() in seen)

    if not has(fields.user_id) and not has(fields.account_id):
        raise ValidationError(
            f"{where}: the header has neither {fields.user_id.key!r} nor "
            f"{fields.account_id.key if fields.account_id else 'account_id'!r}: events need a "
            f"user or an account (map them with user_id= / account_id=); the header is {have}")
    # A misspelt properties= or types= column would leave its values text, or unread,
    # and change scores without a word.
    if fields.properties is not None and fields.properties not in seen:
        raise ValidationError(
            f"{where}: no column {fields.properties!r} for properties=; the header is "
            f"{have} (pass the JSON column's name as the header spells it, or None)")
    for column in types or {}:
        if column not in seen:
            raise ValidationError(
                f"{where}: no column {column!r} for types=; the header is {have} (name "
                "the column as the header spells it)")


def _converter(kind: Any, column: str) -> Callable[[str], Any]:
    if kind in (str, "str"):
        return lambda text: text
    if kind in (int, "int"):
        def to_int(text: str) -> int:
            value = number(text)
            if isinstance(value, int):
                return value
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ValueError(f"{text!r} is not an integer")
        return to_int
    if kind in (float, "float"):
        return float
    if kind in (bool, "bool"):
        def to_bool(text: str) -> bool:
            low = text.strip().lower()
            if low in _TRUE:
                return True
            if low in _FALSE:
                return False
            raise ValueError(f"{text!r} is not a boolean (true/false, yes/no, 1/0)")
        return to_bool
    if kind == "json":
        return json.loads
    raise ValidationError(
        f"types[{column!r}] must be one of {', '.join(map(repr, _TYPES))} (or str, int, "
        f"float, bool), got {kind!r}"
    )


def read_csv(
    path: str | os.PathLike[str],
    *,
    name: str = "name",
    timestamp: str = "timestamp",
    user_id: str = "user_id",
    account_id: str | None = "account_id",
    event_id: str | None = "event_id",
    properties: str | None = None,
    extra: Extra = "properties",
    types: Mapping[str, Any] | None = None,
    timestamp_format: str | None = None,
    epoch_unit: str | None = None,
    tz: str | tzinfo | None = None,
    delimiter: str = ",",
    encoding: str = "utf-8",
    users: Iterable[Any] | None = None,
    accounts: Iterable[Any] | None = None,
    strict: bool = False,
    future_tolerance: str | timedelta | None = None,
    now: datetime | str | None = None,
) -> EventLog:
    """Load events from a CSV file with a header row (gzip too), streamed row by row.

    Every value arrives as text: an empty cell is a missing value, ids stay strings
    (``"42"`` is not the integer 42), and other columns become string properties unless
    ``types`` says otherwise.

    Args:
        path: the file (compression is detected from the content).
        name, timestamp, user_id, account_id, event_id: the column of each event attribute
            (``account_id``/``event_id`` may be None; when left at their defaults, the
            file may lack those columns; a column named otherwise must be there).
        properties: a column holding a JSON object of properties (or None); an empty
            cell is none, text that is not a JSON object rejects its row. A column the
            header lacks is an error.
        extra: what to do with the other columns: ``"properties"`` (default),
            ``"ignore"`` or ``"reject"``.
        types: per column, how to read its text: ``"int"``, ``"float"``, ``"bool"``,
            ``"json"`` or ``"str"`` (the default); a value that does not convert rejects
            its row as ``invalid_properties`` (``invalid_id`` for an id column). A
            column the header lacks is an error (a misspelt one would stay text).
        timestamp_format, epoch_unit, tz: as for :func:`read_jsonl`.
        delimiter, encoding: the CSV dialect and text encoding.
        users, accounts, strict, future_tolerance, now: as for :func:`read_jsonl`.

    Returns:
        An EventLog; rejected rows are named by the 1-based line of the file where they
        start (the header is line 1). A row with more or fewer cells than the header is
        rejected as ``malformed_row``.

    Example:
        >>> import pathlib, tempfile
        >>> import pqlkit.io
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "events.csv"
        >>> _ = path.write_text(
        ...     "event,at,user,seats\\n"
        ...     "seat_added,2026-05-01 09:00,u1,3\\n"
        ...     "seat_added,2026-05-01 10:00,u1\\n")
        >>> log = pqlkit.io.read_csv(path, name="event", timestamp="at", user_id="user",
        ...                          types={"seats": int}, tz="UTC")
        >>> [(e.user_id, dict(e.properties)) for e in log.events()]
        [('u1', {'seats': 3})]
        >>> [(r.source, r.reason) for r in log.report.rejections]
        [(3, 'malformed_row')]
    """
    if not is_path(path):
        raise PqlkitTypeError(f"read_csv takes the path of a CSV file, got {type(path).__name__}")
    if epoch_unit is not None:
        check_choice(epoch_unit, EPOCH_UNITS, "epoch_unit")
    check_timestamp_format(timestamp_format, "read_csv")
    fields = _Fields(name=name, timestamp=timestamp, user_id=user_id, account_id=account_id,
                     event_id=event_id, properties=properties, extra=extra)
    if not isinstance(delimiter, str) or len(delimiter) != 1:
        raise PqlkitTypeError(
            f"read_csv: delimiter= is one character, e.g. ',' or '\\t' (a tab), got "
            f"{delimiter!r}")
    try:
        codecs.lookup(encoding)
    except (LookupError, TypeError):
        raise ValidationError(f"read_csv: unknown encoding={encoding!r}; e.g. 'utf-8', "
                              "'latin-1', 'cp1252'") from None
    if types is not None and not isinstance(types, Mapping):
        raise PqlkitTypeError(f"read_csv: types= maps a column name to its type (e.g. "
                              f"{{'seats': int}}), got {types!r}")
    # The properties column holds JSON text (a CSV cell is text): read as JSON unless
    # types= says how.
    kinds = {**({properties: "json"} if properties is not None else {}), **(types or {})}
    converters = {col: _converter(kind, col) for col, kind in kinds.items()}
    id_columns = {g.key for g in (fields.user_id, fields.account_id, fields.event_id) if g}
    sink = _reader_sink(strict, future_tolerance, now, lambda s: s)
    sink.table("events")
    with ExitStack() as stack:
        stack.enter_context(_cells_of_any_size())
        # Undecodable bytes stay in the text as escapes, so the one row holding them is
        # rejected instead of the whole file failing at the decoder.
        # A UTF-8 file may start with a byte order mark (Excel's "CSV UTF-8" writes one):
        # read as part of the first column's name, it would hide that column.
        utf8 = codecs.lookup(encoding).name == "utf-8"
        text = io.TextIOWrapper(open_binary(path, stack),
                                encoding="utf-8-sig" if utf8 else encoding, newline="",
                                errors="surrogateescape")
        stack.enter_context(text)
        lines = _Lines(text)
        reader = csv.reader(lines, delimiter=delimiter, strict=False)
        try:
            header = next(reader, None)
        except CORRUPT as exc:
            raise corrupt(path, 0, exc) from exc
        if header is None:
            return sink.finish(users=users, accounts=accounts, tz=tz, epoch_unit=epoch_unit)
        _check_header(header, fields, path, types)
        start = reader.line_num + 1
        lines.held.clear()
        for cells in _guarded(reader, sink, path):
            source, start = start, reader.line_num + 1
            raw, lines.held = lines.held, []
            if cells is None or not cells:
                continue
            try:
                "\x1f".join(cells).encode(encoding)
            except UnicodeEncodeError as exc:
                sink.count("events")
                sink.reject("events", source, "malformed_row",
                            f"the row is not valid {encoding} text ({exc.reason})",
                            delimiter.join(cells).encode(encoding, "replace"))
                continue
            if len(cells) != len(header):
                span = "" if reader.line_num == source else (
                    f"; it spans lines {source} to {reader.line_num} (an unclosed quote?)")
                sink.count("events")
                sink.reject("events", source, "malformed_row",
                            f"the row has {len(cells)} cells but the header has "
                            f"{len(header)}{span}", delimiter.join(cells))
                continue
            if any("\n" in c or "\r" in c for c in cells) and _unclosed(raw, delimiter):
                # The csv module reads an unclosed quote to the end of the file, into one
                # cell: the rows it swallowed would vanish without a word.
                sink.count("events")
                sink.reject("events", source, "malformed_row",
                            f"a quote opened on line {source} is never closed: the row "
                            f"swallows lines {source} to {reader.line_num}, the end of the "
                            "file", delimiter.join(cells))
                continue
            row: dict[str, Any] = {}
            bad = None
            for column, cell in zip(header, cells, strict=True):
                if cell == "":
                    continue
                convert = converters.get(column)
                if convert is None:
                    row[column] = cell
                    continue
                try:
                    row[column] = convert(cell)
                except (ValueError, RecursionError) as exc:
                    reason = "invalid_id" if column in id_columns else "invalid_properties"
                    bad = (reason, f"column {column!r}: {exc}")
                    break
            if bad is not None:
                sink.count("events")
                sink.reject("events", source, bad[0], bad[1], dict(zip(header, cells,
                                                                       strict=True)))
                continue
            _event(sink, source, row, fields, tz=tz, epoch_unit=epoch_unit,
                   fmt=timestamp_format)
    return sink.finish(users=users, accounts=accounts, tz=tz, epoch_unit=epoch_unit)


class _Lines:
    """The lines of a text stream, as the csv module reads them, keeping those of the
    row being read (``held``)."""

    def __init__(self, text: Any) -> None:
        self.text = text
        self.held: list[str] = []

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line: str = next(self.text)
        self.held.append(line)
        return line


_limit_lock = threading.Lock()
_limit_users = 0
_limit_before = 0


@contextmanager
def _cells_of_any_size() -> Iterator[None]:
    """Lift the csv module's cell size limit (128 KiB) while CSV files are read. At the
    limit the module stops inside the cell and reads on from there, so a long quoted
    cell spanning lines made rows of its lines and swallowed the rows after it. The limit
    is the module's (process-wide): it is put back when the last read ends."""
    global _limit_users, _limit_before
    with _limit_lock:
        if _limit_users == 0:
            _limit_before = csv.field_size_limit(_LARGEST_CELL)
        _limit_users += 1
    try:
        yield
    finally:
        with _limit_lock:
            _limit_users -= 1
            if _limit_users == 0:
                csv.field_size_limit(_limit_before)


#: The largest cell size the csv module takes (a C long on every platform).
_LARGEST_CELL: Final = 2**31 - 1


def _unclosed(raw: list[str], delimiter: str) -> bool:
    """Whether the text of one row ends inside a quoted cell (the csv module, lenient,
    takes the rest of the file as that cell; strict, it says so)."""
    try:
        for _ in csv.reader(raw, delimiter=delimiter, strict=True):
            pass
    except csv.Error as exc:
        return "unexpected end of data" in str(exc)
    return False


def _guarded(reader: Any, sink: Sink, path: Any) -> Iterable[list[str] | None]:
    """The reader's rows; a row the csv module cannot parse (or undecodable text) is
    rejected as malformed instead of ending the load."""
    while True:
        line = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except CORRUPT as exc:
            raise corrupt(path, line - 1, exc) from exc
        except (csv.Error, UnicodeDecodeError) as exc:
            sink.count("events")
            sink.reject("events", line, "malformed_row", f"the row cannot be read: {exc}", None)
            yield None
            continue
        yield cells


def read_parquet(
    path: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    name: str = "name",
    timestamp: str = "timestamp",
    user_id: str | None = "user_id",
    account_id: str | None = _ACCOUNT,
    event_id: str | None = _EVENT_ID,
    properties: Sequence[str] | Mapping[str, str] | None = None,
    tz: str | tzinfo | None = None,
    epoch_unit: str | None = None,
    users: Any = None,
    accounts: Any = None,
    strict: bool = False,
    future_tolerance: str | timedelta | None = None,
    now: datetime | str | None = None,
) -> EventLog:
    """Load events from a Parquet file, a directory of them or a list of them (needs the
    ``arrow`` extra).

    The same column-mapping keywords as :func:`pqlkit.io.from_arrow`: ``account_id`` and
    ``event_id`` default to those columns when the file has them, and ``properties``
    (default: every other column) lists the columns to keep as properties, or maps
    property names to columns. Rejections name the 0-based row of the file
    (``"<file>:<row>"`` for several files, read as :meth:`pqlkit.EventLog.from_parquet`
    reads them).

    The file goes to :meth:`pqlkit.EventLog.from_parquet`, which reads only the mapped
    columns, a batch at a time. A single file whose timestamp column is stored without a
    zone (which needs ``tz=``) has its mapped columns read whole first.

    Example:
        >>> import pathlib, tempfile
        >>> import pyarrow as pa, pyarrow.parquet as pq
        >>> import pqlkit.io
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "events.parquet"
        >>> pq.write_table(pa.table({
        ...     "event": ["signup", "invite"], "user": ["u1", "u1"],
        ...     "at": pa.array([1777626000, 1777629600], pa.int64()).cast(
        ...         pa.timestamp("s", tz="UTC")),
        ... }), path)
        >>> log = pqlkit.io.read_parquet(path, name="event", user_id="user", timestamp="at")
        >>> [e.name for e in log.events()]
        ['signup', 'invite']
    """
    from pqlkit.io.frames import read_parquet as _read_parquet

    return _read_parquet(path, name=name, timestamp=timestamp, user_id=user_id,
                         account_id=account_id, event_id=event_id, properties=properties,
                         tz=tz, epoch_unit=epoch_unit, users=users, accounts=accounts,
                         strict=strict, future_tolerance=future_tolerance, now=now)
