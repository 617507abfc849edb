"""Global objectives (Eban et al. 2017) against the formula written by hand.

The native code writes each Lagrangian's per-element loss as SPEC §3 states it, with the
framework's softplus: ``c·y·softplus(−z) + d·(1−y)·softplus(z) − (dual term)``, the label prior
estimated from the batch with the pseudocounts, ``π = (1 + Σy)/(2 + B)``, and the mean over all
elements. metricloss returns the loss alone (``return_aux=False``, the default): the bounds of
``aux`` are not computed at all.

PR-AUC runs with non-zero biases (as after training), so the ``(B, L, K)`` path is measured;
ROC-AUC's native code is the usual masked all-pairs sum ``Σ y_p(1−y_n)·ℓ(z_p − z_n) / B``.

Studies: PR-AUC memory against the number of anchors under ``jax.jit``; ROC-AUC memory at
``B = 16,384`` with and without chunking (``jax.jit`` memory analysis); ROC-AUC hinge, sort
against pairwise, at ``B = 4,096``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks.cases.base import Case, Fn, Shape, Study
from benchmarks.timing import alternate, ratio_stats

LN2 = math.log(2.0)
TARGET = 0.8  # target precision / recall
RATE = 0.1  # target false positive rate
PR_RANGE = (0.0, 1.0)
SHAPES: tuple[Shape, ...] = ({"B": 256, "L": 20}, {"B": 4096, "L": 1000})
QUICK: Shape = {"B": 16, "L": 5}


def _logits_labels(rng: np.random.Generator, b: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    logits = (2.0 * rng.standard_normal((b, n))).astype(np.float32)
    labels = (rng.random((b, n)) < 0.2).astype(np.float32)
    return logits, labels


def dual_inputs(rng: np.random.Generator, shape: Shape) -> tuple[np.ndarray, ...]:
    """Logits, 0/1 float labels (20% positives) and per-label dual values ``λ ∈ [0.5, 1.5]``."""
    b, n = shape["B"], shape["L"]
    logits, labels = _logits_labels(rng, b, n)
    lambdas = (0.5 + rng.random(n)).astype(np.float32)
    return logits, labels, lambdas


def prauc_inputs(rng: np.random.Generator, shape: Shape) -> tuple[np.ndarray, ...]:
    """As :func:`dual_inputs`, with ``λ`` and biases (``N(0, 0.5²)``) of shape ``(L, K)``."""
    b, n, k = shape["B"], shape["L"], shape["K"]
    logits, labels = _logits_labels(rng, b, n)
    lambdas = (0.5 + rng.random((n, k))).astype(np.float32)
    biases = (0.5 * rng.standard_normal((n, k))).astype(np.float32)
    return logits, labels, lambdas, biases


def roc_inputs(rng: np.random.Generator, shape: Shape) -> tuple[np.ndarray, ...]:
    b, n = shape["B"], shape["L"]
    return _logits_labels(rng, b, n)


def _alphas(k: int) -> np.ndarray:
    lo, hi = PR_RANGE
    return np.linspace(lo, hi, k + 2)[1:-1].astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Native code, written once per framework from a small table of that framework's ops
# ---------------------------------------------------------------------------------------------


def _make(ops: Any) -> dict[str, Fn]:
    """The native losses over a framework's ops (``sum0``, ``mean``, ``softplus``, ``const``,
    ``expand``): each line is what a user writes in that framework, nothing generic."""
    softplus, mean, sum0, const, expand = ops.softplus, ops.mean, ops.sum0, ops.const, ops.expand

    def prior(y: Any) -> Any:
        return (1.0 + sum0(y)) / (2.0 + y.shape[0])

    def recall_at_precision(z: Any, y: Any, lam: Any) -> Any:
        a = TARGET
        loss = ((1.0 + lam * (1.0 - a)) * y * softplus(-z) + lam * a * (1.0 - y) * softplus(z)
                - lam * (1.0 - a) * prior(y) * LN2)
        return mean(loss)

    def precision_at_recall(z: Any, y: Any, lam: Any) -> Any:
        r = TARGET
        loss = (lam * y * softplus(-z) + (1.0 - y) * softplus(z)
                + lam * prior(y) * (r - 1.0) * LN2)
        return mean(loss)

    def tpr_at_fpr(z: Any, y: Any, lam: Any) -> Any:
        r = RATE
        loss = (y * softplus(-z) + lam * (1.0 - y) * softplus(z)
                - lam * r * (1.0 - prior(y)) * LN2)
        return mean(loss)

    def pr_auc(z: Any, y: Any, lam: Any, bias: Any) -> Any:
        alpha = const(_alphas(lam.shape[1]))  # (K,)
        zk = expand(z, 2) + bias  # (B, L, K)
        yk = expand(y, 2)
        pi = expand(prior(y), 1)  # (L, 1)
        loss = ((1.0 + lam * (1.0 - alpha)) * yk * softplus(-zk)
                + lam * alpha * (1.0 - yk) * softplus(zk)
                - lam * (1.0 - alpha) * pi * LN2)
        return mean(loss)

    def roc_auc(z: Any, y: Any) -> Any:
        b = z.shape[0]
        # pair (p, n): y_p (1 − y_n) ℓ(z_p − z_n), summed over all pairs, divided by B; the
        # mean over the B·L elements as metricloss' reduction="mean".
        mask = expand(y, 1) * (1.0 - expand(y, 0))
        pair = mask * softplus(expand(z, 0) - expand(z, 1))
        return ops.sum(pair) / (b * b * z.shape[1])

    return {"recall_at_precision": recall_at_precision, "precision_at_recall":
            precision_at_recall, "tpr_at_fpr": tpr_at_fpr, "pr_auc": pr_auc,
            "roc_auc": roc_auc}


def _torch() -> dict[str, Fn]:
    import torch
    import torch.nn.functional as F

    class Ops:
        softplus = staticmethod(F.softplus)
        mean = staticmethod(torch.mean)
        sum = staticmethod(torch.sum)

        @staticmethod
        def sum0(x: Any) -> Any:
            return torch.sum(x, dim=0)

        @staticmethod
        def const(a: np.ndarray) -> Any:
            return torch.from_numpy(a)

        @staticmethod
        def expand(x: Any, axis: int) -> Any:
            return torch.unsqueeze(x, axis)

    return _make(Ops)


def _jax() -> dict[str, Fn]:
    import jax
    import jax.numpy as jnp

    class Ops:
        softplus = staticmethod(jax.nn.softplus)
        mean = staticmethod(jnp.mean)
        sum = staticmethod(jnp.sum)

        @staticmethod
        def sum0(x: Any) -> Any:
            return jnp.sum(x, axis=0)

        @staticmethod
        def const(a: np.ndarray) -> Any:
            return jnp.asarray(a)

        @staticmethod
        def expand(x: Any, axis: int) -> Any:
            return jnp.expand_dims(x, axis)

    return _make(Ops)


def _tensorflow() -> dict[str, Fn]:
    import tensorflow as tf

    class Ops:
        softplus = staticmethod(tf.math.softplus)
        mean = staticmethod(tf.reduce_mean)
        sum = staticmethod(tf.reduce_sum)

        @staticmethod
        def sum0(x: Any) -> Any:
            return tf.reduce_sum(x, axis=0)

        @staticmethod
        def const(a: np.ndarray) -> Any:
            return tf.constant(a)

        @staticmethod
        def expand(x: Any, axis: int) -> Any:
            return tf.expand_dims(x, axis)

    return _make(Ops)


_BUILDERS = {"torch": _torch, "jax": _jax, "tensorflow": _tensorflow}


def _native(key: str) -> dict[str, Callable[[], Fn]]:
    return {fw: (lambda build=build: build()[key]) for fw, build in _BUILDERS.items()}


MODULE = "metricloss.global_objectives"

CASES = [
    Case(
        name="recall_at_precision_loss",
        module=MODULE, shapes=SHAPES, quick_shape=QUICK, inputs=dual_inputs,
        metricloss=lambda m: lambda z, y, lam: m.recall_at_precision_loss(
            z, y, target_precision=TARGET, lambdas=lam),
        native=_native("recall_at_precision"),
    ),
    Case(
        name="precision_at_recall_loss",
        module=MODULE, shapes=SHAPES, quick_shape=QUICK, inputs=dual_inputs,
        metricloss=lambda m: lambda z, y, lam: m.precision_at_recall_loss(
            z, y, target_recall=TARGET, lambdas=lam),
        native=_native("precision_at_recall"),
    ),
    Case(
        name="false_positive_rate_at_true_positive_rate_loss",
        module=MODULE, shapes=SHAPES, quick_shape=QUICK, inputs=dual_inputs,
        metricloss=lambda m: lambda z, y, lam: m.false_positive_rate_at_true_positive_rate_loss(
            z, y, target_rate=TARGET, lambdas=lam),
        native=_native("precision_at_recall"),
    ),
    Case(
        name="true_positive_rate_at_false_positive_rate_loss",
        module=MODULE, shapes=SHAPES, quick_shape=QUICK, inputs=dual_inputs,
        metricloss=lambda m: lambda z, y, lam: m.true_positive_rate_at_false_positive_rate_loss(
            z, y, target_rate=RATE, lambdas=lam),
        native=_native("tpr_at_fpr"),
    ),
    Case(
        name="precision_recall_auc_loss",
        module=MODULE,
        shapes=({"B": 256, "L": 20, "K": 20}, {"B": 4096, "L": 100, "K": 20}),
        quick_shape={"B": 16, "L": 5, "K": 3},
        inputs=prauc_inputs,
        metricloss=lambda m: lambda z, y, lam, bias: m.precision_recall_auc_loss(
            z, y, lambdas=lam, biases=bias, precision_range=PR_RANGE,
            num_anchors=int(lam.shape[1])),
        native=_native("pr_auc"),
        elementwise=False,  # K evaluations per logit: the one-pass floor is no reference
    ),
    Case(
        name="roc_auc_loss",
        module=MODULE,
        shapes=({"B": 256, "L": 20}, {"B": 4096, "L": 1}),
        quick_shape={"B": 16, "L": 3},
        inputs=roc_inputs,
        metricloss=lambda m: lambda z, y: m.roc_auc_loss(z, y),
        native=_native("roc_auc"),
        elementwise=False,
    ),
]


# ---------------------------------------------------------------------------------------------
# Studies
# ---------------------------------------------------------------------------------------------


def _mib(n: int) -> str:
    from benchmarks.report import fmt_bytes

    return fmt_bytes(n)


def prauc_memory_vs_anchors(fw: Any, quick: bool) -> dict[str, Any]:
    """Compiled (``jax.jit``) forward+backward memory of PR-AUC against the number of anchors."""
    import jax

    import metricloss.global_objectives as go

    b, n = (16, 5) if quick else (4096, 1000)
    anchors = (1, 3) if quick else (1, 5, 20, 50)
    native = _jax()["pr_auc"]
    rows = []
    for k in anchors:
        arrays = prauc_inputs(np.random.default_rng(0), {"B": b, "L": n, "K": k})
        args = tuple(fw.asarray(a) for a in arrays)

        def ml(z: Any, y: Any, lam: Any, bias: Any, k: int = k) -> Any:
            return go.precision_recall_auc_loss(z, y, lambdas=lam, biases=bias,
                                                num_anchors=k)

        a = fw.memory_analysis(ml, args)
        c = fw.memory_analysis(native, args)
        r = fw.memory_analysis(jax.checkpoint(ml), args)
        rows.append([k, _mib(a["temp_bytes"]), _mib(c["temp_bytes"]), _mib(r["temp_bytes"]),
                     _mib(b * n * k * 4)])
    return {
        "note": f"`jax.jit(jax.value_and_grad(loss))` at B={b}, L={n}, biases given (the "
                "(B, L, K) path); XLA's memory analysis of the compiled executable (temp "
                "buffers), compiled but not run. `jax.checkpoint` makes the backward pass "
                "recompute the anchors instead of storing them.",
        "columns": ["K", "metricloss temp", "native temp",
                    "metricloss under jax.checkpoint temp", "one (B, L, K) array"],
        "rows": rows,
    }


def roc_memory_chunked(fw: Any, quick: bool) -> dict[str, Any]:
    """``jax.jit`` forward+backward memory of ROC-AUC at a large batch, chunked or not."""
    import metricloss.global_objectives as go

    b, n = (64, 4) if quick else (16_384, 4)
    z, y = roc_inputs(np.random.default_rng(0), {"B": b, "L": n})
    args = (fw.asarray(z), fw.asarray(y))
    variants: list[tuple[str, dict[str, Any]]] = [
        ("pairwise xent, unchunked", {}),
        (f"pairwise xent, chunk_size={b // 16}", {"chunk_size": b // 16}),
        ("pairwise hinge, unchunked", {"surrogate": "hinge"}),
        (f"pairwise hinge, chunk_size={b // 16}", {"surrogate": "hinge", "chunk_size": b // 16}),
        ("sort hinge", {"surrogate": "hinge", "method": "sort"}),
    ]
    import jax

    rows = []
    for label, kwargs in variants:
        def loss(z: Any, y: Any, kwargs: dict[str, Any] = kwargs) -> Any:
            return go.roc_auc_loss(z, y, **kwargs)

        forward = jax.jit(loss).lower(*args).compile().memory_analysis()
        both = fw.memory_analysis(loss, args)
        rows.append([label, _mib(int(forward.temp_size_in_bytes)), _mib(both["temp_bytes"])])
    native = _jax()["roc_auc"]
    forward = jax.jit(native).lower(*args).compile().memory_analysis()
    both = fw.memory_analysis(native, args)
    rows.append(["native masked all-pairs xent", _mib(int(forward.temp_size_in_bytes)),
                 _mib(both["temp_bytes"])])
    return {
        "note": f"B={b}, L={n}: one (B, B, L) float32 array is {_mib(b * b * n * 4)}. "
                "XLA memory analysis of the jitted executable (temp buffers), compiled but not "
                "run.",
        "columns": ["method", "forward temp", "forward+backward temp"],
        "rows": rows,
    }


def roc_sort_vs_pairwise(fw: Any, quick: bool) -> dict[str, Any]:
    """Hinge ROC-AUC: ``method="sort"`` against ``method="pairwise"``, forward+backward."""
    import metricloss.global_objectives as go

    b, n = (16, 1) if quick else (4096, 1)
    z, y = roc_inputs(np.random.default_rng(0), {"B": b, "L": n})
    args = (fw.asarray(z), fw.asarray(y))
    predicted = b * b / (3 * b * math.log2(3 * b))
    rows = []
    for mode in ("eager", "compiled"):
        steps = {
            method: fw.step(lambda z, y, method=method: go.roc_auc_loss(
                z, y, surrogate="hinge", method=method), mode)
            for method in ("pairwise", "sort")
        }
        outs = {k: s(*args) for k, s in steps.items()}
        va, vb = (float(fw.to_numpy(outs[k][0])) for k in ("pairwise", "sort"))
        thunks = {k: (lambda s=s: s(*args)) for k, s in steps.items()}
        for thunk in thunks.values():
            thunk()
        rounds = 1 if quick else 5
        times = alternate(thunks, rounds=rounds, inner=dict.fromkeys(thunks, 1))
        r = ratio_stats(times["pairwise"], times["sort"])
        rows.append([mode, f"{np.median(times['pairwise']) * 1e3:.3g}",
                     f"{np.median(times['sort']) * 1e3:.3g}",
                     f"{r.median:.1f} [{r.q25:.1f}, {r.q75:.1f}]", f"{predicted:.0f}",
                     f"{abs(va - vb) / max(abs(va), 1e-12):.1e}"])
    return {
        "note": f"B={b}, L={n}, forward+backward, {1 if quick else 5} alternating rounds. "
                "Predicted speed-up: B² pair terms against the 3B·log₂(3B) comparisons of the "
                "merged sort (constants ignored).",
        "columns": ["mode", "pairwise ms", "sort ms", "speed-up [IQR]", "predicted",
                    "value rel. diff"],
        "rows": rows,
    }


STUDIES = [
    Study("PR-AUC memory against the number of anchors (jax.jit)", MODULE, ("jax",),
          prauc_memory_vs_anchors),
    Study("ROC-AUC memory at a large batch, chunked or not (jax.jit)", MODULE, ("jax",),
          roc_memory_chunked),
    Study("ROC-AUC hinge: sort against pairwise", MODULE, ("torch", "jax", "tensorflow"),
          roc_sort_vs_pairwise),
]
