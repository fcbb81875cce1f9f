"""Results: the per-entity tables, and explanations that decompose every score exactly.

Engines produce a :class:`ScoreResult`; everything a user reads after scoring (tables,
``explain``, notebook HTML) lives here, independent of the engine that computed it.
"""

from __future__ import annotations

import html
import math
import numbers
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
import numpy.typing as npt

from pqlkit._columns import id_key
from pqlkit._fsum import fsum
from pqlkit._optional import require
from pqlkit.errors import PqlkitError, PqlkitTypeError, UnknownEntityError, ValidationError

if TYPE_CHECKING:
    from pqlkit.model import ScoringModel

__all__ = [
    "EventRef", "Evidence", "Explanation", "RollupExplanation", "RuleContribution",
    "ScoreResult", "Table",
]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return f"{value:.0f}"
        if 1e5 <= abs(value) < 1e15:
            # Whole digits in full, to the cent: 1234570.69, not 1.23457e+06 (six
            # significant digits said nothing of a score of revenue cents).
            return f"{value:.2f}".rstrip("0").rstrip(".")
        return f"{value:g}"
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return str(value)


def share_percent(share: float) -> str:
    """A share of PQL users as a percent, to two decimals at most, marked ``≈`` when
    rounded (``"50%"``, ``"12.5%"``, ``"≈66.67%"``): whole percents alone made 2 of 3
    users read "67%" beside a policy of ``>= 0.667`` that they miss."""
    percent = share * 100
    shown = f"{percent:.2f}".rstrip("0").rstrip(".") + "%"
    rounded = math.isfinite(percent) and abs(round(percent, 2) - percent) > 1e-9
    return ("≈" if rounded else "") + shown


def _text_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    line = "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(out)


def _html_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in row) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


class _Deferred:
    """A column an engine hands over as a numpy array, made a list of Python values
    (``tolist()``) only when it is first read.

    For a few hundred thousand entities, a score's columns as lists are tens of MB of
    Python objects and most of the time of building the result; many are never read.
    """

    __slots__ = ("array",)

    def __init__(self, array: npt.NDArray[Any]) -> None:
        self.array = array

    def __len__(self) -> int:
        return len(self.array)


def _check_id(entity_id: object) -> None:
    """An entity id is a string or an integer (a list of them is not one id)."""
    if not isinstance(entity_id, (str, numbers.Integral)) or isinstance(entity_id, bool):
        raise PqlkitTypeError(
            f"an entity id is a string or an integer, got {entity_id!r} "
            f"({type(entity_id).__name__}); ask for one id at a time")


def _value_key(value: Any) -> tuple[Any, ...]:
    """A sort key for one present (non-None) cell that orders values of mixed types:
    numbers (ids that are integers among them, as :func:`id_key` puts them), then text,
    then anything else, by type name and then by value where values of it compare."""
    if isinstance(value, numbers.Real):
        return (1, value)
    if isinstance(value, str):
        return (2, value)
    if isinstance(value, datetime):
        return (3, "", value)
    return (4, type(value).__name__, repr(value))


#: pandas dtypes of the column types, for an empty table.
_PANDAS = {"int": "int64", "float": "float64", "bool": "bool"}


#: dtypes of an engine's arrays that exports hand over as they are: pandas, Arrow and
#: polars give such an array the type, and keep the values (nan, -0.0, inf), that they give
#: its ``tolist()``; making that list was most of the time of an export of many rows.
_AS_ARRAY = frozenset({np.dtype(np.int64), np.dtype(np.float64), np.dtype(np.bool_)})

#: A column as an export reads it: an engine's numeric array, or a list of Python values.
_Column = list[Any] | npt.NDArray[Any]


def _no_value(values: _Column) -> bool:
    """Whether a column has no value to infer its type from (an empty list, or all None;
    an export's arrays have values)."""
    return isinstance(values, list) and all(v is None for v in values)


