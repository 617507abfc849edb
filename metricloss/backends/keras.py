"""Keras 3 losses: the metricloss core in Keras' order and conventions, on every Keras backend.

Keras calls a loss as ``loss(y_true, y_pred, sample_weight)``; the core takes
``(logits, labels, *, weights=...)``. The classes here take Keras' order and Keras' conventions
and call the core with the backend's native tensors (TensorFlow, JAX or PyTorch; the core finds
the array namespace itself):

- ``from_logits=False`` by default, as every Keras probabilistic loss: ``y_pred`` holds
  probabilities, turned into logits where the math needs them (the logits of a Keras
  ``sigmoid`` activation when TensorFlow kept them, else ``log(p) − log(1−p)`` of ``p``
  clipped to ``[ε, 1−ε]``, ``ε = keras.config.epsilon()``, as Keras' binary cross-entropy
  does). Pass ``from_logits=True`` for a linear output layer (recommended).
- ``reduction``: Keras' names. ``"sum_over_batch_size"`` (default) and ``"mean"`` are the
  mean over what ``"none"`` returns, ``"sum"`` its sum. ``"none"`` returns the per-example loss
  ``(B,)`` for the multi-label cross-entropy (ZLPR) and the per-element loss (the shape of
  ``y_pred``) for the global objectives. The soft confusion-matrix losses (sigmoidF1, AnyLoss)
  are one number per batch and accept only the default (use ``average="none"`` for the
  per-label losses).
- ``sample_weight`` is routed into the core's ``weights=`` (it enters the soft counts, the
  bounds and the label priors), never multiplied onto a batch-level loss. For the per-example
  ZLPR losses it weights each example's loss, as in every Keras loss.
- ``get_config``/``from_config`` and ``keras.saving`` registration (package ``"metricloss"``).

**The constrained losses** (recall at precision, precision at recall, the two rate losses,
PR-AUC) own state: a trainable dual variable per label (per label and anchor for PR-AUC, plus a
trainable bias) and the non-trainable running label priors. A ``keras.losses.Loss`` cannot own
variables, so these classes are ``keras.layers.Layer`` s (that are also ``keras.losses.Loss``
instances, so that ``compile`` hands them ``sample_weight``). The model must track them, so
that its optimizer trains the duals and ``fit`` updates the priors; :func:`attach` does that in
one line::

    loss = PrecisionAtRecallLoss(target_recall=0.98, from_logits=True)
    model = attach(model, loss)            # a keras.Model that owns the loss's variables
    model.compile(optimizer="sgd")         # the attached loss is the default loss
    model.fit(x, y)                        # one optimizer: descends on the weights, ascends on λ
    model.save("m.keras"); keras.saving.load_model("m.keras")  # duals and priors restored

A constrained loss that no model tracks raises on first use (training with frozen duals would
silently optimise the wrong objective). The same attached model works in a hand-written
``tf.GradientTape`` loop: take the gradient with respect to ``model.trainable_variables``,
which holds the duals.

Do not pass the core functions to ``model.compile(loss=...)``: Keras would call them as
``f(y_true, y_pred)``, the reverse of the core's ``(logits, labels)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

from metricloss import confusion as _confusion
from metricloss import crossentropy as _crossentropy
from metricloss import global_objectives as _go

__all__ = [
    "AnyLoss",
    "ConfusionMetricLoss",
    "FalsePositiveRateAtTruePositiveRateLoss",
    "ModelWithLoss",
    "MultilabelCategoricalCrossentropy",
    "PrecisionAtRecallLoss",
    "PrecisionRecallAUCLoss",
    "ROCAUCLoss",
    "RecallAtPrecisionLoss",
    "SigmoidF1Loss",
    "SparseMultilabelCategoricalCrossentropy",
    "TruePositiveRateAtFalsePositiveRateLoss",
    "attach",
]

_PACKAGE = "metricloss"
_register = keras.saving.register_keras_serializable(package=_PACKAGE)

# Keras reduction name -> the core's.
_REDUCTIONS: dict[str | None, str] = {
    "sum_over_batch_size": "mean",
    "mean": "mean",
    "sum": "sum",
    "none": "none",
    None: "none",
}


# --------------------------------------------------------------------------------------------
# Conversions (Keras conventions -> the core's inputs)
# --------------------------------------------------------------------------------------------


def _check_reduction(reduction: Any, allowed: Sequence[Any] = tuple(_REDUCTIONS)) -> Any:
    if reduction not in allowed:
        raise ValueError(f"reduction must be one of {sorted(map(str, allowed))}, got "
                         f"{reduction!r}")
    return reduction


def _check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__}")
    return value


def _tensor(x: Any, dtype: Any = None) -> Any:
    """The backend's native tensor (tf.Tensor, jax.Array, torch.Tensor) of ``x``."""
    return ops.convert_to_tensor(x, dtype=dtype)


