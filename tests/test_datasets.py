"""The data set loader: the packaged MULAN copies against their published table and checksums,
and a folder written here, well formed and malformed in every way the loader must catch."""

from __future__ import annotations

import gzip
import hashlib
import pathlib
import re
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from metricloss.datasets import (
    MULAN_NAMES,
    DatasetFormatError,
    DatasetNotFound,
    MultilabelSplit,
    load_mulan,
)

PACKAGED = resources.files("metricloss.datasets") / "data"
# The folder the packaged copies were made from (a sibling of the repository on the project's
# machines; a user's clone has none).
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "multilabel"

# MULAN's published table (mulan.sourceforge.net/datasets-mlc.html; Tsoumakas et al., JMLR 2011),
# checked against the data README's own table: train rows, test rows, features, labels, label
# cardinality, label density, distinct label sets. MULAN lists genbase with 1186 attributes:
# the 1186th is the protein's accession id (a string, the first ARFF attribute), which the CSV
# conversion drops, so 1185 numeric features are right. MULAN rounds emotions' cardinality
# (1108 / 593 = 1.8685) to 1.869; it is checked to 1e-3.
PUBLISHED = {
    "emotions": (391, 202, 72, 6, 1.869, 0.311, 27),
    "enron": (1123, 579, 1001, 53, 3.378, 0.064, 753),
    "genbase": (463, 199, 1185, 27, 1.252, 0.046, 32),
    "medical": (333, 645, 1449, 45, 1.245, 0.028, 94),
    "yeast": (1500, 917, 103, 14, 4.237, 0.303, 198),
}


@pytest.mark.parametrize("name", MULAN_NAMES)
def test_packaged_set_matches_the_published_table(name: str) -> None:
    n_train, n_test, n_features, n_labels, cardinality, density, distinct = PUBLISHED[name]
    split = load_mulan(name)
    assert isinstance(split, MultilabelSplit)
    assert split.x_train.shape == (n_train, n_features)
    assert split.x_test.shape == (n_test, n_features)
    assert split.y_train.shape == (n_train, n_labels)
    assert split.y_test.shape == (n_test, n_labels)
    assert len(split.label_names) == len(set(split.label_names)) == n_labels
    for array in split[:4]:
        assert array.dtype == np.float64
    y = np.concatenate([split.y_train, split.y_test])
    assert set(np.unique(y)) == {0.0, 1.0}
    assert np.isfinite(split.x_train).all() and np.isfinite(split.x_test).all()
    assert abs(y.sum(axis=1).mean() - cardinality) < 1e-3
    assert abs(y.mean() - density) < 1e-3
    assert len({tuple(row) for row in y}) == distinct


def test_readme_table_agrees_with_the_published_one() -> None:
    readme = (PACKAGED / "README.md").read_text(encoding="utf-8")
    for name, (n_train, n_test, n_features, n_labels, cardinality, density, _) in (
            PUBLISHED.items()):
        pattern = rf"^\| {name} \| (\d+) / (\d+) \| (\d+) \| (\d+) \| ([\d.]+) \| ([\d.]+) \|"
        row = re.search(pattern, readme, re.MULTILINE)
        assert row is not None, name
        assert tuple(int(v) for v in row.groups()[:4]) == (n_train, n_test, n_features, n_labels)
        assert abs(float(row[5]) - cardinality) <= 0.005 and abs(float(row[6]) - density) <= 5e-4


def test_packaged_load_returns_fresh_arrays() -> None:
    first = load_mulan("emotions")
    first.x_train[:] = 0.0
    first.label_names.clear()
    second = load_mulan("emotions")
    assert second.x_train.any() and len(second.label_names) == 6


def _sums() -> dict[str, str]:
    lines = (PACKAGED / "SHA256SUMS").read_text(encoding="utf-8").splitlines()
    return {path: digest for digest, path in (line.split() for line in lines)}


