"""Tests of pqlkit.eventlog and pqlkit.report: loading loses nothing and is order-free."""

from __future__ import annotations

import itertools
import json
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import pqlkit as pk
from pqlkit.errors import PqlkitTypeError, RejectedRowError, ValidationError
from pqlkit.eventlog import NO_TIME, EventLog
from pqlkit.report import REASONS, LoadReport, Rejection

T0 = "2026-05-01T09:00:00Z"
T1 = "2026-05-02T09:00:00Z"
T2 = "2026-05-03T09:00:00Z"


def ev(name: str = "signup", ts: str = T0, user: Any = "u1", **extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"name": name, "timestamp": ts}
    if user is not None:
        row["user_id"] = user
    row.update(extra)
    return row


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def columns(log: EventLog) -> dict[str, Any]:
    """Everything an engine reads from a log, as comparable plain values (with dtypes)."""
    arrays = ("ts", "name_code", "user", "account", "owner_account", "user_account",
              "user_created", "user_in_table", "account_created", "account_in_table")
    out: dict[str, Any] = {a: (getattr(log, a).dtype.str, getattr(log, a).tolist()) for a in arrays}
    out["names"] = log.names
    out["user_ids"] = log.user_ids
    out["account_ids"] = log.account_ids
    out["event_id"] = log.event_id.tolist()
    out["props"] = {k: [None if v is None else (type(v).__name__, v) for v in col.tolist()]
                    for k, col in log.props.items()}
    out["user_traits"] = [dict(t) for t in log.user_traits]
    out["account_traits"] = [dict(t) for t in log.account_traits]
    return out


def assert_accounted_for(report: LoadReport) -> None:
    for table, c in report.tables.items():
        assert c["input"] == c["kept"] + c["duplicates"] + c["rejected"], table
    c = report.counts
    assert c["input"] == c["kept"] + c["duplicates"] + c["rejected"]
    assert c["rejected"] == len(report.rejections)


# -- loading ------------------------------------------------------------------------------------


def test_from_records_accepts_dicts_records_and_a_mix():
    rows = [ev("a", T0), ev("b", T1, properties={"plan": "pro"})]
    records = [pk.Event(**r) for r in rows]
    mixed = [rows[0], records[1]]
    logs = [EventLog.from_records(x) for x in (rows, records, mixed)]
    assert columns(logs[0]) == columns(logs[1]) == columns(logs[2])
    assert list(logs[0].events()) == records


def test_from_records_accepts_any_iterable():
    log = EventLog.from_records(ev(str(i)) for i in range(3))
    assert len(log) == 3
    assert log.report.counts == {"input": 3, "kept": 3, "duplicates": 0, "rejected": 0}


def test_from_records_refuses_a_single_mapping_or_string():
    with pytest.raises(PqlkitTypeError, match="iterable of Event records or dicts"):
        EventLog.from_records(ev())  # type: ignore[arg-type]
    with pytest.raises(PqlkitTypeError):
        EventLog.from_records("events.jsonl")  # type: ignore[arg-type]
    with pytest.raises(PqlkitTypeError, match="users must be an iterable"):
        EventLog.from_records([], users={"user_id": "u"})  # type: ignore[arg-type]


def test_an_empty_load_reports_zero_rows():
    log = EventLog.from_records([])
    assert len(log) == 0
    assert log.max_timestamp is None
    assert log.report.counts == {"input": 0, "kept": 0, "duplicates": 0, "rejected": 0}
    assert log.report.tables["events"]["input"] == 0


def test_the_log_exposes_sorted_integer_coded_columns():
    log = EventLog.from_records([
        ev("b", T1, "u2", account_id="acc", properties={"n": 2}),
        ev("a", T0, "u1", event_id="e1"),
    ])
    assert log.ts.dtype == np.int64
    assert log.name_code.dtype == np.int8  # the narrowest type that holds the codes
    assert log.names == ("a", "b")
    assert log.user_ids == ("u1", "u2")
    assert log.account_ids == ("acc",)
    assert log.ts.tolist() == [1777626000000000, 1777712400000000]
    assert log.name_code.tolist() == [0, 1]
    assert log.user.tolist() == [0, 1]
    assert log.account.tolist() == [-1, 0]
    assert log.event_id.tolist() == ["e1", None]
    assert log.props["n"].tolist() == [None, 2]
    assert log.max_timestamp == utc(2026, 5, 2, 9)


def test_events_read_back_as_records_in_canonical_order():
    rows = [ev("b", T1), ev("a", T0, properties={"k": [1, 2]})]
    log = EventLog.from_records(rows)
    assert [e.name for e in log.events()] == ["a", "b"]
    assert log.event(0).properties["k"] == (1, 2)
    assert log.properties(1) == {}
    assert log.prop("k", 0) == (1, 2)
    assert log.prop("k", 1) is None
    assert log.prop("absent", 0) is None


def test_repr_summarises_the_log():
    log = EventLog.from_records([ev("a", T0), ev("b", T1, "u2")])
    text = repr(log)
    assert "2 events" in text and "2 names" in text and "2 users" in text
    assert "2026-05-01T09:00:00+00:00" in text
    assert repr(EventLog.from_records([])).startswith("<EventLog 0 events")


def test_eventlog_cannot_be_built_directly():
    with pytest.raises(PqlkitTypeError, match="from_records"):
        EventLog()


def test_none_properties_are_the_same_as_absent_ones():
    with_none = EventLog.from_records([ev(properties={"a": None, "b": 1}), ev(properties={"z": 2})])
    without = EventLog.from_records([ev(properties={"b": 1}), ev(properties={"z": 2})])
    assert columns(with_none) == columns(without)


# -- rejections and reason codes ------------------------------------------------------------

