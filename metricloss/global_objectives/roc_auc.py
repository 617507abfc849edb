"""ROC-AUC as a pairwise loss (SPEC §3; Eban et al. 2017, §5): no dual variable, three
algorithms (pairwise per element, the hard-label pair sum, the exact hinge sort).

The public :func:`roc_auc_loss` is also importable from :mod:`metricloss.global_objectives`
and :mod:`metricloss`, where it has always been. Conventions (argument order, ``weights``,
half precision, ±inf logits, unknown batch sizes) are those of
:mod:`metricloss.global_objectives`.
"""

from __future__ import annotations

from typing import Any

from metricloss._checks import check_bool, check_choice, check_integer
from metricloss._namespace import (
    Array,
    Namespace,
    cumulative_sum,
    device_of,
    is_eager,
    kernels,
    logit_bound,
    take_along_axis,
)
from metricloss._reduction import REDUCTIONS
from metricloss.global_objectives._inputs import (
    SURROGATES,
    Number,
    _batch_count,
    _prepare,
    _reduce,
    _static_rows,
)
from metricloss.global_objectives.surrogates import _relu

__all__ = ["ROC_METHODS", "roc_auc_loss"]

ROC_METHODS = ("pairwise", "sort")


def _blocks(B: int | None, chunk_size: int | None) -> list[tuple[Any, Any]]:
    """Row blocks ``[start, stop)`` of at most ``chunk_size`` rows (``None``: one block).

    One block, all rows, when the batch size ``B`` is unknown (``None``: see
    :func:`metricloss.global_objectives._inputs._static_rows`): a Python loop cannot be laid over an
    unknown size, so chunking applies to known batch sizes only. No block for an empty
    batch."""
    if B is None:
        return [(None, None)]
    step = chunk_size or max(B, 1)
    return [(start, min(start + step, B)) for start in range(0, B, step)]


def _over_batch(xp: Namespace, z: Array, x: Array) -> Array:
    """``x / B`` (the batch size read at run time where it is not static; B = 0 gives x)."""
    n = _batch_count(xp, z)
    if type(n) is int:
        return x / max(n, 1)
    return x / xp.where(n > 0, n, 1.0)


def _rows(x: Array, start: Any, stop: Any) -> Array:
    return x if start is None else x[start:stop, :]


def _roc_pairwise(xp: Namespace, z: Array, y: Array, w: Array | None, surrogate: str,
                  chunk_size: int | None) -> Array:
    """Per-element pairwise ROC loss ``(B, L)``, computed ``chunk_size`` rows at a time.

    Row block ``j ∈ [start, stop)`` forms ``(C, B, L)`` arrays; the blocks are concatenated,
    so each element's value is the unchunked one (the sum over ``i`` is not split).
    """
    B = _static_rows(z)
    z0, y0 = xp.expand_dims(z, axis=0), xp.expand_dims(y, axis=0)  # (1, B, L)
    w0 = None if w is None else xp.expand_dims(w, axis=0)
    blocks = []
    for start, stop in _blocks(B, chunk_size):
        zj = xp.expand_dims(_rows(z, start, stop), axis=1)  # (C, 1, L)
        yj = xp.expand_dims(_rows(y, start, stop), axis=1)
        # With d = y_i − y_j = −(y_j − y_i), the pair loss is ℓ(−d·(z_j − z_i)):
        # softplus(d·Δz) or max(1 + d·Δz, 0). Written so that few (C, B, L) temporaries are
        # alive at once (names are rebound as soon as an array is no longer needed). The
        # logits lie in [−H, H], so Δz is finite and |d|·pair is never 0·inf.
        d = y0 - yj  # (C, B, L)
        if surrogate == "xent":
            pair = kernels(xp).softplus(d * (zj - z0))
        else:
            pair = _relu(xp, 1.0 + d * (zj - z0))
        d = xp.abs(d)
        pair = d * pair
        del d
        if w0 is not None:
            pair = w0 * pair
        row = xp.sum(pair, axis=1)  # (C, L)
        del pair
        if w is not None:
            row = (w if start is None or w.shape[0] == 1 else w[start:stop, :]) * row
        blocks.append(row)
    if not blocks:  # an empty batch
        return xp.zeros(tuple(z.shape), dtype=z.dtype, device=device_of(z))
    per = blocks[0] if len(blocks) == 1 else xp.concat(blocks, axis=0)
    return _over_batch(xp, z, 0.5 * per)


