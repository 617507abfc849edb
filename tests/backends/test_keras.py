"""The Keras 3 adapter (metricloss.backends.keras) on the Keras backend of this process.

Keras chooses its backend once per process, so this module runs once per backend:
``METRICLOSS_KERAS=1 KERAS_BACKEND=jax python -m pytest tests/backends/test_keras.py``
(the nox session ``keras(backend=...)`` does that). Without ``METRICLOSS_KERAS=1`` the module
is skipped, so the TensorFlow test session does not run it a second time.

The oracle is the core function (itself tested against closed forms elsewhere), called on the
same inputs in the same framework, and NumPy float64 for the dual-ascent step.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

if os.environ.get("METRICLOSS_KERAS") != "1":
    pytest.skip("Keras adapter tests run in the keras nox sessions (METRICLOSS_KERAS=1, "
                "KERAS_BACKEND=...)", allow_module_level=True)

keras = pytest.importorskip("keras")

import metricloss  # noqa: E402
from metricloss.backends import keras as mk  # noqa: E402

ops = keras.ops
BACKEND = keras.backend.backend()
ROOT = Path(__file__).resolve().parents[2]

B, L = 16, 3
RTOL, ATOL = 2e-5, 1e-6


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def _data(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=2.0, size=(B, L)).astype("float32")
    labels = (rng.random((B, L)) < 0.4).astype("float32")
    weights = rng.uniform(0.5, 2.0, size=(B,)).astype("float32")
    return logits, labels, weights


def _t(x: Any) -> Any:
    return ops.convert_to_tensor(x)


def _np(x: Any) -> np.ndarray:
    return np.asarray(ops.convert_to_numpy(x))


def _value_and_grad(fn: Any, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``fn(x)`` (a scalar) and its gradient, in this process' Keras backend."""
    if BACKEND == "tensorflow":
        import tensorflow as tf

        xt = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(xt)
            out = fn(xt)
        return _np(out), _np(tape.gradient(out, xt))
    if BACKEND == "jax":
        import jax

        value, g = jax.value_and_grad(fn)(_t(x))
        return _np(value), _np(g)
    import torch

    xt = torch.tensor(x, requires_grad=True)
    out = fn(xt)
    (g,) = torch.autograd.grad(out, xt)
    return _np(out.detach()), _np(g)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p.astype("float64"), keras.config.epsilon(), 1 - keras.config.epsilon())
    return (np.log(p) - np.log1p(-p)).astype("float32")


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return (1 / (1 + np.exp(-z.astype("float64")))).astype("float32")


def _core_loss(out: Any) -> Any:
    return out[0] if isinstance(out, tuple) else out


def _tracked(loss: Any) -> Any:
    """``loss`` attached to a throwaway model (so that it may be called directly)."""
    inp = keras.Input((L,))
    mk.attach(keras.Model(inp, keras.layers.Identity()(inp)), loss)
    return loss


def _linear_model(inputs: int, outputs: int, *, kernel: float | None = None) -> keras.Model:
    init = "glorot_uniform" if kernel is None else keras.initializers.Constant(kernel)
    inp = keras.Input((inputs,))
    return keras.Model(inp, keras.layers.Dense(outputs, kernel_initializer=init)(inp))


# --------------------------------------------------------------------------------------------
# stateless losses: value and gradient equal the core's; sample_weight is the core's weights
# --------------------------------------------------------------------------------------------

# id -> (Keras loss, core function of (logits, labels, weights), whether y_pred is probabilities)
STATELESS = {
    "sigmoid_f1_logits": (lambda: mk.SigmoidF1Loss(from_logits=True),
                          lambda z, y, w: metricloss.sigmoid_f1_loss(z, y, weights=w), False),
    "sigmoid_f1_probs": (lambda: mk.SigmoidF1Loss(beta=2.0, average="micro"),
                         lambda z, y, w: metricloss.sigmoid_f1_loss(z, y, beta=2.0,
                                                                    average="micro", weights=w),
                         True),
    "any_loss_probs": (lambda: mk.AnyLoss(),
                       lambda z, y, w: metricloss.any_loss(ops.sigmoid(z), y, from_logits=False,
                                                           weights=w), True),
    "confusion_mcc": (lambda: mk.ConfusionMetricLoss("mcc", from_logits=True),
                      lambda z, y, w: metricloss.confusion_metric_loss(z, y, metric="mcc",
                                                                       weights=w), False),
    "zlpr": (lambda: mk.MultilabelCategoricalCrossentropy(from_logits=True),
             lambda z, y, w: ops.mean(metricloss.multilabel_categorical_crossentropy(
                 z, y, reduction="none") * w), False),
    "roc_auc": (lambda: mk.ROCAUCLoss(from_logits=True),
                lambda z, y, w: _core_loss(metricloss.roc_auc_loss(z, y, weights=w)), False),
}
if hasattr(mk, "BinaryCrossEntropy"):  # the baselines (metricloss.baselines)
    STATELESS.update({
        "bce_pos_weight": (lambda: mk.BinaryCrossEntropy(pos_weight=3.0, from_logits=True),
                           lambda z, y, w: metricloss.binary_cross_entropy(
                               z, y, pos_weight=3.0, weights=w), False),
        "focal_probs": (lambda: mk.SigmoidFocalLoss(gamma=1.5),
                        lambda z, y, w: metricloss.sigmoid_focal_loss(z, y, gamma=1.5,
                                                                      weights=w),
                        True),
        "asl": (lambda: mk.AsymmetricLoss(from_logits=True, reduction="sum"),
                lambda z, y, w: metricloss.asymmetric_loss(z, y, weights=w,
                                                           reduction="sum",
                                                           stop_gradient=ops.stop_gradient),
                False),
    })


