"""Rules, decays, roll-up policy and the ScoringModel that holds them.

These are frozen data, validated when built; engines (:mod:`pqlkit.engine`) evaluate them.
Models compare structurally with ``==`` (a model read from a file equals the one that
wrote it) and their ``repr`` is the code that builds them.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Iterable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Final, Literal, Protocol, cast, runtime_checkable

import attrs
import numpy as np

from pqlkit._fsum import fsum
from pqlkit._time import Duration, as_duration
from pqlkit.errors import PqlkitTypeError, ValidationError
from pqlkit.expr import EventSignal, Expr, _value_equals, compared, kind_hint
from pqlkit.records import plain

if TYPE_CHECKING:
    from pqlkit.engine import Engine
    from pqlkit.eventlog import EventLog
    from pqlkit.results import ScoreResult

__all__ = [
    "Decay", "HalfLife", "InactivityDecay", "ResetAfter", "Rollup", "Rule", "RuleLike",
    "ScoringModel",
]

#: Column names a result table uses itself; rule names may not take them.
RESERVED_COLUMNS: Final = frozenset({
    "user_id", "account_id", "score", "raw_score", "tier", "is_pql", "is_pqa",
    "disqualified", "n_users", "n_pql", "share_pql", "n_eligible",
})


def _is_number(value: Any) -> bool:
    # An int beyond float's range (10**400) is not a usable number of points either.
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and (abs(value) < 1e308 if isinstance(value, int) else math.isfinite(value)))


def _number(where: str, field: str, value: Any, *, positive: bool = False,
            any_int: bool = False) -> Any:
    """``value``, checked as a finite number (positive). Unless ``any_int``, an int past
    2**53 is refused: scores are floats, and there whole numbers stop being exact, so
    such a threshold, bar, cap or number of points would compare or add up differently
    from one engine (Python's exact ints) to the other (numpy's floats)."""
    if not _is_number(value):
        raise ValidationError(
            f"{where}: {field} must be a finite number, got {value!r} ({type(value).__name__})"
        )
    if not any_int and isinstance(value, int) and abs(value) > _WHOLE_MAX:
        raise ValidationError(
            f"{where}: {field} {value} is beyond 2**53, where a score's whole numbers are no "
            f"longer exact; give it as a float ({float(value)!r}) or on a smaller scale"
        )
    if positive and value <= 0:
        raise ValidationError(f"{where}: {field} must be positive, got {value!r}")
    return value


#: The largest whole number every float below it holds exactly.
_WHOLE_MAX: Final = 2**53


def _whole(value: Any) -> Any:
    """A whole-number setting: ``2.0`` (how JSON and YAML writers often spell 2) is 2;
    anything else is left for the check to refuse."""
    value = plain(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class _Structural:
    """``==`` by fields, where expression fields compare with ``Expr.equals``."""

    def __eq__(self, other: object) -> bool:
        if type(self) is not type(other):
            return NotImplemented
        return all(
            _value_equals(getattr(self, f.name), getattr(other, f.name))
            for f in attrs.fields(cast(Any, type(self))) if f.eq
        )

    def __hash__(self) -> int:
        # Consistent with __eq__, which compares values, not spellings (HalfLife("14d") ==
        # HalfLife("2w"), points 40 == 40.0): only the names (rule, model) are hashed.
        return hash((type(self).__name__, *(
            v for f in attrs.fields(cast(Any, type(self))) if f.eq
            and isinstance(v := getattr(self, f.name), str))))


def _repr_call(name: str, positional: list[Any], keywords: dict[str, Any]) -> str:
    parts = [repr(p) for p in positional]
    parts += [f"{k}={v!r}" for k, v in keywords.items()]
    return f"{name}({', '.join(parts)})"


# -- decay ---------------------------------------------------------------------------------

@runtime_checkable
class Decay(Protocol):
    """What a decay is: anything that reduces a value given an age.

    ``apply(value, age)`` returns what ``value`` is worth after ``age`` (a ``timedelta``).
    Built-ins: :class:`InactivityDecay`, :class:`HalfLife`, :class:`ResetAfter`.
    """

    def apply(self, value: float, age: timedelta) -> float: ...


def _micros(age: timedelta, value: Any, decay: Any) -> int:
    """``age`` in µs, once ``decay.apply(value, age)``'s arguments are checked: a number,
    and a ``timedelta`` of 0 or more (a negative age would grow the value)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise PqlkitTypeError(f"{decay!r}.apply() takes a number to decay, got {value!r} "
                              f"({type(value).__name__})")
    if not isinstance(age, timedelta):
        raise PqlkitTypeError(f"{decay!r}.apply() takes the age as a datetime.timedelta, "
                              f"got {age!r} ({type(age).__name__})")
    if age < timedelta(0):
        raise ValidationError(f"{decay!r}.apply(): the age must be 0 or more, got {age!r}")
    return (age.days * 86_400 + age.seconds) * 1_000_000 + age.microseconds


