"""Tests for the Dataset record: validation, copies, subsets, splits, images."""

import numpy as np
import pytest
import torch

from pyrolatent.data import Dataset


def _toy(n=20, d=6, labelled=True, **kwargs):
    x = torch.arange(n * d, dtype=torch.float32).reshape(n, d) / (n * d)
    y = torch.arange(n) % 3 if labelled else None
    return Dataset(x, y=y, name="toy", **kwargs)


def test_sizes_and_defaults():
    ds = _toy()
    assert ds.n_samples == len(ds) == 20
    assert ds.n_features == 6
    assert ds.name == "toy"
    assert ds.y.dtype == torch.long
    assert ds.image_shape is None and ds.truth is None
    assert "n_samples=20" in repr(ds) and "labelled" in repr(ds)


def test_numpy_input_becomes_default_float_tensor():
    ds = Dataset(np.arange(12, dtype=np.float64).reshape(4, 3), y=np.array([0, 1, 1, 0]))
    assert isinstance(ds.x, torch.Tensor)
    assert ds.x.dtype == torch.get_default_dtype()
    assert ds.y.tolist() == [0, 1, 1, 0]
    assert ds.name == "data"


def test_tensor_input_keeps_its_float_dtype():
    ds = Dataset(torch.zeros(3, 2, dtype=torch.float64))
    assert ds.x.dtype == torch.float64


def test_frozen():
    ds = _toy()
    with pytest.raises(AttributeError):
        ds.name = "other"


def _nan_at_2_1():
    x = torch.zeros(4, 3)
    x[2, 1] = float("nan")
    return x


def _inf_at_0_2():
    x = torch.zeros(4, 3)
    x[0, 2] = float("inf")
    return x


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (
            {"x": _nan_at_2_1()},
            ValueError,
            r"'x' argument must contain only finite values; found NaN at row 2, column 1",
        ),
        ({"x": _inf_at_0_2()}, ValueError, r"'x'.*found an infinite value at row 0, column 2"),
        ({"x": torch.zeros(0, 3)}, ValueError, r"'x' argument must not be empty; got shape \(0, 3\)"),
        ({"x": torch.zeros(5)}, ValueError, r"'x' argument must have 2 dimension\(s\); got 1 \(shape \(5,\)\)"),
        ({"x": np.array([["a", "b"]])}, TypeError, r"'x' argument must be numeric"),
        (
            {"x": torch.zeros(3, 2), "y": torch.zeros(4, dtype=torch.long)},
            ValueError,
            r"'y' argument must hold one label per row of 'x' \(3 labels\); got 4",
        ),
        ({"x": torch.zeros(3, 2), "y": torch.zeros(3)}, TypeError, r"'y' argument must have an integer dtype"),
        (
            {"x": torch.zeros(3, 2), "y": torch.zeros(3, 1, dtype=torch.long)},
            ValueError,
            r"'y' argument must have 1 dimension",
        ),
        ({"x": torch.zeros(3, 2), "name": ""}, TypeError, r"'name' argument must be a non-empty string; got ''"),
        (
            {"x": torch.zeros(3, 6), "image_shape": (4, 2)},
            ValueError,
            r"'image_shape' argument must multiply out to n_features = 6; got \(4, 2\) \(product 8\)",
        ),
        (
            {"x": torch.zeros(3, 6), "image_shape": (3, 0)},
            ValueError,
            r"'image_shape' argument must be a positive integer",
        ),
        ({"x": torch.zeros(3, 6), "image_shape": 6}, TypeError, r"'image_shape' argument must be a tuple"),
        ({"x": torch.zeros(3, 6), "truth": [1, 2]}, TypeError, r"'truth' argument must be a dict or None; got list"),
    ],
    ids=[
        "nan",
        "inf",
        "empty",
        "rank1",
        "strings",
        "y-length",
        "y-float",
        "y-rank",
        "empty-name",
        "image-size",
        "image-zero",
        "image-int",
        "truth-list",
    ],
)
def test_bad_construction(kwargs, error, match):
    with pytest.raises(error, match=match):
        Dataset(**kwargs)


