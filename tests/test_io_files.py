"""Tests of pqlkit.io.files: JSON lines and CSV streamed with every row accounted for."""

from __future__ import annotations

import gzip
import json
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import pqlkit.io as pio
from pqlkit import templates
from pqlkit.datasets import synthetic_saas
from pqlkit.errors import PqlkitTypeError, RejectedRowError, ValidationError
from pqlkit.eventlog import EventLog
from pqlkit.report import REASONS, LoadReport


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows),
                    encoding="utf-8")
    return path


def assert_accounted_for(report: LoadReport) -> None:
    for table, c in report.tables.items():
        assert c["input"] == c["kept"] + c["duplicates"] + c["rejected"], table
    assert report.counts["rejected"] == len(report.rejections)
    assert {r.reason for r in report.rejections} <= set(REASONS)


def columns(log: EventLog) -> dict[str, Any]:
    """Everything an engine reads from a log, as comparable values."""
    arrays = ("ts", "name_code", "user", "account", "owner_account", "user_account",
              "user_created", "user_in_table", "account_created", "account_in_table")
    out: dict[str, Any] = {a: getattr(log, a).tolist() for a in arrays}
    out.update(names=log.names, user_ids=log.user_ids, account_ids=log.account_ids,
               events=events_of(log), users=[dict(t) for t in log.user_traits],
               accounts=[dict(t) for t in log.account_traits])
    return out


def events_of(log: EventLog) -> list[tuple[Any, ...]]:
    return [(e.name, e.timestamp, e.user_id, e.account_id, e.event_id, dict(e.properties))
            for e in log.events()]


ROWS = [
    {"name": "signup", "timestamp": "2026-05-01T09:00:00Z", "user_id": "u1",
     "account_id": "a1", "event_id": "e1", "properties": {"plan": "trial"}},
    {"name": "invite", "timestamp": "2026-05-01T10:00:00+02:00", "user_id": "u1",
     "event_id": "e2"},
    {"name": "invite", "timestamp": "2026-05-01T10:00:00+02:00", "user_id": "u1",
     "event_id": "e2"},
]


# -- JSON lines ---------------------------------------------------------------------------


def test_jsonl_in_pqlkit_field_names_loads_like_from_records(tmp_path):
    log = pio.read_jsonl(write_jsonl(tmp_path / "e.jsonl", ROWS))
    assert events_of(log) == events_of(EventLog.from_records(ROWS))
    assert log.report.counts == {"input": 3, "kept": 2, "duplicates": 1, "rejected": 0}


def test_jsonl_maps_fields_reaches_into_nested_objects_and_keeps_extras(tmp_path):
    rows = [{"event": "query_run", "at": 1777626000, "who": {"id": "u1", "org": "acme"},
             "rows_returned": 120, "properties": {"engine": "duckdb"}}]
    log = pio.read_jsonl(write_jsonl(tmp_path / "e.jsonl", rows), name="event", timestamp="at",
                         user_id="who.id", account_id="who.org", epoch_unit="s")
    (e,) = log.events()
    assert (e.name, e.timestamp, e.user_id, e.account_id) == (
        "query_run", utc(2026, 5, 1, 9), "u1", "acme")
    assert dict(e.properties) == {"engine": "duckdb", "rows_returned": 120}


def test_jsonl_extra_fields_can_be_ignored_or_rejected(tmp_path):
    path = write_jsonl(tmp_path / "e.jsonl", [{**ROWS[0], "colour": "red"}])
    assert dict(pio.read_jsonl(path, extra="ignore").event(0).properties) == {"plan": "trial"}
    log = pio.read_jsonl(path, extra="reject")
    assert [(r.source, r.reason) for r in log.report.rejections] == [(1, "unknown_field")]
    assert "'colour'" in log.report.rejections[0].message
    with pytest.raises(ValidationError, match="extra must be one of"):
        pio.read_jsonl(path, extra="drop")


