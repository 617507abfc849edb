"""The PyTorch adapters (metricloss.backends.torch): values, gradients, dual ascent, training on
the original library's example, state, compilation, bad input.

Run with ``METRICLOSS_BACKENDS=torch`` in the torch environment.
"""

from __future__ import annotations

import copy
import io
import math
import warnings

import numpy as np
import pytest

import metricloss
from tests.backends import common
from tests.support import selected_backends

if "torch" not in selected_backends():
    pytest.skip("torch not among METRICLOSS_BACKENDS", allow_module_level=True)
torch = pytest.importorskip("torch")
mt = pytest.importorskip("metricloss.backends.torch")

B, L = common.ADAPTER_BATCH, common.ADAPTER_LABELS

CASES = common.ADAPTER_CASES
CORE_ONLY = common.CORE_ONLY


def _inputs(dtype: torch.dtype = torch.float64, seed: int = 0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 2.0, (B, L))
    labels = rng.random((B, L)) < 0.4
    labels[0] = True  # every label has a positive and a negative
    labels[1] = False
    return torch.tensor(logits, dtype=dtype), torch.tensor(labels)


def _positive_indices(labels: torch.Tensor) -> torch.Tensor:
    width = int(labels.sum(dim=1).max())
    rows = [[j for j in range(L) if labels[i, j]] for i in range(B)]
    return torch.tensor([r + [-1] * (width - len(r)) for r in rows])


def _randomise(loss_fn: torch.nn.Module) -> None:
    """Duals and biases away from their initial values, to test the general case."""
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in loss_fn.named_parameters():
            p.copy_(torch.rand(p.shape, generator=gen, dtype=p.dtype) * 2.0
                    - (0.5 if name == "duals" else 1.0))


# --------------------------------------------------------------------------------------------
# Values and gradients equal the core function's
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(CASES))
def test_value_and_gradient_equal_core(name: str) -> None:
    kwargs = CASES[name]
    loss_fn = getattr(mt, name)(**kwargs).double()
    _randomise(loss_fn)
    logits, labels = _inputs()
    target = _positive_indices(labels) if name.startswith("Sparse") else labels
    z = logits.clone().requires_grad_(True)
    loss = loss_fn(z, target)
    loss.backward()

    # The oracle: the core function called directly, λ as a leaf; the priors by hand.
    core = getattr(metricloss, loss_fn._spec.function_name)
    core_kwargs = {k: v for k, v in kwargs.items() if k not in CORE_ONLY}
    z2 = logits.clone().requires_grad_(True)
    leaves = []
    if loss_fn._spec.constrained:
        lam = loss_fn.duals.detach().abs().clone().requires_grad_(True)
        leaves.append(lam)
        core_kwargs["lambdas"] = lam
        priors = common.running_priors(labels.numpy().astype(np.float64))
        core_kwargs["label_priors"] = torch.tensor(priors)
        if loss_fn._spec.has_biases:
            core_kwargs["biases"] = loss_fn.biases.detach().clone().requires_grad_(True)
            leaves.append(core_kwargs["biases"])
        expected = core(z2, target, **core_kwargs, return_aux=False)
    else:
        if loss_fn._spec.takes_stop_gradient:  # ASL: detached focusing weights by default
            core_kwargs["stop_gradient"] = torch.Tensor.detach
        expected = core(z2, target, **core_kwargs)
    grads = torch.autograd.grad(expected, [z2, *leaves])
    torch.testing.assert_close(loss, expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(z.grad, grads[0], rtol=1e-12, atol=1e-12)
    if loss_fn._spec.constrained:
        # Gradient reversal: ∂/∂v = −f·sign(v)·∂/∂λ.
        f = loss_fn.config["dual_rate_factor"]
        torch.testing.assert_close(loss_fn.duals.grad,
                                   -f * torch.sign(loss_fn.duals.detach()) * grads[1])
        if loss_fn._spec.has_biases:
            torch.testing.assert_close(loss_fn.biases.grad, grads[2])
        assert set(loss_fn.aux) >= {"lambdas", "label_priors"}
        torch.testing.assert_close(loss_fn.aux["label_priors"].reshape(-1),
                                   torch.tensor(priors))
        assert all(not v.requires_grad for v in loss_fn.aux.values())


def test_asymmetric_loss_focusing_weights_detached_by_default() -> None:
    logits, labels = _inputs()
    grads = {}
    for detach in (True, False):
        z = logits.clone().requires_grad_(True)
        mt.AsymmetricLoss(detach_focusing_weights=detach)(z, labels).backward()
        grads[detach] = z.grad
    z = logits.clone().requires_grad_(True)
    metricloss.asymmetric_loss(z, labels).backward()
    torch.testing.assert_close(grads[False], z.grad)
    assert not torch.allclose(grads[True], grads[False])


def test_shared_module_initial_values_match_core() -> None:
    from metricloss.backends import _state

    state = metricloss.label_priors_init(3, like=torch.zeros(1))
    assert state.counts.tolist() == [_state.PRIOR_COUNTS_INIT] * 3
    assert state.weight_sum.tolist() == [_state.PRIOR_WEIGHT_SUM_INIT] * 3


# --------------------------------------------------------------------------------------------
# Dual ascent, closed form
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name,target", [("PrecisionAtRecallLoss", 0.9),
                                         ("RecallAtPrecisionLoss", 0.8)])
