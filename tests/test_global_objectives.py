"""Global objectives (SPEC §3): surrogates, bounds, label priors, dual values, six losses.

Oracles are independent NumPy float64 transcriptions of SPEC §3: the surrogates written
term by term with ``np.logaddexp``; each Lagrangian per element as tabulated; PR-AUC as the
original library's Riemann sum ``δ·Σ_k/(hi − lo − δ)`` over anchors from ``np.linspace``; ROC-AUC
as an explicit double loop over pairs. Hand-worked values use ``math``. Gradients are checked
against finite differences of the oracles.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import metricloss.global_objectives as go
from metricloss import roc_auc
from tests.support import (
    assert_close,
    dtype_name,
    finite_difference_grad,
    get_backend,
    importable,
)

LN2 = math.log(2.0)
SURROGATES = ("xent", "hinge")
HYPOTHESIS = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


# --------------------------------------------------------------------------------------------
# Oracles (NumPy float64)
# --------------------------------------------------------------------------------------------


def np_ell(u: np.ndarray, surrogate: str) -> np.ndarray:
    """The pair/positive loss ``ℓ(u)``: ``softplus(−u)`` or ``max(1 − u, 0)``."""
    u = np.asarray(u, np.float64)
    return np.logaddexp(0.0, -u) if surrogate == "xent" else np.maximum(1.0 - u, 0.0)


def np_surr(y, z, c, d, surrogate: str) -> np.ndarray:
    return c * y * np_ell(z, surrogate) + d * (1.0 - y) * np_ell(-z, surrogate)


def margin(surrogate: str) -> float:
    return LN2 if surrogate == "xent" else 1.0


def np_weights(w, shape) -> np.ndarray:
    """Weights None / number / (B,) / (B, L) broadcast to ``shape`` (B, L)."""
    if w is None:
        return np.ones(shape)
    w = np.asarray(w, np.float64)
    if w.ndim == 1 and len(shape) == 2:
        w = w[:, None]
    return np.broadcast_to(w, shape)


def np_priors(y, w) -> np.ndarray:
    w2 = np_weights(w, y.shape)
    return (1.0 + (w2 * y).sum(0)) / (2.0 + w2.sum(0))


def np_bounds(z, y, w, surrogate) -> tuple[np.ndarray, np.ndarray]:
    w2, m = np_weights(w, z.shape), margin(surrogate)
    tp = (w2 * (y - y * np_ell(z, surrogate) / m)).sum(0)
    fp = (w2 * (1.0 - y) * np_ell(-z, surrogate) / m).sum(0)
    return tp, fp


def np_constrained(kind, z, y, w, lam, target, priors, surrogate) -> np.ndarray:
    """Per-element loss of SPEC §3's table: kind ``rap``, ``par`` or ``tpr``."""
    w2, m = np_weights(w, z.shape), margin(surrogate)
    if kind == "rap":
        a = target
        return (w2 * np_surr(y, z, 1.0 + lam * (1.0 - a), lam * a, surrogate)
                - lam * (1.0 - a) * priors * m)
    if kind == "par":
        return w2 * np_surr(y, z, lam, 1.0, surrogate) + lam * priors * (target - 1.0) * m
    return w2 * np_surr(y, z, 1.0, lam, surrogate) - lam * target * (1.0 - priors) * m


def np_prauc(z, y, w, lam, biases, lo, hi, k, priors, surrogate) -> np.ndarray:
    """The original's form: anchors from linspace, Riemann sum normalised by hi − lo − δ."""
    alphas = np.linspace(lo, hi, k + 2)[1:-1]
    delta = (hi - lo) / (k + 1)
    m = margin(surrogate)
    w3 = np_weights(w, z.shape)[:, :, None]
    zk = z[:, :, None] + biases[None]
    per_anchor = (w3 * np_surr(y[:, :, None], zk, 1.0 + lam * (1.0 - alphas), lam * alphas,
                               surrogate)
                  - lam * (1.0 - alphas) * priors[:, None] * m)
    return delta * per_anchor.sum(axis=2) / (hi - lo - delta)


def np_roc(z, y, w, surrogate) -> np.ndarray:
    """SPEC §3's per-element ROC loss by an explicit double loop over pairs."""
    B, L = z.shape
    w2 = np_weights(w, z.shape)
    out = np.zeros((B, L))
    for label in range(L):
        for j in range(B):
            for i in range(B):
                d = y[j, label] - y[i, label]
                u = d * (z[j, label] - z[i, label])
                out[j, label] += (0.5 / B * abs(d) * w2[i, label] * w2[j, label]
                                  * np_ell(u, surrogate))
    return out


# --------------------------------------------------------------------------------------------
# Data and helpers
# --------------------------------------------------------------------------------------------


def make_data(rng, B=6, L=3, soft=False):
    z = rng.normal(scale=2.0, size=(B, L))
    y = (rng.random((B, L)) < 0.45).astype(np.float64)
    y[0, :], y[1, :] = 1.0, 0.0  # every label has both classes
    if soft:
        y = np.clip(y + rng.uniform(-0.3, 0.3, size=y.shape), 0.0, 1.0)
    return z, y


def weight_forms(rng, B, L) -> dict[str, Any]:
    return {"none": None, "scalar": 1.7, "per_example": rng.uniform(0.2, 2.0, size=B),
            "per_element": rng.uniform(0.2, 2.0, size=(B, L))}


def as_xp(xp, w, dtype="float64"):
    return w if w is None or isinstance(w, float) else xp.asarray(w, dtype=dtype)


# name: (function, target argument, oracle kind)
CONSTRAINED: dict[str, tuple[Callable[..., Any], str, str]] = {
    "recall_at_precision": (go.recall_at_precision_loss, "target_precision", "rap"),
    "precision_at_recall": (go.precision_at_recall_loss, "target_recall", "par"),
    "fpr_at_tpr": (go.false_positive_rate_at_true_positive_rate_loss, "target_rate", "par"),
    "tpr_at_fpr": (go.true_positive_rate_at_false_positive_rate_loss, "target_rate", "tpr"),
}


def stop_gradient_of(xp) -> Callable[[Any], Any]:
    if xp.name == "torch":
        import torch

        return torch.Tensor.detach
    if xp.name == "jax":
        import jax

        return jax.lax.stop_gradient
    if xp.name == "tensorflow":
        import tensorflow as tf

        return tf.stop_gradient
    return lambda x: x


# --------------------------------------------------------------------------------------------
# Surrogates and bounds
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("surrogate", SURROGATES)
def test_weighted_surrogate_closed_form(xp, rng, surrogate) -> None:
    B, L, K = 6, 3, 2
    z = rng.normal(scale=3.0, size=(B, L))
    y = rng.random((B, L))  # soft labels: the surrogate is linear in y
    for c, d in [(1.0, 1.0), (rng.random(()) * 2, 0.3), (rng.random(L), rng.random(L)),
                 (rng.random((B, L)), rng.random((B, L)))]:
        got = go.weighted_surrogate(xp.asarray(z), xp.asarray(y), surrogate=surrogate,
                                    positive_weights=as_xp(xp, c) if np.ndim(c) else float(c),
                                    negative_weights=as_xp(xp, d) if np.ndim(d) else float(d))
        if surrogate == "xent":
            expected = c * y * np.logaddexp(0, -z) + d * (1 - y) * np.logaddexp(0, z)
        else:
            expected = c * y * np.maximum(1 - z, 0) + d * (1 - y) * np.maximum(1 + z, 0)
        assert_close(xp, got, expected, dtype="float64")
    # Anchors: labels (B, L, 1), logits (B, L, K), weights (L, K).
    zk = z[:, :, None] + rng.normal(size=(L, K))
    c, d = rng.random((L, K)), rng.random((L, K))
    got = go.weighted_surrogate(xp.asarray(zk), xp.asarray(y[:, :, None]), surrogate=surrogate,
                                positive_weights=xp.asarray(c), negative_weights=xp.asarray(d))
    assert_close(xp, got, np_surr(y[:, :, None], zk, c, d, surrogate), dtype="float64")


