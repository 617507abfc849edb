"""Reading one multi-label data set folder: ``columns.txt``, ``train.csv`` and ``test.csv``.

Private: :func:`metricloss.datasets.load_mulan` is the public entry. Every malformed input raises
:class:`DatasetFormatError` naming the file, and the line and column where there is one; the
columns of ``test.csv`` are matched to ``train.csv``'s by name, never by position.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import sys
from collections.abc import Iterator, Sequence
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:  # a pathlib.Path, or the packaged copies (importlib.resources)
    if sys.version_info >= (3, 11):
        from importlib.resources.abc import Traversable as Resource
    else:
        from importlib.abc import Traversable as Resource

ROLES = ("feature", "label")


class DatasetNotFound(FileNotFoundError):
    """The data set (its folder, or one of its files) is absent."""


class DatasetFormatError(ValueError):
    """A data set file is malformed; the message names the file, line and column."""


@contextlib.contextmanager
def _open_text(path: Resource) -> Iterator[IO[str]]:
    """The file as text, ``.gz`` decompressed, a UTF-8 byte-order mark dropped; every layer
    closed on exit (``GzipFile`` does not close a file object it was given)."""
    with path.open("rb") as raw:
        if path.name.endswith(".gz"):
            with gzip.GzipFile(fileobj=raw, mode="rb") as unzipped, \
                    io.TextIOWrapper(unzipped, encoding="utf-8-sig") as text:
                yield text
        else:
            with io.TextIOWrapper(raw, encoding="utf-8-sig") as text:
                yield text


def find_split(folder: Resource, split: str) -> Resource:
    """``<split>.csv``, else ``<split>.csv.gz``; :class:`DatasetNotFound` where neither is."""
    for name in (f"{split}.csv", f"{split}.csv.gz"):
        if (folder / name).is_file():
            return folder / name
    raise DatasetNotFound(
        f"{folder / f'{split}.csv'} not found: a data set folder holds columns.txt, train.csv "
        "and test.csv (the CSV files may be gzip-compressed, as train.csv.gz)"
    )


def read_columns(path: Resource) -> dict[str, str]:
    """``columns.txt``: one line per CSV column, ``csv_name<TAB>original_name<TAB>role``, role
    ``feature`` or ``label``; ``#`` comments and blank lines are skipped. Returns name → role."""
    if not path.is_file():
        raise DatasetNotFound(
            f"{path} not found: a data set folder holds columns.txt (one line per CSV column: "
            "name<TAB>original name<TAB>feature|label), train.csv and test.csv"
        )
    roles: dict[str, str] = {}
    with _open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            line = line.rstrip("\r\n")
            if not line.strip() or line.startswith("#"):
                continue
            fields = line.split("\t")
            if len(fields) != 3:
                raise DatasetFormatError(
                    f"{path}: line {number}: expected 3 tab-separated fields (CSV column, "
                    f"original name, role), got {len(fields)}: {line!r}"
                )
            column, _, role = (field.strip() for field in fields)
            if role not in ROLES:
                raise DatasetFormatError(
                    f"{path}: line {number}: role must be 'feature' or 'label', got {role!r}"
                )
            if not column:
                raise DatasetFormatError(f"{path}: line {number}: the CSV column name is empty")
            if column in roles:
                raise DatasetFormatError(
                    f"{path}: line {number}: column {column!r} is listed twice"
                )
            roles[column] = role
    if not roles:
        raise DatasetFormatError(f"{path}: lists no columns (the file is empty)")
    for role in ROLES:
        if role not in roles.values():
            raise DatasetFormatError(f"{path}: lists no {role} column")
    return roles