def _fixed(value: Any, what: str) -> Duration:
    d = as_duration(value, what=what)
    d.fixed_micros(what=what)
    return d


def _every(value: Any) -> Duration:
    return _fixed(value, "InactivityDecay every")


def _grace(value: Any) -> Duration | None:
    return None if value is None else _fixed(value, "InactivityDecay grace")


def _half_life(value: Any) -> Duration:
    return _fixed(value, "HalfLife half_life")


def _idle(value: Any) -> Duration:
    return _fixed(value, "ResetAfter idle")


def _active_within(value: Any) -> Duration | None:
    # A window like within=: calendar spans ("1mo") work too (DESIGN §3.1).
    return None if value is None else as_duration(value, what="Rollup active_within")


@attrs.frozen(kw_only=True, repr=False, eq=False)
class InactivityDecay(_Structural):
    """Lose ``points`` per full ``every`` of inactivity past a ``grace`` period.

    >>> from datetime import timedelta
    >>> InactivityDecay(points=5, every="7d", grace="7d").apply(60, timedelta(days=20))
    55
    """

    points: float = attrs.field(converter=plain)
    every: Duration = attrs.field(converter=_every)
    grace: Duration | None = attrs.field(default=None, converter=_grace)

    @points.validator
    def _check_points(self, _: Any, value: Any) -> None:
        # (Any int: both engines compute its decay exactly.)
        _number("InactivityDecay", "points", value, positive=True, any_int=True)

    def periods(self, age_us: int) -> int:
        """How many full ``every`` periods past the grace an age of ``age_us`` holds."""
        grace = self.grace.micros if self.grace is not None else 0
        return max(0, (age_us - grace) // self.every.micros) if age_us > grace else 0

    def apply(self, value: float, age: timedelta) -> float:
        return value - self.points * self.periods(_micros(age, value, self))

    def __repr__(self) -> str:
        kw: dict[str, Any] = {"points": self.points, "every": self.every}
        if self.grace is not None:
            kw["grace"] = self.grace
        return _repr_call("InactivityDecay", [], kw)


@attrs.frozen(repr=False, eq=False)
class HalfLife(_Structural):
    """Halve the value every ``half_life`` of age: ``value * 0.5 ** (age / half_life)``.

    >>> from datetime import timedelta
    >>> HalfLife("14d").apply(40, timedelta(days=28))
    10.0
    """

    half_life: Duration = attrs.field(converter=_half_life)

    def apply(self, value: float, age: timedelta) -> float:
        return float(value * 0.5 ** (_micros(age, value, self) / self.half_life.micros))

    def __repr__(self) -> str:
        return _repr_call("HalfLife", [self.half_life], {})


@attrs.frozen(repr=False, eq=False)
class ResetAfter(_Structural):
    """Keep the full value until ``idle`` has passed, then drop it to zero.

    >>> from datetime import timedelta
    >>> ResetAfter("30d").apply(40, timedelta(days=31))
    0
    """

    idle: Duration = attrs.field(converter=_idle)

    def apply(self, value: float, age: timedelta) -> float:
        return 0 if _micros(age, value, self) > self.idle.micros else value

    def __repr__(self) -> str:
        return _repr_call("ResetAfter", [self.idle], {})


def _check_decay(where: str, value: Any) -> Any:
    if isinstance(value, type):
        raise PqlkitTypeError(
            f"{where}: decay is the class {value.__name__}, not a decay: call it with its "
            f"settings, e.g. pk.HalfLife('14d') or pk.InactivityDecay(points=5, every='7d')")
    if value is not None and not callable(getattr(value, "apply", None)):
        raise PqlkitTypeError(
            f"{where}: decay must have an apply(value, age) method such as "
            f"pk.HalfLife('14d'), got {value!r} ({type(value).__name__})"
        )
    return value


# -- rules ---------------------------------------------------------------------------------

@runtime_checkable
class RuleLike(Protocol):
    """What a rule is: a name and a way to turn an entity's evaluated signals into points.

    Custom rules implement ``points_for(ctx)``, reading signals with ``ctx.evaluate(sig)``.
    ``group`` (or None) places the rule under a model's ``group_caps``.
    """

    name: str

    def points_for(self, ctx: Any) -> float: ...


def _rule_name(value: Any) -> str:
    value = plain(value)
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"a rule name must be a non-empty string, got {value!r}")
    if value in RESERVED_COLUMNS:
        raise ValidationError(
            f"rule name {value!r} is a result column name; choose another "
            f"(reserved: {', '.join(sorted(RESERVED_COLUMNS))})"
        )
    return value


