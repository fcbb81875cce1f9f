"""Model files: a :class:`~pqlkit.ScoringModel` as TOML, JSON or YAML, checked before it runs.

A model file is the model's fields as a table; conditions are text in the Python API's own
syntax (read by :mod:`pqlkit.lang`, never ``eval``-ed); decays and custom rules are tables
with a ``type`` naming a registered plugin (:mod:`pqlkit.plugins`) plus keyword arguments.
Reading collects every problem in the file, each with its path (``rules[2].points``), before
refusing it; writing checks that the file reads back as the same model.

>>> from pqlkit import templates
>>> model = templates.intent_to_pay()
>>> print(dumps(model, "toml"))
name = "intent-to-pay"
threshold = 1
<BLANKLINE>
[[rules]]
name = "intent_to_pay"
when = "exists('usage_limit_hit') | (count('pricing_page_viewed') >= 2) | exists('seat_cap_invite_blocked')"
points = 1
<BLANKLINE>
>>> from_dict(model.to_dict()) == model
True
"""

from __future__ import annotations

import difflib
import inspect
import json
import math
import os
import re
import reprlib
import types
import typing
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

import attrs

from pqlkit._time import Duration, as_duration
from pqlkit.errors import ExpressionError, ModelFileError, PluginError, PqlkitError, PqlkitTypeError
from pqlkit.expr import Expr, _value_equals, about_digits, compared, init_arguments
from pqlkit.lang import parse_decay, parse_expr
from pqlkit.model import (
    LEVELS,
    RESERVED_COLUMNS,
    ROLLUP_DENOMINATORS,
    ROLLUP_SCORES,
    Decay,
    Rollup,
    Rule,
    ScoringModel,
    _is_number,
    _whole,
    bar_problems,
)
from pqlkit.plugins import Registry, registry

__all__ = [
    "FORMATS", "ModelProblem", "dumps", "from_dict", "json_schema", "load_model", "loads",
    "save_model", "to_dict", "validate_model",
]

#: File suffixes and the format each means.
FORMATS: Final = {".toml": "toml", ".json": "json", ".yaml": "yaml", ".yml": "yaml"}

MODEL_KEYS: Final = ("$schema", "name", "level", "threshold", "floor", "ceiling", "tiers",
                     "group_caps", "disqualify", "decay", "rollup", "rules")
RULE_KEYS: Final = ("type", "name", "when", "points", "points_per", "max_points", "group",
                    "decay")
ROLLUP_KEYS: Final = tuple(Rollup._defaults)


@attrs.frozen
class ModelProblem:
    """One problem in a model file: where it is (``rules[2].points``) and what is wrong.

    ``path`` is ``""`` for the file as a whole. ``line`` and ``column`` (1-based) point into
    the expression text for a problem in an expression, and into the file for a file that
    cannot be parsed at all.
    """

    path: str
    message: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


_BAD: Final = object()  # a value that was refused (its problem is already recorded)
_MISSING: Final = object()
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def _has_bad(values: list[Any]) -> bool:
    # Not `_BAD in values`: == on an expression builds a condition.
    return any(v is _BAD for v in values)


def _join(path: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    if isinstance(key, str) and _IDENT.match(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key, ensure_ascii=False) if isinstance(key, str) else key!r}]"


def _got(value: Any) -> str:
    # A bounded repr: a YAML alias bomb expands to billions of items, and an int of more
    # than 4300 digits cannot be printed at all.
    text = _SHORT.repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


class _ShortRepr(reprlib.Repr):
    def repr_int(self, x: int, level: int) -> str:
        if x.bit_length() > 200:
            return f"<{about_digits(x)}>"
        return repr(x)


_SHORT: Final = _ShortRepr()
_SHORT.maxstring = _SHORT.maxother = 60


def _unset(table: Mapping[Any, Any], keys: tuple[str, ...]) -> Mapping[Any, Any]:
    """The table without the optional ``keys`` written as "none": ``false`` (TOML has no
    null) or ``null``, which then mean what leaving them out means."""
    unset = [k for k in keys if k in table and (table[k] is None or table[k] is False)]
    if not unset:
        return table
    return {k: v for k, v in table.items() if k not in unset}


def _error(problems: list[ModelProblem], source: Any, *, writing: str | None = None
           ) -> ModelFileError:
    if writing is not None:
        where = f"cannot write model {writing!r} to a model file"
    else:
        where = f"model file {str(source)!r}" if source is not None else "model"
    if len(problems) == 1:
        message = f"{where}: {problems[0]}"
    else:
        listing = "\n".join(f"  {p}" for p in problems)
        message = f"{where} has {len(problems)} problems:\n{listing}"
    return ModelFileError(message, problems=list(problems), source=source)


def _one(message: str, *, path: str = "", source: Any = None) -> ModelFileError:
    """An error with a single problem, for failures outside the model's fields."""
    return ModelFileError(f"{path}: {message}" if path else message,
                          problems=[ModelProblem(path, message)], source=source)


# -- reading: dict -> model, every problem collected -------------------------------------------