@pytest.mark.parametrize("case", list(STATELESS))
def test_stateless_value_and_gradient_equal_core(case: str) -> None:
    make, core, probabilities = STATELESS[case]
    logits, labels, weights = _data()
    loss = make()
    y_pred = _sigmoid(logits) if probabilities else logits
    core_logits = _logit(y_pred) if probabilities else logits
    value, grad = _value_and_grad(lambda p: loss(_t(labels), p, sample_weight=_t(weights)),
                                  y_pred)
    if probabilities:  # the same chain rule through logit(p): compare in the logits
        expected, g_core = _value_and_grad(lambda z: core(z, _t(labels), _t(weights)),
                                           core_logits)
        p64 = y_pred.astype("float64")
        grad = grad * (p64 * (1 - p64))  # d/dz = d/dp · σ'(z)
    else:
        expected, g_core = _value_and_grad(lambda z: core(z, _t(labels), _t(weights)), logits)
    np.testing.assert_allclose(value, expected, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(grad, g_core, rtol=1e-3, atol=1e-6)


def test_sparse_zlpr_equals_dense_with_sample_weight() -> None:
    logits, labels, weights = _data()
    labels[:, 0] = 1.0  # every example has a positive
    width = int(labels.sum(1).max())
    indices = np.full((B, width), -1, dtype="int32")
    for i, row in enumerate(labels):
        pos = np.flatnonzero(row)
        indices[i, : len(pos)] = pos
    dense = mk.MultilabelCategoricalCrossentropy(from_logits=True, reduction="sum")
    sparse = mk.SparseMultilabelCategoricalCrossentropy(from_logits=True, reduction="sum")
    np.testing.assert_allclose(_np(sparse(indices, logits, sample_weight=weights)),
                               _np(dense(labels, logits, sample_weight=weights)), rtol=1e-5)
    per = _np(sparse(indices, logits, sample_weight=weights))
    assert per.shape == ()
    none = mk.SparseMultilabelCategoricalCrossentropy(from_logits=True, reduction="none")
    assert _np(none(indices, logits)).shape == (B,)


def test_sample_weight_is_not_multiplied_onto_a_batch_loss() -> None:
    # The measurement: weight 3 everywhere must leave sigmoidF1 unchanged (0.807, not
    # 2.42); a batch-level loss has no per-example value to multiply.
    logits, labels, _ = _data()
    loss = mk.SigmoidF1Loss(from_logits=True)
    plain = _np(loss(labels, logits))
    np.testing.assert_allclose(_np(loss(labels, logits, sample_weight=np.full(B, 3.0))), plain,
                               rtol=1e-6)
    np.testing.assert_allclose(plain, _np(metricloss.sigmoid_f1_loss(_t(logits), _t(labels))),
                               rtol=1e-6)


def test_probabilities_are_not_passed_through_a_second_sigmoid() -> None:
    logits, labels, _ = _data()
    probs_loss = mk.SigmoidF1Loss()(labels, _sigmoid(logits))
    logits_loss = mk.SigmoidF1Loss(from_logits=True)(labels, logits)
    np.testing.assert_allclose(_np(probs_loss), _np(logits_loss), rtol=1e-4)


def test_probabilities_passed_with_from_logits_true_warn() -> None:
    logits, labels, _ = _data()
    with pytest.warns(UserWarning, match="from_logits=False"):
        mk.SigmoidF1Loss(from_logits=True)(labels, _sigmoid(logits))
    loss = _tracked(mk.PrecisionAtRecallLoss(0.9, num_labels=L, from_logits=True))
    with pytest.warns(UserWarning, match="from_logits=False"):
        loss(labels, _sigmoid(logits), training=False)


def test_confusion_losses_have_no_reduction_to_choose() -> None:
    with pytest.raises(ValueError, match="average='none'"):
        mk.SigmoidF1Loss(reduction="sum")
    with pytest.raises(ValueError, match="reduction"):
        mk.ROCAUCLoss(reduction="sideways")


# --------------------------------------------------------------------------------------------
# constrained losses
# --------------------------------------------------------------------------------------------

# id -> (Keras loss, core function, extra core keywords)
CONSTRAINED = {
    "recall_at_precision": (lambda **k: mk.RecallAtPrecisionLoss(0.8, **k),
                            metricloss.recall_at_precision_loss, {"target_precision": 0.8}),
    "precision_at_recall": (lambda **k: mk.PrecisionAtRecallLoss([0.9, 0.7, 0.5], **k),
                            metricloss.precision_at_recall_loss,
                            {"target_recall": [0.9, 0.7, 0.5]}),
    "tpr_at_fpr": (lambda **k: mk.TruePositiveRateAtFalsePositiveRateLoss(0.1, **k),
                   metricloss.true_positive_rate_at_false_positive_rate_loss,
                   {"target_rate": 0.1}),
    "fpr_at_tpr": (lambda **k: mk.FalsePositiveRateAtTruePositiveRateLoss(0.9, **k),
                   metricloss.false_positive_rate_at_true_positive_rate_loss,
                   {"target_rate": 0.9}),
    "pr_auc": (lambda **k: mk.PrecisionRecallAUCLoss((0.2, 0.9), 4, **k),
               metricloss.precision_recall_auc_loss,
               {"precision_range": (0.2, 0.9), "num_anchors": 4}),
}


def _priors_after(labels: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The running prior after one batch, from the initial pseudocounts (1 and 2)."""
    w = weights.astype("float64")[:, None]
    return (1 + (w * labels).sum(0)) / (2 + w.sum(0) * np.ones(labels.shape[1]))


def _core_dual_step(case: str, logits: np.ndarray, labels: np.ndarray, lambdas: np.ndarray,
                    priors: np.ndarray, weights: np.ndarray | None = None, *,
                    estimate: str = "hard", rate: float = 0.5) -> np.ndarray:
    """The oracle of one loss-owned dual step: the core's ``dual_step(λ,
    constraint_violation(...))`` on NumPy float64 (default rate and bound of the adapters)."""
    _, core, extra = CONSTRAINED[case]
    g = metricloss.constraint_violation(
        logits.astype("float64"), labels.astype("float64"),
        constraint=core.__name__.removesuffix("_loss"), estimate=estimate,
        label_priors=priors.astype("float64"),
        weights=None if weights is None else weights.astype("float64"), **extra)
    return np.asarray(metricloss.dual_step(lambdas.astype("float64"), g, rate=rate,
                                           max_value=100.0))


@pytest.mark.parametrize("case", list(CONSTRAINED))
@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "none"])
def test_constrained_value_and_gradient_equal_core(case: str, reduction: str) -> None:
    make, core, extra = CONSTRAINED[case]
    logits, labels, weights = _data(1)
    loss = _tracked(make(num_labels=L, from_logits=True, lambdas_init=1.5, reduction=reduction))
    out = loss(labels, logits, sample_weight=weights)  # training: the priors advance first
    priors = _priors_after(labels, weights)
    np.testing.assert_allclose(_np(loss.priors), priors, rtol=1e-6)
    core_reduction = {"sum_over_batch_size": "mean"}.get(reduction, reduction)
    lam_shape = (L, extra["num_anchors"]) if "num_anchors" in extra else (L,)
    lambdas = np.full(lam_shape, 1.5, dtype="float32")

    def core_fn(z: Any, lam: np.ndarray) -> Any:
        return _core_loss(core(z, _t(labels), lambdas=_t(lam.astype("float32")),
                               label_priors=_t(priors.astype("float32")), weights=_t(weights),
                               reduction=core_reduction, **extra))

    np.testing.assert_allclose(_np(out), _np(core_fn(_t(logits), lambdas)), rtol=RTOL,
                               atol=ATOL)
    assert _np(out).shape == ((B, L) if reduction == "none" else ())
    # the training call took one dual step (used from the next call on)
    stepped = _core_dual_step(case, logits, labels, lambdas, priors, weights)
    np.testing.assert_allclose(_np(loss.lambdas), stepped, rtol=1e-5, atol=1e-6)
    if reduction != "none":
        # training=False: neither the priors nor the duals move; a pure function of y_pred
        expected = _np(core_fn(_t(logits), stepped))
        value, grad = _value_and_grad(
            lambda z: loss(_t(labels), z, sample_weight=_t(weights), training=False), logits)
        _, g_core = _value_and_grad(lambda z: core_fn(z, stepped), logits)
        np.testing.assert_allclose(value, expected, rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(grad, g_core, rtol=1e-4, atol=1e-7)
        np.testing.assert_allclose(_np(loss.priors), priors, rtol=1e-6)
        np.testing.assert_allclose(_np(loss.lambdas), stepped, rtol=1e-5, atol=1e-6)


def test_gradient_reversal_sgd_step_moves_each_dual_by_rate_times_factor_times_dL_dlambda(
) -> None:
    """dual_update="gradient_reversal" (the original recipe): one fit step on one full batch
    moves the trainable duals by Δv = η·f·∂L/∂λ (ascent), in NumPy float64."""
    rng = np.random.default_rng(3)
    x = 3.0 * rng.normal(size=(B, 4)).astype("float32")
    labels = (rng.random((B, L)) < 0.4).astype("float32")
    labels[:, 2] = x.sum(1) > 0  # label 2 is separated by the initial model: recall is met
    eta, f, target = 0.5, 2.0, [0.95, 0.5, 0.05]
    model = _linear_model(4, L, kernel=1.0)
    loss = mk.PrecisionAtRecallLoss(target, num_labels=L, dual_rate_factor=f, from_logits=True,
                                    dual_update="gradient_reversal")
    model = mk.attach(model, loss)
    assert any(v is loss.duals for v in model.trainable_variables)
    model.compile(optimizer=keras.optimizers.SGD(eta))
    z = model.predict(x, verbose=0).astype("float64")
    model.fit(x, labels, batch_size=B, epochs=1, shuffle=False, verbose=0)
    dual = _np(loss.duals).astype("float64")
    # ∂L/∂λ of the mean loss, with the priors of this batch (closed form of the xent Lagrangian:
    # λ·y·softplus(−z) + λ·π·(r−1)·ln2, averaged over the B·L elements, per label).
    pi = _priors_after(labels, np.ones(B))
    d_dlam = (labels * np.logaddexp(0, -z)).sum(0) / (B * L) + pi * (np.array(target) - 1) \
        * np.log(2) / L
    np.testing.assert_allclose(dual - 1.0, eta * f * d_dlam, rtol=1e-4, atol=1e-7)
    # the violated constraint (label 0, target 0.95) raised its dual; the met one lowered it
    assert d_dlam[0] > 0 > d_dlam[2]
    assert dual[0] > 1.0 > dual[2]


def test_fit_moves_owned_duals_updates_priors_and_evaluate_freezes_them() -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(size=(4 * B, 4)).astype("float32")
    labels = (rng.random((4 * B, L)) < 0.3).astype("float32")
    loss = mk.RecallAtPrecisionLoss(0.9, num_labels=L, from_logits=True)
    model = mk.attach(_linear_model(4, L), loss)
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    # the loss owns its duals: state beside the priors, never in the optimizer's list
    assert not any(v is loss.duals for v in model.trainable_variables)
    assert any(v is loss.duals for v in model.non_trainable_variables)
    assert any(v is loss.label_prior_counts for v in model.non_trainable_variables)
    model.fit(x, labels, batch_size=B, epochs=2, verbose=0)
    assert not np.allclose(_np(loss.duals), 1.0)
    duals = _np(loss.duals)
    np.testing.assert_allclose(_np(loss.label_prior_counts), 1 + 2 * labels.sum(0))
    np.testing.assert_allclose(_np(loss.label_prior_weight_sum), 2 + 2 * len(x))
    counts = _np(loss.label_prior_counts)
    model.evaluate(x, labels, batch_size=B, verbose=0)
    model.predict(x, verbose=0)
    np.testing.assert_allclose(_np(loss.label_prior_counts), counts)
    np.testing.assert_array_equal(_np(loss.duals), duals)


def test_one_fit_step_under_adam_takes_the_closed_form_dual_step() -> None:
    """A plain compile(optimizer="adam"), no num_labels: one fit step on one batch stores
    λ = clip(1 + η·g, 0, 100), g = (α·FP − (1−α)·TP)/(π·B) counted at z > 0 (NumPy, by hand),
    with π the running prior after the batch: the duals move whatever the optimizer."""
    rng = np.random.default_rng(8)
    x = rng.normal(size=(B, 4)).astype("float32")
    labels = (rng.random((B, L)) < 0.4).astype("float32")
    loss = mk.RecallAtPrecisionLoss(0.8, from_logits=True)
    model = mk.attach(_linear_model(4, L), loss)
    model.compile(optimizer="adam")
    z = model.predict(x, verbose=0).astype("float64")
    model.fit(x, labels, batch_size=B, epochs=1, shuffle=False, verbose=0)
    predicted = z > 0
    tp = (predicted * labels).sum(0)
    fp = (predicted * (1 - labels)).sum(0)
    pi = (1 + labels.sum(0)) / (2 + B)
    g = (0.8 * fp - 0.2 * tp) / (pi * B)
    expected = np.clip(1.0 + 0.5 * g, 0.0, 100.0)
    assert loss.num_labels == L
    assert not np.allclose(expected, 1.0)
    np.testing.assert_allclose(_np(loss.lambdas), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("case", "update"), [("recall_at_precision", "proxy"),
                                              ("pr_auc", "surrogate")])
def test_dual_trajectory_through_compiled_fit_equals_the_core(case: str, update: str) -> None:
    """Four fit steps (the last batch partial: 13 of 16 rows, batch size None when traced),
    compiled (jit_compile on TensorFlow and JAX), with sample weights: the stored duals equal
    the core's dual_step(constraint_violation(...)) applied batch by batch in NumPy float64.
    The model's learning rate is 0, so its logits are those of predict."""
    x, labels = _fit_data()
    x, labels = x[:-3], labels[:-3]
    weights = np.random.default_rng(10).uniform(0.5, 2.0, size=len(x)).astype("float32")
    loss = CONSTRAINED[case][0](from_logits=True, dual_update=update)
    model = mk.attach(_linear_model(4, L), loss)
    model.compile(optimizer=keras.optimizers.SGD(0.0), jit_compile=BACKEND != "torch")
    z = model.predict(x, verbose=0)
    model.fit(x, labels, sample_weight=weights, batch_size=B, epochs=1, shuffle=False,
              verbose=0)
    counts, total = np.ones(L), 2.0 * np.ones(L)
    lam = np.ones(_np(loss.duals).shape)
    for start in range(0, len(x), B):
        part = slice(start, start + B)
        w = weights[part].astype("float64")
        counts, total = counts + (w[:, None] * labels[part]).sum(0), total + w.sum()
        lam = _core_dual_step(case, z[part], labels[part], lam, counts / total, w,
                              estimate="hard" if update == "proxy" else "surrogate")
    assert not np.allclose(lam, 1.0)
    np.testing.assert_allclose(_np(loss.lambdas), lam, rtol=2e-5, atol=1e-6)


def _other_state(model: Any, loss: Any) -> list[np.ndarray]:
    """Every variable of the model and its optimizer but the duals."""
    return [_np(v) for v in [*model.variables, *model.optimizer.variables]
            if v is not loss.duals]


def test_held_out_dual_update_steps_from_validation_data_and_changes_nothing_else() -> None:
    """HeldOutDualUpdate with dual_source="held_out": after each epoch the duals take one step
    from the validation pass (the core's step on predict's logits and the stored priors), none
    from the training batches, and they carry over to the next epoch (JAX: through the model's
    state); the callback leaves the weights, the optimizer and the priors bit for bit."""
    x, labels = _fit_data()
    x_val, y_val = _fit_data(9)
    loss = CONSTRAINED["precision_at_recall"][0](from_logits=True, dual_source="held_out")
    model = mk.attach(_linear_model(4, L), loss)
    model.compile(optimizer=keras.optimizers.Adam(0.05))
    seen: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            seen.append((self.model.predict(x_val, verbose=0), _np(loss.priors),
                         _np(loss.lambdas)))

    callback = mk.HeldOutDualUpdate((x_val, y_val))
    model.fit(x, labels, batch_size=B, epochs=2, shuffle=False, verbose=0,
              callbacks=[callback, Record()])
    lam = np.ones(L)
    for z_val, priors, stored in seen:
        lam = _core_dual_step("precision_at_recall", z_val, y_val, lam, priors)
        np.testing.assert_allclose(stored, lam, rtol=1e-5, atol=1e-6)
    assert not np.allclose(lam, 1.0)
    before = _other_state(model, loss)
    z_val = model.predict(x_val, verbose=0)
    callback.on_epoch_end(2)
    for a, b in zip(before, _other_state(model, loss), strict=True):
        np.testing.assert_array_equal(a, b)
    expected = _core_dual_step("precision_at_recall", z_val, y_val, lam, _np(loss.priors))
    np.testing.assert_allclose(_np(loss.lambdas), expected, rtol=1e-5, atol=1e-6)


def test_update_duals_needs_loss_owned_duals() -> None:
    logits, labels, _ = _data()
    loss = _tracked(mk.RecallAtPrecisionLoss(0.8, from_logits=True,
                                             dual_update="gradient_reversal"))
    with pytest.raises(TypeError, match="gradient_reversal"):
        loss.update_duals(labels, logits)


def test_sequential_and_subclassed_models_attach_and_infer_num_labels() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(B, 4)).astype("float32")
    labels = (rng.random((B, L)) < 0.3).astype("float32")

    class Linear(keras.Model):
        def __init__(self) -> None:
            super().__init__()
            self.dense = keras.layers.Dense(L)

        def call(self, inputs: Any) -> Any:
            return self.dense(inputs)

    for base in (keras.Sequential([keras.Input((4,)), keras.layers.Dense(L)]), Linear()):
        loss = mk.PrecisionAtRecallLoss(0.9, from_logits=True)  # no num_labels
        model = mk.attach(base, loss)
        model.compile(optimizer=keras.optimizers.SGD(0.1))
        model.fit(x, labels, batch_size=B, epochs=1, verbose=0)
        assert loss.num_labels == L and loss.get_config()["num_labels"] == L
        assert _np(loss.duals).shape == (L,)
        assert not np.allclose(_np(loss.duals), 1.0)


