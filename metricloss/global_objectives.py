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
``roc_auc_loss()`` (:mod:`metricloss.roc_auc`)            pairwise, no dual
========================================================  ====================================

with ``surr(y, z; c, d) = c·y·ℓ(z) + d·(1−y)·ℓ(−z)`` and ``π`` the label prior (fraction of
positives).

**Conventions** (the package's, not the original library's where they differ):

- every function takes ``(logits, labels)`` in that order (the original's
  ``weighted_surrogate_loss`` and bounds took ``(labels, logits)``); ``weights`` is
  keyword-only, ``None``, a number, or any shape that broadcasts to the labels (``(B,)``,
  ``(B, 1)``, ``(B, L)``).
- the constrained losses return the loss alone; ``return_aux=True`` returns ``(loss, aux)``,
  ``aux`` a dict with ``lambdas``, ``label_priors``, ``true_positives_lower_bound`` and
  ``false_positives_upper_bound`` (and ``biases`` for PR-AUC). Without it the bounds are not
  computed at all.
- ``reduction="mean"`` averages over all ``B·L`` elements of the per-element loss (as
  ``BCEWithLogitsLoss`` and Keras' ``sum_over_batch_size``); the mean of an empty batch is 0.
- float16/bfloat16 logits are computed in float32 and the loss and ``aux`` come back in
  float32; other dtypes come back in their own dtype.
- ±inf logits give the limit value with a finite gradient: logits are read as lying in
  ``[−H, H]`` with ``H = 2**63`` in float32 (``2**511`` in float64), so a correct infinite
  logit costs 0 with a zero gradient, and a wrong one a loss of order ``H`` (the limit is
  +inf) with a zero gradient. No finite logit of a trained model comes near ``H``.
- the batch size is never read from a Python shape: every function traces with an unknown
  batch size (Keras, ``tf.function`` with a ``(None, L)`` signature,
  ``torch.compile(dynamic=True)``, ``jax.export`` with a symbolic batch).

**Stateless by design.** Everything that the original kept in TensorFlow 1 variables is an
argument here: the dual values ``lambdas``, the PR-AUC ``biases`` and the ``label_priors``.
The framework adapters hold that state and call these pure functions:

- dual variables ``v`` (initialised to 1.0) become ``lambdas = dual_value(v, f, stop_gradient)``,
  the gradient-reversal form ``stop_gradient((1+f)·|v|) − f·|v|``: its value is ``|v|`` and its
  gradient is ``−f·sign(v)`` times λ's, so the optimizer step that descends on the model's
  weights ascends on ``v``. No second backward pass, no hand-written dual SGD step.
- running label priors are a :class:`LabelPriorState` ``(counts, weight_sum)``, started by
  :func:`label_priors_init` (pseudocounts 1 positive and 1 negative) and advanced by the pure
  :func:`update_label_priors`; pass ``state.priors`` as ``label_priors=``.
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
import sys
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from metricloss._checks import (
    as_float_labels,
    check_bool,
    check_choice,
    check_eager_range,
    check_floating,
    check_integer,
    check_number,
    prepare_inputs,
    prepare_weights,
    require_array,
)
from metricloss._namespace import (
    Array,
    Namespace,
    compute_dtype,
    device_of,
    finite_logits,
    is_eager,
    kernels,
    namespace_of,
    resolve_namespace,
)
from metricloss._reduction import REDUCTIONS, apply_reduction
from metricloss._sync import AllReduce, check_all_reduce, sum_across

__all__ = [
    "REDUCTIONS",
    "ROC_METHODS",  # noqa: F822 (from metricloss.roc_auc, see __getattr__)
    "SURROGATES",
    "LabelPriorState",
    "dual_value",
    "false_positive_rate_at_true_positive_rate_loss",
    "false_positives_upper_bound",
    "label_priors_init",
    "precision_at_recall_loss",
    "precision_recall_auc_loss",
    "recall_at_precision_loss",
    "roc_auc_loss",  # noqa: F822
    "true_positive_rate_at_false_positive_rate_loss",
    "true_positives_lower_bound",
    "update_label_priors",
    "weighted_surrogate",
]

SURROGATES = ("xent", "hinge")

_LN2 = math.log(2.0)

Number = int | float
PerLabel = Array | Number | Sequence[Number]

_ORDER_HINT = ("; the argument order is (logits, labels) (the original TensorFlow library took "
               "(labels, logits))")


# --------------------------------------------------------------------------------------------
# Shared helpers (also used by metricloss.roc_auc)
# --------------------------------------------------------------------------------------------


def _check_logits(xp: Namespace, logits: Array) -> None:
    """``TypeError`` unless ``logits`` is floating, with a hint at the argument order (bool or
    integer labels passed first are caught here)."""
    if not xp.isdtype(logits.dtype, "real floating"):
        raise TypeError(f"logits must have a floating-point dtype, got {logits.dtype}"
                        f"{_ORDER_HINT}")



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


def _broadcast_shapes(named: dict[str, tuple[Any, ...]]) -> tuple[Any, ...]:
    """The broadcast of the named shapes, or ``ValueError`` naming the first that clashes.

    An unknown size (``None`` under a ``tf.function`` signature) is taken to match."""
    out: tuple[Any, ...] = ()
    for name, shape in named.items():
        n = max(len(out), len(shape))
        a = (1,) * (n - len(out)) + out
        b = (1,) * (n - len(shape)) + tuple(shape)
        merged = []
        for da, db in zip(a, b, strict=True):
            if da != db and 1 not in (da, db) and None not in (da, db):
                others = ", ".join(f"{k} {v}" for k, v in named.items() if k != name)
                raise ValueError(
                    f"{name} of shape {tuple(shape)} does not broadcast against {others}"
                )
            merged.append(db if da == 1 else da)
        out = tuple(merged)
    return out


def _static_rows(x: Array) -> int | None:
    """The number of rows of ``x`` as a Python int where it is known while tracing, else
    ``None``: ``None`` in a ``tf.function`` signature, a symbolic dimension under ``jax.export``,
    and any size under ``torch.compile`` (Dynamo shows a symbolic size as a plain ``int``, so
    it cannot be told from a static one; the batch size is then treated as unknown)."""
    n = x.shape[0]
    if type(n) is not int:
        return None
    torch = sys.modules.get("torch")
    if torch is not None and torch.compiler.is_compiling():
        return None
    return n


def _batch_count(xp: Namespace, x: Array) -> Array | int:
    """The number of rows of the 2-D ``x``: a Python int where it is static, else an array
    computed at run time (see :func:`_static_rows`), never a Python read of an unknown size."""
    n = _static_rows(x)
    if n is not None:
        return n
    return xp.sum(xp.ones_like(x[:, 0]))


def _check_finite_weights(xp: Namespace, w: Array | None, name: str = "weights") -> None:
    """``ValueError`` for infinite or NaN weights (eager, on the host; HELPERS decision 7)."""
    if w is None or not is_eager(w):
        return
    bad = xp.logical_not(xp.all(xp.isfinite(w)))
    if is_eager(bad) and bool(bad):
        raise ValueError(f"{name} must be finite; found inf or NaN")


class _Batch(NamedTuple):
    """A loss' inputs in compute form: ``z`` (clipped to ``[−H, H]``), ``y`` of shape
    ``(B, L)``, ``w`` ``None`` or broadcastable to it, in ``dtype`` (float32 for half
    precision, also the result's dtype) on ``device``."""

    xp: Namespace
    z: Array
    y: Array
    w: Array | None
    shape: tuple[Any, ...]  # the caller's logits shape (its batch size may be None)
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
    require_array("logits", logits)
    require_array("labels", labels)
    # One namespace check over every array argument, so that a PyTorch ``lambdas`` next to
    # NumPy logits is a TypeError naming both.
    xp = namespace_of(logits=logits, labels=labels, weights=weights,
                      **{k: v for k, v in others.items() if hasattr(v, "shape")})
    _check_logits(xp, logits)
    xp, z, y, w, shape = prepare_inputs(logits, labels, weights)
    _check_finite_weights(xp, w)
    return _Batch(xp, finite_logits(xp, z), y, w, shape, z.dtype, device_of(z))


def _reduce(b: _Batch, per_element: Array, reduction: str,
            all_reduce: AllReduce | None = None) -> Array:
    """The reduced loss in the compute dtype (float32 for half inputs); ``"none"``: the
    caller's shape. With ``all_reduce``, ``"sum"`` is the sum over every replica's elements and
    ``"mean"`` their mean (the sum and the element count summed across replicas in one call):
    the value of the global batch on every replica, whatever the shard sizes."""
    xp = b.xp
    if reduction == "none":
        return per_element if len(b.shape) == 2 else xp.reshape(per_element, (-1,))
    if all_reduce is None:
        return apply_reduction(xp, per_element, reduction)
    total = xp.sum(per_element)
    if reduction == "sum":
        return all_reduce(total)
    rows = _batch_count(xp, per_element)
    count = xp.zeros_like(total) + rows * per_element.shape[1]
    total, count = sum_across(xp, [total, count], all_reduce)
    return total / xp.maximum(count, xp.ones_like(count))


def _check_common(surrogate: str, reduction: str, return_aux: Any = False) -> None:
    check_choice("surrogate", surrogate, SURROGATES)
    check_choice("reduction", reduction, REDUCTIONS)
    check_bool("return_aux", return_aux)


# --------------------------------------------------------------------------------------------
# Per-label arguments
# --------------------------------------------------------------------------------------------


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
               low_open: bool = False, extra: tuple[int, ...] = ()) -> Array | float:
    """A per-label (or per-label-and-anchor) argument: a number, a sequence of numbers, or an
    array of shape ``()`` or ``(L, *extra)``, checked to lie in range (arrays: eager only).

    A number comes back as a Python float when ``extra`` is empty (it broadcasts for free),
    everything else as an array of shape ``(L, *extra)`` on the logits' device.
    """
    xp = b.xp
    if isinstance(value, LabelPriorState):
        raise TypeError(f"{name} must be an array of priors, not a LabelPriorState: pass "
                        f"state.priors")
    if isinstance(value, int | float) and not isinstance(value, bool):
        v = check_number(name, value, low=low, low_open=low_open, high=high)
        if not extra:
            return v
        return xp.full((b.num_labels, *extra), v, dtype=b.dtype, device=b.device)
    if isinstance(value, list | tuple):
        for item in value:
            check_number(name, item, low=low, low_open=low_open, high=high)
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


