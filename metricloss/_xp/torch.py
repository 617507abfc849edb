"""PyTorch's native kernels and in-graph assertion (imported only once ``torch`` is)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

Array = Any


class Kernels:
    """PyTorch's fused kernels for the primitives the array API standard lacks."""

    @staticmethod
    def sigmoid(x: Array) -> Array:
        return torch.sigmoid(x)

    @staticmethod
    def log_sigmoid(x: Array) -> Array:
        return F.logsigmoid(x)

    @staticmethod
    def softplus(x: Array) -> Array:
        # Returns x above its threshold (20): exact to float64 rounding there.
        return F.softplus(x)

    @staticmethod
    def logsumexp(x: Array, axis: int) -> Array:
        return torch.logsumexp(x, dim=axis)

    @staticmethod
    def softmax(x: Array, axis: int) -> Array:
        return torch.softmax(x, dim=axis)

    @staticmethod
    def log_softmax(x: Array, axis: int) -> Array:
        return torch.log_softmax(x, dim=axis)


def clip_symmetric(x: Array, bound: float) -> Array:
    """``x`` clipped to ``[−bound, bound]`` by ``hardtanh``: the same values as ``clamp`` in one
    pass, and a backward of one fused kernel (``clamp``'s takes four passes: two comparisons,
    their ``and`` and a ``where``). The gradient is zero outside ``(−bound, bound)``, also at
    ``±bound`` exactly (``clamp`` passes it there). NaN propagates, with a zero gradient."""
    return F.hardtanh(x, -bound, bound)


def put_along_axis(x: Array, indices: Array, values: Array) -> Array:
    """A copy of the 2-D ``x`` with ``x[b, indices[b, p]] = values[b, p]``
    (``Tensor.scatter``: one copy of ``x``; its backward one copy of the gradient)."""
    return x.scatter(1, indices, values)


def is_eager(x: Array) -> bool:
    if torch.compiler.is_compiling():
        return False
    return x.device.type == "cpu" and not x.is_meta


def cumulative_sum(x: Array, axis: int, include_initial: bool) -> Array:
    """The standard's ``cumulative_sum`` on the tensor's own ``cumsum`` (array-api-compat's
    wrapper calls ``lru_cache`` helpers, which warn under ``torch.compile``); the dtype is kept
    (``torch.cumsum`` would promote integers to int64)."""
    out = x.cumsum(axis, dtype=x.dtype)
    if include_initial:
        out = torch.cat([torch.zeros_like(x.narrow(axis, 0, 1)), out], dim=axis)
    return out


def looks_swapped(logits: Array, labels: Array) -> bool:
    """A model's output (a non-leaf tensor that requires gradients) in the labels' place, next
    to logits that require none: what ``keras.Model.compile(loss=core_function)`` passes on the
    torch backend. Metadata only; not judged while compiling (``grad_fn`` is not traced)."""
    if torch.compiler.is_compiling():
        return False
    return bool(labels.requires_grad and labels.grad_fn is not None
                and not logits.requires_grad)


def assert_all(ok: Array, message: str) -> None:
    """Assert inside the graph that the 0-d boolean tensor ``ok`` is true.

    ``torch._assert_async`` is an ATen op: it survives ``torch.compile(fullgraph=True)`` and
    runs asynchronously on an accelerator (the error then surfaces at the next sync, as a
    ``RuntimeError`` carrying ``message``).
    """
    torch._assert_async(ok, message)


def eager_min_max(x: Array) -> tuple[float, float]:
    """Smallest and largest entries of a CPU tensor in one pass (``torch.aminmax``), read at
    once; NaN propagates."""
    if x.dtype == torch.bool:
        x = x.to(torch.uint8)
    lo, hi = torch.aminmax(x.detach())
    return float(lo), float(hi)


def segment_sum(data: Array | None, ids: Array, num_segments: int, dtype: Any) -> Array:
    """``Tensor.index_add`` into zeros (out of place: traceable by ``torch.compile``)."""
    ids = ids.to(torch.int64)
    values = (torch.ones(ids.shape, dtype=dtype, device=ids.device) if data is None
              else data.to(dtype))
    out = torch.zeros(num_segments, dtype=dtype, device=ids.device)
    return out.index_add(0, ids, values)
