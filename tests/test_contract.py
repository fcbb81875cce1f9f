"""DESIGN §3, item by item: the semantics every engine must share.

Each class tests one numbered item of the contract, written from the contract's text (not
from the implementation), with the window edges spelled out: an event exactly at ``as_of``
is counted, one exactly ``within`` before it is not, one a microsecond inside is.
"""

from __future__ import annotations

import itertools
import math
import random
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import pytest
from tests._support import AS_OF, US, ago, ev

import pqlkit as pk
from pqlkit import (
    active_days,
    count,
    days_since_first,
    days_since_last,
    distinct,
    exists,
    first_seen,
    last_seen,
    prop,
    total,
    trait,
)
from pqlkit.errors import PqlkitError, RejectedRowError, ValidationError

# Every test here runs on every engine (see the engine fixture in conftest.py).
pytestmark = pytest.mark.usefixtures("engine")



def numeric(signal: pk.Expr, events: list, *, as_of: object = AS_OF, users: list | None = None,
            entity: object = "u1", level: str = "user", accounts: list | None = None) -> float:
    """The value of a numeric signal for one entity, read back as its points (1 per unit)."""
    model = pk.ScoringModel(name="probe", rules=[pk.Rule("v", signal, points_per=1)],
                            threshold=1, floor=None, level=level)
    log = pk.EventLog.from_records(events, users=users, accounts=accounts)
    result = model.score(log, as_of=as_of)
    table = result.users if level == "user" else result.accounts
    return table[entity]["score"]


def holds(cond: pk.Expr, events: list, *, as_of: object = AS_OF, users: list | None = None,
          entity: object = "u1", level: str = "user", accounts: list | None = None) -> bool:
    """Whether a condition holds for one entity."""
    model = pk.ScoringModel(name="probe", rules=[pk.Rule("c", cond, points=1)], threshold=1,
                            level=level)
    log = pk.EventLog.from_records(events, users=users, accounts=accounts)
    result = model.score(log, as_of=as_of)
    table = result.users if level == "user" else result.accounts
    return table[entity]["score"] == 1


def test_these_tests_run_on_the_engine_of_the_fixture(engine: str) -> None:
    model = pk.ScoringModel(name="m", threshold=1, rules=[pk.Rule("a", exists("a"), points=1)])
    assert model.score([ev("a", ago(days=1))], as_of=AS_OF).engine == engine


# -- §3.1 Time ------------------------------------------------------------------------------


class TestTime:
    def test_naive_record_timestamp_is_an_error_that_says_how_to_declare_the_zone(self):
        with pytest.raises(ValidationError) as info:
            pk.Event(name="a", timestamp="2026-06-01T12:00:00", user_id="u1")
        text = str(info.value)
        assert "zone" in text and "tz=" in text

    def test_naive_datetime_is_an_error_too(self):
        with pytest.raises(ValidationError, match="zone"):
            pk.Event(name="a", timestamp=datetime(2026, 6, 1, 12), user_id="u1")

    def test_naive_row_is_rejected_not_assumed_utc(self):
        log = pk.EventLog.from_records([ev("a", "2026-06-01T12:00:00")])
        assert len(log) == 0
        (rej,) = log.report.rejections
        assert rej.reason == "naive_timestamp"
        assert "tz=" in rej.message

    def test_naive_rows_accepted_when_the_zone_is_declared(self):
        log = pk.EventLog.from_records([ev("a", "2026-06-01T12:00:00")], tz="Europe/Paris")
        (event,) = log.events()
        assert event.timestamp == datetime(2026, 6, 1, 10, tzinfo=UTC)

    def test_naive_as_of_is_an_error(self):
        model = pk.ScoringModel(name="m", rules=[pk.Rule("r", exists("a"), points=1)],
                                threshold=1)
        log = pk.EventLog.from_records([ev("a", ago(days=1))])
        with pytest.raises(ValidationError, match="zone"):
            model.score(log, as_of="2026-06-01T00:00:00")
        with pytest.raises(ValidationError, match="zone") as info:
            model.score(log, as_of=datetime(2026, 6, 1))
        # No tz= applies to an as_of (nor to at() or a comparison value): not suggested.
        assert "'Z'" in str(info.value) and "tz=" not in str(info.value)
        for moment in (lambda: pk.at("2026-06-01T00:00:00"),
                       lambda: pk.first_seen("a") <= datetime(2026, 6, 1)):
            with pytest.raises(ValidationError, match="no time zone") as info:
                moment()
            assert "tz=" not in str(info.value)

    def test_naive_comparison_value_is_an_error(self):
        with pytest.raises(ValidationError, match="zone"):
            _ = first_seen("a") >= "2026-05-01T00:00:00"
        with pytest.raises(ValidationError, match="zone"):
            _ = last_seen("a") < datetime(2026, 5, 1)
        assert (first_seen("a") >= "2026-05-01T02:00:00+02:00").equals(
            first_seen("a") >= datetime(2026, 5, 1, tzinfo=UTC))

    def test_naive_created_at_row_is_rejected(self):
        log = pk.EventLog.from_records(
            [ev("a", ago(days=1))], users=[{"user_id": "u1", "created_at": "2026-05-01"}])
        (rej,) = log.report.rejections
        assert (rej.table, rej.reason) == ("users", "naive_timestamp")

    def test_every_timestamp_becomes_aware_utc(self):
        e = pk.Event(name="a", timestamp="2026-06-01T02:00:00+02:00", user_id="u1")
        assert e.timestamp == datetime(2026, 6, 1, tzinfo=UTC)
        assert e.timestamp.utcoffset() == timedelta(0)
        assert e.timestamp.tzinfo == UTC
        e2 = pk.Event(name="a", timestamp=datetime(2026, 6, 1, 2, tzinfo=ZoneInfo("Europe/Paris")),
                      user_id="u1")
        assert e2.timestamp == datetime(2026, 6, 1, 0, tzinfo=UTC)
        assert e2.timestamp.utcoffset() == timedelta(0)

    def test_result_as_of_is_aware_utc(self):
        model = pk.ScoringModel(name="m", rules=[pk.Rule("r", exists("a"), points=1)],
                                threshold=1)
        result = model.score([ev("a", ago(days=1))], as_of="2026-06-01T02:00:00+02:00")
        assert result.as_of == AS_OF
        assert result.as_of.utcoffset() == timedelta(0)

    @pytest.mark.parametrize(
        ("text", "delta"),
        [("14d", timedelta(days=14)), ("2w", timedelta(days=14)), ("12h", timedelta(hours=12)),
         ("30min", timedelta(minutes=30))],
    )
    def test_duration_strings_and_timedeltas_agree(self, text, delta):
        assert count("a", within=text).equals(count("a", within=delta))
        assert pk.as_duration(text) == pk.as_duration(delta)

    def test_twelve_hour_window_edges(self):
        events = [ev("a", ago(hours=12)), ev("a", ago(hours=12) + US), ev("a", AS_OF)]
        assert numeric(count("a", within="12h"), events) == 2

    def test_timedelta_window_edges(self):
        events = [ev("a", ago(days=14)), ev("a", ago(days=14) + US)]
        assert numeric(count("a", within=timedelta(days=14)), events) == 1

    def test_calendar_window_uses_relativedelta(self):
        # as_of 2026-03-31: one calendar month before is 2026-02-28 (relativedelta clamps),
        # whereas 30 days before is 2026-03-01.
        as_of = datetime(2026, 3, 31, tzinfo=UTC)
        events = [
            ev("a", datetime(2026, 2, 28, tzinfo=UTC)),            # == start: out
            ev("a", datetime(2026, 2, 28, tzinfo=UTC) + US),       # in for 1mo, out for 30d
            ev("a", datetime(2026, 2, 28, 12, tzinfo=UTC)),        # in for 1mo, out for 30d
            ev("a", datetime(2026, 3, 1, 12, tzinfo=UTC)),         # in for both
        ]
        assert numeric(count("a", within="1mo"), events, as_of=as_of) == 3
        assert numeric(count("a", within="30d"), events, as_of=as_of) == 1

    def test_three_month_window(self):
        # 2026-06-01 minus 3 months is 2026-03-01 (92 days, not 90).
        events = [ev("a", datetime(2026, 3, 1, tzinfo=UTC)),
                  ev("a", datetime(2026, 3, 1, tzinfo=UTC) + US),
                  ev("a", datetime(2026, 3, 2, 12, tzinfo=UTC))]
        assert numeric(count("a", within="3mo"), events) == 2
        assert numeric(count("a", within="90d"), events) == 0

    def test_calendar_since_signup(self):
        created = datetime(2026, 1, 31, tzinfo=UTC)
        users = [{"user_id": "u1", "created_at": created}]
        # 2026-01-31 + 1 month is 2026-02-28.
        events = [ev("a", datetime(2026, 2, 27, 23, tzinfo=UTC)),
                  ev("a", datetime(2026, 2, 28, tzinfo=UTC) - US),
                  ev("a", datetime(2026, 2, 28, tzinfo=UTC))]
        assert numeric(count("a", since_signup="1mo"), events, users=users) == 2

    @pytest.mark.parametrize("bad", ["fortnight", "14", "", "-3d", "0d", "d14"])
    def test_bad_duration_is_an_error(self, bad):
        with pytest.raises((ValidationError, pk.errors.PqlkitTypeError)):
            count("a", within=bad)


# -- §3.2 Point in time -----------------------------------------------------------------------


def test_distinct_counts_values_as_isin_tells_them_apart():
    # Numbers by value (1 is 1.0, 0.0 is -0.0, [1] is [1.0]); True is not 1, "1" is text.
    values = [1, 1.0, True, 0.0, -0.0, [1], [1.0], [True], "1", 1, {"a": 1}, {"a": 1.0}]
    events = [ev("a", ago(days=i + 1), properties={"k": v}) for i, v in enumerate(values)]
    assert numeric(distinct("k", of="a"), events) == 7
    assert numeric(count("a", where=prop("k").isin([1.0, [1], {"a": 1}])), events) == 7


def _ns_inputs(ns: list[int], tmp_path: Any) -> dict[str, pk.EventLog]:
    """The same nanosecond instants through every way in (one user per instant)."""
    import json

    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pqlkit.io import read_jsonl

    users = [f"u{i}" for i in range(len(ns))]
    names = ["x"] * len(ns)
    dt64 = np.array(ns, dtype="datetime64[ns]")
    iso = [pd.Timestamp(v, tz="UTC").isoformat() for v in ns]
    table = pa.table({"user_id": users, "name": names,
                      "timestamp": pa.array(ns, pa.timestamp("ns", tz="UTC"))})
    pq.write_table(table, tmp_path / "e.parquet")
    pq.write_table(table.set_column(2, "timestamp", pa.array(ns, pa.timestamp("ns"))),
                   tmp_path / "naive.parquet")
    (tmp_path / "e.jsonl").write_text("".join(
        json.dumps({"user_id": u, "name": "x", "timestamp": t}) + "\n"
        for u, t in zip(users, iso, strict=True)))
    rows = [{"name": "x", "user_id": u} for u in users]
    return {
        "records datetime64": pk.EventLog.from_records(
            [{**r, "timestamp": v} for r, v in zip(rows, dt64, strict=True)]),
        "records Timestamp": pk.EventLog.from_records(
            [{**r, "timestamp": pd.Timestamp(v, tz="UTC")} for r, v in zip(rows, ns, strict=True)]),
        "records ISO": pk.EventLog.from_records(
            [{**r, "timestamp": t} for r, t in zip(rows, iso, strict=True)]),
        "records epoch": pk.EventLog.from_records(
            [{**r, "timestamp": v} for r, v in zip(rows, ns, strict=True)], epoch_unit="ns"),
        "columns datetime64": pk.EventLog.from_columns(user_id=users, name=names, timestamp=dt64),
        "columns epoch": pk.EventLog.from_columns(user_id=users, name=names,
                                                  timestamp=np.array(ns), epoch_unit="ns"),
        "columns ISO": pk.EventLog.from_columns(user_id=users, name=names,
                                                timestamp=np.array(iso)),
        "pandas": pk.EventLog.from_columns(user_id=users, name=names,
                                           timestamp=pd.Series(pd.to_datetime(ns, utc=True))),
        "arrow": pk.EventLog.from_columns(user_id=users, name=names,
                                          timestamp=table["timestamp"]),
        "parquet": pk.EventLog.from_parquet(tmp_path / "e.parquet"),
        "parquet zone-less": pk.EventLog.from_parquet(tmp_path / "naive.parquet",
                                                      tz="America/New_York"),
        "jsonl": read_jsonl(tmp_path / "e.jsonl"),
    }