@pytest.mark.parametrize("surrogate", SURROGATES)
def test_bounds_on_hand_worked_data(xp, surrogate) -> None:
    labels = np.array([1, 1, 0, 0])
    logits = np.array([2.0, 0.5, -0.5, 1.5])
    weights = np.array([1.0, 2.0, 3.0, 0.5])
    if surrogate == "hinge":
        # positives' hinge max(1 − z, 0): 0, 0.5; negatives' max(1 + z, 0): 0.5, 2.5
        tp, tp_w = 1.0 + 0.5, 1.0 + 2.0 * 0.5
        fp, fp_w = 0.5 + 2.5, 3.0 * 0.5 + 0.5 * 2.5
    else:
        def sp(x: float) -> float:
            return math.log1p(math.exp(x))

        tp = 2.0 - (sp(-2.0) + sp(-0.5)) / LN2
        tp_w = 3.0 - (sp(-2.0) + 2.0 * sp(-0.5)) / LN2
        fp = (sp(-0.5) + sp(1.5)) / LN2
        fp_w = (3.0 * sp(-0.5) + 0.5 * sp(1.5)) / LN2
    y, z, w = xp.asarray(labels), xp.asarray(logits), xp.asarray(weights)
    for weight, exp_tp, exp_fp in [(None, tp, fp), (w, tp_w, fp_w)]:
        got_tp = go.true_positives_lower_bound(z, y, weights=weight, surrogate=surrogate)
        got_fp = go.false_positives_upper_bound(z, y, weights=weight, surrogate=surrogate)
        assert_close(xp, got_tp, exp_tp, dtype="float64")
        assert_close(xp, got_fp, exp_fp, dtype="float64")
    # Multi-label with (B, L) weights: column by column.
    z2 = np.stack([logits, -logits], axis=1)
    y2 = np.stack([labels, 1 - labels], axis=1).astype(np.float64)
    w2 = np.stack([weights, weights[::-1]], axis=1)
    exp_tp, exp_fp = np_bounds(z2, y2, w2, surrogate)
    assert_close(xp, go.true_positives_lower_bound(xp.asarray(z2), xp.asarray(y2),
                                                   weights=xp.asarray(w2), surrogate=surrogate),
                 exp_tp, dtype="float64")
    assert_close(xp, go.false_positives_upper_bound(xp.asarray(z2), xp.asarray(y2),
                                                    weights=xp.asarray(w2), surrogate=surrogate),
                 exp_fp, dtype="float64")


@HYPOTHESIS
@given(data=st.data())
def test_bounds_bound_the_hard_counts(xp, data) -> None:
    """``TP_lb ≤ Σ w·y·[z > 0]`` and ``FP_ub ≥ Σ w·(1−y)·[z ≥ 0]`` for any input."""
    B, L = 6, 3  # fixed shapes: JAX compiles each eager op once per shape
    surrogate = data.draw(st.sampled_from(SURROGATES))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    z = np.round(rng.normal(scale=3.0, size=(B, L)), 1)  # some exact zeros
    y = (rng.random((B, L)) < 0.5).astype(np.float64)
    w = rng.uniform(0.0, 2.0, size=B)
    tp = go.true_positives_lower_bound(xp.asarray(z), xp.asarray(y), weights=xp.asarray(w),
                                       surrogate=surrogate)
    fp = go.false_positives_upper_bound(xp.asarray(z), xp.asarray(y), weights=xp.asarray(w),
                                        surrogate=surrogate)
    hard_tp = (w[:, None] * y * (z > 0)).sum(0)
    hard_fp = (w[:, None] * (1 - y) * (z >= 0)).sum(0)
    assert np.all(xp.to_numpy(tp) <= hard_tp + 1e-12)
    assert np.all(xp.to_numpy(fp) >= hard_fp - 1e-12)


# --------------------------------------------------------------------------------------------
# Label priors and dual values
# --------------------------------------------------------------------------------------------


def _column_weights_supported() -> bool:
    """Whether ``_checks.prepare_weights`` takes any shape that broadcasts to the labels (the
    generalisation of the array-layer branch); until it is merged, (B, 1) cases skip."""
    from metricloss._checks import prepare_weights

    try:
        prepare_weights(np, np.ones((6, 1)), np.zeros((6, 3)))
    except ValueError:
        return False
    return True


def skip_unless_column_weights(w: Any) -> None:
    if np.ndim(w) == 2 and np.shape(w)[1] == 1 and not _column_weights_supported():
        pytest.skip("(B, 1) weights need the generalised _checks.prepare_weights")


PRIOR_WEIGHTS = {
    "none": lambda rng: None,
    "per_example": lambda rng: rng.uniform(0.1, 2.0, size=6),
    "per_example_column": lambda rng: rng.uniform(0.1, 2.0, size=(6, 1)),
    "per_element": lambda rng: rng.uniform(0.1, 2.0, size=(6, 3)),
    "scalar": lambda rng: 0.5,
}


@pytest.mark.float64
@pytest.mark.parametrize("weights", sorted(PRIOR_WEIGHTS))
def test_label_priors_running_estimate(xp, rng, weights) -> None:
    state = go.label_priors_init(3, xp=xp.ns, dtype=xp.float64)
    assert isinstance(state, go.LabelPriorState)
    assert_close(xp, state.counts, np.ones(3), dtype="float64")
    assert_close(xp, state.weight_sum, np.full(3, 2.0), dtype="float64")
    assert_close(xp, state.priors, np.full(3, 0.5), dtype="float64")
    expected_counts, expected_total = np.ones(3), np.full(3, 2.0)
    w = PRIOR_WEIGHTS[weights](rng)
    skip_unless_column_weights(w)
    for _ in range(2):
        y = (rng.random((6, 3)) < 0.3).astype(np.float64)
        w2 = np_weights(w, y.shape)
        expected_counts = expected_counts + (w2 * y).sum(0)
        expected_total = expected_total + w2.sum(0)
        state = go.update_label_priors(state, xp.asarray(y > 0.5), weights=as_xp(xp, w))
        assert isinstance(state, go.LabelPriorState)
        assert_close(xp, state.counts, expected_counts, dtype="float64")
        assert_close(xp, state.weight_sum, expected_total, dtype="float64")
        assert_close(xp, state.priors, expected_counts / expected_total, dtype="float64")


def test_label_priors_binary_and_pseudocounts(xp) -> None:
    """Binary labels (B,) with L = 1; custom pseudocounts; float32 state; a plain pair."""
    state = go.label_priors_init(1, xp=xp.ns, positive_pseudocount=2.0,
                                 negative_pseudocount=0.5)
    out = go.update_label_priors(tuple(state), xp.asarray(np.array([1, 0, 0, 1])))
    assert_close(xp, out.priors, [(2.0 + 2.0) / (2.5 + 4.0)], dtype="float32")


def _framework_module(name: str) -> Any:
    if name in ("numpy", "array_api_strict"):
        return __import__(name)
    if name == "jax":
        import jax.numpy as jnp

        return jnp
    return __import__(name)  # torch, tensorflow: the module a user has at hand


