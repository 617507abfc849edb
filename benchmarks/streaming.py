"""Streaming evaluation: time and peak memory of streaming N x L scores into a CurveState,
against torchmetrics' binned curve and the exact path; and the error of the state's metrics
against the exact ones as a function of ``num_bins`` (the table of docs/streaming.md).

    python benchmarks/streaming.py                     # 10^7 x 100, PyTorch CPU
    python benchmarks/streaming.py --quick             # tiny: proves it runs
    python benchmarks/streaming.py --bins              # error vs num_bins (docs table)
    python benchmarks/streaming.py --rows 1000000 --labels 100 \\
        --budget-s 120

**Speed and memory.** Each method runs in a fresh subprocess (``--method``): scores are made
batch by batch (well-trained logits, 5% positives; batch of 10,000 rows), streamed, and the
macro average precision is computed at the end. Peak memory is the process's peak resident set
(``VmHWM``, reset after imports and warm-up) minus its resident set then: what the method
needs on top of the framework. Methods:

- ``metricloss``: ``CurveMetric`` (torch, 1024 bins, float64 counts) updated per batch.
- ``torchmetrics``: ``MultilabelAveragePrecision(thresholds=200)`` (its binned mode, Keras'
  default resolution), ``update`` per batch.
- ``exact``: every batch kept (``torch.cat`` at the end), then the exact
  ``metricloss.average_precision_score``: memory O(rows).

A method that would exceed ``--budget-s`` stops early: its time is then extrapolated linearly
from the rows it processed (marked), and its memory is that of the part run (the streaming
methods' memory does not grow with rows; the exact path's does, and is extrapolated too).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

BATCH = 10_000
METHODS = ("metricloss", "torchmetrics", "exact")


def _batch(rng: np.random.Generator, rows: int, labels: int) -> tuple[Any, Any]:
    import torch

    y = torch.from_numpy(rng.random((rows, labels), dtype=np.float32) < 0.05)
    z = torch.where(y, torch.from_numpy(rng.normal(2.0, 2.5, (rows, labels)).astype(np.float32)),
                    torch.from_numpy(rng.normal(-5.0, 2.0, (rows, labels)).astype(np.float32)))
    return z, y


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def _reset_peak() -> None:
    """Reset the kernel's peak-RSS mark (VmHWM) to the current RSS (Linux)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def _peak_mb() -> float:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1e3
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3


def run_method(method: str, rows: int, labels: int, budget_s: float) -> dict[str, Any]:
    """One method in this process: stream, compute, report (JSON-able)."""
    import torch

    import metricloss as ml

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    rng = np.random.default_rng(0)
    batch = min(BATCH, rows)
    if method == "metricloss":
        from metricloss.backends.torch import CurveMetric

        metric: Any = CurveMetric(labels)
        update, compute = metric.update, metric.compute
    elif method == "torchmetrics":
        from torchmetrics.classification import MultilabelAveragePrecision

        metric = MultilabelAveragePrecision(num_labels=labels, thresholds=200)
        update = lambda z, y: metric.update(torch.sigmoid(z), y.long())  # noqa: E731
        compute = metric.compute
    else:
        kept: list[Any] = []

        def update(z: Any, y: Any) -> None:
            kept.append((z, y))

        def compute() -> Any:
            z = torch.cat([k[0] for k in kept])
            y = torch.cat([k[1] for k in kept])
            return ml.average_precision_score(z, y)
    warm = _batch(rng, min(batch, 100), labels)  # warm-up (kernels, allocator), not counted
    if method != "exact":
        update(*warm)
        metric.reset()
    base = _rss_mb()
    _reset_peak()
    start = time.perf_counter()
    done = 0
    make_s = 0.0
    while done < rows:
        t0 = time.perf_counter()
        z, y = _batch(rng, min(batch, rows - done), labels)
        make_s += time.perf_counter() - t0
        update(z, y)
        done += z.shape[0]
        if time.perf_counter() - start > budget_s and done < rows:
            break
    value = float(compute())
    elapsed = time.perf_counter() - start - make_s
    peak = max(0.0, _peak_mb() - base)
    scale = rows / done
    return {"method": method, "rows": rows, "rows_run": done, "labels": labels,
            "seconds": elapsed * scale, "extrapolated": done < rows,
            "peak_mb": peak * (scale if method == "exact" else 1.0), "ap": value}


def speed_table(rows: int, labels: int, budget_s: float, methods: tuple[str, ...] = METHODS
                ) -> dict[str, Any]:
    """Every method in its own subprocess."""
    out = []
    for method in methods:
        cmd = [sys.executable, __file__, "--method", method, "--rows", str(rows), "--labels",
               str(labels), "--budget-s", str(budget_s)]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
        if proc.returncode != 0:
            out.append({"method": method, "error": proc.stderr.strip().splitlines()[-1:]})
            continue
        out.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    rows_md = [[r["method"], f"{r['seconds']:.3g}" + (" (extrapolated)" if r["extrapolated"]
                                                       else ""),
                f"{r['peak_mb']:.0f}", f"{r['ap']:.4f}"] if "error" not in r
               else [r["method"], "error", str(r["error"]), ""] for r in out]
    return {"note": f"{rows:,} x {labels} float32 logits streamed in batches of {BATCH:,} "
                    f"(PyTorch CPU); peak RSS above the process's after warm-up; "
                    f"load average {os.getloadavg()[0]:.1f}.",
            "columns": ["method", "seconds", "peak MB", "macro AP"], "rows": rows_md,
            "raw": out}