@attrs.frozen(repr=False, eq=False)
class Rule(_Structural):
    """Points for a condition, or per unit of a numeric signal.

    >>> from pqlkit import count
    >>> Rule("activation", count("project_created") >= 1, points=40)
    Rule('activation', count('project_created') >= 1, points=40)
    >>> Rule("queries", count("saved_query_run", within="30d"), points_per=2, max_points=20)
    Rule('queries', count('saved_query_run', within='30d'), points_per=2, max_points=20)
    """

    name: str = attrs.field(converter=_rule_name)
    when: Expr = attrs.field()
    points: float | None = attrs.field(default=None, kw_only=True, converter=plain)
    points_per: float | None = attrs.field(default=None, kw_only=True, converter=plain)
    max_points: float | None = attrs.field(default=None, kw_only=True, converter=plain)
    group: str | None = attrs.field(default=None, kw_only=True, converter=plain)
    decay: Any = attrs.field(default=None, kw_only=True)

    def __attrs_post_init__(self) -> None:
        where = f"Rule {self.name!r}"
        if not isinstance(self.when, Expr):
            raise PqlkitTypeError(
                f"{where}: the second argument must be a condition such as "
                f"count('x') >= 1 (or a numeric signal with points_per=), got {self.when!r} "
                f"({type(self.when).__name__})"
            )
        try:
            scope = self.when.scope
        except PqlkitTypeError as exc:
            raise PqlkitTypeError(f"{where}: {exc}") from None
        if scope == "event":
            raise PqlkitTypeError(
                f"{where}: {self.when!r} tests event properties directly; use them inside "
                "where= of a signal, e.g. count('x', where=prop('plan') == 'pro') >= 1"
            )
        if (self.points is None) == (self.points_per is None):
            raise ValidationError(
                f"{where}: give exactly one of points= (for a condition) or points_per= "
                f"(per unit of a numeric signal), got points={self.points!r}, "
                f"points_per={self.points_per!r}"
            )
        if self.points is not None:
            _number(where, "points", self.points)
            if self.when.kind in ("number", "time", "text"):
                per_unit = (" or use points_per= to score per unit"
                            if self.when.kind == "number" else "")
                raise PqlkitTypeError(
                    f"{where}: {self.when!r} is a {self.when.kind}, not a condition; compare "
                    f"it (e.g. {compared(self.when)}){per_unit}{kind_hint(self.when)}"
                )
            if self.max_points is not None:
                raise ValidationError(f"{where}: max_points= goes with points_per=, not points=")
        else:
            _number(where, "points_per", self.points_per)
            if self.when.kind in ("time", "text"):
                raise PqlkitTypeError(
                    f"{where}: points_per= needs a numeric signal, {self.when!r} is a "
                    f"{self.when.kind}"
                )
            if self.max_points is not None:
                _number(where, "max_points", self.max_points, positive=True)
        if self.group is not None and (not isinstance(self.group, str) or not self.group):
            raise ValidationError(f"{where}: group must be a non-empty string, got {self.group!r}")
        _check_decay(where, self.decay)

    def signals(self) -> list[Expr]:
        """The signal nodes the rule reads."""
        return [n for n in self.when.walk() if isinstance(n, EventSignal)]

    def points_from(self, value: Any) -> float:
        """The points this rule gives for its evaluated ``when`` value."""
        if self.points is not None:
            # The engines' two-valued truth (a custom signal may return numpy.bool_).
            # Points of the type given: 0 for int points, 0.0 for float ones.
            # (+ 0: the points of a rule that does not hold are 0.0, not -0.0.)
            return self.points if value is not None and bool(value) else self.points * 0 + 0
        if value is None or not isinstance(value, (numbers.Real, np.bool_)):
            # Text, dates, lists: not a quantity. No points, as a comparison with them is
            # False (a trait "12" read from CSV is text: give the column a type).
            return 0.0
        assert self.points_per is not None
        try:
            quantity = float(value)
        except OverflowError:  # an integer beyond any float: as far as a float goes
            quantity = math.inf if cast(Any, value) > 0 else -math.inf
        got = quantity * self.points_per + 0.0  # (+ 0.0: no points are 0.0, not -0.0)
        if self.max_points is not None and got == got:
            # A float, as uncapped points_per points are (max_points may be an int). A nan
            # quantity (inf - inf) stays nan: Python's min(cap, nan) would give the cap.
            got = float(max(-self.max_points, min(self.max_points, got)))
        return got

    def __repr__(self) -> str:
        kw: dict[str, Any] = {}
        for key in ("points", "points_per", "max_points", "group", "decay"):
            if getattr(self, key) is not None:
                kw[key] = getattr(self, key)
        return _repr_call("Rule", [self.name, self.when], kw)