def test_core_function_given_to_compile_raises_naming_the_keras_class() -> None:
    """model.compile(loss=metricloss.sigmoid_f1_loss): Keras calls it as (y_true, y_pred);
    fit raises the TypeError naming the Keras class, on every backend (torch: labels requiring
    gradients; JAX: a differentiated tracer; TensorFlow: a tensor the tape records). Without a
    gradient (evaluate alone) the swap cannot be seen: documented in docs/keras.md."""
    x, labels = _fit_data()
    for kwargs in ({}, {"run_eagerly": True}):
        model = _linear_model(4, L)
        model.compile(optimizer="sgd", loss=metricloss.sigmoid_f1_loss, **kwargs)
        with pytest.raises(TypeError, match=r"look swapped.*SigmoidF1Loss"):
            model.fit(x, labels, batch_size=B, epochs=1, verbose=0)
    # The undetectable path: no gradient (evaluate alone) and outputs in [0, 1] (a sigmoid
    # layer; other values fail the labels' range check where it runs, e.g. eager torch).
    inp = keras.Input((4,))
    model = keras.Model(inp, keras.layers.Dense(L, activation="sigmoid")(inp))
    model.compile(loss=metricloss.sigmoid_f1_loss)
    assert np.isfinite(model.evaluate(x, labels, verbose=0))


