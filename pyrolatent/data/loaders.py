"""Loaders for the bundled digits, MNIST (IDX), Frey faces (.mat), CSV and NPY files.

Every loader returns a :class:`~pyrolatent.data.Dataset` whose ``x`` has the
default float dtype; image data are scaled to [0, 1].
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from pyrolatent._validation import check_choice, check_positive_int, check_probability
from pyrolatent.data import _readers
from pyrolatent.data.dataset import Dataset
from pyrolatent.data.nasbench import load_nasbench201

__all__ = [
    "DATA_SPECS",
    "binarize",
    "load_array",
    "load_dataset",
    "load_digits",
    "load_frey",
    "load_mnist",
    "load_npz",
]

#: The accepted forms of a data specification string (the CLI's ``--data``).
DATA_SPECS = ("digits", "mnist:PATH", "frey:PATH", "csv:PATH", "npy:PATH", "npz:PATH", "nasbench201:PATH")

FREY_IMAGE_SHAPE = (28, 20)
MNIST_SPLITS = ("t10k", "train")
ARRAY_SUFFIXES = (".csv", ".npy")


def _make(path: Path, x: np.ndarray, **kwargs) -> Dataset:
    """Build a dataset from file contents, saying which file a value error comes from."""
    x = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64)).to(torch.get_default_dtype())
    try:
        return Dataset(x, **kwargs)
    except ValueError as exc:
        raise ValueError(f"The data in '{path}' are not usable (rows and columns count from 0): {exc}") from exc


def load_digits() -> Dataset:
    """Load scikit-learn's bundled handwritten digits (no download).

    Returns
    -------
    Dataset
        1,797 images of 8x8 pixels, ``x`` in [0, 1] (the 0-16 grey levels
        divided by 16), labels 0-9, ``image_shape=(8, 8)``, name ``"digits"``.
    """
    from sklearn.datasets import load_digits as _sk_load_digits

    bunch = _sk_load_digits()
    x = torch.as_tensor(bunch.data / 16.0, dtype=torch.get_default_dtype())
    y = torch.as_tensor(bunch.target, dtype=torch.long)
    return Dataset(x, y=y, name="digits", image_shape=(8, 8))


def _find(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _labels_beside(images: Path) -> Path | None:
    name = images.name[:-3] if images.name.endswith(".gz") else images.name
    stem = name.replace("images", "labels").replace("idx3", "idx1")
    if stem == name:
        return None
    return _find(images.parent, stem)


def load_mnist(path, split: str = "t10k") -> Dataset:
    """Load MNIST (or any MNIST-like set) from the original IDX files.

    Parameters
    ----------
    path : str or pathlib.Path
        Either a directory holding ``{split}-images-idx3-ubyte`` and
        ``{split}-labels-idx1-ubyte`` (each optionally ``.gz``), or the
        images file itself, in which case the labels file is looked up beside
        it by name (``images`` -> ``labels``, ``idx3`` -> ``idx1``). Without a
        labels file the dataset has no labels.
    split : {"t10k", "train"}
        Which files to read from a directory; ignored when ``path`` is a file.

    Returns
    -------
    Dataset
        ``x`` in [0, 1] (bytes divided by 255), shape ``(n, rows * cols)``;
        ``image_shape=(rows, cols)`` from the header, i.e. (28, 28) for MNIST;
        name ``"mnist"``.
    """
    if not isinstance(path, (str, Path)):
        raise TypeError(f"The 'path' argument must be a path (str or pathlib.Path); got {type(path).__name__}.")
    split = check_choice("split", split, MNIST_SPLITS)
    folder = Path(path).expanduser()
    if folder.is_dir():
        stem = f"{split}-images-idx3-ubyte"
        images_path = _find(folder, stem)
        if images_path is None:
            raise FileNotFoundError(
                f"The 'path' argument must be a folder holding '{stem}' or '{stem}.gz' "
                f"(split={split!r}); got '{path}', where neither exists."
            )
        labels_path = _find(folder, f"{split}-labels-idx1-ubyte")
    else:
        images_path = _readers.existing_file(path)
        labels_path = _labels_beside(images_path)

    images = _readers.read_idx(images_path, _readers.IDX_IMAGES_MAGIC, "images")
    y = None
    if labels_path is not None:
        labels = _readers.read_idx(labels_path, _readers.IDX_LABELS_MAGIC, "labels")
        if labels.shape[0] != images.shape[0]:
            raise ValueError(
                f"The labels file '{labels_path}' must hold one label per image of "
                f"'{images_path}' ({images.shape[0]} images); got {labels.shape[0]} labels."
            )
        y = torch.from_numpy(labels.astype(np.int64))
    n, rows, cols = images.shape
    x = images.reshape(n, rows * cols).astype(np.float32) / 255.0
    return _make(images_path, x, y=y, name="mnist", image_shape=(rows, cols))


def load_frey(path) -> Dataset:
    """Load the Frey faces from ``frey_rawface.mat``.

    Parameters
    ----------
    path : str or pathlib.Path
        The ``.mat`` file, or a folder holding ``frey_rawface.mat``. Its
        variable ``ff`` must have shape ``(560, n_faces)``: one column of
        28 x 20 grey levels (0-255, row-major) per face.

    Returns
    -------
    Dataset
        1,965 faces for the original file, ``x`` in [0, 1] (divided by 255),
        ``image_shape=(28, 20)``, name ``"frey"``, no labels.
    """
    import scipy.io

    if isinstance(path, (str, Path)) and Path(path).expanduser().is_dir():
        path = Path(path).expanduser() / "frey_rawface.mat"
    file = _readers.existing_file(path)
    try:
        contents = scipy.io.loadmat(file)
    except Exception as exc:  # scipy raises ValueError, TypeError, OSError, ...
        raise ValueError(f"The file '{file}' must be a MATLAB .mat file; it could not be read: {exc}") from exc
    variables = sorted(k for k in contents if not k.startswith("__"))
    if "ff" not in contents:
        raise ValueError(f"The file '{file}' must hold a variable 'ff' (the Frey faces); got variables {variables}.")
    ff = np.asarray(contents["ff"])
    n_pixels = FREY_IMAGE_SHAPE[0] * FREY_IMAGE_SHAPE[1]
    if ff.ndim != 2 or ff.shape[0] != n_pixels or ff.shape[1] == 0:
        raise ValueError(
            f"The variable 'ff' in '{file}' must have shape ({n_pixels}, n_faces) with n_faces >= 1 "
            f"(28 x 20 pixels per column); got shape {ff.shape}."
        )
    if ff.dtype.kind not in "iuf":
        raise ValueError(f"The variable 'ff' in '{file}' must be numeric (uint8 grey levels); got dtype {ff.dtype}.")
    x = ff.T.astype(np.float64) / 255.0
    finite = np.isfinite(x)
    if finite.all() and (x.min() < 0.0 or x.max() > 1.0):
        raise ValueError(
            f"The variable 'ff' in '{file}' must hold grey levels in [0, 255]; got values in [{ff.min()}, {ff.max()}]."
        )
    return _make(file, x, name="frey", image_shape=FREY_IMAGE_SHAPE)


def load_array(path) -> Dataset:
    """Load a numeric matrix from a ``.csv`` or ``.npy`` file.

    Parameters
    ----------
    path : str or pathlib.Path
        A ``.csv`` file (comma separated numbers; a first row of non-numeric
        column names is skipped) or a ``.npy`` file holding a 2-D numeric
        array. Rows are observations.

    Returns
    -------
    Dataset
        Named after the file's stem; no labels.
    """
    file = _readers.existing_file(path)
    suffix = file.suffix.lower()
    if suffix not in ARRAY_SUFFIXES:
        raise ValueError(f"The 'path' argument must end in one of {', '.join(ARRAY_SUFFIXES)}; got '{path}'.")
    x = _readers.read_csv(file) if suffix == ".csv" else _readers.read_npy(file)
    return _make(file, x, name=file.stem or "data")


def load_npz(path) -> Dataset:
    """Load labelled (or unlabelled) data of one's own from a ``.npz`` file.

    Parameters
    ----------
    path : str or pathlib.Path
        A file written by ``numpy.savez`` holding an array ``x`` (rows are
        observations: 2-D ``(n, D)``, or ``(n, *image_shape)`` images, which are
        flattened), optionally ``y`` (``n`` integer labels) and optionally
        ``image_shape`` (integers whose product is ``D``). Other arrays are
        ignored. Pickled objects are refused.

    Returns
    -------
    Dataset
        Named after the file's stem.
    """
    file = _readers.existing_file(path)
    try:
        archive = np.load(file, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise ValueError(f"The file '{file}' must be a NumPy .npz archive; it could not be read: {exc}") from exc
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"The file '{file}' must be a NumPy .npz archive (numpy.savez); got a single array.")
    with archive:
        names = sorted(archive.files)
        if "x" not in names:
            raise ValueError(f"The file '{file}' must hold an array named 'x'; got arrays {names}.")
        try:
            x, y, shape = (archive[k] if k in names else None for k in ("x", "y", "image_shape"))
        except ValueError as exc:
            raise ValueError(f"The file '{file}' must hold plain numeric arrays: {exc}") from exc
    if x.dtype.kind not in "biuf":
        raise ValueError(f"The array 'x' in '{file}' must be numeric; got dtype {x.dtype}.")
    if x.ndim < 2:
        raise ValueError(
            f"The array 'x' in '{file}' must have rows of observations (2-D or images); got shape {x.shape}."
        )
    if shape is not None:
        if shape.dtype.kind not in "iu" or shape.ndim != 1:
            raise ValueError(
                f"The array 'image_shape' in '{file}' must be a 1-D array of integers; "
                f"got {shape.tolist()!r} (dtype {shape.dtype})."
            )
        shape = tuple(int(s) for s in shape)
    elif x.ndim > 2:
        shape = tuple(int(s) for s in x.shape[1:])
    x = x.reshape(x.shape[0], -1)
    if y is not None:
        if y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
            y = y.astype(np.int64)
        if y.dtype.kind not in "iu":
            raise ValueError(f"The array 'y' in '{file}' must hold integer labels; got dtype {y.dtype}.")
        y = torch.from_numpy(y.astype(np.int64))
    return _make(file, x, y=y, name=file.stem or "data", image_shape=shape)


def load_dataset(spec: str) -> Dataset:
    """Load data named by a specification string, as the command line takes it.

    Parameters
    ----------
    spec : str
        One of ``digits``, ``mnist:PATH``, ``frey:PATH``, ``csv:PATH``,
        ``npy:PATH`` or ``npz:PATH`` (arrays ``x``, optional ``y`` and
        ``image_shape``; see :func:`load_npz`). ``mnist:PATH`` reads the ``t10k`` split from a folder,
        or the images file that PATH names. ``nasbench201:PATH`` gives the flattened arch2vec
        one-hot matrix of every NAS-Bench-201 cell (see
        :meth:`~pyrolatent.data.nasbench.NASBench201.to_dataset`).

    Examples
    --------
    >>> load_dataset("digits").n_samples
    1797
    """
    accepted = ", ".join(DATA_SPECS)
    must = f"The 'data' argument must be one of {accepted}"
    if not isinstance(spec, str):
        raise TypeError(f"The 'data' argument must be a string, one of {accepted}; got {type(spec).__name__}.")
    scheme, sep, target = spec.partition(":")
    scheme = scheme.strip().lower()
    target = target.strip()
    if scheme == "digits":
        if target:
            raise ValueError(f"{must}; got {spec!r} ('digits' takes no PATH).")
        return load_digits()
    loaders = {
        "mnist": load_mnist,
        "frey": load_frey,
        "csv": load_array,
        "npy": load_array,
        "npz": load_npz,
        "nasbench201": lambda target: load_nasbench201(target).to_dataset(),
    }
    if scheme not in loaders:
        raise ValueError(f"{must}; got {spec!r} (unknown scheme {scheme!r}).")
    if not target:
        raise ValueError(f"{must}; got {spec!r} (no PATH after '{scheme}:').")
    if scheme in ("csv", "npy", "npz") and Path(target).suffix.lower() != f".{scheme}":
        raise ValueError(f"The 'data' argument with scheme '{scheme}:' must name a .{scheme} file; got {spec!r}.")
    return loaders[scheme](target)


def binarize(dataset: Dataset, *, seed: int | None = None, threshold: float | None = None) -> Dataset:
    """Return a copy of ``dataset`` with ``x`` in {0., 1.}.

    Parameters
    ----------
    dataset : Dataset
        Its ``x`` must lie in [0, 1] (e.g. pixel intensities).
    seed : int, optional
        Without ``threshold``, each value is a Bernoulli(x) draw. An integer
        seeds a local ``torch.Generator`` (the same seed gives the same draws
        on every device); None draws from torch's global generator, so
        ``pyro.set_rng_seed`` makes it reproducible. Ignored with ``threshold``.
    threshold : float in [0, 1], optional
        Deterministic binarisation: ``x > threshold``.

    Returns
    -------
    Dataset
        Same labels, name, image shape and truth.
    """
    if not isinstance(dataset, Dataset):
        raise TypeError(f"The 'dataset' argument must be a Dataset; got {type(dataset).__name__}.")
    x = dataset.x
    low, high = float(x.min()), float(x.max())
    if low < 0.0 or high > 1.0:
        raise ValueError(
            f"The 'dataset' argument must have x in [0, 1] to be binarised; got values in [{low:g}, {high:g}]."
        )
    if threshold is not None:
        threshold = check_probability("threshold", threshold)
        binary = x > threshold
    else:
        if seed is None:
            uniform = torch.rand(x.shape, dtype=x.dtype)
        else:
            seed = check_positive_int("seed", seed, allow_none=True, minimum=0)
            generator = torch.Generator().manual_seed(seed)
            uniform = torch.rand(x.shape, generator=generator, dtype=x.dtype)
        binary = uniform.to(x.device) < x
    return dataclasses.replace(dataset, x=binary.to(x.dtype))
