"""The Keras streaming metrics (metricloss.backends.keras: AveragePrecision, ROCAUC,
RecallAtPrecision, TunedF1Score) on the Keras backend of this process (run once per backend,
like test_keras.py: ``METRICLOSS_KERAS=1 KERAS_BACKEND=...``). The oracle is the core's state
of the model's own predictions."""

from __future__ import annotations

import os

import numpy as np
import pytest

if os.environ.get("METRICLOSS_KERAS") != "1":
    pytest.skip("Keras adapter tests run in the keras nox sessions (METRICLOSS_KERAS=1, "
                "KERAS_BACKEND=...)", allow_module_level=True)

keras = pytest.importorskip("keras")

import metricloss as ml  # noqa: E402
from metricloss.backends import keras as mk  # noqa: E402
from metricloss.streaming import state_metric  # noqa: E402

L, BINS = 3, 128


def _metrics():
    return [mk.AveragePrecision(L, from_logits=True, num_bins=BINS),
            mk.ROCAUC(L, from_logits=True, average="micro", num_bins=BINS),
            mk.RecallAtPrecision(L, target_precision=0.5, from_logits=True, num_bins=BINS),
            mk.TunedF1Score(L, from_logits=True, num_bins=BINS)]


def test_fit_validation_reports_the_core_numbers() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 5)).astype("float32")
    y = (rng.random((96, L)) < 0.4).astype("float32")
    xv = rng.normal(size=(83, 5)).astype("float32")  # a partial last batch
    yv = (rng.random((83, L)) < 0.4).astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(L)])
    model.compile(optimizer="sgd", loss=keras.losses.BinaryCrossentropy(from_logits=True),
                  metrics=_metrics())
    history = model.fit(x, y, validation_data=(xv, yv), batch_size=32, epochs=1, verbose=0)
    pred = np.asarray(model.predict(xv, batch_size=32, verbose=0), dtype=np.float64)
    state = ml.curve_state_update(ml.curve_state_init(L, num_bins=BINS), pred, yv)
    want = {
        "val_average_precision": state_metric(state, "average_precision"),
        "val_rocauc": state_metric(state, "roc_auc", average="micro"),
        "val_recall_at_precision": state_metric(state, "recall_at_precision",
                                                target_precision=0.5),
        "val_tuned_f1_score": state_metric(state, "tuned_f1"),
    }
    for key, value in want.items():
        np.testing.assert_allclose(history.history[key][-1], float(value), atol=1e-5,
                                   err_msg=key)


def test_update_merge_reset_and_config() -> None:
    rng = np.random.default_rng(1)
    p = rng.random((40, L)).astype("float32")
    p[0, 0], p[1, 1] = 0.0, 1.0  # probabilities 0 and 1: the end bins, no clipping
    y = (rng.random((40, L)) < 0.5).astype("float32")
    w = rng.random(40).astype("float32")
    a, b, whole = (mk.AveragePrecision(L, num_bins=BINS) for _ in range(3))
    a.update_state(y[:25], p[:25], sample_weight=w[:25])
    b.update_state(y[25:], p[25:], sample_weight=w[25:])
    whole.update_state(y, p, sample_weight=w)
    a.merge_state([b])
    np.testing.assert_allclose(float(a.result()), float(whole.result()), rtol=1e-6)
    logits = np.log(p.astype(np.float64)) - np.log1p(-p.astype(np.float64))
    state = ml.curve_state_update(ml.curve_state_init(L, num_bins=BINS), logits, y, weights=w)
    np.testing.assert_allclose(float(whole.result()),
                               float(ml.average_precision_score(state)), rtol=1e-5)
    thresholds = ml.tune_thresholds(whole.state)
    assert tuple(thresholds.shape) == (L,)
    whole.reset_state()
    assert float(np.sum(keras.ops.convert_to_numpy(whole.positives))) == 0.0
    clone = mk.RecallAtPrecision.from_config(
        mk.RecallAtPrecision(L, target_precision=0.7, num_bins=BINS).get_config())
    assert clone.target_precision == 0.7 and clone.num_bins == BINS
    with pytest.raises(ValueError, match="target_precision"):
        mk.RecallAtPrecision(L)
    with pytest.raises(ValueError, match="merge_state"):
        a.merge_state([mk.AveragePrecision(L + 1, num_bins=BINS)])
