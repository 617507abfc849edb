"""Multi-label categorical cross-entropy (ZLPR), dense and sparse (SPEC §2).

Per example, over the label axis,

    loss = log(1 + Σ_i (1−y_i)·e^{z_i}) + log(1 + Σ_i y_i·e^{−z_i}),

which for hard labels is ``log(1 + Σ_{neg} e^{z}) + log(1 + Σ_{pos} e^{−z})``: every positive
logit is pushed above 0 and every negative logit below 0, so the decision rule is ``logit > 0``
and no threshold has to be tuned. For soft labels ``y ∈ [0, 1]`` it is the soft-label form of
the same loss (Su 2022).

Both sums are computed as one ``logsumexp`` each, over the logits plus the log-masks
``log(1−y)`` / ``log(y)`` (``−inf`` where a label takes no part) and a ``0`` appended for the
``1 +``. There are no ``±1e12`` constants: in float16 they overflow, and the customary masked
code returns NaN under JAX, TensorFlow and NumPy. For soft labels the log-masks are built with
``where`` on the input *and* the output of ``log``, so neither the value nor any gradient (in the
logits or the labels) meets ``log(0)`` or ``0·inf``; hard labels need no ``log`` at all.

The sparse form takes the positives as padded index lists and never builds a dense label array:
the positives are replaced by ``−inf`` in a copy of the logits (one native scatter), so that the
negatives' term is one ``logsumexp``, exact for every gap between positives and negatives, and
the rest is work on the ``(B, P)`` gathered positives.

References:
    Su Jianlin, "将“Softmax+交叉熵”推广到多标签分类问题" (Extending softmax cross-entropy to
    multi-label classification), 2020, https://kexue.fm/archives/7359; and its soft-label
    version, kexue.fm, 2022.
    Su et al., "ZLPR: A Novel Loss for Multi-label Classification", arXiv:2208.02955.
"""

from __future__ import annotations

import math

from metricloss._checks import (
    check_choice,
    check_eager_indices,
    check_floating,
    check_integer,
    check_same_shape,
    prepare_inputs,
    require_array,
)
from metricloss._namespace import (
    Array,
    Namespace,
    compute_dtype,
    device_of,
    finite_logits,
    index_dtype,
    is_eager,
    kernels,
    namespace_of,
    put_along_axis,
    take_along_axis,
)
from metricloss._reduction import REDUCTIONS, apply_reduction

__all__ = [
    "REDUCTIONS",
    "multilabel_categorical_crossentropy",
    "sparse_multilabel_categorical_crossentropy",
]



# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _lse_with_zero(xp: Namespace, a: Array) -> Array:
    """``log(1 + Σ_j e^{a_j})`` over axis 1 of the 2-D ``a``, as ``logsumexp([a, 0])``.

    Appending the 0 keeps every row finite (a row of ``−inf``, e.g. an example without
    negatives, gives 0, not ``−inf``), so the backward pass of ``logsumexp`` never meets
    ``exp(−inf − (−inf))``.
    """
    if a.shape[1] == 0:  # L = 0: log(1 + 0); a[:, :1] below would be empty too
        return xp.sum(a, axis=1)
    zero = xp.zeros_like(a[:, :1])  # (B, 1) without reading B: it may be unknown when traced
    return kernels(xp).logsumexp(xp.concat([a, zero], axis=1), axis=1)


def _gather(xp: Namespace, x: Array, indices: Array) -> Array:
    """``take_along_axis(x, indices, axis=1)`` for non-negative ``indices``."""
    return take_along_axis(xp, x, indices, 1)


def _reduce(xp: Namespace, per_example: Array, reduction: str, dtype: object) -> Array:
    return xp.astype(apply_reduction(xp, per_example, reduction), dtype)


# --------------------------------------------------------------------------------------------
# Dense form
# --------------------------------------------------------------------------------------------


