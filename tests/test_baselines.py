"""The baselines: binary cross-entropy, sigmoid focal loss, asymmetric loss (issue 14).

Oracles, float64 NumPy: a closed-form BCE; a direct transcription of
``torchvision.ops.sigmoid_focal_loss`` (torchvision is not installed here); a direct
transcription of the reference ``AsymmetricLoss.forward`` (Alibaba-MIIL/ASL,
``src/loss_functions/losses.py``); torch's own ``binary_cross_entropy_with_logits`` where torch
is importable; finite differences of the oracles for gradients.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from metricloss.baselines import asymmetric_loss, binary_cross_entropy, sigmoid_focal_loss
from tests.support import assert_close, finite_difference_grad, importable

SHAPE = (5, 4)
OUT_DTYPE = {
    "float64": "float64",
    "float32": "float32",
    "float16": "float32",
    "bfloat16": "float32",
}

# --------------------------------------------------------------------------------------------
# Oracles (float64 NumPy)
# --------------------------------------------------------------------------------------------


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def oracle_bce(z, y, pos_weight=None):
    z, y = np.asarray(z, np.float64), np.asarray(y, np.float64)
    c = 1.0 if pos_weight is None else np.asarray(pos_weight, np.float64)
    return c * y * np.logaddexp(0.0, -z) + (1.0 - y) * np.logaddexp(0.0, z)


def oracle_focal(z, y, alpha=0.25, gamma=2.0):
    """torchvision.ops.sigmoid_focal_loss, line by line (reduction "none")."""
    inputs, targets = np.asarray(z, np.float64), np.asarray(y, np.float64)
    p = _sigmoid(inputs)
    ce_loss = oracle_bce(inputs, targets)
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce_loss * ((1 - p_t) ** gamma)
    if alpha is not None and alpha >= 0:
        alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
        loss = alpha_t * loss
    return loss


def oracle_asl(x, y, gamma_neg=4.0, gamma_pos=0.0, clip=0.05, eps=1e-8, frozen=None):
    """AsymmetricLoss.forward of the reference code, line by line, per element (its value is
    ``-loss.sum()``). ``frozen``: logits at which the focusing weight is evaluated (the
    reference's ``disable_torch_grad_focal_loss``)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)

    def probabilities(x):
        x_sigmoid = _sigmoid(x)
        xs_pos = x_sigmoid
        xs_neg = 1 - x_sigmoid
        if clip is not None and clip > 0:
            xs_neg = np.minimum(xs_neg + clip, 1)
        return xs_pos, xs_neg

    xs_pos, xs_neg = probabilities(x)
    with np.errstate(divide="ignore"):
        log_pos = np.log(np.maximum(xs_pos, eps))
        log_neg = np.log(np.maximum(xs_neg, eps))
    if eps == 0:  # the reference meets log(0) there: the exact logs, and 0·log(0) = 0
        log_pos = -np.logaddexp(0.0, -x)
        if not clip:
            log_neg = -np.logaddexp(0.0, x)
    los_pos = np.where(y > 0, y * log_pos, 0.0)
    los_neg = np.where(y < 1, (1 - y) * log_neg, 0.0)
    loss = los_pos + los_neg
    if gamma_neg > 0 or gamma_pos > 0:
        if frozen is not None:
            xs_pos, xs_neg = probabilities(np.asarray(frozen, np.float64))
        pt0 = xs_pos * y
        pt1 = xs_neg * (1 - y)
        pt = pt0 + pt1
        one_sided_gamma = gamma_pos * y + gamma_neg * (1 - y)
        one_sided_w = np.power(1 - pt, one_sided_gamma)
        loss = loss * one_sided_w
    return -loss


LOSSES = {
    "bce": (binary_cross_entropy, oracle_bce, {}),
    "bce-pos_weight": (
        binary_cross_entropy,
        oracle_bce,
        {"pos_weight": np.array([0.5, 1.0, 2.0, 7.0])},
    ),
    "focal": (sigmoid_focal_loss, oracle_focal, {}),
    "focal-no-alpha-gamma-half": (sigmoid_focal_loss, oracle_focal, {"alpha": -1.0, "gamma": 0.5}),
    "focal-alpha-none-gamma0": (sigmoid_focal_loss, oracle_focal, {"alpha": None, "gamma": 0.0}),
    "asl": (asymmetric_loss, oracle_asl, {}),
    "asl-gamma_pos1-clip0": (asymmetric_loss, oracle_asl, {"gamma_pos": 1.0, "clip": 0.0}),
    "asl-gammas0": (asymmetric_loss, oracle_asl, {"gamma_pos": 0.0, "gamma_neg": 0.0}),
    "asl-eps0-clip-big": (asymmetric_loss, oracle_asl, {"eps": 0.0, "clip": 0.3, "gamma_neg": 1.5}),
}


def call(name, xp, z, y, **extra):
    fn, _, kwargs = LOSSES[name]
    kwargs = dict(kwargs)
    if "pos_weight" in kwargs:
        kwargs["pos_weight"] = xp.asarray(
            kwargs["pos_weight"],
            dtype="float32" if str(z.dtype).endswith(("float32", "16")) else None,
        )
    return fn(z, y, **kwargs, **extra)


def expected(name, z, y):
    _, oracle, kwargs = LOSSES[name]
    return oracle(z, y, **kwargs)


def data(rng, scale=3.0, shape=SHAPE):
    z = rng.normal(scale=scale, size=shape)
    y = (rng.random(shape) < 0.4).astype(np.float64)
    return z, y


# --------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------


def test_closed_forms(xp) -> None:
    z = xp.asarray(np.zeros((1, 2)), dtype="float32")
    y = xp.asarray(np.array([[1.0, 0.0]]), dtype="float32")
    ln2 = math.log(2.0)
    assert_close(xp, binary_cross_entropy(z, y, reduction="none"), [[ln2, ln2]])
    assert_close(xp, binary_cross_entropy(z, y, pos_weight=3.0, reduction="none"), [[3 * ln2, ln2]])
    # p = 1/2: α_t·(1/2)^γ·log 2
    assert_close(
        xp, sigmoid_focal_loss(z, y, reduction="none"), [[0.25 * 0.25 * ln2, 0.75 * 0.25 * ln2]]
    )
    # positive: −log(1/2) (γ+ = 0); negative: p_m = 0.45, −0.45^4·log(0.55)
    assert_close(xp, asymmetric_loss(z, y, reduction="none"), [[ln2, -(0.45**4) * math.log(0.55)]])
    # an easy negative (p ≤ m) costs nothing: σ(−4) = 0.018 < 0.05
    easy = xp.asarray(np.array([[-4.0]]), dtype="float32")
    assert_close(xp, asymmetric_loss(easy, xp.asarray(np.array([[0.0]]), dtype="float32")), 0.0)


@pytest.mark.float64
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("name", list(LOSSES), ids=list(LOSSES))
def test_equals_the_oracle(xp, rng, name, reduction) -> None:
    z, y = data(rng)
    per_element = expected(name, z, y)
    want = {"none": per_element, "mean": per_element.mean(), "sum": per_element.sum()}
    got = call(name, xp, xp.asarray(z), xp.asarray(y), reduction=reduction)
    assert_close(xp, got, want[reduction], dtype="float64")


@pytest.mark.float64
@pytest.mark.parametrize("name", ["bce", "focal", "asl"])
def test_weights_soft_and_binary_labels(xp, rng, name) -> None:
    z, y = data(rng)
    w = rng.random(SHAPE[0])
    got = call(name, xp, xp.asarray(z), xp.asarray(y), weights=xp.asarray(w), reduction="none")
    assert_close(xp, got, expected(name, z, y) * w[:, None], dtype="float64")
    # bool labels equal float 0/1 labels
    got = call(name, xp, xp.asarray(z), xp.asarray(y > 0), reduction="none")
    assert_close(xp, got, expected(name, z, y), dtype="float64")
    # binary (B,) input: one label per example, returned in the caller's shape
    got = call(name, xp, xp.asarray(z[:, 0]), xp.asarray(y[:, 0]), reduction="none")
    assert_close(xp, got, expected(name, z[:, :1], y[:, :1])[:, 0], dtype="float64")
    if name != "asl":  # soft labels: torch's and torchvision's formulas take them as they are
        soft = rng.random(SHAPE)
        got = call(name, xp, xp.asarray(z), xp.asarray(soft), reduction="none")
        assert_close(xp, got, expected(name, z, soft), dtype="float64")


@pytest.mark.float64
def test_asl_soft_labels_interpolate_linearly(xp, rng) -> None:
    """Documented: for soft labels ASL is linear in y between the 0/1 losses."""
    z, _ = data(rng)
    soft = rng.random(SHAPE)
    zx = xp.asarray(z)
    got = asymmetric_loss(zx, xp.asarray(soft), reduction="none")
    want = soft * oracle_asl(z, np.ones(SHAPE)) + (1 - soft) * oracle_asl(z, np.zeros(SHAPE))
    assert_close(xp, got, want, dtype="float64")


@pytest.mark.float64
@pytest.mark.parametrize("with_pos_weight", [False, True])
def test_bce_equals_torch(rng, with_pos_weight) -> None:
    if not importable("torch"):
        pytest.skip("torch is not installed in this environment")
    import torch

    z, y = data(rng)
    w = rng.random((SHAPE[0], 1))
    pw = rng.random(SHAPE[1]) * 3 if with_pos_weight else None
    kwargs = {} if pw is None else {"pos_weight": torch.from_numpy(pw)}
    for reduction in ("none", "mean", "sum"):
        want = torch.nn.functional.binary_cross_entropy_with_logits(
            torch.from_numpy(z),
            torch.from_numpy(y),
            weight=torch.from_numpy(w),
            reduction=reduction,
            **kwargs,
        )
        got = binary_cross_entropy(
            torch.from_numpy(z),
            torch.from_numpy(y),
            weights=torch.from_numpy(w[:, 0]),
            reduction=reduction,
            pos_weight=None if pw is None else torch.from_numpy(pw),
        )
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12)