class _Reader:
    def __init__(self, plugins: Registry) -> None:
        self.reg = plugins
        self.problems: list[ModelProblem] = []

    def add(self, path: str, message: str, line: int | None = None,
            column: int | None = None) -> Any:
        self.problems.append(ModelProblem(path, message, line, column))
        return _BAD

    # -- scalars ---------------------------------------------------------------------------

    def keys(self, table: Mapping[Any, Any], allowed: tuple[str, ...], path: str,
             what: str) -> None:
        for key in table:
            if key in allowed:
                continue
            if not isinstance(key, str):
                self.add(path, f"{what} has a key {_got(key)}; keys are names (strings)")
                continue
            close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            self.add(_join(path, key), f"unknown key {key!r} in {what}{hint} "
                     f"(keys: {', '.join(k for k in allowed if k != '$schema')})")

    def number(self, value: Any, path: str, *, low: float | None = None,
               high: float | None = None, positive: bool = False) -> Any:
        if not _is_number(value):
            hint = ""
            if isinstance(value, str):
                try:
                    float(value)
                    hint = "; write numbers without quotes"
                except ValueError:
                    pass
            return self.add(path, f"must be a finite number, got {_got(value)}{hint}")
        if positive and value <= 0:
            return self.add(path, f"must be positive, got {value!r}")
        if (low is not None and value < low) or (high is not None and value > high):
            return self.add(path, f"must be between {low} and {high}, got {value!r}")
        return value

    def optional_number(self, value: Any, path: str, **bounds: Any) -> Any:
        # TOML has no null, so false means "none" in every format; null works too.
        if value is None or value is False:
            return None
        return self.number(value, path, **bounds)

    def whole(self, value: Any, path: str, *, low: int) -> Any:
        value = _whole(value)
        if isinstance(value, bool) or not isinstance(value, int):
            return self.add(path, f"must be a whole number, got {_got(value)}")
        if value < low:
            return self.add(path, f"must be at least {low}, got {value!r}")
        return value

    def text(self, value: Any, path: str) -> Any:
        if not isinstance(value, str) or not value.strip():
            return self.add(path, f"must be a non-empty string, got {_got(value)}")
        return value

    def choice(self, value: Any, path: str, options: tuple[str, ...]) -> Any:
        if value not in options or not isinstance(value, str):
            close = (difflib.get_close_matches(value, options, n=1)
                     if isinstance(value, str) else [])
            hint = f"; did you mean {close[0]!r}?" if close else ""
            return self.add(path, f"must be one of {', '.join(map(repr, options))}, got "
                            f"{_got(value)}{hint}")
        return value

    def duration(self, value: Any, path: str, *, fixed: bool) -> Any:
        if not isinstance(value, str):
            return self.add(path, f"must be a duration such as '14d', got {_got(value)}")
        try:
            d = as_duration(value, what="duration")
            if fixed:
                d.fixed_micros(what="this duration")
        except PqlkitError as exc:
            return self.add(path, str(exc))
        return value

    def number_map(self, value: Any, path: str, what: str) -> Any:
        if not isinstance(value, Mapping):
            return self.add(path, f"must be a table of {what}, got {_got(value)}")
        out: dict[str, Any] = {}
        for key, bar in value.items():
            if not isinstance(key, str) or not key:
                self.add(path, f"names must be non-empty strings, got {_got(key)}")
                continue
            out[key] = self.number(bar, _join(path, key))
        return _BAD if any(v is _BAD for v in out.values()) else out

    # -- expressions -----------------------------------------------------------------------

    def expr(self, value: Any, path: str) -> Any:
        if not isinstance(value, str):
            return self.add(path, f"must be an expression written as text, such as "
                            f"\"count('x') >= 1\", got {_got(value)}")
        try:
            return parse_expr(value, path=path, plugins=self.reg)
        except ExpressionError as exc:
            where = ""
            if exc.line is not None:
                where = (f"column {exc.column}: " if "\n" not in value.strip()
                         else f"line {exc.line}, column {exc.column}: ")
            return self.add(path, f"{where}{exc.reason}", exc.line, exc.column)

    def condition(self, value: Any, path: str, level: Any) -> Any:
        cond = self.expr(value, path)
        if cond is _BAD:
            return cond
        if cond.kind in ("number", "time", "text"):
            return self.add(path, f"{cond!r} is a {cond.kind}, not a condition; compare it, "
                            f"e.g. {compared(cond)}")
        return self.scoped(cond, path, level)

    def scoped(self, expr: Expr, path: str, level: Any) -> Any:
        try:
            scope = expr.scope
        except PqlkitError as exc:
            return self.add(path, str(exc))
        if scope == "event":
            return self.add(path, f"{expr!r} tests event properties directly; use them "
                            "inside where= of a signal, e.g. count('x', where=prop('plan') "
                            "== 'pro') >= 1")
        if level == "user":
            for node in expr.walk():
                if getattr(node, "account_only", False):
                    return self.add(path, f"{node!r} counts users of an account, so it needs "
                                    "level = 'account'")
        return expr

    # -- decays, rules, roll-up ------------------------------------------------------------

    def decay(self, value: Any, path: str) -> Any:
        if isinstance(value, str):
            try:
                return parse_decay(value, path=path, plugins=self.reg)
            except ExpressionError as exc:
                return self.add(path, exc.reason, exc.line, exc.column)
        if not isinstance(value, Mapping):
            return self.add(path, "must be a decay table such as {type = \"HalfLife\", "
                            "half_life = \"14d\"} or text such as \"HalfLife('14d')\", got "
                            f"{_got(value)}")
        kind = value.get("type", _MISSING)
        if kind is _MISSING:
            return self.add(path, "a decay table needs a type, e.g. type = \"HalfLife\" "
                            f"(installed decays: {self.reg.describe('decay')})")
        if not isinstance(kind, str):
            return self.add(_join(path, "type"), f"must be a decay name, got {_got(kind)}")
        try:
            cls = self.reg.get("decay", kind)
        except PluginError as exc:
            return self.add(_join(path, "type"), str(exc))
        obj = self.construct(cls, value, path, f"decay {kind!r}")
        if obj is not _BAD and not callable(getattr(obj, "apply", None)):
            return self.add(path, f"decay {kind!r} built {_got(obj)}, which has no "
                            "apply(value, age) method")
        return obj

    def construct(self, cls: Callable[..., Any], table: Mapping[Any, Any], path: str,
                  what: str) -> Any:
        """Call a plugin class with a table's keyword arguments, decoded by its annotations."""
        params = _parameters(cls)
        self.keys(table, ("type", *params), path, what)
        kwargs: dict[str, Any] = {}
        for key, value in table.items():
            if key == "type" or key not in params:
                continue
            kwargs[key] = self.typed(value, params[key].hint, _join(path, key), key)
            if kwargs[key] is not _BAD:
                kwargs[key] = self.field_checks(params[key], kwargs[key], _join(path, key))
        missing = [name for name, p in params.items() if p.required and name not in table]
        for name in missing:
            self.add(_join(path, name), f"missing: {what} needs {name}")
        if missing or any(v is _BAD for v in kwargs.values()) or len(table) - (
                "type" in table) != len(kwargs):
            return _BAD
        try:
            return cls(**kwargs)
        except Exception as exc:  # a plugin refuses its arguments in its own way
            return self.add(path, f"{what}: {exc}")

    def field_checks(self, param: _Param, value: Any, path: str) -> Any:
        """Run an attrs field's own converter and validator, to place a refusal on the field.

        Validators that need the rest of the object (they read ``self``) cannot run alone;
        the constructor runs them, and their refusal is placed on the object.
        """
        field = param.field
        if field is None:
            return value
        converted = value
        try:
            if field.converter is not None and callable(field.converter):
                converted = field.converter(value)
            if field.validator is not None:
                field.validator(None, field, converted)
        except AttributeError:
            pass
        except (PqlkitError, ValueError, TypeError) as exc:
            return self.add(path, str(exc))
        return value

    def typed(self, value: Any, hint: Any, path: str, name: str) -> Any:
        """Decode a table value by the annotation of the argument it is for."""
        origin = typing.get_origin(hint)
        args = typing.get_args(hint)
        if origin in (typing.Union, types.UnionType):
            if value is None and type(None) in args:
                return None
            if value is False and type(None) in args and bool not in args:
                return None  # (TOML has no null: false is "none" everywhere)
            arms = [a for a in args if a is not type(None)]
            return self.typed(value, arms[0], path, name) if len(arms) == 1 else value
        if origin is tuple and isinstance(value, list):
            if len(args) == 2 and args[1] is Ellipsis:
                items = [self.typed(v, args[0], _join(path, i), name)
                         for i, v in enumerate(value)]
            elif args and len(args) != len(value):
                return self.add(path, f"must hold {len(args)} items, got {len(value)}")
            else:
                items = [self.typed(v, args[i] if args else Any, _join(path, i), name)
                         for i, v in enumerate(value)]
            return _BAD if _has_bad(items) else tuple(items)
        if origin in (list, typing.Sequence) and isinstance(value, list):
            items = [self.typed(v, args[0] if args else Any, _join(path, i), name)
                     for i, v in enumerate(value)]
            return _BAD if _has_bad(items) else items
        if isinstance(hint, type):
            if issubclass(hint, Expr):
                return self.expr(value, path)
            if hint is Decay:
                return self.decay(value, path)
            if issubclass(hint, bool):
                return value if isinstance(value, bool) else self.add(
                    path, f"must be true or false, got {_got(value)}")
            if hint is int:
                return self.whole(value, path, low=-(2**63))
            if hint is float:
                return self.number(value, path)
            if hint is str:
                return value if isinstance(value, str) else self.add(
                    path, f"must be a string, got {_got(value)}")
            if issubclass(hint, (Duration, timedelta)):
                if self.duration(value, path, fixed=hint is timedelta) is _BAD:
                    return _BAD
                d = as_duration(value)
                return timedelta(microseconds=d.micros) if hint is timedelta else d
        if name == "decay" and (isinstance(value, (str, Mapping))):
            return self.decay(value, path)
        return value

    def rule(self, value: Any, path: str, level: Any) -> Any:
        if not isinstance(value, Mapping):
            return self.add(path, f"must be a rule table (name, when, points …), got "
                            f"{_got(value)}")
        kind = value.get("type", "Rule")
        if kind != "Rule":
            if not isinstance(kind, str):
                return self.add(_join(path, "type"), f"must be a rule name, got {_got(kind)}")
            try:
                cls = self.reg.get("rule", kind)
            except PluginError as exc:
                return self.add(_join(path, "type"), str(exc))
            if cls is not Rule:
                obj = self.construct(cls, value, path, f"rule {kind!r}")
                if obj is not _BAD and not (isinstance(getattr(obj, "name", None), str)
                                            and callable(getattr(obj, "points_for", None))):
                    return self.add(path, f"rule {kind!r} built {_got(obj)}, which has no "
                                    "name and points_for(ctx)")
                return obj
        return self.builtin_rule(value, path, level)

    def builtin_rule(self, table: Mapping[Any, Any], path: str, level: Any) -> Any:
        self.keys(table, RULE_KEYS, path, "a rule")
        table = _unset(table, ("max_points", "group", "decay"))

        def p(key: str) -> str:
            return _join(path, key)

        bad = False
        name = table.get("name", _MISSING)
        if name is _MISSING:
            bad = self.add(p("name"), "missing: every rule needs a name") is _BAD
        elif self.text(name, p("name")) is _BAD:
            bad = True
        elif name in RESERVED_COLUMNS:
            bad = self.add(p("name"), f"{name!r} is a result column name; choose another "
                           f"(reserved: {', '.join(sorted(RESERVED_COLUMNS))})") is _BAD
        when: Any = _BAD
        if "when" not in table:
            self.add(p("when"), "missing: a rule needs when = \"<condition>\" (or a numeric "
                     "signal with points_per)")
        else:
            when = self.expr(table["when"], p("when"))
        kw: dict[str, Any] = {}
        for key in ("points", "points_per"):
            if key in table:
                kw[key] = self.number(table[key], p(key))
        if "max_points" in table:
            kw["max_points"] = self.number(table["max_points"], p("max_points"), positive=True)
        if "group" in table:
            kw["group"] = self.text(table["group"], p("group"))
        if "decay" in table:
            kw["decay"] = self.decay(table["decay"], p("decay"))
        if ("points" in table) == ("points_per" in table):
            self.add(path, "give exactly one of points (for a condition) or points_per "
                     "(per unit of a numeric signal)")
            bad = True
        elif "max_points" in table and "points" in table:
            self.add(p("max_points"), "max_points goes with points_per, not points")
            bad = True
        if when is not _BAD:
            if "points" in table and when.kind in ("number", "time", "text"):
                per_unit = (" or use points_per to score per unit"
                            if when.kind == "number" else "")
                when = self.add(p("when"), f"{when!r} is a {when.kind}, not a condition; "
                                f"compare it (e.g. {compared(when)}){per_unit}")
            elif "points_per" in table and when.kind in ("time", "text"):
                when = self.add(p("when"), f"points_per needs a numeric signal; {when!r} "
                                f"is a {when.kind}")
            else:
                when = self.scoped(when, p("when"), level)
        if bad or when is _BAD or any(v is _BAD for v in kw.values()):
            return _BAD
        try:
            return Rule(name, when, **kw)
        except PqlkitError as exc:
            return self.add(path, str(exc))

    def rollup(self, value: Any, path: str) -> Any:
        if not isinstance(value, Mapping):
            return self.add(path, f"must be a roll-up table (min_share, min_pql, score …), "
                            f"got {_got(value)}")
        self.keys(value, ROLLUP_KEYS, path, "the roll-up")
        value = _unset(value, ("active_within",))

        def p(key: str) -> str:
            return _join(path, key)

        checks: dict[str, Callable[[Any, str], Any]] = {
            "min_share": lambda v, at: self.optional_number(v, at, low=0, high=1),
            "min_pql": lambda v, at: self.whole(v, at, low=0),
            "score": lambda v, at: self.choice(v, at, ROLLUP_SCORES),
            "k": lambda v, at: self.whole(v, at, low=1),
            "denominator": lambda v, at: self.choice(v, at, ROLLUP_DENOMINATORS),
            "active_within": lambda v, at: self.duration(v, at, fixed=False),
        }
        kw = {key: checks[key](value[key], p(key)) for key in ROLLUP_KEYS if key in value}
        if any(v is _BAD for v in kw.values()):
            return _BAD
        if kw.get("denominator") == "active" and "active_within" not in kw:
            return self.add(p("active_within"), "denominator = 'active' needs active_within "
                            "(e.g. '30d') to say which users count as active")
        try:
            return Rollup(**kw)
        except PqlkitError as exc:
            return self.add(path, str(exc))

    # -- the model -------------------------------------------------------------------------

    def model(self, data: Any) -> ScoringModel | None:
        if not isinstance(data, Mapping):
            self.add("", f"a model file holds a table of the model's fields at the top, got "
                     f"{_got(data)}")
            return None
        self.keys(data, MODEL_KEYS, "", "the model")
        data = _unset(data, ("tiers", "group_caps", "disqualify", "decay"))
        kw: dict[str, Any] = {}
        for key, message in (("name", "every model needs a name"),
                             ("threshold", "every model needs a threshold (the PQL bar)"),
                             ("rules", "a model needs rules = [...] (may be empty)")):
            if key not in data:
                self.add(key, f"missing: {message}")
        if "$schema" in data and not isinstance(data["$schema"], str):
            self.add("$schema", f"must be the address of the schema, got {_got(data['$schema'])}")
        if "name" in data:
            kw["name"] = self.text(data["name"], "name")
        level = "user"
        if "level" in data:
            level = kw["level"] = self.choice(data["level"], "level", LEVELS)
        if "threshold" in data:
            kw["threshold"] = self.number(data["threshold"], "threshold")
        if "floor" in data:
            kw["floor"] = self.optional_number(data["floor"], "floor")
        if "ceiling" in data:
            kw["ceiling"] = self.optional_number(data["ceiling"], "ceiling")
        floor, ceiling = kw.get("floor", 0), kw.get("ceiling")
        if _is_number(floor) and _is_number(ceiling) and floor > ceiling:
            self.add("ceiling", f"is below floor ({floor}), got {ceiling!r}")
        if "tiers" in data:
            kw["tiers"] = self.number_map(data["tiers"], "tiers", "tier names and minimum scores")
            if isinstance(data["tiers"], Mapping) and "disqualified" in data["tiers"]:
                kw["tiers"] = self.add(_join("tiers", "disqualified"),
                                       "'disqualified' is the tier of disqualified entities; "
                                       "choose another name")
        if "group_caps" in data:
            kw["group_caps"] = self.number_map(data["group_caps"], "group_caps",
                                               "group names and caps")
        if "disqualify" in data:
            conds = data["disqualify"]
            if not isinstance(conds, list):
                kw["disqualify"] = self.add("disqualify", "must be a list of conditions, e.g. "
                                            "[\"trait('email').endswith('.edu')\"], got "
                                            f"{_got(conds)}")
            else:
                kw["disqualify"] = [self.condition(c, _join("disqualify", i), level)
                                    for i, c in enumerate(conds)]
        if "decay" in data:
            kw["decay"] = self.decay(data["decay"], "decay")
        if "rollup" in data:
            kw["rollup"] = self.rollup(data["rollup"], "rollup")
        if "rules" in data:
            kw["rules"] = self.rules(data["rules"], level)
        self.cross_checks(data, kw)
        if self.problems or level is _BAD:
            return None
        try:
            return ScoringModel(**kw)
        except PqlkitError as exc:
            self.add("", str(exc))
            return None

    def rules(self, rules: Any, level: Any) -> Any:
        if not isinstance(rules, list):
            return self.add("rules", f"must be a list of rule tables, got {_got(rules)}")
        return [self.rule(r, _join("rules", i), level) for i, r in enumerate(rules)]

    def cross_checks(self, data: Mapping[Any, Any], kw: dict[str, Any]) -> None:
        rules = data.get("rules") if isinstance(data.get("rules"), list) else []
        seen: dict[str, int] = {}
        groups: set[str] = set()
        for i, rule in enumerate(rules or []):
            if not isinstance(rule, Mapping):
                continue
            name = rule.get("name")
            if isinstance(name, str):
                if name in seen:
                    self.add(_join(_join("rules", i), "name"),
                             f"rules[{seen[name]}] is already named {name!r}; names must differ")
                seen.setdefault(name, i)
            if isinstance(rule.get("group"), str):
                groups.add(rule["group"])
        caps = kw.get("group_caps")
        if isinstance(caps, dict):
            for group in caps:
                if group not in groups:
                    self.add(_join("group_caps", group),
                             f"no rule is in group {group!r} (groups: "
                             f"{', '.join(sorted(groups)) or 'none'})")
        # The model's own bar checks, here with their paths and beside the other problems
        # (ScoringModel says only the first, once the rest are fixed).
        tiers = kw.get("tiers")
        for field, message in bar_problems(kw.get("threshold"), kw.get("ceiling"),
                                           tiers if isinstance(tiers, Mapping) else {}):
            self.add(_join(*field) if len(field) == 2 else field[0], message)
        for key in ("disqualify", "rules"):
            if isinstance(kw.get(key), list) and _has_bad(kw[key]):
                kw[key] = _BAD


