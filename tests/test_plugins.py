"""Plugin discovery: built-ins and third-party plugins found the same way, failures by name."""

from __future__ import annotations

import textwrap
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import pqlkit as pk
from pqlkit import plugins
from pqlkit.errors import ExpressionError, PluginError, ValidationError
from pqlkit.lang import parse_expr
from pqlkit.plugins import BUILTINS, GROUPS, PluginInfo, Registry

ROOT = Path(__file__).resolve().parent.parent

SIGNAL_MODULE = textwrap.dedent("""
    from typing import Any, ClassVar

    import attrs

    import pqlkit as pk


    @attrs.frozen(eq=False, repr=False, kw_only=True)
    class SeatShare(pk.Signal):
        seats_trait: str = "seats"
        kind: ClassVar[str] = "number"

        def evaluate(self, ctx: Any) -> Any:
            seats = ctx.traits.get(self.seats_trait)
            return None if not seats else len(ctx.events()) / seats
""")

FakeDist = Callable[..., Path]


def test_builtins_come_from_pqlkits_own_entry_points() -> None:
    reg = Registry.discover()
    for kind, table in BUILTINS.items():
        for name in table:
            assert [c.distribution for c in reg.claims(kind, name)] == ["pqlkit"], name


def test_the_fallback_table_is_exactly_the_pyproject_entry_points() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    declared = project["project"]["entry-points"]
    for kind, group in GROUPS.items():
        assert declared[group] == BUILTINS[kind], group


