"""Arrow-first ids: from_arrow / from_parquet keep text and integer ids in Arrow or numpy
until the log's id tuples are made, and must give the very log from_records gives.

Each id column is drawn in every form the loaders meet (plain, large or dictionary
strings, a different dictionary per chunk, integers, nulls, blank strings), the users and
accounts tables too, and Parquet files with row groups of uneven sizes.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.test_eventlog_columns import as_lists, assert_same_log, snapshot

from pqlkit import _arrow
from pqlkit.errors import PqlkitTypeError, ValidationError
from pqlkit.eventlog import EventLog

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

T0 = datetime(2026, 5, 1, 9, tzinfo=UTC)
TEXT_IDS = ["u1", "u2", "u10", "U1", "é3", "z", "a b", "", " ", "\t"]
INT_IDS = [-3, 0, 1, 2, 10, 2**40]
FORMS = ["string", "large_string", "dictionary"]


def _column(values: list[Any], form: str, cuts: list[int]) -> Any:
    """``values`` as a chunked Arrow column cut at ``cuts``; dictionary chunks are each
    encoded on their own, so every chunk has a dictionary of its own."""
    if values and all(v is None or type(v) is int for v in values) and any(
            v is not None for v in values):
        kind = pa.int64()
    else:
        kind = pa.large_string() if form == "large_string" else pa.string()
    bounds = [0, *sorted(c for c in set(cuts) if 0 < c < len(values)), len(values)]
    chunks = [pa.array(values[lo:hi], type=kind) for lo, hi in itertools.pairwise(bounds)]
    if form == "dictionary" and kind != pa.int64():
        chunks = [c.dictionary_encode() for c in chunks]
    return pa.chunked_array(chunks)


@st.composite
def loads(draw: st.DrawFn) -> dict[str, Any]:
    """Events, users and accounts as records, and the same as Arrow tables."""
    ints = draw(st.booleans(), label="int ids")
    pool = INT_IDS if ints else TEXT_IDS
    ident = st.one_of(st.none(), st.sampled_from(pool))
    n = draw(st.integers(0, 40))
    events = [{"name": draw(st.sampled_from(["signup", "invite", "é"])),
               "timestamp": T0 + timedelta(seconds=draw(st.integers(0, 3))),
               "user_id": draw(ident), "account_id": draw(ident)} for _ in range(n)]
    # The tables' ids may be of the other kind than the events' (the Python fallback).
    table_pool = pool if draw(st.booleans(), label="same id kind") else (
        TEXT_IDS if ints else INT_IDS)
    table_ident = st.one_of(st.none(), st.sampled_from(table_pool))
    created = st.one_of(st.none(), st.integers(0, 5).map(lambda d: T0 - timedelta(days=d)))
    users = [{"user_id": draw(table_ident), "account_id": draw(table_ident),
              "created_at": draw(created)} for _ in range(draw(st.integers(0, 8)))]
    accounts = [{"account_id": draw(table_ident), "created_at": draw(created)}
                for _ in range(draw(st.integers(0, 5)))]
    cuts = draw(st.lists(st.integers(0, max(n, 1)), max_size=4))
    table = pa.table({
        "user_id": _column([e["user_id"] for e in events], draw(st.sampled_from(FORMS)), cuts),
        "account_id": _column([e["account_id"] for e in events],
                              draw(st.sampled_from(FORMS)), cuts),
        "name": _column([e["name"] for e in events], "dictionary", cuts),
        "timestamp": pa.array([e["timestamp"] for e in events], pa.timestamp("us", tz="UTC")),
    })

    def entity_table(rows: list[dict[str, Any]], fields: tuple[str, ...]) -> Any:
        form = draw(st.sampled_from(FORMS))
        stamps = pa.array([r["created_at"] for r in rows], pa.timestamp("us", tz="UTC"))
        return pa.table({**{f: _column([r[f] for r in rows], form, []) for f in fields},
                         "created_at": stamps})

    return {"events": events, "users": users, "accounts": accounts, "table": table,
            "user_table": entity_table(users, ("user_id", "account_id")),
            "account_table": entity_table(accounts, ("account_id",))}


def _records_log(load: dict[str, Any]) -> EventLog:
    # None in a user row means "not given", as a null cell does.
    users = [{k: v for k, v in u.items() if v is not None} for u in load["users"]]
    accounts = [{k: v for k, v in a.items() if v is not None} for a in load["accounts"]]
    return EventLog.from_records(load["events"], users=users, accounts=accounts)


@given(load=loads())
@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
def test_from_arrow_gives_the_records_log(load: dict[str, Any]) -> None:
    log = EventLog.from_arrow(load["table"], users=load["user_table"],
                              accounts=load["account_table"])
    assert_same_log(log, _records_log(load))


@given(load=loads(), row_group=st.integers(1, 9), ahead=st.booleans())
@settings(max_examples=30, suppress_health_check=[HealthCheck.too_slow,
                                                  HealthCheck.function_scoped_fixture])
def test_from_parquet_gives_the_records_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            load: dict[str, Any], row_group: int,
                                            ahead: bool) -> None:
    path, users = tmp_path / "events.parquet", tmp_path / "users.parquet"
    pq.write_table(load["table"], path, row_group_size=row_group)
    pq.write_table(load["user_table"], users)
    # Row groups larger than the limit are read a batch (here of 2 rows) at a time.
    monkeypatch.setattr(_arrow, "PARQUET_GROUP_MAX", 1 << 20 if ahead else row_group - 1)
    monkeypatch.setattr(_arrow, "PARQUET_BATCH", 1 << 18 if ahead else 2)
    log = EventLog.from_parquet(path, users=users, accounts=load["account_table"])
    assert_same_log(log, _records_log(load))


def test_chunks_with_different_dictionaries_share_one_id_space() -> None:
    user = pa.chunked_array([pa.array(["b", "a", "b"]).dictionary_encode(),
                             pa.array(["c", "a"]).dictionary_encode()])
    table = pa.table({"user_id": user, "name": pa.array(["x"] * 5),
                      "timestamp": pa.array(range(5), pa.timestamp("us", tz="UTC"))})
    log = EventLog.from_arrow(table)
    assert log.user_ids == ("a", "b", "c")
    assert log.user.tolist() == [1, 0, 1, 2, 0]


def test_a_blank_id_in_a_dictionary_rejects_the_rows_using_it_as_records_do() -> None:
    user = pa.array(["u1", " ", "u2", " ", None]).dictionary_encode()
    account = pa.array([None, None, "a1", "a1", None])
    table = pa.table({"user_id": user, "account_id": account, "name": pa.array(["x"] * 5),
                      "timestamp": pa.array(range(5), pa.timestamp("us", tz="UTC"))})
    users = pa.table({"user_id": pa.array(["u1", "", "u3"]).dictionary_encode()})
    log = EventLog.from_arrow(table, users=users)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    rows = [{"user_id": u, "account_id": a, "name": "x",
             "timestamp": epoch + timedelta(microseconds=i)}
            for i, (u, a) in enumerate(zip(user.to_pylist(), account.to_pylist(),
                                           strict=True))]
    expected = EventLog.from_records(rows, users=[{"user_id": u} for u in ["u1", "", "u3"]])
    assert_same_log(log, expected)
    assert [(r.table, r.source, r.reason) for r in log.report.rejections] == [
        ("events", 1, "missing_identity"), ("events", 4, "missing_identity"),
        ("users", 1, "missing_identity")]
    assert log.user_ids == ("u1", "u2", "u3")


def test_integer_ids_stay_integers_and_sort_as_numbers() -> None:
    table = pa.table({"user_id": pa.array([10, None, 2, 10], pa.int64()),
                      "account_id": pa.array([7, 7, None, 9], pa.int32()),
                      "name": pa.array(["x"] * 4),
                      "timestamp": pa.array(range(4), pa.timestamp("us", tz="UTC"))})
    users = pa.table({"user_id": pa.array([3, 2], pa.uint16())})
    log = EventLog.from_arrow(table, users=users)
    assert log.user_ids == (2, 3, 10)
    assert all(type(u) is int for u in log.user_ids)
    assert log.account_ids == (7, 9)
    assert log.user.tolist() == [2, -1, 0, 2]


def test_ids_only_in_the_users_table_are_in_the_log() -> None:
    table = pa.table({"user_id": pa.array(["u2"]), "name": pa.array(["x"]),
                      "timestamp": pa.array([0], pa.timestamp("us", tz="UTC"))})
    users = pa.table({"user_id": pa.array(["u9", "u1"], pa.large_string()),
                      "account_id": pa.array(["a1", None])})
    log = EventLog.from_arrow(table, users=users)
    assert log.user_ids == ("u1", "u2", "u9")
    assert log.account_ids == ("a1",)
    assert log.user_in_table.tolist() == [True, False, True]
    assert log.user_account.tolist() == [-1, -1, 0]


def test_numpy_integer_ids_load_as_records_do() -> None:
    user = np.ma.masked_array(np.array([5, 1, 5, 0], dtype=np.uint32),
                              mask=[False, False, False, True])
    log = EventLog.from_columns(user_id=user, account_id=np.array([1, 1, 2, 2]),
                                name=np.array(["x"] * 4),
                                timestamp=np.arange(4).astype("datetime64[us]"))
    expected = EventLog.from_records(
        [{"user_id": u, "account_id": a, "name": "x",
          "timestamp": datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=i)}
         for i, (u, a) in enumerate([(5, 1), (1, 1), (5, 2), (None, 2)])])
    assert_same_log(log, expected)


def test_parquet_row_groups_are_read_in_order_on_the_pool(tmp_path: Path) -> None:
    n = 1000
    table = pa.table({"user_id": pa.array([f"u{i % 37}" for i in range(n)]),
                      "name": pa.array(["x"] * n),
                      "timestamp": pa.array(range(n), pa.timestamp("us", tz="UTC"))})
    path = tmp_path / "events.parquet"
    pq.write_table(table, path, row_group_size=90)  # 12 row groups, the last one short
    log = EventLog.from_parquet(path)
    assert pq.ParquetFile(path).metadata.num_row_groups == 12
    assert_same_log(log, EventLog.from_arrow(table))
    assert [log.user_ids[u] for u in log.user[:40].tolist()] == [f"u{i % 37}" for i in
                                                                 range(40)]


# -- the threaded loader (pqlkit._arrowload): everything besides the ids -----------------------

NAMES = ["signup", "invite", "é", "", " ", "bad\x01name", None]


@st.composite
def rich_loads(draw: st.DrawFn) -> dict[str, Any]:
    """Events with bad names, null timestamps, properties (text, numbers, NaN) and event
    ids (repeated, sometimes with different content), as records and as an Arrow table."""
    n = draw(st.integers(0, 30))
    rows = []
    for _ in range(n):
        row: dict[str, Any] = {
            "name": draw(st.sampled_from(NAMES)),
            "timestamp": draw(st.one_of(st.none(), st.integers(0, 3).map(
                lambda s: T0 + timedelta(seconds=s)))),
            "user_id": draw(st.sampled_from(["u1", "u2", "", None])),
            "account_id": draw(st.sampled_from(["a1", None])),
            "event_id": draw(st.sampled_from(["e1", "e2", "e3", None])),
            "plan": draw(st.sampled_from(["free", "pro", None])),
            "seats": draw(st.sampled_from([1.0, 2.5, float("nan"), None])),
        }
        rows.append(row)
    cuts = draw(st.lists(st.integers(0, max(n, 1)), max_size=3))
    table = pa.table({
        "name": _column([r["name"] for r in rows], draw(st.sampled_from(FORMS)), cuts),
        "timestamp": pa.array([r["timestamp"] for r in rows], pa.timestamp("us", tz="UTC")),
        "user_id": _column([r["user_id"] for r in rows], draw(st.sampled_from(FORMS)), cuts),
        "account_id": _column([r["account_id"] for r in rows], "string", cuts),
        "event_id": pa.array([r["event_id"] for r in rows], pa.string()),
        "plan": _column([r["plan"] for r in rows], draw(st.sampled_from(FORMS)), cuts),
        "seats": pa.array([r["seats"] for r in rows], pa.float64()),
    })
    records = []
    for r in rows:
        rec = {k: r[k] for k in ("name", "timestamp", "user_id", "account_id", "event_id")}
        rec["properties"] = {k: r[k] for k in ("plan", "seats") if r[k] is not None}
        records.append(rec)
    return {"table": table, "records": records}


@given(load=rich_loads(), row_group=st.integers(1, 7), large=st.booleans())
@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow,
                                                  HealthCheck.function_scoped_fixture])
def test_threaded_loads_reject_and_dedup_as_records_do(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       load: dict[str, Any], row_group: int,
                                                       large: bool) -> None:
    expected = EventLog.from_records(load["records"])
    path = tmp_path / "events.parquet"
    pq.write_table(load["table"], path, row_group_size=row_group)
    # large: row groups read (and rows rejected) a batch of 2 rows at a time.
    monkeypatch.setattr(_arrow, "PARQUET_GROUP_MAX", 1 if large else 1 << 21)
    monkeypatch.setattr(_arrow, "PARQUET_BATCH", 2 if large else 1 << 18)
    for log in (EventLog.from_arrow(load["table"], properties=["plan", "seats"]),
                EventLog.from_parquet(path, properties=["plan", "seats"])):
        assert_same_log(log, expected)


def test_strict_raises_at_the_first_bad_row_of_a_later_row_group(tmp_path: Path) -> None:
    n = 50
    names = ["x"] * n
    names[37] = ""
    table = pa.table({"user_id": pa.array(["u1"] * n), "name": pa.array(names),
                      "timestamp": pa.array(range(n), pa.timestamp("us", tz="UTC"))})
    path = tmp_path / "events.parquet"
    pq.write_table(table, path, row_group_size=10)
    from pqlkit.errors import RejectedRowError

    with pytest.raises(RejectedRowError, match=r"events\[37\].*name is empty"):
        EventLog.from_parquet(path, strict=True)
    log = EventLog.from_parquet(path)
    assert [(r.source, r.reason) for r in log.report.rejections] == [(37, "missing_name")]
    assert len(log) == n - 1


def test_a_dictionary_value_no_row_uses_is_not_an_id() -> None:
    user = pa.DictionaryArray.from_arrays(pa.array([0, 2, 0], pa.int32()),
                                          pa.array(["u1", "unused", "u3"]))
    table = pa.table({"user_id": user, "name": pa.array(["x"] * 3),
                      "timestamp": pa.array(range(3), pa.timestamp("us", tz="UTC"))})
    log = EventLog.from_arrow(table)
    assert log.user_ids == ("u1", "u3")
    assert log.user.tolist() == [0, 1, 0]


def test_a_dictionary_value_no_row_uses_beside_nulls_is_not_an_id() -> None:
    # Nulls (-1 codes) and an unused entry in the same dictionary, more rows than entries.
    user = pa.DictionaryArray.from_arrays(pa.array([0, None, 2, 0, None], pa.int32()),
                                          pa.array(["u1", "unused", "u3"]))
    account = pa.array(["a"] * 5)
    table = pa.table({"user_id": user, "account_id": account, "name": pa.array(["x"] * 5),
                      "timestamp": pa.array(range(5), pa.timestamp("us", tz="UTC"))})
    log = EventLog.from_arrow(table)
    assert log.user_ids == ("u1", "u3")
    assert log.user.tolist() == [0, -1, 1, 0, -1]


@pytest.mark.parametrize("index_type", ["uint8", "uint16", "uint32", "uint64"])
def test_a_null_under_unsigned_dictionary_indices_stays_a_null(index_type: str) -> None:
    # polars exports its categoricals with uint32 indices. A null's -1 wrapped round to
    # the last entry (uint8 over 256 values: the null became the value "v255", silently)
    # or past it (an IndexError from numpy).
    values = pa.array([f"v{i}" for i in range(256)])
    indices = pa.array([0, None, 1], getattr(pa, index_type)())
    coded = pa.DictionaryArray.from_arrays(indices, values)
    table = pa.table({"user_id": coded, "name": pa.array(["x"] * 3),
                      "timestamp": pa.array(range(3), pa.timestamp("us", tz="UTC")),
                      "plan": coded, "account_id": pa.array(["a"] * 3)})
    users = pa.table({"user_id": coded, "plan": coded})
    log = EventLog.from_arrow(table, properties=["plan"], users=users)
    assert log.user_ids == ("v0", "v1")
    assert log.user.tolist() == [0, -1, 1]
    assert [dict(log.properties(i)) for i in range(3)] == [
        {"plan": "v0"}, {}, {"plan": "v1"}]
    assert log.report.by_reason() == {"missing_identity": 1}  # the users row without id


@pytest.mark.parametrize(("indices", "n", "expected"), [
    ([], 0, True), ([], 1, False), ([0, 1, 2], 3, True), ([0, 2, 2], 3, False),
    ([-1, 0, 1, -1], 2, True), ([-1, 0, -1, -1], 2, False), ([1, 0], 3, False)])
def test_all_used_tells_whether_every_dictionary_entry_has_a_row(
        indices: list[int], n: int, expected: bool) -> None:
    from pqlkit._arrowload import _all_used

    assert _all_used(np.array(indices, dtype=np.int32), n) is expected


def test_all_used_grows_and_reuses_its_scratch_space() -> None:
    from pqlkit import _columns as col
    from pqlkit._arrowload import _all_used

    big = np.tile(np.arange(5, dtype=np.int32), col.CHUNK)  # more rows than the scratch
    assert _all_used(big, 5) and not _all_used(big, 6)
    # A shorter chunk after a longer one reads only its own rows of the scratch.
    assert not _all_used(np.array([0, 0, 2], dtype=np.int32), 3)
    assert _all_used(np.array([-1, 1, 0], dtype=np.int32), 2)


def test_a_zone_less_timestamp_column_is_read_in_the_zone_given(tmp_path: Path) -> None:
    table = pa.table({"user_id": pa.array(["u1", "u2"]), "name": pa.array(["x", "y"]),
                      "timestamp": pa.array([0, 3_600_000_000], pa.timestamp("us"))})
    path = tmp_path / "events.parquet"
    pq.write_table(table, path)
    for log in (EventLog.from_arrow(table, tz="Europe/Paris"),
                EventLog.from_parquet(path, tz="Europe/Paris")):
        # Midnight and 01:00 in Paris (UTC+1 in January 1970) are 23:00 and 00:00 UTC.
        assert log.ts.tolist() == [-3_600_000_000, 0]


def test_tables_checked_beside_the_events_report_after_them(tmp_path: Path) -> None:
    table = pa.table({"user_id": pa.array(["u1", None]), "name": pa.array(["x", "y"]),
                      "timestamp": pa.array([0, 1], pa.timestamp("us", tz="UTC"))})
    users = pa.table({"user_id": pa.array(["u1", " "]), "plan": pa.array(["free", "pro"])})
    path, users_path = tmp_path / "events.parquet", tmp_path / "users.parquet"
    pq.write_table(table, path)
    pq.write_table(users, users_path)
    from pqlkit.errors import RejectedRowError

    log = EventLog.from_parquet(path, users=users_path)
    assert list(log.report.tables) == ["events", "users"]
    assert [(r.table, r.source) for r in log.report.rejections] == [("events", 1),
                                                                    ("users", 1)]
    # strict: the first rejection in reading order is the events' one, as from records.
    with pytest.raises(RejectedRowError, match=r"^events\[1\]"):
        EventLog.from_parquet(path, users=users_path, strict=True)
    good = pa.table({"user_id": pa.array(["u1"]), "name": pa.array(["x"]),
                     "timestamp": pa.array([0], pa.timestamp("us", tz="UTC"))})
    with pytest.raises(RejectedRowError, match=r"^users\[1\]"):
        EventLog.from_arrow(good, users=users, strict=True)


def test_an_id_only_a_rejected_table_row_names_is_not_in_the_log(tmp_path: Path) -> None:
    table = pa.table({"user_id": pa.array(["u1", "u2"]), "account_id": pa.array(["a1", None]),
                      "name": pa.array(["x", "y"]),
                      "timestamp": pa.array([0, 1], pa.timestamp("us", tz="UTC"))})
    # u9 and a9 appear only in rows that are rejected (a seat count that is not finite).
    users = pa.table({"user_id": pa.array(["u1", "u9", "u3"]),
                      "account_id": pa.array(["a1", "a9", "a3"]),
                      "seats": pa.array([1.0, float("nan"), 2.0])})
    accounts = pa.table({"account_id": pa.array(["a1", "a8"]),
                         "employees": pa.array([5.0, float("inf")])})
    path = tmp_path / "events.parquet"
    pq.write_table(table, path)
    log = EventLog.from_parquet(path, users=users, accounts=accounts)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    expected = EventLog.from_records(
        [{"user_id": "u1", "account_id": "a1", "name": "x", "timestamp": epoch},
         {"user_id": "u2", "name": "y", "timestamp": epoch + timedelta(microseconds=1)}],
        users=[{"user_id": "u1", "account_id": "a1", "traits": {"seats": 1.0}},
               {"user_id": "u9", "account_id": "a9", "traits": {"seats": float("nan")}},
               {"user_id": "u3", "account_id": "a3", "traits": {"seats": 2.0}}],
        accounts=[{"account_id": "a1", "traits": {"employees": 5.0}},
                  {"account_id": "a8", "traits": {"employees": float("inf")}}])
    assert_same_log(log, expected)
    assert log.user_ids == ("u1", "u2", "u3") and log.account_ids == ("a1", "a3")


def test_a_zone_less_created_at_column_needs_a_zone_as_event_times_do(tmp_path: Path) -> None:
    from pqlkit.errors import ValidationError

    table = pa.table({"user_id": pa.array(["u1"]), "name": pa.array(["x"]),
                      "timestamp": pa.array([0], pa.timestamp("us", tz="UTC"))})
    users = pa.table({"user_id": pa.array(["u1"]),
                      "created_at": pa.array([3_600_000_000], pa.timestamp("us"))})
    with pytest.raises(ValidationError, match=r"users=.*'created_at'.*without a time zone"):
        EventLog.from_arrow(table, users=users)
    path = tmp_path / "users.parquet"
    pq.write_table(users, path)
    with pytest.raises(ValidationError, match=r"users=.*'created_at'.*tz="):
        EventLog.from_arrow(table, users=path)  # a file is read into the same columns
    # 01:00 on 1 January 1970 in Paris (UTC+1) is midnight UTC.
    assert EventLog.from_arrow(table, users=users, tz="Europe/Paris").user_created.tolist() == [0]


@pytest.mark.parametrize("chunks", [1, 2])
def test_more_event_names_than_int16_holds(chunks: int) -> None:
    # One chunk with 40,000 names starts the load again with int32 codes; two chunks of
    # 20,000 each fit int16 alone and are widened once merged.
    n = 40_000
    names = [f"event_{i:05d}" for i in range(n)][::-1]
    half = n // chunks
    column = pa.chunked_array([pa.array(names[i:i + half]) for i in range(0, n, half)])
    table = pa.table({"user_id": pa.array(["u1"] * n), "name": column,
                      "timestamp": pa.array(range(n), pa.timestamp("us", tz="UTC"))})
    log = EventLog.from_arrow(table)
    assert log.names == tuple(sorted(names))
    assert [log.names[c] for c in log.name_code[:3].tolist()] == names[:3]
    assert log.name_code.dtype == np.int32 and len(log) == n


_TEXT = st.one_of(st.none(), st.sampled_from(["", " ", "\t", "a", "b", "B", "é", "ab", "a\x00"]),
                  st.text(max_size=4))


@given(parts=st.lists(st.lists(_TEXT, max_size=8), min_size=1, max_size=4),
       presort=st.booleans())
@settings(max_examples=200)
def test_sorted_distinct_sorts_as_python_sorts_for_sorted_and_unsorted_input(
        parts: list[list[str | None]], presort: bool) -> None:
    """The fast path for input already in increasing order (ids exported in key order)
    gives what the hashing path gives: the distinct non-blank strings sorted as Python
    sorts str, and where each entry went."""
    import pyarrow as pa

    if presort:  # one strictly increasing run, split across the dictionaries
        flat = sorted({v for p in parts for v in p if v is not None})
        cuts = [len(flat) * i // len(parts) for i in range(len(parts) + 1)]
        parts = [flat[lo:hi] for lo, hi in itertools.pairwise(cuts)]
    arrays = [pa.array(p, type=pa.string()) for p in parts]
    rank, distinct = _arrow.sorted_distinct(arrays)
    values = [v for p in parts for v in p]
    want = sorted({v for v in values if v is not None and v.strip()})
    assert distinct.to_pylist() == want
    assert rank.tolist() == [want.index(v) if v is not None and v.strip() else -1
                             for v in values]
    for p, arr in zip(parts, arrays, strict=True):
        assert _arrow.increasing(arr) == (None not in p and all(
            a < b for a, b in itertools.pairwise(p)))


@st.composite
def _trait_users(draw: st.DrawFn) -> list[dict[str, Any]]:
    """User rows with text and number traits, ids repeating (duplicates and conflicts)."""
    text = st.one_of(st.none(), st.sampled_from(["admin", "member", "Admin", "é", ""]))
    return [{"user_id": draw(st.sampled_from(["u1", "u2", "u3"])),
             "account_id": draw(st.one_of(st.none(), st.sampled_from(["a1", "a2"]))),
             "created_at": draw(st.one_of(st.none(), st.just(T0))),
             "role": draw(text), "email": draw(text),
             "seats": draw(st.one_of(st.none(), st.integers(0, 2)))}
            for _ in range(draw(st.integers(0, 4)))]


def _user_table(rows: list[dict[str, Any]], arrow: bool) -> Any:
    if not arrow:  # records: a None trait is an absent one
        return [{"user_id": r["user_id"], "account_id": r["account_id"],
                 "created_at": r["created_at"],
                 "traits": {k: r[k] for k in ("role", "email", "seats") if r[k] is not None}}
                for r in rows]
    return pa.table({"user_id": pa.array([r["user_id"] for r in rows], pa.string()),
                     "account_id": pa.array([r["account_id"] for r in rows], pa.string()),
                     "created_at": pa.array([r["created_at"] for r in rows],
                                            pa.timestamp("us", tz="UTC")),
                     **{k: pa.array([r[k] for r in rows],
                                    pa.int64() if k == "seats" else pa.string())
                        for k in ("role", "email", "seats")}})


@given(tables=st.lists(_trait_users(), min_size=1, max_size=3),
       arrow=st.lists(st.booleans(), min_size=3, max_size=3))
@settings(max_examples=80)
def test_concat_of_logs_each_with_a_users_table_equals_one_load(
        tables: list[list[dict[str, Any]]], arrow: list[bool]) -> None:
    """Each chunk brings (part of) the users table, as Arrow or as records: the merged log
    holds what one load of every row gives, duplicates and conflicts alike."""
    events = [{"name": "signup", "timestamp": T0, "user_id": u} for u in ("u1", "u2", "u4")]
    chunks = [EventLog.from_columns(**as_lists(events[i::len(tables)]),
                                    users=_user_table(rows, arrow[i]))
              for i, rows in enumerate(tables)]
    merged = EventLog.concat(chunks)
    one = EventLog.from_records(events, users=[u for rows in tables
                                               for u in _user_table(rows, False)])
    assert snapshot(merged, sources=False) == snapshot(one, sources=False)
    # A chunk's own repeated rows were settled when it was loaded: two equal rows of one
    # chunk that conflict with another chunk's kept row are a duplicate and a rejection
    # after concat, two rejections in one load. What is kept, and how many rows are not,
    # is the same.
    for table in ("events", "users"):
        a, b = merged.report.tables.get(table), one.report.tables.get(table)
        assert (a is None) == (b is None)
        if a is not None and b is not None:
            assert (a["input"], a["kept"], a["duplicates"] + a["rejected"]) == (
                b["input"], b["kept"], b["duplicates"] + b["rejected"])


def test_concat_keeps_text_traits_from_arrow_as_arrow_columns() -> None:
    # A first score reads text traits with Arrow kernels: after concat they are still a
    # column, not a mapping per user to build (1.3 s before the first score at 255k users).
    users = pa.table({"user_id": ["u1", "u2"], "role": ["admin", None]})
    events = [{"name": "signup", "timestamp": T0, "user_id": "u1"}]
    parts = [EventLog.from_columns(**as_lists(events), users=users),
             EventLog.from_columns(**as_lists(events))]
    merged = EventLog.concat(parts)
    assert merged._user_traits.text_rows("role") is not None
    assert [dict(t) for t in merged.user_traits] == [{"role": "admin"}, {}]
    assert merged.report.tables["users"] == {"input": 2, "kept": 2, "duplicates": 0,
                                             "rejected": 0}


# -- several Parquet files ----------------------------------------------------------------


def _write_parts(table: Any, root: Path, cuts: list[int], row_group: int) -> list[Path]:
    """``table`` cut into files ``part-<k>.parquet`` under ``root`` (some in a Hive-style
    subdirectory, which sorts them the same way)."""
    bounds = [0, *sorted(c for c in set(cuts) if 0 < c < table.num_rows), table.num_rows]
    paths = []
    for k, (lo, hi) in enumerate(itertools.pairwise(bounds)):
        path = root / f"day={k:02d}" / f"part-{k}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table.slice(lo, hi - lo), path, row_group_size=row_group)
        paths.append(path)
    return paths


def _file_source(source: int | str, paths: list[Path], root: Path) -> str:
    """A row number of the whole table as the source a multi-file load gives it."""
    assert isinstance(source, int)
    for path in paths:
        n = pq.ParquetFile(path).metadata.num_rows
        if source < n:
            return f"{path.relative_to(root).as_posix()}:{source}"
        source -= n
    raise AssertionError("row past the end")


@given(load=st.one_of(rich_loads(), loads()), cuts=st.lists(st.integers(0, 40), max_size=3),
       row_group=st.integers(1, 7))
@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
def test_several_parquet_files_load_as_the_one_table_they_split(
        load: dict[str, Any], cuts: list[int], row_group: int) -> None:
    """A directory of files (or the list of them) gives the log of the whole table, with
    each rejection and each event's source naming its file and its row there."""
    import tempfile

    table = load["table"]
    props = ["plan", "seats"] if "plan" in table.column_names else None
    whole = EventLog.from_arrow(table, properties=props)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        paths = _write_parts(table, root, cuts, row_group)
        for source in (root, [root / p.relative_to(root) for p in paths]):
            log = EventLog.from_parquet(source, properties=props)
            assert snapshot(log, sources=False) == snapshot(whole, sources=False)
            assert log.report.tables == whole.report.tables
            named = (lambda s: _file_source(s, paths, root)) if isinstance(source, Path) \
                else (lambda s: f"{root}/{_file_source(s, paths, root)}")
            assert [(r.reason, r.source) for r in log.report.rejections] == [
                (r.reason, named(r.source)) for r in whole.report.rejections]
            assert [log.source(i) for i in range(len(log))] == [
                named(whole.source(i)) for i in range(len(log))]


