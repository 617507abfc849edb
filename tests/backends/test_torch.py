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
CONSTRAINED = [n for n in CASES if "num_labels" in CASES[n]]


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
    if name in CONSTRAINED:  # the duals as parameters: their gradient is checked too
        kwargs = {**kwargs, "dual_update": "gradient_reversal"}
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
    loss_fn = getattr(mt, name)(**{key: target}, num_labels=2, dual_rate_factor=f,
                                dual_update="gradient_reversal").double()
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
        loss_fn = mt.PrecisionAtRecallLoss(target_recall=0.9, num_labels=L, dual_rate_factor=f,
                                           dual_update="gradient_reversal")
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
        target_recall=common.TARGET_RECALL, num_labels=1, dual_update="gradient_reversal",
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
                                       dual_update="gradient_reversal", dual_rate_factor=1.0)
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
    owned = mt.PrecisionRecallAUCLoss(num_labels=L, num_anchors=3)
    assert list(owned.dual_parameters()) == []  # buffers: no optimizer sees them
    assert [n for n, _ in owned.named_parameters()] == ["biases"]
    assert "duals" in dict(owned.named_buffers())
    loss_fn = mt.PrecisionRecallAUCLoss(num_labels=L, num_anchors=3,
                                        dual_update="gradient_reversal")
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
    loss_fn = mt.PrecisionRecallAUCLoss(num_labels=L, num_anchors=3)
    opt = torch.optim.SGD([*model.parameters(), *loss_fn.parameters()], lr=0.1, momentum=0.9)
    for _ in range(3):
        _step(model, loss_fn, opt, x, y)
    buffer = io.BytesIO()
    torch.save({"model": model.state_dict(), "loss": loss_fn.state_dict(),
                "opt": opt.state_dict()}, buffer)
    assert set(loss_fn.state_dict()) == {"duals", "biases", "label_prior_counts",
                                         "label_prior_weight_sum", "_extra_state"}
    buffer.seek(0)
    saved = torch.load(buffer)  # weights_only: the extra state is plain Python
    model2 = torch.nn.Linear(4, L)
    loss_fn2 = mt.PrecisionRecallAUCLoss(num_anchors=3)  # lazy: shapes from the state dict
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
        if isinstance(t1, torch.Tensor):  # the extra state: num_labels L vs None (lazy)
            assert torch.equal(t1, t2)


