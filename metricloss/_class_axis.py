"""The confusion-matrix losses with a class axis: multi-class classification and dense prediction
(segmentation), ``(N, C, *spatial)`` logits (or channels-last with ``axis=-1``).

Labels are either float arrays of the logits' shape (one-hot or soft) or integer class indices of
that shape without the class axis. Integer labels are never turned into a float one-hot array:

- per-class counts (``macro``, ``none``) compare ``t`` with ``arange(C)`` inside a ``where`` (a
  boolean mask, a quarter of float32 logits' bytes; the standard has no segment sum);
- pooled counts (``micro``, ``samples``) of metrics without ``tn`` gather the true class's
  probability (``take_along_axis``); for a plain softmax ``Σ_c p_c = 1`` makes ``Σ w·p`` the
  weight sum, so ``p`` is read once.

One call runs three named steps: :func:`_prepare` (validate and bring inputs to the compute
form), the soft predictions (:mod:`metricloss._soft_predictions`), then :func:`_per_class_loss`
or :func:`_pooled_loss`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from metricloss._checks import (
    as_float_labels,
    check_choice,
    check_eager_indices,
    check_eager_range,
    check_floating,
    check_integer,
    check_number,
    require_array,
)
from metricloss._namespace import (
    Array,
    Namespace,
    compute_dtype,
    device_of,
    index_dtype,
    is_eager,
    namespace_of,
)
from metricloss._soft_counts import (
    Counts,
    along,
    at_least,
    class_mask,
    counts_of_labels,
    counts_of_true_class,
    loss_of_counts,
    needs_true_negatives,
    sync_counts,
    weighted_mean,
)
from metricloss._soft_predictions import (
    LossOptions,
    class_axis_predictions,
    describe_logits,
    elementwise_complements,
    elementwise_predictions,
)

__all__ = ["VOLUME_WEIGHTS", "class_axis_loss"]

VOLUME_WEIGHTS = ("square", "simple", "uniform")
"""The label-volume class weights of the generalized Dice loss (MONAI's ``w_type``)."""


class _Inputs(NamedTuple):
    """The validated inputs of one class-axis call, in the compute dtype."""

    xp: Namespace
    z: Array  # logits (or probabilities), compute dtype
    y: Array | None  # float labels of z's shape, or None
    t: Array | None  # integer class labels (z's shape without the class axis), or None
    axis: int  # the class axis, non-negative
    w: Array | None  # weights broadcastable to z (ignored positions folded in as 0)
    example_w: Array | None  # per-example weights of the samples mean, or None
    class_weights: Any  # (C,) array, a volume-weights name, or None


def class_axis_loss(
    logits: Array,
    labels: Array,
    opts: LossOptions,
    *,
    weights: Any,
    axis: int | None,
    multiclass: bool,
    ignore_index: int | None,
    class_weights: Any,
    all_reduce: Any = None,
) -> Array:
    """The loss of :func:`metricloss.confusion_metric_loss` with a class axis (``axis``, default
    1). ``multiclass``: softmax over the class axis; otherwise a sigmoid per element. Returns a
    0-d array (``(C,)`` for ``average="none"``) in the compute dtype (float32 for half input)."""
    if multiclass and opts.transform == "sigmoid" and opts.offset != 0.0:
        raise ValueError("offset must be 0 with multiclass=True: softmax ignores a "
                         "shift shared by every class")
    inputs = _prepare(logits, labels, opts, weights=weights, axis=axis,
                      ignore_index=ignore_index, class_weights=class_weights)
    xp, z = inputs.xp, inputs.z
    if not opts.include_background and z.shape[inputs.axis] < 2:
        raise ValueError("include_background=False needs at least 2 classes along the class "
                         f"axis, got {z.shape[inputs.axis]}")
    if any(d == 0 for d in tuple(z.shape) if d is not None):
        # Empty batch, class or spatial axis: loss 0 (per class for "none"), gradient 0.
        keep = (0, inputs.axis) if opts.per_image else (inputs.axis,)
        per_class_axes = tuple(d for d in range(len(z.shape)) if d not in keep)
        zero = xp.sum(z, axis=per_class_axes if opts.average == "none" else None)
        if opts.average == "none" and not opts.include_background:
            zero = zero[..., 1:]
        return zero * 0.0
    if not opts.from_logits:
        check_eager_range(xp, describe_logits(opts), z, 0.0, 1.0)
    q = None  # 1 − p without cancellation, for the metrics that read tn (per element only)
    if multiclass:
        p = class_axis_predictions(xp, z, opts, inputs.axis)
    else:
        p = elementwise_predictions(xp, z, opts)
        if needs_true_negatives(opts.metric):
            q = elementwise_complements(xp, z, opts)
    if (opts.per_image or opts.absent_classes != "keep" or not opts.include_background
            or isinstance(inputs.class_weights, str)):
        return _segmentation_loss(inputs, p, opts, all_reduce)
    if opts.average in ("macro", "none"):
        return _per_class_loss(inputs, p, opts, all_reduce, q=q)
    return _pooled_loss(inputs, p, opts, rows_sum_to_one=multiclass and
                        opts.transform == "sigmoid" and opts.from_logits,
                        all_reduce=all_reduce, q=q)


def _per_class_loss(inputs: _Inputs, p: Array, opts: LossOptions, all_reduce: Any = None, *,
                    q: Array | None = None) -> Array:
    """``average="none"`` (the ``(C,)`` losses) or ``"macro"`` (their mean, weighted by the
    class weights if given): counts over every axis but the class axis."""
    xp, axis = inputs.xp, inputs.axis
    axes = tuple(d for d in range(len(p.shape)) if d != axis)
    need_tn = needs_true_negatives(opts.metric)
    if inputs.t is None:
        counts = counts_of_labels(xp, p, inputs.w, axes, need_tn, y=inputs.y, q=q,
                                  soft=opts.soft_labels)
    else:
        counts = counts_of_labels(xp, p, inputs.w, axes, need_tn,
                                  mask=class_mask(xp, inputs.t, p, axis), q=q)
    counts = sync_counts(xp, counts, all_reduce)
    per_class = loss_of_counts(xp, counts, opts.metric, opts.beta, opts.eps,
                               **opts.loss_keywords())
    if opts.average == "none":
        return per_class
    cw = inputs.class_weights
    if cw is None:
        return xp.mean(per_class)
    return xp.sum(cw * per_class) / at_least(xp, xp.sum(cw), opts.eps)


def _pooled_loss(inputs: _Inputs, p: Array, opts: LossOptions, *, rows_sum_to_one: bool,
                 all_reduce: Any = None, q: Array | None = None) -> Array:
    """``average="micro"`` (counts pooled over every class and position) or ``"samples"``
    (pooled per example, then the mean over examples, weighted by per-example weights). Class
    weights multiply each class's counts before pooling."""
    xp, axis, ndim = inputs.xp, inputs.axis, len(p.shape)
    axes = tuple(range(ndim)) if opts.average == "micro" else tuple(range(1, ndim))
    need_tn = needs_true_negatives(opts.metric)
    cw = inputs.class_weights
    if inputs.t is not None and not need_tn:
        counts = counts_of_true_class(xp, p, inputs.t, inputs.w, cw, axis, axes,
                                      rows_sum_to_one=rows_sum_to_one)
    else:
        w = inputs.w
        if cw is not None:
            cw_along = along(xp, cw, axis, ndim)
            w = cw_along if w is None else w * cw_along
        if inputs.t is None:
            counts = counts_of_labels(xp, p, w, axes, need_tn, y=inputs.y, q=q,
                                      soft=opts.soft_labels)
        else:
            counts = counts_of_labels(xp, p, w, axes, need_tn,
                                      mask=class_mask(xp, inputs.t, p, axis), q=q)
    if opts.average == "micro":
        counts = sync_counts(xp, counts, all_reduce)
    loss = loss_of_counts(xp, counts, opts.metric, opts.beta, opts.eps, **opts.loss_keywords())
    if opts.average == "samples":
        example_w = None if inputs.example_w is None else xp.reshape(inputs.example_w, (-1,))
        loss = weighted_mean(xp, loss, example_w, opts.eps, all_reduce)
    return loss


def _segmentation_loss(inputs: _Inputs, p: Array, opts: LossOptions, all_reduce: Any = None
                       ) -> Array:
    """The segmentation options (``per_image``, ``absent_classes``, ``include_background``,
    label-volume class weights): per-class counts first (``(C,)``, or ``(N, C)`` per image for
    ``per_image`` and ``samples``), then the per-class losses or the weighted pooled counts.

    ``macro``: the (weighted) mean over the classes kept, per image and then over images with
    ``per_image``; ``none``: the ``(C,)``/``(N, C)`` losses; ``micro``/``samples``: the counts
    summed over classes with the class weights (the generalized Dice loss with volume weights).
    """
    xp, axis, ndim = inputs.xp, inputs.axis, len(p.shape)
    per_example = opts.per_image or opts.average == "samples"
    axes = tuple(d for d in range(ndim) if d != axis and not (per_example and d == 0))
    need_tn = needs_true_negatives(opts.metric)
    if inputs.t is None:
        counts = counts_of_labels(xp, p, inputs.w, axes, need_tn, y=inputs.y,
                                  soft=opts.soft_labels)
    else:
        counts = counts_of_labels(xp, p, inputs.w, axes, need_tn,
                                  mask=class_mask(xp, inputs.t, p, axis))
    if not per_example:
        counts = sync_counts(xp, counts, all_reduce)
    num_classes = p.shape[axis]
    keep = None
    if not opts.include_background:
        keep = xp.astype(xp.arange(num_classes, device=device_of(p)) > 0, p.dtype)
    cw = inputs.class_weights
    volume = counts.tp + counts.fn  # Σ w·y per class (per image): constant in p
    if isinstance(cw, str):
        cw = _volume_weights(xp, volume, cw, keep)
    elif keep is not None:
        cw = keep if cw is None else cw * keep
    example_w = None if inputs.example_w is None else xp.reshape(inputs.example_w, (-1,))
    if opts.average in ("micro", "samples"):
        pooled = Counts(*(None if c is None else
                          xp.sum(c if cw is None else c * cw, axis=-1) for c in counts))
        loss = loss_of_counts(xp, pooled, opts.metric, opts.beta, opts.eps,
                              **opts.loss_keywords())
        if opts.average == "samples":
            loss = weighted_mean(xp, loss, example_w, opts.eps, all_reduce)
        return loss
    losses = loss_of_counts(xp, counts, opts.metric, opts.beta, opts.eps,
                            **opts.loss_keywords())
    present = volume > 0.0
    if opts.absent_classes != "keep":
        losses = xp.where(present, losses, xp.zeros_like(losses))
    if opts.average == "none":
        return losses if keep is None else losses[..., 1:]
    w = xp.ones_like(losses) if cw is None else cw * xp.ones_like(losses)
    if opts.absent_classes == "skip":
        w = xp.where(present, w, xp.zeros_like(w))
    mean_over_classes = xp.sum(w * losses, axis=-1) / at_least(xp, xp.sum(w, axis=-1),
                                                                  opts.eps)
    if per_example:
        return weighted_mean(xp, mean_over_classes, example_w, opts.eps, all_reduce)
    return mean_over_classes


def _volume_weights(xp: Namespace, volume: Array, kind: str, keep: Array | None) -> Array:
    """Generalized Dice class weights from the label volumes ``V`` (last axis: classes):
    ``1/V²`` (``square``), ``1/V`` (``simple``) or 1 (``uniform``); a class with ``V = 0``
    takes the largest weight of the classes kept (along the last axis), as MONAI."""
    if kind == "uniform":
        w = xp.ones_like(volume)
    else:
        positive = volume > 0.0
        safe = xp.where(positive, volume, xp.ones_like(volume))
        raw = 1.0 / (safe * safe) if kind == "square" else 1.0 / safe
        raw = xp.where(positive, raw, xp.zeros_like(raw))
        if keep is not None:
            raw = raw * keep
        largest = xp.max(raw, axis=-1, keepdims=True)
        w = xp.where(positive, raw, largest * xp.ones_like(raw))
    return w if keep is None else w * keep


# --------------------------------------------------------------------------------------------
# Step 1: inputs
# --------------------------------------------------------------------------------------------


def _prepare(
    logits: Array,
    labels: Array,
    opts: LossOptions,
    *,
    weights: Any,
    axis: int | None,
    ignore_index: int | None,
    class_weights: Any,
) -> _Inputs:
    """Validate the class-axis inputs and bring them to the compute form: the class axis, the
    labels' form (float or integer indices), weights, class weights, and ``ignore_index`` folded
    into the weights (an ignored position gets weight 0 and a gatherable index 0)."""
    name = describe_logits(opts)
    require_array(name.split(" ")[0], logits)
    require_array("labels", labels)
    cw_array = class_weights if hasattr(class_weights, "shape") else None
    xp = namespace_of(**{name: logits, "labels": labels, "weights": weights,
                         "class_weights": cw_array})
    check_floating(xp, name, logits)
    shape = tuple(logits.shape)
    ndim = len(shape)
    if ndim < 2:
        raise ValueError(f"{name} must have a class axis, shape (N, C, *spatial) or "
                         f"(N, *spatial, C) with axis=-1; got {shape}")
    a = _normalize_axis(1 if axis is None else axis, ndim)
    if ignore_index is not None:
        check_integer("ignore_index", ignore_index)
    num_classes = shape[a]
    index_shape = shape[:a] + shape[a + 1:]
    label_shape = tuple(labels.shape)
    dtype = compute_dtype(xp, logits.dtype)
    # No copy when the dtype is already right (array-api-compat's astype copies by default).
    z = logits if logits.dtype == dtype else xp.astype(logits, dtype)
    y = t = None
    valid = None
    if label_shape == shape and ignore_index is not None:
        # Binary / multi-label masks with a void value: those elements leave every count.
        if xp.isdtype(labels.dtype, "bool"):
            raise TypeError("ignore_index needs integer or floating labels, got bool labels")
        valid = labels != ignore_index
        labels = xp.where(valid, labels, xp.zeros_like(labels))
    if label_shape == shape:
        if labels.dtype == dtype:
            check_eager_range(xp, "labels", labels, 0.0, 1.0)
            y = labels
        else:
            y = as_float_labels(xp, labels, dtype)
    elif label_shape == index_shape:
        if not xp.isdtype(labels.dtype, "integral"):
            raise TypeError(f"labels of shape {label_shape} are class indices and must have an "
                            f"integer dtype, got {labels.dtype}")
        idt = index_dtype(xp)
        t = labels if labels.dtype == idt else xp.astype(labels, idt)
        check_eager_indices(xp, "labels", t, num_classes, ignore=ignore_index)
    else:
        raise ValueError(
            f"labels must have the shape of {name} {shape} (one-hot or soft labels) or "
            f"that shape without the class axis {a}, {index_shape} (integer class indices); "
            f"got {label_shape}"
        )
    w, per_example = _weights(xp, weights, z, a)
    example_w = w if per_example else None
    cw = _class_weights(xp, class_weights, num_classes, dtype, device_of(z))
    if valid is not None:
        keep_elements = xp.astype(valid, dtype)
        w = keep_elements if w is None else w * keep_elements
    if t is not None and ignore_index is not None:
        valid = t != ignore_index
        keep = xp.expand_dims(xp.astype(valid, dtype), axis=a)
        w = keep if w is None else w * keep
        t = xp.where(valid, t, xp.zeros_like(t))  # a gatherable index; its weight is 0
    return _Inputs(xp, z, y, t, a, w, example_w, cw)


def _normalize_axis(axis: Any, ndim: int) -> int:
    """``axis`` as a non-negative class axis of an ``ndim``-dimensional array (not 0)."""
    axis = check_integer("axis", axis)
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis {axis} is out of range for logits of {ndim} dimensions")
    axis %= ndim
    if axis == 0:
        raise ValueError("axis must not be 0: axis 0 of logits is the batch axis")
    return axis


def _weights(xp: Namespace, weights: Any, z: Array, axis: int) -> tuple[Array | None, bool]:
    """Weights as an array broadcastable to ``z`` (class axis of size 1 or C), and whether they
    are per example (a number or shape ``(N,)``: the ``samples`` mean is then weighted).

    Accepted: a number, ``()``, ``(N,)``, ``(N, *spatial)`` (per position) or ``z``'s shape,
    non-negative and finite (checked in eager mode)."""
    if weights is None:
        return None, False
    shape = tuple(z.shape)
    ndim = len(shape)
    index_shape = shape[:axis] + shape[axis + 1:]
    if not hasattr(weights, "shape"):
        value = check_number("weights", weights, low=0.0)
        return xp.full((1,) * ndim, value, dtype=z.dtype, device=device_of(z)), True
    if not xp.isdtype(weights.dtype, ("integral", "real floating")):
        raise TypeError(f"weights must be numeric, got {weights.dtype}")
    w_shape = tuple(weights.shape)
    w = xp.astype(weights, z.dtype)
    per_example = False
    if w_shape == ():
        w, per_example = xp.reshape(w, (1,) * ndim), True
    elif w_shape == (shape[0],):
        w, per_example = xp.reshape(w, (-1,) + (1,) * (ndim - 1)), True
    elif w_shape == index_shape:
        w = xp.expand_dims(w, axis=axis)
    elif w_shape != shape:
        raise ValueError(
            f"weights must be a scalar or have shape ({shape[0]},), {index_shape} (per position)"
            f" or {shape} (per element), got {w_shape}"
        )
    check_eager_range(xp, "weights", w, 0.0, float(xp.finfo(z.dtype).max))
    return w, per_example


def _class_weights(
    xp: Namespace, class_weights: Any, num_classes: int, dtype: Any, device: Any
) -> Array | None:
    """``(C,)`` non-negative, finite class weights, not all zero, as an array (or ``None``);
    or the name of the label-volume weights (``square``, ``simple``, ``uniform``)."""
    if class_weights is None:
        return None
    if isinstance(class_weights, str):
        return check_choice("class_weights", class_weights, VOLUME_WEIGHTS)
    if isinstance(class_weights, list | tuple):
        values = list(class_weights)
        if len(values) != num_classes:
            raise ValueError(f"class_weights must have one entry per class ({num_classes}), "
                             f"got {len(values)}")
        values = [check_number("class_weights", v, low=0.0) for v in values]
        if sum(values) <= 0:
            raise ValueError("class_weights must not all be zero")
        return xp.asarray(values, dtype=dtype, device=device)
    if not hasattr(class_weights, "shape"):
        raise TypeError("class_weights must be None, a sequence of numbers or an array, got "
                        f"{type(class_weights).__name__}")
    if not xp.isdtype(class_weights.dtype, ("integral", "real floating")):
        raise TypeError(f"class_weights must be numeric, got {class_weights.dtype}")
    if tuple(class_weights.shape) != (num_classes,):
        raise ValueError(f"class_weights must have shape ({num_classes},), one entry per class; "
                         f"got {tuple(class_weights.shape)}")
    cw = xp.astype(class_weights, dtype)
    check_eager_range(xp, "class_weights", cw, 0.0, float(xp.finfo(dtype).max))
    if is_eager(cw) and not bool(xp.sum(cw) > 0):
        raise ValueError("class_weights must not all be zero")
    return cw
