"""Tests of pqlkit.results: result tables, and explanations that add up to the score."""

from __future__ import annotations

import importlib
import math
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings

import pqlkit as pk
import pqlkit._optional as optional
from pqlkit import count, days_since_last, distinct_users, exists, total, trait
from pqlkit._optional import MissingDependencyError
from pqlkit.errors import PqlkitError, PqlkitTypeError, UnknownEntityError, ValidationError
from pqlkit.results import Explanation, RollupExplanation, Table
from pqlkit.testing import scoring_cases

AS_OF = "2026-06-01T00:00:00Z"
AS_OF_DT = datetime(2026, 6, 1, tzinfo=UTC)


def table(n: int = 3, **extra: list[Any]) -> Table:
    cols: dict[str, list[Any]] = {"user_id": [f"u{i}" for i in range(n)],
                                  "score": [float(i * 10) for i in range(n)]}
    cols.update(extra)
    return Table(cols, key="user_id")


EVENTS = [
    {"name": "project_created", "timestamp": "2026-05-20T09:00:00Z", "user_id": "u_42"},
    {"name": "teammate_invited", "timestamp": "2026-05-21T10:30:00Z", "user_id": "u_42"},
    {"name": "pricing_page_viewed", "timestamp": "2026-05-28T16:00:00Z", "user_id": "u_42"},
    {"name": "pricing_page_viewed", "timestamp": "2026-05-10T16:00:00Z", "user_id": "u_42"},
    {"name": "project_created", "timestamp": "2026-04-01T09:00:00Z", "user_id": "u_edu"},
    {"name": "project_created", "timestamp": "2026-04-01T09:00:00Z", "user_id": "dual"},
    {"name": "seat_limit_hit", "timestamp": "2026-05-30T09:00:00Z", "account_id": "acme"},
]
USERS = [
    {"user_id": "u_42", "account_id": "acme", "traits": {"email": "ana@acme.com"}},
    {"user_id": "u_edu", "account_id": "acme", "traits": {"email": "bob@uni.edu"}},
    {"user_id": "u_new", "account_id": "acme", "created_at": "2026-07-01T00:00:00Z"},
    {"user_id": "dual", "account_id": "dual"},
]
ACCOUNTS = [{"account_id": "empty_co"}]


def trial_model(**kw: Any) -> pk.ScoringModel:
    fields: dict[str, Any] = {
        "name": "trial-pql",
        "rules": [
            pk.Rule("activation", count("project_created") >= 1, points=40),
            pk.Rule("collaboration", count("teammate_invited") >= 1, points=20),
            pk.Rule("intent", count("pricing_page_viewed", within="30d") >= 1, points=15),
            pk.Rule("recency", days_since_last() < 7, points=10),
        ],
        "disqualify": [trait("email").endswith(".edu")],
        "decay": pk.InactivityDecay(points=5, every="7d", grace="7d"),
        "threshold": 60,
        "tiers": {"A": 80, "B": 60},
    }
    fields.update(kw)
    return pk.ScoringModel(**fields)


@pytest.fixture(scope="module")
def log() -> pk.EventLog:
    return pk.EventLog.from_records(EVENTS, users=USERS, accounts=ACCOUNTS)


@pytest.fixture(scope="module")
def result(log: pk.EventLog) -> pk.ScoreResult:
    return trial_model().score(log, as_of=AS_OF)


# -- Table --------------------------------------------------------------------------------------


def test_table_len_and_columns():
    t = table(3, tier=["A", None, "B"])
    assert len(t) == 3
    assert t.columns == ["user_id", "score", "tier"]
    assert t.key == "user_id"
    assert len(table(0)) == 0


def test_iterating_a_table_yields_one_dict_per_row():
    rows = list(table(2))
    assert rows == [{"user_id": "u0", "score": 0.0}, {"user_id": "u1", "score": 10.0}]
    assert all(type(r) is dict for r in rows)


def test_table_getitem_returns_the_row_of_an_id():
    assert table(3)["u2"] == {"user_id": "u2", "score": 20.0}
    assert "u2" in table(3)
    assert "u9" not in table(3)


def test_unknown_id_raises_a_key_error_with_a_helpful_message():
    with pytest.raises(UnknownEntityError) as info:
        table(3)["u9"]
    assert isinstance(info.value, KeyError)
    assert isinstance(info.value, PqlkitError)
    assert str(info.value) == "no row with user_id 'u9' in this table of 3 rows"


def test_unknown_string_id_in_an_integer_keyed_table_hints_at_the_type():
    t = Table({"user_id": [1, 2], "score": [1.0, 2.0]}, key="user_id")
    assert t[1]["score"] == 1.0
    with pytest.raises(KeyError, match="ids are integers here"):
        t["1"]
    # Not when some ids are text: the hint pointed away from the row the user meant.
    mixed = Table({"user_id": [7, "u1"], "score": [1.0, 2.0]}, key="user_id")
    with pytest.raises(KeyError) as info:
        mixed["U1"]
    assert "integers" not in str(info.value)


def test_rows_are_copies_that_do_not_change_the_table():
    t = table(2)
    row = t["u1"]
    row["score"] = 999
    assert t["u1"]["score"] == 10.0
    col = t.column("score")
    col.append(1)
    assert len(t.column("score")) == 2


