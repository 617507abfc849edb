"""Markdown tables from the JSON results of ``benchmarks/run.py``."""

from __future__ import annotations

from typing import Any

__all__ = ["fmt_bytes", "headline", "markdown"]

FLOOR_AIM = 4.0
MODE_LABEL = {
    ("torch", "eager"): "torch eager", ("torch", "compiled"): "torch.compile",
    ("jax", "eager"): "jax eager", ("jax", "compiled"): "jax.jit",
    ("tensorflow", "eager"): "tf eager", ("tensorflow", "compiled"): "tf XLA",
}


def fmt_bytes(n: int | None) -> str:
    """``15.6 MiB``, ``40 KiB``, ``n/a``."""
    if n is None:
        return "n/a"
    if n >= 2**30:
        return f"{n / 2**30:.2f} GiB"
    if n >= 2**20:
        return f"{n / 2**20:.1f} MiB"
    return f"{n / 2**10:.0f} KiB"


def _ms(s: float) -> str:
    ms = s * 1e3
    return f"{ms:.3g}" if ms < 100 else f"{ms:.0f}"


def _columns(cases: list[dict[str, Any]]) -> list[tuple[str, str]]:
    seen = {(c["framework"], c["mode"]) for c in cases}
    return [k for k in MODE_LABEL if k in seen]


def _rows(cases: list[dict[str, Any]]) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for c in cases:
        key = (c["case"], c["shape_label"])
        if key not in rows:
            rows.append(key)
    return rows


DISTURBED = 3.0


def disturbed(c: dict[str, Any], floors: dict[tuple[str, str, str], float]) -> bool:
    """Whether the floor timed beside case ``c`` ran over ``DISTURBED`` times its usual time:
    the machine was busy while the case ran, and its times (not only the floor's) are suspect."""
    return c["seconds"]["floor"] > DISTURBED * floors[_floor_key(c)]


def _cell(c: dict[str, Any] | None, floors: dict[tuple[str, str, str], float]) -> str:
    if c is None:
        return ""
    if c["status"] == "ok":
        r = c["ratio"]["median"]
        mark = " ✗" if r > c["target"] else ""
        mark += " †" if disturbed(c, floors) else ""
        return f"{r:.2f}{mark}"
    return {"skipped": "skip", "error": "error", "mismatch": "MISMATCH"}.get(c["status"], "?")


def headline(results: dict[str, Any]) -> str:
    """The README table: median ratio metricloss / native per loss, shape, framework and mode."""
    cases = results["cases"]
    floors = floor_reference(results)
    cols = _columns(cases)
    index = {(c["case"], c["shape_label"], c["framework"], c["mode"]): c for c in cases}
    lines = [
        "| loss | shape | vs | target | " + " | ".join(MODE_LABEL[k] for k in cols) + " |",
        "|---|---|---|---|" + "---:|" * len(cols),
    ]
    for name, shape in _rows(cases):
        some = next(c for c in cases if (c["case"], c["shape_label"]) == (name, shape))
        versus = some.get("versus", "")
        target = some.get("target")
        if some.get("status") != "ok" and "target" not in some:
            target_s = ""
        elif versus == "naive":
            target_s = f"≤ {target:.2f}"
        else:
            target_s = "≤ 1.10 / 1.05"
        cells = [_cell(index.get((name, shape, fw, mode)), floors) for fw, mode in cols]
        lines.append(f"| `{name}` | {shape} | {versus} | {target_s} | " + " | ".join(cells)
                     + " |")
    return "\n".join(lines) + "\n"


def _detail(results: dict[str, Any], framework: str) -> str:
    cases = [c for c in results["cases"] if c["framework"] == framework]
    floors = floor_reference(results)
    lines = [
        "| loss | shape | mode | metricloss ms | native ms | floor ms | ratio [IQR] | "
        "ml / floor | native / floor | peak memory ml / native / floor | first call s ml / native "
        "| value, grad rel. err |",
        "|---|---|---|---:|---:|---:|---|---:|---:|---|---|---|",
    ]
    for c in cases:
        head = f"| `{c['case']}` | {c['shape_label']} | {c['mode']} |"
        if c["status"] != "ok":
            detail = c.get("error") or c.get("reason") or str(c.get("check", ""))
            lines.append(head + f" {c['status']}: {str(detail)[:120]} |" + " |" * 8)
            continue
        s, r, m = c["seconds"], c["ratio"], c["memory_bytes"]
        floor = floors[_floor_key(c)]
        first = c["first_call_s"]
        chk = c["check"]
        lines.append(
            head + f" {_ms(s['metricloss'])} | {_ms(s['native'])} | {_ms(floor)} | "
            f"{r['median']:.2f} [{r['q25']:.2f}, {r['q75']:.2f}] ×{r['rounds']} | "
            f"{s['metricloss'] / floor:.1f} | {s['native'] / floor:.1f} | "
            f"{fmt_bytes(m['metricloss'])} / {fmt_bytes(m['native'])} / {fmt_bytes(m['floor'])} | "
            f"{first['metricloss']:.2f} / {first['native']:.2f} | "
            f"{chk['value_rel_err']:.1e}, {chk['grad_rel_err']:.1e} |"
        )
    return "\n".join(lines) + "\n"


