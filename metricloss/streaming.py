"""Streaming evaluation: ranking metrics and tuned thresholds from batches, in constant memory.

A :class:`CurveState` holds, per label, the weighted histogram of the positive and of the
negative labels over a fixed grid of score bins. :func:`curve_state_update` adds a batch,
:func:`curve_state_merge` adds two states (two shards, two devices, two workers), and the
ranking metrics and the threshold tuner read a state in place of ``(scores, labels)``::

    state = curve_state_init(num_labels, like=first_batch_scores)
    for scores, labels in batches:
        state = curve_state_update(state, scores, labels)
    average_precision_score(state)            # roc_auc_score(state), recall_at_precision(...)
    thresholds = tune_thresholds(state, metric="f1")
    tp, fp, fn, tn = confusion_counts(state, thresholds)

The state's size, ``2·L·num_bins`` numbers, does not depend on how many rows were seen. Every
function is pure and traceable (``jax.jit``, ``torch.compile(fullgraph=True)``,
``tf.function(jit_compile=True)``), also with an unknown batch size, and the state is a
``NamedTuple`` of two arrays: a JAX pytree, a ``tf.nest`` structure.

**The grid.** Scores are logits. The ``num_bins`` bins are uniform in ``u = z/(4 + |z|)``,
which maps the whole real line (``±inf`` included) onto ``[−1, 1]``: bin ``b`` holds the
scores in ``[e_b, e_{b+1})`` with ``e_b = 4u_b/(1 − |u_b|)``, ``u_b = −1 + 2b/num_bins``
(rounded to float32), so ``e_0 = −inf`` and the last bin ends at ``+inf``. Near a logit of 0
the bins are ``8/num_bins`` wide; at ``|z| = 8`` ``72/num_bins``; no score is ever clipped, so
the well-trained models whose scores pile up at both ends (large ``|z|``) keep a resolution
relative to their scale, where bins uniform in probability (Keras' ``AUC``, torchmetrics'
``thresholds=int``) put every score below ``p = 1/num_bins`` in one bin. docs/streaming.md
measures the error against the exact metrics as a function of ``num_bins``.

**A state is a compressed cut table.** Each bin stands for its scores as if they were all
equal to the bin's left edge ``e_b``: the metrics are the exact metrics (the same cut engine,
:mod:`metricloss._cuts`) of the scores rounded down to the grid. When every score lies on the
grid (:func:`curve_state_edges`) they equal the exact metrics. A threshold tuned from a state
is a bin edge: ``binarize(scores, thresholds)`` reproduces the state's confusion counts exactly
on the data streamed into it.

**Counts.** The histograms are in ``dtype`` (default float64, float32 where the namespace has no
float64: JAX without x64): unweighted counts are exact up to ``2**53`` (``2**24`` in float32)
per bin.

**Across devices.** ``curve_state_update(..., all_reduce=f)`` sums each batch's histogram across
replicas (``f`` as in the losses: ``lambda x: jax.lax.psum(x, "batch")``, ...): every replica
holds the state of the global stream. Or update each replica's own state and sum the states
once at the end (``all_reduce`` of each field, or :func:`curve_state_merge` of gathered states).

Reference:
    Davis and Goadrich, "The relationship between Precision-Recall and ROC curves", ICML 2006
    (the curves' points are confusion counts at cuts; ties form one point).
"""

from __future__ import annotations

import math
import struct
from typing import Any, NamedTuple

from metricloss._checks import check_integer, check_same_shape, require_array
from metricloss._cuts import (
    Cuts,
    as_bool,
    broadcast,
    check_binary,
    prepare_weights,
    static,
    to_2d,
)
from metricloss._namespace import (
    Array,
    Namespace,
    _library_of_namespace,
    compute_dtype,
    device_of,
    index_dtype,
    is_eager,
    namespace_of,
    resolve_namespace,
    segment_sum,
)
from metricloss._sync import check_all_reduce

__all__ = [
    "DEFAULT_NUM_BINS",
    "STATE_METRICS",
    "CurveState",
    "curve_state_edges",
    "curve_state_init",
    "curve_state_merge",
    "curve_state_update",
    "state_metric",
]

DEFAULT_NUM_BINS = 1024
"""Bins per label of :func:`curve_state_init` (docs/streaming.md: the error it gives)."""

