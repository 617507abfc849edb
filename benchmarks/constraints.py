"""Do the constrained losses meet their target on held-out data, with the optimizer users use?

    python benchmarks/constraints.py [--frameworks torch jax keras-tensorflow keras-jax
                                      keras-torch] [--seeds 0 1 2] [--epochs 15] [--quick]

Two studies, in every framework (each in its own process: Keras picks its backend once):

1. **Multi-label, recall at precision 0.8** (issue 20's setup): synthetic data (12,000 training
   rows, 4,000 validation, 8,000 test; 32 features; 10 labels at 3–30% prevalence, drawn from
   a noisy random teacher network), an MLP (32-128-128-10), Adam at 1e-3 with the model's
   parameters only (what everyone writes first), batch 256, 15 epochs, 3 seeds.
   ``RecallAtPrecisionLoss(target_precision=0.8)`` with its defaults (loss-owned duals, the
   proxy update) predicts positive at logit > 0; the baseline is BCE with per-label thresholds
   tuned on the validation split for recall at precision 0.8 (:func:`metricloss.tune_thresholds`).
   Reported: each label's test precision (mean over seeds), the smallest of them, the micro
   recall, and the final duals. Done when every label's mean test precision is at least
   ``target − 0.02`` and the micro recall at least BCE's.
2. **The original library's example** (precision at recall 0.98, a linear model on 2-D
   Gaussian blobs, full batch, 150 iterations, ``tests/backends/common.py``): the precision on
   fresh data with Adam (1e-2) and with the paper's SGD (learning rate 1.0); target ≥ 0.75.

Writes ``results/constraints.json`` and ``results/constraints.md`` (``--out`` to change).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(ROOT))

TARGET = 0.8
FRAMEWORKS = ("torch", "jax", "keras-tensorflow", "keras-jax", "keras-torch")
N_TRAIN, N_VAL, N_TEST, FEATURES, LABELS, HIDDEN = 12_000, 4_000, 8_000, 32, 10, 128
BATCH, LEARNING_RATE = 256, 1e-3


# --------------------------------------------------------------------------------------------
# Data and evaluation (NumPy, shared by every framework)
# --------------------------------------------------------------------------------------------


def multilabel_data(seed: int, quick: bool = False) -> dict[str, np.ndarray]:
    """Train/validation/test splits: labels from a noisy random teacher, thresholded per
    label at prevalences ``linspace(0.03, 0.30, L)`` of the training split."""
    rng = np.random.default_rng(1000 + seed)
    scale = 10 if quick else 1
    w1 = rng.normal(size=(FEATURES, 64)) / np.sqrt(FEATURES)
    w2 = rng.normal(size=(64, LABELS)) / 8

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        x = rng.normal(size=(n // scale, FEATURES)).astype(np.float32)
        return x, np.tanh(x @ w1) @ w2 * 4 + rng.normal(size=(n // scale, LABELS))

    prevalence = np.linspace(0.03, 0.30, LABELS)
    out: dict[str, np.ndarray] = {}
    cut = None
    for split, n in (("train", N_TRAIN), ("val", N_VAL), ("test", N_TEST)):
        x, s = draw(n)
        if cut is None:
            cut = np.array([np.quantile(s[:, j], 1 - prevalence[j]) for j in range(LABELS)])
        out[f"x_{split}"], out[f"y_{split}"] = x, (s > cut).astype(np.float32)
    return out


def precision_recall(scores: np.ndarray, labels: np.ndarray, thresholds: Any = 0.0
                     ) -> tuple[np.ndarray, float]:
    """Per-label precision at ``scores > thresholds`` (0 where nothing is predicted) and the
    micro recall."""
    predicted = scores > np.asarray(thresholds)
    tp = (predicted * labels).sum(0)
    fp = (predicted * (1 - labels)).sum(0)
    precision = tp / np.maximum(tp + fp, 1)
    return precision, float(tp.sum() / labels.sum())


def tuned_thresholds(val_scores: np.ndarray, val_labels: np.ndarray) -> np.ndarray:
    import metricloss

    return np.asarray(metricloss.tune_thresholds(val_scores, val_labels,
                                                 metric="recall_at_precision",
                                                 target_precision=TARGET))


def batches(n: int, seed: int, epoch: int) -> list[np.ndarray]:
    order = np.random.default_rng([seed, epoch]).permutation(n)
    return [order[i:i + BATCH] for i in range(0, n, BATCH)]


# --------------------------------------------------------------------------------------------
# Trainers: one per framework, each returning the test and validation scores (logits)
# --------------------------------------------------------------------------------------------


def train_torch(data: dict[str, np.ndarray], loss_name: str, seed: int, epochs: int
                ) -> dict[str, Any]:
    import torch

    from metricloss.backends.torch import RecallAtPrecisionLoss

    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(FEATURES, HIDDEN), torch.nn.ReLU(),
                                torch.nn.Linear(HIDDEN, HIDDEN), torch.nn.ReLU(),
                                torch.nn.Linear(HIDDEN, LABELS))
    loss_fn = (torch.nn.BCEWithLogitsLoss() if loss_name == "bce"
               else RecallAtPrecisionLoss(target_precision=TARGET))
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    x, y = torch.from_numpy(data["x_train"]), torch.from_numpy(data["y_train"])
    for epoch in range(epochs):
        model.train()
        loss_fn.train()
        for idx in batches(len(x), seed, epoch):
            i = torch.from_numpy(idx)
            loss = loss_fn(model(x[i]), y[i])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        out = {s: model(torch.from_numpy(data[f"x_{s}"])).numpy() for s in ("val", "test")}
    if loss_name != "bce":
        out["duals"] = loss_fn.duals.detach().numpy()
    return out


TRAINERS = {"torch": train_torch}


def linear_example_torch(optimizer_name: str) -> float:
    import torch

    from metricloss.backends.torch import PrecisionAtRecallLoss
    from tests.backends.common import TARGET_RECALL, TRAIN_ITERATIONS, example_data

    d = example_data(0)
    torch.manual_seed(0)
    model = torch.nn.Linear(2, 1)
    loss_fn = PrecisionAtRecallLoss(target_recall=TARGET_RECALL)
    optimizer = (torch.optim.Adam(model.parameters(), lr=1e-2) if optimizer_name == "adam"
                 else torch.optim.SGD(model.parameters(), lr=1.0))
    x, y = torch.from_numpy(d["train_data"]), torch.from_numpy(d["train_labels"])
    for _ in range(TRAIN_ITERATIONS):
        loss = loss_fn(model(x).squeeze(-1), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        scores = model(torch.from_numpy(d["eval_data"])).squeeze(-1).numpy()
    precision, _ = precision_recall(scores[:, None], d["eval_labels"][:, None])
    return float(precision[0])


LINEAR = {"torch": linear_example_torch}


# --------------------------------------------------------------------------------------------
# One framework (in its own process), then the report
# --------------------------------------------------------------------------------------------


def run_framework(framework: str, seeds: list[int], epochs: int, quick: bool
                  ) -> dict[str, Any]:
    key = framework.split("-")[0] if framework.startswith("keras") else framework
    trainer, linear = TRAINERS[key], LINEAR[key]
    runs: dict[str, list[dict[str, Any]]] = {"bce": [], "recall_at_precision": []}
    for seed in seeds:
        data = multilabel_data(seed, quick)
        for loss_name in runs:
            start = time.perf_counter()
            out = trainer(data, loss_name, seed, epochs)
            thresholds = (tuned_thresholds(out["val"], data["y_val"]) if loss_name == "bce"
                          else 0.0)
            precision, recall = precision_recall(out["test"], data["y_test"], thresholds)
            runs[loss_name].append({
                "seed": seed, "precision": precision.tolist(), "micro_recall": recall,
                "duals": out.get("duals", np.zeros(0)).tolist(),
                "seconds": time.perf_counter() - start})
    summary = {}
    for loss_name, rs in runs.items():
        precision = np.mean([r["precision"] for r in rs], axis=0)
        summary[loss_name] = {"precision": precision.tolist(),
                              "min_precision": float(precision.min()),
                              "micro_recall": float(np.mean([r["micro_recall"] for r in rs]))}
        if loss_name != "bce":
            summary[loss_name]["duals"] = np.mean([r["duals"] for r in rs], axis=0).tolist()
    constrained, bce = summary["recall_at_precision"], summary["bce"]
    summary["meets_target"] = constrained["min_precision"] >= TARGET - 0.02
    summary["recall_at_least_bce"] = constrained["micro_recall"] >= bce["micro_recall"]
    linear_results = {name: linear(name) for name in ("adam", "sgd")}
    return {"framework": framework, "runs": runs, "summary": summary,
            "linear_example_precision": linear_results}


def render(results: dict[str, Any]) -> str:
    meta = results["meta"]
    lines = [
        "# Constrained losses: is the target met on held-out data?",
        "",
        f"Generated by `benchmarks/constraints.py` on {meta['date']} ({meta['machine']}; load "
        f"average {meta['load_before']} before, {meta['load_after']} after); seeds "
        f"{meta['seeds']}, {meta['epochs']} epochs{' (quick mode)' if meta['quick'] else ''}.",
        "",
        f"Recall at precision {TARGET}: each label's mean test precision (3–30% prevalence, "
        f"rarest first), its minimum (target ≥ {TARGET - 0.02:.2f}), and the micro recall.",
        "",
        "| framework | loss | per-label test precision | min | micro recall | final λ |",
        "|---|---|---|---:|---:|---|",
    ]
    for fw in results["frameworks"]:
        s = fw["summary"]
        for loss_name, label in (("recall_at_precision", "RecallAtPrecisionLoss (defaults)"),
                                 ("bce", "BCE + thresholds tuned on validation")):
            e = s[loss_name]
            duals = " ".join(f"{d:.1f}" for d in e.get("duals", [])) or "—"
            lines.append(f"| {fw['framework']} | {label} | "
                         f"{' '.join(f'{p:.3f}' for p in e['precision'])} | "
                         f"{e['min_precision']:.3f} | {e['micro_recall']:.3f} | {duals} |")
    lines += ["", "Verdict per framework (target met on every label; micro recall ≥ BCE's):", ""]
    for fw in results["frameworks"]:
        s = fw["summary"]
        lines.append(f"- {fw['framework']}: target {'met' if s['meets_target'] else 'MISSED'}, "
                     f"recall {'≥' if s['recall_at_least_bce'] else '<'} BCE's")
    lines += ["", "The original library's example (precision at recall 0.98, linear model, "
              "fresh data; target ≥ 0.75):", "", "| framework | Adam (1e-2) | SGD (1.0) |",
              "|---|---:|---:|"]
    for fw in results["frameworks"]:
        lin = fw["linear_example_precision"]
        lines.append(f"| {fw['framework']} | {lin['adam']:.3f} | {lin['sgd']:.3f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frameworks", nargs="+", default=list(FRAMEWORKS),
                        choices=FRAMEWORKS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--quick", action="store_true",
                        help="a tenth of the data, 1 epoch, 1 seed: proves it runs")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.epochs = args.seeds[:1], 1
    if args.worker:  # one framework, in this process: print its JSON
        print(json.dumps(run_framework(args.worker, args.seeds, args.epochs, args.quick)))
        return 0
    load_before = os.getloadavg()[0]
    frameworks = []
    for fw in args.frameworks:
        env = dict(os.environ)
        if fw.startswith("keras-"):
            env["KERAS_BACKEND"] = fw.split("-", 1)[1]
        cmd = [sys.executable, __file__, "--worker", fw, "--epochs", str(args.epochs),
               "--seeds", *map(str, args.seeds), *(["--quick"] if args.quick else [])]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            sys.stderr.write(done.stderr)
            raise SystemExit(f"{fw}: the worker failed")
        frameworks.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(f"{fw}: {frameworks[-1]['summary']}", file=sys.stderr)
    results = {"meta": {"date": time.strftime("%Y-%m-%d"), "machine": platform.platform(),
                        "load_before": round(load_before, 2),
                        "load_after": round(os.getloadavg()[0], 2), "seeds": args.seeds,
                        "epochs": args.epochs, "quick": args.quick},
               "frameworks": frameworks}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "constraints.json").write_text(json.dumps(results, indent=1))
    (args.out / "constraints.md").write_text(render(results))
    print(render(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
