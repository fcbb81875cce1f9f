"""The reference engine: one entity at a time, in plain Python.

It is slow and meant to be obviously correct: it is the oracle the other engines are
tested against. Each node kind has one ``visit_`` method; values follow DESIGN §3 (a
comparison with a missing value is False, ``~`` turns that into True).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, SupportsFloat, TypeVar

from pqlkit._fsum import fsum
from pqlkit._time import US_PER_DAY, Duration, as_duration, from_micros
from pqlkit.engine import Engine, resolve_as_of
from pqlkit.errors import EngineNotSupportedError, PqlkitTypeError, ValidationError
from pqlkit.eventlog import NO_TIME, EventLog, canonical, id_key
from pqlkit.expr import (
    ARITH_OPS,
    COMPARE_OPS,
    ActiveDays,
    And,
    Arith,
    Compare,
    Count,
    DaysSinceFirst,
    DaysSinceLast,
    Distinct,
    DistinctUsers,
    EventSignal,
    Exists,
    Expr,
    FirstSeen,
    IsIn,
    IsMissing,
    LastSeen,
    Lit,
    Lower,
    Not,
    Or,
    Prop,
    Signal,
    StrTest,
    Total,
    Trait,
    _opt_name,
    _where,
    chain,
)
from pqlkit.model import InactivityDecay, Rule
from pqlkit.records import Event
from pqlkit.results import (
    EventRef,
    Evidence,
    Explanation,
    RollupExplanation,
    RuleContribution,
    ScoreResult,
    Table,
)

if TYPE_CHECKING:
    from pqlkit.model import ScoringModel

__all__ = [
    "EntityContext",
    "EventSet",
    "ReferenceEngine",
    "apply_decay",
    "arith",
    "compare",
    "derived_traits",
    "is_number",
    "lower",
    "same_value",
    "str_test",
    "toward_zero",
    "truth",
]


_T = TypeVar("_T")


def truth(value: Any) -> bool:
    """The two-valued truth of a condition's value: missing is False."""
    return value is not None and bool(value)


def toward_zero(before: float, after: float) -> float:
    """Decay of one rule or one event never flips its sign: stop at zero."""
    if before >= 0:
        return max(0.0, after) if after < before else after
    return min(0.0, after) if after > before else after


def _is_nan(value: Any) -> bool:
    """Whether a value (a float, numpy's, a Decimal ...) is nan."""
    if isinstance(value, (bool, int, str)) or not isinstance(value, SupportsFloat):
        return False
    try:
        return math.isnan(float(value))
    except (TypeError, ValueError):
        return False


def _finite(got: Any, noun: str, refused: Callable[[], str]) -> float:
    """A plugin's number as a float, refused (``refused()`` says what call returned it)
    unless finite: nan or an infinity would make the score nan or infinite, and a string
    is not a number."""
    try:
        out = float(got)
    except (TypeError, ValueError):
        out = math.nan
    if isinstance(got, (str, bytes)) or not math.isfinite(out):
        raise ValidationError(f"{refused()} returned {got!r}; {noun} must return a finite "
                              "number")
    return out


def custom_points(rule: Any, ctx: Any) -> float:
    """``rule.points_for(ctx)`` of a custom rule as a float (refused unless finite)."""
    return _finite(rule.points_for(ctx), "a rule's points_for", lambda: (
        f"rule {rule.name!r}: points_for(ctx) for {ctx.level} {ctx.entity_id!r}"))


def part(before: float, after: float) -> float:
    """What a step of the score (decay, clamp) changed it by: 0 when it changed nothing,
    an infinite or nan score included (inf - inf and nan - nan would say nan)."""
    same = before == after or (math.isnan(before) and math.isnan(after))
    return 0.0 if same else after - before


def apply_decay(decay: Any, value: float, age: timedelta) -> float:
    """``decay.apply(value, age)`` as a float (refused unless finite)."""
    def call() -> str:
        return f"{decay!r}.apply({value!r}, {age!r})"

    try:
        got = decay.apply(value, age)
    except OverflowError:  # a float minus an int past the floats' range, say
        got = math.inf
    return _finite(got, "a decay", call)


