"""``faceinspector [PATH ...]`` opens the app; ``faceinspector COMMAND ...`` runs a CLI command."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from . import cli

    if argv and (argv[0] in cli.COMMANDS or argv[0] in ("-h", "--help", "--version")):
        return cli.main(argv)
    if argv and cli.looks_like_command(argv[0]):  # a typo or a command this version lacks
        return cli.not_a_command(argv[0])
    from .gui.app import main as gui_main

    return gui_main(argv)


if __name__ == "__main__":
    sys.exit(main())