def _read(variable: Any) -> Any:
    """A Keras variable's current value as a native tensor (gradients flow to the variable)."""
    return _tensor(variable.value)


def _logits(y_pred: Any, from_logits: bool, dtype: Any) -> Any:
    """Logits from ``y_pred``: as they are, or from probabilities (as Keras' BCE does)."""
    if from_logits:
        return _tensor(y_pred, dtype)
    kept = getattr(y_pred, "_keras_logits", None)  # set by keras.activations.sigmoid (TF)
    if kept is not None:
        return _tensor(kept, dtype)
    eps = keras.config.epsilon()
    p = ops.clip(_tensor(y_pred, dtype), eps, 1.0 - eps)
    return ops.log(p) - ops.log1p(-p)


def _match_rank(y_true: Any, y_pred: Any) -> Any:
    """``y_true`` in ``y_pred``'s rank when they differ by a trailing axis of size 1."""
    t, p = len(y_true.shape), len(y_pred.shape)
    if t == p - 1 and y_pred.shape[-1] == 1:
        return ops.expand_dims(y_true, -1)
    if t == p + 1 and y_true.shape[-1] == 1:
        return ops.squeeze(y_true, -1)
    return y_true


def _weights(sample_weight: Any, dtype: Any) -> Any:
    return None if sample_weight is None else _tensor(sample_weight, dtype)


def _reduce_per_example(values: Any, sample_weight: Any, reduction: Any) -> Any:
    """Keras' weighting and reduction of a per-example loss ``(B,)``."""
    if sample_weight is not None:
        w = _tensor(sample_weight, values.dtype)
        if len(w.shape) > 1:
            w = ops.reshape(w, (-1,))
        values = values * w
    if reduction in ("sum_over_batch_size", "mean"):
        return ops.mean(values) if values.shape[0] != 0 else ops.sum(values)
    if reduction == "sum":
        return ops.sum(values)
    return values


def _config_value(value: Any) -> Any:
    """A constructor argument as plain Python (per-label arrays as lists)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, tuple | list):
        return [_config_value(v) for v in value]
    return [float(v) for v in ops.convert_to_numpy(value).reshape(-1)]


# --------------------------------------------------------------------------------------------
# Stateless losses (keras.losses.Loss)
# --------------------------------------------------------------------------------------------


class _StatelessLoss(keras.losses.Loss):
    """Shared: Keras order, ``from_logits``, ``sample_weight`` into the core's ``weights``."""

    _reductions: tuple[Any, ...] = tuple(_REDUCTIONS)

    def __init__(self, *, from_logits: bool = False, reduction: Any = "sum_over_batch_size",
                 name: str | None = None, dtype: Any = None) -> None:
        super().__init__(name=name, reduction=_check_reduction(reduction, self._reductions),
                         dtype=dtype)
        self.from_logits = _check_bool("from_logits", from_logits)

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Any:
        with keras.name_scope(self.name):
            logits = self._inputs(y_pred)
            labels = _match_rank(self._labels(y_true), logits)
            return self._compute(labels, logits, _weights(sample_weight, self.dtype))

    def call(self, y_true: Any, y_pred: Any) -> Any:
        """The loss without ``sample_weight`` (Keras' ``Loss.call``)."""
        return self(y_true, y_pred)

    def _inputs(self, y_pred: Any) -> Any:
        return _logits(y_pred, self.from_logits, self.dtype)

    def _labels(self, y_true: Any) -> Any:
        return _tensor(y_true)

    def _compute(self, labels: Any, logits: Any, weights: Any) -> Any:  # pragma: no cover
        raise NotImplementedError

    def _options(self) -> dict[str, Any]:
        return {}

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "from_logits": self.from_logits,
                **{k: _config_value(v) for k, v in self._options().items()}}