def test_one_sgd_step_moves_duals_by_eta_f_dL_dlambda(name: str, target: float) -> None:
    # Label 0: positives badly ranked (constraint violated); label 1: well separated.
    y = np.array([[1, 1], [1, 1], [0, 0], [0, 0], [1, 1], [0, 0]], dtype=np.float64)
    z = np.array([[-2.0, 6.0], [-1.0, 7.0], [2.0, -6.0], [1.0, -8.0], [-0.5, 9.0],
                  [0.5, -7.0]])
    eta, f = 0.5, 0.3
    key = "target_recall" if name == "PrecisionAtRecallLoss" else "target_precision"
    loss_fn = getattr(mt, name)(**{key: target}, num_labels=2, dual_rate_factor=f).double()
    opt = torch.optim.SGD(loss_fn.parameters(), lr=eta)
    before = loss_fn.duals.detach().clone()
    loss_fn(torch.tensor(z), torch.tensor(y)).backward()
    opt.step()
    step = (loss_fn.duals.detach() - before).numpy()
    expected = eta * f * common.dloss_dlambda(name, z, y, target)
    np.testing.assert_allclose(step, expected, rtol=1e-12, atol=1e-15)
    assert step[0] > 0 > step[1], "violated constraint: λ up; satisfied: λ down"


