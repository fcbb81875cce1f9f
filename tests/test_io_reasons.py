"""The reason codes: one list (pqlkit.report.REASONS), documented exactly, each reachable."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import pqlkit as pk
import pqlkit.io as pio
from pqlkit.errors import RejectedRowError
from pqlkit.eventlog import EventLog
from pqlkit.report import REASONS

DOCS = Path(__file__).resolve().parent.parent / "docs"
TS = "2026-05-01T00:00:00Z"


def test_the_reason_codes_page_documents_exactly_the_codes_in_reasons():
    text = (DOCS / "reason-codes.md").read_text(encoding="utf-8")
    documented = re.findall(r"^\| `([a-z_]+)` \|", text, flags=re.MULTILINE)
    assert len(documented) == len(set(documented)), "a code is listed twice"
    assert set(documented) == set(REASONS)


def segment(*rows: dict[str, Any], **options: Any) -> EventLog:
    return pio.from_segment(list(rows), **options)


def records(*rows: Any, **options: Any) -> EventLog:
    return EventLog.from_records(list(rows), **options)


def ev(**kw: Any) -> dict[str, Any]:
    return {"name": "x", "timestamp": TS, "user_id": "u", **kw}


def track(**kw: Any) -> dict[str, Any]:
    return {"type": "track", "event": "x", "userId": "u", "timestamp": TS, **kw}


#: For each reason code, a load that rejects exactly one row with it.
PRODUCERS: dict[str, Callable[[Path], EventLog]] = {
    "not_a_mapping": lambda _: records(ev(), "row"),
    "unknown_field": lambda _: records(ev(colour="red")),
    "invalid_record": lambda _: records(BrokenRow()),
    "invalid_json": lambda p: pio.read_jsonl(_file(p, '{"a": 1\n')),
    "malformed_row": lambda p: pio.read_csv(_file(p, "name,timestamp,user_id\nx,y\n")),
    "unsupported_message": lambda _: segment({"type": "delete", "userId": "u"}),
    "missing_identity": lambda _: records(ev(user_id=None)),
    "anonymous_only": lambda _: segment(track(userId=None, anonymousId="a")),
    "multiple_accounts": lambda _: segment(track(context={"groupId": "a"}),
                                           track(context={"groupId": "b"}, messageId="2"),
                                           account_policy="reject"),
    "invalid_id": lambda _: records(ev(user_id=1.5)),
    "missing_name": lambda _: records(ev(name="")),
    "invalid_name": lambda _: records(ev(name="a\x07")),
    "missing_timestamp": lambda _: records(ev(timestamp=None)),
    "invalid_timestamp": lambda _: records(ev(timestamp="soon")),
    "naive_timestamp": lambda _: records(ev(timestamp="2026-05-01 00:00")),
    "timestamp_out_of_range": lambda _: records(ev(timestamp=10**15), epoch_unit="s"),
    "future_timestamp": lambda _: records(ev(timestamp="2026-06-01T00:00:00Z"),
                                          future_tolerance="1d", now=TS),
    "invalid_properties": lambda _: records(ev(properties=[1])),
    "non_finite_property": lambda _: records(ev(properties={"x": float("nan")})),
    "invalid_traits": lambda _: EventLog.from_records([], users=[{"user_id": "u",
                                                                  "traits": "admin"}]),
    "conflicting_duplicate": lambda _: records(ev(event_id=1), ev(event_id=1, name="y")),
}


class BrokenRow(Mapping[str, Any]):
    """A mapping that cannot even list its keys: not a record pqlkit can read."""

    def __getitem__(self, key: str) -> Any:
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        raise TypeError("this mapping cannot list its keys")

    def __len__(self) -> int:
        return 3


def _file(tmp: Path, text: str) -> Path:
    path = tmp / "f.txt"
    path.write_text(text, encoding="utf-8")
    return path


def test_every_reason_code_has_a_producer():
    assert set(PRODUCERS) == set(REASONS)


@pytest.mark.parametrize("reason", sorted(PRODUCERS))
def test_every_reason_code_is_reachable(reason, tmp_path):
    log = PRODUCERS[reason](tmp_path)
    assert [r.reason for r in log.report.rejections] == [reason]
    (r,) = log.report.rejections
    assert r.message
    c = log.report.counts
    assert c["input"] == c["kept"] + c["duplicates"] + c["rejected"]


def test_from_records_future_tolerance_and_strict():
    rows = [ev(), ev(timestamp="2026-05-03T00:00:01Z")]
    log = records(*rows, future_tolerance="2d", now=TS)
    assert [(r.source, r.reason) for r in log.report.rejections] == [(1, "future_timestamp")]
    assert len(records(*rows, future_tolerance="2d", now="2026-05-02T00:00:00Z")) == 2
    with pytest.raises(RejectedRowError) as info:
        records(*rows, future_tolerance="2d", now=TS, strict=True)
    assert info.value.source == 1
    assert records(*rows).report.counts["rejected"] == 0  # off by default


def test_future_tolerance_by_default_counts_from_the_wall_clock():
    now = datetime.now(UTC)
    soon = now.replace(year=now.year + 1).isoformat()
    log = records(ev(), ev(timestamp=soon), future_tolerance="30d")
    assert [r.reason for r in log.report.rejections] == ["future_timestamp"]


def test_report_shows_samples_in_notebooks_and_records():
    log = records(ev(), ev(name=""), ev(user_id=None))
    html = log.report._repr_html_()
    assert "missing_name" in html and "&#x27;name&#x27;: &#x27;&#x27;" in html
    assert [r["source"] for r in log.report.to_records()] == [1, 2]
    assert {"table", "source", "reason", "message", "sample"} <= set(
        log.report.to_records()[0])
    assert "2 rejected" in log.report.summary()
    assert pk.LoadReport is type(log.report)
