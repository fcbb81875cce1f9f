"""A custom signal: how close an account is to its storage quota.

Teams on a free plan who fill their storage are about to hit a paywall, which makes them a
strong buying signal. The product reports ``storage_used_mb`` as a property on some events;
the quota is an account trait. The signal is the latest reported usage over the quota.

Use it like any built-in::

    pk.Rule("near_quota", StorageQuotaProximity() >= 0.8, points=25)
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs

import pqlkit as pk
from pqlkit.expr import Kind


@attrs.frozen(eq=False, repr=False, kw_only=True)
class StorageQuotaProximity(pk.Signal):
    """Latest ``usage_property`` over the quota: 0.8 means 80 % of the quota is used.

    Missing (None) when the entity never reported usage or has no quota.

    Args:
        usage_property: the numeric event property carrying storage used (MB).
        quota_trait: the trait holding the quota (MB).
        default_quota_mb: the quota when the trait is absent (None: no default).
        within: only look at usage reported in this window before ``as_of``.
    """

    usage_property: str = "storage_used_mb"
    quota_trait: str = "storage_quota_mb"
    default_quota_mb: float | None = None
    within: str | None = None

    kind: ClassVar[Kind] = "number"

    def _reports(self, ctx: Any) -> pk.EventSet:
        has_usage = pk.prop(self.usage_property).is_present()
        return ctx.events(within=self.within, where=has_usage)  # type: ignore[no-any-return]

    def evaluate(self, ctx: Any) -> float | None:
        quota = ctx.traits.get(self.quota_trait, self.default_quota_mb)
        if not isinstance(quota, (int, float)) or isinstance(quota, bool) or quota <= 0:
            return None
        usage = [v for v in self._reports(ctx).values(self.usage_property)
                 if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if not usage:
            return None
        # Events come oldest first, so the last report is the current usage.
        return float(usage[-1]) / float(quota)

    def evidence(self, ctx: Any) -> pk.EventSet:
        """The usage reports the value was read from."""
        return self._reports(ctx)
