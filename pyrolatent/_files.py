"""Folders that readers see whole, run directories that replace only runs, one writer at a time.

Run directories (``pyrolatent fit ... --out DIR``)
--------------------------------------------------
- ``DIR`` holds only complete runs. A run is written in ``DIR.partial`` (a
  stable name beside ``DIR``, so that a killed run can be resumed) and moved to
  ``DIR`` when it is complete.
- Each run directory carries a marker file, :data:`RUN_MARKER`, a small JSON
  file with the run's ``id``, its ``state`` (``"incomplete"`` while it lives in
  ``DIR.partial``, ``"complete"`` just before it is moved into place) and the
  ``id`` of the run it ``replaces``. ``--out`` may replace only a folder with
  this marker (or a run directory of pyrolatent 0.1, which holds only run
  files), or an empty folder; anything else is refused before anything is
  touched (:func:`check_out`).
- One writer at a time: :func:`run_lock` takes an exclusive ``flock`` on
  ``.DIR.lock`` beside ``DIR``; a second writer is refused at once with the
  first one's process id. The lock file is removed when the lock is released
  (the lock is re-taken when the file was replaced meanwhile, so removing it is
  safe); a killed writer leaves the file but not the lock.

The guarantee of the swap (:func:`publish`)
-------------------------------------------
On Linux (``renameat2`` with ``RENAME_EXCHANGE``, which ext4, XFS, btrfs and
tmpfs support) an existing ``DIR`` is exchanged with the new run in one atomic
step: every lookup of the path ``DIR`` finds either the complete old run or
the complete new run, never nothing and never a mixture. (A reader that opens
several files of ``DIR`` one after the other can still get some from the old
run and some from the new one; the ``id`` in the marker file tells them apart.)
The old run is then renamed to a hidden ``.DIR.old-*`` folder and deleted.
Where the exchange is not available the old run is first renamed aside and the
new one renamed in: a reader can then find ``DIR`` missing for the moment
between two renames. A first run is always renamed into place atomically.

A crash during the swap is repaired by the next writer (:func:`recover`): if
the complete run in ``DIR.partial`` replaces the one in ``DIR``, the swap is
finished; if it is the run that ``DIR`` replaced, it is deleted.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import json
import os
import secrets
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

__all__ = [
    "RUN_MARKER",
    "RunDirError",
    "check_out",
    "exchange",
    "partial_path",
    "publish",
    "read_marker",
    "recover",
    "replacing_dir",
    "run_lock",
    "write_marker",
]

#: Marker file that makes a folder a pyrolatent run directory.
RUN_MARKER = ".pyrolatent-run"
#: What a run directory of pyrolatent 0.1 (written before the marker) could hold.
LEGACY_RUN_FILES = frozenset({"checkpoint.pt", "settings.json", "losses.csv", "summary.json", "run.json", "report"})

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


class RunDirError(ValueError):
    """``--out`` or a run directory cannot be used as asked."""


def partial_path(out: str | os.PathLike) -> Path:
    """Where the run for ``out`` lives until it is complete: ``out.partial`` beside it."""
    out = Path(out)
    return out.with_name(out.name + ".partial")


def _lock_path(out: Path) -> Path:
    return out.with_name(f".{out.name}.lock")


# -- the marker ------------------------------------------------------------------
def read_marker(folder: str | os.PathLike) -> dict | None:
    """The marker of a run directory; ``{"state": "legacy"}`` for a run of
    pyrolatent 0.1; None when ``folder`` is not a run directory."""
    folder = Path(folder)
    marker = folder / RUN_MARKER
    if marker.is_file():
        try:
            content = json.loads(marker.read_text())
        except (OSError, ValueError):
            content = None
        return content if isinstance(content, dict) else {"state": "unknown"}
    try:
        names = {p.name for p in folder.iterdir()}
    except OSError:
        return None
    if "run.json" in names and names <= LEGACY_RUN_FILES:
        return {"state": "legacy"}
    return None


def write_marker(folder: Path, **content) -> dict:
    """Write (atomically) the marker file of ``folder``."""
    _write_atomic(folder / RUN_MARKER, json.dumps({"format": "pyrolatent-run", **content}, sort_keys=True) + "\n")
    return content


def new_run_id() -> str:
    return f"{time.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(4)}"


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "x") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# -- checks before anything is touched ------------------------------------------------
def check_out(out: str | os.PathLike, flag: str = "--out") -> Path:
    """Refuse an ``out`` that a run may not replace (``RunDirError``, one line).

    Refused: the current directory or a folder that contains it, an existing
    file (or other non-folder), a symbolic link, an existing folder that is
    neither a run directory nor empty, and the same for ``out.partial``.
    Nothing is created or changed.
    """
    out = Path(out)
    if out.name in ("", ".", ".."):
        raise RunDirError(
            f"The '{flag}' option must name a new folder or an earlier run directory; got {str(out)!r}, "
            "which is the current directory or one above it. Give a folder name such as runs/NAME."
        )
    here = Path.cwd().resolve()
    target = out.resolve()
    if target == here or target in here.parents:
        raise RunDirError(
            f"The '{flag}' option must not be the current directory or a folder that contains it; got "
            f"{str(out)!r}. Give a folder name such as runs/NAME."
        )
    for path, what in ((out, f"The '{flag}' option"), (partial_path(out), f"The in-progress folder of '{flag}'")):
        if path.is_symlink():
            raise RunDirError(
                f"{what} names {str(path)!r}, a symbolic link; pyrolatent replaces only run directories. "
                "Give the real path or another folder name."
            )
        if not path.exists():
            continue
        if not path.is_dir():
            raise RunDirError(
                f"{what} names {str(path)!r}, an existing file, not a run directory; it is left as it is. "
                "Choose another folder name."
            )
        if read_marker(path) is None and any(path.iterdir()):
            raise RunDirError(
                f"{what} names {str(path)!r}, an existing folder that is not a pyrolatent run directory "
                f"(it has no {RUN_MARKER} marker); it is left as it is. Choose another folder name, or "
                "empty or remove that folder yourself."
            )
    return out


# -- one writer at a time ----------------------------------------------------------------
@contextmanager
def run_lock(out: str | os.PathLike, flag: str = "--out"):
    """Hold an exclusive lock on the run directory ``out`` (``.out.lock`` beside
    it) for the block; refuse at once (``RunDirError``) when another process
    holds it. Creates the parent folders of ``out``."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    path = _lock_path(out)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            finally:
                os.close(fd)
            raise RunDirError(
                f"Another pyrolatent process (pid {holder}) is writing the run directory {str(out)!r} "
                f"(the '{flag}' given); wait for it to finish or choose another folder name."
            ) from None
        # The holder before us may have removed the file after we opened it:
        # then our lock is on a deleted file; take it again on the current one.
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield path
    finally:
        try:
            path.unlink(missing_ok=True)  # while still holding the lock (see above)
        finally:
            os.close(fd)


