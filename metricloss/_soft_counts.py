"""Soft confusion counts and the loss of a metric on them (SPEC §1).

The counts of soft predictions ``p`` against labels ``y`` (weights ``w``),

    tp = Σ w·p·y    fp = Σ w·p·(1−y)    fn = Σ w·(1−p)·y    tn = Σ w·(1−p)·(1−y),

come from as few passes as each metric allows:

- Metrics without ``tn`` (F-beta, precision, recall, Jaccard) read the sufficient statistics
  ``Σ w·p·y``, ``Σ w·p`` and ``Σ w·y``: ``fp = Σ w·p − tp``, ``fn = Σ w·y − tp``. Their
  denominators (``Σ w·p``, ``Σ w·y``, ``Σ w·p + Σ w·y − tp``) never cancel, so rounding stays
  relative.
- Metrics with ``tn`` (accuracy, balanced accuracy, G-mean, MCC) read the four counts directly,
  each a sum of non-negative terms. Forming the negatives' counts by subtraction
  (``tn = Σw − Σp − Σy + tp``) cancels when a label has no negatives: the float32 rounding error,
  divided by a denominator clipped at ``eps``, then gave specificities of ±10⁶ and gradients
  swamped by ``±1/eps``. Summed directly, an empty side gives exactly 0 and the metric takes
  ``0 / max(0, eps) = 0`` there, as in float64.

Labels are either float arrays of ``p``'s shape (``y``) or a boolean mask (integer class labels
compared with the class indices, no float one-hot). The metric itself is
:func:`metricloss._metric_formulas.metric_from_counts`, with ``num / max(den, eps)`` and a square
root whose gradient stays finite at 0.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from metricloss._metric_formulas import NEEDS_TRUE_NEGATIVES, metric_from_counts
from metricloss._namespace import Array, Namespace, device_of, take_along_axis
from metricloss._sync import AllReduce, sum_across

__all__ = [
    "Counts",
    "along",
    "at_least",
    "class_mask",
    "counts_of_labels",
    "counts_of_true_class",
    "loss_of_counts",
    "needs_true_negatives",
    "sync_counts",
    "weighted_mean",
]

Axes = int | tuple[int, ...]


class Counts(NamedTuple):
    """Soft confusion counts over some axes; ``tn`` is ``None`` when the metric does not read
    it."""

    tp: Array
    fp: Array
    fn: Array
    tn: Array | None


def needs_true_negatives(metric: str) -> bool:
    """Whether ``metric`` reads ``tn`` (and so gets the four direct sums)."""
    return metric in NEEDS_TRUE_NEGATIVES


def _on_positives(xp: Namespace, y: Array | None, mask: Array | None
                  ) -> Callable[[Array], Array]:
    """``x ↦ x·y`` (float labels) or ``x`` on the mask's positives and 0 elsewhere."""
    if mask is not None:
        return lambda x: xp.where(mask, x, xp.zeros_like(x))
    return lambda x: x * y


def _on_negatives(xp: Namespace, y: Array | None, mask: Array | None
                  ) -> Callable[[Array], Array]:
    """``x ↦ x·(1−y)`` (float labels; ``1 − y`` formed once) or ``x`` off the mask."""
    if mask is not None:
        return lambda x: xp.where(mask, xp.zeros_like(x), x)
    assert y is not None  # float labels when there is no mask
    not_y = 1.0 - y
    return lambda x: x * not_y


def counts_of_labels(
    xp: Namespace,
    p: Array,
    w: Array | None,
    axes: Axes,
    need_tn: bool,
    *,
    y: Array | None = None,
    mask: Array | None = None,
    q: Array | None = None,
    soft: bool = False,
) -> Counts:
    """The counts over ``axes`` of ``p`` against float labels ``y`` (``p``'s shape) or a boolean
    ``mask`` of the positives (broadcastable to ``p``); ``w`` broadcastable to ``p`` or ``None``.

    Without ``need_tn``: three passes (``Σ w·p·y``, ``Σ w·p``, ``Σ w·y``) and ``tn = None``.
    With it: the four counts, each summed directly (no cancellation when a side is empty);
    ``fn`` and ``tn`` from ``q``, the complements ``1 − p`` computed without cancellation where
    the caller has them (``None``: ``1 − p``, which is 0 wherever ``p`` rounds to 1).
    ``soft`` (float labels only): the soft-label counts of :func:`_semimetric_counts`.
    """
    if soft and y is not None:
        return _semimetric_counts(xp, p, y, w, axes, need_tn)
    on = _on_positives(xp, y, mask)
    wp = p if w is None else w * p
    tp = xp.sum(on(wp), axis=axes)
    if need_tn:
        off = _on_negatives(xp, y, mask)
        if q is None:
            q = 1.0 - p
        wq = q if w is None else w * q
        return Counts(tp, xp.sum(off(wp), axis=axes), xp.sum(on(wq), axis=axes),
                      xp.sum(off(wq), axis=axes))
    sp = xp.sum(wp, axis=axes)
    if w is not None:
        sy = xp.sum(on(w), axis=axes)
    elif mask is not None:
        sy = xp.sum(xp.astype(mask, p.dtype), axis=axes)
    else:
        sy = xp.sum(y, axis=axes)
    return Counts(tp, sp - tp, sy - tp, None)


