"""The ``pqlkit`` command line, driven as a user would."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys

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
