"""Column encoders: input columns become the EventLog's integer-coded arrays, vectorised.

The loaders cut their input into chunks. Each field's encoder turns a chunk into codes (or
microseconds) and a mask of the rows whose value the record path would reject; only those
rows then go through the per-row checks of :mod:`pqlkit.records`, which give the exact
reason and message. Values are checked once per *distinct* value, not once per row.
"""

from __future__ import annotations

import itertools
import json
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from pqlkit._time import ceil_div, check_options, finer_micros, from_micros, to_micros
from pqlkit.errors import PqlkitTypeError, ValidationError
from pqlkit.records import (
    FieldError,
    _check_value,
    check_id,
    check_name,
    check_timestamp,
    is_nat,
    utf8,
)

__all__ = [
    "CHUNK",
    "MAX_US",
    "MIN_US",
    "Coded",
    "EidEncoder",
    "Eids",
    "IdEncoder",
    "IdValues",
    "NameEncoder",
    "Objects",
    "PropEncoder",
    "TimeEncoder",
    "Typed",
    "canonical",
    "canonical_order",
    "factorize_objects",
    "hash_fixed",
    "id_key",
    "is_arrow",
    "object_array",
    "parse_iso",
    "rank_slot",
    "raw_value",
    "slice_raw",
    "sorted_text",
    "spare_slot",
    "sparse_coded",
    "str_array",
    "to_piece",
    "typed_values",
    "value_key",
]

Array = npt.NDArray[Any]
BoolArray = npt.NDArray[np.bool_]
I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]

#: Rows per chunk: large enough that numpy's per-call overhead vanishes, small enough that
#: the transient arrays of one chunk stay a few tens of MiB.
CHUNK: Final = 1 << 20
MIN_US: Final = to_micros(datetime.min.replace(tzinfo=UTC))
MAX_US: Final = to_micros(datetime.max.replace(tzinfo=UTC))
_NAT: Final = np.iinfo(np.int64).min
_NO_TIME: Final = np.iinfo(np.int64).min
_INT64_MAX: Final = np.iinfo(np.int64).max
_EPOCH_FACTOR: Final = {"s": 1_000_000, "ms": 1_000, "us": 1}


def id_key(value: Any) -> tuple[int, Any]:
    """A sort key that orders ids of mixed types (None, then ints, then strings)."""
    if value is None:
        return (0, 0)
    if isinstance(value, int):
        return (1, value)
    return (2, value)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def canonical(mapping: Mapping[str, Any]) -> str:
    """A canonical text of a mapping, used to order rows that tie on everything else."""
    return json.dumps(_plain(mapping), sort_keys=True, separators=(",", ":"), default=repr)


