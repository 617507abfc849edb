"""Confusion-matrix losses with a class axis (multi-class, segmentation), on every namespace.

Oracles: the four masked counts of an explicitly one-hot-encoded copy in NumPy float64, the
multi-label ``(B, L)`` form of the library on that copy, hand-computed soft Dice/Jaccard,
scikit-learn's ``f1_score``/``jaccard_score`` on the flattened pixels, finite differences.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from metricloss.confusion import AVERAGES, METRICS, any_loss, confusion_metric_loss, sigmoid_f1_loss
from tests.oracles import textbook_metric
from tests.support import (
    assert_close,
    assert_finite_value_and_grad,
    dtype_name,
    finite_difference_grad,
    get_backend,
)

# --------------------------------------------------------------------------------------------
# Oracle: masked counts on an explicit one-hot copy, NumPy float64.
# --------------------------------------------------------------------------------------------


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _softmax(z: np.ndarray, axis: int = 1) -> np.ndarray:
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _one_hot(t: np.ndarray, c: int) -> np.ndarray:
    """``(N, *S)`` class indices to ``(N, C, *S)`` one-hot (rows of ignored labels all 0)."""
    eye = np.vstack([np.eye(c), np.zeros((1, c))])
    return np.moveaxis(eye[np.where((t >= 0) & (t < c), t, c)], -1, 1)


def oracle(p, y, metric, average, *, w=None, cw=None, example_w=None, beta=1.0):
    """The loss of probabilities ``p`` against one-hot/soft ``y``, both ``(N, C, *S)``."""
    p, y = np.asarray(p, np.float64), np.asarray(y, np.float64)
    w = np.broadcast_to(np.ones(1) if w is None else w, p.shape)
    c = p.shape[1]
    if average in ("micro", "samples") and cw is not None:
        w = w * np.asarray(cw).reshape((1, c) + (1,) * (p.ndim - 2))
    axes = {"macro": None, "none": None, "micro": tuple(range(p.ndim)),
            "samples": tuple(range(1, p.ndim))}[average]
    if axes is None:
        axes = tuple(d for d in range(p.ndim) if d != 1)
    tp = np.sum(w * p * y, axis=axes)
    fp = np.sum(w * p * (1 - y), axis=axes)
    fn = np.sum(w * (1 - p) * y, axis=axes)
    tn = np.sum(w * (1 - p) * (1 - y), axis=axes)
    m = textbook_metric(tp, fp, fn, tn, metric, beta)
    loss = (1 - m) / 2 if metric == "mcc" else 1 - m
    if average == "none":
        return loss
    if average == "macro" and cw is not None:
        return np.sum(np.asarray(cw) * loss) / np.sum(cw)
    if average == "samples" and example_w is not None:
        return np.sum(example_w * loss) / np.sum(example_w)
    return np.mean(loss)


def _segmentation(rng, n=2, c=4, h=3, w=5, absent=()):
    """Logits ``(n, c, h, w)`` and integer masks ``(n, h, w)``; every class not in ``absent``
    appears in every image, and no class fills an image."""
    z = rng.normal(scale=2.0, size=(n, c, h, w))
    present = [k for k in range(c) if k not in absent]
    t = rng.choice(present, size=(n, h, w))
    flat = t.reshape(n, -1)
    flat[:, : len(present)] = present
    return z, t


# --------------------------------------------------------------------------------------------
# Integer labels equal the one-hot form; values against the oracle
# --------------------------------------------------------------------------------------------


@pytest.mark.float64
@pytest.mark.parametrize("multiclass", [True, False], ids=["softmax", "sigmoid"])
@pytest.mark.parametrize("average", AVERAGES)
@pytest.mark.parametrize("metric", METRICS)
def test_integer_labels_equal_one_hot_and_oracle(xp, rng, metric, average, multiclass) -> None:
    z, t = _segmentation(rng)
    y = _one_hot(t, 4)
    beta = 2.0 if metric == "fbeta" else 1.0
    zz, tt, yy = xp.asarray(z), xp.asarray(t), xp.asarray(y)
    expected = oracle(_softmax(z) if multiclass else _sigmoid(z), y, metric, average, beta=beta)
    kw = dict(metric=metric, beta=beta, average=average, axis=1, multiclass=multiclass)
    assert_close(xp, confusion_metric_loss(zz, tt, **kw), expected, dtype="float64")
    assert_close(xp, confusion_metric_loss(zz, yy, **kw), expected, dtype="float64")


@pytest.mark.float64
@pytest.mark.parametrize("average", AVERAGES)
@pytest.mark.parametrize("metric", ["f1", "jaccard", "mcc", "accuracy"])
def test_equal_to_multilabel_form_on_one_hot(xp, rng, metric, average) -> None:
    # The (B, L) multi-label form of the library on the explicit one-hot copy: pixels as rows
    # for macro/micro/none, images as rows (classes and pixels as labels) for samples.
    z, t = _segmentation(rng)
    n, c = t.shape[0], z.shape[1]
    y = _one_hot(t, c)
    q = _softmax(z)
    multiclass = any_loss(xp.asarray(z), xp.asarray(t), metric=metric, average=average,
                          multiclass=True)
    sigmoid = confusion_metric_loss(xp.asarray(z), xp.asarray(t), metric=metric,
                                    average=average, axis=1)
    if average == "samples":
        ref_q, ref_y, ref_z = q.reshape(n, -1), y.reshape(n, -1), z.reshape(n, -1)
    else:
        ref_q = np.moveaxis(q, 1, -1).reshape(-1, c)
        ref_y = np.moveaxis(y, 1, -1).reshape(-1, c)
        ref_z = np.moveaxis(z, 1, -1).reshape(-1, c)
    multilabel_any = any_loss(xp.asarray(ref_q), xp.asarray(ref_y), metric=metric,
                              average=average, from_logits=False)
    multilabel_sig = confusion_metric_loss(xp.asarray(ref_z), xp.asarray(ref_y), metric=metric,
                                           average=average)
    assert_close(xp, multiclass, xp.to_numpy(multilabel_any), dtype="float64")
    assert_close(xp, sigmoid, xp.to_numpy(multilabel_sig), dtype="float64")


@pytest.mark.float64
@pytest.mark.parametrize("average", AVERAGES)
def test_channels_last_and_classifier_shapes(xp, rng, average) -> None:
    z, t = _segmentation(rng)
    last = np.moveaxis(z, 1, -1)
    expected = oracle(_softmax(z), _one_hot(t, 4), "jaccard", average)
    out = confusion_metric_loss(xp.asarray(last), xp.asarray(t), metric="jaccard",
                                average=average, axis=-1, multiclass=True)
    assert_close(xp, out, expected, dtype="float64")
    # A 10-class classifier: (N, C) logits against (N,) labels.
    zc = rng.normal(size=(12, 10))
    tc = np.arange(12) % 10
    expected = oracle(_softmax(zc), np.eye(10)[tc], "f1", average)
    out = sigmoid_f1_loss(xp.asarray(zc), xp.asarray(tc), average=average, multiclass=True)
    assert_close(xp, out, expected, dtype="float64")


@pytest.mark.float64
@pytest.mark.parametrize("metric", ["f1", "jaccard", "mcc"])
@pytest.mark.parametrize("ignore", [255, -1, 2])
def test_ignore_index_equals_dropping_pixels(xp, rng, ignore, metric) -> None:
    if ignore == 2 and metric == "mcc":
        pytest.skip("ignoring a real class leaves it without positives: textbook MCC is 0/0")
    z, t = _segmentation(rng)  # one shape for most tests: fewer compilations in eager JAX
    q = _softmax(z)
    tt = t.copy()
    tt[0, 0, :] = ignore
    tt[1, 2:, 1] = ignore
    keep = tt != ignore
    # Drop the pixels: (pixels, C) rows of the kept pixels only.
    rows_q = np.moveaxis(q, 1, -1)[keep]
    rows_y = np.eye(4)[tt[keep]]
    for average in ("macro", "micro", "none"):
        expected = oracle(rows_q, rows_y, metric, average)
        out = confusion_metric_loss(xp.asarray(z), xp.asarray(tt), metric=metric,
                                    average=average, multiclass=True, ignore_index=ignore)
        assert_close(xp, out, expected, dtype="float64")
    per_image = [oracle(np.moveaxis(q, 1, -1)[i][keep[i]][None], np.eye(4)[tt[i][keep[i]]][None],
                        metric, "micro") for i in range(2)]
    out = confusion_metric_loss(xp.asarray(z), xp.asarray(tt), metric=metric,
                                average="samples", multiclass=True, ignore_index=ignore)
    assert_close(xp, out, np.mean(per_image), dtype="float64")


@pytest.mark.float64
def test_soft_dice_and_jaccard_closed_form_on_tiny_image(xp) -> None:
    # Two classes on a 2x2 image, mask [[0, 0], [1, 1]], softmax probabilities of class 0
    # [[0.9, 0.6], [0.3, 0.2]] (logits log p). By hand: class 0 has tp = 1.5, Σp = 2.0,
    # Σy = 2; class 1 has tp = 0.7 + 0.8 = 1.5, Σp = 2.0, Σy = 2.
    # Dice = 2·1.5/4 = 0.75 for both; Jaccard = 1.5/(4 − 1.5) = 0.6 for both.
    p0 = np.array([[0.9, 0.6], [0.3, 0.2]])
    z = np.log(np.stack([p0, 1 - p0]))[None]  # (1, 2, 2, 2)
    t = np.array([[[0, 0], [1, 1]]])
    zz, tt = xp.asarray(z), xp.asarray(t)
    dice = sigmoid_f1_loss(zz, tt, multiclass=True, average="none")
    assert_close(xp, dice, [0.25, 0.25], dtype="float64", rtol=1e-12)
    jac = confusion_metric_loss(zz, tt, metric="jaccard", multiclass=True, average="none")
    assert_close(xp, jac, [0.4, 0.4], dtype="float64", rtol=1e-12)
    # Micro pools both classes: tp = 3, Σp = Σy = 4: Dice 0.75, Jaccard 3/5.
    assert_close(xp, confusion_metric_loss(zz, tt, metric="jaccard", multiclass=True,
                                           average="micro"), 0.4, dtype="float64", rtol=1e-12)
    # Sigmoid per class (binary foreground, one channel): p = σ(z) on a 1x3 image.
    zb = np.array([[[[0.0, np.log(3.0), -np.log(3.0)]]]])  # σ: 0.5, 0.75, 0.25
    tb = np.array([[[1.0, 1.0, 0.0]]])[:, None]  # one-hot of the single channel
    # tp = 1.25, Σp = 1.5, Σy = 2: Dice = 2.5/3.5, Jaccard = 1.25/2.25.
    out = confusion_metric_loss(xp.asarray(zb), xp.asarray(tb), axis=1)
    assert_close(xp, out, 1 - 2.5 / 3.5, dtype="float64", rtol=1e-12)
    out = confusion_metric_loss(xp.asarray(zb), xp.asarray(tb), axis=1, metric="jaccard")
    assert_close(xp, out, 1 - 1.25 / 2.25, dtype="float64", rtol=1e-12)


@pytest.mark.parametrize("average", ["macro", "micro", "none", "samples"])
@pytest.mark.parametrize("name", ["f1", "jaccard"])
def test_hard_probabilities_reproduce_scikit_learn(xp, rng, name, average) -> None:
    import sklearn.metrics

    score = getattr(sklearn.metrics, f"{name}_score")
    z, t = _segmentation(rng)
    n, c = t.shape[0], z.shape[1]
    t[1, 0, :] = 255
    pred = np.argmax(z, axis=1)
    hard = _one_hot(pred, c)  # 0/1 probabilities
    keep = t != 255
    out = any_loss(xp.asarray(hard), xp.asarray(t), metric=name, from_logits=False,
                   multiclass=True, amplifier=1000.0, average=average, ignore_index=255)
    if average == "samples":
        per_image = [score(t[i][keep[i]], pred[i][keep[i]], average="micro") for i in range(n)]
        expected = 1.0 - np.mean(per_image)
    else:
        expected = 1.0 - score(t[keep], pred[keep], average=None if average == "none" else average,
                               labels=range(c))
    assert_close(xp, out, expected, rtol=1e-9, atol=1e-12)


@pytest.mark.float64
@pytest.mark.parametrize("average", AVERAGES)
@pytest.mark.parametrize("metric", ["f1", "mcc", "accuracy"])
def test_weights_and_class_weights(xp, rng, metric, average) -> None:
    z, t = _segmentation(rng)
    y, q = _one_hot(t, 4), _softmax(z)
    cw = np.array([1.0, 0.0, 2.0, 0.5])
    w_img = rng.random(2)
    w_pix = rng.random(t.shape)
    zz, tt = xp.asarray(z), xp.asarray(t)
    out = confusion_metric_loss(zz, tt, metric=metric, average=average, multiclass=True,
                                class_weights=xp.asarray(cw))
    assert_close(xp, out, oracle(q, y, metric, average, cw=cw), dtype="float64")
    out = confusion_metric_loss(zz, tt, metric=metric, average=average, multiclass=True,
                                class_weights=list(cw), weights=xp.asarray(w_pix))
    expected = oracle(q, y, metric, average, cw=cw, w=w_pix[:, None])
    assert_close(xp, out, expected, dtype="float64")
    out = confusion_metric_loss(zz, tt, metric=metric, average=average, multiclass=True,
                                weights=xp.asarray(w_img))
    expected = oracle(q, y, metric, average, w=w_img[:, None, None, None], example_w=w_img)
    assert_close(xp, out, expected, dtype="float64")
    # Element-wise weights of the logits' shape, integer and one-hot labels alike.
    w_el = rng.random(z.shape)
    expected = oracle(q, y, metric, average, w=w_el)
    for labels in (tt, xp.asarray(y)):
        out = confusion_metric_loss(zz, labels, metric=metric, average=average, multiclass=True,
                                    weights=xp.asarray(w_el))
        assert_close(xp, out, expected, dtype="float64")


# --------------------------------------------------------------------------------------------
# Gradients and hostile input
# --------------------------------------------------------------------------------------------


# Without class weights, micro and samples use Σ_c p = 1 (no Σp term); with them, the full
# gather path; macro the per-class masked sums (balanced accuracy and MCC: the direct counts).
_GRADIENT_CASES = {
    "macro-class-weights": ("macro", [1.0, 2.0, 0.5, 1.0]),
    "micro": ("micro", None),
    "samples": ("samples", None),
    "micro-class-weights": ("micro", [1.0, 0.0, 3.0, 1.0]),
}


@pytest.mark.float64
@pytest.mark.parametrize("case", list(_GRADIENT_CASES))
@pytest.mark.parametrize("metric", ["f1", "jaccard", "mcc", "balanced_accuracy"])
def test_gradients_match_finite_differences(xp, rng, metric, case) -> None:
    if not xp.differentiable:
        pytest.skip(f"{xp.name} has no automatic differentiation")
    average, cw = _GRADIENT_CASES[case]
    cw = None if cw is None else np.array(cw)
    z, t = _segmentation(rng)
    t[1, 0, 0] = -1  # an ignored pixel
    y = _one_hot(t, 4)
    keep = (t != -1)[:, None].astype(np.float64)

    def fn(logits):
        return confusion_metric_loss(logits, xp.asarray(t), metric=metric, average=average,
                                     multiclass=True, ignore_index=-1,
                                     class_weights=None if cw is None else xp.asarray(cw))

    _, grad = xp.value_and_grad(fn, xp.asarray(z))
    expected = finite_difference_grad(
        lambda a: oracle(_softmax(a), y, metric, average, w=keep, cw=cw), z)
    np.testing.assert_allclose(grad, expected, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("average", AVERAGES)
@pytest.mark.parametrize("form", ["softmax", "softmax-anyloss", "sigmoid-anyloss"])
@pytest.mark.parametrize("metric", METRICS)
def test_absent_classes_and_saturated_logits_are_finite(xp, rng, metric, form, average) -> None:
    z, t = _segmentation(rng, absent=(1, 3))
    z = np.where(rng.random(z.shape) < 0.5, 1e4, -1e4)
    multiclass = form.startswith("softmax")
    transform = "anyloss" if form.endswith("anyloss") else "sigmoid"

    def fn(logits):
        out = confusion_metric_loss(logits, xp.asarray(t), metric=metric, axis=1,
                                    multiclass=multiclass, transform=transform, average=average)
        return xp.sum(out)

    assert_finite_value_and_grad(xp, fn, xp.asarray(z))


@pytest.mark.float64
def test_absent_class_limit_values(xp) -> None:
    # Class 1 is absent and never predicted: its F1 is 0 (loss 1), its MCC 0 (loss 0.5).
    # Class 0 fills the image (tn = fp = 0): F1 is 1; MCC takes the same 0 convention.
    z = np.zeros((1, 2, 1, 2))
    z[0, 0] = 1e4
    t = np.zeros((1, 1, 2), dtype=np.int64)
    out = sigmoid_f1_loss(xp.asarray(z), xp.asarray(t), multiclass=True, average="none")
    assert_close(xp, out, [0.0, 1.0], dtype="float64", atol=1e-12)
    out = confusion_metric_loss(xp.asarray(z), xp.asarray(t), metric="mcc", multiclass=True,
                                average="none")
    assert_close(xp, out, [0.5, 0.5], dtype="float64", atol=1e-12)


@pytest.mark.parametrize("metric", ["f1", "jaccard", "mcc"])
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_is_finite_and_returns_float32(xp, rng, dtype, metric) -> None:
    if not xp.supports(dtype):
        pytest.skip(f"{xp.name} has no {dtype}")
    z, t = _segmentation(rng, absent=(2,))
    z[0, :, 0, 0] = 6e4 if dtype == "float16" else 1e30

    def fn(logits):
        return confusion_metric_loss(logits, xp.asarray(t), metric=metric, multiclass=True,
                                     ignore_index=255)

    zz = xp.asarray(z, dtype=dtype)
    out = fn(zz)
    assert dtype_name(out) == "float32", out.dtype
    none = confusion_metric_loss(zz, xp.asarray(t), metric=metric, multiclass=True,
                                 average="none")
    assert dtype_name(none) == "float32", none.dtype
    assert_finite_value_and_grad(xp, fn, zz)
    if metric == "f1":
        zq = xp.to_numpy(zz).astype(np.float64)  # the values the loss sees
        expected = oracle(_softmax(np.clip(zq, -6e4, 6e4)), _one_hot(t, 4), "f1", "macro")
        assert abs(float(xp.to_numpy(out)) - expected) < 1e-5


# --------------------------------------------------------------------------------------------
# Issue 11: one-sided classes (A), infinite logits (C), empty input (F)
# --------------------------------------------------------------------------------------------


def _zero_division_oracle(p, y, metric, average):
    """:func:`oracle` with each 0/0 metric term taken as 0 (a class with an empty side)."""
    from tests.test_confusion import _zero_division_metric

    axes = tuple(d for d in range(p.ndim) if d != 1)
    if average == "micro":
        axes = tuple(range(p.ndim))
    counts = [np.sum(a * b, axis=axes) for a in (p, 1 - p) for b in (y, 1 - y)]
    tp, fp, fn, tn = counts[0], counts[1], counts[2], counts[3]
    m = _zero_division_metric(tp, fp, fn, tn, metric)
    loss = (1 - m) / 2 if metric == "mcc" else 1 - m
    return loss if average in ("none", "micro") else np.mean(loss)


@pytest.mark.parametrize("average", ["none", "macro"])
@pytest.mark.parametrize("metric", ["balanced_accuracy", "gmean", "accuracy", "mcc"])
@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_all_background_crop_matches_float64(xp, rng, dtype, metric, average) -> None:
    # Issue 11 A: every pixel of class 0 (no negatives for class 0, no positives for the
    # others). float32 gave [-18.2, 0.665, 0.674] for balanced accuracy, float64
    # [0.839, 0.665, 0.674]; gmean -2.50 for class 0.
    if not xp.supports(dtype):
        pytest.skip(f"{xp.name} has no {dtype}")
    z = rng.standard_normal((2, 4, 3, 5))
    t = np.zeros((2, 3, 5), dtype=np.int64)
    zz = xp.asarray(z, dtype=dtype)
    zq = xp.to_numpy(zz).astype(np.float64)
    y = _one_hot(t, 4)

    def fn(logits):
        return xp.sum(confusion_metric_loss(logits, xp.asarray(t), metric=metric,
                                            multiclass=True, average=average))

    out = confusion_metric_loss(zz, xp.asarray(t), metric=metric, multiclass=True,
                                average=average)
    expected = _zero_division_oracle(_softmax(zq), y, metric, average)
    assert np.all(xp.to_numpy(out) >= 0) and np.all(xp.to_numpy(out) <= 1)
    assert_close(xp, out, expected, dtype="float32", rtol=1e-5, atol=1e-6)
    _, grad = xp.value_and_grad(fn, zz)
    if grad is not None:
        fd = finite_difference_grad(
            lambda a: np.sum(_zero_division_oracle(_softmax(a), y, metric, average)), zq)
        tol = 1e-4 if dtype == "float32" else 2e-2
        np.testing.assert_allclose(grad, fd, rtol=tol, atol=tol * np.max(np.abs(fd)) + 1e-7)


def test_issue_reproducer_segmentation_numpy() -> None:
    rng = np.random.default_rng(0)
    z = rng.standard_normal((2, 3, 8, 8))
    t = np.zeros((2, 8, 8), int)
    for metric in ("balanced_accuracy", "gmean"):
        lo = confusion_metric_loss(z.astype(np.float32), t, multiclass=True, metric=metric,
                                   average="none")
        hi = confusion_metric_loss(z, t, multiclass=True, metric=metric, average="none")
        np.testing.assert_allclose(lo, hi, rtol=1e-5)
        assert np.all(lo >= 0) and np.all(lo <= 1)


@pytest.mark.parametrize("transform", ["sigmoid", "anyloss"])
@pytest.mark.parametrize("sign", [1.0, -1.0], ids=["+inf", "-inf"])
def test_infinite_logit_in_softmax_gives_limit_and_finite_gradient(xp, rng, sign, transform
                                                                   ) -> None:
    # Issue 11 C: softmax of a +inf logit was inf - inf = NaN.
    z, t = _segmentation(rng)
    z_inf = z.copy()
    z_inf[0, 1, 0, 0] = sign * np.inf
    z_big = z.copy()
    z_big[0, 1, 0, 0] = sign * 1e4  # the limit, finitely

    def fn(logits):
        return confusion_metric_loss(logits, xp.asarray(t), multiclass=True, transform=transform,
                                     metric="mcc")

    out = fn(xp.asarray(z_inf, dtype="float32"))
    expected = xp.to_numpy(fn(xp.asarray(z_big, dtype="float32")))
    assert_close(xp, out, expected, dtype="float32", rtol=1e-6)
    assert_finite_value_and_grad(xp, fn, xp.asarray(z_inf, dtype="float32"))


@pytest.mark.parametrize("average", AVERAGES)
@pytest.mark.parametrize("shape", [(0, 4, 3, 5), (2, 4, 0, 5)], ids=["N=0", "H=0"])
def test_empty_input_gives_zero_with_zero_gradient(xp, shape, average) -> None:
    zz = xp.asarray(np.zeros(shape), dtype="float32")
    t = xp.asarray(np.zeros((shape[0], *shape[2:]), dtype=np.int64))

    def fn(logits):
        return confusion_metric_loss(logits, t, metric="mcc", multiclass=True, average=average)

    out = fn(zz)
    assert_close(xp, out, np.zeros((4,) if average == "none" else ()), dtype="float32")
    _, grad = xp.value_and_grad(lambda a: xp.sum(fn(a)), zz)
    if grad is not None:
        assert grad.shape == shape and np.all(grad == 0)


@pytest.mark.float64
@pytest.mark.parametrize("slope", [1.0, 2.5])
def test_probabilities_equal_logits_of_them(xp, rng, slope) -> None:
    # from_logits=False with softmax: p = q^slope / Σ q^slope = softmax(slope·log q).
    z, t = _segmentation(rng)
    q = _softmax(z)
    kw = dict(metric="jaccard", multiclass=True, slope=slope)
    from_probs = confusion_metric_loss(xp.asarray(q), xp.asarray(t), from_logits=False, **kw)
    from_logits = confusion_metric_loss(xp.asarray(np.log(q)), xp.asarray(t), **kw)
    assert_close(xp, from_probs, xp.to_numpy(from_logits), dtype="float64", rtol=1e-9)


# --------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------


@given(n=st.integers(1, 3), c=st.integers(1, 4), s=st.integers(1, 4), seed=st.integers(0, 2**16),
       metric=st.sampled_from(METRICS), average=st.sampled_from(AVERAGES),
       multiclass=st.booleans(), scale=st.sampled_from([0.1, 3.0, 1e4]))
def test_property_integer_form_equals_one_hot_numpy(n, c, s, seed, metric, average, multiclass,
                                                    scale) -> None:
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=scale, size=(n, c, s))
    t = rng.integers(-1, c, size=(n, s))  # -1: ignored
    kw = dict(metric=metric, average=average, axis=1, multiclass=multiclass)
    out = np.asarray(confusion_metric_loss(z, t, ignore_index=-1, **kw))
    keep = (t != -1)[:, None].astype(np.float64)
    ref = np.asarray(confusion_metric_loss(z, _one_hot(t, c), weights=np.broadcast_to(
        keep, z.shape).copy(), **kw))
    assert np.all(np.isfinite(out))
    assert np.all(out >= -1e-12) and np.all(out <= 1 + 1e-12)
    np.testing.assert_allclose(out, ref, rtol=1e-9, atol=1e-12)


# --------------------------------------------------------------------------------------------
# Compilation, devices (parity: tests/test_parity.py)
# --------------------------------------------------------------------------------------------


def _parity_loss(logits, labels):
    # One call per code path: per-class masked sums, gather with class weights, gather with
    # Σ_c p = 1, AnyLoss gather.
    a = confusion_metric_loss(logits, labels, multiclass=True, ignore_index=255)
    b = confusion_metric_loss(logits, labels, metric="jaccard", average="micro",
                              multiclass=True, class_weights=[1.0, 2.0, 1.0, 0.5],
                              ignore_index=255)
    c = confusion_metric_loss(logits, labels, metric="mcc", average="samples",
                              multiclass=True, ignore_index=255)
    d = any_loss(logits, labels, metric="balanced_accuracy", average="micro", multiclass=True,
                 ignore_index=255)
    return a + b + c + d


@pytest.mark.compiled
def test_compiled_equals_eager(xp, rng) -> None:
    z, t = _segmentation(rng)
    t[1, 1, 1] = 255
    zz, tt = xp.asarray(z, dtype="float32"), xp.asarray(t)
    eager = xp.to_numpy(_parity_loss(zz, tt))
    compiled = xp.to_numpy(xp.compile(_parity_loss)(zz, tt))
    np.testing.assert_allclose(compiled, eager, rtol=1e-5)


_TRACED = {
    "f1-macro-ignore": lambda z, t: confusion_metric_loss(z, t, multiclass=True,
                                                          ignore_index=255),
    "mcc-micro": lambda z, t: confusion_metric_loss(z, t, metric="mcc", average="micro",
                                                    multiclass=True, ignore_index=255),
    "jaccard-samples-class-weights": lambda z, t: confusion_metric_loss(
        z, t, metric="jaccard", average="samples", multiclass=True,
        class_weights=[1.0, 2.0, 1.0, 0.5], ignore_index=255),
    "balanced_accuracy-none-sigmoid": lambda z, t: any_loss(
        z, t, metric="balanced_accuracy", average="none", axis=1, ignore_index=255),
    "gmean-samples-one-hot": lambda z, t: confusion_metric_loss(
        z, _traced_one_hot(t), metric="gmean", average="samples", multiclass=True),
}


def _traced_one_hot(t):
    """Float one-hot labels ``(N, 4, H, W)`` of ``t`` (255 as class 0), inside the trace."""
    from metricloss._namespace import namespace_of

    xp = namespace_of(t=t)
    classes = xp.reshape(xp.arange(4, dtype=t.dtype), (1, 4, 1, 1))
    return xp.astype(xp.expand_dims(xp.where(t == 255, 0, t), axis=1) == classes, xp.float32)


@pytest.mark.compiled
@pytest.mark.parametrize("case", list(_TRACED))
def test_unknown_batch_size_trace_equals_eager(xp, rng, case) -> None:
    fn = _TRACED[case]
    for n in (2, 3):
        z, t = _segmentation(rng, n=n)
        t[0, 0, 0] = 255
        zz, tt = xp.asarray(z, dtype="float32"), xp.asarray(t)
        traced = xp.trace_unknown_batch(fn, zz, tt)
        if traced is None:
            pytest.skip(f"{xp.name} does not trace")
        np.testing.assert_allclose(xp.to_numpy(traced), xp.to_numpy(fn(zz, tt)), rtol=1e-5,
                                   atol=1e-7)


@pytest.mark.parametrize("average", AVERAGES)
def test_result_stays_on_input_device(rng, average) -> None:
    strict = get_backend("array_api_strict")
    device = strict.Device("device1")
    z, t = _segmentation(rng)
    zd = strict.asarray(z, device=device)
    td = strict.asarray(t, device=device)
    wd = strict.asarray(rng.random(t.shape), device=device)
    cwd = strict.asarray(np.array([1.0, 2.0, 0.0, 1.0]), device=device)
    out = confusion_metric_loss(zd, td, average=average, multiclass=True, weights=wd,
                                class_weights=cwd, ignore_index=255)
    assert out.device == device
    out = confusion_metric_loss(zd, td, metric="mcc", average=average, multiclass=True,
                                weights=wd, class_weights=cwd, ignore_index=255)
    assert out.device == device
    expected = oracle(_softmax(z), _one_hot(t, 4), "f1", "macro")
    out = sigmoid_f1_loss(zd, td, multiclass=True)
    assert_close(strict, out, expected, dtype="float64", device=device)


# --------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------


def test_bad_inputs_raise_clear_errors(xp) -> None:
    z = xp.asarray(np.zeros((2, 3, 4, 4)))
    t = xp.asarray(np.zeros((2, 4, 4), dtype=np.int64))
    bad = np.zeros((2, 4, 4), dtype=np.int64)
    bad[1, 2, 3] = 3
    with pytest.raises(ValueError, match=r"labels must hold class indices in \[0, 3\); "
                                         r"found 1 other entry, e\.g\. 3"):
        sigmoid_f1_loss(z, xp.asarray(bad), multiclass=True)
    bad[1, 2, 3] = -1
    with pytest.raises(ValueError, match=r"in \[0, 3\) or ignore_index \(255\)"):
        sigmoid_f1_loss(z, xp.asarray(bad), multiclass=True, ignore_index=255)
    with pytest.raises(ValueError, match=r"labels must have the shape of logits \(2, 3, 4, 4\) "
                                         r"\(one-hot or soft labels\) or that shape without "
                                         r"the class axis 1, \(2, 4, 4\)"):
        sigmoid_f1_loss(z, xp.asarray(np.zeros((2, 3, 4), dtype=np.int64)), multiclass=True)
    with pytest.raises(ValueError, match="axis 4 is out of range for logits of 4 dimensions"):
        sigmoid_f1_loss(z, t, axis=4)
    with pytest.raises(ValueError, match="axis -5 is out of range"):
        sigmoid_f1_loss(z, t, axis=-5, multiclass=True)
    with pytest.raises(ValueError, match="axis must not be 0"):
        sigmoid_f1_loss(z, xp.asarray(np.zeros((3, 4, 4), dtype=np.int64)), axis=0)
    with pytest.raises(TypeError, match="axis must be an integer"):
        sigmoid_f1_loss(z, t, axis=1.0)
    with pytest.raises(TypeError, match=r"labels of shape \(2, 4, 4\) are class indices and "
                                        "must have an integer dtype"):
        sigmoid_f1_loss(z, xp.asarray(np.zeros((2, 4, 4))), multiclass=True)
    # ignore_index with labels of the logits' shape marks void elements (binary / multi-label
    # masks, tests/test_segmentation.py); bool labels cannot hold a void value.
    with pytest.raises(TypeError, match="ignore_index needs integer or floating labels"):
        sigmoid_f1_loss(z, xp.asarray(np.zeros((2, 3, 4, 4), dtype=bool)), multiclass=True,
                        ignore_index=0)
    with pytest.raises(TypeError, match="ignore_index must be an integer"):
        sigmoid_f1_loss(z, t, multiclass=True, ignore_index=2.5)
    with pytest.raises(ValueError, match="offset must be 0 with multiclass=True"):
        sigmoid_f1_loss(z, t, multiclass=True, offset=1.0)
    with pytest.raises(ValueError, match=r"class_weights must have one entry per class \(3\)"):
        sigmoid_f1_loss(z, t, multiclass=True, class_weights=[1.0, 2.0])
    with pytest.raises(ValueError, match=r"class_weights must have shape \(3,\)"):
        sigmoid_f1_loss(z, t, multiclass=True, class_weights=xp.asarray(np.ones(4)))
    with pytest.raises(ValueError, match=r"class_weights must lie in \[0.0, inf\]"):
        sigmoid_f1_loss(z, t, multiclass=True, class_weights=[1.0, -1.0, 1.0])
    with pytest.raises(ValueError, match="class_weights must not all be zero"):
        sigmoid_f1_loss(z, t, multiclass=True, class_weights=xp.asarray(np.zeros(3)))
    with pytest.raises(ValueError, match=r"class_weights must lie in"):
        sigmoid_f1_loss(z, t, multiclass=True, class_weights=xp.asarray(-np.ones(3)))
    with pytest.raises(ValueError, match=r"weights must (be finite and )?lie in"):
        sigmoid_f1_loss(z, t, multiclass=True, weights=xp.asarray(np.full((2,), np.inf)))
    with pytest.raises(TypeError, match="logits must be an array"):
        sigmoid_f1_loss(None, t, multiclass=True)
    with pytest.raises(TypeError, match="labels must be an array"):
        sigmoid_f1_loss(z, None, multiclass=True)
    with pytest.raises(ValueError, match=r"weights must be a scalar or have shape \(2,\), "
                                         r"\(2, 4, 4\) \(per position\) or \(2, 3, 4, 4\)"):
        sigmoid_f1_loss(z, t, multiclass=True, weights=xp.asarray(np.ones(3)))
    with pytest.raises(ValueError, match="logits must have a class axis"):
        sigmoid_f1_loss(xp.asarray(np.zeros(3)), xp.asarray(np.zeros(3, dtype=np.int64)),
                        multiclass=True)
    with pytest.raises(TypeError, match="multiclass must be True or False"):
        sigmoid_f1_loss(z, t, multiclass=1)
    with pytest.raises(ValueError, match=r"for a class axis, \(N, C, \*spatial\), pass axis="):
        sigmoid_f1_loss(z, xp.asarray(np.zeros((2, 3, 4, 4))))
    with pytest.raises(ValueError, match=r"logits \(probabilities\) must lie in"):
        any_loss(xp.asarray(np.full((2, 3, 4, 4), 2.0)), t, multiclass=True, from_logits=False)
