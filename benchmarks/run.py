"""Time pqlkit against pandas, DuckDB and polars on the same two models, in one run.

``python benchmarks/run.py --scale 1e6,1e7 --rounds 5`` generates (or reuses) the data of
each scale, then for the trial template and the weighted-families model, each with the
default PQA roll-up:

1. loads every tool's in-memory form (an EventLog, DataFrames, DuckDB tables), runs every
   implementation once and checks it agrees with pqlkit (this round is not timed);
2. times compute-only (data in memory) in ``--rounds`` alternating rounds;
3. times end-to-end (Parquet files to user and account results) in ``--rounds``
   alternating rounds, each run in a fresh process that reports its peak RSS, checking
   the first round's results too.

The pqlkit reference engine runs once per model, on scales up to ``--reference-max``.
It prints one table per scale, the growth of pqlkit's time between scales and the bar of
issue 3, and writes benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import pickle
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from types import ModuleType
from typing import Any

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import AS_OF, MODELS, Dataset, Results, compare

HERE = Path(__file__).resolve().parent
RESULTS_MD = HERE / "RESULTS.md"

#: Every implementation, in table order. "pqlkit" is the columnar engine.
TOOLS = ("pqlkit", "pqlkit-reference", "duckdb", "polars", "pandas")
LABELS = {"pqlkit": "pqlkit columnar", "pqlkit-reference": "pqlkit reference",
          "duckdb": "DuckDB", "polars": "polars", "pandas": "pandas"}
_MODULES = {"pqlkit": "impl_pqlkit", "pqlkit-reference": "impl_pqlkit",
            "duckdb": "impl_duckdb", "polars": "impl_polars", "pandas": "impl_pandas"}
MODES = ("compute", "e2e")
RSS_BAR_MIB = 700
GROWTH_BAR = 12.0


def _impl(tool: str) -> ModuleType:
    return importlib.import_module(f"benchmarks.{_MODULES[tool]}")


def _engine(tool: str) -> dict[str, Any]:
    return {"engine": "reference"} if tool == "pqlkit-reference" else {}


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class Row:
    """The timings of one tool, model and mode at one scale."""

    tool: str
    model: str
    mode: str
    n_events: int
    seconds: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    rss_mib: list[float] = field(default_factory=list)

    def add(self, seconds: float, cpu: float, rss_mib: float | None = None) -> None:
        self.seconds.append(seconds)
        self.cpu.append(cpu)
        if rss_mib is not None:
            self.rss_mib.append(rss_mib)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def median_cpu(self) -> float:
        return statistics.median(self.cpu)

    @property
    def peak_rss(self) -> float | None:
        return max(self.rss_mib) if self.rss_mib else None


def timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, float, float]:
    """``fn(*args, **kwargs)``, its wall-clock seconds and this process's CPU seconds.

    CPU seconds add up every thread of the process (DuckDB's and polars' too): on a
    machine shared with other work they show how much of the wall time was spent waiting
    for a core.
    """
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - wall, time.process_time() - cpu


def _rotations(tools: Sequence[str], rounds: int) -> Iterator[tuple[int, list[str]]]:
    # Each round starts with a different tool, so no tool always runs first (cold caches)
    # or always after the same neighbour.
    for r in range(rounds):
        k = r % len(tools)
        yield r, [*tools[k:], *tools[:k]]


# -- compute-only ---------------------------------------------------------------------------


def measure_compute(ds: Dataset, tools: Sequence[str], models: Sequence[str], rounds: int,
                    as_of: datetime) -> tuple[list[Row], dict[str, Results]]:
    """Time each tool on data already in memory; check every result against pqlkit."""
    natives: dict[str, Any] = {}
    for tool in ["pqlkit", *tools]:
        if tool in natives or tool == "pqlkit-reference":
            continue
        start = time.perf_counter()
        natives[tool] = _impl(tool).load(ds)
        _log(f"  loaded {LABELS[tool]} in-memory form in {time.perf_counter() - start:.2f} s")
    natives["pqlkit-reference"] = natives["pqlkit"]

    rows = {(t, m): Row(t, m, "compute", ds.n_events) for t in tools for m in models}
    expected: dict[str, Results] = {}
    for model in models:
        expected[model] = _impl("pqlkit").results(
            _impl("pqlkit").compute(natives["pqlkit"], model, as_of))
        _log(f"  {model}: {expected[model].summary()}")
        for tool in tools:
            if tool == "pqlkit":
                continue
            impl = _impl(tool)
            out, wall, cpu = timed(impl.compute, natives[tool], model, as_of, **_engine(tool))
            compare(expected[model], impl.results(out), label=f"{LABELS[tool]} ({model}, compute)")
            if tool == "pqlkit-reference":  # slow: its one checked run is its one timed round
                rows[(tool, model)].add(wall, cpu)
        _log(f"  {model}: every implementation agrees with pqlkit")

    rotating = [t for t in tools if t != "pqlkit-reference"]
    for r, order in _rotations(rotating, rounds):
        for model in models:
            for tool in order:
                impl = _impl(tool)
                if hasattr(impl, "reset"):  # no timed round reuses an earlier one's results
                    impl.reset(natives[tool])
                gc.collect()
                _, wall, cpu = timed(impl.compute, natives[tool], model, as_of)
                rows[(tool, model)].add(wall, cpu)
        _log(f"  compute round {r + 1}/{rounds}: " + ", ".join(
            f"{LABELS[t]} {rows[(t, m)].seconds[-1]:.3f}" for m in models for t in rotating))
    del natives
    gc.collect()
    return [row for row in rows.values() if row.seconds], expected


# -- end-to-end, one fresh process per run ---------------------------------------------------


def spawn(tool: str, model: str, ds: Dataset,
          as_of: datetime) -> tuple[float, float, float, Results]:
    """Run one end-to-end job in a fresh Python process.

    Returns its wall-clock and CPU seconds, its peak RSS in MiB and its results.
    """
    with tempfile.TemporaryDirectory(prefix="pqlkit-bench-") as tmp:
        out = Path(tmp) / "result.pickle"
        cmd = [sys.executable, str(HERE / "run.py"), "--worker", tool, "--model", model,
               "--data", str(ds.root), "--as-of", as_of.isoformat(), "--out", str(out)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"{LABELS[tool]} ({model}, e2e) failed with exit code "
                               f"{proc.returncode}:\n{proc.stderr[-4000:]}")
        with out.open("rb") as fh:
            got = pickle.load(fh)
    return got["seconds"], got["cpu"], got["rss_kib"] / 1024, got["results"]


def worker(tool: str, model: str, data: Path, as_of: datetime, out: Path) -> None:
    """The body of one end-to-end run: load and compute, then report time and peak RSS.

    The RSS is read right after the timed part: the process is fresh, so it is the peak of
    the interpreter, the tool's imports, loading and computing, and nothing the benchmark
    does afterwards to compare results.
    """
    impl = _impl(tool)
    ds = Dataset.open(data)
    gc.collect()
    result, seconds, cpu = timed(impl.run, ds, model, as_of, **_engine(tool))
    rss_kib = peak_rss_kib()
    with out.open("wb") as fh:
        pickle.dump({"seconds": seconds, "cpu": cpu, "rss_kib": rss_kib,
                     "results": impl.results(result)}, fh)


def peak_rss_kib() -> int:
    """This process's peak resident set size, in KiB.

    Linux's VmHWM is the high-water mark of the process's own address space. getrusage's
    ru_maxrss is not used: a child started from a large parent inherits the parent's peak
    across fork and exec, so every worker would report at least the parent's size.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS


