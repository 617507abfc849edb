"""Per-label decision thresholds, tuned exactly, and :func:`binarize` (SPEC §4).

A model trained with a surrogate loss outputs scores; users need hard decisions. The threshold
of each label that maximises a metric on held-out data is found exactly, not on a grid: each
label's scores are sorted once, cumulative sums give the confusion counts of *every* cut point
(``O(B log B)`` per label), the metric is evaluated at each distinct cut (the end of each group
of tied scores) and the best is kept. The threshold returned reproduces that cut:
``binarize(scores, thresholds)`` (``scores >= thresholds``) gives exactly the tuned confusion
counts on the tuning data.

Tune on a validation split, report on a test split that played no part in the tuning: the
maximum over thresholds of a metric measured on the same data is optimistically biased
(``docs/evaluation.md`` shows the protocol and the size of the bias).

Everything here has fixed shapes and traces under ``jax.jit``, ``torch.compile`` and
``tf.function(jit_compile=True)``, also with an unknown batch size; the warnings about degenerate
labels are issued in eager mode only. The metrics are those of
:func:`metricloss._metric_formulas.metric_from_counts`, with undefined ratios counting as 0; the
cut engine is :mod:`metricloss._cuts`, shared with :mod:`metricloss.metrics`.
"""

from __future__ import annotations

import math
from typing import Any

from metricloss._checks import check_bool, check_choice, check_number, require_array
from metricloss._cuts import (
    Cuts,
    Scored,
    check_layout,
    check_scores,
    check_target,
    feasible_recall,
    take,
    transposed,
    warn,
)
from metricloss._metric_formulas import METRICS, metric_from_counts
from metricloss._namespace import Array, Namespace, compute_dtype, is_eager, namespace_of
from metricloss.streaming import CurveState, StateScores

__all__ = ["TUNE_METRICS", "binarize", "tune_thresholds"]

TUNE_METRICS = (*METRICS, "recall_at_precision")
"""Objectives of :func:`tune_thresholds`: the confusion-matrix metrics of
:data:`metricloss._metric_formulas.METRICS`, and the constrained ``recall_at_precision``."""


# --------------------------------------------------------------------------------------------
# Exact metrics of the confusion counts at every cut (undefined ratios count as 0)
# --------------------------------------------------------------------------------------------


def _ratio(xp: Namespace, num: Array, den: Array) -> Array:
    """``num / den``, 0 where ``den`` is 0 (the tuning rule: an undefined ratio counts as 0)."""
    positive = den > 0
    return xp.where(positive, num / xp.where(positive, den, xp.ones_like(den)),
                    xp.zeros_like(num))


def _metric_at_cuts(xp: Namespace, metric: str, tp: Array, fp: Array, pos: Array, neg: Array,
                    beta: float) -> Array:
    """The metric of the counts at every cut; ``pos``/``neg`` broadcast against ``tp``."""
    return metric_from_counts(metric, tp, fp, pos - tp, neg - fp, beta=beta,
                              divide=lambda num, den: _ratio(xp, num, den), sqrt=xp.sqrt)


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def _labels_list(xp: Namespace, mask: Array, limit: int = 10) -> str:
    (indices,) = xp.nonzero(mask)
    count = int(indices.shape[0])
    found = [int(indices[i]) for i in range(min(count, limit))]
    more = count - len(found)
    return ", ".join(map(str, found)) + (f" and {more} more" if more > 0 else "")