def _as_array(b: _Batch, x: Array | float, extra: tuple[int, ...] = ()) -> Array:
    """A per-label value (a float or an array) as an array of shape ``(L, *extra)``."""
    if isinstance(x, float):
        return b.xp.full((b.num_labels, *extra), x, dtype=b.dtype, device=b.device)
    return x


def _lambdas(b: _Batch, lambdas: Any, extra: tuple[int, ...] = ()) -> Array | float:
    if lambdas is None:
        raise TypeError("lambdas is required: pass the dual values (e.g. dual_value(v, f, "
                        "stop_gradient) of a variable initialised to 1.0)")
    lam = _per_label(b, "lambdas", lambdas, low=0.0, high=math.inf, extra=extra)
    if isinstance(lam, float):
        return lam
    # Negative values raise in eager mode (above); under tracing they cannot be read, and are
    # used as |λ| (free: (L,) values), so the loss stays a Lagrangian with λ ≥ 0. where(), not
    # abs(): the gradient at λ = 0 stays 1 in every framework.
    return b.xp.where(lam < 0, -lam, lam)


def _biases(b: _Batch, biases: Any, num_anchors: int) -> Array | None:
    if biases is None:
        return None
    xp = b.xp
    if isinstance(biases, int | float) and not isinstance(biases, bool):
        value = check_number("biases", biases)
        return xp.full((b.num_labels, num_anchors), value, dtype=b.dtype, device=b.device)
    if not hasattr(biases, "shape"):
        raise TypeError(f"biases must be None, a number or an array, got {type(biases).__name__}")
    if not xp.isdtype(biases.dtype, "real floating"):
        raise TypeError(f"biases must have a floating-point dtype, got {biases.dtype}")
    return _per_label_array(b, "biases", biases, (num_anchors,))


