"""Model files: exact round trips in every format, every problem reported with its path."""

from __future__ import annotations

import importlib
import json
import sys
import textwrap
import tomllib
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pqlkit as pk
from pqlkit import datasets, templates
from pqlkit import modelfile as mf
from pqlkit._optional import MissingDependencyError
from pqlkit.errors import ModelFileError
from pqlkit.modelfile import ModelProblem
from pqlkit.plugins import Registry
from pqlkit.testing import assert_results_equal, event_logs, models

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "examples" / "models"
FORMATS = ("toml", "json", "yaml")

#: Each example model file and the template it must equal.
EXAMPLES: dict[str, Callable[[], pk.ScoringModel]] = {
    "trial.toml": templates.trial_scoring,
    "weighted_families.toml": templates.weighted_signal_families,
    "activation.json": templates.activation_within,
    "intent_to_pay.yaml": templates.intent_to_pay,
    "workspace_expansion.toml": templates.workspace_expansion,
    "team_query_milestone.yml": templates.team_query_milestone,
    "message_volume.json": templates.message_volume,
}


def problems_of(data: Any) -> dict[str, str]:
    return {p.path: p.message for p in pk.validate_model(data)}


def base(**extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "m", "threshold": 10,
        "rules": [{"name": "a", "when": "count('x') >= 1", "points": 10}],
    }
    data.update(extra)
    return data


# -- round trips -----------------------------------------------------------------------------


@given(models())
def test_every_model_round_trips_through_a_dict(model: pk.ScoringModel) -> None:
    assert pk.ScoringModel.from_dict(model.to_dict()) == model


@pytest.mark.parametrize("fmt", FORMATS)
@given(model=models())
def test_every_model_round_trips_through_file_text(fmt: str, model: pk.ScoringModel) -> None:
    text = mf.dumps(model, fmt)
    assert mf.from_dict(mf.loads(text, fmt)) == model


@settings(max_examples=15, suppress_health_check=[HealthCheck.too_slow])
@given(model=models(), rows=event_logs(min_events=1, max_events=12),
       fmt=st.sampled_from(FORMATS))
def test_a_model_read_back_from_a_file_scores_identically(
        tmp_path_factory: pytest.TempPathFactory, model: pk.ScoringModel, rows: Any,
        fmt: str) -> None:
    path = tmp_path_factory.mktemp("models") / f"model.{fmt}"
    model.save(path)
    back = pk.load_model(path)
    assert back == model
    events, users, accounts = rows
    log = pk.EventLog.from_records(events, users=users, accounts=accounts)
    assert_results_equal(model.score(log), back.score(log))


def test_the_written_file_is_the_readable_form_of_the_model() -> None:
    text = mf.dumps(templates.trial_scoring(), "toml")
    assert text.startswith('name = "trial-pql"\nthreshold = 60\ndisqualify = [\n')
    assert '[decay]\ntype = "InactivityDecay"\npoints = 5\nevery = "7d"\ngrace = "7d"\n' in text
    assert "[[rules]]\nname = \"intent\"\nwhen = \"count('pricing_page_viewed', within='30d') " \
           ">= 1\"\npoints = 15\n" in text


def test_fields_at_their_defaults_are_left_out_and_none_is_spelled_false() -> None:
    model = pk.ScoringModel(
        name="m", threshold=1, floor=None, ceiling=50,
        rules=[pk.Rule("a", pk.count("x"), points_per=2.5, max_points=10,
                       decay=pk.HalfLife("14d"))],
        rollup=pk.Rollup(min_share=None, min_pql=2, denominator="active",
                         active_within="1mo"),
    )
    data = model.to_dict()
    assert data == {
        "name": "m", "threshold": 1, "floor": False, "ceiling": 50,
        "rollup": {"min_share": False, "min_pql": 2, "denominator": "active",
                   "active_within": "1mo"},
        "rules": [{"name": "a", "when": "count('x')", "points_per": 2.5, "max_points": 10,
                   "decay": {"type": "HalfLife", "half_life": "14d"}}],
    }
    assert pk.ScoringModel.from_dict(data) == model
    with_nulls = json.loads(json.dumps(data).replace("false", "null"))
    assert pk.ScoringModel.from_dict(with_nulls) == model


def test_a_decay_may_also_be_written_as_a_call() -> None:
    table = base(decay={"type": "InactivityDecay", "points": 5, "every": "7d"})
    text = base(decay="InactivityDecay(points=5, every='7d')")
    assert pk.ScoringModel.from_dict(table) == pk.ScoringModel.from_dict(text)


