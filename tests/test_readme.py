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


def test_readme_demo_output_is_generated_from_the_committed_report() -> None:
    """Issue 21, item 15: the README's demo figures come from one generated place,
    ``benchmarks/results/demo/results.json`` (laid out by ``benchmarks/demo_readme.py``), made
    with the command's current defaults."""
    from benchmarks.demo_readme import BEGIN, END, REGENERATE, current_block, load, render
    from metricloss.compare.protocol import Options

    text = README.read_text()
    assert text.count(BEGIN) == 1 and text.count(END) == 1
    report = load()
    assert current_block(text) == render(report), f"stale README demo output: {REGENERATE}"
    defaults = Options().resolved()
    ran = report["options"]
    assert (report["framework"], ran["data"], ran["losses"], ran["epochs"], ran["seed"],
            ran["target_precision"], ran["quick"]) == (
        defaults.framework, defaults.data, list(defaults.losses), defaults.epochs,
        defaults.seed, defaults.target_precision, False), (
        f"the demo report was not made with `metricloss compare`'s defaults: {REGENERATE}")
    # Every figure of the table is the report's: e.g. each loss's default micro-F1.
    block = current_block(text) or ""
    for name, entry in report["results"].items():
        row = next(line for line in block.splitlines() if line.split()[:2] == [name, "default"])
        assert f"{entry['default']['micro_f1']:.3f}" in row
