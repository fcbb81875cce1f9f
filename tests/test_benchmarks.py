"""The benchmark's hand-written pandas, DuckDB and polars models must keep agreeing with pqlkit.

They run on a small generated dataset with edge cases added (users known only from
events, memberships taken from events, window and decay edges, users and accounts created
after as_of, accounts known only from users or events, disqualifiers), so that a change
to pqlkit's semantics or to an implementation cannot make the benchmark compare different
things. Skipped without the ``bench`` extra.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

for _module in ("pandas", "polars", "duckdb", "pyarrow"):
    pytest.importorskip(_module, reason="needs the bench extra: pip install -e '.[bench]'")

# After the skips: these modules import the bench extra's libraries.
from benchmarks import generate, impl_duckdb, impl_pandas, impl_polars, impl_pqlkit, run  # noqa: E402
from benchmarks.common import (  # noqa: E402
    AS_OF,
    MODELS,
    TRIAL,
    USER_TRAITS,
    WEIGHTED,
    Dataset,
    DisagreementError,
    Results,
    compare,
)

DAY = timedelta(days=1)
US = timedelta(microseconds=1)
EARLY = AS_OF - 85 * DAY
AFTER = AS_OF + 3 * DAY
IMPLS: dict[str, ModuleType] = {"pandas": impl_pandas, "duckdb": impl_duckdb,
                                "polars": impl_polars}


def _user(user_id: str, account_id: str | None, created_at: datetime | None, *,
          email: str | None = None, email_domain: str | None = None,
          role: str = "member") -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(USER_TRAITS)
    if email is None and email_domain is None:
        email, email_domain = f"{user_id}@example.com", "example.com"
    row.update(user_id=user_id, account_id=account_id, created_at=created_at, email=email,
               email_domain=email_domain, role=role)
    return row


def _account(account_id: str, created_at: datetime | None) -> dict[str, Any]:
    return {"account_id": account_id, "created_at": created_at, "name": account_id,
            "domain": None, "employees": 1, "industry": None, "plan": "free"}


def _event(user_id: str, name: str, ts: datetime, account_id: str | None) -> dict[str, Any]:
    return {"user_id": user_id, "account_id": account_id, "name": name, "timestamp": ts}


def _edge_cases(events: list[dict[str, Any]], users: list[dict[str, Any]],
                accounts: list[dict[str, Any]]) -> dict[str, str]:
    """Add the edge cases to the generated rows, in place (expected values: see below).

    Returns the generated users taken out of the users table or left without an account
    there, with the account their events give them.
    """
    early = [u for u in users if u["created_at"] < AS_OF - 10 * DAY]
    picked = {u["user_id"]: u["account_id"] for u in early[5:9]}
    # Generated users dropped from the users table exist through their events; generated
    # users without an account in the table belong to their earliest event's account.
    for u in early[5:7]:
        users.remove(u)
    for u in early[7:9]:
        u["account_id"] = None

    t = AS_OF - 24 * DAY
    users += [_user("x_tie_name", None, EARLY), _user("x_after", None, EARLY)]
    events += [
        _event("x_tie_name", "zz_named", t, "a_0002"),
        _event("x_tie_name", "aa_named", t, "a_0003"),
        _event("x_tie_name", "page_viewed", t + DAY, "a_0001"),
        _event("x_tie_account", "page_viewed", t - DAY, None),
        _event("x_tie_account", "page_viewed", t, "a_0005"),
        _event("x_tie_account", "page_viewed", t, "a_0004"),
        _event("x_no_account", "page_viewed", t, None),
        _event("x_after", "page_viewed", AS_OF + DAY, "a_0006"),
        _event("x_after", "page_viewed", AS_OF - DAY, "a_0007"),
    ]

    accounts += [_account(a, EARLY) for a in ("a_edge", "a_empty", "a_dq", "a_pqa", "a_w")]
    accounts += [_account("a_future", AFTER)]
    users += [
        _user("x_noevents", "a_edge", AS_OF - 20 * DAY),
        _user("x_future", "a_edge", AFTER),
        _user("x_orphan", "a_nowhere", EARLY),
    ]
    events += [
        _event("x_future", "project_created", AS_OF - 5 * DAY, "a_edge"),
        _event("x_future", "page_viewed", AS_OF - 4 * DAY, "a_future"),
        _event("x_orphan", "project_created", AS_OF - 5 * DAY, "a_nowhere"),
        _event("x_orphan", "page_viewed", AS_OF - 15 * DAY, "a_ghost"),
        _event("x_orphan", "page_viewed", AS_OF + DAY, "a_late_ghost"),
    ]

    # Trial windows, recency and decay at their edges.
    users += [_user(f"x_e{i}", "a_edge", EARLY) for i in (1, 2, 3, 4, 8, 9)]
    users += [_user("x_e5", "a_edge", AS_OF - 20 * DAY)]
    events += [
        _event("x_e1", "project_created", AS_OF - 14 * DAY, "a_edge"),
        _event("x_e2", "project_created", AS_OF - 20 * DAY, "a_edge"),
        _event("x_e2", "teammate_invited", AS_OF - 14 * DAY + US, "a_edge"),
        _event("x_e3", "pricing_page_viewed", AS_OF - 30 * DAY, "a_edge"),
        _event("x_e3", "project_created", AS_OF, "a_edge"),
        _event("x_e4", "pricing_page_viewed", AS_OF - 30 * DAY + US, "a_edge"),
        _event("x_e4", "page_viewed", AS_OF - 7 * DAY, "a_edge"),
        _event("x_e5", "project_created", AS_OF + US, "a_edge"),
        _event("x_e8", "pricing_page_viewed", AS_OF - 61 * DAY, "a_edge"),
        _event("x_e8", "project_created", AS_OF - 60 * DAY, "a_edge"),
        _event("x_e8", "teammate_invited", AS_OF - 60 * DAY, "a_edge"),
        _event("x_e9", "project_created", AS_OF - 80 * DAY, "a_edge"),
    ]

    # Disqualifiers, and an account whose best user is disqualified.
    users += [
        _user("x_edu", "a_dq", EARLY, email="Kim.Lee@Uni.EDU", email_domain="uni.edu",
              role="admin"),
        _user("x_rival", "a_dq", EARLY, email="sam@rival.io", email_domain="rival.io"),
        _user("x_plain", "a_dq", EARLY),
    ]
    users[-1].update(email=None, email_domain=None)  # no email at all
    for uid in ("x_edu", "x_rival"):
        events += [_event(uid, n, AS_OF - DAY, "a_dq")
                   for n in ("project_created", "teammate_invited", "pricing_page_viewed")]
    events += [_event("x_plain", "project_created", AS_OF - 2 * DAY, "a_dq")]

    # Exactly half the users are PQLs: a PQA.
    users += [_user("x_p1", "a_pqa", EARLY), _user("x_p2", "a_pqa", EARLY)]
    events += [_event("x_p1", "project_created", AS_OF - DAY, "a_pqa"),
               _event("x_p1", "teammate_invited", AS_OF - DAY, "a_pqa"),
               _event("x_p2", "project_created", AS_OF - DAY, "a_pqa")]

    # Weighted families at the 14-day edge.
    users += [_user("x_w1", "a_w", EARLY, role="admin"), _user("x_w2", "a_w", EARLY, role="admin"),
              _user("x_w3", "a_w", EARLY)]
    events += [
        _event("x_w1", "dashboard_created", AS_OF - 14 * DAY, "a_w"),
        _event("x_w1", "teammate_invited", AS_OF - 14 * DAY + US, "a_w"),
        _event("x_w1", "teammate_invited", AS_OF, "a_w"),
        _event("x_w2", "dashboard_created", AS_OF - 14 * DAY + US, "a_w"),
        _event("x_w2", "teammate_invited", AS_OF - DAY, "a_w"),
        _event("x_w2", "teammate_invited", AS_OF + US, "a_w"),
        _event("x_w3", "dashboard_created", AS_OF - DAY, "a_w"),
        _event("x_w3", "teammate_invited", AS_OF - 2 * DAY, "a_w"),
        _event("x_w3", "teammate_invited", AS_OF - 2 * DAY, "a_w"),
    ]
    return picked


@pytest.fixture(scope="module")
def edge_and_picked(tmp_path_factory: pytest.TempPathFactory) -> tuple[Dataset, dict[str, str]]:
    import pyarrow as pa

    ds = generate.generate(20_000, seed=3)
    tables = generate.tables(ds)
    events, users, accounts = (t.to_pylist() for t in tables)
    picked = _edge_cases(events, users, accounts)
    events_t, users_t, accounts_t = (
        pa.Table.from_pylist(rows, schema=t.schema)
        for rows, t in zip((events, users, accounts), tables, strict=True)
    )
    root = tmp_path_factory.mktemp("bench") / "edge"
    return generate.write_tables(root, events_t, users_t, accounts_t, seed=3,
                                 end=ds.end.isoformat()), picked


@pytest.fixture(scope="module")
def edge(edge_and_picked: tuple[Dataset, dict[str, str]]) -> Dataset:
    return edge_and_picked[0]


@pytest.fixture(scope="module")
def log(edge: Dataset) -> Any:
    return impl_pqlkit.load(edge)


@pytest.fixture(scope="module")
def expected(log: Any) -> dict[str, Results]:
    """pqlkit's reference engine: the oracle."""
    return {m: impl_pqlkit.results(impl_pqlkit.compute(log, m, AS_OF, engine="reference"))
            for m in MODELS}


