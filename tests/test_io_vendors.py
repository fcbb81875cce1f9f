"""Tests of the vendor adapters of pqlkit.io on real-shaped payloads.

The fixtures under tests/fixtures/io/ are written from each vendor's published spec
(Segment Spec, Amplitude Export API schema, Mixpanel Raw Export, PostHog events) and tell
one small story: Ada browses anonymously, signs up, joins Acme and builds a project;
Grace was tracked under an old id before an alias; one visitor never signs up; and a few
rows are broken the way real exports break. Expectations are worked out by hand.
"""

from __future__ import annotations

import gzip
import json
import random
import shutil
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import pqlkit as pk
import pqlkit.io as pio
from pqlkit.errors import PqlkitTypeError, RejectedRowError, ValidationError
from pqlkit.eventlog import EventLog
from pqlkit.report import REASONS, LoadReport

FIXTURES = Path(__file__).parent / "fixtures" / "io"
AS_OF = "2026-05-07T00:00:00Z"


def lines(name: str) -> list[Any]:
    """The fixture's rows parsed, with an unparsable line kept as its text."""
    out: list[Any] = []
    for line in (FIXTURES / name).read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            out.append(line)
    return out


def assert_accounted_for(report: LoadReport) -> None:
    for table, c in report.tables.items():
        assert c["input"] == c["kept"] + c["duplicates"] + c["rejected"], table
    c = report.counts
    assert c["input"] == c["kept"] + c["duplicates"] + c["rejected"]
    assert c["rejected"] == len(report.rejections)
    assert {r.reason for r in report.rejections} <= set(REASONS)


def snapshot(log: EventLog) -> dict[str, Any]:
    """Everything a log holds, as comparable values."""
    return {
        "events": [(e.name, e.timestamp, e.user_id, e.account_id, e.event_id,
                    dict(e.properties)) for e in log.events()],
        "users": [(u.user_id, u.account_id, dict(u.traits), u.created_at) for u in log.users()],
        "accounts": [(a.account_id, dict(a.traits), a.created_at) for a in log.accounts()],
    }


def rejected(log: EventLog) -> list[tuple[str, Any, str]]:
    return [(r.table, r.source, r.reason) for r in log.report.rejections]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


MODEL = pk.ScoringModel(
    name="fixture",
    rules=[
        pk.Rule("signed_up", pk.count(name=None) >= 1, points=10),
        pk.Rule("project", pk.count("Project Created") >= 1, points=40),
        pk.Rule("invite", pk.count("Teammate Invited") >= 1, points=20),
        pk.Rule("pricing", pk.count("Viewed Pricing Page", within="30d") >= 1, points=15),
    ],
    threshold=60,
)


# -- Segment ------------------------------------------------------------------------------


def test_segment_fixture_loads_with_every_message_accounted_for():
    log = pio.from_segment(FIXTURES / "segment.jsonl")
    report = log.report
    assert_accounted_for(report)
    assert report.tables == {
        "events": {"input": 12, "kept": 6, "duplicates": 1, "rejected": 5},
        "users": {"input": 1, "kept": 1, "duplicates": 0, "rejected": 0},
        "accounts": {"input": 2, "kept": 2, "duplicates": 0, "rejected": 0},
        "aliases": {"input": 1, "kept": 1, "duplicates": 0, "rejected": 0},
    }
    assert rejected(log) == [
        ("events", 7, "conflicting_duplicate"),
        ("events", 12, "anonymous_only"),
        ("events", 13, "missing_timestamp"),
        ("events", 15, "unsupported_message"),
        ("events", 16, "invalid_json"),
    ]


