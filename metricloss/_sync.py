"""Summing a loss's sufficient statistics across data-parallel replicas (``all_reduce=``).

The non-decomposable losses (the soft confusion-matrix losses, the global objectives' batch
label priors and bounds) are functions of a few per-label sums over the batch. Under data
parallelism each replica holds a shard of the batch; summing those ``O(L)`` numbers across
replicas before forming the metric gives every replica the loss of the whole (global) batch.

The core imports no framework: the adapter supplies ``all_reduce``, a function that takes one
array and returns its sum over the replicas, differentiable (gradients flow through the sum):
``torch.distributed.nn.functional.all_reduce``, ``jax.lax.psum(x, axis_name)``,
``tf.distribute.get_replica_context().all_reduce("sum", x)``. ``None``: no synchronisation.

:func:`sum_across` packs the arrays into one vector so that a step costs one collective.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from metricloss._namespace import Array, Namespace

__all__ = ["AllReduce", "check_all_reduce", "sum_across"]

AllReduce = Callable[[Array], Array]


def check_all_reduce(all_reduce: Any) -> AllReduce | None:
    """``all_reduce`` itself (``None`` or a callable), or ``TypeError``."""
    if all_reduce is not None and not callable(all_reduce):
        raise TypeError("all_reduce must be None or a function summing an array across "
                        f"replicas (e.g. lambda x: jax.lax.psum(x, 'batch')), got "
                        f"{type(all_reduce).__name__}")
    return all_reduce


def sum_across(xp: Namespace, arrays: Sequence[Array], all_reduce: AllReduce | None
               ) -> list[Array]:
    """``arrays`` summed across replicas by ONE call of ``all_reduce`` (``None``: unchanged).

    The arrays (statistics of known shapes, e.g. ``(L,)`` or ``()``, one dtype) are flattened
    and concatenated into one vector, reduced, and split back into their shapes."""
    if all_reduce is None:
        return list(arrays)
    if len(arrays) == 1:
        return [all_reduce(arrays[0])]
    shapes = [tuple(a.shape) for a in arrays]
    flat = xp.concat([xp.reshape(a, (-1,)) for a in arrays], axis=0)
    total = all_reduce(flat)
    out, start = [], 0
    for shape in shapes:
        size = 1
        for n in shape:
            size *= int(n)
        out.append(xp.reshape(total[start:start + size], shape))
        start += size
    return out
