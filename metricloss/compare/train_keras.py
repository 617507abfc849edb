"""The comparison's Keras 3 trainer (on whichever backend Keras runs): the MLP as a
``keras.Sequential``, the losses of metricloss.backends.keras (constrained ones through
``attach``), ``model.fit`` with Adam and per-epoch shuffling."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
from keras import ops

import metricloss
from metricloss.backends import keras as adapters
from metricloss.backends._state import SPECS
from metricloss.compare.protocol import Options, Prepared, TrainResult

# Baselines without a Keras class yet: the core function, wrapped in Keras' order.
_CORE = {"BinaryCrossEntropy": "binary_cross_entropy",
         "SigmoidFocalLoss": "sigmoid_focal_loss",
         "AsymmetricLoss": "asymmetric_loss"}


class _CoreLoss(keras.losses.Loss):
    """A core loss function in Keras' ``(y_true, y_pred)`` order, on logits."""

    def __init__(self, function: str, **kwargs: Any) -> None:
        super().__init__(name=function)
        self.function = getattr(metricloss, function)
        self.kwargs = dict(kwargs)
        if function == "asymmetric_loss":  # the reference's detached focusing weights
            self.kwargs.setdefault("stop_gradient", ops.stop_gradient)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        logits = ops.convert_to_tensor(y_pred)
        labels = ops.cast(ops.convert_to_tensor(y_true), logits.dtype)
        return self.function(logits, labels, **self.kwargs)


class _SumLoss(keras.losses.Loss):
    def __init__(self, parts: list[Any]) -> None:
        super().__init__(name="sum")
        self.parts = parts

    def call(self, y_true: Any, y_pred: Any) -> Any:
        return sum(part(y_true, y_pred) for part in self.parts)


def build_loss(components: list[tuple[str, dict[str, Any]]], num_labels: int) -> Any:
    parts = []
    for name, kwargs in components:
        if name in _CORE and not hasattr(adapters, name):
            parts.append(_CoreLoss(_CORE[name], **kwargs))
            continue
        cls = getattr(adapters, name)
        if isinstance(cls, type) and issubclass(cls, keras.layers.Layer):
            kwargs = {**kwargs, "num_labels": num_labels}
        if name in SPECS and SPECS[name].constrained:  # dual steps from validation data
            kwargs = {**kwargs, "dual_source": "held_out"}
        parts.append(cls(from_logits=True, **kwargs))
    if len(parts) == 1:
        return parts[0]
    if any(isinstance(p, keras.layers.Layer) for p in parts):
        raise ValueError("a sum of losses with a constrained (attached) loss is not supported")
    return _SumLoss(parts)


class _EpochCallback(keras.callbacks.Callback):
    def __init__(self, on_epoch: Callable[[float], None] | None, losses: list[float]) -> None:
        super().__init__()
        self.on_epoch, self.losses = on_epoch, losses

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        value = float((logs or {}).get("loss", float("nan")))
        self.losses.append(value)
        if self.on_epoch is not None:
            self.on_epoch(value)


def train(components: list[tuple[str, dict[str, Any]]], data: Prepared, options: Options,
          on_epoch: Callable[[float], None] | None = None) -> TrainResult:
    """Train the MLP with the sum of ``components``; the validation and test logits."""
    keras.utils.set_random_seed(options.seed)
    features, labels = data.x_train.shape[1], data.y_train.shape[1]
    model: Any = keras.Sequential([
        keras.Input((features,)),
        keras.layers.Dense(options.hidden, activation="relu"),  # Glorot uniform, zero bias
        keras.layers.Dropout(options.dropout),
        keras.layers.Dense(labels),
    ])
    loss = build_loss(components, labels)
    if isinstance(loss, keras.layers.Layer):
        # The constrained losses own duals and priors: the model must track them.
        model = adapters.attach(model, loss)
        model.compile(optimizer=keras.optimizers.Adam(options.lr))
    else:
        model.compile(optimizer=keras.optimizers.Adam(options.lr), loss=loss)
    epoch_losses: list[float] = []
    start = time.perf_counter()
    callbacks: list[Any] = [_EpochCallback(on_epoch, epoch_losses)]
    if getattr(loss, "owns_duals", False):
        # Keras has no per-step hook into the compiled train step: the held-out dual steps
        # come at each epoch's end, one per validation batch (the torch and JAX trainers
        # interleave one per training step).
        callbacks.insert(0, adapters.HeldOutDualUpdate((data.x_val, data.y_val), loss=loss,
                                                       batch_size=options.batch_size))
    model.fit(data.x_train, data.y_train, epochs=options.epochs,
              batch_size=options.batch_size, shuffle=True, verbose=0, callbacks=callbacks)
    seconds = time.perf_counter() - start
    val = np.asarray(model.predict(data.x_val, verbose=0), dtype=np.float64)
    test = np.asarray(model.predict(data.x_test, verbose=0), dtype=np.float64)
    return TrainResult(val, test, seconds, epoch_losses)