BAD_EVENT_ROWS: list[tuple[Any, str]] = [
    ("not a row", "not_a_mapping"),
    (["signup", T0, "u1"], "not_a_mapping"),
    (ev(colour="red"), "unknown_field"),
    (ev(user=None), "missing_identity"),
    (ev(user=""), "missing_identity"),
    (ev(user=1.5), "invalid_id"),
    (ev(user=True), "invalid_id"),
    (ev(account_id=["a"]), "invalid_id"),
    (ev(event_id=2.5), "invalid_id"),
    ({"timestamp": T0, "user_id": "u1"}, "missing_name"),
    (ev(name=""), "missing_name"),
    ({"name": None, "timestamp": T0, "user_id": "u1"}, "missing_name"),
    (ev(name="a\x00b"), "invalid_name"),
    (ev(name="x" * 201), "invalid_name"),
    (ev(name=7), "invalid_name"),
    ({"name": "a", "user_id": "u1"}, "missing_timestamp"),
    (ev(ts=None), "missing_timestamp"),
    (ev(ts=""), "missing_timestamp"),
    (ev(ts="last tuesday-ish"), "invalid_timestamp"),
    (ev(ts=1_780_000_000), "invalid_timestamp"),
    (ev(ts=[2026]), "invalid_timestamp"),
    (ev(ts="2026-05-01T09:00:00+24:00"), "invalid_timestamp"),
    (ev(ts="2026-05-01 09:00"), "naive_timestamp"),
    (ev(ts=datetime(2026, 5, 1, 9)), "naive_timestamp"),
    (ev(properties={"x": float("nan")}), "non_finite_property"),
    (ev(properties={"x": {"y": float("inf")}}), "non_finite_property"),
    (ev(properties="plan=pro"), "invalid_properties"),
    (ev(properties={"x": {1, 2}}), "invalid_properties"),
]


@pytest.mark.parametrize(("row", "reason"), BAD_EVENT_ROWS)
def test_bad_event_rows_are_rejected_with_their_reason_code(row, reason):
    log = EventLog.from_records([ev("ok", T0), row, ev("ok2", T1)])
    assert len(log) == 2
    (rejection,) = log.report.rejections
    assert rejection.reason == reason
    assert rejection.reason in REASONS
    assert rejection.table == "events"
    assert rejection.source == 1
    assert rejection.message
    assert rejection.sample
    assert log.report.counts == {"input": 3, "kept": 2, "duplicates": 0, "rejected": 1}


def test_unknown_field_rejection_names_the_field_and_points_to_properties():
    log = EventLog.from_records([ev(colour="red")])
    message = log.report.rejections[0].message
    assert "'colour'" in message and "properties" in message


def test_naive_timestamp_rejection_says_to_declare_tz():
    log = EventLog.from_records([ev(ts="2026-05-01 09:00")])
    assert "tz='UTC'" in log.report.rejections[0].message


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("u1", "not_a_mapping"),
        ({"user_id": "u1", "email": "x@y.z"}, "unknown_field"),
        ({"account_id": "a"}, "missing_identity"),
        ({"user_id": None}, "missing_identity"),
        ({"user_id": True}, "invalid_id"),
        ({"user_id": "u1", "traits": ["admin"]}, "invalid_traits"),
        ({"user_id": "u1", "traits": {"photo": b"\x89PNG"}}, "invalid_traits"),
        ({"user_id": "u1", "created_at": "2026-05-01"}, "naive_timestamp"),
        ({"user_id": "u1", "created_at": "soon"}, "invalid_timestamp"),
    ],
)
def test_bad_user_rows_are_rejected_with_their_reason_code(row, reason):
    log = EventLog.from_records([], users=[{"user_id": "ok"}, row])
    (rejection,) = log.report.rejections
    assert (rejection.table, rejection.source, rejection.reason) == ("users", 1, reason)
    assert reason in REASONS
    assert log.report.tables["users"] == {"input": 2, "kept": 1, "duplicates": 0, "rejected": 1}


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (3, "not_a_mapping"),
        ({}, "missing_identity"),
        ({"account_id": ""}, "missing_identity"),
        ({"account_id": 1.0}, "invalid_id"),
        ({"account_id": "a", "user_id": "u"}, "unknown_field"),
        ({"account_id": "a", "traits": {"arr": float("inf")}}, "non_finite_property"),
    ],
)
def test_bad_account_rows_are_rejected_with_their_reason_code(row, reason):
    log = EventLog.from_records([], accounts=[row])
    (rejection,) = log.report.rejections
    assert (rejection.table, rejection.source, rejection.reason) == ("accounts", 0, reason)
    assert log.report.tables["accounts"]["rejected"] == 1


def test_rejection_sources_are_positions_within_each_table():
    log = EventLog.from_records(
        [ev(), ev(user=None), ev(), ev(name="")],
        users=[{"user_id": None}, {"user_id": "u1"}],
        accounts=[{"account_id": "a"}, {"account_id": "b"}, "c"],
    )
    assert [(r.table, r.source) for r in log.report.rejections] == [
        ("events", 1), ("events", 3), ("users", 0), ("accounts", 2),
    ]


def test_every_input_row_is_accounted_for_in_every_table():
    events = [row for row, _ in BAD_EVENT_ROWS] + [
        ev("a", T0, event_id=1), ev("a", T0, event_id=1), ev("b", T0, event_id=1),
        ev("c", T1), ev("c", T1),
    ]
    users = [{"user_id": "u1", "account_id": "a"}, {"user_id": "u1", "account_id": "a"},
             {"user_id": "u1", "account_id": "b"}, {"user_id": None}, "x",
             {"user_id": "u2", "traits": ["admin"]}]
    accounts = [{"account_id": "a"}, {"account_id": "a", "traits": {"p": 1}}, 5]
    log = EventLog.from_records(events, users=users, accounts=accounts)
    report = log.report
    assert_accounted_for(report)
    assert report.tables["events"] == {
        "input": len(events), "kept": 3, "duplicates": 1, "rejected": len(BAD_EVENT_ROWS) + 1,
    }
    assert report.tables["users"] == {"input": 6, "kept": 1, "duplicates": 1, "rejected": 4}
    assert report.tables["accounts"] == {"input": 3, "kept": 1, "duplicates": 0, "rejected": 2}
    assert report.counts == {
        "input": len(events) + 9, "kept": 5, "duplicates": 2,
        "rejected": len(BAD_EVENT_ROWS) + 7,
    }
    used = set(report.by_reason())
    assert used <= set(REASONS)
    assert {"not_a_mapping", "unknown_field", "missing_identity", "invalid_id", "missing_name",
            "invalid_name", "missing_timestamp", "invalid_timestamp", "naive_timestamp",
            "non_finite_property", "invalid_properties", "conflicting_duplicate",
            "invalid_traits"} <= used