def _warm_files(ds: Dataset) -> None:
    # Every tool then reads the Parquet files from the page cache, whichever runs first.
    for path in (ds.events, ds.users, ds.accounts):
        with path.open("rb") as fh:
            while fh.read(1 << 24):
                pass


def measure_e2e(ds: Dataset, tools: Sequence[str], models: Sequence[str], rounds: int,
                as_of: datetime, expected: dict[str, Results]) -> list[Row]:
    """Time each tool from the Parquet files to results; check the first round's results."""
    _warm_files(ds)
    rows = {(t, m): Row(t, m, "e2e", ds.n_events) for t in tools for m in models}
    rotating = [t for t in tools if t != "pqlkit-reference"]
    for r, order in _rotations(rotating, rounds):
        for model in models:
            for tool in order:
                seconds, cpu, rss, got = spawn(tool, model, ds, as_of)
                if r == 0:
                    compare(expected[model], got, label=f"{LABELS[tool]} ({model}, e2e)")
                rows[(tool, model)].add(seconds, cpu, rss)
        _log(f"  e2e round {r + 1}/{rounds}: " + ", ".join(
            f"{LABELS[t]} {rows[(t, m)].seconds[-1]:.3f}" for m in models for t in rotating))
    if "pqlkit-reference" in tools:
        for model in models:
            seconds, cpu, rss, got = spawn("pqlkit-reference", model, ds, as_of)
            compare(expected[model], got, label=f"pqlkit reference ({model}, e2e)")
            rows[("pqlkit-reference", model)].add(seconds, cpu, rss)
    return [row for row in rows.values() if row.seconds]


