"""Turn ``benchmarks/results/*.md`` and ``*.json`` into the site's page ``generated/benchmarks.md``.

Run by the Sphinx build (``docs/conf.py``, at ``builder-inited``), or by hand:
``python docs/gen_benchmarks.py``. The results are written by ``nox -s bench`` (speed and memory)
and by the efficacy study (``benchmarks/efficacy.py``); this script never re-runs them, it only
lays their reports out as one page:

- each ``NAME.md`` becomes a section, its headings moved one level down, links into the
  repository turned into plain paths (the site holds only ``docs/``);
- a ``NAME.json`` without a ``NAME.md`` beside it is listed with its top-level fields;
- ``benchmarks.md`` comes first, ``efficacy.md`` second, any other report after them (the
  scaling report, ``scaling.md``, with its plot ``scaling.png`` copied beside the page).

The output folder ``docs/generated/`` is not under version control.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
RESULTS = ROOT / "benchmarks" / "results"
OUT = DOCS / "generated" / "benchmarks.md"
ORDER = {"benchmarks": 0, "efficacy": 1}

HEADER = """\
# Benchmarks and efficacy

This page is generated from the reports in `benchmarks/results/` at each build of the site
(`docs/gen_benchmarks.py`); the numbers are the last ones committed, measured on the machine
and versions each report names. Regenerate them with `nox -s bench` (speed and memory against
hand-written native code, every framework) and the efficacy study (training on the five MULAN
data sets); see `benchmarks/README.md` in the repository for the cases and the method.

Two kinds of evidence live here. **Speed** says what a loss costs per step against the same
formula written by hand in each framework. **Efficacy** says whether training with a metric
loss improves the metric it targets on held-out data, against binary cross-entropy and the
other baselines — where it does not, the report says so.
"""

_LINK = re.compile(r"(?<!!)\[([^\]]+)\]\(([^)\s]+)\)")


def _relink(text: str, source: Path) -> str:
    """Links relative to the report's folder become repository paths in code font (the site
    does not carry the repository's files); web links stay."""

    def fix(match: re.Match[str]) -> str:
        label, target = match.groups()
        if re.match(r"^[a-z]+://|^mailto:|^#", target):
            return match.group(0)
        path = (source.parent / target.split("#", 1)[0]).resolve()
        try:
            shown = path.relative_to(ROOT).as_posix()
        except ValueError:
            shown = target
        return label if label.strip("`") == shown else f"{label} (`{shown}`)"

    return _LINK.sub(fix, text)


def _demote(text: str) -> str:
    """Every ATX heading one level down, outside fenced code."""
    lines, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        if not fenced and re.match(r"^#{1,5} ", line):
            line = "#" + line
        lines.append(line)
    return "\n".join(lines)


def _shown(path: Path) -> str:
    """A repository path where the file is inside the repository."""
    try:
        return path.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return path.as_posix()


def _json_summary(path: Path) -> str:
    data = json.loads(path.read_text())
    title = path.stem.replace("_", " ")
    rows = ["| field | value |", "|---|---|"]
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(value, (str, int, float, bool)) or value is None:
                shown = str(value).replace("|", "\\|")
            elif isinstance(value, list):
                shown = f"{len(value)} entries"
            else:
                shown = f"{len(value)} fields"
            rows.append(f"| `{key}` | {shown} |")
    else:
        rows.append(f"| (top level) | {type(data).__name__} of {len(data)} entries |")
    return (f"## {title}\n\n`{_shown(path)}` (no Markdown report beside "
            "it):\n\n" + "\n".join(rows))


def render(results: Path = RESULTS) -> str:
    """The page's Markdown."""
    reports = sorted(results.glob("*.md"), key=lambda p: (ORDER.get(p.stem, 9), p.stem))
    sections = [HEADER]
    for report in reports:
        sections.append(_demote(_relink(report.read_text(), report)))
        sections.append(f"*Source: `{_shown(report)}`.*")
    for data in sorted(results.glob("*.json")):
        if not data.with_suffix(".md").exists():
            sections.append(_json_summary(data))
    if not (results / "benchmarks.md").exists():
        sections.append("*No speed report is committed yet: run `nox -s bench`.*")
    if not (results / "efficacy.md").exists():
        sections.append("*No efficacy report is committed yet (`benchmarks/results/efficacy.md`, "
                        "written by the efficacy study, `benchmarks/efficacy.py`).*")
    return "\n\n".join(sections).rstrip() + "\n"


def main() -> Path:
    """Write the page (only when its text changed, so Sphinx rebuilds only what changed)."""
    text = render()
    OUT.parent.mkdir(exist_ok=True)
    if not OUT.exists() or OUT.read_text() != text:
        OUT.write_text(text)
    # The reports' images (the scaling plot, ``![...](scaling.png)``) beside the page, so that
    # their relative links resolve.
    for image in sorted(RESULTS.glob("*.png")):
        target = OUT.parent / image.name
        if not target.exists() or target.read_bytes() != image.read_bytes():
            target.write_bytes(image.read_bytes())
    return OUT


if __name__ == "__main__":
    print(main())
