"""Low-level file readers for the loaders: IDX (MNIST), CSV and NPY.

Each reader returns a NumPy array and raises an error that names the file,
what was expected and what was found.
"""

from __future__ import annotations

import csv
import gzip
import math
import zlib
from pathlib import Path

import numpy as np

_GZIP_MAGIC = b"\x1f\x8b"

# IDX type codes (third byte of the magic number) -> big-endian NumPy dtypes.
_IDX_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

IDX_IMAGES_MAGIC = 2051  # unsigned bytes, 3 dimensions
IDX_LABELS_MAGIC = 2049  # unsigned bytes, 1 dimension


def existing_file(path, argument: str = "path") -> Path:
    """Return ``path`` as a :class:`Path` if it names an existing file."""
    if not isinstance(path, (str, Path)):
        raise TypeError(f"The {argument!r} argument must be a path (str or pathlib.Path); got {type(path).__name__}.")
    p = Path(path).expanduser()
    if not p.exists():
        raise FileNotFoundError(f"The {argument!r} argument must name an existing file; got '{path}' (no such file).")
    if not p.is_file():
        raise FileNotFoundError(
            f"The {argument!r} argument must name an existing file; got '{path}' (not a regular file)."
        )
    return p


def read_bytes(path: Path) -> bytes:
    """Read ``path``, decompressing it when it is gzipped (detected by its magic bytes)."""
    raw = path.read_bytes()
    if raw[:2] != _GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as exc:
        raise ValueError(
            f"The file '{path}' looks gzip-compressed but could not be decompressed (truncated or corrupt): {exc}"
        ) from exc


def read_idx(path: Path, magic: int, what: str) -> np.ndarray:
    """Parse an IDX file whose magic number must equal ``magic``.

    The IDX header is a 4-byte big-endian magic number (two zero bytes, a type
    code, the number of dimensions) followed by one 4-byte big-endian size per
    dimension; the payload follows in row-major order.
    """
    data = read_bytes(path)
    if len(data) < 4:
        raise ValueError(
            f"The {what} file '{path}' is too short to be an IDX file: expected at least a 4-byte "
            f"header; got {len(data)} bytes."
        )
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        raise ValueError(
            f"The {what} file '{path}' must start with the IDX magic number {magic}; got {found}. "
            f"Is it the right file (images 2051, labels 2049)?"
        )
    dtype = _IDX_DTYPES[data[2]]
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(
            f"The {what} file '{path}' is truncated: expected a {header}-byte header; got {len(data)} bytes."
        )
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = math.prod(shape) * dtype.itemsize
    got = len(data) - header
    if got != expected:
        problem = "truncated" if got < expected else "longer than its header says"
        raise ValueError(
            f"The {what} file '{path}' is {problem}: its header gives shape {shape}, so expected "
            f"{expected} payload bytes; got {got}."
        )
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def read_csv(path: Path) -> np.ndarray:
    """Read a numeric, comma-separated file; a first row of non-numeric names is skipped."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            lines = [(i + 1, row) for i, row in enumerate(csv.reader(handle)) if any(c.strip() for c in row)]
    except UnicodeDecodeError as exc:
        raw = path.read_bytes()
        line = raw[: exc.start].count(b"\n") + 1
        raise ValueError(
            f"The file '{path}' must be UTF-8 text; byte 0x{raw[exc.start]:02x} at line {line} is not UTF-8 "
            "(is it saved as Latin-1 or a spreadsheet's own format?). Save it as UTF-8 CSV."
        ) from None
    if lines and not any(_is_number(c.strip()) for c in lines[0][1]):
        lines = lines[1:]  # a header of column names
    if not lines:
        raise ValueError(f"The file '{path}' must hold at least one row of numbers; got none.")
    n_columns = len(lines[0][1])
    values = np.empty((len(lines), n_columns), dtype=np.float64)
    for r, (line, row) in enumerate(lines):
        if len(row) != n_columns:
            raise ValueError(
                f"The file '{path}' must have the same number of columns on every row: expected "
                f"{n_columns}; got {len(row)} at line {line}."
            )
        for c, cell in enumerate(row):
            try:
                values[r, c] = float(cell.strip())
            except ValueError:
                raise ValueError(
                    f"The file '{path}' must hold only numbers after an optional header row; got "
                    f"{cell!r} at line {line}, column {c + 1} (both counted from 1)."
                ) from None
    return values


_NPY_MAGIC = b"\x93NUMPY"


def read_npy(path: Path) -> np.ndarray:
    """Read a 2-D numeric ``.npy`` array (never pickles, and never suggests loading one).

    A file without the ``.npy`` magic bytes is refused before NumPy sees it, so
    that a text table or archive named ``.npy`` gets a message about what it is
    rather than NumPy's advice to load it as a pickle.
    """
    with open(path, "rb") as handle:
        head = handle.read(len(_NPY_MAGIC))
    if head != _NPY_MAGIC:
        kind = (
            "a zip archive (.npz?)"
            if head.startswith(b"PK")
            else ("text" if head and all(32 <= b < 127 or b in b"\t\r\n" for b in head) else "something else")
        )
        raise ValueError(
            f"The file '{path}' is not a NumPy .npy file (it lacks the .npy header; it looks like {kind}). "
            "Write it with numpy.save, or read a text table with csv:PATH."
        )
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, EOFError, OSError) as exc:
        reason = str(exc)
        if "pickle" in reason or "Object arrays" in reason:
            reason = "it holds Python objects (dtype object), which pyrolatent never loads"
        raise ValueError(
            f"The file '{path}' must hold a plain numeric NumPy array; it could not be read: {reason}."
        ) from None
    if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "biuf":
        kind = getattr(arr, "dtype", type(arr).__name__)
        raise ValueError(f"The file '{path}' must hold a numeric array; got dtype {kind}.")
    if arr.ndim == 1:
        raise ValueError(
            f"The file '{path}' must hold a 2-D array (rows = observations); got a 1-D array of "
            f"shape {arr.shape}. Reshape it to (n, 1) for one feature or (1, n) for one observation."
        )
    if arr.ndim != 2:
        raise ValueError(
            f"The file '{path}' must hold a 2-D array (rows = observations); got shape {arr.shape}. "
            f"Flatten each observation, e.g. arr.reshape(len(arr), -1)."
        )
    if arr.size == 0:
        raise ValueError(f"The file '{path}' must hold a non-empty array; got shape {arr.shape}.")
    return arr