def test_jsonl_a_field_both_top_level_and_in_properties_is_rejected(tmp_path):
    path = write_jsonl(tmp_path / "e.jsonl", [{**ROWS[0], "plan": "pro"}])
    (r,) = pio.read_jsonl(path).report.rejections
    assert (r.reason, r.source) == ("invalid_properties", 1)
    assert "'plan'" in r.message


def test_jsonl_sources_are_line_numbers_and_blank_lines_hold_no_row(tmp_path):
    path = write_jsonl(tmp_path / "e.jsonl", [
        ROWS[0], "", "   ", "{bad json", '"a string"', {**ROWS[0], "timestamp": "2026-05-01"},
        {**ROWS[0], "user_id": None, "account_id": None, "event_id": "e9"},
    ])
    log = pio.read_jsonl(path)
    assert [(r.source, r.reason) for r in log.report.rejections] == [
        (4, "invalid_json"), (5, "not_a_mapping"), (6, "naive_timestamp"),
        (7, "missing_identity"),
    ]
    assert log.report.counts == {"input": 5, "kept": 1, "duplicates": 0, "rejected": 4}
    assert "{bad json" in log.report.rejections[0].sample


def test_jsonl_derives_no_users_table_from_events(tmp_path):
    rows = [{"name": "a", "timestamp": "2026-05-01T00:00:00Z", "user_id": "u",
             "account_id": "acme"},
            {"name": "b", "timestamp": "2026-05-02T00:00:00Z", "user_id": "u"}]
    log = pio.read_jsonl(write_jsonl(tmp_path / "e.jsonl", rows))
    assert list(log.users()) == []
    assert columns(log) == columns(EventLog.from_records(rows))


def test_jsonl_account_only_events_are_kept(tmp_path):
    path = write_jsonl(tmp_path / "e.jsonl", [
        {"name": "invoice_paid", "timestamp": "2026-05-01T00:00:00Z", "account_id": "a1"}])
    (e,) = pio.read_jsonl(path).events()
    assert (e.user_id, e.account_id) == (None, "a1")


def test_jsonl_timestamp_options(tmp_path):
    rows = [{"name": "a", "timestamp": "01/05/2026 09:00", "user_id": "u"},
            {"name": "b", "timestamp": "1777626000000", "user_id": "u"},
            {"name": "c", "timestamp": "2026-05-01 09:00", "user_id": "u"}]
    path = write_jsonl(tmp_path / "e.jsonl", rows)
    by_format = pio.read_jsonl(path, timestamp_format="%d/%m/%Y %H:%M", tz="Europe/London")
    assert [(e.name, e.timestamp) for e in by_format.events()] == [("a", utc(2026, 5, 1, 8))]
    assert [r.reason for r in by_format.report.rejections] == [
        "invalid_timestamp", "invalid_timestamp"]
    path = write_jsonl(tmp_path / "e.jsonl", rows[1:])
    by_epoch = pio.read_jsonl(path, epoch_unit="ms", tz="UTC")
    assert [(e.name, e.timestamp) for e in by_epoch.events()] == [
        ("b", utc(2026, 5, 1, 9)), ("c", utc(2026, 5, 1, 9))]
    assert [r.reason for r in pio.read_jsonl(path).report.rejections] == [
        "invalid_timestamp", "naive_timestamp"]


def test_jsonl_gzip_is_read_by_its_content(tmp_path):
    plain = write_jsonl(tmp_path / "e.jsonl", ROWS)
    packed = tmp_path / "events.data"  # no .gz suffix: the magic bytes decide
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert events_of(pio.read_jsonl(packed)) == events_of(pio.read_jsonl(plain))


def test_jsonl_users_and_accounts_tables_are_counted(tmp_path):
    log = pio.read_jsonl(write_jsonl(tmp_path / "e.jsonl", ROWS),
                         users=[{"user_id": "u1", "account_id": "a1"}, {"user_id": None}],
                         accounts=[{"account_id": "a1", "traits": {"plan": "pro"}}])
    assert log.report.tables["users"] == {"input": 2, "kept": 1, "duplicates": 0,
                                          "rejected": 1}
    assert log.report.tables["accounts"]["kept"] == 1
    assert [(r.table, r.source) for r in log.report.rejections] == [("users", 1)]
    assert_accounted_for(log.report)


