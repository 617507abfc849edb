"""Global objectives: constrained metrics as Lagrangians (SPEC §3; Eban et al. 2017).

A metric such as "recall at precision ≥ α" is not a sum over examples, so it cannot be trained
directly. Eban et al. bound the true and false positive counts with a surrogate loss,

    TP ≥ TP_lb = Σ_b w·(y − y·ℓ(z)/m)        FP ≤ FP_ub = Σ_b w·(1−y)·ℓ(−z)/m,

(``ℓ(u) = softplus(−u)``, ``m = ln 2`` for ``surrogate="xent"``; ``ℓ(u) = max(1−u, 0)``,
``m = 1`` for ``"hinge"``), write the constrained problem with these bounds, and take its
Lagrangian with one dual variable ``λ ≥ 0`` per label. What is left is a per-example loss, a
weighted surrogate plus a constant in the logits, which this module returns with the shape of
the logits (before ``reduction``), as the original TensorFlow library did:

========================================================  ====================================
function                                                  per-element loss
========================================================  ====================================
``recall_at_precision_loss(target_precision=α)``          ``w·surr(y, z; 1+λ(1−α), λα)
                                                          − λ(1−α)·π·m``
``precision_at_recall_loss(target_recall=r)``             ``w·surr(y, z; λ, 1) + λ·π·(r−1)·m``
``false_positive_rate_at_true_positive_rate_loss(r)``     the same as precision at recall ``r``
``true_positive_rate_at_false_positive_rate_loss(r)``     ``w·surr(y, z; 1, λ) − λ·r·(1−π)·m``
``precision_recall_auc_loss(precision_range, K)``         the mean over ``K`` anchors of
                                                          recall at precision ``α_k``, with a
                                                          bias per anchor
``roc_auc_loss()``                                        pairwise, no dual
========================================================  ====================================

with ``surr(y, z; c, d) = c·y·ℓ(z) + d·(1−y)·ℓ(−z)`` and ``π`` the label prior (fraction of
positives).

**Stateless by design.** Everything that the original kept in TensorFlow 1 variables is an
argument here: the dual values ``lambdas``, the PR-AUC ``biases`` and the ``label_priors``.
The framework adapters hold that state and call these pure functions:

- dual variables ``v`` (initialised to 1.0) become ``lambdas = dual_value(v, f, stop_gradient)``,
  the gradient-reversal form ``stop_gradient((1+f)·|v|) − f·|v|``: its value is ``|v|`` and its
  gradient is ``−f·sign(v)`` times λ's, so the optimizer step that descends on the model's
  weights ascends on ``v``. No second backward pass, no hand-written dual SGD step.
- running label priors start at :func:`label_priors_init` (pseudocounts 1 positive and 1
  negative) and are advanced by the pure :func:`update_label_priors`.
- PR-AUC biases, shape ``(L, K)`` and initialised to 0, are ordinary trainable variables.

Shapes: ``lambdas`` are ``(L,)`` (``(L, K)`` for PR-AUC), as are ``biases``; a scalar is
broadcast. For binary ``(B,)`` logits, ``L = 1``: the per-element loss comes back with shape
``(B,)`` and every per-label quantity in ``aux`` is 0-d (``(K,)`` for PR-AUC); ``lambdas`` may
then be given as ``()`` or ``(1,)`` (``(K,)`` or ``(1, K)`` for PR-AUC).

The known defects of the existing ports are avoided: the dual ascent rides on the same
backward pass (gradient reversal); the biases are plain arguments that an adapter registers
as trainable; weights of shape ``(B,)`` are accepted; every constant is created on the
logits' device; the positive weight of recall at precision is ``1 + λ(1−α)``, not
``(1+λ)(1−α)``; label priors carry the pseudocounts.

Reference:
    Eban, Schain, Mackey, Gordon, Saurous, Elidan, "Scalable Learning of Non-Decomposable
    Objectives", AISTATS 2017, arXiv:1608.04802; and its TensorFlow library
    ``tensorflow/models/research/global_objectives`` (``loss_layers.py``, ``util.py``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from metricloss._checks import (
    as_float_labels,
    check_choice,
    check_eager_range,
    check_floating,
    prepare_inputs,
    prepare_weights,
)
from metricloss._namespace import (
    Array,
    Namespace,
    compute_dtype,
    device_of,
    is_eager,
    kernels,
    namespace_of,
)
from metricloss._reduction import REDUCTIONS, apply_reduction

__all__ = [
    "REDUCTIONS",
    "ROC_METHODS",
    "SURROGATES",
    "dual_value",
    "false_positive_rate_at_true_positive_rate_loss",
    "false_positives_upper_bound",
    "label_priors_init",
    "precision_at_recall_loss",
    "precision_recall_auc_loss",
    "recall_at_precision_loss",
    "roc_auc_loss",
    "true_positive_rate_at_false_positive_rate_loss",
    "true_positives_lower_bound",
    "update_label_priors",
    "weighted_surrogate",
]

SURROGATES = ("xent", "hinge")
ROC_METHODS = ("pairwise", "sort")

_LN2 = math.log(2.0)

Number = int | float
PerLabel = Array | Number | Sequence[Number]


# --------------------------------------------------------------------------------------------
# Validation helpers
# --------------------------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _number(name: str, value: Any, *, low: float, low_open: bool = False,
            high: float = math.inf) -> float:
    """A finite Python number in ``[low, high]`` (``(low, high]`` when ``low_open``)."""
    if not _is_number(value):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    below = value <= low if low_open else value < low
    if below or value > high:
        bracket = "(" if low_open else "["
        raise ValueError(f"{name} must lie in {bracket}{low}, {high}], got {value}")
    return float(value)


def _margin(surrogate: str) -> float:
    """``m``: the surrogate's value at the decision boundary (ln 2 for xent, 1 for hinge)."""
    return _LN2 if surrogate == "xent" else 1.0


def _relu(xp: Namespace, u: Array) -> Array:
    # where(), not maximum(): the gradient at the kink is 0 in every framework (maximum splits
    # it 0.5/0.5 in PyTorch and JAX but gives 1 to its first argument in TensorFlow).
    return xp.where(u > 0, u, 0.0)  # a scalar, not zeros_like: one temporary fewer


def _surrogate_parts(xp: Namespace, z: Array, surrogate: str) -> tuple[Array, Array]:
    """``(ℓ(z), ℓ(−z))``: the surrogate loss of a positive and of a negative at logit ``z``."""
    if surrogate == "xent":
        softplus = kernels(xp).softplus
        # Two native softplus calls: exact in both tails (softplus(z) − z would cancel), with
        # the right gradient at z = 0 in every framework.
        return softplus(-z), softplus(z)
    return _relu(xp, 1.0 - z), _relu(xp, 1.0 + z)