class _Param:
    def __init__(self, hint: Any, required: bool, field: Any = None) -> None:
        self.hint = hint
        self.required = required
        self.field = field


def _parameters(cls: Callable[..., Any]) -> dict[str, _Param]:
    """The keyword arguments a plugin class takes, with their annotations where known."""
    hints: dict[str, Any] = {}
    try:
        hints = typing.get_type_hints(cls)
    except Exception:
        hints = {}
    if isinstance(cls, type) and attrs.has(cls):
        out = {}
        for f in attrs.fields(cls):
            if not f.init:
                continue
            alias = getattr(f, "alias", None) or f.name.lstrip("_")
            out[alias] = _Param(hints.get(f.name, Any), f.default is attrs.NOTHING, f)
        return out
    try:
        sig = inspect.signature(cls)
    except (TypeError, ValueError):
        return {}
    try:
        init_hints = typing.get_type_hints(
            getattr(cls, "__init__", cls) if isinstance(cls, type) else cls)
    except Exception:
        init_hints = {}
    return {
        name: _Param(init_hints.get(name, hints.get(name, Any)),
                     p.default is inspect.Parameter.empty)
        for name, p in sig.parameters.items()
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    }


def _check(data: Any, plugins: Registry | None) -> tuple[ScoringModel | None, list[ModelProblem]]:
    reader = _Reader(plugins if plugins is not None else registry())
    model = reader.model(data)
    return model, reader.problems