def test_jsonl_strict_raises_at_the_first_bad_line(tmp_path):
    path = write_jsonl(tmp_path / "e.jsonl", [ROWS[0], ROWS[0], {"name": ""}, "{"])
    with pytest.raises(RejectedRowError) as info:
        pio.read_jsonl(path, strict=True)
    assert (info.value.reason, info.value.source) == ("missing_name", 3)


def test_jsonl_conflicting_duplicates_are_named_by_line(tmp_path):
    path = write_jsonl(tmp_path / "e.jsonl", [
        ROWS[0], {**ROWS[0], "properties": {"plan": "upgraded"}}, ROWS[0]])
    log = pio.read_jsonl(path)
    (r,) = log.report.rejections
    assert (r.source, r.reason) == (2, "conflicting_duplicate")
    assert "events[1]" in r.message  # the kept row, named by its line as well
    assert log.report.counts == {"input": 3, "kept": 1, "duplicates": 1, "rejected": 1}
    with pytest.raises(RejectedRowError) as info:
        pio.read_jsonl(path, strict=True)
    assert info.value.source == 2


def test_jsonl_future_tolerance(tmp_path):
    path = write_jsonl(tmp_path / "e.jsonl", [
        ROWS[0], {**ROWS[0], "event_id": "late", "timestamp": "2026-05-03T09:00:01Z"}])
    log = pio.read_jsonl(path, future_tolerance="2d", now="2026-05-01T09:00:00Z")
    assert [(r.source, r.reason) for r in log.report.rejections] == [(2, "future_timestamp")]
    assert "latest accepted: 2026-05-03T09:00:00+00:00" in log.report.rejections[0].message
    wall_clock = pio.read_jsonl(path, future_tolerance="2d")  # now: the wall clock
    assert len(wall_clock) == 2
    with pytest.raises(PqlkitTypeError, match="now= only applies"):
        pio.read_jsonl(path, now="2026-05-01T09:00:00Z")


def test_jsonl_bad_field_options_are_refused(tmp_path):
    with pytest.raises(PqlkitTypeError, match="user_id= must be the name of a field"):
        pio.read_jsonl(tmp_path / "e.jsonl", user_id="")
    with pytest.raises(PqlkitTypeError, match="account_id="):
        pio.read_jsonl(tmp_path / "e.jsonl", account_id=3)


def test_jsonl_loading_holds_the_rows_not_the_text(tmp_path):
    """Two files with the same events, one padded with 60 MB of fields the Segment
    adapter does not keep (context, integrations): loading the padded one must not need
    memory in proportion to its text."""
    n = 6_000
    pad = "x" * 10_000

    def messages(padded: bool) -> list[dict[str, Any]]:
        out = []
        for i in range(n):
            m = {"type": "track", "event": f"event_{i % 7}", "userId": f"u{i % 300}",
                 "messageId": f"m{i}", "timestamp": f"2026-05-01T{i % 24:02d}:00:00Z",
                 "properties": {"n": i % 5}}
            if padded:
                m["context"] = {"userAgent": pad}
            out.append(m)
        return out

    thin = write_jsonl(tmp_path / "thin.jsonl", messages(False))
    fat = write_jsonl(tmp_path / "fat.jsonl", messages(True))
    text_size = fat.stat().st_size
    assert text_size > 60_000_000

    def peak(path: Path) -> int:
        tracemalloc.start()
        try:
            log = pio.from_segment(path)
            _, top = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert len(log) == n
        return top

    thin_peak, fat_peak = peak(thin), peak(fat)
    assert fat_peak < thin_peak + 3_000_000, (thin_peak, fat_peak)
    assert fat_peak < text_size / 5


# -- CSV ----------------------------------------------------------------------------------


