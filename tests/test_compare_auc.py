"""The AUC family in ``metricloss compare``: the macro ROC-AUC column against scikit-learn, and
the two losses built by the trainers with their number of labels."""

from __future__ import annotations

import numpy as np
import pytest

from metricloss.compare.protocol import LOSSES, METRICS, evaluate

sk_metrics = pytest.importorskip("sklearn.metrics")


def test_macro_roc_auc_column_equals_scikit_learn_over_labels_with_both_classes() -> None:
    rng = np.random.default_rng(0)
    val, test = rng.normal(size=(30, 4)), rng.normal(size=(40, 4))
    y_val = (rng.random((30, 4)) < 0.4).astype(float)
    y_test = (rng.random((40, 4)) < 0.4).astype(float)
    y_test[:, 3] = 0.0  # one class only in test: left out of the mean
    out = evaluate(val, y_val, test, y_test, target_precision=0.7)
    expected = np.mean([sk_metrics.roc_auc_score(y_test[:, j], test[:, j]) for j in range(3)])
    for rule in ("default", "tuned"):
        np.testing.assert_allclose(out[rule]["macro_roc_auc"], expected, rtol=1e-12)
    assert "macro_roc_auc" in METRICS
    assert LOSSES["roc_auc"].targets == LOSSES["auc_m"].targets == "macro_roc_auc"


def test_trainers_give_auc_m_its_number_of_labels() -> None:
    pytest.importorskip("torch")
    from metricloss.compare import train_torch

    (loss,) = train_torch.build_losses(LOSSES["auc_m"].build_kwargs(0.7), 5)
    assert tuple(loss.alpha.shape) == (5,)
