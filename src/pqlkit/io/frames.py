"""pandas, polars and Arrow tables onto an EventLog, through one Arrow path.

Every frame becomes a ``pyarrow.Table`` (pandas via ``Table.from_pandas``, polars via
``to_arrow``, anything else via the Arrow C stream interface) and is loaded by
:meth:`pqlkit.EventLog.from_arrow`, column by column, so the same data through any frame
library gives the same log. This module only maps columns, settles zones and the future
tolerance, and keeps the report's sources as row positions of the caller's frame.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, tzinfo
from typing import Any, Final

import attrs

from pqlkit._optional import require
from pqlkit.errors import PqlkitTypeError, ValidationError
from pqlkit.eventlog import EventLog

__all__ = ["from_arrow", "from_pandas", "from_polars", "read_parquet"]


class _Default(str):
    """A default column name: used when the frame has that column, skipped when not."""


_ACCOUNT: Final = _Default("account_id")
_EVENT_ID: Final = _Default("event_id")


def default_column(name: str) -> str:
    """``name`` marked as a default column: used when the frame has it, skipped when not."""
    return _Default(name)
Columns = Sequence[str] | Mapping[str, str] | None


def _pa(feature: str, extra: str = "arrow") -> Any:
    return require("pyarrow", extra, feature)


def _compute() -> Any:
    return require("pyarrow.compute", "arrow", "pyarrow.compute")


def _as_table(obj: Any, feature: str, extra: str) -> Any:
    pa = _pa(feature, extra)
    if isinstance(obj, pa.Table):
        return obj
    if isinstance(obj, pa.RecordBatch):
        return pa.Table.from_batches([obj])
    if isinstance(obj, pa.RecordBatchReader):
        return obj.read_all()
    if hasattr(obj, "__arrow_c_stream__"):
        return pa.RecordBatchReader.from_stream(obj).read_all()
    if hasattr(obj, "__arrow_c_array__"):
        return pa.table(obj)
    raise PqlkitTypeError(
        f"{feature} takes a pyarrow Table, RecordBatch or RecordBatchReader, or an object "
        f"exposing the Arrow C stream interface (__arrow_c_stream__), got {type(obj).__name__}"
    )


@attrs.frozen
class _Mapping:
    name: str
    timestamp: str
    user_id: str | None
    account_id: str | None
    event_id: str | None
    properties: dict[str, str]  # property name -> column


def _mapping(columns: Sequence[str], *, name: str, timestamp: str, user_id: str | None,
             account_id: str | None, event_id: str | None, properties: Columns,
             feature: str) -> _Mapping:
    have = set(columns)

    def column(what: str, value: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            raise PqlkitTypeError(f"{feature}: {what}= must be a column name, got {value!r}")
        if value not in have:
            if isinstance(value, _Default):
                return None
            raise ValidationError(
                f"{feature}: {what}={value!r} is not a column; the columns are "
                f"{', '.join(map(repr, columns))}"
            )
        return value

    for what, value in (("name", name), ("timestamp", timestamp)):
        if value is None:
            raise PqlkitTypeError(f"{feature}: {what}= must name a column; events need one")
    name_col = column("name", name)
    ts_col = column("timestamp", timestamp)
    user_col = column("user_id", user_id)
    account_col = column("account_id", account_id)
    event_col = column("event_id", event_id)
    assert name_col and ts_col
    if user_col is None and account_col is None:
        raise ValidationError(
            f"{feature}: events need a user_id or an account_id column; the columns are "
            f"{', '.join(map(repr, columns))} (map them with user_id= / account_id=)")
    mapped = {c for c in (name_col, ts_col, user_col, account_col, event_col) if c}
    if properties is None:
        props = {c: c for c in columns if c not in mapped}
    elif isinstance(properties, Mapping):
        props = {str(k): column(f"properties[{k!r}]", v) or "" for k, v in properties.items()}
    elif isinstance(properties, str):
        raise PqlkitTypeError(
            f"{feature}: properties= takes a list of column names (or a mapping of property "
            f"name to column), got the string {properties!r}; write [{properties!r}]"
        )
    else:
        props = {c: column("properties", c) or "" for c in properties}
    return _Mapping(name=name_col, timestamp=ts_col, user_id=user_col,
                    account_id=account_col, event_id=event_col, properties=props)


def _zoned(table: Any, col: str, tz: str | tzinfo | None, feature: str) -> Any:
    """The table with a naive timestamp column given its declared zone (or an error)."""
    from pqlkit._arrow import localize, naive_zone

    zone = naive_zone(table.schema, col, tz, feature)
    if zone is None:
        return table
    return table.set_column(table.schema.get_field_index(col), col,
                            localize(table.column(col), zone))


def _load_table(table: Any, *, feature: str, name: str, timestamp: str, user_id: str | None,
                account_id: str | None, event_id: str | None, properties: Columns,
                users: Any, accounts: Any, strict: bool, tz: str | tzinfo | None,
                epoch_unit: str | None, future_tolerance: Any, now: Any,
                exact: Mapping[str, list[Any]] | None = None) -> EventLog:
    """``exact``: columns to read as these Python values rather than as the table's
    (pandas object columns Arrow would have changed, see :func:`_from_pandas`)."""
    m = _mapping(table.column_names, name=name, timestamp=timestamp, user_id=user_id,
                 account_id=account_id, event_id=event_id, properties=properties,
                 feature=feature)
    table = _zoned(table, m.timestamp, tz, feature)
    kw = {"users": _entities(users, f"{feature} users=", _USER_FIELDS),
          "accounts": _entities(accounts, f"{feature} accounts=", _ACCOUNT_FIELDS),
          "strict": strict, "tz": tz, "epoch_unit": epoch_unit,
          "future_tolerance": future_tolerance, "now": now}
    mapped = [m.name, m.timestamp, m.user_id, m.account_id, m.event_id,
              *m.properties.values()]
    nested = _properties_column(table, exact) if properties is None else None
    if nested is None and (not exact or not any(c in exact for c in mapped if c)):
        return _from_arrow(table, m, **kw)

    # Columns of Python values: the column loader reads Arrow columns and Python values
    # alike, each as the records route would.
    def column(c: str | None) -> Any:
        return None if c is None else exact[c] if exact and c in exact else table.column(c)

    props = {p: column(c) for p, c in m.properties.items()}
    if nested is not None:
        del props["properties"]
        for key in nested:
            if key in props:
                raise ValidationError(
                    f"{feature}: {key!r} is both a column and a key of the 'properties' "
                    "column; rename the column, or choose the property columns with "
                    "properties=")
        props.update(nested)
    return EventLog.from_columns(
        user_id=column(m.user_id), name=column(m.name), timestamp=column(m.timestamp),
        account_id=column(m.account_id), event_id=column(m.event_id), properties=props,
        **kw)


def _properties_column(table: Any, exact: Mapping[str, list[Any]] | None
                       ) -> dict[str, Any] | None:
    """A ``properties`` column of mappings (a frame made from records, a struct or map
    column) as one column per key, None where a row lacks the key: each row's mapping
    holds its event's properties, as the records' ``properties`` field does (read as one
    property named "properties", ``prop("plan")`` found nothing). None when there is no
    such column, or it holds anything but mappings and missing values."""
    if "properties" not in table.column_names:
        return None
    if exact and "properties" in exact:
        values = exact["properties"]  # (pandas' missing values already None)
    else:
        from pqlkit._arrow import _pa

        pa, _ = _pa()
        column = table.column("properties")
        if pa.types.is_struct(column.type):
            # Its fields are the keys: their arrays, a null row null in each (no Python
            # value per event).
            names = [column.type.field(i).name for i in range(column.type.num_fields)]
            if len(set(names)) < len(names):
                return None  # (a field twice: the loader says so, as it is)
            fields = column.combine_chunks().flatten()
            return dict(zip(names, fields, strict=True))
        if pa.types.is_map(column.type):  # (DuckDB's MAP): lists of (key, value) pairs
            pairs = column.to_pylist()
            values = [None if p is None else dict(p) for p in pairs]
            if any(p is not None and len(p) != len(v) for p, v in zip(pairs, values,
                                                                      strict=True)):
                return None  # a key twice in a row: the loader says so, as it is
        else:
            return None
    if not all(v is None or isinstance(v, Mapping) for v in values):
        return None
    keys: dict[str, None] = {}
    for v in values:
        if isinstance(v, Mapping):
            for k in v:
                if not isinstance(k, str):
                    return None  # (not property names: the loader rejects the column as is)
                keys.setdefault(k)
    return {k: [v.get(k) if isinstance(v, Mapping) else None for v in values] for k in keys}


#: The record fields of a users / accounts row (other columns are traits).
_USER_FIELDS = frozenset({"user_id", "account_id", "created_at"})
_ACCOUNT_FIELDS = frozenset({"account_id", "created_at"})


def _from_pandas(pa: Any, df: Any, feature: str) -> tuple[Any, dict[str, list[Any]]]:
    """A pandas frame as an Arrow table, and the object columns whose values Arrow's
    typing would change, as their Python values: mappings (a struct gains every other
    row's keys, as None), lists, and ints beside floats (7 would become 7.0). A column
    Arrow cannot type is a PqlkitTypeError naming what to do (not pyarrow's own error).
    Text Arrow cannot hold (a lone surrogate, from a bad JSON escape) is read value by
    value too: an id or a name holding one rejects its row, as from records."""
    pd = require("pandas", "pandas", feature)
    try:
        table = pa.Table.from_pandas(df, preserve_index=False)
    except UnicodeEncodeError:
        from pqlkit.records import utf8

        odd = [c for i, c in enumerate(df.columns) if df.dtypes.iloc[i].kind == "O" and any(
            isinstance(v, str) and not utf8(v) for v in df.iloc[:, i].tolist())]
        if not odd:
            raise
        table, values = _from_pandas(pa, df.assign(**{str(c): None for c in odd}), feature)
        values.update({str(c): _python_values(pd, df[c].tolist()) for c in odd})
        return table, values
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError,
            OverflowError, TypeError) as exc:
        raise PqlkitTypeError(
            f"{feature}: a column cannot become a typed column ({exc}); an object column "
            "mixing kinds of values (numbers and text, booleans and numbers), or holding "
            "integers beyond 64 bits, needs one kind: cast it (df[col].astype(str)), or "
            "pass the rows as dicts (df.to_dict('records'))"
        ) from exc
    exact: dict[str, list[Any]] = {}
    for i, c in enumerate(df.columns):
        if df.dtypes.iloc[i].kind != "O":
            continue
        kind = table.schema.field(i).type
        nested = pa.types.is_nested(kind)
        if not nested and not pa.types.is_floating(kind):
            continue
        values = df.iloc[:, i].tolist()
        if nested or any(isinstance(v, int) and not isinstance(v, bool) for v in values):
            # (pandas' missing values at the top of a column are missing: None.)
            exact[str(c)] = _python_values(pd, values)
    return table, exact


def _python_values(pd: Any, values: list[Any]) -> list[Any]:
    """A pandas object column's values, its missing ones (None, NaN, NA, NaT) as None."""
    return [None if pd.api.types.is_scalar(v) and pd.isna(v) else v for v in values]


def _from_polars(pa: Any, df: Any) -> tuple[Any, dict[str, list[Any]]]:
    """A polars frame as an Arrow table, and the columns Arrow cannot hold as their Python
    values (null in the table): ``Object`` columns (Arrow would get the objects' memory
    addresses) and 128-bit integers (pyarrow refuses them)."""
    pl = require("polars", "polars", "EventLog.from_polars()")
    odd = [c for c, t in df.schema.items()
           if t == pl.Object or t in (getattr(pl, "Int128", None), getattr(pl, "UInt128", None))]
    if not odd:
        return df.to_arrow(), {}
    exact = {c: df.get_column(c).to_list() for c in odd}
    rest = df.drop(odd).to_arrow()
    return pa.Table.from_arrays(
        [pa.nulls(df.height) if c in exact else rest.column(c) for c in df.columns],
        names=list(df.columns)), exact


def _entities(obj: Any, feature: str, fields: frozenset[str], *, as_rows: bool = False) -> Any:
    """A users/accounts table given as a frame becomes an Arrow table, which the loader
    reads by columns: columns other than the record fields are traits (missing values
    absent). One with a ``traits`` column of mappings, or any with ``as_rows`` (for a
    loader that reads entities as rows), becomes dict rows instead."""
    if obj is None or isinstance(obj, (list, tuple)):
        return obj
    if not (hasattr(obj, "__arrow_c_stream__") or type(obj).__module__.startswith(
            ("pandas", "polars", "pyarrow"))):
        return obj
    pa = _pa(feature)
    exact: dict[str, list[Any]] = {}
    if type(obj).__module__.startswith("pandas"):
        from pqlkit._arrow import unique_columns

        unique_columns([str(c) for c in obj.columns], feature)
        table, exact = _from_pandas(pa, obj, feature)
    elif type(obj).__module__.startswith("polars"):
        if not hasattr(obj, "to_arrow"):  # a LazyFrame
            raise PqlkitTypeError(f"{feature}: got a polars {type(obj).__name__}; collect it "
                                  "first (.collect())")
        table, exact = _from_polars(pa, obj)
    else:
        table = _as_table(obj, feature, "arrow")
    if exact and not as_rows and "traits" not in table.column_names:
        # Columns, as the loader reads them: the exact ones as their Python values.
        return {c: exact.get(c, table.column(c)) for c in table.column_names}
    if "traits" not in table.column_names and not as_rows:
        return table
    rows = []
    for j, rec in enumerate(table.to_pylist()):
        rec.update((c, values[j]) for c, values in exact.items())
        row = {k: v for k, v in rec.items() if k in fields and v is not None}
        traits = {k: v for k, v in rec.items() if k not in fields and v is not None}
        if "traits" in rec and isinstance(rec["traits"], Mapping):
            traits = {**{k: v for k, v in traits.items() if k != "traits"}, **rec["traits"]}
        if traits:
            row["traits"] = traits
        rows.append(row)
    return rows


def _from_arrow(table: Any, m: _Mapping, **kw: Any) -> EventLog:
    return EventLog.from_arrow(table, name=m.name, timestamp=m.timestamp, user_id=m.user_id,
                               account_id=m.account_id, event_id=m.event_id,
                               properties=m.properties, **kw)


def from_arrow(
    data: Any,
    *,
    name: str = "name",
    timestamp: str = "timestamp",
    user_id: str | None = "user_id",
    account_id: str | None = _ACCOUNT,
    event_id: str | None = _EVENT_ID,
    properties: Columns = None,
    users: Any = None,
    accounts: Any = None,
    strict: bool = False,
    tz: str | tzinfo | None = None,
    epoch_unit: str | None = None,
    future_tolerance: str | timedelta | None = None,
    now: datetime | str | None = None,
) -> EventLog:
    """Load events from a pyarrow Table (or RecordBatch, RecordBatchReader, or any object
    exposing the Arrow C stream interface, e.g. a DuckDB result), column by column.

    Args:
        data: the table.
        name, timestamp, user_id: the columns of those event attributes.
        account_id, event_id: their columns; by default ``"account_id"`` and
            ``"event_id"`` when the table has them.
        properties: the columns to keep as properties (a list, or a mapping of property
            name to column); by default every column not mapped above, where a
            ``properties`` column of mappings (a frame made from event records, a struct
            column) holds each event's properties, as the records' field does.
        users, accounts: user and account tables: records, dicts, or a frame whose
            ``user_id``/``account_id``/``created_at`` columns are the record fields and
            whose other columns are traits.
        strict: raise :class:`~pqlkit.errors.RejectedRowError` at the first rejected row.
        tz: the zone of a timestamp column stored without one (or of naive strings);
            without it such a column is an error.
        epoch_unit: the unit of a numeric timestamp column (``"s"``, ``"ms"``, ``"us"``,
            ``"ns"``).
        future_tolerance: reject events later than ``now`` plus this (e.g. ``"1d"``).
        now: what ``future_tolerance`` counts from (default: the wall clock at load).

    Returns:
        An EventLog; rejections name the 0-based row of the table. Missing values
        (nulls) in property columns are absent properties.
    """
    table = _as_table(data, "pqlkit.io.from_arrow()", "arrow")
    return _load_table(table, feature="from_arrow", name=name, timestamp=timestamp,
                       user_id=user_id, account_id=account_id, event_id=event_id,
                       properties=properties, users=users, accounts=accounts, strict=strict,
                       tz=tz, epoch_unit=epoch_unit, future_tolerance=future_tolerance,
                       now=now)


def from_pandas(
    df: Any,
    *,
    name: str = "name",
    timestamp: str = "timestamp",
    user_id: str | None = "user_id",
    account_id: str | None = _ACCOUNT,
    event_id: str | None = _EVENT_ID,
    properties: Columns = None,
    users: Any = None,
    accounts: Any = None,
    strict: bool = False,
    tz: str | tzinfo | None = None,
    epoch_unit: str | None = None,
    future_tolerance: str | timedelta | None = None,
    now: datetime | str | None = None,
) -> EventLog:
    """Load events from a pandas DataFrame (needs the ``pandas`` extra).

    The keywords are those of :func:`from_arrow`. A tz-aware ``datetime64`` column is
    read as is; a naive one needs ``tz=``. ``NaN`` in a float column is a missing value
    (pandas' own convention), so it is an absent property, not a rejected row.

    Example:
        >>> import pandas as pd
        >>> import pqlkit as pk
        >>> df = pd.DataFrame({
        ...     "event": ["signup", "invite"], "uid": ["u1", "u1"],
        ...     "at": pd.to_datetime(["2026-05-01 09:00", "2026-05-01 10:00"], utc=True),
        ...     "seats": [1.0, float("nan")],
        ... })
        >>> log = pk.EventLog.from_pandas(df, name="event", user_id="uid", timestamp="at")
        >>> [(e.name, dict(e.properties)) for e in log.events()]
        [('signup', {'seats': 1.0}), ('invite', {})]
    """
    pd = require("pandas", "pandas", "EventLog.from_pandas()")
    pa = _pa("EventLog.from_pandas()", "pandas")
    if not isinstance(df, pd.DataFrame):
        raise PqlkitTypeError(f"from_pandas takes a pandas DataFrame, got {type(df).__name__}")
    from pqlkit._arrow import unique_columns

    unique_columns([str(c) for c in df.columns], "from_pandas")
    if isinstance(timestamp, str) and timestamp in df.columns and df[timestamp].dtype == object:
        # Datetimes in an object column may mix naive and aware ones (or zones): Arrow would
        # give them all the first one's kind. As ISO text each is read as records read it.
        df = df.assign(**{timestamp: df[timestamp].map(
            lambda v: v.isoformat() if isinstance(v, datetime) and not pd.isna(v) else v)})
    table, exact = _from_pandas(pa, df, "from_pandas")
    return _load_table(table, feature="from_pandas", name=name, timestamp=timestamp,
                       user_id=user_id, account_id=account_id, event_id=event_id,
                       properties=properties, users=users, accounts=accounts, strict=strict,
                       tz=tz, epoch_unit=epoch_unit, future_tolerance=future_tolerance,
                       now=now, exact=exact)


def from_polars(
    df: Any,
    *,
    name: str = "name",
    timestamp: str = "timestamp",
    user_id: str | None = "user_id",
    account_id: str | None = _ACCOUNT,
    event_id: str | None = _EVENT_ID,
    properties: Columns = None,
    users: Any = None,
    accounts: Any = None,
    strict: bool = False,
    tz: str | tzinfo | None = None,
    epoch_unit: str | None = None,
    future_tolerance: str | timedelta | None = None,
    now: datetime | str | None = None,
) -> EventLog:
    """Load events from a polars DataFrame (needs the ``polars`` extra).

    The keywords are those of :func:`from_arrow`. A ``LazyFrame`` must be collected
    first. Polars tells ``null`` (missing: an absent property) from ``NaN`` (a value: the
    row is rejected as ``non_finite_property``, as it would be from records).

    Example:
        >>> import datetime as dt
        >>> import polars as pl
        >>> import pqlkit as pk
        >>> df = pl.DataFrame({
        ...     "name": ["signup", "invite"], "user_id": ["u1", "u1"],
        ...     "timestamp": [dt.datetime(2026, 5, 1, 9), dt.datetime(2026, 5, 1, 10)],
        ... })
        >>> log = pk.EventLog.from_polars(df, tz="UTC")
        >>> len(log), log.report.counts["kept"]
        (2, 2)
    """
    pl = require("polars", "polars", "EventLog.from_polars()")
    pa = _pa("EventLog.from_polars()", "polars")
    if isinstance(df, pl.LazyFrame):
        raise PqlkitTypeError("from_polars takes a DataFrame; call .collect() on the LazyFrame")
    if not isinstance(df, pl.DataFrame):
        raise PqlkitTypeError(f"from_polars takes a polars DataFrame, got {type(df).__name__}")
    table, exact = _from_polars(pa, df)
    return _load_table(table, feature="from_polars", name=name, timestamp=timestamp,
                       user_id=user_id, account_id=account_id, event_id=event_id,
                       properties=properties, users=users, accounts=accounts, strict=strict,
                       tz=tz, epoch_unit=epoch_unit, future_tolerance=future_tolerance,
                       now=now, exact=exact)


def read_parquet(
    path: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    name: str = "name",
    timestamp: str = "timestamp",
    user_id: str | None = "user_id",
    account_id: str | None = _ACCOUNT,
    event_id: str | None = _EVENT_ID,
    properties: Columns = None,
    tz: str | tzinfo | None = None,
    epoch_unit: str | None = None,
    users: Any = None,
    accounts: Any = None,
    strict: bool = False,
    future_tolerance: str | timedelta | None = None,
    now: datetime | str | None = None,
) -> EventLog:
    """See :func:`pqlkit.io.read_parquet`."""
    from pqlkit._arrow import parquet_columns, parquet_parts, parts_files

    pa = _pa("pqlkit.io.read_parquet()")
    pq = require("pyarrow.parquet", "arrow", "pqlkit.io.read_parquet()")

    parts = parquet_parts(path, "pqlkit.io.read_parquet()")
    several = parts_files(parts) is not None
    columns = parquet_columns(parts)  # of every file: one may lack a newer column
    m = _mapping(list(columns), name=name, timestamp=timestamp, user_id=user_id,
                 account_id=account_id, event_id=event_id, properties=properties,
                 feature="read_parquet")
    ts_type = columns[m.timestamp]
    naive = pa.types.is_timestamp(ts_type) and ts_type.tz is None
    if not isinstance(path, (str, os.PathLike)) and not several:
        path = parts[0].source  # a file object, read once (into a buffer) already
    if not naive or several:
        return EventLog.from_parquet(
            path, name=m.name, timestamp=m.timestamp, user_id=m.user_id,
            account_id=m.account_id, event_id=m.event_id, properties=m.properties,
            users=_entities(users, "read_parquet users=", _USER_FIELDS),
            accounts=_entities(accounts, "read_parquet accounts=", _ACCOUNT_FIELDS), strict=strict, tz=tz,
            epoch_unit=epoch_unit, future_tolerance=future_tolerance, now=now)
    # A zone-less timestamp column of a single file is localised with the columns in hand.
    used = {m.name, m.timestamp, m.user_id, m.account_id, m.event_id,
            *m.properties.values()} - {None}
    source = pa.BufferReader(path) if isinstance(path, pa.Buffer) else path
    table = pq.read_table(source, columns=[c for c in columns if c in used])
    return _load_table(table, feature="read_parquet", name=m.name, timestamp=m.timestamp,
                       user_id=m.user_id, account_id=m.account_id, event_id=m.event_id,
                       properties=m.properties, users=users, accounts=accounts,
                       strict=strict, tz=tz, epoch_unit=epoch_unit,
                       future_tolerance=future_tolerance, now=now)
