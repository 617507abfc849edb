"""Cross-framework parity, one registry: every public loss gives the same values and gradients
in PyTorch, JAX and TensorFlow, and the same values in NumPy (and array-api-strict) — float64
within 1e-10 relative, float32 within 1e-5 (absolute parts scaled by the largest entry).

Each case is an id → ``(fn, inputs)``: ``inputs()`` builds NumPy arrays ``(z, y, extras)`` with
hostile corners (a label with no positives, saturated logits, ignored pixels, padding), and
``fn(z, y, **extras)`` returns a scalar or a 1-D vector (the losses with ``return_aux=True``
return the loss followed by every aux value); the gradient is that of its sum with respect to
the logits ``z``. Float extras and float labels are cast to the dtype under test, integer and
boolean ones are passed as they are.

The oracles (closed forms, float64, finite differences) are in each module's own test file,
on every backend; this file checks only that the frameworks agree. It needs several frameworks
in one environment (the nox ``parity`` session); each framework that does not import is left
out, and a test with fewer than two is skipped. Shapes are fixed per family, so JAX and
TensorFlow trace each op once per shape.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import pytest

import metricloss as ml
from metricloss._namespace import namespace_of
from tests.support import Backend, get_backend, importable

pytestmark = pytest.mark.parity

FRAMEWORKS = [n for n in ("torch", "jax", "tensorflow") if importable(n)]
VALUE_ONLY = [n for n in ("numpy", "array_api_strict") if importable(n)]
TOLERANCE = {"float64": 1e-10, "float32": 1e-5}

Inputs = tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]


class Case(NamedTuple):
    fn: Callable[..., Any]
    inputs: Callable[[], Inputs]


# --------------------------------------------------------------------------------------------
# Inputs, one fixed shape per family
# --------------------------------------------------------------------------------------------


def multilabel() -> Inputs:
    """(12, 5) multi-label logits: a label with no positives, two saturated rows."""
    rng = np.random.default_rng(0)
    z = rng.normal(scale=3.0, size=(12, 5))
    y = (rng.random((12, 5)) < 0.4).astype(np.float64)
    y[:, 2] = 0.0  # a label with no positives
    z[3, :] = 60.0  # saturated
    z[4, :] = -60.0
    return z, y, {}


def segmentation() -> Inputs:
    """(2, 4, 3, 5) class-axis logits and integer masks: class 3 absent, one ignored pixel."""
    rng = np.random.default_rng(1)
    z = rng.normal(scale=2.0, size=(2, 4, 3, 5))
    present = [0, 1, 2]
    t = rng.choice(present, size=(2, 3, 5))
    t.reshape(2, -1)[:, : len(present)] = present
    t[0, 0, 0] = 255
    return z, t.astype(np.int64), {}


def zlpr() -> Inputs:
    """(4, 6) logits, soft labels with a mask (dense) and padded index lists (sparse)."""
    rng = np.random.default_rng(2)
    z = rng.normal(scale=3.0, size=(4, 6))
    idx = np.array([[0, 3, -1, -1], [-1, -1, -1, -1], [5, -1, 1, 2], [4, -1, 0, -1]])
    dense = np.zeros((4, 6))
    for row, ids in enumerate(idx):
        dense[row, ids[ids >= 0]] = 1.0
    soft = np.clip(dense + 0.3 * rng.random(dense.shape), 0.0, 1.0)
    mask = rng.random(dense.shape) < 0.9
    return z, soft, {"mask": mask, "indices": idx}


def constrained() -> Inputs:
    """(6, 3) logits, per-example weights, dual variables; a saturated row, a label with no
    positives."""
    rng = np.random.default_rng(3)
    z = rng.normal(scale=2.0, size=(6, 3))
    y = (rng.random((6, 3)) < 0.45).astype(np.float64)
    y[0, :], y[1, :] = 1.0, 0.0
    z[2, :] = 40.0  # saturated
    y[:, 2] = 0.0  # no positives
    return z, y, {
        "w": rng.uniform(0.2, 2.0, size=6),
        "lam": np.full(3, 1.5),
        "lamk": np.full((3, 2), 1.5),
        "bias": np.full((3, 2), 0.25),
        "y_int": y.astype(np.int32),
    }


def baseline() -> Inputs:
    """(5, 4) logits and 0/1 labels, a per-label ``pos_weight``."""
    rng = np.random.default_rng(4)
    z = rng.normal(scale=3.0, size=(5, 4))
    y = (rng.random((5, 4)) < 0.4).astype(np.float64)
    return z, y, {"pos_weight": np.array([0.5, 1.0, 2.0, 7.0])}


def binary_masks() -> Inputs:
    """(3, 2, 3, 4) logits and 0/1 masks of that shape, void pixels (255), a channel of one
    image without positives."""
    rng = np.random.default_rng(5)
    z = rng.normal(scale=2.0, size=(3, 2, 3, 4))
    y = (rng.random((3, 2, 3, 4)) < 0.4).astype(np.int64)
    y[1, 0, 0, :3] = 255
    y[2, 1] = 0
    return z, y, {}


# --------------------------------------------------------------------------------------------
# The registry
# --------------------------------------------------------------------------------------------


def _with_aux(loss: Callable[..., Any]) -> Callable[..., Any]:
    """``loss(..., return_aux=True)`` as one vector: the loss, then each aux value (by key)."""

    def fn(z: Any, y: Any, **extras: Any) -> Any:
        value, aux = loss(z, y, return_aux=True, **extras)
        xp = namespace_of(logits=z)
        parts = [xp.reshape(value, (1,))] + [xp.reshape(aux[k], (-1,)) for k in sorted(aux)]
        return xp.concat(parts)

    return fn


CONSTRAINED: dict[str, Callable[..., Any]] = {
    "recall_at_precision": lambda z, y, *, w, lam, return_aux=False, **_: (
        ml.recall_at_precision_loss(z, y, target_precision=0.8, lambdas=lam, weights=w,
                                    return_aux=return_aux)),
    "precision_at_recall_hinge": lambda z, y, *, w, lam, return_aux=False, **_: (
        ml.precision_at_recall_loss(z, y, target_recall=0.8, lambdas=lam, weights=w,
                                    surrogate="hinge", return_aux=return_aux)),
    "fpr_at_tpr": lambda z, y, *, w, lam, return_aux=False, **_: (
        ml.false_positive_rate_at_true_positive_rate_loss(
            z, y, target_rate=0.9, lambdas=lam, weights=w, return_aux=return_aux)),
    "tpr_at_fpr": lambda z, y, *, w, lam, return_aux=False, **_: (
        ml.true_positive_rate_at_false_positive_rate_loss(
            z, y, target_rate=0.05, lambdas=lam, weights=w, return_aux=return_aux)),
    "pr_auc": lambda z, y, *, w, lamk, bias, return_aux=False, **_: (
        ml.precision_recall_auc_loss(z, y, lambdas=lamk, biases=bias, num_anchors=2, weights=w,
                                     return_aux=return_aux)),
}

BASELINES: dict[str, tuple[Callable[..., Any], dict[str, Any]]] = {
    "bce": (ml.binary_cross_entropy, {}),
    "bce_pos_weight": (ml.binary_cross_entropy, {"pos_weight": True}),
    "focal": (ml.sigmoid_focal_loss, {}),
    "focal_no_alpha_gamma_half": (ml.sigmoid_focal_loss, {"alpha": -1.0, "gamma": 0.5}),
    "focal_alpha_none_gamma0": (ml.sigmoid_focal_loss, {"alpha": None, "gamma": 0.0}),
    "asl": (ml.asymmetric_loss, {}),
    "asl_gamma_pos1_clip0": (ml.asymmetric_loss, {"gamma_pos": 1.0, "clip": 0.0}),
    "asl_gammas0": (ml.asymmetric_loss, {"gamma_pos": 0.0, "gamma_neg": 0.0}),
    "asl_eps0_clip_big": (ml.asymmetric_loss, {"eps": 0.0, "clip": 0.3, "gamma_neg": 1.5}),
}


def _baseline(loss: Callable[..., Any], kwargs: dict[str, Any]) -> Callable[..., Any]:
    def fn(z: Any, y: Any, *, pos_weight: Any) -> Any:
        extra = {**kwargs, "pos_weight": pos_weight} if "pos_weight" in kwargs else kwargs
        return loss(z, y, **extra)

    return fn


def _metric(metric: str) -> Callable[..., Any]:
    return lambda z, y: ml.confusion_metric_loss(z, y, metric=metric)


SOFTMAX = dict(multiclass=True, ignore_index=255)

CASES: dict[str, Case] = {
    # Confusion-matrix losses, sigmoid (multi-label): presets, averages, every metric.
    "sigmoid_f1_macro": Case(lambda z, y: ml.sigmoid_f1_loss(z, y), multilabel),
    "sigmoid_f2_micro": Case(
        lambda z, y: ml.sigmoid_f1_loss(z, y, beta=2.0, average="micro"), multilabel),
    "sigmoid_f1_samples_slope": Case(
        lambda z, y: ml.sigmoid_f1_loss(z, y, slope=2.0, offset=0.5, average="samples"),
        multilabel),
    "any_loss_f1": Case(lambda z, y: ml.any_loss(z, y), multilabel),
    "any_loss_mcc_micro": Case(
        lambda z, y: ml.any_loss(z, y, metric="mcc", average="micro"), multilabel),
    **{
        f"metric_{m}": Case(_metric(m), multilabel)
        for m in ("precision", "recall", "jaccard", "accuracy", "balanced_accuracy", "gmean",
                  "mcc")
    },
    # Class-axis softmax with integer masks: one case per code path (per-class masked sums,
    # gather with class weights, Σ_c p = 1 with samples averaging, AnyLoss gather).
    "softmax_f1_macro": Case(lambda z, t: ml.confusion_metric_loss(z, t, **SOFTMAX),
                             segmentation),
    "softmax_jaccard_micro_class_weights": Case(
        lambda z, t: ml.confusion_metric_loss(z, t, metric="jaccard", average="micro",
                                              class_weights=[1.0, 2.0, 1.0, 0.5], **SOFTMAX),
        segmentation),
    "softmax_mcc_samples": Case(
        lambda z, t: ml.confusion_metric_loss(z, t, metric="mcc", average="samples", **SOFTMAX),
        segmentation),
    "softmax_any_loss_balanced_accuracy_micro": Case(
        lambda z, t: ml.any_loss(z, t, metric="balanced_accuracy", average="micro", **SOFTMAX),
        segmentation),
    # Segmentation: Tversky / focal Tversky, the Dice options, Lovász (one sort per row).
    "tversky_focal_per_image_skip": Case(
        lambda z, t: ml.tversky_loss(z, t, alpha=0.3, beta=0.7, gamma=0.75, per_image=True,
                                     absent_classes="skip", **SOFTMAX),
        segmentation),
    "dice_log_smooth_no_background_zero": Case(
        lambda z, t: ml.sigmoid_f1_loss(z, t, log_loss=True, smooth_nr=1.0, smooth_dr=1.0,
                                        include_background=False, absent_classes="zero",
                                        **SOFTMAX),
        segmentation),
    "generalized_dice_square_samples": Case(
        lambda z, t: ml.sigmoid_f1_loss(z, t, class_weights="square", average="samples",
                                        smooth_nr=1e-5, smooth_dr=1e-5, **SOFTMAX),
        segmentation),
    "dice_soft_labels": Case(
        lambda z, y, *, mask, indices: ml.sigmoid_f1_loss(z, y, soft_labels=True), zlpr),
    "lovasz_softmax": Case(lambda z, t: ml.lovasz_softmax_loss(z, t, ignore_index=255),
                           segmentation),
    "lovasz_softmax_per_image_keep": Case(
        lambda z, t: ml.lovasz_softmax_loss(z, t, ignore_index=255, per_image=True,
                                            absent_classes="keep"),
        segmentation),
    "lovasz_hinge_per_image": Case(
        lambda z, y: ml.lovasz_hinge_loss(z, y, ignore_index=255, per_image=True),
        binary_masks),
    "lovasz_hinge_micro_tversky_masks": Case(
        lambda z, y: ml.lovasz_hinge_loss(z, y, ignore_index=255, average="micro")
        + ml.tversky_loss(z, y, axis=1, ignore_index=255, alpha=0.2, beta=0.8),
        binary_masks),
    # ZLPR, dense (soft labels, mask) and sparse (padded index lists).
    "zlpr_dense": Case(
        lambda z, y, *, mask, indices: ml.multilabel_categorical_crossentropy(z, y, mask=mask),
        zlpr),
    "zlpr_sparse": Case(
        lambda z, y, *, mask, indices: ml.sparse_multilabel_categorical_crossentropy(
            z, indices),
        zlpr),
    # The constrained losses, the loss alone and with every aux value.
    **{f"{name}": Case(fn, constrained) for name, fn in CONSTRAINED.items()},
    **{f"{name}_aux": Case(_with_aux(fn), constrained) for name, fn in CONSTRAINED.items()},
    # ROC-AUC: pairwise (chunked, float and integer labels) and sort.
    "roc_auc_pairwise": Case(
        lambda z, y, *, w, **_: ml.roc_auc_loss(z, y, weights=w, chunk_size=3), constrained),
    "roc_auc_pairwise_hinge_int_labels": Case(
        lambda z, y, *, w, y_int, **_: ml.roc_auc_loss(z, y_int, weights=w, surrogate="hinge",
                                                       chunk_size=4),
        constrained),
    "roc_auc_sort_hinge": Case(
        lambda z, y, *, w, **_: ml.roc_auc_loss(z, y, weights=w, surrogate="hinge",
                                                method="sort"),
        constrained),
    # AUC-M: per-label a, b as numbers, α as an array (a label without positives).
    "auc_m": Case(
        lambda z, y, *, w, lam, **_: ml.auc_m_loss(z, y, a=0.8, b=0.2, alpha=lam, weights=w,
                                                   margin=0.7, reduction="none"),
        constrained),
    "partial_roc_auc_hinge": Case(
        lambda z, y, **_: ml.partial_roc_auc_loss(z, y, max_fpr=0.4, surrogate="hinge",
                                                  reduction="none"),
        constrained),
    # Baselines.
    **{f"baseline_{name}": Case(_baseline(*spec), baseline) for name, spec in BASELINES.items()},
}


# --------------------------------------------------------------------------------------------
# The comparison
# --------------------------------------------------------------------------------------------


def _convert(backend: Backend, a: np.ndarray, dtype: str) -> Any:
    return backend.asarray(a, dtype=dtype if a.dtype.kind == "f" else None)


def _run(backend: Backend, case: Case, dtype: str) -> tuple[np.ndarray, np.ndarray | None]:
    """The case's value (a vector) and the gradient of its sum in the logits, as NumPy."""
    z, y, extras = case.inputs()
    yy = _convert(backend, y, dtype)
    ee = {k: _convert(backend, v, dtype) for k, v in extras.items()}
    zz = _convert(backend, z, dtype)
    if not backend.differentiable:
        return np.atleast_1d(backend.to_numpy(case.fn(zz, yy, **ee))), None
    out: list[Any] = []

    def total(t: Any) -> Any:
        value = case.fn(t, yy, **ee)
        out.append(value)
        return backend.sum(value)

    _, grad = backend.value_and_grad(total, zz)
    value = out[-1]
    if backend.name == "jax":  # the traced value: recompute it eagerly
        value = case.fn(zz, yy, **ee)
    return np.atleast_1d(backend.to_numpy(value)), grad


