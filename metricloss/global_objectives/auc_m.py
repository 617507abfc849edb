"""AUC-M, the AUC margin loss of Yuan et al. (ICCV 2021), as LibAUC's ``AUCMLoss``: a
square-loss min-max objective with primal variables ``a``, ``b`` and a dual ``α`` per label,
stateless (everything passed in), plus the pure pieces of its loss-owned dynamics: ``α``'s
closed-form ascent direction and ``a``, ``b`` as running class-conditional mean scores.

Conventions (argument order, ``weights``, half precision, ±inf logits, unknown batch sizes)
are those of :mod:`metricloss.global_objectives`.
"""

from __future__ import annotations

import math

from metricloss._checks import check_choice, check_number
from metricloss._namespace import Array, Namespace, kernels
from metricloss._reduction import REDUCTIONS
from metricloss._sync import AllReduce, check_all_reduce, sum_across
from metricloss.global_objectives._inputs import (
    Number,
    PerLabel,
    _as_array,
    _Batch,
    _per_label,
    _prepare,
    _weighted_label_sums,
    _weighted_sum,
)

__all__ = ["auc_m_alpha_gradient", "auc_m_loss", "update_auc_m_means"]


def _ratio(xp: Namespace, num: Array, den: Array) -> Array:
    """``num / den`` where ``den > 0``, else 0 (an empty batch or class)."""
    positive = den > 0
    return xp.where(positive, num / xp.where(positive, den, 1.0), 0.0)


def _scores(b: _Batch) -> Array:
    return kernels(b.xp).sigmoid(b.z)


def _class_sums(b: _Batch, s: Array, all_reduce: AllReduce | None) -> list[Array]:
    """``[Σ w·y·s, Σ w·(1−y)·s, Σ w·y, Σ w]`` per label ``(L,)``, summed across replicas."""
    xp = b.xp
    positives, total = _weighted_label_sums(xp, b.y, b.w)
    return sum_across(xp, [_weighted_sum(xp, b.y * s, b.w),
                           _weighted_sum(xp, (1.0 - b.y) * s, b.w), positives, total],
                      all_reduce)


def _label_shaped(b: _Batch, x: Array) -> Array:
    """A per-label ``(L,)`` result in the caller's per-label shape (``()`` for binary)."""
    return x if len(b.shape) == 2 else b.xp.reshape(x, ())