# --------------------------------------------------------------------------------------------
# Error against the exact metrics, as a function of num_bins
# --------------------------------------------------------------------------------------------


def _distributions(quick: bool) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    b, n = (2000, 3) if quick else (20000, 7)
    prevalence = rng.uniform(0.02, 0.3, n)
    y = rng.random((b, n)) < prevalence
    z = np.where(y, rng.normal(2.0, 2.5, (b, n)), rng.normal(-5.0, 2.0, (b, n)))
    weak = np.where(y, rng.normal(-0.5, 1.0, (b, n)), rng.normal(-1.5, 1.0, (b, n)))
    out = {"well-trained": (z, y), "overconfident (logits x4)": (4 * z, y),
           "weak": (weak, y)}
    if not quick:
        from sklearn.linear_model import LogisticRegression

        from metricloss.datasets import load_mulan

        d = load_mulan("yeast")
        cols = [j for j in range(d.y_train.shape[1])
                if 1 < d.y_train[:, j].sum() < len(d.y_train) - 1 and d.y_test[:, j].any()]
        scores = [LogisticRegression(C=10.0, max_iter=2000).fit(d.x_train, d.y_train[:, j])
                  .decision_function(d.x_test) for j in cols]
        out["MULAN yeast, logistic regression"] = (np.stack(scores, 1), d.y_test[:, cols] > 0)
    return out


def _prob_grid_logits(z: np.ndarray, num_bins: int) -> np.ndarray:
    """Scores rounded down to a grid uniform in probability (Keras' AUC, torchmetrics'
    ``thresholds=int``), as logits."""
    p = 1.0 / (1.0 + np.exp(-z))
    return np.floor(p * num_bins) / num_bins


def bins_table(quick: bool) -> dict[str, Any]:
    """Max over labels of |state metric − exact metric| (AP, ROC-AUC), against num_bins, for
    the metricloss grid and a grid uniform in probability."""
    from sklearn.metrics import average_precision_score as sk_ap
    from sklearn.metrics import roc_auc_score as sk_auc

    import metricloss as ml

    rows = []
    for name, (z, y) in _distributions(quick).items():
        exact_ap = ml.average_precision_score(z, y, average="none")
        exact_auc = ml.roc_auc_score(z, y, average="none")
        for num_bins in ((64, 1024) if quick else (64, 256, 1024, 4096)):
            state = ml.curve_state_update(
                ml.curve_state_init(z.shape[1], num_bins=num_bins), z, y)
            ap = np.max(np.abs(ml.average_precision_score(state, average="none") - exact_ap))
            auc = np.max(np.abs(ml.roc_auc_score(state, average="none") - exact_auc))
            q = _prob_grid_logits(z, num_bins)
            p_ap = max(abs(sk_ap(y[:, j], q[:, j]) - exact_ap[j]) for j in range(z.shape[1]))
            p_auc = max(abs(sk_auc(y[:, j], q[:, j]) - exact_auc[j])
                        for j in range(z.shape[1]))
            rows.append([name, num_bins, f"{ap:.1e}", f"{auc:.1e}", f"{p_ap:.1e}",
                         f"{p_auc:.1e}"])
    return {"note": "max over labels of |binned − exact| (per-label AP and ROC-AUC)",
            "columns": ["scores", "num_bins", "AP error", "ROC-AUC error",
                        "AP error, uniform-p grid", "ROC-AUC error, uniform-p grid"],
            "rows": rows}


def markdown(table: dict[str, Any]) -> str:
    head = "| " + " | ".join(table["columns"]) + " |"
    sep = "|" + "|".join("---" for _ in table["columns"]) + "|"
    body = ["| " + " | ".join(str(c) for c in row) + " |" for row in table["rows"]]
    return "\n".join([table["note"], "", head, sep, *body])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--bins", action="store_true", help="error against num_bins only")
    p.add_argument("--rows", type=int, default=None)
    p.add_argument("--labels", type=int, default=None)
    p.add_argument("--budget-s", type=float, default=600.0)
    p.add_argument("--method", choices=METHODS, help=argparse.SUPPRESS)
    args = p.parse_args()
    rows = args.rows or (2000 if args.quick else 10_000_000)
    labels = args.labels or (5 if args.quick else 100)
    if args.method:
        print(json.dumps(run_method(args.method, rows, labels, args.budget_s)))
        return
    if args.bins:
        print(markdown(bins_table(args.quick)))
        return
    print(markdown(speed_table(rows, labels, args.budget_s)))


if __name__ == "__main__":
    main()
