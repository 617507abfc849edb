"""Array namespaces, dtypes, devices, native numerical kernels and in-graph assertions.

Every core function starts here: :func:`namespace_of` returns the array-API namespace shared by
its inputs (array-api-compat's for NumPy and PyTorch, ``jax.numpy``, array-api-strict, and our
own :mod:`metricloss._xp.tensorflow` for TensorFlow). No framework is imported to ask: an array
is recognised by ``isinstance`` against the array types of the frameworks already present in
``sys.modules``, as einops does, so importing metricloss never imports torch, jax or tensorflow,
and the test traces under ``torch.compile(fullgraph=True)`` (``type(x).__module__`` does not).

Everything framework-specific lives in the private array layer :mod:`metricloss._xp`, loaded
from here only once its framework is imported: the TensorFlow namespace, and each framework's
native kernels (``sigmoid``, ``log_sigmoid``, ``softplus``, ``logsumexp``, ``softmax``,
``log_softmax``: faster and better fused than the pure-standard fallback, which is numerically
stable and used for NumPy and array-api-strict) and in-graph assertion (:func:`assert_all`).

On the hot path nothing here calls array-api-compat's ``functools.lru_cache``-decorated helpers
(``array_namespace``, ``is_torch_namespace``, ``device``): ``torch.compile`` warns on every one
of them. The namespace of a known library is looked up in a plain dict.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import ModuleType, SimpleNamespace
from typing import Any

import array_api_compat

__all__ = [
    "Array",
    "Namespace",
    "arguments_look_swapped",
    "assert_all",
    "clip_symmetric",
    "compute_dtype",
    "cumulative_sum",
    "device_of",
    "eager_min_max",
    "finite_logits",
    "index_dtype",
    "is_eager",
    "is_half",
    "kernels",
    "library_of",
    "logit_bound",
    "namespace_of",
    "put_along_axis",
    "resolve_namespace",
    "segment_sum",
    "take_along_axis",
]

Array = Any
Namespace = Any

_PYTHON_SCALARS = (bool, int, float, complex)

# (library, module looked up in sys.modules, names of its array types in that module). A
# framework absent from sys.modules has no arrays alive, so it is never imported to ask.
_ARRAY_TYPES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("numpy", "numpy", ("ndarray", "generic")),
    ("torch", "torch", ("Tensor",)),
    ("jax", "jax", ("Array",)),
    ("tensorflow", "tensorflow", ("Tensor", "Variable")),
    ("array_api_strict", "array_api_strict", ("Array",)),
    ("cupy", "cupy", ("ndarray",)),
)


def library_of(x: Array) -> str:
    """Name of the library that owns array ``x`` (``"numpy"``, ``"torch"``, ``"jax"``,
    ``"tensorflow"``, ``"array_api_strict"``, ``"cupy"``; else the top-level module of its type).

    ``isinstance`` tests only (against types found in ``sys.modules``): Dynamo traces them, so a
    ``torch.nn.Parameter`` is recognised inside ``torch.compile(fullgraph=True)``. The types
    found so far are kept in a short list, scanned first.
    """
    for cls, library in _KNOWN_TYPES:
        if isinstance(x, cls):
            return library
    return _library_of_slow(x)


# (array type, library) of the frameworks seen so far; extended by _library_of_slow.
_KNOWN_TYPES: list[tuple[type, str]] = []


def _library_of_slow(x: Array) -> str:
    for library, module_name, type_names in _ARRAY_TYPES:
        module = sys.modules.get(module_name)
        if module is None:
            continue
        for type_name in type_names:
            cls = getattr(module, type_name, None)
            if cls is not None and isinstance(x, cls):
                if (cls, library) not in _KNOWN_TYPES:
                    _KNOWN_TYPES.append((cls, library))
                return library
    owner: str = type(x).__module__.split(".")[0]
    return "jax" if owner == "jaxlib" else owner


def _load_namespace(library: str) -> Namespace | None:
    ns: Any
    if library == "numpy":
        import array_api_compat.numpy as ns
    elif library == "torch":
        import array_api_compat.torch as ns  # type: ignore[no-redef]
    elif library == "jax":
        ns = sys.modules["jax"].numpy
    elif library == "tensorflow":
        from metricloss._xp import tensorflow as ns  # type: ignore[no-redef]
    elif library == "array_api_strict":
        ns = sys.modules["array_api_strict"]
    else:
        return None
    return ns


# A plain dict, not functools.lru_cache: torch.compile traces through dict lookups silently.
_NAMESPACES: dict[str, Namespace] = {}


def _namespace_of_library(library: str) -> Namespace | None:
    ns = _NAMESPACES.get(library)
    if ns is None:
        ns = _load_namespace(library)
        if ns is not None:
            _NAMESPACES[library] = ns
    return ns


def namespace_of(**arrays: Array) -> Namespace:
    """The array namespace shared by the named ``arrays`` (``None`` and Python scalars ignored).

    Raises:
        TypeError: if two arrays belong to different libraries, or one is not an array; the
            message names the arguments.
    """
    # One loop, no intermediate dicts or sets: this runs at every call of every loss.
    library = None
    for name, a in arrays.items():
        if a is None or isinstance(a, _PYTHON_SCALARS):
            continue
        if not (hasattr(a, "shape") and hasattr(a, "dtype")):
            raise TypeError(f"{name} must be an array, got {type(a).__name__}")
        found = library_of(a)
        if library is None:
            library = found
        elif found != library:
            described = ", ".join(
                f"{k} is a {library_of(v)} array" for k, v in arrays.items()
                if v is not None and not isinstance(v, _PYTHON_SCALARS))
            raise TypeError(f"arrays from different libraries cannot be mixed: {described}")
    if library is None:
        raise TypeError(f"expected at least one array among {', '.join(arrays)}, got none")
    ns = _namespace_of_library(library)
    if ns is not None:
        return ns
    present = {name: a for name, a in arrays.items()
               if a is not None and not isinstance(a, _PYTHON_SCALARS)}
    try:
        return array_api_compat.array_namespace(*present.values())
    except TypeError as err:
        described = ", ".join(f"{name}: {type(a).__name__}" for name, a in present.items())
        raise TypeError(f"unsupported array type ({described}): {err}") from None


_MODULE_LIBRARIES = {
    "numpy": "numpy",
    "torch": "torch",
    "jax.numpy": "jax",
    "jax": "jax",
    "tensorflow": "tensorflow",
    "tensorflow.experimental.numpy": "tensorflow",
    "array_api_compat.numpy": "numpy",
    "array_api_compat.torch": "torch",
    "array_api_strict": "array_api_strict",
    "metricloss._xp.tensorflow": "tensorflow",
}


def resolve_namespace(xp: Any = None, like: Array = None) -> Namespace:
    """The array-API namespace for a framework module or an example array.

    ``xp`` may be what a user naturally passes: the module ``numpy``, ``torch``, ``jax.numpy``
    (or ``jax``), ``tensorflow``, as well as an array-API namespace (array-api-compat's,
    array-api-strict, :mod:`metricloss._xp.tensorflow`), which is returned as it is.
    ``like`` is an array whose namespace is taken instead (for arrays to be created on its
    library). Exactly one of them must be given.

    Raises:
        TypeError: if neither or both are given, or ``xp`` is not a known module or namespace.
    """
    if (xp is None) == (like is None):
        raise TypeError("give exactly one of xp (a module such as numpy, torch, jax.numpy, "
                        "tensorflow) and like (an array)")
    if like is not None:
        return namespace_of(like=like)
    name = getattr(xp, "__name__", None)
    library = _MODULE_LIBRARIES.get(name) if isinstance(name, str) else None
    if library is not None:
        return _namespace_of_library(library)
    if isinstance(xp, ModuleType | SimpleNamespace) and hasattr(xp, "isdtype") and hasattr(
            xp, "asarray"):
        return xp  # already an array-API namespace (e.g. array_api_compat.cupy)
    raise TypeError(
        f"xp must be an array module (numpy, torch, jax.numpy, tensorflow) or an array-API "
        f"namespace, got {xp!r}"
    )


def device_of(x: Array) -> Any:
    """The device of ``x`` (``x.device`` for PyTorch and TensorFlow; array-api-compat's
    ``device`` elsewhere)."""
    library = library_of(x)
    if library in ("torch", "tensorflow"):
        return x.device
    return array_api_compat.device(x)


def is_half(xp: Namespace, dtype: Any) -> bool:
    """Whether ``dtype`` is float16 or bfloat16."""
    name = getattr(dtype, "name", None)  # NumPy, JAX and TensorFlow dtypes
    if not isinstance(name, str):
        name = str(dtype).rsplit(".", 1)[-1]  # torch.float16, array_api_strict.float16
    return name in ("float16", "bfloat16", "half")


def compute_dtype(xp: Namespace, dtype: Any) -> Any:
    """The dtype in which to compute for inputs of ``dtype``: float32 for half precision."""
    return xp.float32 if is_half(xp, dtype) else dtype


def index_dtype(xp: Namespace) -> Any:
    """The integer dtype for gather/take indices: int64 for PyTorch (``torch.gather`` takes no
    other), int32 elsewhere (JAX without x64 has no int64; TensorFlow and NumPy take both)."""
    return xp.int64 if _library_of_namespace(xp) == "torch" else xp.int32


def is_eager(x: Array) -> bool:
    """Whether ``x`` holds concrete values that can be read without tracing or a device sync.

    ``False`` for JAX tracers, arrays inside ``torch.compile``, symbolic TensorFlow tensors and
    arrays on an accelerator: value checks (labels in [0, 1], indices in range) run eagerly only
    where this is ``True`` (elsewhere they run in-graph in the checked mode,
    :func:`metricloss.checks`).
    """
    library = library_of(x)
    if library == "numpy":
        return True
    if library in ("torch", "jax", "tensorflow"):
        return _layer(library).is_eager(x)
    if library == "cupy":
        return False
    return not array_api_compat.is_lazy_array(x)


def eager_min_max(xp: Namespace, x: Array) -> tuple[float, float]:
    """The smallest and largest entries of the non-empty array ``x``, for which
    :func:`is_eager` is ``True``, as Python floats (NaN if ``x`` holds a NaN), in one native
    pass where the framework has one (``torch.aminmax``; NumPy's view of a JAX or TensorFlow
    CPU array, with no dispatch per operation)."""
    library = library_of(x)
    if library in ("torch", "jax", "tensorflow"):
        return _layer(library).eager_min_max(x)
    return float(xp.min(x)), float(xp.max(x))


def _layer(library: str) -> ModuleType:
    """The module of :mod:`metricloss._xp` for ``library`` (imported on first use)."""
    found = _LAYERS.get(library)
    if found is None:
        # Import statements, not importlib: Dynamo traces them if the first call is compiled.
        if library == "torch":
            from metricloss._xp import torch as layer
        elif library == "jax":
            from metricloss._xp import jax as layer  # type: ignore[no-redef]
        else:
            from metricloss._xp import tensorflow as layer  # type: ignore[no-redef]
        found = _LAYERS[library] = layer
    return found


_LAYERS: dict[str, ModuleType] = {}


def _library_of_namespace(xp: Namespace) -> str | None:
    return _MODULE_LIBRARIES.get(getattr(xp, "__name__", ""))


def assert_all(xp: Namespace, ok: Array, message: str) -> None:
    """Assert, inside a traced or asynchronous computation, that the 0-d boolean ``ok`` holds.

    PyTorch: ``torch._assert_async`` (kept by ``torch.compile``; raises ``RuntimeError``).
    TensorFlow: ``tf.debugging.Assert`` (kept by ``tf.function``; raises
    ``InvalidArgumentError``; XLA, ``jit_compile=True``, drops it). JAX:
    ``jax.experimental.checkify.check`` (the caller wraps the function with
    ``checkify.checkify``). Other libraries are never traced: nothing to do.
    """
    library = _library_of_namespace(xp)
    if library in ("torch", "jax", "tensorflow"):
        _layer(library).assert_all(ok, message)


# --------------------------------------------------------------------------------------------
# Native kernels
# --------------------------------------------------------------------------------------------


def _fallback_kernels(xp: Namespace) -> SimpleNamespace:
    def softplus(x: Array) -> Array:
        return xp.logaddexp(0.0, x)  # a Python scalar: no zeros temporary

    def log_sigmoid(x: Array) -> Array:
        return -softplus(-x)

    def sigmoid(x: Array) -> Array:
        # exp(-softplus(-x)) is exact in both tails: no overflow, no 0/0.
        return xp.exp(log_sigmoid(x))

    def logsumexp(x: Array, axis: int) -> Array:
        m = xp.max(x, axis=axis, keepdims=True)
        # A row of -inf (every entry masked) must give -inf, not NaN.
        m = xp.where(xp.isfinite(m), m, xp.zeros_like(m))
        out = xp.log(xp.sum(xp.exp(x - m), axis=axis, keepdims=True)) + m
        return xp.squeeze(out, axis=axis)

    def log_softmax(x: Array, axis: int) -> Array:
        m = xp.max(x, axis=axis, keepdims=True)
        # Shifting by the max keeps exp from overflowing; the value does not depend on it.
        m = xp.where(xp.isfinite(m), m, xp.zeros_like(m))
        shifted = x - m
        return shifted - xp.log(xp.sum(xp.exp(shifted), axis=axis, keepdims=True))

    def softmax(x: Array, axis: int) -> Array:
        m = xp.max(x, axis=axis, keepdims=True)
        m = xp.where(xp.isfinite(m), m, xp.zeros_like(m))
        e = xp.exp(x - m)
        return e / xp.sum(e, axis=axis, keepdims=True)

    return SimpleNamespace(
        sigmoid=sigmoid, log_sigmoid=log_sigmoid, softplus=softplus, logsumexp=logsumexp,
        softmax=softmax, log_softmax=log_softmax,
    )


# A plain dict keyed by the namespace's name, not functools.lru_cache: torch.compile traces
# through it, and the value is built once, never while tracing after the first call.
_KERNELS: dict[str, Any] = {}


def kernels(xp: Namespace) -> Any:
    """Numerical primitives for namespace ``xp``: ``sigmoid``, ``log_sigmoid``, ``softplus``,
    ``logsumexp(x, axis)``, ``softmax(x, axis)`` and ``log_softmax(x, axis)``, native where the
    framework has them (:mod:`metricloss._xp`), a stable pure-standard form elsewhere."""
    key = xp.__name__
    found = _KERNELS.get(key)
    if found is None:
        library = _library_of_namespace(xp)
        if library in ("torch", "jax", "tensorflow"):
            found = _layer(library).Kernels
        else:
            found = _fallback_kernels(xp)
        _KERNELS[key] = found
    return found


def arguments_look_swapped(logits: Array, labels: Array) -> bool:
    """Whether ``labels`` is visibly a model's output and ``logits`` a target. Metadata only,
    no value is read.

    - PyTorch: a non-leaf ``labels`` requiring gradients next to ``logits`` requiring none.
    - JAX: ``labels`` is being differentiated (a JVP or linearize tracer, as a model's output
      under ``jax.grad``/``value_and_grad``) and ``logits`` is not.
    - TensorFlow: a ``GradientTape`` is recording ``labels`` and not ``logits``.

    For JAX and TensorFlow, where a model's output cannot be told from an input being
    differentiated, only when Keras is the caller (``keras.Model.compile(loss=core_function)``):
    a gradient with respect to the labels in a user's own code stays legitimate."""
    library = library_of(labels)
    if library == "torch":
        if not getattr(labels, "requires_grad", False):
            return False
        return bool(_layer("torch").looks_swapped(logits, labels))
    if library not in ("jax", "tensorflow"):
        return False
    return bool(_layer(library).looks_swapped(logits, labels)) and _called_by_keras()