def test_instants_finer_than_a_microsecond_round_up_to_it(tmp_path):
    # They were cut down (numpy's cast floors): an event a nanosecond after as_of was
    # counted at it, and one a nanosecond inside a window's start fell out of it.
    base = 1_780_272_000_000_000_000  # 2026-06-01T00:00:00Z in nanoseconds
    offsets = [-1001, -1000, -999, -1, 0, 1, 999, 1000, 1001, 123_456_789]
    ns = [base + o for o in offsets]
    up = sorted(-(-v // 1000) for v in ns)
    for way, log in _ns_inputs(ns, tmp_path).items():
        shift = 4 * 3_600_000_000 if way == "parquet zone-less" else 0  # New York, EDT
        assert sorted(t - shift for t in log.ts.tolist()) == up, way


def test_an_event_a_nanosecond_after_as_of_is_not_seen_at_it():
    import numpy as np

    events = [
        {"name": "x", "user_id": "late",
         "timestamp": np.datetime64("2026-06-01T00:00:00.000000001", "ns")},
        {"name": "x", "user_id": "edge",
         "timestamp": np.datetime64("2026-05-18T00:00:00.000000001", "ns")},
        {"name": "x", "user_id": "late_epoch", "timestamp": 1_780_272_000_000_000_001}]
    log = pk.EventLog.from_records(events, epoch_unit="ns")
    model = pk.ScoringModel(name="t", threshold=0, rules=[
        pk.Rule("all_time", count("x"), points_per=1),
        pk.Rule("last_14d", count("x", within="14d"), points_per=1)])
    result = model.score(log, as_of="2026-06-01T00:00:00Z")
    assert [(r["user_id"], r["all_time"], r["last_14d"]) for r in result.users] == [
        ("edge", 1.0, 1.0)]


def test_a_nanosecond_as_of_rounds_up_like_the_events():
    import pandas as pd

    moment = pd.Timestamp("2026-06-01T00:00:00.000000001Z")
    log = pk.EventLog.from_records([{"name": "x", "user_id": "u1", "timestamp": moment}])
    result = pk.ScoringModel(name="m", threshold=0, rules=[
        pk.Rule("c", count("x"), points_per=1)]).score(log, as_of=moment)
    assert result.as_of == datetime(2026, 6, 1, 0, 0, 0, 1, tzinfo=UTC)
    assert result.users["u1"]["c"] == 1
    assert type(pk.Event(name="x", user_id="u", timestamp=moment).timestamp) is datetime


class TestPointInTime:
    def test_event_at_as_of_counts_and_after_does_not(self):
        events = [ev("a", AS_OF), ev("a", AS_OF + US), ev("a", ago(days=400))]
        assert numeric(count("a"), events) == 2

    def test_after_as_of_invisible_to_every_signal(self):
        events = [ev("a", ago(days=3)), ev("b", AS_OF + US)]
        assert numeric(count(), events) == 1
        assert numeric(days_since_last(), events) == 3
        assert not holds(exists("b"), events)
        assert holds(last_seen() == ago(days=3), events)

    def test_within_window_edges(self):
        events = [
            ev("a", AS_OF),                       # at as_of: counted
            ev("a", ago(days=14)),                # exactly 14d before: not counted
            ev("a", ago(days=14) + US),           # one microsecond inside: counted
            ev("a", ago(days=20)),                # outside
        ]
        assert numeric(count("a", within="14d"), events) == 2
        assert holds(exists("a", within="14d"), [ev("a", ago(days=14) + US)])
        assert not holds(exists("a", within="14d"), [ev("a", ago(days=14))])

    def test_within_applies_to_every_event_signal(self):
        events = [ev("a", ago(days=14), properties={"n": 5, "k": "x"}),
                  ev("a", ago(days=2), properties={"n": 2, "k": "y"})]
        assert numeric(total("n", of="a", within="14d"), events) == 2
        assert numeric(distinct("k", of="a", within="14d"), events) == 1
        assert numeric(active_days("a", within="14d"), events) == 1
        assert holds(first_seen("a", within="14d") == ago(days=2), events)

    def test_since_signup_edges(self):
        created = ago(days=30)
        users = [{"user_id": "u1", "created_at": created}]
        events = [
            ev("a", created),                         # at created_at: counted
            ev("a", created - US),                    # before signup: not counted
            ev("a", created + timedelta(days=14) - US),  # last microsecond: counted
            ev("a", created + timedelta(days=14)),    # exactly +14d: not counted
        ]
        assert numeric(count("a", since_signup="14d"), events, users=users) == 2

    def test_since_signup_is_also_bounded_by_as_of(self):
        created = ago(days=5)
        users = [{"user_id": "u1", "created_at": created}]
        events = [ev("a", ago(days=4)), ev("a", AS_OF), ev("a", AS_OF + US)]
        assert numeric(count("a", since_signup="14d"), events, users=users) == 2

    def test_since_signup_without_created_at_counts_from_first_event(self):
        first = ago(days=30)
        events = [
            ev("signup", first),                          # first event, any name
            ev("a", first + timedelta(days=14) - US),     # inside
            ev("a", first + timedelta(days=14)),          # exactly +14d: outside
        ]
        assert numeric(count("a", since_signup="14d"), events) == 1
        # a user in the users table without created_at too
        users = [{"user_id": "u1"}]
        assert numeric(count("a", since_signup="14d"), events, users=users) == 1

    def test_since_signup_without_created_at_first_event_is_before_as_of(self):
        # The events after as_of do not exist, so they cannot define the first event.
        events = [ev("a", ago(days=1))]
        assert numeric(count("a", since_signup="14d"), events) == 1

    def test_user_created_after_as_of_gets_no_row_and_no_rollup(self):
        model = pk.ScoringModel(name="m", rules=[pk.Rule("r", exists("a"), points=1)],
                                threshold=1)
        users = [
            {"user_id": "early", "account_id": "A", "created_at": ago(days=3)},
            {"user_id": "late", "account_id": "A", "created_at": AS_OF + US},
            {"user_id": "edge", "account_id": "A", "created_at": AS_OF},
        ]
        events = [ev("a", ago(days=1), user="early"), ev("b", ago(days=1), user="edge"),
                  ev("a", ago(days=1), user="late")]   # an event before its created_at
        result = model.score(pk.EventLog.from_records(events, users=users), as_of=AS_OF)
        assert "late" not in result.users
        assert {r["user_id"] for r in result.users} == {"early", "edge"}
        acct = result.accounts["A"]
        assert acct["n_users"] == 2
        assert acct["n_pql"] == 1
        assert acct["share_pql"] == 0.5
        assert acct["is_pqa"] is True

    def test_late_user_would_have_changed_the_rollup(self):
        model = pk.ScoringModel(name="m", rules=[pk.Rule("r", exists("a"), points=1)],
                                threshold=1)
        users = [{"user_id": "p", "account_id": "A"},
                 {"user_id": "x", "account_id": "A", "created_at": AS_OF + timedelta(days=1)},
                 {"user_id": "y", "account_id": "A", "created_at": AS_OF + timedelta(days=1)}]
        events = [ev("a", ago(days=1), user="p")]
        log = pk.EventLog.from_records(events, users=users)
        now = model.score(log, as_of=AS_OF)
        assert now.accounts["A"]["n_users"] == 1
        assert now.accounts["A"]["is_pqa"] is True
        later = model.score(log, as_of=AS_OF + timedelta(days=2))
        assert later.accounts["A"]["n_users"] == 3
        assert later.accounts["A"]["is_pqa"] is False

    def test_user_created_after_as_of_counts_in_no_account_level_rollup(self):
        # 'late' is created after as_of (its events before that are not its yet): the
        # account-level signals see only 'ok', consistent with n_users.
        users = [{"user_id": "late", "account_id": "A", "created_at": AS_OF + US},
                 {"user_id": "ok", "account_id": "A"}]
        events = [ev("a", ago(days=1), user="late"), ev("a", ago(days=1), user="ok")]
        model = pk.ScoringModel(name="m", level="account", threshold=2,
                                rules=[pk.Rule("n", pk.active_users(within="7d"), points_per=1)])
        log = pk.EventLog.from_records(events, users=users)
        row = model.score(log, as_of=AS_OF).accounts["A"]
        assert row["n_users"] == 1
        assert row["score"] == 1
        assert row["is_pqa"] is False
        later = model.score(log, as_of=AS_OF + timedelta(days=1)).accounts["A"]
        assert later["n_users"] == 2
        assert later["score"] == 2

    def test_account_created_after_as_of_gets_no_row(self):
        model = pk.ScoringModel(name="m", rules=[pk.Rule("r", exists("a"), points=1)],
                                threshold=1)
        accounts = [{"account_id": "A", "created_at": AS_OF + US},
                    {"account_id": "B", "created_at": AS_OF}]
        log = pk.EventLog.from_records([ev("a", ago(days=1))], accounts=accounts)
        result = model.score(log, as_of=AS_OF)
        assert "A" not in result.accounts
        assert "B" in result.accounts
        acct_model = pk.ScoringModel(name="m", rules=[pk.Rule("r", exists("a"), points=1)],
                                     threshold=1, level="account")
        result = acct_model.score(log, as_of=AS_OF)
        assert "A" not in result.accounts
        assert "B" in result.accounts

    @pytest.mark.parametrize("level", ["user", "account"])
    def test_account_named_only_by_a_late_users_events_gets_no_row(self, level):
        # The events of a user created after as_of count for nothing: they do not bring
        # into being an account no table names ('Z'), while an event of no user or of a
        # user that exists does ('Y', 'W').
        users = [{"user_id": "late", "created_at": AS_OF + US}, {"user_id": "ok"}]
        events = [ev("a", ago(days=1), user="late", account_id="Z"),
                  ev("a", ago(days=1), user="ok", account_id="Y"),
                  ev("a", ago(days=1), user=None, account_id="W")]
        model = pk.ScoringModel(name="m", rules=[pk.Rule("r", exists("a"), points=1)],
                                threshold=1, level=level)
        log = pk.EventLog.from_records(events, users=users)
        now = model.score(log, as_of=AS_OF)
        assert sorted(a["account_id"] for a in now.accounts) == ["W", "Y"]
        later = model.score(log, as_of=AS_OF + US)
        assert sorted(a["account_id"] for a in later.accounts) == ["W", "Y", "Z"]

    def test_default_as_of_is_latest_event_and_recorded(self):
        events = [ev("a", ago(days=10)), ev("a", ago(days=3), user="u2"),
                  ev("b", ago(days=5))]
        model = pk.ScoringModel(name="m", rules=[pk.Rule("r", days_since_last() < 1,
                                                         points=1)], threshold=1)
        result = model.score(pk.EventLog.from_records(events))
        assert result.as_of == ago(days=3)
        assert result.explain("u1").as_of == ago(days=3)
        assert result.users["u2"]["score"] == 1   # idle 0 days as of its own last event
        assert result.users["u1"]["score"] == 0   # idle 2 days

    def test_default_as_of_is_never_the_wall_clock(self):
        # Events far in the past and far in the future: the default as_of is the latest one.
        far = datetime(2099, 1, 1, tzinfo=UTC)
        events = [ev("a", datetime(2001, 1, 1, tzinfo=UTC)), ev("a", far, user="u2")]
        model = pk.ScoringModel(name="m", rules=[pk.Rule("r", exists("a"), points=1)],
                                threshold=1)
        result = model.score(events)
        assert result.as_of == far
        assert result.users["u2"]["score"] == 1

    def test_no_events_and_no_as_of_does_not_use_the_clock(self):
        model = pk.ScoringModel(name="m", rules=[pk.Rule("r", exists("a"), points=1)],
                                threshold=1)
        log = pk.EventLog.from_records([], users=[{"user_id": "u1"}])
        with pytest.raises(PqlkitError):
            model.score(log)
        assert model.score(log, as_of=AS_OF).as_of == AS_OF

    def test_explicit_as_of_recorded_on_result_and_explanations(self):
        model = pk.ScoringModel(name="m", rules=[pk.Rule("r", exists("a"), points=1)],
                                threshold=1)
        users = [{"user_id": "u1", "account_id": "A"}]
        result = model.score(pk.EventLog.from_records([ev("a", ago(days=1))], users=users),
                             as_of="2026-06-01T00:00:00Z")
        assert result.as_of == AS_OF
        assert result.explain("u1").as_of == AS_OF
        assert result.explain("A").as_of == AS_OF


# -- §3.3 Determinism -----------------------------------------------------------------------


def _det_model() -> pk.ScoringModel:
    return pk.ScoringModel(
        name="det",
        rules=[
            pk.Rule("act", count("project_created") >= 1, points=40),
            pk.Rule("views", count("page_viewed", decay=pk.HalfLife("3d")), points_per=3.3),
            pk.Rule("amount", total("n", of="page_viewed"), points_per=0.1),
            pk.Rule("recent", exists("invite", within="7d"), points=7.5,
                    decay=pk.HalfLife("5d")),
        ],
        decay=pk.HalfLife("11d"),
        threshold=30,
        tiers={"A": 50, "B": 20},
    )


def _det_events() -> list[dict]:
    rng = random.Random(7)
    names = ["project_created", "page_viewed", "invite", "other"]
    out = []
    for i in range(120):
        out.append(ev(rng.choice(names), ago(seconds=rng.randrange(0, 40 * 86400),
                                             microseconds=rng.randrange(1_000_000)),
                      user=f"u{i % 7}", properties={"n": rng.random() * 10}))
    return out


class TestDeterminism:
    def test_any_order_gives_bit_identical_scores(self):
        model = _det_model()
        events = _det_events()
        base = model.score(pk.EventLog.from_records(events), as_of=AS_OF)
        rng = random.Random(1)
        for _ in range(4):
            shuffled = events[:]
            rng.shuffle(shuffled)
            again = model.score(pk.EventLog.from_records(shuffled), as_of=AS_OF)
            assert again.users.to_records() == base.users.to_records()
            assert again.accounts.to_records() == base.accounts.to_records()
            for uid in base.users.column("user_id"):
                assert again.explain(uid).text() == base.explain(uid).text()

    def test_any_chunking_gives_the_same_scores(self):
        model = _det_model()
        events = _det_events()
        base = model.score(pk.EventLog.from_records(events), as_of=AS_OF)
        chunks = [pk.EventLog.from_records(events[i:i + 25]) for i in range(0, len(events), 25)]
        again = model.score(pk.EventLog.concat(chunks), as_of=AS_OF)
        assert again.users.to_records() == base.users.to_records()

    def test_any_timezone_spelling_gives_the_same_scores(self):
        model = _det_model()
        utc = _det_events()
        paris = ZoneInfo("Europe/Paris")
        spellings = [
            [dict(e, timestamp=e["timestamp"].isoformat().replace("+00:00", "Z")) for e in utc],
            [dict(e, timestamp=e["timestamp"].astimezone(timezone(timedelta(hours=-7))))
             for e in utc],
            [dict(e, timestamp=e["timestamp"].astimezone(paris).isoformat()) for e in utc],
            [dict(e, timestamp=e["timestamp"].astimezone(paris)) for e in utc],
        ]
        base = model.score(pk.EventLog.from_records(utc), as_of=AS_OF)
        for spelled in spellings:
            again = model.score(pk.EventLog.from_records(spelled),
                                as_of="2026-06-01T02:00:00+02:00")
            assert again.users.to_records() == base.users.to_records()
        naive_paris = [dict(e, timestamp=e["timestamp"].astimezone(paris).replace(tzinfo=None))
                       for e in utc]
        again = model.score(pk.EventLog.from_records(naive_paris, tz="Europe/Paris"),
                            as_of=AS_OF)
        assert again.users.to_records() == base.users.to_records()

    def test_records_and_dicts_give_the_same_scores(self):
        model = _det_model()
        events = _det_events()
        records = [pk.Event(**e) for e in events]
        a = model.score(pk.EventLog.from_records(events), as_of=AS_OF)
        b = model.score(pk.EventLog.from_records(records), as_of=AS_OF)
        assert a.users.to_records() == b.users.to_records()

    def test_scoring_twice_is_identical(self):
        model = _det_model()
        log = pk.EventLog.from_records(_det_events())
        assert (model.score(log, as_of=AS_OF).users.to_records()
                == model.score(log, as_of=AS_OF).users.to_records())


# -- §3.4 Duplicates --------------------------------------------------------------------------


class TestDuplicates:
    def test_identical_rows_sharing_an_id_count_once(self):
        row = ev("a", ago(days=1), event_id="e1", properties={"k": 1})
        log = pk.EventLog.from_records([row, dict(row), dict(row)])
        assert log.report.counts == {"input": 3, "kept": 1, "duplicates": 2, "rejected": 0}
        assert numeric(count("a"), [row, dict(row), dict(row)]) == 1

    def test_values_of_different_types_differ_in_a_list_too(self):
        # [1] and [1.0] are two values, as 1 and 1.0 are: the row reads back as it came.
        rows = [ev("a", ago(days=1), event_id="e1", properties={"k": [1]}),
                ev("a", ago(days=2), event_id="e1", properties={"k": [1.0]})]
        log = pk.EventLog.from_records(rows)
        assert log.report.counts == {"input": 2, "kept": 1, "duplicates": 0, "rejected": 1}
        assert log.props["k"][0] == (1.0,) and type(log.props["k"][0][0]) is float

    def test_rows_without_id_all_count(self):
        row = ev("a", ago(days=1))
        log = pk.EventLog.from_records([row, dict(row)])
        assert log.report.counts == {"input": 2, "kept": 2, "duplicates": 0, "rejected": 0}
        assert numeric(count("a"), [row, dict(row)]) == 2

    def test_same_payload_different_ids_both_count(self):
        rows = [ev("a", ago(days=1), event_id="e1"), ev("a", ago(days=1), event_id="e2")]
        assert numeric(count("a"), rows) == 2

    def test_conflicting_rows_keep_the_earliest_whatever_the_order(self):
        rows = [
            ev("late", ago(days=1), event_id="e1"),
            ev("early", ago(days=3), event_id="e1"),
            ev("mid", ago(days=2), event_id="e1"),
        ]
        for perm in itertools.permutations(rows):
            log = pk.EventLog.from_records(list(perm))
            assert log.report.counts == {"input": 3, "kept": 1, "duplicates": 0, "rejected": 2}
            assert [e.name for e in log.events()] == ["early"]
            reasons = {r.reason for r in log.report.rejections}
            assert reasons == {"conflicting_duplicate"}
            rejected_names = sorted(perm[r.source]["name"] for r in log.report.rejections)
            assert rejected_names == ["late", "mid"]

    def test_timestamp_tie_broken_by_name_then_properties(self):
        t = ago(days=1)
        by_name = [ev("b", t, event_id="e1"), ev("a", t, event_id="e1")]
        by_props = [ev("a", t, event_id="e2", properties={"k": "y"}),
                    ev("a", t, event_id="e2", properties={"k": "x"})]
        for perm in itertools.permutations(by_name + by_props):
            log = pk.EventLog.from_records(list(perm))
            kept = sorted((e.event_id, e.name, dict(e.properties)) for e in log.events())
            assert kept == [("e1", "a", {}), ("e2", "a", {"k": "x"})]
            assert log.report.counts["rejected"] == 2

    def test_identical_and_conflicting_mixed(self):
        t = ago(days=2)
        first = ev("a", t, event_id="e1")
        rows = [first, dict(first), ev("a", t + timedelta(hours=1), event_id="e1")]
        for perm in itertools.permutations(rows):
            log = pk.EventLog.from_records([dict(r) for r in perm])
            assert log.report.counts == {"input": 3, "kept": 1, "duplicates": 1, "rejected": 1}
            (kept,) = log.events()
            assert kept.timestamp == t

    def test_same_instant_spelled_differently_is_identical(self):
        rows = [ev("a", "2026-05-31T00:00:00Z", event_id="e1"),
                ev("a", "2026-05-31T02:00:00+02:00", event_id="e1"),
                ev("a", datetime(2026, 5, 30, 20, tzinfo=ZoneInfo("America/New_York")),
                   event_id="e1")]
        log = pk.EventLog.from_records(rows)
        assert log.report.counts == {"input": 3, "kept": 1, "duplicates": 2, "rejected": 0}

    def test_kept_row_is_what_scores(self):
        rows = [ev("b", ago(days=1), event_id="e1"), ev("a", ago(days=5), event_id="e1")]
        assert numeric(count("a"), rows) == 1
        assert numeric(count("b"), rows) == 0

    def test_duplicates_across_chunks(self):
        row = ev("a", ago(days=1), event_id="e1")
        log = pk.EventLog.concat([pk.EventLog.from_records([row]),
                                  pk.EventLog.from_records([dict(row)])])
        assert len(log) == 1
        c = log.report.counts
        assert c["input"] == c["kept"] + c["duplicates"] + c["rejected"] == 2


# -- §3.5 Scores ---------------------------------------------------------------------------------


def _model(rules: list, **kw: object) -> pk.ScoringModel:
    kw.setdefault("threshold", 50)
    return pk.ScoringModel(name="m", rules=rules, **kw)


class TestScores:
    RULES: ClassVar[Any] = [
        pk.Rule("a", exists("a"), points=30),
        pk.Rule("b", exists("b"), points=25),
        pk.Rule("neg", exists("bad"), points=-40),
    ]

    def test_score_is_the_sum_of_rule_points(self):
        events = [ev("a", ago(days=1)), ev("b", ago(days=1)), ev("b", ago(days=1), user="u2"),
                  ev("bad", ago(days=1), user="u2"), ev("a", ago(days=1), user="u3")]
        r = _model(self.RULES).score(events, as_of=AS_OF)
        assert r.users["u1"]["score"] == 55      # 30 + 25
        assert r.users["u1"]["a"] == 30 and r.users["u1"]["b"] == 25
        assert r.users["u1"]["neg"] == 0
        assert r.users["u2"]["score"] == 0       # 25 - 40 = -15, clamped to floor 0
        assert r.users["u2"]["raw_score"] == -15
        assert r.users["u3"]["score"] == 30

    def test_floor_none_keeps_negative_and_custom_floor(self):
        events = [ev("b", ago(days=1)), ev("bad", ago(days=1))]
        assert _model(self.RULES, floor=None).score(events, as_of=AS_OF).users["u1"][
            "score"] == -15
        assert _model(self.RULES, floor=-10).score(events, as_of=AS_OF).users["u1"][
            "score"] == -10
        assert _model(self.RULES, floor=5).score([ev("zzz", ago(days=1))], as_of=AS_OF).users[
            "u1"]["score"] == 5

    def test_ceiling_clamps(self):
        events = [ev("a", ago(days=1)), ev("b", ago(days=1))]
        r = _model(self.RULES, ceiling=50).score(events, as_of=AS_OF)
        assert r.users["u1"]["score"] == 50
        assert r.users["u1"]["raw_score"] == 55
        assert r.users["u1"]["is_pql"] is True

    def test_decay_is_applied_before_the_clamp(self):
        # raw 55; idle 14 days loses 5 -> 50; ceiling 52 does not bite; floor 0 neither.
        events = [ev("a", ago(days=14)), ev("b", ago(days=14))]
        decay = pk.InactivityDecay(points=5, every="7d", grace="7d")
        r = _model(self.RULES, ceiling=52, decay=decay).score(events, as_of=AS_OF)
        assert r.users["u1"]["score"] == 50   # clamp-then-decay would give 47
        # raw 30; idle 50 days loses 5 * floor(43/7) = 30 -> 0 (not below the floor)
        r = _model(self.RULES, decay=decay).score([ev("a", ago(days=50))], as_of=AS_OF)
        assert r.users["u1"]["score"] == 0
        # raw 30 with floor None: idle 64 days loses 5 * floor(57/7) = 40 -> -10
        r = _model(self.RULES, decay=decay, floor=None).score([ev("a", ago(days=64))],
                                                               as_of=AS_OF)
        assert r.users["u1"]["score"] == -10

    def test_pql_means_score_at_or_above_threshold(self):
        events = [ev("a", ago(days=1)), ev("b", ago(days=1)),      # 55
                  ev("a", ago(days=1), user="u2")]                 # 30
        r = _model(self.RULES, threshold=55).score(events, as_of=AS_OF)
        assert r.users["u1"]["is_pql"] is True
        assert r.users["u2"]["is_pql"] is False
        r = _model(self.RULES, threshold=55.0001).score(events, as_of=AS_OF)
        assert r.users["u1"]["is_pql"] is False

    def test_disqualified_keeps_score_is_never_pql_tier_disqualified(self):
        users = [{"user_id": "u1", "traits": {"email": "a@uni.edu"}},
                 {"user_id": "u2", "traits": {"email": "b@corp.com"}}]
        events = [ev("a", ago(days=1)), ev("b", ago(days=1)),
                  ev("a", ago(days=1), user="u2"), ev("b", ago(days=1), user="u2")]
        model = _model(self.RULES, disqualify=[trait("email").endswith(".edu")],
                       tiers={"A": 50, "B": 20})
        r = model.score(pk.EventLog.from_records(events, users=users), as_of=AS_OF)
        row = r.users["u1"]
        assert row["score"] == 55
        assert row["disqualified"] is True
        assert row["is_pql"] is False
        assert row["tier"] == "disqualified"
        assert r.users["u2"]["tier"] == "A" and r.users["u2"]["is_pql"] is True
        expl = r.explain("u1")
        assert expl.disqualified and expl.score == 55 and expl.tier == "disqualified"

    def test_disqualified_without_tiers_still_tier_disqualified(self):
        users = [{"user_id": "u1", "traits": {"email": "a@uni.edu"}}]
        model = _model(self.RULES, disqualify=[trait("email").endswith(".edu")])
        r = model.score(pk.EventLog.from_records([ev("a", ago(days=1))], users=users),
                        as_of=AS_OF)
        assert r.users["u1"]["tier"] == "disqualified"

    def test_disqualified_account_level_is_never_pqa(self):
        accounts = [{"account_id": "A", "traits": {"domain": "rival.io"}}]
        model = pk.ScoringModel(name="m", level="account", threshold=1,
                                rules=[pk.Rule("r", exists("a"), points=10)],
                                disqualify=[trait("domain") == "rival.io"])
        r = model.score(pk.EventLog.from_records([ev("a", ago(days=1), user=None,
                                                     account_id="A")], accounts=accounts),
                        as_of=AS_OF)
        row = r.accounts["A"]
        assert row["score"] == 10 and row["is_pqa"] is False
        assert row["disqualified"] is True and row["tier"] == "disqualified"

    @pytest.mark.parametrize(
        ("points", "tier"),
        [(80, "A"), (79, "B"), (60, "B"), (59.5, "C"), (30, "C"), (29, None), (0, None)],
    )
    def test_tiers_highest_bar_reached(self, points, tier):
        tiers = {"C": 30, "A": 80, "B": 60}   # any order in the mapping
        model = pk.ScoringModel(name="m", threshold=60, tiers=tiers,
                                rules=[pk.Rule("r", exists("a"), points=points)])
        r = model.score([ev("a", ago(days=1))], as_of=AS_OF)
        assert r.users["u1"]["tier"] == tier

    def test_no_tiers_means_tier_none(self):
        r = _model(self.RULES).score([ev("a", ago(days=1))], as_of=AS_OF)
        assert r.users["u1"]["tier"] is None

    def test_points_per_and_max_points(self):
        model = pk.ScoringModel(name="m", threshold=10, rules=[
            pk.Rule("q", count("q"), points_per=2, max_points=7)])
        r = model.score([ev("q", ago(days=1))] * 2 + [ev("q", ago(days=1), user="u2")] * 9,
                        as_of=AS_OF)
        assert r.users["u1"]["score"] == 4
        assert r.users["u2"]["score"] == 7


# -- §3.6 Decay ---------------------------------------------------------------------------------


class TestDecay:
    DECAY = pk.InactivityDecay(points=5, every="7d", grace="7d")
    RULES: ClassVar[Any] = [pk.Rule("a", exists("a"), points=60)]

    def _score(self, events, **kw):
        kw.setdefault("decay", self.DECAY)
        model = pk.ScoringModel(name="m", rules=kw.pop("rules", self.RULES), threshold=60,
                                floor=kw.pop("floor", 0), **kw)
        return model.score(pk.EventLog.from_records(events, users=kw.get("users")),
                           as_of=AS_OF)

    def test_worked_example_idle_20_days_loses_5(self):
        # 5 * floor((20 - 7) / 7) = 5
        assert self._score([ev("a", ago(days=20))]).users["u1"]["score"] == 55
        assert self.DECAY.apply(60, timedelta(days=20)) == 55

    @pytest.mark.parametrize(
        ("idle", "score"),
        [
            (timedelta(0), 60),
            (timedelta(days=7), 60),                    # within grace
            (timedelta(days=13), 60),                   # 6 days past grace: no full week
            (timedelta(days=14) - US, 60),
            (timedelta(days=14), 55),                   # one full week past grace
            (timedelta(days=21) - US, 55),
            (timedelta(days=21), 50),
            (timedelta(days=35), 40),
        ],
    )
    def test_inactivity_edges(self, idle, score):
        assert self._score([ev("a", AS_OF - idle)]).users["u1"]["score"] == score

    def test_inactivity_without_grace(self):
        d = pk.InactivityDecay(points=5, every="7d")
        assert self._score([ev("a", ago(days=7))], decay=d).users["u1"]["score"] == 55
        assert self._score([ev("a", ago(days=7) + US)], decay=d).users["u1"]["score"] == 60

    def test_inactivity_measured_from_last_event_of_any_name(self):
        events = [ev("a", ago(days=40)), ev("other", ago(days=2))]
        assert self._score(events).users["u1"]["score"] == 60

    def test_inactivity_ignores_events_after_as_of(self):
        events = [ev("a", ago(days=20)), ev("other", AS_OF + US)]
        assert self._score(events).users["u1"]["score"] == 55

    def test_half_life_on_model(self):
        r = self._score([ev("a", ago(days=14))], decay=pk.HalfLife("14d"))
        assert r.users["u1"]["score"] == 30.0
        r = self._score([ev("a", ago(days=7))], decay=pk.HalfLife("14d"))
        assert r.users["u1"]["score"] == pytest.approx(60 * 0.5 ** 0.5)
        r = self._score([ev("a", ago(days=28)), ev("b", ago(days=14))],
                        decay=pk.HalfLife("14d"))
        assert r.users["u1"]["score"] == 30.0   # inactivity: last event of any name

    def test_half_life_on_rule_uses_its_most_recent_matching_event(self):
        rules = [pk.Rule("a", exists("a"), points=40, decay=pk.HalfLife("7d")),
                 pk.Rule("b", exists("b"), points=10)]
        events = [ev("a", ago(days=21)), ev("a", ago(days=14)),   # latest 'a' is 14d old
                  ev("b", ago(days=1))]                           # user is active
        r = self._score(events, rules=rules, decay=None)
        assert r.users["u1"]["a"] == 10.0     # 40 * 0.5 ** (14 / 7)
        assert r.users["u1"]["b"] == 10
        assert r.users["u1"]["score"] == 20.0

    def test_rule_decay_age_follows_the_rules_window(self):
        # The rule's matching events are those in its window; the latest of them is 4d old.
        rules = [pk.Rule("a", count("a", within="10d") >= 1, points=16,
                         decay=pk.HalfLife("2d"))]
        events = [ev("a", ago(days=4)), ev("a", AS_OF + timedelta(days=1))]
        r = self._score(events, rules=rules, decay=None)
        assert r.users["u1"]["score"] == 4.0  # 16 * 0.5 ** 2

    def test_rule_decay_age_ignores_events_of_a_branch_that_did_not_hold(self):
        # Matched through 'a' (14d old); the two 'b' events (1d old) do not make the
        # 'count("b") >= 5' branch hold, so they are not matching events of the rule.
        rules = [pk.Rule("r", exists("a") | (count("b") >= 5), points=40,
                         decay=pk.HalfLife("7d"))]
        events = [ev("a", ago(days=14)), ev("b", ago(days=1)), ev("b", ago(days=1))]
        r = self._score(events, rules=rules, decay=None)
        assert r.users["u1"]["score"] == 10.0     # 40 * 0.5 ** (14 / 7)
        assert r.explain("u1").rules[0].evidence.n_events == 1

    def test_half_life_on_event_signal_weights_each_event(self):
        rules = [pk.Rule("a", count("a", decay=pk.HalfLife("7d")), points_per=4)]
        events = [ev("a", AS_OF), ev("a", ago(days=7)), ev("a", ago(days=14))]
        r = self._score(events, rules=rules, decay=None)
        assert r.users["u1"]["score"] == 7.0   # 4 * (1 + 0.5 + 0.25)

    def test_half_life_on_total(self):
        rules = [pk.Rule("a", total("n", of="a", decay=pk.HalfLife("7d")), points_per=1)]
        events = [ev("a", AS_OF, properties={"n": 8}),
                  ev("a", ago(days=7), properties={"n": 8}),
                  ev("a", ago(days=21), properties={"n": 8})]
        r = self._score(events, rules=rules, decay=None)
        assert r.users["u1"]["score"] == 13.0   # 8 + 4 + 1

    def test_decayed_count_in_a_condition(self):
        # 1 + 0.5 = 1.5 < 2, though two events exist
        rules = [pk.Rule("a", count("a", decay=pk.HalfLife("7d")) >= 2, points=10)]
        events = [ev("a", AS_OF), ev("a", ago(days=7))]
        assert self._score(events, rules=rules, decay=None).users["u1"]["score"] == 0
        assert self._score([*events, ev("a", AS_OF)], rules=rules,
                           decay=None).users["u1"]["score"] == 10

    def test_reset_after(self):
        d = pk.ResetAfter("30d")
        assert self._score([ev("a", ago(days=30))], decay=d).users["u1"]["score"] == 60
        assert self._score([ev("a", ago(days=30) - US)], decay=d).users["u1"]["score"] == 0

    def test_entity_without_events_has_no_decay(self):
        users = [{"user_id": "u1", "traits": {"role": "admin"}, "created_at": ago(days=400)}]
        rules = [pk.Rule("admin", trait("role") == "admin", points=60)]
        for decay in (self.DECAY, pk.HalfLife("1d"), pk.ResetAfter("1d")):
            model = pk.ScoringModel(name="m", rules=rules, threshold=60, decay=decay)
            r = model.score(pk.EventLog.from_records([ev("x", ago(days=1), user="other")],
                                                     users=users), as_of=AS_OF)
            assert r.users["u1"]["score"] == 60
            assert r.explain("u1").decay == 0

    def test_account_inactivity_from_any_account_event(self):
        users = [{"user_id": "u1", "account_id": "A"}, {"user_id": "u2", "account_id": "A"}]
        accounts = [{"account_id": "A", "traits": {"plan": "pro"}}]
        model = pk.ScoringModel(name="m", level="account", threshold=1, decay=self.DECAY,
                                rules=[pk.Rule("pro", trait("plan") == "pro", points=60)])
        events = [ev("a", ago(days=40), user="u1"), ev("b", ago(days=20), user="u2")]
        r = model.score(pk.EventLog.from_records(events, users=users, accounts=accounts),
                        as_of=AS_OF)
        assert r.accounts["A"]["score"] == 55


# -- §3.7 Roll-up ------------------------------------------------------------------------------


def _rollup_model(**rollup: object) -> pk.ScoringModel:
    return pk.ScoringModel(
        name="m", threshold=50, rollup=pk.Rollup(**rollup),
        rules=[pk.Rule("a", exists("a"), points=50), pk.Rule("b", exists("b"), points=30)],
    )


class TestRollup:
    def test_account_users_from_table_and_from_events(self):
        users = [{"user_id": "t1", "account_id": "A"}, {"user_id": "t2", "account_id": "A"}]
        events = [ev("a", ago(days=1), user="t1"),
                  ev("b", ago(days=1), user="e1", account_id="A"),
                  ev("x", ago(days=1), user="e2", account_id="A"),
                  ev("x", ago(days=1), user="e3", account_id="B")]
        r = _rollup_model().score(pk.EventLog.from_records(events, users=users), as_of=AS_OF)
        acct = r.accounts["A"]
        assert acct["n_users"] == 4        # t1, t2 (table, t2 without events), e1, e2
        assert acct["n_pql"] == 1
        assert acct["share_pql"] == 0.25
        assert acct["is_pqa"] is False
        assert r.users["e1"]["account_id"] == "A"
        assert r.users["t2"]["account_id"] == "A"
        assert r.accounts["B"]["n_users"] == 1

    def test_user_named_by_an_event_after_as_of_is_not_yet_a_member(self):
        events = [ev("a", ago(days=2), user="p"), ev("x", ago(days=1), user="p", account_id="A"),
                  ev("x", ago(days=1), user="q"), ev("x", AS_OF + US, user="q", account_id="A")]
        r = _rollup_model().score(events, as_of=AS_OF)
        assert r.accounts["A"]["n_users"] == 1
        assert r.users["q"]["account_id"] is None

    @pytest.mark.parametrize(
        ("n_pql", "n_users", "is_pqa"),
        [(1, 1, True), (1, 2, True), (2, 4, True), (1, 3, False), (2, 5, False),
         (49, 99, False), (50, 100, True), (0, 2, False)],
    )
    def test_default_policy_half_and_at_least_one(self, n_pql, n_users, is_pqa):
        users = [{"user_id": f"u{i}", "account_id": "A"} for i in range(n_users)]
        events = [ev("a", ago(days=1), user=f"u{i}") for i in range(n_pql)]
        events.append(ev("x", ago(days=1), user="other"))
        r = _rollup_model().score(pk.EventLog.from_records(events, users=users), as_of=AS_OF)
        acct = r.accounts["A"]
        assert acct["n_pql"] == n_pql
        assert acct["n_users"] == n_users
        assert acct["share_pql"] == n_pql / n_users
        assert acct["is_pqa"] is is_pqa

    def test_share_zero_is_not_pqa_even_with_min_share_zero(self):
        users = [{"user_id": "u1", "account_id": "A"}]
        r = _rollup_model(min_share=0.0).score(
            pk.EventLog.from_records([ev("x", ago(days=1))], users=users), as_of=AS_OF)
        assert r.accounts["A"]["is_pqa"] is False   # n_pql >= 1 still required

    def _scores_account(self, **rollup):
        # u1: 80 (a+b), u2: 50 (a), u3: 30 (b), u4: 0; dq: 80 but disqualified
        users = [{"user_id": f"u{i}", "account_id": "A"} for i in range(1, 5)]
        users.append({"user_id": "dq", "account_id": "A", "traits": {"email": "x@s.edu"}})
        events = [ev("a", ago(days=1), user="u1"), ev("b", ago(days=1), user="u1"),
                  ev("a", ago(days=1), user="u2"), ev("b", ago(days=1), user="u3"),
                  ev("a", ago(days=1), user="dq"), ev("b", ago(days=1), user="dq"),
                  ev("x", ago(days=1), user="u4")]
        model = pk.ScoringModel(
            name="m", threshold=50, rollup=pk.Rollup(**rollup),
            rules=[pk.Rule("a", exists("a"), points=50), pk.Rule("b", exists("b"), points=30)],
            disqualify=[trait("email").endswith(".edu")],
        )
        return model.score(pk.EventLog.from_records(events, users=users),
                           as_of=AS_OF).accounts["A"]

    def test_account_score_max_by_default(self):
        acct = self._scores_account()
        assert acct["score"] == 80
        assert acct["n_users"] == 5          # disqualified user counts in n_users
        assert acct["n_pql"] == 2
        assert acct["share_pql"] == 0.4

    def test_account_score_sum_mean_top_k(self):
        assert self._scores_account(score="sum")["score"] == 160       # 80+50+30+0
        assert self._scores_account(score="mean")["score"] == 40       # 160/4
        assert self._scores_account(score="top_k_mean", k=2)["score"] == 65
        assert self._scores_account(score="top_k_mean", k=10)["score"] == 40

    def test_disqualified_excluded_from_score_even_when_highest(self):
        users = [{"user_id": "dq", "account_id": "A", "traits": {"email": "x@s.edu"}},
                 {"user_id": "ok", "account_id": "A"}]
        events = [ev("a", ago(days=1), user="dq"), ev("b", ago(days=1), user="dq"),
                  ev("b", ago(days=1), user="ok")]
        model = pk.ScoringModel(
            name="m", threshold=50,
            rules=[pk.Rule("a", exists("a"), points=50), pk.Rule("b", exists("b"), points=30)],
            disqualify=[trait("email").endswith(".edu")],
        )
        acct = model.score(pk.EventLog.from_records(events, users=users),
                           as_of=AS_OF).accounts["A"]
        assert acct["score"] == 30
        assert acct["n_users"] == 2
        assert acct["n_pql"] == 0
        assert acct["is_pqa"] is False

    def test_denominator_active(self):
        users = [{"user_id": u, "account_id": "A"} for u in ("p", "idle1", "idle2")]
        events = [ev("a", ago(days=1), user="p"), ev("x", ago(days=40), user="idle1")]
        log = pk.EventLog.from_records(events, users=users)
        all_ = _rollup_model().score(log, as_of=AS_OF).accounts["A"]
        assert all_["share_pql"] == pytest.approx(1 / 3)
        assert all_["is_pqa"] is False
        active = _rollup_model(denominator="active", active_within="30d").score(
            log, as_of=AS_OF).accounts["A"]
        assert active["share_pql"] == 1.0
        assert active["is_pqa"] is True
        assert active["n_users"] == 3

    def test_denominator_active_counts_only_active_pqls_in_the_share(self):
        # Two PQLs gone idle and one active user who is not a PQL: the share is over the
        # active users (0 of 1), never 2 of 1; n_pql still counts both PQLs.
        users = [{"user_id": u, "account_id": "A"} for u in ("p1", "p2", "q")]
        events = [ev("a", ago(days=40), user="p1"), ev("a", ago(days=45), user="p2"),
                  ev("x", ago(days=1), user="q")]
        log = pk.EventLog.from_records(events, users=users)
        model = _rollup_model(denominator="active", active_within="30d", min_share=0.5)
        for engine in ("reference", "columnar"):
            result = model.score(log, as_of=AS_OF, engine=engine)
            acct = result.accounts["A"]
            assert (acct["n_pql"], acct["share_pql"], acct["is_pqa"]) == (2, 0.0, False)
            text = str(result.explain("A", level="account"))
            assert ("2 of 3 users are PQLs (share 0%: 0 PQLs among the 1 user active in the "
                    "last '30d')") in text

    def test_denominator_active_window_edge(self):
        users = [{"user_id": u, "account_id": "A"} for u in ("p", "q")]
        events = [ev("a", ago(days=1), user="p"), ev("x", ago(days=30), user="q")]
        log = pk.EventLog.from_records(events, users=users)
        r = _rollup_model(denominator="active", active_within="30d", min_share=0.6)
        assert r.score(log, as_of=AS_OF).accounts["A"]["is_pqa"] is True   # q not active
        events[1] = ev("x", ago(days=30) + US, user="q")
        log = pk.EventLog.from_records(events, users=users)
        assert r.score(log, as_of=AS_OF).accounts["A"]["is_pqa"] is False  # q active: 1/2

    def test_active_within_accepts_calendar_durations(self):
        # as_of 2026-03-31: '1mo' starts 2026-02-28, so q (active 2026-02-28 12:00) is active.
        as_of = datetime(2026, 3, 31, tzinfo=UTC)
        users = [{"user_id": u, "account_id": "A"} for u in ("p", "q")]
        events = [ev("a", as_of, user="p"),
                  ev("x", datetime(2026, 2, 28, 12, tzinfo=UTC), user="q")]
        log = pk.EventLog.from_records(events, users=users)
        month = _rollup_model(denominator="active", active_within="1mo", min_share=0.6)
        days = _rollup_model(denominator="active", active_within="30d", min_share=0.6)
        assert month.score(log, as_of=as_of).accounts["A"]["share_pql"] == 0.5
        assert days.score(log, as_of=as_of).accounts["A"]["share_pql"] == 1.0

    def test_custom_min_share_and_min_pql(self):
        users = [{"user_id": f"u{i}", "account_id": "A"} for i in range(10)]
        events = [ev("a", ago(days=1), user=f"u{i}") for i in range(2)]
        log = pk.EventLog.from_records(events, users=users)
        assert _rollup_model(min_share=0.2).score(log, as_of=AS_OF).accounts["A"]["is_pqa"]
        assert not _rollup_model(min_share=0.2, min_pql=3).score(
            log, as_of=AS_OF).accounts["A"]["is_pqa"]
        assert _rollup_model(min_share=None, min_pql=2).score(
            log, as_of=AS_OF).accounts["A"]["is_pqa"]


# -- §3.8 Nothing is lost silently ---------------------------------------------------------------


class TestAccounting:
    BAD_ROWS: ClassVar[Any] = [
        (ev("a", ago(days=1)), None),
        ({"timestamp": ago(days=1), "user_id": "u1"}, "missing_name"),
        (ev("", ago(days=1)), "missing_name"),
        (ev("a", "2026-05-01T10:00:00"), "naive_timestamp"),
        (ev("a", "not a time"), "invalid_timestamp"),
        (ev("a", None), "missing_timestamp"),
        (ev("a", ago(days=1), user=None), "missing_identity"),
        (ev("a", ago(days=1), colour="red"), "unknown_field"),
        (ev("a", ago(days=1), properties={"n": float("nan")}), "non_finite_property"),
        (ev("a", ago(days=1), properties=[1, 2]), "invalid_properties"),
        (["a", "b"], "not_a_mapping"),
        (ev("a", ago(days=1), user=True), "invalid_id"),
        (ev("a", 1_780_000_000), "invalid_timestamp"),
    ]

    def test_every_row_is_accounted_for(self):
        rows = [r for r, _ in self.BAD_ROWS]
        dup = ev("a", ago(days=2), event_id="e1")
        conflict = ev("b", ago(days=1), event_id="e1")
        rows += [dup, dict(dup), conflict]
        log = pk.EventLog.from_records(rows)
        c = log.report.counts
        assert c["input"] == len(rows)
        assert c["input"] == c["kept"] + c["duplicates"] + c["rejected"]
        assert c["kept"] == 2 and c["duplicates"] == 1
        assert c["rejected"] == len(self.BAD_ROWS) - 1 + 1
        assert len(log) == c["kept"]

    def test_reasons_sources_and_messages(self):
        rows = [r for r, _ in self.BAD_ROWS]
        log = pk.EventLog.from_records(rows)
        by_source = {r.source: r for r in log.report.rejections}
        for i, (_, reason) in enumerate(self.BAD_ROWS):
            if reason is None:
                assert i not in by_source
                continue
            assert by_source[i].reason == reason, (i, by_source[i])
            assert by_source[i].message
            assert by_source[i].table == "events"

    def test_conflict_rejection_source_is_its_row(self):
        rows = [ev("x", ago(days=1)), ev("b", ago(days=1), event_id="e1"),
                ev("a", ago(days=2), event_id="e1")]
        log = pk.EventLog.from_records(rows)
        (rej,) = log.report.rejections
        assert rej.source == 1 and rej.reason == "conflicting_duplicate"

    def test_entity_tables_accounted_and_identity_rows_kept(self):
        users = [{"user_id": "u1", "account_id": "A", "traits": {"role": "admin"}},
                 {"user_id": "u2"},
                 {"user_id": "u2"},                               # duplicate
                 {"user_id": "u3", "created_at": "2026-05-01T00:00:00"},   # naive
                 {"traits": {"x": 1}},                            # no id
                 {"user_id": "u1", "account_id": "B"}]            # conflicting
        accounts = [{"account_id": "A", "traits": {"plan": "pro"}}, {"account_id": "B"},
                    {"account_id": "B", "extra": 1}]
        log = pk.EventLog.from_records([ev("a", ago(days=1))], users=users, accounts=accounts)
        t = log.report.tables
        assert t["users"]["input"] == 6
        assert t["users"]["kept"] == 2
        assert t["users"]["duplicates"] == 1
        assert t["users"]["rejected"] == 3
        assert t["accounts"] == {"input": 3, "kept": 2, "duplicates": 0, "rejected": 1}
        c = log.report.counts
        assert c["input"] == 1 + 6 + 3
        assert c["input"] == c["kept"] + c["duplicates"] + c["rejected"]
        reasons = {(r.table, r.source): r.reason for r in log.report.rejections}
        assert reasons[("users", 3)] == "naive_timestamp"
        assert reasons[("users", 4)] == "missing_identity"
        assert reasons[("accounts", 2)] == "unknown_field"
        assert {k for k, v in reasons.items() if v == "conflicting_duplicate"} in (
            {("users", 0)}, {("users", 5)})

    def test_strict_raises_on_first_rejection(self):
        rows = [ev("a", ago(days=1)), ev("a", "2026-05-01T10:00:00"), ev("", ago(days=1))]
        with pytest.raises(RejectedRowError) as info:
            pk.EventLog.from_records(rows, strict=True)
        assert info.value.reason == "naive_timestamp"
        assert info.value.source == 1
        with pytest.raises(RejectedRowError) as info:
            pk.EventLog.from_records([ev("a", ago(days=1), event_id="e"),
                                      ev("b", ago(days=1), event_id="e")], strict=True)
        assert info.value.reason == "conflicting_duplicate"
        with pytest.raises(RejectedRowError):
            pk.EventLog.from_records([ev("a", ago(days=1))], users=[{"user_id": ""}],
                                     strict=True)

    def test_strict_does_not_raise_on_duplicates(self):
        row = ev("a", ago(days=1), event_id="e")
        log = pk.EventLog.from_records([row, dict(row)], strict=True)
        assert log.report.counts["duplicates"] == 1

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"name": "", "timestamp": "2026-06-01T00:00:00Z", "user_id": "u"},
            {"name": "a", "timestamp": "2026-06-01T00:00:00", "user_id": "u"},
            {"name": "a", "timestamp": "yesterday-ish", "user_id": "u"},
            {"name": "a", "timestamp": "2026-06-01T00:00:00Z"},
            {"name": "a", "timestamp": "2026-06-01T00:00:00Z", "user_id": "u",
             "properties": {"n": float("inf")}},
            {"name": "a", "timestamp": "2026-06-01T00:00:00Z", "user_id": 1.5},
            {"name": 3, "timestamp": "2026-06-01T00:00:00Z", "user_id": "u"},
        ],
    )
    def test_record_with_a_bad_field_raises_at_once(self, kwargs):
        with pytest.raises(PqlkitError):
            pk.Event(**kwargs)

    def test_user_and_account_records_raise_at_once(self):
        with pytest.raises(PqlkitError):
            pk.User(user_id="")
        with pytest.raises(PqlkitError):
            pk.User(user_id="u", created_at="2026-06-01")
        with pytest.raises(PqlkitError):
            pk.Account(account_id=None)
        with pytest.raises(PqlkitError):
            pk.Account(account_id="a", traits={"x": float("nan")})

    def test_rejected_rows_do_not_score(self):
        rows = [ev("a", ago(days=1)), ev("a", "2026-05-31T00:00:00"), ev("a", ago(days=2),
                                                                          colour=1)]
        assert numeric(count("a"), rows) == 1


