"""Streaming evaluation (metricloss.streaming): the CurveState against scikit-learn and the
exact path on the concatenated stream, merge, constant size, grid-exactness, compiled and
unknown-batch traces, hostile input and clear errors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from sklearn.metrics import average_precision_score as sk_ap
from sklearn.metrics import roc_auc_score as sk_auc

import metricloss as ml
from tests.support import assert_close

B, L = 20000, 7
# Uneven batches, with a batch of one and an empty one.
CUTS = (0, 1, 1, 4999, 5000, 12345, B)


def stream_data(seed: int = 22):
    """Scores (logits) of a well-trained model: negatives around -5, positives around 2."""
    rng = np.random.default_rng(seed)
    y = rng.random((B, L)) < rng.uniform(0.02, 0.3, L)
    z = np.where(y, rng.normal(2.0, 2.5, (B, L)), rng.normal(-5.0, 2.0, (B, L)))
    w = rng.random(B) + 0.5
    return z, y, w


def stream(xp, z, y, w=None, cuts=CUTS, state=None, dtype="float64", **init):
    zz, yy = xp.asarray(z, dtype=dtype), xp.asarray(y)
    ww = None if w is None else xp.asarray(w)
    if state is None:
        state = ml.curve_state_init(L if z.ndim == 2 else 1, like=zz, **init)
    # JAX compiles every operation per shape in eager mode: one jit per update instead (eager
    # JAX is covered by the smaller tests below).
    update = ml.curve_state_update
    if xp.name == "jax":
        import jax

        update = jax.jit(ml.curve_state_update)
    for a, b in itertools.pairwise(cuts):
        state = update(state, zz[a:b, ...], yy[a:b, ...],
                       weights=None if ww is None else ww[a:b])
    return state


def read(xp, fn, state, **options):
    """``fn(state, **options)`` as NumPy (under one ``jax.jit`` for JAX, as in stream)."""
    if xp.name == "jax":
        import jax

        return xp.to_numpy(jax.jit(lambda s: fn(s, **options))(state))
    return xp.to_numpy(fn(state, **options))


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_state_metrics_match_sklearn_on_the_concatenation(xp, weighted) -> None:
    z, y, w = stream_data()
    w = w if weighted else None
    state = stream(xp, z, y, w)
    for average in ("none", "macro", "micro", "weighted"):
        sk = None if average == "none" else average
        ap = read(xp, ml.average_precision_score, state, average=average)
        auc = read(xp, ml.roc_auc_score, state, average=average)
        np.testing.assert_allclose(ap, sk_ap(y, z, average=sk, sample_weight=w), atol=2e-3)
        np.testing.assert_allclose(auc, sk_auc(y, z, average=sk, sample_weight=w), atol=2e-3)
    # Recall at precision: the exact path's, within the bins' resolution.
    exact = ml.recall_at_precision(z, y, target_precision=0.8, weights=w, average="none")
    got = read(xp, ml.recall_at_precision, state, target_precision=0.8, average="none")
    np.testing.assert_allclose(got, exact, atol=5e-3)


def test_grid_scores_give_the_exact_metrics(xp) -> None:
    rng = np.random.default_rng(3)
    num_bins = 64
    edges = ml.curve_state_edges(num_bins)
    z = edges[rng.integers(1, num_bins, (400, L))]
    z[rng.random((400, L)) < 0.05] = -1e3  # bin 0 (below every finite edge): one value
    y = rng.random((400, L)) < 0.3
    w = rng.random(400)
    state = stream(xp, z, y, w, cuts=(0, 150, 400), num_bins=num_bins)
    assert_close(xp, ml.average_precision_score(state, average="none"),
                 sk_ap(y, z, average=None, sample_weight=w), rtol=1e-10)
    assert_close(xp, ml.roc_auc_score(state, average="micro"),
                 sk_auc(y, z, average="micro", sample_weight=w), rtol=1e-10)
    for target in (0.3, 0.6):
        assert_close(xp, ml.recall_at_precision(state, target_precision=target, average="none"),
                     ml.recall_at_precision(z, y, target_precision=target, weights=w,
                                            average="none"), rtol=1e-10)
    # The exact tuner on the same (unweighted) grid data reaches the same metric values.
    state = stream(xp, z, y, cuts=(0, 400), num_bins=num_bins)
    _, values = ml.tune_thresholds(state, metric="mcc", return_values=True)
    _, exact = ml.tune_thresholds(z, y, metric="mcc", return_values=True)
    assert_close(xp, values, exact, rtol=1e-10)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_merge_of_two_halves_equals_one_pass(xp, weighted) -> None:
    z, y, w = stream_data()
    w = w if weighted else None
    one = stream(xp, z, y, w)
    first = stream(xp, z, y, w, cuts=(0, 1, 7000))
    second = stream(xp, z, y, w, cuts=(7000, 7000, B))
    merged = ml.curve_state_merge(first, second)
    # Weighted sums in another order: equal to rounding (array-api-strict's pure-standard
    # histogram subtracts cumulative sums); counts exactly.
    rtol = 1e-9 if weighted else 0.0
    for got, want in zip(merged, one, strict=True):
        assert_close(xp, got, xp.to_numpy(want), rtol=rtol)
    assert_close(xp, ml.average_precision_score(merged),
                 xp.to_numpy(ml.average_precision_score(one)), rtol=max(rtol, 1e-12))


def test_thresholds_tuned_from_the_state(xp) -> None:
    z, y, _ = stream_data()
    state = stream(xp, z, y)
    thresholds, values = ml.tune_thresholds(state, metric="f1", return_values=True)
    t = xp.to_numpy(thresholds)
    f1_state = ml.f1_score(ml.binarize(z, t), y, average="none")
    f1_exact = ml.f1_score(ml.binarize(z, ml.tune_thresholds(z, y)), y, average="none")
    assert np.all(f1_state >= f1_exact - 2e-3), (f1_state, f1_exact)
    # The thresholds realise the state's counts exactly on the streamed data.
    np.testing.assert_allclose(xp.to_numpy(values), f1_state, rtol=1e-12)
    counts = ml.confusion_counts(state, thresholds)
    want = ml.confusion_counts(ml.binarize(z, t), y)
    for got, c in zip(counts, want, strict=True):
        np.testing.assert_array_equal(xp.to_numpy(got), c)
    # Shared threshold and the constrained form, against brute force over the grid edges.
    shared = xp.to_numpy(ml.tune_thresholds(state, shared=True))
    assert np.all(shared == shared[0])
    edges = ml.curve_state_edges()
    micro = [ml.f1_score(ml.binarize(z, e), y, average="micro") for e in edges[1::8]]
    assert ml.f1_score(ml.binarize(z, shared), y, average="micro") >= max(micro) - 1e-12
    t = xp.to_numpy(ml.tune_thresholds(state, metric="recall_at_precision",
                                       target_precision=0.9))
    tp, fp, _fn, _ = ml.confusion_counts(ml.binarize(z, t), y)
    assert np.all(tp / np.maximum(tp + fp, 1) >= 0.9)


def test_state_size_does_not_grow(xp) -> None:
    rng = np.random.default_rng(5)
    state = ml.curve_state_init(3, num_bins=16, xp=xp.ns)
    z, y = xp.asarray(rng.normal(size=(4, 3))), xp.asarray(rng.random((4, 3)) < 0.5)
    after_one = ml.curve_state_update(state, z, y)
    state = after_one
    updates = 1000 if xp.name in ("numpy", "array_api_strict", "torch") else 100
    for _ in range(updates - 1):
        state = ml.curve_state_update(state, z, y)
    for a, b in zip(after_one, state, strict=True):
        assert tuple(a.shape) == tuple(b.shape) == (3, 16) and a.dtype == b.dtype
    if xp.name == "numpy":
        assert sum(a.nbytes for a in state) == sum(a.nbytes for a in after_one)
    total = xp.to_numpy(state.positives + state.negatives).sum()
    assert total == 4 * 3 * updates


def test_hostile_input(xp) -> None:
    """±inf in the end bins, an empty batch, float16 scores, a label never positive."""
    state = ml.curve_state_init(2, num_bins=8, like=xp.asarray(np.zeros(1)))
    z = np.array([[np.inf, -np.inf], [-np.inf, 3.0], [0.5, np.inf]])
    y = np.array([[1, 0], [0, 0], [1, 0]])
    state = ml.curve_state_update(state, xp.asarray(z), xp.asarray(y))
    state = ml.curve_state_update(state, xp.asarray(np.zeros((0, 2))),
                                  xp.asarray(np.zeros((0, 2), dtype=bool)))
    if xp.supports("float16"):
        state = ml.curve_state_update(state, xp.asarray(z, dtype="float16"), xp.asarray(y))
    pos, neg = xp.to_numpy(state.positives), xp.to_numpy(state.negatives)
    n = 2 if xp.supports("float16") else 1
    np.testing.assert_array_equal(pos[0], n * np.array([0, 0, 0, 0, 1, 0, 0, 1]))
    np.testing.assert_array_equal(neg[1], n * np.array([1, 0, 0, 0, 0, 1, 0, 1]))
    with pytest.warns(ml.UndefinedMetricWarning):
        ap = ml.average_precision_score(state, average="none")
    np.testing.assert_allclose(xp.to_numpy(ap), [1.0, 0.0])
    with pytest.warns(ml.UndefinedMetricWarning):
        t = xp.to_numpy(ml.tune_thresholds(state))
    assert t[1] == np.inf and np.isfinite(t[0])


def test_state_on_the_input_device() -> None:
    import array_api_strict as xps

    device = xps.Device("device1")
    z = xps.asarray(np.array([[0.5, -1.0], [2.0, 3.0]]), device=device)
    y = xps.asarray(np.array([[1, 0], [0, 1]]), device=device)
    state = ml.curve_state_update(ml.curve_state_init(2, like=z), z, y)
    assert state.positives.device == device
    assert ml.average_precision_score(state).device == device
    assert ml.tune_thresholds(state).device == device
    assert ml.confusion_counts(state, 0.0)[0].device == device


@pytest.mark.compiled
def test_compiled_equals_eager(xp) -> None:
    rng = np.random.default_rng(9)
    z = rng.normal(size=(64, 3)).astype(np.float32)
    y = rng.random((64, 3)) < 0.4
    w = rng.random(64)

    def fn(state, scores, labels, weights):
        state = ml.curve_state_update(state, scores, labels, weights=weights)
        thresholds = ml.tune_thresholds(state)
        return (state, ml.average_precision_score(state, average="none"),
                ml.roc_auc_score(state, average="none"), thresholds)

    args = (xp.asarray(z, dtype="float32"), xp.asarray(y), xp.asarray(w, dtype="float32"))
    state = ml.curve_state_init(3, num_bins=32, like=args[0], dtype=xp.float32)
    eager = fn(state, *args)
    compiled = xp.compile(fn)(state, *args)
    for a, b in zip([*eager[0], *eager[1:]], [*compiled[0], *compiled[1:]], strict=True):
        np.testing.assert_allclose(xp.to_numpy(b), xp.to_numpy(a), rtol=1e-6)


@pytest.mark.compiled
def test_unknown_batch_size_traces_equal_eager(xp) -> None:
    rng = np.random.default_rng(10)
    z, y = rng.normal(size=(37, 2)).astype(np.float32), rng.random((37, 2)) < 0.5

    def fn(scores, labels):
        state = ml.curve_state_init(2, num_bins=16, like=scores, dtype=xp.float32)
        return ml.curve_state_update(state, scores, labels).positives

    args = (xp.asarray(z, dtype="float32"), xp.asarray(y))
    traced = xp.trace_unknown_batch(fn, *args)
    if traced is None:
        pytest.skip(f"{xp.name} does not trace")
    np.testing.assert_array_equal(xp.to_numpy(traced), xp.to_numpy(fn(*args)))


def test_bad_inputs_raise_naming_the_argument(xp) -> None:
    z = xp.asarray(np.zeros((3, 2)))
    y = xp.asarray(np.zeros((3, 2), dtype=bool))
    state = ml.curve_state_init(2, num_bins=8, like=z)
    with pytest.raises(TypeError, match="state must be a CurveState"):
        ml.curve_state_update((z, z), z, y)
    with pytest.raises(ValueError, match=r"scores must have shape \(B, 3\)"):
        ml.curve_state_update(ml.curve_state_init(3, like=z), z, y)
    with pytest.raises(TypeError, match="scores must have a floating"):
        ml.curve_state_update(state, y, y)
    with pytest.raises(ValueError, match="labels must hold only 0 and 1"):
        ml.curve_state_update(state, z, z + 2.0)
    if xp.name in ("numpy", "torch"):
        with pytest.raises(ValueError, match="NaN"):
            ml.curve_state_update(state, z * np.nan, y)
    with pytest.raises(ValueError, match="weights must"):
        ml.curve_state_update(state, z, y, weights=xp.asarray(np.ones(4)))
    with pytest.raises(TypeError, match="takes no labels"):
        ml.average_precision_score(state, y)
    with pytest.raises(TypeError, match="takes no weights"):
        ml.roc_auc_score(state, weights=xp.asarray(np.ones(3)))
    with pytest.raises(ValueError, match="samples"):
        ml.roc_auc_score(state, average="samples")
    with pytest.raises(ValueError, match="same shape"):
        ml.curve_state_merge(state, ml.curve_state_init(2, num_bins=16, like=z))
    with pytest.raises(ValueError, match=r"thresholds must have shape"):
        ml.confusion_counts(state, xp.asarray(np.zeros(3)))
    with pytest.raises(ValueError, match="num_bins"):
        ml.curve_state_init(2, num_bins=1)
    with pytest.raises(TypeError, match="all_reduce"):
        ml.curve_state_update(state, z, y, all_reduce=3)


def test_all_reduce_sums_each_batch_histogram() -> None:
    """Two simulated replicas: summing their batch histograms gives the global state."""
    z, y, _ = stream_data()
    halves = [(z[:100], y[:100]), (z[100:200], y[100:200])]
    from metricloss.streaming import curve_state_update

    fake = {}

    def all_reduce(x):
        return x + fake["other"]

    init = ml.curve_state_init(L, num_bins=32)
    other = curve_state_update(init, *halves[1])
    fake["other"] = np.concatenate([np.ravel(other.positives), np.ravel(other.negatives)])
    synced = curve_state_update(init, *halves[0], all_reduce=all_reduce)
    one = curve_state_update(init, z[:200], y[:200])
    np.testing.assert_array_equal(synced.positives, one.positives)
    np.testing.assert_array_equal(synced.negatives, one.negatives)
