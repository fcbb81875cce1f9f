"""The expression tree: signals, property filters and conditions.

Nodes are small frozen attrs classes holding data only; engines (:mod:`pqlkit.engine`)
walk them. Because ``==`` on a signal builds a condition, nodes compare structurally with
:meth:`Expr.equals`, and ``repr`` of any node is the code that builds it.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, ClassVar, Final, Literal, cast

import attrs
import numpy as np

from pqlkit._time import Duration, as_duration, to_utc
from pqlkit.errors import PqlkitTypeError, ValidationError
from pqlkit.records import MAX_DEPTH, plain

__all__ = [
    "ActiveDays", "And", "Arith", "Compare", "Count", "DaysSinceFirst", "DaysSinceLast",
    "Distinct", "DistinctUsers", "EventSignal", "Exists", "Expr", "FirstSeen", "IsIn",
    "IsMissing", "LastSeen", "Lit", "Lower", "Not", "Or", "Prop", "Signal", "StrTest",
    "Total", "Trait", "active_days", "active_users", "as_expr", "count", "days_since_first",
    "days_since_last", "distinct", "distinct_users", "exists", "first_seen", "last_seen",
    "prop", "total", "trait",
]

Kind = Literal["number", "bool", "time", "text", "any"]
Scope = Literal["entity", "event", "const"]

COMPARE_OPS: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
    "==": operator.eq, "!=": operator.ne,
}
ARITH_OPS: Final[dict[str, Callable[[Any, Any], Any]]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
}
# Python binds comparisons loosest, then |, &, + -, * /, unary ~ (tightest).
_PRECEDENCE: Final = {"cmp": 1, "|": 2, "&": 3, "+": 4, "-": 4, "*": 5, "/": 5, "~": 6}


def _fields(obj: object) -> tuple[Any, ...]:
    return tuple(attrs.fields(cast(Any, type(obj))))


def at(moment: str | datetime) -> datetime:
    """A moment as a value to compare a trait or property with: an ISO-8601 text with a
    zone (or an aware datetime), as aware UTC. ``repr`` of such a comparison prints it this
    way, so the text rebuilds the condition (a bare ISO string would be compared as text).

    >>> from pqlkit import trait
    >>> trait("trial_ends") >= at("2026-05-01T00:00:00Z")
    trait('trial_ends') >= at('2026-05-01T00:00:00Z')
    """
    return to_utc(moment, what="at()", loaded=False)


def _fmt(value: Any) -> str:
    if isinstance(value, Expr):
        return repr(value)
    if isinstance(value, datetime):
        return repr(value.isoformat().replace("+00:00", "Z"))
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return repr(value)
    return repr(value)


class Expr:
    """Base of every expression node: operators build new nodes, nothing is evaluated here.

    Subclasses are frozen attrs classes. ``kind`` says what a node's value is
    (``number``, ``bool``, ``time``, ``text`` or ``any``), ``scope`` whether it reads an
    entity (signals) or one event (``prop(...)`` filters).
    """

    kind: ClassVar[Kind] = "any"

    @property
    def scope(self) -> Scope:
        # Kept once known: a node's children already know theirs (operators check it as
        # they are built), so a chain of n links is built in n steps, not n * n, and
        # without a call per level below.
        known: Scope | None = self.__dict__.get("_scope")
        if known is not None:
            return known
        scopes = {c.scope for c in self.children()}
        scopes.discard("const")
        if len(scopes) > 1:
            raise PqlkitTypeError(
                f"{self!r} mixes event properties (prop(...)) with entity signals; "
                "property tests belong inside where=..."
            )
        found: Scope = scopes.pop() if scopes else "const"
        object.__setattr__(self, "_scope", found)  # (frozen attrs class: not a field)
        return found

    def children(self) -> tuple[Expr, ...]:
        """The expression nodes directly below this one."""
        return tuple(
            v for f in _fields(self) if isinstance(v := getattr(self, f.name), Expr)
        )

    def walk(self) -> Iterable[Expr]:
        """This node and every node below it, depth first."""
        pending: list[Expr] = [self]
        while pending:  # (a list, not recursion: chains of conditions nest deep)
            node = pending.pop()
            yield node
            pending.extend(reversed(node.children()))

    def equals(self, other: object) -> bool:
        """Structural equality (``==`` builds a condition instead).

        >>> count("invite", within="2w").equals(count("invite", within="14d"))
        True
        """
        if type(self) is not type(other):
            return False
        # Node by node from a list rather than by recursion: a rule "any of these 300
        # events" built with functools.reduce nests 300 deep, past Python's recursion
        # limit for a call per level. A node below whose class has its own equals() (a
        # custom signal's) is compared by it.
        pending: list[tuple[Expr, Any]] = [(self, other)]
        while pending:
            a, b = pending.pop()
            for f in _fields(a):
                x, y = getattr(a, f.name), getattr(b, f.name)
                if not isinstance(x, Expr):
                    if not _value_equals(x, y):
                        return False
                elif type(x) is not type(y):
                    return False
                elif type(x).equals is not Expr.equals:
                    if not x.equals(y):
                        return False
                else:
                    pending.append((x, y))
        return True

    def __hash__(self) -> int:
        return hash((type(self).__name__, repr(self)))

    def __bool__(self) -> bool:
        raise PqlkitTypeError(
            f"the truth value of {self!r} is ambiguous: it is an expression, not a value. "
            "Combine conditions with & (and), | (or), ~ (not) instead of and/or/not, and "
            "compare expressions with .equals() instead of =="
        )

    # comparisons build conditions
    def __lt__(self, other: Any) -> Compare:
        return Compare("<", self, as_expr(other, like=self))

    def __le__(self, other: Any) -> Compare:
        return Compare("<=", self, as_expr(other, like=self))

    def __gt__(self, other: Any) -> Compare:
        return Compare(">", self, as_expr(other, like=self))

    def __ge__(self, other: Any) -> Compare:
        return Compare(">=", self, as_expr(other, like=self))

    def __eq__(self, other: Any) -> Compare:  # type: ignore[override]
        return Compare("==", self, as_expr(other, like=self))

    def __ne__(self, other: Any) -> Compare:  # type: ignore[override]
        return Compare("!=", self, as_expr(other, like=self))

    # arithmetic on numbers
    def __add__(self, other: Any) -> Arith:
        return Arith("+", self, as_expr(other))

    def __radd__(self, other: Any) -> Arith:
        return Arith("+", as_expr(other), self)

    def __sub__(self, other: Any) -> Arith:
        return Arith("-", self, as_expr(other))

    def __rsub__(self, other: Any) -> Arith:
        return Arith("-", as_expr(other), self)

    def __mul__(self, other: Any) -> Arith:
        return Arith("*", self, as_expr(other))

    def __rmul__(self, other: Any) -> Arith:
        return Arith("*", as_expr(other), self)

    def __truediv__(self, other: Any) -> Arith:
        return Arith("/", self, as_expr(other))

    def __rtruediv__(self, other: Any) -> Arith:
        return Arith("/", as_expr(other), self)

    # boolean logic
    def __and__(self, other: Any) -> And:
        return And(self, as_expr(other))

    def __rand__(self, other: Any) -> And:
        return And(as_expr(other), self)

    def __or__(self, other: Any) -> Or:
        return Or(self, as_expr(other))

    def __ror__(self, other: Any) -> Or:
        return Or(as_expr(other), self)

    def __invert__(self) -> Not:
        return Not(self)

    # tests on any value
    def isin(self, values: Iterable[Any]) -> IsIn:
        """True when the value is one of ``values``."""
        if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
            raise PqlkitTypeError(
                f"isin() takes a list of values, got {values!r}; write .isin([{values!r}])"
            )
        return IsIn(self, tuple(values))

    def is_missing(self) -> IsMissing:
        """True when the value is missing (no trait, no property, no event)."""
        return IsMissing(self)

    def is_present(self) -> Not:
        """True when the value is present."""
        return Not(IsMissing(self))

    # string tests (for traits and properties)
    def startswith(self, prefix: str, *, ignore_case: bool = False) -> StrTest:
        """True when the value is a string starting with ``prefix``."""
        return StrTest("startswith", self, _text_arg(prefix, "startswith"), ignore_case)

    def endswith(self, suffix: str, *, ignore_case: bool = False) -> StrTest:
        """True when the value is a string ending with ``suffix``."""
        return StrTest("endswith", self, _text_arg(suffix, "endswith"), ignore_case)

    def contains(self, part: str, *, ignore_case: bool = False) -> StrTest:
        """True when the value is a string containing ``part``."""
        return StrTest("contains", self, _text_arg(part, "contains"), ignore_case)

    def lower(self) -> Lower:
        """The value lower-cased (when it is a string)."""
        return Lower(self)


def _text_arg(value: Any, method: str) -> str:
    value = plain(value)
    if not isinstance(value, str):
        raise PqlkitTypeError(
            f"{method}() takes a string, got {value!r} ({type(value).__name__})"
        )
    return value


def _value_equals(a: Any, b: Any) -> bool:
    if isinstance(a, Expr):
        return a.equals(b)
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(_value_equals(x, y) for x, y in zip(a, b, strict=True))
    if type(a) is not type(b) and (
        # True is not 1 here: the engines tell them apart (isin([True]) vs isin([1])).
        isinstance(a, bool) or isinstance(b, bool)
        or not (isinstance(a, (int, float)) and isinstance(b, (int, float)))
    ):
        return False
    return bool(a == b)


class Signal(Expr):
    """Base class for custom signals (the ``pk.Signal`` protocol).

    Subclass it as a frozen attrs class, set ``kind`` and implement ``evaluate(ctx)``,
    which returns this entity's value as of ``ctx.as_of``. ``ctx.events(...)`` gives the
    entity's events (filtered like the built-ins) and ``ctx.traits`` its traits. Evidence
    shown in explanations comes from an optional ``evidence(ctx)`` returning events.
    Subclasses inherit every operator, so ``MySignal() >= 3`` is a condition.
    """

    kind: ClassVar[Kind] = "number"

    @property
    def scope(self) -> Scope:
        return "entity"

    def evaluate(self, ctx: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement evaluate(ctx)")

    def __repr__(self) -> str:
        fields = ", ".join(f"{key}={value!r}" for key, value in init_arguments(self)
                           ) if attrs.has(type(self)) else ""
        return f"{type(self).__name__}({fields})"


def init_arguments(obj: object) -> list[tuple[str, Any]]:
    """The keyword arguments that rebuild an attrs object, those at their default left
    out: a field with ``init=False`` is derived, not passed; a private field (``_within``)
    is passed by its alias (``within``)."""
    out = []
    for f in _fields(obj):
        if not f.init:
            continue
        value = getattr(obj, f.name)
        default = f.default
        if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            default = default.factory() if not default.takes_self else attrs.NOTHING
        # _value_equals, not ==: a field may hold an expression, whose == builds a node.
        if default is not attrs.NOTHING and _value_equals(value, default):
            continue
        out.append((getattr(f, "alias", None) or f.name.lstrip("_"), value))
    return out


def as_expr(value: Any, *, like: Expr | None = None) -> Expr:
    """Turn a raw operand (number, string, datetime) into an expression node."""
    if isinstance(value, Expr):
        return value
    if like is not None and like.kind == "time" and isinstance(value, (str, datetime)):
        return Lit(to_utc(value, what="comparison value", loaded=False))
    return Lit(value)


def _within(value: Any) -> Duration | None:
    return None if value is None else as_duration(value, what="within")


def _since_signup(value: Any) -> Duration | None:
    return None if value is None else as_duration(value, what="since_signup")


def _opt_name(value: Any) -> str | None:
    if value is None:
        return None
    value = plain(value)
    if not isinstance(value, str) or not value:
        raise PqlkitTypeError(f"an event name must be a non-empty string, got {value!r}")
    return value


def _where(value: Any) -> Expr | None:
    if value is None:
        return None
    if not isinstance(value, Expr):
        raise PqlkitTypeError(
            f"where= takes a property condition such as prop('plan') == 'pro', got {value!r}"
        )
    if value.scope == "entity":
        raise PqlkitTypeError(
            f"where= tests event properties with prop(...); {value!r} uses entity signals"
        )
    if value.kind in ("number", "time", "text"):
        # (Its truthiness would filter: 0 and "" out, anything else in.)
        raise PqlkitTypeError(
            f"where= takes a property condition, but {value!r} is a {value.kind}; compare "
            f"it, e.g. {compared(value)}")
    return value


def _key(value: Any) -> str:
    value = plain(value)
    if not isinstance(value, str) or not value:
        raise PqlkitTypeError(f"a property or trait key must be a non-empty string, got {value!r}")
    return value


# -- literals and event properties ---------------------------------------------------------


def _as_lists(value: Any) -> Any:
    """Tuples as lists, at any depth: how a literal prints and parses back (``isin`` reads
    a list and a tuple alike, as the log holds lists as tuples)."""
    if isinstance(value, (list, tuple)):
        return [_as_lists(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _as_lists(v) for k, v in value.items()}
    return value


def _options(values: Iterable[Any]) -> tuple[Any, ...]:
    """``isin``'s values, as plain values (:func:`plain`), tuples as lists
    (:func:`_as_lists`)."""
    values = list(values)
    _shallow(values)
    return tuple(_as_lists(plain(v)) for v in values)


def _shallow(values: list[Any]) -> None:
    """Refuse ``isin`` values nested deeper than a property may be (or holding
    themselves), as records refuse such a property: no loaded value could equal them."""
    stack: list[tuple[Any, int, frozenset[int]]] = [(v, 1, frozenset()) for v in values]
    while stack:
        value, depth, path = stack.pop()
        if not isinstance(value, (list, tuple, Mapping)):
            continue
        if id(value) in path:
            raise ValidationError("isin() value holds itself (a list or mapping inside "
                                  "itself); give plain values")
        if depth > MAX_DEPTH:
            raise ValidationError(f"isin() value nests lists and mappings more than "
                                  f"{MAX_DEPTH} levels deep, as no property may; flatten it")
        inner = value.values() if isinstance(value, Mapping) else value
        stack.extend((v, depth + 1, path | {id(value)}) for v in inner)


#: Ints of more bits are beyond every float (2**1024), so beyond any signal's value.
MAX_INT_BITS: Final = 1100


def too_big(value: Any) -> bool:
    """An int beyond every float (and so beyond any score, count or number of days)."""
    return isinstance(value, int) and not isinstance(value, bool) and (
        value.bit_length() > MAX_INT_BITS)


def about_digits(value: int) -> str:
    """A long int described by its size: Python refuses to print one of more than 4300
    digits, and a message has no room for it anyway."""
    return f"an integer of about {int(value.bit_length() * 0.30103)} digits"


def _check_literal(value: Any, what: str) -> None:
    """Refuse what no loaded value can equal (such a literal would never match): a
    non-finite number, a naive datetime; inside lists and mappings too."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValidationError(f"{what} must be finite, got {value!r}")
    if too_big(value):
        raise ValidationError(
            f"{what} is {about_digits(value)}, beyond any number a signal gives (floats "
            "end near 1.8e308)")
    if isinstance(value, np.datetime64):  # (plain() leaves only NaT as a datetime64)
        raise ValidationError(f"{what} is NaT (not a time); use None for a missing value")
    if isinstance(value, datetime) and value.tzinfo is None:
        raise ValidationError(
            f"{what} {value!r} has no time zone; give it one "
            "(datetime(..., tzinfo=timezone.utc)) or write pk.at('2026-05-01T00:00:00Z')")
    items = value.values() if isinstance(value, Mapping) else value if isinstance(
        value, (list, tuple)) else ()
    for item in items:
        _check_literal(item, what)