# -- strict -----------------------------------------------------------------------------------


def test_strict_raises_on_the_first_rejection():
    rows = [ev(), ev(name=""), ev(user=None)]
    with pytest.raises(RejectedRowError) as info:
        EventLog.from_records(rows, strict=True)
    err = info.value
    assert err.reason == "missing_name"
    assert err.source == 1
    assert "events[1]" in str(err) and "missing_name" in str(err)
    assert isinstance(err, ValidationError) and isinstance(err, ValueError)


def test_strict_raises_for_entity_tables_and_conflicting_duplicates():
    with pytest.raises(RejectedRowError) as info:
        EventLog.from_records([], users=[{"user_id": "u"}, {"user_id": True}], strict=True)
    assert (info.value.reason, info.value.source) == ("invalid_id", 1)
    with pytest.raises(RejectedRowError) as info:
        EventLog.from_records([ev("a", event_id=1), ev("b", event_id=1)], strict=True)
    assert info.value.reason == "conflicting_duplicate"


def test_strict_does_not_raise_for_identical_duplicates():
    log = EventLog.from_records([ev(event_id=1), ev(event_id=1)], strict=True)
    assert log.report.counts["duplicates"] == 1


# -- tz= and epoch_unit= ------------------------------------------------------------------------


def test_tz_declares_the_zone_of_naive_timestamps():
    log = EventLog.from_records([ev(ts="2026-05-01 09:00"), ev(ts=datetime(2026, 5, 1, 10))],
                                tz="UTC")
    assert [e.timestamp for e in log.events()] == [utc(2026, 5, 1, 9), utc(2026, 5, 1, 10)]
    assert log.report.rejections == []


def test_tz_with_a_dst_zone_name_uses_that_dates_offset():
    log = EventLog.from_records([ev(ts="2026-07-01 12:00"), ev(ts="2026-01-15 12:00")],
                                tz="Europe/Paris")
    assert [e.timestamp for e in log.events()] == [utc(2026, 1, 15, 11), utc(2026, 7, 1, 10)]


def test_tz_leaves_aware_timestamps_alone():
    log = EventLog.from_records([ev(ts="2026-05-01T09:00:00Z")], tz="America/New_York")
    assert log.event(0).timestamp == utc(2026, 5, 1, 9)


def test_tz_applies_to_created_at_of_entity_rows():
    log = EventLog.from_records(
        [], users=[{"user_id": "u", "created_at": "2026-05-01 09:00"}],
        accounts=[{"account_id": "a", "created_at": "2026-05-01 09:00"}], tz="Europe/Paris",
    )
    assert next(log.users()).created_at == utc(2026, 5, 1, 7)
    assert next(log.accounts()).created_at == utc(2026, 5, 1, 7)


def test_an_unknown_tz_is_one_error_not_a_rejection_per_row():
    with pytest.raises(ValidationError, match="unknown time zone 'Nowhere/Special'"):
        EventLog.from_records([ev(ts="2026-05-01 09:00")], tz="Nowhere/Special")


@pytest.mark.parametrize(
    ("value", "unit"),
    [(1_777_626_000, "s"), (1_777_626_000_000, "ms"), (1_777_626_000_000_000, "us"),
     (1_777_626_000_000_000_000, "ns"), (1_777_626_000.0, "s")],
)
def test_epoch_unit_reads_numeric_timestamps(value, unit):
    log = EventLog.from_records([ev(ts=value)], epoch_unit=unit)
    assert log.event(0).timestamp == utc(2026, 5, 1, 9)


def test_epoch_unit_still_accepts_iso_strings():
    log = EventLog.from_records([ev(ts=T0), ev(ts=1_777_626_000)], epoch_unit="s")
    assert len(log) == 2
    assert log.ts[0] == log.ts[1]


def test_without_epoch_unit_numbers_are_rejected_with_a_hint():
    log = EventLog.from_records([ev(ts=1_777_626_000)])
    (r,) = log.report.rejections
    assert r.reason == "invalid_timestamp"
    assert "epoch_unit='s'" in r.message


# -- duplicates ---------------------------------------------------------------------------------


def test_identical_rows_sharing_an_event_id_count_once():
    log = EventLog.from_records([ev(event_id="e1"), ev(event_id="e1"), ev(event_id="e1")])
    assert len(log) == 1
    assert log.report.counts == {"input": 3, "kept": 1, "duplicates": 2, "rejected": 0}


def test_a_record_and_an_equal_dict_are_duplicates():
    row = ev(event_id=9, properties={"a": [1]})
    log = EventLog.from_records([row, pk.Event(**row)])
    assert log.report.counts["duplicates"] == 1


def test_same_instant_in_different_zone_spellings_is_a_duplicate():
    log = EventLog.from_records([ev(ts="2026-05-01T09:00:00Z", event_id=1),
                                 ev(ts="2026-05-01T11:00:00+02:00", event_id=1)])
    assert log.report.counts == {"input": 2, "kept": 1, "duplicates": 1, "rejected": 0}


def test_events_without_event_id_are_all_kept_even_when_identical():
    log = EventLog.from_records([ev(), ev(), ev()])
    assert len(log) == 3
    assert log.report.counts == {"input": 3, "kept": 3, "duplicates": 0, "rejected": 0}


def test_event_ids_are_type_sensitive():
    log = EventLog.from_records([ev(event_id=1), ev(event_id="1")])
    assert len(log) == 2


