"""Run in a subprocess (TensorFlow's logical devices must be set before it initialises):
``MirroredStrategy`` over 2 logical CPU devices, the core losses with ``all_reduce=`` the
replica context's sum, against one device on the concatenated batch. Prints one JSON line of
maximum differences (relative to ``max(1, |reference|)``)."""

from __future__ import annotations

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])

import metricloss  # noqa: E402

R, B, D, L, STEPS = 2, 8, 5, 3, 50
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])


def sigmoid_f1(logits, y, w, lam, all_reduce):
    return metricloss.sigmoid_f1_loss(logits, y, all_reduce=all_reduce)


def mcc_micro(logits, y, w, lam, all_reduce):
    return metricloss.confusion_metric_loss(logits, y, metric="mcc", average="micro",
                                            weights=w, all_reduce=all_reduce)


def precision_at_recall(logits, y, w, lam, all_reduce):
    lambdas = metricloss.dual_value(lam, 0.1, tf.stop_gradient)
    return metricloss.precision_at_recall_loss(logits, y, target_recall=0.8, lambdas=lambdas,
                                               weights=w, all_reduce=all_reduce)


def roc_auc(logits, y, w, lam, all_reduce):
    gather = None
    if all_reduce is not None:  # the all-gathered form: the replica context's gather
        ctx = tf.distribute.get_replica_context()
        gather = lambda t: ctx.all_gather(t, axis=0)  # noqa: E731
    return metricloss.roc_auc_loss(logits, y, weights=w, chunk_size=5, all_gather=gather,
                                   all_reduce=all_reduce)


CASES = {"sigmoid_f1_macro": sigmoid_f1, "mcc_micro": mcc_micro,
         "precision_at_recall": precision_at_recall, "roc_auc": roc_auc}


def batch(i):
    g = tf.random.Generator.from_seed(100 + i)
    x = g.normal((R * B, D))
    y = tf.cast(g.uniform((R * B, L)) < 0.3, tf.float32)
    return x, y, g.uniform((R * B,)) + 0.5


def make_vars():
    init = tf.random.Generator.from_seed(7).normal((D, L)) * 0.5
    return [tf.Variable(init), tf.Variable(tf.zeros(L)), tf.Variable(tf.ones(L))]


def single(fn, variables, x, y, w):
    with tf.GradientTape() as tape:
        W, b, lam = variables
        loss = fn(x @ W + b, y, w, lam, None)
    return loss, _dense(tape.gradient(loss, variables), variables)


def _dense(grads, variables):
    return [tf.zeros_like(v) if g is None else g for g, v in zip(grads, variables, strict=True)]


def distributed(fn, variables, x, y, w, sync=True):
    def shard(t):
        return strategy.experimental_distribute_values_from_function(
            lambda ctx: t[ctx.replica_id_in_sync_group * B:(ctx.replica_id_in_sync_group + 1) * B])

    def replica(xs, ys, ws):
        ctx = tf.distribute.get_replica_context()

        def all_reduce(t):
            return ctx.all_reduce(tf.distribute.ReduceOp.SUM, t)

        with tf.GradientTape() as tape:
            W, b, lam = variables
            loss = fn(xs @ W + b, ys, ws, lam, all_reduce if sync else None)
            # TensorFlow's convention: each replica's loss over the number of replicas, the
            # gradients summed (as Keras' fit and tf.nn.compute_average_loss do).
            scaled = loss / ctx.num_replicas_in_sync
        return loss, _dense(tape.gradient(scaled, variables), variables)

    losses, grads = strategy.run(replica, args=(shard(x), shard(y), shard(w)))
    grads = [strategy.reduce(tf.distribute.ReduceOp.SUM, g, axis=None) for g in grads]
    return strategy.experimental_local_results(losses), grads


def rel(a, b):
    return float(tf.reduce_max(tf.abs(a - b) / tf.maximum(1.0, tf.abs(b))))


results = {}
for name, fn in CASES.items():
    x, y, w = batch(0)
    ref_loss, ref_grads = single(fn, make_vars(), x, y, w)
    with strategy.scope():
        variables = make_vars()
    step = tf.function(lambda x, y, w, fn=fn, v=variables: distributed(fn, v, x, y, w))
    losses, grads = step(x, y, w)
    unsynced, _ = tf.function(
        lambda x, y, w, fn=fn, v=variables: distributed(fn, v, x, y, w, sync=False))(x, y, w)
    out = {"loss": max(rel(v, ref_loss) for v in losses),
           "grads": max(rel(g, r) for g, r in zip(grads, ref_grads, strict=True)),
           "unsynced_loss_gap": max(float(abs(v - ref_loss)) for v in unsynced)}
    if name in ("sigmoid_f1_macro", "precision_at_recall"):
        ref_vars = make_vars()
        for i in range(STEPS):
            _, g = single(fn, ref_vars, *batch(i))
            for v, d in zip(ref_vars, g, strict=True):
                v.assign_sub(0.5 * d)
        for i in range(STEPS):
            _, g = step(*batch(i))
            for v, d in zip(variables, g, strict=True):
                v.assign_sub(0.5 * d)
        out["trained"] = max(rel(v, r) for v, r in zip(variables, ref_vars, strict=True))
    results[name] = out
print(json.dumps(results))