def test_segment_fixture_events_users_and_accounts():
    log = pio.from_segment(FIXTURES / "segment.jsonl")
    events = [(e.name, e.timestamp, e.user_id, e.account_id) for e in log.events()]
    assert events == [
        # the anonymous page view, given to Ada through the track carrying both ids
        ("Viewed Pricing Page", utc(2026, 5, 4, 8, 59, 58, 520000), "usr_ada", None),
        ("Signed Up", utc(2026, 5, 4, 9, 3, 11), "usr_ada", None),
        # clock skew corrected: receivedAt - (sentAt - originalTimestamp)
        ("Project Created", utc(2026, 5, 4, 9, 10), "usr_ada", "grp_acme"),
        # of two messages sharing a messageId, the earliest by the contract's rule
        ("Teammate Invited", utc(2026, 5, 5, 10), "usr_ada", "grp_acme"),
        # tracked under the old id, merged by the alias call
        ("Dashboard Viewed", utc(2026, 5, 5, 11), "usr_grace", None),
        ("Viewed Dashboard Screen", utc(2026, 5, 6, 7, 30), "usr_grace", None),
    ]
    invite = next(e for e in log.events() if e.name == "Teammate Invited")
    assert dict(invite.properties) == {"invitee_email": "alan@acme.io", "role": "viewer"}
    page = log.event(0)
    assert dict(page.properties) == {"path": "/pricing", "url": "https://example.io/pricing",
                                     "title": "Pricing", "name": "Pricing",
                                     "category": "Marketing"}
    assert [(u.user_id, u.account_id, u.created_at) for u in log.users()] == [
        ("usr_ada", "grp_acme", utc(2026, 5, 4, 9, 3, 10)),  # the createdAt trait
        ("usr_grace", "grp_acme", utc(2026, 5, 5, 11)),  # first seen
    ]
    assert dict(next(log.users()).traits) == {
        "createdAt": "2026-05-04T09:03:10Z", "email": "ada@acme.io", "name": "Ada Lovelace",
        "title": "Head of Data"}
    (acme,) = log.accounts()
    assert dict(acme.traits) == {"employees": 240, "industry": "Manufacturing",
                                 "name": "Acme Inc", "plan": "trial"}
    assert acme.created_at == utc(2026, 5, 4, 9, 4)


def test_segment_fixture_scores_end_to_end():
    result = MODEL.score(pio.from_segment(FIXTURES / "segment.jsonl"), as_of=AS_OF)
    ada = result.users["usr_ada"]
    assert (ada["score"], ada["is_pql"], ada["account_id"]) == (85, True, "grp_acme")
    assert result.users["usr_grace"]["score"] == 10
    acme = result.accounts["grp_acme"]
    assert (acme["n_users"], acme["n_pql"], acme["is_pqa"]) == (2, 1, True)


def test_segment_path_gzip_and_parsed_messages_give_the_same_log(tmp_path):
    plain = pio.from_segment(FIXTURES / "segment.jsonl")
    zipped = tmp_path / "segment.jsonl.gz"
    with open(FIXTURES / "segment.jsonl", "rb") as src, gzip.open(zipped, "wb") as dst:
        shutil.copyfileobj(src, dst)
    assert snapshot(pio.from_segment(zipped)) == snapshot(plain)
    assert snapshot(pio.from_segment(str(zipped))) == snapshot(plain)
    parsed = [m for m in lines("segment.jsonl") if isinstance(m, dict)]
    from_list = pio.from_segment(parsed)
    assert snapshot(from_list) == snapshot(plain)
    # positions in an iterable are 0-based, lines of a file 1-based
    assert [r.source for r in from_list.report.rejections][:2] == [6, 11]


def test_segment_in_any_order_gives_the_same_log():
    parsed = [m for m in lines("segment.jsonl") if isinstance(m, dict)]
    expected = snapshot(pio.from_segment(parsed))
    rng = random.Random(5)
    for _ in range(5):
        shuffled = parsed[:]
        rng.shuffle(shuffled)
        log = pio.from_segment(shuffled)
        assert snapshot(log) == expected
        assert sorted(r.reason for r in log.report.rejections) == sorted(
            r.reason for r in pio.from_segment(parsed).report.rejections)


def test_segment_anonymous_policies():
    parsed = [m for m in lines("segment.jsonl") if isinstance(m, dict)]
    keep = pio.from_segment(parsed, anonymous="keep")
    assert ("Loaded a Page", "9c1e-anon-bounce") in [(e.name, e.user_id) for e in keep.events()]
    assert "anonymous_only" not in keep.report.by_reason()
    strict_ids = pio.from_segment(parsed, anonymous="reject")
    assert strict_ids.report.by_reason()["anonymous_only"] == 2
    assert "Viewed Pricing Page" not in [e.name for e in strict_ids.events()]
    with pytest.raises(ValidationError, match="anonymous must be one of"):
        pio.from_segment(parsed, anonymous="drop")


def test_segment_identify_of_an_unlinked_anonymous_id_is_rejected_under_merge():
    msgs = [{"type": "identify", "anonymousId": "anon-1", "traits": {"plan": "pro"},
             "messageId": "m1", "timestamp": "2026-05-01T00:00:00Z"}]
    log = pio.from_segment(msgs)
    assert rejected(log) == [("users", 0, "anonymous_only")]
    kept = pio.from_segment(msgs, anonymous="keep")
    assert [(u.user_id, dict(u.traits)) for u in kept.users()] == [("anon-1", {"plan": "pro"})]


