"""The columnar engine: registration, fallbacks, shared slices and its numeric building blocks.

Parity with the reference engine over random models is in ``test_parity.py``; here are the
cases random models rarely reach (month ends, typed property values, roll-up policies over
varied scores, users created after ``as_of``) and the pieces that must be exact on their own.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import attrs
import numpy as np
import pytest
from dateutil.relativedelta import relativedelta
from hypothesis import example, given, settings
from hypothesis import strategies as st
from tests._support import AS_OF, US, ago, ev

import pqlkit as pk
from pqlkit import count, distinct, exists, last_seen, prop, total, trait
from pqlkit._fsum import fsum
from pqlkit._time import from_micros, to_micros, to_utc
from pqlkit.engine import DEFAULT_ENGINE, ENGINES, get_engine
from pqlkit.engine import columnar as col
from pqlkit.engine.columnar import ColumnarEngine
from pqlkit.errors import ValidationError
from pqlkit.model import ROLLUP_SCORES
from pqlkit.templates import TEMPLATES
from pqlkit.testing import (
    assert_explanations_equal,
    assert_results_equal,
    durations,
    event_logs,
    timestamps,
)


def both(model: pk.ScoringModel, log: pk.EventLog, as_of: Any = AS_OF, rel: float = 0.0
         ) -> pk.ScoreResult:
    """Score with both engines, assert they agree (explanations too), return columnar's."""
    ref = model.score(log, as_of=as_of, engine="reference")
    got = model.score(log, as_of=as_of, engine="columnar")
    assert_results_equal(ref, got, rel=rel)
    assert_explanations_equal(ref, got, rel=rel)
    return got


# -- registration ------------------------------------------------------------------------------


class TestRegistration:
    def test_columnar_is_the_default_engine(self):
        model = pk.ScoringModel(name="m", threshold=1,
                                rules=[pk.Rule("a", exists("a"), points=1)])
        result = model.score([ev("a", ago(days=1))], as_of=AS_OF)
        assert result.engine == "columnar" == DEFAULT_ENGINE
        assert ENGINES == ("columnar", "reference")

    def test_engines_by_name_and_instance(self):
        assert isinstance(get_engine("columnar"), ColumnarEngine)
        engine = ColumnarEngine()
        assert get_engine(engine) is engine
        with pytest.raises(ValidationError, match="columnar, reference"):
            get_engine("duckdb")

    def test_reference_stays_available(self):
        model = pk.ScoringModel(name="m", threshold=1,
                                rules=[pk.Rule("a", exists("a"), points=1)])
        result = model.score([ev("a", ago(days=1))], as_of=AS_OF, engine="reference")
        assert result.engine == "reference"
        # The default engine runs this model with no per-entity fallback.
        default = model.score([ev("a", ago(days=1))], as_of=AS_OF)
        assert default.engine == "columnar" and default.fallbacks == ()


# -- fallbacks -----------------------------------------------------------------------------------


@attrs.frozen(eq=False, repr=False)
class PagesSeen(pk.Signal):
    """Distinct pages viewed: a custom signal with evidence."""

    kind: ClassVar[str] = "number"
    calls: ClassVar[list[Any]] = []

    def evaluate(self, ctx: Any) -> int:
        PagesSeen.calls.append(ctx.entity_id)
        return len({p for p in ctx.events("page_viewed").values("page") if p is not None})

    def evidence(self, ctx: Any) -> pk.EventSet:
        return ctx.events("page_viewed")


@attrs.frozen
class Streak:
    """A custom rule: 7 points from two queries."""

    name: str = "streak"

    def points_for(self, ctx: Any) -> float:
        return 7 if ctx.evaluate(count("query")) >= 2 else 0


