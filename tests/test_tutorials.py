"""The tutorial notebooks: each runs top to bottom in smoke mode (``PYROLATENT_SMOKE=1``:
same code, tiny sizes) with nbclient, and the committed copies are executed,
error-free and small enough to read on GitHub."""

import os
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="the tutorial tests need the test extras (nbformat, nbclient)")
nbclient = pytest.importorskip("nbclient", reason="the tutorial tests need the test extras (nbformat, nbclient)")

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = sorted((ROOT / "tutorials").glob("*.ipynb"))
SMOKE_BUDGET_S = 60  # each notebook, kernel start included
MAX_BYTES = 2_000_000

# jupyter_client and zmq may warn about their own internals; not ours to fix here
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::RuntimeWarning")


def test_there_are_tutorials_and_each_is_listed_in_the_readme():
    assert len(TUTORIALS) >= 4
    readme = (ROOT / "tutorials" / "README.md").read_text()
    for path in TUTORIALS:
        assert path.name in readme, f"{path.name} has no line in tutorials/README.md"


@pytest.mark.parametrize("path", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_committed_notebook_is_executed_without_errors(path):
    assert path.stat().st_size < MAX_BYTES, f"{path.name} is {path.stat().st_size / 1e6:.1f} MB"
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.execution_count is not None for c in code), f"{path.name} was saved unexecuted"
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors, f"{path.name} holds an error output: {errors[0].ename}: {errors[0].evalue}"
    counts = [c.execution_count for c in code]
    assert counts == list(range(1, len(code) + 1)), f"{path.name} was not run top to bottom in one kernel"


def _uses_only_public_names(source: str) -> bool:
    import re

    return not re.search(
        r"(?:from\s+pyrolatent\S*\s+import\s+[^\n]*\b_\w+)|(?:pyrolatent(?:\.\w+)*\._\w+)|(?:\.\s*_[a-z]\w*)", source
    )


@pytest.mark.parametrize("path", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_notebook_uses_only_the_public_api(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert _uses_only_public_names(cell.source), f"{path.name} uses a private name:\n{cell.source}"


@pytest.mark.parametrize("path", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_notebook_runs_in_smoke_mode(path, monkeypatch):
    monkeypatch.setenv("PYROLATENT_SMOKE", "1")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=SMOKE_BUDGET_S, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError on the first failing cell
    elapsed = time.perf_counter() - start
    assert elapsed < SMOKE_BUDGET_S, f"{path.name} took {elapsed:.0f} s in smoke mode"