@attrs.frozen(eq=False, repr=False)
class Lit(Expr):
    """A constant operand."""

    value: Any = attrs.field(converter=plain)

    def __attrs_post_init__(self) -> None:
        v = self.value
        # (A constant of a comparison, an arithmetic or a function: "comparison value"
        # misnamed the nan of count('a') + nan.)
        _check_literal(v, "a constant in an expression")
        if not (v is None or isinstance(v, (int, float, str, bool, datetime))):
            raise PqlkitTypeError(
                f"cannot use {v!r} ({type(v).__name__}) in an expression; use a number, "
                "string, boolean, datetime or another signal"
            )

    @property
    def kind(self) -> Kind:  # type: ignore[override]
        v = self.value
        if isinstance(v, bool):
            return "bool"
        if isinstance(v, (int, float)):
            return "number"
        if isinstance(v, str):
            return "text"
        if isinstance(v, datetime):
            return "time"
        return "any"

    @property
    def scope(self) -> Scope:
        return "const"

    def __repr__(self) -> str:
        return _fmt(self.value)


@attrs.frozen(eq=False, repr=False)
class Prop(Expr):
    """A property of one event, for ``where=`` filters."""

    key: str = attrs.field(converter=_key)

    @property
    def scope(self) -> Scope:
        return "event"

    def __repr__(self) -> str:
        return f"prop({self.key!r})"


