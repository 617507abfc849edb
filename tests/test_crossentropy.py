"""Multi-label categorical cross-entropy (ZLPR), dense and sparse (SPEC §2).

The oracle is an independent NumPy float64 implementation of the closed form
``log(1 + Σ (1−y)·e^{z}) + log(1 + Σ y·e^{−z})`` with weights multiplied in (not log-masks) and
its analytic gradient; hand-worked values use ``math.log``; gradients are also checked against
finite differences of the oracle.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metricloss.crossentropy import (
    multilabel_categorical_crossentropy,
    sparse_multilabel_categorical_crossentropy,
)
from tests.support import RTOL, assert_close, finite_difference_grad, get_backend

dense_loss = multilabel_categorical_crossentropy
sparse_loss = sparse_multilabel_categorical_crossentropy


# --------------------------------------------------------------------------------------------
# Oracle and data
# --------------------------------------------------------------------------------------------


def _log1p_weighted_sum_exp(a: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``log(1 + Σ_j w_j e^{a_j})`` over the last axis and its gradient in ``a`` (float64)."""
    a = np.asarray(a, np.float64)
    used = w > 0
    m = np.maximum(np.max(np.where(used, a, -np.inf), axis=-1, initial=-np.inf, keepdims=True),
                   0.0)
    terms = np.where(used, w * np.exp(np.where(used, a, 0.0) - m), 0.0)
    denominator = np.exp(-m) + terms.sum(axis=-1, keepdims=True)
    return (m + np.log(denominator))[..., 0], terms / denominator


def oracle(z: np.ndarray, y: np.ndarray, mask: np.ndarray | None = None
           ) -> tuple[np.ndarray, np.ndarray]:
    """Per-example loss and the gradient of its sum, NumPy float64."""
    z = np.asarray(z, np.float64)
    y = np.asarray(y, np.float64)
    m = np.ones_like(z) if mask is None else np.asarray(mask, np.float64)
    neg, g_neg = _log1p_weighted_sum_exp(z, (1.0 - y) * m)
    pos, g_pos = _log1p_weighted_sum_exp(-z, y * m)
    return neg + pos, g_neg - g_pos


def sparse_atol(z: np.ndarray, y: np.ndarray, dtype: str = "float64") -> np.ndarray:
    """Error bound of the sparse form per example: it subtracts only positives that are at most
    the largest negative, so ``1 − e^d ≥ 1/(P + 1)`` and the error is a few ulps of the terms
    times ``P + 1``, for every gap between positives and negatives."""
    terms = np.abs(_log1p_weighted_sum_exp(z, 1.0 - y)[0]) + np.abs(
        _log1p_weighted_sum_exp(-z, y)[0])
    return 16 * np.finfo(dtype).eps * (1 + y.sum(axis=1)) * np.maximum(1.0, terms)


def random_positives(rng: np.random.Generator, batch: int, num_labels: int, max_pos: int,
                     extra_pad: int, pad: int) -> tuple[np.ndarray, np.ndarray]:
    """Padded index lists of width ``max_pos + extra_pad`` (0 to ``max_pos`` positives per row,
    at random slots) and the equivalent dense 0/1 labels."""
    counts = rng.integers(0, min(num_labels, max_pos) + 1, size=batch)
    width = max_pos + extra_pad
    idx = np.full((batch, width), pad, dtype=np.int64)
    dense = np.zeros((batch, num_labels))
    for b, c in enumerate(counts):
        chosen = rng.choice(num_labels, size=c, replace=False)
        idx[b, rng.choice(width, size=c, replace=False)] = chosen
        dense[b, chosen] = 1.0
    return idx, dense


def value_and_grad(xp, fn, z):
    """Value of ``fn(z)`` summed to a scalar, and its gradient (None without autodiff)."""
    return xp.value_and_grad(lambda t: xp.sum(fn(t)), z)


# --------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------

# One logits shape and one index width wherever a test allows it: JAX compiles each new shape.
SHAPE = (4, 6)
WIDTH = 7


def pad_to_width(idx: np.ndarray, pad: int = -1) -> np.ndarray:
    return np.concatenate([idx, np.full((len(idx), WIDTH - idx.shape[1]), pad)], axis=1)

# The dtype a loss returns for logits of a dtype: float32 for half precision (HELPERS 6).
OUT_DTYPE = {"float64": "float64", "float32": "float32", "float16": "float32",
             "bfloat16": "float32"}

LN2, LN3 = math.log(2.0), math.log(3.0)
HAND_LOGITS = np.array([[0.0, 0.0], [LN2, LN3], [-LN2, -LN3], [LN3, -LN2]])
HAND_LABELS = np.array([[1, 0], [0, 0], [1, 1], [0, 1]])
HAND_INDICES = np.array([[0, -1], [-1, -1], [1, 0], [-1, 1]])
# Row 0: log(1+1) + log(1+1). Row 1, no positives: log(1+2+3). Row 2, every label positive:
# log(1+2+3). Row 3: log(1+3) + log(1+2).
HAND_VALUES = np.array([2 * LN2, math.log(6.0), math.log(6.0), math.log(4.0) + LN3])


