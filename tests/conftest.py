"""Shared test set-up: every test is seeded and runs with Pyro's validation on."""

from pathlib import Path

import pyro
import pytest
import torch

# The models under test are small: one thread avoids oversubscribing the two
# cores of the CI machine (two threads made small fits several times slower).
torch.set_num_threads(1)

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _seed_and_validate():
    # a test that calls a Pyro guide by hand outside a module-local context (as
    # Pyro's own tests do) fills the global parameter store: start each test empty
    pyro.clear_param_store()
    pyro.set_rng_seed(0)
    pyro.enable_validation(True)
    yield
    pyro.enable_validation(True)


@pytest.fixture
def shared_data() -> Path:
    """The read-only real data beside the repository; skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent (it lives in ../shared/data beside the repo)")
    return SHARED_DATA
