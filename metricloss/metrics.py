"""Exact evaluation metrics in the array API (SPEC §4).

Training optimises a smooth surrogate; evaluation counts hard decisions. The functions here
compute the exact metrics, on any array library and device, and agree with scikit-learn on NumPy
input (scikit-learn is the oracle of the tests):

- from hard predictions (0/1, bool or int) and labels: :func:`confusion_counts`,
  :func:`precision_score`, :func:`recall_score`, :func:`f1_score`, :func:`fbeta_score`,
  :func:`jaccard_score`, :func:`accuracy_score` (with ``average`` in ``micro``, ``macro``,
  ``samples``, ``weighted``, ``none``), :func:`hamming_loss`, :func:`subset_accuracy`;
- from scores (any real numbers: logits or probabilities): :func:`roc_auc_score`,
  :func:`average_precision_score`, :func:`recall_at_precision` and :func:`precision_at_k`.

**Argument order.** Every function takes ``(preds, labels)`` or ``(scores, labels)``, as every
function of metricloss takes its model output first: the reverse of scikit-learn's
``(y_true, y_pred)``. ``precision_score(labels, preds)`` would return the recall, and hard
predictions cannot be told from labels (both 0/1); the score-based metrics do tell them apart
(integer labels in the scores' place raise a ``TypeError``, float 0/1 scores with non-0/1 labels a
``ValueError`` in eager mode, each naming the order).

Shapes follow SPEC §0: ``(B, L)`` multi-label, or ``(B,)`` binary (one label; every average then
gives scikit-learn's ``average="binary"`` value, and ``average="samples"`` is refused, as
scikit-learn refuses it). Labels, and hard predictions, must be 0/1 (bool, int or float). Optional
``weights`` are per-example, shape ``(B,)`` or ``(B, 1)``, scikit-learn's ``sample_weight``.
``None`` in place of an array raises ``TypeError`` naming the argument; empty inputs (``B = 0``
or ``L = 0``) raise ``ValueError``: no metric is defined on no example.

**Dtypes.** Results are floating: for hard predictions, the dtype of the first floating input
among ``weights``, ``preds``, ``labels`` (else the namespace's default), for scores the scores'
dtype; half precision (float16, bfloat16) computes and returns float32, as the losses do.

**Traceable.** Every function here has fixed output shapes and runs under ``jax.jit``,
``torch.compile(fullgraph=True)`` and ``tf.function(jit_compile=True)``, also with an unknown
batch size (a ``tf.function`` ``(None, L)`` signature, ``torch.compile(dynamic=True)``,
``jax.export`` with a symbolic batch): the score-based ones sort once and use cumulative sums with
masks over tie groups, never ``unique()`` or boolean indexing, and no size is read from a
Python shape where it may be unknown.
Value checks (0/1 labels, finite scores, non-negative weights) and warnings read data, so they run
only in eager mode on the host (:func:`metricloss._namespace.is_eager`); none is eager-only.

**Zero division.** A ratio whose denominator is zero (precision of a label never predicted, recall
of a label with no positives, ...) takes the value ``zero_division``: ``"warn"`` (default, as in
scikit-learn: 0.0 and an :class:`UndefinedMetricWarning`, in eager mode only), ``0``, ``1`` or
``nan``. With ``nan``, the ``macro``/``weighted``/``samples`` averages skip the undefined
entries, as scikit-learn's ``_nanaverage`` does for precision, recall and F-scores
(scikit-learn's ``jaccard_score`` does not accept ``nan``; here it behaves like the others).

**Ties.** ROC-AUC, average precision and recall at precision group tied scores into one
threshold, exactly as scikit-learn's ``roc_curve``/``precision_recall_curve`` do (one point per
distinct score).

Reference:
    Pedregosa et al., "Scikit-learn: Machine Learning in Python", JMLR 12, 2011
    (``sklearn.metrics``, whose definitions and edge cases these functions follow).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from metricloss._checks import (
    check_choice,
    check_integer,
    check_number,
    check_same_shape,
    require_array,
)
from metricloss._cuts import (
    ORDER_NOTE,
    Cuts,
    Scored,
    UndefinedMetricWarning,
    as_bool,
    check_binary,
    check_layout,
    check_target,
    eager,
    feasible_recall,
    floating_of,
    int_dtype,
    length,
    prepare_weights,
    row_weights,
    rows,
    take,
    to_2d,
    warn,
)
from metricloss._metric_formulas import metric_from_counts
from metricloss._namespace import (
    Array,
    Namespace,
    compute_dtype,
    cumulative_sum,
    namespace_of,
)
from metricloss.streaming import CurveState, StateScores, state_confusion_counts

__all__ = [
    "METRIC_AVERAGES",
    "SCORE_AVERAGES",
    "UndefinedMetricWarning",
    "accuracy_score",
    "average_precision_score",
    "confusion_counts",
    "f1_score",
    "fbeta_score",
    "hamming_loss",
    "jaccard_score",
    "precision_at_k",
    "precision_score",
    "recall_at_precision",
    "recall_score",
    "roc_auc_score",
    "subset_accuracy",
]

METRIC_AVERAGES = ("macro", "micro", "samples", "weighted", "none")
"""Averages of the hard-prediction metrics (``none``: the per-label vector)."""

SCORE_AVERAGES = METRIC_AVERAGES
"""Averages of the score-based metrics (scikit-learn's ``_average_binary_score``)."""

UndefinedMetricWarning.__module__ = __name__


# --------------------------------------------------------------------------------------------
# Input preparation
# --------------------------------------------------------------------------------------------

_PREDS_HINT = (" (preds are hard 0/1 predictions: binarize scores first, or use a score-based "
               "metric; " + ORDER_NOTE + ")")


class _Hard:
    """Validated hard-prediction inputs: ``p``, ``y`` bool ``(B, L)``, ``w`` ``(B,)`` or None."""

    def __init__(self, preds: Array, labels: Array, weights: Array | None):
        require_array("preds", preds)
        require_array("labels", labels)
        xp = namespace_of(preds=preds, labels=labels, weights=weights)
        check_same_shape("labels", labels, "preds", preds)
        shape = tuple(preds.shape)
        check_layout("preds", shape)
        check_binary(xp, "preds", preds, _PREDS_HINT)
        check_binary(xp, "labels", labels)
        self.xp = xp
        self.shape = shape
        # Half precision computes, and returns, float32 (as the losses do).
        self.dtype = compute_dtype(xp, floating_of(xp, weights, preds, labels))
        self.out_dtype = self.dtype
        self.p = to_2d(xp, as_bool(xp, preds))
        self.y = to_2d(xp, as_bool(xp, labels))
        self.w = prepare_weights(xp, weights, shape[0], self.dtype)
        self.eager = eager(preds, labels, weights)

    def out(self, x: Array) -> Array:
        return self.xp.astype(x, self.out_dtype, copy=False)


def _check_average(average: str, shape: tuple[int, ...], valid: tuple[str, ...]) -> str:
    check_choice("average", average, valid)
    if average == "samples" and len(shape) == 1:
        raise ValueError("average='samples' needs multi-label input of shape (B, L); "
                         f"got shape {shape}")
    return average


# --------------------------------------------------------------------------------------------
# Zero division and averaging
# --------------------------------------------------------------------------------------------


def _zero_division_value(zero_division: Any) -> float:
    if isinstance(zero_division, str) and zero_division == "warn":
        return 0.0
    if (not isinstance(zero_division, bool) and isinstance(zero_division, int | float)
            and (zero_division in (0, 1) or math.isnan(zero_division))):
        return float(zero_division)
    raise ValueError(f"zero_division must be 'warn', 0, 1 or nan; got {zero_division!r}")


def _divide(xp: Namespace, num: Array, den: Array, value: float) -> Array:
    """``num / den`` with ``value`` where ``den == 0`` (no division by zero is evaluated)."""
    zero = den == 0
    safe = xp.where(zero, xp.ones_like(den), den)
    return xp.where(zero, xp.full_like(num, value), num / safe)


def _warn_zero_division(xp: Namespace, undefined: Array, eager: bool, zero_division: Any,
                        metric: str, modifier: str, average: str) -> None:
    """scikit-learn's warning for an ill-defined ratio, from the counts' mask ``undefined`` of the
    entries whose denominator is zero: eager mode and ``zero_division='warn'`` only (reading the
    mask is a host sync)."""
    if not (eager and isinstance(zero_division, str)):
        return
    if bool(xp.any(undefined)):
        where = "in samples with" if average == "samples" else "in labels with"
        if len(undefined.shape) == 0 or undefined.shape[0] == 1:
            where = "due to"
        axis0 = "label" if average == "samples" else "sample"
        warn(f"{metric} is ill-defined and being set to 0.0 {where} no {modifier} {axis0}s. "
             "Use `zero_division` parameter to control this behavior.", stacklevel=5)


def _nanaverage(xp: Namespace, v: Array, w: Array | None) -> Array:
    """scikit-learn's ``_nanaverage``: the (weighted) mean of the non-NaN entries of ``v``; the
    unweighted mean of those if their weights sum to zero; NaN if every entry is NaN."""
    valid = xp.logical_not(xp.isnan(v))
    v0 = xp.where(valid, v, xp.zeros_like(v))
    count = xp.sum(xp.astype(valid, v.dtype))
    mean = xp.sum(v0) / xp.where(count > 0, count, xp.ones_like(count))
    result = mean
    if w is not None:
        w0 = xp.where(valid, w, xp.zeros_like(w))
        total = xp.sum(w0)
        weighted = xp.sum(v0 * w0) / xp.where(total > 0, total, xp.ones_like(total))
        result = xp.where(total > 0, weighted, mean)
    return xp.where(count > 0, result, xp.full_like(result, math.nan))


def _average(xp: Namespace, v: Array, w: Array | None) -> Array:
    """``numpy.average`` (NaN propagates); the plain mean if the weights sum to zero."""
    mean = xp.mean(v)
    if w is None:
        return mean
    total = xp.sum(w)
    weighted = xp.sum(v * w) / xp.where(total != 0, total, xp.ones_like(total))
    return xp.where(total != 0, weighted, mean)


# --------------------------------------------------------------------------------------------
# Confusion counts
# --------------------------------------------------------------------------------------------


def _counts(xp: Namespace, p: Array, y: Array, w: Array | None, axis: int, dtype: Any
            ) -> tuple[Array, Array, Array, Array]:
    """``(tp, fp, fn, tn)`` of bool ``p``, ``y`` (2-D) summed over ``axis``: exact integers
    without weights, ``dtype`` sums of the weights with them."""
    if w is None:
        it = int_dtype(xp)
        tp = xp.sum(xp.astype(xp.logical_and(p, y), it), axis=axis)
        sp = xp.sum(xp.astype(p, it), axis=axis)
        sy = xp.sum(xp.astype(y, it), axis=axis)
        n = length(xp, p, axis, it)  # the batch size may be unknown (traced)
        return tp, sp - tp, sy - tp, n - sp - sy + tp
    wb = xp.reshape(w, (-1, 1))
    tp = xp.sum(wb * xp.astype(xp.logical_and(p, y), dtype), axis=axis)
    sp = xp.sum(wb * xp.astype(p, dtype), axis=axis)
    sy = xp.sum(wb * xp.astype(y, dtype), axis=axis)
    # tn summed directly: by subtraction (Σw − sp − sy + tp) it cancels to a rounding error,
    # not 0, when every weighted example is predicted or positive.
    neither = xp.logical_not(xp.logical_or(p, y))
    tn = xp.sum(wb * xp.astype(neither, dtype), axis=axis)
    return tp, sp - tp, sy - tp, tn


def confusion_counts(
    preds: Array,
    labels: Array,
    *,
    weights: Array | None = None,
    axis: int = 0,
) -> tuple[Array, Array, Array, Array]:
    """(preds, labels) — note: the reverse of scikit-learn's (y_true, y_pred).

    Exact confusion counts ``(tp, fp, fn, tn)`` of hard predictions against labels.

    .. math::

        tp = Σ w·[p=1]·[y=1],\\quad fp = Σ w·[p=1]·[y=0],\\quad fn = Σ w·[p=0]·[y=1],\\quad
        tn = Σ w·[p=0]·[y=0]

    summed over ``axis``: ``0`` gives per-label counts ``(L,)`` (scikit-learn's
    ``multilabel_confusion_matrix``), ``1`` per-example counts ``(B,)``.

    ``confusion_counts(state, thresholds)`` with a :class:`~metricloss.CurveState` gives the
    per-label counts of predicting positive every score ``≥`` the label's threshold, from the
    stream's histograms: exact for thresholds on the state's grid (those
    :func:`~metricloss.tune_thresholds` returns from a state), a threshold inside a bin
    counting that bin negative. Counts are in the state's dtype, shape ``(L,)``.

    Args:
        preds: hard predictions, ``(B, L)`` or ``(B,)``; bool, int or float holding 0/1; or a
            :class:`~metricloss.CurveState`.
        labels: same shape and kinds (the thresholds, ``()`` or ``(L,)``, after a state).
        weights: ``None`` or per-example non-negative weights ``(B,)`` or ``(B, 1)``.
        axis: ``0`` (over examples) or ``1`` (over labels; 2-D input only).

    Returns:
        Four arrays: exact integer counts (the namespace's default integer dtype) without
        weights; weighted sums in the weights' floating dtype (or the default floating dtype)
        with them. Shape ``(L,)``/``(B,)``, or ``()`` for ``(B,)`` input.

    Example:
        >>> import numpy as np
        >>> preds = np.array([[1, 0], [1, 1], [0, 0]])
        >>> labels = np.array([[1, 0], [0, 1], [1, 0]])
        >>> [c.tolist() for c in confusion_counts(preds, labels)]
        [[1, 1], [1, 0], [1, 0], [0, 2]]
    """
    if isinstance(preds, CurveState):  # confusion_counts(state, thresholds)
        return state_confusion_counts(preds, labels, weights=weights, axis=axis)
    h = _Hard(preds, labels, weights)
    xp = h.xp
    ndim = len(h.shape)
    axis = check_integer("axis", axis, low=-ndim, high=ndim - 1) % ndim
    counts = _counts(xp, h.p, h.y, h.w, axis, h.dtype)
    if ndim == 1:
        counts = tuple(xp.reshape(c, ()) for c in counts)
    if h.w is not None:
        counts = tuple(h.out(c) for c in counts)
    return counts  # type: ignore[return-value]


# --------------------------------------------------------------------------------------------
# Precision, recall, F-beta, Jaccard, accuracy
# --------------------------------------------------------------------------------------------

def _undefined(xp: Namespace, name: str, tp: Array, fp: Array, fn: Array) -> Array | None:
    """Where the ratio ``name`` has a zero denominator, from the counts (``None``: never)."""
    if name == "precision":
        return (tp + fp) == 0
    if name == "recall":
        return (tp + fn) == 0
    if name in ("fbeta", "jaccard"):
        return (tp + fp + fn) == 0
    return None  # accuracy: zero only if every weight is zero, which gives 0 silently


# name: (warning name, warning modifier), scikit-learn's words.
_WARNINGS = {
    "precision": ("Precision", "predicted"),
    "recall": ("Recall", "true"),
    "fbeta": ("F-score", "true nor predicted"),
    "jaccard": ("Jaccard", "true or predicted"),
}


def _hard_metric(
    name: str,
    preds: Array,
    labels: Array,
    *,
    average: str,
    weights: Array | None,
    zero_division: Any,
    beta: float = 1.0,
) -> Array:
    h = _Hard(preds, labels, weights)
    xp = h.xp
    _check_average(average, h.shape, METRIC_AVERAGES)
    value = _zero_division_value(zero_division)
    # samples: each example's counts over its labels, scaled by its weight as scikit-learn
    # does (ratios are scale-free; a zero-weight example is then 0/0, as there).
    counts = _counts(xp, h.p, h.y, h.w, 1 if average == "samples" else 0, h.dtype)
    tp, fp, fn, tn = (xp.astype(c, h.dtype) for c in counts)
    if average == "micro":
        tp, fp, fn, tn = (xp.reshape(xp.sum(c), (1,)) for c in (tp, fp, fn, tn))
    undefined = _undefined(xp, name, tp, fp, fn)
    if undefined is not None:
        message, modifier = _WARNINGS[name]
        _warn_zero_division(xp, undefined, h.eager, zero_division, message, modifier, average)
    per_entry = metric_from_counts(name, tp, fp, fn, tn, beta=beta,
                                   divide=lambda num, den: _divide(xp, num, den, value),
                                   sqrt=xp.sqrt)
    if average == "micro" or len(h.shape) == 1:
        return h.out(xp.reshape(per_entry, ()))
    if average == "none":
        return h.out(per_entry)
    if average == "weighted":
        avg_w = tp + fn  # support
    elif average == "samples":
        avg_w = h.w
    else:
        avg_w = None
    return h.out(_nanaverage(xp, per_entry, avg_w))


_DOC_ARGS = """
    Args:
        preds: hard predictions, ``(B, L)`` (multi-label) or ``(B,)`` (binary); bool, int or
            float holding 0/1 (checked in eager mode).
        labels: same shape and kinds.
        average: ``"macro"`` (per label, then the mean; default), ``"micro"`` (counts summed
            over labels first), ``"samples"`` (per example over its labels, then the mean,
            weighted by ``weights``), ``"weighted"`` (per label, then the mean weighted by each
            label's support ``tp + fn``), ``"none"`` (the per-label vector ``(L,)``).
        weights: ``None`` or per-example non-negative weights ``(B,)`` or ``(B, 1)``.
        zero_division: value of an ill-defined ratio: ``"warn"`` (0.0 plus an
            :class:`UndefinedMetricWarning` in eager mode), ``0``, ``1`` or ``nan``.

    Returns:
        A 0-d array (``(L,)`` for ``average="none"`` on 2-D input), of the floating dtype of
        ``weights``, ``preds`` or ``labels`` (the first that is floating; float32 for half
        precision), else the namespace's default floating dtype; on the inputs' device.
"""


def precision_score(
    preds: Array,
    labels: Array,
    *,
    average: str = "macro",
    weights: Array | None = None,
    zero_division: Any = "warn",
) -> Array:
    return _hard_metric("precision", preds, labels, average=average, weights=weights,
                        zero_division=zero_division)


precision_score.__doc__ = """(preds, labels) — note: the reverse of scikit-learn's (y_true, y_pred).

    Precision ``tp / (tp + fp)`` of hard predictions.

    scikit-learn's ``precision_score`` (with the arguments reversed). Ill-defined when a label
    (or, for ``samples``, an example) has no predicted positive.
""" + _DOC_ARGS + """
    Example:
        >>> import numpy as np
        >>> preds = np.array([[1, 0], [1, 1], [0, 0]])
        >>> labels = np.array([[1, 0], [0, 1], [1, 0]])
        >>> float(precision_score(preds, labels, average="micro"))
        0.6666666666666666
"""


def recall_score(
    preds: Array,
    labels: Array,
    *,
    average: str = "macro",
    weights: Array | None = None,
    zero_division: Any = "warn",
) -> Array:
    return _hard_metric("recall", preds, labels, average=average, weights=weights,
                        zero_division=zero_division)


recall_score.__doc__ = """(preds, labels) — note: the reverse of scikit-learn's (y_true, y_pred).

    Recall ``tp / (tp + fn)`` of hard predictions.

    scikit-learn's ``recall_score``. Ill-defined when a label has no positive.
""" + _DOC_ARGS + """
    Example:
        >>> import numpy as np
        >>> preds = np.array([[1, 0], [1, 1], [0, 0]])
        >>> labels = np.array([[1, 0], [0, 1], [1, 0]])
        >>> recall_score(preds, labels, average="none").tolist()
        [0.5, 1.0]
"""


def fbeta_score(
    preds: Array,
    labels: Array,
    *,
    beta: float,
    average: str = "macro",
    weights: Array | None = None,
    zero_division: Any = "warn",
) -> Array:
    beta = check_number("beta", beta, low=0, low_open=True)
    return _hard_metric("fbeta", preds, labels, average=average, weights=weights,
                        zero_division=zero_division, beta=beta)


fbeta_score.__doc__ = """(preds, labels) — note: the reverse of scikit-learn's (y_true, y_pred).

    F-beta score ``(1+β²)tp / ((1+β²)tp + β²fn + fp)`` of hard predictions.

    scikit-learn's ``fbeta_score``: computed from the counts directly, ill-defined only when a
    label has neither a positive nor a predicted positive (``tp + fp + fn = 0``). ``beta > 0``
    weights recall ``beta`` times as much as precision.
""" + _DOC_ARGS.replace("        average:", "        beta: the weight of recall, ``> 0``.\n"
                        "        average:", 1) + """
    Example:
        >>> import numpy as np
        >>> preds = np.array([[1, 0], [1, 1], [0, 0]])
        >>> labels = np.array([[1, 0], [0, 1], [1, 0]])
        >>> round(float(fbeta_score(preds, labels, beta=2.0, average="micro")), 6)
        0.666667
"""


def f1_score(
    preds: Array,
    labels: Array,
    *,
    average: str = "macro",
    weights: Array | None = None,
    zero_division: Any = "warn",
) -> Array:
    return _hard_metric("fbeta", preds, labels, average=average, weights=weights,
                        zero_division=zero_division, beta=1.0)


f1_score.__doc__ = """(preds, labels) — note: the reverse of scikit-learn's (y_true, y_pred).

    F1 score ``2tp / (2tp + fp + fn)`` of hard predictions.

    scikit-learn's ``f1_score`` (:func:`fbeta_score` with ``beta = 1``).
""" + _DOC_ARGS + """
    Example:
        >>> import numpy as np
        >>> preds = np.array([[1, 0], [1, 1], [0, 0]])
        >>> labels = np.array([[1, 0], [0, 1], [1, 0]])
        >>> f1_score(preds, labels, average="none").tolist()
        [0.5, 1.0]
"""


def jaccard_score(
    preds: Array,
    labels: Array,
    *,
    average: str = "macro",
    weights: Array | None = None,
    zero_division: Any = "warn",
) -> Array:
    return _hard_metric("jaccard", preds, labels, average=average, weights=weights,
                        zero_division=zero_division)


jaccard_score.__doc__ = """(preds, labels) — note: the reverse of scikit-learn's (y_true, y_pred).

    Jaccard index ``tp / (tp + fp + fn)`` of hard predictions.

    scikit-learn's ``jaccard_score`` (``weighted`` falls back to the plain mean when no label
    has a positive). ``zero_division=nan``, which scikit-learn refuses here, behaves as for
    :func:`f1_score`: the averages skip the undefined entries.
""" + _DOC_ARGS + """
    Example:
        >>> import numpy as np
        >>> preds = np.array([[1, 0], [1, 1], [0, 0]])
        >>> labels = np.array([[1, 0], [0, 1], [1, 0]])
        >>> float(jaccard_score(preds, labels, average="micro"))
        0.5
"""


def accuracy_score(
    preds: Array,
    labels: Array,
    *,
    average: str = "macro",
    weights: Array | None = None,
) -> Array:
    return _hard_metric("accuracy", preds, labels, average=average, weights=weights,
                        zero_division=0)


accuracy_score.__doc__ = """(preds, labels) — note: the reverse of scikit-learn's (y_true, y_pred).

    Per-label accuracy ``(tp + tn) / (tp + fp + fn + tn)``, averaged.

    On ``(B,)`` input this is scikit-learn's ``accuracy_score``. On ``(B, L)`` input it is the
    accuracy of each label, averaged by ``average`` (``micro``, ``macro`` and ``samples`` all
    equal ``1 − hamming_loss``; ``weighted`` weights labels by support); scikit-learn's
    ``accuracy_score`` on multi-label input is the exact-match ratio, :func:`subset_accuracy`.
    Never ill-defined (unless every weight is zero, which gives 0).
""" + _DOC_ARGS.split("        zero_division:")[0] + """
    Returns:
        A 0-d array (``(L,)`` for ``average="none"`` on 2-D input), of the floating dtype of
        ``weights``, ``preds`` or ``labels``, else the namespace's default floating dtype.

    Example:
        >>> import numpy as np
        >>> preds = np.array([[1, 0], [1, 1], [0, 0]])
        >>> labels = np.array([[1, 0], [0, 1], [1, 0]])
        >>> accuracy_score(preds, labels, average="none").tolist()
        [0.3333333333333333, 1.0]
"""


def hamming_loss(preds: Array, labels: Array, *, weights: Array | None = None) -> Array:
    """(preds, labels) — note: the reverse of scikit-learn's (y_true, y_pred).

    Fraction of wrong label decisions: ``Σ_b w_b·#{l: p_bl ≠ y_bl} / (L·Σ_b w_b)``.

    scikit-learn's ``hamming_loss`` (``1 − accuracy_score(average="micro")``).

    Args:
        preds: hard predictions ``(B, L)`` or ``(B,)``, 0/1.
        labels: same shape.
        weights: ``None`` or per-example non-negative weights ``(B,)`` or ``(B, 1)``.

    Returns:
        A 0-d array (floating dtype as in :func:`f1_score`).

    Example:
        >>> import numpy as np
        >>> float(hamming_loss(np.array([[1, 0], [1, 1]]), np.array([[1, 0], [0, 1]])))
        0.25
    """
    h = _Hard(preds, labels, weights)
    xp = h.xp
    wrong = xp.astype(xp.not_equal(h.p, h.y), h.dtype)
    per_example = xp.mean(wrong, axis=1)
    return h.out(_average(xp, per_example, h.w))


def subset_accuracy(preds: Array, labels: Array, *, weights: Array | None = None) -> Array:
    """(preds, labels) — note: the reverse of scikit-learn's (y_true, y_pred).

    Exact-match ratio: the (weighted) fraction of examples whose every label is right.

    scikit-learn's ``accuracy_score`` on multi-label input (plain accuracy on ``(B,)`` input).

    Args:
        preds: hard predictions ``(B, L)`` or ``(B,)``, 0/1.
        labels: same shape.
        weights: ``None`` or per-example non-negative weights ``(B,)`` or ``(B, 1)``.

    Returns:
        A 0-d array (floating dtype as in :func:`f1_score`).

    Example:
        >>> import numpy as np
        >>> float(subset_accuracy(np.array([[1, 0], [1, 1]]), np.array([[1, 0], [0, 1]])))
        0.5
    """
    h = _Hard(preds, labels, weights)
    xp = h.xp
    exact = xp.astype(xp.all(xp.equal(h.p, h.y), axis=1), h.dtype)
    return h.out(_average(xp, exact, h.w))


# --------------------------------------------------------------------------------------------
# Score-based metrics, read off the sorted cut points (metricloss._cuts)
# --------------------------------------------------------------------------------------------


def _scored(scores: Array, labels: Array | None, weights: Array | None, function: str
            ) -> Scored | StateScores:
    """The validated ``(scores, labels, weights)``, or a :class:`~metricloss.CurveState` in
    their place (``labels`` and ``weights`` then ``None``)."""
    if isinstance(scores, CurveState):
        return StateScores(scores, labels, weights, function)
    return Scored(scores, labels, weights)


def _score_metric(
    sc: Scored | StateScores,
    average: str,
    per_row: Callable[[Cuts], Array],
    undefined: Callable[[Cuts], Array] | None = None,
    undefined_message: str = "",
) -> Array:
    """scikit-learn's ``_average_binary_score`` around a per-row metric of the cut points."""
    xp = sc.xp
    _check_average(average, sc.shape, SCORE_AVERAGES)
    if isinstance(sc, StateScores):  # a CurveState: its bins are the cut table
        cuts = sc.cuts(average)
    else:
        s, y = sc.s, sc.y
        cuts = Cuts(xp, rows(xp, s, average), rows(xp, y, average),
                    row_weights(xp, sc.w, s, average), sc.dtype)
    values = per_row(cuts)
    if undefined is not None and sc.eager and bool(xp.any(undefined(cuts))):
        warn(undefined_message)
    if len(sc.shape) == 1 or average == "micro":
        return sc.out(xp.reshape(values, ()))
    if average == "none":
        return sc.out(values)
    if average == "macro":
        return sc.out(xp.mean(values))
    if average == "weighted":
        weight = cuts.pos  # support, weighted by the per-example weights
    else:  # samples
        if sc.w is None:
            return sc.out(xp.mean(values))
        weight = sc.w
    zero = weight == 0
    values = xp.where(zero, xp.zeros_like(values), values)
    total = xp.sum(weight)
    safe = xp.where(total != 0, total, xp.ones_like(total))
    result = xp.sum(values * weight) / safe
    # No support at all: scikit-learn returns 0 (weighted) and raises (samples; here NaN).
    empty = 0.0 if average == "weighted" else math.nan
    return sc.out(xp.where(total != 0, result, xp.full_like(result, empty)))


def _roc_auc_rows(cuts: Cuts) -> Array:
    xp = cuts.xp
    tp_ge, fp_ge = cuts.group_counts()
    yf = xp.astype(cuts.y_sorted, cuts.dtype)
    wp, wn = yf, 1.0 - yf
    if cuts.w_sorted is not None:
        wp, wn = wp * cuts.w_sorted, wn * cuts.w_sorted
    pos, neg = cuts.pos, cuts.neg
    # Pairs (p, n) with s_p > s_n count 1 and ties 1/2:
    #   0.5·[Σ_n w_n·#pos(s ≥ s_n) + Σ_p w_p·#neg(s < s_p)].
    pairs = 0.5 * (xp.sum(wn * tp_ge, axis=1)
                   + xp.sum(wp * (xp.reshape(neg, (-1, 1)) - fp_ge), axis=1))
    defined = xp.logical_and(pos > 0, neg > 0)
    area = pos * neg
    auc = pairs / xp.where(defined, area, xp.ones_like(area))
    return xp.where(defined, auc, xp.full_like(auc, math.nan))


def _undefined_auc(cuts: Cuts) -> Array:
    return cuts.xp.logical_or(cuts.pos == 0, cuts.neg == 0)


def _partial_roc_auc_rows(cuts: Cuts, max_fpr: float) -> Array:
    """The area under each row's ROC curve over ``FPR ∈ [0, max_fpr]``, McClish-standardised
    (scikit-learn's ``roc_auc_score(max_fpr=...)``).

    Every sorted element ``i`` is one step of the curve, from the cut ``i + 1`` to the cut
    ``i``; inside a tie group the steps are spread evenly along the group's diagonal (the
    curve has one point per distinct score), so the sum of the steps' trapezoids is the
    trapezoidal area, and each step is clipped at ``max_fpr`` with the linear interpolation
    scikit-learn uses at the boundary. ``O(n)`` after the sort, fixed shapes.
    """
    xp = cuts.xp
    it = cuts.index.dtype
    starts = cuts.valid[:, :-1]
    index = cuts.index[:, :-1]
    n = cuts.index[:, -1:]
    group = cumulative_sum(xp, xp.astype(starts, it), axis=1) - 1
    start_of = xp.sort(xp.where(starts, index, n), axis=1)
    start_of = xp.concat([start_of, n + xp.zeros_like(start_of[:, :1])], axis=1)
    gs, ge = take(xp, start_of, group), take(xp, start_of, group + 1)
    dt = cuts.dtype
    size = xp.astype(ge - gs, dt)
    before = xp.astype(ge - index, dt) - 1.0  # the group's elements above i (cut i + 1)
    pos = xp.reshape(cuts.pos, (-1, 1))
    neg = xp.reshape(cuts.neg, (-1, 1))
    pos = xp.where(pos > 0, pos, xp.ones_like(pos))
    neg = xp.where(neg > 0, neg, xp.ones_like(neg))
    fp_hi, fp_lo = take(xp, cuts.fp, gs) / neg, take(xp, cuts.fp, ge) / neg
    tp_hi, tp_lo = take(xp, cuts.tp, gs) / pos, take(xp, cuts.tp, ge) / pos
    dx, dy = (fp_hi - fp_lo) / size, (tp_hi - tp_lo) / size
    x0, y0 = fp_lo + before * dx, tp_lo + before * dy
    x1 = x0 + dx
    top = xp.where(x1 < max_fpr, x1, xp.full_like(x1, max_fpr))
    width = xp.where(top > x0, top - x0, xp.zeros_like(x0))
    slope = dy / xp.where(dx > 0, dx, xp.ones_like(dx))
    y_top = y0 + slope * width
    partial = xp.sum(width * (y0 + y_top), axis=1) * 0.5
    low, high = 0.5 * max_fpr ** 2, max_fpr
    value = 0.5 * (1.0 + (partial - low) / (high - low))
    defined = xp.logical_and(cuts.pos > 0, cuts.neg > 0)
    return xp.where(defined, value, xp.full_like(value, math.nan))


def roc_auc_score(
    scores: Array | CurveState,
    labels: Array | None = None,
    *,
    average: str = "macro",
    weights: Array | None = None,
    max_fpr: float | None = None,
) -> Array:
    """(scores, labels) — note: the reverse of scikit-learn's (y_true, y_score).

    Area under the ROC curve, per label, from scores; ties count one half.

    .. math::

        \\mathrm{AUC} = \\frac{Σ_{p ∈ pos} Σ_{n ∈ neg} w_p w_n
            ([s_p > s_n] + \\tfrac12 [s_p = s_n])}{(Σ_{pos} w)(Σ_{neg} w)}

    which is the trapezoidal area under scikit-learn's ``roc_curve`` (one point per distinct
    score). Computed by sorting each label once (``O(B log B)``); fixed shapes, traceable.

    A label with a single class has no ROC curve: its AUC is ``nan`` (with an
    :class:`UndefinedMetricWarning` in eager mode), as in scikit-learn, and ``nan`` propagates
    into the ``macro`` mean (use ``average="none"`` and drop them, or ``"weighted"``).

    **From a stream.** ``roc_auc_score(state, ...)`` with a :class:`~metricloss.CurveState` (from
    :func:`~metricloss.curve_state_update`; no ``labels``, no ``weights``) reads the same
    metric off the state's histograms, as if every score were rounded down to its bin's edge
    (``average="samples"`` is refused: the state keeps no example).

    Args:
        scores: ``(B, L)`` or ``(B,)`` floating scores (logits or probabilities), finite; or a
            :class:`~metricloss.CurveState`.
        labels: same shape, 0/1 (bool, int or float).
        average: ``"macro"`` (default), ``"micro"`` (all pairs of the flattened scores),
            ``"weighted"`` (by the support of each label; 0 if no label has a positive),
            ``"samples"`` (the AUC of each example over its labels, then the mean weighted by
            ``weights``), ``"none"`` (per label ``(L,)``).
        weights: ``None`` or per-example non-negative weights ``(B,)`` or ``(B, 1)``.
        max_fpr: ``None`` (the full area) or ``β ∈ (0, 1]``: the standardised partial AUC
            over ``FPR ≤ β``, scikit-learn's ``max_fpr``: the area ``A_β`` under the curve
            up to ``β`` (linearly interpolated at ``β``), with McClish's correction
            ``½·(1 + (A_β − β²/2) / (β − β²/2))`` (0.5 for a random ranking, 1 for a
            perfect one). ``β = 1`` is the full area.

    Returns:
        A 0-d array (``(L,)`` for ``"none"``), in the scores' dtype (float32 for half
        precision), on their device.

    Example:
        >>> import numpy as np
        >>> scores = np.array([0.1, 0.4, 0.35, 0.8])
        >>> float(roc_auc_score(scores, np.array([0, 0, 1, 1])))
        0.75
        >>> round(float(roc_auc_score(scores, np.array([0, 0, 1, 1]), max_fpr=0.5)), 6)
        0.666667

    Reference:
        McClish, "Analyzing a portion of the ROC curve", Medical Decision Making 9(3), 1989.
    """
    sc = _scored(scores, labels, weights, "roc_auc_score")
    if max_fpr is not None and max_fpr != 1:
        beta = check_number("max_fpr", max_fpr, low=0.0, low_open=True, high=1.0)
        return _score_metric(sc, average, lambda cuts: _partial_roc_auc_rows(cuts, beta),
                             _undefined_auc,
                             "Only one class is present in labels for some label (or example); "
                             "its ROC AUC score is not defined and is set to nan.")
    return _score_metric(sc, average, _roc_auc_rows, _undefined_auc,
                         "Only one class is present in labels for some label (or example); "
                         "its ROC AUC score is not defined and is set to nan.")


def _average_precision_rows(cuts: Cuts) -> Array:
    xp = cuts.xp
    tp_ge, fp_ge = cuts.group_counts()
    yf = xp.astype(cuts.y_sorted, cuts.dtype)
    wp = yf if cuts.w_sorted is None else yf * cuts.w_sorted
    predicted = tp_ge + fp_ge
    precision = tp_ge / xp.where(predicted > 0, predicted, xp.ones_like(predicted))
    pos = cuts.pos
    total = xp.sum(wp * precision, axis=1)
    return xp.where(pos > 0, total / xp.where(pos > 0, pos, xp.ones_like(pos)),
                    xp.zeros_like(pos))


def average_precision_score(
    scores: Array | CurveState,
    labels: Array | None = None,
    *,
    average: str = "macro",
    weights: Array | None = None,
) -> Array:
    """(scores, labels) — note: the reverse of scikit-learn's (y_true, y_score).

    Average precision, per label, from scores: ``AP = Σ_k (R_k − R_{k−1})·P_k``.

    The sum runs over the distinct scores taken as thresholds in decreasing order (tied scores
    form one step), ``P_k``/``R_k`` the precision and recall of predicting positive every score
    ``≥`` the k-th: scikit-learn's ``average_precision_score`` (no interpolation). Equivalently
    ``AP = Σ_{p ∈ pos} w_p·P(s ≥ s_p) / Σ_{pos} w``. Sort-based, fixed shapes, traceable.

    A label with no positive gets ``0`` (scikit-learn's value), with an
    :class:`UndefinedMetricWarning` in eager mode.

    **From a stream.** ``average_precision_score(state, ...)`` with a
    :class:`~metricloss.CurveState` (from :func:`~metricloss.curve_state_update`; no
    ``labels``, no ``weights``) reads the same
    metric off the state's histograms, as if every score were rounded down to its bin's edge
    (``average="samples"`` is refused: the state keeps no example).

    Args:
        scores: ``(B, L)`` or ``(B,)`` floating scores, finite; or a
            :class:`~metricloss.CurveState`.
        labels: same shape, 0/1.
        average: as in :func:`roc_auc_score`.
        weights: ``None`` or per-example non-negative weights ``(B,)`` or ``(B, 1)``.

    Returns:
        A 0-d array (``(L,)`` for ``"none"``), in the scores' dtype (float32 for half
        precision), on their device.

    Example:
        >>> import numpy as np
        >>> scores = np.array([0.1, 0.4, 0.35, 0.8])
        >>> round(float(average_precision_score(scores, np.array([0, 0, 1, 1]))), 6)
        0.833333
    """
    sc = _scored(scores, labels, weights, "average_precision_score")
    return _score_metric(sc, average, _average_precision_rows,
                         lambda cuts: cuts.pos == 0,
                         "No positive class found in labels for some label (or example); "
                         "its average precision is set to 0.")


def recall_at_precision(
    scores: Array | CurveState,
    labels: Array | None = None,
    *,
    target_precision: float,
    average: str = "macro",
    weights: Array | None = None,
) -> Array:
    """(scores, labels) — note: the reverse of scikit-learn's (y_true, y_score).

    The highest recall of any threshold whose precision is at least ``target_precision``.

    .. math::

        \\max \\{ R_k : P_k ≥ α \\}

    over the points ``(P_k, R_k)`` of scikit-learn's ``precision_recall_curve`` (one per
    distinct score, plus ``(1, 0)``: predicting nothing), so the answer is 0 when no threshold
    reaches the target. Exact, sort-based, traceable. The comparison ``P_k ≥ α`` is made in the
    compute dtype (float32 for float32 scores: a precision within one float32 rounding of ``α``
    counts as reaching it). A label with no positive gets 0 (with a warning in eager mode).
    :func:`metricloss.thresholds.tune_thresholds` with ``metric="recall_at_precision"`` returns
    the thresholds that achieve it.

    **From a stream.** ``recall_at_precision(state, ...)`` with a
    :class:`~metricloss.CurveState` (from :func:`~metricloss.curve_state_update`; no
    ``labels``, no ``weights``) reads the same
    metric off the state's histograms, as if every score were rounded down to its bin's edge
    (``average="samples"`` is refused: the state keeps no example).

    Args:
        scores: ``(B, L)`` or ``(B,)`` floating scores, finite; or a
            :class:`~metricloss.CurveState`.
        labels: same shape, 0/1.
        target_precision: the target precision ``α`` in (0, 1].
        average: as in :func:`roc_auc_score`.
        weights: ``None`` or per-example non-negative weights ``(B,)`` or ``(B, 1)``.

    Returns:
        A 0-d array (``(L,)`` for ``"none"``), in the scores' dtype (float32 for half
        precision), on their device.

    Example:
        >>> import numpy as np
        >>> scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
        >>> labels = np.array([1, 0, 1, 1, 0])
        >>> float(recall_at_precision(scores, labels, target_precision=0.75))
        1.0
    """
    target = check_target("target_precision", target_precision)
    sc = _scored(scores, labels, weights, "recall_at_precision")

    def per_row(cuts: Cuts) -> Array:
        xp = cuts.xp
        recall, feasible = feasible_recall(cuts, target)
        return xp.max(xp.where(feasible, recall, xp.zeros_like(recall)), axis=1)

    return _score_metric(sc, average, per_row, lambda cuts: cuts.pos == 0,
                         "No positive class found in labels for some label (or example); "
                         "its recall at precision is set to 0.")


def precision_at_k(
    scores: Array,
    labels: Array,
    *,
    k: int,
    average: str = "samples",
    weights: Array | None = None,
) -> Array:
    """(scores, labels) — note: the reverse of scikit-learn's (y_true, y_score).

    Precision at ``k``: the fraction of positives among each example's ``k`` top-scored
    labels, averaged over examples.

    Ties at the ``k``-th place are broken at random, in expectation: with ``t`` the ``k``-th
    highest score of an example, ``a`` its labels scored above ``t`` and ``T`` those tied at
    ``t``,

    .. math::

        P@k = \\frac{\\#\\{pos ∈ a\\} + \\#\\{pos ∈ T\\}·(k − |a|)/|T|}{k}

    (exact and order-independent; a deterministic tie-break would depend on label order).
    ``O(L log L)`` per example, fixed shapes, traceable.

    Args:
        scores: ``(B, L)`` floating scores, finite.
        labels: same shape, 0/1.
        k: number of top labels, ``1 ≤ k ≤ L``.
        average: ``"samples"`` (mean over examples, weighted by ``weights``; default) or
            ``"none"`` (per example, ``(B,)``).
        weights: ``None`` or per-example non-negative weights ``(B,)`` or ``(B, 1)``.

    Returns:
        A 0-d array (``(B,)`` for ``"none"``), in the scores' dtype (float32 for half
        precision), on their device.

    Example:
        >>> import numpy as np
        >>> scores = np.array([[0.9, 0.1, 0.8, 0.3], [0.2, 0.7, 0.7, 0.1]])
        >>> labels = np.array([[1, 0, 0, 1], [0, 1, 0, 0]])
        >>> precision_at_k(scores, labels, k=2, average="none").tolist()
        [0.5, 0.5]
    """
    sc = Scored(scores, labels, weights)
    xp = sc.xp
    if len(sc.shape) != 2:
        raise ValueError(f"scores must have shape (B, L) for precision_at_k, got {sc.shape}")
    check_choice("average", average, ("samples", "none"))
    num_labels = sc.shape[1]
    k = check_integer("k", k, low=1, high=num_labels)
    s, yf = sc.s, xp.astype(sc.y, sc.dtype)
    kth = xp.sort(s, axis=1)[:, num_labels - k: num_labels - k + 1]
    above = xp.astype(s > kth, sc.dtype)
    tied = xp.astype(s == kth, sc.dtype)
    slots = k - xp.sum(above, axis=1)
    hits = xp.sum(yf * above, axis=1) + xp.sum(yf * tied, axis=1) * slots / xp.sum(tied, axis=1)
    per_example = hits / k
    if average == "none":
        return sc.out(per_example)
    return sc.out(_average(xp, per_example, sc.w))
