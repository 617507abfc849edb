#!/usr/bin/env python
"""Benchmark metricloss against hand-written native code: speed and memory, eager and compiled.

Usage::

    python benchmarks/run.py                      # full run, writes benchmarks/results/
    python benchmarks/run.py --quick --out DIR    # every case once at a tiny size (CI smoke)
    python benchmarks/run.py --frameworks jax --cases sigmoid_f1 --modes compiled

After the cases, the scaling benchmark (``benchmarks/scaling.py``: time and memory against B
and L, with fitted log-log slopes) runs for PyTorch and JAX and writes ``scaling.json``,
``scaling.md`` and ``scaling.png`` (quick mode: ``scaling_quick.*``) beside the results;
``--no-scaling`` skips it (as does ``--cases``).

For each case (a loss at a shape) and each framework, the forward plus backward pass of
metricloss, of the native code and of the floor (``0.5·Σz²``: one read of the logits forward,
one read and one gradient-sized write backward) are checked (metricloss and native must agree
in value and gradient), warmed up, then timed side by side in alternating rounds. The table
reports the median over rounds of the per-round ratio metricloss / native with its interquartile
range, the ratios to the floor, the peak memory of one call and the first-call (compile) time.

Each framework runs in its own worker process (``--worker``), so that the three frameworks'
thread pools and allocators never share a process. Exit status 1 if a case errors or
metricloss and native disagree; a case whose metricloss module is missing is skipped with a
message.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import importlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from benchmarks import report  # noqa: E402
from benchmarks.cases import ALL_CASES, ALL_STUDIES, Case, Shape, shape_label  # noqa: E402
from benchmarks.frameworks import FRAMEWORKS, Framework, get_framework  # noqa: E402
from benchmarks.timing import alternate, calibrate, ratio_stats, time_once  # noqa: E402

MODES = ("eager", "compiled")
SEED = 20261125
MIN_ROUNDS, MAX_ROUNDS = 5, 25
BURST_S = 0.02  # calls per round: about this many seconds of each implementation


def floor_fn(fw: Framework) -> Any:
    """The floor: ``0.5·Σz²`` in the framework's own ops (gradient ``z``)."""
    if fw.name == "torch":
        import torch

        return lambda z: 0.5 * torch.sum(z * z)
    if fw.name == "jax":
        import jax.numpy as jnp

        return lambda z: 0.5 * jnp.sum(z * z)
    import tensorflow as tf

    return lambda z: 0.5 * tf.reduce_sum(z * z)


# ---------------------------------------------------------------------------------------------
# Worker: one framework
# ---------------------------------------------------------------------------------------------


def _log(msg: str) -> None:
    print(msg, flush=True)


def _compare(fw: Framework, a: tuple[Any, Any], b: tuple[Any, Any], rtol: float
             ) -> dict[str, Any]:
    va, vb = float(fw.to_numpy(a[0])), float(fw.to_numpy(b[0]))
    ga, gb = fw.to_numpy(a[1]).astype(np.float64), fw.to_numpy(b[1]).astype(np.float64)
    value_err = abs(va - vb) / max(abs(vb), 1e-12)
    scale = float(np.max(np.abs(gb))) if gb.size else 0.0
    grad_err = float(np.max(np.abs(ga - gb))) / max(scale, 1e-30) if ga.size else 0.0
    finite = bool(np.isfinite(va) and np.isfinite(ga).all())
    ok = finite and value_err <= rtol and grad_err <= 10 * rtol
    return {"ok": ok, "metricloss_value": va, "native_value": vb,
            "value_rel_err": value_err, "grad_rel_err": grad_err}


