"""Cost of the checked mode (``metricloss.checks("always")``) under compilation.

Times one forward+backward step of ``sigmoid_f1_loss`` and ``recall_at_precision_loss`` (float32,
4096 x 1000 by default), compiled with the checks off (the default) and on, in PyTorch
(``torch.compile(fullgraph=True)``), JAX (``jax.jit``; the checked variant wrapped in
``checkify.checkify``) and TensorFlow (``tf.function``; XLA drops assertions, so the checked
variant is timed without ``jit_compile``, as is its unchecked baseline). Prints the fastest time
of each and the ratio checked/unchecked.

    python benchmarks/checked_mode.py [--shape 4096 1000] [--frameworks torch,jax,tensorflow]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import metricloss as ml


def _best(step: Callable[[], Any], sync: Callable[[Any], Any], rounds: int = 7,
          budget: float = 0.2) -> float:
    sync(step())  # compile
    sync(step())
    best = float("inf")
    for _ in range(rounds):
        n, start = 0, time.perf_counter()
        while True:
            sync(step())
            n += 1
            elapsed = time.perf_counter() - start
            if elapsed > budget or n >= 50:
                break
        best = min(best, elapsed / n)
    return best


def _losses(lam: Any) -> dict[str, Callable[[Any, Any], Any]]:
    def f1(z: Any, y: Any) -> Any:
        return ml.sigmoid_f1_loss(z, y)

    def rap(z: Any, y: Any) -> Any:
        out = ml.recall_at_precision_loss(z, y, target_precision=0.7, lambdas=lam)
        return out[0] if isinstance(out, tuple) else out

    return {"sigmoid_f1_loss": f1, "recall_at_precision_loss": rap}


def bench_torch(z: np.ndarray, y: np.ndarray) -> dict[str, tuple[float, float]]:
    import torch

    Z, Y = torch.from_numpy(z), torch.from_numpy(y)
    out = {}
    for name, loss in _losses(torch.ones(z.shape[1])).items():
        times = []
        for mode in ("eager", "always"):
            with ml.checks(mode):
                torch._dynamo.reset()
                compiled = torch.compile(loss, fullgraph=True, dynamic=False)

                def step(compiled=compiled) -> Any:
                    x = Z.detach().requires_grad_(True)
                    (g,) = torch.autograd.grad(compiled(x, Y), x)
                    return g

                times.append(_best(step, lambda g: g))
        out[name] = (times[0], times[1])
    return out


def bench_jax(z: np.ndarray, y: np.ndarray) -> dict[str, tuple[float, float]]:
    import jax
    import jax.numpy as jnp
    from jax.experimental import checkify

    Z, Y = jnp.asarray(z), jnp.asarray(y)
    out = {}
    for name, loss in _losses(jnp.ones(z.shape[1])).items():
        with ml.checks("eager"):
            plain = jax.jit(jax.grad(lambda a, b, loss=loss: loss(a, b)))
            t_off = _best(lambda plain=plain: plain(Z, Y), lambda g: g.block_until_ready())
        with ml.checks("always"):
            checked = jax.jit(checkify.checkify(jax.grad(lambda a, b, loss=loss: loss(a, b))))

            def step(checked=checked) -> Any:
                err, g = checked(Z, Y)
                err.throw()
                return g

            t_on = _best(step, lambda g: g.block_until_ready())
        out[name] = (t_off, t_on)
    return out


def bench_tensorflow(z: np.ndarray, y: np.ndarray) -> dict[str, tuple[float, float]]:
    import tensorflow as tf

    Z, Y = tf.constant(z), tf.constant(y)
    out = {}
    for name, loss in _losses(tf.ones(z.shape[1])).items():
        times = []
        for mode in ("eager", "always"):
            with ml.checks(mode):
                @tf.function
                def step(a, b, loss=loss):
                    with tf.GradientTape() as tape:
                        tape.watch(a)
                        value = loss(a, b)
                    return tape.gradient(value, a)

                times.append(_best(lambda step=step: step(Z, Y), lambda g: g.numpy()))
        out[name] = (times[0], times[1])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs=2, default=(4096, 1000))
    parser.add_argument("--frameworks", default="torch,jax,tensorflow")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    b, n = args.shape
    z = rng.standard_normal((b, n)).astype(np.float32)
    y = (rng.random((b, n)) < 0.1).astype(np.float32)
    runners = {"torch": bench_torch, "jax": bench_jax, "tensorflow": bench_tensorflow}
    print(f"| framework | loss | checks off (ms) | checks on (ms) | on/off |  ({b} x {n}, float32,"
          f" forward+backward)")
    print("|---|---|---|---|---|")
    for fw in args.frameworks.split(","):
        for name, (off, on) in runners[fw](z, y).items():
            print(f"| {fw} | {name} | {off * 1e3:.2f} | {on * 1e3:.2f} | {on / off:.3f} |")


if __name__ == "__main__":
    main()