def _study(s: dict[str, Any]) -> str:
    title = f"### {s['name']} ({s['framework']})\n\n"
    if s["status"] != "ok":
        return title + f"{s['status']}: {s.get('error') or s.get('reason')}\n"
    out = title
    if s.get("note"):
        out += s["note"] + "\n\n"
    cols = s["columns"]
    out += "| " + " | ".join(cols) + " |\n|" + "---|" * len(cols) + "\n"
    for row in s["rows"]:
        out += "| " + " | ".join(str(v) for v in row) + " |\n"
    return out


def floor_reference(results: dict[str, Any]) -> dict[tuple[str, str, str], float]:
    """Per framework, mode and logits shape, the median of the floor times measured beside every
    case: a steadier reference than one case's own floor (the floor is the fastest call, the
    most exposed to a busy machine)."""
    groups: dict[tuple[str, str, str], list[float]] = {}
    for c in results["cases"]:
        if c["status"] == "ok":
            groups.setdefault(_floor_key(c), []).append(c["seconds"]["floor"])
    return {k: float(sorted(v)[len(v) // 2]) for k, v in groups.items()}


def _floor_key(c: dict[str, Any]) -> tuple[str, str, str]:
    dims = "x".join(str(v) for k, v in c["shape"].items() if k in ("B", "L"))
    return c["framework"], c["mode"], dims


def _over_target(results: dict[str, Any]) -> list[str]:
    out = []
    floors = floor_reference(results)
    for c in results["cases"]:
        if c["status"] != "ok":
            continue
        label = f"`{c['case']}` {c['shape_label']}, {MODE_LABEL[(c['framework'], c['mode'])]}"
        if disturbed(c, floors):
            label += " (†)"
        r = c["ratio"]
        if r["median"] > c["target"]:
            out.append(f"- {label}: ratio {r['median']:.2f} [{r['q25']:.2f}, {r['q75']:.2f}] "
                       f"> {c['target']:.2f}")
        fr = c["seconds"]["metricloss"] / floors[_floor_key(c)]
        if c["mode"] == "compiled" and c.get("elementwise") and fr > FLOOR_AIM:
            out.append(f"- {label}: {fr:.1f}× the one-pass floor (aim ≤ {FLOOR_AIM:.0f})")
    return out


def markdown(results: dict[str, Any]) -> str:
    """The full results page."""
    m = results["machine"]
    fws = results["frameworks"]
    versions = ", ".join(
        f"{name} {f.get('version', f['status'])}" for name, f in fws.items()
    )
    load = tuple(
        "n/a" if v is None else ", ".join(f"{x:.1f}" for x in v)
        for v in (results.get("load_average_start"), results.get("load_average_end"))
    )
    parts = [
        "# metricloss benchmarks" + (" (quick smoke run: tiny shapes, one round; timings "
                                     "meaningless)" if results["quick"] else ""),
        "",
        f"- Command: `{results['command']}` ({results['wall_s']:.0f} s)",
        f"- Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GiB; {m['os']}",
        f"- Versions: Python {m['python']}, NumPy {m['numpy']}, {versions}; metricloss at "
        f"`{m['commit']}`",
        f"- Date: {m['date']}; load average (1, 5, 15 min) at start {load[0]}, at end "
        f"{load[1]} (other jobs shared the machine's cores: see the IQRs)",
        "- float32 inputs; forward + backward (gradient with respect to the logits); "
        "each framework in its own process with its default threads.",
        "",
        "## Ratio metricloss / native (median over alternating rounds)",
        "",
        "`vs naive`: the confusion losses' native code sums `p·y`, `p·(1−y)`, `(1−p)·y` "
        "separately (target ≤ 0.67); `vs native`: the same formula hand-written "
        "(target ≤ 1.10 eager, ≤ 1.05 compiled). ✗ marks a miss; † a case timed while the "
        "machine was busy (the floor timed beside it took over 3× its usual time).",
        "",
        headline(results),
        "## Cases over target",
        "",
        "\n".join(_over_target(results)) or "None.",
        "",
        "## Details per framework",
        "",
        "Times are medians over rounds (ms per forward+backward call). The floor is "
        "`0.5·Σz²` at the logits' shape: one read forward, one read and one gradient-sized "
        "write backward; it is timed beside every case, and the column shows the median of "
        "those floor times for the framework, mode and (B, L) (each case's own floor is in "
        "the JSON). Peak memory: bytes allocated during one call at its peak, inputs "
        "excluded, the gradient included.",
        "",
    ]
    for name, f in fws.items():
        if f["status"] != "ok":
            parts += [f"### {name}", "", f"Not run: {f['status']}.", ""]
            continue
        parts += [f"### {name} {f['version']}", "", f"Memory: {f['memory_method']}.", "",
                  _detail(results, name)]
    if results["studies"]:
        parts += ["## Studies", ""]
        parts += [_study(s) for s in results["studies"]]
    return "\n".join(parts).rstrip() + "\n"