@pytest.mark.parametrize(
    ("earliest", "later"),
    [
        (ev("b", T0, event_id=1), ev("a", T1, event_id=1)),  # by timestamp first
        (ev("a", T0, event_id=1), ev("b", T0, event_id=1)),  # then by name
        (ev("a", T0, event_id=1, properties={"n": 1}),
         ev("a", T0, event_id=1, properties={"n": 2})),  # then by properties
        (ev("a", T0, "u1", event_id=1), ev("a", T0, "u2", event_id=1)),  # then by ids
    ],
)
def test_conflicting_rows_keep_the_earliest_whatever_the_order(earliest, later):
    for rows in ([earliest, later], [later, earliest]):
        log = EventLog.from_records(rows)
        assert list(log.events()) == [pk.Event(**earliest)]
        (r,) = log.report.rejections
        assert r.reason == "conflicting_duplicate"
        assert r.source == rows.index(later)
        assert "event_id 1" in r.message and "kept the earliest" in r.message
        assert log.report.counts == {"input": 2, "kept": 1, "duplicates": 0, "rejected": 1}


def test_conflicting_rejection_points_to_the_kept_row():
    log = EventLog.from_records([ev("b", T1, event_id=5), ev("a", T0, event_id=5)])
    assert "events[1]" in log.report.rejections[0].message


def test_duplicate_resolution_is_the_same_for_every_input_order():
    rows = [
        ev("a", T1, event_id=1), ev("a", T1, event_id=1), ev("b", T1, event_id=1),
        ev("a", T0, event_id=1, properties={"x": 1}), ev("c", T2, event_id=2),
        ev("c", T2, event_id=2, properties={"x": 1}), ev("d", T0), ev("d", T0),
    ]
    reference = None
    for perm in itertools.islice(itertools.permutations(range(len(rows))), 0, None, 997):
        log = EventLog.from_records([rows[i] for i in perm])
        rejected = sorted(repr(rows[perm[r.source]]) for r in log.report.rejections)
        outcome = (columns(log), log.report.counts, rejected)
        if reference is None:
            reference = outcome
        assert outcome == reference
    assert reference is not None
    assert reference[1] == {"input": 8, "kept": 4, "duplicates": 0, "rejected": 4}


# -- canonical order and chunking ---------------------------------------------------------------


def _messy_rows() -> list[dict[str, Any]]:
    rng = random.Random(7)
    rows = []
    for _ in range(40):
        user = rng.choice(["u1", "u2", 3, None])
        row = ev(
            name=rng.choice(["a", "b", "c"]),
            ts=f"2026-05-0{rng.randint(1, 3)}T0{rng.randint(0, 2)}:00:00Z",
            user=user,
            account_id=rng.choice(["acc", 10] if user is None else [None, "acc", 10]),
            properties={"n": rng.randint(0, 2)} if rng.random() < 0.5 else {},
        )
        if rng.random() < 0.5:
            row["event_id"] = rng.randint(0, 15)
        rows.append(row)
    return rows


def test_canonical_order_is_independent_of_input_order():
    rows = _messy_rows()
    users = [{"user_id": "u1", "account_id": "acc"}, {"user_id": 3, "traits": {"r": "x"}}]
    base = EventLog.from_records(rows, users=users)
    for seed in range(5):
        shuffled = rows[:]
        random.Random(seed).shuffle(shuffled)
        log = EventLog.from_records(shuffled, users=users[::-1])
        assert columns(log) == columns(base)
        assert log.report.counts == base.report.counts
    assert np.all(np.diff(base.ts) >= 0)


def test_timezone_spelling_does_not_change_the_columns():
    a = EventLog.from_records([ev(ts="2026-05-01T09:00:00Z"), ev("b", ts="2026-05-01T10:00:00Z")])
    b = EventLog.from_records([ev(ts="2026-05-01T11:00:00+02:00"),
                               ev("b", ts=datetime(2026, 5, 1, 10, tzinfo=UTC))])
    assert columns(a) == columns(b)


def test_mixed_int_and_string_ids_sort_ints_first():
    log = EventLog.from_records([ev(user="b"), ev(user=2), ev(user="a"), ev(user=10)])
    assert log.user_ids == (2, 10, "a", "b")


@pytest.mark.parametrize("cuts", [(10,), (5, 20, 30), (1, 2, 3, 39)])
def test_concat_of_chunks_equals_one_load(cuts):
    rows = _messy_rows()
    users = [{"user_id": "u1", "account_id": "acc"}, {"user_id": 3}]
    one = EventLog.from_records(rows, users=users)
    bounds = [0, *cuts, len(rows)]
    chunks = [EventLog.from_records(rows[a:b], users=users if i == 0 else None)
              for i, (a, b) in enumerate(itertools.pairwise(bounds))]
    merged = EventLog.concat(chunks)
    assert columns(merged) == columns(one)
    assert_accounted_for(merged.report)
    assert merged.report.counts["input"] == one.report.counts["input"]
    assert merged.report.counts["kept"] == one.report.counts["kept"]


def test_concat_finds_duplicates_across_chunks():
    a = EventLog.from_records([ev("x", T0, event_id=1), ev("y", T0)])
    b = EventLog.from_records([ev("x", T0, event_id=1), ev("z", T1, event_id=1)])
    merged = EventLog.concat([a, b])
    assert [e.name for e in merged.events()] == ["x", "y"]
    assert merged.report.tables["events"] == {"input": 4, "kept": 2, "duplicates": 1,
                                              "rejected": 1}
    (r,) = merged.report.rejections
    assert (r.reason, r.source) == ("conflicting_duplicate", "1:1")


def test_concat_keeps_chunk_rejections_with_the_chunk_position_prefixed():
    a = EventLog.from_records([ev(), ev(name="")])
    b = EventLog.from_records([ev(user=None), ev()])
    merged = EventLog.concat([a, b])
    assert [(r.reason, r.source) for r in merged.report.rejections] == [
        ("missing_name", "0:1"), ("missing_identity", "1:0"),
    ]
    assert merged.report.counts == {"input": 4, "kept": 2, "duplicates": 0, "rejected": 2}


