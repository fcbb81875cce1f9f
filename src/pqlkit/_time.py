"""Timestamps and durations: everything time-like becomes aware UTC or a :class:`Duration`.

Internally an instant is an ``int`` of microseconds since the Unix epoch (UTC); the event
columns hold them as ``int64``. This module is the one place that converts to and from it.
"""

from __future__ import annotations

import math
import re
import warnings
from datetime import UTC, datetime, timedelta, tzinfo
from fractions import Fraction
from typing import Any, Final

import attrs
import numpy as np
from dateutil import parser as _dateparser
from dateutil import tz as _dateutil_tz
from dateutil.relativedelta import relativedelta

from pqlkit.errors import PqlkitTypeError, ValidationError

__all__ = ["Duration", "as_duration", "from_epoch", "from_micros", "to_micros", "to_utc"]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_DEFAULT_A: Final = datetime(2001, 1, 1)
_DEFAULT_B: Final = datetime(2002, 2, 2)
_US_PER_S: Final = 1_000_000
US_PER_DAY: Final = 86_400 * _US_PER_S
_EPOCH_UNITS: Final = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": 0}
#: The units ``epoch_unit=`` accepts everywhere.
EPOCH_UNITS: Final = tuple(_EPOCH_UNITS)

_NAIVE_HELP = (
    "attach a zone (datetime(..., tzinfo=timezone.utc)) or write the string with 'Z' or an "
    "offset like '+02:00'"
)
_NAIVE_LOADING_HELP = (
    "attach a zone (datetime(..., tzinfo=timezone.utc)), write the string with 'Z' or an "
    "offset like '+02:00', or declare the zone of naive values with tz='UTC' "
    "(or a zone name such as 'Europe/Paris') when loading"
)


def _zone(tz: str | tzinfo) -> tzinfo:
    if isinstance(tz, tzinfo):
        return tz
    if isinstance(tz, str):
        if tz.upper() in ("UTC", "Z"):
            return UTC
        if not tz.strip():  # gettz("") is the machine's own zone: never assumed
            raise ValidationError(
                "tz is an empty string; give a zone name such as 'UTC' or "
                "'America/New_York', or leave tz unset")
        zone = _dateutil_tz.gettz(tz)
        if zone is not None:
            return zone
        raise ValidationError(
            f"unknown time zone {tz!r}; use an IANA name such as 'UTC' or 'America/New_York'"
        )
    raise PqlkitTypeError(f"tz must be a zone name or a tzinfo, got {tz!r} ({type(tz).__name__})")


def check_options(tz: Any, epoch_unit: Any) -> None:
    """Raise at once on a bad ``tz=`` or ``epoch_unit=`` loader option. An option applies
    to every row: a bad one is the caller's mistake, reported before any row is read (not
    as a rejection of each row that needs it, nor only when one does)."""
    if tz is not None:
        _zone(tz)
    if epoch_unit is not None and not (isinstance(epoch_unit, str)
                                       and epoch_unit in _EPOCH_UNITS):
        raise ValidationError(
            f"epoch_unit must be one of 's', 'ms', 'us', 'ns', got {epoch_unit!r}")


def from_epoch(value: Any, unit: str = "s") -> datetime:
    """Turn an epoch number into an aware UTC datetime, with its unit said out loud.

    Bare numbers are never taken as timestamps because seconds and milliseconds look alike.

    >>> from_epoch(1_780_000_000)
    datetime.datetime(2026, 5, 28, 20, 26, 40, tzinfo=datetime.timezone.utc)
    >>> from_epoch(1_780_000_000_000, unit="ms").year
    2026
    """
    if unit not in _EPOCH_UNITS:
        raise ValidationError(f"epoch unit must be one of 's', 'ms', 'us', 'ns', got {unit!r}")
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise PqlkitTypeError(
            f"an epoch value must be a number, got {value!r} ({type(value).__name__})"
        )
    try:
        finite = math.isfinite(float(value))
    except OverflowError:  # an int beyond float's range: no instant either
        raise ValidationError(_epoch_out_of_range(value, unit)) from None
    if not finite:
        raise ValidationError(f"an epoch value must be finite, got {value!r}")
    if unit == "ns":
        micros = ceil_div(int(value), 1000)  # up to the microsecond (contract §1)
    elif isinstance(value, (int, np.integer)):
        micros = int(value) * _EPOCH_UNITS[unit]
    else:
        try:
            micros = round(float(value) * _EPOCH_UNITS[unit])
        except OverflowError as exc:  # finite, but infinite once scaled to microseconds
            raise ValidationError(_epoch_out_of_range(value, unit)) from exc
    try:
        return from_micros(micros)
    except ValidationError:
        raise ValidationError(_epoch_out_of_range(value, unit)) from None


