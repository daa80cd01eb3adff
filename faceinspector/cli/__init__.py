"""Headless commands: ``faceinspector models|detect|eval|probe|train|experiment ...``.

One module per command (``cmd_*.py``, each with ``add_parser(sub)``); what they share -- one
error line instead of a traceback, the one progress printer for backend tasks, Ctrl-C to stop
-- is in :mod:`.common`. Every expected failure is printed as one clear line on stderr with a
non-zero exit code, never as a traceback.
"""

from __future__ import annotations

import argparse

from .. import __version__
from . import cmd_detect, cmd_eval, cmd_experiment, cmd_models, cmd_probe, cmd_train
from .common import fail

#: (command, module) in the order ``--help`` lists them
_MODULES = (("models", cmd_models), ("detect", cmd_detect), ("eval", cmd_eval),
            ("probe", cmd_probe), ("train", cmd_train), ("experiment", cmd_experiment))
COMMANDS = tuple(name for name, _ in _MODULES)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="faceinspector",
                                description="See why a face model gets a photo wrong. "
                                            "Without a command, opens the app.")
    p.add_argument("--version", action="version", version=f"faceinspector {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    for _, module in _MODULES:
        module.add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "detect" and args.template is None:
        args.template = ["raw", "dlib-chip"]
    from ..backend.assets import AssetError
    from ..backend.images import ImageError
    from ..backend.tasks import Cancelled

    try:
        return args.func(args)
    except (AssetError, ImageError, ValueError, KeyError) as exc:
        return fail(exc)
    except (KeyboardInterrupt, Cancelled):
        return 130


__all__ = ["COMMANDS", "build_parser", "main"]
