"""Unit tests of the storage-quota custom signal, written as a plugin author would."""

from __future__ import annotations

import pytest
from storage_quota import StorageQuotaProximity

import pqlkit as pk

AS_OF = "2026-06-01T00:00:00Z"


def _log(*usage: tuple[str, float], quota: float | None = 1000.0) -> pk.EventLog:
    events = [
        {"name": "session_started", "timestamp": ts, "account_id": "a1", "user_id": "u1",
         "properties": {"storage_used_mb": mb}}
        for ts, mb in usage
    ]
    events.append({"name": "page_viewed", "timestamp": "2026-05-31T00:00:00Z",
                   "account_id": "a1", "user_id": "u1"})
    traits = {} if quota is None else {"storage_quota_mb": quota}
    return pk.EventLog.from_records(events, accounts=[{"account_id": "a1", "traits": traits}])


def _model(signal: pk.Expr, points: int = 25) -> pk.ScoringModel:
    return pk.ScoringModel(
        name="quota", level="account", threshold=25,
        rules=[pk.Rule("near_quota", signal >= 0.8, points=points)],
    )


def test_uses_the_latest_reported_usage_over_the_quota() -> None:
    log = _log(("2026-05-01T00:00:00Z", 900.0), ("2026-05-20T00:00:00Z", 500.0))
    result = _model(StorageQuotaProximity()).score(log, as_of=AS_OF)
    assert result.accounts["a1"]["near_quota"] == 0
    expl = result.explain("a1")
    assert expl.rules[0].evidence.values["StorageQuotaProximity()"] == pytest.approx(0.5)


def test_qualifies_an_account_at_80_percent_of_its_quota() -> None:
    log = _log(("2026-05-20T00:00:00Z", 800.0))
    result = _model(StorageQuotaProximity()).score(log, as_of=AS_OF)
    assert result.accounts["a1"]["is_pqa"] is True
    evidence = result.explain("a1").rules[0].evidence
    assert evidence.n_events == 1
    assert evidence.latest is not None and evidence.latest.name == "session_started"


def test_ignores_usage_reported_after_as_of() -> None:
    log = _log(("2026-05-20T00:00:00Z", 100.0), ("2026-06-02T00:00:00Z", 990.0))
    result = _model(StorageQuotaProximity()).score(log, as_of=AS_OF)
    assert result.accounts["a1"]["is_pqa"] is False


def test_is_missing_without_a_quota_so_the_rule_does_not_fire() -> None:
    log = _log(("2026-05-20T00:00:00Z", 990.0), quota=None)
    result = _model(StorageQuotaProximity()).score(log, as_of=AS_OF)
    assert result.accounts["a1"]["near_quota"] == 0
    with_default = _model(StorageQuotaProximity(default_quota_mb=1000)).score(log, as_of=AS_OF)
    assert with_default.accounts["a1"]["is_pqa"] is True


def test_window_limits_which_reports_count() -> None:
    log = _log(("2026-04-01T00:00:00Z", 950.0))
    recent = _model(StorageQuotaProximity(within="30d")).score(log, as_of=AS_OF)
    assert recent.accounts["a1"]["is_pqa"] is False
    ever = _model(StorageQuotaProximity()).score(log, as_of=AS_OF)
    assert ever.accounts["a1"]["is_pqa"] is True


def test_repr_is_the_code_that_builds_it_and_compares_structurally() -> None:
    signal = StorageQuotaProximity(within="30d")
    assert repr(signal) == "StorageQuotaProximity(within='30d')"
    assert signal.equals(StorageQuotaProximity(within="30d"))
    assert not signal.equals(StorageQuotaProximity())
    assert repr(signal >= 0.8) == "StorageQuotaProximity(within='30d') >= 0.8"


def test_keeps_the_contract_every_pqlkit_signal_keeps() -> None:
    # The same check the built-ins pass: repr, equality, operators, kind, order, as_of.
    from pqlkit.testing import check_signal

    check_signal(StorageQuotaProximity(), level="account")
