"""PyTorch adapters: every metricloss loss as a ``torch.nn.Module``.

Each class owns the state its loss needs and calls the core through the one shared forward
(:func:`metricloss.backends._state.forward`); no formula lives here.

- The constrained global objectives own their dual variables (``duals``, initial 1.0): by
  default (``dual_update="proxy"``, or ``"surrogate"``) they are buffers that the loss itself
  moves after every training-mode call, one projected ascent step on the constraint's
  violation (:func:`metricloss.constraint_violation`, :func:`metricloss.dual_step`) with its
  own ``dual_rate`` and bound ``dual_max``, whatever optimizer, learning rate, weight decay or
  param groups train the model. ``update_duals(input, target)`` takes the step from held-out
  data instead (with ``dual_source="held_out"``, the only source). The running label-prior
  estimate is held as buffers too (``label_prior_counts``, ``label_prior_weight_sum``). Every
  buffer is updated under ``no_grad`` in training mode only (``.eval()`` freezes them).
- Only PR-AUC's per-anchor ``biases`` (initial 0.0) are ``nn.Parameter`` objects, and the duals
  under ``dual_update="gradient_reversal"`` (the original library's recipe: the model's
  optimizer ascends on them through :func:`metricloss.dual_value`). Those must reach the
  optimizer: make the loss a submodule of the model, or pass ``loss_fn.parameters()`` too; a
  warning says so when they have not moved after 50 training calls.
- ``num_labels`` is optional: a loss built without it creates its variables on the first call
  (a lazy module, ``torch.nn.modules.lazy.LazyModuleMixin``), or when a state dict is loaded.
- ``forward(input, target, weights=None)`` (torch.nn order) returns the loss alone; ``.aux``
  holds the last aux dict, detached. ``state_dict()`` carries the loss's configuration
  (extra state): loading a state saved with other keywords raises ``ValueError``.

Example::

    model = torch.nn.Linear(20, 5)
    loss_fn = RecallAtPrecisionLoss(target_precision=0.8)      # num_labels from the 1st batch
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)       # the model's parameters only
    loss = loss_fn(model(x), y)   # one loss: duals and priors move themselves
    opt.zero_grad(); loss.backward(); opt.step()
    ...
    loss_fn.update_duals(model(x_val), y_val)   # optional: a dual step from held-out data

Data-parallel training (``DistributedDataParallel``, FSDP): ``sync=True`` (every class;
``process_group=`` defaults to the world group) sums the non-decomposable losses' sufficient
statistics across processes with the autograd-aware ``torch.distributed.nn`` all-reduce, so
each rank's loss and, after DDP's gradient averaging, the gradients are those of the global
batch; the running label priors advance by the global batch on every rank. Without an
initialised process group (or with one process) ``sync=True`` does nothing. ``.aux``'s bounds
stay this rank's (computed lazily, never in a collective). See docs/distributed.md.
"""

from __future__ import annotations

import inspect
import os
import sys
import warnings
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import torch
from torch import nn
from torch.nn.modules.lazy import LazyModuleMixin
from torch.nn.parameter import UninitializedBuffer, UninitializedParameter, is_lazy

from metricloss import streaming as _ml_streaming
from metricloss._checks import check_bool, require_array
from metricloss.backends._state import (
    DUALS,
    PRIOR_COUNTS,
    PRIOR_WEIGHT_SUM,
    SPECS,
    LossSpec,
    auc_m_forward,
    compute_aux,
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
]
__all__ += ["LovaszHingeLoss", "LovaszSoftmaxLoss", "TverskyLoss"]


_TORCH_DIR = os.path.dirname(torch.__file__)


def _warn(message: str) -> None:
    """``UserWarning`` pointing at the user's line: the first frame outside this module and
    torch (``nn.Module.__call__`` adds two or three frames, depending on hooks)."""
    frame: Any = sys._getframe(1)
    level = 1
    while frame is not None and (frame.f_code.co_filename == __file__
                                 or frame.f_code.co_filename.startswith(_TORCH_DIR)):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, UserWarning, stacklevel=level + 1)


