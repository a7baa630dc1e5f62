"""What models share: networks, likelihoods, latent priors, guides, graph layers."""