def _warn_rejected(log: Any) -> None:
    """Say what a load made by ``score`` rejected: its report is not returned."""
    import warnings

    from pqlkit.errors import RejectedRowsWarning

    counts = log.report.counts
    lost = counts["rejected"]
    if lost:
        reasons = ", ".join(f"{k}: {v}" for k, v in sorted(log.report.by_reason().items()))
        warnings.warn(
            f"score() loaded {counts['input']} event rows and rejected {lost} ({reasons}); "
            "load them with pk.EventLog.from_records(...) (or the loader for your data) "
            "and read log.report.rejections to see each one", RejectedRowsWarning,
            stacklevel=3)


# -- roll-up -------------------------------------------------------------------------------

ROLLUP_SCORES: Final = ("max", "sum", "mean", "top_k_mean")
ROLLUP_DENOMINATORS: Final = ("all", "active")
LEVELS: Final = ("user", "account")


@attrs.frozen(kw_only=True, repr=False, eq=False)
class Rollup(_Structural):
    """How user results become account results, and when an account is a PQA.

    An account is a PQA when ``share_pql >= min_share`` and ``n_pql >= min_pql``;
    ``share_pql`` is over all its users (``denominator="all"``) or over those with an event
    in the last ``active_within`` (``denominator="active"``). Its score aggregates the scores
    of its users who are not disqualified: ``max`` (default), ``sum``, ``mean`` or
    ``top_k_mean`` (mean of the ``k`` best).

    >>> Rollup(min_share=0.3, score="top_k_mean", k=5)
    Rollup(min_share=0.3, score='top_k_mean', k=5)
    """

    min_share: float | None = attrs.field(default=0.5, converter=plain)
    min_pql: int = attrs.field(default=1, converter=_whole)
    score: Literal["max", "sum", "mean", "top_k_mean"] = attrs.field(default="max",
                                                                  converter=plain)
    k: int = attrs.field(default=3, converter=_whole)
    denominator: Literal["all", "active"] = attrs.field(default="all", converter=plain)
    active_within: Duration | None = attrs.field(
        default=None, converter=_active_within
    )

    _defaults: ClassVar[dict[str, Any]] = {
        "min_share": 0.5, "min_pql": 1, "score": "max", "k": 3, "denominator": "all",
        "active_within": None,
    }

    def __attrs_post_init__(self) -> None:
        if self.min_share is not None:
            _number("Rollup", "min_share", self.min_share)
            if not 0 <= self.min_share <= 1:
                raise ValidationError(
                    f"Rollup: min_share is a share between 0 and 1, got {self.min_share!r}"
                )
        if isinstance(self.min_pql, bool) or not isinstance(self.min_pql, int) or self.min_pql < 0:
            raise ValidationError(f"Rollup: min_pql must be a whole number >= 0, got {self.min_pql!r}")
        if self.score not in ROLLUP_SCORES:
            raise ValidationError(
                f"Rollup: score must be one of {', '.join(ROLLUP_SCORES)}, got {self.score!r}"
            )
        if isinstance(self.k, bool) or not isinstance(self.k, int) or self.k < 1:
            raise ValidationError(f"Rollup: k must be a whole number >= 1, got {self.k!r}")
        if self.denominator not in ROLLUP_DENOMINATORS:
            raise ValidationError(
                f"Rollup: denominator must be 'all' or 'active', got {self.denominator!r}"
            )
        if self.denominator == "active" and self.active_within is None:
            raise ValidationError(
                "Rollup: denominator='active' needs active_within= (e.g. '30d') to say "
                "which users count as active"
            )
        if self.k != self._defaults["k"] and self.score != "top_k_mean":
            # (It would be ignored: only the top-k mean reads k.)
            raise ValidationError(
                f"Rollup: k= applies only with score='top_k_mean' (the mean of the k best "
                f"scores); pass score='top_k_mean' too, or leave k out (score={self.score!r})"
            )
        if self.denominator == "all" and self.active_within is not None:
            # (It would be ignored: every user counts in the share.)
            raise ValidationError(
                "Rollup: active_within= applies only with denominator='active' (the share "
                "of PQLs among the users active in that window); pass "
                "denominator='active' too, or leave active_within out"
            )

    def aggregate(self, scores: list[float]) -> float:
        """The account score from its eligible users' scores (0 when there are none)."""
        if not scores:
            return 0.0
        if self.score == "max":
            return float(max(scores))
        if self.score == "sum":
            return float(fsum(scores))
        if self.score == "mean":
            return fsum(scores) / len(scores)
        top = sorted(scores, reverse=True)[: self.k]
        return fsum(top) / len(top)

    def is_pqa(self, n_pql: int, share: float) -> bool:
        """Whether an account with ``n_pql`` PQL users making up ``share`` is a PQA."""
        share_ok = self.min_share is None or share >= self.min_share
        return share_ok and n_pql >= self.min_pql

    def __repr__(self) -> str:
        kw = {k: getattr(self, k) for k, d in self._defaults.items() if getattr(self, k) != d}
        return _repr_call("Rollup", [], kw)


