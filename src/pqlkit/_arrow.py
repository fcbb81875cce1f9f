"""pyarrow adapters for the columnar loaders (the ``arrow`` extra).

Arrow arrays become the pieces :mod:`pqlkit._columns` encodes: dictionary and string
columns are coded by pyarrow compute, numbers and timestamps are viewed as numpy arrays.
Parquet files are read in record batches and only the columns asked for, so a load holds
one batch of input at a time beside the growing log. pyarrow is imported here only, and
only when one of these loaders runs.
"""

from __future__ import annotations

import collections
import functools
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta, tzinfo
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from pqlkit._columns import CHUNK, Coded, Objects, Typed, object_array
from pqlkit._optional import require
from pqlkit._time import ceil_div
from pqlkit.errors import PqlkitTypeError, ValidationError

#: Rows per Parquet batch: with pre-buffering off, the reader then holds a few tens of MiB.
PARQUET_BATCH = 1 << 18
#: Largest row group read whole on the worker threads (a few are held at once).
PARQUET_GROUP_MAX = 1 << 21

__all__ = [
    "ArrowStr",
    "ParquetPart",
    "arrow_piece",
    "arrow_slice",
    "arrow_take",
    "arrow_value",
    "blank_strings",
    "check_parts",
    "chunk_columns",
    "dictionary_codes",
    "event_columns",
    "event_source",
    "is_text_column",
    "is_text_type",
    "lookup",
    "open_parquet",
    "parquet_columns",
    "parquet_parts",
    "parts_files",
    "pyarrow",
    "read_table",
    "release_unused",
    "reopen_parquet",
    "sorted_distinct",
    "sorted_text_codes",
    "source_chunks",
    "table_columns",
    "text_codes",
    "text_dictionary",
    "text_isin",
    "text_plain",
    "text_test",
    "text_unicode",
    "text_valid",
    "to_table",
    "zoned",
]

Array = npt.NDArray[Any]


def pyarrow(feature: str) -> Any:
    """The pyarrow module, or an error naming the ``arrow`` extra."""
    return require("pyarrow", "arrow", feature)


@functools.cache
def _pa() -> tuple[Any, Any]:
    # Cached: the loaders call it per chunk, and an import lookup costs 0.1 ms.
    pa = pyarrow("loading Arrow data")
    return pa, require("pyarrow.compute", "arrow", "loading Arrow data")


def _np(arr: Any) -> Array:
    """A numeric or boolean Arrow array's values as numpy, read from its buffers.

    (``Array.to_numpy`` would import pandas, which costs a second and tens of MiB.) Null
    slots hold whatever the buffer holds; callers mask them.
    """
    pa, _ = _pa()
    t = arr.type
    n = len(arr)
    buf = arr.buffers()[1]
    if pa.types.is_boolean(t):
        if buf is None:
            return np.zeros(n, dtype=np.bool_)
        bits = np.unpackbits(np.frombuffer(buf, dtype=np.uint8), bitorder="little")
        return bits[arr.offset:arr.offset + n].astype(np.bool_)
    if pa.types.is_floating(t):
        dtype = np.dtype(f"<f{t.bit_width // 8}")
    elif pa.types.is_integer(t):
        dtype = np.dtype(f"<{'i' if pa.types.is_signed_integer(t) else 'u'}{t.bit_width // 8}")
    else:
        raise TypeError(f"not a numeric Arrow type: {t}")
    if buf is None:
        return np.zeros(n, dtype=dtype)
    return np.frombuffer(buf, dtype=dtype, count=arr.offset + n)[arr.offset:]


def _indices(rows: Array) -> Any:
    """An Arrow int64 array viewing numpy ``rows`` (``pa.array`` would import pandas to
    check whether they are a pandas object: a second and tens of MiB)."""
    pa, _ = _pa()
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    return pa.Array.from_buffers(pa.int64(), len(rows), [None, pa.py_buffer(rows)])


def _codes(indices: Any) -> Array:
    """Dictionary indices as numpy, -1 where null (without ``fill_null``, which would
    import pandas to make its scalar). Always signed: unsigned indices (polars exports its
    categoricals with uint32 ones) would wrap -1 round to a valid-looking index."""
    codes = _np(indices)
    if codes.dtype.kind == "u":
        codes = codes.astype(np.int64 if codes.itemsize >= 4 else np.int32)
    mask = _null_mask(indices)
    return codes if mask is None else np.where(mask, -1, codes)


def _null_mask(arr: Any) -> npt.NDArray[np.bool_] | None:
    if arr.null_count == 0:
        return None
    return _np(arr.is_null())


def _max_byte(data: Array) -> int:
    """The largest byte of a fixed-width bytes array (to tell ASCII), without a copy."""
    return int(np.ascontiguousarray(data).view(np.uint8).max())


def large_text(arr: Any) -> Any:
    """A text array as Arrow large strings. (pyarrow before 18 cannot cast ``string_view``,
    which polars exports: those are rebuilt from their Python values.)"""
    pa, _ = _pa()
    try:
        return arr.cast(pa.large_string())
    except pa.ArrowNotImplementedError:
        return pa.array(arr.to_pylist(), type=pa.large_string())


def _is_text(pa: Any, t: Any) -> bool:
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t)
                or getattr(pa.types, "is_string_view", lambda _: False)(t))


