"""The accumulator behind every row-oriented reader and adapter of :mod:`pqlkit.io`.

Adapters validate each input row with the record checks, store the events they keep in
compact columns, and declare the identity facts a row carries (anonymous-id links, aliases,
traits, account memberships). :meth:`Sink.finish` resolves identities by the documented
policies and builds one EventLog whose report counts every input row under its own line
number or position.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, Final, Literal

import attrs
import numpy as np

from pqlkit._columns import sparse_coded
from pqlkit._time import from_micros
from pqlkit.errors import PqlkitError, PqlkitTypeError, ValidationError
from pqlkit.eventlog import EventLog, canonical, check_strict, id_key
from pqlkit.io._source import BadLine
from pqlkit.records import (
    Account,
    EntityId,
    FieldError,
    User,
    check_not_future,
    future_limit,
)
from pqlkit.report import LoadReport, Rejection

__all__ = ["ACCOUNT_POLICIES", "ANONYMOUS_POLICIES", "Sink"]

AnonymousPolicy = Literal["merge", "keep", "reject"]
AccountPolicy = Literal["first", "latest", "reject"]
ANONYMOUS_POLICIES: Final = ("merge", "keep", "reject")
ACCOUNT_POLICIES: Final = ("first", "latest", "reject")

# Strings repeat endlessly in event data (names, ids, plan names); one shared object per
# distinct value keeps the columns at a pointer per row. Capped so a column of unique
# values cannot grow the table without bound.
_INTERN_MAX: Final = 1 << 21
_INTERN_LEN: Final = 128

UserRef = tuple[str, Any]  # ("u", user_id) or ("a", anonymous key)
_Op = tuple[Any, ...]


def check_choice(value: Any, allowed: tuple[str, ...], what: str) -> Any:
    """Validate a keyword option against its allowed values, repeating the call's spelling."""
    if value not in allowed:
        raise ValidationError(
            f"{what} must be one of {', '.join(map(repr, allowed))}, got {value!r}"
        )
    return value


def check_key_option(value: Any, what: str, *, where: str, names: str, example: str
                     ) -> str | None:
    """Validate an option naming one key of the rows (``group_type=``, ``group_key=``): a
    non-empty string or None. Checked at the call: a bad one would match no row, and every
    event would lose its account without a word."""
    if value is None:
        return None
    if not isinstance(value, str):
        several = ("; give one: each event names one account"
                   if isinstance(value, list | tuple | set | frozenset) else "")
        raise PqlkitTypeError(
            f"{where}: {what}= must be a string naming {names}, such as {example!r}, or None; "
            f"got {value!r} ({type(value).__name__}){several}")
    if not value:
        raise ValidationError(
            f"{where}: {what}= must name {names}, such as {example!r}, or None; got an "
            "empty string")
    return value


def _canon(value: Any) -> str:
    return canonical({"v": value})


@attrs.define
class _IdentityRow:
    """A row that carries identity or traits rather than an event (kept, not scored)."""

    table: str
    source: int
    ts: int
    dedup: Any
    ops: tuple[_Op, ...]
    payload: str
    sample: Any
    needs: UserRef | None = None
    rejected: bool = False


class _Folds:
    """Order-free folds of traits: the latest ``set`` of a key wins, else the earliest
    ``once``; ties broken by the value's canonical text so input order never matters."""

    def __init__(self) -> None:
        self.set: dict[Any, dict[str, tuple[int, Any]]] = {}
        self.once: dict[Any, dict[str, tuple[int, Any]]] = {}

    def add(self, ref: Any, traits: Mapping[str, Any], ts: int, mode: str) -> None:
        later = mode == "set"
        target = (self.set if later else self.once).setdefault(ref, {})
        for key, value in traits.items():
            cur = target.get(key)
            if cur is None or (later and (ts > cur[0] or (ts == cur[0] and _canon(value) > _canon(cur[1])))) or (not later and (
                ts < cur[0] or (ts == cur[0] and _canon(value) < _canon(cur[1]))
            )):
                target[key] = (ts, value)

    def refs(self) -> set[Any]:
        return set(self.set) | set(self.once)

    def merged(self, refs: Iterable[Any]) -> dict[str, Any]:
        """The traits of an entity known under several raw refs (after identity merges)."""
        out = _Folds()
        for ref in refs:
            for mode, table in (("set", self.set), ("once", self.once)):
                for key, (ts, value) in table.get(ref, {}).items():
                    out.add(None, {key: value}, ts, mode)
        values = {k: v for k, (_, v) in out.once.get(None, {}).items()}
        values.update({k: v for k, (_, v) in out.set.get(None, {}).items()})
        return dict(sorted(values.items()))


