"""The AUC-M adapters (torch ``AUCMLoss``, JAX ``AUCMLoss``): the loss equals the core's at the
stored ``a``, ``b``, ``α``; a training call stores exactly one step of the pure dynamics
(:func:`metricloss.dual_step` on :func:`metricloss.auc_m_alpha_gradient`,
:func:`metricloss.update_auc_m_means`); eval freezes; ``ab_update="trainable"`` makes ``a``,
``b`` parameters. The Keras class is tested in test_keras.py (its own sessions).
"""

from __future__ import annotations

import numpy as np
import pytest

import metricloss
from tests.support import selected_backends

B, L = 8, 3


def _data(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=2.0, size=(B, L))
    y = (rng.random((B, L)) < 0.3).astype(np.float64)
    y[0, :], y[1, :] = 1.0, 0.0
    y[:, 2] = 0.0  # a label without positives: α and a stay put
    return z, y, rng.uniform(0.5, 1.5, size=B)


def _expected_state(state: dict[str, np.ndarray], z: np.ndarray, y: np.ndarray,
                    w: np.ndarray, config: dict) -> dict[str, np.ndarray]:
    g = metricloss.auc_m_alpha_gradient(z, y, alpha=state["alpha"], margin=config["margin"],
                                        weights=w)
    alpha = metricloss.dual_step(state["alpha"], g, rate=config["alpha_rate"],
                                 max_value=config["alpha_max"])
    a, b = metricloss.update_auc_m_means(state["a"], state["b"], z, y,
                                         momentum=config["ab_momentum"], weights=w)
    return {"a": a, "b": b, "alpha": alpha}


STATE = {"a": np.array([0.7, 0.6, 0.5]), "b": np.array([0.2, 0.3, 0.1]),
         "alpha": np.array([0.4, 1.2, 0.9])}
OPTIONS = {"num_labels": L, "margin": 0.8, "alpha_rate": 0.3, "ab_momentum": 0.2}


@pytest.mark.skipif("torch" not in selected_backends(), reason="torch not selected")
def test_torch_loss_gradients_and_one_step_of_state() -> None:
    torch = pytest.importorskip("torch")
    mt = pytest.importorskip("metricloss.backends.torch")
    z, y, w = _data()
    loss_fn = mt.AUCMLoss(**OPTIONS, dtype=torch.float64)
    with torch.no_grad():
        for k, v in STATE.items():
            getattr(loss_fn, k).copy_(torch.tensor(v))
    assert [n for n, _ in loss_fn.named_parameters()] == []
    zt = torch.tensor(z, requires_grad=True)
    loss = loss_fn(zt, torch.tensor(y), torch.tensor(w))
    loss.backward()
    z2 = torch.tensor(z, requires_grad=True)
    expected = metricloss.auc_m_loss(z2, torch.tensor(y), weights=torch.tensor(w), margin=0.8,
                                     **{k: torch.tensor(v) for k, v in STATE.items()})
    (g,) = torch.autograd.grad(expected, [z2])
    torch.testing.assert_close(loss, expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(zt.grad, g, rtol=1e-12, atol=1e-12)
    new = _expected_state(STATE, z, y, w, loss_fn.config)
    for k, v in new.items():
        np.testing.assert_allclose(getattr(loss_fn, k).numpy(), v, rtol=1e-12)
    assert loss_fn.a[2].item() == STATE["a"][2]  # no positives: kept
    # eval() freezes the state; the state dict holds it.
    loss_fn.eval()
    loss_fn(torch.tensor(z), torch.tensor(y))
    for k, v in new.items():
        np.testing.assert_allclose(getattr(loss_fn, k).numpy(), v, rtol=1e-12)
    assert sorted(loss_fn.state_dict()) == ["a", "alpha", "b"]


@pytest.mark.skipif("torch" not in selected_backends(), reason="torch not selected")
def test_torch_trainable_a_b_are_parameters_with_the_cores_gradients() -> None:
    torch = pytest.importorskip("torch")
    mt = pytest.importorskip("metricloss.backends.torch")
    z, y, _ = _data(1)
    loss_fn = mt.AUCMLoss(num_labels=L, ab_update="trainable", dtype=torch.float64)
    assert [n for n, _ in loss_fn.named_parameters()] == ["a", "b"]
    loss_fn(torch.tensor(z), torch.tensor(y)).backward()
    a, b = torch.zeros(L, dtype=torch.float64, requires_grad=True), \
        torch.zeros(L, dtype=torch.float64, requires_grad=True)
    expected = metricloss.auc_m_loss(torch.tensor(z), torch.tensor(y), a=a, b=b,
                                     alpha=torch.zeros(L, dtype=torch.float64))
    ga, gb = torch.autograd.grad(expected, [a, b])
    torch.testing.assert_close(loss_fn.a.grad, ga)
    torch.testing.assert_close(loss_fn.b.grad, gb)
    with pytest.raises(ValueError, match="ab_update"):
        mt.AUCMLoss(num_labels=L, ab_update="pesg")
    with pytest.raises(ValueError, match="num_labels=3 but the logits have 2"):
        mt.AUCMLoss(num_labels=L)(-torch.ones(4, 2), torch.zeros(4, 2))


@pytest.mark.skipif("jax" not in selected_backends(), reason="jax not selected")
def test_jax_apply_is_pure_and_jittable() -> None:
    jax = pytest.importorskip("jax")
    jnp = pytest.importorskip("jax.numpy")
    mj = pytest.importorskip("metricloss.backends.jax")
    z, y, w = (jnp.asarray(a, dtype=jnp.float32) for a in _data(2))
    loss_fn = mj.AUCMLoss(**OPTIONS)
    params, state = loss_fn.init()
    assert params == {} and sorted(state) == ["a", "alpha", "b"]
    state = {k: jnp.asarray(v, dtype=jnp.float32) for k, v in STATE.items()}
    step = jax.jit(lambda s, t: loss_fn.apply(params, s, t, y, weights=w))
    loss, aux, new_state = step(state, z)
    expected = metricloss.auc_m_loss(jnp.asarray(z), jnp.asarray(y), weights=jnp.asarray(w),
                                     margin=0.8, **state)
    np.testing.assert_allclose(loss, expected, rtol=1e-6)
    assert aux == {}
    for k, v in _expected_state({k: np.asarray(v) for k, v in state.items()}, np.asarray(z),
                                np.asarray(y), np.asarray(w), loss_fn.config).items():
        np.testing.assert_allclose(new_state[k], v, rtol=1e-5, atol=1e-7)
    _, _, same = loss_fn.apply(params, state, z, y, training=False)
    assert same is state
    grad = jax.grad(lambda t: loss_fn.apply(params, state, t, y)[0])(jnp.asarray(z))
    expected_grad = jax.grad(lambda t: metricloss.auc_m_loss(t, jnp.asarray(y), margin=0.8,
                                                             **state))(jnp.asarray(z))
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-5, atol=1e-8)