def test_image_shape_list_becomes_tuple_and_images_reshape():
    ds = _toy(n=5, d=6, image_shape=[2, 3])
    assert ds.image_shape == (2, 3)
    images = ds.images()
    assert images.shape == (5, 2, 3)
    torch.testing.assert_close(images[1].reshape(-1), ds.x[1])


def test_images_without_shape_is_an_error():
    with pytest.raises(ValueError, match=r"images\(\) needs the dataset's 'image_shape'.*got None for dataset 'toy'"):
        _toy().images()


def test_subset_keeps_labels_with_rows_and_metadata():
    ds = _toy(n=10, d=4, image_shape=(2, 2), truth={"k": 1})
    sub = ds.subset([3, 0, -1])
    torch.testing.assert_close(sub.x, ds.x[[3, 0, 9]])
    assert sub.y.tolist() == [ds.y[3].item(), ds.y[0].item(), ds.y[9].item()]
    assert sub.name == "toy" and sub.image_shape == (2, 2) and sub.truth == {"k": 1}
    assert len(ds.subset(slice(2, 5))) == 3
    mask = torch.zeros(10, dtype=torch.bool)
    mask[[1, 4]] = True
    torch.testing.assert_close(ds.subset(mask).x, ds.x[[1, 4]])
    assert len(ds) == 10  # the original is untouched


@pytest.mark.parametrize(
    "idx, error, match",
    [
        ([0, 10], IndexError, r"'idx' argument must hold row indices in \[-10, 10\); got 10"),
        (torch.tensor([0.5]), TypeError, r"'idx' argument must hold integers or booleans; got dtype torch.float32"),
        (torch.ones(3, dtype=torch.bool), ValueError, r"boolean mask, must have one entry per row \(10\); got 3"),
        (torch.zeros(10, dtype=torch.bool), ValueError, r"must select at least one row; got an all-False mask"),
        ([], ValueError, r"'idx' argument must not be empty"),
        (slice(5, 5), ValueError, r"must select at least one row; got slice\(5, 5, None\)"),
        (3, TypeError, r"got the single integer 3 \(use \[3\] for one row\)"),
    ],
    ids=["out-of-range", "float", "mask-length", "mask-empty", "empty-list", "empty-slice", "scalar"],
)
def test_bad_subset(idx, error, match):
    with pytest.raises(error, match=match):
        _toy(n=10).subset(idx)


def test_split_is_a_seeded_partition():
    ds = _toy(n=50)
    train, test = ds.split(test_fraction=0.2, seed=3)
    assert (len(train), len(test)) == (40, 10)
    rows = torch.cat([train.x, test.x])
    assert sorted(rows[:, 0].tolist()) == sorted(ds.x[:, 0].tolist())  # disjoint and complete
    again_train, again_test = ds.split(test_fraction=0.2, seed=3)
    torch.testing.assert_close(again_test.x, test.x)
    torch.testing.assert_close(again_train.y, train.y)
    _, other_test = ds.split(test_fraction=0.2, seed=4)
    assert not torch.equal(other_test.x, test.x)


def test_split_leaves_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    _toy(n=30).split(seed=1)
    torch.testing.assert_close(torch.rand(3), expected)


@pytest.mark.parametrize("fraction", [0, 1, 1.5, -0.1, "0.1", True, float("nan")])
def test_bad_test_fraction(fraction):
    with pytest.raises(ValueError, match=r"'test_fraction' argument must be a number strictly between 0 and 1; got"):
        _toy().split(test_fraction=fraction)


def test_test_fraction_that_empties_a_side():
    with pytest.raises(ValueError, match=r"must leave at least one row in each part; got 0.01, which puts 0 of 20"):
        _toy(n=20).split(test_fraction=0.01)


@pytest.mark.parametrize("seed", [-1, 1.5, None])
def test_bad_split_seed(seed):
    with pytest.raises(ValueError, match=r"'seed' argument must be an integer >= 0"):
        _toy().split(seed=seed)


def test_to_returns_a_new_dataset_with_truth_moved():
    ds = _toy(truth={"w": torch.ones(2), "n": 3})
    moved = ds.to("cpu")
    assert moved is not ds
    assert moved.x.device.type == "cpu" and moved.truth["n"] == 3
    torch.testing.assert_close(moved.truth["w"], torch.ones(2))
    torch.testing.assert_close(moved.x, ds.x)
