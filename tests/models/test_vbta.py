"""VBTA: the fitted objective is the lecture's sum of two ELBOs, term by term; negatives;
weights applied once; translations; pairs checks."""

import math

import numpy as np
import pyro
import pytest
import torch
from pyro import poutine
from scipy import integrate, stats

from pyrolatent.data.pairs import check_pairs, load_pairs
from pyrolatent.inference import fit
from pyrolatent.models import VBTA

N_A, N_B, D_A, D_B, K = 7, 6, 5, 4, 2
PAIRS = torch.tensor([[0, 2], [3, 0], [6, 5]])
NEGATIVES = torch.tensor([[1, 2], [2, 0], [0, 1]])  # (negative pair of view 0, of view 1) per pair


def _data():
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(N_A, D_A, generator=g) < 0.5).double()
    y = (torch.rand(N_B, D_B, generator=g) < 0.5).double()
    return {"x": x, "y": y, "pairs": PAIRS, "negatives": NEGATIVES}


def _model(**kwargs):
    return VBTA(D_A, D_B, K, hidden=(3,), **kwargs).double()


def _js(m1, s1, m2, s2) -> float:
    """Jensen-Shannon divergence of two 1-D normals by adaptive quadrature (scipy)."""
    p, q = stats.norm(m1, s1), stats.norm(m2, s2)

    def f(t):
        a, b = p.pdf(t), q.pdf(t)
        m = 0.5 * (a + b)
        return 0.5 * ((a * np.log(a / m) if a > 0 else 0.0) + (b * np.log(b / m) if b > 0 else 0.0))

    lo = min(m1 - 12 * s1, m2 - 12 * s2)
    hi = max(m1 + 12 * s1, m2 + 12 * s2)
    return integrate.quad(f, lo, hi, points=[m1, m2], limit=200, epsabs=1e-12)[0]


def _D(model, u, domain_u, v, domain_v) -> float:
    enc = {"a": model.encoder, "b": model.encoder_b}
    with torch.no_grad():
        (lu, su), (lv, sv) = enc[domain_u](u), enc[domain_v](v)
    return sum(_js(float(lu[h]), float(su[h]), float(lv[h]), float(sv[h])) for h in range(K))


def _lecture_terms(model, data, guide_trace) -> dict:
    """Every term of the objective, computed from the guide's draws with torch.distributions."""
    x, y, pairs, neg = data["x"], data["y"], data["pairs"], data["negatives"]
    normal = torch.distributions.Normal
    prior = normal(torch.zeros(K, dtype=torch.float64), 1.0)

    def log_lik(domain, rows, z):
        decoder = model.decoder if domain == "a" else model.decoder_b
        return torch.distributions.Bernoulli(logits=decoder(z)).log_prob(rows).sum(-1)

    def log_q(domain, rows, z):
        encoder = model.encoder if domain == "a" else model.encoder_b
        loc, scale = encoder(rows)
        return normal(loc, scale).log_prob(z).sum(-1)

    terms = {"unpaired": 0.0}
    for domain, rows, site, paired_rows in (("a", x, "z_x", pairs[:, 0]), ("b", y, "z_y", pairs[:, 1])):
        z = guide_trace.nodes[site]["value"]
        keep = torch.ones(rows.shape[0], dtype=torch.bool)
        keep[paired_rows] = False
        elbo_rows = prior.log_prob(z).sum(-1) - log_q(domain, rows, z) + log_lik(domain, rows, z)
        terms["unpaired"] += float(elbo_rows[keep].sum())
    z = guide_trace.nodes["z"]["value"]  # (2 views, P, K)
    zx, zy = z[0], z[1]
    xp, yp = x[pairs[:, 0]], y[pairs[:, 1]]
    terms["penalty"] = float(
        (prior.log_prob(zx).sum(-1) - log_q("a", xp, zx) + prior.log_prob(zy).sum(-1) - log_q("b", yp, zy)).sum()
    )
    terms["reconstruction"] = float((log_lik("a", xp, zx) + log_lik("b", yp, zy)).sum())
    terms["cycle"] = float((log_lik("b", yp, zx) + log_lik("a", xp, zy)).sum())
    s = float(model.triplet_scale)
    triplet = 0.0
    for p in range(pairs.shape[0]):
        xa, yb = x[pairs[p, 0]], y[pairs[p, 1]]
        y_neg, x_neg = y[pairs[neg[p, 0], 1]], x[pairs[neg[p, 1], 0]]
        d_pos = _D(model, xa, "a", yb, "b")
        logit_x = s * (_D(model, xa, "a", y_neg, "b") - d_pos)
        logit_y = s * (_D(model, yb, "b", x_neg, "a") - d_pos)
        triplet += -math.log1p(math.exp(-logit_x)) - math.log1p(math.exp(-logit_y))
    terms["triplet"] = triplet
    return terms


