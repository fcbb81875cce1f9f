"""Tests of pqlkit.io.frames: pandas, polars and Arrow tables load like records, and results
go back out as frames."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

import pqlkit.io as pio
from pqlkit import templates
from pqlkit.datasets import synthetic_saas
from pqlkit.errors import PqlkitTypeError, RejectedRowError, ValidationError
from pqlkit.eventlog import EventLog

pd = pytest.importorskip("pandas")
pl = pytest.importorskip("polars")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

UTC = dt.UTC


def snapshot(log: EventLog) -> dict[str, Any]:
    return {
        "events": [(e.name, e.timestamp, e.user_id, e.account_id, e.event_id,
                    dict(e.properties)) for e in log.events()],
        "users": [(u.user_id, u.account_id, dict(u.traits), u.created_at) for u in log.users()],
        "accounts": [(a.account_id, dict(a.traits), a.created_at) for a in log.accounts()],
        "report": log.report.tables,
    }


@pytest.fixture(scope="module")
def dataset() -> dict[str, Any]:
    events, users, accounts = synthetic_saas(n_accounts=12, seed=11).records()
    flat: dict[str, list[Any]] = {k: [] for k in ("name", "timestamp", "user_id",
                                                  "account_id", "event_id")}
    keys = sorted({k for e in events for k in e["properties"]})
    for k in keys:
        flat[k] = []
    for e in events:
        for k in ("name", "timestamp", "user_id", "account_id", "event_id"):
            flat[k].append(e[k])
        for k in keys:
            flat[k].append(e["properties"].get(k))
    return {"events": events, "users": users, "accounts": accounts, "flat": flat}


def test_pandas_polars_arrow_and_records_give_the_same_log_and_scores(dataset):
    records = EventLog.from_records(dataset["events"], users=dataset["users"],
                                    accounts=dataset["accounts"])
    table = pa.table(dataset["flat"])
    logs = {
        "arrow": pio.from_arrow(table, users=dataset["users"], accounts=dataset["accounts"]),
        "pandas": EventLog.from_pandas(table.to_pandas(), users=dataset["users"],
                                       accounts=dataset["accounts"]),
        "polars": EventLog.from_polars(pl.from_arrow(table), users=dataset["users"],
                                       accounts=dataset["accounts"]),
    }
    if hasattr(pl.DataFrame, "__arrow_c_stream__"):  # (polars 1.0 did not expose it)
        logs["c-stream"] = pio.from_arrow(pl.from_arrow(table), users=dataset["users"],
                                          accounts=dataset["accounts"])
    want = snapshot(records)
    model = templates.trial_scoring()
    scores = model.score(records).users.to_records()
    for path, log in logs.items():
        assert snapshot(log) == want, path
        assert model.score(log).users.to_records() == scores, path


def test_frame_users_and_accounts_tables_give_traits(dataset):
    users = pd.DataFrame(dataset["users"][:3]).drop(columns=["traits"])
    users["role"] = ["admin", None, "editor"]
    log = EventLog.from_pandas(pd.DataFrame({
        "name": ["x"], "timestamp": [dt.datetime(2026, 5, 1, tzinfo=UTC)], "user_id": ["u"]}),
        users=users)
    by_id = {u.user_id: dict(u.traits) for u in log.users()}
    first, second, third = (row["user_id"] for row in dataset["users"][:3])
    assert by_id[first] == {"role": "admin"}
    assert by_id[second] == {}
    assert by_id[third] == {"role": "editor"}


def test_frame_entity_columns_are_fields_of_their_own_kind_only():
    events = pd.DataFrame({"name": ["x"], "timestamp": [dt.datetime(2026, 5, 1, tzinfo=UTC)],
                           "user_id": ["u1"], "account_id": ["a1"]})
    # user_id is a field of a user row, but of an account row only a trait.
    accounts = pd.DataFrame({"account_id": ["a1"], "user_id": ["owner"], "plan": ["pro"]})
    for frame in (accounts, pl.from_pandas(accounts)):
        log = (EventLog.from_pandas(events, accounts=frame) if isinstance(frame, pd.DataFrame)
               else EventLog.from_polars(pl.from_pandas(events), accounts=frame))
        assert not log.report.rejections
        assert dict(next(log.accounts()).traits) == {"user_id": "owner", "plan": "pro"}
    # A column of trait mappings is read row by row, the same way.
    nested = pd.DataFrame({"account_id": ["a1"], "user_id": ["owner"],
                           "traits": [{"plan": "pro"}]})
    log = EventLog.from_pandas(events, accounts=nested)
    assert dict(next(log.accounts()).traits) == {"user_id": "owner", "plan": "pro"}


def test_a_zone_less_created_at_frame_column_needs_tz():
    events = pd.DataFrame({"name": ["x"], "timestamp": [dt.datetime(2026, 5, 1, tzinfo=UTC)],
                           "user_id": ["u1"]})
    users = pd.DataFrame({"user_id": ["u1"], "created_at": pd.to_datetime(["2026-04-01"])})
    with pytest.raises(ValidationError, match=r"users=.*'created_at'.*tz="):
        EventLog.from_pandas(events, users=users)
    log = EventLog.from_pandas(events, users=users, tz="UTC")
    assert next(log.users()).created_at == dt.datetime(2026, 4, 1, tzinfo=UTC)


def test_column_mapping_and_property_selection():
    df = pd.DataFrame({
        "event": ["signup", "invite"], "uid": ["u1", "u1"], "org": ["acme", "acme"],
        "at": pd.to_datetime(["2026-05-01 09:00", "2026-05-01 10:00"], utc=True),
        "seats": [1, 2], "utm": ["ads", None], "internal": ["x", "y"],
    })
    mapped = dict(name="event", user_id="uid", account_id="org", timestamp="at")
    log = EventLog.from_pandas(df, **mapped, properties=["seats", "utm"])
    assert [(e.account_id, dict(e.properties)) for e in log.events()] == [
        ("acme", {"seats": 1, "utm": "ads"}), ("acme", {"seats": 2})]
    renamed = EventLog.from_pandas(df, **mapped, properties={"n_seats": "seats"})
    assert dict(renamed.event(0).properties) == {"n_seats": 1}
    every = EventLog.from_pandas(df, **mapped)
    assert set(every.event(0).properties) == {"seats", "utm", "internal"}
    with pytest.raises(ValidationError, match="user_id='user' is not a column"):
        EventLog.from_pandas(df, name="event", user_id="user", timestamp="at")
    with pytest.raises(PqlkitTypeError, match=r"write \['seats'\]"):
        EventLog.from_pandas(df, **mapped, properties="seats")


def test_naive_timestamp_columns_need_a_zone():
    df = pd.DataFrame({"name": ["x"], "user_id": ["u"],
                       "timestamp": [dt.datetime(2026, 5, 1, 9)]})
    with pytest.raises(ValidationError, match=r"without a time zone.*tz='UTC'"):
        EventLog.from_pandas(df)
    paris = EventLog.from_pandas(df, tz="Europe/Paris")
    assert paris.event(0).timestamp == dt.datetime(2026, 5, 1, 7, tzinfo=UTC)
    polars = EventLog.from_polars(pl.from_pandas(df), tz="Europe/Paris")
    assert polars.event(0).timestamp == paris.event(0).timestamp


def test_missing_values_follow_each_library():
    # pandas writes missing floats as NaN: a missing value, so an absent property
    df = pd.DataFrame({"name": ["a", "b"], "user_id": ["u", "u"],
                       "timestamp": pd.to_datetime(["2026-05-01", "2026-05-02"], utc=True),
                       "score": [1.5, float("nan")]})
    log = EventLog.from_pandas(df)
    assert [dict(e.properties) for e in log.events()] == [{"score": 1.5}, {}]
    # polars tells null (missing) from NaN (a value, not finite: rejected)
    pdf = pl.DataFrame({"name": ["a", "b", "c"], "user_id": ["u", "u", "u"],
                        "timestamp": [dt.datetime(2026, 5, d, tzinfo=UTC) for d in (1, 2, 3)],
                        "score": [1.5, None, float("nan")]})
    plog = EventLog.from_polars(pdf)
    assert [dict(e.properties) for e in plog.events()] == [{"score": 1.5}, {}]
    assert [(r.source, r.reason) for r in plog.report.rejections] == [
        (2, "non_finite_property")]


def test_rejected_rows_are_named_by_their_row_in_the_frame():
    df = pd.DataFrame({"name": ["ok", "", "ok2", "late"], "user_id": ["u", "u", None, "u"],
                       "timestamp": pd.to_datetime(["2026-05-01", "2026-05-01", "2026-05-01",
                                                    "2026-07-01"], utc=True)})
    log = EventLog.from_pandas(df, future_tolerance="1d", now="2026-05-01T00:00:00Z")
    assert [(r.source, r.reason) for r in log.report.rejections] == [
        (1, "missing_name"), (2, "missing_identity"), (3, "future_timestamp")]
    assert log.report.counts == {"input": 4, "kept": 1, "duplicates": 0, "rejected": 3}
    with pytest.raises(RejectedRowError) as info:
        EventLog.from_pandas(df, future_tolerance="1d", now="2026-05-01T00:00:00Z",
                             strict=True)
    assert info.value.source == 1


@pytest.mark.parametrize("column", [
    pa.array(["2026-05-01T00:00:00Z", "2026-07-01T00:00:00+02:00", "junk"]),
    pa.array([1777593600, 1782856800, None], pa.int64()),
    pa.array([1777593600.0, 1782856800.0, None], pa.float64()),
])
def test_future_tolerance_reads_text_and_epoch_columns(column):
    table = pa.table({"name": ["a", "b", "c"], "user_id": ["u"] * 3, "timestamp": column})
    log = pio.from_arrow(table, epoch_unit="s", future_tolerance="1d",
                         now="2026-05-01T00:00:00Z")
    assert [e.name for e in log.events()] == ["a"]
    assert log.report.rejections[0].source == 1
    assert log.report.rejections[0].reason == "future_timestamp"
    assert [r.source for r in log.report.rejections] == [1, 2]  # row 2 is junk or missing
    assert log.report.counts["input"] == 3


def test_parquet_file(tmp_path):
    path = tmp_path / "e.parquet"
    pq.write_table(pa.table({
        "event": ["signup", "invite", ""], "uid": ["u1", "u1", "u2"],
        "at": pa.array([dt.datetime(2026, 5, 1, 9), dt.datetime(2026, 5, 1, 10),
                        dt.datetime(2026, 5, 1, 11)], pa.timestamp("ms")),
        "plan": ["trial", None, "pro"],
    }), path)
    with pytest.raises(ValidationError, match="tz="):
        pio.read_parquet(path, name="event", user_id="uid", timestamp="at")
    log = pio.read_parquet(path, name="event", user_id="uid", timestamp="at", tz="UTC")
    assert [(e.name, dict(e.properties)) for e in log.events()] == [
        ("signup", {"plan": "trial"}), ("invite", {})]
    assert [(r.source, r.reason) for r in log.report.rejections] == [(2, "missing_name")]


def test_parquet_directory(tmp_path):
    for day in (1, 2):
        pq.write_table(pa.table({
            "event": ["signup", ""], "uid": [f"u{day}", "u9"],
            "at": pa.array([dt.datetime(2026, 5, day, 9)] * 2, pa.timestamp("ms")),
            "plan": ["trial", "pro"],
        }), tmp_path / f"day-{day}.parquet")
    log = pio.read_parquet(tmp_path, name="event", user_id="uid", timestamp="at", tz="UTC")
    assert [(e.user_id, dict(e.properties)) for e in log.events()] == [
        ("u1", {"plan": "trial"}), ("u2", {"plan": "trial"})]
    assert [(r.source, r.reason) for r in log.report.rejections] == [
        ("day-1.parquet:1", "missing_name"), ("day-2.parquet:1", "missing_name")]
    # future_tolerance= reads a directory too (it took a single file).
    late = pio.read_parquet(tmp_path, name="event", user_id="uid", timestamp="at", tz="UTC",
                            future_tolerance="1d", now="2026-04-30T09:00:00Z")
    assert [(r.source, r.reason) for r in late.report.rejections] == [
        ("day-1.parquet:1", "missing_name"), ("day-2.parquet:0", "future_timestamp"),
        ("day-2.parquet:1", "missing_name")]


def test_frame_loaders_refuse_other_objects():
    with pytest.raises(PqlkitTypeError, match="pandas DataFrame"):
        EventLog.from_pandas({"name": ["x"]})
    with pytest.raises(PqlkitTypeError, match="collect"):
        EventLog.from_polars(pl.DataFrame({"name": ["x"]}).lazy())
    with pytest.raises(PqlkitTypeError, match="Arrow C stream"):
        pio.from_arrow([{"name": "x"}])


def test_arrow_record_batches_and_readers_load():
    table = pa.table({"name": ["x", "y"], "user_id": ["u", "u"],
                      "timestamp": pa.array([dt.datetime(2026, 5, 1, tzinfo=UTC)] * 2,
                                            pa.timestamp("us", tz="UTC"))})
    want = snapshot(pio.from_arrow(table))
    assert snapshot(pio.from_arrow(table.to_batches()[0])) == want
    assert snapshot(pio.from_arrow(pa.RecordBatchReader.from_batches(
        table.schema, table.to_batches()))) == want


def test_results_come_back_as_each_librarys_frame(dataset):
    log = EventLog.from_records(dataset["events"], users=dataset["users"],
                                accounts=dataset["accounts"])
    result = templates.trial_scoring().score(log)
    records = result.users.to_records()
    frames = {
        "pandas": result.users.to_pandas().to_dict("records"),
        "polars": result.users.to_polars().to_dicts(),
        "arrow": result.users.to_arrow().to_pylist(),
    }
    for library, rows in frames.items():
        assert [r["user_id"] for r in rows] == [r["user_id"] for r in records], library
        assert [r["score"] for r in rows] == [r["score"] for r in records], library
    assert result.accounts.to_polars().columns == result.accounts.columns


def test_to_polars_makes_mixed_type_id_columns_text():
    log = EventLog.from_records([
        {"name": "x", "timestamp": "2026-05-01T00:00:00Z", "user_id": 7},
        {"name": "x", "timestamp": "2026-05-01T00:00:00Z", "user_id": "u"},
    ])
    frame = templates.trial_scoring().score(log).users.to_polars()
    assert frame["user_id"].to_list() == ["7", "u"]


def test_a_pandas_column_mixing_kinds_of_values_is_a_clear_error():
    df = pd.DataFrame({"name": ["a", "b"], "user_id": ["u", "u"],
                       "timestamp": pd.to_datetime(["2026-05-01"] * 2, utc=True),
                       "junk": pd.Series([False, 0], dtype=object)})
    with pytest.raises(PqlkitTypeError, match=r"astype\(str\)"):
        EventLog.from_pandas(df)


def test_parquet_reads_only_the_mapped_columns_and_names_missing_ones(tmp_path):
    path = tmp_path / "e.parquet"
    pq.write_table(pa.table({
        "name": ["a"], "user_id": ["u"], "skip_me": [1], "keep": ["k"],
        "timestamp": pa.array([dt.datetime(2026, 5, 1)], pa.timestamp("us", tz="UTC")),
    }), path)
    log = pio.read_parquet(path, properties=["keep"], future_tolerance="1d",
                           now="2026-05-01T00:00:00Z")
    assert dict(log.event(0).properties) == {"keep": "k"}
    with pytest.raises(ValidationError, match="timestamp='at' is not a column"):
        pio.read_parquet(path, timestamp="at")


@pytest.mark.parametrize("frame", ["pandas", "polars"])
@pytest.mark.parametrize("loader", ["from_records", "from_columns", "from_arrow"])
def test_a_users_frame_is_read_by_rows_by_every_loader(frame, loader):
    # Iterating a frame gives its column names: they were counted (and rejected) as rows.
    lib = pd if frame == "pandas" else pl
    users = lib.DataFrame({"user_id": ["u1", "u2", "u3"], "account_id": ["A", "A", "B"],
                           "plan": ["pro", None, "free"]})
    events = [{"name": "a", "timestamp": "2026-05-01T00:00:00Z", "user_id": "u1"}]
    if loader == "from_records":
        log = EventLog.from_records(events, users=users)
    elif loader == "from_columns":
        log = EventLog.from_columns(user_id=["u1"], name=["a"],
                                       timestamp=["2026-05-01T00:00:00Z"], users=users)
    else:
        log = EventLog.from_arrow(pa.table({
            "user_id": ["u1"], "name": ["a"],
            "timestamp": pa.array([0], pa.timestamp("us", tz="UTC"))}), users=users)
    assert log.report.tables["users"] == {"input": 3, "kept": 3, "duplicates": 0,
                                          "rejected": 0}
    assert {u.user_id: (u.account_id, dict(u.traits)) for u in log.users()} == {
        "u1": ("A", {"plan": "pro"}), "u2": ("A", {}), "u3": ("B", {"plan": "free"})}


def test_an_object_column_mixing_naive_and_aware_datetimes_reads_each_as_records_do():
    # Arrow gave every value the first one's kind: a naive one was read as UTC, or an
    # aware one re-zoned by tz=, depending on the row order.
    aware = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    naive = dt.datetime(2026, 5, 1, 15, 0)
    for order in ([aware, naive, pd.NaT], [naive, pd.NaT, aware]):
        rows = [{"name": f"e{i}", "user_id": "u", "timestamp": v} for i, v in enumerate(order)]
        df = pd.DataFrame({"name": [r["name"] for r in rows], "user_id": ["u"] * 3,
                           "timestamp": pd.Series(order, dtype=object)})
        for tz in (None, "Europe/Paris"):
            got = pio.from_pandas(df, tz=tz)
            want = EventLog.from_records(
                [{**r, "timestamp": None if r["timestamp"] is pd.NaT else r["timestamp"]}
                 for r in rows], tz=tz)
            assert [(e.name, e.timestamp) for e in got.events()] == [
                (e.name, e.timestamp) for e in want.events()]
            assert got.report.by_reason() == want.report.by_reason()


def test_a_frame_where_rows_are_expected_is_refused_naming_its_loader():
    # Iterating a frame gives its column names: every "row" was rejected, none loaded.
    df = pd.DataFrame({"name": ["a", "b"], "user_id": ["u1", "u2"],
                       "timestamp": pd.to_datetime(["2026-05-02T10:00:00Z"] * 2, utc=True)})
    for frame, loader in ((df, "from_pandas"), (pl.from_pandas(df), "from_polars"),
                          (pa.Table.from_pandas(df), "from_arrow")):
        with pytest.raises(PqlkitTypeError, match=f"EventLog.{loader}"):
            EventLog.from_records(frame)
        with pytest.raises(PqlkitTypeError, match=f"{loader}"):
            pio.read_jsonl(frame)
        with pytest.raises(PqlkitTypeError, match=f"{loader}"):
            pio.from_segment(frame)


def test_score_loads_a_frame_by_its_columns_and_warns_of_rejected_rows():
    import warnings

    import pqlkit as pk
    from pqlkit.errors import RejectedRowsWarning

    model = pk.ScoringModel(name="m", threshold=1, rules=[
        pk.Rule("a", pk.exists("a"), points=1)])
    df = pd.DataFrame({"name": ["a", "a"], "user_id": ["u1", "u2"],
                       "timestamp": pd.to_datetime(["2026-05-02T10:00:00Z"] * 2, utc=True)})
    for data in (df, pl.from_pandas(df), pa.Table.from_pandas(df)):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert len(model.score(data).users) == 2
    rows = [{"name": "a", "timestamp": "2026-05-02T10:00:00Z", "user_id": "u1"},
            {"name": "a", "timestamp": "2026-05-02 10:00", "user_id": "u2"}]
    with pytest.warns(RejectedRowsWarning, match=r"rejected 1 \(naive_timestamp: 1\)"):
        result = model.score(rows)
    assert [r["user_id"] for r in result.users] == ["u1"]


def test_account_only_event_frames_load_with_user_id_none():
    # The frame loaders stopped on a bare AssertionError (name=/timestamp=None: KeyError).
    table = pa.table({"name": ["seat_added"], "account_id": ["acme"],
                      "timestamp": pa.array([1777626000000000], pa.timestamp("us", tz="UTC"))})
    df = table.to_pandas()
    for load in (lambda: EventLog.from_pandas(df, user_id=None),
                 lambda: EventLog.from_polars(pl.from_pandas(df), user_id=None),
                 lambda: pio.from_arrow(table, user_id=None),
                 lambda: EventLog.from_arrow(table, user_id=None)):
        log = load()
        assert [(e.user_id, e.account_id) for e in log.events()] == [(None, "acme")]
    with pytest.raises(ValidationError, match="need a user_id or an account_id"):
        EventLog.from_pandas(df, user_id=None, account_id=None)
    for kw in ({"name": None}, {"timestamp": None}):
        with pytest.raises(PqlkitTypeError, match="must name a column"):
            EventLog.from_pandas(df, user_id=None, **kw)
        with pytest.raises(PqlkitTypeError, match="must name a column"):
            EventLog.from_arrow(table, user_id=None, **kw)


def test_timestamp_property_and_trait_columns_hold_moments_as_records_do(tmp_path):
    # A tz-aware timestamp column (a Segment export's received_at, a trial's end date)
    # was refused by every column loader: "property values must be strings, numbers...".
    import numpy as np

    import pqlkit as pk

    ends = [dt.datetime(2026, 6, 15, tzinfo=UTC), None, dt.datetime(2026, 5, 2, 3, tzinfo=UTC)]
    rows = [{"name": "trial", "timestamp": dt.datetime(2026, 5, 1, i, tzinfo=UTC),
             "user_id": f"u{i}", **({"properties": {"ends": e}} if e else {})}
            for i, e in enumerate(ends)]
    table = pa.table({"user_id": [r["user_id"] for r in rows], "name": ["trial"] * 3,
                      "timestamp": pa.array([r["timestamp"] for r in rows],
                                            pa.timestamp("us", tz="UTC")),
                      "ends": pa.array(ends, pa.timestamp("ms", tz="Europe/Paris"))})
    pq.write_table(table, tmp_path / "e.parquet")
    model = pk.ScoringModel(name="m", threshold=1, rules=[pk.Rule(
        "ending", pk.count("trial", where=pk.prop("ends") <= pk.at("2026-06-01T00:00:00Z")),
        points_per=1)])
    logs = {
        "records": EventLog.from_records(rows),
        "arrow": EventLog.from_arrow(table, properties=["ends"]),
        "pandas": EventLog.from_pandas(table.to_pandas()),
        "polars": EventLog.from_polars(pl.from_arrow(table)),
        "parquet": EventLog.from_parquet(tmp_path / "e.parquet", properties=["ends"]),
        "columns numpy": EventLog.from_columns(
            user_id=table["user_id"], name=table["name"], timestamp=table["timestamp"],
            properties={"ends": np.array(["2026-06-15", "NaT", "2026-05-02T03"],
                                         dtype="datetime64[s]")}),
    }
    want = snapshot(logs["records"])
    for way, log in logs.items():
        assert snapshot(log)["events"] == want["events"], way
        assert model.score(log, as_of="2026-06-01T00:00:00Z").users["u2"]["ending"] == 1, way
    users = table.select(["user_id"]).append_column("ends", table["ends"])
    log = EventLog.from_columns(user_id=[], name=[], timestamp=[], users=users)
    assert [dict(u.traits) for u in log.users()] == [
        {"ends": e} if e else {} for e in ends]
    # Wall-clock times without a zone are refused, naming the column (DESIGN §3.1).
    naive = table.set_column(3, "ends", pa.array([None, None, None], pa.timestamp("us")))
    with pytest.raises(ValidationError, match="property 'ends' column holds timestamps "
                                              "without a time zone"):
        EventLog.from_arrow(naive, properties=["ends"])
    with pytest.raises(ValidationError, match="trait 'ends' column holds timestamps"):
        EventLog.from_columns(user_id=[], name=[], timestamp=[],
                              users=naive.select(["user_id", "ends"]))


def test_every_event_loader_takes_future_tolerance_and_now(tmp_path):
    # EventLog.from_arrow, from_parquet and from_columns did not take them (a TypeError),
    # though the docs say every loader does. A late row is rejected before duplicates
    # are looked for, as from records.
    ts = [dt.datetime(2026, 5, 1, tzinfo=UTC), dt.datetime(2030, 1, 1, tzinfo=UTC),
          dt.datetime(2026, 5, 2, tzinfo=UTC)]
    cols = {"user_id": ["u1", "u2", "u3"], "name": ["signup"] * 3,
            "event_id": ["e1", "e1", "e3"]}
    table = pa.table({**cols, "timestamp": pa.array(ts, pa.timestamp("us", tz="UTC"))})
    pq.write_table(table, tmp_path / "e.parquet")
    kw = {"future_tolerance": "1d", "now": "2026-05-10T00:00:00Z"}
    logs = {
        "records": EventLog.from_records(
            [{"user_id": u, "name": "signup", "event_id": e, "timestamp": t}
             for u, e, t in zip(cols["user_id"], cols["event_id"], ts, strict=True)], **kw),
        "columns": EventLog.from_columns(**cols, timestamp=ts, **kw),
        "arrow": EventLog.from_arrow(table, **kw),
        "parquet": EventLog.from_parquet(tmp_path / "e.parquet", **kw),
        "pandas": EventLog.from_pandas(table.to_pandas(), **kw),
    }
    for way, log in logs.items():
        assert log.report.counts == {"input": 3, "kept": 2, "duplicates": 0,
                                     "rejected": 1}, way
        (r,) = log.report.rejections
        assert (r.source, r.reason) == (1, "future_timestamp"), way
        assert r.message == logs["records"].report.rejections[0].message, way
    with pytest.raises(RejectedRowError, match="future_timestamp"):
        EventLog.from_parquet(tmp_path / "e.parquet", strict=True, **kw)


def test_a_users_frame_column_arrow_cannot_type_is_a_pqlkit_error() -> None:
    # The events frame's was; the users frame's escaped as pyarrow's ArrowTypeError (and a
    # sparse column as a bare TypeError).
    users = pd.DataFrame({"user_id": ["u1", "u2"], "account_id": ["a1", 3.5]})
    events = pd.DataFrame({"user_id": ["u1"], "name": ["login"],
                           "timestamp": pd.to_datetime(["2026-05-01T09:00:00Z"], utc=True)})
    with pytest.raises(PqlkitTypeError, match="from_pandas users=: a column cannot become"):
        EventLog.from_pandas(events, users=users)
    with pytest.raises(PqlkitTypeError, match="users=: a column cannot become"):
        EventLog.from_records([{"user_id": "u1", "name": "login",
                                   "timestamp": "2026-05-01T09:00:00Z"}], users=users)
    sparse = events.assign(seats=pd.arrays.SparseArray([1.0]))
    with pytest.raises(PqlkitTypeError, match="from_pandas: a column cannot become"):
        EventLog.from_pandas(sparse)


def test_pandas_object_columns_keep_their_values_as_records_do():
    # Arrow typed a column of dicts as a struct (each dict gained every other row's keys,
    # as None) and a column of ints and floats as floats (7 became 7.0): a conflicting
    # copy became a duplicate, and a distinct() count fell.
    t = "2026-05-01T09:00:00Z"
    carts = [{"plan": "pro"}, {"plan": "pro", "coupon": None}, {"plan": "pro"}, {"seats": 3}]
    seats = [1, 1.0, 7, 2.5]
    tags = [[1], [1.0], [1, 2.5], None]
    eids = ["e1", "e1", None, None]
    records = [{"name": "checkout", "timestamp": t, "user_id": "u1", "event_id": e,
                "properties": {k: v for k, v in (("cart", c), ("seats", s), ("tags", g))
                               if v is not None}}
               for e, c, s, g in zip(eids, carts, seats, tags, strict=True)]
    df = pd.DataFrame({"name": ["checkout"] * 4, "timestamp": pd.to_datetime([t] * 4, utc=True),
                       "user_id": ["u1"] * 4, "event_id": eids, "cart": carts,
                       "seats": pd.Series(seats, dtype=object), "tags": tags})
    users = pd.DataFrame({"user_id": ["u1"], "prefs": [{"a": 1}]})
    want = EventLog.from_records(records, users=[{"user_id": "u1", "traits": {"prefs": {"a": 1}}}])
    got = EventLog.from_pandas(df, users=users)
    assert got.report.counts == want.report.counts == {
        "input": 5, "kept": 4, "duplicates": 0, "rejected": 1}  # (the user row counts)
    assert [r.message for r in got.report.rejections] == [
        r.message for r in want.report.rejections]
    assert [(e.timestamp, dict(e.properties)) for e in got.events()] == [
        (e.timestamp, dict(e.properties)) for e in want.events()]
    assert [type(e.properties["seats"]) for e in got.events()] == [float, int, float]
    assert dict(got.user_traits[0]) == {"prefs": {"a": 1}}
    import pqlkit as pk

    model = pk.ScoringModel(name="m", threshold=0, rules=[
        pk.Rule("carts", pk.distinct("cart", of="checkout"), points_per=1)])
    assert model.score(got).users["u1"]["score"] == model.score(want).users["u1"]["score"] == 3


def test_polars_object_and_128_bit_columns_are_read_as_their_values():
    # An Object column reached the loader as the objects' memory addresses (each row
    # rejected as "bytes"), and an Int128 column made pyarrow raise, even when skipped.
    ts = pl.Series([dt.datetime(2026, 5, 1, 9)] * 2).dt.replace_time_zone("UTC")
    int128 = getattr(pl, "Int128", None)  # (polars 1.18 and later)
    df = pl.DataFrame({"name": ["a", "b"], "timestamp": ts,
                       "user_id": pl.Series(["u1", 7], dtype=pl.Object),
                       "big": (pl.Series([2**100, None], dtype=int128) if int128 else
                               pl.Series([2**100, None], dtype=pl.Object)),
                       "o": pl.Series([{"k": 1}, [1, 2]], dtype=pl.Object)})
    records = [{"name": "a", "user_id": "u1", "timestamp": "2026-05-01T09:00:00Z",
                "properties": {"big": 2**100, "o": {"k": 1}}},
               {"name": "b", "user_id": 7, "timestamp": "2026-05-01T09:00:00Z",
                "properties": {"o": [1, 2]}}]
    users = pl.DataFrame({"user_id": ["u1"], "o": pl.Series([{"k": 1}], dtype=pl.Object)})
    got = EventLog.from_polars(df, users=users)
    want = EventLog.from_records(records, users=[{"user_id": "u1", "traits": {"o": {"k": 1}}}])
    assert got.report.counts == want.report.counts
    assert got.user_ids == want.user_ids == (7, "u1")
    assert [dict(e.properties) for e in got.events()] == [
        dict(e.properties) for e in want.events()]
    assert [dict(t) for t in got.user_traits] == [{}, {"o": {"k": 1}}]
    assert EventLog.from_polars(df, properties=[]).report.counts["kept"] == 2


PROPERTY_RECORDS = [
    {"user_id": "u1", "name": "a", "timestamp": "2026-05-01T00:00:00Z",
     "properties": {"plan": "pro", "seats": 3}},
    {"user_id": "u1", "name": "b", "timestamp": "2026-05-02T00:00:00Z", "properties": None},
    {"user_id": "u2", "name": "a", "timestamp": "2026-05-03T00:00:00Z",
     "properties": {"seats": 7, "ctx": {"page": "/pricing"}}},
]


def _frame_logs() -> dict[str, Any]:
    import pqlkit as pk

    typed = pl.DataFrame(PROPERTY_RECORDS[:2]).with_columns(
        pl.col("timestamp").str.to_datetime(time_zone="UTC"))
    return {
        "pandas": EventLog.from_pandas(pd.DataFrame(PROPERTY_RECORDS)),
        "io.from_pandas": pk.io.from_pandas(pd.DataFrame(PROPERTY_RECORDS)),
        "polars struct": EventLog.from_polars(typed),
        "arrow struct": pk.io.from_arrow(pa.Table.from_pylist(PROPERTY_RECORDS)),
        "arrow map": pk.io.from_arrow(pa.table({
            "user_id": ["u1", "u1"], "name": ["a", "b"],
            "timestamp": [r["timestamp"] for r in PROPERTY_RECORDS[:2]],
            "properties": pa.array([[("plan", "pro"), ("seats", "3")], None],
                                   pa.map_(pa.string(), pa.string()))})),
    }


def test_a_properties_column_of_mappings_holds_each_events_properties() -> None:
    # pd.DataFrame(records) keeps the records' properties field as a column of dicts: it
    # was one property named "properties", and prop("plan") matched nothing.
    import pqlkit as pk

    model = pk.ScoringModel(name="m", threshold=1, rules=[
        pk.Rule("pro", pk.exists("a", where=pk.prop("plan") == "pro"), points=1)])
    for label, got in _frame_logs().items():
        want = EventLog.from_records(PROPERTY_RECORDS[:len(got)] if label != "arrow map" else
                                     [{**r, "properties": r["properties"] and {
                                         "plan": "pro", "seats": "3"}}
                                      for r in PROPERTY_RECORDS[:2]])
        assert [dict(e.properties) for e in got.events()] == [
            dict(e.properties) for e in want.events()], label
        assert got.report.counts == want.report.counts, label
        scores = {r["user_id"]: r["score"]
                  for r in model.score(got, as_of="2026-06-01T00:00:00Z").users}
        assert scores["u1"] == 1, label


def test_a_properties_column_is_read_as_it_is_when_not_all_mappings_or_named() -> None:
    df = pd.DataFrame(PROPERTY_RECORDS)
    # Named in properties=: the column as one property (a mapping value).
    log = EventLog.from_pandas(df, properties=["properties"])
    assert dict(log.properties(0)) == {"properties": {"plan": "pro", "seats": 3}}
    # Text in the column: one property, as before.
    text = df.assign(properties=["x", None, "y"])
    assert [dict(e.properties) for e in EventLog.from_pandas(text).events()] == [
        {"properties": "x"}, {}, {"properties": "y"}]
    # A key that is also a column: which one is meant?
    clash = df.assign(plan=["free", None, None])
    with pytest.raises(ValidationError, match="'plan' is both a column and a key of the "
                                              "'properties' column"):
        EventLog.from_pandas(clash)