# -- reporting -------------------------------------------------------------------------------


def _rate(n: int, seconds: float) -> str:
    rate = n / seconds
    return f"{rate / 1e6:.1f}M" if rate >= 1e6 else f"{rate / 1e3:.0f}k"


def table(rows: Sequence[Row]) -> str:
    """A markdown table: one line per tool, model and mode."""
    base = {(r.model, r.mode): r.median for r in rows if r.tool == "pqlkit"}
    lines = ["| tool | model | mode | rounds | seconds (median) | min–max | CPU s | events/s "
             "| time ÷ pqlkit columnar | peak RSS MiB |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    key = {t: i for i, t in enumerate(TOOLS)}
    for r in sorted(rows, key=lambda r: (MODES.index(r.mode), MODELS.index(r.model),
                                         key[r.tool])):
        ref = base.get((r.model, r.mode))
        ratio = f"{r.median / ref:.2f}" if ref else "–"
        rss = f"{r.peak_rss:.0f}" if r.peak_rss is not None else "–"
        lines.append(f"| {LABELS[r.tool]} | {r.model} | {r.mode} | {len(r.seconds)} "
                     f"| {r.median:.3f} | {min(r.seconds):.3f}–{max(r.seconds):.3f} "
                     f"| {r.median_cpu:.3f} "
                     f"| {_rate(r.n_events, r.median)} | {ratio} | {rss} |")
    return "\n".join(lines)


def growth(by_scale: dict[int, list[Row]]) -> list[str]:
    """pqlkit columnar's time at each scale over its time at the previous one."""
    scales = sorted(by_scale)
    out = []
    for small, large in pairwise(scales):
        before = {(r.model, r.mode): r.median for r in by_scale[small] if r.tool == "pqlkit"}
        for r in by_scale[large]:
            if r.tool == "pqlkit" and (r.model, r.mode) in before:
                g = r.median / before[(r.model, r.mode)]
                out.append(f"- {r.model}, {r.mode}: {g:.1f}× the time for "
                           f"{large / small:.1f}× the events ({small:,} → {large:,})")
    return out


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def bar(by_scale: dict[int, list[Row]]) -> list[str]:
    """Issue 3's bar, judged on the largest scale of the run (and its growth from 1e6)."""
    n = max(by_scale)
    med = {(r.tool, r.model, r.mode): r for r in by_scale[n]}
    out = [f"Judged at {n:,} events (the bar is set at 10M)."]
    for model in MODELS:
        pq = med.get(("pqlkit", model, "compute"))
        if pq is None:
            continue
        for tool in ("duckdb", "polars"):
            other = med.get((tool, model, "compute"))
            if other:
                ratio = pq.median / other.median
                out.append(f"- {model}, compute, pqlkit ÷ {LABELS[tool]} = {ratio:.2f} "
                           f"(bar < 1.0): {_verdict(ratio < 1.0)}")
        pandas = med.get(("pandas", model, "compute"))
        if pandas:
            speedup = pandas.median / pq.median
            out.append(f"- {model}, compute, pandas ÷ pqlkit = {speedup:.3g}× "
                       f"(bar >= 10×): {_verdict(speedup >= 10)}")
        pe, de = med.get(("pqlkit", model, "e2e")), med.get(("duckdb", model, "e2e"))
        if pe and de:
            ratio = pe.median / de.median
            out.append(f"- {model}, end-to-end, pqlkit ÷ DuckDB = {ratio:.2f} "
                       f"(bar <= 1.0): {_verdict(ratio <= 1.0)}")
        if pe and pe.peak_rss is not None:
            out.append(f"- {model}, end-to-end, pqlkit peak RSS = {pe.peak_rss:.0f} MiB "
                       f"(bar < {RSS_BAR_MIB}): {_verdict(pe.peak_rss < RSS_BAR_MIB)}")
        small = [s for s in by_scale if s * 10 == n]
        if small:
            before = {(r.model, r.mode): r.median for r in by_scale[small[0]]
                      if r.tool == "pqlkit"}
            for mode in MODES:
                cur = med.get(("pqlkit", model, mode))
                if cur and (model, mode) in before:
                    g = cur.median / before[(model, mode)]
                    out.append(f"- {model}, {mode}, growth {small[0]:,} → {n:,} = {g:.1f}× "
                               f"(bar <= {GROWTH_BAR:.0f}×): {_verdict(g <= GROWTH_BAR)}")
    return out


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024**2:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def machine() -> list[str]:
    from importlib.metadata import PackageNotFoundError, version

    libs = []
    for name in ("pqlkit", "numpy", "pyarrow", "pandas", "polars", "duckdb"):
        try:
            libs.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            libs.append(f"{name} (not installed)")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return [
        f"- CPU: {_cpu_model()}, {cores} cores available to the run",
        f"- RAM: {_ram_gib()}",
        f"- OS: {platform.platform()}",
        f"- Python: {platform.python_implementation()} {platform.python_version()}",
        f"- Libraries: {', '.join(libs)}",
        "- Threads: DuckDB and polars use their defaults (every core); pandas runs on one; "
        "pqlkit decodes Parquet on worker threads (up to four) and scores on one",
        *([f"- Load average when the report was written: {load[0]:.2f}, {load[1]:.2f}, "
           f"{load[2]:.2f}"] if load else []),
    ]


def report(by_scale: dict[int, list[Row]], datasets: dict[int, Dataset], args: Any,
           started: datetime, note: str) -> str:
    lines = [
        "# Benchmark results",
        "",
        f"Run on {started:%Y-%m-%d %H:%M} UTC with `{args.command}` "
        f"({args.rounds} timed rounds, as_of {args.as_of.isoformat()}).",
        "",
        *machine(),
        f"- {note}",
        "",
        "Seconds are medians of the timed rounds (wall clock); `CPU s` is the median CPU time "
        "of the process, every thread included. `e2e` runs from the Parquet files to the "
        "user and account results in a fresh process, whose peak RSS is shown. "
        "`time ÷ pqlkit columnar` above 1 means pqlkit is faster. Every implementation was "
        "checked to agree with pqlkit on every user and account before timing.",
    ]
    for n in sorted(by_scale):
        ds = datasets[n]
        lines += ["", f"## {n:,} events", "",
                  f"{ds.n_events:,} events, {ds.n_users:,} users, {ds.n_accounts:,} accounts "
                  f"(seed {ds.seed}).", "", table(by_scale[n])]
    g = growth(by_scale)
    if g:
        lines += ["", "## Growth of pqlkit columnar's time", "", *g]
    lines += ["", "## The bar (issue 3)", "", *bar(by_scale)]
    return "\n".join(lines) + "\n"


# -- command line ----------------------------------------------------------------------------


def _parse_as_of(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"--as-of needs a zone, e.g. {text}Z, got {text!r}")
    return value.astimezone(UTC)


def _parse_list(choices: Sequence[str]) -> Any:
    def parse(text: str) -> list[str]:
        items = [s.strip() for s in text.split(",") if s.strip()]
        bad = [s for s in items if s not in choices]
        if bad or not items:
            raise argparse.ArgumentTypeError(
                f"choose from {', '.join(choices)} (comma-separated), got {text!r}")
        return items
    return parse


def main(argv: Sequence[str] | None = None) -> int:
    from benchmarks.generate import DATA_DIR, parse_scale

    parser = argparse.ArgumentParser(
        description="Time pqlkit against pandas, DuckDB and polars on the trial and "
                    "weighted-families models, with PQA roll-ups.",
        epilog="example: python benchmarks/run.py --scale 1e6,1e7 --rounds 5",
    )
    parser.add_argument("--scale", default="1e6",
                        help="comma-separated event counts, e.g. 1e6,1e7 (default 1e6)")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (default 5)")
    parser.add_argument("--tools", type=_parse_list(TOOLS), default=list(TOOLS),
                        help=f"implementations (default all: {','.join(TOOLS)})")
    parser.add_argument("--models", type=_parse_list(MODELS), default=list(MODELS))
    parser.add_argument("--modes", type=_parse_list(MODES), default=list(MODES))
    parser.add_argument("--reference-max", type=parse_scale, default=1_000_000,
                        help="largest scale the slow reference engine runs on (default 1e6)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--as-of", type=_parse_as_of, default=AS_OF,
                        help=f"the moment scored (default {AS_OF.isoformat()})")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--results", type=Path, default=RESULTS_MD,
                        help="where to write the report (default benchmarks/RESULTS.md)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--worker", choices=TOOLS, help=argparse.SUPPRESS)
    parser.add_argument("--model", choices=MODELS, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.model, args.data, args.as_of, args.out)
        return 0
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    try:
        scales = sorted({parse_scale(s) for s in args.scale.split(",")})
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    tools = [t for t in TOOLS if t in args.tools]
    if "pqlkit" not in tools:
        parser.error("--tools must include pqlkit: every other tool is checked against it")
    args.command = "python benchmarks/run.py " + shlex.join(
        sys.argv[1:] if argv is None else list(argv))
    return bench(args, scales, tools)