class ArrowStr:
    """A chunk of an Arrow string column, converted the way each encoder wants it."""

    __slots__ = ("arr",)

    def __init__(self, arr: Any) -> None:
        pa, _ = _pa()
        if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
            arr = large_text(arr)
        self.arr = arr

    def to_coded(self) -> Coded:
        _, pc = _pa()
        if increasing(self.arr):
            # Distinct already (ids exported in key order): its own dictionary.
            return Coded(np.arange(len(self.arr), dtype=np.int64), dictionary=self.arr)
        encoded = pc.dictionary_encode(self.arr)
        return Coded(_codes(encoded.indices), dictionary=encoded.dictionary)

    def to_list(self) -> list[Any]:
        out: list[Any] = self.arr.to_pylist()
        return out

    def to_unicode(self) -> tuple[Array, npt.NDArray[np.bool_]]:
        missing = _null_mask(self.arr)
        if missing is None:
            missing = np.zeros(len(self.arr), dtype=np.bool_)
        utf8 = self.to_utf8()
        if utf8 is not None and (not len(utf8[0]) or
                                 _max_byte(utf8[0]) < 0x80):
            return utf8[0].astype(np.str_), missing
        text = ["" if v is None else v for v in self.arr.to_pylist()]
        return np.array(text, dtype=np.str_), missing

    def to_utf8(self) -> tuple[Array, npt.NDArray[np.bool_], npt.NDArray[np.bool_]] | None:
        """Fixed-width UTF-8 bytes per row, built from the Arrow buffers without Python.

        Returns ``(data, present, blank_candidates)``, or None when a string ends with a
        NUL byte (which an 'S' array cannot keep).
        """
        arr = self.arr
        n = len(arr)
        offsets, data = _offsets_data(arr)
        starts = offsets[:-1]
        lengths = offsets[1:] - offsets[:-1]
        null = _null_mask(arr)
        present = np.ones(n, dtype=np.bool_) if null is None else ~null
        lengths = np.where(present, lengths, 0)
        width = max(int(lengths.max()) if n else 0, 1)
        out = np.zeros((n, width), dtype=np.uint8)
        for j in range(width):
            rows = np.flatnonzero(lengths > j)
            if not len(rows):
                break
            out[rows, j] = data[starts[rows] + j]
        nonempty = lengths > 0
        last = out[np.flatnonzero(nonempty), lengths[nonempty] - 1]
        if (last == 0).any():
            return None
        first = out[:, 0]
        candidates = ~nonempty | (first <= 0x20) | (first >= 0x80)
        return out.view(f"S{width}").reshape(n), present, candidates


def _offsets_data(arr: Any) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8]]:
    """Start offsets (n + 1) and bytes of an Arrow string array, as numpy views."""
    pa, _ = _pa()
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        arr = large_text(arr)
    n = len(arr)
    offset_type = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    buffers = arr.buffers()
    offsets = np.frombuffer(buffers[1], dtype=offset_type)[arr.offset:arr.offset + n + 1]
    data = (np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None
            else np.zeros(0, dtype=np.uint8))
    return offsets.astype(np.int64), data


def blank_strings(arr: Any) -> npt.NDArray[np.bool_]:
    """Which strings of an Arrow string array are empty or whitespace only (``str.strip``)
    or null (a dictionary may hold a null: the rows using it have no value).

    Only strings starting with a byte that can begin whitespace (ASCII up to space, or any
    non-ASCII character) are decoded in Python.
    """
    n = len(arr)
    out = np.zeros(n, dtype=np.bool_)
    if not n:
        return out
    offsets, data = _offsets_data(arr)
    starts, lengths = offsets[:-1], offsets[1:] - offsets[:-1]
    nonempty = lengths > 0
    first = np.zeros(n, dtype=np.uint8)
    first[nonempty] = data[starts[nonempty]]
    null = _null_mask(arr)
    candidates = ~nonempty | (first <= 0x20) | (first >= 0x80)
    if null is not None:
        candidates &= ~null
        out |= null
    for i in np.flatnonzero(candidates).tolist():
        out[i] = not arr[i].as_py().strip()
    return out


def dictionary_codes(arr: Any) -> tuple[Any, npt.NDArray[np.int32]]:
    """A text column's dictionary and its indices as int32 (-1 where null), dictionary-
    encoding a plain string column first (one hash pass in pyarrow)."""
    pa, pc = _pa()
    if not pa.types.is_dictionary(arr.type):
        arr = pc.dictionary_encode(arr)
    return arr.dictionary, _codes(arr.indices).astype(np.int32, copy=False)


def increasing(arr: Any) -> bool:
    """True when a text array has no null and each string is greater than the one before
    (so they are distinct and sorted): a users or accounts table exported in id order.
    One comparison pass, after a look at the first few."""
    _, pc = _pa()
    n = len(arr)
    if arr.null_count or n < 2:
        return not arr.null_count
    head = min(n, 16)
    if not pc.all(pc.less(arr.slice(0, head - 1), arr.slice(1, head - 1))).as_py():
        return False
    return bool(pc.all(pc.less(arr.slice(0, n - 1), arr.slice(1))).as_py())


def sorted_distinct(dictionaries: list[Any],
                    valid: Callable[[list[Any]], npt.NDArray[np.bool_]] | None = None
                    ) -> tuple[npt.NDArray[np.int32], Any]:
    """The distinct non-blank strings of several text dictionaries, sorted (Arrow compares
    UTF-8 bytes, which orders as Python orders str), and for each entry of the
    dictionaries in turn its index among them (-1: null, blank, or refused by ``valid``,
    which is given the distinct values as a list)."""
    pa, pc = _pa()
    if not dictionaries:
        return np.zeros(0, dtype=np.int32), pa.array([], type=pa.string())
    joined = concat_text(dictionaries)
    ordered = increasing(joined)
    if ordered:
        inverse, distinct = np.arange(len(joined), dtype=np.int64), joined
    else:
        encoded = pc.dictionary_encode(joined)
        inverse, distinct = _codes(encoded.indices), encoded.dictionary
    ok = ~blank_strings(distinct)
    if valid is not None:
        ok &= valid(distinct.to_pylist())
    keep = np.flatnonzero(ok)
    if len(keep) < len(distinct):
        distinct = distinct.take(_indices(keep))
    rank = np.full(len(ok) + 1, -1, dtype=np.int32)  # the last slot: inverse -1 (null)
    if ordered:
        rank[keep] = np.arange(len(keep), dtype=np.int32)
        return rank[inverse], distinct
    order = _np(pc.sort_indices(distinct)).astype(np.int64)
    rank[keep[order]] = np.arange(len(order), dtype=np.int32)
    out: npt.NDArray[np.int32] = rank[inverse]
    return out, distinct.take(_indices(order))


def lookup(dictionaries: list[Any], distinct: Any) -> npt.NDArray[np.int32] | None:
    """For each entry of several text dictionaries in turn, its index in the array of
    distinct non-blank strings ``distinct`` (-1: null or blank); None when some other
    entry is not there."""
    pa, pc = _pa()
    if not dictionaries:
        return np.zeros(0, dtype=np.int32)
    # As one chunked array: the value set is hashed once, and the dictionaries (a million
    # strings at 10M events) are not copied into one array first.
    if len({d.type for d in dictionaries} | {distinct.type}) > 1:
        dictionaries, distinct = [large_text(d) for d in dictionaries], large_text(distinct)
    found = pc.index_in(pa.chunked_array(dictionaries, type=distinct.type),
                        value_set=distinct)
    codes = np.concatenate([_codes(c).astype(np.int32, copy=False)
                            for c in found.chunks]) if found.num_chunks else np.zeros(
                                0, dtype=np.int32)
    if found.null_count and (
            (codes < 0) & ~blank_strings(concat_text(dictionaries))).any():
        return None  # (null entries count as blank)
    return codes