def multilabel_categorical_crossentropy(
    logits: Array,
    labels: Array,
    *,
    mask: Array | None = None,
    reduction: str = "mean",
) -> Array:
    """Multi-label categorical cross-entropy (ZLPR): softmax cross-entropy for many labels.

    .. math::

        \\ell = \\log\\Big(1 + \\sum_i m_i (1-y_i) e^{z_i}\\Big)
              + \\log\\Big(1 + \\sum_i m_i y_i e^{-z_i}\\Big)

    per example (``m`` the optional mask, 1 if absent). With hard labels the two terms are
    ``log(1 + Σ_{neg} e^{z})`` and ``log(1 + Σ_{pos} e^{−z})``: the loss is small only when
    every positive logit is above 0 and every negative logit below 0, so a label is predicted
    positive iff its **logit is > 0**: the threshold is learned, not tuned. Soft labels in
    [0, 1] give Su's 2022 soft-label form; at 0/1 it equals the hard form.

    Computed as two ``logsumexp`` over ``z + log(1−y)`` and ``−z + log(y)``, with ``−inf``
    where a label takes no part and a ``0`` appended for the ``1 +``: finite values and
    gradients for logits of ±1e4, also for rows with no positives, no negatives, or every label
    masked (loss 0, gradient 0). A logit of ``+inf`` on a positive or ``−inf`` on a negative
    gives the limit value with a finite gradient; ``+inf`` on a negative (or ``−inf`` on a
    positive) gives ``+inf``, the limit.

    **Pass hard labels as bool (or integer) arrays** where you have them: the log-masks are
    then plain selections, with no ``log(y)``/``log(1−y)`` to compute (faster, notably under
    ``torch.compile``, whose backward kernel recomputes the log-masks; see the benchmarks).

    Binary ``(B,)`` input is treated as ``L = 1`` (SPEC §0): the loss of each example is then
    ``softplus(z)`` for a negative and ``softplus(−z)`` for a positive, i.e. the binary
    cross-entropy with logits; ``reduction="none"`` returns shape ``(B,)``.

    **Reduction.** The loss is per example: ``"none"`` returns shape ``(B,)``, ``"mean"`` the
    mean **over examples** (like ``torch.nn.CrossEntropyLoss``; not over the ``B·L`` labels),
    ``"sum"`` their sum.

    **Precision.** float16/bfloat16 logits are computed in float32 and the loss is returned in
    float32 (as torch's losses under autocast and Keras do); other dtypes return their own.

    **Empty input.** ``B = 0``: ``"mean"`` and ``"sum"`` give 0, ``"none"`` an empty array.
    ``L = 0``: every example's loss is 0. The gradient is then zero (and finite).

    **NaN.** A NaN label (float labels) makes that example's loss NaN, as a NaN logit does,
    unless the mask removes the label.

    Args:
        logits: ``(B, L)`` or ``(B,)`` floating array.
        labels: same shape; bool, int or float in [0, 1] (soft labels allowed; checked in
            eager mode).
        mask: ``None`` or a boolean array of the logits' shape; ``False`` removes a label from
            both sums.
        reduction: ``"mean"`` (over examples; default), ``"sum"`` or ``"none"`` (shape
            ``(B,)``).

    Returns:
        The loss, of the logits' library and device, in the logits' dtype (float32 for half
        precision): 0-d, or ``(B,)`` for ``reduction="none"``.

    Raises:
        ValueError: shape mismatch, labels outside [0, 1] (eager), unknown ``reduction``.
        TypeError: ``None`` or a non-array for ``logits``/``labels``, non-floating logits, a
            non-boolean mask, arrays of different libraries.

    Under tracing (``jax.jit``, ``torch.compile``, ``tf.function``, also with an unknown batch
    size) the label range is not checked.

    Example:
        >>> import numpy as np
        >>> logits = np.array([[2.0, -1.0, 0.5], [-3.0, 0.2, 1.0]])
        >>> labels = np.array([[1, 0, 1], [0, 0, 1]])
        >>> loss = multilabel_categorical_crossentropy(logits, labels, reduction="none")
        >>> [round(float(v), 4) for v in loss]
        [0.8682, 1.1336]
        >>> round(float(multilabel_categorical_crossentropy(logits, labels)), 4)  # mean over B
        1.0009

    References:
        Su Jianlin, https://kexue.fm/archives/7359 (2020) and its soft-label version
        (kexue.fm, 2022); Su et al., "ZLPR: A Novel Loss for Multi-label Classification",
        arXiv:2208.02955.
    """
    check_choice("reduction", reduction, REDUCTIONS)
    require_array("logits", logits)
    require_array("labels", labels)
    xp, z, y, _, shape = prepare_inputs(logits, labels)
    z = finite_logits(xp, z)  # ±inf: the limit (a huge finite loss on the wrong side), no NaN
    if mask is not None:
        namespace_of(logits=logits, mask=mask)
        if not xp.isdtype(mask.dtype, "bool"):
            raise TypeError(f"mask must be a boolean array, got dtype {mask.dtype}")
        check_same_shape("mask", mask, "logits", logits)
        if len(shape) == 1:
            mask = xp.reshape(mask, (-1, 1))
    hard = not xp.isdtype(labels.dtype, "real floating")

    if hard:
        is_pos = y > 0.0
        is_neg = y < 1.0
    else:
        # ``!=``, not ``y > 0`` / ``y < 1``: a NaN label then takes part in both sums (NaN in,
        # NaN out) instead of dropping out of both. (Not ``logical_not(y <= 0)``: TensorFlow's
        # graph optimizer rewrites that into ``y > 0``.) Labels are in [0, 1], so the
        # selections are the same for every other value.
        is_pos = y != 0.0
        is_neg = y != 1.0
    if mask is not None:
        is_pos = xp.logical_and(is_pos, mask)
        is_neg = xp.logical_and(is_neg, mask)
    if hard:  # log(y) and log(1 − y) are 0 wherever the label takes part
        a_neg = xp.where(is_neg, z, -math.inf)
        a_pos = xp.where(is_pos, -z, -math.inf)
    else:
        # where() on the input of log keeps log(0) out of the graph, where() on its output
        # gives the −inf: value and gradients (also in the labels) are finite everywhere.
        log_1my = xp.log(xp.where(is_neg, 1.0 - y, 1.0))
        log_y = xp.log(xp.where(is_pos, y, 1.0))
        a_neg = xp.where(is_neg, z + log_1my, -math.inf)
        a_pos = xp.where(is_pos, log_y - z, -math.inf)
    per_example = _lse_with_zero(xp, a_neg) + _lse_with_zero(xp, a_pos)
    return _reduce(xp, per_example, reduction, z.dtype)