# --------------------------------------------------------------------------------------------
# Gradients
# --------------------------------------------------------------------------------------------


@pytest.mark.float64
@pytest.mark.parametrize("name", list(LOSSES), ids=list(LOSSES))
def test_gradients_match_finite_differences(xp, rng, name) -> None:
    if not xp.differentiable:
        pytest.skip(f"{xp.name} has no autodiff")
    z, y = data(rng, scale=2.0)
    yx = xp.asarray(y)
    _, grad = xp.value_and_grad(lambda t: call(name, xp, t, yx, reduction="sum"), xp.asarray(z))
    want = finite_difference_grad(lambda t: expected(name, t, y).sum(), z)
    np.testing.assert_allclose(grad, want, rtol=1e-6, atol=1e-8)


@pytest.mark.float64
def test_asl_stop_gradient_detaches_the_focusing_weight(xp, rng) -> None:
    """The reference's disable_torch_grad_focal_loss: the weight is a constant."""
    if not xp.differentiable:
        pytest.skip(f"{xp.name} has no autodiff")
    stop = {
        "torch": lambda t: t.detach(),
        "jax": lambda t: __import__("jax").lax.stop_gradient(t),
        "tensorflow": lambda t: __import__("tensorflow").stop_gradient(t),
    }[xp.name]
    z, y = data(rng, scale=2.0)
    yx = xp.asarray(y)
    kwargs = {"gamma_pos": 1.0, "gamma_neg": 3.0}
    value, grad = xp.value_and_grad(
        lambda t: asymmetric_loss(t, yx, reduction="sum", stop_gradient=stop, **kwargs),
        xp.asarray(z),
    )
    np.testing.assert_allclose(value, oracle_asl(z, y, **kwargs).sum(), rtol=1e-12)
    want = finite_difference_grad(lambda t: oracle_asl(t, y, frozen=z, **kwargs).sum(), z)
    np.testing.assert_allclose(grad, want, rtol=1e-6, atol=1e-8)
    _, free = xp.value_and_grad(
        lambda t: asymmetric_loss(t, yx, reduction="sum", **kwargs), xp.asarray(z)
    )
    assert not np.allclose(free, grad)


