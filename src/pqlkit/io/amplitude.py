"""Amplitude export rows (Export API JSON, or HTTP V2 API event bodies) onto an EventLog.

Fields follow Amplitude's Export API schema: ``event_type``, ``user_id``, ``device_id``,
``amplitude_id``, ``event_time`` (UTC, written without a zone), ``$insert_id`` /
``insert_id``, ``uuid``, ``event_properties``, ``user_properties``, ``groups``,
``group_properties`` and ``user_creation_time``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from os import PathLike
from typing import Any, Final

from pqlkit.eventlog import EventLog
from pqlkit.io._convert import (
    group_account,
    id_value,
    json_object,
    mapping_value,
    name_value,
    timestamp_us,
)
from pqlkit.io._sink import AccountPolicy, AnonymousPolicy, Sink, UserRef, check_key_option
from pqlkit.io._source import rows_of
from pqlkit.records import FieldError

__all__ = ["from_amplitude"]

_IDENTIFY: Final = "$identify"
_GROUP_IDENTIFY: Final = "$groupidentify"


def _time(row: Mapping[str, Any], field: str) -> int:
    # Amplitude writes its times in UTC as "2026-05-01 09:00:00.123000", without a zone:
    # the zone is the vendor's documented one, not an assumption.
    return timestamp_us(row[field], field, tz="UTC")


def _event_time(row: Mapping[str, Any]) -> int:
    if row.get("event_time") not in (None, ""):
        return _time(row, "event_time")
    if row.get("time") not in (None, ""):
        return timestamp_us(row["time"], "time", epoch_unit="ms")  # HTTP V2 API bodies
    raise FieldError("event_time is missing", reason="missing_timestamp", field="event_time")


#: Amplitude's Identify API property operations.
_OPERATIONS: Final = frozenset({"$set", "$setOnce", "$add", "$append", "$prepend", "$unset",
                                "$preInsert", "$postInsert", "$remove", "$clearAll"})


def _property_ops(value: Any, field: str, kind: str) -> list[tuple[str, Mapping[str, Any]]]:
    """User or group properties: a flat mapping (export rows) or Identify API operations
    (``$set``, ``$setOnce``); other operations (``$add``, ``$unset`` …) are not replayed."""
    value = json_object(value, field, kind)
    if value is None:
        return []
    if isinstance(value, Mapping) and any(k in _OPERATIONS for k in value):
        # An operations body: only $set and $setOnce are applied (the others, read as flat
        # properties, became traits named "$add", "$unset" …).
        out = []
        for op, mode in (("$set", "set"), ("$setOnce", "once")):
            if value.get(op) is not None:
                out.append((mode, mapping_value(value[op], f"{field}.{op}", kind)))
        return out
    return [("set", mapping_value(value, field, kind))]


def _row(sink: Sink, source: int, row: Any, group_type: str | None) -> None:
    if sink.unreadable(source, row, "an Amplitude event (a JSON object)"):
        return
    kind = row.get("event_type")
    table = {_IDENTIFY: "users", _GROUP_IDENTIFY: "accounts"}.get(kind, "events") \
        if isinstance(kind, str) else "events"
    sink.count(table)
    try:
        ts = _event_time(row)
        user = id_value(row.get("user_id"), "user_id")
        device = id_value(row.get("device_id"), "device_id")
        amplitude_id = id_value(row.get("amplitude_id"), "amplitude_id")
        anonymous = tuple(k for k in (device, amplitude_id) if k is not None)
        insert_id = id_value(row.get("$insert_id", row.get("insert_id")), "insert_id")
        event_id = insert_id if insert_id is not None else id_value(row.get("uuid"), "uuid")
        ref: UserRef | None = ("u", user) if user is not None else (
            ("a", anonymous[0]) if anonymous else None)
        if kind == _GROUP_IDENTIFY:
            account = group_account(json_object(row.get("groups"), "groups", "properties"),
                                    group_type, "groups")
            if account is None:
                raise FieldError("a $groupidentify row needs groups naming the group",
                                 reason="missing_identity", field="groups")
            ops: list[tuple[Any, ...]] = [("seen", "account", account)]
            ops += [("traits", "account", account, t, mode)
                    for mode, t in _property_ops(row.get("group_properties"),
                                                 "group_properties", "traits")]
            sink.identity_row(table, source, ts, ops, dedup=event_id, row=row)
            return
        user_traits = _property_ops(row.get("user_properties"), "user_properties", "traits")
        signup = None
        if row.get("user_creation_time") not in (None, ""):
            signup = _time(row, "user_creation_time")
        if kind == _IDENTIFY:
            if ref is None:
                raise FieldError("a $identify row needs a user_id or a device_id",
                                 reason="missing_identity", field="user_id")
            ops = [("seen", "user", ref)]
            ops += [("traits", "user", ref, t, mode) for mode, t in user_traits]
            if user is not None:
                ops += [("link", key, user) for key in anonymous]
            if signup is not None:
                ops.append(("created", "user", ref, signup))
            sink.identity_row(table, source, ts, ops, dedup=event_id, row=row,
                              needs=ref if user is None else None)
            return
        name = name_value(kind, "event_type")
        props = mapping_value(json_object(row.get("event_properties"), "event_properties"),
                              "event_properties")
        account = group_account(json_object(row.get("groups"), "groups", "properties"),
                                group_type, "groups")
    except FieldError as exc:
        sink.reject(table, source, exc.reason, str(exc), row)
        return
    if not sink.event(source, ts, name, user=user, account=account, event_id=event_id,
                      properties=props, anonymous=anonymous, row=row):
        return
    if user is not None:
        for key in anonymous:
            sink.link(key, user, ts, of_event=True)
    if ref is not None:
        for mode, traits in user_traits:
            sink.traits("user", ref, traits, ts, mode, of_event=True)
        if signup is not None:
            sink.created("user", ref, signup, of_event=True)


def from_amplitude(
    rows: Iterable[Mapping[str, Any]] | str | PathLike[str],
    *,
    group_type: str | None = None,
    anonymous: AnonymousPolicy = "merge",
    account_policy: AccountPolicy = "first",
    strict: bool = False,
    future_tolerance: str | timedelta | None = None,
    now: datetime | str | None = None,
) -> EventLog:
    """Load Amplitude events: Export API rows or HTTP V2 API event bodies.

    Args:
        rows: parsed rows (dicts), or the path of an export: a JSON-lines file, gzipped or
            not, or the zip archive the Export API returns (its members read in name order;
            a rejection's ``source`` is then ``"member:line"``).
        group_type: the ``groups`` key that holds the account (e.g. ``"company"``). Without
            it a row may name one group type, and a row naming several raises an error
            asking for this option.
        anonymous: rows with no ``user_id`` carry only a ``device_id``/``amplitude_id``.
            ``"merge"`` (default) gives them to the user another row links those ids to
            (a row with both), and rejects the rest as ``anonymous_only``; ``"keep"`` keeps
            the unlinked ones with the ``device_id`` as their user id; ``"reject"`` rejects
            every row without a ``user_id``.
        account_policy: a user's account in the users table when their events name
            several: ``"first"`` (default) or ``"latest"`` by event time; ``"reject"``
            rejects the events naming another account than the first.
        strict: raise :class:`~pqlkit.errors.RejectedRowError` at the first rejected row.
        future_tolerance: reject events later than ``now`` plus this (e.g. ``"1d"``).
        now: what ``future_tolerance`` counts from (default: the wall clock at load).

    ``$insert_id`` (or ``insert_id``) de-duplicates, Amplitude's documented key; a row
    without one uses ``uuid``, so an event exported twice counts once. ``user_properties``
    become user traits (the latest value of each wins), ``user_creation_time`` the user's
    ``created_at``; ``$identify`` rows give traits and ``$groupidentify`` rows account
    traits (``group_properties``), and count as kept without being events.

    Example:
        >>> import pqlkit.io
        >>> log = pqlkit.io.from_amplitude([
        ...     {"event_type": "Dashboard Created", "user_id": "u1", "device_id": "d1",
        ...      "event_time": "2026-05-01 09:00:00.000000", "$insert_id": "i1",
        ...      "event_properties": {"template": "blank"}, "groups": {"company": "acme"},
        ...      "user_properties": {"role": "admin"}},
        ...     {"event_type": "Pricing Viewed", "device_id": "d1",
        ...      "event_time": "2026-04-30 18:00:00.000000", "$insert_id": "i0"},
        ... ], group_type="company")
        >>> [(e.name, e.user_id, e.account_id) for e in log.events()]
        [('Pricing Viewed', 'u1', None), ('Dashboard Created', 'u1', 'acme')]
        >>> [(u.user_id, u.account_id, dict(u.traits)) for u in log.users()]
        [('u1', 'acme', {'role': 'admin'})]
    """
    check_key_option(group_type, "group_type", where="from_amplitude",
                     names="a group type (a key of groups)", example="company")
    source_rows, label = rows_of(rows, what="from_amplitude")
    sink = Sink(strict=strict, future_tolerance=future_tolerance, now=now,
                anonymous=anonymous, account_policy=account_policy, label=label)
    sink.table("events")
    for source, row in source_rows:
        _row(sink, source, row, group_type)
    return sink.finish()