@pytest.mark.parametrize("suffix", [".toml", ".json", ".yaml", ".yml"])
def test_save_and_load_by_suffix(tmp_path: Path, suffix: str) -> None:
    model = templates.weighted_signal_families()
    path = model.save(tmp_path / f"model{suffix}")
    assert pk.load_model(path) == model
    assert pk.validate_model(path) == []


def test_format_can_be_given_when_the_suffix_says_nothing(tmp_path: Path) -> None:
    path = tmp_path / "model.conf"
    with pytest.raises(ModelFileError, match=r"cannot tell the format .* name it \.toml"):
        templates.trial_scoring().save(path)
    templates.trial_scoring().save(path, format="json")
    assert pk.load_model(path, format="json") == templates.trial_scoring()
    with pytest.raises(ModelFileError, match="unknown model file format 'xml'"):
        pk.load_model(path, format="xml")


@given(st.dictionaries(
    st.text(min_size=1, max_size=8),
    st.recursive(
        st.one_of(st.booleans(), st.integers(-(2**63), 2**63 - 1), st.text(max_size=10),
                  st.floats(allow_nan=False)),
        lambda inner: st.one_of(st.lists(inner, max_size=3),
                                st.dictionaries(st.text(max_size=5), inner, max_size=3)),
        max_leaves=8),
    max_size=5))
def test_the_toml_writer_writes_what_tomllib_reads_back(data: dict[str, Any]) -> None:
    assert tomllib.loads(mf._toml(data)) == data


# -- the reference models ship as files --------------------------------------------------------


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_each_example_model_file_equals_its_template(name: str) -> None:
    assert pk.load_model(MODELS / name) == EXAMPLES[name]()


def test_every_example_file_is_tested_and_every_template_has_a_file() -> None:
    files = {p.name for p in MODELS.iterdir()
             if p.suffix in mf.FORMATS and not p.name.endswith(".schema.json")}
    assert files == set(EXAMPLES)
    assert {f().name for f in EXAMPLES.values()} == {f().name for f in
                                                      templates.TEMPLATES.values()}
    assert {Path(n).suffix for n in EXAMPLES} >= {".toml", ".json", ".yaml", ".yml"}


@pytest.fixture(scope="module")
def demo_log() -> pk.EventLog:
    data = datasets.synthetic_saas(n_accounts=40, seed=5)
    events, users, accounts = data.records()
    return pk.EventLog.from_records(events, users=users, accounts=accounts)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_each_example_model_file_scores_the_demo_data_like_its_template(
        name: str, demo_log: pk.EventLog) -> None:
    got = pk.load_model(MODELS / name).score(demo_log)
    want = EXAMPLES[name]().score(demo_log)
    assert_results_equal(got, want)


# -- validation: every problem at once, each with its path -----------------------------------


def test_validate_reports_every_problem_with_its_path() -> None:
    data = {
        "name": "", "treshold": 60, "level": "users",
        "tiers": {"hot": "80", "disqualified": 1},
        "disqualify": ["trait('email').endswith('.edu')", "count('x')"],
        "decay": {"type": "InactivityDecay", "points": -5, "every": "week"},
        "rollup": {"min_share": 1.5, "score": "median", "k": 0},
        "group_caps": {"usage": 30},
        "rules": [
            {"name": "a", "when": "count('x') >= 1", "points": "ten"},
            {"name": "b", "when": "cuont('x') >= 1", "point": 5},
            {"name": "a", "when": "count('y')", "points": 5},
            {"name": "c", "when": "distinct_users('q') >= 3", "points": 1, "group": "fit"},
            "not a table",
        ],
    }
    got = problems_of(data)
    assert set(got) == {
        "name", "treshold", "threshold", "level", "tiers.hot", "tiers.disqualified",
        "disqualify[1]", "decay.points", "decay.every", "rollup.min_share", "rollup.score",
        "rollup.k", "group_caps.usage", "rules[0].points", "rules[1].when", "rules[1].point",
        "rules[1]", "rules[2].name", "rules[2].when", "rules[4]",
    }
    assert got["treshold"].startswith("unknown key 'treshold' in the model; did you mean "
                                      "'threshold'?")
    assert got["threshold"] == "missing: every model needs a threshold (the PQL bar)"
    assert got["level"] == "must be one of 'user', 'account', got 'users' (str); did you mean 'user'?"
    assert got["tiers.hot"] == ("must be a finite number, got '80' (str); write numbers "
                                "without quotes")
    assert got["rules[0].points"] == "must be a finite number, got 'ten' (str)"
    assert got["rules[1].when"].startswith("column 1: unknown signal 'cuont'; did you mean "
                                           "'count'?")
    assert got["rules[1].point"].startswith("unknown key 'point' in a rule; did you mean "
                                            "'points'?")
    assert got["rules[2].name"] == "rules[0] is already named 'a'; names must differ"
    assert "is a number, not a condition" in got["rules[2].when"]
    assert got["decay.points"] == "InactivityDecay: points must be positive, got -5"
    assert got["group_caps.usage"] == "no rule is in group 'usage' (groups: fit)"
    assert got["decay.every"].startswith("duration 'week' is not understood")
    assert got["rollup.score"].startswith("must be one of 'max', 'sum', 'mean', 'top_k_mean'")