# --------------------------------------------------------------------------------------------
# Hostile input
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("name", list(LOSSES), ids=list(LOSSES))
def test_extreme_logits_finite_value_and_gradient(xp, name, dtype) -> None:
    if not xp.supports(dtype):
        pytest.skip(f"{xp.name} has no {dtype}")
    z = np.array([[1e4, -1e4, 1e4, -1e4], [3.0, -2.0, 0.0, 1e4]])
    y = np.array([[1.0, 0.0, 0.0, 1.0], [1.0, 0.0, 1.0, 0.0]])
    zx = xp.asarray(z, dtype=dtype)
    yx = xp.asarray(y, dtype=dtype)
    got = call(name, xp, zx, yx, reduction="none")
    z64 = xp.to_numpy(zx).astype(np.float64)
    # The oracles are exact here except the reference ASL's log(clamp(σ(z), eps)): equal.
    assert_close(xp, got, expected(name, z64, y), dtype=OUT_DTYPE[dtype], atol=1e-6)
    value, grad = xp.value_and_grad(lambda t: call(name, xp, t, yx), zx)
    assert np.isfinite(value)
    if grad is not None:
        assert np.all(np.isfinite(grad))
        want = finite_difference_grad(lambda t: expected(name, t, y).mean(), z64, h=1e-3)
        np.testing.assert_allclose(grad, want, atol={"float32": 1e-5}.get(dtype, 5e-3))