def rule_decay(decay: Any, points: float, age: timedelta) -> float:
    """A rule's points after its decay: the decay shrinks their size toward 0 whatever
    their sign (a penalty of -10 idle for 3 periods of 5 points is 0, not -25)."""
    if points >= 0:
        return toward_zero(points, apply_decay(decay, points, age))
    return -toward_zero(-points, apply_decay(decay, -points, age)) + 0.0  # (no -0.0)


def derived_traits(traits: Mapping[str, Any]) -> Mapping[str, Any]:
    """Traits plus ``email_domain`` taken from ``email`` when not set (None is not set)."""
    email = traits.get("email")
    if (traits.get("email_domain") is not None or not isinstance(email, str)
            or "@" not in email):
        return traits
    out = dict(traits)
    out["email_domain"] = email.rsplit("@", 1)[1].lower()
    return out


class EventSet:
    """Some of an entity's events, in time order (what custom signals read)."""

    def __init__(self, log: EventLog, indices: list[int]) -> None:
        self._log = log
        self.indices = indices

    def __len__(self) -> int:
        return len(self.indices)

    def __iter__(self) -> Iterator[Event]:
        return (self._log.event(i) for i in self.indices)

    @property
    def timestamps(self) -> list[datetime]:
        """The events' timestamps (aware UTC), oldest first."""
        return [from_micros(int(self._log.ts[i])) for i in self.indices]

    def values(self, key: str) -> list[Any]:
        """Property ``key`` of each event (None where absent)."""
        return [self._log.prop(key, i) for i in self.indices]

    @property
    def latest(self) -> Event | None:
        """The most recent event, or None."""
        return self._log.event(self.indices[-1]) if self.indices else None

    @property
    def first(self) -> Event | None:
        """The oldest event, or None."""
        return self._log.event(self.indices[0]) if self.indices else None


class _EventCtx:
    """One event, for evaluating ``where=`` filters."""

    __slots__ = ("i", "log")

    def __init__(self, log: EventLog, i: int) -> None:
        self.log = log
        self.i = i


class EntityContext:
    """One entity as of ``as_of``: what the engine (and custom signals) evaluate against.

    Attributes:
        entity_id: the user or account id.
        level: ``"user"`` or ``"account"``.
        as_of: the moment scored (aware UTC).
        traits: the entity's traits (``email_domain`` derived from ``email``).
        created_at: the signup moment, or None.
    """

    def __init__(self, engine: ReferenceEngine, log: EventLog, level: str, index: int,
                 as_of: datetime, as_of_us: int) -> None:
        self.engine = engine
        self.log = log
        self.level = level
        self.index = index
        self.as_of = as_of
        self.as_of_us = as_of_us
        if level == "user":
            self.entity_id = log.user_ids[index]
            own = log.user_events(index)
            raw_traits = log.user_traits[index]
            created = int(log.user_created[index])
        else:
            self.entity_id = log.account_ids[index]
            own = log.account_events(index)
            raw_traits = log.account_traits[index]
            created = int(log.account_created[index])
        ts = log.ts
        self.all: list[int] = [int(i) for i in own if ts[i] <= as_of_us]
        if level == "account":
            # DESIGN §3.2: a user created after as_of does not exist yet, so its events
            # count in no roll-up (NO_TIME, the minimum, marks users without created_at).
            created_of = log.user_created
            self.all = [i for i in self.all
                        if log.user[i] < 0 or created_of[log.user[i]] <= as_of_us]
        self.traits = derived_traits(raw_traits)
        self.created_us: int | None = None if created == NO_TIME else created
        self.created_at = None if self.created_us is None else from_micros(self.created_us)
        self.touched: set[int] = set()
        self.values: dict[str, Any] = {}

    @property
    def signup_us(self) -> int | None:
        """Where ``since_signup`` windows start: ``created_at``, else the first event."""
        if self.created_us is not None:
            return self.created_us
        return int(self.log.ts[self.all[0]]) if self.all else None

    def select(self, name: str | None, within: Duration | None, since_signup: Duration | None,
               where: Expr | None) -> list[int]:
        """Indices of this entity's events matching a name, windows and a filter."""
        log = self.log
        out = self.all
        if name is not None:
            if name not in log.names:
                return []
            code = log.names.index(name)
            out = [i for i in out if log.name_code[i] == code]
        if within is not None:
            lo = within.before(self.as_of_us)
            out = [i for i in out if log.ts[i] > lo]
        if since_signup is not None:
            start = self.signup_us
            if start is None:
                return []
            end = since_signup.after(start)
            out = [i for i in out if start <= log.ts[i] < end]
        if where is not None:
            out = [i for i in out if truth(self.engine.evaluate(where, _EventCtx(log, i)))]
        return out

    def events(self, name: str | None = None, *, within: Any = None, since_signup: Any = None,
               where: Expr | None = None) -> EventSet:
        """This entity's events as of ``as_of``, filtered like the built-in signals do."""
        name, where = _opt_name(name), _where(where)  # (as count() checks them)
        w = None if within is None else as_duration(within, what="within")
        s = None if since_signup is None else as_duration(since_signup, what="since_signup")
        return EventSet(self.log, self.select(name, w, s, where))

    def evaluate(self, expr: Expr) -> Any:
        """Evaluate a signal or condition for this entity (evidence is recorded)."""
        if not isinstance(expr, Expr):
            raise PqlkitTypeError(
                f"ctx.evaluate() takes a signal or condition, such as count('login') or "
                f"trait('plan') == 'pro', got {expr!r} ({type(expr).__name__})")
        return self.engine.evaluate(expr, self)


