"""pandas: the two models by hand, with vectorised groupbys.

The events are read with ``read_dictionary`` so that ids and names arrive as categoricals,
as a pandas user holding ten million events in memory would keep them. The semantics are
pqlkit's (DESIGN §3), as docs/benchmarks.md spells them out for these two models.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
import pyarrow.parquet  # noqa: F401  # read_parquet imports it on first use: not timed

from benchmarks.common import TRIAL, WEIGHTED, Dataset, Results

DAY = pd.Timedelta(days=1)


@dataclass
class Frames:
    events: pd.DataFrame
    users: pd.DataFrame
    accounts: pd.DataFrame


def load(ds: Dataset) -> Frames:
    events = pd.read_parquet(ds.events, columns=["user_id", "account_id", "name", "timestamp"],
                             read_dictionary=["user_id", "account_id", "name"])
    users = pd.read_parquet(ds.users, columns=["user_id", "account_id", "created_at", "email",
                                                "email_domain", "role"])
    accounts = pd.read_parquet(ds.accounts, columns=["account_id", "created_at"])
    return Frames(events, users, accounts)


def _entities(ev: pd.DataFrame, seen: pd.Series | None, f: Frames, as_of: pd.Timestamp,
              event_users: pd.Index) -> tuple[pd.DataFrame, pd.Index]:
    """Who exists at ``as_of`` and where they belong; which accounts exist.

    ``seen`` masks the events at or before ``as_of`` (None: ``ev`` holds only those);
    ``event_users`` are their users.
    Returns the users (indexed by user_id: account_id and traits) and the account ids.
    """
    table = f.users.set_index("user_id")
    created = table["created_at"]
    people = table[created.isna() | (created <= as_of)].drop(columns="created_at")
    # A user known only from events exists from its first event (DESIGN §3.9).
    # (get_indexer, not isin: pandas' isin on str values loops in Python over the values.)
    only_events = event_users[table.index.get_indexer(event_users) < 0]
    if len(only_events):
        people = pd.concat([people, pd.DataFrame(index=only_events)])
    need = people.index[people["account_id"].isna()]
    if len(need):
        # No account in the users table: the account of the user's earliest event that
        # names one (ties broken by name, then account id, as pqlkit's canonical order).
        mask = ev["account_id"].notna() & ev["user_id"].isin(need)
        cand = ev.loc[mask if seen is None else mask & seen,
                      ["user_id", "timestamp", "name", "account_id"]]
        cand = cand.astype({"user_id": str, "name": str, "account_id": str})
        first = (cand.sort_values(["user_id", "timestamp", "name", "account_id"])
                 .drop_duplicates("user_id").set_index("user_id")["account_id"])
        people["account_id"] = people["account_id"].fillna(first)

    acc_table = f.accounts.set_index("account_id")["created_at"]
    existing = acc_table.index[acc_table.isna() | (acc_table <= as_of)]
    named = (ev["account_id"] if seen is None else ev.loc[seen, "account_id"]).dropna().unique()
    candidates = pd.Index(people["account_id"].dropna().unique()).union(
        pd.Index(named.astype(str)))
    # Accounts missing from the accounts table exist through their users or events.
    existing = existing.append(candidates.difference(acc_table.index))
    return people, existing


def _rollup(people: pd.DataFrame, existing: pd.Index, score: pd.Series, disqualified: pd.Series,
            is_pql: pd.Series) -> pd.DataFrame:
    """The default roll-up: PQA when half the users are PQLs (and one is); max score."""
    per = pd.DataFrame({"account_id": people["account_id"], "is_pql": is_pql,
                        "eligible": score.where(~disqualified)})
    g = per.groupby("account_id").agg(n_users=("is_pql", "size"), n_pql=("is_pql", "sum"),
                                      score=("eligible", "max"))
    acc = g.reindex(existing)
    n_users = acc["n_users"].fillna(0).astype("int64")
    n_pql = acc["n_pql"].fillna(0).astype("int64")
    share = (n_pql / n_users.where(n_users > 0)).fillna(0.0)
    return pd.DataFrame({
        "score": acc["score"].fillna(0.0), "n_users": n_users, "n_pql": n_pql,
        "share_pql": share, "is_pqa": (n_users > 0) & (share >= 0.5) & (n_pql >= 1),
    }, index=existing.rename("account_id"))


def _flag(values: pd.Series) -> pd.Series:
    # Users without events have NaN aggregates after the join: not a match.
    return values.eq(True)


def trial(f: Frames, as_of: datetime) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The trial template: +40 project, +20 invite, +15 pricing in 30d, +10 active in 7d,
    -5 per full week idle past the first, floor 0; PQL at 60 unless .edu or rival.io."""
    t = pd.Timestamp(as_of)
    ev = f.events[f.events["timestamp"] <= t]
    ts, name = ev["timestamp"], ev["name"]
    flags = pd.DataFrame({
        "user_id": ev["user_id"],
        "project": name == "project_created",
        "invite": name == "teammate_invited",
        "pricing": (name == "pricing_page_viewed") & (ts > t - 30 * DAY),
        "last": ts,
    })
    agg = flags.groupby("user_id", observed=True, sort=False).agg(
        project=("project", "any"), invite=("invite", "any"), pricing=("pricing", "any"),
        last=("last", "max"))
    agg.index = agg.index.astype(str)
    people, existing = _entities(ev, None, f, t, agg.index)
    u = people.join(agg)
    last = u["last"]
    raw = (40 * _flag(u["project"]) + 20 * _flag(u["invite"]) + 15 * _flag(u["pricing"])
           + 10 * (last > t - 7 * DAY))
    periods = ((t - last - 7 * DAY) // (7 * DAY)).clip(lower=0).fillna(0)
    score = (raw - 5 * periods).clip(lower=0).astype("float64")
    disqualified = (u["email"].str.casefold().str.endswith(".edu").eq(True)
                    | u["email_domain"].str.lower().isin(["rival.io"]))
    is_pql = (score >= 60) & ~disqualified
    users = pd.DataFrame({"account_id": u["account_id"], "score": score, "is_pql": is_pql,
                          "disqualified": disqualified})
    return users, _rollup(u, existing, score, disqualified, is_pql)


def weighted(f: Frames, as_of: datetime) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Weighted families: 5 for a dashboard in 14d, 3 for >= 2 invites in 14d, 2 for
    admins; PQL at 8."""
    t = pd.Timestamp(as_of)
    ev = f.events
    ts = ev["timestamp"]
    seen = ts <= t
    recent = ev.loc[seen & (ts > t - 14 * DAY), ["user_id", "name"]]
    agg = pd.DataFrame({
        "user_id": recent["user_id"],
        "aha": recent["name"] == "dashboard_created",
        "team": recent["name"] == "teammate_invited",
    }).groupby("user_id", observed=True, sort=False).agg(aha=("aha", "any"), team=("team", "sum"))
    agg.index = agg.index.astype(str)
    event_users = pd.Index(ev.loc[seen, "user_id"].unique().astype(str))
    people, existing = _entities(ev, seen, f, t, event_users)
    u = people.join(agg)
    score = (5 * _flag(u["aha"]) + 3 * (u["team"] >= 2) + 2 * u["role"].eq("admin")).clip(
        lower=0).astype("float64")
    disqualified = pd.Series(False, index=u.index)
    is_pql = score >= 8
    users = pd.DataFrame({"account_id": u["account_id"], "score": score, "is_pql": is_pql,
                          "disqualified": disqualified})
    return users, _rollup(u, existing, score, disqualified, is_pql)


MODELS = {TRIAL: trial, WEIGHTED: weighted}


def compute(f: Frames, model_name: str, as_of: datetime) -> tuple[pd.DataFrame, pd.DataFrame]:
    return MODELS[model_name](f, as_of)


def run(ds: Dataset, model_name: str, as_of: datetime) -> tuple[pd.DataFrame, pd.DataFrame]:
    return compute(load(ds), model_name, as_of)


def results(out: Any) -> Results:
    users, accounts = out
    return Results.build(
        {"user_id": users.index, "account_id": users["account_id"], "score": users["score"],
         "is_pql": users["is_pql"]},
        {"account_id": accounts.index, "score": accounts["score"],
         "n_users": accounts["n_users"], "n_pql": accounts["n_pql"],
         "is_pqa": accounts["is_pqa"]},
    )