def test_checksums_list_every_source_file() -> None:
    expected = {f"{name}/{file}" for name in MULAN_NAMES
                for file in ("columns.txt", "train.csv", "test.csv")}
    assert set(_sums()) == expected
    # The data README (the copy beside the data) lists the same CSV checksums.
    readme = (PACKAGED / "README.md").read_text(encoding="utf-8")
    listed = dict((path, digest) for digest, path in
                  re.findall(r"^([0-9a-f]{64})  (\S+\.csv)$", readme, re.MULTILINE))
    assert listed == {path: d for path, d in _sums().items() if path.endswith(".csv")}


@pytest.mark.parametrize("name", MULAN_NAMES)
def test_packaged_copies_match_the_recorded_checksums(name: str) -> None:
    sums = _sums()
    folder = PACKAGED / name
    assert hashlib.sha256((folder / "columns.txt").read_bytes()).hexdigest() == \
        sums[f"{name}/columns.txt"]
    for split in ("train", "test"):
        content = gzip.decompress((folder / f"{split}.csv.gz").read_bytes())
        assert hashlib.sha256(content).hexdigest() == sums[f"{name}/{split}.csv"]


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"no source folder {SHARED} (only on the "
                    "project's own machines; the packaged copies are checked by checksum)")
@pytest.mark.parametrize("name", MULAN_NAMES)
def test_source_files_match_the_recorded_checksums(name: str) -> None:
    for file in ("columns.txt", "train.csv", "test.csv"):
        digest = hashlib.sha256((SHARED / name / file).read_bytes()).hexdigest()
        assert digest == _sums()[f"{name}/{file}"], f"{name}/{file} differs from the packaged copy"


# ---------------------------------------------------------------------------------------------
# A folder in the documented format, written here.

COLUMNS = ("# csv_column\toriginal\trole\n"
           "f0\tA\tfeature\nf1\tB\tfeature\na\tLA\tlabel\nb\tLB\tlabel\n")
HEADER = ["f0", "f1", "a", "b"]
TRAIN = [[0.5, -1.25, 1, 0], [2.0, 3.5, 0, 1], [-0.75, 0.0, 1, 1]]
TEST = [[1.5, 2.25, 0, 0], [0.125, -4.0, 1, 0]]


def _csv(header: list[str], rows: list[list]) -> str:
    return "\n".join([",".join(header), *(",".join(str(v) for v in row) for row in rows)]) + "\n"


