"""The sorted-cut engine and input preparation shared by :mod:`metricloss.metrics` and
:mod:`metricloss.thresholds` (private).

Each row of scores is sorted once; cumulative sums give the exact confusion counts of every cut
point (:class:`Cuts`). The score-based metrics (ROC-AUC, average precision, recall at precision)
and threshold tuning read their values off these counts.

Traceable with an unknown batch size: no batch-dependent size is read from a Python ``shape``
where it may be ``None`` (``tf.function`` signatures) or symbolic (``torch.compile(dynamic=True)``,
``jax.export``); such sizes come from the arrays at run time (:func:`length`, :func:`positions`).
Value checks and warnings read data and so run only in eager mode.
"""

from __future__ import annotations

import warnings
from typing import Any

from metricloss._checks import check_number, check_same_shape, require_array
from metricloss._namespace import (
    Array,
    Namespace,
    compute_dtype,
    cumulative_sum,
    device_of,
    index_dtype,
    is_eager,
    namespace_of,
    take_along_axis,
)

ORDER_NOTE = ("metricloss takes (scores, labels) / (preds, labels): the reverse of "
              "scikit-learn's (y_true, y_score) / (y_true, y_pred)")


class UndefinedMetricWarning(UserWarning):
    """A metric was ill-defined on the data (a zero denominator, a label with one class) and was
    set to a documented value. Issued only in eager mode."""


def warn(message: str, stacklevel: int = 4) -> None:
    warnings.warn(message, UndefinedMetricWarning, stacklevel=stacklevel)


# --------------------------------------------------------------------------------------------
# Sizes and dtypes
# --------------------------------------------------------------------------------------------


def eager(*arrays: Array | None) -> bool:
    return all(is_eager(a) for a in arrays if a is not None)


def static(n: Any) -> int | None:
    """``n`` if it is a concrete Python ``int``; ``None`` for an unknown (``None``) or symbolic
    (torch ``SymInt``, JAX symbolic dimension) size."""
    return n if isinstance(n, int) and not isinstance(n, bool) else None


def is_static(shape: tuple[Any, ...]) -> bool:
    return all(static(n) is not None for n in shape)


def length(xp: Namespace, x: Array, axis: int, dtype: Any) -> Array | int:
    """The size of ``x`` along ``axis``: the Python ``int`` when it is known, else counted at run
    time (a ``dtype`` array of the shape of a reduction of ``x`` over ``axis``)."""
    n = static(x.shape[axis])
    if n is not None:
        return n
    return xp.sum(xp.ones_like(x, dtype=dtype), axis=axis)


def positions(xp: Namespace, row: Array, dtype: Any) -> Array:
    """``[[0, 1, ..., n]]`` ``(1, n+1)`` for the ``n`` columns of the 2-D ``row``; built at run
    time when ``n`` is unknown."""
    n = static(row.shape[1])
    if n is not None:
        return xp.reshape(xp.arange(n + 1, dtype=dtype, device=device_of(row)), (1, n + 1))
    ones = xp.ones_like(row[:1, :], dtype=dtype)
    return cumulative_sum(xp, ones, axis=1, include_initial=True)


def take(xp: Namespace, x: Array, indices: Array, axis: int = 1) -> Array:
    """``take_along_axis`` along ``axis`` (default the cut axis) for non-negative ``indices``."""
    return take_along_axis(xp, x, indices, axis)


def broadcast(xp: Namespace, x: Array, like: Array) -> Array:
    """``x`` broadcast to the shape of ``like`` (at run time when that shape is not static)."""
    shape = tuple(like.shape)
    if is_static(shape):
        return xp.broadcast_to(x, shape)
    return x + xp.zeros_like(like, dtype=x.dtype)


def default_float(xp: Namespace) -> Any:
    """The namespace's default floating dtype (float64 for NumPy, torch's default, ...)."""
    return xp.asarray(0.0).dtype


def int_dtype(xp: Namespace) -> Any:
    """The namespace's default integer dtype (int64; int32 for JAX without x64, TensorFlow)."""
    return xp.asarray(0).dtype


def floating_of(xp: Namespace, *arrays: Array | None) -> Any:
    for a in arrays:
        if a is not None and xp.isdtype(a.dtype, "real floating"):
            return a.dtype
    return default_float(xp)