def _weighted_label_sums(xp: Namespace, y: Array, w: Array | None) -> tuple[Array, Array]:
    """``(Σ_b w·y, Σ_b w)``, each of shape ``(L,)`` (no Python batch size read)."""
    if w is None:
        positives = xp.sum(y, axis=0)
        return positives, xp.zeros_like(positives) + _batch_count(xp, y)
    return xp.sum(w * y, axis=0), xp.sum(w + xp.zeros_like(y), axis=0)


def _label_priors(b: _Batch, label_priors: Any, all_reduce: AllReduce | None = None
                  ) -> Array | float:
    if label_priors is None:
        counts, total = sum_across(b.xp, _weighted_label_sums(b.xp, b.y, b.w), all_reduce)
        return (1.0 + counts) / (2.0 + total)
    return _per_label(b, "label_priors", label_priors, low=0.0, high=1.0)


def _weighted_sum(xp: Namespace, x: Array, w: Array | None) -> Array:
    return xp.sum(x if w is None else w * x, axis=0)


def _bounds(b: _Batch, surrogate: str) -> tuple[Array, Array]:
    """``(TP_lb, FP_ub)``, each ``(L,)``: computed only when asked for (``return_aux``)."""
    xp = b.xp
    pos, neg = _surrogate_parts(xp, b.z, surrogate)
    m = _margin(surrogate)
    # Column sums first, then the scalars per label: no (B, L) temporary for y − ℓ/m.
    tp = _weighted_sum(xp, b.y, b.w) - _weighted_sum(xp, b.y * pos, b.w) / m
    fp = _weighted_sum(xp, (1.0 - b.y) * neg, b.w) / m
    return tp, fp


def _aux_value(b: _Batch, x: Array | float, extra: tuple[int, ...] = ()) -> Array:
    """A per-label quantity ``(L, *extra)`` in the caller's shape and the compute dtype."""
    return b.xp.reshape(_as_array(b, x, extra), (*b.label_shape, *extra))


def _aux(b: _Batch, surrogate: str, lambdas: Array | float, priors: Array | float,
         extra: tuple[int, ...] = (), all_reduce: AllReduce | None = None) -> dict[str, Array]:
    tp, fp = sum_across(b.xp, _bounds(b, surrogate), all_reduce)
    return {
        "lambdas": _aux_value(b, lambdas, extra),
        "label_priors": _aux_value(b, priors),
        "true_positives_lower_bound": _aux_value(b, tp),
        "false_positives_upper_bound": _aux_value(b, fp),
    }


def _lagrangian(b: _Batch, surrogate: str, pos_coef: Any, neg_coef: Any,
                constant: Any) -> Array:
    """``w·(c·y·ℓ(z) + d·(1−y)·ℓ(−z)) − constant``, ``(B, L)``.

    The coefficients (no gradient) are multiplied into the labels before the surrogate
    values, as hand-written code does: the fewest ``(B, L)`` passes on the hot path.
    """
    xp = b.xp
    pos, neg = _surrogate_parts(xp, b.z, surrogate)
    cp = pos_coef * b.y
    cn = neg_coef * (1.0 - b.y)
    if b.w is not None:
        cp = b.w * cp
        cn = b.w * cn
    return (cp * pos + cn * neg) - constant


def _finish(b: _Batch, per: Array, reduction: str, return_aux: bool, surrogate: str,
            lam: Any, priors: Any, all_reduce: AllReduce | None = None) -> Any:
    loss = _reduce(b, per, reduction, all_reduce)
    if not return_aux:
        return loss
    return loss, _aux(b, surrogate, lam, priors, all_reduce=all_reduce)
# --------------------------------------------------------------------------------------------
# Surrogates, bounds, label priors, dual values
# --------------------------------------------------------------------------------------------