def _events_table(n: int, *, tz: str | None = "UTC", names: str = "signup") -> Any:
    return pa.table({"user_id": [f"u{i}" for i in range(n)], "name": [names] * n,
                     "timestamp": pa.array([T0.replace(tzinfo=None)] * n,
                                           pa.timestamp("us", tz=tz))})


def test_a_directory_reads_its_parquet_files_in_path_order(tmp_path: Path) -> None:
    for day, users in (("2026-05-02", ["b"]), ("2026-05-01", ["a"]), ("2026-05-10", ["c"])):
        part = tmp_path / f"date={day}"
        part.mkdir()
        pq.write_table(pa.table({"user_id": users, "name": ["signup"],
                                 "timestamp": pa.array([T0], pa.timestamp("us", tz="UTC"))}),
                       part / "part-0.parquet")
    (tmp_path / "_SUCCESS").write_text("")  # what Spark leaves: not a Parquet file
    (tmp_path / "date=2026-05-01" / ".part-0.parquet.crc").write_text("")
    log = EventLog.from_parquet(tmp_path)
    assert [log.source(i) for i in range(len(log))] == [
        "date=2026-05-01/part-0.parquet:0", "date=2026-05-02/part-0.parquet:0",
        "date=2026-05-10/part-0.parquet:0"]
    # After concat, the log's position comes first.
    merged = EventLog.concat([log, log])
    assert merged.source(0) == "0:date=2026-05-01/part-0.parquet:0"
    assert {merged.source(i) for i in range(len(merged))} >= {
        "1:date=2026-05-10/part-0.parquet:0"}


