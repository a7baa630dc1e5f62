"""Command line: ``pyrolatent fit MODEL --data SPEC ... --out DIR`` and ``pyrolatent report DIR``.

There is one ``fit`` subcommand per registered model
(:data:`pyrolatent.models.REGISTRY`), each with the common flags and only its
own model's flags, so a flag of another model is refused by name. A run
directory holds ``checkpoint.pt`` (tensors only), ``settings.json``,
``losses.csv``, ``summary.json`` and ``run.json`` (the command's arguments,
from which ``pyrolatent report DIR`` rebuilds the model); with ``--report``
also a ``report/`` folder. Bad arguments or data end the program with one
line on stderr and exit code 2; Ctrl-C or SIGTERM with one line saying what was
kept, and exit code 130 or 143 (see :mod:`pyrolatent.cli.common` for where a
run lives, checkpoints and ``--resume``).
"""

from __future__ import annotations

import argparse
import re
import sys

from pyrolatent.inference import CheckpointError, DistributedError, NonFiniteLossError

from .common import Interrupted, add_common_arguments, entries, run_fit, run_report

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    from pyrolatent.models import REGISTRY

    parser = argparse.ArgumentParser(prog="pyrolatent", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    fit = sub.add_parser("fit", help="fit a model with the shared SVI engine and write a run directory")
    models = fit.add_subparsers(dest="model", required=True, metavar="MODEL")
    for name, entry in entries().items():
        p = models.add_parser(name, help=REGISTRY[name].title)
        add_common_arguments(p)
        if entry.add_arguments is not None:
            entry.add_arguments(p)
    r = sub.add_parser("report", help="write the diagnostics report of an existing run directory")
    r.add_argument("run_dir", type=__import__("pathlib").Path, help="a directory written by 'pyrolatent fit'")
    return parser


def _flag_names(message: str, parser: argparse.ArgumentParser, args) -> str:
    """Say ``'--iwae-samples'`` where a message names the Python argument ``'iwae_samples'``."""
    if args.command != "fit":
        return message
    sub = parser._subparsers._group_actions[0].choices["fit"]._subparsers._group_actions[0].choices[args.model]
    for action in sub._actions:
        flags = [o for o in action.option_strings if o.startswith("--")]
        if flags:
            message = re.sub(rf"'{re.escape(action.dest)}' (argument|option)", f"'{flags[0]}' option", message)
    return message


def main(argv=None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "fit":
            run_fit(args)
        elif args.command == "report":
            run_report(args)
    except (
        ValueError,
        TypeError,
        FileNotFoundError,
        CheckpointError,
        NonFiniteLossError,
        DistributedError,
        OSError,
    ) as exc:
        message = " ".join(str(exc).split("\n")[0].split())
        print(f"pyrolatent: error: {_flag_names(message, parser, args)}", file=sys.stderr)
        return 2
    except Interrupted as exc:  # Ctrl-C or SIGTERM: what was kept, and 130 or 143
        print(f"pyrolatent: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0
