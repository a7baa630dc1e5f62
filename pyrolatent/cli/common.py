"""What every ``pyrolatent fit MODEL`` run shares: the model entry, the run
directory, checkpoints and resuming, signals, the report.

A run directory holds ``checkpoint.pt`` (tensors only), ``settings.json``,
``losses.csv``, ``summary.json``, ``run.json`` (the command's arguments, from
which ``pyrolatent report DIR`` rebuilds the model) and the marker file
``.pyrolatent-run``; with ``--report`` also a ``report/`` folder (see
:func:`pyrolatent.reports.write_report`).

Where a run lives (see :mod:`pyrolatent._files` for the guarantees):

- While it runs, in ``DIR.partial`` beside ``DIR``: the marker, ``run.json``
  and ``checkpoint.pt``, written every ``--checkpoint-every`` steps (atomically,
  so a killed run keeps its last checkpoint). ``DIR`` itself holds only
  complete runs: the finished run is swapped into place at the end, and an
  earlier run in ``DIR`` is replaced only then.
- ``--out`` may name a new folder, an empty one or an earlier run directory;
  anything else (a folder of other files, a file, the current directory) is
  refused before anything is read or written. One process at a time writes a
  run directory (a lock file ``.DIR.lock`` beside it).
- Ctrl-C (SIGINT) or SIGTERM during training stops at the next step, keeps the
  checkpoint in ``DIR.partial`` and exits with 130 or 143; the same command
  with ``--resume`` continues it, to the same result as an uninterrupted run
  (bit for bit on the CPU). ``--resume`` on a complete ``DIR`` continues it to
  more ``--steps``; with nothing to resume it starts a new run. A signal after
  training (during the evaluation, restarts or report) keeps the fitted run in
  ``DIR``, skips what was left and says so.

Bad arguments or data end the program with one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import shutil
import signal
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pyrolatent._files import (
    RUN_MARKER,
    RunDirError,
    check_out,
    new_run_id,
    partial_path,
    publish,
    read_marker,
    recover,
    run_lock,
    write_marker,
)
from pyrolatent._pyro import seeded
from pyrolatent.data import DATA_SPECS, Dataset, load_dataset
from pyrolatent.inference import CheckpointError, FitResult, fit, restore
from pyrolatent.inference.distributed import current_group

__all__ = ["Interrupted", "ModelEntry", "add_common_arguments", "entries", "run_fit", "run_report"]

CHECKPOINT = "checkpoint.pt"
#: Default of ``--checkpoint-every``: at most this many steps are lost to a kill.
CHECKPOINT_EVERY = 500
#: ``fit`` options that may differ between an interrupted run and its ``--resume``.
FREE_ON_RESUME = frozenset(
    {
        "steps",
        "lr",
        "device",
        "progress",
        "report",
        "restarts",
        "out",
        "resume",
        "checkpoint_every",
        "command",
        "compile",
    }
)


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
    or ``{plate: size}``); ``report_data(args, train)`` gives what the report's
    model figures are drawn from when it is more than the training rows (e.g.
    both domains of a cross-domain model; default: the training ``Dataset``).
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
    report_data: Callable[[argparse.Namespace, Dataset], object] | None = None


def _fit_data(args, entry: ModelEntry, data: Dataset):
    return data if entry.model_inputs is None else entry.model_inputs(args, data)


def _write_json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


class Interrupted(BaseException):
    """A SIGINT (Ctrl-C) or SIGTERM stopped the command; the message says what
    was kept. ``exit_code`` is 128 plus the signal's number (130, 143)."""

    def __init__(self, signame: str, message: str | None = None):
        self.signame = signame
        self.exit_code = 128 + int(signal.Signals[signame])
        super().__init__(message or f"interrupted by {signame}")

    def said(self, message: str) -> Interrupted:
        """The same interruption with another message."""
        return Interrupted(self.signame, message)


class _Signals:
    """SIGINT and SIGTERM raise :class:`Interrupted` (main thread only; the
    engine's loop puts its own handler in place while it trains). With
    ``defer`` set, the first signal is only recorded in ``deferred`` (the run is
    being written); a second one still interrupts."""

    def __init__(self):
        self.defer, self.deferred, self._previous = False, None, {}

    def _handler(self, signum, frame):
        name = signal.Signals(signum).name
        if self.defer and self.deferred is None:
            self.deferred = name
            return
        raise Interrupted(name)

    def __enter__(self) -> _Signals:
        if threading.current_thread() is threading.main_thread():
            self._previous = {sig: signal.signal(sig, self._handler) for sig in (signal.SIGINT, signal.SIGTERM)}
        return self

    def __exit__(self, *exc) -> None:
        for sig, old in self._previous.items():
            signal.signal(sig, old)