def test_an_account_only_signal_at_user_level_is_reported_on_its_rule() -> None:
    data = base(rules=[{"name": "t", "when": "distinct_users('q') >= 3", "points": 1}])
    assert problems_of(data) == {
        "rules[0].when": "distinct_users('q') counts users of an account, so it needs "
                         "level = 'account'"}
    assert problems_of({**data, "level": "account"}) == {}


@pytest.mark.parametrize(("data", "path", "message"), [
    ([1, 2], "", "a model file holds a table of the model's fields at the top"),
    (base(rules={"name": "a"}), "rules", "must be a list of rule tables"),
    (base(disqualify="trait('a') == 1"), "disqualify", "must be a list of conditions"),
    (base(disqualify=["prop('plan') == 'pro'"]), "disqualify[0]", "tests event properties"),
    (base(decay={"points": 5}), "decay", "a decay table needs a type"),
    (base(decay={"type": "HalfLfe", "half_life": "7d"}), "decay.type",
     "unknown decay 'HalfLfe'; did you mean 'HalfLife'?"),
    (base(decay={"type": "HalfLife"}), "decay.half_life", "missing: decay 'HalfLife' needs"),
    (base(decay={"type": "HalfLife", "half_life": "3mo"}), "decay.half_life",
     "needs a fixed length of time"),
    (base(decay={"type": "HalfLife", "half_life": "7d", "every": "1d"}), "decay.every",
     "unknown key 'every' in decay 'HalfLife'"),
    (base(decay="HalfLife(7)"), "decay", "must be a string like '14d'"),
    (base(decay=5), "decay", "must be a decay table such as"),
    (base(floor=5, ceiling=1), "ceiling", "is below floor (5)"),
    (base(rollup={"denominator": "active"}), "rollup.active_within",
     "denominator = 'active' needs active_within"),
    (base(rollup={"min_pql": True}), "rollup.min_pql", "must be a whole number"),
    (base(rollup=[]), "rollup", "must be a roll-up table"),
    (base(threshold=float("nan")), "threshold", "must be a finite number"),
    (base(threshold=True), "threshold", "must be a finite number, got True (bool)"),
    (base(**{"$schema": 3}), "$schema", "must be the address of the schema"),
    (base(rules=[{"name": "a", "when": "count('x')", "points_per": 1, "points": 2}]),
     "rules[0]", "give exactly one of points"),
    (base(rules=[{"name": "a", "when": "count('x') >= 1", "points": 1, "max_points": 2}]),
     "rules[0].max_points", "max_points goes with points_per"),
    (base(rules=[{"name": "score", "when": "count('x') >= 1", "points": 1}]),
     "rules[0].name", "'score' is a result column name"),
    (base(rules=[{"when": "count('x') >= 1", "points": 1}]), "rules[0].name",
     "missing: every rule needs a name"),
    (base(rules=[{"name": "a", "points": 1}]), "rules[0].when", "missing: a rule needs when"),
    (base(rules=[{"name": "a", "when": 5, "points": 1}]), "rules[0].when",
     "must be an expression written as text"),
    (base(rules=[{"name": "a", "when": "first_seen('x')", "points_per": 1}]),
     "rules[0].when", "points_per needs a numeric signal"),
    (base(rules=[{"type": "no_such_rule", "name": "a"}]), "rules[0].type",
     "unknown rule 'no_such_rule'"),
    (base(rules=[{"type": 3}]), "rules[0].type", "must be a rule name"),
    (base(tiers=["hot"]), "tiers", "must be a table of tier names"),
])
def test_each_mistake_is_reported_where_it_is(data: Any, path: str, message: str) -> None:
    got = problems_of(data)
    assert path in got, got
    assert message in got[path]


def test_load_model_raises_one_error_listing_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('name = "m"\nthreshold = "60"\n\n[[rules]]\nname = "a"\n'
                    'when = "count(\'x\') >= 1"\npoint = 5\n')
    with pytest.raises(ModelFileError) as info:
        pk.load_model(path)
    err = info.value
    assert isinstance(err, ValueError) and isinstance(err, pk.PqlkitError)
    assert [p.path for p in err.problems] == ["threshold", "rules[0].point", "rules[0]"]
    assert str(err).startswith(f"model file {str(path)!r} has 3 problems:\n  threshold: ")
    assert err.source == path