def test_every_class_shows_its_real_keywords() -> None:
    """inspect.signature (and so help()) of each loss class lists its keywords, no *args or
    **kwargs; the constrained ones show the shared spec's (num_labels, dual_update, ...)."""
    import inspect

    from metricloss.backends import _state

    for name in mk.__all__:
        cls = getattr(mk, name)
        if not (isinstance(cls, type) and issubclass(cls, keras.losses.Loss)):
            continue
        params = inspect.signature(cls).parameters
        kinds = {p.kind for p in params.values()}
        assert inspect.Parameter.VAR_POSITIONAL not in kinds, name
        assert inspect.Parameter.VAR_KEYWORD not in kinds, name
        assert {"from_logits", "reduction", "name"} <= set(params), name
        spec = _state.SPECS.get(name)
        if spec is not None and spec.constrained:
            assert set(spec.signature().parameters) <= set(params), name
            assert "lambdas_init" in params and "dual_update" in params
            assert inspect.signature(cls.__init__).parameters.keys() - {"self"} == params.keys()


def test_untracked_constrained_loss_raises_on_first_use() -> None:
    x = np.zeros((B, 4), dtype="float32")
    labels = np.zeros((B, 1), dtype="float32")
    model = _linear_model(4, 1)
    model.compile(optimizer="sgd", loss=mk.PrecisionAtRecallLoss(0.9))
    with pytest.raises(RuntimeError, match="attach"):
        model.fit(x, labels, verbose=0)
    with pytest.raises(RuntimeError, match="attach"):
        mk.RecallAtPrecisionLoss(0.9)(labels, np.full((B, 1), 0.5, dtype="float32"))


