"""The baselines (binary cross-entropy, focal loss, asymmetric loss) against each framework's own.

Native code: PyTorch's ``binary_cross_entropy_with_logits`` (with ``pos_weight``) and a
hand-written torchvision ``sigmoid_focal_loss`` (torchvision is not a dependency: its
function, line by line) and the reference ASL code (Alibaba-MIIL/ASL ``AsymmetricLoss``,
with ``.mean()`` instead of its ``-sum``); ``jax.nn`` hand-written (optax-free) for JAX;
``tf.nn.sigmoid_cross_entropy_with_logits`` for TensorFlow (BCE; ``pos_weight`` through
``tf.nn.weighted_cross_entropy_with_logits``), and the same hand-written focal and ASL forms.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks.cases.base import Case, Fn, Shape

ALPHA, GAMMA = 0.25, 2.0
GAMMA_POS, GAMMA_NEG, CLIP, EPS = 0.0, 4.0, 0.05, 1e-8


def inputs(rng: np.random.Generator, shape: Shape) -> tuple[np.ndarray, ...]:
    """Logits ``N(0, 2²)``, 0/1 float labels with 5% positives, a ``pos_weight`` per label."""
    b, n = shape["B"], shape["L"]
    logits = (2.0 * rng.standard_normal((b, n))).astype(np.float32)
    labels = (rng.random((b, n)) < 0.05).astype(np.float32)
    pos_weight = (1.0 + 4.0 * rng.random(n)).astype(np.float32)
    return logits, labels, pos_weight


def _torch() -> dict[str, Fn]:
    import torch
    import torch.nn.functional as F

    def bce(z: Any, y: Any, pw: Any) -> Any:
        return F.binary_cross_entropy_with_logits(z, y, pos_weight=pw)

    def focal(z: Any, y: Any, pw: Any) -> Any:  # torchvision.ops.sigmoid_focal_loss
        p = torch.sigmoid(z)
        ce_loss = F.binary_cross_entropy_with_logits(z, y, reduction="none")
        p_t = p * y + (1 - p) * (1 - y)
        loss = ce_loss * ((1 - p_t) ** GAMMA)
        alpha_t = ALPHA * y + (1 - ALPHA) * (1 - y)
        return (alpha_t * loss).mean()

    def asl(z: Any, y: Any, pw: Any) -> Any:  # the reference AsymmetricLoss.forward
        xs_pos = torch.sigmoid(z)
        xs_neg = (1 - xs_pos + CLIP).clamp(max=1)
        loss = y * torch.log(xs_pos.clamp(min=EPS)) + (1 - y) * torch.log(xs_neg.clamp(min=EPS))
        pt = xs_pos * y + xs_neg * (1 - y)
        loss = loss * torch.pow(1 - pt, GAMMA_POS * y + GAMMA_NEG * (1 - y))
        return -loss.mean()

    return {"bce": bce, "focal": focal, "asl": asl}


def _jax() -> dict[str, Fn]:
    import jax
    import jax.numpy as jnp

    def bce(z: Any, y: Any, pw: Any) -> Any:
        log_weight = 1 + (pw - 1) * y
        return jnp.mean((1 - y) * z - log_weight * jax.nn.log_sigmoid(z))

    def focal(z: Any, y: Any, pw: Any) -> Any:
        p = jax.nn.sigmoid(z)
        ce_loss = (1 - y) * z - jax.nn.log_sigmoid(z)
        p_t = p * y + (1 - p) * (1 - y)
        loss = ce_loss * ((1 - p_t) ** GAMMA)
        return jnp.mean((ALPHA * y + (1 - ALPHA) * (1 - y)) * loss)

    def asl(z: Any, y: Any, pw: Any) -> Any:
        xs_pos = jax.nn.sigmoid(z)
        xs_neg = jnp.minimum(1 - xs_pos + CLIP, 1)
        loss = y * jnp.log(jnp.maximum(xs_pos, EPS)) + (1 - y) * jnp.log(jnp.maximum(xs_neg, EPS))
        pt = xs_pos * y + xs_neg * (1 - y)
        loss = loss * jnp.power(1 - pt, GAMMA_POS * y + GAMMA_NEG * (1 - y))
        return -jnp.mean(loss)

    return {"bce": bce, "focal": focal, "asl": asl}


def _tensorflow() -> dict[str, Fn]:
    import tensorflow as tf

    def bce(z: Any, y: Any, pw: Any) -> Any:
        return tf.reduce_mean(tf.nn.weighted_cross_entropy_with_logits(y, z, pw))

    def focal(z: Any, y: Any, pw: Any) -> Any:
        p = tf.math.sigmoid(z)
        ce_loss = tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=z)
        p_t = p * y + (1 - p) * (1 - y)
        loss = ce_loss * ((1 - p_t) ** GAMMA)
        return tf.reduce_mean((ALPHA * y + (1 - ALPHA) * (1 - y)) * loss)

    def asl(z: Any, y: Any, pw: Any) -> Any:
        xs_pos = tf.math.sigmoid(z)
        xs_neg = tf.minimum(1 - xs_pos + CLIP, 1)
        loss = y * tf.math.log(tf.maximum(xs_pos, EPS)) + (1 - y) * tf.math.log(
            tf.maximum(xs_neg, EPS))
        pt = xs_pos * y + xs_neg * (1 - y)
        loss = loss * tf.pow(1 - pt, GAMMA_POS * y + GAMMA_NEG * (1 - y))
        return -tf.reduce_mean(loss)

    return {"bce": bce, "focal": focal, "asl": asl}


_BUILDERS = {"torch": _torch, "jax": _jax, "tensorflow": _tensorflow}


def _native(key: str) -> dict[str, Callable[[], Fn]]:
    return {fw: (lambda build=build: build()[key]) for fw, build in _BUILDERS.items()}


SHAPES = ({"B": 256, "L": 20}, {"B": 4096, "L": 1000})
QUICK = {"B": 16, "L": 5}

CASES = [
    Case(
        name="binary_cross_entropy(pos_weight)",
        module="metricloss.baselines",
        shapes=SHAPES,
        quick_shape=QUICK,
        inputs=inputs,
        metricloss=lambda m: lambda z, y, pw: m.binary_cross_entropy(z, y, pos_weight=pw),
        native=_native("bce"),
    ),
    Case(
        name="sigmoid_focal_loss",
        module="metricloss.baselines",
        shapes=SHAPES,
        quick_shape=QUICK,
        inputs=inputs,
        metricloss=lambda m: lambda z, y, pw: m.sigmoid_focal_loss(z, y, alpha=ALPHA, gamma=GAMMA),
        native=_native("focal"),
    ),
    Case(
        name="asymmetric_loss",
        module="metricloss.baselines",
        shapes=SHAPES,
        quick_shape=QUICK,
        inputs=inputs,
        metricloss=lambda m: lambda z, y, pw: m.asymmetric_loss(
            z, y, gamma_pos=GAMMA_POS, gamma_neg=GAMMA_NEG, clip=CLIP, eps=EPS),
        native=_native("asl"),
    ),
]