def release_unused() -> None:
    """Hand the pages Arrow's allocators keep after frees back to the system."""
    pa, _ = _pa()
    pa.default_memory_pool().release_unused()
    pool = decode_pool()
    if pool is not None:
        pool.release_unused()


@functools.cache
def decode_pool() -> Any:
    """The memory pool Parquet row groups are decoded into: Arrow's jemalloc pool when
    pyarrow has one (its Linux wheels), else None (the default pool).

    Each row group's arrays are freed once copied into the log's, and the next row
    group's take their place. The default pool (mimalloc) gives such pages back to the
    system within milliseconds, so every row group faulted them in again; jemalloc keeps
    them for reuse a while. Measured at 10M events on two cores: about 7 to 10% off the
    end-to-end time, the same peak memory (``benchmarks/run.py --modes e2e``).
    """
    pa, _ = _pa()
    try:
        return pa.jemalloc_memory_pool()
    except (NotImplementedError, pa.ArrowNotImplementedError, AttributeError):
        return None


def arrow_piece(arr: Any) -> Any:
    """The encoder piece of an Arrow array (or chunked array)."""
    pa, _ = _pa()
    if isinstance(arr, pa.ChunkedArray):
        arr = _combine(pa, arr)
    t = arr.type
    if pa.types.is_dictionary(t):
        return Coded(_codes(arr.indices), dictionary=arr.dictionary)
    if _is_text(pa, t):
        return ArrowStr(arr)
    if pa.types.is_timestamp(t):
        ints = _np(arr.view(pa.int64()))
        # Arrow keeps instants as UTC whatever the zone. A zone-less event timestamp
        # column was localised by _chunk (or refused) before it got here.
        return Typed(ints.view(f"datetime64[{t.unit}]"), _null_mask(arr), zone_less=t.tz is None)
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t):
        if pa.types.is_float16(t):
            arr = arr.cast(pa.float32())
        return Typed(_np(arr), _null_mask(arr))
    if isinstance(t, pa.ExtensionType) and _is_text(pa, t.storage_type):
        return ArrowStr(arr.storage)  # (JSON or UUID text: the text is the value)
    if _unheld(pa, t):
        stored = (arr.storage if isinstance(t, pa.ExtensionType) else arr).to_pylist()
        return Objects(object_array([None if v is None else ArrowValue(t, v)
                                     for v in stored]))
    if _has_map(pa, t):
        return Objects(object_array([_with_maps(pa, t, v) for v in arr.to_pylist()]))
    return Objects(object_array(arr.to_pylist()))


def _has_map(pa: Any, t: Any) -> bool:
    """Whether an Arrow type holds a map at any depth."""
    if pa.types.is_map(t):
        return True
    if _is_list(pa, t):
        return _has_map(pa, t.value_type)
    if pa.types.is_struct(t):
        return any(_has_map(pa, t.field(i).type) for i in range(t.num_fields))
    return False


def _with_maps(pa: Any, t: Any, value: Any) -> Any:
    """A value of type ``t`` as ``to_pylist`` gives it, its maps (lists of key-value
    pairs there) made mappings, as records hold them: the same entries in another order
    are the same value. A map naming a key twice is refused where it arrives (its
    value is ambiguous)."""
    if value is None:
        return None
    if pa.types.is_map(t):
        out = {}
        for k, v in value:
            if k in out:
                return MapWithRepeatedKey(t, value, k)
            out[k] = _with_maps(pa, t.item_type, v)
        return out
    if pa.types.is_struct(t):
        return {t.field(i).name: _with_maps(pa, t.field(i).type, value[t.field(i).name])
                for i in range(t.num_fields)}
    if _is_list(pa, t):
        return [_with_maps(pa, t.value_type, v) for v in value]
    return value


def _is_list(pa: Any, t: Any) -> bool:
    return bool(pa.types.is_list(t) or pa.types.is_large_list(t)
                or pa.types.is_fixed_size_list(t))


def _unheld(pa: Any, t: Any) -> bool:
    """An Arrow type whose storage would pass for a value it is not (pandas' Period as a
    count of months, an Interval as a mapping, an interval as a tuple): each of its values
    is refused, as records refuse a Period. (Extension types stored as text are read as
    that text.)"""
    return _is_interval(pa, t) or (isinstance(t, pa.ExtensionType)
                                   and not _is_text(pa, t.storage_type))


def _is_interval(pa: Any, t: Any) -> bool:
    # (pyarrow.types.is_interval is recent; month_day_nano is the interval Arrow writers use.)
    return bool(getattr(pa.types, "is_interval", lambda _: False)(t)
                or t == pa.month_day_nano_interval())


class ArrowValue:
    """A value of an Arrow type pqlkit holds no value of (an extension type such as
    pandas' Period or Interval, an interval): rejected where it arrives."""

    __slots__ = ("type", "value")

    def __init__(self, type_: Any, value: Any) -> None:
        # (An interval's value is a named tuple, MonthDayNano: shown as a plain one.)
        self.type, self.value = type_, tuple(value) if isinstance(value, tuple) else value

    def __repr__(self) -> str:
        return f"{self.value!r} stored as Arrow type {self.type}"


class MapWithRepeatedKey(ArrowValue):
    """An Arrow map value naming a key twice: which entry holds is ambiguous, so it is
    refused where it arrives."""

    __slots__ = ("key",)

    def __init__(self, type_: Any, value: Any, key: Any) -> None:
        super().__init__(type_, value)
        self.key = key

    def __repr__(self) -> str:
        return f"key {self.key!r} twice in {self.value!r}, an Arrow {self.type}"


def _combine(pa: Any, arr: Any) -> Any:
    if arr.num_chunks == 1:
        return arr.chunk(0)
    if arr.num_chunks == 0:
        return pa.array([], type=arr.type)
    if pa.types.is_dictionary(arr.type):
        arr = arr.cast(arr.type.value_type)
    return arr.combine_chunks()


def is_text_type(t: Any) -> bool:
    """True for an Arrow string type (plain, large or view)."""
    pa, _ = _pa()
    return _is_text(pa, t)


def is_text_column(arr: Any) -> bool:
    """True for an Arrow column of strings (dictionary-encoded or not)."""
    pa, _ = _pa()
    t = arr.type
    if pa.types.is_dictionary(t):
        t = t.value_type
    return _is_text(pa, t)


def arrow_take(arr: Any, rows: npt.NDArray[np.int64]) -> Any:
    """Rows ``rows`` of an Arrow array or chunked array, in that order."""
    return arr.take(_indices(rows))