def _semimetric_counts(xp: Namespace, p: Array, y: Array, w: Array | None, axes: Axes,
                       need_tn: bool) -> Counts:
    """Counts that stay correct with soft labels (Wang & Blaschko, "Dice Semimetric Losses",
    MICCAI 2023): ``tp = Σ w·min(p, y) = Σ w·(p + y − |p − y|)/2``, ``fp = Σ w·p − tp``,
    ``fn = Σ w·y − tp`` (``tn = Σ w·min(1 − p, 1 − y)``). For 0/1 labels ``min(p, y) = p·y``:
    the usual counts. For soft labels the metric then reaches its optimum at ``p = y`` (with
    ``Σ p·y``, a soft Dice is maximal at a 0/1 ``p``, not at ``p = y``)."""
    d = xp.abs(p - y)
    wp = p if w is None else w * p
    wy = y if w is None else w * y
    sp = xp.sum(wp, axis=axes)
    sy = xp.sum(wy, axis=axes)
    sd = xp.sum(d if w is None else w * d, axis=axes)
    tp = 0.5 * (sp + sy - sd)
    if not need_tn:
        return Counts(tp, sp - tp, sy - tp, None)
    # Each count as a sum of non-negative terms (exact 0 on an empty side, as the plain form).
    fp = 0.5 * (sp - sy + sd)
    fn = 0.5 * (sy - sp + sd)
    wq = 2.0 - p - y - d
    tn = 0.5 * xp.sum(wq if w is None else w * wq, axis=axes)
    return Counts(tp, fp, fn, tn)


def counts_of_true_class(
    xp: Namespace,
    p: Array,
    t: Array,
    w: Array | None,
    class_weights: Array | None,
    axis: int,
    axes: Axes,
    *,
    rows_sum_to_one: bool,
) -> Counts:
    """Counts pooled over the classes (``axes`` includes the class ``axis``) for integer labels
    ``t`` (``p``'s shape without ``axis``), for metrics without ``tn``.

    ``tp`` is the sum of the true class's probability, a gather (``take_along_axis``): no mask
    of ``p``'s shape. ``Σ w·y`` is the (weighted) number of positions. ``rows_sum_to_one`` (a
    plain softmax): ``Σ_c p_c = 1`` at each position, so with per-position weights and no class
    weights ``Σ w·p = Σ w·y``, and ``p`` is read once.
    """
    idx = xp.expand_dims(t, axis=axis)
    p_true = take_along_axis(xp, p, idx, axis)
    if w is None:
        w_true = None
    elif w.shape[axis] == 1:
        w_true = w
    else:
        w_true = take_along_axis(xp, w * xp.ones_like(p), idx, axis)
    if class_weights is not None:
        flat = xp.take(class_weights, xp.reshape(t, (-1,)), axis=0)
        # -1: the batch size may be unknown; the other axes are known.
        gathered = xp.reshape(flat, (-1, *tuple(idx.shape)[1:]))
        w_true = gathered if w_true is None else w_true * gathered
        cw = along(xp, class_weights, axis, len(p.shape))
        w = cw if w is None else w * cw
    # Broadcast at run time (the batch size may be unknown to the Python shape).
    ones = xp.ones_like(p_true)
    w_true = ones if w_true is None else w_true * ones
    tp = xp.sum(w_true * p_true, axis=axes)
    sy = xp.sum(w_true, axis=axes)
    if rows_sum_to_one and class_weights is None and (w is None or w.shape[axis] == 1):
        sp = sy  # Σ_c p_c = 1: Σ w·p over the classes of a position is its weight
    else:
        sp = xp.sum(p if w is None else w * p, axis=axes)
    return Counts(tp, sp - tp, sy - tp, None)



def along(xp: Namespace, v: Array, axis: int, ndim: int) -> Array:
    """The vector ``v`` reshaped to lie along ``axis`` of an ``ndim``-dimensional array."""
    shape = [1] * ndim
    shape[axis] = -1
    return xp.reshape(v, tuple(shape))


def class_mask(xp: Namespace, t: Array, p: Array, axis: int) -> Array:
    """The boolean one-hot ``t == c`` along ``axis`` of ``p`` (a broadcast comparison of the
    integer labels ``t`` with ``arange(C)``, no float copy)."""
    classes = xp.arange(p.shape[axis], dtype=t.dtype, device=device_of(t))
    return xp.expand_dims(t, axis=axis) == along(xp, classes, axis, len(p.shape))