def _called_by_keras(depth: int = 64) -> bool:
    """Whether a Keras module is among the callers (within ``depth`` frames): Keras calls a
    loss given to ``compile`` from its ``LossFunctionWrapper``. Frames only, no import."""
    frame: Any = sys._getframe(1)
    for _ in range(depth):
        if frame is None:
            return False
        module = frame.f_globals.get("__name__", "")
        if module == "keras" or module.startswith("keras."):
            return True
        frame = frame.f_back
    return False


def cumulative_sum(xp: Namespace, x: Array, axis: int, include_initial: bool = False) -> Array:
    """The standard's ``cumulative_sum``; for PyTorch on ``Tensor.cumsum`` (no warnings from
    array-api-compat's cached helpers under ``torch.compile``)."""
    if _library_of_namespace(xp) == "torch":
        return _layer("torch").cumulative_sum(x, axis, include_initial)
    return xp.cumulative_sum(x, axis=axis, include_initial=include_initial)


def logit_bound(xp: Namespace, dtype: Any) -> float:
    """``H``: the losses read logits in ``[−H, H]`` (``2**63`` in float32 and below, ``2**511``
    in float64), so that ±inf gives the limit value, never ``0·inf`` or ``inf − inf``; ``H²``
    and ``B·H`` stay finite in the dtype (pair differences, weighted sums, surrogate values)."""
    return 2.0**511 if dtype == xp.float64 else 2.0**63


