"""Global objectives (SPEC §3): surrogates, bounds, label priors, dual values, five
constrained losses (ROC-AUC: tests/test_roc_auc.py, which shares these oracles).

Oracles are independent NumPy float64 transcriptions of SPEC §3: the surrogates written
term by term with ``np.logaddexp``; each Lagrangian per element as tabulated; PR-AUC as the
original library's Riemann sum ``δ·Σ_k/(hi − lo − δ)`` over anchors from ``np.linspace``; ROC-AUC
as an explicit double loop over pairs. Hand-worked values use ``math``. Gradients are checked
against finite differences of the oracles. Shapes are fixed (B = 6, L = 3, K = 2; B = 4 for
the second batch size of the tracing tests): JAX compiles each eager op once per shape.
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
from tests.support import (
    assert_close,
    dtype_name,
    finite_difference_grad,
    get_backend,
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

SURROGATE_WEIGHTS = {
    "ones": lambda rng, B, L: (1.0, 1.0),
    "numbers": lambda rng, B, L: (float(rng.random() * 2), 0.3),
    "per_label": lambda rng, B, L: (rng.random(L), rng.random(L)),
    "per_element": lambda rng, B, L: (rng.random((B, L)), rng.random((B, L))),
}


@pytest.mark.float64
@pytest.mark.parametrize("surrogate", SURROGATES)
@pytest.mark.parametrize("form", sorted(SURROGATE_WEIGHTS))
def test_weighted_surrogate_closed_form(xp, rng, surrogate, form) -> None:
    B, L = 6, 3
    z = rng.normal(scale=3.0, size=(B, L))
    y = rng.random((B, L))  # soft labels: the surrogate is linear in y
    c, d = SURROGATE_WEIGHTS[form](rng, B, L)
    got = go.weighted_surrogate(xp.asarray(z), xp.asarray(y), surrogate=surrogate,
                                positive_weights=as_xp(xp, c) if np.ndim(c) else c,
                                negative_weights=as_xp(xp, d) if np.ndim(d) else d)
    if surrogate == "xent":
        expected = c * y * np.logaddexp(0, -z) + d * (1 - y) * np.logaddexp(0, z)
    else:
        expected = c * y * np.maximum(1 - z, 0) + d * (1 - y) * np.maximum(1 + z, 0)
    assert_close(xp, got, expected, dtype="float64")


@pytest.mark.float64
@pytest.mark.parametrize("surrogate", SURROGATES)
def test_weighted_surrogate_with_anchors(xp, rng, surrogate) -> None:
    """Logits (B, L, K), labels (B, L, 1), weights (L, K): the PR-AUC anchors' layout."""
    B, L, K = 6, 3, 2
    y = rng.random((B, L))
    zk = rng.normal(scale=3.0, size=(B, L))[:, :, None] + rng.normal(size=(L, K))
    c, d = rng.random((L, K)), rng.random((L, K))
    got = go.weighted_surrogate(xp.asarray(zk), xp.asarray(y[:, :, None]), surrogate=surrogate,
                                positive_weights=xp.asarray(c), negative_weights=xp.asarray(d))
    assert_close(xp, got, np_surr(y[:, :, None], zk, c, d, surrogate), dtype="float64")


def _hand_worked_bounds(surrogate: str) -> dict[str, tuple[float, float]]:
    """``{weights: (TP_lb, FP_ub)}`` on logits [2, 0.5, −0.5, 1.5], labels [1, 1, 0, 0]."""
    if surrogate == "hinge":
        # positives' hinge max(1 − z, 0): 0, 0.5; negatives' max(1 + z, 0): 0.5, 2.5
        return {"none": (1.0 + 0.5, 0.5 + 2.5),
                "per_example": (1.0 + 2.0 * 0.5, 3.0 * 0.5 + 0.5 * 2.5)}

    def sp(x: float) -> float:
        return math.log1p(math.exp(x))

    return {"none": (2.0 - (sp(-2.0) + sp(-0.5)) / LN2, (sp(-0.5) + sp(1.5)) / LN2),
            "per_example": (3.0 - (sp(-2.0) + 2.0 * sp(-0.5)) / LN2,
                            (3.0 * sp(-0.5) + 0.5 * sp(1.5)) / LN2)}


@pytest.mark.float64
@pytest.mark.parametrize("weighted", ["none", "per_example"])
@pytest.mark.parametrize("surrogate", SURROGATES)
def test_bounds_on_hand_worked_data(xp, surrogate, weighted) -> None:
    z = xp.asarray(np.array([2.0, 0.5, -0.5, 1.5]))
    y = xp.asarray(np.array([1, 1, 0, 0]))
    w = None if weighted == "none" else xp.asarray(np.array([1.0, 2.0, 3.0, 0.5]))
    tp, fp = _hand_worked_bounds(surrogate)[weighted]
    assert_close(xp, go.true_positives_lower_bound(z, y, weights=w, surrogate=surrogate), tp,
                 dtype="float64")
    assert_close(xp, go.false_positives_upper_bound(z, y, weights=w, surrogate=surrogate), fp,
                 dtype="float64")


@pytest.mark.float64
@pytest.mark.parametrize("surrogate", SURROGATES)
@pytest.mark.parametrize("form", ["per_element", "per_example_column"])
def test_bounds_multilabel_column_by_column(xp, rng, surrogate, form) -> None:
    z, y = make_data(rng)
    w = rng.uniform(0.2, 2.0, size=(6, 3) if form == "per_element" else (6, 1))
    exp_tp, exp_fp = np_bounds(z, y, np.broadcast_to(w, z.shape), surrogate)
    Z, Y, W = xp.asarray(z), xp.asarray(y), xp.asarray(w)
    assert_close(xp, go.true_positives_lower_bound(Z, Y, weights=W, surrogate=surrogate),
                 exp_tp, dtype="float64")
    assert_close(xp, go.false_positives_upper_bound(Z, Y, weights=W, surrogate=surrogate),
                 exp_fp, dtype="float64")


