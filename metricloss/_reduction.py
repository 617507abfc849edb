"""The ``reduction`` of decomposable losses, shared by every family that has one (SPEC §0)."""

from __future__ import annotations

from typing import Any

from metricloss._namespace import Array, Namespace

__all__ = ["REDUCTIONS", "apply_reduction"]

REDUCTIONS = ("mean", "sum", "none")


def _static_size(shape: tuple[Any, ...]) -> Any:
    """The number of entries of ``shape``, or ``None`` if an axis length is unknown (``None``
    inside a Keras / ``tf.function`` trace). Symbolic lengths (``torch.compile(dynamic=True)``,
    ``jax.export``) multiply symbolically."""
    n: Any = 1
    for d in shape:
        if d is None:
            return None
        n = n * d
    return n


def apply_reduction(xp: Namespace, values: Array, reduction: str) -> Array:
    """``mean`` (the mean over every entry of ``values``; of an empty array: 0, not NaN),
    ``sum`` or ``none`` (``values`` as they are).

    Traceable with an unknown batch size: the Python shape is read only where it is known (a
    symbolic length is never 0: PyTorch and JAX treat 0 as a static size); where a length is
    ``None`` the count comes from the array at run time.
    ``reduction`` must already be validated against :data:`REDUCTIONS`.
    """
    if reduction == "sum":
        return xp.sum(values)
    if reduction == "mean":
        n = _static_size(tuple(values.shape))
        if n is None:
            count = xp.sum(xp.ones_like(values))
            return xp.sum(values) / xp.maximum(count, xp.ones_like(count))
        return xp.sum(values) if n == 0 else xp.mean(values)
    return values
