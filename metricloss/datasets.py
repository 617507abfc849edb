"""Loading the MULAN multi-label benchmarks shipped beside the project as CSV.

The data lives outside the package, at ``../shared/data/multilabel`` from the project's root (or
wherever ``METRICLOSS_DATA`` points); nothing is ever downloaded. Code that uses it must catch
:class:`DatasetNotFound` and skip cleanly, saying why, where the folder is absent.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, NamedTuple

__all__ = ["MULAN_NAMES", "DatasetNotFound", "MultilabelSplit", "data_root", "load_mulan"]

MULAN_NAMES = ("emotions", "enron", "genbase", "medical", "yeast")


class DatasetNotFound(FileNotFoundError):
    """The benchmark data folder (or one data set in it) is absent."""


class MultilabelSplit(NamedTuple):
    """One data set's official split: float64 features, 0/1 float64 labels, label names."""

    x_train: Any
    y_train: Any
    x_test: Any
    y_test: Any
    label_names: list[str]


def data_root() -> Path:
    """``$METRICLOSS_DATA`` if set, else ``../shared/data/multilabel`` from the working dir."""
    env = os.environ.get("METRICLOSS_DATA")
    return Path(env) if env else Path.cwd().parent / "shared" / "data" / "multilabel"


def load_mulan(name: str, root: str | Path | None = None) -> MultilabelSplit:
    """Load MULAN data set ``name`` (one of :data:`MULAN_NAMES`) as NumPy arrays.

    Features are returned as shipped (unscaled): standardise them with the training split's
    statistics. Raises :class:`DatasetNotFound` with the path it looked in when the files are
    absent, and ``ValueError`` for an unknown name.

    Example:
        >>> split = load_mulan("yeast")  # doctest: +SKIP
        >>> split.x_train.shape, split.y_train.shape  # doctest: +SKIP
        ((1500, 103), (1500, 14))
    """
    import numpy as np

    if name not in MULAN_NAMES:
        raise ValueError(f"name must be one of {', '.join(MULAN_NAMES)}; got {name!r}")
    folder = Path(root) if root is not None else data_root()
    folder = folder / name
    columns_file = folder / "columns.txt"
    if not columns_file.is_file():
        raise DatasetNotFound(
            f"MULAN data set {name!r} not found at {folder} (set METRICLOSS_DATA to the folder "
            "holding the MULAN CSV files; it is not downloaded)"
        )
    roles = {}
    for line in columns_file.read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        column, _, role = line.split("\t")
        roles[column] = role

    def read(split: str) -> tuple[Any, Any, list[str]]:
        path = folder / f"{split}.csv"
        header = path.open().readline().strip().split(",")
        table = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64, ndmin=2)
        is_label = np.array([roles.get(c) == "label" for c in header])
        names = [c for c, lab in zip(header, is_label, strict=True) if lab]
        return table[:, ~is_label], table[:, is_label], names

    x_train, y_train, names = read("train")
    x_test, y_test, _ = read("test")
    return MultilabelSplit(x_train, y_train, x_test, y_test, names)
