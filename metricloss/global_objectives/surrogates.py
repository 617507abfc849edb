"""The surrogate losses ``ℓ`` of the 0-1 loss (xent, hinge), their margin ``m``, and the
weighted surrogate of each element (SPEC §3)."""

from __future__ import annotations

import math
from typing import Any

from metricloss._checks import (
    as_float_labels,
    check_choice,
    check_eager_range,
    check_number,
    require_array,
)
from metricloss._namespace import (
    Array,
    Namespace,
    compute_dtype,
    finite_logits,
    kernels,
    namespace_of,
)
from metricloss.global_objectives._inputs import (
    _LN2,
    SURROGATES,
    Number,
    _Batch,
    _broadcast_shapes,
    _check_finite_weights,
    _check_logits,
)


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