def from_dict(data: Mapping[str, Any], *, plugins: Registry | None = None,
              source: Any = None) -> ScoringModel:
    """Build a model from a model-file table (what :func:`to_dict` gives).

    Raises:
        ModelFileError: listing every problem, each with its path (``rules[2].points``).

    >>> from_dict({"name": "m", "threshold": 1,
    ...            "rules": [{"name": "r", "when": "exists('signup')", "points": 1}]})
    ScoringModel(
        name='m',
        rules=[
            Rule('r', exists('signup'), points=1),
        ],
        threshold=1,
    )
    """
    model, problems = _check(data, plugins)
    if model is None:
        raise _error(problems, source)
    return model


# -- writing: model -> dict ------------------------------------------------------------------

class _Writer:
    def __init__(self, plugins: Registry, model_name: str) -> None:
        self.reg = plugins
        self.model_name = model_name

    def fail(self, path: str, message: str) -> ModelFileError:
        return _error([ModelProblem(path, message)], None, writing=self.model_name)

    def plugin_name(self, kind: Any, obj: Any, path: str) -> str:
        name = self.reg.name_of(kind, type(obj))
        if name is None:
            conflict = self.reg.conflict_of(kind, type(obj))
            if conflict is not None:
                raise self.fail(path, conflict)
            group = {"rule": "pqlkit.rules", "decay": "pqlkit.decays"}[kind]
            raise self.fail(path, f"{type(obj).__name__} is not a registered {kind}; register "
                            f"it under the {group!r} entry-point group so model files can "
                            "name it")
        return name

    def value(self, value: Any, path: str) -> Any:
        if isinstance(value, Expr):
            return repr(value)
        if isinstance(value, Duration):
            return value.text
        if isinstance(value, timedelta):
            return as_duration(value).text
        if isinstance(value, (bool, int, float, str)) or value is None:
            return value
        if isinstance(value, (list, tuple)):
            return [self.value(v, _join(path, i)) for i, v in enumerate(value)]
        if isinstance(value, Mapping):
            return {str(k): self.value(v, _join(path, str(k))) for k, v in value.items()}
        if callable(getattr(value, "apply", None)):
            return self.decay(value, path)
        raise self.fail(path, f"{_got(value)} cannot be written to a model file")

    def fields(self, obj: Any, path: str) -> dict[str, Any]:
        if not attrs.has(type(obj)):
            raise self.fail(path, f"{type(obj).__name__} is not an attrs class, so its "
                            "arguments cannot be read back; make it one (@attrs.frozen)")
        return {alias: self.value(value, _join(path, alias))
                for alias, value in init_arguments(obj)}

    def plugin(self, kind: Any, obj: Any, path: str) -> dict[str, Any]:
        name = self.plugin_name(kind, obj, path)
        fields = self.fields(obj, path)
        if "type" in fields:
            raise self.fail(path, f"{type(obj).__name__} has an argument named 'type', which "
                            f"model files use for the {kind}'s registered name; rename it")
        return {"type": name, **fields}

    def decay(self, decay: Any, path: str) -> dict[str, Any]:
        return self.plugin("decay", decay, path)

    def rule(self, rule: Any, path: str) -> dict[str, Any]:
        if type(rule) is not Rule:
            return self.plugin("rule", rule, path)
        d: dict[str, Any] = {"name": rule.name, "when": repr(rule.when)}
        for key in ("points", "points_per", "max_points", "group"):
            if getattr(rule, key) is not None:
                d[key] = getattr(rule, key)
        if rule.decay is not None:
            d["decay"] = self.decay(rule.decay, _join(path, "decay"))
        return d

    def model(self, model: ScoringModel) -> dict[str, Any]:
        d: dict[str, Any] = {"name": model.name}
        if model.level != "user":
            d["level"] = model.level
        d["threshold"] = model.threshold
        if model.floor is None or not _value_equals(model.floor, 0):
            d["floor"] = False if model.floor is None else model.floor
        if model.ceiling is not None:
            d["ceiling"] = model.ceiling
        if model.tiers:
            d["tiers"] = dict(model.tiers)
        if model.group_caps:
            d["group_caps"] = dict(model.group_caps)
        if model.disqualify:
            d["disqualify"] = [repr(c) for c in model.disqualify]
        if model.decay is not None:
            d["decay"] = self.decay(model.decay, "decay")
        if model.rollup != Rollup():
            roll: dict[str, Any] = {}
            for key, default in Rollup._defaults.items():
                value = getattr(model.rollup, key)
                if key == "min_share" and value is None:
                    roll[key] = False
                elif not _value_equals(value, default) and value is not None:
                    roll[key] = value.text if isinstance(value, Duration) else value
            d["rollup"] = roll
        d["rules"] = [self.rule(r, _join("rules", i)) for i, r in enumerate(model.rules)]
        return d


