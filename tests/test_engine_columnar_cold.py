"""The columnar engine's first score of a log: trait columns and scans without an index.

A log that offers trait columns (``user_trait_column`` / ``account_trait_column``: codes
into distinct values, -1 = absent) is read through them instead of one mapping per entity,
``email_domain`` derived per distinct ``email``; the per-entity first and last events and
counts come from chunked scans of the time-ordered log instead of a sort of every event.
Both must give what the reference engine gives, bit for bit.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import pqlkit as pk
from pqlkit import _columns, templates
from pqlkit.engine import columnar as col
from pqlkit.engine.reference import same_value, str_test
from pqlkit.eventlog import EventLog, PropColumn
from pqlkit.expr import StrTest
from pqlkit.testing import assert_explanations_equal, assert_results_equal, scoring_cases

AS_OF = datetime(2026, 6, 1, tzinfo=UTC)
EMAILS = ("ann@acme.com", "Bo@Acme.COM", "cy@rival.io", "di@uni.EDU", "no-at-sign", "x@y@Z.io",
          "émile@ÉCOLE.fr", 42, True, ["a@b.c"])
DOMAINS = ("acme.com", "rival.io", "ACME.COM", 7, None)


def _column(table: tuple[Any, ...], key: str) -> PropColumn | None:
    """A trait column as the loaders build it: None values are absent traits."""
    index: dict[Any, int] = {}
    values: list[Any] = []
    codes = []
    for traits in table:
        value = traits.get(key)
        if value is None:
            codes.append(-1)
            continue
        k = (type(value), _columns_key(value))
        if k not in index:
            index[k] = len(values)
            values.append(value)
        codes.append(index[k])
    if not values:
        return None
    return PropColumn(np.array(codes, dtype=np.int32), _columns.typed_values(values))


def _columns_key(value: Any) -> Any:
    return repr(value) if isinstance(value, (list, dict, tuple)) else value


@pytest.fixture
def trait_columns(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Give EventLog trait columns (built from its mappings); yields the keys read."""
    read: list[str] = []

    def user_trait_column(self: EventLog, key: str) -> PropColumn | None:
        read.append(f"user.{key}")
        return _column(self.user_traits, key)

    def account_trait_column(self: EventLog, key: str) -> PropColumn | None:
        read.append(f"account.{key}")
        return _column(self.account_traits, key)

    monkeypatch.setattr(EventLog, "user_trait_column", user_trait_column, raising=False)
    monkeypatch.setattr(EventLog, "account_trait_column", account_trait_column,
                        raising=False)
    yield read


def both(model: pk.ScoringModel, log: pk.EventLog, as_of: Any = AS_OF) -> pk.ScoreResult:
    ref = model.score(log, as_of=as_of, engine="reference")
    got = model.score(log, as_of=as_of, engine="columnar")
    assert_results_equal(ref, got)
    assert_explanations_equal(ref, got)
    return got


trait_maps = st.fixed_dictionaries({}, optional={
    "email": st.sampled_from(EMAILS),
    "email_domain": st.sampled_from(DOMAINS),
    "role": st.sampled_from(("admin", "member", 1, 1.0, True)),
})

TRAIT_MODEL = pk.ScoringModel(name="t", threshold=1, rules=[
    pk.Rule("domain", pk.trait("email_domain") == "acme.com", points=1),
    pk.Rule("rival", pk.trait("email_domain").isin(["rival.io", 7]), points=2),
    pk.Rule("no_domain", pk.trait("email_domain").is_missing(), points=4),
    pk.Rule("edu", pk.trait("email").endswith(".edu", ignore_case=True), points=8),
    pk.Rule("role", pk.trait("role") == 1, points=16),
    pk.Rule("upper", pk.trait("email_domain").lower() == "acme.com", points=32),
])


