"""Streaming evaluation across devices: the CurveState of DDP (2 gloo processes, the torch
``CurveMetric(sync=True)``), JAX ``shard_map`` (``all_reduce=psum``, and per-shard states summed)
and ``tf.distribute`` (the core with the replica context's sum, and the Keras metrics in
``model.evaluate``) equals the single-process state of the whole stream."""

from __future__ import annotations

import json
import os
import pathlib
import socket
import subprocess
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
WORLD, L, BINS = 2, 3, 64


def _run(script: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, str(ROOT / "tests/distributed" / script)],
                          capture_output=True, text=True, env=env, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_jax_shard_map_gives_the_single_device_state() -> None:
    pytest.importorskip("jax")
    r = _run("_jax_streaming.py")
    # float32 weighted sums (JAX's default mode) in another order: equal to rounding.
    assert r["synced"] <= 1e-4 and r["summed"] <= 1e-4 and r["ap"] <= 1e-6
    assert r["one_shard_gap"] > 0  # one shard alone is not the stream


def test_tf_distribute_gives_the_single_device_state() -> None:
    pytest.importorskip("tensorflow")
    pytest.importorskip("keras")
    r = _run("_tf_streaming.py")
    assert r["core_synced"] == 0.0
    assert r["keras_ap"] <= 1e-5 and r["keras_f1"] <= 1e-5


def _data():
    rng = np.random.default_rng(7)
    z = rng.normal(size=(301, L))
    y = rng.random((301, L)) < 0.3
    w = rng.random(301) + 0.5
    return z, y, w


def _torch_worker(rank: int, port: int, path: str) -> None:
    import torch
    import torch.distributed as dist

    from metricloss.backends.torch import CurveMetric

    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    try:
        z, y, w = (torch.as_tensor(a) for a in _data())
        metric = CurveMetric(L, num_bins=BINS, sync=True)
        # Uneven shards: rank 0 gets rows [0, 120) in two batches (one of a single row),
        # rank 1 the rest, with an empty batch.
        bounds = [(0, 1), (1, 120)] if rank == 0 else [(120, 120), (120, 301)]
        for a, b in bounds:
            metric.update(z[a:b], y[a:b], weights=w[a:b])
        state = metric.state
        torch.save({"state": tuple(state), "local": tuple(metric.local_state),
                    "ap": metric.compute()}, os.path.join(path, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def test_ddp_gives_the_single_process_state(tmp_path) -> None:
    torch = pytest.importorskip("torch")
    dist = pytest.importorskip("torch.distributed")
    if not dist.is_available():  # pragma: no cover
        pytest.skip("torch.distributed is not available")
    import torch.multiprocessing as mp

    import metricloss as ml

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_torch_worker, args=(port, str(tmp_path)), nprocs=WORLD, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(WORLD)]
    z, y, w = _data()
    ref = ml.curve_state_update(ml.curve_state_init(L, num_bins=BINS), z, y, weights=w)
    for out in ranks:
        for got, want in zip(out["state"], ref, strict=True):
            np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)
        np.testing.assert_allclose(float(out["ap"]), float(ml.average_precision_score(ref)),
                                   rtol=1e-12)
    local = sum(r["local"][0].numpy() for r in ranks)
    np.testing.assert_allclose(local, ref.positives, rtol=1e-12)
    assert not np.allclose(ranks[0]["local"][0].numpy(), ref.positives)
