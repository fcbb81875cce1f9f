"""Ready-made models for the reference scenarios of published PQL practice.

Each function returns a plain :class:`~pqlkit.ScoringModel` (or its parts) built from the
public vocabulary, so a template is also an example of how to write one; print it to see
the code. Event names follow the demo data in :mod:`pqlkit.datasets`.
"""

from __future__ import annotations

import collections
import numbers
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from pqlkit._time import as_duration
from pqlkit.errors import PqlkitTypeError, ValidationError
from pqlkit.expr import (
    Expr,
    active_users,
    count,
    days_since_last,
    distinct_users,
    exists,
    total,
    trait,
)
from pqlkit.model import InactivityDecay, Rollup, Rule, ScoringModel

__all__ = [
    "TEMPLATES", "activation_within", "get", "intent_to_pay", "message_volume",
    "negative_qualifiers", "pqa_rollup", "team_query_milestone", "trial_scoring",
    "weighted_signal_families", "workspace_expansion",
]


def _names(value: Sequence[str], what: str, *, empty_ok: bool = True) -> list[str]:
    """A template option listing names: a list or tuple of strings (a bare string would be
    read letter by letter)."""
    if isinstance(value, str) or not isinstance(value, Sequence) or not all(
            isinstance(v, str) and v for v in value):
        raise PqlkitTypeError(
            f"{what} takes a list of names, e.g. {what}=[{value!r}], got {value!r}"
            if isinstance(value, str) else
            f"{what} takes a list of non-empty strings, got {value!r}")
    if not value and not empty_ok:
        raise ValidationError(f"{what} needs at least one name")
    twice = sorted(v for v, k in collections.Counter(value).items() if k > 1)
    if twice:
        # (workspace_expansion counted a power feature named twice as two adopted.)
        raise ValidationError(f"{what} names {twice[0]!r} twice; list each name once")
    return list(value)


