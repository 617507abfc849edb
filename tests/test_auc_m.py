"""AUC-M (:mod:`metricloss.global_objectives.auc_m`).

Oracles: a float64 NumPy transcription of LibAUC's ``AUCMLoss`` (``"v1"``, ``libauc/losses/
auc.py``) for the values, its gradient in closed form, and, where ``libauc`` is installed (the
torch test session), LibAUC's own ``AUCMLoss`` in float64 to check the transcription itself.
Shapes are fixed (B = 8, L = 3).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import metricloss
from tests.support import assert_close, dtype_name, finite_difference_grad, get_backend

B, L = 8, 3


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def libauc_v1(z: np.ndarray, y: np.ndarray, a: np.ndarray, b: np.ndarray, alpha: np.ndarray,
              margin: float = 1.0, p: np.ndarray | None = None) -> np.ndarray:
    """LibAUC ``AUCMLoss.forward`` (v1, ``auto=True`` unless ``p``), transcribed per label:
    ``(L,)``. ``torch.mean`` over the batch; ``p = pos_mask.sum() / B``."""
    s = sigmoid(z)
    pos, neg = (y == 1).astype(float), (y == 0).astype(float)
    p = pos.sum(axis=0) / y.shape[0] if p is None else p
    return ((1 - p) * np.mean((s - a) ** 2 * pos, axis=0)
            + p * np.mean((s - b) ** 2 * neg, axis=0)
            + 2 * alpha * (p * (1 - p) * margin
                           + np.mean(p * s * neg - (1 - p) * s * pos, axis=0))
            - p * (1 - p) * alpha ** 2)


def libauc_v1_grads(z, y, a, b, alpha, margin=1.0):
    """The gradients of :func:`libauc_v1`'s per-label sum in ``z``, ``a``, ``b``, ``alpha``
    (closed form)."""
    s = sigmoid(z)
    pos, neg = (y == 1).astype(float), (y == 0).astype(float)
    n = y.shape[0]
    p = pos.sum(axis=0) / n
    ds = (2 * (1 - p) * (s - a) * pos + 2 * p * (s - b) * neg
          + 2 * alpha * (p * neg - (1 - p) * pos)) / n
    dz = ds * s * (1 - s)
    da = -2 * (1 - p) * np.mean((s - a) * pos, axis=0)
    db = -2 * p * np.mean((s - b) * neg, axis=0)
    dalpha = 2 * (p * (1 - p) * margin + np.mean(p * s * neg - (1 - p) * s * pos, axis=0)) \
        - 2 * p * (1 - p) * alpha
    return dz, da, db, dalpha


def data(seed: int = 0) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=2.0, size=(B, L))
    y = (rng.random((B, L)) < 0.3).astype(np.float64)
    y[0, :], y[1, :] = 1.0, 0.0
    a, b = rng.uniform(0.2, 0.9, size=L), rng.uniform(0.0, 0.5, size=L)
    alpha = rng.uniform(0.0, 2.0, size=L)
    return z, y, a, b, alpha


@pytest.mark.float64
def test_values_and_gradients_equal_libauc_transcription(xp) -> None:
    z, y, a, b, alpha = data()
    Y, A, Bv, Al = (xp.asarray(v) for v in (y, a, b, alpha))
    per = metricloss.auc_m_loss(xp.asarray(z), Y, a=A, b=Bv, alpha=Al, reduction="none")
    assert_close(xp, per, libauc_v1(z, y, a, b, alpha), dtype="float64", rtol=1e-10,
                 atol=1e-12)
    mean = metricloss.auc_m_loss(xp.asarray(z), Y, a=A, b=Bv, alpha=Al)
    assert_close(xp, mean, np.mean(libauc_v1(z, y, a, b, alpha)), rtol=1e-10)
    if not xp.differentiable:
        return
    expected = libauc_v1_grads(z, y, a, b, alpha)
    args = [xp.asarray(z), A, Bv, Al]
    for i in range(4):
        def fn(*t: Any) -> Any:
            return metricloss.auc_m_loss(t[0], Y, a=t[1], b=t[2], alpha=t[3],
                                         reduction="sum")
        value, grad = xp.value_and_grad(fn, *args, argnum=i)
        np.testing.assert_allclose(value, np.sum(libauc_v1(z, y, a, b, alpha)), rtol=1e-10)
        np.testing.assert_allclose(grad, expected[i], rtol=1e-10, atol=1e-13)


@pytest.mark.float64
def test_transcription_equals_libauc_itself() -> None:
    """The oracle above is LibAUC's ``AUCMLoss`` (binary) and ``MultiLabelAUCMLoss``'s
    average over labels: checked against LibAUC in float64 (torch session only)."""
    torch = pytest.importorskip("torch")
    losses = pytest.importorskip("libauc.losses")
    z, y, a, b, alpha = data(1)
    for label in range(L):
        fn = losses.AUCMLoss(margin=0.7, device="cpu")
        for name, value in (("a", a), ("b", b), ("alpha", alpha)):
            setattr(fn, name, torch.nn.Parameter(torch.tensor([value[label]],
                                                              dtype=torch.float64)))
        zt = torch.tensor(z[:, label], requires_grad=True)
        # LibAUC computes p = pos_mask.sum() / B in float32 (its masks are .float()): hand it
        # the same p in float64 (auto=False), so that only the formula is compared.
        fn.p = torch.tensor(y[:, label].mean(), dtype=torch.float64)
        out = fn(torch.sigmoid(zt), torch.tensor(y[:, label]), auto=False)
        out.backward()
        expected = libauc_v1(z, y, a, b, alpha, margin=0.7)[label]
        np.testing.assert_allclose(out.item(), expected, rtol=1e-12)
        zz = torch.tensor(z[:, label], requires_grad=True)
        mine = metricloss.auc_m_loss(zz, torch.tensor(y[:, label]), a=float(a[label]),
                                     b=float(b[label]), alpha=float(alpha[label]), margin=0.7)
        mine.backward()
        np.testing.assert_allclose(mine.item(), out.item(), rtol=1e-10)
        np.testing.assert_allclose(zz.grad.numpy(), zt.grad.numpy(), rtol=1e-10, atol=1e-14)
        for name in ("a", "b"):
            expected_grad = libauc_v1_grads(z, y, a, b, alpha, margin=0.7)[
                ("a", "b").index(name) + 1][label]
            np.testing.assert_allclose(getattr(fn, name).grad.item(), expected_grad,
                                       rtol=1e-10, atol=1e-14)


@pytest.mark.float64
def test_fixed_priors_weights_and_margin(xp) -> None:
    """``label_priors`` is LibAUC's ``imratio``; a weight of 0 drops a row, 2 duplicates it."""
    z, y, a, b, alpha = data(2)
    p = np.array([0.1, 0.3, 0.5])
    Y = xp.asarray(y)
    got = metricloss.auc_m_loss(xp.asarray(z), Y, a=xp.asarray(a), b=xp.asarray(b),
                                alpha=xp.asarray(alpha), margin=0.5,
                                label_priors=xp.asarray(p), reduction="none")
    assert_close(xp, got, libauc_v1(z, y, a, b, alpha, margin=0.5, p=p), rtol=1e-10)
    w = np.ones(B)
    w[3], w[5] = 0.0, 2.0
    keep = np.r_[[i for i in range(B) if i != 3], 5]
    got = metricloss.auc_m_loss(xp.asarray(z), Y, a=list(a), b=list(b), alpha=list(alpha),
                                weights=xp.asarray(w), reduction="none")
    assert_close(xp, got, libauc_v1(z[keep], y[keep], a, b, alpha), rtol=1e-10)