class _UnionFind:
    """Alias merges of user ids: each alias joins ``previous`` into ``target``'s identity.

    An id already merged into a user stays there: a later alias naming it again is ignored
    (aliases are applied in timestamp order), so a shared device never merges two users.
    """

    def __init__(self) -> None:
        self.parent: dict[Any, Any] = {}

    def find(self, x: Any) -> Any:
        root = x
        while root in self.parent:
            root = self.parent[root]
        while x in self.parent and self.parent[x] != root:  # path compression
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, previous: Any, target: Any) -> None:
        if previous in self.parent:
            return
        b = self.find(target)
        if b != previous:
            self.parent[previous] = b


class Sink:
    """Validated rows in, one EventLog (with its report) out."""

    def __init__(
        self,
        *,
        strict: bool = False,
        future_tolerance: str | timedelta | None = None,
        now: datetime | str | None = None,
        anonymous: AnonymousPolicy = "keep",
        account_policy: AccountPolicy = "first",
        label: Callable[[int], int | str] | None = None,
        derive_entities: bool = True,
    ) -> None:
        check_strict(strict)
        self.strict = strict
        self.limit = future_limit(future_tolerance, now)
        self.anonymous = check_choice(anonymous, ANONYMOUS_POLICIES, "anonymous")
        self.account_policy = check_choice(account_policy, ACCOUNT_POLICIES, "account_policy")
        self.label: Callable[[int], int | str] = label or (lambda s: s)
        # Vendor adapters build the users and accounts tables from identify/group rows and
        # traits; plain readers take those tables as given and derive nothing.
        self.derive_entities = derive_entities
        self.report = LoadReport()
        self._strings: dict[str, str] = {}
        self._ts = array("q")
        self._source = array("q")
        self._name: list[str] = []
        self._user: list[EntityId | None] = []
        self._anon: dict[int, tuple[Any, ...]] = {}
        self._account: list[EntityId | None] = []
        self._event_id: list[EntityId | None] = []
        self._props: dict[str, tuple[array[int], list[Any]]] = {}
        self._identity: list[_IdentityRow] = []
        self._traits = {"user": _Folds(), "account": _Folds()}
        self._created: dict[tuple[str, Any], int] = {}
        self._anon_link: dict[Any, tuple[int, tuple[int, Any], Any]] = {}
        # Identity facts of stored events (links, traits, signup moments), applied in
        # finish() only for events kept (see _defer).
        self._pending: dict[int, list[tuple[Any, ...]]] = {}
        self._last = -1
        self._losers: set[int] = set()

    # -- counting ----------------------------------------------------------------------------

    def table(self, name: str) -> None:
        """List a table in the report even when no row arrives for it."""
        self.report.add_input(name, 0)

    def count(self, table: str) -> None:
        """Count one input row of ``table`` (every row is counted once, when it arrives)."""
        self.report.add_input(table)

    def unreadable(self, source: int, row: Any, what: str) -> bool:
        """Count and reject a line that is not JSON, or not ``what`` (a JSON object, as a
        mapping); True when it did, so the caller reads no further."""
        if isinstance(row, BadLine):
            self.count("events")
            self.reject("events", source, "invalid_json", row.message, row)
            return True
        if not isinstance(row, Mapping):
            self.count("events")
            self.reject("events", source, "not_a_mapping",
                        f"expected {what}, got {type(row).__name__}", row)
            return True
        return False

    def reject(self, table: str, source: int, reason: str, message: str, row: object) -> None:
        """Reject a counted row; ``strict=True`` raises here, at the first one."""
        r = self.report.reject(table, self.label(source), reason, message, row)
        if self.strict:
            raise r.error()

    def intern(self, value: Any) -> Any:
        if type(value) is str and len(value) <= _INTERN_LEN:
            got = self._strings.get(value)
            if got is not None:
                return got
            if len(self._strings) < _INTERN_MAX:
                self._strings[value] = value
        return value

    # -- events ------------------------------------------------------------------------------

    def event(
        self,
        source: int,
        ts: int,
        name: str,
        *,
        user: EntityId | None,
        account: EntityId | None = None,
        event_id: EntityId | None = None,
        properties: Mapping[str, Any] | None = None,
        anonymous: tuple[Any, ...] = (),
        table: str = "events",
        row: object = None,
    ) -> bool:
        """Store one validated event (already counted); False when it was rejected here.

        ``user`` None with ``anonymous`` keys marks an anonymous-only event, resolved to a
        user (or rejected) by :meth:`finish` according to the ``anonymous`` policy.
        """
        try:
            check_not_future(ts, self.limit)
        except FieldError as exc:
            self.reject(table, source, exc.reason, str(exc), row)
            return False
        if user is None and account is None and not anonymous:
            self.reject(table, source, "missing_identity",
                        "the event names no user and no account", row)
            return False
        if user is None and anonymous and self.anonymous == "reject":
            self.reject(table, source, "anonymous_only",
                        f"the event names only anonymous id {anonymous[0]!r} and "
                        "anonymous='reject' keeps only events of known users", row)
            return False
        pos = len(self._name)
        self._last = pos  # (the event the next link/traits/created(of_event=True) is of)
        self._ts.append(ts)
        self._source.append(source)
        self._name.append(self.intern(name))
        self._user.append(self.intern(user))
        self._account.append(self.intern(account))
        self._event_id.append(event_id)
        if user is None and anonymous:
            self._anon[pos] = anonymous
        if properties:
            for key, value in properties.items():
                if value is None:
                    continue
                col = self._props.get(key)
                if col is None:
                    col = self._props[key] = (array("q"), [])
                col[0].append(pos)
                col[1].append(self.intern(value))
        return True

    # -- identity facts ----------------------------------------------------------------------

    def _defer(self, of_event: bool, fact: tuple[Any, ...]) -> bool:
        """Hold a fact of the event just stored (``of_event``) until :meth:`finish` knows
        whether the event is kept: one rejected later (a conflicting duplicate, a second
        account under ``account_policy="reject"``) must not shape the users table."""
        if of_event:
            self._pending.setdefault(self._last, []).append(fact)
            return True
        return False

    def link(self, anonymous_key: Any, user: Any, ts: int, *, of_event: bool = False) -> None:
        """Record that an anonymous id belongs to a user (seen together on a row).

        An anonymous id linked to several users goes to the one it was linked to first
        (ties by user id), whatever the input order. ``of_event``: the fact comes with the
        event just stored (see :meth:`_defer`).
        """
        if anonymous_key is None or user is None:
            return
        if self._defer(of_event, ("link", anonymous_key, user, ts)):
            return
        cand = (ts, id_key(user), user)
        cur = self._anon_link.get(anonymous_key)
        if cur is None or cand[:2] < cur[:2]:
            self._anon_link[anonymous_key] = cand

    def traits(self, kind: str, ref: Any, traits: Mapping[str, Any], ts: int,
               mode: str = "set", *, of_event: bool = False) -> None:
        """Fold traits seen on an event row (``mode='once'``: the earliest value wins)."""
        if traits and not self._defer(of_event, ("traits", kind, ref, traits, ts, mode)):
            self._traits[kind].add(ref, traits, ts, mode)

    def created(self, kind: str, ref: Any, ts: int, *, of_event: bool = False) -> None:
        """Record a vendor's signup moment for an entity (the earliest one wins)."""
        if self._defer(of_event, ("created", kind, ref, ts)):
            return
        key = (kind, ref)
        cur = self._created.get(key)
        if cur is None or ts < cur:
            self._created[key] = ts

    def identity_row(self, table: str, source: int, ts: int, ops: Iterable[_Op], *,
                     dedup: Any = None, needs: UserRef | None = None, row: object = None) -> None:
        """Keep a row that carries identity or traits (already counted).

        ``ops`` are ``("link", anonymous_key, user_id)``, ``("alias", previous, user_id)``,
        ``("traits", kind, ref, mapping, mode)``, ``("member", user_ref, account_id)``,
        ``("created", kind, ref, ts)`` and ``("seen", kind, ref)``. Rows sharing a
        ``dedup`` id are de-duplicated as events are; ``needs`` names the user the row is
        about, so an anonymous one can be rejected when it never resolves.
        """
        ops = tuple(ops)
        try:
            check_not_future(ts, self.limit)
        except FieldError as exc:
            self.reject(table, source, exc.reason, str(exc), row)
            return
        if needs is not None and needs[0] == "a" and self.anonymous == "reject":
            self.reject(table, source, "anonymous_only",
                        f"the row names only anonymous id {needs[1]!r} and anonymous='reject' "
                        "keeps only rows of known users", row)
            return
        payload = canonical({"ts": ts, "ops": [list(op) for op in ops]}) if dedup is not None \
            else ""
        self._identity.append(_IdentityRow(table=table, source=source, ts=ts, dedup=dedup,
                                           ops=ops, payload=payload, sample=row, needs=needs))

    # -- the end -----------------------------------------------------------------------------

    def _dedup_identity(self) -> list[_IdentityRow]:
        groups: dict[Any, list[_IdentityRow]] = {}
        out: list[_IdentityRow] = []
        for row in self._identity:
            if row.dedup is None:
                out.append(row)
            else:
                groups.setdefault((row.table, row.dedup), []).append(row)
        for (table, dedup), group in groups.items():
            group.sort(key=lambda r: (r.ts, r.payload))
            first = group[0]
            out.append(first)
            for other in group[1:]:
                if other.payload == first.payload:
                    self.report.add_duplicates(table)
                else:
                    self.reject(table, other.source, "conflicting_duplicate",
                                f"id {dedup!r} is shared with a different {table} row "
                                f"(from {table}[{self.label(first.source)}]); kept the "
                                "earliest", other.sample)
        out.sort(key=lambda r: (r.ts, r.payload, r.source))
        return out

    def finish(
        self,
        *,
        users: Iterable[Any] | None = None,
        accounts: Iterable[Any] | None = None,
        tz: Any = None,
        epoch_unit: str | None = None,
    ) -> EventLog:
        """Resolve identities, apply the account policy and build the EventLog.

        ``users``/``accounts`` are input tables passed through by readers (their numeric
        ``created_at`` read in ``epoch_unit``, as the events' timestamps were); adapters
        (``derive_entities``) get the tables they derive from identify/group rows and
        traits instead.
        """
        losers = self._losers = self._conflict_losers()
        # An event's links count unless it is a conflicting copy (they decide whose the
        # anonymous events are, so they come before the rest is known).
        for pos, facts in self._pending.items():
            if pos not in losers:
                for fact in facts:
                    if fact[0] == "link":
                        self.link(*fact[1:])
        identity = self._dedup_identity()
        aliases = _UnionFind()
        anon_link = self._anon_link
        for row in identity:
            for op in row.ops:
                if op[0] == "link":
                    self.link(op[1], op[2], row.ts)
                elif op[0] == "alias":
                    self.link(op[1], op[2], row.ts)
                    aliases.union(op[1], op[2])

        def resolve(ref: UserRef) -> Any:
            if ref[0] == "u":
                return aliases.find(ref[1])
            hit = anon_link.get(ref[1])
            if hit is not None:
                return aliases.find(hit[2])
            return aliases.find(ref[1]) if self.anonymous == "keep" else None

        # Events: resolve each row's user; reject what the anonymous policy does not keep.
        n = len(self._name)
        keep = bytearray(b"\x01") * n
        for pos, keys in self._anon.items():
            user = None
            for key in keys:
                hit = anon_link.get(key)
                if hit is not None:
                    user = aliases.find(hit[2])
                    break
            if user is None and self.anonymous == "keep":
                user = aliases.find(keys[0])
            if user is None:
                keep[pos] = 0
                self.reject("events", self._source[pos], "anonymous_only",
                            f"anonymous id {keys[0]!r} was never linked to a known user "
                            "(identify/alias) in this load; anonymous='keep' keeps such "
                            "events under the anonymous id", self._event_sample(pos))
            else:
                self._user[pos] = user
        if aliases.parent:
            for pos in range(n):
                u = self._user[pos]
                if u is not None and pos not in self._anon:
                    self._user[pos] = aliases.find(u)

        # Identity rows whose user never resolved are rejected like anonymous events.
        kept_identity: list[_IdentityRow] = []
        for row in identity:
            if row.needs is not None and resolve(row.needs) is None:
                self.reject(row.table, row.source, "anonymous_only",
                            f"anonymous id {row.needs[1]!r} was never linked to a known user "
                            "in this load", row.sample)
            else:
                kept_identity.append(row)

        if not self.derive_entities:
            for row in kept_identity:
                self.report.add_kept(row.table)
            return self._build(keep, users=users, accounts=accounts, entities_are_input=True,
                               tz=tz, epoch_unit=epoch_unit)
        membership = self._memberships(kept_identity, keep, resolve)
        # An event's traits and signup moment count only if the event is kept.
        for pos, facts in self._pending.items():
            if keep[pos] and pos not in losers:
                for fact in facts:
                    if fact[0] == "traits":
                        self.traits(*fact[1:])
                    elif fact[0] == "created":
                        self.created(*fact[1:])
        self._pending.clear()
        kept_identity = [row for row in kept_identity if not row.rejected]
        for row in kept_identity:
            self.report.add_kept(row.table)
        derived_users, derived_accounts = self._entities(kept_identity, keep, membership,
                                                         resolve)
        return self._build(keep, users=derived_users, accounts=derived_accounts,
                           entities_are_input=False, tz=tz)

    def _conflict_losers(self) -> set[int]:
        """The stored events the log will reject as conflicting duplicates: those sharing
        an event id with a different, earlier copy. Found by loading just the events that
        share an id, by the log's own rule (anonymous ones, whose user is not known yet,
        are left out)."""
        groups: dict[Any, list[int]] = {}
        for pos, eid in enumerate(self._event_id):
            if eid is not None and pos not in self._anon:
                groups.setdefault(eid, []).append(pos)
        shared = [pos for group in groups.values() if len(group) > 1 for pos in group]
        if not shared:
            return set()
        index = {pos: k for k, pos in enumerate(shared)}
        props: dict[str, Any] = {}
        for key, (positions, values) in self._props.items():
            column = np.full(len(shared), None, dtype=object)
            for pos, value in zip(positions, values, strict=True):
                k = index.get(pos)
                if k is not None:
                    column[k] = value
            props[key] = column

        def objects(values: list[Any]) -> Any:
            out = np.empty(len(shared), dtype=object)
            out[:] = [values[pos] for pos in shared]
            return out

        log = EventLog.from_columns(
            name=objects(self._name), user_id=objects(self._user),
            account_id=objects(self._account), event_id=objects(self._event_id),
            timestamp=np.array([self._ts[pos] for pos in shared],
                               dtype=np.int64).view("datetime64[us]"),
            properties=props)
        return {shared[int(r.source)] for r in log.report.rejections
                if r.reason == "conflicting_duplicate"}

    def _event_sample(self, pos: int) -> dict[str, Any]:
        return {"name": self._name[pos], "timestamp": from_micros(self._ts[pos]).isoformat(),
                "user_id": self._user[pos], "anonymous": self._anon.get(pos),
                "account_id": self._account[pos], "event_id": self._event_id[pos]}

    def _memberships(self, identity: list[_IdentityRow], keep: bytearray,
                     resolve: Callable[[UserRef], Any]) -> dict[Any, Any]:
        """Each user's account for the users table, by ``account_policy``.

        A membership is seen on a group row or on an event that names an account; per user
        and account the earliest (or, for ``"latest"``, the latest) sighting counts, ties
        broken by the account id, so the choice never depends on input order.
        """
        latest = self.account_policy == "latest"
        seen: dict[Any, dict[Any, int]] = {}

        def sight(user: Any, account: Any, ts: int) -> None:
            per = seen.setdefault(user, {})
            cur = per.get(account)
            if cur is None or (ts > cur if latest else ts < cur):
                per[account] = ts

        for row in identity:
            for op in row.ops:
                if op[0] == "member":
                    user = resolve(op[1])
                    if user is not None:
                        sight(user, op[2], row.ts)
        users, accounts, ts_col = self._user, self._account, self._ts
        for pos in range(len(accounts)):
            a = accounts[pos]
            if a is not None and keep[pos] and users[pos] is not None and \
                    pos not in self._losers:
                sight(users[pos], a, ts_col[pos])
        home: dict[Any, Any] = {}
        since: dict[Any, int] = {}
        for user, per in seen.items():
            if latest:
                ts, _, account = max((t, id_key(a), a) for a, t in per.items())
            else:
                ts, _, account = min((t, id_key(a), a) for a, t in per.items())
            home[user], since[user] = account, ts
        if self.account_policy != "reject":
            return home

        def message(user: Any, account: Any) -> str:
            return (f"user {user!r} already belongs to account {home[user]!r} (since "
                    f"{from_micros(since[user]).isoformat()}); this row puts them in "
                    f"{account!r} and account_policy='reject' keeps one account per user")

        for row in identity:
            for op in row.ops:
                if op[0] == "member":
                    user = resolve(op[1])
                    if user is not None and op[2] != home[user]:
                        row.rejected = True
                        self.reject(row.table, row.source, "multiple_accounts",
                                    message(user, op[2]), row.sample)
                        break
        for pos in range(len(accounts)):
            a = accounts[pos]
            if a is not None and keep[pos] and users[pos] is not None and \
                    a != home[users[pos]] and pos not in self._losers:
                keep[pos] = 0
                self.reject("events", self._source[pos], "multiple_accounts",
                            message(users[pos], a), self._event_sample(pos))
        return home

    def _entities(self, identity: list[_IdentityRow], keep: bytearray, home: dict[Any, Any],
                  resolve: Callable[[UserRef], Any]) -> tuple[list[User], list[Account]]:
        traits = self._traits
        created = dict(self._created)
        first_seen: dict[tuple[str, Any], int] = {}

        def seen(key: tuple[str, Any], ts: int) -> None:
            cur = first_seen.get(key)
            if cur is None or ts < cur:
                first_seen[key] = ts

        user_refs: dict[Any, set[Any]] = {}
        for row in identity:
            for op in row.ops:
                kind = op[0]
                if kind == "traits":
                    traits[op[1]].add(op[2], op[3], row.ts, op[4])
                    seen((op[1], op[2]), row.ts)
                elif kind == "created":
                    cur = created.get((op[1], op[2]))
                    if cur is None or op[3] < cur:
                        created[(op[1], op[2])] = op[3]
                elif kind == "seen":
                    seen((op[1], op[2]), row.ts)
                elif kind == "member":
                    seen(("user", op[1]), row.ts)
                    seen(("account", op[2]), row.ts)
        # Raw user refs (ids and anonymous keys) of each resolved user.
        for ref in traits["user"].refs() | {r for (k, r) in created if k == "user"}:
            user = resolve(ref)
            if user is not None:
                user_refs.setdefault(user, set()).add(ref)
        for key in list(first_seen):
            if key[0] == "user":
                user = resolve(key[1])
                if user is not None and ("user", ("u", user)) != key:
                    seen(("user", ("u", user)), first_seen.pop(key))
        for pos in range(len(self._name)):
            if keep[pos]:
                ts = self._ts[pos]
                if self._user[pos] is not None:
                    seen(("user", ("u", self._user[pos])), ts)
                if self._account[pos] is not None:
                    seen(("account", self._account[pos]), ts)

        users: list[User] = []
        for user in sorted(set(user_refs) | set(home), key=id_key):
            refs = user_refs.get(user, set())
            signup = [created[("user", r)] for r in refs if ("user", r) in created]
            start = min(signup) if signup else first_seen.get(("user", ("u", user)))
            users.append(User(user_id=user, account_id=home.get(user),
                              traits=traits["user"].merged(refs),
                              created_at=None if start is None else from_micros(start)))
        accounts: list[Account] = []
        account_ids = traits["account"].refs() | {r for (k, r) in created if k == "account"}
        for account in sorted(account_ids, key=id_key):
            start = created.get(("account", account), first_seen.get(("account", account)))
            accounts.append(Account(account_id=account,
                                    traits=traits["account"].merged([account]),
                                    created_at=None if start is None else from_micros(start)))
        return users, accounts

    def _kept(self, keep: bytearray) -> list[int]:
        return [pos for pos in range(len(self._name)) if keep[pos]]

    def _load(self, kept: list[int], users: Iterable[Any] | None,
              accounts: Iterable[Any] | None, tz: Any, epoch_unit: str | None = None
              ) -> EventLog:
        """One EventLog of the kept events, handed over as columns."""
        take = np.asarray(kept, dtype=np.int64)
        everything = len(kept) == len(self._name)

        def column(values: list[Any]) -> Any:
            out = np.empty(len(values), dtype=object)
            out[:] = values
            values.clear()  # the sink is done with it; the array holds the same objects
            return out if everything else out[take]

        ts = np.frombuffer(self._ts, dtype=np.int64)[take].view("datetime64[us]") \
            if len(self._ts) else np.empty(0, dtype="datetime64[us]")
        where = np.full(len(self._name), -1, dtype=np.int64)
        where[take] = np.arange(len(take))
        props = {}
        for key, (positions, values) in sorted(self._props.items()):
            pos = np.frombuffer(positions, dtype=np.int64)
            dest = where[pos]
            present = dest >= 0
            vals = np.empty(len(values), dtype=object)
            vals[:] = values
            # (Not a column of every event per key: 25M steps at 25k events, 1,000 keys.)
            props[key] = sparse_coded(dest[present], vals[present], len(take))
        self._props.clear()
        return EventLog.from_columns(name=column(self._name), timestamp=ts,
                                     user_id=column(self._user),
                                     account_id=column(self._account),
                                     event_id=column(self._event_id), properties=props,
                                     users=users, accounts=accounts, tz=tz,
                                     epoch_unit=epoch_unit)

    def _build(self, keep: bytearray, *, users: Iterable[Any] | None,
               accounts: Iterable[Any] | None, entities_are_input: bool, tz: Any,
               epoch_unit: str | None = None) -> EventLog:
        kept = self._kept(keep)
        log = self._load(kept, users, accounts, tz, epoch_unit)
        self._name_sources(log, kept)
        built = log.report
        report = self.report
        events = built.tables.get("events", {})
        report.add_kept("events", events.get("kept", 0))
        report.add_duplicates("events", events.get("duplicates", 0))
        for table in ("users", "accounts"):
            counts = built.tables.get(table)
            if counts is None:
                continue
            if entities_are_input:
                report.add_input(table, counts["input"])
                report.add_kept(table, counts["kept"])
                report.add_duplicates(table, counts["duplicates"])
        later: list[Rejection] = []
        for r in built.rejections:
            if r.table == "events":
                source = self.label(self._source[kept[int(r.source)]])
                message = _EVENTS_REF.sub(
                    lambda m: f"events[{self.label(self._source[kept[int(m.group(1))]])}]",
                    r.message)
                later.append(attrs.evolve(r, source=source, message=message))
            elif entities_are_input:
                later.append(r)
            else:  # pragma: no cover - derived entities are valid by construction
                raise PqlkitError(f"pqlkit.io built an invalid {r.table} row: {r.message}")
        for r in sorted(later, key=lambda r: (r.table, _source_key(r.source))):
            report.rejections.append(r)
            report.tables.setdefault(r.table, {"input": 0, "kept": 0, "duplicates": 0,
                                               "rejected": 0})["rejected"] += 1
            if self.strict:
                raise r.error()
        report.rejections.sort(key=lambda r: (_TABLE_ORDER.get(r.table, 9), r.table,
                                              _source_key(r.source)))
        log.report = report
        # Users and accounts folded from identify/group calls over time: EventLog.concat
        # of such logs cannot give one load's (it has not the calls to fold again).
        log._entities_derived = not entities_are_input
        return log


    def _name_sources(self, log: EventLog, kept: list[int]) -> None:
        """Make ``log.source(i)`` name event ``i``'s input row (line, or ``"member:line"``
        in an archive), as its rejections do: the log was built over the kept rows only."""
        n = len(log)
        if not n:
            return
        from pqlkit.eventlog import _deltas

        given = np.arange(n, dtype=np.int64)
        if log._src is not None:  # rows of the columns handed over, when some were dropped
            given += log._src
        sources = np.frombuffer(self._source, dtype=np.int64)[
            np.asarray(kept, dtype=np.int64)[given]]
        # A label is the source itself, unless it can split sources into member and line
        # (pqlkit.io._source._FileRows: rows read from an archive).
        split = getattr(self.label, "split", None)
        rows, at, prefixes = split(sources) if split is not None else (sources, None, [])
        log._src = _deltas(rows)
        if at is not None:
            log._src_prefix, log._prefixes = at, tuple(prefixes)


_EVENTS_REF: Final = re.compile(r"events\[(\d+)\]")
_TABLE_ORDER: Final = {"events": 0, "users": 1, "accounts": 2}


def _source_key(source: int | str) -> tuple[Any, ...]:
    if isinstance(source, int):
        return (0, source, "")
    head, _, tail = str(source).rpartition(":")
    return (1, head, int(tail)) if tail.isdigit() else (2, str(source), 0)
