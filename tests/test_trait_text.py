"""Text trait columns straight from Arrow: sorted codes for ``user_trait_column``, unordered
codes and Arrow string tests for the columnar engine's first score.

Whatever the path (ASCII or not, strings ending in NUL, nulls, traits only some users have),
the values must be Python's: ``sorted`` order, ``str`` tests, ``==`` for ``isin``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

pa = pytest.importorskip("pyarrow")

from pqlkit import _arrow  # noqa: E402

TEXT = st.text(alphabet=st.sampled_from("ab.@ÉéZz\x00 日😀"), max_size=5)
CELLS = st.lists(st.none() | TEXT, max_size=30)


def _arrow_column(cells: list[str | None], dictionary: bool, chunks: bool) -> Any:
    column = pa.array(cells, pa.string())
    if dictionary:
        column = column.dictionary_encode()
    if chunks and len(column) > 1:
        column = pa.chunked_array([column[:1], column[1:]])
    return column


@given(cells=CELLS, dictionary=st.booleans(), chunks=st.booleans())
@example(cells=["b", "a\x00", None], dictionary=False, chunks=False)
@example(cells=["é", "e", "z", "😀", "\uffff", None, "e"], dictionary=True, chunks=True)
@example(cells=[None, None], dictionary=False, chunks=False)
def test_sorted_text_codes_are_python_sorted(cells: list[str | None], dictionary: bool,
                                             chunks: bool) -> None:
    got = _arrow.sorted_text_codes(_arrow_column(cells, dictionary, chunks))
    distinct = sorted({c for c in cells if c is not None})
    if any(v.endswith("\x00") for v in distinct):
        assert got is None  # a 'U' array would drop the NUL: the caller falls back
        return
    assert got is not None
    codes, values = got
    assert codes.dtype == np.int32 and values.dtype.kind == "U"
    assert values.tolist() == distinct
    assert [None if c < 0 else distinct[c] for c in codes.tolist()] == cells


@given(cells=st.lists(TEXT, max_size=30))
@example(cells=["ab", "", "a"])
@example(cells=["x\x00"])
def test_text_unicode_keeps_order_and_refuses_trailing_nul(cells: list[str]) -> None:
    got = _arrow.text_unicode(pa.array(cells, pa.string()))
    if any(v.endswith("\x00") for v in cells):
        assert got is None
    else:
        assert got is not None and got.dtype.kind == "U" and got.tolist() == cells


# -- string tests with Arrow kernels ---------------------------------------------------------

from datetime import UTC, datetime, timedelta  # noqa: E402

import pqlkit as pk  # noqa: E402
from pqlkit.engine import columnar as col  # noqa: E402
from pqlkit.engine.reference import same_value, str_test  # noqa: E402
from pqlkit.expr import StrTest  # noqa: E402
from pqlkit.testing import assert_explanations_equal, assert_results_equal  # noqa: E402

WORDS = st.text(alphabet=st.sampled_from("aAsSiI.eE@\x00éÉßİı K"), max_size=6)


@given(values=st.lists(WORDS, min_size=1, max_size=8, unique=True), arg=WORDS,
       op=st.sampled_from(("startswith", "endswith", "contains")), ignore_case=st.booleans())
@example(values=["Xß", "xSS"], arg="ss", op="endswith", ignore_case=True)
@example(values=["a\x00", "b"], arg="\x00", op="endswith", ignore_case=False)
@example(values=["a.EDU", "b"], arg="\ud800", op="contains", ignore_case=False)
@example(values=["ab"], arg="", op="contains", ignore_case=True)
@example(values=["a.edu", "b.EDU"], arg=".EDU", op="endswith", ignore_case=True)
def test_text_test_is_python_str_test(values: list[str], arg: str, op: str,
                                      ignore_case: bool) -> None:
    got = _arrow.text_test(pa.array(values, pa.string()), op, arg, ignore_case)
    node = StrTest(op, pk.trait("email"), arg, ignore_case)
    if got is not None:
        assert got.tolist() == [str_test(node)(v) for v in values]
    # Only case-folding beyond ASCII (or an argument that is not Unicode) goes to Python.
    if (not ignore_case or all(v.isascii() for v in values)) and arg != "\ud800":
        assert got is not None


@given(values=st.lists(WORDS, max_size=8, unique=True),
       options=st.lists(WORDS | st.integers() | st.booleans() | st.none(), max_size=4))
@example(values=["a\x00", "a"], options=["a\x00", "\udcff", 1])
def test_text_isin_is_python_equality(values: list[str], options: list[Any]) -> None:
    wanted = [o for o in options if type(o) is str]
    got = _arrow.text_isin(pa.array(values, pa.large_string()), wanted)
    assert got.tolist() == [any(same_value(v, o) for o in options) for v in values]


AS_OF = datetime(2026, 6, 1, tzinfo=UTC)
EMAILS = st.sampled_from(["ann@acme.com", "Bo@Acme.COM", "cy@rival.io", "di@uni.EDU",
                          "no-at-sign", "x@y@Z.io", "émile@ÉCOLE.fr", "ß@STRASSE.edu",
                          "nul@acme.com\x00", ""])
DOMAINS = st.sampled_from(["acme.com", "rival.io", "ACME.COM", "école.fr", "x\x00", ""])
TEXT_MODEL = pk.ScoringModel(name="t", threshold=1, rules=[
    pk.Rule("domain", pk.trait("email_domain") == "acme.com", points=1),
    pk.Rule("rival", pk.trait("email_domain").isin(["rival.io", "x\x00", 7]), points=2),
    pk.Rule("no_domain", pk.trait("email_domain").is_missing(), points=4),
    pk.Rule("edu", pk.trait("email").endswith(".edu", ignore_case=True), points=8),
    pk.Rule("acme", pk.trait("email").contains("@acme", ignore_case=False), points=16),
    pk.Rule("upper", pk.trait("email_domain").lower() == "acme.com", points=32),
    pk.Rule("plan", pk.trait("plan").startswith("PRO", ignore_case=True), points=64),
    pk.Rule("low_isin", pk.trait("email").lower().isin(["bo@acme.com", "di@uni.edu"]),
            points=128),
    pk.Rule("low_prefix", pk.trait("plan").lower().startswith("pro"), points=256),
    pk.Rule("low_missing", pk.trait("plan").lower().is_missing(), points=512),
])


@given(users=st.lists(st.tuples(st.none() | EMAILS, st.none() | DOMAINS,
                                st.none() | st.sampled_from(["pro", "Pro-X", "free", "ǅ"])),
                      min_size=1, max_size=8),
       dictionary=st.booleans())
@example(users=[("a@B.EDU", None, None), (None, None, None)], dictionary=False)
@example(users=[("nul@acme.com\x00", "x\x00", "Pro-X")], dictionary=True)
@example(users=[("émile@ÉCOLE.edu", "acme.com", "ǅ")], dictionary=False)
def test_text_traits_from_arrow_score_as_the_reference(
        users: list[tuple[str | None, str | None, str | None]], dictionary: bool) -> None:
    ids = [f"u{i}" for i in range(len(users))]
    # Every third user is created after as_of: it does not exist, whatever its traits.
    created = [AS_OF + timedelta(days=1) if i % 3 == 2 else AS_OF - timedelta(days=9)
               for i in range(len(ids))]
    table: dict[str, Any] = {"user_id": ids, "created_at": created}
    for j, key in enumerate(("email", "email_domain", "plan")):
        column = pa.array([u[j] for u in users], pa.string())
        table[key] = column.dictionary_encode() if dictionary else column
    # u9 has events but no row in the users table: it has no traits at all.
    events = {"user_id": [*ids, "u9"], "name": ["a"] * (len(ids) + 1),
              "timestamp": [AS_OF - timedelta(days=1)] * (len(ids) + 1)}
    log = pk.EventLog.from_columns(**events, users=table)
    got = TEXT_MODEL.score(log, as_of=AS_OF, engine="columnar")
    # The engine read the Arrow columns as loaded: nothing was sorted into a PropColumn.
    # (First: the reference's trait mappings code the raw columns for good.)
    # (A trait no user has is None either way.)
    assert all(c is None for c in log._user_traits._columns.values())
    ref = TEXT_MODEL.score(log, as_of=AS_OF, engine="reference")
    assert_results_equal(ref, got)
    assert_explanations_equal(ref, got)
    # Once coded (and so with sorted PropColumns), the engine gives the same again.
    assert_results_equal(ref, TEXT_MODEL.score(log, as_of=AS_OF, engine="columnar"))
    records = pk.EventLog.from_records(
        [{"name": "a", "timestamp": AS_OF - timedelta(days=1), "user_id": u}
         for u in events["user_id"]],
        users=[{"user_id": i, "created_at": c, "traits": {k: v for k, v in zip(
            ("email", "email_domain", "plan"), u, strict=True) if v is not None}}
               for i, u, c in zip(ids, users, created, strict=True)])
    assert_results_equal(TEXT_MODEL.score(records, as_of=AS_OF, engine="reference"), got)


def test_arrow_values_read_as_python_str() -> None:
    values = col._ArrowValues(pa.array(["a", "bé", "", "c\x00"], pa.large_string()))
    assert len(values) == 4 and type(values[1]) is str and values[1] == "bé"
    assert values[-1] == "c\x00" and values[1:3] == ["bé", ""]
    assert list(values) == ["a", "bé", "", "c\x00"] and values[0] == "a"
    assert values.strings() is None  # a 'U' array would drop the NUL
    assert col._ArrowValues(pa.array(["é", "b"])).strings().tolist() == ["é", "b"]


STR_MODEL = pk.ScoringModel(name="s", threshold=1, rules=[
    pk.Rule("edu", pk.trait("email").endswith(".edu", ignore_case=True), points=1),
    pk.Rule("rival", pk.trait("email_domain").isin(["rival.io", "x\x00"]), points=2),
    pk.Rule("no_plan", pk.trait("plan").is_missing(), points=4),
    pk.Rule("pro", pk.trait("plan").contains("ro"), points=8),
])


@given(users=st.lists(st.tuples(st.none() | EMAILS, st.none() | DOMAINS,
                                st.none() | st.sampled_from(["pro", "Pro-X", "free", "ǅ"])),
                      min_size=1, max_size=8))
@example(users=[("a@B.EDU", "acme.com", None), (None, "rival.io", "pro")])
@example(users=[("ß@STRASSE.edu", "x\x00", "Pro-X")])
def test_string_tests_on_arrow_traits_need_no_coding(
        users: list[tuple[str | None, str | None, str | None]]) -> None:
    # Only string tests, every user with its own domain: the engine tests the rows of the
    # Arrow columns and never hashes them, unless a test must run in Python.
    coded: list[int] = []
    real = _arrow.text_dictionary
    users = [(e, d if d is not None else "acme.com", p) for e, d, p in users]
    ids = [f"u{i}" for i in range(len(users))]
    table = {"user_id": ids, **{key: pa.array([u[j] for u in users], pa.string())
                                for j, key in enumerate(("email", "email_domain", "plan"))}}
    events = {"user_id": [*ids, "u9"], "name": ["a"] * (len(ids) + 1),
              "timestamp": [AS_OF - timedelta(days=1)] * (len(ids) + 1)}
    table["created_at"] = [AS_OF + timedelta(days=1) if i % 3 == 2 else AS_OF - timedelta(days=9)
                           for i in range(len(ids))]
    log = pk.EventLog.from_columns(**events, users=table)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_arrow, "text_dictionary", lambda arr: coded.append(len(arr)) or real(arr))
        got = STR_MODEL.score(log, as_of=AS_OF, engine="columnar")
    if all(e is None or e.isascii() for e, _, _ in users):
        assert coded == []
    else:
        assert coded  # ß.casefold() is "ss": Python answers, per distinct value
    ref = STR_MODEL.score(log, as_of=AS_OF, engine="reference")
    assert_results_equal(ref, got)
    assert_explanations_equal(ref, got)


@pytest.mark.parametrize("arrow", [False, True])
def test_lowered_trait_tests_follow_who_exists_at_each_as_of(arrow: bool) -> None:
    # The lowered column is coded once per log (its tests vectorised and kept per value;
    # from Arrow, lowered in pyarrow); its rows must still follow each score's as_of, as
    # the trait's own do.
    users = [{"user_id": f"u{i}", "created_at": f"2026-05-{i + 1:02d}T00:00:00Z",
              "traits": {"email_domain": d}}
             for i, d in enumerate(["Rival.IO", "rival.io", "acme.com", "RIVAL.io", "x.org"])]
    events = [{"name": "a", "timestamp": "2026-05-20T00:00:00Z", "user_id": u["user_id"]}
              for u in users]
    if arrow:
        table = pa.table({"user_id": [u["user_id"] for u in users],
                          "created_at": [u["created_at"] for u in users],
                          "email_domain": [u["traits"]["email_domain"] for u in users]})
        log = pk.EventLog.from_columns(
            user_id=[e["user_id"] for e in events], name=["a"] * len(events),
            timestamp=[datetime(2026, 5, 20, tzinfo=UTC)] * len(events), users=table)
    else:
        log = pk.EventLog.from_records(events, users=users)
    model = pk.ScoringModel(name="m", threshold=1, rules=[pk.Rule("a", pk.exists("a"), points=1)],
                            disqualify=[pk.trait("email_domain").lower().isin(["rival.io"])])
    for as_of, want in [("2026-05-02T12:00:00Z", {"u0": True, "u1": True}),
                        ("2026-05-20T00:00:00Z", {"u0": True, "u1": True, "u2": False,
                                                  "u3": True, "u4": False}),
                        ("2026-05-03T12:00:00Z", {"u0": True, "u1": True, "u2": False})]:
        for engine in ("columnar", "reference"):
            got = {r["user_id"]: r["disqualified"]
                   for r in model.score(log, as_of=as_of, engine=engine).users}
            assert got == want, (as_of, engine)


def test_ascii_arrow_trait_is_lowered_in_pyarrow(monkeypatch: pytest.MonkeyPatch) -> None:
    # An email per user: lower() of an ASCII Arrow trait runs in pyarrow, not per value in
    # Python; a non-ASCII value ("İ".lower() is two characters) sends it back to Python.
    calls: list[Any] = []
    real = col.lower
    monkeypatch.setattr(col, "lower", lambda v: calls.append(v) or real(v))
    model = pk.ScoringModel(name="m", threshold=1, rules=[
        pk.Rule("edu", pk.trait("email").lower().endswith(".edu"), points=1),
        pk.Rule("acme", pk.trait("email").lower().isin(["bo@acme.com"]), points=2)])
    for emails, python in [(["Bo@ACME.com", "di@Uni.EDU", None], False),
                           (["Bo@ACME.com", "İ@Uni.EDU", None], True)]:
        calls.clear()
        ids = [f"u{i}" for i in range(len(emails))]
        log = pk.EventLog.from_columns(
            user_id=ids, name=["a"] * len(ids), timestamp=[AS_OF - timedelta(days=1)] * len(ids),
            users={"user_id": ids, "email": pa.array(emails, pa.string())})
        got = model.score(log, as_of=AS_OF, engine="columnar")
        assert bool(calls) is python
        assert [r["score"] for r in got.users] == [2, 1, 0]
        assert_results_equal(model.score(log, as_of=AS_OF, engine="reference"), got)


@given(emails=st.lists(st.text(alphabet=st.sampled_from("aB@.\nZ é"), max_size=8),
                       max_size=12, unique=True))
@example(emails=["a@B.com", "x@y@Z.IO", "noat", "end@", "@lead", "n\nl@Q.c"])
def test_email_domains_in_pyarrow_are_pythons(emails: list[str]) -> None:
    # email_domain derived from an Arrow email column, a distinct domain at a time: the
    # text after the last "@", lower-cased; none without one; Python's path beyond ASCII.
    got = col._arrow_domains(col._ArrowValues(pa.array(emails, pa.string())))
    if not all(e.isascii() for e in emails) or not emails:
        assert got is None
        return
    assert got is not None
    codes, domains = got
    assert [None if c < 0 else domains[c] for c in codes.tolist()] == [
        col._domain(e) for e in emails]
