"""Training efficacy: every loss × the five MULAN data sets × seeds, in one framework.

    python benchmarks/efficacy.py [--framework torch] [--seeds 0 1 2] [--epochs 40]
                                  [--data emotions enron ...] [--out benchmarks/results]

Runs the protocol of ``metricloss compare`` (:mod:`metricloss.compare.protocol`: seeded
validation split, train-only standardisation, the same MLP, Adam, epochs and seed for every
loss, thresholds tuned on validation, the test split used once) for each data set and seed,
and writes ``efficacy.json`` (every run's metrics, means and standard deviations over seeds)
and ``efficacy.md`` (the tables, and where each metric loss beats binary cross-entropy and ASL
on the metric it targets). ``nox -s efficacy`` runs it (not part of the default sessions).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(ROOT))

from metricloss.compare.protocol import (  # noqa: E402
    LOSSES,
    METRICS,
    Options,
    framework_versions,
    run,
)
from metricloss.datasets import MULAN_NAMES  # noqa: E402

EFFICACY_LOSSES = ("bce", "focal", "asl", "sigmoid_f1", "any_loss", "zlpr",
                   "recall_at_precision", "pr_auc", "bce+sigmoid_f1", "roc_auc", "auc_m")
BASELINES = ("bce", "asl")
TABLE = (("macro_f1", "default"), ("macro_f1", "tuned"), ("micro_f1", "default"),
         ("micro_f1", "tuned"), ("mean_ap", "default"), ("macro_roc_auc", "default"),
         ("recall_at_precision", "default"),
         ("recall_at_precision", "tuned"))


def summarise(runs: dict[str, dict[int, dict[str, Any]]]) -> dict[str, Any]:
    """Mean and (sample) standard deviation over seeds of every loss × rule × metric."""
    out: dict[str, Any] = {}
    for data, by_seed in runs.items():
        seeds = sorted(by_seed)
        out[data] = {}
        for loss in by_seed[seeds[0]]["results"]:
            entry: dict[str, Any] = {}
            for rule in ("default", "tuned"):
                entry[rule] = {}
                for metric in [*METRICS, "meets_target"]:
                    values = [float(by_seed[s]["results"][loss][rule][metric]) for s in seeds]
                    entry[rule][metric] = {
                        "mean": statistics.fmean(values),
                        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
                    }
            seconds = [by_seed[s]["results"][loss]["train_seconds"] for s in seeds]
            entry["train_seconds"] = statistics.fmean(seconds)
            out[data][loss] = entry
    return out


def _target_value(entry: dict[str, Any], metric: str) -> float:
    """The mean of ``metric``; recall at a precision target counts only where the target is
    met (on most seeds): high recall at a low precision scores 0."""
    if metric == "recall_at_precision" and entry["meets_target"]["mean"] < 0.5:
        return 0.0
    return entry[metric]["mean"]


def verdicts(summary: dict[str, Any]) -> dict[str, Any]:
    """For each metric loss, data set and rule: does its mean on its target metric beat the
    means of both BCE and ASL? (For R@P: only counted when the loss meets the precision
    target on average.)"""
    out: dict[str, Any] = {}
    for loss, choice in LOSSES.items():
        metric = choice.targets
        if not metric or loss in BASELINES:
            continue
        out[loss] = {"metric": metric, "data": {}}
        for data, entries in summary.items():
            if loss not in entries or any(b not in entries for b in BASELINES):
                continue
            out[loss]["data"][data] = {}
            for rule in ("default", "tuned"):
                mine = _target_value(entries[loss][rule], metric)
                best_base = max(_target_value(entries[b][rule], metric) for b in BASELINES)
                ok = mine > best_base
                out[loss]["data"][data][rule] = {"wins": bool(ok), "value": mine,
                                                 "best_baseline": best_base}
    return out


def _cell(entry: dict[str, Any], metric: str, rule: str) -> str:
    v = entry[rule][metric]
    text = f"{v['mean']:.3f} ± {v['std']:.3f}"
    if metric == "recall_at_precision":
        p = entry[rule]["precision_at_target"]["mean"]
        text += f" (P {p:.2f})"
    return text


def markdown(result: dict[str, Any]) -> str:
    summary, verdict = result["summary"], result["verdicts"]
    opts = result["options"]
    lines = [
        "# Training efficacy on the MULAN benchmarks",
        "",
        f"`python benchmarks/efficacy.py` (`nox -s efficacy`): {opts['framework']}, "
        f"seeds {opts['seeds']}, {opts['epochs']} epochs, batch {opts['batch_size']}, Adam "
        f"lr {opts['lr']}, MLP with {opts['hidden']} hidden units (ReLU, dropout "
        f"{opts['dropout']}), validation {opts['val_fraction']:.0%} of train. Mean ± standard "
        f"deviation over seeds of test metrics. Rule *default*: logit > 0; *tuned*: "
        f"per-label thresholds tuned on validation (F1; for R@P the highest recall at "
        f"precision ≥ the target). R@P: micro recall on test at those thresholds, with the "
        f"micro precision reached (P). Total time {result['total_seconds'] / 60:.1f} min.",
        "",
        "## Does each metric loss beat BCE and ASL on the metric it targets?",
        "",
        "Mean over seeds of the loss on its target metric against the better of BCE and ASL "
        "(✓ wins, ✗ does not). R@P counts only where the precision target is met (test micro "
        "precision ≥ target − 0.05 on most seeds), else it is shown as 0:",
        "",
        "| loss | target metric | rule | " + " | ".join(summary) + " | wins |",
        "|---|---|---|" + "---|" * len(summary) + "---:|",
    ]
    for loss, v in verdict.items():
        for rule in ("default", "tuned"):
            cells, wins = [], 0
            for data in summary:
                d = v["data"].get(data, {}).get(rule)
                if d is None:
                    cells.append("–")
                    continue
                wins += d["wins"]
                cells.append(f"{'✓' if d['wins'] else '✗'} {d['value']:.3f} vs "
                             f"{d['best_baseline']:.3f}")
            lines.append(f"| {loss} | {METRICS[v['metric']][0]} | {rule} | "
                         + " | ".join(cells) + f" | {wins}/{len(cells)} |")
    for data, entries in summary.items():
        target = result["targets"][data]
        lines += ["", f"## {data} (target precision {target})", "",
                  "| loss | " + " | ".join(f"{METRICS[m][0]} {r}" for m, r in TABLE)
                  + " | s |",
                  "|---|" + "---:|" * (len(TABLE) + 1)]
        for loss, entry in entries.items():
            lines.append(f"| {loss} | " + " | ".join(_cell(entry, m, r) for m, r in TABLE)
                         + f" | {entry['train_seconds']:.1f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--framework", default="torch", choices=("torch", "jax", "keras"))
    parser.add_argument("--data", nargs="+", default=list(MULAN_NAMES))
    parser.add_argument("--losses", nargs="+", default=list(EFFICACY_LOSSES))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (proves it runs)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--render", action="store_true",
                        help="only rebuild efficacy.md (and the summary) from efficacy.json")
    args = parser.parse_args(argv)
    if args.render:
        path = args.out / "efficacy.json"
        result = json.loads(path.read_text())
        runs = {d: {int(k): v for k, v in by_seed.items()} for d, by_seed in
                result["runs"].items()}
        result["summary"] = summarise(runs)
        result["verdicts"] = verdicts(result["summary"])
        path.write_text(json.dumps(result, indent=1) + "\n")
        (args.out / "efficacy.md").write_text(markdown(result))
        return 0
    if args.framework == "torch":
        import torch

        torch.set_num_threads(1)  # a tiny MLP: threads cost more than they give
    runs: dict[str, dict[int, dict[str, Any]]] = {}
    targets: dict[str, float] = {}
    start = time.perf_counter()
    options = None
    for data in args.data:
        runs[data] = {}
        for seed in args.seeds:
            options = Options(framework=args.framework, data=data, losses=tuple(args.losses),
                              epochs=args.epochs, batch_size=args.batch_size, seed=seed,
                              quick=args.quick)
            report = run(options)
            targets[data] = report["options"]["target_precision"]
            runs[data][seed] = {"results": {
                loss: {k: v for k, v in entry.items() if k != "scores"}
                for loss, entry in report["results"].items()}, "data": report["data"]}
            print(f"{data} seed {seed}: {report['total_seconds']:.0f} s "
                  f"({time.perf_counter() - start:.0f} s so far)", file=sys.stderr, flush=True)
    assert options is not None
    resolved = options.resolved()
    summary = summarise(runs)
    result = {
        "framework": args.framework,
        "versions": framework_versions(args.framework),
        "options": {"framework": args.framework, "seeds": args.seeds,
                    "epochs": resolved.epochs, "batch_size": resolved.batch_size,
                    "lr": resolved.lr, "hidden": resolved.hidden,
                    "dropout": resolved.dropout, "val_fraction": resolved.val_fraction,
                    "losses": args.losses, "quick": args.quick},
        "targets": targets,
        "summary": summary,
        "verdicts": verdicts(summary),
        "runs": runs,
        "total_seconds": time.perf_counter() - start,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "efficacy.json").write_text(json.dumps(result, indent=1) + "\n")
    (args.out / "efficacy.md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