def same_value(a: Any, b: Any) -> bool:
    """Equality of ``isin`` (and of ``distinct()``): numbers by value (``1`` is ``1.0``),
    booleans only with booleans (``True`` is not ``1``), at any depth of a list."""
    return bool(distinct_key(a) == distinct_key(b))


def distinct_key(value: Any) -> Any:
    """A key equal for two values exactly when :func:`same_value` holds: what
    ``distinct()`` counts and ``isin`` matches by."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, (int, float)):
        return ("number", value)
    if isinstance(value, (str, datetime)):
        return (type(value).__name__, value)
    if isinstance(value, (tuple, list)):
        return ("list", tuple(distinct_key(v) for v in value))
    if isinstance(value, Mapping):
        return ("map", frozenset((k, distinct_key(v)) for k, v in value.items()))
    return ("other", canonical({"v": value}))


def is_number(value: Any) -> bool:
    """A number for ``total()``: int or float, not bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# Value-by-value semantics of the operators. Every engine uses these for what it evaluates
# one value at a time (the columnar engine: once per distinct value), so they cannot drift.


def compare(op: str, left: Any, right: Any) -> bool:
    """``left <op> right``: False when either is missing or they do not compare."""
    if left is None or right is None:
        return False
    try:
        return bool(COMPARE_OPS[op](left, right))
    except TypeError:
        return False


def arith(op: str, left: Any, right: Any) -> Any:
    """``left <op> right`` on numbers (bools as ints); None otherwise, on division by 0,
    and when the result of integers is too large for a float (Python raises there, where
    float arithmetic gives inf)."""
    if not (isinstance(left, (int, float)) and isinstance(right, (int, float))):
        return None
    if op == "/" and right == 0:
        return None
    try:
        return ARITH_OPS[op](int(left) if isinstance(left, bool) else left,
                             int(right) if isinstance(right, bool) else right)
    except OverflowError:
        return None


def str_test(node: StrTest) -> Callable[[Any], bool]:
    """A string test node as a function of the value (False for anything not a str)."""
    arg = node.arg.casefold() if node.ignore_case else node.arg
    method = {"startswith": str.startswith, "endswith": str.endswith,
              "contains": str.__contains__}[node.op]
    if node.ignore_case:
        return lambda v: isinstance(v, str) and method(v.casefold(), arg)
    return lambda v: isinstance(v, str) and method(v, arg)


