"""Segmentation losses on every namespace: Tversky / focal Tversky, the Dice options (smoothing,
−log, soft labels, per-image reduction, background, absent classes, generalized Dice weights),
Lovász hinge and Lovász-softmax.

Oracles (NumPy, float64, written from the papers' definitions): soft counts of an explicit
one-hot copy; for Lovász the Choquet integral of the Jaccard set function,
``Σ_k (e_(k) − e_(k+1))·|S_k| / |y ∪ S_k|`` with ``S_k`` the ``k`` largest errors' pixels, summed
with sets (not the cumulative-sum formula of the library); finite differences. The peer
libraries (SMP, MONAI) are compared in tests/test_segmentation_oracles.py.
"""

from __future__ import annotations

import numpy as np
import pytest

import metricloss as ml
from tests.support import (
    assert_close,
    assert_finite_value_and_grad,
    dtype_name,
    finite_difference_grad,
)

# --------------------------------------------------------------------------------------------
# NumPy oracles
# --------------------------------------------------------------------------------------------


def _softmax(z: np.ndarray, axis: int = 1) -> np.ndarray:
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _one_hot(t: np.ndarray, c: int) -> np.ndarray:
    """``(N, *S)`` → ``(N, C, *S)``; out-of-range labels (ignored) give all-zero rows."""
    eye = np.vstack([np.eye(c), np.zeros((1, c))])
    return np.moveaxis(eye[np.where((t >= 0) & (t < c), t, c)], -1, 1)


def _counts(p, y, w, axes, soft=False):
    if soft:
        tp = np.sum(w * np.minimum(p, y), axis=axes)
    else:
        tp = np.sum(w * p * y, axis=axes)
    return tp, np.sum(w * p, axis=axes) - tp, np.sum(w * y, axis=axes) - tp


def _tversky_np(tp, fp, fn, a, b, g=1.0, snr=0.0, sdr=0.0, log=False):
    t = (tp + snr) / np.maximum(tp + a * fp + b * fn + sdr, 1e-7)
    loss = -np.log(np.maximum(t, 1e-7)) if log else 1.0 - t
    return loss ** g


def _segmentation(rng, n=3, c=4, h=3, w=5, absent=(3,), ignore=True):
    z = rng.normal(scale=2.0, size=(n, c, h, w))
    present = [k for k in range(c) if k not in absent]
    t = rng.choice(present, size=(n, h, w))
    t.reshape(n, -1)[:, : len(present)] = present
    if ignore:
        t[0, 0, :2] = 255
    return z, t


def _jaccard_set_loss(y: np.ndarray, s: np.ndarray) -> float:
    """Berman's Δ_J of the mispredicted set ``s`` (bool) against the positives ``y``."""
    return s.sum() / (y | s).sum() if s.any() else 0.0


def _lovasz_np(errors: np.ndarray, y: np.ndarray) -> float:
    """Choquet integral of Δ_J: ``Σ_k (r_(k) − r_(k+1))·Δ_J(S_k)``, ``r = max(e, 0)``."""
    order = np.argsort(-errors, kind="stable")
    r = np.maximum(errors[order], 0.0)
    r_next = np.append(r[1:], 0.0)
    y = y.astype(bool)
    total, s = 0.0, np.zeros(y.shape, bool)
    for k, i in enumerate(order):
        s[i] = True
        total += (r[k] - r_next[k]) * _jaccard_set_loss(y, s)
    return total


def _hinge_np(z, y, per_image, average, ignore=None):
    """Lovász hinge per (image,) channel, dropping ignored pixels: (N, C) or (C,) or scalar."""
    valid = np.ones(y.shape, bool) if ignore is None else y != ignore
    err = 1.0 - z * (2.0 * y - 1.0)

    def one(sel):
        return _lovasz_np(err[sel], y[sel] == 1)

    n, c = z.shape[:2]
    if average == "micro":
        if per_image:
            return np.mean([one(_img(valid, i)) for i in range(n)])
        return one(valid)
    if per_image:
        out = np.array([[one(_img_ch(valid, i, k)) for k in range(c)] for i in range(n)])
    else:
        out = np.array([one(_ch(valid, k)) for k in range(c)])
    return out if average == "none" else out.mean()


