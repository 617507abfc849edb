"""Namespaces: detection without importing frameworks, mixing libraries, native kernels."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from metricloss._namespace import kernels, namespace_of
from tests.support import assert_close, get_backend


def test_import_pulls_in_no_framework() -> None:
    code = (
        "import sys, numpy as np, metricloss as ml;"
        "ml.sigmoid_f1_loss(np.zeros((3, 2)), np.ones((3, 2)));"
        "bad = [m for m in ('torch', 'jax', 'tensorflow', 'keras') if m in sys.modules];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_mixed_libraries_raise_type_error_naming_arguments(xp) -> None:
    if xp.name == "numpy":
        other = get_backend("array_api_strict")
    else:
        other = get_backend("numpy")
    a = xp.asarray(np.zeros(3))
    b = other.asarray(np.zeros(3))
    with pytest.raises(TypeError, match="labels is a"):
        namespace_of(logits=a, labels=b)
    with pytest.raises(TypeError, match="labels must be an array, got list"):
        namespace_of(logits=a, labels=[0.0, 1.0, 0.0])


@pytest.mark.parametrize("name", ["sigmoid", "log_sigmoid", "softplus"])
def test_kernels_match_closed_forms_on_extreme_values(xp, name) -> None:
    x = np.array([-1e4, -800.0, -30.0, -1.0, 0.0, 1.0, 30.0, 800.0, 1e4])
    softplus = np.logaddexp(0.0, x)
    expected = {
        "sigmoid": np.exp(-np.logaddexp(0.0, -x)),
        "log_sigmoid": -np.logaddexp(0.0, -x),
        "softplus": softplus,
    }[name]
    k = kernels(namespace_of(x=xp.asarray(x)))
    assert_close(xp, getattr(k, name)(xp.asarray(x)), expected, dtype="float64")


def test_logsumexp_handles_all_minus_infinity_rows(xp) -> None:
    x = np.array([[0.0, 1.0, 2.0], [-np.inf, -np.inf, -np.inf], [1e4, 1e4, -1e4]])
    with np.errstate(divide="ignore", invalid="ignore"):
        m = np.max(x, axis=1, keepdims=True)
        m = np.where(np.isfinite(m), m, 0.0)
        expected = (np.log(np.sum(np.exp(x - m), axis=1, keepdims=True)) + m)[:, 0]
    k = kernels(namespace_of(x=xp.asarray(x)))
    assert_close(xp, k.logsumexp(xp.asarray(x), axis=1), expected, dtype="float64")
