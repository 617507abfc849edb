"""The MULAN multi-label benchmarks, shipped with the package, and a loader for your own data.

Five standard data sets with their official train/test splits — emotions, enron, genbase,
medical, yeast — are part of the package (gzip-compressed CSV under ``metricloss/datasets/data``,
with their provenance, citations and checksums in ``data/README.md``): ``load_mulan("yeast")``
needs no path and no download. ``load_mulan(folder)`` reads your own data set from a folder in
the same format::

    columns.txt   one line per CSV column: name<TAB>original name<TAB>feature|label
                  ('#' starts a comment line)
    train.csv     a header row of column names, then one example per line, comma-separated;
    test.csv      labels 0 or 1, features finite numbers (either file may be .csv.gz)

Columns are matched by name: ``test.csv`` may list them in another order than ``train.csv``.
A malformed file raises :class:`DatasetFormatError` naming the file, line and column; an absent
one :class:`DatasetNotFound`. The loader needs NumPy.
"""

from __future__ import annotations

import functools
import os
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from metricloss.datasets._reader import (
    DatasetFormatError,
    DatasetNotFound,
    find_split,
    read_columns,
    read_split,
)

if TYPE_CHECKING:
    from metricloss.datasets._reader import Resource

__all__ = [
    "MULAN_NAMES",
    "DatasetFormatError",
    "DatasetNotFound",
    "MultilabelSplit",
    "load_mulan",
]

MULAN_NAMES = ("emotions", "enron", "genbase", "medical", "yeast")


class MultilabelSplit(NamedTuple):
    """One data set's official split: float64 features, 0/1 float64 labels, label names."""

    x_train: Any
    y_train: Any
    x_test: Any
    y_test: Any
    label_names: list[str]


def load_mulan(name: str | os.PathLike[str], root: str | os.PathLike[str] | None = None
               ) -> MultilabelSplit:
    """Load a multi-label data set as NumPy arrays: a packaged MULAN set, or a folder.

    Args:
        name: one of :data:`MULAN_NAMES` (the copy shipped with the package), or the path of a
            folder holding ``columns.txt``, ``train.csv`` and ``test.csv`` (a
            :class:`~pathlib.Path`, or a string naming an existing folder or containing a
            path separator, e.g. ``"./yeast"``).
        root: if given, read the folder ``root / name`` instead (``name`` is then any folder
            name).

    Returns:
        :class:`MultilabelSplit` ``(x_train, y_train, x_test, y_test, label_names)``: features
        as shipped (unscaled: standardise them with the training split's statistics), labels
        0/1, both float64; columns in ``train.csv``'s order, ``test.csv``'s matched to them by
        name. Each call returns fresh arrays.

    Raises:
        ValueError: ``name`` is neither a MULAN name nor a folder.
        DatasetNotFound: the folder, or one of its three files, is absent.
        DatasetFormatError: a file is malformed (the message names file, line and column).

    Example:
        >>> from metricloss.datasets import load_mulan
        >>> split = load_mulan("yeast")
        >>> split.x_train.shape, split.y_train.shape, split.x_test.shape
        ((1500, 103), (1500, 14), (917, 103))
        >>> split.label_names[:3]
        ['Class1', 'Class2', 'Class3']

    Data: Tsoumakas et al., "Mulan: A Java Library for Multi-Label Learning", JMLR 12, 2011;
    each set's own reference is in ``metricloss/datasets/data/README.md``.
    """
    if root is not None:
        return _read_folder(Path(root) / name)
    if isinstance(name, str) and name in MULAN_NAMES:
        x_train, y_train, x_test, y_test, names = _packaged(name)
        return MultilabelSplit(x_train.copy(), y_train.copy(), x_test.copy(), y_test.copy(),
                               list(names))
    path = Path(name)
    if isinstance(name, str) and not path.exists() and os.sep not in name and "/" not in name:
        raise ValueError(
            f"name must be one of {', '.join(MULAN_NAMES)}, or the path of a data set folder; "
            f"got {name!r}"
        )
    return _read_folder(path)


@functools.cache
def _packaged(name: str) -> MultilabelSplit:
    """The packaged copy, parsed once per process (callers get copies)."""
    return _read_folder(resources.files(__name__) / "data" / name)


def _read_folder(folder: Resource) -> MultilabelSplit:
    if isinstance(folder, Path) and not folder.is_dir():
        raise DatasetNotFound(
            f"data set folder {folder} not found (it should hold columns.txt, train.csv and "
            "test.csv)"
        )
    roles = read_columns(folder / "columns.txt")
    train, test = find_split(folder, "train"), find_split(folder, "test")
    x_train, y_train, header = read_split(train, roles)
    x_test, y_test, _ = read_split(test, roles, order=header)
    names = [column for column in header if roles[column] == "label"]
    return MultilabelSplit(x_train, y_train, x_test, y_test, names)