def _detach(x: torch.Tensor) -> torch.Tensor:
    return x.detach()


def _differentiable_sum(group: Any) -> Any:
    """The autograd-aware all-reduce (sum) over ``group``: its backward all-reduces the
    gradient. The functional collectives where they register an autograd formula (recent
    releases; traceable by ``torch.compile``), else ``torch.distributed.nn`` (which recent
    releases deprecate)."""
    from torch.distributed import _functional_collectives as fc

    if hasattr(fc, "all_reduce_backward"):
        return lambda x: fc.wait_tensor(fc.all_reduce(x, "sum", group))
    from torch.distributed.nn.functional import all_reduce

    return lambda x: all_reduce(x, group=group)


def _differentiable_gather(group: Any) -> Any:
    """The autograd-aware all-gather along axis 0 over ``group`` (its backward sums each
    slice's gradients across ranks and returns this rank's)."""
    from torch.distributed import _functional_collectives as fc

    if hasattr(fc, "all_gather_tensor_autograd"):
        return lambda x: fc.wait_tensor(fc.all_gather_tensor_autograd(x, 0, group))
    from torch.distributed.nn.functional import all_gather

    return lambda x: torch.cat(all_gather(x, group=group), dim=0)


_EXTRA_STATE = "_extra_state"
FROZEN_CHECK_CALLS = 50
"""Training calls after which a loss warns, once, that the parameters the model's optimizer
should train (PR-AUC's ``biases``, gradient-reversal duals) have not moved."""


