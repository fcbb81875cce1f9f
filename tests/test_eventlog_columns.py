"""Tests of the columnar loaders: from_columns, from_arrow and from_parquet.

A columnar load of some rows must give the very log from_records gives for them, bit for
bit, with the same report; a row the record path rejects is rejected with the same reason
and message, its row position as its source.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pqlkit as pk
from pqlkit import _columns
from pqlkit._columns import TimeEncoder, Typed, parse_iso
from pqlkit._optional import MissingDependencyError
from pqlkit._time import from_epoch, to_micros
from pqlkit.errors import PqlkitTypeError, RejectedRowError, ValidationError
from pqlkit.eventlog import NO_TIME, EventLog, PropColumn, canonical
from pqlkit.records import FieldError, check_timestamp
from pqlkit.report import REASONS
from pqlkit.testing import assert_results_equal, event_logs, models

HAS_ARROW = importlib.util.find_spec("pyarrow") is not None
needs_arrow = pytest.mark.skipif(not HAS_ARROW, reason="pyarrow (the arrow extra) is not installed")

T0 = "2026-05-01T09:00:00Z"
T1 = "2026-05-02T09:00:00Z"
FIELDS = ("name", "timestamp", "user_id", "account_id", "event_id")


def typed(value: Any) -> Any:
    """A value with its type, so that True, 1, 1.0 and -0.0 all compare different."""
    if value is None:
        return None
    return (type(value).__name__, canonical({"v": value}))


def snapshot(log: EventLog, *, sources: bool = True) -> dict[str, Any]:
    """Everything a log holds, as plain comparable values (dtypes included)."""
    arrays = ("ts", "name_code", "user", "account", "owner_account", "user_account",
              "user_created", "user_in_table", "account_created", "account_in_table")
    out: dict[str, Any] = {a: (getattr(log, a).dtype.str, getattr(log, a).tolist())
                           for a in arrays}
    out["names"] = log.names
    out["user_ids"] = [typed(u) for u in log.user_ids]
    out["account_ids"] = [typed(a) for a in log.account_ids]
    out["event_id"] = (log.event_id.codes.tolist(), log.event_id.values.dtype.str,
                       [typed(v) for v in log.event_id.python_values()])
    out["props"] = {k: (c.codes.tolist(), c.values.dtype.str,
                        [typed(v) for v in c.python_values()]) for k, c in log.props.items()}
    out["user_traits"] = [{k: typed(v) for k, v in t.items()} for t in log.user_traits]
    out["account_traits"] = [{k: typed(v) for k, v in t.items()} for t in log.account_traits]
    for level, table in (("user", log.user_traits), ("account", log.account_traits)):
        column = log.user_trait_column if level == "user" else log.account_trait_column
        out[f"{level}_trait_columns"] = {
            k: None if (c := column(k)) is None else
            (c.codes.tolist(), c.values.dtype.str, [typed(v) for v in c.python_values()])
            for k in sorted({k for t in table for k in t} | {"absent"})}
    if sources:
        out["sources"] = [log.source(i) for i in range(len(log))]
    return out


def report_of(log: EventLog) -> tuple[Any, ...]:
    return (log.report.tables,
            [(r.table, r.source, r.reason, r.message) for r in log.report.rejections])


def assert_same_log(a: EventLog, b: EventLog, *, sources: bool = True) -> None:
    assert snapshot(a, sources=sources) == snapshot(b, sources=sources)
    assert report_of(a) == report_of(b)


def ev(name: Any = "signup", ts: Any = T0, user: Any = "u1", **extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"name": name, "timestamp": ts, "user_id": user}
    row.update(extra)
    return row


# -- turning rows into columns --------------------------------------------------------------


def as_lists(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The rows as from_columns keywords holding plain lists."""
    keys = sorted({k for r in rows for k in r.get("properties") or {}})
    out: dict[str, Any] = {f: [r.get(f) for r in rows] for f in FIELDS}
    out["properties"] = {k: [(r.get("properties") or {}).get(k) for r in rows] for k in keys}
    return out


def _numpy_column(values: list[Any]) -> Any:
    present = [v for v in values if v is not None]
    mask = np.array([v is None for v in values], dtype=np.bool_)
    types = {type(v) for v in present}
    if types == {str}:
        data = np.array(["" if v is None else v for v in values], dtype=str)
    elif types == {int} and all(abs(v) < 2**63 for v in present):
        data = np.array([0 if v is None else v for v in values], dtype=np.int64)
    elif types == {float}:
        data = np.array([0.0 if v is None else v for v in values], dtype=np.float64)
    elif types == {bool}:
        data = np.array([False if v is None else v for v in values], dtype=np.bool_)
    else:
        return _columns.object_array(values)
    return np.ma.masked_array(data, mask=mask) if mask.any() else data