def to_dict(model: ScoringModel, *, plugins: Registry | None = None) -> dict[str, Any]:
    """The model as a model-file table: plain strings, numbers, booleans, lists and tables.

    Fields at their defaults are left out. Conditions are their ``repr``; decays and custom
    rules are tables with the ``type`` they are registered under. The table is checked to
    read back as an equal model, so what is written can always be loaded.

    Raises:
        ModelFileError: a part of the model cannot be written (a custom signal, rule or decay
            that is not a registered plugin, or that does not read back as itself).

    >>> from pqlkit import templates
    >>> to_dict(templates.team_query_milestone())["rules"]
    [{'name': 'team_queries', 'when': "distinct_users('saved_query_run', within='7d') >= 3", 'points': 1}]
    """
    reg = plugins if plugins is not None else registry()
    writer = _Writer(reg, model.name)
    data = writer.model(model)
    back, problems = _check(data, reg)
    if back is None:
        raise _error(problems, None, writing=model.name)
    if back != model:
        raise _error([_difference(model, back)], None, writing=model.name)
    return data


def _difference(model: ScoringModel, back: ScoringModel) -> ModelProblem:
    for i, (a, b) in enumerate(zip(model.rules, back.rules, strict=False)):
        if a != b:
            return ModelProblem(f"rules[{i}]", f"{a!r} reads back as {b!r}; its repr is not "
                                "the code that builds it, or it does not compare by value")
    for i, (a, b) in enumerate(zip(model.disqualify, back.disqualify, strict=False)):
        if not a.equals(b):
            return ModelProblem(f"disqualify[{i}]", f"{a!r} reads back as {b!r}")
    for field in attrs.fields(ScoringModel):
        a, b = getattr(model, field.name), getattr(back, field.name)
        if not _value_equals(a, b) and a != b:
            return ModelProblem(field.name, f"{a!r} reads back as {b!r}")
    return ModelProblem("", "the model does not read back as itself")


