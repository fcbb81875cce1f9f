"""The ``pqlkit`` command line, driven as a user would."""

from __future__ import annotations

import csv
import gzip
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pqlkit.cli import main


def _run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


def test_demo_prints_the_summary_the_top_accounts_and_one_explanation() -> None:
    code, text = _run("demo", "--accounts", "30", "--seed", "3", "--top", "4")
    assert code == 0
    assert "model 'trial-pql'" in text
    assert "users scored:" in text and "PQLs:" in text and "PQAs:" in text
    assert "top 4 accounts:" in text
    assert "scored what it did" in text and "threshold 60" in text


def test_demo_is_deterministic_for_a_seed() -> None:
    first = _run("demo", "--accounts", "20", "--seed", "5")[1]
    second = _run("demo", "--accounts", "20", "--seed", "5")[1]
    # Everything but the elapsed time is the same.
    assert [ln for ln in first.splitlines() if "scored in" not in ln] == [
        ln for ln in second.splitlines() if "scored in" not in ln]


def test_demo_with_an_account_level_template() -> None:
    code, text = _run("demo", "--accounts", "20", "--template", "team-query-milestone")
    assert code == 0
    assert "accounts scored:" in text and "why" not in text


def test_unknown_template_is_one_line_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = _run("demo", "--accounts", "5", "--template", "nope")
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("pqlkit: error:") and "nope" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run("demo", "--accounts", "0")[0] == 2
    assert "--accounts must be at least 1" in capsys.readouterr().err
    assert _run("demo", "--no-such-flag")[0] == 2
    assert _run()[0] == 2


def test_debug_shows_the_traceback() -> None:
    with pytest.raises(Exception, match="nope"):
        main(["--debug", "demo", "--accounts", "5", "--template", "nope"], out=io.StringIO())


