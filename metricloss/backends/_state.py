"""What every framework adapter shares: each loss's variables and its one pure forward.

Framework-free (it imports the core only, never torch, JAX, TensorFlow or Keras), so that the
PyTorch modules (:mod:`metricloss.backends.torch`), the JAX ``init``/``apply`` pairs
(:mod:`metricloss.backends.jax`) and the Keras losses hold no formula and no copy of each other:
an adapter

1. looks up its :class:`LossSpec` in :data:`SPECS` by class name,
2. validates the constructor keywords once with :meth:`LossSpec.configure`,
3. creates one framework variable per :class:`VariableSpec` of :meth:`LossSpec.variables`
   (trainable ones as parameters, the others as non-trainable state), each filled with
   ``initial_value``,
4. and on each call passes those variables to :func:`forward`, with its framework's
   ``stop_gradient``, then stores the label-prior state and the new dual values that
   :func:`forward` returns (training mode only);
5. offers ``update_duals`` (held-out data) through :func:`held_out_duals`.

:func:`forward` is pure: ``λ → core loss → update_label_priors → dual_step``; it reads the
variables, never writes them.

**Dual dynamics** (``dual_update=``, see :data:`DUAL_UPDATES`). By default (``"proxy"``) the
loss owns its duals: they are non-trainable state, and after each training-mode call the
adapter stores ``dual_step(λ, constraint_violation(..., estimate="hard"), rate=dual_rate,
max_value=dual_max)`` — projected ascent on the constraint's violation at the decision rule,
whatever optimizer, learning rate, weight decay or param groups the model uses.
``"surrogate"`` steps on the surrogate bounds' violation instead. ``dual_source="held_out"``
takes steps only from ``update_duals(logits, labels)`` (a validation batch or pass).
``"gradient_reversal"`` keeps the original library's recipe: trainable duals read through
:func:`metricloss.dual_value`, moved by the model's optimizer.

Variables (names are the attribute / pytree keys every adapter uses):

========================== ============ ========= =========================================
name                       shape        initial   role
========================== ============ ========= =========================================
``duals``                  ``(L,)``     1.0       ``λ``; non-trainable state moved by the
                           ``(L, K)``             loss (PR-AUC: ``(L, K)``); trainable with
                                                  ``dual_update="gradient_reversal"``
``biases``                 ``(L, K)``   0.0       trainable; PR-AUC only
``label_prior_counts``     ``(L,)``     1.0       non-trainable; ``LabelPriorState.counts``
``label_prior_weight_sum`` ``(L,)``     2.0       non-trainable; ``LabelPriorState.weight_sum``
========================== ============ ========= =========================================

(``L = num_labels``, or the first batch's ``logits.shape[-1]`` when the loss is built without
it; ``K = num_anchors``.) The prior state is not created when the loss is
built with fixed ``label_priors=``. Losses without state (sigmoidF1, AnyLoss, ZLPR, ROC-AUC,
the baselines) have no variables.

Example (NumPy stands in for a framework; ``stop_gradient`` is then the identity):

    >>> import numpy as np
    >>> spec = SPECS["PrecisionAtRecallLoss"]
    >>> config = spec.configure(target_recall=0.9, num_labels=1)
    >>> [(v.name, v.shape, v.initial_value, v.trainable) for v in spec.variables(config)]
    [('duals', (1,), 1.0, False), ('label_prior_counts', (1,), 1.0, False), \
('label_prior_weight_sum', (1,), 2.0, False)]
    >>> variables = {v.name: np.full(v.shape, v.initial_value) for v in spec.variables(config)}
    >>> out = forward(spec, config, variables, np.array([2.0, -1.0]), np.array([1, 0]),
    ...               stop_gradient=lambda x: x, training=True)
    >>> out.label_priors.counts.tolist(), out.label_priors.weight_sum.tolist()
    ([2.0], [4.0])
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import metricloss
from metricloss._checks import (
    check_bool,
    check_choice,
    check_integer,
    check_number,
    require_array,
)
from metricloss._namespace import Array, is_eager, namespace_of

__all__ = [
    "PRIOR_COUNTS_INIT",
    "PRIOR_WEIGHT_SUM_INIT",
    "SPECS",
    "ForwardResult",
    "LossSpec",
    "VariableSpec",
    "compute_aux",
    "forward",
    "looks_like_probabilities",
]

DUALS = "duals"
BIASES = "biases"
PRIOR_COUNTS = "label_prior_counts"
PRIOR_WEIGHT_SUM = "label_prior_weight_sum"

DUAL_INIT = 1.0
"""Initial value of the dual variables (the original library's ``lambdas_initializer``)."""
BIAS_INIT = 0.0
PRIOR_COUNTS_INIT = 1.0
"""``label_priors_init``'s ``counts`` (the positive pseudocount); tested against the core."""
PRIOR_WEIGHT_SUM_INIT = 2.0
"""``label_priors_init``'s ``weight_sum`` (positive + negative pseudocounts)."""

DEFAULT_DUAL_RATE_FACTOR = 0.1
DUAL_UPDATES = ("proxy", "surrogate", "gradient_reversal")
"""How the constrained losses move their duals: ``"proxy"`` (default) and ``"surrogate"`` are
loss-owned projected ascent on the constraint's hard or surrogate violation
(:func:`metricloss.constraint_violation`, :func:`metricloss.dual_step`), independent of the
model's optimizer; ``"gradient_reversal"`` is the original library's recipe (the duals are
trainable and the model's optimizer ascends on them through :func:`metricloss.dual_value`)."""
DUAL_SOURCES = ("train", "held_out")
"""Where the loss-owned dual steps come from: ``"train"`` (after every training-mode call, and
from ``update_duals``) or ``"held_out"`` (from ``update_duals`` only)."""
DEFAULT_DUAL_RATE = 0.5
"""``η`` of :func:`metricloss.dual_step`: λ per unit of violation (a fraction of the class)."""
DEFAULT_DUAL_MAX = 100.0
_ADAPTER_KEYWORDS = frozenset({"num_labels", "dual_rate_factor", "detach_focusing_weights",
                               "dual_update", "dual_rate", "dual_max", "dual_source"})

# Core keywords that an adapter supplies per call or from its variables, never from the
# constructor.
_RUNTIME = {"logits", "labels", "positive_indices", "weights", "mask", "lambdas", "biases",
            "return_aux", "stop_gradient", "all_reduce"}


@dataclass(frozen=True)
class VariableSpec:
    """One variable of a loss: what an adapter creates (a parameter or a state buffer)."""

    name: str
    """Attribute / pytree key: ``duals``, ``biases``, ``label_prior_counts``,
    ``label_prior_weight_sum``."""
    shape: tuple[int, ...]
    initial_value: float
    trainable: bool
    """``True``: a parameter the optimizer updates (duals, biases). ``False``: state the
    adapter overwrites with :attr:`ForwardResult.label_priors` in training mode."""
    is_dual: bool
    """The dual variables, to be kept out of weight decay (``dual_parameters()`` in torch,
    the ``"dual"`` label of ``optax.multi_transform`` in JAX)."""


class ForwardResult(NamedTuple):
    """What :func:`forward` returns."""

    loss: Array
    """The loss (its ``reduction``), in the logits' library, device and dtype."""
    aux: dict[str, Array]
    """The core's aux dict (``lambdas``, ``label_priors``, the bounds, PR-AUC ``biases``);
    ``{}`` for losses without one or when ``return_aux=False``."""
    label_priors: Any
    """The new :class:`~metricloss.LabelPriorState` to store (training mode, running priors),
    else ``None``."""
    duals: Any = None
    """The new dual values to store (training mode, loss-owned duals with
    ``dual_source="train"``: one :func:`metricloss.dual_step` on this batch's violation), else
    ``None``."""
    used: dict[str, Array] = {}  # noqa: RUF012 (a NamedTuple default, never mutated)
    """What the core received from the variables (``lambdas``, ``label_priors``, ``biases``),
    through ``stop_gradient``: with :func:`compute_aux` an adapter can build the aux dict
    later, only if it is asked for (``{}`` for losses without state)."""


@dataclass(frozen=True)
class LossSpec:
    """One adapter class: its core function, its keywords and its variables."""

    name: str
    """The class name in every framework, e.g. ``"PrecisionAtRecallLoss"``."""
    function_name: str
    """The core function's name in :mod:`metricloss` (looked up at call time)."""
    constrained: bool = False
    """Has dual variables and running label priors (the global objectives)."""
    has_biases: bool = False
    """Has trainable per-anchor biases (PR-AUC)."""
    call_keywords: tuple[str, ...] = ("weights",)
    """The per-call array keywords (``weights``; ``mask`` for ZLPR; none for sparse ZLPR)."""
    target_name: str = "labels"
    """The core's name for the second positional argument (``positive_indices`` for sparse
    ZLPR), used in error messages."""

    function: Callable[..., Any] = field(init=False, repr=False, compare=False)
    """The core function (resolved once, at import)."""
    has_aux: bool = field(init=False, repr=False, compare=False)
    """Whether the core function takes ``return_aux`` (the global objectives)."""
    takes_stop_gradient: bool = field(init=False, repr=False, compare=False)
    """Whether the core function takes the framework's ``stop_gradient`` (ASL)."""
    takes_all_reduce: bool = field(init=False, repr=False, compare=False)
    """Whether the core function takes ``all_reduce`` (the non-decomposable losses)."""
    _keywords: tuple[inspect.Parameter, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Resolved here, once: forward() must not call inspect (torch.compile would trace it).
        fn = getattr(metricloss, self.function_name)
        params = inspect.signature(fn).parameters
        object.__setattr__(self, "function", fn)
        object.__setattr__(self, "has_aux", "return_aux" in params)
        object.__setattr__(self, "takes_stop_gradient", "stop_gradient" in params)
        object.__setattr__(self, "takes_all_reduce", "all_reduce" in params)
        object.__setattr__(self, "_keywords", tuple(
            p for name, p in params.items()
            if name not in _RUNTIME and p.kind is inspect.Parameter.KEYWORD_ONLY))

    def core_keywords(self) -> dict[str, inspect.Parameter]:
        """The core function's keywords an adapter takes in its constructor."""
        return {p.name: p for p in self._keywords}

    def adapter_keywords(self) -> dict[str, Any]:
        """Keywords the adapter adds (name → default; ``inspect.Parameter.empty``: required)."""
        if self.takes_stop_gradient:  # ASL: the reference's disable_torch_grad_focal_loss
            return {"detach_focusing_weights": True}
        if not self.constrained:
            return {}
        return {"num_labels": None, "dual_update": "proxy", "dual_rate": DEFAULT_DUAL_RATE,
                "dual_max": DEFAULT_DUAL_MAX, "dual_source": "train",
                "dual_rate_factor": DEFAULT_DUAL_RATE_FACTOR}

    def signature(self) -> inspect.Signature:
        """The constructor's keyword-only signature (for ``help()`` and ``inspect``)."""
        params = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default)
                  for name, default in self.adapter_keywords().items()]
        params += [p.replace(annotation=inspect.Parameter.empty)
                   for name, p in self.core_keywords().items()]
        required = [p for p in params if p.default is inspect.Parameter.empty]
        optional = [p for p in params if p.default is not inspect.Parameter.empty]
        return inspect.Signature(required + optional)

    def configure(self, **kwargs: Any) -> dict[str, Any]:
        """Validate constructor keywords; the full config (defaults filled in).

        ``TypeError`` names an unknown or missing keyword; ``ValueError`` a bad
        ``num_labels``/``dual_rate_factor``/``num_anchors``. The core checks the others
        (targets, names) on the first call.
        """
        core = self.core_keywords()
        extra = self.adapter_keywords()
        unknown = sorted(set(kwargs) - set(core) - set(extra))
        if unknown:
            raise TypeError(f"{self.name}() got unexpected keyword argument(s) "
                            f"{', '.join(unknown)}; valid: "
                            f"{', '.join(sorted(set(core) | set(extra)))}")
        config: dict[str, Any] = {}
        for name, default in [*extra.items(),
                              *((n, p.default) for n, p in core.items())]:
            if name in kwargs:
                config[name] = kwargs[name]
            elif default is inspect.Parameter.empty:
                raise TypeError(f"{self.name}() missing required keyword argument {name!r}")
            else:
                config[name] = default
        if self.constrained:
            if config["num_labels"] is not None:
                check_integer("num_labels", config["num_labels"], low=1)
            check_number("dual_rate_factor", config["dual_rate_factor"], low=0.0)
            check_choice("dual_update", config["dual_update"], DUAL_UPDATES)
            check_choice("dual_source", config["dual_source"], DUAL_SOURCES)
            check_number("dual_rate", config["dual_rate"], low=0.0)
            check_number("dual_max", config["dual_max"], low=0.0, low_open=True,
                         high=math.inf)
        if self.has_biases:
            check_integer("num_anchors", config["num_anchors"], low=1)
        if self.takes_stop_gradient:
            check_bool("detach_focusing_weights", config["detach_focusing_weights"])
        return config

    def running_priors(self, config: Mapping[str, Any]) -> bool:
        """Whether the loss keeps a running label-prior estimate (no fixed ``label_priors``)."""
        return self.constrained and config.get("label_priors") is None

    def constraint(self) -> str:
        """The constraint's name for :func:`metricloss.constraint_violation`."""
        return self.function_name.removesuffix("_loss")

    def owns_duals(self, config: Mapping[str, Any]) -> bool:
        """Whether the loss moves its duals itself (``dual_update`` ``"proxy"`` or
        ``"surrogate"``): they are then non-trainable state, never seen by an optimizer."""
        return self.constrained and config["dual_update"] != "gradient_reversal"

    def variables(self, config: Mapping[str, Any], num_labels: int | None = None
                  ) -> tuple[VariableSpec, ...]:
        """The variables to create for this configuration, in a fixed order.

        ``num_labels``: the number of labels found in the first batch, for a loss built
        without ``num_labels`` (the adapters create their variables lazily); ``ValueError``
        if neither is known."""
        if not self.constrained:
            return ()
        L = config["num_labels"] if num_labels is None else num_labels
        if L is None:
            raise ValueError(f"{self.name}: the number of labels is not known yet; pass "
                             f"num_labels= or call the loss once on a batch")
        per_dual = (L, config["num_anchors"]) if self.has_biases else (L,)
        out = [VariableSpec(DUALS, per_dual, DUAL_INIT,
                            trainable=not self.owns_duals(config), is_dual=True)]
        if self.has_biases:
            out.append(VariableSpec(BIASES, per_dual, BIAS_INIT, trainable=True,
                                    is_dual=False))
        if self.running_priors(config):
            out += [VariableSpec(PRIOR_COUNTS, (L,), PRIOR_COUNTS_INIT, trainable=False,
                                 is_dual=False),
                    VariableSpec(PRIOR_WEIGHT_SUM, (L,), PRIOR_WEIGHT_SUM_INIT,
                                 trainable=False, is_dual=False)]
        return tuple(out)