def weighted_surrogate(
    logits: Array,
    labels: Array,
    *,
    positive_weights: Array | Number = 1.0,
    negative_weights: Array | Number = 1.0,
    surrogate: str = "xent",
) -> Array:
    """The weighted surrogate loss of each element (the original's ``weighted_surrogate_loss``).

    .. math::

        \\text{xent}(y, z; c, d) = c·y·\\text{softplus}(−z) + d·(1−y)·\\text{softplus}(z)

        \\text{hinge}(y, z; c, d) = c·y·\\max(1−z, 0) + d·(1−y)·\\max(1+z, 0)

    Argument order ``(logits, labels)``, as every function of this package; the original
    TensorFlow library's ``weighted_surrogate_loss(labels, logits, ...)`` took the labels
    first. Bool or integer labels passed first raise a ``TypeError`` (logits must be floating).

    Args:
        logits: floating array. ``logits`` and ``labels`` broadcast against each other.
        labels: bool, int or float in [0, 1] (soft labels allowed: the loss is linear in y).
        positive_weights: ``c``, non-negative: a number or an array broadcasting against the
            result, e.g. ``()``, ``(L,)``, ``(B, L)``; for anchors pass logits ``(B, L, K)``
            (``logits[..., None] + biases``), labels ``(B, L, 1)`` and weights ``(L, K)``.
        negative_weights: ``d``, likewise.
        surrogate: ``"xent"`` or ``"hinge"``.

    Returns:
        The elementwise loss, of the broadcast shape, in the logits' dtype (float16 and
        bfloat16: computed and returned in float32). ±inf logits give the limit (see the
        module's conventions), never NaN.

    Example:
        >>> import numpy as np
        >>> loss = weighted_surrogate(np.array([0.5, 0.5]), np.array([1.0, 0.0]),
        ...                           positive_weights=2.0, surrogate="hinge")
        >>> loss.tolist()
        [1.0, 1.5]
    """
    check_choice("surrogate", surrogate, SURROGATES)
    require_array("logits", logits)
    require_array("labels", labels)
    xp = namespace_of(logits=logits, labels=labels, positive_weights=positive_weights,
                      negative_weights=negative_weights)
    _check_logits(xp, logits)
    dtype = compute_dtype(xp, logits.dtype)
    z = finite_logits(xp, xp.astype(logits, dtype, copy=False))
    y = as_float_labels(xp, labels, dtype)
    shapes = {"logits": tuple(logits.shape), "labels": tuple(labels.shape)}
    weights = {}
    for name, value in (("positive_weights", positive_weights),
                        ("negative_weights", negative_weights)):
        if isinstance(value, int | float) and not isinstance(value, bool):
            weights[name] = check_number(name, value, low=0.0)
            continue
        if not hasattr(value, "shape"):
            raise TypeError(f"{name} must be a number or an array, got {type(value).__name__}")
        if not xp.isdtype(value.dtype, ("integral", "real floating")):
            raise TypeError(f"{name} must have a numeric dtype, got {value.dtype}")
        shapes[name] = tuple(value.shape)
        weights[name] = xp.astype(value, dtype)
        check_eager_range(xp, name, weights[name], 0.0, math.inf)
        _check_finite_weights(xp, weights[name], name)
    _broadcast_shapes(shapes)
    pos, neg = _surrogate_parts(xp, z, surrogate)
    # Coefficients into the labels first: every operand of the result is broadcast in.
    return ((weights["positive_weights"] * y) * pos
            + (weights["negative_weights"] * (1.0 - y)) * neg)


def true_positives_lower_bound(
    logits: Array,
    labels: Array,
    *,
    weights: Array | Number | None = None,
    surrogate: str = "xent",
) -> Array:
    """A lower bound on the (weighted) true positive count of each label.

    .. math::

        TP_{lb} = Σ_b w·\\left(y − \\frac{y·ℓ(z)}{m}\\right) \\le Σ_b w·y·[z > 0]

    with ``ℓ(z) = softplus(−z)``, ``m = ln 2`` (xent) or ``ℓ(z) = max(1−z, 0)``, ``m = 1``
    (hinge): ``ℓ/m ≥ 1`` wherever ``z ≤ 0``. Argument order ``(logits, labels)``; the
    original library's ``true_positives_lower_bound(labels, logits, weights, surrogate_type)``
    took the labels first (bool/int labels passed first raise a ``TypeError``).

    Args:
        logits: ``(B, L)`` or ``(B,)``, floating.
        labels: same shape; bool, int or float in [0, 1].
        weights: keyword-only; ``None``, a number, or any shape broadcasting to the labels
            (``(B,)``, ``(B, 1)``, ``(B, L)``), non-negative and finite.
        surrogate: ``"xent"`` or ``"hinge"``.

    Returns:
        Shape ``(L,)`` (``()`` for binary input), in the logits' dtype (float32 for half).

    Example:
        >>> import numpy as np
        >>> float(true_positives_lower_bound(np.array([3.0, 0.5, 2.0]), np.array([1, 1, 0]),
        ...                                  surrogate="hinge"))
        1.5
    """
    check_choice("surrogate", surrogate, SURROGATES)
    b = _prepare(logits, labels, weights)
    tp, _ = _bounds(b, surrogate)
    return _aux_value(b, tp)


def false_positives_upper_bound(
    logits: Array,
    labels: Array,
    *,
    weights: Array | Number | None = None,
    surrogate: str = "xent",
) -> Array:
    """An upper bound on the (weighted) false positive count of each label.

    .. math::

        FP_{ub} = Σ_b w·\\frac{(1−y)·ℓ(−z)}{m} \\ge Σ_b w·(1−y)·[z \\ge 0]

    (``ℓ``, ``m`` as in :func:`true_positives_lower_bound`, whose arguments it shares).
    Argument order ``(logits, labels)``; the original library took ``(labels, logits)``.

    Returns:
        Shape ``(L,)`` (``()`` for binary input), in the logits' dtype (float32 for half).

    Example:
        >>> import numpy as np
        >>> float(false_positives_upper_bound(np.array([3.0, 0.5, -2.0]), np.array([1, 0, 0]),
        ...                                   surrogate="hinge"))
        1.5
    """
    check_choice("surrogate", surrogate, SURROGATES)
    b = _prepare(logits, labels, weights)
    _, fp = _bounds(b, surrogate)
    return _aux_value(b, fp)