def test_concat_merges_entity_tables_and_their_duplicates():
    a = EventLog.from_records([], users=[{"user_id": "u", "account_id": "acc"}])
    b = EventLog.from_records([], users=[{"user_id": "u", "account_id": "acc"},
                                         {"user_id": "v"}])
    merged = EventLog.concat([a, b])
    assert merged.report.tables["users"] == {"input": 3, "kept": 2, "duplicates": 1,
                                             "rejected": 0}
    assert [u.user_id for u in merged.users()] == ["u", "v"]


def test_concat_refuses_anything_but_event_logs():
    with pytest.raises(PqlkitTypeError):
        EventLog.concat([])
    with pytest.raises(PqlkitTypeError):
        EventLog.concat([[ev()]])  # type: ignore[list-item]


# -- users, accounts and ownership --------------------------------------------------------------


def test_users_known_only_from_events_are_not_in_the_users_table():
    log = EventLog.from_records([ev(user="ghost")], users=[{"user_id": "u1"}])
    assert log.user_ids == ("ghost", "u1")
    assert log.user_in_table.tolist() == [False, True]
    assert [u.user_id for u in log.users()] == ["u1"]


def test_users_table_fields_become_columns():
    log = EventLog.from_records(
        [], users=[{"user_id": "u1", "account_id": "acc", "traits": {"role": "admin"},
                    "created_at": T0}, {"user_id": "u2"}],
    )
    i = log.user_index("u1")
    assert log.account_ids[log.user_account[i]] == "acc"
    assert log.user_created[i] == 1777626000000000
    assert log.user_traits[i]["role"] == "admin"
    j = log.user_index("u2")
    assert log.user_account[j] == -1
    assert log.user_created[j] == NO_TIME
    with pytest.raises(KeyError):
        log.user_index("nobody")


def test_accounts_come_from_the_table_users_and_events():
    log = EventLog.from_records(
        [ev(account_id="from_event")],
        users=[{"user_id": "u9", "account_id": "from_user"}],
        accounts=[{"account_id": "from_table", "traits": {"plan": "team"}}],
    )
    assert log.account_ids == ("from_event", "from_table", "from_user")
    assert log.account_in_table.tolist() == [False, True, False]
    assert [a.account_id for a in log.accounts()] == ["from_table"]
    assert log.account_traits[log.account_index("from_table")]["plan"] == "team"


def test_identical_duplicate_user_rows_count_once():
    row = {"user_id": "u1", "account_id": "a", "traits": {"role": "admin"}}
    log = EventLog.from_records([], users=[row, dict(row), pk.User(**row)])
    assert log.report.tables["users"] == {"input": 3, "kept": 1, "duplicates": 2, "rejected": 0}


@pytest.mark.parametrize("values", [
    (1, True, 1.0), (0.0, -0.0), ("1", 1), ([1], [1.0], [True]), ({"a": 1}, {"a": True}),
    (1, 1, True), ("x", "x", "x"),
])
def test_user_rows_equal_but_not_alike_keep_the_same_one_whatever_the_order(values):
    # 1, True and 1.0 (or 0.0 and -0.0) are equal in Python but not the same trait value:
    # which row is kept, and what counts as a duplicate, must not depend on the order.
    rows = [{"user_id": "u1", "traits": {"r": v}} for v in values]
    outcomes = set()
    for perm in itertools.permutations(rows):
        log = EventLog.from_records([], users=list(perm))
        (kept,) = log.users()
        r = kept.traits["r"]
        outcomes.add((repr(r), log.report.counts["duplicates"], log.report.counts["rejected"]))
        merged = EventLog.concat([EventLog.from_records([], users=[row]) for row in perm])
        (again,) = merged.users()
        outcomes.add((repr(again.traits["r"]), merged.report.counts["duplicates"],
                      merged.report.counts["rejected"]))
    assert len(outcomes) == 1


@pytest.mark.parametrize("a, b", [(1, True), (1, 1.0), (0.0, -0.0), ([1], [True])])
def test_user_rows_whose_traits_differ_only_in_type_are_conflicts_as_events_are(a, b):
    # The users' duplicate check compared traits with ==, which calls 1, True and 1.0 the
    # same: the second row was counted a duplicate and dropped unreported, while events
    # differing the same way are rejected as conflicting.
    ev = {"name": "x", "timestamp": T0, "user_id": "u1"}
    log = EventLog.from_records(
        [{**ev, "event_id": "e", "properties": {"t": a}},
         {**ev, "event_id": "e", "properties": {"t": b}}],
        users=[{"user_id": "u1", "traits": {"t": a}}, {"user_id": "u1", "traits": {"t": b}}],
        accounts=[{"account_id": "a", "traits": {"t": a}},
                  {"account_id": "a", "traits": {"t": b}}])
    for table in ("events", "users", "accounts"):
        assert log.report.tables[table] == {"input": 2, "kept": 1, "duplicates": 0,
                                            "rejected": 1}, table
    assert {r.reason for r in log.report.rejections} == {"conflicting_duplicate"}


def test_conflicting_user_rows_keep_the_same_one_whatever_the_order():
    rows = [{"user_id": "u1", "created_at": T1, "traits": {"r": 1}},
            {"user_id": "u1", "created_at": T0, "traits": {"r": 2}},
            {"user_id": "u1", "created_at": T0, "traits": {"r": 3}}]
    outcomes = set()
    for perm in itertools.permutations(rows):
        log = EventLog.from_records([], users=list(perm))
        (kept,) = log.users()
        outcomes.add((kept.created_at, kept.traits["r"]))
        assert [r.reason for r in log.report.rejections] == ["conflicting_duplicate"] * 2
        assert "user_id 'u1'" in log.report.rejections[0].message
    assert outcomes == {(utc(2026, 5, 1, 9), 2)}