def _specs(*specs: LossSpec) -> dict[str, LossSpec]:
    return {s.name: s for s in specs}


SPECS: dict[str, LossSpec] = _specs(
    LossSpec("SigmoidF1Loss", "sigmoid_f1_loss"),
    LossSpec("AnyLoss", "any_loss"),
    LossSpec("ConfusionMetricLoss", "confusion_metric_loss"),
    LossSpec("MultilabelCategoricalCrossentropy", "multilabel_categorical_crossentropy",
             call_keywords=("mask",)),
    LossSpec("SparseMultilabelCategoricalCrossentropy",
             "sparse_multilabel_categorical_crossentropy", call_keywords=(),
             target_name="positive_indices"),
    LossSpec("RecallAtPrecisionLoss", "recall_at_precision_loss", constrained=True),
    LossSpec("PrecisionAtRecallLoss", "precision_at_recall_loss", constrained=True),
    LossSpec("TruePositiveRateAtFalsePositiveRateLoss",
             "true_positive_rate_at_false_positive_rate_loss", constrained=True),
    LossSpec("FalsePositiveRateAtTruePositiveRateLoss",
             "false_positive_rate_at_true_positive_rate_loss", constrained=True),
    LossSpec("PrecisionRecallAUCLoss", "precision_recall_auc_loss", constrained=True,
             has_biases=True),
    LossSpec("ROCAUCLoss", "roc_auc_loss"),
    LossSpec("BinaryCrossEntropy", "binary_cross_entropy"),
    LossSpec("SigmoidFocalLoss", "sigmoid_focal_loss"),
    LossSpec("AsymmetricLoss", "asymmetric_loss"),
)
"""Every adapter class, by name."""