def prop(key: str) -> Prop:
    """An event property, used in ``where=`` filters.

    >>> count("page_viewed", where=prop("page") == "/pricing")
    count('page_viewed', where=prop('page') == '/pricing')
    """
    return Prop(key)


# -- entity signals over events --------------------------------------------------------------

def _signal_args(sig: EventSignal, first: list[str]) -> str:
    parts = list(first)
    if sig.within is not None:
        parts.append(f"within={sig.within!r}")
    if sig.since_signup is not None:
        parts.append(f"since_signup={sig.since_signup!r}")
    if sig.where is not None:
        parts.append(f"where={sig.where!r}")
    decay = getattr(sig, "decay", None)
    if decay is not None:
        parts.append(f"decay={decay!r}")
    return ", ".join(parts)


@attrs.frozen(eq=False, repr=False, kw_only=True)
class EventSignal(Expr):
    """A signal computed from an entity's events matching a name, windows and a filter."""

    name: str | None = attrs.field(default=None, converter=_opt_name)
    within: Duration | None = attrs.field(default=None, converter=_within)
    since_signup: Duration | None = attrs.field(
        default=None, converter=_since_signup
    )
    where: Expr | None = attrs.field(default=None, converter=_where)

    builder: ClassVar[str] = ""

    @property
    def scope(self) -> Scope:
        return "entity"

    def children(self) -> tuple[Expr, ...]:
        # The filter is evaluated per event, not per entity; it is not a child expression.
        return ()

    def with_window(self, within: Any) -> EventSignal:
        """The same signal over events in the last ``within`` before ``as_of``."""
        return attrs.evolve(self, within=within)

    def with_since_signup(self, since_signup: Any) -> EventSignal:
        """The same signal over events in the first ``since_signup`` after signup."""
        return attrs.evolve(self, since_signup=since_signup)

    def filtered(self, where: Expr) -> EventSignal:
        """The same signal over events whose properties pass ``where`` (and any earlier one)."""
        return attrs.evolve(self, where=where if self.where is None else And(self.where, where))

    def _first_args(self) -> list[str]:
        return [] if self.name is None else [repr(self.name)]

    def __repr__(self) -> str:
        return f"{self.builder}({_signal_args(self, self._first_args())})"


