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
PR-AUC) own state: a dual variable per label (per label and anchor for PR-AUC, plus a
trainable bias) and the running label priors. A ``keras.losses.Loss`` cannot own variables,
so these classes are ``keras.layers.Layer`` s (that are also ``keras.losses.Loss`` instances,
so that ``compile`` hands them ``sample_weight``). By default the loss moves its duals itself:
they are non-trainable variables, and after each training-mode call it stores one projected
ascent step on the constraint's violation (``dual_update``, ``dual_rate``, ``dual_max``; see
:mod:`metricloss.backends._state`), whatever the model's optimizer. The model must track the
loss, so that ``fit`` updates its state (on JAX through the model's non-trainable variables)
and ``model.save`` keeps it; :func:`attach` does that in one line::

    loss = PrecisionAtRecallLoss(target_recall=0.98, from_logits=True)  # num_labels: inferred
    model = attach(model, loss)            # a keras.Model that owns the loss's variables
    model.compile(optimizer="adam")        # the attached loss is the default loss
    model.fit(x, y, callbacks=[HeldOutDualUpdate((x_val, y_val))])  # optional held-out steps
    model.save("m.keras"); keras.saving.load_model("m.keras")  # duals and priors restored

A constrained loss that no model tracks raises on first use, naming :func:`attach`. The same
attached model works in a hand-written ``tf.GradientTape`` loop (call the loss in training
mode; take the gradient with respect to ``model.trainable_variables``).

Do not pass the core functions to ``model.compile(loss=...)``: Keras would call them as
``f(y_true, y_pred)``, the reverse of the core's ``(logits, labels)``; the core raises a
``TypeError`` naming the Keras class at the first training step, on every backend.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

import metricloss as _ml
from metricloss import confusion as _confusion
from metricloss import crossentropy as _crossentropy
from metricloss import streaming as _streaming
from metricloss._checks import check_bool, check_integer, check_number
from metricloss.backends import _state

__all__ = [
    "AUCMLoss",
    "AnyLoss",
    "ConfusionMetricLoss",
    "FalsePositiveRateAtTruePositiveRateLoss",
    "HeldOutDualUpdate",
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


_KERAS_KEYWORDS = {"from_logits": False, "reduction": "sum_over_batch_size", "name": None,
                   "dtype": None}


def _keras_signature(spec: _state.LossSpec, positional: Sequence[str] = (),
                     extra: dict[str, Any] | None = None) -> inspect.Signature:
    """The constructor's real signature (for ``help()`` and ``inspect``): ``positional`` first
    (positional or keyword), then the shared spec's keywords (Keras' ``reduction`` in place of
    the core's) and Keras' own."""
    kind = inspect.Parameter
    params = {p.name: p for p in spec.signature().parameters.values()
              if p.name != "reduction" and p.name not in _KERAS_KEYWORDS}  # Keras' own below
    first = [params.pop(n).replace(kind=kind.POSITIONAL_OR_KEYWORD) for n in positional]
    rest = list(params.values()) + [kind(n, kind.KEYWORD_ONLY, default=d)
                                    for n, d in {**(extra or {}), **_KERAS_KEYWORDS}.items()]
    required = [p for p in rest if p.default is kind.empty]
    return inspect.Signature(first + required + [p for p in rest if p not in required])


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
            "__signature__": _keras_signature(_state.SPECS[_name]),
            "__doc__": f"{_summary}\n\n    Keras form of :func:`metricloss.{_fn}` (its "
                       f"keywords); ``sample_weight`` goes into its ``weights``, ``\"none\"`` "
                       f"gives the per-element loss.\n    "}))
        __all__.append(_name)


def _loss_only(out: Any) -> Any:
    """The loss of a core result: ``loss`` or ``(loss, aux)``."""
    return out[0] if isinstance(out, tuple) else out


# Constrained losses (Layer + Loss: they own their duals and the running label priors)
# --------------------------------------------------------------------------------------------


