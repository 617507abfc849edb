"""Every Python example in README.md runs (those whose framework is absent are skipped)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index: int) -> None:
    code = BLOCKS[index]
    for framework in ("torch", "jax", "tensorflow", "keras"):
        if re.search(rf"^import {framework}|^from {framework}", code, flags=re.M):
            pytest.importorskip(framework)
    namespace: dict[str, object] = {}
    exec(compile(code, f"README.md block {index}", "exec"), namespace)