def _opt_decay(value: Any) -> Any:
    if value is None:
        return None
    if not callable(getattr(value, "apply", None)):
        raise PqlkitTypeError(
            f"decay= takes a decay such as pk.HalfLife('14d'), got {value!r}"
        )
    return value


@attrs.frozen(eq=False, repr=False, kw_only=True)
class Count(EventSignal):
    """How many matching events (each weighted by its age when ``decay`` is given)."""

    decay: Any = attrs.field(default=None, converter=_opt_decay)
    kind: ClassVar[Kind] = "number"
    builder: ClassVar[str] = "count"


@attrs.frozen(eq=False, repr=False, kw_only=True)
class Exists(EventSignal):
    """Whether any matching event exists."""

    kind: ClassVar[Kind] = "bool"
    builder: ClassVar[str] = "exists"


@attrs.frozen(eq=False, repr=False, kw_only=True)
class FirstSeen(EventSignal):
    """The timestamp of the first matching event (missing when none)."""

    kind: ClassVar[Kind] = "time"
    builder: ClassVar[str] = "first_seen"


@attrs.frozen(eq=False, repr=False, kw_only=True)
class LastSeen(EventSignal):
    """The timestamp of the latest matching event (missing when none)."""

    kind: ClassVar[Kind] = "time"
    builder: ClassVar[str] = "last_seen"


