"""Global objectives: constrained metrics as Lagrangians (SPEC §3; Eban et al. 2017).

A metric such as "recall at precision ≥ α" is not a sum over examples, so it cannot be trained
directly. Eban et al. bound the true and false positive counts with a surrogate loss,

    TP ≥ TP_lb = Σ_b w·(y − y·ℓ(z)/m)        FP ≤ FP_ub = Σ_b w·(1−y)·ℓ(−z)/m,

(``ℓ(u) = softplus(−u)``, ``m = ln 2`` for ``surrogate="xent"``; ``ℓ(u) = max(1−u, 0)``,
``m = 1`` for ``"hinge"``), write the constrained problem with these bounds, and take its
Lagrangian with one dual variable ``λ ≥ 0`` per label. What is left is a per-example loss, a
weighted surrogate plus a constant in the logits, which this module returns with the shape of
the logits (before ``reduction``), as the original TensorFlow library did:

========================================================  ====================================
function                                                  per-element loss
========================================================  ====================================
``recall_at_precision_loss(target_precision=α)``          ``w·surr(y, z; 1+λ(1−α), λα)
                                                          − λ(1−α)·π·m``
``precision_at_recall_loss(target_recall=r)``             ``w·surr(y, z; λ, 1) + λ·π·(r−1)·m``
``false_positive_rate_at_true_positive_rate_loss(r)``     the same as precision at recall ``r``
``true_positive_rate_at_false_positive_rate_loss(r)``     ``w·surr(y, z; 1, λ) − λ·r·(1−π)·m``
``precision_recall_auc_loss(precision_range, K)``         the mean over ``K`` anchors of
                                                          recall at precision ``α_k``, with a
                                                          bias per anchor
``roc_auc_loss()`` (:mod:`metricloss.roc_auc`)            pairwise, no dual
========================================================  ====================================

with ``surr(y, z; c, d) = c·y·ℓ(z) + d·(1−y)·ℓ(−z)`` and ``π`` the label prior (fraction of
positives).

**Conventions** (the package's, not the original library's where they differ):

- every function takes ``(logits, labels)`` in that order (the original's
  ``weighted_surrogate_loss`` and bounds took ``(labels, logits)``); ``weights`` is
  keyword-only, ``None``, a number, or any shape that broadcasts to the labels (``(B,)``,
  ``(B, 1)``, ``(B, L)``).
- the constrained losses return the loss alone; ``return_aux=True`` returns ``(loss, aux)``,
  ``aux`` a dict with ``lambdas``, ``label_priors``, ``true_positives_lower_bound`` and
  ``false_positives_upper_bound`` (and ``biases`` for PR-AUC). Without it the bounds are not
  computed at all.
- ``reduction="mean"`` averages over all ``B·L`` elements of the per-element loss (as
  ``BCEWithLogitsLoss`` and Keras' ``sum_over_batch_size``); the mean of an empty batch is 0.
- float16/bfloat16 logits are computed in float32 and the loss and ``aux`` come back in
  float32; other dtypes come back in their own dtype.
- ±inf logits give the limit value with a finite gradient: logits are read as lying in
  ``[−H, H]`` with ``H = 2**63`` in float32 (``2**511`` in float64), so a correct infinite
  logit costs 0 with a zero gradient, and a wrong one a loss of order ``H`` (the limit is
  +inf) with a zero gradient. No finite logit of a trained model comes near ``H``.
- the batch size is never read from a Python shape: every function traces with an unknown
  batch size (Keras, ``tf.function`` with a ``(None, L)`` signature,
  ``torch.compile(dynamic=True)``, ``jax.export`` with a symbolic batch).

**Stateless by design.** Everything that the original kept in TensorFlow 1 variables is an
argument here: the dual values ``lambdas``, the PR-AUC ``biases`` and the ``label_priors``.
The framework adapters hold that state and call these pure functions:

- dual variables ``v`` (initialised to 1.0) become ``lambdas = dual_value(v, f, stop_gradient)``,
  the gradient-reversal form ``stop_gradient((1+f)·|v|) − f·|v|``: its value is ``|v|`` and its
  gradient is ``−f·sign(v)`` times λ's, so the optimizer step that descends on the model's
  weights ascends on ``v``. No second backward pass, no hand-written dual SGD step.
- running label priors are a :class:`LabelPriorState` ``(counts, weight_sum)``, started by
  :func:`label_priors_init` (pseudocounts 1 positive and 1 negative) and advanced by the pure
  :func:`update_label_priors`; pass ``state.priors`` as ``label_priors=``.
- PR-AUC biases, shape ``(L, K)`` and initialised to 0, are ordinary trainable variables.

Shapes: ``lambdas`` are ``(L,)`` (``(L, K)`` for PR-AUC), as are ``biases``; a scalar is
broadcast. For binary ``(B,)`` logits, ``L = 1``: the per-element loss comes back with shape
``(B,)`` and every per-label quantity in ``aux`` is 0-d (``(K,)`` for PR-AUC); ``lambdas`` may
then be given as ``()`` or ``(1,)`` (``(K,)`` or ``(1, K)`` for PR-AUC).

The known defects of the existing ports are avoided: the dual ascent rides on the same
backward pass (gradient reversal); the biases are plain arguments that an adapter registers
as trainable; weights of shape ``(B,)`` are accepted; every constant is created on the
logits' device; the positive weight of recall at precision is ``1 + λ(1−α)``, not
``(1+λ)(1−α)``; label priors carry the pseudocounts.

Reference:
    Eban, Schain, Mackey, Gordon, Saurous, Elidan, "Scalable Learning of Non-Decomposable
    Objectives", AISTATS 2017, arXiv:1608.04802; and its TensorFlow library
    ``tensorflow/models/research/global_objectives`` (``loss_layers.py``, ``util.py``).
"""

from metricloss._reduction import REDUCTIONS
from metricloss.global_objectives._inputs import SURROGATES
from metricloss.global_objectives.bounds import (
    false_positives_upper_bound,
    true_positives_lower_bound,
)
from metricloss.global_objectives.duals import (
    CONSTRAINTS,
    VIOLATION_ESTIMATES,
    constraint_violation,
    dual_step,
    dual_value,
)
from metricloss.global_objectives.losses import (
    false_positive_rate_at_true_positive_rate_loss,
    precision_at_recall_loss,
    precision_recall_auc_loss,
    recall_at_precision_loss,
    true_positive_rate_at_false_positive_rate_loss,
)
from metricloss.global_objectives.priors import (
    LabelPriorState,
    label_priors_init,
    update_label_priors,
)
from metricloss.global_objectives.roc_auc import ROC_METHODS, roc_auc_loss
from metricloss.global_objectives.surrogates import weighted_surrogate

__all__ = [
    "CONSTRAINTS",
    "REDUCTIONS",
    "ROC_METHODS",
    "SURROGATES",
    "VIOLATION_ESTIMATES",
    "LabelPriorState",
    "constraint_violation",
    "dual_step",
    "dual_value",
    "false_positive_rate_at_true_positive_rate_loss",
    "false_positives_upper_bound",
    "label_priors_init",
    "precision_at_recall_loss",
    "precision_recall_auc_loss",
    "recall_at_precision_loss",
    "roc_auc_loss",
    "true_positive_rate_at_false_positive_rate_loss",
    "true_positives_lower_bound",
    "update_label_priors",
    "weighted_surrogate",
]