def _plain(value: Any) -> Any:
    """A configuration value as plain Python (tensors and tuples as lists), for extra state."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().tolist()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


class _MetricLoss(LazyModuleMixin, nn.Module):
    """Base of every adapter: variables from the spec (created on the first call when the
    number of labels is not given), the shared forward, idioms."""

    _spec: ClassVar[LossSpec]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        spec = getattr(cls, "_spec", None)
        if spec is not None:  # help() and inspect show the real keywords
            sig = spec.signature()
            extra = [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=None)
                     for n in ("device", "dtype")] if spec.constrained else []
            extra = [*extra,
                     inspect.Parameter("sync", inspect.Parameter.KEYWORD_ONLY, default=False),
                     inspect.Parameter("process_group", inspect.Parameter.KEYWORD_ONLY,
                                       default=None)]
            cls.__signature__ = sig.replace(  # type: ignore[attr-defined]
                parameters=[*sig.parameters.values(), *extra])

    def __init__(self, *args: Any, device: Any = None, dtype: torch.dtype | None = None,
                 sync: bool = False, process_group: Any = None, **kwargs: Any) -> None:
        # configure first: positional arguments get a message naming the class
        config = self._spec.configure(*args, **kwargs)
        super().__init__()
        self.config = config
        self.sync = check_bool("sync", sync)
        self.process_group = process_group
        # Read in forward as a tuple: under torch.compile(dynamic=True) Dynamo turns float
        # values read from a dict attribute into symbolic floats, which the core's number
        # checks cannot take; constants in a tuple stay constants.
        self._config_items = tuple(self.config.items())
        lazy = self._spec.constrained and self.config["num_labels"] is None
        # when lazy: the names and roles (shapes come with the first batch)
        self._variables = self._spec.variables(self.config, num_labels=1 if lazy else None)
        self._dual_names = tuple(v.name for v in self._variables if v.is_dual)
        dtype = torch.get_default_dtype() if dtype is None else dtype
        for var in self._variables:
            if lazy:
                lazy_cls: Any = UninitializedParameter if var.trainable else UninitializedBuffer
                placeholder = lazy_cls(device=device, dtype=dtype)
                if var.trainable:
                    self.register_parameter(var.name, placeholder)
                else:
                    self.register_buffer(var.name, placeholder)
                continue
            value = torch.full(var.shape, var.initial_value, dtype=dtype, device=device)
            if var.trainable:
                self.register_parameter(var.name, nn.Parameter(value))
            else:
                self.register_buffer(var.name, value)
        self._aux: dict[str, torch.Tensor] | None = {}
        self._last_call: tuple[Any, ...] | None = None
        self._input_checked = False
        self._watch_calls = 0
        self._watch_start: dict[str, torch.Tensor] | None = None

    # -- lazy variables -------------------------------------------------------------------

    def initialize_parameters(self, input: Any = None, *args: Any, **kwargs: Any) -> None:
        """Create the variables from the first batch (``LazyModuleMixin``'s hook): ``L`` is
        ``input.shape[-1]`` (1 for ``(B,)``). Nothing to do when they exist already."""
        if self.has_uninitialized_params():
            self._materialize(input)

    def _materialize(self, input: Any) -> None:
        require_array("input", input)
        variables = self._spec.variables(self.config,
                                         num_labels=num_labels_of(self._spec, input))
        with torch.no_grad():
            for var in variables:
                tensor = getattr(self, var.name)
                if is_lazy(tensor):
                    tensor.materialize(var.shape)
                    tensor.fill_(var.initial_value)
        self._variables = variables

    def _load_from_state_dict(self, state_dict: Mapping[str, Any], prefix: str,
                              *args: Any, **kwargs: Any) -> None:
        extra = prefix + _EXTRA_STATE
        if extra in state_dict and type(self).set_extra_state is not nn.Module.set_extra_state:
            self.set_extra_state(state_dict[extra])  # refuse before anything is copied
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        if not self.has_uninitialized_params() and self._variables:
            shape = tuple(getattr(self, self._variables[0].name).shape)
            self._variables = self._spec.variables(self.config, num_labels=shape[0])

    def _save_to_state_dict(self, destination: dict[str, Any], prefix: str,
                            keep_vars: bool) -> None:
        super()._save_to_state_dict(destination, prefix, keep_vars)
        # LazyModuleMixin's version leaves the extra state out: put it back
        if type(self).get_extra_state is not nn.Module.get_extra_state:
            destination[prefix + _EXTRA_STATE] = self.get_extra_state()

    def _replicate_for_data_parallel(self) -> Any:
        if self.has_uninitialized_params():
            return super()._replicate_for_data_parallel()  # the mixin's error
        return nn.Module._replicate_for_data_parallel(self)

    # -- the forward ------------------------------------------------------------------------

    def _variable_views(self) -> dict[str, torch.Tensor]:
        # Plain-tensor views of the parameters: the core's namespace lookup reads the array's
        # type, which torch.compile cannot trace for nn.Parameter (str.split on __module__).
        return {v.name: getattr(self, v.name).view_as(getattr(self, v.name))
                for v in self._variables}

    def forward(self, input: torch.Tensor, target: torch.Tensor,
                weights: torch.Tensor | float | None = None, **call_arrays: Any
                ) -> torch.Tensor:
        """The loss of ``input`` (logits) against ``target``; ``weights`` per example or
        element (``mask=`` instead for :class:`MultilabelCategoricalCrossentropy`)."""
        if not self._input_checked and isinstance(input, torch.Tensor):
            self._check_input(input)
        if self._spec.constrained and not torch.compiler.is_compiling():
            self._check_target_shape(input, target)
        config = dict(self._config_items)
        out = forward(self._spec, config, self._variable_views(), input, target,
                      stop_gradient=_detach, training=self.training, return_aux=False,
                      all_reduce=self._all_reduce(), weights=weights, **call_arrays)
        if out.label_priors is not None or out.duals is not None:
            with torch.no_grad():
                if out.label_priors is not None:
                    getattr(self, PRIOR_COUNTS).copy_(out.label_priors.counts)
                    getattr(self, PRIOR_WEIGHT_SUM).copy_(out.label_priors.weight_sum)
                if out.duals is not None:
                    getattr(self, DUALS).copy_(out.duals)
        if self._spec.constrained:
            # Kept for .aux, computed only if read (the bounds cost ~40% of an eager call).
            arrays = {"weights": weights, **call_arrays}
            self._last_call = (input.detach(), target, out.used,
                               {k: v.detach() if isinstance(v, torch.Tensor) else v
                                for k, v in arrays.items()})
            self._aux = None
            if self.training and not torch.compiler.is_compiling():
                self._watch_trainable()
        return out.loss

    @torch.no_grad()
    def update_duals(self, input: torch.Tensor, target: torch.Tensor,
                     weights: torch.Tensor | float | None = None) -> torch.Tensor:
        """One dual step from held-out data: ``λ ← min(max(λ + dual_rate·g, 0), dual_max)``
        with ``g`` the constraint's violation on ``(input, target)``
        (:func:`metricloss.constraint_violation`, hard for ``dual_update="proxy"``, surrogate
        for ``"surrogate"``), at the stored label priors.

        No gradient, and nothing else changes: not the model, not the label priors. Call it
        with a validation batch's logits (or a whole validation pass at once) between training
        steps; with ``dual_source="held_out"`` it is the duals' only source. With
        ``sync=True`` the violation is that of the global batch (summed over the process
        group), so every rank's duals stay identical. Works in train and eval mode.

        Args:
            input: logits ``(B, L)`` or ``(B,)`` of held-out data.
            target: labels of the same shape.
            weights: optional per-example or per-element weights.

        Returns:
            The new duals (the ``duals`` buffer itself).

        Raises:
            TypeError: the loss has no duals, or its duals are trained by the model's
                optimizer (``dual_update="gradient_reversal"``).

        Example::

            loss_fn = RecallAtPrecisionLoss(target_precision=0.8, dual_source="held_out")
            for x, y in train_loader:
                ...  # the usual training step with loss_fn
                with torch.no_grad():
                    loss_fn.update_duals(model(x_val), y_val)
        """
        if self._spec.constrained:
            self._check_target_shape(input, target)
            if not torch.compiler.is_compiling() and self.has_uninitialized_params():
                self._materialize(input)
        new = held_out_duals(self._spec, self.config, self._variable_views(), input, target,
                             stop_gradient=_detach, weights=weights,
                             all_reduce=self._all_reduce())
        duals = getattr(self, DUALS)
        duals.copy_(new)
        return duals

    def _check_target_shape(self, input: Any, target: Any) -> None:
        """The constrained losses take ``target`` of ``input``'s shape: say so with the user's
        argument names (the core would name its own ``labels`` and the prior state)."""
        if (isinstance(input, torch.Tensor) and isinstance(target, torch.Tensor)
                and tuple(target.shape) != tuple(input.shape)):
            raise ValueError(f"{type(self).__name__}: target must have the shape of input "
                             f"{tuple(input.shape)} (one column per label), got "
                             f"{tuple(target.shape)}")

    def _watch_trainable(self) -> None:
        """Warn once when the parameters that only the model's optimizer moves (PR-AUC's
        biases, gradient-reversal duals) have not changed after ``FROZEN_CHECK_CALLS``
        training calls: they are then missing from the optimizer. Eager mode only."""
        if self._watch_calls < 0:
            return
        names = [v.name for v in self._variables if v.trainable]
        if not names:
            self._watch_calls = -1
            return
        self._watch_calls += 1
        if self._watch_start is None:
            self._watch_start = {n: getattr(self, n).detach().clone() for n in names}
            return
        if self._watch_calls < FROZEN_CHECK_CALLS:
            return
        frozen = [n for n in names if torch.equal(getattr(self, n).detach(),
                                                  self._watch_start[n])]
        self._watch_calls, self._watch_start = -1, None
        if frozen:
            cls = type(self).__name__
            fix = ("; or use the default dual_update='proxy', with which the loss moves its "
                   "duals itself" if DUALS in frozen else "")
            _warn(
                f"{cls}: its parameter(s) {', '.join(frozen)} have not changed in "
                f"{FROZEN_CHECK_CALLS} training calls: the model's optimizer does not train "
                f"them. Build the optimizer with the loss's parameters too, e.g. "
                f"torch.optim.AdamW([*model.parameters(), *loss_fn.parameters()]), or make "
                f"the loss a submodule of the model{fix}.")

    def _all_reduce(self) -> Any:
        """The differentiable sum across the process group (``sync=True`` with more than one
        process), else ``None``."""
        if not self.sync or not torch.distributed.is_available():
            return None
        dist = torch.distributed
        if not dist.is_initialized():
            return None
        group = self.process_group if self.process_group is not None else dist.group.WORLD
        if dist.get_world_size(group) <= 1:
            return None
        return _differentiable_sum(group)

    @property
    def aux(self) -> dict[str, torch.Tensor]:
        """The aux dict of the last call (``lambdas``, ``label_priors``, the bounds, PR-AUC
        ``biases``), detached; ``{}`` before the first call and for losses without state.
        Computed on first access from the last call's (detached) inputs, so calls that never
        read it pay nothing; it keeps a reference to the last batch's logits meanwhile."""
        if self._aux is None:
            if self._last_call is None:
                return {}
            logits, target, used, arrays = self._last_call
            with torch.no_grad():
                self._aux = compute_aux(self._spec, self.config, used, logits, target,
                                        **arrays)
        return self._aux

    def _check_input(self, input: torch.Tensor) -> None:
        if torch.compiler.is_compiling():
            return
        self._input_checked = True
        if takes_logits(self._spec, self.config) and looks_like_probabilities(input):
            hint = ("from_logits=False" if "from_logits" in self.config
                    else "the logits (before the sigmoid)")
            _warn(
                f"{type(self).__name__}: every value of input lies in [0, 1]: probabilities "
                f"passed as logits? This loss takes logits (from_logits=True); pass {hint}.",
)

    def dual_parameters(self) -> Iterator[nn.Parameter]:
        """The dual variables when the model's optimizer trains them
        (``dual_update="gradient_reversal"``: put them in a param group with
        ``weight_decay=0``); nothing otherwise (the loss moves its duals itself)."""
        for name in self._dual_names:
            if name in self._parameters:
                yield getattr(self, name)

    def non_dual_parameters(self) -> Iterator[nn.Parameter]:
        """The loss's other parameters (PR-AUC biases)."""
        for name, param in self.named_parameters():
            if name not in self._dual_names:
                yield param

    @property
    def label_priors(self) -> torch.Tensor | None:
        """The label priors the next eval-mode call would use (``None`` if stateless)."""
        if self._spec.running_priors(self.config):
            if self.has_uninitialized_params():
                return None
            return getattr(self, PRIOR_COUNTS) / getattr(self, PRIOR_WEIGHT_SUM)
        return self.config.get("label_priors")

    def extra_repr(self) -> str:
        out = ", ".join(f"{k}={v!r}" for k, v in self.config.items()
                        if not isinstance(v, torch.Tensor))
        return f"{out}, sync=True" if self.sync else out


