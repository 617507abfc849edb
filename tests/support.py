"""Test support: one object per array library, used through the ``xp`` fixture.

A :class:`Backend` behaves as the library's array namespace (``xp.sum``, ``xp.float32`` ...) and
adds what a test needs around it: building arrays from NumPy, reading them back, gradients,
compilation, and :func:`assert_close`, which checks library, dtype, shape and device as well as
values.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from typing import Any

import numpy as np

ALL_BACKENDS = ("numpy", "array_api_strict", "torch", "jax", "tensorflow")
DIFFERENTIABLE = ("torch", "jax", "tensorflow")

# Relative tolerance of a result computed in a dtype, against a float64 oracle.
RTOL = {"float64": 1e-10, "float32": 1e-5, "float16": 2e-2, "bfloat16": 5e-2}


def selected_backends() -> list[str]:
    """Backends named by ``METRICLOSS_BACKENDS`` (comma-separated; default all)."""
    raw = os.environ.get("METRICLOSS_BACKENDS", "")
    names = [n.strip() for n in raw.split(",") if n.strip()] or list(ALL_BACKENDS)
    unknown = set(names) - set(ALL_BACKENDS)
    if unknown:
        raise ValueError(f"METRICLOSS_BACKENDS names unknown backends {sorted(unknown)}; "
                         f"valid: {ALL_BACKENDS}")
    return names


def jax_x64() -> bool:
    """Whether JAX runs with x64 enabled: yes unless ``METRICLOSS_JAX_X64=0``."""
    return os.environ.get("METRICLOSS_JAX_X64", "1") != "0"


def importable(name: str) -> bool:
    try:
        importlib.import_module(name)
    except ImportError:
        return False
    return True


_CACHE: dict[str, Backend] = {}


def get_backend(name: str) -> Backend:
    """The :class:`Backend` named ``name``; skips the calling test if it does not import."""
    import pytest

    if name not in _CACHE:
        module = name
        if not importable(module):
            pytest.skip(f"{name} is not installed in this environment")
        _CACHE[name] = Backend(name)
    return _CACHE[name]


class Backend:
    """A library under test: its namespace plus conversion, gradient and compile helpers."""

    def __init__(self, name: str):
        self.name = name
        if name == "numpy":
            import array_api_compat.numpy as ns
        elif name == "array_api_strict":
            import array_api_strict as ns
        elif name == "torch":
            import array_api_compat.torch as ns
        elif name == "jax":
            import jax

            # x64 unless the run asks for JAX's default float32 mode (METRICLOSS_JAX_X64=0),
            # the mode most users run; tests that need float64 are then skipped (conftest.py).
            jax.config.update("jax_enable_x64", jax_x64())
            import jax.numpy as ns
        elif name == "tensorflow":
            import tensorflow  # noqa: F401

            from metricloss.backends import tensorflow as ns
        else:
            raise ValueError(name)
        self.ns = ns

    def __getattr__(self, item: str) -> Any:
        return getattr(self.ns, item)

    def __repr__(self) -> str:
        return f"Backend({self.name})"

    @property
    def differentiable(self) -> bool:
        return self.name in DIFFERENTIABLE

    def dtype(self, name: str) -> Any:
        if name == "bfloat16":
            if self.name == "torch":
                import torch

                return torch.bfloat16
            if self.name == "jax":
                import jax.numpy as jnp

                return jnp.bfloat16
            if self.name == "tensorflow":
                import tensorflow as tf

                return tf.bfloat16
            return None
        return getattr(self.ns, name)

    def supports(self, dtype_name: str) -> bool:
        if dtype_name == "float64":
            return self.name != "jax" or jax_x64()
        if dtype_name == "bfloat16":
            return self.name in DIFFERENTIABLE
        if dtype_name == "float16":
            return self.name != "array_api_strict"
        return True

    def asarray(self, a: Any, dtype: str | None = None, device: Any = None) -> Any:
        """An array of this library from a NumPy array (or nested lists)."""
        a = np.asarray(a)
        if dtype is None:
            dtype = "float64" if a.dtype.kind == "f" else None
        if self.name == "torch":
            import torch

            t = torch.from_numpy(np.ascontiguousarray(a))
            return t.to(self.dtype(dtype)) if dtype else t
        if self.name == "tensorflow":
            import tensorflow as tf

            t = tf.constant(a)
            return tf.cast(t, self.dtype(dtype)) if dtype else t
        if self.name == "jax":
            import jax.numpy as jnp

            if dtype == "float64" and not jax_x64():
                import pytest

                # JAX's default float32 mode would silently truncate: a test that builds a
                # float64 array needs x64 and is skipped here (mark it `float64` to say so).
                pytest.skip("needs float64; JAX runs in its default float32 mode")
            return jnp.asarray(a, dtype=self.dtype(dtype) if dtype else None)
        if self.name == "array_api_strict":
            out = self.ns.asarray(a, device=device) if device is not None else self.ns.asarray(a)
            return self.ns.astype(out, self.dtype(dtype)) if dtype else out
        return np.asarray(a, dtype=self.dtype(dtype) if dtype else None)

    def to_numpy(self, x: Any) -> np.ndarray:
        if self.name == "torch":
            return x.detach().float().cpu().numpy() if _is_bf16(x) else x.detach().cpu().numpy()
        if self.name == "tensorflow":
            import tensorflow as tf

            if x.dtype == tf.bfloat16:
                x = tf.cast(x, tf.float32)
            return x.numpy()
        if self.name == "array_api_strict":
            x = self.ns.asarray(x, device=self.ns.Device("CPU_DEVICE"))
            return np.asarray(x._array)
        return np.asarray(x, dtype=np.float32) if str(x.dtype) == "bfloat16" else np.asarray(x)

    def library(self, x: Any) -> str:
        from metricloss._namespace import library_of

        return library_of(x)

    def value_and_grad(self, fn: Callable[..., Any], *args: Any, argnum: int = 0
                       ) -> tuple[np.ndarray, np.ndarray | None]:
        """``fn(*args)`` (a scalar) and its gradient with respect to ``args[argnum]``, as NumPy.

        The gradient is ``None`` for libraries without autodiff (NumPy, array-api-strict).
        """
        if self.name == "torch":
            import torch

            args = list(args)
            x = args[argnum].detach().clone().requires_grad_(True)
            args[argnum] = x
            out = fn(*args)
            (g,) = torch.autograd.grad(out, x)
            return self.to_numpy(out), self.to_numpy(g)
        if self.name == "jax":
            import jax

            value, g = jax.value_and_grad(fn, argnums=argnum)(*args)
            return self.to_numpy(value), self.to_numpy(g)
        if self.name == "tensorflow":
            import tensorflow as tf

            x = args[argnum]
            with tf.GradientTape() as tape:
                tape.watch(x)
                out = fn(*args)
            g = tape.gradient(out, x)
            return self.to_numpy(out), self.to_numpy(g)
        return self.to_numpy(fn(*args)), None

    def compile(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``fn`` compiled by the framework (``torch.compile(fullgraph=True)``, ``jax.jit``,
        ``tf.function(jit_compile=True)``); unchanged for NumPy and array-api-strict."""
        if self.name == "torch":
            import torch

            return torch.compile(fn, fullgraph=True, dynamic=False)
        if self.name == "jax":
            import jax

            return jax.jit(fn)
        if self.name == "tensorflow":
            import tensorflow as tf

            return tf.function(fn, jit_compile=True, reduce_retracing=True)
        return fn


    def trace_unknown_batch(self, fn: Callable[..., Any], *args: Any,
                            batch_args: tuple[int, ...] | None = None) -> Any:
        """``fn(*args)`` computed by a trace that does not know the batch size (axis 0 of the
        arrays at ``batch_args``, default all): ``tf.function`` with a ``(None, ...)``
        signature (as Keras ``fit`` traces a partial last batch), ``torch.compile(dynamic=True,
        fullgraph=True)`` with the batch axis marked dynamic, and ``jax.export`` with a
        symbolic batch dimension. ``None`` for libraries that do not trace (NumPy,
        array-api-strict): the caller skips."""
        if batch_args is None:
            batch_args = tuple(range(len(args)))
        if self.name == "tensorflow":
            import tensorflow as tf

            signature = [
                tf.TensorSpec((None, *a.shape[1:]) if i in batch_args else a.shape, a.dtype)
                for i, a in enumerate(args)
            ]
            return tf.function(fn, input_signature=signature)(*args)
        if self.name == "torch":
            import torch

            args = tuple(a.clone() for a in args)
            for i in batch_args:
                torch._dynamo.mark_dynamic(args[i], 0)
            torch._dynamo.reset()
            return torch.compile(fn, fullgraph=True, dynamic=True)(*args)
        if self.name == "jax":
            import jax
            from jax import export

            (b,) = export.symbolic_shape("b")
            specs = [
                jax.ShapeDtypeStruct((b, *a.shape[1:]) if i in batch_args else a.shape, a.dtype)
                for i, a in enumerate(args)
            ]
            return export.export(jax.jit(fn))(*specs).call(*args)
        return None


