"""The ``pqlkit`` command line (core dependencies only).

``pqlkit demo`` scores the built-in synthetic SaaS data with the trial template and prints
a summary. Errors print as one line (exit 1 for bad input, 2 for usage) unless ``--debug``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import Any, TextIO

from pqlkit import __version__
from pqlkit.errors import PqlkitError

__all__ = ["main"]

_DEMO_HELP = """\
Score the built-in synthetic SaaS data set with a template model and print a summary:
users scored, PQLs, PQAs, the top accounts and the explanation of one top user.

examples:
  pqlkit demo
  pqlkit demo --accounts 2000 --seed 3
  pqlkit demo --template weighted-families --top 5
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pqlkit",
        description="Score Product Qualified Leads and Accounts from product event data.",
        epilog="Run 'pqlkit demo' to see a model score the built-in demo data.",
    )
    parser.add_argument("--version", action="version", version=f"pqlkit {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser(
        "demo", help="score the built-in demo data and print a summary",
        description=_DEMO_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument("--accounts", type=int, default=200, metavar="N",
                      help="how many accounts to generate (default: 200)")
    demo.add_argument("--seed", type=int, default=7, help="random seed (default: 7)")
    demo.add_argument("--template", default="trial",
                      help="template model to score with (default: trial)")
    demo.add_argument("--as-of", default=None, metavar="TIMESTAMP",
                      help="score as of this moment (default: the latest event)")
    demo.add_argument("--top", type=int, default=10, metavar="N",
                      help="how many top accounts to list (default: 10)")
    return parser


def _demo(args: argparse.Namespace, out: TextIO) -> int:
    from pqlkit import datasets, templates
    from pqlkit.eventlog import EventLog
    from pqlkit.results import _text_table

    if args.accounts < 1:
        raise _UsageError("--accounts must be at least 1")
    started = time.perf_counter()
    data = datasets.synthetic_saas(n_accounts=args.accounts, seed=args.seed)
    events, users, accounts = data.records()
    log = EventLog.from_records(events, users=users, accounts=accounts)
    model = templates.get(args.template)
    result = model.score(log, as_of=args.as_of)
    elapsed = time.perf_counter() - started

    counts = log.report.counts
    print(f"pqlkit {__version__} demo: model {model.name!r}, as of "
          f"{result.as_of.isoformat().replace('+00:00', 'Z')}", file=out)
    print(f"loaded {counts['kept']} rows ({len(log)} events, {len(log.user_ids)} users, "
          f"{len(log.account_ids)} accounts); {counts['duplicates']} duplicates, "
          f"{counts['rejected']} rejected", file=out)
    summary = result.summary()
    if model.level == "user":
        print(f"users scored: {summary['users']}   PQLs: {summary['pqls']}   "
              f"PQAs: {summary['pqas']} of {summary['accounts']} accounts", file=out)
    else:
        print(f"accounts scored: {summary['accounts']}   PQAs: {summary['pqas']}", file=out)
    print(f"(scored in {elapsed:.1f} s)\n", file=out)

    top = result.accounts.sort_by("score", descending=True).head(args.top)
    cols = [c for c in ("account_id", "score", "n_users", "n_pql", "share_pql", "is_pqa")
            if c in top.columns]
    rows = [[r[c] if c != "share_pql" else f"{r[c]:.0%}" for c in cols] for r in top]
    print(f"top {len(rows)} accounts:", file=out)
    print(_text_table(cols, rows), file=out)

    if model.level == "user" and len(result.users):
        best = _top_user(result)
        print(f"\nwhy {best!r} scored what it did:", file=out)
        print(result.explain(best, level="user"), file=out)
    return 0


def _top_user(result: Any) -> Any:
    eligible = result.users.filter(lambda r: not r["disqualified"])
    ranked = (eligible if len(eligible) else result.users).sort_by("score", descending=True)
    return next(iter(ranked))["user_id"]


class _UsageError(Exception):
    pass


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 1 bad input, 2 usage)."""
    out = out or sys.stdout
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    if args.command is None:
        parser.print_help(out)
        return 2
    try:
        return _demo(args, out)
    except _UsageError as exc:
        parser.print_usage(sys.stderr)
        print(f"pqlkit: error: {exc}", file=sys.stderr)
        return 2
    except (PqlkitError, OSError, ValueError) as exc:
        if args.debug:
            raise
        print(f"pqlkit: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("pqlkit: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
