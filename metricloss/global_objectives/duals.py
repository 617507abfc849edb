"""The dual variables' dynamics, pure: the dual value of a stored variable (gradient reversal),
the violation of each constraint (hard or surrogate) and one projected dual step."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from metricloss._checks import (
    check_choice,
    check_floating,
    check_integer,
    check_number,
    require_array,
)
from metricloss._namespace import Array, Namespace, namespace_of
from metricloss._sync import AllReduce, check_all_reduce, sum_across
from metricloss.global_objectives._inputs import (
    SURROGATES,
    Number,
    PerLabel,
    _Batch,
    _biases,
    _check_precision_range,
    _per_label,
    _prepare,
    _target,
    _weighted_label_sums,
    _weighted_sum,
)
from metricloss.global_objectives.bounds import _aux_value
from metricloss.global_objectives.surrogates import _margin, _surrogate_parts


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
# Loss-owned dual dynamics: the violation of each constraint and one projected dual step
# --------------------------------------------------------------------------------------------

CONSTRAINTS = {
    # constraint name (the loss's name without "_loss") -> its target keyword
    "recall_at_precision": "target_precision",
    "precision_at_recall": "target_recall",
    "false_positive_rate_at_true_positive_rate": "target_rate",
    "true_positive_rate_at_false_positive_rate": "target_rate",
    "precision_recall_auc": "precision_range",
}
"""The constraint of each constrained loss, by name, and the keyword holding its target."""

VIOLATION_ESTIMATES = ("hard", "surrogate")


def _counts(b: _Batch, z: Array, y: Array, estimate: str, surrogate: str
            ) -> tuple[Array, Array]:
    """``(TP, FP)`` summed over the batch axis: hard counts at the decision rule ``z > 0``, or
    the surrogate bounds ``(TP_lb, FP_ub)``. ``z`` and ``y`` are ``(B, L)`` or ``(B, L, K)``."""
    xp = b.xp
    w = b.w
    if w is not None and len(z.shape) == 3:
        w = xp.expand_dims(w, axis=2)
    if estimate == "hard":
        predicted = xp.astype(z > 0, z.dtype)
        return (_weighted_sum(xp, y * predicted, w),
                _weighted_sum(xp, (1.0 - y) * predicted, w))
    pos, neg = _surrogate_parts(xp, z, surrogate)
    m = _margin(surrogate)
    return (_weighted_sum(xp, y, w) - _weighted_sum(xp, y * pos, w) / m,
            _weighted_sum(xp, (1.0 - y) * neg, w) / m)


def _safe_ratio(xp: Namespace, num: Array, den: Array) -> Array:
    """``num / den`` where ``den > 0``, else 0 (an empty batch or class violates nothing)."""
    positive = den > 0
    return xp.where(positive, num / xp.where(positive, den, 1.0), 0.0)


def constraint_violation(
    logits: Array,
    labels: Array,
    *,
    constraint: str,
    estimate: str = "hard",
    target_precision: PerLabel | None = None,
    target_recall: PerLabel | None = None,
    target_rate: PerLabel | None = None,
    precision_range: tuple[float, float] | None = None,
    num_anchors: int = 20,
    biases: Array | Number | None = None,
    label_priors: PerLabel | None = None,
    weights: Array | Number | None = None,
    surrogate: str = "xent",
    all_reduce: AllReduce | None = None,
) -> Array:
    """How far a batch is from meeting each label's constraint, in units of the class size.

    With ``TP``, ``FP`` the batch's true and false positives at the decision rule ``z > 0``
    (``estimate="hard"``, the proxy-Lagrangian's violation of Cotter et al. 2019) or their
    surrogate bounds ``TP_lb``, ``FP_ub`` (``estimate="surrogate"``, the quantities the
    Lagrangian is written with), ``P = Σ w·y``, ``N = Σ w·(1−y)``, ``n = P + N`` and ``π`` the
    label prior:

    ===============================================  ===========================================
    constraint                                       violation ``g`` (> 0: violated)
    ===============================================  ===========================================
    ``recall_at_precision`` (precision ≥ α)          ``(α·FP − (1−α)·TP) / (π·n)``
    ``precision_at_recall`` (recall ≥ r)             ``(r·P − TP) / (π·n)``
    ``false_positive_rate_at_true_positive_rate``    the same, ``r = target_rate``
    ``true_positive_rate_at_false_positive_rate``    ``(FP − r·N) / ((1−π)·n)``
    ``precision_recall_auc``                         ``recall_at_precision`` at each anchor
                                                     ``α_k`` with logits ``z + b_k``: ``(L, K)``
    ===============================================  ===========================================

    The numerators are the constraints written as counts (``precision ≥ α`` is
    ``(1−α)·TP ≥ α·FP``), so they add up over batches: the sum of ``g`` over an epoch is the
    epoch's violation. Dividing by the expected class size ``π·n`` makes ``g`` scale-free (a
    fraction of the positives, or of the negatives for the rate constraint), so one dual rate
    works from rare to common labels. A batch with no examples gives 0.

    Args:
        logits: ``(B, L)`` or ``(B,)``, floating; the batch size may be unknown (traced).
        labels: same shape; bool, int or float in [0, 1].
        constraint: one of ``CONSTRAINTS`` (the loss's name without ``_loss``).
        estimate: ``"hard"`` (counts at ``z > 0``; no gradient) or ``"surrogate"`` (bounds).
        target_precision, target_recall, target_rate: the constraint's target, in (0, 1] (a
            number, a length-``L`` sequence, or an array ``()``/``(L,)``): the one the
            constraint's loss takes.
        precision_range, num_anchors, biases: PR-AUC's (see
            :func:`~metricloss.precision_recall_auc_loss`).
        label_priors: ``π``; default ``None``: the batch's ``(1 + P)/(2 + n)``.
        weights: keyword-only; ``None``, a number, or any shape broadcasting to the labels.
        surrogate: ``"xent"`` or ``"hinge"`` (for ``estimate="surrogate"``).
        all_reduce: data-parallel: a function summing an array across replicas; the counts
            are summed (one call) so that every replica gets the global batch's violation.

    Returns:
        Shape ``(L,)`` (``()`` for binary input; ``(L, K)``, or ``(K,)`` for binary input, for
        PR-AUC), in the compute dtype (float32 for half precision).

    Example:
        >>> import numpy as np
        >>> logits = np.array([2.0, 1.0, 0.5, -1.0])   # 3 predicted positive
        >>> labels = np.array([1, 0, 0, 1])            # TP = 1, FP = 2, P = 2
        >>> g = constraint_violation(logits, labels, constraint="recall_at_precision",
        ...                          target_precision=0.5, label_priors=0.5)
        >>> float(g)  # (0.5·2 − 0.5·1) / (0.5·4)
        0.25

    Reference:
        Cotter, Jiang, Sridharan, "Two-Player Games for Efficient Non-Convex Constrained
        Optimization" (ALT 2019) and Cotter et al., "Optimization with Non-Differentiable
        Constraints with Applications to Fairness, Recall, Churn, and Other Goals" (JMLR
        2019): the proxy-Lagrangian, whose multipliers follow the hard constraint.
    """
    check_choice("constraint", constraint, tuple(CONSTRAINTS))
    check_choice("estimate", estimate, VIOLATION_ESTIMATES)
    check_choice("surrogate", surrogate, SURROGATES)
    given = {"target_precision": target_precision, "target_recall": target_recall,
             "target_rate": target_rate, "precision_range": precision_range}
    wanted = CONSTRAINTS[constraint]
    for name, value in given.items():
        if name != wanted and value is not None:
            raise TypeError(f"constraint={constraint!r} takes {wanted}=, not {name}=")
    if given[wanted] is None and constraint != "precision_recall_auc":
        raise TypeError(f"constraint={constraint!r} needs {wanted}=")
    b = _prepare(logits, labels, weights, label_priors=label_priors, biases=biases,
                 **{k: v for k, v in given.items() if hasattr(v, "shape")})
    xp = b.xp
    all_reduce = check_all_reduce(all_reduce)
    y, z = b.y, b.z
    extra: tuple[int, ...] = ()
    if constraint == "precision_recall_auc":
        lo, hi = _check_precision_range((0.0, 1.0) if precision_range is None
                                        else precision_range)
        K = check_integer("num_anchors", num_anchors, low=1)
        extra = (K,)
        bias = _biases(b, biases, K)
        if bias is not None:
            z = xp.expand_dims(z, axis=2) + bias  # (B, L, K)
            y = xp.expand_dims(y, axis=2)
        target: Any = xp.asarray([lo + (hi - lo) * (k + 1) / (K + 1) for k in range(K)],
                                 dtype=b.dtype, device=b.device)
    else:
        target = _target(b, wanted, given[wanted])
    tp, fp = _counts(b, z, y, estimate, surrogate)
    positives, total = _weighted_label_sums(xp, b.y, b.w)
    tp, fp, positives, total = sum_across(xp, [tp, fp, positives, total], all_reduce)
    if label_priors is None:
        priors: Any = (1.0 + positives) / (2.0 + total)
    else:
        priors = _per_label(b, "label_priors", label_priors, low=0.0, high=1.0)
    if constraint == "true_positive_rate_at_false_positive_rate":
        g = _safe_ratio(xp, fp - target * (total - positives), (1.0 - priors) * total)
    elif constraint in ("precision_at_recall", "false_positive_rate_at_true_positive_rate"):
        g = _safe_ratio(xp, target * positives - tp, priors * total)
    else:  # precision ≥ α: one α per label, or one per anchor (L, K)
        den = priors * total
        if extra:
            den = xp.expand_dims(den, axis=1)
            if len(tp.shape) == 1:  # no biases: every anchor has the same counts
                tp, fp = xp.expand_dims(tp, axis=1), xp.expand_dims(fp, axis=1)
        g = _safe_ratio(xp, target * fp - (1.0 - target) * tp, den)
    return _aux_value(b, g, extra)


def dual_step(
    lambdas: Array,
    violation: Array,
    *,
    rate: float,
    max_value: float = math.inf,
) -> Array:
    """One projected ascent step on the dual variables.

    .. math::

        λ' = \\min(\\max(λ + η·g,\\ 0),\\ λ_{max})

    with ``g`` the constraint's violation (:func:`constraint_violation`): a violated constraint
    (``g > 0``) raises its multiplier, a slack one lowers it, never below 0 nor above
    ``max_value`` (the bound keeps a target that cannot be met from growing ``λ`` without
    limit). Pure: it returns the new values; the adapters store them.

    Args:
        lambdas: the current ``λ ≥ 0`` (any shape, floating).
        violation: ``g``, broadcasting to ``lambdas`` (e.g. ``()`` for a binary loss's ``(1,)``
            duals).
        rate: ``η ≥ 0``, the dual step size (in λ per unit of violation).
        max_value: ``λ_max > 0`` (default: no bound).

    Returns:
        The new ``λ``, with the shape, dtype, library and device of ``lambdas``.

    Example:
        >>> import numpy as np
        >>> dual_step(np.array([1.0, 0.1, 4.0]), np.array([0.5, -0.5, 2.0]), rate=1.0,
        ...           max_value=5.0).tolist()
        [1.5, 0.0, 5.0]
    """
    require_array("lambdas", lambdas)
    require_array("violation", violation)
    xp = namespace_of(lambdas=lambdas, violation=violation)
    check_floating(xp, "lambdas", lambdas)
    eta = check_number("rate", rate, low=0.0)
    high = (math.inf if max_value == math.inf
            else check_number("max_value", max_value, low=0.0, low_open=True))
    step = lambdas + eta * xp.astype(violation, lambdas.dtype)
    step = xp.where(step > 0, step, 0.0)
    if high != math.inf:
        step = xp.where(step < high, step, high)
    return xp.reshape(step, tuple(lambdas.shape))
