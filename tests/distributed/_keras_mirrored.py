"""Run in a subprocess (logical devices before TensorFlow initialises; Keras on its TensorFlow
backend): ``model.fit`` under ``MirroredStrategy`` over 2 logical CPUs against ``fit`` on one
device, the same global batches: ``SigmoidF1Loss(sync=True)``, the same without ``sync``, and
the decomposable ZLPR (no option needed). Prints one JSON line: the largest weight difference
after training."""

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

from metricloss.backends.keras import (  # noqa: E402
    MultilabelCategoricalCrossentropy,
    ROCAUCLoss,
    SigmoidF1Loss,
)

rng = np.random.default_rng(0)
x = rng.normal(size=(160, 5)).astype("float32")
y = (rng.random((160, 3)) < 0.3).astype("float32")


def train(make_loss, strategy=None):
    keras.utils.set_random_seed(0)

    def build():
        model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3)])
        model.compile(optimizer=keras.optimizers.SGD(0.5), loss=make_loss())
        return model

    if strategy is None:
        model = build()
    else:
        with strategy.scope():
            model = build()
    model.fit(x, y, batch_size=16, epochs=5, shuffle=False, verbose=0)
    return [np.asarray(w) for w in model.get_weights()]


def gap(a, b):
    return max(float(np.max(np.abs(u - v))) for u, v in zip(a, b, strict=True))


strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
f1 = train(lambda: SigmoidF1Loss(from_logits=True))
zlpr = train(lambda: MultilabelCategoricalCrossentropy(from_logits=True))
roc = train(lambda: ROCAUCLoss(from_logits=True))
print(json.dumps({
    "f1_synced": gap(train(lambda: SigmoidF1Loss(from_logits=True, sync=True), strategy), f1),
    "f1_unsynced": gap(train(lambda: SigmoidF1Loss(from_logits=True), strategy), f1),
    "roc_auc_synced": gap(train(lambda: ROCAUCLoss(from_logits=True, sync=True), strategy),
                          roc),
    "zlpr": gap(train(lambda: MultilabelCategoricalCrossentropy(from_logits=True), strategy),
                zlpr),
}))