@attrs.frozen(eq=False, repr=False, kw_only=True)
class DaysSinceLast(EventSignal):
    """Days (fractional) from the latest matching event to ``as_of`` (missing when none)."""

    kind: ClassVar[Kind] = "number"
    builder: ClassVar[str] = "days_since_last"


@attrs.frozen(eq=False, repr=False, kw_only=True)
class DaysSinceFirst(EventSignal):
    """Days (fractional) from the first matching event to ``as_of`` (missing when none)."""

    kind: ClassVar[Kind] = "number"
    builder: ClassVar[str] = "days_since_first"


@attrs.frozen(eq=False, repr=False, kw_only=True)
class ActiveDays(EventSignal):
    """How many distinct UTC calendar days hold a matching event."""

    kind: ClassVar[Kind] = "number"
    builder: ClassVar[str] = "active_days"


@attrs.frozen(eq=False, repr=False, kw_only=True)
class Distinct(EventSignal):
    """How many distinct non-missing values a property takes over matching events."""

    property: str = attrs.field(converter=_key)
    kind: ClassVar[Kind] = "number"
    builder: ClassVar[str] = "distinct"

    def _first_args(self) -> list[str]:
        return [repr(self.property)] + ([] if self.name is None else [f"of={self.name!r}"])


@attrs.frozen(eq=False, repr=False, kw_only=True)
class Total(EventSignal):
    """The sum of a numeric property over matching events (non-numbers are skipped)."""

    property: str = attrs.field(converter=_key)
    decay: Any = attrs.field(default=None, converter=_opt_decay)
    kind: ClassVar[Kind] = "number"
    builder: ClassVar[str] = "total"

    def _first_args(self) -> list[str]:
        return [repr(self.property)] + ([] if self.name is None else [f"of={self.name!r}"])


@attrs.frozen(eq=False, repr=False, kw_only=True)
class DistinctUsers(EventSignal):
    """Account level: how many distinct users have a matching event."""

    kind: ClassVar[Kind] = "number"
    builder: ClassVar[str] = "distinct_users"
    account_only: ClassVar[bool] = True

    def __repr__(self) -> str:
        if self.name is None and self.where is None and self.since_signup is None:
            return f"active_users({_signal_args(self, [])})"
        return super().__repr__()


@attrs.frozen(eq=False, repr=False)
class Trait(Expr):
    """A trait of the entity (``email``, ``role``, ``plan`` …); missing when absent.

    ``email_domain`` is derived from ``email`` when the traits do not set it.
    """

    key: str = attrs.field(converter=_key)

    @property
    def scope(self) -> Scope:
        return "entity"

    def __repr__(self) -> str:
        return f"trait({self.key!r})"


# -- operators -----------------------------------------------------------------------------

def _wrap(node: Expr, parent: str, *, left: bool = False) -> str:
    op = _op_of(node)
    if op is None:
        return repr(node)
    tighter = _PRECEDENCE[op] > _PRECEDENCE[parent]
    same_left = left and op == parent and op != "cmp"
    return repr(node) if tighter or same_left else f"({node!r})"


def _chain_repr(node: Expr, op: str) -> str:
    """``a | b | c`` (or ``a + b + c``) of a chain of one operator, without a call per
    link: a rule "any of these 300 events" built with ``functools.reduce`` nests 300 deep,
    past Python's recursion limit for a recursive repr (the text is the same)."""
    first, *rest = chain(node)
    return f" {op} ".join([_wrap(first, op, left=True)] + [_wrap(r, op) for r in rest])


def chain(node: Expr) -> list[Expr]:
    """The operands of the chain of one operator that ``node`` heads, left to right:
    ``[a, b, c]`` for ``(a | b) | c`` (as ``|`` and ``functools.reduce`` build it), or for
    ``a + b + c``; ``[left, right]`` when the left operand is not the same operator.
    Engines evaluate a chain in a loop: a rule "any of these 1,000 events" nests 1,000
    deep, past Python's recursion limit for a call per level."""
    op = _op_of(node)
    links: list[Expr] = []
    while isinstance(node, _Chain) and _op_of(node) == op:
        links.append(node.right)  # type: ignore[attr-defined]
        node = node.left  # type: ignore[attr-defined]
    links.append(node)
    links.reverse()
    return links


def _rebuilt(cls: type[Expr], op: str | None, operands: tuple[Expr, ...]) -> Expr:
    """A chain of one operator from its operands, left to right, as ``|`` (or ``&``, or
    an arithmetic operator) builds it. Chains pickle and copy as their operands: pickle
    goes a call per level of nesting, and a 2,000-link chain went past its limit."""
    node = operands[0]
    for operand in operands[1:]:
        node = cls(node, operand) if op is None else cls(op, node, operand)  # type: ignore[call-arg]
    return node