@pytest.mark.float64
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


@pytest.mark.float64
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

LOSS_WEIGHTS = {
    "none": lambda rng, B, L: None,
    "scalar": lambda rng, B, L: 1.7,
    "per_example": lambda rng, B, L: rng.uniform(0.2, 2.0, size=B),
    "per_example_column": lambda rng, B, L: rng.uniform(0.2, 2.0, size=(B, 1)),
    "per_element": lambda rng, B, L: rng.uniform(0.2, 2.0, size=(B, L)),
}


@pytest.mark.float64
@pytest.mark.parametrize("weights", sorted(LOSS_WEIGHTS))
@pytest.mark.parametrize("surrogate", SURROGATES)
@pytest.mark.parametrize("name", sorted(CONSTRAINED))
def test_constrained_losses_match_closed_form(xp, rng, name, surrogate, weights) -> None:
    fn, target_arg, kind = CONSTRAINED[name]
    B, L = 6, 3
    z, y = make_data(rng, B, L, soft=True)
    lam = rng.uniform(0.0, 3.0, size=L)
    target = rng.uniform(0.2, 1.0, size=L)
    w = LOSS_WEIGHTS[weights](rng, B, L)
    given_priors = rng.uniform(0.1, 0.9, size=L) if weights == "scalar" else None
    priors = np_priors(y, w) if given_priors is None else given_priors
    expected = np_constrained(kind, z, y, w, lam, target, priors, surrogate)
    kwargs = {target_arg: xp.asarray(target), "lambdas": xp.asarray(lam),
              "weights": as_xp(xp, w), "surrogate": surrogate,
              "label_priors": None if given_priors is None else xp.asarray(given_priors)}
    Z, Y = xp.asarray(z), xp.asarray(y)
    loss, aux = fn(Z, Y, reduction="none", return_aux=True, **kwargs)
    assert_close(xp, loss, expected, dtype="float64", atol=1e-12)
    # The default: the loss alone, the mean over all B·L elements.
    assert_close(xp, fn(Z, Y, **kwargs), expected.mean(), dtype="float64", atol=1e-12)
    assert_close(xp, fn(Z, Y, reduction="sum", **kwargs), expected.sum(), dtype="float64",
                 atol=1e-12)
    assert sorted(aux) == ["false_positives_upper_bound", "label_priors", "lambdas",
                           "true_positives_lower_bound"]
    tp, fp = np_bounds(z, y, w, surrogate)
    assert_close(xp, aux["lambdas"], lam, dtype="float64")
    assert_close(xp, aux["label_priors"], priors, dtype="float64")
    assert_close(xp, aux["true_positives_lower_bound"], tp, dtype="float64")
    assert_close(xp, aux["false_positives_upper_bound"], fp, dtype="float64")


@pytest.mark.parametrize("name", [*sorted(CONSTRAINED), "pr_auc"])
def test_without_return_aux_the_bounds_are_not_computed(xp, rng, name, monkeypatch) -> None:
    """``return_aux=False`` (the default) never calls the bounds (no eager cost)."""
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("bounds computed")

    monkeypatch.setattr(go.losses, "_aux", refuse)  # the bounds are computed in _aux only
    z, y = make_data(rng)
    Z, Y = xp.asarray(z, dtype="float32"), xp.asarray(y, dtype="float32")
    if name == "pr_auc":
        loss = go.precision_recall_auc_loss(Z, Y, lambdas=1.0, num_anchors=2)
    else:
        fn, target_arg, _ = CONSTRAINED[name]
        loss = fn(Z, Y, **{target_arg: 0.7}, lambdas=1.0)
    assert tuple(loss.shape) == ()
    with pytest.raises(AssertionError, match="bounds computed"):
        if name == "pr_auc":
            go.precision_recall_auc_loss(Z, Y, lambdas=1.0, num_anchors=2, return_aux=True)
        else:
            fn(Z, Y, **{target_arg: 0.7}, lambdas=1.0, return_aux=True)


@pytest.mark.float64
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


@pytest.mark.float64
@pytest.mark.parametrize("biases", ["none", "zeros_array", "zero_number"])
@pytest.mark.parametrize("surrogate", SURROGATES)
def test_precision_recall_auc_zero_biases_collapse(xp, rng, surrogate, biases) -> None:
    """``biases=None`` is the zero-bias (B, L, K) computation, collapsed."""
    B, L, K = 6, 3, 2
    lo, hi = 0.2, 0.9
    z, y = make_data(rng, B, L)
    lam = rng.uniform(0.0, 2.0, size=(L, K))
    zero = np.zeros((L, K))
    expected = np_prauc(z, y, None, lam, zero, lo, hi, K, np_priors(y, None), surrogate)
    biases_arg = {"none": None, "zeros_array": xp.asarray(zero), "zero_number": 0.0}[biases]
    loss, aux = go.precision_recall_auc_loss(
        xp.asarray(z), xp.asarray(y), lambdas=xp.asarray(lam), biases=biases_arg,
        precision_range=(lo, hi), num_anchors=K, surrogate=surrogate, return_aux=True)
    assert_close(xp, loss, expected.mean(), dtype="float64")
    assert_close(xp, aux["biases"], zero, dtype="float64")


# --------------------------------------------------------------------------------------------
# Identities of the Lagrangian
# --------------------------------------------------------------------------------------------


