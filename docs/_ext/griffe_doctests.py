"""Docs-only griffe extension: render pqlkit's docstrings well in the API reference.

pqlkit's docstrings put short doctests in their body (``>>> ...``), outside an ``Examples:``
section, and use Sphinx roles such as ``:class:`~pqlkit.EventLog```. Markdown would read a
doctest as a nested block quote (and ``x["a"]["b"]`` as a link), and print the roles as
they are. This extension, loaded by mkdocstrings only, fences every doctest as ``pycon`` and
turns each role into inline code before the docstring is parsed. The source is untouched,
so ``pytest --doctest-modules`` keeps running the same examples.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|attr|data|exc|obj|const):`(~?)([^`]+)`")


def _role(match: re.Match[str]) -> str:
    short, target = match.group(1), match.group(2).strip()
    if "<" in target and target.endswith(">"):  # :class:`text <target>`
        return f"`{target.split('<', 1)[0].strip()}`"
    if short:
        target = target.rsplit(".", 1)[-1]
    return f"`{target}`"


def fence_doctests(text: str) -> str:
    """Wrap each run of doctest lines (``>>>`` up to the next blank line) in a pycon fence."""
    out: list[str] = []
    lines = text.split("\n")
    i = 0
    in_fence = False
    while i < len(lines):
        line = lines[i]
        stripped = line.lstrip()
        if stripped.startswith("```"):
            in_fence = not in_fence
        if in_fence or not stripped.startswith(">>>"):
            out.append(line)
            i += 1
            continue
        indent = line[: len(line) - len(stripped)]
        block = []
        while i < len(lines) and lines[i].strip():
            block.append(lines[i])
            i += 1
        out.append(f"{indent}```pycon")
        out.extend(block)
        out.append(f"{indent}```")
    return "\n".join(out)


def rewrite(text: str) -> str:
    """The docstring as Markdown: doctests fenced, Sphinx roles as inline code."""
    parts = re.split(r"(```.*?```)", fence_doctests(text), flags=re.DOTALL)
    return "".join(p if p.startswith("```") else _ROLE.sub(_role, p) for p in parts)


class PqlkitDocstrings(griffe.Extension):
    """Fence doctests and convert Sphinx roles in every docstring griffe loads."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = rewrite(obj.docstring.value)

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        # The top-level package gets no on_object call.
        if pkg.docstring is not None:
            pkg.docstring.value = rewrite(pkg.docstring.value)
