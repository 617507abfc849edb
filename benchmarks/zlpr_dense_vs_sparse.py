"""Dense versus sparse ZLPR in PyTorch (CPU): forward+backward time and peak memory.

    python benchmarks/zlpr_dense_vs_sparse.py            # B=64, L=100,000, 8 positives per row
    python benchmarks/zlpr_dense_vs_sparse.py --quick    # tiny size, a smoke test

Compared, on the same logits (float32, ``N(0, 2²)``) and the same positives (8 distinct labels
per row, no padding):

- ``dense/bool``: ``multilabel_categorical_crossentropy(z, labels)`` with a ``(B, L)`` bool label
  array (the hard-label path);
- ``dense/float``: the same with float32 0/1 labels (the soft-label path, two more logs);
- ``sparse``: ``sparse_multilabel_categorical_crossentropy(z, indices)`` with ``(B, 8)`` int64
  indices (exact for every gap: bisection for the dominant positives, then one masked
  ``logsumexp``);
- ``sparse/subtract``: the published sparse form (all-class ``logsumexp`` minus the positives'
  share), which metricloss used before issue 11: what the exact form costs over it.

**Time.** Each implementation's forward+backward (``loss.backward()`` into the logits) runs
``--warmup`` times, then ``--rounds`` rounds in which every implementation runs once, in an order
that reverses every round (so that drifts of a shared machine fall on both sides); the table
gives the median and the interquartile range over rounds.

**Peak memory.** ``tracemalloc`` does not see PyTorch's allocations. The primary number comes
from the PyTorch profiler (``profile_memory=True``): one forward+backward is profiled, and the
allocation (+bytes) and free (−bytes) events of every tensor on the CPU, temporaries inside
operators included, are replayed in time order (``torch.profiler._memory_profiler.MemoryProfile``,
the machinery behind ``export_memory_timeline``); the peak of that running sum is the memory the
call needed on top of its inputs, the logits' gradient included. The cross-check (``--rss``)
runs each implementation once in a fresh subprocess and reports the rise of the peak resident
set size (``VmHWM``, reset through ``/proc/self/clear_refs`` just before the call) over the RSS
at that moment; large tensors are
``mmap``-ed by glibc and returned on free, so the two agree to within allocator slack.
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from metricloss.crossentropy import (
    multilabel_categorical_crossentropy,
    sparse_multilabel_categorical_crossentropy,
)

MB = 1e6
METHODS = ("dense/bool", "dense/float", "sparse", "sparse/subtract")


def _sparse_subtract(z: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """The published sparse form (bert4keras/bert4torch, and metricloss before issue 11):
    ``all + log(clip(1 − e^{lse(s) − all}, ε, 1))``, wrong once a positive dominates; kept here
    to measure what the exact form costs."""
    zeros = torch.zeros_like(z[..., :1])
    s = torch.gather(z, 1, idx)
    pos = torch.logsumexp(torch.cat([-s, zeros], dim=-1), dim=-1)
    total = torch.nn.functional.softplus(torch.logsumexp(z, dim=-1))
    aux = torch.clamp(-torch.expm1(torch.logsumexp(s, dim=-1) - total), 1.19e-7, 1)
    return torch.mean(pos + total + torch.log(aux))


def make_inputs(batch: int, num_labels: int, positives: int, seed: int = 0
                ) -> dict[str, torch.Tensor]:
    rng = np.random.default_rng(seed)
    logits = (2.0 * rng.standard_normal((batch, num_labels))).astype(np.float32)
    idx = np.stack([rng.choice(num_labels, size=positives, replace=False)
                    for _ in range(batch)]).astype(np.int64)
    labels = np.zeros((batch, num_labels), dtype=bool)
    np.put_along_axis(labels, idx, True, axis=1)
    return {
        "logits": torch.from_numpy(logits),
        "bool": torch.from_numpy(labels),
        "float": torch.from_numpy(labels.astype(np.float32)),
        "indices": torch.from_numpy(idx),
    }


def step(method: str, inputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """One forward+backward; returns the loss and the logits' gradient."""
    z = inputs["logits"].detach().requires_grad_(True)
    if method == "sparse":
        loss = sparse_multilabel_categorical_crossentropy(z, inputs["indices"])
    elif method == "sparse/subtract":
        loss = _sparse_subtract(z, inputs["indices"])
    else:
        loss = multilabel_categorical_crossentropy(z, inputs[method.split("/")[1]])
    loss.backward()
    assert z.grad is not None
    return loss.detach(), z.grad


def time_rounds(inputs: dict[str, torch.Tensor], rounds: int, warmup: int
                ) -> dict[str, list[float]]:
    for method in METHODS:
        for _ in range(warmup):
            step(method, inputs)
    times: dict[str, list[float]] = {m: [] for m in METHODS}
    for r in range(rounds):
        for method in (METHODS if r % 2 == 0 else METHODS[::-1]):
            start = time.perf_counter()
            step(method, inputs)
            times[method].append(time.perf_counter() - start)
    return times


