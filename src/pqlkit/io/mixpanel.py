"""Mixpanel Raw Export rows onto an EventLog.

An export row is ``{"event": ..., "properties": {"time": ..., "distinct_id": ...,
"$insert_id": ..., ...}}``; the same fields at the top level are read too. ``time`` is in
epoch seconds. Mixpanel de-duplicates on (``event``, ``distinct_id``, ``time``,
``$insert_id``), and so does this adapter.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, tzinfo
from os import PathLike
from typing import Any, Final

from pqlkit._time import _EPOCH_UNITS, EPOCH_UNITS, _zone, from_micros, to_micros
from pqlkit.eventlog import EventLog
from pqlkit.io._convert import group_account, id_value, mapping_value, name_value, timestamp_us
from pqlkit.io._sink import AccountPolicy, AnonymousPolicy, Sink, check_choice, check_key_option
from pqlkit.io._source import rows_of
from pqlkit.records import FieldError, check_timestamp

__all__ = ["from_mixpanel"]

_DEVICE_PREFIX: Final = "$device:"
_IDENTITY_EVENTS: Final = ("$identify", "$create_alias")
# Fields that say who, when and which copy: read into the event, not kept as properties.
_RESERVED: Final = frozenset({"time", "distinct_id", "$insert_id", "$user_id", "$device_id",
                              "token"})


def _field(row: Mapping[str, Any], props: Mapping[str, Any], key: str) -> Any:
    value = props.get(key)
    return row.get(key) if value is None else value


def _time(ts: int, project_tz: tzinfo | None) -> int:
    """The moment of ``time`` (µs as exported) in UTC."""
    if project_tz is None:
        return ts
    # Projects created before 2023 export "epoch" seconds that are really the project's
    # wall clock: read them as a naive local time and convert.
    local = from_micros(ts).replace(tzinfo=None)
    # (Within hours of year 1 or 9999 the zone can carry it out of range: a rejection.)
    return to_micros(check_timestamp(local, "time", tz=project_tz))


def _row(sink: Sink, source: int, row: Any, group_key: str | None, epoch_unit: str,
         project_tz: tzinfo | None) -> None:
    if sink.unreadable(source, row, "a Mixpanel event (a JSON object)"):
        return
    event = row.get("event")
    table = "identities" if isinstance(event, str) and event in _IDENTITY_EVENTS else "events"
    sink.count(table)
    try:
        props = mapping_value(row.get("properties"), "properties")
        time_value = _field(row, props, "time")
        if time_value is None:
            raise FieldError("time is missing", reason="missing_timestamp", field="time")
        exported = timestamp_us(time_value, "time", epoch_unit=epoch_unit)
        ts = _time(exported, project_tz)
        key_time = _export_time(exported, epoch_unit)
        distinct = id_value(_field(row, props, "distinct_id"), "distinct_id")
        user = id_value(_field(row, props, "$user_id"), "$user_id")
        device = id_value(_field(row, props, "$device_id"), "$device_id")
        if user is None and distinct is not None and not (
            isinstance(distinct, str) and distinct.startswith(_DEVICE_PREFIX)
        ):
            user = distinct
        anonymous: tuple[Any, ...] = ()
        if user is None:
            if device is None and isinstance(distinct, str):
                device = distinct[len(_DEVICE_PREFIX):] or None
            anonymous = tuple(dict.fromkeys(k for k in (distinct, device) if k is not None))
        insert_id = id_value(_field(row, props, "$insert_id"), "$insert_id")
        if event == "$identify":
            identified = id_value(props.get("$identified_id"), "$identified_id")
            anon = id_value(props.get("$anon_id"), "$anon_id")
            if identified is None or anon is None:
                raise FieldError("a $identify event needs $identified_id and $anon_id",
                                 reason="missing_identity", field="$identified_id")
            # Original ID merge: $identify joins the anonymous id's events to the user.
            sink.identity_row(table, source, ts, [("alias", anon, identified)],
                              dedup=_dedup_key(event, distinct, key_time, insert_id), row=row)
            return
        if event == "$create_alias":
            alias = id_value(props.get("alias"), "alias")
            if alias is None or distinct is None:
                raise FieldError("a $create_alias event needs alias and distinct_id",
                                 reason="missing_identity", field="alias")
            sink.identity_row(table, source, ts, [("alias", alias, distinct)],
                              dedup=_dedup_key(event, distinct, key_time, insert_id), row=row)
            return
        name = name_value(event, "event")
        account = None
        if group_key is not None:
            account = group_account({group_key: props.get(group_key)}, group_key, "properties")
        kept = {k: v for k, v in props.items() if k not in _RESERVED}
    except FieldError as exc:
        sink.reject(table, source, exc.reason, str(exc), row)
        return
    stored = sink.event(source, ts, name, user=user, account=account,
                        event_id=_dedup_key(name, distinct, key_time, insert_id), properties=kept,
                        anonymous=anonymous, row=row)
    if stored and user is not None and device is not None:
        # (Only a row kept here links the device: see segment._event.)
        sink.link(device, user, ts, of_event=True)
        sink.link(f"{_DEVICE_PREFIX}{device}", user, ts, of_event=True)


def _export_time(us: int, epoch_unit: str) -> int | float:
    """``time`` (µs as exported) as a number in the export's unit, whatever carried it:
    1777885198, 1777885198.0, "1777885198" and the datetime they stand for are one time."""
    if epoch_unit == "ns":
        return us * 1000
    per = _EPOCH_UNITS[epoch_unit]  # µs per unit
    return us // per if us % per == 0 else us / per


def _dedup_key(event: Any, distinct: Any, time: int | float, insert_id: Any) -> str | None:
    """Mixpanel's de-duplication key as one id; None (no de-duplication) without
    ``$insert_id``, as Mixpanel itself does not de-duplicate such events."""
    if insert_id is None:
        return None
    return json.dumps([event, distinct, time, insert_id], ensure_ascii=False,
                      separators=(",", ":"))


def from_mixpanel(
    rows: Iterable[Mapping[str, Any]] | str | PathLike[str],
    *,
    group_key: str | None = None,
    project_tz: str | tzinfo | None = None,
    epoch_unit: str = "s",
    anonymous: AnonymousPolicy = "merge",
    account_policy: AccountPolicy = "first",
    strict: bool = False,
    future_tolerance: str | timedelta | None = None,
    now: datetime | str | None = None,
) -> EventLog:
    """Load Mixpanel Raw Export rows (JSON lines, gzipped or not, or parsed dicts).

    Args:
        rows: parsed rows (dicts), or the path of a Raw Export JSON-lines file.
        group_key: the event property holding the account (Mixpanel Group Analytics'
            group key, e.g. ``"company_id"``); without it events name no account.
        project_tz: Mixpanel exports ``time`` in the *project's* time zone for projects
            created before 2023 (UTC after). For such a project pass its zone (e.g.
            ``"America/Los_Angeles"``) and ``time`` is read as that wall clock.
        epoch_unit: the unit of ``time`` (``"s"`` in exports; ``"ms"`` for Import API
            bodies that use milliseconds).
        anonymous: events whose ``distinct_id`` is ``"$device:…"`` and that carry no
            ``$user_id`` are anonymous. ``"merge"`` (default) gives them to the user that a
            row with both ``$device_id`` and ``$user_id``, or a ``$identify`` event, links
            the device to, and rejects the rest as ``anonymous_only``; ``"keep"`` keeps the
            unlinked ones under their ``distinct_id``; ``"reject"`` rejects them all.
        account_policy: a user's account in the users table when their events name
            several: ``"first"`` (default), ``"latest"``, or ``"reject"`` (the events
            naming another account than the first are rejected).
        strict: raise :class:`~pqlkit.errors.RejectedRowError` at the first rejected row.
        future_tolerance: reject events later than ``now`` plus this (e.g. ``"1d"``).
        now: what ``future_tolerance`` counts from (default: the wall clock at load).

    The event id is Mixpanel's de-duplication key (``event``, ``distinct_id``, ``time``,
    ``$insert_id``): copies count once. Where Mixpanel would show the most recently
    ingested of two copies that differ in other properties, pqlkit keeps the earliest by
    its own rule and reports the other as ``conflicting_duplicate``. ``$identify`` and
    ``$create_alias`` events are identity rows (table ``identities``): kept, not events.
    Properties are the row's ``properties`` minus ``time``, ``distinct_id``,
    ``$insert_id``, ``$user_id``, ``$device_id`` and ``token``.

    Example:
        >>> import pqlkit.io
        >>> log = pqlkit.io.from_mixpanel([
        ...     {"event": "Report Built", "properties": {
        ...         "time": 1777626000, "distinct_id": "u1", "$insert_id": "x1",
        ...         "company_id": "acme", "chart": "funnel"}},
        ...     {"event": "Report Built", "properties": {
        ...         "time": 1777626000, "distinct_id": "u1", "$insert_id": "x1",
        ...         "company_id": "acme", "chart": "funnel"}},
        ... ], group_key="company_id")
        >>> [(e.name, e.user_id, e.account_id, e.timestamp.isoformat()) for e in log.events()]
        [('Report Built', 'u1', 'acme', '2026-05-01T09:00:00+00:00')]
        >>> log.report.counts
        {'input': 2, 'kept': 1, 'duplicates': 1, 'rejected': 0}
    """
    check_key_option(group_key, "group_key", where="from_mixpanel", names="an event property",
                     example="company_id")
    zone = None if project_tz is None else _zone(project_tz)
    check_choice(epoch_unit, EPOCH_UNITS, "epoch_unit")
    source_rows, label = rows_of(rows, what="from_mixpanel")
    sink = Sink(strict=strict, future_tolerance=future_tolerance, now=now,
                anonymous=anonymous, account_policy=account_policy, label=label)
    sink.table("events")
    for source, row in source_rows:
        _row(sink, source, row, group_key, epoch_unit, zone)
    return sink.finish()
