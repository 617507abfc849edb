"""Lovász hinge and Lovász-softmax: the convex surrogates of the Jaccard loss (Berman et al.).

The Jaccard loss ``Δ_J = 1 − |y ∩ ŷ| / |y ∪ ŷ|`` of a set of mispredicted pixels is
submodular; its Lovász extension is the tight convex surrogate. For errors ``e`` (hinge:
``1 − z·(2y − 1)``; softmax: ``|y_c − p_c|``) sorted in decreasing order, ``e_(1) ≥ e_(2) ≥ …``,
with ``y_(k)`` the labels in that order,

    loss = Σ_k max(e_(k), 0) · (J_k − J_{k−1}),   J_k = k / (Σ y + Σ_{i ≤ k} (1 − y_(i))),

``J_k`` being the Jaccard loss of the ``k`` largest errors' pixels taken as mistakes
(``J_0 = 0``). (Berman's ``1 − (Σy − Σ_{i≤k} y_(i)) / (Σy + Σ_{i≤k}(1 − y_(i)))`` is the
same number.)

**One sort per image and class, batched.** The errors are laid out as ``(rows, P)``: ``(N·C, P)``
per image and class (``per_image=True``, ``P`` the pixels of an image), ``(C, N·P)`` for the
batch pooled (the class axis moved first and the rest flattened with ``-1``), and one row per
image or for the batch with the channels pooled (hinge, ``average="micro"``). One ``argsort``
along the last axis, two gathers (errors and labels), two cumulative sums and a dot product:
``O(P log P)`` time per row (``O(N·P log(N·P))`` per class for the pooled batch), memory
linear in the logits (about five arrays of their size). No Python loop over images or classes
and no shape read from data, so the batch size may be unknown (``jax.jit``/``jax.export``,
``torch.compile(dynamic=True)``, ``tf.function`` with a ``None`` batch).

**Ignored pixels** (``ignore_index``) get the error −1 and the label 0: they sort after every
non-negative error, where ``max(e, 0) = 0``, so they change neither the loss nor any gradient,
exactly as removing them (which would make the shape depend on the data).

References:
    Berman, Rannen Triki, Blaschko, "The Lovász-Softmax loss: A tractable surrogate for the
    optimization of the intersection-over-union measure in neural networks", CVPR 2018,
    arXiv:1705.08790.
    Yu, Blaschko, "The Lovász Hinge: A Novel Convex Surrogate for Submodular Losses", TPAMI 2018,
    arXiv:1512.07797.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from metricloss._checks import check_bool, check_choice, check_eager_range, require_array
from metricloss._class_axis import _prepare
from metricloss._namespace import (
    Array,
    Namespace,
    cumulative_sum,
    finite_logits,
    take_along_axis,
)
from metricloss._soft_counts import at_least, class_mask
from metricloss._soft_predictions import LossOptions, class_axis_predictions

__all__ = ["LOVASZ_AVERAGES", "lovasz_hinge_loss", "lovasz_softmax_loss"]

LOVASZ_AVERAGES = ("macro", "micro", "none")
"""``average`` of :func:`lovasz_hinge_loss` (``micro``: every channel pooled into one set)."""

_EPS = 1e-7


def _options(from_logits: bool, average: str) -> LossOptions:
    return LossOptions(metric="jaccard", beta=1.0, transform="sigmoid", average=average,
                       slope=1.0, offset=0.0, amplifier=73.0,
                       from_logits=check_bool("from_logits", from_logits), eps=_EPS)


def lovasz_extension(xp: Namespace, errors: Array, labels: Array) -> Array:
    """The Lovász extension of the Jaccard loss along the last axis of ``errors`` (rows of
    pixels; any leading shape, possibly unknown): ``Σ_k max(e_(k), 0)·(J_k − J_{k−1})`` with
    the errors sorted in decreasing order. ``labels`` (same shape) in [0, 1]; no gradient
    flows to them. Returns the leading shape."""
    order = xp.argsort(errors, axis=-1, descending=True, stable=True)
    e = take_along_axis(xp, errors, order, -1)
    g = take_along_axis(xp, labels, order, -1)
    negatives = cumulative_sum(xp, 1.0 - g, -1)
    seen = cumulative_sum(xp, g, -1) + negatives  # k, as a float
    total = xp.sum(g, axis=-1, keepdims=True)
    jaccard = seen / at_least(xp, total + negatives, _EPS)  # union ≥ 1: never clipped
    previous = xp.concat([xp.zeros_like(jaccard[..., :1]), jaccard[..., :-1]], axis=-1)
    return xp.sum(xp.where(e > 0.0, e, xp.zeros_like(e)) * (jaccard - previous), axis=-1)


def _rows(xp: Namespace, x: Array, axis: int, layout: str) -> Array:
    """``x`` (``(N, C, *spatial)`` with the class axis at ``axis``) as rows of pixels:
    ``image_class`` ``(N, C, P)``, ``class`` ``(C, N·P)``, ``image`` ``(N, C·P)``, ``all``
    ``(1, N·C·P)``. Only known sizes are read (the batch size may be unknown)."""
    if axis != 1:
        x = xp.moveaxis(x, axis, 1)
    shape = tuple(x.shape)
    num_classes, pixels = shape[1], 1
    for d in shape[2:]:
        pixels *= d
    x = xp.reshape(x, (-1, num_classes, pixels))
    if layout == "image_class":
        return x
    if layout == "class":
        return xp.reshape(xp.permute_dims(x, (1, 0, 2)), (num_classes, -1))
    if layout == "image":
        return xp.reshape(x, (-1, num_classes * pixels))
    return xp.reshape(x, (1, -1))


def _empty(xp: Namespace, z: Array, axis: int, average: str, per_image: bool) -> Array:
    """Loss 0 (the shape of ``average="none"``), zero gradient: an empty axis."""
    keep = (0, axis) if per_image else (axis,)
    if average == "none":
        return xp.sum(z, axis=tuple(d for d in range(len(z.shape)) if d not in keep)) * 0.0
    return xp.sum(z) * 0.0


def lovasz_hinge_loss(
    logits: Array,
    labels: Array,
    *,
    per_image: bool = False,
    average: str = "macro",
    ignore_index: int | None = None,
    axis: int | None = None,
) -> Array:
    """Lovász hinge: the convex surrogate of the Jaccard (IoU) loss for binary and multi-label
    masks, one sigmoid output per channel.

    .. math::

        e_i = 1 − z_i·(2y_i − 1),\\qquad
        L = Σ_k \\max(e_{(k)}, 0)\\,(J_k − J_{k−1}),\\qquad
        J_k = \\frac{k}{Σ_i y_i + Σ_{i ≤ k} (1 − y_{(i)})}

    over the pixels of each channel, the errors sorted in decreasing order (see
    :mod:`metricloss.lovasz`). Cost: one sort per image (or batch) and channel,
    ``O(P log P)`` for ``P`` pixels; traceable with an unknown batch size.

    Args:
        logits: ``(N, C, *spatial)`` logits, the channel axis at ``axis`` (default 1), e.g.
            ``(N, 1, H, W)`` for a binary mask; ``(B, L)`` multi-label logits (the batch is then
            the set of pixels of each label) or ``(B,)`` (one label). float16/bfloat16 are
            computed in float32. ±inf gives the limit with a finite gradient.
        labels: the logits' shape: 0/1 (bool, int or float; soft values in [0, 1] allowed,
            checked in eager mode) or, with ``ignore_index``, that value for void pixels.
        per_image: the loss of each image, then the mean over images (Berman's default);
            ``False`` (default, SMP's) pools the batch.
        average: ``"macro"`` (each channel its own Jaccard, then the mean), ``"micro"`` (every
            channel pooled into one set: SMP's ``LovaszLoss`` in ``binary``/``multilabel``
            mode), ``"none"`` (the ``(C,)`` losses, ``(N, C)`` with ``per_image``).
        ignore_index: label value of void pixels, left out of every set.
        axis: the channel axis (not 0). Default 1.

    Returns:
        A 0-d array (``"none"``: ``(C,)`` or ``(N, C)``) of the logits' library and device, in
        the logits' dtype (float32 for half precision). Empty input gives 0.

    Raises:
        ValueError: labels of another shape, ``axis`` 0 or out of range, unknown ``average``,
            labels outside [0, 1] (eager).
        TypeError: ``None`` or non-arrays, non-floating logits, arrays of two libraries.

    Example:
        >>> import numpy as np
        >>> logits = np.array([[[[3.0, -2.0], [0.5, -1.0]]]])   # (N, C, H, W) = (1, 1, 2, 2)
        >>> mask = np.array([[[[1, 0], [1, 1]]]])
        >>> round(float(lovasz_hinge_loss(logits, mask)), 4)  # errors 2, 0.5 on positives
        0.8333

    Reference:
        Berman, Rannen Triki, Blaschko, "The Lovász-Softmax loss", CVPR 2018,
        arXiv:1705.08790.
    """
    check_choice("average", average, LOVASZ_AVERAGES)
    per_image = check_bool("per_image", per_image)
    require_array("logits", logits)
    require_array("labels", labels)
    if len(logits.shape) == 1:  # (B,): one label, the batch its pixels
        logits = logits[:, None]
        if len(labels.shape) == 1:
            labels = labels[:, None]
    inputs = _prepare(logits, labels, _options(True, average), weights=None, axis=axis,
                      ignore_index=ignore_index, class_weights=None)
    xp, z, a = inputs.xp, inputs.z, inputs.axis
    if inputs.y is None:
        raise ValueError(f"labels must have the logits' shape {tuple(z.shape)} (binary or "
                         f"multi-label masks), got {tuple(labels.shape)}; for class indices "
                         "use lovasz_softmax_loss")
    if any(d == 0 for d in tuple(z.shape) if d is not None):
        return _empty(xp, z, a, average, per_image and average != "micro")
    y = inputs.y
    errors = 1.0 - finite_logits(xp, z) * (2.0 * y - 1.0)
    if inputs.w is not None:  # ignored pixels: error −1, label 0 (after every kept pixel)
        valid = inputs.w > 0.0
        errors = xp.where(valid, errors, xp.full_like(errors, -1.0))
    if average == "micro":
        losses = lovasz_extension(xp, _rows(xp, errors, a, "image" if per_image else "all"),
                                  _rows(xp, y, a, "image" if per_image else "all"))
        return xp.mean(losses) if per_image else xp.reshape(losses, ())
    layout = "image_class" if per_image else "class"
    losses = lovasz_extension(xp, _rows(xp, errors, a, layout), _rows(xp, y, a, layout))
    return losses if average == "none" else xp.mean(losses)


def lovasz_softmax_loss(
    logits: Array,
    labels: Array,
    *,
    per_image: bool = False,
    absent_classes: str = "skip",
    average: str = "macro",
    ignore_index: int | None = None,
    class_weights: Array | Sequence[float] | None = None,
    from_logits: bool = True,
    axis: int | None = None,
) -> Array:
    """Lovász-softmax: the convex surrogate of the mean Jaccard (IoU) loss over classes, for a
    softmax classifier (semantic segmentation).

    .. math::

        e_{c,i} = |y_{c,i} − p_{c,i}|,\\qquad
        L_c = Σ_k e_{c,(k)}\\,(J_{c,k} − J_{c,k−1}),\\qquad
        L = \\text{mean}_c\\, L_c

    with ``p = softmax(z)`` over the class axis and ``J`` as in :func:`lovasz_hinge_loss`, per
    class over the batch's pixels (per image and class with ``per_image``: the mean over
    classes in each image, then over images). Cost: one sort per class (and image),
    ``O(P log P)``; traceable with an unknown batch size.

    Args:
        logits: ``(N, C, *spatial)`` (class axis ``axis``, default 1; ``-1`` for channels-last)
            or ``(N, C)``; probabilities with ``from_logits=False``. ``C ≥ 2``.
        labels: integer class indices of the logits' shape without the class axis (values in
            ``[0, C)`` or ``ignore_index``), or one-hot/soft labels of the logits' shape.
        per_image: per image, then the mean over images (Berman's option); default pools the
            batch (SMP's default).
        absent_classes: a class with no pixel in the batch (image, with ``per_image``):
            ``"skip"`` (default; Berman's and SMP's ``classes="present"``), ``"keep"`` (its
            loss, the largest error of the class: ``classes="all"``), ``"zero"`` (0, counted
            in the mean).
        average: ``"macro"`` (the mean over classes) or ``"none"`` (the ``(C,)`` losses,
            ``(N, C)`` with ``per_image``; 0 for skipped classes).
        ignore_index: integer labels: pixels with that label are left out.
        class_weights: ``(C,)`` non-negative: the weighted mean over classes (a list of 0/1
            selects classes, Berman's ``classes=[...]``).
        from_logits: ``False``: ``logits`` are probabilities (used as they are).
        axis: the class axis (not 0). Default 1.

    Returns:
        A 0-d array (``"none"``: ``(C,)`` or ``(N, C)``), float32 for half precision. Empty
        input, or only ignored pixels, gives 0.

    Raises:
        ValueError: bad label shape, class indices outside ``[0, C)`` (eager), ``C < 2``,
            bad ``class_weights``, unknown ``average``/``absent_classes``.
        TypeError: ``None`` or non-arrays, non-floating logits, non-integer index labels.

    Example:
        >>> import numpy as np
        >>> logits = np.log(np.array([[[0.7, 0.4]], [[0.3, 0.6]]]))[None]  # (1, 2, 1, 2)
        >>> masks = np.array([[[0, 1]]])
        >>> round(float(lovasz_softmax_loss(logits, masks)), 4)
        0.375

    Reference:
        Berman, Rannen Triki, Blaschko, "The Lovász-Softmax loss: A tractable surrogate for the
        optimization of the intersection-over-union measure in neural networks", CVPR 2018,
        arXiv:1705.08790.
    """
    check_choice("average", average, ("macro", "none"))
    check_choice("absent_classes", absent_classes, ("keep", "zero", "skip"))
    per_image = check_bool("per_image", per_image)
    if isinstance(class_weights, str):
        raise ValueError("class_weights of lovasz_softmax_loss must be numbers (C,), got "
                         f"{class_weights!r}")
    opts = _options(from_logits, average)
    inputs = _prepare(logits, labels, opts, weights=None, axis=axis, ignore_index=ignore_index,
                      class_weights=class_weights)
    xp, z, a = inputs.xp, inputs.z, inputs.axis
    if z.shape[a] < 2:
        raise ValueError(f"lovasz_softmax_loss needs at least 2 classes along axis {a}, got "
                         f"{z.shape[a]}; for one sigmoid channel use lovasz_hinge_loss")
    if any(d == 0 for d in tuple(z.shape) if d is not None):
        return _empty(xp, z, a, average, per_image)
    if not from_logits:
        check_eager_range(xp, "logits (probabilities)", z, 0.0, 1.0)
    p = class_axis_predictions(xp, z, opts, a)
    if inputs.t is None:
        fg = inputs.y
    else:
        fg = xp.astype(class_mask(xp, inputs.t, p, a), p.dtype)
    errors = xp.abs(fg - p)
    if inputs.w is not None:  # ignored pixels: error −1, label 0 (after every kept pixel)
        valid = inputs.w > 0.0  # (N, 1, *spatial): broadcast over the classes
        errors = xp.where(valid, errors, xp.full_like(errors, -1.0))
        fg = xp.where(valid, fg, xp.zeros_like(fg))
    layout = "image_class" if per_image else "class"
    er, gr = _rows(xp, errors, a, layout), _rows(xp, fg, a, layout)
    losses = lovasz_extension(xp, er, gr)  # (N, C) or (C,)
    present = xp.sum(gr, axis=-1) > 0.0
    if absent_classes != "keep":
        losses = xp.where(present, losses, xp.zeros_like(losses))
    if average == "none":
        return losses
    return _mean_over_classes(xp, losses, present, inputs.class_weights,
                              absent_classes == "skip", per_image)


def _mean_over_classes(xp: Namespace, losses: Array, present: Array, class_weights: Any,
                       skip: bool, per_image: bool) -> Array:
    """The (weighted) mean over the last axis (classes), present classes only with ``skip``
    (0 when none is); with ``per_image``, then the mean over images."""
    w = xp.ones_like(losses) if class_weights is None else class_weights * xp.ones_like(losses)
    if skip:
        w = xp.where(present, w, xp.zeros_like(w))
    mean = xp.sum(w * losses, axis=-1) / at_least(xp, xp.sum(w, axis=-1), _EPS)
    return xp.mean(mean) if per_image else mean