def text_nulls(n: int) -> Any:
    """An Arrow text array of ``n`` nulls."""
    pa, _ = _pa()
    return pa.nulls(n, pa.string())


def concat_text(parts: Sequence[Any]) -> Any:
    """Arrow text arrays as one (large strings when their types differ)."""
    pa, _ = _pa()
    if len({p.type for p in parts}) > 1:
        parts = [large_text(p) for p in parts]
    return parts[0] if len(parts) == 1 else pa.concat_arrays(list(parts))


def text_plain(arr: Any) -> Any:
    """An Arrow text column (chunked or not, dictionary-encoded or not) as one plain
    string array, row for row.

    >>> import pyarrow as pa
    >>> text_plain(pa.chunked_array([pa.array(["a"]).dictionary_encode(), ["b", None]])
    ...            ).to_pylist()
    ['a', 'b', None]
    """
    pa, _ = _pa()
    if isinstance(arr, pa.ChunkedArray):
        arr = _combine(pa, arr)
    if pa.types.is_dictionary(arr.type):
        # A dictionary may repeat a value or hold unused ones: code the strings afresh.
        arr = arr.cast(arr.type.value_type)
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        arr = large_text(arr)
    return arr


def text_valid(arr: Any) -> npt.NDArray[np.bool_]:
    """Which rows of a plain Arrow string array are not null."""
    null = _null_mask(arr)
    return np.ones(len(arr), dtype=np.bool_) if null is None else ~null


def _text_encoded(arr: Any) -> Any:
    """An Arrow text column dictionary-encoded afresh: distinct values, each used."""
    _, pc = _pa()
    return pc.dictionary_encode(text_plain(arr))


def text_row_codes(arr: Any) -> npt.NDArray[np.int32]:
    """Codes (-1 for null) telling the distinct strings of an Arrow text column apart."""
    return _codes(_text_encoded(arr).indices).astype(np.int32)


def text_codes(arr: Any) -> tuple[npt.NDArray[np.int32], list[str]]:
    """Codes (-1 for null) into the distinct strings of an Arrow text column."""
    encoded = _text_encoded(arr)
    values: list[str] = encoded.dictionary.to_pylist()
    return _codes(encoded.indices).astype(np.int32), values


def sorted_text_codes(arr: Any) -> tuple[npt.NDArray[np.int32], Array] | None:
    """Codes (-1 for null) into the distinct strings of an Arrow text column, sorted, as a
    numpy 'U' array, made from the Arrow buffers; None when a string ends with NUL (which
    a 'U' array would drop).

    The distinct values are sorted by pyarrow, on their UTF-8 bytes: that is code-point
    order, the order Python gives ``str`` (numpy's argsort of a 'U' array took five times
    as long, an email per user).

    >>> import pyarrow as pa
    >>> codes, values = sorted_text_codes(pa.array(["b", None, "é", "a", "b"]))
    >>> codes.tolist(), values.tolist()
    ([1, -1, 2, 0, 1], ['a', 'b', 'é'])
    """
    _, pc = _pa()
    encoded = _text_encoded(arr)
    dictionary = encoded.dictionary
    order = pc.sort_indices(dictionary)
    text = text_unicode(dictionary.take(order))
    if text is None:
        return None
    rank = np.empty(len(dictionary) + 1, dtype=np.int32)
    rank[_np(order)] = np.arange(len(dictionary), dtype=np.int32)
    rank[-1] = -1
    return rank[_codes(encoded.indices)], text


def ascii_lower_codes(arr: Any) -> tuple[npt.NDArray[np.int32], Any] | None:
    """:func:`text_dictionary` of the lower-cased strings of an Arrow text column, when
    every string is ASCII (pyarrow's lower-casing is then Python's ``str.lower``, which
    maps some non-ASCII characters to several); None otherwise, or when no row has one.

    >>> import pyarrow as pa
    >>> codes, values = ascii_lower_codes(pa.array(["Uni.EDU", None, "uni.edu", "A"]))
    >>> codes.tolist(), values.to_pylist()
    ([0, -1, 0, 1], ['uni.edu', 'a'])
    >>> ascii_lower_codes(pa.array(["İ"])) is None
    True
    """
    _, pc = _pa()
    arr = text_plain(arr)
    if not len(arr) or arr.null_count == len(arr):
        return None
    if not pc.all(pc.string_is_ascii(arr)).as_py():
        return None
    return text_dictionary(pc.ascii_lower(arr))


def text_unicode(strings: Any) -> Array | None:
    """An Arrow string array (without nulls) as a numpy 'U' array, in the same order; None
    when a string ends with NUL (which a 'U' array would drop).

    >>> import pyarrow as pa
    >>> text_unicode(pa.array(["ab", "é"])).tolist(), text_unicode(pa.array(["a\\x00"]))
    (['ab', 'é'], None)
    """
    utf8 = ArrowStr(strings).to_utf8()
    if utf8 is None:
        return None
    data = utf8[0]
    if len(data) and _max_byte(data) >= 0x80:
        return np.array(strings.to_pylist(), dtype=np.str_)
    # ASCII: each byte is its code point, widened in place of a decode.
    width = data.dtype.itemsize
    return np.ascontiguousarray(data).view(np.uint8).reshape(len(data), width).astype(
        np.uint32).view(f"U{width}").reshape(len(data))


def text_dictionary(arr: Any) -> tuple[npt.NDArray[np.int32], Any]:
    """Codes (-1 for null) into the distinct strings of an Arrow text column, and those
    strings as an Arrow array, in no particular order (no sort, no Python str).

    >>> import pyarrow as pa
    >>> codes, values = text_dictionary(pa.array(["b", None, "a", "b"]))
    >>> codes.tolist(), values.to_pylist()
    ([0, -1, 1, 0], ['b', 'a'])
    """
    encoded = _text_encoded(arr)
    return _codes(encoded.indices).astype(np.int32), encoded.dictionary


def text_test(strings: Any, op: str, arg: str, ignore_case: bool
              ) -> npt.NDArray[np.bool_] | None:
    """``str.startswith`` / ``endswith`` / ``in`` of ``arg`` over a plain Arrow string
    array (after ``casefold`` of both when ``ignore_case``), or None when pyarrow cannot
    give Python's answer (case-folding non-ASCII values). Null rows get an arbitrary
    answer: callers mask them.

    On valid UTF-8, matching bytes is matching code points: a character's encoding starts
    with a byte no other character's continues with.

    >>> import pyarrow as pa
    >>> text_test(pa.array(["a@UNI.edu", "b@x.io"]), "endswith", ".EDU", True).tolist()
    [True, False]
    """
    _, pc = _pa()
    if not len(strings):
        return np.zeros(0, dtype=np.bool_)
    if not arg.isascii():
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            return None  # a lone surrogate: Python's str methods still answer
    if ignore_case:
        # casefold is lower() on ASCII; beyond it (ß -> ss) only Python knows.
        if not pc.all(pc.string_is_ascii(strings), min_count=0).as_py():  # nulls: True
            return None
        strings = pc.ascii_lower(strings)
        arg = arg.casefold()
    kernel = {"startswith": pc.starts_with, "endswith": pc.ends_with,
              "contains": pc.match_substring}[op]
    return _np(kernel(strings, pattern=arg))


