"""The documentation site's promises, checked without building it (``nox -s docs`` builds it):

- every ```python block of every page under docs/ runs (the blocks of a page share one
  namespace, in order, as a reader pastes them; a block whose framework is not installed is
  skipped, with the blocks after it that need what it defined);
- every public name (``__all__`` of ``metricloss``, ``metricloss.datasets`` and each adapter
  module) appears in the API reference (docs/reference/*.md), and every name the reference
  lists under ``metricloss`` is public;
- the benchmarks page renders from benchmarks/results/.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
SKIP_DIRS = {"_build", "generated"}
PAGES = sorted(
    path for path in DOCS.rglob("*.md")
    if not SKIP_DIRS & set(path.relative_to(DOCS).parts)
)
# Same list as PUBLIC_MODULES in docs/conf.py.
PUBLIC_MODULES = [
    "metricloss",
    "metricloss.datasets",
    "metricloss.backends.torch",
    "metricloss.backends.jax",
    "metricloss.backends.keras",
]
FRAMEWORKS = ("torch", "jax", "tensorflow", "keras", "optax", "flax", "sklearn")
_IMPORT = re.compile(rf"^\s*(?:import|from)\s+({'|'.join(FRAMEWORKS)})\b", flags=re.M)
_ADAPTER = re.compile(r"^\s*(?:import|from)\s+metricloss\.backends\.(\w+)", flags=re.M)


def _blocks(page: Path) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", page.read_text(), flags=re.S | re.M)


def _module_path(name: str) -> Path | None:
    base = ROOT / Path(*name.split("."))
    for path in (base / "__init__.py", base.with_suffix(".py")):
        if path.exists():
            return path
    return None


def _missing_requirement(code: str) -> str | None:
    for framework in sorted(set(_IMPORT.findall(code))):
        if importlib.util.find_spec(framework) is None:
            return f"{framework} is not installed"
    for adapter in sorted(set(_ADAPTER.findall(code))):
        if _module_path(f"metricloss.backends.{adapter}") is None:
            return f"metricloss.backends.{adapter} is not in this checkout"
    return None


PAGES_WITH_CODE = [page for page in PAGES if _blocks(page)]


@pytest.mark.parametrize(
    "page", PAGES_WITH_CODE, ids=[p.relative_to(DOCS).as_posix() for p in PAGES_WITH_CODE]
)
def test_page_examples_run(page: Path) -> None:
    namespace: dict[str, object] = {"__name__": "__docs__"}
    skipped: list[str] = []
    for index, code in enumerate(_blocks(page)):
        label = f"{page.relative_to(ROOT)} block {index}"
        reason = _missing_requirement(code)
        if reason:
            skipped.append(f"{label} ({reason})")
            continue
        try:
            exec(compile(code, label, "exec"), namespace)
        except NameError as error:
            if not skipped:  # not a dependency on a skipped block: a real failure
                raise
            skipped.append(f"{label} (uses a name of a skipped block: {error})")
    if skipped:
        pytest.skip("; ".join(skipped))


def test_pages_are_found() -> None:
    """The pages are found (the glob above did not silently match nothing)."""
    names = {p.relative_to(DOCS).as_posix() for p in PAGES}
    assert {"index.md", "getting-started.md", "math.md", "reference/index.md"} <= names


def _static_all(module: str) -> list[str] | None:
    path = _module_path(module)
    if path is None:
        return None
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            try:
                return list(ast.literal_eval(node.value))
            except ValueError:  # built at import time: import it (an adapter needs its framework)
                if module.startswith("metricloss.backends."):
                    pytest.importorskip(module.rsplit(".", 1)[-1])
                return list(importlib.import_module(module).__all__)
    return []


def _reference() -> set[str]:
    """The full names the reference documents (explicit ``auto*`` lines, and the ``__all__``
    of each module documented with ``automodule`` and ``:members:``)."""
    documented: set[str] = set()
    for page in sorted((DOCS / "reference").glob("*.md")):
        current = ""
        lines = page.read_text().splitlines()
        needs = re.match(r"<!-- requires-module: ([\w.]+) -->", lines[0] if lines else "")
        if needs and _module_path(needs.group(1)) is None:
            continue  # a placeholder until its module exists (as the build treats it)
        for i, line in enumerate(lines):
            if m := re.match(r"\s*\.\. (?:py:)?currentmodule:: ([\w.]+)", line):
                current = m.group(1)
            elif m := re.match(r"\s*\.\. auto(?:function|class|exception|data)::\s*([\w.]+)",
                               line):
                documented.add(m.group(1) if "." in m.group(1) else f"{current}.{m.group(1)}")
            elif m := re.match(r"\s*\.\. automodule:: ([\w.]+)", line):
                options = []
                for follow in lines[i + 1:]:
                    if not re.match(r"\s+:", follow):
                        break
                    options.append(follow.strip())
                if any(o.startswith(":members:") for o in options):
                    documented.update(f"{m.group(1)}.{n}" for n in _static_all(m.group(1)) or [])
    return documented


def _is_documented(module: str, name: str, documented: set[str]) -> bool:
    """As in docs/conf.py: an adapter's names under their own module; a core name where it is
    exported or where it is defined."""
    if f"{module}.{name}" in documented:
        return True
    if module.startswith("metricloss.backends."):
        return False
    return any(full.rsplit(".", 1)[-1] == name and not full.startswith("metricloss.backends.")
               for full in documented)


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_public_names_are_in_the_reference(module: str) -> None:
    names = _static_all(module)
    if names is None:
        pytest.skip(f"{module} is not in this checkout")
    documented = _reference()
    missing = sorted(n for n in names if not _is_documented(module, n, documented))
    assert not missing, (
        f"public names of {module} missing from docs/reference/*.md: {missing} "
        "(see docs/maintainers.md, 'Adding a public name')"
    )


def test_reference_lists_only_public_names() -> None:
    top_level = {full.rsplit(".", 1)[-1] for full in _reference()
                 if full.rsplit(".", 1)[0] == "metricloss"}
    stale = sorted(top_level - set(_static_all("metricloss") or []))
    assert not stale, f"docs/reference lists names that metricloss does not export: {stale}"


def test_benchmarks_page_renders() -> None:
    sys.path.insert(0, str(DOCS))
    try:
        import gen_benchmarks
    finally:
        sys.path.remove(str(DOCS))
    text = gen_benchmarks.render()
    assert text.startswith("# Benchmarks and efficacy\n")
    for report in (ROOT / "benchmarks" / "results").glob("*.md"):
        title = report.read_text().splitlines()[0].lstrip("# ")
        assert f"## {title}" in text
    assert "](../" not in text  # links into the repository were turned into plain paths


def test_benchmarks_page_from_json_alone(tmp_path: Path) -> None:
    """A JSON report without its Markdown twin is listed with its top-level fields; a missing
    efficacy report is said, not hidden."""
    sys.path.insert(0, str(DOCS))
    try:
        import gen_benchmarks
    finally:
        sys.path.remove(str(DOCS))
    (tmp_path / "study.json").write_text('{"seed": 3, "cases": [1, 2], "machine": {"a": 1}}')
    text = gen_benchmarks.render(tmp_path)
    assert "## study" in text
    assert "| `seed` | 3 |" in text and "| `cases` | 2 entries |" in text
    assert "No speed report is committed yet" in text
    assert "No efficacy report is committed yet" in text
