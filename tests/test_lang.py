"""The expression language: the Python API's syntax read back without eval, and nothing else."""

from __future__ import annotations

import builtins
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import pqlkit as pk
from pqlkit import PqlkitError
from pqlkit.errors import ExpressionError, ValidationError
from pqlkit.lang import ALLOWED, MAX_DEPTH, MAX_LENGTH, parse_decay, parse_expr
from pqlkit.testing import conditions, decays, signals

count, exists, trait, prop = pk.count, pk.exists, pk.trait, pk.prop

# -- reads what the Python API writes --------------------------------------------------------


@given(conditions(level="user"))
def test_every_user_condition_reads_back_from_its_repr(cond: pk.Expr) -> None:
    assert parse_expr(repr(cond)).equals(cond)


@given(conditions(level="account"))
def test_every_account_condition_reads_back_from_its_repr(cond: pk.Expr) -> None:
    assert parse_expr(repr(cond)).equals(cond)


@given(signals(level="account"))
def test_every_signal_reads_back_from_its_repr(sig: pk.Expr) -> None:
    assert parse_expr(repr(sig)).equals(sig)


@given(decays())
def test_every_decay_reads_back_from_its_repr(decay: Any) -> None:
    assert parse_decay(repr(decay)) == decay


SAME_AS_PYTHON = [
    ("count('invite', within='14d') >= 2", count("invite", within="14d") >= 2),
    ("(count('pricing_page_viewed', within='30d') >= 1) & (trait('role') == 'admin')",
     (count("pricing_page_viewed", within="30d") >= 1) & (trait("role") == "admin")),
    ("exists('a') | ~exists('b')", exists("a") | ~exists("b")),
    ("2 <= count('x')", count("x") >= 2),
    ("'admin' == trait('role')", trait("role") == "admin"),
    ("count('x') >= -3", count("x") >= -3),
    ("count('x') > +1.5", count("x") > 1.5),
    ("count('x') >= 2 * 7", count("x") >= 14),
    ("3 - count('x') < 1", 3 - count("x") < 1),
    ("(count('a') + count('b')) / 2 >= 1", (count("a") + count("b")) / 2 >= 1),
    ("trait('email').lower().endswith('.edu')", trait("email").lower().endswith(".edu")),
    ("trait('email').endswith('.EDU', ignore_case=True)",
     trait("email").endswith(".EDU", ignore_case=True)),
    ("trait('plan').isin(['pro', 'team'])", trait("plan").isin(["pro", "team"])),
    ("trait('plan').isin(('pro',))", trait("plan").isin(["pro"])),
    ("trait('plan').is_missing()", trait("plan").is_missing()),
    ("trait('plan').is_present()", trait("plan").is_present()),
    ("count('x', where=prop('plan') == 'pro') >= 1", count("x", where=prop("plan") == "pro") >= 1),
    ("count('x', decay=HalfLife('14d')) >= 1", count("x", decay=pk.HalfLife("14d")) >= 1),
    ("count('x').with_window('7d') >= 1", count("x", within="7d") >= 1),
    ("first_seen('x') >= '2026-05-01T00:00:00Z'",
     pk.first_seen("x") >= datetime(2026, 5, 1, tzinfo=UTC)),
    ("active_users(within='30d') >= 10", pk.active_users(within="30d") >= 10),
    ("exists('x') == True", exists("x") == True),  # noqa: E712
    ("trait('note') == 'it\\'s'", trait("note") == "it's"),
    ("trait('name') == 'Zoë'", trait("name") == "Zoë"),
]


@pytest.mark.parametrize(("text", "expected"), SAME_AS_PYTHON, ids=[t for t, _ in SAME_AS_PYTHON])
def test_text_means_what_the_same_python_code_builds(text: str, expected: pk.Expr) -> None:
    assert parse_expr(text).equals(expected)


def test_and_or_not_are_spelled_like_python_and_mean_and_or_not() -> None:
    got = parse_expr("count('a') >= 1 and not exists('b') or trait('r') == 'x'")
    assert got.equals(((count("a") >= 1) & ~exists("b")) | (trait("r") == "x"))
    assert parse_expr("exists('a') and exists('b') and exists('c')").equals(
        exists("a") & exists("b") & exists("c"))