# -- swapping folders ------------------------------------------------------------------------
def exchange(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Exchange the two existing paths ``a`` and ``b`` atomically (Linux
    ``renameat2(RENAME_EXCHANGE)``). False, with nothing changed, where the
    system or file system does not offer it."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    renameat2.restype = ctypes.c_int
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM):
        return False
    raise OSError(err, f"cannot exchange {str(a)!r} and {str(b)!r}: {os.strerror(err)}")


def _remove_aside(folder: Path, final: Path) -> None:
    """Rename ``folder`` to a hidden name beside ``final`` and delete it."""
    aside = final.with_name(f".{final.name}.old-{secrets.token_hex(4)}")
    folder.rename(aside)
    shutil.rmtree(aside, ignore_errors=True)


def _swap_in(new: Path, final: Path) -> None:
    """Put the folder ``new`` at ``final``; an existing ``final`` is deleted
    afterwards. See the module notes for what readers can see."""
    if not final.exists() and not final.is_symlink():
        new.rename(final)  # atomic: a first run
        return
    if exchange(new, final):
        _remove_aside(new, final)  # ``new`` now names the old folder
        return
    aside = final.with_name(f".{final.name}.old-{secrets.token_hex(4)}")
    final.rename(aside)
    try:
        new.rename(final)
    except BaseException:
        aside.rename(final)
        raise
    shutil.rmtree(aside, ignore_errors=True)


def publish(partial: Path, final: Path, run_id: str) -> None:
    """Move the complete run in ``partial`` to ``final`` (under :func:`run_lock`).

    The marker of ``partial`` is first set to ``"complete"``, with the ``id``
    of the run it replaces, so that :func:`recover` can finish or undo a swap
    that a crash interrupted."""
    old = read_marker(final) if final.is_dir() else None
    write_marker(partial, id=run_id, state="complete", replaces=(old or {}).get("id"))
    _swap_in(partial, final)


def recover(final: Path) -> str | None:
    """Repair what a writer killed during :func:`publish` left (under
    :func:`run_lock`), and delete hidden ``.final.old-*`` folders that a killed
    writer did not finish deleting. Returns a sentence saying what was done, or
    None."""
    for stale in final.parent.glob(f".{final.name}.old-*"):
        if stale.is_dir() and not stale.is_symlink() and read_marker(stale) is not None:
            shutil.rmtree(stale, ignore_errors=True)
    partial = partial_path(final)
    mark = read_marker(partial) if partial.is_dir() and not partial.is_symlink() else None
    if mark is None or mark.get("state") != "complete":
        return None
    current = read_marker(final) if final.is_dir() else None
    if current is not None and current.get("replaces") is not None and current.get("replaces") == mark.get("id"):
        _remove_aside(partial, final)  # the run that ``final`` replaced, left by a crash after the swap
        return None
    if current is None or mark.get("replaces") == current.get("id"):
        _swap_in(partial, final)  # a complete run that a crash kept from being moved into place
        return f"moved the complete run left in {str(partial)!r} into {str(final)!r}"
    return None


@contextmanager
def replacing_dir(final: str | os.PathLike):
    """Yield an empty temporary folder beside ``final``; when the block ends
    without error, put it at ``final`` (replacing an older ``final``, atomically
    where :func:`exchange` is available). On error the temporary folder is
    removed and ``final`` is left as it was."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    try:
        tmp.chmod(0o777 & ~_umask())  # mkdtemp makes it private; results are meant to be read
        yield tmp
        _swap_in(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