def text_isin(strings: Any, wanted: Sequence[str]) -> npt.NDArray[np.bool_]:
    """Which strings of a plain Arrow string array equal one of ``wanted`` (null rows get
    an arbitrary answer: callers mask them).

    >>> import pyarrow as pa
    >>> text_isin(pa.array(["a", "b", "c\\x00"]), ["c\\x00", "a"]).tolist()
    [True, False, True]
    """
    _, pc = _pa()
    value_set = _string_array(wanted)
    if not len(strings) or not len(value_set):
        return np.zeros(len(strings), dtype=np.bool_)
    if value_set.type != strings.type:
        strings = large_text(strings)  # (value_set is large strings)
    return _np(pc.is_in(strings, value_set=value_set))


def _string_array(values: Sequence[str]) -> Any:
    """An Arrow large_string array of ``values`` built from buffers (``pa.array`` would
    import pandas: a second and tens of MiB); strings that are not valid Unicode (lone
    surrogates), which no Arrow string can equal, are left out."""
    pa, _ = _pa()
    encoded = []
    for v in values:
        try:
            encoded.append(v.encode("utf-8"))
        except UnicodeEncodeError:
            continue
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(b) for b in encoded])
    return pa.Array.from_buffers(pa.large_string(), len(encoded),
                                 [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))])


def arrow_slice(arr: Any, lo: int, hi: int) -> Any:
    """Rows ``lo:hi`` of an Arrow array or chunked array."""
    return arr.slice(lo, hi - lo)


def arrow_value(arr: Any, i: int) -> Any:
    """Row ``i`` as a Python value; timestamps as ``numpy.datetime64`` (read as UTC)."""
    pa, _ = _pa()
    t = arr.type
    if not arr[i].is_valid:
        return None
    if pa.types.is_timestamp(t):
        return np.datetime64(arr[i].cast(pa.int64()).as_py(), t.unit)
    if isinstance(t, pa.ExtensionType):
        stored = arr[i].value.as_py()  # (the storage's value)
        return ArrowValue(t, stored) if _unheld(pa, t) else stored
    if _unheld(pa, t):
        return ArrowValue(t, arr[i].as_py())
    if _has_map(pa, t):
        return _with_maps(pa, t, arr[i].as_py())
    return arr[i].as_py()


# -- tables and files ------------------------------------------------------------------------


def to_table(data: Any, what: str) -> Any:
    """A pyarrow Table from a Table, a RecordBatch or any Arrow C stream (polars, duckdb...)."""
    pa, _ = _pa()
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if hasattr(data, "__arrow_c_stream__") or hasattr(data, "__arrow_c_array__"):
        return pa.table(data)
    raise PqlkitTypeError(
        f"{what} must be a pyarrow Table or RecordBatch (or an object with the Arrow C "
        f"stream interface), got {type(data).__name__}"
    )


_Mapping = dict[str, str]


def unique_columns(names: Sequence[str], where: str) -> None:
    """Refuse a table naming a column twice (a ``SELECT e.*, u.user_id`` result): which of
    the two a field would read is a guess, and the other's values would be lost."""
    twice = sorted(c for c, k in collections.Counter(names).items() if k > 1)
    if twice:
        raise ValidationError(
            f"{where}: the data names column(s) {', '.join(map(repr, twice))} more than once; "
            "rename or drop the copies (e.g. select the columns explicitly)")


def event_columns(names: Sequence[str], *, user_id: str | None, name: str, timestamp: str,
                  account_id: str | None, event_id: str | None,
                  properties: Sequence[str] | Mapping[str, str] | None,
                  defaults: Mapping[str, str], where: str) -> tuple[_Mapping, _Mapping]:
    """Which column feeds each field, checked against the columns the data has.

    A field left at its default name is read when that column exists; a name given
    explicitly must exist. Returns ``(fields, properties)`` as field -> column maps.
    """
    unique_columns(names, where)
    have = set(names)

    def missing(col: str, field: str) -> ValidationError:
        return ValidationError(
            f"{where}: no column {col!r} for {field}=; the columns are "
            f"{', '.join(map(repr, names))} (pass {field}='<column>' to map another one)"
        )

    fields: _Mapping = {}
    for field, col, required in (("name", name, True), ("timestamp", timestamp, True),
                                 ("user_id", user_id, False), ("account_id", account_id, False),
                                 ("event_id", event_id, False)):
        if col is None:
            if required:
                raise PqlkitTypeError(f"{where}: {field}= must name a column; events need one")
            continue
        if not isinstance(col, str):
            raise PqlkitTypeError(f"{where}: {field}= must be a column name, got {col!r}")
        if col in have:
            fields[field] = col
        elif required or col != defaults.get(field):
            raise missing(col, field)
    if "user_id" not in fields and "account_id" not in fields:
        raise ValidationError(
            f"{where}: events need a user_id or an account_id column; the columns are "
            f"{', '.join(map(repr, names))}"
        )
    props: _Mapping = {}
    if properties is not None:
        if isinstance(properties, str):
            raise PqlkitTypeError(
                f"{where}: properties= takes a list of column names or a mapping of property "
                f"name to column, got the string {properties!r} (write [{properties!r}])"
            )
        pairs = (properties.items() if isinstance(properties, Mapping)
                 else ((c, c) for c in properties))
        for key, col in pairs:
            if not isinstance(key, str) or not key:
                raise PqlkitTypeError(
                    f"{where}: property names must be non-empty strings, got {key!r}"
                )
            if col not in have:
                raise missing(col, f"properties[{key!r}]")
            props[key] = col
    return fields, props


def table_columns(table: Any, where: str = "the table") -> dict[str, Any]:
    """A table's columns by name (entity tables: the id fields and the traits)."""
    unique_columns(table.column_names, where)
    return {col: table.column(i) for i, col in enumerate(table.column_names)}