def test_leading_whitespace_and_line_breaks_inside_parentheses_are_fine() -> None:
    text = "\n    ((count('a') >= 1)\n     & (count('b') >= 1))\n"
    assert parse_expr(text).equals((count("a") >= 1) & (count("b") >= 1))


# -- refuses everything else, with the position and what is allowed -------------------------

REFUSED = [
    # (text, part of the message, column)
    ("count('x').__class__", "access to '__class__' is never allowed", 1),
    ("count('x').__class__.__bases__", "access to '__bases__' is never allowed", 1),
    ("trait('a')._key", "access to '_key' is never allowed", 1),
    ("__import__('os').system('true')", "unknown signal '__import__'", 1),
    ("import os", "a statement (import) is not allowed", 1),
    ("x = 1", "a statement (assign) is not allowed", 1),
    ("lambda: count('x')", "a lambda is not allowed", 1),
    ("open('/etc/passwd')", "unknown signal 'open'", 1),
    ("eval('1')", "unknown signal 'eval'", 1),
    ("getattr(count('x'), 'walk')", "unknown signal 'getattr'", 1),
    ("count('x').walk()", "unknown method .walk()", 1),
    ("count('x').equals(count('y'))", "unknown method .equals()", 1),
    ("count('x')[0] >= 1", "indexing or slicing", 1),
    ("f'{count}' == 'x'", "an f-string is not allowed", 1),
    ("(y := count('x')) >= 1", "an assignment (:=) is not allowed", 2),
    ("[c for c in 'ab']", "a comprehension is not allowed", 1),
    ("trait('a').isin({'x', 'y'})", "a set literal", 17),
    ("count(*['x']) >= 1", "unpacking (*) is not allowed", 7),
    ("count(**{'name': 'x'}) >= 1", "unpacking (**) is not allowed", 9),
    ("trait('a') in ['x']", "'in' is not allowed; test membership with .isin([...])", 1),
    ("trait('a') is None", "test for a missing value with .is_missing()", 1),
    ("1 < count('x') < 5", "chained comparisons", 1),
    ("count('x') >= 1 & trait('a') == 'b'", "put parentheses around each comparison", 1),
    ("count('x') ** 2 >= 1", "the operator ** is not allowed", 1),
    ("count('x') % 2 == 0", "the operator % is not allowed", 1),
    ("count('x').name == 'x'", "attribute access (.name) is not allowed", 1),
    ("'abc'.startswith('a')", ".startswith() can only be called on a signal", 1),
    ("count", "'count' is a signal: call it", 1),
    ("count('x') >= threshold", "unknown name 'threshold'", 15),
    ("count('x') >= b'1'", "a bytes literal is not allowed", 15),
    ("count('x') >= 1j", "a complex literal is not allowed", 15),
    ("count('x') >= 1e999", "the number 1e999 is too large", 15),
    ("1 < 2", "compares a signal with a value; got two values", 1),
    ("~True", "~ needs a condition", 1),
    ("-count('x') < 1", "a sign (- or +) only goes before a number", 1),
    ("count('x') >= 1 / 0", "division by zero", 15),
    ("count('x') + 'a' >= 1", "arithmetic needs numbers", 1),
    ("count('x') & 1", "is a number, not a condition", 1),
    ("count('x', within='fortnight') >= 1", "within 'fortnight' is not understood", 1),
    ("count('x', foo=1) >= 1", "unexpected keyword argument 'foo'", 1),
    ("trait('a').lower(1) == 'x'", "takes 1 positional argument", 1),
    ("count('x') >= HalfLife('7d')", "is a decay; use it as decay=", 15),
    ("count('x', decay=count('y')) >= 1", "decay= takes a decay", 1),
    ("count('x') >=", "this is not an expression of the language", 14),
    ("count('x'", "'(' was never closed", 6),
    ("", "the expression is empty", None),
    ("count('x') if True else exists('y')", "a conditional expression", 1),
]