def finite_logits(xp: Namespace, z: Array) -> Array:
    """``z`` clipped to ``[−H, H]`` (:func:`logit_bound`): identical for every finite logit a
    model produces, the limit for ±inf, with a zero (finite) gradient there. One pass forward;
    in PyTorch one fused kernel backward (``hardtanh``; the gradient is then zero at ``±H``
    exactly too)."""
    return clip_symmetric(xp, z, logit_bound(xp, z.dtype))


def clip_symmetric(xp: Namespace, x: Array, bound: float) -> Array:
    """``x`` clipped to ``[−bound, bound]``, one pass; in PyTorch by ``hardtanh``, whose
    backward is one fused kernel (``clamp``'s is four passes) and zero at ``±bound`` exactly."""
    if _library_of_namespace(xp) == "torch":
        return _layer("torch").clip_symmetric(x, bound)
    return xp.clip(x, -bound, bound)


def take_along_axis(xp: Namespace, x: Array, indices: Array, axis: int) -> Array:
    """The standard's ``take_along_axis``; for PyTorch the tensor's own ``gather``, because
    ``torch.take_along_dim`` (behind array-api-compat's) fixes a dynamic batch size under
    ``torch.compile(dynamic=True)``. ``indices`` are non-negative, of ``x``'s rank."""
    if _library_of_namespace(xp) == "torch":
        return x.gather(axis, indices)
    return xp.take_along_axis(x, indices, axis=axis)