def test_bad_arguments_name_themselves() -> None:
    with pytest.raises(ValueError, match="num_labels"):
        mk.PrecisionAtRecallLoss(0.9, num_labels=0)
    with pytest.raises(ValueError, match="dual_rate_factor"):
        mk.PrecisionAtRecallLoss(0.9, dual_rate_factor=-1.0)
    with pytest.raises(ValueError, match="num_anchors"):
        mk.PrecisionRecallAUCLoss(num_anchors=0)
    with pytest.raises(TypeError, match="from_logits"):
        mk.SigmoidF1Loss(from_logits="yes")
    with pytest.raises(TypeError, match="loss"):
        mk.attach(_linear_model(2, 1), mk.SigmoidF1Loss())
    loss = _tracked(mk.PrecisionAtRecallLoss(0.9, num_labels=2, from_logits=True))
    logits, labels, _ = _data()
    with pytest.raises(ValueError, match="num_labels"):
        loss(labels, logits)


# --------------------------------------------------------------------------------------------
# configuration and saving
# --------------------------------------------------------------------------------------------

ALL_LOSSES = {
    "SigmoidF1Loss": lambda: mk.SigmoidF1Loss(beta=2.0, average="micro", from_logits=True),
    "AnyLoss": lambda: mk.AnyLoss("jaccard", amplifier=20.0),
    "ConfusionMetricLoss": lambda: mk.ConfusionMetricLoss("mcc", average="micro"),
    "MultilabelCategoricalCrossentropy":
        lambda: mk.MultilabelCategoricalCrossentropy(reduction="sum"),
    "SparseMultilabelCategoricalCrossentropy":
        lambda: mk.SparseMultilabelCategoricalCrossentropy(pad_index=-2),
    "ROCAUCLoss": lambda: mk.ROCAUCLoss(surrogate="hinge", method="sort"),
    **{name: (lambda name=name: getattr(mk, name)(from_logits=True, reduction="sum"))
       for name in ("BinaryCrossEntropy", "SigmoidFocalLoss", "AsymmetricLoss")
       if hasattr(mk, name)},
    **{name: (lambda make=make: make(num_labels=L, dual_rate_factor=3.0, from_logits=True))
       for name, (make, _, _) in CONSTRAINED.items()},
    "TverskyLoss": lambda: mk.TverskyLoss(alpha=0.3, beta=0.7, gamma=0.75, multiclass=True,
                                          class_weights=[1.0, 2.0, 0.5], ignore_index=255),
    "LovaszHingeLoss": lambda: mk.LovaszHingeLoss(per_image=True, from_logits=True),
    "LovaszSoftmaxLoss": lambda: mk.LovaszSoftmaxLoss(absent_classes="keep", per_image=True),
}


