"""The EventLog: the one internal form of event data that every engine reads.

Readers turn records, dicts, numpy columns, Arrow tables and Parquet files into an EventLog;
engines only read it. Every loader fills the same compact columns: events de-duplicated and
sorted into a canonical order that depends on their content only, so the same events in any
input order, chunking or format give the same columns, bit for bit. Entity tables are
sorted by id; properties and event ids are dictionary-encoded.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta, tzinfo
from types import MappingProxyType
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from pqlkit import _columns as col
from pqlkit._columns import canonical, id_key
from pqlkit._time import check_options, from_micros, to_micros
from pqlkit.errors import PqlkitError, PqlkitTypeError, ValidationError
from pqlkit.records import (
    Account,
    EntityId,
    Event,
    FieldError,
    User,
    check_not_future,
    check_timestamp,
    future_limit,
    is_nat,
)
from pqlkit.report import LoadReport

__all__ = ["NO_TIME", "EventLog", "PropColumn", "canonical", "id_key"]

#: Sentinel in int64 time columns for "no timestamp" (a user without ``created_at``).
NO_TIME: Final = np.iinfo(np.int64).min
_EVENT_FIELDS: Final = frozenset({"name", "timestamp", "user_id", "account_id", "properties",
                                  "event_id"})
_USER_FIELDS: Final = frozenset({"user_id", "account_id", "traits", "created_at"})
_ACCOUNT_FIELDS: Final = frozenset({"account_id", "traits", "created_at"})
_EMPTY: Final[Mapping[str, Any]] = MappingProxyType({})

Array = npt.NDArray[Any]
Int64Array = npt.NDArray[np.int64]
Int32Array = npt.NDArray[np.int32]
BoolArray = npt.NDArray[np.bool_]
#: Distinct entity ids: Python values, or an Arrow / numpy array of them.
IdList = list[EntityId] | col.IdValues


class PropColumn:
    """One dictionary-encoded event column: a code per event into its distinct values.

    ``codes`` is an int32 array with one entry per event, ``-1`` where the event lacks the
    value. ``values`` holds the distinct present values in a canonical order: a typed array
    (int64, float64, bool or str) when they are all of one kind, else an object array of
    the Python values (tuples and mappings included). ``True``, ``1`` and ``1.0`` are
    distinct values. Engines can evaluate a predicate once per distinct value and gather
    the result with ``codes``.

    >>> log = EventLog.from_records([
    ...     {"name": "a", "timestamp": "2026-05-01T09:00:00Z", "user_id": "u", "properties": {"n": 2}},
    ...     {"name": "b", "timestamp": "2026-05-02T09:00:00Z", "user_id": "u"},
    ... ])
    >>> col = log.props["n"]
    >>> col.codes.tolist(), col.values.tolist(), col[0], col[1], len(col)
    ([0, -1], [2], 2, None, 2)
    """

    __slots__ = ("codes", "values")

    def __init__(self, codes: Int32Array, values: Array) -> None:
        self.codes = codes
        self.values = values

    def __len__(self) -> int:
        return int(self.codes.shape[0])

    def __getitem__(self, i: int) -> Any:
        code = int(self.codes[i])
        if code < 0:
            return None
        return _python(self.values, code)

    def python_values(self) -> list[Any]:
        """The distinct values as Python objects (str, int, float, bool, tuple, mapping)."""
        if self.values.dtype.kind == "S":
            return [bytes(v).decode("utf-8") for v in self.values]
        out: list[Any] = self.values.tolist()
        return out

    def tolist(self) -> list[Any]:
        """One Python value per event (None where absent)."""
        values = [*self.python_values(), None]
        return [values[c] for c in self.codes.tolist()]

    def __repr__(self) -> str:
        return (f"PropColumn({len(self)} events, {len(self.values)} distinct values, "
                f"dtype={self.values.dtype})")


class _TraitRow(Mapping[str, Any]):
    """One entity's traits as read from trait columns: a read-only mapping over a row.

    Sharing the column positions between rows makes a users table of a million rows cost
    a tuple per row, not a dict. A missing value (None) is an absent trait.
    """

    __slots__ = ("_positions", "_values")

    def __init__(self, positions: Mapping[str, int], values: tuple[Any, ...]) -> None:
        self._positions = positions
        self._values = values

    def __getitem__(self, key: str) -> Any:
        value = self._values[self._positions[key]]
        if value is None:
            raise KeyError(key)
        return value

    def get(self, key: str, default: Any = None) -> Any:
        i = self._positions.get(key)
        value = None if i is None else self._values[i]
        return default if value is None else value

    def __contains__(self, key: object) -> bool:
        i = self._positions.get(key)  # type: ignore[call-overload]
        return i is not None and self._values[i] is not None

    def __iter__(self) -> Iterator[str]:
        values = self._values
        return (k for k, i in self._positions.items() if values[i] is not None)

    def __len__(self) -> int:
        return sum(v is not None for v in self._values)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({dict(self)!r})"


def _python(values: Array, code: int) -> Any:
    v = values[code]
    kind = values.dtype.kind
    if kind == "O":
        return v
    if kind == "S":
        return bytes(v).decode("utf-8")
    return v.item()


def _reject(report: LoadReport, strict: bool, table: str, source: int | str, reason: str,
            message: str, row: object = None) -> None:
    """Account for a rejected row; with ``strict=True``, raise it instead of going on."""
    r = report.reject(table, source, reason, message, row)
    if strict:
        raise r.error()


def _reject_error(report: LoadReport, strict: bool, table: str, source: int | str,
                  exc: Exception, row: object) -> None:
    """:func:`_reject` for the error a record check raised (its reason code, if any)."""
    _reject(report, strict, table, source, getattr(exc, "reason", "invalid_record"), str(exc),
            row)


def _unknown_fields(row: Mapping[str, Any], allowed: frozenset[str], what: str) -> None:
    extra = sorted(str(k) for k in row if k not in allowed)
    if extra:
        raise FieldError(
            f"unknown field(s) {', '.join(map(repr, extra))} in {what} row; allowed fields are "
            f"{', '.join(sorted(allowed))} (put extra event data in 'properties')",
            reason="unknown_field", field=extra[0],
        )


def _event_row(row: Any, tz: str | tzinfo | None, epoch_unit: str | None) -> Event:
    if isinstance(row, Event):
        return row
    if not isinstance(row, Mapping):
        raise FieldError(
            f"expected an Event or a mapping, got {type(row).__name__}",
            reason="not_a_mapping", field="",
        )
    _unknown_fields(row, _EVENT_FIELDS, "event")
    fields = dict(row)
    if "timestamp" in fields and (tz is not None or epoch_unit is not None):
        fields["timestamp"] = check_timestamp(fields["timestamp"], tz=tz, epoch_unit=epoch_unit)
    if "name" not in fields:
        raise FieldError("name is missing", reason="missing_name", field="name")
    if "timestamp" not in fields:
        raise FieldError("timestamp is missing", reason="missing_timestamp", field="timestamp")
    return Event(**fields)


def _entity_row(row: Any, kind: type[User] | type[Account], allowed: frozenset[str],
                tz: str | tzinfo | None, epoch_unit: str | None = None) -> User | Account:
    if isinstance(row, kind):
        return row
    if not isinstance(row, Mapping):
        raise FieldError(
            f"expected {'an' if kind is Account else 'a'} {kind.__name__} or a mapping, got {type(row).__name__}",
            reason="not_a_mapping", field="",
        )
    _unknown_fields(row, allowed, kind.__name__.lower())
    fields = dict(row)
    # A row without its id is missing_identity, not an attrs "missing argument" TypeError.
    fields.setdefault(f"{kind.__name__.lower()}_id", None)
    created = fields.get("created_at")
    if created is not None and not is_nat(created) and (tz is not None
                                                         or epoch_unit is not None):
        fields["created_at"] = check_timestamp(created, "created_at", tz=tz,
                                               epoch_unit=epoch_unit)
    return kind(**fields)


def _internal(what: str) -> PqlkitError:
    return PqlkitError(
        f"internal error: {what}; please report it with the data that caused it"
    )


class _Events:
    """Valid event rows of a load, before de-duplication and ordering.

    Name, user and account codes point into first-seen value lists; property codes are
    already canonical (sorted values).
    """

    __slots__ = ("account", "account_lut", "account_vals", "eids", "files", "merged", "name",
                 "names", "prefix", "prefixes", "props", "src", "ts", "used", "user", "user_lut",
                 "user_vals")

    def __init__(self) -> None:
        self.ts: Int64Array = np.zeros(0, dtype=np.int64)
        self.name: npt.NDArray[np.signedinteger[Any]] = np.zeros(0, dtype=np.int8)
        self.names: list[str] = []
        self.user: Int32Array = np.zeros(0, dtype=np.int32)
        self.user_vals: IdList = []
        self.account: Int32Array = np.zeros(0, dtype=np.int32)
        self.account_vals: IdList = []
        # Where the user/account codes are pending codes (see _columns._CodeEncoder.finish):
        # the array mapping them to indices into user_vals / account_vals.
        self.user_lut: Int32Array | None = None
        self.account_lut: Int32Array | None = None
        self.props: dict[str, tuple[Int32Array, Array | list[Any]]] = {}
        self.eids: col.Eids | None = None
        self.src: Int64Array | None = None  # input positions; None when 0..n-1
        self.prefix: Int32Array | None = None  # codes into prefixes ("2:" for EventLog.concat)
        self.prefixes: list[str] = []
        # Rows read from several files: the source of input row r is files(r), "<file>:<row>".
        self.files: col.Files | None = None
        # Per id field, the values the tables' ids were merged into already, and where
        # each source's ids are in them (as _merge_ids gives them).
        self.merged: dict[str, tuple[IdList, list[Int64Array]]] = {}
        # Per field ("name", "user_id", "account_id"), which values a kept row uses, when
        # the load knows it without a pass over the rows (then every name is used).
        self.used: dict[str, BoolArray] = {}


Chunks = Iterable[tuple[int, int, dict[str, Any]]]


def _load_events(n: int, chunks: Chunks, *, fields: set[str], prop_keys: Sequence[str],
                 tz: str | tzinfo | None, epoch_unit: str | None, strict: bool,
                 report: LoadReport, count_input: bool = True,
                 files: col.Files | None = None, limit: int | None = None) -> _Events:
    """Encode chunks of event columns; reject (and report) the rows that fail the checks.
    ``files``: where the rows come from, when several files (it names their sources).
    ``limit``: the latest instant kept (``future_tolerance=``), in µs; later rows are
    rejected as ``future_timestamp``."""
    if count_input:
        report.add_input("events", n)
    ts = np.zeros(n, dtype=np.int64)
    # Few names fit int8 (a quarter of int32 at 10M events); widened if more appear.
    name: npt.NDArray[np.signedinteger[Any]] = np.zeros(n, dtype=np.int8)
    user = np.full(n, -1, dtype=np.int32)
    account = np.full(n, -1, dtype=np.int32)
    valid = np.ones(n, dtype=np.bool_)
    times = col.TimeEncoder("timestamp", tz=tz, epoch_unit=epoch_unit)
    names = col.NameEncoder()
    users = col.IdEncoder("user_id")
    accounts = col.IdEncoder("account_id")
    eids = col.EidEncoder(n) if "event_id" in fields else None
    props = {key: col.PropEncoder(key, n) for key in prop_keys}
    for lo, hi, cols in chunks:
        ts[lo:hi], bad = times.feed(col.to_piece(cols["timestamp"]))
        if limit is not None:
            bad |= ts[lo:hi] > limit
        name_codes, b = names.feed(col.to_piece(cols["name"]))
        if len(names.values) > np.iinfo(name.dtype).max:
            name = name.astype(_narrow(-1, len(names.values)))
        name[lo:hi] = name_codes
        if b is not None:
            bad |= b
        for field, ids, id_enc in (("user_id", user, users),
                                   ("account_id", account, accounts)):
            if field in cols:
                ids[lo:hi], b = id_enc.feed(col.to_piece(cols[field]))
                if b is not None:
                    bad |= b
        if eids is not None:
            raw = cols.get("event_id")
            got = eids.feed(lo, hi, None if raw is None else col.to_piece(raw))
            if got is not None:
                bad |= got
        chunk_props = cols.get("properties", {})
        for key, enc in props.items():
            raw = chunk_props.get(key)
            got = enc.feed(lo, hi, None if raw is None else col.to_piece(raw))
            if got is not None:
                bad |= got
        # -1 is missing; codes below it are pending ones (see _CodeEncoder.finish).
        bad |= (user[lo:hi] == -1) & (account[lo:hi] == -1)
        if bad.any():
            valid[lo:hi] = ~bad
            for i in np.flatnonzero(bad).tolist():
                _reject_event(cols, i, lo + i if files is None else files(lo + i), tz,
                              epoch_unit, report, strict, limit)
    keep = None if valid.all() else valid
    ev = _Events()
    ev.files = files
    if keep is None:
        ev.ts, ev.name, ev.user, ev.account = ts, name, user, account
    else:
        ev.ts, ev.name, ev.user, ev.account = ts[keep], name[keep], user[keep], account[keep]
        ev.src = np.flatnonzero(keep).astype(np.int64)
    del ts, name, user, account
    ev.user_lut, ev.account_lut = users.finish(), accounts.finish()
    ev.names, ev.user_vals, ev.account_vals = names.values, users.distinct(), accounts.distinct()
    ev.eids = None if eids is None else eids.finish(keep)
    for key, prop in props.items():
        encoded = prop.finish(keep)
        if encoded is not None:
            ev.props[key] = encoded
    return ev


def _raw_row(cols: Mapping[str, Any], i: int) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for field in ("name", "timestamp", "user_id", "account_id", "event_id"):
        if field in cols:
            row[field] = col.raw_value(cols[field], i)
    props = {}
    for key, raw in cols.get("properties", {}).items():
        value = col.raw_value(raw, i)
        if value is not None:
            props[key] = value
    row["properties"] = props
    return row


def _reject_event(cols: Mapping[str, Any], i: int, source: int | str, tz: str | tzinfo | None,
                  epoch_unit: str | None, report: LoadReport, strict: bool,
                  limit: int | None = None) -> None:
    # The vectorised checks found the row bad; the record path says why, word for word.
    row = _raw_row(cols, i)
    try:
        check_not_future(to_micros(_event_row(row, tz, epoch_unit).timestamp), limit)
    except (FieldError, ValidationError, TypeError) as exc:
        _reject_error(report, strict, "events", source, exc, row)
        return
    raise _internal(f"events[{source}] failed a column check but passes as a record: {row!r}")


def _naive_frame_times(value: Any, tz: str | tzinfo | None, where: str) -> Any:
    """A timestamp column as given, except zone-less timestamps of Arrow, pandas or polars
    (typed as wall-clock times): read in ``tz``, an error without it (DESIGN §3.1), as
    :meth:`EventLog.from_arrow` reads them. (A numpy ``datetime64`` array is UTC.)"""
    module = type(value).__module__
    if module.startswith("pandas") and str(getattr(value, "dtype", "")).startswith(
            "datetime64[") and "," not in str(value.dtype):
        from pqlkit._arrow import _pa

        value = _pa()[0].array(value)
    elif module.startswith("polars") and str(getattr(value, "dtype", "")).startswith(
            "Datetime(") and "time_zone=None" in str(value.dtype):
        value = value.to_arrow()
    if col.is_arrow(value) and hasattr(value, "type"):
        from pqlkit._arrow import zoned

        return zoned(value, "timestamp", tz, where)
    return value


def _column_input(value: Any, label: str) -> Any:
    """A column argument as a numpy array, a masked array or an Arrow array (or codes
    into values, as pqlkit's own readers hand a sparse property over)."""
    if isinstance(value, col.Coded):
        return value
    if isinstance(value, (set, frozenset)):
        raise PqlkitTypeError(
            f"{label} is a set, whose order is arbitrary: rows would pair up by chance; "
            "give a list or an array")
    if isinstance(value, np.ndarray):
        if value.ndim != 1:
            raise ValidationError(
                f"{label} must be a 1-D column, got an array of shape {value.shape}"
            )
        return value
    if col.is_arrow(value):
        if not hasattr(value, "type"):
            raise PqlkitTypeError(
                f"{label} must be a column (a pyarrow Array or ChunkedArray), got "
                f"{type(value).__name__}"
            )
        return value
    if value is None or isinstance(value, (str, bytes, Mapping)) or not hasattr(value, "__len__"):
        raise PqlkitTypeError(
            f"{label} must be a column (a numpy array, a pyarrow array or a sequence), got "
            f"{type(value).__name__}"
        )
    if hasattr(value, "__array__") and not isinstance(value, (list, tuple)):
        return _column_input(np.asarray(value), label)
    return col.object_array(list(value))


def _columns_length(columns: Mapping[str, Any], where: str) -> int:
    lengths = {label: len(c) for label, c in columns.items()}
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"{label} has {k}" for label, k in lengths.items())
        raise ValidationError(
            f"{where}: every column must have the same number of rows; {listed}"
        )
    return next(iter(lengths.values()), 0)