@settings(max_examples=100)
@given(tables=st.lists(trait_maps, min_size=1, max_size=8))
def test_trait_columns_agree_with_the_reference(tables: list[dict[str, Any]]) -> None:
    # An explicit email_domain=None is an absent trait: the domain comes from the email.
    with pytest.MonkeyPatch.context() as mp:
        read: list[str] = []
        mp.setattr(EventLog, "user_trait_column",
                   lambda self, key: read.append(key) or _column(self.user_traits, key),
                   raising=False)
        users = [{"user_id": f"u{i}", "traits": t} for i, t in enumerate(tables)]
        events = [{"name": "a", "timestamp": AS_OF - timedelta(days=1), "user_id": f"u{i}"}
                  for i in range(len(tables))]
        both(TRAIT_MODEL, pk.EventLog.from_records(events, users=users))
        assert "email_domain" in read


def test_email_domain_is_derived_per_distinct_email(trait_columns: list[str]) -> None:
    users = [{"user_id": "u1", "traits": {"email": "Ann@Acme.COM"}},
             {"user_id": "u2", "traits": {"email": "b@rival.io", "email_domain": "acme.com"}},
             {"user_id": "u3", "traits": {"email": "c@acme.com", "email_domain": None}},
             {"user_id": "u4", "traits": {"email": "no-at-sign"}},
             {"user_id": "u5", "traits": {}}]
    events = [{"name": "a", "timestamp": AS_OF - timedelta(days=1), "user_id": u["user_id"]}
              for u in users]
    result = both(TRAIT_MODEL, pk.EventLog.from_records(events, users=users))
    got = {u: result.users[u]["domain"] for u in ("u1", "u2", "u3", "u4", "u5")}
    # u3's email_domain=None is absent, so its domain comes from its email too.
    assert got == {"u1": 1, "u2": 1, "u3": 1, "u4": 0, "u5": 0}
    assert "user.email_domain" in trait_columns and "user.email" in trait_columns


def test_account_traits_come_from_columns(trait_columns: list[str]) -> None:
    accounts = [{"account_id": "a1", "traits": {"plan": "pro"}}, {"account_id": "a2"}]
    users = [{"user_id": "u1", "account_id": "a1"}, {"user_id": "u2", "account_id": "a2"}]
    events = [{"name": "a", "timestamp": AS_OF - timedelta(days=1), "user_id": u}
              for u in ("u1", "u2")]
    model = pk.ScoringModel(name="m", level="account", threshold=1, rules=[
        pk.Rule("pro", pk.trait("plan") == "pro", points=1),
        pk.Rule("none", pk.trait("industry").is_missing(), points=2)])
    result = both(model, pk.EventLog.from_records(events, users=users, accounts=accounts))
    assert result.accounts["a1"]["score"] == 3 and result.accounts["a2"]["score"] == 2
    assert trait_columns == ["account.plan", "account.industry"]


@settings(max_examples=60)
@given(case=scoring_cases(), chunk=st.integers(1, 5))
def test_chunked_scans_agree_with_the_reference(case: Any, chunk: int) -> None:
    # Tiny chunks put chunk edges everywhere: first/last events, counts, who exists.
    model, (events, users, accounts), as_of = case
    log = pk.EventLog.from_records(events, users=users, accounts=accounts)
    if as_of is None and not len(log):
        return
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(col, "_CHUNK", chunk)
        ref = model.score(log, as_of=as_of, engine="reference")
        got = model.score(log, as_of=as_of, engine="columnar")
    assert_results_equal(ref, got, rel=1e-9)
    assert_explanations_equal(ref, got, rel=1e-9)


def test_scans_give_first_last_counts_and_presence() -> None:
    groups = np.array([2, -1, 0, 2, 2, -1, 0, 3], dtype=np.int32)
    for chunk in (1, 3, 100):
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(col, "_CHUNK", chunk)
            assert col._end(groups, 1, 7, 5, "first").tolist() == [2, -1, 3, -1, -1]
            assert col._end(groups, 1, 7, 5, "last").tolist() == [6, -1, 4, -1, -1]
            assert col._count_by(groups, 5).tolist() == [2, 0, 3, 1, 0]
            assert col._seen(groups[:4], 5).tolist() == [True, False, True, False, False]