@pytest.mark.float64
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
    a = go.false_positive_rate_at_true_positive_rate_loss(Z, Y, target_rate=0.7, lambdas=LAM,
                                                          **common)
    b = go.precision_at_recall_loss(Z, Y, target_recall=0.7, lambdas=LAM, **common)
    assert_close(xp, a, xp.to_numpy(b), dtype="float64")
    # PR-AUC with one anchor over a narrow range is recall at the anchor's precision.
    pr = go.precision_recall_auc_loss(Z, Y, lambdas=xp.asarray(lam[:, None]),
                                      biases=xp.asarray(np.zeros((L, 1))),
                                      precision_range=(0.69, 0.71), num_anchors=1, **common)
    rp = go.recall_at_precision_loss(Z, Y, target_precision=0.7, lambdas=LAM, **common)
    assert_close(xp, pr, xp.to_numpy(rp), dtype="float64", atol=1e-12)


@pytest.mark.float64
@pytest.mark.parametrize("surrogate", SURROGATES)
@pytest.mark.parametrize("name", sorted(CONSTRAINED))
def test_per_label_targets(xp, rng, name, surrogate) -> None:
    """Equal targets as an array, a list and a number agree; per-label targets equal separate
    single-label runs on binary ``(B,)`` inputs."""
    fn, target_arg, _ = CONSTRAINED[name]
    B, L = 6, 3
    z, y = make_data(rng, B, L)
    w = rng.uniform(0.2, 2.0, size=B)
    lam = rng.uniform(0.1, 2.0, size=L)
    Z, Y, LAM = xp.asarray(z), xp.asarray(y), xp.asarray(lam)
    common = {"weights": xp.asarray(w), "surrogate": surrogate, "reduction": "none"}
    vec = fn(Z, Y, **{target_arg: xp.asarray(np.full(L, 0.6))}, lambdas=LAM, **common)
    lst = fn(Z, Y, **{target_arg: [0.6] * L}, lambdas=LAM, **common)
    sca = fn(Z, Y, **{target_arg: 0.6}, lambdas=LAM, **common)
    assert_close(xp, vec, xp.to_numpy(sca), dtype="float64")
    assert_close(xp, lst, xp.to_numpy(sca), dtype="float64")
    targets = [0.3, 0.6, 0.9]
    full = xp.to_numpy(fn(Z, Y, **{target_arg: targets}, lambdas=LAM, **common))
    for label in range(L):
        single, aux = fn(xp.asarray(z[:, label]), xp.asarray(y[:, label]),
                         **{target_arg: targets[label]}, lambdas=float(lam[label]),
                         return_aux=True, **common)
        assert_close(xp, single, full[:, label], dtype="float64")
        assert tuple(aux["label_priors"].shape) == ()


def _duplication_cases(xp, lam, L, surrogate):
    return {
        "recall_at_precision": lambda Z, Y, W: go.recall_at_precision_loss(
            Z, Y, target_precision=0.7, lambdas=xp.asarray(lam), weights=W, surrogate=surrogate,
            reduction="none", return_aux=True),
        "pr_auc": lambda Z, Y, W: go.precision_recall_auc_loss(
            Z, Y, lambdas=xp.asarray(np.tile(lam[:, None], 2)), num_anchors=2,
            biases=xp.asarray(np.full((L, 2), 0.2)), weights=W, surrogate=surrogate,
            reduction="none", return_aux=True),
        "tpr_at_fpr": lambda Z, Y, W: go.true_positive_rate_at_false_positive_rate_loss(
            Z, Y, target_rate=0.2, lambdas=xp.asarray(lam), weights=W, surrogate=surrogate,
            reduction="none", return_aux=True),
    }


@pytest.mark.float64
@pytest.mark.parametrize("surrogate", SURROGATES)
@pytest.mark.parametrize("case", ["pr_auc", "recall_at_precision", "tpr_at_fpr"])
def test_zero_and_double_weights_equal_dropping_and_duplicating_rows(xp, rng, surrogate,
                                                                     case) -> None:
    """Data ``D`` (6 rows) and ``D'`` = ``D`` plus a copy of row 3: ``D'`` with weight 0 on the
    copy is ``D``; ``D`` with weight 2 on row 3 is ``D'``."""
    B, L = 6, 3
    z, y = make_data(rng, B, L)
    lam = rng.uniform(0.1, 2.0, size=L)
    dup = np.r_[np.arange(B), 3]
    w_zero = np.r_[np.ones(B), 0.0]
    w_two = np.ones(B)
    w_two[3] = 2.0
    Z, Y, Zd, Yd = xp.asarray(z), xp.asarray(y), xp.asarray(z[dup]), xp.asarray(y[dup])
    W_zero, W_two = xp.asarray(w_zero), xp.asarray(w_two)
    fn = _duplication_cases(xp, lam, L, surrogate)[case]
    # Weight 0 == dropped: the other rows' losses, the priors and the bounds agree.
    plain, plain_aux = fn(Z, Y, None)
    zeroed, zeroed_aux = fn(Zd, Yd, W_zero)
    np.testing.assert_allclose(xp.to_numpy(zeroed)[:B], xp.to_numpy(plain), rtol=1e-12)
    # Weight 2 == duplicated: priors, bounds, and the gradient of the sum (the λ-term is a
    # constant in the logits, one per element, so the sums differ by it).
    _, doubled_aux = fn(Z, Y, W_two)
    _, copied_aux = fn(Zd, Yd, None)
    for key in ("label_priors", "true_positives_lower_bound", "false_positives_upper_bound"):
        np.testing.assert_allclose(xp.to_numpy(zeroed_aux[key]), xp.to_numpy(plain_aux[key]),
                                   rtol=1e-12)
        np.testing.assert_allclose(xp.to_numpy(doubled_aux[key]), xp.to_numpy(copied_aux[key]),
                                   rtol=1e-12)
    if xp.differentiable:
        _, g_two = xp.value_and_grad(lambda t: xp.sum(fn(t, Y, W_two)[0]), Z)
        _, g_dup = xp.value_and_grad(lambda t: xp.sum(fn(t, Yd, None)[0]), Zd)
        merged = g_dup[:B].copy()
        merged[3] += g_dup[B]
        np.testing.assert_allclose(g_two, merged, rtol=1e-10, atol=1e-14)