class _ConstrainedLoss(_MetricLoss):
    """The global objectives: their ``state_dict`` carries their configuration."""

    def get_extra_state(self) -> dict[str, Any]:
        """The configuration, as plain Python (saved with ``state_dict()``)."""
        return {"class": type(self).__name__,
                "config": {k: _plain(v) for k, v in self.config.items()}}

    def set_extra_state(self, state: Any) -> None:
        """Refuse a state saved from a loss with another configuration (``ValueError`` naming
        the keywords that differ); ``num_labels`` may differ from ``None`` (inferred)."""
        if not isinstance(state, Mapping) or "config" not in state:
            raise ValueError(f"{type(self).__name__}.load_state_dict: the entry "
                             f"{_EXTRA_STATE!r} is not a metricloss configuration: {state!r}")
        saved, mine = dict(state["config"]), self.get_extra_state()["config"]
        if saved.get("num_labels") is None or mine.get("num_labels") is None:
            saved.pop("num_labels", None)
            mine.pop("num_labels", None)
        differ = sorted(k for k in set(saved) | set(mine) if saved.get(k) != mine.get(k))
        name = type(self).__name__
        if state.get("class", name) != name or differ:
            detail = "; ".join(f"{k}: saved {saved.get(k)!r}, this loss {mine.get(k)!r}"
                               for k in differ)
            raise ValueError(
                f"{name}.load_state_dict: the state was saved from "
                f"{state.get('class', name)} with another configuration ({detail}). Build "
                f"the loss with the saved keywords, or delete the {_EXTRA_STATE!r} entry "
                f"from the state dict (load_state_dict(..., strict=False)) to load its "
                f"variables into this configuration anyway.")


