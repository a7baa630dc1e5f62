"""What every ``pyrolatent fit MODEL`` run shares: the model entry, the run
directory, the report.

A run directory holds ``checkpoint.pt`` (tensors only), ``settings.json``,
``losses.csv``, ``summary.json`` and ``run.json`` (the command's arguments, from
which ``pyrolatent report DIR`` rebuilds the model); with ``--report`` also a
``report/`` folder (see :func:`pyrolatent.reports.write_report`). It is written into a temporary folder
beside ``DIR`` and renamed into place at the end, so a failed run never leaves
a half-written directory (an existing ``DIR`` is replaced only on success).
Bad arguments or data end the program with one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pyrolatent._files import replacing_dir
from pyrolatent.data import DATA_SPECS, Dataset, load_dataset
from pyrolatent.inference import FitResult, fit, restore

__all__ = ["ModelEntry", "add_common_arguments", "entries", "run_fit", "run_report"]


@dataclass(frozen=True)
class ModelEntry:
    """How the CLI builds a model for a data set and summarises its fit.

    Each model's command-line module (``pyrolatent/cli/<name>.py``, named by
    its registry entry) defines one as ``ENTRY``.

    ``prepare(args, data)`` may transform the loaded data (e.g. binarise it);
    with ``test_fraction`` set, the data are split (seeded by ``--seed``) and
    the model is fitted on the training part; ``summarize(args, result,
    train, test)`` gets both (``test`` is None without a split);
    ``add_arguments(parser)`` adds the model's own options to ``fit``;
    ``default_batch_size`` applies when ``--batch-size`` is not given (None:
    full batch); ``model_inputs(args, train)`` gives what the model is fitted
    on when it is more than the training rows (e.g. ``{"x": ..., "triplets":
    ...}``; default: the training ``Dataset``); ``batch_sizes(args, inputs,
    batch_size)`` turns ``--batch-size`` (or None) into the ``batch_size`` of
    :func:`~pyrolatent.inference.fit` for a model with several plates (an int
    or ``{plate: size}``).
    """

    build: Callable[[argparse.Namespace, Dataset], object]
    summarize: Callable[[argparse.Namespace, FitResult, Dataset, Dataset | None], dict]
    describe: Callable[[dict], str]
    default_lr: float
    default_batch_size: int | None = None
    test_fraction: float | None = None
    prepare: Callable[[argparse.Namespace, Dataset], Dataset] | None = None
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None
    model_inputs: Callable[[argparse.Namespace, Dataset], object] | None = None
    batch_sizes: Callable[[argparse.Namespace, dict, int | None], object] | None = None


def _fit_data(args, entry: ModelEntry, data: Dataset):
    return data if entry.model_inputs is None else entry.model_inputs(args, data)


def _write_json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def _load_data(args, entry: ModelEntry) -> tuple[Dataset, Dataset | None]:
    data = load_dataset(args.data)
    if entry.prepare is not None:
        data = entry.prepare(args, data)
    if entry.test_fraction is None:
        return data, None
    return data.split(entry.test_fraction, seed=args.seed)


def _report(result: FitResult, data: Dataset, out: Path, restarts=None) -> Path:
    from pyrolatent.reports import write_report

    return write_report(result, data, out, restarts=restarts)


def _restarts(args, entry: ModelEntry, data: Dataset, result: FitResult, settings: dict):
    """Fit ``--restarts - 1`` more copies (seeds ``--seed + 1``, ...) and compare all
    of them on the model's identifiable quantities (R-hat across restarts)."""
    from pyrolatent.diagnostics import restart_diagnostics

    inputs = _fit_data(args, entry, data)
    others = [fit(entry.build(args, data), inputs, **{**settings, "seed": args.seed + r}) for r in range(1, args.restarts)]
    return restart_diagnostics([result, *others])


def entries() -> dict[str, ModelEntry]:
    """``{name: ModelEntry}`` for every registered model, in registry order."""
    from pyrolatent.models import REGISTRY

    return {name: importlib.import_module(spec.cli).ENTRY for name, spec in REGISTRY.items()}


