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
  ``y_pred``) for the global objectives, ROC-AUC and the baselines (BCE, focal, ASL). The
  soft confusion-matrix losses (sigmoidF1, AnyLoss) are one number per batch and accept only
  the default (use ``average="none"`` for the per-label losses).
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

import warnings
from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

import metricloss as _ml
from metricloss import confusion as _confusion
from metricloss import crossentropy as _crossentropy
from metricloss._checks import check_bool, check_integer, check_number
from metricloss.backends import _state

__all__ = [
    "AUCMLoss",
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


def _warn_if_probabilities(loss: Any, logits: Any) -> None:
    """Once per loss, on its first eager call: warn when ``from_logits=True`` receives values
    that all lie in [0, 1] (probabilities, most likely). Free afterwards and under tracing."""
    if loss.__dict__.get("_checked_inputs"):
        return
    loss.__dict__["_checked_inputs"] = True
    if _state.looks_like_probabilities(logits):
        warnings.warn(f"{type(loss).__name__}(from_logits=True) received values that all lie "
                      f"in [0, 1]: if y_pred holds probabilities (a sigmoid output), use "
                      f"from_logits=False", UserWarning, stacklevel=4)


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


def _scale_for_distribution(loss: Any, reduction: Any) -> Any:
    """Keras' rule for a reduced loss under ``tf.distribute`` (its own losses apply it in
    ``reduce_values``; ``fit`` sums the replicas' gradients and un-scales the logged value):
    divided by the number of replicas in sync. Unchanged elsewhere and for ``"none"``."""
    if reduction in (None, "none") or keras.backend.backend() != "tensorflow":
        return loss
    import tensorflow as tf

    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return loss if replicas <= 1 else loss * (1.0 / replicas)


def _replica_sum(sync: bool) -> Any:
    """``sync=True`` under the TensorFlow backend inside a ``tf.distribute`` replica context
    with more than one replica (``MirroredStrategy``): the replica context's differentiable
    sum, for the core's ``all_reduce=``; otherwise ``None`` (nothing to synchronise)."""
    if not sync or keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync <= 1:
        return None
    return lambda x: ctx.all_reduce(tf.distribute.ReduceOp.SUM, x)


class _StatelessLoss(keras.losses.Loss):
    """Shared: Keras order, ``from_logits``, ``sample_weight`` into the core's ``weights``."""

    _reductions: tuple[Any, ...] = tuple(_REDUCTIONS)

    def __init__(self, *, from_logits: bool = False, reduction: Any = "sum_over_batch_size",
                 name: str | None = None, dtype: Any = None) -> None:
        super().__init__(name=name, reduction=_check_reduction(reduction, self._reductions),
                         dtype=dtype)
        self.from_logits = check_bool("from_logits", from_logits)

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Any:
        with keras.name_scope(self.name):
            logits = self._inputs(y_pred)
            labels = _match_rank(self._labels(y_true), logits)
            loss = self._compute(labels, logits, _weights(sample_weight, self.dtype))
            return _scale_for_distribution(loss, self.reduction)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        """The loss without ``sample_weight`` (Keras' ``Loss.call``)."""
        return self(y_true, y_pred)

    def _inputs(self, y_pred: Any) -> Any:
        logits = _logits(y_pred, self.from_logits, self.dtype)
        if self.from_logits:
            _warn_if_probabilities(self, logits)
        return logits

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
                 dtype: Any = None, sync: bool = False) -> None:
        super().__init__(from_logits=from_logits, reduction=reduction, name=name, dtype=dtype)
        self.sync = check_bool("sync", sync)
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
                                                from_logits=from_logits,
                                                all_reduce=_replica_sum(self.sync),
                                                **self._core_options())

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        return {**config, "sync": True} if self.sync else config


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
                 dtype: Any = None, sync: bool = False) -> None:
        super().__init__("fbeta" if beta != 1.0 else "f1", beta=beta, slope=slope,
                         offset=offset, average=average, eps=eps, from_logits=from_logits,
                         reduction=reduction, name=name, dtype=dtype, sync=sync)

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
                 dtype: Any = None, sync: bool = False) -> None:
        super().__init__(metric, beta=beta, transform="anyloss", average=average,
                         amplifier=amplifier, eps=eps, from_logits=from_logits,
                         reduction=reduction, name=name, dtype=dtype, sync=sync)

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
        self.pad_index = check_integer("pad_index", pad_index)

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
                 dtype: Any = None, sync: bool = False) -> None:
        super().__init__(from_logits=from_logits, reduction=reduction, name=name, dtype=dtype)
        self.surrogate, self.method, self.chunk_size = surrogate, method, chunk_size
        self.sync = check_bool("sync", sync)

    def _options(self) -> dict[str, Any]:
        return {"surrogate": self.surrogate, "method": self.method,
                "chunk_size": self.chunk_size}

    def _compute(self, labels: Any, logits: Any, weights: Any) -> Any:
        # sync=True under tf.distribute: the all-gathered form (every replica's pairs).
        all_reduce = _replica_sum(self.sync)
        reduction = _REDUCTIONS[self.reduction]
        gather = None
        if all_reduce is not None:
            import tensorflow as tf

            ctx = tf.distribute.get_replica_context()
            gather = lambda x: ctx.all_gather(x, axis=0)  # noqa: E731
        out = _ml.roc_auc_loss(logits, labels, weights=weights, reduction=reduction,
                               all_gather=gather,
                               all_reduce=None if reduction == "none" else all_reduce,
                               **self._options())
        return _loss_only(out)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        return {**config, "sync": True} if self.sync else config