@pytest.mark.parametrize(("text", "reason", "column"), REFUSED, ids=[t for t, _, _ in REFUSED])
def test_everything_else_is_refused_with_its_position(text: str, reason: str,
                                                      column: int | None) -> None:
    with pytest.raises(ExpressionError) as info:
        parse_expr(text, path="rules[2].when")
    err = info.value
    assert reason in err.reason
    assert err.column == column
    assert str(err).startswith("rules[2].when" + (f", column {column}: " if column else ": "))
    assert isinstance(err, PqlkitError) and isinstance(err, ValueError)


def test_syntax_refusals_say_what_the_language_allows() -> None:
    for text in ("lambda: 1", "count('x')[0]", "import os", "count('x').__dict__"):
        with pytest.raises(ExpressionError) as info:
            parse_expr(text)
        assert str(info.value).endswith(ALLOWED)


def test_a_misspelt_signal_suggests_the_closest_known_one() -> None:
    with pytest.raises(ExpressionError) as info:
        parse_expr("cuont('pricing_page_viewed') >= 1")
    assert "unknown signal 'cuont'; did you mean 'count'?" in str(info.value)
    assert "installed signals: active_days, active_users, count" in str(info.value)
    with pytest.raises(ExpressionError, match="did you mean 'HalfLife'"):
        parse_expr("count('x', decay=HalfLfe('7d')) >= 1")
    with pytest.raises(ExpressionError, match=r"unknown method \.ismissing\(\); did you mean "
                       r"\.is_missing\(\)\?"):
        parse_expr("trait('x').ismissing()")


def test_a_condition_split_over_lines_without_parentheses_says_how_to_fix_it() -> None:
    with pytest.raises(ExpressionError, match="needs parentheses around the whole of it, as in Python"):
        parse_expr("(count('a') >= 1)\n& (count('b') >= 1)\n")
    with pytest.raises(ExpressionError) as info:
        parse_expr("count('a') >=")
    assert "several lines" not in str(info.value)


def test_positions_count_characters_and_lines_of_the_original_text() -> None:
    with pytest.raises(ExpressionError) as info:
        parse_expr("trait('café') == zoë")
    assert info.value.column == 18
    with pytest.raises(ExpressionError) as info:
        parse_expr("\n  ((count('x') >= 1)\n   & (cuont('y') >= 1))")
    assert (info.value.line, info.value.column) == (3, 7)
    assert "line 3, column 7" in str(info.value)


def test_nothing_is_evaluated_or_executed(monkeypatch: pytest.MonkeyPatch,
                                          tmp_path: Path) -> None:
    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("eval/exec must never run")

    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    marker = tmp_path / "pwned"
    attempts = [
        f"__import__('os').system('touch {marker}')",
        f"open('{marker}', 'w')",
        f"count('x').__class__.__init__.__globals__['os'].system('touch {marker}')",
        f"[].__class__.__base__.__subclasses__()  # {marker}",
    ]
    for text in attempts:
        with pytest.raises(ExpressionError):
            parse_expr(text)
    assert parse_expr("count('x') >= 1").equals(count("x") >= 1)
    assert not marker.exists()