GRID_SCALE = 4.0
"""``c`` of the grid ``u = z/(c + |z|)``: the logit at which the bins are twice as wide as at 0
(about ``1.4×``); chosen by the measurements in docs/streaming.md."""


class CurveState(NamedTuple):
    """Per-label weighted histograms of the positive and negative labels over score bins.

    Made by :func:`curve_state_init`, advanced by :func:`curve_state_update`, added by
    :func:`curve_state_merge`; read by :func:`metricloss.average_precision_score`,
    :func:`metricloss.roc_auc_score`, :func:`metricloss.recall_at_precision`,
    :func:`metricloss.tune_thresholds` and :func:`metricloss.confusion_counts` in place of
    ``(scores, labels)``. A ``NamedTuple`` (a JAX pytree, a ``tf.nest`` structure).
    """

    positives: Array
    """``(L, num_bins)``: ``Σ w·[y = 1]`` of the scores in each bin, per label."""
    negatives: Array
    """``(L, num_bins)``: ``Σ w·[y = 0]`` of the scores in each bin, per label."""

    @property
    def num_labels(self) -> int:
        return int(self.positives.shape[0])

    @property
    def num_bins(self) -> int:
        return int(self.positives.shape[1])


# --------------------------------------------------------------------------------------------
# The grid
# --------------------------------------------------------------------------------------------

_EDGES: dict[int, tuple[float, ...]] = {}


def _float32(x: float) -> float:
    return float(struct.unpack("f", struct.pack("f", x))[0])


def _edge_values(num_bins: int) -> tuple[float, ...]:
    """The ``num_bins`` left edges as Python floats (float32 values; the first is ``-inf``):
    the same numbers on every framework and device."""
    found = _EDGES.get(num_bins)
    if found is None:
        values = [-math.inf]
        for b in range(1, num_bins):
            u = (2 * b - num_bins) / num_bins
            values.append(_float32(GRID_SCALE * u / (1.0 - abs(u))))
        found = _EDGES[num_bins] = tuple(values)
    return found


def _edges(xp: Namespace, num_bins: int, dtype: Any, device: Any) -> Array:
    return xp.asarray(list(_edge_values(num_bins)), dtype=dtype, device=device)


def _default_dtype(xp: Namespace) -> Any:
    if _library_of_namespace(xp) == "jax" and xp.asarray(0.0).dtype != xp.float64:
        return xp.float32  # JAX without x64 has no float64
    return xp.float64


def curve_state_edges(num_bins: int = DEFAULT_NUM_BINS, *, like: Array = None, xp: Any = None,
                      dtype: Any = None) -> Array:
    """The left edges ``e_b`` of the ``num_bins`` score bins of a :class:`CurveState`.

    .. math::

        e_b = \\frac{4u_b}{1 − |u_b|},\\quad u_b = −1 + \\frac{2b}{\\mathrm{num\\_bins}}
        \\quad (b = 0, …, \\mathrm{num\\_bins} − 1)

    rounded to float32 (so exact in float32 and float64), ``e_0 = −inf``: bin ``b`` holds the
    scores ``e_b ≤ z < e_{b+1}`` (the last up to ``+inf``). Scores that all lie on these
    edges give a state whose metrics equal the exact ones; a threshold tuned from a state is
    one of them.

    Args:
        num_bins: number of bins, ``≥ 2``.
        like: an array whose library and device the edges take; or
        xp: a module or namespace (``numpy``, ``torch``, ``jax.numpy``, ``tensorflow``);
            neither: NumPy.
        dtype: default float64 (float32 for JAX without x64).

    Returns:
        ``(num_bins,)`` ascending.

    Example:
        >>> curve_state_edges(4).tolist()
        [-inf, -4.0, 0.0, 4.0]
    """
    num_bins = check_integer("num_bins", num_bins, low=2)
    xp = _namespace(like, xp)
    dtype = _default_dtype(xp) if dtype is None else dtype
    device = device_of(like) if like is not None else None
    return _edges(xp, num_bins, dtype, device)


def _namespace(like: Array, xp: Any) -> Namespace:
    if like is None and xp is None:
        try:
            import numpy  # noqa: F401
        except ImportError as error:  # pragma: no cover
            raise TypeError("pass like= (an array) or xp= (an array module): NumPy, the "
                            "default, is not installed") from error
        import array_api_compat.numpy as np_xp

        return np_xp
    return resolve_namespace(xp=xp, like=like)