@pytest.mark.parametrize("name", list(LOSSES), ids=list(LOSSES))
def test_infinite_logits_give_the_limit(xp, name) -> None:
    """+inf on a positive, −inf on a negative: loss and gradient of the limit (0 for BCE and
    focal; ASL's eps floor and clip keep their constant values); finite on the wrong side."""
    z = np.array([[np.inf, -np.inf, np.inf, -np.inf]])
    y = np.array([[1.0, 0.0, 0.0, 1.0]])
    zx = xp.asarray(z, dtype="float32")
    _, grad = xp.value_and_grad(
        lambda t: call(name, xp, t, xp.asarray(y, dtype="float32"), reduction="sum"), zx
    )
    got = xp.to_numpy(call(name, xp, zx, xp.asarray(y, dtype="float32"), reduction="none"))
    want = expected(name, np.array([[1e3, -1e3, 0.0, 0.0]]), y)
    np.testing.assert_allclose(got[0, :2], want[0, :2], atol=1e-7)
    assert not np.any(np.isnan(got)) and np.all(got >= 0)
    if grad is not None:
        assert np.all(np.isfinite(grad)) and np.all(grad[0, :2] == 0.0)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("reduction", ["none", "mean"])
@pytest.mark.parametrize("name", ["bce", "focal", "asl"])
def test_half_precision_returns_float32(xp, rng, name, reduction, dtype) -> None:
    if not xp.supports(dtype):
        pytest.skip(f"{xp.name} has no {dtype}")
    z, y = data(rng)
    zx = xp.asarray(z, dtype=dtype)
    per_element = expected(name, xp.to_numpy(zx).astype(np.float64), y)
    got = call(name, xp, zx, xp.asarray(y > 0), reduction=reduction)
    want = per_element if reduction == "none" else per_element.mean()
    assert_close(xp, got, want, dtype="float32", atol=1e-6)


@pytest.mark.parametrize("shape", [(0, 4), (3, 0)], ids=["B=0", "L=0"])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("name", ["bce", "focal", "asl"])
def test_empty_inputs(xp, name, reduction, shape) -> None:
    z = xp.asarray(np.zeros(shape), dtype="float32")
    y = xp.asarray(np.zeros(shape, dtype=bool))
    got = call(name, xp, z, y, reduction=reduction)
    assert_close(xp, got, np.zeros(shape) if reduction == "none" else 0.0, dtype="float32")
    _, grad = xp.value_and_grad(lambda t: xp.sum(call(name, xp, t, y, reduction=reduction)), z)
    if grad is not None:
        assert grad.shape == shape and np.all(grad == 0.0)


# --------------------------------------------------------------------------------------------
# Frameworks
# --------------------------------------------------------------------------------------------


@pytest.mark.compiled
@pytest.mark.parametrize("name", ["bce-pos_weight", "focal", "asl"])
def test_compiled_equals_eager(xp, rng, name) -> None:
    z, y = data(rng)
    args = (xp.asarray(z, dtype="float32"), xp.asarray(y, dtype="float32"))

    def fn(t, labels):
        return call(name, xp, t, labels, reduction="none")

    assert_close(xp, xp.compile(fn)(*args), xp.to_numpy(fn(*args)), dtype="float32")


@pytest.mark.compiled
@pytest.mark.parametrize("name", ["bce-pos_weight", "focal", "asl"])
def test_unknown_batch_size_equals_eager(xp, rng, name) -> None:
    if xp.name in ("numpy", "array_api_strict"):
        pytest.skip(f"{xp.name} does not trace")
    for batch in (5, 8):
        z, y = data(rng, shape=(batch, SHAPE[1]))
        args = (xp.asarray(z, dtype="float32"), xp.asarray(y, dtype="float32"))
        for reduction in ("none", "mean"):

            def fn(t, labels, reduction=reduction):
                return call(name, xp, t, labels, reduction=reduction)

            eager = xp.to_numpy(fn(*args))
            assert_close(xp, xp.trace_unknown_batch(fn, *args), eager, dtype="float32")


