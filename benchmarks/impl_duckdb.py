"""DuckDB: the two models by hand, as SQL.

One query scores the users (into a temporary table), a second rolls them up into
accounts. Compute-only runs them on DuckDB tables loaded from the Parquet files;
end-to-end runs the same SQL on ``read_parquet(...)`` directly. DuckDB uses its default
number of threads (every core).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import duckdb

from benchmarks.common import TRIAL, WEIGHTED, Dataset, Results

_US = 1_000_000
_WEEK_US = 7 * 86_400 * _US

# Who exists at as_of and where they belong (DESIGN §3.2, §3.9): users of the users table
# not created after as_of, plus users known only from events (those have one at or before
# as_of, since `ev` holds only those). A user without an account in the users table belongs
# to the account of its earliest event naming one, ties broken by name then account id
# (pqlkit's canonical event order).
_PEOPLE = """
people AS (
    SELECT user_id, account_id, email, email_domain, role
    FROM {users} WHERE created_at IS NULL OR created_at <= $as_of
    UNION ALL
    SELECT user_id, NULL, NULL, NULL, NULL
    FROM (SELECT DISTINCT user_id FROM {seen_users} ANTI JOIN {users} USING (user_id))
),
fallback AS (
    SELECT user_id, arg_min(account_id, (ts, name, account_id)) AS account_id
    FROM ev
    WHERE account_id IS NOT NULL
      AND user_id IN (SELECT user_id FROM people WHERE account_id IS NULL)
    GROUP BY user_id
)"""

# `ev` is NOT MATERIALIZED: several CTEs read it, and DuckDB would otherwise copy the
# filtered events once, which made the whole query about twice as slow at 10M events.
_TRIAL_USERS = """
CREATE OR REPLACE TEMP TABLE user_scores AS
WITH ev AS NOT MATERIALIZED (
    SELECT user_id, account_id, name, "timestamp" AS ts
    FROM {events} WHERE "timestamp" <= $as_of
),
agg AS (
    SELECT user_id,
           bool_or(name = 'project_created') AS project,
           bool_or(name = 'teammate_invited') AS invite,
           bool_or(name = 'pricing_page_viewed' AND ts > $as_of_30d) AS pricing,
           max(ts) AS last_ts
    FROM ev GROUP BY user_id
),
""" + _PEOPLE.format(users="{users}", seen_users="agg") + """,
scored AS (
    SELECT p.user_id,
           coalesce(p.account_id, f.account_id) AS account_id,
           40 * coalesce(a.project, false)::INT
             + 20 * coalesce(a.invite, false)::INT
             + 15 * coalesce(a.pricing, false)::INT
             + 10 * coalesce(a.last_ts > $as_of_7d, false)::INT
             - 5 * coalesce(greatest(0, ($as_of_us - epoch_us(a.last_ts) - $week) // $week), 0)
             AS decayed,
           coalesce(ends_with(lower(p.email), '.edu'), false)
             OR coalesce(lower(p.email_domain) IN ('rival.io'), false) AS disqualified
    FROM people p LEFT JOIN agg a USING (user_id) LEFT JOIN fallback f USING (user_id)
)
SELECT user_id, account_id, greatest(decayed, 0)::DOUBLE AS score,
       greatest(decayed, 0) >= 60 AND NOT disqualified AS is_pql, disqualified
FROM scored
"""

_WEIGHTED_USERS = """
CREATE OR REPLACE TEMP TABLE user_scores AS
WITH ev AS NOT MATERIALIZED (
    SELECT user_id, account_id, name, "timestamp" AS ts
    FROM {events} WHERE "timestamp" <= $as_of
),
agg AS (
    SELECT user_id,
           bool_or(name = 'dashboard_created') AS aha,
           count(*) FILTER (WHERE name = 'teammate_invited') AS invites
    FROM ev WHERE ts > $as_of_14d GROUP BY user_id
),
""" + _PEOPLE.format(users="{users}", seen_users="ev") + """,
scored AS (
    SELECT p.user_id,
           coalesce(p.account_id, f.account_id) AS account_id,
           5 * coalesce(a.aha, false)::INT
             + 3 * coalesce(a.invites >= 2, false)::INT
             + 2 * coalesce(p.role = 'admin', false)::INT AS raw
    FROM people p LEFT JOIN agg a USING (user_id) LEFT JOIN fallback f USING (user_id)
)
SELECT user_id, account_id, greatest(raw, 0)::DOUBLE AS score,
       greatest(raw, 0) >= 8 AS is_pql, false AS disqualified
FROM scored
"""

# The default roll-up (DESIGN §3.7, §3.9). Accounts missing from the accounts table exist
# through their users or through events naming them at or before as_of.
_ACCOUNTS = """
WITH existing AS (
    SELECT account_id FROM {accounts} WHERE created_at IS NULL OR created_at <= $as_of
    UNION ALL
    SELECT account_id FROM (
        SELECT account_id FROM user_scores WHERE account_id IS NOT NULL
        UNION
        SELECT account_id FROM {events}
        WHERE "timestamp" <= $as_of AND account_id IS NOT NULL
    ) ANTI JOIN {accounts} USING (account_id)
),
rolled AS (
    SELECT e.account_id,
           coalesce(max(s.score) FILTER (WHERE NOT s.disqualified), 0.0) AS score,
           count(s.user_id) AS n_users,
           count(s.user_id) FILTER (WHERE s.is_pql) AS n_pql
    FROM existing e LEFT JOIN user_scores s USING (account_id)
    GROUP BY e.account_id
)
SELECT account_id, score, n_users, n_pql,
       CASE WHEN n_users > 0 THEN n_pql / n_users ELSE 0.0 END AS share_pql,
       n_users > 0 AND n_pql / n_users >= 0.5 AND n_pql >= 1 AS is_pqa
FROM rolled
"""

_USERS_SQL = {TRIAL: _TRIAL_USERS, WEIGHTED: _WEIGHTED_USERS}


@dataclass
class Tables:
    """A connection holding the three tables, or reading the Parquet files directly."""

    con: duckdb.DuckDBPyConnection
    events: str
    users: str
    accounts: str


def _parquet(path: Any) -> str:
    return "read_parquet('" + str(path).replace("'", "''") + "')"


def connect(ds: Dataset) -> Tables:
    """A connection whose queries read the Parquet files (end-to-end)."""
    return Tables(duckdb.connect(), _parquet(ds.events), _parquet(ds.users),
                  _parquet(ds.accounts))


def load(ds: Dataset) -> Tables:
    """A connection holding the Parquet files as DuckDB tables (compute-only)."""
    t = connect(ds)
    for name in ("events", "users", "accounts"):
        t.con.execute(f"CREATE TABLE {name} AS SELECT * FROM {getattr(t, name)}")
    return Tables(t.con, "events", "users", "accounts")


def _params(as_of: datetime) -> dict[str, Any]:
    epoch = datetime(1970, 1, 1, tzinfo=as_of.tzinfo)
    return {
        "as_of": as_of, "as_of_7d": as_of - timedelta(days=7),
        "as_of_14d": as_of - timedelta(days=14), "as_of_30d": as_of - timedelta(days=30),
        "as_of_us": (as_of - epoch) // timedelta(microseconds=1), "week": _WEEK_US,
    }


def _used(sql: str, params: dict[str, Any]) -> dict[str, Any]:
    # DuckDB refuses named parameters a statement does not use.
    return {k: v for k, v in params.items() if f"${k}" in sql}


def compute(t: Tables, model_name: str, as_of: datetime) -> tuple[Any, Any]:
    """User and account results as Arrow tables."""
    params = _params(as_of)
    users_sql = _USERS_SQL[model_name].format(events=t.events, users=t.users)
    t.con.execute(users_sql, _used(users_sql, params))
    accounts_sql = _ACCOUNTS.format(events=t.events, accounts=t.accounts)
    accounts = t.con.sql(accounts_sql, params=_used(accounts_sql, params)).to_arrow_table()
    users = t.con.sql("SELECT * FROM user_scores").to_arrow_table()
    return users, accounts


def run(ds: Dataset, model_name: str, as_of: datetime) -> tuple[Any, Any]:
    return compute(connect(ds), model_name, as_of)


def results(out: Any) -> Results:
    users, accounts = out
    return Results.build({c: users.column(c) for c in ("user_id", "account_id", "score",
                                                        "is_pql")},
                         {c: accounts.column(c) for c in ("account_id", "score", "n_users",
                                                           "n_pql", "is_pqa")})