def naive_zone(schema: Any, column: str, tz: str | tzinfo | None, where: str
               ) -> str | tzinfo | None:
    """The zone to read a zone-less timestamp column in, or None when it has its own.

    Arrow's zone-less timestamps are wall-clock times in an unknown zone: like a naive
    datetime, they are never assumed to be UTC (DESIGN §3.1) — ``tz=`` must say.
    """
    return _zone_for(schema.field(column).type, column, tz, where)


def zoned(arr: Any, column: str, tz: str | tzinfo | None, where: str) -> Any:
    """An Arrow column as it is, or, when it holds zone-less timestamps, read as wall-clock
    times in ``tz`` (an error without it, as for :func:`naive_zone`)."""
    zone = _zone_for(arr.type, column, tz, where)
    return arr if zone is None else localize(arr, zone)


def _zone_for(kind: Any, column: str, tz: str | tzinfo | None, where: str
              ) -> str | tzinfo | None:
    pa, _ = _pa()
    if not pa.types.is_timestamp(kind) or kind.tz is not None:
        return None
    if tz is None:
        raise ValidationError(
            f"{where}: column {column!r} holds timestamps without a time zone ({kind}); "
            "declare their zone with tz='UTC' (or a zone name such as 'Europe/Paris'), or "
            "store them zone-aware"
        )
    from pqlkit._time import _zone

    try:
        _zone(tz)  # an unknown zone name is an error before any row is read
    except ValidationError as exc:
        raise ValidationError(f"{where}: {exc}") from None
    return tz


#: Units of an Arrow timestamp per hour.
_PER_HOUR: Final = {"s": 3600, "ms": 3_600_000, "us": 3_600_000_000,
                    "ns": 3_600_000_000_000}
_NAIVE_EPOCH: Final = datetime(1970, 1, 1)
#: Nanosecond wall times a day inside int64's range: an offset cannot wrap them around.
_NS_EDGE: Final = (-(2**63) + 86_400 * 10**9, 2**63 - 1 - 86_400 * 10**9)
#: Up to this many hours between a column's first and last time (about 110 years), the
#: offsets of each day are looked up; beyond, those of the hours the rows fall in.
_SPAN_HOURS: Final = 1_000_000