def test_a_single_problem_reads_as_one_line() -> None:
    with pytest.raises(ModelFileError) as info:
        pk.ScoringModel.from_dict(base(threshold="x"))
    assert str(info.value) == "model: threshold: must be a finite number, got 'x' (str)"
    assert info.value.problems == [ModelProblem("threshold", "must be a finite number, got "
                                                "'x' (str)")]


@pytest.mark.parametrize(("suffix", "text", "line"), [
    (".toml", 'name = "m"\nthreshold = \n', 2),
    (".json", '{"name": "m",\n "threshold": }', 2),
    (".yaml", "name: m\nrules: [\n", 3),
    # Cut short: tomllib says "at end of document", with no line (the end is the place).
    (".toml", 'name = "m"\nthreshold = 1\nrules = [\n', 4),
])
def test_a_file_that_does_not_parse_says_where(tmp_path: Path, suffix: str, text: str,
                                               line: int) -> None:
    path = tmp_path / f"m{suffix}"
    path.write_text(text)
    [problem] = pk.validate_model(path)
    assert problem.path == "" and problem.line == line
    assert problem.message.startswith(f"not valid {suffix[1:].upper()}")


@pytest.mark.parametrize(("suffix", "text"), [
    (".json", '{"name": "m", "threshold": 1, "threshold": 2, "rules": []}'),
    (".yaml", "name: m\nthreshold: 1\nthreshold: 2\nrules: []\n"),
])
def test_a_key_written_twice_is_refused_not_silently_dropped(tmp_path: Path, suffix: str,
                                                             text: str) -> None:
    path = tmp_path / f"m{suffix}"
    path.write_text(text)
    [problem] = pk.validate_model(path)
    assert "the key 'threshold' appears twice" in problem.message


def test_unreadable_files_are_problems_too(tmp_path: Path) -> None:
    [missing] = pk.validate_model(tmp_path / "nope.toml")
    assert missing.message.startswith("cannot read the file")
    binary = tmp_path / "m.toml"
    binary.write_bytes(b"name = \"\xff\"\n")
    [not_text] = pk.validate_model(binary)
    assert "not UTF-8" in not_text.message
    empty = tmp_path / "m.yaml"
    empty.write_text("")
    assert "a model file holds a table" in pk.validate_model(empty)[0].message


