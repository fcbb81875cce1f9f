"""DESIGN §1: every reference scenario, on tiny hand-written event logs.

Each scenario is scored twice: with the model from :mod:`pqlkit.templates` and with the same
model written inline with the public API; the two must agree row for row. Expected scores
are computed by hand in the comments. ``as_of`` is 2026-06-01T00:00:00Z throughout.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, ClassVar

import pytest
from tests._support import AS_OF, US, ago, ev

import pqlkit as pk
from pqlkit import active_users, count, days_since_last, distinct_users, exists, trait
from pqlkit import templates as tpl

# Every test here runs on every engine (see the engine fixture in conftest.py).
pytestmark = pytest.mark.usefixtures("engine")



def both(template: pk.ScoringModel, inline: pk.ScoringModel, log: pk.EventLog,
         as_of: datetime = AS_OF) -> pk.ScoreResult:
    """Score with the template and the inline model; they must agree exactly."""
    a = template.score(log, as_of=as_of)
    b = inline.score(log, as_of=as_of)
    assert a.users.to_records() == b.users.to_records()
    assert a.accounts.to_records() == b.accounts.to_records()
    return a


# -- Trial scoring template -----------------------------------------------------------------


def trial_inline() -> pk.ScoringModel:
    return pk.ScoringModel(
        name="trial-pql",
        rules=[
            pk.Rule("activation", count("project_created") >= 1, points=40),
            pk.Rule("collaboration", count("teammate_invited") >= 1, points=20),
            pk.Rule("intent", count("pricing_page_viewed", within="30d") >= 1, points=15),
            pk.Rule("recency", days_since_last() < 7, points=10),
        ],
        disqualify=[trait("email").endswith(".edu", ignore_case=True),
                    trait("email_domain").lower().isin(["rival.io"])],
        decay=pk.InactivityDecay(points=5, every="7d", grace="7d"),
        threshold=60,
        tiers={"hot": 80, "warm": 60, "cold": 30},
        rollup=pk.Rollup(min_share=0.5, min_pql=1),
    )


class TestTrialScoring:
    USERS: ClassVar[Any] = [
        {"user_id": "hot", "account_id": "acme", "traits": {"email": "h@acme.com"}},
        {"user_id": "idle14", "account_id": "acme"},
        {"user_id": "idle13", "account_id": "globex"},
        {"user_id": "idle20", "account_id": "globex"},
        {"user_id": "pricing_in", "account_id": "globex"},
        {"user_id": "edu", "account_id": "initech", "traits": {"email": "Kim@Stanford.EDU"}},
        {"user_id": "rival", "account_id": "initech", "traits": {"email": "Bob@Rival.IO"}},
        {"user_id": "near_edu", "traits": {"email": "ed@education.com"}},
    ]
    EVENTS: ClassVar[Any] = [
        # hot: 40 + 20 + 15 (pricing 2d ago) + 10 (active 1d ago) = 85, idle 1d: no decay
        ev("project_created", ago(days=20), "hot"),
        ev("teammate_invited", ago(days=10), "hot"),
        ev("pricing_page_viewed", ago(days=2), "hot"),
        ev("page_viewed", ago(days=1), "hot"),
        # idle13: 40 + 20 = 60; idle 13d: floor((13-7)/7) = 0 weeks -> 60 (PQL, warm)
        ev("project_created", ago(days=40), "idle13"),
        ev("teammate_invited", ago(days=13), "idle13"),
        # idle14: 40 + 20 = 60; idle 14d: floor((14-7)/7) = 1 week -> 55 (not PQL, cold)
        ev("project_created", ago(days=40), "idle14"),
        ev("teammate_invited", ago(days=14), "idle14"),
        # idle20: DESIGN §3.6 worked example: 60 - 5 * floor((20-7)/7) = 55
        ev("project_created", ago(days=40), "idle20"),
        ev("teammate_invited", ago(days=20), "idle20"),
        # pricing_in: 40 + 15 (view 1µs inside 30d) + 10 (active 3d ago) = 65 (PQL, warm)
        ev("project_created", ago(days=3), "pricing_in"),
        ev("pricing_page_viewed", ago(days=30) + US, "pricing_in"),
        # pricing_out: 40 + 10 = 50; a view exactly 30d ago is outside the window (cold)
        ev("project_created", ago(days=3), "pricing_out"),
        ev("pricing_page_viewed", ago(days=30), "pricing_out"),
        # recent_in: last event 1µs short of 7d: 40 + 10 = 50, idle < 14d: no decay
        ev("project_created", ago(days=7) + US, "recent_in"),
        # recent_out: last event exactly 7d ago: 40 (recency needs < 7 days), no decay
        ev("project_created", ago(days=7), "recent_out"),
        # long_idle: 40 - 5 * floor((100-7)/7) = 40 - 65 = -25, clamped to 0 (tier None)
        ev("project_created", ago(days=100), "long_idle"),
        # edu and rival: like hot (85) but disqualified
        *[ev(n, ago(days=d), u) for u in ("edu", "rival", "near_edu")
          for n, d in (("project_created", 20), ("teammate_invited", 10),
                       ("pricing_page_viewed", 2), ("page_viewed", 1))],
    ]

    @pytest.fixture(scope="class")
    @classmethod
    def result(cls, engine: str) -> pk.ScoreResult:
        log = pk.EventLog.from_records(cls.EVENTS, users=cls.USERS)
        return both(tpl.trial_scoring(), trial_inline(), log)

    def test_template_equals_inline(self):
        assert tpl.trial_scoring() == trial_inline()

    @pytest.mark.parametrize(
        ("user", "score", "is_pql", "tier"),
        [
            ("hot", 85, True, "hot"),
            ("idle13", 60, True, "warm"),
            ("idle14", 55, False, "cold"),
            ("idle20", 55, False, "cold"),
            ("pricing_in", 65, True, "warm"),
            ("pricing_out", 50, False, "cold"),
            ("recent_in", 50, False, "cold"),
            ("recent_out", 40, False, "cold"),
            ("long_idle", 0, False, None),
            ("near_edu", 85, True, "hot"),
        ],
    )
    def test_user_scores(self, result, user, score, is_pql, tier):
        row = result.users[user]
        assert row["score"] == score
        assert row["is_pql"] is is_pql
        assert row["tier"] == tier
        assert row["disqualified"] is False

    def test_per_rule_points(self, result):
        row = result.users["hot"]
        assert (row["activation"], row["collaboration"], row["intent"], row["recency"]) == (
            40, 20, 15, 10)
        row = result.users["idle14"]
        assert (row["activation"], row["collaboration"], row["intent"], row["recency"]) == (
            40, 20, 0, 0)
        assert result.explain("idle14").decay == -5

    @pytest.mark.parametrize("user", ["edu", "rival"])
    def test_disqualified_keeps_score(self, result, user):
        row = result.users[user]
        assert row["score"] == 85
        assert row["disqualified"] is True
        assert row["is_pql"] is False
        assert row["tier"] == "disqualified"

    def test_rollup(self, result):
        acme = result.accounts["acme"]        # hot (PQL), idle14: 1 of 2 = 50 %
        assert (acme["n_users"], acme["n_pql"], acme["share_pql"]) == (2, 1, 0.5)
        assert acme["is_pqa"] is True
        assert acme["score"] == 85            # max
        globex = result.accounts["globex"]    # idle13, pricing_in PQLs; idle20 not: 2 of 3
        assert (globex["n_users"], globex["n_pql"]) == (3, 2)
        assert globex["is_pqa"] is True
        assert globex["score"] == 65
        initech = result.accounts["initech"]  # two disqualified users
        assert (initech["n_users"], initech["n_pql"]) == (2, 0)
        assert initech["is_pqa"] is False
        assert initech["score"] == 0

    def test_explanation_of_hot_user(self, result):
        expl = result.explain("hot")
        assert expl.total() == expl.score == 85
        intent = next(r for r in expl.rules if r.rule == "intent")
        assert intent.evidence.latest.name == "pricing_page_viewed"
        assert intent.evidence.latest.timestamp == ago(days=2)


# -- Weighted signal families -----------------------------------------------------------------


def weighted_inline() -> pk.ScoringModel:
    return pk.ScoringModel(
        name="weighted-families",
        rules=[
            pk.Rule("aha", count("dashboard_created", within="14d") >= 1, points=5,
                    group="usage"),
            pk.Rule("team", count("teammate_invited", within="14d") >= 2, points=3,
                    group="collaboration"),
            pk.Rule("admin", trait("role") == "admin", points=2, group="fit"),
        ],
        threshold=8,
        rollup=pk.Rollup(),
    )


class TestWeightedSignalFamilies:
    ADMIN: ClassVar[Any] = {"role": "admin"}
    USERS: ClassVar[Any] = [{"user_id": u, "traits": {"role": "admin"}}
             for u in ("all", "aha_admin", "edge_out", "edge_in", "one_invite")]
    USERS.append({"user_id": "member", "traits": {"role": "member"}})
    EVENTS: ClassVar[Any] = [
        # all: 5 + 3 + 2 = 10
        ev("dashboard_created", ago(days=1), "all"),
        ev("teammate_invited", ago(days=2), "all"), ev("teammate_invited", ago(days=3), "all"),
        # aha_team (no users row, no role): 5 + 3 = 8 -> PQL exactly at the threshold
        ev("dashboard_created", ago(days=13), "aha_team"),
        ev("teammate_invited", ago(days=5), "aha_team"),
        ev("teammate_invited", ago(days=6), "aha_team"),
        # aha_admin: 5 + 2 = 7 -> not
        ev("dashboard_created", ago(days=1), "aha_admin"),
        # edge_out: dashboard exactly 14d ago is outside: 3 + 2 = 5 -> not
        ev("dashboard_created", ago(days=14), "edge_out"),
        ev("teammate_invited", ago(days=1), "edge_out"),
        ev("teammate_invited", ago(days=1), "edge_out"),
        # edge_in: the same 1µs later is inside: 5 + 3 + 2 = 10
        ev("dashboard_created", ago(days=14) + US, "edge_in"),
        ev("teammate_invited", ago(days=1), "edge_in"),
        ev("teammate_invited", ago(days=1), "edge_in"),
        # one_invite: the second invite is exactly 14d ago: 5 + 0 + 2 = 7 -> not
        ev("dashboard_created", ago(days=1), "one_invite"),
        ev("teammate_invited", ago(days=1), "one_invite"),
        ev("teammate_invited", ago(days=14), "one_invite"),
        # member: 5 + 3 + 0 = 8 -> PQL
        ev("dashboard_created", ago(days=1), "member"),
        ev("teammate_invited", AS_OF, "member"),
        ev("teammate_invited", AS_OF, "member"),
    ]

    @pytest.fixture(scope="class")
    @classmethod
    def result(cls, engine: str) -> pk.ScoreResult:
        log = pk.EventLog.from_records(cls.EVENTS, users=cls.USERS)
        return both(tpl.weighted_signal_families(), weighted_inline(), log)

    def test_template_equals_inline(self):
        assert tpl.weighted_signal_families() == weighted_inline()

    @pytest.mark.parametrize(
        ("user", "score", "is_pql"),
        [("all", 10, True), ("aha_team", 8, True), ("aha_admin", 7, False),
         ("edge_out", 5, False), ("edge_in", 10, True), ("one_invite", 7, False),
         ("member", 8, True)],
    )
    def test_scores(self, result, user, score, is_pql):
        assert result.users[user]["score"] == score
        assert result.users[user]["is_pql"] is is_pql


# -- Activation within N days -------------------------------------------------------------------


def activation_inline() -> pk.ScoringModel:
    return pk.ScoringModel(
        name="activation-within-14d",
        rules=[pk.Rule(
            "activated",
            exists("data_source_connected", since_signup="14d")
            & exists("dashboard_created", since_signup="14d")
            & exists("teammate_invited", since_signup="14d"),
            points=1,
        )],
        threshold=1,
    )


class TestActivationWithin:
    C = ago(days=20)          # signup of the users in the users table
    F = ago(days=30)          # first event of the users known only from events
    USERS: ClassVar[Any] = [{"user_id": u, "created_at": ago(days=20)}
             for u in ("yes", "late", "missing", "before_signup")]
    EVENTS: ClassVar[Any] = [
        # yes: at signup (counted), 1µs before the 14d end (counted), +1d
        ev("data_source_connected", C, "yes"),
        ev("dashboard_created", C + timedelta(days=14) - US, "yes"),
        ev("teammate_invited", C + timedelta(days=1), "yes"),
        # late: invite exactly 14d after signup is outside the window
        ev("data_source_connected", C, "late"),
        ev("dashboard_created", C + timedelta(days=2), "late"),
        ev("teammate_invited", C + timedelta(days=14), "late"),
        # missing: no dashboard
        ev("data_source_connected", C, "missing"),
        ev("teammate_invited", C + timedelta(days=2), "missing"),
        # before_signup: the data source was connected 1µs before signup
        ev("data_source_connected", C - US, "before_signup"),
        ev("dashboard_created", C + timedelta(days=2), "before_signup"),
        ev("teammate_invited", C + timedelta(days=2), "before_signup"),
        # no_created (only in events): window from its first event F
        ev("signup", F, "no_created"),
        ev("data_source_connected", F + timedelta(days=1), "no_created"),
        ev("dashboard_created", F + timedelta(days=2), "no_created"),
        ev("teammate_invited", F + timedelta(days=14) - US, "no_created"),
        # no_created_late: the invite is exactly 14d after the first event
        ev("signup", F, "no_created_late"),
        ev("data_source_connected", F + timedelta(days=1), "no_created_late"),
        ev("dashboard_created", F + timedelta(days=2), "no_created_late"),
        ev("teammate_invited", F + timedelta(days=14), "no_created_late"),
    ]

    @pytest.fixture(scope="class")
    @classmethod
    def result(cls, engine: str) -> pk.ScoreResult:
        log = pk.EventLog.from_records(cls.EVENTS, users=cls.USERS)
        return both(tpl.activation_within(), activation_inline(), log)

    def test_template_equals_inline(self):
        assert tpl.activation_within("14d") == activation_inline()

    @pytest.mark.parametrize(
        ("user", "activated"),
        [("yes", True), ("late", False), ("missing", False), ("before_signup", False),
         ("no_created", True), ("no_created_late", False)],
    )
    def test_activation(self, result, user, activated):
        assert result.users[user]["is_pql"] is activated
        assert result.users[user]["score"] == (1 if activated else 0)

    def test_not_yet_as_of(self):
        c = self.C
        events = [ev("data_source_connected", c + timedelta(days=1)),
                  ev("dashboard_created", c + timedelta(days=2)),
                  ev("teammate_invited", c + timedelta(days=6))]
        log = pk.EventLog.from_records(events, users=[{"user_id": "u1", "created_at": c}])
        early = both(tpl.activation_within(), activation_inline(), log,
                     as_of=c + timedelta(days=5))
        assert early.users["u1"]["is_pql"] is False
        later = both(tpl.activation_within(), activation_inline(), log,
                     as_of=c + timedelta(days=6))
        assert later.users["u1"]["is_pql"] is True


# -- Workspace expansion (account level) ----------------------------------------------------------


def expansion_inline() -> pk.ScoringModel:
    return pk.ScoringModel(
        name="workspace-expansion",
        level="account",
        rules=[pk.Rule(
            "expansion",
            (active_users(within="30d") >= 10)
            & (exists("automation_created") + exists("integration_connected") >= 2),
            points=1,
        )],
        threshold=1,
    )


def _team(account: str, n_active: int, extra_when: datetime | None, features: list[str]
          ) -> tuple[list[dict], list[dict]]:
    """``n_active`` users active 1 day ago (half of them assigned by the users table, half
    naming the account in their events), one more user last seen at ``extra_when``, and
    the power-feature events."""
    users, events = [], []
    for i in range(n_active):
        uid = f"{account}-{i}"
        if i % 2:
            users.append({"user_id": uid, "account_id": account})
            events.append(ev("page_viewed", ago(days=1), uid))
        else:
            events.append(ev("page_viewed", ago(days=1), uid, account_id=account))
    if extra_when is not None:
        users.append({"user_id": f"{account}-extra", "account_id": account})
        events.append(ev("page_viewed", extra_when, f"{account}-extra"))
    for name in features:
        events.append(ev(name, ago(days=60), f"{account}-1"))
    return users, events


class TestWorkspaceExpansion:
    BOTH: ClassVar[Any] = ["automation_created", "integration_connected"]
    TEAMS: ClassVar[Any] = {
        "big": (10, None, BOTH, True),                          # 10 active + 2 features
        "nine": (9, ago(days=30), BOTH, False),                 # 10th exactly 30d ago
        "edge10": (9, ago(days=30) + US, BOTH, True),           # 10th 1µs inside
        "one_feature": (12, None, ["automation_created"] * 3, False),
        "no_features": (10, None, [], False),
    }

    @pytest.fixture(scope="class")
    @classmethod
    def result(cls, engine: str) -> pk.ScoreResult:
        users, events = [], []
        for account, (n, extra, features, _) in cls.TEAMS.items():
            u, e = _team(account, n, extra, features)
            users += u
            events += e
        log = pk.EventLog.from_records(events, users=users)
        return both(tpl.workspace_expansion(), expansion_inline(), log)

    def test_template_equals_inline(self):
        assert tpl.workspace_expansion() == expansion_inline()

    @pytest.mark.parametrize("account", list(TEAMS))
    def test_accounts(self, result, account):
        expected = self.TEAMS[account][3]
        row = result.accounts[account]
        assert row["is_pqa"] is expected
        assert row["score"] == (1 if expected else 0)

    def test_level_account_has_no_user_rows(self, result):
        assert len(result.users) == 0


# -- Intent to pay ------------------------------------------------------------------------------


def intent_inline() -> pk.ScoringModel:
    return pk.ScoringModel(
        name="intent-to-pay",
        rules=[pk.Rule(
            "intent_to_pay",
            exists("usage_limit_hit") | (count("pricing_page_viewed") >= 2)
            | exists("seat_cap_invite_blocked"),
            points=1,
        )],
        threshold=1,
    )


class TestIntentToPay:
    EVENTS: ClassVar[Any] = [
        ev("pricing_page_viewed", ago(days=3), "pricing1"),
        ev("pricing_page_viewed", ago(days=3), "pricing2"),
        ev("pricing_page_viewed", ago(days=60), "pricing2"),
        ev("usage_limit_hit", ago(days=9), "limit"),
        ev("seat_cap_invite_blocked", AS_OF, "seat"),
        ev("teammate_invited", ago(days=1), "nothing"),
        ev("pricing_page_viewed", ago(days=1), "pricing_late"),
        ev("pricing_page_viewed", AS_OF + US, "pricing_late"),   # after as_of: not seen
        ev("usage_limit_hit", AS_OF + US, "pricing_late"),
    ]

    @pytest.fixture(scope="class")
    @classmethod
    def result(cls, engine: str) -> pk.ScoreResult:
        return both(tpl.intent_to_pay(), intent_inline(), pk.EventLog.from_records(cls.EVENTS))

    def test_template_equals_inline(self):
        assert tpl.intent_to_pay() == intent_inline()

    @pytest.mark.parametrize(
        ("user", "intent"),
        [("pricing1", False), ("pricing2", True), ("limit", True), ("seat", True),
         ("nothing", False), ("pricing_late", False)],
    )
    def test_intent(self, result, user, intent):
        assert result.users[user]["is_pql"] is intent


# -- Team query milestone (account level) ----------------------------------------------------------


def team_query_inline() -> pk.ScoringModel:
    return pk.ScoringModel(
        name="team-query-milestone",
        level="account",
        rules=[pk.Rule("team_queries", distinct_users("saved_query_run", within="7d") >= 3,
                       points=1)],
        threshold=1,
    )


class TestTeamQueryMilestone:
    USERS: ClassVar[Any] = [{"user_id": "t3-a", "account_id": "team3"},      # assigned by the users table
             {"user_id": "t2-a", "account_id": "team2"}]
    EVENTS: ClassVar[Any] = [
        # team3: three distinct users ran a saved query in the last 7 days
        ev("saved_query_run", ago(days=1), "t3-a"),
        ev("saved_query_run", ago(days=6), "t3-b", account_id="team3"),
        ev("saved_query_run", AS_OF, "t3-c", account_id="team3"),
        # team2: two users, many runs: 2 distinct users
        *[ev("saved_query_run", ago(hours=h), "t2-a") for h in range(1, 30)],
        *[ev("saved_query_run", ago(hours=h), "t2-b", account_id="team2") for h in range(1, 30)],
        ev("dashboard_created", ago(days=1), "t2-c", account_id="team2"),
        # edge_out: the third user's run is exactly 7 days old
        ev("saved_query_run", ago(days=1), "eo-a", account_id="edge_out"),
        ev("saved_query_run", ago(days=1), "eo-b", account_id="edge_out"),
        ev("saved_query_run", ago(days=7), "eo-c", account_id="edge_out"),
        # edge_in: 1µs younger
        ev("saved_query_run", ago(days=1), "ei-a", account_id="edge_in"),
        ev("saved_query_run", ago(days=1), "ei-b", account_id="edge_in"),
        ev("saved_query_run", ago(days=7) + US, "ei-c", account_id="edge_in"),
    ]

    @pytest.fixture(scope="class")
    @classmethod
    def result(cls, engine: str) -> pk.ScoreResult:
        log = pk.EventLog.from_records(cls.EVENTS, users=cls.USERS)
        return both(tpl.team_query_milestone(), team_query_inline(), log)

    def test_template_equals_inline(self):
        assert tpl.team_query_milestone() == team_query_inline()

    @pytest.mark.parametrize(
        ("account", "pqa"),
        [("team3", True), ("team2", False), ("edge_out", False), ("edge_in", True)],
    )
    def test_accounts(self, result, account, pqa):
        assert result.accounts[account]["is_pqa"] is pqa

    def test_n_users(self, result):
        assert result.accounts["team3"]["n_users"] == 3
        assert result.accounts["team2"]["n_users"] == 3


# -- Message volume (account level) -----------------------------------------------------------------


def message_inline() -> pk.ScoringModel:
    return pk.ScoringModel(
        name="message-volume",
        level="account",
        rules=[pk.Rule("volume",
                       (count("message_sent") >= 2000) & exists("integration_connected"),
                       points=1)],
        threshold=1,
    )


class TestMessageVolume:
    @staticmethod
    def _account(account: str, n: int, integration: bool) -> list[dict]:
        # messages split over a user named by its events and account-only events
        out = [ev("message_sent", ago(minutes=i + 1), f"{account}-u", account_id=account)
               for i in range(n // 2)]
        out += [ev("message_sent", ago(minutes=i + 1), None, account_id=account)
                for i in range(n - n // 2)]
        if integration:
            out.append(ev("integration_connected", ago(days=90), f"{account}-u",
                          account_id=account))
        return out

    @pytest.fixture(scope="class")
    @classmethod
    def result(cls, engine: str) -> pk.ScoreResult:
        events = (cls._account("loud", 2000, True) + cls._account("almost", 1999, True)
                  + cls._account("no_integration", 2000, False))
        # 'late': 1999 messages before as_of and one after it
        events += cls._account("late", 1999, True)
        events.append(ev("message_sent", AS_OF + US, None, account_id="late"))
        return both(tpl.message_volume(), message_inline(), pk.EventLog.from_records(events))

    def test_template_equals_inline(self):
        assert tpl.message_volume() == message_inline()

    @pytest.mark.parametrize(
        ("account", "pqa"),
        [("loud", True), ("almost", False), ("no_integration", False), ("late", False)],
    )
    def test_accounts(self, result, account, pqa):
        assert result.accounts[account]["is_pqa"] is pqa


    def test_batched_messages_count_by_their_property(self):
        # The demo data sends a batch per event (property "count"): counting events found
        # 942 "messages" where 3,058 were sent.
        def batch(account: str, n: int) -> dict:
            return ev("message_sent", ago(days=1), None, account_id=account,
                      properties={"count": n})

        events = [batch("big", 1500), batch("big", 500), batch("small", 1999),
                  ev("integration_connected", ago(days=2), None, account_id="big"),
                  ev("integration_connected", ago(days=2), None, account_id="small")]
        batched = tpl.message_volume(count_property="count")
        assert batched.rules[0].when.equals(
            (pk.total("count", of="message_sent") >= 2000) & exists("integration_connected"))
        result = batched.score(pk.EventLog.from_records(events), as_of=AS_OF)
        assert {r["account_id"]: r["is_pqa"] for r in result.accounts} == {
            "big": True, "small": False}
        with pytest.raises(TypeError, match="count_property"):
            tpl.message_volume(count_property="")


# -- Negative qualifiers ----------------------------------------------------------------------------


def negative_inline() -> list[pk.Expr]:
    return [trait("email").endswith(".edu", ignore_case=True),
            trait("email_domain").lower().isin(["rival.io"])]


class TestNegativeQualifiers:
    EMAILS: ClassVar[Any] = {
        "student": ("kim@cs.stanford.edu", True),
        "shouty": ("KIM@MIT.EDU", True),
        "rival": ("bob@rival.io", True),
        "rival_caps": ("Bob@Rival.IO", True),
        "education": ("ed@education.com", False),
        "edu_domain": ("x@edu.org", False),
        "notrival": ("x@notrival.io", False),
        "rival_lookalike": ("x@rival.io.example.com", False),
        "plain": ("a@corp.com", False),
    }

    def _result(self, disqualify: list[pk.Expr]) -> pk.ScoreResult:
        users = [{"user_id": u, "traits": {"email": e}} for u, (e, _) in self.EMAILS.items()]
        users.append({"user_id": "no_email"})
        events = [ev("project_created", ago(days=1), u) for u in [*self.EMAILS, "no_email"]]
        model = pk.ScoringModel(
            name="neg", threshold=50, tiers={"A": 90, "B": 50},
            rules=[pk.Rule("activation", exists("project_created"), points=95)],
            disqualify=disqualify,
        )
        return model.score(pk.EventLog.from_records(events, users=users), as_of=AS_OF)

    def test_template_equals_inline(self):
        for a, b in zip(tpl.negative_qualifiers(), negative_inline(), strict=True):
            assert a.equals(b)

    @pytest.mark.parametrize("user", [*EMAILS, "no_email"])
    def test_disqualification_whatever_the_usage(self, user):
        expected = self.EMAILS.get(user, ("", False))[1]
        for result in (self._result(tpl.negative_qualifiers()), self._result(negative_inline())):
            row = result.users[user]
            assert row["disqualified"] is expected
            assert row["score"] == 95                    # kept for transparency
            assert row["is_pql"] is (not expected)
            assert row["tier"] == ("disqualified" if expected else "A")

    def test_a_domain_set_as_a_trait_matches_in_any_case(self):
        # Only a domain derived from the email was lower-cased: a CRM's "Rival.IO" trait
        # let a competitor through.
        users = [{"user_id": "u1", "traits": {"email": "spy@Rival.IO",
                                              "email_domain": "Rival.IO"}}]
        model = pk.ScoringModel(name="m", threshold=1,
                                rules=[pk.Rule("a", exists("a"), points=5)],
                                disqualify=tpl.negative_qualifiers())
        log = pk.EventLog.from_records([ev("a", ago(days=1))], users=users)
        assert model.score(log, as_of=AS_OF).users["u1"]["disqualified"] is True
        assert tpl.trial_scoring().score(log, as_of=AS_OF).users["u1"]["disqualified"] is True

    def test_custom_competitors_are_lowercased(self):
        users = [{"user_id": "u1", "traits": {"email": "x@Acme.com"}}]
        model = pk.ScoringModel(name="m", threshold=1,
                                rules=[pk.Rule("a", exists("a"), points=5)],
                                disqualify=tpl.negative_qualifiers(["ACME.com"]))
        row = model.score(pk.EventLog.from_records([ev("a", ago(days=1))], users=users),
                          as_of=AS_OF).users["u1"]
        assert row["disqualified"] is True and row["score"] == 5


# -- PQA roll-up --------------------------------------------------------------------------------------


class TestPqaRollup:
    @staticmethod
    def _model(rollup: pk.Rollup) -> pk.ScoringModel:
        return pk.ScoringModel(name="m", threshold=10, rollup=rollup,
                               rules=[pk.Rule("a", exists("a"), points=10)])

    def test_template_equals_inline(self):
        assert tpl.pqa_rollup() == pk.Rollup(min_share=0.5, min_pql=1)
        assert tpl.pqa_rollup() == pk.Rollup()

    ACCOUNTS: ClassVar[Any] = {
        # account: (PQL users, other users, is PQA)
        "half": (2, 2, True),           # exactly 50 %
        "just_under": (49, 50, False),  # 49 / 99 = 49.5 %
        "one_of_one": (1, 0, True),
        "one_of_three": (1, 2, False),
        "none": (0, 3, False),          # no PQL at all
        "most": (3, 1, True),
    }

    @pytest.fixture(scope="class")
    @classmethod
    def log(cls) -> pk.EventLog:
        users, events = [], []
        for account, (n_pql, n_other, _) in cls.ACCOUNTS.items():
            for i in range(n_pql + n_other):
                uid = f"{account}-{i}"
                users.append({"user_id": uid, "account_id": account})
                events.append(ev("a" if i < n_pql else "b", ago(days=1), uid))
        return pk.EventLog.from_records(events, users=users,
                                        accounts=[{"account_id": "empty"}])

    @pytest.mark.parametrize("account", list(ACCOUNTS))
    def test_accounts(self, log, account):
        n_pql, n_other, pqa = self.ACCOUNTS[account]
        a = self._model(tpl.pqa_rollup()).score(log, as_of=AS_OF)
        b = self._model(pk.Rollup(min_share=0.5, min_pql=1)).score(log, as_of=AS_OF)
        assert a.accounts.to_records() == b.accounts.to_records()
        row = a.accounts[account]
        assert row["n_pql"] == n_pql
        assert row["n_users"] == n_pql + n_other
        assert row["share_pql"] == n_pql / (n_pql + n_other)
        assert row["is_pqa"] is pqa

    def test_account_with_no_users(self, log):
        row = self._model(tpl.pqa_rollup()).score(log, as_of=AS_OF).accounts["empty"]
        assert (row["n_users"], row["n_pql"], row["is_pqa"]) == (0, 0, False)

    def test_trial_template_uses_it(self):
        assert tpl.trial_scoring().rollup == tpl.pqa_rollup()