def test_console_script_runs_from_a_shell() -> None:
    exe = shutil.which("pqlkit")
    cmd = [exe] if exe else [sys.executable, "-m", "pqlkit.cli"]
    done = subprocess.run([*cmd, "demo", "--accounts", "10"], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "PQLs:" in done.stdout


# -- score, explain, validate, schema on files --------------------------------------------

TRIAL = "examples/models/trial.toml"


@pytest.fixture
def files(tmp_path: Any) -> dict[str, str]:
    """A small events file (JSON lines, gzipped), a users CSV and an accounts JSONL."""
    events = [
        {"name": "project_created", "timestamp": "2026-05-20T10:00:00Z", "user_id": "u1",
         "account_id": "acme"},
        {"name": "teammate_invited", "timestamp": "2026-05-21T10:00:00Z", "user_id": "u1"},
        {"name": "pricing_page_viewed", "timestamp": "2026-05-30T10:00:00Z",
         "user_id": "u1", "event_id": "e1"},
        {"name": "pricing_page_viewed", "timestamp": "2026-05-30T10:00:00Z",
         "user_id": "u1", "event_id": "e1"},
        {"name": "project_created", "timestamp": "2026-05-25T10:00:00Z", "user_id": "u2"},
        {"name": "project_created", "timestamp": "not a time", "user_id": "u3"},
    ]
    ev = tmp_path / "events.jsonl.gz"
    with gzip.open(ev, "wt", encoding="utf-8") as f:
        f.writelines(json.dumps(e) + "\n" for e in events)
    users = tmp_path / "users.csv"
    users.write_text("user_id,account_id,email,employees\nu1,acme,ann@acme.com,50\n"
                     "u2,acme,bob@school.edu,\n", encoding="utf-8")
    accounts = tmp_path / "accounts.jsonl"
    accounts.write_text(json.dumps({"account_id": "acme", "plan": "free"}) + "\n",
                        encoding="utf-8")
    return {"events": str(ev), "users": str(users), "accounts": str(accounts),
            "dir": str(tmp_path)}


def test_score_prints_tables_and_reports_rejected_rows(
        files: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    code, text = _run("score", TRIAL, files["events"], "--users", files["users"],
                      "--accounts", files["accounts"], "--as-of", "2026-06-01T00:00:00Z")
    err = capsys.readouterr().err
    assert code == 0, err
    assert "2 users, 1 PQLs; 1 accounts, 1 PQAs" in text
    assert "u1" in text and "acme" in text
    # The bad timestamp and the duplicate are reported on stderr, not lost.
    assert "1 rejected" in err or "rejected: 1" in err
    assert "duplicate" in err


def test_score_writes_csv_jsonl_and_parquet(files: dict[str, str]) -> None:
    out = files["dir"]
    code, _ = _run("score", TRIAL, files["events"], "--users", files["users"],
                   "--as-of", "2026-06-01T00:00:00Z", "--users-out", f"{out}/scored.csv",
                   "--accounts-out", f"{out}/accounts.jsonl")
    assert code == 0
    # (Not users.csv: that is the --users input, which the command refuses to overwrite.)
    with open(f"{out}/scored.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    by_id = {r["user_id"]: r for r in rows}
    # u1: 40 + 20 + 15 + 10 = 85; u2 is a student (.edu): disqualified, keeps its 40 + 10.
    assert by_id["u1"]["score"] == "85" and by_id["u1"]["is_pql"] == "True"
    assert by_id["u2"]["disqualified"] == "True" and by_id["u2"]["tier"] == "disqualified"
    with open(f"{out}/accounts.jsonl", encoding="utf-8") as f:
        accounts = [json.loads(line) for line in f]
    assert accounts == [{"account_id": "acme", "score": 85, "n_users": 2, "n_pql": 1,
                         "share_pql": 0.5, "is_pqa": True}]
    pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    assert _run("score", TRIAL, files["events"], "--users", files["users"],
                "--users-out", f"{out}/users.parquet")[0] == 0
    assert sorted(pq.read_table(f"{out}/users.parquet").column("user_id").to_pylist()) == [
        "u1", "u2"]


def test_score_reads_a_directory_of_parquet_files(tmp_path: Any) -> None:
    # (And Parquet without the optional account_id and event_id columns, as with JSON.)
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    for day, (user, name) in enumerate([("u1", "project_created"), ("u1", "")]):
        part = tmp_path / "events" / f"day={day}"
        part.mkdir(parents=True)
        pq.write_table(pa.table({
            "user_id": [user], "name": [name],  # no account_id, no event_id column
            "timestamp": pa.array([1779868800 + day], pa.int64()).cast(
                pa.timestamp("s", tz="UTC"))}), part / "part-0.parquet")
    code, _ = _run("score", TRIAL, str(tmp_path / "events"), "--users-out",
                   str(tmp_path / "users.csv"))
    assert code == 0
    with open(tmp_path / "users.csv", encoding="utf-8") as f:
        assert [r["user_id"] for r in csv.DictReader(f)] == ["u1"]


def test_score_reads_csv_with_mapped_columns_and_epoch_seconds(tmp_path: Any) -> None:
    events = tmp_path / "events.csv"
    events.write_text("uid,event,ts\nu1,project_created,1779868800\n"
                      "u1,teammate_invited,1779872400\n", encoding="utf-8")
    code, text = _run("score", TRIAL, str(events), "--user-col", "uid", "--name-col", "event",
                      "--timestamp-col", "ts", "--epoch-unit", "s")
    assert code == 0
    assert "1 users" in text


def test_explain_one_user(files: dict[str, str]) -> None:
    code, text = _run("explain", TRIAL, files["events"], "u1", "--users", files["users"],
                      "--as-of", "2026-06-01T00:00:00Z")
    assert code == 0
    assert "user 'u1' scored 85" in text and "activation" in text


def test_explain_unknown_entity_is_bad_input(
        files: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert _run("explain", TRIAL, files["events"], "nobody")[0] == 1
    assert "no user 'nobody'" in capsys.readouterr().err


def test_validate_reports_every_problem_with_its_path(tmp_path: Any) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "m"\nthreshold = "high"\n[[rules]]\nname = "r"\n'
                   'when = "cuont(\'x\') >= 1"\npoints = 10\n', encoding="utf-8")
    code, text = _run("validate", TRIAL, str(bad))
    assert code == 1
    assert f"{TRIAL}: ok" in text
    assert "threshold" in text and "rules[0].when" in text and "did you mean 'count'" in text


def test_schema_prints_json_schema() -> None:
    code, text = _run("schema")
    assert code == 0
    schema = json.loads(text)
    assert schema["$schema"].startswith("https://json-schema.org/")


def test_bad_model_file_is_one_line_and_exit_1(
        files: dict[str, str], tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "m"\nthreshold = 1\nrules = 3\n', encoding="utf-8")
    assert _run("score", str(bad), files["events"])[0] == 1
    err = capsys.readouterr().err
    assert err.startswith("pqlkit: error:") and len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_missing_file_and_unknown_format(
        files: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert _run("score", TRIAL, f"{files['dir']}/none.jsonl")[0] == 1
    assert "none.jsonl" in capsys.readouterr().err
    assert _run("score", TRIAL, f"{files['dir']}/events.xyz")[0] == 2
    assert "--input-format" in capsys.readouterr().err


def test_help_shows_examples() -> None:
    done = subprocess.run([sys.executable, "-m", "pqlkit.cli", "score", "--help"],
                          capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 0
    assert "examples:" in done.stdout and "pqlkit score" in done.stdout


def test_score_from_a_shell_on_files(files: dict[str, str]) -> None:
    exe = shutil.which("pqlkit")
    cmd = [exe] if exe else [sys.executable, "-m", "pqlkit.cli"]
    done = subprocess.run([*cmd, "score", TRIAL, files["events"], "--users", files["users"],
                           "--top", "1"], capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert "users: 2 rows (top 1 of 2)" in done.stdout


def test_a_closed_pipe_is_not_an_error() -> None:
    # 2,000 account rows are more than a pipe buffers, so the write after head exits fails.
    exe = shutil.which("pqlkit")
    cmd = f"'{exe}'" if exe else f"'{sys.executable}' -m pqlkit.cli"
    done = subprocess.run(f"set -o pipefail; {cmd} demo --accounts 2000 --top 5000 | head -1",
                          shell=True, capture_output=True, text=True, timeout=120,
                          check=False, executable="/bin/bash")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("pqlkit ")
    assert "Traceback" not in done.stderr and "rror" not in done.stderr


@pytest.mark.parametrize("model", ["workspace_expansion.toml", "team_query_milestone.yml",
                                   "message_volume.json"])
def test_score_with_the_shipped_account_level_models(tmp_path: Any, model: str) -> None:
    # Every account-level model crashed with KeyError: 'users' after scoring.
    events = tmp_path / "events.csv"
    events.write_text("name,timestamp,user_id,account_id\nx,2026-05-21T09:00:00Z,u1,a1\n")
    path = f"examples/models/{model}"
    code, text = _run("score", path, str(events))
    assert code == 0
    assert ": 1 accounts, 0 PQAs" in text and "users" not in text.splitlines()[0]
    out = tmp_path / "accounts.csv"
    assert _run("score", path, str(events), "--accounts-out", str(out))[0] == 0
    assert out.read_text().startswith("account_id")


def test_cli_options_and_entity_files_are_checked(tmp_path: Any,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    events = tmp_path / "events.csv"
    events.write_text("name,timestamp,user_id\nx,2026-01-01T00:00:00,u\n")
    # An unknown zone: one line at once, not every row rejected as unparsable.
    assert _run("score", TRIAL, str(events), "--tz", "Europe/Pariss")[0] == 2
    assert "unknown time zone 'Europe/Pariss'" in capsys.readouterr().err
    for argv in (("score", TRIAL, str(events), "--top", "0"), ("demo", "--top", "-3")):
        assert _run(*argv)[0] == 2
        assert "must be at least 1" in capsys.readouterr().err
    # A users CSV: a byte order mark is not part of the id column's name, and a row with
    # an unquoted comma is an error naming its line (its traits were shifted silently).
    events.write_text("name,timestamp,user_id\nx,2026-01-01T00:00:00Z,u\n")
    users = tmp_path / "users.csv"
    users.write_bytes("\ufeffuser_id,email\nu,a@b.edu\n".encode())
    code, text = _run("score", TRIAL, str(events), "--users", str(users))
    assert code == 0 and "disqualified" in text
    users.write_text("user_id,name,email\nu,Smith, John,j@school.edu\n")
    assert _run("score", TRIAL, str(events), "--users", str(users))[0] == 1
    assert "users.csv:2: the row has more cells" in capsys.readouterr().err


def test_an_id_spelled_as_a_number_in_one_file_and_text_in_another_is_an_error(
        tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    # CSV events (ids as text) with JSON-lines users (ids as numbers) split the user in
    # two rows, one of them without its traits or disqualifier.
    events = tmp_path / "events.csv"
    events.write_text("name,timestamp,user_id\nproject_created,2026-05-20T09:00:00Z,1\n")
    users = tmp_path / "users.jsonl"
    users.write_text('{"user_id": 1, "email": "a@school.edu"}\n')
    assert _run("score", TRIAL, str(events), "--users", str(users))[0] == 1
    assert "user id '1' appears both as a number and as text" in capsys.readouterr().err
    users.write_text('{"user_id": "1", "email": "a@school.edu"}\n')
    code, text = _run("score", TRIAL, str(events), "--users", str(users))
    assert code == 0 and ": 1 users" in text


def test_cli_engine_and_as_of_are_checked_and_named_as_options(
        tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    events = tmp_path / "events.csv"
    events.write_text("name,timestamp,user_id\n")
    # An unknown engine was a "bad input" (exit 1) after reading the events.
    assert _run("score", TRIAL, str(events), "--engine", "fast")[0] == 2
    assert "invalid choice: 'fast'" in capsys.readouterr().err
    # The library's messages named its own as_of= and tz=.
    assert _run("score", TRIAL, str(events), "--as-of", "2026-06-01")[0] == 2
    err = capsys.readouterr().err
    assert "--as-of '2026-06-01' has no time zone" in err and "tz=" not in err
    assert _run("demo", "--as-of", "someday")[0] == 2
    assert "--as-of 'someday' is not a timestamp" in capsys.readouterr().err
    assert _run("score", TRIAL, str(events))[0] == 1
    err = capsys.readouterr().err
    assert "pass --as-of" in err and "as_of=" not in err
    assert _run("score", TRIAL, str(events), "--as-of", "2026-06-01T00:00:00Z")[0] == 0


def test_score_refuses_two_outputs_naming_one_file(
        files: dict[str, str], tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    # Both tables went to one file (the users table lost), exit 0.
    out = tmp_path / "out.csv"
    code, _ = _run("score", TRIAL, files["events"], "--users-out", str(out),
                   "--accounts-out", f"{tmp_path}/./out.csv")
    err = capsys.readouterr().err
    assert code == 2
    assert (f"pqlkit: error: --users-out and --accounts-out both name {str(out)!r}: the "
            "account results would replace the user results; give each its own file") in err
    assert not out.exists()


@pytest.mark.parametrize("option, target, what", [
    ("--users-out", "events", "the events file EVENTS"),
    ("--accounts-out", "users", "the users file --users"),
    ("--users-out", "accounts", "the accounts file --accounts"),
    ("--accounts-out", "model", "the model file MODEL"),
])
def test_score_refuses_an_output_that_would_overwrite_an_input(
        files: dict[str, str], tmp_path: Any, capsys: pytest.CaptureFixture[str],
        option: str, target: str, what: str) -> None:
    # --users-out events.csv overwrote the events file, exit 0.
    model = tmp_path / "model.toml"
    shutil.copy(TRIAL, model)
    paths = {**files, "model": str(model)}
    def contents() -> dict[str, bytes]:
        return {k: Path(paths[k]).read_bytes() for k in ("events", "users", "accounts", "model")}

    before = contents()
    code, _ = _run("score", str(model), files["events"], "--users", files["users"],
                   "--accounts", files["accounts"], option, paths[target])
    err = capsys.readouterr().err
    assert code == 2
    assert (f"pqlkit: error: {option} {paths[target]!r} is {what}: writing the results "
            "there would overwrite it; give the output another file name") in err
    assert contents() == before


def test_a_users_or_accounts_file_that_is_not_utf8_is_named_with_its_line(
        files: dict[str, str], tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    # The message was the decoder's: "'utf-8' codec can't decode byte 0xe9 in position 23:
    # invalid continuation byte", naming no file, option or line.
    users = tmp_path / "latin1-users.csv"
    users.write_bytes("user_id,account_id,company\nu1,acme,Société\n".encode("latin-1"))
    code, _ = _run("score", TRIAL, files["events"], "--users", str(users))
    err = capsys.readouterr().err
    assert code == 1
    assert err == (f"pqlkit: error: {users}:2: the --users file is not UTF-8 text (byte 0xe9 "
                   "at column 13: invalid continuation byte); it must be UTF-8: re-save it "
                   "as UTF-8 (in Excel, 'CSV UTF-8')\n")
    # Far into a gzipped file (the decoder reads ahead in blocks): still its own line.
    accounts = tmp_path / "accounts.jsonl.gz"
    good = "".join(json.dumps({"account_id": f"a{i}", "plan": "free"}) + "\n"
                   for i in range(2000))
    accounts.write_bytes(gzip.compress(
        good.encode() + '{"account_id": "b", "name": "Soci\xe9t\xe9"}\n'.encode("latin-1")))
    code, _ = _run("score", TRIAL, files["events"], "--accounts", str(accounts))
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith(f"pqlkit: error: {accounts}:2001: the --accounts file is not UTF-8 "
                          "text (byte 0xe9 at column 34: invalid continuation byte)")
    assert len(err.splitlines()) == 1


def test_demo_accounts_has_an_upper_bound(capsys: pytest.CaptureFixture[str]) -> None:
    # --accounts 100000000000 dumped numpy's MemoryError traceback.
    code, _ = _run("demo", "--accounts", "100000000000")
    err = capsys.readouterr().err
    assert code == 2
    assert err.splitlines()[-1] == (
        "pqlkit: error: --accounts must be at most 10,000 (about 180 events each), got "
        "100,000,000,000; for larger data sets call pqlkit.datasets.synthetic_saas from "
        "Python")
    assert "Traceback" not in err
    main(["demo", "--help"], out=io.StringIO())
    assert "at most 10,000" in " ".join(capsys.readouterr().out.split())


def test_running_out_of_memory_is_one_line_not_a_traceback(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from pqlkit import datasets

    def too_big(**_: Any) -> Any:
        raise MemoryError("Unable to allocate 1.2 TiB for an array")

    monkeypatch.setattr(datasets, "synthetic_saas", too_big)
    code, _ = _run("demo", "--accounts", "50")
    err = capsys.readouterr().err
    assert code == 1
    assert err == ("pqlkit: error: out of memory running 'demo': pass a smaller "
                   "--accounts\n")
    with pytest.raises(MemoryError):
        main(["--debug", "demo", "--accounts", "50"], out=io.StringIO())


def test_python_m_pqlkit_runs_the_command_line():
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "pqlkit", "--version"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and "pqlkit" in proc.stdout + proc.stderr


def test_column_errors_name_the_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                      ) -> None:
    # The readers' messages name their keywords (name=); the CLI's user types flags.
    events = tmp_path / "ev.csv"
    events.write_text("uid,event,timestamp\nu1,signup,2026-05-01T00:00:00Z\n")
    assert _run("score", TRIAL, str(events), "--user-col", "uid")[0] == 1
    err = capsys.readouterr().err
    assert "no column 'name' for --name-col;" in err and "name=" not in err
    assert _run("score", TRIAL, str(events), "--name-col", "event", "--user-col", "who")[0] == 1
    assert "no column 'who' for --user-col;" in capsys.readouterr().err


@pytest.mark.parametrize(("row", "flag"), [
    ({"user_id": "u1", "event": "signup", "timestamp": "2026-05-01T00:00:00Z"}, "--name-col"),
    ({"user_id": "u1", "name": "signup", "ts": "2026-05-01T00:00:00Z"}, "--timestamp-col"),
    ({"uid": "u1", "name": "signup", "timestamp": "2026-05-01T00:00:00Z"}, "--user-col"),
    ({"user_id": "u1", "name": "signup", "timestamp": "2026-05-01 00:00"}, "--tz"),
    ({"user_id": "u1", "name": "signup", "timestamp": 1777885198}, "--epoch-unit"),
])
def test_every_row_missing_one_key_points_at_its_flag(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], row: dict[str, str],
        flag: str) -> None:
    # JSON lines may leave any key out: a misnamed key rejects every row, and the CLI
    # said "holds no events ... pass --as-of" (which could not help).
    events = tmp_path / "ev.jsonl"
    events.write_text(json.dumps(row) + "\n" + json.dumps(row) + "\n")
    assert _run("score", TRIAL, str(events))[0] == 1
    err = capsys.readouterr().err
    assert "every event of" in err and f"pass {flag} " in err and "--as-of" not in err


@pytest.mark.parametrize("entity", ["²", "٧"])
def test_explain_reads_only_ascii_digits_as_an_integer_id(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], entity: str) -> None:
    # str.isdigit() holds for '²' (int() then raised: a traceback) and '٧' (read as 7:
    # another user explained).
    events = tmp_path / "ev.jsonl"
    events.write_text('{"name": "signup", "timestamp": "2026-05-20T00:00:00Z", "user_id": 7}\n')
    assert _run("explain", TRIAL, str(events), entity)[0] == 1
    assert f"no user {entity!r} in the results" in capsys.readouterr().err
    code, text = _run("explain", TRIAL, str(events), "7")
    assert code == 0 and text.startswith("user 7 scored")


def test_json_lines_outputs_write_non_finite_scores_as_null(tmp_path: Path) -> None:
    # json.dumps wrote Infinity / NaN, which strict JSON readers (jq, JSON.parse) refuse.
    events = tmp_path / "ev.jsonl"
    events.write_text("".join(
        json.dumps({"name": "pay", "timestamp": f"2026-05-2{d}T00:00:00Z", "user_id": "u",
                    "account_id": "A", "properties": {"amount": 1e308}}) + "\n"
        for d in (0, 1)))
    model = tmp_path / "m.json"
    model.write_text(json.dumps({"name": "m", "threshold": 10, "rules": [
        {"name": "pay", "when": "total('amount', of='pay')", "points_per": 1}]}))
    users, accounts = tmp_path / "u.jsonl", tmp_path / "a.jsonl"
    assert _run("score", str(model), str(events), "--users-out", str(users),
                "--accounts-out", str(accounts))[0] == 0

    def refuse(token: str) -> None:
        raise AssertionError(f"not JSON: {token}")

    row = json.loads(users.read_text(), parse_constant=refuse)
    assert row["score"] is None and row["pay"] is None and row["is_pql"] is True
    assert json.loads(accounts.read_text(), parse_constant=refuse)["score"] is None


def test_an_output_that_fails_half_way_leaves_no_partial_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A failure while writing (a full disk, Ctrl-C, a value that cannot be written) left
    # a truncated CSV that looked like a result.
    import pqlkit.cli as cli

    events = tmp_path / "ev.jsonl"
    events.write_text("".join(
        f'{{"name": "signup", "timestamp": "2026-05-20T00:00:00Z", "user_id": "u{i}"}}\n'
        for i in range(3)))
    out = tmp_path / "users.csv"
    out.write_text("the previous result\n")
    calls = []

    def failing(value: Any) -> Any:
        calls.append(value)
        if len(calls) > 12:
            raise OSError(28, "No space left on device")
        return value

    monkeypatch.setattr(cli, "_plain", failing)
    assert _run("score", TRIAL, str(events), "--users-out", str(out))[0] == 1
    assert out.read_text() == "the previous result\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ev.jsonl", "users.csv"]
    monkeypatch.undo()
    assert _run("score", TRIAL, str(events), "--users-out", str(out))[0] == 0
    assert out.read_text().count("\n") == 4


def _events_file(tmp_path: Path) -> Path:
    events = tmp_path / "ev.jsonl"
    events.write_text(
        '{"name": "signup", "timestamp": "2026-05-20T00:00:00Z", "user_id": "u1", '
        '"account_id": "a1"}\n')
    return events


def test_an_output_through_a_link_fills_its_target_and_keeps_the_link(tmp_path: Path) -> None:
    # Written beside the path and moved into place, a result replaced the link itself
    # (/dev/stdout among them) instead of filling what it points to.
    target = tmp_path / "target.csv"
    target.write_text("old\n")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    assert _run("score", TRIAL, str(_events_file(tmp_path)), "--users-out", str(link))[0] == 0
    assert link.is_symlink() and target.read_text().startswith("user_id,")


def test_parquet_to_a_pipe_is_refused_before_anything_is_written(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # pyarrow could not seek in it, then removed the path it failed to write: the link
    # (/dev/stdout) was deleted.
    import os

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    link = tmp_path / "out.parquet"
    link.symlink_to(fifo)
    assert _run("score", TRIAL, str(_events_file(tmp_path)), "--users-out", str(link))[0] == 2
    assert "Parquet needs a file it can seek in" in capsys.readouterr().err
    assert link.is_symlink()


@pytest.mark.parametrize(("second", "message"), [
    ("accounts.txt", "cannot tell the format of"),
    ("missing/accounts.csv", "there is no directory"),
    ("events/accounts.csv", "is inside the events directory"),
])
def test_outputs_are_checked_before_anything_is_read_or_written(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], second: str, message: str) -> None:
    # The first output was written, then the second failed (exit 2 or 1): a half result.
    # An output inside a Parquet events directory was read as events by the next run.
    pq = pytest.importorskip("pyarrow.parquet")
    pa = pytest.importorskip("pyarrow")
    (tmp_path / "events").mkdir()
    pq.write_table(pa.table({"name": ["signup"], "user_id": ["u1"], "timestamp": pa.array(
        [0], pa.timestamp("us", tz="UTC"))}), tmp_path / "events" / "part-0.parquet")
    users = tmp_path / "users.csv"
    code = _run("score", TRIAL, str(tmp_path / "events"), "--users-out", str(users),
                "--accounts-out", str(tmp_path / second))[0]
    assert code == 2 and message in capsys.readouterr().err
    assert not users.exists()
    assert sorted(p.name for p in (tmp_path / "events").iterdir()) == ["part-0.parquet"]


def test_users_files_read_as_events_are_read(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    # A repeated users CSV column kept its last cell (a .edu email lost); a JSON-lines row
    # with a "traits" column that is not a mapping was rejected whole, where CSV kept it.
    events = _events_file(tmp_path)
    users = tmp_path / "users.csv"
    users.write_text("user_id,email,email\nu1,s@uni.edu,s@gmail.com\n")
    assert _run("score", TRIAL, str(events), "--users", str(users))[0] == 1
    assert "names column(s) 'email' more than once" in capsys.readouterr().err
    rows = tmp_path / "users.jsonl"
    rows.write_text('{"user_id": "u1", "email": "s@uni.edu", "traits": "beta"}\n')
    out = tmp_path / "out.csv"
    assert _run("score", TRIAL, str(events), "--users", str(rows), "--users-out", str(out))[0] == 0
    assert ",True," in out.read_text().splitlines()[1]  # disqualified: a .edu email


@pytest.mark.parametrize(("args", "message"), [
    (["--users", "users.txt"], "name the users and accounts files .csv or .jsonl"),
    (["--model-as", "model.txt"], "model.txt' from its name; name it .toml, .json"),
])
def test_files_whose_format_cannot_be_told_are_usage_errors(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str],
        message: str) -> None:
    # A model file named .txt exited 1 (docs: 2); a users file's hint named --input-format,
    # which does not apply to it, and .parquet, which users files cannot be.
    events = _events_file(tmp_path)
    (tmp_path / "users.txt").write_text("user_id\nu1\n")
    shutil.copy(TRIAL, tmp_path / "model.txt")
    model = str(tmp_path / "model.txt") if args[0] == "--model-as" else TRIAL
    extra = [] if args[0] == "--model-as" else ["--users", str(tmp_path / args[1])]
    assert _run("score", model, str(events), *extra)[0] == 2
    assert message in capsys.readouterr().err


def test_reader_keywords_in_messages_are_flags(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    naive = tmp_path / "naive.parquet"
    pq.write_table(pa.table({"name": ["signup"], "user_id": ["u1"], "timestamp": pa.array(
        [0], pa.timestamp("us"))}), naive)
    assert _run("score", TRIAL, str(naive), "--as-of", "2026-06-01T00:00:00Z")[0] == 1
    err = capsys.readouterr().err
    assert "--tz 'UTC'" in err and "tz=" not in err


def test_validate_gives_file_lines_only_for_the_file(tmp_path: Path) -> None:
    # An expression's problem was shown at "line 1" (of the expression) under the file.
    model = tmp_path / "m.toml"
    model.write_text('name = "m"\nthreshold = 60\n\n[[rules]]\nname = "bad"\n'
                     'when = "count(\'x\') >= "\npoints = 10\n')
    code, text = _run("validate", str(model))
    assert code == 1 and "rules[0].when: column 15:" in text and "(line" not in text
    broken = tmp_path / "b.toml"
    broken.write_text('name = "m"\nthreshold = \n')
    assert "(line 2, column" in _run("validate", str(broken))[1]


def test_explain_a_user_under_an_account_level_model(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    model = "examples/models/workspace_expansion.toml"
    assert _run("explain", model, str(_events_file(tmp_path)), "u1", "--level", "user")[0] == 1
    assert "is account-level: it scores accounts, not users" in capsys.readouterr().err


def test_strict_with_a_bad_users_row_is_one_line(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    # The flags rewrite rebuilt the error as type(exc)(message): RejectedRowError takes
    # more arguments, and a TypeError traceback came out instead.
    users = tmp_path / "users.csv"
    users.write_text("user_id,created_at\nu1,2026-05-01T00:00:00Z\nu2,someday\n")
    code = _run("score", TRIAL, str(_events_file(tmp_path)), "--users", str(users),
                "--strict")[0]
    err = capsys.readouterr().err
    assert code == 1 and "users[1] rejected (invalid_timestamp)" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_demo_with_a_negative_seed_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run("demo", "--seed", "-1", "--accounts", "3")[0] == 2
    assert "--seed must be at least 0" in capsys.readouterr().err