def test_yaml_needs_the_yaml_extra_and_says_so(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("name: m\n")
    monkeypatch.setitem(sys.modules, "yaml", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'pqlkit\[yaml\]'"):
        pk.load_model(path)


def test_yaml_is_read_safely(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("name: !!python/object/apply:os.system ['true']\nthreshold: 1\nrules: []\n")
    [problem] = pk.validate_model(path)
    assert "not valid YAML" in problem.message and "python/object/apply" in problem.message


# -- plugins in model files --------------------------------------------------------------------

PLUGIN_MODULE = """
    from datetime import timedelta
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


    @attrs.frozen(kw_only=True)
    class Bands:
        name: str
        signal: pk.Expr = attrs.field(eq=attrs.cmp_using(eq=lambda a, b: a.equals(b)))
        bands: tuple[tuple[float, float], ...]
        group: str | None = None
        decay: Any = None

        def points_for(self, ctx: Any) -> float:
            value = ctx.evaluate(self.signal)
            return max((p for bar, p in self.bands if value is not None and value >= bar),
                       default=0)


    @attrs.frozen
    class LinearToZero:
        over: timedelta

        def apply(self, value: float, age: timedelta) -> float:
            return value * max(0.0, 1 - age / self.over)


    class Untyped:
        def __init__(self, name, limit=3):
            self.name, self.limit = name, limit

        def points_for(self, ctx):
            return self.limit
"""


@pytest.fixture
def plugin_registry(fake_dist: Callable[..., Path]) -> Registry:
    fake_dist("acme-pqlkit", {
        "pqlkit.signals": {"acme_seat_share": "acme_plugin:SeatShare"},
        "pqlkit.rules": {"acme_bands": "acme_plugin:Bands", "acme_untyped": "acme_plugin:Untyped"},
        "pqlkit.decays": {"acme_linear": "acme_plugin:LinearToZero"},
    }, {"acme_plugin": textwrap.dedent(PLUGIN_MODULE)})
    return Registry.discover()


def test_custom_signals_rules_and_decays_round_trip(plugin_registry: Registry) -> None:
    mod = importlib.import_module("acme_plugin")
    model = pk.ScoringModel(
        name="custom", threshold=10, level="account",
        rules=[
            mod.Bands(name="queries", signal=pk.count("q", within="30d"),
                      bands=((3, 10), (10, 30)), decay=mod.LinearToZero(timedelta(days=60))),
            pk.Rule("seats", mod.SeatShare(seats_trait="paid") >= 0.5, points=5),
        ],
        decay=mod.LinearToZero(timedelta(days=90)),
    )
    data = mf.to_dict(model, plugins=plugin_registry)
    assert data["rules"][0] == {
        "type": "acme_bands", "name": "queries", "signal": "count('q', within='30d')",
        "bands": [[3, 10], [10, 30]], "decay": {"type": "acme_linear", "over": "60d"}}
    assert data["rules"][1]["when"] == "SeatShare(seats_trait='paid') >= 0.5"
    assert data["decay"] == {"type": "acme_linear", "over": "90d"}
    for fmt in FORMATS:
        text = mf.dumps(model, fmt, plugins=plugin_registry)
        assert mf.from_dict(mf.loads(text, fmt), plugins=plugin_registry) == model


def test_plugin_names_in_files_are_the_entry_point_names(plugin_registry: Registry) -> None:
    data = base(rules=[
        {"name": "s", "when": "acme_seat_share(seats_trait='paid') >= 0.5", "points": 5},
        {"type": "acme_bands", "name": "q", "signal": "count('q')", "bands": [[1, 2]]},
        {"type": "acme_untyped", "name": "u", "limit": 7},
    ], decay={"type": "acme_linear", "over": "30d"})
    model = mf.from_dict(data, plugins=plugin_registry)
    assert model.rules[1].bands == ((1, 2),)
    assert model.rules[2].limit == 7
    assert repr(model.decay) == "LinearToZero(over=datetime.timedelta(days=30))"


def test_plugin_arguments_are_checked_by_their_annotations(plugin_registry: Registry) -> None:
    data = base(rules=[
        {"type": "acme_bands", "name": "q", "signal": "cuont('q')", "bands": [[1, 2, 3]]},
        {"type": "acme_bands", "name": "r", "signal": "count('q')", "bandz": []},
    ], decay={"type": "acme_linear", "over": "soon"})
    got = {p.path: p.message for p in pk.validate_model(data, plugins=plugin_registry)}
    assert got["rules[0].signal"].startswith("column 1: unknown signal 'cuont'")
    assert got["rules[0].bands[0]"] == "must hold 2 items, got 3"
    assert got["rules[1].bandz"].startswith("unknown key 'bandz' in rule 'acme_bands'; did "
                                            "you mean 'bands'?")
    assert got["rules[1].bands"] == "missing: rule 'acme_bands' needs bands"
    assert got["decay.over"].startswith("duration 'soon' is not understood")


def test_writing_refuses_what_could_not_be_read_back(plugin_registry: Registry) -> None:
    @pk.model.attrs.frozen
    class Halving:
        days: float

        def apply(self, value: float, age: Any) -> float:
            return value / 2

    model = base_model(decay=Halving(3.0))
    with pytest.raises(ModelFileError, match=r"decay: Halving is not a registered decay; "
                       r"register it under the 'pqlkit\.decays' entry-point group"):
        model.to_dict()
    mod = importlib.import_module("acme_plugin")
    untyped = mod.Untyped("u")
    with pytest.raises(ModelFileError, match=r"rules\[1\]: Untyped is not an attrs class"):
        mf.to_dict(base_model(rules=[pk.Rule("a", pk.exists("x"), points=1), untyped]),
                   plugins=plugin_registry)
    with pytest.raises(ModelFileError, match=r"rules\[0\]\.when: .*unknown signal 'SeatShare'"):
        base_model(rules=[pk.Rule("a", mod.SeatShare() >= 1, points=1)]).to_dict()


def base_model(**extra: Any) -> pk.ScoringModel:
    kw: dict[str, Any] = {"name": "m", "threshold": 1,
                          "rules": [pk.Rule("a", pk.exists("x"), points=1)]}
    kw.update(extra)
    return pk.ScoringModel(**kw)


# -- fuzz: random data never raises anything but the library's own error -----------------------

_JSONISH = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12),
              st.sampled_from(["count('x') >= 1", "HalfLife", "InactivityDecay", "Rule", "7d",
                               "trial", "account", "max", "active"])),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.sampled_from([
                                "name", "threshold", "rules", "when", "points", "points_per",
                                "type", "decay", "rollup", "tiers", "level", "every",
                                "half_life", "min_share", "group_caps", "group", "floor",
                            ]) | st.text(max_size=5), inner, max_size=5)),
    max_leaves=15,
)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(_JSONISH)
def test_random_data_gives_problems_never_a_crash(data: Any) -> None:
    problems = pk.validate_model(data) if isinstance(data, dict) else mf._check(data, None)[1]
    try:
        model = mf.from_dict(data)
    except ModelFileError as exc:
        assert exc.problems == problems and problems
    else:
        assert problems == [] and isinstance(model, pk.ScoringModel)



