"""The exact sum every engine and result uses for points and scores."""

from __future__ import annotations

import math
from collections.abc import Iterable
from fractions import Fraction

__all__ = ["fsum"]


def fsum(values: Iterable[float]) -> float:
    """``math.fsum`` — the exact sum of the values, rounded once — defined everywhere, as
    IEEE arithmetic would round it: an exact sum beyond the float range is ``±inf`` (fsum
    raises on it, or on an intermediate overflow of a sum that fits), an infinity is kept,
    and ``inf + -inf`` is nan (fsum raises).

    >>> fsum([1e308, 1e308]), fsum([1e308, 1e308, -1e308]), fsum([math.inf, 1.0])
    (inf, 1e+308, inf)
    """
    values = list(values)
    try:
        return math.fsum(values)
    except ValueError:  # inf + -inf
        return math.nan
    except OverflowError:  # on the way: finite values too large, maybe beside an infinity
        pass
    if any(math.isnan(v) for v in values):
        return math.nan
    signs = {v > 0 for v in values if math.isinf(v)}
    if signs:
        return math.nan if len(signs) > 1 else (math.inf if True in signs else -math.inf)
    total = sum(map(Fraction, values), Fraction(0))  # exactly
    try:
        return float(total)
    except OverflowError:
        return math.inf if total > 0 else -math.inf