def _broadcast_shapes(named: dict[str, tuple[int, ...]]) -> tuple[int, ...]:
    """The broadcast of the named shapes, or ``ValueError`` naming the first that clashes."""
    out: tuple[int, ...] = ()
    for name, shape in named.items():
        n = max(len(out), len(shape))
        a = (1,) * (n - len(out)) + out
        b = (1,) * (n - len(shape)) + tuple(shape)
        merged = []
        for da, db in zip(a, b, strict=True):
            if da != db and 1 not in (da, db):
                others = ", ".join(f"{k} {v}" for k, v in named.items() if k != name)
                raise ValueError(
                    f"{name} of shape {tuple(shape)} does not broadcast against {others}"
                )
            merged.append(db if da == 1 else da)
        out = tuple(merged)
    return out


class _Batch(NamedTuple):
    """A loss' inputs in compute form: ``z``, ``y`` of shape ``(B, L)``, ``w`` ``None`` or
    broadcastable to it, in ``dtype`` (float32 for half precision) on ``device``."""

    xp: Namespace
    z: Array
    y: Array
    w: Array | None
    shape: tuple[int, ...]  # the caller's logits shape
    out_dtype: Any
    dtype: Any
    device: Any

    @property
    def num_labels(self) -> int:
        return int(self.z.shape[1])

    @property
    def label_shape(self) -> tuple[int, ...]:
        """The shape of a per-label quantity as the caller sees it: ``(L,)``, or ``()``."""
        return tuple(self.shape[1:])


def _prepare(logits: Array, labels: Array, weights: Array | Number | None,
             **others: Any) -> _Batch:
    # One namespace check over every array argument, so that a PyTorch ``lambdas`` next to
    # NumPy logits is a TypeError naming both.
    namespace_of(logits=logits, labels=labels, weights=weights,
                 **{k: v for k, v in others.items() if hasattr(v, "shape")})
    xp, z, y, w, shape = prepare_inputs(logits, labels, weights)
    return _Batch(xp, z, y, w, shape, logits.dtype, z.dtype, device_of(z))


def _per_label_array(b: _Batch, name: str, value: Any, extra: tuple[int, ...] = ()) -> Array:
    """``value`` (an array) as shape ``(L, *extra)`` in the compute dtype, or ``ValueError``.

    Accepted shapes: ``()``, ``(L, *extra)`` and, for binary logits, ``extra`` alone (the
    caller's per-label shape).
    """
    xp = b.xp
    L = b.num_labels
    full = (L, *extra)
    given = tuple(value.shape)
    accepted = {(), full, (*b.label_shape, *extra)}
    if given not in accepted:
        shown = " or ".join(str(s) for s in sorted(accepted, key=len))
        raise ValueError(f"{name} must have shape {shown}, got {given}")
    arr = xp.astype(value, b.dtype)
    return xp.broadcast_to(xp.reshape(arr, full) if given else arr, full)


def _per_label(b: _Batch, name: str, value: Any, *, low: float, high: float,
               low_open: bool = False, extra: tuple[int, ...] = ()) -> Array:
    """A per-label (or per-label-and-anchor) argument: a number, a sequence of numbers, or an
    array of shape ``()`` or ``(L, *extra)``, checked to lie in range (arrays: eager only),
    returned as an array of shape ``(L, *extra)`` on the logits' device."""
    xp = b.xp
    if _is_number(value):
        v = _number(name, value, low=low, low_open=low_open, high=high)
        return xp.full((b.num_labels, *extra), v, dtype=b.dtype, device=b.device)
    if isinstance(value, list | tuple):
        for item in value:
            _number(name, item, low=low, low_open=low_open, high=high)
        if len(value) != b.num_labels or extra:
            raise ValueError(
                f"{name} as a sequence must have {b.num_labels} entries (one per label), "
                f"got {len(value)}"
            )
        return xp.asarray([float(v) for v in value], dtype=b.dtype, device=b.device)
    if not hasattr(value, "shape"):
        raise TypeError(f"{name} must be a number, a sequence of numbers or an array, "
                        f"got {type(value).__name__}")
    if xp.isdtype(value.dtype, "bool") or not xp.isdtype(value.dtype,
                                                          ("integral", "real floating")):
        raise TypeError(f"{name} must have a numeric dtype, got {value.dtype}")
    arr = _per_label_array(b, name, value, extra)
    check_eager_range(xp, name, arr, low, high, low_open=low_open)
    return arr


def _biases(b: _Batch, biases: Any, num_anchors: int) -> Array | None:
    if biases is None:
        return None
    xp = b.xp
    if _is_number(biases):
        value = float(biases)
        if not math.isfinite(value):
            raise ValueError(f"biases must be finite, got {biases}")
        return xp.full((b.num_labels, num_anchors), value, dtype=b.dtype, device=b.device)
    if not hasattr(biases, "shape"):
        raise TypeError(f"biases must be None, a number or an array, got {type(biases).__name__}")
    if not xp.isdtype(biases.dtype, "real floating"):
        raise TypeError(f"biases must have a floating-point dtype, got {biases.dtype}")
    return _per_label_array(b, "biases", biases, (num_anchors,))


def _label_priors(b: _Batch, label_priors: Any) -> Array:
    if label_priors is None:
        counts, total = _weighted_label_sums(b.xp, b.y, b.w)
        return (1.0 + counts) / (2.0 + total)
    return _per_label(b, "label_priors", label_priors, low=0.0, high=1.0)


def _weighted_label_sums(xp: Namespace, y: Array, w: Array | None) -> tuple[Array, Array]:
    """``(Σ_b w·y, Σ_b w)``, each of shape ``(L,)``."""
    if w is None:
        total = xp.full((y.shape[1],), float(y.shape[0]), dtype=y.dtype, device=device_of(y))
        return xp.sum(y, axis=0), total
    return xp.sum(w * y, axis=0), xp.sum(xp.broadcast_to(w, tuple(y.shape)), axis=0)


def _weighted_sum(xp: Namespace, x: Array, w: Array | None) -> Array:
    return xp.sum(x if w is None else w * x, axis=0)


def _bounds(b: _Batch, pos_loss: Array, neg_loss: Array, m: float) -> tuple[Array, Array]:
    """``(TP_lb, FP_ub)`` from ``y·ℓ(z)`` and ``(1−y)·ℓ(−z)`` (both ``(B, L)``)."""
    xp = b.xp
    # Column sums first, then the scalars per label: no (B, L) temporary for y − ℓ/m.
    tp = _weighted_sum(xp, b.y, b.w) - _weighted_sum(xp, pos_loss, b.w) / m
    fp = _weighted_sum(xp, neg_loss, b.w) / m
    return tp, fp


def _reduce(b: _Batch, per_element: Array, reduction: str) -> Array:
    xp = b.xp
    if reduction == "none":
        per_element = xp.reshape(per_element, b.shape)
    return xp.astype(apply_reduction(xp, per_element, reduction), b.out_dtype)


def _aux_value(b: _Batch, x: Array, extra: tuple[int, ...] = ()) -> Array:
    """A per-label quantity ``(L, *extra)`` in the caller's shape and the logits' dtype."""
    xp = b.xp
    return xp.astype(xp.reshape(x, (*b.label_shape, *extra)), b.out_dtype)