# -- files -----------------------------------------------------------------------------------

def _format(path: str | os.PathLike[str] | None, format: str | None) -> str:
    if format is not None:
        if not isinstance(format, str):
            raise _one(f"format= is a name: 'toml', 'json' or 'yaml', got {format!r}",
                       source=path)
        fmt = format.lower().lstrip(".")
        fmt = {"yml": "yaml"}.get(fmt, fmt)
        if fmt not in ("toml", "json", "yaml"):
            raise _one(f"unknown model file format {format!r}; use 'toml', 'json' or 'yaml'",
                       source=path)
        return fmt
    suffix = Path(path).suffix.lower() if path is not None else ""
    if suffix not in FORMATS:
        raise _one(
            f"cannot tell the format of model file {str(path)!r} from its suffix "
            f"{suffix or '(none)'!r}; name it .toml, .json, .yaml or .yml, or pass format=",
            source=path)
    return FORMATS[suffix]


def loads(text: str | bytes, format: str, *, source: Any = None) -> Any:
    """Parse model-file text into plain data (no model is built yet).

    ``text`` is a str, or bytes of UTF-8 text (what a model file holds).

    Raises:
        ModelFileError: the text is not valid ``format`` (with the line and column), or
            repeats a key, or (bytes) is not UTF-8.
        PqlkitTypeError: ``text`` is neither a str nor bytes.
    """
    if isinstance(text, (bytes, bytearray, memoryview)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _error([ModelProblem("", f"the text is not UTF-8 ({exc.reason} at byte "
                                       f"{exc.start})")], source) from None
    elif not isinstance(text, str):
        raise PqlkitTypeError(
            f"loads() takes the text of a model file (a str, or bytes of UTF-8), got "
            f"{text!r} ({type(text).__name__}); for a file, use pk.load_model(path)")
    fmt = _format(None, format)
    problems: list[ModelProblem] = []
    data: Any = None
    if fmt == "toml":
        import tomllib

        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            m = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
            line, col = (int(m.group(1)), int(m.group(2))) if m else (None, None)
            if m is None and "(at end of document)" in str(exc):
                # A file cut short: the position is its end.
                lines = text.split("\n")
                line, col = len(lines), len(lines[-1]) + 1
            problems.append(ModelProblem("", f"not valid TOML: {exc}", line, col))
        except RecursionError:
            problems.append(ModelProblem("", "not valid TOML: nested too deeply"))
        except ValueError as exc:  # an integer of more digits than Python converts
            problems.append(ModelProblem("", f"cannot read the TOML: {exc}"))
    elif fmt == "json":
        duplicates: list[str] = []

        def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
            out: dict[str, Any] = {}
            for key, value in items:
                if key in out:
                    duplicates.append(key)
                out[key] = value
            return out

        try:
            data = json.loads(text, object_pairs_hook=pairs)
        except json.JSONDecodeError as exc:
            problems.append(ModelProblem("", f"not valid JSON: {exc}", exc.lineno, exc.colno))
        except RecursionError:
            problems.append(ModelProblem("", "not valid JSON: nested too deeply"))
        except ValueError as exc:  # an integer of more digits than Python converts
            problems.append(ModelProblem("", f"cannot read the JSON: {exc}"))
        problems += [ModelProblem("", f"the key {k!r} appears twice in one object; the file "
                                  "is ambiguous") for k in duplicates]
    else:
        data, problems = _load_yaml(text)
    if problems:
        raise _error(problems, source)
    return data


def _load_yaml(text: str) -> tuple[Any, list[ModelProblem]]:
    from pqlkit._optional import require

    yaml = require("yaml", "yaml", "YAML model files")
    try:
        # safe_load only. Keys written twice are found on the composed node tree first
        # (safe_load keeps the last one silently); neither step constructs Python objects
        # beyond plain YAML types.
        problems = _repeated_yaml_keys(yaml.compose(text, Loader=yaml.SafeLoader), yaml)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        col = mark.column + 1 if mark is not None else None
        return None, [ModelProblem("", f"not valid YAML: {exc}".replace("\n", " "), line, col)]
    except RecursionError:
        return None, [ModelProblem("", "not valid YAML: nested too deeply")]
    except ValueError as exc:  # an integer of more digits than Python converts
        return None, [ModelProblem("", f"cannot read the YAML: {exc}")]
    return data, problems


def _repeated_yaml_keys(root: Any, yaml: Any) -> list[ModelProblem]:
    """A problem for each mapping key written twice, anywhere under ``root``."""
    problems: list[ModelProblem] = []
    stack = [root] if root is not None else []
    visited: set[int] = set()   # aliases share nodes, and may even form cycles
    while stack:
        node = stack.pop()
        if id(node) in visited:
            continue
        visited.add(id(node))
        if isinstance(node, yaml.MappingNode):
            seen: set[tuple[str, str]] = set()
            for key_node, value_node in node.value:
                if isinstance(key_node, yaml.ScalarNode):
                    key = (key_node.tag, key_node.value)
                    if key in seen:
                        mark = key_node.start_mark
                        problems.append(ModelProblem(
                            "", f"the key {key_node.value!r} appears twice in one mapping "
                            f"(line {mark.line + 1}); the file is ambiguous", mark.line + 1,
                            mark.column + 1))
                    seen.add(key)
                stack.extend((key_node, value_node))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    problems.sort(key=lambda p: (p.line or 0, p.column or 0))
    return problems


def dumps(model: ScoringModel | Mapping[str, Any], format: str = "toml", *,
          plugins: Registry | None = None) -> str:
    """The model as model-file text in ``format`` (``toml``, ``json`` or ``yaml``).

    ``model`` is a :class:`~pqlkit.ScoringModel` or a model table (a dict, as
    :func:`to_dict` gives); anything else is a :class:`~pqlkit.errors.PqlkitTypeError`.
    """
    if not isinstance(model, (ScoringModel, Mapping)):
        from pqlkit.templates import TEMPLATES

        hint = (f"; for the template of that name, pass pk.templates.get({model!r})"
                if isinstance(model, str) and model in TEMPLATES else "")
        raise PqlkitTypeError(
            f"dumps() takes a ScoringModel or a model table (a dict), got {model!r} "
            f"({type(model).__name__}){hint}")
    fmt = _format(None, format)
    data = to_dict(model, plugins=plugins) if isinstance(model, ScoringModel) else dict(model)
    if fmt == "toml":
        return _toml(data)
    if fmt == "json":
        try:
            return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
        except ValueError as exc:
            raise _one(f"cannot write JSON: {exc}") from None
    from pqlkit._optional import require

    yaml = require("yaml", "yaml", "YAML model files")
    text = str(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100))
    if yaml.safe_load(text) != data:
        # PyYAML writes some line-break characters (U+0085, U+2028 ...) raw in quoted
        # scalars, where they read back as spaces: escaped, they read back as written.
        text = str(yaml.safe_dump(data, sort_keys=False, allow_unicode=False, width=100))
    return text


