r"""Relative similarity judgements ("triplets") as data.

A triplet :math:`(i, j, l)` says that an oracle judged object :math:`i` (the
anchor) more similar to :math:`j` (the positive) than to :math:`l` (the
negative): :math:`t_{ijl} = 1` in the Bernoulli triplet model of Karaletsos,
Belongie and Rätsch (ICLR 2016). Triplets come from

- labels (:func:`triplets_from_labels`): :math:`i, j` share a label, :math:`l` does not;
- a continuous attribute (:func:`triplets_from_attribute`): of two other
  objects, the one whose value is closer to the anchor's is the positive;
- a user's file (:func:`load_triplets`): ``csv`` or ``npy`` with the columns
  anchor, positive, negative and an optional oracle id.

Held-out evaluation splits the **objects** (:func:`split_objects`, seeded, the
same permutation as :meth:`Dataset.split`): training triplets use only
training objects and test triplets only test objects; triplets of a file that
mix the two are dropped and counted (:meth:`Triplets.restrict`).
:func:`make_triplet_split` does all of it from the command line's
``--triplets`` specification.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from pyrolatent._validation import check_choice, check_positive_int, check_tensor
from pyrolatent.data import _readers
from pyrolatent.data.dataset import Dataset

__all__ = [
    "ATTRIBUTES",
    "TRIPLET_SPECS",
    "TripletSplit",
    "Triplets",
    "image_attribute",
    "load_triplets",
    "make_triplet_split",
    "split_objects",
    "triplets_from_attribute",
    "triplets_from_labels",
]

#: The accepted forms of a triplet specification (the CLI's ``--triplets``); join several with ``+``
#: to get one oracle per part.
TRIPLET_SPECS = ("labels:N", "attribute:NAME:N", "csv:PATH", "npy:PATH")
#: Attributes computed from image pixels, by name (see :func:`image_attribute`).
ATTRIBUTES = ("ink", "slant")
COLUMNS = "anchor, positive, negative[, oracle]"


def _check_index(name: str, index, n_objects: int, what: str = "") -> torch.Tensor:
    """Check a (T, 3) integer array of object ids; errors name the first bad row."""
    if isinstance(index, np.ndarray) and index.dtype.kind == "f":
        rows = np.nonzero((index != np.round(index)).any(axis=1) | ~np.isfinite(index).all(axis=1))[0]
        if rows.size:
            r = int(rows[0])
            raise ValueError(
                f"The {name!r} argument{what} must hold integer object ids ({COLUMNS}); "
                f"row {r} (counting from 0) is {index[r].tolist()}."
            )
        index = index.astype(np.int64)
    index = check_tensor(name, index, ndim=2, dtype="int", allow_empty=True)
    if index.shape[1] != 3:
        raise ValueError(
            f"The {name!r} argument{what} must have 3 columns (anchor, positive, negative); "
            f"got shape {tuple(index.shape)}."
        )
    index = index.to(torch.long)
    bad = ((index < 0) | (index >= n_objects)).any(1)
    if bool(bad.any()):
        r = int(bad.nonzero()[0])
        raise ValueError(
            f"The {name!r} argument{what} must hold object ids in [0, {n_objects}); "
            f"row {r} (counting from 0) is {index[r].tolist()}."
        )
    same = (index[:, 0] == index[:, 1]) | (index[:, 0] == index[:, 2]) | (index[:, 1] == index[:, 2])
    if bool(same.any()):
        r = int(same.nonzero()[0])
        raise ValueError(
            f"The {name!r} argument{what} must compare three different objects; "
            f"row {r} (counting from 0) is {index[r].tolist()}, which repeats an object."
        )
    return index


@dataclass(frozen=True, eq=False, repr=False)
class Triplets:
    """Triplets ``(anchor, positive, negative)`` over ``n_objects`` objects.

    Parameters
    ----------
    index : array-like of int, shape (T, 3)
        Object ids (rows of the data) of anchor, positive and negative.
    n_objects : int
        Number of objects the ids refer to.
    oracle : array-like of int, shape (T,), optional
        Which oracle answered each triplet (0, 1, ...); None for one oracle.
    """

    index: torch.Tensor
    n_objects: int
    oracle: torch.Tensor | None = None

    def __post_init__(self):
        n = check_positive_int("n_objects", self.n_objects)
        object.__setattr__(self, "n_objects", n)
        object.__setattr__(self, "index", _check_index("index", self.index, n))
        if self.oracle is not None:
            oracle = check_tensor("oracle", self.oracle, ndim=1, dtype="int", allow_empty=True).to(torch.long)
            if oracle.shape[0] != self.index.shape[0]:
                raise ValueError(
                    f"The 'oracle' argument must hold one id per triplet ({self.index.shape[0]}); "
                    f"got {oracle.shape[0]}."
                )
            if oracle.numel() and int(oracle.min()) < 0:
                r = int((oracle < 0).nonzero()[0])
                raise ValueError(f"The 'oracle' argument must hold ids >= 0; row {r} is {int(oracle[r])}.")
            object.__setattr__(self, "oracle", oracle)

    def __len__(self) -> int:
        return int(self.index.shape[0])

    def __repr__(self) -> str:
        return f"Triplets(n_triplets={len(self)}, n_objects={self.n_objects}, n_oracles={self.n_oracles})"

    @property
    def n_oracles(self) -> int:
        """Number of oracles (largest id + 1; 1 without ids)."""
        if self.oracle is None or self.oracle.numel() == 0:
            return 1
        return int(self.oracle.max()) + 1

    def inputs(self) -> dict:
        """The model's keyword arguments: ``{"triplets": index}`` and ``"oracle"`` when there are ids."""
        out = {"triplets": self.index}
        if self.oracle is not None:
            out["oracle"] = self.oracle
        return out

    def restrict(self, objects) -> tuple[Triplets, int]:
        """Keep the triplets whose three objects all lie in ``objects`` (global ids),
        renumbered to positions in ``objects``; return them and the number dropped."""
        objects = check_tensor("objects", objects, ndim=1, dtype="int").to(torch.long)
        position = torch.full((self.n_objects,), -1, dtype=torch.long)
        position[objects] = torch.arange(objects.numel())
        local = position[self.index]
        keep = (local >= 0).all(1)
        oracle = None if self.oracle is None else self.oracle[keep]
        return Triplets(local[keep], objects.numel(), oracle), int((~keep).sum())

    @staticmethod
    def concat(parts: list[Triplets]) -> Triplets:
        """One set with oracle id k for the k-th part (each part must have one oracle)."""
        if len({p.n_objects for p in parts}) != 1:
            raise ValueError("The triplet sets to join must refer to the same objects.")
        index = torch.cat([p.index for p in parts])
        oracle = torch.cat([torch.full((len(p),), k, dtype=torch.long) for k, p in enumerate(parts)])
        return Triplets(index, parts[0].n_objects, oracle)


