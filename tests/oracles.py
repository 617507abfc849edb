"""Independent NumPy oracles shared by several test files."""

from __future__ import annotations

import numpy as np


def textbook_metric(tp, fp, fn, tn, metric: str, beta: float = 1.0):
    """A confusion-matrix metric from the four counts, by its textbook formula (float64)."""
    tp, fp, fn, tn = (np.asarray(c, dtype=np.float64) for c in (tp, fp, fn, tn))
    if metric in ("f1", "fbeta"):
        b2 = beta**2
        return (1 + b2) * tp / ((1 + b2) * tp + b2 * fn + fp)
    if metric == "precision":
        return tp / (tp + fp)
    if metric == "recall":
        return tp / (tp + fn)
    if metric == "jaccard":
        return tp / (tp + fp + fn)
    if metric == "accuracy":
        return (tp + tn) / (tp + fp + fn + tn)
    tpr, tnr = tp / (tp + fn), tn / (tn + fp)
    if metric == "balanced_accuracy":
        return (tpr + tnr) / 2
    if metric == "gmean":
        return np.sqrt(tpr * tnr)
    if metric == "mcc":
        return (tp * tn - fp * fn) / np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    raise ValueError(metric)