def _slices(columns: Mapping[str, Any], props: Mapping[str, Any], n: int) -> Chunks:
    for lo in range(0, n, col.CHUNK):
        hi = min(lo + col.CHUNK, n)
        chunk = {f: col.slice_raw(c, lo, hi) for f, c in columns.items()}
        chunk["properties"] = {k: col.slice_raw(c, lo, hi) for k, c in props.items()}
        yield lo, hi, chunk


class _Entities:
    """The valid rows of a users or accounts table, as columns.

    ``ids`` codes into ``id_vals`` (distinct ids), ``accounts`` into ``account_vals`` (-1:
    none; users only), ``created`` is µs or NO_TIME. Traits are either one mapping per row
    (``row_traits``, from records) or trait columns: codes into lists of distinct values
    (in no particular order: :class:`_TraitTable` sorts them when a column is asked for).
    """

    def __init__(self, id_vals: IdList, ids: Int32Array, account_vals: IdList,
                 accounts: Int32Array, created: Int64Array, sources: list[int | str] | None
                 ) -> None:
        self.id_vals = id_vals
        self.ids = ids
        self.account_vals = account_vals
        self.accounts = accounts
        self.created = created
        self.sources = sources  # None: the row positions themselves
        self.files: col.Files | None = None  # rows read from several files: their names
        self.row_traits: list[Mapping[str, Any]] | None = None
        self.trait_keys: list[str] = []
        self.trait_codes: list[Int32Array | _RawTrait] = []
        self.trait_values: list[list[Any]] = []

    @classmethod
    def empty(cls) -> _Entities:
        none = np.zeros(0, dtype=np.int32)
        out = cls([], none, [], none, np.zeros(0, dtype=np.int64), None)
        out.row_traits = []
        return out

    @classmethod
    def from_rows(cls, rows: Sequence[tuple[EntityId, EntityId | None, int,
                                            Mapping[str, Any], int | str]]) -> _Entities:
        """From (id, account id, created µs, traits, source) tuples (records, concat)."""
        ids = col.factorize_objects([r[0] for r in rows])
        accounts = col.factorize_objects([r[1] for r in rows])
        out = cls(ids.values, ids.codes.astype(np.int32), accounts.values,
                  accounts.codes.astype(np.int32),
                  np.array([r[2] for r in rows], dtype=np.int64), [r[4] for r in rows])
        out.row_traits = [r[3] for r in rows]
        return out

    def __len__(self) -> int:
        return len(self.ids)

    def source(self, r: int) -> int | str:
        return _row_source(self.sources, self.files, r)

    def sources_of(self, kept: Int64Array, at: Int64Array, n: int) -> _RowSources:
        """Where the ``kept`` rows, which became entities ``at`` of ``n``, came from."""
        row_of = np.full(n, -1, dtype=np.int64)
        row_of[at] = kept
        return _RowSources(self.sources, self.files, row_of)

    def traits(self, r: int) -> Mapping[str, Any]:
        if self.row_traits is not None:
            return self.row_traits[r]
        values = tuple(c.value(r) if isinstance(c, _RawTrait) else
                       v[c[r]] if c[r] >= 0 else None
                       for c, v in zip(self.trait_codes, self.trait_values, strict=True))
        return _TraitRow(MappingProxyType({k: i for i, k in enumerate(self.trait_keys)}), values)

    def account_of(self, r: int) -> EntityId | None:
        code = int(self.accounts[r])
        return None if code < 0 else self.account_vals[code]

    def key(self, r: int) -> tuple[Any, ...]:
        """The order that picks the row kept among rows sharing an id."""
        return (int(self.created[r]), canonical(self.traits(r)), id_key(self.account_of(r)))

    def same(self, a: int, b: int) -> bool:
        """Whether two rows are duplicates: the same account, created_at and traits (told
        apart as :meth:`_same_traits` does, as the events' duplicate check does)."""
        return (self.account_of(a) == self.account_of(b)
                and int(self.created[a]) == int(self.created[b]) and self._same_traits(a, b))

    def _same_traits(self, a: int, b: int) -> bool:
        """Whether two rows' traits are the same values (``value_key``: ``1``, ``True``
        and ``1.0`` differ, as do ``0.0`` and ``-0.0``), so that :meth:`key` would not
        tell them apart either."""
        ta, tb = dict(self.traits(a)), dict(self.traits(b))
        if ta.keys() != tb.keys():
            return False
        if all(isinstance(v, _SCALAR_TYPES) for v in ta.values()):
            return all(col.value_key(v) == col.value_key(tb[k]) for k, v in ta.items())
        return canonical(ta) == canonical(tb)  # dates, lists, mappings: by their text

    def dedup(self, table: str, id_field: str, report: LoadReport, strict: bool) -> Int64Array:
        """The row kept for each distinct id (indexed by id code; -1 for ids without a
        valid row): identical rows are duplicates; of differing ones the earliest by
        (created_at, traits, account) is kept and the others are rejected."""
        n_ids = len(self.id_vals)
        counts = np.bincount(self.ids, minlength=n_ids)
        kept = np.full(n_ids, -1, dtype=np.int64)
        present, first = np.unique(self.ids, return_index=True)
        kept[present] = first
        if len(present):  # an absent table stays absent from the report
            report.add_kept(table, len(present))
        repeated = np.flatnonzero(counts > 1)
        if not len(repeated):
            return kept
        order = np.argsort(self.ids, kind="stable")
        starts = np.zeros(n_ids + 1, dtype=np.int64)
        np.cumsum(counts, out=starts[1:])
        # Rows the same as their id's first row in account and created_at (compared for
        # every row at once): when the traits match too, the whole group is duplicates of
        # the first row (the usual case: chunks of one export, each with the users table).
        firsts = np.repeat(first, counts[present])
        unlike = ((self.accounts[order] != self.accounts[firsts])
                  | (self.created[order] != self.created[firsts]))
        # Trait columns: equal codes are equal traits (a row's traits are read from them).
        by_columns = self.row_traits is None
        for c in self.trait_codes if by_columns else ():
            codes = c.row_codes() if isinstance(c, _RawTrait) else c
            unlike |= codes[order] != codes[firsts]
        alike = np.bincount(self.ids[order[unlike]], minlength=n_ids) == 0
        same_rows = 0
        # In the order of each repeated id's first row, as the rows arrived.
        for code in sorted(repeated.tolist(), key=lambda c: int(kept[c])):
            rows = order[starts[code]:starts[code + 1]].tolist()
            if alike[code] and (by_columns or all(self._same_traits(r, rows[0])
                                                  for r in rows[1:])):
                same_rows += len(rows) - 1
                continue
            group = sorted(rows, key=self.key)
            head = group[0]
            kept[code] = head
            for r in group[1:]:
                if self.same(r, head):
                    report.add_duplicates(table)
                    continue
                created = int(self.created[r])
                sample: dict[str, Any] = {
                    id_field: self.id_vals[code],
                    "created_at": None if created == NO_TIME else from_micros(created).isoformat(),
                    "traits": dict(self.traits(r))}
                if table == "users":
                    sample["account_id"] = self.account_of(r)
                _reject(report, strict, table, self.source(r), "conflicting_duplicate",
                        f"{id_field} {self.id_vals[code]!r} appears more than once with "
                        f"different fields; kept the one from {table}[{self.source(head)}]",
                        sample)
        if same_rows:
            report.add_duplicates(table, same_rows)
        return kept


def _row_source(sources: list[int | str] | None, files: col.Files | None, r: int
                ) -> int | str:
    """The ``source`` of table row ``r`` (its position, or ``sources[r]``; in a file)."""
    row = r if sources is None else sources[r]
    return files(row) if files is not None and isinstance(row, int) else row


class _RowSources:
    """The input row (its ``source``) each entity of a log's users or accounts table came
    from, so that :meth:`EventLog.concat` names it as one load would."""

    __slots__ = ("_files", "_row_of", "_sources")

    def __init__(self, sources: list[int | str] | None, files: col.Files | None,
                 row_of: Int64Array) -> None:
        self._sources, self._files, self._row_of = sources, files, row_of

    def __call__(self, entity: int) -> int | str:
        return _row_source(self._sources, self._files, int(self._row_of[entity]))


def _concat_entities(logs: Sequence[EventLog], kind: type[User] | type[Account],
                     strict: bool) -> _Entities:
    """The users (or accounts) tables of several logs as one table of columns, for
    :meth:`EventLog.concat`: trait columns loaded from Arrow stay Arrow text, the others
    are gathered per row without building a mapping per entity. A row of log ``i``'s
    table has the source ``"i:<its source in that log's load>"``."""
    user = kind is User
    id_field = "user_id" if user else "account_id"

    def source_of(log: EventLog) -> _RowSources:
        return log._user_sources if user else log._account_sources

    ids: list[Any] = []
    accounts: list[Any] = []
    created: list[Int64Array] = []
    sources: list[int | str] = []
    keys: dict[str, None] = {}
    parts: list[tuple[Int64Array, _TraitTable]] = []
    for i, log in enumerate(logs):
        rows = np.flatnonzero(log.user_in_table if user else log.account_in_table)
        id_values = log.user_ids if user else log.account_ids
        ids.extend(map(id_values.__getitem__, rows.tolist()))
        if user:
            names = [*log.account_ids, None]
            accounts.extend(map(names.__getitem__, log.user_account[rows].tolist()))
        created.append((log.user_created if user else log.account_created)[rows])
        sources.extend(f"{i}:{source_of(log)(e)}" for e in rows.tolist())
        table = log._user_traits if user else log._account_traits
        keys.update(dict.fromkeys(table.keys()))
        parts.append((rows, table))
    traits = {key: [table.values_of(key, rows) for rows, table in parts] for key in keys}
    if not all(_scalars(p) for cells in traits.values() for p in cells):
        # Lists or mappings as traits: kept as they are, as when the logs were loaded.
        return _Entities.from_rows([(*row[:4], f"{i}:{source_of(log)(row[4])}")
                                    for i, log in enumerate(logs)
                                    for row in log._entity_rows(kind.__name__.lower())])
    us = np.concatenate(created) if created else np.zeros(0, dtype=np.int64)
    columns: dict[str, Any] = {
        id_field: col.object_array(ids),
        # (NO_TIME, no created_at, is numpy's NaT: a missing time.)
        "created_at": us.view("datetime64[us]"),
        "traits": {key: _concat_trait(cells) for key, cells in traits.items()},
    }
    if user:
        columns["account_id"] = col.object_array(accounts)
    # Every row passed its checks when its log was loaded, and the concat's report already
    # holds the tables' input rows: this report only proves that nothing is rejected now.
    scratch = LoadReport()
    table_name = "users" if user else "accounts"
    out = _entity_columns(columns, kind, table_name, scratch, strict, None)
    if scratch.rejections or len(out) != len(ids):
        raise _internal(f"a log's own {table_name} failed the checks in EventLog.concat")
    out.sources = sources
    return out


_SCALAR_TYPES: Final = (str, int, float, bool, type(None))


def _scalars(cells: Any) -> bool:
    """Whether trait cells (an Arrow text column, or an object array) are all scalars."""
    return not isinstance(cells, np.ndarray) or all(
        isinstance(v, _SCALAR_TYPES) for v in cells.tolist())