def msg(kind: str, ts: str, **kw: Any) -> dict[str, Any]:
    return {"type": kind, "timestamp": ts, **kw}


@pytest.mark.parametrize(
    ("policy", "account", "reasons"),
    [("first", "acme", {}), ("latest", "globex", {}),
     ("reject", "acme", {"multiple_accounts": 2})],
)
def test_segment_user_in_several_accounts_follows_the_account_policy(policy, account, reasons):
    msgs = [
        msg("group", "2026-05-02T00:00:00Z", userId="u1", groupId="globex", messageId="g2"),
        msg("group", "2026-05-01T00:00:00Z", userId="u1", groupId="acme", messageId="g1"),
        msg("track", "2026-05-03T00:00:00Z", userId="u1", event="x", messageId="t1",
            context={"groupId": "globex"}),
        msg("track", "2026-05-03T00:00:00Z", userId="u1", event="y", messageId="t2",
            context={"groupId": "acme"}),
    ]
    log = pio.from_segment(msgs, account_policy=policy)
    assert [u.account_id for u in log.users()] == [account]
    assert log.report.by_reason() == reasons
    assert_accounted_for(log.report)
    if policy == "reject":
        assert rejected(log) == [("events", 2, "multiple_accounts"),
                                 ("accounts", 0, "multiple_accounts")]
        assert [e.account_id for e in log.events()] == ["acme"]


def test_segment_alias_never_moves_an_id_already_merged():
    msgs = [
        msg("alias", "2026-05-01T00:00:00Z", previousId="old", userId="u1", messageId="a1"),
        msg("alias", "2026-05-02T00:00:00Z", previousId="old", userId="u2", messageId="a2"),
        msg("track", "2026-05-03T00:00:00Z", userId="old", event="x", messageId="t1"),
    ]
    assert [e.user_id for e in pio.from_segment(msgs).events()] == ["u1"]
    assert [e.user_id for e in pio.from_segment(msgs[::-1]).events()] == ["u1"]


def test_segment_anonymous_id_seen_with_two_users_goes_to_the_first():
    msgs = [
        msg("track", "2026-05-02T00:00:00Z", userId="bob", anonymousId="shared", event="a"),
        msg("track", "2026-05-01T00:00:00Z", userId="amy", anonymousId="shared", event="b"),
        msg("track", "2026-05-03T00:00:00Z", anonymousId="shared", event="c"),
    ]
    for order in (msgs, msgs[::-1]):
        log = pio.from_segment(order)
        assert {e.name: e.user_id for e in log.events()}["c"] == "amy"


def test_segment_strict_raises_at_the_first_rejected_line():
    with pytest.raises(RejectedRowError) as info:
        pio.from_segment(FIXTURES / "segment.jsonl", strict=True)
    # line 13 (no timestamp) is the first rejected as the file streams; the conflict on
    # line 7 and the anonymous line 12 are only known at the end
    assert (info.value.reason, info.value.source) == ("missing_timestamp", 13)


def test_segment_pages_false_rejects_page_and_screen_calls():
    log = pio.from_segment(FIXTURES / "segment.jsonl", pages=False)
    assert log.report.by_reason()["unsupported_message"] == 4
    assert not any(e.name.startswith(("Viewed", "Loaded")) for e in log.events())
    with pytest.raises(PqlkitTypeError, match="pages must be True or False"):
        pio.from_segment([], pages="no")