def column_types(model: ScoringModel, table: str) -> dict[str, str]:
    """The type of each column of ``model``'s result ``table`` ("users", "accounts"): "int",
    "float", "bool" or "str" (ids as "str": the type a column of no id is exported as).
    A rule's column holds ints when its points are an int and undecayed, else floats."""
    from pqlkit.model import Rule

    rules = {r.name: "int" if isinstance(r, Rule) and type(r.points) is int
             and r.decay is None else "float" for r in model.rules}
    ids = {"user_id": "str", "account_id": "str"}
    if table == "users":
        if model.level != "user":
            return ids
        return {**ids, "score": "float", "raw_score": "float", "tier": "str",
                "is_pql": "bool", "disqualified": "bool", **rules}
    if model.level == "user":
        return {"account_id": "str", "score": "float", "n_users": "int", "n_pql": "int",
                "share_pql": "float", "is_pqa": "bool"}
    return {"account_id": "str", "score": "float", "raw_score": "float", "tier": "str",
            "is_pqa": "bool", "disqualified": "bool", "n_users": "int", **rules}


def _one_type(columns: Mapping[str, _Column]) -> dict[str, _Column]:
    """The columns, a column holding both integers and strings (ids of mixed types) as
    strings: Arrow and polars columns have one type. So is a column of integer ids
    beyond int64 (ids may be any integer; Arrow's and polars' hold 64 bits). An array
    (int64, float64 or bool) has one type already."""
    out: dict[str, _Column] = {}
    for name, values in columns.items():
        if isinstance(values, list):
            kinds = {type(v) for v in values if v is not None}
            if (len(kinds) > 1 and str in kinds) or (kinds == {int} and any(
                    v is not None and not -2**63 <= v < 2**63 for v in values)):
                values = [None if v is None else str(v) for v in values]
        out[name] = values
    return out