# -- §3.9 Who exists, and what belongs to whom ---------------------------------------------------


class TestWhoExists:
    MODEL = pk.ScoringModel(name="m", threshold=1, rules=[pk.Rule("a", exists("a"), points=1)])

    def test_user_only_in_events_exists_from_first_event(self):
        log = pk.EventLog.from_records([ev("x", ago(days=5)), ev("a", ago(days=1))])
        assert "u1" not in self.MODEL.score(log, as_of=ago(days=5) - US).users
        assert "u1" in self.MODEL.score(log, as_of=ago(days=5)).users
        assert self.MODEL.score(log, as_of=ago(days=5)).users["u1"]["score"] == 0
        assert self.MODEL.score(log, as_of=AS_OF).users["u1"]["score"] == 1

    def test_user_in_table_without_created_at_always_exists(self):
        log = pk.EventLog.from_records([ev("a", ago(days=1), user="other")],
                                       users=[{"user_id": "u1"}])
        for as_of in (datetime(1990, 1, 1, tzinfo=UTC), AS_OF):
            r = self.MODEL.score(log, as_of=as_of)
            assert "u1" in r.users
            assert r.users["u1"]["score"] == 0

    def test_user_in_table_with_created_at_exists_from_it(self):
        log = pk.EventLog.from_records([ev("a", ago(days=1), user="other")],
                                       users=[{"user_id": "u1", "created_at": ago(days=3)}])
        assert "u1" not in self.MODEL.score(log, as_of=ago(days=3) - US).users
        assert "u1" in self.MODEL.score(log, as_of=ago(days=3)).users

    def test_event_belongs_to_named_account_else_users_table_account(self):
        users = [{"user_id": "u1", "account_id": "A"}]
        events = [ev("a", ago(days=3), user="u1", account_id="B"),   # belongs to B
                  ev("a", ago(days=2), user="u1"),                   # belongs to A (table)
                  ev("a", ago(days=1), user="u1"),                   # belongs to A (table)
                  ev("a", ago(days=1), user=None, account_id="A"),   # account-only event: A
                  ev("a", ago(days=1), user="loose")]                # belongs to no account
        model = pk.ScoringModel(name="m", threshold=1, level="account",
                                rules=[pk.Rule("n", count("a"), points_per=1)])
        r = model.score(pk.EventLog.from_records(events, users=users), as_of=AS_OF)
        assert r.accounts["A"]["score"] == 3
        assert r.accounts["B"]["score"] == 1
        assert len(r.accounts) == 2

    def test_account_in_table_without_users_gets_a_row_never_pqa(self):
        accounts = [{"account_id": "EMPTY"}]
        log = pk.EventLog.from_records([ev("a", ago(days=1))], accounts=accounts)
        for rollup in (pk.Rollup(), pk.Rollup(min_share=0, min_pql=0),
                       pk.Rollup(min_share=None, min_pql=0)):
            model = pk.ScoringModel(name="m", threshold=1, rollup=rollup,
                                    rules=[pk.Rule("a", exists("a"), points=1)])
            row = model.score(log, as_of=AS_OF).accounts["EMPTY"]
            assert row["n_users"] == 0
            assert row["n_pql"] == 0
            assert row["is_pqa"] is False, rollup

    def test_account_in_table_without_users_account_level_row(self):
        accounts = [{"account_id": "EMPTY"}]
        log = pk.EventLog.from_records([ev("a", ago(days=1))], accounts=accounts)
        model = pk.ScoringModel(name="m", threshold=1, level="account",
                                rules=[pk.Rule("a", exists("a"), points=1)])
        row = model.score(log, as_of=AS_OF).accounts["EMPTY"]
        assert row["n_users"] == 0
        assert row["is_pqa"] is False

    @pytest.mark.parametrize("engine", ["columnar", "reference"])
    @pytest.mark.parametrize("threshold", [0, 10])
    def test_account_without_users_is_never_a_pqa_even_at_account_level(self, engine,
                                                                         threshold):
        # Its score may reach the threshold (a trait, or threshold 0): still not a PQA.
        accounts = [{"account_id": "newco", "traits": {"plan": "enterprise_trial"}}]
        log = pk.EventLog.from_records([ev("a", ago(days=1), user=None, account_id="acme")],
                                       accounts=accounts)
        model = pk.ScoringModel(name="m", threshold=threshold, level="account", rules=[
            pk.Rule("trial", trait("plan") == "enterprise_trial", points=10)])
        result = model.score(log, as_of=AS_OF, engine=engine)
        row = result.accounts["newco"]
        assert (row["score"], row["n_users"], row["is_pqa"]) == (10, 0, False)
        expl = result.explain("newco")
        assert expl.qualified is False
        assert "no users and no events of its own is never a PQA" in expl.text()
        # An account with events of its own (naming no user) may qualify on them, listed
        # in the accounts table or not (a quota model on account-level API calls).
        assert result.accounts["acme"]["is_pqa"] is (threshold == 0)
        listed = pk.EventLog.from_records([ev("a", ago(days=1), user=None, account_id="acme")],
                                          accounts=[*accounts, {"account_id": "acme"}])
        assert model.score(listed, as_of=AS_OF, engine=engine).accounts["acme"][
            "is_pqa"] is (threshold == 0)
        # Its events after as_of do not count: it has none yet.
        later = model.score(listed, as_of=ago(days=2), engine=engine).accounts["acme"]
        assert later["is_pqa"] is False

    @pytest.mark.parametrize("engine", ["columnar", "reference"])
    def test_events_of_another_accounts_users_do_not_let_an_account_qualify(self, engine):
        # "other" is named by events of users who belong elsewhere (u1 by the users table,
        # u2 by its earliest event): it has no users and no events of its own.
        users = [{"user_id": "u1", "account_id": "home"}]
        events = [ev("login", ago(days=4), user="u1", account_id="other"),
                  ev("login", ago(days=7), user="u2", account_id="home2"),
                  ev("login", ago(days=4), user="u2", account_id="other2")]
        model = pk.ScoringModel(name="acct", level="account", threshold=10,
                                rules=[pk.Rule("base", trait("plan").is_missing(), points=10)])
        result = model.score(pk.EventLog.from_records(events, users=users), as_of=AS_OF,
                             engine=engine)
        rows = {r["account_id"]: (r["n_users"], r["is_pqa"]) for r in result.accounts}
        assert rows == {"home": (1, True), "home2": (1, True), "other": (0, False),
                        "other2": (0, False)}
        assert "no events of its own" in result.explain("other").text()

    def test_disqualified_users_count_in_n_users_not_in_score(self):
        users = [{"user_id": "s", "account_id": "A", "traits": {"email": "s@uni.edu"}},
                 {"user_id": "t", "account_id": "A"}]
        model = pk.ScoringModel(name="m", threshold=10,
                                rules=[pk.Rule("a", count("a"), points_per=10)],
                                disqualify=[trait("email").endswith(".edu")],
                                rollup=pk.Rollup(score="sum"))
        events = [ev("a", ago(days=1), user="s")] * 3 + [ev("a", ago(days=1), user="t")]
        acct = model.score(pk.EventLog.from_records(events, users=users),
                           as_of=AS_OF).accounts["A"]
        assert acct["n_users"] == 2
        assert acct["score"] == 10
        assert acct["n_pql"] == 1
        assert acct["share_pql"] == 0.5
        assert acct["is_pqa"] is True

    def test_since_signup_without_created_at_counts_from_first_event(self):
        users = [{"user_id": "u1"}]
        events = [ev("x", ago(days=20)), ev("a", ago(days=6) - US), ev("a", ago(days=5))]
        # first event at -20d: window [-20d, -6d)
        assert numeric(count("a", since_signup="14d"), events, users=users) == 1
        assert numeric(count("a", since_signup="14d"), events) == 1


