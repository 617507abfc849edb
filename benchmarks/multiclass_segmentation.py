"""Segmentation losses on integer masks: metricloss against the naive one-hot code, and the new
losses (Tversky, Lovász, per-image and generalized Dice) against SMP and MONAI.

    python benchmarks/multiclass_segmentation.py [--quick] [--threads N] [--jax]
    python benchmarks/multiclass_segmentation.py --peers [--quick] [--compiled] [--threads N]

Shape ``(8, 21, 256, 256)`` float32 logits (Pascal VOC's 21 classes) against ``(8, 256, 256)``
int64 masks, 5% of the pixels set to the ignore label 255; ``--quick`` uses
``(2, 21, 64, 64)``. The loss is the macro soft Dice (F1) of the softmax probabilities.

Variants, all PyTorch eager on the CPU, forward + backward (``loss.backward()``):

- ``metricloss``: ``sigmoid_f1_loss(logits, masks, multiclass=True, ignore_index=255)``.
- ``metricloss-micro``: the same with ``average="micro"`` (the gather path, no class mask).
- ``one-hot``: the code one writes by hand: ``F.one_hot`` of the masks (ignored pixels mapped
  to an extra class and sliced off), permuted to ``(N, C, H, W)`` and cast to float, then the
  three masked counts ``tp = Σp·y``, ``fp = Σp·(1−y)``, ``fn = Σ(1−p)·y`` per class.
- ``one-hot-stats``: the same one-hot tensor, with the counts from ``Σp·y``, ``Σp``, ``Σy``
  (separates the cost of the one-hot copy from that of the algebra).

Time: every variant warmed up (3 calls), then ``--rounds`` rounds that run each variant once,
in alternating order (A B C D, then D C B A), in one process; the median seconds per call and
the median of the per-round ratios to ``one-hot`` are reported.

Peak memory: each variant in a fresh subprocess (``--memory-repeats`` times, median reported).
There, after building the inputs and one warm-up forward+backward, the script runs
``gc.collect()`` and glibc's ``malloc_trim(0)``, reads ``VmRSS``, resets the kernel's
high-water mark (``echo 5 > /proc/self/clear_refs``), runs one forward+backward (keeping the
gradient, as training does until the optimizer step) and reads ``VmHWM``. The reported peak is
``VmHWM − VmRSS``: the resident memory the step added at its highest point. PyTorch's CPU
allocator returns blocks of this size to the OS, so this is the tensors' peak plus
allocator slack. Linux only.

``--jax`` adds the same comparison under ``jax.jit`` (value and gradient), with XLA's own
account of the compiled program's temporary buffers (``memory_analysis().temp_size_in_bytes``).

``--peers`` instead compares the segmentation losses with the peer libraries' own code, each
pair on the same inputs (same loss value, printed), PyTorch eager; ``--compiled`` adds both
sides under ``torch.compile`` (default mode; the peers' Python loops and data-dependent
branches break the graph, ours compiles to one graph). Pairs (``PEERS``):

- ``tversky`` / ``smp-tversky``: Tversky (α = 0.3, β = 0.7) pooled over the batch, ignored
  pixels (SMP ``TverskyLoss("multiclass")``; ours with ``absent_classes="zero"``);
- ``lovasz`` / ``smp-lovasz``: Lovász-softmax over the batch (one sort of ``N·H·W`` errors per
  class; SMP loops over the classes);
- ``lovasz-per-image`` / ``smp-lovasz-per-image``: per image (SMP loops over images and classes;
  ours sorts all ``N·C`` rows in one call);
- ``dice-per-image`` / ``monai-dice``: soft Dice per (image, class) (MONAI ``DiceLoss(batch=False,
  to_onehot_y=True, ignore_index=255)``, which builds the one-hot target);
- ``gdl`` / ``monai-gdl``: generalized Dice (``w_type="square"``, per image); MONAI's has no
  ``ignore_index``, so this pair gets masks without ignored pixels.

SMP is imported without its package ``__init__`` (its ``losses`` subpackage alone), as in the
tests.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

FULL_SHAPE = (8, 21, 256, 256)
QUICK_SHAPE = (2, 21, 64, 64)
IGNORE = 255
VARIANTS = ("metricloss", "metricloss-micro", "one-hot", "one-hot-stats")


# --------------------------------------------------------------------------------------------
# PyTorch variants
# --------------------------------------------------------------------------------------------


def _torch_inputs(shape: tuple[int, ...], seed: int = 0) -> tuple[Any, Any]:
    import torch

    g = torch.Generator().manual_seed(seed)
    n, c, h, w = shape
    logits = torch.randn(shape, generator=g)
    masks = torch.randint(0, c, (n, h, w), generator=g)
    masks[torch.rand((n, h, w), generator=g) < 0.05] = IGNORE
    return logits, masks


def _torch_loss(variant: str, num_classes: int) -> Callable[[Any, Any], Any]:
    import torch
    import torch.nn.functional as F

    from metricloss.confusion import sigmoid_f1_loss

    eps = 1e-7

    def one_hot(masks: Any) -> tuple[Any, Any]:
        valid = masks != IGNORE
        idx = torch.where(valid, masks, num_classes)  # ignored pixels: an extra class
        y = F.one_hot(idx, num_classes + 1)[..., :num_classes]  # (N, H, W, C) int64
        y = y.permute(0, 3, 1, 2).float()
        return y, valid[:, None].float()

    if variant == "metricloss":
        return lambda z, t: sigmoid_f1_loss(z, t, multiclass=True, ignore_index=IGNORE)
    if variant == "metricloss-micro":
        return lambda z, t: sigmoid_f1_loss(z, t, multiclass=True, ignore_index=IGNORE,
                                            average="micro")
    if variant == "one-hot":
        def naive(z: Any, t: Any) -> Any:
            p = torch.softmax(z, dim=1)
            y, valid = one_hot(t)
            p = p * valid
            dims = (0, 2, 3)
            tp = (p * y).sum(dims)
            fp = (p * (1 - y)).sum(dims)
            fn = ((1 - p) * y).sum(dims)
            dice = 2 * tp / (2 * tp + fp + fn).clamp(min=eps)
            return 1 - dice.mean()

        return naive
    if variant == "one-hot-stats":
        def stats(z: Any, t: Any) -> Any:
            p = torch.softmax(z, dim=1)
            y, valid = one_hot(t)
            p = p * valid
            dims = (0, 2, 3)
            dice = 2 * (p * y).sum(dims) / (p.sum(dims) + y.sum(dims)).clamp(min=eps)
            return 1 - dice.mean()

        return stats
    raise ValueError(variant)


def _step(fn: Callable[[Any, Any], Any], logits: Any, masks: Any) -> tuple[float, Any]:
    z = logits.detach().requires_grad_(True)
    loss = fn(z, masks)
    loss.backward()
    return float(loss.detach()), z.grad


def _status() -> dict[str, int]:
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, value = line.split(":", 1)
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) * 1024
    return out


def _memory_worker(variant: str, shape: tuple[int, ...], threads: int | None) -> None:
    """Runs in a fresh process: prints the peak resident memory added by one step, as JSON."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    logits, masks = _torch_inputs(shape)
    fn = _torch_loss(variant, shape[1])
    _, grad = _step(fn, logits, masks)
    del grad
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    before = _status()["VmRSS"]
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    loss, _grad = _step(fn, logits, masks)  # the gradient is held, as until optimizer.step
    peak = _status()["VmHWM"] - before
    print(json.dumps({"variant": variant, "peak_bytes": peak, "loss": loss}))


