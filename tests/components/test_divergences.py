"""Distances between per-dimension normal posteriors, checked against
high-resolution numerical integrals (scipy.integrate.quad) and the measured
reference values of ``reference/papers.md``."""

import itertools
import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from pyrolatent.components.divergences import (
    DISTANCES,
    SAMPLED_DISTANCES,
    UPPER_BOUNDS,
    draw_codes,
    get_distance,
    js_divergence,
    moment_matched_js,
    sampled_sq_euclidean,
    symmetric_kl,
)

# (mean_a, sd_a, mean_b, sd_b): nearly equal, close, 10 sd apart, scale ratios 10 and 100, both at once
PAIRS = [
    (0.0, 1.0, 1e-3, 1.0),
    (0.0, 1.0, 1e-4, 1.001),
    (0.0, 1.0, 1.0, 1.0),
    (0.0, 1.0, 3.0, 1.0),
    (0.0, 1.0, 10.0, 1.0),
    (2.0, 0.5, -3.0, 0.5),
    (0.0, 0.1, 0.0, 1.0),
    (0.0, 1.0, 0.0, 3.0),
    (0.0, 1.0, 0.0, 100.0),
    (0.0, 0.01, 0.0, 1.0),
    (0.0, 1.0, 0.5, 0.01),
    (2.0, 0.01, -1.0, 1.0),
    (0.0, 0.1, 1.0, 10.0),
    (0.0, 1.0, 10.0, 0.01),
]


def _integral(f, a, b):
    """High-resolution integral of ``f`` over both normals' +-30 sd ranges, split at their means and +-sd."""
    ma, sa, mb, sb = a + b
    lo, hi = min(ma - 30 * sa, mb - 30 * sb), max(ma + 30 * sa, mb + 30 * sb)
    points = sorted({m + k * s for m, s in ((ma, sa), (mb, sb)) for k in (-3, -1, 0, 1, 3)})
    return integrate.quad(f, lo, hi, points=points, limit=2000, epsabs=1e-13, epsrel=1e-12)[0]


def _xlogy_ratio(p, q):
    return p * (math.log(p) - math.log(q)) if p > 0 else 0.0


def reference_js(ma, sa, mb, sb):
    def f(x):
        p, q = stats.norm.pdf(x, ma, sa), stats.norm.pdf(x, mb, sb)
        m = 0.5 * (p + q)
        return 0.5 * (_xlogy_ratio(p, m) + _xlogy_ratio(q, m)) if m > 0 else 0.0

    return _integral(f, (ma, sa), (mb, sb))


def reference_symmetric_kl(ma, sa, mb, sb):
    def f(x):  # 0.5 p log(p/q) + 0.5 q log(q/p), with log densities to avoid underflow
        lp, lq = stats.norm.logpdf(x, ma, sa), stats.norm.logpdf(x, mb, sb)
        return 0.5 * (math.exp(lp) - math.exp(lq)) * (lp - lq)

    return _integral(f, (ma, sa), (mb, sb))


def reference_moment_matched(ma, sa, mb, sb):
    mm = 0.5 * (ma + mb)
    sm = math.sqrt(0.5 * (sa**2 + sb**2) + 0.25 * (ma - mb) ** 2)

    def f(x):
        lm = stats.norm.logpdf(x, mm, sm)
        lp, lq = stats.norm.logpdf(x, ma, sa), stats.norm.logpdf(x, mb, sb)
        return 0.5 * (math.exp(lp) * (lp - lm) + math.exp(lq) * (lq - lm))

    return _integral(f, (ma, sa), (mb, sb))


def _t(values, dtype=torch.float64):
    return [torch.tensor(float(v), dtype=dtype) for v in values]


@pytest.mark.parametrize("pair", PAIRS, ids=str)
def test_js_matches_the_numerical_integral(pair):
    expected = reference_js(*pair)
    assert float(js_divergence(*_t(pair))) == pytest.approx(expected, abs=1e-4)
    # single precision too (what models train in)
    assert float(js_divergence(*_t(pair, torch.float32))) == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize("pair", PAIRS, ids=str)
