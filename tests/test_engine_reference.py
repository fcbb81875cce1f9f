"""The reference engine: dispatch, extension points and account-level models."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar

import attrs
import pytest
from tests._support import AS_OF, US, ago, ev

import pqlkit as pk
from pqlkit import active_users, count, distinct_users, exists, trait
from pqlkit.engine import get_engine
from pqlkit.engine.reference import ReferenceEngine
from pqlkit.errors import EngineNotSupportedError, ValidationError
from pqlkit.expr import Count, Expr

# Scoring here goes through model.score: every test runs on every engine (conftest.py).
pytestmark = pytest.mark.usefixtures("engine")

# -- dispatch ---------------------------------------------------------------------------------


@attrs.frozen(eq=False, repr=False)
class Mystery(Expr):
    """A node kind no engine knows."""

    kind: ClassVar[str] = "bool"

    def __repr__(self) -> str:
        return "Mystery()"


@attrs.frozen(eq=False, repr=False, kw_only=True)
class LoudCount(Count):
    """A subclass of a built-in node: evaluated like its base."""


class TestDispatch:
    def test_engine_by_name(self):
        assert isinstance(get_engine("reference"), ReferenceEngine)
        with pytest.raises(ValidationError, match="reference"):
            get_engine("warp-drive")

    def test_unknown_node_raises_naming_it(self):
        model = pk.ScoringModel(name="m", threshold=1,
                                rules=[pk.Rule("r", Mystery(), points=1)])
        with pytest.raises(EngineNotSupportedError, match="Mystery"):
            model.score([ev("a", ago(days=1))], as_of=AS_OF)

    def test_unknown_node_nested_in_a_condition(self):
        model = pk.ScoringModel(name="m", threshold=1,
                                rules=[pk.Rule("r", exists("a") & Mystery(), points=1)])
        with pytest.raises(EngineNotSupportedError, match="Mystery"):
            model.score([ev("a", ago(days=1))], as_of=AS_OF)

    def test_unknown_node_in_disqualify(self):
        model = pk.ScoringModel(name="m", threshold=1, disqualify=[Mystery()],
                                rules=[pk.Rule("r", exists("a"), points=1)])
        with pytest.raises(EngineNotSupportedError, match="Mystery"):
            model.score([ev("a", ago(days=1))], as_of=AS_OF)

    def test_engine_not_supported_is_a_pqlkit_error(self):
        assert issubclass(EngineNotSupportedError, pk.PqlkitError)
        with pytest.raises(EngineNotSupportedError, match="Mystery"):
            ReferenceEngine().evaluate(Mystery(), None)

    def test_subclass_of_builtin_dispatches_through_base(self):
        events = [ev("a", ago(days=1)), ev("a", ago(days=20)), ev("b", ago(days=1))]
        model = pk.ScoringModel(name="m", threshold=1, rules=[
            pk.Rule("loud", LoudCount(name="a", within="14d"), points_per=1),
            pk.Rule("plain", count("a", within="14d"), points_per=10),
        ])
        row = model.score(events, as_of=AS_OF).users["u1"]
        assert row["loud"] == 1
        assert row["plain"] == 10
        assert row["score"] == 11


# -- custom signal ------------------------------------------------------------------------------


@attrs.frozen(eq=False, repr=False)
class DistinctPages(pk.Signal):
    """How many distinct pages (property ``page``) the entity viewed."""

    within: str | None = None
    kind: ClassVar[str] = "number"

    def evaluate(self, ctx: Any) -> int:
        events = ctx.events("page_viewed", within=self.within)
        return len({p for p in events.values("page") if p is not None})

    def evidence(self, ctx: Any) -> pk.EventSet:
        return ctx.events("page_viewed", within=self.within)


@attrs.frozen(eq=False, repr=False)
class IsAdmin(pk.Signal):
    """A boolean custom signal reading traits."""

    kind: ClassVar[str] = "bool"

    def evaluate(self, ctx: Any) -> bool:
        return ctx.traits.get("role") == "admin"


@attrs.frozen(eq=False, repr=False)
class DaysSinceSignup(pk.Signal):
    """Days from created_at (or None) to as_of."""

    kind: ClassVar[str] = "number"

    def evaluate(self, ctx: Any) -> float | None:
        if ctx.created_at is None:
            return None
        return (ctx.as_of - ctx.created_at) / timedelta(days=1)


class TestCustomSignal:
    EVENTS: ClassVar[Any] = [
        ev("page_viewed", ago(days=1), properties={"page": "/pricing"}),
        ev("page_viewed", ago(days=2), properties={"page": "/docs"}),
        ev("page_viewed", ago(days=3), properties={"page": "/docs"}),
        ev("page_viewed", ago(days=20), properties={"page": "/blog"}),
        ev("page_viewed", AS_OF + US, properties={"page": "/future"}),   # after as_of
        ev("page_viewed", ago(days=1), "u2", properties={"page": "/docs"}),
    ]

    def _score(self, rules, users=None, **kw):
        model = pk.ScoringModel(name="m", threshold=10, rules=rules, **kw)
        return model.score(pk.EventLog.from_records(self.EVENTS, users=users), as_of=AS_OF)

    def test_used_in_a_condition_like_a_builtin(self):
        r = self._score([pk.Rule("pages", DistinctPages() >= 3, points=10)])
        assert r.users["u1"]["score"] == 10     # /pricing, /docs, /blog (not /future)
        assert r.users["u1"]["is_pql"] is True
        assert r.users["u2"]["score"] == 0

    def test_window_through_ctx_events(self):
        r = self._score([pk.Rule("pages", DistinctPages(within="14d") >= 3, points=10)])
        assert r.users["u1"]["score"] == 0      # /pricing, /docs only
        r = self._score([pk.Rule("pages", DistinctPages(within="14d"), points_per=4)])
        assert r.users["u1"]["score"] == 8

    def test_composes_with_builtins_and_operators(self):
        cond = (DistinctPages() >= 2) & ~exists("spam") | (count("page_viewed") >= 99)
        r = self._score([pk.Rule("c", cond, points=10)])
        assert r.users["u1"]["score"] == 10
        assert r.users["u2"]["score"] == 0

    def test_boolean_custom_signal_and_traits(self):
        users = [{"user_id": "u1", "traits": {"role": "admin"}}]
        r = self._score([pk.Rule("admin", IsAdmin(), points=10)], users=users)
        assert r.users["u1"]["score"] == 10
        assert r.users["u2"]["score"] == 0
        r = self._score([pk.Rule("not_admin", ~IsAdmin(), points=10)], users=users)
        assert r.users["u1"]["score"] == 0
        assert r.users["u2"]["score"] == 10

    def test_missing_custom_value_behaves_like_missing(self):
        users = [{"user_id": "u1", "created_at": ago(days=10)}]
        r = self._score([pk.Rule("young", DaysSinceSignup() < 30, points=10),
                         pk.Rule("unknown", ~(DaysSinceSignup() < 30), points=1)],
                        users=users)
        assert r.users["u1"]["score"] == 10
        assert r.users["u2"]["score"] == 1      # None < 30 is False; ~ makes it True

    def test_custom_signal_in_disqualify(self):
        users = [{"user_id": "u1", "traits": {"role": "admin"}}]
        r = self._score([pk.Rule("pages", DistinctPages() >= 1, points=10)], users=users,
                        disqualify=[IsAdmin()])
        assert r.users["u1"]["disqualified"] is True
        assert r.users["u1"]["score"] == 10
        assert r.users["u1"]["tier"] == "disqualified"
        assert r.users["u2"]["is_pql"] is True

    def test_custom_signal_evidence(self):
        r = self._score([pk.Rule("pages", DistinctPages() >= 3, points=10)])
        rule = r.explain("u1").rules[0]
        assert rule.evidence.n_events == 4
        assert rule.evidence.latest.timestamp == ago(days=1)

    def test_custom_signal_structural_equality(self):
        assert DistinctPages(within="7d").equals(DistinctPages(within="7d"))
        assert not DistinctPages(within="7d").equals(DistinctPages())


@attrs.frozen(eq=False, repr=False)
class NumpyBool(pk.Signal):
    """A custom condition computed with numpy: returns numpy.bool_, not bool."""

    kind: ClassVar[str] = "bool"

    def evaluate(self, ctx: Any) -> Any:
        import numpy as np

        return np.bool_(len(ctx.events("page_viewed")) >= 2)


@attrs.frozen(eq=False, repr=False)
class SeatsUsed(pk.Signal):
    """A custom account-only signal."""

    kind: ClassVar[str] = "number"
    account_only: ClassVar[bool] = True

    def evaluate(self, ctx: Any) -> int:
        return len({e.user_id for e in ctx.events() if e.user_id is not None})


class TestCustomSignalExtras:
    def test_numpy_boolean_condition_gives_its_points(self):
        # DESIGN §3.11: a matched rule gives its points; numpy booleans are booleans.
        events = [ev("page_viewed", ago(days=1)), ev("page_viewed", ago(days=2)),
                  ev("page_viewed", ago(days=1), "u2")]
        model = pk.ScoringModel(name="m", threshold=5,
                                rules=[pk.Rule("np", NumpyBool(), points=5)])
        r = model.score(events, as_of=AS_OF)
        assert r.users["u1"]["score"] == 5
        assert r.users["u1"]["is_pql"] is True
        assert r.users["u2"]["score"] == 0
        rule = r.explain("u1").rules[0]
        assert rule.matched and rule.points == 5

    def test_custom_account_only_signal_needs_account_level(self):
        with pytest.raises(ValidationError, match="level='account'"):
            pk.ScoringModel(name="m", threshold=1,
                            rules=[pk.Rule("seats", SeatsUsed() >= 2, points=1)])
        model = pk.ScoringModel(name="m", threshold=1, level="account",
                                rules=[pk.Rule("seats", SeatsUsed(), points_per=1)])
        users = [{"user_id": "a", "account_id": "A"}, {"user_id": "b", "account_id": "A"}]
        log = pk.EventLog.from_records([ev("x", ago(days=1), "a"), ev("x", ago(days=1), "b"),
                                        ev("x", AS_OF + US, "c", account_id="A")],
                                       users=users)
        assert model.score(log, as_of=AS_OF).accounts["A"]["score"] == 2


# -- custom rule and custom decay -------------------------------------------------------------


@attrs.frozen
class StreakRule:
    """A rule object: 7 points when the user queried at least twice, 3 more past five."""

    name: str = "streak"
    group: str | None = None

    def points_for(self, ctx: Any) -> float:
        n = ctx.evaluate(count("query"))
        return (7 if n >= 2 else 0) + (3 if n >= 5 else 0)


@attrs.frozen
class HalveAfterADay:
    """A decay object: half the value once a day has passed."""

    def apply(self, value: float, age: timedelta) -> float:
        return value / 2 if age >= timedelta(days=1) else value


class TestCustomRuleAndDecay:
    def test_custom_rule(self):
        events = ([ev("query", ago(days=1))] * 5 + [ev("query", ago(days=1), "u2")] * 2
                  + [ev("query", ago(days=1), "u3")])
        model = pk.ScoringModel(name="m", threshold=7, rules=[
            StreakRule(), pk.Rule("any", exists("query"), points=1)])
        r = model.score(events, as_of=AS_OF)
        assert r.users["u1"]["streak"] == 10 and r.users["u1"]["score"] == 11
        assert r.users["u2"]["streak"] == 7 and r.users["u2"]["score"] == 8
        assert r.users["u3"]["streak"] == 0 and r.users["u3"]["score"] == 1
        expl = r.explain("u1")
        assert expl.total() == 11
        streak = next(c for c in expl.rules if c.rule == "streak")
        assert streak.evidence.n_events == 5

    def test_custom_rule_sees_as_of(self):
        events = [ev("query", ago(days=1)), ev("query", AS_OF + US)]
        model = pk.ScoringModel(name="m", threshold=7, rules=[StreakRule()])
        assert model.score(events, as_of=AS_OF).users["u1"]["score"] == 0
        assert model.score(events, as_of=AS_OF + US).users["u1"]["score"] == 7

    def test_custom_decay_on_model(self):
        model = pk.ScoringModel(name="m", threshold=1, decay=HalveAfterADay(),
                                rules=[pk.Rule("a", exists("a"), points=40)])
        r = model.score([ev("a", ago(days=1)), ev("a", ago(days=1) + US, "u2")], as_of=AS_OF)
        assert r.users["u1"]["score"] == 20
        assert r.users["u2"]["score"] == 40
        assert r.explain("u1").decay == -20

    def test_custom_decay_on_rule_and_signal(self):
        model = pk.ScoringModel(name="m", threshold=1, rules=[
            pk.Rule("a", exists("a"), points=40, decay=HalveAfterADay()),
            pk.Rule("b", count("b", decay=HalveAfterADay()), points_per=4),
        ])
        events = [ev("a", ago(days=3)), ev("a", ago(hours=2)),     # latest 'a' is 2h old
                  ev("b", ago(days=2)), ev("b", ago(hours=1))]     # weights 0.5 + 1
        row = model.score(events, as_of=AS_OF).users["u1"]
        assert row["a"] == 40
        assert row["b"] == 6
        events = [ev("a", ago(days=3)), ev("b", ago(days=2)), ev("b", ago(days=5))]
        row = model.score(events, as_of=AS_OF).users["u1"]
        assert row["a"] == 20
        assert row["b"] == 4

    def test_bad_decay_and_rule_objects_are_refused(self):
        with pytest.raises(pk.errors.PqlkitTypeError):
            pk.ScoringModel(name="m", threshold=1, decay=object(),
                            rules=[pk.Rule("a", exists("a"), points=1)])
        with pytest.raises(pk.errors.PqlkitTypeError):
            pk.ScoringModel(name="m", threshold=1, rules=[object()])


# -- account-level models --------------------------------------------------------------------


class TestAccountLevel:
    USERS: ClassVar[Any] = [
        {"user_id": "a1", "account_id": "A", "traits": {"plan": "free", "role": "admin"}},
        {"user_id": "a2", "account_id": "A"},
        {"user_id": "b1", "account_id": "B"},
    ]
    ACCOUNTS: ClassVar[Any] = [{"account_id": "A", "traits": {"plan": "enterprise", "employees": 500}},
                {"account_id": "B", "traits": {"plan": "free", "employees": 5}},
                {"account_id": "C"}]
    EVENTS: ClassVar[Any] = [
        ev("message_sent", ago(days=1), "a1"),                      # A via users table
        ev("message_sent", ago(days=2), "a2"),                      # A via users table
        ev("message_sent", ago(days=3), "x1", account_id="A"),      # A named by the event
        ev("message_sent", ago(days=3), None, account_id="A"),      # account-only event
        ev("message_sent", ago(days=40), "a1"),                     # old
        ev("message_sent", AS_OF + US, "a1"),                       # after as_of
        ev("message_sent", ago(days=1), "b1"),
        ev("message_sent", ago(days=1), "a2", account_id="B"),      # a2's event names B
    ]

    def _score(self, rules, **kw):
        model = pk.ScoringModel(name="acct", level="account", threshold=kw.pop("threshold", 1),
                                rules=rules, **kw)
        log = pk.EventLog.from_records(self.EVENTS, users=self.USERS, accounts=self.ACCOUNTS)
        return model.score(log, as_of=AS_OF)

    def test_trait_reads_account_traits(self):
        r = self._score([pk.Rule("ent", trait("plan") == "enterprise", points=5),
                         pk.Rule("big", trait("employees") >= 100, points=3),
                         pk.Rule("role", trait("role") == "admin", points=100)])
        assert r.accounts["A"]["score"] == 8      # user traits are not account traits
        assert r.accounts["B"]["score"] == 0
        assert r.accounts["C"]["score"] == 0

    def test_count_over_account_events(self):
        r = self._score([pk.Rule("n", count("message_sent"), points_per=1),
                         pk.Rule("recent", count("message_sent", within="30d"), points_per=10)])
        # A: a1 (2 before as_of), a2 (1, its other event names B), x1, account-only = 5
        #    of which 4 in the last 30 days
        assert r.accounts["A"]["n"] == 5
        assert r.accounts["A"]["recent"] == 40
        assert r.accounts["B"]["n"] == 2          # b1 and a2's event naming B
        assert r.accounts["C"]["n"] == 0

    def test_distinct_and_active_users(self):
        r = self._score([pk.Rule("du", distinct_users("message_sent"), points_per=1),
                         pk.Rule("au", active_users(within="2d"), points_per=10)])
        # A: a1, a2, x1 sent messages; active in the last 2 days (ts > -2d): a1 only
        assert r.accounts["A"]["du"] == 3
        assert r.accounts["A"]["au"] == 10
        assert r.accounts["B"]["du"] == 2

    def test_account_rows(self):
        r = self._score([pk.Rule("n", count("message_sent") >= 5, points=1)])
        assert len(r.users) == 0
        assert {row["account_id"] for row in r.accounts} == {"A", "B", "C"}
        a = r.accounts["A"]
        assert a["is_pqa"] is True and a["tier"] is None and a["disqualified"] is False
        assert a["n_users"] == 3                 # a1, a2 (table), x1 (named by its event)
        assert r.accounts["C"]["n_users"] == 0
        assert r.accounts["C"]["is_pqa"] is False
        expl = r.explain("A")
        assert expl.level == "account"
        assert expl.total() == expl.score == 1

    def test_account_level_since_signup_from_first_account_event(self):
        r = self._score([pk.Rule("early", count("message_sent", since_signup="1d"),
                                 points_per=1)])
        # A has no created_at: its first event is a1's at -40d; window [-40d, -39d)
        assert r.accounts["A"]["score"] == 1

    def test_account_level_since_signup_from_account_created_at(self):
        accounts = [{"account_id": "A", "created_at": ago(days=3)}]
        events = [ev("x", ago(days=4), None, account_id="A"),          # before signup
                  ev("x", ago(days=3), None, account_id="A"),          # at signup
                  ev("x", ago(days=2) - US, None, account_id="A"),     # last µs of the day
                  ev("x", ago(days=2), None, account_id="A")]          # +1d: outside
        model = pk.ScoringModel(name="m", level="account", threshold=1,
                                rules=[pk.Rule("n", count("x", since_signup="1d"),
                                               points_per=1)])
        r = model.score(pk.EventLog.from_records(events, accounts=accounts), as_of=AS_OF)
        assert r.accounts["A"]["score"] == 2

    def test_account_level_tiers_and_disqualify(self):
        r = self._score([pk.Rule("n", count("message_sent"), points_per=10)],
                        tiers={"gold": 40, "silver": 20}, threshold=20,
                        disqualify=[trait("plan") == "free"])
        assert r.accounts["A"]["tier"] == "gold"
        assert r.accounts["A"]["is_pqa"] is True
        assert r.accounts["B"]["tier"] == "disqualified"
        assert r.accounts["B"]["score"] == 20
        assert r.accounts["B"]["is_pqa"] is False


class TestLevelMismatch:
    @pytest.mark.parametrize(
        "signal",
        [distinct_users("x") >= 1, active_users(within="7d") >= 1,
         exists("a") & (distinct_users() >= 2)],
        ids=repr,
    )
    def test_account_only_signals_need_an_account_model(self, signal):
        with pytest.raises(ValidationError, match="level='account'"):
            pk.ScoringModel(name="m", threshold=1, rules=[pk.Rule("r", signal, points=1)])
        with pytest.raises(ValidationError, match="level='account'"):
            pk.ScoringModel(name="m", threshold=1, disqualify=[signal],
                            rules=[pk.Rule("r", exists("a"), points=1)])
        pk.ScoringModel(name="m", threshold=1, level="account",
                        rules=[pk.Rule("r", signal, points=1)])

    def test_account_only_signal_evaluated_for_a_user_raises(self):
        with pytest.raises(EngineNotSupportedError):
            model = pk.ScoringModel(name="m", threshold=1, rules=[StreakRule()])
            log = pk.EventLog.from_records([ev("a", ago(days=1))])
            ctx = pk.EntityContext(ReferenceEngine(), log, "user", 0, AS_OF,
                                   int(AS_OF.timestamp()) * 1_000_000)
            assert model.rules
            ctx.evaluate(distinct_users("a"))

    def test_bad_level(self):
        with pytest.raises(ValidationError):
            pk.ScoringModel(name="m", threshold=1, level="team",
                            rules=[pk.Rule("r", exists("a"), points=1)])