def tune_thresholds(
    scores: Array | CurveState,
    labels: Array | None = None,
    *,
    metric: str | None = None,
    beta: float = 1.0,
    target_precision: float | None = None,
    shared: bool = False,
    return_values: bool = False,
) -> Array | tuple[Array, Array]:
    """(scores, labels) — note: the reverse of scikit-learn's (y_true, y_score).

    Thresholds that maximise a metric exactly on the given (validation) data.

    For each label, every cut point of its sorted scores is a candidate: predicting positive the
    ``k`` highest scores, for every ``k`` at which the scores change (tied scores are never
    split), plus predicting nothing. The metric of each candidate's exact confusion counts is
    computed from cumulative sums, and the best candidate is kept (``O(B log B)`` per label,
    not a grid). The threshold returned realises it: with ``s_k`` the lowest score predicted
    positive and ``s_{k+1}`` the next lower distinct score, it is the midpoint
    ``(s_k + s_{k+1})/2`` (rounded into the scores' dtype, and replaced by ``s_k`` where that
    rounding reaches ``s_{k+1}``), so that ``binarize(scores, thresholds)`` — predict positive
    iff ``score >= threshold`` — reproduces the tuned counts exactly. Predicting every example
    positive gives the lowest score itself; predicting nothing gives ``+inf``.

    Ties between equally good candidates go to the highest threshold (fewest positives).
    Ratios whose denominator is zero count as 0 while tuning.

    Objectives:

    - ``metric`` in :data:`metricloss._metric_formulas.METRICS` (``f1``, ``fbeta`` with ``beta``,
      ``precision``, ``recall``, ``jaccard``, ``accuracy``, ``balanced_accuracy``, ``gmean``,
      ``mcc``): the metric's maximum, per label.
    - ``metric="recall_at_precision"`` with ``target_precision=α`` (or ``target_precision=α``
      alone): the highest recall among the
      cuts whose precision is at least ``α`` (the constrained form; its value is
      :func:`metricloss.metrics.recall_at_precision`). If no cut reaches ``α``, the
      threshold is ``+inf`` (predict nothing), with a warning.
    - ``shared=True``: one threshold for all labels, the one that maximises the *micro*
      metric (the counts pooled over labels; for ``recall_at_precision``, pooled recall
      subject to pooled precision ``≥ α``).

    Degenerate labels (warned about in eager mode): a label with no positive in the data gets
    ``+inf`` (never predicted; every metric here is then maximised, or tied, by predicting
    nothing); a label whose scores are all equal can only be all-positive or all-negative,
    and gets the lowest score or ``+inf``, whichever scores better.

    **From a stream.** ``tune_thresholds(state, ...)`` with a :class:`~metricloss.CurveState`
    (no ``labels``) tunes on the state's histograms through the same cut engine: the
    candidates are the state's bin edges, and the threshold returned is the chosen bin's left
    edge (``-inf``: every score positive; ``+inf``: none), in the state's dtype, so that
    ``binarize(scores, thresholds)`` reproduces the state's counts exactly on the data streamed
    into it. The ``values`` are the metric of those counts.

    Args:
        scores: ``(B, L)`` or ``(B,)`` floating scores (logits or probabilities), finite; or a
            :class:`~metricloss.CurveState`.
        labels: same shape, 0/1 (bool, int or float).
        metric: one of :data:`TUNE_METRICS`; by default ``"f1"``, or ``"recall_at_precision"``
            when ``target_precision`` is given (a target without a metric means that metric).
        beta: the F-beta weight of recall, ``> 0``; used by ``metric="fbeta"`` only
            (``"f1"`` is always ``beta = 1``).
        target_precision: the precision target ``α`` in (0, 1] of ``recall_at_precision``
            (required by it, refused by every other metric named explicitly); given alone, it
            selects ``metric="recall_at_precision"``.
        shared: one threshold for all labels (best micro metric) instead of one per label.
        return_values: also return the metric value each threshold achieves on this data.

    Returns:
        ``thresholds``, shape ``(L,)`` (``()`` for ``(B,)`` input; with ``shared`` every entry
        is the same), in the scores' own dtype (half precision included: a threshold is
        compared with the scores) and on their device; with ``return_values``,
        ``(thresholds, values)``, ``values`` of shape ``(L,)`` (``()`` for ``(B,)`` input or
        ``shared``: the micro metric), in the scores' dtype (float32 for half precision).

    ``None`` for ``scores`` or ``labels`` raises ``TypeError``; empty input (``B = 0`` or
    ``L = 0``) raises ``ValueError``. Traceable with an unknown batch size (``tf.function``
    ``(None, L)`` signature, ``torch.compile(dynamic=True)``, ``jax.export``).

    Example:
        >>> import numpy as np
        >>> scores = np.array([[0.9, 0.2], [0.7, 0.8], [0.4, 0.6], [0.1, 0.3]])
        >>> labels = np.array([[1, 0], [1, 1], [0, 1], [0, 0]])
        >>> thresholds = tune_thresholds(scores, labels)
        >>> [round(float(t), 6) for t in thresholds]
        [0.55, 0.45]
        >>> binarize(scores, thresholds).astype(int).tolist()
        [[1, 0], [1, 1], [0, 1], [0, 0]]
    """
    if metric is None:  # a target given without a metric means that metric (issue 21)
        metric = "f1" if target_precision is None else "recall_at_precision"
    check_choice("metric", metric, TUNE_METRICS)
    beta = check_number("beta", beta, low=0, low_open=True)
    shared = check_bool("shared", shared)
    return_values = check_bool("return_values", return_values)
    constrained = metric == "recall_at_precision"
    if constrained:
        if target_precision is None:
            raise ValueError("metric='recall_at_precision' needs target_precision")
        target = check_target("target_precision", target_precision)
    elif target_precision is not None:
        raise ValueError(f"target_precision is used only by metric='recall_at_precision', "
                         f"not by metric={metric!r}: leave metric out, or pass "
                         f"metric='recall_at_precision'")
    sc: Scored | StateScores
    if isinstance(scores, CurveState):  # from a stream: the state's bins are the cut table
        sc = StateScores(scores, labels, None, "tune_thresholds")
        xp = sc.xp
        num_labels = scores.num_labels
        cuts = sc.cuts("micro" if shared else "macro")
    else:
        sc = Scored(scores, labels, None)
        xp = sc.xp
        s, y = sc.s, sc.y
        num_labels = s.shape[1]
        # (1, -1): the batch size may be unknown (traced).
        rows_s = xp.reshape(s, (1, -1)) if shared else transposed(xp, s)
        rows_y = xp.reshape(y, (1, -1)) if shared else transposed(xp, y)
        cuts = Cuts(xp, rows_s, rows_y, None, sc.dtype)
    if constrained:
        objective, feasible = feasible_recall(cuts, target)
    else:
        objective = _metric_at_cuts(xp, metric, cuts.tp, cuts.fp, xp.reshape(cuts.pos, (-1, 1)),
                                    xp.reshape(cuts.neg, (-1, 1)), beta)
        feasible = cuts.valid
    masked = xp.where(feasible, objective, xp.full_like(objective, -math.inf))
    best = xp.max(masked, axis=1, keepdims=True)
    index = cuts.index
    # The last (highest-threshold) cut among the best ones: portable, unlike argmax's ties.
    chosen = xp.max(xp.where(masked == best, index, xp.full_like(index, -1)), axis=1,
                    keepdims=True)
    # A label without positives is never predicted (cut n), whatever the metric's ties.
    nothing = xp.zeros_like(chosen) + index[:, -1:]
    chosen = xp.where(xp.reshape(cuts.pos, (-1, 1)) > 0, chosen, nothing)
    if isinstance(sc, StateScores):
        # The chosen bin's left edge: a score is predicted iff its bin is at or above it.
        inf = xp.full_like(cuts.s[:, :1], math.inf)
        thresholds = take(xp, xp.concat([cuts.s, inf], axis=1), chosen)[:, 0]
    else:
        thresholds = _threshold_of_cut(xp, cuts.s, chosen, sc.scores_dtype)
    values = take(xp, objective, chosen)[:, 0]
    if sc.eager:
        _warn_degenerate(xp, cuts, feasible if constrained else None, shared,
                         constant_check=not isinstance(sc, StateScores))
    if shared:
        thresholds = xp.broadcast_to(thresholds, (num_labels,))
        values = xp.reshape(values, ())
    if len(sc.shape) == 1:  # (B,) scores (a state is always per label)
        thresholds = xp.reshape(thresholds, ())
        values = xp.reshape(values, ())
    values = sc.out(values)
    return (thresholds, values) if return_values else thresholds


