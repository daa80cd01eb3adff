"""Headless commands: ``faceinspector models|detect|eval|probe|mismatch|train|experiment ...``.

One module per command (``cmd_*.py``, each with ``add_parser(sub)``); what they share -- one
error line instead of a traceback, the one progress printer for backend tasks, Ctrl-C to stop
-- is in :mod:`.common`. Every expected failure is printed as one clear line on stderr with a
non-zero exit code, never as a traceback.
"""

from __future__ import annotations

import argparse
import sys
import os
import re

from .. import __version__
from . import (cmd_detect, cmd_eval, cmd_evaluate, cmd_experiment, cmd_explain, cmd_mismatch,
               cmd_models, cmd_probe, cmd_train)
from .common import fail, quiet_broken_pipe

#: (command, module) in the order ``--help`` lists them
_MODULES = (("models", cmd_models), ("detect", cmd_detect), ("eval", cmd_eval),
            ("probe", cmd_probe), ("explain", cmd_explain), ("mismatch", cmd_mismatch),
            ("evaluate", cmd_evaluate),
            ("train", cmd_train), ("experiment", cmd_experiment))
COMMANDS = tuple(name for name, _ in _MODULES)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="faceinspector",
                                description="See why a face model gets a photo wrong. "
                                            "Without a command, opens the app.")
    p.add_argument("--version", action="version", version=f"faceinspector {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    for _, module in _MODULES:
        module.add_parser(sub)
    _add_engine_option(p)
    return p


def _add_engine_option(parser: argparse.ArgumentParser) -> None:
    """``--engine auto|torch|onnx`` on every command that takes options last (issue 16): which
    engine runs the networks (``$FACEINSPECTOR_ENGINE``; auto: ONNX Runtime on CPU where it is
    faster, torch on CUDA)."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    for action in subs:
        for child in action.choices.values():
            _add_engine_option(child)
    if not subs and "--engine" not in parser._option_string_actions:
        parser.add_argument("--engine", dest="engine_choice", choices=["auto", "torch", "onnx"],
                            help="engine of the networks: auto (ONNX Runtime on CPU where it "
                            "is faster, torch on CUDA; default), torch or onnx")


def main(argv: list[str] | None = None) -> int:
    """Run one command. Every failure is one ``error:`` line on stderr and a non-zero exit
    (``FACEINSPECTOR_DEBUG=1`` shows the traceback of an unexpected one instead)."""
    args = build_parser().parse_args(argv)
    if getattr(args, "engine_choice", None):
        os.environ["FACEINSPECTOR_ENGINE"] = args.engine_choice
    if args.command == "detect" and args.template is None:
        args.template = ["raw", "dlib-chip"]
    from ..backend.tasks import Cancelled

    try:
        code = args.func(args)
        sys.stdout.flush()  # a buffered stdout (a pipe) fails here, not at exit, when | head
        return code
    except (KeyboardInterrupt, Cancelled):
        return 130
    except BrokenPipeError:  # `faceinspector ... | head`: the reader has gone, so say nothing
        quiet_broken_pipe()
        return 141
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback
        if os.environ.get("FACEINSPECTOR_DEBUG"):
            raise
        return fail(exc)


def looks_like_command(arg: str) -> bool:
    """True when ``arg`` (the first argument) is meant as a command, not a photo: it is not an
    existing file or folder and is a plain lower-case word (``mismatch``, ``evalute``)."""
    return (arg not in COMMANDS and re.fullmatch(r"[a-z][a-z0-9_-]*", arg) is not None
            and not os.path.exists(arg))


def not_a_command(arg: str) -> int:
    """The one line for ``faceinspector WORD`` when WORD is not a command (exit 2)."""
    return fail(f"'{arg}' is not a command (nor a photo or folder); commands are: "
                f"{', '.join(COMMANDS)}. Run `faceinspector --help` for more.")


__all__ = ["COMMANDS", "build_parser", "looks_like_command", "main", "not_a_command"]