CSV = """event,at,user,org,seats,trial,meta
signup,2026-05-01T09:00:00Z,u1,acme,3,yes,"{""utm"": ""ads""}"
seat_added,2026-05-01T10:00:00Z,u1,acme,,no,
seat_added,2026-05-01T11:00:00Z,u2,acme,four,no,
"multi
line",2026-05-01T12:00:00Z,u1,acme,1,no,
short,row
,2026-05-01T13:00:00Z,u1,acme,1,no,
"""


def csv_log(tmp_path: Path, text: str = CSV, **options: Any) -> EventLog:
    path = tmp_path / "e.csv"
    path.write_text(text, encoding="utf-8")
    return pio.read_csv(path, **{"name": "event", "timestamp": "at", "user_id": "user",
                                 "account_id": "org", **options})


def test_csv_types_convert_cells_and_empty_cells_are_missing(tmp_path):
    log = csv_log(tmp_path, types={"seats": int, "trial": "bool", "meta": "json"})
    assert [(e.name, e.user_id, e.account_id, dict(e.properties)) for e in log.events()] == [
        ("signup", "u1", "acme", {"seats": 3, "trial": True, "meta": {"utm": "ads"}}),
        ("seat_added", "u1", "acme", {"trial": False}),
    ]
    assert [(r.source, r.reason) for r in log.report.rejections] == [
        (4, "invalid_properties"), (5, "invalid_name"), (7, "malformed_row"),
        (8, "missing_name"),
    ]
    assert "column 'seats'" in log.report.rejections[0].message
    assert_accounted_for(log.report)
    assert log.report.counts["input"] == 6


def test_csv_values_stay_text_without_types(tmp_path):
    log = csv_log(tmp_path)
    assert dict(log.event(0).properties) == {"seats": "3", "trial": "yes",
                                             "meta": '{"utm": "ads"}'}


def test_csv_ids_stay_strings_unless_typed(tmp_path):
    text = "name,timestamp,user_id\nx,2026-05-01T00:00:00Z,42\ny,2026-05-01T00:00:00Z,4.5\n"
    assert [e.user_id for e in csv_log(tmp_path, text, name="name", timestamp="timestamp",
                                       user_id="user_id", account_id=None).events()] == [
        "42", "4.5"]
    typed = csv_log(tmp_path, text, name="name", timestamp="timestamp", user_id="user_id",
                    account_id=None, types={"user_id": int})
    assert [e.user_id for e in typed.events()] == [42]
    assert [(r.source, r.reason) for r in typed.report.rejections] == [(3, "invalid_id")]


def test_csv_epoch_timestamps_gzip_and_delimiter(tmp_path):
    text = "name;ts;uid\nlogin;1777626000;u1\n"
    path = tmp_path / "e.csv.gz"
    path.write_bytes(gzip.compress(text.encode()))
    log = pio.read_csv(path, timestamp="ts", user_id="uid", delimiter=";", epoch_unit="s")
    assert [(e.name, e.timestamp) for e in log.events()] == [("login", utc(2026, 5, 1, 9))]


def test_csv_header_only_and_empty_files(tmp_path):
    assert len(csv_log(tmp_path, "event,at,user,org\n")) == 0
    empty = csv_log(tmp_path, "")
    assert empty.report.counts["input"] == 0


def test_csv_bad_types_option_is_refused(tmp_path):
    with pytest.raises(ValidationError, match=r"types\['seats'\] must be one of"):
        csv_log(tmp_path, types={"seats": "integer"})
    with pytest.raises(PqlkitTypeError, match="path of a CSV file"):
        pio.read_csv([{"a": 1}])


def test_csv_undecodable_text_is_a_malformed_row(tmp_path):
    path = tmp_path / "e.csv"
    path.write_bytes(b"name,timestamp,user_id\nok,2026-05-01T00:00:00Z,u1\n\xff\xfe,x,y\n")
    log = pio.read_csv(path)
    assert len(log) == 1
    assert [r.reason for r in log.report.rejections] == ["malformed_row"]


# -- the same events through every reader -------------------------------------------------


