"""Shared test settings: a small, deadline-free Hypothesis profile, loaded by default.

Set ``HYPOTHESIS_PROFILE=thorough`` for a long local run of the property tests.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", deadline=None, max_examples=50, print_blob=True)
settings.register_profile("thorough", deadline=None, max_examples=1000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