def _users(r: Results) -> dict[str, dict[str, Any]]:
    u = r.users
    return {uid: {"account_id": a, "score": s, "is_pql": bool(p)}
            for uid, a, s, p in zip(u["user_id"], u["account_id"], u["score"], u["is_pql"],
                                    strict=True)}


def _accounts(r: Results) -> dict[str, dict[str, Any]]:
    a = r.accounts
    return {aid: {"score": s, "n_users": int(n), "n_pql": int(p), "is_pqa": bool(q)}
            for aid, s, n, p, q in zip(a["account_id"], a["score"], a["n_users"], a["n_pql"],
                                       a["is_pqa"], strict=True)}


def test_the_edge_cases_score_as_worked_out_by_hand(
        expected: dict[str, Results], edge_and_picked: tuple[Dataset, dict[str, str]]) -> None:
    users, accounts = _users(expected[TRIAL]), _accounts(expected[TRIAL])
    scores = {u: users[u]["score"] for u in users if u.startswith("x_")}
    assert scores == {
        "x_tie_name": 0, "x_tie_account": 0, "x_no_account": 0, "x_after": 10,
        "x_noevents": 0, "x_orphan": 50, "x_e1": 35, "x_e2": 60, "x_e3": 50, "x_e4": 15,
        "x_e5": 0, "x_e8": 25, "x_e9": 0, "x_edu": 85, "x_rival": 85, "x_plain": 50,
        "x_p1": 70, "x_p2": 50, "x_w1": 30, "x_w2": 30, "x_w3": 30,
    }
    assert [u for u in users if users[u]["is_pql"] and u.startswith("x_")] == ["x_e2", "x_p1"]
    membership = {u: users[u]["account_id"] for u in
                  ("x_tie_name", "x_tie_account", "x_no_account", "x_after", "x_orphan")}
    assert membership == {"x_tie_name": "a_0003", "x_tie_account": "a_0004",
                          "x_no_account": None, "x_after": "a_0007",
                          "x_orphan": "a_nowhere"}
    assert "x_future" not in users
    assert accounts["a_edge"] == {"score": 60, "n_users": 8, "n_pql": 1, "is_pqa": False}
    assert accounts["a_empty"] == {"score": 0, "n_users": 0, "n_pql": 0, "is_pqa": False}
    assert accounts["a_dq"] == {"score": 50, "n_users": 3, "n_pql": 0, "is_pqa": False}
    assert accounts["a_pqa"] == {"score": 70, "n_users": 2, "n_pql": 1, "is_pqa": True}
    assert accounts["a_nowhere"]["n_users"] == 1
    assert accounts["a_ghost"]["n_users"] == 0
    assert "a_future" not in accounts and "a_late_ghost" not in accounts

    weighted = _users(expected[WEIGHTED])
    assert {u: weighted[u]["score"] for u in ("x_w1", "x_w2", "x_w3", "x_edu")} == {
        "x_w1": 5, "x_w2": 7, "x_w3": 8, "x_edu": 2}
    assert [u for u in ("x_w1", "x_w2", "x_w3") if weighted[u]["is_pql"]] == ["x_w3"]
    # Generated users dropped from the users table, or without an account there, exist and
    # belong where their events say.
    picked = edge_and_picked[1]
    assert {u: users[u]["account_id"] for u in picked} == picked


