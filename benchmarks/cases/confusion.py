"""Soft confusion-matrix losses (sigmoidF1, AnyLoss, the metric family) against the naive form.

The native code is what the papers' reference implementations and most users write: the soft
counts as separate masked sums ``tp = Σ p·y``, ``fp = Σ p·(1−y)``, ``fn = Σ (1−p)·y`` (and
``tn = Σ (1−p)·(1−y)`` where the metric needs it), then the metric per label, then the mean.
metricloss forms the counts of the metrics without ``tn`` (F1, AnyLoss' F1) from ``Σ p·y``, ``Σ p``
and ``Σ y``; the target is a ratio of at most 0.67 against this naive form. Metrics with ``tn``
(MCC here) sum the four counts directly, as the naive code does, so that a label with no
negatives (or no positives) gets exact zeros in float32 and half precision (issue 11 A): their
target is parity with the naive form.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks.cases.base import Case, Fn, Shape

EPS = 1e-7
AMPLIFIER = 73.0
SHAPES: tuple[Shape, ...] = ({"B": 256, "L": 20}, {"B": 4096, "L": 1000})
QUICK: Shape = {"B": 16, "L": 5}


def inputs(rng: np.random.Generator, shape: Shape) -> tuple[np.ndarray, ...]:
    """Logits ``N(0, 2²)`` and 0/1 float labels with 20% positives."""
    b, n = shape["B"], shape["L"]
    logits = (2.0 * rng.standard_normal((b, n))).astype(np.float32)
    labels = (rng.random((b, n)) < 0.2).astype(np.float32)
    return logits, labels


# ---------------------------------------------------------------------------------------------
# Native, hand-written per framework. Each builder returns {case name: fn(logits, labels)}.
# ---------------------------------------------------------------------------------------------


def _torch() -> dict[str, Fn]:
    import torch

    def counts(p: Any, y: Any) -> tuple[Any, Any, Any]:
        tp = torch.sum(p * y, dim=0)
        fp = torch.sum(p * (1 - y), dim=0)
        fn = torch.sum((1 - p) * y, dim=0)
        return tp, fp, fn

    def sigmoid_f1(z: Any, y: Any) -> Any:
        tp, fp, fn = counts(torch.sigmoid(z), y)
        return 1 - torch.mean(2 * tp / (2 * tp + fn + fp + EPS))

    def any_loss(z: Any, y: Any) -> Any:
        p = torch.sigmoid(AMPLIFIER * (torch.sigmoid(z) - 0.5))
        tp, fp, fn = counts(p, y)
        return 1 - torch.mean(2 * tp / (2 * tp + fn + fp + EPS))

    def mcc(z: Any, y: Any) -> Any:
        p = torch.sigmoid(z)
        tp, fp, fn = counts(p, y)
        tn = torch.sum((1 - p) * (1 - y), dim=0)
        num = tp * tn - fp * fn
        den = torch.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn) + EPS)
        return torch.mean((1 - num / den) / 2)

    return {"sigmoid_f1": sigmoid_f1, "any_loss": any_loss, "mcc": mcc}


def _jax() -> dict[str, Fn]:
    import jax
    import jax.numpy as jnp

    def counts(p: Any, y: Any) -> tuple[Any, Any, Any]:
        tp = jnp.sum(p * y, axis=0)
        fp = jnp.sum(p * (1 - y), axis=0)
        fn = jnp.sum((1 - p) * y, axis=0)
        return tp, fp, fn

    def sigmoid_f1(z: Any, y: Any) -> Any:
        tp, fp, fn = counts(jax.nn.sigmoid(z), y)
        return 1 - jnp.mean(2 * tp / (2 * tp + fn + fp + EPS))

    def any_loss(z: Any, y: Any) -> Any:
        p = jax.nn.sigmoid(AMPLIFIER * (jax.nn.sigmoid(z) - 0.5))
        tp, fp, fn = counts(p, y)
        return 1 - jnp.mean(2 * tp / (2 * tp + fn + fp + EPS))

    def mcc(z: Any, y: Any) -> Any:
        p = jax.nn.sigmoid(z)
        tp, fp, fn = counts(p, y)
        tn = jnp.sum((1 - p) * (1 - y), axis=0)
        num = tp * tn - fp * fn
        den = jnp.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn) + EPS)
        return jnp.mean((1 - num / den) / 2)

    return {"sigmoid_f1": sigmoid_f1, "any_loss": any_loss, "mcc": mcc}


def _tensorflow() -> dict[str, Fn]:
    import tensorflow as tf

    def counts(p: Any, y: Any) -> tuple[Any, Any, Any]:
        tp = tf.reduce_sum(p * y, axis=0)
        fp = tf.reduce_sum(p * (1 - y), axis=0)
        fn = tf.reduce_sum((1 - p) * y, axis=0)
        return tp, fp, fn

    def sigmoid_f1(z: Any, y: Any) -> Any:
        tp, fp, fn = counts(tf.math.sigmoid(z), y)
        return 1 - tf.reduce_mean(2 * tp / (2 * tp + fn + fp + EPS))

    def any_loss(z: Any, y: Any) -> Any:
        p = tf.math.sigmoid(AMPLIFIER * (tf.math.sigmoid(z) - 0.5))
        tp, fp, fn = counts(p, y)
        return 1 - tf.reduce_mean(2 * tp / (2 * tp + fn + fp + EPS))

    def mcc(z: Any, y: Any) -> Any:
        p = tf.math.sigmoid(z)
        tp, fp, fn = counts(p, y)
        tn = tf.reduce_sum((1 - p) * (1 - y), axis=0)
        num = tp * tn - fp * fn
        den = tf.math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn) + EPS)
        return tf.reduce_mean((1 - num / den) / 2)

    return {"sigmoid_f1": sigmoid_f1, "any_loss": any_loss, "mcc": mcc}


_BUILDERS = {"torch": _torch, "jax": _jax, "tensorflow": _tensorflow}


def _native(key: str) -> dict[str, Callable[[], Fn]]:
    return {fw: (lambda build=build: build()[key]) for fw, build in _BUILDERS.items()}


CASES = [
    Case(
        name="sigmoid_f1_loss",
        module="metricloss.confusion",
        shapes=SHAPES,
        quick_shape=QUICK,
        inputs=inputs,
        metricloss=lambda m: lambda z, y: m.sigmoid_f1_loss(z, y),
        native=_native("sigmoid_f1"),
        target_eager=0.67,
        target_compiled=0.67,
        versus="naive",
    ),
    Case(
        name="any_loss",
        module="metricloss.confusion",
        shapes=SHAPES,
        quick_shape=QUICK,
        inputs=inputs,
        metricloss=lambda m: lambda z, y: m.any_loss(z, y),
        native=_native("any_loss"),
        target_eager=0.67,
        target_compiled=0.67,
        versus="naive",
    ),
    Case(
        name='confusion_metric_loss(metric="mcc")',
        module="metricloss.confusion",
        shapes=SHAPES,
        quick_shape=QUICK,
        inputs=inputs,
        metricloss=lambda m: lambda z, y: m.confusion_metric_loss(z, y, metric="mcc"),
        native=_native("mcc"),
        target_eager=1.10,
        target_compiled=1.05,
        versus="naive",
        rtol=1e-3,
    ),
]
