"""The MULAN loader, against the data folder's own README table (skips where it is absent)."""

from __future__ import annotations

import numpy as np
import pytest

from metricloss.datasets import DatasetNotFound, data_root, load_mulan

# From ../shared/data/multilabel/README.md: train rows, test rows, features, labels.
TABLE = {
    "yeast": (1500, 917, 103, 14),
    "emotions": (391, 202, 72, 6),
    "medical": (333, 645, 1449, 45),
}


@pytest.mark.parametrize("name", sorted(TABLE))
def test_shapes_and_labels_match_the_published_table(name: str) -> None:
    try:
        split = load_mulan(name)
    except DatasetNotFound as err:
        pytest.skip(str(err))
    n_train, n_test, n_features, n_labels = TABLE[name]
    assert split.x_train.shape == (n_train, n_features)
    assert split.x_test.shape == (n_test, n_features)
    assert split.y_train.shape == (n_train, n_labels)
    assert len(split.label_names) == n_labels
    assert set(np.unique(split.y_train)) <= {0.0, 1.0}


def test_missing_folder_and_unknown_name(tmp_path) -> None:
    with pytest.raises(DatasetNotFound, match="not found at"):
        load_mulan("yeast", root=tmp_path)
    with pytest.raises(ValueError, match="name must be one of"):
        load_mulan("mnist")
    assert data_root().name == "multilabel"
