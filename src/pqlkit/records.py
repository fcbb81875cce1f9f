"""The records data arrives as: :class:`Event`, :class:`User` and :class:`Account`.

Records are frozen and validated when built, so a bad field raises at once with the field
named. Loading dict rows goes through the same checks, but a failure there becomes a
rejection on the load report instead of an exception (see :mod:`pqlkit.eventlog`).
"""

from __future__ import annotations

import copyreg
import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any, Final

import attrs
import numpy as np

from pqlkit._time import as_duration, from_micros, to_micros, to_utc
from pqlkit.errors import FieldError, PqlkitTypeError, ValidationError

__all__ = ["Account", "EntityId", "Event", "FieldError", "User", "check_not_future",
           "future_limit"]

EntityId = str | int
MAX_NAME_LENGTH: Final = 200
_EMPTY: Final[Mapping[str, Any]] = MappingProxyType({})


def _proxy(items: dict[str, Any]) -> Mapping[str, Any]:
    """A read-only view of ``items`` (what a pickled mappingproxy is rebuilt with)."""
    return MappingProxyType(items)


def _reduce_proxy(proxy: Mapping[str, Any]) -> tuple[Any, tuple[dict[str, Any]]]:
    return _proxy, (dict(proxy),)


# Properties and traits are read-only mappings (mappingproxy), which pickle refuses: a log,
# a record or a result could not go to a worker process, nor be deep-copied. Registered
# for the type, as cloudpickle does: a proxy pickles as a copy of what it shows.
copyreg.pickle(MappingProxyType, _reduce_proxy)


def check_id(value: Any, field: str, *, required: bool) -> EntityId | None:
    """Validate an entity or event id: a non-empty string or an integer."""
    if value is None:
        if required:
            raise FieldError(f"{field} is missing", reason="missing_identity", field=field)
        return None
    if isinstance(value, (bool, np.bool_)):
        raise FieldError(
            f"{field} must be a string or an integer, got {value!r} (bool)",
            reason="invalid_id", field=field,
        )
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        if not value.strip():
            if required:
                raise FieldError(f"{field} is empty", reason="missing_identity", field=field)
            return None
        if not utf8(value):
            raise FieldError(f"{field} {value!r} {_NOT_UTF8}", reason="invalid_id", field=field)
        # numpy.str_ and other subclasses become plain str, so "u1" is one id however it came.
        return value if type(value) is str else str(value)
    raise FieldError(
        f"{field} must be a string or an integer, got {value!r} ({type(value).__name__})",
        reason="invalid_id", field=field,
    )


def check_name(value: Any) -> str:
    """Validate an event name: a non-empty string without control characters."""
    if value is None:
        raise FieldError("name is missing", reason="missing_name", field="name")
    if not isinstance(value, str):
        raise FieldError(
            f"name must be a string, got {value!r} ({type(value).__name__})",
            reason="invalid_name", field="name",
        )
    if not value.strip():
        raise FieldError("name is empty", reason="missing_name", field="name")
    if len(value) > MAX_NAME_LENGTH:
        raise FieldError(
            f"name is {len(value)} characters long; at most {MAX_NAME_LENGTH} are allowed",
            reason="invalid_name", field="name",
        )
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise FieldError(
            f"name {value!r} contains control characters", reason="invalid_name", field="name"
        )
    if not utf8(value):
        raise FieldError(f"name {value!r} {_NOT_UTF8}", reason="invalid_name", field="name")
    return value if type(value) is str else str(value)


#: Why a str with a lone surrogate is refused as an id or a name: results, explanations
#: and every file written hold ids and names, and UTF-8 cannot.
_NOT_UTF8 = ("holds a lone surrogate (from a bad \\ud800-style escape in JSON, or bytes "
             "decoded with errors='surrogateescape'), which no UTF-8 output can hold")