# --------------------------------------------------------------------------------------------
# Gradients against finite differences
# --------------------------------------------------------------------------------------------


def _fd_data(rng, surrogate):
    B, L, K = 6, 3, 2
    z, y = make_data(rng, B, L, soft=surrogate == "xent")
    # Keep logits off the hinge's kinks (|z| = 1) for finite differences.
    z = np.round(z, 1) + 0.037 * np.arange(B * L).reshape(B, L)
    w = rng.uniform(0.5, 1.5, size=B)
    lam = rng.uniform(0.2, 2.0, size=L)
    lamk, bias = rng.uniform(0.2, 2.0, size=(L, K)), rng.normal(scale=0.3, size=(L, K))
    up = rng.normal(size=(B, L))
    return z, y, w, lam, lamk, bias, up


@pytest.mark.float64
@pytest.mark.parametrize("surrogate", SURROGATES)
@pytest.mark.parametrize("name", [*sorted(CONSTRAINED), "pr_auc"])
def test_gradients_match_finite_differences(xp, rng, name, surrogate) -> None:
    if not xp.differentiable:
        pytest.skip(f"{xp.name} has no autodiff")
    z, y, w, lam, lamk, bias, up = _fd_data(rng, surrogate)
    K = lamk.shape[1]
    pri = np_priors(y, w)
    U, Y, W = xp.asarray(up), xp.asarray(y), xp.asarray(w)
    if name == "pr_auc":
        def backend_fn(t: Any) -> Any:
            return go.precision_recall_auc_loss(
                t, Y, lambdas=xp.asarray(lamk), biases=xp.asarray(bias), num_anchors=K,
                precision_range=(0.1, 0.9), weights=W, surrogate=surrogate, reduction="none")

        def oracle(t: np.ndarray) -> np.ndarray:
            return np_prauc(t, y, w, lamk, bias, 0.1, 0.9, K, pri, surrogate)
    else:
        fn, target_arg, kind = CONSTRAINED[name]

        def backend_fn(t: Any) -> Any:
            return fn(t, Y, **{target_arg: 0.7}, lambdas=xp.asarray(lam), weights=W,
                      surrogate=surrogate, reduction="none")

        def oracle(t: np.ndarray) -> np.ndarray:
            return np_constrained(kind, t, y, w, lam, 0.7, pri, surrogate)

    value, grad = xp.value_and_grad(lambda t: xp.sum(U * backend_fn(t)), xp.asarray(z))
    expected = finite_difference_grad(lambda t: float(np.sum(up * oracle(t))), z)
    np.testing.assert_allclose(value, np.sum(up * oracle(z)), rtol=1e-10)
    np.testing.assert_allclose(grad, expected, rtol=1e-6, atol=1e-8)


@pytest.mark.float64
@pytest.mark.parametrize("surrogate", SURROGATES)
def test_precision_recall_auc_gradients_in_duals_and_biases(xp, rng, surrogate) -> None:
    if not xp.differentiable:
        pytest.skip(f"{xp.name} has no autodiff")
    z, y, w, _, lamk, bias, up = _fd_data(rng, surrogate)
    K = lamk.shape[1]
    pri = np_priors(y, w)
    U = xp.asarray(up)

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
# Hostile input: saturated and infinite logits, half precision
# --------------------------------------------------------------------------------------------


def _all_losses(xp, Y, W=None, L=3, K=2) -> dict[str, Callable[[Any], Any]]:
    """Every loss of the family as ``f(logits)`` (the ROC-AUC ones included)."""
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


LOSS_NAMES = ("fpr", "pr_auc", "par_hinge", "rap", "roc", "roc_int", "roc_sort", "tpr")


@pytest.mark.parametrize("name", LOSS_NAMES)
@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_hostile_input_gives_finite_values_and_gradients(xp, dtype, name) -> None:
    if not xp.supports(dtype):
        pytest.skip(f"{xp.name} has no {dtype}")
    z = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 0.0], [0.0, 0.0, 0.0], [3e3, -2e3, 1e4],
                  [1e4, 1e4, -1e4], [-3e3, 2e3, -1e4]])
    y = np.zeros_like(z)
    y[:, 1] = 1.0  # label 0: no positives, label 1: no negatives
    y[[0, 3, 5], 2] = 1.0
    if dtype == "float16":
        z = np.clip(z, -6e4, 6e4)
    fn = _all_losses(xp, xp.asarray(y, dtype=dtype))[name]
    value, grad = xp.value_and_grad(fn, xp.asarray(z, dtype=dtype))
    assert np.isfinite(value)
    assert grad is None or np.all(np.isfinite(grad))
    # Half precision is computed and returned in float32 (HELPERS decision 6).
    out = fn(xp.asarray(z, dtype=dtype))
    assert dtype_name(out) == ("float32" if dtype != "float64" else dtype)


# Issue 11 C: ±inf logits. (logits with ±inf, labels, the same with a large finite stand-in;
# the loss at the stand-in in float64 is the limit, value and gradient.)
BIG = 1e4
INFINITE = {
    "rap_positive_inf": ("rap", [np.inf, 0.0], [1.0, 0.0]),
    "rap_negative_minus_inf": ("rap", [0.0, -np.inf], [1.0, 0.0]),
    "par_hinge_positive_inf": ("par_hinge", [np.inf, 0.0], [1.0, 0.0]),
    "tpr_negative_minus_inf": ("tpr", [0.5, -np.inf], [1.0, 0.0]),
    "pr_auc_negative_minus_inf": ("pr_auc", [2.0, -np.inf], [1.0, 0.0]),
    "pr_auc_positive_inf": ("pr_auc", [np.inf, -1.0], [1.0, 0.0]),
    "tp_bound_positive_inf": ("tp_bound", [np.inf, 0.5], [1.0, 0.0]),
    "fp_bound_negative_minus_inf": ("fp_bound", [1.0, -np.inf], [1.0, 0.0]),
    "surrogate_both": ("surrogate", [np.inf, -np.inf], [1.0, 0.0]),
}


