"""The loss-owned dual dynamics of the core (:mod:`metricloss.global_objectives.duals`):
``constraint_violation`` (hard counts and surrogate bounds) against counts made by hand, and
``dual_step`` against its closed form, on every namespace."""

from __future__ import annotations

import math

import numpy as np
import pytest

import metricloss
from tests.support import assert_close
from tests.test_global_objectives import np_bounds

TARGETS = {
    "recall_at_precision": ("target_precision", 0.8),
    "precision_at_recall": ("target_recall", 0.7),
    "false_positive_rate_at_true_positive_rate": ("target_rate", 0.9),
    "true_positive_rate_at_false_positive_rate": ("target_rate", 0.1),
}


def make_batch(seed: int = 0, B: int = 40, L: int = 3) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(B, L)) * 2.0
    y = (rng.random((B, L)) < [0.1, 0.3, 0.5][:L]).astype(np.float64)
    w = rng.uniform(0.5, 2.0, size=B)
    return z, y, w


def hand_violation(constraint: str, target: float, z, y, w, priors=None, bias=0.0):
    """The violation per label, counted example by example with Python loops."""
    B, L = z.shape
    out = []
    for j in range(L):
        tp = fp = pos = total = 0.0
        for i in range(B):
            predicted = z[i, j] + bias > 0
            tp += w[i] * y[i, j] * predicted
            fp += w[i] * (1 - y[i, j]) * predicted
            pos += w[i] * y[i, j]
            total += w[i]
        pi = (1 + pos) / (2 + total) if priors is None else priors
        if constraint == "recall_at_precision":
            out.append((target * fp - (1 - target) * tp) / (pi * total))
        elif constraint == "true_positive_rate_at_false_positive_rate":
            out.append((fp - target * (total - pos)) / ((1 - pi) * total))
        else:
            out.append((target * pos - tp) / (pi * total))
    return np.array(out)


@pytest.mark.parametrize("constraint", sorted(TARGETS))
@pytest.mark.parametrize("priors", [None, 0.25])
def test_hard_violation_equals_hand_counts(xp, constraint, priors) -> None:
    z, y, w = make_batch()
    name, target = TARGETS[constraint]
    g = metricloss.constraint_violation(
        xp.asarray(z, dtype="float64"), xp.asarray(y), weights=xp.asarray(w),
        constraint=constraint, label_priors=priors, **{name: target})
    assert_close(xp, g, hand_violation(constraint, target, z, y, w, priors), dtype="float64")


@pytest.mark.parametrize("constraint", sorted(TARGETS))
def test_surrogate_violation_uses_the_bounds(xp, constraint) -> None:
    """``estimate="surrogate"``: the same constraint with TP_lb and FP_ub (the bounds'
    oracle of the global objectives' tests) in place of the counts."""
    z, y, w = make_batch(1)
    name, target = TARGETS[constraint]
    priors = 0.3
    g = metricloss.constraint_violation(
        xp.asarray(z, dtype="float64"), xp.asarray(y), weights=xp.asarray(w),
        constraint=constraint, estimate="surrogate", surrogate="hinge", label_priors=priors,
        **{name: target})
    tp, fp = np_bounds(z, y, w, "hinge")
    pos, total = (w[:, None] * y).sum(0), w.sum()
    if constraint == "recall_at_precision":
        want = (target * fp - (1 - target) * tp) / (priors * total)
    elif constraint == "true_positive_rate_at_false_positive_rate":
        want = (fp - target * (total - pos)) / ((1 - priors) * total)
    else:
        want = (target * pos - tp) / (priors * total)
    assert_close(xp, g, want, dtype="float64")


@pytest.mark.parametrize("with_biases", [False, True])
def test_pr_auc_violation_per_anchor(xp, with_biases) -> None:
    z, y, w = make_batch(2)
    K, lo, hi = 3, 0.2, 0.8
    biases = np.array([[-1.0, 0.0, 1.5]] * 3) if with_biases else None
    g = metricloss.constraint_violation(
        xp.asarray(z, dtype="float64"), xp.asarray(y), weights=xp.asarray(w),
        constraint="precision_recall_auc", precision_range=(lo, hi), num_anchors=K,
        biases=None if biases is None else xp.asarray(biases, dtype="float64"))
    alphas = [lo + (hi - lo) * (k + 1) / (K + 1) for k in range(K)]
    want = np.stack([hand_violation("recall_at_precision", a, z, y, w,
                                    bias=0.0 if biases is None else biases[0, k])
                     for k, a in enumerate(alphas)], axis=1)
    assert_close(xp, g, want, dtype="float64")