StopGradient = Callable[[Array], Array]
"""A framework's ``stop_gradient`` (``Tensor.detach``, ``jax.lax.stop_gradient``, ...)."""


def segment_sum(xp: Namespace, data: Array | None, ids: Array, num_segments: int, dtype: Any
                ) -> Array:
    """``out[k] = Σ_{i: ids[i] = k} data[i]`` (``data=None``: counts), shape
    ``(num_segments,)`` in ``dtype``: a weighted histogram of the 1-D non-negative integer
    ``ids`` (each ``< num_segments``). Native where the framework has one
    (``np.bincount``, ``Tensor.index_add``, ``jax.ops.segment_sum``,
    ``tf.math.unsorted_segment_sum``); elsewhere a pure-standard form (one sort, cumulative
    sums read at the segment boundaries). Traceable: ``num_segments`` is a Python ``int``,
    the length of ``ids`` may be unknown."""
    library = _library_of_namespace(xp)
    if library in ("torch", "jax", "tensorflow"):
        return _layer(library).segment_sum(data, ids, num_segments, dtype)
    if library == "numpy":
        import numpy as np

        out = np.bincount(ids, weights=data, minlength=num_segments)
        return out.astype(dtype, copy=False)
    order = xp.argsort(ids)
    sorted_ids = xp.take(ids, order)
    values = (xp.ones(ids.shape, dtype=dtype, device=device_of(ids)) if data is None
              else xp.take(xp.astype(data, dtype), order))
    below = xp.cumulative_sum(values, include_initial=True)
    bounds = xp.searchsorted(sorted_ids, xp.arange(num_segments + 1, dtype=ids.dtype,
                                                   device=device_of(ids)), side="left")
    ends = xp.take(below, bounds)
    return ends[1:] - ends[:-1]


