"""The framework-free module the adapters share (metricloss.backends._state)."""

from __future__ import annotations

import doctest
import subprocess
import sys

import numpy as np
import pytest

import metricloss
from metricloss.backends import _state


def test_docstring_example_runs() -> None:
    result = doctest.testmod(_state, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_imports_no_framework() -> None:
    code = ("import sys, metricloss.backends._state; "
            "print([m for m in ('torch', 'jax', 'tensorflow', 'keras') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_every_spec_names_a_core_function() -> None:
    for name, spec in _state.SPECS.items():
        assert spec.name == name
        assert spec.function is getattr(metricloss, spec.function_name)
        assert spec.has_aux == spec.constrained or spec.name == "ROCAUCLoss"


def test_initial_prior_state_is_the_cores() -> None:
    import array_api_compat.numpy as xp

    state = metricloss.label_priors_init(2, xp=xp)
    assert np.asarray(state.counts).tolist() == [_state.PRIOR_COUNTS_INIT] * 2
    assert np.asarray(state.weight_sum).tolist() == [_state.PRIOR_WEIGHT_SUM_INIT] * 2


def test_variables_per_configuration() -> None:
    spec = _state.SPECS["PrecisionRecallAUCLoss"]
    config = spec.configure(num_labels=3, num_anchors=5)
    assert [(v.name, v.shape, v.trainable, v.is_dual) for v in spec.variables(config)] == [
        ("duals", (3, 5), False, True), ("biases", (3, 5), True, False),
        ("label_prior_counts", (3,), False, False),
        ("label_prior_weight_sum", (3,), False, False)]
    fixed = spec.configure(num_labels=3, label_priors=0.2)
    assert [v.name for v in spec.variables(fixed)] == ["duals", "biases"]
    # the original recipe: the model's optimizer trains the duals
    reversal = spec.configure(num_labels=3, dual_update="gradient_reversal")
    assert spec.variables(reversal)[0].trainable
    # num_labels from the first batch when the constructor did not give it
    lazy = spec.configure()
    assert spec.variables(lazy, num_labels=4)[0].shape == (4, 20)
    with pytest.raises(ValueError, match="num_labels"):
        spec.variables(lazy)
    assert _state.SPECS["SigmoidF1Loss"].variables(_state.SPECS["SigmoidF1Loss"].configure()) \
        == ()


def test_forward_eval_mode_returns_no_state_and_uses_stored_priors() -> None:
    spec = _state.SPECS["PrecisionAtRecallLoss"]
    config = spec.configure(target_recall=0.9, num_labels=1)
    variables = {"duals": np.ones(1), "label_prior_counts": np.array([1.0]),
                 "label_prior_weight_sum": np.array([4.0])}
    out = _state.forward(spec, config, variables, np.array([2.0, -1.0]), np.array([1, 0]),
                         stop_gradient=lambda x: x, training=False)
    assert out.label_priors is None
    assert float(out.aux["label_priors"]) == 0.25


@pytest.mark.parametrize("kwargs,error,match", [
    ({"target_recall": 0.9, "dual_update": "sgd"}, ValueError, "dual_update"),
    ({"target_recall": 0.9, "dual_source": "test"}, ValueError, "dual_source"),
    ({"target_recall": 0.9, "dual_rate": -1.0}, ValueError, "dual_rate"),
    ({"target_recall": 0.9, "dual_max": 0.0}, ValueError, "dual_max"),
    ({"num_labels": 1}, TypeError, "target_recall"),
    ({"num_labels": 1, "target_recall": 0.9, "lambdas": 1.0}, TypeError, "lambdas"),
    ({"num_labels": 1.5, "target_recall": 0.9}, TypeError, "num_labels"),
    ({"num_labels": 1, "target_recall": 0.9, "dual_rate_factor": -1}, ValueError,
     "dual_rate_factor"),
], ids=["bad-dual_update", "bad-dual_source", "negative-dual_rate", "zero-dual_max",
        "no-target", "runtime-keyword", "float-num_labels", "negative-f"])
def test_configure_errors_name_the_argument(kwargs, error, match) -> None:
    with pytest.raises(error, match=match):
        _state.SPECS["PrecisionAtRecallLoss"].configure(**kwargs)