# -- §3.10 Missing values ------------------------------------------------------------------------


class TestMissingValues:
    EVENTS: ClassVar[Any] = [ev("other", ago(days=1))]   # u1 has events, but none named 'a'

    @pytest.mark.parametrize(
        "signal",
        [first_seen("a"), last_seen("a"), days_since_last("a"), days_since_first("a")],
        ids=repr,
    )
    def test_time_signals_over_no_events_are_missing(self, signal):
        assert holds(signal.is_missing(), self.EVENTS)
        assert not holds(signal.is_present(), self.EVENTS)

    def test_counts_over_no_events_are_zero_and_exists_false(self):
        assert numeric(count("a"), self.EVENTS) == 0
        assert holds(count("a") == 0, self.EVENTS)
        assert not holds(exists("a"), self.EVENTS)
        assert holds(~exists("a"), self.EVENTS)
        assert numeric(count("a", decay=pk.HalfLife("7d")), self.EVENTS) == 0

    def test_entity_with_no_events_at_all(self):
        users = [{"user_id": "u1"}]
        events = [ev("a", ago(days=1), user="other")]
        assert numeric(count(), events, users=users) == 0
        assert holds(days_since_last().is_missing(), events, users=users)
        assert holds(~(days_since_last() < 7), events, users=users)
        assert not holds(days_since_last() >= 7, events, users=users)

    @pytest.mark.parametrize("op", ["<", "<=", ">", ">=", "==", "!="])
    def test_comparison_with_missing_is_false_and_not_is_true(self, op):
        sig = days_since_last("a")
        cond = {"<": sig < 3, "<=": sig <= 3, ">": sig > 3, ">=": sig >= 3,
                "==": sig == 3, "!=": sig != 3}[op]
        assert not holds(cond, self.EVENTS)
        assert holds(~cond, self.EVENTS)

    def test_missing_trait(self):
        users = [{"user_id": "u1", "traits": {"role": "member"}}]
        assert not holds(trait("plan") == "pro", self.EVENTS, users=users)
        assert not holds(trait("plan") != "pro", self.EVENTS, users=users)
        assert holds(~(trait("plan") == "pro"), self.EVENTS, users=users)
        assert not holds(trait("email").endswith(".edu"), self.EVENTS, users=users)
        assert holds(trait("plan").is_missing(), self.EVENTS, users=users)
        assert not holds(trait("plan").isin(["pro", "free"]), self.EVENTS, users=users)

    def test_missing_in_arithmetic_stays_missing(self):
        cond = (days_since_last("a") + 1) > 0
        assert not holds(cond, self.EVENTS)
        assert holds(~cond, self.EVENTS)

    def test_missing_in_and_or(self):
        missing = days_since_last("a") < 3
        assert not holds(missing & exists("other"), self.EVENTS)
        assert holds(missing | exists("other"), self.EVENTS)
        assert holds(~missing & exists("other"), self.EVENTS)

    def test_missing_first_seen_comparison(self):
        assert not holds(first_seen("a") >= "2000-01-01T00:00:00Z", self.EVENTS)
        assert holds(~(first_seen("a") >= "2000-01-01T00:00:00Z"), self.EVENTS)

    def test_missing_property_in_where(self):
        events = [ev("a", ago(days=1), properties={"plan": "pro"}), ev("a", ago(days=1))]
        assert numeric(count("a", where=prop("plan") == "pro"), events) == 1
        assert numeric(count("a", where=prop("plan") != "pro"), events) == 0
        assert numeric(count("a", where=~(prop("plan") == "pro")), events) == 1

    def test_no_events_no_inactivity_decay(self):
        users = [{"user_id": "u1", "traits": {"role": "admin"}}]
        model = pk.ScoringModel(name="m", threshold=1,
                                rules=[pk.Rule("r", trait("role") == "admin", points=20)],
                                decay=pk.InactivityDecay(points=5, every="1d"))
        r = model.score(pk.EventLog.from_records([ev("x", ago(days=1), user="o")], users=users),
                        as_of=AS_OF)
        assert r.users["u1"]["score"] == 20