@pytest.mark.parametrize("form", ["module", "jax_top_level", "like"])
def test_label_priors_init_takes_the_users_module_or_an_array(xp, form) -> None:
    if form == "jax_top_level":
        if xp.name != "jax":
            pytest.skip("jax only")
        import jax

        state = go.label_priors_init(2, xp=jax)
    elif form == "module":
        state = go.label_priors_init(2, xp=_framework_module(xp.name))
    else:
        like = xp.asarray(np.zeros((4, 2)), dtype="float32")
        state = go.label_priors_init(2, like=like)
    assert_close(xp, state.counts, np.ones(2), dtype="float32")
    assert_close(xp, state.weight_sum, np.full(2, 2.0), dtype="float32")
    if xp.supports("float16"):
        half = go.label_priors_init(2, like=xp.asarray(np.zeros(2), dtype="float16"))
        assert dtype_name(half.counts) == "float32"


def test_label_prior_state_is_a_pytree() -> None:
    jax = pytest.importorskip("jax")
    state = go.LabelPriorState(np.ones(2), np.full(2, 2.0))
    leaves, tree = jax.tree_util.tree_flatten(state)
    assert len(leaves) == 2
    assert isinstance(jax.tree_util.tree_unflatten(tree, leaves), go.LabelPriorState)


@pytest.mark.float64
def test_default_priors_are_one_update_from_the_initial_state(xp, rng) -> None:
    z, y = make_data(rng)
    w = rng.uniform(0.1, 2.0, size=len(z))
    _, aux = go.recall_at_precision_loss(xp.asarray(z), xp.asarray(y), target_precision=0.6,
                                         lambdas=1.0, weights=xp.asarray(w), return_aux=True)
    state = go.label_priors_init(3, xp=xp.ns, dtype=xp.float64)
    state = go.update_label_priors(state, xp.asarray(y), weights=xp.asarray(w))
    assert_close(xp, aux["label_priors"], np_priors(y, w), dtype="float64")
    assert_close(xp, state.priors, np_priors(y, w), dtype="float64")
    # The state's priors passed back in give the same loss as the default estimate.
    a = go.recall_at_precision_loss(xp.asarray(z), xp.asarray(y), target_precision=0.6,
                                    lambdas=1.0, weights=xp.asarray(w))
    b = go.recall_at_precision_loss(xp.asarray(z), xp.asarray(y), target_precision=0.6,
                                    lambdas=1.0, weights=xp.asarray(w), label_priors=state.priors)
    assert_close(xp, a, xp.to_numpy(b), dtype="float64")


def test_dual_value_reverses_the_gradient(xp, rng) -> None:
    v = np.array([[-2.0, 0.5], [1.25, -0.1]])
    upstream = rng.normal(size=v.shape)
    f = 0.3
    sg = stop_gradient_of(xp)
    lam = go.dual_value(xp.asarray(v), f, sg)
    assert_close(xp, lam, np.abs(v), dtype="float64")
    g = xp.asarray(upstream)
    value, grad = xp.value_and_grad(lambda t: xp.sum(go.dual_value(t, f, sg) * g), xp.asarray(v))
    np.testing.assert_allclose(value, np.sum(np.abs(v) * upstream), rtol=1e-12)
    if xp.differentiable:
        np.testing.assert_allclose(grad, -f * np.sign(v) * upstream, rtol=1e-12)
        # Through a loss: dL/dv = −f·sign(v)·dL/dλ.
        z, y = make_data(rng, L=2)
        Z, Y = xp.asarray(z), xp.asarray(y)

        def loss_of(lam_: Any) -> Any:
            return go.recall_at_precision_loss(Z, Y, target_precision=0.7, lambdas=lam_)

        _, g_lam = xp.value_and_grad(loss_of, xp.asarray(np.abs(v[0])))
        _, g_v = xp.value_and_grad(lambda t: loss_of(go.dual_value(t, f, sg)),
                                   xp.asarray(v[0]))
        np.testing.assert_allclose(g_v, -f * np.sign(v[0]) * g_lam, rtol=1e-12)


# --------------------------------------------------------------------------------------------
# The Lagrangian losses against the oracle
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("surrogate", SURROGATES)
@pytest.mark.parametrize("name", sorted(CONSTRAINED))
def test_constrained_losses_match_closed_form(xp, rng, name, surrogate) -> None:
    fn, target_arg, kind = CONSTRAINED[name]
    B, L = 6, 3
    z, y = make_data(rng, B, L, soft=True)
    lam = rng.uniform(0.0, 3.0, size=L)
    target = rng.uniform(0.2, 1.0, size=L)
    for wname, w in weight_forms(rng, B, L).items():
        given_priors = rng.uniform(0.1, 0.9, size=L) if wname == "scalar" else None
        priors = np_priors(y, w) if given_priors is None else given_priors
        expected = np_constrained(kind, z, y, w, lam, target, priors, surrogate)
        kwargs = {target_arg: xp.asarray(target), "lambdas": xp.asarray(lam),
                  "weights": as_xp(xp, w), "surrogate": surrogate,
                  "label_priors": None if given_priors is None else xp.asarray(given_priors)}
        Z, Y = xp.asarray(z), xp.asarray(y)
        loss, aux = fn(Z, Y, reduction="none", **kwargs, return_aux=True)
        assert_close(xp, loss, expected, dtype="float64", atol=1e-12)
        assert_close(xp, fn(Z, Y, **kwargs), expected.mean(), dtype="float64", atol=1e-12)
        assert_close(xp, fn(Z, Y, reduction="sum", **kwargs), expected.sum(),
                     dtype="float64", atol=1e-12)
        assert sorted(aux) == ["false_positives_upper_bound", "label_priors", "lambdas",
                               "true_positives_lower_bound"]
        tp, fp = np_bounds(z, y, w, surrogate)
        assert_close(xp, aux["lambdas"], lam, dtype="float64")
        assert_close(xp, aux["label_priors"], priors, dtype="float64")
        assert_close(xp, aux["true_positives_lower_bound"], tp, dtype="float64")
        assert_close(xp, aux["false_positives_upper_bound"], fp, dtype="float64")


@pytest.mark.parametrize("surrogate", SURROGATES)
def test_precision_recall_auc_matches_riemann_sum(xp, rng, surrogate) -> None:
    B, L, K = 6, 3, 2
    lo, hi = 0.2, 0.9
    z, y = make_data(rng, B, L)
    lam = rng.uniform(0.0, 2.0, size=(L, K))
    biases = rng.normal(scale=0.5, size=(L, K))
    w = rng.uniform(0.2, 2.0, size=B)
    expected = np_prauc(z, y, w, lam, biases, lo, hi, K, np_priors(y, w), surrogate)
    loss, aux = go.precision_recall_auc_loss(
        xp.asarray(z), xp.asarray(y), lambdas=xp.asarray(lam), biases=xp.asarray(biases),
        precision_range=(lo, hi), num_anchors=K, weights=xp.asarray(w), surrogate=surrogate,
        reduction="none", return_aux=True)
    assert_close(xp, loss, expected, dtype="float64", atol=1e-12)
    assert sorted(aux) == ["biases", "false_positives_upper_bound", "label_priors", "lambdas",
                           "true_positives_lower_bound"]
    assert_close(xp, aux["biases"], biases, dtype="float64")
    assert_close(xp, aux["lambdas"], lam, dtype="float64")
    tp, _ = np_bounds(z, y, w, surrogate)  # bounds of the unbiased logits
    assert_close(xp, aux["true_positives_lower_bound"], tp, dtype="float64")
    # biases=None is the zero-bias (B, L, K) computation, collapsed.
    zero = np.zeros((L, K))
    expected = np_prauc(z, y, None, lam, zero, lo, hi, K, np_priors(y, None), surrogate)
    for biases_arg in (None, xp.asarray(zero), 0.0):
        loss, aux = go.precision_recall_auc_loss(
            xp.asarray(z), xp.asarray(y), lambdas=xp.asarray(lam), biases=biases_arg,
            precision_range=(lo, hi), num_anchors=K, surrogate=surrogate, return_aux=True)
        assert_close(xp, loss, expected.mean(), dtype="float64")
        assert_close(xp, aux["biases"], zero, dtype="float64")


