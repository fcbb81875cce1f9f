"""The columnar engine: each node of a model evaluated for every entity at once, with numpy.

It is the default engine. It reads the EventLog's arrays directly: a signal's slice of events
(name, window, signup window, property filter) is found once and shared by every signal that
reads it, and per-entity aggregates come from ``np.bincount`` and friends, so the work grows
with the events, not with Python loops over them. Values, missing values, decay, caps,
roll-ups and explanations follow the reference engine (:mod:`pqlkit.engine.reference`)
exactly; custom signals, rules and decays that only have a per-entity protocol run one
entity at a time and are listed in :attr:`pqlkit.ScoreResult.fallbacks`.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, TypeVar, cast, overload

import attrs
import numpy as np
import numpy.typing as npt

from pqlkit._columns import str_array, value_key
from pqlkit._fsum import fsum
from pqlkit._time import FAR, US_PER_DAY, Duration, from_micros, to_micros
from pqlkit.engine import Engine, resolve_as_of
from pqlkit.engine.reference import (
    EntityContext,
    ReferenceEngine,
    _decay_detail,
    _policy_text,
    _ref,
    _share_over,
    apply_decay,
    arith,
    compare,
    custom_points,
    distinct_key,
    is_number,
    lower,
    part,
    same_value,
    str_test,
    toward_zero,
    truth,
)
from pqlkit.errors import EngineNotSupportedError, PqlkitTypeError
from pqlkit.eventlog import NO_TIME, EventLog, canonical, id_key
from pqlkit.expr import (
    ARITH_OPS,
    COMPARE_OPS,
    ActiveDays,
    And,
    Arith,
    Compare,
    Count,
    DaysSinceFirst,
    DaysSinceLast,
    Distinct,
    DistinctUsers,
    EventSignal,
    Exists,
    Expr,
    FirstSeen,
    IsIn,
    IsMissing,
    LastSeen,
    Lit,
    Lower,
    Not,
    Or,
    Prop,
    Signal,
    StrTest,
    Total,
    Trait,
    chain,
)
from pqlkit.model import HalfLife, InactivityDecay, ResetAfter, Rollup, Rule
from pqlkit.results import (
    Evidence,
    Explanation,
    RollupExplanation,
    RuleContribution,
    ScoreResult,
    Table,
    _Deferred,
)

if TYPE_CHECKING:
    from pqlkit.model import ScoringModel

__all__ = ["ColumnarEngine"]

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]
AnyArray = npt.NDArray[Any]

_NONE: Final = -1
_EXACT53: Final = float(2 ** 52)   # one bit of margin below float64's 53-bit mantissa
_LONG_OK: Final = np.finfo(np.longdouble).nmant >= 63
_EXACT64: Final = float(2 ** 62)   # the same margin below an x87 long double's 64 bits
_LONG_U: Final = 2.0 ** -(np.finfo(np.longdouble).nmant + 1)   # its unit roundoff
_SAFE_INT: Final = 2 ** 53


# -- values ------------------------------------------------------------------------------------
#
# Every node evaluates to one of five shapes over the rows of a frame (the entities of a
# level, or the candidate events of a where= filter): a constant, numbers, booleans,
# timestamps, or Python objects dictionary-encoded as codes into their distinct values.


class _Const:
    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


class _Num:
    """Numbers (int64 or float64) with a present mask (None: all present)."""

    __slots__ = ("data", "present")

    def __init__(self, data: AnyArray, present: BoolArray | None = None) -> None:
        self.data = data
        self.present = present

    @classmethod
    def gather(cls, numbers: AnyArray, codes: npt.NDArray[np.integer[Any]]) -> _Num:
        """The ``numbers`` that ``codes`` index (-1: missing)."""
        present = codes >= 0
        if not len(numbers):
            return cls(np.zeros(len(codes), dtype=numbers.dtype), present)
        data = numbers[np.where(present, codes, 0)]
        return cls(data, None if present.all() else present)


class _Bool:
    __slots__ = ("data",)

    def __init__(self, data: BoolArray) -> None:
        self.data = data


class _Time:
    """Instants in µs since the epoch, with a present mask."""

    __slots__ = ("data", "present")

    def __init__(self, data: IntArray, present: BoolArray | None = None) -> None:
        self.data = data
        self.present = present


class _Obj:
    """Python values: ``codes`` (-1 = missing) into ``values``, distinct by type and value.

    A text trait read from Arrow (``text``) is coded only when ``codes`` or ``values`` is
    first read: string tests with an Arrow kernel run on its rows without that hashing.
    """

    __slots__ = ("_codes", "_values", "memo", "numbers", "strings", "text")

    def __init__(self, codes: IntArray | None, values: Sequence[Any] | None,
                 memo: dict[Any, Any] | None = None,
                 strings: npt.NDArray[np.str_] | None = None,
                 text: _TextRows | None = None,
                 numbers: IntArray | FloatArray | None = None) -> None:
        self._codes = codes
        self._values = values
        # Results of tests per distinct value, kept with a column that outlives one score.
        self.memo = memo
        # The values again as a numpy str array, when they are all str (no trailing NUL):
        # string tests then run over all of them at once.
        self.strings = strings
        self.text = text
        # The values again as an int64 or float64 array, when they are all one of those:
        # the column is then read as numbers (see _numbers).
        self.numbers = numbers

    @property
    def coded(self) -> bool:
        """Whether ``codes`` and ``values`` are made (always, but for a text trait)."""
        return self._codes is not None

    @property
    def codes(self) -> IntArray:
        if self._codes is None:
            self._code()
        assert self._codes is not None
        return self._codes

    @property
    def values(self) -> Sequence[Any]:
        if self._values is None:
            self._code()
        assert self._values is not None
        return self._values

    def _code(self) -> None:
        assert self.text is not None
        self._codes, self._values = self.text.coded()


#: A lowered text column: codes (-1: missing) into the distinct lowered strings (an
#: Arrow array: the tests that follow run on it with Arrow kernels), and the memo of the
#: tests over them.
_Lowered = tuple[IntArray, "_ArrowValues", dict[Any, Any]]


class _TextColumn:
    """A text trait as loaded: one plain Arrow string array over the rows of the users
    (or accounts) table, hashed into distinct values once per log, if ever."""

    __slots__ = ("_coded", "_lowered", "arrow", "row_memo", "valid")

    def __init__(self, arrow: Any) -> None:
        from pqlkit._arrow import text_valid

        self.arrow = arrow
        self.valid = np.append(text_valid(arrow), False)  # [-1]: no row
        self._coded: tuple[IntArray, _ArrowValues] | None = None
        self._lowered: _Lowered | bool | None = False  # False: not made yet
        # Results of tests per table row (then one for missing), by memo key.
        self.row_memo: dict[Any, BoolArray | None] = {}

    def coded(self) -> tuple[IntArray, _ArrowValues]:
        """Codes per table row (then -1 for no row) into the distinct values."""
        if self._coded is None:
            from pqlkit._arrow import text_dictionary

            codes, dictionary = text_dictionary(self.arrow)
            self._coded = (np.append(codes, _NONE).astype(np.int64), _ArrowValues(dictionary))
        return self._coded

    def lowered(self) -> _Lowered | None:
        """``lower()`` of the column, once per log, in pyarrow: codes per table row (then
        -1 for no row) into the distinct lower-cased strings, those strings and a memo for
        the tests that follow. None when pyarrow's lower-casing may not be Python's (a
        non-ASCII value): the values are then lowered one by one."""
        if self._lowered is False:
            from pqlkit._arrow import ascii_lower_codes

            got = ascii_lower_codes(self.arrow)
            self._lowered = None if got is None else (
                np.append(got[0], _NONE).astype(np.int64), _ArrowValues(got[1]), {})
        return None if isinstance(self._lowered, bool) else self._lowered


class _TextRows:
    """The entities' rows in a :class:`_TextColumn` (-1: none)."""

    __slots__ = ("column", "rows")

    def __init__(self, column: _TextColumn, rows: IntArray) -> None:
        self.column = column
        self.rows = rows

    def present(self) -> BoolArray:
        out: BoolArray = self.column.valid[self.rows]
        return out

    def within(self, exists: BoolArray) -> _TextRows:
        return _TextRows(self.column, np.where(exists, self.rows, _NONE))

    def coded(self) -> tuple[IntArray, _ArrowValues]:
        codes, values = self.column.coded()
        return codes[self.rows], values

    def lowered(self) -> _Obj | None:
        """``lower()`` of these rows, from the column's (see :meth:`_TextColumn.lowered`)."""
        got = self.column.lowered()
        if got is None:
            return None
        codes, values, tests = got
        return _Obj(codes[self.rows], values, tests)

    def test(self, memo: Any, fn: Callable[[Any], Any], arrow: _ArrowVector
             ) -> tuple[BoolArray, IntArray] | None:
        """``arrow`` over the column's rows (once per log), then ``fn(None)`` for the
        entities without the trait: results and positions as :func:`_map1` gives them."""
        col = self.column
        if memo in col.row_memo:
            found = col.row_memo[memo]
        else:
            found = _with_missing(arrow(col.arrow), fn(None))
            col.row_memo[memo] = found
        if found is None:
            return None
        return found, np.where(self.present(), self.rows, len(col.arrow))


class _LazyStrs(Sequence[str]):
    """Distinct text values held in an array, as Python str made only when read: tests
    over all values run on the array, and a list of a few hundred thousand Python strings
    (an email per user) is built only if something iterates over them."""

    __slots__ = ("_list",)

    def __init__(self) -> None:
        self._list: list[str] | None = None

    def _one(self, i: int) -> str:
        raise NotImplementedError

    def _make_list(self) -> list[str]:
        raise NotImplementedError

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> list[str]: ...

    def __getitem__(self, i: int | slice) -> str | list[str]:
        if isinstance(i, slice) or self._list is not None:
            return self._all()[i]
        return self._one(i)

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def _all(self) -> list[str]:
        if self._list is None:
            self._list = self._make_list()
        return self._list


class _StrValues(_LazyStrs):
    """The distinct values of a numpy str array."""

    __slots__ = ("_array",)

    def __init__(self, array: npt.NDArray[np.str_]) -> None:
        super().__init__()
        self._array = array

    def __len__(self) -> int:
        return len(self._array)

    def _one(self, i: int) -> str:
        return str(self._array[i])

    def _make_list(self) -> list[str]:
        out: list[str] = self._array.tolist()
        return out


class _ArrowValues(_LazyStrs):
    """The distinct values of a text trait as loaded (an Arrow string array, no nulls).
    Tests with an Arrow kernel run on the array itself; its numpy str array
    (:meth:`strings`) is made on first use only."""

    __slots__ = ("_strings", "arrow")

    def __init__(self, arrow: Any) -> None:
        super().__init__()
        self.arrow = arrow
        self._strings: npt.NDArray[np.str_] | bool | None = False  # False: not made yet

    def __len__(self) -> int:
        return len(self.arrow)

    def _one(self, i: int) -> str:
        got: str = self.arrow[i].as_py()
        return got

    def _make_list(self) -> list[str]:
        out: list[str] = self.arrow.to_pylist()
        return out

    def strings(self) -> npt.NDArray[np.str_] | None:
        """The values as a numpy str array (None when one ends with NUL), made once."""
        if self._strings is False:
            from pqlkit._arrow import text_unicode

            self._strings = text_unicode(self.arrow)
        found = self._strings
        return None if isinstance(found, bool) else found


_Val = _Const | _Num | _Bool | _Time | _Obj
_T = TypeVar("_T")


def _all(n: int, value: bool) -> BoolArray:
    return np.full(n, value, dtype=np.bool_)


def _present(v: _Num | _Time, n: int) -> BoolArray:
    return _all(n, True) if v.present is None else v.present


def _truth(v: _Val, n: int) -> BoolArray:
    """Two-valued truth per row: missing is False (reference ``truth``)."""
    if isinstance(v, _Bool):
        return v.data
    if isinstance(v, _Num):
        nonzero: BoolArray = v.data != 0
        return nonzero if v.present is None else nonzero & v.present
    if isinstance(v, _Time):
        return _present(v, n).copy()
    if isinstance(v, _Const):
        return _all(n, truth(v.value))
    results, pos = _map1(v, truth, n, ("truth",))
    out: BoolArray = np.asarray(results, dtype=np.bool_)[pos]
    return out


def _missing(v: _Val, n: int) -> BoolArray:
    if isinstance(v, _Bool):
        return _all(n, False)
    if isinstance(v, (_Num, _Time)):
        return _all(n, False) if v.present is None else ~v.present
    if isinstance(v, _Const):
        return _all(n, v.value is None)
    if v.text is not None and not v.coded:
        return ~v.text.present()
    out: BoolArray = v.codes < 0
    return out


def _py(v: _Val, i: int) -> Any:
    """The Python value of row ``i``, as the reference engine would hold it."""
    if isinstance(v, _Const):
        return v.value
    if isinstance(v, _Bool):
        return bool(v.data[i])
    if isinstance(v, _Num):
        if v.present is not None and not v.present[i]:
            return None
        return v.data[i].item()
    if isinstance(v, _Time):
        if v.present is not None and not v.present[i]:
            return None
        return from_micros(int(v.data[i]))
    code = int(v.codes[i])
    return None if code < 0 else v.values[code]


