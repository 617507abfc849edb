"""The running label-prior estimate: a pure state, its start and its update (SPEC §3)."""

from __future__ import annotations

from typing import Any, NamedTuple

from metricloss._checks import (
    as_float_labels,
    check_floating,
    check_integer,
    check_number,
    prepare_weights,
    require_array,
)
from metricloss._namespace import (
    Array,
    compute_dtype,
    device_of,
    namespace_of,
    resolve_namespace,
)
from metricloss._sync import AllReduce, check_all_reduce, sum_across
from metricloss.global_objectives._inputs import (
    Number,
    _check_finite_weights,
    _weighted_label_sums,
)


class LabelPriorState(NamedTuple):
    """The running label-prior estimate: ``counts`` (``Σ w·y`` plus the positive pseudocount)
    and ``weight_sum`` (``Σ w`` plus both pseudocounts), each of shape ``(L,)``.

    A ``NamedTuple``, so a JAX pytree, and one name per buffer an adapter registers
    (``counts``, ``weight_sum``). ``priors`` is ``counts / weight_sum``: pass it as the losses'
    ``label_priors=``.
    """

    counts: Array
    weight_sum: Array

    @property
    def priors(self) -> Array:
        """``π = counts / weight_sum``, shape ``(L,)``."""
        return self.counts / self.weight_sum


def label_priors_init(
    num_labels: int,
    *,
    like: Array | None = None,
    xp: Any = None,
    dtype: Any = None,
    device: Any = None,
    positive_pseudocount: float = 1.0,
    negative_pseudocount: float = 1.0,
) -> LabelPriorState:
    """The initial state of the running label-prior estimate.

    ``counts`` starts at ``positive_pseudocount`` and ``weight_sum`` at
    ``positive_pseudocount + negative_pseudocount`` for every label (1 and 2 by default, as in
    the original library), so the first prior is never 0/0 and never exactly 0 or 1.

    Args:
        num_labels: ``L ≥ 1`` (1 for binary classification).
        like: an array to match: its library, its device, and its floating dtype (float32 for
            half precision or non-floating arrays).
        xp: the library, as a user passes it: ``torch``, ``jax.numpy``, ``numpy``,
            ``tensorflow``, or an array-API namespace. One of ``like`` and ``xp`` is needed.
        dtype: floating dtype (default: ``like``'s as above, else ``float32``).
        device: where to create the arrays (default: ``like``'s, else the library's default).
        positive_pseudocount, negative_pseudocount: non-negative, not both zero.

    Returns:
        A :class:`LabelPriorState`, to be advanced by :func:`update_label_priors`.

    Example:
        >>> import numpy as np
        >>> state = label_priors_init(2, xp=np)
        >>> state.counts.tolist(), state.weight_sum.tolist(), state.priors.tolist()
        ([1.0, 1.0], [2.0, 2.0], [0.5, 0.5])
    """
    check_integer("num_labels", num_labels, low=1)
    pos = check_number("positive_pseudocount", positive_pseudocount, low=0.0)
    neg = check_number("negative_pseudocount", negative_pseudocount, low=0.0)
    if pos + neg <= 0:
        raise ValueError("positive_pseudocount + negative_pseudocount must be > 0 (the first "
                         "prior would be 0/0)")
    if like is not None:
        require_array("like", like)
        ns = namespace_of(like=like)
        if xp is not None and resolve_namespace(xp=xp) is not ns:
            raise TypeError("like and xp name different array libraries; pass one of them")
        if dtype is None:
            dtype = (compute_dtype(ns, like.dtype) if ns.isdtype(like.dtype, "real floating")
                     else ns.float32)
        if device is None:
            device = device_of(like)
    elif xp is not None:
        ns = resolve_namespace(xp=xp)
    else:
        raise TypeError("label_priors_init needs like= (an array to match) or xp= (the "
                        "library, e.g. torch, jax.numpy, numpy)")
    dtype = ns.float32 if dtype is None else dtype
    if not ns.isdtype(dtype, "real floating"):
        raise TypeError(f"dtype must be a floating-point dtype, got {dtype}")
    counts = ns.full((num_labels,), pos, dtype=dtype, device=device)
    weight_sum = ns.full((num_labels,), pos + neg, dtype=dtype, device=device)
    return LabelPriorState(counts, weight_sum)


def update_label_priors(
    state: LabelPriorState | tuple[Array, Array],
    labels: Array,
    *,
    weights: Array | Number | None = None,
    all_reduce: AllReduce | None = None,
) -> LabelPriorState:
    """One step of the running label-prior estimate (pure: returns the new state).

    .. math::

        \\text{counts} \\mathrel{+}= Σ_b w·y,\\qquad \\text{weight\\_sum} \\mathrel{+}= Σ_b w,
        \\qquad π = \\text{counts} / \\text{weight\\_sum}

    Args:
        state: a :class:`LabelPriorState` (or a pair ``(counts, weight_sum)``), each ``(L,)``
            floating, from :func:`label_priors_init` or a previous update.
        labels: ``(B, L)`` or, for ``L = 1``, ``(B,)``; bool, int or float in [0, 1]. The
            batch size may be unknown (traced).
        weights: keyword-only; ``None``, a number, or any shape broadcasting to the labels
            (``(B,)``, ``(B, 1)``, ``(B, L)``), non-negative and finite.
        all_reduce: data-parallel training: a function summing an array across replicas; the
            batch's ``Σ w·y`` and ``Σ w`` are summed across replicas (one call of ``2L``
            numbers) so that every replica's state advances by the global batch and stays
            identical. ``None`` (default): this batch alone.

    Returns:
        The new :class:`LabelPriorState`, in the state's dtype; its ``priors`` is the
        estimate to pass as ``label_priors=``.

    Example:
        >>> import numpy as np
        >>> state = label_priors_init(1, xp=np, dtype=np.float64)
        >>> state = update_label_priors(state, np.array([1, 0, 0, 0]))
        >>> state.priors.tolist()  # (1 + 1) / (2 + 4)
        [0.3333333333333333]
    """
    if not (isinstance(state, tuple) and len(state) == 2):
        raise TypeError(f"state must be a LabelPriorState (counts, weight_sum), got "
                        f"{type(state).__name__}")
    counts, weight_sum = state
    require_array("counts", counts)
    require_array("weight_sum", weight_sum)
    require_array("labels", labels)
    xp = namespace_of(counts=counts, weight_sum=weight_sum, labels=labels, weights=weights)
    check_floating(xp, "counts", counts)
    check_floating(xp, "weight_sum", weight_sum)
    if len(counts.shape) != 1:
        raise ValueError(f"counts must have shape (L,), got {tuple(counts.shape)}")
    if tuple(weight_sum.shape) != tuple(counts.shape):
        raise ValueError(f"weight_sum must have the shape of counts {tuple(counts.shape)}, "
                         f"got {tuple(weight_sum.shape)}")
    L = counts.shape[0]
    shape = tuple(labels.shape)
    if not (shape[1:] == (L,) and len(shape) == 2) and not (len(shape) == 1 and L == 1):
        raise ValueError(f"labels must have shape (B, {L}) to match counts (or (B,) when L = 1),"
                         f" got {shape}")
    y = xp.reshape(as_float_labels(xp, labels, counts.dtype), (-1, L))
    w = prepare_weights(xp, weights, y, shape)
    _check_finite_weights(xp, w)
    positives, total = sum_across(xp, _weighted_label_sums(xp, y, w),
                                  check_all_reduce(all_reduce))
    return LabelPriorState(counts + positives, weight_sum + xp.astype(total, weight_sum.dtype))