class _BaselineLoss(_StatelessLoss):
    """A per-element baseline of :mod:`metricloss.baselines`, through the shared forward."""

    def __init__(self, *, from_logits: bool = False, reduction: Any = "sum_over_batch_size",
                 name: str | None = None, dtype: Any = None, **core_kwargs: Any) -> None:
        super().__init__(from_logits=from_logits, reduction=reduction, name=name, dtype=dtype)
        self._spec = _state.SPECS[type(self).__name__]
        core_kwargs.pop("reduction", None)
        self._config = self._spec.configure(**core_kwargs)

    def _options(self) -> dict[str, Any]:
        return {k: v for k, v in self._config.items() if k != "reduction"}

    def _compute(self, labels: Any, logits: Any, weights: Any) -> Any:
        config = dict(self._config, reduction=_REDUCTIONS[self.reduction])
        if isinstance(config.get("pos_weight"), list | tuple):  # from a saved config
            config["pos_weight"] = _tensor(config["pos_weight"], logits.dtype)
        return _state.forward(self._spec, config, {}, logits, labels,
                              stop_gradient=ops.stop_gradient, return_aux=False,
                              weights=weights).loss


_BASELINES = {
    "BinaryCrossEntropy": "Binary cross-entropy from logits, with ``pos_weight`` (torch's).",
    "SigmoidFocalLoss": "Focal loss (Lin et al. 2017), torchvision's definition.",
    "AsymmetricLoss": "Asymmetric loss (Ridnik et al. 2021); the framework's stop-gradient "
                      "detaches the focusing weight where the core's option asks for it.",
}
for _name, _summary in _BASELINES.items():
    if _name in _state.SPECS:
        _fn = _state.SPECS[_name].function_name
        globals()[_name] = _register(type(_name, (_BaselineLoss,), {
            "__module__": __name__, "__qualname__": _name,
            "__doc__": f"{_summary}\n\n    Keras form of :func:`metricloss.{_fn}` (its "
                       f"keywords); ``sample_weight`` goes into its ``weights``, ``\"none\"`` "
                       f"gives the per-element loss.\n    "}))
        __all__.append(_name)


def _loss_only(out: Any) -> Any:
    """The loss of a core result: ``loss`` or ``(loss, aux)``."""
    return out[0] if isinstance(out, tuple) else out


# --------------------------------------------------------------------------------------------
# Constrained losses (Layer + Loss: they own trainable duals and non-trainable priors)
# --------------------------------------------------------------------------------------------