# --------------------------------------------------------------------------------------------
# Identities of the Lagrangian
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("surrogate", SURROGATES)
def test_lagrangian_identities(xp, rng, surrogate) -> None:
    B, L = 6, 3
    z, y = make_data(rng, B, L)
    w = rng.uniform(0.2, 2.0, size=B)
    lam = rng.uniform(0.1, 2.0, size=L)
    Z, Y, W, LAM = xp.asarray(z), xp.asarray(y), xp.asarray(w), xp.asarray(lam)
    common = {"weights": W, "surrogate": surrogate, "reduction": "none"}
    # Recall at precision 1: a weighted cross-entropy (hinge) with negatives weighted by λ.
    loss = go.recall_at_precision_loss(Z, Y, target_precision=1.0, lambdas=LAM, **common)
    assert_close(xp, loss, w[:, None] * np_surr(y, z, 1.0, lam, surrogate), dtype="float64")
    assert_close(xp, loss, xp.to_numpy(W[:, None] * go.weighted_surrogate(
        Z, Y, positive_weights=1.0, negative_weights=LAM, surrogate=surrogate)),
        dtype="float64")
    # Precision at recall with λ = 0: only the negatives' term.
    loss = go.precision_at_recall_loss(Z, Y, target_recall=0.8, lambdas=0.0, **common)
    assert_close(xp, loss, w[:, None] * (1 - y) * np_ell(-z, surrogate), dtype="float64")
    # FPR at TPR is precision at recall.
    a = go.false_positive_rate_at_true_positive_rate_loss(Z, Y, target_rate=0.7,
                                                              lambdas=LAM, **common)
    b = go.precision_at_recall_loss(Z, Y, target_recall=0.7, lambdas=LAM, **common)
    assert_close(xp, a, xp.to_numpy(b), dtype="float64")
    # PR-AUC with one anchor over a narrow range is recall at the anchor's precision.
    pr = go.precision_recall_auc_loss(Z, Y, lambdas=xp.asarray(lam[:, None]),
                                         biases=xp.asarray(np.zeros((L, 1))),
                                         precision_range=(0.69, 0.71), num_anchors=1, **common)
    rp = go.recall_at_precision_loss(Z, Y, target_precision=0.7, lambdas=LAM, **common)
    assert_close(xp, pr, xp.to_numpy(rp), dtype="float64", atol=1e-12)
    for name, (fn, target_arg, _) in CONSTRAINED.items():
        # A vector of equal targets is the scalar target.
        vec = fn(Z, Y, **{target_arg: xp.asarray(np.full(L, 0.6))}, lambdas=LAM, **common)
        lst = fn(Z, Y, **{target_arg: [0.6] * L}, lambdas=LAM, **common)
        sca = fn(Z, Y, **{target_arg: 0.6}, lambdas=LAM, **common)
        assert_close(xp, vec, xp.to_numpy(sca), dtype="float64")
        assert_close(xp, lst, xp.to_numpy(sca), dtype="float64")
        # Per-label targets equal separate single-label runs (binary, (B,) inputs).
        targets = [0.3, 0.6, 0.9]
        full = fn(Z, Y, **{target_arg: targets}, lambdas=LAM, **common)
        for label in range(L):
            single, aux = fn(xp.asarray(z[:, label]), xp.asarray(y[:, label]),
                             **{target_arg: targets[label]},
                             lambdas=float(lam[label]), **common, return_aux=True)
            assert_close(xp, single, xp.to_numpy(full)[:, label], dtype="float64")
            assert tuple(aux["label_priors"].shape) == (), name


@pytest.mark.parametrize("surrogate", SURROGATES)
def test_zero_and_double_weights_equal_dropping_and_duplicating_rows(xp, rng, surrogate) -> None:
    """Data ``D`` (6 rows) and ``D'`` = ``D`` plus a copy of row 3: ``D'`` with weight 0 on the
    copy is ``D``; ``D`` with weight 2 on row 3 is ``D'``."""
    B, L = 6, 3
    z, y = make_data(rng, B, L)
    lam = rng.uniform(0.1, 2.0, size=L)
    dup = np.r_[np.arange(B), 3]
    zd, yd = z[dup], y[dup]
    w_zero = np.r_[np.ones(B), 0.0]
    w_two = np.ones(B)
    w_two[3] = 2.0
    Z, Y, Zd, Yd = xp.asarray(z), xp.asarray(y), xp.asarray(zd), xp.asarray(yd)
    W_zero, W_two = xp.asarray(w_zero), xp.asarray(w_two)
    cases = [
        lambda Z, Y, W: go.recall_at_precision_loss(
            Z, Y, target_precision=0.7, lambdas=xp.asarray(lam), weights=W, surrogate=surrogate,
            reduction="none", return_aux=True),
        lambda Z, Y, W: go.precision_recall_auc_loss(
            Z, Y, lambdas=xp.asarray(np.tile(lam[:, None], 2)), num_anchors=2,
            biases=xp.asarray(np.full((L, 2), 0.2)), weights=W, surrogate=surrogate,
            reduction="none", return_aux=True),
        lambda Z, Y, W: go.true_positive_rate_at_false_positive_rate_loss(
            Z, Y, target_rate=0.2, lambdas=xp.asarray(lam), weights=W, surrogate=surrogate,
            reduction="none", return_aux=True),
    ]
    for fn in cases:
        # Weight 0 == dropped: the other rows' losses, the priors and the bounds agree.
        plain, plain_aux = fn(Z, Y, None)
        zeroed, zeroed_aux = fn(Zd, Yd, W_zero)
        np.testing.assert_allclose(xp.to_numpy(zeroed)[:B], xp.to_numpy(plain), rtol=1e-12)
        # Weight 2 == duplicated: priors, bounds, and the gradient of the sum (the λ-term
        # is a constant in the logits, one per element, so the sums differ by it).
        _, doubled_aux = fn(Z, Y, W_two)
        _, copied_aux = fn(Zd, Yd, None)
        for key in ("label_priors", "true_positives_lower_bound", "false_positives_upper_bound"):
            np.testing.assert_allclose(xp.to_numpy(zeroed_aux[key]), xp.to_numpy(plain_aux[key]),
                                       rtol=1e-12)
            np.testing.assert_allclose(xp.to_numpy(doubled_aux[key]),
                                       xp.to_numpy(copied_aux[key]), rtol=1e-12)
        if xp.differentiable:
            _, g_two = xp.value_and_grad(lambda t, f=fn: xp.sum(f(t, Y, W_two)[0]), Z)
            _, g_dup = xp.value_and_grad(lambda t, f=fn: xp.sum(f(t, Yd, None)[0]), Zd)
            merged = g_dup[:B].copy()
            merged[3] += g_dup[B]
            np.testing.assert_allclose(g_two, merged, rtol=1e-10, atol=1e-14)

    # ROC-AUC: B·sum is the pair sum, unchanged by dropping zero-weight or duplicating rows.
    def roc_pair_sum(zz: Any, yy: Any, ww: Any) -> float:
        loss = go.roc_auc_loss(zz, yy, weights=ww, surrogate=surrogate, reduction="sum")
        return float(xp.to_numpy(loss)) * int(zz.shape[0])

    np.testing.assert_allclose(roc_pair_sum(Zd, Yd, W_zero), roc_pair_sum(Z, Y, None),
                               rtol=1e-12)
    np.testing.assert_allclose(roc_pair_sum(Z, Y, W_two), roc_pair_sum(Zd, Yd, None),
                               rtol=1e-12)


