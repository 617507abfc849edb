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
CONSTRAINED = [n for n in CASES if "num_labels" in CASES[n]]


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
    if name in CONSTRAINED:  # the duals as params: their gradient is checked too
        kwargs = {**kwargs, "dual_update": "gradient_reversal"}
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
    loss_fn = getattr(mj, name)(**{key: target}, num_labels=2, dual_rate_factor=f,
                                dual_update="gradient_reversal")
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
        target_recall=common.TARGET_RECALL, num_labels=1, dual_update="gradient_reversal",
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
                                                   dual_update="gradient_reversal",
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
    loss_fn = mj.PrecisionRecallAUCLoss(num_anchors=3)  # num_labels from init's example
    x = jnp.asarray(data["train_data"][:256])
    y = jnp.asarray(data["train_labels"][:256])

    @jax.jit
    def step(params, loss_state):
        def objective(p):
            loss, _, s = loss_fn.apply(p["loss"], loss_state, x @ p["w"], y)
            return loss, s

        (loss, s), g = jax.value_and_grad(objective, has_aux=True)(params)
        return jax.tree.map(lambda p, d: p - 0.1 * d, params, g), s, loss

    loss_params, state = loss_fn.init(x @ jnp.zeros(2))
    params = {"w": jnp.asarray([0.3, -0.2], F32), "loss": loss_params}
    for _ in range(3):
        params, state, _ = step(params, state)
    flat = {"w": params["w"], **{f"loss.{k}": v for k, v in params["loss"].items()}}
    restored_flat, restored_state = _save_load(flat), _save_load(state)
    restored = {"w": restored_flat["w"],
                "loss": {k[5:]: v for k, v in restored_flat.items() if k.startswith("loss.")}}
    assert set(restored["loss"]) == {"biases"}
    assert set(restored_state) == {"duals", "label_prior_counts", "label_prior_weight_sum"}
    assert not np.array_equal(np.asarray(restored_state["duals"]), np.ones((1, 3)))
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
    loss_fn = mj.PrecisionRecallAUCLoss(num_labels=L, num_anchors=3,
                                        dual_update="gradient_reversal")
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
        loss_fn = mj.PrecisionAtRecallLoss(target_recall=0.9, num_labels=L, dual_rate_factor=f,
                                           dual_update="gradient_reversal")
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
    with pytest.raises(ValueError, match="params"):  # the owned duals belong in state
        loss_fn.apply({"duals": state["duals"]}, state, logits, labels)
    with pytest.raises(ValueError, match="state"):
        loss_fn.apply(params, {}, logits, labels)
    with pytest.raises(ValueError, match=r"state\['duals'\]"):
        loss_fn.apply(params, {**state, "duals": jnp.ones(L + 1)}, logits, labels)
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
    assert bool(jnp.all(jnp.isfinite(gp["biases"])))


# --------------------------------------------------------------------------------------------
# Loss-owned duals (issue 20) and num_labels from an example (issue 21)
# --------------------------------------------------------------------------------------------


def test_one_training_call_moves_duals_by_rate_times_hard_violation() -> None:
    loss_fn = mj.RecallAtPrecisionLoss(target_precision=common.DUAL_STEP_TARGET,
                                       dual_rate=common.DUAL_STEP_RATE,
                                       dual_max=common.DUAL_STEP_MAX)
    params, state = loss_fn.init(common.DUAL_STEP_LOGITS.shape)
    assert params == {} and state["duals"].shape == (4,)
    state = {**state, "duals": jnp.asarray(common.DUAL_STEP_BEFORE, F32)}
    z = jnp.asarray(common.DUAL_STEP_LOGITS, F32)
    y = jnp.asarray(common.DUAL_STEP_LABELS, F32)
    _, _, new_state = jax.jit(loss_fn.apply)(params, state, z, y)
    expected, raw = common.dual_step_expected()
    _close(new_state["duals"], expected, rtol=1e-6, atol=1e-7)
    assert raw[2] < 0.0 == float(new_state["duals"][2])
    assert raw[3] > common.DUAL_STEP_MAX == float(new_state["duals"][3])
    # no gradient reaches the duals, and eval mode takes no step
    grad = jax.grad(lambda s: loss_fn.apply(params, s, z, y)[0])(state)
    assert not np.any(np.asarray(grad["duals"]))
    _, _, frozen = loss_fn.apply(params, state, z, y, training=False)
    assert frozen is state