@attrs.frozen
class HalveDaily:
    """A custom decay: half the value per full day of age."""

    def apply(self, value: float, age: timedelta) -> float:
        return value / 2 ** (age // timedelta(days=1))


class TestFallbacks:
    EVENTS: ClassVar[list[dict]] = [
        ev("page_viewed", ago(days=1), properties={"page": "/pricing"}),
        ev("page_viewed", ago(days=2), properties={"page": "/docs"}),
        ev("query", ago(days=1)), ev("query", ago(days=3)),
        ev("query", ago(days=1), "u2"),
        ev("page_viewed", AS_OF + US, "u3"),  # u3 exists only after as_of
    ]

    def _log(self) -> pk.EventLog:
        return pk.EventLog.from_records(self.EVENTS)

    def test_builtins_never_fall_back(self):
        result = both(TEMPLATES["trial"](), self._log())
        assert result.fallbacks == ()

    def test_custom_signal_is_named_and_runs_for_existing_entities_only(self):
        PagesSeen.calls.clear()
        model = pk.ScoringModel(name="m", threshold=1, rules=[
            pk.Rule("pages", PagesSeen() >= 2, points=5),
            pk.Rule("pages_again", PagesSeen() >= 1, points=1),
        ])
        result = both(model, self._log())
        assert result.fallbacks == ("PagesSeen(): custom signal, evaluated one entity at a time",)
        assert result.users["u1"]["score"] == 6
        # Once per existing entity for the columnar run (both rules share it), once per
        # entity and rule for the reference run.
        assert PagesSeen.calls.count("u3") == 0
        assert PagesSeen.calls.count("u1") == 3

    def test_custom_rule_and_decays_are_named(self):
        model = pk.ScoringModel(
            name="m", threshold=1, decay=HalveDaily(),
            rules=[Streak(),
                   pk.Rule("q", exists("query"), points=8, decay=HalveDaily()),
                   pk.Rule("w", count("query", decay=HalveDaily()), points_per=2)],
        )
        result = both(model, self._log())
        assert result.fallbacks == (
            "rule 'streak': custom rule, points_for(ctx) called one entity at a time",
            "HalveDaily() on rule 'q': custom decay, applied one entity at a time",
            "HalveDaily() in count('query', decay=HalveDaily()): custom decay, applied once "
            "per distinct event age",
            "HalveDaily() on the model: custom decay, applied one entity at a time",
        )
        assert result.users["u1"]["streak"] == 7
        assert result.users["u1"]["q"] == 4.0          # latest query a day old
        assert result.users["u1"]["w"] == 2 * (0.5 + 0.125)

    def test_custom_signal_in_a_disqualifier(self):
        model = pk.ScoringModel(name="m", threshold=1, disqualify=[PagesSeen() >= 2],
                                rules=[pk.Rule("q", exists("query"), points=1)])
        result = both(model, self._log())
        assert result.users["u1"]["disqualified"] is True
        assert result.fallbacks


@attrs.frozen(repr=False, eq=False)
class SquareRule(pk.Rule):
    """A Rule subclass with its own points: the square of the signal's value."""

    def points_from(self, value: Any) -> float:
        return 0 if value is None else float(value) ** 2


@attrs.frozen(kw_only=True, repr=False, eq=False)
class MedianRollup(pk.Rollup):
    """A Rollup subclass: the median score, and a PQA when exactly one user is a PQL."""

    def aggregate(self, scores: list[float]) -> float:
        ordered = sorted(scores)
        return float(ordered[len(ordered) // 2]) if ordered else 0.0

    def is_pqa(self, n_pql: int, share: float) -> bool:
        return n_pql == 1


class TestOverriddenBuiltins:
    def test_a_rule_and_a_rollup_with_their_own_methods_are_called(self):
        users = [{"user_id": f"u{i}", "account_id": "A"} for i in range(1, 4)]
        events = [ev("q", ago(hours=h), f"u{i}") for i in range(1, 4) for h in range(i)]
        model = pk.ScoringModel(name="m", threshold=5, rollup=MedianRollup(), rules=[
            SquareRule("sq", count("q"), points_per=1)])
        result = both(model, pk.EventLog.from_records(events, users=users))
        assert result.users.column("sq") == [1.0, 4.0, 9.0]   # 1, 2 and 3 queries, squared
        assert result.accounts["A"]["score"] == 4.0          # the median, not the max
        assert result.accounts["A"]["is_pqa"] is True        # one PQL (u3), share 1/3
        assert len(result.fallbacks) == 3


# -- one pass per slice --------------------------------------------------------------------------


class TestSharedSlices:
    def test_signals_of_one_slice_share_one_selection(self, monkeypatch):
        calls: list[tuple[Any, ...]] = []
        original = col._Frame._select

        def spy(self: Any, *args: Any) -> Any:
            calls.append(args)
            return original(self, *args)

        monkeypatch.setattr(col._Frame, "_select", spy)
        model = pk.ScoringModel(name="m", threshold=1, decay=pk.InactivityDecay(
            points=1, every="7d"), rules=[
            pk.Rule("a", count("query", within="30d") >= 1, points=1),
            pk.Rule("b", exists("query", within="30d"), points=1),
            pk.Rule("c", last_seen("query", within="30d") >= ago(days=2), points=1),
            pk.Rule("d", pk.days_since_last("query", within="30d") < 3, points=1),
            pk.Rule("e", pk.days_since_last() < 3, points=1),
            pk.Rule("f", count("query", within="2w") + count("query", within="14d"),
                    points_per=1),
        ])
        log = pk.EventLog.from_records(TestFallbacks.EVENTS)
        model.score(log, as_of=AS_OF)
        # query/30d, everything (rule e and the model decay), query/14d
        assert len(calls) == 3


# -- numeric building blocks ---------------------------------------------------------------------


finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e300, max_value=1e300)
awkward = st.one_of(finite, st.sampled_from([0.1, 0.2, 0.3, 1e16, -1e16, 1.0, 1e-16, 2.0 ** -53,
                                            -0.0, 5e-324]))


#: Magnitudes whose sums overflow on the way although the exact sum is finite (0 for
#: 1e308 + 1e308 - 1e308 - 1e308): a bound on the row's magnitude overflowed to inf, and
#: "inf <= inf" once took such a row for one that adds up exactly in any order.
huge = st.sampled_from([1e308, -1e308, 1.7976931348623157e308, -1.7976931348623157e308, 5.0])


@given(st.lists(st.lists(awkward, min_size=3, max_size=3), max_size=8))
def test_row_sums_are_fsum_bit_for_bit(rows: list[list[float]]) -> None:
    columns = [np.array([r[j] for r in rows], dtype=np.float64) for j in range(3)]
    got = col._fsum_rows(columns, len(rows))
    assert got.tolist() == [math.fsum(r) for r in rows]


@given(st.lists(st.lists(huge, min_size=4, max_size=4), min_size=1, max_size=6))
@example([[1e308, 1e308, -1e308, -1e308]])
def test_row_sums_that_overflow_on_the_way_are_the_exact_sum(rows: list[list[float]]) -> None:
    columns = [np.array([r[j] for r in rows], dtype=np.float64) for j in range(4)]
    with np.errstate(all="raise"):  # (and no warning escapes)
        got = col._fsum_rows(columns, len(rows))
    assert got.tolist() == [fsum(r) for r in rows]


@given(st.lists(st.tuples(st.integers(0, 4), awkward), max_size=40))
def test_group_sums_are_fsum_bit_for_bit(pairs: list[tuple[int, float]]) -> None:
    groups = np.array([g for g, _ in pairs], dtype=np.int64)
    values = np.array([v for _, v in pairs], dtype=np.float64)
    got = col._group_fsum(groups, values, 5)
    want = [math.fsum(v for g, v in pairs if g == k) for k in range(5)]
    assert got.tolist() == want


@given(st.lists(st.tuples(st.integers(0, 2), huge), max_size=12))
@example([(0, 1e308), (0, 1e308), (0, -1e308), (0, -1e308)])
def test_group_sums_that_overflow_on_the_way_are_the_exact_sum(
        pairs: list[tuple[int, float]]) -> None:
    groups = np.array([g for g, _ in pairs], dtype=np.int64)
    values = np.array([v for _, v in pairs], dtype=np.float64)
    got = col._group_fsum(groups, values, 3)
    assert got.tolist() == [fsum(v for g, v in pairs if g == k) for k in range(3)]


def test_group_sums_of_many_small_weights_are_fsum() -> None:
    rng = np.random.default_rng(1)
    groups = rng.integers(0, 50, 20_000)
    values = 0.5 ** (rng.random(20_000) * 40)
    got = col._group_fsum(groups, values, 50)
    assert got.tolist() == [math.fsum(values[groups == k].tolist()) for k in range(50)]


@given(moment=timestamps(min_value=datetime(1990, 1, 1, tzinfo=UTC),
                         max_value=datetime(2060, 1, 1, tzinfo=UTC)),
       months=st.integers(-30, 30))
def test_month_shifts_match_relativedelta(moment: datetime, months: int) -> None:
    got = col._shift_months(np.array([to_micros(moment)], dtype=np.int64), months)
    assert from_micros(int(got[0])) == moment + relativedelta(months=months)


def test_month_shifts_clip_to_the_end_of_the_month() -> None:
    jan31 = datetime(2026, 1, 31, 13, 5, tzinfo=UTC)
    got = col._shift_months(np.array([to_micros(jan31)]), 1)
    assert from_micros(int(got[0])) == datetime(2026, 2, 28, 13, 5, tzinfo=UTC)


# -- cases random models rarely reach ------------------------------------------------------------


class TestEdges:
    def test_calendar_since_signup_at_month_ends(self):
        users = [{"user_id": "u1", "created_at": datetime(2026, 1, 31, 10, tzinfo=UTC)},
                 {"user_id": "u2", "created_at": datetime(2026, 3, 31, 10, tzinfo=UTC)}]
        events = [ev("x", datetime(2026, 2, 28, 9, 59, tzinfo=UTC)),   # inside
                  ev("x", datetime(2026, 2, 28, 10, tzinfo=UTC)),      # Jan 31 + 1mo: out
                  ev("x", datetime(2026, 4, 30, 9, tzinfo=UTC), "u2"),
                  ev("x", datetime(2026, 4, 30, 10, tzinfo=UTC), "u2")]
        model = pk.ScoringModel(name="m", threshold=1, rules=[
            pk.Rule("early", count("x", since_signup="1mo"), points_per=1)])
        result = both(model, pk.EventLog.from_records(events, users=users))
        assert result.users["u1"]["early"] == 1
        assert result.users["u2"]["early"] == 1

    def test_typed_property_values_in_filters(self):
        props = [{"flag": True}, {"flag": 1}, {"flag": 1.0}, {"flag": "1"}, {"flag": [1]},
                 {"flag": None}, {}, {"flag": {"a": 1}}, {"flag": 0}, {"flag": False}]
        events = [ev("x", ago(hours=i + 1), properties=p) for i, p in enumerate(props)]
        model = pk.ScoringModel(name="m", threshold=1, rules=[
            pk.Rule("is_true", count("x", where=prop("flag").isin([True])), points_per=1),
            pk.Rule("is_one", count("x", where=prop("flag").isin([1])), points_per=10),
            pk.Rule("eq_one", count("x", where=prop("flag") == 1), points_per=100),
            pk.Rule("missing", count("x", where=prop("flag").is_missing()), points_per=1000),
            pk.Rule("kinds", distinct("flag", of="x"), points_per=10_000),
            pk.Rule("sum", total("flag", of="x"), points_per=100_000),
            pk.Rule("text", count("x", where=prop("flag").startswith("1")), points_per=1e6),
        ])
        row = both(model, pk.EventLog.from_records(events)).users["u1"]
        assert row["is_true"] == 1           # True only
        assert row["is_one"] == 20           # 1 and 1.0, not True
        assert row["eq_one"] == 300          # True == 1 == 1.0 in Python
        assert row["missing"] == 2000        # absent, None
        assert row["kinds"] == 10_000 * 7    # as isin tells them: True, {1, 1.0}, "1", [1],
        #                                      {a: 1}, 0, False
        assert row["sum"] == 100_000 * 2     # 1 + 1.0 + 0 (booleans are not numbers)
        assert row["text"] == 1e6

    def test_traits_of_every_type(self):
        users = [{"user_id": "u1", "traits": {"seats": 3, "email": "Ann@Acme.COM"}},
                 {"user_id": "u2", "traits": {"seats": "3", "email_domain": "x.io",
                                              "email": "b@y.io"}},
                 {"user_id": "u3", "traits": {"seats": True, "tags": ["a", "b"]}},
                 {"user_id": "u4", "traits": {"seats": 2.5}}]
        events = [ev("q", ago(days=1), u) for u in ("u1", "u1", "u2", "u3", "u3", "u4")]
        model = pk.ScoringModel(name="m", threshold=1, rules=[
            pk.Rule("fits", trait("seats") >= count("q"), points=1),
            pk.Rule("ratio", count("q") / trait("seats"), points_per=1),
            pk.Rule("domain", trait("email_domain") == "acme.com", points=10),
            pk.Rule("tags", trait("tags").isin([["a", "b"]]), points=100),
            pk.Rule("lower", trait("email").lower().endswith("acme.com"), points=1000),
        ])
        result = both(model, pk.EventLog.from_records(events, users=users))
        assert result.users["u1"]["ratio"] == pytest.approx(2 / 3)
        assert result.users["u2"]["fits"] == 0      # '3' >= 1 is a TypeError: False
        assert result.users["u3"]["ratio"] == 2     # True counts as 1 in arithmetic
        assert result.users["u1"]["domain"] == 10

    def test_arithmetic_edges(self):
        events = [ev("a", ago(days=1)), ev("b", ago(days=2), "u2")]
        model = pk.ScoringModel(name="m", threshold=1, floor=None, rules=[
            pk.Rule("div", count("a") / count("b"), points_per=1),
            pk.Rule("missing_div", (count("a") / count("b")).is_missing(), points=10),
            pk.Rule("bool_arith", exists("a") + exists("b") * 2, points_per=100),
            pk.Rule("huge", count("a") * 10**30 > 10**29, points=1000),
            pk.Rule("days", pk.days_since_last("a") * 24 - 1, points_per=1),
        ])
        result = both(model, pk.EventLog.from_records(events))
        assert result.users["u1"]["missing_div"] == 10
        assert result.users["u2"]["div"] == 0
        assert result.users["u1"]["huge"] == 1000
        assert result.users["u1"]["days"] == 23

    def test_account_events_of_users_created_after_as_of_are_left_out(self):
        users = [{"user_id": "late", "account_id": "A", "created_at": AS_OF + US},
                 {"user_id": "on_time", "account_id": "A", "created_at": ago(days=9)}]
        events = [ev("x", ago(days=1), "late"), ev("x", ago(days=2), "on_time"),
                  ev("x", ago(days=3), None, account_id="A"),
                  ev("x", ago(days=4), "stranger", account_id="A")]
        model = pk.ScoringModel(name="m", level="account", threshold=1, rules=[
            pk.Rule("n", count("x"), points_per=1),
            pk.Rule("users", pk.distinct_users("x"), points_per=10),
            pk.Rule("last", pk.days_since_last() < 1.5, points=100),
        ], decay=pk.InactivityDecay(points=1, every="1d"))
        result = both(model, pk.EventLog.from_records(events, users=users))
        assert result.accounts["A"]["n"] == 3
        assert result.accounts["A"]["users"] == 20
        assert result.accounts["A"]["last"] == 0    # the late user's event does not count
        assert result.accounts["A"]["n_users"] == 2  # on_time and stranger

    def test_group_cap_reached_exactly_is_not_a_cap(self):
        model = pk.ScoringModel(name="m", threshold=1, group_caps={"g": 10}, rules=[
            pk.Rule("a", exists("a"), points=6, group="g"),
            pk.Rule("b", exists("b"), points=4, group="g"),
            pk.Rule("c", exists("c"), points=7, group="g"),
        ])
        events = [ev("a", ago(days=1)), ev("b", ago(days=1)),
                  ev("a", ago(days=1), "u2"), ev("c", ago(days=1), "u2")]
        result = both(model, pk.EventLog.from_records(events))
        assert result.explain("u1").caps == {}
        assert result.explain("u2").caps == {"g": -3}

    def test_negative_points_per_stops_at_minus_max_points(self):
        model = pk.ScoringModel(name="m", threshold=1, floor=None, rules=[
            pk.Rule("spam", count("spam"), points_per=-5, max_points=12)])
        events = [ev("spam", ago(hours=h)) for h in range(1, 5)]
        assert both(model, pk.EventLog.from_records(events)).users["u1"]["score"] == -12

    def test_an_empty_log_with_users(self):
        users = [{"user_id": "u1"}, {"user_id": "u2", "created_at": AS_OF + US}]
        model = TEMPLATES["trial"]()
        result = both(model, pk.EventLog.from_records([], users=users))
        assert result.users.column("user_id") == ["u1"]
        with pytest.raises(ValidationError, match="as_of"):
            model.score(pk.EventLog.from_records([], users=users))


# -- roll-ups over varied scores -----------------------------------------------------------------


@st.composite
def rollups(draw: st.DrawFn) -> pk.Rollup:
    kw: dict[str, Any] = {"min_share": draw(st.sampled_from((None, 0.0, 0.3, 0.5, 1.0))),
                          "min_pql": draw(st.integers(0, 2)),
                          "score": draw(st.sampled_from(ROLLUP_SCORES))}
    if kw["score"] == "top_k_mean":
        kw["k"] = draw(st.integers(1, 3))
    if draw(st.booleans()):
        kw.update(denominator="active", active_within=draw(durations(calendar=True)))
    return pk.Rollup(**kw)


@settings(max_examples=60)
@given(rows=event_logs(min_events=1, max_events=30), rollup=rollups(),
       threshold=st.integers(0, 6), data=st.data())
def test_rollups_agree_over_varied_scores(rows: Any, rollup: pk.Rollup, threshold: int,
                                          data: st.DataObject) -> None:
    # Scores that differ from user to user, so that every policy's choice shows.
    model = pk.ScoringModel(name="m", threshold=threshold, rollup=rollup, floor=None,
                            disqualify=[trait("email").endswith(".edu")], rules=[
        pk.Rule("n", count(), points_per=1),
        pk.Rule("t", total("count"), points_per=0.25, max_points=7),
        pk.Rule("minus", exists("signup"), points=-2),
    ])
    log = pk.EventLog.from_records(rows[0], users=rows[1], accounts=rows[2])
    moments = [to_utc(e["timestamp"]) for e in rows[0]]
    window = rollup.active_within
    edges = [from_micros(window.after(to_micros(m))) for m in moments] if window else moments
    as_of = data.draw(st.one_of(st.sampled_from(moments), st.sampled_from(edges),
                                timestamps()))
    both(model, log, as_of=as_of)


class TestRollupPolicies:
    USERS: ClassVar[list[dict]] = [
        {"user_id": f"u{i}", "account_id": "A"} for i in range(1, 6)
    ]

    def _log(self) -> pk.EventLog:
        # u1..u5 have 1..5 events; u1's only event is exactly 7 days before as_of.
        events = [ev("x", ago(days=7), "u1")]
        events += [ev("x", ago(hours=h), f"u{i}") for i in range(2, 6) for h in range(1, i + 1)]
        return pk.EventLog.from_records(events, users=self.USERS)

    def _model(self, rollup: pk.Rollup) -> pk.ScoringModel:
        return pk.ScoringModel(name="m", threshold=3, rollup=rollup,
                               rules=[pk.Rule("n", count("x"), points_per=1)])

    def test_top_k_mean_takes_the_best_scores(self):
        model = self._model(pk.Rollup(score="top_k_mean", k=2))
        assert both(model, self._log()).accounts["A"]["score"] == 4.5

    @pytest.mark.parametrize(("policy", "score"), [("max", 5), ("sum", 15), ("mean", 3)])
    def test_score_policies(self, policy, score):
        assert both(self._model(pk.Rollup(score=policy)), self._log()).accounts["A"][
            "score"] == score

    def test_active_denominator_leaves_out_an_event_on_the_window_edge(self):
        model = self._model(pk.Rollup(denominator="active", active_within="7d"))
        row = both(model, self._log()).accounts["A"]
        assert row["n_pql"] == 3 and row["share_pql"] == 3 / 4   # u1 is not active
        model = self._model(pk.Rollup(denominator="active", active_within="7d"))
        row = both(model, self._log(), as_of=AS_OF - US).accounts["A"]
        assert row["share_pql"] == 3 / 5


def test_narrow_entity_columns_score_as_the_reference_engine() -> None:
    # The log stores entity codes as int32 and names in the narrowest type; nothing in the
    # engine may assume int64 (or do arithmetic in int8).
    from pqlkit.datasets import synthetic_saas

    events, users, accounts = synthetic_saas(n_accounts=6, seed=5).records()
    log = pk.EventLog.from_records(events, users=users, accounts=accounts)
    assert log.user.dtype == np.int32 and log.owner_account.dtype == np.int32
    assert log.name_code.dtype.itemsize == 1
    for factory in TEMPLATES.values():
        model = factory()
        a = model.score(log, engine="columnar")
        b = model.score(log, engine="reference")
        assert_results_equal(a, b, rel=1e-12)
        assert_explanations_equal(a, b, rel=1e-12)


def test_dictionary_encoded_property_columns_are_read_as_they_are() -> None:
    # The storage layout to come: a code per event (-1 = absent) into distinct values.
    @attrs.frozen
    class Encoded:
        codes: Any
        values: Any

    events = [ev("x", ago(hours=h), properties=p) for h, p in enumerate(
        [{"plan": "pro", "n": 2}, {"plan": "free", "n": 2.5}, {"n": True}, {"plan": "pro"}],
        start=1)]
    model = pk.ScoringModel(name="m", threshold=1, rules=[
        pk.Rule("pro", count("x", where=prop("plan") == "pro"), points_per=1),
        pk.Rule("n", total("n", of="x"), points_per=10),
        pk.Rule("kinds", distinct("n", of="x"), points_per=100)])
    plain = pk.EventLog.from_records(events)
    encoded = pk.EventLog.from_records(events)
    for key, column in encoded.props.items():
        obj = col._encode_list(column.tolist())
        values = np.empty(len(obj.values), dtype=object)
        values[:] = obj.values
        encoded.props[key] = Encoded(obj.codes.astype(np.int32), values)  # type: ignore[assignment]
    a = model.score(plain, as_of=AS_OF)
    b = model.score(encoded, as_of=AS_OF)
    assert_results_equal(a, b, rel=0)
    assert a.users["u1"]["score"] == 2 + 45 + 300


def test_templates_agree_on_demo_data() -> None:
    from pqlkit.datasets import synthetic_saas

    events, users, accounts = synthetic_saas(n_accounts=25, seed=11).records()
    log = pk.EventLog.from_records(events, users=users, accounts=accounts)
    for name, factory in TEMPLATES.items():
        result = both(factory(), log, as_of=None)
        assert result.fallbacks == (), name


# -- decays at the edges of the number types ----------------------------------------------------


def test_an_unmatched_rule_with_negative_float_points_gives_plus_zero() -> None:
    # The reference gave -7.5 * 0 = -0.0 (printed "-0", in the JSON), columnar 0.0.
    model = pk.ScoringModel(name="m", threshold=0, rules=[
        pk.Rule("login", exists("login"), points=10),
        pk.Rule("spam", count("spam_report") >= 1, points=-7.5)])
    got = both(model, pk.EventLog.from_records([ev("login", ago(days=1))]))
    for engine in ENGINES:
        row = model.score([ev("login", ago(days=1))], as_of=AS_OF, engine=engine).users["u1"]
        assert math.copysign(1.0, row["spam"]) == 1.0, engine
    assert got.explain("u1").rules[1].points == 0.0


@pytest.mark.parametrize("decay", [
    pk.InactivityDecay(points=10**13, every=timedelta(microseconds=1)),  # int64 overflow
    pk.InactivityDecay(points=10**300, every="1d"),                       # past int64 at all
])
@pytest.mark.parametrize("where", ["model", "rule", "signal"])
def test_extreme_decays_give_the_reference_answer_bit_for_bit(decay: Any, where: str) -> None:
    # Columnar multiplied an int `points` by the periods in int64 (wrapping to the wrong
    # sign, or OverflowError); the reference's Python ints are exact.
    events = [ev("login", "1700-01-01T00:00:00Z"), ev("login", "1999-06-01T00:00:00Z"),
              ev("login", "1900-01-01T00:00:00Z", user="u2")]
    signal = count("login", decay=decay) if where == "signal" else exists("login")
    rule = (pk.Rule("r", signal, points_per=100) if where == "signal" else
            pk.Rule("r", signal, points=100, decay=decay if where == "rule" else None))
    model = pk.ScoringModel(name="m", threshold=10, floor=None, rules=[rule],
                            decay=decay if where == "model" else None)
    for k in range(3):
        as_of = datetime(2000, 1, 1, 0, 0, 0, k, tzinfo=UTC)
        both(model, pk.EventLog.from_records(events), as_of=as_of)


def test_a_decay_past_the_floats_is_refused_by_both_engines_alike() -> None:
    model = pk.ScoringModel(name="m", threshold=1, floor=None,
                            decay=pk.InactivityDecay(points=1e308, every="1d"),
                            rules=[pk.Rule("r", exists("login"), points=1.0)])
    log = pk.EventLog.from_records([ev("login", ago(days=31)), ev("login", ago(days=1), "u2")])
    messages = set()
    for engine in ENGINES:
        with pytest.raises(ValidationError, match="returned -inf; a decay must return") as exc:
            model.score(log, as_of=AS_OF, engine=engine)
        messages.add(str(exc.value))
    assert len(messages) == 1


@pytest.mark.parametrize("where", ["model", "rule", "signal"])
def test_half_life_of_ages_past_2_to_the_53_microseconds_is_exact(where: str) -> None:
    # An age over 2**53 µs (285 years) rounded on its way to float before the division:
    # 15 of these 40 moments scored a last bit off the reference (enough to flip a PQL).
    decay = pk.HalfLife("36500d")
    signal = count("login", decay=decay) if where == "signal" else exists("login")
    rule = (pk.Rule("r", signal, points_per=100) if where == "signal" else
            pk.Rule("r", signal, points=100, decay=decay if where == "rule" else None))
    model = pk.ScoringModel(name="m", threshold=10, rules=[rule],
                            decay=decay if where == "model" else None)
    log = pk.EventLog.from_records([ev("login", "1700-01-01T00:00:00Z")])
    for k in range(40):
        both(model, log, as_of=datetime(2000, 1, 1, 0, 0, 0, k, tzinfo=UTC))


def test_scores_past_the_floats_explain_alike_in_both_engines() -> None:
    # 2 x 1e308 points is +inf: the explanation showed a decay and a clamp of nan
    # (inf - inf) for a model with neither. With -inf too the score is nan: the reference
    # clamped it to the floor, the columnar engine kept nan.
    events = [ev("a", ago(days=2)), ev("a", ago(days=1))]
    up = pk.ScoringModel(name="m", threshold=1,
                         rules=[pk.Rule("up", count("a"), points_per=1e308)])
    got = both(up, pk.EventLog.from_records(events))
    expl = got.explain("u1")
    assert expl.score == math.inf and expl.decay == 0 and expl.clamp == 0
    assert "decay" not in expl.text() and "clamped" not in expl.text()
    both_ways = pk.ScoringModel(name="m", threshold=1, rules=[
        pk.Rule("up", count("a"), points_per=1e308),
        pk.Rule("down", count("a"), points_per=-1e308)])
    for engine in ENGINES:
        row = both_ways.score(events, as_of=AS_OF, engine=engine).users["u1"]
        assert math.isnan(row["score"]) and row["is_pql"] is False, engine


def test_a_nan_score_rolls_up_without_a_numpy_warning() -> None:
    # Rule points of +inf and -inf make a nan score, which both engines keep; the
    # columnar roll-up's max warned "invalid value encountered in maximum" (an error
    # under this suite's filterwarnings).
    events = [{"name": n, "timestamp": "2026-05-20T00:00:00Z", "user_id": "u",
               "account_id": "acme", "properties": {"amount": v}}
              for n, v in (("pay", 1e308), ("pay", 1e308), ("ref", -1e308), ("ref", -1e308))]
    model = pk.ScoringModel(name="m", threshold=10, rules=[
        pk.Rule("pay", total("amount", of="pay"), points_per=1),
        pk.Rule("ref", total("amount", of="ref"), points_per=1)])
    for engine in ("columnar", "reference"):
        got = model.score(events, as_of="2026-06-01T00:00:00Z", engine=engine)
        assert math.isnan(got.users["u"]["score"]) and math.isnan(got.accounts["acme"]["score"])


def test_one_log_scored_from_many_threads_at_many_moments() -> None:
    # The per-log LRU of scans is shared: a key one thread had found could be evicted by
    # another before the first moved it to the end (KeyError: ('last', 'user', 0, 385)),
    # in four runs of five of this test before the lock.
    import sys
    from concurrent.futures import ThreadPoolExecutor

    t0 = datetime(2026, 5, 1, tzinfo=UTC)
    log = pk.EventLog.from_records([
        {"name": "login", "timestamp": t0 + timedelta(hours=h), "user_id": f"u{h % 7}"}
        for h in range(24 * 20)])
    model = pk.ScoringModel(name="m", threshold=1, rules=[
        pk.Rule("r", count("login") >= 1, points=1)])
    moments = [t0 + timedelta(days=d + 1) for d in range(16)]  # more than the LRU keeps
    want = {m: model.score(log, as_of=m).users.to_records() for m in moments}

    def work(k: int) -> int:
        wrong = 0
        for i in range(400):
            m = moments[(i + 5 * k) % len(moments)]
            wrong += model.score(log, as_of=m).users.to_records() != want[m]
        return wrong

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # many more thread switches: the race shows
    try:
        with ThreadPoolExecutor(8) as pool:
            assert sum(pool.map(work, range(8))) == 0
    finally:
        sys.setswitchinterval(interval)


def test_forget_results_makes_the_next_score_do_the_work_again() -> None:
    # The benchmark's timed rounds score one log at one moment over and over:
    # forget_results drops what an earlier score kept (scans, trait tests' results), so
    # that the next one does the work, with the same result; the log's indexes stay.
    log = pk.EventLog.from_records(
        [{"name": n, "timestamp": f"2026-05-{d:02d}T00:00:00Z", "user_id": f"u{d % 3}"}
         for d in range(1, 20) for n in ("login", "invite")],
        users=[{"user_id": f"u{i}", "traits": {"email": f"u{i}@X.edu"}} for i in range(3)])
    model = pk.ScoringModel(name="m", threshold=1, rules=[
        pk.Rule("r", pk.days_since_last("invite") < 5, points=1)],
        disqualify=[trait("email").lower().endswith(".edu"), trait("email") == "u1@X.edu"])
    first = model.score(log, as_of="2026-05-10T00:00:00Z").users.to_records()
    made: list[Any] = []
    scan, tests = col._end, col._vector_results

    def counting(real: Any, tag: str) -> Any:
        def run(*args: Any, **kwargs: Any) -> Any:
            made.append(tag)
            return real(*args, **kwargs)
        return run

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(col, "_end", counting(scan, "scan"))
        mp.setattr(col, "_vector_results", counting(tests, "test"))
        model.score(log, as_of="2026-05-10T00:00:00Z")
        assert made == []  # all kept from the first score
        indexes = {k for k in col._log_cache(log) if k != "scans"}
        col.forget_results(log)
        assert model.score(log, as_of="2026-05-10T00:00:00Z").users.to_records() == first
        assert {"scan", "test"} <= set(made)  # done again
        assert indexes <= set(col._log_cache(log))


def test_isin_of_lists_on_one_log_is_not_read_from_an_earlier_models_results() -> None:
    # Trait test results are kept with the log by a key made from the test: a list option
    # stood for itself by its id(), which a later model's list could reuse once the first
    # was freed, and then read the first model's results (1 run in 3 went wrong).
    import gc

    assert col._skey([["c"]]) == col._skey([["c"]]) != col._skey([["a", "b"]])
    assert col._skey({"a": 1}) != col._skey({"a": 1.0}) != col._skey({"a": True})
    events = [{"name": "x", "timestamp": "2026-05-01T00:00:00Z", "user_id": u}
              for u in ("u1", "u2")]
    users = [{"user_id": "u1", "traits": {"tags": ["a", "b"]}},
             {"user_id": "u2", "traits": {"tags": ["c"]}}]
    log = pk.EventLog.from_records(events, users=users)
    for i in range(60):
        tags = ["a", "b"] if i % 2 == 0 else ["c"]
        model = pk.ScoringModel(name="m", threshold=1, rules=[
            pk.Rule("r", trait("tags").isin([tags]), points=1)])
        got = [r["user_id"] for r in model.score(log).users if r["is_pql"]]
        assert got == (["u1"] if i % 2 == 0 else ["u2"]), i
        del model
        gc.collect()
    # An option that stands for itself only is not kept with the log at all.
    assert not col._lasting(col._skey(object())) and col._lasting(col._skey([1, "a"]))


@pytest.mark.parametrize("when", [
    count("x") * 10**9 * 10**10 > 0,  # int64 wrapped to a negative number
    count("x") * 3 * 3002399751580331 == 2.0**53,  # 2**53 + 1 compared as a float
    count("x") * 2**40 * 2**40 / 3 > 0,
    (count("x") + 2**52) * 2 - 2**53 == 2,
])
def test_integer_arithmetic_past_2_53_is_exact_as_in_python(when: Any) -> None:
    # numpy's int64 wraps past 2**63 and compares with floats as floats: such products
    # go value by value, as the reference engine computes them.
    events = [ev("x", ago(days=1)), ev("x", ago(days=2))]
    for rule in (pk.Rule("r", when, points=1), pk.Rule("r", when.left, points_per=1)):
        model = pk.ScoringModel(name="m", threshold=1, rules=[rule])
        both(model, pk.EventLog.from_records(events))


def test_a_chain_of_ors_shows_the_evidence_of_the_operands_that_held() -> None:
    # Chains are evaluated in a loop (pqlkit.expr.chain); the evidence must be what the
    # nested evaluation gave: each operand's events where it held, all when none did,
    # however the chain nests.
    a, b, c = (count(n) >= 2 for n in "abc")
    events = [ev(n, ago(days=d), user=u) for u, names in (
        ("only_b", "abbc"), ("none", "abc"), ("a_and_c", "aabcc")) for d, n in enumerate(names)]
    log = pk.EventLog.from_records(events)
    shown = []
    for when in (a | b | c, a | (b | c), (b | a) | c):
        model = pk.ScoringModel(name="m", threshold=1, rules=[
            pk.Rule("r", when, points=1, decay=pk.HalfLife("7d"))])
        result = both(model, log)
        shown.append({u: result.explain(u).rules[0].evidence.n_events
                      for u in ("only_b", "none", "a_and_c")})
    assert shown == [{"only_b": 2, "none": 3, "a_and_c": 4}] * 3


def test_chains_of_thousands_of_operands_score_and_explain() -> None:
    # "Any of these 2,000 events" built with functools.reduce nests 2,000 deep: building,
    # printing, comparing and scoring it each recursed once per level.
    import functools
    import operator

    n = 2000
    any_of = functools.reduce(operator.or_, [exists(f"e{i}") for i in range(n)])
    all_of = functools.reduce(operator.and_, [count(f"e{i}") < 5 for i in range(n)])
    total_of = functools.reduce(operator.add, [count(f"e{i}") for i in range(n)])
    model = pk.ScoringModel(name="m", threshold=1, rules=[
        pk.Rule("any", any_of, points=1), pk.Rule("all", all_of, points=2),
        pk.Rule("total", total_of, points_per=10)])
    assert model == attrs.evolve(model) and len(repr(model)) > n
    log = pk.EventLog.from_records([ev("e1999", ago(days=1)), ev("e7", ago(days=2))])
    got = both(model, log)
    assert got.users["u1"]["score"] == 1 + 2 + 20
    # Pickle and deepcopy went a call per level too: a chain goes as its operands.
    import copy
    import pickle

    for through in (lambda m: pickle.loads(pickle.dumps(m)), copy.deepcopy):
        again = through(model)
        assert again == model and repr(again) == repr(model)
        assert_results_equal(got, again.score(log, as_of=AS_OF))
    assert got.explain("u1").rules[0].evidence.n_events == 2
    # A model file holds expressions as text, which Python's parser reads only so deep:
    # saving says so (it said "cannot be parsed (RecursionError)").
    from pqlkit.errors import ModelFileError

    with pytest.raises(ModelFileError, match="nested deeper than 200 levels; split it"):
        pk.modelfile.dumps(model, "toml")


def test_a_capped_rule_of_a_nan_quantity_gives_nan_points_in_both_engines() -> None:
    # inf - inf is nan: the reference engine capped it with Python's min(cap, nan), which
    # is the cap (max points, and a PQL), while numpy's minimum keeps the nan.
    events = [ev(n, ago(days=d), properties={"x": 1e308})
              for d, n in enumerate(("a", "a", "b"))]
    ta, tb = total("x", of="a"), total("x", of="b")
    model = pk.ScoringModel(name="m", threshold=1, rules=[
        pk.Rule("ta", ta, points_per=1, max_points=1e300),
        pk.Rule("n", tb * 3 - ta, points_per=1, max_points=1e300)])
    got = both(model, pk.EventLog.from_records(events))
    assert math.isnan(got.users["u1"]["n"]) and got.users["u1"]["is_pql"] is False
    assert math.isnan(pk.Rule("n", ta, points_per=1, max_points=5).points_from(math.nan))


_TEXTS = st.text(alphabet=st.sampled_from(["a", "b", "B", "\x00", "é", "ß", "😀", " "]),
                 max_size=4)


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.none() | _TEXTS, min_size=1, max_size=8), constant=_TEXTS,
       op=st.sampled_from(["==", "!=", "<", "<=", ">", ">="]), flip=st.booleans())
