"""Data-parallel PyTorch: 2 processes, ``gloo`` on localhost, a model in
``DistributedDataParallel``. With ``sync=True`` every rank's loss, and the gradients after
DDP's averaging, equal the single-process loss and gradients on the concatenated batch; without
it they differ (the bug ``sync`` prevents). A short synced training run matches single-process
training on the same global batches."""

from __future__ import annotations

import os
import socket

import pytest

torch = pytest.importorskip("torch")
dist = pytest.importorskip("torch.distributed")
if not dist.is_available():  # pragma: no cover
    pytest.skip("torch.distributed is not available", allow_module_level=True)

import torch.multiprocessing as mp  # noqa: E402
from torch import nn  # noqa: E402

from metricloss.backends import torch as ml  # noqa: E402

WORLD = 2
B, D, L = 8, 5, 4  # per replica
STEPS = 50

# name -> (class, keywords); every non-decomposable family, and a decomposable baseline.
CASES = {
    "sigmoid_f1_macro": (ml.SigmoidF1Loss, {}),
    "mcc_micro": (ml.ConfusionMetricLoss, {"metric": "mcc", "average": "micro"}),
    "f1_samples": (ml.SigmoidF1Loss, {"average": "samples"}),
    "anyloss_weighted": (ml.AnyLoss, {"metric": "balanced_accuracy"}),
    "precision_at_recall": (ml.PrecisionAtRecallLoss, {"target_recall": 0.8, "num_labels": L}),
    "pr_auc": (ml.PrecisionRecallAUCLoss, {"num_labels": L, "num_anchors": 3}),
    "bce": (ml.BinaryCrossEntropy, {}),
    # the all-gathered pairwise ROC-AUC, and AUC-M (its a, b, α updated by the global batch)
    "roc_auc": (ml.ROCAUCLoss, {"chunk_size": 3}),
    "auc_m": (ml.AUCMLoss, {"num_labels": L}),
}
WEIGHTED = {"anyloss_weighted", "precision_at_recall", "roc_auc", "auc_m"}


class Step(nn.Module):
    """The model and the loss in one module, so that DDP averages the loss's parameters'
    (PR-AUC biases') gradients like the model's; the loss-owned duals are buffers, stepped
    from the global batch's violation on every rank."""

    def __init__(self, name: str, sync: bool) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.model = nn.Linear(D, L)
        cls, kwargs = CASES[name]
        self.loss_fn = cls(sync=sync, **kwargs)
        self.weighted = name in WEIGHTED

    def forward(self, x, y, w):
        return self.loss_fn(self.model(x), y, weights=w if self.weighted else None)


def global_batch(step: int = 0):
    g = torch.Generator().manual_seed(1000 + step)
    x = torch.randn(WORLD * B, D, generator=g)
    y = (torch.rand(WORLD * B, L, generator=g) < 0.3).float()
    w = torch.rand(WORLD * B, generator=g) + 0.5
    return x, y, w


def grads(module: nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.grad.detach().clone() for n, p in module.named_parameters()
            if p.grad is not None}


def single_process(name: str) -> dict:
    step = Step(name, sync=False)
    x, y, w = global_batch()
    loss = step(x, y, w)
    loss.backward()
    out = {"loss": loss.detach(), "grads": grads(step)}
    step = Step(name, sync=False)
    opt = torch.optim.SGD(step.parameters(), lr=0.5)
    for i in range(STEPS):
        x, y, w = global_batch(i)
        opt.zero_grad()
        step(x, y, w).backward()
        opt.step()
    out["trained"] = _tensors(step.state_dict())
    if name in HELD_OUT:
        x, y, w = global_batch(STEPS)
        with torch.no_grad():
            out["held_out"] = step.loss_fn.update_duals(step.model(x), y, weights=w).clone()
    return out


def _tensors(state: dict) -> dict[str, torch.Tensor]:
    """The state dict's tensors (the constrained losses' extra state is their config)."""
    return {n: p.detach().clone() for n, p in state.items() if isinstance(p, torch.Tensor)}


NO_SYNC = ("sigmoid_f1_macro", "mcc_micro", "precision_at_recall")
TRAIN = ("sigmoid_f1_macro", "precision_at_recall")
HELD_OUT = ("precision_at_recall",)  # update_duals on each rank's shard of a held-out batch