def _aux(b: _Batch, lambdas: Array, priors: Array, tp: Array, fp: Array,
         extra: tuple[int, ...] = ()) -> dict[str, Array]:
    return {
        "lambdas": _aux_value(b, lambdas, extra),
        "label_priors": _aux_value(b, priors),
        "true_positives_lower_bound": _aux_value(b, tp),
        "false_positives_upper_bound": _aux_value(b, fp),
    }


def _check_common(surrogate: str, reduction: str) -> None:
    check_choice("surrogate", surrogate, SURROGATES)
    check_choice("reduction", reduction, REDUCTIONS)


def _lambdas(b: _Batch, lambdas: Any, extra: tuple[int, ...] = ()) -> Array:
    if lambdas is None:
        raise TypeError("lambdas is required: pass the dual values (e.g. dual_value(v, f, "
                        "stop_gradient) of a variable initialised to 1.0)")
    return _per_label(b, "lambdas", lambdas, low=0.0, high=math.inf, extra=extra)


# --------------------------------------------------------------------------------------------
# Surrogates, bounds, label priors, dual values
# --------------------------------------------------------------------------------------------


def weighted_surrogate(
    labels: Array,
    logits: Array,
    *,
    positive_weights: Array | Number = 1.0,
    negative_weights: Array | Number = 1.0,
    surrogate: str = "xent",
) -> Array:
    """The weighted surrogate loss of each element (the original's ``weighted_surrogate_loss``).

    .. math::

        \\text{xent}(y, z; c, d) = c·y·\\text{softplus}(−z) + d·(1−y)·\\text{softplus}(z)

        \\text{hinge}(y, z; c, d) = c·y·\\max(1−z, 0) + d·(1−y)·\\max(1+z, 0)

    Note the argument order ``(labels, logits)``, as in the original library (the losses take
    ``(logits, labels)``).

    Args:
        labels: bool, int or float in [0, 1] (soft labels allowed: the loss is linear in y).
        logits: floating array. ``labels`` and ``logits`` broadcast against each other.
        positive_weights: ``c``, non-negative: a number or an array broadcasting against the
            result, e.g. ``()``, ``(L,)``, ``(B, L)``; for anchors pass labels ``(B, L, 1)``,
            logits ``(B, L, K)`` (``logits[..., None] + biases``) and weights ``(L, K)``.
        negative_weights: ``d``, likewise.
        surrogate: ``"xent"`` or ``"hinge"``.

    Returns:
        The elementwise loss, of the broadcast shape, in the logits' dtype (float16 and
        bfloat16 computed in float32).

    Example:
        >>> import numpy as np
        >>> loss = weighted_surrogate(np.array([1.0, 0.0]), np.array([0.5, 0.5]),
        ...                           positive_weights=2.0, surrogate="hinge")
        >>> loss.tolist()
        [1.0, 1.5]
    """
    check_choice("surrogate", surrogate, SURROGATES)
    xp = namespace_of(labels=labels, logits=logits, positive_weights=positive_weights,
                      negative_weights=negative_weights)
    check_floating(xp, "logits", logits)
    dtype = compute_dtype(xp, logits.dtype)
    z = xp.astype(logits, dtype)
    y = as_float_labels(xp, labels, dtype)
    shapes = {"logits": tuple(logits.shape), "labels": tuple(labels.shape)}
    weights = {}
    for name, value in (("positive_weights", positive_weights),
                        ("negative_weights", negative_weights)):
        if _is_number(value):
            weights[name] = _number(name, value, low=0.0)
            continue
        if not hasattr(value, "shape"):
            raise TypeError(f"{name} must be a number or an array, got {type(value).__name__}")
        if not xp.isdtype(value.dtype, ("integral", "real floating")):
            raise TypeError(f"{name} must have a numeric dtype, got {value.dtype}")
        shapes[name] = tuple(value.shape)
        weights[name] = xp.astype(value, dtype)
        check_eager_range(xp, name, weights[name], 0.0, math.inf)
    _broadcast_shapes(shapes)
    pos, neg = _surrogate_parts(xp, z, surrogate)
    out = weights["positive_weights"] * y * pos + weights["negative_weights"] * (1.0 - y) * neg
    out = xp.broadcast_to(out, _broadcast_shapes(shapes))
    return xp.astype(out, logits.dtype)


def _split_losses(b: _Batch, surrogate: str) -> tuple[Array, Array, float]:
    """``(y·ℓ(z), (1−y)·ℓ(−z), m)``: the positives' and negatives' surrogate terms, ``(B, L)``,
    and the surrogate's margin ``m`` (every Lagrangian and bound is written in these)."""
    pos, neg = _surrogate_parts(b.xp, b.z, surrogate)
    return b.y * pos, (1.0 - b.y) * neg, _margin(surrogate)


def _bound_inputs(labels: Array, logits: Array, weights: Any, surrogate: str
                  ) -> tuple[_Batch, Array, Array, float]:
    check_choice("surrogate", surrogate, SURROGATES)
    b = _prepare(logits, labels, weights)
    return (b, *_split_losses(b, surrogate))


def true_positives_lower_bound(
    labels: Array,
    logits: Array,
    *,
    weights: Array | Number | None = None,
    surrogate: str = "xent",
) -> Array:
    """A lower bound on the (weighted) true positive count of each label.

    .. math::

        TP_{lb} = Σ_b w·\\left(y − \\frac{y·ℓ(z)}{m}\\right) \\le Σ_b w·y·[z > 0]

    with ``ℓ(z) = softplus(−z)``, ``m = ln 2`` (xent) or ``ℓ(z) = max(1−z, 0)``, ``m = 1``
    (hinge): ``ℓ/m ≥ 1`` wherever ``z ≤ 0``.

    Args:
        labels: ``(B, L)`` or ``(B,)``; bool, int or float in [0, 1]. Argument order as in the
            original library.
        logits: same shape, floating.
        weights: ``None``, a number, ``(B,)`` or ``(B, L)``, non-negative.
        surrogate: ``"xent"`` or ``"hinge"``.

    Returns:
        Shape ``(L,)`` (``()`` for binary input), in the logits' dtype.

    Example:
        >>> import numpy as np
        >>> float(true_positives_lower_bound(np.array([1, 1, 0]), np.array([3.0, 0.5, 2.0]),
        ...                                  surrogate="hinge"))
        1.5
    """
    b, pos_loss, neg_loss, m = _bound_inputs(labels, logits, weights, surrogate)
    tp, _ = _bounds(b, pos_loss, neg_loss, m)
    return _aux_value(b, tp)