def test_records_jsonl_and_csv_give_the_same_log_and_scores(tmp_path):
    ds = synthetic_saas(n_accounts=8, seed=3)
    events, _, _ = ds.records()
    flat = []
    for e in events:
        row = {k: v for k, v in e.items() if k != "properties"}
        row["timestamp"] = e["timestamp"].isoformat()
        row.update(e["properties"])
        flat.append(row)
    jsonl = pio.read_jsonl(write_jsonl(tmp_path / "e.jsonl", flat))
    keys = sorted({k for row in flat for k in row})
    lines = [",".join(keys)] + [
        ",".join("" if row.get(k) is None else str(row[k]) for k in keys) for row in flat]
    (tmp_path / "e.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    numeric = {k: float for k in keys
               if any(isinstance(r.get(k), float) for r in flat)}
    numeric.update({k: int for k in keys if k not in numeric and any(
        isinstance(r.get(k), int) and not isinstance(r.get(k), bool) for r in flat)})
    csv_read = pio.read_csv(tmp_path / "e.csv", types=numeric)
    records = EventLog.from_records(events)
    assert columns(jsonl) == columns(records)
    assert columns(csv_read) == columns(records)
    model = templates.trial_scoring()
    want = model.score(records).users.to_records()
    assert model.score(jsonl).users.to_records() == want
    assert model.score(csv_read).users.to_records() == want


def test_a_truncated_gzip_file_stops_the_load_with_the_line_reached(tmp_path):
    good = "".join(json.dumps(r) + "\n" for r in ROWS * 200).encode()
    path = tmp_path / "e.jsonl.gz"
    path.write_bytes(gzip.compress(good)[:-40])
    with pytest.raises(ValidationError, match=r"truncated or corrupt after line \d+"):
        pio.read_jsonl(path)
    csv_path = tmp_path / "e.csv.gz"
    csv_path.write_bytes(gzip.compress(b"name,timestamp,user_id\n" * 2000)[:-40])
    with pytest.raises(ValidationError, match="truncated or corrupt"):
        pio.read_csv(csv_path)


def test_csv_unclosed_quote_names_the_lines_it_swallowed(tmp_path):
    log = csv_log(tmp_path, 'event,at,user,org\nx,"2026-05-01T00:00:00Z,u1,acme\ny,a,b,c\n')
    (r,) = log.report.rejections
    assert (r.source, r.reason) == (2, "malformed_row")
    assert "spans lines 2 to 3" in r.message


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_csv_unclosed_quote_in_the_last_column_does_not_swallow_rows_silently(tmp_path,
                                                                              newline):
    # The cell count matched, so the rows after it vanished into one cell, unreported.
    text = newline.join(["event,at,user,org", 'x,2026-05-01T00:00:00Z,u1,"acme',
                         "y,2026-05-01T01:00:00Z,u2,b", "z,2026-05-01T02:00:00Z,u3,c", ""])
    log = csv_log(tmp_path, text)
    assert log.report.counts == {"input": 1, "kept": 0, "duplicates": 0, "rejected": 1}
    (r,) = log.report.rejections
    assert (r.source, r.reason) == (2, "malformed_row")
    assert "never closed" in r.message and "lines 2 to 4" in r.message
    # A quoted cell that spans lines and is closed is a cell like any other.
    closed = csv_log(tmp_path, newline.join(["event,at,user,org",
                                             'x,2026-05-01T00:00:00Z,u1,"a' + newline + 'b"',
                                             "y,2026-05-01T01:00:00Z,u2,b", ""]))
    assert closed.report.counts["kept"] == 2


