"""The global objectives' inputs in compute form, their per-label arguments and their
reduction: what every loss of the family (the constrained losses, ROC-AUC, AUC-M) shares,
below all of them."""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from typing import Any, NamedTuple

from metricloss._checks import (
    check_bool,
    check_choice,
    check_eager_range,
    check_number,
    prepare_inputs,
    require_array,
)
from metricloss._namespace import (
    Array,
    Namespace,
    device_of,
    finite_logits,
    is_eager,
    namespace_of,
)
from metricloss._reduction import REDUCTIONS, apply_reduction
from metricloss._sync import AllReduce, sum_across

SURROGATES = ("xent", "hinge")

_LN2 = math.log(2.0)

Number = int | float
PerLabel = Array | Number | Sequence[Number]

_ORDER_HINT = ("; the argument order is (logits, labels) (the original TensorFlow library took "
               "(labels, logits))")


def _check_logits(xp: Namespace, logits: Array) -> None:
    """``TypeError`` unless ``logits`` is floating, with a hint at the argument order (bool or
    integer labels passed first are caught here)."""
    if not xp.isdtype(logits.dtype, "real floating"):
        raise TypeError(f"logits must have a floating-point dtype, got {logits.dtype}"
                        f"{_ORDER_HINT}")


def _broadcast_shapes(named: dict[str, tuple[Any, ...]]) -> tuple[Any, ...]:
    """The broadcast of the named shapes, or ``ValueError`` naming the first that clashes.

    An unknown size (``None`` under a ``tf.function`` signature) is taken to match."""
    out: tuple[Any, ...] = ()
    for name, shape in named.items():
        n = max(len(out), len(shape))
        a = (1,) * (n - len(out)) + out
        b = (1,) * (n - len(shape)) + tuple(shape)
        merged = []
        for da, db in zip(a, b, strict=True):
            if da != db and 1 not in (da, db) and None not in (da, db):
                others = ", ".join(f"{k} {v}" for k, v in named.items() if k != name)
                raise ValueError(
                    f"{name} of shape {tuple(shape)} does not broadcast against {others}"
                )
            merged.append(db if da == 1 else da)
        out = tuple(merged)
    return out


def _static_rows(x: Array) -> int | None:
    """The number of rows of ``x`` as a Python int where it is known while tracing, else
    ``None``: ``None`` in a ``tf.function`` signature, a symbolic dimension under ``jax.export``,
    and any size under ``torch.compile`` (Dynamo shows a symbolic size as a plain ``int``, so
    it cannot be told from a static one; the batch size is then treated as unknown)."""
    n = x.shape[0]
    if type(n) is not int:
        return None
    torch = sys.modules.get("torch")
    if torch is not None and torch.compiler.is_compiling():
        return None
    return n


def _batch_count(xp: Namespace, x: Array) -> Array | int:
    """The number of rows of the 2-D ``x``: a Python int where it is static, else an array
    computed at run time (see :func:`_static_rows`), never a Python read of an unknown size."""
    n = _static_rows(x)
    if n is not None:
        return n
    return xp.sum(xp.ones_like(x[:, 0]))


def _check_finite_weights(xp: Namespace, w: Array | None, name: str = "weights") -> None:
    """``ValueError`` for infinite or NaN weights (eager, on the host; HELPERS decision 7)."""
    if w is None or not is_eager(w):
        return
    bad = xp.logical_not(xp.all(xp.isfinite(w)))
    if is_eager(bad) and bool(bad):
        raise ValueError(f"{name} must be finite; found inf or NaN")


class _Batch(NamedTuple):
    """A loss' inputs in compute form: ``z`` (clipped to ``[−H, H]``), ``y`` of shape
    ``(B, L)``, ``w`` ``None`` or broadcastable to it, in ``dtype`` (float32 for half
    precision, also the result's dtype) on ``device``."""

    xp: Namespace
    z: Array
    y: Array
    w: Array | None
    shape: tuple[Any, ...]  # the caller's logits shape (its batch size may be None)
    dtype: Any
    device: Any

    @property
    def num_labels(self) -> int:
        return int(self.z.shape[1])

    @property
    def label_shape(self) -> tuple[int, ...]:
        """The shape of a per-label quantity as the caller sees it: ``(L,)``, or ``()``."""
        return tuple(self.shape[1:])