def _img(valid, i):
    m = np.zeros(valid.shape, bool)
    m[i] = valid[i]
    return m


def _ch(valid, k):
    m = np.zeros(valid.shape, bool)
    m[:, k] = valid[:, k]
    return m


def _img_ch(valid, i, k):
    m = np.zeros(valid.shape, bool)
    m[i, k] = valid[i, k]
    return m


def _softmax_np(z, t, per_image, absent="skip", cw=None, ignore=255):
    """Lovász-softmax, dropping ignored pixels; macro over (present) classes."""
    p = _softmax(z)
    n, c = z.shape[:2]
    cw = np.ones(c) if cw is None else np.asarray(cw, float)

    def mean_over(sel_t, sel_p):
        losses, weights = [], []
        for k in range(c):
            fg = sel_t == k
            if absent == "skip" and not fg.any():
                continue
            loss = _lovasz_np(np.abs(fg - sel_p[:, k]), fg) if sel_t.size else 0.0
            losses.append(0.0 if absent == "zero" and not fg.any() else loss)
            weights.append(cw[k])
        return float(np.dot(losses, weights) / sum(weights)) if weights else 0.0

    def pixels(i=None):
        tt = t if i is None else t[i:i + 1]
        pp = p if i is None else p[i:i + 1]
        keep = tt != ignore
        return tt[keep], np.moveaxis(pp, 1, -1)[keep]

    if per_image:
        return float(np.mean([mean_over(*pixels(i)) for i in range(n)]))
    return mean_over(*pixels())


# --------------------------------------------------------------------------------------------
# Tversky and the Dice options
# --------------------------------------------------------------------------------------------

TVERSKY = [
    dict(alpha=0.3, beta=0.7),
    dict(alpha=0.7, beta=0.3, gamma=0.75),
    dict(alpha=1.0, beta=2.0, gamma=2.0, log_loss=True),
    dict(alpha=0.5, beta=0.5, smooth_nr=1.0, smooth_dr=2.0),
]


@pytest.mark.float64
@pytest.mark.parametrize("average", ["macro", "none", "micro"])
@pytest.mark.parametrize("kw", TVERSKY, ids=lambda kw: "-".join(f"{k}{v}" for k, v in kw.items()))
def test_tversky_matches_closed_form(xp, rng, kw, average) -> None:
    z, t = _segmentation(rng, absent=())
    p, y = _softmax(z), _one_hot(t, 4)
    w = (t != 255)[:, None].astype(float)
    axes = (0, 2, 3) if average != "micro" else None
    counts = _counts(p, y, w, axes)
    per_class = _tversky_np(*counts, kw["alpha"], kw["beta"], kw.get("gamma", 1.0),
                            kw.get("smooth_nr", 0.0), kw.get("smooth_dr", 0.0),
                            kw.get("log_loss", False))
    expected = per_class if average != "macro" else per_class.mean()
    got = ml.tversky_loss(xp.asarray(z), xp.asarray(t), multiclass=True, ignore_index=255,
                          average=average, **kw)
    assert_close(xp, got, expected, dtype="float64")


@pytest.mark.float64
def test_tversky_special_cases_are_dice_and_jaccard(xp, rng) -> None:
    z, t = _segmentation(rng)
    zz, tt = xp.asarray(z), xp.asarray(t)
    kw = dict(multiclass=True, ignore_index=255)
    dice = ml.sigmoid_f1_loss(zz, tt, **kw)
    jaccard = ml.confusion_metric_loss(zz, tt, metric="jaccard", **kw)
    assert_close(xp, ml.tversky_loss(zz, tt, **kw), xp.to_numpy(dice), dtype="float64")
    assert_close(xp, ml.tversky_loss(zz, tt, alpha=1.0, beta=1.0, **kw), xp.to_numpy(jaccard),
                 dtype="float64")


