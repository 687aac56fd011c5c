"""``rtui`` entry point: argument parsing and the one place that turns errors into exit codes."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from rtui import __version__
from rtui.cli import check as check_cmd
from rtui.cli import cp as cp_cmd
from rtui.cli import demo as demo_cmd
from rtui.cli import envs as envs_cmd
from rtui.cli import files as files_cmd
from rtui.cli import hosts as hosts_cmd
from rtui.cli import kernels as kernels_cmd
from rtui.cli import slurm as slurm_cmd
from rtui.cli.arg_types import LOCAL_PATH
from rtui.cli.common import UsageError
from rtui.core.config.model import IMAGE_MODES
from rtui.core.errors import RtuiError
from rtui.core.files.paths import printable
from rtui.core.logs import setup_logging

__all__ = ["build_parser", "main"]

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors say ``rtui: ...`` and exit 2 like every rtui usage error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: {printable(message)}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="rtui",
        description="Manage SSH hosts and run remote Python kernels with a live console. "
        "Without a command, starts the terminal UI.",
    )
    parser.add_argument("--version", action="version", version=f"rtui {__version__}")
    parser.add_argument(
        "--config",
        metavar="PATH",
        type=LOCAL_PATH,
        help="hosts file (default: $RTUI_CONFIG, else $XDG_CONFIG_HOME/rtui/hosts.toml)",
    )
    parser.add_argument(
        "--ansi", action="store_true",
        help="use the terminal's own 16 colours (for few-colour terminals; NO_COLOR is honoured)",
    )
    parser.add_argument(
        "--images", choices=IMAGE_MODES, metavar="MODE",
        help="how images are drawn: auto (asks the terminal), kitty, sixel, iterm, blocks "
        "(half-block cells) or off (default: the 'images' setting, else auto)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    hosts_cmd.register(commands)
    check_cmd.register(commands)
    envs_cmd.register(commands)
    kernels_cmd.register(commands)
    slurm_cmd.register(commands)
    files_cmd.register(commands)
    cp_cmd.register(commands)
    demo_cmd.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    setup_logging()  # before any library loads: its warnings go to the log, not to stderr
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command is None:
            from rtui.tui.app import run_tui  # lazy: the CLI must not pay for Textual

            return run_tui(config=args.config, ansi=args.ansi, images=args.images)
        result: int = args.handler(args)
        return result
    except RtuiError as exc:
        for line in str(exc).splitlines() or ["error"]:
            # printable: a name given or sent back ('\x1b[2J') is shown, never obeyed
            print(f"rtui: {printable(line)}", file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, UsageError) else EXIT_ERROR
    except KeyboardInterrupt:
        print("rtui: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_ERROR
    except Exception as exc:  # a bug: one line here, the traceback in the log (rtui.core.crash)
        from rtui.core.crash import EXIT_INTERNAL, keep_crash

        print(f"rtui: {keep_crash(exc)}", file=sys.stderr)
        return EXIT_INTERNAL