# -- §3.11 Explanations --------------------------------------------------------------------------


class TestExplanations:
    def _result(self):
        users = [{"user_id": "u1", "account_id": "A", "traits": {"role": "admin"}},
                 {"user_id": "u2", "account_id": "A"},
                 {"user_id": "u3", "account_id": "A", "traits": {"email": "z@uni.edu"}}]
        model = pk.ScoringModel(
            name="m",
            rules=[
                pk.Rule("activation", count("project_created") >= 1, points=40),
                pk.Rule("intent", count("pricing_page_viewed", within="30d") >= 2, points=15),
                pk.Rule("admin", trait("role") == "admin", points=5),
                pk.Rule("queries", count("query", within="30d"), points_per=3, max_points=9),
                pk.Rule("spam", exists("spam"), points=-50),
                pk.Rule("cap1", exists("x1"), points=30, group="g"),
                pk.Rule("cap2", exists("x2"), points=30, group="g"),
            ],
            disqualify=[trait("email").endswith(".edu")],
            decay=pk.InactivityDecay(points=5, every="7d", grace="7d"),
            threshold=60, ceiling=100, group_caps={"g": 40},
        )
        events = [
            ev("project_created", ago(days=40)),
            ev("pricing_page_viewed", ago(days=31)),
            ev("pricing_page_viewed", ago(days=20)),
            ev("pricing_page_viewed", ago(days=15, hours=3)),
            ev("query", ago(days=15)),
            # u2: idle 29 days, raw 40 + 30 + 30 - 20 (cap) = 80, loses 5 * 3 = 15 -> 65
            ev("project_created", ago(days=29), user="u2"),
            ev("x1", ago(days=29), user="u2"), ev("x2", ago(days=29), user="u2"),
            # u3: spam, clamp to 0, disqualified
            ev("spam", ago(days=1), user="u3"),
            # u4: over the ceiling
            ev("project_created", ago(days=1), user="u4"),
            ev("x1", ago(days=1), user="u4"), ev("x2", ago(days=1), user="u4"),
            ev("query", ago(days=1), user="u4"), ev("query", ago(days=1), user="u4"),
            ev("query", ago(days=1), user="u4"), ev("query", ago(days=1), user="u4"),
            ev("pricing_page_viewed", ago(days=1), user="u4"),
            ev("pricing_page_viewed", ago(days=2), user="u4"),
        ]
        return model.score(pk.EventLog.from_records(events, users=users), as_of=AS_OF)

    def test_scores_decompose_exactly(self):
        r = self._result()
        expected = {
            # u1: 40 + 15 + 5 + 3 = 63, idle 15 days loses 5 -> 58
            "u1": 58,
            "u2": 65,
            "u3": 0,
            # u4: 40 + 15 + 9 + 40 = 104 -> ceiling 100
            "u4": 100,
        }
        for uid, score in expected.items():
            row = r.users[uid]
            expl = r.explain(uid)
            assert row["score"] == score, uid
            assert expl.score == score
            parts = (sum(c.points for c in expl.rules) + sum(expl.caps.values()) + expl.decay
                     + expl.clamp)
            assert parts == score, uid
            assert expl.total() == score
            for c in expl.rules:
                assert row[c.rule] == c.points

    @pytest.mark.parametrize("engine", ["columnar", "reference"])
    def test_a_capped_group_counts_as_its_cap_exactly(self, engine):
        # 21.31 + 18.76 + 14.8 over a cap of 29: cap - total is rounded, and adding it back
        # gave 28.999999999999996 (not a PQL at threshold 29).
        events = [ev(n, ago(days=1)) for n in ("p", "d", "m")]
        model = pk.ScoringModel(name="m", threshold=29, group_caps={"usage": 29}, rules=[
            pk.Rule("p", exists("p"), points=21.31, group="usage"),
            pk.Rule("d", exists("d"), points=18.76, group="usage"),
            pk.Rule("m", exists("m"), points=14.8, group="usage")])
        result = model.score(events, as_of=AS_OF, engine=engine)
        row, expl = result.users["u1"], result.explain("u1")
        assert (row["score"], row["raw_score"], row["is_pql"]) == (29.0, 29.0, True)
        assert expl.group_caps == {"usage": 29.0}
        assert expl.total() == expl.score == 29.0

    @pytest.mark.parametrize("engine", ["columnar", "reference"])
    def test_a_clamped_score_puts_back_together_exactly(self, engine):
        # -8.1 - 4 is clamped to a floor of 10: the parts -8.1, -4 and +22.1 add up to
        # 10.000000000000002 in floats; total() gives the floor itself.
        model = pk.ScoringModel(name="m", floor=10, threshold=10,
                                decay=pk.InactivityDecay(points=1, every="1d"),
                                rules=[pk.Rule("risk", exists("x"), points=-8.1)])
        expl = model.score([ev("x", ago(days=4))], as_of=AS_OF, engine=engine).explain("u1")
        assert (expl.decay, expl.clamp) == (-4.0, 22.1)
        assert expl.total() == expl.score == 10.0

    def test_decomposition_parts(self):
        r = self._result()
        u1 = r.explain("u1")
        assert {c.rule: c.points for c in u1.rules} == {
            "activation": 40, "intent": 15, "admin": 5, "queries": 3, "spam": 0,
            "cap1": 0, "cap2": 0}
        assert u1.decay == -5
        assert u1.clamp == 0
        u2 = r.explain("u2")
        assert u2.caps == {"g": -20}
        assert u2.decay == -15
        u3 = r.explain("u3")
        assert u3.decay == 0 and u3.clamp == 50 and u3.disqualified
        u4 = r.explain("u4")
        assert u4.clamp == -4

    def test_evidence_counts_latest_and_when(self):
        u1 = self._result().explain("u1")
        intent = next(c for c in u1.rules if c.rule == "intent")
        assert intent.matched
        assert intent.evidence.n_events == 2           # the two views in the window
        assert intent.evidence.latest.name == "pricing_page_viewed"
        assert intent.evidence.latest.timestamp == ago(days=15, hours=3)
        assert intent.evidence.first.timestamp == ago(days=20)
        activation = next(c for c in u1.rules if c.rule == "activation")
        assert activation.evidence.n_events == 1
        assert activation.evidence.latest.timestamp == ago(days=40)
        text = u1.text()
        assert "pricing_page_viewed" in text
        assert "2026-05-16" in text   # the date of the latest view

    def test_rollup_explanation(self):
        r = self._result()
        acct = r.explain("A")
        assert acct.n_users == 3
        assert acct.n_pql == 1
        assert {u["user_id"] for u in acct.users} == {"u1", "u2", "u3"}
        assert acct.score == r.accounts["A"]["score"] == 65

    def test_decayed_scores_decompose(self):
        model = pk.ScoringModel(
            name="m", threshold=1, decay=pk.HalfLife("9d"),
            rules=[pk.Rule("a", count("a", decay=pk.HalfLife("3d")), points_per=7),
                   pk.Rule("b", exists("b"), points=11, decay=pk.HalfLife("5d"))])
        events = [ev("a", ago(days=d)) for d in (1, 2.5, 7)] + [ev("b", ago(days=4))]
        r = model.score(events, as_of=AS_OF)
        expl = r.explain("u1")
        assert expl.total() == pytest.approx(expl.score, rel=1e-12)
        assert expl.score == r.users["u1"]["score"]


