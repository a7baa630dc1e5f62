"""Writing a folder so that readers see the old one or the complete new one, never half."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

__all__ = ["replacing_dir"]


@contextmanager
def replacing_dir(final: str | os.PathLike):
    """Yield an empty temporary folder beside ``final``; when the block ends
    without error, rename it to ``final`` (replacing an older ``final``, which
    is put back if the rename fails). On error the temporary folder is removed
    and ``final`` is left as it was."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    try:
        tmp.chmod(0o755)  # mkdtemp makes it private; results are meant to be read
        yield tmp
        old = None
        if final.exists():
            old = final.with_name(f".{final.name}.old-{os.getpid()}-{time.time_ns()}")
            final.rename(old)
        try:
            tmp.rename(final)
        except BaseException:
            if old is not None:
                old.rename(final)
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
