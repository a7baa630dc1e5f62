"""Fixtures of the diagnostics tests; the models live in diag_models.py."""

import pytest
import torch
from diag_models import FixedGuide, NormalMean, closed_form, make_result


@pytest.fixture
def normal_data():
    generator = torch.Generator().manual_seed(0)
    return torch.randn(50, 2, generator=generator) + torch.tensor([1.0, -0.5])


@pytest.fixture
def exact_result(normal_data):
    loc, scale, _ = closed_form(normal_data)
    guide = FixedGuide(loc.float(), torch.full((2,), scale))
    return make_result(NormalMean(), guide, normal_data)


@pytest.fixture
def bad_result(normal_data):
    """A guide too narrow and off centre: its importance ratios have a heavy tail."""
    loc, scale, _ = closed_form(normal_data)
    guide = FixedGuide((loc + 2 * scale).float(), torch.full((2,), 0.3 * scale))
    return make_result(NormalMean(), guide, normal_data)