def profiled_peak_bytes(fn: Callable[[], Any]) -> int:
    """Peak of the running sum of CPU tensor allocations minus frees during ``fn()``."""
    from torch.profiler import ProfilerActivity, profile
    from torch.profiler._memory_profiler import Action, MemoryProfile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True, record_shapes=True,
                 with_stack=True) as prof:
        fn()
    live = peak = 0
    for _, action, _, size in MemoryProfile(prof.profiler.kineto_results).timeline:
        if action == Action.CREATE:
            live += size
            peak = max(peak, live)
        elif action == Action.DESTROY:
            live -= size
    return peak


def _status_bytes(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024  # reported in kB
    raise RuntimeError(f"no {field} in /proc/self/status")


def rss_child(method: str, batch: int, num_labels: int, positives: int) -> None:
    """Subprocess body: the rise of peak RSS over the RSS just before one forward+backward."""
    step(method, make_inputs(2, 50, 2))  # lazy initialisation of kernels, at a tiny size
    inputs = make_inputs(batch, num_labels, positives)
    # Reset the peak RSS (VmHWM) to the current RSS (Linux >= 4.0), so that the transient
    # memory of imports and input creation does not count.
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = _status_bytes("VmRSS")
    step(method, inputs)
    print(json.dumps({"rise": _status_bytes("VmHWM") - before}))


def rss_peak_bytes(method: str, args: argparse.Namespace) -> int:
    out = subprocess.run(
        [sys.executable, __file__, "--rss-child", method, "--batch", str(args.batch),
         "--labels", str(args.labels), "--positives", str(args.positives),
         "--threads", str(args.threads)],
        check=True, capture_output=True, text=True,
    ).stdout
    return int(json.loads(out.strip().splitlines()[-1])["rise"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--labels", type=int, default=100_000)
    parser.add_argument("--positives", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch.set_num_threads (default 1: stable on a shared machine)")
    parser.add_argument("--rss", action="store_true", help="also measure peak RSS rise")
    parser.add_argument("--quick", action="store_true", help="tiny size, few rounds")
    parser.add_argument("--rss-child", choices=METHODS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.rss_child:
        rss_child(args.rss_child, args.batch, args.labels, args.positives)
        return
    if args.quick:
        args.batch, args.labels, args.positives = 4, 1_000, 3
        args.rounds, args.warmup = 3, 1

    inputs = make_inputs(args.batch, args.labels, args.positives)
    print(f"torch {torch.__version__}, CPU, {torch.get_num_threads()} thread(s); "
          f"B={args.batch}, L={args.labels:,}, {args.positives} positives per row, float32")
    sizes = {k: v.numel() * v.element_size() / MB for k, v in inputs.items()}
    print("inputs (MB): " + ", ".join(f"{k} {v:.3f}" for k, v in sizes.items()))

    results = {m: step(m, inputs) for m in METHODS}
    ref_loss, ref_grad = results["dense/bool"]
    for m, (loss, grad) in results.items():
        print(f"  {m:<16} loss {loss.item():.6f}  |loss - dense/bool| "
              f"{abs(loss - ref_loss).item():.1e}  max |grad - dense/bool| "
              f"{(grad - ref_grad).abs().max().item():.1e}")

    times = time_rounds(inputs, args.rounds, args.warmup)
    peaks = {m: profiled_peak_bytes(functools.partial(step, m, inputs)) for m in METHODS}
    rss = {m: rss_peak_bytes(m, args) for m in METHODS} if args.rss else {}

    print(f"\nforward+backward, {args.rounds} alternating rounds after {args.warmup} warm-up "
          "calls each")
    header = f"{'method':<16} {'median ms':>10} {'IQR ms':>15} {'peak MB (profiler)':>19}"
    print(header + (f" {'peak RSS rise MB':>17}" if rss else ""))
    for m in METHODS:
        q1, med, q3 = np.percentile(np.array(times[m]) * 1e3, [25, 50, 75])
        line = f"{m:<16} {med:>10.2f} {f'{q1:.2f}-{q3:.2f}':>15} {peaks[m] / MB:>19.1f}"
        print(line + (f" {rss[m] / MB:>17.1f}" if rss else ""))
    dense_med = statistics.median(times["dense/bool"])
    sparse_med = statistics.median(times["sparse"])
    print(f"\nsparse vs dense/bool: {dense_med / sparse_med:.2f}x faster, "
          f"{peaks['dense/bool'] / max(peaks['sparse'], 1):.2f}x less peak memory "
          "(profiler), labels not counted")


if __name__ == "__main__":
    main()