def test_binary_shape_infinite_logits_and_empty_batch(xp) -> None:
    z = xp.asarray([math.inf, -math.inf, 0.5, -0.5], dtype="float32")
    y = xp.asarray([1, 1, 0, 0])
    g = metricloss.constraint_violation(z, y, constraint="recall_at_precision",
                                        target_precision=0.5, label_priors=0.5)
    # predicted: +inf (TP), 0.5 (FP): (0.5·1 − 0.5·1)/(0.5·4) = 0
    assert_close(xp, g, np.float64(0.0), dtype="float32")
    empty = metricloss.constraint_violation(xp.asarray(np.zeros((0, 2)), dtype="float32"),
                                            xp.asarray(np.zeros((0, 2))),
                                            constraint="precision_at_recall",
                                            target_recall=0.9)
    assert_close(xp, empty, np.zeros(2), dtype="float32")


def test_violations_add_up_over_batches() -> None:
    """With fixed priors the numerators are counts: the violation of a batch is the
    size-weighted sum of its halves' violations (what the dual steps integrate)."""
    z, y, w = make_batch(3, B=60)
    kw = {"constraint": "recall_at_precision", "target_precision": 0.7, "label_priors": 0.3}
    whole = metricloss.constraint_violation(z, y, weights=w, **kw)
    a = metricloss.constraint_violation(z[:25], y[:25], weights=w[:25], **kw)
    b = metricloss.constraint_violation(z[25:], y[25:], weights=w[25:], **kw)
    np.testing.assert_allclose(whole * w.sum(), a * w[:25].sum() + b * w[25:].sum(),
                               rtol=1e-12)


def test_all_reduce_gives_the_global_batch() -> None:
    """Two identical replicas (``all_reduce`` doubling its input) see the doubled batch."""
    z, y, w = make_batch(4)
    kw = {"constraint": "true_positive_rate_at_false_positive_rate", "target_rate": 0.2}
    synced = metricloss.constraint_violation(z, y, weights=w, all_reduce=lambda x: 2 * x,
                                             **kw)
    doubled = metricloss.constraint_violation(np.concatenate([z, z]), np.concatenate([y, y]),
                                              weights=np.concatenate([w, w]), **kw)
    np.testing.assert_allclose(synced, doubled, rtol=1e-12)


@pytest.mark.parametrize("kwargs,error,match", [
    ({"constraint": "f1", "target_precision": 0.8}, ValueError, "constraint"),
    ({"constraint": "recall_at_precision"}, TypeError, "target_precision"),
    ({"constraint": "recall_at_precision", "target_recall": 0.8}, TypeError, "target_recall"),
    ({"constraint": "recall_at_precision", "target_precision": 1.5}, ValueError,
     "target_precision"),
    ({"constraint": "precision_at_recall", "target_recall": 0.8, "estimate": "soft"},
     ValueError, "estimate"),
])
def test_violation_errors_name_the_argument(kwargs, error, match) -> None:
    z, y, _ = make_batch()
    with pytest.raises(error, match=match):
        metricloss.constraint_violation(z, y, **kwargs)


def test_dual_step_closed_form(xp) -> None:
    lam = np.array([1.0, 0.1, 4.0, 2.0])
    g = np.array([0.5, -0.5, 2.0, -0.25])
    out = metricloss.dual_step(xp.asarray(lam, dtype="float32"), xp.asarray(g, dtype="float64"),
                               rate=0.8, max_value=5.0)
    assert_close(xp, out, np.clip(lam + 0.8 * g, 0.0, 5.0), dtype="float32")
    unbounded = metricloss.dual_step(xp.asarray(lam, dtype="float64"),
                                     xp.asarray(np.float64(10.0)), rate=1.0)
    assert_close(xp, unbounded, lam + 10.0, dtype="float64")


def test_dual_step_keeps_the_device() -> None:
    import array_api_strict as xps

    lam = xps.asarray([1.0, 2.0], device=xps.Device("device1"))
    g = xps.asarray([0.5, -3.0], device=xps.Device("device1"))
    out = metricloss.dual_step(lam, g, rate=1.0)
    assert out.device == xps.Device("device1")


@pytest.mark.parametrize("kwargs,match", [
    ({"rate": -1.0}, "rate"), ({"rate": 1.0, "max_value": 0.0}, "max_value"),
    ({"rate": math.nan}, "rate"),
])
def test_dual_step_errors_name_the_argument(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        metricloss.dual_step(np.ones(2), np.ones(2), **kwargs)


@pytest.mark.compiled
def test_violation_and_step_trace_with_an_unknown_batch(xp) -> None:
    if xp.name in ("numpy", "array_api_strict"):
        pytest.skip("no tracing")
    z, y, _ = make_batch(5)

    def step(z, y):
        g = metricloss.constraint_violation(z, y, constraint="recall_at_precision",
                                            target_precision=0.8)
        return metricloss.dual_step(xp.ones((3,), dtype=z.dtype), g, rate=0.5, max_value=10.0)

    Z, Y = xp.asarray(z, dtype="float32"), xp.asarray(y, dtype="float32")
    traced = xp.trace_unknown_batch(step, Z, Y)
    assert_close(xp, traced, xp.to_numpy(step(Z, Y)), dtype="float32", rtol=1e-6)