def test_format_and_writing_failures_carry_a_problem_too(tmp_path: Path) -> None:
    [problem] = pk.validate_model(tmp_path / "model.txt")
    assert problem.path == "" and "cannot tell the format" in problem.message
    with pytest.raises(ModelFileError) as info:
        mf.dumps({"name": "m", "floor": None}, "toml")
    assert info.value.problems == [ModelProblem(
        "floor", "TOML has no null value; save as JSON or YAML, or leave the field at its "
                 "default")]
    assert str(info.value).startswith("floor: TOML has no null value")


def test_a_self_referencing_yaml_alias_does_not_hang(tmp_path: Path) -> None:
    pytest.importorskip("yaml")
    path = tmp_path / "m.yaml"
    path.write_text("name: m\nthreshold: 1\nrules: []\nx: &a [*a]\n", encoding="utf-8")
    problems = pk.validate_model(path)
    assert problems and all("appears twice" not in p.message for p in problems)


@pytest.mark.parametrize(("where", "key", "none"), [
    ("model", "decay", None), ("model", "tiers", False), ("model", "group_caps", None),
    ("model", "disqualify", False), ("rule", "group", None), ("rule", "max_points", False),
    ("rule", "decay", None), ("rollup", "active_within", None)])
def test_none_is_false_or_null_for_every_optional_key(where, key, none):
    # The docs say so; only floor, ceiling and min_share accepted it.
    import jsonschema

    from pqlkit.modelfile import json_schema

    rule = {"name": "r", "when": "count('x')", "points_per": 1}
    data: dict = {"name": "m", "threshold": 1, "rules": [rule], "rollup": {}}
    {"model": data, "rule": rule, "rollup": data["rollup"]}[where][key] = none
    assert pk.validate_model(data) == []
    assert jsonschema.Draft202012Validator(json_schema()).is_valid(data)
    model = pk.ScoringModel.from_dict(data)
    assert model == pk.ScoringModel.from_dict(
        {"name": "m", "threshold": 1, "rollup": {},
         "rules": [{"name": "r", "when": "count('x')", "points_per": 1}]})


def test_whole_numbers_written_as_floats_and_units_in_capitals_read_as_the_schema_says():
    import jsonschema

    from pqlkit.modelfile import json_schema

    validator = jsonschema.Draft202012Validator(json_schema())
    data = {"name": "m", "threshold": 1, "decay": {"type": "HalfLife", "half_life": "2W"},
            "rollup": {"k": 2.0, "min_pql": 1.0, "score": "top_k_mean"},
            "rules": [{"name": "r", "when": "count('x', within='7D') >= 1", "points": 1}]}
    assert validator.is_valid(data) and pk.validate_model(data) == []
    assert pk.ScoringModel.from_dict(data).rollup.k == 2
    with pytest.raises(pk.ValidationError):
        pk.count("x", within="\uff17d")  # a full-width digit is not a number of days


def test_max_points_none_beside_points_passes_the_schema_as_the_reader():
    import jsonschema

    from pqlkit.modelfile import json_schema

    for none in (False, None):
        data = {"name": "m", "threshold": 5, "rules": [
            {"name": "r", "when": "count('a') >= 1", "points": 10, "max_points": none}]}
        assert pk.validate_model(data) == []
        assert jsonschema.Draft202012Validator(json_schema()).is_valid(data)


def test_load_model_and_templates_refuse_wrong_arguments_with_pqlkit_errors():
    # A bare TypeError from pathlib / the template factory before.
    from pqlkit import templates
    from pqlkit.errors import PqlkitTypeError

    with pytest.raises(PqlkitTypeError, match=r"ScoringModel\.from_dict"):
        pk.load_model({"name": "m", "threshold": 1})  # type: ignore[arg-type]
    with pytest.raises(PqlkitTypeError, match="path of a model file, got int"):
        pk.load_model(5)  # type: ignore[arg-type]
    with pytest.raises(PqlkitTypeError, match="template 'trial' has no option 'nope'; its "
                                              "options are threshold, competitors"):
        templates.get("trial", nope=1)
    assert templates.get("trial", threshold=50).threshold == 50


