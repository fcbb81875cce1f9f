"""Hypothesis: garbage of every shape never breaks a reader with anything but pqlkit's own
error, and every row is always accounted for (input = kept + duplicates + rejected)."""

from __future__ import annotations

import json
import math
import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pqlkit.io as pio
from pqlkit.errors import PqlkitError, RejectedRowError, ValidationError
from pqlkit.eventlog import EventLog
from pqlkit.report import REASONS, LoadReport

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.text(alphabet=st.characters(min_codepoint=0x1F300, max_codepoint=0x1FAFF),
            min_size=150, max_size=260),  # huge Unicode: over-long names, wide ids
    st.sampled_from(["", " ", "\x00", "2026-05-01T09:00:00Z", "2026-05-01 09:00:00",
                     "1777626000", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00+14:00",
                     "NaN", "monday", "$device:abc", "u1", "acme"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
timestamps = st.one_of(
    st.sampled_from(["2026-05-01T09:00:00Z", "2026-05-01T09:00:00.5+02:00",
                     "2026-05-01 09:00:00.000000", "2099-01-01T00:00:00Z", "1/5/2026"]),
    st.integers(min_value=-(2**63), max_value=2**63), st.floats(), scalars,
)
ids = st.one_of(st.sampled_from(["u1", "u2", "anon-1", "$device:d1", "acme", "g2"]),
                st.integers(min_value=-5, max_value=5), scalars)


def shaped(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """Messages with a random subset of a vendor's fields (each plausible or garbage) and
    now and then a stray field."""
    return st.fixed_dictionaries({}, optional={
        **{k: st.one_of(v, json_values) for k, v in fields.items()},
        "stray": json_values,
    })


props = st.dictionaries(st.sampled_from(["plan", "n", "$groups", "$set", "company_id",
                                         "$is_identified", "$user_id", "$device_id",
                                         "time", "distinct_id", "$insert_id", "$anon_id",
                                         "$identified_id", "alias"]),
                        st.one_of(ids, timestamps, json_values), max_size=5)
SEGMENT = shaped({
    "type": st.sampled_from(["track", "page", "screen", "identify", "group", "alias",
                             "delete", "TRACK"]),
    "event": st.sampled_from(["Signed Up", "", "x" * 201]), "userId": ids, "anonymousId": ids,
    "groupId": ids, "previousId": ids, "messageId": st.sampled_from(["m1", "m2", "m3"]),
    "timestamp": timestamps, "originalTimestamp": timestamps, "sentAt": timestamps,
    "receivedAt": timestamps, "properties": props, "traits": props, "name": scalars,
    "context": st.fixed_dictionaries({}, optional={"groupId": ids}),
})
AMPLITUDE = shaped({
    "event_type": st.sampled_from(["Signed Up", "$identify", "$groupidentify", ""]),
    "user_id": ids, "device_id": ids, "amplitude_id": ids, "event_time": timestamps,
    "time": timestamps, "$insert_id": st.sampled_from(["i1", "i2"]), "uuid": ids,
    "event_properties": props, "user_properties": props, "group_properties": props,
    "groups": st.dictionaries(st.just("company"), st.one_of(ids, st.lists(ids, max_size=2))),
    "user_creation_time": timestamps,
})
MIXPANEL = shaped({
    "event": st.sampled_from(["Signed Up", "$identify", "$create_alias", ""]),
    "properties": props,
})
POSTHOG = shaped({
    "event": st.sampled_from(["$pageview", "$identify", "$create_alias", "$groupidentify",
                              "x\x07"]),
    "distinct_id": ids, "timestamp": timestamps, "uuid": st.sampled_from(["a", "b"]),
    "properties": st.one_of(props, st.just("{broken"), st.just('{"$set": {"a": 1}}')),
    "set": json_values,
})

ADAPTERS = {
    "segment": (pio.from_segment, SEGMENT, {}),
    "amplitude": (pio.from_amplitude, AMPLITUDE, {"group_type": "company"}),
    "mixpanel": (pio.from_mixpanel, MIXPANEL, {"group_key": "company_id"}),
    "posthog": (pio.from_posthog, POSTHOG, {"group_type": "company"}),
}


def assert_accounted_for(report: LoadReport, n_input: int) -> None:
    for table, c in report.tables.items():
        assert c["input"] == c["kept"] + c["duplicates"] + c["rejected"], (table, c)
    c = report.counts
    assert c["input"] == n_input
    assert c["rejected"] == len(report.rejections)
    for r in report.rejections:
        assert r.reason in REASONS, r
        assert r.message


def _is_group_type_question(exc: PqlkitError) -> bool:
    # The documented errors garbage may raise rather than report, as questions only the
    # caller can answer: rows naming several group types (group_type=), and a frame column
    # mixing kinds of values (cast it). Anything else is a bug.
    return ("names several group types" in str(exc)
            or "cannot become a typed column" in str(exc))


def load_or_pqlkit_error(load: Any, rows: Any, **options: Any) -> EventLog | None:
    try:
        return load(rows, **options)
    except PqlkitError as exc:
        if isinstance(exc, RejectedRowError) or not _is_group_type_question(exc):
            raise
        return None


@pytest.mark.parametrize("vendor", ADAPTERS)
@given(data=st.data())
def test_vendor_garbage_is_reported_never_crashes(vendor, data):
    load, messages, options = ADAPTERS[vendor]
    rows = data.draw(st.lists(st.one_of(messages, json_values), max_size=12))
    policy = data.draw(st.sampled_from(["merge", "keep", "reject"]))
    accounts = data.draw(st.sampled_from(["first", "latest", "reject"]))
    log = load_or_pqlkit_error(load, rows, anonymous=policy, account_policy=accounts,
                               **options)
    if log is None:
        return
    assert_accounted_for(log.report, len(rows))
    assert len(log) == log.report.tables["events"]["kept"]
    for e in log.events():  # whatever was kept is a valid event
        assert e.timestamp.tzinfo is not None
        assert all(not (isinstance(v, float) and not math.isfinite(v))
                   for v in e.properties.values())


@pytest.mark.parametrize("vendor", ADAPTERS)
@given(data=st.data())
def test_strict_either_raises_a_rejected_row_or_rejects_nothing(vendor, data):
    load, messages, options = ADAPTERS[vendor]
    rows = data.draw(st.lists(messages, max_size=8))
    try:
        log = load(rows, strict=True, **options)
    except RejectedRowError as exc:
        assert exc.reason in REASONS
        return
    except PqlkitError as exc:
        if not _is_group_type_question(exc):
            raise
        return
    assert log.report.counts["rejected"] == 0


lines = st.one_of(
    st.builds(json.dumps, st.fixed_dictionaries({}, optional={
        "name": st.one_of(st.sampled_from(["a", "b"]), json_values),
        "timestamp": timestamps, "user_id": ids, "account_id": ids,
        "event_id": st.sampled_from(["e1", "e2"]), "properties": json_values,
        "plan": json_values,
    })),
    st.builds(json.dumps, json_values),
    st.text(max_size=30).map(lambda t: t.replace("\n", " ").replace("\r", " ")),
)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.lists(lines, max_size=12), epoch=st.sampled_from([None, "s", "ms"]),
       tz=st.sampled_from([None, "UTC", "Asia/Kolkata"]))
def test_jsonl_garbage_lines_are_accounted_for(tmp_path: Path, body, epoch, tz):
    path = tmp_path / "g.jsonl"
    path.write_text("\n".join(body) + "\n", encoding="utf-8", errors="surrogatepass")
    log = load_or_pqlkit_error(pio.read_jsonl, path, epoch_unit=epoch, tz=tz)
    assert log is not None  # rows are data: only options can raise
    # blank means JSON whitespace only: a line of "\xa0" is a (broken) row
    assert_accounted_for(log.report, sum(1 for line in body if line.encode(
        "utf-8", "surrogatepass").strip()))


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=300))
def test_jsonl_random_bytes_are_accounted_for(tmp_path: Path, data):
    path = tmp_path / "b.jsonl"
    path.write_bytes(data)
    try:
        log = pio.read_jsonl(path)
    except ValidationError as exc:  # gzip or zip magic bytes on a damaged body
        assert "truncated or corrupt" in str(exc)
        return
    n = sum(1 for line in data.splitlines() if line.strip())
    assert log.report.counts["input"] <= n  # \r and other splitters differ; never more
    assert_accounted_for(log.report, log.report.counts["input"])


