"""Fixtures of the report tests: a small fitted BPCA on digits, a model without hooks, headless Chromium."""

import subprocess
from pathlib import Path

import pytest
import torch
from report_models import PlainMean, plain_guide

from pyrolatent.data import load_digits
from pyrolatent.inference import FitResult, FitSettings, fit
from pyrolatent.models import BayesianPCA

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def digits_fits():
    """Two short fits of BPCA (K = 4) on 200 digits: enough for every figure, not for science."""
    data = load_digits().subset(slice(0, 200))
    fits = [fit(BayesianPCA(64, 4), data, num_steps=150, lr=0.05, seed=s) for s in (0, 1)]
    return data, fits


@pytest.fixture
def plain_result():
    x = torch.randn(30, generator=torch.Generator().manual_seed(0)) + 0.5
    return FitResult(
        model=PlainMean(),
        guide=plain_guide,
        losses=torch.linspace(60.0, 45.0, 10),
        num_steps=10,
        wall_time=0.01,
        steps_per_second=1000.0,
        device=torch.device("cpu"),
        settings=FitSettings(num_steps=10),
        data={"x": x},
    )


@pytest.fixture
def chromium(tmp_path):
    """Run headless Chromium with the given extra arguments; returns (stdout, stderr)."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent (install the Debian package 'chromium'; .ci/run does)")

    def run(*args: str, timeout: float = 90) -> tuple[str, str]:
        profile = tmp_path / f"chromium-profile-{len(list(tmp_path.iterdir()))}"
        cmd = [str(CHROMIUM), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise AssertionError(f"chromium exited {done.returncode}: {done.stderr[-2000:]}")
        return done.stdout, done.stderr

    return run
