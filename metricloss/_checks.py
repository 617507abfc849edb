"""Input validation shared by every loss (SPEC §0).

Each check raises at once with the argument's name in the message: ``TypeError`` for a wrong
kind of array or dtype, ``ValueError`` for a wrong shape, an unknown name or a value out of range.
Value checks (labels in [0, 1], non-negative weights, indices in range) read array values: by
default they run only in eager mode on the host (:func:`metricloss._namespace.is_eager`) and
vanish under tracing. The opt-in checked mode (:func:`checks`) keeps them inside compiled code as
in-graph assertions. Nothing is ever clipped silently.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from metricloss._namespace import (
    Array,
    Namespace,
    arguments_look_swapped,
    assert_all,
    compute_dtype,
    device_of,
    eager_min_max,
    is_eager,
    namespace_of,
)

__all__ = [
    "CHECK_MODES",
    "as_float_labels",
    "check_bool",
    "check_choice",
    "check_eager_indices",
    "check_eager_range",
    "check_floating",
    "check_integer",
    "check_not_swapped",
    "check_number",
    "check_same_shape",
    "checks",
    "checks_always",
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
    # Comparisons, not math.isfinite: torch.compile(dynamic=True) makes Python floats symbolic,
    # and math.isfinite of a symbolic float breaks the graph.
    if not -math.inf < value < math.inf:
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


# (namespace name, dtype's name, kind) -> xp.isdtype's answer. A plain dict (torch.compile
# traces dict lookups); dtypes are few, and isdtype costs microseconds per call in JAX and
# TensorFlow. Keyed by str(dtype), not the dtype: torch.compile hashes every key of a dict it
# looks up in and cannot hash a TensorFlow DType, so a process that had used TensorFlow could
# no longer compile (issue 21, item 10).
_ISDTYPE: dict[tuple[str, str, Any], bool] = {}


def _isdtype(xp: Namespace, dtype: Any, kind: Any) -> bool:
    key = (xp.__name__, str(dtype), kind)
    found = _ISDTYPE.get(key)
    if found is None:
        found = _ISDTYPE[key] = bool(xp.isdtype(dtype, kind))
    return found


def _astype(xp: Namespace, x: Array, dtype: Any) -> Array:
    """``x`` in ``dtype``; ``x`` itself (no dispatch) when it already has it."""
    return x if x.dtype == dtype else xp.astype(x, dtype)


def check_not_swapped(logits_name: str, logits: Array, labels: Array) -> None:
    """``TypeError`` where the arguments visibly come in the wrong order: a model's output as
    ``labels`` next to ``logits`` that is not one (:func:`arguments_look_swapped`: a PyTorch
    non-leaf tensor requiring gradients; under Keras on JAX a tracer being differentiated, on
    TensorFlow a tensor a ``GradientTape`` records). Metadata only, no value is read (PyTorch:
    eager only, skipped while compiling). The usual cause is a core function given to
    ``keras.Model.compile(loss=...)``, which calls a loss as ``(y_true, y_pred)``: the Keras
    classes take Keras' order."""
    if arguments_look_swapped(logits, labels):
        raise TypeError(
            f"labels requires gradients but {logits_name} does not: the arguments look swapped. "
            f"metricloss functions take ({logits_name}, labels); Keras calls a loss as "
            "(y_true, y_pred), so give model.compile the Keras class of the same name (e.g. "
            "SigmoidF1Loss from the package's Keras adapter, backends/keras.py), not a core "
            "function"
        )


def check_floating(xp: Namespace, name: str, x: Array) -> None:
    """``TypeError`` unless ``x`` has a real floating dtype."""
    if not _isdtype(xp, x.dtype, "real floating"):
        raise TypeError(f"{name} must have a floating-point dtype, got {x.dtype}")


def check_same_shape(name: str, x: Array, ref_name: str, ref: Array) -> None:
    """``ValueError`` unless ``x`` has the shape of ``ref``."""
    if tuple(x.shape) != tuple(ref.shape):
        raise ValueError(
            f"{name} must have the shape of {ref_name} {tuple(ref.shape)}, got {tuple(x.shape)}"
        )


# --------------------------------------------------------------------------------------------
# The checked mode: value checks kept inside compiled code
# --------------------------------------------------------------------------------------------

CHECK_MODES = ("eager", "always")

# A plain module global read at trace time (torch.compile guards on it and recompiles when it
# changes; jax.jit and tf.function keep what they traced).
_MODE = {"mode": "eager"}