def _doc(spec: LossSpec, extra: str = "") -> str:
    return (f"``nn.Module`` over :func:`metricloss.{spec.function_name}`: same keywords; "
            f"``forward(input, target, weights=None)`` returns the loss alone.{extra}")


_CONSTRAINED = (
    "\n\n    Adds ``num_labels`` (optional: from the first batch), ``dual_update`` "
    "(``'proxy'``; ``'surrogate'``; ``'gradient_reversal'``, the original recipe), "
    "``dual_rate`` (0.5), ``dual_max`` (100.0), ``dual_source`` (``'train'`` or "
    "``'held_out'``) and ``dual_rate_factor`` (0.1, gradient reversal only). The duals "
    "(initial 1.0) and the running label priors are buffers the loss updates itself in "
    "training mode (the duals are parameters under gradient reversal); "
    "``update_duals`` takes a dual step from held-out data; ``.aux`` holds the last aux "
    "dict, detached.")


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
                   " ``target`` is the ``(B, P)`` integer array of positive indices.")
    _spec = SPECS["SparseMultilabelCategoricalCrossentropy"]


class RecallAtPrecisionLoss(_ConstrainedLoss):
    __doc__ = _doc(SPECS["RecallAtPrecisionLoss"], _CONSTRAINED)
    _spec = SPECS["RecallAtPrecisionLoss"]


