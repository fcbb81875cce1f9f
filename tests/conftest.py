"""Shared test settings: a small, deadline-free Hypothesis profile, loaded by default, and
the ``engine`` fixture that runs a test module once per engine.

Set ``HYPOTHESIS_PROFILE=thorough`` for a long local run of the property tests. The
``fake_dist`` fixture installs throw-away plugin distributions for the plugin tests.
"""

from __future__ import annotations

import os
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import settings

import pqlkit.engine

settings.register_profile("ci", deadline=None, max_examples=50, print_blob=True)
settings.register_profile("thorough", deadline=None, max_examples=1000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def fake_dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Path]]:
    """Install a fake distribution on ``sys.path``: its entry points and its modules.

    ``fake_dist("acme-plugins", {"pqlkit.signals": {"x": "acme_mod:x"}}, {"acme_mod": code})``
    makes ``importlib.metadata`` (and so :func:`pqlkit.plugins.Registry.discover`) see it
    exactly as it sees an installed package.
    """
    modules: list[str] = []

    def make(name: str, entry_points: dict[str, dict[str, str]],
             modules_code: dict[str, str] | None = None) -> Path:
        root = tmp_path / f"site-{name}"
        info = root / f"{name.replace('-', '_')}-1.0.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
        lines = []
        for group, eps in entry_points.items():
            lines += [f"[{group}]", *(f"{k} = {v}" for k, v in eps.items()), ""]
        (info / "entry_points.txt").write_text("\n".join(lines))
        for module, code in (modules_code or {}).items():
            (root / f"{module}.py").write_text(textwrap.dedent(code))
            modules.append(module)
        monkeypatch.syspath_prepend(str(root))
        return root

    yield make
    for module in modules:
        sys.modules.pop(module, None)
@pytest.fixture(scope="module", params=pqlkit.engine.ENGINES)
def engine(request: pytest.FixtureRequest) -> Iterator[str]:
    """Each engine in turn, as the default of ``model.score`` (ibis/narwhals-style backends).

    A module that marks ``pytestmark = pytest.mark.usefixtures("engine")`` runs every test
    on every engine; fixtures of a wider scope than a test that score must ask for
    ``engine`` too, so that they are built once per engine.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pqlkit.engine, "DEFAULT_ENGINE", request.param)
        yield request.param
