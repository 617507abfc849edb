"""Namespaces: detection without importing frameworks, mixing libraries, native kernels."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from metricloss._namespace import kernels, namespace_of
from tests.support import assert_close, get_backend


def test_import_pulls_in_no_framework() -> None:
    code = (
        "import sys, numpy as np, metricloss as ml;"
        "ml.sigmoid_f1_loss(np.zeros((3, 2)), np.ones((3, 2)));"
        "bad = [m for m in ('torch', 'jax', 'tensorflow', 'keras') if m in sys.modules];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_mixed_libraries_raise_type_error_naming_arguments(xp) -> None:
    if xp.name == "numpy":
        other = get_backend("array_api_strict")
    else:
        other = get_backend("numpy")
    a = xp.asarray(np.zeros(3))
    b = other.asarray(np.zeros(3))
    with pytest.raises(TypeError, match="labels is a"):
        namespace_of(logits=a, labels=b)
    with pytest.raises(TypeError, match="labels must be an array, got list"):
        namespace_of(logits=a, labels=[0.0, 1.0, 0.0])


@pytest.mark.parametrize("name", ["sigmoid", "log_sigmoid", "softplus"])
def test_kernels_match_closed_forms_on_extreme_values(xp, name) -> None:
    x = np.array([-1e4, -800.0, -30.0, -1.0, 0.0, 1.0, 30.0, 800.0, 1e4])
    softplus = np.logaddexp(0.0, x)
    expected = {
        "sigmoid": np.exp(-np.logaddexp(0.0, -x)),
        "log_sigmoid": -np.logaddexp(0.0, -x),
        "softplus": softplus,
    }[name]
    k = kernels(namespace_of(x=xp.asarray(x)))
    assert_close(xp, getattr(k, name)(xp.asarray(x)), expected, dtype="float64")


def test_logsumexp_handles_all_minus_infinity_rows(xp) -> None:
    x = np.array([[0.0, 1.0, 2.0], [-np.inf, -np.inf, -np.inf], [1e4, 1e4, -1e4]])
    with np.errstate(divide="ignore", invalid="ignore"):
        m = np.max(x, axis=1, keepdims=True)
        m = np.where(np.isfinite(m), m, 0.0)
        expected = (np.log(np.sum(np.exp(x - m), axis=1, keepdims=True)) + m)[:, 0]
    k = kernels(namespace_of(x=xp.asarray(x)))
    assert_close(xp, k.logsumexp(xp.asarray(x), axis=1), expected, dtype="float64")


def test_core_never_imports_from_the_adapters_folder() -> None:
    """The layering: array layer → checks → losses/metrics → adapters → applications. The core
    (everything but ``backends/`` and the ``compare/`` command, which sits above the adapters
    and drives them) never imports from ``metricloss.backends``."""
    import pathlib
    import re

    root = pathlib.Path(__file__).resolve().parents[1] / "metricloss"
    importing = re.compile(r"^\s*(from\s+metricloss(\.backends|\s+import\s+backends)|"
                           r"import\s+metricloss\.backends)", re.MULTILINE)
    offenders = [
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if not {"backends", "compare"} & set(path.relative_to(root).parts)
        and importing.search(path.read_text(encoding="utf-8"))
    ]
    assert not offenders, offenders


def test_import_loads_no_private_framework_layer() -> None:
    code = (
        "import sys, numpy as np, metricloss as ml;"
        "ml.recall_at_precision_loss(np.zeros((3, 2)), np.ones((3, 2)), target_precision=0.5,"
        " lambdas=1.0);"
        "bad = [m for m in sys.modules if m.startswith('metricloss._xp.')];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --------------------------------------------------------------------------------------------
# library_of / resolve_namespace
# --------------------------------------------------------------------------------------------


def test_library_of_names_the_arrays_library(xp) -> None:
    from metricloss._namespace import library_of

    expected = {"numpy": "numpy", "array_api_strict": "array_api_strict", "torch": "torch",
                "jax": "jax", "tensorflow": "tensorflow"}[xp.name]
    assert library_of(xp.asarray(np.zeros(2))) == expected


def test_resolve_namespace_accepts_the_module_users_pass(xp) -> None:
    import importlib

    from metricloss._namespace import resolve_namespace

    x = xp.asarray(np.zeros(2))
    expected = namespace_of(x=x)
    module = {"numpy": "numpy", "array_api_strict": "array_api_strict", "torch": "torch",
              "jax": "jax.numpy", "tensorflow": "tensorflow"}[xp.name]
    assert resolve_namespace(importlib.import_module(module)) is expected
    assert resolve_namespace(like=x) is expected
    assert resolve_namespace(expected) is expected  # a namespace is returned as it is
    # the resolved namespace creates arrays of the library (what label_priors_init needs)
    made = resolve_namespace(importlib.import_module(module)).ones((3,), dtype=expected.float32)
    assert namespace_of(made=made) is expected
    assert xp.to_numpy(made).tolist() == [1.0, 1.0, 1.0]


def test_resolve_namespace_refuses_what_it_cannot_resolve() -> None:
    from metricloss._namespace import resolve_namespace

    with pytest.raises(TypeError, match="exactly one of xp"):
        resolve_namespace()
    with pytest.raises(TypeError, match="exactly one of xp"):
        resolve_namespace(np, like=np.zeros(2))
    with pytest.raises(TypeError, match="xp must be an array module"):
        resolve_namespace(pytest)


def test_index_dtype_is_int64_for_torch_only(xp) -> None:
    from metricloss._namespace import index_dtype

    ns = namespace_of(x=xp.asarray(np.zeros(2)))
    assert index_dtype(ns) == (ns.int64 if xp.name == "torch" else ns.int32)


# --------------------------------------------------------------------------------------------
# The TensorFlow namespace: every function written out, each against NumPy
# --------------------------------------------------------------------------------------------

_A = np.array([[0.5, -1.5, 2.0], [3.0, 0.0, -0.25]])
_P = np.array([[0.2, 0.4, 0.9], [0.1, 0.6, 0.3]])
_S = np.array([3.0, 1.0, 2.0, 2.0, 5.0])
_D = np.array([[0.5, 0.25, 2.0], [0.75, 1.5, 0.125]])  # exact in binary: floor division agrees

# name -> (call with the namespace ``m`` and the function's inputs converted by ``a``).
_TF_CASES: dict[str, Callable[[Any, Callable[[Any], Any]], Any]] = {
    "abs": lambda m, a: m.abs(a(_A)),
    "exp": lambda m, a: m.exp(a(_A)),
    "expm1": lambda m, a: m.expm1(a(_A)),
    "log": lambda m, a: m.log(a(_P)),
    "log1p": lambda m, a: m.log1p(a(_P)),
    "log2": lambda m, a: m.log2(a(_P)),
    "log10": lambda m, a: m.log10(a(_P)),
    "sqrt": lambda m, a: m.sqrt(a(_P)),
    "square": lambda m, a: m.square(a(_A)),
    "sign": lambda m, a: m.sign(a(_A)),
    "floor": lambda m, a: m.floor(a(_A)),
    "ceil": lambda m, a: m.ceil(a(_A)),
    "trunc": lambda m, a: m.trunc(a(_A)),
    "tanh": lambda m, a: m.tanh(a(_A)),
    "sin": lambda m, a: m.sin(a(_A)),
    "cos": lambda m, a: m.cos(a(_A)),
    "reciprocal": lambda m, a: m.reciprocal(a(_P)),
    "negative": lambda m, a: m.negative(a(_A)),
    "positive": lambda m, a: m.positive(a(_A)),
    "isnan": lambda m, a: m.isnan(a(np.array([np.nan, 1.0, np.inf]))),
    "isinf": lambda m, a: m.isinf(a(np.array([np.nan, 1.0, -np.inf]))),
    "isfinite": lambda m, a: m.isfinite(a(np.array([np.nan, 1.0, np.inf]))),
    "logaddexp": lambda m, a: m.logaddexp(a(_A), a(_P)),
    "maximum": lambda m, a: m.maximum(a(_A), a(_P)),
    "minimum": lambda m, a: m.minimum(a(_A), a(_P)),
    "add": lambda m, a: m.add(a(_A), a(_P)),
    "subtract": lambda m, a: m.subtract(a(_A), a(_P)),
    "multiply": lambda m, a: m.multiply(a(_A), a(_P)),
    "divide": lambda m, a: m.divide(a(_A), a(_P)),
    "pow": lambda m, a: m.pow(a(_P), a(_A)),
    "floor_divide": lambda m, a: m.floor_divide(a(_A), a(_D)),
    "remainder": lambda m, a: m.remainder(a(_A), a(_D)),
    "equal": lambda m, a: m.equal(a(_A), a(_A * 0 + 0.5)),
    "not_equal": lambda m, a: m.not_equal(a(_A), a(_A * 0 + 0.5)),
    "less": lambda m, a: m.less(a(_A), a(_P)),
    "less_equal": lambda m, a: m.less_equal(a(_A), a(_P)),
    "greater": lambda m, a: m.greater(a(_A), a(_P)),
    "greater_equal": lambda m, a: m.greater_equal(a(_A), a(_P)),
    "logical_and": lambda m, a: m.logical_and(a(_A) > 0, a(_P) > 0.3),
    "logical_or": lambda m, a: m.logical_or(a(_A) > 0, a(_P) > 0.3),
    "logical_xor": lambda m, a: m.logical_xor(a(_A) > 0, a(_P) > 0.3),
    "logical_not": lambda m, a: m.logical_not(a(_A) > 0),
    "clip": lambda m, a: m.clip(a(_A), -1.0, 1.0),
    "where": lambda m, a: m.where(a(_A) > 0, a(_A), 0.0),
    "sum": lambda m, a: m.sum(a(_A), axis=0),
    "sum_keepdims": lambda m, a: m.sum(a(_A), axis=1, keepdims=True),
    "sum_bool": lambda m, a: m.sum(a(_A) > 0),
    "prod": lambda m, a: m.prod(a(_A), axis=1),
    "mean": lambda m, a: m.mean(a(_A), axis=(0, 1)),
    "max": lambda m, a: m.max(a(_A), axis=1),
    "min": lambda m, a: m.min(a(_A)),
    "any": lambda m, a: m.any(a(_A) > 2.5, axis=0),
    "all": lambda m, a: m.all(a(_A) > -2.0),
    "cumulative_sum": lambda m, a: m.cumulative_sum(a(_A), axis=1),
    "cumulative_sum_initial": lambda m, a: m.cumulative_sum(a(_A), axis=0, include_initial=True),
    "cumulative_prod": lambda m, a: m.cumulative_prod(a(_A), axis=1),
    "count_nonzero": lambda m, a: m.count_nonzero(a(_A), axis=0),
    "argmax": lambda m, a: m.argmax(a(_A), axis=1),
    "argmin": lambda m, a: m.argmin(a(_A)),
    "matmul": lambda m, a: m.matmul(a(_A), m.matrix_transpose(a(_P))),
    "matvec": lambda m, a: m.matmul(a(_A), a(np.array([1.0, 2.0, 3.0]))),
    "vecdot": lambda m, a: m.vecdot(a(_A), a(_P)),
    "tensordot": lambda m, a: m.tensordot(a(_A), a(_P.T), axes=1),
    "reshape": lambda m, a: m.reshape(a(_A), (3, 2)),
    "expand_dims": lambda m, a: m.expand_dims(a(_A), axis=1),
    "squeeze": lambda m, a: m.squeeze(a(_A[:1]), axis=0),
    "broadcast_to": lambda m, a: m.broadcast_to(a(_S[:3]), (2, 3)),
    "concat": lambda m, a: m.concat([a(_A), a(_P)], axis=1),
    "concat_flat": lambda m, a: m.concat([a(_A), a(_P)], axis=None),
    "stack": lambda m, a: m.stack([a(_A), a(_P)], axis=1),
    "permute_dims": lambda m, a: m.permute_dims(a(_A), (1, 0)),
    "moveaxis": lambda m, a: m.moveaxis(m.stack([a(_A), a(_P)]), 0, 2),
    "flip": lambda m, a: m.flip(a(_A), axis=1),
    "tile": lambda m, a: m.tile(a(_A), (2, 1)),
    "repeat": lambda m, a: m.repeat(a(_A), 2, axis=0),
    "roll": lambda m, a: m.roll(a(_A), 1, axis=1),
    "take": lambda m, a: m.take(a(_A), a(np.array([2, 0])), axis=1),
    "take_along_axis": lambda m, a: m.take_along_axis(a(_A), a(np.array([[2, 0], [1, 1]])),
                                                      axis=1),
    "take_along_axis0": lambda m, a: m.take_along_axis(a(_A), a(np.array([[1, 0, 1]])), axis=0),
    "sort": lambda m, a: m.sort(a(_A), axis=1),
    "sort_descending": lambda m, a: m.sort(a(_A), axis=0, descending=True),
    "argsort": lambda m, a: m.argsort(a(_S)),
    "argsort_descending": lambda m, a: m.argsort(a(_S), descending=True),
    "searchsorted": lambda m, a: m.searchsorted(a(np.sort(_S)), a(np.array([2.0, 0.0, 9.0]))),
    "searchsorted_right": lambda m, a: m.searchsorted(a(np.sort(_S)), a(np.array([2.0, 5.0])),
                                                      side="right"),
    "nonzero": lambda m, a: m.nonzero(a(_A) > 0)[1],
    "zeros": lambda m, a: m.zeros((2, 3), dtype=m.float64),
    "ones": lambda m, a: m.ones((2,), dtype=m.float64),
    "full": lambda m, a: m.full((2, 2), 3.5, dtype=m.float64),
    "zeros_like": lambda m, a: m.zeros_like(a(_A)),
    "ones_like": lambda m, a: m.ones_like(a(_A)),
    "full_like": lambda m, a: m.full_like(a(_A), 7.0),
    "arange": lambda m, a: m.arange(1, 7, 2),
    "linspace": lambda m, a: m.linspace(0.0, 1.0, 5, dtype=m.float64),
    "astype": lambda m, a: m.astype(a(_A), m.int32),
    "asarray": lambda m, a: m.asarray([1.0, 2.0], dtype=m.float64),
}


def _numpy_namespace() -> Any:
    import array_api_compat.numpy as npx

    return npx


@pytest.mark.float64
@pytest.mark.parametrize("name", sorted(_TF_CASES))
def test_tensorflow_namespace_function_matches_numpy(name: str) -> None:
    tf = pytest.importorskip("tensorflow")
    from metricloss._xp import tensorflow as tfx

    expected = np.asarray(_TF_CASES[name](_numpy_namespace(), np.asarray))
    actual = _TF_CASES[name](tfx, lambda v: tf.constant(np.asarray(v)))
    actual = np.asarray(actual.numpy())
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    np.testing.assert_allclose(actual.astype(np.float64), expected.astype(np.float64),
                               rtol=1e-12, atol=0)


def test_tensorflow_namespace_covers_every_name_the_core_uses() -> None:
    import pathlib
    import re

    pytest.importorskip("tensorflow")
    from metricloss._xp import tensorflow as tfx

    root = pathlib.Path(__file__).resolve().parents[1] / "metricloss"
    used = set()
    for path in root.glob("*.py"):
        used |= set(re.findall(r"\bxp\.([a-z_][a-z_0-9]*)", path.read_text(encoding="utf-8")))
    missing = sorted(n for n in used if not hasattr(tfx, n))
    assert not missing, missing


def test_tensorflow_namespace_has_no_fallback() -> None:
    pytest.importorskip("tensorflow")
    from metricloss._xp import tensorflow as tfx

    for name in ("einsum", "nanmean", "unique_values", "histogram"):
        with pytest.raises(AttributeError):
            getattr(tfx, name)


def test_tensorflow_isdtype_kinds() -> None:
    tf = pytest.importorskip("tensorflow")
    from metricloss._xp import tensorflow as tfx

    assert tfx.isdtype(tf.float16, "real floating")
    assert tfx.isdtype(tf.int64, ("bool", "integral"))
    assert not tfx.isdtype(tf.int32, "real floating")
    assert tfx.isdtype(tf.bool, "bool") and not tfx.isdtype(tf.bool, "integral")
    assert tfx.isdtype(tf.uint8, "unsigned integer")
    assert tfx.isdtype(tf.float32, tf.float32) and not tfx.isdtype(tf.float32, tf.float64)


# --------------------------------------------------------------------------------------------
# Under compilers: a Parameter is recognised, and nothing from this package warns
# --------------------------------------------------------------------------------------------


def _package_warnings(records: list[Any]) -> list[str]:
    """Warnings raised from this package or array-api-compat, or that name lru_cache or
    AutoGraph's do_not_convert."""
    out = []
    for r in records:
        text = str(r.message)
        where = str(r.filename)
        if ("metricloss" in where or "array_api_compat" in where or "lru_cache" in text
                or "do_not_convert" in text or "AutoGraph" in text):
            out.append(f"{where}: {text[:200]}")
    return out


