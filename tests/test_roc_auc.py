"""ROC-AUC (SPEC §3, :mod:`metricloss.roc_auc`): pairwise, hard-label pair sum, exact sort.

The oracle is SPEC §3's per-element loss by an explicit double loop over pairs (``np_roc``,
NumPy float64); gradients against finite differences of it. Shapes are fixed (B = 6 or 7,
L = 3): JAX compiles each eager op once per shape.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import metricloss
import metricloss.global_objectives as go
from metricloss.global_objectives import roc_auc
from tests.support import assert_close, dtype_name, finite_difference_grad, get_backend
from tests.test_global_objectives import (
    HYPOTHESIS,
    SURROGATES,
    as_xp,
    make_data,
    np_roc,
)

ROC_WEIGHTS = {
    "none": lambda rng, B, L: None,
    "per_example": lambda rng, B, L: rng.uniform(0.2, 2.0, size=B),
    "per_example_column": lambda rng, B, L: rng.uniform(0.2, 2.0, size=(B, 1)),
    "per_element": lambda rng, B, L: rng.uniform(0.2, 2.0, size=(B, L)),
}


def test_public_names_stay_importable() -> None:
    assert go.roc_auc_loss is roc_auc.roc_auc_loss is metricloss.roc_auc_loss
    assert go.ROC_METHODS == roc_auc.ROC_METHODS == ("pairwise", "sort")
    with pytest.raises(AttributeError):
        go.no_such_name  # noqa: B018


@pytest.mark.float64
@pytest.mark.parametrize("method", ["pairwise", "sort"])
@pytest.mark.parametrize("surrogate", SURROGATES)
def test_roc_auc_hand_worked(xp, surrogate, method) -> None:
    if method == "sort" and surrogate == "xent":
        pytest.skip("sort is for the hinge only")
    # One positive at 0.5, negatives at 0 and 1: pair margins 0.5 and −0.5.
    z = xp.asarray(np.array([0.5, 0.0, 1.0]))
    y = xp.asarray(np.array([1, 0, 0]))
    if surrogate == "hinge":
        l_a, l_b = 0.5, 1.5
    else:
        l_a, l_b = math.log1p(math.exp(-0.5)), math.log1p(math.exp(0.5))
    loss, aux = go.roc_auc_loss(z, y, surrogate=surrogate, reduction="none", method=method,
                                return_aux=True)
    assert_close(xp, loss, np.array([(l_a + l_b) / 6, l_a / 6, l_b / 6]), dtype="float64")
    assert aux == {}
    loss = go.roc_auc_loss(z, y, surrogate=surrogate, reduction="sum", method=method)
    assert_close(xp, loss, (l_a + l_b) / 3, dtype="float64")


@pytest.mark.float64
@pytest.mark.parametrize("chunk", [None, 1, 4, 6, 18])
@pytest.mark.parametrize("weights", sorted(ROC_WEIGHTS))
@pytest.mark.parametrize("surrogate", SURROGATES)
def test_roc_auc_matches_double_loop_and_chunking_changes_nothing(xp, rng, surrogate, weights,
                                                                  chunk) -> None:
    B, L = 6, 3
    z, y = make_data(rng, B, L, soft=True)  # soft labels: the pairwise |y_j − y_i| form
    w = ROC_WEIGHTS[weights](rng, B, L)
    expected = np_roc(z, y, w, surrogate)
    Z, Y, W = xp.asarray(z), xp.asarray(y), as_xp(xp, w)
    loss = go.roc_auc_loss(Z, Y, weights=W, surrogate=surrogate, reduction="none",
                           chunk_size=chunk)
    assert_close(xp, loss, expected, dtype="float64")
    loss = go.roc_auc_loss(Z, Y, weights=W, surrogate=surrogate, chunk_size=chunk)
    assert_close(xp, loss, expected.mean(), dtype="float64")


HARD_WEIGHTS = {
    "none": lambda rng, B, L: None,
    "scalar": lambda rng, B, L: 0.7,
    "per_example": lambda rng, B, L: rng.uniform(0.0, 2.0, size=B),
    "per_element": lambda rng, B, L: rng.uniform(0.0, 2.0, size=(B, L)),
}


@pytest.mark.float64
@pytest.mark.parametrize("labels", ["int64_unchunked", "int32_chunk3", "bool_chunk1"])
@pytest.mark.parametrize("weights", sorted(HARD_WEIGHTS))
@pytest.mark.parametrize("surrogate", SURROGATES)
def test_roc_auc_hard_labels_pair_sum_equals_per_element_sum(xp, rng, surrogate, weights,
                                                             labels) -> None:
    """Int/bool labels with reduction mean/sum take the positive–negative pair sum; it equals
    the per-element form (float 0/1 labels) summed, and the double loop."""
    B, L = 7, 3
    z = rng.integers(-4, 5, size=(B, L)) * 0.5  # ties, and pairs exactly 1 apart (hinge kink)
    y = (rng.random((B, L)) < 0.4).astype(np.int64)
    y[0, :], y[1, :] = 1, 0
    w = HARD_WEIGHTS[weights](rng, B, L)
    W = as_xp(xp, w) if isinstance(w, np.ndarray) else w
    chunk, dtype = {"int64_unchunked": (None, np.int64), "int32_chunk3": (3, np.int32),
                    "bool_chunk1": (1, bool)}[labels]
    Z, Yf, Y = xp.asarray(z), xp.asarray(y.astype(np.float64)), xp.asarray(y.astype(dtype))
    expected = np_roc(z, y.astype(np.float64), w, surrogate)
    per = go.roc_auc_loss(Z, Yf, weights=W, surrogate=surrogate, reduction="none",
                          chunk_size=chunk)
    for reduction, divisor in (("sum", 1.0), ("mean", B * L)):
        fast = go.roc_auc_loss(Z, Y, weights=W, surrogate=surrogate, reduction=reduction,
                               chunk_size=chunk)
        slow = go.roc_auc_loss(Z, Yf, weights=W, surrogate=surrogate, reduction=reduction,
                               chunk_size=chunk)
        assert_close(xp, fast, expected.sum() / divisor, dtype="float64")
        assert_close(xp, fast, xp.to_numpy(slow), dtype="float64")
        assert_close(xp, fast, xp.to_numpy(xp.sum(per)) / divisor, dtype="float64")


@pytest.mark.float64
@pytest.mark.parametrize("chunk", [None, 3])
@pytest.mark.parametrize("surrogate", SURROGATES)
def test_roc_auc_hard_labels_gradients_equal_the_per_element_form(xp, rng, surrogate,
                                                                   chunk) -> None:
    if not xp.differentiable:
        pytest.skip(f"{xp.name} has no autodiff")
    B, L = 7, 3
    z = rng.integers(-4, 5, size=(B, L)) * 0.5
    y = (rng.random((B, L)) < 0.4).astype(np.int64)
    y[0, :], y[1, :] = 1, 0
    Z, Y, Yf = xp.asarray(z), xp.asarray(y), xp.asarray(y.astype(np.float64))
    w = xp.asarray(rng.uniform(0.5, 2.0, size=B))
    v_fast, g_fast = xp.value_and_grad(lambda t: go.roc_auc_loss(
        t, Y, weights=w, surrogate=surrogate, chunk_size=chunk), Z)
    v_slow, g_slow = xp.value_and_grad(lambda t: go.roc_auc_loss(
        t, Yf, weights=w, surrogate=surrogate, chunk_size=chunk), Z)
    np.testing.assert_allclose(v_fast, v_slow, rtol=1e-12)
    np.testing.assert_allclose(g_fast, g_slow, rtol=1e-10, atol=1e-15)


@pytest.mark.float64
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


@pytest.mark.parametrize("method", ["pairwise", "sort"])
@pytest.mark.parametrize("labels", ["float", "int"])
def test_roc_auc_empty_batch(xp, labels, method) -> None:
    Z = xp.asarray(np.zeros((0, 2)), dtype="float32")
    Y = xp.asarray(np.zeros((0, 2), dtype=np.float32 if labels == "float" else np.int64))
    kwargs = {"surrogate": "hinge", "method": method}
    for reduction in ("mean", "sum"):
        assert_close(xp, go.roc_auc_loss(Z, Y, reduction=reduction, **kwargs), 0.0,
                     dtype="float32")
    assert_close(xp, go.roc_auc_loss(Z, Y, reduction="none", **kwargs), np.zeros((0, 2)),
                 dtype="float32")


@pytest.mark.float64
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
    got = go.roc_auc_loss(Z, Y, weights=W, surrogate="hinge", method="sort", reduction="none")
    pairwise = go.roc_auc_loss(Z, Y, weights=W, surrogate="hinge", reduction="none",
                               chunk_size=data.draw(st.sampled_from([1, 4])))
    assert_close(xp, got, expected, dtype="float64", atol=1e-12)
    assert_close(xp, pairwise, expected, dtype="float64", atol=1e-12)


@pytest.mark.float64
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


@pytest.mark.float64
@pytest.mark.parametrize("method", ["pairwise", "sort"])
@pytest.mark.parametrize("surrogate", SURROGATES)
def test_gradients_match_finite_differences(xp, rng, surrogate, method) -> None:
    if not xp.differentiable:
        pytest.skip(f"{xp.name} has no autodiff")
    if method == "sort" and surrogate == "xent":
        pytest.skip("sort is for the hinge only")
    B, L = 6, 3
    z, y = make_data(rng, B, L, soft=surrogate == "xent")
    if method == "sort":
        y = np.round(y)
    # Keep pair differences off the hinge's kink (= 1) for finite differences.
    z = np.round(z, 1) + 0.037 * np.arange(B * L).reshape(B, L)
    w = rng.uniform(0.5, 1.5, size=B)
    up = rng.normal(size=(B, L))
    U, Y, W = xp.asarray(up), xp.asarray(y), xp.asarray(w)
    kwargs = {"chunk_size": 2} if method == "pairwise" else {"method": "sort"}
    value, grad = xp.value_and_grad(lambda t: xp.sum(U * go.roc_auc_loss(
        t, Y, weights=W, surrogate=surrogate, reduction="none", **kwargs)), xp.asarray(z))
    expected = finite_difference_grad(lambda t: float(np.sum(up * np_roc(t, y, w, surrogate))),
                                      z)
    np.testing.assert_allclose(value, np.sum(up * np_roc(z, y, w, surrogate)), rtol=1e-10)
    np.testing.assert_allclose(grad, expected, rtol=1e-6, atol=1e-8)


@pytest.mark.float64
@pytest.mark.parametrize("surrogate", SURROGATES)
def test_zero_and_double_weights_equal_dropping_and_duplicating_rows(xp, rng, surrogate) -> None:
    """B·sum is the pair sum, unchanged by dropping zero-weight or duplicating rows."""
    B, L = 6, 3
    z, y = make_data(rng, B, L)
    dup = np.r_[np.arange(B), 3]
    w_zero, w_two = np.r_[np.ones(B), 0.0], np.ones(B)
    w_two[3] = 2.0
    Z, Y, Zd, Yd = xp.asarray(z), xp.asarray(y), xp.asarray(z[dup]), xp.asarray(y[dup])

    def pair_sum(zz: Any, yy: Any, ww: Any) -> float:
        loss = go.roc_auc_loss(zz, yy, weights=ww, surrogate=surrogate, reduction="sum")
        return float(xp.to_numpy(loss)) * int(zz.shape[0])

    np.testing.assert_allclose(pair_sum(Zd, Yd, xp.asarray(w_zero)), pair_sum(Z, Y, None),
                               rtol=1e-12)
    np.testing.assert_allclose(pair_sum(Z, Y, xp.asarray(w_two)), pair_sum(Zd, Yd, None),
                               rtol=1e-12)


@pytest.mark.float64
def test_binary_inputs_keep_the_callers_shape(xp, rng) -> None:
    z, y = make_data(rng, B=6, L=1)
    loss = go.roc_auc_loss(xp.asarray(z[:, 0]), xp.asarray(y[:, 0]), reduction="none")
    assert_close(xp, loss, np_roc(z, y, None, "xent")[:, 0], dtype="float64")


# --------------------------------------------------------------------------------------------
# Infinite logits, half precision, unknown batch sizes
# --------------------------------------------------------------------------------------------

# name: kwargs of roc_auc_loss, labels' dtype
ROC_VARIANTS = {
    "pairwise": ({}, "float"),
    "pairwise_chunked": ({"chunk_size": 2}, "float"),
    "pairwise_hinge_none": ({"surrogate": "hinge", "reduction": "none"}, "float"),
    "pair_sum_int": ({}, "int"),
    "sort": ({"surrogate": "hinge", "method": "sort"}, "float"),
}


def _roc(xp, variant: str) -> Callable[[Any, Any], Any]:
    kwargs, labels = ROC_VARIANTS[variant]

    def fn(z: Any, y: Any) -> Any:
        if labels == "int":
            y = xp.astype(y, xp.int32)
        out = go.roc_auc_loss(z, y, **kwargs)
        return xp.sum(out) if kwargs.get("reduction") == "none" else out

    return fn


GRAD_RTOL = {"float32": 1e-4, "float16": 5e-3, "bfloat16": 2e-2}


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("variant", sorted(ROC_VARIANTS))
def test_infinite_logits_give_the_limit(xp, variant, dtype) -> None:
    """Issue 11 C: +inf on a positive and −inf on a negative rank every pair they are in
    correctly: those pairs cost 0; value and gradient equal the float64 loss at a large finite
    stand-in; half precision comes back in float32."""
    if not xp.supports(dtype):
        pytest.skip(f"{xp.name} has no {dtype}")
    z = np.array([np.inf, 0.5, 0.0, -1.0, -np.inf, 2.0])
    y = np.array([1.0, 1.0, 0.0, 0.0, 0.0, 0.0])
    fn = _roc(xp, variant)
    Y = xp.asarray(y, dtype=dtype)
    value, grad = xp.value_and_grad(lambda t: fn(t, Y), xp.asarray(z, dtype=dtype))
    assert dtype_name(fn(xp.asarray(z, dtype=dtype), Y)) == "float32"
    f64 = get_backend("numpy")
    big = np.clip(z, -1e4, 1e4)
    limit = float(f64.to_numpy(_roc(f64, variant)(big, y)))
    np.testing.assert_allclose(value, limit, rtol=1e-5, atol=1e-6)
    if grad is not None:
        expected = finite_difference_grad(
            lambda t: float(f64.to_numpy(_roc(f64, variant)(t, y))), big, h=1e-4)
        assert np.all(np.isfinite(grad))
        np.testing.assert_allclose(grad, expected, rtol=GRAD_RTOL[dtype], atol=1e-3)


@pytest.mark.parametrize("variant", sorted(ROC_VARIANTS))
def test_wrong_infinite_logits_give_huge_values_and_finite_gradients(xp, variant) -> None:
    Y = xp.asarray(np.array([1.0, 0.0, 0.0]), dtype="float32")
    value, grad = xp.value_and_grad(lambda t: _roc(xp, variant)(t, Y),
                                    xp.asarray(np.array([-np.inf, np.inf, 0.0]),
                                               dtype="float32"))
    assert not np.isnan(value) and value > 1e17
    assert grad is None or np.all(np.isfinite(grad))


@pytest.mark.compiled
@pytest.mark.parametrize("variant", sorted(ROC_VARIANTS))
def test_traces_with_an_unknown_batch_size(xp, rng, variant) -> None:
    """Issue 12 §1: traced with an unknown (None / symbolic) batch size, equal to eager, on
    two batch sizes. With an unknown batch size chunking forms one block (documented): the
    values are the same."""
    fn = _roc(xp, variant)
    for B in (6, 4):
        z, y = make_data(rng, B, 3)
        args = (xp.asarray(z, dtype="float32"), xp.asarray(y, dtype="float32"))
        traced = xp.trace_unknown_batch(fn, *args)
        if traced is None:
            pytest.skip(f"{xp.name} does not trace")
        assert_close(xp, traced, xp.to_numpy(fn(*args)), dtype="float32", rtol=1e-5,
                     atol=1e-6)


def test_unknown_batch_size_forms_one_block() -> None:
    assert roc_auc._blocks(None, 2) == [(None, None)]
    assert roc_auc._blocks(5, 2) == [(0, 2), (2, 4), (4, 5)]
    assert roc_auc._blocks(5, None) == [(0, 5)]
    assert roc_auc._blocks(0, None) == []
