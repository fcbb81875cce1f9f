"""Tests for the synthetic SaaS dataset generator."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pqlkit.datasets import EVENT_NAMES, PERSONAS, Columns, SaasDataset, synthetic_saas

US = 1_000_000
DAY = 86_400 * US


def micros(dt: datetime) -> int:
    return (dt - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def arrays(ds: SaasDataset) -> dict[str, np.ndarray[Any, Any]]:
    e = ds.events
    out = {"user_id": e.user_id, "account_id": e.account_id, "name": e.name,
           "timestamp": e.timestamp, "event_id": e.event_id}
    out.update({f"prop:{k}": v for k, v in e.properties.items()})
    return out


@pytest.fixture(scope="module")
def ds() -> SaasDataset:
    return synthetic_saas()


@pytest.fixture(scope="module")
def big() -> SaasDataset:
    return synthetic_saas(n_accounts=800, seed=11)


# -- shape and types ------------------------------------------------------------------------


def test_default_size_and_types(ds: SaasDataset) -> None:
    e = ds.events
    assert 10_000 <= len(e) <= 45_000
    assert len(ds.accounts) == 200
    assert ds.seed == 7
    assert ds.end == datetime(2026, 6, 1, tzinfo=UTC)
    assert e.timestamp.dtype == np.int64
    for col in (e.user_id, e.account_id, e.name, e.event_id, *e.properties.values()):
        assert col.dtype == object
        assert len(col) == len(e)
    assert isinstance(e.user_id[0], str) and e.user_id[0].startswith("u_")
    assert isinstance(e.event_id[0], str) and e.event_id[0] == "e_00000001"
    assert all(a["account_id"].startswith("a_") for a in ds.accounts)
    assert "SaasDataset(" in repr(ds) and "Columns(" in repr(e)


def test_every_event_name_is_used(ds: SaasDataset) -> None:
    assert set(ds.events.name.tolist()) == set(EVENT_NAMES)


def test_columns_reject_unequal_lengths() -> None:
    one = np.array(["x"], dtype=object)
    with pytest.raises(ValueError, match="rows"):
        Columns(user_id=one, account_id=one, name=one, event_id=one,
                timestamp=np.array([1, 2], dtype=np.int64))
    with pytest.raises(ValueError, match="plan"):
        Columns(user_id=one, account_id=one, name=one, event_id=one,
                timestamp=np.array([1], dtype=np.int64),
                properties={"plan": np.array([None, None], dtype=object)})


# -- determinism ------------------------------------------------------------------------------


def test_same_arguments_give_identical_data() -> None:
    a = synthetic_saas(n_accounts=60, seed=3)
    b = synthetic_saas(n_accounts=60, seed=3)
    for key, col in arrays(a).items():
        other = arrays(b)[key]
        assert col.dtype == other.dtype, key
        assert col.tolist() == other.tolist(), key
    assert a.events.timestamp.tobytes() == b.events.timestamp.tobytes()
    assert a.users == b.users
    assert a.accounts == b.accounts
    assert a.conversions == b.conversions


def test_different_seed_gives_different_data() -> None:
    a = synthetic_saas(n_accounts=60, seed=3)
    b = synthetic_saas(n_accounts=60, seed=4)
    assert a.events.timestamp.tobytes() != b.events.timestamp.tobytes()
    assert a.users != b.users


def test_end_as_string_or_datetime_in_any_zone() -> None:
    paris = timezone(timedelta(hours=2))
    a = synthetic_saas(n_accounts=20, end="2026-01-10T12:00:00+02:00")
    b = synthetic_saas(n_accounts=20, end=datetime(2026, 1, 10, 12, tzinfo=paris))
    c = synthetic_saas(n_accounts=20, end="2026-01-10T10:00:00Z")
    assert a.end == b.end == c.end == datetime(2026, 1, 10, 10, tzinfo=UTC)
    assert a.end.tzinfo is UTC
    assert a.events.timestamp.tolist() == b.events.timestamp.tolist() == \
        c.events.timestamp.tolist()


# -- invariants over many arguments -------------------------------------------------------------


def check_invariants(ds: SaasDataset, days: int) -> None:
    e = ds.events
    end_us = micros(ds.end)
    start_us = end_us - days * DAY
    accounts = {a["account_id"]: a for a in ds.accounts}
    users = {u["user_id"]: u for u in ds.users}
    assert len(accounts) == len(ds.accounts)
    assert len(users) == len(ds.users)
    for u in ds.users:
        acc = accounts[u["account_id"]]  # every user's account exists
        assert u["created_at"].tzinfo is not None
        assert acc["created_at"] <= u["created_at"] <= ds.end
    for a in ds.accounts:
        assert start_us <= micros(a["created_at"]) <= end_us
    ts = e.timestamp
    assert len(set(e.event_id.tolist())) == len(e)
    # Sorted by timestamp, ties broken by event id.
    keys = list(zip(ts.tolist(), e.event_id.tolist(), strict=True))
    assert keys == sorted(keys)
    if len(e):
        assert int(ts.max()) <= end_us
        signup = np.array([micros(users[x]["created_at"]) for x in e.user_id.tolist()])
        assert bool((ts >= signup).all())
    for uid, aid in zip(e.user_id.tolist(), e.account_id.tolist(), strict=True):
        assert aid is None or aid == users[uid]["account_id"]
    for c in ds.conversions:
        assert accounts[c["account_id"]]["created_at"] <= c["converted_at"] <= ds.end
        assert accounts[c["account_id"]]["traits"]["plan"] == "pro"
    converted = {c["account_id"] for c in ds.conversions}
    assert all((a["traits"]["plan"] == "pro") == (a["account_id"] in converted)
               for a in ds.accounts)


@settings(max_examples=30, deadline=None)
@given(
    n_accounts=st.integers(0, 30),
    days=st.integers(1, 120),
    seed=st.integers(0, 2**32 - 1),
    events_per_user=st.floats(0, 80),
    end=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1),
                     timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5))])),
)
def test_invariants_hold_for_any_arguments(n_accounts: int, days: int, seed: int,
                                           events_per_user: float, end: datetime) -> None:
    ds = synthetic_saas(n_accounts=n_accounts, days=days, seed=seed,
                        events_per_user=events_per_user, end=end)
    assert len(ds.accounts) == n_accounts
    check_invariants(ds, days)


def test_invariants_hold_for_the_default(ds: SaasDataset) -> None:
    check_invariants(ds, 90)


# -- realism ----------------------------------------------------------------------------------


def test_account_sizes_are_zipf_like(big: SaasDataset) -> None:
    sizes = np.array(list(Counter(u["account_id"] for u in big.users).values()))
    assert len(sizes) == len(big.accounts)  # no empty account
    assert np.median(sizes) <= 3
    assert (sizes <= 3).mean() > 0.6
    assert sizes.max() >= 20
    assert sizes.max() <= 60
    assert sizes.max() >= 8 * np.median(sizes)


def test_roles_personas_and_admin_activity(big: SaasDataset) -> None:
    roles = Counter(u["traits"]["role"] for u in big.users)
    personas = Counter(u["traits"]["persona"] for u in big.users)
    assert set(roles) == {"admin", "member", "viewer"}
    assert set(personas) == set(PERSONAS)
    per_user = Counter(big.events.user_id.tolist())
    mean = {r: np.mean([per_user[u["user_id"]] for u in big.users if u["traits"]["role"] == r])
            for r in roles}
    assert mean["admin"] > mean["member"] > mean["viewer"]
    # The first user of each account is its admin.
    first: dict[str, dict[str, Any]] = {}
    for u in big.users:
        first.setdefault(u["account_id"], u)
    assert all(u["traits"]["role"] == "admin" for u in first.values())
    assert all(u["created_at"] == a["created_at"] for a in big.accounts
               for u in [first[a["account_id"]]])


def test_activity_is_heavy_tailed(big: SaasDataset) -> None:
    counts = np.sort(np.array(list(Counter(big.events.user_id.tolist()).values())))[::-1]
    top = counts[: len(counts) // 10].sum() / counts.sum()
    assert top > 0.4
    assert counts[0] > 10 * np.median(counts)


def test_explorers_churn_and_champions_stay(big: SaasDataset) -> None:
    last: dict[str, int] = {}
    for uid, t in zip(big.events.user_id.tolist(), big.events.timestamp.tolist(), strict=True):
        last[uid] = t
    span: dict[str, list[float]] = defaultdict(list)
    for u in big.users:
        span[u["traits"]["persona"]].append((last[u["user_id"]] - micros(u["created_at"])) / DAY)
    assert np.median(span["explorer"]) < 7
    assert np.median(span["champion"]) > 3 * np.median(span["explorer"])


def test_emails_domains_students_and_competitors(ds: SaasDataset) -> None:
    domains = {a["account_id"]: a["traits"]["domain"] for a in ds.accounts}
    emails = [u["traits"]["email"] for u in ds.users]
    assert len(set(emails)) == len(emails)
    assert any(e.endswith(".edu") for e in emails)
    assert any(e.endswith("@rival.io") for e in emails)
    for u in ds.users:
        local, _, domain = u["traits"]["email"].partition("@")
        assert local and domain == u["traits"]["email_domain"] == domains[u["account_id"]]
    for a in ds.accounts:
        assert a["traits"]["plan"] in {"free", "trial", "pro"}
        assert a["traits"]["employees"] >= 1
        assert {"name", "domain", "employees", "industry", "plan"} <= set(a["traits"])
    assert {"email", "role", "persona", "plan"} <= set(ds.users[0]["traits"])


def test_properties_are_on_the_right_events(ds: SaasDataset) -> None:
    e = ds.events
    names = e.name
    props = e.properties

    def present(key: str) -> np.ndarray[Any, Any]:
        return np.array([v is not None for v in props[key].tolist()], dtype=bool)

    assert set(names[present("page")]) == {"page_viewed"}
    assert present("page")[names == "page_viewed"].all()
    assert "/pricing" in set(props["page"][names == "page_viewed"])
    assert set(names[present("feature")]) == {"automation_created", "integration_connected"}
    assert {"slack", "salesforce", "zapier"} <= set(props["feature"][present("feature")])
    assert set(names[present("storage_used_mb")]) == {"session_started", "project_created"}
    assert all(isinstance(v, float) for v in props["storage_used_mb"][present("storage_used_mb")])
    assert set(names[present("count")]) == {"message_sent"}
    assert all(type(v) is int and v >= 1 for v in props["count"][present("count")])
    assert present("plan").mean() > 0.85
    assert set(props["plan"][present("plan")]) == {"free", "trial", "pro"}
    # Events without an account are marketing-site page views, without a plan.
    no_account = np.array([a is None for a in e.account_id.tolist()], dtype=bool)
    assert 0 < no_account.sum() < 0.1 * len(e)
    assert set(names[no_account]) == {"page_viewed"}
    assert not present("plan")[no_account].any()


def test_storage_grows_per_account(ds: SaasDataset) -> None:
    storage = ds.events.properties["storage_used_mb"].tolist()
    last: dict[str, float] = {}
    growth = 0
    for acc, mb in zip(ds.events.account_id.tolist(), storage, strict=True):
        if mb is None or acc is None:
            continue
        assert mb >= last.get(acc, 0.0)
        growth += mb > last.get(acc, mb)
        last[acc] = mb
    assert growth > 100


def test_conversions_follow_the_aha_moment(big: SaasDataset) -> None:
    account_of = {u["user_id"]: u["account_id"] for u in big.users}
    seen: dict[str, set[str]] = defaultdict(set)
    for uid, name in zip(big.events.user_id.tolist(), big.events.name.tolist(), strict=True):
        seen[account_of[uid]].add(name)
    converted = {c["account_id"] for c in big.conversions}
    aha = {a for a, names in seen.items()
           if {"data_source_connected", "dashboard_created"} <= names}
    others = set(seen) - aha
    assert aha and others
    rate_aha = len(converted & aha) / len(aha)
    rate_other = len(converted & others) / len(others)
    assert 0.03 < len(converted) / len(big.accounts) < 0.4
    assert rate_aha > 2 * rate_other
    # Competitors never convert; the paid plan ends the limits.
    rival = {a["account_id"] for a in big.accounts if a["traits"]["domain"] == "rival.io"}
    assert rival and not rival & converted
    conv_at = {c["account_id"]: c["converted_at"] for c in big.conversions}
    e = big.events
    for uid, name, t in zip(e.user_id.tolist(), e.name.tolist(), e.timestamp.tolist(),
                            strict=True):
        acc = account_of[uid]
        if name in {"usage_limit_hit", "seat_cap_invite_blocked"} and acc in conv_at:
            assert t < micros(conv_at[acc])


def test_events_scale_linearly_with_accounts() -> None:
    small = len(synthetic_saas(n_accounts=150, seed=5).events)
    large = len(synthetic_saas(n_accounts=600, seed=5).events)
    assert 3.0 < large / small < 5.0


def test_events_per_user_sets_the_volume() -> None:
    a = synthetic_saas(n_accounts=100, seed=2, events_per_user=20)
    b = synthetic_saas(n_accounts=100, seed=2, events_per_user=80)
    assert len(a.users) == len(b.users)
    assert len(a.events) / len(a.users) == pytest.approx(20, rel=0.1)
    assert len(b.events) / len(b.users) == pytest.approx(80, rel=0.1)


@pytest.mark.parametrize("seed", [1, 8])
def test_n_events_aims_for_a_total(seed: int) -> None:
    ds = synthetic_saas(n_accounts=300, n_events=60_000, seed=seed)
    assert len(ds.events) == pytest.approx(60_000, rel=0.01)
    again = synthetic_saas(n_accounts=300, n_events=60_000, seed=seed)
    for key, column in arrays(ds).items():
        assert np.array_equal(column, arrays(again)[key]), key
    check_invariants(ds, 90)


def test_n_events_keeps_the_entities_and_scales_the_events() -> None:
    small = synthetic_saas(n_accounts=200, n_events=20_000, seed=4)
    large = synthetic_saas(n_accounts=200, n_events=80_000, seed=4)
    def who(ds: SaasDataset) -> list[tuple[Any, ...]]:
        # Names and emails are drawn after the events, so only who signed up where and when
        # is shared between the two.
        return [(u["user_id"], u["account_id"], u["created_at"], u["traits"]["role"])
                for u in ds.users]

    assert who(small) == who(large)
    assert [a["created_at"] for a in small.accounts] == [a["created_at"] for a in large.accounts]
    assert len(large.events) / len(small.events) == pytest.approx(4, rel=0.02)


# -- records --------------------------------------------------------------------------------------


def test_records_match_the_columns() -> None:
    ds = synthetic_saas(n_accounts=40, seed=9)
    events, users, accounts = ds.records()
    e = ds.events
    assert len(events) == len(e)
    keys = list(e.properties)
    for i, rec in enumerate(events):
        assert set(rec) == {"event_id", "user_id", "account_id", "name", "timestamp",
                            "properties"}
        assert rec["event_id"] == e.event_id[i]
        assert rec["user_id"] == e.user_id[i]
        assert rec["account_id"] == e.account_id[i]
        assert rec["name"] == e.name[i]
        assert rec["timestamp"].tzinfo is UTC
        assert micros(rec["timestamp"]) == e.timestamp[i]
        expected = {k: e.properties[k][i] for k in keys if e.properties[k][i] is not None}
        assert rec["properties"] == expected
    assert users == ds.users and accounts == ds.accounts
    users[0]["traits"]["role"] = "changed"
    assert ds.users[0]["traits"]["role"] != "changed"  # records() hands out copies


def test_records_load_into_an_event_log() -> None:
    eventlog = pytest.importorskip("pqlkit.eventlog")
    events, users, accounts = synthetic_saas(n_accounts=15, seed=1).records()
    log = eventlog.EventLog.from_records(events, users=users, accounts=accounts, strict=True)
    assert len(log) == len(events)


# -- argument checks ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"n_accounts": -1}, ValueError),
        ({"n_accounts": 2.5}, TypeError),
        ({"n_accounts": True}, TypeError),
        ({"days": 0}, ValueError),
        ({"seed": -3}, ValueError),
        ({"events_per_user": -1.0}, ValueError),
        ({"events_per_user": float("inf")}, ValueError),
        ({"events_per_user": "40"}, TypeError),
        ({"n_events": -1}, ValueError),
        ({"n_events": 1e6}, TypeError),
        ({"n_events": True}, TypeError),
        ({"n_events": 1000, "events_per_user": 40}, ValueError),
        ({"end": "2026-06-01T00:00:00"}, ValueError),
        ({"end": datetime(2026, 6, 1)}, ValueError),
        ({"end": "yesterday"}, ValueError),
        ({"end": 1_780_000_000}, TypeError),
    ],
)
def test_bad_arguments_are_rejected(kwargs: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        synthetic_saas(**kwargs)


def test_empty_dataset() -> None:
    ds = synthetic_saas(n_accounts=0)
    assert len(ds.events) == 0 and ds.users == [] and ds.accounts == []
    assert ds.records() == ([], [], [])


@pytest.mark.parametrize("options", [
    {"seed": -1}, {"n_accounts": -1}, {"days": 0}, {"n_accounts": 2.0},
    {"end": "2026-01-01T00:00:00"}, {"end": 3}, {"events_per_user": -1},
    {"events_per_user": "x"}])
def test_bad_demo_options_are_pqlkit_errors(options):
    # Some were bare ValueError / TypeError: `pqlkit demo --seed -1` printed a traceback.
    from pqlkit import datasets
    from pqlkit.errors import PqlkitError

    with pytest.raises(PqlkitError):
        datasets.synthetic_saas(**options)
