"""Run in a subprocess (JAX must see 4 host devices before it initialises): a CurveState
updated under ``shard_map`` with ``all_reduce=psum`` (every shard holds the global stream's
state) and one updated per shard then summed once, against one device's state of the whole
stream. Prints one JSON line of maximum absolute differences."""

from __future__ import annotations

import os

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"

import json
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh
from jax.sharding import PartitionSpec as P

import metricloss as ml

try:
    shard_map = jax.shard_map
except AttributeError:  # older JAX
    from jax.experimental.shard_map import shard_map

R, B, L, BINS = 4, 32, 3, 64
mesh = Mesh(jax.devices()[:R], ("batch",))
rng = np.random.default_rng(0)
batches = [(jnp.asarray(rng.normal(size=(R * B, L)), jnp.float32),
            jnp.asarray(rng.random((R * B, L)) < 0.3),
            jnp.asarray(rng.random(R * B) + 0.5, jnp.float32)) for _ in range(3)]
init = ml.curve_state_init(L, num_bins=BINS, xp=jnp)


@jax.jit
def single(state, z, y, w):
    return ml.curve_state_update(state, z, y, weights=w)


psum = partial(jax.lax.psum, axis_name="batch")


@jax.jit
@partial(shard_map, mesh=mesh, in_specs=(P(), P("batch"), P("batch"), P("batch")),
         out_specs=P())
def synced(state, z, y, w):
    return ml.curve_state_update(state, z, y, weights=w, all_reduce=psum)


@jax.jit
@partial(shard_map, mesh=mesh, in_specs=(P("batch"), P("batch"), P("batch"), P("batch")),
         out_specs=P("batch"))
def local(states, z, y, w):  # each shard its own state (a leading axis of 1 per shard)
    state = jax.tree.map(lambda a: a[0], states)
    new = ml.curve_state_update(state, z, y, weights=w)
    return jax.tree.map(lambda a: a[None], new)


ref = s_sync = init
s_local = jax.tree.map(lambda a: jnp.stack([a] * R), init)
for z, y, w in batches:
    ref = single(ref, z, y, w)
    s_sync = synced(s_sync, z, y, w)
    s_local = local(s_local, z, y, w)
summed = jax.tree.map(lambda a: jnp.sum(a, axis=0), s_local)


def maxdiff(a, b):
    return max(float(np.max(np.abs(np.asarray(u) - np.asarray(v))))
               for u, v in zip(a, b, strict=True))


print(json.dumps({
    "synced": maxdiff(s_sync, ref),
    "summed": maxdiff(summed, ref),
    "ap": abs(float(ml.average_precision_score(s_sync)) - float(ml.average_precision_score(ref))),
    "one_shard_gap": maxdiff(jax.tree.map(lambda a: a[0], s_local), ref),
}))
