"""The ``reduction`` of decomposable losses, shared by every family that has one (SPEC §0)."""

from __future__ import annotations

from metricloss._namespace import Array, Namespace

__all__ = ["REDUCTIONS", "apply_reduction"]

REDUCTIONS = ("mean", "sum", "none")


def apply_reduction(xp: Namespace, values: Array, reduction: str) -> Array:
    """``mean`` (of an empty batch: 0, not NaN), ``sum`` or ``none`` (``values`` as they are).

    ``reduction`` must already be validated against :data:`REDUCTIONS`.
    """
    if reduction == "sum":
        return xp.sum(values)
    if reduction == "mean":
        # shape[0] is None for an unknown batch size under tracing: then it is not empty.
        return xp.sum(values) if values.shape[0] == 0 else xp.mean(values)
    return values
