"""Triplets from labels, attributes and files; the object split."""

import numpy as np
import pytest
import torch

from pyrolatent.data import Dataset, load_digits
from pyrolatent.data.triplets import (
    Triplets,
    image_attribute,
    load_triplets,
    make_triplet_split,
    split_objects,
    triplets_from_attribute,
    triplets_from_labels,
)


def test_label_triplets_share_the_anchor_label_with_the_positive_only():
    y = torch.tensor([0, 0, 1, 1, 1, 2, 3])  # label 2 and 3 have one member: never anchors
    t = triplets_from_labels(y, 2000, seed=0)
    a, p, n = t.index.T
    assert torch.equal(y[a], y[p]) and bool((y[a] != y[n]).all())
    assert bool((a != p).all()) and set(a.tolist()) == {0, 1, 2, 3, 4}
    # the positive is uniform over the other members: anchor 2 pairs with 3 and 4 about equally
    share = float((p[a == 2] == 3).double().mean())
    assert share == pytest.approx(0.5, abs=0.1)
    assert torch.equal(t.index, triplets_from_labels(y, 2000, seed=0).index)
    assert not torch.equal(t.index, triplets_from_labels(y, 2000, seed=1).index)


def test_attribute_triplets_put_the_closer_value_as_positive():
    v = torch.tensor([0.0, 1.0, 3.0, 3.5, 10.0, -2.0])
    t = triplets_from_attribute(v, 500, seed=0)
    a, p, n = t.index.T
    assert bool(((v[a] - v[p]).abs() < (v[a] - v[n]).abs()).all())
    assert len(t) == 500 and t.n_objects == 6


def test_slant_and_ink_attributes_of_drawn_lines():
    img = np.zeros((3, 9, 9))
    for r in range(9):
        img[0, r, 8 - r] = 1.0  # top right to bottom left: leans right
        img[1, r, r] = 1.0  # leans left
        img[2, r, 4] = 1.0  # upright
    data = Dataset(img.reshape(3, 81), image_shape=(9, 9))
    slant = image_attribute(data, "slant")
    assert float(slant[0]) == pytest.approx(1.0) and float(slant[1]) == pytest.approx(-1.0)
    assert float(slant[2]) == pytest.approx(0.0, abs=1e-12)
    assert torch.allclose(image_attribute(data, "ink"), torch.full((3,), 9 / 81, dtype=torch.float64))


def test_object_split_is_the_dataset_split():
    data = load_digits()
    train_ids, test_ids = split_objects(data.n_samples, 0.1, seed=3)
    train, test = data.split(0.1, seed=3)
    assert torch.equal(data.x[train_ids], train.x) and torch.equal(data.x[test_ids], test.x)


def test_restrict_drops_and_counts_mixed_triplets_and_renumbers():
    t = Triplets(torch.tensor([[0, 1, 2], [0, 1, 5], [5, 4, 3], [2, 0, 1]]), 6, oracle=torch.tensor([0, 1, 1, 0]))
    kept, dropped = t.restrict(torch.tensor([2, 0, 1]))
    assert dropped == 2
    assert kept.index.tolist() == [[1, 2, 0], [0, 1, 2]] and kept.oracle.tolist() == [0, 0] and kept.n_objects == 3


