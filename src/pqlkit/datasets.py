"""Synthetic SaaS product-event data: deterministic, realistic, and fast at any size.

:func:`synthetic_saas` simulates a self-serve B2B product over a window of days: workspaces
(accounts) of Zipf-like sizes sign up, their users arrive with roles and *personas*, use the
product with power-law intensity during working hours, some churn, some reach the aha moment
(a connected data source and a dashboard), show intent to pay (pricing views, usage limits,
a blocked invite past the free seat cap), and some accounts convert to the paid plan. The
conversions are the outcome later stages measure models against.

Personas:

- ``explorer``: signs up, looks around, mostly leaves within a week;
- ``evaluator``: reads the pricing page a lot, builds little;
- ``builder``: creates projects and dashboards, connects data sources;
- ``champion``: builds, invites teammates, views pricing and hits usage limits;
- ``collaborator``: an invited teammate who runs saved queries and sends messages.

Only integer arithmetic, ``+ - * /``, ``sqrt`` and ``floor`` are applied to the random
draws of :func:`numpy.random.default_rng` (no ``log``/``exp``/``pow``, whose last bits can
differ between C libraries and SIMD paths), so the same arguments give byte-identical
arrays on every platform. (NumPy may change its generators' streams between releases,
see NEP 19; a dataset is reproducible for a given NumPy version.)

>>> ds = synthetic_saas(n_accounts=20, seed=3)
>>> len(ds.accounts), ds.events.timestamp.dtype
(20, dtype('int64'))
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from typing import Any, Final

import attrs
import numpy as np
import numpy.typing as npt

from pqlkit.errors import PqlkitTypeError, ValidationError

__all__ = ["EVENT_NAMES", "PERSONAS", "Columns", "SaasDataset", "synthetic_saas"]

ObjArray = npt.NDArray[np.object_]
I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

_S: Final = 1_000_000
_H: Final = 3_600 * _S
_DAY: Final = 24 * _H
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_NEVER: Final = np.iinfo(np.int64).max
_CHUNK: Final = 65_536
_ID_CHUNK: Final = 1 << 20

#: Every event name the generator emits, in code order.
EVENT_NAMES: Final = (
    "session_started", "page_viewed", "project_created", "dashboard_created",
    "data_source_connected", "teammate_invited", "pricing_page_viewed", "usage_limit_hit",
    "seat_cap_invite_blocked", "saved_query_run", "message_sent", "integration_connected",
    "automation_created", "report_exported",
)
(_SESSION, _PAGE, _PROJECT, _DASHBOARD, _SOURCE, _INVITE, _PRICING, _LIMIT, _SEATCAP,
 _QUERY, _MESSAGE, _INTEGRATION, _AUTOMATION, _EXPORT) = range(len(EVENT_NAMES))

#: The user personas, in code order.
PERSONAS: Final = ("explorer", "evaluator", "builder", "champion", "collaborator")
_EXPLORER, _EVALUATOR, _BUILDER, _CHAMPION, _COLLABORATOR = range(len(PERSONAS))

_ROLES: Final = ("admin", "member", "viewer")
_PLANS: Final = ("free", "trial", "pro")
_FREE, _TRIAL, _PRO = range(3)
_REGULAR, _EDU, _RIVAL = range(3)
_TRIAL_US: Final = 14 * _DAY

_APP_PAGES: Final = ("/home", "/projects", "/dashboards", "/docs", "/settings", "/pricing",
                     "/billing", "/integrations", "/team")
_SITE_PAGES: Final = ("/", "/blog", "/pricing", "/customers", "/docs")
_PAGES: Final = tuple(dict.fromkeys(_APP_PAGES + _SITE_PAGES))
_INTEGRATIONS: Final = ("slack", "salesforce", "zapier", "hubspot", "github", "snowflake", "jira")
_AUTOMATIONS: Final = ("slack", "zapier", "email", "webhook", "schedule")
_FEATURES: Final = tuple(dict.fromkeys(_INTEGRATIONS + _AUTOMATIONS))
_SOURCES: Final = ("postgres", "bigquery", "snowflake", "mysql", "csv_upload", "google_sheets")

# Relative weights of the non-session events each persona emits.
_MIX: Final[dict[int, dict[int, float]]] = {
    _EXPLORER: {_PAGE: 72, _PROJECT: 4, _PRICING: 3, _QUERY: 8, _MESSAGE: 10, _EXPORT: 3},
    _EVALUATOR: {_PAGE: 48, _PROJECT: 4, _DASHBOARD: 1, _SOURCE: 1, _INVITE: 1, _PRICING: 20,
                 _QUERY: 10, _MESSAGE: 8, _INTEGRATION: 2, _AUTOMATION: 1, _EXPORT: 3},
    _BUILDER: {_PAGE: 28, _PROJECT: 6, _DASHBOARD: 8, _SOURCE: 4, _INVITE: 0.5, _PRICING: 1,
               _LIMIT: 0.5, _QUERY: 22, _MESSAGE: 12, _INTEGRATION: 3, _AUTOMATION: 4,
               _EXPORT: 6},
    _CHAMPION: {_PAGE: 22, _PROJECT: 5, _DASHBOARD: 7, _SOURCE: 3, _INVITE: 4, _PRICING: 4,
                _LIMIT: 2, _SEATCAP: 1, _QUERY: 20, _MESSAGE: 16, _INTEGRATION: 4,
                _AUTOMATION: 5, _EXPORT: 7},
    _COLLABORATOR: {_PAGE: 30, _PROJECT: 1, _DASHBOARD: 2, _QUERY: 25, _MESSAGE: 32,
                    _EXPORT: 10},
}

# In-app page weights (over _APP_PAGES) per persona.
_PAGE_MIX: Final[dict[int, tuple[float, ...]]] = {
    _EXPLORER: (30, 15, 10, 25, 5, 8, 1, 4, 2),
    _EVALUATOR: (15, 10, 8, 12, 5, 30, 12, 5, 3),
    _BUILDER: (20, 25, 25, 10, 6, 2, 1, 8, 3),
    _CHAMPION: (15, 20, 20, 6, 8, 10, 6, 7, 8),
    _COLLABORATOR: (30, 25, 35, 5, 2, 0.5, 0, 1, 1.5),
}

# Milestones: (persona, event, probability, earliest and latest hours after signup).
_MILESTONES: Final[tuple[tuple[int, int, float, float, float], ...]] = (
    (_EXPLORER, _PROJECT, 0.3, 0.02, 2),
    (_EVALUATOR, _PRICING, 1.0, 0.02, 2),
    (_EVALUATOR, _PRICING, 0.8, 2, 96),
    (_EVALUATOR, _PRICING, 0.6, 24, 500),
    (_EVALUATOR, _PROJECT, 0.5, 0.1, 24),
    (_BUILDER, _PROJECT, 0.95, 0.02, 3),
    (_BUILDER, _SOURCE, 0.7, 0.1, 96),
    (_BUILDER, _DASHBOARD, 0.6, 1, 200),
    (_BUILDER, _PRICING, 0.3, 48, 1000),
    (_CHAMPION, _PROJECT, 1.0, 0.02, 1),
    (_CHAMPION, _SOURCE, 0.95, 0.1, 48),
    (_CHAMPION, _DASHBOARD, 0.95, 0.5, 120),
    (_CHAMPION, _INVITE, 0.9, 2, 240),
    (_CHAMPION, _INVITE, 0.6, 24, 500),
    (_CHAMPION, _PRICING, 0.9, 24, 700),
    (_CHAMPION, _PRICING, 0.6, 48, 1200),
    (_CHAMPION, _LIMIT, 0.6, 72, 1200),
    (_CHAMPION, _SEATCAP, 0.3, 48, 1000),
    (_CHAMPION, _INTEGRATION, 0.6, 24, 600),
    (_CHAMPION, _AUTOMATION, 0.5, 48, 900),
    (_COLLABORATOR, _QUERY, 0.8, 0.1, 24),
    (_COLLABORATOR, _MESSAGE, 0.8, 0.1, 48),
)

# Churn: (probability, then either fixed bounds in hours, or None for a share of what is left).
_CHURN: Final[dict[int, tuple[float, tuple[float, float] | None]]] = {
    _EXPLORER: (0.85, (1, 168)),
    _EVALUATOR: (0.4, (24, 504)),
    _BUILDER: (0.15, None),
    _CHAMPION: (0.08, None),
    _COLLABORATOR: (0.2, None),
}
_PERSONA_ACTIVITY: Final = (0.4, 0.7, 1.2, 1.6, 0.9)
_ROLE_ACTIVITY: Final = (1.5, 1.0, 0.5)  # admins are the most active

# Local-time hour-of-day weights: a working day with a long evening tail.
_HOURS: Final = (1, 0.5, 0.3, 0.3, 0.3, 0.5, 1, 3, 6, 9, 10, 10, 8, 9, 10, 9, 8, 6, 4, 3, 3,
                 2.5, 2, 1.5)
_TZ_HOURS: Final = (-8, -7, -6, -5, -4, -3, 0, 0, 1, 1, 2, 3, 5, 8, 9, 10)

_MAX_ACCOUNT_SIZE: Final = 60
_ZIPF_EXPONENT: Final = 1.65
_MAX_ACTIVITY: Final = 60.0
_SESSION_LENGTH: Final = 6.0  # events per session, on average
_NO_PLAN_SHARE: Final = 0.02  # events sent by old clients without the plan property
_SITE_SHARE: Final = 0.08  # page views on the marketing site: no account, no plan

_FIRST: Final = (
    "ana", "ben", "carla", "dev", "elena", "farid", "grace", "hiro", "ines", "jamal", "kira",
    "liam", "maya", "nina", "omar", "priya", "quinn", "rosa", "sam", "tomas", "uma", "victor",
    "wen", "ximena", "yusuf", "zoe", "alex", "bruno", "chloe", "diego", "emma", "felix",
    "gita", "hana", "ivan", "julia", "kofi", "lena", "marco", "noor",
)
_LAST: Final = (
    "silva", "smith", "garcia", "chen", "kumar", "nguyen", "muller", "rossi", "tanaka",
    "okafor", "kowalski", "novak", "haddad", "jensen", "dubois", "costa", "ivanova", "park",
    "ali", "martin", "lopez", "schmidt", "sato", "mensah", "berg", "moreau", "reyes", "fischer",
    "kim", "singh", "walsh", "romero", "yilmaz", "sousa", "larsen", "petrov", "ortiz", "wong",
    "adeyemi", "klein",
)
_WORD1: Final = (
    "blue", "north", "bright", "swift", "silver", "green", "red", "clear", "true", "bold",
    "open", "deep", "quiet", "rapid", "golden", "iron", "cloud", "prime", "lumen", "pixel",
    "atlas", "cedar", "delta", "ember", "harbor", "maple", "nova", "orbit", "polar", "terra",
)
_WORD2: Final = (
    "peak", "stack", "wave", "forge", "field", "labs", "works", "leaf", "path", "point",
    "bridge", "spring", "grid", "loop", "craft", "signal", "river", "stone", "light", "yard",
    "metrics", "ledger", "pilot", "scale", "shift", "base", "nest", "line", "gate", "hub",
)
_TLDS: Final = (".com", ".com", ".com", ".io", ".co", ".ai", ".dev", ".net")
_UNIVERSITIES: Final = ("northfield.edu", "stateu.edu", "lakeside.edu", "westbrook.edu",
                        "eastern-tech.edu", "riverdale.edu")
_INDUSTRIES: Final = ("software", "fintech", "healthcare", "ecommerce", "media", "manufacturing",
                      "logistics", "consulting", "nonprofit", "education")
_CREATOR_SOURCES: Final = ("organic", "paid_search", "referral", "content", "partner")
_RIVAL_DOMAIN: Final = "rival.io"


def _obj(values: Sequence[Any]) -> ObjArray:
    out = np.empty(len(values), dtype=object)
    out[:] = list(values)
    return out


def _obj_with_none(values: Sequence[Any]) -> ObjArray:
    """An object lookup array whose last element is ``None``: index ``-1`` means missing."""
    return _obj([*values, None])


def _cum(weights: Sequence[float]) -> F64:
    return np.array(list(accumulate(float(w) for w in weights)), dtype=np.float64)


def _pick(rng: np.random.Generator, cum: F64, n: int) -> I64:
    """Draw ``n`` indices with the relative weights whose running sum is ``cum``."""
    u = rng.random(n) * cum[-1]
    idx: I64 = np.searchsorted(cum, u, side="right").astype(np.int64)
    return np.minimum(idx, len(cum) - 1, out=idx)


def _ids(prefix: str, n: int, width: int) -> ObjArray:
    """``prefix`` + zero-padded 1..n as an object array of ``str``, built without a loop.

    The digits are written as UCS-4 code points and viewed as a fixed-width string array,
    a million at a time to bound the temporary memory.
    """
    width = max(width, len(str(n)))
    size = len(prefix) + width
    out = np.empty(n, dtype=object)
    head = np.array([ord(c) for c in prefix], dtype=np.uint32)
    for lo in range(0, n, _ID_CHUNK):
        hi = min(n, lo + _ID_CHUNK)
        codes = np.empty((hi - lo, size), dtype=np.uint32)
        codes[:, : len(prefix)] = head
        # uint32 division is much faster than int64; ids past 2**32 - 1 need uint64.
        kind = np.dtype(np.uint32) if hi < 2**32 else np.dtype(np.uint64)
        x: npt.NDArray[np.unsignedinteger[Any]] = np.arange(lo + 1, hi + 1, dtype=kind)
        digits = np.empty((width, hi - lo), dtype=kind)
        for j in range(width - 1, -1, -1):
            q = x // 10  # Python ints keep the array's dtype (NEP 50)
            digits[j] = x - q * 10 + 48
            x = q
        codes[:, len(prefix):] = digits.T
        out[lo:hi] = codes.view(f"U{size}").reshape(hi - lo)
    return out


def _to_datetime(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def _parse_end(end: datetime | str) -> datetime:
    if isinstance(end, str):
        try:
            value = datetime.fromisoformat(end)
        except ValueError:
            raise ValidationError(
                f"end must be an ISO 8601 timestamp like '2026-06-01T00:00:00Z', got {end!r}"
            ) from None
    elif isinstance(end, datetime):
        value = end
    else:
        raise PqlkitTypeError(f"end must be a datetime or an ISO 8601 string, got {type(end).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(
            f"end must be timezone-aware (write 'Z' or an offset, or pass tzinfo), got {end!r}"
        )
    return value.astimezone(UTC)


def _check_int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise PqlkitTypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValidationError(f"{name} must be at least {minimum}, got {value!r}")
    return int(value)


def _snap(rng: np.random.Generator, ts: I64, lo: I64, hi: I64, tz: I64) -> I64:
    """Move instants to a plausible local working hour (and off most weekends) in their zone.

    Each instant keeps its local day but gets an hour drawn from the working-day profile;
    most weekend instants move to a random weekday of the same or the next week. Where the
    new instant would leave ``[lo, hi]`` the original is kept.
    """
    n = len(ts)
    local_day = (ts + tz) // _DAY
    hour = _pick(rng, _cum(_HOURS), n)
    sec = rng.integers(0, 3_600, n, dtype=np.int64)
    weekday = (local_day + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
    move = (weekday >= 5) & (rng.random(n) < 0.7)
    target = rng.integers(0, 5, n, dtype=np.int64) + np.where(rng.random(n) < 0.5, 7, 0)
    local_day = local_day + np.where(move, target - weekday, 0)
    cand = local_day * _DAY + hour * _H + sec * _S - tz
    out: I64 = np.where((cand >= lo) & (cand <= hi), cand, ts)
    return out


@attrs.frozen(kw_only=True, eq=False, repr=False)
class Columns:
    """Event columns: equal-length numpy arrays, one row per event.

    Attributes:
        user_id: object array of ``str`` user ids.
        account_id: object array of ``str`` account ids, ``None`` for events sent outside
            any account (marketing-site page views).
        name: object array of ``str`` event names.
        timestamp: ``int64`` microseconds since the Unix epoch, UTC.
        event_id: object array of unique ``str`` event ids.
        properties: property key to object array; ``None`` marks a missing value.

    >>> cols = Columns(
    ...     user_id=np.array(["u_1"], dtype=object), account_id=np.array([None], dtype=object),
    ...     name=np.array(["page_viewed"], dtype=object),
    ...     timestamp=np.array([1_780_000_000_000_000], dtype=np.int64),
    ...     event_id=np.array(["e_1"], dtype=object),
    ...     properties={"page": np.array(["/docs"], dtype=object)},
    ... )
    >>> len(cols)
    1
    """

    user_id: ObjArray
    account_id: ObjArray
    name: ObjArray
    timestamp: I64
    event_id: ObjArray
    properties: dict[str, ObjArray] = attrs.field(factory=dict)

    def __attrs_post_init__(self) -> None:
        n = len(self.timestamp)
        columns = {"user_id": self.user_id, "account_id": self.account_id, "name": self.name,
                   "event_id": self.event_id}
        columns.update({f"properties[{k!r}]": v for k, v in self.properties.items()})
        for label, column in columns.items():
            if len(column) != n:
                raise ValidationError(
                    f"column {label} has {len(column)} rows but timestamp has {n}"
                )

    def __len__(self) -> int:
        """The number of events.

        >>> len(synthetic_saas(n_accounts=3, seed=1).events) > 0
        True
        """
        return len(self.timestamp)

    def __repr__(self) -> str:
        return f"Columns({len(self)} events, properties={sorted(self.properties)})"

    def iter_records(self) -> Iterator[dict[str, Any]]:
        """Yield one dict per event, in column order.

        Each dict has ``event_id``, ``user_id``, ``account_id``, ``name``, ``timestamp``
        (an aware UTC :class:`~datetime.datetime`) and ``properties`` (only the keys whose
        value is not missing). The columns are converted a chunk at a time, so iterating
        over millions of events does not build them all at once.

        >>> rec = next(synthetic_saas(n_accounts=3, seed=1).events.iter_records())
        >>> sorted(rec)
        ['account_id', 'event_id', 'name', 'properties', 'timestamp', 'user_id']
        >>> rec["timestamp"].tzinfo
        datetime.timezone.utc
        """
        keys = list(self.properties)
        for lo in range(0, len(self), _CHUNK):
            hi = lo + _CHUNK
            props = [self.properties[k][lo:hi].tolist() for k in keys]
            rows = zip(self.event_id[lo:hi].tolist(), self.user_id[lo:hi].tolist(),
                       self.account_id[lo:hi].tolist(), self.name[lo:hi].tolist(),
                       self.timestamp[lo:hi].tolist(), strict=True)
            for i, (eid, uid, aid, name, ts) in enumerate(rows):
                yield {
                    "event_id": eid, "user_id": uid, "account_id": aid, "name": name,
                    "timestamp": _to_datetime(ts),
                    "properties": {
                        k: col[i] for k, col in zip(keys, props, strict=True)
                        if col[i] is not None
                    },
                }


@attrs.frozen(kw_only=True, eq=False, repr=False)
class SaasDataset:
    """A synthetic SaaS dataset: event columns, the users and accounts, and the outcome.

    Attributes:
        events: the events, sorted by timestamp (ties by event id).
        users: one dict per user: ``user_id``, ``account_id``, ``created_at`` (signup, an
            aware UTC datetime) and ``traits`` (``email``, ``email_domain``, ``name``,
            ``role``, ``persona``, ``plan``, ``signup_source``).
        accounts: one dict per account: ``account_id``, ``created_at`` and ``traits``
            (``name``, ``domain``, ``employees``, ``industry``, ``plan``).
        conversions: ``{"account_id", "converted_at"}`` for each account that moved to the
            paid plan, in order of conversion.
        end: the end of the window; no event is later.
        seed: the seed the data was generated with.

    >>> ds = synthetic_saas(n_accounts=10, seed=2)
    >>> ds  # doctest: +ELLIPSIS
    SaasDataset(... events, 10 accounts, ... users, ... conversions, end=2026-06-01T00:00:00+00:00, seed=2)
    """

    events: Columns
    users: list[dict[str, Any]]
    accounts: list[dict[str, Any]]
    conversions: list[dict[str, Any]]
    end: datetime
    seed: int

    def __repr__(self) -> str:
        return (
            f"SaasDataset({len(self.events)} events, {len(self.accounts)} accounts, "
            f"{len(self.users)} users, {len(self.conversions)} conversions, "
            f"end={self.end.isoformat()}, seed={self.seed})"
        )

    def records(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
        """The events, users and accounts as lists of dicts (copies), ready for loading.

        The shapes match what :meth:`pqlkit.EventLog.from_records` accepts.

        >>> events, users, accounts = synthetic_saas(n_accounts=5, seed=4).records()
        >>> events[0]["timestamp"] <= events[-1]["timestamp"]
        True
        >>> {u["account_id"] for u in users} <= {a["account_id"] for a in accounts}
        True
        """
        users = [{**u, "traits": dict(u["traits"])} for u in self.users]
        accounts = [{**a, "traits": dict(a["traits"])} for a in self.accounts]
        return list(self.events.iter_records()), users, accounts


def synthetic_saas(
    *,
    n_accounts: int = 200,
    days: int = 90,
    end: datetime | str = "2026-06-01T00:00:00Z",
    seed: int = 7,
    events_per_user: float | None = None,
    n_events: int | None = None,
) -> SaasDataset:
    """Generate a deterministic, realistic synthetic SaaS product-event dataset.

    Accounts are created uniformly over the ``days`` before ``end``; their sizes follow a
    truncated Zipf law (most have 1-3 users, a few 20-60). The first user of each account
    is its admin; the others join later, most of them invited by it. Activity per user
    follows a power law scaled by role and persona and is spread over the user's active
    span (signup to churn or ``end``) in sessions at local working hours. About 3% of
    accounts are students (``.edu`` emails) and 1.5% are competitors (``rival.io``).
    Conversion to the paid plan is drawn from the behaviour each account showed (the aha
    moment, pricing views, usage limits, invites, team size), some time after it.

    Events scale linearly with ``n_accounts``, at about 180 per account: the defaults give
    about 36 thousand events (25-50 thousand depending on the seed), ``n_accounts=5_000``
    about a million and ``n_accounts=50_000`` about 9 million.

    Args:
        n_accounts: how many accounts (workspaces) to create.
        days: the length of the window, in days, ending at ``end``.
        end: the end of the window: an aware datetime or an ISO 8601 string with a zone.
        seed: the seed of :func:`numpy.random.default_rng`; equal arguments give
            byte-identical data.
        events_per_user: the mean number of events per user (40 when neither this nor
            ``n_events`` is given). Every user has at least a first session and the
            milestones of their persona, so very small values are not reached.
        n_events: the total number of events to aim for instead of a per-user mean, for
            data of a given size (benchmarks): the result holds ``n_events`` within about
            1% (usage-limit hits after a conversion are dropped, and every user keeps a
            first session and their milestones). Pair it with
            ``n_accounts`` of about ``n_events / 180`` to keep the usual activity per user.
            Give at most one of ``events_per_user`` and ``n_events``.

    Returns:
        A :class:`SaasDataset`.

    Raises:
        TypeError: an argument has the wrong type.
        ValueError: an argument is out of range, or ``end`` is naive.

    >>> ds = synthetic_saas(n_accounts=20, days=30, seed=1)
    >>> ds.events.name[0], ds.users[0]["traits"]["role"], ds.accounts[0]["account_id"]
    ('session_started', 'admin', 'a_0001')
    >>> ds.events.user_id[0] == ds.users[0]["user_id"]
    True
    >>> bool((ds.events.timestamp[:-1] <= ds.events.timestamp[1:]).all())
    True
    >>> abs(len(synthetic_saas(n_accounts=60, n_events=10_000, seed=1).events) - 10_000) < 100
    True
    """
    n_accounts = _check_int(n_accounts, "n_accounts", 0)
    days = _check_int(days, "days", 1)
    seed = _check_int(seed, "seed", 0)
    if n_events is not None:
        if events_per_user is not None:
            raise ValidationError(
                "synthetic_saas: give at most one of events_per_user= and n_events=, got "
                f"events_per_user={events_per_user!r} and n_events={n_events!r}"
            )
        if isinstance(n_events, bool) or not isinstance(n_events, (int, np.integer)):
            raise PqlkitTypeError(
                f"synthetic_saas: n_events must be an integer, got {n_events!r} "
                f"({type(n_events).__name__})"
            )
        if n_events < 0:
            raise ValidationError(f"synthetic_saas: n_events must be >= 0, got {n_events!r}")
    if events_per_user is None:
        events_per_user = 40.0
    if isinstance(events_per_user, bool) or not isinstance(
        events_per_user, (int, float, np.integer, np.floating)
    ):
        raise PqlkitTypeError(f"events_per_user must be a number, got {events_per_user!r}")
    if not math.isfinite(float(events_per_user)) or events_per_user < 0:
        raise ValidationError(f"events_per_user must be finite and >= 0, got {events_per_user!r}")
    end_dt = _parse_end(end)
    end_us = (end_dt - _EPOCH) // timedelta(microseconds=1)
    start_us = end_us - days * _DAY
    rng = np.random.default_rng(seed)
    return _generate(rng, n_accounts, start_us, end_us, float(events_per_user),
                     None if n_events is None else int(n_events), end_dt, seed)


def _generate(rng: np.random.Generator, n_acc: int, start_us: int, end_us: int,
              events_per_user: float, n_events: int | None, end_dt: datetime,
              seed: int) -> SaasDataset:
    # ---------------------------------------------------------------- accounts
    # pow is only used on this constant table, pinned to 12 significant digits so that a
    # last-bit difference between C libraries cannot change it.
    size_w = [float(f"{x ** -_ZIPF_EXPONENT:.12g}") for x in range(1, _MAX_ACCOUNT_SIZE + 1)]
    sizes = _pick(rng, _cum(size_w), n_acc) + 1
    kind = np.full(n_acc, _REGULAR, dtype=np.int64)
    if n_acc >= 10:
        perm = rng.permutation(n_acc)
        n_edu, n_rival = math.ceil(0.03 * n_acc), math.ceil(0.015 * n_acc)
        kind[perm[:n_edu]] = _EDU
        kind[perm[n_edu:n_edu + n_rival]] = _RIVAL
    sizes = np.where(kind == _EDU, 1, np.where(kind == _RIVAL, np.minimum(sizes, 2), sizes))
    tz = np.array(_TZ_HOURS, dtype=np.int64)[rng.integers(0, len(_TZ_HOURS), n_acc)] * _H
    window_s = (end_us - start_us) // _S
    created = start_us + rng.integers(0, window_s, n_acc, dtype=np.int64) * _S
    lo = np.full(n_acc, start_us, dtype=np.int64)
    created = _snap(rng, created, lo, np.full(n_acc, end_us - _S, dtype=np.int64), tz)
    trial = rng.random(n_acc) < 0.45
    # Number accounts in order of creation, like a database would.
    order = np.argsort(created, kind="stable")
    sizes, kind, tz, created, trial = sizes[order], kind[order], tz[order], created[order], \
        trial[order]

    # ------------------------------------------------------------------- users
    n_users = int(sizes.sum())
    acc = np.repeat(np.arange(n_acc, dtype=np.int64), sizes)
    acc_first = np.cumsum(sizes) - sizes  # the index of each account's first user
    rank = np.arange(n_users, dtype=np.int64) - acc_first[acc]
    creator = rank == 0
    g = rng.random(n_users)
    span_s = (end_us - created[acc]) // _S
    joined = created[acc] + np.floor(g * g * span_s).astype(np.int64) * _S
    joined = _snap(rng, joined, created[acc], np.full(n_users, end_us, dtype=np.int64), tz[acc])
    signup = np.where(creator, created[acc], joined)  # the creator signs up with the account
    role = np.where(creator, 0, _pick(rng, _cum((12, 58, 30)), n_users))
    persona = _personas(rng, creator, role, sizes[acc], kind[acc])
    invited = ~creator & (rng.random(n_users) < 0.7)
    source = _pick(rng, _cum((45, 20, 15, 15, 5)), n_users)
    # Number users in order of signup too (stable, so an account's creator comes first).
    uorder = np.argsort(signup, kind="stable")
    acc, signup, role, persona, source = (
        a[uorder] for a in (acc, signup, role, persona, source)
    )
    creator, invited = creator[uorder], invited[uorder]
    inverse = np.empty(n_users, dtype=np.int64)
    inverse[uorder] = np.arange(n_users, dtype=np.int64)
    acc_first = inverse[acc_first]  # the index of each account's creator

    # Activity and churn.
    u = 1.0 - rng.random(n_users)
    activity = np.minimum(1.0 / (np.sqrt(u) * np.sqrt(np.sqrt(u))), _MAX_ACTIVITY)
    activity = (activity * np.array(_PERSONA_ACTIVITY)[persona]
                * np.array(_ROLE_ACTIVITY)[role])
    active_end = np.full(n_users, end_us, dtype=np.int64)
    churn_u, churn_v = rng.random(n_users), rng.random(n_users)
    for p, (prob, bounds) in _CHURN.items():
        m = (persona == p) & (churn_u < prob)
        if bounds is None:
            left = end_us - signup[m]
            after = np.floor((0.1 + 0.8 * churn_v[m]) * left).astype(np.int64)
        else:
            a, b = bounds[0] * _H, bounds[1] * _H
            after = np.floor(a + churn_v[m] * (b - a)).astype(np.int64)
        active_end[m] = np.minimum(end_us, signup[m] + after)
    active_len = active_end - signup

    # ------------------------------------------------------------------ events
    parts: list[tuple[I64, I64, I64]] = []  # (user, name code, timestamp)
    # The first session, at signup.
    parts.append((np.arange(n_users, dtype=np.int64),
                  np.full(n_users, _SESSION, dtype=np.int64), signup.copy()))
    # Accepted invitations: sent by the account's creator shortly before the teammate joins.
    inv = np.flatnonzero(invited)
    inviter = acc_first[acc[inv]]
    du = rng.random(len(inv))
    delay = np.floor(60 * _S + du * du * (2 * _DAY)).astype(np.int64)
    parts.append((inviter, np.full(len(inv), _INVITE, dtype=np.int64),
                  np.maximum(signup[inviter], signup[inv] - delay)))
    # Persona milestones, dropped when they would fall after the user's active span.
    draws = rng.random((len(_MILESTONES), 2, n_users))
    for j, (p, name, prob, h0, h1) in enumerate(_MILESTONES):
        m = (persona == p) & (draws[j, 0] < prob)
        who = np.flatnonzero(m)
        ts = signup[who] + np.floor((h0 + draws[j, 1][who] * (h1 - h0)) * _H).astype(np.int64)
        keep = ts <= active_end[who]
        parts.append((who[keep], np.full(int(keep.sum()), name, dtype=np.int64), ts[keep]))
    n_fixed = sum(len(part[0]) for part in parts)

    # The power-law bulk: each user's share of the remaining budget, over their active span.
    weight = activity * (active_len / _DAY + 0.05)
    target = events_per_user * n_users if n_events is None else float(n_events)
    budget = max(target - n_fixed, 0.0)
    total_weight = math.fsum(weight.tolist())
    scale = budget / total_weight if total_weight > 0 else 0.0
    n_mix = np.floor(weight * scale + rng.random(n_users)).astype(np.int64)
    parts.append(_bulk(rng, n_mix, persona, signup, active_end, tz[acc], end_us))

    ev_user = np.concatenate([part[0] for part in parts])
    ev_name = np.concatenate([part[1] for part in parts])
    ev_ts = np.concatenate([part[2] for part in parts])
    ev_acc = acc[ev_user]
    del parts, draws

    # -------------------------------------------------------------- conversion
    converted_at = _conversions(rng, ev_acc, ev_name, ev_ts, created, sizes, kind, end_us)
    conv_ev = converted_at[ev_acc]
    # The paid plan lifts the limits: no more limit hits or blocked invites after converting.
    keep = ~(np.isin(ev_name, (_LIMIT, _SEATCAP)) & (ev_ts >= conv_ev))
    ev_user, ev_name, ev_ts, ev_acc, conv_ev = (
        a[keep] for a in (ev_user, ev_name, ev_ts, ev_acc, conv_ev)
    )
    plan = np.where(ev_ts >= conv_ev, _PRO,
                    np.where(trial[ev_acc] & (ev_ts < created[ev_acc] + _TRIAL_US), _TRIAL, _FREE))
    # The seat cap only applies on the free plan; on a trial the invite goes through.
    ev_name = np.where((ev_name == _SEATCAP) & (plan != _FREE), _INVITE, ev_name)
    acc_plan = np.where(converted_at <= end_us, _PRO,
                        np.where(trial & (end_us < created + _TRIAL_US), _TRIAL, _FREE))

    # ------------------------------------------------------------- properties
    n = len(ev_ts)
    order = np.argsort(ev_ts, kind="stable")
    ev_user, ev_name, ev_ts, ev_acc, plan = (a[order] for a in (ev_user, ev_name, ev_ts, ev_acc,
                                                                 plan))
    ev_persona = persona[ev_user]
    page = np.full(n, -1, dtype=np.int64)
    is_page = np.flatnonzero(ev_name == _PAGE)
    site = rng.random(len(is_page)) < _SITE_SHARE
    page_draw = np.empty(len(is_page), dtype=np.int64)
    page_draw[site] = _pick(rng, _cum((30, 25, 25, 10, 10)), int(site.sum()))
    page_draw[site] = np.array([_PAGES.index(p) for p in _SITE_PAGES])[page_draw[site]]
    for p, weights in _PAGE_MIX.items():
        m = ~site & (ev_persona[is_page] == p)
        page_draw[m] = np.array([_PAGES.index(x) for x in _APP_PAGES])[
            _pick(rng, _cum(weights), int(m.sum()))
        ]
    page[is_page] = page_draw
    no_account = np.zeros(n, dtype=np.bool_)
    no_account[is_page[site]] = True
    plan = np.where(no_account | (rng.random(n) < _NO_PLAN_SHARE), -1, plan)

    feature = np.full(n, -1, dtype=np.int64)
    for name, choices, weights in (
        (_INTEGRATION, _INTEGRATIONS, (30, 20, 15, 12, 10, 8, 5)),
        (_AUTOMATION, _AUTOMATIONS, (30, 25, 20, 15, 10)),
    ):
        idx = np.flatnonzero(ev_name == name)
        codes = np.array([_FEATURES.index(c) for c in choices])
        feature[idx] = codes[_pick(rng, _cum(weights), len(idx))]
    source_prop = np.full(n, -1, dtype=np.int64)
    idx = np.flatnonzero(ev_name == _SOURCE)
    source_prop[idx] = _pick(rng, _cum((30, 20, 15, 12, 13, 10)), len(idx))

    # Storage grows linearly per account, faster where there is more activity.
    acc_events = np.bincount(ev_acc, minlength=n_acc).astype(np.float64)
    days_total = (end_us - start_us) / _DAY
    rate = 0.2 + 1.5 * acc_events / days_total  # MB per day
    base = 0.5 + 10.0 * rng.random(n_acc)
    storage_idx = np.flatnonzero((ev_name == _SESSION) | (ev_name == _PROJECT))
    a_idx = ev_acc[storage_idx]
    mb = base[a_idx] + rate[a_idx] * ((ev_ts[storage_idx] - created[a_idx]) / _DAY)
    mb = np.floor(mb * 10.0 + 0.5) / 10.0
    storage = np.full(n, None, dtype=object)
    storage[storage_idx] = mb.tolist()
    idx = np.flatnonzero(ev_name == _MESSAGE)
    um = 1.0 - rng.random(len(idx))
    count = np.full(n, None, dtype=object)
    count[idx] = np.minimum(1 + np.floor(3.0 * (1.0 / np.sqrt(um) - 1.0)), 500).astype(
        np.int64).tolist()

    # ----------------------------------------------------------------- columns
    user_ids = _ids("u_", n_users, 6)
    account_ids = _ids("a_", n_acc, 4)
    acc_lookup = _obj([*account_ids.tolist(), None])
    events = Columns(
        user_id=user_ids[ev_user],
        account_id=acc_lookup[np.where(no_account, n_acc, ev_acc)],
        name=_obj(EVENT_NAMES)[ev_name],
        timestamp=ev_ts.astype(np.int64),
        event_id=_ids("e_", n, 8),
        properties={
            "plan": _obj_with_none(_PLANS)[plan],
            "page": _obj_with_none(_PAGES)[page],
            "feature": _obj_with_none(_FEATURES)[feature],
            "source": _obj_with_none(_SOURCES)[source_prop],
            "storage_used_mb": storage,
            "count": count,
        },
    )

    accounts, domains = _account_table(rng, account_ids, created, sizes, kind, acc_plan)
    users = _user_table(rng, user_ids, account_ids, acc, signup, role, persona, invited, source,
                        creator, kind, domains, acc_plan)
    conv = np.flatnonzero(converted_at <= end_us)
    conv = conv[np.argsort(converted_at[conv], kind="stable")]
    conversions = [{"account_id": account_ids[i], "converted_at": _to_datetime(int(t))}
                   for i, t in zip(conv.tolist(), converted_at[conv].tolist(), strict=True)]
    return SaasDataset(events=events, users=users, accounts=accounts, conversions=conversions,
                       end=end_dt, seed=seed)


def _personas(rng: np.random.Generator, creator: BoolArray, role: I64, size: I64,
              kind: I64) -> I64:
    """Draw each user's persona from weights that depend on who they are."""
    n = len(role)
    persona = np.empty(n, dtype=np.int64)
    #           explorer evaluator builder champion collaborator
    groups: list[tuple[BoolArray, tuple[float, ...]]] = [
        (creator & (kind == _RIVAL), (30, 70, 0, 0, 0)),
        (creator & (kind == _EDU), (50, 10, 40, 0, 0)),
        (creator & (kind == _REGULAR) & (size == 1), (55, 20, 18, 7, 0)),
        (creator & (kind == _REGULAR) & (size > 1), (20, 15, 30, 35, 0)),
        (~creator & (role == 0), (10, 10, 45, 15, 20)),
        (~creator & (role == 1), (20, 3, 30, 2, 45)),
        (~creator & (role == 2), (35, 0, 5, 0, 60)),
    ]
    u = rng.random(n)
    for mask, weights in groups:
        cum = _cum(weights)
        idx = np.searchsorted(cum, u[mask] * cum[-1], side="right")
        persona[mask] = np.minimum(idx, len(weights) - 1)
    return persona