def _binary_losses(xp) -> dict[str, Callable[[Any, Any], Any]]:
    return {
        "rap": lambda z, y: go.recall_at_precision_loss(z, y, target_precision=0.5,
                                                        lambdas=1.0),
        "par_hinge": lambda z, y: go.precision_at_recall_loss(z, y, target_recall=0.7,
                                                              lambdas=1.5, surrogate="hinge"),
        "tpr": lambda z, y: go.true_positive_rate_at_false_positive_rate_loss(
            z, y, target_rate=0.2, lambdas=2.0),
        "pr_auc": lambda z, y: go.precision_recall_auc_loss(
            z, y, lambdas=1.0, biases=0.3, num_anchors=3),
        "tp_bound": lambda z, y: go.true_positives_lower_bound(z, y),
        "fp_bound": lambda z, y: go.false_positives_upper_bound(z, y),
        "surrogate": lambda z, y: xp.sum(go.weighted_surrogate(z, y, positive_weights=2.0)),
    }


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("case", sorted(INFINITE))
def test_infinite_logits_give_the_limit(xp, case, dtype) -> None:
    """Issue 11 C: a correct infinite logit gives the limit (the float64 value at a large
    finite logit), value and gradient, never NaN; half precision comes back in float32."""
    if not xp.supports(dtype):
        pytest.skip(f"{xp.name} has no {dtype}")
    name, z, y = INFINITE[case]
    fn = _binary_losses(xp)[name]
    z, y = np.array(z), np.array(y)
    Y = xp.asarray(y, dtype=dtype)
    value, grad = xp.value_and_grad(lambda t: fn(t, Y), xp.asarray(z, dtype=dtype))
    assert dtype_name(fn(xp.asarray(z, dtype=dtype), Y)) == "float32"
    # The limit, from float64 NumPy at a large finite stand-in (an independent evaluation).
    f64 = get_backend("numpy")
    limit = f64.to_numpy(_binary_losses(f64)[name](np.clip(z, -BIG, BIG), y))
    np.testing.assert_allclose(value, limit, rtol=1e-5, atol=1e-6)
    if grad is not None:
        big = np.clip(z, -BIG, BIG)
        expected = finite_difference_grad(
            lambda t: float(f64.to_numpy(_binary_losses(f64)[name](t, y))), big, h=1e-4)
        assert np.all(np.isfinite(grad))
        np.testing.assert_allclose(grad, expected, rtol=1e-3, atol=2e-3)


@pytest.mark.parametrize("name", ["rap", "pr_auc", "tp_bound", "surrogate"])
def test_wrong_infinite_logits_give_huge_values_and_finite_gradients(xp, name) -> None:
    """A confidently wrong infinite logit: the limit is +inf; the loss is of order H (or inf),
    never NaN, and the gradient is finite."""
    fn = _binary_losses(xp)[name]
    Y = xp.asarray(np.array([1.0, 0.0]), dtype="float32")
    value, grad = xp.value_and_grad(lambda t: fn(t, Y),
                                    xp.asarray(np.array([-np.inf, np.inf]), dtype="float32"))
    assert not np.isnan(value)
    if name != "tp_bound":
        assert value > 1e17
    else:
        assert value < -1e17
    assert grad is None or np.all(np.isfinite(grad))


# --------------------------------------------------------------------------------------------
# Half precision, unknown batch sizes, tracing
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_returns_float32_loss_and_aux(xp, rng, dtype) -> None:
    if not xp.supports(dtype):
        pytest.skip(f"{xp.name} has no {dtype}")
    z, y = make_data(rng)
    Z, Y = xp.asarray(z, dtype=dtype), xp.asarray(y, dtype=dtype)
    outs = {
        "rap": go.recall_at_precision_loss(Z, Y, target_precision=0.7, lambdas=1.0,
                                           return_aux=True, reduction="none"),
        "pr_auc": go.precision_recall_auc_loss(Z, Y, lambdas=1.0, num_anchors=2,
                                               return_aux=True),
    }
    for name, (loss, aux) in outs.items():
        assert dtype_name(loss) == "float32", name
        for key, value in aux.items():
            assert dtype_name(value) == "float32", (name, key)
    for out in (go.weighted_surrogate(Z, Y), go.true_positives_lower_bound(Z, Y),
                go.false_positives_upper_bound(Z, Y)):
        assert dtype_name(out) == "float32"
    # The value is the float32 computation on the half-rounded inputs.
    z32 = xp.to_numpy(Z).astype(np.float32)
    expected = np_constrained("rap", z32.astype(np.float64), y, None, 1.0, 0.7,
                              np_priors(y, None), "xent")
    assert_close(xp, outs["rap"][0], expected, dtype="float32", rtol=1e-5, atol=1e-6)


