"""The confusion-matrix metrics, written once over the four counts ``(tp, fp, fn, tn)``.

Used by the soft losses (:mod:`metricloss.confusion`, counts from soft predictions, division
guarded by ``max(den, eps)``), by the exact metrics (:mod:`metricloss.metrics`, scikit-learn's
``zero_division``) and by threshold tuning (:mod:`metricloss.thresholds`, counts at every cut).
Each caller passes its own division rule and square root; the formulas do not change.

========================  =====================================================
name                      value
========================  =====================================================
``f1``, ``fbeta``         ``(1+β²)tp / ((1+β²)tp + β²fn + fp)``
``precision``             ``tp / (tp+fp)``
``recall``                ``tp / (tp+fn)``
``jaccard``               ``tp / (tp+fp+fn)``
``accuracy``              ``(tp+tn) / (tp+fp+fn+tn)``
``balanced_accuracy``     ``(tp/(tp+fn) + tn/(tn+fp)) / 2``
``gmean``                 ``sqrt(tp/(tp+fn) · tn/(tn+fp))``
``mcc``                   ``(tp·tn − fp·fn) / (sqrt((tp+fp)(tp+fn)) · sqrt((tn+fp)(tn+fn)))``
========================  =====================================================
"""

from __future__ import annotations

from collections.abc import Callable

from metricloss._namespace import Array

__all__ = ["METRICS", "NEEDS_TRUE_NEGATIVES", "Divide", "Sqrt", "metric_from_counts"]

METRICS = (
    "f1",
    "fbeta",
    "precision",
    "recall",
    "jaccard",
    "accuracy",
    "balanced_accuracy",
    "gmean",
    "mcc",
)
"""Names of the confusion-matrix metrics, in documentation order."""

NEEDS_TRUE_NEGATIVES = frozenset({"accuracy", "balanced_accuracy", "gmean", "mcc"})
"""The metrics that read ``tn``; for the others the caller may pass ``tn=None``."""

Divide = Callable[[Array, Array], Array]
"""``divide(numerator, denominator)``: the caller's rule for a zero denominator."""

Sqrt = Callable[[Array], Array]
"""The caller's square root (a gradient-safe one for the soft losses)."""


def metric_from_counts(
    metric: str,
    tp: Array,
    fp: Array,
    fn: Array,
    tn: Array | None,
    *,
    beta: float = 1.0,
    divide: Divide,
    sqrt: Sqrt,
) -> Array:
    """The confusion-matrix ``metric`` of the counts (any broadcastable shapes).

    Args:
        metric: one of :data:`METRICS` (already validated by the caller).
        tp, fp, fn, tn: the counts; ``tn`` may be ``None`` unless ``metric`` is in
            :data:`NEEDS_TRUE_NEGATIVES`.
        beta: the F-beta weight of recall (``fbeta`` only; ``f1`` uses 1).
        divide: ``divide(num, den)``, the caller's rule where ``den`` is 0.
        sqrt: the caller's square root.

    Returns:
        The metric, with the broadcast shape of the counts.
    """
    if metric in ("f1", "fbeta"):
        b2 = 1.0 if metric == "f1" else beta * beta
        return divide((1.0 + b2) * tp, (1.0 + b2) * tp + b2 * fn + fp)
    if metric == "precision":
        return divide(tp, tp + fp)
    if metric == "recall":
        return divide(tp, tp + fn)
    if metric == "jaccard":
        return divide(tp, tp + fp + fn)
    if tn is None:
        raise ValueError(f"metric {metric!r} needs the true negatives tn")
    if metric == "accuracy":
        return divide(tp + tn, tp + fp + fn + tn)
    if metric == "balanced_accuracy":
        return 0.5 * (divide(tp, tp + fn) + divide(tn, tn + fp))
    if metric == "gmean":
        return sqrt(divide(tp, tp + fn) * divide(tn, tn + fp))
    if metric == "mcc":
        # Square roots taken pairwise: the product of four counts cannot overflow.
        return divide(tp * tn - fp * fn, sqrt((tp + fp) * (tp + fn)) * sqrt((tn + fp) * (tn + fn)))
    raise ValueError(f"unknown metric {metric!r}; valid: {', '.join(METRICS)}")