def test_segment_messages_of_every_broken_shape_are_reported():
    ts = "2026-05-01T00:00:00Z"
    msgs = [
        msg("track", ts, userId="u", event=""),  # missing_name
        msg("track", ts, userId="u", event="x" * 201),  # invalid_name
        msg("track", ts, userId={"id": 1}, event="x"),  # invalid_id
        msg("track", ts, event="x"),  # missing_identity (no ids at all)
        msg("track", ts, userId="u", event="x", properties=["a"]),  # invalid_properties
        msg("track", ts, userId="u", event="x", properties={"n": float("inf")}),
        msg("identify", ts, userId="u", traits={"createdAt": "someday"}),  # invalid_timestamp
        msg("identify", ts, userId="u", traits="admin"),  # invalid_traits
        msg("group", ts, userId="u"),  # missing_identity: no groupId
        msg("alias", ts, userId="u"),  # missing_identity: no previousId
        msg("track", "2026-01-05 00:00", userId="u", event="x"),  # naive_timestamp
        msg("track", "monday", userId="u", event="x"),  # invalid_timestamp
        {"event": "x", "userId": "u", "timestamp": ts},  # no type but an event: a track
    ]
    log = pio.from_segment(msgs)
    # listed by table (events, users, accounts, then the others), then by position
    assert [(r.table, r.source, r.reason) for r in log.report.rejections] == [
        ("events", 0, "missing_name"), ("events", 1, "invalid_name"),
        ("events", 2, "invalid_id"), ("events", 3, "missing_identity"),
        ("events", 4, "invalid_properties"), ("events", 5, "non_finite_property"),
        ("events", 10, "naive_timestamp"), ("events", 11, "invalid_timestamp"),
        ("users", 6, "invalid_timestamp"), ("users", 7, "invalid_traits"),
        ("accounts", 8, "missing_identity"), ("aliases", 9, "missing_identity"),
    ]
    assert [e.name for e in log.events()] == ["x"]
    assert_accounted_for(log.report)
    assert all(r.sample for r in log.report.rejections)


def test_rudderstack_is_the_segment_spec():
    parsed = [m for m in lines("segment.jsonl") if isinstance(m, dict)]
    assert snapshot(pio.from_rudderstack(parsed)) == snapshot(pio.from_segment(parsed))


def test_segment_future_tolerance_rejects_clock_skewed_events():
    msgs = [msg("track", "2026-05-01T00:00:00Z", userId="u", event="ok"),
            msg("track", "2026-05-01T13:00:00Z", userId="u", event="late"),
            msg("identify", "2026-05-03T00:00:00Z", userId="u")]
    log = pio.from_segment(msgs, future_tolerance="12h", now="2026-05-01T00:00:00Z")
    assert [e.name for e in log.events()] == ["ok"]
    assert rejected(log) == [("events", 1, "future_timestamp"),
                             ("users", 2, "future_timestamp")]


# -- Amplitude ----------------------------------------------------------------------------


def test_amplitude_fixture():
    log = pio.from_amplitude(FIXTURES / "amplitude.jsonl", group_type="company")
    assert_accounted_for(log.report)
    assert log.report.tables == {
        "events": {"input": 8, "kept": 4, "duplicates": 1, "rejected": 3},
        "users": {"input": 1, "kept": 1, "duplicates": 0, "rejected": 0},
        "accounts": {"input": 1, "kept": 1, "duplicates": 0, "rejected": 0},
    }
    assert rejected(log) == [("events", 8, "anonymous_only"), ("events", 9, "missing_timestamp"),
                             ("events", 10, "non_finite_property")]
    assert [(e.name, e.timestamp, e.user_id, e.account_id, e.event_id)
            for e in log.events()] == [
        ("Pricing Viewed", utc(2026, 5, 4, 8, 59, 58, 520000), "usr_ada", None, "ins-0001"),
        ("Signed Up", utc(2026, 5, 4, 9, 3, 11), "usr_ada", "acme", "ins-0002"),
        ("Project Created", utc(2026, 5, 4, 9, 10), "usr_ada", "acme", "ins-0003"),
        # an HTTP V2 API body: time in epoch milliseconds
        ("Dashboard Viewed", utc(2026, 5, 6, 9), "usr_grace", "acme", "grace-0001"),
    ]
    assert [(u.user_id, u.account_id, dict(u.traits), u.created_at) for u in log.users()] == [
        ("usr_ada", "acme", {"first_touch": "pricing", "plan": "pro", "role": "admin",
                             "title": "Head of Data"}, utc(2026, 5, 4, 9, 3, 10)),
        ("usr_grace", "acme", {}, utc(2026, 5, 6, 9)),
    ]
    assert [(a.account_id, dict(a.traits)) for a in log.accounts()] == [
        ("acme", {"employees": 240, "industry": "Manufacturing"})]


