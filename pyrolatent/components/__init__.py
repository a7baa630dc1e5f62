"""What models share: networks (:mod:`.nets`), likelihoods (:mod:`.likelihoods`),
latent priors (:mod:`.latent_priors`), hyperpriors (:mod:`.hyperpriors`),
amortised guides for any model with an encoder (:mod:`.guides`), and
distances between per-dimension posteriors (:mod:`.divergences`).

Each part is typed by what it needs (an encoder, a data plate), never by the
class of its first user; :mod:`pyrolatent.models` re-exports the public names.
"""
