"""``metricloss compare``: the command end to end at a tiny size in each framework available,
its report (table, Markdown, JSON, plots), its argument errors, its protocol."""

from __future__ import annotations

import importlib.util
import io
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from metricloss.compare import cli
from metricloss.compare.protocol import (
    DEFAULT_LOSSES,
    LOSSES,
    METRICS,
    Options,
    evaluate,
    prepare,
)
from metricloss.compare.report import JSON_KEYS, markdown_table, write_report

ROOT = Path(__file__).resolve().parent.parent
HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None


def _framework_available(framework: str) -> str | None:
    """``None`` if the framework imports here, else the reason to skip."""
    module = {"torch": "torch", "jax": "jax", "keras": "keras"}[framework]
    try:
        __import__(module)
    except ImportError as exc:
        return f"{module} is not installed ({exc})"
    if framework == "keras":
        import keras

        backend = keras.backend.backend()
        try:
            __import__({"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}[backend])
        except (ImportError, KeyError) as exc:
            return f"Keras backend {backend} unavailable ({exc})"
    return None


def _check_report(folder: Path, framework: str, losses: list[str], data: str = "yeast"
                  ) -> dict:
    assert (folder / "results.md").is_file()
    report = json.loads((folder / "results.json").read_text())
    assert set(JSON_KEYS) <= set(report)
    assert report["framework"] == framework
    assert report["seed"] == 0
    assert report["versions"]["metricloss"]
    assert {"name", "n_train", "n_val", "n_test", "n_features", "n_labels"} <= set(
        report["data"])
    if data == "yeast":
        assert report["data"]["name"] == "yeast"
        assert report["data"]["n_labels"] == 14
    assert list(report["results"]) == losses
    for loss, entry in report["results"].items():
        for rule in ("default", "tuned"):
            for metric in METRICS:
                value = entry[rule][metric]
                assert 0.0 <= value <= 1.0, (loss, rule, metric, value)
            assert isinstance(entry[rule]["meets_target"], bool)
        # mAP is threshold-free: the same in both rows.
        assert entry["default"]["mean_ap"] == entry["tuned"]["mean_ap"]
        assert entry["train_seconds"] >= 0
    assert report["options"]["quick"] is True
    markdown = (folder / "results.md").read_text()
    for loss in losses:
        assert f"| {loss} | default |" in markdown and f"| {loss} | tuned |" in markdown
    plots = [folder / "metrics.png", folder / "precision_recall.png"]
    if HAS_MATPLOTLIB:
        for plot in plots:
            assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    else:
        assert not any(p.exists() for p in plots)
    return report


@pytest.mark.parametrize("framework", ["torch", "jax", "keras"])
def test_command_end_to_end_quick(framework: str, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    reason = _framework_available(framework)
    if reason is not None:
        pytest.skip(reason)
    out = tmp_path / "report"
    status = cli.main(["--framework", framework, "--quick", "--out", str(out),
                       "--progress", "plain", "--plain"])
    assert status == 0
    captured = capsys.readouterr()
    # The table: a header, a row per loss and rule; the progress: a line per loss.
    assert "micro-F1" in captured.out and "macro-F1" in captured.out
    for loss in DEFAULT_LOSSES:
        assert f"trained {loss}" in captured.err
        assert sum(line.split()[0] == loss for line in captured.out.splitlines()
                   if line.strip()) == 2
    if not HAS_MATPLOTLIB:
        assert "plots skipped" in captured.err
    report = _check_report(out, framework, list(DEFAULT_LOSSES))
    if framework == "keras":
        assert report["versions"]["keras_backend"]


def test_command_on_a_folder_and_the_combination(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """--data takes a folder in the documented format; bce+sigmoid_f1 sums two adapters."""
    pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "columns.txt").write_text(
        "".join(f"f{i}\tF{i}\tfeature\n" for i in range(4)) + "a\tA\tlabel\nb\tB\tlabel\n")
    header = ",".join([*(f"f{i}" for i in range(4)), "a", "b"])
    for split, n in (("train", 60), ("test", 30)):
        x = rng.normal(size=(n, 4))
        y = np.stack([x[:, 0] > 0, x[:, 1] + x[:, 2] > 0.5], axis=1).astype(int)
        rows = [",".join([*(f"{v:.4f}" for v in xi), *(str(v) for v in yi)])
                for xi, yi in zip(x, y, strict=True)]
        (folder / f"{split}.csv").write_text(header + "\n" + "\n".join(rows) + "\n")
    out = tmp_path / "report"
    losses = ["bce", "bce+sigmoid_f1", "recall_at_precision"]
    assert cli.main(["--data", str(folder), "--losses", ",".join(losses), "--quick",
                     "--epochs", "3", "--out", str(out), "--progress", "none", "--plain"]) == 0
    capsys.readouterr()
    report = _check_report(out, "torch", losses, data="folder")
    assert report["data"]["n_labels"] == 2 and report["data"]["n_features"] == 4
    assert report["options"]["target_precision"] == 0.7  # the default for a folder


@pytest.mark.parametrize(("argv", "message"), [
    (["--framework", "mxnet"], "invalid choice: 'mxnet'"),
    (["--losses", "bce,hinge"], "unknown loss 'hinge'"),
    (["--losses", ""], "at least one loss"),
    (["--data", "no_such_set"], "'no_such_set' is neither one of emotions"),
    (["--epochs", "0"], "--epochs: must be a positive integer, got '0'"),
    (["--batch-size", "x"], "--batch-size: must be a positive integer"),
    (["--target-precision", "1.5"], "--target-precision: must be a number in (0, 1]"),
], ids=["framework", "loss", "no-loss", "data", "epochs", "batch-size", "target"])
def test_argument_errors_are_clear(argv: list[str], message: str,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("where", ["file", "under_a_file"])
def test_out_is_checked_before_training(where: str, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 21, item 13: ``--out`` naming a file (or a path below one) fails at once, with
    argparse's exit status 2 and a message naming --out, before any loss is trained."""
    from metricloss.compare import protocol

    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("trained before checking --out")

    monkeypatch.setattr(protocol, "run", no_training)
    existing = tmp_path / "report.txt"
    existing.write_text("not a folder")
    out = existing if where == "file" else existing / "sub" / "report"
    with pytest.raises(SystemExit) as exc:
        cli.main(["--quick", "--out", str(out), "--progress", "none"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--out:" in err
    assert ("is not a folder" if where == "file" else "is a file") in err
    assert "Traceback" not in err
    assert existing.read_text() == "not a folder"


def test_missing_framework_names_the_extra(monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "jax", None)  # import jax raises ModuleNotFoundError
    monkeypatch.delitem(sys.modules, "metricloss.compare.train_jax", raising=False)
    assert cli.main(["--framework", "jax", "--quick", "--progress", "none"]) == 2
    assert 'pip install "metricloss[demo,jax]"' in capsys.readouterr().err


def test_python_dash_m_and_console_script() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    help_text = subprocess.run([sys.executable, "-m", "metricloss", "compare", "--help"],
                               capture_output=True, text=True, check=True, env=env).stdout
    assert "--framework" in help_text and "--target-precision" in help_text
    bad = subprocess.run([sys.executable, "-m", "metricloss", "train"], capture_output=True,
                         text=True, env=env)
    assert bad.returncode == 2 and "metricloss compare" in bad.stderr
    tomllib = pytest.importorskip("tomllib")  # Python ≥ 3.11
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, function = scripts["metricloss"].partition(":")
    assert callable(getattr(__import__(module, fromlist=[function]), function))


def test_compare_imports_no_framework_until_one_is_chosen() -> None:
    code = ("import sys, metricloss, metricloss.compare.cli, metricloss.compare.report;"
            "bad = [m for m in ('torch', 'jax', 'tensorflow', 'keras') if m in sys.modules];"
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True,
                   env={**os.environ, "PYTHONPATH": str(ROOT)})


# --------------------------------------------------------------------------------------------
# The protocol, framework-free


def test_prepare_splits_and_standardises_on_train_only() -> None:
    data = prepare("yeast", seed=3)
    assert data.x_train.shape == (1200, 103) and data.x_val.shape == (300, 103)
    assert data.x_test.shape == (917, 103)
    assert data.x_train.dtype == np.float32
    np.testing.assert_allclose(data.x_train.mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(data.x_train.std(0), 1, atol=1e-3)
    # Validation and test are scaled with train's statistics, so not exactly standard.
    assert np.abs(data.x_test.mean(0)).max() > 1e-3
    again, other = prepare("yeast", seed=3), prepare("yeast", seed=4)
    np.testing.assert_array_equal(again.x_val, data.x_val)
    assert not np.array_equal(other.x_val, data.x_val)
    # Train and validation together are the official training split, nothing else.
    assert len(data.x_train) + len(data.x_val) == 1500


def test_evaluate_against_direct_computation() -> None:
    """Oracle: scikit-learn's metrics on the same predictions."""
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    y_val = (rng.random((200, 5)) < 0.3).astype(float)
    y_test = (rng.random((300, 5)) < 0.3).astype(float)
    s_val = 2 * y_val - 1 + rng.normal(scale=1.5, size=y_val.shape)
    s_test = 2 * y_test - 1 + rng.normal(scale=1.5, size=y_test.shape)
    out = evaluate(s_val, y_val, s_test, y_test, target_precision=0.8)
    pred = s_test > 0
    d = out["default"]
    assert math.isclose(d["micro_f1"], metrics.f1_score(y_test, pred, average="micro"))
    assert math.isclose(d["macro_f1"], metrics.f1_score(y_test, pred, average="macro"))
    assert math.isclose(d["example_f1"], metrics.f1_score(y_test, pred, average="samples",
                                                          zero_division=0))
    assert math.isclose(d["hamming_loss"], metrics.hamming_loss(y_test, pred))
    assert math.isclose(d["mean_ap"], metrics.average_precision_score(y_test, s_test))
    assert math.isclose(d["recall_at_precision"], metrics.recall_score(y_test, pred,
                                                                       average="micro"))
    assert math.isclose(d["precision_at_target"], metrics.precision_score(y_test, pred,
                                                                          average="micro"))
    # Tuned: F1 thresholds tuned on validation reach at least the default's validation F1.
    from metricloss import binarize, tune_thresholds
    thr = tune_thresholds(s_val, y_val)
    tuned_pred = binarize(s_test, thr)
    assert math.isclose(out["tuned"]["macro_f1"],
                        metrics.f1_score(y_test, tuned_pred, average="macro"))
    # Recall-at-precision thresholds: precision on validation ≥ the target per label.
    rap = binarize(s_val, tune_thresholds(s_val, y_val, metric="recall_at_precision",
                                          target_precision=0.8))
    assert metrics.precision_score(y_val, rap, average="micro") >= 0.8
    assert out["tuned"]["precision_at_target"] > d["precision_at_target"]


def test_evaluate_refuses_diverged_scores() -> None:
    y = np.zeros((4, 2))
    with pytest.raises(FloatingPointError, match="not finite"):
        evaluate(np.full((4, 2), np.nan), y, np.zeros((4, 2)), y, target_precision=0.7)


def test_markdown_and_json_of_a_synthetic_report(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(1)
    y = (rng.random((50, 3)) < 0.4).astype(float)
    results = {}
    for name in ("bce", "sigmoid_f1"):
        s = 2 * y - 1 + rng.normal(size=y.shape)
        entry = evaluate(s, y, s, y, target_precision=0.7)
        entry.update(train_seconds=0.5, final_train_loss=0.1, scores=s)
        results[name] = entry
    options = Options(epochs=3).resolved()
    report = {"framework": "torch", "versions": {"metricloss": "0"},
              "data": {"name": "synthetic", "n_train": 50, "n_val": 50, "n_test": 50,
                       "n_features": 2, "n_labels": 3}, "seed": 0,
              "options": {"target_precision": options.target_precision,
                          "epochs": options.epochs},
              "metrics": {}, "rules": {}, "losses": {n: LOSSES[n].title for n in results},
              "results": results, "y_test": y, "total_seconds": 1.0}
    table = markdown_table(report)
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    assert len(rows) == 5  # the header and 2 losses × 2 rules
    assert "**" in table
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed
    written = write_report(report, tmp_path, log=io.StringIO())
    assert [p.name for p in written] == ["results.md", "results.json"]
    saved = json.loads((tmp_path / "results.json").read_text())
    assert "scores" not in saved["results"]["bce"] and "y_test" not in saved


def test_label_without_validation_positive_keeps_the_default_rule() -> None:
    rng = np.random.default_rng(2)
    y_val = (rng.random((40, 2)) < 0.5).astype(float)
    y_val[:, 1] = 0  # label 1: no positive in validation, cannot be tuned
    y_test = (rng.random((60, 2)) < 0.5).astype(float)
    s_test = 2 * y_test - 1 + rng.normal(size=y_test.shape)
    s_val = 2 * y_val - 1 + rng.normal(size=y_val.shape)
    out = evaluate(s_val, y_val, s_test, y_test, target_precision=0.7)
    # Only label 1 at logit > 0, label 0 tuned: its test F1 is the default rule's.
    metrics = pytest.importorskip("sklearn.metrics")
    from metricloss import tune_thresholds
    t0 = tune_thresholds(s_val[:, 0], y_val[:, 0])
    preds = np.stack([s_test[:, 0] >= t0, s_test[:, 1] > 0], axis=1)
    assert math.isclose(out["tuned"]["macro_f1"],
                        metrics.f1_score(y_test, preds, average="macro"))


def test_efficacy_verdicts_count_recall_only_where_the_target_is_met() -> None:
    sys.path.insert(0, str(ROOT))
    try:
        from benchmarks.efficacy import verdicts
    finally:
        sys.path.remove(str(ROOT))

    def entry(rap: float, meets: float, macro: float) -> dict:
        rule = {m: {"mean": 0.5, "std": 0.0} for m in METRICS}
        rule["recall_at_precision"] = {"mean": rap, "std": 0.0}
        rule["macro_f1"] = {"mean": macro, "std": 0.0}
        rule["meets_target"] = {"mean": meets, "std": 0.0}
        return {"default": rule, "tuned": rule}

    summary = {"set": {"bce": entry(0.5, 1.0, 0.40), "asl": entry(0.9, 0.0, 0.45),
                       "recall_at_precision": entry(0.6, 1.0, 0.30),
                       "sigmoid_f1": entry(0.95, 0.0, 0.44)}}
    v = verdicts(summary)
    # ASL's 0.9 misses the precision target: it counts 0; BCE's 0.5 is the bar.
    assert v["recall_at_precision"]["data"]["set"]["default"] == {
        "wins": True, "value": 0.6, "best_baseline": 0.5}
    assert v["sigmoid_f1"]["data"]["set"]["tuned"]["wins"] is False  # 0.44 < ASL's 0.45


# --------------------------------------------------------------------------------------------
# The plots and the data warnings (issue 21, item 14), on synthetic reports


def _synthetic_report(y: np.ndarray, scores: dict[str, np.ndarray], *, framework: str = "torch",
                      versions: dict | None = None, warnings: list[str] | None = None) -> dict:
    results = {}
    for name, s in scores.items():
        entry = evaluate(s, y, s, y, target_precision=0.7)
        entry.update(train_seconds=0.5, final_train_loss=0.1, scores=s)
        results[name] = entry
    return {"framework": framework, "versions": versions or {"metricloss": "0"},
            "data": {"name": "synthetic", "n_train": len(y), "n_val": len(y),
                     "n_test": len(y), "n_features": 2, "n_labels": y.shape[1]},
            "seed": 0, "options": {"target_precision": 0.7, "epochs": 3},
            "metrics": {}, "rules": {}, "losses": {n: n for n in results},
            "results": results, "y_test": y, "total_seconds": 1.0,
            "warnings": warnings or []}


def _figures(report: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """The figures ``write_report`` saves, by file name, kept open for inspection."""
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    saved: dict = {}
    original = Figure.savefig

    def keep(self: Figure, path: object, *args: object, **kwargs: object) -> None:
        saved[Path(str(path)).name] = self
        original(self, path, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", keep)
    write_report(report, tmp_path, log=io.StringIO())
    return saved


def test_plots_scale_hamming_label_micro_ap_and_name_the_keras_backend(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(5)
    y = (rng.random((300, 6)) < 0.3).astype(float)
    # Nearly perfect scores (an easy set): tiny Hamming losses, crowded curves.
    scores = {name: 6 * (2 * y - 1) + rng.normal(scale=s, size=y.shape)
              for name, s in (("bce", 3.0), ("zlpr", 3.2), ("asl", 3.4), ("pr_auc", 3.6))}
    report = _synthetic_report(y, scores, framework="keras",
                               versions={"metricloss": "0", "keras_backend": "jax"})
    figures = _figures(report, tmp_path, monkeypatch)
    bars, curves = figures["metrics.png"], figures["precision_recall.png"]
    # The Hamming panel: an axis fitted to its values, not [0, 1].
    panels = {ax.get_title().split(" (")[0]: ax for ax in bars.axes}
    largest = max(report["results"][n][r]["hamming_loss"] for n in scores
                  for r in ("default", "tuned"))
    assert 0 < largest < 0.1
    low, high = panels["Hamming"].get_ylim()
    assert low == 0 and largest < high <= 1.2 * largest
    assert panels["micro-F1"].get_ylim() == (0, 1)
    # Titles name the Keras backend (figures, Markdown).
    # (Figure._suptitle/_supxlabel: public getters only from matplotlib 3.8)
    assert "keras (jax backend)" in bars._suptitle.get_text()
    assert "keras (jax backend)" in curves.axes[0].get_title()
    assert "keras (jax backend)" in (tmp_path / "results.md").read_text()
    # A word on the R@P panel: why tuned bars may be lower.
    assert "traded for precision" in bars._supxlabel.get_text()
    # The curves are micro curves (scikit-learn's), labelled with the micro AP.
    legend = [t.get_text() for t in curves.axes[0].get_legend().get_texts()]
    for name, s in scores.items():
        micro_ap = metrics.average_precision_score(y, s, average="micro")
        assert f"{name} (micro AP {micro_ap:.3f})" in legend
    line = next(ln for ln in curves.axes[0].get_lines() if ln.get_label().startswith("bce "))
    precision, recall, _ = metrics.precision_recall_curve(y.ravel(), scores["bce"].ravel())
    np.testing.assert_allclose(np.sort(line.get_xdata()), np.sort(recall))
    np.testing.assert_allclose(np.sort(line.get_ydata()), np.sort(precision))
    # Crowded curves near the top-right corner: a zoom panel on that corner.
    assert len(curves.axes) == 2
    x_low, x_high = curves.axes[1].get_xlim()
    assert x_low >= 0.7 and x_high == 1.0


def test_spread_curves_get_no_zoom(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(6)
    y = (rng.random((300, 4)) < 0.3).astype(float)
    scores = {f"loss{k}": (2 * y - 1) * k + rng.normal(size=y.shape) for k in range(5)}
    figures = _figures(_synthetic_report(y, scores), tmp_path, monkeypatch)
    assert len(figures["precision_recall.png"].axes) == 1


def test_a_label_without_training_positives_is_warned_about(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Before training (the warning precedes the first 'trained' line), in the report and in
    the Markdown; the label is named."""
    pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "columns.txt").write_text(
        "".join(f"f{i}\tF{i}\tfeature\n" for i in range(3)) + "a\tA\tlabel\nrare\tR\tlabel\n")
    header = ",".join([*(f"f{i}" for i in range(3)), "a", "rare"])
    for split, n in (("train", 40), ("test", 20)):
        x = rng.normal(size=(n, 3))
        rare = np.zeros(n, dtype=int) if split == "train" else (x[:, 2] > 0).astype(int)
        y = np.stack([(x[:, 0] > 0).astype(int), rare], axis=1)
        rows = [",".join([*(f"{v:.4f}" for v in xi), *(str(v) for v in yi)])
                for xi, yi in zip(x, y, strict=True)]
        (folder / f"{split}.csv").write_text(header + "\n" + "\n".join(rows) + "\n")
    out = tmp_path / "report"
    assert cli.main(["--data", str(folder), "--losses", "bce", "--epochs", "1", "--out",
                     str(out), "--progress", "plain", "--plain"]) == 0
    err = capsys.readouterr().err
    warning = err.index("warning: 1 of 2 labels have no positive example in the training split")
    assert "rare" in err[warning:].splitlines()[0]
    assert warning < err.index("trained bce")
    saved = json.loads((out / "results.json").read_text())
    assert any("rare" in w and "training split" in w for w in saved["warnings"])
    assert "**Warning:**" in (out / "results.md").read_text()
