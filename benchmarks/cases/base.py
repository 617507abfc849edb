"""Case and Study: the records every benchmark module defines."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Case", "Shape", "Study", "shape_label"]

Shape = dict[str, int]
Fn = Callable[..., Any]


def shape_label(shape: Shape) -> str:
    """``B=256 L=20`` style label of a shape."""
    return " ".join(f"{k}={v}" for k, v in shape.items())


@dataclass(frozen=True)
class Case:
    """One loss, benchmarked against native code at several shapes."""

    name: str
    """Label in the tables (the metricloss function, with non-default arguments)."""
    module: str
    """The metricloss module that must import (``metricloss.confusion``)."""
    shapes: tuple[Shape, ...]
    quick_shape: Shape
    inputs: Callable[[np.random.Generator, Shape], tuple[np.ndarray, ...]]
    metricloss: Callable[[Any], Fn]
    """``metricloss(module) -> fn(logits, *rest)`` returning the scalar loss."""
    native: dict[str, Callable[[], Fn]] = field(default_factory=dict)
    """Per framework, ``builder() -> fn(logits, *rest)`` (imports the framework)."""
    target_eager: float = 1.10
    target_compiled: float = 1.05
    versus: str = "native"
    """What the native code is (``naive`` for the confusion losses' separate sums)."""
    elementwise: bool = True
    """Whether the ratio-to-floor aim (≤ 4 compiled) applies."""
    rtol: float = 1e-4


@dataclass(frozen=True)
class Study:
    """A free-form measurement run in one framework's worker."""

    name: str
    module: str
    frameworks: tuple[str, ...]
    run: Callable[[Any, bool], dict[str, Any]]
    """``run(framework_adapter, quick) -> JSON-able dict`` (with a ``"table"`` of rows)."""