def _at_least_one(value: Any, what: str) -> int:
    """A template's count option (users, messages, features): a whole number of at least
    1 (0 or less makes the condition hold for every account)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise PqlkitTypeError(f"{what} takes a whole number, got {value!r}")
    if value < 1:
        raise ValidationError(f"{what} must be at least 1, got {value!r} (the condition "
                              "would hold for every account)")
    return int(value)


def negative_qualifiers(competitors: Sequence[str] = ("rival.io",)) -> list[Expr]:
    """Disqualify students (``.edu`` addresses) and competitors, whatever their usage.

    >>> negative_qualifiers()
    [trait('email').endswith('.edu', ignore_case=True), trait('email_domain').lower().isin(['rival.io'])]
    """
    return [
        trait("email").endswith(".edu", ignore_case=True),
        # (A domain set as a trait, from a CRM say, may be spelled in any case.)
        trait("email_domain").lower().isin(
            [c.lower() for c in _names(competitors, "competitors")]),
    ]


def pqa_rollup(min_share: float = 0.5) -> Rollup:
    """An account is a PQA when at least ``min_share`` of its users are PQLs (and one is).

    >>> pqa_rollup()
    Rollup()
    """
    return Rollup(min_share=min_share, min_pql=1)


def trial_scoring(*, threshold: float = 60,
                  competitors: Sequence[str] = ("rival.io",)) -> ScoringModel:
    """The trial scoring template.

    +40 first project created; +20 teammate invited; +15 pricing page viewed in the last
    30 days; +10 active in the last 7 days; −5 per full week of inactivity after the first
    week; PQL at ≥ 60; students and competitors disqualified; PQA when half the users are
    PQLs.

    >>> trial_scoring().threshold
    60
    """
    return ScoringModel(
        name="trial-pql",
        rules=[
            Rule("activation", count("project_created") >= 1, points=40),
            Rule("collaboration", count("teammate_invited") >= 1, points=20),
            Rule("intent", count("pricing_page_viewed", within="30d") >= 1, points=15),
            Rule("recency", days_since_last() < 7, points=10),
        ],
        disqualify=negative_qualifiers(competitors),
        decay=InactivityDecay(points=5, every="7d", grace="7d"),
        threshold=threshold,
        tiers={"hot": 80, "warm": 60, "cold": 30},
        rollup=pqa_rollup(),
    )


def weighted_signal_families(*, threshold: float = 8) -> ScoringModel:
    """Weighted signal families.

    Weight 5: the aha event (dashboard created) in the last 14 days; weight 3: at least two
    teammates invited in the last 14 days; weight 2: admin role; PQL at ≥ 8.

    >>> [r.points for r in weighted_signal_families().rules]
    [5, 3, 2]
    """
    return ScoringModel(
        name="weighted-families",
        rules=[
            Rule("aha", count("dashboard_created", within="14d") >= 1, points=5, group="usage"),
            Rule("team", count("teammate_invited", within="14d") >= 2, points=3,
                 group="collaboration"),
            Rule("admin", trait("role") == "admin", points=2, group="fit"),
        ],
        threshold=threshold,
        rollup=pqa_rollup(),
    )


def activation_within(days: str | timedelta = "14d") -> ScoringModel:
    """Activation: connected a data source AND built a dashboard AND invited a teammate,
    each within ``days`` of signup.

    >>> activation_within().rules[0].when
    exists('data_source_connected', since_signup='14d') & exists('dashboard_created', since_signup='14d') & exists('teammate_invited', since_signup='14d')
    """
    days = as_duration(days, what="days").text  # a timedelta too, named by its length
    return ScoringModel(
        name="activation-within-" + days,
        rules=[
            Rule(
                "activated",
                exists("data_source_connected", since_signup=days)
                & exists("dashboard_created", since_signup=days)
                & exists("teammate_invited", since_signup=days),
                points=1,
            ),
        ],
        threshold=1,
    )


def intent_to_pay() -> ScoringModel:
    """Intent to pay: hit a usage limit, OR viewed pricing at least twice, OR tried to invite
    beyond the free seat cap.

    >>> intent_to_pay().threshold
    1
    """
    return ScoringModel(
        name="intent-to-pay",
        rules=[
            Rule(
                "intent_to_pay",
                exists("usage_limit_hit")
                | (count("pricing_page_viewed") >= 2)
                | exists("seat_cap_invite_blocked"),
                points=1,
            ),
        ],
        threshold=1,
    )


def workspace_expansion(
    *,
    min_active_users: int = 10,
    active_within: str = "30d",
    power_features: Sequence[str] = ("automation_created", "integration_connected"),
    min_features: int = 2,
) -> ScoringModel:
    """Account level: at least 10 active users AND at least 2 power features adopted.

    A power feature is adopted when the account has any of its events.

    >>> workspace_expansion().level
    'account'
    """
    power_features = _names(power_features, "power_features", empty_ok=False)
    min_active_users = _at_least_one(min_active_users, "min_active_users")
    min_features = _at_least_one(min_features, "min_features")
    if min_features > len(power_features):
        raise ValidationError(
            f"min_features={min_features} but power_features lists {len(power_features)}: "
            "no account could adopt that many; lower it or list more features")
    adopted: Expr = exists(power_features[0])
    for name in power_features[1:]:
        adopted = adopted + exists(name)
    return ScoringModel(
        name="workspace-expansion",
        level="account",
        rules=[
            Rule(
                "expansion",
                (active_users(within=active_within) >= min_active_users)
                & (adopted >= min_features),
                points=1,
            ),
        ],
        threshold=1,
    )


def team_query_milestone(*, min_users: int = 3, within: str = "7d") -> ScoringModel:
    """Account level: at least 3 distinct users each ran a saved query in the last 7 days.

    >>> team_query_milestone().rules[0].when
    distinct_users('saved_query_run', within='7d') >= 3
    """
    min_users = _at_least_one(min_users, "min_users")
    return ScoringModel(
        name="team-query-milestone",
        level="account",
        rules=[
            Rule("team_queries",
                 distinct_users("saved_query_run", within=within) >= min_users, points=1),
        ],
        threshold=1,
    )


def message_volume(*, min_messages: int = 2000,
                   count_property: str | None = None) -> ScoringModel:
    """Account level: at least 2,000 messages sent AND at least one integration connected.

    Each ``message_sent`` event is one message; a tracker that sends one event per batch
    says how many messages it stands for in a property: name it with ``count_property``
    (the demo data's events carry ``count``), and the messages are that property's total.

    >>> message_volume().rules[0].when
    (count('message_sent') >= 2000) & exists('integration_connected')
    >>> message_volume(count_property="count").rules[0].when
    (total('count', of='message_sent') >= 2000) & exists('integration_connected')
    """
    if count_property is not None and (not isinstance(count_property, str)
                                       or not count_property.strip()):
        raise PqlkitTypeError(f"count_property takes a property name, got {count_property!r}")
    if count_property is not None and count_property != count_property.strip():
        raise ValidationError(f"count_property {count_property!r} has spaces around it: "
                              "it would name no property; write it as the events spell it")
    min_messages = _at_least_one(min_messages, "min_messages")
    messages = (count("message_sent") if count_property is None
                else total(count_property, of="message_sent"))
    return ScoringModel(
        name="message-volume",
        level="account",
        rules=[
            Rule("volume", (messages >= min_messages) & exists("integration_connected"),
                 points=1),
        ],
        threshold=1,
    )


#: Every template by name.
TEMPLATES: dict[str, Callable[..., ScoringModel]] = {
    "trial": trial_scoring,
    "weighted-families": weighted_signal_families,
    "activation": activation_within,
    "intent-to-pay": intent_to_pay,
    "workspace-expansion": workspace_expansion,
    "team-query-milestone": team_query_milestone,
    "message-volume": message_volume,
}


def get(name: str, **options: Any) -> ScoringModel:
    """The template called ``name`` (see :data:`TEMPLATES`), built with ``options``.

    >>> get("intent-to-pay").name
    'intent-to-pay'
    """
    if not isinstance(name, str):
        from pqlkit.errors import PqlkitTypeError

        raise PqlkitTypeError(
            f"templates.get() takes one template name (a string), got {name!r} "
            f"({type(name).__name__}); templates are {', '.join(TEMPLATES)}")
    try:
        factory = TEMPLATES[name]
    except KeyError:
        from pqlkit.errors import ValidationError

        raise ValidationError(
            f"unknown template {name!r}; templates are {', '.join(TEMPLATES)}"
        ) from None
    import inspect

    from pqlkit.errors import PqlkitTypeError

    known = inspect.signature(factory).parameters
    unknown = [k for k in options if k not in known]
    if unknown:
        raise PqlkitTypeError(
            f"template {name!r} has no option {', '.join(map(repr, unknown))}; its options "
            f"are {', '.join(known) or 'none'}")
    return factory(**options)