def test_an_uninstalled_checkout_falls_back_to_the_builtin_table(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.metadata

    monkeypatch.setattr(importlib.metadata, "entry_points", lambda **_: [])
    reg = Registry.discover()
    assert reg.claims("signal", "count")[0].distribution == "pqlkit (source checkout)"
    assert reg.get("decay", "HalfLife") is pk.HalfLife
    assert parse_expr("count('x') >= 1", plugins=reg).equals(pk.count("x") >= 1)


def test_a_plugin_signal_is_found_by_its_entry_point_and_its_class_name(
        fake_dist: FakeDist) -> None:
    fake_dist("seat-signals", {"pqlkit.signals": {"seat_share": "seat_mod_a:SeatShare"}},
              {"seat_mod_a": SIGNAL_MODULE})
    reg = Registry.discover()
    assert reg.claims("signal", "seat_share") == [
        PluginInfo("signal", "seat_share", "seat_mod_a:SeatShare", "seat-signals")]
    by_entry = parse_expr("seat_share(seats_trait='paid_seats') >= 0.5", plugins=reg)
    by_class = parse_expr(repr(by_entry), plugins=reg)
    assert repr(by_entry) == "SeatShare(seats_trait='paid_seats') >= 0.5"
    assert by_class.equals(by_entry)
    assert reg.name_of("signal", type(by_entry.left)) == "seat_share"


def test_a_broken_plugin_is_reported_by_name_without_hiding_the_others(
        fake_dist: FakeDist) -> None:
    fake_dist("mixed-bag", {
        "pqlkit.signals": {"broken": "broken_mod_b:Nope", "seat_share": "seat_mod_b:SeatShare"},
        "pqlkit.decays": {"not_callable": "seat_mod_b:LIMIT"},
    }, {"broken_mod_b": "raise ImportError('needs libfoo')",
        "seat_mod_b": SIGNAL_MODULE + "\nLIMIT = 3\n"})
    reg = Registry.discover()
    with pytest.raises(ExpressionError, match=r"signal 'broken' from 'mixed-bag' "
                       r"\(broken_mod_b:Nope\) failed to load: ImportError: needs libfoo"):
        parse_expr("broken() >= 1", plugins=reg)
    assert parse_expr("seat_share() >= 1", plugins=reg).kind == "bool"
    assert parse_expr("count('x') >= 1", plugins=reg).kind == "bool"
    problems = reg.problems()
    assert any("'broken'" in p and "needs libfoo" in p for p in problems)
    assert any("'not_callable'" in p and "not a class or function" in p for p in problems)
    assert len(problems) == 2


def test_two_distributions_claiming_one_name_is_an_error_naming_both(
        fake_dist: FakeDist) -> None:
    fake_dist("alpha-plugins", {"pqlkit.signals": {"seat_share": "seat_mod_c:SeatShare"}},
              {"seat_mod_c": SIGNAL_MODULE})
    fake_dist("beta-plugins", {"pqlkit.signals": {"seat_share": "seat_mod_d:SeatShare"}},
              {"seat_mod_d": SIGNAL_MODULE})
    reg = Registry.discover()
    with pytest.raises(PluginError) as info:
        reg.get("signal", "seat_share")
    message = str(info.value)
    assert "'alpha-plugins'" in message and "'beta-plugins'" in message
    assert "seat_share" in reg.describe("signal")
    assert any("claimed by two distributions" in p for p in reg.problems())
    assert reg.get("signal", "count") is pk.count


def test_a_plugin_claiming_a_builtin_name_conflicts_with_pqlkit(fake_dist: FakeDist) -> None:
    fake_dist("greedy", {"pqlkit.signals": {"count": "seat_mod_e:SeatShare"}},
              {"seat_mod_e": SIGNAL_MODULE})
    reg = Registry.discover()
    with pytest.raises(ExpressionError, match="claimed by two distributions") as info:
        parse_expr("count('x') >= 1", plugins=reg)
    assert "'pqlkit' (pqlkit.expr:count)" in str(info.value)
    assert "'greedy' (seat_mod_e:SeatShare)" in str(info.value)


def test_an_unknown_name_suggests_the_closest_and_lists_what_is_installed(
        fake_dist: FakeDist) -> None:
    fake_dist("seat-signals", {"pqlkit.signals": {"seat_share": "seat_mod_f:SeatShare"}},
              {"seat_mod_f": SIGNAL_MODULE})
    reg = Registry.discover()
    with pytest.raises(PluginError) as info:
        reg.get("signal", "seat_shares")
    message = str(info.value)
    assert "unknown signal 'seat_shares'; did you mean 'seat_share'?" in message
    assert "seat_share (seat-signals)" in message
    assert "count" in message and "active_users" in message


def test_the_cached_registry_is_read_again_by_refresh(fake_dist: FakeDist) -> None:
    before = plugins.registry()
    assert plugins.registry() is before
    try:
        fake_dist("late-plugins", {"pqlkit.decays": {"late": "seat_mod_g:SeatShare"}},
                  {"seat_mod_g": SIGNAL_MODULE})
        assert "late" not in plugins.registry().names("decay")
        assert "late" in plugins.refresh().names("decay")
    finally:
        plugins.registry.cache_clear()


def test_a_registry_can_be_built_from_explicit_claims_for_tests() -> None:
    claims: list[Any] = [PluginInfo("decay", "HalfLife", "pqlkit.model:HalfLife", "pqlkit")]
    reg = Registry(claims)
    assert reg.names("decay") == ["HalfLife"] and reg.names("signal") == []
    assert reg.describe("signal") == "none"


def test_a_custom_signal_or_rule_giving_nan_is_an_error_in_both_engines() -> None:
    # The reference engine clamped a nan score to the floor (max(0, nan) is 0) and the
    # columnar one kept nan: the engines disagreed on the score.
    from typing import ClassVar

    import attrs

    @attrs.frozen(eq=False, repr=False)
    class Ratio(pk.Signal):
        kind: ClassVar[str] = "number"

        def evaluate(self, ctx: Any) -> float:
            return float("nan") if ctx.entity_id == "u1" else 2.0

    @attrs.frozen(kw_only=True)
    class Flat:
        name: str = "flat"

        def points_for(self, ctx: Any) -> Any:
            return {"u1": float("nan"), "u2": "5"}.get(ctx.entity_id, 1.0)

    events = [{"name": "x", "timestamp": "2026-05-01T00:00:00Z", "user_id": u}
              for u in ("u1", "u2")]
    for rule, message in ((pk.Rule("pp", Ratio(), points_per=1), r"Ratio\(\) returned nan"),
                          (Flat(), "rule 'flat': points_for")):
        model = pk.ScoringModel(name="m", threshold=1, rules=[rule])
        for engine in ("reference", "columnar"):
            with pytest.raises(ValidationError, match=message):
                model.score(events, engine=engine)


def test_a_signals_repr_passes_private_fields_by_alias_and_leaves_derived_ones_out() -> None:
    # It printed Recent(_within='14d') and Paced(window='14d', days=14.0), which
    # __init__ refuses: such a signal could not be parsed back or saved in a model file.
    from typing import ClassVar

    import attrs

    @attrs.frozen(eq=False, repr=False, kw_only=True)
    class Recent(pk.Signal):
        _within: str = "7d"
        kind: ClassVar[str] = "number"

        def evaluate(self, ctx: Any) -> int:
            return len(ctx.events(within=self._within))

    @attrs.frozen(eq=False, repr=False, kw_only=True)
    class Paced(pk.Signal):
        window: str = "7d"
        days: float = attrs.field(init=False)
        kind: ClassVar[str] = "number"

        def __attrs_post_init__(self) -> None:
            object.__setattr__(self, "days", 7.0 if self.window == "7d" else 14.0)

        def evaluate(self, ctx: Any) -> float:
            return len(ctx.events(within=self.window)) / self.days

    assert repr(Recent(within="14d")) == "Recent(within='14d')"
    assert repr(Recent()) == "Recent()"
    assert repr(Paced(window="14d")) == "Paced(window='14d')"
    namespace = {"Recent": Recent, "Paced": Paced}
    for sig in (Recent(within="14d"), Paced(window="14d")):
        assert eval(repr(sig), namespace).equals(sig)


def test_a_class_name_that_is_another_plugins_name_is_ambiguous_not_swapped(
        fake_dist: FakeDist) -> None:
    # Files hold a plugin signal by its class name (its repr). "SeatShare" was also
    # another distribution's entry-point name: the file loaded, silently, as the other
    # signal; and two classes of one name made files unwritable with problems() silent.
    fake_dist("seats", {"pqlkit.signals": {"seat_share": "seat_mod_f:SeatShare"}},
              {"seat_mod_f": SIGNAL_MODULE})
    fake_dist("other", {"pqlkit.signals": {"SeatShare": "seat_mod_g:Other"}},
              {"seat_mod_g": SIGNAL_MODULE.replace("class SeatShare", "class Other")})
    reg = Registry.discover()
    with pytest.raises(ExpressionError, match="'SeatShare' is ambiguous"):
        parse_expr("SeatShare() >= 0.5", plugins=reg)
    assert any("'SeatShare' is ambiguous" in p for p in reg.problems())
    assert parse_expr("seat_share() >= 0.5", plugins=reg).kind == "bool"


def test_a_class_name_two_plugins_share_is_reported(fake_dist: FakeDist) -> None:
    fake_dist("seats-a", {"pqlkit.signals": {"seats_a": "seat_mod_h:SeatShare"}},
              {"seat_mod_h": SIGNAL_MODULE})
    fake_dist("seats-b", {"pqlkit.signals": {"seats_b": "seat_mod_i:SeatShare"}},
              {"seat_mod_i": SIGNAL_MODULE})
    reg = Registry.discover()
    assert any("class name 'SeatShare' is shared by the signals 'seats_a', 'seats_b'" in p
               for p in reg.problems())


def test_saving_a_rule_whose_name_two_distributions_claim_names_both(
        fake_dist: FakeDist, monkeypatch: pytest.MonkeyPatch) -> None:
    # The writer said the rule was "not a registered rule", which it is.
    module = textwrap.dedent("""
        import attrs

        @attrs.frozen(kw_only=True)
        class Flat:
            name: str
            def points_for(self, ctx):
                return 1
    """)
    fake_dist("rules-a", {"pqlkit.rules": {"flat": "flat_mod_a:Flat"}}, {"flat_mod_a": module})
    fake_dist("rules-b", {"pqlkit.rules": {"flat": "flat_mod_b:Flat"}}, {"flat_mod_b": module})
    import flat_mod_a

    reg = Registry.discover()
    model = pk.ScoringModel(name="m", threshold=1, rules=[flat_mod_a.Flat(name="f")])
    with pytest.raises(pk.errors.ModelFileError, match="claimed by two distributions"):
        pk.modelfile.to_dict(model, plugins=reg)


def test_evidence_that_is_not_an_event_set_is_an_error_not_silently_no_evidence() -> None:
    from typing import ClassVar

    import attrs

    @attrs.frozen(eq=False, repr=False)
    class Logins(pk.Signal):
        kind: ClassVar[str] = "number"

        def evaluate(self, ctx: Any) -> int:
            return len(ctx.events("login"))

        def evidence(self, ctx: Any) -> Any:
            return list(ctx.events("login"))  # records: not traceable to the log

    events = [{"name": "login", "timestamp": "2026-05-01T00:00:00Z", "user_id": "u1"}]
    model = pk.ScoringModel(name="m", threshold=1, rules=[pk.Rule("r", Logins() >= 1, points=1)])
    for engine in ("reference", "columnar"):
        with pytest.raises(pk.errors.PqlkitTypeError, match="returns the EventSet"):
            model.score(events, engine=engine)


def test_one_class_under_two_names_is_no_clash(fake_dist: FakeDist) -> None:
    fake_dist("seats-two", {"pqlkit.signals": {"seat_share": "seat_mod_j:SeatShare",
                                               "SeatShare": "seat_mod_j:SeatShare",
                                               "seats": "seat_mod_j:SeatShare"}},
              {"seat_mod_j": SIGNAL_MODULE})
    reg = Registry.discover()
    assert parse_expr("SeatShare() >= 0.5", plugins=reg).kind == "bool"
    assert parse_expr("seats() >= 0.5", plugins=reg).kind == "bool"
    assert reg.problems() == []


def test_a_signal_that_never_set_kind_is_told_how_when_used_as_a_condition() -> None:
    from typing import ClassVar

    import attrs

    @attrs.frozen(eq=False, repr=False)
    class IsActive(pk.Signal):  # kind forgotten: a number by default
        def evaluate(self, ctx: Any) -> bool:
            return True

    @attrs.frozen(eq=False, repr=False)
    class Score(pk.Signal):
        kind: ClassVar[str] = "number"

        def evaluate(self, ctx: Any) -> int:
            return 1

    with pytest.raises(pk.errors.PqlkitTypeError, match="kind: ClassVar"):
        pk.Rule("r", IsActive(), points=1)
    with pytest.raises(pk.errors.PqlkitTypeError, match="kind: ClassVar"):
        IsActive() & pk.exists("a")
    with pytest.raises(pk.errors.PqlkitTypeError) as info:
        pk.Rule("r", Score(), points=1)  # a number on purpose: no hint about kind
    assert "ClassVar" not in str(info.value)


def test_a_custom_signals_context_checks_what_it_is_given():
    # ctx.events(5) found no events (0 points, silently); ctx.events(where="login") and
    # ctx.evaluate("login") blamed the engine ("cannot evaluate str nodes").
    from typing import ClassVar

    import attrs

    @attrs.frozen(eq=False, repr=False)
    class Logins(pk.Signal):
        name: Any = "login"
        where: Any = None
        raw: Any = None
        kind: ClassVar[str] = "number"

        def evaluate(self, ctx: Any) -> Any:
            if self.raw is not None:
                return ctx.evaluate(self.raw)
            return len(ctx.events(self.name, where=self.where))

    log = pk.EventLog.from_records(
        [{"name": "login", "timestamp": "2026-05-01T00:00:00Z", "user_id": "u1"}])
    for signal, match in [(Logins(name=5), "an event name must be a non-empty string"),
                          (Logins(where="login"), "where= takes a property condition"),
                          (Logins(raw="login"), r"ctx.evaluate\(\) takes a signal")]:
        model = pk.ScoringModel(name="m", threshold=1, rules=[pk.Rule("r", signal, points_per=1)])
        for engine in ("columnar", "reference"):
            with pytest.raises(pk.PqlkitError, match=match):
                model.score(log, engine=engine)
    ok = pk.ScoringModel(name="m", threshold=1, rules=[pk.Rule("r", Logins(), points_per=1)])
    assert ok.score(log).users["u1"]["r"] == 1
