"""Logs, records and results cross process boundaries (pickle, deepcopy, worker pools):
pipelines hand a log to a worker, cache it, or get a result back from one."""

from __future__ import annotations

import copy
import multiprocessing
import pickle
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

import pqlkit as pk
from pqlkit.errors import PqlkitError
from pqlkit.testing import assert_results_equal

T0 = datetime(2026, 5, 1, tzinfo=UTC)
AS_OF = datetime(2026, 6, 1, tzinfo=UTC)
EVENTS = [{"name": n, "timestamp": T0 + timedelta(hours=i), "user_id": f"u{i % 4}",
           "account_id": f"a{i % 2}", "properties": {"plan": "pro" if i % 3 else "free"},
           "event_id": f"e{i}"}
          for i, n in enumerate(["signup", "invite", "pricing", "invite", "signup"] * 4)]
USERS = [{"user_id": f"u{i}", "account_id": f"a{i % 2}", "created_at": T0,
          "traits": {"email": f"x{i}@Uni.EDU" if i % 2 else f"x{i}@acme.com"}}
         for i in range(4)]
MODEL = pk.ScoringModel(name="m", threshold=5, tiers={"hot": 20}, rules=[
    pk.Rule("invites", pk.count("invite", within="30d"), points_per=3),
    pk.Rule("pro", pk.exists("pricing", where=pk.prop("plan") == "pro"), points=4),
], disqualify=[pk.trait("email").lower().endswith(".edu")])


def _logs() -> dict[str, pk.EventLog]:
    pa = pytest.importorskip("pyarrow")
    columns = {k: [e[k] for e in EVENTS] for k in ("name", "timestamp", "user_id", "account_id",
                                                    "event_id")}
    users = pa.table({"user_id": [u["user_id"] for u in USERS],
                      "account_id": [u["account_id"] for u in USERS],
                      "email": [u["traits"]["email"] for u in USERS]})
    return {
        "records": pk.EventLog.from_records(EVENTS, users=USERS),
        "columns": pk.EventLog.from_columns(
            **columns, properties={"plan": [e["properties"]["plan"] for e in EVENTS]},
            users=users),
        "arrow": pk.EventLog.from_arrow(pa.table({**columns, "plan": [
            e["properties"]["plan"] for e in EVENTS]}), properties=["plan"], users=users),
    }


@pytest.mark.parametrize("how", ["pickle", "pickle5", "deepcopy"])
def test_a_scored_log_round_trips_and_scores_alike(how: str) -> None:
    # Properties and traits are mappingproxies, which pickle refused: no log could go to a
    # worker process, into a cache, or through deepcopy.
    through = {"pickle": lambda o: pickle.loads(pickle.dumps(o)),
               "pickle5": lambda o: pickle.loads(pickle.dumps(o, protocol=5)),
               "deepcopy": copy.deepcopy}[how]
    for label, log in _logs().items():
        want = {e: MODEL.score(log, as_of=AS_OF, engine=e) for e in ("columnar", "reference")}
        back = through(log)  # (scored once: its caches filled)
        for engine, result in want.items():
            assert_results_equal(result, MODEL.score(back, as_of=AS_OF, engine=engine))
            # ... and at another moment, which no cache of the original holds.
            later = AS_OF + timedelta(days=40)
            assert_results_equal(MODEL.score(log, as_of=later, engine=engine),
                                 MODEL.score(back, as_of=later, engine=engine))
        assert back.report.counts == log.report.counts, label
        assert [dict(e.properties) for e in back.events()] == [
            dict(e.properties) for e in log.events()]
        # The columns stay read-only, as the constructors leave them, and so do the
        # indexes built on first use (the original's, filled by its scores, came back
        # writeable) and the event ids (never read-only before).
        for original in (log, back):
            original.user_order, original.owner_account  # noqa: B018 (built on first use)
        for name, column in _arrays(through(log)).items():
            assert not column.flags.writeable, (label, name)
            if column.size:
                with pytest.raises(ValueError, match="read-only"):
                    column[:1] = column[:1]
        assert _arrays(log).keys() == _arrays(back).keys()


def _arrays(log: pk.EventLog) -> dict[str, np.ndarray]:
    """Every array of ``log`` its public attributes reach."""
    out = {name: getattr(log, name) for name in (
        "ts", "name_code", "user", "account", "user_created", "owner_account", "user_order",
        "user_offsets", "account_order")}
    out.update({"event_id.codes": log.event_id.codes, "event_id.values": log.event_id.values})
    for key, column in log.props.items():
        out.update({f"props.{key}.codes": column.codes, f"props.{key}.values": column.values})
    for key in ("email",):
        column = log.user_trait_column(key)
        if column is not None and isinstance(column.values, np.ndarray):
            out.update({f"traits.{key}.codes": column.codes,
                        f"traits.{key}.values": column.values})
    return {k: v for k, v in out.items() if isinstance(v, np.ndarray)}


def test_records_pickle() -> None:
    event = pk.Event(name="a", timestamp=T0, user_id="u", properties={"x": {"y": [1]}})
    user = pk.User(user_id="u", traits={"plan": "pro"})
    for record in (event, user, pk.Account(account_id="a")):
        assert pickle.loads(pickle.dumps(record)) == record == copy.deepcopy(record)
    assert dict(pickle.loads(pickle.dumps(event.properties))) == {"x": {"y": (1,)}}


def test_a_result_pickles_with_its_tables_but_not_its_explanations() -> None:
    # The explainer closed over the engine's working state: pickling a result failed
    # (and so did returning one from a worker process).
    for engine in ("columnar", "reference"):
        result = MODEL.score(_logs()["records"], as_of=AS_OF, engine=engine)
        back = pickle.loads(pickle.dumps(result))
        assert back.users.to_records() == result.users.to_records()
        assert back.accounts.to_records() == result.accounts.to_records()
        assert (back.as_of, back.engine, back.fallbacks) == (
            result.as_of, result.engine, result.fallbacks)
        with pytest.raises(PqlkitError, match="explanations are made from the scoring's"):
            back.explain("u1")
        # An explanation made before pickles; copies in one process keep explain().
        expl = result.explain("u1")
        assert pickle.loads(pickle.dumps(expl)) == expl
        for made in (copy.copy(result), copy.deepcopy(result)):
            assert made.explain("u1") == expl
            assert made.users.to_records() == result.users.to_records()



def test_a_worker_process_scores_a_log_and_returns_the_result() -> None:
    log = _logs()["records"]
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        got = pool.apply(MODEL.score, (log,), {"as_of": AS_OF})
        count = pool.apply(len, (log,))
    assert count == len(log)
    assert got.users.to_records() == MODEL.score(log, as_of=AS_OF).users.to_records()