def test_amplitude_export_zip_of_gzipped_members(tmp_path):
    rows = (FIXTURES / "amplitude.jsonl").read_bytes().splitlines(keepends=True)
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("312847/312847_2026-05-04_9#0.json.gz", gzip.compress(b"".join(rows[:5])))
        zf.writestr("312847/312847_2026-05-06_9#0.json.gz", gzip.compress(b"".join(rows[5:])))
    log = pio.from_amplitude(archive, group_type="company")
    plain = pio.from_amplitude(FIXTURES / "amplitude.jsonl", group_type="company")
    assert snapshot(log) == snapshot(plain)
    assert [r.source for r in log.report.rejections] == [
        "312847/312847_2026-05-06_9#0.json.gz:3", "312847/312847_2026-05-06_9#0.json.gz:4",
        "312847/312847_2026-05-06_9#0.json.gz:5"]


def test_amplitude_rows_naming_several_group_types_ask_for_group_type():
    row = {"event_type": "x", "user_id": "u", "event_time": "2026-05-01 00:00:00",
           "groups": {"company": "acme", "team": "data"}}
    with pytest.raises(ValidationError, match="group_type='company'"):
        pio.from_amplitude([row])
    assert [e.account_id for e in pio.from_amplitude([row], group_type="team").events()] == [
        "data"]


def test_amplitude_score_matches_segment_for_the_same_story():
    amp = MODEL.score(pio.from_amplitude(FIXTURES / "amplitude.jsonl", group_type="company"),
                      as_of=AS_OF)
    assert amp.users["usr_ada"]["score"] == 50  # signed up, project (no invite, no page)
    assert amp.accounts["acme"]["n_users"] == 2


# -- Mixpanel -----------------------------------------------------------------------------


def test_mixpanel_fixture():
    log = pio.from_mixpanel(FIXTURES / "mixpanel.jsonl", group_key="company_id")
    assert_accounted_for(log.report)
    assert log.report.tables == {
        "events": {"input": 11, "kept": 7, "duplicates": 1, "rejected": 3},
        "identities": {"input": 1, "kept": 1, "duplicates": 0, "rejected": 0},
    }
    assert rejected(log) == [("events", 5, "conflicting_duplicate"),
                             ("events", 9, "anonymous_only"),
                             ("events", 10, "timestamp_out_of_range")]
    events = [(e.name, e.user_id, e.account_id) for e in log.events()]
    assert events == [
        ("Pricing Viewed", "usr_ada", None),  # $device: id linked by $device_id + $user_id
        ("Signed Up", "usr_ada", "acme"),
        ("Query Run", "usr_ada", "acme"),  # no $insert_id: both copies count
        ("Query Run", "usr_ada", "acme"),
        ("Project Created", "usr_ada", "acme"),
        ("Docs Viewed", "usr_grace", None),  # original ID merge: $identify
        ("Dashboard Viewed", "usr_grace", "acme"),  # a list-valued group key
    ]
    created = next(e for e in log.events() if e.name == "Project Created")
    assert created.event_id == '["Project Created","usr_ada",1777885800,"a1b2c3-0003"]'
    assert dict(created.properties)["template"] == "blank"
    assert "time" not in created.properties and "distinct_id" not in created.properties
    assert created.timestamp == utc(2026, 5, 4, 9, 10)


def test_mixpanel_project_timezone_reads_legacy_exports_as_local_time():
    row = {"event": "x", "properties": {"time": 1777885200, "distinct_id": "u"}}  # 09:00
    utc_log = pio.from_mixpanel([row])
    la = pio.from_mixpanel([row], project_tz="America/Los_Angeles")
    assert utc_log.event(0).timestamp == utc(2026, 5, 4, 9)
    assert la.event(0).timestamp == utc(2026, 5, 4, 16)  # 09:00 PDT


def test_mixpanel_import_bodies_in_milliseconds():
    row = {"event": "x", "properties": {"time": 1777885200123, "distinct_id": "u"}}
    log = pio.from_mixpanel([row], epoch_unit="ms")
    assert log.event(0).timestamp == utc(2026, 5, 4, 9, 0, 0, 123000)
    with pytest.raises(ValidationError, match="epoch_unit"):
        pio.from_mixpanel([row], epoch_unit="minutes")


# -- PostHog ------------------------------------------------------------------------------