def _op_of(node: Expr) -> str | None:
    if isinstance(node, Compare):
        return "cmp"
    if isinstance(node, Arith):
        return node.op
    if isinstance(node, And):
        return "&"
    if isinstance(node, Or):
        return "|"
    if isinstance(node, Not):
        return "~"
    return None


def _cmp_op(value: str) -> str:
    if value not in COMPARE_OPS:
        raise ValidationError(f"unknown comparison {value!r}; use one of {list(COMPARE_OPS)}")
    return value


@attrs.frozen(eq=False, repr=False)
class Compare(Expr):
    """``left <op> right``; False when either side is missing or they do not compare."""

    op: str = attrs.field(converter=_cmp_op)
    left: Expr
    right: Expr
    kind: ClassVar[Kind] = "bool"

    def __attrs_post_init__(self) -> None:
        _ = self.scope
        for side, other in ((self.left, self.right), (self.right, self.left)):
            if isinstance(side, (And, Or, Not)) and isinstance(other, Lit) and not isinstance(
                    other.value, bool):
                # exists('a') & trait('role') == 'admin' reads (exists('a') & trait('role'))
                # == 'admin' in Python: a comparison of a condition, never what was meant.
                raise PqlkitTypeError(
                    f"{self.op} compares the condition {side!r} with a value; & and | bind "
                    "tighter than comparisons in Python, so put parentheses around each "
                    "comparison: exists('a') & (trait('role') == 'admin'), or join them "
                    "with and/or in a model file")
        for side, other in ((self.left, self.right), (self.right, self.left)):
            if isinstance(other, Lit) and other.value is None:
                # (A comparison with a missing value is False, whatever the operator.)
                raise ValidationError(
                    f"{self!r} compares with None, which never holds: a comparison with a "
                    f"missing value is False; test {side!r}.is_missing() or "
                    f"{side!r}.is_present()")
        kinds = {self.left.kind, self.right.kind} - {"any"}
        if "time" in kinds and len(kinds) > 1:
            # A moment never equals a number or a text: the comparison could only be False.
            raise PqlkitTypeError(
                f"cannot compare a {self.left.kind} with a {self.right.kind} in {self!r}; "
                "compare first_seen()/last_seen() with a moment, or days_since_*() with a "
                "number of days"
            )
        if len(kinds) > 1 and kinds != {"number", "bool"} and self.op not in ("==", "!="):
            raise PqlkitTypeError(
                f"cannot order a {self.left.kind} against a {self.right.kind} in {self!r}"
            )
        if "text" in kinds and kinds & {"number", "bool"}:
            # count('x') == '2' compares a number with a text: never equal.
            raise PqlkitTypeError(
                f"{self!r} compares a {self.left.kind} with a {self.right.kind}, which are "
                "never equal; write the value as a number (count('x') == 2)")

    def __repr__(self) -> str:
        return f"{self._side(self.left, self.right)} {self.op} {self._side(self.right, self.left)}"

    @staticmethod
    def _side(side: Expr, other: Expr) -> str:
        if isinstance(side, Lit) and isinstance(side.value, datetime) and other.kind != "time":
            # Beside a trait or property, an ISO string would rebuild a text comparison.
            return _literal(side.value)
        return _wrap(side, "cmp")


def _literal(value: Any) -> str:
    """A literal as the code that builds it: moments as ``at('...')`` (beside a trait or
    property, an ISO string would be text), at any depth of a list or mapping."""
    if isinstance(value, datetime):
        return f"at({value.isoformat().replace('+00:00', 'Z')!r})"
    if isinstance(value, (list, tuple)):
        return f"[{', '.join(map(_literal, value))}]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k!r}: {_literal(v)}" for k, v in value.items()) + "}"
    return repr(value)


def _arith_op(value: str) -> str:
    if value not in ARITH_OPS:
        raise ValidationError(f"unknown operator {value!r}; use one of {list(ARITH_OPS)}")
    return value


class _Chain(Expr):
    """A node that chains one operator (``&``, ``|``, an arithmetic one): printed and
    pickled as its chain's operands (:func:`chain`), without a call per link."""

    def __repr__(self) -> str:
        return _chain_repr(self, cast(str, _op_of(self)))

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuilt, (type(self), getattr(self, "op", None), tuple(chain(self)))


@attrs.frozen(eq=False, repr=False)
class Arith(_Chain):
    """``left <op> right`` on numbers (booleans count as 0/1); missing when a side is."""

    op: str = attrs.field(converter=_arith_op)
    left: Expr
    right: Expr
    kind: ClassVar[Kind] = "number"

    def __attrs_post_init__(self) -> None:
        _ = self.scope
        for side in (self.left, self.right):
            if side.kind in ("text", "time"):
                raise PqlkitTypeError(
                    f"arithmetic needs numbers, but {side!r} is a {side.kind} in {self!r}"
                )
            if isinstance(side, Lit) and side.value is None:
                raise ValidationError(
                    f"{self!r} is always missing (arithmetic with None); use a number")
        if (self.op == "/" and isinstance(self.right, Lit)
                and not isinstance(self.right.value, bool) and self.right.value == 0):
            raise ValidationError(f"{self!r} divides by 0, which is always missing")


