"""Properties of loading and scoring that hold for every log and every model (DESIGN §3).

Data and models come from :mod:`pqlkit.testing`, the same strategies plugin authors use.
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import datetime, timedelta
from typing import Any, Literal

from dateutil.relativedelta import relativedelta
from hypothesis import given
from hypothesis import strategies as st

import pqlkit as pk
from pqlkit._time import to_micros, to_utc
from pqlkit.eventlog import canonical, id_key
from pqlkit.report import REASONS
from pqlkit.testing import (
    assert_results_equal,
    conditions,
    decays,
    durations,
    event_logs,
    event_names,
    events,
    models,
    respelled,
    spellings,
    timestamps,
)

Rows = tuple[list[Any], list[Any], list[Any]]

#: None scores at the default as_of (the latest event), otherwise at a drawn moment.
as_ofs = st.one_of(st.none(), timestamps())


def load(rows: Rows) -> pk.EventLog:
    events_, users, accounts = rows
    return pk.EventLog.from_records(events_, users=users, accounts=accounts)


def rebuilt(model: pk.ScoringModel, **changes: Any) -> pk.ScoringModel:
    """The model with some fields changed (written out: attrs.evolve fails on tiers)."""
    fields: dict[str, Any] = {
        "name": model.name, "rules": model.rules, "threshold": model.threshold,
        "disqualify": model.disqualify, "decay": model.decay,
        "tiers": dict(model.tiers) or None, "level": model.level, "rollup": model.rollup,
        "floor": model.floor, "ceiling": model.ceiling,
        "group_caps": dict(model.group_caps) or None,
    }
    fields.update(changes)
    return pk.ScoringModel(**fields)


def main_table(model: pk.ScoringModel, result: pk.ScoreResult) -> tuple[pk.Table, str]:
    if model.level == "user":
        return result.users, "is_pql"
    return result.accounts, "is_pqa"


def kept_events(log: pk.EventLog) -> list[tuple[Any, ...]]:
    return [(e.timestamp, e.name, e.user_id, e.account_id, e.event_id,
             canonical(e.properties)) for e in log.events()]


# -- determinism (§3.3) -------------------------------------------------------------------------


@given(rows=event_logs(min_events=1), model=models(), as_of=as_ofs, data=st.data())
def test_scores_do_not_depend_on_the_order_of_rows(rows: Rows, model: pk.ScoringModel,
                                                   as_of: datetime | None,
                                                   data: st.DataObject) -> None:
    shuffled = tuple(data.draw(st.permutations(table)) for table in rows)
    assert_results_equal(model.score(load(rows), as_of=as_of),
                         model.score(load(shuffled), as_of=as_of), rel=0)  # type: ignore[arg-type]


@given(rows=event_logs(min_events=1), model=models(), as_of=as_ofs)
def test_records_and_dicts_score_the_same(rows: Rows, model: pk.ScoringModel,
                                          as_of: datetime | None) -> None:
    records = ([pk.Event(**r) for r in rows[0]], [pk.User(**u) for u in rows[1]],
               [pk.Account(**a) for a in rows[2]])
    assert_results_equal(model.score(load(rows), as_of=as_of),
                         model.score(load(records), as_of=as_of), rel=0)


@given(rows=event_logs(min_events=1), model=models(), as_of=as_ofs)
def test_reloading_a_logs_own_records_scores_the_same(rows: Rows, model: pk.ScoringModel,
                                                      as_of: datetime | None) -> None:
    log = load(rows)
    again = pk.EventLog.from_records(list(log.events()), users=list(log.users()),
                                     accounts=list(log.accounts()))
    assert kept_events(again) == kept_events(log)
    assert_results_equal(model.score(log, as_of=as_of), model.score(again, as_of=as_of), rel=0)


@given(rows=event_logs(min_events=1), model=models(), as_of=as_ofs, data=st.data())
def test_scores_do_not_depend_on_chunking(rows: Rows, model: pk.ScoringModel,
                                          as_of: datetime | None, data: st.DataObject) -> None:
    events_, users, accounts = rows
    cuts = sorted(data.draw(st.lists(st.integers(0, len(events_)), max_size=3), label="cuts"))
    bounds = list(zip([0, *cuts], [*cuts, len(events_)], strict=True))
    where = st.integers(0, len(bounds) - 1)
    user_chunk = data.draw(st.lists(where, min_size=len(users), max_size=len(users)))
    account_chunk = data.draw(st.lists(where, min_size=len(accounts), max_size=len(accounts)))
    chunks = [
        pk.EventLog.from_records(
            events_[lo:hi],
            users=[u for u, k in zip(users, user_chunk, strict=True) if k == i],
            accounts=[a for a, k in zip(accounts, account_chunk, strict=True) if k == i],
        )
        for i, (lo, hi) in enumerate(bounds)
    ]
    whole, joined = load(rows), pk.EventLog.concat(chunks)
    assert_results_equal(model.score(whole, as_of=as_of), model.score(joined, as_of=as_of),
                         rel=0)
    assert kept_events(joined) == kept_events(whole)
    a, b = whole.report.counts, joined.report.counts
    assert (a["input"], a["kept"]) == (b["input"], b["kept"])
    assert a["duplicates"] + a["rejected"] == b["duplicates"] + b["rejected"]


@given(rows=event_logs(min_events=1, zones=True), model=models(), as_of=as_ofs,
       data=st.data())
def test_scores_do_not_depend_on_how_instants_are_spelled(
        rows: Rows, model: pk.ScoringModel, as_of: datetime | None,
        data: st.DataObject) -> None:
    spelled = tuple(data.draw(respelled(table)) for table in rows)
    spelled_as_of = None if as_of is None else data.draw(spellings(as_of), label="as_of")
    assert_results_equal(model.score(load(rows), as_of=as_of),
                         model.score(load(spelled), as_of=spelled_as_of),  # type: ignore[arg-type]
                         rel=0)


# -- point in time (§3.2) ---------------------------------------------------------------------


@given(rows=event_logs(), model=models(), as_of=timestamps(), data=st.data())
def test_an_event_after_as_of_changes_nothing(rows: Rows, model: pk.ScoringModel,
                                              as_of: datetime, data: st.DataObject) -> None:
    later = data.draw(events(min_value=as_of + timedelta(microseconds=1),
                             max_value=as_of + timedelta(days=30)), label="later event")
    events_, users, accounts = rows
    at = data.draw(st.integers(0, len(events_)), label="position")
    more = [*events_[:at], later, *events_[at:]]
    assert_results_equal(model.score(load(rows), as_of=as_of),
                         model.score(load((more, users, accounts)), as_of=as_of), rel=0)


@given(rows=event_logs(), level=st.sampled_from(["user", "account"]), name=event_names(),
       within=st.one_of(st.none(), durations(calendar=True)),
       where=st.one_of(st.none(), st.sampled_from([
           pk.prop("plan") == "pro", pk.prop("count") >= 3, pk.prop("page").is_missing()])),
       decay=st.one_of(st.none(), decays()), as_of=timestamps(), data=st.data())
def test_a_count_never_drops_when_a_matching_event_is_added(
        rows: Rows, level: Literal["user", "account"], name: str, within: Any, where: Any, decay: Any,
        as_of: datetime, data: st.DataObject) -> None:
    signal = pk.count(name, within=within, where=where, decay=decay)
    model = pk.ScoringModel(name="n", level=level, threshold=1, floor=None,
                            rules=[pk.Rule("n", signal, points_per=1)])
    added = data.draw(events(max_value=as_of, event_ids=False), label="added event")
    assert isinstance(added, dict)
    added["name"] = name
    events_, users, accounts = rows
    before = main_table(model, model.score(load(rows), as_of=as_of))[0]
    after = main_table(model, model.score(load(([*events_, added], users, accounts)),
                                          as_of=as_of))[0]
    for row in before:
        entity = row[before.key]
        assert after[entity]["n"] >= row["n"], (entity, row["n"], after[entity]["n"])


@given(rows=event_logs(min_events=1), model=models())
def test_the_default_as_of_is_the_latest_kept_event(rows: Rows,
                                                    model: pk.ScoringModel) -> None:
    # Without ids every event is kept; of the events sharing an id, the earliest is.
    loose = [to_utc(r["timestamp"]) for r in rows[0] if "event_id" not in r]
    earliest: dict[Any, datetime] = {}
    for r in rows[0]:
        if "event_id" in r:
            ts = to_utc(r["timestamp"])
            earliest[r["event_id"]] = min(ts, earliest.get(r["event_id"], ts))
    latest = max([*loose, *earliest.values()])

    result = model.score(load(rows))
    assert result.as_of == latest
    assert_results_equal(result, model.score(load(rows), as_of=latest), rel=0)


# -- scores (§3.5, §3.11) ---------------------------------------------------------------------


@given(rows=event_logs(min_events=1), model=models(), low=st.integers(-10, 90),
       step=st.one_of(st.integers(0, 40), st.floats(0, 40)), as_of=as_ofs)
def test_raising_the_threshold_never_adds_a_qualified_entity(
        rows: Rows, model: pk.ScoringModel, low: int, step: float,
        as_of: datetime | None) -> None:
    log = load(rows)
    if model.ceiling is not None:  # (a threshold above the ceiling is refused)
        low, step = min(low, model.ceiling), min(step, model.ceiling - min(low, model.ceiling))
    lenient = rebuilt(model, threshold=low).score(log, as_of=as_of)
    strict = rebuilt(model, threshold=low + step).score(log, as_of=as_of)
    table, flag = main_table(model, strict)
    lenient_table = main_table(model, lenient)[0]
    for row in table:
        if row[flag]:
            assert lenient_table[row[table.key]][flag], row
    if model.level == "user":
        for row in strict.accounts:
            if row["is_pqa"]:
                assert lenient.accounts[row["account_id"]]["is_pqa"], row


def _check_explanations(model: pk.ScoringModel, result: pk.ScoreResult, *,
                        exact: bool) -> None:
    table, _ = main_table(model, result)
    for row in table:
        expl = result.explain(row[table.key], level=model.level)
        assert isinstance(expl, pk.Explanation)
        assert expl.score == row["score"]
        if expl.last_event is None:  # no events, no inactivity to decay
            assert expl.decay == 0, expl.text()
        parts = [*(r.points for r in expl.rules), *expl.caps.values(), expl.decay, expl.clamp]
        if exact:
            assert expl.total() == row["score"], (expl.text(), parts)
            assert float(row["score"]).is_integer()
        else:
            scale = max([1.0, *(abs(p) for p in parts)])
            assert math.isclose(expl.total(), row["score"], rel_tol=1e-9,
                                abs_tol=1e-9 * scale), (expl.text(), parts)


@given(rows=event_logs(min_events=1), model=models(), as_of=as_ofs)
def test_explanations_add_up_to_the_score(rows: Rows, model: pk.ScoringModel,
                                          as_of: datetime | None) -> None:
    _check_explanations(model, model.score(load(rows), as_of=as_of), exact=False)


@given(rows=event_logs(min_events=1), model=models(integer_points=True), as_of=as_ofs)
def test_explanations_add_up_exactly_for_whole_points_without_decay(
        rows: Rows, model: pk.ScoringModel, as_of: datetime | None) -> None:
    _check_explanations(model, model.score(load(rows), as_of=as_of), exact=True)


def _may_qualify(result: pk.ScoreResult, model: pk.ScoringModel, row: Any,
                 log: pk.EventLog) -> bool:
    """False for an account-level row with no users and no events of its own (naming no
    user) as of the score: such an account is never a PQA (§3.9)."""
    if model.level != "account" or row["n_users"] > 0:
        return True
    a = log.account_ids.index(row["account_id"])
    as_of = to_micros(result.as_of)
    return any(log.user[i] < 0 and log.account[i] == a and log.ts[i] <= as_of
               for i in range(len(log)))


@given(rows=event_logs(min_events=1), model=models(), as_of=as_ofs)
def test_random_models_score_random_logs(rows: Rows, model: pk.ScoringModel,
                                         as_of: datetime | None) -> None:
    log = load(rows)
    result = model.score(log, as_of=as_of)
    assert result.as_of == (log.max_timestamp if as_of is None else as_of)
    table, flag = main_table(model, result)
    rule_names = [r.name for r in model.rules]
    assert set(rule_names) <= set(table.columns)
    bars = sorted(model.tiers, key=lambda nb: -nb[1])
    for row in table:
        score = row["score"]
        assert math.isfinite(score)
        if model.floor is not None:
            assert score >= model.floor
        if model.ceiling is not None:
            assert score <= model.ceiling
        assert row[flag] == (score >= model.threshold and not row["disqualified"]
                             and _may_qualify(result, model, row, log))
        reached = [name for name, bar in bars if score >= bar]
        want = "disqualified" if row["disqualified"] else (reached[0] if reached else None)
        assert row["tier"] == want, (row, model.tiers)


@given(rows=event_logs(min_events=1), model=models(), as_of=as_ofs)
def test_the_rows_are_the_entities_that_exist_at_as_of(rows: Rows, model: pk.ScoringModel,
                                                       as_of: datetime | None) -> None:
    log = load(rows)
    result = model.score(log, as_of=as_of)
    moment = result.as_of
    seen = [e for e in log.events() if e.timestamp <= moment]
    table_users = {u.user_id: u for u in log.users()}
    users = {uid for uid, u in table_users.items()
             if u.created_at is None or u.created_at <= moment}
    users |= {e.user_id for e in seen if e.user_id is not None and e.user_id not in table_users}
    membership: dict[Any, Any] = {}
    for uid in users:
        user = table_users.get(uid)
        if user is not None and user.account_id is not None:
            membership[uid] = user.account_id
        else:
            named = [e.account_id for e in seen if e.user_id == uid and e.account_id is not None]
            membership[uid] = named[0] if named else None
    table_accounts = {a.account_id: a for a in log.accounts()}
    accounts = {aid for aid, a in table_accounts.items()
                if a.created_at is None or a.created_at <= moment}
    accounts |= {a for a in membership.values() if a is not None and a not in table_accounts}
    # (Events of a user created after as_of count for nothing: they make no account.)
    accounts |= {e.account_id for e in seen
                 if e.account_id is not None and e.account_id not in table_accounts
                 and (e.user_id is None or e.user_id in users)}

    assert result.accounts.column("account_id") == sorted(accounts, key=id_key)
    if model.level == "user":
        assert result.users.column("user_id") == sorted(users, key=id_key)
        for row in result.users:
            assert row["account_id"] == membership[row["user_id"]], row


@given(rows=event_logs(min_events=1), model=models(),
       extra=st.one_of(conditions(level="user"), conditions(level="account")), as_of=as_ofs)
def test_disqualified_entities_are_never_qualified(rows: Rows, model: pk.ScoringModel,
                                                   extra: pk.Expr,
                                                   as_of: datetime | None) -> None:
    try:
        model = rebuilt(model, disqualify=[*model.disqualify, extra])
    except pk.ValidationError:  # an account-only signal in a user-level model
        model = rebuilt(model, disqualify=[*model.disqualify, pk.trait("plan") == "pro"])
    result = model.score(load(rows), as_of=as_of)
    table, flag = main_table(model, result)
    for row in table:
        if row["disqualified"]:
            assert row[flag] is False and row["tier"] == "disqualified", row
        else:
            assert row["tier"] != "disqualified", row


def _aggregate(policy: pk.Rollup, scores: list[float]) -> float:
    if not scores:
        return 0.0
    if policy.score == "max":
        return max(scores)
    if policy.score == "sum":
        return math.fsum(scores)
    if policy.score == "mean":
        return math.fsum(scores) / len(scores)
    top = sorted(scores, reverse=True)[: policy.k]
    return math.fsum(top) / len(top)


@given(rows=event_logs(min_events=1), model=models(level="user"), as_of=as_ofs)
def test_accounts_roll_up_their_users_by_the_policy(rows: Rows, model: pk.ScoringModel,
                                                    as_of: datetime | None) -> None:
    log = load(rows)
    result = model.score(log, as_of=as_of)
    policy = model.rollup
    active: set[Any] = set()
    if policy.active_within is not None:
        since = result.as_of - timedelta(microseconds=policy.active_within.micros)
        active = {e.user_id for e in log.events() if since < e.timestamp <= result.as_of}
    for acc in result.accounts:
        members = [u for u in result.users if u["account_id"] == acc["account_id"]]
        n_pql = sum(1 for u in members if u["is_pql"])
        assert acc["n_users"] == len(members)
        assert acc["n_pql"] == n_pql <= len(members)
        # The share is over every user, or (denominator="active") active PQLs over the
        # users active in the window.
        counted = (members if policy.denominator == "all"
                   else [u for u in members if u["user_id"] in active])
        share = (sum(1 for u in counted if u["is_pql"]) / len(counted)) if counted else 0.0
        assert acc["share_pql"] == share
        share_ok = policy.min_share is None or share >= policy.min_share
        assert acc["is_pqa"] == (len(members) > 0 and share_ok and n_pql >= policy.min_pql), acc
        eligible = [u["score"] for u in members if not u["disqualified"]]
        assert math.isclose(acc["score"], _aggregate(policy, eligible), rel_tol=1e-12,
                            abs_tol=1e-12), (acc, eligible)


@given(rows=event_logs(min_events=1), model=models(level="account"), as_of=as_ofs)
def test_account_level_models_qualify_by_threshold(rows: Rows, model: pk.ScoringModel,
                                                   as_of: datetime | None) -> None:
    log = load(rows)
    result = model.score(log, as_of=as_of)
    assert len(result.users) == 0
    for acc in result.accounts:
        assert acc["n_users"] >= 0
        assert acc["is_pqa"] == (acc["score"] >= model.threshold and not acc["disqualified"]
                                 and _may_qualify(result, model, acc, log))


# -- nothing is lost (§3.4, §3.8) -------------------------------------------------------------


@given(rows=event_logs(junk=True))
def test_every_input_row_is_kept_duplicate_or_rejected(rows: Rows) -> None:
    log = load(rows)
    report = log.report
    for table, given_rows in zip(("events", "users", "accounts"), rows, strict=True):
        c = report.tables[table]
        assert c["input"] == len(given_rows)
        assert c["input"] == c["kept"] + c["duplicates"] + c["rejected"], (table, c)
        sources = [r.source for r in report.rejections if r.table == table]
        assert len(sources) == c["rejected"] == len(set(sources))
        assert set(sources) <= set(range(len(given_rows)))
    assert report.tables["events"]["kept"] == len(log)
    assert report.tables["users"]["kept"] == int(log.user_in_table.sum())
    assert report.tables["accounts"]["kept"] == int(log.account_in_table.sum())
    counts = report.counts
    assert counts["input"] == counts["kept"] + counts["duplicates"] + counts["rejected"]
    for rejection in report.rejections:
        assert rejection.reason in REASONS, rejection
        assert isinstance(rejection.message, str) and rejection.message, rejection


@given(rows=event_logs(junk=True), data=st.data())
def test_duplicates_are_resolved_the_same_in_any_order(rows: Rows,
                                                       data: st.DataObject) -> None:
    shuffled = tuple(data.draw(st.permutations(table)) for table in rows)
    a, b = load(rows), load(shuffled)  # type: ignore[arg-type]
    assert a.report.tables == b.report.tables
    assert kept_events(a) == kept_events(b)
    assert list(a.users()) == list(b.users())
    assert list(a.accounts()) == list(b.accounts())

    def rejected(log: pk.EventLog) -> Counter[tuple[str, str, str]]:
        return Counter((r.table, r.reason, r.sample) for r in log.report.rejections)

    assert rejected(a) == rejected(b)


# -- windows and decay, against a direct computation (§3.2, §3.6, §3.10) -------------------------


def _before(moment: datetime, span: Any) -> datetime:
    d = pk.as_duration(span)
    return moment - (relativedelta(months=d.months) if d.months
                     else timedelta(microseconds=d.micros))


def _after(moment: datetime, span: Any) -> datetime:
    d = pk.as_duration(span)
    return moment + (relativedelta(months=d.months) if d.months
                     else timedelta(microseconds=d.micros))


@given(rows=event_logs(), name=st.one_of(st.none(), event_names()),
       within=st.one_of(st.none(), durations(calendar=True)),
       since_signup=st.one_of(st.none(), durations(calendar=True)), as_of=timestamps())
def test_counts_hold_exactly_the_events_in_their_windows(
        rows: Rows, name: str | None, within: Any, since_signup: Any, as_of: datetime) -> None:
    log = load(rows)
    model = pk.ScoringModel(name="n", threshold=1, rules=[pk.Rule(
        "n", pk.count(name, within=within, since_signup=since_signup), points_per=1)])
    result = model.score(log, as_of=as_of)
    created = {u.user_id: u.created_at for u in log.users()}
    for row in result.users:
        mine = [e for e in log.events() if e.user_id == row["user_id"] and e.timestamp <= as_of]
        want = [e for e in mine if name is None or e.name == name]
        if within is not None:
            want = [e for e in want if _before(as_of, within) < e.timestamp]
        if since_signup is not None:
            start = created.get(row["user_id"]) or (mine[0].timestamp if mine else None)
            want = [] if start is None else [
                e for e in want if start <= e.timestamp < _after(start, since_signup)]
        assert row["n"] == len(want), (row, want)


@given(rows=event_logs(min_events=1), decay=decays(), points=st.integers(1, 50),
       as_of=as_ofs)
def test_model_decay_follows_the_inactivity_of_each_user(
        rows: Rows, decay: Any, points: int, as_of: datetime | None) -> None:
    log = load(rows)
    model = pk.ScoringModel(name="d", threshold=1, decay=decay, floor=None,
                            rules=[pk.Rule("all", pk.count() >= 0, points=points)])
    result = model.score(log, as_of=as_of)
    for row in result.users:
        mine = [e.timestamp for e in log.events()
                if e.user_id == row["user_id"] and e.timestamp <= result.as_of]
        if not mine:  # no events, no inactivity to decay
            assert row["score"] == points, row
            continue
        idle = (result.as_of - mine[-1]) / timedelta(microseconds=1)
        if isinstance(decay, pk.InactivityDecay):
            grace = decay.grace.micros if decay.grace is not None else 0
            periods = (idle - grace) // decay.every.micros if idle > grace else 0
            want = points - decay.points * periods
        elif isinstance(decay, pk.HalfLife):
            want = points * 0.5 ** (idle / decay.half_life.micros)
        else:
            want = 0 if idle > decay.idle.micros else points
        assert math.isclose(row["score"], want, rel_tol=1e-12, abs_tol=1e-12), (row, want)


@given(st.lists(st.one_of(
    st.floats(allow_nan=False, allow_infinity=True),
    st.sampled_from([1e308, -1e308, 1.7976931348623157e308, 5e-324])), max_size=8))
def test_fsum_is_the_exact_sum_rounded_once_or_an_infinity(values: list[float]) -> None:
    from fractions import Fraction

    from pqlkit._fsum import fsum

    got = fsum(values)
    infs = {v > 0 for v in values if math.isinf(v)}
    if len(infs) > 1:
        assert math.isnan(got)
    elif infs:
        assert got == (math.inf if True in infs else -math.inf)
    else:
        exact = sum(map(Fraction, values), Fraction(0))
        try:
            assert got == float(exact)
        except OverflowError:
            assert got == (math.inf if exact > 0 else -math.inf)


@given(st.lists(st.text(max_size=6), min_size=1, max_size=30))
def test_text_property_values_are_held_in_python_order_whatever_the_route(texts: list[str]):
    # Text-only property columns are ordered and stored as numpy str arrays (no Python
    # step per value): the order must be Python's, a value ending in NUL (which a numpy
    # str array drops) must survive, and every route must give the same column.
    import numpy as np

    rows = [{"name": "x", "timestamp": f"2026-05-01T00:00:{i % 60:02d}Z", "user_id": "u",
             "properties": {"p": v}} for i, v in enumerate(texts)]
    from_rows = pk.EventLog.from_records(rows)
    from_columns = pk.EventLog.from_columns(
        user_id=["u"] * len(texts), name=["x"] * len(texts),
        timestamp=[to_utc(r["timestamp"]) for r in rows], properties={"p": texts})
    for log in (from_rows, from_columns):
        column = log.props["p"]
        assert list(column.values) == sorted(set(texts)), texts
        assert [column[i] for i in range(len(log))] == [
            e.properties.get("p") for e in from_rows.events()]
        if isinstance(column.values, np.ndarray) and column.values.dtype.kind == "U":
            assert not any(v.endswith("\x00") for v in texts)
    assert str(from_rows.props["p"].values.dtype) == str(from_columns.props["p"].values.dtype)
