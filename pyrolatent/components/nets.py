"""Small neural networks for amortised models: MLP and convolutional trunks,
the Gaussian encoder head and decoders.

Every network takes inputs with any number of leading (sample, batch)
dimensions, ``(..., n_in)``, and returns ``(..., n_out)``, so that a model can
broadcast a particle dimension on the left. The convolutional networks see
flattened images (row-major ``image_shape``) and reshape them internally.

They are plain :class:`torch.nn.Module` objects: inside a
:class:`~pyro.nn.PyroModule` with Pyro's ``module_local_params`` setting (which
pyrolatent turns on) their parameters are trained like any other.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from pyrolatent._validation import check_choice, check_positive_float, check_positive_int

__all__ = [
    "ACTIVATIONS",
    "ConvDecoder",
    "ConvTrunk",
    "GaussianEncoder",
    "MLP",
    "make_activation",
    "make_decoder",
    "make_encoder",
]

#: Activation functions by name.
ACTIVATIONS = {
    "softplus": nn.Softplus,
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "leaky_relu": nn.LeakyReLU,
}

NETWORKS = ("mlp", "conv")


def make_activation(name: str) -> nn.Module:
    """A fresh activation module from its name (one of :data:`ACTIVATIONS`)."""
    return ACTIVATIONS[check_choice("activation", name, ACTIVATIONS)]()


def check_hidden(hidden) -> tuple[int, ...]:
    """Return ``hidden`` as a tuple of positive layer sizes (an int is one layer)."""
    if isinstance(hidden, (bool, str, bytes)):
        raise ValueError(f"The 'hidden' argument must be a sequence of positive integers. Got {hidden!r} instead.")
    if isinstance(hidden, int):
        hidden = (hidden,)
    try:
        sizes = tuple(hidden)
    except TypeError:
        raise ValueError(
            f"The 'hidden' argument must be a sequence of positive integers. Got {hidden!r} instead."
        ) from None
    for size in sizes:
        check_positive_int("hidden", size)
    return tuple(int(s) for s in sizes)


class MLP(nn.Sequential):
    """Fully connected layers, each followed by an activation.

    Parameters
    ----------
    in_features : int
        Input size.
    hidden : sequence of int
        Sizes of the hidden layers; empty gives the identity (a linear model
        once an output layer is put on top).
    activation : str
        One of :data:`ACTIVATIONS`.

    Attributes
    ----------
    out_features : int
        Size of the output (the last hidden size, or ``in_features``).
    """

    def __init__(self, in_features: int, hidden=(400,), activation: str = "softplus"):
        layers, size = [], check_positive_int("in_features", in_features)
        for h in check_hidden(hidden):
            layers += [nn.Linear(size, h), make_activation(activation)]
            size = h
        super().__init__(*layers)
        self.out_features = size


def _conv_sizes(image_shape) -> tuple[int, int]:
    height, width = image_shape
    return math.ceil(math.ceil(height / 2) / 2), math.ceil(math.ceil(width / 2) / 2)


def _check_image_shape(image_shape) -> tuple[int, int]:
    shape = tuple(image_shape) if image_shape is not None else ()
    if len(shape) != 2:
        raise ValueError(
            "The 'image_shape' argument must be (height, width) for the convolutional network. "
            f"Got {image_shape!r} instead."
        )
    return tuple(check_positive_int("image_shape", s) for s in shape)


class ConvTrunk(nn.Module):
    """Two stride-2 3x3 convolutions (32 and 64 channels) and a dense layer.

    Maps flattened single-channel images ``(..., height * width)`` to
    features ``(..., hidden)``.
    """

    def __init__(self, image_shape, hidden: int = 256, activation: str = "softplus", channels=(32, 64)):
        super().__init__()
        self.image_shape = _check_image_shape(image_shape)
        c1, c2 = channels
        self.conv = nn.Sequential(
            nn.Conv2d(1, c1, 3, stride=2, padding=1),
            make_activation(activation),
            nn.Conv2d(c1, c2, 3, stride=2, padding=1),
            make_activation(activation),
        )
        h4, w4 = _conv_sizes(self.image_shape)
        self.dense = nn.Sequential(nn.Linear(c2 * h4 * w4, hidden), make_activation(activation))
        self.out_features = check_positive_int("hidden", hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[:-1]
        h = self.conv(x.reshape(-1, 1, *self.image_shape))
        return self.dense(h.flatten(1)).reshape(*lead, self.out_features)


class ConvDecoder(nn.Module):
    """Mirror of :class:`ConvTrunk`: a dense layer and two stride-2 transposed
    convolutions, from codes ``(..., n_in)`` to flattened images
    ``(..., height * width)`` (cropped to the image size)."""

    def __init__(self, n_in: int, image_shape, hidden: int = 256, activation: str = "softplus", channels=(64, 32)):
        super().__init__()
        self.image_shape = _check_image_shape(image_shape)
        c2, c1 = channels
        self._grid = (c2, *_conv_sizes(self.image_shape))
        self.dense = nn.Sequential(
            nn.Linear(n_in, hidden),
            make_activation(activation),
            nn.Linear(hidden, math.prod(self._grid)),
            make_activation(activation),
        )
        self.deconv = nn.Sequential(
            nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1),
            make_activation(activation),
            nn.ConvTranspose2d(c1, 1, 4, stride=2, padding=1),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        lead = z.shape[:-1]
        height, width = self.image_shape
        h = self.dense(z).reshape(-1, *self._grid)
        out = self.deconv(h)[:, 0, :height, :width]
        return out.reshape(*lead, height * width)


class GaussianEncoder(nn.Module):
    r"""Inference network of a diagonal normal :math:`q(z \mid x) = \mathcal N(\mu(x), \mathrm{diag}\,\sigma^2(x))`.

    ``forward(x)`` returns ``(loc, scale)``, each ``(..., n_components)``;
    ``features(x)`` the trunk's output, on which richer guides put further heads.
    The scale is ``softplus(.) + min_scale``.
    """

    def __init__(self, trunk: nn.Module, n_components: int, min_scale: float = 1e-4):
        super().__init__()
        self.trunk = trunk
        self.n_components = check_positive_int("n_components", n_components)
        self.min_scale = check_positive_float("min_scale", min_scale)
        self.loc = nn.Linear(trunk.out_features, self.n_components)
        self.scale = nn.Linear(trunk.out_features, self.n_components)

    @property
    def out_features(self) -> int:
        return self.trunk.out_features

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.trunk(x)

    def heads(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.loc(h), F.softplus(self.scale(h)) + self.min_scale

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.heads(self.trunk(x))


def make_encoder(network, n_features, n_components, *, hidden, activation, image_shape=None) -> GaussianEncoder:
    """The encoder of a VAE: an MLP or convolutional trunk with Gaussian heads."""
    if check_choice("network", network, NETWORKS) == "mlp":
        trunk = MLP(n_features, hidden, activation)
    else:
        trunk = ConvTrunk(image_shape, hidden[-1] if hidden else 256, activation)
    return GaussianEncoder(trunk, n_components)


def make_decoder(network, n_components, n_features, *, hidden, activation, image_shape=None) -> nn.Module:
    """The decoder of a VAE: codes ``(..., n_components)`` to one output per
    feature ``(..., n_features)`` (MLP with the hidden sizes reversed, or
    :class:`ConvDecoder`)."""
    if check_choice("network", network, NETWORKS) == "mlp":
        trunk = MLP(n_components, tuple(reversed(hidden)), activation)
        return nn.Sequential(trunk, nn.Linear(trunk.out_features, n_features))
    return ConvDecoder(n_components, image_shape, hidden[-1] if hidden else 256, activation)
