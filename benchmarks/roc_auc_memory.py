"""ROC-AUC loss: peak memory with and without chunking, and sort-based hinge against pairwise.

    python benchmarks/roc_auc_memory.py            # B=16,384, L=4 memory; B=4,096 timing
    python benchmarks/roc_auc_memory.py --quick    # tiny sizes, a smoke test

**Peak memory** (NumPy, float32, forward pass: NumPy has no autodiff). Each configuration runs
once in a fresh subprocess under ``tracemalloc`` (NumPy reports its data buffers to it): the
peak of traced memory during the call, minus the memory traced just before it, is the memory
the call needed on top of its inputs. The subprocess runs under an address-space limit
(``RLIMIT_AS``, default 60% of ``MemAvailable``) so that an unchunked ``(B, B, L)`` computation
that does not fit fails with ``MemoryError`` instead of pushing a shared machine into swap or
the OOM killer; it is then reported as "over the cap", together with the unchunked peak measured
at smaller ``B`` and its ``B²`` extrapolation (the pairwise peak is ``k·B²·L`` bytes, ``k`` read off
the measured sizes).

**Time** (``B=4,096``, ``L=4``, hinge, float32): ``method="sort"`` against ``method="pairwise"``
(unchunked and chunked), in NumPy (forward) and, if installed, PyTorch (forward+backward into
the logits, one thread). Every method is warmed up, then runs once per round in an order that
reverses every round (so that drifts of a shared machine fall on both sides); the table gives the
median and interquartile range over rounds and the ratio of medians.

All methods are checked to give the same per-element loss (``reduction="none"``) first.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np

from metricloss.roc_auc import roc_auc_loss

MB = 1e6


def make_inputs(batch: int, num_labels: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """float32 logits ``N(0, 2²)`` and 0/1 float32 labels with 20% positives."""
    rng = np.random.default_rng(seed)
    logits = (2.0 * rng.standard_normal((batch, num_labels))).astype(np.float32)
    labels = (rng.random((batch, num_labels)) < 0.2).astype(np.float32)
    return logits, labels


def loss_fn(method: str, chunk: int | None, surrogate: str, reduction: str = "mean"
            ) -> Callable[[Any, Any], Any]:
    def fn(z: Any, y: Any) -> Any:
        return roc_auc_loss(z, y, surrogate=surrogate, method=method, chunk_size=chunk,
                            reduction=reduction)
    return fn


# --------------------------------------------------------------------------------------------
# Memory: one configuration per subprocess
# --------------------------------------------------------------------------------------------


def memory_child(batch: int, num_labels: int, method: str, chunk: int | None, surrogate: str,
                 cap_bytes: int) -> None:
    if cap_bytes > 0:
        resource.setrlimit(resource.RLIMIT_AS, (cap_bytes, cap_bytes))
    z, y = make_inputs(batch, num_labels)
    fn = loss_fn(method, chunk, surrogate)
    fn(*make_inputs(8, num_labels))  # first-call imports and caches, at a tiny size
    tracemalloc.start()
    before, _ = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    try:
        start = time.perf_counter()
        value = float(fn(z, y))
        seconds = time.perf_counter() - start
    except MemoryError:
        print(json.dumps({"error": "MemoryError"}))
        return
    _, peak = tracemalloc.get_traced_memory()
    print(json.dumps({"peak": peak - before, "value": value, "seconds": seconds}))


def measure_memory(args: argparse.Namespace, batch: int, method: str, chunk: int | None,
                   surrogate: str) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--memory-child", "--batch", str(batch),
           "--labels", str(args.labels), "--method", method, "--surrogate", surrogate,
           "--cap-bytes", str(args.cap_bytes)]
    if chunk is not None:
        cmd += ["--chunk", str(chunk)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def _mem_available() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 8 * 10**9


# --------------------------------------------------------------------------------------------
# Time: alternating rounds in one process
# --------------------------------------------------------------------------------------------


def alternate(thunks: dict[str, Callable[[], Any]], rounds: int, warmup: int
              ) -> dict[str, list[float]]:
    for fn in thunks.values():
        for _ in range(warmup):
            fn()
    names = list(thunks)
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            start = time.perf_counter()
            thunks[name]()
            times[name].append(time.perf_counter() - start)
    return times


def print_times(title: str, times: dict[str, list[float]], reference: str) -> None:
    print(f"\n{title}")
    print(f"{'method':<24} {'median ms':>10} {'IQR ms':>17} {'vs ' + reference:>14}")
    ref = statistics.median(times[reference])
    for name, ts in times.items():
        q1, med, q3 = np.percentile(np.array(ts) * 1e3, [25, 50, 75])
        print(f"{name:<24} {med:>10.2f} {f'{q1:.2f}-{q3:.2f}':>17} "
              f"{ref / statistics.median(ts):>13.1f}x")


def timing(args: argparse.Namespace) -> None:
    b, n, chunk = args.time_batch, args.labels, args.time_chunk
    z, y = make_inputs(b, n, seed=1)
    methods = {"sort": ("sort", None), "pairwise": ("pairwise", None),
               f"pairwise chunk={chunk}": ("pairwise", chunk)}

    # Same per-element values first.
    per = {name: loss_fn(m, c, "hinge", "none")(z, y) for name, (m, c) in methods.items()}
    ref = per["pairwise"]
    for name, value in per.items():
        scale = float(np.abs(ref).max())
        print(f"  {name:<24} max |per-element − pairwise| / max|pairwise| "
              f"{float(np.abs(value - ref).max()) / scale:.1e}")

    thunks = {name: (lambda m=m, c=c: loss_fn(m, c, "hinge")(z, y))
              for name, (m, c) in methods.items()}
    times = alternate(thunks, args.rounds, args.warmup)
    print_times(f"NumPy {np.__version__}, forward, B={b:,}, L={n}, hinge, float32, "
                f"{args.rounds} alternating rounds after {args.warmup} warm-up calls",
                times, "pairwise")

    try:
        import torch
    except ImportError:
        print("\nPyTorch not installed: forward+backward timing skipped")
        return
    torch.set_num_threads(args.threads)
    zt, yt = torch.from_numpy(z), torch.from_numpy(y)

    def step(m: str, c: int | None) -> None:
        t = zt.detach().requires_grad_(True)
        loss_fn(m, c, "hinge")(t, yt).backward()

    grads = {}
    for name, (m, c) in methods.items():
        t = zt.detach().requires_grad_(True)
        loss_fn(m, c, "hinge")(t, yt).backward()
        grads[name] = t.grad
    for name, g in grads.items():
        err = float((g - grads["pairwise"]).abs().max() / grads["pairwise"].abs().max())
        print(f"  torch {name:<18} max |grad − pairwise grad| / max|pairwise grad| {err:.1e}")
    thunks = {name: (lambda m=m, c=c: step(m, c)) for name, (m, c) in methods.items()}
    times = alternate(thunks, args.rounds, args.warmup)
    print_times(f"PyTorch {torch.__version__} CPU, {torch.get_num_threads()} thread(s), "
                f"forward+backward, B={b:,}, L={n}, hinge, float32", times, "pairwise")


# --------------------------------------------------------------------------------------------


def memory(args: argparse.Namespace) -> None:
    b, n = args.batch, args.labels
    print(f"NumPy {np.__version__}, float32, forward, L={n}; address-space cap per run "
          f"{args.cap_bytes / 1e9:.1f} GB; peak = tracemalloc peak minus memory before the call")
    print(f"{'B':>7} {'surrogate':<9} {'method':<10} {'chunk':>6} {'peak MB':>10} "
          f"{'bytes/(B²L)':>12} {'seconds':>8} {'loss':>12}")
    rows = []
    small = [s for s in args.small_batches if s < b]
    configs = [(s, "pairwise", None, "hinge") for s in small]
    configs += [(b, "pairwise", None, "hinge")]
    configs += [(b, "pairwise", c, s) for c in args.chunks for s in ("hinge", "xent")]
    configs += [(b, "sort", None, "hinge")]
    for batch, method, chunk, surrogate in configs:
        r = measure_memory(args, batch, method, chunk, surrogate)
        rows.append((batch, method, chunk, surrogate, r))
        if "error" in r:
            peak_s, per_s, sec_s, val_s = f"> {args.cap_bytes / MB:.0f}", "", "", r["error"]
        else:
            peak_s = f"{r['peak'] / MB:.1f}"
            per_s = f"{r['peak'] / (batch * batch * n):.2f}"
            sec_s, val_s = f"{r['seconds']:.2f}", f"{r['value']:.6f}"
        print(f"{batch:>7} {surrogate:<9} {method:<10} {chunk or '-':>6} {peak_s:>10} "
              f"{per_s:>12} {sec_s:>8} {val_s:>12}")
    measured = [(bb, r["peak"]) for bb, m, c, s, r in rows
                if m == "pairwise" and c is None and "error" not in r]
    if measured:
        k = max(p / (bb * bb * n) for bb, p in measured)
        print(f"unchunked pairwise at B={b:,}: {k * b * b * n / MB:,.0f} MB by B² extrapolation "
              f"(k = {k:.2f} bytes per pair and label, the largest measured)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=16_384, help="B for the memory table")
    parser.add_argument("--labels", type=int, default=4)
    parser.add_argument("--chunks", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--small-batches", type=int, nargs="+", default=[2048, 4096, 8192],
                        help="unchunked B values measured for the B² extrapolation")
    parser.add_argument("--time-batch", type=int, default=4096)
    parser.add_argument("--time-chunk", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    parser.add_argument("--cap-gb", type=float, default=None,
                        help="address-space cap per memory run (default 60%% of MemAvailable)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, few rounds")
    parser.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--method", default="pairwise", help=argparse.SUPPRESS)
    parser.add_argument("--surrogate", default="hinge", help=argparse.SUPPRESS)
    parser.add_argument("--chunk", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--cap-bytes", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.batch, args.labels, args.method, args.chunk, args.surrogate,
                     args.cap_bytes)
        return
    if args.quick:
        args.batch, args.chunks, args.small_batches = 512, [64], [128, 256]
        args.time_batch, args.time_chunk, args.rounds, args.warmup = 256, 64, 3, 1
    cap = args.cap_gb * 1e9 if args.cap_gb is not None else 0.6 * _mem_available()
    args.cap_bytes = int(cap)
    memory(args)
    timing(args)


if __name__ == "__main__":
    main()
