"""Test helpers for pqlkit and its plugins: strategies, result comparison, a signal check.

pqlkit's own property tests draw their data and models from the strategies here, and a team
runs :func:`check_signal` on its custom signals, so plugins are tested the way the built-ins
are. Needs the ``test`` extra (``pip install 'pqlkit[test]'``); ``import pqlkit`` never
imports this module.

Example:
    >>> from hypothesis import given, settings
    >>> import pqlkit as pk
    >>> from pqlkit.testing import event_logs
    >>> @settings(max_examples=5, database=None)
    ... @given(event_logs())
    ... def test_every_row_is_accounted_for(rows):
    ...     events, users, accounts = rows
    ...     log = pk.EventLog.from_records(events, users=users, accounts=accounts)
    ...     c = log.report.counts
    ...     assert c["input"] == c["kept"] + c["duplicates"] + c["rejected"]
    >>> test_every_row_is_accounted_for()
"""

from __future__ import annotations

import functools
import math
import numbers
import operator
import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from typing import Any, Final, Literal, cast

import attrs
import numpy as np

from pqlkit._optional import require
from pqlkit._time import Duration, from_micros, to_micros, to_utc
from pqlkit.engine import resolve_as_of
from pqlkit.engine.reference import EntityContext, ReferenceEngine
from pqlkit.errors import PqlkitTypeError, ValidationError
from pqlkit.eventlog import EventLog, id_key
from pqlkit.expr import (
    Expr,
    active_days,
    active_users,
    count,
    days_since_first,
    days_since_last,
    distinct,
    distinct_users,
    exists,
    first_seen,
    last_seen,
    prop,
    total,
    trait,
)
from pqlkit.model import (
    ROLLUP_SCORES,
    Decay,
    HalfLife,
    InactivityDecay,
    ResetAfter,
    Rollup,
    Rule,
    ScoringModel,
)
from pqlkit.records import Account, EntityId, Event, User
from pqlkit.results import Explanation, RollupExplanation, ScoreResult, Table

try:
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import strategies as st
    from hypothesis.strategies import SearchStrategy
except ImportError:  # pragma: no cover - exercised by a test that hides hypothesis
    require("hypothesis", "test", "pqlkit.testing")
    raise

__all__ = [
    "ACCOUNT_IDS",
    "EVENT_IDS",
    "EVENT_NAMES",
    "MAX_TIMESTAMP",
    "MIN_TIMESTAMP",
    "USER_IDS",
    "accounts",
    "assert_explanations_equal",
    "assert_results_equal",
    "check_signal",
    "conditions",
    "decays",
    "durations",
    "event_logs",
    "event_names",
    "events",
    "junk_rows",
    "models",
    "respelled",
    "scoring_cases",
    "signals",
    "spellings",
    "timestamps",
    "users",
    "zones",
]

Level = Literal["user", "account"]
_LEVELS: Final[tuple[Level, ...]] = ("user", "account")
Rows = tuple[list[Any], list[Any], list[Any]]

#: Event names the strategies draw from: few, so that signals and events meet often.
EVENT_NAMES: Final = (
    "project_created", "teammate_invited", "pricing_viewed", "message_sent", "signup",
)
#: User ids the strategies draw from: few, and of both id types, so entities collide.
USER_IDS: Final[tuple[EntityId, ...]] = ("u1", "u2", "u3", "u4", 5)
#: Account ids the strategies draw from.
ACCOUNT_IDS: Final[tuple[EntityId, ...]] = ("a1", "a2", "a3", 4)
#: Event ids the strategies draw from, so that duplicates and conflicts happen.
EVENT_IDS: Final[tuple[EntityId, ...]] = ("e1", "e2", "e3", 4)
#: The default range of generated timestamps (two months, so windows of days matter).
MIN_TIMESTAMP: Final = datetime(2026, 1, 1, tzinfo=UTC)
MAX_TIMESTAMP: Final = datetime(2026, 3, 1, tzinfo=UTC)

_PLANS: Final = ("free", "pro", "team")
_PAGES: Final = ("/pricing", "/docs", "/home")
_FEATURES: Final = ("automations", "integrations", "api")
_ROLES: Final = ("admin", "member", "owner")
_EMAILS: Final = ("ann@acme.com", "bob@uni.edu", "cy@rival.io", "Di@Acme.COM", "ed@STATE.EDU")
_INDUSTRIES: Final = ("saas", "retail", "finance")
_FIXED_DURATIONS: Final = ("12h", "1d", "3d", "7d", "14d", "2w", "30d")
_ZONE_NAMES: Final = (
    "Europe/Paris", "America/New_York", "Asia/Kolkata", "Asia/Kathmandu",
    "Australia/Lord_Howe", "Pacific/Chatham", "America/St_Johns", "Pacific/Kiritimati",
)
_HOUR_US: Final = 3_600_000_000
_EMPTY_ID: Final = "__check_signal_no_events__"


def _iana_zones() -> list[tzinfo]:
    out: list[tzinfo] = []
    for name in _ZONE_NAMES:
        try:
            out.append(zoneinfo.ZoneInfo(name))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):  # pragma: no cover - no tz data
            continue
    return out


def _check_aware(where: str, value: Any) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(f"{where} must be an aware datetime, got {value!r}")
    return value


