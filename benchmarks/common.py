"""What every implementation shares: the models' names, the moment scored, and the check.

Each implementation turns its own output into :class:`Results` (plain numpy columns sorted
by id) so that :func:`compare` can hold them to pqlkit: ids, memberships, flags and counts
exactly, scores within 1e-9 relative.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

#: The two models of DESIGN §1 that are benchmarked, by their pqlkit.templates name.
TRIAL = "trial"
WEIGHTED = "weighted-families"
MODELS = (TRIAL, WEIGHTED)

#: The moment scored: a week before the generated data ends, so that events after as_of
#: and users and accounts created after it are present and must be ignored.
AS_OF = datetime(2026, 5, 25, tzinfo=UTC)

SCORE_RTOL = 1e-9

#: The trait columns of users.parquet and accounts.parquet.
USER_TRAITS = ("email", "email_domain", "name", "role", "persona", "plan", "signup_source")
ACCOUNT_TRAITS = ("name", "domain", "employees", "industry", "plan")

USER_COLUMNS = ("user_id", "account_id", "score", "is_pql")
ACCOUNT_COLUMNS = ("account_id", "score", "n_users", "n_pql", "is_pqa")


@dataclass(frozen=True)
class Dataset:
    """Where one generated dataset lives, and what it holds."""

    root: Path
    n_events: int
    n_users: int
    n_accounts: int
    seed: int
    end: str

    @property
    def events(self) -> Path:
        return self.root / "events.parquet"

    @property
    def users(self) -> Path:
        return self.root / "users.parquet"

    @property
    def accounts(self) -> Path:
        return self.root / "accounts.parquet"

    @classmethod
    def open(cls, root: Path) -> Dataset:
        """The dataset written under ``root`` (reads its ``meta.json``)."""
        meta = json.loads((root / "meta.json").read_text())
        return cls(root=root, n_events=meta["n_events"], n_users=meta["n_users"],
                   n_accounts=meta["n_accounts"], seed=meta["seed"], end=meta["end"])


class DisagreementError(AssertionError):
    """Two implementations gave different results for the same model and data."""


@dataclass
class Results:
    """User and account results as numpy columns, each table sorted by its id.

    ``users``: user_id (str), account_id (object: str or None), score (float64), is_pql
    (bool). ``accounts``: account_id (str), score (float64), n_users and n_pql (int64),
    is_pqa (bool).
    """

    users: dict[str, np.ndarray[Any, Any]]
    accounts: dict[str, np.ndarray[Any, Any]]

    @classmethod
    def build(cls, users: Mapping[str, Iterable[Any]],
              accounts: Mapping[str, Iterable[Any]]) -> Results:
        """Normalise columns in any array-like form (lists, numpy, pandas, arrow)."""
        return cls(users=_table(users, USER_COLUMNS, _USER_TYPES),
                   accounts=_table(accounts, ACCOUNT_COLUMNS, _ACCOUNT_TYPES))

    def summary(self) -> str:
        return (f"{len(self.users['user_id']):,} users ({int(self.users['is_pql'].sum()):,} "
                f"PQL), {len(self.accounts['account_id']):,} accounts "
                f"({int(self.accounts['is_pqa'].sum()):,} PQA)")


_USER_TYPES = {"user_id": "id", "account_id": "nullable_id", "score": "f8", "is_pql": "bool"}
_ACCOUNT_TYPES = {"account_id": "id", "score": "f8", "n_users": "i8", "n_pql": "i8",
                  "is_pqa": "bool"}


def _column(values: Any, kind: str) -> np.ndarray[Any, Any]:
    if hasattr(values, "to_pylist"):  # pyarrow arrays keep nulls as None this way
        values = values.to_pylist()
    elif hasattr(values, "to_list"):  # pandas and polars series
        values = values.to_list()
    values = list(values)
    if kind == "id":
        if any(v is None for v in values):
            raise DisagreementError("an id column holds a missing value")
        return np.array([str(v) for v in values], dtype=object)
    if kind == "nullable_id":
        out = np.empty(len(values), dtype=object)
        out[:] = [None if v is None or v != v else str(v) for v in values]
        return out
    if kind == "bool":
        return np.array([bool(v) for v in values], dtype=np.bool_)
    return np.array(values, dtype=kind)


def _table(columns: Mapping[str, Iterable[Any]], names: tuple[str, ...],
           types: Mapping[str, str]) -> dict[str, np.ndarray[Any, Any]]:
    missing = [n for n in names if n not in columns]
    if missing:
        raise DisagreementError(f"result lacks column(s) {missing}")
    out = {n: _column(columns[n], types[n]) for n in names}
    order = np.argsort(out[names[0]], kind="stable")
    return {n: col[order] for n, col in out.items()}


def _diff_rows(key: np.ndarray[Any, Any], bad: np.ndarray[Any, Any], a: np.ndarray[Any, Any],
               b: np.ndarray[Any, Any], limit: int = 5) -> str:
    rows = np.flatnonzero(bad)[:limit]
    return ", ".join(f"{key[i]}: {a[i]!r} vs {b[i]!r}" for i in rows)


def _compare_table(what: str, expected: dict[str, np.ndarray[Any, Any]],
                   got: dict[str, np.ndarray[Any, Any]], names: tuple[str, ...]) -> list[str]:
    key = names[0]
    ek, gk = expected[key], got[key]
    if len(ek) != len(gk) or not np.array_equal(ek, gk):
        only_e = sorted(set(ek.tolist()) - set(gk.tolist()))[:5]
        only_g = sorted(set(gk.tolist()) - set(ek.tolist()))[:5]
        return [f"{what}: {len(ek):,} rows expected, {len(gk):,} got; "
                f"missing e.g. {only_e}, unexpected e.g. {only_g}"]
    problems = []
    for name in names[1:]:
        e, g = expected[name], got[name]
        if e.dtype == np.float64:
            scale = np.maximum(np.abs(e), np.abs(g))
            bad = ~(np.abs(e - g) <= SCORE_RTOL * scale)
        else:
            bad = e != g
        if bad.any():
            problems.append(f"{what}.{name}: {int(bad.sum()):,} of {len(e):,} rows differ "
                            f"(expected vs got) {_diff_rows(ek, bad, e, g)}")
    return problems


def compare(expected: Results, got: Results, *, label: str) -> None:
    """Raise :class:`DisagreementError` naming every column of ``got`` that differs."""
    problems = _compare_table("users", expected.users, got.users, USER_COLUMNS)
    problems += _compare_table("accounts", expected.accounts, got.accounts, ACCOUNT_COLUMNS)
    if problems:
        raise DisagreementError(f"{label} disagrees with pqlkit:\n  " + "\n  ".join(problems))