def test_text_compared_with_a_text_constant_matches_the_reference(
        values: list[str | None], constant: str, op: str, flip: bool) -> None:
    # Text columns compared with a text constant run over all the values at once (numpy
    # str arrays, Arrow for == and !=): the same answers as Python's comparison, value
    # by value, whatever the NULs, cases and code points.
    import pyarrow as pa

    from pqlkit.expr import Compare, Lit

    def cond(node: Any) -> Any:
        return Compare(op, Lit(constant), node) if flip else Compare(op, node, Lit(constant))

    ids = [f"u{i}" for i in range(len(values))]
    events = [ev("x", ago(days=1), user=u, properties={} if v is None else {"p": v})
              for u, v in zip(ids, values, strict=True)]
    model = pk.ScoringModel(name="m", threshold=1, rules=[
        pk.Rule("prop", count(where=cond(prop("p"))) >= 1, points=1),
        pk.Rule("trait", cond(trait("t")), points=2)])
    users_rows = [{"user_id": u, "traits": {} if v is None else {"t": v}}
                  for u, v in zip(ids, values, strict=True)]
    users_arrow = pa.table({"user_id": ids, "t": pa.array(values, pa.string())})
    for users in (users_rows, users_arrow):
        log = pk.EventLog.from_records(events, users=users_rows) if users is users_rows \
            else pk.EventLog.from_columns(
                user_id=ids, name=["x"] * len(ids), timestamp=[ago(days=1)] * len(ids),
                properties={"p": values}, users=users_arrow)
        both(model, log)