# --------------------------------------------------------------------------------------------
# ROC-AUC
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("surrogate", SURROGATES)
def test_roc_auc_hand_worked(xp, surrogate) -> None:
    # One positive at 0.5, negatives at 0 and 1: pair margins 0.5 and −0.5.
    z = np.array([0.5, 0.0, 1.0])
    y = np.array([1, 0, 0])
    if surrogate == "hinge":
        l_a, l_b = 0.5, 1.5
    else:
        l_a, l_b = math.log1p(math.exp(-0.5)), math.log1p(math.exp(0.5))
    expected = np.array([(l_a + l_b) / 6, l_a / 6, l_b / 6])
    for method in ("pairwise", "sort") if surrogate == "hinge" else ("pairwise",):
        loss, aux = go.roc_auc_loss(xp.asarray(z), xp.asarray(y), surrogate=surrogate,
                                    reduction="none", method=method, return_aux=True)
        assert_close(xp, loss, expected, dtype="float64")
        assert aux == {}
        loss = go.roc_auc_loss(xp.asarray(z), xp.asarray(y), surrogate=surrogate,
                                  reduction="sum", method=method)
        assert_close(xp, loss, (l_a + l_b) / 3, dtype="float64")


@pytest.mark.parametrize("surrogate", SURROGATES)
def test_roc_auc_matches_double_loop_and_chunking_changes_nothing(xp, rng, surrogate) -> None:
    B, L = 6, 3
    z, y = make_data(rng, B, L, soft=True)  # soft labels: the pairwise |y_j − y_i| form
    for w in (None, rng.uniform(0.2, 2.0, size=B), rng.uniform(0.2, 2.0, size=(B, L))):
        expected = np_roc(z, y, w, surrogate)
        for chunk in (None, 1, 4, B, 3 * B):
            loss = go.roc_auc_loss(xp.asarray(z), xp.asarray(y), weights=as_xp(xp, w),
                                      surrogate=surrogate, reduction="none", chunk_size=chunk)
            assert_close(xp, loss, expected, dtype="float64")
        loss = go.roc_auc_loss(xp.asarray(z), xp.asarray(y), weights=as_xp(xp, w),
                                  surrogate=surrogate, chunk_size=2)
        assert_close(xp, loss, expected.mean(), dtype="float64")


@pytest.mark.parametrize("surrogate", SURROGATES)
def test_roc_auc_hard_labels_pair_sum_equals_per_element_sum(xp, rng, surrogate) -> None:
    """Int/bool labels with reduction mean/sum take the positive–negative pair sum; it equals
    the per-element form (float 0/1 labels) summed, and the double loop, values and gradients."""
    B, L = 7, 3
    z = rng.integers(-4, 5, size=(B, L)) * 0.5  # ties, and pairs exactly 1 apart (hinge kink)
    y = (rng.random((B, L)) < 0.4).astype(np.int64)
    y[0, :], y[1, :] = 1, 0
    Z, Yf = xp.asarray(z), xp.asarray(y.astype(np.float64))
    for w in (None, 0.7, rng.uniform(0.0, 2.0, size=B), rng.uniform(0.0, 2.0, size=(B, L))):
        W = as_xp(xp, w) if isinstance(w, np.ndarray) else w
        expected = np_roc(z, y.astype(np.float64), w, surrogate)
        for chunk, labels in ((None, y), (3, y.astype(np.int32)), (1, y.astype(bool))):
            Y = xp.asarray(labels)
            per = go.roc_auc_loss(Z, Yf, weights=W, surrogate=surrogate, reduction="none",
                                     chunk_size=chunk)
            for reduction, divisor in (("sum", 1.0), ("mean", B * L)):
                fast = go.roc_auc_loss(Z, Y, weights=W, surrogate=surrogate,
                                          reduction=reduction, chunk_size=chunk)
                slow = go.roc_auc_loss(Z, Yf, weights=W, surrogate=surrogate,
                                          reduction=reduction, chunk_size=chunk)
                assert_close(xp, fast, expected.sum() / divisor, dtype="float64")
                assert_close(xp, fast, xp.to_numpy(slow), dtype="float64")
                assert_close(xp, fast, xp.to_numpy(xp.sum(per)) / divisor, dtype="float64")
    if not xp.differentiable:
        return
    w, Y = xp.asarray(rng.uniform(0.5, 2.0, size=B)), xp.asarray(y)
    for chunk in (None, 3):
        v_fast, g_fast = xp.value_and_grad(lambda t, c=chunk: go.roc_auc_loss(
            t, Y, weights=w, surrogate=surrogate, chunk_size=c), Z)
        v_slow, g_slow = xp.value_and_grad(lambda t, c=chunk: go.roc_auc_loss(
            t, Yf, weights=w, surrogate=surrogate, chunk_size=c), Z)
        np.testing.assert_allclose(v_fast, v_slow, rtol=1e-12)
        np.testing.assert_allclose(g_fast, g_slow, rtol=1e-10, atol=1e-15)


def test_roc_auc_hard_labels_skip_the_per_element_form(xp, rng, monkeypatch) -> None:
    """Int/bool labels with reduction mean/sum never build the per-element (B, L) form."""
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("per-element form used")

    monkeypatch.setattr(roc_auc, "_roc_pairwise", refuse)
    z, y = make_data(rng, 6, 3)
    for labels in (y.astype(np.int64), y.astype(bool)):
        loss = go.roc_auc_loss(xp.asarray(z), xp.asarray(labels), reduction="sum")
        assert_close(xp, loss, np_roc(z, y, None, "xent").sum(), dtype="float64")
    with pytest.raises(AssertionError, match="per-element"):
        go.roc_auc_loss(xp.asarray(z), xp.asarray(y), reduction="sum")  # float: maybe soft


def test_roc_auc_empty_batch(xp) -> None:
    Z = xp.asarray(np.zeros((0, 2)))
    for labels in (np.zeros((0, 2)), np.zeros((0, 2), dtype=np.int64)):
        Y = xp.asarray(labels)
        for reduction in ("mean", "sum"):
            loss = go.roc_auc_loss(Z, Y, reduction=reduction, chunk_size=None)
            assert_close(xp, loss, 0.0, dtype="float64")
        loss = go.roc_auc_loss(Z, Y, reduction="none", surrogate="hinge")
        assert_close(xp, loss, np.zeros((0, 2)), dtype="float64")


@HYPOTHESIS
@given(data=st.data())
def test_sorted_hinge_equals_pairwise_with_ties(xp, data) -> None:
    B, L = data.draw(st.sampled_from([(1, 1), (6, 3)]))  # few shapes: JAX compiles per shape
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    # Logits on a grid of 0.5: ties between examples and pairs exactly 1 apart (the kink).
    z = rng.integers(-4, 5, size=(B, L)) * 0.5
    y = rng.random((B, L)) < data.draw(st.sampled_from([0.0, 0.3, 0.7, 1.0]))
    w = rng.uniform(0.0, 2.0, size=B) if data.draw(st.booleans()) else None
    expected = np_roc(z, y.astype(np.float64), w, "hinge")
    Z, Y, W = xp.asarray(z), xp.asarray(y), as_xp(xp, w)
    got = go.roc_auc_loss(Z, Y, weights=W, surrogate="hinge", method="sort",
                             reduction="none")
    pairwise = go.roc_auc_loss(Z, Y, weights=W, surrogate="hinge", reduction="none",
                                  chunk_size=data.draw(st.sampled_from([1, 4])))
    assert_close(xp, got, expected, dtype="float64", atol=1e-12)
    assert_close(xp, pairwise, expected, dtype="float64", atol=1e-12)