def _check_count(where: str, name: str, value: Any, *, low: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValidationError(f"{where}: {name} must be a whole number >= {low}, got {value!r}")
    return value


def _check_level(where: str, value: Any) -> Level:
    if value not in ("user", "account"):
        raise ValidationError(f"{where}: level must be 'user' or 'account', got {value!r}")
    return value  # type: ignore[no-any-return]


# -- time ------------------------------------------------------------------------------------


def zones() -> SearchStrategy[tzinfo]:
    """Time zones: UTC, fixed offsets from -12:00 to +14:00, and a few awkward IANA zones.

    Returns:
        A strategy of ``tzinfo`` objects (IANA zones only where the system has tz data).

    Example:
        >>> from hypothesis import find
        >>> find(zones(), lambda z: True)
        datetime.timezone.utc
    """
    return _zone_strategy()


# Strategies are built once per set of arguments and reused: building them inside every
# draw costs more than the draws themselves.
_cache = functools.cache


@_cache
def _zone_strategy() -> SearchStrategy[tzinfo]:
    offsets = st.integers(-48, 56).map(lambda q: timezone(timedelta(minutes=15 * q)))
    named = _iana_zones()
    options: list[SearchStrategy[tzinfo]] = [st.just(UTC), offsets]
    if named:
        options.append(st.sampled_from(named))
    return st.one_of(options)


def timestamps(*, min_value: datetime = MIN_TIMESTAMP, max_value: datetime = MAX_TIMESTAMP,
               zones: bool = False) -> SearchStrategy[datetime]:
    """Aware datetimes between ``min_value`` and ``max_value`` (both included).

    Half of them fall on whole hours so that events often share a timestamp; the rest
    have microseconds.

    Args:
        min_value: the earliest instant (aware).
        max_value: the latest instant (aware).
        zones: when True, each instant is expressed in a random zone (same instant,
            other spelling); otherwise in UTC.

    Returns:
        A strategy of aware ``datetime`` objects.

    Raises:
        ValidationError: a bound is naive or ``min_value`` is after ``max_value``.

    Example:
        >>> from hypothesis import find
        >>> find(timestamps(), lambda t: True)
        datetime.datetime(2026, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)
    """
    lo = to_micros(_check_aware("timestamps(min_value=...)", min_value))
    hi = to_micros(_check_aware("timestamps(max_value=...)", max_value))
    if lo > hi:
        raise ValidationError(
            f"timestamps(min_value={min_value!r}, max_value={max_value!r}): min_value is "
            "after max_value"
        )
    return _timestamp_strategy(lo, hi, zones)


@_cache
def _timestamp_strategy(lo: int, hi: int, zones: bool) -> SearchStrategy[datetime]:
    grid = st.integers(0, (hi - lo) // _HOUR_US).map(lambda k: lo + k * _HOUR_US)
    micros = st.one_of(grid, st.integers(lo, hi))
    utc = micros.map(from_micros)
    if not zones:
        return utc
    return st.tuples(utc, _zone_strategy()).map(lambda pair: pair[0].astimezone(pair[1]))


def _spell(moment: datetime, zone: tzinfo, style: str) -> datetime | str:
    local = moment.astimezone(zone)
    if style == "datetime":
        return local
    if style == "iso":
        return local.isoformat()
    if style == "iso-space":
        return local.isoformat(sep=" ")
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def spellings(moment: datetime) -> SearchStrategy[datetime | str]:
    """The same instant written other ways: in other zones, as ISO-8601 text with an offset.

    Args:
        moment: an aware datetime.

    Returns:
        A strategy of aware datetimes and ISO-8601 strings that all denote ``moment``.

    Raises:
        ValidationError: ``moment`` is naive.

    Example:
        >>> from hypothesis import given, settings
        >>> from pqlkit._time import to_utc
        >>> moment = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
        >>> @settings(max_examples=10, database=None)
        ... @given(spellings(moment))
        ... def test_same_instant(spelled):
        ...     assert to_utc(spelled) == moment
        >>> test_same_instant()
    """
    _check_aware("spellings(moment)", moment)
    return _spelling_parts().map(lambda zs: _spell(moment, zs[0], zs[1]))


@_cache
def _spelling_parts() -> SearchStrategy[tuple[tzinfo, str]]:
    styles = st.sampled_from(("datetime", "iso", "iso-space", "zulu"))
    return st.tuples(_zone_strategy(), styles)


def _time_field(row: Any) -> str | None:
    if isinstance(row, (Event, Mapping)) and _get(row, "timestamp") is not None:
        return "timestamp"
    if isinstance(row, (User, Account, Mapping)) and _get(row, "created_at") is not None:
        return "created_at"
    return None


def _get(row: Any, key: str) -> Any:
    if isinstance(row, Mapping):
        return row.get(key)
    return getattr(row, key, None)


def _respell_row(row: Any) -> SearchStrategy[Any]:
    key = _time_field(row)
    if key is None:
        return st.just(row)
    try:
        moment = to_utc(_get(row, key))
    except (ValidationError, TypeError):
        return st.just(row)  # a junk timestamp stays as it is
    if isinstance(row, Mapping):
        return spellings(moment).map(lambda s: {**row, key: s})
    return spellings(moment).map(lambda s: attrs.evolve(row, **{key: s}))


def respelled(rows: Sequence[Any]) -> SearchStrategy[list[Any]]:
    """The same rows with every ``timestamp`` and ``created_at`` spelled another way.

    Each valid timestamp is rewritten as the same instant in another zone or as ISO-8601
    text (see :func:`spellings`); records are rebuilt with :func:`attrs.evolve`; rows whose
    timestamp is missing or invalid are left as they are.

    Args:
        rows: event, user or account rows (dicts or records).

    Returns:
        A strategy of lists, row for row the same data as ``rows``.

    Example:
        >>> from hypothesis import find
        >>> row = {"name": "signup", "timestamp": MIN_TIMESTAMP, "user_id": "u1"}
        >>> find(respelled([row]), lambda rows: isinstance(rows[0]["timestamp"], str))
        [{'name': 'signup', 'timestamp': '2026-01-01T00:00:00+00:00', 'user_id': 'u1'}]
    """
    if isinstance(rows, (str, bytes, Mapping)):
        raise PqlkitTypeError(f"respelled(rows) takes a list of rows, got {rows!r}")
    return st.tuples(*(_respell_row(row) for row in rows)).map(list)


def durations(*, calendar: bool = False) -> SearchStrategy[str | timedelta]:
    """Durations as pqlkit accepts them: strings like ``'14d'`` and ``timedelta`` values.

    Args:
        calendar: also draw calendar spans (``'1mo'``), which only windows accept.

    Returns:
        A strategy of duration strings and positive ``timedelta`` values.

    Example:
        >>> from hypothesis import find
        >>> find(durations(), lambda d: True)
        '12h'
    """
    return _duration_strategy(calendar)


@_cache
def _duration_strategy(calendar: bool) -> SearchStrategy[str | timedelta]:
    texts = _FIXED_DURATIONS + (("1mo", "2mo") if calendar else ())
    spans = st.integers(1, 30 * 24).map(lambda h: timedelta(hours=h))
    return st.one_of(st.sampled_from(texts), spans)


# -- data ------------------------------------------------------------------------------------


def event_names() -> SearchStrategy[str]:
    """Event names from the small pool :data:`EVENT_NAMES`, so signals and events meet.

    Example:
        >>> from hypothesis import find
        >>> find(event_names(), lambda n: True)
        'project_created'
    """
    return _NAMES


_NAMES: Final = st.sampled_from(EVENT_NAMES)
_MAYBE_NAME: Final = st.one_of(st.none(), _NAMES)


@_cache
def _properties() -> SearchStrategy[dict[str, Any]]:
    numbers_ = st.one_of(
        st.integers(-5, 50),
        st.floats(-5, 100, allow_nan=False, allow_infinity=False),
        st.none(),
        st.just("7"),
    )
    return st.fixed_dictionaries({}, optional={
        "plan": st.sampled_from((*_PLANS, None)),
        "page": st.sampled_from(_PAGES),
        "count": numbers_,
        "feature": st.sampled_from(_FEATURES),
        "flags": st.lists(st.sampled_from(("beta", "sso")), max_size=2),
    })


_WHO: Final = st.sampled_from(("user", "user", "both", "account"))
_USER_ID: Final = st.sampled_from(USER_IDS)
_ACCOUNT_ID: Final = st.sampled_from(ACCOUNT_IDS)
_MAYBE_ACCOUNT_ID: Final = st.one_of(st.none(), _ACCOUNT_ID)
_MAYBE_EVENT_ID: Final = st.one_of(st.none(), st.sampled_from(EVENT_IDS))


@st.composite
def _events(draw: st.DrawFn, *, as_records: bool, zones: bool, event_ids: bool,
            times: SearchStrategy[datetime]) -> dict[str, Any] | Event:
    who = draw(_WHO)
    row: dict[str, Any] = {"name": draw(_NAMES), "timestamp": draw(times)}
    if who in ("user", "both"):
        row["user_id"] = draw(_USER_ID)
    if who in ("account", "both"):
        row["account_id"] = draw(_ACCOUNT_ID)
    props: dict[str, Any] = draw(_properties())
    keep_empty: bool = draw(st.booleans())
    if props or keep_empty:
        row["properties"] = props
    if event_ids:
        event_id = draw(_MAYBE_EVENT_ID)
        if event_id is not None:
            row["event_id"] = event_id
    if as_records:
        return Event(**row)
    if zones and draw(st.booleans()):
        row["timestamp"] = row["timestamp"].isoformat()
    return row


def events(*, as_records: bool = False, zones: bool = False, event_ids: bool = True,
           min_value: datetime = MIN_TIMESTAMP, max_value: datetime = MAX_TIMESTAMP,
           ) -> SearchStrategy[dict[str, Any] | Event]:
    """Valid events, as dict rows or :class:`~pqlkit.Event` records.

    Users, accounts and event ids come from small pools (:data:`USER_IDS`,
    :data:`ACCOUNT_IDS`, :data:`EVENT_IDS`), so entities share events and duplicates and
    conflicting duplicates happen. Properties are drawn from ``plan``, ``page``, ``count``
    (numbers, sometimes None or a numeric string), ``feature`` and ``flags`` (a list).

    Args:
        as_records: build ``pk.Event`` records instead of dicts.
        zones: spell timestamps in random zones, and in dicts sometimes as ISO-8601 text.
        event_ids: give about half the events an ``event_id`` from the pool.
        min_value: the earliest timestamp.
        max_value: the latest timestamp.

    Returns:
        A strategy of event rows.

    Example:
        >>> from hypothesis import find
        >>> find(events(), lambda e: True)
        {'name': 'project_created', 'timestamp': datetime.datetime(2026, 1, 1, 0, 0, tzinfo=datetime.timezone.utc), 'user_id': 'u1'}
    """
    times = timestamps(min_value=min_value, max_value=max_value, zones=zones)
    return _event_strategy(as_records, zones, event_ids, times)


@_cache
def _event_strategy(as_records: bool, zones: bool, event_ids: bool,
                    times: SearchStrategy[datetime]) -> SearchStrategy[dict[str, Any] | Event]:
    return _events(as_records=as_records, zones=zones, event_ids=event_ids, times=times)


@_cache
def _user_traits() -> SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional={
        "role": st.sampled_from(_ROLES),
        "email": st.sampled_from(_EMAILS),
        "plan": st.sampled_from(_PLANS),
        "employees": st.sampled_from((1, 10, 50, 500)),
    })


@_cache
def _account_traits() -> SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional={
        "plan": st.sampled_from(_PLANS),
        "employees": st.sampled_from((1, 10, 50, 500)),
        "industry": st.sampled_from(_INDUSTRIES),
    })


@st.composite
def _users(draw: st.DrawFn, *, as_records: bool,
           times: SearchStrategy[datetime | None]) -> dict[str, Any] | User:
    row: dict[str, Any] = {"user_id": draw(_USER_ID)}
    account_id = draw(_MAYBE_ACCOUNT_ID)
    if account_id is not None:
        row["account_id"] = account_id
    traits = draw(_user_traits())
    if traits:
        row["traits"] = traits
    created = draw(times)
    if created is not None:
        row["created_at"] = created
    return User(**row) if as_records else row