def auc_m_loss(
    logits: Array,
    labels: Array,
    *,
    a: PerLabel,
    b: PerLabel,
    alpha: PerLabel,
    margin: float = 1.0,
    label_priors: PerLabel | None = None,
    weights: Array | Number | None = None,
    reduction: str = "mean",
    all_reduce: AllReduce | None = None,
) -> Array:
    """AUC-M (AUC margin loss), per label, as LibAUC's ``AUCMLoss`` (its default ``"v1"``).

    With scores ``s = σ(z)``, ``p`` the label prior (the fraction of positives) and
    ``E[·]`` the (weighted) mean over the batch, the loss of each label is

    .. math::

        F = (1−p)·E[(s − a)^2·y] + p·E[(s − b)^2·(1−y)]
            + 2α·(p(1−p)·m + E[p·s·(1−y) − (1−p)·s·y]) − p(1−p)·α^2

    (``m`` the margin). Minimised over the model and ``a``, ``b``, maximised over ``α ≥ 0``,
    it is the square loss of the scores around their class means plus the squared hinge
    ``p(1−p)·max(m − (E[s|y=1] − E[s|y=0]), 0)^2`` of the gap between the means: at the
    saddle point ``a``, ``b`` are the class-conditional mean scores and
    ``α = max(m + b − a, 0)``. This function is stateless: ``a``, ``b``, ``α`` are passed in
    (an adapter holds them; see :func:`auc_m_alpha_gradient` and :func:`update_auc_m_means`
    for their loss-owned dynamics, with which AUC-M trains with the model's usual optimizer,
    no PESG). Gradients flow to every array argument, so ``a``, ``b`` may also be trainable.

    Multi-label: one ``(a, b, α)`` per label, the labels' losses averaged
    (``reduction="mean"``) as LibAUC's ``MultiLabelAUCMLoss`` (whose ``"v1"`` drops the
    margin from the ``α`` term; this function keeps it, as the binary ``AUCMLoss``).

    ``E[x] = Σ_b w·x / Σ_b w`` (``Σ_b w = B`` without weights: LibAUC's ``torch.mean``), so a
    zero weight drops a row. ``label_priors=None``: ``p = Σ w·y / Σ w``, the batch's own
    rate, as LibAUC's default (``imratio=None``); a label with no positives (or no
    negatives) in the batch then contributes ``0``. An empty batch gives 0.

    Args:
        logits: ``(B, L)`` or ``(B,)``, floating (float16/bfloat16 computed in float32); the
            scores are their sigmoid (LibAUC's tutorials apply ``torch.sigmoid`` to the
            model's output before the loss).
        labels: same shape; bool, int or float in [0, 1].
        a, b: the primal variables, per label: a number, a length-``L`` sequence, or an
            array ``()``/``(L,)`` (any real value).
        alpha: the dual variable ``α ≥ 0``, per label (same forms; negative values raise in
            eager mode, and are read as ``|α|`` under tracing).
        margin: ``m > 0`` (LibAUC: 1.0).
        label_priors: ``p`` per label in [0, 1] (LibAUC's ``imratio``); ``None``: the batch's.
        weights: keyword-only; ``None``, a number, or any shape broadcasting to the labels.
        reduction: ``"mean"`` (over labels), ``"sum"`` (over labels) or ``"none"`` (the
            per-label losses ``(L,)``, ``()`` for binary logits).
        all_reduce: data-parallel: a function summing an array across replicas (the batch
            sums are summed in one call): every replica gets the global batch's loss.

    Returns:
        The loss, in the logits' library, device and dtype (float32 for half precision).

    Example:
        >>> import numpy as np
        >>> z = np.array([0.0, 0.0])                  # s = 0.5 for both, p = 0.5
        >>> float(auc_m_loss(z, np.array([1, 0]), a=0.5, b=0.5, alpha=1.0))
        0.25
        >>> # (1−p)·0 + p·0 + 2·1·(0.25·1 + (0.5·0.5·0.5 − 0.5·0.5·0.5)/2) − 0.25·1

    Reference:
        Yuan, Yan, Sonka, Yang, "Large-scale Robust Deep AUC Maximization: A New Surrogate
        Loss and Empirical Studies on Medical Image Classification", ICCV 2021,
        arXiv:2012.03173; LibAUC ``libauc/losses/auc.py`` (``AUCMLoss``).
    """
    check_choice("reduction", reduction, REDUCTIONS)
    m = check_number("margin", margin, low=0.0, low_open=True)
    all_reduce = check_all_reduce(all_reduce)
    bt = _prepare(logits, labels, weights, a=a, b=b, alpha=alpha, label_priors=label_priors)
    xp = bt.xp
    av = _per_label(bt, "a", a, low=-math.inf, high=math.inf)
    bv = _per_label(bt, "b", b, low=-math.inf, high=math.inf)
    alv = _per_label(bt, "alpha", alpha, low=0.0, high=math.inf)
    if not isinstance(alv, float):
        alv = xp.where(alv < 0, -alv, alv)
    s = _scores(bt)
    y = bt.y
    sq_pos = _weighted_sum(xp, y * (s - av) ** 2, bt.w)
    sq_neg = _weighted_sum(xp, (1.0 - y) * (s - bv) ** 2, bt.w)
    pos_s, neg_s, positives, total = _class_sums(bt, s, None)
    sq_pos, sq_neg, pos_s, neg_s, positives, total = sum_across(
        xp, [sq_pos, sq_neg, pos_s, neg_s, positives, total], all_reduce)
    if label_priors is None:
        p = _ratio(xp, positives, total)
    else:
        p = _as_array(bt, _per_label(bt, "label_priors", label_priors, low=0.0, high=1.0))
    pq = p * (1.0 - p)
    n = xp.where(total > 0, total, 1.0)
    per_label = ((1.0 - p) * sq_pos / n + p * sq_neg / n
                 + 2.0 * alv * (pq * m + (p * neg_s - (1.0 - p) * pos_s) / n)
                 - pq * alv ** 2)
    per_label = xp.where(total > 0, per_label, 0.0)
    if reduction == "none":
        return _label_shaped(bt, per_label)
    if reduction == "sum":
        return xp.sum(per_label)
    return xp.mean(per_label)