def test_sorted_hinge_gradient_equals_pairwise(xp, rng) -> None:
    if not xp.differentiable:
        pytest.skip(f"{xp.name} has no autodiff")
    B, L = 6, 3
    z = rng.integers(-5, 6, size=(B, L)) * 0.3  # ties, but no pair exactly 1 apart
    y = (rng.random((B, L)) < 0.4).astype(np.float64)
    y[0], y[1] = 1.0, 0.0
    w, g = xp.asarray(rng.uniform(0.5, 2.0, size=(B, L))), xp.asarray(rng.normal(size=(B, L)))
    Y = xp.asarray(y)

    def fn(method: str) -> Callable[[Any], Any]:
        return lambda t: xp.sum(g * go.roc_auc_loss(t, Y, weights=w, surrogate="hinge",
                                                    method=method, reduction="none"))

    v_sort, g_sort = xp.value_and_grad(fn("sort"), xp.asarray(z))
    v_pair, g_pair = xp.value_and_grad(fn("pairwise"), xp.asarray(z))
    np.testing.assert_allclose(v_sort, v_pair, rtol=1e-12)
    np.testing.assert_allclose(g_sort, g_pair, rtol=1e-10, atol=1e-14)


# --------------------------------------------------------------------------------------------
# Gradients against finite differences
# --------------------------------------------------------------------------------------------


def _fd_cases(rng, surrogate):
    """(name, backend call, NumPy oracle): per-element losses weighted by a random upstream."""
    B, L, K = 6, 3, 2
    z, y = make_data(rng, B, L, soft=surrogate == "xent")
    y_hard = np.round(y)
    # Keep logits off the hinge's kinks (|z| = 1, pair differences = 1) for finite differences.
    z = np.round(z, 1) + 0.037 * np.arange(B * L).reshape(B, L)
    w = rng.uniform(0.5, 1.5, size=B)
    lam = rng.uniform(0.2, 2.0, size=L)
    lamk, bias = rng.uniform(0.2, 2.0, size=(L, K)), rng.normal(scale=0.3, size=(L, K))
    up = rng.normal(size=(B, L))
    pri = np_priors(y, w)
    cases = []
    for name, (fn, target_arg, kind) in CONSTRAINED.items():
        cases.append((name, lambda xp, t, fn=fn, a=target_arg: fn(
            t, xp.asarray(y), **{a: 0.7}, lambdas=xp.asarray(lam), weights=xp.asarray(w),
            surrogate=surrogate, reduction="none"),
            lambda t, kind=kind: np_constrained(kind, t, y, w, lam, 0.7, pri, surrogate)))
    cases.append(("pr_auc", lambda xp, t: go.precision_recall_auc_loss(
        t, xp.asarray(y), lambdas=xp.asarray(lamk), biases=xp.asarray(bias), num_anchors=K,
        precision_range=(0.1, 0.9), weights=xp.asarray(w), surrogate=surrogate,
        reduction="none"),
        lambda t: np_prauc(t, y, w, lamk, bias, 0.1, 0.9, K, pri, surrogate)))
    cases.append(("roc", lambda xp, t: go.roc_auc_loss(
        t, xp.asarray(y), weights=xp.asarray(w), surrogate=surrogate, reduction="none",
        chunk_size=2), lambda t: np_roc(t, y, w, surrogate)))
    if surrogate == "hinge":
        cases.append(("roc_sort", lambda xp, t: go.roc_auc_loss(
            t, xp.asarray(y_hard), weights=xp.asarray(w), surrogate="hinge", method="sort",
            reduction="none"), lambda t: np_roc(t, y_hard, w, "hinge")))
    return z, up, cases, (y, w, lamk, bias, pri)


@pytest.mark.parametrize("surrogate", SURROGATES)
def test_gradients_match_finite_differences(xp, rng, surrogate) -> None:
    if not xp.differentiable:
        pytest.skip(f"{xp.name} has no autodiff")
    z, up, cases, (y, w, lamk, bias, pri) = _fd_cases(rng, surrogate)
    U = xp.asarray(up)
    for name, backend_fn, oracle in cases:
        value, grad = xp.value_and_grad(lambda t, f=backend_fn: xp.sum(U * f(xp, t)),
                                        xp.asarray(z))
        expected = finite_difference_grad(lambda t, o=oracle: float(np.sum(up * o(t))), z)
        np.testing.assert_allclose(value, np.sum(up * oracle(z)), rtol=1e-10, err_msg=name)
        np.testing.assert_allclose(grad, expected, rtol=1e-6, atol=1e-8, err_msg=name)
    # PR-AUC: gradients in the dual values and the biases too.
    K = lamk.shape[1]

    def pr(lam_: Any, bias_: Any) -> Any:
        return xp.sum(U * go.precision_recall_auc_loss(
            xp.asarray(z), xp.asarray(y), lambdas=lam_, biases=bias_, num_anchors=K,
            precision_range=(0.1, 0.9), weights=xp.asarray(w), surrogate=surrogate,
            reduction="none"))

    def np_pr(lam_: np.ndarray, bias_: np.ndarray) -> float:
        return float(np.sum(up * np_prauc(z, y, w, lam_, bias_, 0.1, 0.9, K, pri, surrogate)))

    _, g_lam = xp.value_and_grad(lambda t: pr(t, xp.asarray(bias)), xp.asarray(lamk))
    _, g_bias = xp.value_and_grad(lambda t: pr(xp.asarray(lamk), t), xp.asarray(bias))
    np.testing.assert_allclose(g_lam, finite_difference_grad(lambda t: np_pr(t, bias), lamk),
                               rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(g_bias, finite_difference_grad(lambda t: np_pr(lamk, t), bias),
                               rtol=1e-6, atol=1e-8)


# --------------------------------------------------------------------------------------------
# Hostile input, shapes
# --------------------------------------------------------------------------------------------


def _all_losses(xp, Y, W=None, L=3, K=2) -> dict[str, Callable[[Any], Any]]:
    lam = xp.asarray(np.full(L, 1.5))
    lamk = xp.asarray(np.full((L, K), 1.5))
    bias = xp.asarray(np.full((L, K), 0.25))
    return {
        "rap": lambda t: go.recall_at_precision_loss(t, Y, target_precision=0.8, lambdas=lam,
                                                     weights=W),
        "par_hinge": lambda t: go.precision_at_recall_loss(
            t, Y, target_recall=0.8, lambdas=lam, weights=W, surrogate="hinge"),
        "fpr": lambda t: go.false_positive_rate_at_true_positive_rate_loss(
            t, Y, target_rate=0.9, lambdas=lam, weights=W),
        "tpr": lambda t: go.true_positive_rate_at_false_positive_rate_loss(
            t, Y, target_rate=0.05, lambdas=lam, weights=W),
        "pr_auc": lambda t: go.precision_recall_auc_loss(t, Y, lambdas=lamk, biases=bias,
                                                         num_anchors=K, weights=W),
        "roc": lambda t: go.roc_auc_loss(t, Y, weights=W, chunk_size=3),
        "roc_int": lambda t: go.roc_auc_loss(t, xp.astype(Y, xp.int32), weights=W,
                                             surrogate="hinge", chunk_size=4),
        "roc_sort": lambda t: go.roc_auc_loss(t, Y, weights=W, surrogate="hinge",
                                              method="sort"),
    }


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_hostile_input_gives_finite_values_and_gradients(xp, dtype) -> None:
    if not xp.supports(dtype):
        pytest.skip(f"{xp.name} has no {dtype}")
    z = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 0.0], [0.0, 0.0, 0.0], [3e3, -2e3, 1e4],
                  [1e4, 1e4, -1e4], [-3e3, 2e3, -1e4]])
    y = np.zeros_like(z)
    y[:, 1] = 1.0  # label 0: no positives, label 1: no negatives
    y[[0, 3, 5], 2] = 1.0
    if dtype == "float16":
        z = np.clip(z, -6e4, 6e4)
    Y = xp.asarray(y, dtype=dtype)
    for name, fn in _all_losses(xp, Y).items():
        value, grad = xp.value_and_grad(fn, xp.asarray(z, dtype=dtype))
        assert np.isfinite(value), name
        assert grad is None or np.all(np.isfinite(grad)), name
        out = fn(xp.asarray(z, dtype=dtype))
        # Half precision is computed and returned in float32 (HELPERS decision 6).
        assert dtype_name(out) == "float32", (name, out.dtype)