class _ConfusionLoss(_StatelessLoss):
    _reductions = ("sum_over_batch_size", "mean")  # one number per batch: nothing to reduce

    def __init__(self, *, reduction: Any = "sum_over_batch_size", **kwargs: Any) -> None:
        if reduction not in self._reductions:
            raise ValueError(
                f"reduction must be 'sum_over_batch_size' for {type(self).__name__}, got "
                f"{reduction!r}: the loss is one number per batch (average='none' gives the "
                f"per-label losses)")
        super().__init__(reduction=reduction, **kwargs)


@_register
class ConfusionMetricLoss(_ConfusionLoss):
    """``1 − metric`` of the soft confusion matrix, for any confusion-matrix metric.

    Keras form of :func:`metricloss.confusion_metric_loss` (same keywords, same math):
    ``loss(y_true, y_pred, sample_weight)``, with ``sample_weight`` (``(B,)`` or ``(B, L)``)
    entering the soft counts as the core's ``weights``. ``from_logits=False`` (default):
    ``y_pred`` holds probabilities (for ``transform="anyloss"`` they are used directly; for
    ``"sigmoid"`` converted to logits).

    Example:
        >>> loss = ConfusionMetricLoss(metric="jaccard", from_logits=True)  # doctest: +SKIP
        >>> model.compile(optimizer="adam", loss=loss)  # doctest: +SKIP
    """

    def __init__(self, metric: str = "f1", *, beta: float = 1.0, transform: str = "sigmoid",
                 average: str = "macro", slope: float = 1.0, offset: float = 0.0,
                 amplifier: float = 73.0, eps: float = 1e-7, from_logits: bool = False,
                 reduction: Any = "sum_over_batch_size", name: str | None = None,
                 dtype: Any = None) -> None:
        super().__init__(from_logits=from_logits, reduction=reduction, name=name, dtype=dtype)
        self.metric, self.beta, self.transform, self.average = metric, beta, transform, average
        self.slope, self.offset, self.amplifier, self.eps = slope, offset, amplifier, eps
        # Validate every option now, with the core's own checks, on a one-element batch.
        import numpy as np
        _confusion.confusion_metric_loss(np.zeros((1, 1)), np.zeros((1, 1)),
                                         **self._core_options())

    def _core_options(self) -> dict[str, Any]:
        return {"metric": self.metric, "beta": self.beta, "transform": self.transform,
                "average": self.average, "slope": self.slope, "offset": self.offset,
                "amplifier": self.amplifier, "eps": self.eps}

    def _options(self) -> dict[str, Any]:
        return self._core_options()

    def _inputs(self, y_pred: Any) -> Any:
        if self.transform == "anyloss" and not self.from_logits:
            return _tensor(y_pred, self.dtype)  # the core takes probabilities directly
        return super()._inputs(y_pred)

    def _compute(self, labels: Any, logits: Any, weights: Any) -> Any:
        from_logits = self.from_logits or self.transform != "anyloss"
        return _confusion.confusion_metric_loss(logits, labels, weights=weights,
                                                from_logits=from_logits, **self._core_options())


