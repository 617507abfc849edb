"""Threshold tuning (SPEC §4): equal to a brute-force search over every distinct cut point."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import sklearn.metrics as skm
from hypothesis import given
from hypothesis import strategies as st

from metricloss.metrics import UndefinedMetricWarning
from metricloss.thresholds import TUNE_METRICS, binarize, tune_thresholds
from tests.support import assert_close

# Metrics whose value is one correctly rounded division of exact counts: equal candidates give
# bit-equal values, so even the tie-break (highest threshold) can be checked exactly.
EXACT = ("f1", "fbeta", "precision", "recall", "jaccard", "accuracy")


def oracle_metric(metric: str, y: np.ndarray, pred: np.ndarray, beta: float = 0.5) -> float:
    """The metric of hard predictions, undefined ratios counting as 0 (scikit-learn where it
    has the metric, NumPy float64 closed forms elsewhere)."""
    kw = {"zero_division": 0}
    if metric == "f1":
        return skm.f1_score(y, pred, **kw)
    if metric == "fbeta":
        return skm.fbeta_score(y, pred, beta=beta, **kw)
    if metric == "precision":
        return skm.precision_score(y, pred, **kw)
    if metric == "recall":
        return skm.recall_score(y, pred, **kw)
    if metric == "jaccard":
        return skm.jaccard_score(y, pred, **kw)
    if metric == "accuracy":
        return skm.accuracy_score(y, pred)
    if metric == "mcc":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "A single label was found"
            return skm.matthews_corrcoef(y, pred)
    tp = np.sum(pred & (y == 1))
    fn = np.sum(~pred & (y == 1))
    tn = np.sum(~pred & (y == 0))
    fp = np.sum(pred & (y == 0))
    tpr = tp / (tp + fn) if tp + fn else 0.0
    tnr = tn / (tn + fp) if tn + fp else 0.0
    return (tpr + tnr) / 2 if metric == "balanced_accuracy" else float(np.sqrt(tpr * tnr))


def candidates(s: np.ndarray) -> list[float]:
    """Every distinct cut: predict nothing, then ``s >= v`` for each distinct score, highest
    first."""
    return [np.inf, *np.unique(s)[::-1].tolist()]


def brute_force(s: np.ndarray, y: np.ndarray, metric: str, beta: float = 0.5):
    """(best value, best predictions): the first (highest-threshold) strict maximum."""
    best, best_pred = -np.inf, None
    for t in candidates(s):
        pred = s >= t
        value = oracle_metric(metric, y, pred, beta)
        if value > best:
            best, best_pred = value, pred
    return best, best_pred


def brute_force_constrained(s: np.ndarray, y: np.ndarray, target: float):
    best, best_pred = -1.0, None
    for t in candidates(s):
        pred = s >= t
        tp = np.sum(pred & (y == 1))
        precision = tp / pred.sum() if pred.sum() else 1.0
        recall = tp / y.sum() if y.sum() else 0.0
        if precision >= target and recall > best:
            best, best_pred = recall, pred
    return best, best_pred


def data(rng: np.random.Generator, b: int = 24, n_labels: int = 5, levels: int = 7):
    s = rng.integers(0, levels, (b, n_labels)) / levels + rng.normal(0, 1, n_labels)
    y = (rng.random((b, n_labels)) < rng.uniform(0.15, 0.6, n_labels)).astype(np.int64)
    return s, y


def tune_quiet(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        return tune_thresholds(*args, **kwargs)


# --------------------------------------------------------------------------------------------
# Brute force on NumPy
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("trial", [pytest.param(t, id=f"trial{t}") for t in range(4)])
@pytest.mark.parametrize("metric", [m for m in TUNE_METRICS if m != "recall_at_precision"])
def test_tuning_equals_brute_force_over_every_cut(metric, trial) -> None:
    rng = np.random.default_rng(41 + trial)
    s, y = data(rng, b=int(rng.integers(2, 30)), levels=int(rng.integers(2, 12)))
    if trial == 0:
        y[:, 1] = 1  # all positive
        s[:, 2] = 0.25  # constant scores
    thresholds, values = tune_quiet(s, y, metric=metric, beta=0.5, return_values=True)
    predictions = binarize(s, thresholds)
    for j in range(s.shape[1]):
        best, best_pred = brute_force(s[:, j], y[:, j], metric)
        achieved = oracle_metric(metric, y[:, j], predictions[:, j])
        np.testing.assert_allclose(values[j], best, rtol=1e-12, atol=1e-15, err_msg=f"label {j}")
        np.testing.assert_allclose(achieved, best, rtol=1e-12, atol=1e-15, err_msg=f"label {j}")
        if metric in EXACT:
            np.testing.assert_array_equal(predictions[:, j], best_pred, err_msg=f"label {j}")


def test_threshold_is_the_midpoint_below_the_chosen_score() -> None:
    s = np.array([0.9, 0.8, 0.8, 0.3, 0.1])
    y = np.array([1, 1, 0, 0, 0])
    # Cuts: {0.9}: F1 2/3; {0.9, 0.8, 0.8}: F1 0.8; more: lower. Next lower distinct is 0.3.
    np.testing.assert_allclose(tune_thresholds(s, y), (0.8 + 0.3) / 2)
    assert tune_thresholds(s, np.ones(5, dtype=int)) == 0.1  # everything: the lowest score
    np.testing.assert_allclose(tune_thresholds(s, y, metric="precision"), (0.9 + 0.8) / 2)


@pytest.mark.parametrize("metric", ["f1", "mcc", "accuracy"])
def test_shared_threshold_equals_brute_force_on_micro_metric(metric) -> None:
    rng = np.random.default_rng(43)
    s, y = data(rng, b=20, n_labels=3, levels=5)
    thresholds, value = tune_quiet(s, y, metric=metric, shared=True, return_values=True)
    assert thresholds.shape == (3,) and value.shape == ()
    assert np.all(thresholds == thresholds[0])
    best, best_pred = brute_force(s.ravel(), y.ravel(), metric)
    np.testing.assert_allclose(value, best, rtol=1e-12)
    achieved = oracle_metric(metric, y.ravel(), binarize(s, thresholds).ravel())
    np.testing.assert_allclose(achieved, best, rtol=1e-12)
    if metric in EXACT:
        np.testing.assert_array_equal(binarize(s, thresholds).ravel(), best_pred)


@pytest.mark.parametrize("trial", [pytest.param(t, id=f"trial{t}") for t in range(3)])
@pytest.mark.parametrize("target", [0.3, 0.5, 2 / 3, 0.75, 0.9, 1.0],
                         ids=["0.3", "0.5", "2/3", "0.75", "0.9", "1"])
def test_constrained_tuning_equals_brute_force(target, trial) -> None:
    rng = np.random.default_rng(47 + trial)
    s, y = data(rng, b=int(rng.integers(2, 30)), levels=int(rng.integers(2, 12)))
    thresholds, recall = tune_quiet(s, y, metric="recall_at_precision",
                                    target_precision=target, return_values=True)
    predictions = binarize(s, thresholds)
    for j in range(s.shape[1]):
        best, best_pred = brute_force_constrained(s[:, j], y[:, j], target)
        np.testing.assert_allclose(recall[j], best, rtol=1e-12)
        np.testing.assert_array_equal(predictions[:, j], best_pred)
        # The same recall as scikit-learn's precision-recall curve.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            precision_c, recall_c, _ = skm.precision_recall_curve(y[:, j], s[:, j])
        np.testing.assert_allclose(best, recall_c[precision_c >= target].max(), rtol=1e-12)


def test_a_target_without_a_metric_means_recall_at_precision() -> None:
    """Issue 21, item 11: ``tune_thresholds(scores, labels, target_precision=α)`` tunes the
    highest recall at precision ≥ α (brute force), not F1 with an error."""
    rng = np.random.default_rng(53)
    s, y = data(rng, b=20)
    thresholds, recall = tune_quiet(s, y, target_precision=0.8, return_values=True)
    predictions = binarize(s, thresholds)
    for j in range(s.shape[1]):
        best, best_pred = brute_force_constrained(s[:, j], y[:, j], 0.8)
        np.testing.assert_allclose(recall[j], best, rtol=1e-12)
        np.testing.assert_array_equal(predictions[:, j], best_pred)


@given(st.integers(1, 16), st.integers(1, 3), st.integers(1, 6),
       st.sampled_from(["f1", "jaccard", "accuracy", "mcc", "balanced_accuracy"]),
       st.integers(0, 2**31 - 1))
def test_tuning_equals_brute_force_property(b, n_labels, levels, metric, seed) -> None:
    rng = np.random.default_rng(seed)
    s, y = data(rng, b=b, n_labels=n_labels, levels=levels)
    thresholds, values = tune_quiet(s, y, metric=metric, return_values=True)
    predictions = binarize(s, thresholds)
    for j in range(n_labels):
        best, best_pred = brute_force(s[:, j], y[:, j], metric)
        np.testing.assert_allclose(values[j], best, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(oracle_metric(metric, y[:, j], predictions[:, j]), best,
                                   rtol=1e-12, atol=1e-15)
        if metric in EXACT:
            np.testing.assert_array_equal(predictions[:, j], best_pred)


# --------------------------------------------------------------------------------------------
# Degenerate labels
# --------------------------------------------------------------------------------------------


def test_degenerate_labels_get_documented_thresholds_and_warnings() -> None:
    s = np.array([[0.9, 0.5, 0.9], [0.4, 0.5, 0.8], [0.2, 0.5, 0.7], [0.1, 0.5, 0.6]])
    y = np.array([[0, 1, 1], [0, 0, 0], [0, 1, 0], [0, 0, 0]])
    with pytest.warns(UndefinedMetricWarning) as record:
        thresholds = tune_thresholds(s, y)
    messages = " | ".join(str(r.message) for r in record)
    assert "label(s) 0: no positive example" in messages
    assert "label(s) 1: constant scores" in messages
    assert thresholds[0] == np.inf  # never predicted
    assert thresholds[1] == 0.5  # all positive (F1 2/3) beats none (F1 0)
    np.testing.assert_allclose(thresholds[2], (0.9 + 0.8) / 2)
    # Accuracy prefers predicting none of the constant label (2 right of 4, tie: highest).
    assert tune_quiet(s, y, metric="accuracy")[1] == np.inf
    with pytest.warns(UndefinedMetricWarning, match=r"label\(s\) 0: no threshold reaches"):
        out = tune_thresholds(s[:, 2:], np.array([[0], [1], [0], [0]]),
                              metric="recall_at_precision", target_precision=0.9)
    assert out[0] == np.inf
    with pytest.warns(UndefinedMetricWarning, match="the pooled labels: no positive"):
        tune_thresholds(s, np.zeros_like(y), shared=True)
    for metric in TUNE_METRICS[:-1]:
        assert tune_quiet(s, np.zeros_like(y), metric=metric)[1] == np.inf


def test_no_warning_under_jit() -> None:
    jax = pytest.importorskip("jax")
    s = np.array([[0.9, 0.5], [0.4, 0.5]])
    y = np.array([[0, 1], [0, 0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = jax.jit(tune_thresholds)(s, y)
    np.testing.assert_array_equal(np.asarray(out), [np.inf, 0.5])


# --------------------------------------------------------------------------------------------
# Every namespace: values, exact reproduction in low precision, devices, compilation
# --------------------------------------------------------------------------------------------


@pytest.mark.float64
@pytest.mark.parametrize("mode", ["f1", "mcc", "shared", "constrained"])
def test_same_thresholds_on_every_namespace(xp, mode) -> None:
    rng = np.random.default_rng(53)
    s, y = data(rng)
    y[:, 3] = 0
    kwargs = {"shared": {"shared": True},
              "constrained": {"metric": "recall_at_precision", "target_precision": 0.6}
              }.get(mode, {"metric": mode})
    expected, expected_values = tune_quiet(s, y, return_values=True, **kwargs)
    ss, yy = xp.asarray(s), xp.asarray(y.astype(bool))
    thresholds, values = tune_quiet(ss, yy, return_values=True, **kwargs)
    assert_close(xp, thresholds, expected, dtype="float64")
    assert_close(xp, values, expected_values, dtype="float64")
    got = binarize(ss, thresholds)
    assert xp.isdtype(got.dtype, "bool")
    np.testing.assert_array_equal(xp.to_numpy(got), s >= expected)


@pytest.mark.parametrize("dtype", ["float64", "float32", "float16", "bfloat16"])
def test_binarize_reproduces_tuned_counts_for_adjacent_scores(xp, dtype) -> None:
    """Scores one ulp apart: a rounded midpoint lands on one of them; the result must still
    split them exactly as the tuned cut does."""
    if not xp.supports(dtype):
        pytest.skip(f"{xp.name} has no {dtype}")
    base = {"float64": np.float64, "float32": np.float32, "float16": np.float16}
    if dtype == "bfloat16":
        ml_dtypes = pytest.importorskip("ml_dtypes")
        np_dtype = ml_dtypes.bfloat16
    else:
        np_dtype = base[dtype]
    one = np.array(1.0, dtype=np_dtype)
    up = np.nextafter(one, np.array(2.0, dtype=np_dtype)) if dtype != "bfloat16" else (
        np.array(1.0078125, dtype=np_dtype))
    down = np.nextafter(one, np.array(0.0, dtype=np_dtype)) if dtype != "bfloat16" else (
        np.array(0.99609375, dtype=np_dtype))
    column = np.array([up, one, down, up, one, down], dtype=np_dtype).astype(np.float64)
    s = np.stack([column, column, column], axis=1)
    y = np.array([[1, 1, 0], [1, 0, 1], [0, 0, 1], [1, 1, 0], [0, 0, 1], [0, 0, 1]])
    ss = xp.asarray(s, dtype=dtype)
    for metric in ("f1", "precision"):
        thresholds = tune_quiet(ss, xp.asarray(y), metric=metric)
        assert_close(xp, thresholds, xp.to_numpy(thresholds), dtype=dtype)
        predictions = xp.to_numpy(binarize(ss, thresholds))
        for j in range(3):
            _, best_pred = brute_force(s[:, j], y[:, j], metric)
            np.testing.assert_array_equal(predictions[:, j], best_pred, err_msg=f"{metric} {j}")


@pytest.mark.float64
def test_results_stay_on_input_device(xp) -> None:
    if xp.name != "array_api_strict":
        pytest.skip("fake devices are array-api-strict's")
    device = xp.Device("device1")
    rng = np.random.default_rng(59)
    s, y = data(rng)
    ss, yy = xp.asarray(s, device=device), xp.asarray(y, device=device)
    expected = tune_quiet(s, y)
    thresholds = tune_quiet(ss, yy)
    assert_close(xp, thresholds, expected, dtype="float64", device=device)
    assert binarize(ss, thresholds).device == device
    assert tune_quiet(ss, yy, shared=True).device == device


@pytest.mark.compiled
def test_compiled_equals_eager(xp) -> None:
    rng = np.random.default_rng(61)
    s, y = data(rng, b=12, n_labels=3)

    def fn(scores, labels):
        thresholds = tune_thresholds(scores, labels, metric="mcc")
        return thresholds, binarize(scores, thresholds)

    args = (xp.asarray(s, dtype="float32"), xp.asarray(y))
    eager = [xp.to_numpy(a) for a in fn(*args)]
    compiled = [xp.to_numpy(a) for a in xp.compile(fn)(*args)]
    np.testing.assert_array_equal(compiled[0], eager[0])
    np.testing.assert_array_equal(compiled[1], eager[1])


@pytest.mark.float64
def test_binary_input_gives_a_scalar_threshold(xp) -> None:
    s = np.array([0.9, 0.7, 0.4, 0.2])
    y = np.array([1, 0, 1, 0])
    thresholds, value = tune_quiet(xp.asarray(s), xp.asarray(y), return_values=True)
    _, best_pred = brute_force(s, y, "f1")
    assert tuple(thresholds.shape) == () and tuple(value.shape) == ()
    np.testing.assert_array_equal(xp.to_numpy(binarize(xp.asarray(s), thresholds)), best_pred)
    assert_close(xp, value, skm.f1_score(y, best_pred), dtype="float64")


# --------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------


def test_bad_inputs_raise_clear_errors(xp) -> None:
    s = xp.asarray(np.array([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]]))
    y = xp.asarray(np.array([[1, 0], [0, 1], [1, 1]]))
    with pytest.raises(ValueError, match=r"labels must have the shape of scores \(3, 2\)"):
        tune_thresholds(s, xp.asarray(np.zeros((3, 3))))
    with pytest.raises(ValueError, match="scores must be finite"):
        tune_thresholds(xp.asarray(np.array([[0.1, np.nan], [0.2, 0.3], [0.1, 0.1]])), y)
    with pytest.raises(ValueError, match="labels must hold only 0 and 1"):
        tune_thresholds(s, xp.asarray(np.full((3, 2), 0.5)))
    with pytest.raises(ValueError, match="metric must be one of"):
        tune_thresholds(s, y, metric="auc")
    with pytest.raises(ValueError, match="needs target_precision"):
        tune_thresholds(s, y, metric="recall_at_precision")
    with pytest.raises(ValueError, match=r"target_precision is used only by.*leave metric out"):
        tune_thresholds(s, y, metric="f1", target_precision=0.5)
    with pytest.raises(ValueError, match=r"target_precision must lie in \(0, 1\]"):
        tune_thresholds(s, y, metric="recall_at_precision", target_precision=1.5)
    with pytest.raises(ValueError, match=r"beta must lie in \(0, inf\]"):
        tune_thresholds(s, y, metric="fbeta", beta=-1.0)
    with pytest.raises(TypeError, match="shared must be True or False"):
        tune_thresholds(s, y, shared=1)
    with pytest.raises(ValueError, match=r"thresholds must have shape \(\) or \(2,\)"):
        binarize(s, xp.asarray(np.array([0.5, 0.5, 0.5])))
    with pytest.raises(ValueError, match="thresholds must not be NaN"):
        binarize(s, xp.asarray(np.array([0.5, np.nan])))
    with pytest.raises(ValueError, match="thresholds must not be NaN"):
        binarize(s, float("nan"))
    with pytest.raises(ValueError, match="scores must be finite"):
        binarize(xp.asarray(np.array([[np.nan, 0.1]])), 0.5)
    with pytest.raises(TypeError, match="scores must have a floating-point dtype"):
        binarize(y, 0.5)


@pytest.mark.compiled
@pytest.mark.parametrize("batch", [7, 12], ids=["b7", "b12"])
def test_unknown_batch_size_traces_equal_eager(xp, batch) -> None:
    """Issue 12 §1: tune_thresholds (per label, shared and constrained) and binarize traced with
    an unknown batch size equal eager."""
    rng = np.random.default_rng(67)
    s, y = data(rng, b=batch, n_labels=3)
    y[0], y[1] = 1, 0

    def fn(scores, labels):
        t = tune_thresholds(scores, labels, metric="mcc")
        t2, v2 = tune_thresholds(scores, labels, metric="recall_at_precision",
                                 target_precision=0.5, shared=True, return_values=True)
        return t, binarize(scores, t), t2, v2

    args = (xp.asarray(s, dtype="float32"), xp.asarray(y))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        traced = xp.trace_unknown_batch(fn, *args)
        if traced is None:
            pytest.skip(f"{xp.name} does not trace")
        eager = fn(*args)
    for i, (a, b) in enumerate(zip(traced, eager, strict=True)):
        np.testing.assert_array_equal(xp.to_numpy(a), xp.to_numpy(b), err_msg=f"output {i}")


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_thresholds_keep_the_scores_dtype_values_float32(xp, dtype) -> None:
    if not xp.supports(dtype):
        pytest.skip(f"{xp.name} has no {dtype}")
    s = np.array([[0.75, 0.25], [0.5, 0.875], [0.125, 0.5], [0.25, 0.0]])
    y = np.array([[1, 0], [1, 1], [0, 1], [0, 0]])
    expected, expected_values = tune_quiet(s, y, return_values=True)
    thresholds, values = tune_quiet(xp.asarray(s, dtype=dtype), xp.asarray(y),
                                    return_values=True)
    assert_close(xp, thresholds, expected, dtype=dtype)
    assert_close(xp, values, expected_values, dtype="float32")


def test_none_and_swapped_arguments_raise_naming_them() -> None:
    s = np.array([[0.9, 0.2], [0.4, 0.7], [0.3, 0.1]])
    y = np.array([[1, 0], [0, 1], [1, 0]])
    with pytest.raises(TypeError, match="scores must be an array, got NoneType"):
        tune_thresholds(None, y)
    with pytest.raises(TypeError, match="labels must be an array, got NoneType"):
        tune_thresholds(s, None)
    with pytest.raises(TypeError, match="scores must be an array, got NoneType"):
        binarize(None, 0.5)
    with pytest.raises(TypeError, match="thresholds must be a number or an array"):
        binarize(s, None)
    with pytest.raises(ValueError, match=r"arguments look swapped.*\(scores, labels\)"):
        tune_thresholds(y.astype(float), s)
    with pytest.raises(ValueError, match="scores must hold at least one example"):
        tune_thresholds(np.zeros((0, 2)), np.zeros((0, 2)))
    assert "note: the reverse of scikit-learn's" in tune_thresholds.__doc__.splitlines()[0]


def test_documented_protocol_example_prints_what_the_docs_say(capsys) -> None:
    """docs/evaluation.md: its first Python block prints its first output block."""
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "evaluation.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    documented = re.search(r"Output[^\n]*\n\n```\n(.*?)```", text, re.S).group(1)
    exec(compile(code, "docs/evaluation.md", "exec"), {"__name__": "docs_example"})
    assert capsys.readouterr().out == documented
