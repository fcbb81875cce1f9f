"""The documentation's examples run against the current code, so they stay true.

Every ```python block of a page under docs/ runs, in page order, in one fresh namespace per
page. A ```text block right after a python block is that block's expected output (lines
compared without trailing spaces; a line holding only ``...`` stands for any number of
lines). A block whose first line is ``# skip-test`` is shown but not run (pandas-only or
shell-ish snippets); the text block after it is not checked either.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

import pqlkit as pk
from pqlkit.report import REASONS

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md"))
SKIP = "# skip-test"

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<ticks>`{3,})\s*(?P<lang>[\w+-]*)")


class Block:
    """One fenced code block of a page."""

    def __init__(self, lang: str, code: str, line: int) -> None:
        self.lang = lang
        self.code = code
        self.line = line
        self.expected: Block | None = None

    @property
    def skipped(self) -> bool:
        return self.code.lstrip().startswith(SKIP)


def blocks(text: str) -> list[Block]:
    """The fenced blocks of a Markdown text, dedented, each python one paired with the
    text block that follows it directly (blank lines and nothing else in between)."""
    out: list[Block] = []
    lines = text.splitlines()
    i = 0
    last_end = -2
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            if lines[i].strip():
                last_end = -2
            i += 1
            continue
        indent, ticks, lang = m.group("indent"), m.group("ticks"), m.group("lang").lower()
        start = i
        body: list[str] = []
        i += 1
        while i < len(lines) and not (
            lines[i].strip().startswith(ticks) and lines[i].strip().strip("`") == ""
        ):
            line = lines[i]
            body.append(line[len(indent):] if line.startswith(indent) else line.lstrip())
            i += 1
        block = Block(lang, "\n".join(body) + "\n", start + 1)
        if lang == "text" and last_end >= 0 and out and out[-1].lang in ("python", "py"):
            out[-1].expected = block
        out.append(block)
        i += 1
        last_end = i
    return out


def _matches(expected: list[str], got: list[str]) -> bool:
    if not expected:
        return not got
    head, rest = expected[0], expected[1:]
    if head.strip() == "...":
        return any(_matches(rest, got[k:]) for k in range(len(got) + 1))
    return bool(got) and got[0] == head and _matches(rest, got[1:])


def _clean(text: str) -> list[str]:
    lines = [line.rstrip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return lines


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(DOCS)) for p in PAGES])
def test_page_examples_run_and_print_what_the_page_shows(page: Path) -> None:
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem.replace('-', '_')}"}
    for block in blocks(page.read_text(encoding="utf-8")):
        if block.lang not in ("python", "py") or block.skipped:
            continue
        where = f"{page.relative_to(ROOT)}:{block.line}"
        out = io.StringIO()
        try:
            with contextlib.redirect_stdout(out):
                exec(compile(block.code, where, "exec"), namespace)
        except Exception as exc:
            pytest.fail(f"{where}: the example raised {type(exc).__name__}: {exc}")
        if block.expected is not None:
            want, got = _clean(block.expected.code), _clean(out.getvalue())
            assert _matches(want, got), (
                f"{where}: the example printed\n" + "\n".join(got)
                + f"\nbut the page shows (line {block.expected.line})\n" + "\n".join(want)
            )


def test_blocks_pair_a_python_block_with_the_text_block_right_after_it() -> None:
    text = "```python\nprint(1)\n```\n\n```text\n1\n```\n\nprose\n\n```text\nnot output\n```\n"
    found = blocks(text)
    assert [b.lang for b in found] == ["python", "text", "text"]
    assert found[0].expected is found[1]


def test_an_ellipsis_line_stands_for_any_number_of_lines() -> None:
    assert _matches(["a", "...", "d"], ["a", "b", "c", "d"])
    assert _matches(["a", "...", "d"], ["a", "d"])
    assert not _matches(["a", "...", "d"], ["a", "b"])


def test_contract_page_lists_every_rejection_reason_code() -> None:
    contract = (DOCS / "contract.md").read_text(encoding="utf-8")
    missing = [code for code in REASONS if f"`{code}`" not in contract]
    assert not missing, f"docs/contract.md does not document reason codes {missing}"


def test_home_page_gives_the_same_two_commands_as_the_readme() -> None:
    commands = [
        "python3 -m venv .venv && . .venv/bin/activate && pip install . && pqlkit demo",
        "python3 -m venv .venv && . .venv/bin/activate && pip install -e '.[test]' && pytest",
    ]
    home = (DOCS / "index.md").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for command in commands:
        assert command in home, f"docs/index.md lacks {command!r}"
        assert command in readme, f"README.md lacks {command!r}"


def test_api_reference_covers_every_public_name() -> None:
    api = "\n".join(p.read_text(encoding="utf-8") for p in (DOCS / "api").glob("*.md"))
    undocumented = [
        name for name in pk.__all__
        if not name.startswith("_") and name not in api
    ]
    assert not undocumented, f"the API reference never mentions {undocumented}"
