"""The checked mode (``metricloss.checks("always")``): value checks inside compiled code.

Labels of 2.0 and negative ``lambdas`` raise inside ``torch.compile(fullgraph=True)``,
``jax.jit`` (under ``checkify.checkify``) and ``tf.function`` when the mode is on; with the
default mode they pass silently (documented): the formula's value on bad labels, |lambdas| for
negative lambdas.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import metricloss as ml

B, L = 6, 3
RNG = np.random.default_rng(7)
Z = RNG.standard_normal((B, L)).astype(np.float32)
Y_GOOD = (RNG.random((B, L)) > 0.5).astype(np.float32)
Y_BAD = Y_GOOD.copy()
Y_BAD[1, 2] = 2.0
LAM_BAD = np.array([1.0, -1.0, 0.5], np.float32)
LAM_GOOD = np.abs(LAM_BAD)


def _soft_f1_oracle(z: np.ndarray, y: np.ndarray) -> float:
    """sigmoidF1 (macro) in float64, straight from SPEC §1, on any labels (2.0 included)."""
    z, y = z.astype(np.float64), y.astype(np.float64)
    p = 1.0 / (1.0 + np.exp(-z))
    tp, fp, fn = (p * y).sum(0), (p * (1 - y)).sum(0), ((1 - p) * y).sum(0)
    return float(1.0 - np.mean(2 * tp / (2 * tp + fp + fn)))


def _f1(z: Any, y: Any) -> Any:
    return ml.sigmoid_f1_loss(z, y)


def _rap(z: Any, y: Any, lam: Any) -> Any:
    out = ml.recall_at_precision_loss(z, y, target_precision=0.7, lambdas=lam)
    return out[0] if isinstance(out, tuple) else out


@pytest.fixture(autouse=True)
def _default_mode() -> Any:
    yield
    ml.checks("eager")  # a failing test must not leave the mode on


def test_checks_is_a_setter_and_a_context_manager() -> None:
    assert ml.checks().mode == "eager"
    with ml.checks("always") as c:
        assert c.mode == "always" and ml.checks().mode == "always"
        with ml.checks("eager"):
            assert ml.checks().mode == "eager"
        assert ml.checks().mode == "always"
    assert ml.checks().mode == "eager"
    ml.checks("always")
    assert ml.checks().mode == "always"
    ml.checks("eager")
    with pytest.raises(ValueError, match="mode must be one of 'eager', 'always'"):
        ml.checks("sometimes")


def test_numpy_checks_do_not_depend_on_the_mode() -> None:
    for mode in ("eager", "always"):
        with ml.checks(mode):
            with pytest.raises(ValueError, match="labels must lie in"):
                _f1(Z, Y_BAD)
            with pytest.raises(ValueError, match="lambdas must lie in"):
                _rap(Z, Y_GOOD, LAM_BAD)
            np.testing.assert_allclose(_f1(Z, Y_GOOD), _soft_f1_oracle(Z, Y_GOOD), rtol=1e-5)


# --------------------------------------------------------------------------------------------
# One runner per framework: (compile fn, convert NumPy, error type raised by the assertion)
# --------------------------------------------------------------------------------------------


def _torch_runner() -> tuple[Callable[..., Any], type]:
    torch = pytest.importorskip("torch")

    def run(fn: Callable[..., Any], *args: np.ndarray) -> float:
        torch._dynamo.reset()
        out = torch.compile(fn, fullgraph=True)(*(torch.from_numpy(a) for a in args))
        return float(out)

    return run, RuntimeError


def _jax_runner() -> tuple[Callable[..., Any], type]:
    jax = pytest.importorskip("jax")
    from jax.experimental import checkify

    def run(fn: Callable[..., Any], *args: np.ndarray) -> float:
        # A fresh function: JAX caches traces per Python function, across jax.jit wrappers.
        fresh = jax.jit(lambda *a: fn(*a))
        err, out = checkify.checkify(fresh)(*(jax.numpy.asarray(a) for a in args))
        err.throw()
        return float(out)

    return run, checkify.JaxRuntimeError


def _tf_runner() -> tuple[Callable[..., Any], type]:
    tf = pytest.importorskip("tensorflow")

    def run(fn: Callable[..., Any], *args: np.ndarray) -> float:
        return float(tf.function(fn)(*(tf.constant(a) for a in args)))

    return run, tf.errors.InvalidArgumentError


RUNNERS = {"torch": _torch_runner, "jax": _jax_runner, "tensorflow": _tf_runner}


@pytest.fixture(params=sorted(RUNNERS))
def compiled(request: pytest.FixtureRequest, xp: Any) -> tuple[Callable[..., Any], type]:
    if request.param != xp.name:
        pytest.skip("one framework per xp backend")
    return RUNNERS[request.param]()


def test_checked_mode_catches_bad_labels_inside_compiled_code(compiled) -> None:
    run, error = compiled
    with ml.checks("always"):
        with pytest.raises(error, match=r"labels must lie in \[0.0, 1.0\]"):
            run(_f1, Z, Y_BAD)
        # valid input: the assertion is silent and the value unchanged
        np.testing.assert_allclose(run(_f1, Z, Y_GOOD), _soft_f1_oracle(Z, Y_GOOD), rtol=1e-5)


def test_checked_mode_catches_negative_lambdas_inside_compiled_code(compiled) -> None:
    run, error = compiled
    with ml.checks("always"):
        with pytest.raises(error, match=r"lambdas must lie in \[0.0"):
            run(_rap, Z, Y_GOOD, LAM_BAD)
        expected = _rap(Z, Y_GOOD, LAM_GOOD)  # NumPy eager, the same formula
        np.testing.assert_allclose(run(_rap, Z, Y_GOOD, LAM_GOOD), float(expected), rtol=1e-5)


def test_default_mode_passes_bad_values_silently_under_compilation(compiled) -> None:
    """Documented: with the default mode the checks vanish under compilation; the loss is the
    formula's value on the bad labels, and |lambdas| for negative lambdas."""
    run, _ = compiled
    np.testing.assert_allclose(run(_f1, Z, Y_BAD), _soft_f1_oracle(Z, Y_BAD), rtol=1e-5)
    # negative lambdas, which cannot be read under tracing, are used as |lambdas| (made safe
    # at no cost, issue 12 §2): no error raised, and the value of |lambdas|
    bad, good = run(_rap, Z, Y_GOOD, LAM_BAD), run(_rap, Z, Y_GOOD, LAM_GOOD)
    np.testing.assert_allclose(bad, good, rtol=1e-6)


def test_jax_checked_mode_without_checkify_says_so() -> None:
    jax = pytest.importorskip("jax")
    with ml.checks("always"), pytest.raises(Exception, match="checkify"):
        jax.jit(_f1)(jax.numpy.asarray(Z), jax.numpy.asarray(Y_GOOD))
