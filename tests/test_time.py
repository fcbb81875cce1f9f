"""Tests of pqlkit._time: instants become aware UTC, durations parse and compare by length."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest
from dateutil.relativedelta import relativedelta

from pqlkit._time import (
    Duration,
    as_duration,
    from_epoch,
    from_micros,
    to_micros,
    to_utc,
)
from pqlkit.errors import PqlkitError, PqlkitTypeError, ValidationError


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# -- to_utc -----------------------------------------------------------------------------------


def test_to_utc_keeps_an_aware_utc_datetime():
    assert to_utc(utc(2026, 6, 1, 12)) == utc(2026, 6, 1, 12)
    assert to_utc(utc(2026, 6, 1, 12)).tzinfo is UTC


def test_to_utc_converts_an_aware_datetime_in_another_zone():
    plus2 = datetime(2026, 6, 1, 12, tzinfo=timezone(timedelta(hours=2)))
    out = to_utc(plus2)
    assert out == utc(2026, 6, 1, 10)
    assert out.tzinfo is UTC


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-06-01T12:00:00Z", utc(2026, 6, 1, 12)),
        ("2026-06-01T12:00:00+02:00", utc(2026, 6, 1, 10)),
        ("2026-06-01T12:00:00-05:30", utc(2026, 6, 1, 17, 30)),
        ("2026-06-01T12:00:00.123456Z", datetime(2026, 6, 1, 12, 0, 0, 123456, tzinfo=UTC)),
        ("  2026-06-01T12:00:00Z  ", utc(2026, 6, 1, 12)),
        ("2026-06-01 12:00:00+00:00", utc(2026, 6, 1, 12)),
    ],
)
def test_to_utc_parses_iso_strings_with_z_or_offset(text, expected):
    out = to_utc(text)
    assert out == expected
    assert out.tzinfo is UTC


def test_to_utc_reads_numpy_datetime64_as_utc():
    assert to_utc(np.datetime64("2026-06-01T12:00:00")) == utc(2026, 6, 1, 12)


@pytest.mark.parametrize(("value", "micros"), [
    (np.datetime64("2026-01-01T12:00:00.123456789"), 123457),
    (np.datetime64("2026-01-01T12:00:00.123456000"), 123456),
    ("2026-01-01T12:00:00.1234560001Z", 123457),
    ("2026-01-01T12:00:00.1234560000+00:00", 123456),
    ("2026-01-01T12:00:00,9999999Z", 999999 + 1),
])
def test_to_utc_rounds_parts_finer_than_a_microsecond_up(value, micros):
    base = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert to_utc(value) == base + timedelta(microseconds=micros)


def test_epoch_nanoseconds_round_up_before_the_epoch_too():
    assert to_micros(to_utc(np.datetime64(1, "ps"))) == 1
    assert to_micros(to_utc(np.datetime64(-1, "ps"))) == 0
    assert to_micros(to_utc(np.datetime64(-3, "10ns"))) == 0
    assert to_micros(from_epoch(-1, "ns")) == 0
    assert to_micros(from_epoch(-1001, "ns")) == -1
    assert to_micros(from_epoch(1, "ns")) == 1


def test_to_utc_rejects_numpy_nat():
    with pytest.raises(ValidationError, match="NaT"):
        to_utc(np.datetime64("NaT"))


@pytest.mark.parametrize(
    "naive", [datetime(2026, 6, 1, 12), "2026-06-01T12:00:00", "2026-06-01 12:00", "2026-06-01"]
)
def test_to_utc_refuses_naive_values_and_says_how_to_declare_a_zone(naive):
    with pytest.raises(ValidationError) as info:
        to_utc(naive)
    message = str(info.value)
    assert "has no time zone" in message
    assert "tz='UTC'" in message
    assert "'Z'" in message
    assert "tzinfo" in message


def test_to_utc_naive_error_names_what_was_being_read():
    with pytest.raises(ValidationError, match=r"^created_at "):
        to_utc("2026-06-01 12:00", what="created_at")


def test_to_utc_tz_declares_the_zone_of_naive_values():
    assert to_utc("2026-06-01 12:00", tz="UTC") == utc(2026, 6, 1, 12)
    assert to_utc(datetime(2026, 6, 1, 12), tz="UTC") == utc(2026, 6, 1, 12)
    assert to_utc("2026-06-01 12:00", tz=timezone(timedelta(hours=-4))) == utc(2026, 6, 1, 16)


def test_to_utc_tz_with_a_dst_zone_name_uses_the_offset_of_that_date():
    # Europe/Paris is UTC+2 in summer (CEST) and UTC+1 in winter (CET).
    assert to_utc("2026-07-01 12:00", tz="Europe/Paris") == utc(2026, 7, 1, 10)
    assert to_utc("2026-01-15 12:00", tz="Europe/Paris") == utc(2026, 1, 15, 11)
    assert to_utc("2026-07-01 12:00", tz="America/New_York") == utc(2026, 7, 1, 16)


def test_to_utc_tz_does_not_override_an_explicit_offset():
    assert to_utc("2026-06-01T12:00:00Z", tz="Europe/Paris") == utc(2026, 6, 1, 12)


def test_to_utc_rejects_an_unknown_zone_name():
    with pytest.raises(ValidationError, match="unknown time zone 'Mars/Olympus'"):
        to_utc("2026-06-01 12:00", tz="Mars/Olympus")


def test_to_utc_rejects_a_tz_that_is_not_a_zone():
    with pytest.raises(PqlkitTypeError, match="tz must be a zone name or a tzinfo"):
        to_utc("2026-06-01 12:00", tz=2)


@pytest.mark.parametrize("number", [1_780_000_000, 1.78e9, np.int64(1_780_000_000)])
def test_to_utc_rejects_bare_numbers_without_epoch_unit(number):
    with pytest.raises(ValidationError) as info:
        to_utc(number)
    message = str(info.value)
    assert "bare number" in message
    assert "epoch_unit='s'" in message


def test_to_utc_reads_numbers_as_epochs_when_the_unit_is_given():
    assert to_utc(1_780_000_000, epoch_unit="s") == utc(2026, 5, 28, 20, 26, 40)
    assert to_utc(1_780_000_000_000, epoch_unit="ms") == utc(2026, 5, 28, 20, 26, 40)


def test_to_utc_rejects_booleans():
    with pytest.raises(PqlkitTypeError):
        to_utc(True, epoch_unit="s")


@pytest.mark.parametrize("garbage", ["yesterday-ish", "2026-13-45T00:00:00Z", "not a date"])
def test_to_utc_rejects_unparseable_strings_with_an_example(garbage):
    with pytest.raises(ValidationError, match="is not a timestamp; expected ISO-8601"):
        to_utc(garbage)


def test_to_utc_rejects_empty_strings_and_none():
    with pytest.raises(ValidationError, match="empty string"):
        to_utc("   ")
    with pytest.raises(ValidationError, match="is missing"):
        to_utc(None)


def test_to_utc_rejects_other_types_naming_the_type():
    with pytest.raises(PqlkitTypeError, match=r"\(list\)"):
        to_utc([2026, 6, 1])


def test_time_errors_derive_from_pqlkit_error_and_the_matching_builtin():
    with pytest.raises(ValueError):
        to_utc("2026-06-01 12:00")
    with pytest.raises(TypeError):
        to_utc(object())
    with pytest.raises(PqlkitError):
        to_utc("2026-06-01 12:00")


# -- epochs and micros ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "unit"),
    [
        (1_780_000_000, "s"),
        (1_780_000_000_000, "ms"),
        (1_780_000_000_000_000, "us"),
        (1_780_000_000_000_000_000, "ns"),
        (1_780_000_000.0, "s"),
    ],
)
def test_from_epoch_reads_every_unit(value, unit):
    assert from_epoch(value, unit) == utc(2026, 5, 28, 20, 26, 40)


def test_from_epoch_keeps_fractional_seconds():
    assert from_epoch(1.5) == datetime(1970, 1, 1, 0, 0, 1, 500000, tzinfo=UTC)


def test_from_epoch_defaults_to_seconds():
    assert from_epoch(0) == utc(1970, 1, 1)


def test_from_epoch_rejects_an_unknown_unit():
    with pytest.raises(ValidationError, match="epoch unit must be one of"):
        from_epoch(1, "minutes")


def test_from_epoch_rejects_non_numbers_and_non_finite_numbers():
    with pytest.raises(PqlkitTypeError):
        from_epoch("1780000000")
    with pytest.raises(PqlkitTypeError):
        from_epoch(True)
    with pytest.raises(ValidationError, match="finite"):
        from_epoch(float("nan"))


def test_micros_round_trip_is_exact():
    moment = datetime(2026, 6, 1, 12, 34, 56, 789012, tzinfo=UTC)
    assert from_micros(to_micros(moment)) == moment
    assert to_micros(utc(1970, 1, 1)) == 0
    assert to_micros(utc(1969, 12, 31, 23, 59, 59)) == -1_000_000


# -- durations --------------------------------------------------------------------------------

DAY_US = 86_400_000_000


@pytest.mark.parametrize(
    ("text", "micros", "months"),
    [
        ("14d", 14 * DAY_US, 0),
        ("2w", 14 * DAY_US, 0),
        ("12h", 12 * 3_600_000_000, 0),
        ("30min", 30 * 60_000_000, 0),
        ("45s", 45_000_000, 0),
        ("250ms", 250_000, 0),
        ("10us", 10, 0),
        ("1.5d", 36 * 3_600_000_000, 0),
        ("1d12h", 36 * 3_600_000_000, 0),
        ("3mo", 0, 3),
        ("1y", 0, 12),
        ("1y6mo", 0, 18),
        ("14D", 14 * DAY_US, 0),
        (" 2 w ", 14 * DAY_US, 0),
    ],
)
def test_as_duration_parses_strings(text, micros, months):
    d = as_duration(text)
    assert (d.micros, d.months) == (micros, months)


def test_as_duration_accepts_timedelta():
    d = as_duration(timedelta(days=14))
    assert d.micros == 14 * DAY_US
    assert not d.is_calendar


def test_as_duration_accepts_relativedelta_months():
    assert as_duration(relativedelta(months=3)) == as_duration("3mo")
    assert as_duration(relativedelta(days=2)) == as_duration("2d")


def test_as_duration_passes_a_duration_through():
    d = as_duration("14d")
    assert as_duration(d) is d


def test_durations_compare_by_length_not_spelling():
    assert as_duration("2w") == as_duration("14d")
    assert as_duration("2w") == as_duration(timedelta(days=14))
    assert as_duration("1y") == as_duration("12mo")
    assert as_duration("24h") == as_duration("1d")
    assert hash(as_duration("2w")) == hash(as_duration("14d"))
    assert as_duration("2w") != as_duration("15d")
    assert as_duration("1mo") != as_duration("30d")


def test_duration_repr_is_how_it_was_written():
    assert repr(as_duration("2w")) == "'2w'"
    assert repr(as_duration("3mo")) == "'3mo'"
    assert repr(as_duration(timedelta(days=14))) == "'2w'"
    assert repr(as_duration(timedelta(hours=36))) == "'36h'"


def test_calendar_durations_are_marked_calendar():
    assert as_duration("3mo").is_calendar
    assert as_duration("1y").is_calendar
    assert not as_duration("90d").is_calendar


@pytest.mark.parametrize("garbage", ["fortnight", "14", "d", "14 days", "1m", "2w3", "", "14d!",
                                     "1 4d", "1d 1 2h"])
def test_as_duration_rejects_garbage_with_examples(garbage):
    with pytest.raises(ValidationError) as info:
        as_duration(garbage)
    message = str(info.value)
    assert "is not understood" in message
    assert "'14d'" in message and "'3mo'" in message


@pytest.mark.parametrize("zero", ["0d", "0h", timedelta(0)])
def test_as_duration_rejects_zero(zero):
    with pytest.raises(ValidationError, match="must be positive"):
        as_duration(zero)


def test_as_duration_rejects_negative_values():
    with pytest.raises(ValidationError, match="must be positive"):
        as_duration(timedelta(days=-1))
    with pytest.raises(ValidationError):
        as_duration("-3d")


def test_as_duration_rejects_mixed_calendar_and_fixed_units():
    with pytest.raises(ValidationError, match="mixes months/years with smaller units"):
        as_duration("1mo2d")
    with pytest.raises(ValidationError, match="mixes months/years"):
        as_duration(relativedelta(months=1, days=2))


def test_as_duration_rejects_fractional_months():
    with pytest.raises(ValidationError, match="whole numbers"):
        as_duration("1.5mo")


def test_as_duration_rejects_sub_microsecond_lengths():
    with pytest.raises(ValidationError, match="finer than a microsecond"):
        as_duration("0.5us")


def test_as_duration_rejects_other_types():
    with pytest.raises(PqlkitTypeError, match=r"got 14 \(int\)"):
        as_duration(14)


def test_as_duration_errors_name_what_was_being_read():
    with pytest.raises(ValidationError, match=r"^within 'soon'"):
        as_duration("soon", what="within")


def test_fixed_micros_refuses_calendar_durations_naming_the_use():
    assert as_duration("2d").fixed_micros(what="grace") == 2 * DAY_US
    with pytest.raises(ValidationError, match="grace needs a fixed length of time"):
        as_duration("1mo").fixed_micros(what="grace")


def test_fixed_duration_before_and_after_shift_by_its_length():
    d = as_duration("2d")
    t = to_micros(utc(2026, 6, 1))
    assert d.before(t) == to_micros(utc(2026, 5, 30))
    assert d.after(t) == to_micros(utc(2026, 6, 3))


def test_calendar_month_before_march_31_is_end_of_february():
    d = as_duration("1mo")
    assert from_micros(d.before(to_micros(utc(2026, 3, 31, 8)))) == utc(2026, 2, 28, 8)
    assert from_micros(d.before(to_micros(utc(2028, 3, 31)))) == utc(2028, 2, 29)


def test_calendar_month_after_january_31_is_end_of_february():
    assert from_micros(as_duration("1mo").after(to_micros(utc(2026, 1, 31)))) == utc(2026, 2, 28)


def test_calendar_year_before_leap_day_is_february_28():
    assert from_micros(as_duration("1y").before(to_micros(utc(2028, 2, 29)))) == utc(2027, 2, 28)


def test_calendar_durations_keep_the_time_of_day():
    d = as_duration("3mo")
    assert from_micros(d.after(to_micros(utc(2026, 1, 15, 13, 45)))) == utc(2026, 4, 15, 13, 45)


def test_duration_is_frozen():
    d = as_duration("2d")
    with pytest.raises(AttributeError):
        d.micros = 1  # type: ignore[misc]
    assert isinstance(d, Duration)


def test_a_pandas_timedelta_finer_than_a_microsecond_is_refused_as_the_text_is():
    # Its nanoseconds were dropped ('1d'), or it was called not positive; the text
    # "1.000000001d" is refused as finer than a microsecond.
    pd = pytest.importorskip("pandas")
    for value in (pd.Timedelta(days=1, nanoseconds=1), pd.Timedelta(nanoseconds=1)):
        with pytest.raises(ValidationError, match="finer than a microsecond"):
            as_duration(value)
    assert as_duration(pd.Timedelta(days=1)) == as_duration("1d")


def test_a_duration_built_directly_is_spelled_and_checked_like_a_parsed_one():
    # Duration(micros=...) had no text: count('x', within=it) printed within='' (not code
    # that builds it), and a zero or negative one made a window with nothing in it.
    import pqlkit as pk

    day = Duration(micros=86_400_000_000)
    assert repr(day) == "'1d'" and day == as_duration("1d")
    assert repr(Duration(months=3)) == "'3mo'"
    signal = pk.count("x", within=day)
    assert repr(signal) == "count('x', within='1d')"
    assert eval(repr(signal), vars(pk)).equals(signal)
    for bad, match in [(Duration(micros=-5), "must be positive"),
                       (Duration(), "must be positive"),
                       (Duration(micros=5, months=1), "mixes months")]:
        with pytest.raises(ValidationError, match=match):
            pk.count("x", within=bad)


@pytest.mark.parametrize("text", ["monday", "10", "may", "sat 3pm", "3pm", "May 5"])
def test_a_text_lacking_its_date_is_not_completed_from_today(text):
    with pytest.raises(ValidationError, match="not a complete timestamp"):
        to_utc(text, tz="UTC")


def test_a_text_with_its_date_but_no_time_of_day_is_midnight():
    assert to_utc("May 5 2026", tz="UTC") == datetime(2026, 5, 5, tzinfo=UTC)


def test_a_huge_finite_epoch_float_is_out_of_range_not_an_overflow():
    # finite, but infinite once scaled by 10**6 to microseconds
    with pytest.raises(ValidationError, match="is out of range: in 's', epoch values run from"):
        from_epoch(1.7976931348623157e305, unit="s")


@pytest.mark.parametrize("text", ["-0001-01-01T00:00:00Z", "-2026-05-01T00:00:00Z",
                                  " -2026-05-01T00:00:00+02:00"])
def test_a_year_before_one_is_out_of_range_not_read_without_its_sign(text):
    # dateutil's fallback parser dropped the sign: -2026 was kept as 2026.
    with pytest.raises(ValidationError, match="out of range"):
        to_utc(text)
    import pqlkit as pk

    log = pk.EventLog.from_records([{"name": "e", "timestamp": text, "user_id": "u"}])
    assert log.report.by_reason() == {"timestamp_out_of_range": 1}


def test_an_empty_tz_is_refused_not_the_machines_zone():
    # dateutil's gettz("") is /etc/localtime: the same data gave other instants per host.
    import pandas as pd

    import pqlkit as pk

    df = pd.DataFrame({"name": ["login"], "user_id": ["u1"],
                       "timestamp": pd.to_datetime(["2026-05-01 10:00"])})
    for tz in ("", "  "):
        with pytest.raises(ValidationError, match="tz is an empty string"):
            to_utc("2026-05-01 10:00", tz=tz)
        with pytest.raises(ValidationError, match="tz is an empty string"):
            pk.EventLog.from_pandas(df, tz=tz)
        with pytest.raises(ValidationError, match="tz is an empty string"):
            pk.EventLog.from_records(
                [{"name": "login", "timestamp": "2026-05-01 10:00", "user_id": "u1"}], tz=tz)


def test_an_epoch_or_duration_beyond_every_range_is_an_error_not_an_overflow():
    from datetime import timedelta

    import pqlkit as pk

    log = pk.EventLog.from_records([{"name": "a", "timestamp": 10**400, "user_id": "u"}],
                                   epoch_unit="s")
    assert log.report.by_reason() == {"timestamp_out_of_range": 1}
    assert pk.count("a", within=timedelta.max).within.micros > 0


@pytest.mark.parametrize(("text", "micros"), [
    ("1.1d", 95_040_000_000), ("2.2h", 7_920_000_000), ("1.15d", 99_360_000_000),
    ("0.7w", 423_360_000_000), ("1.000001s", 1_000_001)])
def test_decimal_durations_are_exact(text: str, micros: int) -> None:
    # 1.1 * 86_400_000_000 is 95040000000.00002 in floats: "finer than a microsecond".
    assert as_duration(text).micros == micros


def test_a_duration_finer_than_a_microsecond_is_still_refused() -> None:
    with pytest.raises(ValidationError, match="finer than a microsecond"):
        as_duration("1.0000001s")


def test_ceil_div_of_int64s_minimum_does_not_wrap() -> None:
    # -(-a // b) negates int64's minimum to itself: epoch -2**63 ns loaded as a column
    # landed in 2262, as a record in 1677.
    import pqlkit as pk
    from pqlkit._time import ceil_div

    values = [-2**63, -1001, -1000, -999, -1, 0, 1, 999, 1000, 1001, 2**63 - 1]
    got = ceil_div(np.array(values, dtype=np.int64), 1000).tolist()
    assert got == [-(-v // 1000) for v in values]
    log = pk.EventLog.from_columns(user_id=["u"], name=["a"], epoch_unit="ns",
                                   timestamp=np.array([-2**63], dtype=np.int64))
    assert next(log.events()).timestamp.year == 1677


@pytest.mark.parametrize(("value", "unit", "bounds"), [
    (1e30, "s", "from -62135596800 to 253402300799"),
    (1_780_000_000_000_000_000, "ms", "from -62135596800000 to 253402300799999"),
    (-10**30, "ns", "from -62135596800000000000 to 253402300799999999000"),
    (10**5000, "us", "from -62135596800000000 to 253402300799999999"),
], ids=["1e30s", "ms-as-s", "ns", "5000-digits"])
def test_from_epoch_out_of_range_says_the_range_in_its_unit(value, unit, bounds):
    # An epoch in ms read as s is the usual cause: the message gives the unit's range (it
    # gave the microseconds alone, or, past 4300 digits, Python's own ValueError).
    with pytest.raises(ValidationError, match=f"in '{unit}', epoch values run {bounds} "
                                              r"\(years 1 to 9999 UTC\); is the unit right"):
        from_epoch(value, unit)
    lo, hi = (int(b) for b in bounds.split()[1::2])
    assert from_epoch(lo, unit).year == 1 and from_epoch(hi, unit).year == 9999


@pytest.mark.parametrize(("text", "want"), [
    ("01/05/2026 10:00Z", None),           # 5 January or 1 May?
    ("05/01/26 10:00Z", None),
    ("1.5.2026 10:00 UTC", None),
    ("13/05/2026 10:00Z", utc(2026, 5, 13, 10)),  # only day first
    ("05/05/2026 10:00Z", utc(2026, 5, 5, 10)),   # the same either way
    ("2026/05/01 10:00Z", utc(2026, 5, 1, 10)),   # year first: year, month, day
    ("2026-05-01 10:00 UTC", utc(2026, 5, 1, 10)),
    ("May 1 2026 10:00 UTC", utc(2026, 5, 1, 10)),
])
def test_a_date_that_reads_day_or_month_first_is_refused(text, want):
    # dateutil read 01/05/2026 as 5 January and 13/05/2026 as 13 May: one file, two ways.
    if want is None:
        with pytest.raises(ValidationError, match="ambiguous: day first or month first"):
            to_utc(text)
    else:
        assert to_utc(text) == want