def read_split(path: Resource, roles: dict[str, str], order: Sequence[str] | None = None
               ) -> tuple[Any, Any, list[str]]:
    """One CSV split as ``(features, labels, header)``, float64.

    The header must name exactly the columns of ``columns.txt``. With ``order`` (the header of
    the training split), the columns are taken in that order, matched by name. Features must be
    finite, labels exactly 0 or 1.
    """
    import numpy as np

    with _open_text(path) as handle:
        lines = handle.read().splitlines()
    while lines and not lines[-1].strip():  # trailing blank lines only
        lines.pop()
    if not lines:
        raise DatasetFormatError(f"{path}: the file is empty (expected a header row, then data)")
    header = [name.strip() for name in lines[0].split(",")]
    _check_header(path, header, roles)
    body = lines[1:]
    if not body:
        raise DatasetFormatError(f"{path}: a header row but no data rows")
    for row, line in enumerate(body):
        if not line.strip():
            raise DatasetFormatError(f"{path}: line {row + 2}: an empty line inside the data")
    try:
        table = np.loadtxt(body, delimiter=",", dtype=np.float64, ndmin=2, comments=None)
    except ValueError as err:
        _diagnose(path, body, header)
        raise DatasetFormatError(f"{path}: {err}") from err  # _diagnose found nothing (rare)
    if table.shape[1] != len(header):  # every row has the same, wrong, number of fields
        _diagnose(path, body, header)
        raise DatasetFormatError(
            f"{path}: the rows have {table.shape[1]} fields, but the header has {len(header)}"
        )

    position = {name: k for k, name in enumerate(header)}
    names = list(order) if order is not None else header
    columns = np.array([position[name] for name in names])
    table = table[:, columns]
    is_label = np.array([roles[name] == "label" for name in names])
    x, y = table[:, ~is_label], table[:, is_label]
    _check_values(path, body, header, x, np.flatnonzero(~is_label), columns, "feature")
    _check_values(path, body, header, y, np.flatnonzero(is_label), columns, "label")
    return x, y, header


def _check_header(path: Resource, header: list[str], roles: dict[str, str]) -> None:
    seen: set[str] = set()
    for k, name in enumerate(header):
        if name in seen:
            raise DatasetFormatError(f"{path}: line 1, column {k + 1}: {name!r} appears twice")
        seen.add(name)
        if name not in roles:
            raise DatasetFormatError(
                f"{path}: line 1, column {k + 1}: {name!r} is not listed in columns.txt"
            )
    missing = [name for name in roles if name not in seen]
    if missing:
        shown = ", ".join(repr(name) for name in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise DatasetFormatError(
            f"{path}: line 1: the header lacks column(s) {shown}{more} listed in columns.txt"
        )


def _diagnose(path: Resource, body: list[str], header: list[str]) -> None:
    """Find the first row with a wrong field count or a field that is not a number, and raise
    naming its line and column (only runs once the fast parse has failed)."""
    for row, line in enumerate(body):
        fields = line.split(",")
        if len(fields) != len(header):
            raise DatasetFormatError(
                f"{path}: line {row + 2}: {len(fields)} fields, but the header has {len(header)}"
            )
        for k, field in enumerate(fields):
            try:
                float(field)
            except ValueError:
                raise DatasetFormatError(
                    f"{path}: line {row + 2}, column {k + 1} ({header[k]!r}): {field.strip()!r} "
                    "is not a number"
                ) from None


def _check_values(path: Resource, body: list[str], header: list[str], values: Any,
                  picked: Any, columns: Any, role: str) -> None:
    """Features finite, labels in {0, 1}; else name the first bad value's line and column."""
    import numpy as np

    bad = ~np.isfinite(values) if role == "feature" else (values != 0) & (values != 1)
    if not bad.any():
        return
    row, col = (int(i) for i in np.argwhere(bad)[0])
    k = int(columns[picked[col]])  # position in the file
    field = body[row].split(",")[k].strip()
    rule = "is not a finite number" if role == "feature" else "is not 0 or 1"
    count = int(bad.sum())
    others = f" ({count - 1} more such value(s) in this file)" if count > 1 else ""
    raise DatasetFormatError(
        f"{path}: line {row + 2}, column {k + 1} ({header[k]!r}): {role} {field!r} "
        f"(read as {float(values[row, col])!r}) {rule}{others}"
    )