# --------------------------------------------------------------------------------------------
# Init, update, merge
# --------------------------------------------------------------------------------------------


def curve_state_init(num_labels: int, *, num_bins: int = DEFAULT_NUM_BINS, like: Array = None,
                     xp: Any = None, dtype: Any = None, device: Any = None) -> CurveState:
    """An empty :class:`CurveState`: zero histograms of shape ``(num_labels, num_bins)``.

    Args:
        num_labels: ``L ≥ 1`` (1 for binary scores of shape ``(B,)``).
        num_bins: score bins per label, ``≥ 2`` (default :data:`DEFAULT_NUM_BINS` = 1024;
            the error of the metrics falls as ``1/num_bins``, docs/streaming.md).
        like: an array (e.g. the first batch's scores) whose library and device the state
            takes; or
        xp: a module or namespace (``numpy``, ``torch``, ``jax.numpy``, ``tensorflow``);
            neither: NumPy.
        dtype: of the counts; default float64 (float32 for JAX without x64).
        device: where to create the state (default ``like``'s device, else the library's).

    Returns:
        A :class:`CurveState`.

    Example:
        >>> state = curve_state_init(3, num_bins=8)
        >>> state.positives.shape, state.negatives.dtype
        ((3, 8), dtype('float64'))
    """
    num_labels = check_integer("num_labels", num_labels, low=1)
    num_bins = check_integer("num_bins", num_bins, low=2)
    ns = _namespace(like, xp)
    dtype = _default_dtype(ns) if dtype is None else dtype
    if device is None and like is not None:
        device = device_of(like)
    zeros = ns.zeros((num_labels, num_bins), dtype=dtype, device=device)
    return CurveState(zeros, ns.zeros((num_labels, num_bins), dtype=dtype, device=device))


def check_state(state: Any, name: str = "state") -> Namespace:
    """The namespace of a valid :class:`CurveState` ``state``, or ``TypeError``/``ValueError``
    naming ``name``."""
    if not isinstance(state, CurveState):
        raise TypeError(f"{name} must be a CurveState (from curve_state_init), got "
                        f"{type(state).__name__}")
    require_array(f"{name}.positives", state.positives)
    require_array(f"{name}.negatives", state.negatives)
    ns = namespace_of(**{f"{name}.positives": state.positives,
                         f"{name}.negatives": state.negatives})
    check_same_shape(f"{name}.negatives", state.negatives, f"{name}.positives",
                     state.positives)
    shape = tuple(state.positives.shape)
    if len(shape) != 2 or static(shape[0]) is None or static(shape[1]) is None or shape[1] < 2:
        raise ValueError(f"{name} must hold histograms of static shape (L, num_bins) with "
                         f"num_bins >= 2, got {shape}")
    if not ns.isdtype(state.positives.dtype, "real floating") or (
            state.positives.dtype != state.negatives.dtype):
        raise TypeError(f"{name} must hold floating counts of one dtype, got "
                        f"{state.positives.dtype} and {state.negatives.dtype}")
    return ns


