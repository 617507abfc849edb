"""An array-API namespace over TensorFlow ops.

array-api-compat has no TensorFlow support and ``tf.experimental.numpy`` lacks part of the
standard (``concat``, ``astype``, ``cumulative_sum``, ``searchsorted``, ``isdtype``, ...) and
promotes Python scalars to float64 unless NumPy behaviour is switched on globally, which we never
do. This module is that namespace: each function the core uses, written with ``tf`` ops, so that a
TensorFlow tensor goes through the same core code as a NumPy or PyTorch array.

It is loaded by :func:`metricloss._namespace.namespace_of` only when a TensorFlow tensor is seen
(TensorFlow is then already imported). Only the functions written here exist: a name the core
does not need raises ``AttributeError`` (there is no fallback to ``tf.experimental.numpy``, whose
promotion rules differ), and each function is tested against NumPy (tests/test_namespace.py).
"""

from __future__ import annotations

import builtins
from types import SimpleNamespace
from typing import Any

import tensorflow as tf

__array_api_version__ = "2023.12"


def _exclude_from_autograph() -> None:
    """Tell AutoGraph to call metricloss' functions as they are inside ``tf.function``.

    The core has no Python control flow on tensor values (SPEC §0), so converting it gains
    nothing; it only costs tracing time and, where AutoGraph cannot parse a function (a lambda,
    a ``.pyc``-only install), logs its "could not transform ... do_not_convert" warning into the
    user's log. TensorFlow keeps such a rule for NumPy, Keras and others; the module is private,
    hence the guard.
    """
    try:
        from tensorflow.python.autograph.core import config as autograph_config
    except ImportError:  # pragma: no cover - a TensorFlow without that module
        return
    rules = getattr(autograph_config, "CONVERSION_RULES", None)
    rule_type = getattr(autograph_config, "DoNotConvert", None)
    if rules is None or rule_type is None:  # pragma: no cover
        return
    if not builtins.any(getattr(r, "_prefix", None) == "metricloss" for r in rules):
        autograph_config.CONVERSION_RULES = (rule_type("metricloss"), *rules)


_exclude_from_autograph()

Array = Any

bool = tf.bool
int8 = tf.int8
int16 = tf.int16
int32 = tf.int32
int64 = tf.int64
uint8 = tf.uint8
uint16 = tf.uint16
uint32 = tf.uint32
uint64 = tf.uint64
float16 = tf.float16
bfloat16 = tf.bfloat16
float32 = tf.float32
float64 = tf.float64

e = 2.718281828459045
inf = float("inf")
nan = float("nan")
pi = 3.141592653589793

_KINDS = {
    "bool": lambda d: d == tf.bool,
    "signed integer": lambda d: d.is_integer and not d.is_unsigned,
    "unsigned integer": lambda d: d.is_integer and d.is_unsigned,
    "integral": lambda d: d.is_integer,
    "real floating": lambda d: d.is_floating,
    "complex floating": lambda d: d.is_complex,
    "numeric": lambda d: d.is_integer or d.is_floating or d.is_complex,
}


def isdtype(dtype: Any, kind: Any) -> builtins.bool:
    if isinstance(kind, tuple):
        return builtins.any(isdtype(dtype, k) for k in kind)
    if isinstance(kind, str):
        return _KINDS[kind](tf.as_dtype(dtype))
    return tf.as_dtype(dtype) == tf.as_dtype(kind)


def _axis(axis: Any) -> Any:
    return list(axis) if isinstance(axis, tuple) else axis


def asarray(obj: Any, /, *, dtype: Any = None, device: Any = None, copy: Any = None) -> Array:
    if isinstance(obj, tf.Tensor | tf.Variable):
        out = tf.convert_to_tensor(obj)
        return out if dtype is None or out.dtype == dtype else tf.cast(out, dtype)
    if device is not None:
        with tf.device(device):
            return tf.convert_to_tensor(obj, dtype=dtype)
    return tf.convert_to_tensor(obj, dtype=dtype)


def astype(x: Array, dtype: Any, /, *, copy: builtins.bool = True, device: Any = None) -> Array:
    return x if x.dtype == dtype else tf.cast(x, dtype)