@pytest.mark.parametrize("where", ["model", "rule", "signal"])
def test_half_life_decay_is_bit_for_bit_the_same_in_both_engines(where):
    # numpy's power differed from Python's ** in the last bit for ~5% of ages, enough to
    # flip is_pql at a threshold equal to the reference score.
    log = pk.EventLog.from_records([
        {"name": "a", "timestamp": f"2026-05-{d:02d}T{h:02d}:10:23.218895Z", "user_id": f"u{d}{h}"}
        for d in range(1, 31) for h in range(0, 24, 5)])
    decay = pk.HalfLife("10d")
    rules = {"model": [pk.Rule("any", exists("a"), points=0.5)],
             "rule": [pk.Rule("any", exists("a"), points=0.5, decay=decay)],
             "signal": [pk.Rule("any", count("a", decay=decay), points_per=0.5)]}[where]
    model = pk.ScoringModel(name="m", threshold=0, rules=rules,
                            decay=decay if where == "model" else None)
    as_of = "2026-05-31T00:00:00Z"
    ref = model.score(log, as_of=as_of, engine="reference").users
    col = model.score(log, as_of=as_of, engine="columnar").users
    assert [r["score"] for r in col] == [r["score"] for r in ref]


@pytest.mark.parametrize("engine", ["columnar", "reference"])
@pytest.mark.parametrize(("days", "expected"), [(3, -10.0), (9, -5.0), (16, 0.0), (30, 0.0)])
def test_a_rule_decay_shrinks_a_penalty_toward_zero(engine, days, expected):
    # InactivityDecay subtracted from -10 too: -25 after three weeks, a bigger penalty.
    model = pk.ScoringModel(name="m", threshold=0, floor=None, rules=[
        pk.Rule("downgrade", exists("plan_downgraded"), points=-10,
                decay=pk.InactivityDecay(points=5, every="7d")),
        pk.Rule("late", exists("never_sent"), points=10, decay=pk.ResetAfter("30d"))])
    row = model.score([ev("plan_downgraded", ago(days=days))], as_of=AS_OF,
                      engine=engine).users["u1"]
    assert row["downgrade"] == expected
    assert math.copysign(1, row["downgrade"]) == (1 if expected == 0 else -1)  # no -0.0
    assert type(row["downgrade"]) is float and type(row["late"]) is float