class Table:
    """A result table: one row per entity, keyed by its id.

    ``len(table)``, iteration (one dict per row), ``table[entity_id]`` (one row),
    ``table.column(name)``, ``to_records()``, ``to_pandas()``, ``to_polars()`` and
    ``to_arrow()``.

    >>> t = Table({"user_id": ["u1", "u2"], "score": [3, 5]}, key="user_id")
    >>> len(t), t["u2"], t.column("score")
    (2, {'user_id': 'u2', 'score': 5}, [3, 5])
    """

    def __init__(self, columns: Mapping[str, Sequence[Any] | _Deferred], *, key: str,
                 types: Mapping[str, str] | None = None) -> None:
        # The type of each column ("int", "float", "bool", "str") where it is known, for
        # exports of a column with no value to type it by (an empty result, a tier nobody
        # reaches): the schema of a model's output does not change with the data.
        self._types: dict[str, str] = dict(types or {})
        self._data: dict[str, list[Any] | _Deferred] = {
            name: values if isinstance(values, _Deferred) else list(values)
            for name, values in columns.items()}
        if key not in self._data:
            raise PqlkitTypeError(f"table key {key!r} is not a column")
        lengths = {len(v) for v in self._data.values()}
        if len(lengths) > 1:
            raise PqlkitTypeError(f"table columns differ in length: {lengths}")
        self.key = key
        self._index: dict[Any, int] | None = None
        self._deferred = any(isinstance(v, _Deferred) for v in self._data.values())

    def _values(self, name: str) -> list[Any]:
        """Column ``name`` as a list (KeyError when there is none)."""
        values = self._data[name]
        if isinstance(values, _Deferred):
            values = self._data[name] = values.array.tolist()
        return values

    @property
    def _columns(self) -> dict[str, list[Any]]:
        """Every column as a list."""
        if self._deferred:
            for name in self._data:
                self._values(name)
            self._deferred = False
        return self._data  # type: ignore[return-value]  # no _Deferred left

    def _export_columns(self) -> dict[str, _Column]:
        """Every column for an export: an engine's non-empty int64, float64 or bool array as
        it is, any other column (ids, tiers, columns already read) as a list."""
        return {name: values.array if isinstance(values, _Deferred) and len(values)
                and values.array.dtype in _AS_ARRAY else self._values(name)
                for name, values in self._data.items()}

    @property
    def columns(self) -> list[str]:
        """The column names, in order."""
        return list(self._data)

    def column(self, name: str) -> list[Any]:
        """One column's values, in row order."""
        try:
            return list(self._values(name))
        except KeyError:
            raise UnknownEntityError(
                f"no column {name!r}; columns are {', '.join(self._data)}"
            ) from None

    def __len__(self) -> int:
        return len(self._data[self.key])

    def _row(self, i: int) -> dict[str, Any]:
        return {name: values[i] for name, values in self._columns.items()}

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return (self._row(i) for i in range(len(self)))

    def __contains__(self, entity_id: object) -> bool:
        _check_id(entity_id)
        return entity_id in self._lookup()

    def _lookup(self) -> dict[Any, int]:
        if self._index is None:
            self._index = {v: i for i, v in enumerate(self._values(self.key))}
        return self._index

    def __getitem__(self, entity_id: Any) -> dict[str, Any]:
        _check_id(entity_id)
        i = self._lookup().get(entity_id)
        if i is None:
            raise UnknownEntityError(
                f"no row with {self.key} {entity_id!r} in this table of {len(self)} rows"
                + (" (ids are integers here)" if isinstance(entity_id, str) and self._lookup()
                   and all(isinstance(k, int) for k in self._lookup()) else "")
            )
        return self._row(i)

    def to_records(self) -> list[dict[str, Any]]:
        """Every row as a dict."""
        return list(self)

    def to_pandas(self) -> Any:
        """The table as a ``pandas.DataFrame`` (needs the ``pandas`` extra).

        A column of integers with missing values (ids of users without an account) is an
        ``object`` column of the ints and None: pandas would make it float64, which
        changes every id beyond 2**53 and prints the others as ``7.0``.
        """
        pd = require("pandas", "pandas", "Table.to_pandas()")
        if not len(self):
            return pd.DataFrame({name: pd.Series([], dtype=_PANDAS.get(
                self._types.get(name, ""), object)) for name in self.columns})
        columns = self._export_columns()
        frame = pd.DataFrame(columns, columns=self.columns)
        for name, values in columns.items():
            if isinstance(values, list) and None in values and all(
                    v is None or (isinstance(v, int) and not isinstance(v, bool))
                    for v in values) and any(v is not None for v in values):
                frame[name] = pd.Series(values, dtype=object, index=frame.index)
        return frame

    def to_arrow(self) -> Any:
        """The table as a ``pyarrow.Table`` (needs the ``arrow`` extra); a column of ids
        of mixed types (integers and strings) becomes a string column, as in
        :meth:`to_polars`."""
        pa = require("pyarrow", "arrow", "Table.to_arrow()")
        kinds = {"int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(),
                 "str": pa.string()}
        return pa.table({name: pa.array(values, type=kinds[self._types[name]])
                         if name in self._types and _no_value(values) else values
                         for name, values in _one_type(self._export_columns()).items()})

    def to_polars(self) -> Any:
        """The table as a ``polars.DataFrame`` (needs the ``polars`` extra).

        Columns keep their order; a column holding both integers and strings (ids of
        mixed types) becomes a string column, as polars columns have one type.
        """
        pl = require("polars", "polars", "Table.to_polars()")
        kinds = {"int": pl.Int64, "float": pl.Float64, "bool": pl.Boolean, "str": pl.Utf8}
        columns = _one_type(self._export_columns())
        return pl.DataFrame(columns, strict=False, schema_overrides={
            name: kinds[self._types[name]] for name, values in columns.items()
            if name in self._types and _no_value(values)})

    def sort_by(self, column: str, *, descending: bool = False) -> Table:
        """A new table with rows ordered by ``column`` (missing values last, ties by key).

        A column holding values of several types (ids that are integers and strings) is
        ordered numbers first, then text, then anything else (reversed when
        ``descending``); missing values stay last either way, and so does nan (a score
        of rule points ``+inf`` and ``-inf``), which orders against no number.
        """
        if not isinstance(column, str):
            raise PqlkitTypeError(
                f"sort_by() takes one column name (a string), got {column!r} "
                f"({type(column).__name__}); columns are {', '.join(self._data)}")
        values = self.column(column)
        keys = self._values(self.key)
        # Ties go by key: sort by key first, then (stably) by value.
        last = [v is None or (isinstance(v, float) and math.isnan(v)) for v in values]
        present = sorted((i for i in range(len(self)) if not last[i]),
                         key=lambda i: id_key(keys[i]))
        present.sort(key=lambda i: _value_key(values[i]), reverse=descending)
        # (nan before None: a value, if no number.)
        idx = present + sorted((i for i in range(len(self)) if last[i]),
                               key=lambda i: (values[i] is None, id_key(keys[i])))
        return Table({n: [col[i] for i in idx] for n, col in self._columns.items()}, key=self.key,
                     types=self._types)

    def head(self, n: int = 5) -> Table:
        """The first ``n`` rows."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise PqlkitTypeError(f"head() takes a number of rows (0 or more), got {n!r}")
        return Table({k: v[:n] for k, v in self._columns.items()}, key=self.key,
                     types=self._types)

    def filter(self, predicate: Callable[[dict[str, Any]], bool]) -> Table:
        """The rows for which ``predicate(row)`` is true."""
        if not callable(predicate):
            raise PqlkitTypeError(
                f"filter() takes a function of a row (a dict) that returns true to keep it, "
                f"got {predicate!r} ({type(predicate).__name__}); "
                + (f"for a column of flags, pass lambda row: row[{predicate!r}]"
                   if isinstance(predicate, str) else "e.g. lambda row: row['score'] > 50"))
        idx = [i for i in range(len(self)) if predicate(self._row(i))]
        return Table({n: [col[i] for i in idx] for n, col in self._columns.items()}, key=self.key,
                     types=self._types)

    def __repr__(self) -> str:
        shown = [[self._columns[c][i] for c in self._columns] for i in range(min(len(self), 10))]
        more = f"\n… {len(self) - 10} more rows" if len(self) > 10 else ""
        return f"<Table {len(self)} rows>\n" + _text_table(self.columns, shown) + more

    def _repr_html_(self) -> str:
        shown = [[self._columns[c][i] for c in self._columns] for i in range(min(len(self), 50))]
        more = f"<p>… {len(self) - 50} more rows</p>" if len(self) > 50 else ""
        return _html_table(self.columns, shown) + more


@attrs.frozen(kw_only=True)
class EventRef:
    """An event cited as evidence."""

    name: str
    timestamp: datetime
    properties: Mapping[str, Any] = attrs.field(factory=dict)

    def __str__(self) -> str:
        return f"{self.name} at {_cell(self.timestamp)}"


@attrs.frozen(kw_only=True)
class Evidence:
    """The events behind a rule: how many matched, the first and the latest."""

    n_events: int = 0
    first: EventRef | None = None
    latest: EventRef | None = None
    values: Mapping[str, Any] = attrs.field(factory=dict)

    def __str__(self) -> str:
        parts = []
        if self.n_events:
            parts.append(f"{self.n_events} matching event{'s' if self.n_events != 1 else ''}")
            if self.latest is not None:
                parts.append(f"latest {self.latest}")
        parts += [f"{k} = {_cell(v) if v is not None else 'missing'}"
                  for k, v in self.values.items()]
        return "; ".join(parts) if parts else "no matching events"


@attrs.frozen(kw_only=True)
class RuleContribution:
    """What one rule gave: its points (after its own decay) and the evidence behind them."""

    rule: str
    condition: str
    matched: bool
    base_points: float
    points: float
    group: str | None = None
    evidence: Evidence = attrs.field(factory=Evidence)

    @property
    def decay_points(self) -> float:
        """Points the rule's own decay took away (negative or zero)."""
        return self.points - self.base_points