# -- the model -----------------------------------------------------------------------------

def _unordered(value: Any, what: str) -> None:
    """Refuse a set (or a mapping): its order is arbitrary, and the rules' order is that
    of the result's columns, the explanations and the saved model."""
    if isinstance(value, (set, frozenset, Mapping)):
        raise PqlkitTypeError(
            f"{what} must be a list, got a {type(value).__name__}, whose order is arbitrary "
            f"(the result's columns and the explanations follow this order); give a list")


def _rules(value: Any) -> tuple[Any, ...]:
    if isinstance(value, (Rule, str)) or not isinstance(value, Iterable):
        raise PqlkitTypeError(f"rules must be a list of rules, got {value!r}")
    _unordered(value, "rules")
    return tuple(value)


def _disqualify(value: Any) -> tuple[Expr, ...]:
    if value is None:
        return ()
    if isinstance(value, Expr):
        return (value,)
    if not isinstance(value, Iterable) or isinstance(value, str):
        raise PqlkitTypeError(f"disqualify must be a list of conditions, got {value!r}")
    _unordered(value, "disqualify")
    return tuple(value)


def _pairs(value: Any) -> Any:
    # attrs.evolve passes the converted form (a tuple of pairs) back through the converter.
    if isinstance(value, tuple) and all(isinstance(p, tuple) and len(p) == 2 for p in value):
        return dict(value)
    return value


