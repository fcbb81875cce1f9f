"""The EventLog: the one internal form of event data that every engine reads.

Readers turn records, dicts (and, later, files and frames) into an EventLog; engines only
read it. Events are de-duplicated and sorted into a canonical order, so the same events in
any input order give the same columns, bit for bit. Entity tables are sorted by id.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta, tzinfo
from types import MappingProxyType
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from pqlkit._time import from_micros, to_micros
from pqlkit.errors import PqlkitTypeError, RejectedRowError, ValidationError
from pqlkit.records import (
    Account,
    EntityId,
    Event,
    FieldError,
    User,
    check_not_future,
    check_timestamp,
    future_limit,
)
from pqlkit.report import LoadReport

__all__ = ["NO_TIME", "EventLog"]

#: Sentinel in int64 time columns for "no timestamp" (a user without ``created_at``).
NO_TIME: Final = np.iinfo(np.int64).min
_EVENT_FIELDS: Final = frozenset({"name", "timestamp", "user_id", "account_id", "properties",
                                  "event_id"})
_USER_FIELDS: Final = frozenset({"user_id", "account_id", "traits", "created_at"})
_ACCOUNT_FIELDS: Final = frozenset({"account_id", "traits", "created_at"})

Int64Array = npt.NDArray[np.int64]
ObjArray = npt.NDArray[np.object_]

# A normalised event: (ts_us, name, user_id, account_id, event_id, properties, source).
_Row = tuple[int, str, EntityId | None, EntityId | None, EntityId | None, Mapping[str, Any],
             int | str]


def id_key(value: EntityId | None) -> tuple[int, Any]:
    """A sort key that orders ids of mixed types (None, then ints, then strings)."""
    if value is None:
        return (0, 0)
    if isinstance(value, int):
        return (1, value)
    return (2, value)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def canonical(mapping: Mapping[str, Any]) -> str:
    """A canonical text of a mapping, used to order rows that tie on everything else."""
    return json.dumps(_plain(mapping), sort_keys=True, separators=(",", ":"), default=repr)


def _order_key(row: _Row) -> tuple[Any, ...]:
    return (row[0], row[1], canonical(row[5]), id_key(row[2]), id_key(row[3]), id_key(row[4]))


def _same_payload(a: _Row, b: _Row) -> bool:
    return a[:5] == b[:5] and dict(a[5]) == dict(b[5])


def _strict_fail(report: LoadReport, strict: bool) -> None:
    if strict and report.rejections:
        r = report.rejections[-1]
        raise RejectedRowError(
            f"{r.table}[{r.source}] rejected ({r.reason}): {r.message}",
            reason=r.reason, source=r.source,
        )


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
                tz: str | tzinfo | None) -> User | Account:
    if isinstance(row, kind):
        return row
    if not isinstance(row, Mapping):
        raise FieldError(
            f"expected a {kind.__name__} or a mapping, got {type(row).__name__}",
            reason="not_a_mapping", field="",
        )
    _unknown_fields(row, allowed, kind.__name__.lower())
    fields = dict(row)
    # A row without its id is missing_identity, not an attrs "missing argument" TypeError.
    fields.setdefault(f"{kind.__name__.lower()}_id", None)
    if fields.get("created_at") is not None and tz is not None:
        fields["created_at"] = check_timestamp(fields["created_at"], "created_at", tz=tz)
    return kind(**fields)


class EventLog:
    """Sorted, de-duplicated, integer-coded event columns plus the user and account tables.

    Build one with :meth:`from_records` (or :meth:`concat` of several). Columns, in the
    canonical event order:

    - ``ts``: int64 microseconds since the epoch (UTC)
    - ``name_code``: int32 index into ``names`` (sorted event names)
    - ``user``: int64 index into ``user_ids`` (-1 when the event names no user)
    - ``account``: int64 index into ``account_ids`` of the account the event *names* (-1)
    - ``owner_account``: the account the event belongs to: the one it names, else its
      user's account in the users table (-1)
    - ``props``: one object column per property key (``None`` where absent)

    >>> log = EventLog.from_records([
    ...     {"name": "signup", "timestamp": "2026-05-01T09:00:00Z", "user_id": "u1"},
    ...     {"name": "signup", "timestamp": "2026-05-01T09:00:00Z", "user_id": "u1"},
    ... ])
    >>> len(log), log.report.counts
    (2, {'input': 2, 'kept': 2, 'duplicates': 0, 'rejected': 0})
    """

    ts: Int64Array
    name_code: npt.NDArray[np.int32]
    names: tuple[str, ...]
    user: Int64Array
    account: Int64Array
    owner_account: Int64Array
    event_id: ObjArray
    props: dict[str, ObjArray]
    user_ids: tuple[EntityId, ...]
    user_account: Int64Array
    user_created: Int64Array
    user_in_table: npt.NDArray[np.bool_]
    user_traits: tuple[Mapping[str, Any], ...]
    account_ids: tuple[EntityId, ...]
    account_created: Int64Array
    account_in_table: npt.NDArray[np.bool_]
    account_traits: tuple[Mapping[str, Any], ...]
    report: LoadReport
    _user_index: dict[EntityId, int]
    _account_index: dict[EntityId, int]
    _sources: list[int | str]

    def __init__(self) -> None:  # pragma: no cover - built by the constructors below
        raise PqlkitTypeError(
            "build an EventLog with EventLog.from_records(...) or EventLog.concat(...)"
        )

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
        """
        if isinstance(events, (str, bytes, Mapping)):
            raise PqlkitTypeError(
                f"events must be an iterable of Event records or dicts, got {type(events).__name__}"
            )
        report = LoadReport()
        rows: list[_Row] = []
        limit = future_limit(future_tolerance, now)
        report.add_input("events", 0)
        for i, raw in enumerate(events):
            report.add_input("events")
            try:
                ev = _event_row(raw, tz, epoch_unit)
                check_not_future(to_micros(ev.timestamp), limit)
            except (FieldError, ValidationError, TypeError) as exc:
                reason = getattr(exc, "reason", "invalid_record")
                report.reject("events", i, reason, str(exc), raw)
                _strict_fail(report, strict)
                continue
            # A None property is an absent one (as log.properties(i) reads it), so that
            # dedup, order and columns do not depend on how a row spelled "missing".
            props = MappingProxyType({k: v for k, v in ev.properties.items() if v is not None})
            rows.append((to_micros(ev.timestamp), ev.name, ev.user_id, ev.account_id,
                         ev.event_id, props, i))
        user_rows = cls._load_entities(users, "users", User, _USER_FIELDS, report, strict, tz)
        account_rows = cls._load_entities(
            accounts, "accounts", Account, _ACCOUNT_FIELDS, report, strict, tz
        )
        return cls._build(rows, user_rows, account_rows, report, strict)

    @staticmethod
    def _load_entities(
        rows: Iterable[Any] | None,
        table: str,
        kind: type[User] | type[Account],
        allowed: frozenset[str],
        report: LoadReport,
        strict: bool,
        tz: str | tzinfo | None,
    ) -> list[tuple[Any, int | str]]:
        out: list[tuple[Any, int | str]] = []
        if rows is None:
            return out
        if isinstance(rows, (str, bytes, Mapping)):
            raise PqlkitTypeError(
                f"{table} must be an iterable of {kind.__name__} records or dicts, "
                f"got {type(rows).__name__}"
            )
        report.add_input(table, 0)
        for i, raw in enumerate(rows):
            report.add_input(table)
            try:
                out.append((_entity_row(raw, kind, allowed, tz), i))
            except (FieldError, ValidationError, TypeError) as exc:
                report.reject(table, i, getattr(exc, "reason", "invalid_record"), str(exc), raw)
                _strict_fail(report, strict)
        return out

    @classmethod
    def concat(cls, logs: Sequence[EventLog], *, strict: bool = False) -> EventLog:
        """One log holding the events and entities of several (chunks of one load).

        Duplicates across the logs are found as within one load; the reports add up, each
        rejection's ``source`` prefixed with the position of its log (``"2:15"``).
        """
        logs = list(logs)
        if not logs or not all(isinstance(log, EventLog) for log in logs):
            raise PqlkitTypeError("EventLog.concat takes a non-empty sequence of EventLogs")
        report = LoadReport.merge(log.report for log in logs)
        # Rows already counted as kept are counted again by _build; take them back out.
        rows: list[_Row] = []
        users: list[tuple[Any, int | str]] = []
        accounts: list[tuple[Any, int | str]] = []
        for i, log in enumerate(logs):
            for ev in log._rows():
                rows.append((*ev[:6], f"{i}:{ev[6]}"))
            users.extend((u, f"{i}:{k}") for k, u in enumerate(log.users()))
            accounts.extend((a, f"{i}:{k}") for k, a in enumerate(log.accounts()))
        for table in ("events", "users", "accounts"):
            if table in report.tables:
                report.tables[table]["kept"] = 0
        return cls._build(rows, users, accounts, report, strict)

    @classmethod
    def _dedup_entities(
        cls, rows: list[tuple[Any, int | str]], table: str, id_field: str, report: LoadReport,
        strict: bool,
    ) -> dict[EntityId, Any]:
        groups: dict[EntityId, list[tuple[Any, int | str]]] = {}
        for rec, src in rows:
            groups.setdefault(getattr(rec, id_field), []).append((rec, src))
        out: dict[EntityId, Any] = {}
        for key, group in groups.items():
            group.sort(key=lambda rs: _entity_key(rs[0]))
            kept = group[0][0]
            out[key] = kept
            report.add_kept(table)
            for rec, src in group[1:]:
                if rec == kept:
                    report.add_duplicates(table)
                else:
                    report.reject(
                        table, src, "conflicting_duplicate",
                        f"{id_field} {key!r} appears more than once with different fields; "
                        f"kept the one from {table}[{group[0][1]}]", rec,
                    )
                    _strict_fail(report, strict)
        return out

    @classmethod
    def _build(
        cls,
        rows: list[_Row],
        user_rows: list[tuple[Any, int | str]],
        account_rows: list[tuple[Any, int | str]],
        report: LoadReport,
        strict: bool,
    ) -> EventLog:
        kept_rows = cls._dedup_events(rows, report, strict)
        users = cls._dedup_entities(user_rows, "users", "user_id", report, strict)
        accounts = cls._dedup_entities(account_rows, "accounts", "account_id", report, strict)

        user_set: set[EntityId] = set(users)
        account_set: set[EntityId] = set(accounts)
        for u in users.values():
            if u.account_id is not None:
                account_set.add(u.account_id)
        for r in kept_rows:
            if r[2] is not None:
                user_set.add(r[2])
            if r[3] is not None:
                account_set.add(r[3])

        self = object.__new__(cls)
        self.report = report
        self.user_ids = tuple(sorted(user_set, key=id_key))
        self.account_ids = tuple(sorted(account_set, key=id_key))
        uidx = {u: i for i, u in enumerate(self.user_ids)}
        aidx = {a: i for i, a in enumerate(self.account_ids)}
        self._user_index = uidx
        self._account_index = aidx

        nu = len(self.user_ids)
        self.user_account = np.full(nu, -1, dtype=np.int64)
        self.user_created = np.full(nu, NO_TIME, dtype=np.int64)
        self.user_in_table = np.zeros(nu, dtype=np.bool_)
        traits: list[Mapping[str, Any]] = [MappingProxyType({})] * nu
        for uid, urec in users.items():
            i = uidx[uid]
            self.user_in_table[i] = True
            traits[i] = urec.traits
            if urec.account_id is not None:
                self.user_account[i] = aidx[urec.account_id]
            if urec.created_at is not None:
                self.user_created[i] = to_micros(urec.created_at)
        self.user_traits = tuple(traits)

        na = len(self.account_ids)
        self.account_created = np.full(na, NO_TIME, dtype=np.int64)
        self.account_in_table = np.zeros(na, dtype=np.bool_)
        atraits: list[Mapping[str, Any]] = [MappingProxyType({})] * na
        for aid, arec in accounts.items():
            i = aidx[aid]
            self.account_in_table[i] = True
            atraits[i] = arec.traits
            if arec.created_at is not None:
                self.account_created[i] = to_micros(arec.created_at)
        self.account_traits = tuple(atraits)

        n = len(kept_rows)
        self.names = tuple(sorted({r[1] for r in kept_rows}))
        name_idx = {name: i for i, name in enumerate(self.names)}
        self.ts = np.fromiter((r[0] for r in kept_rows), dtype=np.int64, count=n)
        self.name_code = np.fromiter((name_idx[r[1]] for r in kept_rows), dtype=np.int32,
                                     count=n)
        self.user = np.fromiter((-1 if r[2] is None else uidx[r[2]] for r in kept_rows),
                                dtype=np.int64, count=n)
        self.account = np.fromiter((-1 if r[3] is None else aidx[r[3]] for r in kept_rows),
                                   dtype=np.int64, count=n)
        self.event_id = np.empty(n, dtype=object)
        self.event_id[:] = [r[4] for r in kept_rows]
        self._sources = [r[6] for r in kept_rows]
        keys = sorted({k for r in kept_rows for k in r[5]})
        self.props = {}
        for key in keys:
            col = np.empty(n, dtype=object)
            col[:] = [r[5].get(key) for r in kept_rows]
            self.props[key] = col
        # Masked, not np.where: with no users at all, user_account is empty.
        table_account = np.full(n, -1, dtype=np.int64)
        has_user = self.user >= 0
        table_account[has_user] = self.user_account[self.user[has_user]]
        self.owner_account = np.where(self.account >= 0, self.account, table_account)
        self._index_entities()
        return self

    @staticmethod
    def _dedup_events(rows: list[_Row], report: LoadReport, strict: bool) -> list[_Row]:
        groups: dict[EntityId, list[_Row]] = {}
        kept: list[_Row] = []
        for row in rows:
            if row[4] is None:
                kept.append(row)
            else:
                groups.setdefault(row[4], []).append(row)
        for event_id, group in groups.items():
            group.sort(key=_order_key)
            first = group[0]
            kept.append(first)
            for other in group[1:]:
                if _same_payload(first, other):
                    report.add_duplicates("events")
                else:
                    report.reject(
                        "events", other[6], "conflicting_duplicate",
                        f"event_id {event_id!r} is shared with a different event "
                        f"({first[1]!r} at {from_micros(first[0]).isoformat()}, "
                        f"from events[{first[6]}]); kept the earliest",
                        {"name": other[1], "timestamp": from_micros(other[0]).isoformat(),
                         "user_id": other[2], "account_id": other[3],
                         "properties": dict(other[5])},
                    )
                    _strict_fail(report, strict)
        kept.sort(key=_order_key)
        report.add_kept("events", len(kept))
        return kept

    def _index_entities(self) -> None:
        # Per-entity event lists in canonical order (CSR): order[offsets[i]:offsets[i+1]].
        def csr(owner: Int64Array, n: int) -> tuple[Int64Array, Int64Array]:
            order = np.argsort(owner, kind="stable")
            counts = np.bincount(owner[owner >= 0], minlength=n)
            offsets = np.zeros(n + 1, dtype=np.int64)
            np.cumsum(counts, out=offsets[1:])
            start = int(np.searchsorted(owner[order], 0))
            return order[start:].astype(np.int64), offsets

        self.user_order, self.user_offsets = csr(self.user, len(self.user_ids))
        self.account_order, self.account_offsets = csr(self.owner_account, len(self.account_ids))

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
        return from_micros(int(self.ts.max())) if len(self) else None

    def user_index(self, user_id: EntityId) -> int:
        """The row of ``user_id`` in the user table (KeyError when unknown)."""
        return self._user_index[user_id]

    def account_index(self, account_id: EntityId) -> int:
        """The row of ``account_id`` in the account table (KeyError when unknown)."""
        return self._account_index[account_id]

    def user_events(self, i: int) -> Int64Array:
        """Indices of user row ``i``'s events, in canonical (time) order."""
        return self.user_order[self.user_offsets[i]:self.user_offsets[i + 1]]

    def account_events(self, i: int) -> Int64Array:
        """Indices of the events belonging to account row ``i``, in canonical order."""
        return self.account_order[self.account_offsets[i]:self.account_offsets[i + 1]]

    def prop(self, key: str, i: int) -> Any:
        """Property ``key`` of event ``i`` (None when absent)."""
        col = self.props.get(key)
        return None if col is None else col[i]

    def properties(self, i: int) -> dict[str, Any]:
        """All properties of event ``i``."""
        return {k: col[i] for k, col in self.props.items() if col[i] is not None}

    def event(self, i: int) -> Event:
        """Event ``i`` as a record."""
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

    def _rows(self) -> Iterator[_Row]:
        for i in range(len(self)):
            u, a = int(self.user[i]), int(self.account[i])
            yield (int(self.ts[i]), self.names[self.name_code[i]],
                   None if u < 0 else self.user_ids[u], None if a < 0 else self.account_ids[a],
                   self.event_id[i], MappingProxyType(self.properties(i)), self._sources[i])

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
        user_id: str = "user_id",
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
        user_id: str = "user_id",
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


def _entity_key(rec: User | Account) -> tuple[Any, ...]:
    created = to_micros(rec.created_at) if rec.created_at is not None else NO_TIME
    return (created, canonical(rec.traits), id_key(getattr(rec, "account_id", None)))

