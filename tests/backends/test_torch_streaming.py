"""The torch streaming metric (metricloss.backends.torch.CurveMetric): buffers, update,
compute, reset, state_dict; the oracle is the core's state of the same batches (and
scikit-learn through it, tests/test_streaming.py). DDP: tests/distributed."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import metricloss as ml  # noqa: E402
from metricloss.backends.torch import CurveMetric  # noqa: E402


@pytest.mark.parametrize("metric,options", [
    ("average_precision", {}), ("roc_auc", {"average": "weighted"}),
    ("recall_at_precision", {"target_precision": 0.6}), ("tuned_f1", {"average": "micro"})])
def test_module_equals_the_core(metric, options) -> None:
    rng = np.random.default_rng(2)
    z, y, w = rng.normal(size=(90, 4)), rng.random((90, 4)) < 0.4, rng.random(90)
    module = CurveMetric(4, metric=metric, num_bins=64, **options)
    for a, b in [(0, 1), (1, 1), (1, 90)]:
        module(torch.as_tensor(z[a:b]).requires_grad_(), torch.as_tensor(y[a:b]),
               weights=torch.as_tensor(w[a:b]))
    state = ml.curve_state_update(ml.curve_state_init(4, num_bins=64), z, y, weights=w)
    want = ml.streaming.state_metric(state, metric, **options)
    np.testing.assert_allclose(module.compute().numpy(), want, rtol=1e-12)
    assert set(module.state_dict()) == {"positives", "negatives"}
    module.reset()
    assert float(module.positives.sum() + module.negatives.sum()) == 0.0


def test_bad_options_raise() -> None:
    with pytest.raises(ValueError, match="metric"):
        CurveMetric(2, metric="f2")
    with pytest.raises(ValueError, match="average"):
        CurveMetric(2, metric="tuned_f1", average="weighted")
    with pytest.raises(ValueError, match="target_precision"):
        CurveMetric(2, metric="recall_at_precision")
