"""One vectorised pass over guide draws: everything the diagnostics need.

:func:`draw_from_guide` runs Pyro's ``vectorized_importance_weights`` in
chunks of particles and collects, from the same draws,

- the value of every *global* latent site (one row per draw),
- the pointwise log-likelihood of every observed site (draws x observations),
- replicates of every observed site, drawn from its likelihood given the draw
  (real posterior-predictive samples, not the observed data echoed back),
- log p(x, z), log q(z) and the importance log-weight log p - log q.

Global and local sites are told apart from the trace's plates: the plates
that hold an observed site are the *data plates*, and a latent site inside
any of them is local (one value per observation, like ``z``); every other
latent site is global. The observation index of an observed site is its
outermost plate; other plates of that site are summed in its pointwise
log-likelihood.

The model must broadcast a sample dimension on the left of every site (write
``sigma[..., None]``, batched matmuls), as Pyro's vectorised particles need.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from pyro import poutine
from pyro.infer.importance import vectorized_importance_weights

__all__ = ["GuideDraws", "SiteInfo", "draw_from_guide", "max_plate_nesting"]

_PARTICLES = "num_particles_vectorized"
#: Rough bound on the number of values that one chunk of particles may hold per tensor.
_CHUNK_VALUES = 2**23


@dataclass(frozen=True)
class SiteInfo:
    """The dims of a collected site after the draw dim: names of its plate
    dims (outermost first) followed by its event shape."""

    plate_dims: tuple[str, ...]
    event_shape: tuple[int, ...]


@dataclass
class GuideDraws:
    """What :func:`draw_from_guide` returns; every tensor is on the CPU.

    Attributes
    ----------
    posterior : dict of str to Tensor
        Global latent sites, shape ``(num_samples, *site_shape)``, and the
        local ones when they were kept (see ``local_sites``).
    log_likelihood : dict of str to Tensor
        Observed sites, shape ``(num_samples, n_observations)``, in the model's dtype.
    predictive : dict of str to Tensor
        Replicates of the observed sites, ``(num_predictive, *observed_shape)``.
    observed : dict of str to Tensor
        The observed values.
    log_joint, log_guide, log_weights : Tensor
        ``log p(x, z)``, ``log q(z)`` and their difference, shape ``(num_samples,)``, float64.
    sites : dict of str to SiteInfo
        Dims of the sites above.
    data_plates : tuple of str
        Plates that hold an observed site.
    local_sites : tuple of str
        Latent sites inside a data plate.
    local_kept : bool
        Whether the local sites are in ``posterior``.
    """

    posterior: dict = field(default_factory=dict)
    log_likelihood: dict = field(default_factory=dict)
    predictive: dict = field(default_factory=dict)
    observed: dict = field(default_factory=dict)
    log_joint: torch.Tensor | None = None
    log_guide: torch.Tensor | None = None
    log_weights: torch.Tensor | None = None
    sites: dict = field(default_factory=dict)
    data_plates: tuple = ()
    local_sites: tuple = ()
    local_kept: bool = False


def _frames(site) -> list:
    return [f for f in site["cond_indep_stack"] if f.vectorized and f.dim is not None and f.name != _PARTICLES]


def _is_observed(site) -> bool:
    return bool(site["is_observed"]) and not site["infer"].get("_deterministic", False)


def _sample_sites(trace):
    return [(name, s) for name, s in trace.nodes.items() if s["type"] == "sample"]


@torch.no_grad()
def max_plate_nesting(model, guide, inputs: dict) -> int:
    """Deepest plate nesting of ``model`` and ``guide`` on ``inputs`` (one unvectorised run)."""
    guide_trace = poutine.trace(guide).get_trace(**inputs)
    model_trace = poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace(**inputs)
    frames = [f for trace in (guide_trace, model_trace) for _, s in _sample_sites(trace) for f in _frames(s)]
    return max([0] + [-f.dim for f in frames])


def _full(t: torch.Tensor, site, depth: int, n: int, event_shape) -> torch.Tensor:
    """View ``t`` with the site's full batch shape: ``(n, b_{-depth}, ..., b_{-1}, *event_shape)``.

    ``t`` must broadcast against the site's batch shape followed by ``event_shape``.
    """
    batch = tuple(site["fn"].batch_shape)
    if len(batch) > depth + 1:
        raise ValueError(
            f"Site {site['name']!r} has batch shape {batch}, with dims left of the draw dim; every batch "
            "dim of a site must belong to a pyro.plate (use .to_event() for the others)."
        )
    batch = (1,) * (depth + 1 - len(batch)) + batch
    batch = (n,) + batch[1:]
    return t.expand(batch + tuple(event_shape))


def _plate_positions(site, depth: int) -> dict[int, str]:
    """Position (after the draw dim at 0) of each plate dim of ``site``: name."""
    return {1 + depth + f.dim: f.name for f in _frames(site)}


def _drop_free_dims(t: torch.Tensor, site, depth: int) -> tuple[torch.Tensor, tuple[str, ...]]:
    """Squeeze the size-1 batch dims that belong to no plate; return the plate names kept."""
    plates = _plate_positions(site, depth)
    names = []
    for pos in range(depth, 0, -1):
        if pos in plates:
            names.append(plates[pos])
        elif t.shape[pos] == 1:
            t = t.squeeze(pos)
        else:  # pragma: no cover - _full only makes plate dims larger than 1
            raise ValueError(f"Site {site['name']!r} has a batch dim of size {t.shape[pos]} outside any plate.")
    return t, tuple(reversed(names))


def draw_from_guide(
    model,
    guide,
    inputs: dict,
    *,
    num_samples: int,
    num_predictive: int = 0,
    collect: bool = True,
    local_budget: int = 0,
    chunk_size: int | None = None,
) -> GuideDraws:
    """Draw ``num_samples`` times from ``guide`` in vectorised chunks and score the draws.

    Parameters
    ----------
    model, guide : callable
        A Pyro model and guide taking ``**inputs``.
    inputs : dict
        Keyword inputs of model and guide (tensors already on their device).
    num_samples : int
        Guide draws.
    num_predictive : int
        How many of the draws (the first ones) also get a replicate of the observed sites.
    collect : bool
        With False, only the log-densities are kept (enough for PSIS).
    local_budget : int
        Keep the local latent sites in ``posterior`` when all their draws
        together hold at most this many values (0: never).
    chunk_size : int, optional
        Particles per vectorised pass; by default as many as keep one tensor
        under about eight million values.
    """
    depth = max_plate_nesting(model, guide, inputs)
    if chunk_size is None:
        per_particle = sum(v.numel() for v in inputs.values() if isinstance(v, torch.Tensor)) or 1
        chunk_size = _CHUNK_VALUES // per_particle
    # Pyro returns a scalar log-weight for one particle: two is the smallest chunk.
    chunk_size = max(2, min(chunk_size, num_samples))
    out = GuideDraws()
    acc = {"posterior": {}, "log_likelihood": {}, "predictive": {}, "log_joint": [], "log_guide": []}
    done = 0
    with torch.no_grad():
        while done < num_samples:
            n = max(2, min(chunk_size, num_samples - done))
            take = min(n, num_samples - done)
            try:
                _, model_trace, guide_trace = vectorized_importance_weights(
                    model, guide, num_samples=n, max_plate_nesting=depth, normalized=False, **inputs
                )
            except (RuntimeError, ValueError) as exc:
                raise ValueError(
                    "Drawing vectorised particles from the guide failed. The model must broadcast a sample "
                    "dimension on the left of every site (write `scale[..., None]`, use batched matmuls); "
                    f"the error was: {exc}"
                ) from exc
            for key, trace in (("log_joint", model_trace), ("log_guide", guide_trace)):
                total = torch.zeros(n, dtype=torch.float64)  # stays 0 for a trace without sites (an empty guide)
                for _, site in _sample_sites(trace):
                    lp = _full(site["log_prob"], site, depth, n, ())
                    total = total + lp.reshape(n, -1).sum(1).double().cpu()
                acc[key].append(total[:take])
            if collect:
                need = max(0, min(take, num_predictive - done))
                _collect(
                    model_trace, depth, n, take, need, acc, out, local_budget=local_budget, num_samples=num_samples
                )
            done += take
    out.log_joint = torch.cat(acc["log_joint"])
    out.log_guide = torch.cat(acc["log_guide"])
    out.log_weights = out.log_joint - out.log_guide
    for key in ("posterior", "log_likelihood", "predictive"):
        setattr(out, key, {name: torch.cat(chunks) for name, chunks in acc[key].items()})
    return out


def _collect(trace, depth, n, take, need, acc, out: GuideDraws, *, local_budget: int, num_samples: int) -> None:
    sites = _sample_sites(trace)
    data_plates = {f.name for _, s in sites if _is_observed(s) for f in _frames(s)}
    out.data_plates = tuple(sorted(data_plates))
    latent = [(name, s) for name, s in sites if not _is_observed(s)]
    local = [name for name, s in latent if any(f.name in data_plates for f in _frames(s))]
    if not out.local_sites and local:  # decided once, on the first chunk
        per_draw = sum(trace.nodes[name]["value"].numel() for name in local) // n
        out.local_kept = num_samples * per_draw <= local_budget
    out.local_sites = tuple(local)
    for name, site in sites:
        fn = site["fn"]
        if _is_observed(site):
            _collect_observed(name, site, depth, n, take, need, acc, out)
        elif name not in local or out.local_kept:
            value, plates = _drop_free_dims(_full(site["value"], site, depth, n, fn.event_shape), site, depth)
            acc["posterior"].setdefault(name, []).append(value[:take].detach().cpu())
            out.sites[name] = SiteInfo(plates, tuple(fn.event_shape))


def _collect_observed(name, site, depth, n, take, need, acc, out: GuideDraws) -> None:
    fn = site["fn"]
    positions = _plate_positions(site, depth)
    # Pointwise log-likelihood: keep the draw dim and the outermost plate, sum the rest.
    ll = _full(fn.log_prob(site["value"]), site, depth, n, ())
    if positions:
        obs_pos = min(positions)
        ll = ll.movedim(obs_pos, 1).reshape(n, ll.shape[obs_pos], -1).sum(-1)
    else:
        ll = ll.reshape(n, -1).sum(-1, keepdim=True)
    acc["log_likelihood"].setdefault(name, []).append(ll[:take].detach().cpu())
    if name not in out.observed:
        value, plates = _drop_free_dims(_full(site["value"], site, depth, n, fn.event_shape), site, depth)
        out.observed[name] = value[0].detach().cpu()
        out.sites[name] = SiteInfo(plates if plates else ("obs",), tuple(fn.event_shape))
        if not plates:
            out.observed[name] = out.observed[name].unsqueeze(0)
    if need > 0:
        replicate = _full(fn.sample(), site, depth, n, fn.event_shape)
        replicate, plates = _drop_free_dims(replicate, site, depth)
        replicate = replicate[:need] if plates else replicate[:need].unsqueeze(1)
        acc["predictive"].setdefault(name, []).append(replicate.detach().cpu())