def _measure_memory(variant: str, shape: tuple[int, ...], threads: int | None) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--memory-worker", variant,
           "--shape", ",".join(map(str, shape))]
    if threads:
        cmd += ["--threads", str(threads)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _time_torch(shape: tuple[int, ...], rounds: int, threads: int | None) -> dict:
    import torch

    if threads:
        torch.set_num_threads(threads)
    logits, masks = _torch_inputs(shape)
    fns = {v: _torch_loss(v, shape[1]) for v in VARIANTS}
    losses = {}
    for v, fn in fns.items():
        for _ in range(3):
            losses[v], _ = _step(fn, logits, masks)
    seconds: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for r in range(rounds):
        order = VARIANTS if r % 2 == 0 else VARIANTS[::-1]
        for v in order:
            start = time.perf_counter()
            _step(fns[v], logits, masks)
            seconds[v].append(time.perf_counter() - start)
    ratios = {v: statistics.median(a / b for a, b in zip(seconds[v], seconds["one-hot"],
                                                          strict=True)) for v in VARIANTS}
    return {"losses": losses, "median_s": {v: statistics.median(s) for v, s in seconds.items()},
            "ratio_to_one_hot": ratios, "threads": torch.get_num_threads()}


# --------------------------------------------------------------------------------------------
# The new losses against SMP and MONAI
# --------------------------------------------------------------------------------------------

PEERS = {
    "tversky": "smp-tversky",
    "lovasz": "smp-lovasz",
    "lovasz-per-image": "smp-lovasz-per-image",
    "dice-per-image": "monai-dice",
    "gdl": "monai-gdl",
}
NO_IGNORE = ("gdl", "monai-gdl")  # MONAI's generalized Dice has no ignore_index


def _smp_losses() -> Any:
    import importlib
    import importlib.util
    import types

    name = "segmentation_models_pytorch"
    if name in sys.modules:
        return importlib.import_module(f"{name}.losses")
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("--peers needs segmentation-models-pytorch (pip install --no-deps)")
    package = types.ModuleType(name)
    package.__path__ = list(spec.submodule_search_locations)
    sys.modules[name] = package
    return importlib.import_module(f"{name}.losses")


def _peer_loss(variant: str) -> Callable[[Any, Any], Any]:
    import metricloss as ml

    if variant == "tversky":
        return lambda z, t: ml.tversky_loss(z, t, alpha=0.3, beta=0.7, multiclass=True,
                                            ignore_index=IGNORE, absent_classes="zero",
                                            soft_labels=True)
    if variant == "lovasz":
        return lambda z, t: ml.lovasz_softmax_loss(z, t, ignore_index=IGNORE)
    if variant == "lovasz-per-image":
        return lambda z, t: ml.lovasz_softmax_loss(z, t, ignore_index=IGNORE, per_image=True)
    if variant == "dice-per-image":
        return lambda z, t: ml.sigmoid_f1_loss(z, t, multiclass=True, ignore_index=IGNORE,
                                               per_image=True, smooth_nr=1e-5, smooth_dr=1e-5)
    if variant == "gdl":
        return lambda z, t: ml.sigmoid_f1_loss(z, t, multiclass=True, class_weights="square",
                                               average="samples", smooth_nr=1e-5,
                                               smooth_dr=1e-5)
    if variant.startswith("smp-"):
        smp = _smp_losses()
        if variant == "smp-tversky":
            fn = smp.TverskyLoss("multiclass", alpha=0.3, beta=0.7, ignore_index=IGNORE)
        else:
            fn = smp.LovaszLoss("multiclass", per_image=variant.endswith("per-image"),
                                ignore_index=IGNORE)
        return lambda z, t: fn(z, t)
    from monai.losses import DiceLoss, GeneralizedDiceLoss

    if variant == "monai-dice":
        dice = DiceLoss(softmax=True, to_onehot_y=True, batch=False, ignore_index=IGNORE)
        return lambda z, t: dice(z, t[:, None])
    if variant == "monai-gdl":
        gdl = GeneralizedDiceLoss(softmax=True, to_onehot_y=True, w_type="square", batch=False)
        return lambda z, t: gdl(z, t[:, None])
    raise ValueError(variant)


def _peer_fn(variant: str, compiled: bool) -> Callable[[Any, Any], Any]:
    import torch

    fn = _peer_loss(variant)
    return torch.compile(fn) if compiled else fn


def _peer_inputs(variant: str, shape: tuple[int, ...]) -> tuple[Any, Any]:
    logits, masks = _torch_inputs(shape)
    if variant in NO_IGNORE:
        masks = masks.masked_fill(masks == IGNORE, 0)
    return logits, masks


def _peer_memory_worker(variant: str, shape: tuple[int, ...], threads: int | None,
                        compiled: bool) -> None:
    import torch

    if threads:
        torch.set_num_threads(threads)
    logits, masks = _peer_inputs(variant, shape)
    fn = _peer_fn(variant, compiled)
    for _ in range(2):  # compile and warm up
        _, grad = _step(fn, logits, masks)
        del grad
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    before = _status()["VmRSS"]
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    loss, _grad = _step(fn, logits, masks)
    peak = _status()["VmHWM"] - before
    print(json.dumps({"variant": variant, "peak_bytes": peak, "loss": loss}))


def _peer_memory(variant: str, shape: tuple[int, ...], threads: int | None,
                 compiled: bool) -> int:
    cmd = [sys.executable, os.path.abspath(__file__), "--peer-memory-worker", variant,
           "--shape", ",".join(map(str, shape))]
    if threads:
        cmd += ["--threads", str(threads)]
    if compiled:
        cmd += ["--compiled"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return int(json.loads(out.stdout.strip().splitlines()[-1])["peak_bytes"])


def _peers_report(shape: tuple[int, ...], rounds: int, threads: int | None,
                  compiled: bool, repeats: int) -> None:
    import torch

    if threads:
        torch.set_num_threads(threads)
    modes = [False, True] if compiled else [False]
    print(f"{'pair':40s} {'mode':8s} {'ours loss':>10s} {'peer loss':>10s} {'ours':>9s} "
          f"{'peer':>9s} {'peer/ours':>9s} {'ours mem':>10s} {'peer mem':>10s}")
    for ours, peer in PEERS.items():
        logits, masks = _peer_inputs(ours, shape)
        for mode in modes:
            fns = {v: _peer_fn(v, mode) for v in (ours, peer)}
            losses = {}
            for v, fn in fns.items():
                for _ in range(2):
                    losses[v], _ = _step(fn, logits, masks)
            seconds: dict[str, list[float]] = {ours: [], peer: []}
            for r in range(rounds):
                for v in (ours, peer) if r % 2 == 0 else (peer, ours):
                    start = time.perf_counter()
                    _step(fns[v], logits, masks)
                    seconds[v].append(time.perf_counter() - start)
            ratio = statistics.median(b / a for a, b in zip(seconds[ours], seconds[peer],
                                                            strict=True))
            mem = {v: statistics.median(_peer_memory(v, shape, threads, mode)
                                        for _ in range(repeats)) for v in (ours, peer)}
            print(f"{ours + ' / ' + peer:40s} {'compiled' if mode else 'eager':8s} "
                  f"{losses[ours]:10.6f} {losses[peer]:10.6f} "
                  f"{statistics.median(seconds[ours]) * 1e3:7.0f}ms "
                  f"{statistics.median(seconds[peer]) * 1e3:7.0f}ms {ratio:8.2f}x "
                  f"{_mib(mem[ours]).strip():>10s} {_mib(mem[peer]).strip():>10s}", flush=True)


# --------------------------------------------------------------------------------------------
# JAX (optional)
# --------------------------------------------------------------------------------------------


def _jax_report(shape: tuple[int, ...], rounds: int) -> dict:
    import jax
    import jax.numpy as jnp
    import numpy as np

    from metricloss.confusion import sigmoid_f1_loss

    n, c, h, w = shape
    rng = np.random.default_rng(0)
    logits = jnp.asarray(rng.normal(size=shape), dtype=jnp.float32)
    masks_np = rng.integers(0, c, size=(n, h, w))
    masks_np[rng.random((n, h, w)) < 0.05] = IGNORE
    masks = jnp.asarray(masks_np, dtype=jnp.int32)

    def ours(z: Any, t: Any) -> Any:
        return sigmoid_f1_loss(z, t, multiclass=True, ignore_index=IGNORE)

    def naive(z: Any, t: Any) -> Any:
        p = jax.nn.softmax(z, axis=1)
        valid = (t != IGNORE)[:, None]
        y = jnp.moveaxis(jax.nn.one_hot(jnp.where(t == IGNORE, c, t), c), -1, 1)
        p = p * valid
        dims = (0, 2, 3)
        tp = (p * y).sum(dims)
        fp = (p * (1 - y)).sum(dims)
        fn = ((1 - p) * y).sum(dims)
        return 1 - (2 * tp / jnp.maximum(2 * tp + fp + fn, 1e-7)).mean()

    out: dict[str, Any] = {}
    compiled = {}
    for name, fn in (("metricloss", ours), ("one-hot", naive)):
        jitted = jax.jit(jax.value_and_grad(fn))
        lowered = jitted.lower(logits, masks).compile()
        mem = lowered.memory_analysis()
        out[name] = {"temp_bytes": int(mem.temp_size_in_bytes),
                     "output_bytes": int(mem.output_size_in_bytes)}
        compiled[name] = jitted
        for _ in range(3):
            jax.block_until_ready(jitted(logits, masks))
    seconds: dict[str, list[float]] = {k: [] for k in compiled}
    names = list(compiled)
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            start = time.perf_counter()
            jax.block_until_ready(compiled[name](logits, masks))
            seconds[name].append(time.perf_counter() - start)
    for name in names:
        out[name]["median_s"] = statistics.median(seconds[name])
        out[name]["loss"] = float(compiled[name](logits, masks)[0])
    return out


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def _mib(x: float) -> str:
    return f"{x / 2**20:8.1f} MiB"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"shape {QUICK_SHAPE}")
    parser.add_argument("--rounds", type=int, default=None, help="timing rounds (15; quick 5)")
    parser.add_argument("--memory-repeats", type=int, default=None,
                        help="fresh processes per variant for memory (3; quick 1)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--jax", action="store_true", help="also compare under jax.jit")
    parser.add_argument("--peers", action="store_true",
                        help="the new losses against SMP and MONAI (see PEERS)")
    parser.add_argument("--compiled", action="store_true",
                        help="--peers: also under torch.compile")
    parser.add_argument("--shape", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--memory-worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--peer-memory-worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    shape = (tuple(int(s) for s in args.shape.split(",")) if args.shape
             else QUICK_SHAPE if args.quick else FULL_SHAPE)
    if args.memory_worker:
        _memory_worker(args.memory_worker, shape, args.threads)
        return
    if args.peer_memory_worker:
        _peer_memory_worker(args.peer_memory_worker, shape, args.threads, args.compiled)
        return
    rounds = args.rounds or (5 if args.quick else 15)
    repeats = args.memory_repeats or (1 if args.quick else 3)
    if args.peers:
        import torch

        print(f"shape {shape} float32 logits, int64 masks ({IGNORE} = ignored, 5%), PyTorch "
              f"{torch.__version__} CPU; forward+backward, median of {rounds} alternating "
              f"rounds; peak memory: VmHWM − VmRSS of one step in a fresh process, median of "
              f"{repeats}")
        _peers_report(shape, rounds, args.threads, args.compiled, repeats)
        return

    import torch

    print(f"shape {shape} float32 logits, int64 masks ({IGNORE} = ignored, 5%), macro soft "
          f"Dice, PyTorch {torch.__version__} CPU")
    logits_bytes = 4 * shape[0] * shape[1] * shape[2] * shape[3]
    print(f"logits: {_mib(logits_bytes).strip()}")
    timing = _time_torch(shape, rounds, args.threads)
    print(f"time: forward+backward, {rounds} alternating rounds after 3 warm-up calls, "
          f"median; {timing['threads']} threads")
    memory: dict[str, list[int]] = {v: [] for v in VARIANTS}
    for _ in range(repeats):
        for v in VARIANTS:
            memory[v].append(_measure_memory(v, shape, args.threads)["peak_bytes"])
    print(f"peak memory: VmHWM − VmRSS of one forward+backward in a fresh process, median of "
          f"{repeats}")
    print(f"{'variant':18s} {'loss':>10s} {'time':>10s} {'vs one-hot':>11s} {'peak memory':>13s}"
          f" {'x logits':>9s}")
    for v in VARIANTS:
        peak = statistics.median(memory[v])
        print(f"{v:18s} {timing['losses'][v]:10.6f} {timing['median_s'][v] * 1e3:8.1f}ms "
              f"{timing['ratio_to_one_hot'][v]:10.2f}x {_mib(peak):>13s} "
              f"{peak / logits_bytes:8.2f}x")
    if args.jax:
        report = _jax_report(shape, rounds)
        print("jax.jit (value_and_grad), XLA temporary buffers of the compiled program:")
        for name, r in report.items():
            print(f"{name:18s} {r['loss']:10.6f} {r['median_s'] * 1e3:8.1f}ms "
                  f"temp {_mib(r['temp_bytes']).strip()}")


if __name__ == "__main__":
    main()
