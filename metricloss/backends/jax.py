"""JAX adapters: every metricloss loss as a pure ``init``/``apply`` pair over plain pytrees.

Each class holds its configuration only; the variables live in two dicts the caller owns:

- ``params`` (trainable, for the model's optimizer): PR-AUC's per-anchor ``"biases"``
  ``(L, K)``; the duals only under ``dual_update="gradient_reversal"``; ``{}`` otherwise.
- ``state`` (non-trainable): the constrained global objectives' ``"duals"`` (``(L,)``, PR-AUC
  ``(L, K)``) and the running label-prior estimate (``"label_prior_counts"``,
  ``"label_prior_weight_sum"``, ``(L,)``); ``{}`` for the other losses.

``apply(params, state, logits, labels, *, weights=None, training=True)`` returns
``(loss, aux, new_state)``; it is pure and ``jax.jit``-able, and it calls the core through the
one shared forward (:func:`metricloss.backends._state.forward`): no formula lives here.

The constrained losses own their duals (``dual_update="proxy"``, the default, or
``"surrogate"``): in training mode ``new_state`` holds the duals after one projected ascent
step on the batch's constraint violation (:func:`metricloss.constraint_violation`,
:func:`metricloss.dual_step`) with the loss's ``dual_rate`` and bound ``dual_max``, so any
optimizer (``optax.adamw`` included) trains the model alone and the constraint is still
enforced. ``update_duals(state, logits, labels) -> state`` takes the
step from held-out data instead (``dual_source="held_out"``: the only source). ``num_labels``
is optional: ``init(example)`` takes it from an example batch or its shape. Example::

    loss_fn = RecallAtPrecisionLoss(target_precision=0.8)
    loss_params, loss_state = loss_fn.init((batch_size, num_labels))   # loss_params == {}
    tx = optax.adamw(1e-3)
    opt_state = tx.init(model_params)

    @jax.jit
    def step(model_params, opt_state, loss_state, x, y):
        def objective(p):
            loss, _, new_state = loss_fn.apply(loss_params, loss_state, model(p, x), y)
            return loss, new_state
        (loss, loss_state), grads = jax.value_and_grad(objective, has_aux=True)(model_params)
        updates, opt_state = tx.update(grads, opt_state, model_params)
        return optax.apply_updates(model_params, updates), opt_state, loss_state, loss

PR-AUC's ``biases`` are trainable: put them in the optimized pytree with the model's params.
With ``dual_update="gradient_reversal"`` (the original library's recipe) the duals are
``params`` too, and the same gradient step that descends on the model ascends on them
(:func:`metricloss.dual_value`, at ``dual_rate_factor`` times the rate under SGD; Adam cancels
the factor); keep them out of weight decay with :func:`dual_param_labels`::

    tx = optax.multi_transform(
        {"default": optax.adamw(1e-3), "dual": optax.adam(1e-2)}, dual_param_labels)

Data-parallel training: ``axis_name=`` (every class) sums the non-decomposable losses'
sufficient statistics with ``jax.lax.psum`` over that mapped axis, under ``shard_map`` (or
``pmap``/``vmap``): every shard gets the global batch's loss, the running priors advance by the
global batch, and ``jax.grad`` of the shard-mapped loss is the global batch's gradient. Without
``axis_name`` each shard's loss is its own. See docs/distributed.md.

A Flax NNX wrapper is not provided yet: with NNX, hold ``params`` in ``nnx.Param`` and
``state`` in ``nnx.BatchStat`` and call ``apply``.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Mapping
from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from metricloss.backends._state import (
    DUALS,
    PRIOR_COUNTS,
    PRIOR_WEIGHT_SUM,
    SPECS,
    LossSpec,
    auc_m_forward,
    forward,
    held_out_duals,
    looks_like_probabilities,
    num_labels_of,
    takes_logits,
)

__all__ = [
    "AUCMLoss",
    "AnyLoss",
    "AsymmetricLoss",
    "BinaryCrossEntropy",
    "ConfusionMetricLoss",
    "FalsePositiveRateAtTruePositiveRateLoss",
    "MultilabelCategoricalCrossentropy",
    "PrecisionAtRecallLoss",
    "PrecisionRecallAUCLoss",
    "ROCAUCLoss",
    "RecallAtPrecisionLoss",
    "SigmoidF1Loss",
    "SigmoidFocalLoss",
    "SparseMultilabelCategoricalCrossentropy",
    "TruePositiveRateAtFalsePositiveRateLoss",
    "dual_param_labels",
]
__all__ += ["LovaszHingeLoss", "LovaszSoftmaxLoss", "TverskyLoss"]

Params = dict[str, jax.Array]
State = dict[str, jax.Array]


def dual_param_labels(tree: Any, *, dual: str = "dual", default: str = "default") -> Any:
    """Label every leaf of ``tree``: ``dual`` under a ``"duals"`` key, ``default`` elsewhere.

    The ``param_labels`` of ``optax.multi_transform``, for a pytree holding the model's and
    the losses' params (at any depth): the dual variables get their own transform, without
    weight decay. Needed only with ``dual_update="gradient_reversal"``: by default the duals
    are in the loss's ``state``, which no optimizer sees.
    """
    def label(path: tuple[Any, ...], _leaf: Any) -> str:
        keys = {getattr(k, "key", getattr(k, "name", None)) for k in path}
        return dual if DUALS in keys else default

    return jax.tree_util.tree_map_with_path(label, tree)


class _MetricLoss:
    """Base of every adapter: configuration, ``init``, the pure ``apply``."""

    _spec: ClassVar[LossSpec]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        spec = getattr(cls, "_spec", None)
        if spec is not None:  # help() and inspect show the real keywords
            sig = spec.signature()
            axis_name = inspect.Parameter("axis_name", inspect.Parameter.KEYWORD_ONLY,
                                          default=None)
            sig = sig.replace(parameters=[*sig.parameters.values(), axis_name])
            cls.__signature__ = sig  # type: ignore[attr-defined]

    def __init__(self, *args: Any, axis_name: Any = None, **kwargs: Any) -> None:
        self.config = self._spec.configure(*args, **kwargs)
        self.axis_name = axis_name
        lazy = self._spec.constrained and self.config["num_labels"] is None
        # when lazy: the names and roles only (init() gets the shapes from an example)
        self._variables = self._spec.variables(self.config, num_labels=1 if lazy else None)
        self._input_checked = False

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config.items()
                         if not hasattr(v, "shape"))
        if self.axis_name is not None:
            args += f", axis_name={self.axis_name!r}"
        return f"{type(self).__name__}({args})"

    def init(self, example: Any = None, *, dtype: Any = jnp.float32) -> tuple[Params, State]:
        """``(params, state)``: the trainable and non-trainable variables at their initial
        values (``{}`` and ``{}`` for a loss without state).

        Args:
            example: for a loss built without ``num_labels``: an example batch of logits
                (any array or ``jax.ShapeDtypeStruct``) or its shape, ``(B, L)`` (``L``
                labels) or ``(B,)`` (one); ignored when ``num_labels`` was given (checked
                against it).
            dtype: the variables' dtype.

        Example::

            loss_fn = RecallAtPrecisionLoss(target_precision=0.8)
            params, state = loss_fn.init(jnp.zeros((32, 5)))   # or loss_fn.init((32, 5))
            # params == {}; state == {"duals": (5,), "label_prior_counts": (5,), ...}
        """
        num_labels = None
        if self._spec.constrained:
            if example is None and self.config["num_labels"] is None:
                raise ValueError(f"{type(self).__name__}.init: the number of labels is not "
                                 f"known: pass num_labels= to the constructor, or an example "
                                 f"batch of logits (or its shape) to init, e.g. "
                                 f"loss_fn.init((batch_size, num_labels))")
            if example is not None:
                if isinstance(example, tuple | list):
                    example = jax.ShapeDtypeStruct(tuple(example), dtype)
                num_labels = num_labels_of(self._spec, example)
                given = self.config["num_labels"]
                if given is not None and given != num_labels:
                    raise ValueError(f"{type(self).__name__}.init: the example has "
                                     f"{num_labels} label(s) (shape "
                                     f"{tuple(example.shape)}) but num_labels={given}")
        params: Params = {}
        state: State = {}
        for var in self._spec.variables(self.config, num_labels=num_labels):
            value = jnp.full(var.shape, var.initial_value, dtype=dtype)
            (params if var.trainable else state)[var.name] = value
        return params, state

    def apply(self, params: Params, state: State, logits: jax.Array, labels: jax.Array, *,
              weights: jax.Array | float | None = None, training: bool = True,
              return_aux: bool = True, **call_arrays: Any
              ) -> tuple[jax.Array, dict[str, jax.Array], State]:
        """``(loss, aux, new_state)``; pure. In training mode ``new_state`` holds the label
        priors updated with this batch and, for the constrained losses' default
        ``dual_update="proxy"``/``"surrogate"`` (with ``dual_source="train"``), the duals
        after one projected ascent step on this batch's constraint violation: the loss moves
        its duals itself, no optimizer sees them. ``training=False`` leaves everything as it
        is (``new_state is state``). ``return_aux=False`` gives ``aux = {}`` without
        computing the bounds (eager; under ``jit`` an unused aux is dropped anyway).
        ``mask=`` instead of ``weights`` for :class:`MultilabelCategoricalCrossentropy`."""
        self._check_params(params, state)
        self._check_labels_shape(logits, labels)
        if not self._input_checked:
            self._check_input(logits)
        out = forward(self._spec, self.config, {**params, **state}, logits, labels,
                      stop_gradient=jax.lax.stop_gradient, training=training,
                      return_aux=return_aux, all_reduce=self._all_reduce(),
                      weights=weights, **call_arrays)
        new_state = state
        if out.label_priors is not None:
            new_state = {**new_state, PRIOR_COUNTS: out.label_priors.counts,
                         PRIOR_WEIGHT_SUM: out.label_priors.weight_sum}
        if out.duals is not None:
            new_state = {**new_state, DUALS: out.duals}
        return out.loss, out.aux, new_state

    def update_duals(self, state: State, logits: jax.Array, labels: jax.Array, *,
                     params: Params | None = None, weights: jax.Array | float | None = None,
                     axis_name: Any = None) -> State:
        """One dual step from held-out data, pure: ``state`` with
        ``duals ← min(max(λ + dual_rate·g, 0), dual_max)``, ``g`` the constraint's violation
        on ``(logits, labels)`` (:func:`metricloss.constraint_violation`, hard for
        ``dual_update="proxy"``, surrogate for ``"surrogate"``) at the stored label priors.

        No gradient flows, and nothing else changes (priors, params). ``jax.jit``-able.

        Args:
            state: the loss's state (from ``init`` / ``apply``).
            logits, labels: a held-out batch (or a whole validation pass).
            params: the loss's params; needed by :class:`PrecisionRecallAUCLoss` (its
                biases shift the logits per anchor).
            weights: optional per-example or per-element weights.
            axis_name: under ``shard_map``/``pmap``: the mapped axis to sum the violation
                over (default: the loss's own ``axis_name``).

        Returns:
            The new state.

        Raises:
            TypeError: the loss has no duals, or the model's optimizer trains them
                (``dual_update="gradient_reversal"``).

        Example::

            state = loss_fn.update_duals(state, model(params, x_val), y_val)
        """
        if not self._spec.constrained:
            raise TypeError(f"{type(self).__name__} has no dual variables")
        if not self._spec.owns_duals(self.config):
            raise TypeError(f"{type(self).__name__}(dual_update='gradient_reversal'): the "
                            f"model's optimizer moves the duals; update_duals needs "
                            f"dual_update='proxy' or 'surrogate'")
        params = {} if params is None else params
        if self._spec.has_biases and not params:
            raise ValueError(f"{type(self).__name__}.update_duals needs params= (the "
                             f"per-anchor biases from init())")
        self._check_params(params, state)
        self._check_labels_shape(logits, labels)
        axis = self.axis_name if axis_name is None else axis_name
        all_reduce = None if axis is None else (lambda x: jax.lax.psum(x, axis))
        new = held_out_duals(self._spec, self.config, {**params, **state}, logits, labels,
                             stop_gradient=jax.lax.stop_gradient, weights=weights,
                             all_reduce=all_reduce)
        return {**state, DUALS: new}

    def _all_reduce(self) -> Any:
        """``psum`` over ``axis_name`` (``None`` without one)."""
        if self.axis_name is None:
            return None
        axis_name = self.axis_name
        return lambda x: jax.lax.psum(x, axis_name)

    def __call__(self, logits: jax.Array, labels: jax.Array, **call_arrays: Any) -> jax.Array:
        """The loss alone, for a loss without variables (``apply`` otherwise)."""
        if self._variables:
            raise TypeError(f"{type(self).__name__} has dual variables and label-prior state:"
                            f" call loss_fn.apply(params, state, logits, labels) with "
                            f"(params, state) = loss_fn.init()")
        loss, _, _ = self.apply({}, {}, logits, labels, return_aux=False, **call_arrays)
        return loss

    def param_labels(self, params: Params, *, dual: str = "dual",
                     default: str = "default") -> dict[str, str]:
        """This loss's ``params`` labelled for ``optax.multi_transform``."""
        return dual_param_labels(params, dual=dual, default=default)

    def _check_labels_shape(self, logits: Any, labels: Any) -> None:
        """The constrained losses take ``labels`` of ``logits``' shape: say so before the
        label-prior update would (in terms of its state)."""
        if (self._spec.constrained and hasattr(logits, "shape") and hasattr(labels, "shape")
                and tuple(labels.shape) != tuple(logits.shape)):
            raise ValueError(f"{type(self).__name__}: labels must have the shape of logits "
                             f"{tuple(logits.shape)} (one column per label), got "
                             f"{tuple(labels.shape)}")

    def _check_params(self, params: Any, state: Any) -> None:
        variables = self._variables
        if self._spec.constrained and self.config["num_labels"] is None:
            # the shapes: from the given duals (init() took them from an example)
            holder = params if isinstance(params, Mapping) and DUALS in params else state
            if isinstance(holder, Mapping) and DUALS in holder:
                variables = self._spec.variables(self.config,
                                                 num_labels=int(holder[DUALS].shape[0]))
        for name, tree, trainable in (("params", params, True), ("state", state, False)):
            expected = {v.name: v.shape for v in variables if v.trainable == trainable}
            if not isinstance(tree, Mapping) or set(tree) != set(expected):
                raise ValueError(f"{type(self).__name__}.apply: {name} must be a dict with "
                                 f"keys {sorted(expected)} (from init()), got "
                                 f"{sorted(tree) if isinstance(tree, Mapping) else tree!r}")
            for key, shape in expected.items():
                if tuple(tree[key].shape) != shape:
                    raise ValueError(f"{type(self).__name__}.apply: {name}[{key!r}] must have "
                                     f"shape {shape}, got {tuple(tree[key].shape)}")

    def _check_input(self, logits: Any) -> None:
        if isinstance(logits, jax.core.Tracer) or not hasattr(logits, "shape"):
            return
        self._input_checked = True
        if takes_logits(self._spec, self.config) and looks_like_probabilities(logits):
            hint = ("from_logits=False" if "from_logits" in self.config
                    else "the logits (before the sigmoid)")
            warnings.warn(
                f"{type(self).__name__}: every value of logits lies in [0, 1]: probabilities "
                f"passed as logits? This loss takes logits (from_logits=True); pass {hint}.",
                UserWarning, stacklevel=3)


def _doc(spec: LossSpec, extra: str = "") -> str:
    return (f"``init``/``apply`` over :func:`metricloss.{spec.function_name}`: same keywords."
            f"{extra}")


_CONSTRAINED = (
    "\n\n    Adds ``num_labels`` (optional: ``init(example)`` infers it), ``dual_update`` "
    "(``'proxy'``; ``'surrogate'``; ``'gradient_reversal'``, the original recipe), "
    "``dual_rate`` (0.5), ``dual_max`` (100.0), ``dual_source`` (``'train'`` or "
    "``'held_out'``) and ``dual_rate_factor`` (0.1, gradient reversal only). ``init()`` puts "
    "the duals (ones) and the running label priors in ``state``, which ``apply`` updates when "
    "``training=True``; ``update_duals`` steps the duals from held-out data.")


class SigmoidF1Loss(_MetricLoss):
    __doc__ = _doc(SPECS["SigmoidF1Loss"])
    _spec = SPECS["SigmoidF1Loss"]


class AnyLoss(_MetricLoss):
    __doc__ = _doc(SPECS["AnyLoss"])
    _spec = SPECS["AnyLoss"]


class ConfusionMetricLoss(_MetricLoss):
    __doc__ = _doc(SPECS["ConfusionMetricLoss"])
    _spec = SPECS["ConfusionMetricLoss"]


class MultilabelCategoricalCrossentropy(_MetricLoss):
    __doc__ = _doc(SPECS["MultilabelCategoricalCrossentropy"],
                   " Takes ``mask=`` per call instead of ``weights``.")
    _spec = SPECS["MultilabelCategoricalCrossentropy"]


class SparseMultilabelCategoricalCrossentropy(_MetricLoss):
    __doc__ = _doc(SPECS["SparseMultilabelCategoricalCrossentropy"],
                   " ``labels`` is the ``(B, P)`` integer array of positive indices.")
    _spec = SPECS["SparseMultilabelCategoricalCrossentropy"]


class RecallAtPrecisionLoss(_MetricLoss):
    __doc__ = _doc(SPECS["RecallAtPrecisionLoss"], _CONSTRAINED)
    _spec = SPECS["RecallAtPrecisionLoss"]


class PrecisionAtRecallLoss(_MetricLoss):
    __doc__ = _doc(SPECS["PrecisionAtRecallLoss"], _CONSTRAINED)
    _spec = SPECS["PrecisionAtRecallLoss"]


class TruePositiveRateAtFalsePositiveRateLoss(_MetricLoss):
    __doc__ = _doc(SPECS["TruePositiveRateAtFalsePositiveRateLoss"], _CONSTRAINED)
    _spec = SPECS["TruePositiveRateAtFalsePositiveRateLoss"]


class FalsePositiveRateAtTruePositiveRateLoss(_MetricLoss):
    __doc__ = _doc(SPECS["FalsePositiveRateAtTruePositiveRateLoss"], _CONSTRAINED)
    _spec = SPECS["FalsePositiveRateAtTruePositiveRateLoss"]


class PrecisionRecallAUCLoss(_MetricLoss):
    __doc__ = _doc(SPECS["PrecisionRecallAUCLoss"], _CONSTRAINED
                   + " ``params`` holds the per-anchor ``biases`` (initial 0.0), for the "
                   "model's optimizer.")
    _spec = SPECS["PrecisionRecallAUCLoss"]


class ROCAUCLoss(_MetricLoss):
    __doc__ = _doc(SPECS["ROCAUCLoss"],
                   " With ``axis_name``: the all-gathered form (``jax.lax.all_gather``), each "
                   "shard's positives against every shard's negatives, the global batch's "
                   "loss on every shard.")
    _spec = SPECS["ROCAUCLoss"]

    def apply(self, params: Params, state: State, logits: jax.Array, labels: jax.Array, *,
              weights: jax.Array | float | None = None, training: bool = True,
              return_aux: bool = True, **call_arrays: Any
              ) -> tuple[jax.Array, dict[str, jax.Array], State]:
        if self.axis_name is None:
            return super().apply(params, state, logits, labels, weights=weights,
                                 training=training, return_aux=return_aux, **call_arrays)
        if call_arrays:
            raise TypeError(f"ROCAUCLoss takes no {', '.join(call_arrays)}=")
        self._check_params(params, state)
        axis_name = self.axis_name
        out = self._spec.function(
            logits, labels, weights=weights, **self.config, all_reduce=self._all_reduce(),
            all_gather=lambda x: jax.lax.all_gather(x, axis_name, tiled=True))
        return (out[0] if isinstance(out, tuple) else out), {}, state


class BinaryCrossEntropy(_MetricLoss):
    __doc__ = _doc(SPECS["BinaryCrossEntropy"])
    _spec = SPECS["BinaryCrossEntropy"]


class SigmoidFocalLoss(_MetricLoss):
    __doc__ = _doc(SPECS["SigmoidFocalLoss"])
    _spec = SPECS["SigmoidFocalLoss"]


class AsymmetricLoss(_MetricLoss):
    __doc__ = _doc(SPECS["AsymmetricLoss"],
                   " Adds ``detach_focusing_weights`` (default True: the framework's "
                   "stop-gradient on the focusing weights, the reference training script's "
                   "``disable_torch_grad_focal_loss=True``).")
    _spec = SPECS["AsymmetricLoss"]


class TverskyLoss(_MetricLoss):
    __doc__ = _doc(SPECS["TverskyLoss"])
    _spec = SPECS["TverskyLoss"]


class LovaszHingeLoss(_MetricLoss):
    __doc__ = _doc(SPECS["LovaszHingeLoss"], " Takes no per-call ``weights``.")
    _spec = SPECS["LovaszHingeLoss"]


class LovaszSoftmaxLoss(_MetricLoss):
    __doc__ = _doc(SPECS["LovaszSoftmaxLoss"], " Takes no per-call ``weights``.")
    _spec = SPECS["LovaszSoftmaxLoss"]


class AUCMLoss(_MetricLoss):
    """``init``/``apply`` over :func:`metricloss.auc_m_loss` (AUC-M, LibAUC's ``AUCMLoss``)
    that trains with any optax optimizer: no PESG.

    ``init()`` gives ``state = {"a", "b", "alpha"}`` (``(L,)`` each, initial 0; ``num_labels``
    required) and ``params = {}``; with ``ab_update="trainable"``, ``a`` and ``b`` are in
    ``params`` instead (put them in the optimizer's pytree). ``apply(..., training=True)``
    returns the new state: ``alpha`` after one projected ascent step
    (:func:`metricloss.dual_step` on :func:`metricloss.auc_m_alpha_gradient`), running ``a``,
    ``b`` moved toward the batch's class means (:func:`metricloss.update_auc_m_means`).
    ``aux`` is ``{}``. ``axis_name=``: the global batch's loss and updates under
    ``shard_map``.
    """

    _spec = SPECS["AUCMLoss"]

    def apply(self, params: Params, state: State, logits: jax.Array, labels: jax.Array, *,
              weights: jax.Array | float | None = None, training: bool = True,
              return_aux: bool = True, **call_arrays: Any
              ) -> tuple[jax.Array, dict[str, jax.Array], State]:
        """``(loss, {}, new_state)``; pure (``training=False``: ``new_state is state``)."""
        if call_arrays:
            raise TypeError(f"AUCMLoss takes no {', '.join(call_arrays)}= (per-call keywords: "
                            f"weights)")
        self._check_params(params, state)
        if not self._input_checked:
            self._check_input(logits)
        out = auc_m_forward(self._spec, self.config, {**params, **state}, logits, labels,
                            stop_gradient=jax.lax.stop_gradient, training=training,
                            all_reduce=self._all_reduce(), weights=weights)
        new_state = state
        if out.updates:
            new_state = {**state, **out.updates}
        return out.loss, {}, new_state
