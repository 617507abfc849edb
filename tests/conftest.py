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

from tests.support import Backend, get_backend, jax_x64, selected_backends

settings.register_profile("ci", max_examples=25, deadline=None, derandomize=True)
settings.register_profile("dev", max_examples=50, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In JAX's float32 mode (``METRICLOSS_JAX_X64=0``) skip what needs float64: tests marked
    ``float64`` and cases parametrized with a float64 dtype."""
    if jax_x64():
        return
    skip = pytest.mark.skip(reason="needs float64; JAX runs in its default float32 mode")
    for item in items:
        callspec = getattr(item, "callspec", None)
        case_id = callspec.id if callspec is not None else ""
        if item.get_closest_marker("float64") is not None or "float64" in case_id:
            item.add_marker(skip)


@pytest.fixture(params=selected_backends())
def xp(request: pytest.FixtureRequest) -> Backend:
    """The array library under test (a namespace with test helpers; see tests/support.py)."""
    return get_backend(request.param)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261125)
