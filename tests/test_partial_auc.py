"""Partial ROC-AUC: the metric ``roc_auc_score(max_fpr=)`` against scikit-learn (its own test
cases and random inputs with ties and weights), and the one-way pAUC loss against its closed
form by enumeration (NumPy, float64) and, with the 0-1 pair loss, against scikit-learn's
partial area. Fixed small shapes.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import metricloss
from metricloss.global_objectives import partial_auc
from tests.support import assert_close, dtype_name, finite_difference_grad, get_backend

sk_metrics = pytest.importorskip("sklearn.metrics")


# --------------------------------------------------------------------------------------------
# roc_auc_score(max_fpr=)
# --------------------------------------------------------------------------------------------


def test_max_fpr_on_scikit_learns_own_cases(xp) -> None:
    """sklearn/metrics/tests/test_ranking.py::test_partial_roc_auc_score."""
    y = np.array([0, 0, 1, 1])
    Y = xp.asarray(y)
    perfect = xp.asarray(y.astype(np.float64))
    assert float(metricloss.roc_auc_score(perfect, Y, max_fpr=1)) == 1.0
    assert float(metricloss.roc_auc_score(perfect, Y, max_fpr=0.001)) == 1.0
    for bad in (-0.1, 0.0, 1.1):
        with pytest.raises(ValueError, match="max_fpr"):
            metricloss.roc_auc_score(perfect, Y, max_fpr=bad)
    s = xp.asarray(np.array([0.1, 0, 0.1, 0.01]))
    assert float(metricloss.roc_auc_score(s, Y, max_fpr=1)) == float(
        metricloss.roc_auc_score(s, Y))
    assert float(metricloss.roc_auc_score(s, Y, max_fpr=0.3)) == 0.5


@pytest.mark.float64
def test_max_fpr_equals_scikit_learn_on_random_inputs(xp) -> None:
    rng = np.random.default_rng(7)
    B, L = 23, 4
    for trial in range(4):
        s = np.round(rng.normal(size=(B, L)), trial % 3)  # ties at 0 and 1 decimals
        y = (rng.random((B, L)) < 0.35).astype(np.int64)
        y[0], y[1] = 1, 0
        w = rng.uniform(0.1, 2.0, size=B) if trial % 2 else None
        beta = [0.05, 0.2, 0.77, 0.999][trial]
        expected = [sk_metrics.roc_auc_score(y[:, j], s[:, j], max_fpr=beta, sample_weight=w)
                    for j in range(L)]
        got = metricloss.roc_auc_score(xp.asarray(s), xp.asarray(y), max_fpr=beta,
                                       average="none",
                                       weights=None if w is None else xp.asarray(w))
        assert_close(xp, got, np.array(expected), rtol=1e-12, atol=1e-14)
        macro = sk_metrics.roc_auc_score(y, s, max_fpr=beta, sample_weight=w)
        got = metricloss.roc_auc_score(xp.asarray(s), xp.asarray(y), max_fpr=beta,
                                       weights=None if w is None else xp.asarray(w))
        assert_close(xp, got, macro, rtol=1e-12)


def test_max_fpr_single_class_is_nan() -> None:
    with pytest.warns(metricloss.UndefinedMetricWarning):
        value = metricloss.roc_auc_score(np.array([0.1, 0.2]), np.array([1, 1]), max_fpr=0.5)
    assert math.isnan(float(value))


# --------------------------------------------------------------------------------------------
# partial_roc_auc_loss
# --------------------------------------------------------------------------------------------


def pauc_enumerated(z: np.ndarray, y: np.ndarray, beta: float, surrogate: str) -> np.ndarray:
    """Per label: the negatives sorted by decreasing logit, the ⌊βN⌋ first with weight 1 and
    the next with weight βN − ⌊βN⌋; every (positive, selected negative) pair enumerated."""
    out = []
    for j in range(z.shape[1]):
        pos = z[y[:, j] == 1, j]
        neg = np.sort(z[y[:, j] == 0, j])[::-1]
        k = beta * len(neg)
        if len(pos) == 0 or len(neg) == 0:
            out.append(0.0)
            continue
        total = 0.0
        for r, n in enumerate(neg):
            share = min(max(k - r, 0.0), 1.0)
            for p in pos:
                u = p - n
                pair = np.logaddexp(0.0, -u) if surrogate == "xent" else max(1.0 - u, 0.0)
                total += share * pair
        out.append(total / (len(pos) * k))
    return np.array(out)


@pytest.mark.float64
@pytest.mark.parametrize("surrogate", ["xent", "hinge"])
def test_pauc_loss_equals_enumeration(xp, surrogate) -> None:
    rng = np.random.default_rng(3)
    B, L = 9, 3
    z = rng.normal(scale=2.0, size=(B, L))
    y = (rng.random((B, L)) < 0.4).astype(np.float64)
    y[0], y[1] = 1.0, 0.0
    y[:, 2] = 0.0  # no positives: 0
    for beta in (0.1, 0.5, 1.0):
        got = metricloss.partial_roc_auc_loss(xp.asarray(z), xp.asarray(y), max_fpr=beta,
                                              surrogate=surrogate, reduction="none")
        expected = pauc_enumerated(z, y, beta, surrogate)
        assert_close(xp, got, expected, rtol=1e-12, atol=1e-15)
    if not xp.differentiable:
        return
    # Gradients: finite differences of the enumeration (continuous logits, no rank changes).
    f64 = get_backend("numpy")

    def np_fn(t: np.ndarray) -> float:
        return float(f64.to_numpy(metricloss.partial_roc_auc_loss(
            t, y, max_fpr=0.4, surrogate=surrogate)))

    z = np.round(z, 1) + 0.0371 * np.arange(B * L).reshape(B, L)  # off the hinge's kink
    _, grad = xp.value_and_grad(lambda t: metricloss.partial_roc_auc_loss(
        t, xp.asarray(y), max_fpr=0.4, surrogate=surrogate), xp.asarray(z))
    np.testing.assert_allclose(grad, finite_difference_grad(np_fn, z), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(np_fn(z), pauc_enumerated(z, y, 0.4, surrogate).mean(),
                               rtol=1e-12)


@pytest.mark.float64
def test_pauc_with_the_zero_one_pair_loss_is_one_minus_the_partial_area() -> None:
    """The negatives' shares are the ROC curve's steps: with 1[z_p ≤ z_n] (ties ½) in place of
    ℓ the loss is 1 − A_β/β, A_β scikit-learn's partial area (McClish undone)."""
    rng = np.random.default_rng(5)
    import array_api_compat.numpy as xnp

    for trial in range(8):
        B = 15 + trial
        z = rng.normal(size=(B, 1))
        y = (rng.random((B, 1)) < 0.4).astype(np.float64)
        y[0], y[1] = 1.0, 0.0
        beta = [0.07, 0.2, 0.33, 0.5, 0.61, 0.9, 1.0, 0.15][trial]
        shares, k = partial_auc._negative_weights(xnp, z, y, beta)
        wrong = (z[:, 0][:, None] <= z[:, 0][None, :]).astype(float)  # [p, n]
        loss = np.sum(y[:, 0][:, None] * shares[:, 0][None, :] * wrong) / (y.sum() * k[0])
        mcclish = sk_metrics.roc_auc_score(y[:, 0], z[:, 0], max_fpr=beta)
        low, high = 0.5 * beta ** 2, beta
        area = low + (2 * mcclish - 1) * (high - low) if beta < 1 else mcclish * beta
        np.testing.assert_allclose(1.0 - loss, area / beta, rtol=1e-12, atol=1e-14)