class checks:  # used as a function and a context manager, like torch.no_grad
    """Choose where the value checks run: ``"eager"`` (default) or ``"always"``.

    The value checks are the ones that read array values: labels in [0, 1], weights finite and
    non-negative, class indices in range, ``lambdas`` and targets in their ranges.

    - ``"eager"`` (default, no cost under compilation): they raise ``ValueError`` at once when
      the values can be read on the host without a device sync (NumPy, and PyTorch, JAX and
      TensorFlow eager on the CPU). Inside ``jax.jit``, ``torch.compile``, ``tf.function``, and
      on an accelerator, they do not run: labels of 2.0 then give a loss, silently.
    - ``"always"``: where the values cannot be read eagerly, each check becomes an assertion
      inside the computation: ``torch._assert_async`` in PyTorch (a ``RuntimeError`` carrying
      the message; asynchronous on an accelerator), ``tf.debugging.Assert`` in TensorFlow
      (``InvalidArgumentError`` from inside ``tf.function``; XLA, ``jit_compile=True``, drops
      assertions, so there the checks still cannot run), and
      ``jax.experimental.checkify.check`` in JAX: wrap the jitted function with
      ``checkify.checkify`` and call ``err.throw()`` on the error it returns (staging a check
      without ``checkify`` raises an error that says so).

    ``checks(mode)`` sets the mode globally and returns an object that, used as a context
    manager, restores the previous mode on exit; ``checks()`` changes nothing and its ``mode``
    attribute is the mode in force. The mode is read when a function is traced: a function
    already traced by ``tf.function`` keeps the checks it was traced with, and so does a
    Python function traced by ``jax.jit`` (JAX caches traces per function, even across new
    ``jax.jit`` wrappers: call ``jax.clear_caches()`` after changing the mode);
    ``torch.compile`` recompiles when the mode changes.

    Example:
        >>> import numpy as np
        >>> import metricloss
        >>> with metricloss.checks("always"):
        ...     metricloss.checks().mode
        'always'
        >>> metricloss.checks().mode
        'eager'
    """

    def __init__(self, mode: str | None = None):
        self.previous = _MODE["mode"]
        if mode is not None:
            _MODE["mode"] = check_choice("mode", mode, CHECK_MODES)
        self.mode = _MODE["mode"]

    def __enter__(self) -> checks:
        return self

    def __exit__(self, *exc: object) -> None:
        _MODE["mode"] = self.previous

    def __repr__(self) -> str:
        return f"metricloss.checks({self.mode!r})"


def checks_always() -> bool:
    """Whether the checked mode (:class:`checks` ``"always"``) is on."""
    return _MODE["mode"] == "always"


def _outside(xp: Namespace, x: Array, low: float, high: float, low_open: bool,
             high_open: bool, allow_nan: bool) -> Array:
    """0-d boolean array: some entry of ``x`` lies outside the interval (NaN counts as outside
    when not ``allow_nan``). One pass of comparisons and an ``any`` (empty arrays: ``False``)."""
    if allow_nan:
        below = (x <= low) if low_open else (x < low)
        above = (x >= high) if high_open else (x > high)
    else:  # a NaN fails both negated comparisons
        below = xp.logical_not((x > low) if low_open else (x >= low))
        above = xp.logical_not((x < high) if high_open else (x <= high))
    return xp.any(xp.logical_or(below, above))


def _interval(low: float, high: float, low_open: bool, high_open: bool) -> str:
    return f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"


def check_eager_range(
    xp: Namespace,
    name: str,
    x: Array,
    low: float,
    high: float,
    *,
    low_open: bool = False,
    high_open: bool = False,
    allow_nan: bool = True,
) -> None:
    """``ValueError`` if ``x`` (eager, on the host) holds a value outside the interval from
    ``low`` to ``high`` (open at an end when ``low_open``/``high_open``).

    NaN passes unless ``allow_nan`` is false: a NaN input yields a NaN loss, as the SPEC allows.
    Under tracing, or on an accelerator (where reading the answer would be a device sync),
    nothing is checked by default; in the checked mode (:class:`checks` ``"always"``) the same
    condition is asserted inside the computation instead.
    """
    if not is_eager(x):
        if checks_always():
            bad = _outside(xp, x, low, high, low_open, high_open, allow_nan)
            assert_all(xp, xp.logical_not(bad), _range_message(name, low, high, low_open,
                                                               high_open, allow_nan))
        return
    if math.prod(tuple(x.shape)) == 0:
        return
    # One native min/max pass read at once (the array is on the host: no sync), then Python
    # comparisons. NaN makes min/max NaN: the plain comparisons are then false (NaN passes),
    # the negated ones true.
    smallest, largest = eager_min_max(xp, x)
    if allow_nan:
        below = (smallest <= low) if low_open else (smallest < low)
        above = (largest >= high) if high_open else (largest > high)
    else:
        below = not ((smallest > low) if low_open else (smallest >= low))
        above = not ((largest < high) if high_open else (largest <= high))
    if below or above:
        raise ValueError(_range_message(name, low, high, low_open, high_open, allow_nan))