def write(folder: Path, *, columns: str = COLUMNS, train: str | None = None,
          test: str | None = None) -> Path:
    """The folder with the three files (the good ones unless given)."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {"columns.txt": columns, "train.csv": _csv(HEADER, TRAIN) if train is None else train,
             "test.csv": _csv(HEADER, TEST) if test is None else test}
    for file, text in files.items():
        (folder / file).write_text(text, encoding="utf-8")
    return folder


def expected_split() -> tuple[np.ndarray, ...]:
    train, test = np.array(TRAIN, dtype=np.float64), np.array(TEST, dtype=np.float64)
    return train[:, :2], train[:, 2:], test[:, :2], test[:, 2:]


def test_folder_loads_exactly(tmp_path: Path) -> None:
    split = load_mulan(write(tmp_path / "mine"))
    for got, want in zip(split[:4], expected_split(), strict=True):
        assert got.dtype == np.float64
        np.testing.assert_array_equal(got, want)
    assert split.label_names == ["a", "b"]


def test_folder_by_root_string_path_and_gzip(tmp_path: Path) -> None:
    folder = write(tmp_path / "mine")
    for file in ("train.csv", "test.csv"):
        (folder / f"{file}.gz").write_bytes(gzip.compress((folder / file).read_bytes()))
    (folder / "train.csv").unlink()
    for split in (load_mulan("mine", root=tmp_path), load_mulan(str(folder))):
        for got, want in zip(split[:4], expected_split(), strict=True):
            np.testing.assert_array_equal(got, want)


def test_crlf_and_byte_order_mark_are_read(tmp_path: Path) -> None:
    train = "\ufeff" + _csv(HEADER, TRAIN).replace("\n", "\r\n")
    split = load_mulan(write(tmp_path / "mine", train=train))
    np.testing.assert_array_equal(split.x_train, expected_split()[0])


@pytest.mark.parametrize("order", [[0, 1, 3, 2], [3, 2, 1, 0], [2, 0, 3, 1]],
                         ids=["labels-swapped", "all-reversed", "interleaved"])
def test_test_columns_are_matched_by_name_not_position(tmp_path: Path, order: list[int]) -> None:
    permuted = _csv([HEADER[k] for k in order], [[row[k] for k in order] for row in TEST])
    split = load_mulan(write(tmp_path / "mine", test=permuted))
    _, _, x_test, y_test = expected_split()
    np.testing.assert_array_equal(split.x_test, x_test)
    np.testing.assert_array_equal(split.y_test, y_test)
    assert split.label_names == ["a", "b"]


def test_train_column_order_is_kept(tmp_path: Path) -> None:
    order = [3, 0, 2, 1]  # b, f0, a, f1
    train = _csv([HEADER[k] for k in order], [[row[k] for k in order] for row in TRAIN])
    split = load_mulan(write(tmp_path / "mine", train=train))
    assert split.label_names == ["b", "a"]
    np.testing.assert_array_equal(split.y_test, expected_split()[3][:, ::-1])


def _raises(folder: Path, *parts: str) -> None:
    with pytest.raises(DatasetFormatError) as info:
        load_mulan(folder)
    for part in parts:
        assert part in str(info.value), (part, str(info.value))


@pytest.mark.parametrize("value", ["2", "0.5", "-1", "nan"])
@pytest.mark.parametrize("split", ["train", "test"])
def test_label_not_zero_or_one(tmp_path: Path, split: str, value: str) -> None:
    rows = [list(row) for row in (TRAIN if split == "train" else TEST)]
    rows[1][3] = value
    folder = write(tmp_path / "mine", **{split: _csv(HEADER, rows)})
    _raises(folder, f"{split}.csv", "line 3, column 4 ('b')", f"label '{value}'", "not 0 or 1")


@pytest.mark.parametrize("value", ["1e400", "-1e400", "nan", "inf"])
def test_feature_not_finite(tmp_path: Path, value: str) -> None:
    rows = [list(row) for row in TEST]
    rows[0][1] = value
    folder = write(tmp_path / "mine", test=_csv(HEADER, rows))
    _raises(folder, "test.csv", "line 2, column 2 ('f1')", f"feature '{value}'",
            "not a finite number")


def test_feature_not_a_number(tmp_path: Path) -> None:
    rows = [list(row) for row in TRAIN]
    rows[2][0] = "abc"
    _raises(write(tmp_path / "mine", train=_csv(HEADER, rows)), "train.csv",
            "line 4, column 1 ('f0')", "'abc' is not a number")


@pytest.mark.parametrize("delta", [1, -1], ids=["extra-field", "missing-field"])
def test_row_with_wrong_field_count(tmp_path: Path, delta: int) -> None:
    rows = [list(row) for row in TRAIN]
    rows[1] = [*rows[1], 0] if delta > 0 else rows[1][:-1]
    _raises(write(tmp_path / "mine", train=_csv(HEADER, rows)), "train.csv", "line 3",
            f"{4 + delta} fields, but the header has 4")


def test_every_row_with_wrong_field_count(tmp_path: Path) -> None:
    rows = [[*row, 0] for row in TEST]
    _raises(write(tmp_path / "mine", test=_csv(HEADER, rows)), "test.csv", "line 2",
            "5 fields, but the header has 4")


@pytest.mark.parametrize("split", ["train", "test"])
def test_extra_column(tmp_path: Path, split: str) -> None:
    rows = [[*row, 1] for row in (TRAIN if split == "train" else TEST)]
    folder = write(tmp_path / "mine", **{split: _csv([*HEADER, "c"], rows)})
    _raises(folder, f"{split}.csv", "line 1, column 5", "'c' is not listed in columns.txt")


@pytest.mark.parametrize("split", ["train", "test"])
def test_missing_column(tmp_path: Path, split: str) -> None:
    rows = [row[:3] for row in (TRAIN if split == "train" else TEST)]
    folder = write(tmp_path / "mine", **{split: _csv(HEADER[:3], rows)})
    _raises(folder, f"{split}.csv", "line 1", "lacks column(s) 'b'")


def test_duplicate_column(tmp_path: Path) -> None:
    rows = [[*row, row[2]] for row in TEST]
    _raises(write(tmp_path / "mine", test=_csv([*HEADER, "a"], rows)), "test.csv",
            "line 1, column 5", "'a' appears twice")


@pytest.mark.parametrize("text", ["", "# only a comment\n\n"], ids=["empty", "comments-only"])
def test_columns_file_without_columns(tmp_path: Path, text: str) -> None:
    _raises(write(tmp_path / "mine", columns=text), "columns.txt", "lists no columns")


@pytest.mark.parametrize(("line", "message"), [
    ("f1 feature", "expected 3 tab-separated fields"),
    ("f1\tB", "expected 3 tab-separated fields"),
    ("f1\tB\tfeature\textra", "expected 3 tab-separated fields"),
    ("f1\tB\ttarget", "role must be 'feature' or 'label'"),
    ("f0\tB\tfeature", "column 'f0' is listed twice"),
    ("\tB\tfeature", "the CSV column name is empty"),
], ids=["spaces", "two-fields", "four-fields", "bad-role", "duplicate", "no-name"])
def test_bad_line_in_columns_file(tmp_path: Path, line: str, message: str) -> None:
    columns = COLUMNS.replace("f1\tB\tfeature", line)
    _raises(write(tmp_path / "mine", columns=columns), "columns.txt", "line 3", message)


@pytest.mark.parametrize("role", ["label", "feature"])
def test_columns_file_without_one_role(tmp_path: Path, role: str) -> None:
    other = "feature" if role == "label" else "label"
    columns = "".join(f"{name}\t{name}\t{other}\n" for name in HEADER)
    _raises(write(tmp_path / "mine", columns=columns), "columns.txt", f"lists no {role} column")


@pytest.mark.parametrize("split", ["train", "test"])
def test_empty_csv(tmp_path: Path, split: str) -> None:
    _raises(write(tmp_path / "mine", **{split: ""}), f"{split}.csv", "the file is empty")


@pytest.mark.parametrize("split", ["train", "test"])
def test_header_only_csv(tmp_path: Path, split: str) -> None:
    _raises(write(tmp_path / "mine", **{split: ",".join(HEADER) + "\n"}), f"{split}.csv",
            "a header row but no data rows")


def test_blank_line_inside_the_data(tmp_path: Path) -> None:
    train = _csv(HEADER, TRAIN).replace("\n", "\n\n", 2)
    _raises(write(tmp_path / "mine", train=train), "train.csv", "line 2: an empty line")


@pytest.mark.parametrize("file", ["columns.txt", "train.csv", "test.csv"])
def test_missing_file_raises_dataset_not_found(tmp_path: Path, file: str) -> None:
    folder = write(tmp_path / "mine")
    (folder / file).unlink()
    with pytest.raises(DatasetNotFound, match=re.escape(str(folder / file))):
        load_mulan(folder)
    assert issubclass(DatasetNotFound, FileNotFoundError)


def test_missing_folder_and_unknown_name(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFound, match="not found"):
        load_mulan(tmp_path / "absent")
    with pytest.raises(DatasetNotFound, match="not found"):
        load_mulan("yeast", root=tmp_path)
    with pytest.raises(ValueError, match="name must be one of"):
        load_mulan("mnist")


def test_file_handles_are_closed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = write(tmp_path / "good")
    (good / "test.csv.gz").write_bytes(gzip.compress((good / "test.csv").read_bytes()))
    (good / "test.csv").unlink()
    rows = [list(row) for row in TRAIN]
    rows[0][2] = "7"
    bad = write(tmp_path / "bad", train=_csv(HEADER, rows))
    opened = []
    real_open = pathlib.Path.open

    def recording_open(self: Path, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        handle = real_open(self, *args, **kwargs)  # type: ignore[arg-type]
        opened.append(handle)
        return handle

    monkeypatch.setattr(pathlib.Path, "open", recording_open)
    load_mulan(good)
    with pytest.raises(DatasetFormatError):
        load_mulan(bad)
    # good: columns.txt, train.csv, test.csv.gz; bad: columns.txt, train.csv (fails there).
    assert len(opened) == 5 and all(handle.closed for handle in opened)