@pytest.mark.parametrize(
    "triplet_weight, cycle_weight, pair_weight, pair_scale",
    # "balanced": (7 + 6 - 2 * 3 unpaired objects) / (2 * 3 paired objects) = 7 / 6
    [
        (1.0, 1.0, 1.0, 1.0),
        (3.0, 0.5, 1.0, 1.0),
        (0.0, 0.0, 1.0, 1.0),
        (2.0, 1.0, 4.0, 4.0),
        (1.0, 1.0, "balanced", 7 / 6),
    ],
)
def test_objective_is_the_lecture_sum_of_two_elbos(triplet_weight, cycle_weight, pair_weight, pair_scale):
    pyro.set_rng_seed(0)
    model = _model(triplet_weight=triplet_weight, cycle_weight=cycle_weight, pair_weight=pair_weight)
    guide = model.default_guide()
    data = _data()
    with torch.no_grad():
        pyro.set_rng_seed(5)
        loss = float(pyro.infer.Trace_ELBO().differentiable_loss(model, guide, **data))
        pyro.set_rng_seed(5)  # Trace_ELBO runs the guide first: replay the same draws
        guide_trace = poutine.trace(guide).get_trace(**data)
        terms = _lecture_terms(model, data, guide_trace)
    by_hand = terms["unpaired"] + pair_scale * (
        terms["penalty"] + terms["reconstruction"] + cycle_weight * terms["cycle"] + triplet_weight * terms["triplet"]
    )
    # the JS quadratures agree to ~1e-7 per dimension; the ELBO is tens of nats
    assert -loss == pytest.approx(by_hand, abs=1e-5)
    assert abs(terms["triplet"]) > 0.5 and abs(terms["cycle"]) > 1.0  # the terms tested are not negligible


def test_triplet_weight_multiplies_the_log_likelihood_once():
    data = _data()
    losses = {}
    for w in (0.0, 1.0, 4.0):
        pyro.set_rng_seed(0)
        model = _model(triplet_weight=w)
        with torch.no_grad():
            pyro.set_rng_seed(5)
            losses[w] = float(pyro.infer.Trace_ELBO().differentiable_loss(model, model.default_guide(), **data))
    one = losses[0.0] - losses[1.0]  # loss = -ELBO: this is the triplet log-likelihood, times 1
    assert one < -0.1
    assert losses[0.0] - losses[4.0] == pytest.approx(4.0 * one, rel=1e-9)  # 4x, not 16x


def test_random_negatives_are_never_the_positive_and_cover_the_other_pairs():
    model = _model()
    P = 6
    pairs = torch.stack([torch.arange(P), torch.arange(P)], 1)
    j = torch.arange(P)
    seen = torch.zeros(P, P, dtype=torch.long)
    for _ in range(300):
        neg = model._negatives(None, None, None, pairs, j, None, None)
        assert neg.shape == (P, 2)
        assert not bool((neg == j[:, None]).any())
        for view in range(2):
            seen[j, neg[:, view]] += 1
    off_diagonal = seen[~torch.eye(P, dtype=torch.bool)]
    # 600 draws per anchor over 5 others: 120 expected each; 60 is > 7 sd below
    assert bool((off_diagonal > 60).all()) and int(seen.diagonal().sum()) == 0


def test_hard_negatives_are_the_nearest_other_pair():
    pyro.set_rng_seed(0)
    model = _model(negatives="hard")
    data = _data()
    x, y, pairs = data["x"], data["y"], data["pairs"]
    j = torch.arange(3)
    xp, yp = x[pairs[:, 0]], y[pairs[:, 1]]
    with torch.no_grad():
        neg = model._negatives(None, x, y, pairs, j, xp, yp)
    for p in range(3):
        others = [q for q in range(3) if q != p]
        d_b = [_D(model, xp[p], "a", yp[q], "b") for q in others]
        d_a = [_D(model, yp[p], "b", xp[q], "a") for q in others]
        assert int(neg[p, 0]) == others[int(np.argmin(d_b))]
        assert int(neg[p, 1]) == others[int(np.argmin(d_a))]


@pytest.mark.parametrize("source, d_in, d_out", [("a", D_A, D_B), ("b", D_B, D_A)])
def test_translations_keep_shapes_dtypes_and_devices(source, d_in, d_out):
    model = _model()
    rows = torch.rand(9, d_in, dtype=torch.float64).round()
    out = model.translate(rows, source=source)
    assert out.shape == (9, d_out) and out.dtype == torch.float64 and out.device == rows.device
    assert bool(((out >= 0) & (out <= 1)).all())  # Bernoulli means
    codes = model.encode(rows, domain=source)
    assert codes.shape == (9, K)
    x, y = model.sample_joint(4)
    assert x.shape == (4, D_A) and y.shape == (4, D_B)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_translations_follow_the_model_onto_the_gpu():  # pragma: no cover - GPU only
    model = _model().to("cuda")
    out = model.translate(torch.rand(3, D_A, dtype=torch.float64).round(), source="a")
    assert out.device.type == "cuda" and out.shape == (3, D_B)