def test_posthog_fixture():
    log = pio.from_posthog(FIXTURES / "posthog.jsonl", group_type="company")
    assert_accounted_for(log.report)
    assert log.report.tables == {
        "events": {"input": 7, "kept": 3, "duplicates": 1, "rejected": 3},
        "identities": {"input": 2, "kept": 2, "duplicates": 0, "rejected": 0},
        "accounts": {"input": 1, "kept": 1, "duplicates": 0, "rejected": 0},
    }
    assert rejected(log) == [("events", 8, "anonymous_only"), ("events", 9, "invalid_name"),
                             ("events", 10, "invalid_properties")]
    assert [(e.name, e.timestamp, e.user_id, e.account_id) for e in log.events()] == [
        ("$pageview", utc(2026, 5, 4, 8, 59, 58, 520000), "usr_ada", None),
        ("project created", utc(2026, 5, 4, 9, 10), "usr_ada", "acme"),
        ("dashboard viewed", utc(2026, 5, 5, 11), "usr_grace", "acme"),
    ]
    assert [(u.user_id, u.account_id, dict(u.traits)) for u in log.users()] == [
        ("usr_ada", "acme", {"email": "ada@acme.io", "initial_referrer": "https://www.google.com/",
                             "plan": "trial", "role": "admin"}),
        ("usr_grace", "acme", {}),
    ]
    assert [(a.account_id, dict(a.traits)) for a in log.accounts()] == [
        ("acme", {"employees": 240, "name": "Acme Inc"})]
    page = log.event(0)
    assert page.properties["$pathname"] == "/pricing"
    assert "$set" not in log.event(1).properties


def test_posthog_set_once_keeps_the_first_and_set_the_latest():
    def event(ts: str, **props: Any) -> dict[str, Any]:
        return {"event": "e", "distinct_id": "u", "timestamp": ts, "properties": props}

    rows = [event("2026-05-02T00:00:00Z", **{"$set": {"plan": "pro"},
                                             "$set_once": {"first": "b"}}),
            event("2026-05-01T00:00:00Z", **{"$set": {"plan": "free"},
                                             "$set_once": {"first": "a"}})]
    for order in (rows, rows[::-1]):
        (user,) = pio.from_posthog(order).users()
        assert dict(user.traits) == {"first": "a", "plan": "pro"}


# -- shared behaviour ---------------------------------------------------------------------


ADAPTERS = {
    "segment": (pio.from_segment, "segment.jsonl", {}),
    "amplitude": (pio.from_amplitude, "amplitude.jsonl", {"group_type": "company"}),
    "mixpanel": (pio.from_mixpanel, "mixpanel.jsonl", {"group_key": "company_id"}),
    "posthog": (pio.from_posthog, "posthog.jsonl", {"group_type": "company"}),
}


@pytest.mark.parametrize("vendor", ADAPTERS)
def test_adapters_refuse_a_string_of_json_or_a_single_message(vendor):
    load, _, options = ADAPTERS[vendor]
    with pytest.raises(PqlkitTypeError, match="iterable of parsed JSON objects"):
        load({"type": "track"}, **options)
    with pytest.raises(PqlkitTypeError):
        load(b'{"event": "x"}', **options)
    with pytest.raises(PqlkitTypeError):
        load(42, **options)


@pytest.mark.parametrize("vendor", ADAPTERS)
def test_adapters_validate_their_policy_options(vendor):
    load, _, options = ADAPTERS[vendor]
    with pytest.raises(ValidationError, match="account_policy must be one of"):
        load([], account_policy="most", **options)
    with pytest.raises(ValidationError, match="future_tolerance"):
        load([], future_tolerance="soon", **options)


@pytest.mark.parametrize("vendor", ADAPTERS)
def test_adapters_read_an_open_file(vendor):
    load, name, options = ADAPTERS[vendor]
    with open(FIXTURES / name, "rb") as f:
        from_file = load(f, **options)
    assert snapshot(from_file) == snapshot(load(FIXTURES / name, **options))


@pytest.mark.parametrize("vendor", ADAPTERS)
def test_adapters_on_an_empty_input_give_an_empty_log(vendor):
    load, _, options = ADAPTERS[vendor]
    log = load([], **options)
    assert len(log) == 0
    assert log.report.counts == {"input": 0, "kept": 0, "duplicates": 0, "rejected": 0}


def test_segment_skew_past_year_9999_is_a_rejection_with_future_tolerance_too() -> None:
    # With future_tolerance= the future check came first and formatted the instant, whose
    # ValidationError aborted the whole load.
    good = {"type": "track", "userId": "u1", "event": "login",
            "timestamp": "2026-05-01T09:00:00Z"}
    late = {"type": "track", "userId": "u1", "event": "x",
            "originalTimestamp": "9999-12-30T00:00:00Z",
            "sentAt": "0001-01-01T00:00:00Z", "receivedAt": "9999-01-01T00:00:00Z"}
    for kw in ({}, {"future_tolerance": "1d"}):
        log = pio.from_segment([good, late], **kw)
        assert log.report.by_reason() == {"timestamp_out_of_range": 1}, kw


