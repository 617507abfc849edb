"""Exact evaluation metrics (SPEC §4): scikit-learn is the oracle, on every namespace."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
import sklearn.metrics as skm
from hypothesis import given
from hypothesis import strategies as st

from metricloss import metrics as M
from metricloss.metrics import METRIC_AVERAGES, SCORE_AVERAGES, UndefinedMetricWarning
from tests.support import assert_close

HARD = ("precision", "recall", "f1", "jaccard")
SCORED = ("roc_auc", "average_precision")


def dataset(rng: np.random.Generator, b: int = 24, n_labels: int = 5, *, levels: int = 5,
            weights: bool = False):
    """Scores with many ties; an empty label (0), an all-positive label (1), a label never
    predicted (2), and one example with no prediction."""
    scores = rng.integers(0, levels, (b, n_labels)) / (levels - 1)
    labels = rng.random((b, n_labels)) < rng.uniform(0.2, 0.7, n_labels)
    labels[:, 0] = False
    labels[:, 1] = True
    preds = rng.random((b, n_labels)) < 0.5
    preds[:, min(2, n_labels - 1)] = False
    preds[-1] = False
    w = rng.uniform(0.0, 2.0, b) if weights else None
    if w is not None:
        w[b // 2] = 0.0
    return scores, labels.astype(np.int64), preds.astype(np.int64), w


def sk_hard(name: str, p, y, average: str, w=None, zero_division="warn", beta=None):
    avg = None if average == "none" else average
    kw = {"sample_weight": w, "zero_division": zero_division}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if name == "fbeta":
            return skm.fbeta_score(y, p, beta=beta, average=avg, **kw)
        return getattr(skm, f"{name}_score")(y, p, average=avg, **kw)


def sk_scored(name: str, s, y, average: str, w=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return getattr(skm, f"{name}_score")(y, s, average=None if average == "none" else average,
                                             sample_weight=w)


def ours_hard(name: str, p, y, average: str, w=None, zero_division="warn", beta=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        if name == "fbeta":
            return M.fbeta_score(p, y, beta=beta, average=average, weights=w,
                                 zero_division=zero_division)
        return getattr(M, f"{name}_score")(p, y, average=average, weights=w,
                                           zero_division=zero_division)


def ours_scored(name: str, s, y, average: str, w=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        return getattr(M, f"{name}_score")(s, y, average=average, weights=w)


# --------------------------------------------------------------------------------------------
# NumPy against scikit-learn, many random data sets
# --------------------------------------------------------------------------------------------


TRIALS = [pytest.param(t, id=f"trial{t}") for t in range(4)]


@pytest.mark.parametrize("trial", TRIALS)
@pytest.mark.parametrize("name", [*HARD, "fbeta"])
@pytest.mark.parametrize("average", METRIC_AVERAGES)
@pytest.mark.parametrize("zero_division", ["warn", 0, 1, np.nan], ids=["warn", "0", "1", "nan"])
def test_hard_metrics_equal_sklearn(average, zero_division, name, trial) -> None:
    rng = np.random.default_rng(7 + trial)
    _, y, p, w = dataset(rng, b=int(rng.integers(4, 30)), n_labels=int(rng.integers(3, 6)),
                         weights=bool(trial % 2))
    zd = 0 if (name == "jaccard" and zero_division is np.nan) else zero_division
    beta = 0.5 if name == "fbeta" else None
    expected = sk_hard(name, p, y, average, w, zd, beta)
    got = ours_hard(name, p, y, average, w, zd, beta)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_jaccard_accepts_nan_zero_division_and_skips_undefined_labels() -> None:
    # scikit-learn refuses zero_division=nan here; ours averages the defined labels.
    y = np.array([[1, 0, 0], [1, 0, 1]])
    p = np.array([[1, 0, 1], [0, 0, 1]])
    per_label = np.array([0.5, np.nan, 0.5])
    got = M.jaccard_score(p, y, average="none", zero_division=np.nan)
    np.testing.assert_allclose(got, per_label)
    np.testing.assert_allclose(M.jaccard_score(p, y, zero_division=np.nan), 0.5)


@pytest.mark.parametrize("trial", [pytest.param(t, id=f"trial{t}") for t in range(6)])
@pytest.mark.parametrize("name", SCORED)
@pytest.mark.parametrize("average", SCORE_AVERAGES)
def test_score_metrics_equal_sklearn(average, name, trial) -> None:
    rng = np.random.default_rng(11 + trial)
    s, y, _, w = dataset(rng, b=int(rng.integers(4, 40)), n_labels=int(rng.integers(2, 6)),
                         levels=int(rng.integers(2, 9)), weights=bool(trial % 2))
    if trial % 3 == 0:
        y[:, 0] = rng.random(y.shape[0]) < 0.5  # no empty label: a defined macro AUC
        y[0, 0], y[1, 0] = 0, 1
        y[:, 1] = y[:, 0]
    expected = sk_scored(name, s, y, average, w)
    got = ours_scored(name, s, y, average, w)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


@pytest.mark.parametrize("trial", [pytest.param(t, id=f"trial{t}") for t in range(8)])
def test_binary_input_equals_sklearn_binary_average(trial) -> None:
    rng = np.random.default_rng(3 + trial)
    b = int(rng.integers(1, 15))
    y = (rng.random(b) < rng.random()).astype(int)
    p = (rng.random(b) < rng.random()).astype(int)
    s = rng.integers(0, 4, b) / 3.0
    w = rng.random(b) + 0.1 if trial % 2 else None
    for name in HARD:
        expected = skm.__dict__[f"{name}_score"](y, p, sample_weight=w, zero_division=1)
        for average in ("macro", "micro", "weighted", "none"):
            got = getattr(M, f"{name}_score")(p, y, average=average, weights=w,
                                              zero_division=1)
            assert got.shape == ()
            np.testing.assert_allclose(got, expected, rtol=1e-12, err_msg=f"{name} {average}")
    np.testing.assert_allclose(M.accuracy_score(p, y, weights=w),
                               skm.accuracy_score(y, p, sample_weight=w), rtol=1e-12)
    if 0 < y.sum() < b:
        for name in SCORED:
            np.testing.assert_allclose(ours_scored(name, s, y, "macro", w),
                                       sk_scored(name, s, y, "macro", w), rtol=1e-12)


@pytest.mark.parametrize("trial", TRIALS)
def test_accuracy_hamming_subset_equal_sklearn(trial) -> None:
    rng = np.random.default_rng(5 + trial)
    _, y, p, w = dataset(rng, b=int(rng.integers(4, 20)), weights=bool(trial % 2))
    per_label = np.array([skm.accuracy_score(y[:, j], p[:, j], sample_weight=w)
                          for j in range(y.shape[1])])
    np.testing.assert_allclose(M.accuracy_score(p, y, average="none", weights=w), per_label)
    np.testing.assert_allclose(M.accuracy_score(p, y, weights=w), per_label.mean())
    support = (y * (1.0 if w is None else w[:, None])).sum(0)
    np.testing.assert_allclose(M.accuracy_score(p, y, average="weighted", weights=w),
                               np.average(per_label, weights=support))
    hamming = skm.hamming_loss(y, p, sample_weight=w)
    np.testing.assert_allclose(M.hamming_loss(p, y, weights=w), hamming, rtol=1e-12)
    for average in ("micro", "samples"):
        np.testing.assert_allclose(M.accuracy_score(p, y, average=average, weights=w),
                                   1.0 - hamming, rtol=1e-12)
    np.testing.assert_allclose(M.subset_accuracy(p, y, weights=w),
                               skm.accuracy_score(y, p, sample_weight=w), rtol=1e-12)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("axis", [0, 1], ids=["per_label", "per_example"])
def test_confusion_counts_equal_sklearn_multilabel_confusion_matrix(axis, weighted) -> None:
    rng = np.random.default_rng(2)
    _, y, p, w = dataset(rng, weights=True)
    weights = w if weighted else None
    mcm = skm.multilabel_confusion_matrix(y, p, sample_weight=weights, samplewise=axis == 1)
    tp, fp, fn, tn = M.confusion_counts(p, y, weights=weights, axis=axis)
    # atol: scikit-learn's weighted tn is a difference (-4e-16 where ours is an exact 0).
    np.testing.assert_allclose(np.stack([tn, fp, fn, tp], -1).reshape(-1, 2, 2), mcm,
                               rtol=1e-12, atol=1e-12)
    assert tp.dtype == (np.float64 if weighted else np.int64)


def sk_recall_at_precision(s, y, target):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        precision, recall, _ = skm.precision_recall_curve(y, s)
    return recall[precision >= target].max()


@pytest.mark.parametrize("trial", [pytest.param(t, id=f"trial{t}") for t in range(6)])
def test_recall_at_precision_equals_sklearn_curve(trial) -> None:
    rng = np.random.default_rng(13 + trial)
    s, y, _, _ = dataset(rng, b=int(rng.integers(3, 40)), levels=int(rng.integers(2, 12)))
    target = float(rng.choice([0.25, 0.5, 0.6, 0.7, 0.75, 0.9, 1.0]))
    expected = np.array([sk_recall_at_precision(s[:, j], y[:, j], target)
                         for j in range(y.shape[1])])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        got = M.recall_at_precision(s, y, target_precision=target, average="none")
        np.testing.assert_allclose(got, expected, rtol=1e-12)
        np.testing.assert_allclose(M.recall_at_precision(s, y, target_precision=target),
                                   expected.mean(), rtol=1e-12)
        np.testing.assert_allclose(
            M.recall_at_precision(s, y, target_precision=target, average="micro"),
            sk_recall_at_precision(s.ravel(), y.ravel(), target), rtol=1e-12)


def brute_precision_at_k(s: np.ndarray, y: np.ndarray, k: int) -> np.ndarray:
    """Mean precision@k over every order of the labels (each order breaks ties one way)."""
    out = np.zeros(s.shape[0])
    orders = list(itertools.permutations(range(s.shape[1])))
    for perm in orders:
        perm = np.array(perm)
        ranked = np.argsort(-s[:, perm], axis=1, kind="stable")[:, :k]
        out += np.take_along_axis(y[:, perm], ranked, axis=1).sum(1) / k
    return out / len(orders)


@given(st.integers(1, 5), st.integers(0, 2**31 - 1))
def test_precision_at_k_is_the_tie_averaged_brute_force(k, seed) -> None:
    rng = np.random.default_rng(seed)
    s = rng.integers(0, 3, (6, 5)).astype(float)
    y = (rng.random((6, 5)) < 0.4).astype(int)
    expected = brute_precision_at_k(s, y, k)
    np.testing.assert_allclose(M.precision_at_k(s, y, k=k, average="none"), expected,
                               rtol=1e-12)
    np.testing.assert_allclose(M.precision_at_k(s, y, k=k), expected.mean(), rtol=1e-12)


@given(st.integers(2, 25), st.integers(1, 6), st.integers(0, 2**31 - 1))
def test_auc_and_ap_equal_sklearn_property(b, levels, seed) -> None:
    rng = np.random.default_rng(seed)
    s = rng.integers(0, levels, b) / levels
    y = (rng.random(b) < 0.5).astype(int)
    y[0], y[1] = 0, 1
    np.testing.assert_allclose(M.roc_auc_score(s, y), skm.roc_auc_score(y, s), rtol=1e-12)
    np.testing.assert_allclose(M.average_precision_score(s, y),
                               skm.average_precision_score(y, s), rtol=1e-12)


# --------------------------------------------------------------------------------------------
# Every namespace
# --------------------------------------------------------------------------------------------


@pytest.mark.float64
@pytest.mark.parametrize("average", METRIC_AVERAGES)
def test_hard_metrics_on_every_namespace(xp, average) -> None:
    rng = np.random.default_rng(17)
    _, y, p, w = dataset(rng, weights=True)
    pp, yy, ww = xp.asarray(p.astype(bool)), xp.asarray(y), xp.asarray(w)
    for name in (*HARD, "fbeta"):
        beta = 2.0 if name == "fbeta" else None
        expected = sk_hard(name, p, y, average, w, zero_division=1, beta=beta)
        got = ours_hard(name, pp, yy, average, ww, zero_division=1, beta=beta)
        assert_close(xp, got, expected, dtype="float64")
    # Integer inputs without weights: the namespace's default floating dtype.
    got = M.f1_score(xp.asarray(p), yy, average=average, zero_division=0)
    default = "float32" if xp.name in ("torch", "tensorflow") else "float64"
    assert_close(xp, got, sk_hard("f1", p, y, average, zero_division=0), dtype=default)


@pytest.mark.float64
@pytest.mark.parametrize("average", SCORE_AVERAGES)
def test_score_metrics_on_every_namespace(xp, average) -> None:
    rng = np.random.default_rng(19)
    s, y, _, w = dataset(rng, weights=True)
    ss, yy, ww = xp.asarray(s), xp.asarray(y.astype(bool)), xp.asarray(w)
    for name in SCORED:
        # Without weights for the per-label averages; the weighted path is the same code.
        weights, wx = (None, None) if average in ("macro", "none") else (w, ww)
        expected = sk_scored(name, s, y, average, weights)
        assert_close(xp, ours_scored(name, ss, yy, average, wx), expected, dtype="float64")
    if average in ("macro", "micro", "weighted"):
        expected = np.array([sk_recall_at_precision(s[:, j], y[:, j], 0.6)
                             for j in range(y.shape[1])])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UndefinedMetricWarning)
            got = M.recall_at_precision(ss, yy, target_precision=0.6, average=average)
        if average == "macro":
            expected = expected.mean()
        elif average == "micro":
            expected = sk_recall_at_precision(s.ravel(), y.ravel(), 0.6)
        elif average == "weighted":
            expected = np.average(expected, weights=y.sum(0))
        assert_close(xp, got, expected, dtype="float64")


@pytest.mark.float64
def test_simple_metrics_on_every_namespace(xp) -> None:
    rng = np.random.default_rng(23)
    s, y, p, w = dataset(rng, weights=True)
    pp, yy, ww = xp.asarray(p), xp.asarray(y), xp.asarray(w)
    assert_close(xp, M.hamming_loss(pp, yy, weights=ww), skm.hamming_loss(y, p, sample_weight=w),
                 dtype="float64")
    assert_close(xp, M.subset_accuracy(pp, yy, weights=ww),
                 skm.accuracy_score(y, p, sample_weight=w), dtype="float64")
    assert_close(xp, M.accuracy_score(pp, yy, average="none", weights=ww),
                 [skm.accuracy_score(y[:, j], p[:, j], sample_weight=w) for j in range(5)],
                 dtype="float64")
    expected = brute_precision_at_k(s, y, 2)
    assert_close(xp, M.precision_at_k(xp.asarray(s), yy, k=2, average="none"), expected,
                 dtype="float64")
    assert_close(xp, M.precision_at_k(xp.asarray(s), yy, k=2, weights=ww),
                 np.average(expected, weights=w), dtype="float64")
    mcm = skm.multilabel_confusion_matrix(y, p)
    counts = M.confusion_counts(pp, yy)
    for c, expected in zip(counts, (mcm[:, 1, 1], mcm[:, 0, 1], mcm[:, 1, 0], mcm[:, 0, 0]),
                           strict=True):
        assert xp.isdtype(c.dtype, "integral")
        np.testing.assert_array_equal(xp.to_numpy(c), expected)


@pytest.mark.parametrize("name", SCORED)
@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_low_precision_scores_return_float32(xp, dtype, name) -> None:
    """Half-precision scores compute and return float32 (as the losses do); float32 stays."""
    if not xp.supports(dtype):
        pytest.skip(f"{xp.name} has no {dtype}")
    rng = np.random.default_rng(29)
    s, y, _, _ = dataset(rng, b=24, levels=9)  # multiples of 1/8: exact in every dtype
    ss, yy = xp.asarray(s, dtype=dtype), xp.asarray(y)
    assert_close(xp, ours_scored(name, ss, yy, "none"), sk_scored(name, s, y, "none"),
                 dtype="float32")


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_hard_inputs_return_float32(xp, dtype) -> None:
    if not xp.supports(dtype):
        pytest.skip(f"{xp.name} has no {dtype}")
    rng = np.random.default_rng(29)
    _, y, p, w = dataset(rng, weights=True)
    w = np.round(w * 8) / 8  # exact in half precision
    pp, yy, ww = (xp.asarray(a, dtype=dtype) for a in (p, y, w))
    assert_close(xp, M.f1_score(pp, yy, weights=ww, zero_division=0),
                 sk_hard("f1", p, y, "macro", w, zero_division=0), dtype="float32")
    assert_close(xp, M.hamming_loss(pp, yy, weights=ww), skm.hamming_loss(y, p, sample_weight=w),
                 dtype="float32")
    assert_close(xp, M.confusion_counts(pp, yy, weights=ww)[0], ((p * y) * w[:, None]).sum(0),
                 dtype="float32")


# --------------------------------------------------------------------------------------------
# Warnings, devices, compilation
# --------------------------------------------------------------------------------------------


def test_zero_division_warns_in_eager_mode_only_when_asked() -> None:
    y = np.array([[1, 0], [1, 0]])
    p = np.array([[1, 0], [0, 0]])
    with pytest.warns(UndefinedMetricWarning, match="Precision is ill-defined"):
        M.precision_score(p, y)
    with pytest.warns(UndefinedMetricWarning, match="F-score is ill-defined"):
        M.f1_score(p, y, average="none")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        M.f1_score(p, y, zero_division=0)
        M.f1_score(p, y, average="micro")  # micro is defined: no warning
    with pytest.warns(UndefinedMetricWarning, match="Only one class"):
        M.roc_auc_score(np.array([[0.1, 0.2], [0.3, 0.4]]), y)
    with pytest.warns(UndefinedMetricWarning, match="No positive class"):
        M.average_precision_score(np.array([[0.1, 0.2], [0.3, 0.4]]), y)


def test_no_warning_and_no_host_sync_under_jit() -> None:
    jax = pytest.importorskip("jax")
    y = np.array([[1, 0], [1, 0]])
    p = np.array([[1, 0], [0, 0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = jax.jit(lambda a, b: M.f1_score(a, b, average="none"))(p, y)
    np.testing.assert_allclose(out, skm.f1_score(y, p, average=None, zero_division=0))


def test_results_stay_on_input_device(xp) -> None:
    if xp.name != "array_api_strict":
        pytest.skip("fake devices are array-api-strict's")
    device = xp.Device("device1")
    rng = np.random.default_rng(31)
    s, y, p, w = dataset(rng, weights=True)
    ss = xp.asarray(s, device=device)
    yy = xp.asarray(y, device=device)
    pp = xp.asarray(p, device=device)
    ww = xp.asarray(w, device=device)
    for average in METRIC_AVERAGES:
        expected = sk_hard("f1", p, y, average, w, zero_division=0)
        got = M.f1_score(pp, yy, average=average, weights=ww, zero_division=0)
        assert_close(xp, got, expected, dtype="float64", device=device)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UndefinedMetricWarning)
            assert_close(xp, M.roc_auc_score(ss, yy, average=average, weights=ww),
                         sk_scored("roc_auc", s, y, average, w), device=device)
            assert M.average_precision_score(ss, yy, average=average).device == device
    assert M.precision_at_k(ss, yy, k=3).device == device
    assert M.recall_at_precision(ss, yy, target_precision=0.5).device == device
    assert M.hamming_loss(pp, yy).device == device
    assert all(c.device == device for c in M.confusion_counts(pp, yy, weights=ww))


@pytest.mark.compiled
def test_compiled_equals_eager(xp) -> None:
    rng = np.random.default_rng(37)
    s, y, p, _ = dataset(rng, b=8, n_labels=3)

    def fn(scores, labels, preds):
        return (M.average_precision_score(scores, labels, average="none")
                + M.f1_score(preds, labels, average="weighted", zero_division=0))

    args = (xp.asarray(s, dtype="float32"), xp.asarray(y), xp.asarray(p))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        eager = xp.to_numpy(fn(*args))
        compiled = xp.to_numpy(xp.compile(fn)(*args))
    np.testing.assert_allclose(compiled, eager, rtol=1e-6)


def _hard_family(p, y, w):
    return (M.f1_score(p, y, average="weighted", zero_division=0, weights=w),
            M.precision_score(p, y, average="macro", zero_division=0),
            M.recall_score(p, y, average="samples", zero_division=0, weights=w),
            M.fbeta_score(p, y, beta=2.0, average="none", zero_division=0),
            M.jaccard_score(p, y, average="micro", zero_division=0),
            M.accuracy_score(p, y, average="none", weights=w),
            M.hamming_loss(p, y, weights=w), M.subset_accuracy(p, y),
            *M.confusion_counts(p, y), *M.confusion_counts(p, y, weights=w, axis=1))


def _score_family(s, y, w):
    return (M.roc_auc_score(s, y, weights=w), M.average_precision_score(s, y, average="none"),
            M.recall_at_precision(s, y, target_precision=0.6, average="micro"),
            M.roc_auc_score(s, y, average="samples"), M.precision_at_k(s, y, k=2, weights=w))


@pytest.mark.compiled
@pytest.mark.parametrize("batch", [7, 12], ids=["b7", "b12"])
@pytest.mark.parametrize("family", ["hard", "scores"])
def test_unknown_batch_size_traces_equal_eager(xp, family, batch) -> None:
    """Issue 12 §1: traced with an unknown batch size (tf.function (None, L) signature,
    torch.compile(dynamic=True), jax.export symbolic batch), every metric equals eager."""
    rng = np.random.default_rng(41)
    s, y, p, w = dataset(rng, b=batch, n_labels=3, weights=True)
    y[0], y[1] = 1, 0  # every label has both classes
    w = w.astype(np.float32)
    if family == "hard":
        fn, args = _hard_family, (xp.asarray(p.astype(bool)), xp.asarray(y), xp.asarray(w))
    else:
        fn, args = _score_family, (xp.asarray(s, dtype="float32"), xp.asarray(y),
                                   xp.asarray(w))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        traced = xp.trace_unknown_batch(fn, *args)
        if traced is None:
            pytest.skip(f"{xp.name} does not trace")
        eager = fn(*args)
    for i, (a, b) in enumerate(zip(traced, eager, strict=True)):
        # atol: weighted tn is a difference of float32 sums, summed in another order.
        np.testing.assert_allclose(xp.to_numpy(a), xp.to_numpy(b), rtol=1e-6, atol=1e-6,
                                   err_msg=f"output {i}")


# --------------------------------------------------------------------------------------------
# Argument order, missing and bad input
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["roc_auc_score", "average_precision_score"])
def test_swapped_score_arguments_raise_naming_the_order(xp, name) -> None:
    """scikit-learn takes (y_true, y_score); metricloss (scores, labels). A swapped call is
    caught where the values tell the two apart."""
    s = np.array([[0.9, 0.2], [0.4, 0.7], [0.3, 0.1]])
    y = np.array([[1, 0], [0, 1], [1, 0]])
    fn = getattr(M, name)
    # Integer labels first: the dtype says it.
    with pytest.raises(TypeError, match=r"scores must have a floating-point dtype.*swapped"):
        fn(xp.asarray(y), xp.asarray(s))
    # Float 0/1 labels first: the values say it (eager).
    with pytest.raises(ValueError, match=r"arguments look swapped.*\(scores, labels\)"):
        fn(xp.asarray(y.astype(np.float32)), xp.asarray(s, dtype="float32"))


def test_swapped_hard_arguments_name_the_order() -> None:
    """Hard predictions and labels are both 0/1: a swap cannot be detected (precision and
    recall exchange); scores passed as preds are refused with the order in the message."""
    p = np.array([[1, 0], [1, 1], [0, 0]])
    y = np.array([[1, 0], [0, 1], [1, 0]])
    np.testing.assert_allclose(M.precision_score(y, p), M.recall_score(p, y))
    for fn in (M.precision_score, M.f1_score, M.hamming_loss):
        with pytest.raises(ValueError, match=r"preds must hold only 0 and 1.*\(preds, labels\)"):
            fn(np.array([[0.9, 0.2], [0.4, 0.7], [0.3, 0.1]]), y)



@pytest.mark.parametrize("name", [n for n in M.__all__ if n[0].islower()])
def test_docstring_first_line_names_the_argument_order(name) -> None:
    doc = getattr(M, name).__doc__
    doc_first = doc.strip().splitlines()[0]
    assert "note: the reverse of scikit-learn's (y_true," in doc_first, doc_first


@pytest.mark.parametrize("position", ["first", "labels", "weights"])
def test_none_arrays_raise_type_error_naming_the_argument(position) -> None:
    p = np.array([[1, 0], [1, 1]])
    s = np.array([[0.9, 0.2], [0.4, 0.7]])
    if position == "first":
        with pytest.raises(TypeError, match="preds must be an array, got NoneType"):
            M.f1_score(None, p)
        with pytest.raises(TypeError, match="scores must be an array, got NoneType"):
            M.roc_auc_score(None, p)
    elif position == "labels":
        with pytest.raises(TypeError, match="labels must be an array, got NoneType"):
            M.hamming_loss(p, None)
        with pytest.raises(TypeError, match="labels must be an array, got NoneType"):
            M.precision_at_k(s, None, k=1)
    else:  # None weights are "no weights"; a list is refused
        np.testing.assert_allclose(M.f1_score(p, p, weights=None), 1.0)
        with pytest.raises(TypeError, match="weights must be an array, got list"):
            M.f1_score(p, p, weights=[1.0, 2.0])


def test_empty_inputs_raise_value_error() -> None:
    """Issue 11 F: metrics of no example are undefined; a clear ValueError (documented)."""
    with pytest.raises(ValueError, match="preds must hold at least one example"):
        M.f1_score(np.zeros((0, 2)), np.zeros((0, 2)))
    with pytest.raises(ValueError, match="scores must hold at least one example and one label"):
        M.roc_auc_score(np.zeros((3, 0)), np.zeros((3, 0)))


@pytest.mark.float64
def test_column_weights_equal_flat_weights(xp) -> None:
    rng = np.random.default_rng(43)
    s, y, p, w = dataset(rng, weights=True)
    ss, yy, pp = xp.asarray(s), xp.asarray(y), xp.asarray(p)
    flat, column = xp.asarray(w), xp.asarray(w[:, None])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        for fn, a in ((M.f1_score, pp), (M.roc_auc_score, ss), (M.hamming_loss, pp)):
            np.testing.assert_array_equal(xp.to_numpy(fn(a, yy, weights=column)),
                                          xp.to_numpy(fn(a, yy, weights=flat)))
    with pytest.raises(ValueError, match=r"weights must have shape \(24,\) or \(24, 1\)"):
        M.f1_score(pp, yy, weights=xp.asarray(np.ones((24, 2))))



def test_bad_inputs_raise_clear_errors(xp) -> None:
    s = xp.asarray(np.full((3, 2), 0.5))
    y = xp.asarray(np.array([[1, 0], [0, 1], [1, 1]]))
    with pytest.raises(ValueError, match=r"labels must have the shape of preds \(3, 2\)"):
        M.f1_score(y, xp.asarray(np.zeros((3, 3))))
    with pytest.raises(ValueError, match=r"labels must have the shape of scores"):
        M.roc_auc_score(s, xp.asarray(np.zeros(3)))
    with pytest.raises(ValueError, match="scores must be finite"):
        M.roc_auc_score(xp.asarray(np.array([[0.1, np.nan], [0.2, 0.3], [0.1, 0.1]])), y)
    with pytest.raises(ValueError, match="scores must be finite"):
        M.average_precision_score(xp.asarray(np.array([[0.1, np.inf]] * 3)), y)
    with pytest.raises(TypeError, match="scores must have a floating-point dtype"):
        M.roc_auc_score(y, y)
    with pytest.raises(ValueError, match="labels must hold only 0 and 1"):
        M.roc_auc_score(s, xp.asarray(np.full((3, 2), 2)))
    with pytest.raises(ValueError, match="preds must hold only 0 and 1"):
        M.precision_score(xp.asarray(np.full((3, 2), 0.5)), y)
    with pytest.raises(ValueError, match="average must be one of"):
        M.f1_score(y, y, average="binary")
    with pytest.raises(ValueError, match="average='samples' needs multi-label input"):
        M.recall_score(xp.asarray(np.array([1, 0])), xp.asarray(np.array([1, 1])),
                       average="samples")
    with pytest.raises(ValueError, match="zero_division must be 'warn', 0, 1 or nan"):
        M.f1_score(y, y, zero_division=0.5)
    with pytest.raises(ValueError, match=r"weights must have shape \(3,\) or \(3, 1\)"):
        M.f1_score(y, y, weights=xp.asarray(np.ones((3, 2))))
    with pytest.raises(ValueError, match="weights must be non-negative"):
        M.roc_auc_score(s, y, weights=xp.asarray(np.array([1.0, -1.0, 1.0])))
    with pytest.raises(ValueError, match=r"k must be an integer in \[1, 2\]"):
        M.precision_at_k(s, y, k=3)
    with pytest.raises(ValueError, match=r"target_precision must lie in \(0, 1\]"):
        M.recall_at_precision(s, y, target_precision=0.0)
    with pytest.raises(ValueError, match=r"beta must lie in \(0, inf\]"):
        M.fbeta_score(y, y, beta=0)
    with pytest.raises(ValueError, match="preds must hold at least one example"):
        M.f1_score(xp.asarray(np.zeros((0, 2))), xp.asarray(np.zeros((0, 2))))
    with pytest.raises(ValueError, match=r"axis must be an integer in \[-2, 1\]"):
        M.confusion_counts(y, y, axis=2)