def _roc_pairwise_total(xp: Namespace, z: Array, y: Array, w: Array | None, surrogate: str,
                        chunk_size: int | None) -> Array:
    """The sum over the batch of :func:`_roc_pairwise`, for 0/1 labels: a scalar.

    ``(1/B)·Σ_j w_j y_j Σ_i w_i (1 − y_i)·ℓ(z_j − z_i)``: each positive–negative pair once,
    one ``(C, B, L)`` difference, surrogate and product per row block (the per-element form
    needs ``|y_j − y_i|``, ``(y_j − y_i)·Δz`` and the symmetric half as well). For 0/1 labels
    it equals the sum of the per-element losses; for soft labels it does not.
    """
    B = _static_rows(z)
    pos = y if w is None else w * y  # (B, L): w_j y_j
    neg = xp.expand_dims(1.0 - y if w is None else w * (1.0 - y), axis=0)  # (1, B, L)
    z0 = xp.expand_dims(z, axis=0)  # (1, B, L)
    total = None
    for start, stop in _blocks(B, chunk_size):
        zj = xp.expand_dims(_rows(z, start, stop), axis=1)  # (C, 1, L)
        # ℓ(z_j − z_i): softplus(z_i − z_j) or max(1 + z_i − z_j, 0).
        if surrogate == "xent":
            pair = kernels(xp).softplus(z0 - zj)
        else:
            pair = _relu(xp, (z0 + 1.0) - zj)
        row = xp.sum(neg * pair, axis=1)  # (C, L)
        del pair
        part = xp.sum(_rows(pos, start, stop) * row)
        total = part if total is None else total + part
    if total is None:  # an empty batch
        return xp.zeros((), dtype=z.dtype, device=device_of(z))
    return _over_batch(xp, z, total)


def _gather(xp: Namespace, x: Array, indices: Array) -> Array:
    """``take_along_axis(x, indices, axis=1)`` for non-negative indices of ``x``'s shape."""
    return take_along_axis(xp, x, indices, 1)


def _roc_sorted_hinge(xp: Namespace, z: Array, y: Array, w: Array | None) -> Array:
    """Per-element pairwise hinge ROC loss ``(B, L)`` in ``O(B log B)``, for 0/1 labels.

    For a positive ``j``, ``Σ_{n neg} w_n·max(1 − z_j + z_n, 0)`` is a sum over the negatives
    with ``z_n > z_j − 1`` of an affine function of ``z_n``: ``(1 − z_j)·Σ w_n + Σ w_n·z_n``.
    For a negative ``j``, likewise over the positives with ``z_p < z_j + 1``. One stable sort
    per label of the logits merged with the queries ``z − 1`` and ``z + 1``, suffix and prefix
    sums, and a gather at the queries' positions give every element's sum.
    """
    L = z.shape[1]
    # Centre on the mean of the logits inside (−H, H) (fewer digits lost in the sums below);
    # a logit at ±H (an infinite one) must not drag the centre and every other logit with it.
    inside = xp.abs(z) < logit_bound(xp, z.dtype)
    count = xp.sum(xp.astype(inside, z.dtype), axis=0, keepdims=True)
    centre = (xp.sum(xp.where(inside, z, 0.0), axis=0, keepdims=True)
              / xp.where(count > 0, count, 1.0))
    zt = xp.matrix_transpose(z - centre)  # (L, B): one row per label
    yt = xp.matrix_transpose(y)
    wt = None if w is None else xp.matrix_transpose(w + xp.zeros_like(z))
    neg_w = 1.0 - yt if wt is None else wt * (1.0 - yt)
    pos_w = yt if wt is None else wt * yt
    keys = xp.concat([zt, zt - 1.0, zt + 1.0], axis=1)  # (L, 3B)
    perm = xp.argsort(keys, axis=1, stable=True)
    # The inverse permutation, as (L, 3, B): the positions of the logits and both queries.
    where = xp.reshape(xp.argsort(perm, axis=1, stable=True), (L, 3, -1))
    pad = xp.zeros_like(zt)

    def in_order(values: Array) -> Array:  # values of the B logits, zero at the queries
        return _gather(xp, xp.concat([values, pad, pad], axis=1), perm)

    def suffix(values: Array) -> Array:
        return xp.flip(cumulative_sum(xp, xp.flip(values, axis=1), axis=1), axis=1)

    def at(sums: Array, block: int) -> Array:  # the sums at query block 1 (z − 1) or 2 (z + 1)
        return _gather(xp, sums, where[:, block, :])

    # Positives: the negatives above z_j − 1 (the queries of block 1 lie among them).
    above_w = suffix(in_order(neg_w))
    above_wz = suffix(in_order(neg_w * zt))
    pos_sum = (1.0 - zt) * at(above_w, 1) + at(above_wz, 1)
    # Negatives: the positives below z_j + 1 (the queries of block 2).
    below_w = cumulative_sum(xp, in_order(pos_w), axis=1)
    below_wz = cumulative_sum(xp, in_order(pos_w * zt), axis=1)
    neg_sum = (1.0 + zt) * at(below_w, 2) - at(below_wz, 2)
    per = yt * pos_sum + (1.0 - yt) * neg_sum
    if wt is not None:
        per = wt * per
    return _over_batch(xp, z, 0.5 * xp.matrix_transpose(per))


