"""Cross-framework parity: the same inputs give the same values and gradients in PyTorch, JAX
and TensorFlow, and the same values in NumPy — float64 within 1e-10 relative, float32 within
1e-5 — including a label with no positives and saturated logits.

These tests need several frameworks in one environment (the nox ``parity`` session); each
framework that does not import is left out, and a test with fewer than two is skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import pytest

import metricloss as ml
from tests.support import Backend, get_backend, importable

pytestmark = pytest.mark.parity

FRAMEWORKS = [n for n in ("torch", "jax", "tensorflow") if importable(n)]
TOLERANCE = {"float64": 1e-10, "float32": 1e-5}


def _inputs(seed: int = 0, b: int = 12, n_labels: int = 5) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=3.0, size=(b, n_labels))
    y = (rng.random((b, n_labels)) < 0.4).astype(np.float64)
    y[:, 2] = 0.0  # a label with no positives
    z[3, :] = 60.0  # saturated
    z[4, :] = -60.0
    return z, y


Case = Callable[[Any, Any], Any]


def _metric_loss(z: Any, y: Any, *, metric: str) -> Any:
    return ml.confusion_metric_loss(z, y, metric=metric)


CASES: dict[str, Case] = {
    "sigmoid_f1_macro": lambda z, y: ml.sigmoid_f1_loss(z, y),
    "sigmoid_f2_micro": lambda z, y: ml.sigmoid_f1_loss(z, y, beta=2.0, average="micro"),
    "sigmoid_f1_samples_slope": lambda z, y: ml.sigmoid_f1_loss(z, y, slope=2.0, offset=0.5,
                                                                average="samples"),
    "any_loss_f1": lambda z, y: ml.any_loss(z, y),
    "any_loss_mcc_micro": lambda z, y: ml.any_loss(z, y, metric="mcc", average="micro"),
    **{
        f"metric_{m}": partial(_metric_loss, metric=m)
        for m in ("precision", "recall", "jaccard", "accuracy", "balanced_accuracy", "gmean",
                  "mcc")
    },
}


def _run(backend: Backend, case: Case, z: np.ndarray, y: np.ndarray, dtype: str):
    zz = backend.asarray(z, dtype=dtype)
    yy = backend.asarray(y, dtype=dtype)
    return backend.value_and_grad(lambda a: case(a, yy), zz)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_values_and_gradients_agree_across_frameworks(name: str, dtype: str) -> None:
    if len(FRAMEWORKS) < 2:
        pytest.skip(f"parity needs two frameworks, found {FRAMEWORKS}")
    z, y = _inputs()
    case = CASES[name]
    results = {fw: _run(get_backend(fw), case, z, y, dtype) for fw in FRAMEWORKS}
    ref_fw = FRAMEWORKS[0]
    ref_value, ref_grad = results[ref_fw]
    assert np.all(np.isfinite(ref_value)) and np.all(np.isfinite(ref_grad))
    rtol = TOLERANCE[dtype]
    grad_atol = rtol * float(np.max(np.abs(ref_grad)))
    for fw, (value, grad) in results.items():
        np.testing.assert_allclose(value, ref_value, rtol=rtol, err_msg=f"{fw} vs {ref_fw}")
        np.testing.assert_allclose(grad, ref_grad, rtol=rtol, atol=grad_atol,
                                   err_msg=f"gradient {fw} vs {ref_fw}")
    numpy_value, _ = _run(get_backend("numpy"), case, z, y, dtype)
    np.testing.assert_allclose(numpy_value, ref_value, rtol=rtol, err_msg="numpy")
