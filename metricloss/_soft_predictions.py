"""Soft predictions ``p ∈ [0, 1]`` of the confusion-matrix losses (SPEC §1, "Transforms").

Two transforms, each from logits or from probabilities (``from_logits=False``):

- ``sigmoid`` (sigmoidF1): ``p = σ(slope·(z + offset))`` per element, or ``softmax(slope·z)``
  over a class axis. From probabilities ``q`` the logit is ``log q − log1p(−q)``, so
  ``p = σ(slope·(logit(q) + offset))`` (``p = q`` when ``slope = 1`` and ``offset = 0``), and over
  a class axis ``p = q^slope / Σ_c q^slope`` (``p = q`` when ``slope = 1``).
- ``anyloss`` (AnyLoss): ``p = σ(amplifier·(q − 0.5))`` with ``q = σ(z)`` (``softmax(z)`` over a
  class axis) or ``q`` the probabilities themselves.

Infinite logits give the limit probabilities with finite gradients: the element-wise sigmoid
saturates to exactly 0 or 1 (its gradient ``p(1 − p)`` is then 0), and the softmax clips its
arguments to the dtype's finite range first (an infinite logit then has a zero gradient; the
others keep theirs). Probabilities of exactly 0 or 1 are their own limits: the transform returns
them with a zero gradient through the logit (whose own gradient would be infinite there).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from metricloss._namespace import Array, Namespace, kernels

__all__ = ["LossOptions", "class_axis_predictions", "describe_logits", "elementwise_complements",
           "elementwise_predictions"]


class LossOptions(NamedTuple):
    """The validated Python options of one confusion-matrix loss call."""

    metric: str
    beta: float
    transform: str
    average: str
    slope: float
    offset: float
    amplifier: float
    from_logits: bool
    eps: float
    # The segmentation options (all default to the plain loss of SPEC §1).
    smooth_nr: float = 0.0
    smooth_dr: float = 0.0
    log_loss: bool = False
    gamma: float = 1.0
    tversky: tuple[float, float] | None = None
    soft_labels: bool = False
    per_image: bool = False
    absent_classes: str = "keep"
    include_background: bool = True

    def loss_keywords(self) -> dict[str, Any]:
        """The keywords of :func:`metricloss._soft_counts.loss_of_counts` beyond the metric."""
        return {"smooth_nr": self.smooth_nr, "smooth_dr": self.smooth_dr,
                "log_loss": self.log_loss, "gamma": self.gamma, "tversky": self.tversky}

    def uses_class_axis(self) -> bool:
        """Whether an option needs the class-axis form (``(N, C, *spatial)``)."""
        return (self.per_image or self.absent_classes != "keep"
                or not self.include_background)


def _amplify(xp: Namespace, q: Array, amplifier: float) -> Array:
    # A(q) = σ(amplifier·(q − 0.5)). The native sigmoid saturates to exactly 1.0 for large
    # arguments (amplifier ≥ 34 near q = 1 in float32) with a zero, finite gradient; the
    # naive 1/(1+exp(−u)) would overflow exp and give NaN in the backward pass.
    return kernels(xp).sigmoid(amplifier * (q - 0.5))


def _sigmoid_of_probabilities(xp: Namespace, q: Array, slope: float, offset: float) -> Array:
    """``σ(slope·(logit(q) + offset))``; at ``q = 0`` or ``1`` the limit ``q``, gradient 0."""
    if slope == 1.0 and offset == 0.0:
        return q  # σ(logit(q)) = q: no transform at all
    inside = xp.logical_and(q > 0.0, q < 1.0)
    safe = xp.where(inside, q, xp.full_like(q, 0.5))
    u = xp.log(safe) - xp.log1p(-safe)
    if offset != 0.0:
        u = u + offset
    p = kernels(xp).sigmoid(slope * u)
    return xp.where(inside, p, xp.astype(q >= 1.0, q.dtype))


def elementwise_predictions(xp: Namespace, z: Array, opts: LossOptions) -> Array:
    """``p`` of each element on its own (multi-label, or a class axis without softmax)."""
    if opts.transform == "sigmoid":
        if not opts.from_logits:
            return _sigmoid_of_probabilities(xp, z, opts.slope, opts.offset)
        if opts.offset != 0.0:
            z = z + opts.offset
        if opts.slope != 1.0:
            z = opts.slope * z
        return kernels(xp).sigmoid(z)
    q = kernels(xp).sigmoid(z) if opts.from_logits else z
    return _amplify(xp, q, opts.amplifier)


def elementwise_complements(xp: Namespace, z: Array, opts: LossOptions) -> Array:
    """``1 − p`` of :func:`elementwise_predictions`, computed without the cancellation of
    ``1 − p``: each transform is a sigmoid, and ``1 − σ(u) = σ(−u)`` keeps its relative
    precision where ``p`` rounds to 1 (``σ(17)`` is exactly 1.0 in float32, ``σ(−17)`` is
    ``4.1e-8``). The true-negative count ``Σ w·(1−p)·(1−y)`` of the metrics that read it (G-mean,
    balanced accuracy, accuracy, MCC) is summed from these, so that float32 keeps the
    specificity of confident predictions instead of rounding it to 0."""
    if opts.transform == "sigmoid":
        if not opts.from_logits:
            if opts.slope == 1.0 and opts.offset == 0.0:
                return 1.0 - z  # the caller's probabilities: nothing better to be had
            return _sigmoid_of_probabilities(xp, 1.0 - z, opts.slope, -opts.offset)
        if opts.offset != 0.0:
            z = z + opts.offset
        return kernels(xp).sigmoid(-z if opts.slope == 1.0 else (-opts.slope) * z)
    # 1 − A(q) = A(1 − q), and 1 − σ(z) = σ(−z).
    not_q = kernels(xp).sigmoid(-z) if opts.from_logits else 1.0 - z
    return _amplify(xp, not_q, opts.amplifier)


def _finite_softmax(xp: Namespace, u: Array, axis: int) -> Array:
    """``softmax(u)`` over ``axis`` with ±inf clipped to the largest finite value first: a +inf
    entry takes the whole mass (the limit) instead of the ``inf − inf`` NaN."""
    big = float(xp.finfo(u.dtype).max)
    return kernels(xp).softmax(xp.clip(u, min=-big, max=big), axis)


def _power_normalize(xp: Namespace, q: Array, slope: float, axis: int) -> Array:
    """``q^slope / Σ_c q^slope`` over ``axis`` (``softmax(slope·log q)``), 0 where ``q = 0``."""
    positive = q > 0.0
    powered = xp.where(positive, xp.where(positive, q, xp.ones_like(q)) ** slope,
                       xp.zeros_like(q))
    total = xp.sum(powered, axis=axis, keepdims=True)
    return powered / xp.clip(total, min=float(xp.finfo(q.dtype).smallest_normal))


def class_axis_predictions(xp: Namespace, z: Array, opts: LossOptions, axis: int) -> Array:
    """``p`` with a softmax over the class ``axis`` (``multiclass=True``)."""
    if opts.transform == "sigmoid":
        if not opts.from_logits:
            return z if opts.slope == 1.0 else _power_normalize(xp, z, opts.slope, axis)
        return _finite_softmax(xp, z if opts.slope == 1.0 else opts.slope * z, axis)
    q = _finite_softmax(xp, z, axis) if opts.from_logits else z
    return _amplify(xp, q, opts.amplifier)


def describe_logits(opts: Any) -> str:
    """The name of the ``logits`` argument in messages."""
    return "logits" if opts.from_logits else "logits (probabilities)"
