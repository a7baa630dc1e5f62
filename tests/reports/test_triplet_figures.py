"""The TripletVAE's report figures are registered and drawn from a fitted model."""

import torch
from matplotlib.figure import Figure

from pyrolatent.data import binarize, load_digits
from pyrolatent.inference import fit
from pyrolatent.models import TripletVAE
from pyrolatent.reports.model_figures import figures_for
from pyrolatent.reports.triplet_figures import triplet_figures


def test_triplet_vae_gets_its_figures():
    data = binarize(load_digits(), seed=0).subset(torch.arange(120))
    masks = torch.tensor([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]])
    model = TripletVAE(64, 4, hidden=(16,), image_shape=(8, 8), n_oracles=2, masks=masks)
    triplets = torch.tensor([[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 10, 11]])
    result = fit(model, {"x": data.x, "triplets": triplets, "oracle": torch.tensor([0, 1, 0, 1])}, num_steps=3)
    assert figures_for(model) is triplet_figures
    figs = triplet_figures(result.model, result.guide, data)
    expected = {"triplet_latent_by_label", "triplet_accuracy", "oracle_masks", "triplet_neighbours"}
    assert expected <= figs.keys() and all(isinstance(figs[k], Figure) for k in expected)
    assert len(figs["triplet_latent_by_label"].axes) == 2  # one panel per oracle