class LabelPriorState(NamedTuple):
    """The running label-prior estimate: ``counts`` (``Σ w·y`` plus the positive pseudocount)
    and ``weight_sum`` (``Σ w`` plus both pseudocounts), each of shape ``(L,)``.

    A ``NamedTuple``, so a JAX pytree, and one name per buffer an adapter registers
    (``counts``, ``weight_sum``). ``priors`` is ``counts / weight_sum``: pass it as the losses'
    ``label_priors=``.
    """

    counts: Array
    weight_sum: Array

    @property
    def priors(self) -> Array:
        """``π = counts / weight_sum``, shape ``(L,)``."""
        return self.counts / self.weight_sum


def label_priors_init(
    num_labels: int,
    *,
    like: Array | None = None,
    xp: Any = None,
    dtype: Any = None,
    device: Any = None,
    positive_pseudocount: float = 1.0,
    negative_pseudocount: float = 1.0,
) -> LabelPriorState:
    """The initial state of the running label-prior estimate.

    ``counts`` starts at ``positive_pseudocount`` and ``weight_sum`` at
    ``positive_pseudocount + negative_pseudocount`` for every label (1 and 2 by default, as in
    the original library), so the first prior is never 0/0 and never exactly 0 or 1.

    Args:
        num_labels: ``L ≥ 1`` (1 for binary classification).
        like: an array to match: its library, its device, and its floating dtype (float32 for
            half precision or non-floating arrays).
        xp: the library, as a user passes it: ``torch``, ``jax.numpy``, ``numpy``,
            ``tensorflow``, or an array-API namespace. One of ``like`` and ``xp`` is needed.
        dtype: floating dtype (default: ``like``'s as above, else ``float32``).
        device: where to create the arrays (default: ``like``'s, else the library's default).
        positive_pseudocount, negative_pseudocount: non-negative, not both zero.

    Returns:
        A :class:`LabelPriorState`, to be advanced by :func:`update_label_priors`.

    Example:
        >>> import numpy as np
        >>> state = label_priors_init(2, xp=np)
        >>> state.counts.tolist(), state.weight_sum.tolist(), state.priors.tolist()
        ([1.0, 1.0], [2.0, 2.0], [0.5, 0.5])
    """
    check_integer("num_labels", num_labels, low=1)
    pos = check_number("positive_pseudocount", positive_pseudocount, low=0.0)
    neg = check_number("negative_pseudocount", negative_pseudocount, low=0.0)
    if pos + neg <= 0:
        raise ValueError("positive_pseudocount + negative_pseudocount must be > 0 (the first "
                         "prior would be 0/0)")
    if like is not None:
        require_array("like", like)
        ns = namespace_of(like=like)
        if xp is not None and resolve_namespace(xp=xp) is not ns:
            raise TypeError("like and xp name different array libraries; pass one of them")
        if dtype is None:
            dtype = (compute_dtype(ns, like.dtype) if ns.isdtype(like.dtype, "real floating")
                     else ns.float32)
        if device is None:
            device = device_of(like)
    elif xp is not None:
        ns = resolve_namespace(xp=xp)
    else:
        raise TypeError("label_priors_init needs like= (an array to match) or xp= (the "
                        "library, e.g. torch, jax.numpy, numpy)")
    dtype = ns.float32 if dtype is None else dtype
    if not ns.isdtype(dtype, "real floating"):
        raise TypeError(f"dtype must be a floating-point dtype, got {dtype}")
    counts = ns.full((num_labels,), pos, dtype=dtype, device=device)
    weight_sum = ns.full((num_labels,), pos + neg, dtype=dtype, device=device)
    return LabelPriorState(counts, weight_sum)


