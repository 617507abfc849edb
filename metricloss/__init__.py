"""metricloss: losses that optimise the metrics people measure, written once against the
Python array API standard and run unchanged on NumPy, PyTorch, JAX and TensorFlow."""

from metricloss.confusion import (
    any_loss,
    confusion_metric_loss,
    sigmoid_f1_loss,
    soft_confusion,
)

__all__ = [
    "any_loss",
    "confusion_metric_loss",
    "sigmoid_f1_loss",
    "soft_confusion",
]

__version__ = "0.1.0"