def test_several_files_name_the_file_of_a_rejected_row(tmp_path: Path) -> None:
    pq.write_table(_events_table(3), tmp_path / "a.parquet")
    pq.write_table(_events_table(2, names=" "), tmp_path / "b.parquet")
    log = EventLog.from_parquet(tmp_path)
    assert [(r.reason, r.source) for r in log.report.rejections] == [
        ("missing_name", "b.parquet:0"), ("missing_name", "b.parquet:1")]
    with pytest.raises(ValidationError, match=r"b\.parquet:0"):
        EventLog.from_parquet([tmp_path / "a.parquet", tmp_path / "b.parquet"], strict=True)


def test_files_that_do_not_fit_together_are_an_error_naming_them(tmp_path: Path) -> None:
    pq.write_table(_events_table(1), tmp_path / "a.parquet")
    pq.write_table(_events_table(1).drop_columns(["name"]), tmp_path / "b.parquet")
    with pytest.raises(ValidationError, match=r"'b\.parquet' has no column 'name'"):
        EventLog.from_parquet(tmp_path)
    pq.write_table(_events_table(1, tz=None), tmp_path / "b.parquet")
    for tz in (None, "UTC"):  # the disagreement is named first, with or without tz=
        with pytest.raises(ValidationError, match=r"no time zone in 'b\.parquet' but has "
                                                  r"one in 'a\.parquet'"):
            EventLog.from_parquet(tmp_path, tz=tz)
    (tmp_path / "b.parquet").write_bytes(b"not parquet")
    with pytest.raises(ValidationError, match=r"cannot read '.*b\.parquet' as Parquet"):
        EventLog.from_parquet(tmp_path)
    import pqlkit.io as pio

    with pytest.raises(ValidationError, match=r"cannot read '.*b\.parquet' as Parquet"):
        pio.read_parquet([tmp_path / "b.parquet", tmp_path / "a.parquet"])
    # A damaged footer (pyarrow says so with an OSError): named, not a bare OSError.
    good = (tmp_path / "a.parquet").read_bytes()
    (tmp_path / "b.parquet").write_bytes(good[:-30] + b"\x07" * 22 + good[-8:])
    with pytest.raises(ValidationError, match=r"b\.parquet"):
        EventLog.from_parquet(tmp_path)
    # Damaged pages, found when the row group is decoded on a worker thread.
    (tmp_path / "b.parquet").write_bytes(good[:8] + b"\x55" * 52 + good[60:])
    with pytest.raises(ValidationError, match=r"row group 0 of 'b\.parquet'"):
        EventLog.from_parquet(tmp_path)
    (tmp_path / "b.parquet").unlink()
    (tmp_path / "README.md").write_text("not data")  # a directory's files are all read
    with pytest.raises(ValidationError, match=r"cannot read '.*README\.md' as Parquet"):
        EventLog.from_parquet(tmp_path)
    (tmp_path / "README.md").unlink()
    (tmp_path / "users.csv").write_text("user_id\nu1\n")
    with pytest.raises(ValidationError, match=r"users=.*cannot read '.*users\.csv' as Parquet"):
        EventLog.from_parquet(tmp_path / "a.parquet", users=[tmp_path / "users.csv"])
    (tmp_path / "users.csv").unlink()
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValidationError, match=r"no file in the directory"):
        EventLog.from_parquet(tmp_path / "empty")
    with pytest.raises(ValidationError, match="list of files is empty"):
        EventLog.from_parquet([])
    with pytest.raises(PqlkitTypeError, match="not a path"):
        EventLog.from_parquet([tmp_path / "a.parquet", 3])  # type: ignore[list-item]