def update_label_priors(
    state: LabelPriorState | tuple[Array, Array],
    labels: Array,
    *,
    weights: Array | Number | None = None,
    all_reduce: AllReduce | None = None,
) -> LabelPriorState:
    """One step of the running label-prior estimate (pure: returns the new state).

    .. math::

        \\text{counts} \\mathrel{+}= Σ_b w·y,\\qquad \\text{weight\\_sum} \\mathrel{+}= Σ_b w,
        \\qquad π = \\text{counts} / \\text{weight\\_sum}

    Args:
        state: a :class:`LabelPriorState` (or a pair ``(counts, weight_sum)``), each ``(L,)``
            floating, from :func:`label_priors_init` or a previous update.
        labels: ``(B, L)`` or, for ``L = 1``, ``(B,)``; bool, int or float in [0, 1]. The
            batch size may be unknown (traced).
        weights: keyword-only; ``None``, a number, or any shape broadcasting to the labels
            (``(B,)``, ``(B, 1)``, ``(B, L)``), non-negative and finite.
        all_reduce: data-parallel training: a function summing an array across replicas; the
            batch's ``Σ w·y`` and ``Σ w`` are summed across replicas (one call of ``2L``
            numbers) so that every replica's state advances by the global batch and stays
            identical. ``None`` (default): this batch alone.

    Returns:
        The new :class:`LabelPriorState`, in the state's dtype; its ``priors`` is the
        estimate to pass as ``label_priors=``.

    Example:
        >>> import numpy as np
        >>> state = label_priors_init(1, xp=np, dtype=np.float64)
        >>> state = update_label_priors(state, np.array([1, 0, 0, 0]))
        >>> state.priors.tolist()  # (1 + 1) / (2 + 4)
        [0.3333333333333333]
    """
    if not (isinstance(state, tuple) and len(state) == 2):
        raise TypeError(f"state must be a LabelPriorState (counts, weight_sum), got "
                        f"{type(state).__name__}")
    counts, weight_sum = state
    require_array("counts", counts)
    require_array("weight_sum", weight_sum)
    require_array("labels", labels)
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
    y = xp.reshape(as_float_labels(xp, labels, counts.dtype), (-1, L))
    w = prepare_weights(xp, weights, y, shape)
    _check_finite_weights(xp, w)
    positives, total = sum_across(xp, _weighted_label_sums(xp, y, w),
                                  check_all_reduce(all_reduce))
    return LabelPriorState(counts + positives, weight_sum + xp.astype(total, weight_sum.dtype))


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
    f = check_number("dual_rate_factor", dual_rate_factor, low=0.0)
    require_array("variable", variable)
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
    return_aux: bool = False,
    all_reduce: AllReduce | None = None,
) -> Any:
    """Maximise recall subject to precision ≥ ``α``: the Lagrangian's per-element loss.

    .. math::

        \\text{loss} = w·\\text{surr}(y, z;\\ 1 + λ(1−α),\\ λα) − λ(1−α)·π·m

    The constraint ``precision ≥ α`` is ``(1−α)·TP ≥ α·FP``; with the bounds of
    :func:`true_positives_lower_bound` and :func:`false_positives_upper_bound` and
    ``TP + FN = π·n``, the Lagrangian of "max TP_lb" has this per-element form. With
    ``α = 1`` it is a cross-entropy weighting negatives by ``λ``.

    Args:
        logits: ``(B, L)`` or ``(B,)`` floating (float16/bfloat16 computed in float32). The
            batch size may be unknown (traced). ±inf gives the limit, never NaN.
        labels: same shape; bool, int or float in [0, 1] (soft labels allowed).
        target_precision: ``α`` in (0, 1]: a number, a length-``L`` sequence, or an array of
            shape ``()``/``(L,)``.
        lambdas: dual values ``λ ≥ 0``, shape ``()`` or ``(L,)`` (see :func:`dual_value`).
            Negative values raise ``ValueError`` in eager mode; under tracing (``jax.jit``,
            ``torch.compile``, ``tf.function``) values cannot be read and a negative array
            entry is used as ``|λ|``.
        label_priors: ``π`` in [0, 1], a number, sequence, or array of shape ``()``/``(L,)``
            (e.g. ``LabelPriorState.priors``); default ``None``: this batch's weighted positive
            rate with the pseudocounts, ``(1 + Σw·y)/(2 + Σw)``.
        weights: keyword-only; ``None``, a number, or any shape broadcasting to the labels
            (``(B,)``, ``(B, 1)``, ``(B, L)``), non-negative and finite.
        surrogate: ``"xent"`` (``m = ln 2``) or ``"hinge"`` (``m = 1``).
        reduction: ``"mean"`` (over all ``B·L`` elements; an empty batch gives 0), ``"sum"``
            or ``"none"`` (the per-element loss, shape of the logits).
        return_aux: if True, also return ``aux`` (the bounds are computed only then).
        all_reduce: data-parallel training: a function summing an array across replicas,
            differentiably (``jax.lax.psum(x, axis_name)``,
            ``torch.distributed.nn.functional.all_reduce``, a ``tf.distribute`` replica
            context's ``all_reduce``; the adapters supply it). Summed across replicas: the
            batch label-prior counts ``Σw·y``, ``Σw`` (when ``label_priors=None``; one call of
            ``2L`` numbers), the loss' sum and element count for ``reduction="mean"``/``"sum"``
            (one call of 2 numbers), and the bounds in ``aux``. Every replica then gets the
            global batch's loss and aux; ``reduction="none"`` stays per element (local).
            ``None`` (default): this batch alone. See docs/distributed.md.

    Returns:
        The loss, in the logits' library, device and dtype (float32 for half precision).
        With ``return_aux=True``, ``(loss, aux)``: ``aux`` a dict with ``lambdas``,
        ``label_priors``, ``true_positives_lower_bound`` and ``false_positives_upper_bound``,
        each of shape ``(L,)`` (``()`` for binary input).

    Example:
        >>> import numpy as np
        >>> logits = np.array([2.0, -1.0, 0.5, -3.0])
        >>> labels = np.array([1, 0, 1, 0])
        >>> loss, aux = recall_at_precision_loss(logits, labels, target_precision=0.8,
        ...                                      lambdas=1.0, surrogate="hinge",
        ...                                      return_aux=True)
        >>> round(float(loss), 4), float(aux["label_priors"])  # (1.2·0.5 − 4·0.2·0.5)/4
        (0.05, 0.5)

    Reference:
        Eban et al., arXiv:1608.04802, §3 (recall at precision).
    """
    _check_common(surrogate, reduction, return_aux)
    b = _prepare(logits, labels, weights, target_precision=target_precision, lambdas=lambdas,
                 label_priors=label_priors)
    alpha = _per_label(b, "target_precision", target_precision, low=0.0, high=1.0,
                       low_open=True)
    lam = _lambdas(b, lambdas)
    all_reduce = check_all_reduce(all_reduce)
    priors = _label_priors(b, label_priors, all_reduce)
    lam_slack = lam * (1.0 - alpha)
    per = _lagrangian(b, surrogate, 1.0 + lam_slack, lam * alpha,
                      lam_slack * priors * _margin(surrogate))
    return _finish(b, per, reduction, return_aux, surrogate, lam, priors, all_reduce)


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
    return_aux: bool = False,
    all_reduce: AllReduce | None = None,
) -> Any:
    """Maximise precision subject to recall ≥ ``r``: the Lagrangian's per-element loss.

    .. math::

        \\text{loss} = w·\\text{surr}(y, z;\\ λ,\\ 1) + λ·π·(r−1)·m

    At fixed recall, maximising precision is minimising the false positives, subject to
    ``TP_lb ≥ r·π·n``. With ``λ = 0`` only the negatives' term is left.

    The other arguments, ``reduction="mean"`` over all ``B·L`` elements, and the return value as
    in :func:`recall_at_precision_loss`.

    Args:
        target_recall: ``r`` in (0, 1], a number, a length-``L`` sequence, or an array of shape
            ``()``/``(L,)``.

    Example:
        >>> import numpy as np
        >>> logits = np.array([2.0, -1.0, 0.5, -3.0])
        >>> labels = np.array([1, 0, 1, 0])
        >>> loss = precision_at_recall_loss(logits, labels, target_recall=0.5, lambdas=0.0,
        ...                                 surrogate="hinge")
        >>> float(loss)  # λ = 0: the negatives' hinge only, (0 + 0 + 0 + 0) / 4
        0.0

    Reference:
        Eban et al., arXiv:1608.04802, §3.
    """
    _check_common(surrogate, reduction, return_aux)
    b = _prepare(logits, labels, weights, target_recall=target_recall, lambdas=lambdas,
                 label_priors=label_priors)
    r = _per_label(b, "target_recall", target_recall, low=0.0, high=1.0, low_open=True)
    lam = _lambdas(b, lambdas)
    all_reduce = check_all_reduce(all_reduce)
    priors = _label_priors(b, label_priors, all_reduce)
    per = _lagrangian(b, surrogate, lam, 1.0,
                      lam * priors * (1.0 - r) * _margin(surrogate))
    return _finish(b, per, reduction, return_aux, surrogate, lam, priors, all_reduce)


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
    return_aux: bool = False,
    all_reduce: AllReduce | None = None,
) -> Any:
    """Minimise the false positive rate subject to true positive rate ≥ ``r``.

    The true positive rate is the recall, and at a fixed number of negatives minimising the
    false positive rate is minimising the false positives, so this is
    :func:`precision_at_recall_loss` with ``target_recall = target_rate`` (as in the original
    library):

    .. math::

        \\text{loss} = w·\\text{surr}(y, z;\\ λ,\\ 1) + λ·π·(r−1)·m

    The other arguments, ``reduction="mean"`` over all ``B·L`` elements, and the return value as
    in :func:`recall_at_precision_loss`.

    Args:
        target_rate: ``r`` in (0, 1], the true positive rate to hold.

    Example:
        >>> import numpy as np
        >>> loss = false_positive_rate_at_true_positive_rate_loss(
        ...     np.array([2.0, -1.0]), np.array([1, 0]), target_rate=0.9, lambdas=1.0,
        ...     surrogate="hinge", label_priors=0.5)
        >>> round(float(loss), 4)  # (0 + 0)/2 + 1·0.5·(0.9 − 1)
        -0.05
    """
    return precision_at_recall_loss(
        logits, labels, target_recall=target_rate, lambdas=lambdas, label_priors=label_priors,
        weights=weights, surrogate=surrogate, reduction=reduction, return_aux=return_aux,
        all_reduce=all_reduce,
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
    return_aux: bool = False,
    all_reduce: AllReduce | None = None,
) -> Any:
    """Maximise the true positive rate subject to false positive rate ≤ ``r``.

    .. math::

        \\text{loss} = w·\\text{surr}(y, z;\\ 1,\\ λ) − λ·r·(1−π)·m

    (the constraint is ``FP_ub ≤ r·(1−π)·n``).

    The other arguments, ``reduction="mean"`` over all ``B·L`` elements, and the return value as
    in :func:`recall_at_precision_loss`.

    Args:
        target_rate: ``r`` in (0, 1], the false positive rate allowed.

    Example:
        >>> import numpy as np
        >>> loss = true_positive_rate_at_false_positive_rate_loss(
        ...     np.array([2.0, 0.5]), np.array([1, 0]), target_rate=0.1, lambdas=1.0,
        ...     surrogate="hinge", label_priors=0.5)
        >>> round(float(loss), 4)  # (0 + 1.5)/2 − 1·0.1·0.5
        0.7
    """
    _check_common(surrogate, reduction, return_aux)
    b = _prepare(logits, labels, weights, target_rate=target_rate, lambdas=lambdas,
                 label_priors=label_priors)
    r = _per_label(b, "target_rate", target_rate, low=0.0, high=1.0, low_open=True)
    lam = _lambdas(b, lambdas)
    all_reduce = check_all_reduce(all_reduce)
    priors = _label_priors(b, label_priors, all_reduce)
    per = _lagrangian(b, surrogate, 1.0, lam,
                      lam * r * (1.0 - priors) * _margin(surrogate))
    return _finish(b, per, reduction, return_aux, surrogate, lam, priors, all_reduce)