def _as_condition(node: Expr, op: str) -> Expr:
    if node.kind in ("number", "time", "text"):
        raise PqlkitTypeError(
            f"{node!r} is a {node.kind}, not a condition; compare it before using {op}, "
            f"e.g. {compared(node)}{kind_hint(node)}"
        )
    return node


def compared(node: Expr) -> str:
    """A comparison of ``node`` that its kind allows, to show in an error's example: a
    number with 1, a time with a moment, a text with a string."""
    if node.kind == "time":
        return f"{node!r} >= at('2026-05-01T00:00:00Z')"
    if node.kind == "text":
        return f"{node!r} == 'pro'"
    return f"{node!r} >= 1"



def kind_hint(node: Expr) -> str:
    """For a custom signal whose class never set ``kind`` (a number by default), how to."""
    if isinstance(node, Signal) and not any("kind" in vars(c) for c in type(node).__mro__
                                             if c is not Signal and issubclass(c, Signal)):
        return (f"; or, if {type(node).__name__} gives True/False, say so in its class: "
                "kind: ClassVar[str] = 'bool'")
    return ""


def _cond_and(value: Any) -> Expr:
    return _as_condition(as_expr(value), "&")


def _cond_or(value: Any) -> Expr:
    return _as_condition(as_expr(value), "|")


def _cond_not(value: Any) -> Expr:
    return _as_condition(as_expr(value), "~")


@attrs.frozen(eq=False, repr=False)
class And(_Chain):
    """Both conditions hold."""

    left: Expr = attrs.field(converter=_cond_and)
    right: Expr = attrs.field(converter=_cond_and)
    kind: ClassVar[Kind] = "bool"

    def __attrs_post_init__(self) -> None:
        _ = self.scope


@attrs.frozen(eq=False, repr=False)
class Or(_Chain):
    """At least one condition holds."""

    left: Expr = attrs.field(converter=_cond_or)
    right: Expr = attrs.field(converter=_cond_or)
    kind: ClassVar[Kind] = "bool"

    def __attrs_post_init__(self) -> None:
        _ = self.scope


@attrs.frozen(eq=False, repr=False)
class Not(Expr):
    """The condition does not hold (a missing comparison is False, so its negation is True)."""

    operand: Expr = attrs.field(converter=_cond_not)
    kind: ClassVar[Kind] = "bool"

    def __repr__(self) -> str:
        return f"~{_wrap(self.operand, '~', left=True)}"


@attrs.frozen(eq=False, repr=False)
class IsIn(Expr):
    """The value is one of a fixed set."""

    operand: Expr
    values: tuple[Any, ...] = attrs.field(converter=_options)
    kind: ClassVar[Kind] = "bool"

    def __attrs_post_init__(self) -> None:
        for value in self.values:
            _check_literal(value, "isin() value")
            if value is None:
                raise ValidationError(
                    f"isin() value None never matches: a missing value is in no list; "
                    f"write {self.operand!r}.isin([...]) | {self.operand!r}.is_missing()")

    def __repr__(self) -> str:
        return f"{_wrap(self.operand, '~')}.isin({_literal(list(self.values))})"


@attrs.frozen(eq=False, repr=False)
class IsMissing(Expr):
    """The value is missing."""

    operand: Expr
    kind: ClassVar[Kind] = "bool"

    def __repr__(self) -> str:
        return f"{_wrap(self.operand, '~')}.is_missing()"


_STR_OPS: Final = ("startswith", "endswith", "contains")


@attrs.frozen(eq=False, repr=False)
class StrTest(Expr):
    """A string test; False when the value is not a string."""

    op: str
    operand: Expr
    arg: str
    ignore_case: bool = False
    kind: ClassVar[Kind] = "bool"

    def __attrs_post_init__(self) -> None:
        if self.op not in _STR_OPS:
            raise ValidationError(f"unknown string test {self.op!r}; use one of {_STR_OPS}")
        if not isinstance(self.ignore_case, bool):
            raise PqlkitTypeError(
                f"{self.op}(): ignore_case must be True or False, got {self.ignore_case!r}")
        _text_operand(self.operand, f".{self.op}()")

    def __repr__(self) -> str:
        extra = ", ignore_case=True" if self.ignore_case else ""
        return f"{_wrap(self.operand, '~')}.{self.op}({self.arg!r}{extra})"


@attrs.frozen(eq=False, repr=False)
class Lower(Expr):
    """The value lower-cased when it is a string."""

    operand: Expr
    kind: ClassVar[Kind] = "text"

    def __attrs_post_init__(self) -> None:
        _text_operand(self.operand, ".lower()")

    def __repr__(self) -> str:
        return f"{_wrap(self.operand, '~')}.lower()"