@pytest.mark.float64
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_hand_worked_values(xp, reduction) -> None:
    expected = {"none": HAND_VALUES, "sum": HAND_VALUES.sum(), "mean": HAND_VALUES.mean()}
    z = xp.asarray(HAND_LOGITS)
    got = dense_loss(z, xp.asarray(HAND_LABELS), reduction=reduction)
    assert_close(xp, got, expected[reduction], dtype="float64")
    got = sparse_loss(z, xp.asarray(HAND_INDICES), reduction=reduction)
    assert_close(xp, got, expected[reduction], dtype="float64")


@pytest.mark.float64
def test_soft_labels_hand_worked(xp) -> None:
    # One label, y = 1/2, z = 0: log(1 + 1/2) twice. y = 1/4, z = ln 2: log(1 + 3/4·2) +
    # log(1 + 1/4·1/2).
    z = xp.asarray(np.array([[0.0], [LN2]]))
    y = xp.asarray(np.array([[0.5], [0.25]]))
    expected = [2 * math.log(1.5), math.log(2.5) + math.log(1.125)]
    assert_close(xp, dense_loss(z, y, reduction="none"), expected, dtype="float64")


@pytest.mark.float64
def test_binary_input_is_binary_cross_entropy(xp, rng) -> None:
    z = rng.normal(scale=3.0, size=6)
    y = rng.integers(0, 2, size=6)
    expected = np.where(y == 1, np.logaddexp(0.0, -z), np.logaddexp(0.0, z))
    got = dense_loss(xp.asarray(z), xp.asarray(y), reduction="none")
    assert_close(xp, got, expected, dtype="float64")
    assert_close(xp, dense_loss(xp.asarray(z), xp.asarray(y)), expected.mean(), dtype="float64")


@pytest.mark.float64
@pytest.mark.parametrize("labels_kind", ["bool", "int", "float", "soft"])
@pytest.mark.parametrize("masked", [False, True])
def test_dense_matches_oracle(xp, rng, labels_kind, masked) -> None:
    z = rng.normal(scale=2.0, size=SHAPE)
    y = rng.random(SHAPE) < 0.3
    y[0] = False
    y[1] = True
    mask = rng.random(SHAPE) < 0.7
    mask[2] = False
    y_np = {"bool": y, "int": y.astype(np.int32), "float": y.astype(np.float64),
            "soft": rng.random(SHAPE)}[labels_kind]
    labels = xp.asarray(y_np, dtype="float64" if labels_kind in ("float", "soft") else None)
    expected, _ = oracle(z, y_np, mask if masked else None)
    got = dense_loss(xp.asarray(z), labels, mask=xp.asarray(mask) if masked else None,
                     reduction="none")
    assert_close(xp, got, expected, dtype="float64")
    if masked:
        assert float(xp.to_numpy(got)[2]) == 0.0


@pytest.mark.float64
def test_soft_form_equals_hard_form_at_zero_and_one(xp, rng) -> None:
    z = xp.asarray(rng.normal(size=SHAPE))
    y = rng.random(SHAPE) < 0.4
    hard = dense_loss(z, xp.asarray(y), reduction="none")
    soft = dense_loss(z, xp.asarray(y.astype(np.float64)), reduction="none")
    assert_close(xp, soft, xp.to_numpy(hard), dtype="float64")


@pytest.mark.float64
def test_mask_equals_dropping_the_masked_labels(xp, rng) -> None:
    z = rng.normal(size=SHAPE)
    y = rng.random(SHAPE) < 0.5
    keep = np.sort(np.argsort(rng.random(SHAPE), axis=1)[:, :3], axis=1)  # 3 labels per row
    mask = np.zeros(SHAPE, dtype=bool)
    np.put_along_axis(mask, keep, True, axis=1)
    got = dense_loss(xp.asarray(z), xp.asarray(y), mask=xp.asarray(mask), reduction="none")
    kept = dense_loss(xp.asarray(np.take_along_axis(z, keep, axis=1)),
                      xp.asarray(np.take_along_axis(y, keep, axis=1)), reduction="none")
    assert_close(xp, got, xp.to_numpy(kept), dtype="float64", rtol=1e-12)


@pytest.mark.parametrize(("num_labels", "dtype"), [
    (1, "float64"), (7, "float64"), (300, "float64"), (10_000, "float64"), (10_000, "float32"),
])
def test_sparse_equals_dense(xp, rng, num_labels, dtype) -> None:
    if xp.name == "jax" and (num_labels, dtype) in ((7, "float64"), (10_000, "float64")):
        # JAX compiles every operation anew for each shape and dtype (CI time, issue 24): the
        # edge L = 1, a middle L and the large L (in float32) cover the same cases.
        pytest.skip("JAX: L = 1, 300 (float64) and 10,000 (float32) cover this case")
    pad = int(rng.choice([-1, -7, num_labels, num_labels + 5]))
    idx, y = random_positives(rng, 4, num_labels, max_pos=12, extra_pad=3, pad=pad)
    z = rng.normal(scale=2.0, size=(4, num_labels))
    expected, expected_grad = oracle(z, y)
    zx = xp.asarray(z, dtype=dtype)
    indices = xp.asarray(idx if num_labels % 2 else idx.astype(np.int32))
    sparse_value, sparse_grad = value_and_grad(
        xp, lambda t: sparse_loss(t, indices, pad_index=pad, reduction="none"), zx)
    # The dense form to the dtype's precision (its gradients are checked by finite differences
    # below); the sparse form within its error bound.
    rtol = RTOL[dtype]
    bound = sparse_atol(z, y, dtype)
    dense = dense_loss(zx, xp.asarray(y > 0), reduction="none")
    assert_close(xp, dense, expected, dtype=dtype)
    np.testing.assert_allclose(sparse_value, expected.sum(), rtol=rtol, atol=bound.sum())
    per_example = sparse_loss(zx, indices, pad_index=pad, reduction="none")
    assert_close(xp, per_example, expected, dtype=dtype, atol=float(bound.max()))
    if xp.differentiable:
        atol = 1e-12 if dtype == "float64" else 1e-7
        error = np.abs(sparse_grad - expected_grad)
        assert np.all(error <= atol + bound[:, None] + rtol * np.abs(expected_grad)), error.max()