@pytest.mark.parametrize("suffix", [".toml", ".json", ".yaml"])
def test_numpy_numbers_in_a_model_save_as_plain_numbers(tmp_path: Path, suffix: str) -> None:
    # A threshold from df.score.quantile(0.9) is an np.float64: TOML got the text
    # "np.float64(60.0)" (written without complaint, unreadable) and YAML raised PyYAML's
    # RepresenterError.
    np = pytest.importorskip("numpy")
    if suffix == ".yaml":
        pytest.importorskip("yaml")
    model = pk.ScoringModel(
        name=np.str_("m"), threshold=np.float64(60.0), floor=np.int64(0),
        tiers={"A": np.float64(80.0)},
        rules=[pk.Rule("x", pk.count("a") >= np.float64(2.5), points=np.float64(40.0)),
               pk.Rule("y", pk.count("b"), points_per=np.int64(2), max_points=np.int64(10))],
        decay=pk.InactivityDecay(points=np.float64(5), every="7d"),
        rollup=pk.Rollup(min_share=np.float64(0.3), min_pql=np.int64(2)))
    assert "np." not in repr(model)
    path = model.save(tmp_path / f"m{suffix}")
    assert "np." not in path.read_text(encoding="utf-8")
    assert pk.load_model(path) == model


@pytest.mark.parametrize("suffix", [".toml", ".json", ".yaml"])
def test_enum_and_numpy_str_settings_save_as_plain_text(tmp_path: Path, suffix: str) -> None:
    # Rollup(score=, denominator=) and ScoringModel(level=) kept a str enum member or an
    # np.str_ as given: repr printed '<Setting.SUM: 'sum'>' (not code), the saved file did
    # not load back equal, and YAML raised PyYAML's RepresenterError.
    import enum

    np = pytest.importorskip("numpy")
    if suffix == ".yaml":
        pytest.importorskip("yaml")

    class Setting(enum.StrEnum):
        SUM = "sum"
        ACCOUNT = "account"

    model = pk.ScoringModel(
        name="m", threshold=1, level=Setting.ACCOUNT,
        rules=[pk.Rule("r", pk.exists("x"), points=1)],
        rollup=pk.Rollup(score=Setting.SUM, denominator=np.str_("active"),
                         active_within="30d"))
    assert type(model.level) is str
    assert type(model.rollup.score) is str and type(model.rollup.denominator) is str
    assert "Setting" not in repr(model) and "np." not in repr(model)
    assert eval(repr(model.rollup), vars(pk)) == model.rollup
    assert pk.load_model(model.save(tmp_path / f"m{suffix}")) == model


def test_saving_to_a_path_that_is_not_one_is_a_pqlkit_type_error() -> None:
    # Was pathlib's "argument should be a str or an os.PathLike object ..., not 'int'".
    with pytest.raises(pk.errors.PqlkitTypeError,
                       match=r"saving a model takes the path of the model file to write "
                             r"\(a str or a pathlib\.Path\), got 5 \(int\)"):
        templates.trial_scoring().save(5)  # type: ignore[arg-type]


def test_saving_into_a_missing_folder_names_the_path_and_the_reason(tmp_path: Path) -> None:
    # Was a raw FileNotFoundError; reading a missing file already gave a ModelFileError.
    path = tmp_path / "missing" / "m.toml"
    with pytest.raises(ModelFileError, match=r"^model file '.*m\.toml': cannot write the file: "
                                             r"No such file or directory$") as info:
        templates.trial_scoring().save(path)
    assert info.value.source == path
    assert [p.message for p in info.value.problems] == [
        "cannot write the file: No such file or directory"]


@pytest.mark.parametrize(("model", "hint"), [
    (5, ""), ("trial", r"; for the template of that name, pass pk\.templates\.get\('trial'\)"),
    (["rules"], "")])
def test_dumps_of_something_not_a_model_is_a_pqlkit_type_error(model: Any, hint: str) -> None:
    # Were "'int' object is not iterable" and "dictionary update sequence element #0 ...".
    with pytest.raises(pk.errors.PqlkitTypeError,
                       match=r"^dumps\(\) takes a ScoringModel or a model table \(a dict\), "
                             rf"got .* \(\w+\){hint}$"):
        mf.dumps(model)