def utf8(text: str) -> bool:
    """Whether ``text`` can be written as UTF-8: it holds no lone surrogate."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def plain(value: Any, what: str = "comparison value") -> Any:
    """A value as the plain Python value it stands for: a numpy scalar (``np.float64``,
    ``np.str_``, ``np.datetime64``, read as UTC as loaders read it), an enum member or other
    subclass of str, int or float, and an aware pandas ``Timestamp`` become str, int, float,
    bool or datetime; inside lists, tuples and mappings too. So that a literal, setting or
    property from a dataframe (``df["plan"].unique()``, ``df.score.quantile(0.9)``) or an
    enum prints as code that builds it and equals what a model file reads back. Anything
    else is left for the checks to refuse."""
    if isinstance(value, (list, tuple)):
        return (type(value)(plain(v, what) for v in value) if type(value) in (list, tuple)
                else [plain(v, what) for v in value])
    if isinstance(value, Mapping):
        return {plain(k, what): plain(v, what) for k, v in value.items()}
    return _plain_scalar(value, what)


def _plain_scalar(value: Any, what: str) -> Any:
    if isinstance(value, np.generic):
        if isinstance(value, np.datetime64):
            return value if np.isnat(value) else to_utc(value, what=what)
        value = value.item()
    kind = type(value)
    if kind in (str, int, float, bool, datetime) or value is None:
        return value
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, datetime) and value.tzinfo is not None:
        return to_utc(value, what=what)
    return value


#: How deep lists and mappings may nest in a property or trait value.
MAX_DEPTH: Final = 32


def _check_value(value: Any, path: str, depth: int = 0) -> Any:
    table = path.split(".", 1)[0]  # properties / traits
    if isinstance(value, (Mapping, list, tuple)) and depth >= MAX_DEPTH:
        # (Deeper values would exhaust Python's recursion where the log keys and orders
        # them, aborting the whole load.)
        raise FieldError(
            f"{table} nest lists and mappings more than {MAX_DEPTH} levels deep (at "
            f"{path[:80]}...); flatten the value", reason=f"invalid_{table}", field=table)
    try:
        value = _plain_scalar(value, path)
    except ValidationError as exc:  # a numpy datetime64 out of range
        raise FieldError(str(exc), reason=f"invalid_{table}", field=path) from None
    if isinstance(value, float):
        if not math.isfinite(value):
            raise FieldError(
                f"{path} is {value!r}; numeric values must be finite (use None for missing)",
                reason="non_finite_property", field=path,
            )
        return value
    if isinstance(value, datetime) and value.tzinfo is None:
        # A naive moment is never assumed to be UTC (DESIGN §3.1), in a trait or
        # property as in a timestamp: compared with an aware one it would never match.
        raise FieldError(
            f"{path} is {value!r}, which has no time zone; give it one "
            "(datetime(..., tzinfo=timezone.utc))",
            reason=f"invalid_{table}", field=path)
    if isinstance(value, datetime):
        # One spelling per instant (UTC, a plain datetime, as the Arrow loaders read
        # timestamp columns): which of two equal values a log keeps, and how values order
        # (DESIGN §3.3, §3.4), must not depend on the zone a row wrote it in.
        try:
            return to_utc(value, what=path)
        except ValidationError as exc:
            raise FieldError(str(exc), reason=f"invalid_{table}",
                             field=path) from None
    if value is None or isinstance(value, (str, int, bool)):
        return value
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            key = str(k)
            if key in out:  # 1 and "1": one of them would be lost
                raise FieldError(
                    f"{path} has two keys that read as {key!r} ({k!r} among them); keys are "
                    "text, so rename one", reason=f"invalid_{table}",
                    field=path)
            out[key] = _check_value(v, f"{path}.{k}", depth + 1)
        # Keys in order: equal mappings read back alike, whichever came first.
        return MappingProxyType(dict(sorted(out.items())))
    if isinstance(value, (list, tuple)):
        return tuple(_check_value(v, f"{path}[{i}]", depth + 1) for i, v in enumerate(value))
    raise FieldError(
        f"{path} has unsupported type {type(value).__name__} ({value!r}); use strings, "
        "numbers, booleans, None, lists or mappings",
        reason=f"invalid_{table}", field=path,
    )


def check_mapping(value: Any, field: str) -> Mapping[str, Any]:
    """Validate a mapping of properties or traits and return a read-only copy."""
    if value is None:
        return _EMPTY
    if not isinstance(value, Mapping):
        raise FieldError(
            f"{field} must be a mapping, got {value!r} ({type(value).__name__})",
            reason=f"invalid_{field}", field=field,
        )
    out = {}
    for key, item in value.items():
        if not isinstance(key, str) or not key:
            raise FieldError(
                f"{field} keys must be non-empty strings, got {key!r}",
                reason=f"invalid_{field}", field=field,
            )
        out[key] = _check_value(item, f"{field}.{key}")
    return MappingProxyType(out)


def check_timestamp(value: Any, field: str = "timestamp", *, tz: Any = None,
                    epoch_unit: str | None = None) -> datetime:
    """Validate a timestamp and normalise it to aware UTC, mapping failures to reason codes."""
    if value is None or (isinstance(value, str) and not value.strip()) or is_nat(value):
        raise FieldError(f"{field} is missing", reason="missing_timestamp", field=field)
    try:
        return to_utc(value, what=field, tz=tz, epoch_unit=epoch_unit)
    except ValidationError as exc:
        text = str(exc)
        if "no time zone" in text:
            reason = "naive_timestamp"
        elif "out of" in text:
            reason = "timestamp_out_of_range"
        else:
            reason = "invalid_timestamp"
        raise FieldError(text, reason=reason, field=field) from exc
    except TypeError as exc:
        raise FieldError(str(exc), reason="invalid_timestamp", field=field) from exc


def future_limit(future_tolerance: str | timedelta | None, now: Any = None) -> int | None:
    """The latest acceptable event instant (µs since the epoch), or None for no limit.

    ``now`` defaults to the wall clock at the moment of the load: this is the one place
    loading reads the clock, and only when ``future_tolerance`` is given, because an event
    from the future is a client's clock being wrong, not data to score.

    >>> future_limit("1d", now="2026-06-01T00:00:00Z") == future_limit("24h", now="2026-06-01T00:00:00Z")
    True
    >>> future_limit(None) is None
    True
    """
    if future_tolerance is None:
        if now is not None:
            raise PqlkitTypeError(
                "now= only applies with future_tolerance=; pass future_tolerance='1d' (say) "
                "to reject events later than now + 1 day"
            )
        return None
    tolerance = as_duration(future_tolerance, what="future_tolerance")
    moment = datetime.now(UTC) if now is None else to_utc(now, what="now")
    return tolerance.after(to_micros(moment))


def check_not_future(ts_us: int, limit: int | None, field: str = "timestamp") -> None:
    """Reject an event instant later than ``limit`` (see :func:`future_limit`)."""
    if limit is not None and ts_us > limit:
        try:
            shown = from_micros(ts_us).isoformat()
        except ValidationError:  # (a Segment clock-skew correction can land past 9999)
            raise FieldError(f"{field} {ts_us} µs since the epoch is out of range (years 1 "
                             "to 9999)", reason="timestamp_out_of_range", field=field) from None
        raise FieldError(
            f"{field} {shown} is later than the load's future "
            f"tolerance allows (latest accepted: {from_micros(limit).isoformat()}); a client "
            "clock is probably wrong; widen future_tolerance= if such events are real",
            reason="future_timestamp", field=field,
        )


def is_nat(value: Any) -> bool:
    """True for ``numpy.datetime64('NaT')`` and pandas' ``NaT``: a datetime column's missing
    value (pandas is not imported to check)."""
    if isinstance(value, np.datetime64):
        return bool(np.isnat(value))
    return type(value).__name__ == "NaTType" and type(value).__module__.startswith("pandas")


def _opt_timestamp(value: Any) -> datetime | None:
    return None if value is None or is_nat(value) else check_timestamp(value, "created_at")


def _event_user(value: Any) -> EntityId | None:
    return check_id(value, "user_id", required=False)


def _event_account(value: Any) -> EntityId | None:
    return check_id(value, "account_id", required=False)


def _event_id(value: Any) -> EntityId | None:
    return check_id(value, "event_id", required=False)


def _properties(value: Any) -> Mapping[str, Any]:
    return check_mapping(value, "properties")


def _traits(value: Any) -> Mapping[str, Any]:
    return check_mapping(value, "traits")


@attrs.frozen(kw_only=True)
class Event:
    """One thing a user or an account did, at an aware UTC moment.

    >>> Event(name="project_created", timestamp="2026-05-01T09:30:00Z", user_id="u_1")
    Event(name='project_created', timestamp=datetime.datetime(2026, 5, 1, 9, 30, tzinfo=datetime.timezone.utc), user_id='u_1', account_id=None, properties=mappingproxy({}), event_id=None)
    """

    name: str = attrs.field(converter=check_name)
    timestamp: datetime = attrs.field(converter=check_timestamp)
    user_id: EntityId | None = attrs.field(default=None, converter=_event_user)
    account_id: EntityId | None = attrs.field(default=None, converter=_event_account)
    properties: Mapping[str, Any] = attrs.field(
        factory=dict, converter=_properties, eq=False, hash=False
    )
    event_id: EntityId | None = attrs.field(default=None, converter=_event_id)

    def __attrs_post_init__(self) -> None:
        if self.user_id is None and self.account_id is None:
            raise FieldError(
                f"event {self.name!r} at {self.timestamp.isoformat()} names neither a user_id "
                "nor an account_id; every event must belong to someone",
                reason="missing_identity", field="user_id",
            )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Event):
            return NotImplemented
        return (
            (self.name, self.timestamp, self.user_id, self.account_id, self.event_id)
            == (other.name, other.timestamp, other.user_id, other.account_id, other.event_id)
            and dict(self.properties) == dict(other.properties)
        )

    def __hash__(self) -> int:
        return hash((self.name, self.timestamp, self.user_id, self.account_id, self.event_id))


def _required_user(value: Any) -> EntityId:
    out = check_id(value, "user_id", required=True)
    assert out is not None
    return out


def _required_account(value: Any) -> EntityId:
    out = check_id(value, "account_id", required=True)
    assert out is not None
    return out


@attrs.frozen(kw_only=True)
class User:
    """A person using the product; belongs to at most one account.

    ``created_at`` is the signup moment; a user without one exists from the start of time.

    >>> User(user_id="u_1", account_id="a_1", traits={"role": "admin"}).traits["role"]
    'admin'
    """

    user_id: EntityId = attrs.field(converter=_required_user)
    account_id: EntityId | None = attrs.field(default=None, converter=_event_account)
    traits: Mapping[str, Any] = attrs.field(factory=dict, converter=_traits, eq=False, hash=False)
    created_at: datetime | None = attrs.field(default=None, converter=_opt_timestamp)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, User):
            return NotImplemented
        return (self.user_id, self.account_id, self.created_at, dict(self.traits)) == (
            other.user_id, other.account_id, other.created_at, dict(other.traits)
        )

    def __hash__(self) -> int:
        return hash((self.user_id, self.account_id, self.created_at))


@attrs.frozen(kw_only=True)
class Account:
    """A company or workspace: the unit sales sells to.

    >>> Account(account_id="a_1", traits={"employees": 40}).traits["employees"]
    40
    """

    account_id: EntityId = attrs.field(converter=_required_account)
    traits: Mapping[str, Any] = attrs.field(factory=dict, converter=_traits, eq=False, hash=False)
    created_at: datetime | None = attrs.field(default=None, converter=_opt_timestamp)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Account):
            return NotImplemented
        return (self.account_id, self.created_at, dict(self.traits)) == (
            other.account_id, other.created_at, dict(other.traits)
        )

    def __hash__(self) -> int:
        return hash((self.account_id, self.created_at))
