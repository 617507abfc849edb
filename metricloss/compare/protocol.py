"""The comparison protocol: data, losses, training options, evaluation. Framework-free.

Protocol (the same for every loss, in every framework):

1. Load the data set's official train/test split (:func:`metricloss.datasets.load_mulan`).
2. Carve a validation split from train (``val_fraction`` of the rows, a permutation drawn
   from ``seed``); standardise every feature with the mean and standard deviation of the
   remaining training rows only.
3. Train the same MLP (``features → hidden → ReLU → dropout → labels``, Glorot-uniform
   weights, zero biases) with Adam at ``lr`` for ``epochs`` epochs of mini-batches of
   ``batch_size``, reshuffled every epoch, from the same ``seed``, once per loss. PR-AUC's biases
   are trained by the same optimizer (no weight decay anywhere); the constrained losses move
   their dual variables themselves from the validation split (``dual_source="held_out"``: one
   dual step per training step from the next validation batch, in eval mode; Keras: one per
   validation batch at each epoch's end), so that the precision target holds on held-out
   data, not on memorised training batches; their running label priors advance in training
   mode only.
4. Score validation and test once, in evaluation mode. Tune per-label thresholds on
   validation (:func:`metricloss.tune_thresholds`): for F1, and for recall at
   ``target_precision``. Evaluate the test split once, at the default rule (logit > 0) and at
   the tuned thresholds. A label without a positive in the validation split cannot be tuned:
   it keeps the default rule.

A label with no positive example in the training split cannot be learnt by any loss: the run
says so before training (:func:`data_warnings`; the CLI prints it, :func:`run` passes it to
``on_warning`` or issues a :class:`CompareWarning`), and the report lists it.

Metrics (all in [0, 1]; Hamming loss lower is better, every other higher):

- ``micro_f1``, ``macro_f1``, ``example_f1`` (per example, averaged: scikit-learn's
  ``average="samples"``), ``hamming_loss``: of the hard predictions (rule ``default``: logit > 0;
  ``tuned``: thresholds maximising each label's F1 on validation; logit > 0 for a label
  without a validation positive).
- ``mean_ap``: macro average precision of the test scores (threshold-free: equal in both rows).
- ``recall_at_precision`` and ``precision_at_target``: micro recall and micro precision on test
  with the thresholds of the rule (``default``: logit > 0; ``tuned``: per label, the threshold
  of highest validation recall whose validation precision is ≥ ``target_precision``; labels
  where no threshold reaches it predict nothing). ``meets_target``: ``precision_at_target ≥
  target_precision − 0.05``.
"""

from __future__ import annotations

import importlib
import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

__all__ = [
    "DEFAULT_LOSSES",
    "FRAMEWORKS",
    "LOSSES",
    "METRICS",
    "CompareWarning",
    "LossChoice",
    "Options",
    "Prepared",
    "data_warnings",
    "evaluate",
    "prepare",
    "run",
]

FRAMEWORKS = ("torch", "jax", "keras")

#: The default precision target (``--target-precision`` overrides it): about the micro
#: precision binary cross-entropy reaches at logit > 0 on emotions, enron, medical and yeast
#: (0.65–0.71), so that the constraint binds without being out of reach. On genbase every
#: loss exceeds 0.9, so there it does not bind.
DEFAULT_TARGET_PRECISION = 0.7
TARGET_PRECISION: dict[str, float] = {}
"""Per-data-set overrides of :data:`DEFAULT_TARGET_PRECISION` (none at present)."""

#: ``meets_target`` tolerance: precision on test within this of the target.
TARGET_TOLERANCE = 0.05


