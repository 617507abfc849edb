"""The ``xp`` fixture: every test that takes it runs once per available array library.

Choose a subset with ``METRICLOSS_BACKENDS=numpy,torch`` (names: numpy, array_api_strict, torch,
jax, tensorflow). A named backend that does not import is skipped with the reason.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from hypothesis import settings

from tests.support import Backend, get_backend, selected_backends

settings.register_profile("ci", max_examples=25, deadline=None, derandomize=True)
settings.register_profile("dev", max_examples=50, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

@pytest.fixture(params=selected_backends())
def xp(request: pytest.FixtureRequest) -> Backend:
    """The array library under test (a namespace with test helpers; see tests/support.py)."""
    return get_backend(request.param)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261125)