def _load_data(args, entry: ModelEntry) -> tuple[Dataset, Dataset | None]:
    data = load_dataset(args.data)
    if entry.prepare is not None:
        data = entry.prepare(args, data)
    if entry.test_fraction is None:
        return data, None
    return data.split(entry.test_fraction, seed=args.seed)


def _build_model(args, entry: ModelEntry, data: Dataset, seed: int):
    """``entry.build(args, data)`` with every generator seeded by ``seed``: the initial
    weights are part of the run, so the same command gives the same fit."""
    with seeded(seed):
        return entry.build(args, data)


def _report(args, entry: ModelEntry, result: FitResult, data: Dataset, out: Path, restarts=None) -> Path:
    from pyrolatent.reports import write_report

    figure_data = None if entry.report_data is None else entry.report_data(args, data)
    return write_report(result, data, out, restarts=restarts, figure_data=figure_data)


def _restarts(args, entry: ModelEntry, data: Dataset, result: FitResult, settings: dict):
    """Fit ``--restarts - 1`` more copies (seeds ``--seed + 1``, ...) and compare all
    of them on the model's identifiable quantities (R-hat across restarts)."""
    from pyrolatent.diagnostics import restart_diagnostics

    inputs = _fit_data(args, entry, data)
    others = []
    for r in range(1, args.restarts):
        other = fit(_build_model(args, entry, data, args.seed + r), inputs, **{**settings, "seed": args.seed + r})
        if other.interrupted:
            raise Interrupted(other.stopped_by or "SIGINT")
        others.append(other)
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
    p.add_argument(
        "--compile",
        choices=("off", "trace", "inductor"),
        default="off",
        help="run each step as a graph traced once (trace), also compiled by TorchInductor (inductor; "
        "tens of seconds at the first step); a model that cannot be traced runs eagerly with a warning",
    )
    p.add_argument(
        "--out",
        required=True,
        type=Path,
        help="run directory to write (a new folder or an earlier run, which is replaced when this one is complete)",
    )
    p.add_argument(
        "--checkpoint-every",
        type=int,
        default=CHECKPOINT_EVERY,
        metavar="N",
        help=f"write DIR.partial/checkpoint.pt every N steps (default {CHECKPOINT_EVERY}; 0: only at the end "
        "and when interrupted)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the interrupted run in DIR.partial (or the complete run in DIR, to more --steps)",
    )
    p.add_argument("--progress", action="store_true", help="show a progress bar")
    p.add_argument("--report", action="store_true", help="also write an HTML diagnostics report into DIR/report")
    p.add_argument(
        "--restarts",
        type=int,
        default=None,
        metavar="R",
        help="fit R copies from seeds SEED..SEED+R-1 and report their agreement (R-hat across restarts)",
    )


def _fit_batch_size(args, entry: ModelEntry, data: Dataset):
    """The ``batch_size`` of the fit: the entry's ``batch_sizes`` hook (models with
    several plates), else :func:`_batch_size`."""
    if entry.batch_sizes is not None:
        return entry.batch_sizes(args, _fit_data(args, entry, data), args.batch_size)
    return _batch_size(args, entry, data.n_samples)


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


# -- the in-progress run ---------------------------------------------------------------
def _read_run_json(path: Path) -> dict:
    """``run.json`` as a dict, or an error that says what is wrong with the file."""
    if not path.is_file():
        raise RunDirError(f"{str(path)!r} is missing: the folder was not written by 'pyrolatent fit'.")
    try:
        saved = json.loads(path.read_text())
    except UnicodeDecodeError as exc:
        raise RunDirError(f"{str(path)!r} is damaged: it is not UTF-8 text ({exc.reason}).") from None
    except json.JSONDecodeError as exc:
        raise RunDirError(
            f"{str(path)!r} is damaged: it is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})."
        ) from None
    if not isinstance(saved, dict):
        raise RunDirError(f"{str(path)!r} is damaged: it must hold a JSON object; got a {type(saved).__name__}.")
    return saved


def _check_same_run(args, run_file: Path) -> None:
    """Refuse to resume a run whose ``run.json`` asked for another model, data or seed."""
    saved = _read_run_json(run_file)
    for key, value in sorted(vars(args).items()):
        if key in FREE_ON_RESUME or key not in saved:
            continue
        now = str(value) if isinstance(value, Path) else value
        if isinstance(now, tuple):
            now = list(now)
        if saved[key] != now:
            flag = "--" + key.replace("_", "-") if key != "model" else "MODEL"
            raise RunDirError(
                f"Cannot resume the run in {str(run_file.parent)!r}: it used {flag} {saved[key]!r}, this command "
                f"gives {now!r}. Resume with the same {flag}, or start a new run without --resume."
            )