@pytest.mark.float64
@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_properties_on_random_inputs(xp, data) -> None:
    """Sparse == dense == oracle, and the bounds ``softplus(max_neg z) + softplus(−min_pos z)
    ≤ loss ≤ softplus(max_neg z + log n_neg) + softplus(−min_pos z + log n_pos)``."""
    # Fixed shapes (JAX compiles each new shape); the number of positives per row varies.
    batch, num_labels = SHAPE
    seed = data.draw(st.integers(0, 2**32 - 1))
    scale = data.draw(st.sampled_from([0.1, 1.0, 5.0]))
    rng = np.random.default_rng(seed)
    idx, y = random_positives(rng, batch, num_labels, max_pos=num_labels, extra_pad=1, pad=-1)
    z = rng.normal(scale=scale, size=(batch, num_labels))
    expected, _ = oracle(z, y)
    dense = xp.to_numpy(dense_loss(xp.asarray(z), xp.asarray(y), reduction="none"))
    sparse = xp.to_numpy(sparse_loss(xp.asarray(z), xp.asarray(idx), reduction="none"))
    np.testing.assert_allclose(dense, expected, rtol=1e-10, atol=1e-12)
    assert np.all(np.abs(sparse - expected) <= sparse_atol(z, y) + 1e-12 * expected)
    pos, neg = y > 0, y == 0
    max_neg = np.max(np.where(neg, z, -np.inf), axis=1)
    min_pos = np.min(np.where(pos, z, np.inf), axis=1)
    n_neg, n_pos = np.maximum(neg.sum(1), 1), np.maximum(pos.sum(1), 1)
    lower = np.logaddexp(0, max_neg) + np.logaddexp(0, -min_pos)
    upper = np.logaddexp(0, max_neg + np.log(n_neg)) + np.logaddexp(0, -min_pos + np.log(n_pos))
    assert np.all(dense >= lower - 1e-12) and np.all(dense <= upper + 1e-12)


# --------------------------------------------------------------------------------------------
# Gradients
# --------------------------------------------------------------------------------------------


@pytest.mark.float64
@pytest.mark.parametrize("form", ["hard", "soft", "masked", "sparse", "binary"])
def test_gradients_match_finite_differences(xp, rng, form) -> None:
    if not xp.differentiable:
        pytest.skip(f"{xp.name} has no autodiff")
    shape = (6,) if form == "binary" else SHAPE
    z = rng.normal(size=shape)
    y = rng.random(shape) if form == "soft" else (rng.random(shape) < 0.4).astype(np.float64)
    mask = rng.random(shape) < 0.6 if form == "masked" else None
    idx = pad_to_width(np.array([[1, -1, 3], [-1, -1, -1], [0, 2, 4], [5, -1, -1]]))
    if form == "sparse":
        y = np.zeros(shape)
        y[0, [1, 3]] = y[2, [0, 2, 4]] = y[3, 5] = 1.0

        def fn(t):
            return sparse_loss(t, xp.asarray(idx), reduction="sum")
    else:
        yx = xp.asarray(y)
        mx = None if mask is None else xp.asarray(mask)

        def fn(t):
            return dense_loss(t, yx, mask=mx, reduction="sum")

    _, grad = xp.value_and_grad(fn, xp.asarray(z))
    if form == "binary":  # (B,) is B examples of one label each
        expected = finite_difference_grad(lambda t: oracle(t[:, None], y[:, None])[0].sum(), z)
    else:
        expected = finite_difference_grad(lambda t: oracle(t, y, mask)[0].sum(), z)
    np.testing.assert_allclose(grad, expected, rtol=1e-6, atol=1e-8)


@pytest.mark.float64
def test_label_gradient_is_finite_at_zero_and_one(xp) -> None:
    """The soft-label log-masks keep log(0) out of the backward pass in the labels too."""
    if not xp.differentiable:
        pytest.skip(f"{xp.name} has no autodiff")
    z_np = np.array([[0.3, -1.2, 2.0]])
    y = np.array([[0.0, 1.0, 0.5]])
    z = xp.asarray(z_np)
    _, grad = xp.value_and_grad(lambda t: dense_loss(z, t), xp.asarray(y))
    assert np.all(np.isfinite(grad))
    expected = finite_difference_grad(
        lambda t: oracle(z_np, np.concatenate([y[:, :2], t], axis=1))[0].sum(), y[:, 2:])
    np.testing.assert_allclose(grad[:, 2:], expected, rtol=1e-6)