def test_column_returns_values_in_row_order():
    assert table(3).column("score") == [0.0, 10.0, 20.0]
    with pytest.raises(KeyError, match="no column 'points'; columns are user_id, score"):
        table(3).column("points")


def test_to_records_is_a_list_of_dicts():
    t = table(2, tier=["A", None])
    assert t.to_records() == [{"user_id": "u0", "score": 0.0, "tier": "A"},
                              {"user_id": "u1", "score": 10.0, "tier": None}]


def test_to_pandas_builds_a_dataframe_with_the_same_columns():
    pd = pytest.importorskip("pandas")
    t = table(3, tier=["A", None, "B"])
    df = t.to_pandas()
    assert isinstance(df, pd.DataFrame)
    assert list(df.columns) == t.columns
    assert df["score"].tolist() == [0.0, 10.0, 20.0]
    assert len(df) == 3


def test_to_pandas_keeps_integer_ids_exact_beside_missing_ones():
    # pandas makes a column of ints and None float64: 1234567890123456789 came back as
    # 1234567890123456768.0 (and compared equal to the real id, as floats).
    pytest.importorskip("pandas")
    big = 1234567890123456789
    t = Table({"user_id": ["u1", "u2", "u3"], "account_id": [big, None, 7],
               "score": [1.0, 2.0, 3.0]}, key="user_id")
    df = t.to_pandas()
    assert df["account_id"].dtype == object
    assert df["account_id"].tolist() == [big, None, 7]
    assert [type(v) for v in df["account_id"]] == [int, type(None), int]
    assert df["score"].dtype == "float64"


def test_to_pandas_without_pandas_names_the_extra_to_install(monkeypatch):
    real_import = importlib.import_module

    def no_pandas(name: str, *args: Any) -> Any:
        if name.split(".")[0] == "pandas":
            raise ModuleNotFoundError("No module named 'pandas'")
        return real_import(name, *args)

    monkeypatch.setattr(optional.importlib, "import_module", no_pandas)
    with pytest.raises(MissingDependencyError) as info:
        table(1).to_pandas()
    message = str(info.value)
    assert "Table.to_pandas() needs pandas" in message
    assert "pip install 'pqlkit[pandas]'" in message
    assert isinstance(info.value, ImportError)
    assert isinstance(info.value, PqlkitError)