def false_positives_upper_bound(
    labels: Array,
    logits: Array,
    *,
    weights: Array | Number | None = None,
    surrogate: str = "xent",
) -> Array:
    """An upper bound on the (weighted) false positive count of each label.

    .. math::

        FP_{ub} = Σ_b w·\\frac{(1−y)·ℓ(−z)}{m} \\ge Σ_b w·(1−y)·[z \\ge 0]

    (``ℓ``, ``m`` as in :func:`true_positives_lower_bound`, whose arguments it shares).

    Returns:
        Shape ``(L,)`` (``()`` for binary input), in the logits' dtype.

    Example:
        >>> import numpy as np
        >>> float(false_positives_upper_bound(np.array([1, 0, 0]), np.array([3.0, 0.5, -2.0]),
        ...                                   surrogate="hinge"))
        1.5
    """
    b, pos_loss, neg_loss, m = _bound_inputs(labels, logits, weights, surrogate)
    _, fp = _bounds(b, pos_loss, neg_loss, m)
    return _aux_value(b, fp)


def label_priors_init(
    num_labels: int,
    *,
    xp: Namespace,
    dtype: Any = None,
    device: Any = None,
    positive_pseudocount: float = 1.0,
    negative_pseudocount: float = 1.0,
) -> tuple[Array, Array]:
    """The initial state of the running label-prior estimate: ``(counts, weight_sum)``.

    ``counts`` starts at ``positive_pseudocount`` and ``weight_sum`` at
    ``positive_pseudocount + negative_pseudocount`` for every label (1 and 2 by default, as in
    the original library), so the first prior is never 0/0 and never exactly 0 or 1.

    Args:
        num_labels: ``L ≥ 1`` (1 for binary classification).
        xp: the array namespace to create the state with (e.g. ``array_api_compat.torch``,
            ``jax.numpy``, ``metricloss.backends.tensorflow``).
        dtype: floating dtype (default ``xp.float32``).
        device: where to create the arrays (default: the namespace's default device).
        positive_pseudocount, negative_pseudocount: non-negative, not both zero.

    Returns:
        Two arrays of shape ``(num_labels,)``, to be advanced by :func:`update_label_priors`.

    Example:
        >>> import array_api_compat.numpy as xp
        >>> counts, weight_sum = label_priors_init(2, xp=xp)
        >>> counts.tolist(), weight_sum.tolist()
        ([1.0, 1.0], [2.0, 2.0])
    """
    if isinstance(num_labels, bool) or not isinstance(num_labels, int) or num_labels < 1:
        raise ValueError(f"num_labels must be an integer ≥ 1, got {num_labels!r}")
    pos = _number("positive_pseudocount", positive_pseudocount, low=0.0)
    neg = _number("negative_pseudocount", negative_pseudocount, low=0.0)
    if pos + neg <= 0:
        raise ValueError("positive_pseudocount + negative_pseudocount must be > 0 (the first "
                         "prior would be 0/0)")
    dtype = xp.float32 if dtype is None else dtype
    if not xp.isdtype(dtype, "real floating"):
        raise TypeError(f"dtype must be a floating-point dtype, got {dtype}")
    counts = xp.full((num_labels,), pos, dtype=dtype, device=device)
    weight_sum = xp.full((num_labels,), pos + neg, dtype=dtype, device=device)
    return counts, weight_sum


def update_label_priors(
    counts: Array,
    weight_sum: Array,
    labels: Array,
    weights: Array | Number | None = None,
) -> tuple[Array, Array, Array]:
    """One step of the running label-prior estimate (pure: returns the new state).

    .. math::

        \\text{counts} \\mathrel{+}= Σ_b w·y,\\qquad \\text{weight\\_sum} \\mathrel{+}= Σ_b w,
        \\qquad π = \\text{counts} / \\text{weight\\_sum}

    Args:
        counts: ``(L,)`` floating, from :func:`label_priors_init` or a previous update.
        weight_sum: ``(L,)``, same dtype.
        labels: ``(B, L)`` or, for ``L = 1``, ``(B,)``; bool, int or float in [0, 1].
        weights: ``None``, a number, ``(B,)`` or the labels' shape, non-negative.

    Returns:
        ``(counts, weight_sum, priors)``, three ``(L,)`` arrays in ``counts``' dtype.

    Example:
        >>> import numpy as np
        >>> import array_api_compat.numpy as xp
        >>> state = label_priors_init(1, xp=xp, dtype=xp.float64)
        >>> counts, weight_sum, priors = update_label_priors(*state, np.array([1, 0, 0, 0]))
        >>> priors.tolist()  # (1 + 1) / (2 + 4)
        [0.3333333333333333]
    """
    xp = namespace_of(counts=counts, weight_sum=weight_sum, labels=labels, weights=weights)
    check_floating(xp, "counts", counts)
    check_floating(xp, "weight_sum", weight_sum)
    if len(counts.shape) != 1:
        raise ValueError(f"counts must have shape (L,), got {tuple(counts.shape)}")
    if tuple(weight_sum.shape) != tuple(counts.shape):
        raise ValueError(f"weight_sum must have the shape of counts {tuple(counts.shape)}, "
                         f"got {tuple(weight_sum.shape)}")
    L = counts.shape[0]
    shape = tuple(labels.shape)
    if not (shape[1:] == (L,) and len(shape) == 2) and not (len(shape) == 1 and L == 1):
        raise ValueError(f"labels must have shape (B, {L}) to match counts (or (B,) when L = 1),"
                         f" got {shape}")
    dtype = counts.dtype
    y = as_float_labels(xp, labels, dtype)
    y2 = xp.reshape(y, (shape[0], L))
    w = prepare_weights(xp, weights, y2, shape)
    positives, total = _weighted_label_sums(xp, y2, w)
    new_counts = counts + positives
    new_sum = weight_sum + xp.astype(total, weight_sum.dtype)
    return new_counts, new_sum, new_counts / new_sum


def dual_value(
    variable: Array,
    dual_rate_factor: float,
    stop_gradient: Callable[[Array], Array],
) -> Array:
    """The dual value ``λ = |v|`` of a stored variable, in gradient-reversal form.

    .. math::

        λ = \\text{stop\\_gradient}((1+f)·|v|) − f·|v|

    Its value is ``|v|``; its gradient with respect to ``v`` is ``−f·sign(v)`` times the
    gradient with respect to ``λ``. So the *same* optimizer step that descends on the model's
    weights ascends on the dual variable (at ``f`` times the learning rate), as the Lagrangian
    saddle point requires, without a second backward pass or a separate update.

    Args:
        variable: the stored dual variable (any shape, floating), e.g. a ``torch.nn.Parameter``,
            a ``tf.Variable`` or a JAX array in a params pytree.
        dual_rate_factor: ``f ≥ 0`` (0.1 in the original library).
        stop_gradient: the framework's stop-gradient, e.g. ``torch.Tensor.detach``,
            ``jax.lax.stop_gradient``, ``tf.stop_gradient`` (``lambda x: x`` for NumPy).

    Returns:
        ``λ``, with the shape, dtype and library of ``variable``.

    Example:
        >>> import numpy as np
        >>> dual_value(np.array([-2.0, 0.5]), 0.1, lambda x: x).round(12).tolist()
        [2.0, 0.5]
    """
    if not callable(stop_gradient):
        raise TypeError(f"stop_gradient must be callable (the framework's stop-gradient), got "
                        f"{type(stop_gradient).__name__}")
    f = _number("dual_rate_factor", dual_rate_factor, low=0.0)
    xp = namespace_of(variable=variable)
    check_floating(xp, "variable", variable)
    magnitude = xp.abs(variable)
    return stop_gradient((1.0 + f) * magnitude) - f * magnitude


