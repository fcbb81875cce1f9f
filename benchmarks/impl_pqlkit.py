"""pqlkit: the templates themselves, scored by the columnar engine (or the reference one).

Columnar loading (``EventLog.from_parquet``) and the columnar engine are being built on
other branches. Until they are merged, :func:`load` falls back to ``EventLog.from_records``
on dicts and :data:`FAST_ENGINE` to ``"reference"``; :func:`describe` says which is in use,
and run.py prints it beside the results.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

# Imported here, not on first use, so that end-to-end runs do not time the import (as
# duckdb, polars and pandas are imported before the clock starts): pyarrow's modules and
# those pqlkit imports lazily to load Arrow data and score it.
import pyarrow.compute  # noqa: F401
import pyarrow.parquet as pq

import pqlkit as pk
import pqlkit._arrowload
import pqlkit.engine.columnar
from benchmarks.common import ACCOUNT_TRAITS, USER_TRAITS, Dataset, Results
from pqlkit import templates
from pqlkit.engine import get_engine
from pqlkit.errors import ValidationError


def _has_engine(name: str) -> bool:
    try:
        get_engine(name)
    except ValidationError:
        return False
    return True


#: The engine timed as "pqlkit columnar".
FAST_ENGINE = "columnar" if _has_engine("columnar") else "reference"
HAS_PARQUET = hasattr(pk.EventLog, "from_parquet")
STAND_INS = FAST_ENGINE != "columnar" or not HAS_PARQUET

_entity_form = "Parquet files"


def describe() -> str:
    """Which loader and engine the "pqlkit columnar" rows really used."""
    loader = (f"EventLog.from_parquet (users/accounts as {_entity_form})" if HAS_PARQUET
              else "EventLog.from_records on dicts (stand-in: from_parquet not available)")
    engine = ("columnar engine" if FAST_ENGINE == "columnar"
              else "reference engine (stand-in: the columnar engine is not available)")
    return f"pqlkit: {loader}; {engine}"


def model(name: str) -> pk.ScoringModel:
    return templates.get(name)


def _read(path: Any) -> Any:
    # Not pq.read_table: it imports pyarrow.dataset, and with it pandas (0.2 s and 40 MiB
    # inside the clock), to read a file that ParquetFile reads alone.
    return pq.ParquetFile(path).read()


def _entity_records(table: Any, traits: tuple[str, ...]) -> list[dict[str, Any]]:
    rows = []
    for row in table.to_pylist():
        rec = {k: v for k, v in row.items() if k not in traits}
        # A null cell is an absent trait, as a None property is an absent property.
        rec["traits"] = {k: row[k] for k in traits if row[k] is not None}
        rows.append(rec)
    return rows


def _checked(log: pk.EventLog) -> pk.EventLog:
    # Every row of the generated data is valid: a rejection means a loader changed.
    counts = log.report.counts
    if counts["rejected"] or counts["duplicates"]:
        raise ValueError(f"pqlkit did not keep every row of the benchmark data: {counts}")
    return log


def load(ds: Dataset) -> pk.EventLog:
    """The three Parquet files as one EventLog."""
    global _entity_form
    if HAS_PARQUET:
        # Every column of users.parquet and accounts.parquet other than the ids and
        # created_at is a trait (USER_TRAITS, ACCOUNT_TRAITS): the files are passed as
        # they are, and pqlkit reads them while the events decode.
        _entity_form = "Parquet files"
        return _checked(pk.EventLog.from_parquet(  # type: ignore[attr-defined]
            ds.events, user_id="user_id", name="name", timestamp="timestamp",
            account_id="account_id", users=ds.users, accounts=ds.accounts))
    users, accounts = _read(ds.users), _read(ds.accounts)
    events = _read(ds.events)
    rows = [dict(zip(events.column_names, values, strict=True))
            for values in zip(*(events.column(c).to_pylist() for c in events.column_names),
                              strict=True)]
    return _checked(pk.EventLog.from_records(rows, users=_entity_records(users, USER_TRAITS),
                                             accounts=_entity_records(accounts, ACCOUNT_TRAITS)))


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