def test_conflicting_account_rows_are_rejected():
    log = EventLog.from_records([], accounts=[{"account_id": "a", "traits": {"x": 1}},
                                              {"account_id": "a", "traits": {"x": 2}}])
    assert log.report.tables["accounts"] == {"input": 2, "kept": 1, "duplicates": 0,
                                             "rejected": 1}
    assert log.report.rejections[0].source == 1


def test_owner_account_is_the_named_account_else_the_users_table_account():
    log = EventLog.from_records(
        [ev("named", T0, "u1", account_id="other"), ev("inherited", T1, "u1"),
         ev("orphan", T2, "u2"), ev("account_only", T2, None, account_id="solo")],
        users=[{"user_id": "u1", "account_id": "home"}],
    )
    owner = {e.name: (None if o < 0 else log.account_ids[o])
             for e, o in zip(log.events(), log.owner_account.tolist(), strict=True)}
    assert owner == {"named": "other", "inherited": "home", "orphan": None,
                     "account_only": "solo"}
    named = {e.name: (None if a < 0 else log.account_ids[a])
             for e, a in zip(log.events(), log.account.tolist(), strict=True)}
    assert named["inherited"] is None


def test_a_log_of_account_only_events_loads():
    log = EventLog.from_records([ev("seat_limit_hit", T0, None, account_id="acc")])
    assert log.user_ids == ()
    assert log.owner_account.tolist() == [0]
    assert log.account_events(0).tolist() == [0]


def test_entity_event_indices_follow_ownership_in_time_order():
    log = EventLog.from_records(
        [ev("b", T1, "u1"), ev("a", T0, "u1"), ev("c", T2, "u2", account_id="acc")],
        users=[{"user_id": "u1", "account_id": "acc"}],
    )
    u1 = log.user_index("u1")
    assert [log.names[log.name_code[i]] for i in log.user_events(u1)] == ["a", "b"]
    acc = log.account_index("acc")
    assert [log.names[log.name_code[i]] for i in log.account_events(acc)] == ["a", "b", "c"]


# -- the report ---------------------------------------------------------------------------------


def _report() -> LoadReport:
    return EventLog.from_records(
        [ev(), ev(name=""), ev(event_id=1), ev(event_id=1), ev(ts="2026-05-01 09:00")],
        users=[{"user_id": None}],
    ).report


def test_report_summary_lists_tables_and_reasons():
    text = _report().summary()
    assert "events: 5 in, 2 kept, 1 duplicates, 2 rejected" in text
    assert "users: 1 in, 0 kept, 0 duplicates, 1 rejected" in text
    assert "1 rejected as missing_name: " + REASONS["missing_name"] in text
    assert "1 rejected as naive_timestamp" in text
    assert LoadReport().summary() == "nothing loaded"


def test_report_to_records_gives_plain_dicts():
    records = _report().to_records()
    assert [r["reason"] for r in records] == ["missing_name", "naive_timestamp",
                                              "missing_identity"]
    assert set(records[0]) == {"table", "source", "reason", "message", "sample"}
    assert records[0]["table"] == "events" and records[0]["source"] == 1
    assert "''" in records[0]["sample"]


def test_report_by_reason_counts_each_code():
    assert _report().by_reason() == {"missing_identity": 1, "missing_name": 1,
                                     "naive_timestamp": 1}


def test_report_html_and_repr():
    report = _report()
    html = report._repr_html_()
    assert "<table>" in html and "events" in html and "missing_name" in html
    assert repr(report) == "LoadReport({'input': 6, 'kept': 2, 'duplicates': 1, 'rejected': 3})"


def test_report_html_escapes_messages():
    log = EventLog.from_records([ev(name="<b>\x01")])
    assert "<b>" not in log.report._repr_html_()


def test_rejection_sample_is_truncated():
    log = EventLog.from_records([ev(name="", properties={"long": "x" * 500})])
    sample = log.report.rejections[0].sample
    assert len(sample) <= 160 and sample.endswith("…")


def test_rejection_to_dict_round_trips():
    r = Rejection(table="events", source=3, reason="missing_name", message="name is missing")
    assert r.to_dict() == {"table": "events", "source": 3, "reason": "missing_name",
                           "message": "name is missing", "sample": r.sample}
    assert Rejection(**r.to_dict()) == r


def test_merge_adds_reports_and_prefixes_sources():
    a, b = _report(), _report()
    merged = LoadReport.merge([a, b])
    assert merged.counts == {k: 2 * v for k, v in a.counts.items()}
    assert [r.source for r in merged.rejections][:1] == ["0:1"]
    assert merged.rejections[3].source == "1:1"


def _option_loaders(tmp_path: Path) -> dict[str, Any]:
    """Every event loader a user reaches, each on one good row (a bare epoch number, which
    only epoch_unit= makes readable; no naive value, which only tz= would)."""
    import pqlkit.io as pio

    row = {"user_id": "u1", "name": "a", "timestamp": "2026-01-01T00:00:00Z"}
    csv = tmp_path / "e.csv"
    csv.write_text("user_id,name,timestamp\nu1,a,2026-01-01T00:00:00Z\n", encoding="utf-8")
    jsonl = tmp_path / "e.jsonl"
    jsonl.write_text(json.dumps(row) + "\n", encoding="utf-8")
    loaders: dict[str, Any] = {
        "from_records": lambda **k: EventLog.from_records([row], **k),
        "from_columns": lambda **k: EventLog.from_columns(
            user_id=["u1"], name=["a"], timestamp=[row["timestamp"]], **k),
        "read_csv": lambda **k: pio.read_csv(csv, **k),
        "read_jsonl": lambda **k: pio.read_jsonl(jsonl, **k),
    }
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return loaders
    parquet = tmp_path / "e.parquet"
    pq.write_table(pa.Table.from_pylist([row]), parquet)
    loaders["from_arrow"] = lambda **k: EventLog.from_arrow(pa.Table.from_pylist([row]), **k)
    loaders["from_parquet"] = lambda **k: EventLog.from_parquet(parquet, **k)
    loaders["io.read_parquet"] = lambda **k: pio.read_parquet(parquet, **k)
    return loaders