def users(*, as_records: bool = False, zones: bool = False,
          min_value: datetime = MIN_TIMESTAMP, max_value: datetime = MAX_TIMESTAMP,
          ) -> SearchStrategy[dict[str, Any] | User]:
    """Valid users, as dict rows or :class:`~pqlkit.User` records.

    Ids come from :data:`USER_IDS` (so one id may appear twice, identical or conflicting),
    accounts from :data:`ACCOUNT_IDS` or none; traits from ``role``, ``email`` (including
    ``.edu`` and a competitor's domain), ``plan`` and ``employees``; ``created_at`` is
    often absent.

    Args:
        as_records: build ``pk.User`` records instead of dicts.
        zones: spell ``created_at`` in random zones.
        min_value: the earliest ``created_at``.
        max_value: the latest ``created_at``.

    Returns:
        A strategy of user rows.

    Example:
        >>> from hypothesis import find
        >>> find(users(), lambda u: True)
        {'user_id': 'u1'}
    """
    times = timestamps(min_value=min_value, max_value=max_value, zones=zones)
    return _user_strategy(as_records, times)


@_cache
def _maybe(strategy: SearchStrategy[datetime]) -> SearchStrategy[datetime | None]:
    return st.one_of(st.none(), strategy)


@_cache
def _user_strategy(as_records: bool, times: SearchStrategy[datetime]
                   ) -> SearchStrategy[dict[str, Any] | User]:
    return _users(as_records=as_records, times=_maybe(times))


@st.composite
def _accounts(draw: st.DrawFn, *, as_records: bool,
              times: SearchStrategy[datetime | None]) -> dict[str, Any] | Account:
    row: dict[str, Any] = {"account_id": draw(_ACCOUNT_ID)}
    traits = draw(_account_traits())
    if traits:
        row["traits"] = traits
    created = draw(times)
    if created is not None:
        row["created_at"] = created
    return Account(**row) if as_records else row


def accounts(*, as_records: bool = False, zones: bool = False,
             min_value: datetime = MIN_TIMESTAMP, max_value: datetime = MAX_TIMESTAMP,
             ) -> SearchStrategy[dict[str, Any] | Account]:
    """Valid accounts, as dict rows or :class:`~pqlkit.Account` records.

    Args:
        as_records: build ``pk.Account`` records instead of dicts.
        zones: spell ``created_at`` in random zones.
        min_value: the earliest ``created_at``.
        max_value: the latest ``created_at``.

    Returns:
        A strategy of account rows (ids from :data:`ACCOUNT_IDS`; traits ``plan``,
        ``employees``, ``industry``; ``created_at`` often absent).

    Example:
        >>> from hypothesis import find
        >>> find(accounts(), lambda a: True)
        {'account_id': 'a1'}
    """
    times = timestamps(min_value=min_value, max_value=max_value, zones=zones)
    return _account_strategy(as_records, times)


@_cache
def _account_strategy(as_records: bool, times: SearchStrategy[datetime]
                      ) -> SearchStrategy[dict[str, Any] | Account]:
    return _accounts(as_records=as_records, times=_maybe(times))


_GOOD_EVENT: Final[dict[str, Any]] = {
    "name": "signup", "timestamp": "2026-01-05T10:00:00Z", "user_id": "u1",
}
_BAD_EVENT_FIELDS: Final[dict[str, tuple[Any, ...]]] = {
    "name": (None, "", 5, "bad\x00name", "x" * 201),
    "timestamp": (
        None, "", "2026-02-01 10:00", datetime(2026, 2, 1, 10), 1_767_225_600, True,
        "not a time", "2026-13-45T00:00:00Z", float("nan"), date(2026, 2, 1),
    ),
    "user_id": (True, 1.5, [], ""),
    "properties": (
        "plan=pro", [1, 2], {"n": float("nan")}, {"n": float("inf")}, {1: "x"}, {"": 1},
        {"x": b"raw"}, {"x": {"y": float("-inf")}}, {"x": np.float64("nan")},
    ),
    "event_id": (1.5, True, []),
}
_BAD_USER_FIELDS: Final[dict[str, tuple[Any, ...]]] = {
    "user_id": (None, "", True, 2.5),
    "account_id": (False, 1.5),
    "traits": ("role=admin", {"score": float("nan")}, {3: "x"}),
    "created_at": ("2026-01-01", datetime(2026, 1, 1), "yesterday", 1_767_225_600),
}
_BAD_ACCOUNT_FIELDS: Final[dict[str, tuple[Any, ...]]] = {
    "account_id": (None, "", True, 2.5),
    "traits": (["plan"], {"employees": float("inf")}),
    "created_at": ("2026-01-01T00:00", datetime(2026, 1, 1)),
}
_NOT_ROWS: Final[tuple[Any, ...]] = (None, 42, "name,timestamp,user_id", ["signup"], ("x",))


@_cache
@st.composite
def _junk(draw: st.DrawFn, table: str) -> Any:
    if table == "events":
        good, bad = _GOOD_EVENT, _BAD_EVENT_FIELDS
    elif table == "users":
        good, bad = {"user_id": "u9", "traits": {"role": "admin"}}, _BAD_USER_FIELDS
    else:
        good, bad = {"account_id": "a9"}, _BAD_ACCOUNT_FIELDS
    how = draw(st.sampled_from(("field", "field", "missing", "unknown", "not_a_row")))
    if how == "not_a_row":
        return draw(st.sampled_from(_NOT_ROWS))
    row = dict(good)
    if how == "unknown":
        row[draw(st.sampled_from(("timestmp", "userId", "extra")))] = 1
        return row
    if how == "missing":
        del row[draw(st.sampled_from(sorted(k for k in good if k != "traits")))]
        return row
    key = draw(st.sampled_from(sorted(bad)))
    row[key] = draw(st.sampled_from(bad[key]))
    return row


def junk_rows(table: Literal["events", "users", "accounts"] = "events") -> SearchStrategy[Any]:
    """Rows a load must reject: wrong types, NaN, naive timestamps, missing or unknown fields.

    Every row drawn is invalid for ``table`` (an event without a zone, a user whose id is a
    float, a row that is not a mapping at all …), so a load reports it as rejected.

    Args:
        table: ``"events"``, ``"users"`` or ``"accounts"``.

    Returns:
        A strategy of invalid rows.

    Example:
        >>> from hypothesis import given, settings
        >>> import pqlkit as pk
        >>> @settings(max_examples=10, database=None)
        ... @given(junk_rows())
        ... def test_rejected(row):
        ...     assert pk.EventLog.from_records([row]).report.counts["rejected"] == 1
        >>> test_rejected()
    """
    if table not in ("events", "users", "accounts"):
        raise ValidationError(
            f"junk_rows(table={table!r}): table must be 'events', 'users' or 'accounts'"
        )
    return _junk(table)


@st.composite
def _event_logs(draw: st.DrawFn, *, event_lists: SearchStrategy[list[Any]],
                user_lists: SearchStrategy[list[Any]],
                account_lists: SearchStrategy[list[Any]], junk: bool) -> Rows:
    ev, us, ac = draw(event_lists), draw(user_lists), draw(account_lists)
    if junk:
        ev = draw(st.permutations(ev + draw(_JUNK_LISTS["events"])))
        us = draw(st.permutations(us + draw(_JUNK_LISTS["users"])))
        ac = draw(st.permutations(ac + draw(_JUNK_LISTS["accounts"])))
    return list(ev), list(us), list(ac)


_JUNK_LISTS: Final = {
    "events": st.lists(_junk("events"), max_size=6),
    "users": st.lists(_junk("users"), max_size=2),
    "accounts": st.lists(_junk("accounts"), max_size=2),
}


@_cache
def _event_log_strategy(min_events: int, max_events: int, max_users: int, max_accounts: int,
                        as_records: bool, zones: bool, event_ids: bool, junk: bool,
                        min_value: datetime, max_value: datetime) -> SearchStrategy[Rows]:
    return _event_logs(
        event_lists=st.lists(events(as_records=as_records, zones=zones, event_ids=event_ids,
                                    min_value=min_value, max_value=max_value),
                             min_size=min_events, max_size=max_events),
        user_lists=st.lists(users(as_records=as_records, zones=zones, min_value=min_value,
                                  max_value=max_value), max_size=max_users),
        account_lists=st.lists(accounts(as_records=as_records, zones=zones,
                                        min_value=min_value, max_value=max_value),
                               max_size=max_accounts),
        junk=junk,
    )