def _per_image_oracle(z, t, *, include_background=True, absent="keep", metric="f1",
                      snr=0.0, sdr=0.0, example_w=None):
    p, y = _softmax(z), _one_hot(t, z.shape[1])
    ew = np.ones(z.shape[0]) if example_w is None else example_w
    # Per-image weights scale the image's counts (as every weight) and weight the mean.
    w = (t != 255)[:, None].astype(float) * ew[:, None, None, None]
    tp, fp, fn = _counts(p, y, w, (2, 3))  # (N, C)
    den = 2 * tp + fp + fn if metric == "f1" else tp + fp + fn
    num = 2 * tp if metric == "f1" else tp
    loss = 1.0 - (num + snr) / np.maximum(den + sdr, 1e-7)
    present = (tp + fn) > 0
    if absent != "keep":
        loss = np.where(present, loss, 0.0)
    keep = np.ones(z.shape[1], bool)
    keep[0] = include_background
    weights = np.broadcast_to(keep, loss.shape).astype(float)
    if absent == "skip":
        weights = weights * present
    per_image = (weights * loss).sum(1) / np.maximum(weights.sum(1), 1e-7)
    return loss[:, keep], np.sum(ew * per_image) / np.sum(ew)


@pytest.mark.float64
@pytest.mark.parametrize("absent", ["keep", "zero", "skip"])
@pytest.mark.parametrize("include_background", [True, False])
def test_per_image_background_and_absent_classes(xp, rng, absent, include_background) -> None:
    z, t = _segmentation(rng, absent=())
    t[1][t[1] == 2] = 1  # class 2 absent from image 1 only
    ew = np.array([1.0, 2.0, 0.5])
    kw = dict(multiclass=True, ignore_index=255, per_image=True, absent_classes=absent,
              include_background=include_background, smooth_nr=0.5, smooth_dr=1e-3)
    none, macro = _per_image_oracle(z, t, include_background=include_background,
                                    absent=absent, snr=0.5, sdr=1e-3, example_w=ew)
    zz, tt = xp.asarray(z), xp.asarray(t)
    got_none = ml.sigmoid_f1_loss(zz, tt, average="none", weights=xp.asarray(ew), **kw)
    assert_close(xp, got_none, none, dtype="float64")
    assert_close(xp, ml.sigmoid_f1_loss(zz, tt, weights=xp.asarray(ew), **kw), macro,
                 dtype="float64")


@pytest.mark.float64
@pytest.mark.parametrize("absent", ["keep", "zero", "skip"])
def test_batch_absent_classes_and_background(xp, rng, absent) -> None:
    z, t = _segmentation(rng, absent=(3,))
    p, y = _softmax(z), _one_hot(t, 4)
    tp, fp, fn = _counts(p, y, (t != 255)[:, None].astype(float), (0, 2, 3))
    loss = 1.0 - tp / (tp + fp + fn)
    present = (tp + fn) > 0
    if absent != "keep":
        loss = np.where(present, loss, 0.0)
    kept = [1, 2, 3] if absent != "skip" else [1, 2]
    got = ml.confusion_metric_loss(xp.asarray(z), xp.asarray(t), metric="jaccard",
                                   multiclass=True, ignore_index=255, absent_classes=absent,
                                   include_background=False)
    assert_close(xp, got, loss[kept].mean(), dtype="float64")


def _generalized_dice_np(p, y, kind, batch):
    axes = (0, 2, 3) if batch else (2, 3)
    tp, fp, fn = _counts(p, y, np.ones(1), axes)
    vol = y.sum(axis=axes)
    with np.errstate(divide="ignore"):
        w = {"square": 1.0 / vol**2, "simple": 1.0 / vol, "uniform": np.ones_like(vol)}[kind]
    inf = np.isinf(w)
    w[inf] = 0.0
    w = w + inf * (w.max() if batch else w.max(axis=-1, keepdims=True))
    num = 2 * (w * tp).sum(-1) + 1e-5
    den = (w * (2 * tp + fp + fn)).sum(-1) + 1e-5
    return np.mean(1.0 - num / den)


@pytest.mark.float64
@pytest.mark.parametrize("kind", ["square", "simple", "uniform"])
@pytest.mark.parametrize("batch", [True, False], ids=["batch", "per_image"])
def test_generalized_dice_volume_weights(xp, rng, kind, batch) -> None:
    z, t = _segmentation(rng, absent=(), ignore=False)
    t[2][t[2] == 3] = 0  # class 3 absent from image 2: an infinite weight replaced
    expected = _generalized_dice_np(_softmax(z), _one_hot(t, 4), kind, batch)
    got = ml.sigmoid_f1_loss(xp.asarray(z), xp.asarray(t), multiclass=True, class_weights=kind,
                             average="micro" if batch else "samples", smooth_nr=1e-5,
                             smooth_dr=1e-5)
    assert_close(xp, got, expected, dtype="float64")