@_register
class SigmoidF1Loss(ConfusionMetricLoss):
    """sigmoidF1: ``1 − F_β`` of the soft confusion matrix, ``p = σ(slope·(z + offset))``.

    Keras form of :func:`metricloss.sigmoid_f1_loss` (Bénédict et al. 2022). With
    ``from_logits=False`` and the default ``slope``/``offset`` the soft predictions are
    ``y_pred`` itself.
    """

    def __init__(self, *, beta: float = 1.0, slope: float = 1.0, offset: float = 0.0,
                 average: str = "macro", eps: float = 1e-7, from_logits: bool = False,
                 reduction: Any = "sum_over_batch_size", name: str | None = None,
                 dtype: Any = None) -> None:
        super().__init__("fbeta" if beta != 1.0 else "f1", beta=beta, slope=slope,
                         offset=offset, average=average, eps=eps, from_logits=from_logits,
                         reduction=reduction, name=name, dtype=dtype)

    def _options(self) -> dict[str, Any]:
        return {"beta": self.beta, "slope": self.slope, "offset": self.offset,
                "average": self.average, "eps": self.eps}


@_register
class AnyLoss(ConfusionMetricLoss):
    """AnyLoss: ``1 − metric`` of the confusion matrix of amplified probabilities.

    Keras form of :func:`metricloss.any_loss` (Han et al. 2024): ``p = σ(amplifier·(q − ½))``
    with ``q = y_pred`` (probabilities, ``from_logits=False``, default) or ``σ(y_pred)``.
    """

    def __init__(self, metric: str = "f1", *, amplifier: float = 73.0, average: str = "macro",
                 beta: float = 1.0, eps: float = 1e-7, from_logits: bool = False,
                 reduction: Any = "sum_over_batch_size", name: str | None = None,
                 dtype: Any = None) -> None:
        super().__init__(metric, beta=beta, transform="anyloss", average=average,
                         amplifier=amplifier, eps=eps, from_logits=from_logits,
                         reduction=reduction, name=name, dtype=dtype)

    def _options(self) -> dict[str, Any]:
        return {"metric": self.metric, "amplifier": self.amplifier, "average": self.average,
                "beta": self.beta, "eps": self.eps}


@_register
class MultilabelCategoricalCrossentropy(_StatelessLoss):
    """Multi-label categorical cross-entropy (ZLPR), per example, Keras-reduced.

    Keras form of :func:`metricloss.multilabel_categorical_crossentropy`: ``"none"`` gives the
    per-example loss ``(B,)``; ``sample_weight`` ``(B,)`` weights each example's loss (Keras'
    rule for per-example losses). A label is predicted positive iff its logit is ``> 0`` (its
    probability ``> 0.5``). The loss is defined on logits: prefer a linear output layer and
    ``from_logits=True``.
    """

    def _compute(self, labels: Any, logits: Any, weights: Any) -> Any:
        per = _crossentropy.multilabel_categorical_crossentropy(logits, labels, reduction="none")
        return _reduce_per_example(per, weights, self.reduction)


@_register
class SparseMultilabelCategoricalCrossentropy(_StatelessLoss):
    """ZLPR with the positives as index lists: ``y_true`` integer ``(B, P)``, padded.

    Keras form of :func:`metricloss.sparse_multilabel_categorical_crossentropy`; equal to
    :class:`MultilabelCategoricalCrossentropy` on the same data, without a dense label array.
    """

    def __init__(self, *, pad_index: int = -1, from_logits: bool = False,
                 reduction: Any = "sum_over_batch_size", name: str | None = None,
                 dtype: Any = None) -> None:
        super().__init__(from_logits=from_logits, reduction=reduction, name=name, dtype=dtype)
        if isinstance(pad_index, bool) or not isinstance(pad_index, int):
            raise TypeError(f"pad_index must be an int, got {type(pad_index).__name__}")
        self.pad_index = pad_index

    def _options(self) -> dict[str, Any]:
        return {"pad_index": self.pad_index}

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Any:
        with keras.name_scope(self.name):
            logits = self._inputs(y_pred)
            indices = _tensor(y_true)
            if not keras.backend.is_int_dtype(indices.dtype):
                indices = ops.cast(indices, "int32")
            per = _crossentropy.sparse_multilabel_categorical_crossentropy(
                logits, indices, pad_index=self.pad_index, reduction="none")
            return _reduce_per_example(per, sample_weight, self.reduction)


