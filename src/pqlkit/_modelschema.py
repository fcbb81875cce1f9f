"""The JSON Schema of model files, written by hand (see :func:`pqlkit.modelfile.json_schema`).

Tests keep it in step with the reader: every example model validates, typical mistakes are
refused, and its keys are the keys :mod:`pqlkit.modelfile` knows.
"""

from __future__ import annotations

from typing import Any, Final

from pqlkit.model import LEVELS, RESERVED_COLUMNS, ROLLUP_DENOMINATORS, ROLLUP_SCORES

# (Units in either case, as the library reads them.)
_DURATION_PATTERN: Final = (
    r"^\s*([0-9]+(\.[0-9]+)?\s*([yY]|[mM][oO]|[wW]|[dD]|[hH]|[mM][iI][nN]|[mM][sS]|[uU][sS]"
    r"|[sS])\s*)+$"
)

SCHEMA: Final[dict[str, Any]] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://pqlkit.readthedocs.io/en/latest/model-files/schema.json",
    "title": "pqlkit scoring model",
    "description": (
        "A pqlkit ScoringModel: rules, disqualifiers, decay, threshold, tiers and roll-up. "
        "Conditions are text in the Python API's syntax, e.g. "
        "\"count('pricing_page_viewed', within='30d') >= 1\"."
    ),
    "type": "object",
    "required": ["name", "threshold", "rules"],
    "additionalProperties": False,
    "properties": {
        "$schema": {"type": "string", "description": "The address of this schema (ignored)."},
        "name": {
            "type": "string", "minLength": 1, "pattern": r"\S",
            "description": "The model's name, shown in results and explanations.",
        },
        "level": {
            "enum": list(LEVELS), "default": "user",
            "description": "Score users (rolled up to accounts) or accounts directly.",
        },
        "threshold": {
            "type": "number",
            "description": "Qualified (PQL/PQA) when score >= threshold and not disqualified.",
        },
        "floor": {
            "anyOf": [{"type": "number"}, {"const": False}, {"type": "null"}], "default": 0,
            "description": "Clamp scores below this; false (or null) for no floor.",
        },
        "ceiling": {
            "anyOf": [{"type": "number"}, {"const": False}, {"type": "null"}],
            "description": "Clamp scores above this; false (or null) for no ceiling.",
        },
        "tiers": {
            "type": "object",
            "description": "Tier name to minimum score; the highest bar reached wins.",
            "propertyNames": {"minLength": 1, "not": {"const": "disqualified"}},
            "additionalProperties": {"type": "number"},
        },
        "group_caps": {
            "type": "object",
            "description": "Cap on the summed points of the rules in a group.",
            "propertyNames": {"minLength": 1},
            "additionalProperties": {"type": "number", "minimum": 0},
        },
        "disqualify": {
            "type": "array",
            "description": "Conditions that make an entity ineligible whatever its score.",
            "items": {"$ref": "#/$defs/expression"},
        },
        "decay": {
            "$ref": "#/$defs/decay",
            "description": "Decay of the summed points; age = time since the last event.",
        },
        "rollup": {"$ref": "#/$defs/rollup"},
        "rules": {
            "type": "array",
            "description": "The rules; their names must differ and become result columns.",
            "items": {"$ref": "#/$defs/rule"},
        },
    },
    "$defs": {
        "expression": {
            "type": "string", "minLength": 1, "pattern": r"\S",
            "description": (
                "A signal or condition in the Python API's syntax: comparisons, & | ~ "
                "(and/or/not), + - * /, signals such as count('x', within='14d'), "
                "trait('role'), methods .isin([...]), .endswith('...'), .is_missing()."
            ),
        },
        "duration": {
            "type": "string", "pattern": _DURATION_PATTERN,
            "description": "A duration such as '14d', '2w', '12h', '30min', '3mo' or '1y'.",
        },
        "number_or_none": {
            "anyOf": [{"type": "number"}, {"const": False}, {"type": "null"}],
        },
        "rule": {
            "type": "object",
            "if": {"required": ["type"], "properties": {"type": {"not": {"const": "Rule"}}}},
            "then": {"$ref": "#/$defs/custom_rule"},
            "else": {"$ref": "#/$defs/builtin_rule"},
        },
        "builtin_rule": {
            "type": "object",
            "description": "Points for a condition, or per unit of a numeric signal.",
            "required": ["name", "when"],
            "additionalProperties": False,
            "properties": {
                "type": {"const": "Rule"},
                "name": {
                    "type": "string", "minLength": 1, "pattern": r"\S",
                    "not": {"enum": sorted(RESERVED_COLUMNS)},
                    "description": "Unique within the model; the name of its result column.",
                },
                "when": {
                    "$ref": "#/$defs/expression",
                    "description": "A condition (with points) or a numeric signal (with "
                                   "points_per).",
                },
                "points": {"type": "number", "description": "Points when the condition holds."},
                "points_per": {"type": "number",
                               "description": "Points per unit of the numeric signal."},
                "max_points": {"type": "number", "exclusiveMinimum": 0,
                               "description": "Cap on points_per points, both ways."},
                "group": {"type": "string", "minLength": 1,
                          "description": "A family name, for group_caps and explanations."},
                "decay": {"$ref": "#/$defs/decay",
                          "description": "Decay of this rule's points; age = its latest "
                                         "matching event."},
            },
            "oneOf": [
                # (max_points written false or null, "none", may stand beside points.)
                {"required": ["points"], "not": {"anyOf": [
                    {"required": ["points_per"]},
                    {"required": ["max_points"], "properties": {"max_points": {
                        "type": "number"}}}]}},
                {"required": ["points_per"], "not": {"required": ["points"]}},
            ],
        },
        "custom_rule": {
            "type": "object",
            "description": ("A rule from a plugin registered under the 'pqlkit.rules' "
                            "entry-point group, with its keyword arguments."),
            "required": ["type"],
            "properties": {"type": {"type": "string", "minLength": 1}},
        },
        "decay": {
            "anyOf": [
                {"type": "string", "minLength": 1,
                 "description": "A decay written as a call, e.g. \"HalfLife('14d')\"."},
                {"$ref": "#/$defs/decay_table"},
            ],
        },
        "decay_table": {
            "type": "object",
            "required": ["type"],
            "properties": {
                "type": {
                    "type": "string", "minLength": 1,
                    "description": ("InactivityDecay, HalfLife, ResetAfter, or a decay "
                                    "registered under the 'pqlkit.decays' entry-point group."),
                    "examples": ["InactivityDecay", "HalfLife", "ResetAfter"],
                },
            },
            "allOf": [
                {
                    "if": {"properties": {"type": {"const": "InactivityDecay"}}},
                    "then": {
                        "required": ["points", "every"],
                        "additionalProperties": False,
                        "properties": {
                            "type": True,
                            "points": {"type": "number", "exclusiveMinimum": 0,
                                       "description": "Points lost per full period."},
                            "every": {"$ref": "#/$defs/duration",
                                      "description": "The period, e.g. '7d'."},
                            "grace": {"$ref": "#/$defs/duration",
                                      "description": "Inactivity allowed before decay starts."},
                        },
                    },
                },
                {
                    "if": {"properties": {"type": {"const": "HalfLife"}}},
                    "then": {
                        "required": ["half_life"],
                        "additionalProperties": False,
                        "properties": {"type": True,
                                       "half_life": {"$ref": "#/$defs/duration"}},
                    },
                },
                {
                    "if": {"properties": {"type": {"const": "ResetAfter"}}},
                    "then": {
                        "required": ["idle"],
                        "additionalProperties": False,
                        "properties": {"type": True, "idle": {"$ref": "#/$defs/duration"}},
                    },
                },
            ],
        },
        "rollup": {
            "type": "object",
            "description": "How user results become account results, and when an account "
                           "is a PQA.",
            "additionalProperties": False,
            "properties": {
                "min_share": {
                    "anyOf": [{"type": "number", "minimum": 0, "maximum": 1},
                              {"const": False}, {"type": "null"}],
                    "default": 0.5,
                    "description": "Share of PQL users needed; false for no share test.",
                },
                "min_pql": {"type": "integer", "minimum": 0, "default": 1},
                "score": {"enum": list(ROLLUP_SCORES), "default": "max"},
                "k": {"type": "integer", "minimum": 1, "default": 3},
                "denominator": {"enum": list(ROLLUP_DENOMINATORS), "default": "all"},
                "active_within": {"$ref": "#/$defs/duration"},
            },
            "if": {"required": ["denominator"],
                   "properties": {"denominator": {"const": "active"}}},
            "then": {"required": ["active_within"]},
        },
    },
}


def _or_unset(node: dict[str, Any]) -> dict[str, Any]:
    """A value, or "none" written false (TOML has no null) or null: the reader takes them
    as the key left out."""
    return {"anyOf": [node, {"const": False}, {"type": "null"}]}


for _key in ("tiers", "group_caps", "disqualify", "decay"):
    SCHEMA["properties"][_key] = _or_unset(SCHEMA["properties"][_key])
for _key in ("max_points", "group", "decay"):
    SCHEMA["$defs"]["builtin_rule"]["properties"][_key] = _or_unset(
        SCHEMA["$defs"]["builtin_rule"]["properties"][_key])
SCHEMA["$defs"]["rollup"]["properties"]["active_within"] = _or_unset(
    SCHEMA["$defs"]["rollup"]["properties"]["active_within"])