@pytest.mark.float64
def test_soft_labels_count_min_and_are_optimal_at_the_labels(xp, rng) -> None:
    y = rng.uniform(0.05, 0.95, size=(6, 3))
    q = rng.uniform(0.05, 0.95, size=(6, 3))
    tp, fp, fn = _counts(q, y, np.ones(1), 0, soft=True)
    expected = np.mean(1.0 - 2 * tp / (2 * tp + fp + fn))
    qq, yy = xp.asarray(q), xp.asarray(y)
    soft = ml.sigmoid_f1_loss(qq, yy, from_logits=False, soft_labels=True)
    assert_close(xp, soft, expected, dtype="float64")
    # At p = y the soft-label Dice is exactly optimal (0); the product form is not.
    at_labels = ml.sigmoid_f1_loss(yy, yy, from_logits=False, soft_labels=True)
    assert_close(xp, at_labels, 0.0, atol=1e-12, dtype="float64")
    plain = float(xp.to_numpy(ml.sigmoid_f1_loss(yy, yy, from_logits=False)))
    assert plain > 0.1
    # Hard labels: both forms are the same loss.
    hard = (y > 0.5).astype(float)
    a = ml.tversky_loss(xp.asarray(q), xp.asarray(hard), from_logits=False, soft_labels=True)
    b = ml.tversky_loss(xp.asarray(q), xp.asarray(hard), from_logits=False)
    assert_close(xp, a, xp.to_numpy(b), dtype="float64")


@pytest.mark.float64
def test_same_shape_masks_with_ignore_index_drop_those_elements(xp, rng) -> None:
    z = rng.normal(size=(2, 3, 4, 4))
    y = (rng.random((2, 3, 4, 4)) < 0.4).astype(np.int64)
    y[0, 1, :2] = 255
    valid = (y != 255).astype(float)
    tp, fp, fn = _counts(_sigmoid(z), np.where(y == 255, 0, y), valid, (0, 2, 3))
    expected = np.mean(1.0 - tp / (tp + 0.4 * fp + 0.6 * fn))
    got = ml.tversky_loss(xp.asarray(z), xp.asarray(y), alpha=0.4, beta=0.6, axis=1,
                          ignore_index=255)
    assert_close(xp, got, expected, dtype="float64")


# --------------------------------------------------------------------------------------------
# Lovász
# --------------------------------------------------------------------------------------------


def _masks(rng, n=3, c=2, h=3, w=4):
    z = rng.normal(scale=1.5, size=(n, c, h, w))
    y = (rng.random((n, c, h, w)) < 0.4).astype(np.int64)
    y[1, 0, 0, :3] = 255
    y[2, 1] = np.where(y[2, 1] == 255, 255, 0)  # no positive in one image's channel
    return z, y


@pytest.mark.float64
@pytest.mark.parametrize("average", ["macro", "micro", "none"])
@pytest.mark.parametrize("per_image", [False, True])
def test_lovasz_hinge_matches_choquet_integral(xp, rng, per_image, average) -> None:
    z, y = _masks(rng)
    expected = _hinge_np(z, y, per_image, average, ignore=255)
    got = ml.lovasz_hinge_loss(xp.asarray(z), xp.asarray(y), per_image=per_image,
                               average=average, ignore_index=255)
    assert_close(xp, got, expected, dtype="float64")


@pytest.mark.float64
def test_lovasz_hinge_multilabel_and_binary_vectors(xp, rng) -> None:
    z = rng.normal(size=(7, 3))
    y = (rng.random((7, 3)) < 0.5).astype(np.float64)
    expected = np.mean([_lovasz_np(1 - z[:, k] * (2 * y[:, k] - 1), y[:, k]) for k in range(3)])
    assert_close(xp, ml.lovasz_hinge_loss(xp.asarray(z), xp.asarray(y)), expected,
                 dtype="float64")
    single = _lovasz_np(1 - z[:, 0] * (2 * y[:, 0] - 1), y[:, 0])
    assert_close(xp, ml.lovasz_hinge_loss(xp.asarray(z[:, 0]), xp.asarray(y[:, 0])), single,
                 dtype="float64")


