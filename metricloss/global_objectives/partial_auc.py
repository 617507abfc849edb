"""One-way partial ROC-AUC as a pairwise loss: the positives against the hardest ``max_fpr``
fraction of the batch's negatives (the ROC curve over ``FPR ∈ [0, max_fpr]``).

Conventions (argument order, half precision, ±inf logits, unknown batch sizes) are those of
:mod:`metricloss.global_objectives`.
"""

from __future__ import annotations

from typing import Any

from metricloss._checks import check_choice, check_number
from metricloss._namespace import Array, Namespace, is_eager, kernels
from metricloss._reduction import REDUCTIONS
from metricloss.global_objectives._inputs import SURROGATES, _Batch, _prepare
from metricloss.global_objectives.surrogates import _relu

__all__ = ["partial_roc_auc_loss"]


def _negative_weights(xp: Namespace, z: Array, y: Array, max_fpr: float) -> tuple[Array, Array]:
    """Each negative's share of the ROC curve over ``FPR ≤ max_fpr``, ``(B, L)``, and ``k``.

    The negatives of a label, ranked by decreasing logit (ties by position), are the steps of
    the ROC curve: the ``r``-th (``r = 0, 1, ...``) spans ``FPR ∈ [r/N, (r+1)/N]``; the part of
    it below ``max_fpr`` is ``clip(k − r, 0, 1)`` with ``k = max_fpr·N``. Positives get 0.
    No gradient (ranks). Returns the weights and ``k`` ``(L,)``."""
    neg = 1.0 - y
    zt = xp.matrix_transpose(z)  # (L, B)
    nt = xp.matrix_transpose(neg)
    key = xp.where(nt > 0, -zt, xp.full_like(zt, float("inf")))
    order = xp.argsort(key, axis=1, stable=True)
    rank = xp.astype(xp.argsort(order, axis=1, stable=True), z.dtype)  # (L, B)
    k = max_fpr * xp.sum(nt, axis=1)  # (L,)
    share = xp.reshape(k, (-1, 1)) - rank
    share = xp.where(share < 1.0, share, xp.ones_like(share))
    share = xp.where(share > 0.0, share, xp.zeros_like(share))
    return xp.matrix_transpose(share * nt), k


def _per_label(b: _Batch, max_fpr: float, surrogate: str) -> Array:
    xp = b.xp
    z, y = b.z, b.y
    weights, k = _negative_weights(xp, z, y, max_fpr)
    zp = xp.expand_dims(z, axis=1)  # (B, 1, L): the positive of the pair
    zn = xp.expand_dims(z, axis=0)  # (1, B, L): the negative
    if surrogate == "xent":
        pair = kernels(xp).softplus(zn - zp)
    else:
        pair = _relu(xp, (zn + 1.0) - zp)
    per_positive = xp.sum(xp.expand_dims(weights, axis=0) * pair, axis=1)  # (B, L)
    total = xp.sum(y * per_positive, axis=0)  # (L,)
    positives = xp.sum(y, axis=0)
    den = positives * k
    return xp.where(den > 0, total / xp.where(den > 0, den, 1.0), 0.0)


