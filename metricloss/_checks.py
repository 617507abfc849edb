"""Input validation shared by every loss (SPEC §0).

Each check raises at once with the argument's name in the message: ``TypeError`` for a wrong
kind of array or dtype, ``ValueError`` for a wrong shape, an unknown name or a value out of range.
Value checks (labels in [0, 1], non-negative weights, indices in range) read array values and so
run only in eager mode on the host (:func:`metricloss._namespace.is_eager`); under tracing they
are documented as unchecked. Nothing is ever clipped silently.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from metricloss._namespace import (
    Array,
    Namespace,
    compute_dtype,
    device_of,
    is_eager,
    namespace_of,
)

__all__ = [
    "as_float_labels",
    "check_bool",
    "check_choice",
    "check_eager_indices",
    "check_eager_range",
    "check_floating",
    "check_integer",
    "check_number",
    "check_same_shape",
    "prepare_inputs",
    "prepare_weights",
    "require_array",
]


# --------------------------------------------------------------------------------------------
# Python arguments (numbers, integers, flags): the one place they are validated
# --------------------------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_number(
    name: str,
    value: Any,
    *,
    low: float = -math.inf,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """A finite Python number in the interval from ``low`` to ``high``, returned as ``float``.

    ``TypeError`` for a non-number (bool included); ``ValueError`` for NaN, ±inf, or a value
    outside the interval (open at an end when ``low_open``/``high_open``), naming ``name``.
    """
    if not _is_number(value):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    # value − value is 0 for a finite number, NaN for ±inf and NaN: unlike math.isfinite, it
    # traces under torch.compile(dynamic=True), where Python floats (defaults too) are symbolic.
    if not value - value == 0:
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    below = value <= low if low_open else value < low
    above = value >= high if high_open else value > high
    if below or above:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        raise ValueError(f"{name} must lie in {left}{low}, {high}{right}, got {value}")
    return float(value)


def check_integer(name: str, value: Any, *, low: int | None = None,
                  high: int | None = None) -> int:
    """A Python ``int`` (not bool) in ``[low, high]``; ``TypeError``/``ValueError`` naming
    ``name`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        lo = "-inf" if low is None else low
        hi = "inf" if high is None else high
        raise ValueError(f"{name} must be an integer in [{lo}, {hi}], got {value}")
    return value


def check_bool(name: str, value: Any) -> bool:
    """A Python ``bool``; ``TypeError`` naming ``name`` otherwise (``0``/``1`` included)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return value


def require_array(name: str, value: Any) -> Any:
    """``value`` if it is an array (has ``shape`` and ``dtype``); ``TypeError`` naming ``name``
    otherwise (``None`` included)."""
    if value is None or not (hasattr(value, "shape") and hasattr(value, "dtype")):
        raise TypeError(f"{name} must be an array, got {type(value).__name__}")
    return value


def check_choice(name: str, value: Any, valid: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``valid``; else ``ValueError`` listing the valid names."""
    valid = tuple(valid)
    if not isinstance(value, str) or value not in valid:
        raise ValueError(
            f"{name} must be one of {', '.join(repr(v) for v in valid)}; got {value!r}"
        )
    return value


def check_floating(xp: Namespace, name: str, x: Array) -> None:
    """``TypeError`` unless ``x`` has a real floating dtype."""
    if not xp.isdtype(x.dtype, "real floating"):
        raise TypeError(f"{name} must have a floating-point dtype, got {x.dtype}")


def check_same_shape(name: str, x: Array, ref_name: str, ref: Array) -> None:
    """``ValueError`` unless ``x`` has the shape of ``ref``."""
    if tuple(x.shape) != tuple(ref.shape):
        raise ValueError(
            f"{name} must have the shape of {ref_name} {tuple(ref.shape)}, got {tuple(x.shape)}"
        )


def check_eager_range(
    xp: Namespace,
    name: str,
    x: Array,
    low: float,
    high: float,
    *,
    low_open: bool = False,
) -> None:
    """``ValueError`` if ``x`` (eager, on the host) holds a value outside ``[low, high]``.

    NaN passes: a NaN input yields a NaN loss, as the SPEC allows. Under tracing, or on an
    accelerator (where reading the answer would be a device sync), nothing is checked.
    """
    if not is_eager(x) or math.prod(tuple(x.shape)) == 0:
        return
    # Two read-only reductions: cheaper than element-wise comparisons and their temporaries.
    # A NaN makes min/max NaN and both comparisons false, so NaN passes.
    smallest, largest = xp.min(x), xp.max(x)
    below = (smallest <= low) if low_open else (smallest < low)
    if not is_eager(below):  # x is concrete but closed over inside a trace (jax.jit)
        return
    if bool(below) or bool(largest > high):
        bracket = "(" if low_open else "["
        raise ValueError(f"{name} must lie in {bracket}{low}, {high}]; found values outside it")


def check_eager_indices(
    xp: Namespace,
    name: str,
    idx: Array,
    n: int,
    *,
    ignore: int | None = None,
    ignore_name: str = "ignore_index",
) -> None:
    """``ValueError`` if the integer array ``idx`` (eager, on the host) holds an entry outside
    ``[0, n)`` other than ``ignore``; the message gives the count and the largest such entry."""
    if not is_eager(idx) or 0 in tuple(idx.shape):
        return
    bad = xp.logical_or(idx < 0, idx >= n)
    if ignore is not None:
        bad = xp.logical_and(bad, idx != ignore)
    if not is_eager(bad):  # concrete indices closed over by a traced function (jax.jit)
        return
    if bool(xp.any(bad)):
        # The largest offending entry: the fill value min(idx) never exceeds a bad entry.
        example = int(xp.max(xp.where(bad, idx, xp.min(idx))))
        count = int(xp.sum(xp.astype(bad, xp.int32)))
        also = f" or {ignore_name} ({ignore})" if ignore is not None else ""
        raise ValueError(
            f"{name} must hold class indices in [0, {n}){also}; found {count} other "
            f"entr{'y' if count == 1 else 'ies'}, e.g. {example}"
        )


def as_float_labels(xp: Namespace, labels: Array, dtype: Any, name: str = "labels") -> Array:
    """Labels (bool, int or float) cast to ``dtype``, checked to lie in [0, 1] in eager mode."""
    if not (xp.isdtype(labels.dtype, "bool") or xp.isdtype(labels.dtype, ("integral",
                                                                          "real floating"))):
        raise TypeError(f"{name} must be bool, integer or floating, got {labels.dtype}")
    out = xp.astype(labels, dtype, copy=False)
    if not xp.isdtype(labels.dtype, "bool"):
        check_eager_range(xp, name, out, 0.0, 1.0)
    return out


def prepare_inputs(
    logits: Array,
    labels: Array,
    weights: Array | float | None = None,
    *,
    logits_name: str = "logits",
) -> tuple[Namespace, Array, Array, Array | None, tuple[int, ...]]:
    """Validate the common inputs of a loss and bring them to the compute form.

    Returns ``(xp, logits2d, labels2d, weights, shape)``: logits and labels as ``(B, L)`` arrays
    in the compute dtype (float32 for half precision), weights broadcastable to ``(B, L)`` (shape
    ``(B, 1)`` or ``(B, L)``; ``None`` if absent) and the caller's original logits shape.
    """
    xp = namespace_of(**{logits_name: logits, "labels": labels, "weights": weights})
    check_floating(xp, logits_name, logits)
    check_same_shape("labels", labels, logits_name, logits)
    shape = tuple(logits.shape)
    if len(shape) not in (1, 2):
        raise ValueError(
            f"{logits_name} must have shape (B,) or (B, L), got {shape}"
        )
    dtype = compute_dtype(xp, logits.dtype)
    z = xp.astype(logits, dtype, copy=False)
    y = as_float_labels(xp, labels, dtype)
    if len(shape) == 1:
        # -1, not shape[0]: the batch size is unknown (None) inside a Keras tf.function trace.
        z = xp.reshape(z, (-1, 1))
        y = xp.reshape(y, (-1, 1))
    w = prepare_weights(xp, weights, z, shape)
    return xp, z, y, w, shape


def prepare_weights(
    xp: Namespace,
    weights: Array | float | None,
    ref: Array,
    caller_shape: tuple[int, ...] | None = None,
) -> Array | None:
    """Per-example weights: ``None``, a scalar, ``(B,)`` or ``(B, L)``, returned as ``None`` or
    an array of shape ``(1, 1)``, ``(B, 1)`` or ``(B, L)`` in the dtype and on the device of the
    2-D array ``ref``; negative values raise (eager)."""
    if weights is None:
        return None
    shape2d = tuple(ref.shape)
    batch = shape2d[0]
    caller_shape = caller_shape or shape2d
    if isinstance(weights, bool) or not (isinstance(weights, int | float) or hasattr(weights,
                                                                                    "shape")):
        raise TypeError(f"weights must be None, a number or an array, got {type(weights).__name__}")
    if isinstance(weights, int | float):
        if not weights >= 0:
            raise ValueError(f"weights must be non-negative, got {weights}")
        return xp.full((1, 1), float(weights), dtype=ref.dtype, device=device_of(ref))
    if not xp.isdtype(weights.dtype, ("integral", "real floating")):
        raise TypeError(f"weights must be numeric, got {weights.dtype}")
    w_shape = tuple(weights.shape)
    w = xp.astype(weights, ref.dtype)
    if w_shape == ():
        w = xp.reshape(w, (1, 1))
    elif w_shape == (batch,):
        w = xp.reshape(w, (batch, 1))
    elif w_shape in (shape2d, caller_shape):
        w = xp.reshape(w, shape2d)
    else:
        raise ValueError(
            f"weights must be a scalar or have shape ({batch},) or {caller_shape}, got {w_shape}"
        )
    check_eager_range(xp, "weights", w, 0.0, float("inf"))
    return w
