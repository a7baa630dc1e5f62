"""The ``npz:PATH`` data specification (arrays x, optional y and image_shape)."""

import numpy as np
import pytest
import torch

from pyrolatent.data import load_dataset, load_npz


def test_npz_with_labels_and_image_shape_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.random((7, 6)).astype(np.float32)
    y = np.arange(7) % 3
    np.savez(tmp_path / "mine.npz", x=x, y=y, image_shape=np.array([2, 3]))
    ds = load_dataset(f"npz:{tmp_path / 'mine.npz'}")
    assert ds.name == "mine" and ds.image_shape == (2, 3)
    assert torch.equal(ds.y, torch.from_numpy(y).long())
    assert torch.allclose(ds.x, torch.from_numpy(x).to(ds.x.dtype))


def test_npz_images_are_flattened_and_labels_optional(tmp_path):
    x = np.zeros((4, 5, 2))
    x[1, 2, 1] = 1.0
    np.savez(tmp_path / "img.npz", x=x)
    ds = load_npz(tmp_path / "img.npz")
    assert ds.y is None and ds.image_shape == (5, 2) and ds.x.shape == (4, 10)
    assert float(ds.x[1, 2 * 2 + 1]) == 1.0  # row-major flattening


@pytest.mark.parametrize(
    ("arrays", "match"),
    [
        ({"z": np.zeros((3, 2))}, r"must hold an array named 'x'; got arrays \['z'\]"),
        ({"x": np.zeros(3)}, r"array 'x' in .* must have rows of observations .* got shape \(3,\)"),
        ({"x": np.zeros((3, 2)), "y": np.array([0.5, 1, 2])}, r"array 'y' in .* must hold integer labels"),
        ({"x": np.zeros((3, 2)), "y": np.array([0, 1])}, r"one label per row of 'x' \(3 labels\); got 2"),
        ({"x": np.zeros((3, 6)), "image_shape": np.array([4, 2])}, r"multiply out to n_features = 6"),
        ({"x": np.array([[0.0, np.nan]])}, r"only finite values; found NaN at row 0, column 1"),
    ],
)
def test_bad_npz_files_are_refused(tmp_path, arrays, match):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match=match):
        load_dataset(f"npz:{tmp_path / 'bad.npz'}")


def test_npz_spec_must_name_an_npz_file(tmp_path):
    with pytest.raises(ValueError, match=r"scheme 'npz:' must name a .npz file"):
        load_dataset(f"npz:{tmp_path / 'x.npy'}")