def _read(path: str | os.PathLike[str], format: str | None
          ) -> tuple[Any, list[ModelProblem]]:
    try:
        fmt = _format(path, format)
    except ModelFileError as exc:
        return None, [p for p in exc.problems if isinstance(p, ModelProblem)]
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except OSError as exc:
        return None, [ModelProblem("", f"cannot read the file: {exc.strerror or exc}")]
    except UnicodeDecodeError as exc:
        return None, [ModelProblem("", f"the file is not UTF-8 text ({exc.reason} at byte "
                                   f"{exc.start})")]
    try:
        return loads(text, fmt, source=path), []
    except ModelFileError as exc:
        return None, [p for p in exc.problems if isinstance(p, ModelProblem)]


def load_model(path: str | os.PathLike[str], *, format: str | None = None,
               plugins: Registry | None = None) -> ScoringModel:
    """Read a model file (``.toml``, ``.json``, ``.yaml``/``.yml``, or ``format=``).

    Raises:
        ModelFileError: the file cannot be read or parsed, or the model in it has problems;
            the message lists every problem with its path, and ``.problems`` holds them.

    >>> import pathlib, tempfile
    >>> from pqlkit import templates
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "trial.toml"
    >>> _ = templates.trial_scoring().save(path)
    >>> load_model(path) == templates.trial_scoring()
    True
    """
    if isinstance(path, Mapping):
        raise PqlkitTypeError("load_model() reads a file; for a model table (a dict) use "
                              "pk.ScoringModel.from_dict(table)")
    if not isinstance(path, (str, os.PathLike)):
        raise PqlkitTypeError(f"load_model() takes the path of a model file, got "
                              f"{type(path).__name__}")
    data, problems = _read(path, format)
    if problems:
        raise _error(problems, path)
    return from_dict(data, plugins=plugins, source=path)