def _bulk(rng: np.random.Generator, n_mix: I64, persona: I64, signup: I64, active_end: I64,
          tz: I64, end_us: int) -> tuple[I64, I64, I64]:
    """The bulk of the events: sessions at working hours, each with a few events."""
    n_users = len(n_mix)
    total = int(n_mix.sum())
    user = np.repeat(np.arange(n_users, dtype=np.int64), n_mix)
    block = np.cumsum(n_mix) - n_mix
    pos = np.arange(total, dtype=np.int64) - block[user]
    # Sessions after the first: about one in _SESSION_LENGTH events starts one.
    extra = np.minimum(
        np.floor(n_mix / _SESSION_LENGTH + rng.random(n_users)).astype(np.int64), n_mix
    )
    is_session = pos < extra[user]
    name = np.full(total, _SESSION, dtype=np.int64)
    ts = np.empty(total, dtype=np.int64)

    s = np.flatnonzero(is_session)
    su = user[s]
    span = active_end[su] - signup[su]
    start = signup[su] + np.floor(rng.random(len(s)) * span).astype(np.int64)
    ts[s] = _snap(rng, start, signup[su], active_end[su], tz[su])

    a = np.flatnonzero(~is_session)
    au = user[a]
    k = rng.integers(0, extra[au] + 1, dtype=np.int64)  # 0 is the signup session
    start = np.where(k == 0, signup[au], ts[block[au] + np.maximum(k, 1) - 1])
    offset = rng.integers(2, 50 * 60, len(a), dtype=np.int64) * _S
    ts[a] = np.minimum(start + offset + rng.integers(0, 1000, len(a)) * 1000, end_us)
    ap = persona[au]
    names = np.empty(len(a), dtype=np.int64)
    for p, mix in _MIX.items():
        m = ap == p
        codes = np.array(list(mix), dtype=np.int64)
        names[m] = codes[_pick(rng, _cum(list(mix.values())), int(m.sum()))]
    name[a] = names
    return user, name, ts