def event_logs(*, min_events: int = 0, max_events: int = 20, max_users: int = 5,
               max_accounts: int = 4, as_records: bool = False, zones: bool = False,
               event_ids: bool = True, junk: bool = False,
               min_value: datetime = MIN_TIMESTAMP, max_value: datetime = MAX_TIMESTAMP,
               ) -> SearchStrategy[Rows]:
    """Whole loads: ``(events, users, accounts)`` ready for :meth:`EventLog.from_records`.

    Draws :func:`events`, :func:`users` and :func:`accounts` over the same id pools, so
    users appear both in the table and in events, accounts are named by events and by
    users, and ids repeat.

    Args:
        min_events: the fewest valid events.
        max_events: the most valid events.
        max_users: the most user rows.
        max_accounts: the most account rows.
        as_records: records instead of dicts (junk rows stay junk).
        zones: spell timestamps in random zones (and in dicts sometimes as text).
        event_ids: give about half the events an ``event_id`` from a small pool.
        junk: mix in rows that must be rejected (:func:`junk_rows`) at random positions.
        min_value: the earliest timestamp.
        max_value: the latest timestamp.

    Returns:
        A strategy of ``(events, users, accounts)`` lists.

    Example:
        >>> from hypothesis import find
        >>> find(event_logs(min_events=1), lambda rows: True)  # doctest: +ELLIPSIS
        ([{'name': 'project_created', ...}], [], [])
    """
    where = "event_logs(...)"
    _check_count(where, "min_events", min_events)
    _check_count(where, "max_events", max_events)
    _check_count(where, "max_users", max_users)
    _check_count(where, "max_accounts", max_accounts)
    if min_events > max_events:
        raise ValidationError(
            f"event_logs(min_events={min_events}, max_events={max_events}): min_events is "
            "above max_events"
        )
    _check_aware("event_logs(min_value=...)", min_value)
    _check_aware("event_logs(max_value=...)", max_value)
    return _event_log_strategy(min_events, max_events, max_users, max_accounts, as_records,
                               zones, event_ids, junk, min_value, max_value)


# -- models ----------------------------------------------------------------------------------


def decays() -> SearchStrategy[Decay]:
    """The built-in decays with random parameters: inactivity, half-life, reset.

    Example:
        >>> from datetime import timedelta
        >>> from hypothesis import given, settings
        >>> @settings(max_examples=10, database=None)
        ... @given(decays())
        ... def test_a_decay_never_adds_value(decay):
        ...     assert decay.apply(10.0, timedelta(days=3)) <= 10.0
        >>> test_a_decay_never_adds_value()
    """
    return _decay_strategy()


@_cache
def _decay_strategy() -> SearchStrategy[Decay]:
    points = st.one_of(st.integers(1, 10), st.floats(0.5, 10, allow_nan=False))
    return st.one_of(
        st.builds(InactivityDecay, points=points, every=durations(),
                  grace=st.one_of(st.none(), durations())),
        st.builds(HalfLife, durations()),
        st.builds(ResetAfter, durations()),
    )


@_cache
def _maybe_decay() -> SearchStrategy[Decay | None]:
    return st.one_of(st.none(), _decay_strategy())


@_cache
def _filters(depth: int = 1) -> SearchStrategy[Expr]:
    base: SearchStrategy[Expr] = st.one_of(
        st.sampled_from(_PLANS).map(lambda v: prop("plan") == v),
        st.just(prop("page").isin(["/pricing", "/docs"])),
        st.integers(0, 10).map(lambda n: prop("count") >= n),
        st.just(prop("feature").is_missing()),
        st.just(prop("page").startswith("/p")),
    )
    if depth <= 0:
        return base
    inner = _filters(depth - 1)
    return st.one_of(
        base,
        st.tuples(inner, inner).map(lambda ab: ab[0] & ab[1]),
        st.tuples(inner, inner).map(lambda ab: ab[0] | ab[1]),
        inner.map(lambda a: ~a),
    )


@_cache
@st.composite
def _window(draw: st.DrawFn, *, since_signup: bool = True) -> dict[str, Any]:
    kw: dict[str, Any] = {}
    if draw(st.booleans()):
        kw["within"] = draw(durations(calendar=True))
    if since_signup and draw(st.integers(0, 3)) == 0:
        kw["since_signup"] = draw(durations(calendar=True))
    if draw(st.booleans()):
        kw["where"] = draw(_filters())
    return kw


_COMPARISONS: Final[dict[str, Callable[[Any, Any], Any]]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
    "==": operator.eq, "!=": operator.ne,
}
_INTEGER_SIGNALS: Final = ("count", "active_days", "distinct")
_FLOAT_SIGNALS: Final = ("total", "days_since_last", "days_since_first", "arith")


@_cache
@st.composite
def _signals(draw: st.DrawFn, *, level: Level, integer_valued: bool, decay: bool,
             depth: int = 1) -> Expr:
    options = list(_INTEGER_SIGNALS)
    if not integer_valued:
        options += _FLOAT_SIGNALS if depth > 0 else _FLOAT_SIGNALS[:-1]
    if level == "account":
        options.append("distinct_users")
    which = draw(st.sampled_from(options))
    name = draw(_MAYBE_NAME)
    kw = draw(_window())
    event_decay = (draw(_maybe_decay())
                   if decay and not integer_valued else None)
    if which == "count":
        return count(name, decay=event_decay, **kw)
    if which == "active_days":
        return active_days(name, **kw)
    if which == "distinct":
        return distinct(draw(st.sampled_from(("page", "plan", "feature"))), of=name, **kw)
    if which == "total":
        return total("count", of=name, decay=event_decay, **kw)
    if which == "days_since_last":
        return days_since_last(name, **kw)
    if which == "days_since_first":
        return days_since_first(name, **kw)
    if which == "distinct_users":
        if name is None and draw(st.booleans()):
            return active_users(within=draw(durations()))
        return distinct_users(name, **kw)
    left = draw(_signals(level=level, integer_valued=False, decay=decay, depth=depth - 1))
    op = draw(st.sampled_from(("+", "-", "*", "/")))
    # (Dividing by a literal 0 is refused: it is always missing. A signal may still be 0.)
    right: Any = draw(st.one_of(
        _signals(level=level, integer_valued=False, decay=decay, depth=depth - 1),
        st.integers(-3, 5).filter(lambda k: op != "/" or k != 0),
    ))
    built: Expr = {"+": operator.add, "-": operator.sub, "*": operator.mul,
                   "/": operator.truediv}[op](left, right)
    return built


def signals(*, level: Level = "user", integer_valued: bool = False,
            decay: bool = True) -> SearchStrategy[Expr]:
    """Numeric signals built from the built-ins, with random windows and filters.

    Draws ``count``, ``active_days``, ``distinct``, ``total``, ``days_since_last``,
    ``days_since_first``, arithmetic on them and, at account level, ``distinct_users``
    and ``active_users``, each with an optional event name from :data:`EVENT_NAMES`,
    ``within=``, ``since_signup=`` and a ``where=prop(...)`` filter.

    Args:
        level: ``"user"`` or ``"account"`` (which adds the account-only signals).
        integer_valued: only signals whose value is a whole number (no decay, no
            ``total``, no ``days_since_*``, no arithmetic).
        decay: allow a decay on ``count`` and ``total``.

    Returns:
        A strategy of expressions of kind ``number``.

    Example:
        >>> from hypothesis import given, settings
        >>> @settings(max_examples=10, database=None)
        ... @given(signals(level="account"))
        ... def test_signals_are_numbers(signal):
        ...     assert signal.kind == "number" and signal.equals(signal)
        >>> test_signals_are_numbers()
    """
    _check_level("signals(...)", level)
    return _signals(level=level, integer_valued=integer_valued, decay=decay)


@_cache
def _trait_conditions(level: Level) -> SearchStrategy[Expr]:
    if level == "user":
        return st.sampled_from((
            trait("role") == "admin",
            trait("role").isin(["admin", "owner"]),
            trait("email").endswith(".edu", ignore_case=True),
            trait("email").endswith(".edu"),
            trait("email_domain") == "rival.io",
            trait("email").lower().contains("acme"),
            trait("plan").is_missing(),
            trait("employees") >= 50,
        ))
    return st.sampled_from((
        trait("plan") == "pro",
        trait("plan").isin(["pro", "team"]),
        trait("employees") >= 50,
        trait("industry").is_missing(),
        trait("industry").startswith("fin"),
    ))


@_cache
@st.composite
def _conditions(draw: st.DrawFn, *, level: Level, decay: bool, depth: int) -> Expr:
    options = ["compare", "compare", "exists", "time", "trait", "isin", "missing"]
    if depth > 0:
        options += ["and", "or", "not"]
    which = draw(st.sampled_from(options))
    if which in ("compare", "isin", "missing"):
        sig = draw(_signals(level=level, integer_valued=False, decay=decay))
        if which == "isin":
            return sig.isin([0, 1, 2])
        if which == "missing":
            return sig.is_missing()
        op = draw(st.sampled_from(sorted(_COMPARISONS)))
        bar = draw(st.one_of(st.integers(0, 5), st.floats(0, 10, allow_nan=False)))
        cond: Expr = _COMPARISONS[op](sig, bar)
        return cond
    if which == "exists":
        return exists(draw(_MAYBE_NAME), **draw(_window()))
    if which == "time":
        name = draw(_MAYBE_NAME)
        moment = draw(timestamps())
        if draw(st.booleans()):
            return first_seen(name, **draw(_window())) >= moment
        return last_seen(name, **draw(_window())) < moment
    if which == "trait":
        return draw(_trait_conditions(level))
    left = draw(_conditions(level=level, decay=decay, depth=depth - 1))
    if which == "not":
        return ~left
    right = draw(_conditions(level=level, decay=decay, depth=depth - 1))
    return left & right if which == "and" else left | right