def as_numpy(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The rows as typed numpy columns (masked where values are missing)."""
    cols = as_lists(rows)
    micros = [to_micros(check_timestamp(t)) for t in cols["timestamp"]]
    cols["timestamp"] = np.array(micros, dtype=np.int64).astype("datetime64[us]")
    cols["name"] = np.array(cols["name"], dtype=str)
    for f in ("user_id", "account_id", "event_id"):
        cols[f] = _numpy_column(cols[f])
    cols["properties"] = {k: _numpy_column(v) for k, v in cols["properties"].items()}
    return cols


def arrow_rows(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], Any, list[str]]:
    """Rows an Arrow table can hold (ids as strings, properties of one type), that table,
    and its property columns."""
    import pyarrow as pa

    def ident(v: Any) -> Any:
        return None if v is None else str(v)

    rows = [{**r, **{f: ident(r.get(f)) for f in ("user_id", "account_id", "event_id")}}
            for r in rows]
    keys = sorted({k for r in rows for k in r.get("properties") or {}})
    columns: dict[str, Any] = {}
    for key in keys:
        values = [(r.get("properties") or {}).get(key) for r in rows]
        try:
            columns[key] = pa.array(values)
            # What the table holds (Arrow makes a column of ints and floats all floats).
            held = columns[key].to_pylist()
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
            held = [None] * len(rows)
        rows = [{**r, "properties": {**{k: v for k, v in (r.get("properties") or {}).items()
                                        if k != key},
                                     **({} if v is None else {key: v})}}
                for r, v in zip(rows, held, strict=True)]
    micros = [to_micros(check_timestamp(r["timestamp"])) for r in rows]
    table = pa.table({
        "user_id": pa.array([r["user_id"] for r in rows], pa.string()),
        "account_id": pa.array([r["account_id"] for r in rows], pa.string()).dictionary_encode(),
        "event_id": pa.array([r["event_id"] for r in rows], pa.string()),
        "name": pa.array([r["name"] for r in rows], pa.string()).dictionary_encode(),
        "timestamp": pa.array(micros, pa.timestamp("us", tz="UTC")),
        **columns,
    })
    return rows, table, list(columns)


def users_as_columns(users: list[dict[str, Any]], *, nested: bool) -> dict[str, Any]:
    keys = sorted({k for u in users for k in u.get("traits") or {}})
    traits = {k: [(u.get("traits") or {}).get(k) for u in users] for k in keys}
    out: dict[str, Any] = {f: [u.get(f) for u in users] for f in ("user_id", "account_id",
                                                                   "created_at")}
    if nested:
        out["traits"] = traits
    else:
        out.update(traits)
    return out


def accounts_as_columns(accounts: list[dict[str, Any]]) -> dict[str, Any]:
    keys = sorted({k for a in accounts for k in a.get("traits") or {}})
    out: dict[str, Any] = {f: [a.get(f) for a in accounts] for f in ("account_id", "created_at")}
    out["traits"] = {k: [(a.get("traits") or {}).get(k) for a in accounts] for k in keys}
    return out


# -- the same log whatever the form ------------------------------------------------------------


@pytest.mark.parametrize("kind", ["lists", "numpy", pytest.param("arrow", marks=needs_arrow)])
@given(rows=event_logs(zones=True, max_events=30), data=st.data())
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_columns_give_the_log_records_give(kind: str, rows: Any, data: st.DataObject) -> None:
    events, users, accounts = rows
    if kind == "arrow":
        events, table, props = arrow_rows(events)
        log = EventLog.from_arrow(table, properties=props, users=users, accounts=accounts)
    else:
        cols = as_lists(events) if kind == "lists" else as_numpy(events)
        user_arg: Any = users
        account_arg: Any = accounts
        if data.draw(st.booleans(), label="entities as columns"):
            user_arg = users_as_columns(users, nested=data.draw(st.booleans(), label="nested"))
            account_arg = accounts_as_columns(accounts)
        log = EventLog.from_columns(**cols, users=user_arg, accounts=account_arg)
    assert_same_log(log, EventLog.from_records(events, users=users, accounts=accounts))


@given(rows=event_logs(min_events=1, max_events=15), model=models())
@settings(max_examples=25, suppress_health_check=[HealthCheck.too_slow])
def test_columns_and_records_score_the_same(rows: Any, model: pk.ScoringModel) -> None:
    events, users, accounts = rows
    by_records = EventLog.from_records(events, users=users, accounts=accounts)
    by_columns = EventLog.from_columns(**as_numpy(events), users=users, accounts=accounts)
    assert_results_equal(model.score(by_records), model.score(by_columns), rel=0)


@given(rows=event_logs(max_events=30), data=st.data())
def test_column_order_does_not_change_the_log(rows: Any, data: st.DataObject) -> None:
    events, users, accounts = rows
    shuffled = data.draw(st.permutations(events))
    a = EventLog.from_columns(**as_numpy(events), users=users, accounts=accounts)
    b = EventLog.from_columns(**as_numpy(shuffled), users=users, accounts=accounts)
    assert snapshot(a, sources=False) == snapshot(b, sources=False)
    assert a.report.counts == b.report.counts


@given(rows=event_logs(max_events=30), data=st.data())
def test_concat_of_column_chunks_equals_one_load(rows: Any, data: st.DataObject) -> None:
    events, users, accounts = rows
    cuts = sorted(data.draw(st.lists(st.integers(0, len(events)), max_size=3)))
    bounds = list(zip([0, *cuts], [*cuts, len(events)], strict=True))
    chunks = [EventLog.from_columns(**as_lists(events[lo:hi]),
                                    users=users if i == 0 else None,
                                    accounts=accounts if i == 0 else None)
              for i, (lo, hi) in enumerate(bounds)]
    one = EventLog.from_records(events, users=users, accounts=accounts)
    merged = EventLog.concat(chunks)
    assert snapshot(merged, sources=False) == snapshot(one, sources=False)
    c = merged.report.counts
    assert c["input"] == c["kept"] + c["duplicates"] + c["rejected"]
    assert c["kept"] == one.report.counts["kept"]


def test_from_columns_accepts_numpy_lists_and_masked_arrays() -> None:
    log = EventLog.from_columns(
        user_id=np.ma.masked_array(np.array(["u1", "", "u2"]), mask=[False, True, False]),
        account_id=["a1", "a1", None],
        name=("signup", "signup", "project_created"),
        timestamp=np.array(["2026-05-01T09", "2026-05-01T10", "2026-05-02"],
                           dtype="datetime64[s]"),
        event_id=np.array([7, 8, 9]),
        properties={"n": np.ma.masked_array([1.5, 0.0, 2.0], mask=[False, True, False])},
    )
    assert [e.user_id for e in log.events()] == ["u1", None, "u2"]
    assert [e.account_id for e in log.events()] == ["a1", "a1", None]
    assert log.event_id.tolist() == [7, 8, 9]
    assert log.props["n"].tolist() == [1.5, None, 2.0]
    assert log.report.counts == {"input": 3, "kept": 3, "duplicates": 0, "rejected": 0}


# -- duplicates ----------------------------------------------------------------------------


def test_duplicates_and_conflicts_are_resolved_as_for_records() -> None:
    rows = [ev("a", T1, event_id="e1"), ev("a", T1, event_id="e1"),
            ev("b", T1, event_id="e1"), ev("a", T0, event_id="e1", properties={"x": 1}),
            ev("c", T0, event_id=2), ev("c", T0, event_id=2, properties={"x": 1}),
            ev("d", T0), ev("d", T0)]
    for order in (rows, rows[::-1]):
        log = EventLog.from_columns(**as_lists(order))
        assert_same_log(log, EventLog.from_records(order))
        assert log.report.counts == {"input": 8, "kept": 4, "duplicates": 0, "rejected": 4}
        assert {r.reason for r in log.report.rejections} == {"conflicting_duplicate"}


def test_true_one_and_one_point_zero_are_different_payloads() -> None:
    rows = [ev(event_id=1, properties={"x": v}) for v in (1, True, 1.0)]
    log = EventLog.from_columns(**as_lists(rows))
    assert log.report.counts == {"input": 3, "kept": 1, "duplicates": 0, "rejected": 2}
    assert_same_log(log, EventLog.from_records(rows))


def test_events_equal_but_for_their_id_are_ordered_by_id() -> None:
    rows = [ev(event_id=i) for i in ("b", 3, "a", None, 1)]
    log = EventLog.from_columns(**as_lists(rows))
    assert log.event_id.tolist() == [None, 1, 3, "a", "b"]
    again = EventLog.from_columns(**as_lists(rows[::-1]))
    assert snapshot(log, sources=False) == snapshot(again, sources=False)


# -- rejections ---------------------------------------------------------------------------


BAD_VALUES: list[tuple[str, Any, str]] = [
    ("user_id", None, "missing_identity"),
    ("user_id", "", "missing_identity"),
    ("user_id", " \t", "missing_identity"),
    ("user_id", True, "invalid_id"),
    ("user_id", 1.5, "invalid_id"),
    ("account_id", ["a"], "invalid_id"),
    ("event_id", 2.5, "invalid_id"),
    ("name", None, "missing_name"),
    ("name", "", "missing_name"),
    ("name", "a\x00b", "invalid_name"),
    ("name", "x" * 201, "invalid_name"),
    ("name", 7, "invalid_name"),
    ("timestamp", None, "missing_timestamp"),
    ("timestamp", "", "missing_timestamp"),
    ("timestamp", np.datetime64("NaT"), "missing_timestamp"),
    ("timestamp", "last tuesday-ish", "invalid_timestamp"),
    ("timestamp", 1_780_000_000, "invalid_timestamp"),
    ("timestamp", [2026], "invalid_timestamp"),
    ("timestamp", "2026-05-01 09:00", "naive_timestamp"),
    ("timestamp", datetime(2026, 5, 1, 9), "naive_timestamp"),
    ("timestamp", "0001-01-01T00:00:00+01:00", "timestamp_out_of_range"),
    ("timestamp", np.datetime64("10000-01-01", "D"), "timestamp_out_of_range"),
    ("properties", {"x": float("nan")}, "non_finite_property"),
    ("properties", {"x": {"y": float("inf")}}, "non_finite_property"),
    ("properties", {"x": {1, 2}}, "invalid_properties"),
    ("properties", {"x": b"raw"}, "invalid_properties"),
]


@pytest.mark.parametrize(("field", "value", "reason"), BAD_VALUES)
def test_a_bad_value_in_a_column_is_rejected_as_in_a_record(field: str, value: Any,
                                                            reason: str) -> None:
    bad = ev("bad")
    if field == "properties":
        bad["properties"] = value
    else:
        bad[field] = value
    rows = [ev("ok", T0), bad, ev("ok2", T1)]
    log = EventLog.from_columns(**as_lists(rows))
    (rejection,) = log.report.rejections
    assert (rejection.table, rejection.source, rejection.reason) == ("events", 1, reason)
    assert rejection.reason in REASONS
    assert rejection.sample
    assert_same_log(log, EventLog.from_records(rows))


def test_typed_columns_reject_what_records_reject() -> None:
    log = EventLog.from_columns(
        user_id=np.ma.masked_array(np.array(["u1", "", "u3", "u4", "u5"]),
                                   mask=[False, True, False, False, False]),
        name=np.array(["a", "b", "", "d", "e"]),
        timestamp=np.array(["2026-05-01", "2026-05-02", "2026-05-03", "NaT", "2026-05-05"],
                           dtype="datetime64[D]"),
        properties={"x": np.array([1.0, 2.0, 3.0, 4.0, math.inf])},
    )
    assert [(r.source, r.reason) for r in log.report.rejections] == [
        (1, "missing_identity"), (2, "missing_name"), (3, "missing_timestamp"),
        (4, "non_finite_property"),
    ]
    assert log.report.counts == {"input": 5, "kept": 1, "duplicates": 0, "rejected": 4}


def test_rejected_rows_leave_no_trace_in_the_log() -> None:
    rows = [ev("ok", user="u1", properties={"p": "kept"}),
            ev("", user="ghost", account_id="gone", properties={"p": "only_rejected", "q": 1}),
            ev("ok", ts="2026-05-01 09:00", user="ghost2", event_id="e9")]
    log = EventLog.from_columns(**as_lists(rows))
    assert log.user_ids == ("u1",) and log.account_ids == () and log.names == ("ok",)
    assert list(log.props) == ["p"] and log.props["p"].values.tolist() == ["kept"]
    assert log.event_id.values.tolist() == []
    assert_same_log(log, EventLog.from_records(rows))


def test_strict_raises_on_the_first_bad_row() -> None:
    rows = [ev(), ev(name=""), ev(user=None)]
    with pytest.raises(RejectedRowError) as info:
        EventLog.from_columns(**as_lists(rows), strict=True)
    assert (info.value.reason, info.value.source) == ("missing_name", 1)
    assert "events[1]" in str(info.value)
    with pytest.raises(RejectedRowError) as info:
        EventLog.from_columns(**as_lists([ev("a", event_id=1), ev("b", event_id=1)]),
                              strict=True)
    assert info.value.reason == "conflicting_duplicate"


def test_tz_and_epoch_unit_work_as_for_records() -> None:
    rows = [ev(ts="2026-05-01 09:00"), ev(ts=datetime(2026, 5, 1, 10)), ev(ts=T1)]
    for tz in ("UTC", "Europe/Paris", timezone(timedelta(hours=-3))):
        assert_same_log(EventLog.from_columns(**as_lists(rows), tz=tz),
                        EventLog.from_records(rows, tz=tz))
    rows = [ev(ts=1_777_626_000), ev(ts=1_777_626_000.5), ev(ts=T0)]
    assert_same_log(EventLog.from_columns(**as_lists(rows), epoch_unit="s"),
                    EventLog.from_records(rows, epoch_unit="s"))


# -- users and accounts as columns -------------------------------------------------------------


def test_users_and_accounts_as_columns_equal_records() -> None:
    users = [{"user_id": "u1", "account_id": "a1", "created_at": T0,
              "traits": {"role": "admin", "seats": 3}},
             {"user_id": "u2", "traits": {"role": "member"}},
             {"user_id": "u1", "account_id": "a2"},
             {"user_id": None}]
    accounts = [{"account_id": "a1", "traits": {"plan": "pro"}},
                {"account_id": "a3", "created_at": T1}]
    events = [ev(user="u1"), ev(user="u3", account_id="a3")]
    expected = EventLog.from_records(events, users=users, accounts=accounts)
    for nested in (True, False):
        log = EventLog.from_columns(**as_lists(events),
                                    users=users_as_columns(users, nested=nested),
                                    accounts=accounts_as_columns(accounts))
        assert_same_log(log, expected)
    assert [(r.table, r.source, r.reason) for r in expected.report.rejections] == [
        ("users", 3, "missing_identity"), ("users", 0, "conflicting_duplicate")]


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [("user_id", True, "invalid_id"), ("account_id", 1.5, "invalid_id"),
     ("created_at", "2026-05-01", "naive_timestamp"), ("created_at", "soon", "invalid_timestamp"),
     ("role", float("nan"), "non_finite_property"), ("role", {1, 2}, "invalid_traits")],
)
def test_bad_entity_columns_are_rejected_as_records_are(column: str, value: Any,
                                                        reason: str) -> None:
    users = {"user_id": ["u1", "u2"], "account_id": ["a", "a"], "created_at": [T0, T0],
             "role": ["admin", "admin"]}
    users[column] = [users[column][0], value]
    log = EventLog.from_columns(user_id=["u1"], name=["a"], timestamp=[T0], users=users)
    (rejection,) = log.report.rejections
    assert (rejection.table, rejection.source, rejection.reason) == ("users", 1, reason)
    assert log.report.tables["users"] == {"input": 2, "kept": 1, "duplicates": 0,
                                          "rejected": 1}


def test_missing_created_at_and_traits_in_columns_mean_absent() -> None:
    log = EventLog.from_columns(
        user_id=["u1"], name=["a"], timestamp=[T0],
        users={"user_id": np.array(["u1", "u2"]),
               "created_at": np.array(["2026-05-01T00:00", "NaT"], dtype="datetime64[us]"),
               "traits": {"role": ["admin", None]}})
    assert log.user_created.tolist() == [1777593600000000, NO_TIME]
    assert [dict(t) for t in log.user_traits] == [{"role": "admin"}, {}]


def test_entity_columns_need_their_id_column() -> None:
    with pytest.raises(ValidationError, match="must include 'user_id'"):
        EventLog.from_columns(user_id=["u1"], name=["a"], timestamp=[T0],
                              users={"account_id": ["a"]})


# -- column-level errors ------------------------------------------------------------------------


def test_columns_of_different_lengths_are_an_error_naming_them() -> None:
    with pytest.raises(ValidationError) as info:
        EventLog.from_columns(user_id=["u1", "u2"], name=["a"], timestamp=[T0, T0],
                              properties={"plan": ["x", "y"]})
    text = str(info.value)
    assert "user_id has 2" in text and "name has 1" in text and "properties['plan'] has 2" in text


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"name": "signup"}, PqlkitTypeError, "name must be a column"),
        ({"user_id": None, "account_id": None}, PqlkitTypeError, "user_id or an account_id"),
        ({"user_id": np.array([1.0])}, PqlkitTypeError, "becomes float"),
        ({"timestamp": np.array([1_777_626_000])}, ValidationError, "epoch_unit='s'"),
        ({"timestamp": np.array([True])}, PqlkitTypeError, "timestamp column has dtype bool"),
        ({"properties": {"p": np.array([5], dtype="timedelta64[s]")}},
         PqlkitTypeError, "property 'p' column has dtype timedelta64"),
        ({"properties": {"": ["x"]}}, PqlkitTypeError, "non-empty strings"),
        ({"properties": ["plan"]}, PqlkitTypeError, "mapping of property name to column"),
        ({"name": np.array([["a"]])}, ValidationError, "1-D column"),
    ],
)
def test_bad_columns_raise_clear_errors(kwargs: dict[str, Any], error: type[Exception],
                                        match: str) -> None:
    args: dict[str, Any] = {"user_id": ["u1"], "name": ["a"], "timestamp": [T0], **kwargs}
    with pytest.raises(error, match=match):
        EventLog.from_columns(**args)


def test_pandas_columns_load_as_their_numpy_arrays() -> None:
    pd = pytest.importorskip("pandas")
    ts = pd.to_datetime(["2026-05-01T09:00Z", None], utc=True)
    log = EventLog.from_columns(user_id=pd.Series(["u1", "u2"], dtype=object),
                                name=pd.Series(["a", "b"]), timestamp=pd.Series(ts))
    assert [e.timestamp for e in log.events()] == [datetime(2026, 5, 1, 9, tzinfo=UTC)]
    assert log.report.by_reason() == {"missing_timestamp": 1}


def test_tables_not_given_are_not_in_the_report() -> None:
    for log in (EventLog.from_columns(user_id=["u"], name=["a"], timestamp=[T0]),
                EventLog.from_records([ev()])):
        assert set(log.report.tables) == {"events"}
    log = EventLog.from_columns(user_id=["u"], name=["a"], timestamp=[T0], users=[])
    assert set(log.report.tables) == {"events", "users"}


def test_an_empty_column_load() -> None:
    log = EventLog.from_columns(user_id=[], name=[], timestamp=[])
    assert len(log) == 0
    assert log.report.counts == {"input": 0, "kept": 0, "duplicates": 0, "rejected": 0}


# -- timestamps ---------------------------------------------------------------------------


_SEPARATORS = st.sampled_from(["T", " ", "t", "_"])
_ZONES = st.sampled_from(["Z", "z", "+02:00", "-05:30", "+0200", "+02", "-00:00", "+23:59",
                          "+24:00", "", " UTC", "+2:00", "+02:60"])


@st.composite
def iso_texts(draw: st.DrawFn) -> str:
    year = draw(st.integers(0, 9999))
    month, day = draw(st.integers(0, 13)), draw(st.integers(0, 32))
    hour, minute, second = draw(st.integers(0, 25)), draw(st.integers(0, 60)), \
        draw(st.integers(0, 61))
    frac = draw(st.sampled_from(["", ".", ".5", ".123456", ".1234567", ",5", ".000001"]))
    text = (f"{year:04d}-{month:02d}-{day:02d}{draw(_SEPARATORS)}"
            f"{hour:02d}:{minute:02d}:{second:02d}{frac}{draw(_ZONES)}")
    if draw(st.booleans()):
        text = draw(st.sampled_from(["", " ", "2026-05-01", "May 1 2026 10:00 UTC", text[:-1],
                                     " " + text, text + "x"]))
    return text


def _reference_micros(text: str, tz: Any = None) -> int | None:
    try:
        return to_micros(check_timestamp(text, tz=tz))
    except FieldError:
        return None


@given(texts=st.lists(iso_texts(), min_size=1, max_size=20), naive_utc=st.booleans())
def test_vectorised_iso_parsing_agrees_with_dateutil(texts: list[str], naive_utc: bool) -> None:
    us, ok = parse_iso(np.array(texts, dtype=str), naive_utc=naive_utc)
    for text, micros, read in zip(texts, us.tolist(), ok.tolist(), strict=True):
        if read:
            assert micros == _reference_micros(text, "UTC" if naive_utc else None), text
    enc = TimeEncoder("timestamp", tz="UTC" if naive_utc else None, epoch_unit=None)
    got, bad = enc.feed(Typed(np.array(texts, dtype=str)))
    for text, micros, rejected in zip(texts, got.tolist(), bad.tolist(), strict=True):
        expected = _reference_micros(text, "UTC" if naive_utc else None)
        assert rejected == (expected is None), text
        if expected is not None:
            assert micros == expected, text


def test_common_iso_shapes_are_read_without_dateutil() -> None:
    texts = ["2026-05-01T09:00:00Z", "2026-05-01 09:00:00.5+02:00", "2024-02-29T23:59:59-0130",
             "2026-05-01T09:00:00.123456+05"]
    us, ok = parse_iso(np.array(texts), naive_utc=False)
    assert ok.all()
    assert us.tolist() == [_reference_micros(t) for t in texts]


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns", "D", "m"])
def test_datetime64_of_any_unit_is_read_as_utc(unit: str) -> None:
    values = np.array([-86_400_123_456_789, 0, 1_777_626_000_123_456_789, 999],
                      dtype="datetime64[ns]").astype(f"datetime64[{unit}]")
    log = EventLog.from_columns(user_id=["u"] * 4, name=list("abcd"), timestamp=values)
    assert sorted(log.ts.tolist()) == sorted(
        to_micros(pk.Event(name="x", timestamp=v, user_id="u").timestamp) for v in values)


@given(values=st.lists(st.one_of(st.integers(-2**62, 2**62), st.integers(-10**12, 10**12),
                                 st.floats(-1e13, 1e13), st.sampled_from([math.nan, math.inf])),
                       min_size=1, max_size=10),
       unit=st.sampled_from(["s", "ms", "us", "ns"]))
def test_epoch_columns_read_as_from_epoch_does(values: list[float], unit: str) -> None:
    ints = [v for v in values if isinstance(v, int)]
    floats = [float(v) for v in values]
    for column in ([np.array(ints, dtype=np.int64)] if ints else []) + [np.array(floats)]:
        enc = TimeEncoder("timestamp", tz=None, epoch_unit=unit)
        got, bad = enc.feed(Typed(column))
        for value, micros, rejected in zip(column.tolist(), got.tolist(), bad.tolist(),
                                           strict=True):
            try:
                expected: int | None = to_micros(from_epoch(value, unit))
            except ValidationError:
                expected = None
            assert rejected == (expected is None), value
            if expected is not None:
                assert micros == expected, value


@given(values=st.lists(st.integers(-2**63 + 1, 2**63 - 1) | st.integers(-10**17, 10**17),
                       min_size=0, max_size=12),
       missing=st.none() | st.lists(st.booleans(), min_size=12, max_size=12),
       unit=st.sampled_from(["us", "ns", "s"]))
def test_feed_into_writes_what_feed_returns(values: list[int], missing: list[bool] | None,
                                            unit: str) -> None:
    # The loaders' worker threads use feed_into (no temporary arrays on the usual column).
    column = np.array(values, dtype=np.int64).view(f"datetime64[{unit}]")
    mask = None if missing is None else np.array(missing[:len(values)], dtype=np.bool_)
    enc = TimeEncoder("timestamp", tz=None, epoch_unit=None)
    expected, bad = enc.feed(Typed(column, mask))
    out = np.full(len(values), 7, dtype=np.int64)
    got = enc.feed_into(out, Typed(column, mask))
    if bad.any():
        assert got is not None and got.tolist() == bad.tolist()
        assert out[~bad].tolist() == expected[~bad].tolist()
    else:
        assert got is None
        assert out.tolist() == expected.tolist()


# -- PropColumn ---------------------------------------------------------------------------


def test_prop_columns_are_typed_when_homogeneous() -> None:
    rows = [ev(properties={"s": "x", "i": 2, "f": 0.5, "b": True, "m": 1, "l": [1]}),
            ev(properties={"s": "y", "i": 1, "f": -0.0, "b": False, "m": "1", "l": [2]}),
            ev(properties={"f": 0.0, "m": 1.0})]
    log = EventLog.from_records(rows)
    kinds = {k: c.values.dtype.kind for k, c in log.props.items()}
    assert kinds == {"s": "U", "i": "i", "f": "f", "b": "b", "m": "O", "l": "O"}
    assert log.props["i"].values.tolist() == [1, 2]
    assert [math.copysign(1, v) for v in log.props["f"].values.tolist()] == [-1, 1, 1]
    assert [typed(v) for v in log.props["m"].python_values()] == [
        typed(1), typed(1.0), typed("1")]
    assert log.props["l"].python_values() == [(1,), (2,)]


def test_prop_column_reads_values_back() -> None:
    col = PropColumn(np.array([1, -1, 0], dtype=np.int32), np.array(["a", "b"]))
    assert (len(col), col[0], col[1], col[2]) == (3, "b", None, "a")
    assert type(col[0]) is str
    assert col.tolist() == ["b", None, "a"]
    assert "3 events, 2 distinct values" in repr(col)


def test_string_event_ids_are_stored_compactly_and_read_back() -> None:
    log = EventLog.from_columns(user_id=["u"] * 3, name=["a"] * 3, timestamp=[T0] * 3,
                                event_id=np.array(["e_1", "é_2", " "]))
    assert log.event_id.values.dtype.kind == "S"
    assert sorted(log.event_id.tolist(), key=str) == [None, "e_1", "é_2"]
    assert {e.event_id for e in log.events()} == {None, "e_1", "é_2"}


def test_the_log_columns_are_read_only() -> None:
    log = EventLog.from_records([ev(account_id="a1", properties={"n": 1})])
    for name in ("ts", "name_code", "user", "account", "owner_account", "user_account",
                 "user_created", "account_created"):
        with pytest.raises(ValueError, match="read-only"):
            getattr(log, name)[0] = 0
    with pytest.raises(ValueError, match="read-only"):
        log.props["n"].codes[0] = 0


def test_sources_follow_rows_through_sorting_and_rejection() -> None:
    rows = [ev("c", T1), ev("", T0), ev("b", T0), ev("a", T0)]
    log = EventLog.from_columns(**as_lists(rows))
    assert [(e.name, log.source(i)) for i, e in enumerate(log.events())] == [
        ("a", 3), ("b", 2), ("c", 0)]


# -- Arrow and Parquet ----------------------------------------------------------------------


@pytest.fixture
def pa() -> Any:
    return pytest.importorskip("pyarrow")


@pytest.fixture
def pq() -> Any:
    return pytest.importorskip("pyarrow.parquet")


def _table(pa: Any, rows: list[dict[str, Any]]) -> Any:
    return arrow_rows(rows)[1]


@given(rows=event_logs(zones=True, max_events=40), row_group=st.integers(1, 9),
       batch=st.integers(1, 7))
@settings(max_examples=20, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                  HealthCheck.too_slow])
def test_parquet_round_trip_gives_the_records_log(pa: Any, pq: Any, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch, rows: Any,
                                                  row_group: int, batch: int) -> None:
    from pqlkit import _arrow

    events, users, accounts = rows
    events, table, props = arrow_rows(events)
    path = tmp_path / "events.parquet"
    pq.write_table(table, path, row_group_size=row_group)
    monkeypatch.setattr(_arrow, "PARQUET_BATCH", batch)
    log = EventLog.from_parquet(path, properties=props, users=users, accounts=accounts)
    assert_same_log(log, EventLog.from_records(events, users=users, accounts=accounts))


def test_from_arrow_maps_columns_and_reads_ints_and_nulls(pa: Any) -> None:
    table = pa.table({
        "uid": pa.array([1, None, 3], pa.int64()),
        "acct": pa.array([None, 20, 30], pa.int32()),
        "event": pa.array(["a", "b", None]),
        "at": pa.array([0, 1_000_000, 2_000_000], pa.timestamp("us")),
        "n": pa.array([1, None, 3], pa.int64()),
        "ok": pa.array([True, None, False]),
        "tags": pa.array([["x"], None, ["y", "z"]]),
        "ignored": pa.array([{"a": 1}, None, None]),
    })
    log = EventLog.from_arrow(table, user_id="uid", account_id="acct", name="event",
                              timestamp="at", properties={"n": "n", "ok": "ok", "tags": "tags"},
                              tz="UTC")
    assert log.report.by_reason() == {"missing_name": 1}
    assert [(e.user_id, e.account_id, e.properties) for e in log.events()] == [
        (1, None, {"n": 1, "ok": True, "tags": ("x",)}), (None, 20, {})]
    assert log.props["n"].values.dtype == np.int64


def test_from_arrow_reads_string_timestamps_and_epochs(pa: Any) -> None:
    texts = pa.table({"user_id": ["u", "u", "u"], "name": ["a", "b", "c"],
                      "timestamp": ["2026-05-01T09:00:00Z", "2026-05-01 11:00:00+02:00", None]})
    log = EventLog.from_arrow(texts)
    assert log.ts.tolist() == [1777626000000000] * 2
    assert log.report.by_reason() == {"missing_timestamp": 1}
    epochs = pa.table({"user_id": ["u"], "name": ["a"], "timestamp": [1_777_626_000]})
    assert EventLog.from_arrow(epochs, epoch_unit="s").ts.tolist() == [1777626000000000]
    with pytest.raises(ValidationError, match="epoch_unit"):
        EventLog.from_arrow(epochs)


def test_from_arrow_names_missing_columns(pa: Any) -> None:
    table = pa.table({"user_id": ["u"], "name": ["a"], "ts": [T0]})
    with pytest.raises(ValidationError, match="no column 'timestamp' for timestamp="):
        EventLog.from_arrow(table)
    with pytest.raises(ValidationError, match="no column 'acct'"):
        EventLog.from_arrow(table, timestamp="ts", account_id="acct")
    with pytest.raises(ValidationError, match="no column 'plan'"):
        EventLog.from_arrow(table, timestamp="ts", properties=["plan"])
    with pytest.raises(PqlkitTypeError, match="list of column names"):
        EventLog.from_arrow(table, timestamp="ts", properties="plan")  # type: ignore[arg-type]
    with pytest.raises(PqlkitTypeError, match="pyarrow Table"):
        EventLog.from_arrow({"user_id": ["u"]})


def test_users_as_an_arrow_table_or_a_parquet_file(pa: Any, pq: Any, tmp_path: Path) -> None:
    users = [{"user_id": "u1", "account_id": "a1", "created_at": datetime(2026, 5, 1, tzinfo=UTC),
              "traits": {"role": "admin"}},
             {"user_id": "u2", "account_id": None, "created_at": None,
              "traits": {"role": "viewer"}}]
    table = pa.table({"user_id": ["u1", "u2"], "account_id": ["a1", None],
                      "created_at": pa.array([users[0]["created_at"], None],
                                             pa.timestamp("us", tz="UTC")),
                      "role": ["admin", "viewer"]})
    events = pa.table({"user_id": ["u1"], "name": ["a"],
                       "timestamp": pa.array([0], pa.timestamp("us", tz="UTC"))})
    records = EventLog.from_records(
        [{"user_id": "u1", "name": "a", "timestamp": datetime(1970, 1, 1, tzinfo=UTC)}],
        users=users)
    assert_same_log(EventLog.from_arrow(events, users=table), records)
    pq.write_table(events, tmp_path / "events.parquet")
    pq.write_table(table, tmp_path / "users.parquet")
    assert_same_log(EventLog.from_parquet(tmp_path / "events.parquet",
                                          users=tmp_path / "users.parquet"), records)


def test_arrow_event_ids_blank_non_ascii_and_nul_ended(pa: Any) -> None:
    ids = ["e1", "", "  ", "é", "x\x00", None]
    table = pa.table({"user_id": ["u"] * 6, "name": list("abcdef"),
                      "timestamp": pa.array([0] * 6, pa.timestamp("s", tz="UTC")),
                      "event_id": ids})
    log = EventLog.from_arrow(table)
    assert [e.event_id for e in log.events()] == ["e1", None, None, "é", "x\x00", None]
    assert_same_log(log, EventLog.from_columns(
        user_id=["u"] * 6, name=list("abcdef"), timestamp=["1970-01-01T00:00:00Z"] * 6,
        event_id=ids))


def test_parquet_reads_only_the_columns_it_needs(pa: Any, pq: Any, tmp_path: Path) -> None:
    table = pa.table({"user_id": ["u1", "u2"], "name": ["a", "b"],
                      "timestamp": pa.array([0, 1], pa.timestamp("ms", tz="UTC")),
                      "blob": pa.array([b"\x00", b"\x01"]),
                      "nested": pa.array([{"x": 1}, {"x": 2}])})
    pq.write_table(table, tmp_path / "e.parquet")
    read: list[list[str]] = []

    def spy(method: Any) -> Any:
        def reading(self: Any, *args: Any, **kwargs: Any) -> Any:
            read.append(list(kwargs.get("columns") or []))
            return method(self, *args, **kwargs)
        return reading

    with pytest.MonkeyPatch.context() as patch:
        # Row groups are read whole on worker threads, or in batches when very large.
        for method in ("iter_batches", "read_row_group", "read_row_groups", "read"):
            patch.setattr(pq.ParquetFile, method, spy(getattr(pq.ParquetFile, method)))
        log = EventLog.from_parquet(tmp_path / "e.parquet")
    assert len(log) == 2 and log.props == {}
    assert read and all(sorted(cols) == ["name", "timestamp", "user_id"] for cols in read)
    with pytest.raises(ValidationError, match="cannot read"):
        (tmp_path / "bad.parquet").write_text("not parquet")
        EventLog.from_parquet(tmp_path / "bad.parquet")


def test_without_pyarrow_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(MissingDependencyError, match=r"pqlkit\[arrow\]"):
        EventLog.from_arrow(object())
    with pytest.raises(MissingDependencyError, match=r"pqlkit\[arrow\]"):
        EventLog.from_parquet("events.parquet")


def test_import_pqlkit_does_not_import_pyarrow() -> None:
    code = ("import sys, pqlkit, numpy as np; "
            "pqlkit.EventLog.from_columns(user_id=['u'], name=['a'], timestamp=np.array("
            "['2026-05-01'], dtype='datetime64[D]')); "
            "assert 'pyarrow' not in sys.modules and 'pandas' not in sys.modules")
    import subprocess

    subprocess.run([sys.executable, "-c", code], check=True)


def test_chunk_boundaries_do_not_change_the_log(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [ev(f"n{i % 3}", f"2026-05-0{1 + i % 3}T09:00:00Z", f"u{i % 4}",
               event_id=i % 5, properties={"k": i % 2}) for i in range(23)]
    expected = snapshot(EventLog.from_columns(**as_numpy(rows)))
    for chunk in (1, 4, 7):
        monkeypatch.setattr(_columns, "CHUNK", chunk)
        assert snapshot(EventLog.from_columns(**as_numpy(rows))) == expected


# -- the fast paths are exact -------------------------------------------------------------


def test_microsecond_timestamps_in_and_out_of_range_read_as_records() -> None:
    good = np.array(["2026-05-01T09:00", "2026-05-02T09:00"], dtype="datetime64[us]")
    bad = np.array(["2026-05-01T09:00", "NaT", "10000-01-01"], dtype="datetime64[us]")
    for stamps in (good, bad):
        before = stamps.copy()
        ids = [f"u{i}" for i in range(len(stamps))]
        log = EventLog.from_columns(user_id=ids, name=["a"] * len(ids), timestamp=stamps,
                                    users={"user_id": ids, "created_at": stamps})
        assert np.array_equal(stamps, before, equal_nan=True)  # the input is not touched
        expected = EventLog.from_records(
            [ev("a", t, u) for u, t in zip(ids, stamps, strict=True)],
            users=[{"user_id": u, "created_at": t} for u, t in zip(ids, stamps, strict=True)])
        assert_same_log(log, expected)
    assert [(r.table, r.source, r.reason) for r in log.report.rejections] == [
        ("events", 1, "missing_timestamp"), ("events", 2, "timestamp_out_of_range"),
        ("users", 2, "timestamp_out_of_range")]


def test_many_names_widen_the_name_codes(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [ev(f"n{i:03d}", user=f"u{i % 3}") for i in range(300)]
    monkeypatch.setattr(_columns, "CHUNK", 100)  # names 128.. arrive in a later chunk
    log = EventLog.from_columns(**as_lists(rows))
    assert_same_log(log, EventLog.from_records(rows))
    assert log.name_code.dtype == np.int16 and len(log.names) == 300


def test_owner_account_is_the_account_column_when_every_event_names_one() -> None:
    log = EventLog.from_columns(**as_lists([ev(account_id="a1"), ev(user="u2", account_id="a2")]))
    assert log.owner_account is log.account
    users = {"user_id": ["u1"], "account_id": ["a9"]}
    log = EventLog.from_columns(**as_lists([ev(account_id="a1"), ev(user="u1")]), users=users)
    assert log.owner_account.tolist() == [1, 0] and log.account.tolist() == [-1, 0]


def test_chunks_mixing_plain_and_checked_values_load_as_records(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Chunks of plain strings take the dict fast path; a chunk with a blank or padded id,
    # an int, a bool or a float takes the checked one: both must share one set of codes.
    ids: list[Any] = ["u1", "u2", "u1", " u3", "u3", 7, "", "u2", "7", "u9", 7, "u1"]
    plans: list[Any] = ["free", "pro", None, "free", 1, True, "pro", 1.0, "x", None, "a", "b"]
    rows = [ev(f"n{i % 2}", T0 if i % 3 else T1, u, properties={"plan": p})
            for i, (u, p) in enumerate(zip(ids, plans, strict=True))]
    users = [{"user_id": u, "traits": {} if p is None else {"plan": p}}
             for u, p in zip(ids, plans, strict=True)]
    expected = EventLog.from_records(rows, users=users)
    for chunk in (1, 3, 5, 100):
        monkeypatch.setattr(_columns, "CHUNK", chunk)
        cols = as_lists(rows)
        cols = {**cols, "user_id": _columns.object_array(cols["user_id"])}
        log = EventLog.from_columns(**cols, users=users_as_columns(users, nested=False))
        assert_same_log(log, expected)
        assert_trait_columns_match_traits(log)


def test_large_object_columns_of_strings_are_coded_exactly() -> None:
    n = 5000  # above the size where object columns of strings are factorized vectorised
    users = [None if i % 7 == 0 else f"u{i % 50}" for i in range(n)]
    users[3] = "u1\x00"  # a trailing NUL: a 'U' array would drop it and merge it with "u1"
    names = [f"n{i % 3}" for i in range(n)]
    cols = {"user_id": np.array(users, dtype=object), "name": np.array(names, dtype=object),
            "timestamp": np.full(n, "2026-05-01T09:00:00Z", dtype=object),
            "account_id": np.array(["a"] * n, dtype=object)}
    log = EventLog.from_columns(**cols)
    rows = [{"name": nm, "timestamp": T0, "user_id": u, "account_id": "a"}
            for nm, u in zip(names, users, strict=True)]
    assert_same_log(log, EventLog.from_records(rows))
    assert "u1\x00" in log.user_ids and "u1" in log.user_ids


def test_hash_collisions_never_merge_different_values(monkeypatch: pytest.MonkeyPatch) -> None:
    def collide(values: Any) -> Any:
        return np.zeros(len(values), dtype=np.uint64)

    monkeypatch.setattr(_columns, "hash_fixed", collide)
    rows = [ev(event_id=f"e{i % 3}", properties={"k": i % 2}) for i in range(8)]
    rows += [ev(user=f"x{i}", account_id="a") for i in range(3)]
    cols = as_numpy(rows)
    log = EventLog.from_columns(**cols)
    assert_same_log(log, EventLog.from_records(rows))
    assert log.report.counts == {"input": 11, "kept": 6, "duplicates": 1, "rejected": 4}


def test_traits_read_from_columns_behave_as_a_read_only_mapping() -> None:
    log = EventLog.from_columns(
        user_id=["u1"], name=["a"], timestamp=[T0],
        users={"user_id": ["u1", "u2"], "role": ["admin", None], "seats": [3, 1]})
    traits = log.user_traits[log.user_index("u2")]
    assert dict(traits) == {"seats": 1}
    assert traits == {"seats": 1} and len(traits) == 1 and list(traits) == ["seats"]
    assert traits.get("role") is None and traits.get("role", "-") == "-" and "role" not in traits
    assert "seats" in traits and traits["seats"] == 1
    with pytest.raises(KeyError):
        traits["role"]
    with pytest.raises(TypeError):
        traits["role"] = "x"  # type: ignore[index]
    assert repr(traits) == "_TraitRow({'seats': 1})"
    assert next(u for u in log.users() if u.user_id == "u2").traits == {"seats": 1}


def test_zone_less_arrow_timestamps_need_tz(pa: Any, tmp_path: Any) -> None:
    import pyarrow.parquet as pq

    table = pa.table({"user_id": ["u1", "u1"], "name": ["a", "b"],
                      "timestamp": pa.array([0, 3_600_000_000], pa.timestamp("us"))})
    with pytest.raises(ValidationError, match=r"without a time zone.*tz="):
        EventLog.from_arrow(table)
    path = tmp_path / "events.parquet"
    pq.write_table(table, path)
    with pytest.raises(ValidationError, match=r"without a time zone.*tz="):
        EventLog.from_parquet(path)
    # Declared, they are wall-clock times in that zone: midnight in Paris (winter) is
    # 23:00 UTC.
    for log in (EventLog.from_arrow(table, tz="Europe/Paris"),
                EventLog.from_parquet(path, tz="Europe/Paris")):
        assert [e.timestamp.isoformat() for e in log.events()] == [
            "1969-12-31T23:00:00+00:00", "1970-01-01T00:00:00+00:00"]
    assert EventLog.from_arrow(table, tz="UTC").max_timestamp.isoformat() == (
        "1970-01-01T01:00:00+00:00")

# -- trait columns -------------------------------------------------------------------------------


def assert_trait_columns_match_traits(log: EventLog) -> None:
    for table, column in ((log.user_traits, log.user_trait_column),
                          (log.account_traits, log.account_trait_column)):
        for key in sorted({k for t in table for k in t}):
            c = column(key)
            assert c is not None and len(c) == len(table)
            assert [typed(v) for v in c.tolist()] == [typed(t.get(key)) for t in table]
            assert c.codes.dtype == np.int32 and not c.codes.flags.writeable
            # Every value is used, in canonical order (as a property column's are).
            assert sorted(set(c.codes.tolist()) - {-1}) == list(range(len(c.values)))
        assert column("no such trait") is None


@given(rows=event_logs(zones=True, max_events=20), data=st.data())
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_trait_columns_code_the_traits_records_give(rows: Any, data: st.DataObject) -> None:
    events, users, accounts = rows
    by_records = EventLog.from_records(events, users=users, accounts=accounts)
    assert_trait_columns_match_traits(by_records)
    by_columns = EventLog.from_columns(
        **as_numpy(events),
        users=users_as_columns(users, nested=data.draw(st.booleans(), label="nested")),
        accounts=accounts_as_columns(accounts))
    assert_trait_columns_match_traits(by_columns)
    assert snapshot(by_columns) == snapshot(by_records)


def test_trait_columns_keep_types_and_signs_apart() -> None:
    users = {"user_id": ["u1", "u2", "u3", "u4", "u5", "u6"],
             "mixed": [1, True, 1.0, None, "1", 1],
             "zero": np.array([0.0, -0.0, 2.5, 0.0, -0.0, 0.0]),
             "tags": [["a"], ["a"], None, {"k": 1}, ["b"], None]}
    log = EventLog.from_columns(user_id=["u1"], name=["a"], timestamp=[T0], users=users)
    mixed = log.user_trait_column("mixed")
    assert mixed is not None
    assert [typed(v) for v in mixed.python_values()] == [typed(True), typed(1), typed(1.0),
                                                         typed("1")]
    assert mixed.codes.tolist() == [1, 0, 2, -1, 3, 1]
    zero = log.user_trait_column("zero")
    assert zero is not None and zero.values.dtype == np.float64
    assert [math.copysign(1, v) for v in zero.values.tolist()] == [-1, 1, 1]
    assert zero.codes.tolist() == [1, 0, 2, 1, 0, 1]
    tags = log.user_trait_column("tags")
    assert tags is not None and tags.codes.tolist() == [0, 0, -1, 2, 1, -1]
    assert_trait_columns_match_traits(log)
    assert_trait_columns_match_traits(EventLog.from_records(
        [ev()], users=[{"user_id": u, "traits": {k: users[k][i] for k in ("mixed", "tags")
                                                  if users[k][i] is not None}}
                       for i, u in enumerate(users["user_id"])]))


def test_trait_columns_cover_users_known_only_from_events() -> None:
    log = EventLog.from_columns(user_id=["u0", "u1", "u9"], name=["a"] * 3, timestamp=[T0] * 3,
                                users={"user_id": ["u1", "u2"], "role": ["admin", "member"]})
    role = log.user_trait_column("role")
    assert role is not None
    assert log.user_ids == ("u0", "u1", "u2", "u9")
    assert role.tolist() == [None, "admin", "member", None]
    assert log.account_trait_column("role") is None
    assert log.user_trait_column("role") is role  # built once


def test_user_traits_are_built_only_when_asked_for() -> None:
    users = {"user_id": ["u1", "u2", "u1"], "role": ["admin", None, "member"],
             "created_at": [T0, T0, T1]}
    log = EventLog.from_columns(user_id=["u1", "u3"], name=["a", "a"], timestamp=[T0, T1],
                                users=users)
    assert log._user_traits._mappings is None
    role = log.user_trait_column("role")
    assert role is not None and role.tolist() == ["admin", None, None]
    assert log._user_traits._mappings is None
    expected = EventLog.from_records(
        [ev(user="u1"), ev(user="u3", ts=T1)],
        users=[{"user_id": "u1", "traits": {"role": "admin"}, "created_at": T0},
               {"user_id": "u2", "created_at": T0},
               {"user_id": "u1", "traits": {"role": "member"}, "created_at": T1}])
    assert [dict(t) for t in log.user_traits] == [dict(t) for t in expected.user_traits] == [
        {"role": "admin"}, {}, {}]
    assert log.user_traits is log.user_traits


@needs_arrow
@given(rows=event_logs(max_events=15), data=st.data())
@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])
def test_text_traits_from_arrow_are_read_when_asked_for(rows: Any, data: st.DataObject) -> None:
    # Arrow text traits are coded lazily: the log (mappings, columns, report with rejected
    # and conflicting rows) must be the one the records give.
    import pyarrow as pa

    events, users, _ = rows
    users = [u for u in users if isinstance(u, dict)]
    text = [{**u, "traits": {k: str(v) for k, v in (u.get("traits") or {}).items()
                             if v is not None}} for u in users]
    text += [{**u, "user_id": None} for u in text[:1]]  # a row to reject
    keys = sorted({k for u in text for k in u["traits"]})
    table: dict[str, Any] = {"user_id": _columns.object_array([u.get("user_id") for u in text])}
    for key in keys:
        column = pa.array([u["traits"].get(key) for u in text], pa.string())
        if data.draw(st.booleans(), label=f"{key} dictionary-encoded"):
            column = column.dictionary_encode()
        table[key] = pa.chunked_array([column[:1], column[1:]]) if len(column) > 1 else column
    log = EventLog.from_columns(**as_numpy(events), users=table)
    expected = EventLog.from_records(
        events, users=[{"user_id": u.get("user_id"), "traits": u["traits"]} for u in text])
    # Columns first: before the mappings are built, they come straight from Arrow.
    assert trait_columns(log, keys) == trait_columns(expected, keys)
    assert_trait_columns_match_traits(log)
    assert_same_log(log, expected)


def trait_columns(log: EventLog, keys: list[str]) -> dict[str, Any]:
    return {k: None if (c := log.user_trait_column(k)) is None else
            (c.codes.tolist(), c.values.dtype.str, [typed(v) for v in c.python_values()])
            for k in keys}


@needs_arrow
def test_arrow_text_traits_of_any_text_read_as_records(pa: Any) -> None:
    values = ["b", "é", "a\x00", "", None, "a", "日本", "b", "a\x00b"]
    for text, dictionary in ((values, False), (values, True), ([v for v in values if v is None
                                                                or not v.endswith("\x00")],
                                                               False)):
        ids = [f"u{i}" for i in range(len(text))]
        column = pa.array(text, pa.string())
        users = {"user_id": ids, "t": column.dictionary_encode() if dictionary else column}
        log = EventLog.from_columns(user_id=ids, name=["a"] * len(ids),
                                    timestamp=[T0] * len(ids), users=users)
        expected = EventLog.from_records(
            [ev("a", T0, u) for u in ids],
            users=[{"user_id": u, "traits": {} if t is None else {"t": t}}
                   for u, t in zip(ids, text, strict=True)])
        assert trait_columns(log, ["t", "other"]) == trait_columns(expected, ["t", "other"])
        assert_same_log(log, expected)


def test_a_none_trait_is_absent_whichever_loader() -> None:
    users = [{"user_id": "u1", "traits": {"email": "ann@rival.io", "email_domain": None,
                                          "plan": None, "role": "admin"}}]
    events = [ev(user="u1")]
    from_rows = EventLog.from_records(events, users=users)
    from_cols = EventLog.from_columns(
        user_id=["u1"], name=["signup"], timestamp=[T0],
        users={"user_id": ["u1"], "traits": {"email": ["ann@rival.io"], "email_domain": [None],
                                             "plan": [None], "role": ["admin"]}})
    assert dict(from_rows.user_traits[0]) == {"email": "ann@rival.io", "role": "admin"}
    assert dict(from_cols.user_traits[0]) == dict(from_rows.user_traits[0])
    # email_domain is derived from email on both, so the competitor rule fires on both.
    model = pk.ScoringModel(name="m", threshold=1, rules=[
        pk.Rule("r", pk.count("signup") >= 1, points=1)],
        disqualify=[pk.trait("email_domain") == "rival.io"])
    for engine in ("reference", "columnar"):
        for log in (from_rows, from_cols):
            assert model.score(log, engine=engine).users["u1"]["disqualified"] is True


def test_a_datetime64_past_year_9999_is_rejected_on_every_path() -> None:
    # Converted to microseconds it wrapped around: records kept a wrong instant, and the
    # columnar paths stopped with an internal error.
    import pyarrow as pa

    good, bad_s = 1_777_593_600, 2**58 + 1_777_593_600
    good64, bad64 = np.datetime64(good, "s"), np.datetime64(bad_s, "s")
    logs = [
        EventLog.from_records([{"name": "a", "user_id": "u", "timestamp": good64},
                               {"name": "a", "user_id": "u", "timestamp": bad64}]),
        EventLog.from_columns(name=["a", "a"], user_id=["u", "u"],
                              timestamp=np.array([good64, bad64])),
        EventLog.from_arrow(pa.table({"name": ["a", "a"], "user_id": ["u", "u"],
                                      "timestamp": pa.array([good, bad_s],
                                                            pa.timestamp("s", tz="UTC"))})),
    ]
    for log in logs:
        assert log.report.counts == {"input": 2, "kept": 1, "duplicates": 0, "rejected": 1}
        assert log.report.by_reason() == {"timestamp_out_of_range": 1}
        assert log.report.rejections[0].source == 1


@pytest.mark.parametrize("kind", ["arrow", "pandas", "polars"])
def test_from_columns_reads_zone_less_typed_timestamps_in_tz_or_refuses_them(kind) -> None:
    # They were read as UTC, tz= ignored (while users' created_at honoured it).
    pa = pytest.importorskip("pyarrow")
    wall = datetime(2026, 5, 30, 10, 0)
    if kind == "arrow":
        column: Any = pa.array([wall], pa.timestamp("us"))
    elif kind == "pandas":
        column = pytest.importorskip("pandas").Series([wall])
    else:
        column = pytest.importorskip("polars").Series([wall])
    with pytest.raises(ValidationError, match=r"without a time zone.*tz="):
        EventLog.from_columns(user_id=["u"], name=["e"], timestamp=column)
    log = EventLog.from_columns(user_id=["u"], name=["e"], timestamp=column,
                                tz="Europe/Paris")
    assert [e.timestamp for e in log.events()] == [datetime(2026, 5, 30, 8, 0, tzinfo=UTC)]
    # numpy datetime64 stays UTC, as documented.
    log = EventLog.from_columns(user_id=["u"], name=["e"],
                                timestamp=np.array([wall], dtype="datetime64[us]"))
    assert [e.timestamp for e in log.events()] == [datetime(2026, 5, 30, 10, 0, tzinfo=UTC)]


def test_an_integer_name_column_says_names_must_be_strings() -> None:
    # The message said "name values must be strings or integers" about int64 names.
    with pytest.raises(PqlkitTypeError, match="event names must be strings") as info:
        EventLog.from_columns(user_id=["u1", "u2"], name=np.array([1, 2]),
                              timestamp=["2026-05-01T09:00:00Z"] * 2)
    assert "or integers" not in str(info.value)


BAD_TEXT = "\ud800x"  # json.loads('"\\ud800x"'): a lone surrogate, which no UTF-8 holds


@pytest.mark.parametrize("shape", ["records", "list", "numpy", "pandas"])
def test_a_lone_surrogate_in_an_id_or_a_name_rejects_its_row(shape: str) -> None:
    # Kept, such an id made every export fail (to_arrow, to_pandas, the CLI's CSV and
    # Parquet files), after the load had reported no rejection.
    t = "2026-05-20T00:00:00Z"
    records = [{"name": "a", "timestamp": t, "user_id": "ok"},
               {"name": "a", "timestamp": t, "user_id": BAD_TEXT},
               {"name": BAD_TEXT, "timestamp": t, "user_id": "ok2"}]
    columns = {k: [r[k] for r in records] for k in ("name", "timestamp", "user_id")}
    if shape == "records":
        log = EventLog.from_records(records)
    elif shape == "pandas":
        pd = pytest.importorskip("pandas")
        log = EventLog.from_pandas(pd.DataFrame(records, dtype=object))
    else:
        wrap = (lambda v: np.array(v)) if shape == "numpy" else (lambda v: v)
        log = EventLog.from_columns(user_id=wrap(columns["user_id"]),
                                    name=wrap(columns["name"]), timestamp=columns["timestamp"])
    assert log.user_ids == ("ok",)
    assert [(r.source, r.reason) for r in log.report.rejections] == [
        (1, "invalid_id"), (2, "invalid_name")]
    assert "lone surrogate" in log.report.rejections[0].message


@given(props=st.lists(st.dictionaries(st.sampled_from(["a", "b", "c", "d"]),
                                      st.none() | st.integers(-3, 3) | st.floats(-2, 2)
                                      | st.text(max_size=2) | st.lists(st.integers(), max_size=2),
                                      max_size=3), max_size=12))
def test_property_columns_from_the_values_held_are_the_dense_ones(
        props: list[dict[str, Any]]) -> None:
    # from_records codes each key from the (row, value) pairs the events hold, in one pass
    # (a pass over every event per key cost events x keys): the same columns as before.
    from pqlkit import _columns as col
    from pqlkit.eventlog import _property_columns

    keys = sorted({k for p in props for k, v in p.items() if v is not None})
    got = _property_columns(props, keys, len(props))
    assert sorted(got) == keys
    for k in keys:
        values = got[k].values
        assert [None if c < 0 else values[c] for c in got[k].codes.tolist()] == [
            p.get(k) for p in props]
        dense = col.factorize_objects([p.get(k) for p in props])
        assert len(values) == len(dense.values)  # (as many distinct values)


def test_uint64_columns_beyond_int64_keep_their_missing_values() -> None:
    # Beyond int64 the values are read as Python ints: the masked slots became their
    # fill value (0) instead of missing, in properties and traits alike.
    pa = pytest.importorskip("pyarrow")
    x = pa.array([2**64 - 1, None, 1], type=pa.uint64())
    ids = ["u0", "u1", "u2"]
    log = EventLog.from_arrow(
        pa.table({"user_id": ids, "name": ["e"] * 3, "x": x, "timestamp": pa.array(
            [datetime(2026, 5, 1, tzinfo=UTC)] * 3, pa.timestamp("us", tz="UTC"))}),
        users=pa.table({"user_id": ids, "x": x}), properties=["x"])
    assert sorted(log.props["x"].tolist(), key=str) == [1, 18446744073709551615, None]
    assert log.user_trait_column("x").tolist() == [18446744073709551615, None, 1]