# --------------------------------------------------------------------------------------------
# The constrained losses
# --------------------------------------------------------------------------------------------


def recall_at_precision_loss(
    logits: Array,
    labels: Array,
    *,
    target_precision: PerLabel,
    lambdas: PerLabel,
    label_priors: PerLabel | None = None,
    weights: Array | Number | None = None,
    surrogate: str = "xent",
    reduction: str = "mean",
) -> tuple[Array, dict[str, Array]]:
    """Maximise recall subject to precision ≥ ``α``: the Lagrangian's per-element loss.

    .. math::

        \\text{loss} = w·\\text{surr}(y, z;\\ 1 + λ(1−α),\\ λα) − λ(1−α)·π·m

    The constraint ``precision ≥ α`` is ``(1−α)·TP ≥ α·FP``; with the bounds of
    :func:`true_positives_lower_bound` and :func:`false_positives_upper_bound` and
    ``TP + FN = π·n``, the Lagrangian of "max TP_lb" has this per-element form. With
    ``α = 1`` it is a cross-entropy weighting negatives by ``λ``.

    Args:
        logits: ``(B, L)`` or ``(B,)`` floating (float16/bfloat16 computed in float32).
        labels: same shape; bool, int or float in [0, 1] (soft labels allowed).
        target_precision: ``α`` in (0, 1]: a number, a length-``L`` sequence, or an array of
            shape ``()``/``(L,)``.
        lambdas: dual values ``λ ≥ 0``, shape ``()`` or ``(L,)`` (see :func:`dual_value`).
        label_priors: ``π`` in [0, 1], shape ``()`` or ``(L,)``; default: this batch's
            weighted positive rate with the pseudocounts, ``(1 + Σw·y)/(2 + Σw)``.
        weights: ``None``, a number, ``(B,)`` or ``(B, L)``, non-negative.
        surrogate: ``"xent"`` (``m = ln 2``) or ``"hinge"`` (``m = 1``).
        reduction: ``"mean"`` (over all elements), ``"sum"`` or ``"none"`` (the per-element
            loss, shape of the logits).

    Returns:
        ``(loss, aux)``: the loss in the logits' library, device and dtype; ``aux`` a dict with
        ``lambdas``, ``label_priors``, ``true_positives_lower_bound`` and
        ``false_positives_upper_bound``, each of shape ``(L,)`` (``()`` for binary input).

    Example:
        >>> import numpy as np
        >>> logits = np.array([2.0, -1.0, 0.5, -3.0])
        >>> labels = np.array([1, 0, 1, 0])
        >>> loss, aux = recall_at_precision_loss(logits, labels, target_precision=0.8,
        ...                                      lambdas=1.0, surrogate="hinge")
        >>> round(float(loss), 4), float(aux["label_priors"])  # (1.2·0.5 − 4·0.2·0.5)/4
        (0.05, 0.5)

    Reference:
        Eban et al., arXiv:1608.04802, §3 (recall at precision).
    """
    _check_common(surrogate, reduction)
    b = _prepare(logits, labels, weights, target_precision=target_precision, lambdas=lambdas,
                 label_priors=label_priors)
    alpha = _per_label(b, "target_precision", target_precision, low=0.0, high=1.0,
                       low_open=True)
    lam = _lambdas(b, lambdas)
    priors = _label_priors(b, label_priors)
    pos_loss, neg_loss, m = _split_losses(b, surrogate)
    lam_slack = lam * (1.0 - alpha)
    weighted = (1.0 + lam_slack) * pos_loss + (lam * alpha) * neg_loss
    per = (weighted if b.w is None else b.w * weighted) - lam_slack * priors * m
    tp, fp = _bounds(b, pos_loss, neg_loss, m)
    return _reduce(b, per, reduction), _aux(b, lam, priors, tp, fp)


def precision_at_recall_loss(
    logits: Array,
    labels: Array,
    *,
    target_recall: PerLabel,
    lambdas: PerLabel,
    label_priors: PerLabel | None = None,
    weights: Array | Number | None = None,
    surrogate: str = "xent",
    reduction: str = "mean",
) -> tuple[Array, dict[str, Array]]:
    """Maximise precision subject to recall ≥ ``r``: the Lagrangian's per-element loss.

    .. math::

        \\text{loss} = w·\\text{surr}(y, z;\\ λ,\\ 1) + λ·π·(r−1)·m

    At fixed recall, maximising precision is minimising the false positives, subject to
    ``TP_lb ≥ r·π·n``. With ``λ = 0`` only the negatives' term is left.

    Args:
        target_recall: ``r`` in (0, 1], a number, a length-``L`` sequence, or an array of shape
            ``()``/``(L,)``.
        (the other arguments and the return value as in :func:`recall_at_precision_loss`.)

    Example:
        >>> import numpy as np
        >>> logits = np.array([2.0, -1.0, 0.5, -3.0])
        >>> labels = np.array([1, 0, 1, 0])
        >>> loss, _ = precision_at_recall_loss(logits, labels, target_recall=0.5, lambdas=0.0,
        ...                                    surrogate="hinge")
        >>> float(loss)  # λ = 0: the negatives' hinge only, (0 + 0 + 0 + 0) / 4
        0.0

    Reference:
        Eban et al., arXiv:1608.04802, §3.
    """
    _check_common(surrogate, reduction)
    b = _prepare(logits, labels, weights, target_recall=target_recall, lambdas=lambdas,
                 label_priors=label_priors)
    r = _per_label(b, "target_recall", target_recall, low=0.0, high=1.0, low_open=True)
    lam = _lambdas(b, lambdas)
    priors = _label_priors(b, label_priors)
    pos_loss, neg_loss, m = _split_losses(b, surrogate)
    weighted = lam * pos_loss + neg_loss
    per = (weighted if b.w is None else b.w * weighted) + lam * priors * (r - 1.0) * m
    tp, fp = _bounds(b, pos_loss, neg_loss, m)
    return _reduce(b, per, reduction), _aux(b, lam, priors, tp, fp)


