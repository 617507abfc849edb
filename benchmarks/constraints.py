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
   fresh data with Adam (learning rate 0.1) and with the paper's SGD (learning rate 1.0);
   target ≥ 0.75.

Writes ``results/constraints.json`` and ``results/constraints.md`` (``--out`` to change).
"""

from __future__ import annotations

import argparse
import itertools
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
ADAM_LINEAR = 0.1  # the linear example: 150 full-batch steps


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


def validation_batch(n: int, seed: int, epoch: int, step: int) -> np.ndarray:
    """The validation rows of one held-out dual step (a batch drawn afresh each step)."""
    return np.random.default_rng([seed, epoch, step, 7]).choice(n, size=min(BATCH, n),
                                                                 replace=False)


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
    held_out = loss_name == "held_out"
    loss_fn = (torch.nn.BCEWithLogitsLoss() if loss_name == "bce"
               else RecallAtPrecisionLoss(target_precision=TARGET,
                                          dual_source="held_out" if held_out else "train"))
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    x, y = torch.from_numpy(data["x_train"]), torch.from_numpy(data["y_train"])
    xv, yv = torch.from_numpy(data["x_val"]), torch.from_numpy(data["y_val"])
    for epoch in range(epochs):
        model.train()
        loss_fn.train()
        for step, idx in enumerate(batches(len(x), seed, epoch)):
            i = torch.from_numpy(idx)
            loss = loss_fn(model(x[i]), y[i])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if held_out:  # one dual step from the next validation batch
                v = torch.from_numpy(validation_batch(len(xv), seed, epoch, step))
                with torch.no_grad():
                    loss_fn.update_duals(model(xv[v]), yv[v])
    model.eval()
    with torch.no_grad():
        out = {s: model(torch.from_numpy(data[f"x_{s}"])).numpy() for s in ("val", "test")}
    if loss_name != "bce":
        out["duals"] = loss_fn.duals.detach().numpy()
    return out


def _jax_mlp(seed: int, sizes: tuple[int, ...]) -> list[dict[str, Any]]:
    """Glorot-uniform weights, zero biases."""
    import jax
    import jax.numpy as jnp

    keys = jax.random.split(jax.random.PRNGKey(seed), len(sizes) - 1)
    out = []
    for key, (n_in, n_out) in zip(keys, itertools.pairwise(sizes), strict=True):
        limit = (6.0 / (n_in + n_out)) ** 0.5
        out.append({"w": jax.random.uniform(key, (n_in, n_out), jnp.float32, -limit, limit),
                    "b": jnp.zeros((n_out,), jnp.float32)})
    return out


def _jax_forward(params: list[dict[str, Any]], x: Any) -> Any:
    import jax

    for layer in params[:-1]:
        x = jax.nn.relu(x @ layer["w"] + layer["b"])
    return x @ params[-1]["w"] + params[-1]["b"]


def train_jax(data: dict[str, np.ndarray], loss_name: str, seed: int, epochs: int
              ) -> dict[str, Any]:
    import jax
    import jax.numpy as jnp
    import optax

    from metricloss.backends.jax import RecallAtPrecisionLoss

    params = _jax_mlp(seed, (FEATURES, HIDDEN, HIDDEN, LABELS))
    tx = optax.adam(LEARNING_RATE)
    opt_state = tx.init(params)
    held_out = loss_name == "held_out"
    loss_fn = RecallAtPrecisionLoss(target_precision=TARGET,
                                    dual_source="held_out" if held_out else "train")
    loss_params, loss_state = loss_fn.init((BATCH, LABELS))

    @jax.jit
    def held_out_step(p: Any, state: Any, xv: Any, yv: Any) -> Any:
        return loss_fn.update_duals(state, _jax_forward(p, xv), yv)

    def objective(p: Any, state: Any, x: Any, y: Any) -> Any:
        logits = _jax_forward(p, x)
        if loss_name == "bce":
            return optax.sigmoid_binary_cross_entropy(logits, y).mean(), state
        loss, _, new_state = loss_fn.apply(loss_params, state, logits, y)
        return loss, new_state

    @jax.jit
    def step(p: Any, opt_state: Any, state: Any, x: Any, y: Any) -> Any:
        (_, state), grads = jax.value_and_grad(objective, has_aux=True)(p, state, x, y)
        updates, opt_state = tx.update(grads, opt_state, p)
        return optax.apply_updates(p, updates), opt_state, state

    x, y = jnp.asarray(data["x_train"]), jnp.asarray(data["y_train"])
    xv, yv = jnp.asarray(data["x_val"]), jnp.asarray(data["y_val"])
    for epoch in range(epochs):
        for i, idx in enumerate(batches(len(x), seed, epoch)):
            params, opt_state, loss_state = step(params, opt_state, loss_state, x[idx], y[idx])
            if held_out:
                v = validation_batch(len(xv), seed, epoch, i)
                loss_state = held_out_step(params, loss_state, xv[v], yv[v])
    out: dict[str, Any] = {s: np.asarray(_jax_forward(params, jnp.asarray(data[f"x_{s}"])))
                           for s in ("val", "test")}
    if loss_name != "bce":
        out["duals"] = np.asarray(loss_state["duals"])
    return out


def train_keras(data: dict[str, np.ndarray], loss_name: str, seed: int, epochs: int
                ) -> dict[str, Any]:
    import keras

    from metricloss.backends.keras import RecallAtPrecisionLoss, attach

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((FEATURES,))
    hidden = keras.layers.Dense(HIDDEN, activation="relu")(inputs)
    hidden = keras.layers.Dense(HIDDEN, activation="relu")(hidden)
    model = keras.Model(inputs, keras.layers.Dense(LABELS)(hidden))
    if loss_name == "bce":
        model.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE),
                      loss=keras.losses.BinaryCrossentropy(from_logits=True))
        loss = None
    else:
        loss = RecallAtPrecisionLoss(target_precision=TARGET, from_logits=True)
        model = attach(model, loss)
        model.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE))
    model.fit(data["x_train"], data["y_train"], batch_size=BATCH, epochs=epochs, shuffle=True,
              verbose=0)
    out: dict[str, Any] = {s: np.asarray(model.predict(data[f"x_{s}"], batch_size=4096,
                                                       verbose=0)) for s in ("val", "test")}
    if loss is not None:
        out["duals"] = keras.ops.convert_to_numpy(loss.lambdas)
    return out


TRAINERS = {"torch": train_torch, "jax": train_jax, "keras": train_keras}


def linear_example_torch(optimizer_name: str) -> float:
    import torch

    from metricloss.backends.torch import PrecisionAtRecallLoss
    from tests.backends.common import TARGET_RECALL, TRAIN_ITERATIONS, example_data

    d = example_data(0)
    torch.manual_seed(0)
    model = torch.nn.Linear(2, 1)
    loss_fn = PrecisionAtRecallLoss(target_recall=TARGET_RECALL)
    optimizer = (torch.optim.Adam(model.parameters(), lr=ADAM_LINEAR)
                 if optimizer_name == "adam" else torch.optim.SGD(model.parameters(), lr=1.0))
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


def linear_example_jax(optimizer_name: str) -> float:
    import jax
    import jax.numpy as jnp
    import optax

    from metricloss.backends.jax import PrecisionAtRecallLoss
    from tests.backends.common import TARGET_RECALL, TRAIN_ITERATIONS, example_data

    d = example_data(0)
    params = _jax_mlp(0, (2, 1))
    tx = optax.adam(ADAM_LINEAR) if optimizer_name == "adam" else optax.sgd(1.0)
    opt_state = tx.init(params)
    loss_fn = PrecisionAtRecallLoss(target_recall=TARGET_RECALL)
    loss_params, loss_state = loss_fn.init((len(d["train_labels"]),))
    x, y = jnp.asarray(d["train_data"]), jnp.asarray(d["train_labels"])

    @jax.jit
    def step(p: Any, opt_state: Any, state: Any) -> Any:
        def objective(p: Any) -> Any:
            loss, _, new_state = loss_fn.apply(loss_params, state, _jax_forward(p, x)[:, 0], y)
            return loss, new_state

        (_, state), grads = jax.value_and_grad(objective, has_aux=True)(p)
        updates, opt_state = tx.update(grads, opt_state, p)
        return optax.apply_updates(p, updates), opt_state, state

    for _ in range(TRAIN_ITERATIONS):
        params, opt_state, loss_state = step(params, opt_state, loss_state)
    scores = np.asarray(_jax_forward(params, jnp.asarray(d["eval_data"])))
    precision, _ = precision_recall(scores, d["eval_labels"][:, None])
    return float(precision[0])


def linear_example_keras(optimizer_name: str) -> float:
    import keras

    from metricloss.backends.keras import PrecisionAtRecallLoss, attach
    from tests.backends.common import TARGET_RECALL, TRAIN_ITERATIONS, example_data

    d = example_data(0)
    keras.utils.set_random_seed(0)
    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    loss = PrecisionAtRecallLoss(target_recall=TARGET_RECALL, from_logits=True)
    model = attach(model, loss)
    model.compile(optimizer=(keras.optimizers.Adam(ADAM_LINEAR) if optimizer_name == "adam"
                             else keras.optimizers.SGD(1.0)))
    n = len(d["train_labels"])
    model.fit(d["train_data"], d["train_labels"][:, None], batch_size=n,
              epochs=TRAIN_ITERATIONS, shuffle=False, verbose=0)
    scores = np.asarray(model.predict(d["eval_data"], batch_size=n, verbose=0))
    precision, _ = precision_recall(scores, d["eval_labels"][:, None])
    return float(precision[0])


LINEAR = {"torch": linear_example_torch, "jax": linear_example_jax,
          "keras": linear_example_keras}


# --------------------------------------------------------------------------------------------
# One framework (in its own process), then the report
# --------------------------------------------------------------------------------------------


def run_framework(framework: str, seeds: list[int], epochs: int, quick: bool
                  ) -> dict[str, Any]:
    key = framework.split("-")[0] if framework.startswith("keras") else framework
    trainer, linear = TRAINERS[key], LINEAR[key]
    runs: dict[str, list[dict[str, Any]]] = {"bce": [], "recall_at_precision": []}
    if key != "keras":  # held-out dual steps, a validation batch per training step
        runs["held_out"] = []
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
    if "held_out" in summary:
        summary["held_out_meets_target"] = summary["held_out"]["min_precision"] >= TARGET - 0.02
        summary["held_out_recall_at_least_bce"] = (summary["held_out"]["micro_recall"]
                                                   >= bce["micro_recall"])
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
                                 ("held_out", "the same, dual steps from validation batches"),
                                 ("bce", "BCE + thresholds tuned on validation")):
            if loss_name not in s:
                continue
            e = s[loss_name]
            duals = " ".join(f"{d:.1f}" for d in e.get("duals", [])) or "—"
            lines.append(f"| {fw['framework']} | {label} | "
                         f"{' '.join(f'{p:.3f}' for p in e['precision'])} | "
                         f"{e['min_precision']:.3f} | {e['micro_recall']:.3f} | {duals} |")
    lines += ["", "Verdict per framework (target met on every label; micro recall ≥ BCE's):", ""]
    for fw in results["frameworks"]:
        s = fw["summary"]
        line = (f"- {fw['framework']}: defaults: target "
                f"{'met' if s['meets_target'] else 'MISSED'}, recall "
                f"{'≥' if s['recall_at_least_bce'] else '<'} BCE's")
        if "held_out_meets_target" in s:
            line += (f"; held-out steps: target "
                     f"{'met' if s['held_out_meets_target'] else 'MISSED'}, recall "
                     f"{'≥' if s['held_out_recall_at_least_bce'] else '<'} BCE's")
        lines.append(line)
    lines += ["", "The original library's example (precision at recall 0.98, linear model, "
              "fresh data; target ≥ 0.75):", "", "| framework | Adam (0.1) | SGD (1.0) |",
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
