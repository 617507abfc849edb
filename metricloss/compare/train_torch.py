"""The comparison's PyTorch trainer: the MLP, Adam, the adapters of metricloss.backends.torch."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from metricloss.backends import torch as adapters
from metricloss.compare.protocol import Options, Prepared, TrainResult


def build_losses(components: list[tuple[str, dict[str, Any]]], num_labels: int
                 ) -> list[torch.nn.Module]:
    """One adapter module per component (the constrained ones get ``num_labels``)."""
    out = []
    for name, kwargs in components:
        cls = getattr(adapters, name)
        if "num_labels" in cls._spec.adapter_keywords():  # constrained, AUC-M
            kwargs = {**kwargs, "num_labels": num_labels}
        if cls._spec.constrained:  # dual steps from validation batches (_train)
            kwargs = {**kwargs, "dual_source": "held_out"}
        out.append(cls(**kwargs))
    return out


def mlp(features: int, hidden: int, labels: int, dropout: float) -> torch.nn.Module:
    model = torch.nn.Sequential(torch.nn.Linear(features, hidden), torch.nn.ReLU(),
                                torch.nn.Dropout(dropout), torch.nn.Linear(hidden, labels))
    for layer in model:
        if isinstance(layer, torch.nn.Linear):
            torch.nn.init.xavier_uniform_(layer.weight)
            torch.nn.init.zeros_(layer.bias)
    return model


def train(components: list[tuple[str, dict[str, Any]]], data: Prepared, options: Options,
          on_epoch: Callable[[float], None] | None = None) -> TrainResult:
    """Train the MLP with the sum of ``components``; the validation and test logits.

    Runs on one CPU thread (restored afterwards): for an MLP this small, more threads only
    add synchronisation (40x slower on a loaded 2-core machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _train(components, data, options, on_epoch)
    finally:
        torch.set_num_threads(threads)


def _train(components: list[tuple[str, dict[str, Any]]], data: Prepared, options: Options,
           on_epoch: Callable[[float], None] | None) -> TrainResult:
    torch.manual_seed(options.seed)
    generator = torch.Generator().manual_seed(options.seed)
    x, y = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)
    model = mlp(x.shape[1], options.hidden, y.shape[1], options.dropout)
    losses = build_losses(components, y.shape[1])
    # The model's optimizer over the model and PR-AUC's biases; the constrained losses move
    # their duals themselves, from validation batches (dual_source="held_out", below).
    params = [*model.parameters(), *(p for loss in losses for p in loss.parameters())]
    opt = torch.optim.Adam(params, lr=options.lr)
    held_out = [loss for loss in losses
                if getattr(loss, "config", {}).get("dual_source") == "held_out"]
    xv, yv = torch.from_numpy(data.x_val), torch.from_numpy(data.y_val)
    val_order = torch.randperm(len(xv), generator=generator) if held_out else None
    val_at = 0
    epoch_losses: list[float] = []
    start = time.perf_counter()
    for _ in range(options.epochs):
        model.train()
        for loss in losses:
            loss.train()
        total, batches = 0.0, 0
        for idx in torch.randperm(len(x), generator=generator).split(options.batch_size):
            logits = model(x[idx])
            value = sum(loss(logits, y[idx]) for loss in losses)
            opt.zero_grad()
            value.backward()
            opt.step()
            if held_out:  # one dual step per training step, from the next validation batch
                assert val_order is not None
                vidx = val_order[val_at:val_at + options.batch_size]
                val_at = (val_at + options.batch_size) % max(len(xv), 1)
                model.eval()
                with torch.no_grad():
                    val_logits = model(xv[vidx])
                for loss in held_out:
                    loss.update_duals(val_logits, yv[vidx])  # type: ignore[operator]
                model.train()
            total += float(value.detach())
            batches += 1
        epoch_losses.append(total / max(batches, 1))
        if on_epoch is not None:
            on_epoch(epoch_losses[-1])
    seconds = time.perf_counter() - start
    model.eval()
    with torch.no_grad():
        val = model(torch.from_numpy(data.x_val)).double().numpy()
        test = model(torch.from_numpy(data.x_test)).double().numpy()
    return TrainResult(np.asarray(val), np.asarray(test), seconds, epoch_losses)