@pytest.mark.parametrize(("option", "error", "message"), [
    ({"tz": "Mars/Base"}, ValidationError, "unknown time zone 'Mars/Base'"),
    ({"tz": ""}, ValidationError, "tz is an empty string"),
    ({"tz": 5}, PqlkitTypeError, "tz must be a zone name or a tzinfo"),
    ({"epoch_unit": "sec"}, ValidationError, "epoch_unit must be one of 's', 'ms'"),
    ({"epoch_unit": 1}, ValidationError, "epoch_unit must be one of 's', 'ms'"),
])
def test_a_bad_loader_option_raises_in_every_loader_even_when_no_row_needs_it(
        tmp_path: Path, option: dict[str, Any], error: type[Exception], message: str) -> None:
    # An option applies to every row: before, from_records rejected each row needing it
    # (or kept all rows when none did), and no loader looked at tz= until a naive value.
    for name, load in _option_loaders(tmp_path).items():
        with pytest.raises(error, match=message):
            load(**option)
            pytest.fail(f"{name} accepted {option}")


def test_a_datetime_property_is_one_value_whatever_zone_a_row_spells_it_in() -> None:
    # Two rows sharing an event_id conflict; the earliest by properties is kept. Datetime
    # values ordered by their local wall-clock text, so 09:00Z written as 11:00+02:00
    # sorted after 10:00Z: the zone spelling (or which row came first) chose the row kept,
    # and so the score. A list holding equal instants in two zones was a conflict.
    from datetime import timedelta, timezone

    plus2 = timezone(timedelta(hours=2))
    early, late = datetime(2026, 5, 20, 9, tzinfo=UTC), datetime(2026, 5, 20, 10, tzinfo=UTC)

    def row(end: Any, user: str = "u1", eid: str | None = "a") -> dict[str, Any]:
        return {"name": "trial", "timestamp": "2026-05-02T10:00:00Z", "user_id": user,
                "event_id": eid, "properties": {"end": end}}

    kept = set()
    for rows in ([row(early), row(late)], [row(late), row(early.astimezone(plus2))],
                 [row(early.astimezone(plus2), "u2", None), row(late), row(early)]):
        log = EventLog.from_records(rows)
        u1 = [e for e in log.events() if e.user_id == "u1"]
        kept.add(u1[0].properties["end"])
        for e in log.events():
            assert e.properties["end"].utcoffset() == timedelta(0)
            assert type(e.properties["end"]) is datetime
    assert kept == {early}
    same = EventLog.from_records([row([early]), row([early.astimezone(plus2)])])
    assert same.report.counts == {"input": 2, "kept": 1, "duplicates": 1, "rejected": 0}


def test_epoch_unit_reads_created_at_numbers_too(tmp_path: Path) -> None:
    # It reached the events only: the users row was rejected (or the load raised) with
    # "created_at ... is a bare number ... pass epoch_unit=" although it was passed.
    c = 1_777_550_400_000_000
    ev = {"name": ["x"], "user_id": ["u1"], "timestamp": [c + 10]}
    us = {"user_id": ["u1"], "created_at": [c]}
    loads: dict[str, Any] = {
        "records": lambda: EventLog.from_records(
            [{"name": "x", "timestamp": c + 10, "user_id": "u1"}], epoch_unit="us",
            users=[{"user_id": "u1", "created_at": c}]),
        "columns": lambda: EventLog.from_columns(**ev, epoch_unit="us", users=us),
    }
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        pass
    else:
        pq.write_table(pa.table(ev), tmp_path / "e.parquet")
        pq.write_table(pa.table(us), tmp_path / "u.parquet")
        loads["arrow"] = lambda: EventLog.from_arrow(pa.table(ev), epoch_unit="us",
                                                     users=pa.table(us))
        loads["parquet"] = lambda: EventLog.from_parquet(
            tmp_path / "e.parquet", epoch_unit="us", users=tmp_path / "u.parquet")
    for name, load in loads.items():
        log = load()
        assert log.report.counts["rejected"] == 0, name
        assert [u.created_at for u in log.users()] == [datetime(2026, 4, 30, 12, tzinfo=UTC)]


def test_properties_nested_too_deep_reject_their_row_not_the_load() -> None:
    # 500 levels (json.loads reads them) raised RecursionError out of the whole load.
    def nested(depth: int) -> Any:
        return json.loads('{"a":' * depth + "1" + "}" * depth)

    from pqlkit.records import MAX_DEPTH

    rows = [{"name": "x", "timestamp": "2026-05-01T00:00:00Z", "user_id": "u1",
             "properties": {"p": nested(d)}} for d in (MAX_DEPTH, MAX_DEPTH + 1, 500)]
    log = EventLog.from_records(rows)
    assert [r.source for r in log.report.rejections] == [1, 2]
    assert log.report.by_reason() == {"invalid_properties": 2}
    deep_list = json.loads("[" * 500 + "1" + "]" * 500)
    by_columns = EventLog.from_columns(
        user_id=["u1", "u2", "u3"], name=["a"] * 3, timestamp=["2026-05-01T00:00:00Z"] * 3,
        properties={"p": [nested(500), tuple(deep_list), 1]})
    assert by_columns.report.by_reason() == {"invalid_properties": 2}
    # Deeper than repr() can go: even printing the rejected row's sample recursed.
    deepest: Any = 1
    for _ in range(5000):
        deepest = [deepest]
    log = EventLog.from_records([{"name": "x", "timestamp": "2026-05-01T00:00:00Z",
                                  "user_id": "u", "properties": {"d": deepest}}],
                                users=[{"user_id": "u", "traits": {"d": deepest}}])
    assert log.report.by_reason() == {"invalid_properties": 1, "invalid_traits": 1}