def partial_roc_auc_loss(
    logits: Array,
    labels: Array,
    *,
    max_fpr: float,
    surrogate: str = "xent",
    reduction: str = "mean",
) -> Any:
    """A pairwise surrogate of ``1 −`` the one-way partial ROC-AUC over ``FPR ≤ max_fpr``.

    Per label, with ``P`` positives, ``N`` negatives, ``k = β·N`` (``β = max_fpr``) and the
    negatives ranked by decreasing logit ``n_(0), n_(1), ...``:

    .. math::

        \\text{loss} = \\frac{1}{P·k} Σ_{p ∈ pos} Σ_{r} \\min(\\max(k − r, 0), 1)·
        ℓ(z_p − z_{n_{(r)}})

    so every positive is ranked against the hardest ``β`` fraction of the negatives (the
    ``⌊k⌋`` highest-scored ones, and the next with weight ``k − ⌊k⌋``), ``ℓ(u) =
    softplus(−u)`` (xent) or ``max(1 − u, 0)`` (hinge). With the 0-1 pair loss in place of
    ``ℓ`` it is exactly ``1 − A_β/β``, ``A_β`` the area under the batch's ROC curve up to
    ``FPR = β`` (the quantity :func:`metricloss.roc_auc_score` ``(max_fpr=β)`` reports,
    before McClish's standardisation). ``β = 1`` is :func:`metricloss.roc_auc_loss`'s pair
    sum divided by ``P·N``. The selection of the negatives carries no gradient; the
    gradient flows through the selected pairs (as in the CVaR form of the one-way pAUC,
    Zhu et al. 2022, for a loss increasing in the negative's score).

    **Batch bias.** The hardest ``β`` fraction of a batch's ``N`` negatives estimates the
    population's top ``β`` of negatives only as ``N → ∞``: the top order statistics of a
    small sample lie above the population's quantile on average, and with ``β·N < 1`` the
    loss is the hardest single negative, scaled. So the expected batch loss is biased upward
    (it overweights the extreme negatives) by an amount that shrinks as ``β·N`` grows; keep
    ``β·N`` well above 1 (large batches, or oversample the negatives) or accept that the
    loss targets a smaller FPR range than ``β`` on small batches. LibAUC's SOPA-s / pAUC-DRO
    losses remove this bias with per-example running state; this loss is stateless.

    Args:
        logits: ``(B, L)`` or ``(B,)``, floating (float16/bfloat16 computed in float32).
        labels: same shape; 0/1 (bool, int, or float holding 0 and 1: soft labels raise in
            eager mode; under tracing they are not checked).
        max_fpr: ``β ∈ (0, 1]``.
        surrogate: ``"xent"`` or ``"hinge"``.
        reduction: ``"mean"`` (over labels), ``"sum"`` or ``"none"`` (per label ``(L,)``;
            ``()`` for binary logits). A label without positives or negatives gives 0.

    Returns:
        The loss, in the logits' library, device and dtype (float32 for half precision).

    Example:
        >>> import numpy as np
        >>> z = np.array([2.0, 0.0, 1.0, -1.0, -2.0])  # positives 2, 0; negatives 1, −1, −2
        >>> y = np.array([1, 1, 0, 0, 0])
        >>> # k = 0.5·3 = 1.5: the negative at 1 (weight 1) and at −1 (weight 0.5); hinge
        >>> # pairs: (2, 1) 0, (2, −1) 0, (0, 1) 2, (0, −1) 0, so 2 / (P·k) = 2 / 3
        >>> round(float(partial_roc_auc_loss(z, y, max_fpr=0.5, surrogate="hinge")), 6)
        0.666667

    Reference:
        McClish 1989 (the partial area); Dodd & Pepe 2003; Zhu, Li, Yuan, Yang, "When AUC
        meets DRO: Optimizing Partial AUC for Deep Learning with Non-Convex Convergence
        Guarantee", ICML 2022 (one-way pAUC, LibAUC's ``pAUC_CVaR_Loss``).
    """
    beta = check_number("max_fpr", max_fpr, low=0.0, low_open=True, high=1.0)
    check_choice("surrogate", surrogate, SURROGATES)
    check_choice("reduction", reduction, REDUCTIONS)
    b = _prepare(logits, labels, None)
    xp = b.xp
    if not xp.isdtype(labels.dtype, ("bool", "integral")) and is_eager(b.y):
        soft = xp.logical_and(b.y != 0.0, b.y != 1.0)
        if bool(xp.any(soft)):
            raise ValueError("labels must be 0 or 1 for partial_roc_auc_loss (soft labels "
                             "found): the hardest negatives need hard labels")
    per_label = _per_label(b, beta, surrogate)
    if reduction == "none":
        return per_label if len(b.shape) == 2 else xp.reshape(per_label, ())
    if reduction == "sum":
        return xp.sum(per_label)
    return xp.mean(per_label)
