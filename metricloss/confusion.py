"""Soft confusion-matrix losses: sigmoidF1, AnyLoss, and any confusion-matrix metric (SPEC §1).

A soft prediction ``p ∈ (0, 1)`` replaces the hard 0/1 prediction in the confusion counts,

    tp = Σ_b w·p·y    fp = Σ_b w·p·(1−y)    fn = Σ_b w·(1−p)·y    tn = Σ_b w·(1−p)·(1−y),

and the loss is ``1 − metric(tp, fp, fn, tn)`` (``(1 − mcc)/2`` for MCC), the metric written once
in :mod:`metricloss._metric_formulas` with every division ``num / max(den, eps)``. The counts of
metrics without ``tn`` come from the sufficient statistics ``Σ w·p·y``, ``Σ w·p`` and ``Σ w·y``
(three passes, not four masked sums); metrics with ``tn`` sum the four counts directly, so that a
label with no negatives (or no positives) gives an exact 0 there in every dtype
(:mod:`metricloss._soft_counts`).

With a class axis (``(N, C, *spatial)`` logits, e.g. segmentation) and integer labels of shape
``(N, *spatial)``, no float one-hot array is built (:mod:`metricloss._class_axis`).

Layout: this module holds the public functions and their validation; the transforms are in
:mod:`metricloss._soft_predictions`, the counts and metric in :mod:`metricloss._soft_counts`, the
class-axis form in :mod:`metricloss._class_axis`.

References:
    Bénédict et al., "sigmoidF1: A Smooth F1 Score Surrogate Loss for Multilabel
    Classification", TMLR 2022, arXiv:2108.10566.
    Han et al., "AnyLoss: Transforming Classification Metrics into Loss Functions",
    KDD 2024, arXiv:2405.14745.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from metricloss._checks import (
    as_float_labels,
    check_bool,
    check_choice,
    check_eager_range,
    check_floating,
    check_integer,
    check_number,
    check_same_shape,
    prepare_inputs,
    require_array,
)
from metricloss._class_axis import class_axis_loss
from metricloss._metric_formulas import METRICS
from metricloss._namespace import Array, compute_dtype, device_of, namespace_of
from metricloss._soft_counts import (
    counts_of_labels,
    loss_of_counts,
    needs_true_negatives,
    sync_counts,
    weighted_mean,
)
from metricloss._soft_predictions import (
    LossOptions,
    describe_logits,
    elementwise_complements,
    elementwise_predictions,
)
from metricloss._sync import AllReduce, check_all_reduce

__all__ = [
    "ABSENT_CLASSES",
    "AVERAGES",
    "METRICS",
    "TRANSFORMS",
    "any_loss",
    "confusion_metric_loss",
    "sigmoid_f1_loss",
    "soft_confusion",
    "tversky_loss",
]

AVERAGES = ("macro", "micro", "samples", "none")
TRANSFORMS = ("sigmoid", "anyloss")
ABSENT_CLASSES = ("keep", "zero", "skip")
"""``absent_classes``: what a class with no positive contributes to a per-class mean."""


def soft_confusion(
    probs: Array,
    labels: Array,
    *,
    weights: Array | float | None = None,
    axis: int = 0,
) -> tuple[Array, Array, Array, Array]:
    """Soft confusion counts ``(tp, fp, fn, tn)`` of probabilities against labels.

    .. math::

        tp = Σ w·p·y,\\quad fp = Σ w·p·(1−y),\\quad fn = Σ w·(1−p)·y,\\quad
        tn = Σ w·(1−p)·(1−y),

    summed over ``axis``, each count directly (a sum of non-negative terms: exactly 0 where a
    side is empty). With hard 0/1 ``probs`` these are the usual confusion counts.

    Args:
        probs: probabilities in [0, 1], any shape, floating dtype.
        labels: same shape; bool, int or float in [0, 1] (soft labels allowed).
        weights: ``None``, a non-negative number, or an array broadcastable to ``probs``.
        axis: the axis summed over (default 0, the batch axis).

    Returns:
        Four arrays of ``probs``' shape without ``axis``, in ``probs``' dtype (float32 for
        float16/bfloat16 input). Empty input along ``axis`` gives zeros.

    Example:
        >>> import numpy as np
        >>> tp, fp, fn, tn = soft_confusion(np.array([0.9, 0.2, 0.6]), np.array([1, 0, 0]))
        >>> [round(float(c), 6) for c in (tp, fp, fn, tn)]
        [0.9, 0.8, 0.1, 1.2]
    """
    require_array("probs", probs)
    require_array("labels", labels)
    xp = namespace_of(probs=probs, labels=labels, weights=weights)
    check_floating(xp, "probs", probs)
    check_same_shape("labels", labels, "probs", probs)
    ndim = len(probs.shape)
    axis = check_integer("axis", axis)
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis {axis} is out of range for probs of {ndim} dimensions")
    check_eager_range(xp, "probs", probs, 0.0, 1.0)
    dtype = compute_dtype(xp, probs.dtype)
    p = xp.astype(probs, dtype)
    y = as_float_labels(xp, labels, dtype)
    w = None
    if weights is not None:
        if not hasattr(weights, "shape"):
            w = xp.full((), check_number("weights", weights, low=0.0), dtype=dtype,
                        device=device_of(p))
        else:
            _check_broadcastable("weights", tuple(weights.shape), "probs", tuple(p.shape))
            w = xp.astype(weights, dtype)
            check_eager_range(xp, "weights", w, 0.0, float(xp.finfo(dtype).max))
    return tuple(counts_of_labels(xp, p, w, axis, True, y=y))  # type: ignore[return-value]


def _check_broadcastable(name: str, shape: tuple[Any, ...], ref_name: str,
                         ref: tuple[Any, ...]) -> None:
    """``ValueError`` unless ``shape`` broadcasts to ``ref`` (unknown sizes pass)."""
    ok = len(shape) <= len(ref) and all(
        s == 1 or s is None or r is None or s == r
        for s, r in zip(reversed(shape), reversed(ref), strict=False)
    )
    if not ok:
        raise ValueError(f"{name} of shape {shape} do not broadcast to {ref_name}' shape {ref}")


def confusion_metric_loss(
    logits: Array,
    labels: Array,
    *,
    metric: str = "f1",
    beta: float = 1.0,
    transform: str = "sigmoid",
    average: str = "macro",
    weights: Array | float | None = None,
    slope: float = 1.0,
    offset: float = 0.0,
    amplifier: float = 73.0,
    from_logits: bool = True,
    eps: float = 1e-7,
    axis: int | None = None,
    multiclass: bool = False,
    ignore_index: int | None = None,
    class_weights: Array | Sequence[float] | str | None = None,
    all_reduce: AllReduce | None = None,
    smooth_nr: float = 0.0,
    smooth_dr: float = 0.0,
    log_loss: bool = False,
    soft_labels: bool = False,
    per_image: bool = False,
    include_background: bool = True,
    absent_classes: str = "keep",
) -> Array:
    """``1 − metric`` of the soft confusion matrix: a differentiable loss for any
    confusion-matrix metric (``(1 − mcc)/2`` for MCC, whose range is [−1, 1]).

    Soft predictions ``p`` replace hard ones in the counts (see :func:`soft_confusion`):

    - ``transform="sigmoid"`` (sigmoidF1): ``p = σ(slope·(z + offset))``, the paper's
      ``S(u; β, η)`` applied to logits. (The reference code applies a second sigmoid on
      probabilities with ``S = −10, E = 1``, which makes ``p`` nearly constant; we follow the
      paper.) With ``from_logits=False`` the input is a probability ``q`` and
      ``z = log q − log1p(−q)``: ``p = q`` itself for ``slope = 1, offset = 0``; otherwise
      ``q = 0`` and ``q = 1`` give their limits 0 and 1 with a zero gradient.
    - ``transform="anyloss"`` (AnyLoss): ``p = σ(amplifier·(q − 0.5))`` with ``q = σ(z)``, or
      ``q = logits`` when ``from_logits=False`` (probabilities in).

    Metrics, with ``eps`` guarding every denominator (``num / max(den, eps)``, so a side with no
    mass contributes 0): ``fbeta`` ``(1+β²)tp / ((1+β²)tp + β²fn + fp)`` and ``f1``
    (``β = 1``; another ``beta`` with ``f1`` raises), ``precision`` ``tp/(tp+fp)``, ``recall``
    ``tp/(tp+fn)``, ``jaccard`` ``tp/(tp+fp+fn)``, ``accuracy`` ``(tp+tn)/n``,
    ``balanced_accuracy`` the mean of recall and specificity, ``gmean`` their geometric mean,
    ``mcc`` Matthews' correlation. A label with no negatives has specificity 0 (no positives:
    recall 0), in every dtype; the loss stays in [0, 1] and its gradient finite.

    Averages: ``macro`` (per label, then the mean; default), ``micro`` (counts summed over
    labels first), ``samples`` (counts over the label axis of each example, the example-based
    metric, then the mean over examples, weighted by per-example weights if given), ``none``
    (the per-label loss vector, shape ``(L,)``; ``()`` for binary input).

    Empty input (``B = 0`` or ``L = 0``, or an empty class or spatial axis) gives a loss of 0
    (zeros of shape ``(L,)``/``(C,)`` for ``none``) with a zero gradient.

    **Class axis (multi-class and dense prediction).** With ``axis`` (default 1 when
    ``multiclass=True``), ``logits`` are ``(N, C, *spatial)`` (or channels-last with
    ``axis=-1``) and ``labels`` either have the same shape (one-hot or soft) or are integer class
    indices of shape ``(N, *spatial)``. ``multiclass=True`` makes ``q = softmax(z)`` over the
    class axis (``softmax(slope·z)`` for the sigmoid transform, whose ``offset`` must then be 0;
    ``q^slope / Σ_c q^slope`` from probabilities; AnyLoss amplifies ``q`` per class,
    one-vs-rest); otherwise each element goes through its sigmoid, as in the multi-label case.
    A ±inf logit gives the softmax's limit (a finite gradient). Counts are summed over the batch
    and spatial axes per class: ``macro`` and ``none`` are per class (``(C,)`` for ``none``),
    ``micro`` pools every class and position, ``samples`` pools the classes and positions of
    each example (for one-hot labels and softmax, its F1 is the mean true-class probability of
    the image). With integer labels no float one-hot array is built. ``ignore_index`` removes
    positions from every count. A class absent from the batch gives F1 = 0 (loss 1), with a
    finite gradient.

    Args:
        logits: ``(B, L)`` (multi-label) or ``(B,)`` (binary) floating array; with a class axis,
            ``(N, C, *spatial)``. float16 and bfloat16 are computed in float32.
        labels: same shape; bool, int or float in [0, 1] (soft labels allowed); with a class
            axis also integer class indices of the logits' shape without that axis.
        metric: one of :data:`METRICS`.
        beta: the F-beta weight of recall, ``> 0``.
        transform: ``"sigmoid"`` or ``"anyloss"``.
        average: one of :data:`AVERAGES`.
        weights: ``None``, a number, ``(B,)`` or ``(B, L)`` non-negative weights; with a class
            axis ``(N,)``, ``(N, *spatial)`` (per position) or the logits' shape.
        slope, offset: sigmoid transform parameters ``β > 0`` and ``η`` of sigmoidF1.
        amplifier: AnyLoss' amplifier (73 in the paper), ``> 0``.
        from_logits: whether ``logits`` are logits (True) or probabilities in [0, 1] (False,
            checked in eager mode), for both transforms.
        eps: lower bound of every denominator, ``> 0``.
        axis: the class axis (not 0, the batch axis); ``None``: 1 if ``multiclass`` or a class
            option is given, else the ``(B,)``/``(B, L)`` multi-label form.
        multiclass: softmax over the class axis instead of a sigmoid per element.
        ignore_index: positions holding it take no part in any count. Integer class labels
            must lie in ``[0, C)`` or equal it (checked in eager mode; under tracing an
            out-of-range label is unchecked). With labels of the logits' shape (binary or
            multi-label masks, int or float), the elements equal to it are left out.
        class_weights: ``(C,)`` non-negative weights, not all zero: ``macro`` becomes
            ``Σ_c c_c·loss_c / Σ_c c_c``; ``micro`` and ``samples`` multiply class ``c``'s counts
            by ``c_c`` before pooling; ``none`` is unaffected.
        all_reduce: data-parallel training: a function summing an array across replicas,
            differentiably (``jax.lax.psum(x, axis_name)``,
            ``torch.distributed.nn.functional.all_reduce``, a ``tf.distribute`` replica
            context's ``all_reduce``); the adapters supply it (``sync=True``/``axis_name=``).
            The counts (``(L,)`` or ``(C,)`` each; for ``samples`` the numerator and
            denominator of the mean over examples) are summed across replicas in one call
            before the metric is formed, so every replica gets the loss of the global batch.
            Every replica must call the loss (the same options, the same ``L``). ``None``
            (default): this batch alone. See docs/distributed.md.
        smooth_nr, smooth_dr: added to the numerator and the denominator of every fraction
            of the metric (``(2tp + smooth_nr) / (2tp + fp + fn + smooth_dr)`` for F1; MONAI's
            ``smooth_nr``/``smooth_dr``; SMP's ``smooth=s`` is ``smooth_nr = smooth_dr = 2s``
            for Dice, ``s`` for Jaccard), ``≥ 0``. With smoothing an absent class no longer
            scores exactly 0.
        log_loss: ``−log(max(s, eps))`` of the score ``s`` (the metric, ``(1 + mcc)/2`` for
            MCC) instead of ``1 − s``: SMP's ``log_loss`` (−log Dice).
        soft_labels: count soft labels so that the metric is optimal at ``p = y``:
            ``tp = Σ w·min(p, y) = Σ w·(p + y − |p − y|)/2`` (Wang & Blaschko 2023; SMP's
            Dice/Jaccard/Tversky, MONAI's ``soft_label=True``). Identical for 0/1 labels; the
            default ``Σ w·p·y`` rewards a 0/1 ``p`` over ``p = y`` when ``y`` is soft.
        per_image: class-axis form, ``macro``/``none`` only: counts per (image, class) (over
            the spatial axes alone), the metric per (image, class), then the mean over classes
            in each image and the mean over images (weighted by per-image ``weights``);
            ``none`` gives the ``(N, C)`` losses. MONAI's ``batch=False``; the default pools
            the batch (``batch=True``, SMP). Costs nothing extra.
        include_background: ``False`` leaves class 0 out (of the mean, of the pooled counts,
            and of ``none``'s vector, which then has ``C − 1`` entries): MONAI's
            ``include_background``. Needs ``C ≥ 2``.
        absent_classes: what a class with no positive position (in the batch; in the image
            with ``per_image``) contributes to ``macro``/``none``: ``"keep"`` (default: its
            loss as computed, 1 without smoothing, with a zero gradient), ``"zero"`` (loss 0,
            still counted in the mean: SMP's Dice/Jaccard/Tversky), ``"skip"`` (left out of
            the mean; ``none`` shows 0 for it). ``micro``/``samples`` take ``"keep"`` only.

    ``class_weights`` may also be ``"square"``, ``"simple"`` or ``"uniform"``: weights
    ``1/V_c²``, ``1/V_c`` or 1 from each class's label volume ``V_c = Σ w·y`` over the axes the
    counts sum over (the batch, or each image with ``samples``/``per_image``); a class with
    ``V_c = 0`` takes the largest weight of the others (MONAI). With ``average="micro"`` this is
    the generalized Dice loss of MONAI's ``GeneralizedDiceLoss(batch=True, w_type=...)``, with
    ``"samples"`` its ``batch=False``. The weights come from the labels: no gradient.

    Returns:
        The loss, a 0-d array (``(L,)`` or ``(C,)`` for ``average="none"``) of the logits'
        library and device, in the logits' dtype (float32 for float16/bfloat16 logits).

    Raises:
        ValueError: labels of neither form, ``axis`` out of range or 0, a class index outside
            ``[0, C)`` (eager), ``offset`` with
            ``multiclass``, bad ``class_weights``, ``slope``/``beta``/``amplifier``/``eps`` not
            positive, probabilities outside [0, 1] (eager).
        TypeError: ``None`` or a non-array for ``logits``/``labels``, non-floating logits,
            non-integer index labels, arrays of two libraries.

    Example:
        >>> import numpy as np
        >>> logits = np.array([[2.0, -1.0], [-3.0, 0.5]])
        >>> labels = np.array([[1, 0], [0, 1]])
        >>> loss = confusion_metric_loss(logits, labels, metric="jaccard", average="micro")
        >>> round(float(loss), 4)
        0.351
        >>> scores = np.zeros((2, 3, 4, 4))  # (N, C, H, W), uniform softmax
        >>> masks = np.zeros((2, 4, 4), dtype=np.int64)  # every pixel of class 0
        >>> dice = confusion_metric_loss(scores, masks, multiclass=True, average="micro")
        >>> round(float(dice), 4)  # soft Dice = mean true-class probability = 1/3
        0.6667

    References:
        Bénédict et al., sigmoidF1, TMLR 2022, arXiv:2108.10566;
        Han et al., AnyLoss, KDD 2024, arXiv:2405.14745.
    """
    opts = _options(metric=metric, beta=beta, transform=transform, average=average, slope=slope,
                    offset=offset, amplifier=amplifier, from_logits=from_logits, eps=eps,
                    smooth_nr=smooth_nr, smooth_dr=smooth_dr, log_loss=log_loss,
                    soft_labels=soft_labels, per_image=per_image,
                    include_background=include_background, absent_classes=absent_classes)
    return _confusion_loss(logits, labels, opts, weights=weights, axis=axis,
                           multiclass=multiclass, ignore_index=ignore_index,
                           class_weights=class_weights, all_reduce=all_reduce)


def _confusion_loss(logits: Array, labels: Array, opts: LossOptions, *, weights: Any,
                    axis: int | None, multiclass: bool, ignore_index: int | None,
                    class_weights: Any, all_reduce: Any) -> Array:
    """The loss of validated options: the class-axis form or the multi-label one."""
    check_bool("multiclass", multiclass)
    all_reduce = check_all_reduce(all_reduce)
    if (axis is not None or multiclass or ignore_index is not None or class_weights is not None
            or opts.uses_class_axis()):
        return class_axis_loss(logits, labels, opts, weights=weights, axis=axis,
                               multiclass=multiclass, ignore_index=ignore_index,
                               class_weights=class_weights, all_reduce=all_reduce)
    name = describe_logits(opts)
    require_array("logits", logits)
    require_array("labels", labels)
    if len(logits.shape) > 2:
        raise ValueError(
            f"{name} must have shape (B,) or (B, L), got {tuple(logits.shape)}; for a "
            "class axis, (N, C, *spatial), pass axis= or multiclass=True"
        )
    xp, z, y, w, shape = prepare_inputs(logits, labels, weights, logits_name=name)
    if any(d == 0 for d in tuple(z.shape) if d is not None):
        # Empty batch or label axis: loss 0 (per label for "none"), gradient 0.
        zero = xp.sum(z, axis=0) if opts.average == "none" else xp.sum(z)
        loss = zero * 0.0
    else:
        if not opts.from_logits:
            check_eager_range(xp, name, z, 0.0, 1.0)
        # 1 − p summed from its own sigmoid (float32 keeps confident specificities).
        q = (elementwise_complements(xp, z, opts) if needs_true_negatives(opts.metric)
             else None)
        loss = _multilabel_loss(xp, elementwise_predictions(xp, z, opts), y, w, opts,
                                all_reduce, q=q)
    if opts.average == "none" and len(shape) == 1:
        loss = xp.reshape(loss, ())
    return loss


def _options(*, metric: str, beta: Any, transform: str, average: str, slope: Any, offset: Any,
             amplifier: Any, from_logits: Any, eps: Any, smooth_nr: Any = 0.0,
             smooth_dr: Any = 0.0, log_loss: Any = False, soft_labels: Any = False,
             per_image: Any = False, include_background: Any = True,
             absent_classes: Any = "keep", gamma: Any = 1.0,
             tversky: tuple[Any, Any] | None = None) -> LossOptions:
    """Validate the Python options of a confusion-matrix loss (names, numbers, flags)."""
    check_choice("metric", metric, METRICS)
    check_choice("transform", transform, TRANSFORMS)
    check_choice("average", average, AVERAGES)
    check_choice("absent_classes", absent_classes, ABSENT_CLASSES)
    beta = check_number("beta", beta, low=0.0, low_open=True)
    if metric == "f1" and beta != 1.0:
        raise ValueError(f"beta applies to metric='fbeta'; metric='f1' has beta=1, got beta={beta}")
    per_image = check_bool("per_image", per_image)
    if per_image and average not in ("macro", "none"):
        raise ValueError(f"per_image=True applies to average='macro' or 'none', got "
                         f"average={average!r} (average='samples' pools each image's classes)")
    if absent_classes != "keep" and average not in ("macro", "none"):
        raise ValueError(f"absent_classes={absent_classes!r} applies to average='macro' or "
                         f"'none' (per-class losses), got average={average!r}")
    if tversky is not None:
        tversky = (check_number("alpha", tversky[0], low=0.0),
                   check_number("beta", tversky[1], low=0.0))
    return LossOptions(
        metric=metric, beta=beta, transform=transform, average=average,
        slope=check_number("slope", slope, low=0.0, low_open=True),
        offset=check_number("offset", offset),
        amplifier=check_number("amplifier", amplifier, low=0.0, low_open=True),
        from_logits=check_bool("from_logits", from_logits),
        eps=check_number("eps", eps, low=0.0, low_open=True),
        smooth_nr=check_number("smooth_nr", smooth_nr, low=0.0),
        smooth_dr=check_number("smooth_dr", smooth_dr, low=0.0),
        log_loss=check_bool("log_loss", log_loss),
        gamma=check_number("gamma", gamma, low=0.0, low_open=True),
        tversky=tversky,
        soft_labels=check_bool("soft_labels", soft_labels),
        per_image=per_image,
        absent_classes=absent_classes,
        include_background=check_bool("include_background", include_background),
    )


def _multilabel_loss(xp: Any, p: Array, y: Array, w: Array | None, opts: LossOptions,
                     all_reduce: AllReduce | None = None, *, q: Array | None = None) -> Array:
    """The loss of soft predictions ``p`` (``(B, L)``: batch axis 0, label axis 1), averaged.

    ``samples``: counts over the labels of each example, then the mean over examples (weighted
    by per-example weights ``(B, 1)``); ``micro``: counts over the batch, summed over labels;
    ``macro``/``none``: per label, then the mean (or the vector). ``q``: ``1 − p`` computed
    without cancellation, for the metrics that read ``tn`` (``None``: ``1 − p``)."""
    need_tn = needs_true_negatives(opts.metric)
    soft = opts.soft_labels
    if opts.average == "samples":
        counts = counts_of_labels(xp, p, w, 1, need_tn, y=y, q=q, soft=soft)
        per_example = loss_of_counts(xp, counts, opts.metric, opts.beta, opts.eps,
                                     **opts.loss_keywords())
        example_w = w[:, 0] if w is not None and w.shape[1] == 1 else None
        return weighted_mean(xp, per_example, example_w, opts.eps, all_reduce)
    counts = counts_of_labels(xp, p, w, 0, need_tn, y=y, q=q, soft=soft)
    if opts.average == "micro":
        counts = type(counts)(*(None if c is None else xp.sum(c) for c in counts))
        counts = sync_counts(xp, counts, all_reduce)
        return loss_of_counts(xp, counts, opts.metric, opts.beta, opts.eps,
                              **opts.loss_keywords())
    counts = sync_counts(xp, counts, all_reduce)
    per_label = loss_of_counts(xp, counts, opts.metric, opts.beta, opts.eps,
                               **opts.loss_keywords())
    return per_label if opts.average == "none" else xp.mean(per_label)


def sigmoid_f1_loss(
    logits: Array,
    labels: Array,
    *,
    beta: float = 1.0,
    slope: float = 1.0,
    offset: float = 0.0,
    average: str = "macro",
    weights: Array | float | None = None,
    from_logits: bool = True,
    eps: float = 1e-7,
    axis: int | None = None,
    multiclass: bool = False,
    ignore_index: int | None = None,
    class_weights: Array | Sequence[float] | str | None = None,
    all_reduce: AllReduce | None = None,
    smooth_nr: float = 0.0,
    smooth_dr: float = 0.0,
    log_loss: bool = False,
    soft_labels: bool = False,
    per_image: bool = False,
    include_background: bool = True,
    absent_classes: str = "keep",
) -> Array:
    """sigmoidF1: ``1 − F_β`` of the soft confusion matrix with ``p = σ(slope·(z + offset))``.

    .. math::

        L = 1 − \\frac{(1+β^2)\\,Σ w p y}{β^2 Σ w y + Σ w p}

    per label, averaged by ``average`` (see :func:`confusion_metric_loss`, whose
    ``metric="fbeta", transform="sigmoid"`` this is). ``slope`` and ``offset`` are the paper's
    ``β`` and ``η`` of ``S(u; β, η) = 1/(1+exp(−β(u+η)))``, applied to logits as the paper
    writes it (the reference repository applies it to probabilities, a known defect).
    ``axis``, ``multiclass``, ``ignore_index`` and ``class_weights`` give the class-axis form of
    :func:`confusion_metric_loss` (with ``multiclass=True``, ``p = softmax(slope·z)``: the soft
    Dice loss of segmentation); so do the segmentation options ``smooth_nr``, ``smooth_dr``,
    ``log_loss``, ``soft_labels``, ``per_image``, ``include_background`` and
    ``absent_classes`` (docs/segmentation.md maps SMP's and MONAI's Dice options to them).

    ``from_logits=False``: the input holds probabilities ``q`` in [0, 1], taken as ``p = q``
    (``slope = 1, offset = 0``) or through their logit (see :func:`confusion_metric_loss`),
    never through a second sigmoid. Empty input gives 0; half-precision input a float32 loss.

    Example:
        >>> import numpy as np
        >>> logits = np.array([[4.0, -4.0], [-4.0, 4.0]])
        >>> labels = np.array([[1, 0], [0, 1]])
        >>> round(float(sigmoid_f1_loss(logits, labels)), 4)
        0.018

    Reference:
        Bénédict, Koops, Odijk, de Rijke, "sigmoidF1: A Smooth F1 Score Surrogate Loss for
        Multilabel Classification", TMLR 2022, arXiv:2108.10566.
    """
    return confusion_metric_loss(
        logits, labels, metric="fbeta", beta=beta, transform="sigmoid", average=average,
        weights=weights, slope=slope, offset=offset, from_logits=from_logits, eps=eps, axis=axis,
        multiclass=multiclass, ignore_index=ignore_index, class_weights=class_weights,
        all_reduce=all_reduce, smooth_nr=smooth_nr, smooth_dr=smooth_dr, log_loss=log_loss,
        soft_labels=soft_labels, per_image=per_image, include_background=include_background,
        absent_classes=absent_classes,
    )


def any_loss(
    logits: Array,
    labels: Array,
    *,
    metric: str = "f1",
    amplifier: float = 73.0,
    from_logits: bool = True,
    average: str = "macro",
    weights: Array | float | None = None,
    beta: float = 1.0,
    eps: float = 1e-7,
    axis: int | None = None,
    multiclass: bool = False,
    ignore_index: int | None = None,
    class_weights: Array | Sequence[float] | str | None = None,
    all_reduce: AllReduce | None = None,
    smooth_nr: float = 0.0,
    smooth_dr: float = 0.0,
    log_loss: bool = False,
    soft_labels: bool = False,
    per_image: bool = False,
    include_background: bool = True,
    absent_classes: str = "keep",
) -> Array:
    """AnyLoss: ``1 − metric`` of the confusion matrix of amplified probabilities.

    .. math::

        p = A(q) = σ(\\text{amplifier}·(q − 0.5)),\\qquad q = σ(z)

    (``q = logits`` with ``from_logits=False``), then any metric of
    :func:`confusion_metric_loss` on the soft counts. The amplifier (73 in the paper) pushes
    ``p`` towards 0 or 1 so the soft counts approach the hard ones. Unlike the reference code,
    a label with no positives in the batch gives a finite loss and gradient, not NaN.
    With ``multiclass=True``, ``q = softmax(z)`` over the class axis and the amplifier acts per
    class, one-vs-rest (``axis``, ``ignore_index``, ``class_weights`` and the segmentation
    options: see :func:`confusion_metric_loss`).

    Example:
        >>> import numpy as np
        >>> probs = np.array([[0.9, 0.1], [0.2, 0.8]])
        >>> labels = np.array([[1, 0], [0, 1]])
        >>> float(any_loss(probs, labels, from_logits=False)) < 1e-6
        True

    Reference:
        Han, Jung, Lee, Yang, "AnyLoss: Transforming Classification Metrics into Loss
        Functions", KDD 2024, arXiv:2405.14745.
    """
    return confusion_metric_loss(
        logits, labels, metric=metric, beta=beta, transform="anyloss", average=average,
        weights=weights, amplifier=amplifier, from_logits=from_logits, eps=eps, axis=axis,
        multiclass=multiclass, ignore_index=ignore_index, class_weights=class_weights,
        all_reduce=all_reduce, smooth_nr=smooth_nr, smooth_dr=smooth_dr, log_loss=log_loss,
        soft_labels=soft_labels, per_image=per_image, include_background=include_background,
        absent_classes=absent_classes,
    )


def tversky_loss(
    logits: Array,
    labels: Array,
    *,
    alpha: float = 0.5,
    beta: float = 0.5,
    gamma: float = 1.0,
    average: str = "macro",
    weights: Array | float | None = None,
    from_logits: bool = True,
    eps: float = 1e-7,
    axis: int | None = None,
    multiclass: bool = False,
    ignore_index: int | None = None,
    class_weights: Array | Sequence[float] | str | None = None,
    all_reduce: AllReduce | None = None,
    smooth_nr: float = 0.0,
    smooth_dr: float = 0.0,
    log_loss: bool = False,
    soft_labels: bool = False,
    per_image: bool = False,
    include_background: bool = True,
    absent_classes: str = "keep",
) -> Array:
    """Tversky loss and focal Tversky loss: ``(1 − T)^γ`` of the soft Tversky index.

    .. math::

        T = \\frac{tp + s_{nr}}{tp + α·fp + β·fn + s_{dr}},\\qquad L = (1 − T)^{γ}

    with the soft counts of :func:`confusion_metric_loss` (``p = σ(z)`` per element, or
    ``softmax(z)`` over the class axis with ``multiclass=True``). ``α`` weighs the false
    positives, ``β`` the false negatives: ``α = β = 0.5`` is the soft Dice loss, ``α = β = 1``
    the soft Jaccard loss, ``β > α`` favours recall (small lesions). ``γ`` focuses on the hard
    classes (the focal Tversky loss of Abraham & Khan, whose exponent ``1/γ_paper = 0.75`` is
    ``gamma=0.75`` here); it applies to each class's loss before the mean (each image's and
    class's with ``per_image``; the pooled loss with ``micro``). SMP's ``TverskyLoss`` raises
    the *mean* over classes to ``gamma`` instead: the same for one class (binary masks), else
    ``tversky_loss(..., gamma=1.0) ** g`` reproduces it.

    Every option of :func:`confusion_metric_loss` applies: the class axis (``axis``,
    ``multiclass``), integer masks and ``ignore_index``, ``average``, ``weights``,
    ``class_weights``, and the segmentation options (``smooth_nr``/``smooth_dr``, ``log_loss``,
    ``soft_labels``, ``per_image``, ``include_background``, ``absent_classes``). Empty input
    gives 0; half-precision input a float32 loss; a class with no mass a finite gradient.

    Args:
        logits: ``(B, L)``/``(B,)`` or, with a class axis, ``(N, C, *spatial)`` logits
            (probabilities with ``from_logits=False``).
        labels: as in :func:`confusion_metric_loss`.
        alpha: weight of the false positives, ``≥ 0``.
        beta: weight of the false negatives, ``≥ 0``.
        gamma: focal exponent, ``> 0`` (1: the plain Tversky loss).

    Returns:
        A 0-d array (``(C,)`` or ``(N, C)`` for ``average="none"``), float32 for half input.

    Example:
        >>> import numpy as np
        >>> logits = np.zeros((1, 2, 2, 2))                   # uniform softmax: p = 0.5
        >>> masks = np.array([[[0, 1], [1, 1]]])
        >>> loss = tversky_loss(logits, masks, multiclass=True, alpha=0.3, beta=0.7)
        >>> round(float(loss), 4)  # class 0: T = .5/(.5 + .3·1.5 + .7·.5), class 1: 1.5/2.7
        0.5299

    References:
        Salehi, Erdogmus, Gholipour, "Tversky loss function for image segmentation using 3D
        fully convolutional deep networks", MLMI 2017, arXiv:1706.05721;
        Abraham, Khan, "A Novel Focal Tversky Loss Function with Improved Attention U-Net for
        Lesion Segmentation", ISBI 2019, arXiv:1810.07842.
    """
    opts = _options(metric="f1", beta=1.0, transform="sigmoid", average=average, slope=1.0,
                    offset=0.0, amplifier=73.0, from_logits=from_logits, eps=eps,
                    smooth_nr=smooth_nr, smooth_dr=smooth_dr, log_loss=log_loss,
                    soft_labels=soft_labels, per_image=per_image,
                    include_background=include_background, absent_classes=absent_classes,
                    gamma=gamma, tversky=(alpha, beta))
    return _confusion_loss(logits, labels, opts, weights=weights, axis=axis,
                           multiclass=multiclass, ignore_index=ignore_index,
                           class_weights=class_weights, all_reduce=all_reduce)