class PrecisionAtRecallLoss(_ConstrainedLoss):
    __doc__ = _doc(SPECS["PrecisionAtRecallLoss"], _CONSTRAINED)
    _spec = SPECS["PrecisionAtRecallLoss"]


class TruePositiveRateAtFalsePositiveRateLoss(_ConstrainedLoss):
    __doc__ = _doc(SPECS["TruePositiveRateAtFalsePositiveRateLoss"], _CONSTRAINED)
    _spec = SPECS["TruePositiveRateAtFalsePositiveRateLoss"]


class FalsePositiveRateAtTruePositiveRateLoss(_ConstrainedLoss):
    __doc__ = _doc(SPECS["FalsePositiveRateAtTruePositiveRateLoss"], _CONSTRAINED)
    _spec = SPECS["FalsePositiveRateAtTruePositiveRateLoss"]


class PrecisionRecallAUCLoss(_ConstrainedLoss):
    __doc__ = _doc(SPECS["PrecisionRecallAUCLoss"], _CONSTRAINED
                   + " The per-anchor ``biases`` (initial 0.0) are parameters: the model's "
                   "optimizer must train them (pass ``loss_fn.parameters()`` too, or make the "
                   "loss a submodule of the model).")
    _spec = SPECS["PrecisionRecallAUCLoss"]


