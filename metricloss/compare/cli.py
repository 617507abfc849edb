"""``metricloss compare``: the command line (also ``python -m metricloss compare``)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from metricloss.compare.protocol import (
    DEFAULT_LOSSES,
    DEFAULT_TARGET_PRECISION,
    FRAMEWORKS,
    LOSSES,
)

__all__ = ["main"]

_DESCRIPTION = """\
Which loss should a multi-label model be trained with? Trains the same small MLP once per
loss (same data split, optimiser, epochs and seed) in the chosen framework, then reports test
metrics at the default rule (logit > 0) and at thresholds tuned on a validation split."""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number in (0, 1], got {text!r}") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be a number in (0, 1], got {text!r}")
    return value


def _losses(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError("give at least one loss")
    unknown = [n for n in names if n not in LOSSES]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown loss {', '.join(map(repr, unknown))}; choose from {', '.join(LOSSES)}")
    return names


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="metricloss compare", description=_DESCRIPTION,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--framework", choices=FRAMEWORKS, default="torch",
                   help="torch (default), jax, or keras (on the backend KERAS_BACKEND names)")
    p.add_argument("--data", default="yeast",
                   help="a packaged MULAN set (emotions, enron, genbase, medical, yeast; "
                        "default yeast) or a folder with columns.txt, train.csv, test.csv")
    p.add_argument("--losses", type=_losses, default=list(DEFAULT_LOSSES),
                   help=f"comma-separated, from: {', '.join(LOSSES)} "
                        f"(default: {','.join(DEFAULT_LOSSES)})")
    p.add_argument("--target-precision", type=_probability, default=None,
                   help=f"precision target of recall_at_precision and of the R@P column "
                        f"(default {DEFAULT_TARGET_PRECISION})")
    p.add_argument("--epochs", type=_positive_int, default=40, help="default 40")
    p.add_argument("--batch-size", type=_positive_int, default=64, help="default 64")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam's learning rate (1e-3)")
    p.add_argument("--hidden", type=_positive_int, default=128, help="hidden units (128)")
    p.add_argument("--seed", type=int, default=0, help="default 0")
    p.add_argument("--out", type=Path, default=None,
                   help="report folder (created if needed; checked before training): "
                        "results.md, results.json, metrics.png, precision_recall.png")
    p.add_argument("--progress", choices=("auto", "rich", "tqdm", "plain", "none"),
                   default="auto", help="progress display (auto: rich, else tqdm, else plain)")
    p.add_argument("--plain", action="store_true", help="plain-text table even with rich")
    p.add_argument("--quick", action="store_true",
                   help="tiny run for tests: ≤256 rows, 2 epochs, 16 hidden units")
    return p


def _out_problem(out: Path) -> str | None:
    """Why the report folder ``out`` cannot be written, or ``None``: checked before any
    training, so that a mistyped ``--out`` costs nothing."""
    if out.exists():
        if not out.is_dir():
            return f"{str(out)!r} exists and is not a folder; name a folder (new or existing)"
        if not os.access(out, os.W_OK | os.X_OK):
            return f"the folder {str(out)!r} is not writable"
        return None
    parent = out.absolute().parent
    while not parent.exists():  # the nearest existing ancestor: the folders are created there
        parent = parent.parent
    if not parent.is_dir():
        return f"{str(parent)!r} is a file, so no folder can be created at {str(out)!r}"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"cannot create {str(out)!r}: the folder {str(parent)!r} is not writable"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; the exit status."""
    args = parser().parse_args(argv)
    if args.out is not None:
        problem = _out_problem(args.out)
        if problem is not None:
            parser().error(f"--out: {problem}")
    from metricloss.compare.protocol import Options, run
    from metricloss.compare.report import print_table, progress_bar, write_report
    from metricloss.datasets import MULAN_NAMES, DatasetFormatError, DatasetNotFound

    if args.data not in MULAN_NAMES and not Path(args.data).is_dir():
        parser().error(f"--data: {args.data!r} is neither one of {', '.join(MULAN_NAMES)} nor "
                       f"a folder")
    options = Options(framework=args.framework, data=args.data, losses=tuple(args.losses),
                      target_precision=args.target_precision, epochs=args.epochs,
                      batch_size=args.batch_size, lr=args.lr, hidden=args.hidden,
                      seed=args.seed, quick=args.quick)
    try:
        report = run(options, progress=progress_bar(args.progress),
                     on_warning=lambda note: print(f"metricloss compare: warning: {note}",
                                                   file=sys.stderr, flush=True))
    except ModuleNotFoundError as exc:
        framework = args.framework
        hint = {"torch": '"metricloss[demo,torch]"', "jax": '"metricloss[demo,jax]"',
                "keras": '"metricloss[demo,tensorflow]" (or keras with another backend)'}
        print(f"metricloss compare: --framework {framework} needs {exc.name!r}, which is not "
              f"installed: pip install {hint[framework]}", file=sys.stderr)
        return 2
    except (DatasetNotFound, DatasetFormatError) as exc:
        print(f"metricloss compare: --data: {exc}", file=sys.stderr)
        return 2
    print_table(report, plain=args.plain)
    if args.out is not None:
        try:
            written = write_report(report, args.out)
        except OSError as exc:  # changed under us since the check: a message, no traceback
            print(f"metricloss compare: --out: cannot write the report: {exc}", file=sys.stderr)
            return 2
        for path in written:
            print(f"wrote {path}", file=sys.stderr)
    return 0


def entry_point() -> None:
    """The console script: ``metricloss compare ...`` (``metricloss`` alone prints help)."""
    argv = sys.argv[1:]
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: metricloss compare [options]   (metricloss compare --help)")
        sys.exit(0 if argv else 2)
    if argv[0] != "compare":
        print(f"metricloss: unknown command {argv[0]!r}; the command is: metricloss compare",
              file=sys.stderr)
        sys.exit(2)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.exit(main(argv[1:]))