# --------------------------------------------------------------------------------------------
# Hostile input
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float64", "float32", "float16", "bfloat16"])
def test_extreme_logits_and_half_precision(xp, rng, dtype) -> None:
    if not xp.supports(dtype):
        pytest.skip(f"{xp.name} has no {dtype}")
    z = rng.choice([-1e4, 1e4], size=SHAPE)
    z[0] = 1e4  # every label +1e4, rows 1-2 all -1e4
    z[1:3] = -1e4
    y = rng.random(SHAPE) < 0.5
    y[1] = False
    y[2] = True
    zx = xp.asarray(z, dtype=dtype)
    z = xp.to_numpy(zx).astype(np.float64)  # the oracle sees the logits as rounded to dtype
    expected, expected_grad = oracle(z, y)
    got = dense_loss(zx, xp.asarray(y), reduction="none")
    assert_close(xp, got, expected, dtype=OUT_DTYPE[dtype])
    # (The mean: a float16 sum of six losses of 1e4 would overflow in the test, not the loss.)
    value, grad = xp.value_and_grad(lambda t: dense_loss(t, xp.asarray(y)), zx)
    assert np.isfinite(value)
    if grad is not None:
        # Softmax weights exp(z − lse) at |z| = 1e4 carry the ulp of 1e4 in the compute dtype.
        atol = {"float64": 1e-12, "float32": 1e-4}.get(dtype, 1e-2)
        np.testing.assert_allclose(grad, expected_grad / len(z), atol=atol)
    # Soft labels and a mask through the same path: finite value and gradient.
    soft = xp.asarray(np.clip(y + 0.25 * rng.random(SHAPE), 0, 1), dtype=dtype)
    mask = xp.asarray(rng.random(SHAPE) < 0.5)
    value, grad = xp.value_and_grad(lambda t: dense_loss(t, soft, mask=mask), zx)
    expected, _ = oracle(z, xp.to_numpy(soft), xp.to_numpy(mask))
    np.testing.assert_allclose(value, expected.mean(), rtol=RTOL[dtype])
    assert grad is None or np.all(np.isfinite(grad))


@pytest.mark.parametrize("dtype", ["float64", "float32", "float16", "bfloat16"])
def test_sparse_extreme_logits(xp, rng, dtype) -> None:
    """Equal to the dense form at ±1e4, including a positive that dominates every negative
    (the published sparse form clips there), value and gradient."""
    if not xp.supports(dtype):
        pytest.skip(f"{xp.name} has no {dtype}")
    z = np.full(SHAPE, -1e4)
    z[0, :2] = 1e4  # row 0: a negative shares the top
    z[1, 1] = 1e4   # row 1: a negative dominates; row 2: everything tiny
    z[3, 0] = 1e4   # row 3: the positive dominates (clipped to 1e4 + log ε before issue 11)
    idx = pad_to_width(np.array([[0, -1], [0, 2], [3, -1], [0, -1]]))
    y = np.zeros(SHAPE)
    for b, row in enumerate(idx):
        y[b, row[row >= 0]] = 1.0
    zx = xp.asarray(z, dtype=dtype)
    z = xp.to_numpy(zx).astype(np.float64)  # the oracle sees the logits as rounded to dtype
    expected, expected_grad = oracle(z, y)
    got = sparse_loss(zx, xp.asarray(idx), reduction="none")
    assert_close(xp, got, expected, dtype=OUT_DTYPE[dtype])
    value, grad = value_and_grad(xp, lambda t: sparse_loss(t, xp.asarray(idx)), zx)
    np.testing.assert_allclose(value, expected.mean(), rtol=RTOL[OUT_DTYPE[dtype]])
    if grad is not None:
        # Softmax weights exp(z − lse) at |z| = 1e4 carry the ulp of 1e4 (1e-3 in float32),
        # times up to 1/(1 − e^d) ≤ P + 1 where positives are subtracted (row 0).
        atol = {"float64": 1e-12, "float32": 5e-4}.get(dtype, 1e-2)
        np.testing.assert_allclose(grad, expected_grad / len(z), atol=atol)


# --------------------------------------------------------------------------------------------
# Frameworks: compilation, devices (parity: tests/test_parity.py)
# --------------------------------------------------------------------------------------------


@pytest.mark.compiled
@pytest.mark.parametrize("form", ["dense", "sparse"])
def test_compiled_equals_eager(xp, rng, form) -> None:
    z = xp.asarray(rng.normal(size=(4, 6)), dtype="float32")
    idx, y = random_positives(rng, 4, 6, max_pos=3, extra_pad=1, pad=-1)
    if form == "dense":
        labels = xp.asarray(np.clip(y + 0.2, 0, 1), dtype="float32")
        mask = xp.asarray(rng.random((4, 6)) < 0.8)

        def fn(t, labels, mask):
            return dense_loss(t, labels, mask=mask, reduction="none")
        args = (z, labels, mask)
    else:
        def fn(t, indices):
            return sparse_loss(t, indices, reduction="none")
        args = (z, xp.asarray(idx))
    eager = xp.to_numpy(fn(*args))
    assert_close(xp, xp.compile(fn)(*args), eager, dtype="float32")