@dataclass(frozen=True)
class LossChoice:
    """One loss of the comparison: a sum of adapter classes (usually one)."""

    name: str
    title: str
    components: tuple[tuple[str, dict[str, Any]], ...]
    """``(adapter class name, constructor keywords)``; the keywords may hold the placeholder
    ``"TARGET"`` (replaced by the target precision)."""
    targets: str
    """The metric the loss is meant to optimise (the column it should win), or ``""``."""
    constrained: bool = False

    def build_kwargs(self, target_precision: float) -> list[tuple[str, dict[str, Any]]]:
        out = []
        for cls, kwargs in self.components:
            kwargs = {k: (target_precision if v == "TARGET" else v) for k, v in kwargs.items()}
            out.append((cls, kwargs))
        return out


LOSSES: dict[str, LossChoice] = {c.name: c for c in (
    LossChoice("bce", "binary cross-entropy", (("BinaryCrossEntropy", {}),), ""),
    LossChoice("focal", "focal loss (α=0.25, γ=2)", (("SigmoidFocalLoss", {}),), ""),
    LossChoice("asl", "asymmetric loss (γ−=4, clip 0.05)", (("AsymmetricLoss", {}),), ""),
    LossChoice("sigmoid_f1", "sigmoidF1 (macro)", (("SigmoidF1Loss", {}),), "macro_f1"),
    LossChoice("any_loss", "AnyLoss (F1, macro)", (("AnyLoss", {"metric": "f1"}),),
               "macro_f1"),
    LossChoice("zlpr", "ZLPR (multi-label CE)", (("MultilabelCategoricalCrossentropy", {}),),
               "micro_f1"),
    LossChoice("recall_at_precision", "recall at precision ≥ target",
               (("RecallAtPrecisionLoss", {"target_precision": "TARGET"}),),
               "recall_at_precision", constrained=True),
    LossChoice("pr_auc", "PR-AUC (Eban et al.)", (("PrecisionRecallAUCLoss", {}),),
               "mean_ap", constrained=True),
    # The AUC family (not in the default list): pairwise ROC-AUC and AUC-M (its α owned by
    # the loss, a, b running class means: trained by the same Adam as every other loss).
    LossChoice("roc_auc", "ROC-AUC (pairwise, xent)", (("ROCAUCLoss", {}),), "macro_roc_auc"),
    LossChoice("auc_m", "AUC-M (LibAUC's AUCMLoss, Adam)", (("AUCMLoss", {}),),
               "macro_roc_auc"),
    # A combination users hand-roll: BCE plus a soft-F1 term (not in the default list).
    LossChoice("bce+sigmoid_f1", "BCE + sigmoidF1 (sum)",
               (("BinaryCrossEntropy", {}), ("SigmoidF1Loss", {})), "macro_f1"),
)}

DEFAULT_LOSSES = ("bce", "focal", "asl", "sigmoid_f1", "any_loss", "zlpr",
                  "recall_at_precision", "pr_auc")

#: name → (short header, description, better: "higher"|"lower")
METRICS: dict[str, tuple[str, str, str]] = {
    "micro_f1": ("micro-F1", "F1 of the pooled counts", "higher"),
    "macro_f1": ("macro-F1", "F1 per label, averaged", "higher"),
    "example_f1": ("ex-F1", "F1 per example, averaged", "higher"),
    "hamming_loss": ("Hamming", "fraction of wrong label decisions", "lower"),
    "mean_ap": ("mAP", "average precision per label, averaged (threshold-free)", "higher"),
    "macro_roc_auc": ("ROC-AUC", "ROC-AUC per label, averaged over the labels with both "
                      "classes in test (threshold-free)", "higher"),
    "recall_at_precision": ("R@P", "micro recall at the rule's recall-at-precision thresholds",
                            "higher"),
    "precision_at_target": ("P", "micro precision at those thresholds", "higher"),
}
RULES = ("default", "tuned")