def put_along_axis(xp: Namespace, x: Array, indices: Array, values: Array) -> Array:
    """A copy of the 2-D ``x`` with ``x[b, indices[b, p]] = values[b, p]`` for the ``(B, P)``
    ``indices`` (non-negative, ``< x.shape[1]``) and ``values`` (of ``x``'s dtype); targets
    repeated within a row must carry equal values. The gradient flows to ``x`` everywhere but
    the targets, and to ``values``.

    One native scatter (PyTorch ``Tensor.scatter``, JAX ``put_along_axis``, TensorFlow
    ``tensor_scatter_nd_update``, NumPy ``put_along_axis`` on a copy); elsewhere (the standard
    has no scatter) one ``where`` pass over ``x`` per column of ``indices``.
    """
    library = _library_of_namespace(xp)
    if library in ("torch", "jax", "tensorflow"):
        return _layer(library).put_along_axis(x, indices, values)
    if library == "numpy":
        import numpy as np

        out = np.array(x, copy=True)
        np.put_along_axis(out, np.asarray(indices), np.asarray(values), axis=1)
        return out
    columns = xp.arange(x.shape[1], dtype=indices.dtype, device=device_of(x))
    for p in range(indices.shape[1]):
        x = xp.where(columns == indices[:, p:p + 1], values[:, p:p + 1], x)
    return x