def conditions(*, level: Level = "user", decay: bool = True) -> SearchStrategy[Expr]:
    """Conditions over built-in signals and traits, combined with ``&``, ``|`` and ``~``.

    Args:
        level: ``"user"`` or ``"account"`` (account level adds ``distinct_users`` and uses
            account traits).
        decay: allow decays on the signals compared.

    Returns:
        A strategy of expressions of kind ``bool``.

    Example:
        >>> from hypothesis import given, settings
        >>> @settings(max_examples=10, database=None)
        ... @given(conditions())
        ... def test_conditions_are_conditions(condition):
        ...     assert condition.kind == "bool"
        >>> test_conditions_are_conditions()
    """
    _check_level("conditions(...)", level)
    return _conditions(level=level, decay=decay, depth=1)


@_cache
def _points(integer: bool, low: int, high: int) -> SearchStrategy[float]:
    ints: SearchStrategy[float] = st.integers(low, high)
    if integer:
        return ints
    return st.one_of(ints, st.floats(low, high, allow_nan=False, allow_infinity=False))


@_cache
@st.composite
def _rules(draw: st.DrawFn, name: str, *, level: Level, integer_points: bool,
           decay: bool) -> Rule:
    extra: dict[str, Any] = {}
    if draw(st.integers(0, 3)) == 0:
        extra["group"] = draw(st.sampled_from(("g1", "g2")))
    if decay and draw(st.integers(0, 3)) == 0:
        extra["decay"] = draw(decays())
    if draw(st.integers(0, 2)):
        when = draw(_conditions(level=level, decay=decay, depth=1))
        return Rule(name, when, points=draw(_points(integer_points, -20, 50)), **extra)
    sig = draw(_signals(level=level, integer_valued=integer_points, decay=decay))
    per = draw(_points(integer_points, -5, 10))
    cap = draw(st.one_of(st.none(), _points(integer_points, 1, 40)))
    return Rule(name, sig, points_per=per, max_points=cap, **extra)


@_cache
@st.composite
def _rollups(draw: st.DrawFn) -> Rollup:
    kw: dict[str, Any] = {
        "min_share": draw(st.one_of(st.none(), st.sampled_from((0.0, 0.25, 0.5, 1.0)),
                                    st.floats(0, 1, allow_nan=False))),
        "min_pql": draw(st.integers(0, 2)),
        "score": draw(st.sampled_from(ROLLUP_SCORES)),
    }
    if kw["score"] == "top_k_mean":  # (k= goes only with it)
        kw["k"] = draw(st.integers(1, 3))
    if draw(st.booleans()):
        kw["denominator"] = "active"
        kw["active_within"] = draw(durations())
    return Rollup(**kw)


@_cache
@st.composite
def _models(draw: st.DrawFn, *, level: Level | None, integer_points: bool, decay: bool,
            max_rules: int) -> ScoringModel:
    lvl: Level = level if level is not None else draw(st.sampled_from(_LEVELS))
    decay = decay and not integer_points
    n = draw(st.integers(1, max_rules))
    rules = [draw(_rules(f"r{i}", level=lvl, integer_points=integer_points, decay=decay))
             for i in range(n)]
    groups = sorted({r.group for r in rules if r.group is not None})
    caps = {g: draw(_points(integer_points, 0, 40)) for g in groups if draw(st.booleans())}
    disqualify = draw(st.lists(
        st.one_of(_trait_conditions(lvl), _conditions(level=lvl, decay=decay, depth=0)),
        max_size=2,
    ))
    floor = draw(st.sampled_from((0, 0, None, -10)))
    ceiling = draw(st.one_of(st.none(), st.integers(0, 100)))
    if floor is not None and ceiling is not None:
        ceiling += floor
    # Bars a score can reach: each its own, none above the ceiling.
    top = 100 if ceiling is None else ceiling
    tiers = None
    if draw(st.booleans()):
        bars = draw(st.lists(_points(integer_points, -10, 100).map(lambda b: min(b, top)),
                             min_size=1, max_size=3, unique=True))
        tiers = dict(zip(("A", "B", "C"), bars, strict=False))
    return ScoringModel(
        name=f"random-{lvl}",
        rules=rules,
        disqualify=disqualify,
        decay=draw(_maybe_decay()) if decay else None,
        threshold=min(draw(_points(integer_points, -5, 80)), top),
        tiers=tiers,
        level=lvl,
        rollup=draw(_rollups()),
        floor=floor,
        ceiling=ceiling,
        group_caps=caps or None,
    )


def models(*, level: Level | None = None, integer_points: bool = False, decay: bool = True,
           max_rules: int = 4) -> SearchStrategy[ScoringModel]:
    """Random :class:`~pqlkit.ScoringModel` objects composed from the built-ins.

    Rules give points for :func:`conditions` or per unit of :func:`signals`, with
    optional groups, caps and rule decays; models get disqualifiers, a model decay, tiers,
    a floor and ceiling and a random :class:`~pqlkit.Rollup`. Names come from the same
    pools as :func:`events`, so rules fire on generated data.

    Args:
        level: ``"user"``, ``"account"``, or None for either.
        integer_points: whole-number points, thresholds, bars and caps, integer-valued
            signals for ``points_per=`` and no decay anywhere, so every score is an exact
            sum of whole numbers.
        decay: allow decays (on the model, on rules and on event signals).
        max_rules: the most rules in a model (at least one).

    Returns:
        A strategy of valid models.

    Example:
        >>> from hypothesis import given, settings
        >>> import pqlkit as pk
        >>> log = pk.EventLog.from_records(
        ...     [{"name": "signup", "timestamp": "2026-01-02T00:00:00Z", "user_id": "u1"}])
        >>> @settings(max_examples=10, database=None)
        ... @given(models(level="user"))
        ... def test_models_score(model):
        ...     assert len(model.score(log).users) == 1
        >>> test_models_score()
    """
    if level is not None:
        _check_level("models(...)", level)
    _check_count("models(...)", "max_rules", max_rules, low=1)
    return _models(level=level, integer_points=integer_points, decay=decay,
                   max_rules=max_rules)


def _model_spans(model: ScoringModel) -> tuple[list[Duration], list[Duration]]:
    """The lengths of time at which the model's results may change: its windows, and the
    ages at which its decays step (a reset's ``idle``, an inactivity decay's grace and
    the first full periods past it)."""
    found: list[Duration] = []
    ages: list[Duration] = []
    decays: list[Any] = [model.decay]
    exprs: list[Expr] = [r.when for r in model.rules if isinstance(r, Rule)]
    decays += [r.decay for r in model.rules if isinstance(r, Rule)]
    exprs += list(model.disqualify)
    for expr in exprs:
        for node in expr.walk():
            for key in ("within", "since_signup"):
                d = getattr(node, key, None)
                if isinstance(d, Duration):
                    found.append(d)
            decays.append(getattr(node, "decay", None))
    if model.rollup.active_within is not None:
        found.append(model.rollup.active_within)
    for decay in decays:
        if isinstance(decay, ResetAfter):
            ages.append(decay.idle)
        elif isinstance(decay, InactivityDecay):
            grace = decay.grace.micros if decay.grace is not None else 0
            ages += [Duration(micros=grace + k * decay.every.micros) for k in range(3)
                     if grace + k * decay.every.micros > 0]
    return found, ages


@st.composite
def _scoring_cases(draw: st.DrawFn, *, level: Level | None, integer_points: bool,
                   decay: bool, max_events: int) -> tuple[ScoringModel, Rows, datetime | None]:
    model = draw(_models(level=level, integer_points=integer_points, decay=decay,
                         max_rules=4), label="model")
    ev, us, ac = draw(event_logs(max_events=max_events), label="rows")
    windows, ages = _model_spans(model)
    spans = windows + ages
    # Events exactly on (and a microsecond around) the edges of since_signup windows: an
    # entity's event or signup shifted by one of the model's windows.
    anchors: list[tuple[dict[str, Any], datetime]] = [
        (dict(e), to_utc(e["timestamp"])) for e in ev if isinstance(e, Mapping)]
    anchors += [({"name": draw(_NAMES), "user_id": u["user_id"]}, to_utc(u["created_at"]))
                for u in us if isinstance(u, Mapping) and u.get("created_at") is not None]
    if spans and anchors:
        for _ in range(draw(st.integers(0, 4), label="edge events")):
            row, moment = draw(st.sampled_from(anchors))
            span = draw(st.sampled_from(spans))
            nudge = draw(st.sampled_from((0, 0, -1, 1)))
            edge = {k: v for k, v in row.items() if k != "event_id"}
            edge["timestamp"] = from_micros(span.after(to_micros(moment)) + nudge)
            ev = [*ev, edge]
    rows = (ev, us, ac)
    # Moments where the model's windows have an edge: an event's own time, and an
    # event or a signup shifted by one of the model's windows (a tie on the edge).
    moments = [to_utc(_get(e, "timestamp")) for e in ev]
    signups = [to_utc(_get(u, "created_at")) for u in us if _get(u, "created_at") is not None]
    options: list[SearchStrategy[datetime | None]] = [st.none(), timestamps()]
    if moments:
        options.append(st.sampled_from(moments))
    if spans and (moments or signups):
        shifted = [from_micros(d.after(to_micros(m))) for d in spans
                   for m in [*moments, *signups]]
        shifted += [from_micros(d.after(to_micros(m)) - 1) for d in spans for m in moments]
        options.append(st.sampled_from(shifted))
    steps = _decay_steps(ages, ev)
    if steps:
        # (Twice: as likely as the other kinds of moment together, when there are ages.)
        options += [st.sampled_from(steps)] * 2
    as_of = draw(st.one_of(options), label="as_of")
    return model, rows, as_of