@pytest.mark.parametrize(("time", "zone"), [(253402300799, "America/Los_Angeles"),
                                            (-62135596800, "Asia/Tokyo")])
def test_mixpanel_project_tz_carrying_a_time_out_of_range_is_a_rejection(
        time: int, zone: str) -> None:
    rows = [{"event": "login", "properties": {"time": 1780000000, "distinct_id": "u1"}},
            {"event": "login", "properties": {"time": time, "distinct_id": "u1"}}]
    log = pio.from_mixpanel(rows, project_tz=zone)
    assert log.report.by_reason() == {"timestamp_out_of_range": 1}
    with pytest.raises(RejectedRowError, match="timestamp_out_of_range"):
        pio.from_mixpanel(rows, project_tz=zone, strict=True)


def test_mixpanel_dedup_key_reads_time_as_a_moment() -> None:
    # The key held `time` as written: a datetime raised json's TypeError out of the load,
    # and 1777885198 / 1777885198.0 / "1777885198" were three events.
    def row(t: Any) -> dict[str, Any]:
        return {"event": "Report Built", "properties": {
            "time": t, "distinct_id": "ada", "$insert_id": "x1", "chart": "funnel"}}

    for pair in ([1777885198, 1777885198.0], [1777885198, "1777885198"],
                 [1777885198, datetime(2026, 5, 4, 8, 59, 58, tzinfo=UTC)]):
        log = pio.from_mixpanel([row(t) for t in pair])
        assert log.report.counts == {"input": 2, "kept": 1, "duplicates": 1, "rejected": 0}
        assert next(log.events()).event_id == '["Report Built","ada",1777885198,"x1"]'


def test_a_rejected_row_does_not_tie_an_anonymous_id_to_its_user() -> None:
    # Segment and Mixpanel linked the ids before the row's own checks: a row rejected for
    # its future timestamp still gave the anonymous events to the user.
    seg = pio.from_segment([
        {"type": "track", "event": "Pricing Viewed", "anonymousId": "anon-1",
         "messageId": "m1", "timestamp": "2026-05-04T09:00:00Z"},
        {"type": "track", "event": "Clicked", "userId": "ada", "anonymousId": "anon-1",
         "messageId": "m2", "timestamp": "2031-01-01T00:00:00Z"},
    ], future_tolerance="1d", now="2026-05-05T00:00:00Z")
    mp = pio.from_mixpanel([
        {"event": "Pricing Viewed", "properties": {"time": 1777885200,
                                                   "distinct_id": "$device:D1"}},
        {"event": "Clicked", "properties": {"time": 1924992000, "distinct_id": "ada",
                                            "$device_id": "D1"}},
    ], future_tolerance="1d", now="2026-05-05T00:00:00Z")
    for log in (seg, mp):
        assert len(log) == 0
        assert log.report.by_reason() == {"anonymous_only": 1, "future_timestamp": 1}


def test_amplitude_property_operations_other_than_set_are_not_traits() -> None:
    rows = [{"event_type": "$identify", "user_id": "ada", "insert_id": f"i{k}",
             "time": 1777885200000 + k, "user_properties": ops}
            for k, ops in enumerate([{"$set": {"plan": "pro"}}, {"$add": {"logins": 1}},
                                     {"$unset": {"plan": "-"}, "$append": {"tags": "b"}}])]
    log = pio.from_amplitude(rows)
    assert [dict(u.traits) for u in log.users()] == [{"plan": "pro"}]


