"""The comparison's output: progress bar, terminal table, Markdown, JSON, plots.

Optional dependencies (the ``demo`` extra) are used when installed and skipped otherwise:
``rich`` (the table and the progress bar; plain text without it), ``tqdm`` (the progress bar
when rich is absent), ``matplotlib`` (the PNG plots; a message says they were skipped).

The JSON report (``results.json``) holds: ``framework``, ``versions`` (metricloss, python,
numpy, the framework; ``keras_backend``), ``data`` (name, sizes, label cardinality), ``seed``,
``options`` (every option of the run), ``metrics`` (name → header, description, better,
range), ``rules`` (``default``, ``tuned``), ``losses`` (name → title), ``results`` (loss →
``default`` and ``tuned`` metric dicts, ``train_seconds``, ``final_train_loss``),
``total_seconds`` and ``warnings`` (about the data: labels without a positive example in the
training or validation split).

The plots: ``metrics.png``, one panel per metric, both rules (the Hamming loss on an axis
scaled to its values, the others on [0, 1]); ``precision_recall.png``, the micro-averaged
precision–recall curve of each loss (every label's test decisions pooled), labelled with its
micro average precision, and beside it a zoom on the corner where the curves crowd.
"""

from __future__ import annotations

import json
import math
import sys
import textwrap
from pathlib import Path
from typing import Any, TextIO

from metricloss.compare.protocol import METRICS, RULES

__all__ = ["JSON_KEYS", "framework_label", "markdown_table", "print_table", "progress_bar",
           "write_report"]

JSON_KEYS = ("framework", "versions", "data", "seed", "options", "metrics", "rules", "losses",
             "results", "total_seconds", "warnings")
_TABLE_METRICS = ("micro_f1", "macro_f1", "example_f1", "hamming_loss", "mean_ap",
                  "macro_roc_auc",
                  "recall_at_precision", "precision_at_target")


def _rows(report: dict[str, Any]) -> tuple[list[str], list[list[str]], list[tuple[int, int]]]:
    """Header, rows (strings) and the (row, column) cells that are the best of their rule."""
    header = ["loss", "rule", *(METRICS[m][0] for m in _TABLE_METRICS), "s"]
    rows, best = [], []
    results = report["results"]
    for r_index, rule in enumerate(RULES):
        for name in results:
            values = results[name][rule]
            cells = [name, rule]
            for metric in _TABLE_METRICS:
                text = f"{values[metric]:.3f}"
                if metric == "recall_at_precision" and not values["meets_target"]:
                    text += "*"
                cells.append(text)
            cells.append(f"{results[name]['train_seconds']:.1f}")
            rows.append(cells)
        # The best of each column within the rule (R@P only among losses meeting the target).
        for c_index, metric in enumerate(_TABLE_METRICS):
            if metric == "precision_at_target":
                continue
            lower = METRICS[metric][2] == "lower"
            candidates = [(results[n][rule][metric], i) for i, n in enumerate(results)
                          if metric != "recall_at_precision" or results[n][rule]["meets_target"]]
            if not candidates:
                continue
            value = (min if lower else max)(v for v, _ in candidates)
            for v, i in candidates:
                if v == value:
                    best.append((r_index * len(results) + i, 2 + c_index))
    return header, rows, best


def framework_label(report: dict[str, Any]) -> str:
    """The framework as the report names it: ``keras (jax backend)`` for Keras, whose
    results depend on the backend it ran on."""
    framework = str(report["framework"])
    backend = report.get("versions", {}).get("keras_backend")
    return f"{framework} ({backend} backend)" if framework == "keras" and backend else framework


def _legend(report: dict[str, Any]) -> str:
    target = report["options"]["target_precision"]
    return (f"{report['data']['name']}: {report['data']['n_train']} train / "
            f"{report['data']['n_val']} validation / {report['data']['n_test']} test rows, "
            f"{report['data']['n_labels']} labels; {framework_label(report)}, seed "
            f"{report['seed']}, {report['options']['epochs']} epochs. "
            f"Rule default: logit > 0; tuned: per-label thresholds tuned on validation "
            f"(F1; for R@P the highest recall at precision ≥ {target}). R@P and P: micro recall "
            f"and precision on test at those thresholds; * precision below {target} − 0.05. "
            f"Hamming: lower is better. Best per rule in bold.")