@pytest.mark.parametrize("dtype", [pytest.param("float64", marks=pytest.mark.float64),
                                   "float32"])
@pytest.mark.parametrize("name", list(CASES))
def test_values_and_gradients_agree_across_frameworks(name: str, dtype: str) -> None:
    if len(FRAMEWORKS) < 2:
        pytest.skip(f"parity needs two frameworks, found {FRAMEWORKS}")
    case = CASES[name]
    results = {fw: _run(get_backend(fw), case, dtype) for fw in FRAMEWORKS}
    ref_fw = FRAMEWORKS[0]
    ref_value, ref_grad = results[ref_fw]
    assert ref_grad is not None
    assert np.all(np.isfinite(ref_value)) and np.all(np.isfinite(ref_grad))
    assert np.any(ref_grad != 0.0), "a parity case must have a gradient to compare"
    rtol = TOLERANCE[dtype]
    value_atol = rtol * float(np.max(np.abs(ref_value)))
    grad_atol = rtol * float(np.max(np.abs(ref_grad)))
    for fw, (value, grad) in results.items():
        np.testing.assert_allclose(value, ref_value, rtol=rtol, atol=value_atol,
                                   err_msg=f"{name}: {fw} vs {ref_fw}")
        np.testing.assert_allclose(grad, ref_grad, rtol=rtol, atol=grad_atol,
                                   err_msg=f"{name}: gradient {fw} vs {ref_fw}")
    for lib in VALUE_ONLY:
        value, _ = _run(get_backend(lib), case, dtype)
        np.testing.assert_allclose(value, ref_value, rtol=rtol, atol=value_atol,
                                   err_msg=f"{name}: {lib} vs {ref_fw}")