def add_common_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of every ``fit`` subcommand."""
    p.add_argument("--data", default="digits", help="one of: " + " | ".join(DATA_SPECS))
    p.add_argument("--n-components", type=int, default=None, help="latent components")
    p.add_argument("--steps", type=int, default=3000, help="optimisation steps")
    p.add_argument("--lr", type=float, default=None, help="learning rate (default: the model's)")
    p.add_argument("--batch-size", type=int, default=None, help="minibatch size (default: the model's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--out", required=True, type=Path, help="run directory to write")
    p.add_argument("--progress", action="store_true", help="show a progress bar")
    p.add_argument("--report", action="store_true", help="also write an HTML diagnostics report into DIR/report")
    p.add_argument(
        "--restarts",
        type=int,
        default=None,
        metavar="R",
        help="fit R copies from seeds SEED..SEED+R-1 and report their agreement (R-hat across restarts)",
    )


def _batch_size(args, entry: ModelEntry, n_train: int):
    """``--batch-size``, or the model's default capped at the training rows."""
    if args.batch_size is not None:
        if args.batch_size < 1 or args.batch_size > n_train:
            raise ValueError(
                f"The '--batch-size' option must be between 1 and the {n_train} training rows. "
                f"Got {args.batch_size} instead."
            )
        return args.batch_size
    if entry.default_batch_size is None:
        return None
    return min(entry.default_batch_size, n_train)


def run_fit(args) -> dict:
    entry = entries()[args.model]
    if args.restarts is not None and args.restarts < 2:
        raise ValueError(f"The 'restarts' argument must be an integer >= 2. Got {args.restarts} instead.")
    data, test = _load_data(args, entry)
    model = entry.build(args, data)
    if args.restarts is not None and not model.supports("identifiable_quantities"):
        raise ValueError(f"The 'restarts' option needs a model with identifiable quantities; {args.model} has none.")
    out: Path = args.out
    inputs = _fit_data(args, entry, data)
    if entry.batch_sizes is not None:
        batch_size = entry.batch_sizes(args, inputs, args.batch_size)
    else:
        batch_size = _batch_size(args, entry, data.n_samples)
    settings = dict(
        num_steps=args.steps,
        lr=args.lr if args.lr is not None else entry.default_lr,
        batch_size=batch_size,
        seed=args.seed,
        device=args.device,
        progress=args.progress,
    )
    with replacing_dir(out) as tmp:
        result = fit(model, inputs, checkpoint_path=tmp / "checkpoint.pt", **settings)
        restarts = _restarts(args, entry, data, result, settings) if args.restarts else None
        # the run directory is renamed into place at the end: record the final path
        final_ckpt = out / "checkpoint.pt"
        result.settings = dataclasses.replace(result.settings, checkpoint_path=final_ckpt)
        result.checkpoint_path = final_ckpt
        summary = {
            "model": args.model,
            "data": args.data,
            "n_samples": data.n_samples,
            "n_features": data.n_features,
            **result.summary(),
            **entry.summarize(args, result, data, test),
        }
        if restarts is not None:
            summary.update(restarts=args.restarts, restarts_max_rhat=restarts.max_rhat, restarts_agree=restarts.agree)
        run_args = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
        _write_json(tmp / "run.json", run_args)
        _write_json(tmp / "settings.json", result.settings.to_dict())
        losses = result.losses.double().numpy()
        (tmp / "losses.csv").write_text("step,loss\n" + "".join(f"{i},{float(v)!r}\n" for i, v in enumerate(losses)))
        _write_json(tmp / "summary.json", summary)
        if args.report:
            _report(result, data, tmp, restarts)
    print(
        f"pyrolatent: fitted {args.model} on {data.name} ({data.n_samples} x {data.n_features}) "
        f"in {result.num_steps} steps, {result.wall_time:.1f} s on {result.device}"
        + (" (interrupted)" if result.interrupted else "")
    )
    print(f"  final ELBO {summary['final_elbo']:.6g}; {entry.describe(summary)}")
    if restarts is not None:
        print(f"  {restarts.summary()}")
    print(f"  run directory: {out}")
    if args.report:
        print(f"  report: {out / 'report' / 'index.html'}")
    return summary


def run_report(args) -> Path:
    run_dir: Path = args.run_dir
    run_file = run_dir / "run.json"
    if not run_file.is_file():
        raise FileNotFoundError(
            f"The 'run_dir' argument must be a directory written by 'pyrolatent fit'; {str(run_file)!r} is missing."
        )
    saved = argparse.Namespace(**json.loads(run_file.read_text()))
    entry = entries()[saved.model]
    data, _ = _load_data(saved, entry)
    model = entry.build(saved, data)
    result = restore(model, _fit_data(saved, entry, data), run_dir / "checkpoint.pt")
    path = _report(result, data, run_dir)
    print(f"pyrolatent: report written to {path}")
    return path