def _is_bf16(x: Any) -> bool:
    return str(x.dtype).endswith("bfloat16")


def dtype_name(x: Any) -> str:
    return str(x.dtype).rsplit(".", 1)[-1].replace("'>", "").replace("<dtype: '", "")


def assert_close(
    backend: Backend,
    actual: Any,
    desired: Any,
    *,
    dtype: str | None = None,
    rtol: float | None = None,
    atol: float = 0.0,
    device: Any = None,
) -> None:
    """Assert ``actual`` is an array of ``backend`` with ``dtype``, ``desired``'s shape, on
    ``device`` (if given), and values close to ``desired`` (a NumPy array or number)."""
    assert backend.library(actual) == backend.library(backend.asarray(np.zeros(1))), (
        f"result is a {backend.library(actual)} array, expected {backend.name}"
    )
    desired = np.asarray(desired)
    if dtype is not None:
        assert dtype_name(actual) == dtype, f"dtype {actual.dtype}, expected {dtype}"
    assert tuple(actual.shape) == desired.shape, f"shape {tuple(actual.shape)} != {desired.shape}"
    if device is not None:
        from metricloss._namespace import device_of

        assert device_of(actual) == device, f"device {device_of(actual)} != {device}"
    if rtol is None:
        rtol = RTOL.get(dtype or dtype_name(actual), 1e-7)
    np.testing.assert_allclose(backend.to_numpy(actual).astype(np.float64),
                               desired.astype(np.float64), rtol=rtol, atol=atol)


def finite_difference_grad(fn: Callable[[np.ndarray], float], x: np.ndarray,
                           h: float = 1e-6) -> np.ndarray:
    """Central finite differences of a scalar NumPy function, in float64."""
    x = np.asarray(x, dtype=np.float64)
    g = np.zeros_like(x)
    flat = g.reshape(-1)
    for i in range(x.size):
        e = np.zeros(x.size)
        e[i] = h
        e = e.reshape(x.shape)
        flat[i] = (fn(x + e) - fn(x - e)) / (2 * h)
    return g


def assert_finite_value_and_grad(backend: Backend, fn: Callable[[Any], Any], x: Any) -> None:
    """``fn(x)`` and (where the library differentiates) its gradient are finite everywhere."""
    value, grad = backend.value_and_grad(fn, x)
    assert np.all(np.isfinite(value)), value
    if grad is not None:
        assert np.all(np.isfinite(grad)), grad