def _concat_trait(parts: list[Any]) -> Any:
    """One trait's cells from several logs as one column: Arrow text when every part that
    has the trait is, else an object array."""
    text = [p for p in parts if not isinstance(p, np.ndarray)]
    if text and all(not isinstance(p, np.ndarray) or all(v is None for v in p.tolist())
                    for p in parts):
        from pqlkit._arrow import concat_text, text_nulls

        return concat_text([text_nulls(len(p)) if isinstance(p, np.ndarray) else p
                            for p in parts])
    return np.concatenate([col.object_array(p.to_pylist()) if not isinstance(p, np.ndarray)
                           else p for p in parts] or [np.zeros(0, dtype=object)])


def _entities_from_records(records: list[tuple[Any, int | str]]) -> _Entities:
    rows = []
    for rec, src in records:
        created = NO_TIME if rec.created_at is None else to_micros(rec.created_at)
        user = isinstance(rec, User)
        traits = rec.traits
        if any(v is None for v in traits.values()):
            # A None trait is an absent one, as a null cell of a trait column is and as a
            # None property is: loaders agree, and email_domain derives from email.
            traits = MappingProxyType({k: v for k, v in traits.items() if v is not None})
        rows.append((rec.user_id if user else rec.account_id, rec.account_id if user else None,
                     created, traits, src))
    return _Entities.from_rows(rows)


def _paths(data: Any) -> bool:
    """Whether users= / accounts= name Parquet files: a path, or a list of paths."""
    return isinstance(data, (str, os.PathLike)) or (
        isinstance(data, (list, tuple)) and bool(data)
        and all(isinstance(d, (str, os.PathLike)) for d in data))


def _entity_columns(data: Mapping[str, Any], kind: type[User] | type[Account], table: str,
                    report: LoadReport, strict: bool, tz: str | tzinfo | None,
                    files: col.Files | None = None, epoch_unit: str | None = None
                    ) -> _Entities:
    """Users or accounts given as columns: vectorised checks, records only for rejections.
    ``files``: the files the rows were read from, when several (it names their sources)."""
    id_field = f"{kind.__name__.lower()}_id"
    where = f"{table}="
    rest = dict(data)
    if id_field not in rest:
        raise ValidationError(
            f"{where}: the columns must include {id_field!r}; got "
            f"{', '.join(map(repr, rest)) or 'none'}"
        )
    columns: dict[str, Any] = {id_field: _column_input(rest.pop(id_field), f"{table}[{id_field!r}]")}
    if kind is User and "account_id" in rest:
        columns["account_id"] = _column_input(rest.pop("account_id"), f"{table}['account_id']")
    if "created_at" in rest:
        created = rest.pop("created_at")
        if col.is_arrow(created):
            from pqlkit._arrow import zoned

            # A zone-less Arrow timestamp column is never read as UTC (DESIGN §3.1).
            created = zoned(created, "created_at", tz, where)
        columns["created_at"] = _column_input(created, f"{table}['created_at']")
    nested = rest.pop("traits", None)
    trait_cols: dict[str, Any] = {}
    if nested is not None:
        if not isinstance(nested, Mapping):
            raise PqlkitTypeError(
                f"{where}: 'traits' must be a mapping of trait name to column, got "
                f"{type(nested).__name__}"
            )
        trait_cols.update(nested)
    # Every other column is a trait (the flat layout of a dataframe or an Arrow table).
    trait_cols.update(rest)
    for key in trait_cols:
        if not isinstance(key, str) or not key:
            raise PqlkitTypeError(f"{where}: trait names must be non-empty strings, got {key!r}")
    traits_in = {k: _column_input(v, f"{table} trait {k!r}") for k, v in trait_cols.items()}
    n = _columns_length({**columns, **{f"traits[{k!r}]": v for k, v in traits_in.items()}},
                        where)
    report.add_input(table, n)
    ids = col.IdEncoder(id_field, required=True)
    accounts = col.IdEncoder("account_id")
    created = col.TimeEncoder("created_at", tz=tz, epoch_unit=epoch_unit, optional=True)
    # Arrow text columns hold only strings and nulls, which no check can reject: they are
    # kept as they came and coded only when a trait column or mapping is asked for.
    raw_text = {k for k, v in traits_in.items() if n and col.is_arrow(v) and _is_text(v)}
    traits = {k: col.PropEncoder(k, n, field="traits") for k in traits_in if k not in raw_text}
    id_codes = np.zeros(n, dtype=np.int32)
    acc_codes = np.full(n, -1, dtype=np.int32)
    created_us = np.full(n, NO_TIME, dtype=np.int64)
    valid = np.ones(n, dtype=np.bool_)
    allowed = _USER_FIELDS if kind is User else _ACCOUNT_FIELDS
    for lo, hi, chunk in _slices(columns, traits_in, n):
        id_codes[lo:hi], b = ids.feed(col.to_piece(chunk[id_field]))
        bad = np.zeros(hi - lo, dtype=np.bool_) if b is None else b
        if "account_id" in chunk:
            acc_codes[lo:hi], b = accounts.feed(col.to_piece(chunk["account_id"]))
            if b is not None:
                bad |= b
        if "created_at" in chunk:
            created_us[lo:hi], b = created.feed(col.to_piece(chunk["created_at"]))
            bad |= b
        for key, enc in traits.items():
            got = enc.feed(lo, hi, col.to_piece(chunk["properties"][key]))
            if got is not None:
                bad |= got
        for i in np.flatnonzero(bad).tolist():
            valid[lo + i] = False
            row: dict[str, Any] = {f: col.raw_value(chunk[f], i) for f in chunk
                                   if f != "properties"}
            row["traits"] = {k: v for k, c in chunk["properties"].items()
                             if (v := col.raw_value(c, i)) is not None}
            try:
                _entity_row(row, kind, allowed, tz, epoch_unit)
            except (FieldError, ValidationError, TypeError) as exc:
                _reject_error(report, strict, table,
                              lo + i if files is None else files(lo + i), exc, row)
                continue
            raise _internal(f"{table}[{lo + i}] failed a column check but passes as a record")
    rows = np.flatnonzero(valid)
    for id_enc, id_col in ((ids, id_codes), (accounts, acc_codes)):
        lut = id_enc.finish()
        if lut is not None:
            id_col[:] = lut[id_col]
    every = len(rows) == n
    sources: list[int | str] | None = None if every else list(rows.tolist())
    out = _Entities(ids.distinct(), id_codes if every else id_codes[rows], accounts.distinct(),
                    acc_codes if every else acc_codes[rows],
                    created_us if every else created_us[rows], sources)
    out.files = files
    for key in traits_in:
        if key in raw_text:
            raw = _RawTrait(traits_in[key])
            out.trait_keys.append(key)
            out.trait_codes.append(raw if every else raw.take(rows))
            out.trait_values.append([])
            continue
        # Put in canonical order only when a column of them is asked for (see _TraitTable).
        encoded = traits[key].finish(None if every else valid, ordered=False)
        if encoded is not None:
            codes, values = encoded
            out.trait_keys.append(key)
            out.trait_codes.append(codes)
            out.trait_values.append(values if isinstance(values, list) else values.tolist())
    return out


def _is_text(column: Any) -> bool:
    from pqlkit._arrow import is_text_column

    return is_text_column(column)


class _RawTrait:
    """A text trait column as it came from Arrow, coded when first read."""

    __slots__ = ("raw",)

    def __init__(self, raw: Any) -> None:
        self.raw = raw

    def value(self, r: int) -> Any:
        return col.raw_value(self.raw, r)

    def take(self, rows: Int64Array) -> _RawTrait:
        from pqlkit._arrow import arrow_take

        if len(rows) == len(self.raw) and bool((rows == np.arange(len(rows))).all()):
            return self
        return _RawTrait(arrow_take(self.raw, rows))

    def coded(self) -> tuple[Int32Array, list[Any]]:
        from pqlkit._arrow import text_codes

        return text_codes(self.raw)

    def row_codes(self) -> Int32Array:
        """Per row, a code equal for equal strings (-1 for null), without the strings."""
        from pqlkit._arrow import text_row_codes

        return text_row_codes(self.raw)

    def sorted_coded(self) -> tuple[Int32Array, Array] | None:
        """Codes into the distinct values in canonical order, as a 'U' array (None when
        they cannot be held in one)."""
        from pqlkit._arrow import sorted_text_codes

        return sorted_text_codes(self.raw)


def _entities(data: Any, kind: type[User] | type[Account], table: str, report: LoadReport,
              strict: bool, tz: str | tzinfo | None, *, columns_ok: bool,
              epoch_unit: str | None = None) -> _Entities:
    """Users or accounts as records, dicts, a mapping of columns, an Arrow table, or (with
    ``columns_ok``) Parquet files: a path, a directory or a list of paths."""
    if data is None:
        return _Entities.empty()
    if col.frame_kind(data) in ("pandas", "polars"):
        # A frame (iterating one gives its column names, not its rows).
        from pqlkit.io import frames

        data = frames._entities(data, f"{table}=", frames._USER_FIELDS if kind is User
                                else frames._ACCOUNT_FIELDS, as_rows=not columns_ok)
    files = None
    if columns_ok and _paths(data):
        from pqlkit._arrow import read_table

        data, files = read_table(data, f"{table}=")  # users= / accounts= files
    if columns_ok and col.is_arrow(data):
        from pqlkit._arrow import table_columns, to_table

        data = table_columns(to_table(data, f"{table}="), f"{table}=")
    if columns_ok and isinstance(data, Mapping):
        return _entity_columns(data, kind, table, report, strict, tz, files, epoch_unit)
    allowed = _USER_FIELDS if kind is User else _ACCOUNT_FIELDS
    return _entities_from_records(
        EventLog._load_entities(data, table, kind, allowed, report, strict, tz, epoch_unit))


def _tables(users: Any, accounts: Any, report: LoadReport, strict: bool,
            tz: str | tzinfo | None, epoch_unit: str | None, *, columns_ok: bool
            ) -> tuple[_Entities, _Entities]:
    """The users and the accounts tables of a load, read with its options."""
    return (_entities(users, User, "users", report, strict, tz, columns_ok=columns_ok,
                      epoch_unit=epoch_unit),
            _entities(accounts, Account, "accounts", report, strict, tz,
                      columns_ok=columns_ok, epoch_unit=epoch_unit))


def _property_columns(props: Sequence[Mapping[str, Any]], keys: list[str], n: int
                      ) -> dict[str, col.Coded]:
    """Each property key's column of codes over the events, from their mappings in one
    pass over the values they hold (a key each pass over every event cost events x keys
    Python steps: 19 s for 100k events with 1,000 keys, three per event)."""
    held: dict[str, tuple[list[int], list[Any]]] = {k: ([], []) for k in keys}
    for i, p in enumerate(props):
        for k, v in p.items():
            if v is not None:
                rows, values = held[k]
                rows.append(i)
                values.append(v)
    return {k: col.sparse_coded(*held.pop(k), n) for k in keys}


def _merge_ids(sources: list[IdList]) -> tuple[IdList, list[Int64Array]]:
    """The distinct ids of several sources in :func:`id_key` order (ints, then strings),
    and where each source's ids are among them.

    Ids that stayed Arrow text (or numpy integers) all along are merged and sorted there;
    Python objects are made only for the ids the log keeps (:func:`_used_ids`).
    """
    arrays = [s for s in sources if len(s)]
    kinds = {s.kind if isinstance(s, col.IdValues) else None for s in arrays}
    first = sources[0]
    if kinds == {"str"} and isinstance(first, col.IdValues) and first.sorted:
        # The events' ids, sorted already: the usual tables name no others.
        from pqlkit._arrow import lookup

        where = [np.arange(len(first), dtype=np.int64)]
        for s in sources[1:]:
            # (IdValues hold no blank id, so -1 never comes back: all found, or None.)
            got = (np.zeros(0, dtype=np.int32) if not len(s) else
                   lookup([s.array], first.array) if isinstance(s, col.IdValues) else None)
            if got is None:
                break
            where.append(got.astype(np.int64))
        else:
            return first, where
    if kinds == {"str"}:
        from pqlkit._arrow import sorted_distinct

        strings = [s.array for s in arrays if isinstance(s, col.IdValues)]
        rank, merged = sorted_distinct(strings)
        values: IdList = col.IdValues(merged, "str", sorted=True)
        bounds = np.cumsum([0, *map(len, strings)])
        at = [rank[lo:hi].astype(np.int64) for lo, hi in itertools.pairwise(bounds)]
    elif kinds == {"int"}:
        uniq, inverse = np.unique(
            np.concatenate([s.array for s in arrays if isinstance(s, col.IdValues)]),
            return_inverse=True)
        values = col.IdValues(uniq, "int")
        bounds = np.cumsum([0, *map(len, arrays)])
        at = [inverse.reshape(-1)[lo:hi].astype(np.int64)
              for lo, hi in itertools.pairwise(bounds)]
    else:
        lists = [s.tolist() if isinstance(s, col.IdValues) else s for s in sources]
        distinct = {v for s in lists for v in s}
        types = {type(v) for v in distinct}
        ordered = sorted(distinct) if len(types) <= 1 else sorted(distinct, key=id_key)
        index = dict(zip(ordered, range(len(ordered)), strict=True))
        return ordered, [np.fromiter(map(index.__getitem__, s), dtype=np.int64, count=len(s))
                         for s in lists]
    found = iter(at)
    return values, [next(found) if len(s) else np.zeros(0, dtype=np.int64) for s in sources]


def _remap(codes: Int32Array, lut: Int32Array) -> Int32Array:
    """``lut[codes]`` written back into ``codes``, a chunk at a time (no full-size copy);
    nothing to do for codes from -1 up when ``lut`` maps each to itself (the last slot is
    code -1's), as for codes that a load made final already."""
    k = len(lut) - 1
    if (k >= 0 and lut[k] == -1 and np.array_equal(lut[:k], np.arange(k))
            and (not len(codes) or int(codes.min()) >= -1)):
        return codes
    for lo in range(0, len(codes), col.CHUNK):
        part = codes[lo:lo + col.CHUNK]
        part[...] = lut[part]
    return codes


