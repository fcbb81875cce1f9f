"""The ``pqlkit`` command line: score, explain, validate, schema and demo.

It is a thin layer over the library — model files through :func:`pqlkit.load_model`,
event files through :mod:`pqlkit.io` — so a file scores from the shell exactly as it does
from Python. Exit codes: 0 success, 1 bad input, 2 usage. Errors print as one line on
stderr unless ``--debug``; progress goes to stderr only when it is a terminal.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Final, TextIO

from pqlkit import __version__
from pqlkit.engine import ENGINES
from pqlkit.errors import PqlkitError, PqlkitTypeError
from pqlkit.results import _text_table, json_safe, share_percent

__all__ = ["main"]

_EXAMPLES = {
    "score": """\
examples:
  pqlkit score examples/models/trial.toml events.jsonl.gz --users users.csv
  pqlkit score model.toml events.csv --as-of 2026-06-01T00:00:00Z --top 20
  pqlkit score model.toml events.parquet --users-out users.parquet --accounts-out acc.csv
  pqlkit score model.toml events.csv --timestamp-col ts --epoch-unit s --user-col uid
""",
    "explain": """\
examples:
  pqlkit explain examples/models/trial.toml events.jsonl u_42 --users users.csv
  pqlkit explain model.toml events.jsonl acme --level account
""",
    "validate": """\
Report every problem in the model files at once, each with its path (rules[2].points).
Exit 0 when all are valid, 1 when any is not.