class _Encoder:
    """Codes for Python values, distinct by type and value (``True`` is not ``1`` here)."""

    def __init__(self) -> None:
        self.index: dict[Any, int] = {}
        self.values: list[Any] = []

    def code(self, value: Any) -> int:
        if value is None:
            return _NONE
        # A tuple by the log's own value key: (1,) and (1.0,) are two values.
        key: Any = (type(value), value) if type(value) is not tuple else value_key(value)
        try:
            found = self.index.get(key)
        except TypeError:
            key = (type(value), canonical({"v": value}))
            found = self.index.get(key)
        if found is None:
            found = len(self.values)
            self.index[key] = found
            self.values.append(value)
        return found


def _encode_list(values: Sequence[Any]) -> _Obj:
    kinds = set(map(type, values))
    kinds.discard(type(None))
    if len(kinds) == 1 and kinds <= {str, int, float, bool}:
        # One type only: the value alone is a key (the common case, and much faster).
        index: dict[Any, int] = {}
        codes = np.fromiter((_NONE if v is None else index.setdefault(v, len(index))
                             for v in values), dtype=np.int64, count=len(values))
        return _Obj(codes, list(index))
    enc = _Encoder()
    codes = np.fromiter((enc.code(v) for v in values), dtype=np.int64, count=len(values))
    return _Obj(codes, enc.values)


def _to_obj(v: _Val, n: int) -> _Obj:
    """Any value shape as encoded Python values (for the per-distinct-value paths)."""
    if isinstance(v, _Obj):
        return v
    if isinstance(v, _Const):
        code = _NONE if v.value is None else 0
        return _Obj(np.full(n, code, dtype=np.int64), [] if v.value is None else [v.value])
    if isinstance(v, _Bool):
        return _Obj(v.data.astype(np.int64), [False, True])
    present = _present(v, n)
    codes = np.full(n, _NONE, dtype=np.int64)
    if v.data.dtype == np.float64:
        # Distinct by bit pattern: 0.0 and -0.0 are two values, as in the log (a custom
        # points_from may tell them apart).
        bits, inverse = np.unique(v.data[present].view(np.int64), return_inverse=True)
        codes[present] = inverse.reshape(-1)
        return _Obj(codes, bits.view(np.float64).tolist())
    uniq = _unique(v.data[present])
    codes[present] = np.searchsorted(uniq, v.data[present])
    if isinstance(v, _Time):
        return _Obj(codes, [from_micros(int(x)) for x in uniq.tolist()])
    return _Obj(codes, uniq.tolist())


_Results = list[Any] | BoolArray


_Vector = Callable[[npt.NDArray[np.str_]], BoolArray | None]
#: The same test over an Arrow string array (:class:`_ArrowValues`); None: not exact.
_ArrowVector = Callable[[Any], BoolArray | None]


def _map1(v: _Val, fn: Callable[[Any], Any], n: int, memo: Any = None,
          vector: _Vector | None = None, arrow: _ArrowVector | None = None
          ) -> tuple[_Results, IntArray]:
    """``fn`` once per distinct value (and once for missing); results and row positions.

    With a ``memo`` key and a column that keeps a memo (traits, cached per log), the
    results are computed once per log; ``fn`` must then never raise. ``vector``, when
    given, is ``fn`` over a str array of the values at once (None when it cannot be exact);
    ``arrow`` the same over the Arrow array of a text trait as loaded.
    """
    obj = _to_obj(v, n)
    if memo is not None and obj.memo is not None and _lasting(memo):
        if obj.text is not None and not obj.coded and arrow is not None:
            by_rows = obj.text.test(memo, fn, arrow)
            if by_rows is not None:
                return by_rows
        found = obj.memo.get(memo)
        if found is None:
            found = _vector_results(obj, fn, vector, arrow)
            if found is None:
                results = [fn(x) for x in obj.values] + [fn(None)]
                found = (np.array(results, dtype=np.bool_)
                         if all(type(r) is bool for r in results) else results)
            obj.memo[memo] = found
        return found, np.where(obj.codes < 0, len(obj.values), obj.codes)
    # Codes of values that occur only: a column can hold many more distinct values than
    # the rows asked about (a where= over a few candidate events).
    if len(obj.values) > 2 * len(obj.codes) + 16:
        used = _unique(obj.codes[obj.codes >= 0])
        remap = np.full(len(obj.values) + 1, len(used), dtype=np.int64)
        remap[used] = np.arange(len(used))
        results = [fn(obj.values[c]) for c in used.tolist()] + [fn(None)]
        return results, remap[obj.codes]
    pos = np.where(obj.codes < 0, len(obj.values), obj.codes)
    vectored = _vector_results(obj, fn, vector, arrow)
    if vectored is not None:
        return vectored, pos
    results = [fn(x) for x in obj.values] + [fn(None)]
    return results, pos


def _vector_results(obj: _Obj, fn: Callable[[Any], Any], vector: _Vector | None,
                    arrow: _ArrowVector | None = None) -> BoolArray | None:
    """``arrow`` over the values' Arrow array, else ``vector`` over their str array, then
    ``fn(None)`` for missing (None when neither applies)."""
    got: BoolArray | None = None
    strings = obj.strings
    if isinstance(obj.values, _ArrowValues):
        if arrow is not None:
            got = arrow(obj.values.arrow)
        if got is None and vector is not None:
            strings = obj.values.strings()
    if got is None:
        if vector is None or strings is None:
            return None
        got = vector(strings)
    return _with_missing(got, fn(None))


def _with_missing(got: BoolArray | None, missing: Any) -> BoolArray | None:
    """A test's results per value followed by its result for a missing value (None when
    either is not a plain bool array / bool)."""
    if got is None or type(missing) is not bool:
        return None
    return np.append(got.astype(np.bool_), missing)


#: numpy's string functions: ``numpy.strings`` (ufuncs, numpy 2), else ``numpy.char`` (the
#: same results on str arrays, a Python call per element).
_np_strings: Any = getattr(np, "strings", None) or np.char


def _ascii(strings: npt.NDArray[np.str_]) -> bool:
    """Whether every character is ASCII (numpy's case mapping is then Python's)."""
    flat = np.ascontiguousarray(strings).reshape(-1)
    if not flat.size or not flat.itemsize:
        return True
    codes = flat.view(np.uint32)
    return all(bool(codes[lo:lo + _CHUNK].max() < 128)
               for lo in range(0, len(codes), _CHUNK))