def _tiers(value: Any) -> tuple[tuple[str, float], ...]:
    if value is None:
        return ()
    value = _pairs(value)
    if not isinstance(value, Mapping):
        raise PqlkitTypeError(
            f"tiers must map a tier name to its minimum score, e.g. {{'A': 80, 'B': 60}}, "
            f"got {value!r}"
        )
    value = plain(value)
    out: list[tuple[str, float]] = []
    for name, bar in value.items():
        if not isinstance(name, str) or not name:
            raise ValidationError(f"tiers: a tier name must be a non-empty string, got {name!r}")
        if name == "disqualified":
            raise ValidationError("tiers: 'disqualified' is the tier of disqualified entities")
        _number(f"tiers[{name!r}]", "the minimum score", bar)
        out.append((name, bar))
    return tuple(sorted(out, key=lambda nb: -nb[1]))


def bar_problems(threshold: Any, ceiling: Any, tiers: Mapping[str, Any]
                 ) -> list[tuple[tuple[str, ...], str]]:
    """What makes a bar unreachable, as (field, message) pairs: a tier sharing another's
    minimum score (one of them could never be given), a threshold or tier above the
    ceiling (scores stop there). The model refuses the first; a model file reports all,
    at their paths. Values that are not numbers are left to their own checks."""
    out: list[tuple[tuple[str, ...], str]] = []
    first: dict[Any, str] = {}
    for name, bar in tiers.items():
        if not _is_number(bar):
            continue
        if bar in first:
            out.append((("tiers", name), f"has the same minimum score ({bar}) as "
                        f"{first[bar]!r}, so one of them could never be given"))
        first.setdefault(bar, name)
    if _is_number(ceiling):
        bars = [(("threshold",), threshold),
                *((("tiers", name), bar) for name, bar in tiers.items())]
        for field, bar in bars:
            if _is_number(bar) and bar > ceiling:
                out.append((field, f"{bar} is above the ceiling ({ceiling}), which "
                            "scores never pass: no entity could reach it"))
    return out


def _caps(value: Any) -> tuple[tuple[str, float], ...]:
    if value is None:
        return ()
    value = _pairs(value)
    if not isinstance(value, Mapping):
        raise PqlkitTypeError(f"group_caps must map a group name to its cap, got {value!r}")
    value = plain(value)
    for g, cap in value.items():
        if not isinstance(g, str) or not g.strip():
            raise PqlkitTypeError(f"group_caps: a group name is a non-empty string, got {g!r}")
        if _is_number(cap) and cap < 0:
            # A negative cap would turn a group's positive points into a penalty.
            raise ValidationError(f"group_caps[{g!r}]: the cap must be 0 or more, got {cap!r}")
    return tuple(
        sorted((g, _number(f"group_caps[{g!r}]", "the cap", cap)) for g, cap in value.items())
    )