@pytest.mark.compiled
def test_compiled_training_step_equals_eager() -> None:
    torch.manual_seed(0)
    x = torch.randn(64, 4)
    y = torch.rand(64, L) < 0.3
    model = torch.nn.Linear(4, L)
    loss_fn = mt.PrecisionAtRecallLoss(target_recall=0.9)  # loss-owned duals, lazy
    model_c, loss_c = copy.deepcopy(model), mt.PrecisionAtRecallLoss(target_recall=0.9)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    opt_c = torch.optim.SGD(model_c.parameters(), lr=0.1)

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
    assert not torch.equal(loss_c.duals, torch.ones(L)), "the duals moved under compile"
    for t1, t2 in zip([*loss_fn.state_dict().values(), *model.state_dict().values()],
                      [*loss_c.state_dict().values(), *model_c.state_dict().values()],
                      strict=True):
        if isinstance(t1, torch.Tensor):
            torch.testing.assert_close(t1, t2, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(loss_c.aux["lambdas"], loss_fn.aux["lambdas"])
    with torch.no_grad():  # the held-out step, compiled
        before = copy.deepcopy(model_c.state_dict())
        expected = loss_fn.update_duals(model(x), y).clone()
        got = torch.compile(loss_c.update_duals, fullgraph=True)(model_c(x), y)
    torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-7)
    for key, value in model_c.state_dict().items():
        assert torch.equal(value, before[key])


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
    lambdas = loss_fn.duals.clone()  # the call's λ (it steps the duals afterwards)
    loss_fn(logits, labels, weights=weights)
    assert loss_fn._aux is None  # nothing computed yet
    _, expected = metricloss.precision_recall_auc_loss(
        logits, labels, num_anchors=3, lambdas=lambdas,
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
    assert loss_fn.duals.dtype == torch.float32 and bool(torch.isfinite(loss_fn.duals).all())
    assert bool(torch.isfinite(loss_fn.biases.grad).all())


# --------------------------------------------------------------------------------------------
# Loss-owned duals (issue 20): the dual step, held-out updates, no optimizer needed
# --------------------------------------------------------------------------------------------


def _dual_step_loss(**kwargs) -> torch.nn.Module:
    loss_fn = mt.RecallAtPrecisionLoss(target_precision=common.DUAL_STEP_TARGET,
                                       dual_rate=common.DUAL_STEP_RATE,
                                       dual_max=common.DUAL_STEP_MAX, **kwargs).double()
    return loss_fn


def test_one_training_call_moves_duals_by_rate_times_hard_violation() -> None:
    loss_fn = _dual_step_loss(num_labels=4)
    with torch.no_grad():
        loss_fn.duals.copy_(torch.tensor(common.DUAL_STEP_BEFORE))
    z = torch.tensor(common.DUAL_STEP_LOGITS, requires_grad=True)
    loss_fn(z, torch.tensor(common.DUAL_STEP_LABELS)).backward()
    expected, raw = common.dual_step_expected()
    np.testing.assert_allclose(loss_fn.duals.numpy(), expected, rtol=1e-12, atol=1e-15)
    before = common.DUAL_STEP_BEFORE
    assert raw[0] > before[0] and raw[1] < before[1]  # violated: up; met: down
    assert raw[2] < 0.0 == loss_fn.duals[2] and raw[3] > common.DUAL_STEP_MAX
    assert loss_fn.duals.grad is None and not loss_fn.duals.requires_grad
    # eval mode: no step
    loss_fn.eval()
    loss_fn(z, torch.tensor(common.DUAL_STEP_LABELS))
    np.testing.assert_allclose(loss_fn.duals.numpy(), expected, rtol=1e-12, atol=1e-15)


def test_duals_move_with_an_optimizer_of_the_model_parameters_only() -> None:
    """The first thing users write: the optimizer of model.parameters(). The duals still
    move (proxy step), and the constraint holds on fresh data of the original example."""
    data = common.example_data(seed=0)
    x = torch.from_numpy(data["train_data"])
    y = torch.from_numpy(data["train_labels"])
    model = torch.nn.Linear(2, 1)
    with torch.no_grad():
        model.weight.fill_(-1.0)
        model.bias.zero_()
    loss_fn = mt.RecallAtPrecisionLoss(target_precision=0.9)  # defaults: proxy, lazy
    opt = torch.optim.SGD(model.parameters(), lr=common.LEARNING_RATE)
    trajectory = []
    for _ in range(common.TRAIN_ITERATIONS):
        opt.zero_grad()
        loss_fn(model(x).squeeze(-1), y).backward()
        opt.step()
        trajectory.append(float(loss_fn.duals[0]))
    assert len(set(trajectory)) > 10, "the duals move every step"
    with torch.no_grad():
        scores = model(torch.from_numpy(data["eval_data"])).squeeze(-1).numpy()
    precision = common.precision(scores, data["eval_labels"])
    recall = float(np.mean(scores[data["eval_labels"] == 1] > 0))
    assert precision >= 0.9 - 0.03
    assert recall > 0.5


def test_update_duals_steps_from_held_out_data_and_touches_nothing_else() -> None:
    torch.manual_seed(0)
    model = torch.nn.Linear(4, L).double()
    loss_fn = mt.PrecisionAtRecallLoss(target_recall=0.8, dual_source="held_out").double()
    x, y = torch.randn(32, 4, dtype=torch.float64), torch.rand(32, L) < 0.4
    loss_fn(model(x), y).backward()
    np.testing.assert_array_equal(loss_fn.duals.numpy(), np.ones(L))  # held_out: no step
    model.zero_grad(set_to_none=True)
    weights = copy.deepcopy(model.state_dict())
    priors = loss_fn.label_priors.clone()
    x_val, y_val = torch.randn(24, 4, dtype=torch.float64), torch.rand(24, L) < 0.4
    logits = model(x_val)  # with grad: update_duals must not backpropagate
    new = loss_fn.update_duals(logits, y_val)
    g = common.hard_violation("precision_at_recall", logits.detach().numpy(), y_val.numpy(),
                              0.8, priors.numpy())
    np.testing.assert_allclose(new.numpy(), np.clip(1.0 + 0.5 * g, 0.0, 100.0), rtol=1e-12)
    assert not np.allclose(new.numpy(), 1.0)
    for key, value in model.state_dict().items():
        assert torch.equal(value, weights[key])
    assert all(p.grad is None for p in model.parameters())
    assert torch.equal(loss_fn.label_priors, priors)
    with pytest.raises(TypeError, match="gradient_reversal"):
        mt.PrecisionAtRecallLoss(target_recall=0.8, dual_update="gradient_reversal",
                                 num_labels=L).update_duals(logits, y_val)


def test_gradient_reversal_keeps_the_original_recipe() -> None:
    loss_fn = mt.RecallAtPrecisionLoss(target_precision=0.7, num_labels=L,
                                       dual_update="gradient_reversal")
    assert [n for n, _ in loss_fn.named_parameters()] == ["duals"]
    logits, labels = _inputs(torch.float32)
    loss_fn(logits, labels).backward()
    assert torch.equal(loss_fn.duals.detach(), torch.ones(L))  # only the optimizer moves it
    assert loss_fn.duals.grad is not None


# --------------------------------------------------------------------------------------------
# Lazy num_labels, configuration in the state dict, first-hour traps (issue 21)
# --------------------------------------------------------------------------------------------


def test_num_labels_from_the_first_batch() -> None:
    logits, labels = _inputs(torch.float32)
    lazy = mt.PrecisionRecallAUCLoss(num_anchors=3)
    eager = mt.PrecisionRecallAUCLoss(num_anchors=3, num_labels=L)
    assert lazy.has_uninitialized_params() and lazy.label_priors is None
    # an optimizer built before the first call trains the lazily created biases
    opt = torch.optim.SGD(lazy.parameters(), lr=0.5)
    opt_eager = torch.optim.SGD(eager.parameters(), lr=0.5)
    for fn, o in ((lazy, opt), (eager, opt_eager)):
        o.zero_grad()
        fn(logits, labels).backward()
        o.step()
    assert lazy.duals.shape == (L, 3) and lazy.biases.shape == (L, 3)
    for key, value in eager.state_dict().items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(lazy.state_dict()[key], value), key
    assert not torch.equal(lazy.biases.detach(), torch.zeros(L, 3))
    binary = mt.PrecisionAtRecallLoss(target_recall=0.9)
    binary(logits[:, 0], labels[:, 0])
    assert binary.duals.shape == (1,)
    with pytest.raises(ValueError, match="num_labels"):
        mt.PrecisionAtRecallLoss(target_recall=0.9)(logits.reshape(4, 4, 3),
                                                    labels.reshape(4, 4, 3))


def test_state_dict_refuses_another_configuration() -> None:
    logits, labels = _inputs(torch.float32)
    saved = mt.RecallAtPrecisionLoss(target_precision=0.8)
    saved(logits, labels)
    state = saved.state_dict()
    assert state["_extra_state"]["config"]["target_precision"] == 0.8
    other = mt.RecallAtPrecisionLoss(target_precision=0.9, num_labels=L)
    before = other.duals.clone()
    with pytest.raises(ValueError, match=r"target_precision: saved 0\.8, this loss 0\.9"):
        other.load_state_dict(state)
    assert torch.equal(other.duals, before), "refused before anything was copied"
    same = mt.RecallAtPrecisionLoss(target_precision=0.8, num_labels=L)
    same.load_state_dict(state)  # num_labels given here, inferred there: the same loss
    assert torch.equal(same.duals, saved.duals)
    state.pop("_extra_state")
    other.load_state_dict(state, strict=False)  # the documented way to force it
    assert torch.equal(other.duals, saved.duals)


@pytest.mark.parametrize("kwargs,match", [
    ({"target_precision": 1.5}, "target_precision"),
    ({"target_precision": -0.1}, "target_precision"),
    ({"target_precision": 0.0}, "target_precision"),
    ({"target_precision": [0.5, 1.2]}, "target_precision"),
    ({"target_precision": 0.8, "surrogate": "logistic"}, "surrogate"),
    ({"target_precision": 0.8, "label_priors": 2.0}, "label_priors"),
], ids=["above-1", "negative", "zero", "sequence", "surrogate", "priors"])
def test_constructor_checks_every_argument_at_construction(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        mt.RecallAtPrecisionLoss(**kwargs)


def test_constructor_checks_precision_range_and_accepts_a_target_of_one() -> None:
    with pytest.raises(ValueError, match="precision_range"):
        mt.PrecisionRecallAUCLoss(precision_range=(-0.1, 1.0))
    with pytest.raises(ValueError, match="target_rate"):
        mt.FalsePositiveRateAtTruePositiveRateLoss(target_rate=1.5)
    logits, labels = _inputs(torch.float32)
    loss = mt.PrecisionAtRecallLoss(target_recall=1.0)(logits, labels)  # (0, 1]: 1.0 is in
    assert torch.isfinite(loss)


def test_positional_arguments_name_the_class_and_keywords() -> None:
    with pytest.raises(TypeError, match=r"RecallAtPrecisionLoss\(\) takes keyword arguments "
                                        r"only.*RecallAtPrecisionLoss\(target_precision="):
        mt.RecallAtPrecisionLoss(0.8)
    with pytest.raises(TypeError, match=r"SigmoidF1Loss\(\) takes keyword arguments only"):
        mt.SigmoidF1Loss(2.0)


def test_label_shape_error_names_the_users_arguments() -> None:
    logits, labels = _inputs(torch.float32)
    loss_fn = mt.RecallAtPrecisionLoss(target_precision=0.8)
    with pytest.raises(ValueError, match=r"target must have the shape of input") as err:
        loss_fn(logits, labels[:, :2])
    assert "counts" not in str(err.value)
    with pytest.raises(ValueError, match=r"^labels must have shape \(B, 3\): one column"):
        metricloss.update_label_priors(metricloss.label_priors_init(3, like=logits),
                                       labels[:, :2])


def test_no_probability_warning_on_an_all_zero_head() -> None:
    model = torch.nn.Linear(4, L)
    torch.nn.init.zeros_(model.weight)
    torch.nn.init.zeros_(model.bias)
    _, labels = _inputs(torch.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name in ("SigmoidF1Loss", "PrecisionAtRecallLoss"):
            getattr(mt, name)(**CASES[name])(model(torch.randn(B, 4)), labels)


def _train_calls(loss_fn, opt, model, calls: int) -> None:
    logits_x = torch.randn(B, 4)
    _, labels = _inputs(torch.float32)
    for _ in range(calls):
        opt.zero_grad()
        loss_fn(model(logits_x), labels).backward()
        opt.step()


@pytest.mark.parametrize("kwargs,frozen", [
    ({"num_anchors": 3}, "biases"),
    ({"num_anchors": 3, "dual_update": "gradient_reversal"}, "duals, biases"),
], ids=["pr_auc_biases", "gradient_reversal"])
def test_warn_once_when_optimizer_trained_parameters_never_move(kwargs, frozen) -> None:
    torch.manual_seed(0)
    model = torch.nn.Linear(4, L)
    loss_fn = mt.PrecisionRecallAUCLoss(**kwargs)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)  # the loss's parameters forgotten
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _train_calls(loss_fn, opt, model, mt.FROZEN_CHECK_CALLS + 5)
    messages = [str(w.message) for w in caught if "have not changed" in str(w.message)]
    assert len(messages) == 1, messages
    assert f"parameter(s) {frozen} have not changed" in messages[0]
    assert "loss_fn.parameters()" in messages[0]
    # the fix: no warning
    loss_fn = mt.PrecisionRecallAUCLoss(**kwargs)
    opt = torch.optim.SGD([*model.parameters(), *loss_fn.parameters()], lr=0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _train_calls(loss_fn, opt, model, mt.FROZEN_CHECK_CALLS + 1)