def _pack(keys: Sequence[tuple[Array, int]]) -> list[npt.NDArray[np.uint64]]:
    """Pack non-negative keys (array, max value), most significant first, into uint64 words."""
    words: list[npt.NDArray[np.uint64]] = []
    used = 0
    for arr, top in keys:
        bits = max(int(top).bit_length(), 1)
        a = arr.astype(np.uint64)
        if words and used + bits <= 64:
            words[-1] = (words[-1] << np.uint64(bits)) | a
            used += bits
        else:
            words.append(a)
            used = bits
    return words


def _lexsort(words: Sequence[Array]) -> Int64Array:
    if len(words) == 1:
        out: Int64Array = np.argsort(words[0], kind="stable")
        return out
    out = np.lexsort(list(words)[::-1])
    return out


class _Rows:
    """The event columns while a load is finished: filtered, re-coded and sorted in place."""

    def __init__(self, ev: _Events, name: Int32Array, user: Int32Array, account: Int32Array,
                 prop_keys: list[str]) -> None:
        self.ts = ev.ts
        self.name = name
        self.user = user
        self.account = account
        self.prop_keys = prop_keys
        self.prop_codes = [ev.props[k][0] for k in prop_keys]
        self.prop_values = [ev.props[k][1] for k in prop_keys]
        self.eids = ev.eids
        # Input position of row i: i + delta[i] (None: i itself). Rows move only within
        # runs of equal timestamps, so the deltas are small and stored narrow.
        self.delta = None if ev.src is None else _deltas(ev.src)
        self.prefix = ev.prefix
        self.prefixes = ev.prefixes
        self.files = ev.files

    def __len__(self) -> int:
        return len(self.ts)

    def source(self, i: int) -> int | str:
        return _source(i, self.delta, self.files, self.prefix, self.prefixes)

    def take(self, rows: Int64Array) -> None:
        """Keep ``rows``, in that order (a gather of every column, one at a time)."""
        self.ts = self.ts[rows]
        self.name = self.name[rows]
        self.user = self.user[rows]
        self.account = self.account[rows]
        self.prop_codes = [c[rows] for c in self.prop_codes]
        if self.eids is not None:
            self.eids = self.eids.take(rows)
        positions = rows if self.delta is None else rows + self.delta[rows]
        self.delta = _deltas(positions)
        if self.prefix is not None:
            self.prefix = self.prefix[rows]

    def move(self, rows: Int64Array, new: Int64Array) -> None:
        """Put the rows now at ``new`` at positions ``rows`` (one run of ties, in place)."""
        for arr in (self.name, self.user, self.account, *self.prop_codes):
            arr[rows] = arr[new]
        if self.eids is not None:
            self.eids.values[rows] = self.eids.values[new]
            self.eids.present[rows] = self.eids.present[new]
        moved = new - rows
        if self.delta is not None:
            moved += self.delta[new]
        self.delta = _fit(self.delta, moved, len(self.ts))
        self.delta[rows] = moved
        if self.prefix is not None:
            self.prefix[rows] = self.prefix[new]

    def sort(self, n_names: int, n_users: int, n_accounts: int) -> None:
        """Sort into the canonical order: a total order on event content (time, name,
        properties, user, account, event id), so equal content gives equal columns.

        Input in time order (the usual export) is not gathered at all: only runs of equal
        timestamps are sorted further, a block at a time, on keys packed into 64-bit words.
        """
        n = len(self.ts)
        if n < 2:
            return
        if not bool(np.all(self.ts[1:] >= self.ts[:-1])):
            self.take(np.argsort(self.ts, kind="stable"))
        tie = self.ts[1:] == self.ts[:-1]
        if not tie.any():
            return
        lo = 0
        while lo < n:
            hi = min(lo + col.CHUNK, n)
            if hi < n and tie[hi - 1]:
                ends = np.flatnonzero(~tie[hi - 1:])
                hi = n if not len(ends) else hi + int(ends[0])
            self._sort_ties(lo, hi, tie[lo:hi - 1], n_names, n_users, n_accounts)
            lo = hi

    def _sort_ties(self, lo: int, hi: int, tie: BoolArray, n_names: int, n_users: int,
                   n_accounts: int) -> None:
        m = hi - lo
        in_run = np.zeros(m, dtype=np.bool_)
        in_run[1:] = tie
        in_run[:-1] |= tie
        pos = np.flatnonzero(in_run)
        if not len(pos):
            return
        # A run starts at a row that ties with no row before it; numbered over the rows
        # in runs only (a few percent of the block).
        start = np.ones(len(pos), dtype=np.bool_)
        start[1:] = ~tie[pos[1:] - 1]
        run = np.cumsum(start)
        rows = lo + pos
        keys: list[tuple[Array, int]] = [(run, int(run[-1])),
                                         (self.name[rows], max(n_names - 1, 0))]
        keys += [(c[rows] + 1, len(v)) for c, v in zip(self.prop_codes, self.prop_values,
                                                       strict=True)]
        keys += [(self.user[rows] + 1, n_users), (self.account[rows] + 1, n_accounts)]
        words = _pack(keys)
        sub = _lexsort(words)
        new = rows[sub]
        if self.eids is not None and self.eids.present[rows].any():
            words = [w[sub] for w in words]
            full = np.ones(len(new) - 1, dtype=np.bool_)
            for w in words:
                full &= w[1:] == w[:-1]
            if full.any():
                # Events equal in everything but their id: order them by id.
                fstart = np.ones(len(new), dtype=np.bool_)
                fstart[1:] = ~full
                in_f = np.zeros(len(new), dtype=np.bool_)
                in_f[1:] = full
                in_f[:-1] |= full
                fpos = np.flatnonzero(in_f)
                frows = new[fpos]
                rank = self.eids.ranks(frows)
                new[fpos] = frows[np.lexsort((rank, np.cumsum(fstart)[fpos]))]
        moving = np.flatnonzero(new != rows)
        if len(moving):
            # Only the rows that change place (most runs are in order already).
            self.move(rows[moving], new[moving])


def _source(i: int, delta: Array | None, files: col.Files | None, prefix: Array | None,
            prefixes: Sequence[str]) -> int | str:
    """Where row ``i`` came from: its input row (``i + delta[i]``), named by its file when
    read from several, or prefixed (``"2:15"``, after :meth:`EventLog.concat`)."""
    row = i if delta is None else i + int(delta[i])
    if files is not None:
        return files(row)
    return row if prefix is None else f"{prefixes[int(prefix[i])]}{row}"


def _narrow(lo: int, hi: int) -> type[np.signedinteger[Any]]:
    for dtype in (np.int8, np.int16, np.int32):
        info = np.iinfo(dtype)
        if info.min <= lo and hi <= info.max:
            return dtype
    return np.int64


def _deltas(positions: Array) -> Array | None:
    """``positions - arange`` in the narrowest signed type, or None when all are zero."""
    n = len(positions)
    lo = hi = 0
    for start in range(0, n, col.CHUNK):
        d = positions[start:start + col.CHUNK] - np.arange(start, min(start + col.CHUNK, n))
        lo, hi = min(lo, int(d.min())), max(hi, int(d.max()))
    if lo == hi == 0:
        return None
    out = np.empty(n, dtype=_narrow(lo, hi))
    for start in range(0, n, col.CHUNK):
        stop = min(start + col.CHUNK, n)
        out[start:stop] = positions[start:stop] - np.arange(start, stop)
    return out


def _fit(delta: Array | None, values: Array, n: int) -> Array:
    """``delta`` (zeros when None) widened, if need be, to hold ``values`` too."""
    lo, hi = (int(values.min()), int(values.max())) if len(values) else (0, 0)
    if delta is not None:
        info = np.iinfo(delta.dtype)
        if info.min <= lo and hi <= info.max:
            return delta
        return delta.astype(_narrow(min(lo, int(info.min)), max(hi, int(info.max))))
    return np.zeros(n, dtype=_narrow(lo, hi))


def check_strict(strict: Any, where: str | None = None) -> None:
    """``strict=`` must be a bool: a truthy string such as ``"false"`` would turn it on."""
    if not isinstance(strict, (bool, np.bool_)):
        raise PqlkitTypeError(f"{where + ': ' if where else ''}strict must be True or False, "
                              f"got {strict!r}")


#: The log's columns, read-only numpy arrays.
_READ_ONLY: Final = ("ts", "name_code", "user", "account", "user_account", "user_created",
                     "user_in_table", "account_created", "account_in_table")