class _ConstrainedLoss(keras.layers.Layer, keras.losses.Loss):
    """Shared by the constrained losses: variables and forward from the framework-free
    :mod:`metricloss.backends._state` (``dual_value → core loss → update_label_priors``)."""

    def __init__(self, *, num_labels: int = 1, dual_rate_factor: float = 0.1,
                 lambdas_init: float = 1.0, from_logits: bool = False,
                 reduction: Any = "sum_over_batch_size", name: str | None = None,
                 dtype: Any = None, **core_kwargs: Any) -> None:
        keras.layers.Layer.__init__(self, name=name, dtype=dtype or "float32", autocast=False)
        self._spec = _state.SPECS[type(self).__name__]
        self.reduction = _check_reduction(reduction)
        self.from_logits = check_bool("from_logits", from_logits)
        self.lambdas_init = float(check_number("lambdas_init", lambdas_init, low=0.0))
        core_kwargs.pop("reduction", None)
        self._config = self._spec.configure(
            num_labels=num_labels, dual_rate_factor=dual_rate_factor,
            reduction=_REDUCTIONS[self.reduction], **core_kwargs)
        self._attached = False
        self._training = True
        for var in self._spec.variables(self._config):
            initial = self.lambdas_init if var.is_dual else var.initial_value
            setattr(self, var.name, self.add_weight(
                name=var.name, shape=var.shape, trainable=var.trainable,
                initializer=keras.initializers.Constant(initial)))
        self.built = True

    def __getattr__(self, name: str) -> Any:
        # The configuration reads as attributes (loss.target_recall, loss.num_labels, ...).
        config = self.__dict__.get("_config")
        if config is not None and name in config:
            return config[name]
        parent = getattr(super(), "__getattr__", None)  # torch.nn.Module's, on torch
        if parent is not None:
            return parent(name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    # Keras' loss protocol -------------------------------------------------------------------

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None,
                 training: bool | None = None) -> Any:
        return keras.layers.Layer.__call__(self, y_true, y_pred, sample_weight=sample_weight,
                                           training=training)

    def call(self, y_true: Any, y_pred: Any, sample_weight: Any = None,
             training: bool | None = None) -> Any:
        if not self._attached:
            raise RuntimeError(
                f"{type(self).__name__} owns trainable dual variables and running label "
                f"priors, which only a model that tracks the loss trains and updates. Attach "
                f"it first: `model = metricloss.backends.keras.attach(model, loss)`, then "
                f"`model.compile(optimizer=...)` (the attached loss is the default loss). "
                f"Training without it would keep the duals frozen.")
        dtype = self.variable_dtype
        logits = _logits(y_pred, self.from_logits, dtype)
        if self.from_logits:
            _warn_if_probabilities(self, logits)
        labels = _match_rank(_tensor(y_true), logits)
        training = self._training if training is None else training
        variables = {v.name: _read(getattr(self, v.name))
                     for v in self._spec.variables(self._config)}
        out = _state.forward(self._spec, self._config, variables, logits, labels,
                             stop_gradient=ops.stop_gradient, training=training,
                             return_aux=False, weights=_weights(sample_weight, dtype))
        if out.label_priors is not None:
            self.label_prior_counts.assign(out.label_priors.counts)
            self.label_prior_weight_sum.assign(out.label_priors.weight_sum)
        return out.loss

    @property
    def lambdas(self) -> Any:
        """The current dual values ``λ = |v|`` (a backend tensor)."""
        return ops.abs(self.duals)

    @property
    def priors(self) -> Any:
        """The label priors in use (the running estimate, or the fixed ``label_priors``)."""
        if not self._spec.running_priors(self._config):
            return self._config["label_priors"]
        return self.label_prior_counts / self.label_prior_weight_sum

    def compute_output_spec(self, y_true: Any, y_pred: Any, sample_weight: Any = None,
                            training: bool | None = None) -> Any:
        shape = tuple(y_pred.shape) if self.reduction in ("none", None) else ()
        return keras.KerasTensor(shape, dtype=self.variable_dtype)

    def get_config(self) -> dict[str, Any]:
        config = {k: _config_value(v) for k, v in self._config.items() if k != "reduction"}
        config.update(name=self.name, dtype=self.dtype_policy.name,
                      lambdas_init=self.lambdas_init, from_logits=self.from_logits,
                      reduction=self.reduction)
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Any:
        return cls(**config)

    def _obj_type(self) -> str:
        return "Layer"