def test_dual_rate_factor_cancels_under_adam() -> None:
    """Documented: Adam normalises per parameter, so f = 0.1 and f = 1.0 give the same λ."""
    logits, labels = _inputs(torch.float32)
    duals = []
    for f in (0.1, 1.0):
        loss_fn = mt.PrecisionAtRecallLoss(target_recall=0.9, num_labels=L, dual_rate_factor=f)
        opt = torch.optim.Adam(loss_fn.parameters(), lr=0.01)
        for _ in range(5):
            opt.zero_grad()
            loss_fn(logits, labels).backward()
            opt.step()
        duals.append(loss_fn.duals.detach())
    # Equal up to Adam's eps (1e-8 against gradients of order f·1e-2).
    torch.testing.assert_close(duals[0], duals[1], rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------------------------
# Training on the original library's example
# --------------------------------------------------------------------------------------------


def _train(loss_fn: torch.nn.Module, data: dict[str, np.ndarray],
           iterations: int = common.TRAIN_ITERATIONS) -> tuple[np.ndarray, torch.nn.Module]:
    x = torch.from_numpy(data["train_data"])
    y = torch.from_numpy(data["train_labels"])
    model = torch.nn.Linear(2, 1)
    with torch.no_grad():  # the original's initial values
        model.weight.fill_(-1.0)
        model.bias.zero_()
    opt = torch.optim.SGD([*model.parameters(), *loss_fn.parameters()],
                          lr=common.LEARNING_RATE)
    for _ in range(iterations):
        opt.zero_grad()
        loss_fn(model(x).squeeze(-1), y).backward()
        opt.step()
    with torch.no_grad():
        scores = model(torch.from_numpy(data["eval_data"])).squeeze(-1).numpy()
    return scores, model


def test_precision_at_recall_beats_cross_entropy_on_fresh_data(record_property) -> None:
    data = common.example_data(seed=0)
    go_scores, _ = _train(mt.PrecisionAtRecallLoss(
        target_recall=common.TARGET_RECALL, num_labels=1,
        dual_rate_factor=common.DUAL_RATE_FACTOR), data)
    ce_scores, _ = _train(torch.nn.BCEWithLogitsLoss(), data)
    go = common.precision_at_recall(go_scores, data["eval_labels"], common.TARGET_RECALL)
    ce = common.precision_at_recall(ce_scores, data["eval_labels"], common.TARGET_RECALL)
    record_property("precision_at_recall_0.98", {"global_objective": go, "cross_entropy": ce})
    print(f"torch: precision at recall 0.98 on fresh data: global objective {go:.3f}, "
          f"cross-entropy {ce:.3f}")
    assert go >= 0.75
    assert ce < 0.3


def test_recall_at_precision_meets_target_on_held_out_data() -> None:
    data = common.example_data(seed=0)
    loss_fn = mt.RecallAtPrecisionLoss(target_precision=0.9, num_labels=1,
                                       dual_rate_factor=1.0)
    scores, _ = _train(loss_fn, data)
    held_out = common.precision(scores, data["eval_labels"])
    recall = float(np.mean(scores[data["eval_labels"] == 1] > 0))
    assert held_out >= 0.9 - 0.05
    assert recall > 0.5  # not the trivial all-negative answer


# --------------------------------------------------------------------------------------------
# Module idioms: priors, dtype, device, state_dict, parameter groups
# --------------------------------------------------------------------------------------------


def test_priors_update_in_training_mode_only() -> None:
    logits, labels = _inputs(torch.float32)
    loss_fn = mt.PrecisionAtRecallLoss(target_recall=0.9, num_labels=L)
    loss_fn(logits, labels)
    counts = 1.0 + labels.sum(0).float()
    torch.testing.assert_close(loss_fn.label_prior_counts, counts)
    torch.testing.assert_close(loss_fn.label_prior_weight_sum, torch.full((L,), 2.0 + B))
    loss_fn.eval()
    loss_fn(logits, labels)
    torch.testing.assert_close(loss_fn.label_prior_counts, counts)
    torch.testing.assert_close(loss_fn.aux["label_priors"], counts / (2.0 + B))
    loss_fn.train()
    loss_fn(logits, labels, weights=torch.full((B,), 0.5))
    torch.testing.assert_close(loss_fn.label_prior_weight_sum,
                               torch.full((L,), 2.0 + B + B / 2))


def test_double_and_device() -> None:
    loss_fn = mt.PrecisionRecallAUCLoss(num_labels=L, num_anchors=3).double()
    assert loss_fn.duals.dtype == loss_fn.label_prior_counts.dtype == torch.float64
    logits, labels = _inputs(torch.float64)
    loss = loss_fn(logits, labels)
    assert loss.dtype == torch.float64
    device = "cuda" if torch.cuda.is_available() else "cpu"
    loss_fn = mt.PrecisionAtRecallLoss(target_recall=0.9, num_labels=L).to(device)
    loss = loss_fn(logits.float().to(device), labels.to(device))
    assert loss.device.type == device and loss_fn.label_prior_counts.device.type == device


def test_parameter_groups() -> None:
    loss_fn = mt.PrecisionRecallAUCLoss(num_labels=L, num_anchors=3)
    assert [p is loss_fn.duals for p in loss_fn.dual_parameters()] == [True]
    assert [p is loss_fn.biases for p in loss_fn.non_dual_parameters()] == [True]
    assert list(mt.SigmoidF1Loss().parameters()) == []
    model = torch.nn.Linear(2, L)
    opt = torch.optim.AdamW([
        {"params": model.parameters()},
        {"params": loss_fn.dual_parameters(), "weight_decay": 0.0},
        {"params": loss_fn.non_dual_parameters(), "weight_decay": 0.0},
    ], lr=1e-3)
    assert opt.param_groups[1]["params"][0] is loss_fn.duals


def _step(model, loss_fn, opt, x, y):
    opt.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    opt.step()
    return loss.detach()


def test_state_dict_round_trip_continues_bit_identically() -> None:
    torch.manual_seed(0)
    x = torch.randn(64, 4)
    y = torch.rand(64, L) < 0.3
    model = torch.nn.Linear(4, L)
    loss_fn = mt.PrecisionRecallAUCLoss(num_labels=L, num_anchors=3, dual_rate_factor=2.0)
    opt = torch.optim.SGD([*model.parameters(), *loss_fn.parameters()], lr=0.1, momentum=0.9)
    for _ in range(3):
        _step(model, loss_fn, opt, x, y)
    buffer = io.BytesIO()
    torch.save({"model": model.state_dict(), "loss": loss_fn.state_dict(),
                "opt": opt.state_dict()}, buffer)
    assert set(loss_fn.state_dict()) == {"duals", "biases", "label_prior_counts",
                                         "label_prior_weight_sum"}
    buffer.seek(0)
    saved = torch.load(buffer)
    model2 = torch.nn.Linear(4, L)
    loss_fn2 = mt.PrecisionRecallAUCLoss(num_labels=L, num_anchors=3, dual_rate_factor=2.0)
    opt2 = torch.optim.SGD([*model2.parameters(), *loss_fn2.parameters()], lr=0.1,
                           momentum=0.9)
    model2.load_state_dict(saved["model"])
    loss_fn2.load_state_dict(saved["loss"])
    opt2.load_state_dict(saved["opt"])
    for _ in range(3):
        a = _step(model, loss_fn, opt, x, y)
        b = _step(model2, loss_fn2, opt2, x, y)
        assert torch.equal(a, b)
    for t1, t2 in zip([*loss_fn.state_dict().values(), *model.state_dict().values()],
                      [*loss_fn2.state_dict().values(), *model2.state_dict().values()],
                      strict=True):
        assert torch.equal(t1, t2)


@pytest.mark.compiled
def test_compiled_training_step_equals_eager() -> None:
    torch.manual_seed(0)
    x = torch.randn(64, 4)
    y = torch.rand(64, L) < 0.3
    model = torch.nn.Linear(4, L)
    loss_fn = mt.PrecisionAtRecallLoss(target_recall=0.9, num_labels=L, dual_rate_factor=2.0)
    model_c, loss_c = copy.deepcopy(model), copy.deepcopy(loss_fn)
    opt = torch.optim.SGD([*model.parameters(), *loss_fn.parameters()], lr=0.1)
    opt_c = torch.optim.SGD([*model_c.parameters(), *loss_c.parameters()], lr=0.1)

    @torch.compile(fullgraph=True)
    def compiled_loss(x, y):
        return loss_c(model_c(x), y)

    for _ in range(3):
        eager = _step(model, loss_fn, opt, x, y)
        opt_c.zero_grad()
        loss = compiled_loss(x, y)
        loss.backward()
        opt_c.step()
        torch.testing.assert_close(loss.detach(), eager, rtol=1e-6, atol=1e-7)
    for t1, t2 in zip([*loss_fn.state_dict().values(), *model.state_dict().values()],
                      [*loss_c.state_dict().values(), *model_c.state_dict().values()],
                      strict=True):
        torch.testing.assert_close(t1, t2, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(loss_c.aux["lambdas"], loss_fn.aux["lambdas"])


# --------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------


def test_num_labels_mismatch_names_num_labels() -> None:
    logits, labels = _inputs(torch.float32)
    loss_fn = mt.PrecisionAtRecallLoss(target_recall=0.9, num_labels=L + 1)
    with pytest.raises(ValueError, match="num_labels"):
        loss_fn(logits, labels)


def test_labels_out_of_range_name_labels() -> None:
    logits, _ = _inputs(torch.float32)
    bad = torch.full((B, L), 2.0)
    with pytest.raises(ValueError, match="labels"):
        mt.PrecisionAtRecallLoss(target_recall=0.9, num_labels=L)(logits, bad)
    with pytest.raises(ValueError, match="labels"):
        mt.SigmoidF1Loss()(logits, bad)


@pytest.mark.parametrize("name", ["AnyLoss", "SigmoidF1Loss", "PrecisionAtRecallLoss"])
def test_probabilities_passed_as_logits_warn(name: str) -> None:
    logits, labels = _inputs(torch.float32)
    loss_fn = getattr(mt, name)(**{k: v for k, v in CASES[name].items()})
    with pytest.warns(UserWarning, match="logits"):
        loss_fn(torch.sigmoid(logits), labels)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        getattr(mt, name)(**CASES[name])(logits, labels)  # real logits: no warning
        if name == "AnyLoss":
            mt.AnyLoss(from_logits=False)(torch.sigmoid(logits), labels)


def test_constructor_errors_name_the_argument() -> None:
    with pytest.raises(TypeError, match="num_labels"):
        mt.PrecisionAtRecallLoss(target_recall=0.9)
    with pytest.raises(TypeError, match="target_recall"):
        mt.PrecisionAtRecallLoss(num_labels=1)
    with pytest.raises(TypeError, match="target_precision"):
        mt.PrecisionAtRecallLoss(num_labels=1, target_recall=0.9, target_precision=0.5)
    with pytest.raises(ValueError, match="dual_rate_factor"):
        mt.PrecisionAtRecallLoss(num_labels=1, target_recall=0.9, dual_rate_factor=-1.0)
    with pytest.raises(ValueError, match="num_labels"):
        mt.PrecisionAtRecallLoss(num_labels=0, target_recall=0.9)
    logits, labels = _inputs(torch.float32)
    with pytest.raises(TypeError, match="weights"):
        mt.MultilabelCategoricalCrossentropy()(logits, labels, weights=torch.ones(B))
    with pytest.raises(TypeError, match=r"target|labels"):
        mt.SigmoidF1Loss()(logits, None)


def test_constructor_signature_is_the_core_keywords() -> None:
    import inspect

    params = inspect.signature(mt.PrecisionAtRecallLoss).parameters
    core = inspect.signature(metricloss.precision_at_recall_loss).parameters
    assert {"num_labels", "dual_rate_factor", "target_recall", "surrogate",
            "reduction"} <= set(params)
    assert params["dual_rate_factor"].default == 0.1
    assert params["surrogate"].default == core["surrogate"].default
    assert math.isclose(mt.PrecisionAtRecallLoss(target_recall=0.9, num_labels=1)
                        .config["dual_rate_factor"], 0.1)


def test_aux_is_the_cores_and_computed_only_when_read() -> None:
    logits, labels = _inputs(torch.float64)
    loss_fn = mt.PrecisionRecallAUCLoss(num_labels=L, num_anchors=3).double()
    _randomise(loss_fn)
    weights = torch.linspace(0.5, 1.5, B, dtype=torch.float64)
    loss_fn(logits, labels, weights=weights)
    assert loss_fn._aux is None  # nothing computed yet
    _, expected = metricloss.precision_recall_auc_loss(
        logits, labels, num_anchors=3, lambdas=loss_fn.duals.detach().abs(),
        biases=loss_fn.biases.detach(), label_priors=loss_fn.label_priors, weights=weights,
        return_aux=True)
    assert set(loss_fn.aux) == set(expected)
    for key, value in expected.items():
        torch.testing.assert_close(loss_fn.aux[key], value, rtol=1e-12, atol=1e-12)


@pytest.mark.compiled
@pytest.mark.parametrize("batch", [16, 12])
def test_unknown_batch_size_trace_equals_eager(batch: int) -> None:
    from tests.support import get_backend

    logits, labels = _inputs(torch.float32)
    logits, labels = logits[:batch], labels[:batch]
    eager_fn = mt.PrecisionAtRecallLoss(target_recall=0.9, num_labels=L)
    traced_fn = copy.deepcopy(eager_fn)
    expected = eager_fn(logits, labels)
    got = get_backend("torch").trace_unknown_batch(lambda z, y: traced_fn(z, y), logits,
                                                   labels)
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(traced_fn.label_prior_counts, eager_fn.label_prior_counts)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["float16", "bfloat16"])
def test_half_precision_logits_give_a_float32_loss(dtype: torch.dtype) -> None:
    logits, labels = _inputs(torch.float32)
    z = logits.to(dtype).requires_grad_(True)
    loss_fn = mt.PrecisionRecallAUCLoss(num_labels=L, num_anchors=3)
    loss = loss_fn(z, labels)
    loss.backward()
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    assert z.grad.dtype == dtype and bool(torch.isfinite(z.grad).all())
    assert bool(torch.isfinite(loss_fn.duals.grad).all())