@pytest.mark.float64
def test_alpha_gradient_and_running_means(xp) -> None:
    """``∂F/∂α = 2p(1−p)·g``; the running means move toward the class means."""
    z, y, a, b, alpha = data(3)
    y[:, 2] = 0.0  # no positives: g = 0, a kept
    Z, Y = xp.asarray(z), xp.asarray(y)
    g = metricloss.auc_m_alpha_gradient(Z, Y, alpha=xp.asarray(alpha), margin=1.0)
    p = y.mean(axis=0)
    dalpha = libauc_v1_grads(z, y, a, b, alpha)[3]
    expected = np.where(p * (1 - p) > 0, dalpha / np.where(p > 0, 2 * p * (1 - p), 1.0), 0.0)
    assert_close(xp, g, expected, rtol=1e-10, atol=1e-14)
    s = sigmoid(z)
    new_a, new_b = metricloss.update_auc_m_means(xp.asarray(a), xp.asarray(b), Z, Y,
                                                 momentum=0.25)
    pos_mean = np.array([s[y[:, i] == 1, i].mean() if y[:, i].any() else a[i]
                         for i in range(L)])
    neg_mean = np.array([s[y[:, i] == 0, i].mean() for i in range(L)])
    assert_close(xp, new_a, a + 0.25 * (pos_mean - a), rtol=1e-12)
    assert_close(xp, new_b, b + 0.25 * (neg_mean - b), rtol=1e-12)
    # One step of rate 1 from any α: the batch's optimal α (the loss's maximiser over α ≥ 0).
    best = metricloss.dual_step(xp.asarray(alpha), g, rate=1.0, max_value=999.0)
    optimum = np.maximum(1.0 + neg_mean - pos_mean, 0.0)
    assert_close(xp, best[:2], optimum[:2], rtol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_hostile_input_is_finite(xp, dtype) -> None:
    """±inf logits, a label without positives, an empty batch; half precision in float32."""
    if not xp.supports(dtype):
        pytest.skip(f"{xp.name} has no {dtype}")
    z = np.array([[np.inf, -np.inf], [-np.inf, 3.0], [0.5, np.inf]])
    y = np.array([[1.0, 0.0], [0.0, 0.0], [1.0, 0.0]])
    Y = xp.asarray(y, dtype=dtype)

    def fn(t: Any) -> Any:
        return metricloss.auc_m_loss(t, Y, a=0.9, b=0.1, alpha=1.0)

    value, grad = xp.value_and_grad(fn, xp.asarray(z, dtype=dtype))
    assert dtype_name(fn(xp.asarray(z, dtype=dtype))) == "float32"
    limit = libauc_v1(np.clip(z, -50, 50), y, 0.9, 0.1, 1.0).mean()
    np.testing.assert_allclose(value, limit, rtol=1e-3)
    assert grad is None or np.all(np.isfinite(grad))
    empty = metricloss.auc_m_loss(xp.asarray(np.zeros((0, 2)), dtype=dtype),
                                  xp.asarray(np.zeros((0, 2)), dtype=dtype), a=0.0, b=0.0,
                                  alpha=1.0, reduction="none")
    assert_close(xp, empty, np.zeros(2), dtype="float32")


@pytest.mark.float64
def test_binary_shape_and_finite_differences(xp) -> None:
    z, y, a, b, alpha = data(4)
    z1, y1 = z[:, 0], y[:, 0]
    per = metricloss.auc_m_loss(xp.asarray(z1), xp.asarray(y1), a=a[0], b=b[0],
                                alpha=alpha[0], reduction="none")
    assert tuple(per.shape) == ()
    if not xp.differentiable:
        return
    f64 = get_backend("numpy")

    def np_fn(t: np.ndarray) -> float:
        return float(f64.to_numpy(metricloss.auc_m_loss(t, y1, a=a[0], b=b[0],
                                                        alpha=alpha[0])))
    _, grad = xp.value_and_grad(lambda t: metricloss.auc_m_loss(
        t, xp.asarray(y1), a=a[0], b=b[0], alpha=alpha[0]), xp.asarray(z1))
    np.testing.assert_allclose(grad, finite_difference_grad(np_fn, z1), rtol=1e-6, atol=1e-9)


def test_bad_input_names_the_argument() -> None:
    z, y = np.zeros((4, 2)), np.zeros((4, 2))
    with pytest.raises(ValueError, match="alpha"):
        metricloss.auc_m_loss(z, y, a=0.0, b=0.0, alpha=-1.0)
    with pytest.raises(ValueError, match="margin"):
        metricloss.auc_m_loss(z, y, a=0.0, b=0.0, alpha=1.0, margin=0.0)
    with pytest.raises(ValueError, match="a must have shape"):
        metricloss.auc_m_loss(z, y, a=np.zeros(3), b=0.0, alpha=1.0)
    with pytest.raises(ValueError, match="momentum"):
        metricloss.update_auc_m_means(np.zeros(2), np.zeros(2), z, y, momentum=0.0)
    with pytest.raises(TypeError, match="logits"):
        metricloss.auc_m_loss(y.astype(int), z, a=0.0, b=0.0, alpha=1.0)


@pytest.mark.compiled
def test_traces_with_an_unknown_batch_size(xp) -> None:
    z, y, a, b, alpha = data(5)

    pa, pb, palpha = a.tolist(), b.tolist(), alpha.tolist()

    def fn(t: Any, yy: Any) -> Any:
        return metricloss.auc_m_loss(t, yy, a=pa, b=pb, alpha=palpha)

    args = (xp.asarray(z, dtype="float32"), xp.asarray(y, dtype="float32"))
    traced = xp.trace_unknown_batch(fn, *args)
    if traced is None:
        pytest.skip(f"{xp.name} does not trace")
    assert_close(xp, traced, np.mean(libauc_v1(z, y, a, b, alpha)), dtype="float32",
                 rtol=1e-5, atol=1e-6)