@pytest.fixture(scope="module")
def natives(edge: Dataset) -> Iterator[dict[str, Any]]:
    yield {name: impl.load(edge) for name, impl in IMPLS.items()}


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("tool", sorted(IMPLS))
def test_implementation_agrees_with_pqlkit_in_memory(tool: str, model: str,
                                                     natives: dict[str, Any],
                                                     expected: dict[str, Results]) -> None:
    impl = IMPLS[tool]
    compare(expected[model], impl.results(impl.compute(natives[tool], model, AS_OF)),
            label=f"{tool} {model}")


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("tool", sorted(IMPLS))
def test_implementation_agrees_with_pqlkit_from_parquet(tool: str, model: str, edge: Dataset,
                                                        expected: dict[str, Results]) -> None:
    impl = IMPLS[tool]
    compare(expected[model], impl.results(impl.run(edge, model, AS_OF)), label=f"{tool} {model}")


@pytest.mark.parametrize("model", MODELS)
def test_the_engine_timed_as_pqlkit_columnar_agrees_with_the_reference(
        model: str, log: Any, expected: dict[str, Results]) -> None:
    got = impl_pqlkit.results(impl_pqlkit.compute(log, model, AS_OF))
    compare(expected[model], got, label=f"pqlkit {impl_pqlkit.FAST_ENGINE} {model}")


