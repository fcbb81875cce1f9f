"""Shared test settings: a small, deadline-free Hypothesis profile, loaded by default, and
the ``engine`` fixture that runs a test module once per engine.

Set ``HYPOTHESIS_PROFILE=thorough`` for a long local run of the property tests.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import settings

import pqlkit.engine

settings.register_profile("ci", deadline=None, max_examples=50, print_blob=True)
settings.register_profile("thorough", deadline=None, max_examples=1000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


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