def false_positive_rate_at_true_positive_rate_loss(
    logits: Array,
    labels: Array,
    *,
    target_rate: PerLabel,
    lambdas: PerLabel,
    label_priors: PerLabel | None = None,
    weights: Array | Number | None = None,
    surrogate: str = "xent",
    reduction: str = "mean",
) -> tuple[Array, dict[str, Array]]:
    """Minimise the false positive rate subject to true positive rate ≥ ``r``.

    The true positive rate is the recall, and at a fixed number of negatives minimising the
    false positive rate is minimising the false positives, so this is
    :func:`precision_at_recall_loss` with ``target_recall = target_rate`` (as in the original
    library):

    .. math::

        \\text{loss} = w·\\text{surr}(y, z;\\ λ,\\ 1) + λ·π·(r−1)·m

    Args:
        target_rate: ``r`` in (0, 1], the true positive rate to hold.
        (the other arguments and the return value as in :func:`recall_at_precision_loss`.)

    Example:
        >>> import numpy as np
        >>> loss, _ = false_positive_rate_at_true_positive_rate_loss(
        ...     np.array([2.0, -1.0]), np.array([1, 0]), target_rate=0.9, lambdas=1.0,
        ...     surrogate="hinge", label_priors=0.5)
        >>> round(float(loss), 4)  # (0 + 0)/2 + 1·0.5·(0.9 − 1)
        -0.05
    """
    return precision_at_recall_loss(
        logits, labels, target_recall=target_rate, lambdas=lambdas, label_priors=label_priors,
        weights=weights, surrogate=surrogate, reduction=reduction,
    )


def true_positive_rate_at_false_positive_rate_loss(
    logits: Array,
    labels: Array,
    *,
    target_rate: PerLabel,
    lambdas: PerLabel,
    label_priors: PerLabel | None = None,
    weights: Array | Number | None = None,
    surrogate: str = "xent",
    reduction: str = "mean",
) -> tuple[Array, dict[str, Array]]:
    """Maximise the true positive rate subject to false positive rate ≤ ``r``.

    .. math::

        \\text{loss} = w·\\text{surr}(y, z;\\ 1,\\ λ) − λ·r·(1−π)·m

    (the constraint is ``FP_ub ≤ r·(1−π)·n``).

    Args:
        target_rate: ``r`` in (0, 1], the false positive rate allowed.
        (the other arguments and the return value as in :func:`recall_at_precision_loss`.)

    Example:
        >>> import numpy as np
        >>> loss, _ = true_positive_rate_at_false_positive_rate_loss(
        ...     np.array([2.0, 0.5]), np.array([1, 0]), target_rate=0.1, lambdas=1.0,
        ...     surrogate="hinge", label_priors=0.5)
        >>> round(float(loss), 4)  # (0 + 1.5)/2 − 1·0.1·0.5
        0.7
    """
    _check_common(surrogate, reduction)
    b = _prepare(logits, labels, weights, target_rate=target_rate, lambdas=lambdas,
                 label_priors=label_priors)
    r = _per_label(b, "target_rate", target_rate, low=0.0, high=1.0, low_open=True)
    lam = _lambdas(b, lambdas)
    priors = _label_priors(b, label_priors)
    pos_loss, neg_loss, m = _split_losses(b, surrogate)
    weighted = pos_loss + lam * neg_loss
    per = (weighted if b.w is None else b.w * weighted) - lam * r * (1.0 - priors) * m
    tp, fp = _bounds(b, pos_loss, neg_loss, m)
    return _reduce(b, per, reduction), _aux(b, lam, priors, tp, fp)


def _check_precision_range(precision_range: Any) -> tuple[float, float]:
    if (not isinstance(precision_range, Sequence) or isinstance(precision_range, str)
            or len(precision_range) != 2):
        raise ValueError(f"precision_range must be a pair (lo, hi), got {precision_range!r}")
    lo, hi = precision_range
    for value in (lo, hi):
        if not _is_number(value) or not math.isfinite(value):
            raise ValueError(f"precision_range must hold two finite numbers, "
                             f"got {precision_range!r}")
    if not 0.0 <= lo < hi <= 1.0:
        raise ValueError(f"precision_range must satisfy 0 ≤ lo < hi ≤ 1, got ({lo}, {hi})")
    return float(lo), float(hi)


def precision_recall_auc_loss(
    logits: Array,
    labels: Array,
    *,
    lambdas: PerLabel,
    biases: Array | Number | None = None,
    precision_range: tuple[float, float] = (0.0, 1.0),
    num_anchors: int = 20,
    label_priors: PerLabel | None = None,
    weights: Array | Number | None = None,
    surrogate: str = "xent",
    reduction: str = "mean",
) -> tuple[Array, dict[str, Array]]:
    """The area under the precision-recall curve over ``precision_range``, as a loss.

    The range is cut at ``K`` anchors ``α_k = linspace(lo, hi, K+2)[1:−1]``; at each, recall at
    precision ``α_k`` with its own dual ``λ_k`` and a bias ``b_k`` added to the logits:

    .. math::

        \\text{loss} = \\frac{1}{K} Σ_k \\left[w·\\text{surr}(y, z + b_k;\\
        1 + λ_k(1−α_k),\\ λ_k α_k) − λ_k(1−α_k)·π·m\\right]

    The original's Riemann sum ``δ·Σ_k / (hi − lo − δ)`` with ``δ = (hi−lo)/(K+1)`` is this
    mean. The largest intermediate is ``(B, L, K)``; with ``biases=None`` (all zero) the
    anchors collapse and only ``(B, L)`` arrays are formed.

    Args:
        lambdas: ``λ ≥ 0``, shape ``()`` or ``(L, K)`` (binary input: also ``(K,)``).
        biases: ``None`` (zeros), a number, or shape ``()``/``(L, K)`` (binary: also ``(K,)``);
            trainable in the adapters, initialised to 0.
        precision_range: ``(lo, hi)`` with ``0 ≤ lo < hi ≤ 1``.
        num_anchors: ``K ≥ 1``.
        (the other arguments as in :func:`recall_at_precision_loss`.)

    Returns:
        ``(loss, aux)``; ``aux`` adds ``biases`` and gives ``lambdas`` and ``biases`` as
        ``(L, K)`` (``(K,)`` for binary input). The bounds are those of the unbiased logits.

    Example:
        >>> import numpy as np
        >>> logits = np.array([2.0, -1.0, 0.5, -3.0])
        >>> labels = np.array([1, 0, 1, 0])
        >>> loss, aux = precision_recall_auc_loss(logits, labels, lambdas=1.0, num_anchors=1,
        ...                                       precision_range=(0.7, 0.9),
        ...                                       surrogate="hinge")
        >>> round(float(loss), 4)  # recall at precision 0.8
        0.05

    Reference:
        Eban et al., arXiv:1608.04802, §4 (AUCPR).
    """
    _check_common(surrogate, reduction)
    lo, hi = _check_precision_range(precision_range)
    if (isinstance(num_anchors, bool) or not isinstance(num_anchors, int)
            or num_anchors < 1):
        raise ValueError(f"num_anchors must be an integer ≥ 1, got {num_anchors!r}")
    K = num_anchors
    b = _prepare(logits, labels, weights, lambdas=lambdas, biases=biases,
                 label_priors=label_priors)
    xp = b.xp
    lam = _lambdas(b, lambdas, extra=(K,))
    bias = _biases(b, biases, K)
    priors = _label_priors(b, label_priors)
    alphas = [lo + (hi - lo) * (k + 1) / (K + 1) for k in range(K)]
    alpha = xp.asarray(alphas, dtype=b.dtype, device=b.device)
    pos_weight = 1.0 + lam * (1.0 - alpha)  # (L, K)
    neg_weight = lam * alpha
    pos_loss, neg_loss, m = _split_losses(b, surrogate)
    if bias is None:
        # Every anchor sees the same logits: the mean over anchors is linear in the weights.
        weighted = (xp.mean(pos_weight, axis=1) * pos_loss
                    + xp.mean(neg_weight, axis=1) * neg_loss)
    else:
        zk = xp.expand_dims(b.z, axis=2) + bias  # (B, L, K), the largest intermediate
        pos_k, neg_k = _surrogate_parts(xp, zk, surrogate)
        y3 = xp.expand_dims(b.y, axis=2)
        weighted = xp.mean(pos_weight * (y3 * pos_k) + neg_weight * ((1.0 - y3) * neg_k),
                           axis=2)
    lambda_term = xp.mean(lam * (1.0 - alpha), axis=1) * priors * m
    per = (weighted if b.w is None else b.w * weighted) - lambda_term
    tp, fp = _bounds(b, pos_loss, neg_loss, m)
    aux = _aux(b, lam, priors, tp, fp, extra=(K,))
    bias_out = bias if bias is not None else xp.zeros((b.num_labels, K), dtype=b.dtype,
                                                      device=b.device)
    aux["biases"] = _aux_value(b, bias_out, (K,))
    return _reduce(b, per, reduction), aux