@pytest.mark.parametrize("traits", [{}, {"tags": ["a"]}])
def test_concat_names_a_users_row_by_its_input_row_as_one_load_does(
        traits: dict[str, Any]) -> None:
    # The source was the row's position in its log's id-sorted users table: the
    # conflicting u1 row (input row 2 of the first log) was reported as "0:0".
    ev = [{"name": "x", "timestamp": "2026-05-01T10:00:00Z", "user_id": "u1"}]
    first = [{"user_id": ""}, {"user_id": "u9", "traits": traits},
             {"user_id": "u1", "account_id": "a2", "traits": traits}]
    second = [{"user_id": "u1", "account_id": "a1", "traits": traits}]
    both = EventLog.concat([EventLog.from_records(ev, users=first),
                            EventLog.from_records([], users=second)])
    one = EventLog.from_records(ev, users=first + second)
    assert [(r.source, r.reason) for r in both.report.rejections] == [
        ("0:0", "missing_identity"), ("0:2", "conflicting_duplicate")]
    assert [(r.source, r.reason) for r in one.report.rejections] == [
        (0, "missing_identity"), (2, "conflicting_duplicate")]
    assert "users[1:0]" in both.report.rejections[1].message


def test_a_numpy_datetime64_property_is_a_utc_moment_in_records_as_in_columns() -> None:
    # Records refused it ("unsupported type datetime64") while a datetime64 column read
    # it as UTC moments; one normaliser (records.plain) now serves literals and values.
    moment = np.datetime64("2026-01-01T00:00:00")
    by_records = EventLog.from_records([{"name": "a", "timestamp": "2026-05-01T00:00:00Z",
                                         "user_id": "u", "properties": {"t": moment}}])
    by_columns = EventLog.from_columns(user_id=["u"], name=["a"],
                                       timestamp=["2026-05-01T00:00:00Z"],
                                       properties={"t": np.array([moment])})
    expected = {"t": datetime(2026, 1, 1, tzinfo=UTC)}
    assert dict(next(by_records.events()).properties) == expected
    assert dict(next(by_columns.events()).properties) == expected


def _one_event_log() -> EventLog:
    return EventLog.from_records([ev("signup", T0, "u1", properties={"plan": "pro"})])


@pytest.mark.parametrize("call", [
    lambda log: log.event(5), lambda log: log.properties(5), lambda log: log.source(5),
    lambda log: log.prop("plan", 5), lambda log: log.event(-2)])
def test_event_accessors_refuse_an_index_out_of_range_naming_it_and_the_range(call):
    # Were numpy's "index 5 is out of bounds for axis 0 with size 1"; source(5) returned 5.
    with pytest.raises(ValidationError, match=r"EventLog\.\w+\(\): event index -?\d is out of "
                                              r"range: this log has 1 event, indices 0 to 0 "
                                              r"\(or -1 to -1 from the end\)"):
        call(_one_event_log())


def test_event_accessors_count_a_negative_index_from_the_end_and_take_numpy_integers():
    log = _one_event_log()
    assert log.event(-1) == log.event(np.int64(0))
    assert log.source(-1) == log.source(0) == 0
    assert log.properties(np.int32(0)) == {"plan": "pro"}


@pytest.mark.parametrize("index", ["0", 0.0, None, True])
def test_event_accessors_refuse_an_index_that_is_not_an_integer(index):
    with pytest.raises(PqlkitTypeError, match=r"EventLog\.event\(\) takes an event index "
                                              r"\(an integer\), got "):
        _one_event_log().event(index)


def test_event_accessors_on_an_empty_log_say_it_has_no_events():
    with pytest.raises(ValidationError, match="this log has no events"):
        EventLog.from_records([]).event(0)


def test_user_and_account_events_refuse_a_row_out_of_range():
    log = _one_event_log()
    with pytest.raises(ValidationError, match=r"EventLog\.user_events\(\): user index 1 is "
                                              r"out of range: the user table of this log has "
                                              r"1 user, indices 0 to 0"):
        log.user_events(1)
    with pytest.raises(ValidationError, match="the account table of this log has no accounts"):
        log.account_events(0)


def test_user_and_account_index_of_an_unknown_id_name_it():
    # Was a bare KeyError: 'nope'.
    log = _one_event_log()
    with pytest.raises(pk.errors.UnknownEntityError,
                       match=r"^no user 'nope' in this log of 1 user; log\.user_ids lists them$"):
        log.user_index("nope")
    with pytest.raises(KeyError, match=r"no user 1 in this log of 1 user \(ids are strings "):
        log.user_index(1)
    with pytest.raises(pk.errors.UnknownEntityError, match="no account 'acme' in this log of "
                                                           "0 accounts"):
        log.account_index("acme")
    with pytest.raises(PqlkitTypeError, match=r"EventLog\.user_index\(\) takes one user id \(a "
                                              r"string or an integer\), got \['u1'\] \(list\)"):
        log.user_index(["u1"])  # type: ignore[arg-type]


@pytest.mark.parametrize("load", [
    lambda rows, strict: EventLog.from_records(rows, strict=strict),
    lambda rows, strict: EventLog.from_columns(
        user_id=[r["user_id"] for r in rows], name=[r["name"] for r in rows],
        timestamp=[r["timestamp"] for r in rows], strict=strict),
    lambda rows, strict: EventLog.concat([EventLog.from_records(rows)], strict=strict),
])
def test_strict_must_be_a_bool(load):
    # strict="false" is truthy: it turned strict mode on.
    rows = [{"name": "a", "timestamp": "not a time", "user_id": "u1"},
            {"name": "a", "timestamp": "2026-05-01T00:00:00Z", "user_id": "u1"}]
    with pytest.raises(PqlkitTypeError, match="strict must be True or False, got 'false'"):
        load(rows, "false")
    assert load(rows, False).report.counts["kept"] == 1


def test_a_sparse_property_column_is_coded_int32_from_the_start() -> None:
    # The readers' sink held every key's codes until the load ended: int64 doubled the
    # peak memory of a file with many sparse keys.
    from pqlkit import _columns

    coded = _columns.sparse_coded([1, 3], ["a", "b"], 5)
    assert coded.codes.dtype == np.int32
    assert coded.codes.tolist() == [-1, 0, -1, 1, -1] and coded.values == ["a", "b"]