cells = st.one_of(st.text(alphabet=string.printable, max_size=8),
                  st.sampled_from(["2026-05-01T00:00:00Z", "u1", "", "1777626000", '"']))


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.lists(cells, min_size=1, max_size=5), max_size=10),
       raw=st.binary(max_size=60))
def test_csv_garbage_is_accounted_for(tmp_path: Path, rows, raw):
    path = tmp_path / "g.csv"
    text = "name,timestamp,user_id\n" + "\n".join(",".join(r) for r in rows) + "\n"
    path.write_bytes(text.encode() + raw)
    log = pio.read_csv(path, types={"user_id": int}, tz="UTC")
    assert_accounted_for(log.report, log.report.counts["input"])


@given(values=st.lists(st.one_of(scalars, st.lists(scalars, max_size=2)), min_size=1,
                       max_size=8))
def test_frames_with_garbage_columns_are_accounted_for(values):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    n = len(values)
    frame = pd.DataFrame({"name": ["a"] * n, "user_id": ["u"] * n,
                          "timestamp": pd.to_datetime(["2026-05-01"] * n, utc=True),
                          "junk": pd.Series(values, dtype=object)})
    log = load_or_pqlkit_error(EventLog.from_pandas, frame)
    if log is not None:
        assert_accounted_for(log.report, n)