def test_registry_covers_every_public_loss() -> None:
    """A new public loss must join the registry (by name, in some case's source)."""
    import inspect

    source = inspect.getsource(inspect.getmodule(test_registry_covers_every_public_loss))
    from metricloss import metrics

    losses = [n for n in ml.__all__ if (n.endswith("_loss") and not hasattr(metrics, n)) or n in (
        "binary_cross_entropy", "multilabel_categorical_crossentropy",
        "sparse_multilabel_categorical_crossentropy")]
    missing = [n for n in losses if f"ml.{n}" not in source]
    assert not missing, f"public losses without a parity case: {missing}"



# --------------------------------------------------------------------------------------------
# The adapters' loss-owned dual dynamics: the same trajectory in every framework
# --------------------------------------------------------------------------------------------

DUAL_CASES = {
    "recall_at_precision_proxy": ("RecallAtPrecisionLoss", {"target_precision": 0.7}),
    "precision_at_recall_surrogate": ("PrecisionAtRecallLoss",
                                      {"target_recall": 0.8, "dual_update": "surrogate"}),
    "pr_auc_proxy": ("PrecisionRecallAUCLoss", {"num_anchors": 3, "dual_rate": 2.0}),
}


def _dual_batches() -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Five training batches (logits, labels, weights), then a held-out one, (16, 3)."""
    rng = np.random.default_rng(5)
    return [(rng.normal(scale=2.0, size=(16, 3)).astype(np.float32),
             (rng.random((16, 3)) < 0.35).astype(np.float32),
             rng.uniform(0.5, 1.5, size=16).astype(np.float32)) for _ in range(6)]


def _torch_dual_trajectory(name: str, kwargs: dict[str, Any]) -> np.ndarray:
    import torch

    from metricloss.backends import torch as mt

    loss_fn = getattr(mt, name)(**kwargs)
    out = []
    batches = _dual_batches()
    for z, y, w in batches[:-1]:
        loss_fn(torch.from_numpy(z), torch.from_numpy(y), weights=torch.from_numpy(w))
        out.append(loss_fn.duals.detach().numpy().copy())
    z, y, w = batches[-1]
    loss_fn.update_duals(torch.from_numpy(z), torch.from_numpy(y), weights=torch.from_numpy(w))
    out.append(loss_fn.duals.numpy().copy())
    return np.stack(out)


def _jax_dual_trajectory(name: str, kwargs: dict[str, Any]) -> np.ndarray:
    import jax
    import jax.numpy as jnp

    from metricloss.backends import jax as mj

    loss_fn = getattr(mj, name)(**kwargs)
    batches = _dual_batches()
    params, state = loss_fn.init(batches[0][0])
    apply = jax.jit(lambda p, s, z, y, w: loss_fn.apply(p, s, z, y, weights=w)[2])
    out = []
    for z, y, w in batches[:-1]:
        state = apply(params, state, jnp.asarray(z), jnp.asarray(y), jnp.asarray(w))
        out.append(np.asarray(state["duals"]))
    z, y, w = batches[-1]
    state = loss_fn.update_duals(state, jnp.asarray(z), jnp.asarray(y), params=params,
                                 weights=jnp.asarray(w))
    out.append(np.asarray(state["duals"]))
    return np.stack(out)


@pytest.mark.parametrize("case", list(DUAL_CASES))
def test_loss_owned_dual_trajectory_agrees_across_adapters(case: str) -> None:
    """Five training calls and one ``update_duals``: torch and JAX store the same duals
    after each (float32); the duals move, so the comparison can fail."""
    runners = {"torch": _torch_dual_trajectory, "jax": _jax_dual_trajectory}
    available = [fw for fw in runners if fw in FRAMEWORKS]
    if len(available) < 2:
        pytest.skip(f"dual parity needs torch and jax, found {available}")
    name, kwargs = DUAL_CASES[case]
    got = {fw: runners[fw](name, kwargs) for fw in available}
    ref = got["torch"]
    assert np.all(np.isfinite(ref))
    assert np.all(np.abs(np.diff(ref, axis=0)).max(axis=tuple(range(1, ref.ndim))) > 0), (
        "every call moves some dual")
    np.testing.assert_allclose(got["jax"], ref, rtol=1e-5, atol=1e-6,
                               err_msg=f"{case}: jax vs torch")


@pytest.mark.parametrize("update", ["proxy", "surrogate"])
def test_keras_dual_trajectory_equals_the_core(update: str) -> None:
    """The Keras adapter (on this process' Keras backend) takes, call after call in training
    mode, the dual steps of the core's ``dual_step(constraint_violation(...))`` run on NumPy
    float64 with the same running priors: the same trajectory, to float32 tolerance."""
    if not importable("keras"):
        pytest.skip("keras is not installed")
    import keras

    from metricloss.backends import keras as mk

    rng = np.random.default_rng(12)
    batches = [(rng.normal(scale=2.0, size=(8, 3)), (rng.random((8, 3)) < 0.4).astype(float))
               for _ in range(4)]
    loss = mk.RecallAtPrecisionLoss(0.7, from_logits=True, dual_update=update)
    inputs = keras.Input((3,))
    mk.attach(keras.Model(inputs, keras.layers.Identity()(inputs)), loss)
    lam, counts, total = np.ones(3), np.ones(3), 2.0 * np.ones(3)
    for z, y in batches:
        loss(y.astype(np.float32), z.astype(np.float32))
        counts, total = counts + y.sum(0), total + len(y)
        g = ml.constraint_violation(z, y, constraint="recall_at_precision",
                                    target_precision=0.7, label_priors=counts / total,
                                    estimate="hard" if update == "proxy" else "surrogate")
        lam = ml.dual_step(lam, g, rate=0.5, max_value=100.0)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(loss.lambdas), lam, rtol=1e-5,
                                   atol=1e-6)
    assert not np.allclose(lam, 1.0)


# --------------------------------------------------------------------------------------------
# Several frameworks in one process
# --------------------------------------------------------------------------------------------


@pytest.mark.skipif(not (importable("torch") and importable("tensorflow")),
                    reason="needs PyTorch and TensorFlow in one process")
def test_torch_compile_fullgraph_after_tensorflow_calls_in_the_same_process() -> None:
    """Issue 21, item 10: a metricloss call on TensorFlow tensors must not leave anything
    behind (a ``tf.DType`` key in a module cache) that ``torch.compile(fullgraph=True)`` of a
    metricloss loss cannot trace. The compiled value must equal TensorFlow's."""
    import torch

    z, y, extras = constrained()
    tf_backend = get_backend("tensorflow")

    def fn(zz: Any, yy: Any, w: Any, lam: Any) -> Any:
        return (ml.sigmoid_f1_loss(zz, yy, weights=w)
                + ml.recall_at_precision_loss(zz, yy, target_precision=0.8, lambdas=lam,
                                              weights=w)
                + ml.multilabel_categorical_crossentropy(zz, yy))

    args = (z, y, extras["w"], extras["lam"])
    expected = tf_backend.to_numpy(fn(*(tf_backend.asarray(a, dtype="float32") for a in args)))
    compiled = torch.compile(lambda *a: fn(*a), fullgraph=True, dynamic=False)
    got = compiled(*(torch.asarray(a, dtype=torch.float32) for a in args))
    np.testing.assert_allclose(got.detach().numpy(), expected, rtol=1e-5)