def test_a_file_without_a_later_column_has_nulls_there_in_either_order(tmp_path: Path) -> None:
    # Schema evolution: the first day's export had no account_id, event_id or plan yet.
    old = pa.table({"user_id": ["u1"], "name": ["signup"],
                    "timestamp": pa.array([T0], pa.timestamp("us", tz="UTC"))})
    new = pa.table({"user_id": ["u2", "u2"], "name": ["invite", "invite"],
                    "timestamp": pa.array([T0, T0], pa.timestamp("us", tz="UTC")),
                    "account_id": ["a1", "a1"], "event_id": ["e1", "e1"],
                    "plan": ["pro", "pro"]})
    pq.write_table(old, tmp_path / "1.parquet")
    pq.write_table(new, tmp_path / "2.parquet")
    records = [{"user_id": "u1", "name": "signup", "timestamp": T0},
               *[{"user_id": "u2", "name": "invite", "timestamp": T0, "account_id": "a1",
                  "event_id": "e1", "properties": {"plan": "pro"}}] * 2]
    one = EventLog.from_records(records)
    for files in ([tmp_path / "1.parquet", tmp_path / "2.parquet"],
                  [tmp_path / "2.parquet", tmp_path / "1.parquet"]):
        log = EventLog.from_parquet(files, properties=["plan"])
        assert snapshot(log, sources=False) == snapshot(one, sources=False)
        assert log.report.counts == {"input": 3, "kept": 2, "duplicates": 1, "rejected": 0}
    import pqlkit.io as pio

    assert snapshot(pio.read_parquet(tmp_path), sources=False) == snapshot(one, sources=False)