def test_device_is_preserved(xp, rng) -> None:
    if xp.name != "array_api_strict":
        pytest.skip("fake devices exist in array_api_strict only")
    device = xp.Device("device1")
    z, y = data(rng)
    zx, yx = xp.asarray(z, device=device), xp.asarray(y, device=device)
    for name in ("bce", "focal", "asl"):
        assert_close(xp, call(name, xp, zx, yx), expected(name, z, y).mean(), device=device)
    pw = xp.asarray(np.ones(SHAPE[1]), device=device)
    assert_close(
        xp, binary_cross_entropy(zx, yx, pos_weight=pw), oracle_bce(z, y).mean(), device=device
    )


# --------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------

BAD = {
    "focal-negative-gamma": (sigmoid_focal_loss, {"gamma": -1.0}, ValueError, "gamma must lie"),
    "focal-alpha-above-one": (sigmoid_focal_loss, {"alpha": 1.5}, ValueError, "alpha must lie"),
    "focal-alpha-string": (sigmoid_focal_loss, {"alpha": "0.25"}, TypeError, "alpha must be"),
    "asl-negative-gamma_neg": (
        asymmetric_loss,
        {"gamma_neg": -4.0},
        ValueError,
        "gamma_neg must lie",
    ),
    "asl-negative-gamma_pos": (
        asymmetric_loss,
        {"gamma_pos": -1.0},
        ValueError,
        "gamma_pos must lie",
    ),
    "asl-clip-one": (asymmetric_loss, {"clip": 1.0}, ValueError, r"clip must lie in \[0.0, 1.0\)"),
    "asl-clip-negative": (asymmetric_loss, {"clip": -0.1}, ValueError, "clip must lie"),
    "asl-eps-nan": (asymmetric_loss, {"eps": math.nan}, ValueError, "eps must be a finite"),
    "asl-stop_gradient": (
        asymmetric_loss,
        {"stop_gradient": 1},
        TypeError,
        "stop_gradient must be None or a function",
    ),
    "bce-pos_weight-negative": (
        binary_cross_entropy,
        {"pos_weight": -1.0},
        ValueError,
        "pos_weight must lie",
    ),
    "bce-reduction": (
        binary_cross_entropy,
        {"reduction": "avg"},
        ValueError,
        "reduction must be one of",
    ),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_bad_arguments_raise_naming_them(xp, case) -> None:
    fn, kwargs, error, message = BAD[case]
    z = xp.asarray(np.zeros((2, 3)), dtype="float32")
    with pytest.raises(error, match=message):
        fn(z, xp.asarray(np.zeros((2, 3)), dtype="float32"), **kwargs)


@pytest.mark.parametrize("shape", [(2,), (3, 1), (2, 3)], ids=str)
def test_pos_weight_of_the_wrong_shape(xp, shape) -> None:
    z = xp.asarray(np.zeros((2, 3)), dtype="float32")
    with pytest.raises(ValueError, match=r"pos_weight must be a scalar or have shape \(3,\)"):
        binary_cross_entropy(z, z, pos_weight=xp.asarray(np.ones(shape), dtype="float32"))


def test_pos_weight_non_finite_raises_in_eager_mode(xp) -> None:
    z = xp.asarray(np.zeros((2, 3)), dtype="float32")
    with pytest.raises(ValueError, match="pos_weight must be finite"):
        binary_cross_entropy(
            z, z, pos_weight=xp.asarray(np.array([1.0, np.inf, 1.0]), dtype="float32")
        )


@pytest.mark.parametrize("which", ["logits", "labels"])
@pytest.mark.parametrize(
    "fn", [binary_cross_entropy, sigmoid_focal_loss, asymmetric_loss], ids=["bce", "focal", "asl"]
)
def test_none_raises_type_error(xp, fn, which) -> None:
    z = xp.asarray(np.zeros((2, 3)), dtype="float32")
    args = {"logits": z, "labels": z, which: None}
    with pytest.raises(TypeError, match=f"{which} must be an array"):
        fn(args["logits"], args["labels"])


def test_shape_dtype_and_label_errors(xp) -> None:
    z = xp.asarray(np.zeros((2, 3)), dtype="float32")
    with pytest.raises(ValueError, match="labels must have the shape of logits"):
        binary_cross_entropy(z, xp.asarray(np.zeros((3, 2)), dtype="float32"))
    with pytest.raises(TypeError, match="logits must have a floating-point dtype"):
        sigmoid_focal_loss(xp.asarray(np.zeros((2, 3), dtype=np.int32)), z)
    with pytest.raises(ValueError, match=r"labels must lie in \[0.0, 1.0\]"):
        asymmetric_loss(z, xp.asarray(np.full((2, 3), 2.0), dtype="float32"))
