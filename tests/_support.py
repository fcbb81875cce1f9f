"""Small builders the scenario, contract and engine tests share: a fixed ``as_of`` and
event rows placed relative to it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

AS_OF = datetime(2026, 6, 1, tzinfo=UTC)
US = timedelta(microseconds=1)


def ago(**delta: float) -> datetime:
    """The moment ``delta`` (``days=``, ``hours=`` …) before :data:`AS_OF`."""
    return AS_OF - timedelta(**delta)


def ev(name: str, when: datetime | str, user: object = "u1", **fields: object) -> dict:
    """An event row of ``user`` (none when None), with any further fields."""
    row: dict = {"name": name, "timestamp": when}
    if user is not None:
        row["user_id"] = user
    row.update(fields)
    return row
