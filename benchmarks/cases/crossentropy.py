"""Multi-label categorical cross-entropy (ZLPR), dense and sparse, against Su's reference code.

The native code is Su Jianlin's published implementation (kexue.fm/archives/7359, and the
sparse form of bert4keras), rewritten in each framework: the dense form with ``±1e12`` masks
and a concatenated zero column, the sparse form gathering from the logits with a zero column
appended. That is the code users copy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks.cases.base import Case, Fn, Shape

BIG = 1e12
CLIP = 1e-7


def dense_inputs(rng: np.random.Generator, shape: Shape) -> tuple[np.ndarray, ...]:
    """Logits ``N(0, 2²)`` and 0/1 float labels with 5% positives."""
    b, n = shape["B"], shape["L"]
    logits = (2.0 * rng.standard_normal((b, n))).astype(np.float32)
    labels = (rng.random((b, n)) < 0.05).astype(np.float32)
    return logits, labels


def dense_bool_inputs(rng: np.random.Generator, shape: Shape) -> tuple[np.ndarray, ...]:
    """As :func:`dense_inputs`, plus the same labels as a boolean array (for metricloss)."""
    logits, labels = dense_inputs(rng, shape)
    return logits, labels, labels.astype(bool)


def sparse_inputs(rng: np.random.Generator, shape: Shape) -> tuple[np.ndarray, ...]:
    """Logits ``N(0, 2²)`` and ``P`` distinct positive indices per row (no padding)."""
    b, n, k = shape["B"], shape["L"], shape["P"]
    logits = (2.0 * rng.standard_normal((b, n))).astype(np.float32)
    idx = np.stack([rng.choice(n, size=k, replace=False) for _ in range(b)]).astype(np.int64)
    return logits, idx


def _torch() -> dict[str, Fn]:
    import torch

    def dense(z: Any, y: Any) -> Any:
        z = (1 - 2 * y) * z
        z_neg = z - y * BIG
        z_pos = z - (1 - y) * BIG
        zeros = torch.zeros_like(z[..., :1])
        neg = torch.logsumexp(torch.cat([z_neg, zeros], dim=-1), dim=-1)
        pos = torch.logsumexp(torch.cat([z_pos, zeros], dim=-1), dim=-1)
        return torch.mean(neg + pos)

    def sparse(z: Any, idx: Any) -> Any:
        zeros = torch.zeros_like(z[..., :1])
        z = torch.cat([z, zeros], dim=-1)
        s = torch.gather(z, 1, idx)
        pos = torch.logsumexp(torch.cat([-s, zeros], dim=-1), dim=-1)
        total = torch.logsumexp(z, dim=-1)
        aux = torch.logsumexp(s, dim=-1) - total
        aux = torch.clamp(1 - torch.exp(aux), CLIP, 1)
        return torch.mean(pos + total + torch.log(aux))

    return {"dense": dense, "sparse": sparse}


def _jax() -> dict[str, Fn]:
    import jax
    import jax.numpy as jnp

    def dense(z: Any, y: Any) -> Any:
        z = (1 - 2 * y) * z
        z_neg = z - y * BIG
        z_pos = z - (1 - y) * BIG
        zeros = jnp.zeros_like(z[..., :1])
        neg = jax.nn.logsumexp(jnp.concatenate([z_neg, zeros], axis=-1), axis=-1)
        pos = jax.nn.logsumexp(jnp.concatenate([z_pos, zeros], axis=-1), axis=-1)
        return jnp.mean(neg + pos)

    def sparse(z: Any, idx: Any) -> Any:
        zeros = jnp.zeros_like(z[..., :1])
        z = jnp.concatenate([z, zeros], axis=-1)
        s = jnp.take_along_axis(z, idx, axis=1)
        pos = jax.nn.logsumexp(jnp.concatenate([-s, zeros], axis=-1), axis=-1)
        total = jax.nn.logsumexp(z, axis=-1)
        aux = jax.nn.logsumexp(s, axis=-1) - total
        aux = jnp.clip(1 - jnp.exp(aux), CLIP, 1)
        return jnp.mean(pos + total + jnp.log(aux))

    return {"dense": dense, "sparse": sparse}


def _tensorflow() -> dict[str, Fn]:
    import tensorflow as tf

    def dense(z: Any, y: Any) -> Any:
        z = (1 - 2 * y) * z
        z_neg = z - y * BIG
        z_pos = z - (1 - y) * BIG
        zeros = tf.zeros_like(z[..., :1])
        neg = tf.math.reduce_logsumexp(tf.concat([z_neg, zeros], axis=-1), axis=-1)
        pos = tf.math.reduce_logsumexp(tf.concat([z_pos, zeros], axis=-1), axis=-1)
        return tf.reduce_mean(neg + pos)

    def sparse(z: Any, idx: Any) -> Any:
        zeros = tf.zeros_like(z[..., :1])
        z = tf.concat([z, zeros], axis=-1)
        s = tf.gather(z, idx, batch_dims=1)
        pos = tf.math.reduce_logsumexp(tf.concat([-s, zeros], axis=-1), axis=-1)
        total = tf.math.reduce_logsumexp(z, axis=-1)
        aux = tf.math.reduce_logsumexp(s, axis=-1) - total
        aux = tf.clip_by_value(1 - tf.math.exp(aux), CLIP, 1)
        return tf.reduce_mean(pos + total + tf.math.log(aux))

    return {"dense": dense, "sparse": sparse}


_BUILDERS = {"torch": _torch, "jax": _jax, "tensorflow": _tensorflow}


def _ignore_last(fn: Fn) -> Fn:
    return lambda z, y, yb: fn(z, y)


def _native(key: str) -> dict[str, Callable[[], Fn]]:
    return {fw: (lambda build=build: build()[key]) for fw, build in _BUILDERS.items()}


CASES = [
    Case(
        name="multilabel_categorical_crossentropy",
        module="metricloss.crossentropy",
        shapes=({"B": 256, "L": 20}, {"B": 4096, "L": 1000}),
        quick_shape={"B": 16, "L": 5},
        inputs=dense_inputs,
        metricloss=lambda m: lambda z, y: m.multilabel_categorical_crossentropy(z, y),
        native=_native("dense"),
    ),
    Case(
        # The same loss given boolean labels: metricloss then knows they are hard (0/1) and
        # skips the soft-label log-masks; the native code still gets the float labels.
        name="multilabel_categorical_crossentropy(bool labels)",
        module="metricloss.crossentropy",
        shapes=({"B": 256, "L": 20}, {"B": 4096, "L": 1000}),
        quick_shape={"B": 16, "L": 5},
        inputs=dense_bool_inputs,
        metricloss=lambda m: lambda z, y, yb: m.multilabel_categorical_crossentropy(z, yb),
        native={fw: (lambda build=build: _ignore_last(build()["dense"]))
                for fw, build in _BUILDERS.items()},
    ),
    Case(
        name="sparse_multilabel_categorical_crossentropy",
        module="metricloss.crossentropy",
        shapes=({"B": 256, "L": 20, "P": 4}, {"B": 256, "L": 100_000, "P": 8}),
        quick_shape={"B": 4, "L": 50, "P": 3},
        inputs=sparse_inputs,
        metricloss=lambda m: lambda z, idx: m.sparse_multilabel_categorical_crossentropy(z, idx),
        native=_native("sparse"),
    ),
]