def test_first_score_builds_no_event_index(monkeypatch: pytest.MonkeyPatch) -> None:
    events = [{"name": n, "timestamp": AS_OF - timedelta(days=d), "user_id": f"u{d % 3}",
               "account_id": f"a{d % 2}"} for d in range(10)
              for n in ("project_created", "pricing_page_viewed")]
    log = pk.EventLog.from_records(events)
    built: list[str] = []
    index = EventLog._index_csr

    def spy(self: EventLog, level: str) -> Any:
        built.append(level)
        return index(self, level)

    monkeypatch.setattr(EventLog, "_index_csr", spy)
    result = templates.trial_scoring().score(log, as_of=AS_OF)
    templates.workspace_expansion().score(log, as_of=AS_OF)
    assert built == []
    # Explanations of evidence over all of an entity's events read the index, lazily.
    explained = result.explain("u0")
    assert explained.score == result.users["u0"]["score"]
    assert any(r.evidence.n_events for r in explained.rules) and set(built) == {"user"}


text = st.text(st.sampled_from("aAsSiI.eE@\x00éÉßİ ı"), max_size=6)


@settings(max_examples=200)
@example(values=["Xß", "xSS"], arg="ss", op="endswith", ignore_case=True)  # casefold: ß is ss
@given(values=st.lists(text, min_size=1, max_size=8, unique=True), arg=text,
       op=st.sampled_from(("startswith", "endswith", "contains")), ignore_case=st.booleans())
def test_string_tests_over_arrays_match_python(values: list[str], arg: str, op: str,
                                               ignore_case: bool) -> None:
    strings = col._strings(values)
    node = StrTest(op, pk.trait("email"), arg, ignore_case)
    got = col._str_test_vector(node)(strings) if strings is not None else None
    if got is not None:
        assert got.tolist() == [str_test(node)(v) for v in values]   # the reference's own
    # Plain ASCII without NULs always takes the array path.
    if all(v.isascii() and "\x00" not in v for v in [*values, arg]):
        assert got is not None


@settings(max_examples=200)
@given(values=st.lists(text, min_size=1, max_size=8, unique=True),
       options=st.lists(st.one_of(text, st.integers(), st.floats(allow_nan=False),
                                  st.booleans(), st.none()), max_size=4))
def test_isin_over_arrays_matches_python(values: list[str], options: list[Any]) -> None:
    strings = col._strings(values)
    got = col._isin_vector(options)(strings) if strings is not None else None
    want = [any(same_value(v, o) for o in options) for v in values]   # as the reference
    if got is not None:
        assert got.tolist() == want
    if strings is not None and not any("\x00" in o for o in options if type(o) is str):
        assert got is not None


def test_str_values_read_as_python_str() -> None:
    values = col._StrValues(np.array(["a", "bé", ""]))
    assert len(values) == 3 and type(values[1]) is str and values[1] == "bé"
    assert values[-1] == "" and values[1:] == ["bé", ""] and list(values) == ["a", "bé", ""]
    assert [type(v) for v in values] == [str, str, str]


@settings(max_examples=20)
@given(case=scoring_cases(), shifts=st.lists(st.integers(-5, 5), min_size=1, max_size=12))
def test_one_log_scored_at_many_moments(case: Any, shifts: list[int]) -> None:
    # Scans are kept per log for the last few as_of: each moment must still get its own.
    model, (events, users, accounts), as_of = case
    log = pk.EventLog.from_records(events, users=users, accounts=accounts)
    if not len(log):
        return
    base = as_of if as_of is not None else log.max_timestamp
    for shift in [*shifts, *shifts]:
        moment = base + timedelta(days=shift)
        ref = model.score(log, as_of=moment, engine="reference")
        got = model.score(log, as_of=moment, engine="columnar")
        assert_results_equal(ref, got, rel=1e-9)