@dataclass
class Options:
    """Everything that defines a comparison run (recorded in the JSON report)."""

    framework: str = "torch"
    data: str = "yeast"
    losses: Sequence[str] = DEFAULT_LOSSES
    target_precision: float | None = None
    """``None``: :data:`DEFAULT_TARGET_PRECISION` (0.7)."""
    epochs: int = 40
    batch_size: int = 64
    lr: float = 1e-3
    hidden: int = 128
    dropout: float = 0.2
    val_fraction: float = 0.2
    seed: int = 0
    quick: bool = False
    """A tiny run (for tests): at most 256 training and 256 test rows, 2 epochs, 16 hidden
    units."""
    extra: dict[str, Any] = field(default_factory=dict)

    def resolved(self) -> Options:
        """A copy with the quick-mode sizes applied and the target precision filled in."""
        out = Options(**{**asdict(self), "losses": tuple(self.losses)})
        if out.target_precision is None:
            out.target_precision = TARGET_PRECISION.get(str(out.data),
                                                        DEFAULT_TARGET_PRECISION)
        if out.quick:
            out.epochs = min(out.epochs, 2)
            out.hidden = min(out.hidden, 16)
        return out


class Prepared(NamedTuple):
    """Standardised float32 arrays of the three splits, and what describes them."""

    x_train: Any
    y_train: Any
    x_val: Any
    y_val: Any
    x_test: Any
    y_test: Any
    label_names: list[str]
    name: str

    def describe(self) -> dict[str, Any]:
        y = self.y_train
        return {
            "name": self.name,
            "n_train": int(self.x_train.shape[0]),
            "n_val": int(self.x_val.shape[0]),
            "n_test": int(self.x_test.shape[0]),
            "n_features": int(self.x_train.shape[1]),
            "n_labels": int(y.shape[1]),
            "label_cardinality_train": float(y.sum(1).mean()) if len(y) else 0.0,
        }


def prepare(data: str | Path, *, seed: int, val_fraction: float = 0.2,
            quick: bool = False) -> Prepared:
    """Load ``data`` (a MULAN name or a folder), carve the seeded validation split from train,
    standardise with the remaining training rows' statistics; float32 arrays."""
    import numpy as np

    from metricloss.datasets import MULAN_NAMES, load_mulan

    split = load_mulan(data)
    x_train, y_train, x_test, y_test = split.x_train, split.y_train, split.x_test, split.y_test
    rng = np.random.default_rng(seed)
    if quick:
        keep = rng.permutation(len(x_train))[:256]
        x_train, y_train = x_train[keep], y_train[keep]
        x_test, y_test = x_test[:256], y_test[:256]
    order = rng.permutation(len(x_train))
    n_val = max(1, round(val_fraction * len(x_train)))
    if len(x_train) - n_val < 2:
        raise ValueError(f"data {data!r}: {len(x_train)} training rows are too few to carve a "
                         f"validation split of {val_fraction:.0%} from")
    val, train = order[:n_val], order[n_val:]
    mean = x_train[train].mean(0)
    std = x_train[train].std(0)
    std = np.where(std > 0, std, 1.0)

    def scale(x: Any) -> Any:
        return ((x - mean) / std).astype(np.float32)

    name = data if isinstance(data, str) and data in MULAN_NAMES else str(Path(data).resolve())
    return Prepared(scale(x_train[train]), y_train[train].astype(np.float32),
                    scale(x_train[val]), y_train[val].astype(np.float32),
                    scale(x_test), y_test.astype(np.float32), list(split.label_names), name)


class CompareWarning(UserWarning):
    """A property of the data that makes part of the comparison meaningless (e.g. a label with
    no positive example in the training split)."""