def test_staging_and_hidden_files_are_not_read(tmp_path: Path) -> None:
    pq.write_table(_events_table(2), tmp_path / "a.parquet")
    pq.write_table(_events_table(3), tmp_path / "000000_0")  # Hive names files so
    for staging in ("_temporary/0", ".spark-staging", "_delta_log"):
        (tmp_path / staging).mkdir(parents=True)
        pq.write_table(_events_table(2), tmp_path / staging / "part.parquet")
    (tmp_path / "_SUCCESS").write_text("")
    assert EventLog.from_parquet(tmp_path).report.counts["input"] == 5


def test_links_in_a_directory_are_followed_once(tmp_path: Path) -> None:
    import os

    data, elsewhere = tmp_path / "data", tmp_path / "elsewhere"
    (data / "date=1").mkdir(parents=True)
    elsewhere.mkdir()
    pq.write_table(_events_table(2), data / "date=1" / "p.parquet")
    pq.write_table(_events_table(3), elsewhere / "p.parquet")
    os.symlink(elsewhere, data / "date=2")
    os.symlink(data, data / "date=1" / "loop")  # a link back up the tree: read once
    log = EventLog.from_parquet(data)
    assert log.report.counts["input"] == 5
    assert {log.source(i).split(":")[0] for i in range(len(log))} == {
        "date=1/p.parquet", "date=2/p.parquet"}


