"""Probe the columnar loaders: write synthetic events to Parquet, then time a load.

Each load runs in the process that calls it, so run it in a fresh process to read its
peak RSS::

    python benchmarks/_storage_probe.py gen --events 1e6 --out /tmp/ev1m.parquet
    /usr/bin/time -v python benchmarks/_storage_probe.py load /tmp/ev1m.parquet

``gen`` writes the columns the benchmark models read (user_id, account_id, name,
timestamp as timestamp[us, UTC]); ``--event-ids`` and ``--users`` add event ids and a
users file. ``load`` prints the seconds of ``EventLog.from_parquet`` and the peak RSS.
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import numpy as np


def generate(events: float, out: Path, *, event_ids: bool, users: bool, seed: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pqlkit.datasets import synthetic_saas

    ds = synthetic_saas(n_accounts=max(int(events / 180), 1), seed=seed)
    ev = ds.events
    columns = {
        "user_id": pa.array(ev.user_id.astype(str)),
        "account_id": pa.array(ev.account_id.tolist(), pa.string()),
        "name": pa.array(ev.name.astype(str)),
        "timestamp": pa.array(ev.timestamp, pa.timestamp("us", tz="UTC")),
    }
    if event_ids:
        columns["event_id"] = pa.array(ev.event_id.astype(str))
    pq.write_table(pa.table(columns), out)
    if users:
        rows = ds.users
        table = pa.table({
            "user_id": [u["user_id"] for u in rows],
            "account_id": [u["account_id"] for u in rows],
            "created_at": pa.array([u["created_at"] for u in rows],
                                   pa.timestamp("us", tz="UTC")),
            **{k: [u["traits"][k] for u in rows] for k in ("email", "role", "plan")},
        })
        pq.write_table(table, out.with_name(out.stem + ".users.parquet"))
    print(f"wrote {len(ev)} events to {out}")


def load(path: Path, *, users: bool, profile: bool) -> None:
    import pqlkit as pk

    users_path = path.with_name(path.stem + ".users.parquet") if users else None
    start = time.perf_counter()
    if profile:
        import cProfile
        import pstats

        with cProfile.Profile() as prof:
            log = pk.EventLog.from_parquet(path, users=users_path)
        pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
    else:
        log = pk.EventLog.from_parquet(path, users=users_path)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with open("/proc/self/statm") as statm:
        held_rss = int(statm.read().split()[1]) * resource.getpagesize() / 2**20
    arrays = [log.ts, log.name_code, log.user, log.account, log.owner_account,
              log.event_id.codes, log.event_id.values]
    if log._src is not None:
        arrays.append(log._src)
    held = sum(a.nbytes for a in arrays if a.base is None or a.strides[0])
    print(f"{len(log)} events, {len(log.user_ids)} users, {len(log.account_ids)} accounts: "
          f"from_parquet {seconds:.2f} s, peak RSS {peak:.0f} MiB, RSS after {held_rss:.0f} MiB, "
          f"event columns {held / 2**20:.0f} MiB; {log.report.counts}")
    step = 2**20
    assert all(bool(np.all(np.diff(log.ts[i:i + step + 1]) >= 0))
               for i in range(0, len(log), step))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("gen")
    g.add_argument("--events", type=float, default=1e6)
    g.add_argument("--out", type=Path, required=True)
    g.add_argument("--event-ids", action="store_true")
    g.add_argument("--users", action="store_true")
    g.add_argument("--seed", type=int, default=7)
    lo = sub.add_parser("load")
    lo.add_argument("path", type=Path)
    lo.add_argument("--users", action="store_true")
    lo.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    if args.command == "gen":
        generate(args.events, args.out, event_ids=args.event_ids, users=args.users,
                 seed=args.seed)
    else:
        load(args.path, users=args.users, profile=args.profile)


if __name__ == "__main__":
    main()