def curve_state_update(
    state: CurveState,
    scores: Array,
    labels: Array,
    *,
    weights: Array | None = None,
    all_reduce: Any = None,
) -> CurveState:
    """(state, scores, labels) — the state after adding a batch of scores and labels.

    .. math::

        P_{l,b} \\mathrel{+}= Σ_i w_i·[y_{il} = 1]·[e_b ≤ z_{il} < e_{b+1}],\\qquad
        N_{l,b} \\mathrel{+}= Σ_i w_i·[y_{il} = 0]·[e_b ≤ z_{il} < e_{b+1}]

    with the edges of :func:`curve_state_edges`. Pure: the state passed in is not changed.

    Args:
        state: a :class:`CurveState` with ``L`` labels.
        scores: ``(B, L)`` (or ``(B,)`` for ``L = 1``) floating scores, logits as everywhere
            in metricloss (any strictly increasing function of them gives other metrics: use
            the logits the losses take). ``±inf`` fall in the end bins; NaN raises (eager).
            ``B = 0`` (an empty batch) leaves the state as it is; ``B`` may be unknown
            (traced).
        labels: same shape, 0/1 (bool, int or float).
        weights: ``None`` or per-example non-negative weights ``(B,)`` or ``(B, 1)``
            (scikit-learn's ``sample_weight``).
        all_reduce: ``None``, or the framework's sum across data-parallel replicas (e.g.
            ``lambda x: jax.lax.psum(x, "batch")``): each batch's histogram is summed across
            replicas (one collective per update), so every replica's state is the global
            stream's.

    Returns:
        The new :class:`CurveState` (same library, device, dtype and shape).

    Example:
        >>> import numpy as np
        >>> state = curve_state_init(1, num_bins=4)
        >>> state = curve_state_update(state, np.array([-5.0, 0.5, 7.0]), np.array([0, 1, 1]))
        >>> state.positives.tolist(), state.negatives.tolist()
        ([[0.0, 0.0, 1.0, 1.0]], [[1.0, 0.0, 0.0, 0.0]])
    """
    check_state(state)
    require_array("scores", scores)
    require_array("labels", labels)
    all_reduce = check_all_reduce(all_reduce)
    xp = namespace_of(state=state.positives, scores=scores, labels=labels, weights=weights)
    check_same_shape("labels", labels, "scores", scores)
    shape = tuple(scores.shape)
    num_labels, num_bins = state.num_labels, state.num_bins
    if len(shape) not in (1, 2) or (len(shape) == 1 and num_labels != 1) or (
            len(shape) == 2 and static(shape[1]) != num_labels):
        raise ValueError(f"scores must have shape (B, {num_labels})"
                         + (" or (B,)" if num_labels == 1 else "")
                         + f" for a state of {num_labels} label(s), got {shape}")
    if not xp.isdtype(scores.dtype, "real floating"):
        raise TypeError(f"scores must have a floating-point dtype, got {scores.dtype}")
    if is_eager(scores) and bool(xp.any(xp.isnan(scores))):
        raise ValueError("scores must not hold NaN")
    check_binary(xp, "labels", labels)
    dtype = state.positives.dtype
    w = prepare_weights(xp, weights, shape[0], dtype)
    device = device_of(state.positives)
    # Compare in the scores' compute dtype: the edges are float32 numbers, exact in it.
    s = to_2d(xp, xp.astype(scores, compute_dtype(xp, scores.dtype), copy=False))
    y = to_2d(xp, as_bool(xp, labels))
    finite_edges = _edges(xp, num_bins, s.dtype, device)[1:]
    it = index_dtype(xp)
    bins = xp.astype(xp.searchsorted(finite_edges, s, side="right"), it)
    label_offset = xp.arange(num_labels, dtype=it, device=device) * num_bins
    negative_offset = xp.astype(xp.logical_not(y), it) * (num_labels * num_bins)
    ids = xp.reshape(bins + label_offset + negative_offset, (-1,))
    data = None if w is None else xp.reshape(broadcast(xp, xp.reshape(w, (-1, 1)), s), (-1,))
    hist = segment_sum(xp, data, ids, 2 * num_labels * num_bins, dtype)
    if all_reduce is not None:
        hist = all_reduce(hist)
    hist = xp.reshape(hist, (2, num_labels, num_bins))
    return CurveState(state.positives + hist[0, ...], state.negatives + hist[1, ...])


def curve_state_merge(a: CurveState, b: CurveState) -> CurveState:
    """The state of both streams: the histograms added.

    ``curve_state_merge(update(init, x1), update(init, x2))`` equals
    ``update(update(init, x1), x2)``: merge the states of shards, devices or workers, in any
    order.

    Args:
        a, b: :class:`CurveState` of the same shape, library and dtype.

    Returns:
        A :class:`CurveState`.

    Example:
        >>> import numpy as np
        >>> a = curve_state_update(curve_state_init(1, num_bins=4), np.array([1.0]),
        ...                        np.array([1]))
        >>> curve_state_merge(a, a).positives.tolist()
        [[0.0, 0.0, 2.0, 0.0]]
    """
    check_state(a, "a")
    check_state(b, "b")
    namespace_of(a=a.positives, b=b.positives)
    if tuple(a.positives.shape) != tuple(b.positives.shape):
        raise ValueError(f"a and b must have the same shape (num_labels, num_bins), got "
                         f"{tuple(a.positives.shape)} and {tuple(b.positives.shape)}")
    if a.positives.dtype != b.positives.dtype:
        raise TypeError(f"a and b must have the same dtype, got {a.positives.dtype} and "
                        f"{b.positives.dtype}")
    return CurveState(a.positives + b.positives, a.negatives + b.negatives)


