"""The baselines metric losses are compared with: binary cross-entropy, focal loss, asymmetric loss.

Written once against the array API, like every loss of the package, so that a comparison is
like-for-like in every framework (and JAX and TensorFlow users get an asymmetric loss).

All three are per element: ``reduction="none"`` returns the logits' shape, ``"mean"`` averages
over **all** ``B·L`` elements (as ``torch.nn.BCEWithLogitsLoss`` and Keras'
``sum_over_batch_size``), ``"sum"`` adds them. The mean of an empty input is 0.

Stability. Everything is computed from the logits with ``softplus``/``log_sigmoid``/``sigmoid``
kernels, never as ``log(sigmoid(z))``: values and gradients are finite for logits of ±1e4. An
infinite logit (or one beyond ``±sqrt(finfo.max)``, 1.8e19 in float32) is first clipped to
``±sqrt(finfo.max)``, where every term has reached its limit: ``+inf`` on a positive or ``−inf``
on a negative gives the limit (loss 0, gradient 0) instead of the ``0·inf = NaN`` of the
textbook formulas; ``±inf`` on the wrong side gives a huge finite loss (the limit is ``+inf``)
with a finite gradient. float16/bfloat16 logits are computed in float32 and the loss is
returned in float32.

References:
    PyTorch ``torch.nn.functional.binary_cross_entropy_with_logits``.
    Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017; torchvision
    ``torchvision.ops.sigmoid_focal_loss``.
    Ridnik et al., "Asymmetric Loss For Multi-Label Classification", ICCV 2021,
    https://github.com/Alibaba-MIIL/ASL (``src/loss_functions/losses.py``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from metricloss._checks import (
    check_choice,
    check_eager_range,
    check_number,
    prepare_inputs,
    require_array,
)
from metricloss._namespace import (
    Array,
    Namespace,
    clip_symmetric,
    device_of,
    kernels,
    namespace_of,
)
from metricloss._reduction import REDUCTIONS

__all__ = ["asymmetric_loss", "binary_cross_entropy", "sigmoid_focal_loss"]


# --------------------------------------------------------------------------------------------
# Shared steps
# --------------------------------------------------------------------------------------------


def _inputs(
    logits: Array, labels: Array, weights: Array | float | None, reduction: str
) -> tuple[Namespace, Array, Array, Array | None, tuple[int, ...]]:
    """Validated ``(xp, z, y, w, shape)``: ``z`` the 2-D logits in the compute dtype with
    ``±inf`` clipped to ``±sqrt(finfo.max)``, ``y`` the labels in that dtype, ``w``
    broadcastable."""
    check_choice("reduction", reduction, REDUCTIONS)
    require_array("logits", logits)
    require_array("labels", labels)
    xp, z, y, w, shape = prepare_inputs(logits, labels, weights)
    # ±inf → ±sqrt(finfo.max) (1.8e19 in float32), where every term has reached its limit
    # (see the module); the square root keeps products in the backward pass (a huge loss times
    # a bounded factor, times a sigmoid's zero slope) from overflowing into inf·0 = NaN.
    big = math.sqrt(float(xp.finfo(z.dtype).max))
    z = clip_symmetric(xp, z, big)
    return xp, z, y, w, shape


def _finish(xp: Namespace, values: Array, w: Array | None, reduction: str,
            shape: tuple[int, ...]) -> Array:
    """Weights multiplied in, then ``reduction`` over every element (mean of nothing: 0)."""
    if w is not None:
        values = values * w
    if reduction == "none":
        return xp.reshape(values, shape) if len(shape) == 1 else values
    if reduction == "sum" or any(n == 0 for n in values.shape):  # None (unknown) is not 0
        return xp.sum(values)
    return xp.mean(values)


def _pos_weight(xp: Namespace, pos_weight: Array | float | None, z: Array,
                shape: tuple[int, ...]) -> Array | None:
    """``pos_weight`` as ``None`` or an array of shape ``(1, L)`` / ``(1, 1)``."""
    if pos_weight is None:
        return None
    num_labels = shape[1] if len(shape) == 2 else 1
    if isinstance(pos_weight, int | float) and not isinstance(pos_weight, bool):
        value = check_number("pos_weight", pos_weight, low=0.0)
        return xp.full((1, 1), value, dtype=z.dtype, device=device_of(z))
    if not hasattr(pos_weight, "shape"):
        raise TypeError(
            f"pos_weight must be None, a number or an array, got {type(pos_weight).__name__}"
        )
    namespace_of(logits=z, pos_weight=pos_weight)
    if not xp.isdtype(pos_weight.dtype, ("integral", "real floating")):
        raise TypeError(f"pos_weight must be numeric, got {pos_weight.dtype}")
    got = tuple(pos_weight.shape)
    if got not in ((), (1,), (num_labels,), (1, num_labels)):
        raise ValueError(
            f"pos_weight must be a scalar or have shape ({num_labels},) (one weight per label, "
            f"broadcast along the batch as in torch), got {got}"
        )
    pw = xp.reshape(xp.astype(pos_weight, z.dtype), (1, -1))
    # One min/max pass: finite (no inf, no NaN) and non-negative.
    check_eager_range(xp, "pos_weight", pw, 0.0, math.inf, high_open=True, allow_nan=False)
    return pw


def _bce(xp: Namespace, z: Array, y: Array, pw: Array | None) -> Array:
    """Per-element BCE with logits, torch's formula: ``(1 − y)·z + lw·softplus(−z)`` with
    ``lw = 1 + (pos_weight − 1)·y``."""
    sp = kernels(xp).softplus(-z)  # −log σ(z)
    if pw is not None:
        sp = (1.0 + (pw - 1.0) * y) * sp
    return (1.0 - y) * z + sp


# --------------------------------------------------------------------------------------------
# Binary cross-entropy
# --------------------------------------------------------------------------------------------


def binary_cross_entropy(
    logits: Array,
    labels: Array,
    *,
    pos_weight: Array | float | None = None,
    weights: Array | float | None = None,
    reduction: str = "mean",
) -> Array:
    """Binary cross-entropy with logits, as torch's ``binary_cross_entropy_with_logits``.

    .. math::

        \\ell = w\\,\\big[\\,c\\,y\\,\\operatorname{softplus}(-z)
                 + (1-y)\\,\\operatorname{softplus}(z)\\big]

    per element, ``c`` the ``pos_weight`` of the element's label (1 if absent), computed as
    torch does, ``(1 − y)·z + (1 + (c − 1)·y)·softplus(−z)``. Soft labels in [0, 1] are allowed.

    Args:
        logits: ``(B, L)`` or ``(B,)`` floating array.
        labels: same shape; bool, int or float in [0, 1] (checked in eager mode).
        pos_weight: ``None``, a non-negative number, or an array of shape ``(L,)`` (or ``()``):
            the weight of the positive term of each label (torch's ``pos_weight``; e.g.
            ``#negatives / #positives`` per label).
        weights: ``None``, a scalar, or an array broadcasting to the labels (``(B,)``,
            ``(B, 1)``, ``(B, L)``): multiplies each element's loss (torch's ``weight``).
        reduction: ``"mean"`` (over all ``B·L`` elements, as torch; default), ``"sum"`` or
            ``"none"`` (the logits' shape).

    Returns:
        The loss, of the logits' library and device, in the logits' dtype (float32 for
        float16/bfloat16). Empty input: 0 (``"none"``: an empty array), gradient 0.

    Raises:
        TypeError: ``None`` or a non-array for ``logits``/``labels``, non-floating logits.
        ValueError: shape mismatch, ``pos_weight`` of another shape, negative or non-finite
            ``pos_weight`` (eager), labels outside [0, 1] (eager), unknown ``reduction``.

    Example:
        >>> import numpy as np
        >>> logits = np.array([[2.0, -1.0], [0.0, 3.0]])
        >>> labels = np.array([[1.0, 0.0], [1.0, 1.0]])
        >>> round(float(binary_cross_entropy(logits, labels)), 4)
        0.2955
        >>> round(float(binary_cross_entropy(logits, labels, pos_weight=np.array([2.0, 1.0]))), 4)
        0.5005

    References:
        PyTorch, ``torch.nn.BCEWithLogitsLoss``.
    """
    xp, z, y, w, shape = _inputs(logits, labels, weights, reduction)
    pw = _pos_weight(xp, pos_weight, z, shape)
    return _finish(xp, _bce(xp, z, y, pw), w, reduction, shape)


# --------------------------------------------------------------------------------------------
# Focal loss
# --------------------------------------------------------------------------------------------


def _power(xp: Namespace, q: Array, gamma: float) -> Array:
    """``q ** gamma`` for ``q ∈ [0, 1]``, with finite gradients at ``q = 0`` also for
    ``gamma < 1`` (where ``gamma·q^{gamma−1}`` would be infinite: the gradient there is 0)."""
    if gamma == 0.0:
        return xp.ones_like(q)
    if gamma == 1.0:
        return q
    if gamma == 2.0:
        return q * q
    if gamma >= 1.0:
        return q**gamma
    positive = q > 0.0
    return xp.where(positive, xp.where(positive, q, 1.0) ** gamma, 0.0)


def sigmoid_focal_loss(
    logits: Array,
    labels: Array,
    *,
    alpha: float | None = 0.25,
    gamma: float = 2.0,
    weights: Array | float | None = None,
    reduction: str = "mean",
) -> Array:
    """Sigmoid focal loss (Lin et al. 2017), as ``torchvision.ops.sigmoid_focal_loss``.

    .. math::

        \\ell = w\\,\\alpha_t\\,(1 - p_t)^{\\gamma}\\,\\mathrm{BCE}(z, y),\\quad
        p = \\sigma(z),\\ p_t = p\\,y + (1-p)(1-y),\\
        \\alpha_t = \\alpha\\,y + (1-\\alpha)(1-y)

    per element, the same formula as torchvision's and optax's (soft labels included).
    ``1 − p_t`` is computed as ``y·σ(−z) + (1 − y)·σ(z)`` (no cancellation near ``p = 1``),
    and its power has a finite gradient at 0 for any ``gamma ≥ 0``.

    Args:
        logits: ``(B, L)`` or ``(B,)`` floating array.
        labels: same shape; bool, int or float in [0, 1].
        alpha: weight of the positives in [0, 1] (default 0.25, torchvision's); ``None`` or a
            negative number disables the ``α_t`` factor (torchvision: ``alpha < 0``; ``-1`` is
            its way to say "no alpha").
        gamma: focusing exponent ``≥ 0`` (default 2; 0 gives ``α_t``-weighted BCE).
        weights: ``None``, a scalar, or an array broadcasting to the labels.
        reduction: ``"mean"`` (over all ``B·L`` elements, as torchvision; default), ``"sum"``
            or ``"none"`` (the logits' shape).

    Returns:
        The loss, of the logits' library and device, in the logits' dtype (float32 for
        float16/bfloat16). Empty input: 0 (``"none"``: an empty array), gradient 0.

    Raises:
        TypeError: ``None`` or a non-array for ``logits``/``labels``, a non-number ``alpha`` or
            ``gamma``.
        ValueError: negative ``gamma``, ``alpha > 1``, shape mismatch, labels outside [0, 1]
            (eager), unknown ``reduction``.

    Example:
        >>> import numpy as np
        >>> logits = np.array([[2.0, -1.0], [0.0, 3.0]])
        >>> labels = np.array([[1.0, 0.0], [1.0, 1.0]])
        >>> round(float(sigmoid_focal_loss(logits, labels)), 5)
        0.0152

    References:
        Lin, Goyal, Girshick, He, Dollár, "Focal Loss for Dense Object Detection", ICCV 2017;
        ``torchvision.ops.sigmoid_focal_loss``.
    """
    if alpha is not None:
        alpha = check_number("alpha", alpha, high=1.0)
    gamma = check_number("gamma", gamma, low=0.0)
    xp, z, y, w, shape = _inputs(logits, labels, weights, reduction)
    sig = kernels(xp).sigmoid
    loss = _bce(xp, z, y, None)
    if gamma != 0.0:
        q = y * sig(-z) + (1.0 - y) * sig(z)  # 1 − p_t
        loss = loss * _power(xp, q, gamma)
    if alpha is not None and alpha >= 0:
        loss = (alpha * y + (1.0 - alpha) * (1.0 - y)) * loss
    return _finish(xp, loss, w, reduction, shape)


# --------------------------------------------------------------------------------------------
# Asymmetric loss
# --------------------------------------------------------------------------------------------


def asymmetric_loss(
    logits: Array,
    labels: Array,
    *,
    gamma_pos: float = 0.0,
    gamma_neg: float = 4.0,
    clip: float = 0.05,
    eps: float = 1e-8,
    weights: Array | float | None = None,
    reduction: str = "mean",
    stop_gradient: Callable[[Array], Array] | None = None,
) -> Array:
    """Asymmetric loss (ASL, Ridnik et al. 2021) for multi-label classification.

    .. math::

        \\ell = -w\\,\\big[\\,y\\,(1-p)^{\\gamma_+}\\log\\max(p, ε)
              + (1-y)\\,p_m^{\\gamma_-}\\log\\max(1-p_m, ε)\\big],

        p = \\sigma(z),\\qquad p_m = \\max(p - m, 0)\\ (m = \\text{clip})

    per element: asymmetric focusing (``γ+`` for the positives, ``γ−`` for the negatives) and
    probability shifting of the negatives by ``m``, which discards very easy negatives
    (``p ≤ m``: loss 0) and lowers the weight of the others. This is the reference code's
    formula for 0/1 labels (``AsymmetricLoss`` in the authors' repository), computed stably:
    ``log p`` as ``log_sigmoid(z)``, ``1 − p`` as ``σ(−z)``, ``p_m`` as ``max(σ(z) − m, 0)``
    (no ``1 − σ(z)`` cancellation), powers with finite gradients at 0. For soft labels it is
    the linear interpolation above (the reference mixes the two exponents and bases in one
    power, which is not linear in ``y``).

    Differences from the reference code. The reference returns ``−loss.sum()``; we follow
    ``reduction`` (``"sum"`` gives the reference's value). ``eps`` floors the probabilities
    inside the logs as the reference's ``clamp(min=eps)`` does (the gradient is 0 below it);
    ``eps=0`` gives the unclipped logs, exact for any logit. The reference detaches the focusing
    weights under ``disable_torch_grad_focal_loss`` (its training script passes ``True``; the
    published ``AsymmetricLoss`` class has that detach commented out and
    ``AsymmetricLossOptimized`` defaults to ``False``): pass the framework's stop-gradient
    (``torch.Tensor.detach``, ``jax.lax.stop_gradient``, ``tf.stop_gradient``) as
    ``stop_gradient`` for the training script's behaviour; the default ``None``
    differentiates through the weights, as the published class does. The framework adapters
    pass it by default.

    Args:
        logits: ``(B, L)`` or ``(B,)`` floating array.
        labels: same shape; bool, int or float in [0, 1].
        gamma_pos: focusing exponent of the positives, ``≥ 0`` (default 0, the paper's).
        gamma_neg: focusing exponent of the negatives, ``≥ 0`` (default 4, the paper's).
        clip: probability margin ``m`` in ``[0, 1)`` (default 0.05; 0 disables shifting).
        eps: floor in ``[0, 1)`` of the probabilities inside the logs (default 1e-8).
        weights: ``None``, a scalar, or an array broadcasting to the labels.
        reduction: ``"mean"`` (over all ``B·L`` elements; default), ``"sum"`` (the reference's
            value) or ``"none"`` (the logits' shape).
        stop_gradient: ``None`` or the framework's stop-gradient function, applied to the
            focusing weights.

    Returns:
        The loss, of the logits' library and device, in the logits' dtype (float32 for
        float16/bfloat16; the reference's users report NaN under fp16 autocast). Empty
        input: 0 (``"none"``: an empty array), gradient 0.

    Raises:
        TypeError: ``None`` or a non-array for ``logits``/``labels``, non-numbers for the
            scalars, a ``stop_gradient`` that is not callable.
        ValueError: negative ``gamma_pos``/``gamma_neg``, ``clip`` or ``eps`` outside
            ``[0, 1)``, shape mismatch, labels outside [0, 1] (eager), unknown ``reduction``.

    Example:
        >>> import numpy as np
        >>> logits = np.array([[2.0, -1.0], [0.0, 3.0]])
        >>> labels = np.array([[1.0, 0.0], [1.0, 1.0]])
        >>> round(float(asymmetric_loss(logits, labels, reduction="sum")), 4)
        0.8692

    References:
        Ridnik, Ben-Baruch, Zamir, Noy, Friedman, Protter, Zelnik-Manor, "Asymmetric Loss For
        Multi-Label Classification", ICCV 2021; https://github.com/Alibaba-MIIL/ASL.
    """
    gamma_pos = check_number("gamma_pos", gamma_pos, low=0.0)
    gamma_neg = check_number("gamma_neg", gamma_neg, low=0.0)
    clip = check_number("clip", clip, low=0.0, high=1.0, high_open=True)
    eps = check_number("eps", eps, low=0.0, high=1.0, high_open=True)
    if stop_gradient is not None and not callable(stop_gradient):
        raise TypeError(
            f"stop_gradient must be None or a function, got {type(stop_gradient).__name__}"
        )
    xp, z, y, w, shape = _inputs(logits, labels, weights, reduction)
    k = kernels(xp)
    log_floor = math.log(eps) if eps > 0 else -math.inf

    log_p = k.log_sigmoid(z)
    if eps > 0:
        log_p = xp.clip(log_p, log_floor, None)
    if clip > 0:
        shifted = k.sigmoid(z) - clip  # p − m; p_m = max(p − m, 0)
        log_neg = xp.log(xp.clip(k.sigmoid(-z) + clip, None, 1.0))  # log(1 − p_m), ≥ log(m)
    else:
        shifted = None
        log_neg = k.log_sigmoid(-z)
    if eps > 0:
        log_neg = xp.clip(log_neg, log_floor, None)

    w_pos = _power(xp, k.sigmoid(-z), gamma_pos) if gamma_pos != 0.0 else None
    if gamma_neg == 0.0:
        w_neg = None
    elif shifted is None:
        w_neg = _power(xp, k.sigmoid(z), gamma_neg)
    else:
        keep = shifted > 0.0
        w_neg = xp.where(keep, _power(xp, xp.where(keep, shifted, 1.0), gamma_neg), 0.0)
    if stop_gradient is not None:
        w_pos = None if w_pos is None else stop_gradient(w_pos)
        w_neg = None if w_neg is None else stop_gradient(w_neg)

    pos = log_p if w_pos is None else w_pos * log_p
    neg = log_neg if w_neg is None else w_neg * log_neg
    loss = -(y * pos + (1.0 - y) * neg)
    return _finish(xp, loss, w, reduction, shape)