def _num_labels_of(logits: Array) -> int | None:
    shape = tuple(logits.shape)
    if len(shape) == 1:
        return 1
    if len(shape) == 2:
        return shape[1]
    return None


def num_labels_of(spec: LossSpec, logits: Array) -> int:
    """The number of labels of a batch of logits (``(B, L)`` → ``L``, ``(B,)`` → 1), for a
    loss that creates its variables from its first batch; ``ValueError`` naming the class
    when the shape cannot tell (more than 2 axes, or an unknown label axis)."""
    found = _num_labels_of(logits)
    if type(found) is not int:
        raise ValueError(f"{spec.name} cannot infer num_labels from logits of shape "
                         f"{tuple(logits.shape)}: pass num_labels= (logits must be (B, L) or "
                         f"(B,))")
    return found


def _check_num_labels(spec: LossSpec, duals: Array, logits: Array) -> None:
    L = int(duals.shape[0])
    found = _num_labels_of(logits)
    if found is not None and found != L:
        raise ValueError(f"{spec.name} has num_labels={L} but the logits have "
                         f"{found} label(s) (shape {tuple(logits.shape)}): num_labels must "
                         f"equal logits.shape[-1] (1 for binary logits of shape (B,))")


def looks_like_probabilities(logits: Array) -> bool:
    """Whether ``logits`` can be read without a sync or trace and hold only values in [0, 1]
    (with at least 8 entries): a hint that probabilities were passed where logits belong.
    ``False`` whenever the values cannot be read for free (compiled, traced, on a GPU)."""
    if not is_eager(logits):
        return False
    xp = namespace_of(logits=logits)
    if not xp.isdtype(logits.dtype, "real floating"):
        return False
    size = 1
    for n in logits.shape:
        size *= int(n)
    if size < 8:
        return False
    return bool(xp.all(xp.logical_and(logits >= 0.0, logits <= 1.0)))