def _prepare(logits: Array, labels: Array, weights: Array | Number | None,
             **others: Any) -> _Batch:
    require_array("logits", logits)
    require_array("labels", labels)
    # One namespace check over every array argument, so that a PyTorch ``lambdas`` next to
    # NumPy logits is a TypeError naming both.
    xp = namespace_of(logits=logits, labels=labels, weights=weights,
                      **{k: v for k, v in others.items() if hasattr(v, "shape")})
    _check_logits(xp, logits)
    xp, z, y, w, shape = prepare_inputs(logits, labels, weights)
    _check_finite_weights(xp, w)
    return _Batch(xp, finite_logits(xp, z), y, w, shape, z.dtype, device_of(z))


def _reduce(b: _Batch, per_element: Array, reduction: str,
            all_reduce: AllReduce | None = None) -> Array:
    """The reduced loss in the compute dtype (float32 for half inputs); ``"none"``: the
    caller's shape. With ``all_reduce``, ``"sum"`` is the sum over every replica's elements and
    ``"mean"`` their mean (the sum and the element count summed across replicas in one call):
    the value of the global batch on every replica, whatever the shard sizes."""
    xp = b.xp
    if reduction == "none":
        return per_element if len(b.shape) == 2 else xp.reshape(per_element, (-1,))
    if all_reduce is None:
        return apply_reduction(xp, per_element, reduction)
    total = xp.sum(per_element)
    if reduction == "sum":
        return all_reduce(total)
    rows = _batch_count(xp, per_element)
    count = xp.zeros_like(total) + rows * per_element.shape[1]
    total, count = sum_across(xp, [total, count], all_reduce)
    return total / xp.maximum(count, xp.ones_like(count))


def _check_common(surrogate: str, reduction: str, return_aux: Any = False) -> None:
    check_choice("surrogate", surrogate, SURROGATES)
    check_choice("reduction", reduction, REDUCTIONS)
    check_bool("return_aux", return_aux)



# --------------------------------------------------------------------------------------------
# Per-label arguments
# --------------------------------------------------------------------------------------------


def _per_label_array(b: _Batch, name: str, value: Any, extra: tuple[int, ...] = ()) -> Array:
    """``value`` (an array) as shape ``(L, *extra)`` in the compute dtype, or ``ValueError``.

    Accepted shapes: ``()``, ``(L, *extra)`` and, for binary logits, ``extra`` alone (the
    caller's per-label shape).
    """
    xp = b.xp
    L = b.num_labels
    full = (L, *extra)
    given = tuple(value.shape)
    accepted = {(), full, (*b.label_shape, *extra)}
    if given not in accepted:
        shown = " or ".join(str(s) for s in sorted(accepted, key=len))
        raise ValueError(f"{name} must have shape {shown}, got {given}")
    arr = xp.astype(value, b.dtype)
    return xp.broadcast_to(xp.reshape(arr, full) if given else arr, full)


def _per_label(b: _Batch, name: str, value: Any, *, low: float, high: float,
               low_open: bool = False, extra: tuple[int, ...] = ()) -> Array | float:
    """A per-label (or per-label-and-anchor) argument: a number, a sequence of numbers, or an
    array of shape ``()`` or ``(L, *extra)``, checked to lie in range (arrays: eager only).

    A number comes back as a Python float when ``extra`` is empty (it broadcasts for free),
    everything else as an array of shape ``(L, *extra)`` on the logits' device.
    """
    xp = b.xp
    if isinstance(value, tuple) and hasattr(value, "priors"):  # a LabelPriorState
        raise TypeError(f"{name} must be an array of priors, not a LabelPriorState: pass "
                        f"state.priors")
    if isinstance(value, int | float) and not isinstance(value, bool):
        v = check_number(name, value, low=low, low_open=low_open, high=high)
        if not extra:
            return v
        return xp.full((b.num_labels, *extra), v, dtype=b.dtype, device=b.device)
    if isinstance(value, list | tuple):
        for item in value:
            check_number(name, item, low=low, low_open=low_open, high=high)
        if len(value) != b.num_labels or extra:
            raise ValueError(
                f"{name} as a sequence must have {b.num_labels} entries (one per label), "
                f"got {len(value)}"
            )
        return xp.asarray([float(v) for v in value], dtype=b.dtype, device=b.device)
    if not hasattr(value, "shape"):
        raise TypeError(f"{name} must be a number, a sequence of numbers or an array, "
                        f"got {type(value).__name__}")
    if xp.isdtype(value.dtype, "bool") or not xp.isdtype(value.dtype,
                                                          ("integral", "real floating")):
        raise TypeError(f"{name} must have a numeric dtype, got {value.dtype}")
    arr = _per_label_array(b, name, value, extra)
    check_eager_range(xp, name, arr, low, high, low_open=low_open)
    return arr