# --------------------------------------------------------------------------------------------
# The state as a cut table (read by metricloss.metrics and metricloss.thresholds)
# --------------------------------------------------------------------------------------------


def state_cuts(xp: Namespace, state: CurveState, pooled: bool) -> Cuts:
    """The cut table of ``state``: one row per label (or one for every label, ``pooled``),
    each bin two elements (its positives, then its negatives, weighted by their counts) at the
    score of its left edge, already in ascending order. Tied scores (one bin) form one
    threshold: the exact engine's rows of the scores rounded down to the grid."""
    p, n = state.positives, state.negatives
    if pooled:
        p = xp.sum(p, axis=0, keepdims=True)
        n = xp.sum(n, axis=0, keepdims=True)
    rows, num_bins = int(p.shape[0]), int(p.shape[1])
    dtype = p.dtype
    device = device_of(p)
    edges = _edges(xp, num_bins, dtype, device)
    s = xp.reshape(xp.stack([edges, edges], axis=1), (1, 2 * num_bins))
    s = xp.broadcast_to(s, (rows, 2 * num_bins))
    w = xp.reshape(xp.stack([p, n], axis=2), (rows, 2 * num_bins))
    alternate = xp.asarray([True, False], device=device)
    y = xp.broadcast_to(xp.reshape(xp.stack([alternate] * num_bins, axis=0),
                                   (1, 2 * num_bins)), (rows, 2 * num_bins))
    return Cuts(xp, s, y, w, dtype, presorted=True)


class StateScores:
    """A :class:`CurveState` in the place of :class:`metricloss._cuts.Scored`: what the
    score-based metrics read (``xp``, ``shape``, ``dtype``, ``w``, ``eager``, ``out``) and
    :meth:`cuts` instead of the sorted scores."""

    def __init__(self, state: CurveState, labels: Any = None, weights: Any = None,
                 function: str = "this metric") -> None:
        if labels is not None:
            raise TypeError(f"{function}(state, ...) takes no labels: a CurveState carries "
                            f"them (call {function}(state) or {function}(scores, labels))")
        if weights is not None:
            raise TypeError(f"{function}(state, ...) takes no weights: give them to "
                            "curve_state_update")
        self.xp = check_state(state)
        self.state = state
        self.shape = (None, state.num_labels)
        self.dtype = self.out_dtype = state.positives.dtype
        self.w = None
        self.eager = is_eager(state.positives)

    def cuts(self, average: str) -> Cuts:
        if average == "samples":
            raise ValueError("average='samples' needs the scores of each example; a "
                             "CurveState holds per-label histograms (use 'macro', 'micro', "
                             "'weighted' or 'none')")
        return state_cuts(self.xp, self.state, pooled=average == "micro")

    def out(self, x: Array) -> Array:
        return self.xp.astype(x, self.out_dtype, copy=False)


