"""The constrained losses: recall at precision, precision at recall, the two rate
constraints and PR-AUC, as Lagrangians (SPEC §3)."""

from __future__ import annotations

from typing import Any

from metricloss._checks import (
    check_integer,
)
from metricloss._namespace import (
    Array,
)
from metricloss._sync import AllReduce, check_all_reduce
from metricloss.global_objectives._inputs import (
    Number,
    PerLabel,
    _Batch,
    _biases,
    _check_common,
    _check_precision_range,
    _label_priors,
    _lambdas,
    _per_label,
    _prepare,
    _reduce,
)
from metricloss.global_objectives.bounds import (
    _aux,
    _aux_value,
)
from metricloss.global_objectives.surrogates import (
    _lagrangian,
    _margin,
    _surrogate_parts,
)


def _finish(b: _Batch, per: Array, reduction: str, return_aux: bool, surrogate: str,
            lam: Any, priors: Any, all_reduce: AllReduce | None = None) -> Any:
    loss = _reduce(b, per, reduction, all_reduce)
    if not return_aux:
        return loss
    return loss, _aux(b, surrogate, lam, priors, all_reduce=all_reduce)


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