def auc_m_alpha_gradient(
    logits: Array,
    labels: Array,
    *,
    alpha: PerLabel,
    margin: float = 1.0,
    weights: Array | Number | None = None,
    all_reduce: AllReduce | None = None,
) -> Array:
    """The ascent direction of AUC-M's dual ``α``, in closed form, per label.

    .. math::

        g = m + E[s | y=0] − E[s | y=1] − α

    With the batch's own prior ``p``, ``∂F/∂α = 2p(1−p)·g`` (:func:`auc_m_loss`); ``g`` is
    that gradient without the factor ``2p(1−p)``, so one rate suits rare and common labels
    alike (PESG's own ``α`` step, ``α += η·(2(m + b − a) − 2α)``, uses the same direction
    with ``a``, ``b`` in place of the batch's class means). One projected ascent step is
    :func:`metricloss.dual_step` ``(α, g, rate=η)``: ``(1−η)·α + η·max-candidate``, i.e. with
    ``0 < η ≤ 1`` an exponential average of the batch's optimal ``α* = m + E[s|0] − E[s|1]``,
    clipped at 0. A label without positives or negatives in the batch gets ``g = 0`` (no
    information, no step).

    Args:
        logits: ``(B, L)`` or ``(B,)``, floating; scores ``s = σ(z)``.
        labels: same shape; bool, int or float in [0, 1].
        alpha: the current ``α ≥ 0`` per label (number, sequence, array ``()``/``(L,)``).
        margin: ``m > 0``.
        weights: keyword-only; ``None``, a number, or any shape broadcasting to the labels.
        all_reduce: data-parallel: the class sums are summed across replicas (one call).

    Returns:
        ``g``, shape ``(L,)`` (``()`` for binary logits), in the compute dtype.

    Example:
        >>> import numpy as np
        >>> g = auc_m_alpha_gradient(np.array([0.0, 0.0]), np.array([1, 0]), alpha=0.25)
        >>> float(g)  # 1 + 0.5 − 0.5 − 0.25
        0.75
    """
    m = check_number("margin", margin, low=0.0, low_open=True)
    all_reduce = check_all_reduce(all_reduce)
    bt = _prepare(logits, labels, weights, alpha=alpha)
    xp = bt.xp
    alv = _as_array(bt, _per_label(bt, "alpha", alpha, low=0.0, high=math.inf))
    pos_s, neg_s, positives, total = _class_sums(bt, _scores(bt), all_reduce)
    negatives = total - positives
    both = xp.logical_and(positives > 0, negatives > 0)
    g = m + _ratio(xp, neg_s, negatives) - _ratio(xp, pos_s, positives) - alv
    return _label_shaped(bt, xp.where(both, g, 0.0))


def update_auc_m_means(
    a: Array,
    b: Array,
    logits: Array,
    labels: Array,
    *,
    momentum: float = 0.1,
    weights: Array | Number | None = None,
    all_reduce: AllReduce | None = None,
) -> tuple[Array, Array]:
    """AUC-M's ``a``, ``b`` as running class-conditional mean scores: one update, pure.

    .. math::

        a' = a + μ·(E[s | y=1] − a)        b' = b + μ·(E[s | y=0] − b)

    The minimisers of :func:`auc_m_loss` over ``a`` and ``b`` are the batch's mean positive
    and negative scores; an exponential average of them (momentum ``μ``, as batch
    normalisation's running statistics) holds them as state instead of training them. A
    label without positives (negatives) in the batch keeps its ``a`` (``b``).

    Args:
        a, b: the current values, arrays ``(L,)`` (``()`` or ``(1,)`` for binary logits).
        logits: ``(B, L)`` or ``(B,)``, floating; scores ``s = σ(z)``.
        labels: same shape; bool, int or float in [0, 1].
        momentum: ``μ`` in (0, 1] (1: the batch's means).
        weights: keyword-only; ``None``, a number, or any shape broadcasting to the labels.
        all_reduce: data-parallel: the class sums are summed across replicas (one call).

    Returns:
        ``(a', b')`` with the shapes and dtype of ``a`` and ``b``.

    Example:
        >>> import numpy as np
        >>> a, b = update_auc_m_means(np.zeros(1), np.zeros(1), np.array([0.0, 0.0]),
        ...                           np.array([1, 0]), momentum=0.5)
        >>> a.tolist(), b.tolist()
        ([0.25], [0.25])
    """
    mu = check_number("momentum", momentum, low=0.0, low_open=True, high=1.0)
    all_reduce = check_all_reduce(all_reduce)
    bt = _prepare(logits, labels, weights, a=a, b=b)
    xp = bt.xp
    av = _as_array(bt, _per_label(bt, "a", a, low=-math.inf, high=math.inf))
    bv = _as_array(bt, _per_label(bt, "b", b, low=-math.inf, high=math.inf))
    pos_s, neg_s, positives, total = _class_sums(bt, _scores(bt), all_reduce)
    negatives = total - positives
    new_a = xp.where(positives > 0, av + mu * (_ratio(xp, pos_s, positives) - av), av)
    new_b = xp.where(negatives > 0, bv + mu * (_ratio(xp, neg_s, negatives) - bv), bv)
    return (xp.reshape(xp.astype(new_a, a.dtype), tuple(a.shape)),
            xp.reshape(xp.astype(new_b, b.dtype), tuple(b.shape)))
