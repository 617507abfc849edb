"""Framework-free helpers of the adapter tests: the original library's example problem and
closed forms (NumPy, float64)."""

from __future__ import annotations

import math

import numpy as np

# tensorflow/models research/global_objectives/loss_layers_example.py: two features, four
# Gaussian clusters, the rare positives split across two of them.
EXAMPLE = {
    "positives_centers": [[0.0, 1.0], [1.0, -0.5]],
    "negatives_centers": [[0.0, -0.5], [1.0, 1.0]],
    "positives_variances": [0.15, 0.1],
    "negatives_variances": [0.15, 0.1],
    "positives_counts": [500, 50],
    "negatives_counts": [3000, 100],
}
TARGET_RECALL = 0.98
LEARNING_RATE = 1.0
DUAL_RATE_FACTOR = 15.0
TRAIN_ITERATIONS = 150


def example_data(seed: int = 0) -> dict[str, np.ndarray]:
    """Training and fresh evaluation data of the example problem (float32 features, float32
    0/1 labels), as the original's ``create_training_and_eval_data_for_experiment``."""
    rng = np.random.default_rng(seed)
    c = EXAMPLE

    def points(positive: bool, i: int) -> np.ndarray:
        kind = "positives" if positive else "negatives"
        sd = c[f"{kind}_variances"][i]
        return sd * rng.standard_normal((c[f"{kind}_counts"][i], 2)) + np.array(
            [c[f"{kind}_centers"][i]])

    def data() -> np.ndarray:
        return np.concatenate([points(False, 0), points(True, 0), points(True, 1),
                               points(False, 1)])

    labels = np.array([0.0] * c["negatives_counts"][0] + [1.0] * c["positives_counts"][0]
                      + [1.0] * c["positives_counts"][1] + [0.0] * c["negatives_counts"][1])
    perm = rng.permutation(labels.size)
    train, evaluation = data()[perm], data()[perm]
    return {"train_data": train.astype(np.float32), "train_labels": labels[perm].astype(
        np.float32), "eval_data": evaluation.astype(np.float32),
        "eval_labels": labels[perm].astype(np.float32)}


def precision_at_recall(scores: np.ndarray, labels: np.ndarray, target_recall: float) -> float:
    """Precision at the threshold that keeps ``target_recall`` of the positives (the
    original's evaluation: the ``100·(1 − r)`` percentile of the positives' scores)."""
    scores = np.asarray(scores, dtype=np.float64).ravel()
    labels = np.asarray(labels).ravel() == 1
    threshold = np.percentile(scores[labels], 100.0 - target_recall * 100.0)
    predicted = scores >= threshold
    return float(np.sum(predicted & labels) / max(np.sum(predicted), 1))


def precision(scores: np.ndarray, labels: np.ndarray, threshold: float = 0.0) -> float:
    """Precision of ``scores > threshold``."""
    predicted = np.asarray(scores).ravel() > threshold
    labels = np.asarray(labels).ravel() == 1
    return float(np.sum(predicted & labels) / max(np.sum(predicted), 1))


def softplus(u: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, u)


def running_priors(labels: np.ndarray) -> np.ndarray:
    """The label priors after one update from the initial state: (1 + Σy) / (2 + B)."""
    return (1.0 + labels.sum(axis=0)) / (2.0 + labels.shape[0])


def dloss_dlambda(loss: str, logits: np.ndarray, labels: np.ndarray, target: float
                  ) -> np.ndarray:
    """``∂L/∂λ`` per label of the mean-reduced xent Lagrangian (closed form, SPEC §3)."""
    z = logits.astype(np.float64)
    y = labels.astype(np.float64)
    pi = running_priors(y)
    m = math.log(2.0)
    pos, neg = y * softplus(-z), (1.0 - y) * softplus(z)
    n = z.size
    if loss == "PrecisionAtRecallLoss":
        per = pos + pi * (target - 1.0) * m
    elif loss == "RecallAtPrecisionLoss":
        per = (1.0 - target) * pos + target * neg - (1.0 - target) * pi * m
    else:
        raise ValueError(loss)
    return per.sum(axis=0) / n


ADAPTER_BATCH, ADAPTER_LABELS = 16, 3

