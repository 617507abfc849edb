"""The cost of ``sync=True``: PyTorch, 2 processes, ``gloo`` on localhost, one forward +
backward of a loss on ``B × L`` float32 logits per replica (default 4096 × 1000), with and
without the all-reduce of the sufficient statistics. The loss step alone is timed (no model),
the worst case for the ratio: in a training step the model's forward, backward and DDP's
gradient all-reduce come on top and the synced statistics' share shrinks further.

    python -m benchmarks.distributed_overhead              # 4096 × 1000, SigmoidF1Loss
    python -m benchmarks.distributed_overhead --quick      # 512 × 200
    python -m benchmarks.distributed_overhead --loss PrecisionAtRecallLoss

Prints the median step time per rank-0 of each form, alternated in rounds, and their ratio.
One thread per process (``--threads``). Numbers go to docs, not docstrings.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import time


def _worker(rank: int, port: int, args: argparse.Namespace) -> None:
    import torch
    import torch.distributed as dist

    from metricloss.backends import torch as mt

    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    torch.set_num_threads(args.threads)
    dist.init_process_group("gloo", rank=rank, world_size=2)
    b, n = (512, 200) if args.quick else (args.batch, args.labels)
    g = torch.Generator().manual_seed(rank)
    z = (2.0 * torch.randn(b, n, generator=g)).requires_grad_()
    y = (torch.rand(b, n, generator=g) < 0.2).float()
    cls = getattr(mt, args.loss)
    kwargs = {"num_labels": n, "target_recall": 0.9} if args.loss == "PrecisionAtRecallLoss" \
        else {}
    losses = {"unsynced": cls(**kwargs), "synced": cls(sync=True, **kwargs)}

    def step(loss_fn):
        z.grad = None
        loss_fn(z, y).backward()

    times: dict[str, list[float]] = {k: [] for k in losses}
    for _ in range(3):  # warm-up
        for fn in losses.values():
            step(fn)
    for _ in range(args.rounds):
        for name, fn in losses.items():
            dist.barrier()
            t0 = time.perf_counter()
            for _ in range(args.repeat):
                step(fn)
            dist.barrier()
            times[name].append((time.perf_counter() - t0) / args.repeat)
    # The collective alone: what sync adds per step, forward (3L numbers) and backward (the
    # gradient's all-reduce), measured apart from the noisy step times.
    stats = torch.zeros(3 * n)
    bare = []
    for _ in range(args.rounds):
        dist.barrier()
        t0 = time.perf_counter()
        for _ in range(20):
            dist.all_reduce(stats)
            dist.all_reduce(stats)
        bare.append((time.perf_counter() - t0) / 20)
    if rank == 0:
        med = {k: statistics.median(v) for k, v in times.items()}
        collective = statistics.median(bare)
        print(f"{args.loss} {b}x{n} per replica, 2 processes (gloo), "
              f"{args.threads} thread(s) each")
        for k, v in med.items():
            print(f"  {k:9s} {1e3 * v:8.2f} ms/step")
        print(f"  ratio synced/unsynced: {med['synced'] / med['unsynced']:.3f}  "
              f"(+{1e3 * (med['synced'] - med['unsynced']):.2f} ms)")
        print(f"  two all-reduces of {3 * n} float32 alone: {1e3 * collective:.3f} ms "
              f"= {collective / med['unsynced']:.2%} of the unsynced step")
    dist.destroy_process_group()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loss", default="SigmoidF1Loss")
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--labels", type=int, default=1000)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_worker, args=(port, args), nprocs=2, join=True)


if __name__ == "__main__":
    main()
