"""Global objectives (Eban et al. 2017): placeholder until metricloss.global_objectives lands."""

from __future__ import annotations

from benchmarks.cases.base import Case, Study

CASES: list[Case] = []
STUDIES: list[Study] = []