def _full(shape: Any, fill: Any, dtype: Any, device: Any) -> Array:
    dtype = tf.float32 if dtype is None else dtype
    if device is not None:
        with tf.device(device):
            return tf.fill(shape, tf.constant(fill, dtype=dtype))
    return tf.fill(shape, tf.constant(fill, dtype=dtype))


def zeros(shape: Any, *, dtype: Any = None, device: Any = None) -> Array:
    return _full(shape, 0, dtype, device)


def ones(shape: Any, *, dtype: Any = None, device: Any = None) -> Array:
    return _full(shape, 1, dtype, device)


def full(shape: Any, fill_value: Any, *, dtype: Any = None, device: Any = None) -> Array:
    return _full(shape, fill_value, dtype, device)


def zeros_like(x: Array, /, *, dtype: Any = None, device: Any = None) -> Array:
    return tf.zeros_like(x, dtype=dtype)


def ones_like(x: Array, /, *, dtype: Any = None, device: Any = None) -> Array:
    return tf.ones_like(x, dtype=dtype)


def full_like(x: Array, /, fill_value: Any, *, dtype: Any = None, device: Any = None) -> Array:
    return tf.fill(tf.shape(x), tf.constant(fill_value, dtype=dtype or x.dtype))


def arange(start: Any, /, stop: Any = None, step: Any = 1, *, dtype: Any = None,
           device: Any = None) -> Array:
    if stop is None:
        start, stop = 0, start
    return tf.range(start, stop, step, dtype=dtype or tf.int64)


def linspace(start: Any, stop: Any, /, num: int, *, dtype: Any = None, device: Any = None,
             endpoint: builtins.bool = True) -> Array:
    out = tf.linspace(tf.constant(start, tf.float64), tf.constant(stop, tf.float64), num)
    return tf.cast(out, dtype or tf.float32)


def finfo(dtype: Any) -> Any:
    import numpy as np

    return np.finfo(tf.as_dtype(dtype).as_numpy_dtype)


def iinfo(dtype: Any) -> Any:
    import numpy as np

    return np.iinfo(tf.as_dtype(dtype).as_numpy_dtype)


# -- element-wise -------------------------------------------------------------------------------

abs = tf.math.abs
exp = tf.math.exp
expm1 = tf.math.expm1
log = tf.math.log
log1p = tf.math.log1p
sqrt = tf.math.sqrt
square = tf.math.square
sign = tf.math.sign
floor = tf.math.floor
ceil = tf.math.ceil
round = tf.math.round
tanh = tf.math.tanh
isnan = tf.math.is_nan
isinf = tf.math.is_inf
isfinite = tf.math.is_finite
logical_and = tf.math.logical_and
logical_or = tf.math.logical_or
logical_not = tf.math.logical_not
equal = tf.math.equal
not_equal = tf.math.not_equal
less = tf.math.less
less_equal = tf.math.less_equal
greater = tf.math.greater
greater_equal = tf.math.greater_equal
maximum = tf.math.maximum
minimum = tf.math.minimum
add = tf.math.add
subtract = tf.math.subtract
multiply = tf.math.multiply
divide = tf.math.truediv
negative = tf.math.negative
positive = tf.identity
sin = tf.math.sin
cos = tf.math.cos
logical_xor = tf.math.logical_xor
floor_divide = tf.math.floordiv
remainder = tf.math.floormod


def trunc(x: Array, /) -> Array:
    return tf.where(x < 0, tf.math.ceil(x), tf.math.floor(x))


def log2(x: Array, /) -> Array:
    return tf.math.log(x) / tf.math.log(tf.constant(2.0, x.dtype))


def log10(x: Array, /) -> Array:
    return tf.math.log(x) / tf.math.log(tf.constant(10.0, x.dtype))


def reciprocal(x: Array, /) -> Array:
    return tf.math.reciprocal(x)


def logaddexp(x1: Array, x2: Array, /) -> Array:
    m = tf.math.maximum(x1, x2)
    return m + tf.math.softplus(-tf.math.abs(x1 - x2))


def pow(x1: Array, x2: Any, /) -> Array:
    return tf.math.pow(x1, x2)


def clip(x: Array, /, min: Any = None, max: Any = None) -> Array:
    if min is not None:
        x = tf.math.maximum(x, min)
    if max is not None:
        x = tf.math.minimum(x, max)
    return x