@pytest.mark.parametrize("engine", ["columnar", "reference"])
def test_points_per_over_text_gives_no_points_as_comparisons_find_no_number(engine):
    # "many" made score() raise ValueError in both engines; "12" scored 12 while
    # trait("seats") >= 10 found it no number.
    users = [{"user_id": "u1", "traits": {"seats": "12"}},
             {"user_id": "u2", "traits": {"seats": "many"}},
             {"user_id": "u3", "traits": {"seats": 12}},
             {"user_id": "u4", "traits": {"seats": True}}]
    log = pk.EventLog.from_records([], users=users)
    model = pk.ScoringModel(name="m", threshold=0, rules=[
        pk.Rule("seats", trait("seats"), points_per=2),
        pk.Rule("big", trait("seats") >= 10, points=1)])
    rows = {r["user_id"]: (r["seats"], r["big"])
            for r in model.score(log, as_of=AS_OF, engine=engine).users}
    assert rows == {"u1": (0, 0), "u2": (0, 0), "u3": (24, 1), "u4": (2, 0)}


@pytest.mark.parametrize("engine", ["columnar", "reference"])
@pytest.mark.parametrize("span", ["3000y", "1000000000d", "8000y", "2000000y", "1mo"])
def test_windows_reaching_past_the_calendar_hold_everything_on_their_side(engine, span):
    # A window edge before year 1 or after 9999 raised (a raw ValueError or OverflowError,
    # in one engine and not the other); it lies beyond every event instead.
    log = pk.EventLog.from_records(
        [{"name": "e", "timestamp": "2026-05-01T00:00:00Z", "user_id": "u1"},
         {"name": "e", "timestamp": "9999-12-31T00:00:00Z", "user_id": "u2"}],
        users=[{"user_id": "u3", "created_at": "9999-12-30T00:00:00Z"}])
    model = pk.ScoringModel(name="m", threshold=1, rules=[
        pk.Rule("recent", count("e", within=span), points_per=1),
        pk.Rule("early", count("e", since_signup=span), points_per=1)])
    rows = {r["user_id"]: (r["recent"], r["early"])
            for r in model.score(log, engine=engine).users}
    whole = span not in ("1mo", "3000y")  # as_of is 9999-12-31: 3000y reach 6999
    assert rows == {"u1": (int(whole), 1), "u2": (1, 1), "u3": (0, 0)}


