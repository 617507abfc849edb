"""Soft confusion-matrix losses (SPEC §1) on every namespace, against independent oracles."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from metricloss import any_loss, confusion_metric_loss, sigmoid_f1_loss, soft_confusion
from metricloss.confusion import AVERAGES, METRICS
from tests.oracles import textbook_metric
from tests.support import (
    assert_close,
    assert_finite_value_and_grad,
    dtype_name,
    finite_difference_grad,
)

# --------------------------------------------------------------------------------------------
# The oracle: the four masked counts and the textbook metric formulas, in NumPy float64.
# --------------------------------------------------------------------------------------------


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def oracle_loss(p, y, metric, average, beta=1.0, w=None):
    p, y = np.asarray(p, np.float64), np.asarray(y, np.float64)
    if w is None:
        w = np.ones_like(p)
    w = np.broadcast_to(w, p.shape)
    axis = 1 if average == "samples" else 0
    tp = np.sum(w * p * y, axis=axis)
    fp = np.sum(w * p * (1 - y), axis=axis)
    fn = np.sum(w * (1 - p) * y, axis=axis)
    tn = np.sum(w * (1 - p) * (1 - y), axis=axis)
    if average == "micro":
        tp, fp, fn, tn = (np.sum(c) for c in (tp, fp, fn, tn))
    m = textbook_metric(tp, fp, fn, tn, metric, beta)
    loss = (1 - m) / 2 if metric == "mcc" else 1 - m
    return loss if average == "none" else np.mean(loss)


def _data(rng, b=7, n_labels=4, soft=False):
    z = rng.normal(scale=2.0, size=(b, n_labels))
    shape = (b, n_labels)
    y = rng.random(shape) if soft else (rng.random(shape) < 0.4).astype(np.float64)
    # Every label has a positive and a negative so that every textbook formula is defined.
    y[0, :], y[1, :] = 1.0, 0.0
    return z, y


# --------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("average", AVERAGES)
def test_values_match_masked_count_oracle(xp, rng, metric, average) -> None:
    z, y = _data(rng)
    if average == "samples":
        y[:, 0], y[:, 1] = 1.0, 0.0  # every example has a positive and a negative label
    beta = 2.0 if metric == "fbeta" else 1.0
    out = confusion_metric_loss(xp.asarray(z), xp.asarray(y), metric=metric, beta=beta,
                                average=average)
    expected = oracle_loss(_sigmoid(z), y, metric, average, beta)
    assert_close(xp, out, expected, dtype="float64")


@pytest.mark.parametrize("metric", ["f1", "mcc", "balanced_accuracy"])
def test_anyloss_transform_and_probability_input(xp, rng, metric) -> None:
    z, y = _data(rng)
    q = _sigmoid(z)
    p = _sigmoid(73.0 * (q - 0.5))
    expected = oracle_loss(p, y, metric, "macro")
    from_logits = any_loss(xp.asarray(z), xp.asarray(y), metric=metric)
    from_probs = any_loss(xp.asarray(q), xp.asarray(y), metric=metric, from_logits=False)
    assert_close(xp, from_logits, expected, dtype="float64", rtol=1e-9)
    assert_close(xp, from_probs, expected, dtype="float64", rtol=1e-9)


def test_sigmoid_f1_slope_offset_and_soft_labels(xp, rng) -> None:
    z, y = _data(rng, soft=True)
    out = sigmoid_f1_loss(xp.asarray(z), xp.asarray(y), slope=3.0, offset=-0.5)
    expected = oracle_loss(_sigmoid(3.0 * (z - 0.5)), y, "f1", "macro")
    assert_close(xp, out, expected, dtype="float64")


@pytest.mark.parametrize("average", ["macro", "micro", "samples"])
def test_hard_predictions_reproduce_scikit_learn(xp, rng, average) -> None:
    from sklearn.metrics import f1_score, jaccard_score, precision_score, recall_score

    z, y = _data(rng, b=40, n_labels=5)
    y[:, 0] = 1.0
    pred = (z > 0).astype(np.float64)
    pred[:, 1] = 1.0  # no example and no label without a predicted positive
    pred[1, :] = 1.0
    oracles = {"f1": f1_score, "precision": precision_score, "recall": recall_score,
               "jaccard": jaccard_score}
    for metric, oracle in oracles.items():
        out = any_loss(xp.asarray(pred), xp.asarray(y), metric=metric, from_logits=False,
                       average=average, amplifier=1000.0)
        assert_close(xp, out, 1.0 - oracle(y, pred, average=average), rtol=1e-9, atol=1e-12)


def test_weights_equal_dropping_and_duplicating_rows(xp, rng) -> None:
    z, y = _data(rng, b=8)
    w = np.array([1, 0, 2, 1, 0, 1, 2, 1], dtype=np.float64)
    keep = np.repeat(np.arange(8), w.astype(int))
    for metric in ("f1", "mcc", "accuracy"):
        for average in ("macro", "micro", "none"):
            weighted = confusion_metric_loss(xp.asarray(z), xp.asarray(y), metric=metric,
                                             average=average, weights=xp.asarray(w))
            repeated = oracle_loss(_sigmoid(z[keep]), y[keep], metric, average)
            assert_close(xp, weighted, repeated, dtype="float64")


def test_elementwise_weights_and_samples_example_weights(xp, rng) -> None:
    z, y = _data(rng)
    y[:, 0], y[:, 1] = 1.0, 0.0
    w2 = rng.random(z.shape)
    out = confusion_metric_loss(xp.asarray(z), xp.asarray(y), weights=xp.asarray(w2))
    assert_close(xp, out, oracle_loss(_sigmoid(z), y, "f1", "macro", w=w2), dtype="float64")
    w1 = rng.random(z.shape[0])
    p = _sigmoid(z)
    f1_b = 2 * np.sum(p * y, 1) / (np.sum(p, 1) + np.sum(y, 1))
    expected = np.sum(w1 * (1 - f1_b)) / np.sum(w1)
    out = confusion_metric_loss(xp.asarray(z), xp.asarray(y), average="samples",
                                weights=xp.asarray(w1))
    assert_close(xp, out, expected, dtype="float64")


def test_binary_input_equals_one_label(xp, rng) -> None:
    z, y = _data(rng, n_labels=1)
    for average in AVERAGES:
        one = sigmoid_f1_loss(xp.asarray(z[:, 0]), xp.asarray(y[:, 0]), average=average)
        two = sigmoid_f1_loss(xp.asarray(z), xp.asarray(y), average=average)
        expected = xp.to_numpy(two).reshape(()) if average == "none" else xp.to_numpy(two)
        assert_close(xp, one, expected, dtype="float64")


def test_soft_confusion_counts(xp, rng) -> None:
    p = rng.random((6, 3))
    y = (rng.random((6, 3)) < 0.5).astype(np.int64)
    w = rng.random((6, 1))
    tp, fp, fn, tn = soft_confusion(xp.asarray(p), xp.asarray(y), weights=xp.asarray(w))
    assert_close(xp, tp, np.sum(w * p * y, 0), dtype="float64")
    assert_close(xp, fp, np.sum(w * p * (1 - y), 0), dtype="float64")
    assert_close(xp, fn, np.sum(w * (1 - p) * y, 0), dtype="float64")
    assert_close(xp, tn, np.sum(w * (1 - p) * (1 - y), 0), dtype="float64")
    tp1, *_ = soft_confusion(xp.asarray(p), xp.asarray(y), axis=1)
    assert_close(xp, tp1, np.sum(p * y, 1), dtype="float64")


# --------------------------------------------------------------------------------------------
# Gradients
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("metric", METRICS)
def test_gradients_match_finite_differences(xp, rng, metric) -> None:
    if not xp.differentiable:
        pytest.skip(f"{xp.name} has no automatic differentiation")
    z, y = _data(rng, b=5, n_labels=3)
    z = np.clip(z, -3, 3)
    for average in ("macro", "micro", "samples"):
        if average == "samples":
            y[:, 0], y[:, 1] = 1.0, 0.0

        def fn(logits, average=average):
            return confusion_metric_loss(logits, xp.asarray(y), metric=metric, average=average)

        _, grad = xp.value_and_grad(fn, xp.asarray(z))
        expected = finite_difference_grad(
            lambda a, average=average: oracle_loss(_sigmoid(a), y, metric, average), z)
        np.testing.assert_allclose(grad, expected, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("metric", METRICS)
def test_empty_class_and_saturated_predictions_are_finite(xp, rng, metric) -> None:
    z = np.array([[1e4, -1e4, 0.3], [-1e4, 1e4, -0.2], [1e4, 1e4, 1e4]])
    y = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])  # labels 1, 2: no positive
    for transform in ("sigmoid", "anyloss"):
        for average in AVERAGES:
            def fn(logits, transform=transform, average=average):
                out = confusion_metric_loss(logits, xp.asarray(y), metric=metric,
                                            transform=transform, average=average)
                return xp.sum(out)

            assert_finite_value_and_grad(xp, fn, xp.asarray(z))


def test_empty_class_value_is_the_limit(xp) -> None:
    # A label with no positive and no predicted positive: F1 is 0, loss 1 (as the limit
    # tp/(tp + fp + fn) with tp = 0); MCC 0, loss 0.5.
    z = xp.asarray(np.array([[-1e4], [-1e4]]))
    y = xp.asarray(np.zeros((2, 1)))
    assert_close(xp, sigmoid_f1_loss(z, y), 1.0, dtype="float64")
    assert_close(xp, confusion_metric_loss(z, y, metric="mcc"), 0.5, dtype="float64")


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32"])
def test_half_precision_is_finite_and_keeps_dtype(xp, rng, dtype) -> None:
    if not xp.supports(dtype):
        pytest.skip(f"{xp.name} has no {dtype}")
    z, y = _data(rng, b=16, n_labels=5)
    z[2, :] = 6e4 if dtype == "float16" else 1e30
    y[:, 3] = 0.0
    for metric in ("f1", "mcc", "gmean"):
        for transform in ("sigmoid", "anyloss"):
            def fn(logits, metric=metric, transform=transform):
                return confusion_metric_loss(logits, xp.asarray(y), metric=metric,
                                             transform=transform)

            zz = xp.asarray(z, dtype=dtype)
            out = fn(zz)
            assert dtype_name(out) == dtype, out.dtype
            assert_finite_value_and_grad(xp, fn, zz)
            expected = oracle_loss(
                _sigmoid(np.clip(z, -80, 80)) if transform == "sigmoid"
                else _sigmoid(73 * (_sigmoid(np.clip(z, -80, 80)) - 0.5)),
                y, metric, "macro", w=None)
            if metric != "f1":
                continue  # label 3 has no positives: textbook mcc/gmean are 0/0 there
            assert abs(float(xp.to_numpy(out)) - expected) < {"float16": 5e-3,
                                                              "bfloat16": 2e-2,
                                                              "float32": 1e-5}[dtype]


# --------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------

_logits = hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=2, max_side=6),
                     elements=st.floats(-1e4, 1e4))


@given(z=_logits, data=st.data(), metric=st.sampled_from(METRICS),
       average=st.sampled_from(AVERAGES), transform=st.sampled_from(["sigmoid", "anyloss"]))
def test_property_range_and_finiteness_numpy(z, data, metric, average, transform) -> None:
    y = data.draw(hnp.arrays(np.float64, z.shape, elements=st.sampled_from([0.0, 1.0, 0.3])))
    out = np.asarray(confusion_metric_loss(z, y, metric=metric, average=average,
                                           transform=transform))
    assert np.all(np.isfinite(out))
    assert np.all(out >= -1e-12) and np.all(out <= 1 + 1e-12)


@given(z=_logits, data=st.data(), metric=st.sampled_from(METRICS),
       labels=st.sampled_from(["zeros", "ones", "random", "soft"]))
def test_property_finite_gradients_torch(z, data, metric, labels) -> None:
    torch = pytest.importorskip("torch")
    y = {"zeros": np.zeros(z.shape), "ones": np.ones(z.shape),
         "random": (np.abs(z) % 2 < 1).astype(np.float64),
         "soft": np.abs(np.sin(z))}[labels]
    zt = torch.tensor(z, requires_grad=True)
    out = confusion_metric_loss(zt, torch.tensor(y), metric=metric)
    out.backward()
    assert torch.isfinite(out) and torch.isfinite(zt.grad).all()


# --------------------------------------------------------------------------------------------
# Devices, compilation, errors
# --------------------------------------------------------------------------------------------


def test_result_stays_on_input_device() -> None:
    import array_api_strict as xps

    from tests.support import get_backend

    strict = get_backend("array_api_strict")
    device = xps.Device("device1")
    rng = np.random.default_rng(0)
    z, y = _data(rng)
    zd, yd = xps.asarray(z, device=device), xps.asarray(y, device=device)
    wd = xps.asarray(rng.random(z.shape[0]), device=device)
    for metric in METRICS:
        out = confusion_metric_loss(zd, yd, metric=metric, weights=wd, average="macro")
        assert out.device == device
        out = any_loss(zd, yd, metric=metric, average="samples", weights=2.0)
        assert out.device == device
    counts = soft_confusion(xps.asarray(_sigmoid(z), device=device), yd)
    assert all(c.device == device for c in counts)
    assert strict.name == "array_api_strict"


@pytest.mark.compiled
def test_compiled_equals_eager(xp, rng) -> None:
    z, y = _data(rng, b=6, n_labels=3)

    def fn(logits, labels):
        a = sigmoid_f1_loss(logits, labels)
        b = any_loss(logits, labels, metric="mcc", average="micro")
        c = confusion_metric_loss(logits, labels, metric="gmean", average="samples")
        return a + b + c

    zz, yy = xp.asarray(z, dtype="float32"), xp.asarray(y, dtype="float32")
    eager = xp.to_numpy(fn(zz, yy))
    compiled = xp.to_numpy(xp.compile(fn)(zz, yy))
    np.testing.assert_allclose(compiled, eager, rtol=1e-5)


def test_bad_inputs_raise_clear_errors(xp) -> None:
    z = xp.asarray(np.zeros((3, 2)))
    y = xp.asarray(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="labels must have the shape of logits"):
        sigmoid_f1_loss(z, xp.asarray(np.zeros((3, 3))))
    with pytest.raises(TypeError, match="logits must have a floating-point dtype"):
        sigmoid_f1_loss(xp.asarray(np.zeros((3, 2), dtype=np.int64)), y)
    with pytest.raises(ValueError, match="metric must be one of"):
        confusion_metric_loss(z, y, metric="auc")
    with pytest.raises(ValueError, match="average must be one of"):
        sigmoid_f1_loss(z, y, average="weighted")
    with pytest.raises(ValueError, match="transform must be one of"):
        confusion_metric_loss(z, y, transform="tanh")
    with pytest.raises(ValueError, match="beta applies to metric='fbeta'"):
        confusion_metric_loss(z, y, metric="f1", beta=2.0)
    with pytest.raises(ValueError, match="beta must be positive"):
        sigmoid_f1_loss(z, y, beta=0.0)
    with pytest.raises(ValueError, match="weights must be a scalar or have shape"):
        sigmoid_f1_loss(z, y, weights=xp.asarray(np.ones(2)))
    with pytest.raises(ValueError, match=r"logits must have shape \(B,\) or \(B, L\)"):
        sigmoid_f1_loss(xp.asarray(np.zeros((2, 2, 2))), xp.asarray(np.zeros((2, 2, 2))))
    with pytest.raises(ValueError, match=r"labels must lie in \[0.0, 1.0\]"):
        sigmoid_f1_loss(z, xp.asarray(np.full((3, 2), 2.0)))
    with pytest.raises(ValueError, match="weights must lie in"):
        sigmoid_f1_loss(z, y, weights=xp.asarray(-np.ones(3)))
    with pytest.raises(ValueError, match=r"logits \(probabilities\) must lie in"):
        any_loss(xp.asarray(np.full((3, 2), 3.0)), y, from_logits=False)
    with pytest.raises(TypeError, match="slope must be a finite number"):
        sigmoid_f1_loss(z, y, slope=float("nan"))


def test_jit_with_labels_closed_over_and_unknown_batch() -> None:
    jax = pytest.importorskip("jax")
    rng = np.random.default_rng(3)
    z, y = _data(rng)
    expected = oracle_loss(_sigmoid(z), y, "f1", "macro")
    y_closed = jax.numpy.asarray(y)  # concrete, but compared inside the trace
    out = jax.jit(lambda a: sigmoid_f1_loss(a, y_closed))(jax.numpy.asarray(z))
    np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-6)


def test_tf_function_with_unknown_batch_size_binary() -> None:
    tf = pytest.importorskip("tensorflow")
    rng = np.random.default_rng(4)
    z, y = _data(rng, n_labels=1)
    fn = tf.function(lambda a, b: sigmoid_f1_loss(a, b),
                     input_signature=[tf.TensorSpec([None], tf.float64)] * 2)
    out = fn(tf.constant(z[:, 0]), tf.constant(y[:, 0]))
    np.testing.assert_allclose(out.numpy(), oracle_loss(_sigmoid(z), y, "f1", "macro"),
                               rtol=1e-10)