def _names(names: list[str], limit: int = 8) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def data_warnings(data: Prepared) -> list[str]:
    """What the user should know about the splits before trusting the comparison: labels
    with no positive example in the training split (no loss can learn them: their test F1 is
    0 and they pull every macro average down alike) and, less severe, in the validation split
    (their thresholds cannot be tuned: they keep the default rule)."""
    out = []
    for split, y, consequence in (
        ("training", data.y_train, "no loss can learn them (test F1 0 wherever they occur)"),
        ("validation", data.y_val, "their thresholds cannot be tuned (they keep logit > 0)"),
    ):
        missing = [data.label_names[j] for j in range(y.shape[1]) if not y[:, j].any()]
        if missing:
            out.append(f"{len(missing)} of {y.shape[1]} labels have no positive example in the "
                       f"{split} split ({len(y)} rows): {_names(missing)}; {consequence}")
    return out


def evaluate(val_scores: Any, y_val: Any, test_scores: Any, y_test: Any, *,
             target_precision: float) -> dict[str, dict[str, Any]]:
    """The metrics of one trained model (see the module docstring), per rule.

    ``val_scores``/``test_scores`` are the logits (NumPy, float64). Returns
    ``{"default": {...}, "tuned": {...}}``: floats in [0, 1] and ``meets_target`` (bool).
    """
    import numpy as np

    from metricloss import (
        average_precision_score,
        binarize,
        f1_score,
        hamming_loss,
        roc_auc_score,
        tune_thresholds,
    )

    val_scores = np.asarray(val_scores, dtype=np.float64)
    test_scores = np.asarray(test_scores, dtype=np.float64)
    if not (np.isfinite(val_scores).all() and np.isfinite(test_scores).all()):
        raise FloatingPointError("the model's scores are not finite (training diverged)")
    y_val = np.asarray(y_val, dtype=np.float64)
    y_test = np.asarray(y_test, dtype=np.float64)
    with warnings.catch_warnings():
        # Labels without positives in a split, labels that cannot reach the precision target:
        # expected on these data sets; their values are defined (0 or predict nothing).
        warnings.simplefilter("ignore")
        # A label without a positive in validation cannot be tuned (tune_thresholds gives it
        # +inf: never predicted); it keeps the default rule (threshold 0 on the logit).
        untunable = y_val.sum(0) == 0
        thresholds = {
            "f1": tune_thresholds(val_scores, y_val, metric="f1"),
            "rap": tune_thresholds(val_scores, y_val, metric="recall_at_precision",
                                   target_precision=target_precision),
        }
        thresholds = {k: np.where(untunable, np.nextafter(0.0, 1.0), t)
                      for k, t in thresholds.items()}
        mean_ap = float(average_precision_score(test_scores, y_test, average="macro"))
        both = (y_test.sum(0) > 0) & (y_test.sum(0) < len(y_test))
        macro_roc_auc = (float(np.mean(roc_auc_score(test_scores[:, both], y_test[:, both],
                                                     average="none")))
                         if both.any() else float("nan"))
        out: dict[str, dict[str, Any]] = {}
        for rule in RULES:
            if rule == "default":
                preds = rap_preds = test_scores > 0
            else:
                preds = binarize(test_scores, thresholds["f1"])
                rap_preds = binarize(test_scores, thresholds["rap"])
            tp = float((rap_preds * y_test).sum())
            predicted, positives = float(rap_preds.sum()), float(y_test.sum())
            precision = tp / predicted if predicted else 0.0
            values: dict[str, Any] = {
                "micro_f1": float(f1_score(preds, y_test, average="micro", zero_division=0)),
                "macro_f1": float(f1_score(preds, y_test, average="macro", zero_division=0)),
                "example_f1": float(f1_score(preds, y_test, average="samples",
                                             zero_division=0)),
                "hamming_loss": float(hamming_loss(preds, y_test)),
                "mean_ap": mean_ap,
                "macro_roc_auc": macro_roc_auc,
                "recall_at_precision": tp / positives if positives else 0.0,
                "precision_at_target": precision,
            }
            values["meets_target"] = bool(predicted
                                          and precision >= target_precision - TARGET_TOLERANCE)
            out[rule] = values
    return out


class TrainResult(NamedTuple):
    """What a framework trainer returns."""

    val_scores: Any
    test_scores: Any
    seconds: float
    epoch_losses: list[float]


