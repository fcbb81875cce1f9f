"""Engine parity: the columnar engine scores and explains everything as the reference does.

Random models (every signal, window, filter, condition, rule shape, decay attachment, tier
and roll-up, from :func:`pqlkit.testing.models`) meet random logs (duplicates, events after
``as_of``, users with no events or created after ``as_of``) at moments chosen to put events
exactly on window edges (:func:`pqlkit.testing.scoring_cases`). Results must be equal bit
for bit, except where a half-life decay is involved: numpy's ``power`` may differ from
Python's in the last bit, so those compare within 1e-9 relative (flags still exactly).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, ClassVar

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

import pqlkit as pk
from pqlkit.model import HalfLife
from pqlkit.testing import (
    assert_explanations_equal,
    assert_results_equal,
    event_logs,
    models,
    scoring_cases,
    timestamps,
)

Rows = tuple[list[Any], list[Any], list[Any]]
Case = tuple[pk.ScoringModel, Rows, datetime | None]

# Parity is the point of this module and each case is cheap: six times the profile's
# examples (300 in CI, about 10 s for the module).
more = settings(max_examples=6 * settings.default.max_examples)


def load(rows: Rows) -> pk.EventLog:
    events, users, accounts = rows
    return pk.EventLog.from_records(events, users=users, accounts=accounts)


def has_half_life(model: pk.ScoringModel) -> bool:
    """Whether a half-life decay appears anywhere in the model (numpy's power then)."""
    found = [model.decay, *(getattr(r, "decay", None) for r in model.rules)]
    for rule in model.rules:
        when = getattr(rule, "when", None)
        for node in when.walk() if when is not None else ():
            found.append(getattr(node, "decay", None))
    for cond in model.disqualify:
        for node in cond.walk():
            found.append(getattr(node, "decay", None))
    return any(isinstance(d, HalfLife) for d in found)


def assert_parity(model: pk.ScoringModel, log: pk.EventLog, as_of: Any) -> None:
    if as_of is None and not len(log):
        return  # nothing to take as_of from: both engines refuse (tested elsewhere)
    rel = 1e-9 if has_half_life(model) else 0.0
    ref = model.score(log, as_of=as_of, engine="reference")
    col = model.score(log, as_of=as_of, engine="columnar")
    assert col.engine == "columnar" and col.fallbacks == ()
    assert_results_equal(ref, col, rel=rel)
    assert_explanations_equal(ref, col, rel=rel)


@more
@given(case=scoring_cases())
def test_engines_agree_on_random_models_and_logs(case: Case) -> None:
    model, rows, as_of = case
    assert_parity(model, load(rows), as_of)


@more
@given(case=scoring_cases(level="account"))
def test_engines_agree_on_random_account_level_models(case: Case) -> None:
    model, rows, as_of = case
    assert_parity(model, load(rows), as_of)


@more
@given(case=scoring_cases(integer_points=True, max_events=40))
def test_engines_agree_exactly_on_whole_point_models(case: Case) -> None:
    model, rows, as_of = case
    log = load(rows)
    if as_of is None and not len(log):
        return
    ref = model.score(log, as_of=as_of, engine="reference")
    col = model.score(log, as_of=as_of, engine="columnar")
    assert_results_equal(ref, col, rel=0)
    assert_explanations_equal(ref, col, rel=0)


@more
@given(rows=event_logs(min_events=1), model=models(), data=st.data())
def test_columnar_scores_do_not_depend_on_row_order(rows: Rows, model: pk.ScoringModel,
                                                    data: st.DataObject) -> None:
    shuffled = tuple(data.draw(st.permutations(table)) for table in rows)
    a = model.score(load(rows), engine="columnar")
    b = model.score(load(shuffled), engine="columnar")  # type: ignore[arg-type]
    assert_results_equal(a, b, rel=0)
    assert_explanations_equal(a, b, rel=0)


# -- custom signals, rules and decays: evaluated one entity at a time, and said so ---------------


@attrs.frozen(eq=False, repr=False)
class PagesSeen(pk.Signal):
    """Distinct ``page`` values over the entity's events, with evidence."""

    within: str | None = None
    kind: ClassVar[str] = "number"

    def evaluate(self, ctx: Any) -> int:
        events = ctx.events(within=self.within, where=pk.prop("page").is_present())
        return len({p for p in events.values("page") if p is not None})

    def evidence(self, ctx: Any) -> pk.EventSet:
        return ctx.events(within=self.within, where=pk.prop("page").is_present())


@attrs.frozen(eq=False, repr=False)
class PlanOf(pk.Signal):
    """A text value read through ``ctx.evaluate`` of a built-in, which records it too."""

    kind: ClassVar[str] = "text"

    def evaluate(self, ctx: Any) -> str | None:
        if ctx.evaluate(pk.count("pricing_viewed")) >= 1:
            return "interested"
        plan = ctx.traits.get("plan")
        return plan if isinstance(plan, str) else None


@attrs.frozen
class Bands:
    """A custom rule: 5 points from one project, 12 from three."""

    name: str = "bands"
    group: str | None = "g1"

    def points_for(self, ctx: Any) -> float:
        n = ctx.evaluate(pk.count("project_created"))
        return 12 if n >= 3 else 5 if n >= 1 else 0


@attrs.frozen
class Halving:
    """A custom decay: half the value per full day of age."""

    def apply(self, value: float, age: timedelta) -> float:
        return value / 2 ** (age // timedelta(days=1))


def custom_models(level: str) -> st.SearchStrategy[pk.ScoringModel]:
    builtin = models(level=level, max_rules=2)  # type: ignore[arg-type]

    def build(base: pk.ScoringModel, extra: list[Any], model_decay: bool) -> pk.ScoringModel:
        return pk.ScoringModel(
            name="custom", level=base.level, rules=[*base.rules, *extra],
            disqualify=base.disqualify, decay=Halving() if model_decay else base.decay,
            threshold=base.threshold, tiers=dict(base.tiers) or None, rollup=base.rollup,
            floor=base.floor, ceiling=base.ceiling, group_caps=dict(base.group_caps) or None,
        )

    extras = st.lists(st.sampled_from([
        pk.Rule("pages", PagesSeen() >= 2, points=7),
        pk.Rule("pages_per", PagesSeen(within="7d"), points_per=2, decay=Halving()),
        pk.Rule("plan", (PlanOf() == "interested") | pk.exists("signup"), points=3),
        pk.Rule("faded", pk.count("message_sent", decay=Halving()), points_per=1),
        pk.Rule("faded_total", pk.total("count", decay=Halving()) >= 3, points=4),
        Bands(),
    ]), min_size=1, max_size=3, unique_by=lambda r: r.name)
    return st.builds(build, builtin, extras, st.booleans())


@settings(max_examples=25)
@given(rows=event_logs(max_events=15), model=custom_models("user"), as_of=timestamps())
def test_custom_nodes_fall_back_and_agree(rows: Rows, model: pk.ScoringModel,
                                          as_of: datetime) -> None:
    log = load(rows)
    rel = 1e-9 if has_half_life(model) else 0.0
    ref = model.score(log, as_of=as_of, engine="reference")
    col = model.score(log, as_of=as_of, engine="columnar")
    assert_results_equal(ref, col, rel=rel)
    assert_explanations_equal(ref, col, rel=rel)
    assert col.fallbacks, "custom nodes must be reported"


@settings(max_examples=15)
@given(rows=event_logs(max_events=15), model=custom_models("account"), as_of=timestamps())
def test_custom_nodes_fall_back_and_agree_at_account_level(
        rows: Rows, model: pk.ScoringModel, as_of: datetime) -> None:
    log = load(rows)
    rel = 1e-9 if has_half_life(model) else 0.0
    ref = model.score(log, as_of=as_of, engine="reference")
    col = model.score(log, as_of=as_of, engine="columnar")
    assert_results_equal(ref, col, rel=rel)
    assert_explanations_equal(ref, col, rel=rel)