def test_dual_value_on_a_parameter_compiles_fullgraph_without_warnings() -> None:
    torch = pytest.importorskip("torch")
    import warnings

    import metricloss as ml

    rng = np.random.default_rng(0)
    z = torch.tensor(rng.standard_normal((8, 3)), dtype=torch.float32)
    y = torch.tensor(rng.random((8, 3)) > 0.5, dtype=torch.float32)
    v = torch.nn.Parameter(torch.tensor([0.5, -1.0, 2.0]))

    def step(z, y, v):
        lam = ml.dual_value(v, 0.1, torch.Tensor.detach)
        out = ml.recall_at_precision_loss(z, y, target_precision=0.7, lambdas=lam)
        return out[0] if isinstance(out, tuple) else out

    torch._dynamo.reset()
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        compiled = torch.compile(step, fullgraph=True)(z, y, v)
        (g_compiled,) = torch.autograd.grad(compiled, v)
    eager = step(z, y, v)
    (g_eager,) = torch.autograd.grad(eager, v)
    assert not _package_warnings(records), _package_warnings(records)
    np.testing.assert_allclose(compiled.detach().numpy(), eager.detach().numpy(), rtol=1e-5)
    np.testing.assert_allclose(g_compiled.numpy(), g_eager.numpy(), rtol=1e-5, atol=1e-7)


def test_tf_function_emits_no_autograph_warning(capfd) -> None:
    tf = pytest.importorskip("tensorflow")
    import warnings

    import metricloss as ml

    rng = np.random.default_rng(0)
    z = tf.constant(rng.standard_normal((8, 3)), tf.float32)
    y = tf.constant((rng.random((8, 3)) > 0.5).astype(np.float32))
    tf.autograph.set_verbosity(1)  # AutoGraph's "could not transform" goes to stderr at >= 1

    @tf.function
    def step(z, y):
        return (ml.sigmoid_f1_loss(z, y)
                + ml.multilabel_categorical_crossentropy(z, y)
                + ml.any_loss(z, y, metric="mcc"))

    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        step(z, y)
    captured = capfd.readouterr()
    assert not _package_warnings(records), _package_warnings(records)
    assert "AutoGraph" not in captured.out + captured.err
    assert "do_not_convert" not in captured.out + captured.err
