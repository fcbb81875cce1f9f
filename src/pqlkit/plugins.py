"""Plugin discovery: every signal, rule and decay a model file may name, built-in or not.

Names are looked up in the entry-point groups ``pqlkit.signals``, ``pqlkit.rules`` and
``pqlkit.decays``. pqlkit registers its own built-ins in its ``pyproject.toml`` under the
same groups, so they are found the same way a third party's are. A source checkout that was
never installed has no entry-point metadata for pqlkit; then (and only then) the built-ins
come from :data:`BUILTINS`, the same table, which a test keeps equal to ``pyproject.toml``.

Plugins load lazily, one name at a time: a plugin that fails to import is reported by name
when it is used (and by :meth:`Registry.problems`) without hiding the others.

>>> reg = registry()
>>> reg.get("signal", "count")("invite") >= 2
count('invite') >= 2
>>> reg.get("decay", "HalfLife")
<class 'pqlkit.model.HalfLife'>
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Iterable
from typing import Any, Final, Literal

import attrs

from pqlkit.errors import PluginError

__all__ = ["BUILTINS", "GROUPS", "Kind", "PluginInfo", "Registry", "refresh", "registry"]

Kind = Literal["signal", "rule", "decay"]

#: The entry-point group of each kind of plugin.
GROUPS: Final[dict[Kind, str]] = {
    "signal": "pqlkit.signals",
    "rule": "pqlkit.rules",
    "decay": "pqlkit.decays",
}

#: pqlkit's own entry points, as in its pyproject.toml (used when that metadata is absent).
BUILTINS: Final[dict[Kind, dict[str, str]]] = {
    "signal": {
        name: f"pqlkit.expr:{name}"
        for name in (
            "count", "exists", "first_seen", "last_seen", "days_since_last",
            "days_since_first", "active_days", "distinct", "total", "trait",
            "distinct_users", "active_users", "prop",
        )
    },
    "rule": {"Rule": "pqlkit.model:Rule"},
    "decay": {
        "InactivityDecay": "pqlkit.model:InactivityDecay",
        "HalfLife": "pqlkit.model:HalfLife",
        "ResetAfter": "pqlkit.model:ResetAfter",
    },
}

_SELF: Final = "pqlkit"
_CHECKOUT: Final = "pqlkit (source checkout)"


@attrs.frozen
class PluginInfo:
    """One distribution's claim on a name: ``value`` is the ``module:attribute`` it loads."""

    kind: Kind
    name: str
    value: str
    distribution: str

    @property
    def builtin(self) -> bool:
        """Whether pqlkit itself provides it."""
        return self.distribution in (_SELF, _CHECKOUT)

    def label(self) -> str:
        """The name, with the distribution when it is not pqlkit's own."""
        return self.name if self.builtin else f"{self.name} ({self.distribution})"


@attrs.define
class _Slot:
    claims: list[PluginInfo]
    loaded: bool = False
    obj: Any = None
    error: str | None = None


def _load(info: PluginInfo) -> Any:
    from importlib.metadata import EntryPoint

    return EntryPoint(info.name, info.value, GROUPS[info.kind]).load()


