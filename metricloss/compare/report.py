"""The comparison's output: progress bar, terminal table, Markdown, JSON, plots.

Optional dependencies (the ``demo`` extra) are used when installed and skipped otherwise:
``rich`` (the table and the progress bar; plain text without it), ``tqdm`` (the progress bar
when rich is absent), ``matplotlib`` (the PNG plots; a message says they were skipped).

The JSON report (``results.json``) holds: ``framework``, ``versions`` (metricloss, python,
numpy, the framework; ``keras_backend``), ``data`` (name, sizes, label cardinality), ``seed``,
``options`` (every option of the run), ``metrics`` (name → header, description, better,
range), ``rules`` (``default``, ``tuned``), ``losses`` (name → title), ``results`` (loss →
``default`` and ``tuned`` metric dicts, ``train_seconds``, ``final_train_loss``) and
``total_seconds``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, TextIO

from metricloss.compare.protocol import METRICS, RULES

__all__ = ["JSON_KEYS", "markdown_table", "print_table", "progress_bar", "write_report"]

JSON_KEYS = ("framework", "versions", "data", "seed", "options", "metrics", "rules", "losses",
             "results", "total_seconds")
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


def _legend(report: dict[str, Any]) -> str:
    target = report["options"]["target_precision"]
    return (f"{report['data']['name']}: {report['data']['n_train']} train / "
            f"{report['data']['n_val']} validation / {report['data']['n_test']} test rows, "
            f"{report['data']['n_labels']} labels; {report['framework']}, seed "
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
    out = {k: report[k] for k in JSON_KEYS}
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
    md.write_text(f"# metricloss compare — {report['data']['name']}\n\n"
                  + markdown_table(report))
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


def _plots(report: dict[str, Any], folder: Path) -> list[Path]:
    import matplotlib.pyplot as plt
    import numpy as np

    names = list(report["results"])
    metrics = ("micro_f1", "macro_f1", "example_f1", "hamming_loss", "mean_ap",
               "recall_at_precision")
    fig, axes = plt.subplots(2, 3, figsize=(13, 7), constrained_layout=True)
    x = np.arange(len(names))
    for ax, metric in zip(axes.flat, metrics, strict=True):
        for k, rule in enumerate(RULES):
            values = [report["results"][n][rule][metric] for n in names]
            bars = ax.bar(x + (k - 0.5) * 0.38, values, width=0.38, label=rule,
                          color=f"C{k}")
            if metric == "recall_at_precision":  # hatched: the precision target is missed
                for bar, n in zip(bars, names, strict=True):
                    if not report["results"][n][rule]["meets_target"]:
                        bar.set_hatch("//")
                        bar.set_alpha(0.5)
        title = f"{METRICS[metric][0]} ({METRICS[metric][2]} is better)"
        if metric == "recall_at_precision":
            title = f"R@P (hatched: precision < {report['options']['target_precision']} − 0.05)"
        ax.set_title(title)
        ax.set_xticks(x, names, rotation=45, ha="right")
        ax.set_ylim(0, 1)
    axes.flat[0].legend()
    fig.suptitle(f"{report['data']['name']} — {report['framework']}, seed {report['seed']}")
    metrics_png = folder / "metrics.png"
    fig.savefig(metrics_png, dpi=110)
    plt.close(fig)

    y = np.asarray(report["y_test"]).ravel()
    fig, ax = plt.subplots(figsize=(7, 6), constrained_layout=True)
    for name in names:
        s = np.asarray(report["results"][name]["scores"]).ravel()
        order = np.argsort(-s, kind="stable")
        tp = np.cumsum(y[order])
        precision = tp / np.arange(1, len(s) + 1)
        recall = tp / max(y.sum(), 1)
        mean_ap = report["results"][name]["default"]["mean_ap"]
        ax.plot(recall, precision, label=f"{name} (mAP {mean_ap:.3f})")
    target = report["options"]["target_precision"]
    ax.axhline(target, color="grey", linestyle=":", label=f"target precision {target}")
    ax.set_xlabel("recall (micro, test)")
    ax.set_ylabel("precision (micro, test)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=8)
    ax.set_title(f"Precision–recall, {report['data']['name']}")
    pr_png = folder / "precision_recall.png"
    fig.savefig(pr_png, dpi=110)
    plt.close(fig)
    return [metrics_png, pr_png]
