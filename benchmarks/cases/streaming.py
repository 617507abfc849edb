"""Streaming evaluation (benchmarks/streaming.py) as a study of benchmarks/run.py: time and
peak memory of streaming 10^7 x 100 logits into a CurveState, against torchmetrics' binned
curve and the exact path (quick mode: 2,000 x 5)."""

from __future__ import annotations

from typing import Any

from benchmarks.cases.base import Study


def streaming_speed_memory(fw: Any, quick: bool) -> dict[str, Any]:
    from benchmarks import streaming

    rows, labels = (2000, 5) if quick else (10_000_000, 100)
    methods = streaming.METHODS
    try:
        import torchmetrics  # noqa: F401
    except ImportError:
        methods = tuple(m for m in methods if m != "torchmetrics")
    table = streaming.speed_table(rows, labels, budget_s=60.0 if quick else 600.0,
                                  methods=methods)
    table.pop("raw", None)
    return table


CASES: list[Any] = []  # a study only: no metricloss-vs-native case

STUDIES = [
    Study("streaming evaluation: CurveState against torchmetrics' binned curve and the exact "
          "path", "metricloss.streaming", ("torch",), streaming_speed_memory),
]
