"""Run in a subprocess (logical devices before TensorFlow initialises): under
``MirroredStrategy`` over 2 logical CPUs, (1) the core ``curve_state_update`` with
``all_reduce=`` the replica context's sum, (2) the Keras ``AveragePrecision`` and
``TunedF1Score`` metrics in ``model.evaluate``, against one device's state and the core on the
model's predictions. Prints one JSON line of differences."""

from __future__ import annotations

import json
import os

os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])

import keras  # noqa: E402

import metricloss as ml  # noqa: E402
from metricloss.backends import keras as mk  # noqa: E402

L, BINS = 3, 64
rng = np.random.default_rng(0)
z = rng.normal(size=(96, L)).astype("float32")
y = rng.random((96, L)) < 0.3
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
out = {}

# (1) The core under the replica context's all_reduce.
ref = ml.curve_state_update(ml.curve_state_init(L, num_bins=BINS, xp=tf), tf.constant(z),
                            tf.constant(y))
dataset = strategy.experimental_distribute_dataset(
    tf.data.Dataset.from_tensor_slices((z, y)).batch(96))


@tf.function
def synced(z_, y_):
    ctx = tf.distribute.get_replica_context()
    state = ml.curve_state_init(L, num_bins=BINS, xp=tf)
    return ml.curve_state_update(state, z_, y_, weights=None,
                                 all_reduce=lambda x: ctx.all_reduce("sum", x))


for zb, yb in dataset:
    per_replica = strategy.run(synced, args=(zb, yb))
states = strategy.experimental_local_results(per_replica)
out["core_synced"] = max(float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
                         for s in states for a, b in zip(s, ref, strict=True))

# (2) Keras metrics under the strategy: evaluate reports the core's numbers.
x = rng.normal(size=(203, 5)).astype("float32")
labels = (rng.random((203, L)) < 0.4).astype("float32")
with strategy.scope():
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(L)])
    model.compile(loss=keras.losses.BinaryCrossentropy(from_logits=True),
                  metrics=[mk.AveragePrecision(L, from_logits=True, num_bins=BINS),
                           mk.TunedF1Score(L, from_logits=True, num_bins=BINS)])
got = model.evaluate(x, labels, batch_size=32, verbose=0, return_dict=True)
pred = np.asarray(model.predict(x, batch_size=32, verbose=0))
state = ml.curve_state_update(ml.curve_state_init(L, num_bins=BINS), pred, labels)
out["keras_ap"] = abs(got["average_precision"] - float(ml.average_precision_score(state)))
out["keras_f1"] = abs(got["tuned_f1_score"]
                      - float(ml.streaming.state_metric(state, "tuned_f1")))
print(json.dumps(out))