def _epoch_out_of_range(value: Any, unit: str) -> str:
    """Says the range of epoch values in ``unit`` (years 1 to 9999 UTC)."""
    lo = to_micros(datetime.min.replace(tzinfo=UTC))
    hi = to_micros(datetime.max.replace(tzinfo=UTC))
    per = _EPOCH_UNITS[unit]
    # (Nanoseconds round up to the microsecond.)
    lo, hi = (lo * 1000, hi * 1000) if unit == "ns" else (-(-lo // per), hi // per)
    big = isinstance(value, int) and value.bit_length() > 128  # (repr fails past 4300 digits)
    shown = f"of about {int(value.bit_length() * 0.30103)} digits" if big else repr(value)
    return (f"epoch value {shown} is out of range: in {unit!r}, epoch values run from {lo} "
            f"to {hi} (years 1 to 9999 UTC); is the unit right?")


#: A date written as two numbers then a year ("01/05/2026", "5.1.26"): day or month first?
_NUMERIC_DATE: Final = re.compile(r"(?<!\d)(\d{1,2})[/.\-](\d{1,2})[/.\-](?:\d{4}|\d{2})(?!\d)")


def to_utc(
    value: Any,
    *,
    what: str = "timestamp",
    tz: str | tzinfo | None = None,
    epoch_unit: str | None = None,
    loaded: bool = True,
) -> datetime:
    """Normalise a time-like value to an aware UTC ``datetime``.

    Accepts aware datetimes, ISO-8601 strings with a zone, ``numpy.datetime64`` (read as
    UTC) and, when ``epoch_unit`` is given, epoch numbers. Naive values are an error unless
    ``tz`` declares their zone; the error suggests ``tz=`` only for ``loaded`` values (data,
    not an ``as_of`` or a value written in a model, which no ``tz=`` applies to).

    >>> to_utc("2026-06-01T12:00:00+02:00")
    datetime.datetime(2026, 6, 1, 10, 0, tzinfo=datetime.timezone.utc)
    >>> to_utc("2026-06-01 12:00")
    Traceback (most recent call last):
    ...
    pqlkit.errors.ValidationError: timestamp '2026-06-01 12:00' has no time zone; ...
    """
    finer = False  # a part finer than a microsecond, rounded up at the end
    if isinstance(value, datetime):
        dt = value
        finer = bool(getattr(value, "nanosecond", 0))  # a pandas Timestamp
    elif isinstance(value, str):
        text = value.strip()
        sub = _SUBMICRO_TEXT.search(text)
        finer = sub is not None and sub.group(1).strip("0") != ""
        if not text:
            raise ValidationError(f"{what} is an empty string; expected an ISO-8601 timestamp")
        if text[0] == "-" and text[1:2].isdigit():
            # A year before 1 (ISO-8601's expanded years): dateutil's lenient parser would
            # drop the sign and read -2026 as 2026.
            raise ValidationError(f"{what} {value!r} is out of range (years 1 to 9999)")
        try:
            dt = _dateparser.isoparse(text)
        except (ValueError, OverflowError):
            try:
                with warnings.catch_warnings():
                    # An unknown zone name ("UT") leaves the value naive, which is then
                    # rejected below with a message saying how to declare the zone.
                    warnings.simplefilter("ignore", _dateparser.UnknownTimezoneWarning)
                    dt = _dateparser.parse(text, default=_DEFAULT_A)
                    # dateutil fills the parts a text lacks from a default date; parsing
                    # against two defaults shows them, so "monday" or "10" never become
                    # a date that depends on the day the data is loaded.
                    incomplete = dt != _dateparser.parse(text, default=_DEFAULT_B)
            except (ValueError, OverflowError) as exc:
                raise ValidationError(
                    f"{what} {value!r} is not a timestamp; expected ISO-8601 such as "
                    "'2026-06-01T12:00:00Z'"
                ) from exc
            if incomplete:
                raise ValidationError(
                    f"{what} {value!r} is not a complete timestamp (it lacks its year, month "
                    "or day); expected ISO-8601 such as '2026-06-01T12:00:00Z'"
                ) from None
            # "01/05/2026" is 5 January month first and 1 May day first, and dateutil
            # took the other where one was impossible ("13/05/2026"): one file was read
            # two ways. A date whose first two numbers could each be the month is refused.
            both = _NUMERIC_DATE.search(text)
            if both and both.group(1) != both.group(2) and all(
                    1 <= int(both.group(k)) <= 12 for k in (1, 2)):
                raise ValidationError(
                    f"{what} {value!r} is ambiguous: day first or month first? write "
                    "ISO-8601 such as '2026-06-01T12:00:00Z', or give the format "
                    "(timestamp_format=, the CLI's --timestamp-format)"
                ) from None
    elif isinstance(value, np.datetime64):
        if np.isnat(value):
            raise ValidationError(f"{what} is NaT (not a time)")
        unit = np.datetime_data(value.dtype)[0]
        if unit not in ("us", "ns", "ps", "fs", "as"):
            # A coarser unit can hold instants past year 9999, which the conversion to
            # microseconds would wrap around silently: compare in the value's own unit.
            lo, hi = np.array([datetime.min, datetime.max], dtype="datetime64[us]").astype(
                value.dtype)
            if not lo <= value <= hi:
                raise ValidationError(f"{what} {value!r} is out of range (years 1 to 9999)")
        micros = finer_micros(int(value.astype(np.int64)), value.dtype)
        if micros is None:
            micros = int(value.astype("datetime64[us]").astype(np.int64))
        return from_micros(micros)
    elif isinstance(value, bool):
        raise PqlkitTypeError(f"{what} must be a datetime or an ISO-8601 string, got {value!r}")
    elif isinstance(value, (int, float, np.integer, np.floating)):
        if epoch_unit is None:
            raise ValidationError(
                f"{what} {value!r} is a bare number; epoch numbers are ambiguous (seconds? "
                "milliseconds?): pass epoch_unit='s' (or 'ms', 'us', 'ns') when loading, or "
                "use pqlkit.from_epoch(value, unit='s')"
            )
        return from_epoch(value, epoch_unit)
    elif value is None:
        raise ValidationError(f"{what} is missing")
    else:
        raise PqlkitTypeError(
            f"{what} must be a datetime, an ISO-8601 string or a numpy.datetime64, "
            f"got {value!r} ({type(value).__name__})"
        )
    try:
        offset = None if dt.tzinfo is None else dt.tzinfo.utcoffset(dt)
        # dateutil's lenient parser accepts offsets of a day or more; datetime does not.
        bad_offset = offset is not None and abs(offset) >= timedelta(hours=24)
    except ValueError:
        bad_offset = True
    if bad_offset:
        raise ValidationError(
            f"{what} {value!r} has an invalid time zone offset (it must be under 24 hours)"
        )
    if offset is None:
        if tz is None:
            raise ValidationError(f"{what} {value!r} has no time zone; "
                                  f"{_NAIVE_LOADING_HELP if loaded else _NAIVE_HELP}")
        dt = dt.replace(tzinfo=_zone(tz))
    try:
        out = dt.astimezone(UTC)
        if type(out) is not datetime or finer:
            # A plain datetime, not a subclass (a pandas Timestamp stays one through
            # astimezone): results and models hold only plain values.
            finer = finer or bool(getattr(out, "nanosecond", 0))
            out = datetime(out.year, out.month, out.day, out.hour, out.minute, out.second,
                           out.microsecond, tzinfo=UTC)
            if finer:
                out += timedelta(microseconds=1)
        return out
    except OverflowError as exc:
        raise ValidationError(f"{what} {value!r} is out of the representable range") from exc


def to_micros(dt: datetime) -> int:
    """Microseconds since the epoch of an aware datetime (exact, no float rounding; a
    pandas Timestamp's nanoseconds round up, as every finer part does)."""
    delta = dt - _EPOCH
    micros = (delta.days * 86_400 + delta.seconds) * _US_PER_S + delta.microseconds
    return micros + 1 if getattr(dt, "nanosecond", 0) else micros


# pqlkit keeps instants to the microsecond, as Python's datetime does. A finer part
# (nanosecond datetime64, epoch nanoseconds, pandas Timestamps, ISO text with more than
# six decimals) is rounded UP to the next microsecond (contract §1): an instant after a
# microsecond ``as_of`` is then never seen at it, and ``within`` windows keep their edges.

#: datetime64 units finer than a microsecond: their ticks per microsecond.
_TICKS_PER_US: Final = {"ns": 10**3, "ps": 10**6, "fs": 10**9, "as": 10**12}
#: The decimals of an ISO time beyond the sixth (group 1).
_SUBMICRO_TEXT: Final = re.compile(r"\d:?\d\d[.,]\d{6}(\d+)")


def ceil_div(a: Any, b: int) -> Any:
    """``a / b`` rounded up (Python ints or numpy integer arrays; ``b`` > 0). Not as
    ``-(-a // b)``, whose negation wraps int64's minimum round to itself."""
    if isinstance(a, np.ndarray):
        return a // b + (a % b != 0)
    return -(-a // b)


def finer_micros(ticks: Any, dtype: Any) -> Any:
    """Microseconds of ``datetime64`` ticks (a Python int or an int64 array) of a unit
    finer than one, rounded up; None for a coarser unit (cast those exactly)."""
    unit, step = np.datetime_data(dtype)
    per = _TICKS_PER_US.get(unit)
    if per is None:
        return None
    # ticks * step could leave int64 for a multiple unit ("10ns"): divide first if it can.
    return ceil_div(ticks, per // step) if per % step == 0 else ceil_div(ticks * step, per)


def from_micros(micros: int) -> datetime:
    """The aware UTC datetime of a count of microseconds since the epoch."""
    try:
        return _EPOCH + timedelta(microseconds=int(micros))
    except OverflowError as exc:
        raise ValidationError(f"timestamp {micros} µs since epoch is out of range") from exc


_UNIT_US: Final = {
    "w": 7 * US_PER_DAY,
    "d": US_PER_DAY,
    "h": 3_600 * _US_PER_S,
    "min": 60 * _US_PER_S,
    "s": _US_PER_S,
    "ms": 1_000,
    "us": 1,
}
_CALENDAR_UNITS: Final = ("y", "mo")
#: One part of a duration ("14d", "1 h"): spaces may sit between parts and before a unit,
#: never inside a number ("1 4d" is not 14 days). ASCII digits only.
_PART = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(y|mo|w|d|h|min|ms|us|s)")
_DURATION_HELP = (
    "write durations like '14d', '2w', '12h', '30min', '3mo' or '1y' "
    "(or pass a datetime.timedelta)"
)


def _fmt_number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def _short(text: str) -> str:
    """``repr(text)``, shortened for a message."""
    return repr(text) if len(text) <= 40 else repr(text[:37]) + "..."


def _fixed_text(micros: int) -> str:
    for unit in ("w", "d", "h", "min", "s", "ms"):
        size = _UNIT_US[unit]
        if micros % size == 0:
            return f"{micros // size}{unit}"
    return f"{micros}us"


#: Beyond every timestamp (years 1 to 9999 are within ±2.6e17 µs), within int64: where a
#: window's edge lands when a duration reaches past the calendar.
FAR: Final = 1 << 62


@attrs.frozen(repr=False)
class Duration:
    """A length of time: a fixed number of microseconds or a calendar span (months, years).

    Build one with :func:`as_duration`; ``text`` is how it was written and is what ``repr``
    shows, equality is by length (``'2w'`` equals ``'14d'``).
    """

    micros: int = 0
    months: int = 0
    text: str = attrs.field(default="", eq=False)

    def __attrs_post_init__(self) -> None:
        # Built directly (Duration(micros=...)), it is spelled as as_duration spells it, so
        # that its repr -- and every signal's that holds it -- stays code that builds it.
        if not self.text and (self.micros > 0) != (self.months > 0):
            text = f"{self.months}mo" if self.months else _fixed_text(self.micros)
            object.__setattr__(self, "text", text)

    @property
    def is_calendar(self) -> bool:
        """True when the duration has month or year parts, whose length depends on the date."""
        return self.months != 0

    def _rd(self) -> relativedelta:
        return relativedelta(months=self.months, microseconds=self.micros)

    def before(self, micros: int) -> int:
        """The instant this duration before ``micros`` (µs since epoch); one before year 1
        is :data:`FAR` before the epoch (earlier than any timestamp, in int64)."""
        if not self.months:
            return max(micros - self.micros, -FAR)
        try:
            return to_micros(from_micros(micros) - self._rd())
        except (OverflowError, ValueError):  # (ValidationError is a ValueError)
            return -FAR

    def after(self, micros: int) -> int:
        """The instant this duration after ``micros`` (µs since epoch); one past year 9999
        is :data:`FAR` after the epoch (later than any timestamp, in int64)."""
        if not self.months:
            return min(micros + self.micros, FAR)
        try:
            return to_micros(from_micros(micros) + self._rd())
        except (OverflowError, ValueError):
            return FAR

    def fixed_micros(self, *, what: str) -> int:
        """The length in µs, or an error naming ``what`` when it is a calendar span."""
        if self.months:
            raise ValidationError(
                f"{what} needs a fixed length of time, got calendar duration {self.text!r}; "
                "use days or weeks, e.g. '30d'"
            )
        return self.micros

    def __repr__(self) -> str:
        return repr(self.text)


def as_duration(value: Any, *, what: str = "duration") -> Duration:
    """Parse a duration from a string such as ``'14d'`` or a ``timedelta``.

    >>> as_duration("2w") == as_duration("14d")
    True
    >>> as_duration("3mo").is_calendar
    True
    >>> as_duration("fortnight")
    Traceback (most recent call last):
    ...
    pqlkit.errors.ValidationError: duration 'fortnight' is not understood; ...
    """
    if isinstance(value, Duration):
        built = f"Duration(micros={value.micros}, months={value.months})"
        if value.micros < 0 or value.months < 0 or not (value.micros or value.months):
            raise ValidationError(f"{what} must be positive, got {built}")
        if value.micros and value.months:
            raise ValidationError(f"{what} mixes months/years with smaller units ({built}); "
                                  "use one or the other")
        return value
    if isinstance(value, timedelta):
        if getattr(value, "nanoseconds", 0):  # a pandas Timedelta, as "1.000000001d" is
            raise ValidationError(f"{what} {value!r} is finer than a microsecond")
        micros = (value.days * 86_400 + value.seconds) * _US_PER_S + value.microseconds
        if micros <= 0:
            raise ValidationError(f"{what} must be positive, got {value!r}")
        return Duration(micros=micros, text=_fixed_text(micros))
    if isinstance(value, relativedelta):
        rd = value.normalized()
        if rd.days or rd.hours or rd.minutes or rd.seconds or rd.microseconds or rd.weekday:
            if rd.years or rd.months:
                raise ValidationError(
                    f"{what} mixes months/years with smaller units ({value!r}); "
                    "use one or the other"
                )
            return as_duration(
                timedelta(days=rd.days, hours=rd.hours, minutes=rd.minutes,
                          seconds=rd.seconds, microseconds=rd.microseconds),
                what=what,
            )
        months = rd.years * 12 + rd.months
        if months <= 0:
            raise ValidationError(f"{what} must be positive, got {value!r}")
        return Duration(months=months, text=f"{months}mo")
    if not isinstance(value, str):
        raise PqlkitTypeError(
            f"{what} must be a string like '14d' or a datetime.timedelta, "
            f"got {value!r} ({type(value).__name__})"
        )
    text = value.strip().lower()
    pos = 0
    # Exact: 1.1 days is 95,040,000,000 µs, which float arithmetic misses by 2e-5.
    total_us = Fraction(0)
    months = 0
    for m in _PART.finditer(text):
        if m.start() != pos:
            break
        if len(m.group(1)) > 30:  # (whole, past year 9999 in any unit; Fraction balks
            # at 4300 digits)
            raise ValidationError(f"{what} {_short(value)} has a number of more than 30 "
                                  "digits; write it with fewer")
        number, unit = Fraction(m.group(1)), m.group(2)
        if unit in _CALENDAR_UNITS:
            if number.denominator != 1:
                raise ValidationError(
                    f"{what} {value!r}: months and years must be whole numbers"
                )
            months += int(number) * (12 if unit == "y" else 1)
        else:
            total_us += number * _UNIT_US[unit]
        pos = m.end()
    if pos != len(text) or pos == 0:
        raise ValidationError(f"{what} {value!r} is not understood; {_DURATION_HELP}")
    if months and total_us:
        raise ValidationError(
            f"{what} {value!r} mixes months/years with smaller units; use one or the other"
        )
    if total_us.denominator != 1:
        raise ValidationError(f"{what} {value!r} is finer than a microsecond")
    if total_us <= 0 and months <= 0:
        raise ValidationError(f"{what} must be positive, got {value!r}")
    return Duration(micros=int(total_us), months=months, text=value.strip())
