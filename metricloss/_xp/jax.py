"""JAX's native kernels and in-graph assertion (imported only once ``jax`` is)."""

from __future__ import annotations

from typing import Any

import jax
import jax.nn
import numpy as np
from jax.experimental import checkify

Array = Any


class Kernels:
    """``jax.nn``'s kernels for the primitives the array API standard lacks."""

    sigmoid = staticmethod(jax.nn.sigmoid)
    log_sigmoid = staticmethod(jax.nn.log_sigmoid)
    softplus = staticmethod(jax.nn.softplus)

    @staticmethod
    def logsumexp(x: Array, axis: int) -> Array:
        return jax.nn.logsumexp(x, axis=axis)

    @staticmethod
    def softmax(x: Array, axis: int) -> Array:
        return jax.nn.softmax(x, axis=axis)

    @staticmethod
    def log_softmax(x: Array, axis: int) -> Array:
        return jax.nn.log_softmax(x, axis=axis)


def put_along_axis(x: Array, indices: Array, values: Array) -> Array:
    """A copy of the 2-D ``x`` with ``x[b, indices[b, p]] = values[b, p]`` (one scatter). The
    row indices come from ``broadcasted_iota``, which takes a symbolic batch size
    (``jnp.put_along_axis`` does not)."""
    rows = jax.lax.broadcasted_iota(indices.dtype, indices.shape, 0)
    return x.at[rows, indices].set(values, mode="promise_in_bounds")


def is_eager(x: Array) -> bool:
    if isinstance(x, jax.core.Tracer):
        return False
    try:
        return all(d.platform == "cpu" for d in x.devices())
    except Exception:
        return False


def _differentiated_types() -> tuple[type, ...]:
    found: list[type] = []
    try:  # JAX's own module: the linearize tracer of jax.grad is not re-exported
        from jax._src.interpreters import ad as _ad
    except ImportError:  # pragma: no cover - a JAX that moved it
        from jax.interpreters import ad as _ad  # type: ignore[no-redef]
    for name in ("JVPTracer", "LinearizeTracer"):
        cls = getattr(_ad, name, None)
        if isinstance(cls, type):
            found.append(cls)
    return tuple(found)


_DIFFERENTIATED = _differentiated_types()


def looks_swapped(logits: Array, labels: Array) -> bool:
    """``labels`` is being differentiated (a JVP or linearize tracer: a model's output under
    ``jax.grad``/``value_and_grad``, as in Keras' JAX train step) and ``logits`` is not: what
    ``keras.Model.compile(loss=core_function)`` passes. Metadata only (tracer types)."""
    return isinstance(labels, _DIFFERENTIATED) and not isinstance(logits, _DIFFERENTIATED)


def assert_all(ok: Array, message: str) -> None:
    """``jax.experimental.checkify.check``: staged into the traced function; the caller wraps
    it with ``checkify.checkify`` and calls ``err.throw()`` (a traced function holding a check
    that is not functionalised by checkify raises when it is staged)."""
    checkify.check(ok, message)


def eager_min_max(x: Array) -> tuple[float, float]:
    """Smallest and largest entries of a concrete CPU array, through NumPy's view of it (no
    JAX dispatch per operation); NaN propagates."""
    a = np.asarray(x)
    return float(a.min()), float(a.max())


def segment_sum(data: Array | None, ids: Array, num_segments: int, dtype: Any) -> Array:
    """``jax.ops.segment_sum`` (jittable: ``num_segments`` is static)."""
    import jax.numpy as jnp

    values = jnp.ones(ids.shape, dtype=dtype) if data is None else data.astype(dtype)
    return jax.ops.segment_sum(values, ids, num_segments=num_segments)