def test_a_file_named_twice_is_an_error_not_read_twice(tmp_path: Path) -> None:
    import os

    pq.write_table(_events_table(2), tmp_path / "a.parquet")
    pq.write_table(_events_table(1), tmp_path / "b.parquet")
    # Without event ids, a file read twice would count every event twice, silently.
    with pytest.raises(ValidationError, match=r"'.*a\.parquet' and '.*a\.parquet' are the "
                                              r"same file"):
        EventLog.from_parquet([tmp_path, tmp_path / "a.parquet"])
    with pytest.raises(ValidationError, match="same file"):
        EventLog.from_parquet([tmp_path / "b.parquet", tmp_path / "b.parquet"])
    os.symlink(tmp_path / "a.parquet", tmp_path / "c.parquet")
    with pytest.raises(ValidationError, match=r"'a\.parquet' and 'c\.parquet' are the same"):
        EventLog.from_parquet(tmp_path)
    with pytest.raises(ValidationError, match=r"users=.*same file"):
        EventLog.from_parquet(tmp_path / "b.parquet",
                              users=[tmp_path / "b.parquet", tmp_path / "b.parquet"])


def test_the_same_names_under_two_directories_keep_their_directory(tmp_path: Path) -> None:
    for d in ("d1", "d2"):
        (tmp_path / d).mkdir()
        pq.write_table(_events_table(1, names="" if d == "d2" else "signup"),
                       tmp_path / d / "part-0.parquet")
    log = EventLog.from_parquet([tmp_path / "d1", tmp_path / "d2"])
    assert [r.source for r in log.report.rejections] == [f"{tmp_path}/d2/part-0.parquet:0"]