def _conversions(rng: np.random.Generator, ev_acc: I64, ev_name: I64, ev_ts: I64,
                 created: I64, sizes: I64, kind: I64, end_us: int) -> I64:
    """When each account converted to the paid plan (``_NEVER`` if it did not by ``end``).

    The chance grows with the behaviour the account showed; the conversion follows the
    later of its aha moment and its first intent signal by an hour to three weeks.
    """
    n_acc = len(created)

    def first(codes: tuple[int, ...]) -> I64:
        out = np.full(n_acc, _NEVER, dtype=np.int64)
        m = np.isin(ev_name, codes)
        np.minimum.at(out, ev_acc[m], ev_ts[m])
        return out

    def counts(code: int) -> I64:
        return np.bincount(ev_acc[ev_name == code], minlength=n_acc).astype(np.int64)

    first_source, first_dash = first((_SOURCE,)), first((_DASHBOARD,))
    aha = (first_source < _NEVER) & (first_dash < _NEVER)
    aha_at = np.where(aha, np.maximum(first_source, first_dash), created)
    first_intent = first((_LIMIT, _SEATCAP, _PRICING))
    pricing = counts(_PRICING)
    limits = counts(_LIMIT) + counts(_SEATCAP)
    invites = counts(_INVITE)
    p = (0.01 + 0.10 * aha + 0.06 * (pricing >= 2) + 0.12 * (limits >= 1)
         + 0.04 * (invites >= 1) + 0.04 * (sizes >= 3) + 0.04 * (sizes >= 10))
    p = np.where(kind == _RIVAL, 0.0, np.where(kind == _EDU, p * 0.1, p))
    signal = np.maximum(aha_at, np.where(first_intent < _NEVER, first_intent, created))
    u = rng.random(n_acc)
    du = rng.random(n_acc)
    delay_s = 3_600 + np.floor(du * du * (21 * 86_400)).astype(np.int64)
    at = (signal // _S + delay_s) * _S
    return np.where((u < p) & (at <= end_us), at, _NEVER)


def _account_table(rng: np.random.Generator, account_ids: ObjArray, created: I64, sizes: I64,
                   kind: I64, acc_plan: I64) -> tuple[list[dict[str, Any]], list[str]]:
    n = len(created)
    w1 = rng.integers(0, len(_WORD1), n).tolist()
    w2 = rng.integers(0, len(_WORD2), n).tolist()
    tld = rng.integers(0, len(_TLDS), n).tolist()
    uni = rng.integers(0, len(_UNIVERSITIES), n).tolist()
    industry = _pick(rng, _cum((30, 12, 10, 10, 8, 8, 7, 8, 4, 3)), n).tolist()
    ue = 1.0 - rng.random(n)
    employees = np.maximum(sizes, np.floor(sizes * 3.0 / ue)).astype(np.int64)
    employees = np.minimum(employees, 50_000).tolist()
    seen: dict[str, int] = {}
    accounts: list[dict[str, Any]] = []
    domains: list[str] = []
    for i in range(n):
        k = int(kind[i])
        if k == _EDU:
            domain = _UNIVERSITIES[uni[i]]
            name = domain.split(".")[0].replace("-", " ").title() + " (student)"
            traits = {"name": name, "domain": domain, "employees": 1, "industry": "education"}
        elif k == _RIVAL:
            domain = _RIVAL_DOMAIN
            traits = {"name": "Rival", "domain": domain, "employees": employees[i],
                      "industry": "software"}
        else:
            slug = _WORD1[w1[i]] + _WORD2[w2[i]]
            seen[slug] = seen.get(slug, 0) + 1
            if seen[slug] > 1:
                slug = f"{slug}{seen[slug]}"
            domain = slug + _TLDS[tld[i]]
            name = (_WORD1[w1[i]] + " " + _WORD2[w2[i]]).title()
            if seen[_WORD1[w1[i]] + _WORD2[w2[i]]] > 1:
                name = f"{name} {seen[_WORD1[w1[i]] + _WORD2[w2[i]]]}"
            traits = {"name": name, "domain": domain, "employees": employees[i],
                      "industry": _INDUSTRIES[industry[i]]}
        traits["plan"] = _PLANS[int(acc_plan[i])]
        domains.append(domain)
        accounts.append({"account_id": account_ids[i], "created_at": _to_datetime(int(created[i])),
                         "traits": traits})
    return accounts, domains


def _user_table(rng: np.random.Generator, user_ids: ObjArray, account_ids: ObjArray, acc: I64,
                signup: I64, role: I64, persona: I64, invited: BoolArray, source: I64,
                creator: BoolArray, kind: I64, domains: list[str],
                acc_plan: I64) -> list[dict[str, Any]]:
    n = len(acc)
    first = rng.integers(0, len(_FIRST), n).tolist()
    last = rng.integers(0, len(_LAST), n).tolist()
    year = rng.integers(20, 30, n).tolist()
    seen: set[str] = set()
    users: list[dict[str, Any]] = []
    acc_l, signup_l, role_l, persona_l = acc.tolist(), signup.tolist(), role.tolist(), \
        persona.tolist()
    invited_l, source_l, creator_l = invited.tolist(), source.tolist(), creator.tolist()
    kind_l, plan_l = kind.tolist(), acc_plan.tolist()
    for i in range(n):
        a = acc_l[i]
        fn, ln = _FIRST[first[i]], _LAST[last[i]]
        domain = domains[a]
        local = f"{fn[0]}{ln}{year[i]}" if kind_l[a] == _EDU else f"{fn}.{ln}"
        email = f"{local}@{domain}"
        bump = 1
        while email in seen:
            bump += 1
            email = f"{local}{bump}@{domain}"
        seen.add(email)
        if creator_l[i]:
            signup_source = _CREATOR_SOURCES[source_l[i]]
        else:
            signup_source = "invite" if invited_l[i] else "domain_join"
        users.append({
            "user_id": user_ids[i],
            "account_id": account_ids[a],
            "created_at": _to_datetime(signup_l[i]),
            "traits": {
                "email": email,
                "email_domain": domain,
                "name": f"{fn.title()} {ln.title()}",
                "role": _ROLES[role_l[i]],
                "persona": PERSONAS[persona_l[i]],
                "plan": _PLANS[plan_l[a]],
                "signup_source": signup_source,
            },
        })
    return users
