"""The core's ``all_reduce=`` on every family, in one process: ``jax.vmap`` over 3 shards with
``jax.lax.psum`` as the all-reduce stands in for 3 replicas. Each shard's loss (and aux, and
the label-prior state) equals the loss of the concatenated batch, and so does the gradient of
the shards' loss with respect to the whole batch's logits (``jax.grad`` through the vmap)."""

from __future__ import annotations

import pytest

import metricloss

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")

R, B, L, C = 3, 5, 4, 3


def psum(x):
    return jax.lax.psum(x, "r")


def _data(seed=0):
    k = jax.random.split(jax.random.PRNGKey(seed), 4)
    z = 2.0 * jax.random.normal(k[0], (R * B, L))
    y = (jax.random.uniform(k[1], (R * B, L)) < 0.35).astype(jnp.float32)
    w = jax.random.uniform(k[2], (R * B,)) + 0.5
    t = jax.random.randint(k[3], (R * B, 2, 2), 0, C)  # class labels, (N, H, W)
    return z, y, w, t


def _check(fn, *arrays):
    """``fn(*arrays, all_reduce)`` on 3 vmapped shards vs ``fn(*arrays, None)`` on all."""
    ref, ref_grad = jax.value_and_grad(lambda a, *r: fn(a, *r, None))(*arrays)

    def sharded(a, *rest):
        split = [jnp.reshape(x, (R, -1, *x.shape[1:])) for x in (a, *rest)]
        out = jax.vmap(lambda *s: fn(*s, psum), axis_name="r")(*split)
        return out[0], out  # every shard holds the same value

    (_, per_shard), grad = jax.value_and_grad(sharded, has_aux=True)(*arrays)
    assert jnp.allclose(per_shard, ref, rtol=1e-6, atol=1e-6)
    assert jnp.allclose(grad, ref_grad, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("metric", ["f1", "jaccard", "mcc", "balanced_accuracy"])
@pytest.mark.parametrize("average", ["macro", "micro", "samples"])
def test_confusion_losses(metric, average):
    z, y, w, _ = _data()
    _check(lambda z, y, w, ar: metricloss.confusion_metric_loss(
        z, y, metric=metric, average=average, weights=w, all_reduce=ar), z, y, w)


@pytest.mark.parametrize("average", ["macro", "micro", "samples"])
def test_class_axis_losses(average):
    _, _, w, t = _data()
    z = jax.random.normal(jax.random.PRNGKey(5), (R * B, C, 2, 2))
    _check(lambda z, t, w, ar: metricloss.sigmoid_f1_loss(
        z, t, multiclass=True, average=average, weights=w, all_reduce=ar), z, t, w)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("name", ["recall_at_precision", "precision_at_recall",
                                  "tpr_at_fpr", "pr_auc"])
def test_global_objectives(name, reduction):
    z, y, w, _ = _data()
    fns = {
        "recall_at_precision": lambda **k: metricloss.recall_at_precision_loss(
            target_precision=0.7, lambdas=1.3, **k),
        "precision_at_recall": lambda **k: metricloss.precision_at_recall_loss(
            target_recall=0.8, lambdas=0.7, **k),
        "tpr_at_fpr": lambda **k: metricloss.true_positive_rate_at_false_positive_rate_loss(
            target_rate=0.2, lambdas=0.9, **k),
        "pr_auc": lambda **k: metricloss.precision_recall_auc_loss(
            lambdas=1.1, biases=0.3, num_anchors=3, **k),
    }

    def loss(z, y, w, ar):
        return fns[name](logits=z, labels=y, weights=w, reduction=reduction, all_reduce=ar)

    _check(loss, z, y, w)

    def aux(z, y, w, ar):  # the priors and bounds of aux: the global batch's
        _, a = fns[name](logits=z, labels=y, weights=w, return_aux=True, all_reduce=ar)
        return jnp.concatenate([a["label_priors"], a["true_positives_lower_bound"],
                                a["false_positives_upper_bound"]])

    ref = aux(z, y, w, None)
    split = [jnp.reshape(x, (R, -1, *x.shape[1:])) for x in (z, y, w)]
    shards = jax.vmap(lambda *s: aux(*s, psum), axis_name="r")(*split)
    assert jnp.allclose(shards, ref[None], rtol=1e-5, atol=1e-5)


def test_update_label_priors():
    _, y, w, _ = _data()
    state = metricloss.label_priors_init(L, xp=jnp)
    ref = metricloss.update_label_priors(state, y, weights=w)
    split = [jnp.reshape(x, (R, -1, *x.shape[1:])) for x in (y, w)]
    out = jax.vmap(lambda y, w: metricloss.update_label_priors(state, y, weights=w,
                                                               all_reduce=psum),
                   axis_name="r")(*split)
    assert jnp.allclose(out.counts, ref.counts[None], rtol=1e-6)
    assert jnp.allclose(out.weight_sum, ref.weight_sum[None], rtol=1e-6)


def test_all_reduce_must_be_callable():
    z, y, _, _ = _data()
    with pytest.raises(TypeError, match="all_reduce"):
        metricloss.sigmoid_f1_loss(z, y, all_reduce=3)
    with pytest.raises(TypeError, match="all_reduce"):
        metricloss.precision_at_recall_loss(z, y, target_recall=0.5, lambdas=1.0,
                                            all_reduce="sum")


def all_gather(x):
    return jax.lax.all_gather(x, "r", tiled=True)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("labels", ["float", "int"])
@pytest.mark.parametrize("surrogate", ["xent", "hinge"])
def test_roc_auc_all_gather(surrogate, labels, reduction):
    """Each shard's rows against every shard's (its positives against every negative for
    integer labels): the concatenated batch's loss on every shard, and its gradient."""
    z, y, w, _ = _data(1)
    if labels == "int":
        y = y.astype(jnp.int32)
    _check(lambda z, y, w, ar: metricloss.roc_auc_loss(
        z, y, weights=w, surrogate=surrogate, reduction=reduction, chunk_size=2,
        all_gather=None if ar is None else all_gather, all_reduce=ar), z, y, w)


def test_roc_auc_all_gather_per_element():
    """``reduction="none"``: each shard's elements of the global per-element loss."""
    z, y, w, _ = _data(2)
    ref = metricloss.roc_auc_loss(z, y, weights=w, reduction="none")
    split = [jnp.reshape(x, (R, -1, *x.shape[1:])) for x in (z, y, w)]
    out = jax.vmap(lambda z, y, w: metricloss.roc_auc_loss(
        z, y, weights=w, reduction="none", all_gather=all_gather), axis_name="r")(*split)
    assert jnp.allclose(jnp.reshape(out, ref.shape), ref, rtol=1e-6, atol=1e-7)


def test_roc_auc_all_gather_needs_both():
    z, y, _, _ = _data()
    with pytest.raises(TypeError, match="all_reduce needs all_gather"):
        metricloss.roc_auc_loss(z, y, all_reduce=psum)
    with pytest.raises(TypeError, match="needs all_reduce"):
        metricloss.roc_auc_loss(z, y, all_gather=lambda x: x)
    with pytest.raises(ValueError, match="pairwise"):
        metricloss.roc_auc_loss(z, y, method="sort", surrogate="hinge", all_gather=lambda x: x,
                                all_reduce=lambda x: x)
    with pytest.raises(TypeError, match="all_gather"):
        metricloss.roc_auc_loss(z, y, all_gather=3, all_reduce=psum)


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_auc_m(reduction):
    z, y, w, _ = _data(3)
    a, b, alpha = jnp.array([0.7, 0.6, 0.8, 0.5]), jnp.array([0.2, 0.3, 0.1, 0.4]), 1.2

    def loss(z, y, w, ar):
        out = metricloss.auc_m_loss(z, y, a=a, b=b, alpha=alpha, weights=w,
                                    reduction=reduction, all_reduce=ar)
        return jnp.sum(out * jnp.arange(1.0, 1.0 + out.size)) if reduction == "none" else out

    _check(loss, z, y, w)
