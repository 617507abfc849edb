"""Adapter overhead: a metricloss adapter class against the core function on the same inputs
and variables, forward + backward at 4096 × 1000 float32, eager and compiled.

    python -m benchmarks.adapters --framework torch     # or jax
    python -m benchmarks.adapters --framework jax --quick

The core side does by hand what the adapter does (``dual_value``, ``update_label_priors``, the
core loss with ``return_aux`` as the adapter asks), so the ratio is the adapter's own cost:
target ≤ 1.05. A second core column without aux and without the prior update shows what the
state and the aux dict cost.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks.timing import alternate, calibrate

B, L = 4096, 1000
TARGET = 1.05


def _data(quick: bool) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    b, n = (512, 200) if quick else (B, L)
    return (rng.normal(0.0, 2.0, (b, n)).astype(np.float32),
            (rng.random((b, n)) < 0.2).astype(np.float32))


def _torch_cases(z_np: np.ndarray, y_np: np.ndarray, mode: str) -> dict[str, Callable[[], Any]]:
    import torch

    import metricloss
    from metricloss.backends import torch as mt

    torch.manual_seed(0)
    z = torch.from_numpy(z_np).requires_grad_(True)
    y = torch.from_numpy(y_np)
    n = z.shape[1]
    compile_ = (lambda f: torch.compile(f, fullgraph=True)) if mode == "compiled" else (
        lambda f: f)

    par = mt.PrecisionAtRecallLoss(target_recall=0.9, num_labels=n,
                                   dual_update="gradient_reversal")  # the same work as below
    v = torch.ones(n, requires_grad=True)
    state = metricloss.label_priors_init(n, like=z)

    def core_same(z, y):  # the torch adapter computes its aux only when .aux is read
        lam = metricloss.dual_value(v, 0.1, torch.Tensor.detach)
        new = metricloss.update_label_priors(state, y)
        return metricloss.precision_at_recall_loss(
            z, y, target_recall=0.9, lambdas=lam, label_priors=new.priors)

    def core_min(z, y):
        lam = metricloss.dual_value(v, 0.1, torch.Tensor.detach)
        return metricloss.precision_at_recall_loss(z, y, target_recall=0.9, lambdas=lam)

    f1 = mt.SigmoidF1Loss()
    cases = {
        "PrecisionAtRecallLoss": compile_(lambda z, y: par(z, y)),
        "precision_at_recall_loss (same work)": compile_(core_same),
        "precision_at_recall_loss (no aux, no priors)": compile_(core_min),
        "SigmoidF1Loss": compile_(lambda z, y: f1(z, y)),
        "sigmoid_f1_loss": compile_(lambda z, y: metricloss.sigmoid_f1_loss(z, y)),
    }

    def thunk(fn: Callable[..., Any]) -> Callable[[], Any]:
        def run() -> None:
            z.grad = None
            v.grad = None
            par.zero_grad()
            fn(z, y).backward()
        return run

    return {name: thunk(fn) for name, fn in cases.items()}


def _jax_cases(z_np: np.ndarray, y_np: np.ndarray, mode: str) -> dict[str, Callable[[], Any]]:
    import jax
    import jax.numpy as jnp

    import metricloss
    from metricloss.backends import jax as mj

    z, y = jnp.asarray(z_np), jnp.asarray(y_np)
    n = z.shape[1]
    jit = jax.jit if mode == "compiled" else (lambda f: f)
    par = mj.PrecisionAtRecallLoss(target_recall=0.9, num_labels=n,
                                   dual_update="gradient_reversal")  # the same work as below
    params, state = par.init()

    # Every variant takes the same arguments (labels and state too: no closure constants).
    def adapter(z, p, y, s):
        loss, _, s = par.apply(p, s, z, y)
        return loss, s

    def core_same(z, p, y, s):  # apply returns aux too (dropped by jit when unused)
        lam = metricloss.dual_value(p["duals"], 0.1, jax.lax.stop_gradient)
        new = metricloss.update_label_priors(
            metricloss.LabelPriorState(s["label_prior_counts"], s["label_prior_weight_sum"]),
            y)
        loss, _ = metricloss.precision_at_recall_loss(
            z, y, target_recall=0.9, lambdas=lam, label_priors=new.priors, return_aux=True)
        return loss, {"label_prior_counts": new.counts, "label_prior_weight_sum": new.weight_sum}

    def core_min(z, p, y, s):
        lam = metricloss.dual_value(p["duals"], 0.1, jax.lax.stop_gradient)
        return metricloss.precision_at_recall_loss(z, y, target_recall=0.9, lambdas=lam), s

    f1 = mj.SigmoidF1Loss()
    cases = {
        "PrecisionAtRecallLoss": adapter,
        "precision_at_recall_loss (same work)": core_same,
        "precision_at_recall_loss (no aux, no priors)": core_min,
        "SigmoidF1Loss": lambda z, p, y, s: (f1(z, y), s),
        "sigmoid_f1_loss": lambda z, p, y, s: (metricloss.sigmoid_f1_loss(z, y), s),
    }

    def thunk(fn: Callable[..., Any]) -> Callable[[], Any]:
        g = jit(jax.value_and_grad(fn, argnums=(0, 1), has_aux=True))

        def run() -> None:
            jax.block_until_ready(g(z, params, y, state))
        return run

    return {name: thunk(fn) for name, fn in cases.items()}


PAIRS = (("PrecisionAtRecallLoss", "precision_at_recall_loss (same work)"),
         ("PrecisionAtRecallLoss", "precision_at_recall_loss (no aux, no priors)"),
         ("SigmoidF1Loss", "sigmoid_f1_loss"))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--framework", choices=("torch", "jax"), required=True)
    p.add_argument("--modes", default="eager,compiled")
    p.add_argument("--quick", action="store_true", help="512 × 200, few rounds")
    p.add_argument("--rounds", type=int, default=15)
    args = p.parse_args(argv)
    z, y = _data(args.quick)
    build = _torch_cases if args.framework == "torch" else _jax_cases
    print("| framework | mode | adapter | versus | ms adapter | ms core | ratio (median) |"
          " target |\n|---|---|---|---|---|---|---|---|")
    for mode in args.modes.split(","):
        thunks = build(z, y, mode)
        for t in thunks.values():  # warm up (compilation)
            t()
            t()
        inner = {name: calibrate(t, 0.05 if args.quick else 0.3, max_inner=20)[0]
                 for name, t in thunks.items()}
        times = alternate(thunks, rounds=3 if args.quick else args.rounds, inner=inner)
        for a, b in PAIRS:
            ratio = statistics.median(x / y for x, y in zip(times[a], times[b], strict=True))
            ok = "✓" if ratio <= TARGET else "✗"
            print(f"| {args.framework} | {mode} | `{a}` | `{b}` | "
                  f"{1e3 * min(times[a]):.2f} | {1e3 * min(times[b]):.2f} | {ratio:.3f} {ok} |"
                  f" ≤ {TARGET} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
