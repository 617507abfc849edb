"""One small adapter per framework: arrays, forward+backward steps (eager and compiled), memory.

A *step* computes a loss ``fn(logits, *rest)`` and its gradient with respect to ``logits`` and
returns both, finished (JAX's asynchronous dispatch is waited for). The same step builder wraps
metricloss, the hand-written native code and the floor, so all three pay the same framework
overhead.

Compilation: ``torch.compile(fn, fullgraph=True, dynamic=False)`` (forward and backward graphs
through AOTAutograd), ``jax.jit(jax.value_and_grad(fn))``, ``tf.function(step,
jit_compile=True)`` around the whole GradientTape step.

Peak memory of one step, in bytes allocated during the call at its peak, inputs excluded and the
gradient output included (see :meth:`Framework.peak_memory` for each framework's method).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

__all__ = ["FRAMEWORKS", "Framework", "get_framework"]

Step = Callable[..., tuple[Any, Any]]


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence file descriptor 2 (the PyTorch profiler's C++ start/stop lines)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class Framework:
    """Interface; see the subclasses."""

    name = ""
    memory_method = ""

    def version(self) -> str:
        raise NotImplementedError

    def asarray(self, a: np.ndarray) -> Any:
        raise NotImplementedError

    def to_numpy(self, x: Any) -> np.ndarray:
        raise NotImplementedError

    def step(self, fn: Callable[..., Any], mode: str) -> Step:
        """``step(logits, *rest) -> (loss, d loss / d logits)``; ``mode`` eager or compiled."""
        raise NotImplementedError

    def peak_memory(self, fn: Callable[..., Any], step: Step, mode: str, args: tuple[Any, ...]
                    ) -> int | None:
        """Peak bytes allocated by one call of ``step(*args)``; ``None`` where not measurable."""
        raise NotImplementedError


class TorchFramework(Framework):
    name = "torch"
    memory_method = (
        "torch.profiler(profile_memory=True): the CPU allocator's allocation and free events of "
        "one call, replayed in time order; the peak of the running sum"
    )

    def __init__(self) -> None:
        import torch

        self.torch = torch

    def version(self) -> str:
        return str(self.torch.__version__)

    def asarray(self, a: np.ndarray) -> Any:
        return self.torch.from_numpy(np.ascontiguousarray(a))

    def to_numpy(self, x: Any) -> np.ndarray:
        return np.asarray(x.detach().cpu().numpy())

    def step(self, fn: Callable[..., Any], mode: str) -> Step:
        torch = self.torch
        f = torch.compile(fn, fullgraph=True, dynamic=False) if mode == "compiled" else fn

        def step(z: Any, *rest: Any) -> tuple[Any, Any]:
            z = z.detach().requires_grad_(True)
            loss = f(z, *rest)
            (grad,) = torch.autograd.grad(loss, z)
            return loss.detach(), grad

        return step

    def peak_memory(self, fn: Callable[..., Any], step: Step, mode: str, args: tuple[Any, ...]
                    ) -> int | None:
        from torch._C._profiler import _EventType
        from torch.profiler import ProfilerActivity, profile

        with _quiet_stderr(), profile(activities=[ProfilerActivity.CPU],
                                      profile_memory=True) as prof:
            step(*args)
        events: list[tuple[int, int]] = []
        stack = list(prof.profiler.kineto_results.experimental_event_tree())
        while stack:
            node = stack.pop()
            if node.tag == _EventType.Allocation:
                events.append((node.start_time_ns, int(node.extra_fields.alloc_size)))
            stack.extend(node.children)
        events.sort()
        current = peak = 0
        for _, size in events:
            current += size
            peak = max(peak, current)
        return peak


class JaxFramework(Framework):
    name = "jax"
    memory_method = (
        "compiled: the XLA executable's memory_analysis(), temp_size + output_size; "
        "eager: not measured (op-by-op dispatch has no executable to analyse)"
    )

    def __init__(self) -> None:
        import jax

        self.jax = jax

    def version(self) -> str:
        return str(self.jax.__version__)

    def asarray(self, a: np.ndarray) -> Any:
        if np.issubdtype(a.dtype, np.integer):
            a = a.astype(np.int32)
        return self.jax.device_put(a)

    def to_numpy(self, x: Any) -> np.ndarray:
        return np.asarray(x)

    def step(self, fn: Callable[..., Any], mode: str) -> Step:
        jax = self.jax
        vg = jax.value_and_grad(fn)
        if mode == "compiled":
            vg = jax.jit(vg)

        def step(*args: Any) -> tuple[Any, Any]:
            return jax.block_until_ready(vg(*args))  # type: ignore[no-any-return]

        return step

    def peak_memory(self, fn: Callable[..., Any], step: Step, mode: str, args: tuple[Any, ...]
                    ) -> int | None:
        if mode != "compiled":
            return None
        jax = self.jax
        analysis = jax.jit(jax.value_and_grad(fn)).lower(*args).compile().memory_analysis()
        if analysis is None:
            return None
        return int(analysis.temp_size_in_bytes + analysis.output_size_in_bytes)

    def memory_analysis(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> dict[str, int]:
        """The jitted forward+backward executable's memory analysis (compiles, runs nothing)."""
        jax = self.jax
        a = jax.jit(jax.value_and_grad(fn)).lower(*args).compile().memory_analysis()
        return {
            "temp_bytes": int(a.temp_size_in_bytes),
            "output_bytes": int(a.output_size_in_bytes),
            "argument_bytes": int(a.argument_size_in_bytes),
        }


class TensorFlowFramework(Framework):
    name = "tensorflow"
    memory_method = (
        "tf.config.experimental.get_memory_info('CPU:0') (TensorFlow's own CPU allocator "
        "statistics, which do work on CPU in TF 2.21): peak minus bytes in use before the call, "
        "after reset_memory_stats; sizes are the allocator's chunk sizes (rounded up)"
    )

    def __init__(self) -> None:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import tensorflow as tf

        self.tf = tf

    def version(self) -> str:
        return str(self.tf.__version__)

    def asarray(self, a: np.ndarray) -> Any:
        return self.tf.convert_to_tensor(np.ascontiguousarray(a))

    def to_numpy(self, x: Any) -> np.ndarray:
        return np.asarray(x.numpy())

    def step(self, fn: Callable[..., Any], mode: str) -> Step:
        tf = self.tf

        def value_and_grad(z: Any, *rest: Any) -> tuple[Any, Any]:
            with tf.GradientTape() as tape:
                tape.watch(z)
                loss = fn(z, *rest)
            return loss, tape.gradient(loss, z)

        if mode == "compiled":
            return tf.function(value_and_grad, jit_compile=True)  # type: ignore[no-any-return]
        return value_and_grad

    def peak_memory(self, fn: Callable[..., Any], step: Step, mode: str, args: tuple[Any, ...]
                    ) -> int | None:
        tf = self.tf
        tf.config.experimental.reset_memory_stats("CPU:0")
        before = tf.config.experimental.get_memory_info("CPU:0")["current"]
        out = step(*args)
        peak = tf.config.experimental.get_memory_info("CPU:0")["peak"]
        del out
        return int(peak - before)


FRAMEWORKS: dict[str, type[Framework]] = {
    "torch": TorchFramework,
    "jax": JaxFramework,
    "tensorflow": TensorFlowFramework,
}


def get_framework(name: str) -> Framework:
    """The adapter for ``name``; ``ImportError`` if the framework is not installed."""
    return FRAMEWORKS[name]()