def split_objects(n_objects: int, test_fraction: float = 0.1, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``(train_ids, test_ids)``: a seeded split of the objects, the same permutation as
    ``Dataset.split(test_fraction, seed)`` (so ``data.subset(train_ids)`` is its training part)."""
    n = check_positive_int("n_objects", n_objects, minimum=2)
    seed = check_positive_int("seed", seed, minimum=0)
    if not (isinstance(test_fraction, numbers.Real) and 0.0 < test_fraction < 1.0):
        raise ValueError(
            f"The 'test_fraction' argument must be a number strictly between 0 and 1; got {test_fraction!r}."
        )
    n_test = round(n * float(test_fraction))
    if n_test < 1 or n_test > n - 1:
        raise ValueError(
            f"The 'test_fraction' argument must leave at least one object on each side; "
            f"got {test_fraction!r} for {n} objects."
        )
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return perm[n_test:], perm[:n_test]


def triplets_from_labels(labels, n_triplets: int, *, seed: int = 0) -> Triplets:
    """``n_triplets`` random triplets over objects with ``labels`` (n,): the anchor is drawn
    uniformly among objects whose label has another member, the positive uniformly
    among the other members of its label, the negative uniformly among objects of
    other labels."""
    y = check_tensor("labels", labels, ndim=1, dtype="int").cpu().numpy()
    T = check_positive_int("n_triplets", n_triplets)
    rng = np.random.default_rng(check_positive_int("seed", seed, minimum=0))
    classes, counts = np.unique(y, return_counts=True)
    if classes.size < 2 or counts.max() < 2:
        raise ValueError(
            "The 'labels' argument must have at least two labels and one label shared by two "
            f"objects to make triplets; got {classes.size} label(s), largest count {counts.max()}."
        )
    members = {c: np.nonzero(y == c)[0] for c in classes}
    eligible = np.nonzero(np.isin(y, classes[counts >= 2]))[0]
    anchor = rng.choice(eligible, size=T)
    positive = np.empty(T, dtype=np.int64)
    negative = np.empty(T, dtype=np.int64)
    for c in classes:
        rows = np.nonzero(y[anchor] == c)[0]
        if rows.size == 0:
            continue
        same, other = members[c], np.nonzero(y != c)[0]
        # a uniform draw among the other members: draw among count - 1 and skip the anchor
        pos_in_class = np.searchsorted(same, anchor[rows])
        draw = rng.integers(0, same.size - 1, size=rows.size)
        positive[rows] = same[draw + (draw >= pos_in_class)]
        negative[rows] = other[rng.integers(0, other.size, size=rows.size)]
    return Triplets(torch.from_numpy(np.stack([anchor, positive, negative], 1)), y.size)


def triplets_from_attribute(values, n_triplets: int, *, seed: int = 0) -> Triplets:
    """``n_triplets`` random triplets judged by a continuous attribute ``values`` (n,):
    three different objects are drawn uniformly, the first is the anchor and, of
    the other two, the one whose value is closer to the anchor's is the positive
    (draws with a tie are redrawn)."""
    v = check_tensor("values", values, ndim=1).double().cpu().numpy()
    T = check_positive_int("n_triplets", n_triplets)
    if v.size < 3 or np.unique(v).size < 3:
        raise ValueError(f"The 'values' argument must hold at least three different values; got {np.unique(v).size}.")
    rng = np.random.default_rng(check_positive_int("seed", seed, minimum=0))
    rows = []
    while sum(len(r) for r in rows) < T:
        draw = np.stack([rng.choice(v.size, size=3, replace=False) for _ in range(T)])
        gap_b, gap_c = np.abs(v[draw[:, 1]] - v[draw[:, 0]]), np.abs(v[draw[:, 2]] - v[draw[:, 0]])
        keep = gap_b != gap_c
        swap = gap_c < gap_b
        draw[swap, 1], draw[swap, 2] = draw[swap, 2], draw[swap, 1].copy()
        rows.append(draw[keep])
    return Triplets(torch.from_numpy(np.concatenate(rows)[:T]), v.size)


def image_attribute(data: Dataset, name: str) -> torch.Tensor:
    """A continuous attribute of each image (n,), computed from the pixels.

    ``"ink"``: the mean pixel value (ink mass). ``"slant"``: the shear
    :math:`\\mu_{11} / \\mu_{02}` of the image's second central moments, with
    pixel values as mass (column offset per row step; positive leans right, as
    handwriting slants). Needs ``data.image_shape``.
    """
    name = check_choice("attribute", name, ATTRIBUTES)
    x = data.x.double()
    if name == "ink":
        return x.mean(1)
    if data.image_shape is None or len(data.image_shape) != 2:
        raise ValueError(
            f"The 'slant' attribute needs images (data.image_shape of length 2); "
            f"got image_shape={data.image_shape!r} for {data.name!r}."
        )
    h, w = data.image_shape
    img = x.reshape(-1, h, w)
    mass = img.sum((1, 2)).clamp_min(1e-12)
    rows = -torch.arange(h, dtype=x.dtype).view(1, h, 1)  # upwards
    cols = torch.arange(w, dtype=x.dtype).view(1, 1, w)
    r0 = (img * rows).sum((1, 2)) / mass
    c0 = (img * cols).sum((1, 2)) / mass
    dr, dc = rows - r0.view(-1, 1, 1), cols - c0.view(-1, 1, 1)
    mu11 = (img * dr * dc).sum((1, 2)) / mass
    mu02 = (img * dr * dr).sum((1, 2)) / mass
    return mu11 / mu02.clamp_min(1e-12)


def load_triplets(path, n_objects: int) -> Triplets:
    """Read triplets from a ``.csv`` or ``.npy`` file over ``n_objects`` objects.

    The file holds one triplet per row, with the columns anchor, positive,
    negative (object ids: rows of the data, counting from 0) and an optional
    fourth column, the oracle id. A CSV file may start with a row of column
    names. Bad files (wrong column count, non-integers, ids out of range, an
    object compared with itself) are refused with an error that names the row.
    """
    file = _readers.existing_file(path, "triplets")
    n = check_positive_int("n_objects", n_objects)
    suffix = file.suffix.lower()
    if suffix not in (".csv", ".npy"):
        raise ValueError(f"The 'triplets' file must end in .csv or .npy; got '{path}'.")
    arr = _readers.read_csv(file) if suffix == ".csv" else _readers.read_npy(file)
    what = f" (file '{file}')"
    if arr.shape[1] not in (3, 4):
        raise ValueError(f"The 'triplets' file '{file}' must have 3 or 4 columns ({COLUMNS}); got {arr.shape[1]}.")
    if arr.dtype.kind == "b":
        raise ValueError(f"The 'triplets' file '{file}' must hold integer object ids; got booleans.")
    index = _check_index("triplets", arr[:, :3], n, what)
    oracle = None
    if arr.shape[1] == 4:
        col = arr[:, 3]
        bad = np.nonzero((col != np.round(col)) | (col < 0))[0]
        if bad.size:
            r = int(bad[0])
            raise ValueError(
                f"The 'triplets' file '{file}' must hold oracle ids that are integers >= 0 in its "
                f"fourth column; row {r} (counting from 0) has {col[r]!r}."
            )
        oracle = torch.from_numpy(col.astype(np.int64))
    return Triplets(index, n, oracle)


@dataclass(frozen=True, eq=False)
class TripletSplit:
    """Objects split into training and test parts, and the triplets of each part
    (renumbered to rows of ``train`` and ``test``)."""

    train: Dataset
    test: Dataset
    train_triplets: Triplets
    test_triplets: Triplets
    train_objects: torch.Tensor
    test_objects: torch.Tensor
    n_dropped: int = 0
    spec: str = ""

    def summary(self) -> dict:
        return {
            "n_train_triplets": len(self.train_triplets),
            "n_test_triplets": len(self.test_triplets),
            "n_dropped_triplets": self.n_dropped,
            "n_oracles": self.train_triplets.n_oracles,
        }


def _count(text: str, spec: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"The 'triplets' argument must give a positive number of triplets; got {spec!r}.")
    return value


def _generated(part: str, train: Dataset, test: Dataset, n_test: int, seed: int, k: int):
    scheme, _, rest = part.partition(":")
    if scheme == "labels":
        n = _count(rest, part)
        if train.y is None:
            raise ValueError(f"The 'triplets' argument {part!r} needs labelled data; the data have no labels.")
        return (
            triplets_from_labels(train.y, n, seed=seed + 2 * k),
            triplets_from_labels(test.y, n_test, seed=seed + 2 * k + 1),
        )
    name, _, count = rest.partition(":")
    n = _count(count, part)
    return (
        triplets_from_attribute(image_attribute(train, name), n, seed=seed + 2 * k),
        triplets_from_attribute(image_attribute(test, name), n_test, seed=seed + 2 * k + 1),
    )


def make_triplet_split(
    data: Dataset, spec: str, *, test_fraction: float = 0.1, seed: int = 0, n_test_triplets: int = 10_000
) -> TripletSplit:
    """Split the objects of ``data`` (seeded) and make the triplets of each part.

    Parameters
    ----------
    data : Dataset
    spec : str
        ``labels:N`` (N training triplets from the labels), ``attribute:NAME:N``
        (from an attribute of :data:`ATTRIBUTES`), ``csv:PATH`` or ``npy:PATH``
        (a file over all objects of ``data``; triplets mixing training and test
        objects are dropped and counted). Join several with ``+`` to get one
        oracle per part, e.g. ``labels:1000+attribute:ink:1000``.
    test_fraction, seed
        The object split (:func:`split_objects`); generated triplets are seeded too.
    n_test_triplets : int
        Number of test triplets made by ``labels:`` and ``attribute:`` parts.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"The 'triplets' argument must be one of {' | '.join(TRIPLET_SPECS)}; got {spec!r}.")
    n_test = check_positive_int("n_test_triplets", n_test_triplets)
    train_ids, test_ids = split_objects(data.n_samples, test_fraction, seed)
    train, test = data.subset(train_ids), data.subset(test_ids)
    parts = [p.strip() for p in spec.split("+")]
    trains, tests, dropped = [], [], 0
    for k, part in enumerate(parts):
        scheme, _, target = part.partition(":")
        if scheme in ("labels", "attribute"):
            tr, te = _generated(part, train, test, n_test, seed, k)
        elif scheme in ("csv", "npy"):
            if Path(target).suffix.lower() != f".{scheme}":
                raise ValueError(
                    f"The 'triplets' argument with scheme '{scheme}:' must name a .{scheme} file; got {part!r}."
                )
            full = load_triplets(target, data.n_samples)
            if len(parts) > 1 and full.oracle is not None:
                raise ValueError(f"The 'triplets' file {target!r} has oracle ids: give it alone, not joined by '+'.")
            tr, _ = full.restrict(train_ids)
            te, _ = full.restrict(test_ids)
            dropped += len(full) - len(tr) - len(te)  # the triplets that mix training and test objects
        else:
            raise ValueError(
                f"The 'triplets' argument must be one of {' | '.join(TRIPLET_SPECS)} "
                f"(several joined by '+'); got {part!r}."
            )
        trains.append(tr)
        tests.append(te)
    if len(parts) > 1:
        trains, tests = [Triplets.concat(trains)], [Triplets.concat(tests)]
    if len(trains[0]) == 0:
        raise ValueError(f"The 'triplets' argument {spec!r} leaves no training triplet after the object split.")
    return TripletSplit(train, test, trains[0], tests[0], train_ids, test_ids, dropped, spec)