class Files:
    """Rows read from several files in turn, numbered across them: row ``r`` is row
    ``r - starts[k]`` of file ``k``, its source ``"<names[k]>:<row>"``."""

    __slots__ = ("names", "starts")

    def __init__(self, names: Sequence[str], sizes: Sequence[int]) -> None:
        self.names = tuple(names)
        self.starts = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)[:-1]]).astype(
            np.int64) if len(sizes) else np.zeros(0, dtype=np.int64)

    def file_of(self, rows: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """The file of each row (numbered across the files)."""
        found: npt.NDArray[np.int64] = np.searchsorted(self.starts, rows, side="right") - 1
        return found

    def __call__(self, row: int) -> str:
        k = int(np.searchsorted(self.starts, row, side="right")) - 1
        return f"{self.names[k]}:{row - int(self.starts[k])}"


# -- pieces: what one chunk of one column looks like to the encoders ------------------------


class Typed:
    """A chunk held in a typed numpy array, with an optional mask of missing rows.
    ``zone_less``: ``datetime64`` values that were wall-clock times without a zone (an
    Arrow, pandas or polars timestamp column without one), not UTC instants."""

    __slots__ = ("missing", "values", "zone_less")

    def __init__(self, values: Array, missing: BoolArray | None = None, *,
                 zone_less: bool = False) -> None:
        self.values = values
        self.missing = missing
        self.zone_less = zone_less


class Objects:
    """A chunk of arbitrary Python values (``None`` is missing)."""

    __slots__ = ("values",)

    def __init__(self, values: Array) -> None:
        self.values = values


class Coded:
    """A chunk as codes into a list of raw distinct values (``-1`` is missing).

    From Arrow, ``dictionary`` is the Arrow array of the values, turned into a list only
    when needed: consecutive batches of one Parquet row group share it, and the encoders
    then reuse what they made of it.
    """

    __slots__ = ("_values", "codes", "dictionary")

    def __init__(self, codes: Array, values: list[Any] | None = None,
                 dictionary: Any = None) -> None:
        self.codes = codes
        self._values = values
        self.dictionary = dictionary

    def __len__(self) -> int:
        return len(self.codes)

    @property
    def values(self) -> list[Any]:
        if self._values is None:
            self._values = self.dictionary.to_pylist()
        return self._values


Piece = Any  # Typed | Objects | Coded | pqlkit._arrow.ArrowStr


def frame_kind(value: Any) -> str | None:
    """``"pandas"``, ``"polars"`` or ``"arrow"`` for a table of those libraries (a
    DataFrame, an Arrow Table or RecordBatch), else None; checked without importing them.
    Iterating one gives its column names, not its rows."""
    module = type(value).__module__
    if not hasattr(value, "columns"):
        return None
    for lib, kind in (("pandas", "pandas"), ("polars", "polars"), ("pyarrow", "arrow")):
        if module.startswith(lib):
            return kind
    return None


def not_rows(value: Any, what: str) -> None:
    """Refuse a table of pandas, polars or Arrow where rows (records, dicts) are expected,
    saying which loader takes it."""
    kind = frame_kind(value)
    if kind is not None:
        from pqlkit.errors import PqlkitTypeError

        loader = {"pandas": "from_pandas", "polars": "from_polars", "arrow": "from_arrow"}[kind]
        raise PqlkitTypeError(
            f"{what} got a {type(value).__module__.split('.')[0]} {type(value).__name__}, "
            f"whose rows are not records: load it with EventLog.{loader}(...) (or "
            f"pqlkit.io.{loader}), which maps its columns")


def is_arrow(value: Any) -> bool:
    """True for pyarrow arrays and chunked arrays (checked without importing pyarrow)."""
    return type(value).__module__.startswith("pyarrow")


def _masked(raw: Any) -> bool:
    """Whether ``raw`` is a numpy masked array. ``numpy.ma`` is imported lazily by numpy
    2 (7 ms, on each load in a fresh process): a program that never imported it holds
    no masked array."""
    ma = sys.modules.get("numpy.ma")
    return ma is not None and isinstance(raw, ma.MaskedArray)


def to_piece(raw: Any) -> Piece:
    """The piece of a raw chunk: a numpy array, a masked array, an arrow array or a piece."""
    if isinstance(raw, (Typed, Objects, Coded)):
        return raw
    if _masked(raw):
        data = np.ma.getdata(raw)
        mask = np.ma.getmaskarray(raw)
        if data.dtype.kind == "O":
            values = data.copy()
            values[mask] = None
            return Objects(values)
        return Typed(data, mask if mask.any() else None)
    if isinstance(raw, np.ndarray):
        return Objects(raw) if raw.dtype.kind == "O" else Typed(raw)
    if is_arrow(raw):
        from pqlkit._arrow import arrow_piece

        return arrow_piece(raw)
    return raw  # an ArrowStr built by pqlkit._arrow


def slice_raw(raw: Any, lo: int, hi: int) -> Any:
    """Rows ``lo:hi`` of a raw column (numpy, masked, arrow, or codes pqlkit made)."""
    if isinstance(raw, Coded):
        return Coded(raw.codes[lo:hi], raw.values)
    if is_arrow(raw):
        from pqlkit._arrow import arrow_slice

        return arrow_slice(raw, lo, hi)
    return raw[lo:hi]


def raw_value(raw: Any, i: int) -> Any:
    """The value of row ``i`` of a raw chunk as a Python object, for messages and checks."""
    if isinstance(raw, Coded):
        code = int(raw.codes[i])
        return None if code < 0 else raw.values[code]
    if isinstance(raw, Typed):
        if raw.missing is not None and raw.missing[i]:
            return None
        return raw_value(raw.values, i)
    if isinstance(raw, Objects):
        return raw.values[i]
    if _masked(raw):
        if np.ma.getmaskarray(raw)[i]:
            return None
        return raw_value(np.ma.getdata(raw), i)
    if isinstance(raw, np.ndarray):
        value = raw[i]
        # datetime64 stays itself (read as UTC); .item() would make it a naive datetime.
        if raw.dtype.kind in "OM":
            return value
        return value.item()
    if is_arrow(raw):
        from pqlkit._arrow import arrow_value

        return arrow_value(raw, i)
    return raw.value(i)


# -- factorizing -----------------------------------------------------------------------------


def _float_key(v: float) -> tuple[Any, ...]:
    # 0.0 == -0.0 in Python; as property values they stay apart (the sign is kept).
    return (float, v, math.copysign(1.0, v))


def factorize_objects(values: Sequence[Any] | Array) -> Coded:
    """Codes of Python values, equal only when of the same type (``1``, ``1.0``, ``True``).

    Unhashable values (lists, dicts) each get their own code; they are checked per row.
    """
    coded = _factorize_strings(values)
    if coded is not None:
        return coded
    index: dict[Any, int] = {}
    uniq: list[Any] = []
    codes: list[int] = []
    append = codes.append
    for v in values:
        if v is None:
            append(-1)
            continue
        t = type(v)
        # A tuple holds its items' types in its text: (1,) and (1.0,) are two values.
        try:
            key = _float_key(v) if t is float else (t, v) if t is not tuple else value_key(v)
            code = index.get(key)
        except (TypeError, RecursionError):  # (unhashable, or nested too deep: checked later)
            append(len(uniq))
            uniq.append(v)
            continue
        if code is None:
            code = index[key] = len(uniq)
            uniq.append(v)
        append(code)
    return Coded(np.array(codes, dtype=np.int64), uniq)


def rank_slot(order: Sequence[int] | npt.NDArray[np.integer[Any]]) -> I32:
    """The inverse of the permutation ``order`` as an int32 lookup table, with a last slot
    of -1: ``rank_slot(order)[codes]`` recodes codes into the order's, keeping -1."""
    rank = np.empty(len(order) + 1, dtype=np.int32)
    rank[np.asarray(order, dtype=np.int64)] = np.arange(len(order), dtype=np.int32)
    rank[-1] = -1
    return rank


def spare_slot(positions: npt.NDArray[np.integer[Any]]) -> I32:
    """Positions as an int32 lookup table with a last slot of -1, where code -1 (missing)
    lands: ``spare_slot(lut)[codes]`` maps codes, keeping -1."""
    out = np.empty(len(positions) + 1, dtype=np.int32)
    out[:-1] = positions
    out[-1] = -1
    return out


def sparse_coded(rows: Sequence[int] | Array, values: Sequence[Any] | Array, n: int) -> Coded:
    """A column of ``n`` rows from the rows that hold a value and those values (the
    others missing), coded from the values alone: a property most events lack costs a
    Python step per value it holds, not per event (its codes, int32 as the log keeps
    them, still take 4 bytes per event)."""
    held = factorize_objects(values)
    codes = np.full(n, -1, dtype=np.int32)
    codes[np.asarray(rows, dtype=np.int64)] = held.codes
    return Coded(codes, held.values)


def hash_fixed(values: Array) -> npt.NDArray[np.uint64]:
    """A 64-bit hash of each row's bytes of a fixed-width ('U' or 'S') array.

    Equal values get equal hashes; different values almost always different ones (callers
    compare the values where it matters). Computed a chunk at a time, byte order fixed.
    """
    n = len(values)
    width = values.dtype.itemsize
    out = np.empty(n, dtype=np.uint64)
    prime = np.uint64(0x100000001B3)
    shift = np.uint64(29)
    step = 1 << 16  # rows hashed at a time: the padded copy stays a few MiB
    for lo in range(0, n, step):
        part = np.ascontiguousarray(values[lo:lo + step])
        raw = part.view(np.uint8).reshape(len(part), width)
        pad = (-width) % 8
        if pad:
            raw = np.concatenate([raw, np.zeros((len(part), pad), dtype=np.uint8)], axis=1)
        words = raw.view("<u8")
        h = np.full(len(part), 0xCBF29CE484222325, dtype=np.uint64)
        for j in range(words.shape[1]):
            h ^= words[:, j]
            h *= prime
            h ^= h >> shift
        out[lo:lo + len(part)] = h
    return out


def _factorize_strings(values: Sequence[Any] | Array) -> Coded | None:
    """Codes of a column holding only strings and None (the usual column of ids, names or
    text traits), or None when it holds anything else.

    Dicts do the hashing in C, and the distinct values are the column's own str objects,
    whose cached hashes make every later lookup of them cheap.
    """
    items = values.tolist() if isinstance(values, np.ndarray) else list(values)
    kinds = set(map(type, items))
    if not (kinds <= {str, type(None)} and str in kinds):
        return None
    first = dict.fromkeys(items)
    first.pop(None, 0)
    uniq = list(first)
    index: dict[str | None, int] = dict(zip(uniq, range(len(uniq)), strict=True))
    index[None] = -1
    codes = np.fromiter(map(index.__getitem__, items), dtype=np.int64, count=len(items))
    return Coded(codes, uniq)


def _factorize_fixed(values: Array) -> tuple[I64, Array]:
    """Codes and distinct values of a fixed-width ('U' or 'S') array, without sorting strings.

    Rows are grouped by a 64-bit hash of their bytes; every row is then compared with its
    group's first row, so a hash collision cannot merge two values (it falls back to
    :func:`numpy.unique`).
    """
    n = len(values)
    if n == 0:
        return np.zeros(0, dtype=np.int64), values[:0]
    h = hash_fixed(values)
    order = np.argsort(h)
    sorted_h = h[order]
    del h
    new = np.empty(n, dtype=np.bool_)
    new[0] = True
    np.not_equal(sorted_h[1:], sorted_h[:-1], out=new[1:])
    del sorted_h
    group = np.cumsum(new) - 1
    codes = np.empty(n, dtype=np.int64)
    codes[order] = group
    del group
    uniq = values[order[new]]
    del order, new
    step = 1 << 16
    if not all(np.array_equal(uniq[codes[lo:lo + step]], values[lo:lo + step])
               for lo in range(0, n, step)):
        uniq, inverse = np.unique(values, return_inverse=True)
        codes = inverse.reshape(-1).astype(np.int64)
    return codes, uniq


def _coded(piece: Piece, label: str, *, allow_int: bool) -> Coded:
    """Any piece as codes into distinct raw values (for names, ids and object properties)."""
    if isinstance(piece, Coded):
        return piece
    if isinstance(piece, Objects):
        return factorize_objects(piece.values)
    if isinstance(piece, Typed):
        values, missing = piece.values, piece.missing
        kind = values.dtype.kind
        if kind == "U" or (kind in "iu" and allow_int):
            # Masked slots hold arbitrary values: they must not become distinct values.
            present = None if missing is None else np.flatnonzero(~missing)
            sub = values if present is None else values[present]
            if kind == "U":
                sub_codes, uniq = _factorize_fixed(sub)
            else:
                uniq, inverse = np.unique(sub, return_inverse=True)
                sub_codes = inverse.reshape(-1).astype(np.int64)
            if present is None:
                codes = sub_codes
            else:
                codes = np.full(len(values), -1, dtype=np.int64)
                codes[present] = sub_codes
            return Coded(codes, uniq.tolist())
        raise _dtype_error(label, values.dtype)
    return piece.to_coded()  # type: ignore[no-any-return]


def _dtype_error(label: str, dtype: Any) -> PqlkitTypeError:
    if label == "name":
        return PqlkitTypeError(
            f"name column has dtype {dtype}; event names must be strings (a column of codes "
            "needs mapping to its names first, or casting to text: .astype(str))")
    hint = ""
    if getattr(dtype, "kind", "") == "f":
        hint = (" (an integer column with missing values becomes float when converted to "
                "numpy: pass a masked array, a pyarrow array, or strings)")
    return PqlkitTypeError(
        f"{label} column has dtype {dtype}; {label} values must be strings or integers{hint}"
    )


# -- names and ids ---------------------------------------------------------------------------


class _CodeEncoder:
    """Codes into a growing list of distinct checked values, shared by every chunk.

    Codes ``>= 0`` index :attr:`values`; ``-1`` is missing. Arrow string dictionaries (one
    per Parquet row group, each listing most ids again) are not looked at value by value:
    their rows get *pending* codes ``-2 - k``, and :meth:`finish` unifies all of them in one
    pyarrow pass. Integer ids from numpy or Arrow are pending the same way. When no id came
    as a Python value, the distinct ids stay an Arrow (or numpy) array to the end; else
    Python sees each distinct id once.
    """

    def __init__(self, label: str, check: Callable[[Any], Any], *, missing_is_bad: bool,
                 allow_int: bool, defer_arrow: bool = False) -> None:
        self.label = label
        self.values: list[Any] = []
        self._index: dict[Any, int] = {}
        # Raw str and int values (one type per dict, so 1 and "1" stay apart).
        self._seen: dict[Any, int] = {}
        self._last: tuple[Any, I32, BoolArray] | None = None
        self._check = check
        self._missing_is_bad = missing_is_bad
        self._allow_int = allow_int
        self._defer = defer_arrow
        self._plain_ids = defer_arrow  # ids: any int or non-blank str is valid
        self._pending: list[Any] = []
        self._n_pending = 0
        self._ids: IdValues | None = None

    def feed(self, piece: Piece) -> tuple[I32, BoolArray | None]:
        """Codes of a chunk's rows, and which rows are bad (None: none is)."""
        if self._defer and isinstance(piece, Typed) and _int64_safe(piece.values):
            return self._feed_ints(piece)
        coded = _coded(piece, self.label, allow_int=self._allow_int)
        last = self._last
        if (last is not None and coded.dictionary is not None
                and (coded.dictionary is last[0] or coded.dictionary.equals(last[0]))):
            lut_arr, bad_arr = last[1], last[2]
        else:
            if self._defer and coded.dictionary is not None and _is_text_dictionary(coded):
                from pqlkit._arrow import blank_strings

                lut_arr, bad_arr = self._lut_pending(coded.dictionary,
                                                     blank_strings(coded.dictionary))
            else:
                lut_arr, bad_arr = self._lut(coded.values)
            self._last = (None if coded.dictionary is None else
                          (coded.dictionary, lut_arr, bad_arr))
        codes = coded.codes
        return lut_arr[codes], _bad_rows(bad_arr, codes)

    def _feed_ints(self, piece: Typed) -> tuple[I32, BoolArray | None]:
        """Integer ids (every one valid): pending codes into the chunk's distinct values,
        kept as numpy until :meth:`finish`."""
        values, missing = piece.values, piece.missing
        present = None if missing is None else np.flatnonzero(~missing)
        sub = values if present is None else values[present]
        uniq, inverse = np.unique(sub.astype(np.int64, copy=False), return_inverse=True)
        codes = inverse.reshape(-1)
        if present is not None:
            codes = np.full(len(values), -1, dtype=np.intp)
            codes[present] = inverse.reshape(-1)
        lut_arr, bad_arr = self._lut_pending(uniq, np.zeros(len(uniq), dtype=np.bool_))
        self._last = None
        return lut_arr[codes], _bad_rows(bad_arr, codes)

    def _lut(self, raw_values: list[Any]) -> tuple[I32, BoolArray]:
        if self._plain_ids:
            fast = self._lut_plain(raw_values)
            if fast is not None:
                return fast
        lut: list[int] = []
        bad: list[bool] = []
        for v in raw_values:
            code = self._code(v)
            if code is None:
                lut.append(-1)
                bad.append(True)
            else:
                lut.append(code)
                bad.append(code < 0 and self._missing_is_bad)
        lut.append(-1)  # code -1 (missing) indexes this last entry
        bad.append(self._missing_is_bad)
        return np.array(lut, dtype=np.int32), np.array(bad, dtype=np.bool_)

    def _lut_plain(self, raw_values: list[Any]) -> tuple[I32, BoolArray] | None:
        """The lut of ids that are all ints or strings not starting with whitespace (the
        usual case), made with dict operations and no Python call per value; None when
        some value needs :meth:`_code`'s checks."""
        types = set(map(type, raw_values))
        if not types or not types <= {str, int}:
            return None
        seen = self._seen
        if str in types and not all(map(_plain_id, [v for v in raw_values if v not in seen])):
            return None
        k = len(raw_values)
        lut = np.empty(k + 1, dtype=np.int32)
        lut[:k] = self._add_plain(raw_values)
        lut[k] = -1
        bad = np.zeros(k + 1, dtype=np.bool_)
        bad[k] = self._missing_is_bad
        return lut, bad

    def _add_plain(self, raw_values: list[Any]) -> list[int]:
        """The codes of valid exact str or int values, giving new ones the next codes in
        order of first appearance (as :meth:`_add` one at a time would)."""
        return _intern(raw_values, self.values, self._seen)

    def _code(self, v: Any) -> int | None:
        """The code of raw value ``v``: -1 when it means missing, None when it is invalid."""
        t = type(v)
        if t is str or t is int:
            # A plain str or int seen before needs no check: look it up by itself.
            code = self._seen.get(v)
            if code is not None:
                return code
            # An id that is an int, or a str not starting with a space (so not blank) and
            # without a lone surrogate, is valid as it is.
            if self._plain_ids and _plain_id(v):
                return self._add(v)
        try:
            norm = self._check(v)
        except FieldError:
            return None
        if norm is None:
            return -1
        return self._add(norm)

    def _add(self, norm: Any) -> int:
        """The code of a checked value, giving it the next one if it is new."""
        t = type(norm)
        if t is str or t is int:
            code = self._seen.get(norm)
            if code is None:
                code = self._seen[norm] = len(self.values)
                self.values.append(norm)
            return code
        key = (t, norm)
        code = self._index.get(key)
        if code is None:
            code = self._index[key] = len(self.values)
            self.values.append(norm)
        return code

    def _lut_pending(self, dictionary: Any, blank: BoolArray) -> tuple[I32, BoolArray]:
        k = len(dictionary)
        lut = np.empty(k + 1, dtype=np.int32)
        lut[:k] = -2 - (self._n_pending + np.arange(k, dtype=np.int32))
        lut[:k][blank] = -1
        lut[k] = -1
        bad = np.zeros(k + 1, dtype=np.bool_)
        if self._missing_is_bad:
            bad[:k] = blank
            bad[k] = True
        self._pending.append(dictionary)
        self._n_pending += k
        return lut, bad

    def distinct(self) -> list[Any] | IdValues:
        """The values the codes index, once :meth:`finish` has run: a list, or for ids
        that only ever came as Arrow text or numpy integers, an :class:`IdValues`."""
        return self.values if self._ids is None else self._ids

    def finish(self) -> I32 | None:
        """Map every code handed out to an index into :meth:`distinct` (-1 for missing).

        Returns None when there are no pending codes (codes already index ``values``);
        else an array to index with the codes (negative codes index from its end).
        """
        if not self._pending:
            return None
        pending, self._pending = self._pending, []
        kinds = {type(d) is np.ndarray for d in pending}
        if not self.values and len(kinds) == 1:
            # Nothing came as Python values: the ids stay in Arrow (or numpy) throughout.
            if kinds == {True}:
                uniq, inverse = np.unique(np.concatenate(pending), return_inverse=True)
                self._ids = IdValues(uniq, "int")
                mapped = inverse.reshape(-1).astype(np.int32)
            else:
                from pqlkit._arrow import sorted_distinct

                mapped, distinct = sorted_distinct(pending)
                self._ids = IdValues(distinct, "str", sorted=True)
        else:
            mapped = np.concatenate([self._mapped(group) for group in _runs(pending)])
        out = np.empty(len(self.values) + len(mapped) + 1, dtype=np.int32)
        out[:len(self.values)] = np.arange(len(self.values), dtype=np.int32)
        out[len(self.values):-1] = mapped[::-1]
        out[-1] = -1
        return out

    def _mapped(self, pending: list[Any]) -> I32:
        """Indices into :attr:`values` of the entries of pending dictionaries of one kind,
        adding the new ones (the mixed case: some ids also came as Python values)."""
        if type(pending[0]) is np.ndarray:
            return np.array(self._add_plain(np.concatenate(pending).tolist()), dtype=np.int32)
        from pqlkit._arrow import sorted_distinct

        rank, distinct = sorted_distinct(pending)
        # Non-blank strings pass check_id as they are: no per-value check is needed.
        mapped = np.empty(len(distinct) + 1, dtype=np.int32)
        mapped[:-1] = self._add_plain(distinct.to_pylist())
        mapped[-1] = -1  # rank -1: a blank or null entry
        out: I32 = mapped[rank]
        return out


def _bad_rows(bad: BoolArray, codes: Array) -> BoolArray | None:
    """``bad[codes]``, or None when no row is bad (the usual chunk: no gather at all)."""
    if not bad[:-1].any() and (not bad[-1] or not len(codes) or int(codes.min()) >= 0):
        return None
    out: BoolArray = bad[codes]
    return out


def _runs(pending: list[Any]) -> list[list[Any]]:
    """Consecutive pending dictionaries grouped by kind (numpy integers or Arrow text)."""
    out: list[list[Any]] = []
    for d in pending:
        if out and (type(d) is np.ndarray) == (type(out[-1][0]) is np.ndarray):
            out[-1].append(d)
        else:
            out.append([d])
    return out


def _int64_safe(values: Array) -> bool:
    """Integers that int64 holds (unsigned ones checked against its maximum)."""
    kind = values.dtype.kind
    return kind == "i" or (kind == "u" and (not len(values) or int(values.max()) <= _INT64_MAX))


class IdValues:
    """Distinct ids kept out of Python: an Arrow string array (``kind="str"``) or a numpy
    int64 array (``kind="int"``). Indexing gives the Python value, for messages.

    >>> ids = IdValues(np.array([3, 7]), "int")
    >>> len(ids), ids[1], ids.tolist()
    (2, 7, [3, 7])
    """

    __slots__ = ("_list", "array", "kind", "sorted")

    def __init__(self, array: Any, kind: str, *, sorted: bool = False) -> None:
        self.array = array
        self.kind = kind
        self.sorted = sorted  # distinct and in id order already
        self._list: list[Any] | None = None

    def __len__(self) -> int:
        return len(self.array)

    def __getitem__(self, i: int) -> Any:
        if self.kind == "int":
            return int(self.array[i])
        return self.array[int(i)].as_py()

    def tolist(self) -> list[Any]:
        """The ids as Python values, made once (a loader may make them on a worker)."""
        if self._list is None:
            self._list = (self.array.tolist() if self.kind == "int"
                          else self.array.to_pylist())
        return self._list

    def take(self, rows: I64) -> IdValues:
        if self.kind == "int":
            return IdValues(self.array[rows], "int")
        from pqlkit._arrow import arrow_take

        return IdValues(arrow_take(self.array, rows), "str")


def _intern(raw: list[Any], values: list[Any], index: dict[Any, int]) -> list[int]:
    """The codes of ``raw`` values (hashable, each its own key) in ``index``; values not
    there yet are appended to ``values`` in order of first appearance and indexed."""
    # One pass: setdefault gives a new value the next code (``values`` grows only by the
    # new keys of ``index`` here, in the order they are added), an old one its own. Three
    # passes (filter, dedupe, update) took 2.4x as long on a million new strings.
    before = len(index)
    offset = len(values) - before
    add = index.setdefault
    codes = [add(v, offset + len(index)) for v in raw]
    values.extend(itertools.islice(index, before, None))
    return codes


def _plain_id(v: Any) -> bool:
    """An id valid as it is (:func:`pqlkit.records.check_id` would return it unchanged)."""
    return type(v) is int or (v != "" and not v[0].isspace() and utf8(v))


def _is_text_dictionary(coded: Coded) -> bool:
    t = str(coded.dictionary.type)
    return t in ("string", "large_string", "string_view", "utf8", "large_utf8")


class NameEncoder(_CodeEncoder):
    """Event names, checked as :func:`pqlkit.records.check_name` does."""

    def __init__(self) -> None:
        super().__init__("name", check_name, missing_is_bad=True, allow_int=False)


class IdEncoder(_CodeEncoder):
    """User or account ids, checked as :func:`pqlkit.records.check_id` does."""

    def __init__(self, label: str, *, required: bool = False) -> None:
        super().__init__(label, lambda v: check_id(v, label, required=required),
                         missing_is_bad=required, allow_int=True, defer_arrow=True)


# -- timestamps ------------------------------------------------------------------------------


def _is_utc(tz: str | tzinfo | None) -> bool:
    if isinstance(tz, str):
        return tz.strip().upper() in ("UTC", "Z")
    return tz is UTC


def _digits(m: Array, cols: Sequence[int]) -> tuple[I64, BoolArray]:
    value = np.zeros(m.shape[0], dtype=np.int64)
    ok = np.ones(m.shape[0], dtype=np.bool_)
    for j in cols:
        c = m[:, j].astype(np.int64) - 48
        ok &= (c >= 0) & (c <= 9)
        value = value * 10 + c
    return value, ok


def _days_from_civil(y: I64, m: I64, d: I64) -> I64:
    # Howard Hinnant's days_from_civil, for years >= 1 (so no negative eras).
    y = y - (m <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * ((m + 9) % 12) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    out: I64 = era * 146_097 + doe - 719_468
    return out


_MONTH_DAYS: Final = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


def parse_iso(values: Array, *, naive_utc: bool) -> tuple[I64, BoolArray]:
    """Vectorised parse of ISO-8601 text in the common shape; ``ok`` marks what it read.

    Reads ``YYYY-MM-DD[T ]HH:MM:SS[.f{1,6}]`` followed by ``Z``, ``±HH:MM``, ``±HHMM``,
    ``±HH`` or nothing (naive: read only when ``naive_utc``). Anything else is left for
    :func:`pqlkit.records.check_timestamp`, which is the reference: where this parser says
    ``ok`` it gives the same instant as dateutil.

    >>> us, ok = parse_iso(np.array(["2026-05-01T09:00:00Z", "2026-05-01T11:00:00.5+02:00",
    ...                              "May 1st"]), naive_utc=False)
    >>> us[:2].tolist(), ok.tolist()
    ([1777626000000000, 1777626000500000], [True, True, False])
    """
    n = len(values)
    us = np.zeros(n, dtype=np.int64)
    width = values.dtype.itemsize // 4
    if n == 0 or width < 19:
        return us, np.zeros(n, dtype=np.bool_)
    m = np.ascontiguousarray(values).view(np.uint32).reshape(n, width)
    nonzero = m != 0
    length = np.where(nonzero.any(axis=1), width - np.argmax(nonzero[:, ::-1], axis=1), 0)
    del nonzero
    year, ok = _digits(m, (0, 1, 2, 3))
    month, ok2 = _digits(m, (5, 6))
    day, ok3 = _digits(m, (8, 9))
    hour, ok4 = _digits(m, (11, 12))
    minute, ok5 = _digits(m, (14, 15))
    second, ok6 = _digits(m, (17, 18))
    ok &= ok2 & ok3 & ok4 & ok5 & ok6 & (length >= 19)
    ok &= (m[:, 4] == 45) & (m[:, 7] == 45) & (m[:, 13] == 58) & (m[:, 16] == 58)
    ok &= (m[:, 10] == 84) | (m[:, 10] == 32)
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_ok = (month >= 1) & (month <= 12)
    dim = _MONTH_DAYS[np.where(month_ok, month, 1)] + ((month == 2) & leap)
    ok &= (year >= 1) & month_ok & (day >= 1) & (day <= dim)
    ok &= (hour <= 23) & (minute <= 59) & (second <= 59)

    rows = np.arange(n)

    def at(pos: I64) -> I64:
        inside = pos < length
        c = m[rows, np.minimum(pos, width - 1)].astype(np.int64)
        return np.where(inside, c, -1)

    # Fraction: '.' and 1-6 digits (a 7th digit is left to dateutil, which truncates).
    has_frac = at(np.full(n, 19)) == 46
    frac = np.zeros(n, dtype=np.int64)
    k = np.zeros(n, dtype=np.int64)
    run = has_frac.copy()
    for j in range(20, 27):
        c = at(np.full(n, j)) - 48
        is_digit = run & (c >= 0) & (c <= 9)
        if j < 26:
            frac = np.where(is_digit, frac * 10 + c, frac)
        k += is_digit
        run = is_digit
    ok &= ~has_frac | ((k >= 1) & (k <= 6))
    frac = frac * 10 ** (6 - np.minimum(k, 6))
    zone = 19 + np.where(has_frac, 1 + k, 0)
    rest = length - zone
    sign_c = at(zone)
    sign = np.where(sign_c == 45, -1, 1)
    is_sign = (sign_c == 43) | (sign_c == 45)

    def digit(offset: int) -> tuple[I64, BoolArray]:
        c = at(zone + offset) - 48
        return c, (c >= 0) & (c <= 9)

    h1, d1 = digit(1)
    h2, d2 = digit(2)
    colon = at(zone + 3) == 58
    m1c, d3c = digit(4)
    m2c, d4c = digit(5)
    m1n, d3n = digit(3)
    m2n, d4n = digit(4)
    naive = rest == 0
    z = (rest == 1) & (sign_c == 90)
    hh_only = (rest == 3) & is_sign & d1 & d2
    hhmm = (rest == 5) & is_sign & d1 & d2 & d3n & d4n
    hh_mm = (rest == 6) & is_sign & d1 & d2 & colon & d3c & d4c
    off_h = h1 * 10 + h2
    off_m = np.where(hh_mm, m1c * 10 + m2c, np.where(hhmm, m1n * 10 + m2n, 0))
    offset = hh_only | hhmm | hh_mm
    ok &= (naive & naive_utc) | z | (offset & (off_h <= 23) & (off_m <= 59))
    off_us = np.where(offset, sign * (off_h * 60 + off_m) * 60_000_000, 0)
    days = _days_from_civil(np.where(ok, year, 1970), np.where(ok, month, 1), np.where(ok, day, 1))
    us = ((((days * 24 + hour) * 60 + minute) * 60 + second) * 1_000_000 + frac - off_us)
    ok &= (us >= MIN_US) & (us <= MAX_US)
    us[~ok] = 0
    return us, ok


def _plain_micros(values: Array) -> I64 | None:
    """The usual timestamp column (Arrow, Parquet): ``datetime64[us]`` whose instants all
    lie in years 1..9999, as two reductions tell, read as its microseconds themselves (a
    view); None for any other."""
    if values.dtype != np.dtype("datetime64[us]") or not len(values):
        return None
    raw = values.view(np.int64)
    return raw if int(raw.min()) >= MIN_US and int(raw.max()) <= MAX_US else None


class TimeEncoder:
    """Timestamps to int64 µs UTC, as :func:`pqlkit.records.check_timestamp` reads them.

    ``datetime64`` is read as UTC; aware datetimes and ISO-8601 text with a zone are read
    exactly; numbers only with ``epoch_unit``. With ``optional`` (``created_at``) a missing
    value is :data:`NO_TIME` rather than a rejection.
    """

    def __init__(self, label: str, *, tz: str | tzinfo | None, epoch_unit: str | None,
                 optional: bool = False) -> None:
        self.label = label
        self._tz = tz
        self._epoch_unit = epoch_unit
        self._optional = optional
        self._naive_utc = _is_utc(tz)
        self._cache: dict[Any, int | None] = {}
        check_options(tz, epoch_unit)

    def feed(self, piece: Piece) -> tuple[I64, BoolArray]:
        if isinstance(piece, Typed):
            values = piece.values
            if piece.missing is not None and values.dtype.kind in "iufM":
                # Masked slots hold arbitrary values: read them as a harmless zero.
                values = np.where(piece.missing, np.zeros(1, dtype=values.dtype), values)
            us, bad, missing = self._typed(values)
            if piece.missing is not None:
                bad &= ~piece.missing
                missing = missing | piece.missing
        elif isinstance(piece, Objects):
            us, bad, missing = self._objects(piece.values)
        elif isinstance(piece, Coded):
            vus, vbad, vmissing = self._objects(object_array(piece.values))
            codes = piece.codes
            us = np.append(vus, 0)[codes]
            bad = np.append(vbad, False)[codes]
            missing = np.append(vmissing, True)[codes]
        else:
            text, missing = piece.to_unicode()
            us, bad = self._strings(text)
            bad &= ~missing
        if self._optional:
            if missing.any():  # (us may be a read-only view of the input otherwise)
                us[missing] = _NO_TIME
        else:
            bad = bad | missing
        return us, bad

    def feed_into(self, out: I64, piece: Piece) -> BoolArray | None:
        """:meth:`feed`, writing the microseconds into ``out``; the rows refused, or None
        when no row is. The usual column (microseconds, no null, every instant in range)
        allocates nothing but is copied: on a loader's worker threads, a chunk's temporary
        arrays are handed back to the system by glibc and faulted in again at the next."""
        if isinstance(piece, Typed) and piece.missing is None:
            raw = _plain_micros(piece.values)
            if raw is not None:
                out[...] = raw
                return None
        us, bad = self.feed(piece)
        out[...] = us
        return bad if bad.any() else None

    def _typed(self, values: Array) -> tuple[I64, BoolArray, BoolArray]:
        kind = values.dtype.kind
        n = len(values)
        none = np.zeros(n, dtype=np.bool_)
        if kind == "M":
            unit = np.datetime_data(values.dtype)[0]
            raw = _plain_micros(values)
            if raw is not None:
                return raw, none, none.copy()
            missing = values.view(np.int64) == _NAT
            if unit in ("ns", "ps", "fs", "as"):
                # Every instant these units can hold lies within years 1..9999.
                in_range = ~missing
                zero = np.zeros(1, dtype=values.dtype)[0]
            else:
                zero, hi = np.array([MIN_US, MAX_US], dtype="datetime64[us]").astype(values.dtype)
                in_range = (values >= zero) & (values <= hi) & ~missing
            kept = np.where(in_range, values, zero)
            # Finer units round up to the microsecond (numpy's cast floors); coarser exact.
            us = finer_micros(kept.view(np.int64), values.dtype)
            if us is None:
                us = kept.astype("datetime64[us]").view(np.int64)
            return us, ~in_range & ~missing, missing
        if kind == "U":
            us, bad = self._strings(values)
            return us, bad, none
        if kind in "iuf":
            if self._epoch_unit is None:
                raise ValidationError(
                    f"{self.label} column holds numbers ({values.dtype}); epoch numbers are "
                    "ambiguous (seconds? milliseconds?): pass epoch_unit='s' (or 'ms', 'us', "
                    "'ns'), or give datetime64 values"
                )
            return (*self._epoch(values), none)
        raise PqlkitTypeError(
            f"{self.label} column has dtype {values.dtype}; give datetime64 values, aware "
            "datetimes, ISO-8601 strings, or numbers with epoch_unit="
        )

    def _epoch(self, values: Array) -> tuple[I64, BoolArray]:
        unit = self._epoch_unit
        assert unit is not None
        us: Array
        if values.dtype.kind == "f":
            v = values.astype(np.float64)
            finite = np.isfinite(v)
            safe = np.where(finite, v, 0.0)
            if unit == "ns":
                t = np.trunc(safe)
                ok = finite & (np.abs(t) < 9.2e18)
                us = ceil_div(np.where(ok, t, 0.0).astype(np.int64), 1000)
            else:
                x = np.rint(safe * _EPOCH_FACTOR[unit])
                ok = finite & (x >= MIN_US) & (x <= MAX_US)
                us = np.where(ok, x, 0.0).astype(np.int64)
        else:
            if values.dtype.kind == "u":
                big = values > _INT64_MAX
                v = np.where(big, 0, values).astype(np.int64)
            else:
                big = np.zeros(len(values), dtype=np.bool_)
                v = values.astype(np.int64)
            if unit == "ns":
                us = ceil_div(v, 1000)
                ok = ~big
            else:
                f = _EPOCH_FACTOR[unit]
                ok = ~big & (v >= -(-MIN_US // f)) & (v <= MAX_US // f)
                us = np.where(ok, v, 0) * f
        ok &= (us >= MIN_US) & (us <= MAX_US)
        # What the fast path cannot read goes through from_epoch for the exact reason.
        bad = ~ok
        for i in np.flatnonzero(bad):
            got = self._slow(values[i].item())
            if got is not None:
                us[i] = got
                bad[i] = False
        out: I64 = us.astype(np.int64, copy=False)
        return out, bad

    def _strings(self, values: Array) -> tuple[I64, BoolArray]:
        us, ok = parse_iso(values, naive_utc=self._naive_utc)
        bad = ~ok
        rest = np.flatnonzero(bad)
        if len(rest):
            uniq, inverse = np.unique(values[rest], return_inverse=True)
            got = [self._slow(str(s)) for s in uniq.tolist()]
            fill = np.array([0 if g is None else g for g in got], dtype=np.int64)
            failed = np.array([g is None for g in got], dtype=np.bool_)
            inverse = inverse.reshape(-1)
            us[rest] = fill[inverse]
            bad[rest] = failed[inverse]
        return us, bad

    def _objects(self, values: Array) -> tuple[I64, BoolArray, BoolArray]:
        n = len(values)
        us = np.zeros(n, dtype=np.int64)
        bad = np.zeros(n, dtype=np.bool_)
        missing = np.zeros(n, dtype=np.bool_)
        text_rows: list[int] = []
        text: list[str] = []
        out: list[int] = [0] * n
        for i, v in enumerate(values):
            if v is None or (self._optional and is_nat(v)):
                missing[i] = True
            elif isinstance(v, datetime) and v.tzinfo is not None and v.utcoffset() is not None:
                try:
                    out[i] = to_micros(v.astimezone(UTC))
                except (OverflowError, ValueError):
                    bad[i] = True
            elif type(v) is str:
                text_rows.append(i)
                text.append(v)
            else:
                got = self._slow(v)
                if got is None:
                    bad[i] = True
                else:
                    out[i] = got
        us[:] = out
        if text:
            rows = np.array(text_rows, dtype=np.int64)
            tus, tbad = self._strings(np.array(text, dtype=str))
            us[rows] = tus
            bad[rows] = tbad
        return us, bad, missing

    def _slow(self, value: Any) -> int | None:
        try:
            key: Any = (type(value), value)
            hash(key)
        except TypeError:
            key = None
        if key is not None and key in self._cache:
            return self._cache[key]
        try:
            dt = check_timestamp(value, self.label, tz=self._tz, epoch_unit=self._epoch_unit)
            got: int | None = to_micros(dt)
        except (FieldError, ValidationError):
            got = None
        if got is not None and not MIN_US <= got <= MAX_US:
            got = None
        if key is not None:
            self._cache[key] = got
        return got


def object_array(values: Sequence[Any]) -> Array:
    """A 1-D object array holding ``values`` as they are (tuples stay single elements)."""
    return np.fromiter(values, dtype=object, count=len(values))


# -- properties ------------------------------------------------------------------------------


def value_key(v: Any) -> tuple[Any, ...]:
    """The identity and canonical order of a property value.

    Two values are the same value exactly when their keys are equal: ``True``, ``1`` and
    ``1.0`` stay apart, as do ``0.0`` and ``-0.0``. Sorting by the key puts booleans first,
    then numbers by value, strings by code point, datetimes, then containers.
    """
    t = type(v)
    if t is bool:
        return (0, int(v), 0, "")
    if t is int:
        return (1, v, 0, "")
    if t is float:
        return (1, v, 1, repr(v))
    if t is str:
        return (2, v)
    if isinstance(v, datetime):
        return (3, v.isoformat())
    return (4, canonical({"v": v}))


def typed_values(values: list[Any]) -> Array:
    """Distinct values as a typed array when they are all of one kind, else an object array."""
    types = {type(v) for v in values}
    if types == {bool}:
        return np.array(values, dtype=np.bool_)
    if types == {int} and all(-_INT64_MAX - 1 <= v <= _INT64_MAX for v in values):
        return np.array(values, dtype=np.int64)
    if types == {float}:
        return np.array(values, dtype=np.float64)
    if types == {str}:
        text = str_array(values)
        if text is not None:
            return text
    return object_array(values)


def sorted_text(values: Sequence[Any]) -> tuple[I32, npt.NDArray[np.str_]] | None:
    """Distinct strings in Python's order as a numpy str array, and each one's place in
    it (with a last slot of -1): ``rank[codes], text`` recodes a column of them with no
    Python step per value (a million distinct tokens took seconds to sort and type).

    None when a value is not a str or ends in NUL (see :func:`str_array`), or when a few
    long values would pad every entry far past the text's own size (a numpy str array is
    as wide as its longest value; sorting such wide entries is slow too): the caller
    sorts in Python then."""
    if not values or set(map(type, values)) != {str}:
        return None
    lengths = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
    if int(lengths.max()) > 2 * float(lengths.mean()) + 16:
        return None
    text = str_array(values, length=int(lengths.sum()))
    if text is None:
        return None
    order = np.argsort(text)
    # Sorted in place rather than gathered (text[order]): one str array, not two (128 MB
    # each for a million 32-character tokens). The values are distinct: both sorts agree.
    text.sort()
    return rank_slot(order), text


def str_array(values: Sequence[str], *, length: int | None = None
              ) -> npt.NDArray[np.str_] | None:
    """Strings as a numpy str array, or None when one ends in NUL: a numpy 'U' array drops
    trailing NULs, so such strings stay Python objects. (A 'U' array orders its strings
    as Python does, by code point.) ``length``: their total length, when known."""
    if not values:
        return np.zeros(0, dtype="<U1")
    text = np.array(values, dtype=np.str_)
    if length is None:
        length = sum(map(len, values))
    if int(np.char.str_len(text).sum()) != length:
        return None
    return text


class PropEncoder:
    """One property (or trait) column: raw numbers, sorted once at the end, or codes of
    checked values."""

    def __init__(self, key: str, n: int, *, field: str = "properties") -> None:
        self.key = key
        self.path = f"{field}.{key}"
        self._what = "property" if field == "properties" else "trait"
        self._n = n
        self._mode: str | None = None
        self._raw: Array = np.zeros(0)
        self._present: BoolArray = np.zeros(0, dtype=np.bool_)
        self._codes: I32 = np.zeros(0, dtype=np.int32)
        self._values: list[Any] = []
        self._index: dict[Any, int] = {}
        self._strings: dict[str, int] = {}

    def feed(self, lo: int, hi: int, piece: Piece | None) -> BoolArray | None:
        if piece is None:
            return None
        if isinstance(piece, Typed) and piece.values.dtype.kind in "biuf":
            values = piece.values
            if values.dtype.kind == "u" and len(values) and values.max() > _INT64_MAX:
                beyond = object_array(values.tolist())
                if piece.missing is not None:
                    beyond[piece.missing] = None  # (masked slots hold any number)
                return self._feed_coded(lo, hi, Objects(beyond))
            dtype = {"b": np.bool_, "i": np.int64, "u": np.int64, "f": np.float64}[
                values.dtype.kind]
            if self._mode is None:
                self._mode = "num"
                self._raw = np.zeros(self._n, dtype=dtype)
                self._present = np.zeros(self._n, dtype=np.bool_)
            if self._mode == "num" and self._raw.dtype == dtype:
                present = np.ones(hi - lo, dtype=np.bool_)
                if piece.missing is not None:
                    present &= ~piece.missing
                values = values.astype(dtype, copy=False)
                bad = None
                if dtype is np.float64:
                    bad = present & ~np.isfinite(values)
                    present &= ~bad
                self._raw[lo:hi] = np.where(present, values, 0)
                self._present[lo:hi] = present
                return bad
            missing = piece.missing
            objs = object_array(values.tolist())
            if missing is not None:
                objs[missing] = None
            return self._feed_coded(lo, hi, Objects(objs))
        if isinstance(piece, Typed) and piece.values.dtype.kind == "M":
            return self._feed_moments(lo, hi, piece)
        if isinstance(piece, Typed) and piece.values.dtype.kind not in "U":
            raise PqlkitTypeError(
                f"{self._what} {self.key!r} column has dtype {piece.values.dtype}; "
                f"{self._what} values must be strings, numbers, booleans, lists or mappings"
            )
        return self._feed_coded(lo, hi, piece)

    def _feed_moments(self, lo: int, hi: int, piece: Typed) -> BoolArray | None:
        """A timestamp column (a trial's end date): its instants as aware UTC datetimes,
        as a record's property holds them. Wall-clock times without a zone are refused,
        as an event timestamp column's are without ``tz=`` (DESIGN §3.1)."""
        if piece.zone_less:
            raise ValidationError(
                f"{self._what} {self.key!r} column holds timestamps without a time zone; "
                "give it one (pandas: .dt.tz_localize('UTC'); Arrow: "
                "pyarrow.compute.assume_timezone) or leave the column out (properties=)")
        us, bad = TimeEncoder(self.path, tz=None, epoch_unit=None, optional=True).feed(piece)
        ok = (us != _NO_TIME) & ~bad
        # One datetime per distinct instant, not per row.
        distinct, inverse = np.unique(us[ok], return_inverse=True)
        codes = np.full(len(us), -1, dtype=np.int64)
        codes[ok] = inverse.reshape(-1)
        got = self._feed_coded(lo, hi, Coded(codes, [from_micros(v) for v in distinct.tolist()]))
        if bad.any():
            return bad if got is None else bad | got
        return got

    def _feed_coded(self, lo: int, hi: int, piece: Piece) -> BoolArray | None:
        if self._mode != "coded":
            # Numbers seen so far (another log's typed column, in EventLog.concat) are
            # re-read as Python values so both kinds share one dictionary.
            rows = np.flatnonzero(self._present) if self._mode == "num" else None
            raw = self._raw
            self._mode = "coded"
            self._codes = np.full(self._n, -1, dtype=np.int32)
            self._raw = np.zeros(0)
            self._present = np.zeros(0, dtype=np.bool_)
            if rows is not None and len(rows):
                self._feed_coded_rows(rows, Objects(object_array(raw[rows].tolist())))
        return self._feed_coded_rows(slice(lo, hi), piece)

    def _feed_coded_rows(self, rows: I64 | slice, piece: Piece) -> BoolArray | None:
        coded = _coded(piece, f"{self._what} {self.key!r}", allow_int=True)
        if coded.values and set(map(type, coded.values)) == {str}:
            # Only strings (names, emails, plans): they need no check, and the dict does
            # the work without a Python step per value.
            vals = coded.values
            str_lut = np.empty(len(vals) + 1, dtype=np.int32)
            str_lut[:-1] = _intern(vals, self._values, self._strings)
            str_lut[-1] = -1
            self._codes[rows] = str_lut[coded.codes]
            return None
        lut: list[int] = []
        bad: list[bool] = []
        index, strings, values, path = self._index, self._strings, self._values, self.path
        for v in coded.values:
            if type(v) is str:  # the common case, which needs no check
                code = strings.get(v)
                if code is None:
                    code = strings[v] = len(values)
                    values.append(v)
                lut.append(code)
                bad.append(False)
                continue
            try:
                norm = _check_value(v, path)
            except FieldError:
                lut.append(-1)
                bad.append(True)
                continue
            if norm is None:
                lut.append(-1)
                bad.append(False)
                continue
            if type(norm) is str:
                code = strings.get(norm)
                if code is None:
                    code = strings[norm] = len(values)
                    values.append(norm)
            else:
                key = value_key(norm)
                code = index.get(key)
                if code is None:
                    code = index[key] = len(values)
                    values.append(norm)
            lut.append(code)
            bad.append(False)
        lut.append(-1)
        bad.append(False)
        codes = coded.codes
        self._codes[rows] = np.array(lut, dtype=np.int32)[codes]
        badrows = np.array(bad, dtype=np.bool_)[codes]
        return badrows if badrows.any() else None

    def finish(self, valid: BoolArray | None, *, ordered: bool = True
               ) -> tuple[I32, Array | list[Any]] | None:
        """Codes of the valid rows into the distinct values, sorted by :func:`value_key`
        (or, without ``ordered``, in an order of their own: see :func:`canonical_order`)."""
        if self._mode is None:
            return None
        codes: I32
        if self._mode == "num":
            raw, present = self._raw, self._present
            if valid is not None:
                raw, present = raw[valid], present[valid]
            self._raw = np.zeros(0)
            codes = np.full(len(raw), -1, dtype=np.int32)
            vals = raw[present]
            if raw.dtype == np.float64:
                # Unique by bit pattern (0.0 and -0.0 apart), ordered by value then sign.
                bits = vals.view(np.int64)
                ubits, inverse = np.unique(bits, return_inverse=True)
                uvals = ubits.view(np.float64)
                order = np.lexsort((ubits, uvals))
                rank = np.empty(len(order), dtype=np.int64)
                rank[order] = np.arange(len(order))
                codes[present] = rank[inverse.reshape(-1)]
                return codes, uvals[order]
            uniq, uinverse = np.unique(vals, return_inverse=True)
            codes[present] = uinverse.reshape(-1)
            return codes, uniq
        coded = self._codes if valid is None else self._codes[valid]
        self._codes = np.zeros(0, dtype=np.int32)
        if not ordered:
            return coded, self._values
        got = sorted_text(self._values) if len(self._strings) == len(self._values) else None
        if got is not None:
            place, text = got
            return place[coded], text
        by_value = canonical_order(self._values)
        return rank_slot(by_value)[coded], [self._values[j] for j in by_value]


def canonical_order(values: list[Any]) -> list[int]:
    """The positions of distinct property values in :func:`value_key` order."""
    kinds = {type(v) for v in values}
    # One kind of value: sort by the values themselves (no key tuples); floats need the
    # key (0.0 and -0.0 are equal but ordered).
    if kinds in ({str}, {int}):
        return sorted(range(len(values)), key=values.__getitem__)
    return sorted(range(len(values)), key=lambda j: value_key(values[j]))


# -- event ids -------------------------------------------------------------------------------


class Eids:
    """Event ids of the rows: ``int`` (int64), ``bytes`` (UTF-8 in an 'S' array) or ``object``."""

    __slots__ = ("mode", "present", "values")

    def __init__(self, mode: str, values: Array, present: BoolArray) -> None:
        self.mode = mode
        self.values = values
        self.present = present

    def take(self, rows: Array) -> Eids:
        return Eids(self.mode, self.values[rows], self.present[rows])

    def python(self, i: int) -> Any:
        """The id of row ``i`` as a Python value (None when absent)."""
        if not self.present[i]:
            return None
        v = self.values[i]
        if self.mode == "bytes":
            return bytes(v).decode("utf-8")
        if self.mode == "int":
            return int(v)
        return v

    def normalised(self) -> Eids:
        """The same ids in the narrowest mode their content allows."""
        if self.mode != "object":
            return self
        present = self.values[self.present]
        types = {type(v) for v in present}
        if types <= {int} and all(-_INT64_MAX - 1 <= v <= _INT64_MAX for v in present):
            out = np.zeros(len(self.values), dtype=np.int64)
            out[self.present] = np.array(present.tolist(), dtype=np.int64)
            return Eids("int", out, self.present)
        if types == {str} and not any(v.endswith("\x00") for v in present):
            encoded = [v.encode("utf-8") for v in present]
            width = max((len(b) for b in encoded), default=1) or 1
            out = np.zeros(len(self.values), dtype=f"S{width}")
            out[self.present] = np.array(encoded, dtype=f"S{width}")
            return Eids("bytes", out, self.present)
        return self

    def group_keys(self) -> Array:
        """A key per present row, equal for equal ids (order arbitrary).

        For string ids it is a hash, which two different ids may share: callers re-group
        the rows whose keys collide with :meth:`exact_keys`.
        """
        values = self.values[self.present]
        if self.mode == "int":
            return values
        if self.mode == "bytes":
            return hash_fixed(values).view(np.int64)
        return factorize_objects(values.tolist()).codes

    def exact_keys(self, rows: Array) -> I64:
        """A key for ``rows`` that is equal exactly when their ids are."""
        if self.mode != "bytes":
            return self.group_keys_of(rows)
        _, inverse = np.unique(self.values[rows], return_inverse=True)
        out: I64 = inverse.reshape(-1).astype(np.int64)
        return out

    def group_keys_of(self, rows: Array) -> I64:
        values = self.values[rows]
        if self.mode == "int":
            out: I64 = values.astype(np.int64)
            return out
        return factorize_objects(values.tolist()).codes

    def ranks(self, rows: Array) -> I64:
        """For ``rows``, a rank ordering their ids as :func:`pqlkit.eventlog.id_key` does."""
        present = self.present[rows]
        out = np.zeros(len(rows), dtype=np.int64)
        sub = self.values[rows[present]]
        if self.mode in ("int", "bytes"):
            _, inverse = np.unique(sub, return_inverse=True)
            out[present] = inverse.reshape(-1) + 1
        else:
            distinct = sorted({(type(v), v) for v in sub.tolist()}, key=lambda tv: id_key(tv[1]))
            rank = {tv: r + 1 for r, tv in enumerate(distinct)}
            out[present] = [rank[(type(v), v)] for v in sub.tolist()]
        return out

    def final(self) -> tuple[I32, Array]:
        """Codes (in row order) and values of the kept, canonically sorted rows."""
        eids = self.normalised()
        present = eids.present
        codes = np.full(len(present), -1, dtype=np.int32)
        n = int(present.sum())
        if not n:  # as when no event has an id, whatever the column looked like
            return codes, np.zeros(0, dtype=np.int64)
        codes[present] = np.arange(n, dtype=np.int32)
        values = eids.values if n == len(present) else eids.values[present]
        if eids.mode == "bytes":
            width = max((int(np.char.str_len(values[lo:lo + CHUNK]).max())
                         for lo in range(0, n, CHUNK)), default=1) or 1
            if width != values.dtype.itemsize:
                values = values.astype(f"S{width}")
        elif eids.mode == "object":
            values = object_array(values.tolist())
        return codes, values


class EidEncoder:
    """Event ids per row (they are nearly all distinct, so they are kept, not coded)."""

    def __init__(self, n: int) -> None:
        self._n = n
        self._parts: list[tuple[int, int, Eids]] = []

    def feed(self, lo: int, hi: int, piece: Piece | None) -> BoolArray | None:
        if piece is None:
            return None
        eids, bad = self._convert(piece, hi - lo)
        self._parts.append((lo, hi, eids))
        return bad

    def _convert(self, piece: Piece, n: int) -> tuple[Eids, BoolArray | None]:
        if isinstance(piece, Typed):
            values, missing = piece.values, piece.missing
            present = np.ones(n, dtype=np.bool_) if missing is None else ~missing
            kind = values.dtype.kind
            if kind == "i" or (kind == "u" and (not len(values) or values.max() <= _INT64_MAX)):
                return Eids("int", values.astype(np.int64), present), None
            if kind == "S":  # internal: the UTF-8 ids of another log (EventLog.concat)
                return Eids("bytes", values, present), None
            if kind == "U":
                return self._unicode(values, present)
            if kind == "u":
                return self._objects(object_array(values.tolist()), missing)
            raise _dtype_error("event_id", values.dtype)
        if isinstance(piece, Objects):
            return self._objects(piece.values, None)
        if isinstance(piece, Coded):
            return self._objects(object_array([*piece.values, None])[piece.codes], None)
        utf8 = piece.to_utf8()
        if utf8 is None:  # a string ends with NUL, which an 'S' array would drop
            return self._objects(object_array(piece.to_list()), None)
        return self._check_blank(*utf8)

    def _unicode(self, values: Array, present: BoolArray) -> tuple[Eids, BoolArray | None]:
        n = len(values)
        if n and values.dtype.itemsize:
            first = np.ascontiguousarray(values).view(np.uint32).reshape(n, -1)[:, 0]
            candidates = (first <= 0x20) | (first >= 0x80)
        else:
            candidates = np.ones(n, dtype=np.bool_)
        codes = np.ascontiguousarray(values).view(np.uint32) if n else np.zeros(0, np.uint32)
        if not len(codes) or codes.max() < 0x80:
            data = values.astype(f"S{max(values.dtype.itemsize // 4, 1)}")
        else:
            encoded = [s.encode("utf-8") for s in values.tolist()]
            data = np.array(encoded, dtype=f"S{max(max(map(len, encoded)), 1)}")
        return self._check_blank(data, present, candidates)

    @staticmethod
    def _check_blank(data: Array, present: BoolArray,
                     candidates: BoolArray) -> tuple[Eids, BoolArray | None]:
        # A blank id is "no id" (check_id); only strings starting with a byte that may begin
        # whitespace (or empty ones) can be blank, so only those are looked at in Python.
        present = present.copy()
        for i in np.flatnonzero(candidates & present):
            if not bytes(data[i]).decode("utf-8").strip():
                present[i] = False
        return Eids("bytes", data, present), None

    @staticmethod
    def _objects(values: Array, missing: BoolArray | None) -> tuple[Eids, BoolArray | None]:
        n = len(values)
        out = np.empty(n, dtype=object)
        present = np.zeros(n, dtype=np.bool_)
        bad = np.zeros(n, dtype=np.bool_)
        for i, v in enumerate(values):
            if v is None or (missing is not None and missing[i]):
                continue
            try:
                norm = check_id(v, "event_id", required=False)
            except FieldError:
                bad[i] = True
                continue
            if norm is not None:
                out[i] = norm
                present[i] = True
        return Eids("object", out, present).normalised(), (bad if bad.any() else None)

    def finish(self, valid: BoolArray | None) -> Eids | None:
        if not self._parts:
            return None
        modes = {eids.mode for _, _, eids in self._parts}
        n = self._n
        if modes == {"int"}:
            values: Array = np.zeros(n, dtype=np.int64)
        elif modes == {"bytes"}:
            width = max(eids.values.dtype.itemsize for _, _, eids in self._parts)
            values = np.zeros(n, dtype=f"S{width}")
        else:
            values = np.full(n, None, dtype=object)
        present = np.zeros(n, dtype=np.bool_)
        mode = modes.pop() if len(modes) == 1 else "object"
        parts, self._parts = self._parts[::-1], []
        while parts:
            lo, hi, eids = parts.pop()
            if mode == "object" and eids.mode != "object":
                values[lo:hi] = [eids.python(i) for i in range(hi - lo)]
            else:
                values[lo:hi] = eids.values
            present[lo:hi] = eids.present
            del eids
        out = Eids(mode, values, present)
        if valid is not None:
            out = out.take(np.flatnonzero(valid))
        return out.normalised()