def markdown_table(report: dict[str, Any]) -> str:
    """The table as GitHub Markdown (best value per rule and column in bold)."""
    header, rows, best = _rows(report)
    best_cells = set(best)
    lines = ["| " + " | ".join(header) + " |",
             "|---|---|" + "---:|" * (len(header) - 2)]
    for i, row in enumerate(rows):
        cells = [f"**{c}**" if (i, j) in best_cells else c for j, c in enumerate(row)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\n" + _legend(report) + "\n"


def print_table(report: dict[str, Any], *, file: TextIO | None = None,
                plain: bool = False) -> None:
    """The table in the terminal: rich if installed (and ``plain`` is false), else text."""
    file = sys.stdout if file is None else file
    header, rows, best = _rows(report)
    best_cells = set(best)
    try:
        if plain:
            raise ImportError
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        widths = [max(len(header[j]), *(len(r[j]) + 1 for r in rows))
                  for j in range(len(header))]
        fmt = [(str.ljust if j < 2 else str.rjust) for j in range(len(header))]
        print("  ".join(f(h, w) for f, h, w in zip(fmt, header, widths, strict=True)),
              file=file)
        for i, row in enumerate(rows):
            if i and rows[i - 1][1] != row[1]:
                print(file=file)
            cells = [c + ("<" if (i, j) in best_cells else "") if j >= 2 else c
                     for j, c in enumerate(row)]
            print("  ".join(f(c, w) for f, c, w in zip(fmt, cells, widths, strict=True)),
                  file=file)
        print(_legend(report).replace("in bold", "marked <"), file=file)
        return
    table = Table(title=f"metricloss compare — {report['data']['name']}",
                  caption=_legend(report), caption_justify="left")
    for j, h in enumerate(header):
        table.add_column(h, justify="left" if j < 2 else "right", no_wrap=True)
    for i, row in enumerate(rows):
        table.add_row(*[f"[bold green]{c}[/]" if (i, j) in best_cells else c
                        for j, c in enumerate(row)],
                      end_section=i + 1 == len(rows) // 2)
    console = Console(file=file)
    if not console.is_terminal:  # a pipe or a file: no width to fit, keep every digit
        console = Console(file=file, width=160)
    console.print(table)


class _Progress:
    """One bar per loss (epochs): rich, tqdm, or a plain line per loss."""

    def __init__(self, kind: str, file: TextIO) -> None:
        self.kind, self.file = kind, file
        self._bar: Any = None
        self._name = ""
        self._last: float | None = None

    def start(self, name: str, total: int) -> None:
        self._name, self._last = name, None
        if self.kind == "rich":
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._bar = Progress(TextColumn("{task.description:<20}"), BarColumn(),
                                 MofNCompleteColumn(),
                                 TextColumn("epochs  loss {task.fields[loss]}"),
                                 TimeElapsedColumn(), console=Console(file=self.file),
                                 transient=False)
            self._bar.start()
            self._task = self._bar.add_task(name, total=total, loss="")
        elif self.kind == "tqdm":
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=f"{name:<20}", unit="epoch", file=self.file,
                             leave=True)

    def advance(self, loss: float | None = None) -> None:
        self._last = loss
        if self.kind == "rich":
            self._bar.update(self._task, advance=1,
                             loss="" if loss is None else f"{loss:.4f}")
        elif self.kind == "tqdm":
            self._bar.update(1)
            if loss is not None:
                self._bar.set_postfix(loss=f"{loss:.4f}")

    def done(self) -> None:
        if self._bar is not None:
            (self._bar.stop if self.kind == "rich" else self._bar.close)()
            self._bar = None
        elif self.kind == "plain":
            last = "" if self._last is None else f", final training loss {self._last:.4f}"
            print(f"trained {self._name}{last}", file=self.file, flush=True)


def progress_bar(kind: str = "auto", file: TextIO | None = None) -> _Progress:
    """A progress reporter for :func:`metricloss.compare.protocol.run`: ``"rich"``,
    ``"tqdm"``, ``"plain"`` (a line per loss), ``"none"``, or ``"auto"`` (rich, else tqdm,
    else plain)."""
    file = sys.stderr if file is None else file
    if kind == "auto":
        kind = "plain"
        for candidate in ("rich", "tqdm"):
            try:
                __import__(candidate)
            except ImportError:
                continue
            kind = candidate
            break
    if kind not in ("rich", "tqdm", "plain", "none"):
        raise ValueError(f"progress must be rich, tqdm, plain, none or auto; got {kind!r}")
    return _Progress(kind, file)


def _jsonable(report: dict[str, Any]) -> dict[str, Any]:
    out = {k: report.get(k, []) if k == "warnings" else report[k] for k in JSON_KEYS}
    out["results"] = {name: {k: v for k, v in entry.items() if k != "scores"}
                      for name, entry in report["results"].items()}
    return out


def write_report(report: dict[str, Any], out: str | Path, *, log: TextIO | None = None
                 ) -> list[Path]:
    """Write ``results.md``, ``results.json`` and the PNG plots into the folder ``out``
    (created if needed); the paths written. Plots are skipped, with a message on ``log``,
    when matplotlib is not installed."""
    log = sys.stderr if log is None else log
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    md = folder / "results.md"
    notes = "".join(f"\n**Warning:** {note}.\n" for note in report.get("warnings", []))
    md.write_text(f"# metricloss compare — {report['data']['name']}\n\n"
                  + markdown_table(report) + notes)
    js = folder / "results.json"
    js.write_text(json.dumps(_jsonable(report), indent=2) + "\n")
    written += [md, js]
    try:
        import matplotlib
    except ImportError:
        print("matplotlib is not installed: plots skipped (pip install 'metricloss[demo]')",
              file=log)
        return written
    matplotlib.use("Agg")
    written += _plots(report, folder)
    return written


_RAP_NOTE = ("R@P, tuned: per label, the highest recall whose validation precision is ≥ "
             "{target}: recall is traded for precision, so a tuned bar can sit below the "
             "default bar (logit > 0), which often misses the precision target (hatched).")


def _metrics_figure(report: dict[str, Any], folder: Path) -> Path:
    import matplotlib.pyplot as plt
    import numpy as np

    names = list(report["results"])
    target = report["options"]["target_precision"]
    metrics = ("micro_f1", "macro_f1", "example_f1", "hamming_loss", "mean_ap",
               "recall_at_precision")
    fig, axes = plt.subplots(2, 3, figsize=(13, 7.4), constrained_layout=True)
    x = np.arange(len(names))
    for ax, metric in zip(axes.flat, metrics, strict=True):
        largest = 0.0
        for k, rule in enumerate(RULES):
            values = [report["results"][n][rule][metric] for n in names]
            largest = max(largest, *values)
            bars = ax.bar(x + (k - 0.5) * 0.38, values, width=0.38, label=rule,
                          color=f"C{k}")
            if metric == "recall_at_precision":  # hatched: the precision target is missed
                for bar, n in zip(bars, names, strict=True):
                    if not report["results"][n][rule]["meets_target"]:
                        bar.set_hatch("//")
                        bar.set_alpha(0.5)
        title = f"{METRICS[metric][0]} ({METRICS[metric][2]} is better)"
        if metric == "recall_at_precision":
            title = f"R@P (hatched: P < {target} − 0.05; note below)"
        if metric == "hamming_loss":
            # Its values can be tiny (0.001–0.04 on genbase): an axis fitted to them.
            title += ", axis scaled"
            ax.set_ylim(0, 1.15 * largest if largest > 0 else 1.0)
        else:
            ax.set_ylim(0, 1)
        ax.set_title(title)
        ax.set_xticks(x, names, rotation=45, ha="right")
    fig.legend(*axes.flat[0].get_legend_handles_labels(), loc="outside upper right",
               title="rule")
    fig.suptitle(f"{report['data']['name']} — {framework_label(report)}, seed {report['seed']}")
    notes = [_RAP_NOTE.format(target=target),
             *(f"Warning: {w}." for w in report.get("warnings", []) if "training split" in w)]
    fig.supxlabel("\n".join(textwrap.fill(n, 150) for n in notes), fontsize=9)
    path = folder / "metrics.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _micro_curve(scores: Any, y: Any) -> tuple[Any, Any]:
    """Micro precision–recall curve: every (example, label) decision pooled, one point per
    distinct score (tied scores form one step, as scikit-learn's curve), starting at recall 0
    with precision 1."""
    import numpy as np

    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s) != 0), len(s) - 1]  # end of each tie group
    tp = np.cumsum(y)[last]
    precision = tp / (last + 1)
    recall = tp / max(float(y.sum()), 1.0)
    return np.r_[0.0, recall], np.r_[1.0, precision]