def lower(value: Any) -> Any:
    """``lower()``: strings lower-cased, anything else as it is."""
    return value.lower() if isinstance(value, str) else value


class ReferenceEngine(Engine):
    """Evaluate a model one entity at a time in plain Python (the test oracle)."""

    name = "reference"

    # -- constants, properties, traits ---------------------------------------------------

    def visit_Lit(self, node: Lit, ctx: Any) -> Any:
        return node.value

    def visit_Prop(self, node: Prop, ctx: Any) -> Any:
        if not isinstance(ctx, _EventCtx):
            raise PqlkitTypeError(f"{node!r} can only be used inside where=...")
        return ctx.log.prop(node.key, ctx.i)

    def visit_Trait(self, node: Trait, ctx: EntityContext) -> Any:
        value = ctx.traits.get(node.key)
        ctx.values[repr(node)] = value
        return value

    # -- operators -------------------------------------------------------------------------

    def visit_Compare(self, node: Compare, ctx: Any) -> bool:
        return compare(node.op, self.evaluate(node.left, ctx), self.evaluate(node.right, ctx))

    # A chain of one operator (a | b | c, built nested) is evaluated in a loop, left to
    # right, with the result of the nested evaluation: see pqlkit.expr.chain.

    def visit_Arith(self, node: Arith, ctx: Any) -> Any:
        first, *rest = chain(node)
        value = self.evaluate(first, ctx)
        for operand in rest:
            value = arith(node.op, value, self.evaluate(operand, ctx))
        return value

    def visit_And(self, node: And, ctx: Any) -> bool:
        # Every operand is evaluated so that evidence is complete whatever the order.
        return all([truth(self.evaluate(operand, ctx)) for operand in chain(node)])

    def visit_Or(self, node: Or, ctx: Any) -> bool:
        if not isinstance(ctx, EntityContext):
            return any(truth(self.evaluate(operand, ctx)) for operand in chain(node))
        # A rule's matching events (its evidence and its decay age, DESIGN §3.6) are those of
        # the branches that held; when none holds, all of them are shown for context.
        outer = ctx.touched
        held: list[bool] = []
        events: list[set[int]] = []
        for operand in chain(node):
            ctx.touched = set()
            held.append(truth(self.evaluate(operand, ctx)))
            events.append(ctx.touched)
        ctx.touched = outer
        none = not any(held)
        for h, touched in zip(held, events, strict=True):
            if h or none:
                outer.update(touched)
        return not none

    def visit_Not(self, node: Not, ctx: Any) -> bool:
        return not truth(self.evaluate(node.operand, ctx))

    def visit_IsIn(self, node: IsIn, ctx: Any) -> bool:
        value = self.evaluate(node.operand, ctx)
        return value is not None and any(same_value(value, v) for v in node.values)

    def visit_IsMissing(self, node: IsMissing, ctx: Any) -> bool:
        return self.evaluate(node.operand, ctx) is None

    def visit_StrTest(self, node: StrTest, ctx: Any) -> bool:
        return str_test(node)(self.evaluate(node.operand, ctx))

    def visit_Lower(self, node: Lower, ctx: Any) -> Any:
        return lower(self.evaluate(node.operand, ctx))

    # -- event signals -----------------------------------------------------------------------

    def _select(self, node: EventSignal, ctx: EntityContext) -> list[int]:
        if not isinstance(ctx, EntityContext):
            raise PqlkitTypeError(f"{node!r} is an entity signal; it cannot be used in where=")
        sel = ctx.select(node.name, node.within, node.since_signup, node.where)
        ctx.touched.update(sel)
        return sel

    def _record(self, node: Expr, ctx: EntityContext, value: _T) -> _T:
        ctx.values[repr(node)] = value
        return value

    def _weights(self, decay: Any, sel: list[int], ctx: EntityContext) -> list[float]:
        ts = ctx.log.ts
        return [
            toward_zero(1.0, apply_decay(decay, 1.0, timedelta(microseconds=ctx.as_of_us - int(ts[i]))))
            for i in sel
        ]

    def visit_Count(self, node: Count, ctx: EntityContext) -> float:
        sel = self._select(node, ctx)
        if node.decay is None:
            return self._record(node, ctx, len(sel))
        return self._record(node, ctx, fsum(self._weights(node.decay, sel, ctx)))

    def visit_Exists(self, node: Exists, ctx: EntityContext) -> bool:
        return self._record(node, ctx, bool(self._select(node, ctx)))

    def visit_FirstSeen(self, node: FirstSeen, ctx: EntityContext) -> datetime | None:
        sel = self._select(node, ctx)
        return self._record(node, ctx, from_micros(int(ctx.log.ts[sel[0]])) if sel else None)

    def visit_LastSeen(self, node: LastSeen, ctx: EntityContext) -> datetime | None:
        sel = self._select(node, ctx)
        return self._record(node, ctx, from_micros(int(ctx.log.ts[sel[-1]])) if sel else None)

    def visit_DaysSinceLast(self, node: DaysSinceLast, ctx: EntityContext) -> float | None:
        sel = self._select(node, ctx)
        value = (ctx.as_of_us - int(ctx.log.ts[sel[-1]])) / US_PER_DAY if sel else None
        return self._record(node, ctx, value)

    def visit_DaysSinceFirst(self, node: DaysSinceFirst, ctx: EntityContext) -> float | None:
        sel = self._select(node, ctx)
        value = (ctx.as_of_us - int(ctx.log.ts[sel[0]])) / US_PER_DAY if sel else None
        return self._record(node, ctx, value)

    def visit_ActiveDays(self, node: ActiveDays, ctx: EntityContext) -> int:
        sel = self._select(node, ctx)
        return self._record(node, ctx, len({int(ctx.log.ts[i]) // US_PER_DAY for i in sel}))

    def visit_Distinct(self, node: Distinct, ctx: EntityContext) -> int:
        sel = self._select(node, ctx)
        values = {distinct_key(v) for i in sel
                  if (v := ctx.log.prop(node.property, i)) is not None}
        return self._record(node, ctx, len(values))

    def visit_Total(self, node: Total, ctx: EntityContext) -> float:
        sel = self._select(node, ctx)
        values = [ctx.log.prop(node.property, i) for i in sel]
        weights = ([1.0] * len(sel) if node.decay is None
                   else self._weights(node.decay, sel, ctx))
        total = fsum(float(v) * w for v, w in zip(values, weights, strict=True)
                          if is_number(v))
        return self._record(node, ctx, total)

    def visit_DistinctUsers(self, node: DistinctUsers, ctx: EntityContext) -> int:
        if ctx.level != "account":
            raise EngineNotSupportedError(f"{node!r} needs an account-level model")
        sel = self._select(node, ctx)
        users = {int(ctx.log.user[i]) for i in sel if ctx.log.user[i] >= 0}
        return self._record(node, ctx, len(users))

    def visit_Signal(self, node: Signal, ctx: EntityContext) -> Any:
        # A custom signal: its own evaluate(ctx), plus any evidence it offers.
        value = node.evaluate(ctx)
        if _is_nan(value):
            # (nan is no value: compared it is False, as points it makes the score nan;
            # missing is None.)
            raise ValidationError(
                f"{node!r} returned nan for {ctx.level} {ctx.entity_id!r}; a signal's value "
                "is a number or None (missing), never nan")
        evidence = getattr(node, "evidence", None)
        if callable(evidence):
            found = evidence(ctx)
            if found is not None and not isinstance(found, EventSet):
                # (A list of the events' records cannot be traced back to the log: it
                # was shown as no evidence at all.)
                raise PqlkitTypeError(
                    f"{node!r}.evidence(ctx) returned a {type(found).__name__}; it returns "
                    "the EventSet its value was computed from (what ctx.events(...) gives), "
                    "or None")
            ctx.touched.update(found.indices if found is not None else [])
        return self._record(node, ctx, value)

    # -- scoring -----------------------------------------------------------------------------

    def score(self, model: ScoringModel, log: EventLog, *, as_of: Any = None) -> ScoreResult:
        as_of_dt, as_of_us = resolve_as_of(log, as_of)
        users = self._existing_users(log, as_of_us)
        membership = {u: self._account_of(log, u, as_of_us) for u in users}
        accounts = self._existing_accounts(log, as_of_us, membership)
        members: dict[int, list[int]] = {a: [] for a in accounts}
        for u, a in membership.items():
            if a in members:
                members[a].append(u)

        explanations: dict[tuple[str, Any], Any] = {}
        rule_names = [r.name for r in model.rules]
        if model.level == "user":
            rows = []
            for u in users:
                ctx = EntityContext(self, log, "user", u, as_of_dt, as_of_us)
                row, expl = self._score_entity(model, ctx)
                a = membership[u]
                row = {"user_id": log.user_ids[u],
                       "account_id": None if a < 0 else log.account_ids[a], **row}
                rows.append(row)
                explanations[("user", log.user_ids[u])] = expl
            user_table = _table(rows, "user_id", ["user_id", "account_id", "score", "raw_score",
                                                  "tier", "is_pql", "disqualified", *rule_names])
            by_user = {r["user_id"]: r for r in rows}
            acc_rows = []
            for a in accounts:
                acc_row, acc_expl = self._rollup(model, log, a, members[a], by_user, as_of_dt,
                                                 as_of_us)
                acc_rows.append(acc_row)
                explanations[("account", log.account_ids[a])] = acc_expl
            account_table = _table(acc_rows, "account_id", ["account_id", "score", "n_users",
                                                            "n_pql", "share_pql", "is_pqa"])
        else:
            user_table = _table([], "user_id", ["user_id", "account_id"])
            acc_rows = []
            for a in accounts:
                ctx = EntityContext(self, log, "account", a, as_of_dt, as_of_us)
                # No users yet and no events of its own (naming no user): never a PQA (§3.9).
                row, expl = self._score_entity(model, ctx, may_qualify=bool(members[a]))
                acc_rows.append({"account_id": log.account_ids[a], **row,
                                 "n_users": len(members[a])})
                explanations[("account", log.account_ids[a])] = expl
            account_table = _table(acc_rows, "account_id", [
                "account_id", "score", "raw_score", "tier", "is_pqa", "disqualified", "n_users",
                *rule_names])

        def explain(level: str, entity_id: Any) -> Any:
            return explanations[(level, entity_id)]

        return ScoreResult(model=model, as_of=as_of_dt, engine=self.name, users=user_table,
                           accounts=account_table, explainer=explain)

    # -- who exists, and what belongs to whom ------------------------------------------------

    @staticmethod
    def _existing_users(log: EventLog, as_of_us: int) -> list[int]:
        out = []
        for u in range(len(log.user_ids)):
            created = int(log.user_created[u])
            if log.user_in_table[u]:
                if created == NO_TIME or created <= as_of_us:
                    out.append(u)
            else:
                events = log.user_events(u)
                if len(events) and int(log.ts[events].min()) <= as_of_us:
                    out.append(u)
        return out

    @staticmethod
    def _account_of(log: EventLog, u: int, as_of_us: int) -> int:
        if log.user_account[u] >= 0:
            return int(log.user_account[u])
        for i in log.user_events(u):
            if log.ts[i] <= as_of_us and log.account[i] >= 0:
                return int(log.account[i])
        return -1

    @staticmethod
    def _existing_accounts(log: EventLog, as_of_us: int, membership: dict[int, int]
                           ) -> list[int]:
        has_member = set(membership.values())
        out = []
        for a in range(len(log.account_ids)):
            created = int(log.account_created[a])
            if log.account_in_table[a]:
                if created == NO_TIME or created <= as_of_us:
                    out.append(a)
            elif a in has_member or any(
                log.ts[i] <= as_of_us and log.account[i] == a
                # (not an event of a user created after as_of: it counts for nothing)
                and (log.user[i] < 0 or int(log.user_created[log.user[i]]) <= as_of_us)
                for i in log.account_events(a)
            ):
                out.append(a)
        return out

    # -- one entity ----------------------------------------------------------------------------

    def _score_entity(self, model: ScoringModel, ctx: EntityContext, *,
                      may_qualify: bool = True) -> tuple[dict[str, Any], Explanation]:
        """One entity's row and explanation; without ``may_qualify`` (an account with no
        users) it qualifies only if it has events of its own."""
        log = ctx.log
        contributions = []
        for rule in model.rules:
            ctx.touched = set()
            ctx.values = {}
            if isinstance(rule, Rule):
                value = self.evaluate(rule.when, ctx)
                base = rule.points_from(value)
                matched = truth(value) if rule.points is not None else base != 0
                condition = repr(rule.when)
            else:
                base = custom_points(rule, ctx)
                matched = base != 0
                condition = repr(rule)
            evidence_idx = sorted(ctx.touched, key=lambda i: (int(log.ts[i]), i))
            points = base
            decay = getattr(rule, "decay", None)
            if decay is not None:
                points = float(base)  # a decayed rule's points are floats, decayed or not
                if base != 0 and evidence_idx:
                    age = timedelta(microseconds=ctx.as_of_us - int(log.ts[evidence_idx[-1]]))
                    points = rule_decay(decay, base, age)
            contributions.append(RuleContribution(
                rule=rule.name, condition=condition, matched=matched, base_points=base,
                points=points, group=getattr(rule, "group", None),
                evidence=Evidence(
                    n_events=len(evidence_idx),
                    first=_ref(log, evidence_idx[0]) if evidence_idx else None,
                    latest=_ref(log, evidence_idx[-1]) if evidence_idx else None,
                    values=dict(ctx.values),
                ),
            ))

        caps: dict[str, float] = {}
        group_caps: dict[str, float] = {}
        for group, cap in model.group_caps:
            total = fsum(c.points for c in contributions if c.group == group)
            if total > cap:
                caps[group] = cap - total
                group_caps[group] = float(cap)
        # A group over its cap counts as the cap itself.
        raw = fsum([*(c.points for c in contributions if c.group not in group_caps),
                         *group_caps.values()])

        decayed = raw
        detail = ""
        if model.decay is not None and ctx.all:
            idle_us = ctx.as_of_us - int(log.ts[ctx.all[-1]])
            decayed = apply_decay(model.decay, raw, timedelta(microseconds=idle_us))
            detail = _decay_detail(model.decay, idle_us)
        score = decayed
        # (A nan score, from rule points of +inf and -inf, stays nan: no bound holds it,
        # as numpy's maximum/minimum keep it in the columnar engine.)
        if model.floor is not None and not math.isnan(score):
            score = max(float(model.floor), score)
        if model.ceiling is not None and not math.isnan(score):
            score = min(float(model.ceiling), score)

        ctx.values = {}
        hits = [repr(c) for c in model.disqualify if truth(self.evaluate(c, ctx))]
        disqualified = bool(hits)
        # Without users, only events of its own (naming no user) let an account qualify.
        qualified = (score >= model.threshold and not disqualified
                     and (may_qualify or any(ctx.log.user[i] < 0 for i in ctx.all)))
        tier = model.tier_for(score, disqualified)
        row: dict[str, Any] = {
            "score": score, "raw_score": raw, "tier": tier,
            "is_pql" if ctx.level == "user" else "is_pqa": qualified,
            "disqualified": disqualified,
        }
        for c in contributions:
            row[c.rule] = c.points
        expl = Explanation(
            entity_id=ctx.entity_id, level=ctx.level, model=model.name, as_of=ctx.as_of,
            score=score, raw_score=raw, rules=tuple(contributions), caps=caps,
            group_caps=group_caps,
            decay=part(raw, decayed), decay_detail=detail, clamp=part(decayed, score),
            disqualified=disqualified, disqualified_by=tuple(hits), tier=tier,
            qualified=qualified, threshold=model.threshold,
            last_event=_ref(log, ctx.all[-1]) if ctx.all else None,
        )
        return row, expl

    def _rollup(self, model: ScoringModel, log: EventLog, a: int, users: list[int],
                by_user: dict[Any, dict[str, Any]], as_of: datetime, as_of_us: int
                ) -> tuple[dict[str, Any], RollupExplanation]:
        policy = model.rollup
        rows = [by_user[log.user_ids[u]] for u in users]
        n_users = len(rows)
        n_pql = sum(1 for r in rows if r["is_pql"])
        if policy.denominator == "active":
            # The share among the users active in the window: PQLs who are idle count in
            # n_pql but not in the share (which so stays within 0..1).
            assert policy.active_within is not None
            lo = policy.active_within.before(as_of_us)
            active = [any(lo < log.ts[i] <= as_of_us for i in log.user_events(u))
                      for u in users]
            denom = sum(active)
            in_share = sum(1 for r, on in zip(rows, active, strict=True)
                           if on and r["is_pql"])
        else:
            denom, in_share = n_users, n_pql
        share = in_share / denom if denom else 0.0
        score = policy.aggregate([r["score"] for r in rows if not r["disqualified"]])
        # DESIGN §3.9: an account with no users is never a PQA, whatever the policy.
        is_pqa = n_users > 0 and policy.is_pqa(n_pql, share)
        account_id = log.account_ids[a]
        row = {"account_id": account_id, "score": score, "n_users": n_users, "n_pql": n_pql,
               "share_pql": share, "is_pqa": is_pqa}
        shown = sorted(rows, key=lambda r: (-r["score"], id_key(r["user_id"])))
        expl = RollupExplanation(
            account_id=account_id, model=model.name, as_of=as_of, score=score, n_users=n_users,
            n_pql=n_pql, share_pql=share, is_pqa=is_pqa, policy=_policy_text(policy),
            share_over=_share_over(policy, in_share, denom),
            users=tuple({k: r[k] for k in ("user_id", "score", "is_pql", "disqualified")}
                        for r in shown),
        )
        return row, expl


def _ref(log: EventLog, i: int) -> EventRef:
    return EventRef(name=log.names[log.name_code[i]], timestamp=from_micros(int(log.ts[i])),
                    properties=log.properties(i))


def _decay_detail(decay: Any, idle_us: int) -> str:
    days = idle_us / US_PER_DAY
    if isinstance(decay, InactivityDecay):
        n = decay.periods(idle_us)
        grace = f" past the {decay.grace!r} grace" if decay.grace is not None else ""
        return (f"idle {days:.1f} days: {n} full period{'s' if n != 1 else ''} of "
                f"{decay.every!r}{grace} × {decay.points} points")
    return f"{decay!r} over {days:.1f} idle days"


def _share_over(policy: Any, pqls: int, users: int) -> str | None:
    """Who the share of PQL users is taken over, when not every user of the account:
    ``pqls`` of those ``users`` are PQLs."""
    if policy.denominator == "active":
        return (f"{pqls} PQL{'s' if pqls != 1 else ''} among the {users} "
                f"user{'s' if users != 1 else ''} active in the last {policy.active_within!r}")
    return None


def _policy_text(policy: Any) -> str:
    parts = []
    if policy.min_share is not None:
        short = f"{policy.min_share:g}"  # (all its digits when 6 do not say it exactly)
        if float(short) != policy.min_share:
            short = repr(float(policy.min_share))
        parts.append(f"share of PQL users >= {short}"
                     + (f" (of users active in the last {policy.active_within!r})"
                        if policy.denominator == "active" else ""))
    parts.append(f"at least {policy.min_pql} PQL user{'s' if policy.min_pql != 1 else ''}")
    score = policy.score if policy.score != "top_k_mean" else f"mean of top {policy.k}"
    return " and ".join(parts) + f"; account score = {score} of eligible users' scores"


def _table(rows: list[dict[str, Any]], key: str, columns: list[str]) -> Table:
    rows = sorted(rows, key=lambda r: id_key(r[key]))
    return Table({c: [r[c] for r in rows] for c in columns}, key=key)

