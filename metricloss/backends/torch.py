"""PyTorch adapters: every metricloss loss as a ``torch.nn.Module``.

Each class owns the state its loss needs and calls the core through the one shared forward
(:func:`metricloss.backends._state.forward`); no formula lives here.

- The constrained global objectives hold their dual variables (initial 1.0) and, for PR-AUC,
  their per-anchor biases (initial 0.0) as ``nn.Parameter`` objects, and the running label-prior
  estimate as buffers (``label_prior_counts``, ``label_prior_weight_sum``), updated under
  ``no_grad`` in training mode only (``.eval()`` freezes them).
- The duals ascend through the gradient-reversal form of :func:`metricloss.dual_value`: put
  the loss's parameters in the *same* optimizer as the model and one ``backward()`` plus one
  ``step()`` descends on the model and ascends on the duals (at ``dual_rate_factor`` times
  the learning rate, under SGD).
- ``forward(input, target, weights=None)`` (torch.nn order) returns the loss alone; ``.aux``
  holds the last aux dict, detached.

Example::

    model = torch.nn.Linear(2, 1)
    loss_fn = PrecisionAtRecallLoss(target_recall=0.98, num_labels=1, dual_rate_factor=15.0)
    opt = torch.optim.SGD([*model.parameters(), *loss_fn.parameters()], lr=1.0)
    loss = loss_fn(model(x).squeeze(-1), y)   # one loss: duals and priors handled
    opt.zero_grad(); loss.backward(); opt.step()

With Adam or AdamW, keep the duals out of weight decay (AdamW would pull λ towards 0)::

    opt = torch.optim.AdamW([
        {"params": model.parameters()},
        {"params": loss_fn.parameters(), "weight_decay": 0.0, "lr": 1e-2},
    ], lr=1e-3)

Under Adam the dual step is normalised per parameter, so ``dual_rate_factor`` cancels out (0.1
and 1.0 give the same λ): the dual rate is then the param group's ``lr``.

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
import warnings
from collections.abc import Iterator
from typing import Any, ClassVar

import torch
from torch import nn

from metricloss._checks import check_bool
from metricloss.backends._state import (
    PRIOR_COUNTS,
    PRIOR_WEIGHT_SUM,
    SPECS,
    LossSpec,
    compute_aux,
    forward,
    looks_like_probabilities,
    takes_logits,
)

__all__ = [
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


class _MetricLoss(nn.Module):
    """Base of every adapter: variables from the spec, the shared forward, idioms."""

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

    def __init__(self, *, device: Any = None, dtype: torch.dtype | None = None,
                 sync: bool = False, process_group: Any = None, **kwargs: Any) -> None:
        super().__init__()
        self.config = self._spec.configure(**kwargs)
        self.sync = check_bool("sync", sync)
        self.process_group = process_group
        # Read in forward as a tuple: under torch.compile(dynamic=True) Dynamo turns float
        # values read from a dict attribute into symbolic floats, which the core's number
        # checks cannot take; constants in a tuple stay constants.
        self._config_items = tuple(self.config.items())
        self._variables = self._spec.variables(self.config)
        self._dual_names = tuple(v.name for v in self._variables if v.is_dual)
        dtype = torch.get_default_dtype() if dtype is None else dtype
        for var in self._variables:
            value = torch.full(var.shape, var.initial_value, dtype=dtype, device=device)
            if var.trainable:
                self.register_parameter(var.name, nn.Parameter(value))
            else:
                self.register_buffer(var.name, value)
        self._aux: dict[str, torch.Tensor] | None = {}
        self._last_call: tuple[Any, ...] | None = None
        self._input_checked = False

    def forward(self, input: torch.Tensor, target: torch.Tensor,
                weights: torch.Tensor | float | None = None, **call_arrays: Any
                ) -> torch.Tensor:
        """The loss of ``input`` (logits) against ``target``; ``weights`` per example or
        element (``mask=`` instead for :class:`MultilabelCategoricalCrossentropy`)."""
        if not self._input_checked and isinstance(input, torch.Tensor):
            self._check_input(input)
        # Plain-tensor views of the parameters: the core's namespace lookup reads the array's
        # type, which torch.compile cannot trace for nn.Parameter (str.split on __module__).
        variables = {v.name: getattr(self, v.name).view_as(getattr(self, v.name))
                     for v in self._variables}
        config = dict(self._config_items)
        out = forward(self._spec, config, variables, input, target,
                      stop_gradient=_detach, training=self.training, return_aux=False,
                      all_reduce=self._all_reduce(), weights=weights, **call_arrays)
        if out.label_priors is not None:
            with torch.no_grad():
                getattr(self, PRIOR_COUNTS).copy_(out.label_priors.counts)
                getattr(self, PRIOR_WEIGHT_SUM).copy_(out.label_priors.weight_sum)
        if self._spec.constrained:
            # Kept for .aux, computed only if read (the bounds cost ~40% of an eager call).
            arrays = {"weights": weights, **call_arrays}
            self._last_call = (input.detach(), target, out.used,
                               {k: v.detach() if isinstance(v, torch.Tensor) else v
                                for k, v in arrays.items()})
            self._aux = None
        return out.loss

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
            warnings.warn(
                f"{type(self).__name__}: every value of input lies in [0, 1]: probabilities "
                f"passed as logits? This loss takes logits (from_logits=True); pass {hint}.",
                UserWarning, stacklevel=3)

    def dual_parameters(self) -> Iterator[nn.Parameter]:
        """The dual variables (put them in a param group with ``weight_decay=0``)."""
        for name in self._dual_names:
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
            return getattr(self, PRIOR_COUNTS) / getattr(self, PRIOR_WEIGHT_SUM)
        return self.config.get("label_priors")

    def extra_repr(self) -> str:
        out = ", ".join(f"{k}={v!r}" for k, v in self.config.items()
                        if not isinstance(v, torch.Tensor))
        return f"{out}, sync=True" if self.sync else out


def _doc(spec: LossSpec, extra: str = "") -> str:
    return (f"``nn.Module`` over :func:`metricloss.{spec.function_name}`: same keywords; "
            f"``forward(input, target, weights=None)`` returns the loss alone.{extra}")


_CONSTRAINED = (
    "\n\n    Adds ``num_labels`` (required) and ``dual_rate_factor`` (0.1): the duals are "
    "``nn.Parameter`` objects (initial 1.0), the running label priors buffers updated in training "
    "mode only; ``.aux`` holds the last aux dict, detached.")


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
                   + " The per-anchor ``biases`` (initial 0.0) are parameters too.")
    _spec = SPECS["PrecisionRecallAUCLoss"]


class ROCAUCLoss(_MetricLoss):
    __doc__ = _doc(SPECS["ROCAUCLoss"])
    _spec = SPECS["ROCAUCLoss"]


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
