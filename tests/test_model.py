"""Tests of pqlkit.model: rules, decays, roll-ups and models, validated when built."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import pytest

import pqlkit as pk
from pqlkit import count, days_since_last, distinct_users, exists, prop, trait
from pqlkit.errors import PqlkitError, PqlkitTypeError, ValidationError
from pqlkit.model import RESERVED_COLUMNS

NAMESPACE: dict[str, Any] = {name: getattr(pk, name) for name in pk.__all__}


def rule(name: str = "activation", **kw: Any) -> pk.Rule:
    kw.setdefault("points", 40)
    return pk.Rule(name, count("project_created") >= 1, **kw)


def model(**kw: Any) -> pk.ScoringModel:
    kw.setdefault("name", "m")
    kw.setdefault("rules", [rule()])
    kw.setdefault("threshold", 40)
    return pk.ScoringModel(**kw)


def full_model() -> pk.ScoringModel:
    return pk.ScoringModel(
        name="trial-pql",
        rules=[
            pk.Rule("activation", count("project_created") >= 1, points=40),
            pk.Rule("collaboration", count("teammate_invited", within="14d") >= 2, points=20,
                    group="team"),
            pk.Rule("intent", count("pricing_page_viewed", within="30d") >= 1, points=15,
                    decay=pk.HalfLife("14d"), group="team"),
            pk.Rule("queries", count("saved_query_run", within="30d"), points_per=2,
                    max_points=20),
            pk.Rule("recency", days_since_last() < 7, points=10),
            pk.Rule("student", trait("email").lower().endswith(".edu"), points=-50),
        ],
        disqualify=[trait("email").endswith(".edu", ignore_case=True),
                    trait("email_domain").lower().isin(["rival.io"])],
        decay=pk.InactivityDecay(points=5, every="7d", grace="7d"),
        threshold=60,
        tiers={"A": 80, "B": 60, "C": 30},
        rollup=pk.Rollup(min_share=0.3, score="top_k_mean", k=5, denominator="active",
                         active_within="30d"),
        floor=-10,
        ceiling=100,
        group_caps={"team": 25},
    )


# -- Rule ---------------------------------------------------------------------------------------


def test_rule_points_message_names_rule_field_and_what_arrived():
    with pytest.raises(ValidationError) as info:
        pk.Rule("intent", count("pricing_page_viewed") >= 1, points="ten")
    assert str(info.value) == "Rule 'intent': points must be a finite number, got 'ten' (str)"


@pytest.mark.parametrize("bad", [math.nan, math.inf, True, None.__class__, [1]])
def test_rule_points_must_be_a_finite_number(bad):
    with pytest.raises(ValidationError, match="Rule 'r': points must be a finite number"):
        pk.Rule("r", exists("x"), points=bad)


def test_rule_points_per_message_names_the_field():
    with pytest.raises(ValidationError, match=r"Rule 'q': points_per must be a finite number, got 'x' \(str\)"):
        pk.Rule("q", count("x"), points_per="x")


@pytest.mark.parametrize("kw", [{}, {"points": 1, "points_per": 1}])
def test_rule_needs_exactly_one_of_points_and_points_per(kw):
    with pytest.raises(ValidationError) as info:
        pk.Rule("r", count("x") >= 1, **kw)
    message = str(info.value)
    assert message.startswith("Rule 'r': give exactly one of points=")
    assert "points_per=" in message


def test_max_points_only_goes_with_points_per():
    with pytest.raises(ValidationError, match="Rule 'r': max_points= goes with points_per="):
        pk.Rule("r", count("x") >= 1, points=5, max_points=10)
    ok = pk.Rule("r", count("x"), points_per=2, max_points=10)
    assert ok.max_points == 10
    with pytest.raises(ValidationError, match="Rule 'r': max_points must be positive, got 0"):
        pk.Rule("r", count("x"), points_per=2, max_points=0)


def test_points_on_a_numeric_signal_says_compare_or_use_points_per():
    with pytest.raises(PqlkitTypeError) as info:
        pk.Rule("r", count("x"), points=5)
    message = str(info.value)
    assert "Rule 'r'" in message and "not a condition" in message
    assert "count('x') >= 1" in message and "points_per=" in message


def test_points_per_needs_a_numeric_signal():
    with pytest.raises(PqlkitTypeError, match="Rule 'r': points_per= needs a numeric signal"):
        pk.Rule("r", trait("email").lower(), points_per=1)


def test_points_per_accepts_conditions_as_zero_or_one():
    assert pk.Rule("r", exists("x"), points_per=3).points_from(True) == 3


def test_rule_when_must_be_an_expression():
    with pytest.raises(PqlkitTypeError, match=r"Rule 'r': the second argument must be a condition.*got 'x >= 1' \(str\)"):
        pk.Rule("r", "x >= 1", points=1)


def test_rule_refuses_prop_outside_where():
    with pytest.raises(PqlkitTypeError, match="Rule 'r': prop\\('plan'\\) == 'pro' tests event"):
        pk.Rule("r", prop("plan") == "pro", points=1)


@pytest.mark.parametrize("name", ["", "   ", None, 3])
def test_rule_name_must_be_a_non_empty_string(name):
    with pytest.raises(ValidationError, match="a rule name must be a non-empty string"):
        pk.Rule(name, exists("x"), points=1)


@pytest.mark.parametrize("name", sorted(RESERVED_COLUMNS))
def test_reserved_column_names_cannot_name_a_rule(name):
    with pytest.raises(ValidationError) as info:
        pk.Rule(name, exists("x"), points=1)
    assert f"rule name {name!r} is a result column name" in str(info.value)
    assert "reserved:" in str(info.value)


def test_rule_group_must_be_a_non_empty_string():
    with pytest.raises(ValidationError, match="Rule 'r': group must be a non-empty string"):
        pk.Rule("r", exists("x"), points=1, group="")


def test_rule_decay_must_be_a_decay():
    with pytest.raises(PqlkitTypeError, match="Rule 'r': decay must have an apply"):
        pk.Rule("r", exists("x"), points=1, decay="14d")


def test_rule_options_after_the_condition_are_keyword_only():
    with pytest.raises(TypeError):
        pk.Rule("r", exists("x"), 10)  # type: ignore[misc]


def test_rule_points_from_values():
    cond = pk.Rule("r", exists("x"), points=10)
    assert cond.points_from(True) == 10
    assert cond.points_from(False) == 0
    assert cond.points_from(None) == 0
    per = pk.Rule("q", count("x"), points_per=2, max_points=20)
    assert per.points_from(3) == 6
    assert per.points_from(50) == 20
    assert per.points_from(-50) == -20
    assert per.points_from(None) == 0


def test_negative_points_are_allowed():
    assert pk.Rule("student", trait("email").endswith(".edu"), points=-50).points == -50


def test_rule_signals_lists_the_signals_it_reads():
    r = pk.Rule("r", (count("a") >= 1) & exists("b") & (trait("x") == 1), points=1)
    assert [repr(s) for s in r.signals()] == ["count('a')", "exists('b')"]


def test_rule_repr_is_the_code_that_builds_it():
    r = pk.Rule("queries", count("saved_query_run", within="30d"), points_per=2, max_points=20)
    assert repr(r) == (
        "Rule('queries', count('saved_query_run', within='30d'), points_per=2, max_points=20)"
    )
    assert repr(rule()) == "Rule('activation', count('project_created') >= 1, points=40)"


def test_rules_compare_structurally():
    a = pk.Rule("r", count("x", within="2w") >= 1, points=10, group="g", decay=pk.HalfLife("7d"))
    b = pk.Rule("r", count("x", within="14d") >= 1, points=10.0, group="g",
                decay=pk.HalfLife(timedelta(days=7)))
    assert a == b
    assert hash(a) != 0
    assert a != pk.Rule("r", count("x", within="15d") >= 1, points=10, group="g",
                        decay=pk.HalfLife("7d"))
    assert a != pk.Rule("r", count("x", within="2w") >= 1, points=11, group="g",
                        decay=pk.HalfLife("7d"))
    assert a != pk.Rule("s", count("x", within="2w") >= 1, points=10, group="g",
                        decay=pk.HalfLife("7d"))
    assert (a == "rule") is False


def test_rule_errors_are_pqlkit_errors_and_value_errors():
    with pytest.raises(ValueError):
        pk.Rule("r", exists("x"))
    with pytest.raises(PqlkitError):
        pk.Rule("r", exists("x"))


# -- decays -------------------------------------------------------------------------------------


def test_inactivity_decay_follows_the_design_formula():
    decay = pk.InactivityDecay(points=5, every="7d", grace="7d")
    # 5 * floor((20 - 7) / 7) = 5
    assert decay.apply(60, timedelta(days=20)) == 55


@pytest.mark.parametrize(
    ("idle_days", "lost"),
    [(0, 0), (6.9, 0), (7, 0), (13.99, 0), (14, 5), (20, 5), (21, 10), (28, 15), (70, 45)],
)
def test_inactivity_decay_loses_points_per_full_period_past_grace(idle_days, lost):
    decay = pk.InactivityDecay(points=5, every="7d", grace="7d")
    assert 100 - decay.apply(100, timedelta(days=idle_days)) == lost


def test_inactivity_decay_without_grace_starts_at_once():
    decay = pk.InactivityDecay(points=2, every="1d")
    assert decay.apply(10, timedelta(days=3, hours=5)) == 4
    assert decay.periods(timedelta(days=1).days * 86_400_000_000) == 1


def test_inactivity_decay_can_go_below_zero_before_the_model_floor():
    assert pk.InactivityDecay(points=5, every="7d").apply(3, timedelta(days=14)) == -7


def test_half_life_decay_multiplies_by_half_per_half_life():
    decay = pk.HalfLife("14d")
    assert decay.apply(40, timedelta(days=14)) == 20
    assert decay.apply(40, timedelta(days=28)) == 10
    assert decay.apply(40, timedelta(0)) == 40
    assert decay.apply(40, timedelta(days=7)) == pytest.approx(40 * 0.5 ** 0.5)


def test_reset_after_keeps_full_value_until_idle_has_passed():
    decay = pk.ResetAfter("30d")
    assert decay.apply(40, timedelta(days=30)) == 40
    assert decay.apply(40, timedelta(days=30, microseconds=1)) == 0


def test_builtin_decays_follow_the_decay_protocol():
    for decay in (pk.InactivityDecay(points=1, every="1d"), pk.HalfLife("1d"), pk.ResetAfter("1d")):
        assert isinstance(decay, pk.Decay)


@pytest.mark.parametrize(
    ("build", "text"),
    [
        (lambda: pk.InactivityDecay(points=5, every="1mo"), "InactivityDecay every needs a fixed"),
        (lambda: pk.InactivityDecay(points=5, every="7d", grace="1mo"),
         "InactivityDecay grace needs a fixed"),
        (lambda: pk.HalfLife("1y"), "HalfLife half_life needs a fixed"),
        (lambda: pk.ResetAfter("3mo"), "ResetAfter idle needs a fixed"),
    ],
)
def test_calendar_durations_are_refused_for_decay(build, text):
    with pytest.raises(ValidationError, match=text) as info:
        build()
    assert "'30d'" in str(info.value)


@pytest.mark.parametrize(
    ("build", "text"),
    [
        (lambda: pk.InactivityDecay(points=0, every="7d"), "InactivityDecay: points must be positive"),
        (lambda: pk.InactivityDecay(points=-5, every="7d"), "points must be positive"),
        (lambda: pk.InactivityDecay(points="5", every="7d"),
         r"InactivityDecay: points must be a finite number, got '5' \(str\)"),
        (lambda: pk.InactivityDecay(points=5, every="soon"), "InactivityDecay every 'soon'"),
        (lambda: pk.InactivityDecay(points=5, every="0d"), "InactivityDecay every must be positive"),
        (lambda: pk.HalfLife("0d"), "HalfLife half_life must be positive"),
        (lambda: pk.ResetAfter(30), "ResetAfter idle must be a string"),
    ],
)
def test_decay_arguments_are_validated(build, text):
    with pytest.raises(PqlkitError, match=text):
        build()


def test_inactivity_decay_is_keyword_only():
    with pytest.raises(TypeError):
        pk.InactivityDecay(5, "7d")  # type: ignore[misc]


def test_decays_compare_structurally_and_print_as_code():
    assert pk.InactivityDecay(points=5, every="1w", grace="7d") == pk.InactivityDecay(
        points=5, every="7d", grace=timedelta(days=7))
    assert pk.InactivityDecay(points=5, every="7d") != pk.InactivityDecay(
        points=5, every="7d", grace="7d")
    assert pk.HalfLife("14d") == pk.HalfLife("2w")
    assert pk.HalfLife("14d") != pk.ResetAfter("14d")
    for decay in (pk.InactivityDecay(points=5, every="7d", grace="7d"),
                  pk.InactivityDecay(points=2.5, every="1d"), pk.HalfLife("14d"),
                  pk.ResetAfter("30d")):
        assert eval(repr(decay), dict(NAMESPACE)) == decay
    assert repr(pk.InactivityDecay(points=5, every="7d")) == "InactivityDecay(points=5, every='7d')"
    assert repr(pk.HalfLife("14d")) == "HalfLife('14d')"


# -- Rollup -------------------------------------------------------------------------------------


def test_rollup_defaults_follow_the_design():
    r = pk.Rollup()
    assert (r.min_share, r.min_pql, r.score, r.denominator) == (0.5, 1, "max", "all")
    assert r.is_pqa(1, 0.5)
    assert not r.is_pqa(0, 1.0)
    assert not r.is_pqa(1, 0.49)
    assert repr(r) == "Rollup()"


@pytest.mark.parametrize("share", [-0.1, 1.01, 50])
def test_rollup_min_share_must_be_between_0_and_1(share):
    with pytest.raises(ValidationError, match=f"Rollup: min_share is a share between 0 and 1, got {share!r}"):
        pk.Rollup(min_share=share)


def test_rollup_min_share_may_be_none_or_a_bound():
    assert pk.Rollup(min_share=None).is_pqa(1, 0.0)
    pk.Rollup(min_share=0)
    pk.Rollup(min_share=1)


def test_rollup_active_within_without_the_active_denominator_is_refused():
    # It was accepted and ignored: every user still counted in the share.
    with pytest.raises(ValidationError, match="applies only with denominator='active'"):
        pk.Rollup(active_within="7d")
    assert pk.Rollup(denominator="active", active_within="7d").active_within is not None


def test_rollup_denominator_active_needs_active_within():
    with pytest.raises(ValidationError, match="denominator='active' needs active_within="):
        pk.Rollup(denominator="active")
    assert pk.Rollup(denominator="active", active_within="30d").active_within == pk.as_duration("30d")


@pytest.mark.parametrize(
    ("kw", "text"),
    [
        ({"min_share": "half"}, "Rollup: min_share must be a finite number"),
        ({"min_pql": -1}, "Rollup: min_pql must be a whole number >= 0"),
        ({"min_pql": 1.5}, "min_pql must be a whole number"),
        ({"score": "median"}, "Rollup: score must be one of max, sum, mean, top_k_mean, got 'median'"),
        ({"k": 0}, "Rollup: k must be a whole number >= 1"),
        ({"k": True}, "k must be a whole number"),
        ({"denominator": "paying"}, "denominator must be 'all' or 'active'"),
        ({"denominator": "active", "active_within": "soon"}, "Rollup active_within 'soon'"),
    ],
)
def test_rollup_arguments_are_validated(kw, text):
    with pytest.raises(ValidationError, match=text):
        pk.Rollup(**kw)


def test_rollup_aggregates_scores():
    scores = [10.0, 40.0, 20.0, 30.0]
    assert pk.Rollup().aggregate(scores) == 40
    assert pk.Rollup(score="sum").aggregate(scores) == 100
    assert pk.Rollup(score="mean").aggregate(scores) == 25
    assert pk.Rollup(score="top_k_mean", k=2).aggregate(scores) == 35
    assert pk.Rollup(score="top_k_mean", k=10).aggregate(scores) == 25
    assert pk.Rollup().aggregate([]) == 0


def test_rollups_compare_structurally_and_print_as_code():
    assert pk.Rollup(min_share=0.5) == pk.Rollup()
    assert pk.Rollup(min_share=1) == pk.Rollup(min_share=1.0)
    assert pk.Rollup(denominator="active", active_within="4w") == pk.Rollup(
        denominator="active", active_within="28d")
    assert pk.Rollup(score="top_k_mean", k=4) != pk.Rollup(score="top_k_mean")
    r = pk.Rollup(min_share=None, min_pql=2, score="top_k_mean", k=5, denominator="active",
                  active_within="30d")
    assert repr(r) == ("Rollup(min_share=None, min_pql=2, score='top_k_mean', k=5, "
                       "denominator='active', active_within='30d')")
    assert eval(repr(r), dict(NAMESPACE)) == r


# -- ScoringModel -------------------------------------------------------------------------------


def test_duplicate_rule_names_are_refused():
    with pytest.raises(ValidationError, match="ScoringModel 'm': two rules are named 'activation'"):
        model(rules=[rule(), rule(points=10)])


def test_account_only_signals_in_a_user_model_are_refused_naming_the_rule():
    with pytest.raises(ValidationError) as info:
        model(rules=[pk.Rule("team", distinct_users("saved_query_run", within="7d") >= 3,
                             points=10)])
    message = str(info.value)
    assert "ScoringModel 'm': rule 'team'" in message
    assert "distinct_users('saved_query_run', within='7d')" in message
    assert "level='account'" in message


def test_account_only_signals_are_refused_in_points_per_rules_and_disqualifiers():
    with pytest.raises(ValidationError, match="rule 'n'"):
        model(rules=[pk.Rule("n", pk.active_users(within="30d"), points_per=1)])
    with pytest.raises(ValidationError, match=r"disqualify\[0\]"):
        model(disqualify=[pk.active_users(within="30d") < 1])


def test_account_only_signals_are_fine_at_account_level():
    m = model(rules=[pk.Rule("team", distinct_users("q", within="7d") >= 3, points=10)],
              level="account", threshold=10)
    assert m.level == "account"


@pytest.mark.parametrize(
    ("kw", "error", "text"),
    [
        ({"name": ""}, ValidationError, "ScoringModel: name must be a non-empty string"),
        ({"threshold": "60"}, ValidationError,
         r"ScoringModel 'm': threshold must be a finite number, got '60' \(str\)"),
        ({"threshold": math.nan}, ValidationError, "threshold must be a finite number"),
        ({"level": "team"}, ValidationError, "level must be 'user' or 'account', got 'team'"),
        ({"floor": "0"}, ValidationError, "floor must be a finite number"),
        ({"floor": 50, "ceiling": 10}, ValidationError,
         r"ScoringModel 'm': floor \(50\) is above ceiling \(10\)"),
        ({"rollup": {"min_share": 0.3}}, PqlkitTypeError, "rollup must be a pk.Rollup"),
        ({"decay": "7d"}, PqlkitTypeError, "ScoringModel 'm': decay must have an apply"),
        ({"rules": rule()}, PqlkitTypeError, "rules must be a list of rules"),
        ({"rules": ["activation"]}, PqlkitTypeError, r"rules\[0\] must be a pk.Rule"),
        ({"disqualify": [count("x")]}, PqlkitTypeError, r"disqualify\[0\] must be a condition"),
        ({"disqualify": ["student"]}, PqlkitTypeError, r"disqualify\[0\] must be a condition"),
        ({"disqualify": 3}, PqlkitTypeError, "disqualify must be a list of conditions"),
        ({"disqualify": [prop("plan") == "free"]}, PqlkitTypeError,
         r"disqualify\[0\] prop\('plan'\) == 'free' tests event properties directly"),
    ],
)
def test_model_arguments_are_validated_naming_the_model(kw, error, text):
    with pytest.raises(error, match=text):
        model(**kw)


def test_floor_and_ceiling_may_be_equal_or_none():
    assert model(floor=10, ceiling=10, threshold=10).ceiling == 10
    assert model(floor=None).floor is None


def test_a_single_disqualifier_is_accepted_as_a_list_of_one():
    m = model(disqualify=trait("email").endswith(".edu"))
    assert len(m.disqualify) == 1


def test_tiers_are_ordered_by_bar_whatever_the_mapping_order():
    m = model(tiers={"C": 30, "A": 80, "B": 60})
    assert m.tiers == (("A", 80), ("B", 60), ("C", 30))
    assert m == model(tiers={"A": 80, "B": 60, "C": 30})


@pytest.mark.parametrize(
    ("score", "disqualified", "tier"),
    [(95, False, "A"), (80, False, "A"), (79.9, False, "B"), (60, False, "B"), (30, False, "C"),
     (29, False, None), (-5, False, None), (95, True, "disqualified")],
)
def test_an_entity_gets_the_highest_tier_whose_bar_it_reaches(score, disqualified, tier):
    m = model(tiers={"A": 80, "B": 60, "C": 30})
    assert m.tier_for(score, disqualified) == tier


def test_without_tiers_the_tier_is_none_unless_disqualified():
    assert model().tier_for(100, False) is None
    assert model().tier_for(100, True) == "disqualified"


@pytest.mark.parametrize(
    ("tiers", "error", "text"),
    [
        ([("A", 80)], PqlkitTypeError, "tiers must map a tier name to its minimum score"),
        ({"": 10}, ValidationError, "a tier name must be a non-empty string"),
        ({1: 10}, ValidationError, "a tier name must be a non-empty string"),
        ({"disqualified": 10}, ValidationError, "'disqualified' is the tier of disqualified"),
        ({"A": "high"}, ValidationError,
         r"tiers\['A'\]: the minimum score must be a finite number, got 'high' \(str\)"),
    ],
)
def test_tiers_are_validated(tiers, error, text):
    with pytest.raises(error, match=text):
        model(tiers=tiers)


def test_group_caps_must_name_groups_the_rules_use():
    with pytest.raises(ValidationError) as info:
        model(rules=[rule(group="team")], group_caps={"teams": 20})
    message = str(info.value)
    assert "group_caps names group 'teams', which no rule uses" in message
    assert "(groups: team)" in message
    with pytest.raises(ValidationError, match=r"\(groups: none\)"):
        model(group_caps={"x": 1})


def test_group_caps_are_validated_and_kept():
    m = model(rules=[rule(group="team")], group_caps={"team": 20})
    assert m.group_caps == (("team", 20),)
    with pytest.raises(ValidationError, match=r"group_caps\['team'\]: the cap must be a finite"):
        model(rules=[rule(group="team")], group_caps={"team": "20"})
    with pytest.raises(PqlkitTypeError, match="group_caps must map"):
        model(group_caps=[("team", 20)])


def test_custom_rule_objects_are_accepted_and_checked_for_names():
    class EveryoneGetsTen:
        name = "bonus"

        def points_for(self, ctx: Any) -> float:
            return 10

    m = model(rules=[rule(), EveryoneGetsTen()])
    assert len(m.rules) == 2
    with pytest.raises(ValidationError, match="two rules are named 'bonus'"):
        model(rules=[EveryoneGetsTen(), EveryoneGetsTen()])


def test_model_defaults():
    m = model()
    assert (m.level, m.floor, m.ceiling, m.decay) == ("user", 0, None, None)
    assert m.disqualify == () and m.tiers == () and m.group_caps == ()
    assert m.rollup == pk.Rollup()


def test_model_is_keyword_only_and_frozen():
    with pytest.raises(TypeError):
        pk.ScoringModel("m", [rule()], 40)  # type: ignore[misc]
    m = model()
    with pytest.raises(AttributeError):
        m.threshold = 1  # type: ignore[misc]


# -- model equality and repr --------------------------------------------------------------------


def test_models_compare_structurally():
    assert full_model() == full_model()
    assert hash(full_model()) == hash(full_model())
    same = pk.ScoringModel(
        name="m", threshold=40.0,
        rules=[pk.Rule("activation", count("project_created", within="2w") >= 1, points=40)],
        decay=pk.InactivityDecay(points=5, every="1w"),
    )
    assert same == model(
        rules=[pk.Rule("activation", count("project_created", within="14d") >= 1, points=40)],
        decay=pk.InactivityDecay(points=5, every="7d"),
    )


@pytest.mark.parametrize(
    "change",
    [
        {"name": "other"},
        {"threshold": 41},
        {"rules": [rule(points=41)]},
        {"rules": [rule(), pk.Rule("x", exists("x"), points=1)]},
        {"disqualify": [trait("email").endswith(".edu")]},
        {"decay": pk.HalfLife("14d")},
        {"tiers": {"A": 80}},
        {"level": "account"},
        {"rollup": pk.Rollup(score="sum")},
        {"floor": None},
        {"ceiling": 100},
    ],
)
def test_models_differing_in_any_field_are_not_equal(change):
    assert model() != model(**change)


def test_model_repr_is_code_that_rebuilds_an_equal_model():
    for m in (model(), full_model(), model(level="account", floor=None)):
        text = repr(m)
        assert text.startswith("ScoringModel(")
        again = eval(text, dict(NAMESPACE))
        assert again == m
        assert repr(again) == text


def test_model_repr_leaves_out_defaults():
    text = repr(model())
    for default in ("level=", "rollup=", "floor=", "ceiling=", "tiers=", "group_caps=",
                    "decay=", "disqualify="):
        assert default not in text
    assert "name='m'" in text and "threshold=40" in text
    assert "Rule('activation', count('project_created') >= 1, points=40)" in text


def test_model_html_lists_the_rules():
    html = full_model()._repr_html_()
    assert "<table>" in html and "trial-pql" in html and "activation" in html
    assert "threshold 60" in html


# -- scoring follows the decay formula ------------------------------------------------------------


def test_model_inactivity_decay_over_a_real_log():
    m = model(decay=pk.InactivityDecay(points=5, every="7d", grace="7d"), threshold=35)
    log = pk.EventLog.from_records([
        {"name": "project_created", "timestamp": "2026-05-01T00:00:00Z", "user_id": "u"},
    ])
    result = m.score(log, as_of="2026-05-21T00:00:00Z")  # idle 20 days
    row = result.users["u"]
    assert row["raw_score"] == 40
    assert row["score"] == 35
    assert row["is_pql"] is True


def test_model_score_accepts_plain_records():
    result = model().score(
        [{"name": "project_created", "timestamp": "2026-05-01T00:00:00Z", "user_id": "u"}]
    )
    assert result.users["u"]["score"] == 40


def test_attrs_evolve_gives_a_variant_of_a_model_with_tiers_and_caps() -> None:
    import attrs

    model = pk.ScoringModel(
        name="m", threshold=10, tiers={"A": 20, "B": 10}, group_caps={"intent": 15},
        rules=[pk.Rule("r", count("x") >= 1, points=10, group="intent")],
    )
    variant = attrs.evolve(model, threshold=20)
    assert variant.threshold == 20
    assert variant.tiers == model.tiers and variant.group_caps == model.group_caps
    assert attrs.evolve(model) == model


@pytest.mark.parametrize(("a", "b"), [
    (pk.HalfLife("14d"), pk.HalfLife("2w")),
    (pk.InactivityDecay(points=5, every="7d"), pk.InactivityDecay(points=5.0, every="1w")),
    (pk.Rule("a", exists("a"), points=40), pk.Rule("a", exists("a"), points=40.0)),
    (pk.ScoringModel(name="m", rules=[], threshold=60),
     pk.ScoringModel(name="m", rules=[], threshold=60.0)),
])
def test_equal_rules_decays_and_models_hash_equal(a, b):
    # Spelled differently, equal by value: a set or dict key must find one with the other.
    assert a == b
    assert hash(a) == hash(b)
    assert len({a, b}) == 1


def test_a_decay_class_without_its_settings_is_refused_when_the_model_is_built():
    # decay=pk.HalfLife passed the apply() check, then failed with TypeError while scoring.
    with pytest.raises(PqlkitTypeError, match=r"the class HalfLife, not a decay.*HalfLife\('14d'\)"):
        pk.ScoringModel(name="m", threshold=1, decay=pk.HalfLife, rules=[])
    with pytest.raises(PqlkitTypeError, match="the class InactivityDecay"):
        pk.Rule("r", exists("x"), points=1, decay=pk.InactivityDecay)


@pytest.mark.parametrize("field", ["threshold", "floor", "ceiling"])
def test_an_integer_beyond_the_float_range_is_refused_as_not_finite(field):
    kw: dict[str, Any] = {"name": "m", "threshold": 1, "rules": [], field: 10**400}
    with pytest.raises(ValidationError, match=f"{field} must be a finite number"):
        pk.ScoringModel(**kw)
    with pytest.raises(ValidationError, match="finite number"):
        pk.Rule("r", exists("x"), points=10**400)
    problems = pk.validate_model({"name": "m", "threshold": 10**400, "rules": [
        {"name": "r", "when": "count('x') >= 1", "points": 1}]})
    assert any("threshold" in str(p) for p in problems)


def test_decay_lengths_beyond_any_age_score_in_both_engines():
    # every='99999999999d' overflowed int64 in the columnar engine.
    events = [{"name": "login", "timestamp": "2026-05-30T10:00:00Z", "user_id": "u1"}]
    for decay in (pk.InactivityDecay(points=1, every="99999999999d"),
                  pk.InactivityDecay(points=1, every="1d", grace="99999999999d"),
                  pk.ResetAfter("99999999999d")):
        model = pk.ScoringModel(name="m", threshold=1, decay=decay,
                                rules=[pk.Rule("r", exists("login"), points=1)])
        assert [model.score(events, as_of="2026-06-01T00:00:00Z", engine=e).users["u1"][
            "score"] for e in ("columnar", "reference")] == [1.0, 1.0]


def test_template_options_take_lists_of_names_and_any_duration():
    # A bare string was split letter by letter: isin(['r', 'i', 'v', ...]).
    from datetime import timedelta

    from pqlkit import templates

    with pytest.raises(PqlkitTypeError, match=r"competitors=\['rival.io'\]"):
        templates.trial_scoring(competitors="rival.io")
    with pytest.raises(PqlkitTypeError, match="power_features takes a list"):
        templates.workspace_expansion(power_features="automation_created")
    with pytest.raises(ValidationError, match="at least one"):
        templates.workspace_expansion(power_features=())
    # A feature named twice counted as two adopted (one adoption made a PQA of min 2).
    with pytest.raises(ValidationError, match="names 'integration_connected' twice"):
        templates.workspace_expansion(
            power_features=["integration_connected", "integration_connected"])
    # Counts below 1 made every account qualify; more features than listed, none.
    with pytest.raises(ValidationError, match="min_users must be at least 1, got 0"):
        templates.team_query_milestone(min_users=0)
    with pytest.raises(ValidationError, match="min_messages must be at least 1"):
        templates.message_volume(min_messages=-1)
    with pytest.raises(PqlkitTypeError, match="min_active_users takes a whole number"):
        templates.workspace_expansion(min_active_users=2.5)
    with pytest.raises(ValidationError, match="min_features=3 but power_features lists 2"):
        templates.workspace_expansion(min_features=3)
    with pytest.raises(ValidationError, match="has spaces around it"):
        templates.message_volume(count_property=" count ")
    assert templates.activation_within(timedelta(days=7)).rules == templates.activation_within(
        "7d").rules
    assert "isin(['rival.io', 'acme.com'])" in repr(
        templates.trial_scoring(competitors=["rival.io", "ACME.com"]).disqualify[1])


@pytest.mark.parametrize("build", [
    lambda big: pk.ScoringModel(name="m", threshold=big,
                                rules=[pk.Rule("r", pk.exists("a"), points=1)]),
    lambda big: pk.ScoringModel(name="m", threshold=0, tiers={"A": big},
                                rules=[pk.Rule("r", pk.exists("a"), points=1)]),
    lambda big: pk.ScoringModel(name="m", threshold=0, group_caps={"g": big},
                                rules=[pk.Rule("r", pk.exists("a"), points=1, group="g")]),
    lambda big: pk.ScoringModel(name="m", threshold=0, floor=-big,
                                rules=[pk.Rule("r", pk.exists("a"), points=1)]),
    lambda big: pk.Rule("r", pk.exists("a"), points=big),
    lambda big: pk.Rule("r", pk.count("a"), points_per=big),
    lambda big: pk.Rule("r", pk.count("a"), points_per=1, max_points=big),
])
def test_whole_number_settings_past_2_to_the_53_are_refused(build):
    # Scores are floats: past 2**53 the columnar engine compared and added them as floats
    # and the reference as exact ints (a score of 2**53 met a threshold of 2**53 + 1 in
    # one engine only).
    with pytest.raises(ValidationError, match=r"beyond 2\*\*53.*as a float"):
        build(2**53 + 1)
    build(2**53)
    build(float(2**53 + 2))


def test_inactivity_decay_points_may_be_any_int():
    # Both engines compute an InactivityDecay's periods × points exactly.
    assert pk.InactivityDecay(points=10**20, every="1d").points == 10**20


def test_settings_that_could_never_apply_are_refused():
    # k= without the top-k mean was ignored; two tiers on one bar gave one of them to no
    # one (which, depended on the mapping's order); a threshold or bar above the ceiling
    # was never reached; rules given as a set came out in a different order each run.
    with pytest.raises(ValidationError, match="k= applies only with score='top_k_mean'"):
        pk.Rollup(k=5)
    with pytest.raises(ValidationError, match=r"silver'\] has the same minimum score \(10\)"):
        model(tiers={"gold": 10, "silver": 10})
    with pytest.raises(ValidationError, match=r"threshold 80 is above the ceiling \(50\)"):
        model(threshold=80, ceiling=50)
    with pytest.raises(ValidationError, match=r"tiers\['A'\] 90 is above the ceiling"):
        model(threshold=10, ceiling=50, tiers={"A": 90})
    rules = {pk.Rule(n, exists(n), points=1) for n in "abc"}
    with pytest.raises(PqlkitTypeError, match="a set, whose order is arbitrary"):
        model(rules=rules)
    with pytest.raises(PqlkitTypeError, match="disqualify must be a list, got a frozenset"):
        model(disqualify=frozenset({exists("x")}))
    assert model(threshold=50, ceiling=50, tiers={"A": 50, "B": 40}).ceiling == 50


@pytest.mark.parametrize("decay", [pk.HalfLife("14d"), pk.ResetAfter("30d"),
                                   pk.InactivityDecay(points=5, every="7d")])
def test_a_decays_apply_checks_its_arguments(decay):
    # A negative age grew the value (HalfLife doubled it); an int or text age, or a text
    # value, raised AttributeError / TypeError from inside.
    with pytest.raises(ValidationError, match="the age must be 0 or more"):
        decay.apply(40, timedelta(days=-14))
    for age in (28, "28d", None):
        with pytest.raises(PqlkitTypeError, match=r"takes the age as a datetime\.timedelta"):
            decay.apply(40, age)
    with pytest.raises(PqlkitTypeError, match="takes a number to decay"):
        decay.apply("40", timedelta(days=1))
    assert decay.apply(40, timedelta(0)) == 40