def where(condition: Array, x1: Any, x2: Any, /) -> Array:
    if not isinstance(x1, tf.Tensor | tf.Variable):
        x1 = tf.constant(x1, dtype=x2.dtype) if isinstance(x2, tf.Tensor | tf.Variable) else x1
    if not isinstance(x2, tf.Tensor | tf.Variable):
        x2 = tf.constant(x2, dtype=x1.dtype)
    return tf.where(condition, x1, x2)


# -- reductions ---------------------------------------------------------------------------------


def sum(x: Array, /, *, axis: Any = None, dtype: Any = None,
        keepdims: builtins.bool = False) -> Array:
    if dtype is not None:
        x = tf.cast(x, dtype)
    elif x.dtype == tf.bool:
        x = tf.cast(x, tf.int64)
    return tf.math.reduce_sum(x, axis=_axis(axis), keepdims=keepdims)


def prod(x: Array, /, *, axis: Any = None, dtype: Any = None,
         keepdims: builtins.bool = False) -> Array:
    if dtype is not None:
        x = tf.cast(x, dtype)
    return tf.math.reduce_prod(x, axis=_axis(axis), keepdims=keepdims)


def mean(x: Array, /, *, axis: Any = None, keepdims: builtins.bool = False) -> Array:
    return tf.math.reduce_mean(x, axis=_axis(axis), keepdims=keepdims)


def max(x: Array, /, *, axis: Any = None, keepdims: builtins.bool = False) -> Array:
    return tf.math.reduce_max(x, axis=_axis(axis), keepdims=keepdims)


def min(x: Array, /, *, axis: Any = None, keepdims: builtins.bool = False) -> Array:
    return tf.math.reduce_min(x, axis=_axis(axis), keepdims=keepdims)


def any(x: Array, /, *, axis: Any = None, keepdims: builtins.bool = False) -> Array:
    return tf.math.reduce_any(tf.cast(x, tf.bool), axis=_axis(axis), keepdims=keepdims)


def all(x: Array, /, *, axis: Any = None, keepdims: builtins.bool = False) -> Array:
    return tf.math.reduce_all(tf.cast(x, tf.bool), axis=_axis(axis), keepdims=keepdims)


def cumulative_sum(x: Array, /, *, axis: Any = None, dtype: Any = None,
                   include_initial: builtins.bool = False) -> Array:
    if axis is None:
        if len(x.shape) != 1:
            raise ValueError("cumulative_sum needs axis for arrays of more than one dimension")
        axis = 0
    if dtype is not None:
        x = tf.cast(x, dtype)
    out = tf.math.cumsum(x, axis=axis)
    if include_initial:
        shape = tf.tensor_scatter_nd_update(tf.shape(out), [[axis % len(x.shape)]], [1])
        out = tf.concat([tf.zeros(shape, dtype=out.dtype), out], axis=axis)
    return out


def cumulative_prod(x: Array, /, *, axis: Any = None, dtype: Any = None,
                    include_initial: builtins.bool = False) -> Array:
    if axis is None:
        if len(x.shape) != 1:
            raise ValueError("cumulative_prod needs axis for arrays of more than one dimension")
        axis = 0
    if dtype is not None:
        x = tf.cast(x, dtype)
    out = tf.math.cumprod(x, axis=axis)
    if include_initial:
        shape = tf.tensor_scatter_nd_update(tf.shape(out), [[axis % len(x.shape)]], [1])
        out = tf.concat([tf.ones(shape, dtype=out.dtype), out], axis=axis)
    return out


def count_nonzero(x: Array, /, *, axis: Any = None, keepdims: builtins.bool = False) -> Array:
    return tf.math.count_nonzero(x, axis=_axis(axis), keepdims=keepdims, dtype=tf.int64)


def argmax(x: Array, /, *, axis: Any = None, keepdims: builtins.bool = False) -> Array:
    if axis is None:
        x, axis = tf.reshape(x, [-1]), 0
    out = tf.math.argmax(x, axis=axis)
    return tf.expand_dims(out, axis) if keepdims else out


def argmin(x: Array, /, *, axis: Any = None, keepdims: builtins.bool = False) -> Array:
    if axis is None:
        x, axis = tf.reshape(x, [-1]), 0
    out = tf.math.argmin(x, axis=axis)
    return tf.expand_dims(out, axis) if keepdims else out


# -- linear algebra -----------------------------------------------------------------------------


