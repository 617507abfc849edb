"""Validation shared by every loss: weights of every broadcastable shape, value checks, and the
reduction (empty and unknown batch sizes)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import metricloss as ml
from metricloss._checks import check_eager_range, prepare_weights
from metricloss._namespace import namespace_of
from metricloss._reduction import apply_reduction
from tests.support import assert_close

B, L = 4, 3
RNG = np.random.default_rng(11)
Z = RNG.standard_normal((B, L))
Y = (RNG.random((B, L)) > 0.5).astype(np.float64)

# weights shape -> the (B, L) weights it stands for (the oracle: per example for (B,)).
W_FULL = RNG.random((B, L)) + 0.1
WEIGHT_CASES = {
    "scalar-array": (np.array(2.0), np.full((B, L), 2.0)),
    "per-example (B,)": (W_FULL[:, 0], np.repeat(W_FULL[:, :1], L, axis=1)),
    "(1,)": (np.array([3.0]), np.full((B, L), 3.0)),
    "(B, 1)": (W_FULL[:, :1], np.repeat(W_FULL[:, :1], L, axis=1)),
    "(1, L)": (W_FULL[:1], np.repeat(W_FULL[:1], B, axis=0)),
    "(B, L)": (W_FULL, W_FULL),
    "(1, 1)": (np.array([[0.5]]), np.full((B, L), 0.5)),
    "int (B,)": (np.array([1, 2, 0, 3]), np.repeat(np.array([[1.0], [2.0], [0.0], [3.0]]),
                                                   L, axis=1)),
}


def _weighted_soft_f1(z: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    """sigmoidF1 (macro) with per-element weights, float64, from SPEC §1."""
    p = 1.0 / (1.0 + np.exp(-z))
    tp, fp, fn = (w * p * y).sum(0), (w * p * (1 - y)).sum(0), (w * (1 - p) * y).sum(0)
    return float(1.0 - np.mean(2 * tp / (2 * tp + fp + fn)))


@pytest.mark.float64
@pytest.mark.parametrize("case", sorted(WEIGHT_CASES))
def test_prepare_weights_broadcasts_every_accepted_shape(xp, case: str) -> None:
    given, dense = WEIGHT_CASES[case]
    ref = xp.asarray(Z)
    ns = namespace_of(ref=ref)
    w = prepare_weights(ns, xp.asarray(given), ref)
    assert len(w.shape) == 2
    assert_close(xp, w * ns.ones_like(ref), dense, dtype="float64")


@pytest.mark.float64
@pytest.mark.parametrize("case", sorted(WEIGHT_CASES))
def test_weighted_loss_equals_the_dense_weights_oracle(xp, case: str) -> None:
    given, dense = WEIGHT_CASES[case]
    out = ml.sigmoid_f1_loss(xp.asarray(Z), xp.asarray(Y), weights=xp.asarray(given))
    assert_close(xp, out, _weighted_soft_f1(Z, Y, dense), dtype="float64", rtol=1e-9)


def test_python_number_weights(xp) -> None:
    ref = xp.asarray(Z)
    w = prepare_weights(namespace_of(ref=ref), 2.5, ref)
    assert_close(xp, w, np.full((1, 1), 2.5), dtype="float64")
    for bad in (-1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="weights must be finite and non-negative"):
            prepare_weights(namespace_of(ref=ref), bad, ref)


@pytest.mark.parametrize(
    "shape, message",
    [
        ((L,), r"1-D weights are per example and must have length B = 4, got \(3,\); "
               r"for per-label weights pass shape \(1, 3\)"),
        ((B, 2), r"weights must be a scalar or have shape broadcasting to the labels"),
        ((2, L), r"weights must be a scalar or have shape broadcasting to the labels"),
        ((B, L, 1), r"weights must be a scalar or have shape broadcasting to the labels"),
    ],
    ids=["length-L", "(B,2)", "(2,L)", "3-D"],
)
def test_weights_of_other_shapes_are_refused(xp, shape, message) -> None:
    ref = xp.asarray(Z)
    with pytest.raises(ValueError, match=message):
        prepare_weights(namespace_of(ref=ref), xp.asarray(np.ones(shape)), ref)


@pytest.mark.parametrize("value", [-0.5, np.inf, np.nan], ids=["negative", "inf", "nan"])
def test_weights_must_be_finite_and_non_negative(xp, value) -> None:
    w = np.ones(B)
    w[2] = value
    with pytest.raises(ValueError, match=r"weights must be finite and lie in \[0.0, inf\)"):
        ml.sigmoid_f1_loss(xp.asarray(Z), xp.asarray(Y), weights=xp.asarray(w))


def test_weights_of_a_wrong_type_are_refused(xp) -> None:
    ref = xp.asarray(Z)
    ns = namespace_of(ref=ref)
    with pytest.raises(TypeError, match="weights must be None, a number or an array"):
        prepare_weights(ns, [1.0, 2.0], ref)
    with pytest.raises(TypeError, match="weights must be None, a number or an array"):
        prepare_weights(ns, True, ref)


# --------------------------------------------------------------------------------------------
# check_eager_range
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "values, kwargs, ok",
    [
        ([0.0, 0.5, 1.0], {}, True),
        ([0.0, 1.5], {}, False),
        ([-1e-9, 0.5], {}, False),
        ([np.nan, 0.5], {}, True),  # NaN passes by default: NaN in, NaN out
        ([np.nan, 0.5], {"allow_nan": False}, False),
        ([0.0, 0.5], {"low_open": True}, False),
        ([1.0, 0.5], {"high_open": True}, False),
        ([], {}, True),
    ],
    ids=["inside", "above", "below", "nan", "nan-refused", "low-open", "high-open", "empty"],
)
def test_check_eager_range(xp, values, kwargs, ok) -> None:
    x = xp.asarray(np.asarray(values, dtype=np.float64))
    ns = namespace_of(x=x)
    if ok:
        check_eager_range(ns, "x", x, 0.0, 1.0, **kwargs)
    else:
        with pytest.raises(ValueError, match=r"x must (be finite and )?lie in"):
            check_eager_range(ns, "x", x, 0.0, 1.0, **kwargs)


# --------------------------------------------------------------------------------------------
# apply_reduction
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_apply_reduction_against_numpy(xp, reduction) -> None:
    v = xp.asarray(Z)
    out = apply_reduction(namespace_of(v=v), v, reduction)
    expected = {"mean": Z.mean(), "sum": Z.sum(), "none": Z}[reduction]
    assert_close(xp, out, expected, dtype="float64")


def test_mean_of_an_empty_batch_is_zero(xp) -> None:
    v = xp.asarray(np.zeros((0, L)))
    out = apply_reduction(namespace_of(v=v), v, "mean")
    assert_close(xp, out, 0.0, dtype="float64")


@pytest.mark.parametrize("batch", [5, 2])
def test_mean_traces_with_an_unknown_batch_size(xp, batch) -> None:
    values = RNG.standard_normal((batch, L))

    def fn(v: Any) -> Any:
        return apply_reduction(namespace_of(v=v), v, "mean")

    out = xp.trace_unknown_batch(fn, xp.asarray(values))
    if out is None:
        pytest.skip(f"{xp.name} does not trace")
    assert_close(xp, out, values.mean(), dtype="float64")


def test_mean_of_an_empty_batch_is_zero_under_an_unknown_batch_size() -> None:
    tf = pytest.importorskip("tensorflow")

    def fn(v: Any) -> Any:
        return apply_reduction(namespace_of(v=v), v, "mean")

    traced = tf.function(fn, input_signature=[tf.TensorSpec((None, L), tf.float64)])
    assert float(traced(tf.zeros((0, L), tf.float64))) == 0.0
    np.testing.assert_allclose(float(traced(tf.constant(Z))), Z.mean(), rtol=1e-12)


@pytest.mark.parametrize("name", ["sigmoid_f1_loss", "binary_cross_entropy",
                                  "multilabel_categorical_crossentropy"])
def test_swapped_torch_arguments_are_named(name: str) -> None:
    """A model's output passed as the labels (what keras.Model.compile(loss=core_function) does
    on the torch backend) raises, naming the order and the Keras classes; the right order runs."""
    torch = pytest.importorskip("torch")
    fn = getattr(ml, name)
    model = torch.nn.Linear(2, 3)
    output = model(torch.ones((4, 2)))  # a model's output: not a leaf, requires gradients
    targets = torch.tensor([[1.0, 0.0, 1.0]] * 4)
    with pytest.raises(TypeError, match=r"look swapped.*Keras class of the same name"):
        fn(targets, output)
    assert torch.isfinite(fn(output, targets))
    # Gradients with respect to leaf labels (soft labels being learned) are legitimate.
    leaf = torch.full((4, 3), 0.5, requires_grad=True)
    assert torch.isfinite(fn(torch.full((4, 3), 0.1), leaf))


def _differentiate_labels(library: str, fn: Any, logits: np.ndarray, labels: np.ndarray) -> Any:
    """The gradient of ``fn(logits, labels)`` with respect to ``labels`` only (``logits``
    constant): the metadata of a model's output passed as the labels."""
    if library == "jax":
        import jax

        return jax.grad(lambda y: fn(jax.numpy.asarray(logits), y))(jax.numpy.asarray(labels))
    import tensorflow as tf

    y = tf.constant(labels)
    with tf.GradientTape() as tape:
        tape.watch(y)
        out = fn(tf.constant(logits), y)
    return tape.gradient(out, y)


