#!/usr/bin/env python
"""How cost grows: time and peak memory of forward+backward against B and against L.

Usage::

    python benchmarks/scaling.py                    # full sweep, writes benchmarks/results/
    python benchmarks/scaling.py --quick --out DIR  # two tiny points per sweep (CI smoke test:
                                                    # torch eager, jax.jit for sigmoidF1 only)
    python benchmarks/scaling.py --frameworks torch --families sigmoid_f1,zlpr_sparse

Two sweeps: B = 64 … 65,536 at L = 100, and L = 10 … 100,000 at B = 256. Families: sigmoidF1,
ZLPR dense and sparse (8 positives per row), recall at precision, PR-AUC (K = 10 anchors),
ROC-AUC pairwise (the default) and ROC-AUC sort (``method="sort"``, hinge); each metricloss call
beside the native form of the main benchmark (``benchmarks/cases/``; ROC-AUC sort beside the
native all-pairs form). Modes: PyTorch eager and ``torch.compile``, ``jax.jit``.

Each point: two warm-up calls (the first compiles), then 3 rounds alternating metricloss and
native, each measurement the fastest of a burst of about 50 ms (``benchmarks/timing.py``); the
median over rounds is kept. Peak memory of one call as in the main benchmark
(``Framework.peak_memory``: the PyTorch profiler's allocation events, XLA's memory analysis).
A sweep stops growing for an implementation once one call takes more than ``--cap`` seconds
(default 2 s), or when its pairwise ``(B, B, L)`` work would exceed 2**28 elements (1 GiB in
float32): the largest sizes of the quadratic method are left out, and the page says so.

Slopes: the least-squares slope of log(time) against log(size) over the points of a sweep whose
metricloss time is at least 20× the smallest one (above the fixed per-call cost), at least
three points; ``1`` is linear growth, ``2`` quadratic. Writes ``scaling.json``, ``scaling.md``
and the log–log plot ``scaling.png`` (matplotlib) into ``--out``.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from benchmarks.cases import ALL_CASES, Case  # noqa: E402
from benchmarks.frameworks import get_framework  # noqa: E402
from benchmarks.timing import alternate, calibrate  # noqa: E402

SEED = 20261202
B_SWEEP = (64, 256, 1024, 4096, 16_384, 65_536)
L_SWEEP = (10, 100, 1000, 10_000, 100_000)
B_FIXED_L, L_FIXED_B = 100, 256
QUICK_B, QUICK_L = (16, 64), (10, 40)
PAIR_LIMIT = 2**28  # elements of (B, B, L) pairwise work beyond which a point is not run
MODES = {"torch": ("eager", "compiled"), "jax": ("compiled",)}
# Quick mode proves the script end to end in seconds: no torch.compile (a compile per point),
# and jax.jit for one family only.
QUICK_MODES = {"torch": ("eager",), "jax": ("compiled",)}
QUICK_JAX_FAMILIES = ("sigmoid_f1",)
MODE_LABEL = {("torch", "eager"): "torch eager", ("torch", "compiled"): "torch.compile",
              ("jax", "compiled"): "jax.jit"}


def _case(name: str) -> Case:
    return next(c for c in ALL_CASES if c.name == name)


# (family, case of the main benchmark, extra shape entries, metricloss override, pairwise)
FAMILIES: tuple[tuple[str, str, dict[str, int], Callable[[Any], Any] | None, bool], ...] = (
    ("sigmoid_f1", "sigmoid_f1_loss", {}, None, False),
    ("zlpr_dense", "multilabel_categorical_crossentropy(bool labels)", {}, None, False),
    ("zlpr_sparse", "sparse_multilabel_categorical_crossentropy", {"P": 8}, None, False),
    ("recall_at_precision", "recall_at_precision_loss", {}, None, False),
    ("pr_auc", "precision_recall_auc_loss", {"K": 10}, None, False),
    ("roc_auc_pairwise", "roc_auc_loss", {}, None, True),
    ("roc_auc_sort", "roc_auc_loss", {},
     lambda m: lambda z, y: m.roc_auc_loss(z, y, surrogate="hinge", method="sort"), False),
)


def _points(quick: bool) -> list[tuple[str, dict[str, int]]]:
    bs, ls = (QUICK_B, QUICK_L) if quick else (B_SWEEP, L_SWEEP)
    fixed_l, fixed_b = (10, 16) if quick else (B_FIXED_L, L_FIXED_B)
    return ([("B", {"B": b, "L": fixed_l}) for b in bs]
            + [("L", {"B": fixed_b, "L": n}) for n in ls])


# ---------------------------------------------------------------------------------------------
# Worker: one framework
# ---------------------------------------------------------------------------------------------


def _time_point(fw: Any, case: Case, ml_fn: Any, shape: dict[str, int], mode: str,
                quick: bool, skip: set[str]) -> dict[str, Any]:
    import importlib

    arrays = case.inputs(np.random.default_rng(SEED), shape)
    args = tuple(fw.asarray(a) for a in arrays)
    fns = {"metricloss": ml_fn(importlib.import_module(case.module)),
           "native": case.native[fw.name]()}
    fns = {k: f for k, f in fns.items() if k not in skip}
    rec: dict[str, Any] = {"seconds": {}, "memory_bytes": {}, "first_call_s": {}}
    if not fns:
        return rec
    steps = {k: fw.step(f, mode) for k, f in fns.items()}
    thunks = {k: (lambda s=s: s(*args)) for k, s in steps.items()}
    slow: dict[str, float] = {}
    for k, thunk in thunks.items():
        start = time.perf_counter()
        thunk()
        rec["first_call_s"][k] = time.perf_counter() - start
        start = time.perf_counter()
        thunk()
        slow[k] = time.perf_counter() - start
    if quick:
        rec["seconds"] = dict(slow)
    else:
        inner = {k: max(1, calibrate(t, target_s=0.05, max_inner=200)[0]) if slow[k] < 0.5
                 else 1 for k, t in thunks.items()}
        times = alternate(thunks, rounds=3, inner=inner)
        rec["seconds"] = {k: float(np.median(v)) for k, v in times.items()}
        for k in fns:
            try:
                rec["memory_bytes"][k] = fw.peak_memory(fns[k], steps[k], mode, args)
            except Exception as err:  # a side measurement: never fail the point
                rec["memory_bytes"][k] = None
                rec.setdefault("memory_errors", {})[k] = f"{type(err).__name__}: {err}"
    return rec


def worker(framework: str, families: list[str], quick: bool, cap: float) -> dict[str, Any]:
    fw = get_framework(framework)
    points: list[dict[str, Any]] = []
    for family, case_name, extra, override, pairwise in FAMILIES:
        if families and family not in families:
            continue
        case = _case(case_name)
        ml_fn = override or case.metricloss
        if quick and framework == "jax" and family not in QUICK_JAX_FAMILIES:
            continue
        for mode in (QUICK_MODES if quick else MODES).get(framework, ()):
            stopped: set[str] = set()
            last_sweep = None
            for sweep, base in _points(quick):
                if sweep != last_sweep:
                    stopped, last_sweep = set(), sweep
                shape = {**base, **extra}
                row: dict[str, Any] = {"family": family, "framework": framework, "mode": mode,
                                       "sweep": sweep, "shape": shape}
                skip = set(stopped)
                if shape["B"] ** 2 * shape["L"] > PAIR_LIMIT and family.startswith("roc"):
                    # The native form is all-pairs; so is metricloss' pairwise method.
                    skip |= {"native", "metricloss"} if pairwise else {"native"}
                    row["note"] = "left out: (B, B, L) pairwise work over 2**28 elements"
                start = time.perf_counter()
                try:
                    row.update(_time_point(fw, case, ml_fn, shape, mode, quick, skip))
                    row["status"] = "ok"
                except Exception as err:
                    row.update(status="error", error=f"{type(err).__name__}: {err}",
                               traceback=traceback.format_exc(limit=-6))
                row["wall_s"] = time.perf_counter() - start
                for k, s in row.get("seconds", {}).items():
                    if s > cap:
                        stopped.add(k)
                points.append(row)
                shown = ", ".join(f"{k} {v * 1e3:.3g} ms" for k, v in row.get("seconds",
                                                                                {}).items())
                print(f"[{framework}] {family} {mode} {sweep}: {shape} {row['status']} "
                      f"{shown} ({row['wall_s']:.1f} s)", flush=True)
                gc.collect()
    return {"framework": framework, "version": fw.version(), "points": points}


# ---------------------------------------------------------------------------------------------
# Slopes, table, plot
# ---------------------------------------------------------------------------------------------


def fit_slope(sizes: list[float], seconds: list[float]) -> float | None:
    """Least-squares slope of log(seconds) on log(size) over the points at least 20× the
    fastest one (past the fixed per-call cost); ``None`` with fewer than three such points."""
    pairs = [(n, s) for n, s in zip(sizes, seconds, strict=True) if s and s > 0]
    if not pairs:
        return None
    floor = min(s for _, s in pairs)
    used = [(n, s) for n, s in pairs if s >= 20 * floor]
    if len(used) < 3:
        used = pairs[-3:] if len(pairs) >= 3 and max(s for _, s in pairs) >= 20 * floor else []
    if len(used) < 3:
        return None
    x = np.log([n for n, _ in used])
    y = np.log([s for _, s in used])
    return float(np.polyfit(x, y, 1)[0])


def _series(points: list[dict[str, Any]]) -> dict[tuple[str, str, str, str, str],
                                                   list[tuple[int, float, int | None]]]:
    out: dict[tuple[str, str, str, str, str], list[tuple[int, float, int | None]]] = {}
    for p in points:
        if p.get("status") != "ok":
            continue
        for impl, s in p.get("seconds", {}).items():
            key = (p["family"], p["framework"], p["mode"], p["sweep"], impl)
            mem = p.get("memory_bytes", {}).get(impl)
            out.setdefault(key, []).append((p["shape"][p["sweep"]], s, mem))
    return out


def slopes(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for (family, framework, mode, sweep, impl), series in sorted(_series(points).items()):
        sizes = [n for n, _, _ in series]
        secs = [s for _, s, _ in series]
        rows.append({"family": family, "framework": framework, "mode": mode, "sweep": sweep,
                     "impl": impl, "slope": fit_slope(sizes, secs), "largest": max(sizes),
                     "largest_s": secs[sizes.index(max(sizes))]})
    return rows


def _fmt(v: float | None, spec: str = ".2f") -> str:
    return "—" if v is None else format(v, spec)


def markdown(results: dict[str, Any]) -> str:
    load = results.get("load_average_start"), results.get("load_average_end")
    lines = [
        "# How cost grows (scaling)",
        "",
        f"Measured {results['date']} on {results['machine']}; load average at start / end "
        f"{load[0]} / {load[1]}" + (" (quick mode: tiny sizes, no timing meaning)"
                                     if results["quick"] else "") + ".",
        f"Command: `{results['command']}`. Versions: "
        + ", ".join(f"{k} {v}" for k, v in results["versions"].items()) + ".",
        "",
        "Forward+backward, float32. Two sweeps: B at L = 100, and L at B = 256. Slope: the "
        "least-squares slope of log(time) on log(size) above the fixed per-call cost (1 = "
        "linear, 2 = quadratic; — where fewer than three points are past it).",
        "",
        "![time and memory against B and L, log–log](scaling.png)",
        "",
        "| family | mode | sweep | metricloss slope | native slope | largest size | "
        "metricloss s there | native s there |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    table: dict[tuple[str, str, str, str], dict[str, dict[str, Any]]] = {}
    for r in slopes(results["points"]):
        key = (r["family"], r["framework"], r["mode"], r["sweep"])
        table.setdefault(key, {})[r["impl"]] = r
    for (family, framework, mode, sweep), impls in table.items():
        ml, nat = impls.get("metricloss", {}), impls.get("native", {})
        lines.append(
            f"| {family} | {MODE_LABEL.get((framework, mode), mode)} | {sweep} | "
            f"{_fmt(ml.get('slope'))} | {_fmt(nat.get('slope'))} | "
            f"{ml.get('largest', nat.get('largest', '—'))} | {_fmt(ml.get('largest_s'), '.3g')} "
            f"| {_fmt(nat.get('largest_s'), '.3g')} |")
    left_out = sorted({f"{p['family']} {p['shape']}" for p in results["points"]
                       if p.get("note")})
    if left_out:
        lines += ["", "Left out (quadratic work): " + "; ".join(left_out) + "."]
    errors = [p for p in results["points"] if p.get("status") == "error"]
    if errors:
        lines += ["", "Errors: " + "; ".join(f"{p['family']} {p['mode']} {p['shape']}: "
                                             f"{p['error']}" for p in errors) + "."]
    lines += ["", NOTES]
    return "\n".join(lines) + "\n"


NOTES = """\
Where cost is linear and where it is not: sigmoidF1, ZLPR (dense and sparse) and the constrained
losses (recall at precision) read each logit a fixed number of times, so their cost is linear in
B·L once past the fixed per-call cost (expected slope 1 in both sweeps; above 1 where the working
set leaves the caches: B·L = 2.6·10⁷ float32 is 100 MiB per array). PR-AUC is linear in B·L·K
(K anchors, fixed here). ROC-AUC pairwise forms the B² pairs of each label (expected slope 2 in
B, 1 in L; memory B²·L unless `chunk_size` is given), while `method="sort"` (hinge) ranks the
scores: B·log B per label. metricloss never switches method by itself: ROC-AUC is pairwise
unless `method="sort"` is passed (hinge only), and sparse ZLPR is one scatter and one
`logsumexp` over the logits at every size."""


def plot(results: dict[str, Any], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    series = _series(results["points"])
    modes = sorted({(k[1], k[2]) for k in series})
    fig, axes = plt.subplots(2, 2, figsize=(12, 9))
    families = [f[0] for f in FAMILIES]
    colors = {f: plt.get_cmap("tab10")(i) for i, f in enumerate(families)}
    styles = {m: s for m, s in zip(modes, ("-", "--", ":", "-."), strict=False)}
    for col, sweep in enumerate(("B", "L")):
        ax_t, ax_m = axes[0][col], axes[1][col]
        for (family, framework, mode, sw, impl), pts in series.items():
            if sw != sweep or impl != "metricloss":
                continue
            sizes = [n for n, _, _ in pts]
            label = f"{family}, {MODE_LABEL.get((framework, mode), mode)}"
            ax_t.loglog(sizes, [s for _, s, _ in pts], styles[(framework, mode)], marker="o",
                        ms=3, color=colors[family], label=label)
            mem = [(n, m) for n, _, m in pts if m]
            if mem:
                ax_m.loglog([n for n, _ in mem], [m for _, m in mem], styles[(framework, mode)],
                            marker="o", ms=3, color=colors[family])
        fixed = f"L = {B_FIXED_L}" if sweep == "B" else f"B = {L_FIXED_B}"
        ax_t.set(title=f"time against {sweep} ({fixed})", xlabel=sweep, ylabel="seconds")
        ax_m.set(title=f"peak memory against {sweep} ({fixed})", xlabel=sweep, ylabel="bytes")
        for ax in (ax_t, ax_m):
            ax.grid(True, which="major", alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=7)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


# ---------------------------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------------------------


def _loadavg() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def driver(args: argparse.Namespace, argv: list[str]) -> int:
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "command": " ".join(["python benchmarks/scaling.py", *argv]), "quick": args.quick,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} CPUs", "load_average_start": _loadavg(),
        "versions": {}, "points": [],
    }
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONWARNINGS="ignore")
    failed = False
    for name in [f for f in args.frameworks.split(",") if f]:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "worker.json"
            cmd = [sys.executable, str(Path(__file__).resolve()), *argv, "--worker", name,
                   "--worker-out", str(path)]
            proc = subprocess.run(cmd, env=env, check=False)
            if proc.returncode != 0 or not path.exists():
                print(f"[{name}] worker failed (exit {proc.returncode})", flush=True)
                failed = True
                continue
            part = json.loads(path.read_text())
        results["versions"][name] = part["version"]
        results["points"].extend(part["points"])
    results["load_average_end"] = _loadavg()
    results["slopes"] = slopes(results["points"])
    stem = "scaling_quick" if args.quick else "scaling"
    (out_dir / f"{stem}.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    text = markdown(results)
    if not plot(results, out_dir / f"{stem}.png"):
        text = text.replace("![time and memory against B and L, log–log](scaling.png)",
                            "(matplotlib not installed: no plot)")
    elif args.quick:
        text = text.replace("(scaling.png)", f"({stem}.png)")
    (out_dir / f"{stem}.md").write_text(text)
    print(f"wrote {out_dir / stem}.json/.md/.png", flush=True)
    errors = [p for p in results["points"] if p.get("status") == "error"]
    for p in errors:
        print(f"FAILED: {p['family']} {p['framework']} {p['mode']} {p['shape']}: {p['error']}")
    return 1 if failed or errors else 0


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="two tiny points per sweep, one call")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    p.add_argument("--frameworks", default="torch,jax")
    p.add_argument("--families", default="", help="comma-separated family names")
    p.add_argument("--cap", type=float, default=2.0,
                   help="seconds per call past which a sweep stops growing for that code")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--worker-out", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.worker:
        families = [f for f in args.families.split(",") if f]
        part = worker(args.worker, families, args.quick, args.cap)
        Path(args.worker_out).write_text(json.dumps(part, default=str))
        return 0
    return driver(args, argv)


if __name__ == "__main__":
    sys.exit(main())
