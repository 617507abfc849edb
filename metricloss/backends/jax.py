"""JAX adapters: every metricloss loss as a pure ``init``/``apply`` pair over plain pytrees.

Each class holds its configuration only; the variables live in two dicts the caller owns:

- ``params`` (trainable): ``{"duals": (L,)}`` for the constrained global objectives
  (``(L, K)`` and ``"biases"`` too for PR-AUC); ``{}`` for the other losses.
- ``state`` (non-trainable): ``{"label_prior_counts": (L,), "label_prior_weight_sum": (L,)}``,
  the running label-prior estimate; ``{}`` for the other losses.

``apply(params, state, logits, labels, *, weights=None, training=True)`` returns
``(loss, aux, new_state)``; it is pure and ``jax.jit``-able, and it calls the core through the
one shared forward (:func:`metricloss.backends._state.forward`): no formula lives here.

Put the loss's ``params`` in the same pytree as the model's and one optimizer trains both: the
gradient-reversal form of :func:`metricloss.dual_value` makes the *same* gradient step descend
on the model and ascend on the duals. Example (plain SGD)::

    loss_fn = PrecisionAtRecallLoss(target_recall=0.98, num_labels=1, dual_rate_factor=15.0)
    loss_params, loss_state = loss_fn.init()
    params = {"model": model_params, "loss": loss_params}

    @jax.jit
    def step(params, loss_state, x, y):
        def objective(p):
            loss, aux, new_state = loss_fn.apply(p["loss"], loss_state, model(p["model"], x), y)
            return loss, new_state
        (loss, loss_state), grads = jax.value_and_grad(objective, has_aux=True)(params)
        params = jax.tree.map(lambda p, g: p - 1.0 * g, params, grads)
        return params, loss_state, loss

With optax, keep the duals out of weight decay (``adamw`` would pull λ towards 0) with
:func:`dual_param_labels`::

    tx = optax.multi_transform(
        {"default": optax.adamw(1e-3), "dual": optax.adam(1e-2)}, dual_param_labels)

Under Adam the dual step is normalised per parameter, so ``dual_rate_factor`` cancels out (0.1
and 1.0 give the same λ): the dual rate is then the ``"dual"`` transform's learning rate.
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
    looks_like_probabilities,
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

Params = dict[str, jax.Array]
State = dict[str, jax.Array]


def dual_param_labels(tree: Any, *, dual: str = "dual", default: str = "default") -> Any:
    """Label every leaf of ``tree``: ``dual`` under a ``"duals"`` key, ``default`` elsewhere.

    The ``param_labels`` of ``optax.multi_transform``, for a pytree holding the model's and
    the losses' params (at any depth): the dual variables get their own transform, without
    weight decay.
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

    def __init__(self, *, axis_name: Any = None, **kwargs: Any) -> None:
        self.config = self._spec.configure(**kwargs)
        self.axis_name = axis_name
        self._variables = self._spec.variables(self.config)
        self._input_checked = False

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config.items()
                         if not hasattr(v, "shape"))
        if self.axis_name is not None:
            args += f", axis_name={self.axis_name!r}"
        return f"{type(self).__name__}({args})"

    def init(self, *, dtype: Any = jnp.float32) -> tuple[Params, State]:
        """``(params, state)``: the trainable and non-trainable variables at their initial
        values (``{}`` and ``{}`` for a loss without state)."""
        params: Params = {}
        state: State = {}
        for var in self._variables:
            value = jnp.full(var.shape, var.initial_value, dtype=dtype)
            (params if var.trainable else state)[var.name] = value
        return params, state

    def apply(self, params: Params, state: State, logits: jax.Array, labels: jax.Array, *,
              weights: jax.Array | float | None = None, training: bool = True,
              return_aux: bool = True, **call_arrays: Any
              ) -> tuple[jax.Array, dict[str, jax.Array], State]:
        """``(loss, aux, new_state)``; pure. ``training=False`` leaves the priors as they
        are (``new_state is state``). ``return_aux=False`` gives ``aux = {}`` without
        computing the bounds (eager; under ``jit`` an unused aux is dropped anyway).
        ``mask=`` instead of ``weights`` for :class:`MultilabelCategoricalCrossentropy`."""
        self._check_params(params, state)
        if not self._input_checked:
            self._check_input(logits)
        out = forward(self._spec, self.config, {**params, **state}, logits, labels,
                      stop_gradient=jax.lax.stop_gradient, training=training,
                      return_aux=return_aux, all_reduce=self._all_reduce(),
                      weights=weights, **call_arrays)
        new_state = state
        if out.label_priors is not None:
            new_state = {**state, PRIOR_COUNTS: out.label_priors.counts,
                         PRIOR_WEIGHT_SUM: out.label_priors.weight_sum}
        return out.loss, out.aux, new_state

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

    def _check_params(self, params: Any, state: Any) -> None:
        for name, tree, trainable in (("params", params, True), ("state", state, False)):
            expected = {v.name: v.shape for v in self._variables if v.trainable == trainable}
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
    "\n\n    Adds ``num_labels`` (required) and ``dual_rate_factor`` (0.1). ``init()`` gives "
    "``params = {'duals': ones}`` and ``state`` = the running label priors; ``apply`` "
    "updates the priors when ``training=True``.")


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
                   + " ``params`` also holds the per-anchor ``biases`` (initial 0.0).")
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