class ROCAUCLoss(_MetricLoss):
    __doc__ = _doc(SPECS["ROCAUCLoss"],
                   " ``sync=True`` (with more than one process): the all-gathered form, each "
                   "rank's positives against every rank's negatives (autograd all-gather, "
                   "equal shard sizes), the global batch's loss on every rank.")
    _spec = SPECS["ROCAUCLoss"]

    def forward(self, input: torch.Tensor, target: torch.Tensor,
                weights: torch.Tensor | float | None = None, **call_arrays: Any
                ) -> torch.Tensor:
        all_reduce = self._all_reduce()
        if all_reduce is None:
            return super().forward(input, target, weights, **call_arrays)
        if call_arrays:
            raise TypeError(f"ROCAUCLoss takes no {', '.join(call_arrays)}=")
        dist = torch.distributed
        group = self.process_group if self.process_group is not None else dist.group.WORLD
        out = self._spec.function(input, target, weights=weights, **dict(self._config_items),
                                  all_gather=_differentiable_gather(group),
                                  all_reduce=all_reduce)
        return out[0] if isinstance(out, tuple) else out


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


# ============================================================================================
# Streaming evaluation (issue 22): a metric over batches, in constant memory
# ============================================================================================


class CurveMetric(nn.Module):
    """A streaming ranking metric: the :class:`metricloss.CurveState` held in two buffers.

    ``update(input, target, weights=None)`` (also ``metric(input, target)``) adds a batch of
    logits and 0/1 targets under ``no_grad``; ``compute()`` returns the metric of everything
    seen since the last ``reset()``; :attr:`state` is the :class:`~metricloss.CurveState`
    itself, for any function of ``metricloss`` that reads one (``tune_thresholds(state)``,
    ``confusion_counts(state, thresholds)``). The buffers ``positives``/``negatives``
    ``(num_labels, num_bins)`` are the whole state: constant memory, saved in
    ``state_dict``, moved by ``.to(device)``.

    Args:
        num_labels: ``L`` (1 for binary scores of shape ``(B,)``).
        metric: ``"average_precision"`` (default), ``"roc_auc"``, ``"recall_at_precision"``
            (with ``target_precision``) or ``"tuned_f1"`` (the F1 at the per-label thresholds
            tuned from the stream).
        average: ``"macro"`` (default), ``"micro"``, ``"weighted"`` (not for ``tuned_f1``),
            ``"none"``.
        target_precision: for ``recall_at_precision``.
        num_bins: score bins per label (default 1024).
        sync: data-parallel evaluation: ``compute()`` and :attr:`state` sum the buffers over
            ``process_group`` (default the world group) with one ``all_reduce`` (every rank
            gets the global stream's metric; the buffers themselves stay this rank's). No
            effect without an initialised process group of more than one process.
        device, dtype: of the buffers (default float64 counts, exact to ``2**53``).

    Example::

        metric = CurveMetric(num_labels, metric="average_precision", sync=True)
        for x, y in loader:
            metric.update(model(x), y)
        ap = metric.compute()
        thresholds = metricloss.tune_thresholds(metric.state)
    """

    positives: torch.Tensor
    negatives: torch.Tensor

    def __init__(self, num_labels: int, *, metric: str = "average_precision",
                 average: str = "macro", target_precision: float | None = None,
                 num_bins: int = _ml_streaming.DEFAULT_NUM_BINS, sync: bool = False,
                 process_group: Any = None, device: Any = None,
                 dtype: torch.dtype = torch.float64) -> None:
        super().__init__()
        _ml_streaming.check_state_metric(metric, average, target_precision)
        self.metric, self.average, self.target_precision = metric, average, target_precision
        self.sync = check_bool("sync", sync)
        self.process_group = process_group
        state = _ml_streaming.curve_state_init(num_labels, num_bins=num_bins, xp=torch,
                                               dtype=dtype, device=device)
        self.register_buffer("positives", state.positives)
        self.register_buffer("negatives", state.negatives)

    @property
    def local_state(self) -> Any:
        """This process's :class:`~metricloss.CurveState` (the buffers, detached)."""
        return _ml_streaming.CurveState(self.positives.detach(), self.negatives.detach())

    @property
    def state(self) -> Any:
        """The :class:`~metricloss.CurveState` of the whole stream: summed over the process
        group with ``sync=True``, this process's otherwise."""
        state = self.local_state
        dist = torch.distributed
        if not (self.sync and dist.is_available() and dist.is_initialized()):
            return state
        group = self.process_group if self.process_group is not None else dist.group.WORLD
        if dist.get_world_size(group) <= 1:
            return state
        both = torch.stack([state.positives, state.negatives])
        dist.all_reduce(both, op=dist.ReduceOp.SUM, group=group)
        return _ml_streaming.CurveState(both[0], both[1])

    @torch.no_grad()
    def update(self, input: torch.Tensor, target: torch.Tensor,
               weights: torch.Tensor | None = None) -> None:
        """Add a batch: ``input`` logits ``(B, L)`` (or ``(B,)``), ``target`` 0/1, optional
        per-example ``weights`` ``(B,)``."""
        new = _ml_streaming.curve_state_update(self.local_state, input.detach(), target,
                                               weights=weights)
        self.positives.copy_(new.positives)
        self.negatives.copy_(new.negatives)

    def forward(self, input: torch.Tensor, target: torch.Tensor,
                weights: torch.Tensor | None = None) -> None:
        """:meth:`update` (the module can be called like a loss)."""
        self.update(input, target, weights)

    def compute(self) -> torch.Tensor:
        """The metric of the stream so far (over the process group with ``sync=True``)."""
        return _ml_streaming.state_metric(self.state, self.metric, average=self.average,
                                          target_precision=self.target_precision)

    def reset(self) -> None:
        """Forget every batch (zero the buffers)."""
        self.positives.zero_()
        self.negatives.zero_()

    def extra_repr(self) -> str:
        extra = (f", target_precision={self.target_precision}"
                 if self.target_precision is not None else "")
        return (f"num_labels={self.positives.shape[0]}, num_bins={self.positives.shape[1]}, "
                f"metric={self.metric!r}, average={self.average!r}{extra}"
                + (", sync=True" if self.sync else ""))