@attrs.frozen(kw_only=True, repr=False, eq=False)
class ScoringModel(_Structural):
    """Rules, disqualifiers, decay, threshold, tiers and roll-up: a whole scoring model.

    Scores are computed as: the sum of the rules' points (each rule's own decay applied, then
    group caps), the model's ``decay`` (age = the entity's inactivity), then clamping to
    ``floor`` and ``ceiling``. An entity is qualified (PQL, or PQA at account level) when its
    score reaches ``threshold`` and no disqualifier holds.

    >>> import pqlkit as pk
    >>> model = pk.ScoringModel(
    ...     name="mini", threshold=40,
    ...     rules=[pk.Rule("activation", pk.count("project_created") >= 1, points=40)],
    ... )
    >>> model.threshold
    40
    """

    name: str = attrs.field(converter=plain)
    rules: tuple[Any, ...] = attrs.field(converter=_rules)
    threshold: float = attrs.field(converter=plain)
    disqualify: tuple[Expr, ...] = attrs.field(default=(), converter=_disqualify)
    decay: Any = attrs.field(default=None)
    tiers: tuple[tuple[str, float], ...] = attrs.field(default=None, converter=_tiers)
    level: Literal["user", "account"] = attrs.field(default="user", converter=plain)
    rollup: Rollup = attrs.field(factory=Rollup)
    floor: float | None = attrs.field(default=0, converter=plain)
    ceiling: float | None = attrs.field(default=None, converter=plain)
    group_caps: tuple[tuple[str, float], ...] = attrs.field(default=None, converter=_caps)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValidationError(f"ScoringModel: name must be a non-empty string, got {self.name!r}")
        where = f"ScoringModel {self.name!r}"
        if self.level not in LEVELS:
            raise ValidationError(f"{where}: level must be 'user' or 'account', got {self.level!r}")
        _number(where, "threshold", self.threshold)
        for field in ("floor", "ceiling"):
            if getattr(self, field) is not None:
                _number(where, field, getattr(self, field))
        if self.floor is not None and self.ceiling is not None and self.floor > self.ceiling:
            raise ValidationError(
                f"{where}: floor ({self.floor}) is above ceiling ({self.ceiling})"
            )
        for path, message in bar_problems(self.threshold, self.ceiling, dict(self.tiers)):
            shown = path[0] if len(path) == 1 else f"{path[0]}[{path[1]!r}]"
            raise ValidationError(f"{where}: {shown} {message}")
        if not isinstance(self.rollup, Rollup):
            raise PqlkitTypeError(f"{where}: rollup must be a pk.Rollup(...), got {self.rollup!r}")
        _check_decay(where, self.decay)
        seen: set[str] = set()
        groups: set[str] = set()
        for i, rule in enumerate(self.rules):
            if not isinstance(rule, RuleLike) and not isinstance(rule, Rule):
                raise PqlkitTypeError(
                    f"{where}: rules[{i}] must be a pk.Rule (or an object with a name and "
                    f"points_for(ctx)), got {rule!r} ({type(rule).__name__})"
                )
            name = getattr(rule, "name", None)
            if not isinstance(name, str) or not name:
                raise ValidationError(f"{where}: rules[{i}] has no name")
            if name in seen:
                raise ValidationError(f"{where}: two rules are named {name!r}; names must differ")
            if name in RESERVED_COLUMNS:
                _rule_name(name)
            seen.add(name)
            group = getattr(rule, "group", None)
            if group is not None:
                groups.add(group)
            if isinstance(rule, Rule):
                self._check_level(f"{where}: rule {name!r}", rule.when)
        for i, cond in enumerate(self.disqualify):
            if not isinstance(cond, Expr) or cond.kind in ("number", "time", "text"):
                raise PqlkitTypeError(
                    f"{where}: disqualify[{i}] must be a condition such as "
                    f"trait('email').endswith('.edu'), got {cond!r}"
                )
            if cond.scope == "event":
                raise PqlkitTypeError(
                    f"{where}: disqualify[{i}] {cond!r} tests event properties directly; use "
                    "them inside where= of a signal, e.g. exists('x', where=prop('plan') == 'pro')"
                )
            self._check_level(f"{where}: disqualify[{i}]", cond)
        for group, _cap in self.group_caps:
            if group not in groups:
                raise ValidationError(
                    f"{where}: group_caps names group {group!r}, which no rule uses "
                    f"(groups: {', '.join(sorted(groups)) or 'none'})"
                )

    def _check_level(self, where: str, expr: Expr) -> None:
        for node in expr.walk():
            if getattr(node, "account_only", False) and self.level != "account":
                raise ValidationError(
                    f"{where}: {node!r} counts users of an account, so it needs "
                    "level='account'"
                )

    def tier_for(self, score: float, disqualified: bool) -> str | None:
        """The tier of a score: the highest bar it reaches, ``'disqualified'``, or None."""
        if disqualified:
            return "disqualified"
        for name, bar in self.tiers:
            if score >= bar:
                return name
        return None

    def score(self, data: EventLog | Iterable[Any], *, as_of: Any = None,
              engine: str | Engine | None = None) -> ScoreResult:
        """Score every user (or account) as of ``as_of``.

        Args:
            data: an :class:`~pqlkit.EventLog`, or events to load: records or dicts, or
                a pandas or polars DataFrame or an Arrow table with the default column
                names (``name``, ``timestamp``, ``user_id`` …). Rows it rejects are
                counted in a :class:`~pqlkit.errors.RejectedRowsWarning`; load with
                :class:`~pqlkit.EventLog` yourself to read the full report.
            as_of: the moment to score for (aware datetime or ISO string); defaults to the
                latest event timestamp in the data, never the wall clock.
            engine: which engine evaluates the model: ``"columnar"`` (the default, every
                entity at once with numpy), ``"reference"`` (one entity at a time in plain
                Python, the oracle the tests compare against) or an engine instance.
        """
        from pqlkit.engine import get_engine
        from pqlkit.eventlog import EventLog

        if isinstance(data, EventLog):
            log = data
        else:
            from pqlkit._columns import frame_kind

            # A frame or Arrow table is loaded by its columns, with the default names.
            kind = frame_kind(data)
            log = (EventLog.from_pandas(data) if kind == "pandas" else
                   EventLog.from_polars(data) if kind == "polars" else
                   EventLog.from_arrow(data) if kind == "arrow" else
                   EventLog.from_records(data))
            _warn_rejected(log)
        return get_engine(engine).score(self, log, as_of=as_of)

    def to_dict(self) -> dict[str, Any]:
        """The model as a model-file table (see :mod:`pqlkit.modelfile`).

        >>> from pqlkit import templates
        >>> model = templates.trial_scoring()
        >>> model.to_dict()["decay"]
        {'type': 'InactivityDecay', 'points': 5, 'every': '7d', 'grace': '7d'}
        >>> ScoringModel.from_dict(model.to_dict()) == model
        True
        """
        from pqlkit.modelfile import to_dict

        return to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScoringModel:
        """Build a model from a model-file table; every problem is listed, with its path."""
        from pqlkit.modelfile import from_dict

        return from_dict(data)

    def save(self, path: str | os.PathLike[str], *, format: str | None = None) -> Path:
        """Write the model to a ``.toml``, ``.json`` or ``.yaml`` file (or ``format=``).

        The file reads back (:func:`pqlkit.load_model`) as a model equal to this one.
        """
        from pqlkit.modelfile import save_model

        return save_model(self, path, format=format)

    def __repr__(self) -> str:
        kw: dict[str, Any] = {"name": self.name, "rules": list(self.rules)}
        if self.disqualify:
            kw["disqualify"] = list(self.disqualify)
        if self.decay is not None:
            kw["decay"] = self.decay
        kw["threshold"] = self.threshold
        if self.tiers:
            kw["tiers"] = dict(self.tiers)
        if self.level != "user":
            kw["level"] = self.level
        if self.rollup != Rollup():
            kw["rollup"] = self.rollup
        if self.floor != 0:
            kw["floor"] = self.floor
        if self.ceiling is not None:
            kw["ceiling"] = self.ceiling
        if self.group_caps:
            kw["group_caps"] = dict(self.group_caps)
        # One argument a line, as a model file reads; lists one item a line.
        lines = ["ScoringModel("]
        for key, value in kw.items():
            if isinstance(value, list) and value:
                lines.append(f"    {key}=[")
                lines.extend(f"        {item!r}," for item in value)
                lines.append("    ],")
            else:
                lines.append(f"    {key}={value!r},")
        lines.append(")")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from pqlkit.results import model_html

        return model_html(self)