def _text_operand(operand: Expr, method: str) -> None:
    """Refuse a text test on a number, a condition or a moment: it could never be true."""
    if operand.kind in ("number", "bool", "time"):
        raise PqlkitTypeError(
            f"{operand!r}{method} tests text, but {operand!r} is a {operand.kind}; text tests "
            "apply to traits, properties and other text")


# -- builders (the public vocabulary) --------------------------------------------------------

def count(name: str | None = None, *, within: Any = None, since_signup: Any = None,
          where: Expr | None = None, decay: Any = None) -> Count:
    """How many events named ``name`` (any name when None) the entity has as of ``as_of``.

    Args:
        name: the event name, or None for every event.
        within: only events in the last ``within`` before ``as_of`` (``"14d"``).
        since_signup: only events in the first ``since_signup`` after signup.
        where: only events whose properties pass this ``prop(...)`` condition.
        decay: weight each event by its age with this decay (e.g. ``pk.HalfLife("14d")``).

    >>> count("teammate_invited", within="14d") >= 2
    count('teammate_invited', within='14d') >= 2
    """
    return Count(name=name, within=within, since_signup=since_signup, where=where, decay=decay)


def exists(name: str | None = None, *, within: Any = None, since_signup: Any = None,
           where: Expr | None = None) -> Exists:
    """Whether the entity has any event named ``name`` (in the window, passing the filter).

    >>> exists("data_source_connected", since_signup="14d")
    exists('data_source_connected', since_signup='14d')
    """
    return Exists(name=name, within=within, since_signup=since_signup, where=where)


def first_seen(name: str | None = None, *, within: Any = None, since_signup: Any = None,
               where: Expr | None = None) -> FirstSeen:
    """When the entity's first matching event happened (missing when none).

    >>> first_seen("project_created") >= "2026-05-01T00:00:00Z"
    first_seen('project_created') >= '2026-05-01T00:00:00Z'
    """
    return FirstSeen(name=name, within=within, since_signup=since_signup, where=where)


def last_seen(name: str | None = None, *, within: Any = None, since_signup: Any = None,
              where: Expr | None = None) -> LastSeen:
    """When the entity's latest matching event happened (missing when none).

    >>> last_seen()
    last_seen()
    """
    return LastSeen(name=name, within=within, since_signup=since_signup, where=where)


def days_since_last(name: str | None = None, *, within: Any = None, since_signup: Any = None,
                    where: Expr | None = None) -> DaysSinceLast:
    """Days from the entity's latest matching event to ``as_of``; missing without events.

    >>> days_since_last() < 7
    days_since_last() < 7
    """
    return DaysSinceLast(name=name, within=within, since_signup=since_signup, where=where)


def days_since_first(name: str | None = None, *, within: Any = None, since_signup: Any = None,
                     where: Expr | None = None) -> DaysSinceFirst:
    """Days from the entity's first matching event to ``as_of``; missing without events.

    >>> days_since_first("project_created") <= 30
    days_since_first('project_created') <= 30
    """
    return DaysSinceFirst(name=name, within=within, since_signup=since_signup, where=where)


def active_days(name: str | None = None, *, within: Any = None, since_signup: Any = None,
                where: Expr | None = None) -> ActiveDays:
    """On how many distinct UTC days the entity had a matching event.

    >>> active_days(within="30d") >= 5
    active_days(within='30d') >= 5
    """
    return ActiveDays(name=name, within=within, since_signup=since_signup, where=where)


def distinct(property: str, *, of: str | None = None, within: Any = None,
             since_signup: Any = None, where: Expr | None = None) -> Distinct:
    """How many distinct values ``property`` takes over the entity's events named ``of``.

    >>> distinct("feature", of="integration_connected") >= 2
    distinct('feature', of='integration_connected') >= 2
    """
    return Distinct(property=property, name=of, within=within, since_signup=since_signup,
                    where=where)


def total(property: str, *, of: str | None = None, within: Any = None,
          since_signup: Any = None, where: Expr | None = None, decay: Any = None) -> Total:
    """The sum of numeric ``property`` over the entity's events named ``of``.

    >>> total("count", of="message_sent") >= 2000
    total('count', of='message_sent') >= 2000
    """
    return Total(property=property, name=of, within=within, since_signup=since_signup,
                 where=where, decay=decay)


def trait(key: str) -> Trait:
    """A trait of the entity: a user's (email, role …) or, at account level, an account's.

    >>> trait("email").endswith(".edu", ignore_case=True)
    trait('email').endswith('.edu', ignore_case=True)
    """
    return Trait(key)


def distinct_users(name: str | None = None, *, within: Any = None, since_signup: Any = None,
                   where: Expr | None = None) -> DistinctUsers:
    """Account level: how many distinct users of the account have a matching event.

    >>> distinct_users("saved_query_run", within="7d") >= 3
    distinct_users('saved_query_run', within='7d') >= 3
    """
    return DistinctUsers(name=name, within=within, since_signup=since_signup, where=where)


def active_users(*, within: Any = None) -> DistinctUsers:
    """Account level: how many distinct users of the account have any event in the window.

    >>> active_users(within="30d") >= 10
    active_users(within='30d') >= 10
    """
    return DistinctUsers(within=within)