def test_more_files_than_the_open_file_limit_load(tmp_path: Path) -> None:
    import subprocess
    import sys

    pytest.importorskip("resource")
    for k in range(120):
        pq.write_table(_events_table(1), tmp_path / f"p{k:03d}.parquet")
    # In a process allowed 64 open files (macOS allows 256 by default): the footers are
    # read and closed, and each worker thread holds one file at a time.
    code = ("import resource, sys; resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64)); "
            "import pqlkit as pk; print(len(pk.EventLog.from_parquet(sys.argv[1])))")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "120"


def test_a_binary_file_object_is_read_whole_then_decoded_on_the_threads(
        tmp_path: Path) -> None:
    import io

    table = _events_table(50)
    path = tmp_path / "e.parquet"
    pq.write_table(table, path, row_group_size=7)
    from_path = EventLog.from_parquet(path)
    with open(path, "rb") as f:
        f.read(4)  # (a caller that looked at the magic bytes first)
        from_file = EventLog.from_parquet(f)
    assert_same_log(from_file, from_path)
    with open(path, encoding="latin-1") as text, pytest.raises(PqlkitTypeError,
                                                               match="binary mode"):
        EventLog.from_parquet(text)
    assert_same_log(EventLog.from_parquet(io.BytesIO(path.read_bytes())), from_path)


def test_users_and_accounts_from_several_parquet_files(tmp_path: Path) -> None:
    # A Spark export of the users table is a directory of part files too.
    users = tmp_path / "users"
    users.mkdir()
    pq.write_table(pa.table({"user_id": ["u1", "u2"], "role": ["admin", "member"]}),
                   users / "part-0.parquet")
    pq.write_table(pa.table({"user_id": ["u3", "u1", ""], "seats": [3, 1, 2]}),
                   users / "part-1.parquet")  # an older schema: no role, but seats
    events = tmp_path / "events.parquet"
    pq.write_table(_events_table(2), events)
    rows = [{"user_id": "u1", "traits": {"role": "admin"}},
            {"user_id": "u2", "traits": {"role": "member"}},
            {"user_id": "u3", "traits": {"seats": 3}}, {"user_id": "u1", "traits": {"seats": 1}},
            {"user_id": "", "traits": {"seats": 2}}]
    one = EventLog.from_records(EventLog.from_parquet(events).events(), users=rows)
    for table in (users, sorted(users.iterdir())):
        log = EventLog.from_parquet(events, users=table)
        assert snapshot(log, sources=False) == snapshot(one, sources=False)
        assert log.report.tables == one.report.tables
        names = {r.reason: r for r in log.report.rejections}
        assert names["missing_identity"].source.endswith("part-1.parquet:2")
        assert names["conflicting_duplicate"].source.endswith("part-1.parquet:1")
        assert "part-0.parquet:0" in names["conflicting_duplicate"].message
    # A file typing the ids as integers is read value by value (an integer id 1).
    pq.write_table(pa.table({"user_id": [1]}), users / "part-2.parquet")
    mixed = EventLog.from_parquet(events, users=users)
    assert 1 in {u.user_id for u in mixed.users()}


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_zone_less_arrow_times_are_localised_as_naive_datetimes_are(unit: str) -> None:
    # pyarrow's assume_timezone read a time in the spring-forward gap as the instant before
    # the gap, and dropped summer time past 2037; a tzinfo without a name was refused.
    from datetime import timedelta, timezone

    walls = [datetime(2026, 3, 29, 2, 30),    # skipped in Paris
             datetime(2026, 10, 25, 2, 30),   # repeated in Paris
             datetime(2026, 3, 29, 1, 59, 59), datetime(2026, 3, 29, 3, 0),
             datetime(2040, 7, 1, 12, 0), datetime(1950, 1, 1, 0, 0),
             datetime(2026, 5, 30, 10, 0)]
    for tz in ("Europe/Paris", "America/New_York", timezone(timedelta(hours=2)), "UTC"):
        expected = [e.timestamp for e in EventLog.from_records(
            [{"name": "a", "user_id": f"u{i}", "timestamp": w} for i, w in enumerate(walls)],
            tz=tz).events()]
        column = pa.chunked_array([pa.array([*walls[:3], None], pa.timestamp(unit)),
                                   pa.array(walls[3:], pa.timestamp(unit))])
        table = pa.table({"name": ["a"] * 8, "user_id": [f"u{i}" for i in (0, 1, 2, 9)]
                          + [f"u{i}" for i in range(3, 7)], "timestamp": column})
        log = EventLog.from_arrow(table, tz=tz)
        assert sorted(e.timestamp for e in log.events()) == sorted(expected), tz
        assert log.report.by_reason() == {"missing_timestamp": 1}


def test_a_column_named_twice_is_an_error_naming_it(tmp_path: Path) -> None:
    # A SELECT e.*, u.user_id result: pyarrow's KeyError ("does not exist") or pandas'
    # ValueError came out, or a CSV kept the last cell silently.
    import pandas as pd

    import pqlkit.io as pio

    ts = pa.array([0, 3_600_000_000], pa.timestamp("us", tz="UTC"))
    table = pa.Table.from_arrays(
        [pa.array(["signup", "invite"]), ts, pa.array(["u1", "u2"]), pa.array(["u1", "u9"])],
        names=["name", "timestamp", "user_id", "user_id"])
    pq.write_table(table, tmp_path / "e.parquet")
    (tmp_path / "e.csv").write_text("name,timestamp,user_id,user_id\n"
                                    "signup,2026-05-01T09:00:00Z,u1,u2\n")
    for load in (lambda: EventLog.from_arrow(table),
                 lambda: EventLog.from_parquet(tmp_path / "e.parquet"),
                 lambda: pio.read_parquet(tmp_path / "e.parquet"),
                 lambda: EventLog.from_pandas(pd.DataFrame(
                     [["signup", T0, "u1", "u1"]],
                     columns=["name", "timestamp", "user_id", "user_id"])),
                 lambda: pio.read_csv(tmp_path / "e.csv")):
        with pytest.raises(ValidationError, match=r"'user_id'.* (more than once|twice)"):
            load()
    users = pd.DataFrame([["u1", "admin", "owner"]], columns=["user_id", "role", "role"])
    with pytest.raises(ValidationError, match=r"users=.*'role' more than once"):
        EventLog.from_records([], users=users)


