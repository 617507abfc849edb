"""The segmentation losses against the peer libraries' own code: segmentation_models_pytorch
(SMP) ``losses`` and MONAI ``losses``, values and gradients on shared inputs, in binary,
multi-label and multi-class modes, with and without ``ignore_index``.

Tolerances: 1e-6 in float64 where the oracle computes in the input's dtype (MONAI, SMP's Dice,
Jaccard and Tversky; MONAI's generalized Dice rounds its weights to float32, so 1e-6 there
too); float32 tolerance for SMP's Lovász, which builds its Jaccard gradient in float32 (and
fails on float64 input).

SMP's package ``__init__`` imports timm and torchvision, whose operators do not load against
the CPU build of torch here: its ``losses`` subpackage (which imports nothing else from SMP) is
loaded on its own. Installed in the torch test session (noxfile.py).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types

import numpy as np
import pytest

import metricloss as ml
from tests.support import selected_backends

if "torch" not in selected_backends():
    pytest.skip("torch not among METRICLOSS_BACKENDS", allow_module_level=True)
torch = pytest.importorskip("torch")
monai_losses = pytest.importorskip("monai.losses")


def _smp_losses() -> types.ModuleType:
    """``segmentation_models_pytorch.losses`` without the package's ``__init__``."""
    name = "segmentation_models_pytorch"
    if name in sys.modules:
        return importlib.import_module(f"{name}.losses")
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("segmentation-models-pytorch is not installed")
    package = types.ModuleType(name)
    package.__path__ = list(spec.submodule_search_locations)
    sys.modules[name] = package
    return importlib.import_module(f"{name}.losses")


smp = _smp_losses()

N, C, H, W = 3, 4, 5, 6
IGNORE = 255


def _data(dtype: torch.dtype = torch.float64, *, absent: int | None = 3, seed: int = 0):
    """Logits ``(N, C, H, W)``; class masks ``(N, H, W)`` (class ``absent`` missing, class 2
    missing from image 1); binary / multi-label masks ``(N, C, H, W)``; ignored pixels."""
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=2.0, size=(N, C, H, W))
    classes = [c for c in range(C) if c != absent]
    t = rng.choice(classes, size=(N, H, W))
    t.reshape(N, -1)[:, : len(classes)] = classes
    t[1][t[1] == 2] = 0
    t_ignored = t.copy()
    t_ignored[0, 0, :3] = IGNORE
    y = (rng.random((N, C, H, W)) < 0.4).astype(np.int64)
    y_ignored = y.copy()
    y_ignored[2, 1, 1, :] = IGNORE
    as_t = torch.tensor
    return (as_t(z, dtype=dtype), as_t(t), as_t(t_ignored), as_t(y), as_t(y_ignored))


def _value_and_grad(fn, z):
    z = z.detach().clone().requires_grad_(True)
    value = fn(z)
    (grad,) = torch.autograd.grad(value, z)
    return value.detach(), grad


def _assert_same(ours, theirs, z, *, rtol=1e-6, atol=1e-9) -> None:
    v1, g1 = _value_and_grad(ours, z)
    v2, g2 = _value_and_grad(theirs, z)
    assert torch.isfinite(v1).all() and torch.isfinite(g1).all()
    torch.testing.assert_close(v1, v2.to(v1.dtype).reshape(v1.shape), rtol=rtol, atol=atol)
    scale = float(g2.abs().max())
    torch.testing.assert_close(g1, g2.to(g1.dtype), rtol=rtol, atol=atol + rtol * scale)


# --------------------------------------------------------------------------------------------
# SMP: Dice, Jaccard, Tversky, focal Tversky, log-Dice, smoothing, soft labels
# --------------------------------------------------------------------------------------------

MODES = ["binary", "multilabel", "multiclass"]


def _mode_inputs(mode: str, ignore: bool, dtype=torch.float64):
    z, t, t_ign, y, y_ign = _data(dtype)
    if mode == "multiclass":
        return z, (t_ign if ignore else t), dict(multiclass=True)
    if mode == "binary":
        return z[:, :1], (y_ign if ignore else y)[:, 2:3], dict(axis=1)
    return z, (y_ign if ignore else y), dict(axis=1)


