"""polars: the two models by hand, as lazy queries.

Compute-only starts from DataFrames in memory (``.lazy()``); end-to-end from
``scan_parquet``. The users are collected first and the roll-up runs on that frame, so
they are scored once. polars uses its default thread pool (every core).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import polars as pl

from benchmarks.common import TRIAL, WEIGHTED, Dataset, Results

_WEEK_US = 7 * 86_400 * 1_000_000


@dataclass
class Frames:
    events: pl.LazyFrame
    users: pl.LazyFrame
    accounts: pl.LazyFrame


def load(ds: Dataset) -> dict[str, pl.DataFrame]:
    """The three Parquet files as DataFrames in memory (compute-only)."""
    return {"events": pl.read_parquet(ds.events), "users": pl.read_parquet(ds.users),
            "accounts": pl.read_parquet(ds.accounts)}


def _lazy(data: dict[str, pl.DataFrame]) -> Frames:
    return Frames(data["events"].lazy(), data["users"].lazy(), data["accounts"].lazy())


def scan(ds: Dataset) -> Frames:
    """Lazy scans of the Parquet files (end-to-end)."""
    return Frames(pl.scan_parquet(ds.events), pl.scan_parquet(ds.users),
                  pl.scan_parquet(ds.accounts))


def _people(ev: pl.LazyFrame, f: Frames, as_of: datetime,
            per_user: pl.LazyFrame) -> pl.LazyFrame:
    """Who exists at ``as_of`` and where they belong.

    ``ev`` holds the events at or before ``as_of``; ``per_user`` has one row per user of
    those events. Returns the users: ``per_user``'s columns, account_id and traits.
    """
    users = (f.users.select("user_id", "account_id", "created_at", "email", "email_domain",
                            "role")
             .with_columns(in_table=pl.lit(True)))
    # One full join, so the per-user aggregate is referenced once: users of the table not
    # created after as_of, plus users known only from events (DESIGN §3.9).
    people = (users.join(per_user, on="user_id", how="full", coalesce=True)
              .filter(pl.col("in_table").is_null() | pl.col("created_at").is_null()
                      | (pl.col("created_at") <= as_of))
              .drop("in_table", "created_at"))
    # No account in the users table: the account of the user's earliest event naming one,
    # ties broken by name then account id (pqlkit's canonical event order).
    need = people.filter(pl.col("account_id").is_null()).select("user_id")
    fallback = (ev.filter(pl.col("account_id").is_not_null())
                .join(need, on="user_id", how="semi")
                .group_by("user_id")
                .agg(pl.col("account_id").sort_by("timestamp", "name", "account_id").first()
                     .alias("fallback")))
    return (people.join(fallback, on="user_id", how="left")
            .with_columns(pl.col("account_id").fill_null(pl.col("fallback")))
            .drop("fallback"))


def _existing_accounts(users: pl.LazyFrame, ev: pl.LazyFrame, f: Frames,
                       as_of: datetime) -> pl.LazyFrame:
    """The ids of the accounts that exist at ``as_of``."""
    accounts = f.accounts.select("account_id", "created_at")
    existing = accounts.filter(
        pl.col("created_at").is_null() | (pl.col("created_at") <= as_of)).select("account_id")
    # Accounts missing from the accounts table exist through their users or events.
    candidates = pl.concat([
        users.select("account_id"), ev.select("account_id"),
    ]).drop_nulls().unique().join(accounts, on="account_id", how="anti")
    return pl.concat([existing, candidates.select("account_id")])


def _rollup(users: pl.LazyFrame, existing: pl.LazyFrame) -> pl.LazyFrame:
    """The default roll-up: PQA when half the users are PQLs (and one is); max score."""
    per = users.group_by("account_id").agg(
        n_users=pl.len(),
        n_pql=pl.col("is_pql").sum(),
        score=pl.col("score").filter(~pl.col("disqualified")).max(),
    )
    return (existing.join(per, on="account_id", how="left")
            .with_columns(pl.col("n_users").fill_null(0).cast(pl.Int64),
                          pl.col("n_pql").fill_null(0).cast(pl.Int64),
                          pl.col("score").fill_null(0.0))
            .with_columns(share_pql=pl.when(pl.col("n_users") > 0)
                          .then(pl.col("n_pql") / pl.col("n_users")).otherwise(0.0))
            .with_columns(is_pqa=(pl.col("n_users") > 0) & (pl.col("share_pql") >= 0.5)
                          & (pl.col("n_pql") >= 1)))


def _flag(name: str) -> pl.Expr:
    # Users without events have null aggregates after the join: not a match.
    return pl.col(name).fill_null(False).cast(pl.Int32)


def trial(f: Frames, as_of: datetime) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """The users' plan, and the events it reads (at or before as_of).

    The trial template: +40 project, +20 invite, +15 pricing in 30d, +10 active in 7d,
    -5 per full week idle past the first, floor 0; PQL at 60 unless .edu or rival.io."""
    ev = f.events.filter(pl.col("timestamp") <= as_of)
    name = pl.col("name")
    agg = ev.group_by("user_id").agg(
        project=(name == "project_created").any(),
        invite=(name == "teammate_invited").any(),
        pricing=((name == "pricing_page_viewed")
                 & (pl.col("timestamp") > as_of - timedelta(days=30))).any(),
        last=pl.col("timestamp").max(),
    )
    people = _people(ev, f, as_of, agg)
    idle_us = (pl.lit(as_of) - pl.col("last")).dt.total_microseconds()
    periods = ((idle_us - _WEEK_US) // _WEEK_US).clip(lower_bound=0).fill_null(0)
    users = (people
             .with_columns(
                 score=(40 * _flag("project") + 20 * _flag("invite") + 15 * _flag("pricing")
                        + 10 * (pl.col("last") > as_of - timedelta(days=7)).fill_null(False)
                        .cast(pl.Int32)
                        - 5 * periods).clip(lower_bound=0).cast(pl.Float64),
                 disqualified=(pl.col("email").str.to_lowercase().str.ends_with(".edu")
                               .fill_null(False)
                               | pl.col("email_domain").str.to_lowercase().is_in(["rival.io"]).fill_null(False)),
             )
             .with_columns(is_pql=(pl.col("score") >= 60) & ~pl.col("disqualified"))
             .select("user_id", "account_id", "score", "is_pql", "disqualified"))
    return users, ev


def weighted(f: Frames, as_of: datetime) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """The users' plan, and the events it reads (at or before as_of).

    Weighted families: 5 for a dashboard in 14d, 3 for >= 2 invites in 14d, 2 for
    admins; PQL at 8."""
    ev = f.events.filter(pl.col("timestamp") <= as_of)
    name = pl.col("name")
    agg = (ev.filter(pl.col("timestamp") > as_of - timedelta(days=14))
           .group_by("user_id").agg(aha=(name == "dashboard_created").any(),
                                    invites=(name == "teammate_invited").sum()))
    per_user = ev.select("user_id").unique().join(agg, on="user_id", how="left")
    people = _people(ev, f, as_of, per_user)
    users = (people
             .with_columns(
                 score=(5 * _flag("aha")
                        + 3 * (pl.col("invites") >= 2).fill_null(False).cast(pl.Int32)
                        + 2 * (pl.col("role") == "admin").fill_null(False).cast(pl.Int32))
                 .clip(lower_bound=0).cast(pl.Float64),
                 disqualified=pl.lit(False),
             )
             .with_columns(is_pql=pl.col("score") >= 8)
             .select("user_id", "account_id", "score", "is_pql", "disqualified"))
    return users, ev


MODELS = {TRIAL: trial, WEIGHTED: weighted}


def _collect(f: Frames, model_name: str, as_of: datetime) -> tuple[pl.DataFrame, pl.DataFrame]:
    users_plan, ev = MODELS[model_name](f, as_of)
    # The users are collected first and the roll-up runs on them: polars does not share
    # the users' plan between two outputs, and would compute it twice.
    users = users_plan.collect()
    existing = _existing_accounts(users.lazy(), ev, f, as_of)
    return users, _rollup(users.lazy(), existing).collect()


def compute(data: dict[str, pl.DataFrame], model_name: str,
            as_of: datetime) -> tuple[pl.DataFrame, pl.DataFrame]:
    return _collect(_lazy(data), model_name, as_of)


def run(ds: Dataset, model_name: str, as_of: datetime) -> tuple[pl.DataFrame, pl.DataFrame]:
    return _collect(scan(ds), model_name, as_of)


def results(out: Any) -> Results:
    users, accounts = out
    return Results.build({c: users[c] for c in ("user_id", "account_id", "score", "is_pql")},
                         {c: accounts[c] for c in ("account_id", "score", "n_users", "n_pql",
                                                   "is_pqa")})
