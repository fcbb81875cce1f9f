"""The JSON Schema of model files: valid, published, and in step with the reader."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given

import pqlkit as pk
from pqlkit import modelfile as mf
from pqlkit.testing import models

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "examples" / "models"
EXAMPLES = sorted(p.name for p in MODELS.iterdir()
                  if p.suffix in mf.FORMATS and not p.name.endswith(".schema.json"))


def base(**extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "m", "threshold": 10,
        "rules": [{"name": "a", "when": "count('x') >= 1", "points": 10}],
    }
    data.update(extra)
    return data


SCHEMA = mf.json_schema()
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_the_published_copy_in_examples_is_the_schema() -> None:
    published = json.loads((MODELS / "pqlkit-model.schema.json").read_text(encoding="utf-8"))
    assert published == SCHEMA


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_example_model_file_passes_the_schema(name: str) -> None:
    path = MODELS / name
    VALIDATOR.validate(mf.loads(path.read_text(encoding="utf-8"), mf.FORMATS[path.suffix]))


@given(models())
def test_everything_the_writer_writes_passes_the_schema(model: pk.ScoringModel) -> None:
    VALIDATOR.validate(model.to_dict())


def test_the_schema_knows_the_keys_the_reader_knows() -> None:
    defs = SCHEMA["$defs"]
    assert set(SCHEMA["properties"]) == set(mf.MODEL_KEYS)
    assert set(defs["builtin_rule"]["properties"]) == set(mf.RULE_KEYS)
    assert set(defs["rollup"]["properties"]) == set(mf.ROLLUP_KEYS)
    for branch in defs["decay_table"]["allOf"]:
        name = branch["if"]["properties"]["type"]["const"]
        fields = {f.name for f in pk.model.attrs.fields(getattr(pk, name))}
        assert set(branch["then"]["properties"]) == fields | {"type"}, name


MISTAKES = [
    {"threshold": 1, "rules": []},
    base(threshold="60"),
    base(treshold=60),
    base(level="team"),
    base(rules=[{"name": "a", "when": "count('x') >= 1", "point": 5}]),
    base(rules=[{"name": "a", "when": "count('x') >= 1", "points": 5, "points_per": 1}]),
    base(rules=[{"name": "a", "when": "count('x') >= 1"}]),
    base(rules=[{"name": "a", "when": "count('x') >= 1", "points": 1, "max_points": 2}]),
    base(rules=[{"name": "score", "when": "count('x') >= 1", "points": 1}]),
    base(decay={"type": "InactivityDecay", "points": 5, "every": "a week"}),
    base(decay={"type": "HalfLife", "halflife": "7d"}),
    base(decay={"points": 5, "every": "7d"}),
    base(rollup={"score": "median"}),
    base(rollup={"min_share": 1.5}),
    base(rollup={"denominator": "active"}),
    base(tiers={"disqualified": 10}),
    base(tiers={"hot": "80"}),
    base(disqualify="trait('a') == 1"),
]


@pytest.mark.parametrize("data", MISTAKES, ids=[json.dumps(m)[:70] for m in MISTAKES])
def test_the_schema_and_the_reader_both_refuse_typical_mistakes(data: dict[str, Any]) -> None:
    assert not VALIDATOR.is_valid(data)
    assert pk.validate_model(data)