def _copy(r: Results) -> Results:
    return Results(users={k: v.copy() for k, v in r.users.items()},
                   accounts={k: v.copy() for k, v in r.accounts.items()})


def test_compare_reports_every_kind_of_difference(expected: dict[str, Results]) -> None:
    base = expected[TRIAL]
    compare(base, _copy(base), label="same")

    flipped = _copy(base)
    flipped.users["is_pql"][0] = not flipped.users["is_pql"][0]
    with pytest.raises(DisagreementError, match=r"users\.is_pql: 1 of"):
        compare(base, flipped, label="flipped")

    nudged = _copy(base)
    i = int(np.flatnonzero(nudged.accounts["score"] > 0)[0])
    nudged.accounts["score"][i] *= 1 + 1e-8
    with pytest.raises(DisagreementError, match=r"accounts\.score"):
        compare(base, nudged, label="nudged")
    close = _copy(base)
    close.accounts["score"][i] *= 1 + 1e-12
    compare(base, close, label="within 1e-9")

    moved = _copy(base)
    moved.users["account_id"][0] = "a_elsewhere"
    with pytest.raises(DisagreementError, match=r"users\.account_id"):
        compare(base, moved, label="moved")

    short = Results.build({k: v[1:] for k, v in base.users.items()}, base.accounts)
    with pytest.raises(DisagreementError, match="rows expected"):
        compare(base, short, label="short")


def test_generated_data_is_cached_by_scale_and_seed(tmp_path: Path) -> None:
    first = generate.ensure(3_000, seed=2, data_dir=tmp_path, quiet=True)
    assert first.root.name == "saas-3000-seed2"
    assert first.n_events == pytest.approx(3_000, rel=0.02)
    stamp = first.events.stat().st_mtime_ns
    again = generate.ensure(3_000, seed=2, data_dir=tmp_path, quiet=True)
    assert again == first and again.events.stat().st_mtime_ns == stamp
    assert generate.scale_label(10_000_000) == "1e7"


def test_run_times_every_tool_and_writes_the_report(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "RESULTS.md"
    assert run.main(["--scale", "2000", "--rounds", "1", "--reference-max", "2000",
                     "--data-dir", str(tmp_path), "--results", str(out)]) == 0
    text = out.read_text()
    printed = capsys.readouterr().out
    for label in ("pqlkit columnar", "pqlkit reference", "DuckDB", "polars", "pandas"):
        assert f"| {label} | trial | compute |" in text
        assert f"| {label} | weighted-families | e2e |" in text
    assert "## The bar (issue 3)" in text and "- CPU: " in text
    assert "pandas ÷ pqlkit" in printed