def _zoom_box(curves: list[tuple[Any, Any]]) -> tuple[float, float] | None:
    """``(low, high)``, the same for recall and precision, of the square where the curves
    crowd, or ``None`` when they do not (the full plot then shows them apart).

    Each curve's break-even point ``max min(precision, recall)`` summarises it; the curves
    crowd when the interquartile range of those is under 0.1. The square is centred on their
    median, with half-width ``3·IQR + 0.05`` (between 0.08 and 0.25), kept inside [0, 1]:
    on genbase, where every curve hugs the top-right corner, about [0.84, 1]; on yeast
    [0.55, 0.75], where the curves cross the precision target."""
    import numpy as np

    break_even = np.array([float(np.max(np.minimum(r, p))) for r, p in curves])
    q1, median, q3 = np.percentile(break_even, [25, 50, 75])
    if q3 - q1 >= 0.1:
        return None
    half = min(max(3 * (q3 - q1) + 0.05, 0.08), 0.25)
    high = min(1.0, median + half)
    low = max(0.0, high - 2 * half)
    return math.floor(low * 100) / 100, math.ceil(high * 100) / 100


def _precision_recall_figure(report: dict[str, Any], folder: Path) -> Path:
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.patches import Rectangle

    from metricloss.metrics import average_precision_score

    names = list(report["results"])
    y = np.asarray(report["y_test"])
    curves = {}
    for name in names:
        scores = np.asarray(report["results"][name]["scores"], dtype=np.float64)
        micro_ap = float(average_precision_score(scores, y, average="micro"))
        curves[name] = (*_micro_curve(scores, y), micro_ap)
    box = _zoom_box([(r, p) for r, p, _ in curves.values()])
    fig, axes = plt.subplots(1, 2 if box is not None else 1,
                             figsize=(13, 6) if box is not None else (7, 6),
                             constrained_layout=True, squeeze=False)
    target = report["options"]["target_precision"]
    for k, ax in enumerate(axes.flat):
        for name, (recall, precision, micro_ap) in curves.items():
            # precision_k holds on (recall_{k-1}, recall_k]: scikit-learn's display.
            ax.step(recall, precision, where="pre",
                    label=f"{name} (micro AP {micro_ap:.3f})")
        ax.axhline(target, color="grey", linestyle=":", label=f"target precision {target}")
        ax.set_xlabel("recall (micro, test)")
        ax.set_ylabel("precision (micro, test)")
        if k == 0:
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 1.02)
            ax.legend(fontsize=8, loc="lower left")
            ax.set_title(f"Precision–recall, all labels pooled (micro), "
                         f"{report['data']['name']} — {framework_label(report)}", fontsize=11)
        else:
            assert box is not None
            low, high = box
            top = high + 0.005 if high >= 1 else high  # the precision-1 plateau stays visible
            ax.set_xlim(low, high)
            ax.set_ylim(low, top)
            ax.set_title(f"Zoom on [{low:.2f}, {high:.2f}]², where the curves crowd",
                         fontsize=11)
            axes.flat[0].add_patch(Rectangle((low, low), high - low, top - low, fill=False,
                                             edgecolor="black", linestyle="--", linewidth=0.8))
    path = folder / "precision_recall.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _plots(report: dict[str, Any], folder: Path) -> list[Path]:
    return [_metrics_figure(report, folder), _precision_recall_figure(report, folder)]
