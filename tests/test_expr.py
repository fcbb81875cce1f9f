"""Tests of pqlkit.expr: immutable expression nodes whose repr is the code that builds them."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest

import pqlkit as pk
from pqlkit import (
    active_days,
    active_users,
    count,
    days_since_first,
    days_since_last,
    distinct,
    distinct_users,
    exists,
    first_seen,
    last_seen,
    prop,
    total,
    trait,
)
from pqlkit.errors import PqlkitError, PqlkitTypeError, ValidationError
from pqlkit.expr import (
    ActiveDays,
    And,
    Arith,
    Compare,
    Count,
    DaysSinceFirst,
    DaysSinceLast,
    Distinct,
    DistinctUsers,
    Exists,
    Expr,
    FirstSeen,
    IsIn,
    IsMissing,
    LastSeen,
    Lit,
    Lower,
    Not,
    Or,
    Prop,
    StrTest,
    Total,
    Trait,
)

#: What ``eval(repr(x))`` sees: every public name of pqlkit, builders included.
NAMESPACE: dict[str, Any] = {name: getattr(pk, name) for name in pk.__all__}


def roundtrip(x: Expr) -> Expr:
    return eval(repr(x), dict(NAMESPACE))


# -- builders -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("built", "cls", "kind", "text"),
    [
        (count(), Count, "number", "count()"),
        (count("invite"), Count, "number", "count('invite')"),
        (exists("invite"), Exists, "bool", "exists('invite')"),
        (first_seen("invite"), FirstSeen, "time", "first_seen('invite')"),
        (last_seen(), LastSeen, "time", "last_seen()"),
        (days_since_last(), DaysSinceLast, "number", "days_since_last()"),
        (days_since_first("signup"), DaysSinceFirst, "number", "days_since_first('signup')"),
        (active_days(within="30d"), ActiveDays, "number", "active_days(within='30d')"),
        (distinct("feature", of="integration_connected"), Distinct, "number",
         "distinct('feature', of='integration_connected')"),
        (distinct("feature"), Distinct, "number", "distinct('feature')"),
        (total("count", of="message_sent"), Total, "number", "total('count', of='message_sent')"),
        (trait("role"), Trait, "any", "trait('role')"),
        (distinct_users("saved_query_run", within="7d"), DistinctUsers, "number",
         "distinct_users('saved_query_run', within='7d')"),
        (active_users(within="30d"), DistinctUsers, "number", "active_users(within='30d')"),
        (prop("plan"), Prop, "any", "prop('plan')"),
    ],
)
def test_every_builder_makes_its_node_with_a_kind_and_a_code_repr(built, cls, kind, text):
    assert type(built) is cls
    assert built.kind == kind
    assert repr(built) == text
    assert roundtrip(built).equals(built)


def test_event_signal_options_are_stored_as_durations_and_filters():
    sig = count("page_viewed", within="14d", since_signup="30d",
                where=prop("page") == "/pricing")
    assert sig.name == "page_viewed"
    assert sig.within == pk.as_duration("14d")
    assert sig.since_signup == pk.as_duration("30d")
    assert sig.where is not None and sig.where.equals(prop("page") == "/pricing")


def test_signal_options_are_keyword_only():
    with pytest.raises(TypeError):
        count("x", "14d")  # type: ignore[misc]
    with pytest.raises(TypeError):
        distinct("feature", "integration_connected")  # type: ignore[misc]
    with pytest.raises(TypeError):
        active_users("30d")  # type: ignore[misc]


def test_active_users_is_distinct_users_of_any_event():
    assert active_users(within="30d").equals(distinct_users(within="30d"))
    assert active_users(within="30d").account_only


def test_distinct_users_with_a_name_keeps_its_own_repr():
    assert repr(distinct_users("q")) == "distinct_users('q')"
    assert repr(distinct_users(since_signup="7d")) == "distinct_users(since_signup='7d')"


def test_count_and_total_take_a_decay():
    sig = count("x", decay=pk.HalfLife("7d"))
    assert sig.decay == pk.HalfLife("7d")
    assert repr(sig) == "count('x', decay=HalfLife('7d'))"
    assert repr(total("n", decay=pk.ResetAfter("3d"))) == "total('n', decay=ResetAfter('3d'))"


def test_calendar_windows_are_allowed_on_signals():
    assert count("x", within="3mo").within.is_calendar
    assert repr(count("x", since_signup="1y")) == "count('x', since_signup='1y')"


def test_windows_accept_timedelta_and_print_a_short_text():
    assert repr(count("x", within=timedelta(days=14))) == "count('x', within='2w')"


@pytest.mark.parametrize(
    ("build", "error", "text"),
    [
        (lambda: count(""), PqlkitTypeError, "non-empty string"),
        (lambda: count(5), PqlkitTypeError, "got 5"),
        (lambda: trait(""), PqlkitTypeError, "non-empty string"),
        (lambda: prop(3), PqlkitTypeError, "got 3"),
        (lambda: distinct(""), PqlkitTypeError, "non-empty string"),
        (lambda: count("x", within="soon"), ValidationError, "within 'soon' is not understood"),
        (lambda: count("x", since_signup="0d"), ValidationError, "since_signup must be positive"),
        (lambda: count("x", within=7), PqlkitTypeError, "within must be a string"),
        (lambda: count("x", where="plan == 'pro'"), PqlkitTypeError, "where= takes a property"),
        (lambda: count("x", decay="7d"), PqlkitTypeError, "decay= takes a decay"),
        (lambda: total("n", decay=3), PqlkitTypeError, "decay= takes a decay"),
    ],
)
def test_builders_validate_their_arguments(build, error, text):
    with pytest.raises(error, match=text):
        build()


# -- repr is code -------------------------------------------------------------------------------

ROUND_TRIPS = [
    count("a", within="14d"),
    count("a", since_signup="1mo"),
    count("a", where=prop("plan") == "pro"),
    count("a", within="2w", since_signup="3d", where=prop("n") >= 2),
    exists("a", within="2w"),
    count(within="1y"),
    exists(since_signup="30min"),
    first_seen("a") >= "2026-05-01T00:00:00Z",
    last_seen() < datetime(2026, 1, 1, tzinfo=UTC),
    days_since_last("a") < 7,
    days_since_first() <= 30.5,
    active_days(within="30d") >= 5,
    distinct("feature", of="x", within="14d") >= 2,
    total("count", of="m", within="7d") >= 2000,
    total("c", decay=pk.ResetAfter("3d")) > 1,
    count("a", decay=pk.HalfLife("7d")) >= 0.5,
    trait("role") == "admin",
    trait("role") != "viewer",
    trait("email").endswith(".edu", ignore_case=True),
    trait("email").startswith("admin@"),
    trait("email").contains("rival", ignore_case=True),
    trait("email").lower().endswith(".edu"),
    trait("plan").isin(["pro", "team"]),
    trait("employees").isin([10, 20.5]),
    trait("x").is_missing(),
    trait("x").is_present(),
    trait("n") >= 1.5,
    trait("n") == -3,
    trait("flag") == True,  # noqa: E712
    trait("flag").isin([True]),
    distinct_users("q", within="7d") >= 3,
    active_users(within="30d") >= 10,
    distinct_users(),
    (count("a") >= 1) & (count("b") >= 1) | ~exists("c"),
    (count("a") >= 1) & ((count("b") >= 1) | exists("c")),
    exists("a") & (exists("b") & exists("c")),
    (exists("a") | exists("b")) | exists("c"),
    exists("a") | (exists("b") | exists("c")),
    ~~exists("a"),
    ~(count("a") > 1),
    ~(exists("a") & exists("b")),
    ~trait("x").is_missing(),
    (count("a") + count("b")) * 2 >= 10,
    count("a") - (count("b") - 1) > 0,
    count("a") - count("b") - 1 > 0,
    1 + count("a") > 2,
    10 - count("a") < 3,
    3 * count("a") >= 6,
    count("a") / (count("b") + 1) >= 0.5,
    2 * count("a") - 3 <= -1,
    (count("a") + 1).isin([1, 2]),
    (count("a") >= 1) == True,  # noqa: E712
    exists("a") != False,  # noqa: E712
    count("a", where=(prop("n") > 5) & ~prop("plan").isin(["free"])) >= 1,
    count("a", where=prop("email").lower().endswith(".edu")),
    count("a", where=prop("x").is_missing() | (prop("x") == 0)),
    exists("a") & (trait("role") == "admin") & ~trait("email").endswith(".edu"),
]


@pytest.mark.parametrize("expr", ROUND_TRIPS, ids=[repr(e) for e in ROUND_TRIPS])
def test_repr_evaluates_back_to_an_equal_expression(expr):
    again = roundtrip(expr)
    assert again.equals(expr)
    assert repr(again) == repr(expr)


def test_repr_drops_defaults_and_parenthesises_only_where_needed():
    assert repr((count("a") >= 1) & (count("b") >= 1)) == (
        "(count('a') >= 1) & (count('b') >= 1)"
    )
    assert repr(exists("a") & exists("b") & exists("c")) == "exists('a') & exists('b') & exists('c')"
    assert repr(exists("a") & (exists("b") | exists("c"))) == (
        "exists('a') & (exists('b') | exists('c'))"
    )
    assert repr(~exists("a")) == "~exists('a')"
    assert repr(count("a") * 2 + 1) == "count('a') * 2 + 1"
    assert repr((count("a") + 1) * 2) == "(count('a') + 1) * 2"
    assert repr(count("a") - (count("b") - 1)) == "count('a') - (count('b') - 1)"
    assert repr(trait("e").endswith(".edu")) == "trait('e').endswith('.edu')"


def test_time_literals_print_as_utc_iso_strings():
    cond = first_seen("a") >= "2026-05-01T02:00:00+02:00"
    assert repr(cond) == "first_seen('a') >= '2026-05-01T00:00:00Z'"
    assert isinstance(cond.right, Lit) and cond.right.value == datetime(2026, 5, 1, tzinfo=UTC)


def test_a_naive_time_literal_is_refused():
    with pytest.raises(ValidationError, match="comparison value"):
        _ = last_seen() < "2026-05-01 00:00"


# -- immutability -------------------------------------------------------------------------------


def test_with_window_returns_a_new_signal_and_leaves_the_original_alone():
    base = count("invite")
    windowed = base.with_window("14d")
    assert windowed is not base
    assert base.within is None
    assert windowed.within == pk.as_duration("14d")
    assert repr(base) == "count('invite')"
    assert windowed.equals(count("invite", within="14d"))


def test_with_since_signup_returns_a_new_signal():
    base = exists("connected")
    later = base.with_since_signup("14d")
    assert base.since_signup is None
    assert later.equals(exists("connected", since_signup="14d"))


def test_filtered_returns_a_new_signal_and_combines_filters():
    base = count("page_viewed")
    once = base.filtered(prop("page") == "/pricing")
    twice = once.filtered(prop("plan") == "pro")
    assert base.where is None
    assert once.equals(count("page_viewed", where=prop("page") == "/pricing"))
    assert twice.equals(
        count("page_viewed", where=(prop("page") == "/pricing") & (prop("plan") == "pro"))
    )


def test_with_window_validates_like_the_builder():
    with pytest.raises(ValidationError, match="within"):
        count("x").with_window("soon")


def test_filtered_refuses_entity_signals():
    with pytest.raises(PqlkitTypeError):
        count("x").filtered(trait("plan") == "pro")


def test_operators_leave_their_operands_unchanged():
    a, b = count("a"), exists("b")
    before = (repr(a), repr(b))
    _ = (a >= 1) & b
    _ = a + 1
    _ = a.isin([1])
    assert (repr(a), repr(b)) == before


@pytest.mark.parametrize("node", [count("a"), trait("x"), prop("p"), count("a") >= 1,
                                  exists("a") & exists("b"), trait("x").lower()])
def test_nodes_are_frozen(node):
    field = attrs.fields(type(node))[0].name
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        setattr(node, field, None)


def test_expressions_are_hashable():
    table = {count("a", within="14d"): 1, exists("b") & exists("c"): 2}
    assert len(table) == 2


# -- truthiness and misuse ----------------------------------------------------------------------


@pytest.mark.parametrize("expr", [count("x"), count("x") >= 1, exists("a") & exists("b"),
                                  trait("r") == "admin"])
def test_truthiness_of_an_expression_raises_naming_the_operators(expr):
    with pytest.raises(PqlkitTypeError) as info:
        bool(expr)
    message = str(info.value)
    assert "&" in message and "|" in message and "~" in message
    assert repr(expr) in message
    assert ".equals()" in message


def test_python_and_or_not_raise_instead_of_guessing():
    with pytest.raises(PqlkitTypeError):
        _ = (count("a") >= 1) and (count("b") >= 1)
    with pytest.raises(PqlkitTypeError):
        _ = not exists("a")
    with pytest.raises(PqlkitTypeError):
        if count("a") >= 1:
            pass


def test_double_sided_comparison_raises():
    with pytest.raises(PqlkitTypeError):
        _ = 1 <= count("a") <= 3


@pytest.mark.parametrize(
    ("build", "op"),
    [
        (lambda: count("x") & exists("y"), "&"),
        (lambda: exists("y") & count("x"), "&"),
        (lambda: count("x") | exists("y"), "|"),
        (lambda: ~count("x"), "~"),
        (lambda: ~first_seen("x"), "~"),
        (lambda: exists("y") | trait("e").lower(), "|"),
    ],
)
def test_combining_a_number_with_and_or_not_says_compare_first(build, op):
    with pytest.raises(PqlkitTypeError) as info:
        build()
    message = str(info.value)
    assert "not a condition" in message
    assert f"compare it before using {op}" in message
    # The example fits the kind (a time with a moment, a text with a string) and builds.
    example = message.rsplit("e.g. ", 1)[1]
    assert pk.parse_expr(example).kind == "bool", example


def test_ordering_a_time_against_a_number_is_refused():
    with pytest.raises(PqlkitTypeError, match="cannot compare a time with a number"):
        _ = first_seen("a") >= 5


def test_arithmetic_on_text_or_time_is_refused():
    with pytest.raises(PqlkitTypeError, match="arithmetic needs numbers"):
        _ = trait("e").lower() + 1
    with pytest.raises(PqlkitTypeError, match="arithmetic needs numbers"):
        _ = last_seen() - 1


def test_bad_literals_are_refused():
    with pytest.raises(ValidationError, match="finite"):
        _ = count("a") >= float("nan")
    with pytest.raises(PqlkitTypeError, match=r"\(list\)"):
        _ = count("a") >= [1]


def test_isin_takes_a_list_not_a_string():
    with pytest.raises(PqlkitTypeError, match=r"\.isin\(\['pro'\]\)"):
        trait("plan").isin("pro")
    with pytest.raises(PqlkitTypeError):
        trait("plan").isin(3)  # type: ignore[arg-type]


def test_string_tests_take_strings():
    with pytest.raises(PqlkitTypeError, match=r"endswith\(\) takes a string"):
        trait("email").endswith(1)  # type: ignore[arg-type]


def test_expression_errors_derive_from_pqlkit_error_and_type_error():
    with pytest.raises(PqlkitError):
        bool(count("x"))
    with pytest.raises(TypeError):
        bool(count("x"))


# -- prop() belongs in where=, entity signals do not ----------------------------------------------


@pytest.mark.parametrize(
    "build",
    [
        lambda: (count("x") >= 1) & (prop("plan") == "pro"),
        lambda: (prop("plan") == "pro") | exists("x"),
        lambda: count("x") + prop("n"),
        lambda: prop("n") > count("x"),
        lambda: trait("plan") == prop("plan"),
    ],
)
def test_mixing_prop_with_entity_signals_is_refused(build):
    with pytest.raises(PqlkitTypeError, match="property tests belong inside where="):
        build()


def test_prop_outside_where_is_refused_by_a_rule():
    with pytest.raises(PqlkitTypeError, match="tests event properties directly"):
        pk.Rule("r", prop("plan") == "pro", points=1)


@pytest.mark.parametrize(
    "where",
    [exists("y"), count("y") >= 1, trait("plan") == "pro", ~exists("y"),
     days_since_last() < 3],
)
def test_entity_signals_inside_where_are_refused(where):
    with pytest.raises(PqlkitTypeError):
        count("x", where=where)


def test_property_conditions_inside_where_are_accepted():
    sig = count("x", where=(prop("n") * 2 > 5) & prop("plan").lower().isin(["pro"]))
    assert sig.where is not None
    assert sig.where.scope == "event"
    assert sig.scope == "entity"


def test_scopes_of_nodes():
    assert count("x").scope == "entity"
    assert trait("x").scope == "entity"
    assert prop("x").scope == "event"
    assert Lit(1).scope == "const"
    assert (prop("a") == 1).scope == "event"
    assert (count("a") >= 1).scope == "entity"


# -- structure and equals -------------------------------------------------------------------------


def test_equals_is_structural_and_durations_compare_by_length():
    assert count("invite", within="2w").equals(count("invite", within="14d"))
    assert count("invite", within="2w").equals(count("invite", within=timedelta(days=14)))
    assert exists("a", since_signup="1y").equals(exists("a", since_signup="12mo"))
    assert (count("a") >= 1).equals(count("a") >= 1.0)
    assert (trait("p").isin(["a", "b"])).equals(trait("p").isin(("a", "b")))


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (count("a"), count("b")),
        (count("a"), exists("a")),
        (count("a", within="14d"), count("a", within="15d")),
        (count("a", within="1mo"), count("a", within="30d")),
        (count("a"), count("a", where=prop("x") == 1)),
        (count("a", where=prop("x") == 1), count("a", where=prop("x") == 2)),
        (count("a") >= 1, count("a") > 1),
        (exists("a") & exists("b"), exists("b") & exists("a")),
        (exists("a") & exists("b"), exists("a") | exists("b")),
        (trait("e").endswith(".edu"), trait("e").endswith(".edu", ignore_case=True)),
        (trait("x").isin([True]), trait("x").isin([1])),
        (trait("x") == "1", trait("x") == 1),
        (count("a", decay=pk.HalfLife("7d")), count("a", decay=pk.HalfLife("14d"))),
        (count("a"), count("a", decay=pk.HalfLife("7d"))),
        (distinct("p", of="a"), total("p", of="a")),
    ],
)
def test_equals_tells_different_expressions_apart(a, b):
    assert not a.equals(b)
    assert not b.equals(a)


def test_equals_with_a_non_expression_is_false():
    assert not count("a").equals("count('a')")
    assert not Lit(1).equals(1)


def test_double_equals_builds_a_condition_instead_of_comparing():
    cond = count("a") == count("a")
    assert isinstance(cond, Compare)
    assert cond.op == "=="


def test_condition_nodes_have_the_expected_structure():
    cond = ((count("a") >= 2) & ~exists("b")) | trait("x").is_missing()
    assert isinstance(cond, Or)
    assert isinstance(cond.left, And)
    assert isinstance(cond.left.right, Not)
    assert isinstance(cond.right, IsMissing)
    assert isinstance(trait("e").lower(), Lower)
    assert isinstance(trait("e").contains("x"), StrTest)
    assert isinstance(trait("e").isin(["x"]), IsIn)
    assert isinstance(count("a") + 1, Arith)
    nodes = list(cond.walk())
    assert nodes[0] is cond
    assert any(isinstance(n, Count) for n in nodes)
    assert cond.left.children() == (cond.left.left, cond.left.right)


def test_is_present_is_not_is_missing():
    assert trait("x").is_present().equals(~trait("x").is_missing())


def test_event_signals_do_not_expose_their_filter_as_a_child():
    sig = count("a", where=prop("x") == 1)
    assert sig.children() == ()


def test_a_custom_signal_composes_and_prints_its_fields():
    @attrs.frozen(eq=False, repr=False)
    class StorageUsed(pk.Signal):
        unit: str = "GB"

        def evaluate(self, ctx: Any) -> Any:
            return 1

    sig = StorageUsed(unit="TB")
    assert repr(sig) == "StorageUsed(unit='TB')"
    assert repr(StorageUsed()) == "StorageUsed()"
    cond = sig >= 3
    assert isinstance(cond, Compare)
    assert repr(cond) == "StorageUsed(unit='TB') >= 3"
    assert sig.scope == "entity"
    assert sig.equals(StorageUsed(unit="TB"))
    assert not sig.equals(StorageUsed())

    @attrs.frozen(eq=False, repr=False)
    class Labelled(pk.Signal):
        label: str = ""

        def evaluate(self, ctx: Any) -> Any:
            return 1

        def equals(self, other: object) -> bool:  # the label is only for show
            return type(other) is type(self)

    # Below a built-in node, a signal's own equals() decides.
    assert ((Labelled(label="x") >= 1) & exists("a")).equals((Labelled() >= 1) & exists("a"))
    assert not ((Labelled() >= 1) & exists("a")).equals((Labelled() >= 2) & exists("a"))


def test_comparing_a_moment_with_a_number_is_refused() -> None:
    with pytest.raises(PqlkitTypeError, match="cannot compare a number with a time"):
        _ = count("x") == datetime(2026, 1, 1, tzinfo=UTC)


def test_repr_of_a_custom_signal_with_an_expression_field() -> None:
    @attrs.frozen(eq=False, repr=False)
    class Filtered(pk.Signal):
        where: Any = None

        def evaluate(self, ctx: Any) -> Any:
            return 0

    assert repr(Filtered(where=prop("plan") == "pro")) == "Filtered(where=prop('plan') == 'pro')"
    assert repr(Filtered()) == "Filtered()"


def test_field_error_lives_in_errors() -> None:
    from pqlkit.errors import FieldError
    from pqlkit.records import FieldError as Again

    assert FieldError is Again


class _Plan(__import__("enum").StrEnum):
    PRO = "pro"


def _np_values() -> list[tuple[Any, Any]]:
    np = pytest.importorskip("numpy")
    return [(np.float64(2.5), 2.5), (np.int64(3), 3), (np.str_("pro"), "pro"),
            (np.bool_(True), True), (_Plan.PRO, "pro"),
            (np.datetime64("2026-05-01T00:00:00", "us"), datetime(2026, 5, 1, tzinfo=UTC))]


def test_numpy_enum_and_pandas_literals_are_held_as_the_plain_values_they_stand_for() -> None:
    # From a dataframe (df.plan.unique(), df.score.quantile(0.9), df.at.max()) or an enum:
    # they printed as code that does not build them (np.float64(2.5), <Plan.PRO: 'pro'>),
    # and isin() never matched them (its values were keyed by type name).
    namespace: dict[str, Any] = {}
    exec("import pqlkit as pk\nfrom pqlkit import *", namespace)
    for given_value, expected in _np_values():
        for cond in (trait("x") == given_value, trait("x").isin([given_value])):
            held = cond.right.value if hasattr(cond, "right") else cond.values[0]
            assert type(held) is type(expected) and held == expected
            assert eval(repr(cond), namespace).equals(cond), repr(cond)
    pd = pytest.importorskip("pandas")
    cond = first_seen("a") >= pd.Timestamp("2026-05-01", tz="UTC")
    assert type(cond.right.value) is datetime
    assert pk.parse_expr(repr(cond)).equals(cond)
    assert count(_Plan.PRO).equals(count("pro")) and prop(_Plan.PRO).equals(prop("pro"))


def test_isin_of_a_numpy_array_matches_in_both_engines() -> None:
    np = pytest.importorskip("numpy")
    users = [{"user_id": "u", "traits": {"plan": "pro", "plan_id": 2}}]
    events = [{"name": "a", "timestamp": "2026-05-01T00:00:00Z", "user_id": "u",
               "properties": {"plan": "pro"}}]
    log = pk.EventLog.from_records(events, users=users)
    model = pk.ScoringModel(name="m", threshold=1, rules=[
        pk.Rule("plan", trait("plan").isin(np.array(["pro", "team"])), points=1),
        pk.Rule("id", trait("plan_id").isin(np.array([1, 2, 3])), points=1),
        pk.Rule("prop", count("a", where=prop("plan").isin(np.array(["pro"]))) >= 1, points=1),
        pk.Rule("enum", trait("plan").isin([_Plan.PRO]), points=1),
    ])
    for engine in ("columnar", "reference"):
        row = model.score(log, engine=engine).users["u"]
        assert [row[r] for r in ("plan", "id", "prop", "enum")] == [1, 1, 1, 1], engine


def test_isin_refuses_nat_as_it_refuses_nan() -> None:
    np = pytest.importorskip("numpy")
    with pytest.raises(ValidationError, match="NaT"):
        trait("d").isin([np.datetime64("NaT")])
    with pytest.raises(ValidationError, match="NaT"):
        trait("d") == np.datetime64("NaT")  # noqa: B015


@pytest.mark.parametrize(("build", "match"), [
    (lambda: trait("role") == None, r"compares with None.*is_missing\(\)"),  # noqa: E711
    (lambda: trait("role") != None, r"compares with None.*is_present\(\)"),  # noqa: E711
    (lambda: count("a") > None, "compares with None"),
    (lambda: trait("role").isin(["admin", None]), r"never matches.*\| trait\('role'\)"),
    (lambda: count("a") + None >= 0, "always missing"),
    (lambda: count("a") / 0 >= 0, "divides by 0"),
    (lambda: pk.parse_expr("prop('x') != None"), "compares with None"),
])
def test_literals_no_value_can_meet_are_refused(build, match):
    # None in a comparison, isin or arithmetic, and a literal / 0, built a condition that
    # could never hold (a comparison with a missing value is False): always 0 points.
    with pytest.raises(pk.ValidationError, match=match):
        build()
    assert (count("a") / 2 >= 1).equals(pk.parse_expr("count('a') / 2 >= 1"))


@pytest.mark.parametrize("where", [prop("b") + 1, prop("b").lower(), prop("b") * 0 + 5])
def test_where_takes_a_condition_not_a_number_or_text(where):
    # Its truthiness filtered the events: 0 and "" out, anything else in.
    with pytest.raises(PqlkitTypeError, match="where= takes a property condition") as info:
        count("a", where=where)
    example = str(info.value).rsplit("e.g. ", 1)[1]
    assert count("a", where=pk.parse_expr(example)).where is not None


def test_isin_refuses_values_deeper_than_a_property_may_be_or_holding_themselves():
    # They raised RecursionError; records refuse such a property with a clear message.
    deep: list[Any] = [1]
    for _ in range(31):
        deep = [deep]
    assert trait("x").isin([deep]).values  # 32 levels, as a property may
    with pytest.raises(pk.ValidationError, match="more than 32 levels deep"):
        trait("x").isin([[deep]])
    cyclic: dict[str, Any] = {}
    cyclic["self"] = cyclic
    with pytest.raises(pk.ValidationError, match="holds itself"):
        trait("x").isin([cyclic])


def test_a_non_finite_constant_is_named_for_any_expression() -> None:
    # count('a') + nan said "comparison value must be finite": there is no comparison.
    for build in (lambda: count("a") + math.nan, lambda: count("a") > math.inf):
        with pytest.raises(ValidationError,
                           match=r"a constant in an expression must be finite, got (nan|inf)"):
            build()


def test_a_long_chain_of_one_operator_prints_and_scores() -> None:
    # "Any of these 300 events" built with functools.reduce nests 300 deep: repr recursed
    # two calls per link and raised RecursionError past ~250 links (in both engines).
    import functools
    import operator

    conds = [count(f"e{i}") >= 1 for i in range(300)]
    chain = functools.reduce(operator.or_, conds)
    assert repr(chain) == " | ".join(f"(count('e{i}') >= 1)" for i in range(300))
    model = pk.ScoringModel(name="m", threshold=1, rules=[pk.Rule("any", chain, points=1)])
    events = [{"name": "e299", "timestamp": "2026-05-20T00:00:00Z", "user_id": "u1"}]
    for engine in ("columnar", "reference"):
        got = model.score(events, as_of="2026-06-01T00:00:00Z", engine=engine)
        assert got.users["u1"]["is_pql"] is True
    # equals() and a model's == went a call per level too (RecursionError at 300 links), as
    # did the repr of a sum of 300 signals.
    again = functools.reduce(operator.or_, [count(f"e{i}") >= 1 for i in range(300)])
    assert chain.equals(again) and model == attrs.evolve(model)
    assert not chain.equals(functools.reduce(operator.or_, [*conds[:-1], conds[0]]))
    total_of = functools.reduce(operator.add, [count(f"e{i}") for i in range(300)])
    assert repr(total_of) == " + ".join(f"count('e{i}')" for i in range(300))
    assert total_of.equals(functools.reduce(operator.add, [count(f"e{i}") for i in range(300)]))
    assert repr(count("a") - count("b") + count("c") * 2) == "(count('a') - count('b')) + count('c') * 2"
    a, b, c = (exists(n) for n in "abc")
    assert [repr(x) for x in ((a | b) & c, a | (b & c), a & b & c, a | (b | c), ~(a | b) | c,
                              (a & b) | (c & a))] == [
        "(exists('a') | exists('b')) & exists('c')", "exists('a') | exists('b') & exists('c')",
        "exists('a') & exists('b') & exists('c')", "exists('a') | (exists('b') | exists('c'))",
        "~(exists('a') | exists('b')) | exists('c')",
        "exists('a') & exists('b') | exists('c') & exists('a')"]