def test_an_unknown_epoch_unit_is_one_error_not_a_rejection_per_row(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    path.write_text('{"name": "a", "timestamp": 1, "user_id": "u"}\n', encoding="utf-8")
    with pytest.raises(ValidationError, match="epoch_unit must be one of 's', 'ms'"):
        pio.read_jsonl(path, epoch_unit="sec")


def test_csv_with_a_utf8_byte_order_mark_reads_its_first_column(tmp_path):
    # Excel's "CSV UTF-8" starts the file with a BOM; read as part of the first column's
    # name, it hid event_id, and de-duplication with it.
    text = ("event_id,name,timestamp,user_id\n"
            "e1,invite,2026-05-01T10:00:00Z,u1\n"
            "e1,invite,2026-05-01T10:00:00Z,u1\n")
    path = tmp_path / "bom.csv"
    path.write_text(text, encoding="utf-8-sig")
    for encoding in ("utf-8", "UTF8"):
        log = pio.read_csv(path, encoding=encoding)
        assert log.report.counts == {"input": 2, "kept": 1, "duplicates": 1, "rejected": 0}
        assert [(e.event_id, dict(e.properties)) for e in log.events()] == [("e1", {})]


@pytest.mark.parametrize("text", [
    "20260530100000Z", "202605301000+02:00", "2026-05-30T10:00:00+02:00:30",
    "2026-05-30T10:00:00.Z", "2026-05-30T10:00:00Z", "2026-05-30 10:00+02:00",
    "2026-05-30T10:00:00.123456-05:00", "2026-05-30T10:00:00.1234567Z", "2026-05-30X10:00Z"])
def test_file_readers_read_timestamp_text_as_records_do(tmp_path, text):
    # Python 3.11's fromisoformat takes any character between date and time: the readers'
    # fast path read "20260530100000Z" as midnight, records (dateutil) as 10:00.
    import pqlkit as pk

    def outcome(log):
        return [e.timestamp for e in log.events()] or list(log.report.by_reason())

    path = tmp_path / "e.jsonl"
    path.write_text(json.dumps({"name": "e", "timestamp": text, "user_id": "u"}) + "\n")
    csv_path = tmp_path / "e.csv"
    csv_path.write_text(f"name,timestamp,user_id\ne,{text},u\n")
    expected = outcome(pk.EventLog.from_records([{"name": "e", "timestamp": text,
                                                   "user_id": "u"}]))
    assert outcome(pio.read_jsonl(path)) == expected
    assert outcome(pio.read_csv(csv_path)) == expected


def test_log_source_names_the_input_row_of_each_event(tmp_path):
    # The file readers and adapters built the log over the kept rows: source(i) numbered
    # those, not the input rows their rejections name.
    import zipfile

    import pqlkit as pk

    csv_path = tmp_path / "e.csv"
    csv_path.write_text("name,timestamp,user_id\n,2026-05-01T00:00:00Z,u\n"
                        "a,2026-05-01T00:00:00Z,u\nb,2026-05-02T00:00:00Z,u\n")
    log = pio.read_csv(csv_path)
    assert [r.source for r in log.report.rejections] == [2]
    assert [(e.name, log.source(i)) for i, e in enumerate(log.events())] == [("a", 3), ("b", 4)]
    rows = [{"type": "track", "event": name, "userId": "u", "messageId": f"m{k}",
             "timestamp": f"2026-05-0{k + 1}T00:00:00Z"} for k, name in enumerate(["", "a", "b"])]
    log = pio.from_segment(rows)
    assert [(e.name, log.source(i)) for i, e in enumerate(log.events())] == [("a", 1), ("b", 2)]
    archive = tmp_path / "events.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("day1.jsonl", json.dumps({"name": "", "timestamp": "2026-05-01T00:00:00Z",
                                             "user_id": "u"}) + "\n" + json.dumps(
            {"name": "a", "timestamp": "2026-05-01T00:00:00Z", "user_id": "u"}) + "\n")
        z.writestr("day2.jsonl", json.dumps({"name": "b", "timestamp": "2026-05-02T00:00:00Z",
                                             "user_id": "u"}) + "\n")
    log = pio.read_jsonl(archive)
    assert [r.source for r in log.report.rejections] == ["day1.jsonl:1"]
    assert [(e.name, log.source(i)) for i, e in enumerate(log.events())] == [
        ("a", "day1.jsonl:2"), ("b", "day2.jsonl:1")]
    # And after concat, as for any log.
    assert pk.EventLog.concat([log]).source(1) == "0:day2.jsonl:1"