class Worker:
    def __init__(self, fw: Framework, args: argparse.Namespace) -> None:
        self.fw = fw
        self.quick: bool = args.quick
        self.budget: float = args.budget if args.budget is not None else (0.0 if args.quick
                                                                             else 1.5)
        self.modes = [m for m in args.modes.split(",") if m]
        self.floor_steps: dict[tuple[Any, ...], Any] = {}
        self.floor = floor_fn(fw)

    def floor_step(self, mode: str, shape: tuple[int, ...]) -> Any:
        key = (mode, shape)
        if key not in self.floor_steps:
            self.floor_steps[key] = self.fw.step(self.floor, mode)
        return self.floor_steps[key]

    def run_case(self, case: Case, module: Any, shape: Shape, mode: str) -> dict[str, Any]:
        fw = self.fw
        rec: dict[str, Any] = {
            "case": case.name, "framework": fw.name, "mode": mode, "shape": shape,
            "shape_label": shape_label(shape), "versus": case.versus,
            "target": case.target_eager if mode == "eager" else case.target_compiled,
            "elementwise": case.elementwise,
        }
        arrays = case.inputs(np.random.default_rng(SEED), shape)
        args = tuple(fw.asarray(a) for a in arrays)
        fns = {"metricloss": case.metricloss(module), "native": case.native[fw.name]()}
        steps = {key: fw.step(fn, mode) for key, fn in fns.items()}
        floor_args = args[:1]
        steps["floor"] = self.floor_step(mode, tuple(arrays[0].shape))
        fns["floor"] = self.floor
        thunks = {
            "metricloss": lambda: steps["metricloss"](*args),
            "native": lambda: steps["native"](*args),
            "floor": lambda: steps["floor"](*floor_args),
        }
        rec["first_call_s"] = {key: time_once(thunk) for key, thunk in thunks.items()}
        start = time.perf_counter()
        check = _compare(fw, thunks["metricloss"](), thunks["native"](), case.rtol)
        second_call_s = time.perf_counter() - start
        rec["check"] = check
        if not check["ok"]:
            rec["status"] = "mismatch"
            return rec
        if self.quick:
            times = alternate(thunks, rounds=1, inner=dict.fromkeys(thunks, 1))
        else:
            if second_call_s < 10 * BURST_S:  # fast: warm up more, several calls per round
                for _ in range(2):
                    for thunk in thunks.values():
                        thunk()
                inner = {key: max(3, calibrate(thunk, target_s=BURST_S)[0])
                         for key, thunk in thunks.items()}
            else:  # slow (≥ 0.1 s a call): the second call was the warm-up; one call a round
                inner = dict.fromkeys(thunks, 1)
            times = alternate(thunks, rounds=MAX_ROUNDS, inner=inner, min_rounds=MIN_ROUNDS,
                              budget_s=self.budget)
        rec["seconds"] = {key: float(np.median(v)) for key, v in times.items()}
        rec["ratio"] = ratio_stats(times["metricloss"], times["native"]).as_dict()
        rec["floor_ratio"] = {
            "metricloss": ratio_stats(times["metricloss"], times["floor"]).median,
            "native": ratio_stats(times["native"], times["floor"]).median,
        }
        memory: dict[str, int | None] = dict.fromkeys(("metricloss", "native", "floor"))
        for key in () if self.quick else ("metricloss", "native", "floor"):
            # Quick mode measures no memory: XLA's memory analysis compiles each step again.
            a = floor_args if key == "floor" else args
            try:
                memory[key] = fw.peak_memory(fns[key], steps[key], mode, a)
            except Exception as err:  # memory is a side measurement: never fail the case
                memory[key] = None
                rec.setdefault("memory_errors", {})[key] = f"{type(err).__name__}: {err}"
        rec["memory_bytes"] = memory
        rec["logits_bytes"] = int(arrays[0].nbytes)
        rec["status"] = "ok"
        return rec

    def run(self, cases: list[Case], studies: list[Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"framework": self.fw.name, "version": self.fw.version(),
                               "memory_method": self.fw.memory_method, "cases": [],
                               "studies": []}
        for case in cases:
            shapes = [case.quick_shape] if self.quick else list(case.shapes)
            try:
                module = importlib.import_module(case.module)
            except ImportError as err:
                _log(f"[{self.fw.name}] SKIP {case.name}: {case.module} not available ({err})")
                for shape in shapes:
                    for mode in self.modes:
                        out["cases"].append({
                            "case": case.name, "framework": self.fw.name, "mode": mode,
                            "shape": shape, "shape_label": shape_label(shape),
                            "status": "skipped", "reason": f"{case.module} not available",
                        })
                continue
            for shape in shapes:
                for mode in self.modes:
                    start = time.perf_counter()
                    try:
                        rec = self.run_case(case, module, shape, mode)
                    except Exception as err:
                        rec = {"case": case.name, "framework": self.fw.name, "mode": mode,
                               "shape": shape, "shape_label": shape_label(shape),
                               "status": "error", "error": f"{type(err).__name__}: {err}",
                               "traceback": traceback.format_exc(limit=-8)}
                    rec["wall_s"] = time.perf_counter() - start
                    out["cases"].append(rec)
                    _log(f"[{self.fw.name}] {_summary(rec)}")
                    gc.collect()
        for study in studies:
            if self.fw.name not in study.frameworks:
                continue
            start = time.perf_counter()
            try:
                importlib.import_module(study.module)
                result = study.run(self.fw, self.quick)
                result["status"] = "ok"
            except ImportError as err:
                result = {"status": "skipped", "reason": f"{study.module} not available: {err}"}
            except Exception as err:
                result = {"status": "error", "error": f"{type(err).__name__}: {err}",
                          "traceback": traceback.format_exc(limit=-8)}
            result.update(name=study.name, framework=self.fw.name,
                          wall_s=time.perf_counter() - start)
            out["studies"].append(result)
            _log(f"[{self.fw.name}] study {study.name}: {result['status']} "
                 f"({result['wall_s']:.1f} s)")
            gc.collect()
        return out


def _summary(rec: dict[str, Any]) -> str:
    head = f"{rec['case']} {rec['shape_label']} {rec['mode']}: "
    if rec["status"] == "ok":
        r = rec["ratio"]
        s = rec["seconds"]
        return (head + f"ratio {r['median']:.2f} [{r['q25']:.2f}, {r['q75']:.2f}] "
                f"({s['metricloss'] * 1e3:.3g} ms vs {s['native'] * 1e3:.3g} ms, "
                f"floor {s['floor'] * 1e3:.3g} ms, {r['rounds']} rounds, {rec['wall_s']:.1f} s)")
    if rec["status"] == "mismatch":
        return head + f"MISMATCH {rec['check']}"
    return head + f"{rec['status'].upper()} {rec.get('error', rec.get('reason', ''))}"


def _select(cases: list[Case], pattern: str) -> list[Case]:
    wanted = [p for p in pattern.split(",") if p]
    if not wanted:
        return cases
    return [c for c in cases if any(p in c.name for p in wanted)]


def worker_main(args: argparse.Namespace) -> int:
    fw = get_framework(args.worker)
    worker = Worker(fw, args)
    studies = [] if args.no_studies else _select(ALL_STUDIES, args.cases)  # type: ignore[arg-type]
    result = worker.run(_select(ALL_CASES, args.cases), studies)
    Path(args.worker_out).write_text(json.dumps(result, indent=1, default=str))
    return 0


# ---------------------------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------------------------


def _machine() -> dict[str, Any]:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gb = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        commit = ""
    return {
        "cpu": cpu, "cores": os.cpu_count(), "memory_gb": mem_gb,
        "os": platform.platform(), "python": platform.python_version(),
        "numpy": np.__version__, "commit": commit,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _loadavg() -> list[float] | None:
    try:
        return [float(v) for v in os.getloadavg()]
    except OSError:
        return None


def rewrite_report(path: str) -> int:
    """Regenerate the Markdown page next to a results JSON (after editing report.py)."""
    src = Path(path)
    results = json.loads(src.read_text())
    src.with_suffix(".md").write_text(report.markdown(results))
    _log(f"wrote {src.with_suffix('.md')}")
    return 0


def driver_main(args: argparse.Namespace, argv: list[str]) -> int:
    frameworks = [f for f in args.frameworks.split(",") if f]
    unknown = [f for f in frameworks if f not in FRAMEWORKS]
    if unknown:
        raise SystemExit(f"--frameworks: unknown {unknown}; choose from {list(FRAMEWORKS)}")
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "command": " ".join(["python benchmarks/run.py", *argv]),
        "quick": args.quick, "machine": _machine(), "load_average_start": _loadavg(),
        "frameworks": {}, "cases": [], "studies": [],
    }
    start = time.perf_counter()
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONWARNINGS="ignore")
    for name in frameworks:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "worker.json"
            cmd = [sys.executable, str(Path(__file__).resolve()), *argv,
                   "--worker", name, "--worker-out", str(path)]
            _log(f"== {name} ==")
            proc = subprocess.run(cmd, env=env, check=False)
            if proc.returncode != 0 or not path.exists():
                _log(f"[{name}] worker failed (exit {proc.returncode}); framework skipped")
                results["frameworks"][name] = {"status": f"worker failed (exit "
                                                         f"{proc.returncode})"}
                continue
            part = json.loads(path.read_text())
        results["frameworks"][name] = {"status": "ok", "version": part["version"],
                                       "memory_method": part["memory_method"]}
        results["cases"].extend(part["cases"])
        results["studies"].extend(part["studies"])
    results["wall_s"] = time.perf_counter() - start
    results["load_average_end"] = _loadavg()
    stem = "quick" if args.quick else "benchmarks"
    (out_dir / f"{stem}.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    (out_dir / f"{stem}.md").write_text(report.markdown(results))
    _log(f"wrote {out_dir / (stem + '.json')} and {out_dir / (stem + '.md')} "
         f"in {results['wall_s']:.0f} s")
    scaling_failed = False
    if not (args.no_scaling or args.cases) and {"torch", "jax"} & set(frameworks):
        # How cost grows (benchmarks/scaling.py): its own workers, its own files in out_dir.
        cmd = [sys.executable, str(ROOT / "benchmarks" / "scaling.py"), "--out", str(out_dir),
               "--frameworks", ",".join(f for f in frameworks if f in ("torch", "jax"))]
        _log("== scaling ==")
        proc = subprocess.run(cmd + (["--quick"] if args.quick else []), env=env, check=False)
        scaling_failed = proc.returncode != 0
        if scaling_failed:
            _log(f"scaling benchmark failed (exit {proc.returncode})")
    failed = [c for c in results["cases"] if c["status"] in ("error", "mismatch")]
    failed += [s for s in results["studies"] if s["status"] == "error"]
    failed_workers = [n for n, f in results["frameworks"].items() if f["status"] != "ok"]
    for c in failed:
        _log(f"FAILED: {c.get('case', c.get('name'))} {c['framework']} {c.get('mode', '')} "
             f"{c.get('shape_label', '')}: {c.get('error', c.get('check'))}")
    return 1 if failed or failed_workers or scaling_failed else 0


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="every case once at a tiny size, one round (CI smoke test)")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results"),
                   help="output directory (benchmarks.json/.md, or quick.json/.md)")
    p.add_argument("--frameworks", default="torch,jax,tensorflow")
    p.add_argument("--cases", default="", help="comma-separated substrings of case names")
    p.add_argument("--modes", default="eager,compiled")
    p.add_argument("--budget", type=float, default=None,
                   help="seconds of timed rounds per case, after at least 5 rounds "
                        "(default 1.5; quick: one round)")
    p.add_argument("--no-studies", action="store_true", help="skip the memory/sort studies")
    p.add_argument("--no-scaling", action="store_true",
                   help="skip the scaling benchmark (benchmarks/scaling.py) run after the cases")
    p.add_argument("--rewrite-report", metavar="JSON",
                   help="only regenerate the Markdown page of an existing results JSON")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--worker-out", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.rewrite_report:
        return rewrite_report(args.rewrite_report)
    if args.worker:
        return worker_main(args)
    return driver_main(args, argv)


if __name__ == "__main__":
    sys.exit(main())