SMP_CASES = {
    # id: (SMP loss class, its keywords, our function, our keywords)
    "dice": (smp.DiceLoss, {}, ml.sigmoid_f1_loss, {}),
    "log_dice_smooth": (smp.DiceLoss, {"log_loss": True, "smooth": 0.5}, ml.sigmoid_f1_loss,
                        {"log_loss": True, "smooth_nr": 1.0, "smooth_dr": 1.0}),
    "jaccard_smooth": (smp.JaccardLoss, {"smooth": 0.3}, ml.confusion_metric_loss,
                       {"metric": "jaccard", "smooth_nr": 0.3, "smooth_dr": 0.3}),
    "tversky": (smp.TverskyLoss, {"alpha": 0.3, "beta": 0.7}, ml.tversky_loss,
                {"alpha": 0.3, "beta": 0.7}),
    "tversky_log_smooth": (smp.TverskyLoss, {"alpha": 0.8, "beta": 0.4, "log_loss": True,
                                             "smooth": 1.0},
                           ml.tversky_loss, {"alpha": 0.8, "beta": 0.4, "log_loss": True,
                                             "smooth_nr": 1.0, "smooth_dr": 1.0}),
}


@pytest.mark.parametrize("ignore", [False, True], ids=["all", "ignore_index"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", list(SMP_CASES))
def test_smp_dice_family(case: str, mode: str, ignore: bool) -> None:
    smp_cls, smp_kw, ours, our_kw = SMP_CASES[case]
    z, labels, form = _mode_inputs(mode, ignore)
    theirs = smp_cls(mode, ignore_index=IGNORE if ignore else None, **smp_kw)
    extra = dict(ignore_index=IGNORE) if ignore else {}
    # SMP: a class without positives contributes 0 to the mean; counts are min(p, y) based.
    _assert_same(lambda u: ours(u, labels, absent_classes="zero", soft_labels=True, **form,
                                **extra, **our_kw),
                 lambda u: theirs(u, labels), z)


@pytest.mark.parametrize("mode", MODES)
def test_smp_focal_tversky(mode: str) -> None:
    z, labels, form = _mode_inputs(mode, ignore=True)
    theirs = smp.TverskyLoss(mode, alpha=0.3, beta=0.7, gamma=1.5, ignore_index=IGNORE)
    kw = dict(alpha=0.3, beta=0.7, absent_classes="zero", ignore_index=IGNORE, **form)
    if mode == "binary":  # one class: SMP's power of the mean is the per-class power
        ours = lambda u: ml.tversky_loss(u, labels, gamma=1.5, **kw)  # noqa: E731
    else:  # SMP raises the class mean to gamma; ours raises each class's loss
        ours = lambda u: ml.tversky_loss(u, labels, **kw) ** 1.5  # noqa: E731
    _assert_same(ours, lambda u: theirs(u, labels), z)


def test_smp_soft_labels_dice_and_class_weights() -> None:
    z, *_ = _data()
    rng = np.random.default_rng(5)
    soft = torch.tensor(rng.uniform(0.0, 1.0, size=tuple(z.shape)))
    theirs = smp.DiceLoss("multilabel", class_weights=[1.0, 2.0, 0.5, 3.0])
    _assert_same(lambda u: ml.sigmoid_f1_loss(u, soft, axis=1, soft_labels=True,
                                              absent_classes="zero",
                                              class_weights=[1.0, 2.0, 0.5, 3.0]),
                 lambda u: theirs(u, soft), z)


# --------------------------------------------------------------------------------------------
# SMP: Lovász (float32: SMP builds the Jaccard gradient in float32)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("per_image", [False, True])
@pytest.mark.parametrize("ignore", [False, True], ids=["all", "ignore_index"])
@pytest.mark.parametrize("mode", MODES)
def test_smp_lovasz(mode: str, ignore: bool, per_image: bool) -> None:
    z, labels, _ = _mode_inputs(mode, ignore, dtype=torch.float32)
    theirs = smp.LovaszLoss(mode, per_image=per_image, ignore_index=IGNORE if ignore else None)
    extra = dict(ignore_index=IGNORE) if ignore else {}
    if mode == "multiclass":
        ours = lambda u: ml.lovasz_softmax_loss(u, labels, per_image=per_image,  # noqa: E731
                                                **extra)
    else:  # SMP pools every channel into one set: average="micro"
        ours = lambda u: ml.lovasz_hinge_loss(u, labels, per_image=per_image,  # noqa: E731
                                              average="micro", **extra)
    _assert_same(ours, lambda u: theirs(u, labels), z, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------------------------
# MONAI: Dice (batch / per image, background, smoothing, jaccard, soft labels), Tversky,
# generalized Dice
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("batch", [True, False], ids=["batch", "per_image"])
@pytest.mark.parametrize("include_background", [True, False])
@pytest.mark.parametrize("ignore", [False, True], ids=["all", "ignore_index"])
def test_monai_softmax_dice(batch: bool, include_background: bool, ignore: bool) -> None:
    z, t, t_ign, *_ = _data()
    labels = t_ign if ignore else t
    theirs = monai_losses.DiceLoss(softmax=True, to_onehot_y=True, batch=batch,
                                   include_background=include_background, smooth_nr=1e-3,
                                   smooth_dr=1e-2, ignore_index=IGNORE if ignore else None)
    extra = dict(ignore_index=IGNORE) if ignore else {}
    _assert_same(lambda u: ml.sigmoid_f1_loss(u, labels, multiclass=True, per_image=not batch,
                                              include_background=include_background,
                                              smooth_nr=1e-3, smooth_dr=1e-2, **extra),
                 lambda u: theirs(u, labels[:, None]), z)


@pytest.mark.parametrize("batch", [True, False], ids=["batch", "per_image"])
def test_monai_sigmoid_jaccard_and_reduction_none(batch: bool) -> None:
    z, _, _, y, _ = _data()
    yf = y.double()
    theirs = monai_losses.DiceLoss(sigmoid=True, jaccard=True, batch=batch, smooth_nr=0.2,
                                   smooth_dr=0.4)
    # MONAI's Jaccard is (2tp + s_nr) / (2(tp + fp + fn) + s_dr): our smoothing halves.
    kw = dict(axis=1, metric="jaccard", per_image=not batch, smooth_nr=0.1, smooth_dr=0.2)
    _assert_same(lambda u: ml.confusion_metric_loss(u, yf, **kw), lambda u: theirs(u, yf), z)
    none = monai_losses.DiceLoss(sigmoid=True, jaccard=True, batch=False, smooth_nr=0.2,
                                 smooth_dr=0.4, reduction="none")(z, yf)
    ours = ml.confusion_metric_loss(z, yf, **{**kw, "per_image": True}, average="none")
    torch.testing.assert_close(ours, none.reshape(N, C), rtol=1e-6, atol=1e-9)


def test_monai_soft_label_dice() -> None:
    z, *_ = _data()
    soft = torch.tensor(np.random.default_rng(6).uniform(size=tuple(z.shape)))
    theirs = monai_losses.DiceLoss(sigmoid=True, soft_label=True)
    _assert_same(lambda u: ml.sigmoid_f1_loss(u, soft, axis=1, per_image=True,
                                              soft_labels=True, smooth_nr=1e-5,
                                              smooth_dr=1e-5),
                 lambda u: theirs(u, soft), z)


@pytest.mark.parametrize("batch", [True, False], ids=["batch", "per_image"])
@pytest.mark.parametrize("ignore", [False, True], ids=["all", "ignore_index"])
def test_monai_tversky(batch: bool, ignore: bool) -> None:
    z, t, t_ign, *_ = _data()
    labels = t_ign if ignore else t
    theirs = monai_losses.TverskyLoss(softmax=True, to_onehot_y=True, alpha=0.3, beta=0.7,
                                      batch=batch, include_background=False,
                                      ignore_index=IGNORE if ignore else None)
    extra = dict(ignore_index=IGNORE) if ignore else {}
    _assert_same(lambda u: ml.tversky_loss(u, labels, multiclass=True, alpha=0.3, beta=0.7,
                                           per_image=not batch, include_background=False,
                                           smooth_nr=1e-5, smooth_dr=1e-5, **extra),
                 lambda u: theirs(u, labels[:, None]), z)


@pytest.mark.parametrize("w_type", ["square", "simple", "uniform"])
@pytest.mark.parametrize("batch", [True, False], ids=["batch", "per_image"])
def test_monai_generalized_dice(w_type: str, batch: bool) -> None:
    z, t, *_ = _data(absent=None)
    theirs = monai_losses.GeneralizedDiceLoss(softmax=True, to_onehot_y=True, w_type=w_type,
                                              batch=batch)
    _assert_same(lambda u: ml.sigmoid_f1_loss(u, t, multiclass=True, class_weights=w_type,
                                              average="micro" if batch else "samples",
                                              smooth_nr=1e-5, smooth_dr=1e-5),
                 lambda u: theirs(u, t[:, None]), z)