class Registry:
    """The signals, rules and decays that can be named, and who provides each.

    Build one with :func:`registry` (cached, from the installed entry points) or, in tests,
    from explicit :class:`PluginInfo` claims.
    """

    def __init__(self, claims: Iterable[PluginInfo]) -> None:
        self._slots: dict[Kind, dict[str, _Slot]] = {kind: {} for kind in GROUPS}
        for info in claims:
            slot = self._slots[info.kind].setdefault(info.name, _Slot([]))
            if info not in slot.claims:
                slot.claims.append(info)
        self._aliases: dict[Kind, dict[str, list[str]] | None] = dict.fromkeys(GROUPS)

    @classmethod
    def discover(cls) -> Registry:
        """Read the installed entry points (pqlkit's own included)."""
        from importlib.metadata import entry_points

        claims: list[PluginInfo] = []
        for kind, group in GROUPS.items():
            found = []
            for ep in entry_points(group=group):
                dist = getattr(ep, "dist", None)
                name = dist.name if dist is not None else "unknown distribution"
                found.append(PluginInfo(kind, ep.name, ep.value, name))
            if not any(info.distribution == _SELF for info in found):
                # An uninstalled checkout: pqlkit's metadata is missing, not its built-ins.
                found += [PluginInfo(kind, name, value, _CHECKOUT)
                          for name, value in BUILTINS[kind].items()]
            claims += found
        return cls(claims)

    def names(self, kind: Kind) -> list[str]:
        """Every name of this kind, sorted."""
        return sorted(self._slots[kind])

    def claims(self, kind: Kind, name: str) -> list[PluginInfo]:
        """Who claims ``name`` (more than one is a conflict)."""
        slot = self._slots[kind].get(name)
        return list(slot.claims) if slot else []

    def describe(self, kind: Kind) -> str:
        """The names of this kind as a readable list, plugins with their distribution."""
        labels = []
        for name in self.names(kind):
            claims = self._slots[kind][name].claims
            labels.append(" / ".join(c.label() for c in claims) if len(claims) > 1
                          else claims[0].label())
        return ", ".join(labels) or "none"

    def has(self, kind: Kind, name: str) -> bool:
        """Whether ``name`` (or a class name of a plugin of this kind) is known."""
        return name in self._slots[kind] or name in self._alias_map(kind)

    def get(self, kind: Kind, name: str) -> Any:
        """The object registered as ``name``: the builder function or class to call.

        A registered class can also be named by its class name (``StorageQuotaProximity``
        for an entry point ``storage_quota_proximity``), which is what its ``repr`` prints.

        Raises:
            PluginError: the name is unknown (the message suggests the closest name and lists
                what is installed), two distributions claim it, or its plugin fails to load.
        """
        slot = self._slots[kind].get(name)
        if slot is not None and self._shadowed(kind, name):
            raise PluginError(self._shadow_message(kind, name))
        if slot is None:
            aliases = self._alias_map(kind).get(name, [])
            if len({id(self._slots[kind][a].obj) for a in aliases}) == 1:
                return self._loaded(kind, aliases[0])  # (one class, maybe under two names)
            if len(aliases) > 1:
                raise PluginError(
                    f"{kind} {name!r} is ambiguous: it is the class name of the {kind}s "
                    f"{', '.join(repr(a) for a in aliases)}; use one of those names"
                )
            raise PluginError(self.unknown_message(kind, name))
        return self._loaded(kind, name)

    def unknown_message(self, kind: Kind, name: str, *, also: Iterable[Kind] = (),
                        what: str | None = None) -> str:
        """"unknown signal 'cuont'; did you mean 'count'? (installed signals: ...)"."""
        kinds = [kind, *also]
        pool = [n for k in kinds for n in (*self._slots[k], *self._alias_map(k))]
        close = difflib.get_close_matches(name, pool, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        listing = "; ".join(f"installed {k}s: {self.describe(k)}" for k in kinds)
        broken = [p for k in kinds for p in self._broken(k)]
        tail = f" (failed to load: {'; '.join(broken)})" if broken else ""
        return f"unknown {what or kind} {name!r}{hint} ({listing}){tail}"

    def name_of(self, kind: Kind, obj: Any) -> str | None:
        """The registered name of ``obj`` (a class or function), if it is registered."""
        for name, slot in sorted(self._slots[kind].items()):
            if len(slot.claims) == 1:
                self._try_load(slot)
                if slot.error is None and slot.obj is obj:
                    return name
        return None

    def problems(self) -> list[str]:
        """Load every plugin and say which fail to load or are claimed twice."""
        out: list[str] = []
        for kind in GROUPS:
            for name, slot in sorted(self._slots[kind].items()):
                if len(slot.claims) > 1:
                    out.append(self._conflict(kind, name, slot))
                    continue
                self._try_load(slot)
                if slot.error is not None:
                    out.append(slot.error)
            for cls_name, names in sorted(self._alias_map(kind).items()):
                if cls_name in self._slots[kind]:
                    if self._shadowed(kind, cls_name):
                        out.append(self._shadow_message(kind, cls_name))
                elif len({id(self._slots[kind][n].obj) for n in names}) > 1:
                    out.append(f"{kind} class name {cls_name!r} is shared by the {kind}s "
                               f"{', '.join(map(repr, names))}: a model file naming "
                               f"{cls_name}(...), which is what repr prints, cannot tell "
                               "them apart")
        return out

    def _loaded(self, kind: Kind, name: str) -> Any:
        slot = self._slots[kind][name]
        if len(slot.claims) > 1:
            raise PluginError(self._conflict(kind, name, slot))
        self._try_load(slot)
        if slot.error is not None:
            raise PluginError(slot.error)
        return slot.obj

    def _conflict(self, kind: Kind, name: str, slot: _Slot) -> str:
        who = " and ".join(f"{c.distribution!r} ({c.value})" for c in slot.claims)
        return (f"{kind} {name!r} is claimed by two distributions, {who}; uninstall one of "
                f"them or ask its authors to rename the entry point in {GROUPS[kind]!r}")

    def _try_load(self, slot: _Slot) -> None:
        if slot.loaded:
            return
        info = slot.claims[0]
        slot.loaded = True
        try:
            obj = _load(info)
        except Exception as exc:  # a plugin's import may fail in any way
            slot.error = (f"{info.kind} {info.name!r} from {info.distribution!r} "
                          f"({info.value}) failed to load: {type(exc).__name__}: {exc}")
            return
        if not callable(obj):
            slot.error = (f"{info.kind} {info.name!r} from {info.distribution!r} "
                          f"({info.value}) is a {type(obj).__name__}, not a class or function")
            return
        slot.obj = obj

    def _broken(self, kind: Kind) -> list[str]:
        return [slot.error for slot in self._slots[kind].values()
                if slot.loaded and slot.error is not None]

    def _alias_map(self, kind: Kind) -> dict[str, list[str]]:
        """Class name -> the registered names of the classes so named. A class name that is
        also another plugin's registered name is listed too (:meth:`_shadowed`)."""
        aliases = self._aliases[kind]
        if aliases is None:
            aliases = {}
            for name, slot in sorted(self._slots[kind].items()):
                if len(slot.claims) > 1:
                    continue
                self._try_load(slot)
                cls_name = getattr(slot.obj, "__name__", None) if isinstance(slot.obj, type) else None
                if cls_name and cls_name != name:
                    aliases.setdefault(cls_name, []).append(name)
            self._aliases[kind] = aliases
        return aliases

    def _shadowed(self, kind: Kind, name: str) -> list[str]:
        """The plugins whose class is named ``name`` when ``name`` is also the registered
        name of another object: what ``repr`` prints for them (and ``save`` writes) would
        read back as that other. (One class under two names is no clash.)"""
        slot = self._slots[kind].get(name)
        aliases = self._alias_map(kind).get(name, [])
        if slot is None or not aliases or len(slot.claims) > 1:
            return []
        self._try_load(slot)
        return [a for a in aliases if self._slots[kind][a].obj is not slot.obj]

    def conflict_of(self, kind: Kind, obj: Any) -> str | None:
        """Why ``obj`` (a class or function) has no name of its own: two distributions
        claim its name, or its class name is another plugin's name; else None."""
        where = f"{getattr(obj, '__module__', '')}:{getattr(obj, '__qualname__', '')}"
        for name, slot in sorted(self._slots[kind].items()):
            if len(slot.claims) > 1 and any(c.value == where for c in slot.claims):
                return self._conflict(kind, name, slot)
        cls_name = getattr(obj, "__name__", "")
        if self._shadowed(kind, cls_name):
            return self._shadow_message(kind, cls_name)
        return None

    def _shadow_message(self, kind: Kind, name: str) -> str:
        return (f"{kind} {name!r} is ambiguous: it is the registered name of "
                f"{self._slots[kind][name].claims[0].label()} and the class name of the "
                f"{kind} {', '.join(map(repr, self._shadowed(kind, name)))}; a model file "
                "naming it cannot tell them apart: ask one plugin's authors to rename it")


@functools.cache
def registry() -> Registry:
    """The registry of installed plugins, read once per process (see :func:`refresh`)."""
    return Registry.discover()


def refresh() -> Registry:
    """Read the entry points again (after installing a plugin in a running process)."""
    registry.cache_clear()
    return registry()
