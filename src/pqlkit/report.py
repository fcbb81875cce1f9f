"""The load report: how every input row was accounted for.

``input = kept + duplicates + rejected`` holds for every table of every load; each rejected
row is kept as a :class:`Rejection` with a reason code, where it came from and why.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Iterable
from typing import Any

import attrs

from pqlkit.errors import RejectedRowError

__all__ = ["REASONS", "LoadReport", "Rejection"]

#: Every reason code a rejection can carry, with what it means. This is the one list: the
#: loaders produce no other code, and docs/reason-codes.md documents exactly these.
REASONS: dict[str, str] = {
    "not_a_mapping": "the row is not a mapping (dict) or a record",
    "unknown_field": "the row has a field pqlkit does not know; put extra data in properties",
    "invalid_record": "the row could not be read as a record",
    "invalid_json": "the line is not valid JSON (or not UTF-8)",
    "malformed_row": "the CSV row has more or fewer fields than the header",
    "unsupported_message": "a vendor message of a type pqlkit does not read, or one an option excludes",
    "missing_identity": "the row names no user_id or account_id (or an empty one)",
    "anonymous_only": "the row names only an anonymous id, which the anonymous= policy does not keep",
    "multiple_accounts": "the row puts a user in a second account and account_policy='reject'",
    "invalid_id": "an id is not a string or an integer, or holds a lone surrogate",
    "missing_name": "the event has no name or an empty one",
    "invalid_name": "the event name is not a string, is over-long, or has control characters or a lone surrogate",
    "missing_timestamp": "the timestamp is missing",
    "invalid_timestamp": "the timestamp cannot be parsed",
    "naive_timestamp": "the timestamp has no time zone and none was declared (tz=)",
    "timestamp_out_of_range": "the timestamp is outside the representable range",
    "future_timestamp": "the timestamp is later than the load moment plus future_tolerance=",
    "invalid_properties": "properties is not a mapping or holds an unsupported value",
    "non_finite_property": "a numeric property is NaN or infinite",
    "invalid_traits": "traits is not a mapping or holds an unsupported value",
    "conflicting_duplicate": "another row has the same id but a different payload",
}


@attrs.frozen(kw_only=True)
class Rejection:
    """One input row that was not kept, and why."""

    table: str
    source: int | str
    reason: str
    message: str
    sample: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The rejection as a plain dict."""
        return attrs.asdict(self)

    def error(self) -> RejectedRowError:
        """The error ``strict=True`` raises for this rejection."""
        return RejectedRowError(
            f"{self.table}[{self.source}] rejected ({self.reason}): {self.message}",
            reason=self.reason, source=self.source,
        )


def _sample(row: object, limit: int = 160) -> str:
    try:
        text = repr(row)
    except RecursionError:  # a value nested deeper than Python's repr can go
        text = f"<{type(row).__name__} nested too deep to print>"
    return text if len(text) <= limit else text[: limit - 1] + "…"


@attrs.define
class LoadReport:
    """How each row of a load was accounted for.

    ``counts`` totals every table; ``tables`` holds the same counts per table
    (``events``, ``users``, ``accounts``).
    """

    tables: dict[str, dict[str, int]] = attrs.field(factory=dict)
    rejections: list[Rejection] = attrs.field(factory=list)

    def _table(self, table: str) -> dict[str, int]:
        return self.tables.setdefault(
            table, {"input": 0, "kept": 0, "duplicates": 0, "rejected": 0}
        )

    def add_input(self, table: str, n: int = 1) -> None:
        self._table(table)["input"] += n

    def add_kept(self, table: str, n: int = 1) -> None:
        self._table(table)["kept"] += n

    def add_duplicates(self, table: str, n: int = 1) -> None:
        self._table(table)["duplicates"] += n

    def reject(self, table: str, source: int | str, reason: str, message: str,
               row: object = None) -> Rejection:
        rejection = Rejection(
            table=table, source=source, reason=reason, message=message,
            sample="" if row is None else _sample(row),
        )
        self.rejections.append(rejection)
        self._table(table)["rejected"] += 1
        return rejection

    def _extend(self, other: LoadReport) -> None:
        """Add ``other``'s counts and rejections after this report's (a part of the same
        load accounted for on another thread)."""
        for table, counts in other.tables.items():
            mine = self._table(table)
            for key, value in counts.items():
                mine[key] += value
        self.rejections.extend(other.rejections)

    @property
    def counts(self) -> dict[str, int]:
        """Totals over all tables: ``input``, ``kept``, ``duplicates``, ``rejected``."""
        total = {"input": 0, "kept": 0, "duplicates": 0, "rejected": 0}
        for counts in self.tables.values():
            for key in total:
                total[key] += counts[key]
        return total

    def by_reason(self) -> dict[str, int]:
        """How many rows were rejected for each reason code."""
        return dict(sorted(Counter(r.reason for r in self.rejections).items()))

    def to_records(self) -> list[dict[str, Any]]:
        """Every rejection as a dict (table, source, reason, message, sample)."""
        return [r.to_dict() for r in self.rejections]

    def summary(self) -> str:
        """A few readable lines: the counts per table and the rejections by reason."""
        lines = []
        for table, c in self.tables.items():
            lines.append(
                f"{table}: {c['input']} in, {c['kept']} kept, {c['duplicates']} duplicates, "
                f"{c['rejected']} rejected"
            )
        for reason, n in self.by_reason().items():
            lines.append(f"  {n} rejected as {reason}: {REASONS.get(reason, '')}".rstrip(": "))
        return "\n".join(lines) if lines else "nothing loaded"

    @classmethod
    def merge(cls, reports: Iterable[LoadReport]) -> LoadReport:
        """One report adding up several (the loads of several chunks)."""
        out = cls()
        for i, report in enumerate(reports):
            for table, counts in report.tables.items():
                mine = out._table(table)
                for key, value in counts.items():
                    mine[key] += value
            for r in report.rejections:
                out.rejections.append(attrs.evolve(r, source=f"{i}:{r.source}"))
        return out

    def __repr__(self) -> str:
        return f"LoadReport({self.counts})"

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{html.escape(t)}</td>"
            + "".join(f"<td>{c[k]}</td>" for k in ("input", "kept", "duplicates", "rejected"))
            + "</tr>"
            for t, c in self.tables.items()
        )
        head = "<tr><th>table</th><th>input</th><th>kept</th><th>duplicates</th><th>rejected</th></tr>"
        rej = ""
        if self.rejections:
            shown = self.rejections[:20]
            more = f" (first 20 of {len(self.rejections)})" if len(self.rejections) > 20 else ""
            rej = (
                f"<p>Rejections{more}:</p><table><tr><th>table</th><th>source</th>"
                "<th>reason</th><th>message</th><th>sample</th></tr>"
                + "".join(
                    f"<tr><td>{html.escape(r.table)}</td><td>{html.escape(str(r.source))}</td>"
                    f"<td>{html.escape(r.reason)}</td><td>{html.escape(r.message)}</td>"
                    f"<td><code>{html.escape(r.sample)}</code></td></tr>"
                    for r in shown
                )
                + "</table>"
            )
        return f"<table>{head}{rows}</table>{rej}"