def test_update_duals_is_pure_and_jittable() -> None:
    logits, labels = _inputs()
    loss_fn = mj.PrecisionAtRecallLoss(target_recall=0.8, dual_source="held_out")
    params, state = loss_fn.init(logits)
    _, _, trained = loss_fn.apply(params, state, logits, labels)
    _close(trained["duals"], np.ones(L))  # held_out: the training call takes no step
    new = jax.jit(loss_fn.update_duals)(trained, logits, labels)
    priors = np.asarray(trained["label_prior_counts"] / trained["label_prior_weight_sum"])
    g = common.hard_violation("precision_at_recall", np.asarray(logits), np.asarray(labels),
                              0.8, priors)
    _close(new["duals"], np.clip(1.0 + 0.5 * g, 0.0, 100.0))
    for key in ("label_prior_counts", "label_prior_weight_sum"):
        assert np.array_equal(np.asarray(new[key]), np.asarray(trained[key]))
    _close(trained["duals"], np.ones(L))  # the input state is not changed
    pr_auc = mj.PrecisionRecallAUCLoss(num_anchors=2)
    p, s = pr_auc.init(logits)
    with pytest.raises(ValueError, match="params="):
        pr_auc.update_duals(s, logits, labels)
    assert pr_auc.update_duals(s, logits, labels, params=p)["duals"].shape == (L, 2)
    reversal = mj.PrecisionAtRecallLoss(target_recall=0.8, num_labels=L,
                                        dual_update="gradient_reversal")
    with pytest.raises(TypeError, match="gradient_reversal"):
        reversal.update_duals(reversal.init()[1], logits, labels)


def test_duals_move_with_an_optimizer_of_the_model_params_only() -> None:
    """SGD on the model's params alone (optax is not a test dependency: written out): the
    duals (in state) still move, and the constraint holds on fresh data of the original
    example."""
    data = common.example_data(seed=0)
    x, y = jnp.asarray(data["train_data"]), jnp.asarray(data["train_labels"])
    loss_fn = mj.RecallAtPrecisionLoss(target_precision=0.9)
    loss_params, loss_state = loss_fn.init((x.shape[0],))
    assert loss_params == {}
    model_params = {"w": jnp.full((2,), -1.0, F32), "b": jnp.zeros((), F32)}

    @jax.jit
    def step(model_params, loss_state):
        def objective(p):
            loss, _, new_state = loss_fn.apply(loss_params, loss_state, x @ p["w"] + p["b"], y)
            return loss, new_state

        (_, loss_state), grads = jax.value_and_grad(objective, has_aux=True)(model_params)
        model_params = jax.tree.map(lambda p, g: p - common.LEARNING_RATE * g, model_params,
                                    grads)
        return model_params, loss_state

    duals = []
    for _ in range(common.TRAIN_ITERATIONS):
        model_params, loss_state = step(model_params, loss_state)
        duals.append(float(loss_state["duals"][0]))
    assert len(set(duals)) > 10
    scores = np.asarray(jnp.asarray(data["eval_data"]) @ model_params["w"] + model_params["b"])
    assert common.precision(scores, data["eval_labels"]) >= 0.9 - 0.03
    assert float(np.mean(scores[data["eval_labels"] == 1] > 0)) > 0.5


def test_init_from_an_example_or_a_shape() -> None:
    logits, labels = _inputs()
    loss_fn = mj.PrecisionRecallAUCLoss(num_anchors=3)
    with pytest.raises(ValueError, match="num_labels"):
        loss_fn.init()
    from_array = loss_fn.init(logits)
    from_shape = loss_fn.init((B, L))
    from_struct = loss_fn.init(jax.ShapeDtypeStruct((B, L), F32))
    given = mj.PrecisionRecallAUCLoss(num_anchors=3, num_labels=L).init()
    for tree in (from_shape, from_struct, given):
        assert jax.tree.map(jnp.shape, tree) == jax.tree.map(jnp.shape, from_array)
    assert loss_fn.init((B,))[1]["duals"].shape == (1, 3)
    loss_fn.apply(*from_array, logits, labels)
    with pytest.raises(ValueError, match="num_labels"):
        mj.PrecisionRecallAUCLoss(num_anchors=3, num_labels=L + 1).init(logits)
    with pytest.raises(ValueError, match="num_labels"):  # state of 3 labels, logits of 2
        loss_fn.apply(*from_array, logits[:, :2], labels[:, :2])


def test_first_hour_messages() -> None:
    with pytest.raises(TypeError, match=r"RecallAtPrecisionLoss\(\) takes keyword arguments"):
        mj.RecallAtPrecisionLoss(0.8)
    with pytest.raises(ValueError, match="target_precision"):
        mj.RecallAtPrecisionLoss(target_precision=1.5)
    with pytest.raises(ValueError, match="precision_range"):
        mj.PrecisionRecallAUCLoss(precision_range=(-0.1, 1.0))
    logits, labels = _inputs()
    loss_fn = mj.RecallAtPrecisionLoss(target_precision=1.0)  # (0, 1]: 1.0 is valid
    with pytest.raises(ValueError, match="labels must have the shape of logits"):
        loss_fn.apply(*loss_fn.init(logits), logits, labels[:, :2])
    with warnings.catch_warnings():  # an all-zero head: no probabilities hint
        warnings.simplefilter("error")
        mj.SigmoidF1Loss()(jnp.zeros((B, L)), labels)