def _traced_functions(xp) -> dict[str, Callable[..., Any]]:
    """Every public function of the family as ``f(Z, Y, W)`` returning one array."""
    L, K = 3, 2
    lam = xp.asarray(np.full(L, 1.5), dtype="float32")
    lamk = xp.asarray(np.full((L, K), 1.5), dtype="float32")
    bias = xp.asarray(np.full((L, K), 0.25), dtype="float32")
    state = go.label_priors_init(L, xp=xp.ns)

    def priors(Z: Any, Y: Any, W: Any) -> Any:
        new = go.update_label_priors(state, Y, weights=W)
        return xp.stack([new.counts, new.weight_sum])

    return {
        "recall_at_precision": lambda Z, Y, W: go.recall_at_precision_loss(
            Z, Y, target_precision=0.8, lambdas=lam, weights=W),
        "precision_at_recall": lambda Z, Y, W: go.precision_at_recall_loss(
            Z, Y, target_recall=0.8, lambdas=lam, surrogate="hinge", reduction="none"),
        "fpr_at_tpr": lambda Z, Y, W: go.false_positive_rate_at_true_positive_rate_loss(
            Z, Y, target_rate=0.9, lambdas=lam, weights=W, reduction="sum"),
        "tpr_at_fpr": lambda Z, Y, W: go.true_positive_rate_at_false_positive_rate_loss(
            Z, Y, target_rate=0.1, lambdas=lam, weights=W),
        "pr_auc": lambda Z, Y, W: go.precision_recall_auc_loss(
            Z, Y, lambdas=lamk, biases=bias, num_anchors=K, weights=W),
        "pr_auc_no_biases": lambda Z, Y, W: go.precision_recall_auc_loss(
            Z, Y, lambdas=lamk, num_anchors=K),
        "aux": lambda Z, Y, W: xp.stack(list(go.recall_at_precision_loss(
            Z, Y, target_precision=0.8, lambdas=lam, weights=W, return_aux=True)[1].values())),
        "update_label_priors": priors,
        "true_positives_lower_bound": lambda Z, Y, W: go.true_positives_lower_bound(
            Z, Y, weights=W),
        "false_positives_upper_bound": lambda Z, Y, W: go.false_positives_upper_bound(
            Z, Y, weights=W, surrogate="hinge"),
        "weighted_surrogate": lambda Z, Y, W: go.weighted_surrogate(
            Z, Y, negative_weights=lam),
    }


TRACED = ("aux", "false_positives_upper_bound", "fpr_at_tpr", "pr_auc", "pr_auc_no_biases",
          "precision_at_recall", "recall_at_precision", "tpr_at_fpr", "true_positives_lower_bound",
          "update_label_priors", "weighted_surrogate")


@pytest.mark.compiled
@pytest.mark.parametrize("name", TRACED)
def test_traces_with_an_unknown_batch_size(xp, rng, name) -> None:
    """Issue 12 §1: traced with an unknown (None / symbolic) batch size, equal to eager, on
    two batch sizes."""
    fn = _traced_functions(xp)[name]
    for B in (6, 4):
        z, y = make_data(rng, B, 3)
        args = (xp.asarray(z, dtype="float32"), xp.asarray(y, dtype="float32"),
                xp.asarray(rng.uniform(0.5, 1.5, size=B), dtype="float32"))
        traced = xp.trace_unknown_batch(fn, *args)
        if traced is None:
            pytest.skip(f"{xp.name} does not trace")
        assert_close(xp, traced, xp.to_numpy(fn(*args)), dtype="float32", rtol=1e-5,
                     atol=1e-6)


@pytest.mark.compiled
def test_negative_lambdas_under_tracing_act_as_their_magnitude(xp, rng) -> None:
    """Eager: negative lambdas raise. Traced: values cannot be read; |λ| is used (documented)."""
    z, y = make_data(rng)
    Z, Y = xp.asarray(z, dtype="float32"), xp.asarray(y, dtype="float32")
    lam = np.array([-1.0, 0.5, -2.0])

    def fn(t: Any, lam_: Any) -> Any:
        return go.recall_at_precision_loss(t, Y, target_precision=0.8, lambdas=lam_)

    if xp.name in ("numpy", "array_api_strict"):
        with pytest.raises(ValueError, match="lambdas"):
            fn(Z, xp.asarray(lam, dtype="float32"))
        return
    traced = xp.compile(fn)(Z, xp.asarray(lam, dtype="float32"))
    assert_close(xp, traced, xp.to_numpy(fn(Z, xp.asarray(np.abs(lam), dtype="float32"))),
                 dtype="float32", rtol=1e-5)


@pytest.mark.float64
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


# --------------------------------------------------------------------------------------------
# Frameworks: compilation, devices (parity: tests/test_parity.py)
# --------------------------------------------------------------------------------------------


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


@pytest.mark.float64
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


