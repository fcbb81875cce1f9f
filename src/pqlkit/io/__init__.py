"""Ingestion: vendor payloads, files and dataframes onto an :class:`~pqlkit.EventLog`.

Every function here returns an EventLog whose ``report`` accounts for each input row
(``input = kept + duplicates + rejected``), naming rejected rows by their line number
(files) or position (iterables and frames). Optional libraries (pandas, polars, pyarrow)
are imported only when a function needs them.
"""

from __future__ import annotations

from pqlkit.io._sink import ACCOUNT_POLICIES, ANONYMOUS_POLICIES
from pqlkit.io.amplitude import from_amplitude
from pqlkit.io.files import read_csv, read_jsonl, read_parquet
from pqlkit.io.frames import from_arrow, from_pandas, from_polars
from pqlkit.io.mixpanel import from_mixpanel
from pqlkit.io.posthog import from_posthog
from pqlkit.io.segment import from_rudderstack, from_segment

__all__ = [
    "ACCOUNT_POLICIES", "ANONYMOUS_POLICIES", "from_amplitude", "from_arrow", "from_mixpanel",
    "from_pandas", "from_polars", "from_posthog", "from_rudderstack", "from_segment",
    "read_csv", "read_jsonl", "read_parquet",
]