@_register
class ROCAUCLoss(_StatelessLoss):
    """A pairwise surrogate of ``1 − ROC-AUC`` (no dual variable): Keras form of
    :func:`metricloss.roc_auc_loss`. ``sample_weight`` enters each pair's weight ``w_p·w_n``;
    ``"none"`` gives the per-element loss."""

    def __init__(self, *, surrogate: str = "xent", method: str = "pairwise",
                 chunk_size: int | None = None, from_logits: bool = False,
                 reduction: Any = "sum_over_batch_size", name: str | None = None,
                 dtype: Any = None) -> None:
        super().__init__(from_logits=from_logits, reduction=reduction, name=name, dtype=dtype)
        self.surrogate, self.method, self.chunk_size = surrogate, method, chunk_size

    def _options(self) -> dict[str, Any]:
        return {"surrogate": self.surrogate, "method": self.method,
                "chunk_size": self.chunk_size}

    def _compute(self, labels: Any, logits: Any, weights: Any) -> Any:
        out = _go.roc_auc_loss(logits, labels, weights=weights,
                               reduction=_REDUCTIONS[self.reduction], **self._options())
        return _loss_only(out)


def _loss_only(out: Any) -> Any:
    """The loss of a core result: ``loss`` or (before ``return_aux``) ``(loss, aux)``."""
    return out[0] if isinstance(out, tuple) else out


# --------------------------------------------------------------------------------------------
# Constrained losses (Layer + Loss: they own trainable duals and non-trainable priors)
# --------------------------------------------------------------------------------------------


def _initial_priors(num_labels: int) -> tuple[Any, Any]:
    import array_api_compat.numpy as np_xp
    state = _go.label_priors_init(num_labels, xp=np_xp, dtype=np_xp.float32)
    return state[0], state[1]


def _update_priors(counts: Any, weight_sum: Any, labels: Any, weights: Any) -> tuple[Any, ...]:
    """``(counts, weight_sum, priors)`` after this batch, with the core's pure update."""
    state_type = getattr(_go, "LabelPriorState", None)
    if state_type is not None:
        new = _go.update_label_priors(state_type(counts, weight_sum), labels, weights=weights)
        return new.counts, new.weight_sum, new.priors
    return _go.update_label_priors(counts, weight_sum, labels, weights=weights)


class _UntrackedLossError(RuntimeError):
    pass