# --------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------


def check_layout(name: str, shape: tuple[Any, ...]) -> None:
    """``(B,)`` or ``(B, L)`` with ``B, L ≥ 1`` (an unknown size is not checked)."""
    if len(shape) not in (1, 2):
        raise ValueError(f"{name} must have shape (B,) or (B, L), got {shape}")
    if any(static(n) == 0 for n in shape):
        raise ValueError(f"{name} must hold at least one example and one label, got {shape}")


def _is_binary_dtype(xp: Namespace, x: Array) -> bool:
    return xp.isdtype(x.dtype, "bool")


def holds_non_binary(xp: Namespace, x: Array) -> bool:
    """Eager only: whether the bool/int/float ``x`` holds a value other than 0 and 1."""
    if _is_binary_dtype(xp, x) or not is_eager(x):
        return False
    return bool(xp.any(xp.logical_and(x != 0, x != 1)))


def check_binary(xp: Namespace, name: str, x: Array, hint: str = "") -> None:
    """``TypeError`` unless ``x`` is bool, integer or floating; ``ValueError`` (eager) unless its
    values are 0 or 1."""
    if _is_binary_dtype(xp, x):
        return
    if not xp.isdtype(x.dtype, ("integral", "real floating")):
        raise TypeError(f"{name} must be bool, integer or floating, got {x.dtype}")
    if holds_non_binary(xp, x):
        raise ValueError(f"{name} must hold only 0 and 1; found other values{hint}")


def check_scores(xp: Namespace, name: str, x: Array, other: Array | None = None) -> None:
    """``TypeError`` unless ``x`` is floating (naming the argument order when ``other``, the
    labels, is floating: a swapped call); ``ValueError`` (eager) for NaN or ±inf."""
    if not xp.isdtype(x.dtype, "real floating"):
        swapped = other is not None and xp.isdtype(other.dtype, "real floating")
        hint = f" (are the arguments swapped? {ORDER_NOTE})" if swapped else ""
        raise TypeError(f"{name} must have a floating-point dtype, got {x.dtype}{hint}")
    if is_eager(x) and not bool(xp.all(xp.isfinite(x))):
        raise ValueError(f"{name} must be finite; found NaN or infinite values")


def as_bool(xp: Namespace, x: Array) -> Array:
    return x if xp.isdtype(x.dtype, "bool") else x != 0


def to_2d(xp: Namespace, x: Array) -> Array:
    return xp.reshape(x, (-1, 1)) if len(x.shape) == 1 else x


def prepare_weights(xp: Namespace, weights: Array | None, batch: Any, dtype: Any
                    ) -> Array | None:
    """Per-example weights, given as ``(B,)`` or ``(B, 1)``, returned as ``(B,)`` in ``dtype``;
    NaN, ±inf or negative values raise (eager).

    The exact metrics weigh examples, as scikit-learn's ``sample_weight``; the losses' shared
    :func:`metricloss._checks.prepare_weights` also takes per-element ``(B, L)`` weights, which
    have no meaning here, so this per-example form stays.
    """
    if weights is None:
        return None
    if not hasattr(weights, "shape"):
        raise TypeError(f"weights must be None or an array of shape (B,) or (B, 1) (one weight "
                        f"per example), got {type(weights).__name__}")
    if not xp.isdtype(weights.dtype, ("integral", "real floating")):
        raise TypeError(f"weights must be numeric, got {weights.dtype}")
    shape = tuple(weights.shape)
    b = static(batch)
    n0 = static(shape[0]) if shape else None
    if (len(shape) not in (1, 2) or (len(shape) == 2 and static(shape[1]) != 1)
            or (b is not None and n0 is not None and n0 != b)):
        shown = b if b is not None else "B"
        raise ValueError(f"weights must have shape ({shown},) or ({shown}, 1) (one weight per "
                         f"example), got {shape}")
    w = xp.astype(xp.reshape(weights, (-1,)) if len(shape) == 2 else weights, dtype)
    if is_eager(w):
        if not bool(xp.all(xp.isfinite(w))):
            raise ValueError("weights must be finite; found NaN or infinite values")
        if bool(xp.any(w < 0)):
            raise ValueError("weights must be non-negative; found negative values")
    return w