def _check_precision_range(precision_range: Any) -> tuple[float, float]:
    if (not isinstance(precision_range, Sequence) or isinstance(precision_range, str)
            or len(precision_range) != 2):
        raise ValueError(f"precision_range must be a pair (lo, hi), got {precision_range!r}")
    lo = check_number("precision_range[0]", precision_range[0], low=0.0, high=1.0)
    hi = check_number("precision_range[1]", precision_range[1], low=0.0, high=1.0)
    if not lo < hi:
        raise ValueError(f"precision_range must satisfy 0 ≤ lo < hi ≤ 1, got ({lo}, {hi})")
    return lo, hi


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
    return_aux: bool = False,
    all_reduce: AllReduce | None = None,
) -> Any:
    """The area under the precision-recall curve over ``precision_range``, as a loss.

    The range is cut at ``K`` anchors ``α_k = linspace(lo, hi, K+2)[1:−1]``; at each, recall at
    precision ``α_k`` with its own dual ``λ_k`` and a bias ``b_k`` added to the logits:

    .. math::

        \\text{loss} = \\frac{1}{K} Σ_k \\left[w·\\text{surr}(y, z + b_k;\\
        1 + λ_k(1−α_k),\\ λ_k α_k) − λ_k(1−α_k)·π·m\\right]

    The original's Riemann sum ``δ·Σ_k / (hi − lo − δ)`` with ``δ = (hi−lo)/(K+1)`` is this
    mean. The largest intermediate is ``(B, L, K)``; with ``biases=None`` (all zero) the
    anchors collapse and only ``(B, L)`` arrays are formed.

    The other arguments as in :func:`recall_at_precision_loss`.

    Args:
        lambdas: ``λ ≥ 0``, shape ``()`` or ``(L, K)`` (binary input: also ``(K,)``); under
            tracing a negative entry is used as ``|λ|`` (eager: ``ValueError``).
        biases: ``None`` (zeros), a number, or shape ``()``/``(L, K)`` (binary: also ``(K,)``);
            trainable in the adapters, initialised to 0.
        precision_range: ``(lo, hi)`` with ``0 ≤ lo < hi ≤ 1``.
        num_anchors: ``K ≥ 1``.
        reduction: ``"mean"`` (over all ``B·L`` elements, after the mean over anchors),
            ``"sum"`` or ``"none"``.

    Returns:
        The loss (float32 for half precision); with ``return_aux=True``, ``(loss, aux)``:
        ``aux`` adds ``biases`` and gives ``lambdas`` and ``biases`` as ``(L, K)`` (``(K,)``
        for binary input). The bounds are those of the unbiased logits.

    Example:
        >>> import numpy as np
        >>> logits = np.array([2.0, -1.0, 0.5, -3.0])
        >>> labels = np.array([1, 0, 1, 0])
        >>> loss = precision_recall_auc_loss(logits, labels, lambdas=1.0, num_anchors=1,
        ...                                  precision_range=(0.7, 0.9), surrogate="hinge")
        >>> round(float(loss), 4)  # recall at precision 0.8
        0.05

    Reference:
        Eban et al., arXiv:1608.04802, §4 (AUCPR).
    """
    _check_common(surrogate, reduction, return_aux)
    lo, hi = _check_precision_range(precision_range)
    K = check_integer("num_anchors", num_anchors, low=1)
    b = _prepare(logits, labels, weights, lambdas=lambdas, biases=biases,
                 label_priors=label_priors)
    xp = b.xp
    lam = _lambdas(b, lambdas, extra=(K,))
    bias = _biases(b, biases, K)
    all_reduce = check_all_reduce(all_reduce)
    priors = _label_priors(b, label_priors, all_reduce)
    alphas = [lo + (hi - lo) * (k + 1) / (K + 1) for k in range(K)]
    alpha = xp.asarray(alphas, dtype=b.dtype, device=b.device)
    pos_weight = 1.0 + lam * (1.0 - alpha)  # (L, K)
    neg_weight = lam * alpha
    lambda_term = xp.mean(lam * (1.0 - alpha), axis=1) * priors * _margin(surrogate)
    if bias is None:
        # Every anchor sees the same logits: the mean over anchors is linear in the weights.
        per = _lagrangian(b, surrogate, xp.mean(pos_weight, axis=1),
                          xp.mean(neg_weight, axis=1), lambda_term)
    else:
        zk = xp.expand_dims(b.z, axis=2) + bias  # (B, L, K), the largest intermediate
        pos_k, neg_k = _surrogate_parts(xp, zk, surrogate)
        y3 = xp.expand_dims(b.y, axis=2)
        weighted = xp.mean(pos_weight * (y3 * pos_k) + neg_weight * ((1.0 - y3) * neg_k),
                           axis=2)
        per = (weighted if b.w is None else b.w * weighted) - lambda_term
    loss = _reduce(b, per, reduction, all_reduce)
    if not return_aux:
        return loss
    aux = _aux(b, surrogate, lam, priors, extra=(K,), all_reduce=all_reduce)
    bias_out = bias if bias is not None else xp.zeros((b.num_labels, K), dtype=b.dtype,
                                                      device=b.device)
    aux["biases"] = _aux_value(b, bias_out, (K,))
    return loss, aux


def __getattr__(name: str) -> Any:
    # ROC-AUC has no dual variable and three algorithms of its own: metricloss.roc_auc, which
    # uses this module's helpers. Its public names stay importable from here (lazily, so that
    # either module may be imported first).
    if name in ("ROC_METHODS", "roc_auc_loss"):
        from metricloss import roc_auc

        return getattr(roc_auc, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
