"""Write the benchmark data: the demo generator at scale, as three Parquet files.

``python benchmarks/generate.py --events 1e6`` writes ``events.parquet`` (user_id,
account_id, name, timestamp as ``timestamp[us, UTC]``), ``users.parquet`` (user_id,
account_id, created_at and the traits: email, email_domain, role, ...) and
``accounts.parquet`` under ``benchmarks/data/saas-<events>-seed<seed>/``, from
:func:`pqlkit.datasets.synthetic_saas`. A scale and seed already written is reused.

The events carry no event_id and no properties: the two benchmarked models read neither,
and an event_id column would make every implementation pay for de-duplication.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import ACCOUNT_TRAITS, USER_TRAITS, Dataset
from pqlkit.datasets import SaasDataset, synthetic_saas

DATA_DIR = Path(__file__).resolve().parent / "data"
#: Events per account in the demo data: keeps users about as active at any scale.
EVENTS_PER_ACCOUNT = 180
#: Rows per Parquet row group: a common middle value, so that DuckDB and polars can read
#: a 1M-event file in parallel too.
ROW_GROUP_SIZE = 262_144
FORMAT = 1  # bump when the files' layout changes, so stale caches are rewritten


def parse_scale(text: str) -> int:
    """``"1e6"`` or ``"1000000"`` as an int, refusing fractions and non-positive sizes."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"a scale is a number of events like 1e6 or 250000, got {text!r}"
        ) from None
    if not value.is_integer() or value < 1:
        raise argparse.ArgumentTypeError(f"a scale is a whole number of events >= 1, got {text!r}")
    return int(value)


def scale_label(n: int) -> str:
    """``1000000`` as ``"1e6"``, other sizes as plain digits."""
    exp = len(str(n)) - 1
    return f"1e{exp}" if n == 10**exp else str(n)


def generate(n_events: int, *, seed: int = 7) -> SaasDataset:
    """The demo dataset with about ``n_events`` events (deterministic for a seed)."""
    n_accounts = max(1, round(n_events / EVENTS_PER_ACCOUNT))
    return synthetic_saas(n_accounts=n_accounts, n_events=n_events, seed=seed)


def _strings(pa: Any, column: np.ndarray[Any, Any]) -> Any:
    return pa.array(column, type=pa.string(), from_pandas=False)


def tables(ds: SaasDataset) -> tuple[Any, Any, Any]:
    """The dataset as three pyarrow Tables: events, users, accounts."""
    import pyarrow as pa

    ts_type = pa.timestamp("us", tz="UTC")
    e = ds.events
    events = pa.table({
        "user_id": _strings(pa, e.user_id),
        "account_id": _strings(pa, e.account_id),
        "name": _strings(pa, e.name),
        "timestamp": pa.array(e.timestamp, type=pa.int64()).cast(ts_type),
    })
    users = pa.table({
        "user_id": pa.array([u["user_id"] for u in ds.users], type=pa.string()),
        "account_id": pa.array([u["account_id"] for u in ds.users], type=pa.string()),
        "created_at": pa.array([u["created_at"] for u in ds.users], type=ts_type),
        **{k: pa.array([u["traits"].get(k) for u in ds.users], type=pa.string())
           for k in USER_TRAITS},
    })
    accounts = pa.table({
        "account_id": pa.array([a["account_id"] for a in ds.accounts], type=pa.string()),
        "created_at": pa.array([a["created_at"] for a in ds.accounts], type=ts_type),
        **{k: pa.array([a["traits"].get(k) for a in ds.accounts]) for k in ACCOUNT_TRAITS},
    })
    return events, users, accounts


def write_tables(root: Path, events: Any, users: Any, accounts: Any, *, seed: int,
                 end: str) -> Dataset:
    """Write the three tables and ``meta.json`` under ``root`` (replacing what is there).

    The files go to a temporary folder first, renamed into place at the end, so an
    interrupted run never leaves a half-written dataset that looks complete.
    """
    import pyarrow.parquet as pq

    tmp = root.with_name(root.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    pq.write_table(events, tmp / "events.parquet", row_group_size=ROW_GROUP_SIZE)
    pq.write_table(users, tmp / "users.parquet", row_group_size=ROW_GROUP_SIZE)
    pq.write_table(accounts, tmp / "accounts.parquet", row_group_size=ROW_GROUP_SIZE)
    meta = {"format": FORMAT, "n_events": events.num_rows, "n_users": users.num_rows,
            "n_accounts": accounts.num_rows, "seed": seed, "end": end,
            "numpy": np.__version__}
    (tmp / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    shutil.rmtree(root, ignore_errors=True)
    tmp.rename(root)
    return Dataset.open(root)


def ensure(n_events: int, *, seed: int = 7, data_dir: Path = DATA_DIR,
           quiet: bool = False) -> Dataset:
    """The dataset for a scale and seed, generated and written unless already cached."""
    root = Path(data_dir) / f"saas-{scale_label(n_events)}-seed{seed}"
    meta = root / "meta.json"
    if meta.exists():
        info = json.loads(meta.read_text())
        if info.get("format") == FORMAT and info.get("numpy") == np.__version__:
            return Dataset.open(root)
    start = time.perf_counter()
    ds = generate(n_events, seed=seed)
    events, users, accounts = tables(ds)
    out = write_tables(root, events, users, accounts, seed=seed, end=ds.end.isoformat())
    if not quiet:
        print(f"wrote {out.n_events:,} events, {out.n_users:,} users, {out.n_accounts:,} "
              f"accounts to {root} in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Write the benchmark data (events, users, accounts) as Parquet.",
        epilog="example: python benchmarks/generate.py --events 1e6,1e7",
    )
    parser.add_argument("--events", default="1e6",
                        help="comma-separated event counts, e.g. 1e6,1e7 (default 1e6)")
    parser.add_argument("--seed", type=int, default=7, help="generator seed (default 7)")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR,
                        help=f"where datasets are cached (default {DATA_DIR})")
    args = parser.parse_args(argv)
    try:
        scales = [parse_scale(s) for s in args.events.split(",")]
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    for n in scales:
        ds = ensure(n, seed=args.seed, data_dir=args.data_dir)
        print(f"{ds.root}: {ds.n_events:,} events, {ds.n_users:,} users, "
              f"{ds.n_accounts:,} accounts")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
