"""The surrogate bounds on the true and false positive counts (SPEC §3)."""

from __future__ import annotations

from metricloss._checks import (
    check_choice,
)
from metricloss._namespace import (
    Array,
)
from metricloss._sync import AllReduce, sum_across
from metricloss.global_objectives._inputs import (
    SURROGATES,
    Number,
    _as_array,
    _Batch,
    _prepare,
    _weighted_sum,
)
from metricloss.global_objectives.surrogates import (
    _margin,
    _surrogate_parts,
)


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