def test_to_arrow_without_pyarrow_names_the_arrow_extra(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "pyarrow", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'pqlkit\[arrow\]'"):
        table(1).to_arrow()


def test_sort_by_ascending_puts_missing_values_last_and_breaks_ties_by_key():
    t = Table({"user_id": ["c", "a", "b", "d"], "score": [5.0, None, 5.0, 1.0]}, key="user_id")
    assert t.sort_by("score").column("user_id") == ["d", "b", "c", "a"]


@pytest.mark.parametrize("descending", [False, True])
def test_sort_by_breaks_ties_in_id_order_for_integer_ids(descending):
    # Ties went by the id's text: 1, 10, 2, 33.
    events = [{"name": "login", "timestamp": "2026-05-01T00:00:00Z", "user_id": uid}
              for uid in (10, 2, 1, 33)]
    model = pk.ScoringModel(name="m", threshold=0,
                            rules=[pk.Rule("login", pk.exists("login"), points=1)])
    users = model.score(events).users
    assert users.column("user_id") == [1, 2, 10, 33]
    assert users.sort_by("score", descending=descending).column("user_id") == [1, 2, 10, 33]
    assert users.sort_by("tier", descending=descending).column("user_id") == [1, 2, 10, 33]


def test_sort_by_descending_numbers_puts_missing_values_last():
    t = Table({"user_id": ["c", "a", "b", "d"], "score": [5.0, None, 5.0, 9.0]}, key="user_id")
    assert t.sort_by("score", descending=True).column("user_id") == ["d", "b", "c", "a"]


def test_sort_by_descending_text_puts_missing_values_last():
    t = Table({"user_id": ["u1", "u2", "u3", "u4"], "tier": [None, "A", "disqualified", "A"]},
              key="user_id")
    out = t.sort_by("tier", descending=True)
    assert out.column("tier") == ["disqualified", "A", "A", None]
    assert out.column("user_id") == ["u3", "u2", "u4", "u1"]
    assert t.sort_by("tier").column("tier") == ["A", "A", "disqualified", None]


def test_sort_by_returns_a_new_table_and_keeps_the_original():
    t = table(3)
    out = t.sort_by("score", descending=True)
    assert out is not t
    assert out.column("user_id") == ["u2", "u1", "u0"]
    assert t.column("user_id") == ["u0", "u1", "u2"]
    assert out["u0"]["score"] == 0.0


def test_sort_by_unknown_column_raises():
    with pytest.raises(KeyError, match="no column 'nope'"):
        table(2).sort_by("nope")


def test_head_and_filter_return_new_tables():
    t = table(8)
    assert t.head(3).column("user_id") == ["u0", "u1", "u2"]
    assert len(t.head()) == 5
    assert len(t.head(100)) == 8
    assert len(t) == 8
    big = t.filter(lambda row: row["score"] >= 50)
    assert big.column("user_id") == ["u5", "u6", "u7"]
    assert big["u6"]["score"] == 60.0


def test_table_repr_is_a_readable_text_table():
    t = table(2, tier=["A", None])
    text = repr(t)
    lines = text.splitlines()
    assert lines[0] == "<Table 2 rows>"
    assert lines[1].split() == ["user_id", "score", "tier"]
    assert lines[3].split() == ["u0", "0", "A"]
    assert "more rows" not in text
    assert "… 2 more rows" in repr(table(12))


def test_table_html_escapes_and_truncates():
    t = Table({"user_id": ["<script>"], "score": [1.5]}, key="user_id")
    html = t._repr_html_()
    assert "<th>user_id</th>" in html and "&lt;script&gt;" in html and "<script>" not in html
    assert "1.5" in html
    assert "… 10 more rows" in table(60)._repr_html_()


def test_table_construction_is_validated():
    with pytest.raises(PqlkitTypeError, match="table key 'id' is not a column"):
        Table({"user_id": []}, key="id")
    with pytest.raises(PqlkitTypeError, match="differ in length"):
        Table({"user_id": [1, 2], "score": [1.0]}, key="user_id")


# -- ScoreResult tables -------------------------------------------------------------------------


def test_result_records_the_as_of_it_used(result, log):
    assert result.as_of == AS_OF_DT
    assert trial_model().score(log).as_of == datetime(2026, 5, 30, 9, tzinfo=UTC)


def test_result_user_table_has_one_row_per_existing_user(result):
    assert result.users.column("user_id") == ["dual", "u_42", "u_edu"]
    assert result.users.columns == ["user_id", "account_id", "score", "raw_score", "tier",
                                    "is_pql", "disqualified", "activation", "collaboration",
                                    "intent", "recency"]
    assert "u_new" not in result.users


def test_result_rows_follow_the_model(result):
    top = result.users["u_42"]
    assert top["score"] == 85
    assert (top["is_pql"], top["tier"], top["disqualified"]) == (True, "A", False)
    assert top["account_id"] == "acme"
    edu = result.users["u_edu"]
    assert edu["disqualified"] is True
    assert edu["tier"] == "disqualified"
    assert edu["is_pql"] is False


def test_result_account_table(result):
    assert result.accounts.column("account_id") == ["acme", "dual", "empty_co"]
    acme = result.accounts["acme"]
    assert (acme["n_users"], acme["n_pql"], acme["share_pql"], acme["is_pqa"]) == (2, 1, 0.5, True)
    empty = result.accounts["empty_co"]
    assert (empty["n_users"], empty["is_pqa"]) == (0, False)


def test_result_summary_and_repr(result):
    summary = result.summary()
    assert summary == {"as_of": AS_OF_DT, "model": "trial-pql", "users": 3, "pqls": 1,
                       "accounts": 3, "pqas": 1}
    text = repr(result)
    assert "model='trial-pql'" in text and "as_of=2026-06-01T00:00:00Z" in text
    assert "pqls=1" in text
    html = result._repr_html_()
    assert "<table>" in html and "u_42" in html
    assert html.index("u_42") < html.index("u_edu")


# -- explain ----------------------------------------------------------------------------------


def test_explain_a_user_decomposes_its_score(result):
    expl = result.explain("u_42")
    assert isinstance(expl, Explanation)
    assert (expl.entity_id, expl.level, expl.model) == ("u_42", "user", "trial-pql")
    assert expl.as_of == AS_OF_DT
    assert expl.total() == expl.score == 85
    assert [r.rule for r in expl.rules] == ["activation", "collaboration", "intent", "recency"]
    assert [r.points for r in expl.rules] == [40, 20, 15, 10]
    assert expl.qualified and expl.tier == "A" and expl.threshold == 60


def test_explanation_evidence_counts_the_matching_events(result):
    intent = {r.rule: r for r in result.explain("u_42").rules}["intent"]
    assert intent.matched
    assert intent.evidence.n_events == 2
    assert intent.evidence.latest is not None
    assert intent.evidence.latest.name == "pricing_page_viewed"
    assert intent.evidence.latest.timestamp == datetime(2026, 5, 28, 16, tzinfo=UTC)
    assert intent.evidence.first is not None
    assert intent.evidence.first.timestamp == datetime(2026, 5, 10, 16, tzinfo=UTC)


def test_explanation_with_decay_and_clamp_still_adds_up(result):
    expl = result.explain("u_edu")
    assert expl.decay < 0
    assert "idle" in expl.decay_detail
    assert expl.total() == pytest.approx(expl.score)
    assert expl.disqualified
    assert expl.disqualified_by == ("trait('email').endswith('.edu')",)
    assert expl.tier == "disqualified"
    assert expl.score == result.users["u_edu"]["score"]


def test_explanation_adds_up_with_caps_rule_decay_and_floor(log):
    m = pk.ScoringModel(
        name="capped",
        rules=[
            pk.Rule("activation", count("project_created") >= 1, points=40, group="g"),
            pk.Rule("intent", exists("pricing_page_viewed"), points=30, group="g",
                    decay=pk.HalfLife("7d")),
            pk.Rule("penalty", exists("seat_limit_hit") | exists("project_created"),
                    points=-100),
        ],
        group_caps={"g": 50},
        threshold=10,
        floor=-20,
    )
    res = m.score(log, as_of=AS_OF)
    for uid in res.users.column("user_id"):
        expl = res.explain(uid, level="user")
        assert expl.total() == pytest.approx(expl.score, abs=1e-9)
        assert expl.score == res.users[uid]["score"]
    expl = res.explain("u_42")
    assert expl.score == -20
    assert expl.clamp > 0
    intent = {r.rule: r for r in expl.rules}["intent"]
    assert intent.points < intent.base_points == 30
    assert intent.decay_points == intent.points - 30


def test_explanation_text_mentions_rules_points_and_evidence(result):
    text = result.explain("u_42").text()
    first = text.splitlines()[0]
    assert "user 'u_42' scored 85" in first
    assert "'trial-pql'" in first and "2026-06-01T00:00:00Z" in first
    assert "is a PQL" in first
    for name in ("activation", "collaboration", "intent", "recency"):
        assert name in text
    assert "+40" in text
    assert "count('project_created') >= 1" in text
    assert "latest pricing_page_viewed at 2026-05-28T16:00:00Z" in text
    assert "2 matching events" in text
    assert "last activity" in text
    assert str(result.explain("u_42")) == text


def test_explanation_text_of_a_disqualified_decayed_user(result):
    text = result.explain("u_edu").text()
    assert "disqualified (trait('email').endswith('.edu'))" in text
    assert "decay −" in text
    assert "is a PQL" not in text


def test_explanation_to_dict_is_plain_data(result):
    data = result.explain("u_42").to_dict()
    assert data["entity_id"] == "u_42"
    assert data["score"] == 85
    assert isinstance(data["rules"], (list, tuple))
    assert data["rules"][0]["rule"] == "activation"
    assert data["rules"][0]["evidence"]["n_events"] == 1
    assert set(data) >= {"level", "model", "as_of", "raw_score", "decay", "clamp", "tier",
                         "qualified", "disqualified", "threshold"}


def test_explanations_write_json_with_moments_as_iso_text():
    # to_dict() held tuples, read-only mappings and datetimes: json.dumps refused it.
    import json

    model = pk.ScoringModel(name="m", threshold=1,
                            rules=[pk.Rule("a", pk.count("x") >= 1, points=1)])
    result = model.score([{"name": "x", "timestamp": "2026-05-01T00:00:00Z", "user_id": "u1",
                           "account_id": "acme", "properties": {"p": [1, 2], "q": {"z": 1}}}])
    expl = result.explain("u1")
    data = expl.to_dict()
    assert data["rules"][0]["evidence"]["latest"]["properties"] == {"p": [1, 2], "q": {"z": 1}}
    assert type(data["rules"]) is list and type(data["disqualified_by"]) is list
    back = json.loads(expl.to_json())
    assert back["as_of"] == "2026-05-01T00:00:00+00:00"
    assert back["rules"][0]["evidence"]["latest"]["timestamp"] == "2026-05-01T00:00:00+00:00"
    assert back["score"] == 1.0 and back["rules"][0]["points"] == 1
    rollup = json.loads(result.explain("acme").to_json(indent=2))
    assert rollup["account_id"] == "acme" and rollup["users"][0]["user_id"] == "u1"


def test_explanation_html(result):
    html = result.explain("u_42")._repr_html_()
    assert "<table>" in html and "activation" in html


def test_explain_an_account_of_a_user_model_gives_its_rollup(result):
    expl = result.explain("acme")
    assert isinstance(expl, RollupExplanation)
    assert (expl.n_users, expl.n_pql, expl.share_pql, expl.is_pqa) == (2, 1, 0.5, True)
    assert expl.score == result.accounts["acme"]["score"] == 85
    assert [u["user_id"] for u in expl.users] == ["u_42", "u_edu"]
    text = expl.text()
    assert "account 'acme' is a PQA" in text
    assert "1 of 2 users are PQLs" in text
    assert "u_42" in text and "disqualified" in text
    assert expl.to_dict()["account_id"] == "acme"
    assert "<table>" in expl._repr_html_()


def test_explain_an_empty_account(result):
    expl = result.explain("empty_co")
    assert (expl.n_users, expl.is_pqa, expl.score) == (0, False, 0)


def test_explain_an_account_level_model(log):
    m = pk.ScoringModel(
        name="pqa",
        level="account",
        rules=[pk.Rule("team", distinct_users("project_created") >= 1, points=30),
               pk.Rule("limit", exists("seat_limit_hit"), points=25)],
        threshold=50,
    )
    res = m.score(log, as_of=AS_OF)
    assert len(res.users) == 0
    expl = res.explain("acme")
    assert isinstance(expl, Explanation)
    assert expl.level == "account"
    assert expl.score == expl.total() == 55
    assert expl.qualified
    assert res.accounts["acme"]["is_pqa"] is True
    assert "is a PQA" in expl.text()


def test_explain_an_id_that_is_both_user_and_account_asks_for_level(result):
    with pytest.raises(UnknownEntityError) as info:
        result.explain("dual")
    assert "'dual' is both a user and an account id" in str(info.value)
    assert "level='user'" in str(info.value)
    assert isinstance(result.explain("dual", level="user"), Explanation)
    assert isinstance(result.explain("dual", level="account"), RollupExplanation)


def test_explain_an_unknown_id_says_why_it_may_be_missing(result):
    with pytest.raises(KeyError) as info:
        result.explain("nobody")
    message = str(info.value)
    assert "'nobody' is neither a user nor an account" in message
    assert "2026-06-01T00:00:00Z" in message
    assert "case- and type-sensitive" in message
    assert "created after as_of" in message


def test_explain_a_user_created_after_as_of_is_unknown(result):
    with pytest.raises(UnknownEntityError):
        result.explain("u_new")
    # With level= too, the message says why an id may have no row.
    with pytest.raises(UnknownEntityError, match="created after as_of get no row"):
        result.explain("u_new", level="user")


def test_explain_with_a_level_that_does_not_hold_the_id(result):
    with pytest.raises(UnknownEntityError, match="no account 'u_42' in this result"):
        result.explain("u_42", level="account")
    # As ScoringModel(level="team") says it: a ValidationError (a ValueError); not a str: a
    # PqlkitTypeError.
    with pytest.raises(ValidationError, match="level must be 'user' or 'account'"):
        result.explain("u_42", level="team")
    with pytest.raises(PqlkitTypeError, match="level must be 'user' or 'account', got 1"):
        result.explain("u_42", level=1)


def test_explanations_add_up_for_every_user_of_the_trial_model(result):
    for uid in result.users.column("user_id"):
        expl = result.explain(uid, level="user")
        assert math.isclose(expl.total(), expl.score, abs_tol=1e-9)
        row = result.users[uid]
        assert {r.rule: r.points for r in expl.rules} == {
            k: row[k] for k in ("activation", "collaboration", "intent", "recency")
        }


# -- columns handed over as numpy arrays -----------------------------------------------------


def _deferred_and_plain() -> tuple[Table, Table]:
    import numpy as np

    from pqlkit.results import _Deferred

    ids = np.array(["c", "a", None, 7], dtype=object)
    cols: dict[str, Any] = {
        "user_id": ids, "score": np.array([1.5, 2.0, 0.0, 3.0]),
        "n": np.array([1, 2, 3, 4], dtype=np.int64),
        "flag": np.array([True, False, True, False]),
    }
    deferred = Table({k: _Deferred(v) for k, v in cols.items()}, key="user_id")
    plain = Table({k: v.tolist() for k, v in cols.items()}, key="user_id")
    return deferred, plain


def test_deferred_columns_read_as_python_values_everywhere() -> None:
    for read in (lambda t: t.column("score"), lambda t: t.column("flag"), lambda t: t["a"],
                 lambda t: t.to_records(), lambda t: list(t), len, lambda t: "c" in t,
                 lambda t: t.sort_by("score", descending=True).to_records(),
                 lambda t: t.head(2).to_records(), repr, lambda t: t._repr_html_(),
                 lambda t: t.filter(lambda r: r["flag"]).to_records(),
                 lambda t: t.columns):
        deferred, plain = _deferred_and_plain()
        got, want = read(deferred), read(plain)
        assert got == want
        # numpy scalars would compare equal: the types must be Python's too.
        assert repr(got) == repr(want)
    deferred, _ = _deferred_and_plain()
    assert [type(v) for v in deferred.column("n")] == [int] * 4
    assert [type(v) for v in deferred.column("flag")] == [bool] * 4
    column = deferred.column("n")
    column.append(5)  # a copy: the table is unchanged
    assert deferred.column("n") == [1, 2, 3, 4]
    with pytest.raises(UnknownEntityError, match="no column 'nope'"):
        deferred.column("nope")


def test_columnar_results_stay_arrays_until_read() -> None:
    from pqlkit.results import _Deferred

    log = pk.EventLog.from_records(EVENTS)
    model = pk.ScoringModel(name="m", threshold=1, rules=[
        pk.Rule("any", count("project_created") >= 1, points=1)])
    result = model.score(log, as_of=AS_OF, engine="columnar")
    assert all(isinstance(v, _Deferred) for v in result.users._data.values())
    assert result.users.column("score") == model.score(
        log, as_of=AS_OF, engine="reference").users.column("score")
    assert isinstance(result.users._data["score"], list)


#: Each export, and the library it needs.
_EXPORTS = {"to_pandas": "pandas", "to_arrow": "pyarrow", "to_polars": "polars"}


def _edge_tables() -> dict[str, Table]:
    """Tables of numpy columns as an engine hands them over, with the values exports must
    keep: nan, -0.0 and inf; int64's bounds; ids of mixed types, beyond int64, or missing;
    a column of no value; no rows at all."""
    import numpy as np

    from pqlkit.results import _Deferred

    def obj(*values: Any) -> Any:
        column = np.empty(len(values), dtype=object)
        column[:] = values
        return column

    edges = {"user_id": obj("c", 7, "a", "d"), "account_id": obj(2**60 + 1, None, 3, None),
             "score": np.array([math.nan, -0.0, math.inf, -math.inf]),
             "n": np.array([0, -1, 2**63 - 1, -2**63], dtype=np.int64),
             "flag": np.array([True, False, False, True]), "tier": obj("A", None, None, "B"),
             "nobody": obj(None, None, None, None)}
    types = {"user_id": "str", "account_id": "str", "score": "float", "n": "int",
             "flag": "bool", "tier": "str", "nobody": "str"}
    empty = {name: values[:0] for name, values in edges.items()}
    big = {"user_id": obj(2**64, 5, -2**63 - 1), "score": np.array([1.0, 0.5, -0.0])}
    return {name: Table({k: _Deferred(v) for k, v in columns.items()}, key="user_id",
                        types=kinds)
            for name, columns, kinds in (("edges", edges, types), ("big ids", big, {}),
                                         ("empty", empty, types), ("empty untyped", empty, {}))}


def _engine_tables() -> dict[str, Table]:
    """The columnar engine's result tables: int ids with missing accounts beside string
    ids, a tier nobody reaches, an account-level model, a result of no rows."""
    t = "2026-05-20T00:00:00Z"
    events = [{"name": "a", "timestamp": t, "user_id": 1, "account_id": 10**18},
              {"name": "a", "timestamp": t, "user_id": "u2"},
              {"name": "b", "timestamp": t, "user_id": 3, "account_id": 7}]
    rules = [pk.Rule("r", count("a") >= 1, points=1), pk.Rule("d", exists("b"), points=2.5),
             pk.Rule("neg", exists("a"), points=-3, decay=pk.HalfLife("7d"))]
    out = {}
    for level in ("user", "account"):
        model = pk.ScoringModel(name="m", threshold=1, level=level, rules=rules,
                                tiers={"never": 100})
        for name, log in (("", events), (" empty", [])):
            result = model.score(log, as_of=AS_OF, engine="columnar")
            out[f"{level}-level users{name}"] = result.users
            out[f"{level}-level accounts{name}"] = result.accounts
    return out


def _as_lists(t: Table) -> Table:
    """``t`` built the plain way: every column a list of its Python values."""
    from pqlkit.results import _Deferred

    return Table({name: v.array.tolist() if isinstance(v, _Deferred) else list(v)
                  for name, v in t._data.items()}, key=t.key, types=t._types)


def _assert_same_export(got: Any, want: Any) -> None:
    """Two exports alike to the bit: column names, order and types, and values by repr
    (the libraries' equality takes -0.0 for 0.0, and Arrow's takes nan for unequal)."""
    library = type(got).__module__.split(".")[0]
    if library == "pandas":
        import pandas.testing

        pandas.testing.assert_frame_equal(got, want, check_exact=True)
        assert repr(got.to_dict("list")) == repr(want.to_dict("list"))
    elif library == "pyarrow":
        assert got.schema == want.schema
        assert repr(got.to_pydict()) == repr(want.to_pydict())
    else:
        assert library == "polars" and got.equals(want) and got.schema == want.schema
        assert repr(got.to_dict(as_series=False)) == repr(want.to_dict(as_series=False))


@pytest.mark.parametrize("export", _EXPORTS)
@pytest.mark.parametrize("case", [*_edge_tables(), *_engine_tables()])
def test_exports_of_numpy_columns_are_those_of_python_lists(export: str, case: str) -> None:
    pytest.importorskip(_EXPORTS[export])
    deferred = {**_edge_tables(), **_engine_tables()}[case]
    plain = _as_lists(deferred)
    _assert_same_export(getattr(deferred, export)(), getattr(plain, export)())
    # And once the table's columns were read as lists (a row, a column, a sort).
    deferred.to_records()
    _assert_same_export(getattr(deferred, export)(), getattr(plain, export)())


def test_exports_keep_the_dtypes_of_the_values() -> None:
    pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    pl = pytest.importorskip("polars")
    edges = _edge_tables()["edges"]
    frame = edges.to_pandas()
    assert [str(d) for d in frame.dtypes[["score", "n", "flag", "account_id", "nobody"]]] == [
        "float64", "int64", "bool", "object", "object"]
    assert frame["account_id"].tolist() == [2**60 + 1, None, 3, None]
    assert frame["user_id"].tolist() == ["c", 7, "a", "d"]
    assert repr(frame["score"].tolist()) == "[nan, -0.0, inf, -inf]"
    schema = edges.to_arrow().schema
    assert [str(schema.field(c).type) for c in ("user_id", "score", "n", "flag", "nobody")] == [
        "string", "double", "int64", "bool", "string"]
    polars = edges.to_polars()
    assert polars["user_id"].to_list() == ["c", "7", "a", "d"]
    assert [polars.schema[c] for c in ("score", "n", "flag", "nobody")] == [
        pl.Float64, pl.Int64, pl.Boolean, pl.Utf8]


def test_exports_read_numeric_arrays_without_making_them_python_lists() -> None:
    # Exports made every column a list (tolist()) and the libraries typed the list again:
    # at 1M users, 6-9x the time of the score itself.
    import numpy as np

    from pqlkit.results import _Deferred

    class NoList(np.ndarray):
        def tolist(self) -> Any:
            raise AssertionError("an export made a numeric column a list")

    for export, library in _EXPORTS.items():
        pytest.importorskip(library)
        deferred, plain = _deferred_and_plain()
        for name in ("score", "n", "flag"):
            array = deferred._data[name].array  # type: ignore[union-attr]
            deferred._data[name] = _Deferred(array.view(NoList))
        _assert_same_export(getattr(deferred, export)(), getattr(plain, export)())
        assert all(isinstance(deferred._data[name], _Deferred) for name in ("score", "n", "flag"))


def test_ids_of_mixed_types_export_as_strings_to_arrow_and_polars():
    pytest.importorskip("pyarrow")
    events = [{"name": "a", "timestamp": "2026-05-30T00:00:00Z", "user_id": 1},
              {"name": "a", "timestamp": "2026-05-30T00:00:00Z", "user_id": "u2"}]
    model = pk.ScoringModel(name="m", threshold=0, rules=[pk.Rule("a", pk.exists("a"),
                                                                  points=1)])
    users = model.score(events).users
    table = users.to_arrow()
    assert table.column("user_id").to_pylist() == ["1", "u2"]
    assert table.column("score").to_pylist() == [1.0, 1.0]


def test_wrong_arguments_get_pqlkit_errors_not_python_ones():
    # Each gave TypeError: unhashable / not iterable / slice indices, or AttributeError.
    events = [{"name": "login", "timestamp": "2026-05-30T10:00:00Z", "user_id": "u1"}]
    model = pk.ScoringModel(name="m", threshold=1, rules=[pk.Rule("r", exists("login"),
                                                                  points=1)])
    result = model.score(events)
    log = pk.EventLog.from_records(events)
    for bad, match in ((lambda: result.users[["u1"]], "one id at a time"),
                       (lambda: result.explain(["u1"]), "one id at a time"),
                       (lambda: result.users.head("10"), "number of rows"),
                       (lambda: pk.EventLog.from_records(None), "iterable of Event"),
                       (lambda: model.score(None), "iterable of Event"),
                       (lambda: pk.EventLog.from_records(events, users=5), "users must be"),
                       (lambda: pk.EventLog.concat(log), r"EventLog.concat\(\[a, b\]\)"),
                       (lambda: pk.ScoringModel(name="m", threshold=1, rules=[],
                                                group_caps={1: 5}), "group name")):
        with pytest.raises(PqlkitError, match=match):
            bad()
    import numpy as np

    assert result.users[np.str_("u1")]["score"] == 1.0
    with pytest.raises(pk.ValidationError, match="cap must be 0 or more"):
        pk.ScoringModel(name="m", threshold=1, group_caps={"g": -5}, rules=[
            pk.Rule("r", exists("x"), points=15, group="g")])


def test_integer_ids_beyond_int64_export_as_text():
    # Ids may be any integer; to_arrow raised a bare OverflowError on one beyond int64.
    pytest.importorskip("pyarrow")
    events = [{"name": "x", "timestamp": "2026-05-01T00:00:00Z", "user_id": u}
              for u in (2**64, 5)]
    users = pk.ScoringModel(name="m", threshold=0, rules=[]).score(events).users
    assert users.to_arrow().column("user_id").to_pylist() == ["5", str(2**64)]
    assert users.to_records()[1]["user_id"] == 2**64


def _mixed_id_users() -> Table:
    log = pk.EventLog.from_records([
        {"name": "a", "timestamp": "2026-05-01T00:00:00Z", "user_id": "u1"},
        {"name": "a", "timestamp": "2026-05-01T00:00:00Z", "user_id": 2}])
    model = pk.ScoringModel(name="m", threshold=0, rules=[pk.Rule("a", pk.exists("a"), points=1)])
    return model.score(log).users


def test_sort_by_orders_ids_of_mixed_types_as_the_loader_does():
    # Raised the builtin "'<' not supported between instances of 'str' and 'int'".
    users = _mixed_id_users()
    assert users.sort_by("user_id").column("user_id") == [2, "u1"]
    assert users.sort_by("user_id", descending=True).column("user_id") == ["u1", 2]


@pytest.mark.parametrize("descending", [False, True])
def test_sort_by_a_column_of_mixed_types_keeps_missing_values_last(descending):
    t = Table({"user_id": ["a", "b", "c", "d", "e"], "v": ["x", None, 3, 1.5, "x"]},
              key="user_id")
    out = t.sort_by("v", descending=descending).column("user_id")
    assert out == (["a", "e", "c", "d", "b"] if descending else ["d", "c", "a", "e", "b"])


@pytest.mark.parametrize("column", [[], ["score"], ("score",), 5, None])
def test_sort_by_refuses_anything_but_one_column_name(column):
    with pytest.raises(PqlkitTypeError, match=r"sort_by\(\) takes one column name "
                                              r"\(a string\), got .*; columns are user_id, score"):
        table(2).sort_by(column)


def test_filter_refuses_a_column_name_and_suggests_a_function():
    users = _mixed_id_users()
    with pytest.raises(PqlkitTypeError, match=r"filter\(\) takes a function of a row .* "
                                              r"got 'is_pql' \(str\); .*lambda row: "
                                              r"row\['is_pql'\]"):
        users.filter("is_pql")
    with pytest.raises(PqlkitTypeError, match=r"got 5 \(int\)"):
        users.filter(5)  # type: ignore[arg-type]


@pytest.mark.parametrize("engine", ["columnar", "reference"])
@pytest.mark.parametrize(("min_share", "policy"), [(0.667, ">= 0.667"),
                                                   (2 / 3, ">= 0.6666666666666666")])
def test_rollup_text_does_not_round_a_share_past_its_policy(engine: str, min_share: float,
                                                            policy: str) -> None:
    # 2 of 3 users: "share 67%" beside ">= 0.667" read as a PQA that was refused.
    t = datetime(2026, 5, 1, tzinfo=UTC)
    log = pk.EventLog.from_records(
        [{"name": "a", "timestamp": t, "user_id": u, "account_id": "acme"}
         for u in ("u1", "u2")],
        users=[{"user_id": u, "account_id": "acme"} for u in ("u1", "u2", "u3")])
    model = pk.ScoringModel(name="m", threshold=1, rules=[pk.Rule("a", exists("a"), points=1)],
                            rollup=pk.Rollup(min_share=min_share))
    result = model.score(log, as_of=t, engine=engine)
    text = result.explain("acme", level="account").text()
    assert "2 of 3 users are PQLs (share ≈66.67%)" in text
    assert f"share of PQL users {policy} and" in text
    assert [r["is_pqa"] for r in result.accounts] == [min_share <= 2 / 3]


def test_sort_by_puts_nan_last_and_keeps_the_others_in_order() -> None:
    # nan compares false to everything: the rows around it were left unsorted (and the
    # CLI's --top showed a nan account first).
    t = Table({"user_id": ["a", "b", "c", "d", "e", "f"],
               "score": [50.0, math.nan, 1.0, 20.0, None, 5.0]}, key="user_id")
    assert [r["user_id"] for r in t.sort_by("score")] == ["c", "f", "d", "a", "b", "e"]
    assert [r["user_id"] for r in t.sort_by("score", descending=True)] == [
        "a", "d", "f", "c", "b", "e"]


def test_readable_numbers_keep_their_whole_digits() -> None:
    # Six significant digits printed a score of 1234570.69 as 1.23457e+06 in explanation
    # text, tables and the CLI: its parts did not add up to it on the page.
    from pqlkit.results import _cell

    assert [_cell(v) for v in (1234570.69, -250000.125, 1e14 + 0.5, 85.0, 7.0710678, 1e20,
                               0.000123)] == [
        "1234570.69", "-250000.12", "100000000000000.5", "85", "7.07107", "1e+20",
        "0.000123"]
    events = [{"name": "purchase", "timestamp": "2026-05-20T00:00:00Z", "user_id": "u",
               "properties": {"cents": 123456789}}]
    model = pk.ScoringModel(name="revenue", threshold=100, rules=[
        pk.Rule("spend", total("cents", of="purchase"), points_per=0.01)])
    text = model.score(events, as_of="2026-06-01T00:00:00Z").explain("u").text()
    assert "scored 1234567.89" in text and "+1234567.89" in text


@settings(max_examples=60, deadline=None)
@given(case=scoring_cases())
def test_declared_column_types_are_those_of_the_values(case: Any) -> None:
    # Exports type a column with no value (an empty result, a tier nobody reaches) by its
    # declared type: it must be the type every value of the column has when there are some.
    model, (events, users, accounts), as_of = case
    log = pk.EventLog.from_records(events, users=users, accounts=accounts)
    if not len(log) and as_of is None:
        return
    python = {"int": int, "float": float, "bool": bool, "str": str}
    for engine in ("columnar", "reference"):
        result = model.score(log, as_of=as_of, engine=engine)
        for table in (result.users, result.accounts):
            for name, kind in table._types.items():
                if name.endswith("_id"):
                    continue  # (ids are ints or strs, as loaded)
                assert {type(v) for v in table.column(name) if v is not None} <= {
                    python[kind]}, (engine, name, kind)


@pytest.mark.parametrize("engine", ["columnar", "reference"])
def test_an_empty_result_exports_with_its_column_types(engine: str) -> None:
    # Columns of no value were Arrow/polars "null" and pandas float64: a daily export's
    # schema changed on a day without events (and tier on a day nobody reached one).
    pa = pytest.importorskip("pyarrow")
    pl = pytest.importorskip("polars")
    pd = pytest.importorskip("pandas")
    model = pk.ScoringModel(name="m", threshold=1, tiers={"hot": 50}, rules=[
        pk.Rule("r", count("a") >= 1, points=1), pk.Rule("d", exists("a"), points=2.5)])
    for events in ([], [{"name": "a", "timestamp": "2026-05-20T00:00:00Z", "user_id": "u1"}]):
        result = model.score(events, as_of="2026-06-01T00:00:00Z", engine=engine)
        schema = result.users.to_arrow().schema
        assert [(f.name, str(f.type)) for f in schema] == [
            ("user_id", "string"), ("account_id", "string"), ("score", "double"),
            ("raw_score", "double"), ("tier", "string"), ("is_pql", "bool"),
            ("disqualified", "bool"), ("r", "int64"), ("d", "double")]
        assert result.users.to_polars().schema["tier"] == pl.Utf8
        assert result.accounts.to_arrow().schema.field("n_pql").type == pa.int64()
    frame = result.users.head(0).to_pandas()
    assert dict(frame.dtypes.astype(str)) | {"user_id": "", "account_id": "", "tier": ""} == {
        "user_id": "", "account_id": "", "score": "float64", "raw_score": "float64",
        "tier": "", "is_pql": "bool", "disqualified": "bool", "r": "int64", "d": "float64"}
    assert isinstance(frame, pd.DataFrame)