@pytest.mark.float64
@pytest.mark.parametrize("per_image", [False, True])
@pytest.mark.parametrize("absent", ["skip", "keep", "zero"])
def test_lovasz_softmax_matches_choquet_integral(xp, rng, per_image, absent) -> None:
    z, t = _segmentation(rng, absent=(3,))
    t[1][t[1] == 2] = 1
    cw = [1.0, 2.0, 0.5, 1.0]
    expected = _softmax_np(z, t, per_image, absent, cw)
    got = ml.lovasz_softmax_loss(xp.asarray(z), xp.asarray(t), per_image=per_image,
                                 absent_classes=absent, ignore_index=255, class_weights=cw)
    assert_close(xp, got, expected, dtype="float64")


@pytest.mark.float64
def test_lovasz_softmax_one_hot_labels_and_channels_last(xp, rng) -> None:
    z, t = _segmentation(rng, absent=(), ignore=False)
    expected = _softmax_np(z, t, False)
    one_hot = np.moveaxis(_one_hot(t, 4), 1, -1)
    got = ml.lovasz_softmax_loss(xp.asarray(np.moveaxis(z, 1, -1)), xp.asarray(one_hot),
                                 axis=-1)
    assert_close(xp, got, expected, dtype="float64")


@pytest.mark.float64
@pytest.mark.parametrize("case", ["hinge", "softmax", "focal_tversky_per_image"])
def test_gradients_match_finite_differences(xp, rng, case) -> None:
    if not xp.differentiable:
        pytest.skip(f"{xp.name} has no automatic differentiation")
    if case == "hinge":
        z, y = _masks(rng, n=3, h=2, w=3)

        def fn(u, lib):
            return ml.lovasz_hinge_loss(u, y if lib is None else xp.asarray(y),
                                        ignore_index=255, per_image=True)
    elif case == "softmax":
        z, y = _segmentation(rng, n=2, h=2, w=3)

        def fn(u, lib):
            return ml.lovasz_softmax_loss(u, y if lib is None else xp.asarray(y),
                                          ignore_index=255)
    else:
        z, y = _segmentation(rng, n=2, h=2, w=3)

        def fn(u, lib):
            return ml.tversky_loss(u, y if lib is None else xp.asarray(y), multiclass=True,
                                   ignore_index=255, gamma=0.75, beta=0.7, alpha=0.3,
                                   per_image=True, absent_classes="skip")
    _, grad = xp.value_and_grad(lambda u: fn(u, ml), xp.asarray(z))
    expected = finite_difference_grad(lambda u: float(fn(u, None)), z)
    np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("case", ["tversky", "hinge", "softmax"])
def test_half_precision_gives_float32_and_hostile_logits_stay_finite(xp, rng, dtype, case
                                                                     ) -> None:
    if not xp.supports(dtype):
        pytest.skip(f"{xp.name} has no {dtype}")
    z, t = _segmentation(rng)
    z[0, 1, 0, 0], z[1, 2, 1, 1], z[2, 0, 2, 2] = np.inf, -np.inf, 1e30
    labels = t if case != "hinge" else (t[:, None] == 1).astype(np.int64)
    if case == "hinge":
        z = z[:, :1]
    fn = {"tversky": lambda u: ml.tversky_loss(u, xp.asarray(labels), multiclass=True,
                                               ignore_index=255, gamma=0.5),
          "hinge": lambda u: ml.lovasz_hinge_loss(u, xp.asarray(labels)),
          "softmax": lambda u: ml.lovasz_softmax_loss(u, xp.asarray(labels),
                                                      ignore_index=255)}[case]
    zz = xp.asarray(z, dtype=dtype)
    out = fn(zz)
    assert dtype_name(out) == "float32"
    assert_finite_value_and_grad(xp, fn, zz)