def roc_auc_loss(
    logits: Array,
    labels: Array,
    *,
    weights: Array | Number | None = None,
    surrogate: str = "xent",
    reduction: str = "mean",
    chunk_size: int | None = None,
    method: str = "pairwise",
    return_aux: bool = False,
) -> Any:
    """A pairwise surrogate of ``1 − ROC-AUC``: every positive–negative pair, ranked.

    The per-element loss of example ``j`` (per label), as in the original library:

    .. math::

        \\text{loss}_j = \\frac{1}{2B} Σ_i |y_j − y_i|·w_i w_j·
        \\text{surr}(1, (y_j − y_i)(z_j − z_i); 1, 1)

    so each positive–negative pair is counted half from each side, and the sum over the batch
    is ``(1/B)·Σ_{p∈pos, n∈neg} w_p w_n ℓ(z_p − z_n)`` with ``ℓ(u) = softplus(−u)`` (xent) or
    ``max(1 − u, 0)`` (hinge). No dual variable, no label prior.

    **Memory and the two methods.** ``method="pairwise"`` forms ``(B, B, L)`` arrays; with
    ``chunk_size=C`` it forms ``(C, B, L)`` blocks of rows ``j`` and concatenates the rows, so
    every element (``reduction="none"`` included) has exactly its unchunked definition. This
    bounds the forward pass' memory; reverse-mode autodiff still keeps each block's residuals
    (``O(B²L)`` in all) unless the caller rematerialises (``jax.checkpoint``,
    ``torch.utils.checkpoint``). Chunking needs a known batch size: when it is unknown or
    symbolic under tracing (``tf.function`` with a ``(None, L)`` signature, as Keras traces a
    partial batch; ``jax.export``; and under ``torch.compile`` always, where Dynamo does not
    tell a symbolic size from a static one), ``chunk_size`` is ignored and one ``(B, B, L)``
    block is formed: same values, unbounded memory; use ``method="sort"`` there, or eager,
    ``jax.jit`` or a static ``tf.function`` where memory matters. ``method="sort"`` (hinge
    only, 0/1 labels) computes the same per-element values exactly in ``O(B log B)`` time and
    ``O(B·L)`` memory, gradients included: a sort of the logits merged with ``z ± 1``, then
    prefix sums. Soft labels are rejected there in eager mode (the pairwise ``|y_j − y_i|``
    form is not separable); under tracing they go unchecked and give
    ``Σ_i w_i w_j [y_j(1−y_i)ℓ(z_j−z_i) + (1−y_j)y_iℓ(z_i−z_j)] / 2B``, which equals the
    pairwise form only for 0/1 labels.

    **Hard labels.** With ``reduction="mean"`` or ``"sum"`` and labels of a bool or integer
    dtype (known to be 0/1 without reading them), ``method="pairwise"`` sums
    ``(1/B)·Σ_{j,i} w_j w_i y_j(1−y_i)·ℓ(z_j − z_i)`` directly: each positive–negative pair
    once, about half the work of the per-element form, same value and gradients (up to
    rounding), chunked alike. Float labels (they may be soft) and ``reduction="none"`` use
    the per-element form; pass 0/1 labels as bool or int to get the fast path.

    **Infinite logits** are read as ``±H`` (see :mod:`metricloss.global_objectives`): a pair
    ranked correctly by an infinite margin costs 0, one ranked wrongly a loss of order ``H``;
    the gradient is finite.

    Args:
        logits: ``(B, L)`` or ``(B,)`` floating (float16/bfloat16 computed in float32).
        labels: same shape; bool, int or float in [0, 1] (soft labels: pairwise method only).
        weights: keyword-only; ``None``, a number, or any shape broadcasting to the labels
            (``(B,)``, ``(B, 1)``, ``(B, L)``), non-negative and finite.
        surrogate: ``"xent"`` or ``"hinge"``.
        reduction: ``"mean"`` (over all ``B·L`` elements; an empty batch gives 0), ``"sum"``,
            or ``"none"``.
        chunk_size: rows per block for ``method="pairwise"`` (``None``: one block).
        method: ``"pairwise"`` or ``"sort"``.
        return_aux: if True, return ``(loss, {})`` (there is no dual state), the shape of the
            constrained losses' ``return_aux=True`` result.

    Returns:
        The loss, in the logits' library, device and dtype (float32 for half precision).

    Example:
        >>> import numpy as np
        >>> loss = roc_auc_loss(np.array([0.5, 0.0, 1.0]), np.array([1, 0, 0]),
        ...                     surrogate="hinge", reduction="sum")
        >>> round(float(loss), 6)  # (hinge(0.5) + hinge(−0.5)) / 3
        0.666667

    Reference:
        Eban et al., arXiv:1608.04802, §5 (ROC-AUC); the original ``roc_auc_loss``.
    """
    check_choice("surrogate", surrogate, SURROGATES)
    check_choice("reduction", reduction, REDUCTIONS)
    check_choice("method", method, ROC_METHODS)
    check_bool("return_aux", return_aux)
    if chunk_size is not None:
        check_integer("chunk_size", chunk_size, low=1)
    if method == "sort":
        if surrogate != "hinge":
            raise ValueError("method='sort' is exact for surrogate='hinge' only (the xent pair "
                             f"loss is not piecewise affine); got surrogate={surrogate!r}")
        if chunk_size is not None:
            raise ValueError("chunk_size applies to method='pairwise' only; method='sort' needs "
                             "no chunking (O(B·L) memory)")
    b = _prepare(logits, labels, weights)
    xp = b.xp
    if method == "sort":
        if not xp.isdtype(labels.dtype, ("bool", "integral")) and is_eager(b.y):
            soft = xp.logical_and(b.y != 0.0, b.y != 1.0)
            if bool(xp.any(soft)):
                raise ValueError("labels must be 0 or 1 for method='sort' (soft labels found); "
                                 "use method='pairwise'")
        loss = _reduce(b, _roc_sorted_hinge(xp, b.z, b.y, b.w), reduction)
    elif reduction != "none" and xp.isdtype(labels.dtype, ("bool", "integral")):
        # Hard labels by dtype (no host read): the positive–negative pairs only, once.
        loss = _roc_pairwise_total(xp, b.z, b.y, b.w, surrogate, chunk_size)
        if reduction == "mean":
            n = _batch_count(xp, b.z)
            if type(n) is int:
                loss = loss / (n * b.num_labels) if n * b.num_labels > 0 else loss
            else:
                size = n * b.num_labels
                loss = loss / xp.where(size > 0, size, 1.0)
    else:
        loss = _reduce(b, _roc_pairwise(xp, b.z, b.y, b.w, surrogate, chunk_size), reduction)
    return (loss, {}) if return_aux else loss