def _pts(x: float) -> str:
    sign = "+" if x >= 0 else "−"
    return f"{sign}{_cell(abs(float(x)))}"


class _AsData:
    """``to_dict`` and ``to_json`` of an attrs explanation."""

    def to_dict(self) -> dict[str, Any]:
        """The explanation as plain data: dicts, lists, numbers, text, None and aware
        datetimes (:meth:`to_json` writes those as ISO-8601 text)."""
        data: dict[str, Any] = _plain_data(attrs.asdict(self, recurse=True))  # type: ignore[arg-type]
        return data

    def to_json(self, **kwargs: Any) -> str:
        """The explanation as JSON, moments as ISO-8601 text and numbers that are not
        finite (a nan or infinite score) as ``null``, as JavaScript writes them: JSON has
        no ``NaN`` or ``Infinity`` (``kwargs`` go to :func:`json.dumps`, e.g.
        ``indent=2``)."""
        import json

        def moment(value: Any) -> Any:
            if isinstance(value, datetime):
                return value.isoformat()
            if hasattr(value, "item") and hasattr(value, "dtype"):  # a numpy number
                return value.item()
            raise TypeError(f"cannot write {value!r} ({type(value).__name__}) as JSON")

        return json.dumps(json_safe(self.to_dict()), default=moment, **kwargs)