def _threshold_of_cut(xp: Namespace, sorted_scores: Array, chosen: Array, out_dtype: Any
                      ) -> Array:
    """The threshold realising cut ``chosen`` ``(R, 1)`` of ascending ``sorted_scores``."""
    inf = xp.full_like(sorted_scores[:, :1], math.inf)
    upper = take(xp, xp.concat([sorted_scores, inf], axis=1), chosen)
    lower = take(xp, xp.concat([-inf, sorted_scores], axis=1), chosen)
    # Halves first: (a + b)/2 could overflow for scores near the dtype's maximum.
    middle = lower * 0.5 + upper * 0.5
    # Chosen cut 0 (everything positive): the lowest score; cut n (nothing): +inf.
    middle = xp.where(xp.isinf(lower), upper, middle)
    middle = xp.where(xp.isinf(upper), upper, middle)
    threshold = xp.astype(middle, out_dtype)
    # Rounding the midpoint (into half precision, or between adjacent floats) may land on the
    # lower score, which would then be predicted positive: use the chosen score itself there.
    lower_out = xp.astype(lower, out_dtype)
    threshold = xp.where(threshold > lower_out, threshold, xp.astype(upper, out_dtype))
    return threshold[:, 0]


def _warn_degenerate(xp: Namespace, cuts: Cuts, feasible: Array | None, shared: bool,
                     constant_check: bool = True) -> None:
    def which(mask: Array) -> str:
        return "the pooled labels" if shared else f"label(s) {_labels_list(xp, mask)}"

    no_positive = cuts.pos == 0
    if bool(xp.any(no_positive)):
        warn(f"{which(no_positive)}: no positive example in the tuning data; threshold set to "
              "+inf (never predicted).")
    constant = xp.logical_and(cuts.s[:, 0] == cuts.s[:, -1], cuts.pos > 0)
    if constant_check and bool(xp.any(constant)):
        warn(f"{which(constant)}: constant scores; the threshold can only predict all or "
              "none of the examples.")
    if feasible is not None:
        # Only the empty cut (the last column) is feasible: no threshold reaches the target.
        unreachable = xp.logical_and(xp.logical_not(xp.any(feasible[:, :-1], axis=1)),
                                     cuts.pos > 0)
        if bool(xp.any(unreachable)):
            warn(f"{which(unreachable)}: no threshold reaches target_precision; threshold set to "
                  "+inf (never predicted).")