ADAPTER_CASES: dict[str, dict] = {
    # class name → constructor keywords, the same in every framework's adapter tests
    "SigmoidF1Loss": {},
    "AnyLoss": {},
    "ConfusionMetricLoss": {"metric": "mcc"},
    "MultilabelCategoricalCrossentropy": {},
    "SparseMultilabelCategoricalCrossentropy": {},
    "RecallAtPrecisionLoss": {"target_precision": 0.7, "num_labels": ADAPTER_LABELS},
    "PrecisionAtRecallLoss": {"target_recall": 0.8, "num_labels": ADAPTER_LABELS},
    "TruePositiveRateAtFalsePositiveRateLoss": {"target_rate": 0.1,
                                                "num_labels": ADAPTER_LABELS},
    "FalsePositiveRateAtTruePositiveRateLoss": {"target_rate": 0.9,
                                                "num_labels": ADAPTER_LABELS},
    "PrecisionRecallAUCLoss": {"num_labels": ADAPTER_LABELS, "num_anchors": 4,
                               "precision_range": (0.2, 0.8)},
    "ROCAUCLoss": {},
    "BinaryCrossEntropy": {"pos_weight": 2.0},
    "SigmoidFocalLoss": {},
    "AsymmetricLoss": {"gamma_pos": 1.0},
}
# Adapter keywords that the core function does not take.
CORE_ONLY = {"num_labels", "dual_rate_factor", "dual_update", "dual_rate", "dual_max",
             "dual_source"}


def hard_violation(constraint: str, logits: np.ndarray, labels: np.ndarray, target: float,
                   priors: np.ndarray) -> np.ndarray:
    """The scale-free violation per label at the decision rule ``z > 0``, from hand counts
    (float64): ``(α·FP − (1−α)·TP)/(π·n)`` for precision ≥ α, ``(r·P − TP)/(π·n)`` for
    recall ≥ r (the proxy-Lagrangian's dual step direction)."""
    predicted = np.asarray(logits) > 0
    y = np.asarray(labels, dtype=np.float64)
    tp = np.sum(predicted * y, axis=0)
    fp = np.sum(predicted * (1.0 - y), axis=0)
    positives = y.sum(axis=0)
    n = y.shape[0]
    if constraint == "recall_at_precision":
        return (target * fp - (1.0 - target) * tp) / (priors * n)
    if constraint == "precision_at_recall":
        return (target * positives - tp) / (priors * n)
    raise ValueError(constraint)


# One training call of RecallAtPrecisionLoss(target_precision=0.5, dual_rate=RATE,
# dual_max=MAX) on these 6 × 4 logits moves λ from DUALS_BEFORE: label 0 violated (1 TP, 3 FP:
# up), label 1 met (2 TP, 0 FP: down), label 2 met from a small λ (clipped at 0), label 3
# violated from near the bound (clipped at dual_max).
DUAL_STEP_LOGITS = np.array([[2.0, 3.0, 1.0, 1.0], [1.0, 2.0, 2.0, 2.0], [0.5, -1.0, -1.0, 0.5],
                             [1.5, -2.0, -3.0, 1.5], [-1.0, -1.0, -2.0, -1.0],
                             [-2.0, -3.0, 0.5, -2.0]])
DUAL_STEP_LABELS = np.array([[1, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0], [0, 0, 0, 0],
                             [1, 0, 0, 1], [0, 0, 1, 0]], dtype=np.float64)
DUAL_STEP_BEFORE = np.array([1.0, 1.0, 0.05, 1.9])
DUAL_STEP_RATE, DUAL_STEP_MAX, DUAL_STEP_TARGET = 0.5, 2.0, 0.5


def dual_step_expected() -> tuple[np.ndarray, np.ndarray]:
    """``(λ after the call, the unclipped λ + rate·g)`` for the case above (hand counts)."""
    priors = running_priors(DUAL_STEP_LABELS)
    g = hard_violation("recall_at_precision", DUAL_STEP_LOGITS, DUAL_STEP_LABELS,
                       DUAL_STEP_TARGET, priors)
    raw = DUAL_STEP_BEFORE + DUAL_STEP_RATE * g
    return np.clip(raw, 0.0, DUAL_STEP_MAX), raw