def test_nanosecond_wall_times_at_the_edge_of_int64_do_not_wrap_around() -> None:
    # 2262-04-11T22:00 in New York is past what int64 nanoseconds hold once in UTC: it
    # wrapped around to 1677.
    wall = np.array([np.datetime64("2262-04-11T22:00:00", "ns")])
    table = pa.table({"name": ["a"], "user_id": ["u"],
                      "timestamp": pa.array(wall, pa.timestamp("ns"))})
    log = EventLog.from_arrow(table, tz="America/New_York")
    assert [e.timestamp for e in log.events()] == [datetime(2262, 4, 12, 2, 0, tzinfo=UTC)]


def test_arrow_types_pqlkit_holds_no_value_of_reject_their_rows() -> None:
    # Their storage passed for a value: a pandas Period became its count of months since
    # 1970 (672), an Interval a mapping, an Arrow interval a tuple; records refuse them.
    pd = pytest.importorskip("pandas")
    ts = pd.to_datetime(["2026-05-01T00:00:00Z"] * 3, utc=True)
    df = pd.DataFrame({"user_id": ["u1", "u2", "u3"], "name": ["a"] * 3, "timestamp": ts,
                       "month": pd.PeriodIndex(["2026-01", None, None], freq="M"),
                       "span": pd.arrays.IntervalArray.from_tuples([None, (0, 1), None])})
    log = EventLog.from_pandas(df)
    assert [(r.source, r.reason) for r in log.report.rejections] == [
        (0, "invalid_properties"), (1, "invalid_properties")]
    assert [e.user_id for e in log.events()] == ["u3"]
    interval = pa.array([pa.MonthDayNano([0, 1, 0]), None], pa.month_day_nano_interval())
    table = pa.table({"user_id": ["u1", "u2"], "name": ["a", "a"], "p": interval,
                      "timestamp": pa.array([0, 0], pa.timestamp("us", tz="UTC"))})
    log = EventLog.from_arrow(table, properties=["p"])
    assert log.report.by_reason() == {"invalid_properties": 1}
    users = pd.DataFrame({"user_id": ["u3"], "cohort": pd.PeriodIndex(["2026-01"], freq="M")})
    log = EventLog.from_pandas(df.iloc[2:][["user_id", "name", "timestamp"]], users=users)
    assert log.report.by_reason() == {"invalid_traits": 1}


def test_a_users_directory_whose_files_type_a_column_differently_loads(
        tmp_path: Path) -> None:
    # The events loader reads such files; users= refused the whole table ("Unable to
    # merge: Field user_id has incompatible types: string vs int64"), naming no file.
    ev_dir, us_dir = tmp_path / "events", tmp_path / "users"
    ts = pa.array([1_777_626_000_000_000], pa.timestamp("us", tz="UTC"))
    days = [("2026-05-01", ["u1"], ["2026-04-01T00:00:00Z"], ["free"]),
            ("2026-05-02", [42], pa.array([1_775_001_600_000_000], pa.timestamp("us", "UTC")),
             [3])]
    for day, uid, created, plan in days:
        for d in (ev_dir, us_dir):
            (d / f"date={day}").mkdir(parents=True)
        pq.write_table(pa.table({"user_id": uid, "name": ["login"], "timestamp": ts}),
                       ev_dir / f"date={day}" / "part-0.parquet")
        pq.write_table(pa.table({"user_id": uid, "created_at": created, "plan": plan}),
                       us_dir / f"date={day}" / "part-0.parquet")
    log = EventLog.from_parquet(ev_dir, users=us_dir)
    assert log.report.counts["rejected"] == 0
    users = {u.user_id: u for u in log.users()}
    assert set(users) == {42, "u1"}
    assert users[42].traits["plan"] == 3 and users["u1"].traits["plan"] == "free"
    assert users[42].created_at == datetime(2026, 4, 1, tzinfo=UTC)
    assert users["u1"].created_at == datetime(2026, 4, 1, tzinfo=UTC)


def test_parquet_decodes_into_jemalloc_when_pyarrow_has_it_and_the_default_pool_else(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    table = pa.table({"user_id": ["u1", "u2", None, "u1"], "name": ["a", "b", "a", "c"],
                      "timestamp": pa.array([3, 1, 2, 0], pa.timestamp("us", tz="UTC")),
                      "plan": ["x", None, "y", "x"]})
    path = tmp_path / "e.parquet"
    pq.write_table(table, path, row_group_size=2)
    pool = _arrow.decode_pool()
    if pool is not None:
        reader = _arrow.reopen_parquet(str(path), ["user_id"])
        before = pool.bytes_allocated()
        got = reader.read_row_group(0)
        assert pool.bytes_allocated() > before  # the row group lives in that pool
        del got
    with_pool = EventLog.from_parquet(path, properties=["plan"])
    monkeypatch.setattr(_arrow, "decode_pool", lambda: None)
    default = EventLog.from_parquet(path, properties=["plan"])
    assert snapshot(with_pool) == snapshot(default)
    assert with_pool.report.counts == default.report.counts


def test_arrow_map_values_are_mappings_as_records_hold_them(tmp_path):
    # A map (pyarrow, Parquet, DuckDB MAP) was held as a tuple of (key, value) pairs in
    # written order: the same mapping in another key order made a conflicting copy, not a
    # duplicate, and a map naming a key twice was kept.
    mt = pa.map_(pa.string(), pa.int64())
    ts = pa.array([1777626000_000000] * 3, pa.timestamp("us", tz="UTC"))
    table = pa.table({
        "name": ["a", "a", "a"], "user_id": ["u1", "u1", "u2"], "timestamp": ts,
        "event_id": ["e1", "e1", "e2"],
        "p": pa.array([[("k", 2), ("j", 3)], [("j", 3), ("k", 2)], [("k", 1), ("k", 2)]], mt),
        "q": pa.array([[{"m": [("z", 1)]}]] * 3, pa.list_(pa.struct([("m", mt)]))),
    })
    path = tmp_path / "maps.parquet"
    pq.write_table(table, path)
    records = [{"name": "a", "user_id": u, "timestamp": "2026-05-01T09:00:00Z", "event_id": e,
                "properties": {"p": p, "q": [{"m": {"z": 1}}]}}
               for u, e, p in (("u1", "e1", {"k": 2, "j": 3}), ("u1", "e1", {"j": 3, "k": 2}))]
    want = EventLog.from_records(records)
    for log in (EventLog.from_arrow(table, properties=["p", "q"]),
                EventLog.from_parquet(path, properties=["p", "q"])):
        assert log.report.counts == {"input": 3, "kept": 1, "duplicates": 1, "rejected": 1}
        assert [dict(e.properties) for e in log.events()] == [
            dict(e.properties) for e in want.events()]
        (rejection,) = log.report.rejections
        assert rejection.source == 2 and "key 'k' twice" in rejection.message
    users = pa.table({"user_id": ["u1"], "prefs": pa.array([[("b", 1), ("a", 2)]], mt)})
    log = EventLog.from_arrow(table.slice(0, 1), users=users)
    assert dict(log.user_traits[0]) == {"prefs": {"a": 2, "b": 1}}