def check_target(name: str, value: Any) -> float:
    """A target precision in (0, 1]."""
    return check_number(name, value, low=0, high=1, low_open=True)


class Scored:
    """Validated score inputs: ``s`` ``(B, L)`` in the compute dtype, ``y`` bool, ``w`` ``(B,)``
    or None; results come out in ``out_dtype`` (float32 for half-precision scores)."""

    def __init__(self, scores: Array, labels: Array, weights: Array | None,
                 scores_name: str = "scores"):
        require_array(scores_name, scores)
        require_array("labels", labels)
        xp = namespace_of(**{scores_name: scores, "labels": labels, "weights": weights})
        check_same_shape("labels", labels, scores_name, scores)
        shape = tuple(scores.shape)
        check_layout(scores_name, shape)
        check_scores(xp, scores_name, scores, labels)
        hint = ""
        if holds_non_binary(xp, labels) and not holds_non_binary(xp, scores):
            hint = (f"; {scores_name} hold only 0 and 1, so the arguments look swapped "
                    f"({ORDER_NOTE})")
        check_binary(xp, "labels", labels, hint)
        self.xp = xp
        self.shape = shape
        self.dtype = compute_dtype(xp, scores.dtype)
        self.out_dtype = self.dtype
        self.scores_dtype = scores.dtype
        self.s = to_2d(xp, xp.astype(scores, self.dtype, copy=False))
        self.y = to_2d(xp, as_bool(xp, labels))
        self.w = prepare_weights(xp, weights, shape[0], self.dtype)
        self.eager = eager(scores, labels, weights)

    def out(self, x: Array) -> Array:
        return self.xp.astype(x, self.out_dtype, copy=False)


# --------------------------------------------------------------------------------------------
# Rows of independent problems
# --------------------------------------------------------------------------------------------


def transposed(xp: Namespace, x: Array) -> Array:
    """``x.T`` laid out row by row: a strided view (NumPy, PyTorch) is copied, which makes the
    sort and the gathers along each row 2x faster there; free elsewhere."""
    cols = x.shape[1]
    return xp.reshape(xp.reshape(xp.permute_dims(x, (1, 0)), (-1,)), (cols, -1))


def rows(xp: Namespace, x: Array, average: str) -> Array:
    """Rows of independent problems from ``(B, L)``: labels (per-label averages), examples
    (``samples``) or everything flattened (``micro``)."""
    if average == "samples":
        return x
    if average == "micro":
        return xp.reshape(x, (1, -1))
    return transposed(xp, x)


def row_weights(xp: Namespace, w: Array | None, like: Array, average: str) -> Array | None:
    """Weights laid out as :func:`rows` lays out the data ``like`` ``(B, L)`` (``samples``
    scores unweighted)."""
    if w is None or average == "samples":
        return None
    return rows(xp, broadcast(xp, xp.reshape(w, (-1, 1)), like), average)


# --------------------------------------------------------------------------------------------
# The cuts
# --------------------------------------------------------------------------------------------


