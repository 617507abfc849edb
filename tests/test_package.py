"""The built wheel, installed in a clean environment: its contents, its version, its data.

Run by ``nox -s package``, which builds the wheel, installs it (not editable) in a fresh virtual
environment with only NumPy and pytest, and runs this file there, from outside the repository,
with ``METRICLOSS_WHEEL`` set to the wheel's path. Skipped everywhere else (a checkout on the
path would hide what the wheel holds).
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.metadata
import os
import sysconfig
import time
import zipfile
from importlib import resources
from pathlib import Path

import pytest

WHEEL = os.environ.get("METRICLOSS_WHEEL")

pytestmark = pytest.mark.skipif(
    not WHEEL, reason="checks the built wheel: run `nox -s package` (sets METRICLOSS_WHEEL)"
)

NAMES = ("emotions", "enron", "genbase", "medical", "yeast")
MAX_BYTES = 3 * 1024 * 1024


@pytest.fixture(scope="module")
def members() -> list[str]:
    assert WHEEL is not None
    with zipfile.ZipFile(WHEEL) as wheel:
        return wheel.namelist()


def test_metricloss_is_the_installed_wheel_not_a_checkout() -> None:
    import metricloss

    site = Path(sysconfig.get_paths()["purelib"]).resolve()
    assert Path(metricloss.__file__).resolve().is_relative_to(site), metricloss.__file__


def test_wheel_is_small(members: list[str]) -> None:
    assert WHEEL is not None
    size = os.path.getsize(WHEEL)
    print(f"wheel {Path(WHEEL).name}: {size / 1e6:.2f} MB, {len(members)} files")
    assert size < MAX_BYTES


def test_wheel_holds_py_typed_data_and_licence(members: list[str]) -> None:
    files = set(members)
    assert "metricloss/py.typed" in files
    assert "metricloss/datasets/data/README.md" in files
    assert "metricloss/datasets/data/SHA256SUMS" in files
    for name in NAMES:
        for file in ("columns.txt", "train.csv.gz", "test.csv.gz"):
            assert f"metricloss/datasets/data/{name}/{file}" in files
    assert any(m.endswith(".dist-info/licenses/LICENSE") for m in files), sorted(files)


def test_wheel_holds_no_tests_benchmarks_or_examples(members: list[str]) -> None:
    for member in members:
        top = member.split("/")[0]
        assert top == "metricloss" or top.endswith(".dist-info"), member
        parts = set(member.split("/"))
        assert not parts & {"tests", "benchmarks", "examples", "__pycache__"}, member


def test_one_version_everywhere() -> None:
    import metricloss

    assert WHEEL is not None
    assert importlib.metadata.version("metricloss") == metricloss.__version__
    assert f"-{metricloss.__version__}-" in Path(WHEEL).name


def test_installed_data_matches_its_checksums() -> None:
    data = resources.files("metricloss.datasets") / "data"
    sums = dict(reversed(line.split()) for line in
                (data / "SHA256SUMS").read_text(encoding="utf-8").splitlines())
    for name in NAMES:
        for split in ("train", "test"):
            content = gzip.decompress((data / name / f"{split}.csv.gz").read_bytes())
            assert hashlib.sha256(content).hexdigest() == sums[f"{name}/{split}.csv"]


def test_load_mulan_needs_no_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # nothing beside the working directory
    import numpy  # noqa: F401  (imported first: the time below is the loader's alone)

    from metricloss.datasets import load_mulan

    start = time.perf_counter()
    split = load_mulan("yeast")
    seconds = time.perf_counter() - start
    print(f"load_mulan('yeast'): {seconds:.3f} s (first load in the process, NumPy imported)")
    assert split.x_train.shape == (1500, 103) and split.y_train.shape == (1500, 14)
    assert split.x_test.shape == (917, 103) and split.y_test.shape == (917, 14)
    assert split.label_names[0] == "Class1"