def _one(name: str, sync: bool, rank: int) -> dict:
    shard = slice(rank * B, (rank + 1) * B)
    ddp = nn.parallel.DistributedDataParallel(Step(name, sync))
    x, y, w = global_batch()
    loss = ddp(x[shard], y[shard], w[shard])
    loss.backward()
    out = {"loss": loss.detach(), "grads": grads(ddp.module),
           "buffers": {n: b.clone() for n, b in ddp.module.named_buffers()}}
    if sync and name in TRAIN:
        ddp = nn.parallel.DistributedDataParallel(Step(name, sync))
        opt = torch.optim.SGD(ddp.parameters(), lr=0.5)
        for i in range(STEPS):
            x, y, w = global_batch(i)
            opt.zero_grad()
            ddp(x[shard], y[shard], w[shard]).backward()
            opt.step()
        out["trained"] = _tensors(ddp.module.state_dict())
        if name in HELD_OUT:
            x, y, w = global_batch(STEPS)
            with torch.no_grad():
                out["held_out"] = ddp.module.loss_fn.update_duals(
                    ddp.module.model(x[shard]), y[shard], weights=w[shard]).clone()
    return out


def _worker(rank: int, port: int, path: str) -> None:
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    try:
        out = {(name, True): _one(name, True, rank) for name in CASES}
        out.update({(name, False): _one(name, False, rank) for name in NO_SYNC})
        torch.save(out, os.path.join(path, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ranks(tmp_path_factory) -> list[dict]:
    """Every case on 2 ranks, in ONE pair of spawned processes (each start costs seconds)."""
    path = tmp_path_factory.mktemp("ddp")
    mp.spawn(_worker, args=(_free_port(), str(path)), nprocs=WORLD, join=True)
    return [torch.load(path / f"rank{r}.pt") for r in range(WORLD)]


def _close(a, b, tol):
    torch.testing.assert_close(a, b, rtol=tol, atol=tol)


@pytest.mark.parametrize("name", sorted(CASES))
def test_synced_loss_and_gradients_equal_the_global_batch(name, ranks):
    ref = single_process(name)
    outs = [r[(name, True)] for r in ranks]
    for out in outs:
        if name != "bce":  # a decomposable loss: each rank's value is its shard's mean
            _close(out["loss"], ref["loss"], 1e-6)
        assert out["grads"].keys() == ref["grads"].keys()
        for key, g in ref["grads"].items():
            _close(out["grads"][key], g, 1e-6)
        if name in TRAIN:
            assert out["trained"].keys() == ref["trained"].keys()
            for key, p in ref["trained"].items():  # the loss-owned duals included
                _close(out["trained"][key], p, 1e-5)
        if name in HELD_OUT:  # the global held-out batch's dual step, on every rank
            _close(out["held_out"], ref["held_out"], 1e-5)
    if name == "bce":  # no sync needed: the mean of the ranks' values is the global mean
        _close((outs[0]["loss"] + outs[1]["loss"]) / 2, ref["loss"], 1e-6)
    for key in outs[0]["buffers"]:  # priors and loss-owned duals: identical on every rank
        _close(outs[0]["buffers"][key], outs[1]["buffers"][key], 0.0)
    if name in TRAIN and "loss_fn.duals" in ref["trained"]:
        assert not torch.equal(ref["trained"]["loss_fn.duals"], torch.ones(L))
        _close(outs[0]["trained"]["loss_fn.duals"], outs[1]["trained"]["loss_fn.duals"], 0.0)
    if name in HELD_OUT:
        _close(outs[0]["held_out"], outs[1]["held_out"], 0.0)


@pytest.mark.parametrize("name", NO_SYNC)
def test_without_sync_each_rank_optimises_its_shard(name, ranks):
    """The bug ``sync`` prevents: per-shard losses (and, for the confusion losses, gradients)
    are not the global ones; the global objectives' running priors drift apart per rank."""
    ref = single_process(name)
    outs = [r[(name, False)] for r in ranks]
    assert max(float((o["loss"] - ref["loss"]).abs()) for o in outs) > 1e-3
    if name == "precision_at_recall":
        # The model's gradient is decomposable (equal); the priors (and so the duals'
        # gradients) are per shard.
        a, b = (o["buffers"]["loss_fn.label_prior_counts"] for o in outs)
        assert float((a - b).abs().max()) > 0.5
        return
    grad_gap = max(float((o["grads"][k] - g).abs().max())
                   for o in outs for k, g in ref["grads"].items())
    assert grad_gap > 1e-3