def takes_logits(spec: LossSpec, config: Mapping[str, Any]) -> bool:
    """Whether the loss expects logits in this configuration (``from_logits`` unset or True)."""
    return bool(config.get("from_logits", True))


def forward(
    spec: LossSpec,
    config: Mapping[str, Any],
    variables: Mapping[str, Array],
    logits: Array,
    labels: Array,
    *,
    stop_gradient: Callable[[Array], Array],
    training: bool = True,
    return_aux: bool = True,
    all_reduce: Callable[[Array], Array] | None = None,
    **call_arrays: Array | None,
) -> ForwardResult:
    """The one pure forward of an adapter: ``dual_value → core loss → update_label_priors``.

    Args:
        spec: the loss, from :data:`SPECS`.
        config: from ``spec.configure(**constructor_keywords)``.
        variables: the arrays of ``spec.variables(config)`` by name (framework variables or
            their current values); read, never written.
        logits, labels: the core's ``(logits, labels)`` (``positive_indices`` for sparse ZLPR).
        stop_gradient: the framework's (``torch.Tensor.detach``, ``jax.lax.stop_gradient``,
            ``keras.ops.stop_gradient``).
        training: update the running label priors with this batch and use the updated ones
            (as the original library); ``False`` uses the stored priors and returns no state.
        return_aux: ask the core for its aux dict (costs the bounds' reductions).
        all_reduce: data-parallel training: the framework's differentiable sum across
            replicas (``None``: no synchronisation). Passed to the core losses that take it
            (the non-decomposable ones) and to :func:`~metricloss.update_label_priors`, so
            the running priors advance by the global batch on every replica.
        **call_arrays: the per-call keywords of ``spec.call_keywords`` (``weights=``,
            ``mask=``); ``None`` is ignored.

    Returns:
        :class:`ForwardResult` ``(loss, aux, label_priors)``.
    """
    for name, value in call_arrays.items():
        if name not in spec.call_keywords and value is not None:
            valid = ", ".join(spec.call_keywords) or "none"
            raise TypeError(f"{spec.name} takes no {name}= (per-call keywords: {valid})")
    kwargs = {k: v for k, v in call_arrays.items() if v is not None}
    require_array("logits", logits)
    require_array(spec.target_name, labels)
    core = {k: v for k, v in config.items() if k not in _ADAPTER_KEYWORDS}
    new_priors = None
    if spec.constrained:
        _check_num_labels(spec, variables[DUALS], logits)
        if spec.owns_duals(config):
            # a new array (abs), never the stored variable itself: an adapter overwrites
            # that in place after the forward, while autograd may still hold λ
            core["lambdas"] = stop_gradient(abs(variables[DUALS]))
        else:
            core["lambdas"] = metricloss.dual_value(variables[DUALS],
                                                    config["dual_rate_factor"], stop_gradient)
        if spec.has_biases:
            core["biases"] = variables[BIASES]
        if spec.running_priors(config):
            state = metricloss.LabelPriorState(variables[PRIOR_COUNTS],
                                               variables[PRIOR_WEIGHT_SUM])
            if training:
                weights = kwargs.get("weights")
                if hasattr(weights, "shape"):
                    weights = stop_gradient(weights)
                state = metricloss.update_label_priors(state, stop_gradient(labels),
                                                       weights=weights,
                                                       all_reduce=all_reduce)
                new_priors = state
            core["label_priors"] = stop_gradient(state.priors)
    fn = spec.function
    if spec.takes_stop_gradient and config["detach_focusing_weights"]:  # ASL
        kwargs["stop_gradient"] = stop_gradient
    if all_reduce is not None and spec.takes_all_reduce:
        kwargs["all_reduce"] = all_reduce
    if spec.has_aux:
        out = fn(logits, labels, **core, **kwargs, return_aux=return_aux)
        loss, aux = out if return_aux else (out, {})
    else:
        loss, aux = fn(logits, labels, **core, **kwargs), {}
    used: dict[str, Any] = {k: stop_gradient(core[k])
                            for k in ("lambdas", "biases", "label_priors")
                            if k in core and hasattr(core[k], "shape")}
    new_duals = None
    if training and spec.owns_duals(config) and config["dual_source"] == "train":
        new_duals = _dual_step(spec, config, used["lambdas"], stop_gradient(logits),
                               stop_gradient(labels), core, kwargs.get("weights"),
                               stop_gradient, all_reduce)
    return ForwardResult(loss, dict(aux), new_priors, new_duals, used)