def test_csv_options_are_checked_before_reading(tmp_path):
    import pqlkit as pk

    path = tmp_path / "e.tsv"
    path.write_text("name\ttimestamp\tuser_id\nsignup\t2026-05-01T09:00:00Z\tu1\n")
    for kw, match in (({"delimiter": "\\t"}, "one character"), ({"delimiter": None}, "one"),
                      ({"encoding": "utf8-sig"}, "unknown encoding"),
                      ({"types": ["plan"]}, "types= maps")):
        with pytest.raises(pk.PqlkitError, match=match):
            pio.read_csv(path, **kw)
    assert len(pio.read_csv(path, delimiter="\t")) == 1
    with pytest.raises(pk.PqlkitError, match="is a set"):
        pk.EventLog.from_columns(user_id={"alice", "bob"}, name=["a", "b"],
                                 timestamp=["2026-05-01T09:00:00Z"] * 2)


def test_a_missing_data_file_is_a_pqlkit_error_that_is_still_file_not_found(tmp_path):
    import pqlkit as pk
    from pqlkit.errors import MissingFileError

    missing = tmp_path / "event.parquet"
    for load in (lambda: pk.EventLog.from_parquet(missing),
                 lambda: pio.read_parquet(missing),
                 lambda: pio.read_jsonl(tmp_path / "events.jsonl"),
                 lambda: pio.read_csv(tmp_path / "events.csv"),
                 lambda: pio.read_csv(tmp_path)):
        with pytest.raises(MissingFileError, match="check the path") as got:
            load()
        assert isinstance(got.value, FileNotFoundError)
    with pytest.raises(MissingFileError, match=r"not expanded: give the directory"):
        pk.EventLog.from_parquet(tmp_path / "*.parquet")


def test_csv_header_check_allows_dotted_fields_and_unnamed_columns(tmp_path):
    path = tmp_path / "e.csv"
    path.write_text('name,ctx\nsignup,"{""ts"": ""2026-05-01T09:00:00Z"", ""uid"": ""u1""}"\n')
    log = pio.read_csv(path, types={"ctx": "json"}, timestamp="ctx.ts", user_id="ctx.uid")
    assert [e.user_id for e in log.events()] == ["u1"]
    path.write_text("name,timestamp,user_id,,\nsignup,2026-05-01T09:00:00Z,u1,,\n")
    assert pio.read_csv(path).report.counts["kept"] == 1


def test_csv_properties_column_is_read_as_json(tmp_path: Path) -> None:
    # Every row was rejected: the cell's text went to the properties check as a string.
    path = tmp_path / "e.csv"
    path.write_text(
        "name,timestamp,user_id,props\n"
        'run,2026-05-26T15:30:00Z,u1,"{""report"": ""pipeline"", ""n"": 2}"\n'
        "run,2026-05-26T15:31:00Z,u1,\n"
        'run,2026-05-26T15:32:00Z,u1,"[1, 2]"\n'
        "run,2026-05-26T15:33:00Z,u1,{not json\n", encoding="utf-8")
    log = pio.read_csv(path, properties="props")
    assert [dict(e.properties) for e in log.events()] == [{"report": "pipeline", "n": 2}, {}]
    assert [(r.source, r.reason) for r in log.report.rejections] == [
        (4, "invalid_properties"), (5, "invalid_properties")]  # (file lines)


def test_csv_a_quoted_cell_longer_than_the_csv_modules_limit_is_one_cell(tmp_path):
    # At the csv module's 128 KiB cell limit the reader stopped inside the cell and read
    # on from there: the cell's lines became rows, and the rows after it were swallowed.
    import csv

    note = "x" * 140_000 + "\nmore text\n"
    path = tmp_path / "events.csv"
    path.write_text("name,timestamp,user_id,note\n"
                    f'signup,2026-05-01T09:00:00Z,u1,"{note}"\n'
                    "signup,2026-05-01T09:00:00Z,u2,ok\n"
                    "signup,2026-05-01T09:00:00Z,u3,bad,extra\n")
    limit = csv.field_size_limit()
    log = pio.read_csv(path)
    assert log.report.counts == {"input": 3, "kept": 2, "duplicates": 0, "rejected": 1}
    (rejection,) = log.report.rejections
    assert rejection.source == 6 and rejection.reason == "malformed_row"
    assert sorted(e.properties["note"] for e in log.events()) == sorted([note, "ok"])
    assert csv.field_size_limit() == limit  # the module's own limit is put back