@pytest.mark.parametrize("op", ["==", "!=", "<", ">="])
def test_numbers_compared_with_text_agree_with_the_reference(op: str) -> None:
    # A numeric property or trait (read as numbers) against a text constant: never equal,
    # unordered, so only != holds, and only where there is a value.
    from pqlkit.expr import Compare, Lit

    ids = ["u1", "u2", "u3"]
    log = pk.EventLog.from_columns(
        user_id=ids, name=["x"] * 3, timestamp=[ago(days=1)] * 3,
        properties={"n": np.ma.masked_array([5, 7, 0], mask=[False, False, True])},
        users={"user_id": ids[:2], "n": np.array([5.0, 7.5])})
    model = pk.ScoringModel(name="m", threshold=1, rules=[
        pk.Rule("prop", count(where=Compare(op, prop("n"), Lit("5"))), points_per=1),
        pk.Rule("trait", Compare(op, Lit("5"), trait("n")), points=2)])
    got = both(model, log)
    assert [r["score"] for r in got.users] == ([3.0, 3.0, 0.0] if op == "!=" else [0.0] * 3)


def test_a_custom_points_from_tells_zero_from_minus_zero_in_both_engines() -> None:
    # A float trait read as numbers went value by value through one np.unique, which
    # merges 0.0 and -0.0: both users got -0.0's points. The log keeps them apart.
    @attrs.frozen
    class SignRule(pk.Rule):
        def points_from(self, value: Any) -> float:
            return math.copysign(1.0, value) if isinstance(value, float) else 0.0

    log = pk.EventLog.from_records([], users=[{"user_id": "u0", "traits": {"x": -0.0}},
                                              {"user_id": "u1", "traits": {"x": 0.0}}])
    model = pk.ScoringModel(name="m", threshold=1, floor=-10,
                            rules=[SignRule("r", trait("x"), points_per=1)])
    assert [r["r"] for r in both(model, log).users] == [-1.0, 1.0]


def test_integer_results_too_large_for_a_float_are_missing_in_both_engines() -> None:
    # Python raises OverflowError dividing such integers (and turning them into floats):
    # the columnar engine, which evaluates every operand of | in where=, failed where the
    # reference stopped at the first that held. Now such a result is missing, and a
    # points_per quantity beyond any float counts as inf.
    events = [ev("e", ago(days=1), user="u0", properties={"p": 2**63 - 1}),
              ev("e", ago(days=1), user="u1", properties={"p": 1})]
    where = (prop("p") > 2**62) | ((prop("p") * 2**1000) / 3 > 1)
    model = pk.ScoringModel(name="m", threshold=1, rules=[
        pk.Rule("r", exists("e", where=where), points=1),
        pk.Rule("big", total("p", of="e") * 2**1000, points_per=1)])
    got = both(model, pk.EventLog.from_records(events))
    assert [r["r"] for r in got.users] == [1, 1]
    assert got.users["u0"]["big"] == math.inf