_CONSTRAINED_DOC = """{summary}

    Keras form of :func:`metricloss.{function}`: ``loss(y_true, y_pred, sample_weight)``.
    Owns its dual variables ``duals`` (trainable, one per label{per_anchor}, initial
    ``lambdas_init``; ``λ = |v|`` in gradient-reversal form, so the model's optimizer ascends
    on them at ``dual_rate_factor`` times its rate){biases} and, unless ``label_priors`` is
    given, the running label priors ``label_prior_counts``/``label_prior_weight_sum``
    (non-trainable; advanced by ``fit``, frozen by ``evaluate``/``predict``). Use it through
    :func:`attach`. Keywords: the core function's (``surrogate``, ``label_priors``, ...) plus
    ``num_labels`` (default 1), ``dual_rate_factor`` (0.1), ``from_logits`` (False),
    ``reduction`` (Keras' names; ``"none"``: the per-element loss).
"""


def _pr_auc_init(self: Any, precision_range: Sequence[float] = (0.0, 1.0),
                 num_anchors: int = 20, **kwargs: Any) -> None:
    _ConstrainedLoss.__init__(self, precision_range=tuple(precision_range),
                              num_anchors=num_anchors, **kwargs)


def _target_init(name: str, target: str) -> Any:
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        # The target may come first, positionally: PrecisionAtRecallLoss(0.98, ...).
        if len(args) > 1:
            raise TypeError(f"{name}() takes {target} as its only positional argument")
        if args:
            if target in kwargs:
                raise TypeError(f"{name}() got {target} twice")
            kwargs[target] = args[0]
        _ConstrainedLoss.__init__(self, **kwargs)

    return __init__


def _constrained(name: str, target: str | None, summary: str) -> type:
    spec = _state.SPECS[name]
    __init__ = _pr_auc_init if target is None else _target_init(name, target)
    doc = _CONSTRAINED_DOC.format(
        summary=summary, function=spec.function_name,
        per_anchor=" and anchor" if spec.has_biases else "",
        biases=", the per-anchor ``biases`` (trainable, initial 0)" if spec.has_biases else "")
    cls = type(name, (_ConstrainedLoss,), {"__init__": __init__, "__doc__": doc,
                                           "__module__": __name__, "__qualname__": name})
    return _register(cls)


RecallAtPrecisionLoss = _constrained(
    "RecallAtPrecisionLoss", "target_precision",
    "Maximise recall subject to precision ≥ ``target_precision`` (Eban et al. 2017).")
PrecisionAtRecallLoss = _constrained(
    "PrecisionAtRecallLoss", "target_recall",
    "Maximise precision subject to recall ≥ ``target_recall`` (Eban et al. 2017).")
FalsePositiveRateAtTruePositiveRateLoss = _constrained(
    "FalsePositiveRateAtTruePositiveRateLoss", "target_rate",
    "Minimise the false positive rate subject to TPR ≥ ``target_rate``.")
TruePositiveRateAtFalsePositiveRateLoss = _constrained(
    "TruePositiveRateAtFalsePositiveRateLoss", "target_rate",
    "Maximise the true positive rate subject to FPR ≤ ``target_rate``.")
PrecisionRecallAUCLoss = _constrained(
    "PrecisionRecallAUCLoss", None,
    "The area under the precision-recall curve over ``precision_range``, with ``num_anchors``"
    " anchors.")


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


# --------------------------------------------------------------------------------------------
# AUC-M (Layer + Loss: it owns a, b and a loss-owned α)
# --------------------------------------------------------------------------------------------