@pytest.mark.parametrize(
    "pairs, match",
    [
        ([[0, 1], [7, 2]], r"rows of domain A in \[0, 7\); row 1 is \[7, 2\]"),
        ([[0, 1], [2, -1]], r"rows of domain B in \[0, 6\); row 1 is \[2, -1\]"),
        ([[0, 1], [2, 3], [0, 1]], r"row 2 \[0, 1\] duplicates row 0"),
        ([[0, 1], [2, 3], [4, 3]], r"row 2 \[4, 3\] reuses the domain-B object of row 1"),
        ([[0, 1, 2]], r"2 columns"),
    ],
)
def test_bad_pairs_are_refused_naming_the_row(pairs, match):
    with pytest.raises(ValueError, match=match):
        check_pairs(torch.tensor(pairs), N_A, N_B)
    data = {**_data(), "pairs": torch.tensor(pairs)}
    data.pop("negatives")
    with pytest.raises(ValueError, match=match):
        fit(_model(), data, num_steps=1)


def test_a_bad_pairs_file_is_refused_naming_the_row(tmp_path):
    good = tmp_path / "good.csv"
    good.write_text("a,b\n0,1\n2,3\n")
    assert load_pairs(good, N_A, N_B).tolist() == [[0, 1], [2, 3]]
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n0,1\n2,3\n5,9\n")
    with pytest.raises(ValueError, match=r"bad.csv.*row 2 is \[5, 9\]"):
        load_pairs(bad, N_A, N_B)
    dup = tmp_path / "dup.npy"
    np.save(dup, np.array([[0, 1], [2, 3], [2, 4]]))
    with pytest.raises(ValueError, match=r"row 2 \[2, 4\] reuses the domain-A object of row 1"):
        load_pairs(dup, N_A, N_B)


def test_given_negatives_are_checked():
    data = {**_data(), "negatives": torch.tensor([[1, 2], [1, 1], [0, 1]])}
    with pytest.raises(ValueError, match=r"'negatives' argument of VBTA must name another pair.*row 1 is \[1, 1\]"):
        fit(_model(), data, num_steps=1)


def test_one_domain_alone_is_that_domains_vae_and_no_data_draws_both():
    model = _model()
    data = _data()
    trace = poutine.trace(model).get_trace(x=data["x"])
    sites = {name for name, site in trace.nodes.items() if site["type"] == "sample"}
    assert {"z_x", "x"} <= sites and not sites & {"y", "z_y", "z", "t_x"}
    prior = poutine.trace(model).get_trace(n_samples=3)
    assert prior.nodes["x"]["value"].shape == (3, D_A) and prior.nodes["y"]["value"].shape == (3, D_B)


@pytest.mark.parametrize("value", [0.0, -1.0, float("nan"), "heavy"])
def test_a_bad_pair_weight_is_refused_by_name(value):
    with pytest.raises(ValueError, match=r"'pair_weight' argument of VBTA must be"):
        _model(pair_weight=value)


def test_sampled_distance_draws_each_object_once_in_both_of_its_pairs():
    # with distance="sq_euclidean" the anchor of each view enters its positive and its negative
    # pair with the same code: one draw per object, in the order xp, yp, x_neg, y_neg
    model = _model(distance="sq_euclidean", scale=2.0, learn_scale=False)
    g = torch.Generator().manual_seed(1)
    xp, x_neg = (
        torch.rand(4, D_A, generator=g, dtype=torch.float64),
        torch.rand(4, D_A, generator=g, dtype=torch.float64),
    )
    yp, y_neg = (
        torch.rand(4, D_B, generator=g, dtype=torch.float64),
        torch.rand(4, D_B, generator=g, dtype=torch.float64),
    )
    with torch.no_grad():
        torch.manual_seed(3)
        logits = model.triplet_logits(xp, yp, x_neg, y_neg)
        torch.manual_seed(3)
        a, b, xn, yn = (
            loc + scale * torch.randn_like(loc)
            for loc, scale in (model.encoder(xp), model.encoder_b(yp), model.encoder(x_neg), model.encoder_b(y_neg))
        )
    d_pos = ((a - b) ** 2).sum(-1)
    expected = 2.0 * torch.stack([((a - yn) ** 2).sum(-1) - d_pos, ((b - xn) ** 2).sum(-1) - d_pos])
    torch.testing.assert_close(logits, expected)