class _ConstrainedLoss(keras.layers.Layer, keras.losses.Loss):
    """Shared by the constrained losses: the variables, the forward, the config."""

    _core: Any = None  # the core function
    _targets: tuple[str, ...] = ()  # the core's target keyword(s)

    def __init__(self, *, num_labels: int = 1, dual_rate_factor: float = 0.1,
                 lambdas_init: float = 1.0, label_priors: Any = None, surrogate: str = "xent",
                 from_logits: bool = False, reduction: Any = "sum_over_batch_size",
                 name: str | None = None, dtype: Any = None, **kwargs: Any) -> None:
        keras.layers.Layer.__init__(self, name=name, dtype=dtype or "float32", autocast=False,
                                    **kwargs)
        if isinstance(num_labels, bool) or not isinstance(num_labels, int) or num_labels < 1:
            raise ValueError(f"num_labels must be an integer ≥ 1, got {num_labels!r}")
        for key, value in (("dual_rate_factor", dual_rate_factor),
                           ("lambdas_init", lambdas_init)):
            if (isinstance(value, bool) or not isinstance(value, int | float)
                    or not math.isfinite(value) or value < 0):
                raise ValueError(f"{key} must be a finite number ≥ 0, got {value!r}")
        self.num_labels = num_labels
        self.dual_rate_factor = float(dual_rate_factor)
        self.lambdas_init = float(lambdas_init)
        self.label_priors = label_priors
        self.surrogate = surrogate
        self.from_logits = _check_bool("from_logits", from_logits)
        self.reduction = _check_reduction(reduction)
        self._attached = False
        self._training = True
        self.dual = self.add_weight(
            name="dual", shape=self._dual_shape(),
            initializer=keras.initializers.Constant(self.lambdas_init), trainable=True)
        if label_priors is None:
            counts, weight_sum = _initial_priors(num_labels)
            self.label_prior_counts = self.add_weight(
                name="label_prior_counts", shape=(num_labels,),
                initializer=keras.initializers.Constant(counts.tolist()), trainable=False)
            self.label_prior_weight_sum = self.add_weight(
                name="label_prior_weight_sum", shape=(num_labels,),
                initializer=keras.initializers.Constant(weight_sum.tolist()), trainable=False)
        self.built = True

    # the pieces a subclass sets -------------------------------------------------------------

    def _dual_shape(self) -> tuple[int, ...]:
        return (self.num_labels,)

    def _target_options(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self._targets}

    def _extra_core_args(self) -> dict[str, Any]:
        return {}

    # Keras' loss protocol -------------------------------------------------------------------

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None,
                 training: bool | None = None) -> Any:
        return keras.layers.Layer.__call__(self, y_true, y_pred, sample_weight=sample_weight,
                                           training=training)

    def call(self, y_true: Any, y_pred: Any, sample_weight: Any = None,
             training: bool | None = None) -> Any:
        if not self._attached:
            raise _UntrackedLossError(
                f"{type(self).__name__} owns trainable dual variables and running label "
                f"priors, which only a model that tracks the loss trains and updates. Attach "
                f"it first: `model = metricloss.backends.keras.attach(model, loss)`, then "
                f"`model.compile(optimizer=...)` (the attached loss is the default loss). "
                f"Training without it would keep the duals frozen.")
        dtype = self.variable_dtype
        logits = _logits(y_pred, self.from_logits, dtype)
        width = 1 if len(logits.shape) == 1 else logits.shape[-1]
        if width is not None and width != self.num_labels:
            raise ValueError(f"num_labels={self.num_labels} does not match y_pred of shape "
                             f"{tuple(logits.shape)} ({width} labels)")
        labels = _match_rank(_tensor(y_true), logits)
        weights = _weights(sample_weight, dtype)
        lambdas = _go.dual_value(_read(self.dual), self.dual_rate_factor, ops.stop_gradient)
        priors = self._priors(labels, weights, self._training if training is None else training)
        out = type(self)._core(
            logits, labels, lambdas=lambdas, label_priors=priors, weights=weights,
            surrogate=self.surrogate, reduction=_REDUCTIONS[self.reduction],
            **self._target_options(), **self._extra_core_args())
        return _loss_only(out)

    def _priors(self, labels: Any, weights: Any, training: bool) -> Any:
        if self.label_priors is not None:
            return self.label_priors
        counts = _read(self.label_prior_counts)
        weight_sum = _read(self.label_prior_weight_sum)
        if not training:
            return counts / weight_sum
        labels = ops.stop_gradient(labels)
        if len(labels.shape) == 2 and self.num_labels == 1 and labels.shape[-1] == 1:
            labels = ops.reshape(labels, (-1,))
        counts, weight_sum, priors = _update_priors(
            counts, weight_sum, labels, None if weights is None else ops.stop_gradient(weights))
        self.label_prior_counts.assign(counts)
        self.label_prior_weight_sum.assign(weight_sum)
        return priors

    @property
    def lambdas(self) -> Any:
        """The current dual values ``λ = |v|`` (a backend tensor)."""
        return ops.abs(self.dual)

    @property
    def priors(self) -> Any:
        """The label priors in use: the running estimate, or the fixed ``label_priors``."""
        if self.label_priors is not None:
            return self.label_priors
        return self.label_prior_counts / self.label_prior_weight_sum

    def compute_output_spec(self, y_true: Any, y_pred: Any, sample_weight: Any = None,
                            training: bool | None = None) -> Any:
        shape = tuple(y_pred.shape) if self.reduction in ("none", None) else ()
        return keras.KerasTensor(shape, dtype=self.variable_dtype)

    def get_config(self) -> dict[str, Any]:
        config = {
            "name": self.name, "dtype": self.dtype_policy.name, "num_labels": self.num_labels,
            "dual_rate_factor": self.dual_rate_factor, "lambdas_init": self.lambdas_init,
            "label_priors": _config_value(self.label_priors), "surrogate": self.surrogate,
            "from_logits": self.from_logits, "reduction": self.reduction,
        }
        config.update({k: _config_value(v) for k, v in self._target_options().items()})
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Any:
        return cls(**config)

    def _obj_type(self) -> str:
        return "Layer"