@pytest.mark.compiled
def test_traces_with_unknown_batch_size(xp, rng) -> None:
    """Keras traces losses with a batch dimension of ``None``."""
    if xp.name != "tensorflow":
        pytest.skip("only TensorFlow traces with unknown dimensions")
    import tensorflow as tf

    z = rng.normal(size=SHAPE)
    idx, y = random_positives(rng, *SHAPE, max_pos=5, extra_pad=2, pad=-1)
    mask = rng.random(SHAPE) < 0.8
    spec = [tf.TensorSpec([None, SHAPE[1]], tf.float64), tf.TensorSpec([None, SHAPE[1]], tf.bool)]
    dense = tf.function(lambda t, m: dense_loss(t, m, mask=m, reduction="none"),
                        input_signature=spec, autograph=False)
    expected, _ = oracle(z, mask, mask)
    assert_close(xp, dense(xp.asarray(z), xp.asarray(mask)), expected)
    spec = [tf.TensorSpec([None, SHAPE[1]], tf.float64), tf.TensorSpec([None, None], tf.int64)]
    sparse = tf.function(lambda t, i: sparse_loss(t, i), input_signature=spec, autograph=False)
    expected, _ = oracle(z, y)
    assert_close(xp, sparse(xp.asarray(z), xp.asarray(idx)), expected.mean())


@pytest.mark.float64
@pytest.mark.compiled
def test_out_of_range_indices_under_tracing_are_ignored(xp, rng) -> None:
    """Documented: without eager checks an out-of-range index counts as padding."""
    if xp.name not in ("jax", "tensorflow"):
        pytest.skip("checked where tracing is cheap")
    z = xp.asarray(rng.normal(size=SHAPE))
    bad = np.array([[1, 9, -1], [-4, 2, 4], [6, 0, -1], [-1, -1, -1]])
    padded = np.where((bad >= 0) & (bad < SHAPE[1]), bad, -1)
    bad, padded = xp.asarray(pad_to_width(bad)), xp.asarray(pad_to_width(padded))
    compiled = xp.compile(lambda t, i: sparse_loss(t, i, reduction="none"))
    assert_close(xp, compiled(z, bad), xp.to_numpy(sparse_loss(z, padded, reduction="none")))


def test_device_is_preserved(xp, rng) -> None:
    if xp.name != "array_api_strict":
        pytest.skip("fake devices exist in array_api_strict only")
    device = xp.Device("device1")
    z = rng.normal(size=(3, 5))
    idx, y = random_positives(rng, 3, 5, max_pos=2, extra_pad=1, pad=-1)
    mask = rng.random((3, 5)) < 0.8
    expected, _ = oracle(z, y, mask)
    got = dense_loss(xp.asarray(z, device=device), xp.asarray(y > 0, device=device),
                     mask=xp.asarray(mask, device=device), reduction="none")
    assert_close(xp, got, expected, dtype="float64", device=device)
    expected, _ = oracle(z, y)
    got = sparse_loss(xp.asarray(z, device=device), xp.asarray(idx, device=device))
    assert_close(xp, got, expected.mean(), dtype="float64", device=device)


# --------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------


def test_bad_dense_inputs(xp) -> None:
    z = xp.asarray(np.zeros((2, 3)))
    y = xp.asarray(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"labels must have the shape of logits \(2, 3\)"):
        dense_loss(z, xp.asarray(np.zeros((2, 4))))
    with pytest.raises(TypeError, match="logits must have a floating-point dtype"):
        dense_loss(xp.asarray(np.zeros((2, 3), dtype=np.int64)), y)
    with pytest.raises(ValueError, match="reduction must be one of 'mean', 'sum', 'none'"):
        dense_loss(z, y, reduction="avg")
    with pytest.raises(TypeError, match="mask must be a boolean array"):
        dense_loss(z, y, mask=xp.asarray(np.ones((2, 3), dtype=np.int32)))
    with pytest.raises(ValueError, match="mask must have the shape of logits"):
        dense_loss(z, y, mask=xp.asarray(np.ones((3, 2), dtype=bool)))
    with pytest.raises(ValueError, match=r"logits must have shape \(B,\) or \(B, L\)"):
        dense_loss(xp.asarray(np.zeros((2, 3, 1))), xp.asarray(np.zeros((2, 3, 1))))
    other = get_backend("array_api_strict" if xp.name == "numpy" else "numpy")
    with pytest.raises(TypeError, match="labels is a"):
        dense_loss(z, other.asarray(np.zeros((2, 3))))


def test_labels_out_of_range_raise_in_eager_mode(xp) -> None:
    with pytest.raises(ValueError, match=r"labels must lie in \[0.0, 1.0\]"):
        dense_loss(xp.asarray(np.zeros((2, 3))), xp.asarray(np.full((2, 3), 1.5)))