def test_triplets_from_a_csv_file_with_a_header_and_oracle_ids(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text("anchor,positive,negative,oracle\n0,1,2,0\n3,4,0,1\n")
    t = load_triplets(f, 5)
    assert t.index.tolist() == [[0, 1, 2], [3, 4, 0]] and t.oracle.tolist() == [0, 1] and t.n_oracles == 2


def test_triplets_from_an_npy_file(tmp_path):
    np.save(tmp_path / "t.npy", np.array([[0, 1, 2], [2, 1, 0]], dtype=np.int32))
    t = load_triplets(tmp_path / "t.npy", 3)
    assert t.index.dtype == torch.long and t.oracle is None and len(t) == 2


@pytest.mark.parametrize(
    ("rows", "match"),
    [
        ("0,1,2\n0,1,7\n", r"object ids in \[0, 5\); row 1 \(counting from 0\) is \[0, 1, 7\]"),
        ("0,1,2\n-1,1,2\n", r"object ids in \[0, 5\); row 1 \(counting from 0\) is \[-1, 1, 2\]"),
        ("0,1,2\n3,3,1\n", r"three different objects; row 1 \(counting from 0\) is \[3, 3, 1\]"),
        ("0,1.5,2\n", r"integer object ids \(anchor, positive, negative\[, oracle\]\); row 0"),
        ("0,1\n1,2\n", r"must have 3 or 4 columns .*; got 2"),
        ("0,1,2,3,4\n", r"must have 3 or 4 columns .*; got 5"),
        ("0,1,2\n1,2\n", r"same number of columns on every row: expected 3; got 2 at line 2"),
        ("0,1,2,0\n1,2,3,-1\n", r"oracle ids that are integers >= 0 .* row 1 \(counting from 0\)"),
        ("0,1,2,x\n", r"only numbers .* got 'x' at line 1, column 4"),
    ],
)
def test_bad_triplet_files_are_refused_naming_the_row(tmp_path, rows, match):
    f = tmp_path / "bad.csv"
    f.write_text(rows)
    with pytest.raises(ValueError, match=match):
        load_triplets(f, 5)


def test_bad_npy_triplets_are_refused(tmp_path):
    np.save(tmp_path / "f.npy", np.array([[0.0, 1.0, 2.0], [0.0, 1.0, 2.5]]))
    with pytest.raises(ValueError, match=r"integer object ids .* row 1 \(counting from 0\) is \[0.0, 1.0, 2.5\]"):
        load_triplets(tmp_path / "f.npy", 3)
    with pytest.raises(FileNotFoundError, match="'triplets' argument must name an existing file"):
        load_triplets(tmp_path / "missing.npy", 3)


def test_label_split_keeps_train_and_test_objects_apart():
    data = load_digits()
    split = make_triplet_split(data, "labels:300", seed=1, n_test_triplets=200)
    assert len(split.train_triplets) == 300 and len(split.test_triplets) == 200 and split.n_dropped == 0
    assert split.train_triplets.n_objects == split.train.n_samples == 1617
    a, p, n = split.test_triplets.index.T
    assert torch.equal(split.test.y[a], split.test.y[p]) and bool((split.test.y[a] != split.test.y[n]).all())
    assert not set(split.train_objects.tolist()) & set(split.test_objects.tolist())


def test_file_split_drops_mixed_triplets_and_counts_them(tmp_path):
    data = Dataset(torch.rand(10, 2), y=torch.arange(10) % 2)
    train_ids, test_ids = split_objects(10, 0.3, seed=0)
    tr, te = train_ids.tolist(), test_ids.tolist()
    rows = [tr[:3], te[:3], [tr[0], tr[1], te[0]], tr[3:6]]
    np.save(tmp_path / "t.npy", np.array(rows))
    split = make_triplet_split(data, f"npy:{tmp_path / 't.npy'}", test_fraction=0.3, seed=0)
    assert (len(split.train_triplets), len(split.test_triplets), split.n_dropped) == (2, 1, 1)
    # renumbered to rows of the parts: the same objects
    assert torch.equal(split.train.x[split.train_triplets.index[0]], data.x[torch.tensor(tr[:3])])
    assert torch.equal(split.test.x[split.test_triplets.index[0]], data.x[torch.tensor(te[:3])])


def test_joined_specs_give_one_oracle_each():
    split = make_triplet_split(load_digits(), "labels:100+attribute:ink:50", n_test_triplets=20)
    assert split.train_triplets.n_oracles == 2
    assert split.train_triplets.oracle.bincount().tolist() == [100, 50]
    assert split.test_triplets.oracle.bincount().tolist() == [20, 20]


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("labels:0", "positive number of triplets; got 'labels:0'"),
        ("labels:x", "positive number of triplets"),
        ("pairs:10", r"must be one of labels:N \| attribute:NAME:N \| csv:PATH \| npy:PATH"),
        ("attribute:colour:10", "The 'attribute' argument must be one of 'ink', 'slant'"),
        ("csv:/x/t.npy", "scheme 'csv:' must name a .csv file"),
    ],
)
def test_bad_specs_are_refused(spec, match):
    with pytest.raises(ValueError, match=match):
        make_triplet_split(load_digits(), spec)


def test_labels_spec_needs_labels():
    with pytest.raises(ValueError, match="needs labelled data"):
        make_triplet_split(Dataset(torch.rand(20, 2)), "labels:5")