def _safe_sqrt(xp: Namespace, x: Array, eps: float) -> Array:
    """``sqrt(x)`` whose value is exact and whose gradient stays finite at ``x = 0``.

    The double ``where`` keeps the backward pass away from ``sqrt`` at 0: below ``eps²`` the
    value is 0 and the gradient 0; above it the gradient is at most ``1/(2·eps)``.
    """
    positive = x > eps * eps
    root = xp.sqrt(xp.where(positive, x, xp.ones_like(x)))
    return xp.where(positive, root, xp.zeros_like(x))


def at_least(xp: Namespace, x: Array, low: float) -> Array:
    """``max(x, low)``, with no gradient to ``x`` below ``low`` (as ``clip``). Written as a
    ``where``: under ``torch.compile(dynamic=True)`` a Python float argument may be symbolic,
    and array-api-compat's ``clip`` calls ``math.isnan`` on it, which Dynamo cannot trace."""
    return xp.where(x > low, x, xp.full_like(x, low))


def loss_of_counts(xp: Namespace, counts: Counts, metric: str, beta: float, eps: float, *,
                   smooth_nr: float = 0.0, smooth_dr: float = 0.0, log_loss: bool = False,
                   gamma: float = 1.0, tversky: tuple[float, float] | None = None) -> Array:
    """``1 − metric`` of the counts (``(1 − mcc)/2`` for MCC), every division
    ``(num + smooth_nr) / max(den + smooth_dr, eps)``: without smoothing a side with no mass
    gives a metric term of 0, not ``0/0``.

    ``tversky=(α, β)``: the Tversky index ``tp / (tp + α·fp + β·fn)`` instead of ``metric``.
    ``log_loss``: ``−log(max(s, eps))`` of the score ``s`` (the metric; ``(1 + mcc)/2``)
    instead of ``1 − s``. ``gamma``: the loss raised to ``gamma`` (focal Tversky), with a
    finite gradient at 0."""
    def divide(num: Array, den: Array) -> Array:
        if smooth_nr:
            num = num + smooth_nr
        if smooth_dr:
            den = den + smooth_dr
        return num / at_least(xp, den, eps)

    if tversky is not None:
        alpha, beta_ = tversky
        score = divide(counts.tp, counts.tp + alpha * counts.fp + beta_ * counts.fn)
    else:
        value = metric_from_counts(
            metric, counts.tp, counts.fp, counts.fn, counts.tn, beta=beta,
            divide=divide, sqrt=lambda x: _safe_sqrt(xp, x, eps),
        )
        if not log_loss:
            loss = 0.5 * (1.0 - value) if metric == "mcc" else 1.0 - value
            return _focal(xp, loss, gamma)
        score = 0.5 * (1.0 + value) if metric == "mcc" else value
    loss = -xp.log(at_least(xp, score, eps)) if log_loss else 1.0 - score
    return _focal(xp, loss, gamma)


def _focal(xp: Namespace, loss: Array, gamma: float) -> Array:
    """``loss ** gamma`` (the loss is ``≥ 0``), 0 with a zero gradient where the loss is 0."""
    if gamma != 1.0:
        positive = loss > 0.0
        loss = xp.where(positive, xp.where(positive, loss, xp.ones_like(loss)) ** gamma,
                        xp.zeros_like(loss))
    return loss


def sync_counts(xp: Namespace, counts: Counts, all_reduce: AllReduce | None) -> Counts:
    """The counts summed across replicas by one ``all_reduce`` (``None``: unchanged). The
    counts are linear in the batch, so their global sums are the global batch's counts."""
    if all_reduce is None:
        return counts
    present = [c for c in counts if c is not None]
    summed = iter(sum_across(xp, present, all_reduce))
    return Counts(*(None if c is None else next(summed) for c in counts))


def weighted_mean(xp: Namespace, values: Array, weights: Array | None, eps: float,
                  all_reduce: AllReduce | None = None) -> Array:
    """The mean of ``values`` (1-D), weighted by ``weights`` (broadcastable) if given. With
    ``all_reduce``, the mean over every replica's values (numerator and denominator summed
    across replicas in one call)."""
    if all_reduce is not None:
        w = xp.ones_like(values) if weights is None else weights * xp.ones_like(values)
        num, den = sum_across(xp, [xp.sum(w * values), xp.sum(w)], all_reduce)
        return num / at_least(xp, den, eps)
    if weights is None:
        return xp.mean(values)
    weights = weights * xp.ones_like(values)
    return xp.sum(weights * values) / at_least(xp, xp.sum(weights), eps)