def test_loads_takes_utf8_bytes_and_refuses_other_types() -> None:
    # bytes were tomllib's TypeError; an int was an AttributeError from tomllib.
    assert mf.loads(b'name = "caf\xc3\xa9"', "toml") == {"name": "café"}
    assert mf.loads(bytearray(b'{"a": 1}'), "json") == {"a": 1}
    with pytest.raises(ModelFileError, match=r"the text is not UTF-8 \(invalid start byte at "
                                             r"byte 0\)"):
        mf.loads(b"\xff", "toml")
    with pytest.raises(pk.errors.PqlkitTypeError,
                       match=r"^loads\(\) takes the text of a model file \(a str, or bytes of "
                             r"UTF-8\), got 5 \(int\); for a file, use pk\.load_model\(path\)$"):
        mf.loads(5, "toml")  # type: ignore[arg-type]


def test_templates_get_of_a_name_that_is_not_a_string_is_a_pqlkit_type_error() -> None:
    # Was "unhashable type: 'list'".
    with pytest.raises(pk.errors.PqlkitTypeError,
                       match=r"^templates\.get\(\) takes one template name \(a string\), got "
                             r"\['trial'\] \(list\); templates are trial, "):
        templates.get(["trial"])  # type: ignore[arg-type]


def test_hostile_model_files_are_model_file_errors_not_python_ones(tmp_path: Path) -> None:
    # Found by fuzzing: each raised a raw ValueError / RecursionError / UnicodeEncodeError,
    # or ran for minutes expanding a YAML alias bomb into an error message.
    pytest.importorskip("yaml")
    cases = {
        "long.toml": 'name = "m"\nthreshold = ' + "9" * 5000 + "\nrules = []\n",
        "long.json": '{"name": "m", "threshold": ' + "9" * 5000 + ', "rules": []}',
        "long.yaml": "name: m\nthreshold: " + "9" * 5000 + "\nrules: []\n",
        "hex.toml": 'name = "m"\nthreshold = 0x' + "f" * 4000 + "\nrules = []\n",
        "deep.toml": 'name = "m"\nthreshold = 1\nrules = []\nx = ' + "[" * 1000 + "]" * 1000,
        "span.toml": ('name = "m"\nthreshold = 1\nrules = []\n[decay]\ntype = "HalfLife"\n'
                      f'half_life = "{"9" * 5000}d"\n'),
    }
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 9):
        lines.append(f"{chr(97 + i)}: &{chr(97 + i)} [" + ",".join([f"*{chr(96 + i)}"] * 9) + "]")
    cases["laughs.yaml"] = "\n".join(lines) + "\nname: m\nthreshold: *i\nrules: []\n"
    for name, text in cases.items():
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(ModelFileError):
            pk.load_model(path)
        assert pk.validate_model(path), name
    with pytest.raises(pk.errors.ExpressionError, match="too large"):
        pk.parse_expr("count('x') >= 0x" + "f" * 4000)
    with pytest.raises(pk.ValidationError, match="about 400 digits"):
        pk.count("x") >= 10**400  # noqa: B015


def test_text_yaml_or_utf8_cannot_hold_is_saved_faithfully_or_refused(tmp_path: Path) -> None:
    # PyYAML wrote U+0085 raw in a quoted name, which read back as a space; a lone
    # surrogate (from JSON's "\ud800") raised UnicodeEncodeError when saved as TOML.
    pytest.importorskip("yaml")
    model = pk.ScoringModel(name="a\x85b\u2028c", threshold=1,
                            rules=[pk.Rule("r", pk.trait("plan") == "x\x85y", points=1)])
    assert pk.load_model(model.save(tmp_path / "m.yaml")) == model
    odd = pk.ScoringModel(name="m\ud800", threshold=1, rules=[])
    with pytest.raises(ModelFileError, match="not valid Unicode"):
        odd.save(tmp_path / "m.toml")


def test_false_is_none_for_an_optional_argument_in_toml(tmp_path: Path) -> None:
    # "TOML has no null, so none is written false everywhere": grace = false was refused.
    path = tmp_path / "m.toml"
    path.write_text('name = "m"\nthreshold = 1\nrules = []\n[decay]\n'
                    'type = "InactivityDecay"\npoints = 5\nevery = "7d"\ngrace = false\n')
    assert pk.load_model(path).decay == pk.InactivityDecay(points=5, every="7d")


def test_cross_field_problems_are_reported_with_the_others_and_their_paths() -> None:
    # They came one per run, after every field problem was fixed, with the path "".
    data = {"name": "m", "threshold": 50, "ceiling": 10, "tiers": {"hot": 40, "warm": 40},
            "rules": [{"name": "r", "when": "exists('x')", "points": "one"}]}
    paths = [p.path for p in pk.validate_model(data)]
    assert paths == ["rules[0].points", "tiers.warm", "threshold", "tiers.hot", "tiers.warm"]