def matmul(x1: Array, x2: Array, /) -> Array:
    if len(x2.shape) == 1:
        return tf.linalg.matvec(x1, x2)
    if len(x1.shape) == 1:
        return tf.linalg.matvec(x2, x1, transpose_a=True)
    return tf.linalg.matmul(x1, x2)


def vecdot(x1: Array, x2: Array, /, *, axis: int = -1) -> Array:
    return tf.math.reduce_sum(x1 * x2, axis=axis)


def tensordot(x1: Array, x2: Array, /, *, axes: Any = 2) -> Array:
    return tf.tensordot(x1, x2, axes=axes)


def matrix_transpose(x: Array, /) -> Array:
    return tf.linalg.matrix_transpose(x)


# -- manipulation -------------------------------------------------------------------------------


def reshape(x: Array, /, shape: Any, *, copy: Any = None) -> Array:
    return tf.reshape(x, shape)


def expand_dims(x: Array, /, axis: int = 0) -> Array:
    return tf.expand_dims(x, axis)


def squeeze(x: Array, /, axis: Any) -> Array:
    return tf.squeeze(x, axis=_axis(axis))


def broadcast_to(x: Array, /, shape: Any) -> Array:
    return tf.broadcast_to(x, shape)


def concat(arrays: Any, /, *, axis: int | None = 0) -> Array:
    if axis is None:
        return tf.concat([tf.reshape(a, [-1]) for a in arrays], axis=0)
    return tf.concat(list(arrays), axis=axis)


def stack(arrays: Any, /, *, axis: int = 0) -> Array:
    return tf.stack(list(arrays), axis=axis)


def tile(x: Array, repetitions: Any, /) -> Array:
    reps = list(repetitions)
    ndim = len(x.shape)
    if len(reps) < ndim:
        reps = [1] * (ndim - len(reps)) + reps
    elif len(reps) > ndim:
        ones = tf.ones([len(reps) - ndim], dtype=tf.int32)
        x = tf.reshape(x, tf.concat([ones, tf.shape(x)], axis=0))
    return tf.tile(x, reps)


def repeat(x: Array, repeats: Any, /, *, axis: int | None = None) -> Array:
    if axis is None:
        x, axis = tf.reshape(x, [-1]), 0
    return tf.repeat(x, repeats, axis=axis)


def roll(x: Array, /, shift: Any, *, axis: Any = None) -> Array:
    if axis is None:
        return tf.reshape(tf.roll(tf.reshape(x, [-1]), shift, axis=0), tf.shape(x))
    return tf.roll(x, shift, axis=axis)


def permute_dims(x: Array, /, axes: Any) -> Array:
    return tf.transpose(x, perm=list(axes))


def moveaxis(x: Array, source: int, destination: int, /) -> Array:
    ndim = len(x.shape)
    perm = [d for d in range(ndim) if d != source % ndim]
    perm.insert(destination % ndim, source % ndim)
    return tf.transpose(x, perm=perm)


def flip(x: Array, /, *, axis: Any = None) -> Array:
    if axis is None:
        axis = list(range(len(x.shape)))
    elif isinstance(axis, int):
        axis = [axis]
    return tf.reverse(x, axis=list(axis))


def take(x: Array, indices: Array, /, *, axis: Any = None) -> Array:
    if axis is None:
        x, axis = tf.reshape(x, [-1]), 0
    return tf.gather(x, indices, axis=axis)


def take_along_axis(x: Array, indices: Array, /, *, axis: int = -1) -> Array:
    ndim = len(x.shape)
    axis = axis % ndim
    if axis == ndim - 1:
        return tf.gather(x, indices, axis=axis, batch_dims=axis)
    # tf.gather batches over the leading axes only: move ``axis`` last and back.
    perm = [d for d in range(ndim) if d != axis] + [axis]
    inverse = [perm.index(d) for d in range(ndim)]
    out = tf.gather(tf.transpose(x, perm), tf.transpose(indices, perm), axis=ndim - 1,
                    batch_dims=ndim - 1)
    return tf.transpose(out, inverse)


def put_along_axis(x: Array, indices: Array, values: Array) -> Array:
    """A copy of the 2-D ``x`` with ``x[b, indices[b, p]] = values[b, p]`` (one scatter; the
    batch size may be unknown when traced). Repeated targets must carry equal values."""
    idx = tf.cast(indices, tf.int32)
    rows = tf.broadcast_to(tf.range(tf.shape(idx)[0])[:, None], tf.shape(idx))
    return tf.tensor_scatter_nd_update(x, tf.stack([rows, idx], axis=-1), values)