examples:
  pqlkit validate examples/models/*.toml
""",
    "schema": """\
Print the JSON Schema of model files (for editors: add "#:schema <file>" to a TOML file
or "$schema" to a JSON one).

examples:
  pqlkit schema > pqlkit-model.schema.json
""",
    "demo": """\
Score the built-in synthetic SaaS data set with a template model and print a summary:
users scored, PQLs, PQAs, the top accounts and the explanation of one top user.

examples:
  pqlkit demo
  pqlkit demo --accounts 2000 --seed 3
  pqlkit demo --template weighted-families --top 5
""",
}

#: The most accounts ``pqlkit demo`` generates: synthetic_saas makes about 180 events per
#: account, so this is about 1.8 million events, scored in under a minute in a few GB.
#: (At 10 times that the demo's records alone outgrow most laptops' memory.)
_DEMO_MAX_ACCOUNTS: Final = 10_000

_EVENT_FORMATS = ("jsonl", "csv", "parquet")
_OUTPUT_FORMATS = ("csv", "jsonl", "parquet")


class _UsageError(Exception):
    """A command line that cannot run as written (exit 2)."""


class _BadInput(Exception):
    """Input that cannot be used, found by the command line itself (exit 1)."""


# -- the parser ---------------------------------------------------------------------------

def _positive(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _zone(text: str) -> str:
    """An argparse type: a time zone name pqlkit knows (checked before any row is read)."""
    from pqlkit._time import _zone as zone_of
    from pqlkit.errors import ValidationError

    try:
        zone_of(text)
    except ValidationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _moment(text: str) -> str:
    """An argparse type: a moment with its zone, for --as-of (checked before any row is
    read; the library's message would name its own as_of= and tz=)."""
    from pqlkit._time import to_utc
    from pqlkit.errors import ValidationError

    try:
        to_utc(text, what="--as-of", loaded=False)
    except ValidationError as exc:
        message = str(exc)
        if "no time zone" in message:
            message = (f"--as-of {text!r} has no time zone; write it with 'Z' or an offset, "
                       "e.g. 2026-06-01T00:00:00Z")
        raise argparse.ArgumentTypeError(message) from None
    return text


def _sub(sub: Any, name: str, help: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        name, help=help, description=help[0].upper() + help[1:] + ".",
        epilog=_EXAMPLES[name], formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


def _data_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="model file (.toml, .json, .yaml)")
    p.add_argument("events", metavar="EVENTS",
                   help="events file: JSON lines (.jsonl, .ndjson, gzip allowed), CSV "
                        "(.csv, gzip allowed) or Parquet (.parquet, or a directory of "
                        "them; needs pqlkit[arrow])")
    p.add_argument("--users", metavar="FILE",
                   help="users table (CSV or JSON lines): user_id, account_id, created_at; "
                        "other columns are traits")
    p.add_argument("--accounts", metavar="FILE",
                   help="accounts table (CSV or JSON lines): account_id, created_at; other "
                        "columns are traits")
    p.add_argument("--as-of", metavar="TIMESTAMP", type=_moment,
                   help="score as of this moment, e.g. 2026-06-01T00:00:00Z "
                        "(default: the latest event)")
    p.add_argument("--engine", default=None, choices=ENGINES,
                   help="engine to score with (default: the library default, columnar)")
    g = p.add_argument_group("reading the events file")
    g.add_argument("--input-format", choices=_EVENT_FORMATS,
                   help="format of EVENTS when its name does not say")
    g.add_argument("--name-col", default="name", metavar="COL",
                   help="column of the event name (default: name)")
    g.add_argument("--timestamp-col", default="timestamp", metavar="COL",
                   help="column of the timestamp (default: timestamp)")
    g.add_argument("--user-col", default="user_id", metavar="COL",
                   help="column of the user id (default: user_id)")
    # None: the reader's own default, the column of that name when the file has one.
    g.add_argument("--account-col", default=None, metavar="COL",
                   help="column of the account id (default: account_id, when there is one)")
    g.add_argument("--event-id-col", default=None, metavar="COL",
                   help="column of the event id used to drop duplicates (default: event_id, "
                        "when there is one)")
    g.add_argument("--timestamp-format", metavar="FMT",
                   help="strptime format of text timestamps (default: ISO 8601)")
    g.add_argument("--epoch-unit", choices=("s", "ms", "us", "ns"),
                   help="read numeric timestamps as epoch values in this unit")
    g.add_argument("--tz", type=_zone, metavar="ZONE",
                   help="zone of timestamps written without one (e.g. UTC, Europe/Paris)")
    g.add_argument("--strict", action="store_true",
                   help="stop at the first rejected row instead of reporting it")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pqlkit",
        description="Score Product Qualified Leads and Accounts from product event data.",
        epilog="Run 'pqlkit demo' to see a model score the built-in demo data, and "
               "'pqlkit COMMAND --help' for a command's options and examples.",
    )
    parser.add_argument("--version", action="version", version=f"pqlkit {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    score = _sub(sub, "score", "score the users and accounts of an events file with a model")
    _data_options(score)
    out = score.add_argument_group("output (default: readable tables on stdout)")
    out.add_argument("--users-out", metavar="FILE",
                     help="write the user results here (.csv, .jsonl or .parquet)")
    out.add_argument("--accounts-out", metavar="FILE",
                     help="write the account results here (.csv, .jsonl or .parquet)")
    out.add_argument("--output-format", choices=_OUTPUT_FORMATS,
                     help="format of the output files when their names do not say")
    out.add_argument("--top", type=_positive, default=None, metavar="N",
                     help="on stdout, show only the N best-scored rows of each table")

    explain = _sub(sub, "explain", "explain the score of one user or account")
    _data_options(explain)
    explain.add_argument("entity", metavar="ENTITY_ID", help="the user (or account) id")
    explain.add_argument("--level", choices=("user", "account"), default=None,
                         help="whether ENTITY_ID is a user or an account (default: the "
                              "model's level)")

    validate = _sub(sub, "validate", "check model files and report every problem")
    validate.add_argument("models", nargs="+", metavar="MODEL", help="model files")

    _sub(sub, "schema", "print the JSON Schema of model files")

    demo = _sub(sub, "demo", "score the built-in demo data and print a summary")
    demo.add_argument("--accounts", type=int, default=200, metavar="N",
                      help="how many accounts to generate, at most "
                           f"{_DEMO_MAX_ACCOUNTS:,} (default: 200)")
    demo.add_argument("--seed", type=int, default=7, help="random seed (default: 7)")
    demo.add_argument("--template", default="trial",
                      help="template model to score with (default: trial)")
    demo.add_argument("--as-of", default=None, metavar="TIMESTAMP", type=_moment,
                      help="score as of this moment (default: the latest event)")
    demo.add_argument("--top", type=_positive, default=10, metavar="N",
                      help="how many top accounts to list (default: 10)")
    return parser


# -- progress -----------------------------------------------------------------------------

class _Progress:
    """Stage lines on stderr with their timings, only when stderr is a terminal."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def step(self, label: str, work: Callable[[], Any], done: Callable[[Any], str]
             ) -> Any:
        if not self.enabled:
            return work()
        print(f"pqlkit: {label} ...", end="", file=sys.stderr, flush=True)
        started = time.perf_counter()
        value = work()
        print(f" {done(value)} ({time.perf_counter() - started:.1f} s)", file=sys.stderr,
              flush=True)
        return value


# -- reading ------------------------------------------------------------------------------

def _suffixes(path: str) -> list[str]:
    parts = [s.lower() for s in Path(path).suffixes]
    return parts[:-1] if parts and parts[-1] == ".gz" else parts


def _event_format(path: str, given: str | None) -> str:
    if given:
        return given
    if os.path.isdir(path):
        return "parquet"  # a directory of Parquet files (Hive partitions included)
    ext = _suffixes(path)[-1:] or [""]
    fmt = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv",
           ".tsv": "csv", ".parquet": "parquet", ".pq": "parquet"}.get(ext[0])
    if fmt is None:
        raise _UsageError(
            f"cannot tell the format of {path!r} from its name; name it .jsonl, .csv or "
            ".parquet (optionally .gz), or pass --input-format"
        )
    return fmt


def _cell(text: str) -> Any:
    # CSV has no types: a cell that reads as a number is one (pqlkit.io's rule), an empty
    # cell is absent.
    from pqlkit.io._convert import number

    if text == "":
        return None
    value = number(text)
    return text if value is None else value


def _entity_rows(path: str, id_field: str, fields: tuple[str, ...]) -> Iterator[Any]:
    """Rows of a users/accounts file as dicts: known fields, the other columns as traits."""
    try:
        fmt = _event_format(path, None)
    except _UsageError:
        raise _UsageError(f"cannot tell the format of {path!r} from its name; name the users "
                          "and accounts files .csv or .jsonl (optionally .gz)") from None
    if fmt == "parquet":
        raise _UsageError(f"{path}: give the users and accounts tables as CSV or JSON lines")
    from pqlkit.io._source import open_binary
    from pqlkit.io.files import _cells_of_any_size

    with ExitStack() as stack:
        stack.enter_context(_cells_of_any_size())  # (a long trait cell is one cell)
        # Gzip is told from the content, as pqlkit.io's readers tell it.
        # (utf-8-sig: a byte order mark, as Excel writes, is not part of the first name.)
        stream = io.TextIOWrapper(open_binary(path, stack), encoding="utf-8-sig", newline="")
        if fmt == "jsonl":
            for number, line in enumerate(stream, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise _BadInput(f"{path}:{number}: not valid JSON ({exc.msg})") from None
                # A row of fields and traits side by side (a "traits" key holding a
                # mapping is a record's own field; any other "traits" is a trait, as in CSV).
                if isinstance(row, dict) and not isinstance(row.get("traits"), dict):
                    traits = {k: v for k, v in row.items() if k not in fields}
                    row = {k: v for k, v in row.items() if k in fields}
                    if traits:
                        row["traits"] = traits
                yield row
            return
        reader = csv.DictReader(stream, delimiter="\t" if ".tsv" in _suffixes(path) else ",")
        if reader.fieldnames is None or id_field not in reader.fieldnames:
            raise _BadInput(f"{path}: the header must name a {id_field!r} column, got "
                            f"{reader.fieldnames}")
        from pqlkit._arrow import unique_columns

        unique_columns([c for c in reader.fieldnames if c], path)  # (a dict row keeps the
        # last of two cells of one name: the other would be lost)
        for record in reader:
            if None in record or None in record.values():  # cells beyond or short of the header
                header = len(reader.fieldnames)
                raise _BadInput(
                    f"{path}:{reader.line_num}: the row has "
                    f"{'more' if None in record else 'fewer'} cells than the header's "
                    f"{header} (an unquoted comma?)")
            row = {k: (v if k in (id_field, "account_id") else _cell(v))
                   for k, v in record.items() if k in fields and v not in ("", None)}
            traits = {k: _cell(v) for k, v in record.items()
                      if k not in fields and k is not None and v not in ("", None)}
            if traits:
                row["traits"] = traits
            yield row


def _entity_table(path: str, option: str, id_field: str, fields: tuple[str, ...]
                  ) -> list[Any]:
    """The rows of the ``--users``/``--accounts`` file, with text that is not UTF-8 named by
    its file, option and line (the decoder's own message names none of them)."""
    try:
        return list(_entity_rows(path, id_field, fields))
    except UnicodeDecodeError as exc:
        found = _undecodable(path)
        line, column, bad = found if found else (None, exc.start + 1, exc)
        byte = bad.object[bad.start:bad.start + 1].hex()
        where = f"{path}:{line}" if line else path
        at = f" at column {column}" if line else ""
        raise _BadInput(
            f"{where}: the {option} file is not UTF-8 text (byte 0x{byte}{at}: "
            f"{bad.reason}); it must be UTF-8: re-save it as UTF-8 (in Excel, 'CSV UTF-8')"
        ) from None


def _undecodable(path: str) -> tuple[int, int, UnicodeDecodeError] | None:
    """The 1-based line and column of the first bytes of a file that are not UTF-8, and
    the error there. (The decoder reads ahead in blocks, so its position names no line; a
    UTF-8 character never spans a newline, so each line decodes on its own.)"""
    from pqlkit.io._source import open_binary

    with ExitStack() as stack:
        for number, raw in enumerate(open_binary(path, stack), start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                return number, exc.start + 1, exc
    return None


#: The reader keywords the score and explain commands set, and the flags that set them.
_FLAGS: Final = {"name": "--name-col", "timestamp": "--timestamp-col", "user_id": "--user-col",
                 "account_id": "--account-col", "event_id": "--event-id-col",
                 "timestamp_format": "--timestamp-format", "epoch_unit": "--epoch-unit",
                 "tz": "--tz"}
#: When every event is rejected for one of these reasons, a column is likely misnamed or
#: read without the option it needs.
_COLUMN_HINTS: Final = {
    "missing_name": "is the event name under another key? pass --name-col KEY",
    "missing_timestamp": "is the timestamp under another key? pass --timestamp-col KEY",
    "missing_identity": "are the ids under other keys? pass --user-col KEY (or --account-col)",
    "naive_timestamp": "the timestamps have no time zone: pass --tz ZONE (e.g. --tz UTC)",
    "invalid_timestamp": ("the timestamps do not read as ISO 8601: pass --epoch-unit s (or "
                          "ms, us, ns) for epoch numbers, --timestamp-format FMT for another "
                          "text format"),
}


def _load(args: argparse.Namespace, progress: _Progress) -> Any:
    import pqlkit as pk
    from pqlkit import io as pio
    from pqlkit.errors import ValidationError
    from pqlkit.modelfile import FORMATS

    if Path(args.model).suffix.lower() not in FORMATS:  # (a usage error, as for EVENTS)
        raise _UsageError(f"cannot tell the format of the model file {args.model!r} from "
                          "its name; name it .toml, .json, .yaml or .yml")
    model = progress.step(f"reading model {args.model}", lambda: pk.load_model(args.model),
                          lambda m: repr(m.name))
    users = (_entity_table(args.users, "--users", "user_id",
                           ("user_id", "account_id", "created_at"))
             if args.users else None)
    accounts = (_entity_table(args.accounts, "--accounts", "account_id",
                              ("account_id", "created_at"))
                if args.accounts else None)
    fmt = _event_format(args.events, args.input_format)
    common: dict[str, Any] = {
        "name": args.name_col, "timestamp": args.timestamp_col, "user_id": args.user_col,
        "tz": args.tz, "epoch_unit": args.epoch_unit, "users": users, "accounts": accounts,
        "strict": args.strict,
    }
    for field, column in (("account_id", args.account_col), ("event_id", args.event_id_col)):
        if column is not None:
            common[field] = column
    if fmt == "parquet":
        if args.timestamp_format:
            raise _UsageError("--timestamp-format applies to text files, not Parquet")
        reader: Callable[..., Any] = pio.read_parquet
    else:
        common["timestamp_format"] = args.timestamp_format
        reader = pio.read_jsonl if fmt == "jsonl" else pio.read_csv
        if fmt == "csv" and ".tsv" in _suffixes(args.events):
            common["delimiter"] = "\t"
    try:
        log = progress.step(f"reading events {args.events}",
                            lambda: reader(args.events, **common),
                            lambda lg: f"{len(lg):,} events")
    except (ValidationError, PqlkitTypeError) as exc:
        # The readers name their keywords ("no column 'evt' for name=", "pass tz='UTC'"):
        # here, the flags ("--name-col", "pass --tz 'UTC'").
        def flag(m: re.Match[str]) -> str:
            found = _FLAGS.get(m[1])
            return m[0] if found is None else found + (" " if m[2] else "") + m[2]

        message = re.sub(r"\b(\w+)=(['\"]?)(?=[\w'\"\s;,.)]|$)", flag, str(exc))
        if message == str(exc):
            raise
        # (Not type(exc)(message): a subclass, RejectedRowError, takes more arguments.)
        kind = PqlkitTypeError if isinstance(exc, PqlkitTypeError) else ValidationError
        raise kind(message) from exc
    counts = log.report.counts
    if counts.get("rejected") or counts.get("duplicates"):
        print(f"pqlkit: {args.events}: {log.report.summary()}", file=sys.stderr)
    _same_ids_as_text(log)
    reasons = log.report.by_reason()
    if not len(log) and len(reasons) == 1 and next(iter(reasons)) in _COLUMN_HINTS:
        # Every row lacks the same field: the file names it otherwise (JSON lines may
        # leave out any key, so the reader cannot tell a wrong key from a missing value).
        raise _BadInput(f"every event of {args.events} was rejected as {next(iter(reasons))}: "
                        f"{_COLUMN_HINTS[next(iter(reasons))]}")
    if not len(log) and args.as_of is None:
        raise _BadInput(f"{args.events} holds no events to take the moment to score from; "
                        "pass --as-of")
    kw: dict[str, Any] = {"as_of": args.as_of}
    if args.engine:
        kw["engine"] = args.engine
    result = progress.step("scoring", lambda: model.score(log, **kw),
                           lambda r: f"{len(r.users):,} users, {len(r.accounts):,} accounts")
    return model, log, result


# -- writing ------------------------------------------------------------------------------

def _plain(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _output_format(path: str, given: str | None) -> str:
    ext = (_suffixes(path)[-1:] or [""])[0]
    fmt = given or {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl",
                    ".parquet": "parquet", ".pq": "parquet"}.get(ext)
    if fmt is None:
        raise _UsageError(f"cannot tell the format of {path!r} from its name; name it .csv, "
                          ".jsonl or .parquet, or pass --output-format")
    return fmt


def _in_place(path: str) -> bool:
    """Whether an output is written through the path as it is, not beside it and moved
    into place: a link (``/dev/stdout``: moving a file there would replace the link, not
    fill what it points to), a device, a pipe."""
    return os.path.islink(path) or (os.path.exists(path) and not os.path.isfile(path))


def _write(table: Any, path: str, given: str | None) -> None:
    fmt = _output_format(path, given)
    gz = path.endswith(".gz")
    if _in_place(path):
        _write_as(table, path, fmt, gz=gz, in_place=True)
        return
    # Written beside it, then moved into place: a failure half-way (a full disk, Ctrl-C)
    # leaves no truncated file that looks like a result.
    head, name = os.path.split(path)
    part = os.path.join(head, f".{name}.{os.getpid()}.part")
    try:
        _write_as(table, part, fmt, gz=gz)
        os.replace(part, path)
    except BaseException:
        if os.path.exists(part):
            os.unlink(part)
        raise


def _write_as(table: Any, path: str, fmt: str, *, gz: bool, in_place: bool = False) -> None:
    if fmt == "parquet":
        from pqlkit._optional import require

        pa = require("pyarrow", "arrow", "writing Parquet results")
        pq = require("pyarrow.parquet", "arrow", "writing Parquet results")
        if not in_place:
            pq.write_table(table.to_arrow(), path)
            return
        # Through a link: made in memory first (pyarrow removes the path it failed to
        # write, which would be the link itself).
        sink = pa.BufferOutputStream()
        pq.write_table(table.to_arrow(), sink)
        with open(path, "wb") as stream:
            stream.write(sink.getvalue().to_pybytes())
        return
    opener = gzip.open if gz else open
    with opener(path, "wt", encoding="utf-8", newline="") as stream:
        if fmt == "jsonl":
            for row in table:
                # (JSON has no NaN or Infinity: a nan or infinite score is null.)
                stream.write(json.dumps(json_safe({k: _plain(v) for k, v in row.items()}))
                             + "\n")
        else:
            writer = csv.writer(stream)
            writer.writerow(table.columns)
            for row in table:
                writer.writerow(["" if row[c] is None else _plain(row[c])
                                 for c in table.columns])


def _show(title: str, table: Any, top: int | None, out: TextIO) -> None:
    shown = table.sort_by("score", descending=True).head(top) if top else table
    more = f" (top {len(shown)} of {len(table)})" if top and len(table) > len(shown) else ""
    print(f"{title}: {len(table)} rows{more}", file=out)
    rows = [[share_percent(v) if c == "share_pql" else v for c, v in row.items()]
            for row in shown]
    print(_text_table(shown.columns, rows), file=out)


def _same_ids_as_text(log: Any) -> None:
    """Files of different formats can spell one id as a number (JSON) and as text (CSV):
    pqlkit keeps 1 and "1" apart, so the entity would be split in two, silently."""
    for kind, ids in (("user", log.user_ids), ("account", log.account_ids)):
        numbers = {str(i) for i in ids if isinstance(i, int)}
        both = sorted(i for i in ids if isinstance(i, str) and i in numbers)
        if both:
            raise _BadInput(
                f"{kind} id {both[0]!r} appears both as a number and as text (a CSV file "
                "reads ids as text, JSON keeps numbers): give the files ids of one kind, "
                f"e.g. quote them in the JSON file ({len(both)} such id(s))")


# -- commands -----------------------------------------------------------------------------

def _same_file(a: str, b: str) -> bool:
    """Whether two paths name one file: resolved alike (``./x``, a symlink), or, when both
    exist, the same file on disk (a hard link, a case-insensitive file system)."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _check_outputs(args: argparse.Namespace) -> None:
    """Refuse, before anything is read, outputs that would overwrite each other or an
    input: the last table written would silently replace the other, or the data."""
    outputs = [(f"--{name.replace('_', '-')}", path)
               for name in ("users_out", "accounts_out") if (path := getattr(args, name))]
    inputs = [(what, path) for what, path in (("the model file MODEL", args.model),
                                              ("the events file EVENTS", args.events),
                                              ("the users file --users", args.users),
                                              ("the accounts file --accounts", args.accounts))
              if path]
    for k, (option, path) in enumerate(outputs):
        for what, given in inputs:
            if _same_file(path, given):
                raise _UsageError(
                    f"{option} {path!r} is {what}: writing the results there would "
                    "overwrite it; give the output another file name")
        for other, other_path in outputs[k + 1:]:
            if _same_file(path, other_path):
                raise _UsageError(
                    f"{option} and {other} both name {path!r}: the account results would "
                    "replace the user results; give each its own file")
    # And each can be written, so that none is left written beside one that fails.
    for option, path in outputs:
        fmt = _output_format(path, args.output_format)  # (a name that says no format)
        head = os.path.dirname(path)
        if head and not os.path.isdir(head):
            raise _UsageError(f"{option} {path!r}: there is no directory {head!r}; create it "
                              "or write the results elsewhere")
        if fmt == "parquet" and _in_place(path) and not os.path.isfile(os.path.realpath(path)):
            raise _UsageError(f"{option} {path!r} is not a file (a pipe or a terminal?): "
                              "Parquet needs a file it can seek in; write CSV or JSON lines "
                              "there, or name a .parquet file")
        events = args.events
        if events and os.path.isdir(events) and os.path.realpath(path).startswith(
                os.path.join(os.path.realpath(events), "")):
            raise _UsageError(
                f"{option} {path!r} is inside the events directory {events!r}: the next "
                "run would read it as events; write the results elsewhere")


def _score(args: argparse.Namespace, out: TextIO, progress: _Progress) -> int:
    _check_outputs(args)
    model, _log, result = _load(args, progress)
    wrote = False
    if args.users_out:
        _write(result.users, args.users_out, args.output_format)
        wrote = True
    if args.accounts_out:
        _write(result.accounts, args.accounts_out, args.output_format)
        wrote = True
    summary = result.summary()
    as_of = result.as_of.isoformat().replace("+00:00", "Z")
    users = (f"{summary['users']} users, {summary['pqls']} PQLs; "
             if model.level == "user" else "")  # (an account-level model scores accounts)
    head = (f"model {model.name!r} as of {as_of}: {users}{summary['accounts']} accounts, "
            f"{summary['pqas']} PQAs")
    if wrote:
        print(head, file=sys.stderr)
        return 0
    print(head, file=out)
    if model.level == "user":
        _show("\nusers", result.users, args.top, out)
    _show("\naccounts", result.accounts, args.top, out)
    return 0


def _explain(args: argparse.Namespace, out: TextIO, progress: _Progress) -> int:
    model, _log, result = _load(args, progress)
    level = args.level or model.level
    if level == "user" and model.level == "account":
        raise _BadInput(f"model {model.name!r} is account-level: it scores accounts, not "
                        "users; explain an account id (--level account)")
    table = result.users if level == "user" else result.accounts
    entity: Any = args.entity
    if entity not in table and re.fullmatch(r"-?[0-9]+", args.entity) and int(entity) in table:
        entity = int(args.entity)   # ids may be integers in the data
    if entity not in table:
        raise _BadInput(f"no {level} {args.entity!r} in the results as of "
                        f"{result.as_of.isoformat()} (it may not exist yet, or have no events)")
    print(result.explain(entity, level=level), file=out)
    return 0


def _validate(args: argparse.Namespace, out: TextIO) -> int:
    import pqlkit as pk

    bad = 0
    for path in args.models:
        problems = pk.validate_model(path)
        if not problems:
            print(f"{path}: ok", file=out)
            continue
        bad += 1
        print(f"{path}: {len(problems)} problem{'s' if len(problems) != 1 else ''}", file=out)
        for problem in problems:
            # (A file that does not parse: the place in the file. A problem in an
            # expression says its column in the expression itself, in its message.)
            where = (f" (line {problem.line}, column {problem.column})"
                     if problem.line and not problem.path else "")
            print(f"  {problem}{where}", file=out)
    return 1 if bad else 0


def _schema(out: TextIO) -> int:
    from pqlkit.modelfile import json_schema

    print(json.dumps(json_schema(), indent=2), file=out)
    return 0


def _demo(args: argparse.Namespace, out: TextIO) -> int:
    from pqlkit import datasets, templates
    from pqlkit.eventlog import EventLog

    if args.accounts < 1:
        raise _UsageError("--accounts must be at least 1")
    if args.seed < 0:
        raise _UsageError("--seed must be at least 0")
    if args.accounts > _DEMO_MAX_ACCOUNTS:
        raise _UsageError(
            f"--accounts must be at most {_DEMO_MAX_ACCOUNTS:,} (about 180 events each), got "
            f"{args.accounts:,}; for larger data sets call pqlkit.datasets.synthetic_saas "
            "from Python")
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
    rows = [[r[c] if c != "share_pql" else share_percent(r[c]) for c in cols] for r in top]
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


def _run(args: argparse.Namespace, out: TextIO) -> int:
    progress = _Progress(sys.stderr.isatty())
    if args.command == "score":
        return _score(args, out, progress)
    if args.command == "explain":
        return _explain(args, out, progress)
    if args.command == "validate":
        return _validate(args, out)
    if args.command == "schema":
        return _schema(out)
    return _demo(args, out)


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
        return _run(args, out)
    except BrokenPipeError:
        # The reader went away (`pqlkit score ... | head`): not an error of ours.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except _UsageError as exc:
        parser.print_usage(sys.stderr)
        print(f"pqlkit: error: {exc}", file=sys.stderr)
        return 2
    except (PqlkitError, _BadInput, OSError, UnicodeError, csv.Error) as exc:
        if args.debug:
            raise
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"pqlkit: error: {message}", file=sys.stderr)
        return 1
    except MemoryError:
        if args.debug:
            raise
        hint = ("pass a smaller --accounts" if args.command == "demo" else
                "score a smaller events file (e.g. a shorter period), or use a machine with "
                "more memory")
        print(f"pqlkit: error: out of memory running '{args.command}': {hint}",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("pqlkit: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