def _bad_cases(xp) -> dict[str, tuple[Callable[[], Any], type[Exception], str]]:
    z = xp.asarray(np.zeros((4, 2)), dtype="float32")
    y = xp.asarray(np.array([[1, 0], [0, 1], [1, 1], [0, 0]]))
    lam = xp.asarray(np.ones(2), dtype="float32")
    rap = go.recall_at_precision_loss
    pr = go.precision_recall_auc_loss
    return {
        "precision_range_empty": (lambda: pr(z, y, lambdas=1.0, precision_range=(0.5, 0.5)),
                                  ValueError, "precision_range must satisfy 0 ≤ lo < hi ≤ 1"),
        "precision_range_negative": (
            lambda: pr(z, y, lambdas=1.0, precision_range=(-0.1, 0.5)), ValueError,
            "precision_range"),
        "precision_range_above_one": (
            lambda: pr(z, y, lambdas=1.0, precision_range=(0.2, 1.5)), ValueError,
            "precision_range"),
        "precision_range_number": (lambda: pr(z, y, lambdas=1.0, precision_range=0.5),
                                   ValueError, "precision_range"),
        "num_anchors_zero": (lambda: pr(z, y, lambdas=1.0, num_anchors=0), ValueError,
                             "num_anchors"),
        "num_anchors_float": (lambda: pr(z, y, lambdas=1.0, num_anchors=2.5), TypeError,
                              "num_anchors"),
        "target_zero": (lambda: rap(z, y, target_precision=0.0, lambdas=lam), ValueError,
                        r"target_precision must lie in \(0.0, 1.0\]"),
        "target_above_one": (lambda: rap(z, y, target_precision=1.2, lambdas=lam), ValueError,
                             "target_precision"),
        "target_array_above_one": (
            lambda: rap(z, y, target_precision=xp.asarray(np.array([0.5, 1.5])), lambdas=lam),
            ValueError, "target_precision"),
        "target_sequence_length": (
            lambda: rap(z, y, target_precision=[0.5, 0.6, 0.7], lambdas=lam), ValueError,
            "target_precision as a sequence must have 2 entries"),
        "target_recall_negative": (
            lambda: go.precision_at_recall_loss(z, y, target_recall=-0.5, lambdas=lam),
            ValueError, "target_recall"),
        "target_rate_nan": (lambda: go.true_positive_rate_at_false_positive_rate_loss(
            z, y, target_rate=float("nan"), lambdas=lam), ValueError, "target_rate"),
        "target_string": (lambda: rap(z, y, target_precision="high", lambdas=lam), TypeError,
                          "target_precision must be a number"),
        "surrogate_name": (
            lambda: rap(z, y, target_precision=0.5, lambdas=lam, surrogate="logistic"),
            ValueError, "surrogate must be one of 'xent', 'hinge'"),
        "reduction_name": (
            lambda: rap(z, y, target_precision=0.5, lambdas=lam, reduction="avg"), ValueError,
            "reduction must be one of"),
        "return_aux_not_bool": (
            lambda: rap(z, y, target_precision=0.5, lambdas=lam, return_aux=1), TypeError,
            "return_aux must be True or False"),
        "lambdas_shape": (
            lambda: rap(z, y, target_precision=0.5, lambdas=xp.asarray(np.ones(3))), ValueError,
            r"lambdas must have shape \(\) or \(2,\), got \(3,\)"),
        "lambdas_column": (
            lambda: rap(z, y, target_precision=0.5, lambdas=xp.asarray(np.ones((2, 1)))),
            ValueError, "lambdas must have shape"),
        "lambdas_negative_number": (lambda: rap(z, y, target_precision=0.5, lambdas=-1.0),
                                    ValueError, "lambdas"),
        "lambdas_negative_array": (
            lambda: rap(z, y, target_precision=0.5, lambdas=xp.asarray(np.array([1.0, -1.0]))),
            ValueError, "lambdas"),
        "lambdas_missing": (lambda: rap(z, y, target_precision=0.5, lambdas=None), TypeError,
                            "lambdas is required"),
        "pr_lambdas_shape": (lambda: pr(z, y, lambdas=xp.asarray(np.ones((3, 2))),
                                        num_anchors=3), ValueError,
                             r"lambdas must have shape \(\) or \(2, 3\), got \(3, 2\)"),
        "biases_shape": (lambda: pr(z, y, lambdas=1.0, biases=xp.asarray(np.zeros(2)),
                                    num_anchors=3), ValueError,
                         r"biases must have shape \(\) or \(2, 3\), got \(2,\)"),
        "biases_string": (lambda: pr(z, y, lambdas=1.0, biases="zero"), TypeError, "biases"),
        "label_priors_above_one": (
            lambda: rap(z, y, target_precision=0.5, lambdas=lam,
                        label_priors=xp.asarray(np.array([0.5, 1.5]))), ValueError,
            "label_priors"),
        "label_priors_state": (
            lambda: rap(z, y, target_precision=0.5, lambdas=lam,
                        label_priors=go.label_priors_init(2, like=z)), TypeError,
            "pass state.priors"),
        "labels_shape": (
            lambda: rap(z, xp.asarray(np.zeros((4, 3))), target_precision=0.5, lambdas=lam),
            ValueError, "labels must have the shape of logits"),
        "weights_shape": (lambda: rap(z, y, target_precision=0.5, lambdas=lam,
                                      weights=xp.asarray(np.ones(3))), ValueError, "weights"),
        "dual_rate_factor_negative": (lambda: go.dual_value(lam, -0.1, lambda t: t),
                                      ValueError, "dual_rate_factor"),
        "stop_gradient_missing": (lambda: go.dual_value(lam, 0.1, None), TypeError,
                                  "stop_gradient must be callable"),
        "dual_value_none": (lambda: go.dual_value(None, 0.1, lambda t: t), TypeError,
                            "variable must be an array"),
        "num_labels_zero": (lambda: go.label_priors_init(0, xp=xp.ns), ValueError,
                            "num_labels"),
        "num_labels_float": (lambda: go.label_priors_init(2.0, xp=xp.ns), TypeError,
                             "num_labels"),
        "pseudocounts_zero": (lambda: go.label_priors_init(2, xp=xp.ns,
                                                           positive_pseudocount=0.0,
                                                           negative_pseudocount=0.0),
                              ValueError, "pseudocount"),
        "priors_init_no_library": (lambda: go.label_priors_init(2), TypeError, "like= .* xp="),
        "priors_init_integer_dtype": (lambda: go.label_priors_init(2, xp=xp.ns,
                                                                   dtype=xp.int32),
                                      TypeError, "dtype must be a floating-point dtype"),
        "state_not_a_pair": (lambda: go.update_label_priors(lam, y), TypeError,
                             "state must be a LabelPriorState"),
        "state_shapes": (lambda: go.update_label_priors((lam, xp.asarray(np.ones(3))), y),
                         ValueError, "weight_sum must have the shape of counts"),
        "priors_labels_shape": (
            lambda: go.update_label_priors((lam, lam), xp.asarray(np.ones((4, 3)))),
            ValueError, r"labels must have shape \(B, 2\)"),
        "priors_weights_positional": (lambda: go.update_label_priors((lam, lam), y, 1.0),
                                      TypeError, "positional"),
        "surrogate_weights_shape": (
            lambda: go.weighted_surrogate(z, y, positive_weights=xp.asarray(np.ones(3))),
            ValueError, "positive_weights of shape"),
        "surrogate_weights_negative": (
            lambda: go.weighted_surrogate(z, y, negative_weights=-1.0), ValueError,
            "negative_weights"),
        "bound_surrogate_name": (
            lambda: go.true_positives_lower_bound(z, y, surrogate="squared"), ValueError,
            "surrogate"),
    }