def json_safe(value: Any) -> Any:
    """``value`` with every float that is not finite, in dicts and lists too, as None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def _plain_data(value: Any) -> Any:
    """Mappings as dicts and tuples as lists, at any depth (an event's properties are
    read-only mappings and tuples in the log)."""
    if isinstance(value, Mapping):
        return {k: _plain_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain_data(v) for v in value]
    return value


@attrs.frozen(kw_only=True)
class Explanation(_AsData):
    """The exact decomposition of one entity's score: the rules' points, each capped
    group's adjustment down to its cap (``caps``; the caps themselves in ``group_caps``),
    the model's decay and the clamp to the floor or ceiling, which add up to ``score``
    (:meth:`total`).
    """

    entity_id: Any
    level: str
    model: str
    as_of: datetime
    score: float
    raw_score: float
    rules: tuple[RuleContribution, ...]
    caps: Mapping[str, float] = attrs.field(factory=dict)
    group_caps: Mapping[str, float] = attrs.field(factory=dict)
    decay: float = 0.0
    decay_detail: str = ""
    clamp: float = 0.0
    disqualified: bool = False
    disqualified_by: tuple[str, ...] = ()
    tier: str | None = None
    qualified: bool = False
    threshold: float = 0.0
    last_event: EventRef | None = None

    def total(self) -> float:
        """The score put back together from its parts, as the engines compute it: the
        rules' points summed exactly (a group over its cap counting as the cap), plus the
        decay; a clamped score is the floor or ceiling it was clamped to. Equals ``score``
        exactly, up to float rounding when a decay multiplies."""
        capped = self.group_caps
        raw = fsum([*(r.points for r in self.rules if r.group not in capped),
                         *capped.values()])
        if self.clamp:
            return self.score  # the bound itself, whatever was below (above) it
        return raw + self.decay

    def text(self) -> str:
        """The explanation as readable lines, for a sales rep or a log."""
        label = "PQL" if self.level == "user" else "PQA"
        verdict = (f"disqualified ({'; '.join(self.disqualified_by)})" if self.disqualified
                   else f"{'is' if self.qualified else 'is not'} a {label}")
        if not self.qualified and not self.disqualified and self.score >= self.threshold:
            # The only other reason (DESIGN §3.9).
            verdict += " (an account with no users and no events of its own is never a PQA)"
        tier = f", tier {self.tier}" if self.tier and not self.disqualified else ""
        lines = [
            f"{self.level} {self.entity_id!r} scored {_cell(self.score)} with model "
            f"{self.model!r} as of {_cell(self.as_of)}: {verdict} "
            f"(threshold {_cell(self.threshold)}{tier})",
        ]
        for r in self.rules:
            mark = "✓" if r.matched else "·"
            decay = f" (decayed from {_cell(r.base_points)})" if r.points != r.base_points else ""
            lines.append(f"  {mark} {r.rule:<18} {_pts(r.points):>7}{decay}  {r.condition}")
            if r.matched or r.evidence.n_events:
                lines.append(f"      {r.evidence}")
        for group, adj in self.caps.items():
            lines.append(f"    cap on group {group!r}: {_pts(adj)}")
        if self.decay:
            lines.append(f"    decay {_pts(self.decay)}  {self.decay_detail}")
        if self.clamp:
            lines.append(f"    clamped {_pts(self.clamp)}")
        if self.last_event is not None:
            lines.append(f"  last activity: {self.last_event}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        rows = [[("✓" if r.matched else ""), r.rule, _pts(r.points), r.condition, str(r.evidence)]
                for r in self.rules]
        rows += [["", f"cap {g}", _pts(a), "", ""] for g, a in self.caps.items()]
        if self.decay:
            rows.append(["", "decay", _pts(self.decay), self.decay_detail, ""])
        if self.clamp:
            rows.append(["", "clamp", _pts(self.clamp), "", ""])
        head = html.escape(self.text().splitlines()[0])
        return f"<p>{head}</p>" + _html_table(["", "rule", "points", "condition", "evidence"], rows)


@attrs.frozen(kw_only=True)
class RollupExplanation(_AsData):
    """Why an account is (or is not) a PQA under a user-level model's roll-up."""

    account_id: Any
    model: str
    as_of: datetime
    score: float
    n_users: int
    n_pql: int
    share_pql: float
    is_pqa: bool
    policy: str
    users: tuple[Mapping[str, Any], ...]
    #: What ``share_pql`` is taken over when not all the account's users (None): e.g.
    #: ``"1 PQL among the 2 users active in the last '30d'"`` for
    #: ``Rollup(denominator="active")``.
    share_over: str | None = None

    def text(self) -> str:
        """The explanation as readable lines."""
        lines = [
            f"account {self.account_id!r} {'is' if self.is_pqa else 'is not'} a PQA with model "
            f"{self.model!r} as of {_cell(self.as_of)}: {self.n_pql} of {self.n_users} users "
            f"are PQLs (share {share_percent(self.share_pql)}"
            f"{'' if self.share_over is None else ': ' + self.share_over}); "
            f"score {_cell(self.score)}",
            f"  policy: {self.policy}",
        ]
        for u in self.users:
            flag = "PQL" if u["is_pql"] else ("disqualified" if u["disqualified"] else "")
            lines.append(f"  {u['user_id']!s:<16} {_cell(u['score']):>8}  {flag}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        rows = [[u["user_id"], u["score"], u["is_pql"], u["disqualified"]] for u in self.users]
        head = html.escape(self.text().splitlines()[0])
        return f"<p>{head}</p>" + _html_table(["user", "score", "is_pql", "disqualified"], rows)


class ScoreResult:
    """What scoring returns: ``as_of``, the ``users`` and ``accounts`` tables, ``explain``.

    ``engine`` names the engine that computed it; ``fallbacks`` lists the parts of the model
    it had to evaluate one entity at a time (custom signals, rules and decays under the
    columnar engine), empty when everything ran column-wise.
    """

    def __init__(self, *, model: ScoringModel, as_of: datetime, engine: str, users: Table,
                 accounts: Table,
                 explainer: Callable[[str, Any], Explanation | RollupExplanation],
                 fallbacks: Sequence[str] = ()) -> None:
        self.model = model
        self.as_of = as_of
        self.engine = engine
        self.users = users
        self.accounts = accounts
        users._types.update(column_types(model, "users"))
        accounts._types.update(column_types(model, "accounts"))
        self.fallbacks: tuple[str, ...] = tuple(fallbacks)
        self._explainer: Callable[[str, Any], Explanation | RollupExplanation] | None = explainer

    @property
    def level(self) -> str:
        """The model's level: ``"user"`` or ``"account"``."""
        return self.model.level

    def explain(self, entity_id: Any, *, level: str | None = None
                ) -> Explanation | RollupExplanation:
        """Why ``entity_id`` scored what it did.

        A user id gives the decomposition of its score; an account id gives its score
        decomposition (account-level models) or its roll-up (user-level models). When an id
        is both a user and an account, say which with ``level=``.
        """
        if level is None:
            in_users = entity_id in self.users
            in_accounts = entity_id in self.accounts
            if in_users and in_accounts:
                raise UnknownEntityError(
                    f"{entity_id!r} is both a user and an account id; pass level='user' or "
                    "level='account'"
                )
            if not in_users and not in_accounts:
                raise UnknownEntityError(
                    f"{entity_id!r} is neither a user nor an account scored as of "
                    f"{_cell(self.as_of)} ({len(self.users)} users, {len(self.accounts)} "
                    "accounts); ids are case- and type-sensitive, and entities created after "
                    "as_of get no row"
                )
            level = "user" if in_users else "account"
        if level not in ("user", "account"):
            # (As ScoringModel(level=...) says it: a text that is not a level is a value error.)
            error = ValidationError if isinstance(level, str) else PqlkitTypeError
            raise error(f"level must be 'user' or 'account', got {level!r}")
        table = self.users if level == "user" else self.accounts
        if entity_id not in table:
            raise UnknownEntityError(
                f"no {level} {entity_id!r} in this result as of {_cell(self.as_of)}; ids are "
                "case- and type-sensitive, and entities created after as_of get no row")
        if self._explainer is None:
            raise PqlkitError(
                "this result was pickled (or sent from another process): its tables came "
                "along, but explanations are made from the scoring's working state, which "
                "stays where it was scored; call explain() there (an Explanation pickles), "
                "or score the log again here")
        return self._explainer(level, entity_id)

    def __getstate__(self) -> dict[str, Any]:
        # The explainer is a closure over the engine's working state (the log, the
        # frames): not picklable, and many times the tables' size. A result pickles
        # without it, to come back from a worker process or go into a cache.
        return {**self.__dict__, "_explainer": None}

    def __copy__(self) -> ScoreResult:
        new = object.__new__(ScoreResult)
        new.__dict__.update(self.__dict__)  # (copies in one process keep explain())
        return new

    def __deepcopy__(self, memo: dict[int, Any]) -> ScoreResult:
        import copy

        new = self.__copy__()
        new.users, new.accounts = copy.deepcopy((self.users, self.accounts), memo)
        return new

    def summary(self) -> dict[str, Any]:
        """Headline counts: entities scored, qualified, and accounts that are PQAs."""
        out: dict[str, Any] = {"as_of": self.as_of, "model": self.model.name}
        if self.level == "user":
            out["users"] = len(self.users)
            out["pqls"] = sum(1 for v in self.users.column("is_pql") if v)
        out["accounts"] = len(self.accounts)
        out["pqas"] = sum(1 for v in self.accounts.column("is_pqa") if v)
        return out

    def __repr__(self) -> str:
        s = self.summary()
        parts = [f"{k}={_cell(v)}" for k, v in s.items() if k not in ("model", "as_of")]
        return (f"<ScoreResult model={self.model.name!r} as_of={_cell(self.as_of)} "
                f"engine={self.engine!r} {' '.join(parts)}>")

    def _repr_html_(self) -> str:
        head = html.escape(repr(self))
        main = self.users if self.level == "user" else self.accounts
        return f"<p>{head}</p>" + main.sort_by("score", descending=True).head(20)._repr_html_()


def model_html(model: ScoringModel) -> str:
    """HTML for a model in a notebook: its rules as a table."""
    rows = []
    for rule in model.rules:
        pts = getattr(rule, "points", None)
        per = getattr(rule, "points_per", None)
        shown = _pts(pts) if pts is not None else (f"{_pts(per)} each" if per is not None else "")
        rows.append([rule.name, shown, repr(getattr(rule, "when", rule)),
                     getattr(rule, "group", None) or ""])
    extra = [f"threshold {_cell(model.threshold)}", f"level {model.level}"]
    if model.tiers:
        extra.append("tiers " + ", ".join(f"{n} ≥ {_cell(b)}" for n, b in model.tiers))
    if model.decay is not None:
        extra.append(f"decay {model.decay!r}")
    if model.disqualify:
        extra.append("disqualify if " + " or ".join(repr(d) for d in model.disqualify))
    return (f"<p><b>{html.escape(model.name)}</b>: {html.escape('; '.join(extra))}</p>"
            + _html_table(["rule", "points", "when", "group"], rows))
