"""Events from Arrow tables and Parquet files, decoded on worker threads.

The general loader (``eventlog._load_events``) passes one chunk at a time through stateful
encoders on the calling thread. For the usual columnar input -- a timestamp column and
text (or dictionary-encoded text) name and id columns -- the per-row work is done here on
worker threads instead: each chunk is decoded (a Parquet row group) and its timestamps and
dictionary indices are written straight into the log's arrays. The calling thread then
merges the chunks' dictionaries once, in pyarrow, into sorted distinct values and maps
every chunk's indices onto them (again on the workers). Python sees each distinct name and
id once, and a row only when a check rejects it, which goes through the general loader's
own rejection path so that reasons and messages are the same word for word.

Property and event-id columns keep the general encoders (they are stateful): the calling
thread feeds them chunk by chunk, in order, while the workers decode the next chunks.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import tzinfo
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from pqlkit import _arrow
from pqlkit import _columns as col
from pqlkit.errors import ValidationError
from pqlkit.records import FieldError, check_name

Array = npt.NDArray[Any]
BoolArray = npt.NDArray[np.bool_]
Int32Array = npt.NDArray[np.int32]

#: Chunks decoded ahead of the one the calling thread is on (bounds the memory in flight).
AHEAD = 4
#: Worker threads: decoding is CPU-bound, and each thread holds a chunk or two.
WORKERS = max(1, min(4, os.cpu_count() or 1))
_TEXT_FIELDS = ("name", "user_id", "account_id")
_T = TypeVar("_T")
_Reject = Callable[[Mapping[str, Any], int, int], None]
_Also = Callable[[], Mapping[str, Sequence[col.IdValues]]]
_Valid = Callable[[list[Any]], BoolArray]


class Source:
    """Where the chunks come from: ``spans`` (row ranges, in order) and ``read(k)``, the
    record batches of span ``k`` with their first rows, callable from any thread. A span
    of more than :data:`pqlkit._arrow.PARQUET_GROUP_MAX` rows is read a batch at a time
    as ``read(k)`` is iterated, so that it is never held whole. ``files``: the files the
    rows come from, when several (rows are numbered across them)."""

    def __init__(self, n: int, spans: list[tuple[int, int]],
                 read: Callable[[int], Iterator[tuple[int, Any]]],
                 files: col.Files | None = None) -> None:
        self.n = n
        self.spans = spans
        self.read = read
        self.files = files

    def large(self, k: int) -> bool:
        lo, hi = self.spans[k]
        return hi - lo > _arrow.PARQUET_GROUP_MAX


def table_chunks(table: Any) -> Source:
    """The record batches of an in-memory table (zero-copy slices)."""
    batches = table.to_batches(max_chunksize=col.CHUNK)
    bounds = list(itertools.accumulate((b.num_rows for b in batches), initial=0))
    spans = list(itertools.pairwise(bounds))
    return Source(table.num_rows, spans, lambda k: iter([(spans[k][0], batches[k])]))


def parquet_groups(parts: Sequence[_arrow.ParquetPart], fields: Mapping[str, str],
                   props: Mapping[str, str]) -> Source:
    """The row groups of Parquet files (one after the other), each read by the thread
    asking for it with its own reader, text columns dictionary-encoded straight from the
    file's pages (except event ids, nearly all distinct). A column a file lacks is read as
    nulls there. A row group larger than :data:`pqlkit._arrow.PARQUET_GROUP_MAX` rows is
    read in batches. Rows are numbered across the files; with several, ``Source.files``
    names them."""
    pa, _ = _arrow._pa()
    cols = list(dict.fromkeys([*fields.values(), *props.values()]))
    types = _arrow.parquet_columns(parts)
    plain = {fields.get("event_id"), fields["timestamp"]}
    # Per file: the columns it has, those of them read dictionary-encoded, those it lacks.
    plans = []
    for part in parts:
        have = [c for c in cols if c in part.schema.names]
        text = [c for c in have if c not in plain
                and _arrow.is_text_type(part.schema.field(c).type)]
        plans.append((have, text, [c for c in cols if c not in have]))
    groups = [(f, g) for f, part in enumerate(parts)
              for g in range(part.metadata.num_row_groups)]
    sizes = [parts[f].metadata.row_group(g).num_rows for f, g in groups]
    bounds = list(itertools.accumulate(sizes, initial=0))
    spans = list(itertools.pairwise(bounds))
    local = threading.local()

    def complete(batch: Any, missing: list[str]) -> Any:
        if not missing:
            return batch
        arrays = {c: batch.column(c) for c in batch.schema.names}
        arrays.update((c, pa.nulls(batch.num_rows, types[c])) for c in missing)
        return pa.RecordBatch.from_arrays([arrays[c] for c in cols], names=cols)

    def read(k: int) -> Iterator[tuple[int, Any]]:
        try:
            yield from read_group(k)
        except Exception as exc:
            if isinstance(exc, OSError) and exc.errno is not None:
                raise  # the file went away, or no more files may be opened
            f, g = groups[k]
            raise ValidationError(f"cannot read row group {g} of {parts[f].shown} as "
                                  f"Parquet: {exc}") from exc

    def read_group(k: int) -> Iterator[tuple[int, Any]]:
        f, g = groups[k]
        have, text, missing = plans[f]
        # One open file per thread: the one of its last span (spans go in file order).
        held = getattr(local, "reader", None)
        if held is None or held[0] != f:
            held = local.reader = (f, _arrow.reopen_parquet(parts[f].source, text))
        reader = held[1]
        lo = spans[k][0]
        if sizes[k] <= _arrow.PARQUET_GROUP_MAX:
            table = reader.read_row_group(g, columns=have, use_threads=False)
            if table.num_rows:
                yield lo, complete(table.combine_chunks().to_batches()[0], missing)
            return
        for batch in reader.iter_batches(batch_size=_arrow.PARQUET_BATCH, row_groups=[g],
                                         columns=have, use_threads=False):
            yield lo, complete(batch, missing)
            lo += batch.num_rows

    return Source(bounds[-1], spans, read, _arrow.parts_files(parts))


def fast_schema(schema: Any, fields: Mapping[str, str]) -> bool:
    """True when the columns suit this loader: a timestamp column (any unit; a zone-less
    one is localised first) and text or dictionary-of-text name and id columns."""
    pa, _ = _arrow._pa()
    if not pa.types.is_timestamp(schema.field(fields["timestamp"]).type):
        return False
    for field in _TEXT_FIELDS:
        if field in fields and fields[field] in schema.names:  # (else read as nulls)
            t = schema.field(fields[field]).type
            if pa.types.is_dictionary(t):
                t = t.value_type
            if not (pa.types.is_string(t) or pa.types.is_large_string(t)):
                return False
    return True


class _Chunk:
    """One decoded batch: its rows, its dictionaries, what the workers found bad, and the
    columns the calling thread still encodes."""

    __slots__ = ("all_used", "bad", "dicts", "hi", "lo", "nulls", "rest")

    def __init__(self, lo: int, hi: int, dicts: dict[str, Any], all_used: bool,
                 bad: BoolArray | None, rest: dict[str, Any], nulls: frozenset[str]) -> None:
        self.lo, self.hi, self.dicts, self.bad, self.rest = lo, hi, dicts, bad, rest
        self.all_used = all_used  # every entry of its dictionaries has a row
        self.nulls = nulls  # the text fields with a null row


class Loaded:
    """The event columns of a load, codes final: ``user``/``account`` index the sorted
    distinct ids (``user_ids``/``account_ids``), ``name`` the sorted ``names``; ``keep``
    the rows kept (None: all)."""

    def __init__(self, ts: Array, name: Array, names: list[str], user: Int32Array,
                 user_ids: col.IdValues | None, account: Int32Array,
                 account_ids: col.IdValues | None,
                 keep: BoolArray | None, eids: col.Eids | None,
                 props: dict[str, tuple[Int32Array, Any]]) -> None:
        self.ts, self.name, self.names = ts, name, names
        self.user, self.user_ids = user, user_ids
        self.account, self.account_ids = account, account_ids
        self.keep, self.eids, self.props = keep, eids, props
        # Per field, which of the values a kept row uses, when that is known without a
        # pass over the rows (every name then has a row too); else empty.
        self.used: dict[str, BoolArray] = {}
        # Per field, where the entries of the arrays `also` gave are in the ids.
        self.also_at: dict[str, list[npt.NDArray[np.int64]]] = {}


class Loader:
    """One load: decode ``source`` on the workers, encode the rest here, merge, map."""

    def __init__(self, source: Source, fields: Mapping[str, str], props: Mapping[str, str],
                 zone: str | tzinfo | None, *, tz: str | tzinfo | None, epoch_unit: str | None,
                 reject: _Reject, also: _Also | None = None,
                 name_type: type[np.signedinteger[Any]] = np.int16,
                 limit: int | None = None) -> None:
        self.source = source
        self.limit = limit  # the latest instant kept (future_tolerance=), in µs
        self.also = also
        self.also_at: dict[str, list[npt.NDArray[np.int64]]] = {}
        self.in_events: dict[str, BoolArray] = {}
        self.values: dict[str, col.IdValues] = {}  # the ids, once merged
        self.fields = fields
        self.props = props
        self.zone = zone
        self.reject = reject
        self.times = col.TimeEncoder("timestamp", tz=tz, epoch_unit=epoch_unit)
        n = source.n
        self.ts = np.empty(n, dtype=np.int64)
        # Codes into the chunk's own dictionary first, then into the merged values; -1:
        # null. The workers write every row of a column read; one not read is all -1.
        # Names are few: int16 codes (half the memory of int32 at 10M events) unless a
        # chunk uses more than int16 holds, when the load starts again with int32.
        self.codes: dict[str, Array] = {
            field: np.empty(n, dtype=name_type if field == "name" else np.int32)
            if field in fields else np.full(n, -1, dtype=np.int32) for field in _TEXT_FIELDS}
        self.eids = col.EidEncoder(n) if "event_id" in fields else None
        self.prop_encoders = {key: col.PropEncoder(key, n) for key in props}
        self.chunks: list[_Chunk] = []

    # -- on the workers -------------------------------------------------------------------

    def _decode(self, k: int) -> list[_Chunk]:
        """Read span ``k``; write its timestamps and dictionary indices into place."""
        out = []
        for lo, batch in self.source.read(k):
            hi = lo + batch.num_rows
            cols = _arrow.chunk_columns(batch, self.fields, self.props, self.zone)
            # Stateless for typed columns: safe on any thread.
            bad = self.times.feed_into(self.ts[lo:hi], col.to_piece(cols["timestamp"]))
            if self.limit is not None:
                late = self.ts[lo:hi] > self.limit
                if late.any():
                    bad = late if bad is None else bad | late
            dicts = {}
            all_used = True
            nulls = frozenset(f for f in _TEXT_FIELDS if f in cols and cols[f].null_count)
            for field in _TEXT_FIELDS:
                if field in cols:
                    dictionary, indices = _arrow.dictionary_codes(cols[field])
                    if len(dictionary) > np.iinfo(self.codes[field].dtype).max:
                        raise _ManyNames
                    self.codes[field][lo:hi] = indices
                    dicts[field] = dictionary
                    # (An Arrow dictionary may hold values no row uses.)
                    all_used = all_used and _all_used(indices, len(dictionary))
            rest = {"properties": cols["properties"]}
            if "event_id" in cols:
                rest["event_id"] = cols["event_id"]
            out.append(_Chunk(lo, hi, dicts, all_used, bad, rest, nulls))
        return out

    def _map(self, chunk: _Chunk, luts: dict[str, Int32Array]) -> BoolArray | None:
        """Chunk codes onto the merged values; the rows now known to be bad."""
        lo, hi = chunk.lo, chunk.hi
        for field, lut in luts.items():
            part = self.codes[field][lo:hi]
            part[...] = lut[part]

        def may_lack(field: str) -> bool:
            # Only a null row, or a dictionary entry that maps to none, has no value: the
            # usual chunk has neither, and its rows need no test.
            lut = luts.get(field)
            return lut is None or field in chunk.nulls or bool((lut[:-1] < 0).any())

        # A null, blank or invalid name; no user and no account (as _load_events checks).
        bad = chunk.bad
        if may_lack("name"):
            unnamed = self.codes["name"][lo:hi] < 0
            bad = unnamed if bad is None else bad | unnamed
        if may_lack("user_id") and may_lack("account_id"):
            nobody = (self.codes["user_id"][lo:hi] < 0) & (self.codes["account_id"][lo:hi] < 0)
            bad = nobody if bad is None else bad | nobody
        return bad if bad is not None and bad.any() else None

    # -- on the calling thread ------------------------------------------------------------

    def run(self) -> Loaded:
        with ThreadPoolExecutor(WORKERS, thread_name_prefix="pqlkit-load") as pool:
            for decoded in _in_order(pool, self._decode, len(self.source.spans)):
                for chunk in decoded:
                    self._encode_rest(chunk)
                    self.chunks.append(chunk)
            names, luts = self._merge(pool)
            if len(names) > np.iinfo(self.codes["name"].dtype).max:
                self.codes["name"] = self.codes["name"].astype(np.int32)
            # The ids' Python values (for the log's id tuples) are made beside the mapping.
            python_ids = [pool.submit(ids.tolist) for ids in self.values.values()]
            bad_of = list(pool.map(self._map, self.chunks, luts))
            for made in python_ids:
                made.result()
        _arrow.release_unused()
        keep = self._reject_rows(bad_of)
        return self._loaded(names, keep)

    def _encode_rest(self, chunk: _Chunk) -> None:
        lo, hi, rest = chunk.lo, chunk.hi, chunk.rest
        found: list[BoolArray] = []
        if self.eids is not None:
            raw = rest.get("event_id")
            got = self.eids.feed(lo, hi, None if raw is None else col.to_piece(raw))
            if got is not None:
                found.append(got)
        for key, enc in self.prop_encoders.items():
            raw = rest["properties"].get(key)
            got = enc.feed(lo, hi, None if raw is None else col.to_piece(raw))
            if got is not None:
                found.append(got)
        for got in found:
            if got.any():
                chunk.bad = got if chunk.bad is None else chunk.bad | got
        chunk.rest = {}

    def _merge(self, pool: ThreadPoolExecutor) -> tuple[list[str], list[dict[str, Int32Array]]]:
        """Sorted distinct names and ids, and each chunk's maps from its dictionaries'
        indices onto them (with a last slot for code -1, null). The fields are merged side
        by side: pyarrow lets go of the GIL."""
        fields = [f for f in _TEXT_FIELDS if f in self.fields]
        also = {} if self.also is None else self.also()

        def merge(field: str) -> tuple[Int32Array, Any, list[npt.NDArray[np.int64]]]:
            dicts = [c.dicts[field] for c in self.chunks]
            return _merged(dicts, list(also.get(field, ())),
                           _valid_names if field == "name" else None)

        names: list[str] = []
        luts: list[dict[str, Int32Array]] = [{} for _ in self.chunks]
        for field, (rank, distinct, at) in zip(fields, pool.map(merge, fields), strict=True):
            if field == "name":
                names = distinct.to_pylist()
            else:
                self.values[field] = col.IdValues(distinct, "str", sorted=True)
            if field in also:
                self.also_at[field] = at
            bounds = itertools.accumulate((len(c.dicts[field]) for c in self.chunks),
                                          initial=0)
            for lut_of, (lo, hi) in zip(luts, itertools.pairwise(bounds), strict=True):
                lut_of[field] = col.spare_slot(rank[lo:hi])
            # Which of the values the events' dictionaries hold (not only the tables').
            used = np.zeros(len(distinct) + 1, dtype=np.bool_)
            used[rank] = True
            self.in_events[field] = used[:-1]
        return names, luts

    def _reject_rows(self, bad_of: list[BoolArray | None]) -> BoolArray | None:
        """Send the bad rows through the general rejection path, in row order."""
        if all(b is None for b in bad_of):
            return None
        keep = np.ones(self.source.n, dtype=np.bool_)
        by_span: dict[int, list[tuple[_Chunk, BoolArray]]] = {}
        starts = [lo for lo, _ in self.source.spans]
        for chunk, bad in zip(self.chunks, bad_of, strict=True):
            if bad is not None:
                keep[chunk.lo:chunk.hi] = ~bad
                k = int(np.searchsorted(starts, chunk.lo, side="right")) - 1
                by_span.setdefault(k, []).append((chunk, bad))
        for k in sorted(by_span):
            bad_at = {chunk.lo: (chunk, bad) for chunk, bad in by_span[k]}
            for lo, batch in self.source.read(k):
                if lo not in bad_at:
                    continue
                chunk, bad = bad_at[lo]
                cols = _arrow.chunk_columns(batch, self.fields, self.props, self.zone)
                for i in np.flatnonzero(bad).tolist():
                    self.reject(cols, i, chunk.lo + i)
        return keep

    def _loaded(self, names: list[str], keep: BoolArray | None) -> Loaded:
        ts, name = self.ts, self.codes["name"]
        user, account = self.codes["user_id"], self.codes["account_id"]
        if keep is not None:
            ts, name, user, account = ts[keep], name[keep], user[keep], account[keep]
        props = {}
        for key, enc in self.prop_encoders.items():
            encoded = enc.finish(keep)
            if encoded is not None:
                props[key] = encoded
        eids = None if self.eids is None else self.eids.finish(keep)
        out = Loaded(ts, name, names, user, self.values.get("user_id"), account,
                     self.values.get("account_id"), keep, eids, props)
        if keep is None and all(c.all_used for c in self.chunks):
            out.used = self.in_events
        out.also_at = self.also_at
        return out


def _in_order(pool: ThreadPoolExecutor, work: Callable[[int], _T], count: int
              ) -> Iterator[_T]:
    """``work(0)``, ``work(1)``, ... ``work(count - 1)`` in order, run on ``pool`` at most
    :data:`AHEAD` ahead of the one handed out."""
    ahead: deque[Future[_T]] = deque(pool.submit(work, k) for k in range(min(count, AHEAD)))
    following = iter(range(len(ahead), count))
    while ahead:
        done = ahead.popleft().result()
        nxt = next(following, None)
        if nxt is not None:
            ahead.append(pool.submit(work, nxt))
        yield done
        del done


def batches(source: Source) -> Iterator[tuple[int, Any]]:
    """The record batches of ``source`` and their first rows, in order, read on worker
    threads (for the general loader, which encodes them on the calling thread)."""
    def read(k: int) -> Iterable[tuple[int, Any]]:
        # A span of usual size is read on the worker; a large one batch by batch here.
        got = source.read(k)
        return got if source.large(k) else list(got)

    with ThreadPoolExecutor(WORKERS, thread_name_prefix="pqlkit-read") as pool:
        for got in _in_order(pool, read, len(source.spans)):
            yield from got
    _arrow.release_unused()


def _merged(dicts: list[Any], tables: list[col.IdValues], valid: _Valid | None
            ) -> tuple[Int32Array, Any, list[npt.NDArray[np.int64]]]:
    """The sorted distinct values of the chunks' dictionaries and of the tables' ids, each
    dictionary entry's index among them (-1: null, blank or not ``valid``), and each table
    id's. When the tables name every id of the events (the usual case), the events' entries
    are only looked up among the tables' ids, which are sorted already."""
    if tables:
        if len(tables) == 1 and tables[0].sorted:
            known, at = tables[0].array, [np.arange(len(tables[0]), dtype=np.int64)]
        else:
            rank, known = _arrow.sorted_distinct([t.array for t in tables])
            bounds = itertools.accumulate(map(len, tables), initial=0)
            at = [rank[lo:hi].astype(np.int64) for lo, hi in itertools.pairwise(bounds)]
        found = _arrow.lookup(dicts, known)
        if found is not None:
            return found, known, at
    rank, distinct = _arrow.sorted_distinct(dicts + [t.array for t in tables], valid=valid)
    n = sum(map(len, dicts))
    bounds = itertools.accumulate(map(len, tables), initial=n)
    return (rank[:n], distinct,
            [rank[lo:hi].astype(np.int64) for lo, hi in itertools.pairwise(bounds)])