def test_symmetric_kl_matches_the_numerical_integral(pair):
    expected = reference_symmetric_kl(*pair)
    assert float(symmetric_kl(*_t(pair))) == pytest.approx(expected, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("pair", PAIRS, ids=str)
def test_moment_matched_matches_the_numerical_integral_and_bounds_js(pair):
    expected = reference_moment_matched(*pair)
    value = float(moment_matched_js(*_t(pair)))
    assert value == pytest.approx(expected, rel=1e-6, abs=1e-9)
    assert value >= reference_js(*pair) - 1e-9  # the moment-matched normal has maximal entropy


# papers.md: measured reference values (mean, sd) pairs -> JS, symmetrised KL, moment-matched
REFERENCE_VALUES = [
    ((0, 1, 1, 1), 0.1114, 0.5, 0.1116),
    ((0, 1, 3, 1), 0.5268, 4.5, 0.589),
    ((0, 1, 10, 1), 0.6931, 50.0, 1.63),
    ((0, 0.1, 0, 1), 0.4333, 24.5, 0.810),
    ((0, 1, 0, 3), 0.1865, 1.78, 0.255),
]


@pytest.mark.parametrize(("pair", "js", "skl", "mm"), REFERENCE_VALUES, ids=[str(r[0]) for r in REFERENCE_VALUES])
def test_reference_values_of_papers_md(pair, js, skl, mm):
    assert float(js_divergence(*_t(pair))) == pytest.approx(js, abs=1e-4)
    assert float(symmetric_kl(*_t(pair))) == pytest.approx(skl, abs=5e-3)
    assert float(moment_matched_js(*_t(pair))) == pytest.approx(mm, abs=5e-3)


def test_js_stays_within_zero_and_ln2_on_extreme_pairs():
    torch.manual_seed(0)
    locs = torch.tensor([-1e3, -30.0, -1.0, 0.0, 1e-6, 2.0, 40.0, 1e3])
    scales = torch.tensor([1e-3, 0.01, 0.5, 1.0, 7.0, 100.0, 1e3])
    grid = torch.tensor(list(itertools.product(locs.tolist(), scales.tolist(), locs.tolist(), scales.tolist())))
    value = js_divergence(grid[:, 0], grid[:, 1], grid[:, 2], grid[:, 3])
    assert torch.isfinite(value).all()
    # ln 2 rounded to the working precision (float32's ln 2 lies 2e-9 above the real one)
    assert float(value.max()) <= float(torch.tensor(math.log(2.0))) and float(value.min()) >= 0.0
    same = (grid[:, 0] == grid[:, 2]) & (grid[:, 1] == grid[:, 3])
    assert float(value[same].max()) < 1e-6


@pytest.mark.parametrize("pair", [(0.0, 1.0, 1.0, 1.0), (0.0, 0.1, 0.3, 1.0), (1.0, 2.0, -2.0, 0.5)], ids=str)
def test_js_gradients_match_finite_differences_of_the_integral(pair):
    params = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in pair]
    js_divergence(*params).backward()
    for k in range(4):
        h = 1e-4
        up, down = list(pair), list(pair)
        up[k] += h
        down[k] -= h
        numeric = (reference_js(*up) - reference_js(*down)) / (2 * h)
        assert float(params[k].grad) == pytest.approx(numeric, abs=1e-5), k


def test_sampled_sq_euclidean_has_the_expected_mean_and_reparameterised_gradients():
    torch.manual_seed(1)
    ma, sa, mb, sb = 0.5, 0.3, -1.0, 2.0
    n = 200_000
    loc_a = torch.full((n,), ma, requires_grad=True)
    value = sampled_sq_euclidean(loc_a, torch.full((n,), sa), torch.full((n,), mb), torch.full((n,), sb))
    # E (z_a - z_b)^2 by a numerical integral over u = z_a - z_b ~ N(ma - mb, sa^2 + sb^2)
    s = math.hypot(sa, sb)
    expected = integrate.quad(lambda u: u * u * stats.norm.pdf(u, ma - mb, s), ma - mb - 40 * s, ma - mb + 40 * s)[0]
    se = float(value.detach().std()) / math.sqrt(n)
    assert float(value.detach().mean()) == pytest.approx(expected, abs=4 * se)
    value.mean().backward()  # d/d(ma) E = 2 (ma - mb) = 3
    assert float(loc_a.grad.sum()) == pytest.approx(2 * (ma - mb), abs=0.05)


def test_distances_broadcast_and_are_found_by_name():
    loc_a, scale_a = torch.randn(5, 1, 3), torch.rand(5, 1, 3) + 0.1
    loc_b, scale_b = torch.randn(4, 3), torch.rand(4, 3) + 0.1
    for name in DISTANCES:
        d = get_distance(name)
        assert d(loc_a, scale_a, loc_b, scale_b).shape == (5, 4, 3)
    assert UPPER_BOUNDS["js"] == pytest.approx(np.log(2.0))


@pytest.mark.parametrize("bad", ["JS", "kl", None, 3])
def test_unknown_distance_is_refused(bad):
    with pytest.raises(ValueError, match="The 'distance' argument must be one of 'js', 'symmetric_kl'"):
        get_distance(bad)


def test_draw_codes_draws_sampled_distances_once_and_leaves_the_others():
    loc, scale = torch.tensor([[0.0, 1.0], [2.0, -1.0]]), torch.tensor([[1.0, 0.5], [0.1, 2.0]])
    for name in ("js", "symmetric_kl", "moment_matched"):
        assert draw_codes(name, loc, scale) == (loc, scale)
        assert get_distance(name, drawn=True) is get_distance(name)
    torch.manual_seed(0)
    z, s = draw_codes("sq_euclidean", loc, scale)
    torch.manual_seed(0)
    torch.testing.assert_close(z, loc + scale * torch.randn(2, 2))
    assert s is scale
    # on drawn codes the sampled distance compares them, with no second draw
    d = get_distance("sq_euclidean", drawn=True)
    torch.testing.assert_close(d(z[0], s[0], z[1], s[1]), (z[0] - z[1]) ** 2)
    assert SAMPLED_DISTANCES == {"sq_euclidean"}