class EventLog:
    """Sorted, de-duplicated, integer-coded event columns plus the user and account tables.

    Build one with :meth:`from_records`, :meth:`from_columns`, :meth:`from_arrow`,
    :meth:`from_parquet` or :meth:`concat`; the same events give the same log whichever
    way they arrive. Columns, in the canonical event order (read-only numpy arrays):

    - ``ts``: int64 microseconds since the epoch (UTC)
    - ``name_code``: index into ``names`` (sorted event names), in the narrowest signed
      integer type that holds it (int8 for up to 127 names; never wider than int32)
    - ``user``: int32 index into ``user_ids`` (-1 when the event names no user)
    - ``account``: int32 index into ``account_ids`` of the account the event *names* (-1)
    - ``owner_account``: the account the event belongs to: the one it names, else its
      user's account in the users table (-1)
    - ``props``: one :class:`PropColumn` per property key
    - ``event_id``: a :class:`PropColumn` of the event ids (string ids held as UTF-8
      bytes, to keep millions of them compact)

    >>> log = EventLog.from_records([
    ...     {"name": "signup", "timestamp": "2026-05-01T09:00:00Z", "user_id": "u1"},
    ...     {"name": "signup", "timestamp": "2026-05-01T09:00:00Z", "user_id": "u1"},
    ... ])
    >>> len(log), log.report.counts
    (2, {'input': 2, 'kept': 2, 'duplicates': 0, 'rejected': 0})
    """

    ts: Int64Array
    name_code: npt.NDArray[np.signedinteger[Any]]
    names: tuple[str, ...]
    user: Int32Array
    account: Int32Array
    _owner_account: Int32Array | None
    event_id: PropColumn
    props: dict[str, PropColumn]
    user_ids: tuple[EntityId, ...]
    user_account: Int32Array
    user_created: Int64Array
    user_in_table: BoolArray
    account_ids: tuple[EntityId, ...]
    account_created: Int64Array
    account_in_table: BoolArray
    _user_traits: _TraitTable
    _user_sources: _RowSources
    _account_sources: _RowSources
    _account_traits: _TraitTable
    report: LoadReport
    _user_index: dict[EntityId, int] | None  # built on first use
    _account_index: dict[EntityId, int] | None
    _src: Array | None  # input row of event i: i + _src[i]
    _src_prefix: Int32Array | None
    _prefixes: tuple[str, ...]
    _files: col.Files | None  # rows read from several files: their sources
    _csr: dict[str, tuple[Array, Int64Array]]
    #: Users and accounts a vendor adapter folded from identify/group calls (not tables).
    _entities_derived: bool = False

    def __init__(self) -> None:  # pragma: no cover - built by the constructors below
        raise PqlkitTypeError(
            "build an EventLog with EventLog.from_records(...), from_columns(...), "
            "from_arrow(...), from_parquet(...) or EventLog.concat(...)"
        )

    def __getstate__(self) -> dict[str, Any]:
        # The indexes built on first use (events per entity, owners, id lookups) are not
        # sent: the copy builds its own, read-only as they always are.
        state = self.__dict__.copy()
        state.update(_csr={}, _owner_account=None, _user_index=None, _account_index=None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        # Unpickled (or deep-copied, or sent to a worker) numpy arrays come back writeable:
        # the log's columns are read-only, as the constructors leave them.
        self.__dict__.update(state)
        for name in _READ_ONLY:
            arr = state.get(name)
            if isinstance(arr, np.ndarray):
                arr.flags.writeable = False
        for column in [*self.props.values(), self.event_id]:
            _read_only(column)

    # -- construction -------------------------------------------------------------------

    @classmethod
    def from_records(
        cls,
        events: Iterable[Event | Mapping[str, Any]],
        *,
        users: Iterable[User | Mapping[str, Any]] | None = None,
        accounts: Iterable[Account | Mapping[str, Any]] | None = None,
        strict: bool = False,
        tz: str | tzinfo | None = None,
        epoch_unit: str | None = None,
        future_tolerance: str | timedelta | None = None,
        now: datetime | str | None = None,
    ) -> EventLog:
        """Load events (and optionally users and accounts) from records or dicts.

        Args:
            events: :class:`~pqlkit.Event` records or dicts with the same field names.
            users: :class:`~pqlkit.User` records or dicts.
            accounts: :class:`~pqlkit.Account` records or dicts.
            strict: raise :class:`~pqlkit.errors.RejectedRowError` on the first row that
                would be rejected, instead of reporting it.
            tz: the zone of naive timestamps in dict rows (e.g. ``"UTC"``); without it a
                naive timestamp is rejected.
            epoch_unit: read bare numbers in ``timestamp`` as epoch values in this unit
                (``"s"``, ``"ms"``, ``"us"`` or ``"ns"``); without it they are rejected.
            future_tolerance: reject (as ``future_timestamp``) events later than ``now``
                plus this duration (``"1d"``, a ``timedelta``): a client clock that is wrong.
                Off by default.
            now: the moment ``future_tolerance`` counts from; the wall clock at load time
                when not given.

        Rows that fail validation are not kept: each is listed on ``log.report`` with its
        reason and position, so ``input = kept + duplicates + rejected`` always holds.

        >>> log = EventLog.from_records(
        ...     [{"name": "signup", "timestamp": "2026-05-01T09:00:00Z", "user_id": "u1"},
        ...      {"name": "", "timestamp": "2026-05-01T09:00:00Z", "user_id": "u1"}],
        ...     users=[{"user_id": "u1", "account_id": "a1"}],
        ... )
        >>> len(log), log.report.by_reason()
        (1, {'missing_name': 1})
        """
        check_strict(strict, "EventLog.from_records")
        col.not_rows(events, "EventLog.from_records")
        if isinstance(events, (str, bytes, Mapping)) or not isinstance(events, Iterable):
            raise PqlkitTypeError(
                f"events must be an iterable of Event records or dicts, got {type(events).__name__}"
            )
        check_options(tz, epoch_unit)
        report = LoadReport()
        limit = future_limit(future_tolerance, now)
        report.add_input("events", 0)
        ts: list[int] = []
        names: list[str] = []
        user_ids: list[EntityId | None] = []
        account_ids: list[EntityId | None] = []
        event_ids: list[EntityId | None] = []
        props: list[Mapping[str, Any]] = []
        src: list[int] = []
        for i, raw in enumerate(events):
            report.add_input("events")
            try:
                ev = _event_row(raw, tz, epoch_unit)
                check_not_future(to_micros(ev.timestamp), limit)
            except (FieldError, ValidationError, TypeError) as exc:
                _reject_error(report, strict, "events", i, exc, raw)
                continue
            ts.append(to_micros(ev.timestamp))
            names.append(ev.name)
            user_ids.append(ev.user_id)
            account_ids.append(ev.account_id)
            event_ids.append(ev.event_id)
            props.append(ev.properties)
            src.append(i)
        n = len(ts)
        # A None property is an absent one (as log.properties(i) reads it), so that
        # dedup, order and columns do not depend on how a row spelled "missing".
        keys = sorted({k for p in props for k, v in p.items() if v is not None})
        chunk: dict[str, Any] = {
            "timestamp": np.array(ts, dtype=np.int64).view("datetime64[us]"),
            "name": col.factorize_objects(names),
            "user_id": col.factorize_objects(user_ids),
            "account_id": col.factorize_objects(account_ids),
            "event_id": col.Objects(col.object_array(event_ids)),
            "properties": _property_columns(props, keys, n),
        }
        ev_cols = _load_events(n, [(0, n, chunk)] if n else [], fields=set(_EVENT_FIELDS),
                               prop_keys=keys, tz=None, epoch_unit=None, strict=strict,
                               report=report, count_input=False)
        ev_cols.src = np.array(src, dtype=np.int64)[
            ev_cols.src if ev_cols.src is not None else slice(None)]
        user_rows, account_rows = _tables(users, accounts, report, strict, tz, epoch_unit,
                                          columns_ok=False)
        return cls._finish(ev_cols, user_rows, account_rows, report, strict)

    @classmethod
    def from_columns(
        cls,
        *,
        user_id: Any,
        name: Any,
        timestamp: Any,
        account_id: Any = None,
        event_id: Any = None,
        properties: Mapping[str, Any] | None = None,
        users: Any = None,
        accounts: Any = None,
        strict: bool = False,
        tz: str | tzinfo | None = None,
        epoch_unit: str | None = None,
        future_tolerance: str | timedelta | None = None,
        now: datetime | str | None = None,
    ) -> EventLog:
        """Load events from columns: numpy arrays, pyarrow arrays or plain sequences.

        Nothing is done per row in Python for typed numpy or Arrow columns; values are
        checked once per distinct value. Rows the record path would reject are rejected
        here with the same reason and message, their row position as ``source``.

        Args:
            user_id: user ids (str or int; None, an empty string or a masked entry for
                none), or None when no event names a user.
            name: event names.
            timestamp: ``datetime64`` values (any unit, read as UTC), aware datetimes,
                ISO-8601 strings with a zone, or numbers with ``epoch_unit``.
            account_id: account ids, or None.
            event_id: event ids (str or int) used to drop duplicates, or None.
            properties: property name -> column; None, NaN-free missing entries (None,
                masked, Arrow null) mean the event lacks the property.
            users: :class:`~pqlkit.User` records, dicts, a pyarrow Table, or a mapping of
                columns: ``user_id``, optional ``account_id`` and ``created_at``, and the
                traits either under ``traits`` (a mapping of trait name -> column) or as
                further columns. A missing trait value means the user lacks that trait.
            accounts: the same for accounts (``account_id``, ``created_at``, traits).
            strict: raise on the first row that would be rejected.
            tz: the zone of naive datetimes, naive ISO strings and zone-less Arrow,
                pandas or polars timestamp columns (an error without it); a numpy
                ``datetime64`` array is UTC.
            epoch_unit: ``"s"``, ``"ms"``, ``"us"`` or ``"ns"`` for numeric timestamps.
            future_tolerance: reject (as ``future_timestamp``) events later than ``now``
                plus this (e.g. ``"1d"``), as every loader does.
            now: what ``future_tolerance`` counts from (default: the wall clock at load).

        Raises:
            ValidationError: the columns have different lengths, or numeric timestamps
                came without ``epoch_unit``.
            PqlkitTypeError: a column is not a column, or has a dtype its field cannot
                hold (float ids, say).

        >>> import numpy as np
        >>> log = EventLog.from_columns(
        ...     user_id=np.array(["u1", "u2", "u1"]),
        ...     name=np.array(["signup", "signup", "project_created"]),
        ...     timestamp=np.array(["2026-05-01T09:00", "2026-05-01T10:00",
        ...                         "2026-05-02T09:00"], dtype="datetime64[us]"),
        ...     properties={"plan": ["free", None, "pro"]},
        ...     users={"user_id": ["u1", "u2"], "account_id": ["a1", "a1"],
        ...            "role": ["admin", "member"]},
        ... )
        >>> len(log), log.user_ids, log.props["plan"].tolist()
        (3, ('u1', 'u2'), ['free', None, 'pro'])
        """
        check_strict(strict, "EventLog.from_columns")
        columns: dict[str, Any] = {}
        timestamp = _naive_frame_times(timestamp, tz, "EventLog.from_columns")
        for field, value in (("user_id", user_id), ("name", name), ("timestamp", timestamp),
                             ("account_id", account_id), ("event_id", event_id)):
            if value is not None:
                columns[field] = _column_input(value, field)
        for field in ("name", "timestamp"):
            if field not in columns:
                raise PqlkitTypeError(f"EventLog.from_columns needs a {field} column")
        if "user_id" not in columns and "account_id" not in columns:
            raise PqlkitTypeError(
                "EventLog.from_columns needs a user_id or an account_id column (or both)"
            )
        if properties is None:
            properties = {}
        if not isinstance(properties, Mapping):
            raise PqlkitTypeError(
                "properties must be a mapping of property name to column, got "
                f"{type(properties).__name__}"
            )
        props: dict[str, Any] = {}
        for key, value in properties.items():
            if not isinstance(key, str) or not key:
                raise PqlkitTypeError(f"property names must be non-empty strings, got {key!r}")
            props[key] = _column_input(value, f"properties[{key!r}]")
        n = _columns_length({**columns, **{f"properties[{k!r}]": v for k, v in props.items()}},
                            "EventLog.from_columns")
        report = LoadReport()
        ev = _load_events(n, _slices(columns, props, n), fields=set(columns),
                          prop_keys=list(props), tz=tz, epoch_unit=epoch_unit, strict=strict,
                          report=report, limit=future_limit(future_tolerance, now))
        user_rows, account_rows = _tables(users, accounts, report, strict, tz, epoch_unit,
                                          columns_ok=True)
        return cls._finish(ev, user_rows, account_rows, report, strict)

    @classmethod
    def from_arrow(
        cls,
        table: Any,
        *,
        user_id: str | None = "user_id",
        name: str = "name",
        timestamp: str = "timestamp",
        account_id: str | None = "account_id",
        event_id: str | None = "event_id",
        properties: Sequence[str] | Mapping[str, str] | None = None,
        users: Any = None,
        accounts: Any = None,
        strict: bool = False,
        tz: str | tzinfo | None = None,
        epoch_unit: str | None = None,
        future_tolerance: str | timedelta | None = None,
        now: datetime | str | None = None,
    ) -> EventLog:
        """Load events from a pyarrow Table (needs the ``arrow`` extra).

        The table is read in zero-copy record batches (on worker threads when the
        timestamps are typed and the names and ids are text); dictionary and string
        columns are coded by pyarrow, numbers and timestamps viewed as numpy arrays, so no
        Python object is made per row. Anything exposing the Arrow C stream interface (a polars
        or DuckDB result) is accepted too.

        Args:
            table: a ``pyarrow.Table`` or ``RecordBatch``.
            user_id: the column of user ids. It and ``account_id`` and ``event_id`` are
                read when a column of that name exists; name another column explicitly,
                or pass None to ignore one.
            name: the column of event names.
            timestamp: the column of timestamps: ``timestamp`` type (a zone-less one
                needs ``tz=``: it is never assumed to be UTC), ISO-8601 strings, or numbers
                with ``epoch_unit``.
            account_id: the column of account ids.
            event_id: the column of event ids.
            properties: the property columns: a list of column names, or a mapping of
                property name -> column name. Other columns are not read.
            users: a pyarrow Table of users (``user_id``, optional ``account_id`` and
                ``created_at``; every other column is a trait), or anything
                :meth:`from_columns` takes.
            accounts: the same for accounts.
            strict: raise on the first row that would be rejected.
            tz: the zone of naive ISO strings and of a zone-less timestamp column.
            epoch_unit: the unit of numeric timestamps.
            future_tolerance: reject (as ``future_timestamp``) events later than ``now``
                plus this (e.g. ``"1d"``), as every loader does.
            now: what ``future_tolerance`` counts from (default: the wall clock at load).

        >>> import pyarrow as pa
        >>> table = pa.table({"user_id": ["u1", "u2"], "name": ["signup", "signup"],
        ...                   "timestamp": pa.array([0, 3_600_000_000],
        ...                                         pa.timestamp("us", tz="UTC")),
        ...                   "plan": ["free", "pro"]})
        >>> log = EventLog.from_arrow(table, properties=["plan"])
        >>> len(log), log.properties(1)
        (2, {'plan': 'pro'})
        """
        check_strict(strict, "EventLog.from_arrow")
        from pqlkit import _arrow, _arrowload

        _arrow.pyarrow("EventLog.from_arrow")
        data = _arrow.to_table(table, "table")
        fields, props = _arrow.event_columns(
            data.column_names, user_id=user_id, name=name, timestamp=timestamp,
            account_id=account_id, event_id=event_id, properties=properties,
            defaults=_DEFAULT_COLUMNS, where="EventLog.from_arrow")
        zone = _arrow.naive_zone(data.schema, fields["timestamp"], tz, "EventLog.from_arrow")
        limit = future_limit(future_tolerance, now)
        if len(data) and _arrowload.fast_schema(data.schema, fields):
            selected = data.select(list(dict.fromkeys([*fields.values(), *props.values()])))
            return cls._from_decoded(_arrowload.table_chunks(selected), fields, props, zone,
                                     users, accounts, strict, tz, epoch_unit, limit)
        n, chunks = _arrow.event_source(data, fields, props, zone)
        return cls._from_source(n, chunks, fields, props, users, accounts, strict, tz,
                                epoch_unit, limit=limit)

    @classmethod
    def from_parquet(
        cls,
        path: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
        *,
        user_id: str | None = "user_id",
        name: str = "name",
        timestamp: str = "timestamp",
        account_id: str | None = "account_id",
        event_id: str | None = "event_id",
        properties: Sequence[str] | Mapping[str, str] | None = None,
        users: Any = None,
        accounts: Any = None,
        strict: bool = False,
        tz: str | tzinfo | None = None,
        epoch_unit: str | None = None,
        future_tolerance: str | timedelta | None = None,
        now: datetime | str | None = None,
    ) -> EventLog:
        """Load events from a Parquet file, a directory of them or a list of them (needs
        the ``arrow`` extra).

        Only the columns named are read, with text columns taken dictionary-encoded
        straight from the file. With a timestamp column and text name and id columns (the
        usual export), row groups are decoded on worker threads (up to four, a few row
        groups ahead of the one being finished) straight into the log's arrays; other
        files are read a record batch at a time. Either way peak memory is the log being
        built plus a few row groups. The keywords are those of :meth:`from_arrow`;
        ``users`` and ``accounts`` may also be Parquet files (a path, a directory or a
        list of paths, as for the events), read and checked while the events decode.

        A directory stands for its files, in every subdirectory (Hive partitions such as
        ``date=2026-05-01/``; links followed; names starting with ``.`` or ``_`` are
        skipped, as pyarrow's datasets skip them), in the order of their paths; a list
        for its files (and directories) in the order given. They are read as one table: every file must have the name and
        timestamp columns, with a time zone in all or in none; a file without another
        column (an older schema) has nulls there. A rejected row's ``source`` is then
        ``"<file>:<row>"`` (the path within the directory, or as listed). ``path`` may
        also be a binary file object.

        >>> import pyarrow as pa, pyarrow.parquet as pq, tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "events.parquet")
        >>> pq.write_table(pa.table({
        ...     "user_id": ["u1"], "name": ["signup"],
        ...     "timestamp": pa.array([0], pa.timestamp("us", tz="UTC"))}), path)
        >>> EventLog.from_parquet(path).report.counts
        {'input': 1, 'kept': 1, 'duplicates': 0, 'rejected': 0}
        """
        check_strict(strict, "EventLog.from_parquet")
        from pqlkit import _arrow, _arrowload

        where = "EventLog.from_parquet"
        _arrow.pyarrow(where)
        parts = _arrow.parquet_parts(path, where)
        fields, props = _arrow.event_columns(
            list(_arrow.parquet_columns(parts)), user_id=user_id, name=name,
            timestamp=timestamp, account_id=account_id, event_id=event_id,
            properties=properties, defaults=_DEFAULT_COLUMNS, where=where)
        # Every file has the name and the timestamp; a file without one of the other
        # columns (an older schema, or a property added since) has nulls there.
        _arrow.check_parts(parts, [fields["name"], fields["timestamp"]], fields["timestamp"],
                           where)
        zone = _arrow.naive_zone(parts[0].schema, fields["timestamp"], tz, where)
        limit = future_limit(future_tolerance, now)
        source = _arrowload.parquet_groups(parts, fields, props)
        if source.n and all(_arrowload.fast_schema(p.schema, fields) for p in parts):
            return cls._from_decoded(source, fields, props, zone, users, accounts, strict, tz,
                                     epoch_unit, limit)
        return cls._from_source(source.n, _arrow.source_chunks(source, fields, props, zone),
                                fields, props, users, accounts, strict, tz, epoch_unit,
                                files=source.files, limit=limit)

    @classmethod
    def _from_source(cls, n: int, chunks: Chunks, fields: Mapping[str, str],
                     props: Mapping[str, str], users: Any, accounts: Any, strict: bool,
                     tz: str | tzinfo | None, epoch_unit: str | None,
                     files: col.Files | None = None, limit: int | None = None) -> EventLog:
        report = LoadReport()
        ev = _load_events(n, chunks, fields=set(fields), prop_keys=list(props), tz=tz,
                          epoch_unit=epoch_unit, strict=strict, report=report, files=files,
                          limit=limit)
        return cls._with_entities(ev, users, accounts, report, strict, tz, epoch_unit)

    @classmethod
    def _from_decoded(cls, source: Any, fields: Mapping[str, str], props: Mapping[str, str],
                      zone: str | tzinfo | None, users: Any, accounts: Any, strict: bool,
                      tz: str | tzinfo | None, epoch_unit: str | None,
                      limit: int | None = None) -> EventLog:
        """Events decoded on worker threads (:mod:`pqlkit._arrowload`), for Arrow input
        whose timestamps are typed and whose names and ids are text."""
        from concurrent.futures import ThreadPoolExecutor

        from pqlkit import _arrow, _arrowload

        report = LoadReport()
        report.add_input("events", source.n)

        files = source.files

        def reject(cols: Mapping[str, Any], i: int, row: int) -> None:
            _reject_event(cols, i, row if files is None else files(row), tz, epoch_unit,
                          report, strict, limit)

        # Users and accounts are read and checked while the events decode, into a report
        # of their own that follows the events' (as from records); an error of theirs is
        # raised only if the events raised none.
        tables_report = LoadReport()

        def tables() -> tuple[_Entities, _Entities]:
            return _tables(users, accounts, tables_report, strict, tz, epoch_unit,
                           columns_ok=True)

        def table_ids() -> dict[str, list[Any]]:
            # The tables' ids, merged with the events' in one pass (when all are text).
            try:
                user_rows, account_rows = entities.result()
            except Exception:  # raised again below, after the events' own errors
                return {}
            return {field: [s for s in sources if isinstance(s, col.IdValues) and len(s)]
                    for field, sources in (("user_id", [user_rows.id_vals]),
                                           ("account_id", [account_rows.id_vals,
                                                           user_rows.account_vals]))
                    if all(not len(s) or (isinstance(s, col.IdValues) and s.kind == "str")
                           for s in sources)}

        with ThreadPoolExecutor(1, thread_name_prefix="pqlkit-tables") as side:
            entities = side.submit(tables)
            got = _arrowload.load(source, fields, props, zone, tz=tz, epoch_unit=epoch_unit,
                                  reject=reject, also=table_ids, limit=limit)
            user_rows, account_rows = entities.result()
        report._extend(tables_report)
        ev = _Events()
        ev.ts, ev.name, ev.names = got.ts, got.name, got.names
        ev.user, ev.account = got.user, got.account
        ev.user_vals = [] if got.user_ids is None else got.user_ids
        ev.account_vals = [] if got.account_ids is None else got.account_ids
        for field, vals, sources in (
                ("user_id", ev.user_vals, [user_rows.id_vals]),
                ("account_id", ev.account_vals, [account_rows.id_vals,
                                                 user_rows.account_vals])):
            found = iter(got.also_at.get(field, ()))
            if field in got.also_at:
                ev.merged[field] = (vals, [np.arange(len(vals), dtype=np.int64)] + [
                    next(found) if len(s) else np.zeros(0, dtype=np.int64) for s in sources])
        ev.used = got.used
        ev.src = None if got.keep is None else np.flatnonzero(got.keep).astype(np.int64)
        ev.eids, ev.props = got.eids, got.props
        ev.files = files
        _arrow.release_unused()  # what decoding left in Arrow's pool, before _finish
        return cls._finish(ev, user_rows, account_rows, report, strict)

    @classmethod
    def _with_entities(cls, ev: _Events, users: Any, accounts: Any, report: LoadReport,
                       strict: bool, tz: str | tzinfo | None,
                       epoch_unit: str | None = None) -> EventLog:
        user_rows, account_rows = _tables(users, accounts, report, strict, tz, epoch_unit,
                                          columns_ok=True)
        from pqlkit._arrow import release_unused

        release_unused()  # what coding the entity ids left in Arrow's pool, before _finish
        return cls._finish(ev, user_rows, account_rows, report, strict)

    @staticmethod
    def _load_entities(
        rows: Iterable[Any] | None,
        table: str,
        kind: type[User] | type[Account],
        allowed: frozenset[str],
        report: LoadReport,
        strict: bool,
        tz: str | tzinfo | None,
        epoch_unit: str | None = None,
    ) -> list[tuple[Any, int | str]]:
        out: list[tuple[Any, int | str]] = []
        if rows is None:
            return out
        if isinstance(rows, (str, bytes, Mapping)) or not isinstance(rows, Iterable):
            raise PqlkitTypeError(
                f"{table} must be an iterable of {kind.__name__} records or dicts, "
                f"got {type(rows).__name__}"
            )
        report.add_input(table, 0)
        for i, raw in enumerate(rows):
            report.add_input(table)
            try:
                out.append((_entity_row(raw, kind, allowed, tz, epoch_unit), i))
            except (FieldError, ValidationError, TypeError) as exc:
                _reject_error(report, strict, table, i, exc, raw)
        return out

    @classmethod
    def concat(cls, logs: Sequence[EventLog], *, strict: bool = False) -> EventLog:
        """One log holding the events and entities of several (chunks of one load).

        Duplicates across the logs are found as within one load, so the rows kept (and
        every score) are those of one load of all the rows; the reports add up, each
        rejection's ``source`` prefixed with the position of its log (``"2:15"``). Each
        log's own verdicts stand: a row one log rejected as a conflicting duplicate is not
        looked at again, so where it is identical to the row another log keeps, one load
        would have counted it a duplicate instead. The logs' columns are joined as they
        are, without going back to records. Logs from the vendor adapters
        (``pqlkit.io.from_segment`` ...) are refused: their users and accounts are folded
        from identify and group calls over time, which only one load of all the messages
        can do.

        >>> a = EventLog.from_records([{"name": "x", "timestamp": "2026-05-01T09:00:00Z",
        ...                             "user_id": "u1", "event_id": 1}])
        >>> b = EventLog.from_records([{"name": "x", "timestamp": "2026-05-01T09:00:00Z",
        ...                             "user_id": "u1", "event_id": 1}])
        >>> EventLog.concat([a, b]).report.counts
        {'input': 2, 'kept': 1, 'duplicates': 1, 'rejected': 0}
        """
        check_strict(strict, "EventLog.concat")
        if isinstance(logs, EventLog) or not isinstance(logs, Iterable):
            raise PqlkitTypeError(
                "EventLog.concat takes a list of EventLogs, e.g. EventLog.concat([a, b]); "
                f"got {type(logs).__name__}")
        logs = list(logs)
        if not logs or not all(isinstance(log, EventLog) for log in logs):
            raise PqlkitTypeError("EventLog.concat takes a non-empty sequence of EventLogs")
        derived = [i for i, log in enumerate(logs) if log._entities_derived]
        if derived:
            raise ValidationError(
                f"EventLog.concat: log {derived[0]} comes from a vendor export (from_segment, "
                "from_mixpanel ...), whose users and accounts are folded from identify and "
                "group calls over time (the latest traits win, account_policy, anonymous "
                "ids merged later): joined here they would not be those of one load; load "
                "all the messages at once (the readers take any iterable of them)")
        report = LoadReport.merge(log.report for log in logs)
        # Rows already counted as kept are counted again by _finish; take them back out.
        for table in ("events", "users", "accounts"):
            if table in report.tables:
                report.tables[table]["kept"] = 0
        n = sum(len(log) for log in logs)
        keys = sorted({k for log in logs for k in log.props})
        prefix_index: dict[str, int] = {}
        src = np.zeros(n, dtype=np.int64)
        prefix = np.zeros(n, dtype=np.int32)
        chunks: list[tuple[int, int, dict[str, Any]]] = []
        lo = 0
        for i, log in enumerate(logs):
            hi = lo + len(log)
            chunks.append((lo, hi, log._chunk()))
            rows = np.arange(len(log)) if log._src is None else np.arange(len(log)) + log._src
            at: Array | None = log._src_prefix
            if log._files is not None:
                # "i:<file>:<row>": the row within its file.
                mine = [f"{i}:{name}:" for name in log._files.names]
                at = log._files.file_of(rows)
                rows = rows - log._files.starts[at]
            else:
                mine = [f"{i}:{p}" for p in (log._prefixes or ("",))]
            lut = np.array([prefix_index.setdefault(p, len(prefix_index)) for p in mine],
                           dtype=np.int32)
            src[lo:hi] = rows
            prefix[lo:hi] = lut[at] if at is not None else lut[0]
            lo = hi
        fields = {"timestamp", "name", "user_id", "account_id", "event_id"}
        ev = _load_events(n, chunks, fields=fields, prop_keys=keys, tz=None, epoch_unit=None,
                          strict=strict, report=report, count_input=False)
        if ev.src is not None:
            raise _internal("a log's own events failed the checks in EventLog.concat")
        ev.src = src
        ev.prefix = prefix
        ev.prefixes = sorted(prefix_index, key=prefix_index.__getitem__)
        return cls._finish(ev, _concat_entities(logs, User, strict),
                           _concat_entities(logs, Account, strict), report, strict)

    def _chunk(self) -> dict[str, Any]:
        """This log's columns as the encoders read them (for :meth:`concat`)."""
        eid = self.event_id
        if eid.values.dtype.kind in "iS":
            missing = eid.codes < 0
            values = eid.values[np.where(missing, 0, eid.codes)] if len(eid.values) else \
                np.zeros(len(self), dtype=eid.values.dtype)
            eid_piece: Any = col.Typed(values, missing)
        else:
            eid_piece = col.Objects(col.object_array(eid.tolist()))
        props: dict[str, Any] = {}
        for key, pc in self.props.items():
            if pc.values.dtype.kind in "bif":
                missing = pc.codes < 0
                props[key] = col.Typed(pc.values[np.where(missing, 0, pc.codes)], missing)
            else:
                props[key] = col.Coded(pc.codes, pc.python_values())
        return {
            "timestamp": self.ts.view("datetime64[us]"),
            "name": col.Coded(self.name_code, list(self.names)),
            "user_id": col.Coded(self.user, list(self.user_ids)),
            "account_id": col.Coded(self.account, list(self.account_ids)),
            "event_id": eid_piece,
            "properties": props,
        }

    def _entity_rows(self, level: str) -> Iterator[tuple[Any, ...]]:
        if level == "user":
            for i in np.flatnonzero(self.user_in_table).tolist():
                a = int(self.user_account[i])
                yield (self.user_ids[i], None if a < 0 else self.account_ids[a],
                       int(self.user_created[i]), self.user_traits[i], i)
        else:
            for i in np.flatnonzero(self.account_in_table).tolist():
                yield (self.account_ids[i], None, int(self.account_created[i]),
                       self.account_traits[i], i)

    # -- building -------------------------------------------------------------------------

    @classmethod
    def _finish(cls, ev: _Events, user_rows: _Entities, account_rows: _Entities,
                report: LoadReport, strict: bool) -> EventLog:
        # Canonical codes over every candidate value: sorted names and ids. Values that
        # only rejected rows used are dropped at the end, keeping the order.
        name_order = sorted(range(len(ev.names)), key=ev.names.__getitem__)
        names = [ev.names[j] for j in name_order]
        # Where each table row's id and account go, too (the tables are de-duplicated below).
        user_vals, (user_pos, user_at_all) = ev.merged.get("user_id") or _merge_ids(
            [ev.user_vals, user_rows.id_vals])
        account_vals, (account_pos, account_at_all, user_acc_pos) = ev.merged.get(
            "account_id") or _merge_ids(
            [ev.account_vals, account_rows.id_vals, user_rows.account_vals])
        name = _remap(ev.name, col.rank_slot(name_order))
        user_lut, account_lut = col.spare_slot(user_pos), col.spare_slot(account_pos)
        user_acc_at = col.spare_slot(user_acc_pos)
        user = _remap(ev.user, user_lut if ev.user_lut is None else user_lut[ev.user_lut])
        account = _remap(ev.account, account_lut if ev.account_lut is None
                         else account_lut[ev.account_lut])
        rows = _Rows(ev, name, user, account, sorted(ev.props))
        # When the load says which values are used, no pass over the rows is needed.
        known_used = ev.used
        del ev, name, user, account

        if rows.eids is not None and rows.eids.present.any():
            keep = cls._dedup_events(rows, names, user_vals, account_vals, report, strict)
            if keep is not None:
                rows.take(np.flatnonzero(keep))
                known_used = {}
        n = len(rows)
        report.add_kept("events", n)
        rows.sort(len(names), len(user_vals), len(account_vals))

        user_kept = user_rows.dedup("users", "user_id", report, strict)
        account_kept = account_rows.dedup("accounts", "account_id", report, strict)
        has_u, has_a = user_kept >= 0, account_kept >= 0
        user_at, user_kept = user_at_all[has_u], user_kept[has_u]
        account_at, account_kept = account_at_all[has_a], account_kept[has_a]
        user_acc = user_acc_at[user_rows.accounts[user_kept]]

        self = object.__new__(cls)
        self.report = report

        used = np.zeros(len(names) + 1, dtype=np.bool_)
        used[slice(-1) if "name" in known_used else rows.name] = True
        self.names = tuple(v for v, u in zip(names, used[:-1].tolist(), strict=True) if u)
        # A few names fit in int8: a quarter of the memory of int32 at millions of events.
        self.name_code = _compact(rows.name, used).astype(_narrow(-1, len(self.names)),
                                                          copy=False)
        rows.name = self.name_code

        used_u = np.zeros(len(user_vals) + 1, dtype=np.bool_)
        used_u[user_pos[known_used["user_id"]] if "user_id" in known_used else rows.user] = True
        used_u[user_at] = True
        used_a = np.zeros(len(account_vals) + 1, dtype=np.bool_)
        used_a[account_pos[known_used["account_id"]] if "account_id" in known_used
               else rows.account] = True
        used_a[account_at] = True
        used_a[user_acc] = True  # -1 (no account) marks the spare last slot
        self.user_ids = _used_ids(user_vals, used_u)
        self.account_ids = _used_ids(account_vals, used_a)
        self._user_index = self._account_index = None
        del user_vals, account_vals
        self.user = _compact(rows.user, used_u)
        self.account = _compact(rows.account, used_a)

        user_remap = np.cumsum(used_u[:-1], dtype=np.int64) - 1
        account_remap = np.append(np.cumsum(used_a[:-1], dtype=np.int64) - 1, -1)
        self.user_account, self.user_created, self.user_in_table, self._user_traits = (
            _entity_table(user_rows, user_kept, user_remap[user_at], len(self.user_ids),
                          account_remap[user_acc]))
        (_, self.account_created, self.account_in_table, self._account_traits) = _entity_table(
            account_rows, account_kept, account_remap[account_at], len(self.account_ids), None)
        self._user_sources = user_rows.sources_of(user_kept, user_remap[user_at],
                                                  len(self.user_ids))
        self._account_sources = account_rows.sources_of(
            account_kept, account_remap[account_at], len(self.account_ids))

        self.ts = rows.ts
        self.props = {}
        for key, codes, values in zip(rows.prop_keys, rows.prop_codes, rows.prop_values,
                                      strict=True):
            pc = _final_prop(codes, values)
            if pc is not None:
                self.props[key] = pc
        if rows.eids is None:
            self.event_id = PropColumn(np.broadcast_to(np.int32(-1), (n,)),
                                       np.zeros(0, dtype=np.int64))
        else:
            self.event_id = _read_only(PropColumn(*rows.eids.final()))
        self._owner_account = None  # built on first use: only account-level signals read it
        self._src = rows.delta
        self._src_prefix = rows.prefix
        self._prefixes = tuple(rows.prefixes)
        self._files = rows.files
        self._csr = {}
        for column_name in _READ_ONLY:
            getattr(self, column_name).flags.writeable = False
        return self

    @staticmethod
    def _dedup_events(rows: _Rows, names: list[str], user_vals: IdList,
                      account_vals: IdList, report: LoadReport,
                      strict: bool) -> BoolArray | None:
        """Rows sharing an event id: identical ones are duplicates, the earliest of
        differing ones (by timestamp, name, properties, user, account) is kept and the
        others are rejected as conflicting, whatever the input order (DESIGN §3.4)."""
        eids = rows.eids
        assert eids is not None
        with_id = np.flatnonzero(eids.present)
        groups = eids.group_keys()
        o = np.argsort(groups, kind="stable")
        sorted_groups = groups[o]
        same = sorted_groups[1:] == sorted_groups[:-1]
        del sorted_groups
        if not same.any():
            return None
        in_dup = np.zeros(len(with_id), dtype=np.bool_)
        in_dup[1:] |= same
        in_dup[:-1] |= same
        sel = o[in_dup]
        dup = with_id[sel]
        # Rows whose keys collide; for string ids the key is a hash, so group them exactly.
        group = eids.exact_keys(dup) if eids.mode == "bytes" else groups[sel]
        del groups, o, sel
        content: list[Array] = [rows.ts[dup], rows.name[dup],
                                *(c[dup] for c in rows.prop_codes), rows.user[dup],
                                rows.account[dup]]
        so = np.lexsort([*content[::-1], group])
        dup, group = dup[so], group[so]
        content = [c[so] for c in content]
        first = np.ones(len(dup), dtype=np.bool_)
        first[1:] = group[1:] != group[:-1]
        head = np.maximum.accumulate(np.where(first, np.arange(len(dup)), 0))
        identical = np.ones(len(dup), dtype=np.bool_)
        for c in content:
            identical &= c == c[head]
        later = ~first
        keep = np.ones(len(rows), dtype=np.bool_)
        keep[dup[later]] = False
        report.add_duplicates("events", int((later & identical).sum()))
        conflicts = np.flatnonzero(later & ~identical)
        pairs = sorted(zip(dup[conflicts].tolist(), dup[head[conflicts]].tolist(), strict=True))
        ts, name, user, account = rows.ts, rows.name, rows.user, rows.account
        for row, kept in pairs:
            props = {k: _value(v, int(c[row])) for k, c, v in
                     zip(rows.prop_keys, rows.prop_codes, rows.prop_values, strict=True)
                     if c[row] >= 0}
            u, a = int(user[row]), int(account[row])
            _reject(
                report, strict, "events", rows.source(row), "conflicting_duplicate",
                f"event_id {eids.python(row)!r} is shared with a different event "
                f"({names[name[kept]]!r} at {from_micros(int(ts[kept])).isoformat()}, "
                f"from events[{rows.source(kept)}]); kept the earliest",
                {"name": names[name[row]], "timestamp": from_micros(int(ts[row])).isoformat(),
                 "user_id": None if u < 0 else user_vals[u],
                 "account_id": None if a < 0 else account_vals[a], "properties": props},
            )
        return keep

    def _index_csr(self, level: str) -> tuple[Array, Int64Array]:
        # Per-entity event lists in canonical order (CSR), built on first use:
        # order[offsets[i]:offsets[i+1]].
        got = self._csr.get(level)
        if got is not None:
            return got
        owner = self.user if level == "user" else self.owner_account
        n = len(self.user_ids) if level == "user" else len(self.account_ids)
        order = np.argsort(owner, kind="stable")
        counts = np.bincount(owner[owner >= 0], minlength=n)
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        # Events without an owner (-1) sort first; all the others are counted in offsets.
        start = len(owner) - int(offsets[-1])
        index_type = np.int32 if len(self) < 2**31 else np.int64
        out = order[start:].astype(index_type)
        out.flags.writeable = False
        offsets.flags.writeable = False
        self._csr[level] = (out, offsets)
        return out, offsets

    # -- reading --------------------------------------------------------------------------

    def __len__(self) -> int:
        return int(self.ts.shape[0])

    def __repr__(self) -> str:
        span = ""
        if len(self):
            span = (f", {from_micros(int(self.ts[0])).isoformat()} .. "
                    f"{from_micros(int(self.ts[-1])).isoformat()}")
        return (f"<EventLog {len(self)} events, {len(self.names)} names, "
                f"{len(self.user_ids)} users, {len(self.account_ids)} accounts{span}>")

    @property
    def max_timestamp(self) -> datetime | None:
        """The latest event timestamp (the default ``as_of``), or None without events."""
        return from_micros(int(self.ts[-1])) if len(self) else None

    @property
    def owner_account(self) -> Int32Array:
        """The account each event belongs to: the one it names, else its user's account in
        the users table (-1: none). Read-only; made on first use."""
        if self._owner_account is None:
            n = len(self)
            # When every event names its account (the usual export), the owner column is
            # the account column itself: both are read-only, and 4 bytes an event are saved.
            every = not n or int(self.account.min()) >= 0
            owners = self.account if every else self.account.copy()
            for lo in range(0, 0 if every else n, col.CHUNK):
                # Masked, not np.where: with no users at all, user_account is empty.
                owner = owners[lo:lo + col.CHUNK]
                user = self.user[lo:lo + col.CHUNK]
                inherit = np.flatnonzero((owner < 0) & (user >= 0))
                owner[inherit] = self.user_account[user[inherit]]
            owners.flags.writeable = False
            self._owner_account = owners
        return self._owner_account

    @property
    def user_traits(self) -> tuple[Mapping[str, Any], ...]:
        """The traits of each user row as a read-only mapping (empty for users known only
        from events). Built on first access after a columnar load: engines read
        :meth:`user_trait_column` instead."""
        return self._user_traits.mappings()

    @property
    def account_traits(self) -> tuple[Mapping[str, Any], ...]:
        """The traits of each account row as a read-only mapping (see :attr:`user_traits`)."""
        return self._account_traits.mappings()

    def user_trait_column(self, key: str) -> PropColumn | None:
        """Trait ``key`` of every user row as a coded column, or None when no user has it.

        ``codes`` holds one int32 per user row (``-1``: the user lacks the trait) into the
        distinct ``values``, in the canonical order of :class:`PropColumn`. Built once per
        key, from the trait columns of a columnar load without a Python step per user.
        Derived traits (``email_domain`` from ``email``) are the engines' business.

        >>> log = EventLog.from_records(
        ...     [{"name": "x", "timestamp": "2026-05-01T09:00:00Z", "user_id": "u1"}],
        ...     users=[{"user_id": "u1", "traits": {"role": "admin"}},
        ...            {"user_id": "u2", "traits": {}}])
        >>> role = log.user_trait_column("role")
        >>> role.codes.tolist(), role.values.tolist(), log.user_trait_column("plan")
        ([0, -1], ['admin'], None)
        """
        return self._user_traits.column(key)

    def account_trait_column(self, key: str) -> PropColumn | None:
        """Trait ``key`` of every account row as a coded column (see
        :meth:`user_trait_column`), or None when no account has it."""
        return self._account_traits.column(key)

    def user_index(self, user_id: EntityId) -> int:
        """The row of ``user_id`` in the user table (:class:`~pqlkit.errors.UnknownEntityError`,
        a KeyError, when unknown)."""
        if self._user_index is None:
            self._user_index = {u: i for i, u in enumerate(self.user_ids)}
        return self._index_of(self._user_index, "user", user_id)

    def account_index(self, account_id: EntityId) -> int:
        """The row of ``account_id`` in the account table
        (:class:`~pqlkit.errors.UnknownEntityError`, a KeyError, when unknown)."""
        if self._account_index is None:
            self._account_index = {a: i for i, a in enumerate(self.account_ids)}
        return self._index_of(self._account_index, "account", account_id)

    @staticmethod
    def _index_of(index: Mapping[Any, int], level: str, entity_id: Any) -> int:
        """``index[entity_id]``, refusing a value that is not an id, or an unknown id, with
        an error that names it."""
        if not isinstance(entity_id, (str, int, np.integer)) or isinstance(entity_id, bool):
            raise PqlkitTypeError(
                f"EventLog.{level}_index() takes one {level} id (a string or an integer), "
                f"got {entity_id!r} ({type(entity_id).__name__})")
        row = index.get(entity_id)
        if row is None:
            from pqlkit.errors import UnknownEntityError
            hint = ""
            if index and isinstance(entity_id, str) and all(isinstance(k, int) for k in index):
                hint = " (ids are integers here)"
            elif index and not isinstance(entity_id, str) and all(
                    isinstance(k, str) for k in index):
                hint = " (ids are strings here)"
            raise UnknownEntityError(
                f"no {level} {entity_id!r} in this log of {len(index)} "
                f"{level}{'' if len(index) == 1 else 's'}{hint}; log.{level}_ids lists them")
        return row

    def _row(self, i: Any, method: str, level: str = "event") -> int:
        """``i`` as a row of the events (or of the ``level`` table), counting a negative
        one from the end; a wrong type or an index out of range is refused by name."""
        n = (len(self.ts) if level == "event"
             else len(self.user_ids if level == "user" else self.account_ids))
        if isinstance(i, (int, np.integer)) and not isinstance(i, bool) and -n <= i < n:
            return int(i) if i >= 0 else int(i) + n
        if not isinstance(i, (int, np.integer)) or isinstance(i, bool):
            raise PqlkitTypeError(
                f"EventLog.{method}() takes {'a' if level == 'user' else 'an'} {level} index "
                f"(an integer), got {i!r} ({type(i).__name__})")
        rows = f"{level}{'' if n == 1 else 's'}"
        where = "this log" if level == "event" else f"the {level} table of this log"
        raise ValidationError(
            f"EventLog.{method}(): {level} index {int(i)} is out of range: {where} has "
            + (f"no {level}s" if n == 0 else
               f"{n} {rows}, indices 0 to {n - 1} (or -{n} to -1 from the end)"))

    @property
    def user_order(self) -> Array:
        """Event indices grouped by user, each user's in canonical order (CSR values)."""
        return self._index_csr("user")[0]

    @property
    def user_offsets(self) -> Int64Array:
        """User row ``i``'s events are ``user_order[user_offsets[i]:user_offsets[i + 1]]``."""
        return self._index_csr("user")[1]

    @property
    def account_order(self) -> Array:
        """Event indices grouped by owning account, each in canonical order (CSR values)."""
        return self._index_csr("account")[0]

    @property
    def account_offsets(self) -> Int64Array:
        """Account row ``i``'s events are ``account_order[account_offsets[i]:...[i + 1]]``."""
        return self._index_csr("account")[1]

    def user_events(self, i: int) -> Array:
        """Indices of user row ``i``'s events, in canonical (time) order."""
        i = self._row(i, "user_events", "user")
        order, offsets = self._index_csr("user")
        return order[offsets[i]:offsets[i + 1]]

    def account_events(self, i: int) -> Array:
        """Indices of the events belonging to account row ``i``, in canonical order."""
        i = self._row(i, "account_events", "account")
        order, offsets = self._index_csr("account")
        return order[offsets[i]:offsets[i + 1]]

    def prop(self, key: str, i: int) -> Any:
        """Property ``key`` of event ``i`` (None when absent)."""
        i = self._row(i, "prop")
        pc = self.props.get(key)
        return None if pc is None else pc[i]

    def properties(self, i: int) -> dict[str, Any]:
        """All properties of event ``i``."""
        i = self._row(i, "properties")
        out = {}
        for k, pc in self.props.items():
            code = int(pc.codes[i])
            if code >= 0:
                out[k] = _python(pc.values, code)
        return out

    def source(self, i: int) -> int | str:
        """Where event ``i`` came from: its input row (``"2:15"`` after :meth:`concat`,
        ``"<file>:<row>"`` when read from several Parquet files)."""
        i = self._row(i, "source")
        return _source(i, self._src, self._files, self._src_prefix, self._prefixes)

    def event(self, i: int) -> Event:
        """Event ``i`` as a record."""
        i = self._row(i, "event")
        u, a = int(self.user[i]), int(self.account[i])
        return Event(
            name=self.names[self.name_code[i]],
            timestamp=from_micros(int(self.ts[i])),
            user_id=None if u < 0 else self.user_ids[u],
            account_id=None if a < 0 else self.account_ids[a],
            properties=self.properties(i),
            event_id=self.event_id[i],
        )

    def events(self) -> Iterator[Event]:
        """Every kept event as a record, in canonical order."""
        return (self.event(i) for i in range(len(self)))

    def users(self) -> Iterator[User]:
        """The users of the users table, as records (users known only from events excluded)."""
        for i in np.flatnonzero(self.user_in_table):
            a = int(self.user_account[i])
            c = int(self.user_created[i])
            yield User(user_id=self.user_ids[i],
                       account_id=None if a < 0 else self.account_ids[a],
                       traits=self.user_traits[i],
                       created_at=None if c == NO_TIME else from_micros(c))

    def accounts(self) -> Iterator[Account]:
        """The accounts of the accounts table, as records."""
        for i in np.flatnonzero(self.account_in_table):
            c = int(self.account_created[i])
            yield Account(account_id=self.account_ids[i], traits=self.account_traits[i],
                          created_at=None if c == NO_TIME else from_micros(c))

    # -- frames (pqlkit.io.frames does the work; the extras are imported there, lazily) ----

    @classmethod
    def from_pandas(
        cls,
        df: Any,
        *,
        name: str = "name",
        timestamp: str = "timestamp",
        user_id: str | None = "user_id",
        account_id: str | None = "account_id",
        event_id: str | None = "event_id",
        properties: Sequence[str] | Mapping[str, str] | None = None,
        users: Any = None,
        accounts: Any = None,
        strict: bool = False,
        tz: str | tzinfo | None = None,
        epoch_unit: str | None = None,
        future_tolerance: str | timedelta | None = None,
        now: datetime | str | None = None,
    ) -> EventLog:
        """Load events from a pandas DataFrame by column mapping (the ``pandas`` extra).

        Columns are mapped with ``name=``, ``timestamp=``, ``user_id=``, ``account_id=``
        and ``event_id=`` (the last two used when present); every other column is a
        property unless ``properties=`` lists the ones to keep. See
        :func:`pqlkit.io.from_pandas` for every keyword.
        """
        from pqlkit.io.frames import from_pandas

        return from_pandas(df, name=name, timestamp=timestamp, user_id=user_id,
                           account_id=_frame_default(account_id, "account_id"),
                           event_id=_frame_default(event_id, "event_id"),
                           properties=properties, users=users, accounts=accounts,
                           strict=strict, tz=tz, epoch_unit=epoch_unit,
                           future_tolerance=future_tolerance, now=now)

    @classmethod
    def from_polars(
        cls,
        df: Any,
        *,
        name: str = "name",
        timestamp: str = "timestamp",
        user_id: str | None = "user_id",
        account_id: str | None = "account_id",
        event_id: str | None = "event_id",
        properties: Sequence[str] | Mapping[str, str] | None = None,
        users: Any = None,
        accounts: Any = None,
        strict: bool = False,
        tz: str | tzinfo | None = None,
        epoch_unit: str | None = None,
        future_tolerance: str | timedelta | None = None,
        now: datetime | str | None = None,
    ) -> EventLog:
        """Load events from a polars DataFrame by column mapping (the ``polars`` extra).

        The keywords are those of :meth:`from_pandas`; see :func:`pqlkit.io.from_polars`.
        """
        from pqlkit.io.frames import from_polars

        return from_polars(df, name=name, timestamp=timestamp, user_id=user_id,
                           account_id=_frame_default(account_id, "account_id"),
                           event_id=_frame_default(event_id, "event_id"),
                           properties=properties, users=users, accounts=accounts,
                           strict=strict, tz=tz, epoch_unit=epoch_unit,
                           future_tolerance=future_tolerance, now=now)


def _frame_default(column: str | None, default: str) -> str | None:
    """The default column names of the frame loaders are used only when present."""
    if column == default:
        from pqlkit.io.frames import default_column

        return default_column(column)
    return column


_DEFAULT_COLUMNS: Final = {"user_id": "user_id", "account_id": "account_id",
                           "event_id": "event_id"}


def _used_ids(values: IdList, used: BoolArray) -> tuple[EntityId, ...]:
    """The ids still used (``used`` has a spare last slot)."""
    if isinstance(values, col.IdValues):
        if not used[:-1].all():
            values = values.take(np.flatnonzero(used[:-1]))
        return tuple(values.tolist())
    if used[:-1].all():
        return tuple(values)
    return tuple(v for v, u in zip(values, used[:-1].tolist(), strict=True) if u)


def _compact(codes: Int32Array, used: BoolArray) -> Int32Array:
    """Codes into the used values only (``used`` has a last slot for code -1), in place."""
    if used[:-1].all():
        return codes
    remap = np.cumsum(used[:-1], dtype=np.int64) - 1
    return _remap(codes, np.append(remap, -1).astype(np.int32))


def _value(values: Array | list[Any], code: int) -> Any:
    if isinstance(values, list):
        return values[code]
    return _python(values, code)


def _final_prop(codes: Int32Array, values: Array | list[Any]) -> PropColumn | None:
    used = np.zeros(len(values) + 1, dtype=np.bool_)
    used[codes] = True
    if not used[:-1].any():
        return None
    compact = _compact(codes, used)
    keep = used[:-1]
    if isinstance(values, list):
        typed = col.typed_values([v for v, u in zip(values, keep.tolist(), strict=True) if u])
    elif keep.all():
        typed = values
    else:
        typed = values[keep]
        if typed.dtype.kind == "U":
            # As wide as the longest value kept, as from a list: the same events give
            # the same columns whichever rows were dropped on the way.
            typed = typed.astype(f"<U{max(1, int(np.char.str_len(typed).max()))}")
    return _read_only(PropColumn(compact, typed))


def _read_only(column: PropColumn) -> PropColumn:
    """``column`` with its arrays made read-only, as every column of a log is."""
    for arr in (column.codes, column.values):
        if isinstance(arr, np.ndarray):
            arr.flags.writeable = False
    return column


def _entity_table(rows: _Entities, kept: Int64Array, at: Int64Array, n: int,
                  accounts: Int64Array | None
                  ) -> tuple[Int32Array, Int64Array, BoolArray, _TraitTable]:
    """The columns of the users (or accounts) table: ``kept`` rows go to entities ``at``."""
    account = np.full(n, -1, dtype=np.int32)
    if accounts is not None:
        account[at] = accounts
    created = np.full(n, NO_TIME, dtype=np.int64)
    created[at] = rows.created[kept]
    in_table = np.zeros(n, dtype=np.bool_)
    in_table[at] = True
    if rows.row_traits is not None:
        traits: list[Mapping[str, Any]] = [_EMPTY] * n
        row_traits = rows.row_traits
        for i, r in zip(at.tolist(), kept.tolist(), strict=True):
            traits[i] = row_traits[r]
        return account, created, in_table, _TraitTable.from_mappings(tuple(traits))
    codes: list[Int32Array | _RawTrait] = []
    for c in rows.trait_codes:
        if isinstance(c, _RawTrait):
            codes.append(c)  # gathered with `kept` when first read
            continue
        entity_codes = np.full(n, -1, dtype=np.int32)
        entity_codes[at] = c[kept]
        codes.append(entity_codes)
    return account, created, in_table, _TraitTable(
        n, at, kept, list(rows.trait_keys), codes, list(rows.trait_values))


class _TraitTable:
    """The traits of every user (or account) row of a log, as columns or as mappings.

    A columnar load keeps the trait columns (codes per entity into distinct values) and
    builds the per-entity mappings of ``log.user_traits`` only when something asks for
    them; a load from records has the mappings and builds a column on demand.
    """

    __slots__ = ("_at", "_codes", "_columns", "_keep", "_keys", "_mappings", "_n", "_values")

    def __init__(self, n: int, at: Int64Array, keep: Int64Array, keys: list[str],
                 codes: list[Int32Array | _RawTrait], values: list[list[Any]]) -> None:
        self._n = n
        self._at = at  # the rows that come from the table (the others have no traits)
        self._keep = keep  # the table rows they come from (for the raw columns)
        self._keys = keys
        self._codes = codes
        self._values = values
        self._mappings: tuple[Mapping[str, Any], ...] | None = None
        self._columns: dict[str, PropColumn | None] = {}

    def __getstate__(self) -> tuple[None, dict[str, Any]]:
        # The columns built on demand are not sent: the copy builds its own, read-only.
        state = {name: getattr(self, name) for name in self.__slots__}
        state["_columns"] = {}
        return None, state

    @classmethod
    def from_mappings(cls, mappings: tuple[Mapping[str, Any], ...]) -> _TraitTable:
        none = np.zeros(0, dtype=np.int64)
        out = cls(len(mappings), none, none, [], [], [])
        out._mappings = mappings
        return out

    def mappings(self) -> tuple[Mapping[str, Any], ...]:
        if self._mappings is None:
            self._mappings = self._build_mappings()
        return self._mappings

    def _build_mappings(self) -> tuple[Mapping[str, Any], ...]:
        out: list[Mapping[str, Any]] = [_EMPTY] * self._n
        if not self._keys:
            return tuple(out)
        positions = MappingProxyType({k: i for i, k in enumerate(self._keys)})
        rows = self._at
        columns = [col.object_array([*v, None])[c[rows]].tolist()
                   for c, v in map(self._coded, range(len(self._keys)))]
        for i, r in zip(rows.tolist(), zip(*columns, strict=True), strict=True):
            out[i] = _TraitRow(positions, r)
        return tuple(out)

    def column(self, key: str) -> PropColumn | None:
        if key not in self._columns:
            self._columns[key] = self._build_column(key)
        return self._columns[key]

    def keys(self) -> list[str]:
        """The trait names, in the order the table holds them."""
        if self._keys or self._mappings is None:
            return list(self._keys)
        return list(dict.fromkeys(k for m in self._mappings for k in m))

    def values_of(self, key: str, entities: Int64Array) -> Any:
        """Trait ``key`` of ``entities``, one cell each (absent: null or None), as the
        Arrow text column it was loaded as when it still is one, else an object array."""
        if key in self._keys:
            j = self._keys.index(key)
            raw = self._codes[j]
            if isinstance(raw, _RawTrait):
                from pqlkit._arrow import arrow_take, text_plain

                # (Every entity asked for has a table row: none is -1.)
                return arrow_take(text_plain(raw.raw), self._table_rows()[entities])
            codes, values = self._coded(j)
            return col.object_array([*values, None])[codes[entities]]
        if self._mappings is not None and not self._keys:
            return col.object_array([self._mappings[e].get(key) for e in entities.tolist()])
        return np.full(len(entities), None, dtype=object)

    def text_rows(self, key: str) -> tuple[Int64Array, Any] | None:
        """Trait ``key`` as the Arrow text column it was loaded as, when it still is one:
        per entity its row in that column (-1: none; a null cell is an absent trait), and
        the column as one plain string array. Else None (read :meth:`column`).

        For engines that test values with Arrow kernels row by row: unlike :meth:`column`,
        nothing is hashed, sorted or converted, and nothing is kept.
        """
        if key not in self._keys:
            return None
        raw = self._codes[self._keys.index(key)]
        if not isinstance(raw, _RawTrait):
            return None
        from pqlkit._arrow import text_plain

        return self._table_rows(), text_plain(raw.raw)

    def _table_rows(self) -> Int64Array:
        """Per entity, its row in the table the traits were read from (-1: none)."""
        rows = np.full(self._n, -1, dtype=np.int64)
        rows[self._at] = self._keep
        return rows

    def _build_column(self, key: str) -> PropColumn | None:
        if self._mappings is not None and not self._keys:
            return _trait_column_of(self._mappings, key)
        if key not in self._keys:
            return None
        j = self._keys.index(key)
        raw = self._codes[j]
        if isinstance(raw, _RawTrait):
            # Straight from the Arrow buffers: no Python string per distinct value.
            got = raw.take(self._keep).sorted_coded()
            if got is not None:
                if not len(got[1]):
                    return None
                column = np.full(self._n, -1, dtype=np.int32)
                column[self._at] = got[0]
                column.flags.writeable = False
                got[1].flags.writeable = False
                return PropColumn(column, got[1])
        codes, values = self._coded(j)
        text = col.sorted_text(values)  # (an email per user: no Python step per value)
        if text is not None:
            return _final_prop(text[0][codes], text[1])
        order = col.canonical_order(values)
        return _final_prop(col.rank_slot(order)[codes], [values[i] for i in order])

    def _coded(self, j: int) -> tuple[Int32Array, list[Any]]:
        """Codes per entity into distinct values of trait ``j`` (coding a raw column)."""
        c = self._codes[j]
        if isinstance(c, _RawTrait):
            codes, values = c.take(self._keep).coded()
            c = np.full(self._n, -1, dtype=np.int32)
            c[self._at] = codes
            self._codes[j], self._values[j] = c, values
        return c, self._values[j]


def _trait_column_of(mappings: Sequence[Mapping[str, Any]], key: str) -> PropColumn | None:
    """Trait ``key`` of each mapping as a coded column (values in canonical order)."""
    raw = [t.get(key) for t in mappings]
    coded = col.factorize_objects(raw)
    if not coded.values:
        return None
    # Unhashable values (lists, mappings) each got a code of their own: merge equal ones.
    keys = [col.value_key(v) for v in coded.values]
    distinct = sorted(set(keys))
    rank = {k: r for r, k in enumerate(distinct)}
    first: dict[Any, Any] = {}
    for k, v in zip(keys, coded.values, strict=True):
        first.setdefault(k, v)
    lut = np.array([*(rank[k] for k in keys), -1], dtype=np.int32)
    codes = lut[coded.codes]
    typed = col.typed_values([first[k] for k in distinct])
    typed.flags.writeable = False
    codes.flags.writeable = False
    return PropColumn(codes, typed)
