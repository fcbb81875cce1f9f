"""pqlkit: the templates themselves, scored by the columnar engine (or the reference one).

Columnar loading (``EventLog.from_parquet``) and the columnar engine are being built on
other branches. Until they are merged, :func:`load` falls back to ``EventLog.from_records``
on dicts and :data:`FAST_ENGINE` to ``"reference"``; :func:`describe` says which is in use,
and run.py prints it beside the results.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

# Imported here, not on first use, so that end-to-end runs do not time the import.
import pyarrow.parquet as pq

import pqlkit as pk
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

_entity_form = "records"


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


def _entity_columns(table: Any, id_column: str, traits: tuple[str, ...]) -> dict[str, Any]:
    """Users or accounts as a mapping of columns, traits nested: the Arrow columns as read
    (turning them into numpy object arrays would make a Python string per cell, 2.5M at
    10M events, only for pqlkit to hash them back)."""
    out: dict[str, Any] = {
        c: table.column(c)
        for c in dict.fromkeys((id_column, "account_id", "created_at"))
        if c in table.column_names
    }
    out["traits"] = {k: table.column(k) for k in traits}
    return out


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
    users, accounts = _read(ds.users), _read(ds.accounts)
    if HAS_PARQUET:
        columns = {"user_id": "user_id", "name": "name", "timestamp": "timestamp",
                   "account_id": "account_id"}
        try:
            log = pk.EventLog.from_parquet(  # type: ignore[attr-defined]
                ds.events, **columns,
                users=_entity_columns(users, "user_id", USER_TRAITS),
                accounts=_entity_columns(accounts, "account_id", ACCOUNT_TRAITS),
            )
            _entity_form = "columns"
        except (TypeError, ValueError) as exc:
            # The entity-column form chosen on the storage branch may differ from the one
            # guessed here; records are accepted whatever it is.
            _entity_form = f"records (columns refused: {exc})"
            log = pk.EventLog.from_parquet(  # type: ignore[attr-defined]
                ds.events, **columns,
                users=_entity_records(users, USER_TRAITS),
                accounts=_entity_records(accounts, ACCOUNT_TRAITS),
            )
        return _checked(log)
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