def bench(args: Any, scales: list[int], tools: list[str]) -> int:
    from benchmarks.generate import ensure

    started = datetime.now(UTC)
    _log(_impl("pqlkit").describe())
    by_scale: dict[int, list[Row]] = {}
    datasets: dict[int, Dataset] = {}
    for n in scales:
        ds = ensure(n, seed=args.seed, data_dir=args.data_dir)
        datasets[n] = ds
        reference = n <= args.reference_max
        scale_tools = [t for t in tools if t != "pqlkit-reference" or reference]
        _log(f"[{n:,} events] {ds.n_events:,} events, {ds.n_users:,} users, "
             f"{ds.n_accounts:,} accounts")
        rows: list[Row] = []
        # The check round runs in any case: end-to-end results are held to it too.
        compute_rows, expected = measure_compute(
            ds, scale_tools, args.models, args.rounds if "compute" in args.modes else 0,
            args.as_of)
        if "compute" in args.modes:
            rows += compute_rows
        if "e2e" in args.modes:
            rows += measure_e2e(ds, scale_tools, args.models, args.rounds, args.as_of,
                                expected)
        by_scale[n] = rows
        print(f"\n{n:,} events ({ds.n_events:,} in the file)\n\n{table(rows)}", flush=True)
    note = _impl("pqlkit").describe()
    text = report(by_scale, datasets, args, started, note)
    g = growth(by_scale)
    if g:
        print("\nGrowth of pqlkit columnar's time\n" + "\n".join(g))
    print(f"\n{note}\n\nThe bar (issue 3)\n" + "\n".join(bar(by_scale)))
    if not args.no_write:
        args.results.write_text(text)
        _log(f"wrote {args.results}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