@pytest.mark.parametrize("engine", ["columnar", "reference"])
def test_sums_beyond_the_float_range_are_infinite_in_both_engines(engine):
    # The columnar engine gave nan for inf + 1 and inf for 1e308 + 1e308, where the
    # reference gave inf and raised OverflowError.
    events = [ev("a", ago(days=2)), ev("a", ago(days=1)),
              ev("a", ago(days=1), user="u2", account_id="A"),
              ev("a", ago(days=1), user="u3", account_id="A")]
    model = pk.ScoringModel(name="m", threshold=0, rollup=pk.Rollup(score="sum"), rules=[
        pk.Rule("volume", count("a"), points_per=1e308),
        pk.Rule("x", exists("a"), points=1e308),
        pk.Rule("y", exists("a"), points=1e308)])
    result = model.score(events, as_of=AS_OF, engine=engine)
    assert result.users["u1"]["score"] == math.inf
    assert result.users["u1"]["is_pql"] is True
    assert result.accounts["A"]["score"] == math.inf
    assert result.explain("u1").total() == math.inf


@pytest.mark.parametrize("engine", ["columnar", "reference"])
def test_a_nan_score_is_explained_without_a_decay_or_clamp_and_in_valid_json(engine):
    # Rule points of +inf and -inf make a nan score (kept as nan): its explanation showed
    # "decay −nan" and "clamped −nan" for a model with neither (nan - nan), and to_json()
    # wrote NaN, which JSON does not have.
    import json

    events = [{"name": n, "timestamp": ago(days=1), "user_id": "u1", "account_id": "A",
               "properties": {"amount": v}}
              for n, v in (("pay", 1e308), ("pay", 1e308), ("ref", -1e308), ("ref", -1e308))]
    model = pk.ScoringModel(name="m", threshold=1, rules=[  # +inf and -inf points
        pk.Rule("pay", total("amount", of="pay"), points_per=1),
        pk.Rule("ref", total("amount", of="ref"), points_per=1)])
    result = model.score(events, as_of=AS_OF, engine=engine)
    expl = result.explain("u1")
    assert math.isnan(expl.score) and expl.decay == 0 and expl.clamp == 0
    assert "decay" not in expl.text() and "clamped" not in expl.text()

    def refuse(token: str) -> None:
        raise AssertionError(f"not JSON: {token}")

    for data in (expl, result.explain("A", level="account")):
        parsed = json.loads(data.to_json(), parse_constant=refuse)
        assert parsed["score"] is None  # (JavaScript's JSON writes nan and inf as null)
    assert json.loads(expl.to_json())["rules"][0]["points"] is None  # (+inf)


@pytest.mark.parametrize("engine", ["columnar", "reference"])
@pytest.mark.parametrize("returns", [float("nan"), float("inf"), "3", None])
@pytest.mark.parametrize("where", ["model", "rule", "signal"])
def test_a_custom_decay_must_return_a_finite_number(engine, returns, where):
    # nan became 0 in the reference engine (max(floor, nan)) and stayed nan in columnar.
    import attrs

    @attrs.frozen
    class Odd:
        def apply(self, value: float, age: Any) -> Any:
            return returns

    decay = Odd()
    rules = {"model": [pk.Rule("r", count() >= 1, points=10)],
             "rule": [pk.Rule("r", count() >= 1, points=10, decay=decay)],
             "signal": [pk.Rule("r", count(decay=decay), points_per=10)]}[where]
    model = pk.ScoringModel(name="m", threshold=1, rules=rules,
                            decay=decay if where == "model" else None)
    with pytest.raises(ValidationError, match="a decay must return a finite number"):
        model.score([ev("x", ago(days=3))], as_of=AS_OF, engine=engine)


def test_rule_points_have_the_same_type_in_both_engines():
    # A capped points_per rule gave the int max_points in the reference engine (25 vs
    # 25.0), and an unmatched float-points rule 0 (vs 0.0): equal with ==, but not in
    # JSON, repr or to_pandas dtypes. No points per unit are 0.0, never -0.0.
    import json

    events = [ev("report", ago(days=d)) for d in range(1, 7)] + [ev("x", ago(days=1), "u2")]
    users = [{"user_id": "u1", "traits": {"plan": "pro"}}, {"user_id": "u2"}]
    model = pk.ScoringModel(name="m", threshold=10, rules=[
        pk.Rule("capped", count("report"), points_per=5, max_points=25),
        pk.Rule("float_points", exists("pricing"), points=2.5),
        pk.Rule("int_points", exists("report"), points=3),
        pk.Rule("text", trait("plan"), points_per=2),
        pk.Rule("negative", count("report"), points_per=-5, max_points=10)])
    seen = []
    for engine in ("columnar", "reference"):
        result = model.score(pk.EventLog.from_records(events, users=users), as_of=AS_OF,
                             engine=engine)
        rows = result.users.to_records()
        explained = [[r.points for r in result.explain(u).rules] for u in ("u1", "u2")]
        seen.append(json.dumps([rows, explained]))
        assert [rows[0][k] for k in ("capped", "float_points", "int_points", "negative")] == [
            25.0, 0.0, 3, -10.0]
        assert [type(rows[0][k]) for k in ("capped", "float_points", "int_points")] == [
            float, float, int]
        assert str(rows[1]["negative"]) == "0.0"
    assert seen[0] == seen[1]


@pytest.mark.parametrize("engine", ["columnar", "reference"])
def test_active_days_counts_days_before_1970(engine):
    # The columnar engine took negative epoch days for missing values and dropped them.
    model = pk.ScoringModel(name="m", threshold=0,
                            rules=[pk.Rule("days", pk.active_days(), points_per=1)])
    events = [{"name": "login", "timestamp": t, "user_id": "u1"}
              for t in ("1969-12-31T10:00:00Z", "1969-12-31T11:00:00Z", "1970-01-01T10:00:00Z")]
    assert model.score(events, engine=engine).users["u1"]["days"] == 2
