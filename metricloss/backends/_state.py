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
            "return_aux", "stop_gradient", "all_reduce", "all_gather"}


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

    def configure(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Validate constructor keywords; the full config (defaults filled in).

        Every keyword is checked here, at construction, not on the first call: ``TypeError``
        names a positional argument (the classes take keywords only), an unknown or missing
        keyword, or a keyword of the wrong type; ``ValueError`` a value out of range
        (targets outside (0, 1] — 1.0 is a valid target —, ``precision_range`` outside
        ``0 ≤ lo < hi ≤ 1``, a bad ``num_labels``/``num_anchors``/``dual_rate_factor``, an
        unknown ``surrogate``/``reduction``/``metric``/``average`` name, ...). Array-valued
        keywords (per-label targets or priors as arrays) are checked by the core on the first
        call, where their values can be read.
        """
        if args:
            raise TypeError(self._positional_message(len(args)))
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
        _check_core_keywords(self, config)
        return config

    def _positional_message(self, count: int) -> str:
        required = [name for name, p in self.core_keywords().items()
                    if p.default is inspect.Parameter.empty]
        example = ", ".join(f"{name}=..." for name in required)
        if not required and self.core_keywords():
            name, param = next(iter(self.core_keywords().items()))
            example = f"{name}={param.default!r}"
        keywords = ", ".join(self.signature().parameters)
        return (f"{self.name}() takes keyword arguments only, got {count} positional "
                f"argument(s): write {self.name}({example})"
                + (f"; its keywords: {keywords}" if keywords else ""))

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


def _check_target(name: str, value: Any, num_labels: int | None) -> None:
    """A target in (0, 1]: a number or a sequence of numbers (one per label)."""
    if hasattr(value, "shape"):
        return  # an array: the core checks its values on the first call
    if isinstance(value, list | tuple):
        for item in value:
            check_number(name, item, low=0.0, low_open=True, high=1.0)
        if num_labels is not None and len(value) != num_labels:
            raise ValueError(f"{name} as a sequence must have num_labels={num_labels} entries "
                             f"(one per label), got {len(value)}")
        return
    check_number(name, value, low=0.0, low_open=True, high=1.0)


def _check_priors(name: str, value: Any, num_labels: int | None) -> None:
    if value is None or hasattr(value, "shape"):
        return
    if isinstance(value, list | tuple):
        for item in value:
            check_number(name, item, low=0.0, high=1.0)
        if num_labels is not None and len(value) != num_labels:
            raise ValueError(f"{name} as a sequence must have num_labels={num_labels} entries "
                             f"(one per label), got {len(value)}")
        return
    check_number(name, value, low=0.0, high=1.0)


def _positive(name: str) -> Callable[[Any], Any]:
    return lambda v: check_number(name, v, low=0.0, low_open=True)


def _non_negative(name: str) -> Callable[[Any], Any]:
    return lambda v: check_number(name, v, low=0.0)


def _choice(name: str, valid: tuple[str, ...]) -> Callable[[Any], Any]:
    return lambda v: check_choice(name, v, valid)


def _optional(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda v: None if v is None or hasattr(v, "shape") else check(v)


def _keyword_checks() -> dict[str, Callable[[Any], Any]]:
    """The construction-time check of each core keyword an adapter takes, by name (the same
    ranges and names as the core's own checks, run before any data is seen)."""
    from metricloss._metric_formulas import METRICS
    from metricloss._reduction import REDUCTIONS
    from metricloss.confusion import AVERAGES, TRANSFORMS
    from metricloss.global_objectives._inputs import SURROGATES, _check_precision_range
    from metricloss.global_objectives.roc_auc import ROC_METHODS

    return {
        "precision_range": _check_precision_range,
        "surrogate": _choice("surrogate", SURROGATES),
        "reduction": _choice("reduction", REDUCTIONS),
        "metric": _choice("metric", METRICS),
        "average": _choice("average", AVERAGES),
        "transform": _choice("transform", TRANSFORMS),
        "method": _choice("method", ROC_METHODS),
        "beta": _positive("beta"),
        "slope": _positive("slope"),
        "offset": lambda v: check_number("offset", v),
        "amplifier": _positive("amplifier"),
        "eps": _positive("eps"),
        "from_logits": lambda v: check_bool("from_logits", v),
        "multiclass": lambda v: check_bool("multiclass", v),
        "chunk_size": _optional(lambda v: check_integer("chunk_size", v, low=1)),
        "gamma": _non_negative("gamma"),
        "gamma_pos": _non_negative("gamma_pos"),
        "gamma_neg": _non_negative("gamma_neg"),
        "clip": lambda v: check_number("clip", v, low=0.0, high=1.0, high_open=True),
        "pos_weight": _optional(lambda v: None if isinstance(v, list | tuple)
                                else check_number("pos_weight", v, low=0.0)),
    }


_KEYWORD_CHECKS: dict[str, Callable[[Any], Any]] = {}


def _check_core_keywords(spec: LossSpec, config: Mapping[str, Any]) -> None:
    """Check every core keyword of ``config`` that has a construction-time check."""
    if not _KEYWORD_CHECKS:
        _KEYWORD_CHECKS.update(_keyword_checks())
    num_labels = config.get("num_labels")
    for name in spec.core_keywords():
        value = config[name]
        if name in ("target_precision", "target_recall", "target_rate"):
            _check_target(name, value, num_labels)
        elif name == "label_priors":
            _check_priors(name, value, num_labels)
        elif name in _KEYWORD_CHECKS and not hasattr(value, "shape"):
            _KEYWORD_CHECKS[name](value)
    if config.get("metric") == "f1" and config.get("beta", 1.0) != 1.0:
        raise ValueError(f"{spec.name}: beta applies to metric='fbeta'; metric='f1' has "
                         f"beta=1, got beta={config['beta']}")


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
    LossSpec("TverskyLoss", "tversky_loss"),
    LossSpec("LovaszHingeLoss", "lovasz_hinge_loss", call_keywords=()),
    LossSpec("LovaszSoftmaxLoss", "lovasz_softmax_loss", call_keywords=()),
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
    """Whether ``logits`` can be read without a sync or trace and hold only values in [0, 1],
    some of them strictly inside (with at least 8 entries): a hint that probabilities were
    passed where logits belong. ``False`` whenever the values cannot be read for free
    (compiled, traced, on a GPU), and for logits that are all exactly 0 or 1 (a freshly
    initialised all-zero head gives logits of exactly 0: never a warning there)."""
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
    return bool(xp.all(xp.logical_and(logits >= 0.0, logits <= 1.0))
                and xp.any(xp.logical_and(logits > 0.0, logits < 1.0)))


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
    """The one pure forward of an adapter: ``λ → core loss → update_label_priors →
    dual_step``.

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
        :class:`ForwardResult` ``(loss, aux, label_priors, duals, used)``: ``duals`` the new
        dual values after one :func:`metricloss.dual_step` on this batch's violation (training
        mode, loss-owned duals, ``dual_source="train"``), else ``None``.
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


# --------------------------------------------------------------------------------------------
# AUC-M: primal a, b (running class means, or trainable) and a loss-owned dual α
# --------------------------------------------------------------------------------------------

AUC_M_A = "a"
AUC_M_B = "b"
AUC_M_ALPHA = "alpha"
AUC_M_INIT = 0.0
"""Initial ``a``, ``b`` and ``α`` (LibAUC's ``AUCMLoss`` starts all three at 0)."""
AB_UPDATES = ("running", "trainable")
"""How AUC-M's ``a``, ``b`` move: ``"running"`` (default; non-trainable state, an exponential
average of the batches' class-conditional mean scores, :func:`metricloss.update_auc_m_means`)
or ``"trainable"`` (parameters the model's optimizer descends on, as LibAUC's PESG does)."""
DEFAULT_AB_MOMENTUM = 0.1
DEFAULT_ALPHA_RATE = 0.1
DEFAULT_ALPHA_MAX = 999.0
"""PESG's clamp of ``α``."""


@dataclass(frozen=True)
class AUCMSpec(LossSpec):
    """The spec of ``AUCMLoss``: ``a``, ``b``, ``α`` per label, passed to
    :func:`metricloss.auc_m_loss` by the adapter (never constructor keywords), and their
    loss-owned dynamics: in training mode, after each forward, ``α`` takes one projected
    ascent step (:func:`metricloss.dual_step` on :func:`metricloss.auc_m_alpha_gradient`, rate
    ``alpha_rate``, bound ``alpha_max``) and, with ``ab_update="running"``, ``a``, ``b``
    move toward the batch's class means (momentum ``ab_momentum``). So AUC-M trains with the
    model's usual optimizer (Adam, SGD), no PESG. See :func:`auc_m_forward`."""

    def core_keywords(self) -> dict[str, inspect.Parameter]:
        return {name: p for name, p in super().core_keywords().items()
                if name not in (AUC_M_A, AUC_M_B, AUC_M_ALPHA)}

    def adapter_keywords(self) -> dict[str, Any]:
        return {"num_labels": None, "ab_update": "running", "ab_momentum": DEFAULT_AB_MOMENTUM,
                "alpha_rate": DEFAULT_ALPHA_RATE, "alpha_max": DEFAULT_ALPHA_MAX}

    def configure(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        config = super().configure(*args, **kwargs)
        if config["num_labels"] is not None:
            check_integer("num_labels", config["num_labels"], low=1)
        check_choice("ab_update", config["ab_update"], AB_UPDATES)
        check_number("ab_momentum", config["ab_momentum"], low=0.0, low_open=True, high=1.0)
        check_number("alpha_rate", config["alpha_rate"], low=0.0)
        check_number("alpha_max", config["alpha_max"], low=0.0, low_open=True)
        check_number("margin", config["margin"], low=0.0, low_open=True)
        return config

    def variables(self, config: Mapping[str, Any], num_labels: int | None = None
                  ) -> tuple[VariableSpec, ...]:
        L = config["num_labels"] if num_labels is None else num_labels
        if L is None:
            raise ValueError(f"{self.name}: the number of labels is not known yet; pass "
                             f"num_labels=")
        trainable = config["ab_update"] == "trainable"
        return (VariableSpec(AUC_M_A, (L,), AUC_M_INIT, trainable=trainable, is_dual=False),
                VariableSpec(AUC_M_B, (L,), AUC_M_INIT, trainable=trainable, is_dual=False),
                VariableSpec(AUC_M_ALPHA, (L,), AUC_M_INIT, trainable=False, is_dual=False))


SPECS["AUCMLoss"] = AUCMSpec("AUCMLoss", "auc_m_loss")


class AUCMForward(NamedTuple):
    """What :func:`auc_m_forward` returns."""

    loss: Array
    updates: dict[str, Array]
    """The new values of the non-trainable variables to store (``alpha``, and ``a``, ``b``
    when running): training mode only, else ``{}``."""


def auc_m_forward(
    spec: LossSpec,
    config: Mapping[str, Any],
    variables: Mapping[str, Array],
    logits: Array,
    labels: Array,
    *,
    stop_gradient: Callable[[Array], Array],
    training: bool = True,
    all_reduce: Callable[[Array], Array] | None = None,
    weights: Array | float | None = None,
) -> AUCMForward:
    """The pure forward of ``AUCMLoss``: the loss at the stored ``a``, ``b``, ``α`` (``α`` and
    running ``a``, ``b`` through ``stop_gradient``; trainable ``a``, ``b`` get gradients),
    then, in training mode, their new values from this batch (no gradient): ``α`` one step of
    :func:`metricloss.dual_step` on :func:`metricloss.auc_m_alpha_gradient`, running ``a``,
    ``b`` one step of :func:`metricloss.update_auc_m_means`. With ``all_reduce`` the loss and
    every update are the global batch's."""
    require_array("logits", logits)
    require_array("labels", labels)
    L = int(variables[AUC_M_ALPHA].shape[0])
    found = _num_labels_of(logits)
    if found is not None and found != L:
        raise ValueError(f"{spec.name} has num_labels={L} but the logits have {found} "
                         f"label(s) (shape {tuple(logits.shape)})")
    running = config["ab_update"] == "running"
    a, b = variables[AUC_M_A], variables[AUC_M_B]
    if running:
        a, b = stop_gradient(a), stop_gradient(b)
    alpha = stop_gradient(abs(variables[AUC_M_ALPHA]))
    core = {k: config[k] for k in spec.core_keywords()}
    loss = metricloss.auc_m_loss(logits, labels, a=a, b=b, alpha=alpha, weights=weights,
                                 all_reduce=all_reduce, **core)
    updates: dict[str, Array] = {}
    if training:
        z, y = stop_gradient(logits), stop_gradient(labels)
        w = stop_gradient(weights) if hasattr(weights, "shape") else weights
        g = metricloss.auc_m_alpha_gradient(z, y, alpha=alpha, margin=config["margin"],
                                            weights=w, all_reduce=all_reduce)
        updates[AUC_M_ALPHA] = metricloss.dual_step(alpha, g, rate=config["alpha_rate"],
                                                    max_value=config["alpha_max"])
        if running:
            updates[AUC_M_A], updates[AUC_M_B] = metricloss.update_auc_m_means(
                a, b, z, y, momentum=config["ab_momentum"], weights=w, all_reduce=all_reduce)
    return AUCMForward(loss, updates)