def test_compiled_equals_eager_and_unknown_batch_size(xp, rng) -> None:
    z, t = _segmentation(rng)
    z, t = z.astype(np.float32), t
    binary = (t[:, None] == 1).astype(np.int64)
    zz = xp.asarray(z, dtype="float32")

    def losses(u, labels, masks):
        return xp.stack([
            ml.tversky_loss(u, labels, multiclass=True, ignore_index=255, per_image=True,
                            gamma=0.75, absent_classes="skip"),
            ml.lovasz_softmax_loss(u, labels, ignore_index=255),
            ml.lovasz_softmax_loss(u, labels, ignore_index=255, per_image=True),
            ml.lovasz_hinge_loss(u[:, :1, ...], masks),
            ml.lovasz_hinge_loss(u[:, :1, ...], masks, per_image=True, average="micro"),
            ml.sigmoid_f1_loss(u, labels, multiclass=True, class_weights="square",
                               average="samples", ignore_index=255),
        ])

    args = (zz, xp.asarray(t), xp.asarray(binary))
    eager = xp.to_numpy(losses(*args))
    compiled = xp.to_numpy(xp.compile(losses)(*args))
    np.testing.assert_allclose(compiled, eager, rtol=1e-5, atol=1e-6)
    traced = xp.trace_unknown_batch(losses, *args)
    if traced is None:
        pytest.skip(f"{xp.name} does not trace")
    np.testing.assert_allclose(xp.to_numpy(traced), eager, rtol=1e-5, atol=1e-6)


def test_empty_input_gives_zero(xp) -> None:
    z = xp.asarray(np.zeros((2, 3, 0, 4)))
    t = xp.asarray(np.zeros((2, 0, 4), dtype=np.int64))
    for out in (ml.lovasz_softmax_loss(z, t), ml.tversky_loss(z, t, multiclass=True),
                ml.lovasz_hinge_loss(z, xp.asarray(np.zeros((2, 3, 0, 4))))):
        assert_close(xp, out, 0.0)
    none = ml.lovasz_softmax_loss(z, t, average="none", per_image=True)
    assert tuple(none.shape) == (2, 3)


def test_bad_inputs_name_the_argument(xp, rng) -> None:
    z, t = _segmentation(rng)
    zz, tt = xp.asarray(z), xp.asarray(np.where(t == 255, 0, t))
    cases = [
        (lambda: ml.tversky_loss(zz, tt, multiclass=True, alpha=-1.0), ValueError, "alpha"),
        (lambda: ml.tversky_loss(zz, tt, multiclass=True, gamma=0.0), ValueError, "gamma"),
        (lambda: ml.sigmoid_f1_loss(zz, tt, multiclass=True, smooth_nr=-1.0), ValueError,
         "smooth_nr"),
        (lambda: ml.sigmoid_f1_loss(zz, tt, multiclass=True, per_image=True, average="micro"),
         ValueError, "per_image"),
        (lambda: ml.sigmoid_f1_loss(zz, tt, multiclass=True, absent_classes="drop"),
         ValueError, "absent_classes"),
        (lambda: ml.sigmoid_f1_loss(zz, tt, multiclass=True, class_weights="cubic"),
         ValueError, "class_weights"),
        (lambda: ml.sigmoid_f1_loss(zz[:, :1, ...], xp.asarray(np.zeros((3, 1, 3, 5))), axis=1,
                                    include_background=False), ValueError,
         "include_background"),
        (lambda: ml.lovasz_hinge_loss(zz, tt), ValueError, "labels"),
        (lambda: ml.lovasz_hinge_loss(zz, xp.asarray(np.zeros(z.shape)), average="samples"),
         ValueError, "average"),
        (lambda: ml.lovasz_softmax_loss(zz[:, :1, ...], tt * 0), ValueError, "classes"),
        (lambda: ml.lovasz_softmax_loss(zz, xp.asarray(t)), ValueError, "labels"),  # 255
        (lambda: ml.lovasz_softmax_loss(zz, tt, absent_classes="present"), ValueError,
         "absent_classes"),
        (lambda: ml.lovasz_softmax_loss(zz, None), TypeError, "labels"),
        (lambda: ml.lovasz_hinge_loss(zz, xp.asarray(z), per_image=1), TypeError, "per_image"),
    ]
    for call, error, name in cases:
        with pytest.raises(error, match=name):
            call()