@pytest.mark.parametrize("name", list(ALL_LOSSES))
def test_get_config_round_trip(name: str) -> None:
    loss = ALL_LOSSES[name]()
    config = loss.get_config()
    clone = type(loss).from_config(config)
    assert clone.get_config() == config
    again = keras.losses.deserialize(keras.losses.serialize(loss))
    assert type(again) is type(loss)
    assert again.get_config() == config


def _fit_data(seed: int = 6) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(4 * B, 4)).astype("float32")
    labels = (x[:, :L] + rng.normal(size=(4 * B, L)) > 0.8).astype("float32")
    return x, labels


def _pr_auc_model(**compile_kwargs: Any) -> tuple[Any, Any]:
    keras.utils.set_random_seed(7)
    loss = mk.PrecisionRecallAUCLoss((0.3, 0.9), 3, from_logits=True)
    model = mk.attach(_linear_model(4, L), loss)
    model.compile(optimizer=keras.optimizers.SGD(0.2, momentum=0.5), **compile_kwargs)
    return model, loss


def _state(model: Any) -> list[np.ndarray]:
    return [_np(v) for v in [*model.variables, *model.optimizer.variables]]


def test_save_and_load_resume_bit_identically(tmp_path: Path) -> None:
    """model.save / keras.saving.load_model restore the weights, the loss's duals, biases and
    priors and the optimizer's state; both then continue bit for bit alike."""
    x, labels = _fit_data()
    model, loss = _pr_auc_model()
    model.fit(x, labels, batch_size=B, epochs=1, shuffle=False, verbose=0)
    assert not np.allclose(_np(loss.duals), 1.0)
    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    assert isinstance(restored, mk.ModelWithLoss)
    assert restored.loss is restored.metric_loss
    assert restored.metric_loss.get_config() == loss.get_config()
    for a, b in zip(_state(model), _state(restored), strict=True):
        np.testing.assert_array_equal(a, b)
    model.fit(x, labels, batch_size=B, epochs=1, shuffle=False, verbose=0)
    restored.fit(x, labels, batch_size=B, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(_state(model), _state(restored), strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(_np(restored.metric_loss.biases), 0.0)


@pytest.mark.skipif(BACKEND == "torch", reason="Keras' jit_compile=True is TensorFlow/JAX only "
                    "(the torch backend resolves 'auto' to eager)")
def test_jit_compiled_fit_equals_eager() -> None:
    x, labels = _fit_data()
    results = []
    for kwargs in ({"run_eagerly": True}, {"jit_compile": True}):
        model, _ = _pr_auc_model(**kwargs)
        model.fit(x[:-3], labels[:-3], batch_size=B, epochs=2, shuffle=False, verbose=0)
        results.append(_state(model))
    for a, b in zip(*results, strict=True):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-6)


@pytest.mark.skipif(BACKEND != "tensorflow", reason="tf.GradientTape loop: TensorFlow only")
def test_plain_gradient_tape_loop_moves_the_duals() -> None:
    import tensorflow as tf

    x, labels = _fit_data()
    loss = mk.PrecisionAtRecallLoss(0.95, num_labels=L, from_logits=True)
    model = mk.attach(_linear_model(4, L), loss)
    optimizer = keras.optimizers.SGD(0.5)
    for _ in range(3):
        with tf.GradientTape() as tape:
            value = loss(labels, model(x, training=True))
        grads = tape.gradient(value, model.trainable_variables)
        optimizer.apply(grads, model.trainable_variables)
    assert not np.allclose(_np(loss.duals), 1.0)
    np.testing.assert_allclose(_np(loss.label_prior_counts), 1 + 3 * labels.sum(0))


# --------------------------------------------------------------------------------------------
# efficacy: the original library's example problem
# --------------------------------------------------------------------------------------------


def cluster_data(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two features, four Gaussian clusters; the rare positives split across two of them
    (``global_objectives/loss_layers_example.py``)."""
    xs, ys = [], []
    for pos_c, neg_c, var, n_pos, n_neg in (([0, 1.0], [0, -0.5], 0.15, 500, 3000),
                                             ([1, -0.5], [1, 1.0], 0.1, 50, 100)):
        xs += [var * rng.standard_normal((n_pos, 2)) + pos_c,
               var * rng.standard_normal((n_neg, 2)) + neg_c]
        ys += [np.ones(n_pos), np.zeros(n_neg)]
    return np.concatenate(xs).astype("float32"), np.concatenate(ys).astype("float32")[:, None]


def precision_at_recall(scores: np.ndarray, labels: np.ndarray, recall: float) -> float:
    scores, labels = scores.ravel(), labels.ravel()
    threshold = np.percentile(scores[labels == 1], 100 - 100 * recall)
    predicted = scores >= threshold
    return float((predicted & (labels == 1)).sum() / predicted.sum())


def train_cluster_model(mode: str, seed: int = 0) -> float:
    """The original's setup: linear model from w = (−1, −1), 150 full-batch steps. ``mode``:
    ``"paper_sgd"`` (SGD from rate 1.0 decaying linearly, one optimizer for the model and the
    duals with rate factor 15: the gradient-reversal recipe), ``"adam"`` (the loss-owned
    default, Adam 0.01: what a user writes first) or ``"xent"`` (cross-entropy, the paper's
    SGD). Returns the precision at recall 0.98 on fresh data."""
    rng = np.random.default_rng(seed)
    x, y = cluster_data(rng)
    x_eval, y_eval = cluster_data(rng)
    keras.utils.set_random_seed(seed)
    model = _linear_model(2, 1, kernel=-1.0)
    optimizer = keras.optimizers.SGD(
        keras.optimizers.schedules.PolynomialDecay(1.0, 150, 1.0 / 150, power=1.0))
    jit = BACKEND != "torch"
    if mode == "xent":
        model.compile(optimizer=optimizer, jit_compile=jit,
                      loss=keras.losses.BinaryCrossentropy(from_logits=True))
    else:
        loss = (mk.PrecisionAtRecallLoss(0.98, dual_update="gradient_reversal",
                                         dual_rate_factor=15.0, from_logits=True)
                if mode == "paper_sgd" else mk.PrecisionAtRecallLoss(0.98, from_logits=True))
        model = mk.attach(model, loss)
        model.compile(optimizer=optimizer if mode == "paper_sgd" else
                      keras.optimizers.Adam(0.01), jit_compile=jit)
    steps = 150  # one epoch of 150 full batches: far cheaper than 150 epochs
    model.fit(np.tile(x, (steps, 1)), np.tile(y, (steps, 1)), batch_size=len(x), epochs=1,
              shuffle=False, verbose=0)
    return precision_at_recall(model.predict(x_eval, batch_size=len(x_eval), verbose=0),
                               y_eval, 0.98)


def test_precision_at_recall_loss_beats_cross_entropy_on_held_out_data() -> None:
    paper, adam = train_cluster_model("paper_sgd"), train_cluster_model("adam")
    xent = train_cluster_model("xent")
    print(f"\n[{BACKEND}] precision at recall 0.98 on fresh data: PrecisionAtRecallLoss "
          f"{paper:.3f} (paper's SGD, gradient reversal), {adam:.3f} (Adam, loss-owned duals); "
          f"cross-entropy {xent:.3f}")
    assert paper >= 0.75
    assert adam >= 0.75
    assert xent <= 0.3


# --------------------------------------------------------------------------------------------
# documentation examples
# --------------------------------------------------------------------------------------------


def _read(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def _examples() -> list[tuple[str, str]]:
    blocks = []
    readme = _read(ROOT / "README.md")
    keras_section = readme.split("## Keras", 1)[1] if "## Keras" in readme else ""
    for source, text in (("README.md", keras_section),
                         ("docs/keras.md", _read(ROOT / "docs" / "keras.md"))):
        blocks += [(source, b) for b in re.findall(r"```py(?:thon)?\n(.*?)```", text, flags=re.S)]
    return blocks


@pytest.mark.parametrize("index", range(len(_examples())))
def test_documentation_examples_run(index: int) -> None:
    source, code = _examples()[index]
    if re.search(r"^import tensorflow", code, flags=re.M) and BACKEND != "tensorflow":
        pytest.skip("a tf.GradientTape example")
    exec(compile(code, f"{source} Keras block {index}", "exec"), {})


# --------------------------------------------------------------------------------------------
# segmentation losses: channels-last, integer masks, Keras' fit with a partial last batch
# --------------------------------------------------------------------------------------------


def _segmentation_data(seed: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=2.0, size=(4, 5, 6, 3)).astype("float32")  # (N, H, W, C)
    masks = rng.integers(0, 3, size=(4, 5, 6))
    masks[0, 0, :2] = 255
    binary = (rng.random((4, 5, 6, 1)) < 0.4).astype("float32")
    return logits, masks, binary


def _softmax_last(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(-1, keepdims=True))
    return (e / e.sum(-1, keepdims=True)).astype("float32")


SEGMENTATION = {
    # id -> (Keras loss, core function of the logits, y_pred holds probabilities)
    "tversky_probs": (lambda: mk.TverskyLoss(alpha=0.3, beta=0.7, multiclass=True,
                                             ignore_index=255),
                      lambda z, t, b: metricloss.tversky_loss(z, t, alpha=0.3, beta=0.7,
                                                              multiclass=True, axis=-1,
                                                              ignore_index=255), True),
    "lovasz_softmax_probs": (lambda: mk.LovaszSoftmaxLoss(ignore_index=255, per_image=True),
                             lambda z, t, b: metricloss.lovasz_softmax_loss(
                                 z, t, ignore_index=255, per_image=True, axis=-1), True),
    "lovasz_hinge_logits": (lambda: mk.LovaszHingeLoss(from_logits=True),
                            lambda z, t, b: metricloss.lovasz_hinge_loss(z[..., :1], b,
                                                                         axis=-1), False),
}


@pytest.mark.parametrize("case", list(SEGMENTATION))
def test_segmentation_losses_equal_core_channels_last(case: str) -> None:
    make, core, probabilities = SEGMENTATION[case]
    logits, masks, binary = _segmentation_data()
    loss = make()
    if probabilities:
        y_pred, target = _softmax_last(logits), masks
        value, grad = _value_and_grad(lambda p: loss(_t(target), p), y_pred)
        # the core from the logits: the softmax's chain rule, compared on values only
        expected = _np(core(_t(logits), _t(masks), _t(binary)))
        np.testing.assert_allclose(value, expected, rtol=RTOL, atol=ATOL)
        assert np.all(np.isfinite(grad)) and np.any(grad != 0)
    else:
        value, grad = _value_and_grad(lambda z: loss(_t(binary), z[..., :1]), logits)
        expected, g_core = _value_and_grad(lambda z: core(z, _t(masks), _t(binary)), logits)
        np.testing.assert_allclose(value, expected, rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(grad, g_core, rtol=1e-4, atol=1e-6)


def test_lovasz_softmax_fit_with_a_partial_last_batch() -> None:
    keras.utils.set_random_seed(3)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(7, 6, 6, 2)).astype("float32")
    masks = (x[..., 0] > 0).astype("int32") + (x[..., 1] > 1).astype("int32")
    inp = keras.Input((6, 6, 2))
    out = keras.layers.Conv2D(3, 1, activation="softmax")(inp)
    model = keras.Model(inp, out)
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss=mk.LovaszSoftmaxLoss(),
                  jit_compile=BACKEND != "torch")
    history = model.fit(x, masks, batch_size=3, epochs=3, verbose=0, shuffle=False)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]


# AUC-M: a, b, α owned by the loss, one step of the pure dynamics per fit batch
# --------------------------------------------------------------------------------------------


def test_auc_m_fit_stores_one_step_of_the_pure_dynamics_and_evaluate_freezes_it(
        tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    x = rng.normal(size=(B, 4)).astype("float32")
    labels = (rng.random((B, L)) < 0.3).astype("float32")
    labels[0], labels[1] = 1.0, 0.0
    loss = mk.AUCMLoss(num_labels=L, from_logits=True, alpha_rate=0.5, ab_momentum=0.5)
    model = mk.attach(_linear_model(4, L), loss)
    model.compile(optimizer=keras.optimizers.SGD(0.0))  # the logits stay as they are
    assert not any(v is loss.alpha for v in model.trainable_variables)
    logits = _np(model.predict(x, verbose=0)).astype(np.float64)
    core = metricloss.auc_m_loss(logits, labels, a=0.0, b=0.0, alpha=0.0)
    history = model.fit(x, labels, batch_size=B, epochs=1, verbose=0, shuffle=False)
    np.testing.assert_allclose(history.history["loss"][0], core, rtol=1e-5)
    g = metricloss.auc_m_alpha_gradient(logits, labels, alpha=np.zeros(L))
    alpha = metricloss.dual_step(np.zeros(L), g, rate=0.5, max_value=999.0)
    a, b = metricloss.update_auc_m_means(np.zeros(L), np.zeros(L), logits, labels,
                                         momentum=0.5)
    for variable, expected in ((loss.alpha, alpha), (loss.a, a), (loss.b, b)):
        np.testing.assert_allclose(_np(variable), expected, rtol=1e-5, atol=1e-7)
    model.evaluate(x, labels, batch_size=B, verbose=0)
    np.testing.assert_allclose(_np(loss.alpha), alpha, rtol=1e-5, atol=1e-7)
    model.save(tmp_path / "m.keras")
    restored = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(_np(restored.metric_loss.alpha), alpha, rtol=1e-6)
    assert restored.metric_loss.get_config() == loss.get_config()
