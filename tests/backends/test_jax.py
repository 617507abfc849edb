"""The JAX adapters (metricloss.backends.jax): values, gradients, dual ascent, training on the
original library's example, pytree state through numpy.savez, jit, bad input.

Run with ``METRICLOSS_BACKENDS=jax`` in the jax environment. Written in float32 (JAX's default
mode); the oracles are float64 NumPy or the core function itself.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest

import metricloss
from tests.backends import common
from tests.support import selected_backends

if "jax" not in selected_backends():
    pytest.skip("jax not among METRICLOSS_BACKENDS", allow_module_level=True)
jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")
mj = pytest.importorskip("metricloss.backends.jax")

B, L = common.ADAPTER_BATCH, common.ADAPTER_LABELS
F32 = jnp.float32

CASES = common.ADAPTER_CASES
CORE_ONLY = common.CORE_ONLY


def _inputs(seed: int = 0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 2.0, (B, L)).astype(np.float32)
    labels = rng.random((B, L)) < 0.4
    labels[0] = True
    labels[1] = False
    return jnp.asarray(logits), jnp.asarray(labels)


def _positive_indices(labels: np.ndarray) -> jax.Array:
    labels = np.asarray(labels)
    width = int(labels.sum(axis=1).max())
    rows = [[j for j in range(L) if labels[i, j]] for i in range(B)]
    return jnp.asarray([r + [-1] * (width - len(r)) for r in rows])


def _randomised(params: dict) -> dict:
    rng = np.random.default_rng(1)
    return {k: jnp.asarray(rng.random(v.shape) * 2.0 - (0.5 if k == "duals" else 1.0),
                           dtype=F32) for k, v in params.items()}


def _close(a, b, rtol=2e-5, atol=1e-6):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=atol)


# --------------------------------------------------------------------------------------------
# Values and gradients equal the core function's
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(CASES))
def test_value_and_gradient_equal_core(name: str) -> None:
    kwargs = CASES[name]
    loss_fn = getattr(mj, name)(**kwargs)
    params, state = loss_fn.init()
    params = _randomised(params)
    logits, labels = _inputs()
    target = _positive_indices(labels) if name.startswith("Sparse") else labels

    def adapter(z, p):
        loss, aux, new_state = loss_fn.apply(p, state, z, target)
        return loss, (aux, new_state)

    (loss, (aux, new_state)), (gz, gp) = jax.value_and_grad(
        adapter, argnums=(0, 1), has_aux=True)(logits, params)

    core = getattr(metricloss, loss_fn._spec.function_name)
    core_kwargs = {k: v for k, v in kwargs.items() if k not in CORE_ONLY}
    if loss_fn._spec.constrained:
        priors = jnp.asarray(common.running_priors(np.asarray(labels, dtype=np.float64)),
                             dtype=F32)

        def oracle(z, lam, bias):
            extra = {"biases": bias} if loss_fn._spec.has_biases else {}
            return core(z, target, **core_kwargs, lambdas=lam, label_priors=priors, **extra,
                        return_aux=False)

        lam = jnp.abs(params["duals"])
        bias = params.get("biases", jnp.zeros(()))
        expected, (ez, elam, ebias) = jax.value_and_grad(oracle, argnums=(0, 1, 2))(
            logits, lam, bias)
        f = loss_fn.config["dual_rate_factor"]
        _close(gp["duals"], -f * jnp.sign(params["duals"]) * elam)
        if loss_fn._spec.has_biases:
            _close(gp["biases"], ebias)
        _close(aux["label_priors"], priors)
        _close(new_state["label_prior_counts"], 1.0 + np.asarray(labels).sum(0))
    else:
        if loss_fn._spec.takes_stop_gradient:  # ASL: detached focusing weights by default
            core_kwargs["stop_gradient"] = jax.lax.stop_gradient
        expected, ez = jax.value_and_grad(lambda z: core(z, target, **core_kwargs))(logits)
        assert params == {} and state == {} and aux == {}
        _close(loss_fn(logits, target), expected)
    _close(loss, expected)
    _close(gz, ez)


# --------------------------------------------------------------------------------------------
# Dual ascent, closed form
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name,target", [("PrecisionAtRecallLoss", 0.9),
                                         ("RecallAtPrecisionLoss", 0.8)])
def test_one_sgd_step_moves_duals_by_eta_f_dL_dlambda(name: str, target: float) -> None:
    y = np.array([[1, 1], [1, 1], [0, 0], [0, 0], [1, 1], [0, 0]], dtype=np.float32)
    z = np.array([[-2.0, 6.0], [-1.0, 7.0], [2.0, -6.0], [1.0, -8.0], [-0.5, 9.0],
                  [0.5, -7.0]], dtype=np.float32)
    eta, f = 0.5, 0.3
    key = "target_recall" if name == "PrecisionAtRecallLoss" else "target_precision"
    loss_fn = getattr(mj, name)(**{key: target}, num_labels=2, dual_rate_factor=f)
    params, state = loss_fn.init()
    grads = jax.grad(lambda p: loss_fn.apply(p, state, jnp.asarray(z), jnp.asarray(y))[0])(
        params)
    new = jax.tree.map(lambda p, g: p - eta * g, params, grads)
    step = np.asarray(new["duals"] - params["duals"])
    expected = eta * f * common.dloss_dlambda(name, z, y, target)
    np.testing.assert_allclose(step, expected, rtol=1e-5, atol=1e-7)
    assert step[0] > 0 > step[1], "violated constraint: λ up; satisfied: λ down"


# --------------------------------------------------------------------------------------------
# Training on the original library's example
# --------------------------------------------------------------------------------------------


def _train(loss_fn, data, iterations: int = common.TRAIN_ITERATIONS):
    """Linear model, full-batch SGD at rate 1.0, one gradient step for model and loss params."""
    x = jnp.asarray(data["train_data"])
    y = jnp.asarray(data["train_labels"])
    loss_params, loss_state = loss_fn.init()
    params = {"model": {"w": jnp.full((2,), -1.0, F32), "b": jnp.zeros((), F32)},
              "loss": loss_params}

    def model(p, inputs):
        return inputs @ p["w"] + p["b"]

    @jax.jit
    def step(params, loss_state):
        def objective(p):
            loss, _, new_state = loss_fn.apply(p["loss"], loss_state, model(p["model"], x), y)
            return loss, new_state

        (_, loss_state), grads = jax.value_and_grad(objective, has_aux=True)(params)
        params = jax.tree.map(lambda p, g: p - common.LEARNING_RATE * g, params, grads)
        return params, loss_state

    for _ in range(iterations):
        params, loss_state = step(params, loss_state)
    scores = np.asarray(model(params["model"], jnp.asarray(data["eval_data"])))
    return scores, params, loss_state


def test_precision_at_recall_beats_cross_entropy_on_fresh_data() -> None:
    data = common.example_data(seed=0)
    go_scores, _, _ = _train(mj.PrecisionAtRecallLoss(
        target_recall=common.TARGET_RECALL, num_labels=1,
        dual_rate_factor=common.DUAL_RATE_FACTOR), data)
    ce_scores, _, _ = _train(mj.BinaryCrossEntropy(), data)
    go = common.precision_at_recall(go_scores, data["eval_labels"], common.TARGET_RECALL)
    ce = common.precision_at_recall(ce_scores, data["eval_labels"], common.TARGET_RECALL)
    print(f"jax: precision at recall 0.98 on fresh data: global objective {go:.3f}, "
          f"cross-entropy {ce:.3f}")
    assert go >= 0.75
    assert ce < 0.3


def test_recall_at_precision_meets_target_on_held_out_data() -> None:
    data = common.example_data(seed=0)
    scores, _, _ = _train(mj.RecallAtPrecisionLoss(target_precision=0.9, num_labels=1,
                                                   dual_rate_factor=1.0), data)
    assert common.precision(scores, data["eval_labels"]) >= 0.9 - 0.05
    assert float(np.mean(scores[data["eval_labels"] == 1] > 0)) > 0.5


# --------------------------------------------------------------------------------------------
# State: priors, pytrees through numpy.savez, jit
# --------------------------------------------------------------------------------------------


def test_priors_update_in_training_mode_only() -> None:
    logits, labels = _inputs()
    loss_fn = mj.PrecisionAtRecallLoss(target_recall=0.9, num_labels=L)
    params, state = loss_fn.init()
    _, _, trained = loss_fn.apply(params, state, logits, labels)
    _close(trained["label_prior_counts"], 1.0 + np.asarray(labels).sum(0))
    _close(trained["label_prior_weight_sum"], np.full(L, 2.0 + B))
    _, aux, frozen = loss_fn.apply(params, trained, logits, labels, training=False)
    assert frozen is trained
    _close(aux["label_priors"], (1.0 + np.asarray(labels).sum(0)) / (2.0 + B))
    _, no_aux, _ = loss_fn.apply(params, state, logits, labels, return_aux=False)
    assert no_aux == {}
    _, _, weighted = loss_fn.apply(params, state, logits, labels, weights=jnp.full((B,), 0.5))
    _close(weighted["label_prior_weight_sum"], np.full(L, 2.0 + B / 2))


def _save_load(tree: dict) -> dict:
    buffer = io.BytesIO()
    np.savez(buffer, **{k: np.asarray(v) for k, v in tree.items()})
    buffer.seek(0)
    with np.load(buffer) as f:
        return {k: jnp.asarray(f[k]) for k in f.files}


def test_pytree_round_trip_through_savez_continues_bit_identically() -> None:
    data = common.example_data(seed=0)
    loss_fn = mj.PrecisionRecallAUCLoss(num_labels=1, num_anchors=3, dual_rate_factor=2.0)
    x = jnp.asarray(data["train_data"][:256])
    y = jnp.asarray(data["train_labels"][:256])

    @jax.jit
    def step(params, loss_state):
        def objective(p):
            loss, _, s = loss_fn.apply(p["loss"], loss_state, x @ p["w"], y)
            return loss, s

        (loss, s), g = jax.value_and_grad(objective, has_aux=True)(params)
        return jax.tree.map(lambda p, d: p - 0.1 * d, params, g), s, loss

    loss_params, state = loss_fn.init()
    params = {"w": jnp.asarray([0.3, -0.2], F32), "loss": loss_params}
    for _ in range(3):
        params, state, _ = step(params, state)
    flat = {"w": params["w"], **{f"loss.{k}": v for k, v in params["loss"].items()}}
    restored_flat, restored_state = _save_load(flat), _save_load(state)
    restored = {"w": restored_flat["w"],
                "loss": {k[5:]: v for k, v in restored_flat.items() if k.startswith("loss.")}}
    assert set(restored["loss"]) == {"duals", "biases"}
    assert set(restored_state) == {"label_prior_counts", "label_prior_weight_sum"}
    for _ in range(3):
        params, state, a = step(params, state)
        restored, restored_state, b = step(restored, restored_state)
        assert np.array_equal(np.asarray(a), np.asarray(b))
    for u, v in zip(jax.tree.leaves((params, state)), jax.tree.leaves((restored,
                                                                       restored_state)),
                    strict=True):
        assert np.array_equal(np.asarray(u), np.asarray(v))


@pytest.mark.compiled
def test_jit_equals_eager() -> None:
    logits, labels = _inputs()
    loss_fn = mj.PrecisionRecallAUCLoss(num_labels=L, num_anchors=3)
    params, state = loss_fn.init()
    params = _randomised(params)

    def run(p, s, z, y):
        return loss_fn.apply(p, s, z, y)

    eager = run(params, state, logits, labels)
    jitted = jax.jit(run)(params, state, logits, labels)
    for u, v in zip(jax.tree.leaves(eager), jax.tree.leaves(jitted), strict=True):
        _close(u, v, rtol=1e-6, atol=1e-6)


def test_dual_param_labels_for_optax_multi_transform() -> None:
    loss_fn = mj.PrecisionRecallAUCLoss(num_labels=L, num_anchors=3)
    loss_params, _ = loss_fn.init()
    tree = {"model": {"dense": {"kernel": jnp.zeros((2, L)), "bias": jnp.zeros(L)}},
            "loss": loss_params}
    labels = mj.dual_param_labels(tree)
    assert labels == {"model": {"dense": {"kernel": "default", "bias": "default"}},
                      "loss": {"duals": "dual", "biases": "default"}}
    assert loss_fn.param_labels(loss_params, dual="d", default="x") == {"duals": "d",
                                                                        "biases": "x"}
    assert jax.tree.structure(labels) == jax.tree.structure(tree)


def test_dual_rate_factor_cancels_under_adam() -> None:
    """Documented: Adam normalises per parameter, so f = 0.1 and f = 1.0 give the same λ
    (a hand-written Adam: optax is not a dependency)."""
    logits, labels = _inputs()
    out = []
    for f in (0.1, 1.0):
        loss_fn = mj.PrecisionAtRecallLoss(target_recall=0.9, num_labels=L, dual_rate_factor=f)
        params, state = loss_fn.init()
        v = params["duals"]
        m = jnp.zeros_like(v)
        s = jnp.zeros_like(v)
        for t in range(1, 6):
            g = jax.grad(lambda d, fn=loss_fn, st=state: fn.apply({"duals": d}, st, logits,
                                                                  labels)[0])(v)
            m = 0.9 * m + 0.1 * g
            s = 0.999 * s + 0.001 * g * g
            v = v - 0.01 * (m / (1 - 0.9**t)) / (jnp.sqrt(s / (1 - 0.999**t)) + 1e-8)
        out.append(v)
    _close(out[0], out[1], rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------


def test_num_labels_mismatch_names_num_labels() -> None:
    logits, labels = _inputs()
    loss_fn = mj.PrecisionAtRecallLoss(target_recall=0.9, num_labels=L + 1)
    params, state = loss_fn.init()
    with pytest.raises(ValueError, match="num_labels"):
        loss_fn.apply(params, state, logits, labels)


def test_wrong_params_name_the_argument() -> None:
    logits, labels = _inputs()
    loss_fn = mj.PrecisionAtRecallLoss(target_recall=0.9, num_labels=L)
    params, state = loss_fn.init()
    with pytest.raises(ValueError, match="params"):
        loss_fn.apply({}, state, logits, labels)
    with pytest.raises(ValueError, match="state"):
        loss_fn.apply(params, params, logits, labels)
    with pytest.raises(TypeError, match="apply"):
        loss_fn(logits, labels)


def test_labels_out_of_range_name_labels() -> None:
    logits, _ = _inputs()
    bad = jnp.full((B, L), 2.0)
    loss_fn = mj.PrecisionAtRecallLoss(target_recall=0.9, num_labels=L)
    with pytest.raises(ValueError, match="labels"):
        loss_fn.apply(*loss_fn.init(), logits, bad)
    with pytest.raises(ValueError, match="labels"):
        mj.SigmoidF1Loss()(logits, bad)


@pytest.mark.parametrize("name", ["AnyLoss", "SigmoidF1Loss", "PrecisionAtRecallLoss"])
def test_probabilities_passed_as_logits_warn(name: str) -> None:
    logits, labels = _inputs()
    loss_fn = getattr(mj, name)(**CASES[name])
    with pytest.warns(UserWarning, match="logits"):
        loss_fn.apply(*loss_fn.init(), jax.nn.sigmoid(logits), labels)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fresh = getattr(mj, name)(**CASES[name])
        fresh.apply(*fresh.init(), logits, labels)
        if name == "AnyLoss":
            mj.AnyLoss(from_logits=False)(jax.nn.sigmoid(logits), labels)


def test_constructor_errors_name_the_argument() -> None:
    with pytest.raises(TypeError, match="num_labels"):
        mj.PrecisionAtRecallLoss(target_recall=0.9)
    with pytest.raises(TypeError, match="target_precision"):
        mj.PrecisionAtRecallLoss(num_labels=1, target_recall=0.9, target_precision=0.5)
    with pytest.raises(ValueError, match="num_anchors"):
        mj.PrecisionRecallAUCLoss(num_labels=1, num_anchors=0)
    logits, labels = _inputs()
    with pytest.raises(TypeError, match="weights"):
        mj.MultilabelCategoricalCrossentropy()(logits, labels, weights=jnp.ones(B))


@pytest.mark.compiled
@pytest.mark.parametrize("batch", [16, 12])
def test_unknown_batch_size_trace_equals_eager(batch: int) -> None:
    from tests.support import get_backend

    logits, labels = _inputs()
    logits, labels = logits[:batch], labels[:batch].astype(F32)
    loss_fn = mj.PrecisionAtRecallLoss(target_recall=0.9, num_labels=L)
    params, state = loss_fn.init()

    def run(z, y):
        return loss_fn.apply(params, state, z, y)

    expected = run(logits, labels)
    got = get_backend("jax").trace_unknown_batch(run, logits, labels)
    for u, v in zip(jax.tree.leaves(got), jax.tree.leaves(expected), strict=True):
        _close(u, v)


def test_bfloat16_logits_give_a_float32_loss() -> None:
    logits, labels = _inputs()
    loss_fn = mj.PrecisionRecallAUCLoss(num_labels=L, num_anchors=3)
    params, state = loss_fn.init()
    (loss, _), (gz, gp) = jax.value_and_grad(
        lambda z, p: loss_fn.apply(p, state, z, labels)[:2], argnums=(0, 1), has_aux=True)(
        logits.astype(jnp.bfloat16), params)
    assert loss.dtype == jnp.float32 and bool(jnp.isfinite(loss))
    assert gz.dtype == jnp.bfloat16 and bool(jnp.all(jnp.isfinite(gz)))
    assert bool(jnp.all(jnp.isfinite(gp["duals"])))
