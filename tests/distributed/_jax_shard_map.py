"""Run in a subprocess (JAX must see 4 host devices before it initialises): the shard-mapped
loss with ``axis_name=`` against the single-device loss on the concatenated batch. Prints one
JSON line of maximum absolute differences."""

from __future__ import annotations

import os

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"

import json

import jax
import jax.numpy as jnp
from jax.sharding import Mesh
from jax.sharding import PartitionSpec as P

from metricloss.backends import jax as ml

try:
    shard_map = jax.shard_map
except AttributeError:  # older JAX
    from jax.experimental.shard_map import shard_map

R, B, D, L, STEPS = 4, 6, 5, 3, 50
CASES = {
    "sigmoid_f1_macro": (ml.SigmoidF1Loss, {}),
    "mcc_micro": (ml.ConfusionMetricLoss, {"metric": "mcc", "average": "micro"}),
    "f1_samples_weighted": (ml.SigmoidF1Loss, {"average": "samples"}),
    "precision_at_recall": (ml.PrecisionAtRecallLoss, {"target_recall": 0.8, "num_labels": L}),
    "roc_auc": (ml.ROCAUCLoss, {"chunk_size": 4}),
    "auc_m": (ml.AUCMLoss, {"num_labels": L}),
}
mesh = Mesh(jax.devices()[:R], ("batch",))


def batch(i):
    kx, ky, kw = jax.random.split(jax.random.PRNGKey(i), 3)
    x = jax.random.normal(kx, (R * B, D))
    y = (jax.random.uniform(ky, (R * B, L)) < 0.3).astype(jnp.float32)
    return x, y, jax.random.uniform(kw, (R * B,)) + 0.5


def maxdiff(a, b):
    """The largest difference, relative to ``max(1, |b|)`` (the prior counts grow to ~400)."""
    return max((float(jnp.max(jnp.abs(u - v) / jnp.maximum(1.0, jnp.abs(v))))
                for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)),
               default=0.0)


def objective(loss_fn):
    def f(params, state, x, y, w):
        logits = x @ params["W"] + params["b"]
        loss, _, new_state = loss_fn.apply(params["loss"], state, logits, y, weights=w,
                                           return_aux=False)
        return loss, new_state
    return f


def sharded(loss_fn):
    return shard_map(objective(loss_fn), mesh=mesh,
                     in_specs=(P(), P(), P("batch"), P("batch"), P("batch")),
                     out_specs=(P(), P()))


def train(f, params, state):
    @jax.jit
    def step(params, state, x, y, w):
        (_, state), g = jax.value_and_grad(f, has_aux=True)(params, state, x, y, w)
        return jax.tree.map(lambda p, d: p - 0.5 * d, params, g), state
    for i in range(STEPS):
        params, state = step(params, state, *batch(i))
    return params, state


results = {}
for name, (cls, kw) in CASES.items():
    single, synced = cls(**kw), cls(axis_name="batch", **kw)
    loss_params, state = single.init()
    k1, k2 = jax.random.split(jax.random.PRNGKey(42))
    params = {"W": 0.5 * jax.random.normal(k1, (D, L)), "b": jnp.zeros(L), "loss": loss_params}
    x, y, w = batch(0)
    ref = jax.value_and_grad(objective(single), has_aux=True)(params, state, x, y, w)
    out = jax.jit(jax.value_and_grad(sharded(synced), has_aux=True))(params, state, x, y, w)
    results[name] = {"loss": maxdiff(ref[0][0], out[0][0]), "state": maxdiff(ref[0][1], out[0][1]),
                     "grads": maxdiff(ref[1], out[1])}
    if name in ("sigmoid_f1_macro", "precision_at_recall"):
        p_ref, s_ref = train(objective(single), params, state)
        p_out, s_out = train(sharded(synced), params, state)
        results[name]["trained"] = maxdiff((p_ref, s_ref), (p_out, s_out))
    # Without axis_name: the mean of the shards' own losses (each its shard's metric).
    own = objective(single)
    local = shard_map(lambda *a, f=own: jax.lax.pmean(f(*a)[0], "batch"), mesh=mesh,
                      in_specs=(P(), P(), P("batch"), P("batch"), P("batch")), out_specs=P())
    results[name]["unsynced_loss_gap"] = float(abs(local(params, state, x, y, w)
                                                   - ref[0][0]))
print(json.dumps(results))