__all__.append("CurveMetric")


class AUCMLoss(_MetricLoss):
    """``nn.Module`` over :func:`metricloss.auc_m_loss` (AUC-M, LibAUC's ``AUCMLoss``) that
    trains with the model's usual optimizer: no PESG.

    Holds ``a``, ``b``, ``alpha`` per label (``num_labels``, required; initial 0 as LibAUC).
    ``alpha`` is a buffer the loss moves itself: after each training-mode call one projected
    ascent step (:func:`metricloss.dual_step` on :func:`metricloss.auc_m_alpha_gradient`,
    rate ``alpha_rate``, bound ``alpha_max``). ``a``, ``b``: with ``ab_update="running"``
    (default) buffers holding an exponential average (``ab_momentum``) of the class-mean
    scores (:func:`metricloss.update_auc_m_means`); with ``"trainable"`` parameters for the
    model's optimizer. ``.eval()`` freezes the state. ``sync=True``: the loss and every
    update are the global batch's (see :class:`_MetricLoss`).

    Example::

        loss_fn = AUCMLoss(num_labels=5)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)   # + loss_fn.parameters() if
        loss = loss_fn(model(x), y)                           # ab_update="trainable"
        opt.zero_grad(); loss.backward(); opt.step()
    """

    _spec = SPECS["AUCMLoss"]

    def forward(self, input: torch.Tensor, target: torch.Tensor,
                weights: torch.Tensor | float | None = None, **call_arrays: Any
                ) -> torch.Tensor:
        if call_arrays:
            raise TypeError(f"AUCMLoss takes no {', '.join(call_arrays)}= (per-call keywords: "
                            f"weights)")
        if not self._input_checked and isinstance(input, torch.Tensor):
            self._check_input(input)
        variables = {v.name: getattr(self, v.name).view_as(getattr(self, v.name))
                     for v in self._variables}
        out = auc_m_forward(self._spec, dict(self._config_items), variables, input, target,
                            stop_gradient=_detach, training=self.training,
                            all_reduce=self._all_reduce(), weights=weights)
        if out.updates:
            with torch.no_grad():
                for name, value in out.updates.items():
                    getattr(self, name).copy_(value)
        return out.loss