class Cuts:
    """Every cut point of each row of scores ``s`` (rows are independent problems).

    Each row is sorted ascending once. Cut ``j`` (``0 ≤ j ≤ n``) predicts positive the ``n − j``
    highest scores (sorted positions ``≥ j``): ``j = n`` predicts nothing, ``j = 0`` everything.
    ``valid[:, j]`` marks the cuts that some threshold realises (``j ∈ {0, n}`` or
    ``s[j−1] < s[j]``: tied scores are one threshold, as in scikit-learn's curves). ``tp``/``fp``
    ``(R, n+1)`` are the counts at each cut (exact integers without weights), ``pos``/``neg``
    ``(R,)`` the row totals, all in the compute dtype. ``index`` ``(1, n+1)`` holds the cut
    numbers ``0..n`` (``index_dtype``).

    Without weights the counts are accumulated in the compute dtype directly when every count
    (``≤ n``) is an exactly representable integer there (``n ≤ 2/eps``: 2^24 in float32), and
    in integers otherwise (or when ``n`` is unknown, under tracing): exact either way, and the
    common case skips two ``(R, n+1)`` casts.

    ``presorted=True``: the rows of ``s`` are already ascending (with ``y`` and ``w`` in the
    same order); the sort is skipped. A :class:`metricloss.CurveState` is read this way, as a
    compressed cut table (one weighted element per bin and class).
    """

    def __init__(self, xp: Namespace, s: Array, y: Array, w: Array | None, dtype: Any,
                 presorted: bool = False):
        self.xp, self.dtype = xp, dtype
        n = static(s.shape[1])
        if presorted:  # rows already ascending (a CurveState's bins: metricloss.streaming)
            self.s, y_sorted = s, y
        else:
            order = xp.argsort(s, axis=1, stable=False)
            self.s = take(xp, s, order)
            y_sorted = take(xp, y, order)
        self.index = positions(xp, s, index_dtype(xp))
        if w is None:
            exact = n is not None and n * float(xp.finfo(dtype).eps) <= 1.0
            count = dtype if exact else int_dtype(xp)
            below = cumulative_sum(xp, xp.astype(y_sorted, count), axis=1, include_initial=True)
            tp = below[:, -1:] - below
            if n is not None:
                remaining = n - xp.arange(n + 1, dtype=count, device=device_of(s))
                remaining = xp.reshape(remaining, (1, n + 1))
            else:
                at = xp.astype(self.index, count)
                remaining = at[:, -1:] - at
            fp = remaining - tp
            if not exact:
                tp, fp = xp.astype(tp, dtype), xp.astype(fp, dtype)
            self.w_sorted = None
        else:
            w_sorted = w if presorted else take(xp, w, order)
            yf = xp.astype(y_sorted, dtype)
            below_p = cumulative_sum(xp, w_sorted * yf, axis=1, include_initial=True)
            below_n = cumulative_sum(xp, w_sorted * (1.0 - yf), axis=1, include_initial=True)
            tp = below_p[:, -1:] - below_p
            fp = below_n[:, -1:] - below_n
            self.w_sorted = w_sorted
        self.tp, self.fp = tp, fp
        self.pos = self.tp[:, 0]
        self.neg = self.fp[:, 0]
        self.y_sorted = y_sorted
        edge = xp.ones_like(self.s[:, :1], dtype=xp.bool)
        self.valid = xp.concat([edge, self.s[:, 1:] != self.s[:, :-1], edge], axis=1)

    def group_counts(self) -> tuple[Array, Array]:
        """Per sorted element ``i``: positives and negatives with score ``≥ s[i]`` (the counts
        of the cut at the start of ``i``'s tie group), each ``(R, n)``."""
        xp = self.xp
        it = self.index.dtype
        starts = self.valid[:, :-1]
        index = self.index[:, :-1]
        n = self.index[:, -1:]
        # Group number of each element, and the positions of the group starts in order
        # (padded with n): a fixed-shape stand-in for unique().
        group = cumulative_sum(xp, xp.astype(starts, it), axis=1) - 1
        start_of = xp.sort(xp.where(starts, index, n), axis=1)
        start = take(xp, start_of, group)
        return (take(xp, self.tp, start),
                take(xp, self.fp, start))


def feasible_recall(cuts: Cuts, target_precision: float) -> tuple[Array, Array]:
    """Per cut: recall ``tp/pos`` and whether precision ``tp/(tp+fp) ≥ target_precision`` (the
    empty cut counts as precision 1, the point scikit-learn's curve ends with)."""
    xp = cuts.xp
    predicted = cuts.tp + cuts.fp
    precision = xp.where(predicted > 0,
                         cuts.tp / xp.where(predicted > 0, predicted, xp.ones_like(predicted)),
                         xp.ones_like(predicted))
    pos = xp.reshape(cuts.pos, (-1, 1))
    recall = cuts.tp / xp.where(pos > 0, pos, xp.ones_like(pos))
    feasible = xp.logical_and(cuts.valid, precision >= target_precision)
    return recall, feasible


__all__ = [
    "ORDER_NOTE",
    "Cuts",
    "Scored",
    "UndefinedMetricWarning",
    "as_bool",
    "broadcast",
    "check_binary",
    "check_layout",
    "check_scores",
    "check_target",
    "eager",
    "feasible_recall",
    "floating_of",
    "int_dtype",
    "length",
    "positions",
    "prepare_weights",
    "row_weights",
    "rows",
    "static",
    "take",
    "to_2d",
    "transposed",
    "warn",
]