BAD_CASES = sorted(_bad_cases(get_backend("numpy")))


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_inputs_raise_clear_errors(xp, case) -> None:
    call, error, message = _bad_cases(xp)[case]
    with pytest.raises(error, match=message):
        call()


def _entry_points(xp) -> dict[str, Callable[[Any, Any], Any]]:
    """Every public function of the family as ``f(logits, labels)``."""
    return {
        "recall_at_precision": lambda z, y: go.recall_at_precision_loss(
            z, y, target_precision=0.5, lambdas=1.0),
        "precision_at_recall": lambda z, y: go.precision_at_recall_loss(
            z, y, target_recall=0.5, lambdas=1.0),
        "fpr_at_tpr": lambda z, y: go.false_positive_rate_at_true_positive_rate_loss(
            z, y, target_rate=0.5, lambdas=1.0),
        "tpr_at_fpr": lambda z, y: go.true_positive_rate_at_false_positive_rate_loss(
            z, y, target_rate=0.5, lambdas=1.0),
        "pr_auc": lambda z, y: go.precision_recall_auc_loss(z, y, lambdas=1.0, num_anchors=2),
        "roc_auc": lambda z, y: go.roc_auc_loss(z, y),
        "true_positives_lower_bound": go.true_positives_lower_bound,
        "false_positives_upper_bound": go.false_positives_upper_bound,
        "weighted_surrogate": go.weighted_surrogate,
    }


ENTRY_POINTS = ("false_positives_upper_bound", "fpr_at_tpr", "pr_auc", "precision_at_recall",
                "recall_at_precision", "roc_auc", "tpr_at_fpr", "true_positives_lower_bound",
                "weighted_surrogate")


@pytest.mark.parametrize("missing", ["logits", "labels"])
@pytest.mark.parametrize("name", ENTRY_POINTS)
def test_none_inputs_raise_type_errors_naming_them(xp, name, missing) -> None:
    """Issue 11 E: None for logits or labels is a TypeError naming the argument."""
    fn = _entry_points(xp)[name]
    z = xp.asarray(np.zeros((4, 2)), dtype="float32")
    y = xp.asarray(np.zeros((4, 2)), dtype="float32")
    with pytest.raises(TypeError, match=f"{missing} must be an array"):
        fn(None, y) if missing == "logits" else fn(z, None)


def test_update_label_priors_none_labels(xp) -> None:
    state = go.label_priors_init(2, xp=xp.ns)
    with pytest.raises(TypeError, match="labels must be an array"):
        go.update_label_priors(state, None)


@pytest.mark.parametrize("labels_dtype", ["bool", "int32"])
@pytest.mark.parametrize("name", ENTRY_POINTS)
def test_swapped_arguments_raise_a_type_error_with_the_order(xp, name, labels_dtype) -> None:
    """The original library took (labels, logits): bool or integer labels in the logits slot
    raise a TypeError that names logits and gives the order."""
    fn = _entry_points(xp)[name]
    z = xp.asarray(np.array([[0.5, -1.0], [2.0, 0.0]]), dtype="float32")
    y = xp.asarray(np.array([[1, 0], [0, 1]]).astype(labels_dtype))
    with pytest.raises(TypeError, match=r"logits must have a floating-point dtype.*\(logits, "
                                        r"labels\)"):
        fn(y, z)


@pytest.mark.parametrize("value", ["inf", "nan"])
@pytest.mark.parametrize("name", ENTRY_POINTS)
def test_non_finite_weights_raise(xp, name, value) -> None:
    """Infinite or NaN weights: ValueError (eager), as in the other families."""
    if xp.name != "numpy" and name == "weighted_surrogate":
        pytest.skip("one library is enough for the surrogate's weights")
    z = xp.asarray(np.zeros((4, 2)), dtype="float32")
    y = xp.asarray(np.zeros((4, 2)), dtype="float32")
    w = xp.asarray(np.array([1.0, float(value), 1.0, 1.0]), dtype="float32")
    if name == "weighted_surrogate":
        with pytest.raises(ValueError, match="positive_weights must be finite"):
            go.weighted_surrogate(z, y, positive_weights=xp.asarray(
                np.array([[1.0, float(value)]]), dtype="float32"))
        return
    with pytest.raises(ValueError, match="weights must be finite"):
        _with_weights(name, z, y, w)


def _with_weights(name: str, z: Any, y: Any, w: Any) -> Any:
    calls = {
        "recall_at_precision": lambda: go.recall_at_precision_loss(
            z, y, target_precision=0.5, lambdas=1.0, weights=w),
        "precision_at_recall": lambda: go.precision_at_recall_loss(
            z, y, target_recall=0.5, lambdas=1.0, weights=w),
        "fpr_at_tpr": lambda: go.false_positive_rate_at_true_positive_rate_loss(
            z, y, target_rate=0.5, lambdas=1.0, weights=w),
        "tpr_at_fpr": lambda: go.true_positive_rate_at_false_positive_rate_loss(
            z, y, target_rate=0.5, lambdas=1.0, weights=w),
        "pr_auc": lambda: go.precision_recall_auc_loss(z, y, lambdas=1.0, num_anchors=2,
                                                       weights=w),
        "roc_auc": lambda: go.roc_auc_loss(z, y, weights=w),
        "true_positives_lower_bound": lambda: go.true_positives_lower_bound(z, y, weights=w),
        "false_positives_upper_bound": lambda: go.false_positives_upper_bound(z, y, weights=w),
    }
    return calls[name]()


def test_update_label_priors_rejects_infinite_weights(xp) -> None:
    state = go.label_priors_init(2, xp=xp.ns)
    y = xp.asarray(np.zeros((4, 2)), dtype="float32")
    with pytest.raises(ValueError, match="weights must be finite"):
        go.update_label_priors(state, y, weights=float("inf"))


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