def test_text_python_only_warns_about_is_read_the_same_whatever_the_warning_filters() -> None:
    import warnings

    for action in ("error", "default"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter(action)
            got = parse_expr("exists('a') and(count('b') >= 1and exists('c'))")
            assert parse_expr("trait('x').endswith('\\.edu')").equals(
                trait("x").endswith("\\.edu"))
        assert not caught
        assert got.equals(exists("a") & ((count("b") >= 1) & exists("c")))


def test_depth_and_length_are_bounded() -> None:
    with pytest.raises(ExpressionError, match="nested deeper than"):
        parse_expr(" | ".join(["exists('a')"] * (MAX_DEPTH + 5)))
    with pytest.raises(ExpressionError, match="longer than"):
        parse_expr("count('x') >= " + "1" * MAX_LENGTH)
    for text in ("~" * 5000 + "exists('a')", "(" * 300 + "1" + ")" * 300,
                 "-" * 50_000 + "1", "count('x') >= " + "9" * 5000):
        with pytest.raises(ExpressionError):
            parse_expr(text)


def test_parse_decay_reads_decays_and_refuses_the_rest() -> None:
    assert parse_decay("InactivityDecay(points=5, every='7d', grace='7d')") == (
        pk.InactivityDecay(points=5, every="7d", grace="7d"))
    assert parse_decay("ResetAfter(idle='30d')") == pk.ResetAfter("30d")
    with pytest.raises(ExpressionError, match="expected a decay"):
        parse_decay("count('x')")
    with pytest.raises(ExpressionError, match="needs a fixed length of time"):
        parse_decay("HalfLife('3mo')")


def test_parse_expr_refuses_a_decay_and_text_that_is_not_a_string() -> None:
    with pytest.raises(ExpressionError, match="expected a signal or condition"):
        parse_expr("HalfLife('7d')")
    with pytest.raises(ExpressionError, match="expected a signal or condition"):
        parse_expr("'just text'")
    with pytest.raises(ExpressionError, match="must be text"):
        parse_expr(42)  # type: ignore[arg-type]


# -- fuzz: never anything but pqlkit's own error -----------------------------------------------

_TOKENS = st.sampled_from([
    "count(", "exists(", "trait(", "prop(", "HalfLife(", "distinct_users(", "'x'", "'14d'",
    "within=", "decay=", "where=", ")", "(", "[", "]", "{", "}", ",", ".", ":", "=",
    ">=", "<", "==", "!=", "&", "|", "~", "and", "or", "not", "+", "-", "*", "/", "**",
    "1", "0", "-1", "1.5", "1e308", "1e999", "True", "None", "lambda", "import", "__class__",
    ".isin(", ".lower()", ".endswith(", "ignore_case=True", " ", "\n", "\\", "#", "'", '"',
    "if", "else", "for", "in", "is", "*", "**", "@", "%", "//", ":=", "yield", "await",
    "f'", "b'", "{0}", "é", "\x00", "\t", "...", ";",
])


@given(st.text(max_size=80))
def test_random_text_raises_only_expression_errors(text: str) -> None:
    try:
        result = parse_expr(text)
    except ExpressionError:
        return
    assert isinstance(result, pk.Expr)


@given(st.lists(_TOKENS, max_size=25).map("".join))
def test_token_soup_raises_only_expression_errors(text: str) -> None:
    try:
        result = parse_expr(text)
    except ExpressionError:
        return
    assert isinstance(result, pk.Expr)
    assert parse_expr(repr(result)).equals(result)


@given(st.lists(_TOKENS, max_size=25).map("".join))
def test_token_soup_as_a_decay_raises_only_expression_errors(text: str) -> None:
    try:
        decay = parse_decay(text)
    except ExpressionError:
        return
    assert callable(decay.apply)


def test_a_moment_beside_a_trait_or_property_round_trips_through_repr_and_files():
    # Printed as an ISO string, it came back as text: a comparison that is never true.
    from datetime import UTC, datetime

    import pqlkit as pk

    moment = datetime(2026, 5, 1, tzinfo=UTC)
    for cond in (pk.trait("trial_ends") >= moment,
                 pk.count("x", where=pk.prop("t") < moment) >= 1,
                 pk.trait("trial_ends") == pk.at("2026-05-01T02:00:00+02:00")):
        text = repr(cond)
        assert "at('2026-05-01T00:00:00Z')" in text
        assert parse_expr(text).equals(cond)
        assert eval(text, vars(pk)).equals(cond)
    model = pk.ScoringModel(name="m", threshold=1, rules=[
        pk.Rule("late", pk.trait("trial_ends") >= moment, points=1)])
    assert pk.ScoringModel.from_dict(model.to_dict()) == model
    # A time signal keeps the plain ISO string (it reads it as a moment).
    assert repr(pk.first_seen() >= moment) == "first_seen() >= '2026-05-01T00:00:00Z'"


def test_moments_in_isin_round_trip_through_repr_and_files(tmp_path):
    # isin printed datetime.datetime(...), which neither parse_expr nor eval could read.
    from datetime import UTC, datetime, timedelta, timezone

    import pqlkit as pk

    moment = datetime(2026, 1, 1, tzinfo=UTC)
    for cond in (pk.trait("renewal").isin([moment, "2026-01-01"]),
                 pk.trait("renewal").isin([datetime(2026, 1, 1, 5, tzinfo=timezone(timedelta(hours=2)))]),
                 pk.prop("k").isin([[moment], {"at": moment}, 1.5, True])):
        text = repr(cond)
        assert "datetime" not in text
        assert parse_expr(text).equals(cond)
        assert eval(text, vars(pk)).equals(cond)
    model = pk.ScoringModel(name="m", threshold=1, rules=[
        pk.Rule("renewing", pk.trait("renewal").isin([moment]), points=1)])
    model.save(tmp_path / "m.toml")
    assert pk.load_model(tmp_path / "m.toml") == model


def test_isin_with_tuples_round_trips_through_repr_and_files(tmp_path):
    # Tuples printed as lists, which parsed back unequal: the model could not be saved.
    import pqlkit as pk

    cond = pk.trait("seat_range").isin([(1, 10), (11, 50), {"a": (1,)}])
    assert parse_expr(repr(cond)).equals(cond)
    assert cond.equals(pk.trait("seat_range").isin([[1, 10], [11, 50], {"a": [1]}]))
    model = pk.ScoringModel(name="m", threshold=1, rules=[pk.Rule("r", cond, points=1)])
    model.save(tmp_path / "m.toml")
    assert pk.load_model(tmp_path / "m.toml") == model
    users = [{"user_id": "u1", "traits": {"seat_range": [11, 50]}}]
    log = pk.EventLog.from_records([], users=users)
    assert model.score(log, as_of="2026-06-01T00:00:00Z").users["u1"]["r"] == 1


@pytest.mark.parametrize("values", [[float("nan")], [1, float("inf")], [[float("-inf")]]])
def test_isin_refuses_values_no_loaded_value_can_equal(values):
    import pqlkit as pk

    with pytest.raises(ValidationError, match="must be finite"):
        pk.prop("k").isin(values)


def test_isin_refuses_a_naive_moment():
    from datetime import datetime

    import pqlkit as pk

    with pytest.raises(ValidationError, match="no time zone"):
        pk.trait("renewal").isin([datetime(2026, 1, 1)])


@pytest.mark.parametrize("text", ["exists('signup') & trait('role') == 'admin'",
                                  "exists('a') | trait('plan') != 'free'",
                                  "~exists('a') == 'yes'"])
def test_the_precedence_trap_is_refused_with_a_trait_too(text):
    # (exists('signup') & trait('role')) == 'admin' was accepted and never true.
    import pqlkit as pk

    with pytest.raises(PqlkitError, match="put parentheses around each comparison"):
        parse_expr(text)
    problems = pk.validate_model({"name": "m", "threshold": 1, "rules": [
        {"name": "r", "when": text, "points": 1}]})
    assert problems and "parentheses" in str(problems[0])
    with pytest.raises(PqlkitError, match="parentheses"):
        pk.exists("signup") & pk.trait("role") == "admin"  # noqa: B015


@pytest.mark.parametrize(("text", "match"), [
    ("count('x').startswith('2')", "tests text, but count\\('x'\\) is a number"),
    ("count('x').lower() == '2'", "is a number"),
    ("count('x') == '2'", "never equal"),
    ("exists('x') != 'yes'", "never equal"),
    ("count('x', within='1d', within='30d') >= 2", "keyword argument repeated: within"),
    ("trait('email').endswith('.edu', ignore_case='no')", "ignore_case must be True or False"),
])
def test_expressions_that_could_never_be_true_are_refused(text, match):
    with pytest.raises(PqlkitError, match=match):
        parse_expr(text)


def test_a_number_divided_by_a_signal_builds_and_reads_back():
    import pqlkit as pk

    ratio = 100 / pk.count("x")
    assert repr(ratio) == "100 / count('x')"
    assert parse_expr("100 / count('x') >= 5").equals(ratio >= 5)


@pytest.mark.parametrize("text", ["~exists('a') != False", "(not exists('a')) == True",
                                  "(exists('a') & exists('b')) == True",
                                  "trait('admin') == ~exists('a')",
                                  "(exists('a') | exists('b')) == (exists('c') & exists('d'))"])
def test_conditions_compared_with_booleans_or_conditions_still_build(text):
    cond = parse_expr(text)
    assert parse_expr(repr(cond)).equals(cond)