def test_csv_types_naming_a_column_the_header_lacks_is_refused(tmp_path):
    # types={"seat": int} with a "seats" column left the property text, silently.
    with pytest.raises(ValidationError,
                       match=r"no column 'seat' for types=; the header is 'event', 'at', "
                             r"'user', 'org', 'seats'") as got:
        csv_log(tmp_path, types={"seat": int})
    assert "e.csv" in str(got.value)
    assert len(csv_log(tmp_path, types={"seats": int})) == 2


def test_csv_properties_naming_a_column_the_header_lacks_is_refused(tmp_path):
    path = tmp_path / "e.csv"
    path.write_text("name,timestamp,user_id,attrs\n"
                    'run,2026-05-26T15:30:00Z,u1,"{""n"": 2}"\n', encoding="utf-8")
    with pytest.raises(ValidationError,
                       match=r"no column 'props' for properties=; the header is 'name', "
                             r"'timestamp', 'user_id', 'attrs'"):
        pio.read_csv(path, properties="props")
    assert [dict(e.properties) for e in pio.read_csv(path, properties="attrs").events()] == [
        {"n": 2}]


@pytest.mark.parametrize("fmt, error, got", [
    (5, PqlkitTypeError, r"got 5 \(int\)"),
    (b"%d/%m/%Y", PqlkitTypeError, r"got b'%d/%m/%Y' \(bytes\)"),
    ("", ValidationError, "got an empty string"),
])
def test_a_timestamp_format_that_is_not_a_format_string_is_refused_up_front(tmp_path, fmt,
                                                                            error, got):
    # A non-string raised strptime's builtin TypeError, naming no option.
    jsonl = write_jsonl(tmp_path / "e.jsonl", [
        {"name": "a", "timestamp": "01/05/2026 09:00", "user_id": "u1"}])
    csv_path = tmp_path / "e.csv"
    csv_path.write_text("name,timestamp,user_id\na,01/05/2026 09:00,u1\n", encoding="utf-8")
    for read, path in ((pio.read_jsonl, jsonl), (pio.read_csv, csv_path)):
        with pytest.raises(error, match=rf"{read.__name__}: timestamp_format must be a "
                                        rf"strptime format string such as '%d/%m/%Y %H:%M', "
                                        rf"{got}"):
            read(path, timestamp_format=fmt, tz="UTC")
        assert len(read(path, timestamp_format="%d/%m/%Y %H:%M", tz="UTC")) == 1


@pytest.mark.parametrize("field", ["account_id", "event_id"])
def test_csv_account_and_event_id_columns_named_must_be_there(tmp_path, field):
    # The default account_id / event_id columns may be absent; one named otherwise and
    # misspelt lost every account (or kept every duplicate) without a word.
    text = "event,at,user,org,eid\nx,2026-05-01T00:00:00Z,u1,a1,e1\n"
    with pytest.raises(ValidationError, match=f"no column 'typo' for {field}="):
        csv_log(tmp_path, text, **{field: "typo"})
    assert len(csv_log(tmp_path, "event,at,user\nx,2026-05-01T00:00:00Z,u1\n",
                       account_id="account_id", event_id="event_id")) == 1


def test_epoch_unit_reads_the_tables_created_at_too(tmp_path):
    # The events' numbers were read in epoch_unit, the users' created_at refused "pass
    # epoch_unit='s'" (it had been passed).
    path = tmp_path / "e.csv"
    path.write_text("name,timestamp,user_id\nsignup,1777885198,u1\n")
    log = pio.read_csv(path, epoch_unit="s", users=[{"user_id": "u1",
                                                     "created_at": 1777000000}])
    assert log.report.counts["rejected"] == 0
    assert log.user_created[0] == 1777000000 * 1_000_000
