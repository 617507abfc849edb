"""Soft confusion-matrix losses (SPEC §1) on every namespace, against independent oracles."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from metricloss import any_loss, confusion_metric_loss, sigmoid_f1_loss, soft_confusion
from metricloss.confusion import AVERAGES, METRICS, TRANSFORMS
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


def _zero_division_metric(tp, fp, fn, tn, metric, beta=1.0):
    """The textbook metric with 0/0 taken as 0 term by term (an empty side contributes 0)."""
    def div(a, b):
        a, b = np.broadcast_arrays(np.asarray(a, np.float64), np.asarray(b, np.float64))
        return np.divide(a, b, out=np.zeros_like(a), where=b > 0)

    if metric in ("balanced_accuracy", "gmean"):
        tpr, tnr = div(tp, tp + fn), div(tn, tn + fp)
        return (tpr + tnr) / 2 if metric == "balanced_accuracy" else np.sqrt(tpr * tnr)
    if metric == "mcc":
        return div(tp * tn - fp * fn, np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)))
    if metric == "accuracy":
        return div(tp + tn, tp + fp + fn + tn)
    b2 = beta**2 if metric == "fbeta" else 1.0
    num = {"precision": tp, "recall": tp, "jaccard": tp}.get(metric, (1 + b2) * tp)
    den = {"precision": tp + fp, "recall": tp + fn, "jaccard": tp + fp + fn}.get(
        metric, (1 + b2) * tp + b2 * fn + fp)
    return div(num, den)


def oracle_loss(p, y, metric, average, beta=1.0, w=None, zero_division=False):
    """The loss from the four masked counts and the textbook metric (NumPy float64);
    ``zero_division``: 0/0 terms are 0 (labels with an empty side)."""
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
    formula = _zero_division_metric if zero_division else textbook_metric
    m = formula(tp, fp, fn, tn, metric, beta)
    loss = (1 - m) / 2 if metric == "mcc" else 1 - m
    return loss if average == "none" else np.mean(loss)


B, L = 8, 4  # one shape for the module (JAX compiles per shape)


def _data(rng, b=B, n_labels=L, soft=False):
    z = rng.normal(scale=2.0, size=(b, n_labels))
    shape = (b, n_labels)
    y = rng.random(shape) if soft else (rng.random(shape) < 0.4).astype(np.float64)
    # Every label has a positive and a negative so that every textbook formula is defined.
    y[0, :], y[1, :] = 1.0, 0.0
    return z, y


# --------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------


@pytest.mark.float64
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


@pytest.mark.float64
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


@pytest.mark.float64
def test_sigmoid_f1_slope_offset_and_soft_labels(xp, rng) -> None:
    z, y = _data(rng, soft=True)
    out = sigmoid_f1_loss(xp.asarray(z), xp.asarray(y), slope=3.0, offset=-0.5)
    expected = oracle_loss(_sigmoid(3.0 * (z - 0.5)), y, "f1", "macro")
    assert_close(xp, out, expected, dtype="float64")


@pytest.mark.float64
@pytest.mark.parametrize("average", ["macro", "micro", "samples"])
@pytest.mark.parametrize("metric", ["f1", "precision", "recall", "jaccard"])
def test_hard_predictions_reproduce_scikit_learn(xp, rng, metric, average) -> None:
    import sklearn.metrics

    oracle = getattr(sklearn.metrics, f"{metric}_score")
    z, y = _data(rng)
    y[:, 0] = 1.0
    pred = (z > 0).astype(np.float64)
    pred[:, 1] = 1.0  # no example and no label without a predicted positive
    pred[1, :] = 1.0
    out = any_loss(xp.asarray(pred), xp.asarray(y), metric=metric, from_logits=False,
                   average=average, amplifier=1000.0)
    assert_close(xp, out, 1.0 - oracle(y, pred, average=average), rtol=1e-9, atol=1e-12)


@pytest.mark.float64
@pytest.mark.parametrize("average", ["macro", "micro", "none"])
@pytest.mark.parametrize("metric", ["f1", "mcc", "accuracy"])
def test_weights_equal_dropping_and_duplicating_rows(xp, rng, metric, average) -> None:
    z, y = _data(rng)
    w = np.array([1, 0, 2, 1, 0, 1, 2, 1], dtype=np.float64)
    keep = np.repeat(np.arange(B), w.astype(int))
    weighted = confusion_metric_loss(xp.asarray(z), xp.asarray(y), metric=metric,
                                     average=average, weights=xp.asarray(w))
    repeated = oracle_loss(_sigmoid(z[keep]), y[keep], metric, average)
    assert_close(xp, weighted, repeated, dtype="float64")


@pytest.mark.float64
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


@pytest.mark.float64
@pytest.mark.parametrize("average", AVERAGES)
def test_binary_input_equals_one_label(xp, rng, average) -> None:
    z, y = _data(rng, n_labels=1)
    one = sigmoid_f1_loss(xp.asarray(z[:, 0]), xp.asarray(y[:, 0]), average=average)
    two = sigmoid_f1_loss(xp.asarray(z), xp.asarray(y), average=average)
    expected = xp.to_numpy(two).reshape(()) if average == "none" else xp.to_numpy(two)
    assert_close(xp, one, expected, dtype="float64")


@pytest.mark.float64
def test_soft_confusion_counts(xp, rng) -> None:
    p = rng.random((B, L))
    y = (rng.random((B, L)) < 0.5).astype(np.int64)
    w = rng.random((B, 1))
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


@pytest.mark.float64
@pytest.mark.parametrize("average", ["macro", "micro", "samples"])
@pytest.mark.parametrize("metric", METRICS)
def test_gradients_match_finite_differences(xp, rng, metric, average) -> None:
    if not xp.differentiable:
        pytest.skip(f"{xp.name} has no automatic differentiation")
    z, y = _data(rng)
    z = np.clip(z, -3, 3)
    if average == "samples":
        y[:, 0], y[:, 1] = 1.0, 0.0

    def fn(logits):
        return confusion_metric_loss(logits, xp.asarray(y), metric=metric, average=average)

    _, grad = xp.value_and_grad(fn, xp.asarray(z))
    expected = finite_difference_grad(lambda a: oracle_loss(_sigmoid(a), y, metric, average), z)
    np.testing.assert_allclose(grad, expected, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("average", AVERAGES)
@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize("metric", METRICS)
def test_empty_class_and_saturated_predictions_are_finite(xp, metric, transform, average) -> None:
    z = np.array([[1e4, -1e4, 0.3], [-1e4, 1e4, -0.2], [1e4, 1e4, 1e4]])
    y = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])  # labels 1, 2: no positive

    def fn(logits):
        out = confusion_metric_loss(logits, xp.asarray(y), metric=metric, transform=transform,
                                    average=average)
        return xp.sum(out)

    assert_finite_value_and_grad(xp, fn, xp.asarray(z))


@pytest.mark.float64
def test_empty_class_value_is_the_limit(xp) -> None:
    # A label with no positive and no predicted positive: F1 is 0, loss 1 (as the limit
    # tp/(tp + fp + fn) with tp = 0); MCC 0, loss 0.5.
    z = xp.asarray(np.array([[-1e4], [-1e4]]))
    y = xp.asarray(np.zeros((2, 1)))
    assert_close(xp, sigmoid_f1_loss(z, y), 1.0, dtype="float64")
    assert_close(xp, confusion_metric_loss(z, y, metric="mcc"), 0.5, dtype="float64")


@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize("metric", ["f1", "mcc", "gmean"])
@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32"])
def test_half_precision_is_finite_and_returns_float32(xp, rng, dtype, metric, transform) -> None:
    if not xp.supports(dtype):
        pytest.skip(f"{xp.name} has no {dtype}")
    z, y = _data(rng)
    z[2, :] = 6e4 if dtype == "float16" else 1e30
    y[:, 3] = 0.0

    def fn(logits):
        return confusion_metric_loss(logits, xp.asarray(y), metric=metric, transform=transform)

    zz = xp.asarray(z, dtype=dtype)
    out = fn(zz)
    assert dtype_name(out) == "float32", out.dtype
    none = confusion_metric_loss(zz, xp.asarray(y), metric=metric, transform=transform,
                                 average="none")
    assert dtype_name(none) == "float32", none.dtype
    assert_finite_value_and_grad(xp, fn, zz)
    zq = xp.to_numpy(zz).astype(np.float64)  # the values the loss sees
    q = _sigmoid(np.clip(zq, -80, 80))
    expected = oracle_loss(q if transform == "sigmoid" else _sigmoid(73 * (q - 0.5)), y,
                           metric, "macro", zero_division=True)
    assert abs(float(xp.to_numpy(out)) - expected) < 1e-5


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


@pytest.mark.float64
@given(z=hnp.arrays(np.float64, (4, 3), elements=st.floats(-8, 8)),
       side=st.sampled_from(["ones", "zeros", "columns"]), metric=st.sampled_from(METRICS),
       average=st.sampled_from(AVERAGES), w=st.sampled_from([None, 1000.0, 0.5]))
def test_property_one_sided_labels_float32_equals_float64(z, side, metric, average, w) -> None:
    # Issue 11 A: a label (or example) with no negatives or no positives. The float32 loss and
    # its gradient must be float64's (the negatives' counts used to cancel and get divided by
    # eps), and the loss must stay in [0, 1].
    y = {"ones": np.ones(z.shape), "zeros": np.zeros(z.shape),
         "columns": np.array([[1.0, 0.0, 1.0]] * 4)}[side]
    kw = dict(metric=metric, average=average, weights=w)
    lo = np.asarray(confusion_metric_loss(z.astype(np.float32), y, **kw))
    hi = np.asarray(confusion_metric_loss(z, y, **kw))
    assert lo.dtype == np.float32
    assert np.all(lo >= 0) and np.all(lo <= 1), lo
    np.testing.assert_allclose(lo, hi, rtol=1e-5, atol=1e-6)
    torch = pytest.importorskip("torch")
    grads = []
    for dtype in (torch.float32, torch.float64):
        zt = torch.tensor(z, dtype=dtype, requires_grad=True)
        torch.sum(confusion_metric_loss(zt, torch.tensor(y), **kw)).backward()
        grads.append(zt.grad.double().numpy())
    scale = max(1.0, float(np.max(np.abs(grads[1]))))
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-4, atol=1e-5 * scale)


# --------------------------------------------------------------------------------------------
# Devices, compilation, errors
# --------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------
# Issue 11 reproducers: one-sided labels (A), empty input (F), slope (G), None (E)
# --------------------------------------------------------------------------------------------

_HALF_TOL = {"float32": (1e-5, 1e-7), "float16": (2e-2, 1e-4), "bfloat16": (5e-2, 1e-3)}


def _dtype_or_skip(xp, dtype):
    if not xp.supports(dtype):
        pytest.skip(f"{xp.name} has no {dtype}")


@pytest.mark.parametrize("metric", ["balanced_accuracy", "gmean", "accuracy", "mcc"])
@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("case", ["no_negatives", "no_positives", "heavy_weight"])
def test_one_sided_label_matches_float64_and_finite_differences(xp, case, dtype, metric) -> None:
    # Issue 11 A: [-3, -2] against ones (float32 gave 1.256 for balanced accuracy, float64
    # 0.958; torch's gradient was [0, 0]); weight 1000 and logit -17 (gave 99.18).
    _dtype_or_skip(xp, dtype)
    z = {"no_negatives": [-3.0, -2.0], "no_positives": [1.5, -0.5],
         "heavy_weight": [-17.0]}[case]
    y = np.zeros(len(z)) if case == "no_positives" else np.ones(len(z))
    w = 1000.0 if case == "heavy_weight" else None
    zz = xp.asarray(np.array(z), dtype=dtype)
    zq = xp.to_numpy(zz).astype(np.float64)  # the values the loss sees

    def oracle(a):
        return oracle_loss(_sigmoid(a)[:, None], y[:, None], metric, "macro", zero_division=True)

    def fn(logits):
        return confusion_metric_loss(logits, xp.asarray(y), metric=metric, weights=w)

    _, grad = xp.value_and_grad(fn, zz)
    rtol, atol = _HALF_TOL[dtype]
    assert_close(xp, fn(zz), oracle(zq), dtype="float32", rtol=rtol, atol=atol)
    if grad is not None:
        expected = finite_difference_grad(oracle, zq)
        np.testing.assert_allclose(grad, expected, rtol=max(rtol, 1e-3), atol=1e-6)


@pytest.mark.parametrize("metric", ["gmean", "mcc"])
def test_confident_logits_keep_the_specificity_in_float32(xp, metric) -> None:
    # Issue 21, item 12: at logits of 17, σ(z) is exactly 1.0 in float32, so 1 − σ(z) summed
    # gave tn = 0: gmean loss 1.0 where float64 gives 0.99980, and no gradient through tn.
    # The oracle: the loss in float64 with 1 − p = σ(−z) written as 1/(1 + e^z) (no
    # cancellation); its gradient by finite differences.
    rng = np.random.default_rng(12)
    y = (rng.random((B, L)) < 0.5).astype(np.float64)
    y[0, :], y[1, :] = 1.0, 0.0
    z = 17.0 + rng.uniform(-0.5, 0.5, size=(B, L))
    zz = xp.asarray(z, dtype="float32")
    zq = xp.to_numpy(zz).astype(np.float64)  # the values the loss sees

    def oracle(a):
        p, q = 1.0 / (1.0 + np.exp(-a)), 1.0 / (1.0 + np.exp(a))
        tp, fp = np.sum(p * y, axis=0), np.sum(p * (1 - y), axis=0)
        fn, tn = np.sum(q * y, axis=0), np.sum(q * (1 - y), axis=0)
        m = textbook_metric(tp, fp, fn, tn, metric)
        return float(np.mean((1 - m) / 2 if metric == "mcc" else 1 - m))

    def fn(logits):
        return confusion_metric_loss(logits, xp.asarray(y, dtype="float32"), metric=metric)

    value, grad = xp.value_and_grad(fn, zz)
    expected = oracle(zq)
    assert abs(expected - (1.0 if metric == "gmean" else 0.5)) > 1e-6  # not the rounded value
    np.testing.assert_allclose(value, expected, rtol=1e-6)
    if grad is not None:
        expected_grad = finite_difference_grad(oracle, zq, h=1e-3)
        np.testing.assert_allclose(grad, expected_grad, rtol=1e-3,
                                   atol=1e-3 * np.max(np.abs(expected_grad)))


def test_issue_reproducer_balanced_accuracy_float32_numpy() -> None:
    out = confusion_metric_loss(np.array([-3.0, -2.0], np.float32), np.ones(2),
                                metric="balanced_accuracy")
    assert abs(float(out) - 0.9583428) < 1e-6


@pytest.mark.parametrize("average", AVERAGES)
@pytest.mark.parametrize("metric", ["f1", "mcc", "balanced_accuracy"])
@pytest.mark.parametrize("shape", [(0, 3), (4, 0), (0,)], ids=["B=0", "L=0", "binary-B=0"])
def test_empty_input_gives_zero_with_zero_gradient(xp, shape, metric, average) -> None:
    # Issue 11 F: NaN before (mcc with samples; sigmoid_f1_loss on (4, 0)).
    zz = xp.asarray(np.zeros(shape), dtype="float32")

    def fn(logits):
        return confusion_metric_loss(logits, xp.asarray(np.zeros(shape)), metric=metric,
                                     average=average)

    out = fn(zz)
    expected = np.zeros(shape[1:] if average == "none" else ())
    assert_close(xp, out, expected, dtype="float32", atol=0.0)
    value, grad = xp.value_and_grad(lambda a: xp.sum(fn(a)), zz)
    assert np.all(value == 0)
    if grad is not None:
        assert grad.shape == shape and np.all(grad == 0)
    counts = soft_confusion(zz, xp.asarray(np.zeros(shape)))
    assert all(np.all(xp.to_numpy(c) == 0) for c in counts)


@pytest.mark.parametrize("slope", [0.0, -1.0])
def test_non_positive_slope_raises(xp, slope) -> None:
    z = xp.asarray(np.zeros((B, L)))
    with pytest.raises(ValueError, match="slope must lie in"):
        sigmoid_f1_loss(z, z, slope=slope)
    with pytest.raises(ValueError, match="slope must lie in"):
        confusion_metric_loss(xp.asarray(np.zeros((2, 3, 4))),
                              xp.asarray(np.zeros((2, 4), np.int64)), multiclass=True,
                              slope=slope)


@pytest.mark.parametrize("fn", [sigmoid_f1_loss, any_loss, confusion_metric_loss, soft_confusion])
def test_none_array_raises_type_error_naming_it(xp, fn) -> None:
    z = xp.asarray(np.zeros((B, L)))
    first = "probs" if fn is soft_confusion else "logits"
    with pytest.raises(TypeError, match=f"{first} must be an array"):
        fn(None, z)
    with pytest.raises(TypeError, match="labels must be an array"):
        fn(z, None)


# --------------------------------------------------------------------------------------------
# from_logits=False: probabilities in, no second sigmoid (issue 13)
# --------------------------------------------------------------------------------------------


@pytest.mark.float64
@pytest.mark.parametrize("slope, offset", [(1.0, 0.0), (3.0, -0.5), (0.5, 1.0)],
                         ids=["identity", "steep", "flat"])
@pytest.mark.parametrize("metric", ["f1", "balanced_accuracy"])
def test_probabilities_equal_logits_of_them(xp, rng, metric, slope, offset) -> None:
    z, y = _data(rng)
    q = _sigmoid(z)
    logit_q = np.log(q) - np.log1p(-q)
    kw = dict(metric=metric, slope=slope, offset=offset)
    from_probs = confusion_metric_loss(xp.asarray(q), xp.asarray(y), from_logits=False, **kw)
    from_logits = confusion_metric_loss(xp.asarray(logit_q), xp.asarray(y), **kw)
    assert_close(xp, from_probs, xp.to_numpy(from_logits), dtype="float64", rtol=1e-9)
    preset = sigmoid_f1_loss(xp.asarray(q), xp.asarray(y), slope=slope, offset=offset,
                             from_logits=False)
    expected = oracle_loss(_sigmoid(slope * (logit_q + offset)), y, "f1", "macro")
    assert_close(xp, preset, expected, dtype="float64", rtol=1e-9)


@pytest.mark.parametrize("slope", [1.0, 3.0, 0.5])
def test_probabilities_zero_and_one_give_limits_with_finite_gradients(xp, rng, slope) -> None:
    q = np.array([[0.0, 1.0, 0.3], [1.0, 0.0, 0.9]])
    y = np.array([[0.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    inside = np.clip(q, 0.01, 0.99)
    limit_logits = np.where(q == 0, -1e4, np.where(q == 1, 1e4,
                                                   np.log(inside) - np.log1p(-inside)))

    def fn(probs):
        return sigmoid_f1_loss(probs, xp.asarray(y), slope=slope, from_logits=False)

    expected = xp.to_numpy(sigmoid_f1_loss(xp.asarray(limit_logits), xp.asarray(y), slope=slope))
    assert_close(xp, fn(xp.asarray(q)), expected, rtol=1e-12)
    assert_finite_value_and_grad(xp, fn, xp.asarray(q))
    with pytest.raises(ValueError, match=r"logits \(probabilities\) must lie in"):
        fn(xp.asarray(q + 0.5))


# --------------------------------------------------------------------------------------------
# Devices, compilation, unknown batch sizes, errors
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("metric", METRICS)
def test_result_stays_on_input_device(metric) -> None:
    from tests.support import get_backend

    strict = get_backend("array_api_strict")
    device = strict.Device("device1")
    rng = np.random.default_rng(0)
    z, y = _data(rng)
    zd, yd = strict.asarray(z, device=device), strict.asarray(y, device=device)
    wd = strict.asarray(rng.random(z.shape[0]), device=device)
    out = confusion_metric_loss(zd, yd, metric=metric, weights=wd, average="macro")
    assert out.device == device
    out = any_loss(zd, yd, metric=metric, average="samples", weights=2.0)
    assert out.device == device
    counts = soft_confusion(strict.asarray(_sigmoid(z), device=device), yd, weights=2.0)
    assert all(c.device == device for c in counts)


@pytest.mark.compiled
def test_compiled_equals_eager(xp, rng) -> None:
    z, y = _data(rng)

    def fn(logits, labels):
        a = sigmoid_f1_loss(logits, labels)
        b = any_loss(logits, labels, metric="mcc", average="micro")
        c = confusion_metric_loss(logits, labels, metric="gmean", average="samples")
        return a + b + c

    zz, yy = xp.asarray(z, dtype="float32"), xp.asarray(y, dtype="float32")
    eager = xp.to_numpy(fn(zz, yy))
    compiled = xp.to_numpy(xp.compile(fn)(zz, yy))
    np.testing.assert_allclose(compiled, eager, rtol=1e-5)


_TRACED = {
    "sigmoid_f1-macro": lambda z, y: sigmoid_f1_loss(z, y),
    "any_loss-mcc-micro": lambda z, y: any_loss(z, y, metric="mcc", average="micro"),
    "accuracy-samples": lambda z, y: confusion_metric_loss(z, y, metric="accuracy",
                                                           average="samples"),
    "balanced_accuracy-none": lambda z, y: confusion_metric_loss(
        z, y, metric="balanced_accuracy", average="none"),
    "gmean-macro": lambda z, y: confusion_metric_loss(z, y, metric="gmean"),
    "fbeta-probabilities": lambda z, y: confusion_metric_loss(
        z * 0.0 + 0.25, y, metric="fbeta", beta=2.0, from_logits=False, slope=2.0),
    "soft_confusion": lambda z, y: xp_stack(soft_confusion(1.0 / (1.0 + z * z), y)),
}


def xp_stack(counts):
    return counts[0] + 2.0 * counts[1] + 3.0 * counts[2] + 4.0 * counts[3]


@pytest.mark.compiled
@pytest.mark.parametrize("case", list(_TRACED))
def test_unknown_batch_size_trace_equals_eager(xp, rng, case) -> None:
    # Issue 12 §1: any_loss(metric="mcc") and the accuracy/balanced_accuracy/gmean metrics
    # read float(shape[0]) before, which fails for a None (tf.function) or symbolic batch.
    fn = _TRACED[case]
    for b in (B, 3):
        z, y = _data(rng, b=b)
        zz, yy = xp.asarray(z, dtype="float32"), xp.asarray(y, dtype="float32")
        traced = xp.trace_unknown_batch(fn, zz, yy)
        if traced is None:
            pytest.skip(f"{xp.name} does not trace")
        np.testing.assert_allclose(xp.to_numpy(traced), xp.to_numpy(fn(zz, yy)), rtol=1e-5,
                                   atol=1e-7)


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
    with pytest.raises(ValueError, match=r"beta must lie in \(0.0, inf\]"):
        sigmoid_f1_loss(z, y, beta=0.0)
    with pytest.raises(ValueError, match="weights must be a scalar or have shape"):
        sigmoid_f1_loss(z, y, weights=xp.asarray(np.ones(2)))
    with pytest.raises(ValueError, match=r"logits must have shape \(B,\) or \(B, L\)"):
        sigmoid_f1_loss(xp.asarray(np.zeros((2, 2, 2))), xp.asarray(np.zeros((2, 2, 2))))
    with pytest.raises(ValueError, match=r"labels must lie in \[0.0, 1.0\]"):
        sigmoid_f1_loss(z, xp.asarray(np.full((3, 2), 2.0)))
    with pytest.raises(ValueError, match=r"weights must (be finite and )?lie in"):
        sigmoid_f1_loss(z, y, weights=xp.asarray(-np.ones(3)))
    with pytest.raises(ValueError, match=r"logits \(probabilities\) must lie in"):
        any_loss(xp.asarray(np.full((3, 2), 3.0)), y, from_logits=False)
    with pytest.raises(ValueError, match="slope must be a finite number"):
        sigmoid_f1_loss(z, y, slope=float("nan"))
    with pytest.raises(TypeError, match="from_logits must be True or False"):
        sigmoid_f1_loss(z, y, from_logits=1)


@pytest.mark.float64
def test_jit_with_labels_closed_over_and_unknown_batch() -> None:
    jax = pytest.importorskip("jax")
    rng = np.random.default_rng(3)
    z, y = _data(rng)
    expected = oracle_loss(_sigmoid(z), y, "f1", "macro")
    y_closed = jax.numpy.asarray(y)  # concrete, but compared inside the trace
    out = jax.jit(lambda a: sigmoid_f1_loss(a, y_closed))(jax.numpy.asarray(z))
    np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-6)


@pytest.mark.float64
def test_tf_function_with_unknown_batch_size_binary() -> None:
    tf = pytest.importorskip("tensorflow")
    rng = np.random.default_rng(4)
    z, y = _data(rng, n_labels=1)
    fn = tf.function(lambda a, b: sigmoid_f1_loss(a, b),
                     input_signature=[tf.TensorSpec([None], tf.float64)] * 2)
    out = fn(tf.constant(z[:, 0]), tf.constant(y[:, 0]))
    np.testing.assert_allclose(out.numpy(), oracle_loss(_sigmoid(z), y, "f1", "macro"),
                               rtol=1e-10)
