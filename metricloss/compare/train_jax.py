"""The comparison's JAX trainer: the MLP as a pytree, the init/apply adapters of
metricloss.backends.jax, Adam (optax's when installed, else a few lines of the same Adam)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from metricloss.backends import jax as adapters
from metricloss.compare.protocol import Options, Prepared, TrainResult


def build_losses(components: list[tuple[str, dict[str, Any]]], num_labels: int) -> list[Any]:
    out = []
    for name, kwargs in components:
        cls = getattr(adapters, name)
        if "num_labels" in cls._spec.adapter_keywords():  # constrained, AUC-M
            kwargs = {**kwargs, "num_labels": num_labels}
        if cls._spec.constrained:  # dual steps from validation batches (see the torch trainer)
            kwargs = {**kwargs, "dual_source": "held_out"}
        out.append(cls(**kwargs))
    return out


def mlp_init(key: Any, features: int, hidden: int, labels: int) -> dict[str, Any]:
    """Glorot-uniform weights, zero biases (as the torch and Keras trainers)."""
    k1, k2 = jax.random.split(key)

    def glorot(k: Any, fan_in: int, fan_out: int) -> Any:
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        return jax.random.uniform(k, (fan_in, fan_out), jnp.float32, -limit, limit)

    return {"w1": glorot(k1, features, hidden), "b1": jnp.zeros(hidden, jnp.float32),
            "w2": glorot(k2, hidden, labels), "b2": jnp.zeros(labels, jnp.float32)}


def mlp_apply(params: dict[str, Any], x: Any, *, dropout: float = 0.0, key: Any = None) -> Any:
    h = jax.nn.relu(x @ params["w1"] + params["b1"])
    if key is not None and dropout > 0:
        keep = jax.random.bernoulli(key, 1.0 - dropout, h.shape)
        h = jnp.where(keep, h / (1.0 - dropout), 0.0)
    return h @ params["w2"] + params["b2"]


def _adam(lr: float) -> Any:
    """optax.adam(lr) when optax is installed; else the same update, written out."""
    try:
        import optax
    except ImportError:
        pass
    else:
        return optax.adam(lr)

    class _Adam:
        b1, b2, eps = 0.9, 0.999, 1e-8

        def init(self, params: Any) -> Any:
            zeros = jax.tree.map(jnp.zeros_like, params)
            return (jnp.zeros((), jnp.int32), zeros, zeros)

        def update(self, grads: Any, state: Any, params: Any = None) -> Any:
            t, m, v = state
            t = t + 1
            m = jax.tree.map(lambda m, g: self.b1 * m + (1 - self.b1) * g, m, grads)
            v = jax.tree.map(lambda v, g: self.b2 * v + (1 - self.b2) * g * g, v, grads)
            c1, c2 = 1 - self.b1 ** t, 1 - self.b2 ** t
            updates = jax.tree.map(
                lambda m, v: -lr * (m / c1) / (jnp.sqrt(v / c2) + self.eps), m, v)
            return updates, (t, m, v)

    return _Adam()


def train(components: list[tuple[str, dict[str, Any]]], data: Prepared, options: Options,
          on_epoch: Callable[[float], None] | None = None) -> TrainResult:
    """Train the MLP with the sum of ``components``; the validation and test logits."""
    key = jax.random.PRNGKey(options.seed)
    key, init_key = jax.random.split(key)
    x, y = jnp.asarray(data.x_train), jnp.asarray(data.y_train)
    losses = build_losses(components, y.shape[1])
    inits = [loss.init() for loss in losses]
    # One pytree, one optimizer: the model's weights and the losses' duals/biases (the
    # gradient reversal of dual_value turns the descent into an ascent on λ).
    params: dict[str, Any] = {"model": mlp_init(init_key, x.shape[1], options.hidden, y.shape[1]),
              "losses": [p for p, _ in inits]}
    loss_states = [s for _, s in inits]
    tx = _adam(options.lr)
    opt_state = tx.init(params)

    @jax.jit
    def step(params: Any, loss_states: Any, opt_state: Any, xb: Any, yb: Any, key: Any
             ) -> Any:
        def objective(p: Any) -> Any:
            logits = mlp_apply(p["model"], xb, dropout=options.dropout, key=key)
            total, new_states = 0.0, []
            for loss, lp, ls in zip(losses, p["losses"], loss_states, strict=True):
                value, _, ls = loss.apply(lp, ls, logits, yb, training=True)
                total = total + value
                new_states.append(ls)
            return total, new_states

        (value, new_states), grads = jax.value_and_grad(objective, has_aux=True)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        params = jax.tree.map(lambda p, u: p + u, params, updates)
        return params, new_states, opt_state, value

    held_out = [i for i, loss in enumerate(losses)
                if getattr(loss, "config", {}).get("dual_source") == "held_out"]

    @jax.jit
    def held_out_step(params: Any, loss_states: Any, xb: Any, yb: Any) -> Any:
        """One dual step of each constrained loss from a validation batch (no dropout)."""
        logits = mlp_apply(params["model"], xb)
        states = list(loss_states)
        for i in held_out:
            states[i] = losses[i].update_duals(states[i], logits, yb,
                                               params=params["losses"][i])
        return states

    xv, yv = jnp.asarray(data.x_val), jnp.asarray(data.y_val)
    val_order = np.random.default_rng(options.seed + 1).permutation(xv.shape[0])
    val_at = 0
    rng = np.random.default_rng(options.seed)
    epoch_losses: list[float] = []
    start = time.perf_counter()
    n = x.shape[0]
    for _ in range(options.epochs):
        total, batches = 0.0, 0
        order = rng.permutation(n)
        for begin in range(0, n, options.batch_size):
            idx = jnp.asarray(order[begin:begin + options.batch_size])
            key, sub = jax.random.split(key)
            params, loss_states, opt_state, value = step(params, loss_states, opt_state,
                                                         x[idx], y[idx], sub)
            if held_out:
                vidx = jnp.asarray(val_order[val_at:val_at + options.batch_size])
                val_at = (val_at + options.batch_size) % max(int(xv.shape[0]), 1)
                loss_states = held_out_step(params, loss_states, xv[vidx], yv[vidx])
            total += float(value)
            batches += 1
        epoch_losses.append(total / max(batches, 1))
        if on_epoch is not None:
            on_epoch(epoch_losses[-1])
    seconds = time.perf_counter() - start
    val = np.asarray(mlp_apply(params["model"], jnp.asarray(data.x_val)), dtype=np.float64)
    test = np.asarray(mlp_apply(params["model"], jnp.asarray(data.x_test)), dtype=np.float64)
    return TrainResult(val, test, seconds, epoch_losses)