def test_bad_sparse_inputs(xp) -> None:
    z = xp.asarray(np.zeros((2, 5)))
    idx = np.array([[0, 1], [2, -1]])
    with pytest.raises(TypeError, match="positive_indices must have an integer dtype"):
        sparse_loss(z, xp.asarray(idx.astype(np.float64)))
    with pytest.raises(TypeError, match="positive_indices must have an integer dtype"):
        sparse_loss(z, xp.asarray(idx >= 0))
    with pytest.raises(TypeError, match="logits must have a floating-point dtype"):
        sparse_loss(xp.asarray(np.zeros((2, 5), dtype=np.int32)), xp.asarray(idx))
    with pytest.raises(ValueError, match=r"positive_indices must have shape \(2, P\)"):
        sparse_loss(z, xp.asarray(idx[:1]))
    with pytest.raises(ValueError, match=r"positive_indices must have shape \(2, P\)"):
        sparse_loss(z, xp.asarray(np.array([0, 1])))
    with pytest.raises(ValueError, match=r"logits must have shape \(B, L\) for the sparse"):
        sparse_loss(xp.asarray(np.zeros(5)), xp.asarray(idx))
    with pytest.raises(ValueError, match="pad_index must be negative or >= the number of labels"):
        sparse_loss(z, xp.asarray(idx), pad_index=0)
    with pytest.raises(TypeError, match="pad_index must be an integer"):
        sparse_loss(z, xp.asarray(idx), pad_index=-1.0)
    with pytest.raises(ValueError, match="reduction must be one of"):
        sparse_loss(z, xp.asarray(idx), reduction="batch")


@pytest.mark.parametrize(("indices", "pad", "message"), [
    ([[0, 5], [2, -1]], -1, r"in \[0, 5\) or pad_index \(-1\); found 1 other entry, e.g. 5"),
    ([[0, -2], [2, -1]], -1, r"found 1 other entry, e.g. -2"),
    ([[0, -1], [2, 7]], 5, r"pad_index \(5\); found 2 other entries, e.g. 7"),
    ([[3, 1, 3], [2, -1, -1]], -1, "must not repeat a label within a row; label 3"),
])
def test_bad_index_values_raise_in_eager_mode(xp, indices, pad, message) -> None:
    with pytest.raises(ValueError, match=message):
        sparse_loss(xp.asarray(np.zeros((2, 5))), xp.asarray(np.array(indices)), pad_index=pad)


def test_empty_batch_and_no_labels(xp) -> None:
    z = xp.asarray(np.zeros((0, SHAPE[1])))
    assert_close(xp, dense_loss(z, xp.asarray(np.zeros((0, SHAPE[1])))), 0.0, dtype="float64")
    assert_close(xp, sparse_loss(z, xp.asarray(np.zeros((0, WIDTH), dtype=np.int64))), 0.0,
                 dtype="float64")
    z = xp.asarray(np.ones(SHAPE))
    got = sparse_loss(z, xp.asarray(np.zeros((SHAPE[0], 0), dtype=np.int64)), reduction="none")
    assert_close(xp, got, np.full(SHAPE[0], math.log(1 + SHAPE[1] * math.e)), dtype="float64")


# --------------------------------------------------------------------------------------------
# Issue 11: confident positives (B), infinite logits (C), NaN labels (D), None (E)
# --------------------------------------------------------------------------------------------

# Logits (1, 3) and positives (1, 2) padded with -1; the dense float64 value of the first two
# is from the issue (2.13 and 0.0067; the old sparse form gave 14.06 and 9984).
CONFIDENT = {
    "issue-30-2-m10": ([[30.0, 2.0, -10.0]], [[0, -1]]),
    "issue-1e4-5": ([[1e4, 5.0, -3.0]], [[0, 1]]),
    "gap-60-float64-regime": ([[60.0, 2.0, -10.0]], [[0, -1]]),
    "two-dominant": ([[40.0, 35.0, 1.0]], [[1, 0]]),
    "one-above-one-below": ([[25.0, -2.0, 0.5]], [[0, 1]]),
    "negative-ties-positive": ([[30.0, 30.0, 0.0]], [[0, -1]]),
    "all-positive": ([[30.0, 29.0, 28.0]], [[2, 0]]),
}