@_register
class AUCMLoss(_ConstrainedLoss):
    """AUC-M (LibAUC's ``AUCMLoss``), trained by the model's own optimizer: no PESG.

    Keras form of :func:`metricloss.auc_m_loss`: ``loss(y_true, y_pred, sample_weight)``.
    Owns ``a``, ``b``, ``alpha`` per label (``num_labels``, default 1; initial 0 as LibAUC):
    ``alpha`` non-trainable, moved by the loss itself in training (one projected ascent step
    per ``fit`` batch, :func:`metricloss.dual_step` on
    :func:`metricloss.auc_m_alpha_gradient`); ``a``, ``b`` non-trainable running class-mean
    scores (``ab_update="running"``, :func:`metricloss.update_auc_m_means`) or trainable
    (``"trainable"``). Use it through :func:`attach` (``model = attach(model, loss)``), so
    that ``fit`` updates the state and ``model.save`` keeps it. ``reduction``: Keras' names
    over the labels' losses (``"none"``: per label). ``from_logits=False`` (default): ``y_pred``
    holds probabilities (the scores), turned into logits as the other losses do.
    ``sync=True`` under ``tf.distribute``: the global batch's loss and updates.
    """

    def __init__(self, *, num_labels: int = 1, ab_update: str = "running",
                 ab_momentum: float = 0.1, alpha_rate: float = 0.1, alpha_max: float = 999.0,
                 margin: float = 1.0, label_priors: Any = None, from_logits: bool = False,
                 reduction: Any = "sum_over_batch_size", name: str | None = None,
                 dtype: Any = None, sync: bool = False) -> None:
        keras.layers.Layer.__init__(self, name=name, dtype=dtype or "float32", autocast=False)
        self._spec = _state.SPECS["AUCMLoss"]
        self.sync = check_bool("sync", sync)
        self.reduction = _check_reduction(reduction)
        self.from_logits = check_bool("from_logits", from_logits)
        self.lambdas_init = 0.0
        self._config = self._spec.configure(
            num_labels=num_labels, ab_update=ab_update, ab_momentum=ab_momentum,
            alpha_rate=alpha_rate, alpha_max=alpha_max, margin=margin,
            label_priors=label_priors, reduction=_REDUCTIONS[self.reduction])
        self._attached = False
        self._training = True
        for var in self._spec.variables(self._config):
            setattr(self, var.name, self.add_weight(
                name=var.name, shape=var.shape, trainable=var.trainable,
                initializer=keras.initializers.Constant(var.initial_value)))
        self.built = True

    def call(self, y_true: Any, y_pred: Any, sample_weight: Any = None,
             training: bool | None = None) -> Any:
        if not self._attached:
            raise RuntimeError(
                "AUCMLoss owns a, b and alpha, which only a model that tracks the loss "
                "updates. Attach it first: `model = metricloss.backends.keras.attach(model, "
                "loss)`, then `model.compile(optimizer=...)`.")
        dtype = self.variable_dtype
        logits = _logits(y_pred, self.from_logits, dtype)
        if self.from_logits:
            _warn_if_probabilities(self, logits)
        labels = _match_rank(_tensor(y_true), logits)
        training = self._training if training is None else training
        variables = {v.name: _read(getattr(self, v.name))
                     for v in self._spec.variables(self._config)}
        out = _state.auc_m_forward(self._spec, self._config, variables, logits, labels,
                                   stop_gradient=ops.stop_gradient, training=training,
                                   all_reduce=_replica_sum(self.sync),
                                   weights=_weights(sample_weight, dtype))
        for name, value in out.updates.items():
            getattr(self, name).assign(value)
        return _scale_for_distribution(out.loss, self.reduction)

    def compute_output_spec(self, y_true: Any, y_pred: Any, sample_weight: Any = None,
                            training: bool | None = None) -> Any:
        shape = tuple(y_pred.shape[1:]) if self.reduction in ("none", None) else ()
        return keras.KerasTensor(shape, dtype=self.variable_dtype)

    def get_config(self) -> dict[str, Any]:
        config = {k: _config_value(v) for k, v in self._config.items() if k != "reduction"}
        config.update(name=self.name, dtype=self.dtype_policy.name,
                      from_logits=self.from_logits, reduction=self.reduction)
        return {**config, "sync": True} if self.sync else config