def binarize(scores: Array, thresholds: Array | float) -> Array:
    """Hard predictions ``scores >= thresholds``, per label.

    With the thresholds of :func:`tune_thresholds` this reproduces the tuned confusion counts
    exactly on the tuning data.

    Args:
        scores: ``(B, L)`` or ``(B,)`` floating scores, finite (checked in eager mode).
        thresholds: a number, a 0-d array, or one threshold per label ``(L,)`` (``()`` or
            ``(1,)`` for ``(B,)`` scores); real floating, no NaN (``±inf`` allowed: never /
            always positive).

    Returns:
        A bool array of the scores' shape, library and device.

    Example:
        >>> import numpy as np
        >>> binarize(np.array([[0.2, 0.9], [0.6, 0.4]]), np.array([0.5, 0.5])).tolist()
        [[False, True], [True, False]]
    """
    require_array("scores", scores)
    if thresholds is None:
        raise TypeError("thresholds must be a number or an array, got NoneType")
    xp = namespace_of(scores=scores, thresholds=thresholds)
    shape = tuple(scores.shape)
    check_layout("scores", shape)
    check_scores(xp, "scores", scores)
    if isinstance(thresholds, bool) or not (isinstance(thresholds, int | float)
                                            or hasattr(thresholds, "shape")):
        raise TypeError(f"thresholds must be a number or an array, got "
                        f"{type(thresholds).__name__}")
    if isinstance(thresholds, int | float):
        if math.isnan(thresholds):
            raise ValueError("thresholds must not be NaN")
        return scores >= float(thresholds)  # a Python number takes the scores' dtype
    if not xp.isdtype(thresholds.dtype, ("real floating", "integral")):
        raise TypeError(f"thresholds must be real numbers, got {thresholds.dtype}")
    t_shape = tuple(thresholds.shape)
    labels = shape[1] if len(shape) == 2 else 1
    if t_shape not in ((), (labels,)):
        raise ValueError(f"thresholds must have shape () or ({labels},) (one per label of "
                         f"scores {shape}), got {t_shape}")
    if not xp.isdtype(thresholds.dtype, "real floating"):
        thresholds = xp.astype(thresholds, scores.dtype)
    if is_eager(thresholds) and bool(xp.any(xp.isnan(thresholds))):
        raise ValueError("thresholds must not be NaN")
    if len(shape) == 1 and t_shape == (1,):
        thresholds = xp.reshape(thresholds, ())
    # Compare in a dtype that holds both exactly (half precision widens to float32; float32
    # against float64 widens to float64): rounding a threshold could flip a decision.
    s_dtype = compute_dtype(xp, scores.dtype)
    t_dtype = compute_dtype(xp, thresholds.dtype)
    common = s_dtype if s_dtype == t_dtype else xp.float64
    return xp.astype(scores, common) >= xp.astype(thresholds, common)