def _start(args, out: Path) -> tuple[Path, str, bool, list[str]]:
    """Set up ``out.partial`` for this run: ``(partial, run_id, resumed, notes)``."""
    partial = partial_path(out)
    notes = []
    mark = read_marker(partial) if partial.is_dir() else None
    if args.resume:
        if mark is not None and mark.get("state") == "incomplete" and (partial / CHECKPOINT).is_file():
            _check_same_run(args, partial / "run.json")
            for stale in partial.iterdir():  # outputs of the killed run are written again
                if stale.name not in (RUN_MARKER, "run.json", CHECKPOINT):
                    shutil.rmtree(stale) if stale.is_dir() and not stale.is_symlink() else stale.unlink()
            return partial, str(mark.get("id") or new_run_id()), True, [f"resuming the interrupted run in {partial}"]
        if read_marker(out) is not None and (out / CHECKPOINT).is_file():
            _check_same_run(args, out / "run.json")
            run_id = _fresh(partial, args)
            shutil.copy2(out / CHECKPOINT, partial / f".{CHECKPOINT}.copy")
            (partial / f".{CHECKPOINT}.copy").rename(partial / CHECKPOINT)
            return partial, run_id, True, [f"continuing the complete run in {out} (it is replaced at the end)"]
        notes.append(f"nothing to resume in {partial} or {out}; starting a new run")
    elif mark is not None and mark.get("state") == "incomplete" and (partial / CHECKPOINT).is_file():
        notes.append(f"discarding the interrupted run in {partial} (pass --resume to continue such a run)")
    return partial, _fresh(partial, args), False, notes


def _fresh(partial: Path, args) -> str:
    """An empty ``partial`` with a marker and ``run.json`` (replacing an earlier one)."""
    if partial.exists():
        shutil.rmtree(partial)  # check_out made sure it is a run directory or empty
    partial.mkdir()
    run_id = new_run_id()
    write_marker(partial, id=run_id, state="incomplete")
    _write_json(partial / "run.json", _run_args(args))
    return run_id


def _run_args(args) -> dict:
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}


def _abandon(partial: Path, keep: bool) -> str:
    """After a failed or interrupted fit: keep ``partial`` when asked and it
    holds a checkpoint, else remove it. Says what became of it."""
    if keep and (partial / CHECKPOINT).is_file():
        return f"the checkpoint is kept in {partial}: run the same command with --resume to continue"
    shutil.rmtree(partial, ignore_errors=True)
    return "nothing was written"


def _step_of(path: Path) -> int:
    from pyrolatent.inference.checkpoint import load_checkpoint

    try:
        return int(load_checkpoint(path).get("step", 0))
    except (CheckpointError, OSError, ValueError, TypeError):
        return 0


# -- fit ------------------------------------------------------------------------------------
def _join_group(args):
    """Under ``torchrun`` (``WORLD_SIZE`` > 1): join the process group; rank 0
    writes the run, the others fit their share of every minibatch."""
    from pyrolatent.inference.distributed import current_group, init_from_env

    init_from_env(device=args.device)
    return current_group()


def _fit_worker(args, entry: ModelEntry, group) -> dict:
    """A rank other than 0: fit its share and write nothing (see
    :mod:`pyrolatent.inference.distributed`)."""
    data, _ = _load_data(args, entry)
    model = _build_model(args, entry, data, args.seed)
    group.barrier()  # rank 0 has set up DIR.partial (and its checkpoint, when resuming)
    partial = partial_path(check_out(args.out))
    resumed = bool(args.resume) and (partial / CHECKPOINT).is_file()
    fit(
        model,
        _fit_data(args, entry, data),
        checkpoint_path=partial / CHECKPOINT,
        checkpoint_every=args.checkpoint_every or None,
        resume=resumed,
        num_steps=args.steps,
        lr=args.lr if args.lr is not None else entry.default_lr,
        batch_size=_fit_batch_size(args, entry, data),
        seed=args.seed,
        device=args.device,
        compile=_compile(args),
    )
    return {}


def _compile(args):
    """``--compile`` as ``FitSettings.compile`` (runs saved before the flag existed read as off)."""
    mode = getattr(args, "compile", "off")
    return False if mode in (None, "off") else mode