@pytest.mark.parametrize("library", ["jax", "tensorflow"])
def test_swapped_arguments_from_keras_are_named_on_jax_and_tensorflow(library: str) -> None:
    """Under ``jax.grad`` (a tracer being differentiated) or a recording ``GradientTape``, a
    differentiated ``labels`` next to constant ``logits`` raises when Keras is the caller (a
    core function given to ``keras.Model.compile``, whose frames are in module ``keras.*``),
    and stays legitimate in a user's own code (a gradient with respect to soft labels)."""
    from tests.support import selected_backends

    if library not in selected_backends():
        pytest.skip(f"{library} not in METRICLOSS_BACKENDS")
    pytest.importorskip(library)
    z, y = Z.astype(np.float32), np.full((B, L), 0.5, dtype=np.float32)
    grad = _differentiate_labels(library, ml.sigmoid_f1_loss, z, y)  # no Keras: no error
    assert np.all(np.isfinite(np.asarray(grad)))
    keras_frame: dict[str, Any] = {"__name__": "keras.src.losses.loss"}  # Keras' wrapper
    exec("def call(fn, y_true, y_pred):\n    return fn(y_true, y_pred)\n", keras_frame)

    def through_keras(logits: Any, labels: Any) -> Any:
        return keras_frame["call"](ml.sigmoid_f1_loss, logits, labels)

    with pytest.raises(TypeError, match=r"look swapped.*Keras class of the same name"):
        _differentiate_labels(library, through_keras, z, y)
