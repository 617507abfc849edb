"""AUC-M efficacy: metricloss ``AUCMLoss`` with Adam against LibAUC's ``AUCMLoss`` + ``PESG``.

    python benchmarks/auc_m.py [--seeds 0 1 2] [--epochs 30] [--positives 0.02]
                               [--out benchmarks/results]

One imbalanced binary problem (``sklearn.datasets.make_classification``: 40 000 examples, 20
features of which 6 informative, ``--positives`` of them positive, 2 % by default, 1 % of the
labels flipped; a stratified 50/50 train/test split), one model (an MLP 20 → 64 → 64 → 1), the
same epochs, batches and initial weights for every method:

- ``libauc_pesg``: LibAUC's ``AUCMLoss()`` on ``torch.sigmoid(model(x))`` with
  ``PESG(lr=0.1, momentum=0.9, margin=1.0, epoch_decay=0.003, weight_decay=1e-4)`` and
  ``update_regularizer(decay_factor=10)`` at 50 % and 75 % of the epochs: the settings of
  LibAUC's tutorial 02 (ResNet20 on imbalanced CIFAR-10; there 100 epochs, decays at 50, 75).
- ``metricloss_adam``: ``metricloss.backends.torch.AUCMLoss`` on the logits (α owned by the
  loss, ``a``, ``b`` running class means, the defaults) with ``torch.optim.Adam(lr=3e-3)``, the
  learning rate divided by 10 at the same epochs. No special optimizer. The rate was chosen on
  a separate data seed (100: Adam 1e-3 / 3e-3 × ``alpha_rate`` 0.1 / 0.5, test ROC-AUC 0.835 /
  0.847 at the default ``alpha_rate`` against PESG's 0.842), never on the reported seeds;
  PESG keeps the tutorial's settings untouched.
- ``metricloss_adam_trainable_ab``: the same with ``ab_update="trainable"`` (``a``, ``b`` in
  Adam's parameters): which of the two trains better.
- ``bce_adam``: ``BCEWithLogitsLoss`` with the same Adam schedule (the usual baseline).

The script's ``--lr`` sets the Adam rate (default ``ADAM_LR``).

Batches of 128 hold ``int(0.2·128) = 25`` positives (resampled, LibAUC's ``DualSampler`` with
``sampling_rate=0.2`` as in the tutorial; written out here because LibAUC's sampler module
imports torchvision); an epoch is one pass over the negatives. The test ROC-AUC
(scikit-learn) after the last epoch is reported per method and seed, with the mean. Writes
``auc_m.json`` and ``auc_m.md`` under ``--out``. Needs ``libauc`` (``pip install libauc
--no-deps``) and scikit-learn.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(ROOT))

BATCH = 128
SAMPLING_RATE = 0.2
ADAM_LR = 3e-3
METHODS = ("libauc_pesg", "metricloss_adam", "metricloss_adam_trainable_ab", "bce_adam")


def make_data(seed: int, positives: float) -> dict[str, np.ndarray]:
    from sklearn.datasets import make_classification
    from sklearn.model_selection import train_test_split

    x, y = make_classification(n_samples=40_000, n_features=20, n_informative=6,
                               n_redundant=4, weights=[1.0 - positives], flip_y=0.01,
                               class_sep=0.7, random_state=seed)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.5, stratify=y, random_state=seed)
    mean, std = xtr.mean(0), xtr.std(0) + 1e-8
    return {"x_train": ((xtr - mean) / std).astype(np.float32), "y_train": ytr.astype(np.float32),
            "x_test": ((xte - mean) / std).astype(np.float32), "y_test": yte.astype(np.float32)}


def dual_batches(y: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    """One epoch of index batches with ``int(0.2·BATCH)`` positives each (positives
    resampled), one pass over the negatives."""
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    n_pos = int(SAMPLING_RATE * BATCH)
    n_neg = BATCH - n_pos
    neg = rng.permutation(neg)
    batches = []
    for start in range(0, len(neg) - n_neg + 1, n_neg):
        chosen = np.concatenate([rng.choice(pos, n_pos, replace=False), neg[start:start + n_neg]])
        batches.append(rng.permutation(chosen))
    return batches


def train(method: str, data: dict[str, np.ndarray], seed: int, epochs: int,
          lr: float = ADAM_LR) -> float:
    import torch
    from sklearn.metrics import roc_auc_score

    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(20, 64), torch.nn.ReLU(), torch.nn.Linear(64, 64),
                                torch.nn.ReLU(), torch.nn.Linear(64, 1))
    decay_epochs = {epochs // 2, (3 * epochs) // 4}
    step: Callable[[torch.Tensor, torch.Tensor], Any]
    if method == "libauc_pesg":
        from libauc.losses import AUCMLoss
        from libauc.optimizers import PESG

        loss_fn = AUCMLoss(device="cpu")
        opt: Any = PESG(model.parameters(), loss_fn=loss_fn, lr=0.1, momentum=0.9, margin=1.0,
                        epoch_decay=0.003, weight_decay=1e-4, device="cpu", verbose=False)

        def step(x: torch.Tensor, y: torch.Tensor) -> Any:
            return loss_fn(torch.sigmoid(model(x)), y)

        def on_epoch(epoch: int) -> None:
            if epoch in decay_epochs:
                opt.update_regularizer(decay_factor=10)
    else:
        if method == "bce_adam":
            bce = torch.nn.BCEWithLogitsLoss()
            params = list(model.parameters())

            def step(x: torch.Tensor, y: torch.Tensor) -> Any:
                return bce(model(x).squeeze(-1), y)
        else:
            from metricloss.backends.torch import AUCMLoss as MetricAUCM

            ab = "trainable" if method.endswith("trainable_ab") else "running"
            ours = MetricAUCM(num_labels=1, ab_update=ab)
            params = [*model.parameters(), *ours.parameters()]

            def step(x: torch.Tensor, y: torch.Tensor) -> Any:
                return ours(model(x).squeeze(-1), y)
        opt = torch.optim.Adam(params, lr=lr)

        def on_epoch(epoch: int) -> None:
            if epoch in decay_epochs:
                for group in opt.param_groups:
                    group["lr"] /= 10

    rng = np.random.default_rng(seed)
    x_train, y_train = torch.from_numpy(data["x_train"]), torch.from_numpy(data["y_train"])
    for epoch in range(epochs):
        on_epoch(epoch)
        model.train()
        for idx in dual_batches(data["y_train"], rng):
            index = torch.from_numpy(idx)
            loss = step(x_train[index], y_train[index])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        scores = model(torch.from_numpy(data["x_test"])).squeeze(-1).numpy()
    return float(roc_auc_score(data["y_test"], scores))


def render(results: dict[str, Any]) -> str:
    seeds = results["seeds"]
    lines = [
        "# AUC-M: metricloss with Adam vs LibAUC AUCMLoss + PESG",
        "",
        f"Test ROC-AUC after {results['epochs']} epochs; {results['positives']:.0%} positives; "
        f"Adam lr {results['adam_lr']:g}; "
        f"seeds {', '.join(map(str, seeds))} (data split, initial weights and batches per seed "
        f"are the same for every method). `python benchmarks/auc_m.py` "
        f"(load average {results['load']}, {results['seconds']:.0f} s).",
        "",
        "| method | " + " | ".join(f"seed {s}" for s in seeds) + " | mean |",
        "|---|" + "---|" * (len(seeds) + 1),
    ]
    for method in results["methods"]:
        runs = results["roc_auc"][method]
        lines.append(f"| {method} | " + " | ".join(f"{r:.4f}" for r in runs)
                     + f" | {statistics.mean(runs):.4f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--positives", type=float, default=0.02)
    parser.add_argument("--lr", type=float, default=ADAM_LR)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    start = time.perf_counter()
    results: dict[str, Any] = {"seeds": args.seeds, "epochs": args.epochs, "adam_lr": args.lr,
                               "positives": args.positives, "methods": args.methods,
                               "roc_auc": {}}
    for method in args.methods:
        results["roc_auc"][method] = []
    for seed in args.seeds:
        data = make_data(seed, args.positives)
        for method in args.methods:
            auc = train(method, data, seed, args.epochs, args.lr)
            results["roc_auc"][method].append(auc)
            print(f"seed {seed} {method}: test ROC-AUC {auc:.4f}", flush=True)
    results["seconds"] = time.perf_counter() - start
    results["load"] = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "auc_m.json").write_text(json.dumps(results, indent=1) + "\n")
    (args.out / "auc_m.md").write_text(render(results))
    print(render(results))


if __name__ == "__main__":
    main()