def _decay_steps(ages: list[Duration], rows: Sequence[Any]) -> list[datetime]:
    """The moments a decay steps: each user's and account's latest event shifted by each
    of ``ages`` (and a microsecond before)."""
    latest: dict[Any, int] = {}
    for e in rows:
        for key in ("user_id", "account_id"):
            who = _get(e, key)
            if who is not None:
                t = to_micros(to_utc(_get(e, "timestamp")))
                latest[(key, who)] = max(latest.get((key, who), t), t)
    return [from_micros(a.after(t) - nudge) for a in ages for t in latest.values()
            for nudge in (0, 1)]


def scoring_cases(*, level: Level | None = None, integer_points: bool = False,
                  decay: bool = True, max_events: int = 25,
                  ) -> SearchStrategy[tuple[ScoringModel, Rows, datetime | None]]:
    """Whole scoring problems: ``(model, (events, users, accounts), as_of)``.

    The model comes from :func:`models`, the rows from :func:`event_logs` (duplicates,
    conflicting duplicates, users with no events, users and accounts created at any
    time); ``as_of`` is None (the latest event), a random moment, an event's own
    timestamp, an event or a signup shifted by one of the model's windows (so that
    events fall exactly on, and a microsecond inside, window edges), or an entity's
    latest event shifted by an age at which one of the model's decays steps (a reset's
    ``idle``, an inactivity decay's grace and first periods). This is what engine parity
    is tested on: any two engines must score every case alike.

    Args:
        level: ``"user"``, ``"account"``, or None for either.
        integer_points: whole-number points and no decay (see :func:`models`).
        decay: allow decays.
        max_events: the most valid events.

    Returns:
        A strategy of ``(model, rows, as_of)`` tuples.

    Example:
        >>> from hypothesis import given, settings
        >>> import pqlkit as pk
        >>> @settings(max_examples=5, database=None)
        ... @given(scoring_cases(level="user"))
        ... def test_engines_agree(case):
        ...     model, (events, users, accounts), as_of = case
        ...     log = pk.EventLog.from_records(events, users=users, accounts=accounts)
        ...     if len(log) or as_of is not None:
        ...         assert_results_equal(model.score(log, as_of=as_of, engine="reference"),
        ...                              model.score(log, as_of=as_of, engine="columnar"))
        >>> test_engines_agree()
    """
    if level is not None:
        _check_level("scoring_cases(...)", level)
    _check_count("scoring_cases(...)", "max_events", max_events)
    return _scoring_cases(level=level, integer_points=integer_points, decay=decay,
                          max_events=max_events)


# -- comparing results -----------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _same(a: Any, b: Any, rel: float) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, (bool, np.bool_)) or isinstance(b, (bool, np.bool_)):
        return isinstance(a, (bool, np.bool_)) and isinstance(b, (bool, np.bool_)) and (
            bool(a) == bool(b))
    if _is_number(a) and _is_number(b):
        a_int, b_int = isinstance(a, (int, np.integer)), isinstance(b, (int, np.integer))
        if a_int or b_int:
            # 25 and 25.0 print, serialise and convert (to_pandas) differently.
            return a_int and b_int and int(a) == int(b)
        x, y = float(a), float(b)
        if math.isnan(x) or math.isnan(y):
            return math.isnan(x) and math.isnan(y)
        if rel == 0:
            # Exact is bit for bit: -0.0 prints, and serialises, apart from 0.0.
            return x == y and math.copysign(1.0, x) == math.copysign(1.0, y)
        return x == y or math.isclose(x, y, rel_tol=rel, abs_tol=rel)
    if type(a) is not type(b) and not (isinstance(a, str) and isinstance(b, str)):
        return False
    return bool(a == b)