def state_confusion_counts(state: CurveState, thresholds: Any, *, weights: Any = None,
                           axis: int = 0) -> tuple[Array, Array, Array, Array]:
    """``confusion_counts(state, thresholds)``: the counts of predicting positive every bin
    whose left edge is ``≥`` the label's threshold (exact for thresholds on the grid, such as
    those tuned from a state; a threshold inside a bin counts that bin as negative)."""
    if weights is not None:
        raise TypeError("confusion_counts(state, thresholds) takes no weights: give them to "
                        "curve_state_update")
    if axis != 0:
        raise ValueError("confusion_counts(state, thresholds) gives per-label counts only "
                         f"(axis=0), got axis={axis!r}")
    xp = check_state(state)
    if thresholds is None or isinstance(thresholds, bool) or not (
            isinstance(thresholds, int | float) or hasattr(thresholds, "shape")):
        raise TypeError(f"thresholds must be a number or an array, got "
                        f"{type(thresholds).__name__}")
    num_labels, num_bins = state.num_labels, state.num_bins
    dtype = state.positives.dtype
    device = device_of(state.positives)
    if isinstance(thresholds, int | float):
        if math.isnan(thresholds):
            raise ValueError("thresholds must not be NaN")
        t = xp.full((num_labels,), float(thresholds), dtype=dtype, device=device)
    else:
        namespace_of(state=state.positives, thresholds=thresholds)
        if not xp.isdtype(thresholds.dtype, ("real floating", "integral")):
            raise TypeError(f"thresholds must be real numbers, got {thresholds.dtype}")
        if tuple(thresholds.shape) not in ((), (num_labels,)):
            raise ValueError(f"thresholds must have shape () or ({num_labels},), got "
                             f"{tuple(thresholds.shape)}")
        if is_eager(thresholds) and bool(xp.any(xp.isnan(xp.astype(thresholds, dtype)))):
            raise ValueError("thresholds must not be NaN")
        t = xp.broadcast_to(xp.astype(thresholds, dtype), (num_labels,))
    edges = _edges(xp, num_bins, dtype, device)
    predicted = xp.astype(xp.reshape(edges, (1, -1)) >= xp.reshape(t, (-1, 1)), dtype)
    p, n = state.positives, state.negatives
    rest = 1.0 - predicted
    return (xp.sum(p * predicted, axis=1), xp.sum(n * predicted, axis=1),
            xp.sum(p * rest, axis=1), xp.sum(n * rest, axis=1))


# --------------------------------------------------------------------------------------------
# One metric of a state, by name (what the adapters' metric objects report)
# --------------------------------------------------------------------------------------------

STATE_METRICS = ("average_precision", "roc_auc", "recall_at_precision", "tuned_f1")
"""What an adapter's streaming metric object reports (:func:`state_metric`)."""


def check_state_metric(metric: str, average: str, target_precision: float | None) -> None:
    """``ValueError`` for an unknown ``metric``/``average`` or a misplaced
    ``target_precision`` (checked when an adapter is built, before any data)."""
    from metricloss._checks import check_choice

    check_choice("metric", metric, STATE_METRICS)
    averages = ("macro", "micro", "none") if metric == "tuned_f1" else (
        "macro", "micro", "weighted", "none")
    check_choice("average", average, averages)
    if (metric == "recall_at_precision") != (target_precision is not None):
        raise ValueError("target_precision is required by metric='recall_at_precision' and "
                         "used by no other metric")


def state_metric(state: CurveState, metric: str, *, average: str = "macro",
                 target_precision: float | None = None) -> Array:
    """One metric of ``state`` by name (:data:`STATE_METRICS`).

    ``average_precision``, ``roc_auc``, ``recall_at_precision`` (with ``target_precision``):
    the functions of :mod:`metricloss.metrics` on the state. ``tuned_f1``: the F1 of each label
    at its threshold tuned from the state (:func:`metricloss.tune_thresholds`), ``macro``
    (mean over labels), ``micro`` (of the counts summed over labels at those thresholds) or
    ``none`` (per label): the F1 a stream reaches once binarized at its best thresholds.

    Example:
        >>> import numpy as np
        >>> state = curve_state_update(curve_state_init(1, num_bins=8),
        ...                            np.array([-2.0, 0.5, 3.0]), np.array([0, 1, 1]))
        >>> float(state_metric(state, "tuned_f1"))
        1.0
    """
    from metricloss import metrics, thresholds

    check_state_metric(metric, average, target_precision)
    if metric == "average_precision":
        return metrics.average_precision_score(state, average=average)
    if metric == "roc_auc":
        return metrics.roc_auc_score(state, average=average)
    if metric == "recall_at_precision":
        assert target_precision is not None
        return metrics.recall_at_precision(state, target_precision=target_precision,
                                           average=average)
    xp = check_state(state)
    tuned, values = thresholds.tune_thresholds(state, metric="f1", return_values=True)
    if average == "none":
        return values
    if average == "macro":
        return xp.mean(values)
    tp, fp, fn, _ = state_confusion_counts(state, tuned)
    tp, fp, fn = xp.sum(tp), xp.sum(fp), xp.sum(fn)
    den = 2.0 * tp + fp + fn
    return xp.where(den > 0, 2.0 * tp / xp.where(den > 0, den, xp.ones_like(den)),
                    xp.zeros_like(den))
