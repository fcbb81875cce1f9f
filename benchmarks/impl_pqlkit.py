"""pqlkit: the templates themselves, loaded with ``EventLog.from_parquet`` and scored by the
columnar engine (or, for the "pqlkit reference" rows, the reference engine)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

# Imported here, not on first use, so that end-to-end runs do not time the import (as
# duckdb, polars and pandas are imported before the clock starts): pyarrow's modules and
# those pqlkit imports lazily to load Arrow data and score it.
import pyarrow.compute
import pyarrow.parquet  # noqa: F401

import pqlkit as pk
import pqlkit._arrowload
import pqlkit.engine.columnar
from benchmarks.common import Dataset, Results
from pqlkit import templates

#: The engine timed as "pqlkit columnar".
FAST_ENGINE = "columnar"


def describe() -> str:
    """What the "pqlkit columnar" rows ran (printed beside the results)."""
    return ("pqlkit: EventLog.from_parquet (users and accounts as Parquet files); "
            "columnar engine")


def model(name: str) -> pk.ScoringModel:
    return templates.get(name)


def _checked(log: pk.EventLog) -> pk.EventLog:
    # Every row of the generated data is valid: a rejection means a loader changed.
    counts = log.report.counts
    if counts["rejected"] or counts["duplicates"]:
        raise ValueError(f"pqlkit did not keep every row of the benchmark data: {counts}")
    return log


def load(ds: Dataset) -> pk.EventLog:
    """The three Parquet files as one EventLog. Every column of users.parquet and
    accounts.parquet other than the ids and created_at is a trait (USER_TRAITS,
    ACCOUNT_TRAITS): the files are passed as they are, and pqlkit reads them while the
    events decode."""
    return _checked(pk.EventLog.from_parquet(
        ds.events, user_id="user_id", name="name", timestamp="timestamp",
        account_id="account_id", users=ds.users, accounts=ds.accounts))


def reset(log: pk.EventLog) -> None:
    """Before a timed compute round: forget what earlier scores kept with the log (each
    user's latest event by ``as_of``, the trait tests' results), which scoring the same
    model at the same moment again would reuse. The log's indexes, built by its first
    score, stay (see docs/benchmarks.md)."""
    pqlkit.engine.columnar.forget_results(log)


def compute(log: pk.EventLog, model_name: str, as_of: datetime, *,
            engine: str = FAST_ENGINE) -> Any:
    return model(model_name).score(log, as_of=as_of, engine=engine)


def run(ds: Dataset, model_name: str, as_of: datetime, *, engine: str = FAST_ENGINE) -> Any:
    return compute(load(ds), model_name, as_of, engine=engine)


def results(result: Any) -> Results:
    users = {c: result.users.column(c) for c in ("user_id", "account_id", "score", "is_pql")}
    accounts = {c: result.accounts.column(c)
                for c in ("account_id", "score", "n_users", "n_pql", "is_pqa")}
    return Results.build(users, accounts)
