"""Tests for the file loaders, the spec parser and binarize()."""

import gzip
import struct

import numpy as np
import pytest
import scipy.io
import torch

from pyrolatent.data import (
    DATA_SPECS,
    Dataset,
    binarize,
    load_array,
    load_dataset,
    load_digits,
    load_frey,
    load_mnist,
)

# ----------------------------------------------------------------- helpers


def _idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    array = np.asarray(array, dtype=np.uint8)
    if magic is None:
        magic = 0x0800 | array.ndim
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", s) for s in array.shape)
    return header + array.tobytes()


def _write_mnist(folder, n=5, split="t10k", gz=True, n_labels=None, magic=None, cut=0, rows=28, cols=28):
    """Write fake IDX images/labels; return (images_path, pixel array, labels)."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(n, rows, cols), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n if n_labels is None else n_labels, dtype=np.uint8)
    suffix = ".gz" if gz else ""
    payload = _idx_bytes(images, magic)
    if cut:
        payload = payload[:-cut]
    files = {f"{split}-images-idx3-ubyte{suffix}": payload, f"{split}-labels-idx1-ubyte{suffix}": _idx_bytes(labels)}
    for name, data in files.items():
        (folder / name).write_bytes(gzip.compress(data) if gz else data)
    return folder / f"{split}-images-idx3-ubyte{suffix}", images, labels


# ------------------------------------------------------------------ digits


def test_load_digits():
    ds = load_digits()
    assert (ds.n_samples, ds.n_features) == (1797, 64)
    assert ds.name == "digits" and ds.image_shape == (8, 8)
    assert float(ds.x.min()) == 0.0 and float(ds.x.max()) == 1.0
    assert sorted(ds.y.unique().tolist()) == list(range(10))
    assert ds.images().shape == (1797, 8, 8)


# ------------------------------------------------------------------- MNIST


@pytest.mark.parametrize("gz", [True, False], ids=["gzip", "raw"])
def test_load_fake_mnist_from_folder(tmp_path, gz):
    _, images, labels = _write_mnist(tmp_path, gz=gz)
    ds = load_mnist(tmp_path)
    assert ds.name == "mnist" and ds.image_shape == (28, 28)
    assert ds.x.dtype == torch.float32 and ds.x.shape == (5, 784)
    np.testing.assert_allclose(ds.images().numpy(), images / 255.0, rtol=1e-6)
    assert ds.y.tolist() == labels.tolist()


def test_load_fake_mnist_from_images_file_finds_labels_beside(tmp_path):
    images_path, _, labels = _write_mnist(tmp_path, split="train", gz=False, rows=4, cols=3)
    ds = load_mnist(images_path)
    assert ds.y.tolist() == labels.tolist()
    assert ds.image_shape == (4, 3)


def test_load_mnist_images_file_without_labels(tmp_path):
    images_path, _, _ = _write_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    ds = load_mnist(images_path)
    assert ds.y is None and ds.n_samples == 5


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (
            {"cut": 10},
            ValueError,
            r"images file '.*t10k-images-idx3-ubyte.gz' is truncated: its header gives shape \(5, 28, 28\), "
            r"so expected 3920 payload bytes; got 3910",
        ),
        ({"magic": 2049}, ValueError, r"images file '.*' must start with the IDX magic number 2051; got 2049"),
        (
            {"n_labels": 4},
            ValueError,
            r"labels file '.*t10k-labels-idx1-ubyte.gz' must hold one label per image of '.*' \(5 images\); got 4 labels",
        ),
    ],
    ids=["truncated", "wrong-magic", "count-mismatch"],
)
def test_bad_idx_files(tmp_path, kwargs, error, match):
    _write_mnist(tmp_path, **kwargs)
    with pytest.raises(error, match=match):
        load_mnist(tmp_path)


def test_corrupt_gzip_names_the_file(tmp_path):
    path, _, _ = _write_mnist(tmp_path)
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(
        ValueError, match=r"'.*t10k-images-idx3-ubyte.gz' looks gzip-compressed but could not be decompressed"
    ):
        load_mnist(path)


def test_labels_file_given_as_images_is_a_magic_error(tmp_path):
    _write_mnist(tmp_path, gz=False)
    with pytest.raises(ValueError, match=r"must start with the IDX magic number 2051; got 2049"):
        load_mnist(tmp_path / "t10k-labels-idx1-ubyte")


@pytest.mark.parametrize(
    "make_path, error, match",
    [
        (
            lambda p: p / "nope.gz",
            FileNotFoundError,
            r"'path' argument must name an existing file; got '.*nope.gz' \(no such file\)",
        ),
        (
            lambda p: p,
            FileNotFoundError,
            r"'path' argument must be a folder holding 't10k-images-idx3-ubyte' or 't10k-images-idx3-ubyte.gz'",
        ),
        (lambda p: 12, TypeError, r"'path' argument must be a path \(str or pathlib.Path\); got int"),
    ],
    ids=["missing-file", "empty-folder", "not-a-path"],
)
def test_bad_mnist_paths(tmp_path, make_path, error, match):
    with pytest.raises(error, match=match):
        load_mnist(make_path(tmp_path))


def test_bad_mnist_split(tmp_path):
    with pytest.raises(ValueError, match=r"'split' argument must be one of 't10k', 'train'. Got 'test' instead"):
        load_mnist(tmp_path, split="test")


def test_real_mnist_t10k(shared_data):
    ds = load_mnist(shared_data / "mnist")
    assert (ds.n_samples, ds.n_features) == (10_000, 784)
    assert ds.image_shape == (28, 28) and ds.x.dtype == torch.float32
    assert float(ds.x.min()) == 0.0 and float(ds.x.max()) == 1.0
    assert abs(float(ds.x.mean()) * 255 - 33.79) < 0.01  # mean grey level from the data README
    assert ds.y.bincount().tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_real_mnist_train_images_are_absent(shared_data):
    with pytest.raises(FileNotFoundError, match=r"'train-images-idx3-ubyte' or 'train-images-idx3-ubyte.gz'"):
        load_mnist(shared_data / "mnist", split="train")


# -------------------------------------------------------------------- Frey


def test_fake_frey(tmp_path):
    ff = np.arange(560 * 3).reshape(560, 3) % 256
    scipy.io.savemat(tmp_path / "frey_rawface.mat", {"ff": ff.astype(np.uint8)})
    ds = load_frey(tmp_path)  # a folder works too
    assert ds.x.shape == (3, 560) and ds.image_shape == (28, 20) and ds.name == "frey"
    np.testing.assert_allclose(ds.x[1].numpy(), ff[:, 1] / 255.0, rtol=1e-6)


@pytest.mark.parametrize(
    "contents, match",
    [
        (
            {"faces": np.zeros((560, 2), np.uint8)},
            r"must hold a variable 'ff' \(the Frey faces\); got variables \['faces'\]",
        ),
        (
            {"ff": np.zeros((100, 2), np.uint8)},
            r"variable 'ff' in '.*' must have shape \(560, n_faces\).*got shape \(100, 2\)",
        ),
        ({"ff": np.full((560, 2), 300.0)}, r"must hold grey levels in \[0, 255\]; got values in \[300.0, 300.0\]"),
        ({"ff": np.full((560, 2), np.nan)}, r"data in '.*' are not usable.*found NaN at row 0, column 0"),
    ],
    ids=["missing-variable", "wrong-size", "out-of-range", "nan"],
)
def test_bad_frey(tmp_path, contents, match):
    path = tmp_path / "faces.mat"
    scipy.io.savemat(path, contents)
    with pytest.raises(ValueError, match=match):
        load_frey(path)


def test_frey_not_a_mat_file(tmp_path):
    path = tmp_path / "frey_rawface.mat"
    path.write_text("hello")
    with pytest.raises(ValueError, match=r"must be a MATLAB .mat file; it could not be read"):
        load_frey(path)


def test_real_frey(shared_data):
    ds = load_frey(shared_data / "frey" / "frey_rawface.mat")
    assert (ds.n_samples, ds.n_features) == (1965, 560)
    assert ds.images().shape == (1965, 28, 20)
    assert ds.y is None
    torch.testing.assert_close(ds.x.min(), torch.tensor(8 / 255))
    torch.testing.assert_close(ds.x.max(), torch.tensor(238 / 255))


# --------------------------------------------------------------- CSV / NPY


def test_csv_with_and_without_header(tmp_path):
    (tmp_path / "a.csv").write_text("f1, f2,f3\n1,2,3\n4.5,-6,1e-3\n\n")
    (tmp_path / "b.csv").write_text("1,2\n3,4\n")
    a = load_array(tmp_path / "a.csv")
    torch.testing.assert_close(a.x, torch.tensor([[1.0, 2.0, 3.0], [4.5, -6.0, 1e-3]]))
    assert a.name == "a" and a.y is None
    assert load_array(str(tmp_path / "b.csv")).x.shape == (2, 2)


def test_npy(tmp_path):
    np.save(tmp_path / "m.npy", np.arange(6, dtype=np.int32).reshape(3, 2))
    ds = load_array(tmp_path / "m.npy")
    assert ds.x.dtype == torch.get_default_dtype()
    torch.testing.assert_close(ds.x, torch.arange(6.0).reshape(3, 2))


def _csv(text):
    def write(path):
        path.with_suffix(".csv").write_text(text)
        return path.with_suffix(".csv")

    return write


def _npy(array):
    def write(path):
        np.save(path.with_suffix(".npy"), array)
        return path.with_suffix(".npy")

    return write


@pytest.mark.parametrize(
    "write, error, match",
    [
        (
            _csv("a,b\n1,2\n3,x\n"),
            ValueError,
            r"must hold only numbers after an optional header row; got 'x' at line 3, column 2 \(both counted from 1\)",
        ),
        (_csv("1,2\n3,\n"), ValueError, r"got '' at line 2, column 2"),
        (_csv("1,2\n3,4,5\n"), ValueError, r"same number of columns on every row: expected 2; got 3 at line 2"),
        (
            _csv("1,2\n3,nan\n"),
            ValueError,
            r"data in '.*f.csv' are not usable \(rows and columns count from 0\).*found NaN at row 1, column 1",
        ),
        (_csv("1,inf\n3,4\n"), ValueError, r"found an infinite value at row 0, column 1"),
        (_csv("a,b\n"), ValueError, r"must hold at least one row of numbers; got none"),
        (_csv(""), ValueError, r"must hold at least one row of numbers; got none"),
        (
            _npy(np.arange(4.0)),
            ValueError,
            r"must hold a 2-D array.*got a 1-D array of shape \(4,\). Reshape it to \(n, 1\)",
        ),
        (_npy(np.zeros((2, 2, 2))), ValueError, r"must hold a 2-D array.*got shape \(2, 2, 2\)"),
        (_npy(np.zeros((0, 3))), ValueError, r"must hold a non-empty array; got shape \(0, 3\)"),
        (_npy(np.array([["a"]])), ValueError, r"must hold a numeric array; got dtype <U1"),
        (_npy(np.array([[1.0, np.nan]])), ValueError, r"found NaN at row 0, column 1"),
        (
            lambda p: p / "missing.csv",
            FileNotFoundError,
            r"'path' argument must name an existing file; got '.*missing.csv' \(no such file\)",
        ),
        (
            lambda p: (p.parent / "t.txt").write_text("1") and p.parent / "t.txt",
            ValueError,
            r"'path' argument must end in one of .csv, .npy; got '.*t.txt'",
        ),
    ],
    ids=[
        "non-numeric",
        "empty-cell",
        "ragged",
        "nan",
        "inf",
        "header-only",
        "empty-file",
        "npy-1d",
        "npy-3d",
        "npy-empty",
        "npy-strings",
        "npy-nan",
        "missing",
        "bad-extension",
    ],
)
def test_bad_arrays(tmp_path, write, error, match):
    path = write(tmp_path / "f")
    with pytest.raises(error, match=match):
        load_array(path)


# -------------------------------------------------------------------- spec


def test_load_dataset_dispatches(tmp_path):
    assert load_dataset("digits").name == "digits"
    np.save(tmp_path / "m.npy", np.ones((2, 3)))
    (tmp_path / "m.csv").write_text("1,2\n")
    assert load_dataset(f"npy:{tmp_path / 'm.npy'}").x.shape == (2, 3)
    assert load_dataset(f"csv:{tmp_path / 'm.csv'}").x.shape == (1, 2)
    _write_mnist(tmp_path, n=2)
    assert load_dataset(f"mnist:{tmp_path}").n_samples == 2


@pytest.mark.parametrize(
    "spec, match",
    [
        ("cifar:/x", r"got 'cifar:/x' \(unknown scheme 'cifar'\)"),
        ("mnist", r"got 'mnist' \(no PATH after 'mnist:'\)"),
        ("frey:", r"got 'frey:' \(no PATH after 'frey:'\)"),
        ("digits:/x", r"got 'digits:/x' \('digits' takes no PATH\)"),
        ("", r"got '' \(unknown scheme ''\)"),
    ],
)
def test_bad_spec(spec, match):
    accepted = r"The 'data' argument must be one of digits, mnist:PATH, frey:PATH, csv:PATH, npy:PATH, npz:PATH, nasbench201:PATH; "
    with pytest.raises(ValueError, match=accepted + match):
        load_dataset(spec)


def test_spec_scheme_and_suffix_must_agree():
    with pytest.raises(
        ValueError, match=r"'data' argument with scheme 'csv:' must name a .csv file; got 'csv:/x/data.npy'"
    ):
        load_dataset("csv:/x/data.npy")


def test_spec_forms_are_listed():
    assert DATA_SPECS == ("digits", "mnist:PATH", "frey:PATH", "csv:PATH", "npy:PATH", "npz:PATH", "nasbench201:PATH")
    with pytest.raises(TypeError, match=r"'data' argument must be a string"):
        load_dataset(None)


def test_spec_missing_file():
    with pytest.raises(FileNotFoundError, match=r"'/no/such/f.csv' \(no such file\)"):
        load_dataset("csv:/no/such/f.csv")


# ---------------------------------------------------------------- binarize


def test_binarize_stochastic_is_seeded_and_unbiased():
    ds = Dataset(torch.full((4000, 5), 0.3), y=torch.zeros(4000, dtype=torch.long), name="p", image_shape=(5, 1))
    a, b, c = binarize(ds, seed=1), binarize(ds, seed=1), binarize(ds, seed=2)
    assert set(a.x.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(a.x, b.x) and not torch.equal(a.x, c.x)
    assert abs(float(a.x.mean()) - 0.3) < 0.02  # 20,000 draws: standard error 0.0032
    assert a.name == "p" and a.image_shape == (5, 1) and a.y is ds.y


def test_binarize_without_seed_follows_the_global_generator():
    ds = Dataset(torch.full((10, 10), 0.5))
    torch.manual_seed(7)
    first = binarize(ds).x
    torch.manual_seed(7)
    assert torch.equal(binarize(ds).x, first)


def test_binarize_threshold():
    ds = Dataset(torch.tensor([[0.0, 0.5, 0.51, 1.0]]))
    assert binarize(ds, threshold=0.5, seed=3).x.tolist() == [[0.0, 0.0, 1.0, 1.0]]


@pytest.mark.parametrize(
    "x, kwargs, error, match",
    [
        (
            torch.tensor([[0.0, 1.5]]),
            {},
            ValueError,
            r"'dataset' argument must have x in \[0, 1\] to be binarised; got values in \[0, 1.5\]",
        ),
        (torch.tensor([[-0.1, 0.5]]), {"seed": 0}, ValueError, r"got values in \[-0.1, 0.5\]"),
        (
            torch.tensor([[0.2]]),
            {"threshold": 2.0},
            ValueError,
            r"'threshold' argument must be a number in \[0, 1\]. Got 2.0",
        ),
        (torch.tensor([[0.2]]), {"seed": -1}, ValueError, r"'seed' argument must be an integer >= 0 or None. Got -1"),
    ],
    ids=["above-one", "negative", "bad-threshold", "bad-seed"],
)
def test_bad_binarize(x, kwargs, error, match):
    with pytest.raises(error, match=match):
        binarize(Dataset(x), **kwargs)


def test_binarize_needs_a_dataset():
    with pytest.raises(TypeError, match=r"'dataset' argument must be a Dataset; got Tensor"):
        binarize(torch.zeros(2, 2))