def localize(arr: Any, zone: str | tzinfo) -> Any:
    """A zone-less timestamp array read as wall-clock times in ``zone``, as a naive
    datetime is (``dt.replace(tzinfo=zone)``, :func:`pqlkit._time.to_utc`): a time the
    clocks skip or repeat takes the offset in force before the change (``fold=0``), with the
    zone's rules for every year. (pyarrow's ``assume_timezone`` reads a skipped time as the
    instant before the gap and, past 2037, drops summer time.) Offsets are looked up once a
    day (once an hour on a day the clocks change, and per row in the hour they do).
    """
    pa, _ = _pa()
    if isinstance(arr, pa.ChunkedArray):
        return pa.chunked_array([localize(c, zone) for c in arr.chunks],
                                type=pa.timestamp(arr.type.unit, tz="UTC"))
    from pqlkit._time import _zone

    tzinfo_ = _zone(zone)
    unit = arr.type.unit
    per_hour = _PER_HOUR[unit]
    per_s = per_hour // 3600
    mask = _null_mask(arr)
    wall = _np(arr.view(pa.int64())).copy()
    if mask is not None:
        wall[mask] = 0  # (what a null slot holds is arbitrary)

    def offset(naive: datetime) -> int:
        got = tzinfo_.utcoffset(naive)
        return 0 if got is None else int(got.total_seconds()) * per_s

    def edges(hour: int, hours: int) -> tuple[int, int] | None:
        """The offsets at the start and at the end of ``hours`` hours from ``hour`` (None
        past year 9999, which is rejected as out of range later)."""
        try:
            start = _NAIVE_EPOCH + timedelta(hours=hour)
            return offset(start), offset(start + timedelta(hours=hours, microseconds=-1))
        except (OverflowError, ValueError):
            return None

    def per_row(rows: npt.NDArray[np.int64]) -> None:  # the hours of a change of offset
        for i in rows.tolist():
            utc[i] = wall[i] - offset(_NAIVE_EPOCH + timedelta(seconds=int(wall[i]) // per_s))

    valid = wall if mask is None else wall[~mask]
    if not len(valid):
        return pa.array(wall, type=pa.timestamp(unit, tz="UTC"), mask=mask)
    if unit == "ns" and (int(valid.min()) < _NS_EDGE[0] or int(valid.max()) > _NS_EDGE[1]):
        # Within a day of what int64 nanoseconds hold, the offset could wrap the value
        # around: read such a column in microseconds (pqlkit keeps microseconds anyway).
        micros = pa.array(ceil_div(wall, 1000), type=pa.timestamp("us"), mask=mask)
        return localize(micros, zone)
    first_hour, last_hour = int(valid.min()) // per_hour, int(valid.max()) // per_hour
    if last_hour - first_hour < _SPAN_HOURS:
        # The usual column spans days to years: the offsets at the start and end of every
        # day in the span, the hours of a day where they differ, and a pass over the rows
        # per change of offset (two a year where clocks change).
        utc = wall.copy()
        now = 0

        def change(at: int, offset: int) -> None:
            nonlocal now
            if offset != now:
                np.subtract(utc, offset - now, out=utc, where=wall >= at)
                now = offset

        for day in range(first_hour // 24, last_hour // 24 + 1):
            got = edges(day * 24, 24)
            if got is None:
                continue
            change(day * 24 * per_hour, got[0])
            if got[0] == got[1]:
                continue
            for h in range(day * 24, day * 24 + 24):
                hour = edges(h, 1)
                if hour is None:
                    continue
                at = h * per_hour
                change(at, hour[0])
                if hour[0] != hour[1]:
                    per_row(np.flatnonzero((wall >= at) & (wall < at + per_hour)))
            change((day + 1) * 24 * per_hour, got[1])
        return pa.array(utc, type=pa.timestamp(unit, tz="UTC"), mask=mask)
    hours = np.floor_divide(wall, per_hour)
    distinct, inverse = np.unique(hours, return_inverse=True)
    offsets = np.zeros(len(distinct), dtype=np.int64)
    mixed = np.zeros(len(distinct), dtype=np.bool_)
    for k, h in enumerate(distinct.tolist()):
        got = edges(h, 1)
        if got is not None:
            offsets[k], mixed[k] = got[0], got[0] != got[1]
    utc = wall - offsets[inverse]
    per_row(np.flatnonzero(mixed[inverse]))
    return pa.array(utc, type=pa.timestamp(unit, tz="UTC"), mask=mask)


def event_source(table: Any, fields: _Mapping, props: _Mapping, zone: str | tzinfo | None = None
                 ) -> tuple[int, Iterator[tuple[int, int, dict[str, Any]]]]:
    """The row count and the chunks of an in-memory table (zero-copy record batches)."""
    cols = list(dict.fromkeys([*fields.values(), *props.values()]))
    selected = table.select(cols)

    def chunks() -> Iterator[tuple[int, int, dict[str, Any]]]:
        lo = 0
        for batch in selected.to_batches(max_chunksize=CHUNK):
            hi = lo + batch.num_rows
            yield lo, hi, chunk_columns(batch, fields, props, zone)
            lo = hi

    return selected.num_rows, chunks()


class ParquetPart:
    """One Parquet file of a load: where to read it (a path, or a buffer of its bytes),
    its name in sources (None: a single file, its rows numbered on their own), and its
    schema and metadata, read from the footer (the file is not held open)."""

    __slots__ = ("metadata", "name", "schema", "source")

    def __init__(self, source: Any, name: str | None, schema: Any, metadata: Any) -> None:
        self.source, self.name, self.schema, self.metadata = source, name, schema, metadata

    @property
    def num_rows(self) -> int:
        return int(self.metadata.num_rows)

    @property
    def shown(self) -> str:
        """How an error names the file."""
        return repr(self.name if self.name is not None else
                    self.source if isinstance(self.source, str) else "the Parquet data")


def parts_files(parts: Sequence[ParquetPart]) -> Any:
    """The files rows read from ``parts`` one after the other come from
    (:class:`pqlkit._columns.Files`), or None for a single file (rows numbered alone)."""
    from pqlkit import _columns

    if len(parts) == 1 and parts[0].name is None:
        return None
    return _columns.Files([str(p.name) for p in parts], [p.num_rows for p in parts])


def parquet_parts(path: Any, where: str) -> list[ParquetPart]:
    """The files a ``from_parquet`` path names, their footers read.

    A file (a path, or a binary file object or pyarrow buffer, read into memory); a
    directory: its files in every subdirectory, links followed (Hive partitions such as
    ``date=2026-05-01/``; names starting with ``.`` or ``_``, such as Spark's
    ``_temporary/`` and ``_SUCCESS``, are skipped, as pyarrow's datasets skip them), in the
    order of their paths, named by their path within it; or a list of files and
    directories, in the order given, named by their paths as given. A file that is not
    Parquet is an error naming it, never skipped.
    """
    pa, _ = _pa()
    if isinstance(path, (str, os.PathLike)) and not os.path.isdir(path):
        return [_part(os.fspath(path), None, where)]
    if isinstance(path, pa.Buffer):
        return [_part(path, None, where)]
    if isinstance(path, pa.NativeFile) or hasattr(path, "read"):
        # Worker threads each open their own reader: over the bytes, not a shared stream.
        # (From the start, as pyarrow reads a file object: offsets are absolute.)
        if getattr(path, "seekable", lambda: False)():
            path.seek(0)
        data = path.read()
        if isinstance(data, str):
            raise PqlkitTypeError(f"{where}: the file object is open in text mode; open it "
                                  "in binary mode ('rb')")
        return [_part(pa.py_buffer(data), None, where)]
    if isinstance(path, (str, os.PathLike)):
        roots: list[Any] = [path]
    elif isinstance(path, Sequence) and not isinstance(path, (bytes, bytearray)):
        roots = list(path)
    else:
        raise PqlkitTypeError(
            f"{where}: takes a path (a Parquet file or a directory of them), a list of "
            f"paths, or a binary file object, got {type(path).__name__}")
    alone = isinstance(path, (str, os.PathLike))
    found: list[tuple[str, str]] = []
    for root in roots:
        if not isinstance(root, (str, os.PathLike)):
            raise PqlkitTypeError(f"{where}: the list holds {root!r}, not a path")
        root = os.fspath(root)
        if not os.path.isdir(root):
            found.append((root, root))
            continue
        files = _files_in(root, where)
        if not files:
            raise ValidationError(f"{where}: no file in the directory {root!r} (names "
                                  "starting with '.' or '_' are skipped)")
        found.extend((os.path.join(root, f), f.replace(os.sep, "/") if alone
                      else os.path.join(root, f)) for f in files)
    if not found:
        raise ValidationError(f"{where}: the list of files is empty")
    _refuse_twice(found, where)
    return [_part(file, name, where) for file, name in found]


def _refuse_twice(found: list[tuple[str, str]], where: str) -> None:
    """A file named twice (a directory and a file in it, two links to one file) would
    have its rows read twice: counted twice, silently, when they carry no event id."""
    first: dict[tuple[int, int], str] = {}
    for file, name in found:
        try:
            st = os.stat(file)
        except OSError:
            continue  # missing or unreadable: _part says so
        key = (st.st_dev, st.st_ino)
        if key in first:
            raise ValidationError(
                f"{where}: {first[key]!r} and {name!r} are the same file, which would be "
                "read twice; name each file once (a directory already reads every file "
                "in it)")
        first[key] = name


def _files_in(root: str, where: str) -> list[str]:
    """The files under ``root`` (relative paths, sorted), links to directories followed
    (each directory once), skipping names that start with ``.`` or ``_`` (hidden files,
    Spark's staging and ``_SUCCESS``). A directory that cannot be listed is an error."""
    def refuse(exc: OSError) -> None:
        raise ValidationError(f"{where}: cannot list {exc.filename!r}: {exc.strerror}") from exc

    out: list[str] = []
    seen: set[str] = set()
    for d, dirs, files in os.walk(root, onerror=refuse, followlinks=True):
        real = os.path.realpath(d)
        if real in seen:  # a link back up the tree, or two links to one directory
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = [x for x in dirs if not x.startswith((".", "_"))]
        out.extend(os.path.relpath(os.path.join(d, f), root) for f in files
                   if not f.startswith((".", "_")))
    return sorted(out)


def _part(source: Any, name: str | None, where: str) -> ParquetPart:
    if isinstance(source, (str, os.PathLike)) and not os.path.exists(source):
        from pqlkit.errors import MissingFileError

        raise MissingFileError(f"{where}: {os.fspath(source)!r} does not exist; check the path"
                               + (" (patterns such as *.parquet are not expanded: give the "
                                  "directory)" if "*" in os.fspath(source) else ""))
    parquet = open_parquet(source, where)
    try:
        return ParquetPart(source, name, parquet.schema_arrow, parquet.metadata)
    finally:
        parquet.close()


def parquet_columns(parts: Sequence[ParquetPart]) -> dict[str, Any]:
    """The columns of several files, in the order first seen, with the type each has in
    the first file that has it."""
    out: dict[str, Any] = {}
    for part in parts:
        for field in part.schema:
            out.setdefault(field.name, field.type)
    return out


def check_parts(parts: Sequence[ParquetPart], required: Sequence[str], timestamp: str,
                where: str) -> None:
    """Every file has the ``required`` columns, and timestamps of one kind: each with a
    zone, or none (then read in the ``tz=`` given)."""
    pa, _ = _pa()
    for part in parts:
        unique_columns(part.schema.names, f"{where}: {part.shown}")
        have = set(part.schema.names)
        for column in required:
            if column not in have:
                raise ValidationError(
                    f"{where}: {part.shown} has no column {column!r}; its columns are "
                    f"{', '.join(map(repr, part.schema.names))}")
    naive = [p for p in parts if pa.types.is_timestamp(t := p.schema.field(timestamp).type)
             and t.tz is None]
    if naive and len(naive) < len(parts):
        aware = [p for p in parts if p not in naive]

        def listed(group: list[ParquetPart]) -> str:
            shown = ", ".join(p.shown for p in group[:3])
            return shown + (f" and {len(group) - 3} more" if len(group) > 3 else "")

        raise ValidationError(
            f"{where}: column {timestamp!r} has no time zone in {listed(naive)} but has one "
            f"in {listed(aware)}: store the files alike (or load them apart with their own "
            "tz= and join the logs with EventLog.concat)")


def source_chunks(source: Any, fields: _Mapping, props: _Mapping, zone: str | tzinfo | None
                  ) -> Iterator[tuple[int, int, dict[str, Any]]]:
    """The chunks of a source's record batches, read in order on worker threads (a few
    ahead, no more, to bound memory)."""
    from pqlkit import _arrowload

    for lo, batch in _arrowload.batches(source):
        yield lo, lo + batch.num_rows, chunk_columns(batch, fields, props, zone)


def reopen_parquet(source: Any, text: list[str]) -> Any:
    """A reader of its own for one thread (``source``: a path, or a buffer of the bytes)."""
    pa, _ = _pa()
    pq = require("pyarrow.parquet", "arrow", "EventLog.from_parquet")
    if isinstance(source, pa.Buffer):
        source = pa.BufferReader(source)
    # Without pre-buffering the reader holds one batch's pages, not a whole row group.
    options = {"read_dictionary": text or None, "pre_buffer": False, "buffer_size": 1 << 20}
    parquet_file = pq.ParquetFile(source, **options)
    pool = decode_pool()
    if pool is not None:
        # ParquetFile takes no memory pool; its reader does (pyarrow's own module, so any
        # failure keeps the file's default reader).
        try:
            reader = require("pyarrow._parquet", "arrow", "EventLog.from_parquet"
                             ).ParquetReader(memory_pool=pool)
            reader.open(source, metadata=parquet_file.metadata, **options)
            parquet_file.reader = reader
        except Exception:  # a pyarrow without this API: the file's own reader, default pool
            pass
    return parquet_file


def chunk_columns(batch: Any, fields: Mapping[str, str], props: Mapping[str, str],
                  zone: str | tzinfo | None) -> dict[str, Any]:
    out: dict[str, Any] = {field: batch.column(col) for field, col in fields.items()}
    if zone is not None:
        out["timestamp"] = localize(out["timestamp"], zone)
    out["properties"] = {key: batch.column(col) for key, col in props.items()}
    return out


def open_parquet(path: Any, where: str | None = None) -> Any:
    """A ``pyarrow.parquet.ParquetFile`` (to read its schema before choosing columns).
    A file that cannot be opened raises the OS's error; one that is not Parquet, a
    :class:`~pqlkit.errors.ValidationError` naming it."""
    pa, _ = _pa()
    pq = require("pyarrow.parquet", "arrow", "EventLog.from_parquet")
    try:
        return pq.ParquetFile(pa.BufferReader(path) if isinstance(path, pa.Buffer) else path)
    except Exception as exc:
        if isinstance(exc, OSError) and exc.errno is not None:
            raise  # missing, unreadable, too many open files: not a matter of format
        shown = os.fspath(path) if isinstance(path, (str, os.PathLike)) else "the data"
        raise ValidationError(f"{where + ': ' if where else ''}cannot read {shown!r} as "
                              f"Parquet: {exc}") from exc


def read_table(path: Any, where: str) -> tuple[Any, Any]:
    """An entity table's Parquet file — or directory, or list of files, read as one table
    (a column a file lacks is null there) — as a Table, and the files the rows come from
    when there are several (:class:`pqlkit._columns.Files`, else None). Entity tables are
    small: each file is read whole, without extra threads or pre-buffering, which would
    hold far more memory than the table."""
    pa, _ = _pa()
    tables = []
    parts = parquet_parts(path, where)
    for part in parts:
        with reopen_parquet(part.source, []) as reader:
            tables.append(pa.Table.from_batches(
                list(reader.iter_batches(batch_size=PARQUET_BATCH, use_threads=False)),
                schema=part.schema))
    pa.default_memory_pool().release_unused()
    files = parts_files(parts)
    if files is None:
        return tables[0], None
    try:
        table = pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        for part, t in zip(parts, tables, strict=True):
            unique_columns(t.column_names, f"{where}: {part.shown}")
        return _columns_across(tables), files
    return table, files


def _columns_across(tables: list[Any]) -> dict[str, Any]:
    """The columns of tables whose types differ from file to file (ids that were all
    numbers on one day, a ``created_at`` written as text by an older job), as the events'
    loader reads such files: a column of one type stays Arrow; one of several becomes
    its Python values, each checked as a record's would be."""
    pa, _ = _pa()
    names = list(dict.fromkeys(n for t in tables for n in t.column_names))
    out: dict[str, Any] = {}
    for name in names:
        pieces = [t.column(name) if name in t.column_names else None for t in tables]
        kinds = {p.type for p in pieces if p is not None and not pa.types.is_null(p.type)}
        if len(kinds) <= 1:
            kind = next(iter(kinds), pa.null())
            out[name] = pa.chunked_array(
                [c for p, t in zip(pieces, tables, strict=True)
                 for c in (p.cast(kind).chunks if p is not None
                           else [pa.nulls(t.num_rows, kind)])], type=kind)
        else:
            out[name] = object_array([v for p, t in zip(pieces, tables, strict=True)
                                      for v in (p.to_pylist() if p is not None
                                                else [None] * t.num_rows)])
    return out