def test_pauc_at_one_is_the_roc_auc_pair_mean(xp) -> None:
    rng = np.random.default_rng(8)
    z = rng.normal(size=(10, 2))
    y = (rng.random((10, 2)) < 0.5).astype(np.int64)
    y[0], y[1] = 1, 0
    full = metricloss.partial_roc_auc_loss(xp.asarray(z), xp.asarray(y), max_fpr=1.0,
                                           reduction="none")
    pair_sum = metricloss.roc_auc_loss(xp.asarray(z), xp.asarray(y), reduction="none")
    pairs = y.sum(0) * (1 - y).sum(0)
    expected = xp.to_numpy(pair_sum).sum(0) * 10 / pairs
    assert_close(xp, full, expected, rtol=1e-5 if xp.name == "jax" else 1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_pauc_hostile_input(xp, dtype) -> None:
    if not xp.supports(dtype):
        pytest.skip(f"{xp.name} has no {dtype}")
    z = np.array([[np.inf, -np.inf], [-np.inf, 3.0], [0.5, np.inf], [0.1, -1.0]])
    y = np.array([[1.0, 0.0], [0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])

    def fn(t: Any) -> Any:
        return metricloss.partial_roc_auc_loss(t, xp.asarray(y, dtype=dtype), max_fpr=0.5)

    value, grad = xp.value_and_grad(fn, xp.asarray(z, dtype=dtype))
    assert np.all(np.isfinite(value))
    assert grad is None or np.all(np.isfinite(grad))
    assert dtype_name(fn(xp.asarray(z, dtype=dtype))) == "float32"


def test_pauc_bad_input() -> None:
    z, y = np.zeros((4, 2)), np.zeros((4, 2))
    for bad in (0.0, 1.5):
        with pytest.raises(ValueError, match="max_fpr"):
            metricloss.partial_roc_auc_loss(z, y, max_fpr=bad)
    with pytest.raises(ValueError, match="0 or 1"):
        metricloss.partial_roc_auc_loss(z, y + 0.5, max_fpr=0.5)
    with pytest.raises(ValueError, match="surrogate"):
        metricloss.partial_roc_auc_loss(z, y, max_fpr=0.5, surrogate="square")


@pytest.mark.compiled
def test_pauc_traces_with_an_unknown_batch_size(xp) -> None:
    rng = np.random.default_rng(9)
    z = rng.normal(size=(7, 3))
    y = (rng.random((7, 3)) < 0.4).astype(np.float64)
    y[0], y[1] = 1.0, 0.0

    def fn(t: Any, yy: Any) -> Any:
        return metricloss.partial_roc_auc_loss(t, yy, max_fpr=0.3)

    args = (xp.asarray(z, dtype="float32"), xp.asarray(y, dtype="float32"))
    traced = xp.trace_unknown_batch(fn, *args)
    if traced is None:
        pytest.skip(f"{xp.name} does not trace")
    assert_close(xp, traced, pauc_enumerated(z, y, 0.3, "xent").mean(), dtype="float32",
                 rtol=1e-5)