def run_fit(args) -> dict:
    entry = entries()[args.model]
    if args.restarts is not None and args.restarts < 2:
        raise ValueError(f"The 'restarts' argument must be an integer >= 2. Got {args.restarts} instead.")
    if args.checkpoint_every < 0:
        raise ValueError(
            f"The '--checkpoint-every' option must be a number of steps >= 0 (0: only at the end). "
            f"Got {args.checkpoint_every} instead."
        )
    group = _join_group(args)
    if group is not None and not group.is_main:
        return _fit_worker(args, entry, group)
    out = check_out(args.out)  # before anything is read or written
    with _Signals() as signals:
        try:
            data, test = _load_data(args, entry)
            model = _build_model(args, entry, data, args.seed)
        except Interrupted as exc:
            raise exc.said(f"interrupted by {exc.signame} before training started; nothing was written") from None
        if args.restarts is not None and not model.supports("identifiable_quantities"):
            raise ValueError(
                f"The 'restarts' option needs a model with identifiable quantities; {args.model} has none."
            )
        settings = dict(
            num_steps=args.steps,
            lr=args.lr if args.lr is not None else entry.default_lr,
            batch_size=_fit_batch_size(args, entry, data),
            seed=args.seed,
            device=args.device,
            progress=args.progress,
            compile=_compile(args),
        )
        with run_lock(out):
            return _fit_locked(args, entry, out, data, test, model, settings, signals)


def _fit_locked(args, entry, out: Path, data, test, model, settings: dict, signals: _Signals) -> dict:
    notes = [n for n in [recover(out)] if n]
    check_out(out)  # again, now that no other writer can change it
    partial, run_id, resumed, more = _start(args, out)
    group = current_group()
    if group is not None:  # the other ranks wait until the run's folder is set up
        group.barrier()
    for note in notes + more:
        print(f"pyrolatent: {note}")
    try:
        with warnings.catch_warnings():  # the NaN guard says it in one line
            warnings.filterwarnings("ignore", message="Encountered NaN")
            result = fit(
                model,
                _fit_data(args, entry, data),
                checkpoint_path=partial / CHECKPOINT,
                checkpoint_every=args.checkpoint_every or None,
                resume=resumed,
                **settings,
            )
    except Interrupted as exc:
        kept = _abandon(partial, keep=resumed or _step_of(partial / CHECKPOINT) > 0)
        raise exc.said(f"interrupted by {exc.signame}; {kept}") from None
    except BaseException:
        _abandon(partial, keep=resumed)  # a resumed run keeps its checkpoint (the last finite state)
        raise
    if result.interrupted:
        raise Interrupted(
            result.stopped_by or "SIGINT",
            f"interrupted by {result.stopped_by or 'SIGINT'} at step {result.num_steps} of {args.steps}; "
            f"{_abandon(partial, keep=True)}",
        )

    # Training is over: a signal from here on keeps the fitted run and skips the rest.
    stop, skipped = None, []
    restarts = None
    summary = {
        "model": args.model,
        "data": args.data,
        "n_samples": data.n_samples,
        "n_features": data.n_features,
        **result.summary(),
    }
    final_ckpt = out / CHECKPOINT  # the run is moved into place at the end: record the final path
    result.settings = dataclasses.replace(result.settings, checkpoint_path=final_ckpt)
    result.checkpoint_path = final_ckpt
    stages = [
        ("restarts", "the restarts (--restarts)", bool(args.restarts)),
        ("summary", "the model's summary and evaluation", True),
        ("report", "the report (write it with 'pyrolatent report DIR')", bool(args.report)),
    ]
    for name, what, wanted in stages:
        if not wanted:
            continue
        if stop is not None:
            skipped.append(what)
            continue
        try:
            if name == "restarts":
                restarts = _restarts(args, entry, data, result, settings)
                summary.update(
                    restarts=args.restarts, restarts_max_rhat=restarts.max_rhat, restarts_agree=restarts.agree
                )
            elif name == "summary":
                with seeded(args.seed):  # Monte-Carlo summaries: the same for the same run, resumed or not
                    summary.update(entry.summarize(args, result, data, test))
            else:
                _report(args, entry, result, data, partial, restarts)
        except Interrupted as exc:
            stop = exc.signame
            skipped.append(what)
    if skipped:
        summary["skipped"] = [what.split(" (")[0] for what in skipped]

    signals.defer = True  # write the run whole; a first signal now waits until it is in place
    _write_json(partial / "run.json", _run_args(args))
    _write_json(partial / "settings.json", result.settings.to_dict())
    losses = result.losses.double().numpy()
    (partial / "losses.csv").write_text("step,loss\n" + "".join(f"{i},{float(v)!r}\n" for i, v in enumerate(losses)))
    _write_json(partial / "summary.json", summary)
    publish(partial, out, run_id)
    signals.defer = False
    stop = stop or signals.deferred

    print(
        f"pyrolatent: fitted {args.model} on {data.name} ({data.n_samples} x {data.n_features}) "
        f"in {result.num_steps} steps, {result.wall_time:.1f} s on {result.device}"
    )
    try:
        described = entry.describe(summary)
    except (KeyError, TypeError, ValueError):
        described = None
    print(f"  final ELBO {summary['final_elbo']:.6g}" + (f"; {described}" if described else ""))
    for note in result.notes:
        print(f"  note: {note}")
    if restarts is not None:
        print(f"  {restarts.summary()}")
    print(f"  run directory: {out}")
    if args.report and "report" not in summary.get("skipped", []):
        print(f"  report: {out / 'report' / 'index.html'}")
    if stop is not None:
        what = "; skipped " + ", ".join(skipped) if skipped else ""
        raise Interrupted(stop, f"interrupted by {stop} after training: the fitted run is kept in {out}{what}")
    return summary