# --------------------------------------------------------------------------------------------
# ROC-AUC
# --------------------------------------------------------------------------------------------


def _roc_pairwise(xp: Namespace, z: Array, y: Array, w: Array | None, surrogate: str,
                  chunk_size: int) -> Array:
    """Per-element pairwise ROC loss ``(B, L)``, computed ``chunk_size`` rows at a time.

    Row block ``j ∈ [start, stop)`` forms ``(C, B, L)`` arrays; the blocks are concatenated,
    so each element's value is the unchunked one (the sum over ``i`` is not split).
    """
    B = z.shape[0]
    z0, y0 = xp.expand_dims(z, axis=0), xp.expand_dims(y, axis=0)  # (1, B, L)
    w0 = None if w is None else xp.expand_dims(w, axis=0)
    blocks = []
    for start in range(0, B, chunk_size):
        stop = min(start + chunk_size, B)
        zj = xp.expand_dims(z[start:stop, :], axis=1)  # (C, 1, L)
        yj = xp.expand_dims(y[start:stop, :], axis=1)
        # With d = y_i − y_j = −(y_j − y_i), the pair loss is ℓ(−d·(z_j − z_i)):
        # softplus(d·Δz) or max(1 + d·Δz, 0). Written so that few (C, B, L) temporaries are
        # alive at once (names are rebound as soon as an array is no longer needed).
        d = y0 - yj  # (C, B, L)
        if surrogate == "xent":
            pair = kernels(xp).softplus(d * (zj - z0))
        else:
            pair = _relu(xp, 1.0 + d * (zj - z0))
        d = xp.abs(d)
        pair = d * pair
        del d
        if w0 is not None:
            pair = w0 * pair
        row = xp.sum(pair, axis=1)  # (C, L)
        del pair
        if w is not None:
            row = (w if w.shape[0] == 1 else w[start:stop, :]) * row
        blocks.append(row)
    if not blocks:  # an empty batch
        return xp.zeros(tuple(z.shape), dtype=z.dtype, device=device_of(z))
    per = blocks[0] if len(blocks) == 1 else xp.concat(blocks, axis=0)
    return (0.5 / B) * per


def _roc_pairwise_total(xp: Namespace, z: Array, y: Array, w: Array | None, surrogate: str,
                        chunk_size: int) -> Array:
    """The sum over the batch of :func:`_roc_pairwise`, for 0/1 labels: a scalar.

    ``(1/B)·Σ_j w_j y_j Σ_i w_i (1 − y_i)·ℓ(z_j − z_i)``: each positive–negative pair once,
    one ``(C, B, L)`` difference, surrogate and product per row block (the per-element form
    needs ``|y_j − y_i|``, ``(y_j − y_i)·Δz`` and the symmetric half as well). For 0/1 labels
    it equals the sum of the per-element losses; for soft labels it does not.
    """
    B = z.shape[0]
    pos = y if w is None else w * y  # (B, L): w_j y_j
    neg = xp.expand_dims(1.0 - y if w is None else w * (1.0 - y), axis=0)  # (1, B, L)
    z0 = xp.expand_dims(z, axis=0)  # (1, B, L)
    total = None
    for start in range(0, B, chunk_size):
        stop = min(start + chunk_size, B)
        zj = xp.expand_dims(z[start:stop, :], axis=1)  # (C, 1, L)
        # ℓ(z_j − z_i): softplus(z_i − z_j) or max(1 + z_i − z_j, 0).
        if surrogate == "xent":
            pair = kernels(xp).softplus(z0 - zj)
        else:
            pair = _relu(xp, (z0 + 1.0) - zj)
        row = xp.sum(neg * pair, axis=1)  # (C, L)
        del pair
        part = xp.sum(pos[start:stop, :] * row)
        total = part if total is None else total + part
    if total is None:  # an empty batch
        return xp.zeros((), dtype=z.dtype, device=device_of(z))
    return total / B


def _roc_sorted_hinge(xp: Namespace, z: Array, y: Array, w: Array | None) -> Array:
    """Per-element pairwise hinge ROC loss ``(B, L)`` in ``O(B log B)``, for 0/1 labels.

    For a positive ``j``, ``Σ_{n neg} w_n·max(1 − z_j + z_n, 0)`` is a sum over the negatives
    with ``z_n > z_j − 1`` of an affine function of ``z_n``: ``(1 − z_j)·Σ w_n + Σ w_n·z_n``.
    For a negative ``j``, likewise over the positives with ``z_p < z_j + 1``. One stable sort
    per label of the logits merged with the queries ``z − 1`` and ``z + 1``, suffix and prefix
    sums, and a gather at the queries' positions give every element's sum.
    """
    B, L = z.shape
    zc = z - xp.mean(z, axis=0, keepdims=True)  # fewer digits lost in the sums below
    zt = xp.matrix_transpose(zc)  # (L, B): one row per label
    yt = xp.matrix_transpose(y)
    wt = None if w is None else xp.matrix_transpose(xp.broadcast_to(w, (B, L)))
    neg_w = 1.0 - yt if wt is None else wt * (1.0 - yt)
    pos_w = yt if wt is None else wt * yt
    keys = xp.concat([zt, zt - 1.0, zt + 1.0], axis=1)  # (L, 3B)
    perm = xp.argsort(keys, axis=1, stable=True)
    where = xp.argsort(perm, axis=1, stable=True)  # the inverse permutation
    pad = xp.zeros((L, 2 * B), dtype=z.dtype, device=device_of(z))

    def in_order(values: Array) -> Array:  # values of the B logits, zero at the queries
        return xp.take_along_axis(xp.concat([values, pad], axis=1), perm, axis=1)

    def suffix(values: Array) -> Array:
        return xp.flip(xp.cumulative_sum(xp.flip(values, axis=1), axis=1), axis=1)

    def at(sums: Array, first: int) -> Array:  # the sums at the queries first..first+B
        return xp.take_along_axis(sums, where[:, first:first + B], axis=1)

    # Positives: the negatives above z_j − 1 (the queries at B..2B lie among them).
    above_w = suffix(in_order(neg_w))
    above_wz = suffix(in_order(neg_w * zt))
    pos_sum = (1.0 - zt) * at(above_w, B) + at(above_wz, B)
    # Negatives: the positives below z_j + 1 (the queries at 2B..3B).
    below_w = xp.cumulative_sum(in_order(pos_w), axis=1)
    below_wz = xp.cumulative_sum(in_order(pos_w * zt), axis=1)
    neg_sum = (1.0 + zt) * at(below_w, 2 * B) - at(below_wz, 2 * B)
    per = yt * pos_sum + (1.0 - yt) * neg_sum
    if wt is not None:
        per = wt * per
    return (0.5 / B) * xp.matrix_transpose(per)