@_register
class RecallAtPrecisionLoss(_ConstrainedLoss):
    """Maximise recall subject to precision ≥ ``target_precision`` (Eban et al. 2017).

    Keras form of :func:`metricloss.recall_at_precision_loss`, owning its dual variables
    (trainable, one per label, initial ``lambdas_init``; ``λ = |v|`` in gradient-reversal form
    so the model's optimizer ascends on them at ``dual_rate_factor`` times its rate) and the
    running label priors (non-trainable, updated by ``fit``). Use it through :func:`attach`.
    """

    _core = staticmethod(_go.recall_at_precision_loss)
    _targets = ("target_precision",)

    def __init__(self, target_precision: Any, **kwargs: Any) -> None:
        self.target_precision = target_precision
        super().__init__(**kwargs)


@_register
class PrecisionAtRecallLoss(_ConstrainedLoss):
    """Maximise precision subject to recall ≥ ``target_recall``: Keras form of
    :func:`metricloss.precision_at_recall_loss` (state as :class:`RecallAtPrecisionLoss`)."""

    _core = staticmethod(_go.precision_at_recall_loss)
    _targets = ("target_recall",)

    def __init__(self, target_recall: Any, **kwargs: Any) -> None:
        self.target_recall = target_recall
        super().__init__(**kwargs)


@_register
class FalsePositiveRateAtTruePositiveRateLoss(_ConstrainedLoss):
    """Minimise the false positive rate subject to TPR ≥ ``target_rate``: Keras form of
    :func:`metricloss.false_positive_rate_at_true_positive_rate_loss`."""

    _core = staticmethod(_go.false_positive_rate_at_true_positive_rate_loss)
    _targets = ("target_rate",)

    def __init__(self, target_rate: Any, **kwargs: Any) -> None:
        self.target_rate = target_rate
        super().__init__(**kwargs)


@_register
class TruePositiveRateAtFalsePositiveRateLoss(_ConstrainedLoss):
    """Maximise the true positive rate subject to FPR ≤ ``target_rate``: Keras form of
    :func:`metricloss.true_positive_rate_at_false_positive_rate_loss`."""

    _core = staticmethod(_go.true_positive_rate_at_false_positive_rate_loss)
    _targets = ("target_rate",)

    def __init__(self, target_rate: Any, **kwargs: Any) -> None:
        self.target_rate = target_rate
        super().__init__(**kwargs)


@_register
class PrecisionRecallAUCLoss(_ConstrainedLoss):
    """The area under the precision-recall curve over ``precision_range``: Keras form of
    :func:`metricloss.precision_recall_auc_loss`, owning duals and biases of shape
    ``(num_labels, num_anchors)`` (both trainable; biases start at 0)."""

    _core = staticmethod(_go.precision_recall_auc_loss)
    _targets = ("precision_range", "num_anchors")

    def __init__(self, precision_range: Sequence[float] = (0.0, 1.0), num_anchors: int = 20,
                 **kwargs: Any) -> None:
        if isinstance(num_anchors, bool) or not isinstance(num_anchors, int) or num_anchors < 1:
            raise ValueError(f"num_anchors must be an integer ≥ 1, got {num_anchors!r}")
        self.precision_range = tuple(float(v) for v in precision_range)
        self.num_anchors = num_anchors
        super().__init__(**kwargs)
        self.biases = self.add_weight(name="biases", shape=self._dual_shape(),
                                      initializer="zeros", trainable=True)

    def _dual_shape(self) -> tuple[int, ...]:
        return (self.num_labels, self.num_anchors)

    def _extra_core_args(self) -> dict[str, Any]:
        return {"biases": _read(self.biases)}