# --------------------------------------------------------------------------------------------
# Sparse form
# --------------------------------------------------------------------------------------------


def _check_indices(
    xp: Namespace, idx: Array, num_labels: int, pad_index: int
) -> None:
    """Eager-mode checks of the index lists: every entry a label index or ``pad_index``, and no
    label repeated within a row. Skipped under tracing and on accelerators."""
    if not is_eager(idx) or idx.shape[0] == 0 or idx.shape[1] == 0:
        return
    check_eager_indices(xp, "positive_indices", idx, num_labels, ignore=pad_index,
                        ignore_name="pad_index")
    width = idx.shape[1]
    if width < 2:
        return
    # After the check above every entry is a label or padding: a repeated label is an entry
    # equal to another one of its row that is not padding.
    if width <= 16:  # few positives: all pairs (B, P, P), cheaper than a sort per call
        positions = xp.arange(width, device=device_of(idx))
        later = positions[None, :, None] > positions[None, None, :]  # each pair once
        same = xp.logical_and(idx[:, :, None] == idx[:, None, :], later)
        repeated = xp.logical_and(xp.any(same, axis=2), idx != pad_index)  # (B, P)
        entries = idx
    else:
        ordered = xp.sort(idx, axis=1)
        entries = ordered[:, 1:]
        repeated = xp.logical_and(entries == ordered[:, :-1], entries != pad_index)
    if bool(xp.any(repeated)):
        example = int(xp.max(xp.where(repeated, entries, xp.min(entries))))
        raise ValueError(
            f"positive_indices must not repeat a label within a row; label {example} is repeated"
        )


