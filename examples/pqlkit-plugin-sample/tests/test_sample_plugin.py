"""The sample plugin, tested as its authors would: by name from a model file, like built-ins.

Skipped when the package is not installed, unless PQLKIT_REQUIRE_SAMPLE_PLUGIN=1 (as in
pqlkit's CI, which installs it), where a missing plugin is a failure.
"""

from __future__ import annotations

import os
from datetime import timedelta
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pytest

import pqlkit as pk
from pqlkit import datasets, plugins
from pqlkit.testing import assert_results_equal, check_signal

try:
    # Installed, not merely importable: pytest's doctest run imports the source by path.
    distribution("pqlkit-plugin-sample")
except PackageNotFoundError:
    if os.environ.get("PQLKIT_REQUIRE_SAMPLE_PLUGIN") == "1":
        raise
    pytest.skip("pqlkit-plugin-sample is not installed "
                "(pip install ./examples/pqlkit-plugin-sample)", allow_module_level=True)

# Imported only once it is known to be installed.
import pqlkit_plugin_sample as sample

MODEL_FILE = Path(__file__).resolve().parent.parent / "models" / "quota.toml"


@pytest.fixture(scope="module")
def demo_log() -> pk.EventLog:
    data = datasets.synthetic_saas(n_accounts=60, seed=7)
    events, users, accounts = data.records()
    return pk.EventLog.from_records(events, users=users, accounts=accounts)


def python_twin() -> pk.ScoringModel:
    return pk.ScoringModel(
        name="quota-pressure",
        threshold=30,
        tiers={"hot": 50, "warm": 30},
        decay=sample.LinearToZero("60d"),
        rules=[
            pk.Rule("near_quota",
                    sample.StorageQuotaProximity(default_quota_mb=1000, within="30d") >= 0.8,
                    points=25),
            sample.Bands(name="queries", signal=pk.count("saved_query_run", within="30d"),
                         bands=((3, 10), (10, 30))),
        ],
    )


def test_pqlkit_finds_the_three_plugins_by_their_entry_points() -> None:
    registry = plugins.refresh()
    for kind, name, obj in (("signal", "storage_quota_proximity", sample.StorageQuotaProximity),
                            ("rule", "bands", sample.Bands),
                            ("decay", "linear_to_zero", sample.LinearToZero)):
        assert [c.distribution for c in registry.claims(kind, name)] == ["pqlkit-plugin-sample"]
        assert registry.get(kind, name) is obj
    assert registry.problems() == []


def test_the_model_file_names_them_like_builtins() -> None:
    assert pk.validate_model(MODEL_FILE) == []
    assert pk.load_model(MODEL_FILE) == python_twin()


@pytest.mark.parametrize("suffix", [".toml", ".json", ".yaml"])
def test_a_model_using_them_round_trips_through_every_format(tmp_path: Path,
                                                             suffix: str) -> None:
    model = python_twin()
    path = model.save(tmp_path / f"quota{suffix}")
    assert pk.load_model(path) == model


def test_the_model_file_scores_the_demo_data_like_its_python_twin(
        demo_log: pk.EventLog) -> None:
    got = pk.load_model(MODEL_FILE).score(demo_log)
    assert_results_equal(got, python_twin().score(demo_log))
    near = [r for r in got.users if r["near_quota"] > 0]
    banded = [r for r in got.users if r["queries"] > 0]
    assert near and banded and any(r["is_pql"] for r in got.users)


def test_the_signal_keeps_the_contract_of_the_builtins() -> None:
    check_signal(sample.StorageQuotaProximity(default_quota_mb=1000))
    check_signal(sample.StorageQuotaProximity(default_quota_mb=50, within="7d"), level="account")


def test_bands_give_the_points_of_the_highest_band_reached() -> None:
    events = [{"name": "saved_query_run", "timestamp": f"2026-05-{d:02d}T09:00:00Z",
               "user_id": "u1"} for d in range(1, 5)]
    rule = sample.Bands(name="queries", signal=pk.count("saved_query_run"),
                        bands=[(3, 10), (10, 30)])
    model = pk.ScoringModel(name="b", rules=[rule], threshold=10)
    assert model.score(events).users["u1"]["queries"] == 10
    with pytest.raises(ValueError, match="at least one"):
        sample.Bands(name="none", signal=pk.count(), bands=[])


def test_linear_to_zero_reaches_zero_and_stays_there() -> None:
    decay = sample.LinearToZero("10d")
    assert decay.apply(40, timedelta(0)) == 40
    assert decay.apply(40, timedelta(days=5)) == 20
    assert decay.apply(40, timedelta(days=30)) == 0
    with pytest.raises(pk.errors.ValidationError, match="fixed length"):
        sample.LinearToZero("1mo")