def dense_labels(idx: np.ndarray, num_labels: int) -> np.ndarray:
    y = np.zeros((len(idx), num_labels))
    for b, row in enumerate(idx):
        y[b, row[(row >= 0) & (row < num_labels)]] = 1.0
    return y


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16", "float64"])
@pytest.mark.parametrize("case", list(CONFIDENT), ids=list(CONFIDENT))
def test_sparse_equals_dense_for_confident_positives(xp, case, dtype) -> None:
    """Issue 11 B: value and gradient of the sparse form equal the dense float64 form."""
    if not xp.supports(dtype):
        pytest.skip(f"{xp.name} has no {dtype}")
    logits, positives = CONFIDENT[case]
    if case == "issue-1e4-5" and dtype == "float16":
        logits = [[6e4, 5.0, -3.0]]  # float16 tops out at 65504
    zx = xp.asarray(np.array(logits), dtype=dtype)
    z = xp.to_numpy(zx).astype(np.float64)  # the oracle sees the logits as rounded to dtype
    idx = np.array(positives)
    y = dense_labels(idx, z.shape[1])
    expected, expected_grad = oracle(z, y)
    out = OUT_DTYPE[dtype]
    indices = xp.asarray(idx)
    assert_close(xp, sparse_loss(zx, indices, reduction="none"), expected, dtype=out)
    assert_close(xp, dense_loss(zx, xp.asarray(y > 0), reduction="none"), expected, dtype=out)
    value, grad = xp.value_and_grad(lambda t: sparse_loss(t, indices, reduction="sum"), zx)
    np.testing.assert_allclose(value, expected.sum(), rtol=RTOL[out])
    if grad is not None:  # the gradient has the logits' dtype: rounded to half for half
        np.testing.assert_allclose(grad, expected_grad, rtol=RTOL[dtype], atol=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sparse_equals_dense_for_every_gap(xp, dtype) -> None:
    """Property (issue 11 B): for any shift of some positives by a gap in [0, 1e4], the sparse
    value and gradient equal the dense float64 form (the old form parted at a gap of 16)."""
    if not xp.supports(dtype):
        pytest.skip(f"{xp.name} has no {dtype}")

    @settings(deadline=None, max_examples=30,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(seed=st.integers(0, 2**32 - 1),
           gap=st.one_of(st.floats(0.0, 1e4), st.sampled_from([15.0, 16.0, 17.0, 36.0, 37.0])),
           scale=st.sampled_from([0.1, 1.0, 5.0]))
    def check(seed: int, gap: float, scale: float) -> None:
        rng = np.random.default_rng(seed)
        idx, y = random_positives(rng, *SHAPE, max_pos=4, extra_pad=WIDTH - 4, pad=-1)
        z = rng.normal(scale=scale, size=SHAPE)
        lifted = (y > 0) & (rng.random(SHAPE) < 0.7)
        z = np.where(lifted, z + gap, z)
        zx = xp.asarray(z, dtype=dtype)
        z = xp.to_numpy(zx).astype(np.float64)
        expected, expected_grad = oracle(z, y)
        indices = xp.asarray(idx)
        got = xp.to_numpy(sparse_loss(zx, indices, reduction="none"))
        np.testing.assert_allclose(got, expected, rtol=RTOL[dtype],
                                   atol=float(sparse_atol(z, y, dtype).max()))
        _, grad = xp.value_and_grad(lambda t: sparse_loss(t, indices, reduction="sum"), zx)
        if grad is not None:
            atol = 1e-12 if dtype == "float64" else 2e-6
            np.testing.assert_allclose(grad, expected_grad, rtol=RTOL[dtype], atol=atol)

    check()


INFINITE = {
    # (logits, positives): +inf on a positive, −inf on a negative; both have a finite limit.
    "plus-inf-positive": ([[np.inf, 0.0, 1.0]], [[0, -1]]),
    "minus-inf-negative": ([[2.0, -np.inf, 0.5]], [[0, -1]]),
    "both": ([[np.inf, -np.inf, 0.5]], [[0, 2]]),
}


@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("case", list(INFINITE), ids=list(INFINITE))
def test_infinite_logits_give_the_limit(xp, case, dtype) -> None:
    """Issue 11 C: the limit value and a finite gradient, sparse and dense."""
    if not xp.supports(dtype):
        pytest.skip(f"{xp.name} has no {dtype}")
    logits, positives = CONFIDENT.get(case, INFINITE[case])
    z = np.array(logits)
    idx = np.array(positives)
    y = dense_labels(idx, z.shape[1])
    finite = np.where(np.isinf(z), np.sign(z) * 1e3, z)  # the limit: e^{−1000} is 0
    expected, expected_grad = oracle(finite, y)
    zx = xp.asarray(z, dtype=dtype)
    for fn in (lambda t: sparse_loss(t, xp.asarray(idx), reduction="sum"),
               lambda t: dense_loss(t, xp.asarray(y > 0), reduction="sum")):
        value, grad = xp.value_and_grad(fn, zx)
        np.testing.assert_allclose(value, expected.sum(), rtol=1e-5)
        if grad is not None:
            np.testing.assert_allclose(grad, expected_grad, rtol=RTOL[dtype], atol=1e-6)


WRONG_SIDE = {
    # +inf on a negative, −inf on a positive: the limit loss is +inf; the losses read logits in
    # [−H, H] (H = 2**63 below float64), so they give a huge finite loss with a finite gradient.
    "plus-inf-negative": ([[np.inf, 0.0, 1.0]], [[1, -1]]),
    "minus-inf-positive": ([[-np.inf, 0.0, 1.0]], [[0, -1]]),
}


@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("case", list(WRONG_SIDE), ids=list(WRONG_SIDE))
def test_wrong_side_infinite_logits_stay_finite(xp, case, dtype) -> None:
    """Issue 11 C, the other side: no NaN. The value is the loss at ±H (closed form: the
    infinite logit dominates its sum, log(1 + e^H + ...) = H to float precision) and the
    gradient is the dense oracle's at ±H, whose entry at the clipped logit is 0."""
    if not xp.supports(dtype):
        pytest.skip(f"{xp.name} has no {dtype}")
    logits, positives = WRONG_SIDE[case]
    z = np.array(logits)
    idx = np.array(positives)
    y = dense_labels(idx, z.shape[1])
    h = 2.0**63
    clipped = np.clip(z, -h, h)
    expected, expected_grad = oracle(clipped, y)
    expected_grad = np.where(np.isinf(z), 0.0, expected_grad)  # clip: no gradient past ±H
    zx = xp.asarray(z, dtype=dtype)
    for fn in (lambda t: sparse_loss(t, xp.asarray(idx), reduction="sum"),
               lambda t: dense_loss(t, xp.asarray(y > 0), reduction="sum")):
        value, grad = xp.value_and_grad(fn, zx)
        assert np.isfinite(value)
        np.testing.assert_allclose(value, expected.sum(), rtol=1e-5)
        if grad is not None:
            assert np.all(np.isfinite(grad))
            np.testing.assert_allclose(grad, expected_grad, rtol=RTOL[dtype], atol=1e-6)


def test_nan_labels_give_nan(xp) -> None:
    """Issue 11 D: a NaN label is not silently dropped (it was: ``[[nan, 1.]]`` gave 0.693)."""
    z = xp.asarray(np.array([[0.0, 0.0], [0.5, -1.0]]), dtype="float32")
    y = xp.asarray(np.array([[np.nan, 1.0], [0.0, 1.0]]), dtype="float32")
    got = xp.to_numpy(dense_loss(z, y, reduction="none"))
    assert np.isnan(got[0]) and np.isfinite(got[1])
    assert np.isnan(xp.to_numpy(dense_loss(z, y)))
    masked = np.array([[False, True], [True, True]])
    got = xp.to_numpy(dense_loss(z, y, mask=xp.asarray(masked), reduction="none"))
    assert np.all(np.isfinite(got))  # a masked-out label takes no part, NaN or not


@pytest.mark.parametrize("which", ["logits", "labels", "positive_indices"])
def test_none_raises_type_error_naming_the_argument(xp, which) -> None:
    """Issue 11 E."""
    z = xp.asarray(np.zeros((2, 3)), dtype="float32")
    if which == "positive_indices":
        with pytest.raises(TypeError, match="positive_indices must be an array"):
            sparse_loss(z, None)
        return
    y = xp.asarray(np.zeros((2, 3)), dtype="float32")
    args = {"logits": z, "labels": y, which: None}
    with pytest.raises(TypeError, match=f"{which} must be an array"):
        dense_loss(args["logits"], args["labels"])
    if which == "logits":
        with pytest.raises(TypeError, match="logits must be an array"):
            sparse_loss(None, xp.asarray(np.zeros((2, 1), dtype=np.int32)))


# --------------------------------------------------------------------------------------------
# HELPERS decisions 4-6, 9: reduction, empty input, half precision, unknown batch size
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("form", ["dense", "sparse"])
def test_half_precision_returns_float32(xp, rng, form, reduction, dtype) -> None:
    if not xp.supports(dtype):
        pytest.skip(f"{xp.name} has no {dtype}")
    zx = xp.asarray(rng.normal(scale=3.0, size=SHAPE), dtype=dtype)
    z = xp.to_numpy(zx).astype(np.float64)
    idx, y = random_positives(rng, *SHAPE, max_pos=3, extra_pad=WIDTH - 3, pad=-1)
    per_example, _ = oracle(z, y)
    expected = {"none": per_example, "mean": per_example.mean(), "sum": per_example.sum()}
    if form == "dense":
        got = dense_loss(zx, xp.asarray(y > 0), reduction=reduction)
    else:
        got = sparse_loss(zx, xp.asarray(idx), reduction=reduction)
    assert_close(xp, got, expected[reduction], dtype="float32")


@pytest.mark.parametrize("shape", [(0, 6), (4, 0)], ids=["B=0", "L=0"])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("form", ["dense", "sparse"])
def test_empty_inputs_give_zero_with_zero_gradient(xp, form, reduction, shape) -> None:
    """HELPERS 5: 0 (an empty array for "none" when B = 0), a zero finite gradient."""
    z = xp.asarray(np.zeros(shape), dtype="float32")
    if form == "dense":
        labels = xp.asarray(np.zeros(shape, dtype=bool))

        def fn(t):
            return dense_loss(t, labels, reduction=reduction)
    else:
        indices = xp.asarray(np.full((shape[0], 2), -1, dtype=np.int32))

        def fn(t):
            return sparse_loss(t, indices, reduction=reduction)
    got = fn(z)
    expected = np.zeros(shape[0]) if reduction == "none" else 0.0
    assert_close(xp, got, expected, dtype="float32")
    _, grad = xp.value_and_grad(lambda t: xp.sum(fn(t)), z)
    if grad is not None:
        assert grad.shape == shape and np.all(grad == 0.0)


@pytest.mark.compiled
@pytest.mark.parametrize("form", ["dense", "sparse"])
def test_unknown_batch_size_equals_eager(xp, rng, form) -> None:
    """HELPERS 9: traced with an unknown batch size (tf.function (None, L) signature,
    torch.compile dynamic, jax.export symbolic), equal to eager on two batch sizes."""
    if xp.name in ("numpy", "array_api_strict"):
        pytest.skip(f"{xp.name} does not trace")
    for batch in (4, 7):
        z = xp.asarray(rng.normal(scale=3.0, size=(batch, SHAPE[1])), dtype="float32")
        idx, y = random_positives(rng, batch, SHAPE[1], max_pos=3, extra_pad=1, pad=-1)
        if form == "dense":
            def fn(t, labels):
                return dense_loss(t, labels, reduction="none")

            args = (z, xp.asarray(y > 0))
        else:
            def fn(t, indices):
                return sparse_loss(t, indices, reduction="none")

            args = (z, xp.asarray(idx.astype(np.int32)))
        traced = xp.trace_unknown_batch(fn, *args)
        assert_close(xp, traced, xp.to_numpy(fn(*args)), dtype="float32")
        mean = xp.trace_unknown_batch(
            lambda t, a: (dense_loss if form == "dense" else sparse_loss)(t, a), *args)
        assert_close(xp, mean, float(np.mean(xp.to_numpy(fn(*args)))), dtype="float32")