def sort(x: Array, /, *, axis: int = -1, descending: builtins.bool = False,
         stable: builtins.bool = True) -> Array:
    return tf.sort(x, axis=axis, direction="DESCENDING" if descending else "ASCENDING")


def argsort(x: Array, /, *, axis: int = -1, descending: builtins.bool = False,
            stable: builtins.bool = True) -> Array:
    return tf.argsort(x, axis=axis, direction="DESCENDING" if descending else "ASCENDING",
                      stable=stable)


def searchsorted(x1: Array, x2: Array, /, *, side: str = "left", sorter: Any = None) -> Array:
    if sorter is not None:
        x1 = tf.gather(x1, sorter)
    flat = tf.reshape(x2, [1, -1])
    out = tf.searchsorted(tf.reshape(x1, [1, -1]), flat, side=side, out_type=tf.int64)
    return tf.reshape(out, tf.shape(x2))


def nonzero(x: Array, /) -> tuple[Array, ...]:
    idx = tf.where(tf.cast(x, tf.bool))
    return tuple(idx[:, i] for i in range(len(x.shape)))


# -- native kernels, eager test and in-graph assertion (used by metricloss._namespace) ----------


def _logsumexp(x: Array, axis: int) -> Array:
    return tf.math.reduce_logsumexp(x, axis=axis)


def _softmax(x: Array, axis: int) -> Array:
    return tf.nn.softmax(x, axis=axis)


def _log_softmax(x: Array, axis: int) -> Array:
    return tf.nn.log_softmax(x, axis=axis)


Kernels = SimpleNamespace(
    sigmoid=tf.math.sigmoid,
    log_sigmoid=tf.math.log_sigmoid,
    softplus=tf.math.softplus,
    logsumexp=_logsumexp,
    softmax=_softmax,
    log_softmax=_log_softmax,
)


def native_kernels() -> SimpleNamespace:
    """The kernels above (kept for callers of the former ``backends.tensorflow``)."""
    return Kernels


def is_eager(x: Array) -> builtins.bool:
    if not tf.executing_eagerly() or not hasattr(x, "numpy"):
        return False
    return "GPU" not in (x.device or "").upper()


def _recorded(x: Array) -> builtins.bool:
    """Whether an active ``GradientTape`` records operations on ``x`` (eager or traced)."""
    try:
        from tensorflow.python.eager import record
    except ImportError:  # pragma: no cover - a TensorFlow that moved it
        return False
    return builtins.bool(record.should_record_backprop([x]))


def looks_swapped(logits: Array, labels: Array) -> builtins.bool:
    """A ``GradientTape`` records ``labels`` (a model's output, as in Keras' TensorFlow train
    step) but not ``logits``: what ``keras.Model.compile(loss=core_function)`` passes. Metadata
    only (the tape set), eager or while tracing a ``tf.function``."""
    if not isinstance(labels, (tf.Tensor, tf.Variable)) or not _recorded(labels):
        return False
    return not (isinstance(logits, (tf.Tensor, tf.Variable)) and _recorded(logits))


def assert_all(ok: Array, message: str) -> None:
    """``tf.debugging.Assert``: inside ``tf.function`` automatic control dependencies keep it
    in the graph and it raises ``InvalidArgumentError`` carrying ``message`` when run. XLA
    (``jit_compile=True``) compiles Assert ops to nothing: there the check cannot run."""
    tf.debugging.Assert(ok, [message])


def eager_min_max(x: Array) -> tuple[builtins.float, builtins.float]:
    """Smallest and largest entries of an eager CPU tensor, through NumPy's view of it (no
    TensorFlow dispatch per operation); NaN propagates."""
    import numpy as np

    a = np.asarray(x.numpy())
    return builtins.float(a.min()), builtins.float(a.max())


def segment_sum(data: Array | None, ids: Array, num_segments: builtins.int, dtype: Any
                ) -> Array:
    """``tf.math.unsorted_segment_sum`` (XLA-compilable)."""
    values = tf.ones_like(ids, dtype=dtype) if data is None else tf.cast(data, dtype)
    return tf.math.unsorted_segment_sum(values, ids, num_segments)