def _str_test_vector(node: StrTest) -> _Vector:
    """The reference ``visit_StrTest`` over a str array of values (None: not exact)."""
    def run(strings: npt.NDArray[np.str_]) -> BoolArray | None:
        arg = node.arg
        if "\x00" in arg:
            return None  # numpy drops trailing NULs of its strings, the argument's too
        if node.ignore_case:
            if not _ascii(strings):
                return None
            arg = arg.casefold()
        out = np.zeros(len(strings), dtype=np.bool_)
        # By slices: a lowered copy of a str array is as large as the array (4 bytes a
        # character), and these arrays can hold an email per user.
        step = max(1, _CHUNK // 16)
        for lo in range(0, len(strings), step):
            part = strings[lo:lo + step]
            if node.ignore_case:
                part = _np_strings.lower(part)
            if node.op == "startswith":
                out[lo:lo + len(part)] = _np_strings.startswith(part, arg)
            elif node.op == "endswith":
                out[lo:lo + len(part)] = _np_strings.endswith(part, arg)
            else:
                out[lo:lo + len(part)] = _np_strings.find(part, arg) >= 0
        return out
    return run


def _str_test_arrow(node: StrTest) -> _ArrowVector:
    """``_str_test_vector`` over an Arrow string array, with pyarrow's kernels."""
    def run(strings: Any) -> BoolArray | None:
        from pqlkit._arrow import text_test

        return text_test(strings, node.op, node.arg, node.ignore_case)
    return run


def _isin_arrow(options: Sequence[Any]) -> _ArrowVector:
    """``_isin_vector`` over an Arrow string array (Arrow keeps NULs: no exception)."""
    def run(strings: Any) -> BoolArray | None:
        from pqlkit._arrow import text_isin

        if not all(type(o) in (str, int, float, bool, type(None)) for o in options):
            return None
        return text_isin(strings, [o for o in options if type(o) is str])
    return run


def _compare_vectors(op: str | None, constant: Any, *, left_side: bool
                     ) -> tuple[_Vector | None, _ArrowVector | None]:
    """The reference comparison ``op`` of text values with a text ``constant``, over a str
    array of the values and (``==``, ``!=``) over an Arrow one; (None, None) when the
    constant is not text. numpy orders str arrays by code point, as Python does, for
    strings that do not end in NUL (those of a str array never do; a constant holding
    NUL is left to Python)."""
    if op is None or type(constant) is not str or "\x00" in constant:
        return None, None
    compare_op = COMPARE_OPS[op]

    def vector(strings: npt.NDArray[np.str_]) -> BoolArray | None:
        got = compare_op(constant, strings) if left_side else compare_op(strings, constant)
        out: BoolArray = np.asarray(got, dtype=np.bool_)
        return out

    if op not in ("==", "!="):
        return vector, None
    equal = _isin_arrow([constant])

    def arrow(strings: Any) -> BoolArray | None:
        got = equal(strings)
        return got if got is None or op == "==" else ~got
    return vector, arrow


def _isin_vector(options: Sequence[Any]) -> _Vector:
    """The reference ``visit_IsIn`` over a str array of values (None: not exact)."""
    def run(strings: npt.NDArray[np.str_]) -> BoolArray | None:
        # A str equals only an equal str among these types; others may define == freely.
        if not all(type(o) in (str, int, float, bool, type(None)) for o in options):
            return None
        wanted = [o for o in options if type(o) is str]
        if any("\x00" in o for o in wanted):
            return None
        if not wanted:
            return np.zeros(len(strings), dtype=np.bool_)
        out: BoolArray = np.isin(strings, np.array(wanted, dtype=np.str_))
        return out
    return run


def _strings(values: Any) -> npt.NDArray[np.str_] | None:
    """``values`` as a numpy str array when they are all str without a trailing NUL."""
    if isinstance(values, np.ndarray):
        return values if values.dtype.kind == "U" else None
    if values and all(type(v) is str for v in values):
        return str_array(values)
    return None


def _map2(a: _Val, b: _Val, fn: Callable[[Any, Any], Any], n: int, memo: Any = None,
          op: str | None = None) -> tuple[_Results, IntArray]:
    """``fn`` once per distinct pair of values; results and row positions. ``op``: ``fn``
    is that comparison, which a column of text compared with a text constant runs over
    all its values at once."""
    if isinstance(a, _Const) and isinstance(b, _Const):
        return [fn(a.value, b.value)], np.zeros(n, dtype=np.int64)
    if isinstance(a, _Const):
        left = a.value
        key = None if memo is None else (memo, "left", _skey(left))
        return _map1(b, lambda y: fn(left, y), n, key,
                     *_compare_vectors(op, left, left_side=True))
    if isinstance(b, _Const):
        right = b.value
        key = None if memo is None else (memo, "right", _skey(right))
        return _map1(a, lambda x: fn(x, right), n, key,
                     *_compare_vectors(op, right, left_side=False))
    oa, ob = _to_obj(a, n), _to_obj(b, n)
    va, vb = [*oa.values, None], [*ob.values, None]
    ia = np.where(oa.codes < 0, len(oa.values), oa.codes)
    ib = np.where(ob.codes < 0, len(ob.values), ob.codes)
    width = len(vb)
    uniq, inverse = np.unique(ia * width + ib, return_inverse=True)
    results = [fn(va[k // width], vb[k % width]) for k in uniq.tolist()]
    return results, inverse.reshape(-1).astype(np.int64, copy=False)


def _lowering(results: _Results) -> tuple[IntArray, list[str], Any, dict[Any, Any]] | None:
    """For ``lower()``'s results per distinct value (None for missing, last), when all
    text: each value's code among the distinct lowered strings (-1 for missing), those
    strings, their str array (for the vectorised tests, isin, startswith ..., that
    follow) and a memo for those tests' results. None otherwise."""
    head = results[:-1]
    if isinstance(results, np.ndarray) or results[-1] is not None or not all(
            type(r) is str for r in head):
        return None
    strings = _strings(list(head))
    if strings is None or not len(strings):
        return None
    uniq, inverse = np.unique(strings, return_inverse=True)
    lut = np.append(inverse.reshape(-1), _NONE).astype(np.int64)
    return lut, uniq.tolist(), uniq, {}


def _from_results(results: _Results, pos: IntArray) -> _Val:
    if isinstance(results, np.ndarray):
        return _Bool(results[pos])
    if all(type(r) is bool for r in results):
        lut = np.array(results, dtype=np.bool_)
        return _Bool(lut[pos])
    enc = _Encoder()
    lut_codes = np.array([enc.code(r) for r in results], dtype=np.int64)
    return _Obj(lut_codes[pos], enc.values)


# -- scalar semantics (the reference engine's, for the per-distinct-value paths) --------------


def _safe_number(value: Any) -> bool:
    """A Python number numpy compares and computes with exactly like Python does."""
    if isinstance(value, bool):
        return True
    if isinstance(value, int):
        return abs(value) < _SAFE_INT
    return isinstance(value, float)


def _numeric(v: _Val) -> tuple[AnyArray | Any, BoolArray | None, bool] | None:
    """(data, present, is_int) for number-like values (booleans count as 0/1), else None."""
    if isinstance(v, _Num):
        return v.data, v.present, v.data.dtype.kind in "iu"
    if isinstance(v, _Bool):
        return v.data.astype(np.int64), None, True
    if isinstance(v, _Const) and v.value is not None and _safe_number(v.value):
        value = int(v.value) if isinstance(v.value, bool) else v.value
        return value, None, isinstance(value, int)
    return None


def _magnitude(data: AnyArray | Any) -> int:
    """The largest magnitude among integers (an array, rows without a value included: the
    bound may only be too large; or one number)."""
    if isinstance(data, np.ndarray):
        return max(abs(int(data.min())), abs(int(data.max()))) if data.size else 0
    return abs(int(data))


def _exact_ints(op: str, a: int, b: int) -> bool:
    """Whether numpy computes ``op`` on integers of magnitudes up to ``a`` and ``b`` as
    Python does: exact integers below 2**53 (beyond, int64 wraps and comparisons with
    floats round), and ``/`` of operands that convert to floats exactly."""
    bound = {"+": a + b, "-": a + b, "*": a * b}.get(op, max(a, b))
    return bound < _SAFE_INT


def _arith(op: str, left: _Val, right: _Val, n: int) -> _Val:
    """``left op right`` for every row: numpy where it computes as Python does, else once
    per distinct pair of values."""
    a, b = _numeric(left), _numeric(right)
    if a is None or b is None or (isinstance(left, _Const) and isinstance(right, _Const)) \
            or (a[2] and b[2] and not _exact_ints(op, _magnitude(a[0]), _magnitude(b[0]))):
        results, pos = _map2(left, right, lambda x, y: arith(op, x, y), n)
        return _from_results(results, pos)
    present = _both(a[1], b[1])
    with np.errstate(all="ignore"):
        if op == "/":
            den = np.broadcast_to(np.asarray(b[0]), (n,))
            nonzero = den != 0
            present = nonzero if present is None else present & nonzero
            safe = np.where(nonzero, den, 1)
            data = np.true_divide(a[0], safe).astype(np.float64)
        else:
            data = np.asarray(ARITH_OPS[op](a[0], b[0]))
            data = data.astype(np.int64 if a[2] and b[2] else np.float64)
    return _Num(np.broadcast_to(data, (n,)).copy(), present)


def _numbers(values: Any) -> IntArray | FloatArray | None:
    """A column's distinct values when they are all integers (int64) or all floats: the
    column is then read as numbers (:class:`_Num`), compared and computed with numpy
    rather than once per distinct value in Python (a property with a distinct amount on
    every event made each ``where=`` filter a Python call per event)."""
    if isinstance(values, np.ndarray) and values.dtype in (np.int64, np.float64):
        return values
    return None


def _unique(values: AnyArray) -> AnyArray:
    """``np.unique(values)``, integers by marks or a sort: numpy 2.4's ``np.unique``
    hashes them, 10x slower on a million distinct codes (an email per user: 0.8 s against
    0.05 s)."""
    if values.dtype.kind not in "iu" or not len(values):
        return np.unique(values)
    low, high = int(values.min()), int(values.max())
    if high - low <= 4 * len(values):  # (codes, small counts: a mark per possible value)
        seen = np.zeros(high - low + 1, dtype=np.bool_)
        seen[values - low] = True
        found: AnyArray = (np.flatnonzero(seen) + low).astype(values.dtype)
        return found
    ordered = np.sort(values)
    first = np.empty(len(ordered), dtype=np.bool_)
    first[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    return ordered[first]


def _both(a: BoolArray | None, b: BoolArray | None) -> BoolArray | None:
    if a is None:
        return b
    if b is None:
        return a
    return a & b


# -- property columns ----------------------------------------------------------------------------

_PropCodes = tuple[npt.NDArray[np.integer[Any]], Sequence[Any]]
_prop_cache: weakref.WeakKeyDictionary[EventLog, dict[Any, Any]] = weakref.WeakKeyDictionary()


def _log_cache(log: EventLog) -> dict[Any, Any]:
    cache = _prop_cache.get(log)
    if cache is None:
        cache = {}
        _prop_cache[log] = cache
    return cache


def _prop_codes(log: EventLog, key: str) -> _PropCodes:
    """Property ``key`` dictionary-encoded: a code per event (-1 = absent) into distinct values.

    The engine reads properties only through this adapter. Values must be distinct by type
    and value (``True``, ``1`` and ``1.0`` are three values), so that a filter evaluated
    once per distinct value means what it means for each event: the log's
    :class:`~pqlkit.eventlog.PropColumn` holds them so, and is read as it is.
    """
    cache = _log_cache(log)
    found = cache.get(("prop", key))
    if found is None:
        column: Any = log.props.get(key)
        if column is None:
            found = (np.full(len(log), _NONE, dtype=np.int32), [])
        else:
            values = column.values
            found = (np.asarray(column.codes),
                     values.tolist() if isinstance(values, np.ndarray) else list(values))
        cache[("prop", key)] = found
    return found


def _entity_counts(log: EventLog, level: str) -> IntArray:
    """How many events each user (or account) has in the whole log, once per log."""
    cache = _log_cache(log)
    found = cache.get(("counts", level))
    if found is None:
        if level == "user":
            found = _count_by(log.user, len(log.user_ids))
        else:
            found = _count_by(log.owner_account, len(log.account_ids))
        found.flags.writeable = False  # shared by every score of the log
        cache[("counts", level)] = found
    counts: IntArray = found
    return counts


def _prop_strings(log: EventLog, key: str) -> npt.NDArray[np.str_] | None:
    """Property ``key``'s distinct values as a str array, when they are all str."""
    cache = _log_cache(log)
    if ("strings", key) not in cache:
        column: Any = log.props.get(key)
        values = getattr(column, "values", None)
        cache[("strings", key)] = (_strings(values) if isinstance(values, np.ndarray)
                                   else _strings(_prop_codes(log, key)[1]))
    found: npt.NDArray[np.str_] | None = cache[("strings", key)]
    return found


def _named_events(log: EventLog, level: str, code: int) -> IntArray:
    """Every event of one name that belongs to an entity of ``level``, once per log."""
    cache = _log_cache(log)
    found = cache.get(("name", level, code))
    if found is None:
        owner = log.user if level == "user" else log.owner_account
        # By chunks: two boolean masks over every event are 20 MB at 10M events. The
        # owner test is skipped when every event has an owner at this level (one pass,
        # once per log, instead of one per name).
        owned = cache.get(("owned", level))
        if owned is None:
            owned = cache[("owned", level)] = all(
                bool((owner[lo:lo + _CHUNK] >= 0).all()) for lo in range(0, len(log), _CHUNK))
        found = np.concatenate([np.zeros(0, dtype=np.int64)] + [
            np.flatnonzero(log.name_code[lo:lo + _CHUNK] == code if owned else
                           (log.name_code[lo:lo + _CHUNK] == code)
                           & (owner[lo:lo + _CHUNK] >= 0)) + lo
            for lo in range(0, len(log), _CHUNK)]).astype(np.int64, copy=False)
        cache[("name", level, code)] = found
    named: IntArray = found
    return named


def _id_array(log: EventLog, level: str) -> AnyArray:
    cache = _log_cache(log)
    found = cache.get(("ids", level))
    if found is None:
        ids = log.user_ids if level == "user" else log.account_ids
        found = np.empty(len(ids) + 1, dtype=object)
        found[:-1] = ids
        found[-1] = None
        cache[("ids", level)] = found
    column: AnyArray = found
    return column


def _trait_column(log: EventLog, level: str, key: str) -> _Obj:
    """Trait ``key`` of every user (or account) of the log, encoded once per log.

    ``email_domain`` is derived from ``email`` when not set (reference ``derived_traits``).
    """
    cache = _log_cache(log)
    found = cache.get(("trait", level, key))
    if found is None:
        reader = log.user_trait_column if level == "user" else log.account_trait_column
        found = _trait_from_columns(log, level, key, reader)
        found.memo = {}
        cache[("trait", level, key)] = found
    column: _Obj = found
    return column


def _trait_codes(log: EventLog, level: str, key: str, reader: Callable[[str], Any]
                 ) -> _Obj:
    text = _text_trait(log, level, key)
    if text is not None:
        rows, arrow = text
        return _Obj(None, None, text=_TextRows(_TextColumn(arrow), rows))
    column = reader(key)
    if column is None:
        n = len(log.user_ids) if level == "user" else len(log.account_ids)
        return _Obj(np.full(n, _NONE, dtype=np.int64), [])
    strings = _strings(column.values)
    values = _StrValues(strings) if strings is not None else column.python_values()
    # One code per entity: int64 costs little here and is what the value shapes hold.
    return _Obj(np.asarray(column.codes).astype(np.int64), values, strings=strings,
                numbers=_numbers(column.values))


def _text_trait(log: EventLog, level: str, key: str) -> tuple[IntArray, Any] | None:
    """A text trait still as the Arrow column it was loaded as: each entity's row in it
    (tests need no order; ``user_trait_column`` would hash, sort and convert them)."""
    table = getattr(log, "_user_traits" if level == "user" else "_account_traits", None)
    reader = getattr(table, "text_rows", None)
    found: tuple[IntArray, Any] | None = None if reader is None else reader(key)
    return found


def _trait_from_columns(log: EventLog, level: str, key: str,
                        reader: Callable[[str], Any]) -> _Obj:
    """Trait ``key`` from the log's trait columns, ``email_domain`` derived per distinct
    ``email`` where it is not set."""
    own_column = _trait_codes(log, level, key, reader)
    if key != "email_domain":
        return own_column
    # The email column itself, as the model's own email tests read it: encoded once.
    email_column = _trait_column(log, level, "email")
    n = len(log.user_ids) if level == "user" else len(log.account_ids)
    if not (_missing(own_column, n) & ~_missing(email_column, n)).any():
        return own_column  # without coding either when they are Arrow text columns
    codes, values = own_column.codes, own_column.values
    emails, email_values = email_column.codes, email_column.values
    rows = np.flatnonzero((codes < 0) & (emails >= 0))
    enc = _Encoder()
    own = np.array([enc.code(v) for v in values] + [_NONE], dtype=np.int64)
    used = _unique(emails[rows])
    derived = np.full(len(email_values), _NONE, dtype=np.int64)
    found = _arrow_domains(email_values)
    if found is not None:  # in pyarrow: a Python call per distinct domain, not per email
        domain_codes, domains = found
        lut = np.array([enc.code(d) for d in domains] + [_NONE], dtype=np.int64)
        derived[used] = lut[domain_codes[used]]
    else:
        derived[used] = [enc.code(_domain(email_values[c])) for c in used.tolist()]
    # A None trait is an absent one (the loaders drop it), so every row without its own
    # domain takes its email's.
    rows = rows[derived[emails[rows]] >= 0]
    out = own[codes]
    out[rows] = derived[emails[rows]]
    return _Obj(out, enc.values, strings=_strings(enc.values))


def _domain(email: Any) -> Any:
    return email.rsplit("@", 1)[1].lower() if isinstance(email, str) and "@" in email else None


def _arrow_domains(values: Sequence[Any]) -> tuple[IntArray, list[str]] | None:
    """:func:`_domain` of distinct emails held in Arrow, in pyarrow: each one's code (-1
    for none) into the distinct domains, and those. None when the values are not Arrow
    text, or not all ASCII (Python's lower-casing is then another's)."""
    if not isinstance(values, _ArrowValues) or not len(values):
        return None
    from pqlkit._arrow import _pa, text_dictionary

    _, pc = _pa()
    emails = values.arrow
    if not pc.all(pc.string_is_ascii(emails)).as_py():
        return None
    # After the last "@" ("(?s)": an email may hold a newline), lower-cased; none without.
    after = pc.replace_substring_regex(emails, pattern="(?s)^.*@", replacement="")
    domains = pc.if_else(pc.match_substring(emails, "@"), pc.ascii_lower(after), None)
    codes, dictionary = text_dictionary(domains)
    return codes.astype(np.int64), dictionary.to_pylist()


def _prop_numbers(log: EventLog, key: str) -> tuple[FloatArray, BoolArray]:
    """Per distinct value of ``key``: its float and whether it is a number (for total())."""
    cache = _log_cache(log)
    found = cache.get(("num", key))
    if found is None:
        _, values = _prop_codes(log, key)
        is_num = np.array([is_number(v) for v in values] + [False], dtype=np.bool_)
        as_float = np.array([float(v) if is_number(v) else 0.0 for v in values] + [0.0],
                            dtype=np.float64)
        found = (as_float, is_num)
        cache[("num", key)] = found
    return found


def _prop_classes(log: EventLog, key: str) -> IntArray:
    """Per distinct value of ``key``: its class under ``distinct()``'s equality
    (:func:`pqlkit.engine.reference.distinct_key`)."""
    cache = _log_cache(log)
    found = cache.get(("cls", key))
    if found is None:
        _, values = _prop_codes(log, key)
        classes: dict[Any, int] = {}
        out = [classes.setdefault(distinct_key(v), len(classes)) for v in values]
        found = np.array([*out, _NONE], dtype=np.int64)
        cache[("cls", key)] = found
    return found


# -- exact sums ------------------------------------------------------------------------------------


def _granule(values: FloatArray) -> FloatArray:
    """The value of each number's lowest set bit (inf for zero): it divides the number.

    A sum of numbers that are all multiples of ``g`` is a multiple of ``g`` too, so while its
    magnitude stays below ``2**53 · g`` every partial sum is exact, in any order.
    """
    mantissa, exponent = np.frexp(values)
    whole = (mantissa * 2.0 ** 53).astype(np.int64)
    low = (whole & -whole).astype(np.float64)
    with np.errstate(all="ignore"):
        out = np.ldexp(low, exponent - 53)
    return np.where(values != 0, out, np.inf)


def _fsum_rows(columns: Sequence[AnyArray], n: int) -> FloatArray:
    """``math.fsum`` of each row across ``columns``, bit for bit, for all rows at once.

    Shewchuk's partials as in CPython's ``math_fsum``, vectorised over rows: zero partials
    are kept (they do not change the exact sum) and dropped before the final rounding.
    """
    if not columns:
        return np.zeros(n, dtype=np.float64)
    cols = [np.broadcast_to(np.asarray(c, dtype=np.float64), (n,)) for c in columns]
    plain: FloatArray = np.zeros(n, dtype=np.float64)
    mag = np.zeros(n, dtype=np.float64)
    unit = np.full(n, np.inf)
    with np.errstate(all="ignore"):
        # Rows whose absolute sum is below 2**52 times their smallest ulp add up exactly in
        # any order (see _group_fsum): whole points, and most decayed ones. One column at a
        # time: the temporaries of _granule over all columns at once are many times them.
        for c in cols:
            mag += np.abs(c)
            np.minimum(unit, _granule(c), out=unit)
            plain += c
        # (A magnitude that overflowed is no bound: inf <= inf held, and 1e308 + 1e308
        # - 1e308 - 1e308 came out inf where fsum gives 0.)
        exact = (mag <= unit * _EXACT53) & np.isfinite(mag)
    plain += 0.0
    if exact.all():
        return plain
    rest = np.flatnonzero(~exact)
    plain[rest] = _shewchuk_rows([c[rest] for c in cols], len(rest))
    # An infinity, or an overflow on the way (the partials hold nan then): as fsum says.
    for i in np.flatnonzero(~np.isfinite(plain[rest])).tolist():
        row = int(rest[i])
        plain[row] = fsum([float(c[row]) for c in cols])
    return plain


def _shewchuk_rows(columns: Sequence[AnyArray], n: int) -> FloatArray:
    partials: list[FloatArray] = []
    with np.errstate(all="ignore"):
        for col in columns:
            x = np.asarray(col, dtype=np.float64)
            new: list[FloatArray] = []
            for y in partials:
                swap = np.abs(x) < np.abs(y)
                big = np.where(swap, y, x)
                small = np.where(swap, x, y)
                hi = big + small
                new.append(small - (hi - big))
                x = hi
            new.append(x)
            partials = new
    if not partials:
        return np.zeros(n, dtype=np.float64)
    if len(partials) == 1:
        return partials[0] + 0.0
    stacked = np.stack(partials)
    nonzero = stacked != 0
    order = np.argsort(~nonzero, axis=0, kind="stable")
    q = np.take_along_axis(stacked, order, axis=0)
    count = nonzero.sum(axis=0)
    cols = np.arange(n)
    hi = np.zeros(n, dtype=np.float64)
    lo = np.zeros(n, dtype=np.float64)
    has = count > 0
    hi[has] = q[count[has] - 1, cols[has]]
    rem = count - 1
    active = np.flatnonzero(has & (rem > 0))
    with np.errstate(all="ignore"):
        while active.size:
            x = hi[active]
            y = q[rem[active] - 1, active]
            rem[active] -= 1
            h = x + y
            low = y - (h - x)
            hi[active] = h
            lo[active] = low
            active = active[(low == 0) & (rem[active] > 0)]
        fix = np.flatnonzero(rem > 0)
        if fix.size:
            below = q[rem[fix] - 1, fix]
            lo_f = lo[fix]
            same_sign = ((lo_f < 0) & (below < 0)) | ((lo_f > 0) & (below > 0))
            y2 = lo_f * 2.0
            x2 = hi[fix] + y2
            hi[fix[same_sign & (x2 - hi[fix] == y2)]] = x2[same_sign & (x2 - hi[fix] == y2)]
    return hi


def _group_fsum(groups: IntArray, values: FloatArray, n: int) -> FloatArray:
    """``math.fsum`` of the values of each group, bit for bit.

    A group whose absolute sum is below ``2**52`` times its smallest granule (see
    :func:`_granule`) adds up exactly in float64, in any order (and below ``2**62`` times,
    exactly in an x87 long double). Other groups are summed in long
    double and the result kept when the error bound of that sum cannot reach a rounding
    boundary of float64, which is then the correctly rounded sum fsum returns. The rare
    groups left are summed with ``math.fsum`` itself.
    """
    out = np.zeros(n, dtype=np.float64)
    if not len(values):
        return out
    with np.errstate(all="ignore"):
        mag = np.abs(values)
        bound = np.bincount(groups, weights=mag, minlength=n)
        unit = np.full(n, np.inf)
        np.minimum.at(unit, groups, _granule(values))
        exact = (bound <= unit * _EXACT53) & np.isfinite(bound)  # (see _fsum_rows)
    plain = exact[groups]
    out += np.bincount(groups[plain], weights=values[plain], minlength=n)
    todo = ~exact & (bound > 0)
    if not todo.any():
        return out
    take = todo[groups]
    g, v = groups[take], values[take]
    acc = np.zeros(n, dtype=np.longdouble)
    np.add.at(acc, g, v.astype(np.longdouble))
    with np.errstate(all="ignore"):
        rounded = acc.astype(np.float64)
        if _LONG_OK:
            fits = todo & (bound <= unit * _EXACT64)
            out[fits] = rounded[fits]
            todo &= ~fits
        # Recursive summation in long double errs by at most (k-1)·u·Σ|v|.
        k = np.bincount(g, minlength=n)
        err = (k * (bound * 1.001)).astype(np.longdouble) * np.longdouble(_LONG_U)
        diff = acc - rounded.astype(np.longdouble)
        up = (np.nextafter(rounded, np.inf) - rounded).astype(np.longdouble)
        down = (rounded - np.nextafter(rounded, -np.inf)).astype(np.longdouble)
        sure = (todo & np.isfinite(rounded) & (diff + err < up / 2)
                & (diff - err > -down / 2))
    out[sure] = rounded[sure]
    todo &= ~sure
    if todo.any():
        rest = todo[groups]
        g, v = groups[rest], values[rest]
        order = np.argsort(g, kind="stable")
        g, v = g[order], v[order]
        cuts = np.flatnonzero(np.diff(g)) + 1
        for part_g, part_v in zip(np.split(g, cuts), np.split(v, cuts), strict=True):
            out[int(part_g[0])] = fsum(part_v.tolist())
    return out


# -- time ------------------------------------------------------------------------------------------


def _shift_months(us: IntArray, months: int) -> IntArray:
    """``from_micros(us) + relativedelta(months=months)`` for many instants at once."""
    month = us.astype("datetime64[us]").astype("datetime64[M]")
    into = us - month.astype("datetime64[us]").astype(np.int64)
    day, time_of_day = np.divmod(into, US_PER_DAY)
    target = month + np.timedelta64(months, "M")
    start = target.astype("datetime64[us]").astype(np.int64)
    length = (target + np.timedelta64(1, "M")).astype("datetime64[us]").astype(np.int64) - start
    last_day = length // US_PER_DAY - 1
    out: IntArray = start + np.minimum(day, last_day) * US_PER_DAY + time_of_day
    return out


def _after(duration: Duration, us: IntArray) -> IntArray:
    """``duration.after`` of many instants (an edge past year 9999 lies past every event)."""
    if duration.months >= 12 * 10_000:  # past year 9999 from any start
        return np.full(len(us), FAR, dtype=np.int64)
    if duration.months:
        return _shift_months(us, duration.months)
    return us + min(duration.micros, FAR)


# -- decay -----------------------------------------------------------------------------------------


def _toward_zero(before: AnyArray, after: FloatArray) -> FloatArray:
    """Vectorised :func:`~pqlkit.engine.reference.toward_zero`."""
    before = before.astype(np.float64)
    up = before >= 0
    out = np.where(up & (after < before), np.maximum(0.0, after), after)
    out = np.where(~up & (after > before), np.minimum(0.0, after), out)
    return out.astype(np.float64)


def _is_builtin_decay(decay: Any) -> bool:
    return type(decay) in (InactivityDecay, HalfLife, ResetAfter)


def _decay_builtin(decay: Any, value: AnyArray | float, age_us: IntArray,
                   where: BoolArray | None = None) -> FloatArray:
    """``float(decay.apply(value, age))`` of a built-in decay, bit for bit, refused (as the
    reference refuses it) where ``where`` holds (None: everywhere) and it is not finite.

    Half-life uses numpy's ``float_power``, which calls the C library's ``pow`` as Python's
    ``**`` does; ``power`` has SIMD loops that may differ from it in the last bit.
    """
    values = np.broadcast_to(np.asarray(value), age_us.shape)
    with np.errstate(all="ignore"):
        if type(decay) is InactivityDecay:
            # (Lengths past any age are capped to stay within int64.)
            grace = min(decay.grace.micros, FAR) if decay.grace is not None else 0
            periods = np.where(age_us > grace,
                               np.maximum(0, (age_us - grace) // min(decay.every.micros, FAR)),
                               0)
            most = int(periods.max()) if len(periods) else 0
            if isinstance(decay.points, int) and abs(decay.points) * most >= _EXACT_INT:
                # Beyond int64: the reference's exact int arithmetic, one entity at a time.
                return _decay_each(decay, values, age_us, where)
            out = values - decay.points * periods
        elif type(decay) is HalfLife:
            ratio = age_us / decay.half_life.micros
            # An int64 over 2**53 rounds on its way to float: Python divides ints exactly.
            big = np.flatnonzero(np.abs(age_us) >= _EXACT_FLOAT) if (
                decay.half_life.micros < _EXACT_FLOAT) else np.arange(len(age_us))
            if len(big):
                ratio[big] = [a / decay.half_life.micros for a in age_us[big].tolist()]
            out = values * np.float_power(0.5, ratio)
        else:
            out = np.where(age_us > min(decay.idle.micros, FAR), 0.0, values)
    out = np.asarray(out, dtype=np.float64)
    bad = ~np.isfinite(out)
    if where is not None:
        bad &= where
    if bad.any():
        # The reference's call there: its refusal, with its message, for the first one.
        out[bad] = _decay_each(decay, values, age_us, bad)[bad]
    return out


#: Magnitudes from which int64 arithmetic may overflow / int64 → float64 may round.
_EXACT_INT: Final = 1 << 62
_EXACT_FLOAT: Final = 1 << 53


def _decay_each(decay: Any, values: AnyArray, age_us: IntArray,
                where: BoolArray | None) -> FloatArray:
    """:func:`apply_decay` (the reference's call) where ``where`` holds, else ``values``."""
    out = np.asarray(values, dtype=np.float64).copy()
    rows = np.arange(len(age_us)) if where is None else np.flatnonzero(where)
    for i in rows.tolist():
        out[i] = apply_decay(decay, values[i].item(), timedelta(microseconds=int(age_us[i])))
    return out


# -- frames and selections -------------------------------------------------------------------------


# Long scans over the events go a chunk at a time: bincount and ufunc.at would otherwise
# copy a whole int32 column to intp (80 MB per 10M events) and raise the peak memory.
_CHUNK: Final = 1 << 20


def _count_by(groups: AnyArray, n: int) -> IntArray:
    """How many of ``groups`` (ints, -1 = none) fall on each of ``0..n-1``."""
    counts: IntArray = np.zeros(n + 1, dtype=np.int64)
    for lo in range(0, len(groups), _CHUNK):
        counts += np.bincount(groups[lo:lo + _CHUNK] + 1, minlength=n + 1)
    return counts[1:]


def _end(groups: AnyArray, lo: int, hi: int, n: int, which: str) -> IntArray:
    """Per group, the ``"first"`` (or ``"last"``) index in ``[lo, hi)`` of ``groups``
    (ints, -1 = none) that falls on it (-1 when none), without sorting by group."""
    first = which == "first"
    out = np.full(n + 1, hi if first else _NONE, dtype=np.int64)
    pick = np.minimum if first else np.maximum
    for start in range(lo, hi, _CHUNK):
        stop = min(start + _CHUNK, hi)
        pick.at(out, groups[start:stop] + 1, np.arange(start, stop, dtype=np.int64))
    if first:
        out[out == hi] = _NONE
    return out[1:]


_SCANS: Final = 8


def _scanned(log: EventLog, key: Any, make: Callable[[], AnyArray]) -> AnyArray:
    """A per-entity result of a scan over the events, kept for the log's last few keys:
    scoring again at the same ``as_of`` finds it (the scans cost a pass over the log)."""
    cache = _log_cache(log)
    # One log may be scored from several threads: the order of the entries changes under
    # a lock (a key found, then evicted by another thread, raised KeyError); the scan
    # itself runs outside it (two threads may both make one, alike).
    with _SCANS_LOCK:
        scans: OrderedDict[Any, AnyArray] = cache.setdefault("scans", OrderedDict())
        found = scans.get(key)
        if found is not None:
            scans.move_to_end(key)
            return found
    found = make()
    found.flags.writeable = False
    with _SCANS_LOCK:
        scans[key] = found
        while len(scans) > _SCANS:
            scans.popitem(last=False)
    return found


_SCANS_LOCK: Final = threading.Lock()


def forget_results(log: EventLog) -> None:
    """Drop the results that scoring ``log`` kept with it: its scans (each entity's first
    and latest event in a window, who had been seen by a moment) and the results of trait
    tests per distinct value (``.endswith(".edu")``, ``== "admin"``), so that scoring the
    same model at the same moment again does the work again. The log's indexes stay: its
    events by name, its trait codes and their lower-cased forms.

    The benchmark calls this between timed rounds: scoring one log at one moment over and
    over would otherwise time these caches. Not while the log is being scored."""
    cache = _log_cache(log)
    with _SCANS_LOCK:
        cache.pop("scans", None)
    for value in list(cache.values()):
        if isinstance(value, _Obj):
            _forget_tests(value)


def _forget_tests(obj: _Obj) -> None:
    """Clear the test results a trait column keeps (not its lower-cased coding)."""
    if obj.memo is not None:
        for key in list(obj.memo):
            if key == ("lower-coding",):
                coding = obj.memo[key]
                if coding is not None:
                    coding[3].clear()  # the lowered values' own tests
            elif key != ("lower",):
                del obj.memo[key]
    if obj.text is not None:
        column = obj.text.column
        column.row_memo.clear()
        if isinstance(column._lowered, tuple):
            column._lowered[2].clear()


def _late_users_events(log: EventLog, n_vis: int, as_of_us: int) -> BoolArray | None:
    """Which of the first ``n_vis`` events are of a user created after ``as_of`` (None
    when none is): they count for nothing (contract §2)."""
    late = log.user_created > as_of_us
    if not late.any():
        return None
    users = log.user[:n_vis]
    bad: BoolArray = (users >= 0) & late[np.maximum(users, 0)]
    return bad if bad.any() else None


def _has_userless_events(log: EventLog, as_of_us: int) -> BoolArray:
    """Per account, whether it has an event naming no user at or before ``as_of``."""
    hi = int(np.searchsorted(log.ts, as_of_us, side="right"))
    out = np.zeros(len(log.account_ids), dtype=np.bool_)
    for lo in range(0, hi, _CHUNK):
        stop = min(lo + _CHUNK, hi)
        named = log.account[lo:stop][log.user[lo:stop] < 0]
        out[named[named >= 0]] = True
    return out


def _seen(groups: AnyArray, n: int) -> BoolArray:
    """Whether any of ``groups`` (ints, -1 = none) falls on each of ``0..n-1``."""
    seen = np.zeros(n + 1, dtype=np.bool_)
    for lo in range(0, len(groups), _CHUNK):
        seen[groups[lo:lo + _CHUNK] + 1] = True
    return seen[1:]


class _Space:
    """The events one level reads as of ``as_of``, and who owns each."""

    def __init__(self, log: EventLog, level: str, as_of_us: int) -> None:
        self.log = log
        self.level = level
        self.as_of_us = as_of_us
        self.n_vis = int(np.searchsorted(log.ts, as_of_us, side="right"))
        if level == "user":
            self.ent = log.user
            self.n = len(log.user_ids)
            self.created = log.user_created
        else:
            self.ent = log.owner_account
            self.n = len(log.account_ids)
            self.created = log.account_created
        # DESIGN §3.2: the events of a user created after as_of count in no account.
        self.excluded: BoolArray | None = None
        if level == "account":
            self.excluded = _late_users_events(log, self.n_vis, as_of_us)
        self._upto: dict[int, IntArray] = {}
        self._names: dict[int | None, IntArray] = {}

    def upto(self, k: int) -> IntArray:
        """Per entity, how many of its events have an index below ``k``."""
        found = self._upto.get(k)
        if found is None:
            total = _entity_counts(self.log, self.level)
            if k <= 0:
                found = np.zeros(self.n, dtype=np.int64)
            elif k >= len(self.log):
                found = total
            elif 2 * k >= len(self.log):
                found = total - _count_by(self.ent[k:], self.n)
            else:
                found = _count_by(self.ent[:k], self.n)
            self._upto[k] = found
        return found

    def csr(self) -> tuple[AnyArray, IntArray]:
        """The log's per-entity event index (a sort of every event: explanations only)."""
        if self.level == "user":
            return self.log.user_order, self.log.user_offsets
        return self.log.account_order, self.log.account_offsets

    def base(self, code: int | None) -> IntArray:
        """Indices of the visible events of this level, of one name code (or any)."""
        found = self._names.get(code)
        if found is None:
            if code is None:
                keep = self.ent[: self.n_vis] >= 0
                if self.excluded is not None:
                    keep &= ~self.excluded
                found = np.flatnonzero(keep).astype(np.int64, copy=False)
            else:
                named = _named_events(self.log, self.level, code)
                found = named[: int(np.searchsorted(named, self.n_vis))]
                if self.excluded is not None:
                    found = found[~self.excluded[found]]
            self._names[code] = found
        return found


class _Selection:
    """One slice of events for every entity: the events of the range ``[lo, n_vis)``
    (``idx`` None, read through the log's per-entity index), or the events ``idx``."""

    def __init__(self, space: _Space, *, idx: IntArray | None = None, lo: int = 0) -> None:
        self.space = space
        self.idx = idx
        self.lo = lo
        self._ent: IntArray | None = None
        self._indices: IntArray | None = None
        self._count: IntArray | None = None
        self._first: IntArray | None = None
        self._last: IntArray | None = None
        self._by_entity: tuple[IntArray, IntArray] | None = None

    @property
    def ent(self) -> IntArray:
        """The entity of each selected event, aligned with :meth:`indices`."""
        if self._ent is None:
            self._ent = self.space.ent[self.indices()].astype(np.int64, copy=False)
        return self._ent

    def indices(self) -> IntArray:
        """Every selected event, in canonical order (built once: signals that weigh or
        group events each read it, with their owners)."""
        if self.idx is not None:
            return self.idx
        if self._indices is None:
            sp = self.space
            keep = sp.ent[self.lo: sp.n_vis] >= 0
            self._indices = (np.flatnonzero(keep) + self.lo).astype(np.int64, copy=False)
        return self._indices

    @property
    def count(self) -> IntArray:
        if self._count is None:
            sp = self.space
            if self.idx is None:
                self._count = (_count_by(sp.ent[self.lo: sp.n_vis], sp.n) if self.lo
                               else sp.upto(sp.n_vis))
            else:
                self._count = np.bincount(self.ent, minlength=sp.n).astype(np.int64, copy=False)
        return self._count

    def _ends(self, which: str) -> None:
        sp = self.space
        n = sp.n
        if self.idx is None:
            # The log is in time order: each entity's first and last event of the range
            # are its smallest and largest index in it.
            lo, hi = self.lo, sp.n_vis
            found = _scanned(sp.log, (which, sp.level, lo, hi),
                             lambda: _end(sp.ent, lo, hi, n, which))
            if which == "first":
                self._first = found
            else:
                self._last = found
            return
        has = self.count > 0
        first = np.full(n, _NONE, dtype=np.int64)
        last = np.full(n, _NONE, dtype=np.int64)
        if len(self.idx):
            first[has] = np.iinfo(np.int64).max
            np.minimum.at(first, self.ent, self.idx)
            np.maximum.at(last, self.ent, self.idx)
        self._first, self._last = first, last

    @property
    def first(self) -> IntArray:
        """Per entity, the index of its first selected event (-1 when none)."""
        if self._first is None:
            self._ends("first")
        assert self._first is not None
        return self._first

    @property
    def last(self) -> IntArray:
        """Per entity, the index of its latest selected event (-1 when none)."""
        if self._last is None:
            self._ends("last")
        assert self._last is not None
        return self._last

    def events_of(self, e: int) -> IntArray:
        """The selected events of entity ``e``, in canonical order."""
        sp = self.space
        c = int(self.count[e])
        if not c:
            return np.zeros(0, dtype=np.int64)
        if self.idx is None:
            order, offsets = sp.csr()
            end = int(offsets[e]) + int(sp.upto(sp.n_vis)[e])
            return order[end - c: end].astype(np.int64)
        if self._by_entity is None:
            order = np.argsort(self.ent, kind="stable")
            starts = np.zeros(sp.n + 1, dtype=np.int64)
            np.cumsum(self.count, out=starts[1:])
            self._by_entity = (self.idx[order], starts)
        events, starts = self._by_entity
        return events[starts[e]: starts[e + 1]]


def _times(log: EventLog, index: IntArray) -> tuple[IntArray, BoolArray]:
    has = index >= 0
    out = np.zeros(len(index), dtype=np.int64)
    out[has] = log.ts[index[has]]
    return out, has


class _Custom:
    """A node or rule evaluated one entity at a time: its values and evidence per entity."""

    def __init__(self, n: int) -> None:
        self.value: list[Any] = [None] * n
        self.touched: dict[int, list[int]] = {}
        self.recorded: dict[int, dict[str, Any]] = {}
        self.last = np.full(n, _NONE, dtype=np.int64)

    def events_of(self, e: int) -> IntArray:
        return np.array(self.touched.get(e, []), dtype=np.int64)

    @classmethod
    def run(cls, frame: _Frame, fn: Callable[[Any, Any], Any]) -> _Custom:
        """``fn(reference_engine, entity_context)`` for each entity of ``frame``, with the
        events and values it reads recorded as its evidence."""
        custom = cls(frame.n)
        for i, ref, ectx in frame.contexts():
            ectx.touched = set()
            ectx.values = {}
            custom.value[i] = fn(ref, ectx)
            if ectx.touched:
                touched = sorted(ectx.touched)
                custom.touched[i] = touched
                custom.last[i] = touched[-1]
            custom.recorded[i] = ectx.values
        return custom


class _Leaf:
    """Evidence of a rule: a slice of events (or a custom node's), kept where ``mask`` holds."""

    __slots__ = ("mask", "source")

    def __init__(self, source: _Selection | _Custom, mask: BoolArray | None) -> None:
        self.source = source
        self.mask = mask


_Recorded = tuple[str | None, Any]


class _Frame:
    """The entities of one level as of ``as_of``: what entity-level nodes evaluate over."""

    def __init__(self, engine: ColumnarEngine, log: EventLog, level: str, as_of: datetime,
                 as_of_us: int, exists: BoolArray) -> None:
        self.engine = engine
        self.log = log
        self.level = level
        self.as_of = as_of
        self.as_of_us = as_of_us
        self.space = _Space(log, level, as_of_us)
        self.n = self.space.n
        self.exists = exists
        self.existing = np.flatnonzero(exists)
        self.selections: dict[Any, _Selection] = {}
        self.values: dict[Any, Any] = {}
        self.fallbacks: list[str] = []
        self.touched: list[_Leaf] | None = None
        self.recorded: list[_Recorded] | None = None

    # evidence and values of the rule being evaluated

    def touch(self, source: _Selection | _Custom) -> None:
        if self.touched is not None:
            self.touched.append(_Leaf(source, None))

    def record(self, node: Expr, value: _Val) -> _Val:
        if self.recorded is not None:
            self.recorded.append((repr(node), value))
        return value

    def fallback(self, what: str) -> None:
        if what not in self.fallbacks:
            self.fallbacks.append(what)

    def cached(self, key: Any, make: Callable[[], _T]) -> _T:
        if key not in self.values:
            self.values[key] = make()
        return self.values[key]  # type: ignore[no-any-return]

    # slices of events

    @property
    def whole(self) -> _Selection:
        """Every visible event of every entity (``ctx.all`` of the reference engine)."""
        return self.selection(None, None, None, None)

    def signup(self) -> tuple[IntArray, BoolArray]:
        """Where ``since_signup`` windows start: ``created_at``, else the first event."""
        def make() -> tuple[IntArray, BoolArray]:
            created = self.space.created
            first_ts, has_first = _times(self.log, self.whole.first)
            has_created = created != NO_TIME
            return (np.where(has_created, created, first_ts).astype(np.int64),
                    has_created | has_first)
        return self.cached("signup", make)

    def selection(self, name: str | None, within: Duration | None,
                  since_signup: Duration | None, where: Expr | None) -> _Selection:
        key = (name, _skey(within), _skey(since_signup), _skey(where))
        found = self.selections.get(key)
        if found is None:
            found = self._select(name, within, since_signup, where)
            self.selections[key] = found
        return found

    def _select(self, name: str | None, within: Duration | None,
                since_signup: Duration | None, where: Expr | None) -> _Selection:
        sp, log = self.space, self.log
        lo = 0
        if within is not None:
            lo = min(int(np.searchsorted(log.ts, within.before(self.as_of_us), side="right")),
                     sp.n_vis)
        if name is None and since_signup is None and where is None and sp.excluded is None:
            return _Selection(sp, lo=lo)
        if name is not None:
            if name not in log.names:
                return _Selection(sp, idx=np.zeros(0, dtype=np.int64))
            base = sp.base(log.names.index(name))
        else:
            base = sp.base(None)
        idx = base[np.searchsorted(base, lo):] if lo else base
        if since_signup is not None and len(idx):
            start, has = self.signup()
            end = _after(since_signup, start)
            owner = sp.ent[idx]
            ts = log.ts[idx]
            keep = has[owner] & (start[owner] <= ts) & (ts < end[owner])
            idx = idx[keep]
        if where is not None and len(idx):
            events = _EventFrame(log, idx)
            idx = idx[_truth(self.engine.evaluate(where, events), len(idx))]
        return _Selection(sp, idx=idx)

    def trait(self, key: str) -> _Obj:
        """Trait ``key`` of the entities that exist (missing for the others)."""
        def make() -> _Obj:
            base = _trait_column(self.log, self.level, key)
            if base.text is not None and not base.coded:
                return _Obj(None, None, base.memo, text=base.text.within(self.exists))
            # (Coded since, by another node: its Arrow rows still serve lower().)
            return _Obj(np.where(self.exists, base.codes, _NONE), base.values, base.memo,
                        base.strings, None if base.text is None else
                        base.text.within(self.exists), base.numbers)
        return self.cached(("trait", key), make)

    def contexts(self) -> Any:
        """One reference context per existing entity, for what runs one entity at a time."""
        ref = ReferenceEngine()
        for i in self.existing.tolist():
            ctx = EntityContext(ref, self.log, self.level, i, self.as_of, self.as_of_us)
            yield i, ref, ctx


class _EventFrame:
    """Candidate events of a where= filter: what ``prop(...)`` nodes evaluate over."""

    def __init__(self, log: EventLog, idx: IntArray) -> None:
        self.log = log
        self.idx = idx
        self.n = len(idx)


def _skey(value: Any) -> Any:
    """A structural cache key: equal for nodes that mean the same (types included)."""
    if value is None or isinstance(value, (bool, int, float, str, datetime)):
        return (type(value).__name__, value)
    if isinstance(value, Duration):
        return ("Duration", value.micros, value.months)
    if isinstance(value, tuple):
        return tuple(_skey(v) for v in value)
    # Lists and mappings (literals a trait or property is compared with) by their items.
    if isinstance(value, list):
        return ("list", tuple(_skey(v) for v in value))
    if isinstance(value, Mapping):
        return ("map", tuple((_skey(k), _skey(v)) for k, v in value.items()))
    if isinstance(value, Expr) and attrs.has(type(value)):
        # Frozen attrs nodes (built-in and custom signals alike) are values.
        fields = attrs.fields(cast(Any, type(value)))
        return (type(value), tuple(_skey(getattr(value, f.name)) for f in fields))
    # Anything else (decays, other objects) stands for itself, for as long as it lives:
    # such a key serves one score, never a memo kept with the log (see _lasting).
    return (_BY_ID, id(value))


#: Marks a cache key part that is an object's id (:func:`_skey`).
_BY_ID: Final = object()


def _lasting(key: Any) -> bool:
    """Whether ``key`` may outlive the objects it was made from: no part of it is an id,
    which a later object can reuse."""
    if isinstance(key, tuple):
        return not (key and key[0] is _BY_ID) and all(_lasting(k) for k in key)
    return True


# -- the engine ------------------------------------------------------------------------------------


class ColumnarEngine(Engine):
    """Evaluate a model for all entities at once over the EventLog's arrays (the default).

    Each ``visit_<Node>`` returns the node's value for every row of the frame it is given:
    the entities of the model's level, or the candidate events of a ``where=`` filter.
    Custom signals and rules run one entity at a time through an
    :class:`~pqlkit.EntityContext`, and custom decays one entity or one distinct age at a
    time; each such node is named in the result's ``fallbacks``.

    >>> import pqlkit as pk
    >>> model = pk.ScoringModel(name="m", threshold=1,
    ...                         rules=[pk.Rule("a", pk.count("signup") >= 1, points=1)])
    >>> log = pk.EventLog.from_records(
    ...     [{"name": "signup", "timestamp": "2026-01-02T00:00:00Z", "user_id": "u1"}])
    >>> result = ColumnarEngine().score(model, log)
    >>> result.users["u1"]["score"], result.engine, result.fallbacks
    (1.0, 'columnar', ())
    """

    name = "columnar"

    # -- constants, properties, traits ---------------------------------------------------

    def visit_Lit(self, node: Lit, ctx: Any) -> _Val:
        return _Const(node.value)

    def visit_Prop(self, node: Prop, ctx: Any) -> _Val:
        if not isinstance(ctx, _EventFrame):
            raise PqlkitTypeError(f"{node!r} can only be used inside where=...")
        codes, values = _prop_codes(ctx.log, node.key)
        numbers = _numbers(getattr(ctx.log.props.get(node.key), "values", None))
        if numbers is not None:
            return _Num.gather(numbers, codes[ctx.idx])
        return _Obj(codes[ctx.idx].astype(np.int64), values,
                    strings=_prop_strings(ctx.log, node.key))

    def visit_Trait(self, node: Trait, ctx: Any) -> _Val:
        if not isinstance(ctx, _Frame):
            raise PqlkitTypeError(f"{node!r} is an entity signal; it cannot be used in where=")
        value = ctx.trait(node.key)
        if value.numbers is not None:
            return ctx.record(node, _Num.gather(value.numbers, value.codes))
        return ctx.record(node, value)

    # -- operators -------------------------------------------------------------------------

    def visit_Compare(self, node: Compare, ctx: Any) -> _Val:
        left = self.evaluate(node.left, ctx)
        right = self.evaluate(node.right, ctx)
        n = ctx.n
        op = COMPARE_OPS[node.op]
        a, b = _numeric(left), _numeric(right)
        if a is not None and b is not None and not (
                isinstance(left, _Const) and isinstance(right, _Const)) and (
                # numpy compares an int with a float as two floats, Python exactly.
                a[2] == b[2] or _magnitude((a if a[2] else b)[0]) < _SAFE_INT):
            out = np.asarray(op(a[0], b[0]), dtype=np.bool_)
            present = _both(a[1], b[1])
            out = np.broadcast_to(out, (n,)).copy()
            return _Bool(out if present is None else out & present)
        for num, other in ((left, right), (right, left)):
            if isinstance(num, _Num) and isinstance(other, _Const) and type(other.value) is str:
                # A number is never equal to a text and does not order with one (Python's
                # ==, !=, <): no need to compare value by value.
                if node.op != "!=":
                    return _Bool(_all(n, False))
                return _Bool(_present(num, n).copy())
        times = _times_of(left), _times_of(right)
        if times[0] is not None and times[1] is not None and not (
                isinstance(left, _Const) and isinstance(right, _Const)):
            (ld, lp), (rd, rp) = times[0], times[1]
            out = np.broadcast_to(np.asarray(op(ld, rd), dtype=np.bool_), (n,)).copy()
            present = _both(lp, rp)
            return _Bool(out if present is None else out & present)
        results, pos = _map2(left, right, lambda x, y: compare(node.op, x, y), n,
                             ("compare", node.op), op=node.op)
        return _Bool(np.asarray(results, dtype=np.bool_)[pos])

    # A chain of one operator (a | b | c, built nested) is evaluated in a loop, left to
    # right, with the result of the nested evaluation: see pqlkit.expr.chain.

    def visit_Arith(self, node: Arith, ctx: Any) -> _Val:
        first, *rest = chain(node)
        value: _Val = self.evaluate(first, ctx)
        for operand in rest:
            value = _arith(node.op, value, self.evaluate(operand, ctx), ctx.n)
        return value

    def visit_And(self, node: And, ctx: Any) -> _Val:
        n = ctx.n
        out: BoolArray | None = None
        for operand in chain(node):
            got = _truth(self.evaluate(operand, ctx), n)
            out = got if out is None else out & got
        assert out is not None
        return _Bool(out)

    def visit_Or(self, node: Or, ctx: Any) -> _Val:
        n = ctx.n
        operands = chain(node)
        if not isinstance(ctx, _Frame) or ctx.touched is None:
            out: BoolArray | None = None
            for operand in operands:
                got = _truth(self.evaluate(operand, ctx), n)
                out = got if out is None else out | got
            assert out is not None
            return _Bool(out)
        # A rule's evidence is that of the operands that held (all of them when none did),
        # per entity: each operand's slices are kept where it held or none did.
        outer = ctx.touched
        held: list[BoolArray] = []
        leaves: list[list[_Leaf]] = []
        for operand in operands:
            ctx.touched = []
            held.append(_truth(self.evaluate(operand, ctx), n))
            leaves.append(ctx.touched)
        ctx.touched = outer
        some = held[0].copy()
        for got in held[1:]:
            some |= got
        for mine, theirs in zip(held, leaves, strict=True):
            keep = mine | ~some
            for leaf in theirs:
                outer.append(_Leaf(leaf.source, keep if leaf.mask is None else leaf.mask & keep))
        return _Bool(some)

    def visit_Not(self, node: Not, ctx: Any) -> _Val:
        return _Bool(~_truth(self.evaluate(node.operand, ctx), ctx.n))

    def visit_IsIn(self, node: IsIn, ctx: Any) -> _Val:
        value = self.evaluate(node.operand, ctx)
        n = ctx.n
        options = node.values
        if isinstance(value, _Num) and all(_safe_number(v) for v in options
                                           if is_number(v)) and (
                value.data.dtype.kind == "f" or _magnitude(value.data) < _SAFE_INT):
            nums = [v for v in options if is_number(v)]
            hit = np.isin(value.data, np.array(nums, dtype=np.float64)) if nums else _all(
                n, False)
            return _Bool(hit if value.present is None else hit & value.present)
        if isinstance(value, _Bool):
            flags = {v for v in options if isinstance(v, bool)}
            return _Bool(np.isin(value.data, np.array(sorted(flags), dtype=np.bool_)))
        if isinstance(value, _Time) and all(
                v.utcoffset() is not None for v in options if isinstance(v, datetime)):
            stamps = [to_micros(v) for v in options if isinstance(v, datetime)]
            hit = np.isin(value.data, np.array(stamps, dtype=np.int64))
            return _Bool(hit & _present(value, n))
        results, pos = _map1(
            value, lambda v: v is not None and any(same_value(v, o) for o in options), n,
            ("isin", _skey(options)), _isin_vector(options), _isin_arrow(options))
        return _Bool(np.asarray(results, dtype=np.bool_)[pos])

    def visit_IsMissing(self, node: IsMissing, ctx: Any) -> _Val:
        return _Bool(_missing(self.evaluate(node.operand, ctx), ctx.n))

    def visit_StrTest(self, node: StrTest, ctx: Any) -> _Val:
        value = self.evaluate(node.operand, ctx)
        n = ctx.n
        if isinstance(value, (_Num, _Bool, _Time)):
            return _Bool(_all(n, False))
        results, pos = _map1(value, str_test(node), n,
                             ("str", node.op, node.arg, node.ignore_case),
                             _str_test_vector(node), _str_test_arrow(node))
        return _Bool(np.asarray(results, dtype=np.bool_)[pos])

    def visit_Lower(self, node: Lower, ctx: Any) -> _Val:
        value = self.evaluate(node.operand, ctx)
        if isinstance(value, (_Num, _Bool, _Time)):
            return value
        obj = _to_obj(value, ctx.n)
        if obj.text is not None:
            lowered = obj.text.lowered()  # a text trait as loaded: lowered in pyarrow
            if lowered is not None:
                return lowered
        results, pos = _map1(value, lower, ctx.n, ("lower",))
        # A trait column keeps the coding of its lowered values (per log, as it keeps
        # test results per value: its rows differ from one as_of to the next), and the
        # lowered column the memo of its own tests.
        memo = obj.memo
        if memo is None:
            coding = _lowering(results)
        else:
            coding = memo.get(("lower-coding",))
            if coding is None:
                coding = memo[("lower-coding",)] = _lowering(results)
        if coding is None:
            return _from_results(results, pos)
        lut, values, strings, tests = coding
        return _Obj(lut[pos], values, tests, strings=strings)

    # -- event signals -----------------------------------------------------------------------

    def _select(self, node: EventSignal, ctx: Any) -> tuple[_Frame, _Selection]:
        if not isinstance(ctx, _Frame):
            raise PqlkitTypeError(f"{node!r} is an entity signal; it cannot be used in where=")
        sel = ctx.selection(node.name, node.within, node.since_signup, node.where)
        ctx.touch(sel)
        return ctx, sel

    def _weights(self, decay: Any, sel: _Selection, ctx: _Frame, node: Expr) -> FloatArray:
        """Each selected event's weight: its decay at its own age, never below zero."""
        idx = sel.indices()
        ages = ctx.as_of_us - ctx.log.ts[idx]
        if _is_builtin_decay(decay):
            return _toward_zero(np.ones(len(idx)), _decay_builtin(decay, 1.0, ages))
        ctx.fallback(f"{decay!r} in {node!r}: custom decay, applied once per distinct event age")
        uniq, inverse = np.unique(ages, return_inverse=True)
        weights = [toward_zero(1.0, apply_decay(decay, 1.0, timedelta(microseconds=a)))
                   for a in uniq.tolist()]
        return np.array(weights, dtype=np.float64)[inverse.reshape(-1)]

    def visit_Count(self, node: Count, ctx: Any) -> _Val:
        frame, sel = self._select(node, ctx)
        if node.decay is None:
            return frame.record(node, _Num(sel.count))

        def make() -> _Val:
            weights = self._weights(node.decay, sel, frame, node)
            return _Num(_group_fsum(sel.ent, weights, frame.n))
        return frame.record(node, frame.cached(("count", _skey(node)), make))

    def visit_Exists(self, node: Exists, ctx: Any) -> _Val:
        frame, sel = self._select(node, ctx)
        return frame.record(node, _Bool(sel.count > 0))

    def visit_FirstSeen(self, node: FirstSeen, ctx: Any) -> _Val:
        frame, sel = self._select(node, ctx)
        data, has = _times(frame.log, sel.first)
        return frame.record(node, _Time(data, has))

    def visit_LastSeen(self, node: LastSeen, ctx: Any) -> _Val:
        frame, sel = self._select(node, ctx)
        data, has = _times(frame.log, sel.last)
        return frame.record(node, _Time(data, has))

    def _days_since(self, frame: _Frame, index: IntArray) -> _Num:
        data, has = _times(frame.log, index)
        days = (frame.as_of_us - data) / US_PER_DAY
        return _Num(np.where(has, days, 0.0), has)

    def visit_DaysSinceLast(self, node: DaysSinceLast, ctx: Any) -> _Val:
        frame, sel = self._select(node, ctx)
        return frame.record(node, self._days_since(frame, sel.last))

    def visit_DaysSinceFirst(self, node: DaysSinceFirst, ctx: Any) -> _Val:
        frame, sel = self._select(node, ctx)
        return frame.record(node, self._days_since(frame, sel.first))

    def _distinct_pairs(self, owner: IntArray, key: IntArray, n: int) -> IntArray:
        """Per entity, how many distinct ``key`` values (>= 0) its selected events hold."""
        keep = key >= 0
        owner, key = owner[keep], key[keep]
        if not len(key):
            return np.zeros(n, dtype=np.int64)
        base = key.min()
        width = int(key.max() - base) + 1
        pairs = np.sort(owner * width + (key - base))
        new = np.ones(len(pairs), dtype=np.bool_)
        new[1:] = pairs[1:] != pairs[:-1]
        return np.bincount(pairs[new] // width, minlength=n).astype(np.int64, copy=False)

    def visit_ActiveDays(self, node: ActiveDays, ctx: Any) -> _Val:
        frame, sel = self._select(node, ctx)

        def make() -> _Val:
            idx = sel.indices()
            days = frame.log.ts[idx] // US_PER_DAY
            # Days before 1970 are negative, which _distinct_pairs reads as missing: count
            # from the earliest day instead.
            if len(days):
                days = days - days.min()
            return _Num(self._distinct_pairs(sel.ent, days, frame.n))
        return frame.record(node, frame.cached(("active_days", id(sel)), make))

    def visit_Distinct(self, node: Distinct, ctx: Any) -> _Val:
        frame, sel = self._select(node, ctx)

        def make() -> _Val:
            idx = sel.indices()
            codes, _ = _prop_codes(frame.log, node.property)
            classes = _prop_classes(frame.log, node.property)[codes[idx]]
            return _Num(self._distinct_pairs(sel.ent, classes, frame.n))
        return frame.record(node, frame.cached(("distinct", id(sel), node.property), make))

    def visit_Total(self, node: Total, ctx: Any) -> _Val:
        frame, sel = self._select(node, ctx)

        def make() -> _Val:
            idx = sel.indices()
            codes, _ = _prop_codes(frame.log, node.property)
            as_float, is_num = _prop_numbers(frame.log, node.property)
            picked = codes[idx]
            keep = is_num[picked]
            values = as_float[picked]
            if node.decay is not None:
                with np.errstate(all="ignore"):
                    values = values * self._weights(node.decay, sel, frame, node)
            owner = sel.ent
            return _Num(_group_fsum(owner[keep], values[keep], frame.n))
        key = ("total", id(sel), node.property, None if node.decay is None else id(node.decay))
        return frame.record(node, frame.cached(key, make))

    def visit_DistinctUsers(self, node: DistinctUsers, ctx: Any) -> _Val:
        if isinstance(ctx, _Frame) and ctx.level != "account":
            raise EngineNotSupportedError(f"{node!r} needs an account-level model")
        frame, sel = self._select(node, ctx)

        def make() -> _Val:
            users = frame.log.user[sel.indices()].astype(np.int64)
            return _Num(self._distinct_pairs(sel.ent, users, frame.n))
        return frame.record(node, frame.cached(("distinct_users", id(sel)), make))

    def visit_Signal(self, node: Signal, ctx: Any) -> _Val:
        # A custom signal: evaluate(ctx) one entity at a time, with its evidence.
        if not isinstance(ctx, _Frame):
            raise PqlkitTypeError(f"{node!r} is an entity signal; it cannot be used in where=")

        def make() -> tuple[_Custom, _Val]:
            ctx.fallback(f"{node!r}: custom signal, evaluated one entity at a time")
            custom = _Custom.run(ctx, lambda ref, ectx: ref.visit_Signal(node, ectx))
            return custom, _encode_list(custom.value)
        custom, value = ctx.cached(("custom", _skey(node)), make)
        ctx.touch(custom)
        if ctx.recorded is not None:
            ctx.recorded.append((None, custom))
        return value

    # -- scoring -----------------------------------------------------------------------------

    def score(self, model: ScoringModel, log: EventLog, *, as_of: Any = None) -> ScoreResult:
        as_of_dt, as_of_us = resolve_as_of(log, as_of)
        people = _Population(log, as_of_us)
        if model.level == "user":
            frame = _Frame(self, log, "user", as_of_dt, as_of_us, people.user_exists)
        else:
            frame = _Frame(self, log, "account", as_of_dt, as_of_us, people.account_exists)
        scored = _Scored(self, model, frame)
        if model.level == "account":
            # An account with no users yet and no events of its own (account-level events,
            # which name no user) is never a PQA (§3.9), whatever its traits score or the
            # events other accounts' users send under its name.
            scored.qualified &= (people.n_users > 0) | _scanned(
                log, ("userless", as_of_us), lambda: _has_userless_events(log, as_of_us))
        rule_names = [r.name for r in model.rules]
        existing = frame.existing
        rollup: dict[str, AnyArray] = {}
        if model.level == "user":
            cols = scored.columns(existing, "is_pql")
            users = Table({
                "user_id": _ids(log, "user", existing),
                "account_id": _ids(log, "account", people.member[existing]),
                **{c: cols[c] for c in ("score", "raw_score", "tier", "is_pql",
                                        "disqualified", *rule_names)},
            }, key="user_id")
            rollup = _rollup_arrays(model.rollup, log, people, scored, as_of_us,
                                    frame.fallback)
            shown = np.flatnonzero(people.account_exists)
            accounts = Table({
                "account_id": _ids(log, "account", shown),
                **{c: _Deferred(rollup[c][shown])
                   for c in ("score", "n_users", "n_pql", "share_pql", "is_pqa")},
            }, key="account_id")
        else:
            users = Table({"user_id": [], "account_id": []}, key="user_id")
            cols = scored.columns(existing, "is_pqa")
            accounts = Table({
                "account_id": _ids(log, "account", existing),
                **{c: cols[c] for c in ("score", "raw_score", "tier", "is_pqa",
                                        "disqualified")},
                "n_users": _Deferred(people.n_users[existing]),
                **{c: cols[c] for c in rule_names},
            }, key="account_id")

        def explain(level: str, entity_id: Any) -> Explanation | RollupExplanation:
            if level == model.level:
                index = (log.user_index(entity_id) if level == "user"
                         else log.account_index(entity_id))
                return scored.explain(index)
            return _rollup_explanation(model, log, people, scored, rollup, as_of_dt,
                                       log.account_index(entity_id))

        return ScoreResult(model=model, as_of=as_of_dt, engine=self.name, users=users,
                           accounts=accounts, explainer=explain,
                           fallbacks=tuple(frame.fallbacks))


def _ids(log: EventLog, level: str, index: IntArray) -> _Deferred:
    """The ids of entities ``index`` (-1 gives None), as a result column."""
    return _Deferred(_id_array(log, level)[index])


def _times_of(v: _Val) -> tuple[AnyArray | int, BoolArray | None] | None:
    if isinstance(v, _Time):
        return v.data, v.present
    if (isinstance(v, _Const) and isinstance(v.value, datetime)
            and v.value.utcoffset() is not None):
        return to_micros(v.value), None
    return None


# -- who exists, and what belongs to whom -----------------------------------------------------------


class _Population:
    """Users and accounts that exist at ``as_of``, and each user's account (DESIGN §3.9)."""

    def __init__(self, log: EventLog, as_of_us: int) -> None:
        n_vis = int(np.searchsorted(log.ts, as_of_us, side="right"))
        nu, na = len(log.user_ids), len(log.account_ids)
        # A user known only from events exists from its first event: in a log in time
        # order, when it has one among the events up to as_of. The users table answers
        # for the others.
        if log.user_in_table.all():
            # Every user has a row (the usual case): no pass over the events to find them.
            self.user_exists = log.user_created <= as_of_us
        else:
            seen = _scanned(log, ("seen", n_vis), lambda: _seen(log.user[:n_vis], nu))
            self.user_exists = np.where(log.user_in_table, log.user_created <= as_of_us, seen)
        member = log.user_account.astype(np.int64)
        need = (member < 0) & self.user_exists
        if need.any():
            users = log.user[:n_vis]
            named = log.account[:n_vis]
            cand = np.flatnonzero((named >= 0) & (users >= 0))
            if len(cand):
                first_named = np.full(nu, n_vis, dtype=np.int64)
                np.minimum.at(first_named, users[cand].astype(np.int64), cand)
                found = need & (first_named < n_vis)
                member[found] = log.account[first_named[found]]
        member[~self.user_exists] = _NONE
        self.member = member
        has_member = np.zeros(na, dtype=np.bool_)
        has_member[member[member >= 0]] = True
        self.account_exists = np.where(log.account_in_table,
                                       log.account_created <= as_of_us, has_member)
        # Accounts outside the table without members exist if an event that counts names
        # them: not one of a user created after as_of (DESIGN §3.2: it counts for nothing).
        unknown = ~log.account_in_table & ~has_member
        if unknown.any():
            named = log.account[:n_vis]
            late = _late_users_events(log, n_vis, as_of_us)
            if late is not None:
                named = np.where(late, -1, named)
            self.account_exists |= unknown & (_count_by(named, na) > 0)
        # Members of existing accounts only: a user whose account does not exist yet
        # keeps its account id on its row but counts in no roll-up.
        counted = member >= 0
        counted[counted] = self.account_exists[member[counted]]
        self.counted = counted
        self.n_users = np.bincount(member[counted], minlength=na).astype(np.int64, copy=False)


# -- scoring one level ---------------------------------------------------------------------------


class _RuleResult:
    def __init__(self, rule: Any, base: AnyArray, points: AnyArray, matched: BoolArray,
                 leaves: list[_Leaf], recorded: list[_Recorded], condition: str) -> None:
        self.rule = rule
        self.base = base
        self.points = points
        self.matched = matched
        self.leaves = leaves
        self.recorded = recorded
        self.condition = condition


def _latest(leaves: list[_Leaf], n: int) -> IntArray:
    """Per entity, the latest event among a rule's evidence (-1 when none)."""
    latest = np.full(n, _NONE, dtype=np.int64)
    for leaf in leaves:
        last = leaf.source.last
        if leaf.mask is not None:
            last = np.where(leaf.mask, last, _NONE)
        np.maximum(latest, last, out=latest)
    return latest


class _Scored:
    """A model's rules, decay, caps, clamping, disqualifiers and tiers over one frame."""

    def __init__(self, engine: ColumnarEngine, model: ScoringModel, frame: _Frame) -> None:
        self.engine = engine
        self.model = model
        self.frame = frame
        n = frame.n
        self.rules = [self._rule(rule) for rule in model.rules]
        points = [r.points for r in self.rules]
        self.caps: list[tuple[str, float, FloatArray, BoolArray]] = []
        for group, cap in model.group_caps:
            members = [k for k, r in enumerate(self.rules)
                       if getattr(r.rule, "group", None) == group]
            total = _fsum_rows([points[k] for k in members], n)
            over = total > cap
            self.caps.append((group, float(cap), np.where(over, cap - total, 0.0), over))
            # A group over its cap counts as the cap itself: its rules' points are left out
            # of the sum (adding the rounded cap - total back would miss the cap by an ulp).
            for k in members:
                points[k] = np.where(over, 0.0, points[k])
        self.raw = _fsum_rows([*points, *(np.where(over, cap, 0.0)
                                          for _, cap, _, over in self.caps)], n)
        whole = frame.whole
        self.last_event = whole.last
        decayed = self.raw
        self.idle = np.zeros(n, dtype=np.int64)
        if model.decay is not None:
            has = self.last_event >= 0
            last_ts, _ = _times(frame.log, self.last_event)
            self.idle = np.where(has, frame.as_of_us - last_ts, 0)
            decayed = np.where(has, self._decay(model.decay, self.raw, self.idle, has,
                                                "the model"), self.raw)
        self.decayed = decayed
        score = decayed
        if model.floor is not None:
            score = np.maximum(float(model.floor), score)
        if model.ceiling is not None:
            score = np.minimum(float(model.ceiling), score)
        self.score = score.astype(np.float64)
        saved = frame.touched, frame.recorded
        frame.touched = frame.recorded = None
        self.disqualifiers = [_truth(engine.evaluate(c, frame), n) for c in model.disqualify]
        frame.touched, frame.recorded = saved
        disq = np.zeros(n, dtype=np.bool_)
        for hit in self.disqualifiers:
            disq |= hit
        self.disqualified = disq
        self.qualified = (self.score >= model.threshold) & ~disq
        tier = np.full(n, None, dtype=object)
        for name, bar in reversed(model.tiers):
            tier[self.score >= bar] = name
        tier[disq] = "disqualified"
        self.tier = tier

    def _decay(self, decay: Any, value: AnyArray, age: IntArray, where: BoolArray,
               what: str) -> FloatArray:
        """``float(decay.apply(value, age))`` where ``where`` holds (else ``value``)."""
        if _is_builtin_decay(decay):
            return _decay_builtin(decay, value, age, where)
        self.frame.fallback(f"{decay!r} on {what}: custom decay, applied one entity at a time")
        out = np.asarray(value, dtype=np.float64).copy()
        for i in np.flatnonzero(where).tolist():
            out[i] = apply_decay(decay, value[i].item(), timedelta(microseconds=int(age[i])))
        return out

    def _rule(self, rule: Any) -> _RuleResult:
        frame, engine, n = self.frame, self.engine, self.frame.n
        custom = None
        if isinstance(rule, Rule):
            frame.touched, frame.recorded = [], []
            try:
                value = engine.evaluate(rule.when, frame)
                leaves, recorded = frame.touched, frame.recorded
            finally:
                frame.touched = frame.recorded = None
            if _overrides(rule, Rule, "points_from"):
                frame.fallback(f"rule {rule.name!r}: its own points_from, called once per "
                               "distinct value")
                base = _points_from_each(rule, value, n)
                matched = _truth(value, n) if rule.points is not None else base != 0
            else:
                base, matched = _rule_points(rule, value, n)
            condition = repr(rule.when)
        else:
            custom = self._custom_rule(rule)
            base = np.array([0.0 if v is None else v for v in custom.value], dtype=np.float64)
            matched = base != 0
            leaves, recorded = [_Leaf(custom, None)], [(None, custom)]
            condition = repr(rule)
        points = base
        decay = getattr(rule, "decay", None)
        if decay is not None:
            latest = _latest(leaves, n)
            apply = (base != 0) & (latest >= 0)
            latest_ts, _ = _times(frame.log, latest)
            age = np.where(apply, frame.as_of_us - latest_ts, 0)
            # The decay shrinks the points' size toward 0, whatever their sign
            # (reference.rule_decay).
            size = np.abs(base).astype(np.float64)
            after = _toward_zero(size, self._decay(decay, size, age, apply,
                                                   f"rule {rule.name!r}"))
            points = np.where(apply, np.where(base < 0, -after, after) + 0.0,
                              base.astype(np.float64))
        return _RuleResult(rule, base, points, matched, leaves, recorded, condition)

    def _custom_rule(self, rule: Any) -> _Custom:
        frame = self.frame
        frame.fallback(f"rule {rule.name!r}: custom rule, points_for(ctx) called one entity "
                       "at a time")
        return _Custom.run(frame, lambda _ref, ectx: custom_points(rule, ectx))

    def columns(self, index: IntArray, flag: str) -> dict[str, _Deferred]:
        out: dict[str, _Deferred] = {
            "score": _Deferred(self.score[index]),
            "raw_score": _Deferred(self.raw[index]),
            "tier": _Deferred(self.tier[index]),
            flag: _Deferred(self.qualified[index]),
            "disqualified": _Deferred(self.disqualified[index]),
        }
        for r in self.rules:
            out[r.rule.name] = _Deferred(r.points[index])
        return out

    def explain(self, i: int) -> Explanation:
        frame, log, model = self.frame, self.frame.log, self.model
        contributions = []
        for r in self.rules:
            events: set[int] = set()
            for leaf in r.leaves:
                if leaf.mask is None or leaf.mask[i]:
                    events.update(leaf.source.events_of(i).tolist())
            ordered = sorted(events)
            values: dict[str, Any] = {}
            for key, payload in r.recorded:
                if key is None:
                    values.update(payload.recorded.get(i, {}))
                else:
                    values[key] = _py(payload, i)
            contributions.append(RuleContribution(
                rule=r.rule.name, condition=r.condition, matched=bool(r.matched[i]),
                base_points=r.base[i].item(), points=r.points[i].item(),
                group=getattr(r.rule, "group", None),
                evidence=Evidence(
                    n_events=len(ordered),
                    first=_ref(log, ordered[0]) if ordered else None,
                    latest=_ref(log, ordered[-1]) if ordered else None,
                    values=values,
                ),
            ))
        caps = {group: float(adj[i]) for group, _, adj, over in self.caps if over[i]}
        group_caps = {group: cap for group, cap, _, over in self.caps if over[i]}
        raw, decayed, score = float(self.raw[i]), float(self.decayed[i]), float(self.score[i])
        last = int(self.last_event[i])
        detail = ""
        if model.decay is not None and last >= 0:
            detail = _decay_detail(model.decay, int(self.idle[i]))
        disqualified = bool(self.disqualified[i])
        entity_id = log.user_ids[i] if frame.level == "user" else log.account_ids[i]
        return Explanation(
            entity_id=entity_id, level=frame.level, model=model.name, as_of=frame.as_of,
            score=score, raw_score=raw, rules=tuple(contributions), caps=caps,
            group_caps=group_caps,
            decay=part(raw, decayed), decay_detail=detail, clamp=part(decayed, score),
            disqualified=disqualified,
            disqualified_by=tuple(repr(c) for c, hit in zip(model.disqualify,
                                                            self.disqualifiers, strict=True)
                                  if hit[i]),
            tier=self.tier[i], qualified=bool(self.qualified[i]), threshold=model.threshold,
            last_event=_ref(log, last) if last >= 0 else None,
        )


def _overrides(obj: Any, base: type, method: str) -> bool:
    """Whether ``obj``'s class replaces ``base.method`` (then only calling it is exact)."""
    return getattr(type(obj), method) is not getattr(base, method)


def _rule_points(rule: Rule, value: _Val, n: int) -> tuple[AnyArray, BoolArray]:
    """A rule's points per entity (``Rule.points_from``) and whether it matched."""
    if rule.points is not None:
        hit = _truth(value, n)
        if isinstance(rule.points, int) and _safe_number(rule.points):
            return np.where(hit, rule.points, 0).astype(np.int64), hit
        return np.where(hit, float(rule.points), 0.0), hit
    per = rule.points_per
    assert per is not None
    num = _numeric(value)
    if num is not None and not isinstance(value, _Const) and _safe_number(per):
        data, present, _ = num
        with np.errstate(all="ignore"):
            got = np.asarray(data, dtype=np.float64) * per + 0.0  # (-0.0 as 0.0: Rule.points_from)
            if rule.max_points is not None:
                got = np.maximum(-rule.max_points, np.minimum(rule.max_points, got))
        base = got if present is None else np.where(present, got, 0.0)
        base = np.broadcast_to(base, (n,)).astype(np.float64)
    else:
        base = _points_from_each(rule, value, n)
    return base, base != 0


def _points_from_each(rule: Any, value: _Val, n: int) -> FloatArray:
    """``rule.points_from`` of each row's value, called once per distinct value."""
    results, pos = _map1(value, rule.points_from, n)
    points: FloatArray = np.array([float(x) for x in list(results)], dtype=np.float64)[pos]
    return points


# -- roll-up ---------------------------------------------------------------------------------------


def _aggregate(policy: Rollup, groups: IntArray, scores: FloatArray, n: int,
               counts: IntArray) -> FloatArray:
    """``Rollup.aggregate`` of each group's scores (0.0 for a group without any)."""
    out = np.zeros(n, dtype=np.float64)
    if not len(scores):
        return out
    has = counts > 0
    if policy.score == "max":
        best = np.full(n, -np.inf)
        with np.errstate(invalid="ignore"):  # (a nan score is kept, without a warning)
            np.maximum.at(best, groups, scores)
        out[has] = best[has]
        return out
    if policy.score == "top_k_mean":
        order = np.lexsort((-scores, groups))
        groups, scores = groups[order], scores[order]
        starts = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(counts, out=starts[1:])
        rank = np.arange(len(groups)) - starts[groups]
        top = rank < policy.k
        groups, scores = groups[top], scores[top]
        counts = np.minimum(counts, policy.k)
    total = _group_fsum(groups, scores, n)
    if policy.score == "sum":
        return total
    with np.errstate(all="ignore"):
        out[has] = total[has] / counts[has]
    return out


def _rollup_arrays(policy: Rollup, log: EventLog, people: _Population, scored: _Scored,
                   as_of_us: int, fallback: Callable[[str], None]) -> dict[str, AnyArray]:
    na = len(log.account_ids)
    counted = people.counted
    member = people.member
    n_pql = np.bincount(member[counted & scored.qualified], minlength=na).astype(np.int64, copy=False)
    if policy.denominator == "active":
        assert policy.active_within is not None
        lo = int(np.searchsorted(log.ts, policy.active_within.before(as_of_us), side="right"))
        hi = int(np.searchsorted(log.ts, as_of_us, side="right"))
        active = _count_by(log.user[lo:hi] if lo < hi else log.user[:0],
                           len(log.user_ids)) > 0
        denom = np.bincount(member[counted & active], minlength=na).astype(np.int64, copy=False)
        # Idle PQLs count in n_pql, not in the share (which so stays within 0..1).
        in_share = np.bincount(member[counted & active & scored.qualified],
                               minlength=na).astype(np.int64, copy=False)
    else:
        denom, in_share = people.n_users, n_pql
    share = np.zeros(na, dtype=np.float64)
    nz = denom > 0
    share[nz] = in_share[nz] / denom[nz]
    eligible = counted & ~scored.disqualified
    n_eligible = np.bincount(member[eligible], minlength=na).astype(np.int64, copy=False)
    shown = np.flatnonzero(people.account_exists).tolist()
    if _overrides(policy, Rollup, "aggregate"):
        fallback(f"{policy!r}: its own aggregate, called one account at a time")
        order = np.flatnonzero(eligible)
        order = order[np.argsort(member[order], kind="stable")]
        starts = np.zeros(na + 1, dtype=np.int64)
        np.cumsum(n_eligible, out=starts[1:])
        score = np.zeros(na, dtype=np.float64)
        for a in shown:
            score[a] = policy.aggregate(scored.score[order[starts[a]: starts[a + 1]]].tolist())
    else:
        score = _aggregate(policy, member[eligible], scored.score[eligible], na, n_eligible)
    if _overrides(policy, Rollup, "is_pqa"):
        fallback(f"{policy!r}: its own is_pqa, called one account at a time")
        is_pqa = np.zeros(na, dtype=np.bool_)
        for a in shown:
            is_pqa[a] = bool(people.n_users[a] > 0
                             and policy.is_pqa(int(n_pql[a]), float(share[a])))
    else:
        share_ok = (np.ones(na, dtype=np.bool_) if policy.min_share is None
                    else share >= policy.min_share)
        is_pqa = (people.n_users > 0) & share_ok & (n_pql >= policy.min_pql)
    return {"score": score, "n_users": people.n_users, "n_pql": n_pql, "share_pql": share,
            "is_pqa": is_pqa, "share_pqls": in_share, "share_users": denom}


def _rollup_explanation(model: ScoringModel, log: EventLog, people: _Population,
                        scored: _Scored, arrays: dict[str, AnyArray], as_of: datetime,
                        a: int) -> RollupExplanation:
    users = np.flatnonzero(people.counted & (people.member == a)).tolist()
    users.sort(key=lambda u: (-float(scored.score[u]), id_key(log.user_ids[u])))
    rows = [{"user_id": log.user_ids[u], "score": float(scored.score[u]),
             "is_pql": bool(scored.qualified[u]),
             "disqualified": bool(scored.disqualified[u])} for u in users]
    return RollupExplanation(
        account_id=log.account_ids[a], model=model.name, as_of=as_of,
        score=float(arrays["score"][a]), n_users=int(arrays["n_users"][a]),
        n_pql=int(arrays["n_pql"][a]), share_pql=float(arrays["share_pql"][a]),
        is_pqa=bool(arrays["is_pqa"][a]), policy=_policy_text(model.rollup),
        share_over=_share_over(model.rollup, int(arrays["share_pqls"][a]),
                               int(arrays["share_users"][a])), users=tuple(rows),
    )