def test_a_rejected_copy_of_an_event_does_not_shape_the_users_table() -> None:
    # Identity facts were recorded as rows arrived: a conflicting copy (rejected) still set
    # the user's account, traits and signup moment, and an event rejected under
    # account_policy="reject" still set traits.
    seg = pio.from_segment([
        {"type": "track", "event": "Report Built", "userId": "ada", "messageId": "m1",
         "context": {"groupId": "acme"}, "timestamp": "2026-05-04T09:00:00Z"},
        {"type": "track", "event": "Report Built", "userId": "ada", "messageId": "m1",
         "context": {"groupId": "zeta"}, "timestamp": "2026-05-04T09:30:00Z"},
    ], account_policy="latest")
    amp = pio.from_amplitude([
        {"event_type": "Plan Changed", "user_id": "ada", "$insert_id": "i1",
         "event_time": "2026-05-04 09:00:00.000000", "user_properties": {"plan": "pro"}},
        {"event_type": "Plan Changed", "user_id": "ada", "$insert_id": "i1",
         "event_time": "2026-05-04 09:05:00.000000", "user_properties": {"plan": "ent"},
         "user_creation_time": "2020-01-01 00:00:00.000000", "groups": {"company": "zeta"}},
    ], group_type="company", account_policy="latest")
    reject = pio.from_amplitude([
        {"event_type": "Signed Up", "user_id": "ada", "$insert_id": "i1",
         "groups": {"company": "acme"}, "event_time": "2026-05-04 09:00:00.000000",
         "user_properties": {"role": "admin"}},
        {"event_type": "Report Built", "user_id": "ada", "$insert_id": "i2",
         "groups": {"company": "zeta"}, "event_time": "2026-05-04 10:00:00.000000",
         "user_properties": {"role": "viewer"}},
    ], group_type="company", account_policy="reject")
    ph = pio.from_posthog([
        {"uuid": "0190-a", "event": "plan changed", "distinct_id": "ada",
         "timestamp": "2026-05-04T09:00:00Z", "properties": {"$set": {"plan": "pro"}}},
        {"uuid": "0190-a", "event": "plan changed", "distinct_id": "ada",
         "timestamp": "2026-05-04T09:05:00Z", "properties": {"$set": {"plan": "ent"}}},
    ])
    ada = {name: next(log.users()) for name, log in
           (("seg", seg), ("amp", amp), ("reject", reject), ("ph", ph))}
    assert ada["seg"].account_id == "acme"
    assert (ada["amp"].account_id, dict(ada["amp"].traits)) == (None, {"plan": "pro"})
    assert ada["amp"].created_at == datetime(2026, 5, 4, 9, tzinfo=UTC)
    assert (ada["reject"].account_id, dict(ada["reject"].traits)) == ("acme", {"role": "admin"})
    assert dict(ada["ph"].traits) == {"plan": "pro"}
    for log in (seg, amp, ph):
        assert log.report.by_reason() == {"conflicting_duplicate": 1}
    assert reject.report.by_reason() == {"multiple_accounts": 1}


@pytest.mark.parametrize("load, option, names", [
    (pio.from_amplitude, "group_type", "a group type"),
    (pio.from_posthog, "group_type", "a group type"),
    (pio.from_mixpanel, "group_key", "an event property"),
])
def test_vendor_account_options_are_checked_at_the_call(load, option, names):
    # A list raised the builtin "unhashable type: 'list'"; 5 or "" matched no row and
    # every event lost its account without a word.
    where = load.__name__
    with pytest.raises(PqlkitTypeError,
                       match=rf"{where}: {option}= must be a string naming {names}.*; got "
                             r"\['company'\] \(list\); give one"):
        load([], **{option: ["company"]})
    with pytest.raises(PqlkitTypeError, match=rf"{where}: {option}=.* got 5 \(int\)"):
        load([], **{option: 5})
    with pytest.raises(ValidationError, match=rf"{where}: {option}=.* got an empty string"):
        load([], **{option: ""})
    assert len(load([], **{option: None})) == 0
    assert len(load([], **{option: "company"})) == 0


def test_concat_refuses_logs_whose_entities_a_vendor_adapter_folded():
    # Daily Segment files joined with concat kept the oldest identify's traits (one load
    # lets the latest win), ignored account_policy="latest", and its report no longer
    # added up (input 3, kept 4): concat cannot fold identify/group calls again.
    day = [{"type": "identify", "userId": "u1", "traits": {"plan": "free"},
            "timestamp": "2026-05-01T09:00:00Z", "messageId": "m1"},
           {"type": "track", "userId": "u1", "event": "login",
            "timestamp": "2026-05-01T11:00:00Z", "messageId": "m3"}]
    with pytest.raises(ValidationError, match="comes from a vendor export"):
        EventLog.concat([pio.from_segment(day)])
    # Logs loaded with their own tables still join.
    rows = [{"name": "login", "timestamp": "2026-05-01T11:00:00Z", "user_id": "u1"}]
    log = EventLog.from_records(rows, users=[{"user_id": "u1", "traits": {"plan": "free"}}])
    assert len(EventLog.concat([log, log])) == 2