def _show(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    return f"{value!r} ({type(value).__name__})" if value is not None else "None"


def _diff_tables(name: str, a: Table, b: Table, rel: float, out: list[str]) -> None:
    for col in a.columns:
        if col not in b.columns:
            out.append(f"{name}: column {col!r} is only in a")
    for col in b.columns:
        if col not in a.columns:
            out.append(f"{name}: column {col!r} is only in b")
    key = a.key
    a_ids, b_ids = a.column(key), b.column(key) if key in b.columns else []
    b_set = set(b_ids)
    a_set = set(a_ids)
    out.extend(f"{name}[{i!r}]: entity is only in a" for i in a_ids if i not in b_set)
    out.extend(f"{name}[{i!r}]: entity is only in b" for i in b_ids if i not in a_set)
    common = [c for c in a.columns if c in b.columns]
    for entity in a_ids:
        if entity not in b_set:
            continue
        row_a, row_b = a[entity], b[entity]
        for col in common:
            x, y = row_a[col], row_b[col]
            if not _same(x, y, rel):
                detail = ""
                if _is_number(x) and _is_number(y) and float(x) != 0:
                    detail = f" (relative difference {abs(float(x) - float(y)) / abs(float(x)):.3g})"
                out.append(f"{name}[{entity!r}] column {col!r}: {_show(x)} in a, "
                           f"{_show(y)} in b{detail}")


def assert_results_equal(a: ScoreResult, b: ScoreResult, *, rel: float = 1e-9) -> None:
    """Assert that two score results hold the same ``as_of`` and the same tables.

    The ``users`` and ``accounts`` tables are compared entity by entity and column by
    column: integers, booleans, strings, datetimes and None exactly (``True`` is not ``1``,
    ``None`` is not ``0``, ``25`` is not ``25.0``), floats within ``rel`` relative (or
    ``rel`` absolute near zero; ``rel=0`` means bit for bit, so ``-0.0`` is not ``0.0``),
    NaN equal to NaN.

    Args:
        a: one result.
        b: the other result.
        rel: the relative tolerance for floats.

    Raises:
        AssertionError: they differ; the message lists every difference, naming the table,
            the entity and the column.

    Example:
        >>> import pqlkit as pk
        >>> model = pk.ScoringModel(name="m", threshold=10,
        ...                         rules=[pk.Rule("act", pk.count("signup") >= 1, points=10)])
        >>> log = pk.EventLog.from_records(
        ...     [{"name": "signup", "timestamp": "2026-01-02T00:00:00Z", "user_id": "u1"}])
        >>> assert_results_equal(model.score(log), model.score(log))
        >>> other = pk.ScoringModel(name="m", threshold=10,
        ...                         rules=[pk.Rule("act", pk.count("signup") >= 1, points=12)])
        >>> assert_results_equal(model.score(log), other.score(log))
        Traceback (most recent call last):
        ...
        AssertionError: score results differ in 3 places:
          users['u1'] column 'score': 10.0 (float) in a, 12.0 (float) in b (relative difference 0.2)
          users['u1'] column 'raw_score': 10.0 (float) in a, 12.0 (float) in b (relative difference 0.2)
          users['u1'] column 'act': 10 (int) in a, 12 (int) in b (relative difference 0.2)
    """
    for arg, value in (("a", a), ("b", b)):
        if not isinstance(value, ScoreResult):
            raise PqlkitTypeError(
                f"assert_results_equal() takes two ScoreResults; {arg} is {value!r} "
                f"({type(value).__name__})"
            )
    if isinstance(rel, bool) or not isinstance(rel, (int, float)) or not (
            math.isfinite(rel) and rel >= 0):
        raise ValidationError(
            f"assert_results_equal(rel={rel!r}): rel must be a finite number >= 0"
        )
    diffs: list[str] = []
    if a.as_of != b.as_of:
        diffs.append(f"as_of: {_show(a.as_of)} in a, {_show(b.as_of)} in b")
    _diff_tables("users", a.users, b.users, rel, diffs)
    _diff_tables("accounts", a.accounts, b.accounts, rel, diffs)
    if diffs:
        shown = diffs[:40]
        more = f"\n  … and {len(diffs) - 40} more" if len(diffs) > 40 else ""
        raise AssertionError(
            f"score results differ in {len(diffs)} place{'s' if len(diffs) != 1 else ''}:\n  "
            + "\n  ".join(shown) + more
        )


def _diff_values(where: str, x: Any, y: Any, rel: float, out: list[str]) -> None:
    if isinstance(x, Mapping) and isinstance(y, Mapping):
        if list(x) != list(y):
            out.append(f"{where}: keys {list(x)!r} in a, {list(y)!r} in b")
            return
        for k in x:
            _diff_values(f"{where}[{k!r}]", x[k], y[k], rel, out)
        return
    if isinstance(x, (tuple, list)) and isinstance(y, (tuple, list)):
        if len(x) != len(y):
            out.append(f"{where}: {len(x)} items in a, {len(y)} in b")
            return
        for i, (p, q) in enumerate(zip(x, y, strict=True)):
            _diff_values(f"{where}[{i}]", p, q, rel, out)
        return
    if attrs.has(type(x)) and type(x) is type(y):
        for f in attrs.fields(type(x)):
            _diff_values(f"{where}.{f.name}", getattr(x, f.name), getattr(y, f.name), rel, out)
        return
    if not _same(x, y, rel):
        out.append(f"{where}: {_show(x)} in a, {_show(y)} in b")


def assert_explanations_equal(a: ScoreResult, b: ScoreResult, *, rel: float = 1e-9) -> None:
    """Assert that two score results explain every entity they hold the same way.

    Every user and account of ``a`` is explained in both results and the explanations are
    compared field by field, recursively: rules in order with their points, conditions and
    evidence (matching events, the first and latest, the values of the signals read, in the
    order they were read), caps, decay, clamping, disqualifiers, tier, the last event, and
    for roll-ups the policy and the users behind the account. Numbers compare like
    :func:`assert_results_equal` does (floats within ``rel``); everything else exactly.
    A roll-up's users are compared ordered by id, since users whose scores tie within
    ``rel`` may be listed in either order.

    Args:
        a: one result.
        b: the other result (of the same model, log and ``as_of``).
        rel: the relative tolerance for floats.

    Raises:
        AssertionError: they differ; the message names the entity and the field.

    Example:
        >>> import pqlkit as pk
        >>> model = pk.ScoringModel(name="m", threshold=10,
        ...                         rules=[pk.Rule("act", pk.count("signup") >= 1, points=10)])
        >>> log = pk.EventLog.from_records(
        ...     [{"name": "signup", "timestamp": "2026-01-02T00:00:00Z", "user_id": "u1"}])
        >>> assert_explanations_equal(model.score(log, engine="reference"),
        ...                           model.score(log, engine="columnar"), rel=0)
    """
    for arg, value in (("a", a), ("b", b)):
        if not isinstance(value, ScoreResult):
            raise PqlkitTypeError(
                f"assert_explanations_equal() takes two ScoreResults; {arg} is {value!r} "
                f"({type(value).__name__})"
            )
    diffs: list[str] = []
    for level, table in (("user", a.users), ("account", a.accounts)):
        for entity in table.column(table.key):
            x = a.explain(entity, level=level)
            y = b.explain(entity, level=level)
            if type(x) is not type(y):
                diffs.append(f"{level} {entity!r}: {type(x).__name__} in a, "
                             f"{type(y).__name__} in b")
                continue
            if isinstance(x, RollupExplanation) and isinstance(y, RollupExplanation):
                def by_id(users: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
                    return sorted(users, key=lambda u: id_key(u["user_id"]))
                x = attrs.evolve(x, users=tuple(by_id(x.users)))
                y = attrs.evolve(y, users=tuple(by_id(y.users)))
            _diff_values(f"explain({entity!r}, level={level!r})", x, y, rel, diffs)
    if diffs:
        shown = diffs[:40]
        more = f"\n  … and {len(diffs) - 40} more" if len(diffs) > 40 else ""
        raise AssertionError(
            f"explanations differ in {len(diffs)} place{'s' if len(diffs) != 1 else ''}:\n  "
            + "\n  ".join(shown) + more
        )


# -- the signal contract check ---------------------------------------------------------------


class _Check:
    """Runs the checks of one signal and words their failures the same way."""

    def __init__(self, signal: Expr, level: Level) -> None:
        self.signal = signal
        self.level = level
        try:
            self.label = repr(signal)
        except Exception:  # the repr check reports it
            self.label = f"<{type(signal).__name__}>"
        self.engine = ReferenceEngine()

    def fail(self, check: str, detail: str) -> AssertionError:
        return AssertionError(f"check_signal({self.label}) failed '{check}': {detail}")

    # static checks

    def repr_is_a_string(self) -> None:
        try:
            text = repr(self.signal)
        except Exception as exc:
            raise self.fail("repr is a string", f"repr() raised {exc!r}") from exc
        if not isinstance(text, str) or not text:
            raise self.fail("repr is a string", f"repr() gave {text!r}")

    def is_an_entity_signal(self) -> None:
        try:
            scope = self.signal.scope
        except Exception as exc:
            raise self.fail("is an entity signal", f"its scope raised {exc!r}") from exc
        if scope != "entity":
            raise self.fail(
                "is an entity signal",
                f"its scope is {scope!r}; a signal computes one value per entity ('entity')",
            )

    def equals_itself(self) -> None:
        sig = self.signal
        try:
            same = sig.equals(sig)
            copy_same = (sig.equals(attrs.evolve(cast(Any, sig))) if attrs.has(type(sig))
                         else True)
            other = sig.equals(count("__check_signal_other__"))
        except Exception as exc:
            raise self.fail("equals() itself", f"equals() raised {exc!r}") from exc
        if same is not True:
            raise self.fail("equals() itself", f"signal.equals(signal) gave {same!r}, not True")
        if copy_same is not True:
            raise self.fail("equals() itself",
                            f"an attrs.evolve() copy does not equal it (gave {copy_same!r})")
        if other is not False:
            raise self.fail("equals() itself",
                            f"it equals an unrelated signal count(...) (gave {other!r})")

    def is_frozen(self) -> None:
        sig = self.signal
        if not attrs.has(type(sig)):
            return
        fields = attrs.fields(cast(Any, type(sig)))
        if not fields:
            return
        first = fields[0].name
        try:
            setattr(sig, first, getattr(sig, first))
        except AttributeError:
            return
        raise self.fail("is frozen", f"setting {first!r} worked; declare it @attrs.frozen")

    def truthiness_raises(self) -> None:
        try:
            bool(self.signal)
        except TypeError:
            return
        except Exception as exc:
            raise self.fail("truthiness raises",
                            f"bool() raised {type(exc).__name__}, not a TypeError") from exc
        raise self.fail("truthiness raises",
                        "bool(signal) did not raise; it must, so that `and`/`or`/`not` "
                        "are not silently used instead of &, |, ~")

    def _operand(self) -> Any:
        kind = self.signal.kind
        if kind == "time":
            return MIN_TIMESTAMP
        if kind == "text":
            return "x"
        if kind == "bool":
            return True
        return 1

    def comparisons_build_conditions(self) -> None:
        sig, operand = self.signal, self._operand()
        for symbol, op in _COMPARISONS.items():
            try:
                cond = op(sig, operand)
                built = [cond, ~cond, cond & (count() >= 1), cond | (count() >= 1)]
            except Exception as exc:
                raise self.fail("comparisons build conditions",
                                f"signal {symbol} {operand!r} raised {exc!r}") from exc
            for node in built:
                if not isinstance(node, Expr) or node.kind != "bool":
                    raise self.fail("comparisons build conditions",
                                    f"signal {symbol} {operand!r} gave {node!r}, not a condition")
            if repr(sig) not in repr(cond):
                raise self.fail("comparisons build conditions",
                                f"repr of signal {symbol} {operand!r} is {cond!r}; it should "
                                f"show {repr(sig)!r}")

    # checks on data

    def probe_model(self) -> ScoringModel:
        try:
            return ScoringModel(name="check_signal", level=self.level, threshold=1,
                                rules=[Rule("probe", self.signal.is_missing(), points=1)])
        except Exception as exc:
            raise self.fail(f"usable in a model at level={self.level!r}",
                            f"building the model raised {exc!r}") from exc

    def values(self, log: EventLog, as_of: datetime, what: str) -> dict[Any, Any]:
        """The signal's value for every entity that exists at ``as_of``."""
        # Which entities exist comes from scoring a model that does not read the signal.
        existing = ScoringModel(name="check_signal_entities", level=self.level, threshold=1,
                                rules=[Rule("any", count() >= 0, points=0)])
        result = existing.score(log, as_of=as_of)
        table = result.users if self.level == "user" else result.accounts
        as_of_dt, as_of_us = resolve_as_of(log, as_of)
        out: dict[Any, Any] = {}
        for entity in table.column(table.key):
            index = (log.user_index(entity) if self.level == "user"
                     else log.account_index(entity))
            ctx = EntityContext(self.engine, log, self.level, index, as_of_dt, as_of_us)
            try:
                out[entity] = self.engine.evaluate(self.signal, ctx)
            except Exception as exc:
                check = "works for an entity with no events" if entity == _EMPTY_ID else what
                raise self.fail(check, f"evaluating it for {entity!r} raised {exc!r}") from exc
        return out

    def value_fits_kind(self, values: Mapping[Any, Any]) -> None:
        kind = self.signal.kind
        for entity, v in values.items():
            if v is None or kind == "any":
                continue
            if kind == "number":
                ok = _is_number(v) and math.isfinite(float(v))
                want = "a finite int or float (None when missing, never NaN)"
            elif kind == "bool":
                ok = isinstance(v, (bool, np.bool_))
                want = "a bool"
            elif kind == "time":
                ok = isinstance(v, datetime) and v.utcoffset() is not None
                want = "an aware datetime"
            else:
                ok = isinstance(v, str)
                want = "a str"
            if not ok:
                raise self.fail("value fits its kind",
                                f"kind is {kind!r} so the value must be {want}, but for "
                                f"{entity!r} it is {v!r} ({type(v).__name__})")

    def empty_entity(self, values: Mapping[Any, Any]) -> None:
        if _EMPTY_ID not in values:
            raise self.fail("works for an entity with no events",
                            f"the {self.level} {_EMPTY_ID!r} with no events got no row")
        v = values[_EMPTY_ID]
        allowed: tuple[Any, ...] = {"number": (0, 0.0, None), "bool": (False, None)}.get(
            self.signal.kind, (None,))
        if not any(_same(v, ok, 0.0) for ok in allowed):
            raise self.fail("works for an entity with no events",
                            f"over no events a {self.signal.kind!r} signal must be one of "
                            f"{allowed!r}, got {v!r}")

    def compare(self, check: str, a: Mapping[Any, Any], b: Mapping[Any, Any],
                detail: str) -> None:
        if set(a) != set(b):
            raise self.fail(check, f"{detail}: the entities scored differ "
                                   f"({sorted(map(repr, set(a) ^ set(b)))})")
        for entity, x in a.items():
            if not _same(x, b[entity], 0.0):
                raise self.fail(check, f"{detail}: for {entity!r} it gave {x!r}, then "
                                       f"{b[entity]!r}")

    def expected_points(self, value: Any) -> tuple[float, float]:
        kind = self.signal.kind
        if kind == "number":
            hit = value is not None and _is_number(value) and value >= 1
            per = float(value) if value is not None else 0.0
            return (10.0 if hit else 0.0), per
        if kind == "bool":
            return (10.0 if value is not None and bool(value) else 0.0), 0.0
        return (10.0 if value is not None else 0.0), 0.0

    def scored_in_a_rule(self, log: EventLog, as_of: datetime,
                         values: Mapping[Any, Any]) -> None:
        check = "usable inside a Rule of a ScoringModel"
        sig, kind = self.signal, self.signal.kind
        cond: Expr
        if kind == "number":
            cond = sig >= 1
        elif kind == "bool":
            cond = sig == True  # noqa: E712 - builds a condition
        else:
            cond = sig.is_present()
        rules = [Rule("check", cond, points=10)]
        if kind == "number":
            rules.append(Rule("per", sig, points_per=1))

        def build() -> ScoringModel:
            return ScoringModel(name="check_signal", level=self.level, threshold=10,
                                rules=rules, tiers={"A": 10})

        try:
            model = build()
            same_model = model == build()
            text = repr(model)
            result = model.score(log, as_of=as_of)
        except Exception as exc:
            raise self.fail(check, f"building or scoring the model raised {exc!r}") from exc
        if not same_model or not isinstance(text, str):
            raise self.fail(check, "two models built alike do not compare equal with ==")
        table = result.users if self.level == "user" else result.accounts
        for row in table:
            entity = row[table.key]
            want, per = self.expected_points(values.get(entity))
            if not _same(float(row["check"]), float(want), 0.0):
                raise self.fail(check, f"rule {cond!r} gave {row['check']!r} points to "
                                       f"{entity!r}, whose value is {values.get(entity)!r}; "
                                       f"expected {want}")
            if "per" in row and not _same(float(row["per"]), float(per), 1e-12):
                raise self.fail(check, f"Rule('per', signal, points_per=1) gave {row['per']!r} "
                                       f"to {entity!r}, whose value is {values.get(entity)!r}")
            expl = result.explain(entity, level=self.level)
            assert isinstance(expl, Explanation)
            if not math.isclose(expl.total(), row["score"], rel_tol=1e-9, abs_tol=1e-9):
                raise self.fail(check, f"the explanation of {entity!r} adds up to "
                                       f"{expl.total()!r}, not its score {row['score']!r}")


def _later_events(after: datetime) -> SearchStrategy[dict[str, Any] | Event]:
    start = after + timedelta(microseconds=1)
    return events(min_value=start, max_value=start + timedelta(days=30), event_ids=False)


def check_signal(signal: Expr, *, level: Level = "user", examples: int = 20) -> None:
    """Check that a signal keeps the contract every pqlkit signal keeps.

    Run it in a plugin's test suite on each custom :class:`~pqlkit.Signal` (as
    scikit-learn's ``check_estimator``); the built-ins pass it too. It checks that:

    - ``repr`` is a non-empty string and shows inside the conditions it builds;
    - the signal is an entity signal, ``equals()`` itself (and an ``attrs.evolve`` copy)
      but not an unrelated signal, and is frozen when it is an attrs class;
    - truthiness raises ``TypeError``;
    - ``<``, ``<=``, ``>``, ``>=``, ``==``, ``!=`` build conditions that ``&``, ``|``
      and ``~`` combine;

    and then, on ``examples`` random event logs drawn with :func:`event_logs`:

    - every value fits the signal's ``kind`` (a number is a finite ``int``/``float``,
      a bool a ``bool``, a time an aware ``datetime``, a text a ``str``; None means
      missing);
    - the value does not depend on the order of the input rows;
    - events after ``as_of`` change nothing;
    - an entity with no events gets what its kind implies (0 or None for a number,
      False or None for a bool, None otherwise) rather than an error;
    - a :class:`~pqlkit.Rule` on a condition of the signal (and, for numbers, one with
      ``points_per=1``) scores end to end with the points the value implies, and the
      explanation adds up to the score.

    It runs Hypothesis itself, so call it from a plain test, not from a ``@given`` one.

    Args:
        signal: the signal to check (an instance, e.g. ``MySignal(within="30d")``).
        level: ``"user"``, or ``"account"`` for signals that read an account's users.
        examples: how many random event logs to try.

    Raises:
        AssertionError: a check failed; the message names the check and the entity.

    Example:
        >>> import pqlkit as pk
        >>> check_signal(pk.count("signup", within="7d"), examples=3)
    """
    if not isinstance(signal, Expr):
        raise PqlkitTypeError(
            f"check_signal() takes a signal (a pk.Signal or built-in signal), got {signal!r} "
            f"({type(signal).__name__})"
        )
    _check_level("check_signal(...)", level)
    _check_count("check_signal(...)", "examples", examples, low=1)
    check = _Check(signal, level)
    check.repr_is_a_string()
    check.is_an_entity_signal()
    check.equals_itself()
    check.is_frozen()
    check.truthiness_raises()
    check.comparisons_build_conditions()
    check.probe_model()
    empty: dict[str, Any] = (
        {"user_id": _EMPTY_ID} if level == "user" else {"account_id": _EMPTY_ID}
    )

    # No explain phase: on a failure it re-runs the check hundreds of times, which is
    # slow for little gain here (the message already names the entity and the values).
    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck),
              phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink))
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        ev, us, ac = data.draw(event_logs(min_events=1, max_events=15), label="rows")
        if level == "user":
            us = [*us, empty]
        else:
            ac = [*ac, empty]
        as_of = data.draw(timestamps(), label="as_of")
        log = EventLog.from_records(ev, users=us, accounts=ac)
        values = check.values(log, as_of, "evaluates on random data")
        check.value_fits_kind(values)
        check.empty_entity(values)

        shuffled = EventLog.from_records(
            data.draw(st.permutations(ev), label="events shuffled"),
            users=data.draw(st.permutations(us), label="users shuffled"),
            accounts=data.draw(st.permutations(ac), label="accounts shuffled"),
        )
        check.compare("does not depend on event order", values,
                      check.values(shuffled, as_of, "does not depend on event order"),
                      "the same rows in another order")

        later = data.draw(st.lists(_later_events(as_of), min_size=1, max_size=5),
                          label="events after as_of")
        with_later = EventLog.from_records([*ev, *later], users=us, accounts=ac)
        check.compare("ignores events after as_of", values,
                      check.values(with_later, as_of, "ignores events after as_of"),
                      "adding events after as_of")

        check.scored_in_a_rule(log, as_of, values)

    run()
