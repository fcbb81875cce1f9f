"""Text trait columns straight from Arrow: sorted codes for ``user_trait_column``, unordered
codes and Arrow string tests for the columnar engine's first score.

Whatever the path (ASCII or not, strings ending in NUL, nulls, traits only some users have),
the values must be Python's: ``sorted`` order, ``str`` tests, ``==`` for ``isin``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

pa = pytest.importorskip("pyarrow")

from pqlkit import _arrow  # noqa: E402

TEXT = st.text(alphabet=st.sampled_from("ab.@ÉéZz\x00 日😀"), max_size=5)
CELLS = st.lists(st.none() | TEXT, max_size=30)


def _arrow_column(cells: list[str | None], dictionary: bool, chunks: bool) -> Any:
    column = pa.array(cells, pa.string())
    if dictionary:
        column = column.dictionary_encode()
    if chunks and len(column) > 1:
        column = pa.chunked_array([column[:1], column[1:]])
    return column


@given(cells=CELLS, dictionary=st.booleans(), chunks=st.booleans())
@example(cells=["b", "a\x00", None], dictionary=False, chunks=False)
@example(cells=["é", "e", "z", "😀", "\uffff", None, "e"], dictionary=True, chunks=True)
@example(cells=[None, None], dictionary=False, chunks=False)
def test_sorted_text_codes_are_python_sorted(cells: list[str | None], dictionary: bool,
                                             chunks: bool) -> None:
    got = _arrow.sorted_text_codes(_arrow_column(cells, dictionary, chunks))
    distinct = sorted({c for c in cells if c is not None})
    if any(v.endswith("\x00") for v in distinct):
        assert got is None  # a 'U' array would drop the NUL: the caller falls back
        return
    assert got is not None
    codes, values = got
    assert codes.dtype == np.int32 and values.dtype.kind == "U"
    assert values.tolist() == distinct
    assert [None if c < 0 else distinct[c] for c in codes.tolist()] == cells


@given(cells=st.lists(TEXT, max_size=30))
@example(cells=["ab", "", "a"])
@example(cells=["x\x00"])
def test_text_unicode_keeps_order_and_refuses_trailing_nul(cells: list[str]) -> None:
    got = _arrow.text_unicode(pa.array(cells, pa.string()))
    if any(v.endswith("\x00") for v in cells):
        assert got is None
    else:
        assert got is not None and got.dtype.kind == "U" and got.tolist() == cells