# --------------------------------------------------------------------------------------------
# Attaching a constrained loss to a model
# --------------------------------------------------------------------------------------------


@_register
class ModelWithLoss(keras.Model):
    """A model together with the constrained loss that trains it (made by :func:`attach`).

    Calls ``model`` unchanged; tracks ``loss`` so that its duals (and PR-AUC biases) are in
    ``trainable_variables`` (the compiled optimizer trains them, with the model's weights) and
    its label priors in ``non_trainable_variables`` (``fit`` updates them; ``evaluate`` and
    ``predict`` do not). ``compile`` uses the attached loss unless given another. Saved and
    loaded whole by ``model.save`` / ``keras.saving.load_model``.
    """

    def __init__(self, model: keras.Model, loss: _ConstrainedLoss, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(model, keras.layers.Layer):
            raise TypeError(f"model must be a keras.Model, got {type(model).__name__}")
        if not isinstance(loss, _ConstrainedLoss):
            raise TypeError(f"loss must be a metricloss constrained loss (e.g. "
                            f"PrecisionAtRecallLoss), got {type(loss).__name__}")
        self.model = model
        self.metric_loss = loss
        loss._attached = True

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        return self.model(inputs, training=training)

    def compile(self, optimizer: Any = "rmsprop", loss: Any = None, **kwargs: Any) -> None:
        super().compile(optimizer=optimizer,
                        loss=self.metric_loss if loss is None else loss, **kwargs)

    def compute_loss(self, x: Any = None, y: Any = None, y_pred: Any = None,
                     sample_weight: Any = None, training: bool = True) -> Any:
        # Keras does not tell a compiled loss whether it trains: the priors advance in
        # train_step only (read when the step is traced, or per call when eager).
        previous, self.metric_loss._training = self.metric_loss._training, bool(training)
        try:
            return super().compute_loss(x, y, y_pred, sample_weight, training=training)
        finally:
            self.metric_loss._training = previous

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(),
                "model": keras.saving.serialize_keras_object(self.model),
                "loss": keras.saving.serialize_keras_object(self.metric_loss)}

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: Any = None) -> Any:
        config = dict(config)
        model = keras.saving.deserialize_keras_object(config.pop("model"),
                                                      custom_objects=custom_objects)
        loss = keras.saving.deserialize_keras_object(config.pop("loss"),
                                                     custom_objects=custom_objects)
        return cls(model, loss, **config)

    def compile_from_config(self, config: dict[str, Any]) -> None:
        # The saved loss is this model's own (restored with its weights), not a fresh copy.
        config = keras.saving.deserialize_keras_object(config)
        config["loss"] = self.metric_loss
        self.compile(**config)
        if getattr(self, "optimizer", None) is not None and self.built:
            self.optimizer.build(self.trainable_variables)

    def build(self, input_shape: Any) -> None:
        if not self.model.built:
            # A symbolic call builds any model, subclassed ones included.
            self.model(keras.tree.map_shape_structure(keras.KerasTensor, input_shape))
        self.built = True


def attach(model: keras.Model, loss: _ConstrainedLoss) -> ModelWithLoss:
    """Return a model that owns ``loss``'s variables: the one-line step before ``compile``.

    ``model = attach(model, PrecisionAtRecallLoss(target_recall=0.98, from_logits=True))``,
    then ``model.compile(optimizer=...)`` (the attached loss is the default loss) and
    ``model.fit(...)``. Works for Sequential, functional and subclassed models on every Keras
    backend; ``model.save``/``keras.saving.load_model`` keep the duals and priors.
    """
    return ModelWithLoss(model, loss)
