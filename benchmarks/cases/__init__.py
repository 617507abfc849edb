"""Benchmark cases: each pairs a metricloss call with hand-written native code per framework.

A :class:`Case` names the metricloss function, the module it lives in (a case whose module does
not import is skipped with a message), the shapes, an input generator (NumPy arrays; the first
is the logits, the array differentiated), the metricloss call and, per framework, a builder of
the native implementation: the straightforward code a user would write with ``torch.sigmoid``,
``jax.nn`` or ``tf.math``, written by hand in ``benchmarks/cases/<family>.py``.

A :class:`Study` is a free-form measurement that does not fit the metricloss-vs-native table
(memory against the number of PR-AUC anchors, ROC-AUC chunking, sort against pairwise).
"""

from __future__ import annotations

from benchmarks.cases.base import Case, Shape, Study, shape_label

__all__ = ["ALL_CASES", "ALL_STUDIES", "Case", "Shape", "Study", "shape_label"]


def _collect() -> tuple[list[Case], list[Study]]:
    from benchmarks.cases import baselines, confusion, crossentropy, global_objectives, streaming

    cases: list[Case] = []
    studies: list[Study] = []
    for module in (confusion, crossentropy, global_objectives, baselines, streaming):
        cases.extend(module.CASES)
        studies.extend(getattr(module, "STUDIES", []))
    return cases, studies


ALL_CASES, ALL_STUDIES = _collect()