def test_binary_inputs_keep_the_callers_shape(xp, rng) -> None:
    z, y = make_data(rng, B=6, L=1)
    z1, y1 = z[:, 0], y[:, 0]
    for lam in (0.5, xp.asarray(np.array(0.5)), xp.asarray(np.array([0.5]))):
        loss, aux = go.recall_at_precision_loss(xp.asarray(z1), xp.asarray(y1),
                                                target_precision=0.7, lambdas=lam,
                                                reduction="none", return_aux=True)
        expected = np_constrained("rap", z, y, None, 0.5, 0.7, np_priors(y, None), "xent")
        assert_close(xp, loss, expected[:, 0], dtype="float64")
        for key, value in aux.items():
            assert tuple(value.shape) == (), key
    loss, aux = go.precision_recall_auc_loss(xp.asarray(z1), xp.asarray(y1), num_anchors=4,
                                             lambdas=xp.asarray(np.ones(4)), reduction="none",
                                             return_aux=True)
    assert tuple(loss.shape) == (6,)
    assert tuple(aux["lambdas"].shape) == (4,) and tuple(aux["biases"].shape) == (4,)
    loss = go.roc_auc_loss(xp.asarray(z1), xp.asarray(y1), reduction="none")
    assert_close(xp, loss, np_roc(z, y, None, "xent")[:, 0], dtype="float64")


# --------------------------------------------------------------------------------------------
# Frameworks: parity, compilation, devices
# --------------------------------------------------------------------------------------------


@pytest.mark.parity
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_parity_across_frameworks(rng, dtype) -> None:
    frameworks = [n for n in ("torch", "jax", "tensorflow") if importable(n)]
    if len(frameworks) < 2:
        pytest.skip("parity needs two frameworks")
    B, L = 6, 3
    z, y = make_data(rng, B, L)
    z[2, :] = 40.0  # saturated
    y[:, 2] = 0.0  # no positives
    w = rng.uniform(0.2, 2.0, size=B)
    results: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
    for name in frameworks:
        b = get_backend(name)
        losses = _all_losses(b, b.asarray(y, dtype=dtype), b.asarray(w, dtype=dtype), L=L)
        results[name] = {k: b.value_and_grad(fn, b.asarray(z, dtype=dtype))
                         for k, fn in losses.items()}
    rtol, atol = (1e-10, 1e-14) if dtype == "float64" else (2e-5, 1e-6)
    ref = results[frameworks[0]]
    for name, res in results.items():
        for key, (value, grad) in res.items():
            np.testing.assert_allclose(value, ref[key][0], rtol=rtol, atol=atol,
                                       err_msg=f"{name} {key}")
            np.testing.assert_allclose(grad, ref[key][1], rtol=rtol, atol=atol,
                                       err_msg=f"{name} {key}")


@pytest.mark.compiled
def test_compiled_equals_eager(xp, rng) -> None:
    """Every loss in one compiled function (one torch.compile for the lot)."""
    B, L, K = 6, 3, 2
    z, y = make_data(rng, B, L)
    args = [xp.asarray(a, dtype="float32") for a in
            (z, y, rng.uniform(0.5, 1.5, size=B), np.full(L, 1.5), np.full((L, K), 1.5),
             np.full((L, K), 0.25))]

    def everything(Z: Any, Y: Any, W: Any, lam: Any, lamk: Any, bias: Any) -> Any:
        return xp.stack([
            go.recall_at_precision_loss(Z, Y, target_precision=0.8, lambdas=lam, weights=W),
            go.precision_at_recall_loss(Z, Y, target_recall=[0.5, 0.6, 0.7], lambdas=lam,
                                        surrogate="hinge"),
            go.false_positive_rate_at_true_positive_rate_loss(Z, Y, target_rate=0.9,
                                                              lambdas=lam),
            go.true_positive_rate_at_false_positive_rate_loss(Z, Y, target_rate=0.1,
                                                              lambdas=lam, weights=W),
            go.precision_recall_auc_loss(Z, Y, lambdas=lamk, biases=bias, num_anchors=K,
                                         weights=W),
            go.roc_auc_loss(Z, Y, weights=W, chunk_size=4),
            go.roc_auc_loss(Z, Y, weights=W, surrogate="hinge", method="sort"),
            go.roc_auc_loss(Z, xp.astype(Y, xp.int32), weights=W, chunk_size=4),
            go.roc_auc_loss(Z, xp.astype(Y, xp.bool), weights=W, surrogate="hinge",
                            reduction="sum"),
        ])

    eager = xp.to_numpy(everything(*args))
    assert_close(xp, xp.compile(everything)(*args), eager, dtype="float32")


def test_device_is_preserved(xp, rng) -> None:
    if xp.name != "array_api_strict":
        pytest.skip("fake devices exist in array_api_strict only")
    device = xp.Device("device1")
    B, L = 6, 3
    z, y = make_data(rng, B, L)
    w = rng.uniform(0.5, 1.5, size=B)

    def on(a: np.ndarray) -> Any:
        return xp.asarray(a, device=device)

    Z, Y, W = on(z), on(y), on(w)
    lam, lamk = on(np.full(L, 1.5)), on(np.full((L, 2), 1.5))
    results = [
        go.recall_at_precision_loss(Z, Y, target_precision=[0.6, 0.7, 0.8], lambdas=lam,
                                    weights=W, return_aux=True),
        go.precision_at_recall_loss(Z, Y, target_recall=0.6, lambdas=1.0, surrogate="hinge",
                                    return_aux=True),
        go.true_positive_rate_at_false_positive_rate_loss(Z, Y, target_rate=0.1, lambdas=lam,
                                                          label_priors=on(np.full(L, 0.3)),
                                                          return_aux=True),
        go.precision_recall_auc_loss(Z, Y, lambdas=lamk, biases=on(np.zeros((L, 2))),
                                     num_anchors=2, weights=W, return_aux=True),
        go.precision_recall_auc_loss(Z, Y, lambdas=1.0, num_anchors=2, return_aux=True),
        go.roc_auc_loss(Z, Y, weights=W, chunk_size=4, reduction="none", return_aux=True),
        go.roc_auc_loss(Z, Y, weights=W, surrogate="hinge", method="sort", reduction="none",
                        return_aux=True),
    ]
    expected = np_constrained("rap", z, y, w, 1.5, np.array([0.6, 0.7, 0.8]),
                              np_priors(y, w), "xent").mean()
    assert_close(xp, results[0][0], expected, dtype="float64", device=device)
    assert_close(xp, results[-1][0], np_roc(z, y, w, "hinge"), dtype="float64", device=device)
    for loss, aux in results:
        assert loss.device == device
        for key, value in aux.items():
            assert value.device == device, key
    state = go.label_priors_init(L, xp=xp.ns, device=device)
    out = go.update_label_priors(state, Y, weights=W)
    assert all(a.device == device for a in out) and out.priors.device == device
    assert go.label_priors_init(L, like=Z).counts.device == device
    assert go.dual_value(lam, 0.1, lambda t: t).device == device
    assert go.weighted_surrogate(Z, Y, negative_weights=lam).device == device
    assert go.true_positives_lower_bound(Z, Y, weights=W).device == device


