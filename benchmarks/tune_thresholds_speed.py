"""Speed of ``metricloss.tune_thresholds`` against a scikit-learn loop doing the same job.

The job: for each of ``L`` labels, the threshold that maximises F1 exactly on ``B`` examples.
The baseline is the usual recipe: per label, ``sklearn.metrics.precision_recall_curve`` (one
point per distinct score), F1 from its precision and recall, argmax. ``tune_thresholds`` does the
same search for all labels at once (one sort per label, cumulative counts over every cut).
Both run on the same NumPy input, in alternating rounds; the median of each is reported, and
the two are checked to reach the same F1 on every label.

    python benchmarks/tune_thresholds_speed.py            # B=100,000, L=100, 7 rounds
    python benchmarks/tune_thresholds_speed.py --quick    # B=10,000, L=20, 3 rounds
    python benchmarks/tune_thresholds_speed.py --also torch,jax   # extra rows: same job on
        # PyTorch tensors (eager) and under jax.jit, on their default device (input already there)
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from metricloss.thresholds import tune_thresholds


def make_data(batch: int, num_labels: int, dtype: str, seed: int = 0
              ) -> tuple[np.ndarray, np.ndarray]:
    """Model-like scores: sigmoid of a noisy logit that leans towards the label, with
    label prevalence between 1% and 30%. In float32 many scores tie, as real outputs do."""
    rng = np.random.default_rng(seed)
    prevalence = rng.uniform(0.01, 0.3, num_labels)
    labels = rng.random((batch, num_labels)) < prevalence
    logits = rng.normal(0.0, 1.5, (batch, num_labels)) + np.where(labels, 1.5, -1.5)
    scores = (1.0 / (1.0 + np.exp(-logits))).astype(dtype)
    return scores, labels.astype(np.int64)


def sklearn_loop(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per label: scikit-learn's precision-recall curve, F1 at each threshold, argmax."""
    from sklearn.metrics import precision_recall_curve  # the baseline: scikit-learn>=1.4

    num_labels = scores.shape[1]
    thresholds = np.empty(num_labels, dtype=np.float64)
    best = np.empty(num_labels, dtype=np.float64)
    for j in range(num_labels):
        precision, recall, cut = precision_recall_curve(labels[:, j], scores[:, j])
        precision, recall = precision[:-1], recall[:-1]  # drop the appended (1, 0) point
        total = precision + recall
        f1 = np.divide(2.0 * precision * recall, total, out=np.zeros_like(total),
                       where=total > 0)
        k = int(np.argmax(f1))
        thresholds[j], best[j] = cut[k], f1[k]
    return thresholds, best


def ours(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return tune_thresholds(scores, labels, metric="f1", return_values=True)


def other_library(name: str, scores: np.ndarray, labels: np.ndarray
                  ) -> tuple[str, Callable[[], object]]:
    """``tune_thresholds`` on another library's arrays (already on its default device)."""
    if name == "torch":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
        s = torch.from_numpy(scores).to(device)
        y = torch.from_numpy(labels).to(device)

        def run() -> object:
            out = tune_thresholds(s, y)
            if device == "cuda":
                torch.cuda.synchronize()
            return out

        return f"tune_thresholds, torch eager ({device})", run
    if name == "jax":
        import jax

        s, y = jax.device_put(scores), jax.device_put(labels)
        jitted = jax.jit(tune_thresholds)
        jitted(s, y).block_until_ready()  # compile once, outside the timing
        platform_name = jax.devices()[0].platform
        return (f"tune_thresholds, jax.jit ({platform_name})",
                lambda: jitted(s, y).block_until_ready())
    raise ValueError(f"--also accepts torch and jax, got {name!r}")


def time_alternating(fns: dict[str, Callable[[], object]], rounds: int
                     ) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="B=10,000, L=20, 3 rounds")
    parser.add_argument("--batch", type=int, default=None, help="B (default 100,000)")
    parser.add_argument("--labels", type=int, default=None, help="L (default 100)")
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds of each")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--also", default="", help="comma-separated: torch, jax")
    args = parser.parse_args()
    batch = args.batch or (10_000 if args.quick else 100_000)
    num_labels = args.labels or (20 if args.quick else 100)
    rounds = args.rounds or (3 if args.quick else 7)

    scores, labels = make_data(batch, num_labels, args.dtype)
    try:
        import sklearn
    except ImportError:
        sys.exit("this benchmark's baseline is scikit-learn: pip install 'scikit-learn>=1.4'")

    print(f"tune_thresholds vs scikit-learn loop: B={batch:,}, L={num_labels}, "
          f"{args.dtype} NumPy scores, {rounds} alternating rounds (median)")
    print(f"python {platform.python_version()}, numpy {np.__version__}, "
          f"scikit-learn {sklearn.__version__}, {os.cpu_count()} CPUs, "
          f"{platform.processor() or platform.machine()}")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours_thr, ours_f1 = ours(scores, labels)  # warm-up and correctness check
        sk_thr, sk_f1 = sklearn_loop(scores, labels)
    np.testing.assert_allclose(ours_f1, sk_f1, rtol=1e-6)
    same_cut = np.mean([
        np.array_equal(scores[:, j] >= ours_thr[j], scores[:, j] >= sk_thr[j])
        for j in range(num_labels)
    ])
    print(f"check: same best F1 on all {num_labels} labels (max |diff| "
          f"{np.max(np.abs(ours_f1 - sk_f1)):.1e}); same predictions on {same_cut:.0%} of labels")

    fns: dict[str, Callable[[], object]] = {
        "metricloss.tune_thresholds (NumPy)": lambda: ours(scores, labels),
        "sklearn precision_recall_curve loop": lambda: sklearn_loop(scores, labels),
    }
    for name in filter(None, (n.strip() for n in args.also.split(","))):
        label, fn = other_library(name, scores, labels)
        fn()  # warm-up
        fns[label] = fn
    times = time_alternating(fns, rounds)
    medians = {name: statistics.median(t) for name, t in times.items()}
    reference = medians["sklearn precision_recall_curve loop"]
    print(f"{'method':44s} {'median s':>9s} {'min s':>7s} {'max s':>7s} {'speed-up':>9s}")
    for name, t in times.items():
        print(f"{name:44s} {medians[name]:9.3f} {min(t):7.3f} {max(t):7.3f} "
              f"{reference / medians[name]:8.2f}x")


if __name__ == "__main__":
    main()