def _dual_step(spec: LossSpec, config: Mapping[str, Any], lambdas: Array, logits: Array,
               labels: Array, core: Mapping[str, Any], weights: Any,
               stop_gradient: Callable[[Array], Array],
               all_reduce: Callable[[Array], Array] | None) -> Array:
    """``dual_step(λ, constraint_violation(...))`` with the loss's configuration (no gradient:
    every input goes through ``stop_gradient``)."""
    target = {k: core[k] for k in ("target_precision", "target_recall", "target_rate",
                                   "precision_range", "num_anchors", "surrogate")
              if k in core}
    biases = core.get("biases")
    if hasattr(weights, "shape"):
        weights = stop_gradient(weights)
    violation = metricloss.constraint_violation(
        logits, labels, constraint=spec.constraint(),
        estimate="hard" if config["dual_update"] == "proxy" else "surrogate",
        biases=None if biases is None else stop_gradient(biases),
        label_priors=core.get("label_priors"), weights=weights, all_reduce=all_reduce,
        **target)
    return metricloss.dual_step(lambdas, violation, rate=config["dual_rate"],
                                max_value=config["dual_max"])


def held_out_duals(
    spec: LossSpec,
    config: Mapping[str, Any],
    variables: Mapping[str, Array],
    logits: Array,
    labels: Array,
    *,
    stop_gradient: Callable[[Array], Array],
    weights: Array | None = None,
    all_reduce: Callable[[Array], Array] | None = None,
) -> Array:
    """The new dual values after one step on held-out data (``update_duals``): the
    constraint's violation on ``(logits, labels)`` with the stored label priors, no model
    gradient and no change to the priors. Pure: the adapter stores the result.

    ``TypeError`` for a loss without loss-owned duals (``dual_update="gradient_reversal"``:
    the model's optimizer moves them)."""
    if not spec.constrained:
        raise TypeError(f"{spec.name} has no dual variables")
    if not spec.owns_duals(config):
        raise TypeError(f"{spec.name}(dual_update='gradient_reversal'): the model's optimizer "
                        f"moves the duals; update_duals needs dual_update='proxy' or "
                        f"'surrogate'")
    require_array("logits", logits)
    require_array("labels", labels)
    _check_num_labels(spec, variables[DUALS], logits)
    core = {k: v for k, v in config.items() if k not in _ADAPTER_KEYWORDS}
    if spec.running_priors(config):
        core["label_priors"] = stop_gradient(variables[PRIOR_COUNTS]
                                             / variables[PRIOR_WEIGHT_SUM])
    if spec.has_biases:
        core["biases"] = variables[BIASES]
    lambdas = stop_gradient(abs(variables[DUALS]))
    return _dual_step(spec, config, lambdas, stop_gradient(logits), stop_gradient(labels), core,
                      weights, stop_gradient, all_reduce)


def compute_aux(
    spec: LossSpec,
    config: Mapping[str, Any],
    used: Mapping[str, Array],
    logits: Array,
    labels: Array,
    **call_arrays: Array | None,
) -> dict[str, Array]:
    """The aux dict of a call made earlier with ``forward(..., return_aux=False)``, from its
    inputs and :attr:`ForwardResult.used`: the same values ``return_aux=True`` would have given
    (pass detached inputs; run it without gradient tracking). ``{}`` for losses without aux.
    Lets an adapter expose the aux dict at no cost to calls that never read it."""
    if not spec.has_aux:
        return {}
    kwargs = {k: v for k, v in call_arrays.items() if v is not None}
    core = {k: v for k, v in config.items() if k not in _ADAPTER_KEYWORDS}
    core.update(used)
    if spec.takes_stop_gradient and config["detach_focusing_weights"]:
        kwargs["stop_gradient"] = lambda x: x
    _, aux = spec.function(logits, labels, **core, **kwargs, return_aux=True)
    return dict(aux)