# -- report -----------------------------------------------------------------------------------
def _rebuild_args(run_dir: Path, saved: dict) -> argparse.Namespace:
    """The ``fit`` arguments of a run from its ``run.json``, or an error naming what is wrong."""
    from pyrolatent.cli import _parser

    run_file = run_dir / "run.json"
    known = entries()
    model = saved.get("model")
    if model not in known:
        raise RunDirError(
            f"{str(run_file)!r} names the model {model!r}, which this pyrolatent does not know "
            f"(known: {', '.join(known)})."
        )
    # every flag's default, read from the parser (parsing would trip over required flags such as --triplets)
    fit_parser = _parser()._subparsers._group_actions[0].choices["fit"]
    sub = fit_parser._subparsers._group_actions[0].choices[model]
    defaults = {a.dest: a.default for a in sub._actions if a.dest != "help"}
    defaults.update(command="fit", model=model, out=run_dir)
    common = argparse.ArgumentParser(add_help=False)
    add_common_arguments(common)
    common_keys = {a.dest for a in common._actions}
    # a flag added after the run was written, off by default (None, not required), was off in that run
    optional_off = {a.dest for a in sub._actions if a.default is None and not a.required}
    needed = {"data", "seed", "n_components"} | (set(defaults) - common_keys - {"command", "model"} - optional_off)
    missing = sorted(k for k in needed if k not in saved)
    if missing:
        raise RunDirError(f"{str(run_file)!r} is damaged: it lacks the keys {missing} needed to rebuild the model.")
    return argparse.Namespace(**{**defaults, **{k: v for k, v in saved.items() if k in defaults}})


def run_report(args) -> Path:
    with _Signals():
        try:
            return _report_run(args.run_dir)
        except Interrupted as exc:
            raise exc.said(f"interrupted by {exc.signame}; the report was not written") from None


def _report_run(run_dir: Path) -> Path:
    if not run_dir.is_dir():
        raise FileNotFoundError(
            "The 'run_dir' argument must be a run directory written by 'pyrolatent fit' (with run.json and "
            f"checkpoint.pt); {str(run_dir)!r} " + ("is a file." if run_dir.exists() else "does not exist.")
        )
    mark = read_marker(run_dir)
    if mark is not None and mark.get("state") == "incomplete":
        raise RunDirError(
            f"{str(run_dir)!r} holds an interrupted run that was never completed; finish it with the same "
            "'pyrolatent fit' command and --resume."
        )
    saved = _rebuild_args(run_dir, _read_run_json(run_dir / "run.json"))
    entry = entries()[saved.model]
    data, _ = _load_data(saved, entry)
    try:
        model = _build_model(saved, entry, data, saved.seed)
    except (ValueError, TypeError, AttributeError) as exc:
        raise RunDirError(f"{str(run_dir / 'run.json')!r} does not describe a model that can be built: {exc}") from None
    ckpt = run_dir / CHECKPOINT
    if not ckpt.is_file():
        raise RunDirError(f"{str(ckpt)!r} is missing: the run directory has no fitted state to report on.")
    result = restore(model, _fit_data(saved, entry, data), ckpt)
    with run_lock(run_dir.resolve(), flag="run_dir"):
        path = _report(saved, entry, result, data, run_dir)
    print(f"pyrolatent: report written to {path}")
    return path