def validate_model(source: str | os.PathLike[str] | Mapping[str, Any] | Any, *,
                   format: str | None = None,
                   plugins: Registry | None = None) -> list[ModelProblem]:
    """Every problem in a model file (or model table), each with its path; ``[]`` if none.

    >>> validate_model({"name": "m", "threshold": "60", "rules": [
    ...     {"name": "r", "when": "cuont('x') >= 1", "point": 5}]})  # doctest: +NORMALIZE_WHITESPACE
    [ModelProblem(path='threshold', message="must be a finite number, got '60' (str); write numbers without quotes", line=None, column=None),
     ModelProblem(path='rules[0].point', message="unknown key 'point' in a rule; did you mean 'points'? ...", line=None, column=None),
     ModelProblem(path='rules[0].when', message="column 1: unknown signal 'cuont'; did you mean 'count'? ...", line=1, column=1),
     ModelProblem(path='rules[0]', message='give exactly one of points (for a condition) or points_per (per unit of a numeric signal)', line=None, column=None)]
    """
    if isinstance(source, (str, os.PathLike)):
        data, problems = _read(source, format)
        if problems:
            return problems
    else:
        data = source
    return _check(data, plugins)[1]


def save_model(model: ScoringModel, path: str | os.PathLike[str], *,
               format: str | None = None, plugins: Registry | None = None) -> Path:
    """Write ``model`` to ``path`` in the format its suffix names (or ``format=``).

    Raises:
        ModelFileError: the format is unknown, the model cannot be written in it, or the
            file cannot be written (a missing folder, no permission), naming the path and
            the reason.
        PqlkitTypeError: ``path`` is not a str or an ``os.PathLike``.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise PqlkitTypeError(
            f"saving a model takes the path of the model file to write (a str or a "
            f"pathlib.Path), got {path!r} ({type(path).__name__})")
    fmt = _format(path, format)
    text = dumps(model, fmt, plugins=plugins)
    try:
        encoded = text.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate, say (from JSON's "\ud800")
        raise _error([ModelProblem("", f"the model holds text that is not valid Unicode "
                                       f"({exc.reason}: {text[exc.start:exc.end]!r}); "
                                       "it cannot be written as UTF-8")], path) from None
    out = Path(path)
    try:
        out.write_bytes(encoded)
    except OSError as exc:
        raise _error([ModelProblem("", f"cannot write the file: {exc.strerror or exc}")],
                     path) from None
    return out


# -- TOML writing (the standard library only reads TOML) ---------------------------------------

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+\Z")
_ESCAPES: Final = {"\\": "\\\\", '"': '\\"', "\b": "\\b", "\t": "\\t", "\n": "\\n",
                   "\f": "\\f", "\r": "\\r"}


def _toml_key(key: Any) -> str:
    if not isinstance(key, str):
        raise _one(f"TOML keys are strings, got {key!r}")
    return key if _BARE_KEY.match(key) else _toml_str(key)


def _toml_str(text: str) -> str:
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _toml_value(value: Any, path: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if not -(2**63) <= value < 2**63:
            raise _one(f"{value} is too large for TOML (64-bit integers); save as JSON or "
                       "YAML", path=path)
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _toml_str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v, _join(path, i)) for i, v in enumerate(value)) + "]"
    if isinstance(value, Mapping):
        items = ", ".join(f"{_toml_key(k)} = {_toml_value(v, _join(path, k))}"
                          for k, v in value.items())
        return "{ " + items + " }" if items else "{}"
    if value is None:
        raise _one("TOML has no null value; save as JSON or YAML, or leave the field at its "
                   "default", path=path)
    raise _one(f"cannot write {value!r} to TOML", path=path)


def _toml_entries(table: Mapping[str, Any], path: str) -> list[str]:
    lines = []
    for key, value in table.items():
        at = _join(path, key)
        if (isinstance(value, list) and value and all(isinstance(v, str) for v in value)
                and sum(len(v) for v in value) > 60):
            # A list of conditions reads best one to a line.
            lines.append(f"{_toml_key(key)} = [")
            lines += [f"    {_toml_str(v)}," for v in value]
            lines.append("]")
        else:
            lines.append(f"{_toml_key(key)} = {_toml_value(value, at)}")
    return lines


def _toml(data: Mapping[str, Any]) -> str:
    def is_tables(v: Any) -> bool:
        return isinstance(v, list) and bool(v) and all(isinstance(x, Mapping) for x in v)

    plain = {k: v for k, v in data.items() if not isinstance(v, Mapping) and not is_tables(v)}
    lines = _toml_entries(plain, "")
    for key, value in data.items():
        if isinstance(value, Mapping):
            lines += ["", f"[{_toml_key(key)}]", *_toml_entries(value, key)]
    for key, value in data.items():
        if is_tables(value):
            for i, table in enumerate(value):
                lines += ["", f"[[{_toml_key(key)}]]", *_toml_entries(table, _join(key, i))]
    return "\n".join(lines) + "\n"


# -- JSON Schema -----------------------------------------------------------------------------

def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of model files, for editors and CI checks.

    It checks the shape of a file (keys, types, durations, enums); the expression language
    and the plugins installed are checked by :func:`validate_model`.

    >>> json_schema()["required"]
    ['name', 'threshold', 'rules']
    """
    from pqlkit._modelschema import SCHEMA

    schema: dict[str, Any] = json.loads(json.dumps(SCHEMA))
    return schema