def _all_used(indices: Int32Array, n: int) -> bool:
    """Whether every one of ``0..n-1`` is among ``indices`` (-1: null, ignored), by a
    count per value (bincount: 2.5x faster than marking a boolean array). bincount counts
    int64: the indices, shifted by one so that nulls count in slot 0, are copied into a
    scratch array this thread keeps, rather than into a fresh one per chunk, which glibc
    gives back to the system and the next chunk faults in again (40k page faults, a
    quarter of a second, at 10M events)."""
    m = len(indices)
    if m < n:
        return False
    if n == 0:
        return True
    scratch = getattr(_scratch, "array", None)
    if scratch is None or len(scratch) < m:
        scratch = _scratch.array = np.empty(m, dtype=np.int64)
    shifted = scratch[:m]
    np.add(indices, 1, out=shifted)
    return bool(np.count_nonzero(np.bincount(shifted, minlength=n + 1)[1:]) == n)


#: Per-thread scratch space of :func:`_all_used`.
_scratch = threading.local()


def _valid_names(values: list[Any]) -> BoolArray:
    """Which distinct names :func:`pqlkit.records.check_name` accepts."""
    out = np.ones(len(values), dtype=np.bool_)
    for i, v in enumerate(values):
        try:
            check_name(v)
        except FieldError:
            out[i] = False
    return out


def load(source: Source, fields: Mapping[str, str], props: Mapping[str, str],
         zone: str | tzinfo | None, *, tz: str | tzinfo | None, epoch_unit: str | None,
         reject: _Reject, also: _Also | None = None, limit: int | None = None) -> Loaded:
    """Load ``source`` (see the module docstring). ``also``, asked when the merge starts,
    may give the distinct text ids of the users' and accounts' tables per field, to merge
    with the events' ids: where each of them lands is ``Loaded.also_at``. ``limit``: the
    latest instant kept (µs); later rows are bad (``future_timestamp``)."""
    try:
        return Loader(source, fields, props, zone, tz=tz, epoch_unit=epoch_unit,
                      reject=reject, also=also, limit=limit).run()
    except _ManyNames:
        return Loader(source, fields, props, zone, tz=tz, epoch_unit=epoch_unit,
                      reject=reject, also=also, name_type=np.int32, limit=limit).run()


class _ManyNames(Exception):
    """A chunk uses more distinct event names than the name codes' type holds."""


__all__ = ["Loaded", "Source", "batches", "fast_schema", "load", "parquet_groups",
           "table_chunks"]

