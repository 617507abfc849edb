"""Data-parallel TensorFlow: ``MirroredStrategy`` over 2 logical CPU devices, the core losses
with ``all_reduce=`` the replica context's sum; each replica's loss and the summed gradients
(of the loss over the number of replicas, TensorFlow's convention) equal one device's on the
concatenated batch, and 50 synced SGD steps match. The logical devices must exist before
TensorFlow initialises, so the check runs in a subprocess (``_tf_mirrored.py``)."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

pytest.importorskip("tensorflow")

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def results() -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, str(ROOT / "tests/distributed/_tf_mirrored.py")],
                          capture_output=True, text=True, env=env, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("name", ["sigmoid_f1_macro", "mcc_micro", "precision_at_recall",
                                  "roc_auc"])
def test_mirrored_strategy_equals_the_global_batch(results, name):
    r = results[name]
    assert r["loss"] <= 1e-6
    assert r["grads"] <= 1e-6
    if "trained" in r:
        assert r["trained"] <= 1e-5
    assert r["unsynced_loss_gap"] > 1e-3  # without all_reduce: each replica's own shard


@pytest.fixture(scope="module")
def keras_results() -> dict:
    pytest.importorskip("keras")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "KERAS_BACKEND": "tensorflow"}
    proc = subprocess.run([sys.executable, str(ROOT / "tests/distributed/_keras_mirrored.py")],
                          capture_output=True, text=True, env=env, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_keras_fit_with_sync_matches_one_device(keras_results):
    """``model.fit`` under ``MirroredStrategy``: ``SigmoidF1Loss(sync=True)`` trains as one
    device on the global batches; without ``sync`` it does not; ZLPR needs no option."""
    assert keras_results["f1_synced"] <= 1e-5
    assert keras_results["roc_auc_synced"] <= 1e-5  # the all-gathered pairs
    assert keras_results["zlpr"] <= 1e-5
    assert keras_results["f1_unsynced"] > 1e-3