def _range_message(name: str, low: float, high: float, low_open: bool, high_open: bool,
                   allow_nan: bool) -> str:
    finite = "" if allow_nan else "be finite and "
    return (f"{name} must {finite}lie in {_interval(low, high, low_open, high_open)}; "
            f"found values outside it")


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
    eager = is_eager(idx)
    if eager:
        if 0 in tuple(idx.shape):
            return
        smallest, largest = eager_min_max(xp, idx)
        if smallest >= 0 and largest < n:  # the common case: one pass, one read
            return
    bad = xp.logical_or(idx < 0, idx >= n)
    if ignore is not None:
        bad = xp.logical_and(bad, idx != ignore)
    if not eager or not is_eager(bad):  # traced, on an accelerator, or closed over (jax.jit)
        if checks_always():
            also = f" or {ignore_name} ({ignore})" if ignore is not None else ""
            assert_all(xp, xp.logical_not(xp.any(bad)),
                       f"{name} must hold class indices in [0, {n}){also}")
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
    is_bool = _isdtype(xp, labels.dtype, "bool")
    if not (is_bool or _isdtype(xp, labels.dtype, ("integral", "real floating"))):
        raise TypeError(f"{name} must be bool, integer or floating, got {labels.dtype}")
    out = _astype(xp, labels, dtype)
    if not is_bool:
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
    check_not_swapped(logits_name, logits, labels)
    shape = tuple(logits.shape)
    if len(shape) not in (1, 2):
        raise ValueError(
            f"{logits_name} must have shape (B,) or (B, L), got {shape}"
        )
    dtype = compute_dtype(xp, logits.dtype)
    z = _astype(xp, logits, dtype)
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
    """Weights as an array that broadcasts against the 2-D array ``ref`` ``(B, L)``.

    Accepted: ``None``, a Python number, or an array of shape ``()``, ``(B,)`` (one weight per
    example, whatever ``L``: not NumPy's trailing-axis broadcasting), ``(1,)``, or any 2-D
    shape that broadcasts to ``(B, L)``: ``(B, L)``, ``(B, 1)``, ``(1, L)``, ``(1, 1)``; also
    ``caller_shape`` (the caller's own labels shape, e.g. ``(B,)`` for binary input). Returned
    as ``None`` or a 2-D array of shape ``(1, 1)``, ``(B, 1)``, ``(1, L)`` or ``(B, L)`` in the
    dtype and on the device of ``ref``.

    Raises:
        TypeError: for a non-numeric array or another type.
        ValueError: for another shape (a 1-D array whose length is not ``B`` is refused: per
            label weights are written ``(1, L)``), and, eagerly, for a negative, infinite or
            NaN weight.
    """
    if weights is None:
        return None
    shape2d = tuple(ref.shape)
    batch, width = shape2d
    caller_shape = caller_shape or shape2d
    if isinstance(weights, bool) or not (isinstance(weights, int | float) or hasattr(weights,
                                                                                    "shape")):
        raise TypeError(f"weights must be None, a number or an array, got {type(weights).__name__}")
    if isinstance(weights, int | float):
        if not (weights >= 0 and math.isfinite(weights)):
            raise ValueError(f"weights must be finite and non-negative, got {weights}")
        return xp.full((1, 1), float(weights), dtype=ref.dtype, device=device_of(ref))
    if not _isdtype(xp, weights.dtype, ("integral", "real floating")):
        raise TypeError(f"weights must be numeric, got {weights.dtype}")
    w_shape = tuple(weights.shape)
    if len(w_shape) == 0:
        target: tuple[Any, ...] | None = (1, 1)
    elif len(w_shape) == 1:
        if w_shape[0] == 1:
            target = (1, 1)
        elif _same_size(w_shape[0], batch):
            target = (-1, 1)  # -1: the batch size may be unknown (None) under tracing
        elif len(caller_shape) == 1:
            target = None
        else:
            raise ValueError(
                f"weights must be a scalar or have shape broadcasting to the labels "
                f"{caller_shape}; 1-D weights are per example and must have length "
                f"B = {batch}, got {w_shape}; for per-label weights pass shape (1, {width})"
            )
    elif len(w_shape) == 2 and all(
        d == 1 or _same_size(d, full) for d, full in zip(w_shape, shape2d, strict=True)
    ):
        target = w_shape  # already 2-D and broadcastable: no reshape
    else:
        target = None
    if target is None:
        raise ValueError(
            f"weights must be a scalar or have shape broadcasting to the labels "
            f"{caller_shape}: (), ({batch},), ({batch}, 1), (1, {width}) or ({batch}, {width}); "
            f"got {w_shape}"
        )
    w = _astype(xp, weights, ref.dtype)
    if w_shape != target:
        w = xp.reshape(w, target)
    check_eager_range(xp, "weights", w, 0.0, math.inf, high_open=True, allow_nan=False)
    return w


def _same_size(a: Any, b: Any) -> bool:
    """Two axis lengths, either unknown (``None`` under a Keras trace): equal or both unknown.
    An unknown length is taken as matching a known one (the graph checks it when it runs)."""
    return a is None or b is None or a == b
