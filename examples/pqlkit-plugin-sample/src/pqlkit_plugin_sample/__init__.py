"""A sample pqlkit plugin: a signal, a rule and a decay that model files can name.

Each is a frozen attrs class following pqlkit's protocols (``pk.Signal``; a rule's ``name``
and ``points_for(ctx)``; a decay's ``apply(value, age)``). The entry points in this
package's ``pyproject.toml`` register them, and a model file then names them like
built-ins::

    when = "storage_quota_proximity(default_quota_mb=1000) >= 0.8"

    [[rules]]
    type = "bands"
    name = "queries"
    signal = "count('saved_query_run', within='30d')"
    bands = [[3, 10], [10, 30]]

    [decay]
    type = "linear_to_zero"
    over = "60d"

Arguments that are expressions (``Bands.signal``) are annotated ``pk.Expr``, so a model file
writes them as expression text; durations are strings like ``'60d'``, so their ``repr`` is
the call a model file holds.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar

import attrs

import pqlkit as pk
from pqlkit.expr import Kind

__all__ = ["Bands", "LinearToZero", "StorageQuotaProximity"]


@attrs.frozen(eq=False, repr=False, kw_only=True)
class StorageQuotaProximity(pk.Signal):
    """The latest reported storage use over the quota: 0.8 means 80 % of the quota is used.

    Missing (None) when the entity never reported usage or has no quota.

    Args:
        usage_property: the numeric event property carrying storage used (MB).
        quota_trait: the trait holding the quota (MB).
        default_quota_mb: the quota when the trait is absent (None: no default).
        within: only look at usage reported in this window before ``as_of``.
    """

    usage_property: str = "storage_used_mb"
    quota_trait: str = "storage_quota_mb"
    default_quota_mb: float | None = None
    within: str | None = None

    kind: ClassVar[Kind] = "number"

    def _reports(self, ctx: Any) -> pk.EventSet:
        has_usage = pk.prop(self.usage_property).is_present()
        return ctx.events(within=self.within, where=has_usage)  # type: ignore[no-any-return]

    def evaluate(self, ctx: Any) -> float | None:
        quota = ctx.traits.get(self.quota_trait, self.default_quota_mb)
        if not isinstance(quota, (int, float)) or isinstance(quota, bool) or quota <= 0:
            return None
        usage = [v for v in self._reports(ctx).values(self.usage_property)
                 if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if not usage:
            return None
        # Events come oldest first, so the last report is the current usage.
        return float(usage[-1]) / float(quota)

    def evidence(self, ctx: Any) -> pk.EventSet:
        """The usage reports the value was read from."""
        return self._reports(ctx)


def _same_expression(a: pk.Expr, b: pk.Expr) -> bool:
    # == on an expression builds a condition; compare structurally instead.
    return a.equals(b)


def _bands(value: Any) -> tuple[tuple[float, float], ...]:
    bands = tuple((bar, points) for bar, points in value)
    if not bands:
        raise ValueError("Bands: give at least one (minimum value, points) band")
    return bands


@attrs.frozen(kw_only=True)
class Bands:
    """Points by bands of a numeric signal: the highest band reached wins.

    >>> Bands(name="queries", signal=pk.count("saved_query_run"), bands=[(3, 10), (10, 30)])
    Bands(name='queries', signal=count('saved_query_run'), bands=((3, 10), (10, 30)), group=None, decay=None)
    """

    name: str
    signal: pk.Expr = attrs.field(eq=attrs.cmp_using(eq=_same_expression))
    bands: tuple[tuple[float, float], ...] = attrs.field(converter=_bands)
    group: str | None = None
    decay: Any = None

    def points_for(self, ctx: Any) -> float:
        """The points of the highest band the signal's value reaches (0 below them all)."""
        value = ctx.evaluate(self.signal)
        reached = [points for bar, points in self.bands if value is not None and value >= bar]
        return max(reached, default=0)


def _span(value: Any) -> pk.Duration:
    span = pk.as_duration(value, what="LinearToZero over")
    span.fixed_micros(what="LinearToZero over")
    return span


@attrs.frozen
class LinearToZero:
    """Lose value linearly with age, reaching zero after ``over``.

    >>> LinearToZero("60d").apply(40, timedelta(days=15))
    30.0
    """

    over: pk.Duration = attrs.field(converter=_span)

    def apply(self, value: float, age: timedelta) -> float:
        """What ``value`` is worth at ``age``."""
        left = 1 - (age / timedelta(microseconds=self.over.micros))
        return value * max(0.0, left)
