"""pqlkit: score Product Qualified Leads and Accounts from product event data.

>>> import pqlkit as pk
>>> model = pk.ScoringModel(
...     name="mini",
...     rules=[pk.Rule("activation", pk.count("project_created") >= 1, points=40)],
...     threshold=40,
... )
>>> log = pk.EventLog.from_records([
...     {"name": "project_created", "timestamp": "2026-05-01T09:00:00Z", "user_id": "u1"},
... ])
>>> model.score(log).users["u1"]["is_pql"]
True
"""

from __future__ import annotations

from pqlkit import errors, io
from pqlkit._time import Duration, as_duration, from_epoch
from pqlkit.engine.reference import EntityContext, EventSet
from pqlkit.errors import PqlkitError, ValidationError
from pqlkit.eventlog import EventLog
from pqlkit.expr import (
    Expr,
    Signal,
    active_days,
    active_users,
    at,
    count,
    days_since_first,
    days_since_last,
    distinct,
    distinct_users,
    exists,
    first_seen,
    last_seen,
    prop,
    total,
    trait,
)
from pqlkit.lang import parse_expr
from pqlkit.model import (
    Decay,
    HalfLife,
    InactivityDecay,
    ResetAfter,
    Rollup,
    Rule,
    RuleLike,
    ScoringModel,
)
from pqlkit.modelfile import ModelProblem, load_model, validate_model
from pqlkit.records import Account, Event, User
from pqlkit.report import LoadReport, Rejection
from pqlkit.results import Explanation, RollupExplanation, ScoreResult, Table

__version__ = "0.1.0"

__all__ = [
    "Account", "Decay", "Duration", "EntityContext", "Event", "EventLog", "EventSet",
    "Explanation", "Expr", "HalfLife", "InactivityDecay", "LoadReport", "ModelProblem",
    "PqlkitError",
    "Rejection", "ResetAfter", "Rollup", "RollupExplanation", "Rule", "RuleLike",
    "ScoreResult", "ScoringModel", "Signal", "Table", "User", "ValidationError",
    "__version__", "active_days", "active_users", "as_duration", "at", "count", "days_since_first",
    "days_since_last", "distinct", "distinct_users", "errors", "exists", "first_seen",
    "from_epoch", "io", "last_seen", "load_model", "parse_expr", "prop", "total", "trait",
    "validate_model",
]
