"""metricloss: losses that optimise the metrics people measure, written once against the
Python array API standard and run unchanged on NumPy, PyTorch, JAX and TensorFlow.

Losses: :mod:`metricloss.confusion` (sigmoidF1, AnyLoss, any confusion-matrix metric),
:mod:`metricloss.crossentropy` (ZLPR, dense and sparse), :mod:`metricloss.global_objectives`
(recall at precision, ..., PR-AUC, ROC-AUC). Baselines to compare with: :mod:`metricloss.baselines`
(binary cross-entropy, focal loss, asymmetric loss). Evaluation: :mod:`metricloss.metrics` (exact
metrics) and :mod:`metricloss.thresholds` (per-label threshold tuning).
"""

from metricloss._checks import checks
from metricloss.baselines import asymmetric_loss, binary_cross_entropy, sigmoid_focal_loss
from metricloss.confusion import (
    any_loss,
    confusion_metric_loss,
    sigmoid_f1_loss,
    soft_confusion,
)
from metricloss.crossentropy import (
    multilabel_categorical_crossentropy,
    sparse_multilabel_categorical_crossentropy,
)
from metricloss.global_objectives import (
    LabelPriorState,
    constraint_violation,
    dual_step,
    dual_value,
    false_positive_rate_at_true_positive_rate_loss,
    false_positives_upper_bound,
    label_priors_init,
    precision_at_recall_loss,
    precision_recall_auc_loss,
    recall_at_precision_loss,
    true_positive_rate_at_false_positive_rate_loss,
    true_positives_lower_bound,
    update_label_priors,
    weighted_surrogate,
)
from metricloss.metrics import (
    UndefinedMetricWarning,
    accuracy_score,
    average_precision_score,
    confusion_counts,
    f1_score,
    fbeta_score,
    hamming_loss,
    jaccard_score,
    precision_at_k,
    precision_score,
    recall_at_precision,
    recall_score,
    roc_auc_score,
    subset_accuracy,
)
from metricloss.roc_auc import roc_auc_loss
from metricloss.thresholds import binarize, tune_thresholds

__all__ = [
    "LabelPriorState",
    "UndefinedMetricWarning",
    "accuracy_score",
    "any_loss",
    "asymmetric_loss",
    "average_precision_score",
    "binarize",
    "binary_cross_entropy",
    "checks",
    "confusion_counts",
    "confusion_metric_loss",
    "constraint_violation",
    "dual_step",
    "dual_value",
    "f1_score",
    "false_positive_rate_at_true_positive_rate_loss",
    "false_positives_upper_bound",
    "fbeta_score",
    "hamming_loss",
    "jaccard_score",
    "label_priors_init",
    "multilabel_categorical_crossentropy",
    "precision_at_k",
    "precision_at_recall_loss",
    "precision_recall_auc_loss",
    "precision_score",
    "recall_at_precision",
    "recall_at_precision_loss",
    "recall_score",
    "roc_auc_loss",
    "roc_auc_score",
    "sigmoid_f1_loss",
    "sigmoid_focal_loss",
    "soft_confusion",
    "sparse_multilabel_categorical_crossentropy",
    "subset_accuracy",
    "true_positive_rate_at_false_positive_rate_loss",
    "true_positives_lower_bound",
    "tune_thresholds",
    "update_label_priors",
    "weighted_surrogate",
]

__version__ = "0.1.0"