# --------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------


def test_bad_inputs_raise_clear_errors(xp) -> None:
    z = xp.asarray(np.zeros((4, 2)))
    y = xp.asarray(np.array([[1, 0], [0, 1], [1, 1], [0, 0]]))
    lam = xp.asarray(np.ones(2))
    rap = go.recall_at_precision_loss
    pr = go.precision_recall_auc_loss
    cases: list[tuple[Callable[[], Any], type[Exception], str]] = [
        (lambda: pr(z, y, lambdas=1.0, precision_range=(0.5, 0.5)), ValueError,
         "precision_range must satisfy 0 ≤ lo < hi ≤ 1"),
        (lambda: pr(z, y, lambdas=1.0, precision_range=(-0.1, 0.5)), ValueError,
         "precision_range"),
        (lambda: pr(z, y, lambdas=1.0, precision_range=(0.2, 1.5)), ValueError,
         "precision_range"),
        (lambda: pr(z, y, lambdas=1.0, precision_range=0.5), ValueError, "precision_range"),
        (lambda: pr(z, y, lambdas=1.0, num_anchors=0), ValueError, "num_anchors"),
        (lambda: pr(z, y, lambdas=1.0, num_anchors=2.5), TypeError, "num_anchors"),
        (lambda: rap(z, y, target_precision=0.0, lambdas=lam), ValueError,
         r"target_precision must lie in \(0.0, 1.0\]"),
        (lambda: rap(z, y, target_precision=1.2, lambdas=lam), ValueError, "target_precision"),
        (lambda: rap(z, y, target_precision=xp.asarray(np.array([0.5, 1.5])), lambdas=lam),
         ValueError, "target_precision"),
        (lambda: rap(z, y, target_precision=[0.5, 0.6, 0.7], lambdas=lam), ValueError,
         "target_precision as a sequence must have 2 entries"),
        (lambda: go.precision_at_recall_loss(z, y, target_recall=-0.5, lambdas=lam),
         ValueError, "target_recall"),
        (lambda: go.true_positive_rate_at_false_positive_rate_loss(
            z, y, target_rate=float("nan"), lambdas=lam), ValueError, "target_rate"),
        (lambda: rap(z, y, target_precision="high", lambdas=lam), TypeError,
         "target_precision must be a number"),
        (lambda: rap(z, y, target_precision=0.5, lambdas=lam, surrogate="logistic"),
         ValueError, "surrogate must be one of 'xent', 'hinge'"),
        (lambda: rap(z, y, target_precision=0.5, lambdas=lam, reduction="avg"), ValueError,
         "reduction must be one of"),
        (lambda: rap(z, y, target_precision=0.5, lambdas=xp.asarray(np.ones(3))), ValueError,
         r"lambdas must have shape \(\) or \(2,\), got \(3,\)"),
        (lambda: rap(z, y, target_precision=0.5, lambdas=xp.asarray(np.ones((2, 1)))),
         ValueError, "lambdas must have shape"),
        (lambda: rap(z, y, target_precision=0.5, lambdas=-1.0), ValueError, "lambdas"),
        (lambda: rap(z, y, target_precision=0.5, lambdas=xp.asarray(np.array([1.0, -1.0]))),
         ValueError, "lambdas"),
        (lambda: rap(z, y, target_precision=0.5, lambdas=None), TypeError, "lambdas is required"),
        (lambda: pr(z, y, lambdas=xp.asarray(np.ones((3, 2))), num_anchors=3), ValueError,
         r"lambdas must have shape \(\) or \(2, 3\), got \(3, 2\)"),
        (lambda: pr(z, y, lambdas=1.0, biases=xp.asarray(np.zeros(2)), num_anchors=3),
         ValueError, r"biases must have shape \(\) or \(2, 3\), got \(2,\)"),
        (lambda: pr(z, y, lambdas=1.0, biases="zero"), TypeError, "biases"),
        (lambda: rap(z, y, target_precision=0.5, lambdas=lam,
                     label_priors=xp.asarray(np.array([0.5, 1.5]))), ValueError, "label_priors"),
        (lambda: rap(z, xp.asarray(np.zeros((4, 3))), target_precision=0.5, lambdas=lam),
         ValueError, "labels must have the shape of logits"),
        (lambda: rap(z, y, target_precision=0.5, lambdas=lam,
                     weights=xp.asarray(np.ones(3))), ValueError, "weights"),
        (lambda: go.roc_auc_loss(z, y, method="sort"), ValueError,
         "method='sort' is exact for surrogate='hinge' only"),
        (lambda: go.roc_auc_loss(z, y, method="sorted"), ValueError, "method must be one of"),
        (lambda: go.roc_auc_loss(z, y, chunk_size=0), ValueError, "chunk_size"),
        (lambda: go.roc_auc_loss(z, y, surrogate="hinge", method="sort", chunk_size=2),
         ValueError, "chunk_size applies to method='pairwise' only"),
        (lambda: go.roc_auc_loss(z, xp.asarray(np.full((4, 2), 0.5)), surrogate="hinge",
                                 method="sort"), ValueError, "labels must be 0 or 1"),
        (lambda: go.dual_value(lam, -0.1, lambda t: t), ValueError, "dual_rate_factor"),
        (lambda: go.dual_value(lam, 0.1, None), TypeError, "stop_gradient must be callable"),
        (lambda: go.label_priors_init(0, xp=xp.ns), ValueError, "num_labels"),
        (lambda: go.label_priors_init(2, xp=xp.ns, positive_pseudocount=0.0,
                                      negative_pseudocount=0.0), ValueError, "pseudocount"),
        (lambda: go.update_label_priors((lam, xp.asarray(np.ones(3))), y), ValueError,
         "weight_sum must have the shape of counts"),
        (lambda: go.update_label_priors((lam, lam), xp.asarray(np.ones((4, 3)))), ValueError,
         r"labels must have shape \(B, 2\)"),
        (lambda: go.weighted_surrogate(z, y, positive_weights=xp.asarray(np.ones(3))),
         ValueError, "positive_weights of shape"),
        (lambda: go.weighted_surrogate(z, y, negative_weights=-1.0), ValueError,
         "negative_weights"),
        (lambda: go.true_positives_lower_bound(z, y, surrogate="squared"), ValueError,
         "surrogate"),
    ]
    for call, error, message in cases:
        with pytest.raises(error, match=message):
            call()


def test_mixed_libraries_and_dtypes_raise_type_errors(xp) -> None:
    other = get_backend("array_api_strict" if xp.name == "numpy" else "numpy")
    z = xp.asarray(np.zeros((3, 2)))
    y = xp.asarray(np.zeros((3, 2)))
    with pytest.raises(TypeError, match="lambdas is a"):
        go.recall_at_precision_loss(z, y, target_precision=0.5,
                                    lambdas=other.asarray(np.ones(2)))
    with pytest.raises(TypeError, match="logits must have a floating-point dtype"):
        go.roc_auc_loss(xp.asarray(np.zeros((3, 2), dtype=np.int64)), y)
    with pytest.raises(TypeError, match="biases must have a floating-point dtype"):
        go.precision_recall_auc_loss(z, y, lambdas=1.0, num_anchors=2,
                                     biases=xp.asarray(np.zeros((2, 2), dtype=np.int64)))

