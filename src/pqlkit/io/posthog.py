"""PostHog events (batch exports, the events API, capture bodies) onto an EventLog.

A PostHog event is ``{"uuid", "event", "distinct_id", "timestamp", "properties"}``;
``properties.$groups`` maps group types to group keys, ``properties.$set`` and
``$set_once`` update person properties, and ``$identify`` / ``$create_alias`` /
``$merge_dangerously`` events merge distinct ids into one person.
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

__all__ = ["from_posthog"]

_MERGES: Final = {"$identify": "$anon_distinct_id", "$create_alias": "alias",
                  "$merge_dangerously": "alias"}
_GROUP_IDENTIFY: Final = "$groupidentify"
# Identity plumbing, read into the log rather than kept as event properties.
_RESERVED: Final = frozenset({"$set", "$set_once", "$groups", "$anon_distinct_id",
                              "distinct_id", "token", "$group_type", "$group_key",
                              "$group_set"})


def _properties(row: Mapping[str, Any]) -> Mapping[str, Any]:
    # Batch exports write properties (and set/set_once) as JSON text; the API as objects.
    return mapping_value(json_object(row.get("properties"), "properties"), "properties")


def _person_sets(row: Mapping[str, Any], props: Mapping[str, Any]
                 ) -> list[tuple[str, Mapping[str, Any]]]:
    out = []
    for key, top, mode in (("$set", "set", "set"), ("$set_once", "set_once", "once")):
        value = props.get(key)
        if value is None:
            value = json_object(row.get(top), top, "traits")
        if value is not None:
            out.append((mode, mapping_value(value, key, "traits")))
    return out


def _anonymous(props: Mapping[str, Any]) -> bool:
    return props.get("$is_identified") is False or props.get("$process_person_profile") is False


def _row(sink: Sink, source: int, row: Any, group_type: str | None) -> None:
    if sink.unreadable(source, row, "a PostHog event (a JSON object)"):
        return
    raw_event = row.get("event")
    event = raw_event if isinstance(raw_event, str) else None  # what kind of row it is
    table = "identities" if event in _MERGES else (
        "accounts" if event == _GROUP_IDENTIFY else "events")
    sink.count(table)
    try:
        props = _properties(row)
        if row.get("timestamp") in (None, ""):
            raise FieldError("timestamp is missing", reason="missing_timestamp",
                             field="timestamp")
        # PostHog stores timestamps in UTC; its exports may write them without a zone.
        ts = timestamp_us(row["timestamp"], "timestamp", tz="UTC")
        distinct = id_value(row.get("distinct_id", props.get("distinct_id")), "distinct_id")
        event_id = id_value(row.get("uuid", row.get("id")), "uuid")
        if distinct is None:
            raise FieldError("distinct_id is missing", reason="missing_identity",
                             field="distinct_id")
        anonymous = _anonymous(props)
        ref: UserRef = ("a", distinct) if anonymous else ("u", distinct)
        sets = _person_sets(row, props)
        if event in _MERGES:
            other = id_value(props.get(_MERGES[event]), _MERGES[event])
            ops: list[tuple[Any, ...]] = [("seen", "user", ("u", distinct))]
            if other is not None:
                ops.append(("alias", other, distinct))
            ops += [("traits", "user", ("u", distinct), t, mode) for mode, t in sets]
            sink.identity_row(table, source, ts, ops, dedup=event_id, row=row)
            return
        if event == _GROUP_IDENTIFY:
            kind = props.get("$group_type")
            key = id_value(props.get("$group_key"), "$group_key")
            if key is None or not isinstance(kind, str):
                raise FieldError("a $groupidentify event needs $group_type and $group_key",
                                 reason="missing_identity", field="$group_key")
            ops = []
            if group_type is None or kind == group_type:
                traits = mapping_value(json_object(props.get("$group_set"), "$group_set",
                                                   "traits"), "$group_set", "traits")
                ops = [("seen", "account", key), ("traits", "account", key, traits, "set")]
            sink.identity_row(table, source, ts, ops, dedup=event_id, row=row)
            return
        name = name_value(raw_event, "event")
        groups = json_object(props.get("$groups"), "$groups", "properties")
        account = group_account(groups, group_type, "$groups")
        kept = {k: v for k, v in props.items() if k not in _RESERVED}
    except FieldError as exc:
        sink.reject(table, source, exc.reason, str(exc), row)
        return
    if not sink.event(source, ts, name, user=None if anonymous else distinct, account=account,
                      event_id=event_id, properties=kept,
                      anonymous=(distinct,) if anonymous else (), row=row):
        return
    for mode, traits in sets:
        sink.traits("user", ref, traits, ts, mode, of_event=True)


def from_posthog(
    rows: Iterable[Mapping[str, Any]] | str | PathLike[str],
    *,
    group_type: str | None = None,
    anonymous: AnonymousPolicy = "merge",
    account_policy: AccountPolicy = "first",
    strict: bool = False,
    future_tolerance: str | timedelta | None = None,
    now: datetime | str | None = None,
) -> EventLog:
    """Load PostHog events (a batch export's JSON lines, the events API, capture bodies).

    Args:
        rows: parsed events (dicts), or the path of a JSON-lines file (gzipped or not).
        group_type: the ``$groups`` type that is the account (e.g. ``"company"``). Without
            it an event may name one group type; one naming several raises an error asking
            for this option.
        anonymous: events flagged ``$is_identified: false`` (or
            ``$process_person_profile: false``) are anonymous. ``"merge"`` (default) gives
            them to the person a ``$identify`` (``$anon_distinct_id``), ``$create_alias`` or
            ``$merge_dangerously`` event merged their ``distinct_id`` into, and rejects the
            rest as ``anonymous_only``; ``"keep"`` keeps them under their ``distinct_id``;
            ``"reject"`` rejects them all.
        account_policy: a user's account in the users table when their events name
            several: ``"first"`` (default), ``"latest"``, or ``"reject"``.
        strict: raise :class:`~pqlkit.errors.RejectedRowError` at the first rejected row.
        future_tolerance: reject events later than ``now`` plus this (e.g. ``"1d"``).
        now: what ``future_tolerance`` counts from (default: the wall clock at load).

    ``uuid`` de-duplicates. ``$set`` (latest wins) and ``$set_once`` (earliest wins)
    become user traits; ``$groupidentify`` events give account traits (``$group_set``;
    table ``accounts``); ``$identify``, ``$create_alias`` and ``$merge_dangerously``
    merge distinct ids (aliases are applied in time order, and an id already merged into
    one person is never moved to another), count as kept in the table ``identities``,
    and are not events. Timestamps without a zone are read as UTC, the zone PostHog
    stores. Properties are kept as sent, minus the identity plumbing read into the log:
    ``$set``, ``$set_once``, ``$groups``, ``$anon_distinct_id``, ``distinct_id``,
    ``token``, ``$group_type``, ``$group_key`` and ``$group_set``.

    Example:
        >>> import pqlkit.io
        >>> log = pqlkit.io.from_posthog([
        ...     {"uuid": "0190-a", "event": "$pageview", "distinct_id": "anon-7",
        ...      "timestamp": "2026-05-01T08:00:00Z",
        ...      "properties": {"$is_identified": False, "$pathname": "/pricing"}},
        ...     {"uuid": "0190-b", "event": "$identify", "distinct_id": "ada@acme.io",
        ...      "timestamp": "2026-05-01T08:05:00Z",
        ...      "properties": {"$anon_distinct_id": "anon-7", "$set": {"role": "admin"}}},
        ...     {"uuid": "0190-c", "event": "insight created", "distinct_id": "ada@acme.io",
        ...      "timestamp": "2026-05-01T09:00:00Z",
        ...      "properties": {"$groups": {"company": "acme"}}},
        ... ], group_type="company")
        >>> [(e.name, e.user_id, e.account_id) for e in log.events()]
        [('$pageview', 'ada@acme.io', None), ('insight created', 'ada@acme.io', 'acme')]
        >>> log.report.tables["identities"]
        {'input': 1, 'kept': 1, 'duplicates': 0, 'rejected': 0}
    """
    check_key_option(group_type, "group_type", where="from_posthog",
                     names="a group type (a key of $groups)", example="company")
    source_rows, label = rows_of(rows, what="from_posthog")
    sink = Sink(strict=strict, future_tolerance=future_tolerance, now=now,
                anonymous=anonymous, account_policy=account_policy, label=label)
    sink.table("events")
    for source, row in source_rows:
        _row(sink, source, row, group_type)
    return sink.finish()
