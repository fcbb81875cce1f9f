"""Segment (and RudderStack, which speaks the same spec) messages onto an EventLog.

``track``, ``page`` and ``screen`` calls become events; ``identify`` calls give user traits,
``group`` calls account traits and memberships, ``alias`` calls merge identities. Field
meanings follow Segment's Spec (https://segment.com/docs/connections/spec/).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from os import PathLike
from typing import Any, Final

from pqlkit.errors import PqlkitTypeError
from pqlkit.eventlog import EventLog
from pqlkit.io._convert import id_value, mapping_value, name_value, timestamp_us
from pqlkit.io._sink import AccountPolicy, AnonymousPolicy, Sink, UserRef
from pqlkit.io._source import rows_of
from pqlkit.records import FieldError

__all__ = ["from_rudderstack", "from_segment"]

_TABLES: Final = {"track": "events", "page": "events", "screen": "events",
                  "identify": "users", "group": "accounts", "alias": "aliases"}
_SIGNUP_TRAITS: Final = ("createdAt", "created_at")


def _timestamp(msg: Mapping[str, Any]) -> int:
    """Segment's ``timestamp`` is the clock to trust: it is the client's
    ``originalTimestamp`` corrected for client clock skew with ``sentAt`` and
    ``receivedAt``. A raw payload without it gets the same correction here."""
    if msg.get("timestamp") not in (None, ""):
        return timestamp_us(msg["timestamp"], "timestamp")
    original = msg.get("originalTimestamp")
    if original in (None, ""):
        raise FieldError("timestamp is missing (and so is originalTimestamp)",
                         reason="missing_timestamp", field="timestamp")
    ts = timestamp_us(original, "originalTimestamp")
    sent, received = msg.get("sentAt"), msg.get("receivedAt")
    if sent not in (None, "") and received not in (None, ""):
        ts = timestamp_us(received, "receivedAt") - (timestamp_us(sent, "sentAt") - ts)
    return ts


def _signup(traits: Mapping[str, Any]) -> tuple[str, int] | None:
    for key in _SIGNUP_TRAITS:
        value = traits.get(key)
        if value is not None:
            return key, timestamp_us(value, f"traits.{key}")
    return None


def _group_of(msg: Mapping[str, Any]) -> Any:
    context = msg.get("context")
    if isinstance(context, Mapping):
        return id_value(context.get("groupId"), "context.groupId")
    return None


def _message(sink: Sink, source: int, msg: Any, pages: bool) -> None:
    if sink.unreadable(source, msg, "a Segment message (a JSON object)"):
        return
    kind = msg.get("type")
    if kind is None and "event" in msg:
        kind = "track"  # an HTTP API /v1/track body: the endpoint, not a field, said so
    if not isinstance(kind, str):
        kind = repr(kind)
    table = _TABLES.get(kind, "events")
    sink.count(table)
    if kind not in _TABLES or (not pages and kind in ("page", "screen")):
        why = (f"{kind} calls are excluded by pages=False" if kind in ("page", "screen")
               else f"message type {kind!r} is not one pqlkit reads (track, page, screen, "
               "identify, group, alias)")
        sink.reject(table, source, "unsupported_message", why, msg)
        return
    try:
        ts = _timestamp(msg)
        user = id_value(msg.get("userId"), "userId")
        anon = id_value(msg.get("anonymousId"), "anonymousId")
        message_id = id_value(msg.get("messageId"), "messageId")
        if kind in ("track", "page", "screen"):
            _event(sink, source, msg, kind, ts, user, anon, message_id)
            return
        ref: UserRef | None = ("u", user) if user is not None else (
            ("a", anon) if anon is not None else None)
        ops: list[tuple[Any, ...]] = []
        if user is not None and anon is not None:
            ops.append(("link", anon, user))
        if kind == "identify":
            if ref is None:
                raise FieldError("an identify call needs a userId or an anonymousId",
                                 reason="missing_identity", field="userId")
            traits = mapping_value(msg.get("traits"), "traits", "traits")
            ops += [("seen", "user", ref), ("traits", "user", ref, traits, "set")]
            signup = _signup(traits)
            if signup is not None:
                ops.append(("created", "user", ref, signup[1]))
            sink.identity_row(table, source, ts, ops, dedup=message_id, row=msg,
                              needs=ref if ref[0] == "a" else None)
        elif kind == "group":
            group = id_value(msg.get("groupId"), "groupId")
            if group is None:
                raise FieldError("a group call needs a groupId", reason="missing_identity",
                                 field="groupId")
            traits = mapping_value(msg.get("traits"), "traits", "traits")
            ops += [("seen", "account", group), ("traits", "account", group, traits, "set")]
            signup = _signup(traits)
            if signup is not None:
                ops.append(("created", "account", group, signup[1]))
            if ref is not None:
                ops.append(("member", ref, group))
            sink.identity_row(table, source, ts, ops, dedup=message_id, row=msg)
        else:  # alias
            previous = id_value(msg.get("previousId"), "previousId")
            if user is None or previous is None:
                raise FieldError("an alias call needs both a userId and a previousId",
                                 reason="missing_identity",
                                 field="userId" if user is None else "previousId")
            ops.append(("alias", previous, user))
            sink.identity_row(table, source, ts, ops, dedup=message_id, row=msg)
    except FieldError as exc:
        sink.reject(table, source, exc.reason, str(exc), msg)


def _event(sink: Sink, source: int, msg: Mapping[str, Any], kind: str, ts: int, user: Any,
           anon: Any, message_id: Any) -> None:
    props = mapping_value(msg.get("properties"), "properties")
    if kind == "track":
        name = name_value(msg.get("event"), "event")
    else:
        # Segment's own convention for page and screen calls in event-based destinations.
        label = msg.get("name")
        label = label if isinstance(label, str) and label.strip() else None
        noun = "Page" if kind == "page" else "Screen"
        name = name_value(f"Viewed {label} {noun}" if label else f"Loaded a {noun}", "name")
        extra = {k: msg[k] for k in ("name", "category")
                 if isinstance(msg.get(k), str) and k not in props}
        if extra:
            props = {**props, **extra}
    account = _group_of(msg)
    stored = sink.event(source, ts, name, user=user, account=account, event_id=message_id,
                        properties=props, anonymous=(anon,) if anon is not None else (),
                        row=msg)
    if stored and user is not None:
        # (Only a row kept here ties its anonymous id to the user: a rejected one, say a
        # future timestamp, must not decide whose the anonymous events are.)
        sink.link(anon, user, ts, of_event=True)


def from_segment(
    messages: Iterable[Mapping[str, Any]] | str | PathLike[str],
    *,
    anonymous: AnonymousPolicy = "merge",
    account_policy: AccountPolicy = "first",
    pages: bool = True,
    strict: bool = False,
    future_tolerance: str | timedelta | None = None,
    now: datetime | str | None = None,
) -> EventLog:
    """Load Segment or RudderStack messages (track, page, screen, identify, group, alias).

    Args:
        messages: parsed messages (dicts), or the path of a JSON-lines file of them
            (gzip-compressed files are read as such), streamed a line at a time.
        anonymous: what to do with rows that carry only an ``anonymousId``:
            ``"merge"`` (default) gives them to the user an ``identify``/``alias`` call or
            any message with both ids linked that anonymous id to, and rejects the rest as
            ``anonymous_only``; ``"keep"`` keeps the unlinked ones under the anonymous id
            as their user id; ``"reject"`` rejects every row without a ``userId``.
        account_policy: the one account of a user seen in several (``group`` calls, or
            ``context.groupId`` on events): ``"first"`` (default) or ``"latest"`` by
            timestamp; ``"reject"`` rejects the rows naming any account after the first.
            Events keep the account they name themselves either way.
        pages: read ``page``/``screen`` calls as events named ``"Viewed {name} Page"``
            (``"Loaded a Page"`` without a name), Segment's own convention; with
            ``pages=False`` they are rejected as ``unsupported_message``.
        strict: raise :class:`~pqlkit.errors.RejectedRowError` at the first rejected row.
        future_tolerance: reject events later than ``now`` plus this (e.g. ``"1d"``).
        now: what ``future_tolerance`` counts from (default: the wall clock at load).

    Returns:
        An :class:`~pqlkit.EventLog` whose ``report`` has one table per message kind:
        ``events`` (track, page, screen, and rows of unknown type), ``users``
        (identify), ``accounts`` (group) and ``aliases`` (alias). Identify, group and
        alias calls count as kept: they give traits, created-at moments (the
        ``createdAt`` trait) and memberships, not events. A ``messageId`` seen twice
        counts once.

    Example:
        >>> import pqlkit.io
        >>> log = pqlkit.io.from_segment([
        ...     {"type": "identify", "userId": "u1", "anonymousId": "a1",
        ...      "traits": {"email": "ada@acme.io"}, "messageId": "m1",
        ...      "timestamp": "2026-05-01T09:00:00Z"},
        ...     {"type": "track", "anonymousId": "a1", "event": "Pricing Viewed",
        ...      "messageId": "m2", "timestamp": "2026-05-01T08:55:00Z"},
        ...     {"type": "group", "userId": "u1", "groupId": "acme",
        ...      "traits": {"plan": "trial"}, "messageId": "m3",
        ...      "timestamp": "2026-05-01T09:01:00Z"},
        ... ])
        >>> [(e.name, e.user_id) for e in log.events()]
        [('Pricing Viewed', 'u1')]
        >>> [(u.user_id, u.account_id, dict(u.traits)) for u in log.users()]
        [('u1', 'acme', {'email': 'ada@acme.io'})]
        >>> log.report.counts
        {'input': 3, 'kept': 3, 'duplicates': 0, 'rejected': 0}
    """
    if not isinstance(pages, bool):
        raise PqlkitTypeError(f"pages must be True or False, got {pages!r}")
    rows, label = rows_of(messages, what="from_segment")
    sink = Sink(strict=strict, future_tolerance=future_tolerance, now=now,
                anonymous=anonymous, account_policy=account_policy, label=label)
    sink.table("events")
    for source, msg in rows:
        _message(sink, source, msg, pages)
    return sink.finish()


def from_rudderstack(
    messages: Iterable[Mapping[str, Any]] | str | PathLike[str],
    *,
    anonymous: AnonymousPolicy = "merge",
    account_policy: AccountPolicy = "first",
    pages: bool = True,
    strict: bool = False,
    future_tolerance: str | timedelta | None = None,
    now: datetime | str | None = None,
) -> EventLog:
    """Load RudderStack messages: the Segment spec, read by :func:`from_segment`."""
    return from_segment(messages, anonymous=anonymous, account_policy=account_policy,
                        pages=pages, strict=strict, future_tolerance=future_tolerance, now=now)