def roc_auc_loss(
    logits: Array,
    labels: Array,
    *,
    weights: Array | Number | None = None,
    surrogate: str = "xent",
    reduction: str = "mean",
    chunk_size: int | None = None,
    method: str = "pairwise",
) -> tuple[Array, dict[str, Array]]:
    """A pairwise surrogate of ``1 − ROC-AUC``: every positive–negative pair, ranked.

    The per-element loss of example ``j`` (per label), as in the original library:

    .. math::

        \\text{loss}_j = \\frac{1}{2B} Σ_i |y_j − y_i|·w_i w_j·
        \\text{surr}(1, (y_j − y_i)(z_j − z_i); 1, 1)

    so each positive–negative pair is counted half from each side, and the sum over the batch
    is ``(1/B)·Σ_{p∈pos, n∈neg} w_p w_n ℓ(z_p − z_n)`` with ``ℓ(u) = softplus(−u)`` (xent) or
    ``max(1 − u, 0)`` (hinge). No dual variable, no label prior.

    **Memory and the two methods.** ``method="pairwise"`` forms ``(B, B, L)`` arrays; with
    ``chunk_size=C`` it forms ``(C, B, L)`` blocks of rows ``j`` and concatenates the rows, so
    every element (``reduction="none"`` included) has exactly its unchunked definition. This
    bounds the forward pass' memory; reverse-mode autodiff still keeps each block's residuals
    (``O(B²L)`` in all) unless the caller rematerialises (``jax.checkpoint``,
    ``torch.utils.checkpoint``). ``method="sort"`` (hinge only, 0/1 labels) computes the same
    per-element values exactly in ``O(B log B)`` time and ``O(B·L)`` memory, gradients
    included: a sort of the logits merged with ``z ± 1``, then prefix sums. Soft labels are
    rejected there in eager mode (the pairwise ``|y_j − y_i|`` form is not separable); under
    tracing they go unchecked and give
    ``Σ_i w_i w_j [y_j(1−y_i)ℓ(z_j−z_i) + (1−y_j)y_iℓ(z_i−z_j)] / 2B``, which equals the
    pairwise form only for 0/1 labels.

    **Hard labels.** With ``reduction="mean"`` or ``"sum"`` and labels of a bool or integer
    dtype (known to be 0/1 without reading them), ``method="pairwise"`` sums
    ``(1/B)·Σ_{j,i} w_j w_i y_j(1−y_i)·ℓ(z_j − z_i)`` directly: each positive–negative pair
    once, about half the work of the per-element form, same value and gradients (up to
    rounding), chunked alike. Float labels (they may be soft) and ``reduction="none"`` use
    the per-element form; pass 0/1 labels as bool or int to get the fast path.

    Args:
        logits: ``(B, L)`` or ``(B,)`` floating (float16/bfloat16 computed in float32).
        labels: same shape; bool, int or float in [0, 1] (soft labels: pairwise method only).
        weights: ``None``, a number, ``(B,)`` or ``(B, L)``, non-negative.
        surrogate: ``"xent"`` or ``"hinge"``.
        reduction: ``"mean"`` (over all ``B·L`` elements), ``"sum"``, or ``"none"``.
        chunk_size: rows per block for ``method="pairwise"`` (``None``: one block).
        method: ``"pairwise"`` or ``"sort"``.

    Returns:
        ``(loss, {})``: the loss in the logits' library, device and dtype, and an empty dict
        (no dual state), as in the original library.

    Example:
        >>> import numpy as np
        >>> loss, _ = roc_auc_loss(np.array([0.5, 0.0, 1.0]), np.array([1, 0, 0]),
        ...                        surrogate="hinge", reduction="sum")
        >>> round(float(loss), 6)  # (hinge(0.5) + hinge(−0.5)) / 3
        0.666667

    Reference:
        Eban et al., arXiv:1608.04802, §5 (ROC-AUC); the original ``roc_auc_loss``.
    """
    _check_common(surrogate, reduction)
    check_choice("method", method, ROC_METHODS)
    if chunk_size is not None and (isinstance(chunk_size, bool)
                                   or not isinstance(chunk_size, int) or chunk_size < 1):
        raise ValueError(f"chunk_size must be None or an integer ≥ 1, got {chunk_size!r}")
    if method == "sort":
        if surrogate != "hinge":
            raise ValueError("method='sort' is exact for surrogate='hinge' only (the xent pair "
                             f"loss is not piecewise affine); got surrogate={surrogate!r}")
        if chunk_size is not None:
            raise ValueError("chunk_size applies to method='pairwise' only; method='sort' needs "
                             "no chunking (O(B·L) memory)")
    b = _prepare(logits, labels, weights)
    xp = b.xp
    if method == "sort":
        if not xp.isdtype(labels.dtype, ("bool", "integral")) and is_eager(b.y):
            soft = xp.logical_and(b.y != 0.0, b.y != 1.0)
            if bool(xp.any(soft)):
                raise ValueError("labels must be 0 or 1 for method='sort' (soft labels found); "
                                 "use method='pairwise'")
        per = _roc_sorted_hinge(xp, b.z, b.y, b.w)
    else:
        B = b.z.shape[0]
        if reduction != "none" and xp.isdtype(labels.dtype, ("bool", "integral")):
            # Hard labels by dtype (no host read): the positive–negative pairs only, once.
            total = _roc_pairwise_total(xp, b.z, b.y, b.w, surrogate, chunk_size or B or 1)
            if reduction == "mean" and B * b.num_labels > 0:
                total = total / (B * b.num_labels)
            return xp.astype(total, b.out_dtype), {}
        per = _roc_pairwise(xp, b.z, b.y, b.w, surrogate, chunk_size or B or 1)
    return _reduce(b, per, reduction), {}