class _ConstrainedLoss(keras.layers.Layer, keras.losses.Loss):
    """Shared by the constrained losses: variables and forward from the framework-free
    :mod:`metricloss.backends._state` (``λ → core loss → update_label_priors → dual_step``)."""

    def __init__(self, *, num_labels: int | None = None, lambdas_init: float = 1.0,
                 from_logits: bool = False, reduction: Any = "sum_over_batch_size",
                 name: str | None = None, dtype: Any = None, **core_kwargs: Any) -> None:
        keras.layers.Layer.__init__(self, name=name, dtype=dtype or "float32", autocast=False)
        self._spec = _state.SPECS[type(self).__name__]
        self.reduction = _check_reduction(reduction)
        self.from_logits = check_bool("from_logits", from_logits)
        self.lambdas_init = float(check_number("lambdas_init", lambdas_init, low=0.0))
        core_kwargs.pop("reduction", None)
        self._config = self._spec.configure(num_labels=num_labels,
                                            reduction=_REDUCTIONS[self.reduction],
                                            **core_kwargs)
        self._attached = False
        self._training = True
        self._num_labels: int | None = None
        if num_labels is not None:
            self._create_variables(num_labels)

    def _create_variables(self, num_labels: int) -> None:
        """The loss's variables for ``num_labels`` labels (at construction when it is given,
        else from the first ``y_pred``, symbolic or not)."""
        for var in self._spec.variables(self._config, num_labels=num_labels):
            initial = self.lambdas_init if var.is_dual else var.initial_value
            setattr(self, var.name, self.add_weight(
                name=var.name, shape=var.shape, trainable=var.trainable,
                initializer=keras.initializers.Constant(initial)))
        self._num_labels = num_labels
        self.built = True

    def _build_for(self, y_pred: Any) -> None:
        if self._num_labels is None:
            self._create_variables(_state.num_labels_of(self._spec, y_pred))

    def __getattr__(self, name: str) -> Any:
        # The configuration reads as attributes (loss.target_recall, loss.num_labels, ...).
        if name == "num_labels" and self.__dict__.get("_num_labels") is not None:
            return self.__dict__["_num_labels"]
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
        self._build_for(y_pred)
        return keras.layers.Layer.__call__(self, y_true, y_pred, sample_weight=sample_weight,
                                           training=training)

    def _inputs(self, y_true: Any, y_pred: Any) -> tuple[Any, Any]:
        logits = _logits(y_pred, self.from_logits, self.variable_dtype)
        if self.from_logits:
            _warn_if_probabilities(self, logits)
        return logits, _match_rank(_tensor(y_true), logits)

    def _values(self) -> dict[str, Any]:
        return {v.name: _read(getattr(self, v.name))
                for v in self._spec.variables(self._config, num_labels=self._num_labels)}

    def call(self, y_true: Any, y_pred: Any, sample_weight: Any = None,
             training: bool | None = None) -> Any:
        if not self._attached:
            raise RuntimeError(
                f"{type(self).__name__} owns state (its dual variables and running label "
                f"priors) that only a model tracking the loss updates, saves and restores. "
                f"Attach it first: `model = metricloss.backends.keras.attach(model, loss)`, "
                f"then `model.compile(optimizer=...)` (the attached loss is the default loss).")
        logits, labels = self._inputs(y_true, y_pred)
        training = self._training if training is None else training
        out = _state.forward(self._spec, self._config, self._values(), logits, labels,
                             stop_gradient=ops.stop_gradient, training=training,
                             return_aux=False,
                             weights=_weights(sample_weight, self.variable_dtype))
        if out.label_priors is not None:
            self.label_prior_counts.assign(out.label_priors.counts)
            self.label_prior_weight_sum.assign(out.label_priors.weight_sum)
        if out.duals is not None:  # loss-owned dynamics: one dual step per training call
            self.duals.assign(ops.cast(out.duals, self.duals.dtype))
        return out.loss

    def update_duals(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Any:
        """One dual step from held-out data: ``λ ← dual_step(λ, constraint_violation(...))``.

        ``y_pred`` is the model's output on a validation batch or a whole validation pass
        (``model.predict(x_val)``; probabilities unless ``from_logits=True``), ``y_true`` its
        labels, ``sample_weight`` ``(B,)`` or ``(B, L)`` weights. The violation is measured at
        the decision rule (``dual_update="proxy"``) or with the surrogate bounds
        (``"surrogate"``), with the stored label priors; no model gradient, the priors and the
        model's weights stay as they are. :class:`HeldOutDualUpdate` calls it at each epoch's
        end. ``TypeError`` with ``dual_update="gradient_reversal"`` (the model's optimizer moves
        the duals there).

        Returns:
            The new ``λ`` (a backend tensor).

        Example:
            >>> loss.update_duals(y_val, model.predict(x_val, verbose=0))  # doctest: +SKIP
        """
        self._build_for(y_pred)
        logits, labels = self._inputs(y_true, y_pred)
        new = _state.held_out_duals(self._spec, self._config, self._values(), logits, labels,
                                    stop_gradient=ops.stop_gradient,
                                    weights=_weights(sample_weight, self.variable_dtype))
        self.duals.assign(ops.cast(new, self.duals.dtype))
        return self.lambdas

    @property
    def owns_duals(self) -> bool:
        """Whether the loss moves its duals itself (``dual_update`` ``"proxy"`` or
        ``"surrogate"``): they are then non-trainable variables, never seen by an optimizer."""
        return self._spec.owns_duals(self._config)

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
        config.update(num_labels=self._num_labels,  # as inferred from the first batch
                      name=self.name, dtype=self.dtype_policy.name,
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
    Use it through :func:`attach` (``model = attach(model, loss)``, then
    ``model.compile(optimizer=...)``): the model then tracks the loss's variables, updates them
    in ``fit`` and saves them.

    **The loss owns its duals** ``λ`` (one per label{per_anchor}, initial ``lambdas_init``):
    with ``dual_update="proxy"`` (default) or ``"surrogate"`` they are non-trainable variables,
    and after each training-mode call (``fit``, a training step) the loss itself stores
    ``dual_step(λ, constraint_violation(...), rate=dual_rate, max_value=dual_max)``: projected
    ascent on the constraint's violation at the decision rule (proxy) or of its surrogate
    bounds, whatever the model's optimizer, learning rate or weight decay. No optimizer ever
    sees them. ``dual_source="held_out"`` takes the steps from :meth:`update_duals` only
    (:class:`HeldOutDualUpdate` calls it from validation data at each epoch's end).
    ``dual_update="gradient_reversal"`` keeps the original library's recipe: trainable duals
    that the model's optimizer ascends on at ``dual_rate_factor`` times its rate (under SGD).
    {biases}Unless ``label_priors`` is given, the running label priors
    ``label_prior_counts``/``label_prior_weight_sum`` (non-trainable) advance in ``fit`` and
    stay in ``evaluate``/``predict``.

    Keywords: the core function's (``surrogate``, ``label_priors``, ...) plus ``num_labels``
    (default: ``y_pred.shape[-1]`` of the first batch), ``dual_update``, ``dual_rate`` (0.5, λ
    per unit of violation), ``dual_max`` (100), ``dual_source``, ``dual_rate_factor`` (0.1,
    gradient reversal only), ``lambdas_init`` (1.0), ``from_logits`` (False), ``reduction``
    (Keras' names; ``"none"``: the per-element loss).
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
        biases="The per-anchor ``biases`` are trainable (initial 0), trained by the model's "
               "optimizer. " if spec.has_biases else "")
    signature = _keras_signature(
        spec, ("precision_range", "num_anchors") if target is None else (target,),
        {"lambdas_init": 1.0})
    __init__.__signature__ = signature.replace(parameters=[  # type: ignore[union-attr]
        inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD),
        *signature.parameters.values()])
    cls = type(name, (_ConstrainedLoss,), {"__init__": __init__, "__doc__": doc,
                                           "__module__": __name__, "__qualname__": name,
                                           "__signature__": signature})
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
# Attaching a constrained loss to a model; held-out dual steps
# --------------------------------------------------------------------------------------------


def _output_shape(model: Any) -> Any:
    """The model's output shape where Keras knows it without a call (one output), else None."""
    try:
        outputs = model.outputs
    except (AttributeError, ValueError):
        return None
    return tuple(outputs[0].shape) if isinstance(outputs, list) and len(outputs) == 1 else None


@_register
class ModelWithLoss(keras.Model):
    """A model together with the constrained loss that trains it (made by :func:`attach`).

    Calls ``model`` unchanged; tracks ``loss`` so that its duals and label priors are in
    ``non_trainable_variables`` (the loss moves them in ``fit``; ``evaluate`` and ``predict``
    leave them; ``dual_update="gradient_reversal"``: the duals are in ``trainable_variables``)
    and PR-AUC's biases in ``trainable_variables``. ``compile`` uses the attached loss unless
    given another. Saved and loaded whole by ``model.save`` / ``keras.saving.load_model``.
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
        shape = _output_shape(model)
        if shape is not None:  # a functional model: the loss's variables exist from now on
            loss._build_for(keras.KerasTensor(shape))

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        return self.model(inputs, training=training)

    def compile(self, optimizer: Any = "rmsprop", loss: Any = None, **kwargs: Any) -> None:
        super().compile(optimizer=optimizer,
                        loss=self.metric_loss if loss is None else loss, **kwargs)

    def compute_loss(self, x: Any = None, y: Any = None, y_pred: Any = None,
                     sample_weight: Any = None, training: bool = True) -> Any:
        # Keras does not tell a compiled loss whether it trains: the priors and the duals
        # advance in train_step only (read when the step is traced, or per call when eager).
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
        if not self.model.built or not self.metric_loss.built:
            # A symbolic call builds any model, subclassed ones included, and gives the
            # output shape from which the loss creates its variables.
            out = self.model(keras.tree.map_shape_structure(keras.KerasTensor, input_shape))
            self.metric_loss._build_for(out)
        self.built = True


def attach(model: keras.Model, loss: _ConstrainedLoss) -> ModelWithLoss:
    """Return a model that owns ``loss``'s variables: the one-line step before ``compile``.

    ``model = attach(model, PrecisionAtRecallLoss(target_recall=0.98, from_logits=True))``,
    then ``model.compile(optimizer=...)`` (the attached loss is the default loss) and
    ``model.fit(...)``. Works for Sequential, functional and subclassed models on every Keras
    backend; ``model.save``/``keras.saving.load_model`` keep the duals and priors. A
    constrained loss used without it raises ``RuntimeError`` naming this function on its first
    call: no model would track, update or save its state.
    """
    return ModelWithLoss(model, loss)


# --------------------------------------------------------------------------------------------
# Segmentation losses (Tversky, Lovász): one number per batch, channels-last by default
# --------------------------------------------------------------------------------------------


class _SegmentationLoss(_StatelessLoss):
    """A segmentation loss of the core through the shared forward: Keras' channels-last layout
    (``axis=-1`` unless given), ``sample_weight`` into the core's ``weights`` (Tversky only),
    class indices of a floating dtype cast to int32 (as ``SparseCategoricalCrossentropy``)."""

    _reductions = ("sum_over_batch_size", "mean")  # one number per batch: nothing to reduce

    def __init__(self, *, from_logits: bool = False, reduction: Any = "sum_over_batch_size",
                 name: str | None = None, dtype: Any = None, **core_kwargs: Any) -> None:
        if reduction not in self._reductions:
            raise ValueError(
                f"reduction must be 'sum_over_batch_size' for {type(self).__name__}, got "
                f"{reduction!r}: the loss is one number per batch (average='none' gives the "
                f"per-class losses)")
        super().__init__(from_logits=from_logits, reduction=reduction, name=name, dtype=dtype)
        self._spec = _state.SPECS[type(self).__name__]
        core_kwargs.pop("from_logits", None)
        core_kwargs.setdefault("axis", -1)
        self._config = self._spec.configure(**core_kwargs)
        # Probabilities go to the core as they are where it takes them (Tversky, softmax).
        self._core_from_logits = "from_logits" in self._spec.core_keywords()

    def _options(self) -> dict[str, Any]:
        return {k: v for k, v in self._config.items() if k != "from_logits"}

    def _inputs(self, y_pred: Any) -> Any:
        if self._core_from_logits and not self.from_logits:
            return _tensor(y_pred, self.dtype)
        return super()._inputs(y_pred)

    def _compute(self, labels: Any, logits: Any, weights: Any) -> Any:
        config = dict(self._config)
        if self._core_from_logits:
            config["from_logits"] = self.from_logits
        if (len(labels.shape) == len(logits.shape) - 1
                and not keras.backend.is_int_dtype(labels.dtype)):
            labels = ops.cast(labels, "int32")  # class indices stored as floats
        return _state.forward(self._spec, config, {}, logits, labels,
                              stop_gradient=ops.stop_gradient, return_aux=False,
                              weights=weights).loss


_SEGMENTATION = {
    "TverskyLoss": ("Tversky and focal Tversky loss (Salehi et al. 2017; Abraham & Khan "
                    "2019): ``(1 − T)^gamma``, ``T = tp/(tp + alpha·fp + beta·fn)``."),
    "LovaszHingeLoss": ("Lovász hinge (Berman et al. 2018): the convex surrogate of the "
                        "Jaccard loss for binary and multi-label masks (logits)."),
    "LovaszSoftmaxLoss": ("Lovász-softmax (Berman et al. 2018): the convex surrogate of the "
                          "mean Jaccard loss of a softmax segmentation model."),
}
for _name, _summary in _SEGMENTATION.items():
    if _name in _state.SPECS:
        _fn = _state.SPECS[_name].function_name
        globals()[_name] = _register(type(_name, (_SegmentationLoss,), {
            "__module__": __name__, "__qualname__": _name,
            "__signature__": _keras_signature(_state.SPECS[_name]),
            "__doc__": f"{_summary}\n\n    Keras form of :func:`metricloss.{_fn}` (its "
                       f"keywords), channels-last: ``axis=-1`` unless given. ``y_true``: "
                       f"class indices ``(N, *spatial)`` or masks of ``y_pred``'s shape. "
                       f"One number per batch (reduction ``sum_over_batch_size``).\n    "}))
        __all__.append(_name)


class HeldOutDualUpdate(keras.callbacks.Callback):
    """Dual steps from held-out data at the end of each epoch: constraints met on validation
    data, not only on the training batches.

    At the end of every ``every``-th epoch the model predicts ``validation_data`` (no
    gradient) and the attached constrained loss takes its dual steps from it with
    :meth:`~RecallAtPrecisionLoss.update_duals`: one step from the whole pass
    (``batch_size=None``), or one per consecutive slice of ``batch_size`` examples. Only the
    duals change: the model's weights, the optimizer's state and the label priors stay as
    they are. Build the loss with ``dual_source="held_out"`` for duals that follow the
    held-out data alone (with the default ``"train"`` these steps come on top of the training
    steps).

    Args:
        validation_data: ``(x, y)`` or ``(x, y, sample_weight)``, arrays (keep it apart from
            the data that early stopping or threshold tuning reads).
        loss: the constrained loss; default: the one :func:`attach` gave the model.
        batch_size: ``None`` (one step per epoch from the whole pass) or the examples per
            step; also the batch size of ``model.predict``.
        every: take the steps every ``every`` epochs (default 1).

    Example:
        >>> loss = RecallAtPrecisionLoss(0.8, dual_source="held_out",
        ...                              from_logits=True)  # doctest: +SKIP
        >>> model = attach(model, loss); model.compile(optimizer="adam")  # doctest: +SKIP
        >>> model.fit(x, y, epochs=15,
        ...           callbacks=[HeldOutDualUpdate((x_val, y_val))])  # doctest: +SKIP

    Reference:
        Cotter et al., "Training Well-Generalizing Classifiers for Fairness Metrics and Other
        Data-Dependent Constraints" (ICML 2019): constraints estimated on a separate split.
    """

    def __init__(self, validation_data: Sequence[Any], *, loss: _ConstrainedLoss | None = None,
                 batch_size: int | None = None, every: int = 1) -> None:
        super().__init__()
        if not isinstance(validation_data, tuple | list) or len(validation_data) not in (2, 3):
            raise TypeError("validation_data must be (x, y) or (x, y, sample_weight), got "
                            f"{type(validation_data).__name__}")
        if loss is not None and not isinstance(loss, _ConstrainedLoss):
            raise TypeError(f"loss must be a metricloss constrained loss, got "
                            f"{type(loss).__name__}")
        self.validation_data = tuple(validation_data)
        self.loss = loss
        self.batch_size = None if batch_size is None else check_integer("batch_size",
                                                                        batch_size, low=1)
        self.every = check_integer("every", every, low=1)

    def _loss(self) -> _ConstrainedLoss:
        loss = self.loss if self.loss is not None else getattr(self.model, "metric_loss", None)
        if loss is None:
            raise TypeError("HeldOutDualUpdate needs the constrained loss: attach it to the "
                            "model (`model = attach(model, loss)`) or pass loss=")
        return loss

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if (epoch + 1) % self.every:
            return
        loss = self._loss()
        x, y, *weight = self.validation_data
        sample_weight = weight[0] if weight else None
        y_pred = self.model.predict(x, batch_size=self.batch_size, verbose=0)
        n = len(y_pred)
        step = n if self.batch_size is None else self.batch_size
        for start in range(0, max(n, 1), step):
            part = slice(start, start + step)
            loss.update_duals(y[part], y_pred[part],
                              None if sample_weight is None else sample_weight[part])


# ============================================================================================
# Streaming evaluation (issue 22): Keras metrics over a CurveState
# ============================================================================================


class _CurveMetric(keras.metrics.Metric):
    """Shared by the streaming metrics: the :class:`metricloss.CurveState` as two metric
    variables (``positives``/``negatives`` ``(num_labels, num_bins)``, float32, aggregated by
    sum across replicas), updated and read through the core."""

    _metric = "average_precision"

    def __init__(self, num_labels: int = 1, *, average: str = "macro",
                 num_bins: int = _streaming.DEFAULT_NUM_BINS, from_logits: bool = False,
                 name: str | None = None, dtype: Any = None,
                 target_precision: float | None = None) -> None:
        super().__init__(name=name, dtype=dtype or "float32")
        self.num_labels = check_integer("num_labels", num_labels, low=1)
        self.num_bins = check_integer("num_bins", num_bins, low=2)
        self.average = average
        self.target_precision = target_precision
        self.from_logits = check_bool("from_logits", from_logits)
        _streaming.check_state_metric(self._metric, average, target_precision)
        shape = (self.num_labels, self.num_bins)
        self.positives = self.add_variable(shape=shape, initializer="zeros", dtype=self.dtype,
                                           aggregation="sum", name="positives")
        self.negatives = self.add_variable(shape=shape, initializer="zeros", dtype=self.dtype,
                                           aggregation="sum", name="negatives")

    def _state(self) -> Any:
        return _ml.CurveState(_tensor(self.positives.value), _tensor(self.negatives.value))

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        """Add a batch: ``y_pred`` probabilities (or logits with ``from_logits=True``),
        ``y_true`` 0/1, ``sample_weight`` per example ``(B,)``."""
        y_pred = _tensor(y_pred, self.dtype)
        if self.from_logits:
            logits = y_pred
        else:
            # Unclipped, so that no two probabilities fall in one bin by clipping: 0 and 1
            # give -inf and +inf, the end bins.
            kept = getattr(y_pred, "_keras_logits", None)
            logits = (_tensor(kept, self.dtype) if kept is not None
                      else ops.log(y_pred) - ops.log1p(-y_pred))
        labels = _match_rank(_tensor(y_true), logits)
        weights = None
        if sample_weight is not None:
            weights = _tensor(sample_weight, self.dtype)
            if len(weights.shape) == 2 and len(logits.shape) == 2 and weights.shape[1] != 1:
                raise ValueError("sample_weight must be one weight per example, (B,) or "
                                 f"(B, 1), got shape {tuple(weights.shape)}")
        state = _ml.curve_state_update(self._state(), logits, labels, weights=weights)
        self.positives.assign(state.positives)
        self.negatives.assign(state.negatives)

    def result(self) -> Any:
        return _streaming.state_metric(self._state(), self._metric, average=self.average,
                                          target_precision=self.target_precision)

    def reset_state(self) -> None:
        shape = (self.num_labels, self.num_bins)  # two arrays: JAX donates each buffer once
        self.positives.assign(ops.zeros(shape, dtype=self.dtype))
        self.negatives.assign(ops.zeros(shape, dtype=self.dtype))

    def merge_state(self, metrics: Sequence[Any]) -> None:
        """Add the states of other instances of this metric (e.g. one per worker)."""
        for other in metrics:
            if not isinstance(other, _CurveMetric) or (
                    (other.num_labels, other.num_bins) != (self.num_labels, self.num_bins)):
                raise ValueError(f"merge_state takes metrics of the same kind and shape "
                                 f"(num_labels={self.num_labels}, num_bins={self.num_bins}), "
                                 f"got {other!r}")
            merged = _ml.curve_state_merge(self._state(), other._state())
            self.positives.assign(merged.positives)
            self.negatives.assign(merged.negatives)

    @property
    def state(self) -> Any:
        """The :class:`~metricloss.CurveState` (backend tensors): pass it to
        ``metricloss.tune_thresholds`` for the thresholds of the stream."""
        return self._state()

    def get_config(self) -> dict[str, Any]:
        config = {**super().get_config(), "num_labels": self.num_labels,
                  "average": self.average, "num_bins": self.num_bins,
                  "from_logits": self.from_logits}
        if self.target_precision is not None:
            config["target_precision"] = self.target_precision
        return config


_CURVE_DOC = """{summary}

    Streams: the :class:`metricloss.CurveState` of every batch since ``reset_state`` (two
    float32 variables of shape ``(num_labels, num_bins)``, summed across replicas under
    ``tf.distribute``); ``result()`` reads :func:`metricloss.{function}` off it. Use in
    ``model.compile(metrics=[...])`` on any Keras backend. ``from_logits=False`` (default):
    ``y_pred`` holds probabilities (turned into logits without clipping). Keywords:
    ``num_labels`` (default 1), ``average`` (``macro``, ``micro``, {weighted}``none``),
    ``num_bins`` (1024), ``from_logits``{extra}. ``merge_state``, ``reset_state``,
    ``get_config``; :attr:`state` for ``metricloss.tune_thresholds(metric.state)``.
"""


def _curve_metric(name: str, metric: str, summary: str, function: str) -> type:
    doc = _CURVE_DOC.format(summary=summary, function=function,
                            weighted="" if metric == "tuned_f1" else "``weighted``, ",
                            extra=", ``target_precision`` (required)"
                            if metric == "recall_at_precision" else "")
    cls = type(name, (_CurveMetric,), {"_metric": metric, "__doc__": doc,
                                       "__module__": __name__, "__qualname__": name})
    __all__.append(name)
    return _register(cls)


AveragePrecision = _curve_metric(
    "AveragePrecision", "average_precision",
    "Average precision (scikit-learn's, per label) of the stream.", "average_precision_score")
ROCAUC = _curve_metric("ROCAUC", "roc_auc", "Area under the ROC curve of the stream.",
                       "roc_auc_score")
RecallAtPrecision = _curve_metric(
    "RecallAtPrecision", "recall_at_precision",
    "The highest recall at precision ≥ ``target_precision`` of the stream.",
    "recall_at_precision")
TunedF1Score = _curve_metric(
    "TunedF1Score", "tuned_f1",
    "The F1 at each label's best threshold, tuned from the stream (the F1 the model reaches "
    "once binarized at thresholds tuned on this data).", "streaming.state_metric")


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
        self._num_labels = num_labels  # read by the base's _build_for and attribute lookup
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