def sparse_multilabel_categorical_crossentropy(
    logits: Array,
    positive_indices: Array,
    *,
    pad_index: int = -1,
    reduction: str = "mean",
) -> Array:
    """Multi-label categorical cross-entropy (ZLPR) with the positives given as index lists.

    For many labels and few positives per example (extreme classification). Equal to
    :func:`multilabel_categorical_crossentropy` on the same data, within float tolerance, for
    every gap between the positive and the negative logits, without a dense ``(B, L)`` label
    array. With ``s`` the gathered positive logits of an example,

    .. math::

        \\ell = \\log\\Big(1 + \\sum_{p} e^{-s_p}\\Big)
              + \\log\\Big(1 + \\sum_{i \\notin P} e^{z_i}\\Big),

    the second term computed as the dense form computes it: one ``logsumexp`` over the logits
    with a ``0`` appended and every positive replaced by ``−inf`` (one native scatter: PyTorch's
    ``scatter``, JAX's and NumPy's ``put_along_axis``, TensorFlow's
    ``tensor_scatter_nd_update``), never by subtracting the positives from a sum over all
    labels. (The published sparse form,
    ``log(1 + Σ_i e^{z_i}) + log(1 − e^{lse(s) − all})``, loses every digit once a positive is
    about ``−log ε`` above the negatives, 16 in float32, and its gradient then pushes that
    positive down.) Cost: the passes over the logits of one ``logsumexp`` plus one copy (the
    scatter), forward and backward, and ``O(B·P)`` work on the positives. Memory beyond the
    ``(B, P)`` work: the masked copy of the logits that the ``logsumexp`` reads (``(B, L + 1)``
    in the compute dtype, kept for the backward pass as any ``logsumexp`` keeps its input).

    A label is predicted positive iff its **logit is > 0** (as for the dense form). A logit of
    ``+inf`` on a positive or ``−inf`` on a negative gives the limit value with a finite
    gradient.

    **Reduction.** ``"none"`` returns the loss per example, shape ``(B,)``; ``"mean"`` is the
    mean **over examples** (not over the ``B·L`` labels), ``"sum"`` their sum.

    **Precision.** float16/bfloat16 logits are computed in float32 and the loss is returned in
    float32; other dtypes return their own.

    **Empty input.** ``B = 0``: ``"mean"`` and ``"sum"`` give 0, ``"none"`` an empty array.
    ``L = 0`` (every index is padding) or ``P = 0``: the loss is ``log(1 + Σ_i e^{z_i})`` (0 for
    ``L = 0``). Gradients are finite (zero for an empty batch).

    Args:
        logits: ``(B, L)`` floating array (float16/bfloat16 are computed in float32); ``L``
            must be known when traced.
        positive_indices: ``(B, P)`` integer array: the indices in ``[0, L)`` of each example's
            positive labels, padded with ``pad_index`` (rows may hold any number of positives
            from 0 to ``P``, in any order, without repeats).
        pad_index: the padding value, a Python int that is negative or ``≥ L`` (so that it can
            never be mistaken for a label). Default ``−1``.
        reduction: ``"mean"`` (over examples; default), ``"sum"`` or ``"none"`` (shape
            ``(B,)``).

    Returns:
        The loss, of the logits' library and device, in the logits' dtype (float32 for half
        precision): 0-d, or ``(B,)`` for ``reduction="none"``.

    Raises:
        ValueError: logits not 2-D, ``positive_indices`` not ``(B, P)``, ``pad_index`` in
            ``[0, L)``, unknown ``reduction``; in eager mode on the host, an index outside
            ``[0, L)`` that is not ``pad_index``, or a label repeated within a row.
        TypeError: ``None`` or a non-array for ``logits``/``positive_indices``, non-floating
            logits, non-integer ``positive_indices`` or ``pad_index``, arrays of different
            libraries.

    Under tracing (``jax.jit``, ``torch.compile``, ``tf.function``) and on accelerators the
    index values are **not checked**: an out-of-range index is then ignored like padding, and
    a repeated label counts twice.

    Example:
        >>> import numpy as np
        >>> logits = np.array([[2.0, -1.0, 0.5], [-3.0, 0.2, 1.0]])
        >>> positives = np.array([[0, 2], [2, -1]])
        >>> loss = sparse_multilabel_categorical_crossentropy(logits, positives, reduction="none")
        >>> [round(float(v), 4) for v in loss]
        [0.8682, 1.1336]
        >>> confident = np.array([[30.0, 2.0, -10.0]], dtype=np.float32)  # dense: 2.1269
        >>> round(float(sparse_multilabel_categorical_crossentropy(confident, np.array([[0]]))), 4)
        2.1269

    References:
        Su Jianlin, https://kexue.fm/archives/7359 (2020); Su et al., "ZLPR: A Novel Loss for
        Multi-label Classification", arXiv:2208.02955.
    """
    check_choice("reduction", reduction, REDUCTIONS)
    require_array("logits", logits)
    require_array("positive_indices", positive_indices)
    xp = namespace_of(logits=logits, positive_indices=positive_indices)
    check_floating(xp, "logits", logits)
    if len(logits.shape) != 2:
        raise ValueError(
            f"logits must have shape (B, L) for the sparse form, got {tuple(logits.shape)}"
        )
    if not xp.isdtype(positive_indices.dtype, "integral"):
        raise TypeError(
            f"positive_indices must have an integer dtype, got {positive_indices.dtype}"
        )
    batch, num_labels = logits.shape
    idx_batch = positive_indices.shape[0] if len(positive_indices.shape) == 2 else None
    # A batch size may be unknown (None) under tracing: compare only sizes known on both sides.
    if len(positive_indices.shape) != 2 or (
        batch is not None and idx_batch is not None and idx_batch != batch
    ):
        raise ValueError(
            f"positive_indices must have shape ({batch}, P), got {tuple(positive_indices.shape)}"
        )
    check_integer("pad_index", pad_index)
    if num_labels is None:
        raise ValueError("logits must have a known number of labels (axis 1) for the sparse form")
    if 0 <= pad_index < num_labels:
        raise ValueError(
            f"pad_index must be negative or >= the number of labels ({num_labels}) so that it "
            f"cannot be a label index; got {pad_index}"
        )
    idx = positive_indices
    _check_indices(xp, idx, num_labels, pad_index)

    dtype = compute_dtype(xp, logits.dtype)
    z = finite_logits(xp, xp.astype(logits, dtype, copy=False))  # ±inf: the limit, no NaN
    if idx.shape[1] == 0 or num_labels == 0:  # no positives: the loss is log(1 + Σ_i e^{z_i})
        return _reduce(xp, _lse_with_zero(xp, z), reduction, dtype)
    # Padding (and, under tracing, any out-of-range index) takes no part: gather at 0 instead
    # and mask the gathered value out.
    valid = xp.logical_and(idx >= 0, idx < num_labels)
    index = index_dtype(xp)
    safe_idx = xp.astype(xp.where(valid, idx, xp.zeros_like(idx)), index)
    s = _gather(xp, z, safe_idx)  # (B, P), bit-equal to the logits gathered
    pos = _lse_with_zero(xp, xp.where(valid, -s, -math.inf))
    # The negatives' term log(1 + Σ_{i ∉ P} e^{z_i}) as the dense form computes it: one
    # logsumexp over the logits with a 0 appended (the ``1 +``) and every positive replaced by
    # −inf (one scatter). Padding writes the 0 it finds into the appended column.
    ext = xp.concat([z, xp.zeros_like(z[:, :1])], axis=1)
    target = xp.astype(xp.where(valid, idx, xp.full_like(idx, num_labels)), index)
    fill = xp.where(valid, -math.inf, xp.zeros_like(s))
    neg = kernels(xp).logsumexp(put_along_axis(xp, ext, target, fill), axis=1)
    return _reduce(xp, pos + neg, reduction, dtype)