Trainer = Callable[..., TrainResult]


def trainer(framework: str) -> Trainer:
    """The framework's ``train`` function, importing the framework only now."""
    if framework not in FRAMEWORKS:
        raise ValueError(f"framework must be one of {', '.join(FRAMEWORKS)}, got {framework!r}")
    module = importlib.import_module(f"metricloss.compare.train_{framework}")
    return module.train


def framework_versions(framework: str) -> dict[str, str]:
    """Versions of what the run used (the framework, Keras' backend, NumPy, Python)."""
    import platform
    import sys

    import numpy as np

    import metricloss

    versions = {"metricloss": metricloss.__version__, "python": platform.python_version(),
                "numpy": np.__version__}
    names = {"torch": ["torch"], "jax": ["jax", "optax"], "keras": ["keras"]}[framework]
    if framework == "keras":
        keras = sys.modules.get("keras")
        backend = keras.backend.backend() if keras is not None else None
        versions["keras_backend"] = str(backend)
        names.append({"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}.get(
            str(backend), str(backend)))
    for name in names:
        module = sys.modules.get(name)
        if module is not None:
            versions[name] = str(getattr(module, "__version__", "?"))
    return versions


def run(options: Options, *, progress: Any = None,
        on_warning: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run the comparison; the JSON-ready results dict (see :mod:`metricloss.compare.report`).

    ``progress``: an object with ``start(description, total)``, ``advance()`` and ``done()``
    (:func:`metricloss.compare.report.progress_bar`); ``None``: silent. ``on_warning``: called
    with each of :func:`data_warnings`' messages before training; ``None``: each is issued as
    a :class:`CompareWarning`.
    """
    options = options.resolved()
    for name in options.losses:
        if name not in LOSSES:
            raise ValueError(f"unknown loss {name!r}; choose from {', '.join(LOSSES)}")
    train = trainer(options.framework)
    data = prepare(options.data, seed=options.seed, val_fraction=options.val_fraction,
                   quick=options.quick)
    assert options.target_precision is not None
    notes = data_warnings(data)
    for note in notes:
        if on_warning is None:
            warnings.warn(note, CompareWarning, stacklevel=2)
        else:
            on_warning(note)
    results: dict[str, Any] = {}
    started = time.perf_counter()
    for name in options.losses:
        choice = LOSSES[name]
        if progress is not None:
            progress.start(name, options.epochs)
        out = train(choice.build_kwargs(options.target_precision), data, options,
                    on_epoch=None if progress is None else progress.advance)
        if progress is not None:
            progress.done()
        entry: dict[str, Any] = evaluate(out.val_scores, data.y_val, out.test_scores, data.y_test,
                         target_precision=options.target_precision)
        entry["train_seconds"] = round(out.seconds, 3)
        entry["final_train_loss"] = (out.epoch_losses[-1] if out.epoch_losses
                                     and math.isfinite(out.epoch_losses[-1]) else None)
        entry["scores"] = out.test_scores  # for the plots; not written to the JSON
        results[name] = entry
    return {
        "framework": options.framework,
        "versions": framework_versions(options.framework),
        "data": data.describe(),
        "seed": options.seed,
        "options": {k: (list(v) if isinstance(v, tuple) else v)
                    for k, v in asdict(options).items()},
        "metrics": {k: {"header": h, "description": d, "better": b, "range": [0.0, 1.0]}
                    for k, (h, d, b) in METRICS.items()},
        "rules": {"default": "logit > 0",
                  "tuned": "thresholds tuned on the validation split (F1; recall at "
                           "precision for R@P)"},
        "losses": {name: LOSSES[name].title for name in options.losses},
        "results": results,
        "warnings": notes,
        "y_test": data.y_test,  # for the plots; not written to the JSON
        "total_seconds": round(time.perf_counter() - started, 3),
    }