def _as_array(b: _Batch, x: Array | float, extra: tuple[int, ...] = ()) -> Array:
    """A per-label value (a float or an array) as an array of shape ``(L, *extra)``."""
    if isinstance(x, float):
        return b.xp.full((b.num_labels, *extra), x, dtype=b.dtype, device=b.device)
    return x


def _lambdas(b: _Batch, lambdas: Any, extra: tuple[int, ...] = ()) -> Array | float:
    if lambdas is None:
        raise TypeError("lambdas is required: pass the dual values (e.g. dual_value(v, f, "
                        "stop_gradient) of a variable initialised to 1.0)")
    lam = _per_label(b, "lambdas", lambdas, low=0.0, high=math.inf, extra=extra)
    if isinstance(lam, float):
        return lam
    # Negative values raise in eager mode (above); under tracing they cannot be read, and are
    # used as |λ| (free: (L,) values), so the loss stays a Lagrangian with λ ≥ 0. where(), not
    # abs(): the gradient at λ = 0 stays 1 in every framework.
    return b.xp.where(lam < 0, -lam, lam)


def _biases(b: _Batch, biases: Any, num_anchors: int) -> Array | None:
    if biases is None:
        return None
    xp = b.xp
    if isinstance(biases, int | float) and not isinstance(biases, bool):
        value = check_number("biases", biases)
        return xp.full((b.num_labels, num_anchors), value, dtype=b.dtype, device=b.device)
    if not hasattr(biases, "shape"):
        raise TypeError(f"biases must be None, a number or an array, got {type(biases).__name__}")
    if not xp.isdtype(biases.dtype, "real floating"):
        raise TypeError(f"biases must have a floating-point dtype, got {biases.dtype}")
    return _per_label_array(b, "biases", biases, (num_anchors,))


def _weighted_label_sums(xp: Namespace, y: Array, w: Array | None) -> tuple[Array, Array]:
    """``(Σ_b w·y, Σ_b w)``, each of shape ``(L,)`` (no Python batch size read)."""
    if w is None:
        positives = xp.sum(y, axis=0)
        return positives, xp.zeros_like(positives) + _batch_count(xp, y)
    return xp.sum(w * y, axis=0), xp.sum(w + xp.zeros_like(y), axis=0)


def _label_priors(b: _Batch, label_priors: Any, all_reduce: AllReduce | None = None
                  ) -> Array | float:
    if label_priors is None:
        counts, total = sum_across(b.xp, _weighted_label_sums(b.xp, b.y, b.w), all_reduce)
        return (1.0 + counts) / (2.0 + total)
    return _per_label(b, "label_priors", label_priors, low=0.0, high=1.0)



def _weighted_sum(xp: Namespace, x: Array, w: Array | None) -> Array:
    return xp.sum(x if w is None else w * x, axis=0)


def _check_precision_range(precision_range: Any) -> tuple[float, float]:
    if (not isinstance(precision_range, Sequence) or isinstance(precision_range, str)
            or len(precision_range) != 2):
        raise ValueError(f"precision_range must be a pair (lo, hi), got {precision_range!r}")
    lo = check_number("precision_range[0]", precision_range[0], low=0.0, high=1.0)
    hi = check_number("precision_range[1]", precision_range[1], low=0.0, high=1.0)
    if not lo < hi:
        raise ValueError(f"precision_range must satisfy 0 ≤ lo < hi ≤ 1, got ({lo}, {hi})")
    return lo, hi
