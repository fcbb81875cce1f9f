"""Engines: what evaluates a :class:`~pqlkit.ScoringModel` over an :class:`~pqlkit.EventLog`.

An engine has one ``visit_<Node>`` method per node kind; :meth:`Engine.evaluate` finds the
method through the node's class hierarchy, so a node an engine does not know raises
:class:`~pqlkit.errors.EngineNotSupportedError` by itself. Engines register by name.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from pqlkit._time import to_micros, to_utc
from pqlkit.errors import EngineNotSupportedError, ValidationError

if TYPE_CHECKING:
    from pqlkit.eventlog import EventLog
    from pqlkit.model import ScoringModel
    from pqlkit.results import ScoreResult

__all__ = ["DEFAULT_ENGINE", "ENGINES", "Engine", "get_engine", "resolve_as_of"]


class Engine:
    """Base class of engines: dispatch to ``visit_<NodeClass>`` methods."""

    name = "base"

    def evaluate(self, node: Any, ctx: Any) -> Any:
        """Evaluate ``node`` in ``ctx`` with the visit method for its class (or a base)."""
        for cls in type(node).__mro__:
            method = getattr(self, f"visit_{cls.__name__}", None)
            if method is not None:
                return method(node, ctx)
        raise EngineNotSupportedError(
            f"the {self.name!r} engine cannot evaluate {type(node).__name__} nodes ({node!r})"
        )

    def score(self, model: ScoringModel, log: EventLog, *, as_of: Any = None) -> ScoreResult:
        raise NotImplementedError


def resolve_as_of(log: EventLog, as_of: Any) -> tuple[datetime, int]:
    """The moment to score for: ``as_of`` normalised, or the latest event timestamp."""
    if as_of is None:
        latest = log.max_timestamp
        if latest is None:
            raise ValidationError(
                "the event log holds no events to take as_of from; pass as_of= explicitly"
            )
        return latest, to_micros(latest)
    moment = to_utc(as_of, what="as_of", loaded=False)
    return moment, to_micros(moment)


def _engines() -> dict[str, type[Engine]]:
    from pqlkit.engine.columnar import ColumnarEngine
    from pqlkit.engine.reference import ReferenceEngine

    return {"columnar": ColumnarEngine, "reference": ReferenceEngine}


#: The engines by name.
ENGINES = ("columnar", "reference")
#: The engine :meth:`ScoringModel.score` uses when none is named.
DEFAULT_ENGINE = "columnar"


def get_engine(name: str | Engine | None = None) -> Engine:
    """The engine called ``name`` (``"columnar"`` or ``"reference"``), ``name`` itself if
    it is one, or the default engine (:data:`DEFAULT_ENGINE`) for None."""
    if isinstance(name, Engine):
        return name
    if name is None:
        name = DEFAULT_ENGINE
    engines = _engines()
    if name not in engines:
        raise ValidationError(
            f"unknown engine {name!r}; available engines: {', '.join(sorted(engines))}"
        )
    return engines[name]()
